// Reductions over axes: sum (and mean, sumTo, built on it), max (torch.amax), broadcastTo; the
// gradient of a sum broadcasts back.
import { parallelWorkgroups } from '../runtime/device.js';
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type EncodeContext } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { broadcastShapes, checkShape, fmt, grid1d, normAxis, sameShape, stridesOf, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, broadcastRuns, dims, MAX_RANK, mul, scale } from './elementwise.js';

export interface SumAttrs {
  axes: readonly number[];
  keepDims: boolean;
}

// Invocations sharing the inner axis, at most: a GPU wants many; a CPU adapter runs a workgroup
// on one thread, a SIMD batch of lanes at a time (8 on lavapipe with AVX2), switching between
// batches at every barrier, so there one batch is fastest (the seed CNN's bias gradients sum 3
// to 4 times faster on lavapipe than 64 wide).
const MAX_WG = 64;
const MAX_WG_CPU = 8;
/** Values per output at most that one invocation walks alone (the _short entries of reduce.wgsl), and the outputs per workgroup there. */
export const SHORT = 128;
const SHORT_WG = 64;

export const sumOp = defineOp<SumAttrs>({
  name: 'sum',
  infer([x], { axes, keepDims }) {
    if (x!.dtype !== 'f32') throw new ShapeError('sum', `needs an f32 tensor, got ${x!.dtype}`, [x!.shape]);
    return { shape: reducedShape('sum', x!.shape, axes, keepDims), dtype: 'f32' };
  },
  encode: (ctx, [x], out, { axes }) => encodeReduction(ctx, 'sum', x!, out, axes),
  backward: (g, { inputs: [x], attrs }) => {
    // Re-insert the reduced axes as size 1, then broadcast against zeros of x's shape.
    const keptShape = x!.shape.map((d, i) => (attrs.axes.includes(i) ? 1 : d));
    return [broadcastTo(g.reshape(...keptShape), x!.shape)];
  },
});

// One workgroup per output position of the reduction over `axes` (see shaders/reduce.wgsl), or
// one invocation per output where each has SHORT values or fewer; amax_weights writes x-shaped
// weights at the positions the reduction reads.
function encodeReduction(ctx: EncodeContext, entry: 'sum' | 'amax' | 'amax_weights', x: Tensor, out: Tensor, axes: readonly number[], maxima?: Tensor): void {
  const { kept, outer: red, inner, innerStride } = layout(x.shape, axes);
  const nOuter = red.shape.reduce((a, b) => a * b, 1);
  const short = nOuter * inner <= SHORT;
  // A power of two, for the tree combine.
  const wg = short ? SHORT_WG : Math.min(x.rt.adapter.software ? MAX_WG_CPU : MAX_WG, 2 ** Math.ceil(Math.log2(Math.max(1, inner))));
  const maxX = ctx.limits.maxComputeWorkgroupsPerDimension;
  const outputs = (maxima ?? out).size;
  ctx.dispatch({
    shader: 'reduce.wgsl',
    entry: short ? `${entry}_short` : entry,
    constants: { WG: wg },
    params: {
      n_out: outputs,
      kept_rank: kept.shape.length,
      outer_rank: red.shape.length,
      n_outer: nOuter,
      inner,
      inner_stride: innerStride,
      kept_shape: dims(kept.shape),
      kept_strides: dims(kept.strides),
      outer_shape: dims(red.shape),
      outer_strides: dims(red.strides),
    },
    bindings: maxima ? { x, out, m: maxima } : { x, out },
    workgroups: grid1d(outputs, short ? SHORT_WG : 1, maxX),
  });
}

/** Refuses a maximum (or minimum) over `axes` of a non-f32 or empty tensor, naming `op`, the function called. */
export function checkExtremum(op: string, x: { shape: Shape; dtype: string }, axes: readonly number[], what = 'maximum'): void {
  if (x.dtype !== 'f32') throw new ShapeError(op, `needs an f32 tensor, got ${x.dtype}`, [x.shape]);
  const empty = axes.find((a) => x.shape[a] === 0);
  if (empty !== undefined) throw new ShapeError(op, `axis ${empty} of ${fmt(x.shape)} is empty: there is no ${what}`, [x.shape]);
}

