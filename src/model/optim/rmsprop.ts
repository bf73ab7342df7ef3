// RMSprop (shaders/rmsprop.wgsl), as PyTorch 1.13's.
import type { ParamValues } from '../../runtime/shaders.js';
import { atLeast0, checkOptions, checkRanges, OPTIMIZER_DEFAULTS } from './kinds.js';
import { Optimizer, type Params, type Resolve } from './optimizer.js';
import { stepEffect } from './step-effect.js';

/**
 * RMSprop's hyperparameters (PyTorch's defaults: lr 0.01, alpha 0.99, eps 1e-8, no weight decay
 * or momentum, not centered). Any other option is a RangeError, as is a value out of range.
 */
export interface RMSpropOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Decay rate of the running average of squared gradients (default 0.99). */
  alpha?: number;
  /** Added to the denominator, outside the square root (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Divide by the gradients' estimated variance, not their second moment (default false). */
  centered?: boolean;
}

const rmspropEffect = stepEffect('rmsprop', 'rmsprop.wgsl', ['square_avg', 'buf', 'grad_avg']);

const resolveRMSprop: Resolve<Required<RMSpropOptions>> = (opts, who) => {
  checkOptions('rmsprop', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.rmsprop.lr!, alpha = 0.99, eps = 1e-8, weightDecay = OPTIMIZER_DEFAULTS.rmsprop.weightDecay, momentum = 0, centered = false } = opts as RMSpropOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['alpha', alpha, atLeast0(alpha), '≥ 0'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ['momentum', momentum, atLeast0(momentum), '≥ 0'],
    ['centered', centered, typeof centered === 'boolean', 'true or false'],
  ]);
  return { lr, alpha, eps, weightDecay, momentum, centered };
};

/** RMSprop (PyTorch semantics: eps outside the square root, optional momentum and centering, L2 weight decay). */
export class RMSprop extends Optimizer<Required<RMSpropOptions>> {
  constructor(params: Params<RMSpropOptions>, opts: RMSpropOptions = {}) {
    // PyTorch's state names (it keeps momentum_buffer and grad_avg only where they are used).
    super(params, opts, 'rmsprop', ['square_avg', 'momentum_buffer', 'grad_avg'], rmspropEffect, resolveRMSprop);
  }

  /** Decay rate of the running averages (the first group's). */
  get alpha(): number {
    return this.first.alpha;
  }

  /** Added to the denominator (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  /** Whether it divides by the variance, a running average of the gradients subtracted (the first group's). */
  get centered(): boolean {
    return this.first.centered;
  }

  /**
   * Momentum factor (0: none): the first group's; set, every group's. It may be changed between
   * steps, as the learning rate (OneCycleLR cycles it): ≥ 0, or a RangeError.
   */
  get momentum(): number {
    return this.first.momentum;
  }

  set momentum(value: number) {
    this.setEach(() => ({ momentum: value }));
  }

  override readonly setCycledMomentum = (m: number, groups: number): void => {
    this.setEach(() => ({ momentum: m }), groups);
  };

  protected paramStep(h: Required<RMSpropOptions>): ParamValues {
    return { lr: h.lr, alpha: h.alpha, one_minus_alpha: 1 - h.alpha, eps: h.eps, weight_decay: h.weightDecay, momentum: h.momentum, centered: h.centered ? 1 : 0 };
  }
}
