// Losses beside the cross-entropy (softmax_cross_entropy.ts), as torch.nn.functional's: mean
// squared and absolute errors, smooth L1 and Huber, binary cross-entropy of probabilities and
// of logits, the KL divergence, and the negative log-likelihoods of Poisson and Gaussian targets. Each is composed of elementwise ops and a reduction, so its
// gradient, and that gradient's own, come from theirs; but the binary cross-entropy of
// probabilities is one kernel with PyTorch's gradient rule, since its clamped logs have none at 0 and 1.
import { checkTensor, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { checkOptionNames, nonNegativeOption, shown } from '../runtime/options.js';
import { broadcastShapes, fmt, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, binary, binaryOp, div, mul, neg, reluGradOp, scale, sub } from './elementwise.js';
import { abs, clampMaskOp, exp, log, maximum, signOp, softplus, xlogx } from './math.js';
import { mean, sum } from './reduce.js';

/** How a loss's elementwise values become its result: their mean (default), their sum, or none (each element's). */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options every loss takes. */
export interface LossOptions {
  reduction?: Reduction;
}

const REDUCTIONS: readonly string[] = ['mean', 'sum', 'none'];

/**
 * Checks a loss's input and target (f32 tensors of one shape) and its options (`more` the
 * names it takes besides `reduction`); returns the reduction and the error builder.
 */
export function checked(op: string, input: Tensor, target: Tensor, opts: object, more: readonly string[] = [], reductions = REDUCTIONS) {
  runtimeOf(op, { input, target });
  const err = (why: string) => new ShapeError(op, `${why}: input ${fmt(input.shape)}, target ${fmt(target.shape)}`, [input.shape, target.shape]);
  checkOptionNames(opts, ['reduction', ...more], err);
  if (input.dtype !== 'f32' || target.dtype !== 'f32') throw err(`needs f32 tensors, got ${input.dtype} and ${target.dtype}`);
  // PyTorch broadcasts a target of another shape, with a warning that it is likely a mistake.
  if (!sameShape(input.shape, target.shape)) throw err('the shapes differ');
  const reduction = (opts as { reduction?: Reduction | 'batchmean' }).reduction ?? 'mean';
  if (!reductions.includes(reduction)) throw err(`reduction must be ${reductions.map((r) => `'${r}'`).join(', ')}, got ${shown(reduction)}`);
  return { reduction, err };
}

/**
 * Checks an optional per-element weight of a loss (`name`, as `weight` or `posWeight`): a tensor
 * that broadcasts to the input's shape without enlarging it, as PyTorch's in-place multiply
 * requires.
 */
function checkWeight(op: string, name: string, w: Tensor | undefined, input: Tensor, err: (why: string) => Error): void {
  if (w === undefined) return;
  checkTensor(op, name, w);
  const shape = broadcastShapes(input.shape, w.shape);
  if (!shape || !sameShape(shape, input.shape)) throw err(`${name} ${fmt(w.shape)} does not broadcast to the input's shape`);
}

/** A loss's elementwise values reduced as `reduction` says. */
export function reduce(values: Tensor, reduction: Reduction | 'batchmean'): Tensor {
  return reduction === 'none' ? values : reduction === 'sum' ? sum(values) : mean(values);
}

/** (input − target)², reduced, as F.mse_loss. */
export function mseLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const { reduction } = checked('mseLoss', input, target, opts);
  const d = sub(input, target);
  return reduce(mul(d, d), reduction);
}

/** |input − target|, reduced, as F.l1_loss. */
export function l1Loss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const { reduction } = checked('l1Loss', input, target, opts);
  return reduce(abs(sub(input, target)), reduction);
}

/**
 * As F.smooth_l1_loss: ½d²/β where |d| < β (d = input − target), |d| − ½β elsewhere; β = 1 by
 * default, and 0 is the L1 loss.
 */
export function smoothL1Loss(input: Tensor, target: Tensor, opts: LossOptions & { beta?: number } = {}): Tensor {
  const { reduction, err } = checked('smoothL1Loss', input, target, opts, ['beta']);
  const beta = opts.beta ?? 1;
  nonNegativeOption('beta', beta, err);
  return reduce(smoothL1(sub(input, target), beta), reduction);
}

/** As F.huber_loss: ½d² where |d| < δ, δ(|d| − ½δ) elsewhere (δ·smooth L1 with β = δ); δ = 1 by default. */
export function huberLoss(input: Tensor, target: Tensor, opts: LossOptions & { delta?: number } = {}): Tensor {
  const { reduction, err } = checked('huberLoss', input, target, opts, ['delta']);
  const delta = opts.delta ?? 1;
  if (typeof delta !== 'number' || !(delta > 0) || !Number.isFinite(delta)) throw err(`delta must be a number > 0, got ${shown(delta)}`);
  return reduce(scale(smoothL1(sub(input, target), delta), delta), reduction);
}

