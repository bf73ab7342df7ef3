// Elementwise ops and reductions against float64 references, with broadcasting.
import { describe, expect, it } from 'vitest';
import { add, affine, broadcastTo, div, exp, grad, max, maximum, mean, min, mul, neg, pow, relu, scale, ShapeError, sub, sum, sumTo, TensorStateError, type Tensor } from '../src/index.js';
import { sumOp } from '../src/ops/reduce.js';
import type { DispatchSpec } from '../src/runtime/op.js';
import { dot, expectClose, expectGradMatchesFD, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { refBinary, refMax, refSum } from './references.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

const CASES: [number[], number[]][] = [
  [[7], [7]],
  [[3, 5], [5]],
  [[2, 1, 4], [3, 1]],
  [[1], [2, 3, 5]],
  [[1, 3, 1, 5], [2, 1, 7, 1]],
  [[6, 1], [1, 9]],
  // Ranks 5 to 8: dimensions 4–7 sit in the second vec4 of the kernel's shape and strides.
  [[2, 1, 3, 1, 2], [1, 2, 1, 3, 1]],
  [[3, 1, 1, 1, 1, 2], [4, 1, 1, 1, 1]],
  [[2, 1, 2, 1, 2, 1, 2, 1], [1, 2, 1, 2, 1, 2, 1, 3]],
  [[2, 3, 1, 1, 2, 1, 1, 2], [2]],
  // Rank 10, walked as 3 runs of axes broadcast alike.
  [[2, 3, 1, 1, 2, 2, 1, 1, 1, 3], [1, 1, 2, 2, 1, 1, 1, 1, 1, 1]],
];

describe('binary ops with broadcasting', () => {
  const fns = [
    ['add', add],
    ['sub', sub],
    ['mul', mul],
  ] as const;
  for (const [name, op] of fns) {
    it(`${name}: forward and gradients`, async () => {
      const rng = new Rng(name.length * 101);
      for (const [as, bs] of CASES) {
        const a = rng.array(as.reduce((x, y) => x * y, 1));
        const b = rng.array(bs.reduce((x, y) => x * y, 1));
        const ref = refBinary(name, as, bs);
        const ta = rt().tensor(f32(a), as);
        const tb = rt().tensor(f32(b), bs);
        const out = op(ta, tb);
        expect(out.shape).toEqual(ref.shape);
        expectClose(await out.read(), ref.forward(a, b), 1e-6, `${name} ${as} ${bs}`);
        // Gradients: loss = sum(out · r).
        const r = rng.array(out.size);
        const loss = sum(mul(out, rt().tensor(f32(r), ref.shape)));
        const [ga, gb] = grad(loss, [ta, tb]);
        const lossA = (x: Float64Array) => dot(ref.forward(x, b), r);
        const lossB = (y: Float64Array) => dot(ref.forward(a, y), r);
        const fdA = numericGrad(lossA, a);
        const fdB = numericGrad(lossB, b);
        // The op is (bi)linear, so central differences are exact up to rounding.
        expectClose(await ga!.read(), fdA, 1e-5, `${name} grad a ${as} ${bs}`);
        expectClose(await gb!.read(), fdB, 1e-5, `${name} grad b ${as} ${bs}`);
      }
    });
  }
});

describe('a number as either operand, as PyTorch takes `1 - x` or `x / 2`', () => {
  const fns = { add, sub, mul, div } as const;
  for (const [name, op] of Object.entries(fns) as [keyof typeof fns, (a: Tensor | number, b: Tensor | number) => Tensor][]) {
    it(`${name}: values as torch's (+, −, · rounded once), gradients, in a compiled program`, async () => {
      const rng = new Rng(name.length * 7);
      const shape = [3, 5];
      // Away from 0: the number may divide by them.
      const x = f32(rng.array(15).map((v) => v + Math.sign(v) * 0.5));
      const c = 0.37; // not an f32: taken as torch takes it, rounded to one
      const t = rt().tensor(x, shape);
      for (const [side, out] of [['right', op(t, c)], ['left', op(c, t)]] as const) {
        const [as, bs] = side === 'right' ? [shape, []] : [[], shape];
        const ref = refBinary(name, as, bs);
        const [a, b] = side === 'right' ? [Float64Array.from(x), Float64Array.of(Math.fround(c))] : [Float64Array.of(Math.fround(c)), Float64Array.from(x)];
        const want = ref.forward(a, b);
        const got = await out.read();
        if (name === 'div') expectClose(got, want, 1e-6, `${name} ${side}`);
        else expect(Array.from(got), `${name} ${side}`).toEqual(Array.from(want, Math.fround));
        const [g] = grad(sum(out), [t]);
        const [ga, gb] = ref.grad(a, b, new Float64Array(15).fill(1));
        expectClose(await g!.read(), side === 'right' ? ga! : gb!, 1e-6, `${name} ${side} gradient`);
      }
      const program = await rt().compile(({ x }) => ({ y: op(op(x!, c), 2) }), { x: shape });
      const y = await program.run({ x }).y!.read();
      expectClose(y, Array.from(x, (v) => refBinary(name, [], []).forward(refBinary(name, [], []).forward(Float64Array.of(v), Float64Array.of(Math.fround(c))), Float64Array.of(2))[0]!), 1e-6, `${name} compiled`);
    });
  }

  it("a program's kernels name the function each dispatch applies, and each function is a pipeline of its own", async () => {
    const before = rt().stats().pipelinesCreated;
    const p = await rt().compile(({ x }) => ({ y: maximum(exp(x!), pow(x!, 2)), z: relu(x!) }), { x: [3] });
    // (Less the fills that poison freed buffers in the tests' debug mode.)
    expect(p.stats.kernels.filter((k) => k !== 'fill.wgsl:main')).toEqual(['unary.wgsl:main[exp]', 'unary.wgsl:main[pow_square]', 'binary.wgsl:main[maximum]', 'unary.wgsl:main[relu]']);
    expect(rt().stats().pipelinesCreated - before).toBeLessThanOrEqual(4);
    expectClose(await p.run({ x: [-1, 0, 2] }).y!.read(), [1, 1, Math.exp(2)], 1e-6, 'max(eˣ, x²)');
  });

  it('each value is uploaded once, however many ops are given it; −0 and 0 are two values', async () => {
    const x = rt().tensor([1, 2]);
    const used = () => rt().stats().inUseBytes;
    const c = 10 + Math.random(); // a value no other test gave
    const before = used();
    add(x, c);
    const one = used() - before;
    expect(one).toBeGreaterThan(0);
    for (const y of [mul(c, x), sub(x, c), div(c, x), add(x, c)]) expect(y.shape).toEqual([2]);
    expect(used() - before).toBe(one);
    add(x, -c);
    expect(used() - before).toBe(2 * one);
    const [zero, negZero] = await Promise.all([mul(x, 0).read(), mul(x, -0).read()]);
    expect([Object.is(zero[0], 0), Object.is(negZero[0], -0)]).toEqual([true, true]);
    // What an op's record shows of the number can be neither written nor disposed for others.
    const two = mul(x, 2).op!.inputs[1]!;
    expect(() => two.write([5])).toThrow(new TensorStateError('write: tensor [] f32 is the number 2 given as an operand, a constant'));
    two.dispose();
    expect(Array.from(await mul(x, 2).read())).toEqual([2, 4]);
  });

  it('two numbers are no op: a TypeError says a tensor is needed; an integer tensor is named with the number', () => {
    expect(() => add(1, 2)).toThrow(new TypeError('add: a or b must be a Tensor, got the numbers 1 and 2'));
    expect(() => add(rt().tensor([1]), 'a' as never)).toThrow(new TypeError('add: b must be a Tensor or a number, got the string "a"'));
    expect(() => sub(rt().tensor([1, 2], undefined, { dtype: 'i32' }), 1)).toThrow(new ShapeError('sub', 'needs f32 tensors, got tensor [2] i32 and the number 1', [[2]]));
  });
});

function numericGrad(f: (x: Float64Array) => number, x: Float64Array): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + 1e-3;
    const up = f(x);
    x[i] = v - 1e-3;
    const down = f(x);
    x[i] = v;
    g[i] = (up - down) / 2e-3;
  }
  return g;
}