export const amaxOp = defineOp<SumAttrs>({
  name: 'amax',
  infer([x], { axes, keepDims }) {
    checkExtremum('max', x!, axes);
    return { shape: reducedShape('max', x!.shape, axes, keepDims), dtype: 'f32' };
  },
  encode: (ctx, [x], out, { axes }) => encodeReduction(ctx, 'amax', x!, out, axes),
  // As torch.amax's: the gradient split evenly among the maxima of each line (NaN in a line whose
  // maximum is NaN). The weights are piecewise constant, so this is differentiable in g.
  backward: (g, { inputs: [x], out, attrs }) => {
    const keptShape = x!.shape.map((d, i) => (attrs.axes.includes(i) ? 1 : d));
    const weights = x!.rt.record(amaxWeightsOp, [x!, out], { axes: attrs.axes });
    // mul broadcasts g over the reduced axes, unless they alternate with the kept ones more often
    // than binary.wgsl walks: then broadcastTo expands g in stages first (as a sum's gradient).
    const kept = g.reshape(...keptShape);
    return [mul(weights, broadcastRuns(x!.shape, keptShape, x!.shape) > MAX_RANK ? broadcastTo(kept, x!.shape) : kept)];
  },
});

/** amax's gradient weights: 1/ties where x equals its maximum (input 1, as amax gave it), else 0. */
export const amaxWeightsOp = defineOp<{ axes: readonly number[] }>({
  name: 'amax_weights',
  infer([x]) {
    return { shape: x!.shape, dtype: 'f32' };
  },
  encode: (ctx, [x, maxima], out, { axes }) => encodeReduction(ctx, 'amax_weights', x!, out, axes, maxima!),
  // Piecewise constant: zero almost everywhere, so second derivatives through amax still work.
  backward: () => [null, null],
});

/** The shape of a reduction of `shape` over `axes`, once its kernel is known to walk it. */
function reducedShape(op: string, shape: Shape, axes: readonly number[], keepDims: boolean): Shape {
  const { kept, outer } = layout(shape, axes);
  if (kept.shape.length > MAX_RANK || outer.shape.length > MAX_RANK) {
    throw new ShapeError(op, `axes ${fmt(axes)} of ${fmt(shape)} alternate between kept and reduced over more than the supported ${MAX_RANK} runs of axes each`, [shape]);
  }
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/**
 * How reduce.wgsl walks x: the kept axes and the reduced ones, each with neighbours merged
 * where their strides allow; the last reduced axis (inner) is walked directly, the others are the
 * outer positions.
 */
function layout(shape: Shape, axes: readonly number[]) {
  const strides = stridesOf(shape);
  const kept = mergeAxes(shape, strides, (i) => !axes.includes(i));
  const outer = mergeAxes(shape, strides, (i) => axes.includes(i));
  const inner = outer.shape.pop() ?? 1;
  const innerStride = outer.strides.pop() ?? 1;
  return { kept, outer, inner, innerStride };
}

// Merges runs of selected axes that are contiguous in x, keeping their input strides. Axes of
// size 1 are left out: they move no offset, and would split a run (the second stage of a
// two-stage sum keeps its first stage's axes as 1s). In x's row-major strides, a selected axis
// continues the run before it exactly when every axis between them has size 1 (or x is empty:
// the strides of the axes before its 0 are 0, runs merge wrongly, and nothing is read).
function mergeAxes(shape: Shape, strides: readonly number[], pick: (i: number) => boolean) {
  const out = { shape: [] as number[], strides: [] as number[] };
  shape.forEach((d, i) => {
    if (!pick(i) || d === 1) return;
    const last = out.shape.length - 1;
    if (last >= 0 && out.strides[last] === d * strides[i]!) {
      out.shape[last]! *= d;
      out.strides[last] = strides[i]!;
    } else {
      out.shape.push(d);
      out.strides.push(strides[i]!);
    }
  });
  return out;
}

// The axes a reduction named `op` runs over, sorted: all by default, each named once. An empty
// list is refused: PyTorch 1.13 reads [] as every axis, NumPy as none; neither guess is safe.
// keepDims must be a boolean: options in its place (`{ keepdim: false }`) would read as true.
export function reducedAxes(x: Tensor, axes: number | readonly number[] | undefined, op: string, keepDims: unknown): number[] {
  if (typeof keepDims !== 'boolean') throw new ShapeError(op, `keepDims must be true or false, got ${shown(keepDims)}`, [x.shape]);
  if (axes !== undefined && typeof axes !== 'number' && !Array.isArray(axes)) {
    throw new ShapeError(op, `axes must be a number or an array of numbers, got ${shown(axes)}`, [x.shape]);
  }
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  if (!list.length && x.rank) throw new ShapeError(op, `no axes given for ${fmt(x.shape)}; omit them to reduce every axis`, [x.shape]);
  // A 0-d tensor takes axis 0 (or -1), as in PyTorch: a reduction over nothing.
  const norm = list.map((a) => normAxis(a, x.rank, op, true)).sort((a, b) => a - b);
  if (norm.some((a, i) => a === norm[i - 1])) throw new ShapeError(op, `axes [${list.join(', ')}] name an axis of ${fmt(x.shape)} twice`, [x.shape]);
  return x.rank ? norm : [];
}

/** Sum over `axes` (all axes by default), each named once; an empty list is refused. */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  runtimeOf('sum', { x });
  const red = reducedAxes(x, axes, 'sum', keepDims);
  // Over axes of size 1 alone, each sum is one value plus 0 (−0 gives +0, as PyTorch's): an
  // elementwise kernel, not a reduction's workgroup per output. A copy, not a view of x, so that
  // writing either later leaves the other as it was.
  if (x.dtype === 'f32' && red.every((a) => x.shape[a] === 1)) return add(x, 0).reshape(...(keepDims ? x.shape : x.shape.filter((_, i) => !red.includes(i))));
  // One workgroup per output: a sum into a few outputs over axes apart (a bias gradient over
  // batch and pixels) runs too few to fill a GPU. Summing the trailing run of reduced axes
  // first gives one workgroup per remaining element.
  let from = x.rank;
  while (from > 0 && red.includes(from - 1)) from--;
  const run = red.filter((a) => a >= from);
  const runSize = run.reduce((n, a) => n * x.shape[a]!, 1);
  const outputs = red.reduce((n, a) => n / x.shape[a]!, x.size);
  if (run.length && run.length < red.length && runSize >= 32 && outputs < parallelWorkgroups(x.rt.adapter)) {
    const rows = x.rt.record(sumOp, [x], { axes: run, keepDims: true });
    return x.rt.record(sumOp, [rows], { axes: red, keepDims });
  }
  return x.rt.record(sumOp, [x], { axes: red, keepDims });
}

