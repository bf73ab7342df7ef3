// min and argmin, variance and std, vector norms, normalize, cosine similarity, pairwise
// distance and the pixel (un)shuffles: values and gradients against PyTorch on awkward shapes,
// against float64 definitions with central differences, the gradients at a zero vector or a
// constant row (0, as PyTorch's, not NaN), and their errors.
import { describe, expect, it } from 'vitest';
import { argmin, cosineSimilarity, grad, min, mul, normalize, pairwiseDistance, pixelShuffle, pixelUnshuffle, std, sum, variance, vectorNorm, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectOpAsTorch, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const TOL = { values: 1e-5, grads: 1e-5 };

describe('reductions and norms as PyTorch', () => {
  it('min (amin), variance and std over axes, with keepDims and corrections', async () => {
    const rng = new Rng(1);
    type C = { shape: number[]; axes: number[] | null; keep: boolean; correction: number };
    const cases: C[] = [
      { shape: [7], axes: null, keep: false, correction: 1 },
      { shape: [3, 5], axes: [1], keep: true, correction: 0 },
      { shape: [2, 3, 5], axes: [0, 2], keep: false, correction: 1 },
      { shape: [1, 6, 3], axes: [-1], keep: false, correction: 2 },
      { shape: [5, 1, 4], axes: [1], keep: false, correction: 0 },
      // Over more than 128 values each, batch norm's statistics kernels: kept axes in one run in
      // the middle ([4, 6, 37]), a batch of 1 and a long odd row; kept axes apart: the composed ops.
      { shape: [4, 3, 2, 37], axes: [0, 3], keep: true, correction: 1 },
      { shape: [2, 3, 4, 5], axes: [1, 2], keep: false, correction: 1 },
      { shape: [1, 1037], axes: [1], keep: false, correction: 1 },
    ];
    const shapes = (c: C) => [c.shape];
    const label = (what: string) => (c: C) => `${what} ${JSON.stringify(c)}`;
    const axes = (c: C) => c.axes ?? undefined;
    await expectOpAsTorch(rt(), rng, cases, { shapes, call: "torch.amin(xs[0], dim=c['axes'] if c['axes'] is not None else tuple(range(xs[0].dim())), keepdim=c['keep'])", gpu: ([x], c) => min(x!, axes(c), c.keep), label: label('min') }, TOL);
    await expectOpAsTorch(rt(), rng, cases, { shapes, call: "torch.var(xs[0], dim=c['axes'], correction=c['correction'], keepdim=c['keep'])", gpu: ([x], c) => variance(x!, axes(c), { correction: c.correction, keepDims: c.keep }), label: label('variance') }, TOL);
    await expectOpAsTorch(rt(), rng, cases, { shapes, call: "torch.std(xs[0], dim=c['axes'], correction=c['correction'], keepdim=c['keep'])", gpu: ([x], c) => std(x!, axes(c), { correction: c.correction, keepDims: c.keep }), label: label('std') }, TOL);
  });

  it('vectorNorm of orders 1, 2, 3, 1.5 and ∞; normalize; cosine similarity, broadcasting; pairwise distance', async () => {
    const rng = new Rng(2);
    type N = { shape: number[]; ord: number; dim: number[] | null; keep: boolean };
    const norms: N[] = [
      { shape: [9], ord: 2, dim: null, keep: false },
      { shape: [3, 5], ord: 1, dim: [1], keep: true },
      { shape: [2, 3, 5], ord: 3, dim: [0, 2], keep: false },
      { shape: [4, 3], ord: 1.5, dim: [0], keep: false },
      { shape: [3, 7], ord: Infinity, dim: [-1], keep: false },
    ];
    await expectOpAsTorch(rt(), rng, norms, {
      shapes: (c) => [c.shape],
      call: "torch.linalg.vector_norm(xs[0], ord=float(c['ord']) if c['ord'] is not None else float('inf'), dim=c['dim'], keepdim=c['keep'])",
      gpu: ([x], c) => vectorNorm(x!, { ord: c.ord, dim: c.dim ?? undefined, keepDims: c.keep }),
      label: (c) => `vectorNorm ${JSON.stringify(c)}`,
    }, TOL);
    type U = { shape: number[]; p: number; dim: number };
    const units: U[] = [
      { shape: [5, 3], p: 2, dim: 1 },
      { shape: [2, 3, 4, 5], p: 2, dim: 1 },
      { shape: [3, 6], p: 1, dim: -1 },
      { shape: [7], p: 3, dim: 0 },
    ];
    await expectOpAsTorch(rt(), rng, units, { shapes: (c) => [c.shape], call: "F.normalize(xs[0], p=c['p'], dim=c['dim'])", gpu: ([x], c) => normalize(x!, { p: c.p, dim: c.dim }), label: (c) => `normalize ${JSON.stringify(c)}` }, TOL);
    type P = { a: number[]; b: number[]; dim: number };
    const pairs: P[] = [
      { a: [5, 3], b: [5, 3], dim: 1 },
      { a: [2, 3, 4], b: [3, 1], dim: 1 },
      { a: [4, 7], b: [7], dim: -1 },
      { a: [1, 6], b: [3, 6], dim: 1 },
    ];
    await expectOpAsTorch(rt(), rng, pairs, { shapes: (c) => [c.a, c.b], call: "F.cosine_similarity(xs[0], xs[1], dim=c['dim'])", gpu: ([a, b], c) => cosineSimilarity(a!, b!, { dim: c.dim }), label: (c) => `cosineSimilarity ${JSON.stringify(c)}` }, TOL);
    type D = { a: number[]; b: number[]; p: number; keep: boolean };
    const dists: D[] = [
      { a: [5, 3], b: [5, 3], p: 2, keep: false },
      { a: [4, 7], b: [7], p: 1, keep: true },
      { a: [2, 3, 5], b: [2, 3, 5], p: 3, keep: false },
      { a: [6], b: [6], p: Infinity, keep: false },
    ];
    await expectOpAsTorch(rt(), rng, dists, {
      shapes: (c) => [c.a, c.b],
      call: "F.pairwise_distance(xs[0], xs[1], p=float(c['p']) if c['p'] is not None else float('inf'), keepdim=c['keep'])",
      gpu: ([a, b], c) => pairwiseDistance(a!, b!, { p: c.p, keepDims: c.keep }),
      label: (c) => `pairwiseDistance ${JSON.stringify(c)}`,
    }, TOL);
  });

  it('pixelShuffle and pixelUnshuffle, with and without leading batch dimensions', async () => {
    const rng = new Rng(3);
    type S = { shape: number[]; r: number };
    const shuffles: S[] = [
      { shape: [2, 12, 3, 5], r: 2 },
      { shape: [9, 2, 1], r: 3 },
      { shape: [2, 1, 8, 2, 3], r: 2 },
      { shape: [1, 5, 2, 2], r: 1 },
    ];
    await expectOpAsTorch(rt(), rng, shuffles, { shapes: (c) => [c.shape], call: "F.pixel_shuffle(xs[0], c['r'])", gpu: ([x], c) => pixelShuffle(x!, c.r), label: (c) => `pixelShuffle ${JSON.stringify(c)}` }, { values: 0, grads: 1e-6 });
    const unshuffles: S[] = [
      { shape: [2, 3, 6, 10], r: 2 },
      { shape: [1, 9, 3], r: 3 },
      { shape: [2, 1, 2, 4, 6], r: 2 },
    ];
    await expectOpAsTorch(rt(), rng, unshuffles, { shapes: (c) => [c.shape], call: "F.pixel_unshuffle(xs[0], c['r'])", gpu: ([x], c) => pixelUnshuffle(x!, c.r), label: (c) => `pixelUnshuffle ${JSON.stringify(c)}` }, { values: 0, grads: 1e-6 });
    // One undoes the other.
    const x = rt().tensor(f32(rng.array(2 * 8 * 6 * 4)), [2, 8, 6, 4]);
    expect([...(await pixelShuffle(pixelUnshuffle(x, 2), 2).read())]).toEqual([...(await x.read())]);
  });
});

describe('against float64 definitions', () => {
  it('variance, a 3-norm and cosine similarity, with central differences', async () => {
    const rng = new Rng(4);
    const rows = (x: Float64Array, n: number) => Array.from({ length: x.length / n }, (_, i) => x.subarray(i * n, (i + 1) * n));
    await checkOp(rt(), rng, {
      name: 'variance (rows of 5, correction 1)',
      shapes: [[3, 5]],
      gpu: ([x]) => variance(x!, 1),
      ref: ([x]) => Float64Array.from(rows(x!, 5), (r) => {
        const m = r.reduce((a, b) => a + b, 0) / 5;
        return r.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      }),
      refGrad: ([x], g) => [Float64Array.from(x!, (v, i) => {
        const r = rows(x!, 5)[Math.floor(i / 5)]!;
        return (g[Math.floor(i / 5)]! * 2 * (v - r.reduce((a, b) => a + b, 0) / 5)) / 4;
      })],
      tol: 1e-5,
    });
    await checkOp(rt(), rng, {
      name: '3-norm of rows of 4',
      shapes: [[2, 4]],
      gpu: ([x]) => vectorNorm(x!, { ord: 3, dim: 1 }),
      ref: ([x]) => Float64Array.from(rows(x!, 4), (r) => r.reduce((a, b) => a + Math.abs(b) ** 3, 0) ** (1 / 3)),
      refGrad: ([x], g) => {
        const n = rows(x!, 4).map((r) => r.reduce((a, b) => a + Math.abs(b) ** 3, 0) ** (1 / 3));
        return [Float64Array.from(x!, (v, i) => (g[Math.floor(i / 4)]! * Math.sign(v) * v * v) / n[Math.floor(i / 4)]! ** 2)];
      },
      tol: 1e-5,
    });
    // Over the first and last axes of [9, 4, 17] (batch norm's statistics kernels, as over more
    // than 128 values each): 153 values for each of the 4 kept.
    const at = (i: number, j: number) => Math.floor(j / 17) * 68 + i * 17 + (j % 17);
    const column = (x: Float64Array, i: number) => Array.from({ length: 153 }, (_, j) => x[at(i, j)]!);
    const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    await checkOp(rt(), rng, {
      name: 'variance over axes 0 and 2 of [9, 4, 17], correction 0',
      shapes: [[9, 4, 17]],
      gpu: ([x]) => variance(x!, [0, 2], { correction: 0 }),
      ref: ([x]) => Float64Array.from({ length: 4 }, (_, i) => {
        const v = column(x!, i);
        return v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0) / 153;
      }),
      refGrad: ([x], g) => [Float64Array.from(x!, (v, k) => {
        const i = Math.floor(k / 17) % 4;
        return (g[i]! * 2 * (v - meanOf(column(x!, i)))) / 153;
      })],
      tol: 1e-5,
    });
    const cos = (a: Float64Array, b: Float64Array) => {
      const dot = a.reduce((s, v, i) => s + v * b[i]!, 0);
      return dot / (Math.hypot(...a) * Math.hypot(...b));
    };
    await checkOp(rt(), rng, {
      name: 'cosine similarity of rows of 6',
      shapes: [[3, 6], [3, 6]],
      gpu: ([a, b]) => cosineSimilarity(a!, b!),
      ref: ([a, b]) => Float64Array.from(rows(a!, 6), (r, i) => cos(r, rows(b!, 6)[i]!)),
      refGrad: ([a, b], g) => {
        // ∂cos/∂a = b/(|a||b|) − cos·a/|a|².
        const d = (x: Float64Array, y: Float64Array) => Float64Array.from(x, (_, i) => {
          const [r, s, k] = [rows(x, 6)[Math.floor(i / 6)]!, rows(y, 6)[Math.floor(i / 6)]!, i % 6];
          return g[Math.floor(i / 6)]! * (s[k]! / (Math.hypot(...r) * Math.hypot(...s)) - (cos(r, s) * r[k]!) / Math.hypot(...r) ** 2);
        });
        return [d(a!, b!), d(b!, a!)];
      },
      tol: 1e-5,
    });
  });
});