describe('reductions', () => {
  const shapes: [number[], number[]][] = [
    [[13], [0]],
    [[4, 7], [1]],
    [[4, 7], [0]],
    [[3, 5, 6], [0, 2]],
    [[2, 3, 4, 5], [1, 2]],
    [[2, 3, 4, 5], [0, 1, 2, 3]],
    [[1, 130], [1]],
    [[50, 32, 196], [0, 2]],
    [[6, 5, 7, 9], [0, 2, 3]],
    [[7, 3, 33], [0, 2]],
  ];
  it.each([
    ['as on a CPU adapter', cpuSplit],
    ['as on a GPU (some sums in two stages)', gpuSplit],
  ] as const)('sum over any axes matches float64 and its gradient, work split %s', async (_, rt) => {
    const rng = new Rng(7);
    for (const [shape, axes] of shapes) {
      const n = shape.reduce((x, y) => x * y, 1);
      const x = rng.array(n);
      const outShape = shape.filter((_, i) => !axes.includes(i));
      const ref = refSum(shape, axes);
      const t = rt().tensor(f32(x), shape);
      const s = sum(t, axes);
      expect(s.shape).toEqual(outShape);
      expectClose(await s.read(), ref.forward(x), 1e-5, `sum ${shape} over ${axes}`);
      const r = rng.array(Math.max(1, outShape.reduce((a, b) => a * b, 1)));
      const [g] = grad(sum(mul(s, rt().tensor(f32(r), outShape))), [t]);
      const analytic = ref.grad(r);
      expectGradMatchesFD((v) => dot(ref.forward(v), r), x, analytic, `sum ${shape}`, rng);
      expectClose(await g!.read(), analytic, 1e-6, `sum grad ${shape} over ${axes}`);
    }
  });

  it.each([
    ['as on a CPU adapter', cpuSplit],
    ['as on a GPU', gpuSplit],
  ] as const)('a long sum keeps f32 precision (blocked partial sums), and infinities and NaN come through, work split %s', async (_, rt) => {
    // 0.1f two million times: a plain running sum per invocation is off by 2.2e-4 here (as is a
    // compensated one whose error terms the compiler folded away); the blocked sum by 1.5e-8.
    const n = 2_000_000;
    const x = rt().tensor(new Float32Array(n).fill(0.1), [n]);
    const exact = n * Math.fround(0.1);
    const got = (await sum(x).read())[0]!;
    expect(Math.abs(got - exact) / exact).toBeLessThan(3e-7);
    const [inf, nan, both] = await Promise.all(
      [[Infinity, 1, 2, 3], [1, NaN, 3, 4, 5], [Infinity, -Infinity]].map(async (v) => (await sum(rt().tensor(v)).read())[0]),
    );
    expect(inf).toBe(Infinity);
    expect(nan).toBeNaN();
    expect(both).toBeNaN();
  });

  it('on a GPU, a sum into few outputs over axes apart first sums the trailing ones, keeping dimensions as asked', async () => {
    const kernels = async (r: typeof rt, keepDims: boolean) => {
      const p = await r().compile(() => ({ s: sum(r().ones([50, 20, 8, 8]), [0, 2, 3], keepDims) }));
      const out = (await p.run()).s!;
      return { kernels: p.stats.kernels.filter((k) => k.startsWith('reduce.wgsl:sum')).length, shape: out.shape, values: [...(await out.read())] };
    };
    const values = Array(20).fill(50 * 64);
    // 20 outputs keep a CPU driver's threads busy; a GPU needs far more.
    expect(await kernels(cpuSplit, false)).toEqual({ kernels: 1, shape: [20], values });
    expect(await kernels(gpuSplit, false)).toEqual({ kernels: 2, shape: [20], values });
    expect(await kernels(gpuSplit, true)).toEqual({ kernels: 2, shape: [1, 20, 1, 1], values });
  });

  it.each([
    ['a GPU', gpuSplit, 64],
    ['a CPU adapter', cpuSplit, 8],
  ] as const)('a sum leaves out axes of size 1, so the second stage of a two-stage sum still shares its long axis, on %s among %i invocations', (_, r, wg) => {
    const dispatches: DispatchSpec[] = [];
    const x = r().zeros([4096, 16, 1, 1]); // a first stage's result, its summed axes kept as 1s
    const attrs = { axes: [0, 2, 3], keepDims: false };
    sumOp.encode!({ limits: r().limits, dispatch: (d) => dispatches.push(d) }, [x], r().zeros([16]), attrs);
    expect(dispatches).toHaveLength(1);
    expect(dispatches[0]!.constants).toEqual({ WG: wg });
    expect(dispatches[0]!.params).toMatchObject({ n_out: 16, inner: 4096, inner_stride: 16, n_outer: 1 });
  });

  it.each([
    ['a GPU', gpuSplit],
    ['a CPU adapter', cpuSplit],
  ] as const)('sums and maxima of a few values each (up to 128) take one invocation per output, on %s, with their gradients', async (_, r) => {
    const rng = new Rng(21);
    // Last axes of 1, 4 and 128, a middle axis of 64 (strided), two axes of 7: many outputs each.
    for (const [shape, axes] of [[[3001, 1], [1]], [[2999, 4], [1]], [[33, 128], [1]], [[65, 64, 17], [1]], [[9, 13, 7, 7], [2, 3]]] as [number[], number[]][]) {
      const xs = rng.array(shape.reduce((a, b) => a * b, 1));
      // Ties in the first line, whose maximum's gradient then splits.
      const width = shape.slice(axes[0]).reduce((a, b) => a * b, 1);
      if (width > 1) xs[1] = xs[0] = 2;
      const x = r().tensor(f32(xs), shape);
      const what = `[${shape}] over [${axes}]`;
      const p = await r().compile(() => ({ s: sum(x, axes, true), m: max(x, axes, true) }));
      // A sum over an axis of 1 is an elementwise copy, no reduction.
      const sums = shape[axes[0]!] === 1 ? [] : ['reduce.wgsl:sum_short'];
      expect(p.stats.kernels.filter((k) => k.startsWith('reduce.wgsl')), what).toEqual([...sums, 'reduce.wgsl:amax_short']);
      const [rs, rm] = [refSum(shape, axes), refMax(shape, axes)];
      const out = p.run();
      expectClose(await out.s!.read(), rs.forward(Float64Array.from(f32(xs))), 1e-6, `sum ${what}`);
      expectClose(await out.m!.read(), rm.forward(Float64Array.from(f32(xs))), 0, `max ${what}`);
      const w = rng.array(rm.kept.reduce((a, b) => a * b, 1));
      const [gm] = grad(sum(mul(max(x, axes, true), r().tensor(f32(w), rm.kept))), [x]);
      expectClose(await gm!.read(), rm.grad(Float64Array.from(f32(xs)), Float64Array.from(f32(w))), 1e-6, `max's gradient ${what}`);
    }
  });

  it("a sum over axes of size 1 alone is one elementwise pass, a copy of x (−0 summed is +0, as PyTorch's), and its gradient the output's reshaped", async () => {
    const rng = new Rng(22);
    for (const [shape, axes, keep] of [[[7, 1, 3], [1], false], [[7, 1, 3], [1], true], [[1, 1], undefined, false], [[5, 1], [-1], true]] as [number[], number[] | undefined, boolean][]) {
      const xs = f32(rng.array(shape.reduce((a, b) => a * b, 1)));
      xs[0] = -0;
      const x = rt().tensor(xs, shape);
      const p = await rt().compile(() => ({ s: sum(x, axes, keep) }));
      const want = keep ? shape : axes ? shape.filter((_, i) => !axes.map((a) => (a + shape.length) % shape.length).includes(i)) : [];
      expect(p.stats.kernels, `[${shape}] over ${axes}`).toEqual(['binary.wgsl:main[add]']);
      const s = p.run().s!;
      expect(s.shape).toEqual(want);
      expect(await s.read()).toEqual(Float32Array.from(xs, (v) => v + 0));
      expect(Object.is((await s.read())[0], 0)).toBe(true);
      // Not a view: x written afterwards leaves the sum as it was.
      rt().write(x, f32(rng.array(xs.length)));
      expect(await s.read()).toEqual(Float32Array.from(xs, (v) => v + 0));
      const w = f32(rng.array(xs.length));
      const [g] = grad(sum(mul(sum(x, axes, keep), rt().tensor(w, want))), [x]);
      expect(await g!.read()).toEqual(w);
    }
  });

  it('an axis named twice, or an empty axis list, is refused', () => {
    const x = rt().zeros([2, 3]);
    expect(() => sum(x, [0, -2])).toThrow(/sum: axes \[0, -2\] name an axis of \[2, 3\] twice/);
    expect(() => mean(x, [])).toThrow(/mean: no axes given for \[2, 3\]; omit them to reduce every axis/);
  });

  it('axes of another kind, options in place of keepDims, and a factor that is no number are refused', () => {
    const x = rt().zeros([2, 3]);
    // Read as true, { keepdim: false } would keep the axis; '1'.map is no function.
    expect(() => sum(x, 1, { keepdim: false } as never)).toThrow(/^sum: keepDims must be true or false, got an object/);
    expect(() => sum(x, '1' as never)).toThrow(/^sum: axes must be a number or an array of numbers, got "1"/);
    expect(() => mean(x, ['1'] as never)).toThrow(/^mean: axis "1" is not an integer/);
    expect(() => sum(x, [0.5])).toThrow(/^sum: axis 0\.5 is not an integer/);
    expect(() => affine(x, undefined as never)).toThrow(new TypeError('affine: alpha must be a number, got undefined'));
    expect(() => scale(x, '2' as never)).toThrow(new TypeError('scale: the factor must be a number, got "2"'));
  });

  it('mean divides by the reduced count; over an empty axis it is NaN, as in PyTorch', async () => {
    const x = rt().tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expectClose(await mean(x, 1).read(), [2, 5], 1e-7, 'mean rows');
    expectClose(await mean(x).read(), [3.5], 1e-7, 'mean all');
    expect(Array.from(await mean(rt().zeros([0, 3]), 0).read())).toEqual([NaN, NaN, NaN]);
    expect(Array.from(await sum(rt().zeros([0, 3]), 0).read())).toEqual([0, 0, 0]);
  });

  it('a sum keeping more than four separate axes (a rank-9 tensor)', async () => {
    // Kept axes past the fourth sit in the second vec4 of the kernel's shape and strides.
    const shape = [2, 3, 2, 3, 2, 3, 2, 3, 2];
    const axes = [1, 3, 5, 7];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: n }, (_, i) => ((i * 7) % 11) - 5);
    const outShape = shape.filter((_, i) => !axes.includes(i));
    const want = refSum(shape, axes).forward(Float64Array.from(x));
    const s = sum(rt().tensor(x, shape), axes);
    expect(s.shape).toEqual(outShape);
    expectClose(await s.read(), want, 0, 'rank-9 sum'); // small integers: exact
  });

  it('ranks past 8: an op whose axes alternate at most 8 times runs, more is refused as recorded, naming the shapes; a sum that runs has its gradient', async () => {
    const shape = [2, 1, 3, 1, 1, 2, 1, 1, 1, 2];
    const x = rt().tensor(f32(Array.from({ length: 24 }, (_, i) => i)), shape);
    const [g] = grad(mean(mul(x, x)), [x]); // sum's gradient broadcasts back to rank 10
    expectClose(await g!.read(), Array.from({ length: 24 }, (_, i) => (2 * i) / 24), 1e-6, 'rank-10 gradient of a mean');
    const [a, b] = [rt().zeros([2, 1, 2, 1, 2, 1, 2, 1, 2]), rt().zeros([1, 2, 1, 2, 1, 2, 1, 2, 1])];
    expect(() => add(a, b)).toThrow('add: shapes [2, 1, 2, 1, 2, 1, 2, 1, 2] and [1, 2, 1, 2, 1, 2, 1, 2, 1] alternate between broadcast and not over 9 runs of axes, more than the supported 8');
    // A reduction is refused as it is recorded where kept and reduced axes alternate too often,
    // and takes any rank where size-1 axes leave few runs.
    const x18 = rt().zeros(new Array(18).fill(2));
    const every2nd = [0, 2, 4, 6, 8, 10, 12, 14, 16];
    expect(() => sum(x18, every2nd)).toThrow('sum: axes [0, 2, 4, 6, 8, 10, 12, 14, 16] of [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2] alternate between kept and reduced over more than the supported 8 runs of axes each');
    expect(() => max(x18, every2nd.slice(1))).toThrow(/^max: axes \[2, .* runs of axes each/);
    const ones = [2, 1, 3, 1, 2, 1, 2, 1, 3, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2];
    const y = rt().tensor(f32(Array.from({ length: 2 ** 8 * 9 }, (_, i) => i % 7)), ones);
    const yAxes = ones.map((_, i) => i).filter((i) => i % 4 === 0);
    expectClose(await sum(y, yAxes).read(), refSum(ones, yAxes).forward(Float64Array.from(await y.read())), 0, 'rank-19 sum over 5 axes');
    // A sum that runs has a gradient, though broadcasting it back alternates over 17 runs.
    const x17 = rt().tensor(f32(Array.from({ length: 2 ** 17 }, (_, i) => i % 5)), new Array(17).fill(2));
    const even = every2nd.slice(0, 9);
    const seed = rt().tensor(f32(Array.from({ length: 2 ** 8 }, (_, i) => i)), new Array(8).fill(2));
    const [g17] = grad(sum(x17, even), [x17], seed);
    // Element i of x goes to output position (the bits of i at odd axes), which the seed numbers.
    const want = Array.from({ length: 2 ** 17 }, (_, i) => [15, 13, 11, 9, 7, 5, 3, 1].reduce((o, bit) => 2 * o + ((i >> bit) & 1), 0));
    expectClose(await g17!.read(), want, 0, 'rank-17 gradient of a sum over every other axis');
  });

  it("a max that runs has its gradient where broadcasting it back alternates over more than 8 runs", async () => {
    // Kept and reduced axes alternate 5 times each: amax runs them; mul(weights, g) alone would
    // broadcast g over 10 runs and be refused, naming a mul the caller never wrote.
    const shape = [2, 3, 2, 3, 2, 3, 2, 3, 2, 3];
    const n = 2 ** 5 * 3 ** 5;
    const x = rt().tensor(f32(Array.from({ length: n }, (_, i) => (i * 7919) % 1009)), shape);
    const axes = [1, 3, 5, 7, 9];
    const seed = rt().tensor(f32(Array.from({ length: 32 }, (_, i) => i + 1)), [2, 2, 2, 2, 2]);
    const [g] = grad(max(x, axes), [x], seed);
    const xs = Float64Array.from(await x.read());
    // The lines' maxima from the float64 reference, not from fovea's own max.
    const m = refMax(shape, axes).forward(xs);
    // Element i sits in output line (the digits of i at the even axes); its gradient is that
    // line's seed where it is the line's (untied) maximum, else 0.
    const want = Array.from({ length: n }, (_, i) => {
      let [rest, line, bit] = [i, 0, 0];
      for (let a = shape.length - 1; a >= 0; a--) {
        if (a % 2 === 0) line += (rest % 2) << bit++;
        rest = Math.floor(rest / shape[a]!);
      }
      return xs[i] === m[line] ? line + 1 : 0;
    });
    expectClose(await g!.read(), want, 0, 'rank-10 gradient of a max over every other axis');
  });

  it('a 0-d tensor reduces over all, or over axis 0 or -1, as in PyTorch, to itself', async () => {
    const x = rt().tensor(3);
    for (const y of [sum(x), sum(x, 0), mean(x, -1, true), max(x, [0]), sum(x, [], true)]) {
      expect(y.shape).toEqual([]);
      expect(await y.item()).toBe(3);
    }
    expect(() => sum(x, 1)).toThrow(/^sum: axis 1 out of range for a 0-d tensor \(it takes 0 or -1\)$/);
    expect(() => sum(x, [0, -1])).toThrow(/^sum: axes \[0, -1\] name an axis of \[\] twice$/);
  });

  it('mean with keepDims keeps the reduced axes, so centring broadcasts along them', async () => {
    const x = rt().tensor([1, 2, 3, 4, 5, 6, 7, 8, 12], [3, 3]);
    const m = mean(x, 1, true);
    expect(m.shape).toEqual([3, 1]);
    expectClose(await m.read(), [2, 5, 9], 1e-7, 'row means');
    // Square on purpose: a [3] mean would broadcast along the other axis without an error.
    expectClose(await sub(x, m).read(), [-1, 0, 1, -1, 0, 1, -2, -1, 3], 1e-6, 'centred rows');
    expect(mean(rt().zeros([2, 3, 4]), [0, 2], true).shape).toEqual([1, 3, 1]);
  });

  it('a broadcast operand gets a gradient of its own shape, which adds to its other gradients elementwise', async () => {
    const xs = [1, -2, 3];
    const x = rt().tensor(xs, [3, 1]);
    const B = rt().tensor(f32(new Rng(52).array(12)), [3, 4]);
    const [gx, gB] = grad(sum(add(x, B)), [x, B]);
    expect(gx!.shape).toEqual([3, 1]);
    expect(gB!.shape).toEqual([3, 4]);
    expect(Array.from(await gx!.read())).toEqual([4, 4, 4]);
    // x reaches the loss through a broadcast and through a product of its own shape.
    const [g] = grad(add(sum(add(x, B)), sum(mul(x, x))), [x]);
    expect(g!.shape).toEqual([3, 1]);
    expect(Array.from(await g!.read())).toEqual(xs.map((v) => 4 + 2 * v));
  });

  it('sumTo and broadcastTo take only shapes that broadcast to each other, as torch.sum_to_size and broadcast_to', async () => {
    const x = rt().tensor(f32(Array.from({ length: 24 }, (_, i) => i)), [4, 3, 2]);
    const s = sumTo(x, [3, 1]);
    expect(s.shape).toEqual([3, 1]);
    expect(Array.from(await s.read())).toEqual([76, 92, 108]); // Σ over i, k of 6i + 2j + k
    // The sum over the first axis has 6 values, as [2, 3] has: it must not be reshaped to it.
    expect(() => sumTo(x, [2, 3])).toThrow('sumTo: cannot sum [4, 3, 2] to [2, 3]: [4, 3, 2] is not [2, 3] broadcast');
    expect(() => sumTo(rt().zeros([2, 3]), [3, 2])).toThrow(/^sumTo: cannot sum \[2, 3\] to \[3, 2\]/);
    expect(broadcastTo(rt().zeros([3, 1]), [2, 3, 4]).shape).toEqual([2, 3, 4]);
    // x + zeros would broadcast the other way too, to a shape other than the one asked for.
    expect(() => broadcastTo(rt().zeros([2, 3]), [3])).toThrow('broadcastTo: cannot broadcast [2, 3] to [3]');
    expect(() => broadcastTo(rt().zeros([3]), [3, 2])).toThrow('broadcastTo: cannot broadcast [3] to [3, 2]');
    // A shape that is not an array of sizes, named by the function called.
    for (const [bad, got] of [[null, 'null'], [3, '3'], ['x', '"x"'], [NaN, 'NaN'], [{}, 'an object (options go after the shape)']] as const) {
      expect(() => sumTo(x, bad as never)).toThrow(new RangeError(`sumTo: a shape is an array of sizes, got ${got}`));
      expect(() => broadcastTo(x, bad as never)).toThrow(new RangeError(`broadcastTo: a shape is an array of sizes, got ${got}`));
    }
    expect(() => broadcastTo(x, [4, -1, 2])).toThrow(new RangeError('broadcastTo: invalid shape [4, -1, 2]'));
    expect(() => sumTo(x, [1.5])).toThrow(new RangeError('sumTo: invalid shape [1.5]'));
    // A result past the device's limits is named by broadcastTo, not the zeros it adds.
    expect(() => broadcastTo(rt().zeros([1]), [2 ** 31])).toThrow(/^broadcastTo: result \[2147483648\] f32 is 8589934592 bytes, over this device's limit/);
  });

  it('a sum with more outputs than workgroups per dimension', async () => {
    // One workgroup per output: past the limit the grid goes 2-D.
    const n = rt().limits.maxComputeWorkgroupsPerDimension + 4465;
    const x = rt().tensor(Float32Array.from({ length: 2 * n }, (_, i) => i % 7), [2, n]);
    const want = Float64Array.from({ length: n }, (_, j) => (j % 7) + ((n + j) % 7));
    expectClose(await sum(x, 0).read(), want, 0, `sum of [2, ${n}] over axis 0`);
  });
});

