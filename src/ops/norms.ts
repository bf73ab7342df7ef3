// Moments, norms and distances, as torch's var, std and linalg.vector_norm and
// torch.nn.functional's normalize, cosine_similarity and pairwise_distance: compositions of
// elementwise ops and reductions, so their gradients (and those gradients' own) come from theirs.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { checkOptionNames, nonNegativeOption, shown } from '../runtime/options.js';
import { broadcastShapes, fmt, normAxis } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, affine, div, mul, scale, sub } from './elementwise.js';
import { abs, maximum, pow, signOp } from './math.js';
import { broadcastTo, checkExtremum, max, mean, reducedAxes, SHORT, sum } from './reduce.js';
import { channelStats } from './batchnorm.js';
import { narrow } from './slice.js';

type Axes = number | readonly number[];

/** Options of variance and std. */
export interface VarianceOptions {
  /** Subtracted from the count in the divisor: 1 (default) is Bessel's correction, 0 the population's. */
  correction?: number;
  keepDims?: boolean;
}

/**
 * The variance over `axes` (all by default), Σ(x − mean)² / (n − correction), as torch.var
 * (correction 1 by default); n ≤ correction divides by 0 (inf, or NaN), as there.
 */
export function variance(x: Tensor, axes?: Axes, opts: VarianceOptions = {}): Tensor {
  runtimeOf('variance', { x });
  return moments('variance', x, axes, opts);
}

/** The standard deviation, √variance (see variance), as torch.std; its gradient is 0 where it is 0, as PyTorch's. */
export function std(x: Tensor, axes?: Axes, opts: VarianceOptions = {}): Tensor {
  runtimeOf('std', { x });
  return root(moments('std', x, axes, opts), 2);
}

function moments(op: string, x: Tensor, axes: Axes | undefined, opts: VarianceOptions): Tensor {
  checkOptionNames(opts, ['correction', 'keepDims'], (why) => new ShapeError(op, why, [x.shape]));
  const { correction = 1, keepDims = false } = opts;
  nonNegativeOption('correction', correction, (why) => new ShapeError(op, why, [x.shape]));
  const red = reducedAxes(x, axes, op, keepDims);
  const n = red.reduce((c, a) => c * x.shape[a]!, 1);
  const kept = x.shape.flatMap((_, i) => (red.includes(i) ? [] : [i]));
  if (n > SHORT && x.size > 0 && (!kept.length || kept.at(-1)! - kept[0]! === kept.length - 1)) {
    // The kept axes in one run: x as [before, kept, after], whose mean and biased variance per
    // kept index batch norm's kernels take in one pass over x, and their gradient in another.
    // Over a few values each, a workgroup per output would cost more than the composed ops.
    const [from, to] = kept.length ? [kept[0]!, kept.at(-1)! + 1] : [x.rank, x.rank];
    const size = (axes: readonly number[]) => axes.reduce((c, d) => c * d, 1);
    const stats = channelStats(x.reshape(size(x.shape.slice(0, from)), size(x.shape.slice(from, to)), size(x.shape.slice(to))));
    const shape = keepDims ? x.shape.map((d, i) => (red.includes(i) ? 1 : d)) : kept.map((i) => x.shape[i]!);
    return scale(narrow(stats, 0, 1, 1).reshape(...shape), n / Math.max(n - correction, 0));
  }
  const d = sub(x, mean(x, red, true));
  return scale(sum(mul(d, d), red, keepDims), 1 / Math.max(n - correction, 0));
}

/**
 * s^(1/p) for s ≥ 0, with a slope of 0 at s = 0 (PyTorch's norm and std backward mask the zero),
 * not ∞·0 = NaN: computed as (s + z)^(1/p)·sign(s), where z = 1 − sign(s) is 1 at s = 0 and 0
 * elsewhere. Its slope there is 0, so its curvature there is 0 too (std's second derivative at a
 * constant row is PyTorch's 0; a norm's at a zero vector 0, where PyTorch's is NaN).
 */
function root(s: Tensor, p: number): Tensor {
  const sign = s.rt.record(signOp, [s], {});
  return mul(pow(add(s, affine(sign, -1, 1)), 1 / p), sign);
}

/** Options of vectorNorm. */
export interface VectorNormOptions {
  /** The order p of (Σ|x|^p)^(1/p): a number ≥ 1, or Infinity (max |x|) (default 2). */
  ord?: number;
  /** The dimensions it is taken over (default: all of them). */
  dim?: Axes;
  keepDims?: boolean;
}

/**
 * The p-norm (Σ|x|^p)^(1/p) over `dim` (every dimension by default), as torch.linalg.vector_norm;
 * ord Infinity is max |x|. Its gradient is 0 at a zero vector, as PyTorch's.
 */
export function vectorNorm(x: Tensor, opts: VectorNormOptions = {}): Tensor {
  runtimeOf('vectorNorm', { x });
  checkOptionNames(opts, ['ord', 'dim', 'keepDims'], (why) => new ShapeError('vectorNorm', why, [x.shape]));
  const { ord = 2, dim, keepDims = false } = opts;
  return norm('vectorNorm', x, checkOrd('vectorNorm', 'ord', ord, x), dim, keepDims);
}

