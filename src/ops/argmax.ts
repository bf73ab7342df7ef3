// argmax along one axis: i32 indices of the first maximum (argmin, of the first minimum). Not differentiable.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { fmt, grid1d, lineTeam, normAxis } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { neg } from './elementwise.js';

export const argmaxOp = defineOp<{ axis: number }>({
  name: 'argmax',
  infer([x], { axis }) {
    if (x!.dtype !== 'f32') throw new ShapeError('argmax', `needs an f32 tensor, got ${x!.dtype}`, [x!.shape]);
    if (x!.shape[axis] === 0) throw new ShapeError('argmax', `axis ${axis} of ${fmt(x!.shape)} is empty: there is no maximum`, [x!.shape]);
    return { shape: x!.shape.filter((_, i) => i !== axis), dtype: 'i32' };
  },
  encode(ctx, [x], out, { axis }) {
    const len = x!.shape[axis]!;
    const { team, wg } = lineTeam(len);
    ctx.dispatch({
      shader: 'argmax.wgsl',
      constants: { WG: wg, TEAM: team },
      params: { lines: out.size, len, inner: x!.shape.slice(axis + 1).reduce((a, b) => a * b, 1) },
      bindings: { x: x!, out },
      workgroups: grid1d(out.size, wg / team, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: { notDifferentiable: 'argmax returns integer indices: it is piecewise constant and has no gradient' },
});

/** Indices (i32) of the first maximum of x along `axis` (default: the last); that axis is removed. */
export function argmax(x: Tensor, axis = -1): Tensor {
  runtimeOf('argmax', { x });
  if (x.rank === 0) throw new ShapeError('argmax', 'needs at least one dimension, got a scalar', [x.shape]);
  return x.rt.record(argmaxOp, [x], { axis: normAxis(axis, x.rank, 'argmax') });
}

/** Indices (i32) of the first minimum of x along `axis` (default: the last); that axis is removed. */
export function argmin(x: Tensor, axis = -1): Tensor {
  runtimeOf('argmin', { x });
  if (x.rank === 0) throw new ShapeError('argmin', 'needs at least one dimension, got a scalar', [x.shape]);
  normAxis(axis, x.rank, 'argmin');
  return argmax(neg(x), axis);
}
