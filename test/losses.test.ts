// The losses beside the cross-entropy against PyTorch's torch.nn.functional (values and input
// gradients, every reduction, the options), against float64 definitions with central
// differences, their second derivatives, and their errors.
import { describe, expect, it } from 'vitest';
import { binaryCrossEntropy, binaryCrossEntropyWithLogits, grad, huberLoss, klDiv, l1Loss, logSoftmax, mseLoss, mul, smoothL1Loss, softmax, sum, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const SHAPE = [3, 4, 5];
const N = 60;

type Loss = (x: Tensor, t: Tensor, reduction: 'mean' | 'sum' | 'none') => Tensor;
// Each: name, fovea's loss, PyTorch's as a Python expression of x, t and r (the reduction), and
// how inputs and targets are drawn (probabilities where the loss takes them).
const CASES: [string, Loss, string, 'any' | 'prob' | 'logprob', 'any' | 'prob' | 'binary'][] = [
  ['mseLoss', (x, t, r) => mseLoss(x, t, { reduction: r }), 'F.mse_loss(x, t, reduction=r)', 'any', 'any'],
  ['l1Loss', (x, t, r) => l1Loss(x, t, { reduction: r }), 'F.l1_loss(x, t, reduction=r)', 'any', 'any'],
  ['smoothL1Loss (β 0.5)', (x, t, r) => smoothL1Loss(x, t, { reduction: r, beta: 0.5 }), 'F.smooth_l1_loss(x, t, reduction=r, beta=0.5)', 'any', 'any'],
  ['smoothL1Loss (β 0: L1)', (x, t, r) => smoothL1Loss(x, t, { reduction: r, beta: 0 }), 'F.smooth_l1_loss(x, t, reduction=r, beta=0.0)', 'any', 'any'],
  ['huberLoss (δ 0.7)', (x, t, r) => huberLoss(x, t, { reduction: r, delta: 0.7 }), 'F.huber_loss(x, t, reduction=r, delta=0.7)', 'any', 'any'],
  ['binaryCrossEntropy', (x, t, r) => binaryCrossEntropy(x, t, { reduction: r }), 'F.binary_cross_entropy(x, t, reduction=r)', 'prob', 'prob'],
  ['binaryCrossEntropyWithLogits', (x, t, r) => binaryCrossEntropyWithLogits(x, t, { reduction: r }), 'F.binary_cross_entropy_with_logits(x, t, reduction=r)', 'any', 'binary'],
  ['klDiv', (x, t, r) => klDiv(x, t, { reduction: r }), 'F.kl_div(x, t, reduction=r)', 'logprob', 'prob'],
];

function draw(rng: Rng, kind: 'any' | 'prob' | 'logprob' | 'binary'): number[] {
  if (kind === 'binary') return Array.from({ length: N }, () => rng.int(0, 1));
  if (kind === 'any') return Array.from(rng.array(N, -3, 3));
  // Each row of 5 a distribution (or its log); zeros among the targets.
  const rows = Array.from({ length: N / 5 }, () => {
    const w = Array.from({ length: 5 }, () => (rng.next() < 0.15 ? 0 : rng.next()));
    const s = w.reduce((a, b) => a + b, 0) || 1;
    return w.map((v) => v / s);
  }).flat();
  return kind === 'prob' ? rows.map((p) => Math.min(Math.max(p, 0), 1)) : rows.map((p) => Math.log(p + 0.01));
}

describe('losses', () => {
  it("match PyTorch's, values and input gradients, with every reduction", async () => {
    const rng = new Rng(10);
    const data = CASES.map(([, , , xk, tk]) => [draw(rng, xk === 'prob' ? 'prob' : xk), draw(rng, tk)].map((a) => Array.from(f32(a))));
    const torch = torchJson<{ y: number[]; dx: number[] }[][]>(
      `
import json, sys, torch
import torch.nn.functional as F
out = []
for make, (x, t) in zip([${CASES.map(([, , py]) => `lambda x, t, r: ${py}`).join(', ')}], json.load(sys.stdin)):
    rows = []
    for r in ['mean', 'sum', 'none']:
        xt = torch.tensor(x, dtype=torch.float32).reshape(${SHAPE.join(', ')}).requires_grad_()
        y = make(xt, torch.tensor(t, dtype=torch.float32).reshape(${SHAPE.join(', ')}), r)
        (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
        rows.append({'y': y.flatten().tolist(), 'dx': xt.grad.flatten().tolist()})
    out.append(rows)
print(json.dumps(out))`,
      JSON.stringify(data),
    );
    for (const [i, [name, loss]] of CASES.entries()) {
      for (const [k, r] of (['mean', 'sum', 'none'] as const).entries()) {
        const x = rt().tensor(f32(data[i]![0]!), SHAPE);
        const t = rt().tensor(f32(data[i]![1]!), SHAPE);
        const y = loss(x, t, r);
        expect(y.shape).toEqual(r === 'none' ? SHAPE : []);
        expectClose(await y.read(), torch[i]![k]!.y, 1e-5, `${name}, reduction ${r}`);
        const c = rt().tensor(f32(Array.from({ length: y.size }, (_, j) => Math.cos(j))), y.shape);
        const [dx] = grad(sum(mul(y, c)), [x]);
        expectClose(await dx!.read(), torch[i]![k]!.dx, 1e-5, `${name}, reduction ${r}: gradient`);
      }
    }
  });

  it("take PyTorch's options: weights, pos_weight, log targets, batchmean", async () => {
    const rng = new Rng(11);
    const [x, t, w, pw] = [draw(rng, 'any'), draw(rng, 'binary'), Array.from(rng.array(N, 0, 2)), Array.from(rng.array(5, 0.5, 3))].map((a) => Array.from(f32(a)));
    const [lp, q] = [draw(rng, 'logprob'), draw(rng, 'logprob')].map((a) => Array.from(f32(a)));
    const probs = x!.map((v) => Math.fround(1 / (1 + Math.exp(-v))));
    const torch = torchJson<number[][]>(`
import json, sys, torch
import torch.nn.functional as F
x, t, w, pw, lp, q, p = (torch.tensor(v, dtype=torch.float32) for v in json.load(sys.stdin))
s = lambda v: v.reshape(${SHAPE.join(', ')})
print(json.dumps([v.flatten().tolist() for v in [
    F.binary_cross_entropy_with_logits(s(x), s(t), weight=s(w), pos_weight=pw, reduction='none'),
    F.binary_cross_entropy(s(p), s(t), weight=s(w), reduction='none'),
    F.kl_div(s(lp), s(q), reduction='batchmean', log_target=True),
    F.kl_div(s(lp), s(q).exp(), reduction='batchmean'),
]]))`, JSON.stringify([x, t, w, pw, lp, q, probs]));
    const s = (v: number[]) => rt().tensor(f32(v), SHAPE);
    expectClose(await binaryCrossEntropyWithLogits(s(x!), s(t!), { weight: s(w!), posWeight: rt().tensor(f32(pw!), [5]), reduction: 'none' }).read(), torch[0]!, 1e-6, 'BCE with logits, weight and pos_weight');
    expectClose(await binaryCrossEntropy(s(probs), s(t!), { weight: s(w!), reduction: 'none' }).read(), torch[1]!, 1e-5, 'BCE with weight');
    expectClose(await klDiv(s(lp!), s(q!), { reduction: 'batchmean', logTarget: true }).read(), torch[2]!, 1e-5, 'KL divergence of log targets, batchmean');
    expectClose(await klDiv(s(lp!), s(q!.map(Math.exp)), { reduction: 'batchmean' }).read(), torch[3]!, 1e-5, 'KL divergence, batchmean');
  });

  it('match float64 definitions with central differences, and their gradients are differentiable again', async () => {
    const rng = new Rng(12);
    const shape = [2, 7];
    // Each: name, fovea's loss, the float64 loss of one element, its derivative in x.
    const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
    const defs: [string, (x: Tensor, t: Tensor) => Tensor, (x: number, t: number) => number, (x: number, t: number) => number][] = [
      ['mse', (x, t) => mseLoss(x, t, { reduction: 'sum' }), (x, t) => (x - t) ** 2, (x, t) => 2 * (x - t)],
      ['smooth L1 β 0.8', (x, t) => smoothL1Loss(x, t, { reduction: 'sum', beta: 0.8 }), (x, t) => (Math.abs(x - t) < 0.8 ? (0.5 * (x - t) ** 2) / 0.8 : Math.abs(x - t) - 0.4), (x, t) => (Math.abs(x - t) < 0.8 ? (x - t) / 0.8 : Math.sign(x - t))],
      ['huber δ 1.5', (x, t) => huberLoss(x, t, { reduction: 'sum', delta: 1.5 }), (x, t) => (Math.abs(x - t) < 1.5 ? 0.5 * (x - t) ** 2 : 1.5 * (Math.abs(x - t) - 0.75)), (x, t) => (Math.abs(x - t) < 1.5 ? x - t : 1.5 * Math.sign(x - t))],
      ['BCE with logits', (x, t) => binaryCrossEntropyWithLogits(x, t, { reduction: 'sum' }), (x, t) => -(t * Math.log(sigmoid(x)) + (1 - t) * Math.log(1 - sigmoid(x))), (x, t) => sigmoid(x) - t],
    ];
    for (const [name, gpu, f, df] of defs) {
      const ts = rng.array(14, 0, 1);
      // x in [−2, 2] against t in [0, 1]: both branches of smooth L1's and Huber's kinks are met.
      await checkOp(rt(), rng, {
        name,
        shapes: [shape],
        range: [-2, 2],
        gpu: ([x]) => gpu(x!, rt().tensor(f32(ts), shape)),
        ref: ([x]) => Float64Array.of(x!.reduce((s, v, i) => s + f(v, ts[i]!), 0)),
        refGrad: ([x], r) => [Float64Array.from(x!, (v, i) => r[0]! * df(v, ts[i]!))],
        tol: 1e-5,
      });
    }
    // The Hessian of the summed squared error is 2·I: Σ v·∂L/∂x differentiated again gives 2v.
    const x = rt().tensor(f32(rng.array(14)), shape);
    const v = rng.array(14);
    const [g] = grad(mseLoss(x, rt().tensor(f32(rng.array(14)), shape), { reduction: 'sum' }), [x]);
    const [hv] = grad(sum(mul(g!, rt().tensor(f32(v), shape))), [x]);
    expectClose(await hv!.read(), v.map((e) => 2 * e), 1e-6, 'mse Hessian-vector product');
    // KL divergence to the softmax of the same logits is 0.
    const z = rt().tensor(f32(rng.array(14)), shape);
    expect(Math.abs(await klDiv(logSoftmax(z, 1), softmax(z, 1), { reduction: 'batchmean' }).item())).toBeLessThan(1e-6);
  });

  it("klDiv of probabilities: 0 where a target is 0, NaN where one is negative, as PyTorch's, and its target gradient log t + 1 − x", async () => {
    const x = rt().tensor([-1, -1, -2, -0.5]);
    const t = rt().tensor([0, -0.5, 0.3, 1]);
    const torch = torchJson<[number | null, number | null, number, number][]>(`import json, torch, torch.nn.functional as F
x = torch.tensor([-1., -1., -2., -0.5])
t = torch.tensor([0., -0.5, 0.3, 1.], requires_grad=True)
y = F.kl_div(x, t, reduction='none')
y.sum().backward()
nan = lambda v: None if v != v else v
print(json.dumps([[nan(v) for v in y.tolist()], [nan(v) for v in t.grad.tolist()]]))`);
    const y = Array.from(await klDiv(x, t, { reduction: 'none' }).read());
    expect(y[0]).toBe(0);
    expect(y[1]).toBeNaN();
    expect(torch[0]!.slice(0, 2)).toEqual([0, null]);
    expectClose(y.slice(2), torch[0]!.slice(2) as number[], 1e-6, 'klDiv of positive targets');
    const [dt] = grad(sum(klDiv(x, t, { reduction: 'none' })), [t]);
    const g = Array.from(await dt!.read());
    // At t = 0 the derivative's limit, −∞ (PyTorch's is NaN); NaN below 0, as PyTorch's.
    expect(g[0]).toBe(-Infinity);
    expect(g[1]).toBeNaN();
    expect(torch[1]!.slice(0, 2)).toEqual([null, null]);
    expectClose(g.slice(2), torch[1]!.slice(2) as number[], 1e-6, "klDiv's target gradient");
  });

  it("smoothL1Loss and huberLoss: PyTorch's first and second derivatives at d = 0, at |d| = β and either side", async () => {
    // d = x − t: 0, ±β exactly, inside and outside.
    const x = [2, 2.5, 1.5, 2.1, 3.5, -1, 1.25, 2.75];
    const t = [2, 2, 2, 2, 2, 0, 0.75, 2.25];
    const cases: [string, (x: Tensor, t: Tensor) => Tensor, string][] = [
      ['smoothL1Loss β 0.5', (a, b) => smoothL1Loss(a, b, { reduction: 'sum', beta: 0.5 }), 'F.smooth_l1_loss(x, t, reduction="sum", beta=0.5)'],
      ['huberLoss δ 0.5', (a, b) => huberLoss(a, b, { reduction: 'sum', delta: 0.5 }), 'F.huber_loss(x, t, reduction="sum", delta=0.5)'],
    ];
    const torch = torchJson<number[][][]>(`import json, torch, torch.nn.functional as F
out = []
for call in ${JSON.stringify(cases.map(([, , py]) => py))}:
    x = torch.tensor(${JSON.stringify(x)}, requires_grad=True)
    t = torch.tensor(${JSON.stringify(t)})
    g, = torch.autograd.grad(eval(call), x, create_graph=True)
    h, = torch.autograd.grad((g * torch.arange(1., 9.)).sum(), x)
    out.append([g.tolist(), h.tolist()])
print(json.dumps(out))`);
    for (const [i, [what, loss]] of cases.entries()) {
      const xt = rt().tensor(x);
      const [g] = grad(loss(xt, rt().tensor(t)), [xt]);
      expectClose(await g!.read(), torch[i]![0]!, 1e-6, `${what}: first derivative`);
      const [h] = grad(sum(mul(g!, rt().tensor(x.map((_, k) => k + 1)))), [xt]);
      expectClose(await h!.read(), torch[i]![1]!, 1e-6, `${what}: second derivative`);
    }
    // Infinite and NaN differences: ∞ and NaN, as PyTorch's (no 0·∞ from the branch not taken).
    const xs = rt().tensor([Infinity, -Infinity, NaN, 0.25]);
    const odd = smoothL1Loss(xs, rt().zeros([4]), { reduction: 'none', beta: 0.5 });
    expect(Array.from(await odd.read())).toEqual([Infinity, Infinity, NaN, 0.0625]);
    // Their gradients ±1 (±δ for Huber), as PyTorch's: the quadratic part's square is of 0 there.
    expect(Array.from(await grad(sum(odd), [xs])[0]!.read())).toEqual([1, -1, NaN, 0.5]);
    const [dh] = grad(huberLoss(xs, rt().zeros([4]), { reduction: 'sum', delta: 2 }), [xs]);
    expect(Array.from(await dh!.read())).toEqual([2, -2, NaN, 0.25]);
  });

  it("binaryCrossEntropy at and near 0 and 1: PyTorch's values and finite input gradients, its unclamped target gradients, differentiable again", async () => {
    const p = [0, 1, 1e-30, 0, 1, 1e-7, 1e-8, 0.3, 0.999, 1 - 2 ** -24, 0.5, 1];
    const t = [0.3, 1, 0.5, 0, 0, 0.2, 0, 0.7, 1, 0.4, 0.5, 0.25];
    const torch = torchJson<(number | string)[][]>(`import json, torch, torch.nn.functional as F
p = torch.tensor(${JSON.stringify(p)}, requires_grad=True)
t = torch.tensor(${JSON.stringify(t)}, requires_grad=True)
y = F.binary_cross_entropy(p, t, reduction='none')
(y * torch.arange(1., 13.)).sum().backward()
show = lambda v: v if abs(v) < float('inf') else ('Infinity' if v > 0 else '-Infinity')
print(json.dumps([[show(v) for v in a.tolist()] for a in (y, p.grad, t.grad)]))`);
    const [y, dp, dt] = torch.map((a) => a.map(Number));
    const pt = rt().tensor(p);
    const tt = rt().tensor(t);
    const values = binaryCrossEntropy(pt, tt, { reduction: 'none' });
    expectClose(await values.read(), y!, 1e-6, 'values');
    const [gp, gt] = grad(sum(mul(values, rt().tensor(p.map((_, i) => i + 1)))), [pt, tt]);
    expectClose(await gp!.read(), dp!, 1e-6, 'input gradient');
    const gtv = Array.from(await gt!.read());
    for (const [i, v] of gtv.entries()) if (!Number.isFinite(dt![i]!)) expect(v, `target gradient ${i}`).toBe(dt![i]);
    expectClose(gtv.filter((_, i) => Number.isFinite(dt![i]!)), dt!.filter(Number.isFinite), 1e-6, 'target gradient');
    // The input gradient's own gradients, as PyTorch's binary_cross_entropy_double_backward (not
    // its clamped formula's, which gives 1e12 at p = t = 0): 0 at p = t ∈ {0, 1}, 1e24 at p = 0, t = 1.
    const pp = [0, 1, 0, 1, 0.3, 0.5, 1e-7, 0.999];
    const tp = [0, 1, 1, 0, 1, 0.25, 0, 0.5];
    const second = torchJson<number[][]>(`import json, torch, torch.nn.functional as F
p = torch.tensor(${JSON.stringify(pp)}, requires_grad=True)
t = torch.tensor(${JSON.stringify(tp)}, requires_grad=True)
g, = torch.autograd.grad(F.binary_cross_entropy(p, t, reduction='mean'), p, create_graph=True)
print(json.dumps([a.tolist() for a in torch.autograd.grad((g * torch.arange(1., 9.)).sum(), (p, t))]))`);
    const [p2, t2] = [rt().tensor(pp), rt().tensor(tp)];
    const [g2] = grad(binaryCrossEntropy(p2, t2), [p2]);
    const [hp, ht] = grad(sum(mul(g2!, rt().tensor(pp.map((_, i) => i + 1)))), [p2, t2]);
    expectClose(await hp!.read(), second[0]!, 1e-5, 'input gradient, by the input');
    expectClose(await ht!.read(), second[1]!, 1e-5, 'input gradient, by the target');
    // The input gradient's own inside (0, 1): d/dp of (p − t)/(p(1 − p)), against central differences.
    const rng = new Rng(13);
    const ts = rng.array(9, 0, 1);
    await checkOp(rt(), rng, {
      name: 'binaryCrossEntropy gradient',
      shapes: [[9]],
      range: [0.1, 0.9],
      gpu: ([x]) => grad(binaryCrossEntropy(x!, rt().tensor(f32(ts)), { reduction: 'sum' }), [x!])[0]!,
      ref: ([x]) => x!.map((v, i) => (v - Math.fround(ts[i]!)) / (v * (1 - v))),
      refGrad: ([x], r) => [x!.map((v, i) => (r[i]! * (v * (1 - v) - (v - Math.fround(ts[i]!)) * (1 - 2 * v))) / (v * (1 - v)) ** 2)],
      tol: 1e-4,
    });
  });

  it('reject targets of another shape and bad options, naming the loss', () => {
    const x = rt().zeros([2, 3]);
    const cases: [() => unknown, RegExp][] = [
      [() => mseLoss(x, rt().zeros([3])), /^mseLoss: the shapes differ: input \[2, 3\], target \[3\]$/],
      [() => l1Loss(x, rt().zeros([2, 3], 'i32')), /^l1Loss: needs f32 tensors, got f32 and i32: input \[2, 3\], target \[2, 3\]$/],
      [() => mseLoss(x, x, { reduction: 'batchmean' as never }), /^mseLoss: reduction must be 'mean', 'sum', 'none', got "batchmean"/],
      [() => smoothL1Loss(x, x, { beta: -1 }), /^smoothL1Loss: beta must be a finite number ≥ 0, got -1/],
      [() => huberLoss(x, x, { delta: 0 }), /^huberLoss: delta must be a number > 0, got 0/],
      [() => klDiv(x, x, { logTarget: 'yes' as never }), /^klDiv: logTarget must be true or false, got "yes"/],
      [() => binaryCrossEntropy(x, x, { pos_weight: x } as never), /^binaryCrossEntropy: unknown option 'pos_weight' \(it takes reduction, weight\)/],
      // A weight that would enlarge the loss's shape, or does not broadcast, as PyTorch refuses.
      [() => binaryCrossEntropy(x, x, { weight: rt().zeros([2, 2, 3]) }), /^binaryCrossEntropy: weight \[2, 2, 3\] does not broadcast to the input's shape: input \[2, 3\], target \[2, 3\]$/],
      [() => binaryCrossEntropyWithLogits(x, x, { weight: rt().zeros([4]) }), /^binaryCrossEntropyWithLogits: weight \[4\] does not broadcast to the input's shape/],
      [() => binaryCrossEntropyWithLogits(x, x, { posWeight: rt().zeros([3, 3]) }), /^binaryCrossEntropyWithLogits: posWeight \[3, 3\] does not broadcast to the input's shape/],
    ];
    expectShapeErrors(cases);
    expect(() => mseLoss(x, [1, 2] as never)).toThrow(TypeError);
    expect(() => binaryCrossEntropy(x, x, { weight: [1] as never })).toThrow(/^binaryCrossEntropy: weight must be a Tensor/);
  });
});
