// pad, PyTorch's F.pad over the last one or two dimensions, in its four modes. Each mode is a
// fixed linear map of each axis (every output a copy of one input, or nothing where a constant
// goes), so padding runs as resample's kernel, one tap per output, and its gradient sums back
// what reflect, replicate or circular copied more than once. A constant other than zero is added
// where nothing was copied.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add } from './elementwise.js';
import { axisMap, resample, type AxisMap } from './resample.js';

/** What fills the padding, as F.pad's modes: a constant, the mirror image without the edge, the edge, or the other side. */
export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Options of `pad`: the mode (default 'constant') and the constant (default 0). */
export interface PadOptions {
  mode?: PadMode;
  /** The constant of mode 'constant'. */
  value?: number;
}

const MODES: readonly PadMode[] = ['constant', 'reflect', 'replicate', 'circular'];

/**
 * Pads x's last dimension by `padding` = [left, right], or its last two by [left, right, top,
 * bottom] (F.pad's order: the last dimension first), as F.pad: 'constant' fills with `value`
 * (a negative padding crops), 'reflect' mirrors the values next to the edge (each padding less
 * than the size), 'replicate' repeats the edge, 'circular' wraps around (each padding at most
 * the size).
 */
export function pad(x: Tensor, padding: readonly number[], opts: PadOptions = {}): Tensor {
  runtimeOf('pad', { x });
  const err = (why: string) => new ShapeError('pad', `${why} (input ${fmt(x.shape)})`, [x.shape]);
  checkOptionNames(opts, ['mode', 'value'], err);
  const mode = opts.mode ?? 'constant';
  if (!MODES.includes(mode)) throw err(`mode must be ${MODES.map((m) => `'${m}'`).join(', ')}, got ${shown(mode)}`);
  const value = opts.value ?? 0;
  if (typeof value !== 'number') throw err(`value must be a number, got ${shown(value)}`);
  if (opts.value !== undefined && mode !== 'constant') throw err(`value is only for mode 'constant', not '${mode}'`);
  if (!Array.isArray(padding) || (padding.length !== 2 && padding.length !== 4) || !padding.every((p) => Number.isInteger(p))) {
    throw err(`padding must be [left, right] or [left, right, top, bottom] of integers, got ${JSON.stringify(padding)}`);
  }
  const dims = padding.length / 2;
  if (x.dtype !== 'f32' || x.rank < dims) throw err(`needs an f32 tensor of at least ${dims} dimension${dims > 1 ? 's' : ''}, got ${x.dtype}`);
  // As [..., H, W], H of size 1 when only the last dimension is padded (of a 1-D tensor too).
  const [h, w] = dims === 2 || x.rank > 1 ? (x.shape.slice(-2) as [number, number]) : [1, x.shape[0]!];
  const view = x.rank > 1 ? x : x.reshape(1, w);
  const [left, right, top = 0, bottom = 0] = padding as [number, number, number?, number?];
  const axis = (size: number, before: number, after: number, which: string): AxisMap => {
    const out = size + before + after;
    const what = `${mode} padding ${fmt([before, after])} of the ${which} dimension`;
    if (out < 1 && size > 0) throw err(`${what} leaves nothing of its ${size}`);
    if (mode !== 'constant' && Math.min(before, after) < 0) throw err(`${what}: only a constant padding may be negative`);
    if (mode === 'reflect' && Math.max(before, after) >= size) throw err(`${what} must be less than its size ${size}`);
    if ((mode === 'replicate' || mode === 'circular') && size < 1) throw err(`${what}: the dimension is empty`);
    if (mode === 'circular' && Math.max(before, after) > size) throw err(`${what} must be at most its size ${size}`);
    return axisMap(`${what} of ${size}`, size, out, before === 0 && after === 0, (i, set) => {
      const j = i - before;
      if (j >= 0 && j < size) set(j, 1);
      else if (mode === 'reflect') set(j < 0 ? -j : 2 * (size - 1) - j, 1);
      else if (mode === 'replicate') set(Math.min(Math.max(j, 0), size - 1), 1);
      else if (mode === 'circular') set(((j % size) + size) % size, 1);
    });
  };
  const [mapH, mapW] = [axis(h, top, bottom, dims === 2 ? 'second-to-last' : 'unpadded'), axis(w, left, right, 'last')];
  // The result's shape, for the device's limits: a 1-D x is resampled as [1, W].
  const shape = [...x.shape.slice(0, -dims), ...(dims === 2 ? [mapH.out] : []), mapW.out];
  let y = resample('pad', view, mapH, mapW, x.shape, shape);
  if (mode === 'constant' && value !== 0 && padding.some((p) => p > 0)) {
    const [oh, ow] = [mapH.out, mapW.out];
    // `value` where the output copies nothing, 0 elsewhere: added, it fills the padding.
    const fill = y.rt.constant(`the ${value} of ${mapH.name} and ${mapW.name}`, [oh, ow], () =>
      Float32Array.from({ length: oh * ow }, (_, k) => {
        const [i, j] = [Math.floor(k / ow) - top, (k % ow) - left];
        return i >= 0 && i < h && j >= 0 && j < w ? 0 : value;
      }),
    );
    y = add(y, fill);
  }
  return x.rank > 1 ? y : y.reshape(mapW.out);
}
