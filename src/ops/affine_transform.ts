// affineTransform: images resampled through an affine map each, as torchvision's affine on
// tensors, for data augmentation (RandomAffine, src/model/augment.ts), in one kernel. Its
// gradient, for the images and the matrices, is that of the same resampling composed of
// gridSample (torchvision's own composition), recomputed when a gradient is asked for: training
// data needs none, so the hot path keeps the single kernel.
import { runtimeOf } from '../runtime/args.js';
import { grad } from '../runtime/autograd.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, affine, mul, scale } from './elementwise.js';
import { gridSample } from './grid_sample.js';
import { narrow, stack } from './slice.js';

const WG = 256;

export interface AffineAttrs {
  bilinear: boolean;
  fill: number;
}

export const affineTransformOp = defineOp<AffineAttrs>({
  name: 'affine_transform',
  infer([x]) {
    return { shape: x!.shape, dtype: 'f32' };
  },
  encode(ctx, [x, theta], out, { bilinear, fill }) {
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    ctx.dispatch({
      shader: 'affine.wgsl',
      constants: { WG },
      params: { images: n, channels: c, height: h, width: w, bilinear: bilinear ? 1 : 0, fill },
      bindings: { x: x!, theta: theta!, out },
      workgroups: grid1d(out.size, WG, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  backward: (g, { inputs: [x, m], attrs, needs }) => {
    const wrt = [x!, m!].filter((_, i) => needs[i]);
    const grads = grad(composed(x!, m!, attrs), wrt, g);
    let k = 0;
    return needs.map((need) => (need ? grads[k++]! : null));
  },
});

/**
 * affineTransform as torchvision composes it (_gen_affine_grid, _apply_grid_transform): each
 * output pixel's centred coordinates (u, v) mapped by its image's matrix and normalised by half
 * the size, sampled by gridSample (zeros padding, corners not aligned), and a plane of ones
 * sampled alike, m, mixing in the fill: v·m + (1 − m)·fill. Differentiable for x and the matrices.
 */
function composed(x: Tensor, m: Tensor, { bilinear, fill }: AffineAttrs): Tensor {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const rt = x.rt;
  const centred = (k: number) => Float32Array.from({ length: k }, (_, i) => i - k / 2 + 0.5);
  const u = rt.constant(`affineTransform u ${w}`, [1, 1, w], () => centred(w));
  const v = rt.constant(`affineTransform v ${h}`, [1, h, 1], () => centred(h));
  const col = (k: number) => narrow(m, 1, k, 1).reshape(n, 1, 1);
  const axis = (k: number, half: number) => scale(add(add(mul(col(k), u), mul(col(k + 1), v)), col(k + 2)), 1 / half);
  const grid = stack([axis(0, w / 2), axis(3, h / 2)], 3);
  const mode = bilinear ? 'bilinear' : 'nearest';
  const inside = gridSample(rt.constant(`affineTransform ones ${n}×${h}×${w}`, [n, 1, h, w], () => new Float32Array(n * h * w).fill(1)), grid, { mode });
  const sampled = mul(gridSample(x, grid, { mode }), inside);
  return fill === 0 ? sampled : add(sampled, scale(affine(inside, -1, 1), fill));
}

/** Options of affineTransform. */
export interface AffineTransformOptions {
  /** 'nearest' (default, torchvision's) or 'bilinear'. */
  mode?: 'nearest' | 'bilinear';
  /** The value of pixels that come from outside the image (default 0). */
  fill?: number;
}

/**
 * Each image of `images` [N, C, H, W] resampled through its inverse affine map, a row of
 * `matrices` [N, 6], as torchvision's `F.affine` on tensors resamples with the matrix of
 * `_get_inverse_affine_matrix` (see inverseAffineMatrix): the output pixel at centred
 * coordinates (u, v) takes the image's value at (m0·u + m1·v + m2, m3·u + m4·v + m5), by nearest
 * pixel (rounding half to even) or bilinearly, `fill` outside. Differentiable for the images and
 * the matrices (bilinear; nearest sampling gives the matrices none, as PyTorch's grid_sample).
 */
export function affineTransform(images: Tensor, matrices: Tensor, opts: AffineTransformOptions = {}): Tensor {
  const rt = runtimeOf('affineTransform', { images, matrices });
  const err = (why: string) => new ShapeError('affineTransform', `${why}: images ${fmt(images.shape)} ${images.dtype}, matrices ${fmt(matrices.shape)} ${matrices.dtype}`, [images.shape, matrices.shape]);
  checkOptionNames(opts, ['mode', 'fill'], err);
  const { mode = 'nearest', fill = 0 } = opts;
  if (images.rank !== 4 || images.dtype !== 'f32') throw err('the images must be f32 [N, C, H, W]');
  if (matrices.dtype !== 'f32' || !sameShape(matrices.shape, [images.shape[0]!, 6])) throw err(`the matrices must be f32 [${images.shape[0]}, 6], one per image`);
  if (mode !== 'nearest' && mode !== 'bilinear') throw err(`mode must be 'nearest' or 'bilinear', got ${shown(mode)}`);
  if (typeof fill !== 'number' || !Number.isFinite(fill)) throw err(`fill must be a number, got ${shown(fill)}`);
  return rt.record(affineTransformOp, [images, matrices], { bilinear: mode === 'bilinear', fill });
}