describe('large tensors', () => {
  it.each([
    ['as on a CPU adapter (a few hundred workgroups, each invocation walking many)', cpuSplit],
    ['as on a GPU (one element each: past 65535 workgroups the grid goes 2-D)', gpuSplit],
  ] as const)('binary and unary ops over more elements than one row of workgroups covers, laid out %s', async (_, rt) => {
    const n = rt().limits.maxComputeWorkgroupsPerDimension * 256 + 4096;
    const a = Float32Array.from({ length: n }, (_, i) => (i % 1024) - 512);
    const firstWrong = (got: ArrayLike<number>, f: (v: number) => number) => {
      for (let i = 0; i < got.length; i++) if (got[i] !== f(a[i]!)) return i;
      return -1;
    };
    const x = rt().tensor(a);
    expect(firstWrong(await add(x, rt().tensor([1])).read(), (v) => v + 1)).toBe(-1);
    expect(firstWrong(await relu(x).read(), (v) => Math.max(v, 0))).toBe(-1);
    expect(firstWrong(await mul(x, x).read(), (v) => v * v)).toBe(-1);
    x.dispose();
    // Broadcasting over four runs of axes of odd sizes, each invocation's walk carrying across
    // all of them (on a CPU adapter's layout), against the product worked out per element.
    const [sa, sb, so] = [[7, 1, 301, 53], [1, 11, 301, 1], [7, 11, 301, 53]];
    const va = Float32Array.from({ length: 7 * 301 * 53 }, (_, i) => (i % 97) - 48);
    const vb = Float32Array.from({ length: 11 * 301 }, (_, i) => (i % 13) / 4);
    const got = await mul(rt().tensor(va, sa), rt().tensor(vb, sb)).read();
    let wrong = -1;
    for (let i = 0; i < got.length && wrong < 0; i++) {
      const [n, c, h, w] = [Math.floor(i / (11 * 301 * 53)), Math.floor(i / (301 * 53)) % 11, Math.floor(i / 53) % 301, i % 53];
      if (got[i] !== Math.fround(va[(n * 301 + h) * 53 + w]! * vb[c * 301 + h]!)) wrong = i;
    }
    expect([got.length, wrong]).toEqual([so.reduce((p, q) => p * q, 1), -1]);
  });
});

