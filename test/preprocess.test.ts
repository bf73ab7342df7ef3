// MNIST-style digits (src/mnist/digit.ts), as the MNIST digits were made: the ink's bounding box,
// scaled so its longer side is 20 px (area-averaged), placed in a 28×28 field with its centre of
// mass at the centre; pictures of any size read as ink on a background first (fitDigit), the light
// across them evened out (paperLight: known light fields); and the demo's drawings
// (demo/src/preprocess.ts) made such digits.
import { describe, expect, it } from 'vitest';
import { blankGrey, clipSegment, inkSegment, strokesToMnist, type Segment } from '../demo/src/preprocess.js';
import { boundingBox, centreOfMass, findPage, fitDigit, MNIST_BOX as BOX, MNIST_SIZE as SIZE, paperLight, resampleArea, toMnist, type GreyImage } from '../src/mnist/digit.js';
import { expectClose, Rng } from './helpers.js';
import { mnistHead } from './mnist-fixtures.js';

/** A blank canvas of w×h with `ink` (x, y, w, h, value) rectangles painted on it. */
function canvas(w: number, h: number, ink: [number, number, number, number, number][]): GreyImage {
  const data = new Float32Array(w * h);
  for (const [x0, y0, rw, rh, v] of ink) {
    for (let y = y0; y < y0 + rh; y++) for (let x = x0; x < x0 + rw; x++) data[y * w + x] = v;
  }
  return { width: w, height: h, data };
}

/** Bounding box and centre of mass of a 28×28 result, computed directly. */
function measure(img: Float32Array) {
  const box = boundingBox({ width: SIZE, height: SIZE, data: img })!;
  let m = 0;
  let mx = 0;
  let my = 0;
  img.forEach((v, i) => {
    m += v;
    mx += v * ((i % SIZE) + 0.5);
    my += v * (Math.floor(i / SIZE) + 0.5);
  });
  return { box, cx: mx / m, cy: my / m, max: Math.max(...img) };
}

/**
 * `fitted` is the digit `want` is: the same values, give or take a pixel of placement by its
 * centre of mass (compared at the best of the nine shifts), and its ink's box as large, within a
 * pixel of rounding.
 */
function expectSameDigit(fitted: Float32Array, want: Float32Array, what: string): void {
  let best = Infinity;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      let sum = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const [sx, sy] = [x + dx, y + dy];
          sum += Math.abs(want[y * SIZE + x]! - (sx >= 0 && sx < SIZE && sy >= 0 && sy < SIZE ? fitted[sy * SIZE + sx]! : 0));
        }
      }
      best = Math.min(best, sum / want.length);
    }
  }
  expect(best, what).toBeLessThan(0.03);
  const [a, b] = [measure(fitted).box, measure(want).box];
  expect(Math.max(Math.abs(a.w - b.w), Math.abs(a.h - b.h)), what).toBeLessThanOrEqual(1);
}

type Point = [number, number];

/** Distance (float64) from (px, py) to the segment a–b: to the nearer end beyond its ends, else to the line. */
function distance(px: number, py: number, [ax, ay]: Point, [bx, by]: Point): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len = Math.hypot(dx, dy);
  const along = len > 0 ? ((px - ax) * dx + (py - ay) * dy) / len : 0;
  if (along <= 0) return Math.hypot(px - ax, py - ay);
  if (along >= len) return Math.hypot(px - bx, py - by);
  return Math.abs((px - ax) * dy - (py - ay) * dx) / len;
}

/** The expected raster of a polyline of `radius`: coverage from each pixel centre's distance to the nearest segment. */
function reference(w: number, h: number, points: Point[], radius: number): { cover: Float64Array; dist: Float64Array } {
  const cover = new Float64Array(w * h);
  const dist = new Float64Array(w * h).fill(Infinity);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < Math.max(1, points.length - 1); k++) {
        dist[y * w + x] = Math.min(dist[y * w + x]!, distance(x + 0.5, y + 0.5, points[k]!, points[Math.min(k + 1, points.length - 1)]!));
      }
      cover[y * w + x] = Math.min(1, Math.max(0, radius + 0.5 - dist[y * w + x]!));
    }
  }
  return { cover, dist };
}

