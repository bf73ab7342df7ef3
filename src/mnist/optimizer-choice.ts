// The optimizer a Trainer steps with: its kind and options (those of Trainer.create that
// Trainer.setOptimizer takes too), checked, and made over the model's parameters, in two groups
// where some are exempt from weight decay.
import { Adadelta, Adagrad, Adam, Adamax, AdamW, foreignOptionsText, NAdam, OPTIMIZER_DEFAULTS, OPTIMIZER_KINDS, otherOptimizerOptions, RAdam, RMSprop, SGD, type Optimizer, type OptimizerKind, type Params } from '../model/optim/index.js';
import { matchNames } from '../model/name-patterns.js';
import type { Model } from '../model/model.js';
import { listed, shown } from '../runtime/options.js';

/** The optimizer and its options, as Trainer.create and Trainer.setOptimizer take them. */
export interface OptimizerChoice {
  /** Adam, AdamW, NAdam, RAdam, Adamax, SGD, Adadelta, RMSprop or Adagrad, with PyTorch's formulas. */
  optimizer: OptimizerKind;
  /** Learning rate (later changes: `trainer.optimizer.lr`). */
  lr: number;
  /** SGD's and RMSprop's momentum (default 0). */
  momentum?: number;
  /** PyTorch's `weight_decay`: an L2 penalty added to the gradients (default 0), AdamW's decoupled decay (default 0.01). */
  weightDecay?: number;
  /**
   * Parameters that take no weight decay, by name or glob pattern (`['*.bias']`: `*` any
   * characters, `?` one): a second parameter group with weightDecay 0, as PyTorch training
   * scripts exempt biases and normalisation weights. A pattern that matches no parameter, or
   * a weight decay of 0, is a RangeError.
   */
  noWeightDecay?: readonly string[];
  /** The Adam family's betas (Adam, AdamW, NAdam, RAdam, Adamax; default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** eps of all but SGD (defaults 1e-8, but Adadelta's 1e-6 and Adagrad's 1e-10). */
  eps?: number;
  /** NAdam's momentum decay (default 4e-3). */
  momentumDecay?: number;
  /** Adadelta's rho (default 0.9). */
  rho?: number;
  /** RMSprop's alpha and centering (defaults 0.99 and off). */
  alpha?: number;
  centered?: boolean;
  /** Adagrad's lr decay and initial accumulator value (defaults 0 and 0). */
  lrDecay?: number;
  initialAccumulatorValue?: number;
  /** SGD's dampening and Nesterov momentum (defaults 0 and off). */
  dampening?: number;
  nesterov?: boolean;
}

// OptimizerChoice as a table, so that an option left out of it fails tsc.
export const OPTIMIZER_CHOICE = Object.keys({
  optimizer: true, lr: true, momentum: true, weightDecay: true, noWeightDecay: true, betas: true, eps: true, momentumDecay: true, rho: true, alpha: true, centered: true, lrDecay: true, initialAccumulatorValue: true, dampening: true, nesterov: true,
} satisfies Record<keyof OptimizerChoice, true>);

/** Checks an optimizer choice (the optimizers check their own values); `who` names the caller in errors ('Trainer', 'Trainer.setOptimizer'). */
export function checkOptimizerOptions(opts: OptimizerChoice, who: string): void {
  const kind = opts.optimizer;
  if (!OPTIMIZER_KINDS.includes(kind)) {
    throw new RangeError(`${who}: optimizer must be ${listed(OPTIMIZER_KINDS.map((k) => `'${k}'`), 'or')}, got ${JSON.stringify(kind)}`);
  }
  // The options only other optimizers take (as the optimizers themselves refuse them).
  const foreign = otherOptimizerOptions(kind, opts);
  if (foreign.names.length) throw new RangeError(`${who}: ${foreignOptionsText(foreign, (k) => k)}, not of the chosen optimizer ${kind}`);
  const { noWeightDecay } = opts;
  if (noWeightDecay === undefined) return;
  if (!Array.isArray(noWeightDecay) || !noWeightDecay.every((p) => typeof p === 'string')) throw new RangeError(`${who}: noWeightDecay must be an array of parameter names or patterns, got ${shown(noWeightDecay)}`);
  if (noWeightDecay.length && (opts.weightDecay ?? OPTIMIZER_DEFAULTS[kind].weightDecay) === 0) {
    throw new RangeError(`${who}: noWeightDecay exempts parameters from a weight decay of 0; give a weightDecay above 0`);
  }
}

/** The chosen optimizer over the model's parameters (its own checks refuse bad values). */
export function createOptimizer(model: Model, opts: OptimizerChoice, who: string): Optimizer {
  const params = paramGroups(model, opts.noWeightDecay, who);
  const { lr, momentum, weightDecay, betas, eps, momentumDecay, rho, alpha, centered, lrDecay, initialAccumulatorValue, dampening, nesterov } = opts;
  const adam = { lr, weightDecay, betas, eps };
  const optimizers: Record<OptimizerKind, () => Optimizer> = {
    adam: () => new Adam(params, adam),
    adamw: () => new AdamW(params, adam),
    nadam: () => new NAdam(params, { ...adam, momentumDecay }),
    radam: () => new RAdam(params, adam),
    adamax: () => new Adamax(params, adam),
    sgd: () => new SGD(params, { lr, momentum, weightDecay, dampening, nesterov }),
    adadelta: () => new Adadelta(params, { lr, rho, eps, weightDecay }),
    rmsprop: () => new RMSprop(params, { lr, alpha, eps, weightDecay, momentum, centered }),
    adagrad: () => new Adagrad(params, { lr, lrDecay, eps, weightDecay, initialAccumulatorValue }),
  };
  return optimizers[opts.optimizer]();
}

/**
 * The optimizer's parameters: the model's that require gradients (one frozen with
 * `requiresGrad = false` is left as it is, as PyTorch's step leaves a parameter without a
 * gradient), in one group, or, with `noWeightDecay`, those it names apart, in a group of their
 * own without weight decay.
 */
function paramGroups(model: Model, noWeightDecay: readonly string[] = [], who: string): Params<{ weightDecay?: number }> {
  const named = [...model.parameters];
  const all = named.filter(([, p]) => p.requiresGrad);
  if (!all.length) throw new RangeError(`${who}: every parameter of the model has requiresGrad false: there is nothing to train`);
  if (!noWeightDecay.length) return all.map(([, p]) => p);
  const exempt = new Set(matchNames(noWeightDecay, named.map(([n]) => n), `${who}: noWeightDecay`));
  return [{ params: all.filter(([n]) => !exempt.has(n)).map(([, p]) => p) }, { params: all.filter(([n]) => exempt.has(n)).map(([, p]) => p), weightDecay: 0 }];
}