/**
 * Maximum over `axes` (all axes by default), each named once, as torch.amax: a NaN in a line
 * makes its maximum NaN; an empty axis is refused. The gradient is split evenly among tied
 * maxima. With m = max(x, axes, true), log Σ exp(x) over `axes` is
 * add(m, log(sum(exp(sub(x, m)), axes, true))), finite for finite x (NaN for a line of −inf or
 * one holding +inf, where logSumExp, over one axis in one kernel, gives −inf or +inf as torch).
 */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  runtimeOf('max', { x });
  const red = reducedAxes(x, axes, 'max', keepDims);
  // One stage: the gradient of a maximum of maxima would split ties per stage, not evenly.
  return x.rt.record(amaxOp, [x], { axes: red, keepDims });
}

/** Minimum over `axes` (all axes by default), as torch.amin: max's semantics mirrored (NaN wins, ties share the gradient). */
export function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  runtimeOf('min', { x });
  checkExtremum('min', x, reducedAxes(x, axes, 'min', keepDims), 'minimum'); // named as min's, not the max it takes
  return scale(max(scale(x, -1), axes, keepDims), -1);
}

/** Mean over `axes` (all axes by default), each named once; an empty list is refused. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  runtimeOf('mean', { x });
  const s = sum(x, reducedAxes(x, axes, 'mean', keepDims), keepDims);
  const count = x.size / Math.max(1, s.size);
  return scale(s, count === 0 ? NaN : 1 / count);
}

/** Sums a broadcast result back to `shape` (the gradient of broadcasting). */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  runtimeOf('sumTo', { x });
  shape = checkShape(shape, 'sumTo');
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const lead = x.rank - shape.length;
  // As torch's sum_to_size: x must be `shape` broadcast (its sizes, or 1); otherwise the sum
  // would be reshaped to a shape it does not have, or to the wrong values.
  if (lead < 0 || shape.some((d, i) => d !== 1 && d !== x.shape[i + lead])) {
    throw new ShapeError('sumTo', `cannot sum ${fmt(x.shape)} to ${fmt(shape)}: ${fmt(x.shape)} is not ${fmt(shape)} broadcast`, [x.shape, shape]);
  }
  const axes = x.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  return sum(x, axes).reshape(...shape);
}

/** Broadcasts x to `shape` (materialised: x + zeros). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  runtimeOf('broadcastTo', { x });
  shape = checkShape(shape, 'broadcastTo');
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  // As torch's broadcast_to: to `shape` exactly (x + zeros would broadcast both ways).
  const to = broadcastShapes(x.shape, shape);
  if (!to || !sameShape(to, shape)) throw new ShapeError('broadcastTo', `cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`, [x.shape, shape]);
  // Before the zeros it adds, whose own check would name 'zeros'.
  x.rt.checkBindable('broadcastTo', shape, x.dtype);
  // binary.wgsl walks at most MAX_RANK runs of axes: a broadcast alternating more often (a sum's
  // gradient, over every other axis of a rank-17 tensor) expands in stages, leading axes first.
  let y = x.reshape(...new Array<number>(shape.length - x.rank).fill(1), ...x.shape);
  while (!sameShape(y.shape, shape)) {
    let k = shape.length;
    const part = () => shape.map((d, i) => (i < k ? d : y.shape[i]!));
    while (k > 1 && broadcastRuns(y.shape, part()) > MAX_RANK) k--;
    y = add(y, x.rt.zeros(part()));
  }
  return y;
}
