// Layer and group normalisation (torch.nn.functional.layer_norm and group_norm): each sample
// normalised over its last dimensions (or over each group of its channels) by its own mean and
// biased variance, then scaled and shifted. Each such row of values is normalised as batch norm
// normalises a channel (its kernels, gradients and second derivatives), the rows as channels of
// one sample; the scale and shift are ops of their own.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { checkOptionNames, nonNegativeOption, shown, unitOption } from '../runtime/options.js';
import { fmt, sameShape, type Shape } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { batchNorm, channelStats, updateRunningStats } from './batchnorm.js';
import { add, div, mul, sub } from './elementwise.js';
import { sqrt } from './math.js';
import { mean } from './reduce.js';

/** Options of layerNorm, as torch.nn.functional.layer_norm's. */
export interface LayerNormOptions {
  /** Elementwise scale and shift, of the normalised shape (default: none). */
  weight?: Tensor;
  bias?: Tensor;
  /** Added to the variance before its square root (default 1e-5). */
  eps?: number;
}

/**
 * x normalised over its last dimensions, `normalizedShape` (x's trailing sizes):
 * (x − mean)/√(var + eps)·weight + bias, mean and biased variance over those dimensions for each
 * index of the others, as torch.nn.functional.layer_norm.
 */
export function layerNorm(x: Tensor, normalizedShape: Shape, opts: LayerNormOptions = {}): Tensor {
  runtimeOf('layerNorm', { x });
  const fail = (why: string) => new ShapeError('layerNorm', `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['weight', 'bias', 'eps'], fail);
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  const k = Array.isArray(normalizedShape) ? normalizedShape.length : -1;
  if (k < 1 || !normalizedShape.every((d) => Number.isInteger(d) && d > 0) || k > x.rank || !sameShape(x.shape.slice(x.rank - k), normalizedShape)) {
    throw fail(`normalizedShape must be x's last sizes (a non-empty array), got ${Array.isArray(normalizedShape) ? fmt(normalizedShape) : shown(normalizedShape)}`);
  }
  const eps = checkScaleShift(x, opts, normalizedShape, 'the normalised shape', fail);
  return scaleShift(normaliseRows(x, normalizedShape.reduce((a, b) => a * b, 1), eps), opts, normalizedShape);
}

/** Checks weight and bias (f32 `shape`, which `what` names) and eps, shared by both; returns eps. */
function checkScaleShift(x: Tensor, { weight, bias, eps = 1e-5 }: LayerNormOptions, shape: Shape, what: string, fail: (why: string) => Error): number {
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t === undefined) continue;
    if (!(t instanceof Tensor) || t.rt !== x.rt) throw fail(`${name} must be a Tensor of x's runtime, got ${t instanceof Tensor ? t.describe() : shown(t)}`);
    if (t.dtype !== 'f32' || !sameShape(t.shape, shape)) throw fail(`${name} must be f32 ${fmt(shape)}, ${what}, got ${fmt(t.shape)} ${t.dtype}`);
  }
  nonNegativeOption('eps', eps, fail);
  return eps;
}

/** y times weight plus bias, where given, each viewed as `as` to broadcast against y. */
function scaleShift(y: Tensor, { weight, bias }: LayerNormOptions, as: Shape): Tensor {
  if (weight) y = mul(y, weight.reshape(...as));
  if (bias) y = add(y, bias.reshape(...as));
  return y;
}

/** x in rows of d values, each normalised by its own mean and biased variance. */
function normaliseRows(x: Tensor, d: number, eps: number): Tensor {
  if (d > 1) return batchNorm(x.reshape(1, x.size / d, d), { training: true, eps }).reshape(...x.shape);
  // A row of one value (which batch norm refuses in training): (x − x)/√eps, 0 as PyTorch's.
  const centred = sub(x, x);
  return div(centred, sqrt(add(mul(centred, centred), eps)));
}

/** Options of groupNorm, as torch.nn.functional.group_norm's: weight and bias per channel [C]. */
export type GroupNormOptions = LayerNormOptions;

