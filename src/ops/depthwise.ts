// Depthwise convolution (one input channel per group, as MobileNet's), computed directly by
// shaders/depthwise.wgsl: as im2col + a matmul of [1 × KH·KW]·[KH·KW × OH·OW] per channel it
// ran at 0.05 GFLOP/s on lavapipe. Three ops, each linear in each input: the convolution, its
// input gradient and its weight gradient. Each one's gradients are the other two (the input
// gradient is the convolution's adjoint in x, the weight gradient its adjoint in w), so the
// rules close and every derivative order runs on these kernels.
import { parallelWorkgroups, rowSpans } from '../runtime/device.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type DispatchSpec } from '../runtime/op.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { dilatedBy, windowOut, type Window } from './im2col.js';
import { reluOp } from './elementwise.js';
import { sum } from './reduce.js';

const WG = 256;

/** The input gradient's image: its channels and size, which dy and w do not determine. */
export interface DepthwiseImage extends Window {
  channels: number;
  height: number;
  width: number;
}

/** The convolution's window, and whether a following ReLU is fused into it (by the planner: see absorb). */
export interface DepthwiseAttrs extends Window {
  relu?: boolean;
}

/** The kernel's constants (tap loops of known length, divisions by a known stride). */
function constants(w: DepthwiseAttrs) {
  const [dh, dw] = w.dilation ?? [1, 1];
  return { WG, KH: w.kernel[0], KW: w.kernel[1], SH: w.stride[0], SW: w.stride[1], DH: dh, DW: dw, RELU: w.relu ? 1 : 0 };
}

/** x [N, C, H, W] and dy [N, O, OH, OW] as depthwise.wgsl's Params name them. */
function params(x: readonly number[], outs: number, w: Window, n: number, spans = 1, chunks = 1, chunkRows = 0) {
  const [batch, channels, height, width] = x as [number, number, number, number];
  const [oh, ow] = windowOut(height, width, w);
  return { n, spans, channels, mult: outs / channels, height, width, oh, ow, ph: w.padding[0], pw: w.padding[1], chunks, chunk_rows: chunkRows, batch };
}

/** A dispatch over `rows` rows of `rowLength` elements, in blocks of 4, split into spans as the adapter needs (rowSpans). */
function rows(entry: string, x: readonly number[], outs: number, w: Window, count: number, rowLength: number, t: Tensor, maxDim: number): Omit<DispatchSpec, 'bindings'> {
  const blocks = Math.ceil(rowLength / 4);
  const { spans } = rowSpans(t.rt.adapter, blocks, count * blocks, WG);
  return { shader: 'depthwise.wgsl', entry, constants: constants(w), params: params(x, outs, w, count, spans), workgroups: grid1d(count * spans, WG, maxDim) };
}

/** Checks the weight [O, 1, KH, KW] against the window's kernel and the C input channels. */
function checkWeight(op: string, w: Tensor, win: Window, channels: number, shapes: readonly (readonly number[])[]): number {
  const o = w.shape[0] ?? 0;
  if (w.rank !== 4 || w.dtype !== 'f32' || w.shape[1] !== 1 || w.shape[2] !== win.kernel[0] || w.shape[3] !== win.kernel[1] || o < 1 || o % channels !== 0) {
    throw new ShapeError(op, `the weight must be f32 [O, 1, ${win.kernel[0]}, ${win.kernel[1]}], O a multiple of the ${channels} channels, got ${fmt(w.shape)} ${w.dtype}`, shapes);
  }
  return o;
}