/** A polyline inked segment by segment, as the pad does for a stroke (a single point is a tap). */
function stroke(w: number, h: number, points: Point[], radius: number): GreyImage {
  const img = blankGrey(w, h);
  if (points.length === 1) inkSegment(img, ...points[0]!, ...points[0]!, radius);
  for (let k = 0; k + 1 < points.length; k++) inkSegment(img, ...points[k]!, ...points[k + 1]!, radius);
  return img;
}

describe('drawing rasterisation', () => {
  const r = 10.5; // about the pad's (280 / 13, rounded, halved: 11)

  it('inks full coverage within radius − ½ of the stroke, none from radius + ½, antialiased between', () => {
    const cases: [string, Point[]][] = [
      ['horizontal', [[20.3, 30.5], [80.7, 30.5]]],
      ['slanted', [[15.2, 12.9], [70.4, 48.1]]],
      ['polyline', [[20, 50], [40.5, 10.25], [60.1, 45.6], [85.9, 20.3]]],
      ['tap', [[50.4, 30.7]]],
      ['past the edges', [[-5, 10], [40, -8], [105, 70]]],
    ];
    for (const [what, points] of cases) {
      const img = stroke(100, 60, points, r);
      const { cover, dist } = reference(100, 60, points, r);
      let err = 0;
      for (let i = 0; i < cover.length; i++) {
        err = Math.max(err, Math.abs(img.data[i]! - cover[i]!));
        if (dist[i]! <= r - 0.5) expect(img.data[i], `${what}: pixel ${i} on the stroke`).toBe(1);
        if (dist[i]! >= r + 0.5) expect(img.data[i], `${what}: pixel ${i} off the stroke`).toBe(0);
      }
      expect(err, what).toBeLessThan(1e-5);
    }
  });

  it('is symmetric: mirrored strokes give mirrored rasters, and either direction the same', () => {
    const w = 64;
    const h = 64;
    const down = stroke(w, h, [[32, 20], [32, 44]], r);
    const up = stroke(w, h, [[32, 44], [32, 20]], r);
    expect(Array.from(up.data)).toEqual(Array.from(down.data));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        expect(down.data[y * w + x], `(${x}, ${y})`).toBe(down.data[y * w + w - 1 - x]);
        expect(down.data[y * w + x], `(${x}, ${y})`).toBe(down.data[(h - 1 - y) * w + x]);
      }
    }
    // Along the axis, full ink from end to end and over the caps; beyond them (radius + ½), nothing.
    for (let y = 10; y < 54; y++) expect(down.data[y * w + 31], `y ${y}`).toBe(1);
    for (let y = 0; y < 9; y++) for (let x = 0; x < w; x++) expect(down.data[y * w + x]! + down.data[(h - 1 - y) * w + x]!).toBe(0);
    expect(down.data[9 * w + 31]).toBeGreaterThan(0);
    // A tap is a disc of area π r².
    const tap = stroke(w, h, [[30.25, 20.75]], r);
    expect(Math.abs(tap.data.reduce((a, b) => a + b, 0) - Math.PI * r * r)).toBeLessThan(1);
  });

  it('keeps the darker of overlapping strokes, and leaves the rest of the image alone', () => {
    const a = stroke(60, 60, [[10, 10], [50, 50]], r);
    const b = stroke(60, 60, [[10, 50], [50, 10]], r);
    const both = stroke(60, 60, [[10, 10], [50, 50]], r);
    inkSegment(both, 10, 50, 50, 10, r);
    expect(Array.from(both.data)).toEqual(Array.from(a.data, (v, i) => Math.max(v, b.data[i]!)));
    const img = blankGrey(60, 60);
    img.data.fill(0.25);
    inkSegment(img, 30, 30, 30, 30, 3);
    expect(img.data[0]).toBe(0.25);
    expect(img.data[30 * 60 + 30]).toBe(1);
  });

  it('makes a drawn stroke the MNIST image its exact coverage makes', () => {
    const points: Point[] = [[150, 40], [140, 140], [130, 240]];
    const exact: GreyImage = { width: 280, height: 280, data: Float32Array.from(reference(280, 280, points, r).cover) };
    const drawn = toMnist(stroke(280, 280, points, r));
    expectClose(drawn, toMnist(exact), 1e-5, 'a 1');
    const m = measure(drawn);
    expect(m.box.h).toBe(BOX);
    expect(Math.abs(m.cx - SIZE / 2)).toBeLessThanOrEqual(0.5);
  });
});

