// Elementwise math (exp, log, sqrt, sigmoid, tanh, div, abs, clamp, maximum, minimum, pow) against float64: accuracy element by
// element over dense ranges, PyTorch 1.13's values at the edges (±0, ±inf, NaN, overflow, large
// |x|), gradients on awkward shapes against the analytic ones and central differences, second
// derivatives, and the errors.
import { describe, expect, it } from 'vitest';
import { abs, celu, clamp, div, elu, exp, expm1, glu, softmin, hardshrink, softshrink, threshold, gelu, grad, hardsigmoid, hardswish, hardtanh, leakyRelu, log, logsigmoid, maximum, minimum, mish, mul, pow, prelu, relu6, selu, ShapeError, sigmoid, silu, softplus, softsign, sqrt, sum, tanh, tanhshrink, type Tensor } from '../src/index.js';
import { torchJson } from './oracle.js';
import { checkOp, dot, expectClose, expectGradMatchesFD, expectOpAsTorch, f32, Rng, useRuntime } from './helpers.js';
import { refBinary, refClamp, refPow, refUnary } from './references.js';

const rt = useRuntime();

// Awkward shapes, ranks 0 to 4, one past a workgroup; ranges where the float64 reference is smooth enough for central differences.
const SHAPES = [[], [1], [13], [3, 7], [1, 5, 3], [2, 3, 1, 5], [1, 1, 1, 1], [3, 130]];

type Unary = keyof typeof refUnary;
const unary = {
  exp, expm1, log, sqrt, sigmoid, tanh, abs, silu, mish, selu,
  softplus: (x: Tensor) => softplus(x, 1.5, 10),
  leakyRelu: (x: Tensor) => leakyRelu(x, 0.2),
  elu: (x: Tensor) => elu(x, 1.5),
  gelu: (x: Tensor) => gelu(x),
  geluTanh: (x: Tensor) => gelu(x, 'tanh'),
  hardtanh: (x: Tensor) => hardtanh(x, -0.5, 1.5),
  relu6,
  hardsigmoid,
  hardswish,
  logsigmoid,
  softsign,
  tanhshrink,
  softshrink: (x: Tensor) => softshrink(x, 0.5),
  hardshrink: (x: Tensor) => hardshrink(x, 0.5),
  threshold: (x: Tensor) => threshold(x, 0.5, -2),
  celu: (x: Tensor) => celu(x, 1.5),
  celuNegative: (x: Tensor) => celu(x, -1.5),
} satisfies Record<Unary, (x: Tensor) => Tensor>;

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

