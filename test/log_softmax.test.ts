// logSoftmax, logSumExp (softmax.wgsl's other entry points) and max (torch.amax, reduce.wgsl)
// against float64 references and PyTorch 1.13: values along any axis of awkward shapes, wide
// logits, ±inf and NaN, gradients against the references' analytic gradients and central
// differences (checkOp), second derivatives, errors.
import { describe, expect, it } from 'vitest';
import { add, exp, grad, log, logSoftmax, logSumExp, max, min, mul, ShapeError, softmax, sub, sum, type Runtime } from '../src/index.js';
import { checkOp, expectClose, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson } from './oracle.js';
import { refLogSoftmax, refLogSoftmaxGrad, refLogSumExp, refMax, refSoftmax } from './references.js';

const rt = useRuntime();

// Tolerances (normwise relative error; measured worst cases in the comments of each test).
const TOL = 1e-6;
const GRAD_TOL = 1e-5;

/** Values through JSON both ways: ±inf and NaN as strings. */
const enc = (a: ArrayLike<number>) => Array.from(a, (v) => (Number.isFinite(v) ? v : String(v)));
const dec = (a: (number | string)[]) => a.map((v) => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity));
const PY_IO = `
import json, math, sys, torch
def dec(a): return torch.tensor([float(v) if isinstance(v, str) else v for v in a], dtype=torch.float32)
def enc(t): return [v if math.isfinite(v) else ('nan' if math.isnan(v) else ('inf' if v > 0 else '-inf')) for v in t.detach().flatten().tolist()]
`;

/** Equal element by element, NaN matching NaN, within `tol` relative to max(1, |expected|). */
function expectMatches(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (Number.isNaN(w) || !Number.isFinite(w)) expect(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${what}[${i}]: ${g}, expected ${w}`).toBe(true);
    else expect(Math.abs(g - w), `${what}[${i}]: ${g}, expected ${w}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(w)));
  }
}

async function checkLogSoftmax(rng: Rng, shape: number[], axis: number, range: [number, number] = [-3, 3]): Promise<void> {
  const a = axis < 0 ? axis + shape.length : axis;
  await checkOp(rt(), rng, {
    name: `logSoftmax [${shape}] axis ${axis}`,
    shapes: [shape],
    range,
    gpu: ([x]) => logSoftmax(x!, axis),
    ref: ([x]) => refLogSoftmax(x!, shape, a),
    refGrad: ([x], r) => [refLogSoftmaxGrad(x!, r, shape, a)],
    tol: TOL,
    gradTol: GRAD_TOL,
  });
}

/** Shapes of rank 1 to 4 with odd sizes and batches of 1, each with an axis (first, middle, last, negative). */
const CASES: [number[], number][] = [
  [[1], 0], [[7], -1], [[1, 10], 1], [[3, 1], 1], [[5, 13], 0], [[2, 65], -1], [[130, 3], 1],
  [[1, 5, 3], 1], [[4, 5, 6], 0], [[4, 5, 6], -2], [[3, 1, 9], 2], [[2, 3, 4, 5], 0], [[2, 3, 4, 5], 1], [[1, 3, 5, 7], -1], [[3, 2, 1, 5], -3],
  // Lines shared by teams of invocations (softmax.ts): 2, 16 and 4 to a line.
  [[65, 40], -1], [[3, 300], 1], [[2, 100, 3], 1],
];