describe('drawing preprocessing', () => {
  it('finds the bounding box of the ink, ignoring faint background', () => {
    expect(boundingBox(canvas(12, 9, []))).toBeUndefined();
    expect(boundingBox(canvas(12, 9, [[0, 0, 12, 9, 0.01]]))).toBeUndefined();
    expect(boundingBox(canvas(12, 9, [[3, 5, 8, 3, 1], [2, 6, 1, 1, 0.5]]))).toEqual({ x: 2, y: 5, w: 9, h: 3 });
  });

  it('area-averages: whole blocks give their means, fractional ones keep the total ink', () => {
    const img = canvas(4, 4, [[0, 0, 2, 2, 1], [2, 2, 2, 2, 0.5], [2, 0, 1, 1, 1]]);
    expectClose(resampleArea(img, { x: 0, y: 0, w: 4, h: 4 }, 2, 2), [1, 0.25, 0, 0.5], 1e-7, '4×4 → 2×2');
    const rng = new Rng(5);
    const random: GreyImage = { width: 7, height: 5, data: Float32Array.from(rng.array(35, 0, 1)) };
    const total = random.data.reduce((a, b) => a + b, 0);
    for (const [ow, oh] of [[3, 2], [5, 4], [2, 3], [14, 10]] as const) {
      const out = resampleArea(random, { x: 0, y: 0, w: 7, h: 5 }, ow, oh);
      // Each output pixel covers (7/ow)×(5/oh) source pixels.
      const mass = out.reduce((a, b) => a + b, 0) * (7 / ow) * (5 / oh);
      expect(Math.abs(mass - total), `${ow}×${oh}`).toBeLessThan(1e-4);
    }
  });

  it('takes the centre of mass at pixel centres', () => {
    expect(centreOfMass(canvas(5, 4, [[3, 1, 1, 1, 1]]).data, 5, 4)).toEqual({ x: 3.5, y: 1.5 });
    expect(centreOfMass(canvas(5, 4, [[0, 0, 1, 1, 1], [4, 3, 1, 1, 3]]).data, 5, 4)).toEqual({ x: 0.25 * 0.5 + 0.75 * 4.5, y: 0.25 * 0.5 + 0.75 * 3.5 });
    expect(centreOfMass(new Float32Array(6), 3, 2)).toEqual({ x: 1.5, y: 1 });
  });

  it('scales the longer side to 20 px and puts the centre of mass at the centre', () => {
    // A wide block off in a corner of a 280×280 pad: 100×60 becomes 20×12.
    const wide = measure(toMnist(canvas(280, 280, [[150, 200, 100, 60, 1]])));
    expect([wide.box.w, wide.box.h]).toEqual([BOX, 12]);
    expect(Math.abs(wide.cx - SIZE / 2)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(wide.cy - SIZE / 2)).toBeLessThanOrEqual(0.5);
    expect(wide.max).toBeLessThanOrEqual(1);
    // A one-pixel vertical stroke stays one pixel wide.
    const thin = measure(toMnist(canvas(280, 280, [[40, 30, 1, 200, 1]])));
    expect([thin.box.w, thin.box.h]).toEqual([1, BOX]);
    // An L: the mass sits low and left of the box's middle, so the box moves up and right.
    const ell = measure(toMnist(canvas(100, 100, [[10, 10, 10, 80, 1], [10, 80, 60, 10, 1]])));
    expect(Math.abs(ell.cx - SIZE / 2)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(ell.cy - SIZE / 2)).toBeLessThanOrEqual(0.5);
    expect(ell.box.x + ell.box.w / 2).toBeGreaterThan(SIZE / 2);
    expect(ell.box.y + ell.box.h / 2).toBeLessThan(SIZE / 2);
  });

  it('keeps a lopsided digit inside the field, and a blank drawing is all zeros', () => {
    // Nearly all the mass in one corner of the box: centring it would push the box out.
    const lopsided = toMnist(canvas(100, 100, [[0, 0, 5, 5, 1], [0, 0, 100, 1, 0.3], [0, 0, 1, 100, 0.3]]));
    const m = measure(lopsided);
    expect([m.box.x, m.box.y, m.box.w, m.box.h]).toEqual([SIZE - BOX, SIZE - BOX, BOX, BOX]);
    expect(toMnist(canvas(50, 50, [])).every((v) => v === 0)).toBe(true);
  });

  it('fills another field, the box scaled with it: 32×32 takes a 23-pixel box, 14×20 a 10-pixel one', () => {
    const square = toMnist(canvas(100, 100, [[20, 10, 30, 60, 1]]), 32);
    const b = boundingBox({ width: 32, height: 32, data: square })!;
    expect([b.w, b.h]).toEqual([12, 23]);
    const flat = toMnist(canvas(100, 100, [[20, 10, 60, 30, 1]]), 14, 20);
    expect(flat).toHaveLength(14 * 20);
    const f = boundingBox({ width: 20, height: 14, data: flat })!;
    expect([f.w, f.h]).toEqual([10, 5]);
  });
});