describe('edges', () => {
  it("gradients at a zero vector and a constant row are PyTorch's (0, or 1/eps through normalize's numerator), not NaN", async () => {
    const torch = torchJson<number[][]>(`
import json, torch
import torch.nn.functional as F
out = []
for f in [lambda x: torch.linalg.vector_norm(x, dim=1), lambda x: torch.linalg.vector_norm(x, ord=3, dim=1), lambda x: torch.std(x, dim=1), lambda x: F.normalize(x, dim=1).sum(1)]:
    x = torch.tensor([[0., 0., 0.], [1., 1., 1.]], requires_grad=True)
    y = f(x)
    y.sum().backward()
    out.append(y.tolist() + x.grad.flatten().tolist())
print(json.dumps(out))`);
    const fs: ((x: Tensor) => Tensor)[] = [(x) => vectorNorm(x, { dim: 1 }), (x) => vectorNorm(x, { ord: 3, dim: 1 }), (x) => std(x, 1), (x) => sum(normalize(x), 1)];
    for (const [i, f] of fs.entries()) {
      const x = rt().tensor([[0, 0, 0], [1, 1, 1]]);
      const y = f(x);
      const [g] = grad(sum(y), [x]);
      const got = [...(await y.read()), ...(await g!.read())];
      expect(got.every(Number.isFinite), `case ${i}: ${got}`).toBe(true);
      expectClose(got, torch[i]!, 1e-6, `case ${i}`);
    }
    // Second derivatives: std's at a constant row 0, as PyTorch's, and a 3-norm's at a zero vector;
    // a 2-norm's there 0 too, where PyTorch's is NaN (∞·0 inside its masked slope). Elsewhere
    // PyTorch's.
    const w = [[1, -2, 3], [0.5, 2, -1]];
    const hessians = torchJson<number[][]>(`
import json, torch
out = []
for f, rows in [(lambda x: torch.std(x, dim=1), [[1., 1., 1.], [1., 2., 4.]]), (lambda x: torch.linalg.vector_norm(x, dim=1), [[0., 0., 0.], [1., 2., 4.]]), (lambda x: torch.linalg.vector_norm(x, ord=3, dim=1), [[0., 0., 0.], [1., -2., 4.]])]:
    x = torch.tensor(rows, requires_grad=True)
    g, = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    h, = torch.autograd.grad((g * torch.tensor(${JSON.stringify(w)})).sum(), x)
    out.append(h.flatten().tolist())
print(json.dumps(out).replace('NaN', '"NaN"'))`);
    const rows = [[[1, 1, 1], [1, 2, 4]], [[0, 0, 0], [1, 2, 4]], [[0, 0, 0], [1, -2, 4]]];
    for (const [i, f] of [fs[2]!, fs[0]!, fs[1]!].entries()) {
      const x = rt().tensor(rows[i]!);
      const [g] = grad(sum(f(x)), [x]);
      const [h] = grad(sum(mul(g!, rt().tensor(w))), [x]);
      const want = hessians[i]!.map((v, k) => (k < 3 && i === 1 ? (expect(v).toBe('NaN'), 0) : v));
      expectClose(await h!.read(), want, 1e-5, `second derivative, case ${i}`);
    }
    // variance's second derivative (the gradient of its gradient kernel) over kept axes in a
    // run of [3, 4, 50], and std's, as PyTorch's.
    const x3 = Array.from(f32(new Rng(9).array(3 * 4 * 50)));
    const w3 = Array.from(f32(new Rng(10).array(3 * 4 * 50)));
    const second = torchJson<number[][]>(`
import json, torch
out = []
for f in [lambda x: torch.var(x, dim=(0, 2)), lambda x: torch.std(x, dim=(0, 2)), lambda x: torch.var(x)]:
    x = torch.tensor(${JSON.stringify(x3)}, dtype=torch.float64).reshape(3, 4, 50).requires_grad_()
    g, = torch.autograd.grad((f(x) * torch.arange(1., f(x).numel() + 1, dtype=torch.float64).reshape(f(x).shape)).sum(), x, create_graph=True)
    h, = torch.autograd.grad((g * torch.tensor(${JSON.stringify(w3)}, dtype=torch.float64).reshape(3, 4, 50)).sum(), x)
    out.append(g.flatten().tolist() + h.flatten().tolist())
print(json.dumps(out))`);
    for (const [i, f] of [(x: Tensor) => variance(x, [0, 2]), (x: Tensor) => std(x, [0, 2]), (x: Tensor) => variance(x)].entries()) {
      const x = rt().tensor(f32(x3), [3, 4, 50]);
      const y = f(x);
      const [g] = grad(sum(mul(y, rt().tensor(Float32Array.from({ length: y.size }, (_, k) => k + 1), y.shape))), [x]);
      const [h] = grad(sum(mul(g!, rt().tensor(f32(w3), [3, 4, 50]))), [x]);
      expectClose([...(await g!.read()), ...(await h!.read())], second[i]!, 1e-5, `gradient and second derivative, case ${i}`);
    }
    // A single value's sample variance divides by 0, as PyTorch's (NaN); the population's is 0.
    expect(await variance(rt().tensor([3]), 0).item()).toBeNaN();
    expect(await variance(rt().tensor([3]), 0, { correction: 0 }).item()).toBe(0);
  });

  it('argmin: the first minimum along an axis', async () => {
    const x = rt().tensor([[3, 1, 1, 2], [0, 5, -2, -2], [7, 7, 7, 7]]);
    expect([...(await argmin(x).read())]).toEqual([1, 2, 0]);
    expect([...(await argmin(x, 0).read())]).toEqual([1, 0, 1, 1]);
    expect(argmin(x, 0).dtype).toBe('i32');
  });

  it('refuse bad options and shapes, naming the op', () => {
    const x = rt().zeros([2, 3]);
    expectShapeErrors([
      [() => vectorNorm(x, { ord: 0.5 }), /^vectorNorm: ord must be a number ≥ 1 or Infinity, got 0\.5/],
      [() => vectorNorm(x, { dim: 2 }), /^vectorNorm: /],
      [() => vectorNorm(x, { axis: 1 } as never), /^vectorNorm: unknown option 'axis'/],
      [() => vectorNorm(rt().zeros([0]), { ord: Infinity }), /^vectorNorm: axis 0 of \[0\] is empty: there is no maximum/],
      [() => variance(x, 1, { correction: -1 }), /^variance: correction must be a finite number ≥ 0, got -1/],
      [() => std(x, [0, 0]), /^std: axes \[0, 0\] name an axis of \[2, 3\] twice/],
      [() => normalize(rt().scalar(1)), /^normalize: needs at least one dimension, got a scalar/],
      [() => normalize(x, { eps: -1 }), /^normalize: eps must be a finite number ≥ 0, got -1/],
      [() => cosineSimilarity(x, rt().zeros([3, 3])), /^cosineSimilarity: the shapes do not broadcast: x1 \[2, 3\], x2 \[3, 3\]/],
      [() => pairwiseDistance(x, rt().zeros([2, 4])), /^pairwiseDistance: the shapes do not broadcast: x1 \[2, 3\], x2 \[2, 4\]/],
      [() => pixelShuffle(rt().zeros([2, 6, 3, 3]), 2), /^pixelShuffle: its 6 channels are not a multiple of the factor squared, 4: input \[2, 6, 3, 3\]/],
      [() => pixelShuffle(x, 2), /^pixelShuffle: needs \[\*, C, H, W\] or \[C, H, W\], got \[2, 3\]/],
      [() => pixelUnshuffle(rt().zeros([1, 2, 4, 5]), 2), /^pixelUnshuffle: its height and width are not multiples of the factor 2: input \[1, 2, 4, 5\]/],
      [() => pixelUnshuffle(rt().zeros([1, 2, 4, 4]), 1.5), /^pixelUnshuffle: the factor must be an integer ≥ 1, got 1\.5/],
      [() => argmin(rt().scalar(1)), /^argmin: needs at least one dimension, got a scalar/],
      [() => min(x, 5), /^min: /],
    ]);
  });
});
