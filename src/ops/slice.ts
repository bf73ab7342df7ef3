// narrow and concat, PyTorch's narrow and cat: a range of a tensor along one axis, and tensors
// joined along one. Seen around the axis, a tensor is rows × (axis size · inner) words, so each
// is a block copy of rows (shaders/slice.wgsl). Their gradients are each other's: concat's is
// the narrows of its gradient, narrow's its gradient put back among zeros (narrow_backward).
import { parallelWorkgroups } from '../runtime/device.js';
import { checkTensors, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type EncodeContext } from '../runtime/op.js';
import { fmt, grid1d, normAxis, numel, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

const WG = 256;

/** narrow: `length` indices from `start` along `axis`. */
export interface NarrowAttrs {
  axis: number;
  start: number;
  length: number;
}

/** narrow_backward: the narrowed range, and the size of the axis it came from. */
export interface NarrowBackwardAttrs extends NarrowAttrs {
  size: number;
}

/** Rows before the axis and words per index of it: the tensor as rows × (shape[axis] · inner). */
function around(shape: Shape, axis: number): { rows: number; inner: number } {
  return { rows: numel(shape.slice(0, axis)), inner: numel(shape.slice(axis + 1)) };
}

/** One block copy (see slice.wgsl for what each field means); nothing for an empty block. */
function copyBlock(ctx: EncodeContext, src: Tensor, dst: Tensor, p: { rows: number; len: number; src_stride: number; src_offset: number; dst_stride: number; dst_offset: number; lo: number; src_len: number }): void {
  const count = p.rows * p.len;
  if (count === 0) return;
  // A CPU adapter takes long runs (one integer division per run); a GPU, one word each.
  const per = src.rt.adapter.software ? Math.max(1, Math.ceil(count / (parallelWorkgroups(src.rt.adapter) * WG))) : 1;
  ctx.dispatch({
    shader: 'slice.wgsl',
    constants: { WG },
    params: { ...p, per },
    bindings: { src, dst },
    workgroups: grid1d(Math.ceil(count / per), WG, ctx.limits.maxComputeWorkgroupsPerDimension),
  });
}

function checkWords(op: string, x: Tensor): void {
  // u8 tensors pack four values to a word: a range of them need not start on a word.
  if (x.dtype === 'u8') throw new ShapeError(op, `takes 32-bit tensors (f32, i32, u32), got ${fmt(x.shape)} u8`, [x.shape]);
}

function checkRange(op: string, shape: Shape, a: NarrowAttrs): void {
  const size = shape[a.axis]!;
  const ok = [a.start, a.length].every((v) => Number.isInteger(v) && v >= 0) && a.start + a.length <= size;
  if (!ok) throw new ShapeError(op, `start ${a.start} and length ${a.length} do not fit axis ${a.axis} of ${fmt(shape)} (size ${size})`, [shape]);
}

export const narrowOp = defineOp<NarrowAttrs>({
  name: 'narrow',
  infer([x], a) {
    checkWords('narrow', x!);
    checkRange('narrow', x!.shape, a);
    return { shape: x!.shape.map((d, i) => (i === a.axis ? a.length : d)), dtype: x!.dtype };
  },
  encode(ctx, [x], out, a) {
    const { rows, inner } = around(x!.shape, a.axis);
    const len = a.length * inner;
    const srcStride = x!.shape[a.axis]! * inner;
    copyBlock(ctx, x!, out, { rows, len, src_stride: srcStride, src_offset: a.start * inner, dst_stride: len, dst_offset: 0, lo: 0, src_len: len });
  },
  backward: (g, { inputs: [x], attrs }) => [g.rt.record(narrowBackwardOp, [g], { ...attrs, size: x!.shape[attrs.axis]! })],
});

export const narrowBackwardOp = defineOp<NarrowBackwardAttrs>({
  name: 'narrow_backward',
  infer([g], a) {
    const shape = g!.shape.map((d, i) => (i === a.axis ? a.size : d));
    if (g!.shape[a.axis] !== a.length) throw new ShapeError('narrow_backward', `the gradient ${fmt(g!.shape)} is not ${a.length} long on axis ${a.axis}`, [g!.shape]);
    checkRange('narrow_backward', shape, a);
    return { shape, dtype: g!.dtype };
  },
  encode(ctx, [g], out, a) {
    const { rows, inner } = around(out.shape, a.axis);
    const len = a.size * inner;
    const srcLen = a.length * inner;
    copyBlock(ctx, g!, out, { rows, len, src_stride: srcLen, src_offset: 0, dst_stride: len, dst_offset: 0, lo: a.start * inner, src_len: srcLen });
  },
  backward: (g, { attrs }) => [narrow(g, attrs.axis, attrs.start, attrs.length)],
});

export const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  infer(xs, { axis }) {
    const first = xs[0]!;
    const shapes = xs.map((x) => x.shape);
    for (const x of xs) {
      checkWords('concat', x);
      const fits = x.dtype === first.dtype && x.rank === first.rank && x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!fits) throw new ShapeError('concat', `tensors must have one dtype and the same sizes off axis ${axis}: ${xs.map((t) => `${fmt(t.shape)} ${t.dtype}`).join(', ')}`, shapes);
    }
    return { shape: first.shape.map((d, i) => (i === axis ? xs.reduce((s, x) => s + x.shape[axis]!, 0) : d)), dtype: first.dtype };
  },
  encode(ctx, xs, out, { axis }) {
    const { rows, inner } = around(out.shape, axis);
    const dstStride = out.shape[axis]! * inner;
    let offset = 0;
    for (const x of xs) {
      const len = x.shape[axis]! * inner;
      copyBlock(ctx, x, out, { rows, len, src_stride: len, src_offset: 0, dst_stride: dstStride, dst_offset: offset, lo: 0, src_len: len });
      offset += len;
    }
  },
  backward: (g, { inputs, attrs: { axis }, needs }) => {
    let start = 0;
    return inputs.map((x, i) => {
      const length = x.shape[axis]!;
      start += length;
      return needs[i] ? narrow(g, axis, start - length, length) : null;
    });
  },
});

