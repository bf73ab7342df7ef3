// Data augmentation as torchvision's RandomAffine on tensors: each image's rotation, translation,
// scale and shear drawn from a PyTorch-compatible generator in torchvision's order, and the
// inverse matrix torchvision resamples with (affineTransform, on the GPU). A run that draws from
// the generator PyTorch's global one would be (after the initialisation, between the
// DataLoader's per-epoch draws) transforms each image as `Compose([ToTensor(), RandomAffine(…)])`
// does in PyTorch.
import { TorchGenerator } from './random.js';

/** RandomAffine's options, as torchvision's (its defaults in brackets). */
export interface RandomAffineOptions {
  /** Rotation in degrees, clockwise: within ±degrees, or [min, max]. */
  degrees: number | readonly [number, number];
  /** Largest shift, as fractions of the width and the height, each in [0, 1] [none]. */
  translate?: readonly [number, number];
  /** Scale within [min, max], both > 0 [1]. */
  scale?: readonly [number, number];
  /** Shear in degrees along x within ±shear or [min, max], and along y with [xMin, xMax, yMin, yMax] [none]. */
  shear?: number | readonly [number, number] | readonly [number, number, number, number];
  /** 'nearest' ['nearest'] or 'bilinear'. */
  interpolation?: 'nearest' | 'bilinear';
  /** The value of pixels from outside the image [0]. */
  fill?: number;
}

/** One image's transform, as RandomAffine.get_params draws it. */
export interface AffineParams {
  angle: number;
  translate: [number, number];
  scale: number;
  shear: [number, number];
}

/**
 * torchvision's `_get_inverse_affine_matrix` for an image transformed about its centre (as
 * `F.affine` calls it on tensors): the map from output pixels to the pixels they take, on
 * coordinates centred in the image. Float64, as there.
 */
export function inverseAffineMatrix({ angle, translate: [tx, ty], scale, shear: [shx, shy] }: AffineParams): number[] {
  const rad = (d: number) => (d * Math.PI) / 180;
  const [rot, sx, sy] = [rad(angle), rad(shx), rad(shy)];
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const [m0, m1, , m3, m4] = [d, -b, 0, -c, a].map((v) => v / scale) as [number, number, number, number, number];
  return [m0, m1, 0 + (m0 * -tx + m1 * -ty), m3, m4, 0 + (m3 * -tx + m4 * -ty)];
}

/** Python's round() of a float: to the nearest integer, halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  // + 0: Python's integers have no −0.
  return (Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0;
}

/** Checks a pair of numbers, each `ok`, and with `ordered` the first at most the second. */
const pair = (name: string, v: unknown, ok: (x: number) => boolean, what: string, ordered = true): void => {
  if (!(Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && ok(x)) && (!ordered || v[0] <= v[1]))) throw new RangeError(`RandomAffine: ${name} must be ${what}, got ${JSON.stringify(v)}`);
};

/** torchvision's RandomAffine: each image's transform drawn from a generator, and its matrix. */
export class RandomAffine {
  readonly degrees: readonly [number, number];
  readonly translate: readonly [number, number] | undefined;
  readonly scale: readonly [number, number] | undefined;
  readonly shear: readonly number[] | undefined;
  readonly interpolation: 'nearest' | 'bilinear';
  readonly fill: number;
  // One draw's value: each draw is torch.empty(1).uniform_(…).
  private readonly one = new Float32Array(1);

