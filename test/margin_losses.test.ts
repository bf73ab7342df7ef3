// The margin and embedding losses (margin ranking, hinge embedding, soft margin, multi-label
// soft margin, multi-class margin, cosine embedding, triplet margin) and the Poisson and Gaussian negative
// log-likelihoods against PyTorch's torch.nn.functional: values and the gradients of every
// float input, with every reduction and the options; a float64 definition with central
// differences; and their errors.
import { describe, expect, it } from 'vitest';
import {
  cosineEmbeddingLoss,
  gaussianNllLoss,
  grad,
  hingeEmbeddingLoss,
  marginRankingLoss,
  mul,
  multiLabelSoftMarginLoss,
  multiMarginLoss,
  poissonNllLoss,
  softMarginLoss,
  sum,
  tripletMarginLoss,
  type Reduction,
  type Tensor,
} from '../src/index.js';
import { checkOp, expectClose, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

type Kind = 'any' | 'pm1' | 'pm1or0' | 'binary' | 'count' | 'positive';
interface Case {
  name: string;
  /** Each input's shape, how it is drawn, and whether its gradient is compared. */
  inputs: [shape: number[], kind: Kind, grad: boolean][];
  ours: (xs: Tensor[], r: Reduction) => Tensor;
  /** PyTorch's, a Python expression of xs and r. */
  torch: string;
}

const CASES: Case[] = [
  { name: 'marginRankingLoss (margin 0.3)', inputs: [[[4, 5], 'any', true], [[4, 5], 'any', true], [[4, 5], 'pm1', false]], ours: ([a, b, y], r) => marginRankingLoss(a!, b!, y!, { margin: 0.3, reduction: r }), torch: 'F.margin_ranking_loss(xs[0], xs[1], xs[2], margin=0.3, reduction=r)' },
  { name: 'hingeEmbeddingLoss (targets ±1 and 0)', inputs: [[[3, 7], 'any', true], [[3, 7], 'pm1or0', false]], ours: ([x, y], r) => hingeEmbeddingLoss(x!, y!, { reduction: r }), torch: 'F.hinge_embedding_loss(xs[0], xs[1], reduction=r)' },
  { name: 'hingeEmbeddingLoss (margin 0.5)', inputs: [[[11], 'any', true], [[11], 'pm1', false]], ours: ([x, y], r) => hingeEmbeddingLoss(x!, y!, { margin: 0.5, reduction: r }), torch: 'F.hinge_embedding_loss(xs[0], xs[1], margin=0.5, reduction=r)' },
  { name: 'softMarginLoss', inputs: [[[2, 3, 5], 'any', true], [[2, 3, 5], 'pm1', false]], ours: ([x, y], r) => softMarginLoss(x!, y!, { reduction: r }), torch: 'F.soft_margin_loss(xs[0], xs[1], reduction=r)' },
  { name: 'multiLabelSoftMarginLoss', inputs: [[[5, 7], 'any', true], [[5, 7], 'binary', false]], ours: ([x, y], r) => multiLabelSoftMarginLoss(x!, y!, { reduction: r }), torch: 'F.multilabel_soft_margin_loss(xs[0], xs[1], reduction=r)' },
  {
    name: 'multiLabelSoftMarginLoss (class weights)',
    inputs: [[[4, 3], 'any', true], [[4, 3], 'binary', false], [[3], 'positive', false]],
    ours: ([x, y, w], r) => multiLabelSoftMarginLoss(x!, y!, { weight: w!, reduction: r }),
    torch: 'F.multilabel_soft_margin_loss(xs[0], xs[1], weight=xs[2], reduction=r)',
  },
  { name: 'cosineEmbeddingLoss (margin 0.2)', inputs: [[[6, 5], 'any', true], [[6, 5], 'any', true], [[6], 'pm1', false]], ours: ([a, b, y], r) => cosineEmbeddingLoss(a!, b!, y!, { margin: 0.2, reduction: r }), torch: 'F.cosine_embedding_loss(xs[0], xs[1], xs[2], margin=0.2, reduction=r)' },
  { name: 'cosineEmbeddingLoss (one pair)', inputs: [[[7], 'any', true], [[7], 'any', true], [[], 'pm1', false]], ours: ([a, b, y], r) => cosineEmbeddingLoss(a!, b!, y!, { reduction: r }), torch: 'F.cosine_embedding_loss(xs[0], xs[1], xs[2], reduction=r)' },
  { name: 'tripletMarginLoss', inputs: [[[5, 6], 'any', true], [[5, 6], 'any', true], [[5, 6], 'any', true]], ours: ([a, p, n], r) => tripletMarginLoss(a!, p!, n!, { reduction: r }), torch: 'F.triplet_margin_loss(xs[0], xs[1], xs[2], reduction=r)' },
  {
    name: 'tripletMarginLoss (margin 0.5, p 1, swap)',
    inputs: [[[4, 3], 'any', true], [[4, 3], 'any', true], [[4, 3], 'any', true]],
    ours: ([a, p, n], r) => tripletMarginLoss(a!, p!, n!, { margin: 0.5, p: 1, swap: true, reduction: r }),
    torch: 'F.triplet_margin_loss(xs[0], xs[1], xs[2], margin=0.5, p=1, swap=True, reduction=r)',
  },
  { name: 'poissonNllLoss', inputs: [[[3, 5], 'any', true], [[3, 5], 'count', false]], ours: ([x, t], r) => poissonNllLoss(x!, t!, { reduction: r }), torch: 'F.poisson_nll_loss(xs[0], xs[1], reduction=r)' },
  { name: 'poissonNllLoss (rates, full)', inputs: [[[3, 5], 'positive', true], [[3, 5], 'count', false]], ours: ([x, t], r) => poissonNllLoss(x!, t!, { logInput: false, full: true, reduction: r }), torch: 'F.poisson_nll_loss(xs[0], xs[1], log_input=False, full=True, reduction=r)' },
  { name: 'gaussianNllLoss', inputs: [[[4, 3], 'any', true], [[4, 3], 'any', true], [[4, 3], 'positive', true]], ours: ([x, t, v], r) => gaussianNllLoss(x!, t!, v!, { reduction: r }), torch: 'F.gaussian_nll_loss(xs[0], xs[1], xs[2], reduction=r)' },
  { name: 'gaussianNllLoss (a variance per row, full)', inputs: [[[5, 2], 'any', true], [[5, 2], 'any', true], [[5], 'positive', true]], ours: ([x, t, v], r) => gaussianNllLoss(x!, t!, v!, { full: true, reduction: r }), torch: 'F.gaussian_nll_loss(xs[0], xs[1], xs[2], full=True, reduction=r)' },
  // Variances below eps: clamped for the value, the gradient reaching them as if unclamped.
  { name: 'gaussianNllLoss (tiny variances, eps 0.5)', inputs: [[[6], 'any', true], [[6], 'any', true], [[6, 1], 'positive', true]], ours: ([x, t, v], r) => gaussianNllLoss(x!, t!, v!.reshape(6), { eps: 0.5, reduction: r }), torch: 'F.gaussian_nll_loss(xs[0], xs[1], xs[2].reshape(6), eps=0.5, reduction=r)' },
];

function draw(rng: Rng, n: number, kind: Kind): Float32Array {
  const pick = (vs: number[]) => Float32Array.from({ length: n }, () => rng.pick(vs));
  if (kind === 'pm1') return pick([-1, 1]);
  if (kind === 'pm1or0') return pick([-1, 0, 1]);
  if (kind === 'binary') return pick([0, 1]);
  if (kind === 'count') return pick([0, 1, 2, 3, 5, 8]);
  if (kind === 'positive') return f32(rng.array(n, 0.05, 2));
  return f32(rng.array(n, -2, 2));
}

const REDUCTIONS = ['mean', 'sum', 'none'] as const;

describe('margin, embedding and likelihood losses', () => {
  it("match PyTorch's, values and gradients, with every reduction", async () => {
    const rng = new Rng(20);
    const data = CASES.map((c) => c.inputs.map(([shape, kind]) => draw(rng, shape.reduce((a, b) => a * b, 1), kind)));
    const torch = torchJson<{ y: number[]; grads: (number[] | null)[] }[][]>(
      `
import json, sys, torch
import torch.nn.functional as F
cases = json.load(sys.stdin)
fs = [${CASES.map((c) => `lambda xs, r: ${c.torch}`).join(', ')}]
out = []
for f, (inputs, specs) in zip(fs, cases):
    rows = []
    for r in ['mean', 'sum', 'none']:
        xs = [torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_(g) for v, (s, _, g) in zip(inputs, specs)]
        y = f(xs, r)
        (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
        rows.append({'y': y.flatten().tolist(), 'grads': [x.grad.flatten().tolist() if g else None for x, (_, _, g) in zip(xs, specs)]})
    out.append(rows)
print(json.dumps(out))`,
      JSON.stringify(CASES.map((c, i) => [data[i]!.map((a) => Array.from(a)), c.inputs])),
    );
    for (const [i, c] of CASES.entries()) {
      for (const [k, r] of REDUCTIONS.entries()) {
        const xs = c.inputs.map(([shape], j) => rt().tensor(data[i]![j]!, shape));
        const y = c.ours(xs, r);
        const want = torch[i]![k]!;
        expectClose(await y.read(), want.y, 1e-5, `${c.name}, reduction ${r}`);
        const cos = rt().tensor(f32(Array.from({ length: y.size }, (_, j) => Math.cos(j))), y.shape);
        const wrt = c.inputs.flatMap(([, , g], j) => (g ? [j] : []));
        const grads = grad(sum(mul(y, cos)), wrt.map((j) => xs[j]!));
        for (const [n, j] of wrt.entries()) expectClose(await grads[n]!.read(), want.grads[j]!, 1e-5, `${c.name}, reduction ${r}: gradient of input ${j}`);
      }
    }
  });

  it("multiMarginLoss matches PyTorch's: p 1 and 2, margins, class weights, one sample, hinges exactly at 0, every reduction", async () => {
    const rng = new Rng(22);
    type C = { n: number; c: number; p: 1 | 2; margin: number; weighted: boolean };
    const cases: C[] = [
      { n: 5, c: 4, p: 1, margin: 1, weighted: false },
      { n: 3, c: 7, p: 2, margin: 0.5, weighted: true },
      { n: 0, c: 5, p: 1, margin: 1.5, weighted: false },
      { n: 4, c: 3, p: 2, margin: -0.2, weighted: false },
      { n: 2, c: 4, p: 1, margin: 0.5, weighted: false },
    ];
    const data = cases.map((c) => ({ x: Array.from(f32(rng.array(Math.max(c.n, 1) * c.c, -1, 1))), y: Array.from({ length: Math.max(c.n, 1) }, () => rng.int(0, c.c - 1)), w: Array.from(f32(rng.array(c.c, 0.2, 2))) }));
    // margin − x[y] + x[i] exactly 0 for two classes of each sample: PyTorch's kernel passes no gradient there.
    Object.assign(data[4]!, { x: [0.5, 1, 0.25, 0.5, 0.75, 0.25, 0.5, 1], y: [1, 0] });
    const torch = torchJson<{ y: number[]; dx: number[] }[][]>(
      `
import json, sys, torch
import torch.nn.functional as F
out = []
for c, d in json.load(sys.stdin):
    rows = []
    for r in ['mean', 'sum', 'none']:
        x = torch.tensor(d['x']).reshape(c['n'], c['c']) if c['n'] else torch.tensor(d['x'])
        x.requires_grad_()
        y = torch.tensor(d['y']) if c['n'] else torch.tensor(d['y'][0])
        l = F.multi_margin_loss(x, y, p=c['p'], margin=c['margin'], weight=torch.tensor(d['w']) if c['weighted'] else None, reduction=r)
        (l * torch.arange(l.numel()).reshape(l.shape).cos()).sum().backward()
        rows.append({'y': l.flatten().tolist(), 'dx': x.grad.flatten().tolist()})
    out.append(rows)
print(json.dumps(out))`,
      JSON.stringify(cases.map((c, i) => [c, data[i]])),
    );
    for (const [i, c] of cases.entries()) {
      for (const [k, r] of REDUCTIONS.entries()) {
        const x = rt().tensor(f32(data[i]!.x), c.n ? [c.n, c.c] : [c.c]);
        const y = rt().tensor(Int32Array.from(data[i]!.y), c.n ? [c.n] : []);
        const loss = multiMarginLoss(x, y, { p: c.p, margin: c.margin, reduction: r, ...(c.weighted ? { weight: rt().tensor(f32(data[i]!.w)) } : {}) });
        const what = `${JSON.stringify(c)}, reduction ${r}`;
        expectClose(await loss.read(), torch[i]![k]!.y, 1e-5, what);
        const cos = rt().tensor(f32(Array.from({ length: loss.size }, (_, j) => Math.cos(j))), loss.shape);
        const [dx] = grad(sum(mul(loss, cos)), [x]);
        expectClose(await dx!.read(), torch[i]![k]!.dx, 1e-5, `${what}: gradient`);
      }
    }
  });

  it('match float64 definitions with central differences (triplet margin, soft margin)', async () => {
    const rng = new Rng(21);
    const dist = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.hypot(...Array.from(a, (v, i) => v - b[i]! + 1e-6));
    const rows = (x: Float64Array, n: number) => Array.from({ length: x.length / n }, (_, i) => x.subarray(i * n, (i + 1) * n));
    // Margin 0.8 leaves every hinge active; margin 0.1 over 7 triplets leaves some inactive (no gradient).
    for (const [margin, m] of [[0.8, 3], [0.1, 7]] as const) {
      const hinge = (a: Float64Array, p: Float64Array, n: Float64Array, i: number) => margin + dist(rows(a, 4)[i]!, rows(p, 4)[i]!) - dist(rows(a, 4)[i]!, rows(n, 4)[i]!);
      await checkOp(rt(), rng, {
        name: `triplet margin ${margin} (sum over ${m} triplets of 4)`,
        shapes: [[m, 4], [m, 4], [m, 4]],
        gpu: ([a, p, n]) => tripletMarginLoss(a!, p!, n!, { margin, reduction: 'sum' }),
        ref: ([a, p, n]) => Float64Array.of(Array.from({ length: m }, (_, i) => Math.max(0, hinge(a!, p!, n!, i))).reduce((s, v) => s + v, 0)),
        // Where a triplet's hinge is active, ∂‖u + 1e-6‖/∂u = (u + 1e-6)/‖u + 1e-6‖ for u = a − p and
        // a − n: +d(a, p) to a and −d(a, p) to p, −d(a, n) to a and +d(a, n) to n; 0 where inactive.
        refGrad: ([a, p, n], g) => {
          const grads = [a!, p!, n!].map((x) => new Float64Array(x.length));
          for (let i = 0; i < m; i++) {
            if (hinge(a!, p!, n!, i) <= 0) continue;
            const [r, rp, rn] = [rows(a!, 4)[i]!, rows(p!, 4)[i]!, rows(n!, 4)[i]!];
            const [dp, dn] = [dist(r, rp), dist(r, rn)];
            for (let k = 0; k < 4; k++) {
              const [up, un] = [(r[k]! - rp[k]! + 1e-6) / dp, (r[k]! - rn[k]! + 1e-6) / dn];
              grads[0]![i * 4 + k] = g[0]! * (up - un);
              grads[1]![i * 4 + k] = -g[0]! * up;
              grads[2]![i * 4 + k] = g[0]! * un;
            }
          }
          return grads;
        },
        tol: 1e-5,
      });
    }
    const ys = Float64Array.from({ length: 10 }, () => rng.pick([-1, 1]));
    await checkOp(rt(), rng, {
      name: 'soft margin (mean of 10)',
      shapes: [[10]],
      range: [-3, 3],
      gpu: ([x]) => softMarginLoss(x!, rt().tensor(f32(ys), [10])),
      ref: ([x]) => Float64Array.of(x!.reduce((s, v, i) => s + Math.log1p(Math.exp(-ys[i]! * v)), 0) / 10),
      refGrad: ([x], g) => [Float64Array.from(x!, (v, i) => (g[0]! * -ys[i]!) / (1 + Math.exp(ys[i]! * v)) / 10)],
      tol: 1e-5,
    });
  });

  it('refuse shapes that do not fit and bad options, naming the loss', () => {
    const x = rt().zeros([2, 3]);
    expectShapeErrors([
      [() => marginRankingLoss(x, rt().zeros([3]), x), /^marginRankingLoss: x2 \[3\] differs from the input: input \[2, 3\], target \[2, 3\]/],
      [() => hingeEmbeddingLoss(x, x, { margin: NaN }), /^hingeEmbeddingLoss: margin must be a number, got NaN/],
      [() => softMarginLoss(x, rt().zeros([2])), /^softMarginLoss: the shapes differ: input \[2, 3\], target \[2\]/],
      [() => cosineEmbeddingLoss(x, x, rt().zeros([3])), /^cosineEmbeddingLoss: expected x1 and x2 \[N, D\] with a target \[N\], or \[D\] with a 0-d target: x1 \[2, 3\], x2 \[2, 3\], target \[3\]/],
      [() => cosineEmbeddingLoss(x, x, rt().zeros([2]), { reduction: 'batchmean' as never }), /^cosineEmbeddingLoss: reduction must be 'mean', 'sum', 'none'/],
      [() => tripletMarginLoss(x, x, rt().zeros([2, 4])), /^tripletMarginLoss: the negative \[2, 4\] differs from the anchor/],
      [() => tripletMarginLoss(x, x, x, { swap: 1 as never }), /^tripletMarginLoss: swap must be true or false, got 1/],
      [() => tripletMarginLoss(x, x, x, { p: 0 }), /^tripletMarginLoss: p must be a number ≥ 1 or Infinity, got 0/],
      [() => tripletMarginLoss(x, x, x, { eps: NaN }), /^tripletMarginLoss: eps must be a number, got NaN/],
      [() => poissonNllLoss(x, x, { eps: -1 }), /^poissonNllLoss: eps must be a finite number ≥ 0, got -1/],
      [() => gaussianNllLoss(x, x, rt().zeros([3])), /^gaussianNllLoss: the variance \[3\] is neither the input's shape \[2, 3\] nor one per row \(\[2\] or \[2, 1\]\)/],
      [() => multiLabelSoftMarginLoss(x, x, { weights: x } as never), /^multiLabelSoftMarginLoss: unknown option 'weights'/],
      [() => multiMarginLoss(x, rt().zeros([2])), /^multiMarginLoss: expected f32 scores \[N, C\] with i32 labels \[N\], or \[C\] with a 0-d label: input \[2, 3\] f32, target \[2\] f32/],
      [() => multiMarginLoss(x, rt().zeros([2], 'i32'), { p: 3 as never }), /^multiMarginLoss: p must be 1 or 2, got 3/],
      [() => multiMarginLoss(x, rt().zeros([2], 'i32'), { weight: rt().zeros([2]) }), /^multiMarginLoss: weight must be f32 \[3\], one per class/],
      [() => multiMarginLoss(rt().zeros([2, 0]), rt().zeros([2], 'i32')), /^multiMarginLoss: needs at least one class \(C ≥ 1\): input \[2, 0\] f32, target \[2\] i32/],
    ]);
    expect(() => gaussianNllLoss(x, x, [1] as never)).toThrow(/^gaussianNllLoss: variance must be a Tensor/);
    expect(() => cosineEmbeddingLoss(null as never, x, rt().zeros([2]))).toThrow(new TypeError('cosineEmbeddingLoss: x1 must be a Tensor, got null'));
    expect(() => cosineEmbeddingLoss(x, undefined as never, rt().zeros([2]))).toThrow(new TypeError('cosineEmbeddingLoss: x2 must be a Tensor, got undefined'));
    expect(() => cosineEmbeddingLoss(x, x, 1 as never)).toThrow(/^cosineEmbeddingLoss: target must be a Tensor, got the number 1/);
    expect(() => marginRankingLoss(null as never, x, x)).toThrow(new TypeError('marginRankingLoss: x1 must be a Tensor, got null'));
    expect(() => tripletMarginLoss(x, null as never, x)).toThrow(new TypeError('tripletMarginLoss: positive must be a Tensor, got null'));
  });
});
