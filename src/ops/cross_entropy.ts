// The cross-entropy and the negative log-likelihood with all of PyTorch's options (F.cross_entropy,
// F.nll_loss): class weights, the three reductions, labels ignored, label smoothing, targets
// that are probabilities, and inputs with positions after the classes ([N, C, d1, ...], as a
// segmentation's). The common case, a mean of the losses by label without class weights, is
// the fused kernel of softmax_cross_entropy.ts; the rest is composed of log-softmax, sums, and
// `pick` (each row's entry at its label) with its adjoint `place`, so gradients and their own
// come from theirs.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type OpDef } from '../runtime/op.js';
import { checkOptionNames, shown, unitOption } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { add, affine, div, mul, neg, reluGradOp, scale } from './elementwise.js';
import type { Reduction } from './losses.js';
import { permute } from './permute.js';
import { sum } from './reduce.js';
import { softmaxCrossEntropy } from './softmax_cross_entropy.js';
import { logSoftmax } from './softmax.js';

const WG = 256;

/**
 * Rows up to which a GPU takes the fused softmaxCrossEntropy: its mean is one workgroup's, each
 * invocation adding up rows/64 losses one after another, a wait on memory each; past this (a
 * segmentation's millions of pixels) the composed ops' reductions, spread over the GPU, take
 * less. A CPU adapter runs a workgroup's invocations in turn anyway: the fused kernel at any size.
 */
const FUSED_ROWS_GPU = 65536;

/** What pick and place take: the label of rows left out. */
export interface PickAttrs {
  ignoreIndex: number;
}

const pickParams = (batch: number, classes: number, { ignoreIndex }: PickAttrs) => ({ batch, classes, ignore: ignoreIndex, nan: NaN });

