// convTranspose2d, PyTorch's conv_transpose2d (the upsampling layer of decoders and GANs): the
// adjoint of conv2d in its input, composed as conv2d's input gradient is. A matmul spreads each
// input pixel over a kernel's worth of columns, and col2im sums the overlapping windows into the
// output image; its gradients follow from the matmul and col2im rules (col2im's is im2col).
import { asBatchOfOne } from './batch-of-one.js';
import { given, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { checkOptionNames } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { checkGroups, inBatchSlices } from './conv2d.js';
import { add } from './elementwise.js';
import { col2im, dilatedBy, pair, type Pair, type Window } from './im2col.js';
import { matmul } from './matmul.js';
import { broadcastTo } from './reduce.js';
import { narrow, narrowBackwardOp } from './slice.js';

/** Options of `convTranspose2d`, as `F.conv_transpose2d`'s (defaults: stride 1, padding 0, outputPadding 0, groups 1, dilation 1). */
export interface ConvTranspose2dOptions {
  /** The stride of the convolution this one is the transpose of: the output's step per input pixel, one number or [h, w]; default 1. */
  stride?: Pair;
  /** That convolution's padding: rows and columns cut from each side of the output, one number or [h, w]; default 0. */
  padding?: Pair;
  /**
   * Rows and columns added at the bottom and right of the output, one number or [h, w], smaller
   * than the stride or the dilation: of the input sizes a strided convolution maps to the same
   * output size, which to give back; default 0.
   */
  outputPadding?: Pair;
  /** Spacing of the kernel's taps, one number or [h, w]; default 1. */
  dilation?: Pair;
  /** Channel groups: input set g feeds output set g only (the weight is [C, O/groups, KH, KW]); default 1. */
  groups?: number;
}

/**
 * Transposed 2-D convolution with PyTorch's layouts: x [N, C, H, W] (or one image [C, H, W]), w [C, O/groups, KH, KW],
 * b [O] → [N, O, OH, OW], OH = (H − 1)·sh − 2·ph + dh·(KH − 1) + oph + 1. It is the gradient of
 * `conv2d(·, w, …)` with respect to its input, plus the bias.
 */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor, opts: ConvTranspose2dOptions = {}): Tensor {
  runtimeOf('convTranspose2d', { x, w });
  if (b !== undefined && !(b instanceof Tensor)) throw new TypeError(`convTranspose2d: b must be a Tensor or undefined, got ${given(b)}; options come fourth: convTranspose2d(x, w, b, { stride })`);
  const shapes = b ? [x.shape, w.shape, b.shape] : [x.shape, w.shape];
  const cause = `input ${fmt(x.shape)}, weight ${fmt(w.shape)}${b ? `, bias ${fmt(b.shape)}` : ''}`;
  const err = (why: string) => new ShapeError('convTranspose2d', `${why}: ${cause}`, shapes);
  if (x.rank === 3) return asBatchOfOne(x, (batch) => convTranspose2d(batch, w, b, opts));
  if (x.rank !== 4) throw err('the input must be [N, C, H, W], or one image [C, H, W]');
  if (w.rank !== 4) throw err('the weight must be [C, O/groups, KH, KW]');
  if (x.dtype !== 'f32' || w.dtype !== 'f32' || (b && b.dtype !== 'f32')) {
    throw err(`needs f32 tensors, got input ${x.dtype}, weight ${w.dtype}${b ? `, bias ${b.dtype}` : ''}`);
  }
  checkOptionNames(opts, ['stride', 'padding', 'outputPadding', 'dilation', 'groups'], err);
  const [, c, h, wd] = x.shape as [number, number, number, number];
  const [wc, og, kh, kw] = w.shape as [number, number, number, number];
  if (wc !== c) throw err(`input channels differ (${c} vs ${wc})`);
  const groups = checkGroups(opts.groups ?? 1, [['input', c]], err);
  const o = og * groups;
  if (b && (b.rank !== 1 || b.shape[0] !== o)) throw err(`the bias must be [${o}]`);
  const win: Window = {
    kernel: [kh, kw],
    stride: pair(opts.stride ?? 1, 'stride', 1, err),
    padding: pair(opts.padding ?? 0, 'padding', 0, err),
    dilation: pair(opts.dilation ?? 1, 'dilation', 1, err),
  };
  const extra = pair(opts.outputPadding ?? 0, 'outputPadding', 0, err);
  // As PyTorch: past both, whole rows of the output would come from no input pixel.
  if ([0, 1].some((i) => extra[i]! >= Math.max(win.stride[i]!, win.dilation![i]!))) {
    throw err(`outputPadding ${fmt(extra)} must be smaller than the stride ${fmt(win.stride)} or the dilation ${fmt(win.dilation!)}`);
  }
  if (h < 1 || wd < 1) throw err('the input image is empty');
  if (kh < 1 || kw < 1) throw err('the kernel is empty');
  // The output is the image whose windows (with this padding) are x's pixels, and outputPadding
  // more rows and columns at the bottom and right: those the padding would have cut there.
  const full = (size: number, i: 0 | 1) => (size - 1) * win.stride[i] + win.dilation![i]! * (win.kernel[i] - 1) + 1;
  const [fh, fw] = [full(h, 0), full(wd, 1)];
  const [oh, ow] = [fh - 2 * win.padding[0] + extra[0], fw - 2 * win.padding[1] + extra[1]];
  if (oh < 1 || ow < 1) throw err(`padding ${fmt(win.padding)} leaves no output of the ${kh}×${kw} kernel${dilatedBy(win)} over the ${h}×${wd} input at stride ${fmt(win.stride)}`);
  // Below the stride, the extra rows fit col2im's window arithmetic; past it (a dilation larger
  // than the stride allows that), the image is summed whole, unpadded, then cut to the output,
  // with zeros past its edge.
  const cut = extra[0] >= win.stride[0] || extra[1] >= win.stride[1];
  const crop = (y: Tensor, axis: 2 | 3, pad: number, size: number, length: number) => {
    const kept = Math.min(length, size - pad);
    if (pad > 0 || kept < size) y = narrow(y, axis, pad, kept);
    return kept < length ? y.rt.record(narrowBackwardOp, [y], { axis, start: 0, length: kept, size: length }) : y;
  };
  const identity = kh === 1 && kw === 1 && win.stride.every((s) => s === 1) && win.padding.every((p) => p === 0);
  const k = og * kh * kw; // one group's rows of the columns
  const product = (images: Tensor) => {
    const m = images.shape[0]!;
    const cols =
      groups === 1
        ? matmul(w.reshape(c, k), images.reshape(m, c, h * wd), { transA: true })
        : matmul(broadcastTo(w.reshape(1, groups, c / groups, k), [m, groups, c / groups, k]), images.reshape(m, groups, c / groups, h * wd), { transA: true }).reshape(m, o * kh * kw, h * wd);
    let y: Tensor;
    if (!cut) y = identity ? cols.reshape(m, o, h, wd) : col2im(cols, oh, ow, win);
    else {
      y = identity ? cols.reshape(m, o, h, wd) : col2im(cols, fh, fw, { ...win, padding: [0, 0] });
      y = crop(crop(y, 2, win.padding[0], fh, oh), 3, win.padding[1], fw, ow);
    }
    return b ? add(y, b.reshape(o, 1, 1)) : y;
  };
  return inBatchSlices('convTranspose2d', cause, x, identity ? 0 : o * kh * kw * h * wd, product);
}