/** Checks an f32 [N, C, H, W] image and that the window fits it; returns [OH, OW]. */
function checkImage(op: string, what: string, shape: readonly number[], dtype: string, win: Window, shapes: readonly (readonly number[])[]): [number, number] {
  if (shape.length !== 4 || dtype !== 'f32') throw new ShapeError(op, `${what} must be f32 [N, C, H, W], got ${fmt(shape)} ${dtype}`, shapes);
  const [oh, ow] = windowOut(shape[2]!, shape[3]!, win);
  if (shape[2]! < 1 || shape[3]! < 1 || oh < 1 || ow < 1) throw new ShapeError(op, `the ${win.kernel[0]}×${win.kernel[1]} kernel${dilatedBy(win)} does not fit the image ${fmt(shape)} padded by ${fmt(win.padding)}`, shapes);
  return [oh, ow];
}

/** Inputs x [N, C, H, W], w [O, 1, KH, KW] and optionally b [O] → [N, O, OH, OW]. */
export const depthwiseConv2dOp = defineOp<DepthwiseAttrs>({
  name: 'depthwise_conv2d',
  infer([x, w, b], win) {
    const shapes = [x!.shape, w!.shape, ...(b ? [b.shape] : [])];
    const [oh, ow] = checkImage('depthwiseConv2d', 'the input', x!.shape, x!.dtype, win, shapes);
    const o = checkWeight('depthwiseConv2d', w!, win, x!.shape[1]!, shapes);
    if (b && (b.dtype !== 'f32' || !sameShape(b.shape, [o]))) throw new ShapeError('depthwiseConv2d', `the bias must be f32 [${o}], got ${fmt(b.shape)} ${b.dtype}`, shapes);
    return { shape: [x!.shape[0]!, o, oh, ow], dtype: 'f32' };
  },
  encode(ctx, [x, w, b], out, win) {
    const ow = out.shape[3]!;
    const spec = rows(b ? 'forward_bias' : 'forward', x!.shape, w!.shape[0]!, win, out.size / ow, ow, x!, ctx.limits.maxComputeWorkgroupsPerDimension);
    ctx.dispatch({ ...spec, bindings: b ? { x: x!, w: w!, b, out } : { x: x!, w: w!, out } });
  },
  // A ReLU that alone reads the convolution: applied as each output is written.
  absorb: (self, consumer) => (consumer.def === reluOp && !self.attrs.relu ? { ...self.attrs, relu: true } : undefined),
  backward(g, { inputs: [x, w, b], attrs, needs }) {
    const [, c, h, wd] = x!.shape as [number, number, number, number];
    return [
      needs[0] ? depthwiseInputGrad(g, w!, { ...attrs, channels: c, height: h, width: wd }) : null,
      needs[1] ? depthwiseWeightGrad(x!, g, attrs) : null,
      ...(b ? [needs[2] ? sum(g, [0, 2, 3]) : null] : []),
    ];
  },
});

/** Inputs dy [N, O, OH, OW] and w [O, 1, KH, KW] → dx [N, C, H, W]: the convolution's gradient in x. */
export const depthwiseInputGradOp = defineOp<DepthwiseImage>({
  name: 'depthwise_conv2d_input_grad',
  infer([dy, w], a) {
    const shapes = [dy!.shape, w!.shape];
    const image = [dy!.shape[0] ?? 0, a.channels, a.height, a.width];
    const [oh, ow] = checkImage('depthwiseConv2dInputGrad', 'the image', image, 'f32', a, shapes);
    const o = checkWeight('depthwiseConv2dInputGrad', w!, a, a.channels, shapes);
    if (dy!.dtype !== 'f32' || !sameShape(dy!.shape, [image[0]!, o, oh, ow])) {
      throw new ShapeError('depthwiseConv2dInputGrad', `dy must be f32 ${fmt([image[0]!, o, oh, ow])} for the image ${fmt(image)}, got ${fmt(dy!.shape)} ${dy!.dtype}`, shapes);
    }
    return { shape: image, dtype: 'f32' };
  },
  encode(ctx, [dy, w], out, a) {
    const spec = rows('input_grad', out.shape, w!.shape[0]!, a, out.size / a.width, a.width, dy!, ctx.limits.maxComputeWorkgroupsPerDimension);
    ctx.dispatch({ ...spec, bindings: { dy: dy!, w: w!, out } });
  },
  // Linear in each: dy's gradient is the convolution of gg, w's the weight gradient of gg by dy.
  backward(gg, { inputs: [dy, w], attrs, needs }) {
    const win = windowOf(attrs);
    return [needs[0] ? depthwiseConv2d(gg, w!, win) : null, needs[1] ? depthwiseWeightGrad(gg, dy!, win) : null];
  },
});

