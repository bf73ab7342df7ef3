// Turns the pad's strokes into an MNIST-style 28×28 image (strokesToMnist), rasterised here from
// their points, so the drawing is never read back from the canvas, and a small drawing's pen is
// not scaled up with it; the raster then becomes an MNIST digit as fovea's toMnist makes one
// (cropped to the ink, scaled to 20 px, centred by mass in 28×28).
import { MNIST_BOX as BOX, MNIST_SIZE as SIZE, toMnist, type GreyImage } from 'fovea';

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
