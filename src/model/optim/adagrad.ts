// Adagrad (shaders/adagrad.wgsl), as PyTorch 1.13's.
import type { ParamValues } from '../../runtime/shaders.js';
import { atLeast0, checkOptions, checkRanges, OPTIMIZER_DEFAULTS } from './kinds.js';
import { Optimizer, type Params, type Resolve } from './optimizer.js';
import { stepEffect } from './step-effect.js';

/**
 * Adagrad's hyperparameters (PyTorch's defaults: lr 0.01, no lr decay or weight decay, eps 1e-10,
 * accumulators starting at 0). Any other option is a RangeError, as is a value out of range.
 */
export interface AdagradOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** The rate at step t is lr / (1 + (t − 1)·lrDecay) (default 0). */
  lrDecay?: number;
  /** Added to the denominator, outside the square root (default 1e-10). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
  /**
   * Where the sums of squared gradients start (default 0). A parameter group's own applies to its
   * parameters (PyTorch 1.13's Adagrad starts every sum at the constructor's, a group's ignored).
   */
  initialAccumulatorValue?: number;
}

const adagradEffect = stepEffect('adagrad', 'adagrad.wgsl', ['state_sum']);

const resolveAdagrad: Resolve<Required<AdagradOptions>> = (opts, who) => {
  checkOptions('adagrad', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.adagrad.lr!, lrDecay = 0, eps = 1e-10, weightDecay = OPTIMIZER_DEFAULTS.adagrad.weightDecay, initialAccumulatorValue = 0 } = opts as AdagradOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['lrDecay', lrDecay, atLeast0(lrDecay), '≥ 0'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ['initialAccumulatorValue', initialAccumulatorValue, atLeast0(initialAccumulatorValue), '≥ 0'],
  ]);
  return { lr, lrDecay, eps, weightDecay, initialAccumulatorValue };
};

/** Adagrad (PyTorch semantics: a running sum of squared gradients, eps outside the square root, lr decay, L2 weight decay). */
export class Adagrad extends Optimizer<Required<AdagradOptions>> {
  constructor(params: Params<AdagradOptions>, opts: AdagradOptions = {}) {
    super(params, opts, 'adagrad', ['sum'], adagradEffect, resolveAdagrad);
  }

  /** The rate's decay with the step count (the first group's). */
  get lrDecay(): number {
    return this.first.lrDecay;
  }

  /** Added to the denominator (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  /** Where the sums start, at construction and after reset() (the first group's). */
  get initialAccumulatorValue(): number {
    return this.first.initialAccumulatorValue;
  }

  // Each sum starts at its group's initial value (called as each group is made, in the base constructor).
  protected override initGroupState(group: number): void {
    const init = this.paramGroups[group]!.initialAccumulatorValue;
    this.state.forEach(([sum], i) => {
      if (init && this.groupOf[i] === group) sum!.write(new Float32Array(sum!.size).fill(init));
    });
  }

  override reset(): void {
    super.reset();
    this.paramGroups.forEach((_, g) => this.initGroupState(g));
  }

  protected paramStep(h: Required<AdagradOptions>, t: number): ParamValues {
    // lr / (1 + (t − 1)·lr_decay) in float64, as PyTorch computes it.
    return { clr: h.lr / (1 + (t - 1) * h.lrDecay), eps: h.eps, weight_decay: h.weightDecay };
  }
}
