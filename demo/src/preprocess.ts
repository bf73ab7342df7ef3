// Turns a drawing into an MNIST-style 28×28 image, as the MNIST digits were made: crop to the
// ink's bounding box, scale so the longer side is 20 px keeping the aspect ratio (area-averaged,
// so anti-aliased), and place the result in a 28×28 field with its centre of mass at the centre.

export const SIZE = 28;
export const BOX = 20;
/** Values at or below this count as background when finding the bounding box. */
const INK = 0.02;

/** A grey image, values 0 (background) … 1 (ink), row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** Grey values from RGBA pixels (white ink on black: the red channel). */
export function greyFromRgba(rgba: Uint8ClampedArray, width: number, height: number): GreyImage {
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = rgba[4 * i]! / 255;
  return { width, height, data };
}

/** The smallest rectangle holding every value above INK, or undefined for a blank image. */
export function boundingBox(img: GreyImage): { x: number; y: number; w: number; h: number } | undefined {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.data[y * img.width + x]! > INK) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? undefined : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/**
 * Resamples a region of `img` to `ow`×`oh` by area averaging: each output pixel is the mean of
 * the source area it covers, fractional pixels weighted by their overlap.
 */
export function resampleArea(img: GreyImage, region: { x: number; y: number; w: number; h: number }, ow: number, oh: number): Float32Array {
  const out = new Float32Array(ow * oh);
  const sx = region.w / ow;
  const sy = region.h / oh;
  for (let oy = 0; oy < oh; oy++) {
    const ya = region.y + oy * sy;
    const yb = ya + sy;
    for (let ox = 0; ox < ow; ox++) {
      const xa = region.x + ox * sx;
      const xb = xa + sx;
      let sum = 0;
      for (let y = Math.floor(ya); y < Math.ceil(yb); y++) {
        const wy = Math.min(yb, y + 1) - Math.max(ya, y);
        if (wy <= 0 || y < 0 || y >= img.height) continue;
        for (let x = Math.floor(xa); x < Math.ceil(xb); x++) {
          const wx = Math.min(xb, x + 1) - Math.max(xa, x);
          if (wx <= 0 || x < 0 || x >= img.width) continue;
          sum += img.data[y * img.width + x]! * wx * wy;
        }
      }
      out[oy * ow + ox] = sum / (sx * sy);
    }
  }
  return out;
}

/** Centre of mass (pixel centres at i + 0.5) of a w×h image; the geometric centre if empty. */
export function centreOfMass(data: Float32Array, w: number, h: number): { x: number; y: number } {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[y * w + x]!;
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return m > 0 ? { x: mx / m, y: my / m } : { x: w / 2, y: h / 2 };
}

/** The 28×28 MNIST-style image of a drawing (all zeros for a blank one). */
export function toMnist(img: GreyImage): Float32Array {
  const out = new Float32Array(SIZE * SIZE);
  const box = boundingBox(img);
  if (!box) return out;
  const scale = BOX / Math.max(box.w, box.h);
  const w = Math.max(1, Math.round(box.w * scale));
  const h = Math.max(1, Math.round(box.h * scale));
  const small = resampleArea(img, box, w, h);
  const c = centreOfMass(small, w, h);
  // Shift so the centre of mass lands on the field's centre, keeping the digit inside.
  const dx = Math.min(SIZE - w, Math.max(0, Math.round(SIZE / 2 - c.x)));
  const dy = Math.min(SIZE - h, Math.max(0, Math.round(SIZE / 2 - c.y)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[(y + dy) * SIZE + x + dx] = Math.min(1, small[y * w + x]!);
  }
  return out;
}
