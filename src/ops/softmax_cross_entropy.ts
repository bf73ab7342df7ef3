// Softmax cross-entropy with integer labels, mean over the rows not ignored (PyTorch's
// cross_entropy with its ignore_index and label_smoothing): forward, each row's loss (a team of
// invocations per row, all rows at once) and their mean (one workgroup); its gradient
// (softmax − target)·g/K as one primitive kernel reading g on the GPU. Long rows are shared by
// teams of invocations (shaders/lib/lines.wgsl).
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type OpDef } from '../runtime/op.js';
import { checkOptionNames, unitOption } from '../runtime/options.js';
import { fmt, grid1d, lineTeam } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { mul, sub } from './elementwise.js';
import { abs, signOp } from './math.js';
import { sum } from './reduce.js';
import { softmax } from './softmax.js';

// The rows' losses and the backward pass: a team per row, teams by the row's length (lineTeam):
// one invocation for up to 32 classes, up to 256 for many. The mean and the scale pass: one
// workgroup of SUM_WG invocations adding up and counting rows.
const SUM_WG = 64;

function checkInputs(op: string, logits: Tensor, labels: Tensor): void {
  const [b, c] = logits.shape;
  if (logits.rank !== 2 || logits.dtype !== 'f32' || c === 0) {
    throw new ShapeError(op, `logits must be f32 [B, C] with C ≥ 1, got ${fmt(logits.shape)} ${logits.dtype}`, [logits.shape, labels.shape]);
  }
  if (labels.rank !== 1 || labels.shape[0] !== b || labels.dtype !== 'i32') {
    throw new ShapeError(op, `labels must be i32 [${b}] for logits ${fmt(logits.shape)}, got ${fmt(labels.shape)} ${labels.dtype}`, [logits.shape, labels.shape]);
  }
}

/** Options of softmaxCrossEntropy. */
export interface SoftmaxCrossEntropyOptions {
  /** Rows with this label count neither in the loss nor in the mean (PyTorch's ignore_index; default -100). */
  ignoreIndex?: number;
  /**
   * PyTorch's label_smoothing, in [0, 1] (default 0): the target is 1 − labelSmoothing at the
   * label plus labelSmoothing / C in every class.
   */
  labelSmoothing?: number;
}

/** The attributes softmaxCrossEntropy records (its options, defaults filled in). */
export interface XentAttrs {
  ignoreIndex: number;
  labelSmoothing: number;
}

function attrsOf(op: string, logits: Tensor, labels: Tensor, opts: SoftmaxCrossEntropyOptions): XentAttrs {
  const fail = (why: string) => new ShapeError(op, `${why} (logits ${fmt(logits.shape)}, labels ${fmt(labels.shape)})`, [logits.shape, labels.shape]);
  checkOptionNames(opts, ['ignoreIndex', 'labelSmoothing'], fail);
  const { ignoreIndex = -100, labelSmoothing = 0 } = opts;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw fail(`ignoreIndex must be an i32 integer, got ${String(ignoreIndex)}`);
  }
  unitOption('labelSmoothing', labelSmoothing, fail);
  return { ignoreIndex, labelSmoothing };
}

const params = (logits: Tensor, { ignoreIndex, labelSmoothing }: XentAttrs) => ({ batch: logits.shape[0]!, classes: logits.shape[1]!, ignore: ignoreIndex, nan: NaN, smoothing: labelSmoothing });

/** Each row's loss [B] (0 where ignored): the partial results softmaxCrossEntropyOp combines and differentiates. */
export const softmaxCrossEntropyRowsOp = defineOp<XentAttrs>({
  name: 'softmax_cross_entropy_rows',
  infer([logits, labels]) {
    checkInputs('softmaxCrossEntropy', logits!, labels!);
    return { shape: [logits!.shape[0]!], dtype: 'f32' };
  },
  encode(ctx, [logits, labels], out, attrs) {
    const { team, wg } = lineTeam(logits!.shape[1]!);
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'rows',
      constants: { WG: wg, TEAM: team },
      params: params(logits!, attrs),
      bindings: { logits: logits!, labels: labels!, out },
      workgroups: grid1d(logits!.shape[0]!, wg / team, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: { notDifferentiable: 'per-row losses, combined by softmax_cross_entropy, which differentiates the whole' },
});

/** The mean loss from logits, labels and the rows' losses (softmaxCrossEntropyRowsOp's). */
export const softmaxCrossEntropyOp = defineOp<XentAttrs>({
  name: 'softmax_cross_entropy',
  infer([logits, labels, rows]) {
    checkInputs('softmaxCrossEntropy', logits!, labels!);
    if (rows!.rank !== 1 || rows!.shape[0] !== logits!.shape[0] || rows!.dtype !== 'f32') {
      throw new ShapeError('softmaxCrossEntropy', `the rows' losses must be f32 [${logits!.shape[0]}], got ${fmt(rows!.shape)} ${rows!.dtype}`, [logits!.shape, labels!.shape, rows!.shape]);
    }
    return { shape: [], dtype: 'f32' };
  },
  encode(ctx, [logits, labels, rows], out, attrs) {
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'forward',
      constants: { WG: SUM_WG, TEAM: 1 },
      params: params(logits!, attrs),
      bindings: { labels: labels!, losses: rows!, out },
      workgroups: [1],
    });
  },
  // Labels are integers: they never get a gradient; the rows' losses are this op's own means.
  backward: (g, { inputs: [logits, labels], attrs, needs }) => [needs[0] ? softmaxCrossEntropyBackward(logits!, labels!, g, attrs) : null, null, null],
});

