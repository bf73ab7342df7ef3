// 2-D max pooling (PyTorch semantics: −∞ padding, floor output size, the first maximum wins ties,
// the last NaN wins; dilated windows; adaptive windows) and its gradient as a separate primitive
// that finds each window's arg-max again, so the forward pass saves nothing.
import { asBatchOfOne } from './batch-of-one.js';
import { rowSpans } from '../runtime/device.js';
import { runtimeOf } from '../runtime/args.js';
import { DeviceLimitError, ShapeError } from '../runtime/errors.js';
import { defineOp, type OpDef } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { reluGradOp } from './elementwise.js';
import { dilatedBy, pair, windowOut, windowParams, type Pair, type Window } from './im2col.js';

const WG = 256;

/** Window of `maxPool2d` (PyTorch's semantics: stride defaults to the kernel size). */
export interface MaxPool2dOptions {
  /** Window size, one number or [h, w]. */
  kernelSize: Pair;
  /** Step of the window; defaults to kernelSize. */
  stride?: Pair;
  /** −∞ added on each side, at most half the kernel; default 0. */
  padding?: Pair;
  /** Output sizes rounded up, as PyTorch's ceil_mode: a last, partial window where one would leave pixels out; default false. */
  ceilMode?: boolean;
}

/** Max pooling's window: MaxPool2dOptions and the spacing of its taps. */
export interface MaxPool2dWindowOptions extends MaxPool2dOptions {
  /** Spacing of the window's taps, as PyTorch's max_pool2d dilation; default 1. */
  dilation?: Pair;
}

/** Max pooling's windows: kernel, stride, padding and dilation, or adaptive max pooling's output size. */
export interface MaxPoolAttrs extends Window {
  /** [OH, OW] of adaptive max pooling, whose windows follow from it (the rest is unused). */
  adaptive?: readonly [number, number];
  /** Backward ops: zero the result where x ≤ 0, a following ReLU-gradient fused in by the planner. */
  reluMask?: boolean;
}

/** Checks a pooling op's input and window (max and average pooling share them); returns [OH, OW]. */
export function checkPoolInput(op: string, x: Tensor, w: Window): [number, number] {
  if (x.rank !== 4 || x.dtype !== 'f32') throw new ShapeError(op, `needs an f32 [N, C, H, W] input, or one image [C, H, W], got ${fmt(x.shape)} ${x.dtype}`, [x.shape]);
  const fail = (why: string) => new ShapeError(op, `${why} (input ${fmt(x.shape)})`, [x.shape]);
  if (x.shape[2] === 0 || x.shape[3] === 0) throw fail('the image is empty');
  pair(w.kernel, 'kernelSize', 1, fail);
  pair(w.stride, 'stride', 1, fail);
  pair(w.padding, 'padding', 0, fail);
  if (w.padding[0] * 2 > w.kernel[0] || w.padding[1] * 2 > w.kernel[1]) {
    throw fail(`padding ${fmt(w.padding)} is over half the kernel ${fmt(w.kernel)}`);
  }
  if (w.dilation) pair(w.dilation, 'dilation', 1, fail);
  const [oh, ow] = windowOut(x.shape[2]!, x.shape[3]!, w);
  if (oh < 1 || ow < 1) throw fail(`the ${w.kernel[0]}×${w.kernel[1]} window${dilatedBy(w)} does not fit the input padded by ${fmt(w.padding)}`);
  return [oh, ow];
}

/** Checks max pooling's input and windows, adaptive or not; returns [OH, OW]. */
function checkMaxPoolInput(op: string, x: Tensor, w: MaxPoolAttrs): [number, number] {
  if (!w.adaptive) return checkPoolInput(op, x, w);
  if (x.rank !== 4 || x.dtype !== 'f32') throw new ShapeError(op, `needs an f32 [N, C, H, W] input, or one image [C, H, W], got ${fmt(x.shape)} ${x.dtype}`, [x.shape]);
  const fail = (why: string) => new ShapeError(op, `${why} (input ${fmt(x.shape)})`, [x.shape]);
  if (x.shape[2] === 0 || x.shape[3] === 0) throw fail('the image is empty');
  const [oh, ow] = pair(w.adaptive as [number, number], 'outputSize', 1, fail);
  // The kernel computes window bounds up to (size + 1)·osize in u32.
  if ((x.shape[2]! + 1) * oh >= 2 ** 32 || (x.shape[3]! + 1) * ow >= 2 ** 32) throw fail(`output size ${fmt([oh, ow])} times the image's is 2^32 or more`);
  return [oh, ow];
}