  /** Checks the options as torchvision does (a RangeError names the bad one). */
  constructor(opts: RandomAffineOptions) {
    const { degrees, translate, scale, shear, interpolation = 'nearest', fill = 0 } = opts ?? ({} as RandomAffineOptions);
    const known = ['degrees', 'translate', 'scale', 'shear', 'interpolation', 'fill'];
    const unknown = Object.keys(opts ?? {}).find((k) => !known.includes(k));
    if (unknown) throw new RangeError(`RandomAffine: unknown option '${unknown}' (it takes ${known.join(', ')})`);
    const finite = (x: number) => Number.isFinite(x);
    if (typeof degrees === 'number') {
      if (!(degrees >= 0) || !finite(degrees)) throw new RangeError(`RandomAffine: degrees must be a number ≥ 0 or [min, max], got ${JSON.stringify(degrees)}`);
      this.degrees = [-degrees, degrees];
    } else {
      pair('degrees', degrees, finite, 'a number ≥ 0 or [min, max]');
      this.degrees = degrees;
    }
    if (translate !== undefined) pair('translate', translate, (x) => x >= 0 && x <= 1, '[fx, fy], fractions in [0, 1] of the width and the height', false);
    if (scale !== undefined) pair('scale', scale, (x) => x > 0 && finite(x), '[min, max], numbers > 0');
    if (shear !== undefined) {
      const list = typeof shear === 'number' ? [-shear, shear] : [...shear];
      const ok = (typeof shear !== 'number' || shear >= 0) && (list.length === 2 || list.length === 4) && list.every((x) => typeof x === 'number' && finite(x)) && list[0]! <= list[1]! && (list.length === 2 || list[2]! <= list[3]!);
      if (!ok) throw new RangeError(`RandomAffine: shear must be a number ≥ 0, [min, max] or [xMin, xMax, yMin, yMax], got ${JSON.stringify(shear)}`);
      this.shear = list;
    } else this.shear = undefined;
    // torch draws each value in f32 (uniform_), refusing a range whose ends or width f32 cannot hold.
    const f = Math.fround;
    for (const [name, r] of [['degrees', this.degrees], ['scale', scale], ['shear', this.shear]] as const) {
      for (let k = 0; r && k < r.length; k += 2) {
        if (!finite(f(f(r[k + 1]!) - f(r[k]!)))) throw new RangeError(`RandomAffine: ${name} [${r[k]}, ${r[k + 1]}] spans more than float32 holds, in which torch draws it`);
      }
    }
    if (interpolation !== 'nearest' && interpolation !== 'bilinear') throw new RangeError(`RandomAffine: interpolation must be 'nearest' or 'bilinear', got ${JSON.stringify(interpolation)}`);
    if (typeof fill !== 'number' || !finite(fill)) throw new RangeError(`RandomAffine: fill must be a number, got ${JSON.stringify(fill)}`);
    [this.translate, this.scale, this.interpolation, this.fill] = [translate, scale, interpolation, fill];
  }

  /** Generator values one image's draw takes: the angle, the shifts, the scale and the shears given. */
  get drawsPerImage(): number {
    return 1 + (this.translate ? 2 : 0) + (this.scale ? 1 : 0) + (this.shear ? this.shear.length / 2 : 0);
  }

  /** One image's transform, drawn from `gen` as RandomAffine.get_params draws it for a width × height image. */
  draw(gen: TorchGenerator, width: number, height: number): AffineParams {
    const u = (from: number, to: number) => gen.uniform(this.one, from, to)[0]!;
    const angle = u(this.degrees[0], this.degrees[1]);
    let translate: [number, number] = [0, 0];
    if (this.translate) {
      const [dx, dy] = [this.translate[0] * width, this.translate[1] * height];
      const tx = roundHalfEven(u(-dx, dx));
      translate = [tx, roundHalfEven(u(-dy, dy))];
    }
    const scale = this.scale ? u(this.scale[0], this.scale[1]) : 1;
    const sh = this.shear;
    const shear: [number, number] = sh ? [u(sh[0]!, sh[1]!), sh.length === 4 ? u(sh[2]!, sh[3]!) : 0] : [0, 0];
    return { angle, translate, scale, shear };
  }

  /** Draws the transforms of out.length / 6 images into `out`, their matrices in order. */
  drawMatrices(gen: TorchGenerator, width: number, height: number, out: Float32Array): Float32Array {
    for (let i = 0; i < out.length / 6; i++) out.set(inverseAffineMatrix(this.draw(gen, width, height)), i * 6);
    return out;
  }

  /** Advances `gen` past the draws of `count` images, as drawing them would. */
  skip(gen: TorchGenerator, count: number): void {
    for (let i = 0; i < count * this.drawsPerImage; i++) gen.uniform(this.one, 0, 1);
  }
}
