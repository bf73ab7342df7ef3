// argmax against a float64 reference: every axis of random shapes (negative axes too), ties
// (the first maximum wins), the seed CNN's logits, i32 output, and no gradient.
import { describe, expect, it } from 'vitest';
import { argmax, FoveaError, grad, ShapeError } from '../src/index.js';
import { f32, Rng, useRuntime } from './helpers.js';

const rt = useRuntime();

/** Index of the first maximum along `axis`, for every position of the other axes. */
function refArgmax(x: Float64Array, shape: number[], axis: number): Int32Array {
  const len = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let k = 1; k < len; k++) if (x[(o * len + k) * inner + i]! > x[(o * len + best) * inner + i]!) best = k;
      out[o * inner + i] = best;
    }
  return out;
}

async function check(x: Float64Array, shape: number[], axis?: number): Promise<void> {
  const t = rt().tensor(f32(x), shape);
  const a = axis === undefined ? argmax(t) : argmax(t, axis);
  const norm = axis === undefined ? shape.length - 1 : axis < 0 ? axis + shape.length : axis;
  expect(a.dtype).toBe('i32');
  expect(a.shape).toEqual(shape.filter((_, i) => i !== norm));
  const got = await a.read();
  expect(got).toBeInstanceOf(Int32Array);
  expect(Array.from(got), `argmax ${JSON.stringify(shape)} axis ${axis}`).toEqual(Array.from(refArgmax(x, shape, norm)));
}

describe('argmax', () => {
  it('matches the reference on every axis of random shapes', async () => {
    const rng = new Rng(21);
    let cases = 0;
    for (let t = 0; t < 25; t++) {
      const rank = rng.int(1, 4);
      const shape = Array.from({ length: rank }, () => rng.pick([1, 2, 3, 5, 7, 10, 17]));
      const x = rng.array(shape.reduce((a, b) => a * b, 1));
      for (let axis = -rank; axis < rank; axis++) {
        await check(x, shape, axis);
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(50);
  });

  it("defaults to the last axis (the seed CNN's predictions from logits [50, 10])", async () => {
    const rng = new Rng(22);
    await check(rng.array(500, -10, 10), [50, 10]);
    await check(rng.array(10000 * 10, -10, 10), [10000, 10]);
  });

  it('returns the first maximum of ties', async () => {
    const rng = new Rng(23);
    await check(Float64Array.of(1, 3, 3, 0, 3), [5]);
    await check(Float64Array.of(2, 2, 2, 2, 2, 2), [2, 3]);
    await check(Float64Array.of(2, 2, 2, 2, 2, 2), [2, 3], 0);
    for (const shape of [[40, 6], [3, 8, 5], [7, 4, 2, 3]]) {
      const x = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.int(0, 2));
      for (let axis = 0; axis < shape.length; axis++) await check(x, shape, axis);
    }
    await check(Float64Array.of(-Infinity, -5, -5, -1e30), [4]);
    await check(Float64Array.of(-5, -Infinity, -7, -Infinity), [4]); // −∞ is a number, not NaN
    await check(Float64Array.of(-Infinity, -Infinity, Infinity, 1, Infinity, 2), [2, 3]);
  });

  it('treats NaN as the maximum (the first NaN wins), as PyTorch does', async () => {
    const x = rt().tensor(f32([1, NaN, 3, NaN, 0, 5, 2, 1, 0]), [3, 3]);
    expect(Array.from(await argmax(x).read())).toEqual([1, 0, 0]);
    expect(Array.from(await argmax(x, 0).read())).toEqual([1, 0, 1]);
    const many = rt().tensor(f32([NaN, 1, NaN, 2, 3, 4, NaN, NaN, 0]), [3, 3]);
    expect(Array.from(await argmax(many).read())).toEqual([0, 2, 0]);
    expect(Array.from(await argmax(many, 0).read())).toEqual([0, 2, 0]);
  });

  it('shares long lines among a team of invocations: ties and NaN across its members', async () => {
    // Teams (lineTeam): 2 invocations a line at 33 values, 32 at 1000, 256 at 9000 and more.
    const rng = new Rng(24);
    for (const [shape, axis] of [[[65, 33], 1], [[3, 1000], 1], [[2, 1000, 3], 1], [[9000], 0], [[70000], 0]] as [number[], number][]) {
      const n = shape.reduce((a, b) => a * b, 1);
      await check(rng.array(n), shape, axis);
      await check(Float64Array.from({ length: n }, () => rng.int(0, 3)), shape, axis); // ties everywhere
    }
    // The maximum at the last value, held by the last member, and ties of it in other members.
    const x = new Float64Array(9000).fill(-1);
    x[8999] = 5;
    await check(x, [9000]);
    x[4001] = 5;
    x[300] = 5;
    await check(x, [9000]);
    // NaN: the first wins, over +inf too, whichever member holds it (of 256: 300 is member 44's,
    // 255 member 255's).
    x[7777] = NaN;
    x[5000] = Infinity;
    expect(Array.from(await argmax(rt().tensor(f32(x), [9000])).read())).toEqual([7777]);
    x[300] = NaN;
    expect(Array.from(await argmax(rt().tensor(f32(x), [9000])).read())).toEqual([300]);
    x[255] = NaN;
    expect(Array.from(await argmax(rt().tensor(f32(x), [9000])).read())).toEqual([255]);
  });

  it('has no gradient, and rejects bad inputs before any dispatch', () => {
    const x = rt().zeros([3, 4]);
    const a = argmax(x);
    expect(() => grad(a, [x], rt().ones([3]))).toThrow(FoveaError);
    expect(() => grad(a, [x], rt().ones([3]))).toThrow(/cannot differentiate through argmax: .*integer indices/);
    const before = rt().stats().dispatches;
    expect(() => argmax(rt().zeros([3, 4], 'i32'))).toThrow(ShapeError);
    expect(() => argmax(rt().zeros([3, 0]))).toThrow(/argmax: axis 1 of \[3, 0\] is empty/);
    expect(() => argmax(rt().zeros([]))).toThrow(/argmax: needs at least one dimension/);
    expect(() => argmax(x, 2)).toThrow(/argmax: axis 2 out of range for rank 2/);
    expect(() => argmax(x, -3)).toThrow(ShapeError); // as any other bad option of an op
    expect(rt().stats().dispatches).toBe(before);
  });
});
