// crossEntropy and nllLoss against PyTorch 1.13's F.cross_entropy and F.nll_loss: class weights,
// every reduction, ignored labels (-100 and one inside the classes), label smoothing, targets
// that are probabilities, one sample [C], positions after the classes [N, C, d1, ...]; values,
// gradients (to the logits, and to probability targets), a second derivative, and the errors.
// By label, also against a float64 reference with central differences, at 1, 7 and 33 classes.
import { describe, expect, it } from 'vitest';
import { createRuntime, crossEntropy, grad, logSoftmax, mul, multiMarginLoss, nllLoss, ShapeError, sum, type CrossEntropyOptions, type Reduction, type Tensor } from '../src/index.js';
import { checkOp, expectAsTorch, expectClose, expectShapeErrors, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson, torchOps } from './oracle.js';
import { refCrossEntropy } from './references.js';

const rt = useRuntime();

interface Case {
  /** The input's shape ([C], [N, C] or [N, C, d...]). */
  x: number[];
  /** Class indices of the target's shape (absent: probabilities of the input's shape). */
  labels?: number[];
  tshape?: number[];
  weight?: number[];
  ignore?: number;
  reduction: Reduction;
  smoothing?: number;
  /** nllLoss (of the input as log-probabilities) rather than crossEntropy. */
  nll?: boolean;
}

const rng = new Rng(23);
/** Labels of `shape` in [0, C), some set to `ignore`. */
function labelsOf(shape: number[], c: number, ignore?: number): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => (ignore !== undefined && i % 3 === 1 ? ignore : rng.int(0, c - 1)));
}
const weight5 = [0.5, 2, 1, 0.25, 3];

const CASES: Case[] = [];
for (const reduction of ['mean', 'sum', 'none'] as const) {
  for (const weight of [undefined, weight5]) {
    for (const smoothing of [0, 0.15]) {
      CASES.push({ x: [7, 5], labels: labelsOf([7], 5, -100), tshape: [7], weight, reduction, smoothing });
    }
    // Positions after the classes, as a segmentation's: [N, C, H, W] with labels [N, H, W].
    CASES.push({ x: [2, 5, 3, 2], labels: labelsOf([2, 3, 2], 5, -100), tshape: [2, 3, 2], weight, reduction, smoothing: 0.1 });
    // Probabilities, and with positions.
    CASES.push({ x: [4, 5], weight, reduction, smoothing: 0.2 });
    CASES.push({ x: [2, 5, 3], weight, reduction });
    CASES.push({ x: [6, 5], labels: labelsOf([6], 5, -100), tshape: [6], weight, reduction, nll: true });
  }
  // An ignored class inside the range, one sample [C], nllLoss with positions.
  CASES.push({ x: [8, 5], labels: labelsOf([8], 5, 1), tshape: [8], ignore: 1, reduction, smoothing: 0.3 });
  CASES.push({ x: [5], labels: [3], tshape: [], weight: weight5, reduction, smoothing: 0.1 });
  CASES.push({ x: [2, 5, 4], labels: labelsOf([2, 4], 5, -100), tshape: [2, 4], weight: weight5, reduction, nll: true });
}

const label = (c: Case) =>
  `${c.nll ? 'nllLoss' : 'crossEntropy'} [${c.x}] ${c.labels ? `labels [${c.tshape}]` : 'probabilities'}${c.weight ? ' weighted' : ''}${c.ignore !== undefined ? ` ignoring ${c.ignore}` : ''}${c.smoothing ? ` smoothing ${c.smoothing}` : ''}, ${c.reduction}`;

function apply(c: Case, xs: Tensor[]): Tensor {
  const opts: CrossEntropyOptions = { reduction: c.reduction, ...(c.weight ? { weight: rt().tensor(f32(c.weight)) } : {}), ...(c.ignore !== undefined ? { ignoreIndex: c.ignore } : {}) };
  const target = c.labels ? rt().tensor(Int32Array.from(c.labels), c.tshape!) : xs[1]!;
  if (c.nll) return nllLoss(xs[0]!, target, opts);
  return crossEntropy(xs[0]!, target, { ...opts, ...(c.smoothing ? { labelSmoothing: c.smoothing } : {}) });
}

