// conv2d as a composition (as tinygrad does): im2col lays every window out as a column, and
// one matmul with the flattened weight (bias fused per output channel) computes all outputs.
// Its gradients come from the matmul, reshape and im2col rules: the weight gradient is a
// batch-summing matmul, the input gradient a matmul then col2im, computed only when wanted.
// Grouped convolutions multiply each group's weights by its rows of the columns: a batched
// matmul over [N, groups], the weights broadcast over the batch (their gradient sums it back).
// Depthwise ones (one input channel per group), whose matmuls would be a single row each, run
// on their own kernels instead (depthwise.ts).
import { asBatchOfOne } from './batch-of-one.js';
import { given, runtimeOf } from '../runtime/args.js';
import { DeviceLimitError, ShapeError } from '../runtime/errors.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { depthwiseConv2d } from './depthwise.js';
import { add } from './elementwise.js';
import { pad } from './pad.js';
import { dilatedBy, im2col, pair, windowOut, type Pair, type Window } from './im2col.js';
import { matmul } from './matmul.js';
import { broadcastTo } from './reduce.js';
import { concat, narrow } from './slice.js';

/** What `conv2d`'s padding holds, as nn.Conv2d's padding_mode. */
export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

/** Stride, padding, dilation and groups of `conv2d`, as `F.conv2d`'s (defaults 1, 0, 1, 1), and nn.Conv2d's padding mode. */
export interface Conv2dOptions {
  /** Step of the window, one number or [h, w]; default 1. */
  stride?: Pair;
  /**
   * Added on each side, one number or [h, w]; or 'valid' (none), or 'same' (an output the size
   * of the input, stride 1 only; an odd total puts the extra row and column at the bottom and
   * right, as PyTorch's); default 0.
   */
  padding?: Pair | 'same' | 'valid';
  /** What the padding holds: 'zeros' (default), or as F.pad's modes, 'reflect', 'replicate' or 'circular'. */
  paddingMode?: PaddingMode;
  /** Spacing of the kernel's taps, one number or [h, w]: a 3×3 kernel dilated by 2 spans 5×5; default 1. */
  dilation?: Pair;
  /**
   * Channel groups: input and output channels split into this many consecutive sets, output set
   * g seeing only input set g (the weight is [O, C/groups, KH, KW]; groups = C is a depthwise
   * convolution); default 1.
   */
  groups?: number;
}

/** Checks `groups`: a positive integer dividing both channel counts; `err` builds the error. */
export function checkGroups(groups: unknown, channels: [string, number][], err: (why: string) => Error): number {
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) throw err(`groups must be a positive integer, got ${typeof groups === 'number' ? groups : shown(groups)}`);
  for (const [what, n] of channels) if (n % groups !== 0) throw err(`${groups} groups do not divide the ${n} ${what} channels`);
  return groups;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch) with PyTorch's layouts:
 * x [N, C, H, W] (or one image [C, H, W]), w [O, C/groups, KH, KW], b [O] → [N, O, OH, OW],
 * OH = floor((H + 2·ph − dh·(KH − 1) − 1)/sh) + 1.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, opts: Conv2dOptions = {}): Tensor {
  runtimeOf('conv2d', { x, w });
  // Options passed third, as if there were no bias argument: conv2d(x, w, undefined, opts) is meant.
  if (b !== undefined && !(b instanceof Tensor)) throw new TypeError(`conv2d: b must be a Tensor or undefined, got ${given(b)}; options come fourth: conv2d(x, w, b, { stride })`);
  const shapes = b ? [x.shape, w.shape, b.shape] : [x.shape, w.shape];
  const err = (why: string) => new ShapeError('conv2d', `${why}: input ${fmt(x.shape)}, weight ${fmt(w.shape)}${b ? `, bias ${fmt(b.shape)}` : ''}`, shapes);
  if (x.rank === 3) return asBatchOfOne(x, (batch) => conv2d(batch, w, b, opts));
  if (x.rank !== 4) throw err('the input must be [N, C, H, W], or one image [C, H, W]');
  if (w.rank !== 4) throw err('the weight must be [O, C, KH, KW]');
  if (x.dtype !== 'f32' || w.dtype !== 'f32' || (b && b.dtype !== 'f32')) {
    throw err(`needs f32 tensors, got input ${x.dtype}, weight ${w.dtype}${b ? `, bias ${b.dtype}` : ''}`);
  }
  checkOptionNames(opts, ['stride', 'padding', 'paddingMode', 'dilation', 'groups'], err);
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, wc, kh, kw] = w.shape as [number, number, number, number];
  const groups = checkGroups(opts.groups ?? 1, [['output', o]], err);
  if (groups === 1 && wc !== c) throw err(`input channels differ (${c} vs ${wc})`);
  if (groups > 1 && wc * groups !== c) throw err(`the weight takes ${groups} groups of ${wc} input channels, ${wc * groups} in all, but the input has ${c}`);
  if (b && (b.rank !== 1 || b.shape[0] !== o)) throw err(`the bias must be [${o}]`);
  const stride = pair(opts.stride ?? 1, 'stride', 1, err);
  const dilation = pair(opts.dilation ?? 1, 'dilation', 1, err);
  const sides = paddingSides(opts.padding ?? 0, [kh, kw], stride, dilation, err);
  const mode = opts.paddingMode ?? 'zeros';
  if (!PADDING_MODES.includes(mode)) throw err(`paddingMode must be ${PADDING_MODES.map((m) => `'${m}'`).join(', ')}, got ${shown(mode)}`);
  if (h < 1 || wd < 1) throw err('the input image is empty');
  // Padding other than zeros, or more on one side than the other, is made by pad() first, as
  // PyTorch's does; im2col's own padding is zeros on both sides alike.
  const padFirst = mode !== 'zeros' || sides.some(([before, after]) => before !== after);
  const [[top, bottom], [left, right]] = sides;
  const win: Window = { kernel: [kh, kw], stride, padding: padFirst ? [0, 0] : [top, left], dilation };
  const [oh, ow] = windowOut(h + (padFirst ? top + bottom : 0), wd + (padFirst ? left + right : 0), win);
  if (kh < 1 || kw < 1 || oh < 1 || ow < 1) {
    const by = top === bottom && left === right ? fmt([top, left]) : `[${fmt([top, bottom])}, ${fmt([left, right])}]`;
    throw err(`the ${kh}×${kw} kernel${dilatedBy(win)} does not fit the ${h}×${wd} input padded by ${by}`);
  }
  for (const [what, [before, after], size] of [['height', sides[0], h], ['width', sides[1], wd]] as const) {
    if (mode === 'reflect' && Math.max(before, after) >= size) throw err(`reflect padding ${fmt([before, after])} must be less than the input's ${what} ${size}`);
    if (mode === 'circular' && Math.max(before, after) > size) throw err(`circular padding ${fmt([before, after])} must be at most the input's ${what} ${size}`);
  }
  if (padFirst) x = pad(x, [left, right, top, bottom], { mode: mode === 'zeros' ? 'constant' : mode });
  const cause = `input ${fmt([n, c, h, wd])}, weight ${fmt(w.shape)}`;
  // One input channel per group (depthwise), up to 4 outputs each: a direct kernel, which needs
  // no columns (on lavapipe 4 to 8× faster forward, 2 to 5× with both gradients). With more
  // outputs per channel each matmul has rows enough to reuse its columns: at 8 both took as long
  // there, at 16 the matmul a third as long (the seed CNN's first layer, 1 channel to 16).
  if (wc === 1 && groups === c && o <= 4 * c) return inBatchSlices('conv2d', cause, x, 0, (images) => depthwiseConv2d(images, w, win, b));
  const [hp, wp] = x.shape.slice(2) as [number, number];
  // NOTE: a 1×1 kernel with stride 1 and no padding reads each pixel once, in order: the image
  // itself is the column matrix, so im2col (and col2im in the gradient) is skipped.
  const identity = kh === 1 && kw === 1 && win.stride.every((s) => s === 1) && win.padding.every((p) => p === 0);
  const k = wc * kh * kw; // one group's rows of the columns
  const product = (images: Tensor) => {
    const m = images.shape[0]!;
    const cols = identity ? images.reshape(m, c, hp * wp) : im2col(images, win);
    if (groups === 1) return matmul(w.reshape(o, k), cols, b ? { bias: b, biasAxis: 'row' } : {});
    const weights = broadcastTo(w.reshape(1, groups, o / groups, k), [m, groups, o / groups, k]);
    const y = matmul(weights, cols.reshape(m, groups, k, oh * ow)).reshape(m, o, oh * ow);
    return b ? add(y, b.reshape(o, 1)) : y;
  };
  return inBatchSlices('conv2d', cause, x, identity ? 0 : c * kh * kw * oh * ow, product).reshape(n, o, oh, ow);
}