describe('pictures of any size (fitDigit)', () => {
  const { pixels } = mnistHead('train', 40);
  // Digits whose darkest ink is 255, so that making the strongest ink 1 leaves their values be.
  const digits = Array.from({ length: 40 }, (_, d) => Float32Array.from(pixels.subarray(d * 784, (d + 1) * 784), (v) => v / 255)).filter((o) => Math.max(...o) === 1);

  /** `o` drawn k times larger (each pixel a k×k block), dark on a white page of w×h, its corner at (x0, y0). */
  const onPaper = (o: Float32Array, k: number, w: number, h: number, x0: number, y0: number): GreyImage => {
    const data = new Float32Array(w * h).fill(1);
    for (let y = 0; y < 28 * k; y++) for (let x = 0; x < 28 * k; x++) data[(y0 + y) * w + x0 + x] = 1 - o[Math.floor(y / k) * 28 + Math.floor(x / k)]!;
    return { width: w, height: h, data };
  };

  it('reads a digit drawn larger, dark on light paper, as the digit itself: the image toMnist makes of it', () => {
    expect(digits.length).toBeGreaterThan(20);
    for (const [d, o] of digits.entries()) {
      const fitted = fitDigit(onPaper(o, 3 + (d % 3), 200, 160, 5 + d, 3));
      expect(fitted.inverted).toBe(true);
      expectClose(fitted.image, toMnist({ width: 28, height: 28, data: o }), 1e-5, `digit ${d}`);
    }
  });

  it('takes a light digit on dark as it is, and gives zeros for a blank or uniform picture', () => {
    const o = digits[0]!;
    const fitted = fitDigit({ width: 28, height: 28, data: o });
    expect(fitted.inverted).toBe(false);
    expectClose(fitted.image, toMnist({ width: 28, height: 28, data: o }), 1e-6, 'light on dark');
    for (const v of [0, 0.5, 1]) {
      const blank = fitDigit({ width: 40, height: 30, data: new Float32Array(1200).fill(v) });
      expect([blank.inverted, blank.image.every((x) => x === 0)], `all ${v}`).toEqual([v > 0.5, true]);
    }
  });

  it("reads a screenshot of a light digit on dark as the digit: a light line along its bottom and light rounded corners are its frame's, neither background nor ink", () => {
    for (const [d, o] of digits.slice(0, 8).entries()) {
      // 10× on black, 280×281: the last row light, and the page's light showing at rounded corners of radius 8.
      const [w, h, r] = [280, 281, 8];
      const data = new Float32Array(w * h);
      for (let y = 0; y < 280; y++) for (let x = 0; x < w; x++) data[y * w + x] = o[Math.floor(y / 10) * 28 + Math.floor(x / 10)]!;
      data.fill(0.85, 280 * w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const [cx, cy] = [x < r ? r : x >= w - r ? w - 1 - r : x, y < r ? r : y >= h - r ? h - 1 - r : y];
          if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) data[y * w + x] = 0.95;
        }
      }
      const fitted = fitDigit({ width: w, height: h, data });
      expect(fitted.inverted, `digit ${d}`).toBe(false);
      expectSameDigit(fitted.image, toMnist({ width: 28, height: 28, data: o }), `digit ${d}`);
    }
  });

  it('takes the background off: grey, grainy paper adds nothing, a stroke touching the edge is still ink', () => {
    const rng = new Rng(12);
    const [w, h] = [90, 120];
    // Paper between 0.75 and 0.8; a dark bar, 12×100 pixels, from the top edge down.
    const data = Float32Array.from({ length: w * h }, () => 0.75 + 0.05 * rng.next());
    for (let y = 0; y < 100; y++) for (let x = 40; x < 52; x++) data[y * w + x] = 0.1;
    const fitted = fitDigit({ width: w, height: h, data });
    expect(fitted.inverted).toBe(true);
    const m = measure(fitted.image);
    // The bar alone, scaled so its 100 pixels are the box's 20: 12 become 2.4, 2 after rounding.
    expect([m.box.w, m.box.h]).toEqual([2, BOX]);
    expect(m.max).toBeCloseTo(1, 5);
  });
});

