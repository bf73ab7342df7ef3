// gridSample and affineGrid, as PyTorch's F.grid_sample and F.affine_grid (2-D): images sampled at
// the points of a grid, and the grid an affine map makes, so that a network can learn where to
// look (a spatial transformer). The gradient flows to the grid (so to an affine map's
// parameters) and to the images: each pixel gathers, in a fixed order, what the grid points that
// touched it gave it, so the result is the same on every run. The points that touch each pixel
// are first listed, sorted, per pixel (for as many images at a time as their lists fit in a
// buffer); a pixel touched by too many points to sort cheaply (a grid that gathers many points in
// one place) walks all its image's points instead.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type EncodeContext } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, mul } from './elementwise.js';
import { concat, narrow, stack } from './slice.js';

const WG = 256;

/** How gridSample samples: bilinear or nearest, its padding, corners aligned or not. */
export interface GridSampleAttrs {
  bilinear: boolean;
  paddingMode: 'zeros' | 'border' | 'reflection';
  alignCorners: boolean;
}

const PADDING = { zeros: 0, border: 1, reflection: 2 } as const;

/** The images' gradient's attributes: the sampling's, and the longest list of points a pixel sorts (0: no lists). */
export interface GridSampleListAttrs extends GridSampleAttrs {
  sortMax: number;
}

