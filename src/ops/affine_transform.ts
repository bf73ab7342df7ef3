// affineTransform: images resampled through an affine map each, as torchvision's affine on
// tensors, for data augmentation (RandomAffine, src/model/augment.ts). It transforms input data,
// so it has no gradient here.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

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
  backward: { notDifferentiable: 'affineTransform resamples input data (augmentation); its gradient is not implemented' },
});

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
 * pixel (rounding half to even) or bilinearly, `fill` outside. Not differentiable.
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