describe('logSoftmax', () => {
  it('matches float64 along any axis of awkward shapes, with gradients', async () => {
    // Worst seen (both tests): forward 1.1e-7, gradient 3.9e-7.
    const rng = new Rng(31);
    for (const [shape, axis] of CASES) await checkLogSoftmax(rng, shape, axis);
    for (let t = 0; t < 6; t++) {
      const shape = Array.from({ length: rng.int(1, 4) }, () => rng.int(1, 7));
      await checkLogSoftmax(rng, shape, rng.int(-shape.length, shape.length - 1));
    }
  });

  it('is finite and exact for wide logits, where log(softmax(x)) is −inf', async () => {
    const wide = rt().tensor([[0, 120, 10]]);
    expect(Array.from(await log(softmax(wide)).read())).toContain(-Infinity); // the gap this op fills
    expectMatches(await logSoftmax(wide).read(), [-120, 0, -110], 0, 'log_softmax of [0, 120, 10]');
    // Logits in ±100 and spreads of 200, and in ±1000, with gradients.
    const rng = new Rng(32);
    for (const [shape, axis] of [[[8, 12], -1], [[5, 4, 3], 1], [[33], 0]] as [number[], number][]) await checkLogSoftmax(rng, shape, axis, [-100, 100]);
    await checkLogSoftmax(rng, [6, 10], 0, [-1000, 1000]);
  });

  it('matches PyTorch, values and gradients, with wide logits, −inf, +inf and NaN', async () => {
    const rng = new Rng(33);
    const shape = [6, 9, 5];
    const x = rng.array(270, -100, 100);
    const inf = (row: number, k: number, v: number) => (x[row * 45 + k * 5] = v); // along axis 1, column 0
    inf(0, 0, -Infinity); // one −inf: −inf there, finite elsewhere
    inf(1, 3, -Infinity);
    inf(1, 4, -Infinity);
    for (let k = 0; k < 9; k++) inf(2, k, -Infinity); // all −inf: NaN
    inf(3, 2, Infinity); // +inf: NaN
    inf(4, 7, NaN); // NaN: NaN
    const r = rng.array(270);
    const torch = torchJson<{ y: (number | string)[]; g: (number | string)[] }>(`${PY_IO}
d = json.load(sys.stdin)
x = dec(d['x']).reshape(6, 9, 5).requires_grad_()
y = torch.log_softmax(x, 1)
y.backward(dec(d['r']).reshape(6, 9, 5))
print(json.dumps({'y': enc(y), 'g': enc(x.grad)}))`, JSON.stringify({ x: enc(x), r: enc(r) }));
    const t = rt().tensor(f32(x), shape);
    const y = logSoftmax(t, 1);
    const [g] = grad(y, [t], rt().tensor(f32(r), shape));
    // Worst seen: 1.2e-7 (values) and 3.0e-7 (gradients), relative to max(1, |torch's|).
    expectMatches(await y.read(), dec(torch.y), 1e-6, 'values');
    expectMatches(await g!.read(), dec(torch.g), 1e-6, 'gradients');
    const want = refLogSoftmax(x, shape, 1);
    expect(want.filter(Number.isNaN).length).toBe(3 * 9); // three NaN lines, as torch's
    expect(Array.from(await y.read()).filter(Number.isNaN).length).toBe(3 * 9);
  });

  it('matches PyTorch on lines shared by a team of invocations (100 values: 4), with −inf, +inf and NaN', async () => {
    // Along axis 1 of [5, 100, 3], the team's members hold different parts of each line: its
    // maximum and sum come from all of them. Also softmax and logsumexp there.
    const rng = new Rng(35);
    const shape = [5, 100, 3];
    const x = rng.array(1500, -50, 50);
    const at = (row: number, k: number) => row * 300 + k * 3; // column 0 of row `row`, k along axis 1
    x[at(0, 77)] = -Infinity;
    for (let k = 0; k < 100; k++) x[at(1, k)] = -Infinity; // all −inf
    x[at(2, 98)] = Infinity;
    x[at(3, 13)] = NaN;
    x[at(4, 99)] = 1e30; // the maximum in the last member's share
    const torch = torchJson<Record<'l' | 's' | 'e', (number | string)[]>>(`${PY_IO}
x = dec(json.load(sys.stdin)).reshape(5, 100, 3)
print(json.dumps({'l': enc(torch.log_softmax(x, 1)), 's': enc(torch.softmax(x, 1)), 'e': enc(torch.logsumexp(x, 1))}))`, JSON.stringify(enc(x)));
    const t = rt().tensor(f32(x), shape);
    expectMatches(await logSoftmax(t, 1).read(), dec(torch.l), 1e-6, 'log_softmax');
    expectMatches(await softmax(t, 1).read(), dec(torch.s), 1e-6, 'softmax');
    expectMatches(await logSumExp(t, 1).read(), dec(torch.e), 1e-6, 'logsumexp');
  });

  it('keeps the exact values of [−inf, 0]: [−inf, 0], with gradient g − softmax·Σg', async () => {
    const t = rt().tensor(Float32Array.of(-Infinity, 0), [2]);
    const y = logSoftmax(t);
    expectMatches(await y.read(), [-Infinity, 0], 0, 'values');
    const [g] = grad(y, [t], rt().tensor(Float32Array.of(1, 2), [2]));
    expectMatches(await g!.read(), [1, -1], 0, 'gradient (torch: [1, −1])');
  });

  it('has a differentiable gradient (second derivatives)', async () => {
    // f = Σ w·logSoftmax(x), df/dx = w − p·W (p = softmax(x), W = Σw); h = Σ v·df/dx has
    // dh/dx_k = −W·p_k·(v_k − Σ_j v_j·p_j), by hand. Worst seen: 4.6e-7.
    const rng = new Rng(34);
    const x = rng.array(5, -3, 3);
    const w = rng.array(5);
    const v = rng.array(5);
    const t = rt().tensor(f32(x), [5]);
    const [g] = grad(sum(mul(logSoftmax(t), rt().tensor(f32(w), [5]))), [t]);
    const [h] = grad(sum(mul(g!, rt().tensor(f32(v), [5]))), [t]);
    const p = refSoftmax(x, [5], 0);
    const W = w.reduce((s, z) => s + z, 0);
    const pv = p.reduce((s, z, j) => s + z * v[j]!, 0);
    expectClose(await h!.read(), Array.from(p, (pk, k) => -W * pk * (v[k]! - pv)), GRAD_TOL, 'd²f/dx²·v');
  });

  it('names the problem: dtype, scalar, axis', () => {
    expect(() => logSoftmax(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(new ShapeError('logSoftmax', 'needs an f32 tensor, got i32', [[2]]));
    expect(() => logSoftmax(rt().tensor(Float32Array.of(1), []))).toThrow(/logSoftmax: needs at least one dimension/);
    expect(() => logSoftmax(rt().zeros([2, 3]), -3)).toThrow(/axis -3 out of range for rank 2/);
  });
});

describe('logSumExp', () => {
  it('matches float64 along any axis, keepDims or not, with gradients (softmax)', async () => {
    // Worst seen: forward 6.4e-8, gradient 1.8e-7.
    const rng = new Rng(41);
    for (const [[shape, axis], k] of CASES.map((c, i) => [c, i] as const)) {
      const a = axis < 0 ? axis + shape.length : axis;
      const ref = refLogSumExp(shape, a);
      for (const range of [[-3, 3], [-100, 100]] as [number, number][]) {
        await checkOp(rt(), rng, {
          name: `logSumExp [${shape}] axis ${axis} in ${range}`,
          shapes: [shape],
          range,
          gpu: ([x]) => logSumExp(x!, axis, k % 2 === 0),
          ref: ([x]) => ref.forward(x!),
          refGrad: ([x], r) => [ref.grad(x!, r)],
          tol: TOL,
          gradTol: GRAD_TOL,
        });
      }
    }
    expect(logSumExp(rt().zeros([2, 3, 4]), 1, true).shape).toEqual([2, 1, 4]);
    expect(logSumExp(rt().zeros([2, 3, 4]), 1).shape).toEqual([2, 4]);
  });

  it('matches PyTorch on ±inf, NaN and empty lines', async () => {
    const rows = [[0, 120, 10], [-Infinity, 0, 1], [-Infinity, -Infinity, -Infinity], [Infinity, 0, 1], [Infinity, Infinity, 0], [1, NaN, 2], [-1e30, -1e30, -1e30]];
    const torch = torchJson<(number | string)[]>(`${PY_IO}
print(json.dumps(enc(torch.logsumexp(dec(json.load(sys.stdin)).reshape(7, 3), 1))))`, JSON.stringify(enc(rows.flat())));
    expectMatches(await logSumExp(rt().tensor(f32(rows.flat()), [7, 3])).read(), dec(torch), 1e-6, 'logsumexp'); // worst seen 9e-8
    expectMatches(await logSumExp(rt().zeros([2, 0]), 1).read(), [-Infinity, -Infinity], 0, 'of an empty line (torch: −inf)');
    expectMatches(await logSumExp(rt().zeros([0, 100]), 1).read(), [], 0, 'of no lines');
    // Gradients there too (a line holding +inf: NaN at the +inf, 0 at finite values, as torch's).
    const edge = [[Infinity, 0, -Infinity], [-Infinity, 0, 1], [0, 120, 10], [1, NaN, 2], [1e30, -1e30, 1e30]];
    const torchGrad = torchJson<(number | string)[]>(`${PY_IO}
x = dec(json.load(sys.stdin)).reshape(5, 3).requires_grad_()
torch.logsumexp(x, 1).sum().backward()
print(json.dumps(enc(x.grad)))`, JSON.stringify(enc(edge.flat())));
    const t = rt().tensor(f32(edge.flat()), [5, 3]);
    expectMatches(await grad(sum(logSumExp(t)), [t])[0]!.read(), dec(torchGrad), 1e-6, 'logsumexp gradient');
  });

  it('equals its composed form add(m, log(sum(exp(sub(x, m))))), m = max(x, axis, true), values and gradients', async () => {
    // Worst seen: 0 (values) and 1.9e-6 (gradients: PyTorch's exp(x − y), whose y, up to 100
    // here, is rounded to 7.6e-6, against the composed form's softmax).
    const rng = new Rng(42);
    const x = rng.array(4 * 7 * 3, -100, 100);
    const t = rt().tensor(f32(x), [4, 7, 3]);
    const m = max(t, 1, true);
    const composed = add(m, log(sum(exp(sub(t, m)), 1, true)));
    const fused = logSumExp(t, 1, true);
    expectClose(await composed.read(), await fused.read(), 1e-6, 'values');
    const r = rt().tensor(f32(rng.array(12)), [4, 1, 3]);
    const [gc] = grad(composed, [t], r);
    const [gf] = grad(fused, [t], r);
    expectClose(await gc!.read(), await gf!.read(), 1e-5, 'gradients');
  });

  it('has a differentiable gradient (second derivatives)', async () => {
    // d²/dx² log Σ exp(x) = diag(p) − p·pᵀ; its product with v is p⊙(v − p·v). Worst seen: 1.1e-7.
    const rng = new Rng(43);
    const x = rng.array(6, -3, 3);
    const v = rng.array(6);
    const t = rt().tensor(f32(x), [6]);
    const [g] = grad(logSumExp(t), [t]);
    const [h] = grad(sum(mul(g!, rt().tensor(f32(v), [6]))), [t]);
    const p = refSoftmax(x, [6], 0);
    const pv = p.reduce((s, z, j) => s + z * v[j]!, 0);
    expectClose(await h!.read(), Array.from(p, (pk, k) => pk * (v[k]! - pv)), GRAD_TOL, 'hessian·v');
  });

  it('names the problem', () => {
    expect(() => logSumExp(rt().tensor(Float32Array.of(1), []))).toThrow(/scalar/);
    expect(() => logSumExp(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(/^logSumExp: needs an f32 tensor, got i32$/);
    expect(() => logSumExp(rt().zeros([2, 3]), 2)).toThrow(/axis 2 out of range for rank 2/);
    expect(() => logSumExp(rt().zeros([2, 3]), 1, { keepdim: true } as never)).toThrow(/keepDims must be true or false/);
  });
});

for (const software of [true, false]) {
  describe(`max (work split as on a ${software ? 'CPU' : 'GPU'})`, () => {
    const split = useRuntimeSplittingAs(software);

    async function checkMax(r: Runtime, rng: Rng, shape: number[], axes: number[] | undefined, keepDims: boolean): Promise<void> {
      const red = (axes ?? shape.map((_, i) => i)).map((a) => (a < 0 ? a + shape.length : a));
      const ref = refMax(shape, red);
      await checkOp(r, rng, {
        name: `max [${shape}] axes ${axes ? `[${axes}]` : 'all'}${keepDims ? ' keepDims' : ''}`,
        shapes: [shape],
        gpu: ([x]) => max(x!, axes, keepDims),
        ref: ([x]) => ref.forward(x!),
        refGrad: ([x], g) => [ref.grad(x!, g)],
        tol: 0, // a maximum is one of the inputs: exact
        gradTol: 0, // r itself, or 0
      });
    }

    it('matches float64 over any axes, keepDims or not, with gradients', async () => {
      const rng = new Rng(software ? 51 : 52);
      const r = split();
      for (const [shape, axis] of CASES) await checkMax(r, rng, shape, [axis], rng.next() < 0.5);
      await checkMax(r, rng, [3, 4, 5], undefined, false);
      await checkMax(r, rng, [3, 4, 5], [0, 2], true);
      await checkMax(r, rng, [2, 3, 4, 5], [-1, 1], false);
      await checkMax(r, rng, [2, 3, 4, 5], [0, 1, 3], true);
      await checkMax(r, rng, [1, 1000], [1], false); // long lines: many invocations per output
      await checkMax(r, rng, [300, 70], [0], false);
      await checkMax(r, rng, [7, 33, 9], [0, 2], false);
      for (let t = 0; t < 6; t++) {
        const shape = Array.from({ length: rng.int(1, 4) }, () => rng.int(1, 7));
        const axes = shape.map((_, i) => i).filter(() => rng.next() < 0.5);
        await checkMax(r, rng, shape, axes.length ? axes : undefined, rng.next() < 0.5);
      }
    });

    it('matches PyTorch on ties (the gradient split evenly), ±inf and NaN (propagated)', async () => {
      const rows = [
        [1, 3, 3, 0, 3], // three tied maxima: a third each
        [2, 2, 2, 2, 2],
        [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
        [-Infinity, 0, -1, Infinity, 5],
        [1, NaN, 3, 0, 0], // NaN: NaN, and NaN gradients throughout, as torch's
        [NaN, 9, 9, 0, 1],
        [-1e30, -3e38, -1e30, -5, -5],
      ];
      const x = rows.flat();
      const gr = [1, -2, 0.5, 3, 4, -1, 2];
      const torch = torchJson<Record<'y' | 'g' | 'all' | 'gall' | 'cols' | 'gcols', (number | string)[]>>(`${PY_IO}
d = json.load(sys.stdin)
out = {}
x = dec(d['x']).reshape(7, 5).requires_grad_()
y = torch.amax(x, 1)
y.backward(dec(d['g']))
out['y'], out['g'] = enc(y), enc(x.grad)
x = dec(d['x'])[:15].reshape(3, 5).requires_grad_()
y = torch.amax(x)
y.backward()
out['all'], out['gall'] = enc(y), enc(x.grad)
x = dec(d['x']).reshape(7, 5).requires_grad_()
y = torch.amax(x, 0, True)
y.backward(torch.ones(1, 5))
out['cols'], out['gcols'] = enc(y), enc(x.grad)
print(json.dumps(out))`, JSON.stringify({ x: enc(x), g: gr }));
      const r = split();
      const t = r.tensor(f32(x), [7, 5]);
      const y = max(t, 1);
      const [g] = grad(y, [t], r.tensor(f32(gr), [7]));
      expectMatches(await y.read(), dec(torch.y), 0, 'rows');
      expectMatches(await g!.read(), dec(torch.g), 1e-7, 'rows, gradient');
      const first = r.tensor(f32(x.slice(0, 15)), [3, 5]);
      const all = max(first);
      expect(all.shape).toEqual([]);
      expectMatches(await all.read(), dec(torch.all), 0, 'all');
      expectMatches(await grad(all, [first])[0]!.read(), dec(torch.gall), 1e-7, 'all, gradient');
      const cols = max(t, 0, true);
      expect(cols.shape).toEqual([1, 5]);
      expectMatches(await cols.read(), dec(torch.cols), 0, 'columns');
      expectMatches(await grad(cols, [t], r.ones([1, 5]))[0]!.read(), dec(torch.gcols), 1e-7, 'columns, gradient');
    });

    it('finds a NaN anywhere in a long line', async () => {
      const r = split();
      for (const at of [0, 1, 517, 999]) {
        const x = new Float32Array(1000).fill(1);
        x[at] = NaN;
        const y = await max(r.tensor(x, [2, 500]), 1).read();
        expect([Number.isNaN(y[0]!), Number.isNaN(y[1]!)], `NaN at ${at}`).toEqual([at < 500, at >= 500]);
      }
    });
  });
}

describe('max', () => {
  it('has a differentiable gradient: second derivatives through it', async () => {
    // f = Σ w·max(x, 1)² per row; df/dx = 2·w·m at the maxima (split among ties);
    // d/dx Σ v·df/dx = 2·w·(Σ_ties v / ties)·(1/ties) at the maxima, 0 elsewhere (as torch's).
    const x = Float32Array.of(1, 4, 4, 0, -2, 5, 3, 5);
    const t = rt().tensor(x, [2, 4]);
    const w = rt().tensor(Float32Array.of(2, 3), [2]);
    const m = max(t, 1);
    const [g] = grad(sum(mul(w, mul(m, m))), [t]);
    expectMatches(await g!.read(), [0, 8, 8, 0, 0, 15, 0, 15], 0, 'first derivative');
    const v = rt().tensor(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), [2, 4]);
    const [h] = grad(sum(mul(g!, v)), [t]);
    expectMatches(await h!.read(), [0, 5, 5, 0, 0, 21, 0, 21], 1e-7, 'second derivative');
  });

  it('names the problem: empty axes, dtype, repeated axes, keepDims', () => {
    expect(() => max(rt().zeros([2, 0]), 1)).toThrow(/max: axis 1 of \[2, 0\] is empty: there is no maximum/);
    // min is max of −x: named as min's all the same.
    expect(() => min(rt().zeros([3, 0]), 1)).toThrow(new ShapeError('min', 'axis 1 of [3, 0] is empty: there is no minimum', [[3, 0]]));
    expect(() => min(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(/^min: needs an f32 tensor, got i32/);
    expect(max(rt().zeros([0, 3]), 1).shape).toEqual([0]); // an empty kept axis is no empty line
    expect(() => max(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(ShapeError);
    expect(() => max(rt().zeros([2, 3]), [1, -1])).toThrow(/name an axis of \[2, 3\] twice/);
    expect(() => max(rt().zeros([2, 3]), [])).toThrow(/no axes given/);
    expect(() => max(rt().zeros([2, 3]), 1, { keepdim: true } as never)).toThrow(/keepDims must be true or false/);
  });
});
