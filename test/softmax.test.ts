// softmax along any axis against a float64 reference, with its gradient checked against the
// reference's analytic gradient and finite differences (checkOp); huge logits (stability);
// the gradient's own gradient (it is composed of differentiable ops); errors.
import { describe, expect, it } from 'vitest';
import { grad, mul, ShapeError, softmax, sum } from '../src/index.js';
import { checkOp, expectClose, f32, Rng, useRuntime } from './helpers.js';
import { refSoftmax, refSoftmaxGrad } from './references.js';

const rt = useRuntime();

async function check(rng: Rng, shape: number[], axis: number, range: [number, number] = [-3, 3]): Promise<void> {
  const a = axis < 0 ? axis + shape.length : axis;
  await checkOp(rt(), rng, {
    name: `softmax [${shape}] axis ${axis}`,
    shapes: [shape],
    range,
    gpu: ([x]) => softmax(x!, axis),
    ref: ([x]) => refSoftmax(x!, shape, a),
    refGrad: ([x], r) => [refSoftmaxGrad(x!, r, shape, a)],
    tol: 1e-6,
    gradTol: 1e-5,
  });
}

describe('softmax', () => {
  it('matches float64 along the last axis, with gradients', async () => {
    const rng = new Rng(20);
    for (const shape of [[1], [1, 1], [3, 10], [50, 10], [2, 65], [130, 3]]) await check(rng, shape, -1);
  });

  it('matches float64 along every axis of 3-d and 4-d tensors, with gradients', async () => {
    const rng = new Rng(21);
    for (const axis of [0, 1, 2]) await check(rng, [4, 5, 6], axis);
    for (const axis of [0, 1, 2, 3]) await check(rng, [2, 3, 4, 5], axis);
    for (let t = 0; t < 5; t++) {
      const shape = Array.from({ length: rng.int(1, 4) }, () => rng.int(1, 7));
      await check(rng, shape, rng.int(-shape.length, shape.length - 1));
    }
  });

  it('shares a long line among a team of invocations, several lines to a workgroup or one', async () => {
    // Teams (softmax.ts): 1 invocation up to 32 values, then 1 per 32 up to 256. [65, 40]: teams
    // of 2, 32 lines to a workgroup of 64, the third workgroup one line; [3, 1000]: teams of 32,
    // the second workgroup half idle; [2, 1000, 3] along 1: strided lines; [9000]: 256 of one
    // workgroup.
    const rng = new Rng(24);
    const cases: [number[], number][] = [[[3, 32], 1], [[5, 33], 1], [[65, 40], 1], [[7, 100], -1], [[3, 1000], 1], [[2, 1000, 3], 1], [[9000], 0]];
    for (const [shape, axis] of cases) await check(rng, shape, axis);
  });

  it('keeps f32 precision along a line of a million, and past 2^24 equal values', async () => {
    // A team of 256 sums a line, each member 4,000 to 82,000 values: a plain running sum was off
    // by 9e-5 here, and stopped growing at 2^24 ones (every output of a line of 2^24 + 2^22 zeros
    // was 1/2^24: 25% too large). On an NVIDIA H200, one invocation walking that line ran past
    // 120 s and the device was lost.
    const rng = new Rng(23);
    const n = 1_000_000;
    const x = rng.array(n, -2, 0);
    expectClose(await softmax(rt().tensor(f32(x), [1, n])).read(), refSoftmax(x, [1, n], 1), 1e-6, 'a line of 1e6');
    const long = 2 ** 24 + 2 ** 22;
    const y = await softmax(rt().zeros([long])).read();
    expect(Math.abs(y[0]! * long - 1)).toBeLessThan(1e-6);
    expect(Math.abs(y[long - 1]! * long - 1)).toBeLessThan(1e-6);
  });

  it('is stable for logits far beyond exp’s f32 range', async () => {
    const rng = new Rng(22);
    const shape = [8, 12];
    const x = rng.array(96, -1000, 1000);
    x[5] = 3e38; // the largest finite f32 neighbourhood
    x[17] = -3e38;
    const y = await softmax(rt().tensor(f32(x), shape)).read();
    expectClose(y, refSoftmax(x, shape, 1), 1e-6, 'softmax of huge logits');
    for (let b = 0; b < 8; b++) {
      const row = Array.from(y.subarray(b * 12, (b + 1) * 12));
      expect(Math.abs(row.reduce((s, v) => s + v, 0) - 1), `row ${b} sums to 1`).toBeLessThan(1e-6);
    }
    // Lines shared by teams of 32 and 256 invocations: the line's maximum combines the members'.
    for (const shape of [[3, 1000], [1, 9000]]) {
      const wide = rng.array(shape[0]! * shape[1]!, -1000, 1000);
      expectClose(await softmax(rt().tensor(f32(wide), shape)).read(), refSoftmax(wide, shape, 1), 1e-6, `softmax of ±1000 [${shape}]`);
    }
    // The maximum last in its line, along the last axis and along another.
    expectClose(await softmax(rt().tensor([[0, 1000, 0], [0, -5, 1000]])).read(), [0, 1, 0, 0, 0, 1], 1e-6, 'max last in a row');
    expectClose(await softmax(rt().tensor([[0, 0], [1000, 1000]]), 0).read(), [0, 0, 1, 1], 1e-6, 'max last in a column');
    // A line far below zero throughout (exp of every logit underflows unless the max is taken).
    const low = [-1000, -1001, -1002];
    const want = [1, Math.exp(-1), Math.exp(-2)].map((v, _, a) => v / (a[0]! + a[1]! + a[2]!));
    expectClose(await softmax(rt().tensor([low, [0, 1, 2]])).read(), [...want, ...[...want].reverse()], 1e-6, 'a very negative row');
    expectClose(await softmax(rt().tensor([[-1000], [-1001], [-1002]]), 0).read(), want, 1e-6, 'a very negative column');
  });

  it('has a differentiable gradient (second derivatives of one softmax entry)', async () => {
    // f(x) = softmax(x)_0 for x of length 3: df/dx0 = y0(1−y0), whose gradient is
    // (1−2y0)·y0·(δ0j − yj), by hand.
    const x = Float64Array.of(0.3, -0.2, 0.5);
    const t = rt().tensor(f32(x), [3]);
    const onlyFirst = rt().tensor(Float32Array.of(1, 0, 0), [3]);
    const f = sum(mul(softmax(t), onlyFirst));
    const [g] = grad(f, [t]);
    const [h] = grad(sum(mul(g!, onlyFirst)), [t]);
    const y = refSoftmax(x, [3], 0);
    const y0 = y[0]!;
    expectClose(await h!.read(), Array.from(y, (yj, j) => (1 - 2 * y0) * y0 * ((j === 0 ? 1 : 0) - yj)), 1e-5, 'd²y0/dx0 dxj');
  });

  it('names the problem: dtype, scalar, axis', () => {
    expect(() => softmax(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(ShapeError);
    expect(() => softmax(rt().tensor(Float32Array.of(1), []))).toThrow(/scalar/);
    expect(() => softmax(rt().zeros([2, 3]), 2)).toThrow(/axis 2 out of range for rank 2/);
  });
});