describe('pictures under uneven light', () => {
  // Light fields over a w×h page (1: full light), as a photo's: from one side, a vignette (the
  // corners at 37% of the centre), a hard shadow across a corner, a soft one down one side.
  const LIGHTS: Record<string, (x: number, y: number, w: number, h: number) => number> = {
    gradient: (x, _y, w) => 0.95 - 0.55 * (x / w),
    vignette: (x, y, w, h) => 0.95 - 0.6 * (((x + 0.5 - w / 2) ** 2 + (y + 0.5 - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)) ** 1.5,
    'shadow across a corner': (x, y, w) => (x + y < 0.7 * w ? 0.4 : 0.9),
    'soft shadow': (x, _y, w) => 0.9 - 0.5 / (1 + Math.exp((x - 0.35 * w) / 6)),
  };
  const PAPER = 0.92;
  const STROKE = 0.08;
  const { pixels } = mnistHead('test', 12);

  /** Test digit d drawn k times larger, dark on paper, with a margin, under `light`, with grain from `rng`. */
  function photo(d: number, k: number, margin: number, light: (x: number, y: number, w: number, h: number) => number, rng?: Rng): GreyImage & { truth: Float32Array } {
    const [w, h] = [28 * k + 2 * margin, 28 * k + 2 * margin + 7];
    const data = new Float32Array(w * h);
    const truth = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const [sx, sy] = [Math.floor((x - margin) / k), Math.floor((y - margin) / k)];
        const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? pixels[d * 784 + sy * 28 + sx]! / 255 : 0;
        truth[y * w + x] = PAPER * light(x, y, w, h);
        data[y * w + x] = Math.min(1, Math.max(0, truth[y * w + x]! * (1 - ink + (STROKE / PAPER) * ink) + (rng ? 0.02 * (rng.next() - 0.5) : 0)));
      }
    }
    return { width: w, height: h, data, truth };
  }

  it('paperLight finds the light on the paper, through the strokes, erring dark rather than bright', () => {
    for (const [name, light] of Object.entries(LIGHTS)) {
      for (const [d, k, margin] of [[0, 4, 20], [1, 3, 9], [2, 17, 40]] as const) {
        const p = photo(d, k, margin, light);
        const found = paperLight(p.data, p.width, p.height);
        let [over, sum] = [0, 0];
        for (let i = 0; i < found.length; i++) {
          over = Math.max(over, found[i]! - p.truth[i]!);
          sum += Math.abs(found[i]! - p.truth[i]!);
        }
        const what = `${name}, ${p.width}×${p.height}`;
        expect(over, `${what}: the most it finds too bright`).toBeLessThan(0.03);
        expect(sum / found.length, `${what}: mean error`).toBeLessThan(0.03);
      }
    }
  });

  it('fitDigit reads a digit under uneven light as under even light', () => {
    const rng = new Rng(5);
    for (let d = 0; d < 12; d++) {
      const even = fitDigit(photo(d, 4, 20, () => 0.9, rng)).image;
      for (const [name, light] of Object.entries(LIGHTS)) {
        const fitted = fitDigit(photo(d, 4, 20, light, rng));
        const what = `digit ${d}, ${name}`;
        expect(fitted.inverted, what).toBe(true);
        expectSameDigit(fitted.image, even, what);
      }
    }
  });
});