/** A number as Python reads it back: float('-0'), float('nan'), float('-inf'); and Python's repr() of one read back. */
const py = (v: number) => `float('${Object.is(v, -0) ? '-0' : v}')`;
const fromRepr = (s: string) => (s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s));

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
  // A series below ¼ (no cancellation to 0), exp's error above (within 5× of it, near ¼).
  expm1: { values: [...linear(20001, -87, 88), ...linear(20001, -0.3, 0.3), ...magnitudes(2000, -30, 1)], rel: 1e-4 },
  log: { values: [...linear(20001, 0.5, 2), ...nearOne(2000), ...magnitudes(4000, -37, 38).map(Math.abs)], rel: 1e-6 },
  sqrt: { values: [...linear(20001, 0, 100), ...magnitudes(4000, -37, 38).map(Math.abs)], rel: 1e-6 },
  sigmoid: { values: [...linear(20001, -80, 80), ...magnitudes(2000, -30, 1)], rel: 1e-4 },
  tanh: { values: [...linear(20001, -20, 20), ...magnitudes(4000, -37, 1)], rel: 2e-6 },
  abs: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 0 },
  // Below 0, two roundings: of the slope 0.2 to f32 (as PyTorch's), and of its product with x.
  leakyRelu: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 1.2e-7 },
  // Below 0 through exp (expm1's series near 0); gelu and silu through exp in the negative tail,
  // to where the result is subnormal (below −11.7, −10 and −87), which WGSL may flush to 0.
  elu: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 38)], rel: 1e-4 },
  gelu: { values: [...linear(20001, -11.7, 12), ...magnitudes(4000, -30, 1.06)], rel: 5e-5 },
  geluTanh: { values: [...linear(20001, -10, 12), ...magnitudes(4000, -30, 0.99)], rel: 5e-5 },
  silu: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 1.9)], rel: 1e-4 },
  softplus: { values: [...linear(20001, -55, 60), ...magnitudes(4000, -30, 1.7)], rel: 1e-4 },
  mish: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 1.9)], rel: 1e-4 },
  selu: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 38)], rel: 1e-4 },
  hardtanh: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 0 },
  relu6: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 0 },
  // x + 3 rounded, then divided by 6: a few ulp where x + 3 cancels.
  hardsigmoid: { values: [...linear(20001, -10, 10), ...magnitudes(4000, -37, 38)], rel: 3e-7 },
  hardswish: { values: [...linear(20001, -10, 10), ...magnitudes(4000, -30, 18)], rel: 3e-7 },
  // softplus's accuracy (through exp), to where e^(−x) underflows.
  logsigmoid: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 1.9)], rel: 1e-4 },
  softsign: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 2.5e-7 },
  // x − tanh x cancels near 0 (tanh's error relative to the small difference): not tested below 0.3.
  tanhshrink: { values: [...linear(20001, -20, -0.3), ...linear(20001, 0.3, 20), ...magnitudes(400, 1, 38)], rel: 2e-5 },
  // x ∓ λ rounded once; the others exact.
  softshrink: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 6e-8 },
  hardshrink: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 0 },
  threshold: { values: [...linear(20001, -100, 100), ...magnitudes(4000, -37, 38)], rel: 0 },
  // ELU's of x/α (through exp), then times α.
  celu: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 38)], rel: 1e-4 },
  // e^(x/α) up to e^53, x/α's rounding grown by it.
  celuNegative: { values: [...linear(20001, -80, 80), ...magnitudes(4000, -30, 1.9)], rel: 1e-4 },
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

  it('elu, selu, gelu (both forms), silu, softplus and mish and their gradients give PyTorch 1.13 values at ±0, ±inf, NaN and in the tails', async () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 1e-30, 3, -3, -20];
    // From torch.nn.functional's, and the gradients of their sums (the sign of a zero aside):
    // within 1e-4, since PyTorch's f32 GELU cancels in the tail (4e-5 off float64 at −3, where
    // fovea's is within 1e-7; the accuracy tests above hold fovea's to float64).
    const want: Record<string, [(x: Tensor) => Tensor, number[], number[]]> = {
      elu: [(x) => elu(x, 1.5), [NaN, Infinity, -1.5, 0, 0, 1e-30, 3, -1.4253194332122803, -1.5], [1, 1, 0, 1.5, 1.5, 1, 1, 0.07468059659004211, 3.0917304272293222e-9]],
      gelu: [(x) => gelu(x), [NaN, Infinity, NaN, 0, 0, 5.000000015855384e-31, 2.995950222015381, -0.004049867391586304, 0], [NaN, NaN, NaN, 0.5, 0.5, 0.5, 1.0119456052780151, -0.011945605278015137, 0]],
      geluTanh: [(x) => gelu(x, 'tanh'), [NaN, Infinity, NaN, 0, 0, 5.000000015855384e-31, 2.9963626861572266, -0.0036374330520629883, 0], [NaN, NaN, NaN, 0.5, 0.5, 0.5, 1.0115842819213867, -0.011584296822547913, 0]],
      silu: [silu, [NaN, Infinity, NaN, 0, 0, 5.000000015855384e-31, 2.857722520828247, -0.14227761328220367, -4.1223074731533416e-8], [NaN, NaN, NaN, 0.5, 0.5, 0.5, 1.0881041288375854, -0.08810410648584366, -3.916192170549948e-8]],
      // softplus(x, 1.5, 10).
      softplus: [(x) => softplus(x, 1.5, 10), [NaN, Infinity, 0, 0.4620981216430664, 0.4620981216430664, 0.4620981216430664, 3.0073652267456055, 0.007365163415670395, 6.238415274813225e-14], [NaN, 1, 0, 0.5, 0.5, 0.5, 0.9890130758285522, 0.010986942797899246, 9.357622912219837e-14]],
      mish: [mish, [NaN, Infinity, NaN, 0, 0, 6.000000113066009e-31, 2.98653507232666, -0.14564746618270874, -4.1223074731533416e-8], [NaN, NaN, NaN, 0.6000000238418579, 0.6000000238418579, 0.6000000238418579, 1.0211069583892822, -0.09339312463998795, -3.916192170549948e-8]],
      selu: [selu, [NaN, Infinity, -1.7580993175506592, 0, 0, 1.0507010493525515e-30, 3.1521029472351074, -1.6705687046051025, -1.7580993175506592], [1.0507010221481323, 1.0507010221481323, 0, 1.7580993175506592, 1.7580993175506592, 1.0507010221481323, 1.0507010221481323, 0.08753060549497604, 3.6237128853144895e-9]],
    };
    for (const [name, [fn, y, dy]] of Object.entries(want)) {
      const x = rt().tensor(f32(xs));
      const out = fn(x);
      const [got, g] = [await out.read(), await grad(sum(out), [x])[0]!.read()];
      for (const [what, a, e] of [['value', got, y], ['gradient', g, dy]] as const) {
        e.forEach((v, i) => {
          const ok = Number.isNaN(v) ? Number.isNaN(a[i]!) : a[i] === v || Math.abs(a[i]! - v) <= 1e-4 * Math.abs(v);
          expect(ok, `${name} ${what} at ${xs[i]}: got ${a[i]}, PyTorch ${v}`).toBe(true);
        });
      }
    }
  });

  it("hardtanh, relu6, hardsigmoid, hardswish, logsigmoid, softsign and tanhshrink and their gradients give PyTorch's values at their kinks, ±0, ±inf and NaN", async () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, -3, 3, 6, -0.5, 1.5, 2.9999998, -2.9999998, 1e-30, -40, 40];
    const fns: [string, (x: Tensor) => Tensor, string][] = [
      ['hardtanh', (x) => hardtanh(x, -0.5, 1.5), 'F.hardtanh(x, -0.5, 1.5)'],
      ['relu6', relu6, 'F.relu6(x)'],
      ['hardsigmoid', hardsigmoid, 'F.hardsigmoid(x)'],
      ['hardswish', hardswish, 'F.hardswish(x)'],
      ['logsigmoid', logsigmoid, 'F.logsigmoid(x)'],
      ['softsign', softsign, 'F.softsign(x)'],
      ['tanhshrink', tanhshrink, 'F.tanhshrink(x)'],
      ['softshrink', (x) => softshrink(x, 0.5), 'F.softshrink(x, 0.5)'],
      ['hardshrink', (x) => hardshrink(x, 0.5), 'F.hardshrink(x, 0.5)'],
      ['threshold', (x) => threshold(x, 3, -2), 'F.threshold(x, 3, -2)'],
      ['celu', (x) => celu(x, 1.5), 'F.celu(x, 1.5)'],
      ['celuNegative', (x) => celu(x, -1.5), 'F.celu(x, -1.5)'],
    ];
    // JSON has no NaN or infinities: PyTorch's values travel as strings.
    const want = torchJson<[string[], string[]][]>(`
import json, torch
import torch.nn.functional as F
out = []
for name, f in [${fns.map(([name, , py]) => `('${name}', lambda x: ${py})`).join(', ')}]:
    x = torch.tensor([${xs.map(py).join(', ')}], requires_grad=True)
    y = f(x)
    y.sum().backward()
    g = x.grad
    if name == 'hardswish' and tuple(int(p) for p in torch.__version__.split('.')[:2]) < (2, 7):
        # Before 2.7 (pytorch/pytorch#148049) PyTorch gave x/3 + ½ at exactly ±3; since, the flat sides' 0 and 1.
        g = torch.where(x == -3, 0., torch.where(x == 3, 1., g))
    if name == 'softshrink':
        # NaN gives NaN since pytorch/pytorch#138421; before, the comparisons' 0.
        y = torch.where(x.isnan(), x, y)
    out.append([[repr(v) for v in y.tolist()], [repr(v) for v in g.tolist()]])
print(json.dumps(out))
`);
    for (const [i, [name, fn]] of fns.entries()) {
      const x = rt().tensor(f32(xs));
      const y = fn(x);
      const [got, g] = [await y.read(), await grad(sum(y), [x])[0]!.read()];
      for (const [what, a, e] of [['value', got, want[i]![0]], ['gradient', g, want[i]![1]]] as const) {
        // Those through exp within its error (tanhshrink's, relative to x − tanh x where it cancels);
        // softsign's gradient 1/(1 + |x|) − |x|/(1 + |x|)², which cancels, within a few ulp of WGSL's
        // division (2.5 ulp; a reciprocal on NVIDIA: 7e-7 at x = 6 on an H200); the others to the rounding.
        // softshrink's zeros between the kinks, of either sign: PyTorch's CPU kernel has given x·0 since #138421
        // (−0 for x < 0; so says pytorch/pytorch#183710), its CUDA kernel 0.
        const expected = name === 'softshrink' && what === 'value' ? e.map((s, k) => (fromRepr(s) === 0 && a[k] === 0 ? a[k]! : fromRepr(s))) : e.map(fromRepr);
        expectValues(a, expected, { logsigmoid: 2e-6, tanhshrink: 5e-6, celu: 2e-6, celuNegative: 2e-6, softsign: 1e-6 }[name] ?? 2e-7, `${name} ${what} at [${xs}]`);
      }
    }
  });

  it("prelu: PyTorch's values and gradients, one slope or one per channel, at 0 and ±inf, and its second derivative", async () => {
    const rng = new Rng(8);
    const xs = Array.from(f32(rng.array(2 * 3 * 4 * 5, -2, 2)));
    xs.splice(0, 4, 0, -0, Infinity, -Infinity);
    const r120 = f32(Array.from({ length: 120 }, (_, k) => Math.sin(k)));
    for (const slopes of [[0.25], [0.1, -0.3, 2]]) {
      const want = torchJson<{ y: string[]; gx: string[]; gw: string[] }>(`
import json, torch
import torch.nn.functional as F
x = torch.tensor([${xs.map(py).join(', ')}]).reshape(2, 3, 4, 5).requires_grad_()
w = torch.tensor(${JSON.stringify(slopes)}, requires_grad=True)
r = torch.tensor(${JSON.stringify(Array.from(r120))}).reshape(2, 3, 4, 5)
y = F.prelu(x, w)
(y * r).sum().backward()
print(json.dumps({'y': [repr(v) for v in y.flatten().tolist()], 'gx': [repr(v) for v in x.grad.flatten().tolist()], 'gw': [repr(v) for v in w.grad.tolist()]}))
`);
      const x = rt().tensor(f32(xs), [2, 3, 4, 5]);
      const w = rt().tensor(f32(slopes), [slopes.length]);
      const r = rt().tensor(r120, [2, 3, 4, 5]);
      const y = prelu(x, w);
      const [gx, gw] = grad(sum(mul(y, r)), [x, w]);
      expectValues(await y.read(), want.y.map(fromRepr), 1e-7, `prelu ${slopes} values`);
      expectValues(await gx!.read(), want.gx.map(fromRepr), 1e-7, `prelu ${slopes} input gradient`);
      // The slopes' gradients sum over ±inf·r terms only where x ≤ 0 is finite: here the −inf one gives ∓inf.
      expectValues(await gw!.read(), want.gw.map(fromRepr), 1e-5, `prelu ${slopes} weight gradient`);
    }
    // Linear in the weight, piecewise linear in x: d²/dx dw of Σ r·prelu = r where x ≤ 0, summed per channel.
    const x = rt().tensor(f32(xs.slice(4, 64)), [2, 6, 5]);
    const w = rt().tensor([0.5, -1, 0.2, 0.3, 0.1, 0.7]);
    const r = f32(rng.array(60));
    const [gx] = grad(sum(mul(prelu(x, w), rt().tensor(r, [2, 6, 5]))), [x]);
    const [gww] = grad(sum(gx!), [w]);
    const want = new Float64Array(6);
    xs.slice(4, 64).forEach((v, k) => (want[Math.floor(k / 5) % 6]! += v > 0 ? 0 : r[k]!));
    expectClose(await gww!.read(), want, 1e-6, 'prelu d²/dx dw');
    expect(() => prelu(x, rt().tensor([1, 2]))).toThrow(/^prelu: weight must be f32 \[1\] or \[6\] \(the channels of x \[2, 6, 5\]\), got \[2\] f32$/);
    // A 0-d x gives a 0-d result, as PyTorch's, and its slope's gradient keeps the slope's shape.
    const x0 = rt().tensor(-2);
    const w1 = rt().tensor([0.25]);
    const y0 = prelu(x0, w1);
    expect(y0.shape).toEqual([]);
    expect(Array.from(await y0.read())).toEqual([-0.5]);
    const [gx0, gw1] = grad(y0, [x0, w1]);
    expect([gx0!.shape, gw1!.shape]).toEqual([[], [1]]);
    expect([...(await gx0!.read()), ...(await gw1!.read())]).toEqual([0.25, -2]);
  });

  it("glu and softmin match PyTorch's F.glu and F.softmin on awkward shapes, any dimension: values and gradients", async () => {
    type C = { shape: number[]; dim: number; op: 'glu' | 'softmin' };
    const cases: C[] = [
      { shape: [3, 8], dim: -1, op: 'glu' },
      { shape: [2, 6, 5], dim: 1, op: 'glu' },
      { shape: [4, 3, 2], dim: 0, op: 'glu' },
      { shape: [1, 2, 3, 10], dim: 3, op: 'glu' },
      { shape: [5, 7], dim: -1, op: 'softmin' },
      { shape: [3, 4, 6], dim: 1, op: 'softmin' },
    ];
    await expectOpAsTorch(rt(), new Rng(12), cases, {
      shapes: (c) => [c.shape],
      call: "(F.glu if c['op'] == 'glu' else F.softmin)(xs[0], c['dim'])",
      gpu: ([x], c) => (c.op === 'glu' ? glu(x!, c.dim) : softmin(x!, c.dim)),
      label: (c) => `${c.op} [${c.shape}] along ${c.dim}`,
    }, { values: 1e-6, grads: 1e-6 });
    expect(() => glu(rt().zeros([2, 5]))).toThrow(/^glu: halves dimension -1 of \[2, 5\], whose size 5 is odd$/);
    expect(() => glu(rt().zeros([2, 4]), 2)).toThrow(/^glu: dim 2 is not a dimension of \[2, 4\]$/);
  });

  it('gelu, softplus and elu refuse bad arguments, naming themselves and the argument', () => {
    const x = rt().tensor([1, -1]);
    expect(() => gelu(x, 'sigmoid' as never)).toThrow(/^gelu: approximate must be 'none' or 'tanh', got "sigmoid"$/);
    expect(() => softplus(x, 0)).toThrow(/^softplus: beta must not be 0 \(it divides by it\)$/);
    expect(() => softplus(x, 1, '20' as never)).toThrow(/^softplus: the threshold must be a number, got "20"$/);
    expect(() => elu(x, '1' as never)).toThrow(/^elu: alpha must be a number, got "1"$/);
    expect(() => hardtanh(x, 2, 1)).toThrow(/^hardtanh: minVal 2 is above maxVal 1$/);
    expect(() => hardtanh(x, '1' as never)).toThrow(/^hardtanh: minVal must be a number, got "1"$/);
  });

  it('leakyRelu and its gradient give PyTorch 1.13 values at ±0, ±inf and NaN', async () => {
    const x = rt().tensor([NaN, Infinity, -Infinity, 0, -0, -1, 3], { requiresGrad: true });
    const y = leakyRelu(x, 0.25);
    // From torch.nn.functional.leaky_relu(x, 0.25) and its gradient (the slope wherever x > 0 is false).
    expectValues(await y.read(), [NaN, Infinity, -Infinity, 0, -0, -0.25, 3], 0, 'leakyRelu');
    expectValues(await grad(sum(y), [x])[0]!.read(), [0.25, 1, 0.25, 0.25, 0.25, 0.25, 1], 0, 'leakyRelu gradient');
    expect(() => leakyRelu(x, '0.1' as never)).toThrow("leakyRelu: the negative slope must be a number, got \"0.1\"");
  });

  it('exp, expm1, log and sqrt give PyTorch 1.13 values at the edges: ±0, ±inf, NaN, overflow, subnormals', async () => {
    const x = [NaN, Infinity, -Infinity, 0, -0, -1, 1e-40, 1e-45, 1e-8, 88.7, 88.72284, -100, -104, 100, 1e30, -1e30];
    const at = async (f: (t: Tensor) => Tensor) => f(rt().tensor(x)).read();
    // From torch.exp, torch.log and torch.sqrt of torch.tensor(x) (float32).
    expectValues(await at(exp), [NaN, Infinity, 0, 1, 1, 0.36787945, 1, 1, 1, 3.3259769e38, Infinity, 3.783506e-44, 0, Infinity, Infinity, 0], ACCURACY.exp.rel, 'exp');
    expectValues(await at(expm1), [NaN, Infinity, -1, 0, -0, -0.63212055, 9.999946e-41, 1.4012985e-45, 1e-8, 3.3259769e38, Infinity, -1, -1, Infinity, Infinity, -1], ACCURACY.expm1.rel, 'expm1');
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
    // Divisors past 2^126 too, where WGSL leaves the error unbounded (NVIDIA's 3 / 1e38 was 0).
    const a = rt().tensor([1, -1, 0, Infinity, 1, 5, NaN, 1, -Infinity, 3, 1e38, -6, Infinity, 1e-30]);
    const b = rt().tensor([0, 0, 0, Infinity, Infinity, -0, 1, NaN, 2, 1e38, 3e38, -2e38, 2e38, 1e38]);
    const want = [Infinity, -Infinity, NaN, NaN, 0, -Infinity, NaN, NaN, -Infinity, 3e-38, 1 / 3, 3e-38, Infinity, 0];
    expectValues(await div(a, b).read(), want, 1e-6, 'div');
  });

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
    abs: { range: [-2, 2], tol: 0, gradTol: 0 },
    leakyRelu: { range: [-2, 2], tol: 1e-7, gradTol: 1e-7 },
    elu: { range: [-3, 3], tol: 2e-6, gradTol: 2e-6 },
    gelu: { range: [-4, 4], tol: 2e-6, gradTol: 2e-5 },
    geluTanh: { range: [-4, 4], tol: 2e-6, gradTol: 2e-5 },
    silu: { range: [-5, 5], tol: 2e-6, gradTol: 2e-5 },
    softplus: { range: [-3, 3], tol: 2e-6, gradTol: 2e-5 },
    mish: { range: [-4, 4], tol: 2e-6, gradTol: 2e-5 },
    selu: { range: [-3, 3], tol: 2e-6, gradTol: 2e-6 },
    hardtanh: { range: [-2, 3], tol: 0, gradTol: 0 },
    relu6: { range: [-2, 8], tol: 0, gradTol: 0 },
    hardsigmoid: { range: [-5, 5], tol: 1e-7, gradTol: 1e-7 },
    hardswish: { range: [-5, 5], tol: 1e-6, gradTol: 1e-6 },
    logsigmoid: { range: [-5, 5], tol: 2e-6, gradTol: 2e-5 },
    softsign: { range: [-4, 4], tol: 1e-6, gradTol: 1e-6 },
    tanhshrink: { range: [-3, 3], tol: 2e-6, gradTol: 2e-5 },
    softshrink: { range: [-2, 2], tol: 1e-7, gradTol: 0 },
    hardshrink: { range: [-2, 2], tol: 0, gradTol: 0 },
    threshold: { range: [-2, 2], tol: 0, gradTol: 0 },
    celu: { range: [-3, 3], tol: 2e-6, gradTol: 2e-6 },
    celuNegative: { range: [-3, 3], tol: 2e-6, gradTol: 2e-6 },
    expm1: { range: [-3, 3], tol: 2e-6, gradTol: 2e-5 },
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

  it("elu, celu (α of either sign), selu and softplus: PyTorch's second derivatives at their kinks, where the first takes one side", async () => {
    // ±0 for the ELUs; 1.5 for softplus β 2, threshold 3 (βx at the threshold).
    const xs = [0, -0, -1, 1, -2.5, 1.5, NaN];
    const fns: [string, (x: Tensor) => Tensor, string][] = [
      ['elu', (x) => elu(x, 0.5), 'F.elu(x, 0.5)'],
      ['celu', (x) => celu(x, 2), 'F.celu(x, 2.)'],
      ['celuNegative', (x) => celu(x, -1.5), 'F.celu(x, -1.5)'],
      ['selu', selu, 'F.selu(x)'],
      ['softplus', (x) => softplus(x, 2, 3), 'F.softplus(x, 2, 3)'],
    ];
    const want = torchJson<[string[], string[]][]>(`
import json, torch
import torch.nn.functional as F
out = []
for f in [${fns.map(([, , py]) => `lambda x: ${py}`).join(', ')}]:
    x = torch.tensor([${xs.map(py).join(', ')}], requires_grad=True)
    g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    h, = torch.autograd.grad(g.sum(), x)
    out.append([[repr(v) for v in g.tolist()], [repr(v) for v in h.tolist()]])
print(json.dumps(out))
`);
    for (const [i, [name, fn]] of fns.entries()) {
      const x = rt().tensor(f32(xs));
      const [g] = grad(sum(fn(x)), [x]);
      const [h] = grad(sum(g!), [x]);
      expectValues(await g!.read(), want[i]![0].map(fromRepr), 1e-6, `${name}' at [${xs}]`);
      expectValues(await h!.read(), want[i]![1].map(fromRepr), 1e-6, `${name}'' at [${xs}]`);
    }
  });
});

