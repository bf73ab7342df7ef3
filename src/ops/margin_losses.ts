// Margin and embedding losses, as torch.nn.functional's: margin ranking, hinge embedding, soft
// margin, multi-label soft margin, multi-class margin, cosine embedding and triplet margin. Each is composed of
// elementwise ops, reductions and the distances of ./norms.ts, so its gradient comes from theirs.
import { checkTensor, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { shown } from '../runtime/options.js';
import { fmt, sameShape } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { pickOp } from './cross_entropy.js';
import { add, affine, div, mul, relu, scale, sub } from './elementwise.js';
import { abs, clamp, logsigmoid, minimum, signOp, softplus, sqrt } from './math.js';
import { checkOrd, pairwiseDistance } from './norms.js';
import { sum } from './reduce.js';
import { checked, reduce, type LossOptions } from './losses.js';

/** 1 where `t` is not `v`, 0 where it is (PyTorch's `target != v`). */
const notEqual = (t: Tensor, v: number): Tensor => abs(t.rt.record(signOp, [sub(t, v)], {}));

function checkMargin(err: (why: string) => Error, margin: unknown): number {
  if (typeof margin !== 'number' || !Number.isFinite(margin)) throw err(`margin must be a number, got ${shown(margin)}`);
  return margin;
}

/** max(0, −target·(x1 − x2) + margin), reduced, as F.margin_ranking_loss (targets 1: x1 should rank higher; −1: lower). */
export function marginRankingLoss(x1: Tensor, x2: Tensor, target: Tensor, opts: LossOptions & { margin?: number } = {}): Tensor {
  runtimeOf('marginRankingLoss', { x1, x2, target }); // by their own names, before checked's input and target
  const { reduction, err } = checked('marginRankingLoss', x1, target, opts, ['margin']);
  if (!sameShape(x1.shape, x2.shape)) throw err(`x2 ${fmt(x2.shape)} differs from the input`);
  const margin = checkMargin(err, opts.margin ?? 0);
  return reduce(clamp(add(mul(scale(target, -1), sub(x1, x2)), margin), 0), reduction);
}

/**
 * x where the target is 1, max(0, margin − x) where it is −1, as F.hinge_embedding_loss (other
 * targets take both terms, as there); margin 1 by default.
 */
export function hingeEmbeddingLoss(input: Tensor, target: Tensor, opts: LossOptions & { margin?: number } = {}): Tensor {
  const { reduction, err } = checked('hingeEmbeddingLoss', input, target, opts, ['margin']);
  const margin = checkMargin(err, opts.margin ?? 1);
  return reduce(add(mul(notEqual(target, 1), clamp(affine(input, -1, margin), 0)), mul(notEqual(target, -1), input)), reduction);
}

/** log(1 + exp(−target·input)), reduced, as F.soft_margin_loss (targets ±1), without overflow for large margins. */
export function softMarginLoss(input: Tensor, target: Tensor, opts: LossOptions = {}): Tensor {
  const { reduction } = checked('softMarginLoss', input, target, opts);
  return reduce(softplus(scale(mul(target, input), -1)), reduction);
}

/**
 * −(t·log σ(x) + (1 − t)·log σ(−x)) averaged over the classes (the last dimension), then reduced
 * over the samples, as F.multilabel_soft_margin_loss; `weight` (broadcast, one per class)
 * multiplies each term.
 */
export function multiLabelSoftMarginLoss(input: Tensor, target: Tensor, opts: LossOptions & { weight?: Tensor } = {}): Tensor {
  const { reduction, err } = checked('multiLabelSoftMarginLoss', input, target, opts, ['weight']);
  if (opts.weight !== undefined) checkTensor('multiLabelSoftMarginLoss', 'weight', opts.weight);
  if (input.rank === 0) throw err('needs at least one dimension (the classes)');
  const terms = scale(add(mul(target, logsigmoid(input)), mul(sub(1, target), logsigmoid(scale(input, -1)))), -1);
  const weighted = opts.weight ? mul(terms, opts.weight) : terms;
  return reduce(scale(sum(weighted, -1), 1 / input.shape.at(-1)!), reduction);
}

/**
 * 1 − cos(x1, x2) where the target is 1, max(0, cos(x1, x2) − margin) where it is −1 (0 for other
 * targets), as F.cosine_embedding_loss: x1 and x2 [N, D] with targets [N], or [D] with a 0-d
 * target; cos = Σx1·x2 / √((Σx1² + 1e-12)·(Σx2² + 1e-12)), as PyTorch's.
 */
export function cosineEmbeddingLoss(x1: Tensor, x2: Tensor, target: Tensor, opts: LossOptions & { margin?: number } = {}): Tensor {
  runtimeOf('cosineEmbeddingLoss', { x1, x2, target });
  const err = (why: string) => new ShapeError('cosineEmbeddingLoss', `${why}: x1 ${fmt(x1.shape)}, x2 ${fmt(x2.shape)}, target ${fmt(target.shape)}`, [x1.shape, x2.shape, target.shape]);
  if (!sameShape(x1.shape, x2.shape) || x1.rank !== target.rank + 1 || x1.rank > 2 || (target.rank === 1 && target.shape[0] !== x1.shape[0])) {
    throw err('expected x1 and x2 [N, D] with a target [N], or [D] with a 0-d target');
  }
  const { reduction } = checked('cosineEmbeddingLoss', x1, x2, opts, ['margin']);
  if (target.dtype !== 'f32') throw err(`needs an f32 target, got ${target.dtype}`);
  const margin = checkMargin(err, opts.margin ?? 0);
  const axis = x1.rank - 1;
  const squares = (x: Tensor) => add(sum(mul(x, x), axis), 1e-12);
  const cos = div(sum(mul(x1, x2), axis), sqrt(mul(squares(x1), squares(x2))));
  const equal = (v: number) => affine(notEqual(target, v), -1, 1);
  return reduce(add(mul(equal(1), affine(cos, -1, 1)), mul(equal(-1), clamp(affine(cos, 1, -margin), 0))), reduction);
}

/** Options of tripletMarginLoss. */
export interface TripletMarginOptions extends LossOptions {
  /** How much nearer the positive must be than the negative (default 1). */
  margin?: number;
  /** The distance's norm and the eps added to differences (defaults 2 and 1e-6; see pairwiseDistance). */
  p?: number;
  eps?: number;
  /** Take the negative's distance to the positive where it is the smaller (default false). */
  swap?: boolean;
}

/**
 * max(0, margin + d(anchor, positive) − d(anchor, negative)), d the pairwise distance along the
 * last dimension, reduced, as F.triplet_margin_loss.
 */
export function tripletMarginLoss(anchor: Tensor, positive: Tensor, negative: Tensor, opts: TripletMarginOptions = {}): Tensor {
  runtimeOf('tripletMarginLoss', { anchor, positive, negative }); // by their own names, before checked's input and target
  const { reduction, err } = checked('tripletMarginLoss', anchor, positive, opts, ['margin', 'p', 'eps', 'swap']);
  if (!sameShape(anchor.shape, negative.shape)) throw err(`the negative ${fmt(negative.shape)} differs from the anchor`);
  const { p = 2, eps = 1e-6, swap = false } = opts;
  const margin = checkMargin(err, opts.margin ?? 1);
  if (typeof swap !== 'boolean') throw err(`swap must be true or false, got ${shown(swap)}`);
  // Checked here, as pairwiseDistance checks them, so that the error names this loss.
  checkOrd('tripletMarginLoss', 'p', p, anchor);
  if (typeof eps !== 'number' || !Number.isFinite(eps)) throw err(`eps must be a number, got ${shown(eps)}`);
  const d = (a: Tensor, b: Tensor) => pairwiseDistance(a, b, { p, eps });
  const toNegative = swap ? minimum(d(anchor, negative), d(positive, negative)) : d(anchor, negative);
  return reduce(clamp(add(sub(d(anchor, positive), toNegative), margin), 0), reduction);
}

/** Options of multiMarginLoss. */
export interface MultiMarginOptions extends LossOptions {
  /** 1 (default) or 2: the hinge or its square. */
  p?: 1 | 2;
  /** By how much the label's score should exceed the others (default 1). */
  margin?: number;
  /** A weight per class [C]: each sample's loss times its label's (default: none). */
  weight?: Tensor;
}

/**
 * The multi-class hinge loss, as F.multi_margin_loss: for each sample of scores x [N, C] (or one,
 * [C]) and i32 label y [N] (or 0-d), Σ over classes i ≠ y of max(0, margin − x[y] + x[i])^p / C,
 * times weight[y] where given; reduction 'mean' averages over the samples. A label outside
 * 0..C−1 gives NaN (a GPU kernel cannot throw).
 */
export function multiMarginLoss(input: Tensor, target: Tensor, opts: MultiMarginOptions = {}): Tensor {
  const rt = runtimeOf('multiMarginLoss', { input, target });
  const err = (why: string) => new ShapeError('multiMarginLoss', `${why}: input ${fmt(input.shape)} ${input.dtype}, target ${fmt(target.shape)} ${target.dtype}`, [input.shape, target.shape]);
  const { reduction } = checked('multiMarginLoss', input, input, opts, ['p', 'margin', 'weight']);
  const x = input.rank === 1 ? input.reshape(1, -1) : input;
  if (x.rank !== 2 || target.dtype !== 'i32' || !sameShape(target.shape, input.rank === 1 ? [] : [x.shape[0]!])) throw err('expected f32 scores [N, C] with i32 labels [N], or [C] with a 0-d label');
  const [n, c] = x.shape as [number, number];
  // Each loss is a mean over the classes, and a label cannot be one of none.
  if (c === 0) throw err('needs at least one class (C ≥ 1)');
  const { p = 1, weight } = opts;
  const margin = checkMargin(err, opts.margin ?? 1);
  if (p !== 1 && p !== 2) throw err(`p must be 1 or 2, got ${shown(p)}`);
  if (weight instanceof Tensor && weight.rt !== rt) throw err(`weight, ${weight.describe()}, belongs to another runtime`);
  if (weight !== undefined && (!(weight instanceof Tensor) || weight.dtype !== 'f32' || !sameShape(weight.shape, [c]))) throw err(`weight must be f32 [${c}], one per class, got ${weight instanceof Tensor ? weight.describe() : shown(weight)}`);
  const labels = target.reshape(n);
  const pick = (t: Tensor) => rt.record(pickOp, [t, labels], { ignoreIndex: -(2 ** 31) });
  // relu, not clamp: PyTorch's kernel passes no gradient where a hinge is exactly 0 (the others, clamp_min's, do).
  const hinge = relu(add(sub(x, pick(x).reshape(n, 1)), margin));
  // The label's own term is max(0, margin)^p whatever x is: taken back out.
  const own = Math.max(0, margin) ** p;
  let losses = scale(sub(sum(p === 2 ? mul(hinge, hinge) : hinge, 1), own), 1 / c);
  if (weight) losses = mul(losses, pick(mul(rt.ones([n, 1]), weight.reshape(1, c))));
  return reduce(input.rank === 1 ? losses.reshape() : losses, reduction);
}
