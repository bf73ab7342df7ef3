// Turns a drawing into an MNIST-style 28×28 image, as the MNIST digits were made: crop to the
// ink's bounding box, scale so the longer side is 20 px keeping the aspect ratio (area-averaged,
// so anti-aliased), and place the result in a 28×28 field with its centre of mass at the centre.
// The pad's strokes are rasterised here (strokesToMnist), from their points, so the drawing is
// never read back from the canvas, and a small drawing's pen is not scaled up with it.

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

/** A blank (all background) grey image. */
export function blankGrey(width: number, height: number): GreyImage {
  return { width, height, data: new Float32Array(width * height) };
}

/**
 * Inks a round-capped segment from (ax, ay) to (bx, by), `radius` wide each side, into `img`,
 * keeping the larger value where ink is already there. A pixel's coverage falls from 1 to 0 as
 * the distance of its centre from the segment goes from radius − ½ to radius + ½, about as a
 * canvas antialiases a stroke. Only the segment's bounding box is visited, so a pointer move
 * costs its own size, not the pad's.
 */
export function inkSegment(img: GreyImage, ax: number, ay: number, bx: number, by: number, radius: number): void {
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - radius - 1));
  const x1 = Math.min(img.width - 1, Math.ceil(Math.max(ax, bx) + radius));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - radius - 1));
  const y1 = Math.min(img.height - 1, Math.ceil(Math.max(ay, by) + radius));
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  for (let y = y0; y <= y1; y++) {
    const py = y + 0.5 - ay;
    for (let x = x0; x <= x1; x++) {
      const px = x + 0.5 - ax;
      // The nearest point of the segment, as a fraction of the way from a to b.
      const t = len2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / len2)) : 0;
      const ex = px - t * dx;
      const ey = py - t * dy;
      const cover = Math.min(1, radius + 0.5 - Math.sqrt(ex * ex + ey * ey));
      const i = y * img.width + x;
      if (cover > img.data[i]!) img.data[i] = cover;
    }
  }
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

/** A straight piece of a stroke, from (ax, ay) to (bx, by) in pad pixels (a tap: both ends equal). */
export type Segment = readonly [ax: number, ay: number, bx: number, by: number];

/**
 * The widest pen's radius, in pixels of the 28×28 image, that a drawing gets: then a 7 of any
 * size carries as much ink as MNIST's do (77 pixels' worth; the test set's 7s, a median of 78).
 * Scaled to fill the 20-pixel box, a small drawing's strokes would otherwise grow with it: a 7
 * drawn 50 pixels tall with the pad's 22-pixel pen became a blob, classified as an 8.
 */
export const MAX_PEN_RADIUS = 1;
/** Rasterised at this many times the output's resolution, then area-averaged down (anti-aliasing). */
const SUPERSAMPLE = 8;

/**
 * The 28×28 MNIST-style image of strokes drawn with a pen of `radius` pad pixels: as toMnist
 * makes of their raster, but with the pen narrowed, where scaling the drawing to the box would
 * widen it past MAX_PEN_RADIUS, to that width. A tap alone (or a path shorter than the pen's
 * radius) fills the box, as toMnist would.
 */
export function strokesToMnist(segments: readonly Segment[], radius: number): Float32Array {
  if (!segments.length) return new Float32Array(SIZE * SIZE);
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [ax, ay, bx, by] of segments) {
    [x0, x1] = [Math.min(x0, ax, bx), Math.max(x1, ax, bx)];
    [y0, y1] = [Math.min(y0, ay, by), Math.max(y1, ay, by)];
  }
  const m = Math.max(x1 - x0, y1 - y0); // the longer side of the pen's path
  // The larger of: the scale at which the path with the pad's pen fills the box (toMnist's), and
  // the one at which it does with the widest pen (then the narrower pen). A path shorter than
  // the pen's radius is a tap that moved a little: a dot, as the pad shows it, pen unnarrowed.
  const tap = m < radius;
  const scale = tap ? BOX / (m + 2 * radius) : Math.max(BOX / (m + 2 * radius), (BOX - 2 * MAX_PEN_RADIUS) / m);
  const pen = (tap ? radius * scale : Math.min(radius * scale, MAX_PEN_RADIUS)) * SUPERSAMPLE;
  const k = scale * SUPERSAMPLE;
  const side = Math.ceil(m * k + 2 * pen) + 2;
  const img = blankGrey(side, side);
  const at = (v: number, from: number) => (v - from) * k + pen + 1;
  for (const [ax, ay, bx, by] of segments) inkSegment(img, at(ax, x0), at(ay, y0), at(bx, x0), at(by, y0), pen);
  return toMnist(img);
}

/**
 * The part of segment `s` inside the w×h pad (undefined if none): strokes dragged past the edge
 * leave the canvas there, and what the pad does not show is not classified either.
 */
export function clipSegment([ax, ay, bx, by]: Segment, w: number, h: number): Segment | undefined {
  // Liang–Barsky: the segment a + t·(b − a), t in [0, 1], narrowed by each edge in turn.
  const [dx, dy] = [bx - ax, by - ay];
  let [t0, t1] = [0, 1];
  for (const [p, q] of [[-dx, ax], [dx, w - ax], [-dy, ay], [dy, h - ay]] as const) {
    if (p === 0) {
      if (q < 0) return undefined; // parallel to this edge, outside it
      continue;
    }
    const t = q / p;
    if (p < 0) t0 = Math.max(t0, t);
    else t1 = Math.min(t1, t);
    if (t0 > t1) return undefined;
  }
  return [ax + t0 * dx, ay + t0 * dy, ax + t1 * dx, ay + t1 * dy];
}