/**
 * ½c²/β + |d| − ½β outside, for c = d where |d| < β (or d is NaN, as PyTorch's gradient rule
 * takes it) and 0 elsewhere, each part taken where its mask passes, not multiplied by it (0·∞ is
 * NaN): so the derivatives are PyTorch's, ±1 at d = ±∞, NaN at NaN, and second ones included
 * (1/β strictly inside, at d = 0 too, where |d|'s gradient is 0; 0 at |d| = β and outside).
 */
function smoothL1(d: Tensor, beta: number): Tensor {
  const a = abs(d);
  if (beta === 0) return a;
  const inside = d.rt.record(clampMaskOp, [d], { min: -beta, max: beta, passes: 'hardtanh' });
  const where = (mask: Tensor, v: Tensor) => d.rt.record(reluGradOp, [mask, v], {});
  const c = where(inside, d);
  return add(scale(mul(c, c), 0.5 / beta), where(sub(1, inside), sub(a, 0.5 * beta)));
}

// BCE's gradient for p, (p − t)/max((1 − p)·p, 1e-12), with PyTorch's own gradients (those of
// binary_cross_entropy_backward, not of this formula, whose clamp would give 1e12 at p = t = 0):
// (p² − 2pt + t)/((p + ε)²·(1 − p + ε)²) for p, ε = 1e-12, which is 0 at p = t ∈ {0, 1};
// −1/max((1 − p)·p, ε) for t.
const EPS = 1e-12;
const square = (x: Tensor) => mul(x, x);
export const binaryCrossEntropyGradOp = binaryOp('bce_grad', (g, { inputs: [p, t], needs }) => [
  needs[0] ? mul(g, div(add(sub(mul(p!, p!), scale(mul(p!, t!), 2)), t!), square(mul(add(p!, EPS), add(sub(1, p!), EPS))))) : null,
  needs[1] ? neg(div(g, maximum(mul(sub(1, p!), p!), EPS))) : null,
]);

// Binary cross-entropy of probabilities p for targets t, elementwise. Its gradients are
// PyTorch's: (p − t)/max(p(1 − p), 1e-12) for p, the loss's derivative with its denominator kept
// from 0 (so p = 0 and 1 give finite gradients, 0 where p = t, where the clamped logs' chain
// rule gives 0·∞); log(1 − p) − log p, unclamped, for t.
export const binaryCrossEntropyOp = binaryOp('bce', (g, { inputs: [p, t], needs }) => [
  needs[0] ? mul(g, binary(binaryCrossEntropyGradOp, p!, t!)) : null,
  needs[1] ? mul(g, sub(log(sub(1, p!)), log(p!))) : null,
]);

/**
 * −(target·log(input) + (1 − target)·log(1 − input)) for probabilities `input`, each log at least
 * −100 (so 0 and 1 give finite losses), times `weight` where given, reduced, as F.binary_cross_entropy;
 * the input's gradient is (input − target)/max(input·(1 − input), 1e-12), as PyTorch's.
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, opts: LossOptions & { weight?: Tensor } = {}): Tensor {
  const { reduction, err } = checked('binaryCrossEntropy', input, target, opts, ['weight']);
  checkWeight('binaryCrossEntropy', 'weight', opts.weight, input, err);
  const values = binary(binaryCrossEntropyOp, input, target);
  return reduce(opts.weight ? mul(values, opts.weight) : values, reduction);
}

/**
 * The binary cross-entropy of sigmoid(input), computed from the logits without overflow, as
 * F.binary_cross_entropy_with_logits: (1 − t)·x + w_t·softplus(−x), w_t = 1 + (posWeight − 1)·t;
 * `weight` multiplies each element's loss, `posWeight` (broadcast along the last dimension, one
 * per class) its positive term.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: LossOptions & { weight?: Tensor; posWeight?: Tensor } = {}): Tensor {
  const { reduction, err } = checked('binaryCrossEntropyWithLogits', input, target, opts, ['weight', 'posWeight']);
  checkWeight('binaryCrossEntropyWithLogits', 'weight', opts.weight, input, err);
  checkWeight('binaryCrossEntropyWithLogits', 'posWeight', opts.posWeight, input, err);
  const negative = mul(sub(1, target), input);
  const positive = softplus(scale(input, -1));
  const weighted = opts.posWeight ? mul(add(mul(target, sub(opts.posWeight, 1)), 1), positive) : positive;
  const values = add(negative, weighted);
  return reduce(opts.weight ? mul(values, opts.weight) : values, reduction);
}

/**
 * The KL divergence of `input` (log-probabilities) from `target` (probabilities, or with
 * logTarget their logs): target·(log target − input), 0 where target is 0, as F.kl_div; reduction
 * 'batchmean' (the sum over the first dimension's size: the true KL divergence per sample) besides.
 */