describe('unary ops', () => {
  it('relu and scale, with gradients', async () => {
    const rng = new Rng(3);
    const x = rng.array(1001);
    const t = rt().tensor(f32(x), [7, 11, 13]);
    const y = relu(t);
    expectClose(await y.read(), x.map((v) => Math.max(v, 0)), 0, 'relu');
    const r = rng.array(1001);
    const [g] = grad(sum(mul(scale(y, 3), rt().tensor(f32(r), [7, 11, 13]))), [t]);
    expectClose(await g!.read(), x.map((v, i) => (v > 0 ? 3 * r[i]! : 0)), 1e-6, 'relu grad');
  });

  it('affine is alpha·x + beta, with gradient alpha', async () => {
    const x = rt().tensor([-2, 0, 1.5, 4]);
    expect(Array.from(await affine(x, 2, 1).read())).toEqual([-3, 1, 4, 9]);
    expect(Array.from(await affine(x, -0.5, 3).read())).toEqual([4, 3, 2.25, 1]);
    const [g] = grad(sum(affine(x, -0.5, 3)), [x]);
    expect(Array.from(await g!.read())).toEqual([-0.5, -0.5, -0.5, -0.5]);
  });

  it('scaling keeps the sign of zero, as PyTorch: −(0) is −0, 2·(−0) is −0, min([−0, 1]) is −0', async () => {
    const x = rt().tensor([0, -0, 1]);
    const signs = async (t: Tensor) => Array.from(await t.read(), (v) => (Object.is(v, -0) ? '-0' : String(v)));
    expect(await signs(neg(x))).toEqual(['-0', '0', '-1']);
    expect(await signs(scale(x, 2))).toEqual(['0', '-0', '2']);
    expect(await signs(min(rt().tensor([-0, 1])))).toEqual(['-0']);
    // relu keeps −0 (and NaN) as it is, as PyTorch's.
    expect(await signs(relu(rt().tensor([-0, 0, -1, -Infinity, NaN, 2])))).toEqual(['-0', '0', '0', '0', 'NaN', '2']);
    // With a shift, the sum is IEEE's: −0 + 0 is 0.
    expect(await signs(affine(x, 1, 0.5))).toEqual(['0.5', '0.5', '1.5']);
  });

  it('relu takes ±∞ as ordinary numbers: relu(−∞) = 0 with gradient 0', async () => {
    const x = rt().tensor([-Infinity, Infinity, -1, 2]);
    expect(Array.from(await relu(x).read())).toEqual([0, Infinity, 0, 2]);
    const [g] = grad(sum(relu(x)), [x]);
    expect(Array.from(await g!.read())).toEqual([0, 1, 0, 1]);
  });
});