describe('a photo of a sheet on a dark desk', () => {
  it('is cropped to the sheet (findPage), whose digit then reads as on the sheet alone; other pictures have no page', () => {
    const rng = new Rng(8);
    const { pixels } = mnistHead('test', 8);
    for (let d = 0; d < 8; d++) {
      // The sheet: the digit 4 times larger, dark on paper lit from one side, 172×179.
      const [sw, sh, k, m] = [172, 179, 4, 30];
      const sheet = new Float32Array(sw * sh);
      for (let y = 0; y < sh; y++) {
        for (let x = 0; x < sw; x++) {
          const [sx, sy] = [Math.floor((x - m) / k), Math.floor((y - m) / k)];
          const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? pixels[d * 784 + sy * 28 + sx]! / 255 : 0;
          sheet[y * sw + x] = (0.95 - 0.3 * (x / sw)) * (0.92 - 0.84 * ink) + 0.02 * (rng.next() - 0.5);
        }
      }
      // On a desk, 240×230, dark and grainy, the sheet's corner at (31 + d, 22).
      const [w, h, left, top] = [240, 230, 31 + d, 22];
      const desk = Float32Array.from({ length: w * h }, () => 0.12 + 0.04 * rng.next());
      for (let y = 0; y < sh; y++) desk.set(sheet.subarray(y * sw, (y + 1) * sw), (top + y) * w + left);
      const what = `digit ${d}`;
      const onDesk = fitDigit({ width: w, height: h, data: desk });
      expect(onDesk.inverted, what).toBe(true);
      // The sheet less 3% of it on each side.
      expect(onDesk.page, what).toEqual({ x: left + 5, y: top + 5, w: sw - 10, h: sh - 10 });
      expectSameDigit(onDesk.image, fitDigit({ width: sw, height: sh, data: sheet }).image, what);
      expect(findPage({ width: sw, height: sh, data: sheet }), `${what}: the sheet alone`).toBeUndefined();
      expect(findPage({ width: 28, height: 28, data: Float32Array.from(pixels.subarray(d * 784, (d + 1) * 784), (v) => v / 255) }), `${what}: as MNIST's`).toBeUndefined();
    }
    // A bold light 0 on black, its ring over a third of the picture (but half its box): no page.
    const ring = Float32Array.from({ length: 100 * 100 }, (_, i) => {
      const r = Math.hypot((i % 100) - 49.5, Math.floor(i / 100) - 49.5);
      return r > 22 && r < 40 ? 1 : 0;
    });
    const covered = ring.reduce((a, v) => a + v, 0) / ring.length;
    expect(covered).toBeGreaterThan(0.3);
    expect(findPage({ width: 100, height: 100, data: ring })).toBeUndefined();
    // A sheet on a desk, under half the picture: still the page.
    const small = Float32Array.from({ length: 100 * 100 }, (_, i) => ((i % 100) >= 20 && (i % 100) < 80 && i >= 2000 && i < 8000 ? 0.85 : 0.1));
    expect(findPage({ width: 100, height: 100, data: small })).toEqual({ x: 22, y: 22, w: 56, h: 56 });
  });
});

