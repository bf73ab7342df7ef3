// Elementwise math (exp, log, sqrt, sigmoid, tanh, div) against float64: accuracy element by
// element over dense ranges, PyTorch 1.13's values at the edges (±0, ±inf, NaN, overflow, large
// |x|), gradients on awkward shapes against the analytic ones and central differences, second
// derivatives, and the errors.
import { describe, expect, it } from 'vitest';
import { div, exp, grad, log, mul, ShapeError, sigmoid, sqrt, sum, tanh, type Tensor } from '../src/index.js';
import { checkOp, dot, expectClose, expectGradMatchesFD, f32, Rng, useRuntime } from './helpers.js';
import { refBinary, refUnary } from './references.js';

const rt = useRuntime();

type Unary = keyof typeof refUnary;
const unary = { exp, log, sqrt, sigmoid, tanh } satisfies Record<Unary, (x: Tensor) => Tensor>;

/** The least normal f32: WGSL lets drivers flush smaller (subnormal) values to 0, in and out. */
const TINY = 2 ** -126;

/** Largest |actual − expected| / |expected| over the elements (expected values below TINY: |actual − expected| / TINY). */
function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(Math.abs(expected[i]!), TINY));
  return Number.isNaN(worst) ? Infinity : worst;
}

/** Each value as expected: NaN for NaN, the same infinity or signed zero, else within `rel` (or TINY where subnormal). */
function expectValues(actual: ArrayLike<number>, expected: readonly number[], rel: number, what: string): void {
  expected.forEach((e, i) => {
    const a = actual[i]!;
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) || e === 0 ? Object.is(a, e) : Math.abs(a - e) <= Math.max(rel * Math.abs(e), Math.abs(e) < TINY ? TINY : 0);
    expect(ok, `${what}[${i}]: got ${Object.is(a, -0) ? '-0' : a}, expected ${Object.is(e, -0) ? '-0' : e}`).toBe(true);
  });
}

/** n f32 values spread evenly over [lo, hi]. */
const linear = (n: number, lo: number, hi: number) => Array.from({ length: n }, (_, i) => Math.fround(lo + ((hi - lo) * i) / (n - 1)));
/** n f32 values spread evenly over the magnitudes 10^p … 10^q, of alternating sign. */
const magnitudes = (n: number, p: number, q: number) => Array.from({ length: n }, (_, i) => Math.fround((i % 2 ? -1 : 1) * 10 ** (p + ((q - p) * i) / (n - 1))));

// NOTE: tolerances follow WGSL's error bounds on the ranges tested: exp 3 + 2|x| ulp (≤ 179 ulp,
// 2.1e-5, on [−87, 88]); log 3 ulp (on [0.5, 2], where WGSL's bound is absolute, a series of a
// quotient instead: a few ulp); sqrt as 1 / inverseSqrt
// (4.5 ulp); sigmoid and tanh through exp (sigmoid's error that of exp at −|x|, tanh's at most
// 1.5 times that of exp at −2|x| where the series gives way, at 0.25). Measured on lavapipe:
// exp 3.9e-6, log 2.2e-7 (near 1.008), sqrt 5.9e-8, sigmoid 3.9e-6, tanh 3.7e-7.
/** The n f32 values on each side of 1 nearest to it: where log's result is smallest. */
const nearOne = (n: number) => Array.from({ length: n }, (_, i) => [1 + (i + 1) * 2 ** -23, 1 - (i + 1) * 2 ** -24]).flat();
const ACCURACY: Record<Unary, { values: number[]; rel: number }> = {
  exp: { values: [...linear(20001, -87, 88), ...magnitudes(2000, -30, 1)], rel: 1e-4 },
  log: { values: [...linear(20001, 0.5, 2), ...nearOne(2000), ...magnitudes(4000, -37, 38).map(Math.abs)], rel: 1e-6 },
  sqrt: { values: [...linear(20001, 0, 100), ...magnitudes(4000, -37, 38).map(Math.abs)], rel: 1e-6 },
  sigmoid: { values: [...linear(20001, -80, 80), ...magnitudes(2000, -30, 1)], rel: 1e-4 },
  tanh: { values: [...linear(20001, -20, 20), ...magnitudes(4000, -37, 1)], rel: 2e-6 },
};

