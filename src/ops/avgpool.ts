// 2-D average pooling as a composition: im2col lays each window out as a column (padding as
// zeros), a sum over the window's rows and a division by its size give the mean. Its gradient
// (col2im of the spread gradient) and that gradient's own come from those ops' rules.
import { runtimeOf } from '../runtime/args.js';
import { DeviceLimitError } from '../runtime/errors.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { div } from './elementwise.js';
import { im2col, type Pair } from './im2col.js';
import { checkPoolInput, poolWindow } from './maxpool.js';
import { sum } from './reduce.js';

/** Window of `avgPool2d` (PyTorch's semantics: stride defaults to the kernel size). */
export interface AvgPool2dOptions {
  /** Window size, one number or [h, w]. */
  kernelSize: Pair;
  /** Step of the window; defaults to kernelSize. */
  stride?: Pair;
  /** Zeros added on each side, counted in the mean; at most half the kernel; default 0. */
  padding?: Pair;
}

/**
 * Mean over KH×KW windows of x [N, C, H, W] → [N, C, OH, OW], OH = floor((H + 2·ph − KH)/sh) + 1,
 * as torch's avg_pool2d with its defaults: padded positions count as zeros in the mean
 * (count_include_pad), every window divided by KH·KW. `opts` may be the kernel size alone.
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions | Pair): Tensor {
  runtimeOf('avgPool2d', { x });
  const w = poolWindow('avgPool2d', x, opts);
  const [oh, ow] = checkPoolInput('avgPool2d', x, w);
  const [n, c] = x.shape as [number, number];
  const k = w.kernel[0] * w.kernel[1];
  try {
    // im2col's rows are channel-major, then the window's positions: [N, C·K, OH·OW] → [N, C, K, OH·OW].
    const windows = im2col(x, w).reshape(n, c, k, oh * ow);
    return div(sum(windows, 2), k).reshape(n, c, oh, ow);
  } catch (e) {
    // The windows laid out (K times the image) too large for the device: named by the call made.
    if (e instanceof DeviceLimitError) throw new DeviceLimitError('avgPool2d', `${e.message} (input ${fmt(x.shape)}, kernel ${fmt(w.kernel)}; a smaller batch needs less)`, e.shapes);
    throw e;
  }
}