/**
 * A dispatch of maxpool.wgsl's `entry` over `rows` rows of `rowLength` elements each, split
 * into spans as the adapter needs (rowSpans).
 */
function pooling(entry: string, rows: number, rowLength: number, x: Tensor, w: MaxPoolAttrs, maxDim: number) {
  const { spans } = rowSpans(x.rt.adapter, rowLength, rows * rowLength, WG);
  const [height, width] = [x.shape[2]!, x.shape[3]!];
  const [dh, dw] = w.dilation ?? [1, 1];
  const window = w.adaptive ? { height, width, kh: 0, kw: 0, sh: 0, sw: 0, ph: 0, pw: 0, oh: w.adaptive[0], ow: w.adaptive[1] } : windowParams(height, width, w);
  return {
    shader: 'maxpool.wgsl',
    entry,
    params: { n: rows, spans, ...window, dh, dw },
    workgroups: grid1d(rows * spans, WG, maxDim),
  };
}

/** The kernels' constants for the shape of the windows: adaptive, or dilated. */
const shapeConstants = (w: MaxPoolAttrs) => ({ ADAPTIVE: w.adaptive ? 1 : 0, DILATED: w.dilation ? 1 : 0 });

export const maxPool2dOp = defineOp<MaxPoolAttrs>({
  name: 'max_pool2d',
  infer([x], w) {
    const [oh, ow] = checkMaxPoolInput(w.adaptive ? 'adaptiveMaxPool2d' : 'maxPool2d', x!, w);
    return { shape: [x!.shape[0]!, x!.shape[1]!, oh, ow], dtype: 'f32' };
  },
  encode(ctx, [x], out, w) {
    const ow = out.shape[3]!;
    ctx.dispatch({
      ...pooling('forward', out.size / ow, ow, x!, w, ctx.limits.maxComputeWorkgroupsPerDimension),
      constants: { WG, RELU_MASK: 0, ...shapeConstants(w) },
      bindings: { x: x!, out },
    });
  },
  backward: (g, { inputs: [x], attrs }) => [recordBackward(x!, g, attrs)],
});

/** Whether the windows tile x exactly (stride = kernel, no padding or dilation, sizes divisible). */
function tiles(x: Tensor, w: MaxPoolAttrs): boolean {
  const [h, wd] = [x.shape[2]!, x.shape[3]!];
  return !w.adaptive && !w.dilation && sameShape(w.stride, w.kernel) && w.padding[0] === 0 && w.padding[1] === 0 && h % w.kernel[0] === 0 && wd % w.kernel[1] === 0;
}

/**
 * Each window's arg-max within its plane, u32 [N, C, OH, OW] (0xffffffff for a window all of
 * padding): what max_pool2d_backward reads where windows do not tile the input, so that each
 * window's search is done once rather than once per element it holds.
 */
export const maxPool2dArgmaxOp: OpDef<MaxPoolAttrs> = defineOp<MaxPoolAttrs>({
  name: 'max_pool2d_argmax',
  infer([x], w) {
    const [oh, ow] = checkMaxPoolInput('maxPool2dArgmax', x!, w);
    return { shape: [x!.shape[0]!, x!.shape[1]!, oh, ow], dtype: 'u32' };
  },
  encode(ctx, [x], out, w) {
    const ow = out.shape[3]!;
    ctx.dispatch({
      ...pooling('argmax', out.size / ow, ow, x!, w, ctx.limits.maxComputeWorkgroupsPerDimension),
      constants: { WG, RELU_MASK: 0, ...shapeConstants(w) },
      bindings: { x: x!, arg_out: out },
    });
  },
  backward: { notDifferentiable: "max pooling's arg-maxes are indices" },
});

/** max_pool2d_backward of dy [N, C, OH, OW] for input x, with the arg-maxes it reads where windows do not tile x. */
function recordBackward(x: Tensor, dy: Tensor, w: MaxPoolAttrs): Tensor {
  checkMaxPoolInput('maxPool2dBackward', x, w);
  return x.rt.record(maxPool2dBackwardOp, tiles(x, w) ? [x, dy] : [x, dy, x.rt.record(maxPool2dArgmaxOp, [x], w)], w);
}

/**
 * Inputs: the pooled input x [N, C, H, W], the output's gradient dy [N, C, OH, OW], and where
 * the windows do not tile x, their arg-maxes (max_pool2d_argmax).
 */