/**
 * The indices start … start + length − 1 of `axis`, as PyTorch's `x.narrow(axis, start, length)`
 * (a negative axis or start counts from the end), but a copy. Takes 32-bit tensors (f32, i32, u32).
 */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  runtimeOf('narrow', { x });
  const a = normAxis(axis, x.rank, 'narrow');
  const from = start < 0 ? start + x.shape[a]! : start;
  if (from < 0) throw new ShapeError('narrow', `start ${start} is before the first index of axis ${axis} of ${fmt(x.shape)}`, [x.shape]);
  return x.rt.record(narrowOp, [x], { axis: a, start: from, length });
}

/**
 * Tensors joined along `axis` (default 0; negative counts from the end), as PyTorch's
 * `torch.cat(tensors, axis)`: one dtype, the same sizes on every other axis; a copy. Takes
 * 32-bit tensors (f32, i32, u32).
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  checkTensors('concat', 'tensors', tensors);
  if (tensors.length === 0) throw new ShapeError('concat', 'expected a non-empty array of Tensors, got []');
  return tensors[0]!.rt.record(concatOp, tensors, { axis: normAxis(axis, tensors[0]!.rank, 'concat') });
}

/**
 * Tensors of one shape joined along a new dimension `axis` (−rank − 1 to rank), as torch.stack:
 * `stack([a, b])` of [2, 3]s is [2, 2, 3]; a copy.
 */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  checkTensors('stack', 'tensors', tensors);
  if (tensors.length === 0) throw new ShapeError('stack', 'expected a non-empty array of Tensors, got []');
  const shape = tensors[0]!.shape;
  const other = tensors.findIndex((t) => t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i]));
  if (other >= 0) throw new ShapeError('stack', `tensors[${other}] is ${fmt(tensors[other]!.shape)}, tensors[0] ${fmt(shape)}: stacked tensors have one shape`, tensors.map((t) => t.shape));
  const a = normAxis(axis, shape.length + 1, 'stack');
  return concat(tensors.map((t) => t.unsqueeze(a)), a);
}