describe('elementwise math', () => {
  for (const name of Object.keys(unary) as Unary[]) {
    it(`${name}: accuracy element by element over its range`, async () => {
      const { values, rel } = ACCURACY[name];
      const got = await unary[name](rt().tensor(f32(values))).read();
      const err = maxRelError(got, values.map(refUnary[name].f));
      expect(err, `${name}: largest relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(rel);
    });
  }

  it('exp, log and sqrt give PyTorch 1.13 values at the edges: ±0, ±inf, NaN, overflow, subnormals', async () => {
    const x = [NaN, Infinity, -Infinity, 0, -0, -1, 1e-40, 1e-45, 1e-8, 88.7, 88.72284, -100, -104, 100, 1e30, -1e30];
    const at = async (f: (t: Tensor) => Tensor) => f(rt().tensor(x)).read();
    // From torch.exp, torch.log and torch.sqrt of torch.tensor(x) (float32).
    expectValues(await at(exp), [NaN, Infinity, 0, 1, 1, 0.36787945, 1, 1, 1, 3.3259769e38, Infinity, 3.783506e-44, 0, Infinity, Infinity, 0], ACCURACY.exp.rel, 'exp');
    const logs = [NaN, Infinity, NaN, -Infinity, -Infinity, NaN, -92.10341, -103.27893, -18.420681, 4.48526, 4.4855175, NaN, NaN, 4.6051702, 69.07755, NaN];
    expectValues(await at(log), logs, 1e-6, 'log');
    const roots = [NaN, Infinity, NaN, 0, -0, NaN, 9.999973e-21, 3.743392e-23, 1e-4, 9.4180679, 9.4192801, NaN, NaN, 10, 1e15, NaN];
    expectValues(await at(sqrt), roots, 1e-6, 'sqrt');
  });

  it('sigmoid and tanh are finite and exact at large |x|, keep tiny x, and pass NaN', async () => {
    const x = [NaN, Infinity, -Infinity, 0, -0, 1e-8, -1e-8, 1e-30, 1e-40, 0.25, -0.2499999, 20, -20, 100, -100, 1e30, -1e30];
    const t = rt().tensor(x);
    const s = [NaN, 1, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.56217653, 0.43782353, 1, 2.0611537e-9, 1, 3.7835059e-44, 1, 0];
    // sigmoid(−100): 0 in PyTorch (1 / (1 + inf)), 3.8e-44 here; subnormals compare as equal to 0.
    expectValues(await sigmoid(t).read(), s, 1e-6, 'sigmoid');
    // WGSL's tanh is sinh / cosh: NaN past |x| ≈ 89 on some drivers, and 3e-8 at 1e-8 on lavapipe.
    const th = [NaN, 1, -1, 0, -0, 1e-8, -1e-8, 1e-30, 1e-40, 0.24491866, -0.24491857, 1, -1, 1, -1, 1, -1];
    expectValues(await tanh(t).read(), th, 1e-6, 'tanh');
    // Their gradients from the output: 0, not NaN, where the output saturates.
    const big = rt().tensor([100, -100, 1e30, -1e30, Infinity, -Infinity]);
    const zeros = [0, 0, 0, 0, 0, 0];
    expectValues(await grad(sum(sigmoid(big)), [big])[0]!.read(), zeros, 0, 'sigmoid gradient');
    expectValues(await grad(sum(tanh(big)), [big])[0]!.read(), zeros, 0, 'tanh gradient');
  });

  it('gradients at the edges as PyTorch 1.13: exp overflows to inf, log and sqrt divide by ±0', async () => {
    const x = rt().tensor([0, -0, 1e-8, 4, 100]);
    const seed = rt().tensor([1, 1, 1, 0, 1]);
    expectValues(await grad(log(x), [x], seed)[0]!.read(), [Infinity, -Infinity, 1e8, 0, 0.01], 1e-6, 'log gradient');
    // sqrt(1e-8) = 1e-4, 1 / (2 · 1e-4) = 5000; sqrt(100) = 10.
    expectValues(await grad(sqrt(x), [x], seed)[0]!.read(), [Infinity, -Infinity, 5000, 0, 0.05], 1e-6, 'sqrt gradient');
    expectValues(await grad(exp(x), [x], seed)[0]!.read(), [1, 1, 1, 0, Infinity], 1e-6, 'exp gradient');
  });

  it('div follows IEEE and PyTorch at ±0, ±inf and NaN', async () => {
    const a = rt().tensor([1, -1, 0, Infinity, 1, 5, NaN, 1, -Infinity, 3]);
    const b = rt().tensor([0, 0, 0, Infinity, Infinity, -0, 1, NaN, 2, 1e38]);
    expectValues(await div(a, b).read(), [Infinity, -Infinity, NaN, NaN, 0, -Infinity, NaN, NaN, -Infinity, 3e-38], 1e-6, 'div');
  });

  // Awkward shapes, ranks 0 to 4, one past a workgroup; ranges where the float64 reference is smooth enough for central differences.
  const SHAPES = [[], [1], [13], [3, 7], [1, 5, 3], [2, 3, 1, 5], [1, 1, 1, 1], [3, 130]];
  // NOTE: sigmoid's and tanh's gradients, from the output as PyTorch's, lose relative precision
  // where the output saturates (1 − y, 1 − y² cancel): about ulp(1) / (1 − |y|), 1e-5 at the
  // ends of these ranges.
  // exp's forward: 3 + 2·4 = 11 ulp (1.3e-6) at the ends of its range.
  const GRADIENTS: Record<Unary, { range: [number, number]; tol: number; gradTol: number }> = {
    exp: { range: [-4, 4], tol: 2e-6, gradTol: 2e-6 },
    log: { range: [0.05, 5], tol: 1e-6, gradTol: 2e-6 },
    sqrt: { range: [0.05, 5], tol: 1e-6, gradTol: 2e-6 },
    sigmoid: { range: [-5, 5], tol: 1e-6, gradTol: 2e-5 },
    tanh: { range: [-3, 3], tol: 1e-6, gradTol: 2e-5 },
  };
  for (const name of Object.keys(unary) as Unary[]) {
    it(`${name}: forward and gradient on awkward shapes, against float64 and central differences`, async () => {
      const rng = new Rng(name.length * 31);
      const { f, df } = refUnary[name];
      for (const shape of SHAPES) {
        await checkOp(rt(), rng, {
          name: `${name} [${shape}]`,
          shapes: [shape],
          range: GRADIENTS[name].range,
          gpu: ([x]) => unary[name](x!),
          ref: ([x]) => x!.map(f),
          refGrad: ([x], r) => [x!.map((v, i) => df(v) * r[i]!)],
          tol: GRADIENTS[name].tol,
          gradTol: GRADIENTS[name].gradTol,
        });
      }
    });
  }

  it('second derivatives of each, through their gradients (composed of differentiable ops)', async () => {
    const rng = new Rng(5);
    for (const name of Object.keys(unary) as Unary[]) {
      const xs = rng.array(37, ...GRADIENTS[name].range);
      const r = rng.array(37);
      const x = rt().tensor(f32(xs));
      const [g] = grad(sum(unary[name](x)), [x]);
      const [h] = grad(sum(mul(g!, rt().tensor(f32(r)))), [x]);
      expectClose(await h!.read(), xs.map((v, i) => refUnary[name].d2f(v) * r[i]!), 1e-5, `${name}''`);
    }
  });
});

describe('div with broadcasting', () => {
  const CASES: [number[], number[]][] = [
    [[7], [7]],
    [[], [2, 3]],
    [[2, 3], []],
    [[3, 5], [5]],
    [[5], [3, 5]],
    [[1, 4, 1], [3, 1, 6]],
    [[1], [1]],
    [[2, 1, 3, 1], [1, 4, 1, 5]],
    [[7, 1, 1, 3], [1]],
    [[1, 3, 130], [3, 1]],
  ];

  it('forward and both gradients, summed over the broadcast axes, against float64 and central differences', async () => {
    const rng = new Rng(17);
    for (const [as, bs] of CASES) {
      const a = rng.array(as.reduce((x, y) => x * y, 1));
      // Divisors away from 0, of either sign.
      const b = rng.array(bs.reduce((x, y) => x * y, 1), 0.5, 2).map((v) => (rng.next() < 0.5 ? -v : v));
      const ref = refBinary('div', as, bs);
      const [ta, tb] = [rt().tensor(f32(a), as), rt().tensor(f32(b), bs)];
      const out = div(ta, tb);
      expect(out.shape).toEqual(ref.shape);
      expectClose(await out.read(), ref.forward(a, b), 1e-6, `div ${as} ${bs}`);
      const r = rng.array(out.size);
      const [da, db] = ref.grad(a, b, r);
      expectGradMatchesFD((x) => dot(ref.forward(x, b), r), a, da!, `div d/da ${as} ${bs}`, rng);
      expectGradMatchesFD((y) => dot(ref.forward(a, y), r), b, db!, `div d/db ${as} ${bs}`, rng);
      const [ga, gb] = grad(out, [ta, tb], rt().tensor(f32(r), ref.shape));
      expectClose(await ga!.read(), da!, 2e-6, `div grad a ${as} ${bs}`);
      expectClose(await gb!.read(), db!, 2e-6, `div grad b ${as} ${bs}`);
    }
  });

  it('second derivatives: of Σ r·a/b, d²/db² = 2·r·a/b³ and d²/da db = −r/b², b broadcast', async () => {
    const rng = new Rng(23);
    const [a, b, r] = [rng.array(12), rng.array(4, 0.5, 2), rng.array(12)];
    const [ta, tb] = [rt().tensor(f32(a), [3, 4]), rt().tensor(f32(b), [4])];
    const [gb] = grad(sum(mul(div(ta, tb), rt().tensor(f32(r), [3, 4]))), [tb]);
    const [hb, ha] = grad(sum(gb!), [tb, ta]);
    const col = (f: (i: number, j: number) => number) => Float64Array.from({ length: 4 }, (_, j) => [0, 1, 2].reduce((s, i) => s + f(i, j), 0));
    expectClose(await hb!.read(), col((i, j) => (2 * r[4 * i + j]! * a[4 * i + j]!) / b[j]! ** 3), 1e-5, 'd²/db²');
    expectClose(await ha!.read(), Float64Array.from(r, (v, k) => -v / b[k % 4]! ** 2), 1e-5, 'd²/da db');
  });

  it('names the problem: dtypes, shapes, arguments that are no tensors', () => {
    const ints = rt().tensor(Int32Array.of(1, 2), [2]);
    expect(() => exp(ints)).toThrow(ShapeError);
    expect(() => tanh(ints)).toThrow(/^tanh: needs an f32 tensor, got i32/);
    expect(() => div(rt().zeros([2]), ints)).toThrow(/^div: needs f32 tensors, got f32 and i32/);
    expect(() => div(rt().zeros([2]), rt().zeros([3]))).toThrow(/^div: shapes \[2\] and \[3\] do not broadcast/);
    expect(() => div(rt().zeros([2]), 'two' as never)).toThrow(/^div: b must be a Tensor or a number, got the string "two"$/);
    expect(() => sqrt([4] as never)).toThrow(/^sqrt: x must be a Tensor, got an array of length 1 /);
  });
});
