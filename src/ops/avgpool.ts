// 2-D average pooling as a composition: each window's sum is a depthwise convolution of each
// plane by a kernel of ones (padding as zeros, the taps in row-major order, as a sum over the
// window's pixels), divided by the window's size. Its gradient and that gradient's own come from
// those ops' rules. Where windows differ in what they count (ceil mode's last ones; padding left
// out of the count), the divisors are a constant of the output's size, uploaded once.
import { asBatchOfOne } from './batch-of-one.js';
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { shown } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { div } from './elementwise.js';
import { depthwiseConv2d } from './depthwise.js';
import { type Pair } from './im2col.js';
import { checkPoolInput, poolWindow } from './maxpool.js';

/** Window of `avgPool2d` (PyTorch's semantics: stride defaults to the kernel size). */
export interface AvgPool2dOptions {
  /** Window size, one number or [h, w]. */
  kernelSize: Pair;
  /** Step of the window; defaults to kernelSize. */
  stride?: Pair;
  /** Zeros added on each side, at most half the kernel; default 0. */
  padding?: Pair;
  /** Output sizes rounded up, as PyTorch's ceil_mode: a last, partial window where one would leave pixels out; default false. */
  ceilMode?: boolean;
  /** Whether padding counts in a window's mean (PyTorch's count_include_pad); default true. */
  countIncludePad?: boolean;
  /** Every window's divisor, in place of the count (PyTorch's divisor_override). */
  divisorOverride?: number;
}

/**
 * Mean over KH×KW windows of x [N, C, H, W] (or one image [C, H, W]) → [N, C, OH, OW], OH = floor((H + 2·ph − KH)/sh) + 1
 * (rounded up in ceil mode), as torch's avg_pool2d: a window's sum divided by its size within
 * the padded image (PyTorch's count, KH·KW but for ceil mode's last windows), by its pixels
 * within the image without countIncludePad, or by divisorOverride. `opts` may be the kernel size alone.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions | Pair): Tensor {
  runtimeOf('avgPool2d', { x });
  if (x.rank === 3) return asBatchOfOne(x, (batch) => avgPool2d(batch, opts));
  const w = poolWindow('avgPool2d', x, opts, ['countIncludePad', 'divisorOverride']);
  const [oh, ow] = checkPoolInput('avgPool2d', x, w);
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const { countIncludePad = true, divisorOverride } = typeof opts === 'object' && !Array.isArray(opts) ? (opts as AvgPool2dOptions) : {};
  const fail = (why: string) => new ShapeError('avgPool2d', `${why} (input ${fmt(x.shape)})`, [x.shape]);
  if (typeof countIncludePad !== 'boolean') throw fail(`countIncludePad must be true or false, got ${shown(countIncludePad)}`);
  if (divisorOverride !== undefined && !(typeof divisorOverride === 'number' && Number.isFinite(divisorOverride) && divisorOverride !== 0)) {
    throw fail(`divisorOverride must be a nonzero number, got ${shown(divisorOverride)}`);
  }
  const k = w.kernel[0] * w.kernel[1];
  // Each output's count along one axis: its window within the padded image, or within the image.
  const counts = (size: number, out: number, i: 0 | 1) =>
    Array.from({ length: out }, (_, o) => {
      const start = o * w.stride[i] - w.padding[i];
      const end = Math.min(start + w.kernel[i], size + w.padding[i]);
      return countIncludePad ? end - start : Math.min(end, size) - Math.max(start, 0);
    });
  const [ch, cw] = [counts(h, oh, 0), counts(wd, ow, 1)];
  const uniform = ch.every((v) => v === ch[0]) && cw.every((v) => v === cw[0]);
  const what = `the avgPool2d divisors of ${oh}×${ow} windows of ${fmt(w.kernel)} over ${h}×${wd}, stride ${fmt(w.stride)}, padding ${fmt(w.padding)}${w.ceil ? ', ceil mode' : ''}${countIncludePad ? '' : ', padding not counted'}`;
  const each = () => x.rt.constant(what, [oh, ow], () => Float32Array.from({ length: oh * ow }, (_, j) => ch[Math.floor(j / ow)]! * cw[j % ow]!));
  const divisor = divisorOverride ?? (uniform ? ch[0]! * cw[0]! : each());
  // Each channel of each image on its own ([N·C, 1, H, W]), all summed by one kernel of ones.
  const ones = x.rt.constant(`avgPool2d's ${fmt(w.kernel)} kernel of ones`, [1, 1, ...w.kernel], () => new Float32Array(k).fill(1));
  return div(depthwiseConv2d(x.reshape(n * c, 1, h, wd), ones, w), divisor).reshape(n, c, oh, ow);
}