/** Invocations of weight_grad per chunk: one per output channel, kernel row and group of 4 taps of it. */
const sumsPerChunk = (o: number, w: Window) => o * w.kernel[0] * Math.ceil(w.kernel[1] / 4);

/**
 * Chunks the weight gradient's sums are split into along the N·OH output rows: enough that the
 * `sums` invocations of each fill the adapter (parallelWorkgroups), at most 256, so that adding
 * the chunks' sums stays short.
 */
function chunksOf(x: Tensor, sums: number, rowCount: number): number {
  return Math.max(1, Math.min(rowCount, 256, Math.ceil((parallelWorkgroups(x.rt.adapter) * WG) / sums)));
}

/** The weight gradient's sums of each chunk of rows (input 0 x, input 1 dy), [O·KH·KW, chunks]. */
export const depthwiseWeightGradChunksOp = defineOp<Window & { chunks: number }>({
  name: 'depthwise_conv2d_weight_grad_chunks',
  infer([x, dy], a) {
    const o = checkGrads('depthwiseConv2dWeightGradChunks', x!, dy!, a);
    if (!Number.isInteger(a.chunks) || a.chunks < 1) throw new ShapeError('depthwiseConv2dWeightGradChunks', `chunks must be a positive integer, got ${a.chunks}`, [x!.shape, dy!.shape]);
    return { shape: [o * a.kernel[0] * a.kernel[1], a.chunks], dtype: 'f32' };
  },
  encode: (ctx, [x, dy], out, a) => ctx.dispatch(weightGradSums(x!, dy!, out, a, a.chunks, ctx.limits.maxComputeWorkgroupsPerDimension)),
  backward: { notDifferentiable: 'partial sums, added up by an op that differentiates the whole' },
});

/** Checks x [N, C, H, W] and dy [N, O, OH, OW] of the window; returns O. */
function checkGrads(op: string, x: Tensor, dy: Tensor, win: Window): number {
  const shapes = [x.shape, dy.shape];
  const [oh, ow] = checkImage(op, 'the input', x.shape, x.dtype, win, shapes);
  const o = dy.shape[1] ?? 0;
  if (dy.dtype !== 'f32' || dy.rank !== 4 || !sameShape(dy.shape, [x.shape[0]!, o, oh, ow]) || o < 1 || o % x.shape[1]! !== 0) {
    throw new ShapeError(op, `dy must be f32 [${x.shape[0]}, O, ${oh}, ${ow}], O a multiple of the ${x.shape[1]} channels, got ${fmt(dy.shape)} ${dy.dtype}`, shapes);
  }
  return o;
}

/** weight_grad's dispatch: the sums of `chunks` chunks of rows, into `out`. */
function weightGradSums(x: Tensor, dy: Tensor, out: Tensor, win: Window, chunks: number, maxDim: number): DispatchSpec {
  const o = dy.shape[1]!;
  const count = sumsPerChunk(o, win) * chunks;
  const rowCount = dy.shape[0]! * dy.shape[2]!;
  return {
    shader: 'depthwise.wgsl',
    entry: 'weight_grad',
    constants: constants(win),
    params: params(x.shape, o, win, count, 1, chunks, Math.ceil(rowCount / chunks)),
    bindings: { x, dy, out },
    workgroups: grid1d(count, WG, maxDim),
  };
}