export const maxPool2dBackwardOp: OpDef<MaxPoolAttrs> = defineOp<MaxPoolAttrs>({
  name: 'max_pool2d_backward',
  infer([x, dy, arg], w) {
    const [oh, ow] = checkMaxPoolInput('maxPool2dBackward', x!, w);
    const want = [x!.shape[0]!, x!.shape[1]!, oh, ow];
    if (dy!.dtype !== 'f32' || !sameShape(dy!.shape, want)) {
      throw new ShapeError('maxPool2dBackward', `dy must be f32 ${fmt(want)} for input ${fmt(x!.shape)}, got ${fmt(dy!.shape)} ${dy!.dtype}`, [x!.shape, dy!.shape]);
    }
    if ((arg === undefined) !== tiles(x!, w) || (arg && (arg.dtype !== 'u32' || !sameShape(arg.shape, want)))) {
      throw new ShapeError('maxPool2dBackward', `takes the windows' arg-maxes (u32 ${fmt(want)}) exactly where the windows do not tile the input ${fmt(x!.shape)}`, [x!.shape, dy!.shape]);
    }
    return { shape: x!.shape, dtype: 'f32' };
  },
  encode(ctx, [x, dy, arg], out, w) {
    const ow = dy!.shape[3]!;
    // Rows of windows when windows tile the input, else input rows.
    ctx.dispatch(
      arg
        ? {
            ...pooling('backward', out.size / x!.shape[3]!, x!.shape[3]!, x!, w, ctx.limits.maxComputeWorkgroupsPerDimension),
            constants: { WG, RELU_MASK: w.reluMask ? 1 : 0, ...shapeConstants(w) },
            bindings: { x: x!, dy: dy!, arg, out },
          }
        : {
            ...pooling('backward_tiled', dy!.size / ow, ow, x!, w, ctx.limits.maxComputeWorkgroupsPerDimension),
            constants: { WG, RELU_MASK: w.reluMask ? 1 : 0, ...shapeConstants(w) },
            bindings: { x: x!, dy: dy!, out },
          },
    );
  },
  // relu_grad(x, this) where x is this op's own x (the ReLU output being pooled): mask here.
  absorb(self, consumer, via) {
    if (consumer.def !== reluGradOp || consumer.inputs[1] !== via || consumer.inputs[0] !== self.inputs[0] || self.attrs.reluMask) return undefined;
    return { ...self.attrs, reluMask: true };
  },
  // Linear in dy, piecewise constant in x: dy's gradient picks gg at each window's arg-max, and
  // x gets none (zero, as PyTorch's).
  backward: (gg, { inputs: [x, , arg], attrs }) => [null, x!.rt.record(maxPool2dPickOp, [x!, gg], attrs), ...(arg ? [null] : [])],
});

/**
 * Inputs: the pooled input x [N, C, H, W] and a gradient gx shaped as x; out [N, C, OH, OW]: gx
 * at each window's arg-max (max_pool2d_backward's adjoint, so each is the other's gradient).
 */
export const maxPool2dPickOp: OpDef<MaxPoolAttrs> = defineOp<MaxPoolAttrs>({
  name: 'max_pool2d_pick',
  infer([x, gx], w) {
    const [oh, ow] = checkMaxPoolInput('maxPool2dPick', x!, w);
    if (gx!.dtype !== 'f32' || !sameShape(gx!.shape, x!.shape)) {
      throw new ShapeError('maxPool2dPick', `gx must be f32 ${fmt(x!.shape)} as the input, got ${fmt(gx!.shape)} ${gx!.dtype}`, [x!.shape, gx!.shape]);
    }
    return { shape: [x!.shape[0]!, x!.shape[1]!, oh, ow], dtype: 'f32' };
  },
  encode(ctx, [x, gx], out, w) {
    const ow = out.shape[3]!;
    ctx.dispatch({
      ...pooling('at_argmax', out.size / ow, ow, x!, w, ctx.limits.maxComputeWorkgroupsPerDimension),
      constants: { WG, RELU_MASK: w.reluMask ? 1 : 0, ...shapeConstants(w) },
      bindings: { x: x!, gx: gx!, out },
    });
  },
  backward: (gg, { inputs: [x], attrs }) => [null, recordBackward(x!, gg, attrs)],
});

