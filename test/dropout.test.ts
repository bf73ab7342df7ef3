// dropout: the generator against Threefry's published known-answer vectors, the GPU's masks
// bit for bit against the float64 reference's on awkward sizes, the statistics of the masks,
// the gradient through the same mask, a new mask per run of a compiled program (replayed by a
// generator of the same seed), eager values computed again with their own mask, and errors.
import { describe, expect, it } from 'vitest';
import { dropout, dropout2d, Generator, grad, mul, ShapeError, sum } from '../src/index.js';
import { expectSame, f32, Rng, thrown, useRuntime } from './helpers.js';
import { refDropoutKeep, threefry2x32 } from './references.js';

const rt = useRuntime();

/** x · mask in f32 for the mask under key [seed, offset]: 1/(1 − p) where kept, else 0 (−0 for x < 0, as PyTorch's). */
function expected(x: Float64Array, seed: number, offset: number, p: number): Float32Array {
  const scale = Math.fround(1 / (1 - p));
  return f32(refDropoutKeep(seed, offset, x.length, p).map((k, i) => Math.fround(x[i]! * (k ? scale : 0))));
}

describe('dropout', () => {
  it("the reference generator gives Random123's known answers for Threefry-2x32-20", () => {
    // Random123's kat_vectors (also JAX's threefry_2x32 test): key, counter → output.
    expect(threefry2x32(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });

  it('masks x exactly as the reference, on odd sizes and any p, and the gradient takes the same mask', async () => {
    const rng = new Rng(41);
    const cases: [shape: number[], p: number, seed: number][] = [
      [[1], 0.5, 0],
      [[7], 0.1, 1],
      [[3, 5, 7], 1 / 3, 2 ** 32 - 1],
      [[2, 1, 9, 11], 0.9, 12345],
      [[1001], 0.25, 7],
    ];
    for (const [shape, p, seed] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const xs = rng.array(n);
      const r = rng.array(n);
      const gen = new Generator(seed);
      gen.offset = rng.int(0, 1000);
      const offset = gen.offset;
      const x = rt().tensor(f32(xs), shape, { requiresGrad: true });
      const y = dropout(x, p, { generator: gen });
      expect(gen.offset).toBe(offset + 1);
      const want = expected(xs, seed, offset, p);
      expectSame(await y.read(), want, `dropout ${JSON.stringify(shape)} p ${p}`);
      // d/dx Σ y·r = r · mask.
      const [gx] = grad(sum(mul(y, rt().tensor(f32(r), shape))), [x]);
      expectSame(await gx!.read(), expected(r, seed, offset, p), `dropout gradient ${JSON.stringify(shape)}`);
    }
  });

  it('dropout2d zeroes whole channels of each sample, with the mask dropout draws for [N, C], and its gradient', async () => {
    const [N, C, H, W] = [3, 5, 4, 7];
    const xs = new Rng(12).array(N * C * H * W);
    const x = rt().tensor(f32(xs), [N, C, H, W], { requiresGrad: true });
    const gen = new Generator(21);
    const y = dropout2d(x, 0.4, { generator: gen });
    const keep = refDropoutKeep(21, 0, N * C, 0.4);
    const scale = Math.fround(1 / 0.6);
    const want = f32(Array.from(xs, (v, i) => Math.fround(v * (keep[Math.floor(i / (H * W))] ? scale : 0))));
    expectSame(await y.read(), want, 'dropout2d');
    expect(new Set(keep).size).toBe(2); // both kept and dropped channels
    const [gx] = grad(sum(y), [x]);
    expectSame(await gx!.read(), f32(Array.from(xs, (_, i) => (keep[Math.floor(i / (H * W))] ? scale : 0))), 'dropout2d gradient');
    expect(thrown(() => dropout2d(rt().zeros([2, 3, 4]), 0.5), ShapeError).message).toBe('dropout2d: needs a batch of images [N, C, H, W] (x [2, 3, 4] f32)');
  });

  it('keeps 1 − p of the elements, independently from one draw to the next', async () => {
    const n = 200_000;
    const p = 0.3;
    const gen = new Generator(3);
    const ones = rt().ones([n]);
    const [a, b] = await Promise.all([dropout(ones, p, { generator: gen }).read(), dropout(ones, p, { generator: gen }).read()]);
    const sigma = (q: number) => Math.sqrt((q * (1 - q)) / n);
    let keptA = 0;
    let both = 0;
    let neighbours = 0;
    for (let i = 0; i < n; i++) {
      keptA += a[i] ? 1 : 0;
      both += a[i] && b[i] ? 1 : 0;
      neighbours += a[i] && a[(i + 1) % n] ? 1 : 0;
    }
    // Within 5 standard deviations of the binomial's: a wrong threshold or a correlation fails.
    expect(Math.abs(keptA / n - (1 - p))).toBeLessThan(5 * sigma(1 - p));
    expect(Math.abs(both / n - (1 - p) ** 2)).toBeLessThan(5 * sigma((1 - p) ** 2));
    expect(Math.abs(neighbours / n - (1 - p) ** 2)).toBeLessThan(5 * sigma((1 - p) ** 2));
    expect(new Set(a).size).toBe(2);
    expect(Math.max(...a.slice(0, 100))).toBe(Math.fround(1 / (1 - p)));
  });

  it('draws a new mask on every run of a compiled program, and a generator of the same seed replays them', async () => {
    const shape = [4, 9];
    const xs = new Rng(5).array(36);
    const x = rt().tensor(f32(xs), shape);
    const gen = new Generator(99);
    const step = await rt().compile(({ x }) => ({ y: dropout(x!, 0.5, { generator: gen }) }), { x: shape });
    expect(gen.offset).toBe(0); // tracing draws nothing
    const runs: Float32Array[] = [];
    for (let i = 0; i < 3; i++) runs.push((await step.run({ x }).y!.read()) as Float32Array);
    expect(gen.offset).toBe(3);
    runs.forEach((y, i) => expectSame(y, expected(xs, 99, i, 0.5), `run ${i}`));
    expect(runs[0]).not.toEqual(runs[1]);
    // Eager draws of a generator of the same seed give the same masks, in the same order.
    const again = new Generator(99);
    for (let i = 0; i < 3; i++) expectSame(await dropout(x, 0.5, { generator: again }).read(), runs[i]!, `replay ${i}`);
    step.dispose();
  });

  it('an eager value and a gradient computed later from it share one mask', async () => {
    const xs = new Rng(8).array(50, 0.5, 1);
    const x = rt().tensor(f32(xs), [50], { requiresGrad: true });
    const gen = new Generator(11);
    const y = dropout(x, 0.5, { generator: gen });
    const h = mul(y, 3);
    const hv = await h.read();
    // backward() after the values were read: the mask, not kept, is computed again.
    const [gx] = grad(sum(h), [x]);
    const g = await gx!.read();
    const keep = refDropoutKeep(11, 0, 50, 0.5);
    keep.forEach((k, i) => {
      expect(hv[i] !== 0, `element ${i}`).toBe(k);
      expect(g[i], `gradient ${i}`).toBe(k ? 6 : 0);
    });
  });

  it('p = 0 and training: false give x itself; p = 1 gives zeros and a zero gradient', async () => {
    const x = rt().tensor([1, -2, 3], { requiresGrad: true });
    expect(dropout(x, 0)).toBe(x);
    expect(dropout(x, 0.5, { training: false })).toBe(x);
    const y = dropout(x, 1);
    expect(Array.from(await y.read())).toEqual([0, -0, 0]);
    const [gx] = grad(sum(y), [x]);
    expect(Array.from(await gx!.read())).toEqual([0, 0, 0]);
    // x itself or not, a disposed x is refused at the call, as any op's input.
    const image = x.reshape(1, 3, 1, 1);
    image.dispose();
    x.dispose();
    for (const f of [() => dropout(x, 0), () => dropout(x, 0.5, { training: false }), () => dropout2d(image, 0)]) expect(f).toThrow(/^dropout(2d)?: .*was disposed$/);
  });

  it('refuses a p outside [0, 1], an integer tensor, unknown options and bad seeds, naming the op', () => {
    const x = rt().tensor([1, 2, 3]);
    const msg = (f: () => unknown) => thrown(f, ShapeError).message;
    expect(msg(() => dropout(x, 1.5))).toBe('dropout: p must be a probability in [0, 1], got 1.5 (x [3] f32)');
    expect(msg(() => dropout(x, NaN))).toMatch(/^dropout: p must be a probability in \[0, 1\], got NaN/);
    expect(msg(() => dropout(rt().tensor([1], { dtype: 'i32' })))).toBe('dropout: needs an f32 tensor (x [1] i32)');
    expect(msg(() => dropout(x, 0.5, { train: true } as never))).toMatch(/^dropout: unknown option 'train'/);
    expect(msg(() => dropout(x, 0.5, { training: 'yes' } as never))).toMatch(/^dropout: training must be true or false, got "yes"/);
    expect(msg(() => dropout(x, 0.5, { generator: 3 } as never))).toMatch(/^dropout: generator must be a Generator, got 3/);
    expect(thrown(() => new Generator(-1), RangeError).message).toBe('Generator: the seed must be an integer in [0, 2^32), got -1');
    expect(thrown(() => new Generator(2 ** 32), RangeError).message).toMatch(/^Generator: the seed must be an integer/);
  });
});