/** Dispatches `entry` of grid_sample.wgsl, one invocation per `count`, for images x and the grid. */
function dispatch(ctx: EncodeContext, entry: string, x: Tensor, grid: Tensor, a: GridSampleAttrs, bindings: Record<string, Tensor>, count: number, sortMax = 0): void {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [, ho, wo] = grid.shape as [number, number, number, number];
  ctx.dispatch({
    shader: 'grid_sample.wgsl',
    entry,
    constants: { WG },
    params: { images: n, channels: c, height: h, width: w, out_height: ho, out_width: wo, bilinear: a.bilinear ? 1 : 0, padding: PADDING[a.paddingMode], align_corners: a.alignCorners ? 1 : 0, sort_max: sortMax },
    bindings,
    workgroups: grid1d(count, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Words of the per-pixel lists: an end per pixel, then room for each point in the (4 or 1) pixels it touches. */
function listWords(x: Tensor, grid: Tensor, bilinear: boolean): number {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const [, ho, wo] = grid.shape as [number, number, number, number];
  return n * (h * w + (bilinear ? 4 : 1) * ho * wo);
}

/**
 * The longest list a pixel sorts and sums, beyond which walking all C·Ho·Wo points of its image
 * costs less than an insertion sort's L²/4 steps (scaled by what a step costs against a walk's):
 * 64 at least, and at most 1,024 on a CPU adapter (whose fill leaves lists nearly sorted) or 256
 * on a GPU (whose fill leaves them in any order, so that a sort takes its L²/4 steps, all in one
 * invocation, while C invocations share a walk).
 */
function sortMax(x: Tensor, grid: Tensor): number {
  const [, c] = x.shape as [number, number];
  const [, ho, wo] = grid.shape as [number, number, number, number];
  return Math.min(x.rt.adapter.software ? 1024 : 256, Math.max(64, Math.floor(Math.sqrt(128 * c * ho * wo))));
}

/**
 * The images' gradient: through per-pixel lists, for as many images at a time as their lists
 * fit in a buffer binding (the images in turn, their gradients concatenated, where all do not);
 * where one image's lists do not fit, every pixel walks all the points.
 */
function imagesGradient(x: Tensor, grid: Tensor, g: Tensor, attrs: GridSampleAttrs): Tensor {
  const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = x.rt.limits;
  const n = x.shape[0]!;
  const fit = Math.floor(Math.min(binding, buffer) / 4 / (listWords(x, grid, attrs.bilinear) / n));
  if (fit === 0) return x.rt.record(gridSampleInputGradOp, [x, grid, g], { ...attrs, sortMax: 0 });
  const listed = (x: Tensor, grid: Tensor, g: Tensor) => {
    const a = { ...attrs, sortMax: sortMax(x, grid) };
    return x.rt.record(gridSampleInputGradOp, [x, grid, g, x.rt.record(gridSampleBucketsOp, [x, grid], a)], a);
  };
  if (fit >= n) return listed(x, grid, g);
  const parts: Tensor[] = [];
  for (let i = 0; i < n; i += fit) {
    const k = Math.min(fit, n - i);
    parts.push(listed(narrow(x, 0, i, k), narrow(grid, 0, i, k), narrow(g, 0, i, k)));
  }
  return concat(parts, 0);
}

/** Per image and pixel, the grid points that touch it, sorted (see grid_sample.wgsl): u32, the lists' ends then the lists. */
export const gridSampleBucketsOp = defineOp<GridSampleListAttrs>({
  name: 'grid_sample_buckets',
  infer: ([x, grid], { bilinear }) => ({ shape: [listWords(x!, grid!, bilinear)], dtype: 'u32' }),
  encode(ctx, [x, grid], out, attrs) {
    const [n, , h, w] = x!.shape as [number, number, number, number];
    const [, ho, wo] = grid!.shape as [number, number, number, number];
    dispatch(ctx, 'bucket_clear', x!, grid!, attrs, { buckets: out }, n * h * w);
    dispatch(ctx, 'bucket_count', x!, grid!, attrs, { grid: grid!, fill: out }, n * ho * wo);
    dispatch(ctx, 'bucket_scan', x!, grid!, attrs, { buckets: out }, n * WG);
    dispatch(ctx, 'bucket_fill', x!, grid!, attrs, { grid: grid!, fill: out }, n * ho * wo);
    dispatch(ctx, 'bucket_sort', x!, grid!, attrs, { buckets: out }, n * h * w, attrs.sortMax);
  },
  backward: { notDifferentiable: "gridSample's buckets are indices" },
});

/** The gradient for the images [N, C, H, W], from x (for its shape), the grid, out's gradient and, unless sortMax is 0, the lists. */
export const gridSampleInputGradOp = defineOp<GridSampleListAttrs>({
  name: 'grid_sample_input_grad',
  infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
  encode: (ctx, [x, grid, g, lists], out, attrs) =>
    lists
      ? dispatch(ctx, 'input_grad', x!, grid!, attrs, { grid: grid!, g: g!, lists, out }, out.size, attrs.sortMax)
      : dispatch(ctx, 'input_grad_walk', x!, grid!, attrs, { grid: grid!, g: g!, out }, out.size),
  backward: { notDifferentiable: "gridSample's gradient for the images has no gradient of its own here" },
});

/** The gradient for the grid [N, Ho, Wo, 2], from x, the grid and out's gradient. */
export const gridSampleGridGradOp = defineOp<GridSampleAttrs>({
  name: 'grid_sample_grid_grad',
  infer: ([, grid]) => ({ shape: grid!.shape, dtype: 'f32' }),
  encode: (ctx, [x, grid, g], out, attrs) => dispatch(ctx, 'grid_grad', x!, grid!, attrs, { x: x!, grid: grid!, g: g!, out }, out.size / 2),
  backward: { notDifferentiable: "gridSample's gradient for the grid has no gradient of its own here" },
});

export const gridSampleOp = defineOp<GridSampleAttrs>({
  name: 'grid_sample',
  infer([x, grid]) {
    const [n, c] = x!.shape as [number, number];
    const [, ho, wo] = grid!.shape as [number, number, number];
    return { shape: [n, c, ho, wo], dtype: 'f32' };
  },
  encode: (ctx, [x, grid], out, attrs) => dispatch(ctx, 'sample', x!, grid!, attrs, { x: x!, grid: grid!, out }, out.size),
  backward: (g, { inputs: [x, grid], attrs, needs }) => [
    needs[0] ? imagesGradient(x!, grid!, g, attrs) : null,
    needs[1] ? g.rt.record(gridSampleGridGradOp, [x!, grid!, g], attrs) : null,
  ],
});

/** Options of gridSample, as F.grid_sample's. */
export interface GridSampleOptions {
  /** 'bilinear' (default) or 'nearest' (no gradient for the grid, as PyTorch's). */
  mode?: 'bilinear' | 'nearest';
  /** 'zeros' (default: points outside read 0), 'border' (the nearest edge pixel) or 'reflection' (reflected off the edges). */
  paddingMode?: 'zeros' | 'border' | 'reflection';
  /** −1 and 1 at the centres of the edge pixels rather than at the images' edges (default false, as PyTorch's). */
  alignCorners?: boolean;
}

/**
 * `images` [N, C, H, W] sampled at the points of `grid` [N, Ho, Wo, 2] ((x, y) in [−1, 1], −1
 * the left and top), as F.grid_sample: [N, C, Ho, Wo]. Differentiable for the grid and for the
 * images.
 */
export function gridSample(images: Tensor, grid: Tensor, opts: GridSampleOptions = {}): Tensor {
  const rt = runtimeOf('gridSample', { images, grid });
  const err = (why: string) => new ShapeError('gridSample', `${why}: images ${fmt(images.shape)} ${images.dtype}, grid ${fmt(grid.shape)} ${grid.dtype}`, [images.shape, grid.shape]);
  checkOptionNames(opts, ['mode', 'paddingMode', 'alignCorners'], err);
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false } = opts;
  if (images.rank !== 4 || images.dtype !== 'f32') throw err('the images must be f32 [N, C, H, W]');
  if (grid.rank !== 4 || grid.dtype !== 'f32' || grid.shape[0] !== images.shape[0] || grid.shape[3] !== 2) throw err(`the grid must be f32 [${images.shape[0]}, Ho, Wo, 2]`);
  if (mode !== 'bilinear' && mode !== 'nearest') throw err(`mode must be 'bilinear' or 'nearest', got ${shown(mode)}`);
  if (!Object.hasOwn(PADDING, paddingMode)) throw err(`paddingMode must be 'zeros', 'border' or 'reflection', got ${shown(paddingMode)}`);
  if (typeof alignCorners !== 'boolean') throw err(`alignCorners must be true or false, got ${shown(alignCorners)}`);
  return rt.record(gridSampleOp, [images, grid], { bilinear: mode === 'bilinear', paddingMode, alignCorners });
}

/**
 * The sampling grid [N, H, W, 2] of the affine maps `theta` [N, 2, 3] for images of `size`
 * [N, C, H, W], as F.affine_grid: each output pixel's normalised coordinates (x, y, 1) times
 * theta's rows. Differentiable for theta (elementwise ops over constant coordinates).
 */
export function affineGrid(theta: Tensor, size: readonly number[], opts: { alignCorners?: boolean } = {}): Tensor {
  const rt = runtimeOf('affineGrid', { theta });
  const err = (why: string) => new ShapeError('affineGrid', `${why}: theta ${fmt(theta.shape)}, size ${JSON.stringify(size)}`, [theta.shape]);
  checkOptionNames(opts, ['alignCorners'], err);
  const { alignCorners = false } = opts;
  if (typeof alignCorners !== 'boolean') throw err(`alignCorners must be true or false, got ${shown(alignCorners)}`);
  if (!Array.isArray(size) || size.length !== 4 || !size.every((d) => Number.isInteger(d) && d > 0)) throw err('size must be [N, C, H, W], positive integers');
  const [n, , h, w] = size as [number, number, number, number];
  if (theta.dtype !== 'f32' || !sameShape(theta.shape, [n, 2, 3])) throw err(`theta must be f32 [${n}, 2, 3]`);
  // Checked before the elementwise ops it is made of, whose own checks would name 'add'.
  rt.checkBindable('affineGrid', [n, h, w, 2], 'f32');
  // PyTorch's linspace_from_neg_one: linspace(−1, 1, k), scaled by (k − 1)/k unless the corners align; 0 for k = 1.
  const steps = (k: number) => Float32Array.from({ length: k }, (_, i) => (k === 1 ? 0 : (-1 + (2 * i) / (k - 1)) * (alignCorners ? 1 : (k - 1) / k)));
  const [xs, ys] = [steps(w), steps(h)];
  const X = rt.constant(`affineGrid x ${w} ${alignCorners}`, [1, 1, w], () => xs);
  const Y = rt.constant(`affineGrid y ${h} ${alignCorners}`, [1, h, 1], () => ys);
  const t = (row: number, col: number) => narrow(narrow(theta, 1, row, 1), 2, col, 1).reshape(n, 1, 1);
  const axis = (row: number) => add(add(mul(t(row, 0), X), mul(t(row, 1), Y)), t(row, 2));
  return stack([axis(0), axis(1)], 3);
}
