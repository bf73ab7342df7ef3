// The demo's drawing → MNIST preprocessing (demo/src/preprocess.ts), as the MNIST digits were
// made: the ink's bounding box, scaled so its longer side is 20 px (area-averaged), placed in a
// 28×28 field with its centre of mass at the centre.
import { describe, expect, it } from 'vitest';
import { BOX, boundingBox, centreOfMass, greyFromRgba, resampleArea, SIZE, toMnist, type GreyImage } from '../demo/src/preprocess.js';
import { expectClose, Rng } from './helpers.js';

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

describe('drawing preprocessing', () => {
  it('reads the red channel of white-on-black RGBA pixels', () => {
    const rgba = Uint8ClampedArray.from([255, 0, 0, 255, 51, 200, 200, 255, 0, 255, 255, 255]);
    expectClose(greyFromRgba(rgba, 3, 1).data, [1, 0.2, 0], 1e-7, 'grey');
  });

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
});