/**
 * Inputs x [N, C, H, W], dy [N, O, OH, OW] and, where the sums are taken in chunks, their
 * chunks' sums (depthwise_conv2d_weight_grad_chunks) → dw [O, 1, KH, KW]: the convolution's
 * gradient in w.
 */
export const depthwiseWeightGradOp = defineOp<Window>({
  name: 'depthwise_conv2d_weight_grad',
  infer([x, dy, partials], win) {
    const o = checkGrads('depthwiseConv2dWeightGrad', x!, dy!, win);
    const taps = o * win.kernel[0] * win.kernel[1];
    if (partials && (partials.dtype !== 'f32' || partials.rank !== 2 || partials.shape[0] !== taps)) {
      throw new ShapeError('depthwiseConv2dWeightGrad', `the chunks' sums must be f32 [${taps}, chunks], got ${fmt(partials.shape)} ${partials.dtype}`, [x!.shape, dy!.shape, partials.shape]);
    }
    return { shape: [o, 1, win.kernel[0], win.kernel[1]], dtype: 'f32' };
  },
  encode(ctx, [x, dy, partials], out, win) {
    const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
    if (!partials) return ctx.dispatch(weightGradSums(x!, dy!, out, win, 1, maxDim));
    ctx.dispatch({
      shader: 'depthwise.wgsl',
      entry: 'weight_grad_sum',
      constants: { WG },
      params: params(x!.shape, dy!.shape[1]!, win, out.size, 1, partials.shape[1]!),
      bindings: { partials, out },
      workgroups: grid1d(out.size, WG, maxDim),
    });
  },
  // Linear in each: x's gradient is the input gradient of dy by gg, dy's the convolution of x by gg.
  backward(gg, { inputs: [x, dy, partials], attrs, needs }) {
    const [, c, h, wd] = x!.shape as [number, number, number, number];
    return [
      needs[0] ? depthwiseInputGrad(dy!, gg, { ...attrs, channels: c, height: h, width: wd }) : null,
      needs[1] ? depthwiseConv2d(x!, gg, attrs) : null,
      ...(partials ? [null] : []),
    ];
  },
});

/** Only the window of attrs that carry more (ceil mode's kept: average pooling's windows take it). */
const windowOf = (a: Window): Window => ({ kernel: a.kernel, stride: a.stride, padding: a.padding, ...(a.dilation ? { dilation: a.dilation } : {}), ...(a.ceil ? { ceil: true } : {}) });

/**
 * Depthwise convolution of x [N, C, H, W] by w [O, 1, KH, KW] (O a multiple of C: output channel
 * o sees input channel floor(o·C/O)), plus b [O] if given, over the window's zero padding.
 */
export function depthwiseConv2d(x: Tensor, w: Tensor, win: Window, b?: Tensor): Tensor {
  return x.rt.record(depthwiseConv2dOp, b ? [x, w, b] : [x, w], windowOf(win));
}

/** The gradient in x of depthwiseConv2d, for dy [N, O, OH, OW] and the image's channels and size. */
export function depthwiseInputGrad(dy: Tensor, w: Tensor, image: DepthwiseImage): Tensor {
  return dy.rt.record(depthwiseInputGradOp, [dy, w], { ...windowOf(image), channels: image.channels, height: image.height, width: image.width });
}

/** The gradient in w of depthwiseConv2d, for its input x and dy [N, O, OH, OW]: in chunks, then added up, where one pass would not fill the adapter. */
export function depthwiseWeightGrad(x: Tensor, dy: Tensor, win: Window): Tensor {
  const w = windowOf(win);
  const chunks = chunksOf(x, sumsPerChunk(dy.shape[1] ?? 0, w), (dy.shape[0] ?? 0) * (dy.shape[2] ?? 0));
  if (chunks === 1) return x.rt.record(depthwiseWeightGradOp, [x, dy], w);
  return x.rt.record(depthwiseWeightGradOp, [x, dy, x.rt.record(depthwiseWeightGradChunksOp, [x, dy], { ...w, chunks })], w);
}