describe('strokes to MNIST', () => {
  const r = 11; // the pad's pen: 280 / 13, rounded, halved
  /** The points drawn f times as large about the pad's centre. */
  const scaled = (points: Point[], f: number) => points.map(([x, y]) => [140 + (x - 140) * f, 140 + (y - 140) * f] as Point);
  const segments = (points: Point[], f = 1): Segment[] => {
    const p = scaled(points, f);
    return p.length === 1 ? [[...p[0]!, ...p[0]!]] : p.slice(1).map((b, k) => [...p[k]!, ...b]);
  };
  const ink = (img: Float32Array) => img.reduce((a, b) => a + b, 0);
  const seven: Point[] = [[40, 40], [240, 40], [120, 250]];

  it('makes a drawing that fills the pad the image its raster makes', () => {
    for (const points of [seven, [[150, 40], [140, 140], [130, 240]] as Point[]]) {
      const raster = toMnist(stroke(280, 280, points, r));
      const drawn = strokesToMnist(segments(points), r);
      expect(measure(drawn).box).toEqual(measure(raster).box);
      expect(Math.abs(ink(drawn) / ink(raster) - 1)).toBeLessThan(0.03);
      expect(Math.abs(measure(drawn).cx - SIZE / 2)).toBeLessThanOrEqual(0.5);
    }
  });

  it("draws a small digit with a pen as narrow as a large one's, as much ink as MNIST's digits carry", () => {
    // The real test set's 7s: the middle half of their ink.
    const { pixels, labels } = mnistHead('test', 2000);
    const sevens = [...labels.keys()].filter((i) => labels[i] === 7).map((i) => ink(Float32Array.from(pixels.subarray(i * 784, (i + 1) * 784), (v) => v / 255)));
    sevens.sort((a, b) => a - b);
    const [q1, q3] = [sevens[Math.floor(sevens.length / 4)]!, sevens[Math.floor((3 * sevens.length) / 4)]!];
    for (const f of [1, 0.5, 0.25, 0.1]) {
      const drawn = strokesToMnist(segments(seven, f), r);
      expect(ink(drawn), `7 at ${f}×`).toBeGreaterThan(q1);
      expect(ink(drawn), `7 at ${f}×`).toBeLessThan(q3);
      expect(measure(drawn).box.h).toBe(BOX);
    }
    // The pad's pen scaled with a quarter-size drawing: a blob with more ink than nearly any 7.
    const blob = toMnist(stroke(280, 280, scaled(seven, 0.25), r));
    expect(ink(blob)).toBeGreaterThan(sevens[Math.floor(0.99 * sevens.length)]!);
  });

  it('fills the box with a lone tap, or one that moved less than the pen is wide, and gives zeros for no strokes', () => {
    const tap = measure(strokesToMnist(segments([[30, 200]]), r));
    expect([tap.box.w, tap.box.h]).toEqual([BOX, BOX]);
    for (const moved of [0.5, 5, r - 1]) {
      const jitter = measure(strokesToMnist(segments([[30, 200], [30 + moved, 200]]), r));
      expect(jitter.box.w, `moved ${moved}`).toBe(BOX);
      expect(jitter.box.h, `moved ${moved}`).toBeGreaterThan(BOX / 2);
    }
    expect(strokesToMnist([], r).every((v) => v === 0)).toBe(true);
  });

  it('keeps the part of a stroke inside the pad, as the pad shows it', () => {
    expect(clipSegment([10, 20, 30, 40], 100, 100)).toEqual([10, 20, 30, 40]);
    expect(clipSegment([50, 50, 150, 50], 100, 100)).toEqual([50, 50, 100, 50]);
    expect(clipSegment([-50, 0, 50, 100], 100, 100)).toEqual([0, 50, 50, 100]);
    expect(clipSegment([-10, 5, -1, 50], 100, 100)).toBeUndefined();
    expect(clipSegment([120, 130, 120, 130], 100, 100)).toBeUndefined();
    expect(clipSegment([40, 40, 40, 40], 100, 100)).toEqual([40, 40, 40, 40]);
    // A 1 drawn down the middle, the pen dragged far off to the left at its foot: still a 1.
    const one = strokesToMnist([[140, 30, 140, 250], clipSegment([140, 250, -600, 250], 280, 280)!], r);
    // An L, as the pad shows it (but for the pen's round cap past the edge, which the pad cuts).
    const [box, shown] = [measure(one).box, measure(toMnist(stroke(280, 280, [[140, 30], [140, 250], [0, 250]], r))).box];
    expect(box.h).toBe(BOX);
    expect(Math.abs(box.w - shown.w)).toBeLessThanOrEqual(2);
    const dragged = strokesToMnist([[140, 30, 140, 250], [140, 250, -600, 250]], r);
    expect(measure(dragged).box.h).toBeLessThan(BOX / 2); // unclipped: a flat bar
  });
});
