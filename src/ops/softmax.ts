// softmax along one axis (numerically stable, see shaders/softmax.wgsl), and its gradient
// dx = y·(g − Σ g·y) composed from mul, sub and sum, so it is differentiable in turn.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { grid1d, normAxis } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { mul, sub } from './elementwise.js';
import { sum } from './reduce.js';

/** Invocations per workgroup; each invocation computes one line along the axis. */
const WG = 64;

export const softmaxOp = defineOp<{ axis: number }>({
  name: 'softmax',
  infer([x]) {
    if (x!.dtype !== 'f32') throw new ShapeError('softmax', `needs an f32 tensor, got ${x!.dtype}`, [x!.shape]);
    return { shape: x!.shape, dtype: 'f32' };
  },
  encode(ctx, [x], out, { axis }) {
    const len = x!.shape[axis]!;
    const inner = x!.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const lines = len === 0 ? 0 : out.size / len;
    ctx.dispatch({
      shader: 'softmax.wgsl',
      constants: { WG },
      params: { lines, len, inner },
      bindings: { x: x!, out },
      workgroups: grid1d(lines, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  // y = softmax(x): dx_j = y_j·(g_j − Σ_k g_k·y_k), the sum along the axis.
  backward: (g, { out: y, attrs: { axis } }) => [mul(y, sub(g, sum(mul(g, y), axis, true)))],
});

/**
 * softmax(x) along `axis` (default: the last): exp(x − max) / Σ exp(x − max) over that axis, so
 * each line along it is positive and sums to 1. Stable for any finite logits.
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  runtimeOf('softmax', { x });
  if (x.rank === 0) throw new ShapeError('softmax', 'needs at least one dimension, got a scalar', [x.shape]);
  return x.rt.record(softmaxOp, [x], { axis: normAxis(axis, x.rank, 'softmax') });
}
