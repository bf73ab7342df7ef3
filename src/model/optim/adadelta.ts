// Adadelta (shaders/adadelta.wgsl), as PyTorch 1.13's.
import type { ParamValues } from '../../runtime/shaders.js';
import { atLeast0, checkOptions, checkRanges, OPTIMIZER_DEFAULTS } from './kinds.js';
import { Optimizer, type Params, type Resolve } from './optimizer.js';
import { stepEffect } from './step-effect.js';

/**
 * Adadelta's hyperparameters (PyTorch's defaults: lr 1, rho 0.9, eps 1e-6, no weight decay).
 * Any other option is a RangeError, as is a value out of range.
 */
export interface AdadeltaOptions {
  /** Scales the update (default 1). */
  lr?: number;
  /** Decay rate of the running averages, in [0, 1] (default 0.9). */
  rho?: number;
  /** Added inside both square roots (default 1e-6). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
}

const adadeltaEffect = stepEffect('adadelta', 'adadelta.wgsl', ['square_avg', 'acc_delta']);

const resolveAdadelta: Resolve<Required<AdadeltaOptions>> = (opts, who) => {
  checkOptions('adadelta', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.adadelta.lr!, rho = 0.9, eps = 1e-6, weightDecay = OPTIMIZER_DEFAULTS.adadelta.weightDecay } = opts as AdadeltaOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['rho', rho, atLeast0(rho) && rho <= 1, 'in [0, 1]'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
  ]);
  return { lr, rho, eps, weightDecay };
};

/** Adadelta (PyTorch semantics: running averages of squared gradients and updates, L2 weight decay). */
export class Adadelta extends Optimizer<Required<AdadeltaOptions>> {
  constructor(params: Params<AdadeltaOptions>, opts: AdadeltaOptions = {}) {
    super(params, opts, 'adadelta', ['square_avg', 'acc_delta'], adadeltaEffect, resolveAdadelta);
  }

  /** Decay rate of the running averages (the first group's). */
  get rho(): number {
    return this.first.rho;
  }

  /** Added inside both square roots (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  protected paramStep(h: Required<AdadeltaOptions>): ParamValues {
    return { lr: h.lr, rho: h.rho, one_minus_rho: 1 - h.rho, eps: h.eps, weight_decay: h.weightDecay };
  }
}
