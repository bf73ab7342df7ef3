// im2col and col2im: the primitives that turn a convolution into a matmul (see conv2d.ts).
// They are each other's adjoint, so each one's gradient is the other and the rules close.
// Also the window arithmetic (pairs, output sizes) shared with the pooling ops.
import { rowSpans } from '../runtime/device.js';
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { ceilDiv, fmt, grid1d } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

const WG = 256;

/** A per-dimension value: one number for both, or [height, width]. */
export type Pair = number | readonly [number, number];

/**
 * Where a sliding window goes over an image: kernel, stride and zero padding, each [h, w], the
 * dilation of a dilated convolution (the spacing of the kernel's taps; 1, contiguous, if absent),
 * and a pooling's ceil mode (one more window where the last would leave pixels out).
 */
export interface Window {
  kernel: readonly [number, number];
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation?: readonly [number, number];
  ceil?: boolean;
}

/** col2im also needs the image size, which the columns do not determine. */
export interface Col2imAttrs extends Window {
  height: number;
  width: number;
}

/**
 * The largest kernel size, stride or padding: the kernels take them as u32 (a value of 2^32 or
 * more would wrap, silently: conv2d with stride and padding 2^32 returned the image's corner
 * everywhere, and a max pool's window loop ran on for ever), and window arithmetic as i32.
 */
export const MAX_WINDOW = 2 ** 30;