const PADDING_MODES: readonly PaddingMode[] = ['zeros', 'reflect', 'replicate', 'circular'];

/** [[top, bottom], [left, right]] of conv2d's `padding`: a number or pair, 'valid', or 'same' (PyTorch's split of d·(k − 1), the odd one after). */
function paddingSides(padding: Pair | 'same' | 'valid', kernel: [number, number], stride: [number, number], dilation: [number, number], err: (why: string) => Error): [[number, number], [number, number]] {
  if (padding === 'valid') return [[0, 0], [0, 0]];
  if (padding === 'same') {
    if (stride.some((s) => s !== 1)) throw err(`padding 'same' needs stride 1, as PyTorch's, got stride ${fmt(stride)}`);
    const total = [0, 1].map((i) => dilation[i]! * (kernel[i]! - 1));
    return total.map((t) => [Math.floor(t / 2), t - Math.floor(t / 2)]) as [[number, number], [number, number]];
  }
  const [ph, pw] = pair(padding, 'padding', 0, (why) => err(why.replace(' or a pair of them', ", a pair of them, 'same' or 'valid'")));
  return [[ph, ph], [pw, pw]];
}

/**
 * `product` of the batch x, whose im2col or col2im columns take `perImage` values per image:
 * past what one buffer binding holds, the batch is taken in slices whose columns fit, and the
 * products joined. (The input gradient is then a sum of each slice's, padded to the whole batch:
 * k full-size terms, a cost that only batches too large to train at once pay.) A column matrix
 * or output too large for the device even so is a DeviceLimitError naming `op` and `shapes`.
 */
export function inBatchSlices(op: string, shapes: string, x: Tensor, perImage: number, product: (images: Tensor) => Tensor): Tensor {
  const n = x.shape[0]!;
  const { maxStorageBufferBindingSize, maxBufferSize } = x.rt.limits;
  const fit = perImage ? Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / (perImage * 4)) : n;
  try {
    if (n <= fit || fit < 1) return product(x);
    const parts: Tensor[] = [];
    for (let first = 0; first < n; first += fit) parts.push(product(narrow(x, 0, first, Math.min(fit, n - first))));
    return concat(parts, 0);
  } catch (e) {
    // One image's columns, or the output, too large for the device: named by the call the user made.
    const hint = fit < 1 ? "even one image's columns are too large" : n > 1 ? 'a smaller batch needs less' : 'even one image is too large';
    if (e instanceof DeviceLimitError) throw new DeviceLimitError(op, `${e.message} (${shapes}; ${hint})`, e.shapes);
    throw e;
  }
}