export function klDiv(input: Tensor, target: Tensor, opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}): Tensor {
  const { reduction, err } = checked('klDiv', input, target, opts, ['logTarget'], [...REDUCTIONS, 'batchmean']);
  const logTarget = opts.logTarget ?? false;
  if (typeof logTarget !== 'boolean') throw err(`logTarget must be true or false, got ${shown(logTarget)}`);
  // xlogy(t, t) − t·input: 0 where t = 0, NaN where t < 0, as PyTorch's.
  const values = logTarget ? mul(exp(target), sub(target, input)) : sub(xlogx(target), mul(target, input));
  if (reduction === 'batchmean') return scale(sum(values), 1 / (input.rank ? input.shape[0]! : 1));
  return reduce(values, reduction);
}

/**
 * The negative log-likelihood of `target` counts under Poisson distributions of rate exp(input)
 * (logInput, the default) or input, as F.poisson_nll_loss: exp(input) − target·input, or
 * input − target·log(input + eps); `full` adds Stirling's approximation of log(target!),
 * target·log(target) − target + ½·log(2π·target), where target > 1.
 */
export function poissonNllLoss(input: Tensor, target: Tensor, opts: LossOptions & { logInput?: boolean; full?: boolean; eps?: number } = {}): Tensor {
  const { reduction, err } = checked('poissonNllLoss', input, target, opts, ['logInput', 'full', 'eps']);
  const { logInput = true, full = false, eps = 1e-8 } = opts;
  if (typeof logInput !== 'boolean') throw err(`logInput must be true or false, got ${shown(logInput)}`);
  if (typeof full !== 'boolean') throw err(`full must be true or false, got ${shown(full)}`);
  nonNegativeOption('eps', eps, err);
  let values = logInput ? sub(exp(input), mul(target, input)) : sub(input, mul(target, log(add(input, eps))));
  if (full) {
    // log(max(t, 1)): finite where the term is masked out (t ≤ 1), t's own log elsewhere.
    const over1 = maximum(target.rt.record(signOp, [sub(target, 1)], {}), 0);
    const t1 = maximum(target, 1);
    const stirling = add(sub(mul(target, log(t1)), target), scale(log(scale(t1, 2 * Math.PI)), 0.5));
    values = add(values, mul(stirling, over1));
  }
  return reduce(values, reduction);
}

/**
 * The negative log-likelihood of `target` under Gaussians of mean `input` and variance `variance`,
 * as F.gaussian_nll_loss: ½·(log v + (input − target)²/v), plus ½·log(2π) with `full`. The
 * variance is `input`'s shape, or one per row (input's shape without its last dimension, or with
 * it 1); it is clamped to at least eps (default 1e-6) for the value alone, the gradient reaching
 * it unclamped, as PyTorch's. (PyTorch refuses a negative variance, which would need a read-back
 * here: it counts as eps.)
 */
export function gaussianNllLoss(input: Tensor, target: Tensor, variance: Tensor, opts: LossOptions & { full?: boolean; eps?: number } = {}): Tensor {
  const { reduction, err } = checked('gaussianNllLoss', input, target, opts, ['full', 'eps']);
  checkTensor('gaussianNllLoss', 'variance', variance);
  const { full = false, eps = 1e-6 } = opts;
  if (typeof full !== 'boolean') throw err(`full must be true or false, got ${shown(full)}`);
  nonNegativeOption('eps', eps, err);
  const rows = input.shape.slice(0, -1);
  let v = variance;
  if (sameShape(v.shape, rows)) v = v.reshape(...rows, 1);
  else if (!sameShape(v.shape, input.shape) && !sameShape(v.shape, [...rows, 1])) {
    throw new ShapeError('gaussianNllLoss', `the variance ${fmt(variance.shape)} is neither the input's shape ${fmt(input.shape)} nor one per row (${fmt(rows)} or ${fmt([...rows, 1])})`, [input.shape, variance.shape]);
  }
  const clamped = add(v, sub(maximum(v, eps), v).detach());
  const d = sub(input, target);
  const values = scale(add(log(clamped), div(mul(d, d), clamped)), 0.5);
  return reduce(full ? add(values, 0.5 * Math.log(2 * Math.PI)) : values, reduction);
}
