// Softmax cross-entropy with integer labels, mean over the batch: one fused kernel forward, and
// its gradient (softmax − onehot)·g/B as one primitive kernel reading g on the GPU.
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { fmt, grid1d } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

// Forward: one workgroup of WG invocations (a power of two, for its tree sum). Backward: one
// invocation per row, WG per workgroup.
const WG = 64;

function checkInputs(op: string, logits: Tensor, labels: Tensor): void {
  const [b, c] = logits.shape;
  if (logits.rank !== 2 || logits.dtype !== 'f32' || c === 0) {
    throw new ShapeError(op, `logits must be f32 [B, C] with C ≥ 1, got ${fmt(logits.shape)} ${logits.dtype}`, [logits.shape, labels.shape]);
  }
  if (labels.rank !== 1 || labels.shape[0] !== b || labels.dtype !== 'i32') {
    throw new ShapeError(op, `labels must be i32 [${b}] for logits ${fmt(logits.shape)}, got ${fmt(labels.shape)} ${labels.dtype}`, [logits.shape, labels.shape]);
  }
}

const params = (logits: Tensor) => ({ batch: logits.shape[0]!, classes: logits.shape[1]!, nan: NaN });

export const softmaxCrossEntropyOp = defineOp<object>({
  name: 'softmax_cross_entropy',
  infer([logits, labels]) {
    checkInputs('softmaxCrossEntropy', logits!, labels!);
    return { shape: [], dtype: 'f32' };
  },
  encode(ctx, [logits, labels], out) {
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'forward',
      constants: { WG },
      params: params(logits!),
      bindings: { logits: logits!, labels: labels!, g: logits!, out },
      workgroups: [1],
    });
  },
  // Labels are integers: they never get a gradient.
  backward: (g, { inputs: [logits, labels], needs }) => [needs[0] ? softmaxCrossEntropyBackward(logits!, labels!, g) : null, null],
});

export const softmaxCrossEntropyBackwardOp = defineOp<object>({
  name: 'softmax_cross_entropy_backward',
  infer([logits, labels, g]) {
    checkInputs('softmaxCrossEntropyBackward', logits!, labels!);
    if (g!.size !== 1 || g!.dtype !== 'f32') {
      throw new ShapeError('softmaxCrossEntropyBackward', `g must be one f32 value (the loss's gradient), got ${fmt(g!.shape)} ${g!.dtype}`, [logits!.shape, labels!.shape, g!.shape]);
    }
    return { shape: logits!.shape, dtype: 'f32' };
  },
  encode(ctx, [logits, labels, g], out) {
    ctx.dispatch({
      shader: 'softmax_xent.wgsl',
      entry: 'backward',
      constants: { WG },
      params: params(logits!),
      bindings: { logits: logits!, labels: labels!, g: g!, out },
      workgroups: grid1d(logits!.shape[0]!, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: {
    notDifferentiable: 'softmax_cross_entropy_backward has no gradient in fovea: second derivatives of the softmax cross-entropy are not implemented',
  },
});

/**
 * mean_b(−log softmax(logits[b])[labels[b]]) for logits [B, C] (f32) and labels [B] (i32) → a
 * scalar. Computed stably (log-sum-exp after subtracting each row's max).
 * NOTE: a label outside [0, C) cannot throw on the GPU: that row's loss, hence the mean, is NaN
 * (and so is that row's gradient).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return logits.rt.record(softmaxCrossEntropyOp, [logits, labels], {});
}

/** The gradient of softmaxCrossEntropy w.r.t. the logits: (softmax − onehot)·g/B, g a one-element tensor. */
export function softmaxCrossEntropyBackward(logits: Tensor, labels: Tensor, g: Tensor): Tensor {
  return logits.rt.record(softmaxCrossEntropyBackwardOp, [logits, labels, g], {});
}