/** Expands a Pair to [h, w], checking each is an integer from min to MAX_WINDOW; `fail` builds the error. */
export function pair(v: Pair, what: string, min: number, fail: (why: string) => Error): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : Array.isArray(v) ? [v[0], v[1]] : [NaN, NaN];
  if ((typeof v !== 'number' && (!Array.isArray(v) || v.length !== 2)) || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw fail(`${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  if (p.some((d) => d > MAX_WINDOW)) throw fail(`${what} ${JSON.stringify(v)} is over ${MAX_WINDOW} (2^30), the most fovea's kernels take`);
  return p;
}

/**
 * PyTorch's output size: floor((size + 2·pad − span) / stride) + 1 (0 or less: no output), where
 * the kernel spans dilation·(kernel − 1) + 1 pixels; in ceil mode rounded up, but no window
 * may start past the image and its left padding (PyTorch's pooling_output_shape).
 */
export function outSize(size: number, kernel: number, stride: number, pad: number, dilation = 1, ceil = false): number {
  const reach = size + 2 * pad - dilation * (kernel - 1) - 1;
  const out = (ceil ? Math.ceil(reach / stride) : Math.floor(reach / stride)) + 1;
  return ceil && (out - 1) * stride >= size + pad ? out - 1 : out;
}

/** [OH, OW] of a window over an H×W image. */
export function windowOut(height: number, width: number, w: Window): [number, number] {
  const [dh, dw] = w.dilation ?? [1, 1];
  return [outSize(height, w.kernel[0], w.stride[0], w.padding[0], dh, w.ceil), outSize(width, w.kernel[1], w.stride[1], w.padding[1], dw, w.ceil)];
}

/** Whether a window's taps are spaced apart (a dilated convolution's). */
const dilated = (w: Window) => (w.dilation ?? [1, 1]).some((d) => d !== 1);

/** ' dilated by [dh, dw]' for a dilated window, '' otherwise: how errors describe the kernel. */
export function dilatedBy(w: Window): string {
  return dilated(w) ? ` dilated by ${fmt(w.dilation!)}` : '';
}

function checkWindow(op: string, w: Window, x: Tensor): void {
  const fail = (why: string) => new ShapeError(op, `${why} (input ${fmt(x.shape)})`, [x.shape]);
  pair(w.kernel, 'kernel size', 1, fail);
  pair(w.stride, 'stride', 1, fail);
  pair(w.padding, 'padding', 0, fail);
  if (w.dilation) pair(w.dilation, 'dilation', 1, fail);
}

/** A window as conv.wgsl's and maxpool.wgsl's Params name it, with its output size over H×W. */
export function windowParams(height: number, width: number, w: Window) {
  const [oh, ow] = windowOut(height, width, w);
  const [[kh, kw], [sh, sw], [ph, pw]] = [w.kernel, w.stride, w.padding];
  return { height, width, kh, kw, sh, sw, ph, pw, oh, ow };
}

function params(n: number, channels: number, height: number, width: number, w: Window, span = 1, spans = 1) {
  const [dh, dw] = w.dilation ?? [1, 1];
  return { n, channels, ...windowParams(height, width, w), dh, dw, span, spans };
}

export const im2colOp = defineOp<Window>({
  name: 'im2col',
  infer([x], w) {
    checkWindow('im2col', w, x!);
    if (x!.rank !== 4 || x!.dtype !== 'f32') throw new ShapeError('im2col', `needs an f32 [N, C, H, W] image, got ${fmt(x!.shape)} ${x!.dtype}`, [x!.shape]);
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const [oh, ow] = windowOut(h, wd, w);
    if (h < 1 || wd < 1 || oh < 1 || ow < 1) throw new ShapeError('im2col', `kernel ${fmt(w.kernel)}${dilatedBy(w)} does not fit image ${fmt(x!.shape)} padded by ${fmt(w.padding)}`, [x!.shape]);
    return { shape: [n, c * w.kernel[0] * w.kernel[1], oh * ow], dtype: 'f32' };
  },
  encode(ctx, [x], out, w) {
    const [, c, h, wd] = x!.shape as [number, number, number, number];
    const [oh, ow] = windowOut(h, wd, w);
    // Cols rows (in spans on a GPU) written as vec4s when their length allows (one workgroup
    // row per image, as many images as the device has workgroup rows), else runs of OW outputs
    // (one output row of one window position) per invocation.
    if ((oh * ow) % 4 === 0 && x!.shape[0]! <= ctx.limits.maxComputeWorkgroupsPerDimension) {
      const rows = c * w.kernel[0] * w.kernel[1];
      // Spans of a cols row's vec4s per invocation: the whole row on a CPU adapter.
      const { span, spans } = rowSpans(x!.rt.adapter, (oh * ow) / 4, out.size / 4, WG);
      ctx.dispatch({
        shader: 'conv.wgsl',
        entry: 'im2col_rows',
        constants: { WG, KH: w.kernel[0], KW: w.kernel[1] },
        params: params(rows, c, h, wd, w, span, spans),
        bindings: { src: x!, dst4: out },
        workgroups: [ceilDiv(rows * spans, WG), x!.shape[0]!, 1],
      });
      return;
    }
    const runs = out.size / ow;
    ctx.dispatch({
      shader: 'conv.wgsl',
      entry: 'im2col',
      constants: { WG },
      params: params(runs, c, h, wd, w),
      bindings: { src: x!, dst: out },
      workgroups: grid1d(runs, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: (g, { inputs: [x], attrs }) => [col2im(g, x!.shape[2]!, x!.shape[3]!, attrs)],
});

export const col2imOp = defineOp<Col2imAttrs>({
  name: 'col2im',
  infer([cols], a) {
    checkWindow('col2im', a, cols!);
    if (![a.height, a.width].every((d) => Number.isInteger(d) && d >= 1)) {
      throw new ShapeError('col2im', `image size must be positive integers, got ${a.height}×${a.width}`, [cols!.shape]);
    }
    const [kh, kw] = a.kernel;
    const [oh, ow] = windowOut(a.height, a.width, a);
    const [n, rows, spatial] = cols!.shape as [number, number, number];
    if (cols!.rank !== 3 || cols!.dtype !== 'f32' || rows % (kh * kw) !== 0 || spatial !== oh * ow || oh < 1 || ow < 1) {
      throw new ShapeError('col2im', `columns ${fmt(cols!.shape)} ${cols!.dtype} do not fit kernel ${fmt(a.kernel)}${dilatedBy(a)} over a ${a.height}×${a.width} image (stride ${fmt(a.stride)}, padding ${fmt(a.padding)})`, [cols!.shape]);
    }
    return { shape: [n, rows / (kh * kw), a.height, a.width], dtype: 'f32' };
  },
  encode(ctx, [cols], out, a) {
    // Spans of an image row per invocation: the whole row on a CPU adapter (the col2im to
    // [50, 16, 14, 14] ran as 44 workgroups on an H200: 0.09 ms).
    const rows = out.size / a.width;
    const { span, spans } = rowSpans(cols!.rt.adapter, a.width, out.size, WG);
    ctx.dispatch({
      shader: 'conv.wgsl',
      entry: 'col2im',
      constants: { WG, UNIT_STRIDE: a.stride[0] === 1 && a.stride[1] === 1 ? 1 : 0, DILATED: dilated(a) ? 1 : 0 },
      params: params(rows, out.shape[1]!, a.height, a.width, a, span, spans),
      bindings: { src: cols!, dst: out },
      workgroups: grid1d(rows * spans, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: (g, { attrs }) => [im2col(g, attrs)],
});

function windowOf(op: string, w: Window): Window {
  // Its fields are checked where the op is recorded (checkWindow); the object itself here, before they are read.
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw new TypeError(`${op}: the window must be an object { kernel, stride, padding } (dilation and ceil optional), got ${shown(w)}`);
  return { kernel: w.kernel, stride: w.stride, padding: w.padding, ...(dilated(w) ? { dilation: w.dilation } : {}), ...(w.ceil ? { ceil: true } : {}) };
}

/** x [N, C, H, W] → columns [N, C·KH·KW, OH·OW] (row c·KH·KW + kh·KW + kw, column oh·OW + ow; tap (kh, kw) at (kh·DH, kw·DW) of the window). */
export function im2col(x: Tensor, w: Window): Tensor {
  return runtimeOf('im2col', { x }).record(im2colOp, [x], windowOf('im2col', w));
}

/** The adjoint of im2col: columns [N, C·KH·KW, OH·OW] → [N, C, height, width], summing overlaps. */
export function col2im(cols: Tensor, height: number, width: number, w: Window): Tensor {
  return runtimeOf('col2im', { cols }).record(col2imOp, [cols], { ...windowOf('col2im', w), height, width });
}