/** x [B, C] and labels [B] (i32) → [B]: x[b][label_b], 0 where the label is ignoreIndex, NaN for any other outside [0, C). */
export const pickOp: OpDef<PickAttrs> = defineOp<PickAttrs>({
  name: 'pick',
  infer([x, labels]) {
    if (x!.rank !== 2 || x!.dtype !== 'f32' || labels!.dtype !== 'i32' || !sameShape(labels!.shape, [x!.shape[0]!])) {
      throw new ShapeError('pick', `needs f32 rows [B, C] and i32 labels [B], got ${fmt(x!.shape)} ${x!.dtype} and ${fmt(labels!.shape)} ${labels!.dtype}`, [x!.shape, labels!.shape]);
    }
    return { shape: [x!.shape[0]!], dtype: 'f32' };
  },
  encode(ctx, [x, labels], out, attrs) {
    ctx.dispatch({
      shader: 'pick.wgsl',
      entry: 'pick',
      constants: { WG },
      params: pickParams(x!.shape[0]!, x!.shape[1]!, attrs),
      bindings: { x: x!, labels: labels!, out },
      workgroups: grid1d(out.size, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  // Linear in x: its gradient places g at each row's label.
  backward: (g, { inputs: [x, labels], attrs }) => [g.rt.record(placeOp, [g, labels!], { ...attrs, classes: x!.shape[1]! }), null],
});

/** g [B] and labels [B] → [B, classes]: g[b] at each row's label, else 0 (pick's adjoint). */
export const placeOp: OpDef<PickAttrs & { classes: number }> = defineOp<PickAttrs & { classes: number }>({
  name: 'place',
  infer([g, labels], { classes }) {
    if (g!.rank !== 1 || g!.dtype !== 'f32' || labels!.dtype !== 'i32' || !sameShape(labels!.shape, g!.shape)) {
      throw new ShapeError('place', `needs f32 values [B] and i32 labels [B], got ${fmt(g!.shape)} ${g!.dtype} and ${fmt(labels!.shape)} ${labels!.dtype}`, [g!.shape, labels!.shape]);
    }
    return { shape: [g!.shape[0]!, classes], dtype: 'f32' };
  },
  encode(ctx, [g, labels], out, attrs) {
    ctx.dispatch({
      shader: 'pick.wgsl',
      entry: 'place',
      constants: { WG },
      params: pickParams(g!.shape[0]!, attrs.classes, attrs),
      bindings: { x: g!, labels: labels!, out },
      workgroups: grid1d(out.size, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: (gg, { inputs: [, labels], attrs }) => [gg.rt.record(pickOp, [gg, labels!], { ignoreIndex: attrs.ignoreIndex }), null],
});

/** Options of nllLoss, as F.nll_loss's. */
export interface NllLossOptions {
  /** A weight per class [C]: each row's loss times its label's, and the mean divided by their sum (default: none). */
  weight?: Tensor;
  /** Rows (positions) with this label count neither in the loss nor in the mean (default -100). */
  ignoreIndex?: number;
  /** 'mean' (default), 'sum', or 'none': each row's (position's) loss. */
  reduction?: Reduction;
}

/** Options of crossEntropy, as F.cross_entropy's. */
export interface CrossEntropyOptions extends NllLossOptions {
  /** The target mixed with the uniform distribution: 1 − ε at the label (or ε/C added to a probability target) (default 0). */
  labelSmoothing?: number;
}

/** The checked inputs of both losses: rows [M, C] (positions after C moved into the rows), and how to shape a 'none' result. */
function prepare(op: string, input: Tensor, target: Tensor, opts: CrossEntropyOptions, names: readonly string[]) {
  const rt = runtimeOf(op, { input, target });
  const err = (why: string) => new ShapeError(op, `${why}: input ${fmt(input.shape)} ${input.dtype}, target ${fmt(target.shape)} ${target.dtype}`, [input.shape, target.shape]);
  checkOptionNames(opts, names, err);
  const { weight, ignoreIndex = -100, reduction = 'mean', labelSmoothing = 0 } = opts;
  if (input.dtype !== 'f32' || input.rank < 1) throw err('the input must be f32 [C], [N, C] or [N, C, d1, ...]');
  // [C] is one sample of C classes, as PyTorch's unbatched input.
  const x = input.rank === 1 ? input.reshape(1, input.shape[0]!) : input;
  const c = x.shape[1]!;
  // No label can be one of no classes, nor a distribution be over none.
  if (c === 0) throw err('needs at least one class (C ≥ 1)');
  // crossEntropy's targets may be probabilities (nllLoss's not).
  const probabilitiesOk = names.includes('labelSmoothing');
  const probabilities = probabilitiesOk && target.dtype === 'f32';
  // One loss per row and position: [N, d1, ...], or [] for one sample.
  const perRow = input.rank === 1 ? [] : [x.shape[0]!, ...x.shape.slice(2)];
  const wantShape = probabilities ? input.shape : perRow;
  if ((target.dtype !== 'i32' && !probabilities) || !sameShape(target.shape, wantShape)) {
    throw err(`the target must be i32 class indices ${fmt(perRow)}${probabilitiesOk ? `, or f32 probabilities ${fmt(input.shape)}` : ''}`);
  }
  if (weight instanceof Tensor && weight.rt !== rt) throw err(`weight, ${weight.describe()}, belongs to another runtime`);
  if (weight !== undefined && (!(weight instanceof Tensor) || weight.dtype !== 'f32' || !sameShape(weight.shape, [c]))) {
    throw err(`weight must be f32 [${c}], one per class, got ${weight instanceof Tensor ? weight.describe() : shown(weight)}`);
  }
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) throw err(`ignoreIndex must be an i32 integer, got ${shown(ignoreIndex)}`);
  if (probabilities && opts.ignoreIndex !== undefined) throw err('ignoreIndex is for class-index targets, not probabilities (as in PyTorch)');
  if (!['mean', 'sum', 'none'].includes(reduction)) throw err(`reduction must be 'mean', 'sum' or 'none', got ${shown(reduction)}`);
  unitOption('labelSmoothing', labelSmoothing, err);
  // Positions after the classes into the rows: [N, C, d...] → [N·d, C], the target likewise.
  const rows = (t: Tensor) => (t.rank <= 2 ? t : permute(t, [0, ...t.shape.slice(2).map((_, i) => i + 2), 1]).reshape(-1, c));
  const labels = probabilities ? undefined : target.reshape(-1);
  return { x, rows, labels, c, weight, ignoreIndex, reduction, labelSmoothing, perRow };
}

/** Each row's weight (its label's, or 1 without class weights), 0 where the label is ignored. */
function byLabel(logp: Tensor, labels: Tensor, weight: Tensor | undefined, ignoreIndex: number) {
  const rt = logp.rt;
  const [m, c] = logp.shape as [number, number];
  // The weights laid out as the rows, so pick reads each row's label's.
  const table = weight ? mul(rt.ones([m, 1]), weight.reshape(1, c)) : rt.ones([m, c]);
  return rt.record(pickOp, [table, labels], { ignoreIndex });
}

/** Per-row losses reduced: kept ('none'), summed, or summed over `denominator` ('mean'). */
function reduceRows(losses: Tensor, reduction: Reduction, denominator: () => Tensor): Tensor {
  return reduction === 'none' ? losses : reduction === 'sum' ? sum(losses) : div(sum(losses), denominator());
}

/** Each row's −logp at its label (times the label's weight), and the rows' weights; rows of logp [M, C]. */
function nllRows(logp: Tensor, labels: Tensor, weight: Tensor | undefined, ignoreIndex: number): { losses: Tensor; weights: Tensor } {
  const picked = logp.rt.record(pickOp, [logp, labels], { ignoreIndex });
  const weights = byLabel(logp, labels, weight, ignoreIndex);
  return { losses: neg(weight ? mul(picked, weights) : picked), weights };
}

/**
 * The negative log-likelihood of log-probabilities `input` [N, C] (or [C], or [N, C, d1, ...])
 * at class indices `target` (i32 [N], [], or [N, d1, ...]), as F.nll_loss: −input[label],
 * times the label's weight where `weight` is given; 'mean' divides by the sum of those weights
 * (the count of rows not ignored, unweighted). A label outside [0, C) other than ignoreIndex
 * gives NaN, where PyTorch raises: a GPU kernel cannot throw.
 */
export function nllLoss(input: Tensor, target: Tensor, opts: NllLossOptions = {}): Tensor {
  const p = prepare('nllLoss', input, target, opts, ['weight', 'ignoreIndex', 'reduction']);
  const { losses, weights } = nllRows(p.rows(p.x), p.labels!, p.weight, p.ignoreIndex);
  return p.reduction === 'none' ? losses.reshape(...p.perRow) : reduceRows(losses, p.reduction, () => sum(weights));
}

/**
 * The cross-entropy of logits `input` [N, C] (or [C], or [N, C, d1, ...]) against class indices
 * (i32 [N], [], or [N, d1, ...]) or probabilities (f32, the input's shape), as F.cross_entropy:
 * log-softmax over the classes, then nllLoss's weights, ignored labels and reductions, and
 * label smoothing as PyTorch 1.13's (for indices, (1 − ε)·nll + ε/C·Σ_c −w_c·logp_c, both
 * reduced alike; probabilities mixed with the uniform ε/C, the mean over the rows). Without
 * weights or probabilities, a mean takes the fused softmaxCrossEntropy (over [N, C], or the
 * rows the positions after the classes make; on a GPU, up to FUSED_ROWS_GPU rows).
 */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const p = prepare('crossEntropy', input, target, opts, ['weight', 'ignoreIndex', 'reduction', 'labelSmoothing']);
  const { weight, reduction, labelSmoothing: eps, c } = p;
  if (p.labels && !weight && reduction === 'mean' && (input.rt.adapter.software || p.labels.size <= FUSED_ROWS_GPU)) {
    return softmaxCrossEntropy(p.rows(p.x), p.labels, { ignoreIndex: p.ignoreIndex, labelSmoothing: eps });
  }
  const logp = logSoftmax(p.rows(p.x), 1);
  const weighted = weight ? mul(logp, weight.reshape(1, c)) : logp;
  let result: Tensor;
  if (!p.labels) {
    // Probabilities: −Σ_c w_c·t_c·logp_c per row, the mean over the rows.
    const t = p.rows(target.rank === 1 ? target.reshape(1, c) : target);
    const smoothed = eps ? affine(t, 1 - eps, eps / c) : t;
    const losses = neg(sum(mul(weighted, smoothed), 1));
    result = reduceRows(losses, reduction, () => logp.rt.scalar(logp.shape[0]!));
  } else {
    const { losses, weights } = nllRows(logp, p.labels, weight, p.ignoreIndex);
    result = reduceRows(losses, reduction, () => sum(weights));
    if (eps) {
      // −Σ_c w_c·logp_c per row, zero on ignored rows (a where, not a product: PyTorch's masked_fill).
      const kept = logp.rt.record(pickOp, [logp.rt.ones(logp.shape), p.labels], { ignoreIndex: p.ignoreIndex });
      const smooth = logp.rt.record(reluGradOp, [kept, neg(sum(weighted, 1))], {});
      result = add(scale(result, 1 - eps), scale(reduceRows(smooth, reduction, () => sum(weights)), eps / c));
    }
  }
  return reduction === 'none' ? result.reshape(...p.perRow) : result;
}