/** @internal `ord` where it is a number ≥ 1 or Infinity (a p-norm's p), else a ShapeError naming `op`. */
export function checkOrd(op: string, name: string, ord: unknown, x: Tensor): number {
  if (ord === Infinity || (typeof ord === 'number' && ord >= 1 && Number.isFinite(ord))) return ord;
  throw new ShapeError(op, `${name} must be a number ≥ 1 or Infinity, got ${shown(ord)}`, [x.shape]);
}

function norm(op: string, x: Tensor, ord: number, dim: Axes | undefined, keepDims: boolean): Tensor {
  const red = reducedAxes(x, dim, op, keepDims);
  if (ord === Infinity) {
    checkExtremum(op, x, red); // named as the op called, not the max it takes
    return max(abs(x), red, keepDims);
  }
  if (ord === 1) return sum(abs(x), red, keepDims);
  return root(sum(ord === 2 ? mul(x, x) : pow(abs(x), ord), red, keepDims), ord);
}

/** Options of normalize. */
export interface NormalizeOptions {
  /** The norm's order (default 2; see vectorNorm). */
  p?: number;
  /** The dimension normalised (default 1: the channels or features of a batch). */
  dim?: number;
  /** The smallest norm divided by (default 1e-12). */
  eps?: number;
}

/** x / max(‖x‖_p, eps) along `dim`, as F.normalize: unit vectors, a zero one staying 0. */
export function normalize(x: Tensor, opts: NormalizeOptions = {}): Tensor {
  runtimeOf('normalize', { x });
  checkOptionNames(opts, ['p', 'dim', 'eps'], (why) => new ShapeError('normalize', why, [x.shape]));
  const { p = 2, dim = 1, eps = 1e-12 } = opts;
  return unit('normalize', x, checkOrd('normalize', 'p', p, x), dim, nonNegativeOption('eps', eps, (why) => new ShapeError('normalize', why, [x.shape])));
}

function unit(op: string, x: Tensor, p: number, dim: number, eps: number): Tensor {
  if (x.rank === 0) throw new ShapeError(op, 'needs at least one dimension, got a scalar', [x.shape]);
  return div(x, maximum(norm(op, x, p, normAxis(dim, x.rank, op), true), eps));
}

/**
 * The cosine of the angle between x1 and x2 along `dim` (default 1), broadcasting them, as
 * F.cosine_similarity: Σ x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps)), eps 1e-8 by default.
 */
export function cosineSimilarity(x1: Tensor, x2: Tensor, opts: { dim?: number; eps?: number } = {}): Tensor {
  runtimeOf('cosineSimilarity', { x1, x2 });
  const shape = broadcastShapes(x1.shape, x2.shape);
  const err = (why: string) => new ShapeError('cosineSimilarity', `${why}: x1 ${fmt(x1.shape)}, x2 ${fmt(x2.shape)}`, [x1.shape, x2.shape]);
  checkOptionNames(opts, ['dim', 'eps'], err);
  if (!shape) throw err('the shapes do not broadcast');
  const { dim = 1, eps = 1e-8 } = opts;
  const e = nonNegativeOption('eps', eps, (why) => new ShapeError('cosineSimilarity', why, [x1.shape]));
  const [a, b] = [broadcastTo(x1, shape), broadcastTo(x2, shape)];
  const d = normAxis(dim, shape.length, 'cosineSimilarity');
  return sum(mul(unit('cosineSimilarity', a, 2, d, e), unit('cosineSimilarity', b, 2, d, e)), d);
}

/** Options of pairwiseDistance. */
export interface PairwiseDistanceOptions {
  /** The norm's order (default 2; see vectorNorm). */
  p?: number;
  /** Added to the differences (default 1e-6), as PyTorch's, which keeps the norm of equal vectors above 0. */
  eps?: number;
  keepDims?: boolean;
}

/** ‖x1 − x2 + eps‖_p along the last dimension, broadcasting, as F.pairwise_distance. */
export function pairwiseDistance(x1: Tensor, x2: Tensor, opts: PairwiseDistanceOptions = {}): Tensor {
  runtimeOf('pairwiseDistance', { x1, x2 });
  const err = (why: string) => new ShapeError('pairwiseDistance', `${why}: x1 ${fmt(x1.shape)}, x2 ${fmt(x2.shape)}`, [x1.shape, x2.shape]);
  checkOptionNames(opts, ['p', 'eps', 'keepDims'], err);
  const { p = 2, eps = 1e-6, keepDims = false } = opts;
  const shape = broadcastShapes(x1.shape, x2.shape);
  if (!shape) throw err('the shapes do not broadcast');
  if (!shape.length) throw err('needs at least one dimension');
  if (typeof eps !== 'number' || !Number.isFinite(eps)) throw err(`eps must be a number, got ${shown(eps)}`);
  return norm('pairwiseDistance', add(sub(x1, x2), eps), checkOrd('pairwiseDistance', 'p', p, x1), -1, keepDims);
}
