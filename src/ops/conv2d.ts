// conv2d as a composition (as tinygrad does): im2col lays every window out as a column, and
// one matmul with the flattened weight (bias fused per output channel) computes all outputs.
// Its gradients come from the matmul, reshape and im2col rules: the weight gradient is a
// batch-summing matmul, the input gradient a matmul then col2im, computed only when wanted.
import { given, runtimeOf } from '../runtime/args.js';
import { DeviceLimitError, ShapeError } from '../runtime/errors.js';
import { checkOptionNames } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { im2col, pair, windowOut, type Pair, type Window } from './im2col.js';
import { matmul } from './matmul.js';
import { concat, narrow } from './slice.js';

/** Stride and zero padding of `conv2d`, each one number or [h, w] (PyTorch's defaults 1 and 0). */
export interface Conv2dOptions {
  /** Step of the window, one number or [h, w]; default 1. */
  stride?: Pair;
  /** Zeros added on each side, one number or [h, w]; default 0. */
  padding?: Pair;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch) with PyTorch's layouts:
 * x [N, C, H, W], w [O, C, KH, KW], b [O] → [N, O, OH, OW], OH = floor((H + 2·ph − KH)/sh) + 1.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, opts: Conv2dOptions = {}): Tensor {
  runtimeOf('conv2d', { x, w });
  // Options passed third, as if there were no bias argument: conv2d(x, w, undefined, opts) is meant.
  if (b !== undefined && !(b instanceof Tensor)) throw new TypeError(`conv2d: b must be a Tensor or undefined, got ${given(b)}; options come fourth: conv2d(x, w, b, { stride })`);
  const shapes = b ? [x.shape, w.shape, b.shape] : [x.shape, w.shape];
  const err = (why: string) => new ShapeError('conv2d', `${why}: input ${fmt(x.shape)}, weight ${fmt(w.shape)}${b ? `, bias ${fmt(b.shape)}` : ''}`, shapes);
  if (x.rank !== 4) throw err('the input must be [N, C, H, W]');
  if (w.rank !== 4) throw err('the weight must be [O, C, KH, KW]');
  if (x.dtype !== 'f32' || w.dtype !== 'f32' || (b && b.dtype !== 'f32')) {
    throw err(`needs f32 tensors, got input ${x.dtype}, weight ${w.dtype}${b ? `, bias ${b.dtype}` : ''}`);
  }
  checkOptionNames(opts, ['stride', 'padding'], err);
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, wc, kh, kw] = w.shape as [number, number, number, number];
  if (wc !== c) throw err(`input channels differ (${c} vs ${wc})`);
  if (b && (b.rank !== 1 || b.shape[0] !== o)) throw err(`the bias must be [${o}]`);
  const win: Window = {
    kernel: [kh, kw],
    stride: pair(opts.stride ?? 1, 'stride', 1, err),
    padding: pair(opts.padding ?? 0, 'padding', 0, err),
  };
  const [oh, ow] = windowOut(h, wd, win);
  if (h < 1 || wd < 1) throw err('the input image is empty');
  if (kh < 1 || kw < 1 || oh < 1 || ow < 1) {
    throw err(`the ${kh}×${kw} kernel does not fit the ${h}×${wd} input padded by ${fmt(win.padding)}`);
  }
  // NOTE: a 1×1 kernel with stride 1 and no padding reads each pixel once, in order: the image
  // itself is the column matrix, so im2col (and col2im in the gradient) is skipped.
  const identity = kh === 1 && kw === 1 && win.stride.every((s) => s === 1) && win.padding.every((p) => p === 0);
  // The columns are KH·KW times the image: past what one buffer binding holds, the batch is
  // taken in slices whose columns fit (`fit` images each), and the products joined. (The input
  // gradient is then a sum of each slice's, padded to the whole batch: k full-size terms, a
  // cost that only batches too large to train at once pay.)
  const { maxStorageBufferBindingSize, maxBufferSize } = x.rt.limits;
  const fit = identity ? n : Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / (c * kh * kw * oh * ow * 4));
  try {
    const product = (images: Tensor) => {
      const cols = identity ? images.reshape(images.shape[0]!, c, h * wd) : im2col(images, win);
      return matmul(w.reshape(o, c * kh * kw), cols, b ? { bias: b, biasAxis: 'row' } : {});
    };
    if (n <= fit || fit < 1) return product(x).reshape(n, o, oh, ow);
    const parts: Tensor[] = [];
    for (let first = 0; first < n; first += fit) parts.push(product(narrow(x, 0, first, Math.min(fit, n - first))));
    return concat(parts, 0).reshape(n, o, oh, ow);
  } catch (e) {
    // One image's columns, or the output, too large for the device: named by the call the user made.
    const hint = fit < 1 ? "even one image's columns are too large" : n > 1 ? 'a smaller batch needs less' : 'even one image is too large';
    if (e instanceof DeviceLimitError) throw new DeviceLimitError('conv2d', `${e.message} (input ${fmt(x.shape)}, weight ${fmt(w.shape)}; ${hint})`, e.shapes);
    throw e;
  }
}