export const softmaxCrossEntropyBackwardOp: OpDef<XentAttrs> = defineOp<XentAttrs>({
  name: 'softmax_cross_entropy_backward',
  infer([logits, labels, g]) {
    checkInputs('softmaxCrossEntropyBackward', logits!, labels!);
    if (g!.size !== 1 || g!.dtype !== 'f32') {
      throw new ShapeError('softmaxCrossEntropyBackward', `g must be one f32 value (the loss's gradient), got ${fmt(g!.shape)} ${g!.dtype}`, [logits!.shape, labels!.shape, g!.shape]);
    }
    return { shape: logits!.shape, dtype: 'f32' };
  },
  // g here is g/K, from softmaxCrossEntropyScaleOp.
  encode(ctx, [logits, labels, g], out, attrs) {
    const { team, wg } = lineTeam(logits!.shape[1]!);
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'backward',
      constants: { WG: wg, TEAM: team },
      params: params(logits!, attrs),
      bindings: { logits: logits!, labels: labels!, g: g!, out },
      workgroups: grid1d(logits!.shape[0]!, wg / team, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  // out = mask·(p − t)·s, p = softmax(logits) by row, t the (smoothed) target, mask 0 on ignored
  // rows, s = g/K. Given gg: d/dlogits = mask·s·p⊙(gg − Σ_j gg·p) (softmax's rule; t is
  // constant), d/ds = Σ gg·mask·(p − t). Both come from u, this op with s = 1: mask·(p − t),
  // whose rows are zero where ignored (and where p equals t exactly: for t one-hot, softmax's
  // rule gives zero there too; a smoothed t, f32 rounding all but rules out), NaN for a bad
  // label. Composed of differentiable ops, so it has a gradient in turn.
  backward: (gg, { inputs: [logits, labels, s], attrs, needs }) => {
    const u = logits!.rt.record(softmaxCrossEntropyBackwardOp, [logits!, labels!, logits!.rt.scalar(1)], attrs);
    let dlogits: Tensor | null = null;
    if (needs[0]) {
      const mask = u.rt.record(signOp, [sum(abs(u), 1, true)], {});
      const p = softmax(logits!, 1);
      dlogits = mul(mul(mul(p, sub(gg, sum(mul(gg, p), 1, true))), mask), s!);
    }
    return [dlogits, null, needs[2] ? sum(mul(gg, u)).reshape(...s!.shape) : null];
  },
});

/** g/K for the backward pass: K, the rows not ignored, counted once (one workgroup). */
export const softmaxCrossEntropyScaleOp: OpDef<XentAttrs> = defineOp<XentAttrs>({
  name: 'softmax_cross_entropy_scale',
  infer() {
    return { shape: [], dtype: 'f32' };
  },
  encode(ctx, [labels, g], out, { ignoreIndex }) {
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'scale',
      constants: { WG: SUM_WG, TEAM: 1 },
      params: { batch: labels!.shape[0]!, classes: 1 /* unread */, ignore: ignoreIndex, nan: NaN, smoothing: 0 /* unread */ },
      bindings: { labels: labels!, g: g!, out },
      workgroups: [1],
    });
  },
  // Linear in g: g/K's gradient is gg/K.
  backward: (gg, { inputs: [labels], attrs }) => [null, gg.rt.record(softmaxCrossEntropyScaleOp, [labels!, gg], attrs)],
});

/**
 * mean_b(−log softmax(logits[b])[labels[b]]) for logits [B, C] (f32) and labels [B] (i32) → a
 * scalar, as PyTorch's cross_entropy: rows labelled `ignoreIndex` (default -100) are left out of
 * the sum and the mean (all of them ignored: NaN); with `labelSmoothing` ε the target is 1 − ε
 * at the label plus ε/C in every class. Computed stably (log-sum-exp after subtracting each
 * row's max).
 * NOTE: any other label outside [0, C) cannot throw on the GPU: that row's loss, hence the mean,
 * is NaN (and so is that row's gradient).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, opts: SoftmaxCrossEntropyOptions = {}): Tensor {
  const rt = runtimeOf('softmaxCrossEntropy', { logits, labels });
  const attrs = attrsOf('softmaxCrossEntropy', logits, labels, opts);
  return rt.record(softmaxCrossEntropyOp, [logits, labels, rt.record(softmaxCrossEntropyRowsOp, [logits, labels], attrs)], attrs);
}

/**
 * The gradient of softmaxCrossEntropy w.r.t. the logits: (softmax − target)·g/K over the K rows
 * not ignored (zero on ignored rows), g a one-element tensor.
 */
export function softmaxCrossEntropyBackward(logits: Tensor, labels: Tensor, g: Tensor, opts: SoftmaxCrossEntropyOptions = {}): Tensor {
  runtimeOf('softmaxCrossEntropyBackward', { logits, labels, g });
  const attrs = attrsOf('softmaxCrossEntropyBackward', logits, labels, opts);
  // Checked before the scale is recorded, so a bad g is named by this op.
  softmaxCrossEntropyBackwardOp.infer([logits, labels, g], attrs);
  const scaled = logits.rt.record(softmaxCrossEntropyScaleOp, [labels, g], attrs);
  return logits.rt.record(softmaxCrossEntropyBackwardOp, [logits, labels, scaled], attrs);
}