// Operand shapes that broadcast both ways.
const BROADCASTS: [number[], number[]][] = [
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

describe('div with broadcasting', () => {
  it('forward and both gradients, summed over the broadcast axes, against float64 and central differences', async () => {
    const rng = new Rng(17);
    for (const [as, bs] of BROADCASTS) {
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

describe('abs, clamp, maximum, minimum and pow: PyTorch 1.13 values and gradients at kinks, ties and edges', () => {
  const NAN = NaN;
  const INF = Infinity;

  it('abs: |x| on the bits, and g · sign(x) with sign 0 at ±0 and NaN (an infinite g at 0 gives NaN, as g · 0)', async () => {
    const x = rt().tensor([NAN, INF, -INF, 0, -0, -1e-40, 3, -2.5]);
    expectValues(await abs(x).read(), [NAN, INF, INF, 0, 0, 1e-40, 3, 2.5], 0, 'abs');
    // From torch: x.abs().backward(seed) with these x and seeds.
    const seed = rt().tensor([1, 1, 1, 1, 1, 1, INF, 1]);
    expectValues(await grad(abs(x), [x], seed)[0]!.read(), [0, 1, -1, 0, 0, -1, INF, -1], 0, 'abs gradient');
    const z = rt().tensor([0, -0, 1]);
    expectValues(await grad(abs(z), [z], rt().tensor([INF, NAN, INF]))[0]!.read(), [NAN, NAN, INF], 0, 'abs gradient, g not finite');
  });

  it('clamp: values, one bound or both, min > max, NaN; the gradient passes with min ≤ x ≤ max, bounds included', async () => {
    const xs = [NAN, INF, -INF, -2, -1, -0.5, -0, 0, 0.5, 1, 2];
    const x = rt().tensor(xs);
    const ones = rt().tensor(xs.map(() => 1));
    const check = async (y: Tensor, values: number[], grads: number[], what: string) => {
      expectValues(await y.read(), values, 0, what);
      expectValues(await grad(y, [x], ones)[0]!.read(), grads, 0, `${what} gradient`);
    };
    // From torch.clamp(x, …) and its backward with a seed of ones.
    await check(clamp(x, -1, 1), [NAN, 1, -1, -1, -1, -0.5, -0, 0, 0.5, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0], 'clamp(x, -1, 1)');
    await check(clamp(x, 0), [NAN, INF, 0, 0, 0, 0, -0, 0, 0.5, 1, 2], [0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1], 'clamp(x, 0)');
    await check(clamp(x, undefined, -0.5), [NAN, -0.5, -INF, -2, -1, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5], [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0], 'clamp(x, undefined, -0.5)');
    await check(clamp(x, 1, -1), xs.map((v) => (Number.isNaN(v) ? NAN : -1)), xs.map(() => 0), 'clamp(x, 1, -1)');
    await check(clamp(x, NAN, 1), xs.map(() => NAN), xs.map(() => 0), 'clamp(x, NaN, 1)');
    await check(clamp(x, -INF, INF), xs, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 'clamp(x, -inf, inf)');
    // Masked, not multiplied: an infinite or NaN g gives 0 outside (PyTorch's where()).
    const y = rt().tensor([5, -5, 0]);
    expectValues(await grad(clamp(y, -1, 1), [y], rt().tensor([NAN, INF, NAN]))[0]!.read(), [0, 0, NAN], 0, 'clamp gradient, g not finite');
  });

  it('clamp: forward, gradient and second derivative (0) on awkward shapes, against float64 and central differences', async () => {
    const rng = new Rng(41);
    for (const [lo, hi] of [[-0.5, 0.5], [undefined, 0.25], [-0.25, undefined]] as const) {
      const { f, df } = refClamp(lo, hi);
      for (const shape of SHAPES) {
        await checkOp(rt(), rng, {
          name: `clamp(x, ${lo}, ${hi}) [${shape}]`,
          shapes: [shape],
          gpu: ([x]) => clamp(x!, lo, hi),
          ref: ([x]) => x!.map(f),
          refGrad: ([x], r) => [x!.map((v, i) => df(v) * r[i]!)],
          tol: 0,
        });
      }
    }
    const x = rt().tensor(f32(rng.array(20)));
    const [g] = grad(sum(mul(clamp(x, -0.5, 0.5), x)), [x]);
    const [h] = grad(sum(g!), [x]);
    const xs = await x.read();
    // d/dx (clamp(x)·x) = clamp'(x)·x + clamp(x); its derivative 2·clamp'(x).
    expectValues(await h!.read(), Array.from(xs, (v) => 2 * refClamp(-0.5, 0.5).df(v)), 1e-6, 'clamp second derivative');
  });

  // Elementwise pairs: equal values (±0 among them), NaN on either side, infinities.
  const A = [1, 2, 3, NAN, 1, NAN, 0, -0, INF, -INF, -INF, 5];
  const B = [1, 1, 4, 1, NAN, NAN, -0, 0, INF, -INF, 2, INF];

  it('maximum and minimum: NaN propagates; at a tie the gradient is split in halves, else all to the winner (masked: an infinite g gives 0 to the loser)', async () => {
    const [a, b] = [rt().tensor(A), rt().tensor(B)];
    // From torch.maximum / torch.minimum of tensors of these values (PyTorch's vectorised loop
    // gives b at a tie, so max(0, −0) is −0) and their backward with a seed of ones.
    expectValues(await maximum(a, b).read(), [1, 2, 4, NAN, NAN, NAN, -0, 0, INF, -INF, 2, INF], 0, 'maximum');
    expectValues(await minimum(a, b).read(), [1, 1, 3, NAN, NAN, NAN, -0, 0, INF, -INF, -INF, 5], 0, 'minimum');
    const ones = rt().tensor(A.map(() => 1));
    const [maxA, maxB] = grad(maximum(a, b), [a, b], ones);
    expectValues(await maxA!.read(), [0.5, 1, 0, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0, 0], 0, 'maximum d/da');
    expectValues(await maxB!.read(), [0.5, 0, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 1, 1], 0, 'maximum d/db');
    const [minA, minB] = grad(minimum(a, b), [a, b], ones);
    expectValues(await minA!.read(), [0.5, 0, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 1, 1], 0, 'minimum d/da');
    expectValues(await minB!.read(), [0.5, 1, 0, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0, 0], 0, 'minimum d/db');
    const [p, q] = [rt().tensor([1, 2, 3]), rt().tensor([2, 2, 1])];
    const [gp, gq] = grad(maximum(p, q), [p, q], rt().tensor([NAN, INF, NAN]));
    expectValues(await gp!.read(), [0, INF, NAN], 0, 'maximum d/da, g not finite');
    expectValues(await gq!.read(), [NAN, INF, 0], 0, 'maximum d/db, g not finite');
  });

  it('maximum and minimum with a number: relu-like maximum(x, 0), its tie at 0 halved', async () => {
    const x = rt().tensor([-1, 0, 2, NAN]);
    expectValues(await maximum(x, 0).read(), [0, 0, 2, NAN], 0, 'maximum(x, 0)');
    expectValues(await minimum(1, x).read(), [-1, 0, 1, NAN], 0, 'minimum(1, x)');
    expectValues(await grad(sum(maximum(x, 0)), [x])[0]!.read(), [0, 0.5, 1, 1], 0, 'maximum(x, 0) gradient');
    expectValues(await grad(sum(minimum(1, x)), [x])[0]!.read(), [1, 1, 0, 1], 0, 'minimum(1, x) gradient');
  });

  it('maximum and minimum with broadcasting: forward and both gradients against float64, ties included, and central differences away from them', async () => {
    const rng = new Rng(29);
    for (const op of ['maximum', 'minimum'] as const) {
      const gpu = { maximum, minimum }[op];
      for (const [as, bs] of BROADCASTS) {
        // Small integers, so ties are frequent; then continuous values for the finite differences.
        for (const ties of [true, false]) {
          const draw = (n: number) => (ties ? Float64Array.from({ length: n }, () => rng.int(-2, 2)) : rng.array(n));
          const [a, b] = [draw(as.reduce((x, y) => x * y, 1)), draw(bs.reduce((x, y) => x * y, 1))];
          const ref = refBinary(op, as, bs);
          const [ta, tb] = [rt().tensor(f32(a), as), rt().tensor(f32(b), bs)];
          const out = gpu(ta, tb);
          expect(out.shape).toEqual(ref.shape);
          expectClose(await out.read(), ref.forward(a, b), 0, `${op} ${as} ${bs}`);
          const r = rng.array(out.size);
          const [da, db] = ref.grad(a, b, r);
          if (!ties) {
            expectGradMatchesFD((x) => dot(ref.forward(x, b), r), a, da!, `${op} d/da ${as} ${bs}`, rng);
            expectGradMatchesFD((y) => dot(ref.forward(a, y), r), b, db!, `${op} d/db ${as} ${bs}`, rng);
          }
          const [ga, gb] = grad(out, [ta, tb], rt().tensor(f32(r), ref.shape));
          expectClose(await ga!.read(), da!, 1e-6, `${op} grad a ${as} ${bs}${ties ? ' (ties)' : ''}`);
          expectClose(await gb!.read(), db!, 1e-6, `${op} grad b ${as} ${bs}${ties ? ' (ties)' : ''}`);
        }
      }
    }
  });

  it('maximum: second derivatives through the gradient: d/da (Σ r·∂max/∂a · a) = r·∂max/∂a (the masks are flat)', async () => {
    const rng = new Rng(31);
    const a = Float64Array.from({ length: 24 }, () => rng.int(-2, 2));
    const b = Float64Array.from({ length: 6 }, () => rng.int(-2, 2));
    const r = rng.array(24);
    const [ta, tb] = [rt().tensor(f32(a), [4, 6]), rt().tensor(f32(b), [6])];
    const [ga] = grad(sum(mul(maximum(ta, tb), rt().tensor(f32(r), [4, 6]))), [ta]);
    const [h] = grad(sum(mul(ga!, ta)), [ta]);
    const [da] = refBinary('maximum', [4, 6], [6]).grad(a, b, r);
    expectClose(await h!.read(), da!, 1e-6, 'd/da (a · ∂/∂a Σ r·max(a, b))');
  });

  // From torch.pow(torch.tensor(X * 20), p)[:len(X)] (float32, PyTorch's vectorised loop).
  const X = [NAN, INF, -INF, 0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1e-30, 1e30];
  const POWERS: [number, number[]][] = [
    [0, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    [1, [NAN, INF, -INF, 0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1.0000000031710769e-30, 1.0000000150474662e30]],
    [2, [NAN, INF, INF, 0, 0, 1, 1, 4, 4, 0.25, 0.25, 9, 9, 0, INF]],
    [3, [NAN, INF, -INF, 0, -0, 1, -1, 8, -8, 0.125, -0.125, 27, -27, 0, INF]],
    [-1, [NAN, 0, -0, INF, -INF, 1, -1, 0.5, -0.5, 2, -2, 0.3333333432674408, -0.3333333432674408, 1.0000000150474662e30, 1.0000000031710769e-30]],
    [-2, [NAN, 0, 0, INF, INF, 1, 1, 0.25, 0.25, 4, 4, 0.1111111119389534, 0.1111111119389534, INF, 0]],
    [0.5, [NAN, INF, NAN, 0, -0, 1, NAN, 1.4142135381698608, NAN, 0.7071067690849304, NAN, 1.7320507764816284, NAN, 1.0000000036274937e-15, 999999986991104]],
    [-0.5, [NAN, 0, NAN, INF, -INF, 1, NAN, 0.7071067690849304, NAN, 1.4142135381698608, NAN, 0.5773502588272095, NAN, 999999986991104, 1.0000000036274937e-15]],
    [2.5, [NAN, INF, INF, 0, 0, 1, NAN, 5.656854152679443, NAN, 0.1767766922712326, NAN, 15.588457107543945, NAN, 0, INF]],
    [-2.5, [NAN, 0, 0, INF, INF, 1, NAN, 0.1767766922712326, NAN, 5.656854152679443, NAN, 0.06415002793073654, NAN, INF, 0]],
    [4, [NAN, INF, INF, 0, 0, 1, 1, 16, 16, 0.0625, 0.0625, 81, 81, 0, INF]],
    [-3, [NAN, 0, -0, INF, -INF, 1, -1, 0.125, -0.125, 8, -8, 0.03703703731298447, -0.03703703731298447, INF, 0]],
    [5, [NAN, INF, -INF, 0, -0, 1, -1, 32, -32, 0.03125, -0.03125, 243, -243, 0, INF]],
    [1 / 3, [NAN, INF, INF, 0, 0, 1, NAN, 1.2599210739135742, NAN, 0.7937005162239075, NAN, 1.4422495365142822, NAN, 9.999993194620416e-11, 10000007168]],
    [NAN, [NAN, NAN, NAN, NAN, NAN, 1, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN]],
    [INF, [NAN, INF, INF, 0, 0, 1, 1, INF, INF, 0, 0, INF, INF, 0, INF]],
    [-INF, [NAN, 0, 0, INF, INF, 1, 1, 0, 0, INF, INF, 0, 0, INF, 0]],
    [1e10, [NAN, INF, INF, 0, 0, 1, 1, INF, INF, 0, 0, INF, INF, 0, INF]],
    [-1e10, [NAN, 0, 0, INF, INF, 1, 1, 0, 0, INF, INF, 0, 0, INF, 0]],
    [100, [NAN, INF, INF, 0, 0, 1, 1, 1.2676506002282294e30, 1.2676506002282294e30, 7.888609052210118e-31, 7.888609052210118e-31, INF, INF, 0, INF]],
  ];

  it('pow gives PyTorch 1.13 values at the edges: x^0 = 1 (NaN x too), 1^NaN = 1, ±0, ±inf, negative x, √−0 = −0, over- and underflow', async () => {
    const x = rt().tensor(X);
    for (const [p, want] of POWERS) expectValues(await pow(x, p).read(), want, 1e-6, `pow(x, ${p})`);
  });

  // NOTE: tolerances in units of u = 2^−24 (half an ulp at most, relative), from WGSL's bounds:
  // x·x correctly rounded (1u) and x·x·x two roundings (2u); 1/x 2.5 ulp (5u), 1/(x·x) 6u;
  // √x as 1/inverseSqrt (4.5 ulp, 9u), 1/√x inverseSqrt (2 ulp, 4u). Other exponents go through
  // 2^(p·log2|x|), the product's integer part split off exactly: exp2 on [−½, ½] (4 ulp) and
  // log2 of the mantissa m in [√½, √2) (about 4.5 ulp, from the quotient in its series), scaled
  // by |p·log2 m| ≤ |p|/2 in the result: within (10 + 4|p|)u. Measured on lavapipe: p = 2 1.0u,
  // 3 1.8u, −1 1.0u, −2 3.3u, ½ 1.0u, −½ 1.5u, 2.5 5.8u, 4 7.5u, 10 14u, −30 35u.
  const U = 2 ** -24;
  const SPECIAL_TOL = new Map([[2, 1], [3, 2], [-1, 5], [-2, 6], [0.5, 9], [-0.5, 4]]);
  const powTol = (p: number) => (SPECIAL_TOL.get(p) ?? 10 + 4 * Math.abs(p)) * U;
  const EXPONENTS = [2, 3, 4, 5, 7, 10, -1, -2, -3, 0.5, -0.5, 1.5, 2.5, -2.5, 0.3, 1 / 3, -0.7, 0.999, 1.001, 30, -30];

  it('pow: accuracy element by element against float64, over [1e-2, 10], magnitudes 1e-37 to 1e38, and negative x for integer p', async () => {
    const xs = [...linear(20001, 0.01, 10), ...magnitudes(4000, -37, 38).map(Math.abs)];
    const t = rt().tensor(f32(xs));
    const neg = rt().tensor(f32(xs.map((v) => -v)));
    for (const p of EXPONENTS) {
      const { f } = refPow(p);
      // Where the float64 result is a normal f32: drivers may flush subnormals, and past the range it is inf.
      const keep = (i: number, e: number) => Math.abs(e) >= TINY && Math.abs(e) <= 3.4e38;
      for (const [x, sign] of Number.isInteger(p) ? ([[t, 1], [neg, -1]] as const) : ([[t, 1]] as const)) {
        const got = await pow(x, p).read();
        const want = xs.map((v) => f(sign * v));
        const idx = want.flatMap((e, i) => (keep(i, e) ? [i] : []));
        const err = maxRelError(idx.map((i) => got[i]!), idx.map((i) => want[i]!));
        expect(err, `pow(${sign < 0 ? '-' : ''}x, ${p}): largest relative error ${(err / U).toFixed(1)}u`).toBeLessThanOrEqual(powTol(p));
      }
    }
  });

  it('pow gradients at the edges as PyTorch 1.13: p · x^(p−1) through the same pow (so ∞ at 0 for p = ½), 0 for p = 0', async () => {
    const x = rt().tensor([0, -0, 1, -1, 2, -2, NAN, INF, -INF]);
    // From torch.pow(x, p).backward(ones).
    const GRADS: [number, number[]][] = [
      [0, [0, 0, 0, 0, 0, 0, 0, 0, 0]],
      [0.5, [INF, -INF, 0.5, NAN, 0.3535533845424652, NAN, NAN, 0, NAN]],
      [1, [1, 1, 1, 1, 1, 1, 1, 1, 1]],
      [2, [0, -0, 2, -2, 4, -4, NAN, INF, -INF]],
      [3, [0, 0, 3, 3, 12, 12, NAN, INF, INF]],
      [-1, [-INF, -INF, -1, -1, -0.25, -0.25, NAN, -0, -0]],
      [-0.5, [-INF, -INF, -0.5, NAN, -0.1767766922712326, NAN, NAN, -0, -0]],
      [2.5, [0, 0, 2.5, NAN, 7.071067810058594, NAN, NAN, INF, INF]],
      [1.5, [0, -0, 1.5, NAN, 2.1213202476501465, NAN, NAN, INF, NAN]],
      [-2, [-INF, INF, -2, 2, -0.25, 0.25, NAN, -0, 0]],
    ];
    const ones = rt().tensor([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    for (const [p, want] of GRADS) expectValues(await grad(pow(x, p), [x], ones)[0]!.read(), want, 1e-6, `pow(x, ${p}) gradient`);
    // p = 0: zeros, even for a NaN g (PyTorch's zeros_like).
    expectValues(await grad(pow(x, 0), [x], rt().tensor(Array(9).fill(NAN)))[0]!.read(), Array(9).fill(0), 0, 'pow(x, 0) gradient, g NaN');
  });

  it('pow: forward, gradient and second derivative on awkward shapes, against float64 and central differences', async () => {
    const rng = new Rng(37);
    for (const p of [2, 3, -1, 0.5, 1.5, -2.5, 4, 1 / 3]) {
      const { f, df, d2f } = refPow(p);
      // Negative x too where p is an integer.
      const range: [number, number] = Number.isInteger(p) && p > 0 ? [-2, 2] : [0.2, 3];
      for (const shape of SHAPES) {
        await checkOp(rt(), rng, {
          name: `pow(x, ${p}) [${shape}]`,
          shapes: [shape],
          range,
          gpu: ([x]) => pow(x!, p),
          ref: ([x]) => x!.map(f),
          refGrad: ([x], r) => [x!.map((v, i) => df(v) * r[i]!)],
          tol: 1e-6,
          gradTol: 2e-6,
        });
      }
      const xs = rng.array(37, ...range);
      const r = rng.array(37);
      const x = rt().tensor(f32(xs));
      const [g] = grad(sum(pow(x, p)), [x]);
      const [h] = grad(sum(mul(g!, rt().tensor(f32(r)))), [x]);
      expectClose(await h!.read(), xs.map((v, i) => d2f(v) * r[i]!), 1e-5, `pow(x, ${p})''`);
    }
  });

  it('names the problem: bounds and exponents that are no numbers, both bounds left out, dtypes', () => {
    const x = rt().zeros([2]);
    const ints = rt().tensor(Int32Array.of(1, 2), [2]);
    expect(() => clamp(x)).toThrow(/^clamp: at least one of min and max must be a number$/);
    expect(() => clamp(x, '1' as never)).toThrow(/^clamp: min must be a number, got "1"$/);
    expect(() => clamp(x, 0, null as never)).toThrow(/^clamp: max must be a number, got null$/);
    expect(() => pow(x, undefined as never)).toThrow(/^pow: the exponent p must be a number, got undefined$/);
    expect(() => pow(x, x as never)).toThrow(TypeError);
    expect(() => pow(ints, 2)).toThrow(/^pow: needs an f32 tensor, got i32/);
    expect(() => abs(ints)).toThrow(/^abs: needs an f32 tensor, got i32/);
    expect(() => clamp(ints, 0, 1)).toThrow(ShapeError);
    expect(() => maximum(x, ints)).toThrow(/^maximum: needs f32 tensors, got f32 and i32/);
    expect(() => minimum(x, rt().zeros([3]))).toThrow(/^minimum: shapes \[2\] and \[3\] do not broadcast/);
    expect(() => maximum(1, 2)).toThrow(/^maximum: a or b must be a Tensor, got the numbers 1 and 2$/);
    expect(() => minimum(x, 'two' as never)).toThrow(/^minimum: b must be a Tensor or a number, got the string "two"$/);
  });
});