/**
 * A pooling op's window from its options (the kernel size alone, or { kernelSize, stride,
 * padding, ceilMode }, and any `more` option names the op takes besides: max pooling's
 * `dilation` is kept, when not 1).
 */
export function poolWindow(op: string, x: Tensor, given: MaxPool2dWindowOptions | Pair | undefined, more: readonly string[] = []): Window {
  const fail = (why: string) => new ShapeError(op, `${why} (input ${fmt(x.shape)})`, [x.shape]);
  // A number or pair alone is the kernel size, as F.max_pool2d(x, 2).
  const opts: MaxPool2dWindowOptions = typeof given === 'number' || Array.isArray(given) ? { kernelSize: given as Pair } : ((given ?? {}) as MaxPool2dWindowOptions);
  checkOptionNames(opts, ['kernelSize', 'stride', 'padding', 'ceilMode', ...more], fail);
  if (opts.ceilMode !== undefined && typeof opts.ceilMode !== 'boolean') throw fail(`ceilMode must be true or false, got ${shown(opts.ceilMode)}`);
  const kernel = pair(opts.kernelSize, 'kernelSize', 1, fail);
  const dilation: [number, number] = opts.dilation === undefined ? [1, 1] : pair(opts.dilation, 'dilation', 1, fail);
  return {
    kernel,
    stride: opts.stride === undefined ? kernel : pair(opts.stride, 'stride', 1, fail),
    padding: pair(opts.padding ?? 0, 'padding', 0, fail),
    ...(dilation[0] !== 1 || dilation[1] !== 1 ? { dilation } : {}),
    ...(opts.ceilMode ? { ceil: true } : {}),
  };
}

/**
 * Max over KH×KW windows of x [N, C, H, W] (or one image [C, H, W]) → [N, C, OH, OW],
 * OH = floor((H + 2·ph − dh·(KH − 1) − 1)/sh) + 1. `opts` may be the kernel size alone:
 * maxPool2d(x, 2). A dilated window with every tap in the padding gives −∞, as PyTorch's.
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dWindowOptions | Pair): Tensor {
  const rt = runtimeOf('maxPool2d', { x });
  if (x.rank === 3) return asBatchOfOne(x, (batch) => maxPool2d(batch, opts));
  return rt.record(maxPool2dOp, [x], poolWindow('maxPool2d', x, opts, ['dilation']));
}

/** The gradient of maxPool2d: dy of each window goes to its arg-max (summed over windows). */
export function maxPool2dBackward(x: Tensor, dy: Tensor, opts: MaxPool2dWindowOptions | Pair): Tensor {
  runtimeOf('maxPool2dBackward', { x, dy });
  return recordBackward(x, dy, poolWindow('maxPool2dBackward', x, opts, ['dilation']));
}

/**
 * Max over adaptive windows of x [N, C, H, W] (or one image [C, H, W]) → [N, C, OH, OW], as PyTorch's
 * adaptive_max_pool2d: output row o takes input rows floor(o·H/OH) up to ceil((o + 1)·H/OH)
 * (likewise columns), windows of varying size that cover the image. `outputSize` is [OH, OW], or
 * one number for both.
 */
export function adaptiveMaxPool2d(x: Tensor, outputSize: Pair): Tensor {
  const rt = runtimeOf('adaptiveMaxPool2d', { x });
  if (x.rank === 3) return asBatchOfOne(x, (batch) => adaptiveMaxPool2d(batch, outputSize));
  const fail = (why: string) => new ShapeError('adaptiveMaxPool2d', `${why} (input ${fmt(x.shape)})`, [x.shape]);
  const [oh, ow] = pair(outputSize, 'outputSize', 1, fail);
  const [h, w] = [x.shape[2] ?? 0, x.shape[3] ?? 0];
  try {
    // Windows that tile the image are plain max pooling's (whose gradient tiles too).
    if (x.rank === 4 && h % oh === 0 && w % ow === 0 && h >= oh && w >= ow) return maxPool2d(x, [h / oh, w / ow]);
    return rt.record(maxPool2dOp, [x], { kernel: [1, 1], stride: [1, 1], padding: [0, 0], adaptive: [oh, ow] });
  } catch (e) {
    // A result too large for the device: named by the call made, not the max_pool2d op it records.
    if (e instanceof DeviceLimitError) throw new DeviceLimitError('adaptiveMaxPool2d', `${e.detail} (input ${fmt(x.shape)}, outputSize ${fmt([oh, ow])})`, e.shapes);
    throw e;
  }
}