/**
 * x [N, C, ...] with its channels in `numGroups` groups, each sample's group normalised by its
 * own mean and biased variance, then scaled and shifted per channel, as
 * torch.nn.functional.group_norm (numGroups = C: instance norm; 1: layer norm over a sample).
 */
export function groupNorm(x: Tensor, numGroups: number, opts: GroupNormOptions = {}): Tensor {
  runtimeOf('groupNorm', { x });
  const fail = (why: string) => new ShapeError('groupNorm', `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['weight', 'bias', 'eps'], fail);
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  if (x.rank < 2) throw fail('needs a batch [N, C, ...]');
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0) throw fail(`numGroups must be a positive integer dividing the ${c} channels, got ${shown(numGroups)}`);
  const eps = checkScaleShift(x, opts, [c], 'one per channel', fail);
  return scaleShift(normaliseRows(x, x.size / (n * numGroups), eps), opts, [1, c, ...x.shape.slice(2).map(() => 1)]);
}

/** Options of instanceNorm, as torch.nn.functional.instance_norm's. */
export interface InstanceNormOptions extends LayerNormOptions {
  /** Running mean and variance [C], as nn.InstanceNorm's with track_running_stats: updated in place with the input's statistics, or used in their place. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** Normalise by each sample's own statistics (default true); false: by the running ones, as in evaluation. */
  useInputStats?: boolean;
  /** Weight of the input's statistics in the running ones (default 0.1). */
  momentum?: number;
}

/**
 * x [N, C, ...] with each sample's channel normalised by its own mean and biased variance, then
 * scaled and shifted per channel, as torch.nn.functional.instance_norm. With runningMean and
 * runningVar they move towards the statistics averaged over the samples (the variance unbiased),
 * as PyTorch's; with useInputStats false, those normalise instead, as a batch norm in evaluation.
 */
export function instanceNorm(x: Tensor, opts: InstanceNormOptions = {}): Tensor {
  const rt = runtimeOf('instanceNorm', { x });
  const fail = (why: string) => new ShapeError('instanceNorm', `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['weight', 'bias', 'eps', 'runningMean', 'runningVar', 'useInputStats', 'momentum'], fail);
  const { runningMean, runningVar, useInputStats = true, momentum = 0.1, ...affine } = opts;
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  if (x.rank < 3) throw fail('needs a batch of channels with positions [N, C, ...]');
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  const eps = checkScaleShift(x, affine, [c], 'one per channel', fail);
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (t === undefined) continue;
    if (!(t instanceof Tensor) || t.rt !== rt) throw fail(`${name} must be a Tensor of x's runtime, got ${t instanceof Tensor ? t.describe() : shown(t)}`);
    if (t.dtype !== 'f32' || !sameShape(t.shape, [c])) throw fail(`${name} must be f32 [${c}], one per channel, got ${fmt(t.shape)} ${t.dtype}`);
  }
  if ((runningMean === undefined) !== (runningVar === undefined)) throw fail('runningMean and runningVar go together');
  if (typeof useInputStats !== 'boolean') throw fail(`useInputStats must be true or false, got ${shown(useInputStats)}`);
  unitOption('momentum', momentum, fail);
  if (!useInputStats) {
    if (!runningMean || !runningVar) throw fail('needs runningMean and runningVar without the input\'s statistics (useInputStats false)');
    return batchNorm(x, { runningMean, runningVar, ...affine, training: false, eps });
  }
  const positions = x.size / (n * c);
  if (positions <= 1) throw fail(`needs more than one position per channel to take its statistics, got ${positions}`);
  if (runningMean && runningVar) {
    // Each sample's channel as a channel of its own, then their statistics averaged over the samples.
    const stats = mean(channelStats(x.reshape(1, n * c, positions)).reshape(2, n, c), 1);
    updateRunningStats(runningMean, runningVar, stats, positions, momentum);
  }
  return groupNorm(x, c, { ...affine, eps });
}