const CALL = `(F.nll_loss if c.get('nll') else F.cross_entropy)(xs[0], xs[1] if 'labels' not in c else torch.tensor(c['labels']).reshape(c['tshape']),
  weight=torch.tensor(c['weight']) if 'weight' in c else None, ignore_index=c.get('ignore', -100), reduction=c['reduction'],
  **({} if c.get('nll') else {'label_smoothing': c.get('smoothing', 0.0)}))`;

describe('crossEntropy and nllLoss', () => {
  it(`match PyTorch's F.cross_entropy and F.nll_loss in ${CASES.length} cases: values, and gradients to the input and to probability targets`, async () => {
    const data = CASES.map((c) => [f32(rng.array(c.x.reduce((a, b) => a * b, 1), -3, 3)), ...(c.labels ? [] : [f32(rng.array(c.x.reduce((a, b) => a * b, 1), 0, 1))])]);
    const torch = torchOps(CALL, CASES, CASES.map((c, i) => data[i]!.map((v) => [v, c.x] as const)));
    for (const [i, c] of CASES.entries()) {
      const xs = data[i]!.map((v) => rt().tensor(v, c.x));
      const y = apply(c, xs);
      expect(y.shape, label(c)).toEqual(c.reduction !== 'none' ? [] : c.x.length === 1 ? [] : [c.x[0]!, ...c.x.slice(2)]);
      await expectAsTorch(xs, y, torch[i]!, { values: 2e-6, grads: 2e-6 }, label(c));
    }
  });

  it("has second derivatives as PyTorch's with create_graph: weighted, smoothed, positions after the classes", async () => {
    const c = 5;
    const xs = f32(rng.array(2 * c * 3, -2, 2));
    const v = f32(rng.array(2 * c * 3));
    const labels = [0, 4, -100, 2, 1, 3];
    const want = torchJson<number[]>(`
import json, torch
import torch.nn.functional as F
x = torch.tensor(${JSON.stringify(Array.from(xs))}).reshape(2, ${c}, 3).requires_grad_()
loss = F.cross_entropy(x, torch.tensor(${JSON.stringify(labels)}).reshape(2, 3), weight=torch.tensor(${JSON.stringify(weight5)}), label_smoothing=0.2)
g, = torch.autograd.grad(loss, x, create_graph=True)
h, = torch.autograd.grad((g * torch.tensor(${JSON.stringify(Array.from(v))}).reshape(2, ${c}, 3)).sum(), x)
print(json.dumps(h.flatten().tolist()))
`);
    const x = rt().tensor(xs, [2, c, 3]);
    const [g] = grad(crossEntropy(x, rt().tensor(Int32Array.from(labels), [2, 3]), { weight: rt().tensor(f32(weight5)), labelSmoothing: 0.2 }), [x]);
    const [h] = grad(sum(mul(g!, rt().tensor(v, [2, c, 3]))), [x]);
    expectClose(await h!.read(), want, 1e-5, 'Hessian-vector product');
  });

  it('match a float64 reference by label, gradients with central differences: 1, 7 and 33 classes, batches of 1 and odd sizes, weights, ignored labels, smoothing, every reduction', async () => {
    const r = new Rng(29);
    // Each: input shape ([C], [N, C] or [N, C, d]), reduction, and options; labels drawn below.
    const cases: { x: number[]; reduction: Reduction; weighted?: boolean; ignore?: number; smoothing?: number; nll?: boolean }[] = [
      // One class: the log-softmax is 0, so the loss and its gradient too (the fused kernel, then pick's).
      { x: [1, 1], reduction: 'mean' },
      { x: [5, 1], reduction: 'sum', weighted: true },
      { x: [3, 1], reduction: 'none', nll: true },
      { x: [1, 7], reduction: 'mean', weighted: true, smoothing: 0.2 },
      { x: [5, 7], reduction: 'sum', ignore: -100 },
      { x: [9, 7], reduction: 'none', ignore: 3, smoothing: 0.1 },
      { x: [3, 7, 5], reduction: 'mean', weighted: true, ignore: -100, smoothing: 0.3 },
      { x: [7, 7], reduction: 'mean', weighted: true, ignore: 0, nll: true },
      { x: [1, 33], reduction: 'mean', smoothing: 0.1 },
      { x: [3, 33], reduction: 'mean', weighted: true, ignore: -100 },
      { x: [11, 33], reduction: 'none', weighted: true, smoothing: 0.25 },
      { x: [33], reduction: 'sum', weighted: true, smoothing: 0.05 },
      { x: [5, 33], reduction: 'sum', weighted: true, ignore: 32, nll: true },
    ];
    for (const c of cases) {
      const [n, classes, d] = c.x.length === 1 ? [1, c.x[0]!, 1] : [c.x[0]!, c.x[1]!, c.x.slice(2).reduce((a, b) => a * b, 1)];
      const tshape = c.x.length === 1 ? [] : [n, ...c.x.slice(2)];
      // Every third row from the second labelled ignoreIndex (where that is a class, drawn labels may be it too).
      const labels = Int32Array.from({ length: n * d }, (_, i) => (c.ignore !== undefined && i % 3 === 1 ? c.ignore : r.int(0, classes - 1)));
      const weight = c.weighted ? r.array(classes, 0.25, 2) : undefined;
      const ref = refCrossEntropy({ N: n, C: classes, D: d, labels, weight, ignore: c.ignore, smoothing: c.smoothing, reduction: c.reduction, nll: c.nll });
      const opts: CrossEntropyOptions = { reduction: c.reduction, ...(weight ? { weight: rt().tensor(f32(weight)) } : {}), ...(c.ignore !== undefined ? { ignoreIndex: c.ignore } : {}) };
      await checkOp(rt(), r, {
        name: `${c.nll ? 'nllLoss' : 'crossEntropy'} [${c.x}]${weight ? ' weighted' : ''}${c.ignore !== undefined ? ` ignoring ${c.ignore}` : ''}${c.smoothing ? ` smoothing ${c.smoothing}` : ''}, ${c.reduction}`,
        shapes: [c.x],
        range: [-3, 3],
        gpu: ([x]) => {
          const target = rt().tensor(labels, tshape);
          return c.nll ? nllLoss(x!, target, opts) : crossEntropy(x!, target, { ...opts, ...(c.smoothing ? { labelSmoothing: c.smoothing } : {}) });
        },
        ref: ([x]) => ref.forward(x!),
        refGrad: ([x], g) => [ref.grad(x!, g)],
        tol: 1e-5,
      });
    }
  });

  it('takes the fused kernel for a mean by label without weights, the same loss', async () => {
    const x = rt().tensor(f32(rng.array(6 * 4, -2, 2)), [6, 4]);
    const labels = rt().tensor(Int32Array.from([0, 3, -100, 1, 2, 2]), [6]);
    const fused = crossEntropy(x, labels, { labelSmoothing: 0.1 });
    expect(fused.op?.def.name).toBe('softmax_cross_entropy');
    const composed = crossEntropy(x, labels, { labelSmoothing: 0.1, weight: rt().ones([4]) });
    expectClose(await fused.read(), await composed.read(), 1e-6, 'fused against composed');
    // Positions after the classes ([N, C, H, W], as a segmentation's) and one sample [C] too.
    const image = rt().tensor(f32(rng.array(2 * 4 * 3 * 5, -2, 2)), [2, 4, 3, 5]);
    const pixels = rt().tensor(Int32Array.from({ length: 30 }, (_, i) => (i % 7 === 2 ? -100 : (i * 5) % 4)), [2, 3, 5]);
    const fusedImage = crossEntropy(image, pixels, { labelSmoothing: 0.1 });
    expect(fusedImage.op?.def.name).toBe('softmax_cross_entropy');
    expectClose(await fusedImage.read(), await crossEntropy(image, pixels, { labelSmoothing: 0.1, weight: rt().ones([4]) }).read(), 1e-6, 'fused against composed, [N, C, H, W]');
    const one = crossEntropy(rt().tensor(f32([0.5, -1, 2]), [3]), rt().tensor(Int32Array.from([1]), []));
    expect(one.op?.def.name).toBe('softmax_cross_entropy');
    expectClose(await one.read(), [-Math.log(Math.exp(-1) / (Math.exp(0.5) + Math.exp(-1) + Math.exp(2)))], 1e-6, 'one sample');
  });

  it('names a weight of another runtime as such', async () => {
    const other = await createRuntime({ device: rt().device });
    try {
      const x = rt().zeros([2, 3]);
      const labels = rt().tensor(Int32Array.from([0, 1]), [2]);
      const weight = other.ones([3]);
      expect(() => crossEntropy(x, labels, { weight })).toThrow(new ShapeError('crossEntropy', 'weight, tensor [3] f32, belongs to another runtime: input [2, 3] f32, target [2] i32', [[2, 3], [2]]));
      expect(() => nllLoss(x, labels, { weight })).toThrow(/^nllLoss: weight, tensor \[3\] f32, belongs to another runtime/);
      expect(() => multiMarginLoss(x, labels, { weight })).toThrow(/^multiMarginLoss: weight, tensor \[3\] f32, belongs to another runtime/);
    } finally {
      other.dispose();
    }
  });

  it('names what is wrong: the target, the weight, the options', () => {
    const x = rt().zeros([4, 3]);
    const labels = rt().tensor(Int32Array.from([0, 1, 2, 0]), [4]);
    expectShapeErrors([
      [() => crossEntropy(x, rt().tensor(Int32Array.from([0, 1]), [2])), /^crossEntropy: the target must be i32 class indices \[4\], or f32 probabilities \[4, 3\]: input \[4, 3\] f32, target \[2\] i32$/],
      [() => crossEntropy(x, rt().zeros([4, 2])), /^crossEntropy: the target must be i32 class indices \[4\], or f32 probabilities \[4, 3\]/],
      [() => crossEntropy(x, labels, { weight: rt().ones([4]) }), /^crossEntropy: weight must be f32 \[3\], one per class, got .*\[4\]/],
      [() => crossEntropy(x, rt().zeros([4, 3]), { ignoreIndex: 0 }), /^crossEntropy: ignoreIndex is for class-index targets, not probabilities/],
      [() => crossEntropy(x, labels, { reduction: 'batchmean' as never }), /^crossEntropy: reduction must be 'mean', 'sum' or 'none', got "batchmean"/],
      [() => crossEntropy(x, labels, { labelSmoothing: 1.5 }), /^crossEntropy: labelSmoothing must be a number in \[0, 1\], got 1.5/],
      [() => crossEntropy(x, labels, { smoothing: 0.1 } as never), /^crossEntropy: unknown option 'smoothing'/],
      [() => nllLoss(logSoftmax(x, 1), labels, { labelSmoothing: 0.1 } as never), /^nllLoss: unknown option 'labelSmoothing'/],
      [() => nllLoss(x, rt().zeros([4, 3])), /^nllLoss: the target must be i32 class indices \[4\]: input/],
      [() => nllLoss(rt().zeros([2, 0]), rt().zeros([2], 'i32')), /^nllLoss: needs at least one class \(C ≥ 1\): input \[2, 0\] f32, target \[2\] i32/],
      [() => crossEntropy(rt().zeros([2, 0]), rt().zeros([2], 'i32')), /^crossEntropy: needs at least one class \(C ≥ 1\): input \[2, 0\]/],
      [() => crossEntropy(rt().zeros([2, 0]), rt().zeros([2], 'i32'), { reduction: 'sum' }), /^crossEntropy: needs at least one class/],
      [() => crossEntropy(rt().zeros([2, 0]), rt().zeros([2, 0])), /^crossEntropy: needs at least one class/],
      [() => crossEntropy(rt().zeros([0]), rt().zeros([], 'i32')), /^crossEntropy: needs at least one class/],
    ]);
  });
});

describe('crossEntropy on a GPU', () => {
  const gpu = useRuntimeSplittingAs(false);
  it("takes the fused kernel up to 65,536 rows (its mean is one workgroup's) and the composed reductions past them, the same mean", async () => {
    const r = new Rng(64);
    for (const rows of [65536, 65537]) {
      const xs = r.array(rows * 3, -2, 2);
      const labels = Int32Array.from({ length: rows }, (_, i) => (i % 11 === 5 ? -100 : i % 3));
      const y = crossEntropy(gpu().tensor(f32(xs), [rows, 3]), gpu().tensor(labels, [rows]));
      expect(y.op?.def.name === 'softmax_cross_entropy', `${rows} rows`).toBe(rows <= 65536);
      let [total, kept] = [0, 0];
      for (let i = 0; i < rows; i++) {
        if (labels[i] === -100) continue;
        const row = Array.from(f32(xs.subarray(i * 3, i * 3 + 3)));
        total += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[labels[i]!]!;
        kept++;
      }
      expectClose(await y.read(), [total / kept], 1e-5, `${rows} rows`);
    }
  });
});
