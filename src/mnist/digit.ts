// MNIST-style digit images, as the MNIST digits were made: the ink cropped to its bounding box,
// scaled so that the longer side is 20 pixels keeping the aspect ratio (area-averaged, so
// anti-aliased), and placed in a 28×28 field with its centre of mass at the centre. toMnist does
// this to a drawing (the demo's pad); fitDigit first reads a picture of any size as ink on a
// background (`fovea predict` of a scan or a photo).

/** The side of MNIST's images, in pixels. */
export const MNIST_SIZE = 28;
/** The side of the box each MNIST digit is scaled into, in pixels, before it is centred by mass. */
export const MNIST_BOX = 20;
/** Values at or below this count as background when finding the bounding box. */
const INK = 0.02;

/**
 * Grey bytes of RGBA pixels as PIL's convert('L') makes them (integer luma, (299 R + 587 G +
 * 114 B) / 1000 rounded; grey stays exact), alpha composited over black, MNIST's background.
 */
export function lumaBytes(rgba: ArrayLike<number>): Uint8Array {
  const grey = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < grey.length; i++) {
    const l = Math.round((299 * rgba[4 * i]! + 587 * rgba[4 * i + 1]! + 114 * rgba[4 * i + 2]!) / 1000);
    grey[i] = Math.round((l * rgba[4 * i + 3]!) / 255);
  }
  return grey;
}

/** A grey image, values 0 (background) … 1 (ink), row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Float32Array;
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

/**
 * The MNIST-style image of a grey image (values 0 … 1, ink light): cropped to the ink's bounding
 * box, scaled so that its longer side is 20 pixels keeping the aspect ratio (area-averaged), and
 * placed in a 28×28 field with its centre of mass at the centre, as the MNIST digits were made;
 * all zeros for a blank image. Another field, `height` × `width`, scales the box with it.
 */
export function toMnist(img: GreyImage, height = MNIST_SIZE, width = height): Float32Array {
  const out = new Float32Array(height * width);
  const box = boundingBox(img);
  if (!box) return out;
  const side = Math.max(1, Math.round((Math.min(height, width) * MNIST_BOX) / MNIST_SIZE));
  const scale = side / Math.max(box.w, box.h);
  const w = Math.min(width, Math.max(1, Math.round(box.w * scale)));
  const h = Math.min(height, Math.max(1, Math.round(box.h * scale)));
  const small = resampleArea(img, box, w, h);
  const c = centreOfMass(small, w, h);
  // Shift so the centre of mass lands on the field's centre, keeping the digit inside.
  const dx = Math.min(width - w, Math.max(0, Math.round(width / 2 - c.x)));
  const dy = Math.min(height - h, Math.max(0, Math.round(height / 2 - c.y)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[(y + dy) * width + x + dx] = Math.min(1, small[y * w + x]!);
  }
  return out;
}

/** How fitDigit read an image. */
export interface FittedDigit {
  /** The MNIST-style image, values 0 … 1. */
  image: Float32Array;
  /** Whether the background was light (dark ink on paper), so the values were turned over. */
  inverted: boolean;
}

/**
 * A picture of a digit of any size (a scan, a drawing; grey values 0 … 1) as an MNIST digit:
 * turned over where its background is light (the median of its edge pixels above ½: dark ink on
 * paper), the background taken off (the edge's 90th percentile of brightness, as ink goes, so that
 * paper grain becomes 0 while a digit touching the edge does not count) and the strongest ink
 * made 1, then toMnist. A blank image gives zeros.
 */
export function fitDigit(img: GreyImage, height = MNIST_SIZE, width = height): FittedDigit {
  const { width: w, height: h, data } = img;
  const edge: number[] = [];
  for (let x = 0; x < w; x++) edge.push(data[x]!, data[(h - 1) * w + x]!);
  for (let y = 1; y < h - 1; y++) edge.push(data[y * w]!, data[y * w + w - 1]!);
  edge.sort((a, b) => a - b);
  const inverted = edge[Math.floor(edge.length / 2)]! > 0.5;
  const inkEdge = inverted ? edge.map((v) => 1 - v).reverse() : edge;
  const background = inkEdge[Math.floor(0.9 * (inkEdge.length - 1))]!;
  let peak = background;
  for (const v of data) peak = Math.max(peak, inverted ? 1 - v : v);
  const span = peak - background;
  const ink = new Float32Array(data.length);
  if (span > 0) for (let i = 0; i < data.length; i++) ink[i] = Math.min(1, Math.max(0, ((inverted ? 1 - data[i]! : data[i]!) - background) / span));
  return { image: toMnist({ width: w, height: h, data: ink }, height, width), inverted };
}
