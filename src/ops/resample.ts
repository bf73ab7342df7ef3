// Resampling an image to another size: adaptive average pooling (F.adaptive_avg_pool2d) and
// interpolation (F.interpolate: nearest, nearest-exact, bilinear, bicubic, area), and padding
// (./pad.ts). Each is a fixed linear map of each axis, y = A_h · x · A_wᵀ, whose rows read a few
// inputs each (the taps): one kernel reads those alone, from sparse maps built once per sizes and
// mode and uploaded once; the gradient is the same kernel with the maps transposed. Reading the
// taps alone keeps a NaN or infinity where PyTorch's kernels put it (a dense matrix's zeros
// would spread it over its whole row and column, 0 · ∞ being NaN), and costs the taps, not
// out × size, per output.
import { asBatchOfOne } from './batch-of-one.js';
import { runtimeOf } from '../runtime/args.js';
import { parallelWorkgroups, rowSpans, type AdapterReport } from '../runtime/device.js';
import { DeviceLimitError, ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { pair, type Pair } from './im2col.js';

/** How `interpolate` reads between pixels, as F.interpolate's modes of that name. */
export type InterpolateMode = 'nearest' | 'nearest-exact' | 'bilinear' | 'bicubic' | 'area';

/** Options of `interpolate`: the output size or the scale factor (one of them), and the mode. */
export interface InterpolateOptions {
  /** The output's [height, width] (one number: both). */
  size?: Pair;
  /** Output size over input size, one number or [h, w]: the output is floor(size · factor). */
  scaleFactor?: number | readonly [number, number];
  /** 'nearest' (default), 'nearest-exact', 'bilinear', 'bicubic' or 'area'. */
  mode?: InterpolateMode;
  /** Bilinear and bicubic only: pixels as points, the corners' aligned (default false: pixels as squares, as PyTorch's default). */
  alignCorners?: boolean;
}

const MODES: readonly InterpolateMode[] = ['nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area'];
/** The modes that take alignCorners. */
const ALIGNABLE: readonly InterpolateMode[] = ['bilinear', 'bicubic'];

/**
 * A linear map of one axis, from `size` values to `out`: its name (what it is, the sizes and
 * whatever else decides it: the key of its uploaded taps), whether it is the identity, and its
 * taps, built only when first needed.
 */
export interface AxisMap {
  name: string;
  size: number;
  out: number;
  identity: boolean;
  /** Packed as resample.wgsl reads them: out + 1 tap starts, each tap's input index, its weight's bits. */
  build: () => Uint32Array;
  /** @internal The transposed map (the gradient's), made once. */
  transposed?: AxisMap;
}

/** The map whose row i `fill` gives the taps of, in order (an input set twice is read twice, as PyTorch's kernels read it). */
export function axisMap(name: string, size: number, out: number, identity: boolean, fill: (i: number, set: (j: number, v: number) => void) => void): AxisMap {
  const build = () => {
    const starts = [0];
    const cols: number[] = [];
    const weights: number[] = [];
    for (let i = 0; i < out; i++) {
      fill(i, (j, v) => void (cols.push(j), weights.push(v)));
      starts.push(cols.length);
    }
    return pack(starts, cols, new Uint32Array(Float32Array.from(weights).buffer));
  };
  return { name, size, out, identity, build };
}

/** Tap starts, input indices and weights' bits as one array (see AxisMap.build). */
function pack(starts: ArrayLike<number>, cols: ArrayLike<number>, bits: Uint32Array): Uint32Array {
  const packed = new Uint32Array(starts.length + 2 * cols.length);
  packed.set(starts);
  packed.set(cols, starts.length);
  packed.set(bits, starts.length + cols.length);
  return packed;
}

/** The map from `m.out` values back to `m.size`: each tap of m's row i as a tap of row j, in order (a counting sort by j). */
function transposed(m: AxisMap): AxisMap {
  if (!m.transposed) {
    const build = () => {
      const packed = m.build();
      const n = packed[m.out]!;
      const [cols, bits] = [packed.subarray(m.out + 1, m.out + 1 + n), packed.subarray(m.out + 1 + n)];
      const starts = new Uint32Array(m.size + 1);
      for (const j of cols) starts[j + 1]!++;
      for (let j = 0; j < m.size; j++) starts[j + 1]! += starts[j]!;
      const [rows, rowBits, next] = [new Uint32Array(n), new Uint32Array(n), starts.slice(0, m.size)];
      for (let i = 0; i < m.out; i++) {
        for (let a = packed[i]!; a < packed[i + 1]!; a++) {
          const at = next[cols[a]!]!++;
          [rows[at], rowBits[at]] = [i, bits[a]!];
        }
      }
      return pack(starts, rows, rowBits);
    };
    m.transposed = { name: `${m.name}, transposed`, size: m.out, out: m.size, identity: m.identity, build, transposed: m };
  }
  return m.transposed;
}

const WG = 64;

/**
 * Invocations per output row of `rowLength`: on a GPU one per output (neighbouring invocations
 * write neighbouring outputs, across rows too); on a CPU adapter whole rows (rowSpans), or,
 * where there are too few rows to give each of parallelWorkgroups() a workgroup (a pad of a 1-D
 * tensor is one row), as many more as that takes, each walking WG outputs or more.
 */
function outputSpans(adapter: AdapterReport, rows: number, rowLength: number): number {
  if (!adapter.software) return Math.max(1, rowLength);
  const { spans } = rowSpans(adapter, rowLength, rows * rowLength, WG);
  return Math.max(spans, Math.min(Math.ceil((parallelWorkgroups(adapter) * WG) / rows), Math.ceil(rowLength / WG)));
}

/** x [..., H, W] → [..., OH, OW] through the maps (inputs: x and their uploaded taps). */
const resampleOp = defineOp<{ mapH: AxisMap; mapW: AxisMap }>({
  name: 'resample',
  infer([x], { mapH, mapW }) {
    const [h, w] = x!.shape.slice(-2);
    if (x!.dtype !== 'f32' || x!.rank < 2 || h !== mapH.size || w !== mapW.size) {
      throw new ShapeError('resample', `needs an f32 [..., ${mapH.size}, ${mapW.size}] input, got ${fmt(x!.shape)} ${x!.dtype}`, [x!.shape]);
    }
    return { shape: [...x!.shape.slice(0, -2), mapH.out, mapW.out], dtype: 'f32' };
  },
  encode(ctx, [x, tapsH, tapsW], out, { mapH, mapW }) {
    const rows = mapW.out && out.size / mapW.out; // none where a pad leaves an empty axis
    const spans = outputSpans(x!.rt.adapter, rows, mapW.out);
    ctx.dispatch({
      shader: 'resample.wgsl',
      constants: { WG },
      params: { n: rows, spans, h: mapH.size, w: mapW.size, oh: mapH.out, ow: mapW.out },
      bindings: { x: x!, map_h: tapsH!, map_w: tapsW!, out },
      workgroups: grid1d(rows * spans, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  // Linear in x: Aₕᵀ · g · A_w, the kernel with the maps transposed.
  backward: (g, { attrs: { mapH, mapW } }) => [mapped(g, transposed(mapH), transposed(mapW)), null, null],
});

function mapped(x: Tensor, mapH: AxisMap, mapW: AxisMap): Tensor {
  return x.rt.record(resampleOp, [x, taps(x, mapH), taps(x, mapW)], { mapH, mapW });
}

/** The uploaded taps of a map (a few per output: their number is known once built). */
const taps = (x: Tensor, m: AxisMap): Tensor => x.rt.constant(`the taps of ${m.name}`, undefined, m.build, 'u32');

/**
 * x [..., H, W] → [..., OH, OW] = A_h · x · A_wᵀ for each leading index; x itself where both
 * maps are the identity. A result too large for the device is a DeviceLimitError naming `op`,
 * the call made, and its input's and result's shapes (`inputShape` and `resultShape`, where x
 * is a view of the input).
 */
export function resample(op: string, x: Tensor, mapH: AxisMap, mapW: AxisMap, inputShape = x.shape, resultShape?: readonly number[]): Tensor {
  const lead = x.shape.slice(0, -2);
  try {
    x.rt.checkBindable(op, resultShape ?? [...lead, mapH.out, mapW.out], 'f32');
  } catch (e) {
    // Named by the call made, with the input's shape.
    if (e instanceof DeviceLimitError) throw new DeviceLimitError(op, `${e.detail} (input ${fmt(inputShape)})`, e.shapes);
    throw e;
  }
  if (mapH.identity && mapW.identity) return x;
  return mapped(x, mapH, mapW);
}

/**
 * Adaptive average pooling over [N, C, H, W] (or one image [C, H, W]) to [N, C, OH, OW], as F.adaptive_avg_pool2d: output
 * i of an axis averages inputs floor(i·size/out) to ceil((i + 1)·size/out) − 1.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  runtimeOf('adaptiveAvgPool2d', { x });
  if (x.rank === 3) return asBatchOfOne(x, (batch) => adaptiveAvgPool2d(batch, outputSize));
  const err = (why: string) => new ShapeError('adaptiveAvgPool2d', `${why} (input ${fmt(x.shape)})`, [x.shape]);
  checkImage(x, err);
  const [oh, ow] = pair(outputSize, 'outputSize', 1, err);
  const [h, w] = x.shape.slice(2) as [number, number];
  return resample('adaptiveAvgPool2d', x, averaging(h, oh), averaging(w, ow));
}

/** Adaptive average pooling of an axis from `size` to `out`: output i averages inputs floor(i·size/out) to ceil((i + 1)·size/out) − 1. */
const averaging = (size: number, out: number) =>
  axisMap(`adaptive average pooling from ${size} to ${out}`, size, out, size === out, (i, set) => {
    const [lo, hi] = [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
    for (let j = lo; j < hi; j++) set(j, 1 / (hi - lo));
  });

/** Keys' cubic convolution weights of the four pixels around a source position `t` past the second (A = −0.75, PyTorch's), in f32 as its CPU kernel. */
function cubicWeights(t: number): [number, number, number, number] {
  const f = Math.fround;
  const A = -0.75;
  const near = (x: number) => f(f(f(f(f(f(A + 2) * x) - (A + 3)) * x) * x) + 1); // |x| ≤ 1
  const far = (x: number) => f(f(f(f(f(f(f(A * x) - 5 * A) * x) + 8 * A) * x)) - 4 * A); // 1 < |x| < 2
  const u = f(1 - t);
  return [far(f(t + 1)), near(t), near(u), far(f(u + 1))];
}

/**
 * Resizes [N, C, H, W] images, as F.interpolate: to `size`, or by `scaleFactor` (then the source
 * position of output i is i / factor, as PyTorch's without recompute_scale_factor); 'nearest'
 * takes pixel floor(i·scale), 'nearest-exact' floor((i + ½)·scale), 'bilinear' weighs the two
 * pixels around (i + ½)·scale − ½ (i·(size − 1)/(out − 1) with alignCorners), 'bicubic' the four
 * (Keys' cubic convolution, A = −0.75, the border pixels repeated; it may overshoot the input's
 * range, as PyTorch's), 'area' averages as adaptive average pooling to the output size.
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  runtimeOf('interpolate', { x });
  const err = (why: string) => new ShapeError('interpolate', `${why} (input ${fmt(x.shape)})`, [x.shape]);
  checkImage(x, err);
  checkOptionNames(opts, ['size', 'scaleFactor', 'mode', 'alignCorners'], err);
  const mode = opts.mode ?? 'nearest';
  if (!MODES.includes(mode)) throw err(`mode must be ${MODES.map((m) => `'${m}'`).join(', ')}, got ${shown(mode)}`);
  if (opts.alignCorners !== undefined && typeof opts.alignCorners !== 'boolean') throw err(`alignCorners must be true or false, got ${shown(opts.alignCorners)}`);
  const align = opts.alignCorners ?? false;
  if (opts.alignCorners !== undefined && !ALIGNABLE.includes(mode)) throw err(`alignCorners is only for modes 'bilinear' and 'bicubic', not '${mode}'`);
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) throw err('give either size or scaleFactor, not both or neither');
  const [h, w] = x.shape.slice(2) as [number, number];
  let out: [number, number];
  let factors: [number, number] | undefined;
  if (opts.size !== undefined) out = pair(opts.size, 'size', 1, err);
  else {
    const f = opts.scaleFactor;
    factors = typeof f === 'number' ? [f, f] : Array.isArray(f) && f.length === 2 ? [f[0], f[1]] : undefined;
    if (!factors || !factors.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) throw err(`scaleFactor must be a positive number or [h, w] of them, got ${JSON.stringify(f)}`);
    out = [Math.floor(h * factors[0]), Math.floor(w * factors[1])];
    if (out[0] < 1 || out[1] < 1) throw err(`scaleFactor ${JSON.stringify(f)} leaves no output (${out[0]}×${out[1]})`);
    if (!out.every(Number.isSafeInteger)) throw new DeviceLimitError('interpolate', `scaleFactor ${JSON.stringify(f)} makes an output of ${out[0]}×${out[1]} pixels, more than can be counted (input ${fmt(x.shape)})`, [x.shape]);
  }
  // Source position per output index from PyTorch's area_pixel_compute_scale, in f32, and the
  // rest as its CPU kernels for NCHW (PyTorch 1.13's) compute it: the nearest pixel in f32
  // (which decides it at a tie), the bicubic point in f32 too, the bilinear one in double;
  // bilinear reads pixel i alone on an axis of the same size, whatever the scale. (Its channels-last kernels,
  // which a single channel takes, also copy such an axis in nearest mode, and halve the index of
  // one twice the size.) The pixels each reads, with a weight of 0 too, are those PyTorch's
  // read: a NaN or infinity reaches the outputs it reaches there.
  const f = Math.fround;
  const map = (size: number, n: number, axis: 0 | 1): AxisMap => {
    // 'area' is adaptive average pooling to the output size, as F.interpolate's.
    if (mode === 'area') return averaging(size, n);
    const scale = f(align ? (n > 1 ? (size - 1) / (n - 1) : 0) : factors ? 1 / factors[axis] : size / n);
    const name = `${mode}${align ? ' aligned' : ''} interpolation from ${size} to ${n} at scale ${scale}`;
    // Nearest and nearest-exact map i to i at scale 1 (and a single pixel to itself); bilinear
    // reads pixel i twice, weighted 1 and 0, for any axis of the same size (so ±∞ becomes NaN,
    // as there); bicubic reads four pixels.
    const identity = size === n && (mode === 'nearest' || mode === 'nearest-exact') && (scale === 1 || n === 1);
    return axisMap(name, size, n, identity, (i, set) => {
      if (identity) set(i, 1);
      else if (mode === 'bilinear' && size === n) (set(i, 1), set(i, 0));
      else if (mode === 'nearest') set(Math.min(Math.floor(f(i * scale)), size - 1), 1);
      else if (mode === 'nearest-exact') set(Math.min(Math.floor(f((i + 0.5) * scale)), size - 1), 1);
      else if (mode === 'bicubic') {
        // Not clamped at 0, unlike bilinear's; the four pixels from i0 − 1 clamped to the image.
        const src = align ? f(i * scale) : f(f((i + 0.5) * scale) - 0.5);
        const i0 = Math.floor(src);
        cubicWeights(f(src - i0)).forEach((wt, k) => set(Math.min(Math.max(i0 - 1 + k, 0), size - 1), wt));
      } else {
        const src = align ? i * scale : Math.max((i + 0.5) * scale - 0.5, 0);
        const i0 = Math.min(Math.floor(src), size - 1);
        const frac = f(Math.min(src - i0, 1));
        // The last pixel blends with itself, as PyTorch's.
        set(i0, f(1 - frac));
        set(Math.min(i0 + 1, size - 1), frac);
      }
    });
  };
  return resample('interpolate', x, map(h, out[0], 0), map(w, out[1], 1));
}

function checkImage(x: Tensor, err: (why: string) => Error): void {
  if (x.rank !== 4 || x.dtype !== 'f32') throw err(`needs an f32 [N, C, H, W] input, got ${fmt(x.shape)} ${x.dtype}`);
  if (x.shape.slice(2).some((d) => d < 1)) throw err('the input image is empty');
}
