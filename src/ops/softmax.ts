// softmax, logSoftmax and logSumExp along one axis: one kernel family (shaders/softmax.wgsl,
// max-subtracted, a team of invocations per line). Their gradients are composed from differentiable ops,
// so they are differentiable in turn:
//   softmax:    dx = y·(g − Σ g·y);
//   logSoftmax: dx = g − exp(y)·Σ g;
//   logSumExp:  dx = softmax(x)·g.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type EncodeContext } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { grid1d, lineTeam, normAxis } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { mul, neg, sub } from './elementwise.js';
import { exp } from './math.js';
import { sum } from './reduce.js';

type Entry = 'main' | 'log_softmax' | 'log_sum_exp';

/** The op over lines along `axis` by softmax.wgsl's entry point: each line to a line, or (log_sum_exp) to one value; `called` names the function in errors. */
function lineOp(name: string, entry: Entry, called: string) {
  return {
    name,
    infer([x]: readonly Tensor[], { axis, keepDims }: { axis: number; keepDims?: boolean }) {
      if (x!.dtype !== 'f32') throw new ShapeError(called, `needs an f32 tensor, got ${x!.dtype}`, [x!.shape]);
      if (entry !== 'log_sum_exp') return { shape: x!.shape, dtype: 'f32' as const };
      return { shape: keepDims ? x!.shape.map((d, i) => (i === axis ? 1 : d)) : x!.shape.filter((_, i) => i !== axis), dtype: 'f32' as const };
    },
    encode(ctx: EncodeContext, [x]: readonly Tensor[], out: Tensor, { axis }: { axis: number }) {
      const len = x!.shape[axis]!;
      const inner = x!.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      // An empty axis: no lines to a line; a line to one value (log Σ of nothing: −inf).
      const lines = len === 0 && entry !== 'log_sum_exp' ? 0 : x!.shape.reduce((a, b, i) => (i === axis ? a : a * b), 1);
      const { team, wg } = lineTeam(len);
      ctx.dispatch({
        shader: 'softmax.wgsl',
        entry,
        constants: { WG: wg, TEAM: team },
        params: { lines, len, inner },
        bindings: { x: x!, out },
        workgroups: grid1d(lines, wg / team, ctx.limits.maxComputeWorkgroupsPerDimension),
      });
    },
  };
}

export const softmaxOp = defineOp<{ axis: number }>({
  ...lineOp('softmax', 'main', 'softmax'),
  // y = softmax(x): dx_j = y_j·(g_j − Σ_k g_k·y_k), the sum along the axis.
  backward: (g, { out: y, attrs: { axis } }) => [mul(y, sub(g, sum(mul(g, y), axis, true)))],
});

export const logSoftmaxOp = defineOp<{ axis: number }>({
  ...lineOp('log_softmax', 'log_softmax', 'logSoftmax'),
  // y = log softmax(x): dx_j = g_j − exp(y_j)·Σ_k g_k (exp(y) is softmax(x)).
  backward: (g, { out: y, attrs: { axis } }) => [sub(g, mul(exp(y), sum(g, axis, true)))],
});

export const logSumExpOp = defineOp<{ axis: number; keepDims: boolean }>({
  ...lineOp('log_sum_exp', 'log_sum_exp', 'logSumExp'),
  // y = log Σ exp(x): dx_j = g·softmax(x)_j, as PyTorch computes it, g·exp(x_j − y) (so a line
  // holding +inf has NaN there and 0 at its finite values), g and y broadcast along the axis.
  backward: (g, { inputs: [x], out: y, attrs: { axis } }) => {
    const kept = x!.shape.map((d, i) => (i === axis ? 1 : d));
    return [mul(exp(sub(x!, y.reshape(...kept))), g.reshape(...kept))];
  },
});

function lineAxis(op: string, x: Tensor, axis: number): number {
  runtimeOf(op, { x });
  if (x.rank === 0) throw new ShapeError(op, 'needs at least one dimension, got a scalar', [x.shape]);
  return normAxis(axis, x.rank, op);
}

/**
 * softmax(x) along `axis` (default: the last): exp(x − max) / Σ exp(x − max) over that axis, so
 * each line along it is positive and sums to 1. Stable for any finite logits.
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const a = lineAxis('softmax', x, axis); // checks x before x.rt is read
  return x.rt.record(softmaxOp, [x], { axis: a });
}

/** softmax(−x) along `axis` (default: the last), as torch.nn.functional.softmin. */
export function softmin(x: Tensor, axis = -1): Tensor {
  lineAxis('softmin', x, axis);
  return softmax(neg(x), axis);
}

/**
 * log softmax(x) along `axis` (default: the last), as torch.log_softmax: x − max − log Σ exp(x − max)
 * in one kernel, finite for any finite logits (log(softmax(x)) is −inf where softmax underflows,
 * as for [0, 120, 10]). A −inf logit gives −inf (of [−inf, 0]: [−inf, 0]); NaN, +inf or a line
 * of −inf gives NaN in that line. For soft-label losses: −Σ target·logSoftmax(x).
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = lineAxis('logSoftmax', x, axis);
  return x.rt.record(logSoftmaxOp, [x], { axis: a });
}

/**
 * log Σ exp(x) along one `axis` (default: the last), as torch.logsumexp: max + log Σ exp(x − max)
 * in one kernel, so it is finite for any finite x; that axis is removed (kept as size 1 with
 * keepDims). A line of −inf, or an empty one, gives −inf, one holding +inf gives +inf, NaN gives NaN. Its gradient
 * is softmax(x) along the axis.
 */
export function logSumExp(x: Tensor, axis = -1, keepDims = false): Tensor {
  const a = lineAxis('logSumExp', x, axis);
  if (typeof keepDims !== 'boolean') throw new ShapeError('logSumExp', `keepDims must be true or false, got ${shown(keepDims)}`, [x.shape]);
  return x.rt.record(logSumExpOp, [x], { axis: a, keepDims });
}
