// batchNorm against float64 references (training: the batch's statistics; evaluation: the
// running ones) on awkward shapes, its gradients against the analytic ones and central
// differences, the running statistics it updates (eager and in a compiled program, at every run),
// PyTorch's own batch_norm, and the errors.
import { describe, expect, it } from 'vitest';
import { add, batchNorm, createRuntime, grad, mul, ShapeError, sum, TensorStateError } from '../src/index.js';
import { checkOp, dot, expectClose, f32, finiteDiff, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { refBatchNorm, refBatchNormGrad, refBatchStats } from './references.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const EPS = 1e-5;

// [N, C], [N, C, L], [N, C, H, W]: batch 1 with pixels, channels not a multiple of 4, one past a
// workgroup; channels of 3200 and of 1683 values, which a GPU's split takes in 4 and 2 chunks
// (the last shorter).
const SHAPES = [[5, 3], [2, 7, 5], [1, 3, 4, 5], [4, 6, 3, 3], [2, 65, 1, 3], [8, 3, 20, 20], [3, 2, 33, 17]];

// Both ways of splitting the reductions, whatever this adapter is.
for (const software of [true, false]) describe(`batchNorm, split as on ${software ? 'a CPU adapter' : 'a GPU'}`, () => {
  const rt = useRuntimeSplittingAs(software);
  for (const shape of SHAPES) {
    const c = shape[1]!;
    it(`in training normalises x ${JSON.stringify(shape)} by the batch's statistics, with weight and bias; gradients of x, weight and bias`, async () => {
      await checkOp(rt(), new Rng(shape.length * 31 + c), {
        name: `batchNorm training x${JSON.stringify(shape)}`,
        shapes: [shape, [c], [c]],
        gpu: ([x, w, b]) => batchNorm(x!, { weight: w!, bias: b!, training: true }),
        ref: ([x, w, b]) => refBatchNorm(x!, shape, EPS, w!, b!),
        refGrad: ([x, w], r) => refBatchNormGrad(x!, shape, EPS, r, w!),
        tol: 2e-6,
        gradTol: 2e-5,
      });
    });

    it(`in evaluation normalises x ${JSON.stringify(shape)} by the running statistics; gradients of x, weight and bias`, async () => {
      // Variances in [0.5, 2.5].
      const running = (xs: Float64Array[]): [Float64Array, Float64Array] => [xs[3]!, xs[4]!.map((v) => v + 1.5)];
      await checkOp(rt(), new Rng(shape.length * 37 + c), {
        name: `batchNorm evaluation x${JSON.stringify(shape)}`,
        shapes: [shape, [c], [c], [c], [c]],
        gpu: ([x, w, b, m, v]) => batchNorm(x!, { weight: w!, bias: b!, runningMean: m!, runningVar: add(v!, 1.5) }),
        ref: (xs) => refBatchNorm(xs[0]!, shape, EPS, xs[1]!, xs[2]!, running(xs)),
        refGrad: (xs, r) => refBatchNormGrad(xs[0]!, shape, EPS, r, xs[1]!, running(xs)),
        tol: 2e-6,
        gradTol: 2e-6,
        wrt: [0, 1, 2],
      });
    });
  }

  for (const shape of [[5, 3], [3, 4, 2, 3]]) {
    it(`second derivatives in training, x ${JSON.stringify(shape)}: Σ q·∂/∂x of Σ r·y, differentiated again by x and weight, against central differences of the float64 gradient`, async () => {
      const c = shape[1]!;
      const size = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(size);
      const [x, w, b, r, q] = [rng.array(size), rng.array(c), rng.array(c), rng.array(size), rng.array(size)];
      const tx = rt().tensor(f32(x), shape, { requiresGrad: true });
      const tw = rt().tensor(f32(w), [c], { requiresGrad: true });
      const y = batchNorm(tx, { weight: tw, bias: rt().tensor(f32(b), [c]), training: true });
      const [dx] = grad(sum(mul(y, rt().tensor(f32(r), shape))), [tx]);
      const [ddx, ddw] = grad(sum(mul(dx!, rt().tensor(f32(q), shape))), [tx, tw]);
      const h = (xv: Float64Array, wv: Float64Array) => dot(refBatchNormGrad(xv, shape, EPS, r, wv)[0]!, q);
      const fdX = finiteDiff((xv) => h(xv, w), Float64Array.from(x));
      const fdW = finiteDiff((wv) => h(x, wv), Float64Array.from(w));
      expectClose(await ddx!.read(), [...fdX.values()], 1e-4, 'second derivative by x');
      expectClose(await ddw!.read(), [...fdW.values()], 1e-4, 'second derivative by weight');
    });
  }

  it('without weight and bias, and with eps 0.1', async () => {
    const shape = [3, 2, 2, 3];
    const x = new Rng(5).array(36);
    const y = batchNorm(rt().tensor(f32(x), shape), { training: true, eps: 0.1 });
    expectClose(await y.read(), refBatchNorm(x, shape, 0.1), 2e-6, 'batchNorm eps 0.1');
  });

  it('in training moves the running statistics by momentum towards the batch mean and the unbiased variance, eager and at every run of a compiled program (which counts them in numBatchesTracked)', async () => {
    const shape = [3, 5, 2, 3];
    const rng = new Rng(8);
    const batches = [0, 1, 2].map(() => rng.array(90, -2, 3));
    const momentum = 0.3;
    const expected = (n: number) => {
      const m = new Float64Array(5);
      const v = new Float64Array(5).fill(1);
      for (const x of batches.slice(0, n)) {
        const s = refBatchStats(x, shape);
        for (let c = 0; c < 5; c++) {
          m[c] = momentum * s.mean[c]! + (1 - momentum) * m[c]!;
          v[c] = momentum * (s.squares[c]! / (18 - 1)) + (1 - momentum) * v[c]!;
        }
      }
      return [m, v];
    };
    const eagerMean = rt().zeros([5]);
    const eagerVar = rt().tensor(new Float32Array(5).fill(1), [5]);
    for (const [i, x] of batches.entries()) {
      batchNorm(rt().tensor(f32(x), shape), { runningMean: eagerMean, runningVar: eagerVar, training: true, momentum });
      const [m, v] = expected(i + 1);
      expectClose(await eagerMean.read(), m!, 1e-6, `eager running mean after ${i + 1}`);
      expectClose(await eagerVar.read(), v!, 1e-6, `eager running var after ${i + 1}`);
    }
    const runningMean = rt().zeros([5]);
    const runningVar = rt().tensor(new Float32Array(5).fill(1), [5]);
    const numBatchesTracked = rt().zeros([]);
    const p = await rt().compile(({ x }) => ({ y: batchNorm(x!, { runningMean, runningVar, numBatchesTracked, training: true, momentum }) }), { x: { shape } });
    for (const [i, x] of batches.entries()) {
      const { y } = p.run({ x: f32(x) });
      expectClose(await y.read(), refBatchNorm(x, shape, EPS), 2e-6, `compiled output ${i + 1}`);
      const [m, v] = expected(i + 1);
      expectClose(await runningMean.read(), m!, 1e-6, `compiled running mean after ${i + 1}`);
      expectClose(await runningVar.read(), v!, 1e-6, `compiled running var after ${i + 1}`);
      expect([...(await numBatchesTracked.read())]).toEqual([i + 1]);
    }
    p.dispose();
  });

});

describe('batchNorm', () => {
  it('with momentum null keeps the cumulative average of the batches\' statistics (PyTorch\'s momentum=None), eager and compiled', async () => {
    const shape = [4, 3, 5];
    const rng = new Rng(30);
    const batches = [0, 1, 2, 3].map(() => rng.array(60, -1, 3));
    const stats = batches.map((x) => refBatchStats(x, shape));
    const average = (n: number, f: (s: (typeof stats)[number], c: number) => number) => [0, 1, 2].map((c) => stats.slice(0, n).reduce((a, s) => a + f(s, c), 0) / n);
    for (const compiled of [false, true]) {
      const runningMean = rt().zeros([3]);
      const runningVar = rt().tensor(f32([1, 1, 1]), [3]);
      const numBatchesTracked = rt().zeros([]);
      const opts = { runningMean, runningVar, numBatchesTracked, training: true, momentum: null };
      const p = compiled ? await rt().compile(({ x }) => ({ y: batchNorm(x!, opts) }), { x: { shape } }) : undefined;
      for (const [i, x] of batches.entries()) {
        if (p) p.run({ x: f32(x) });
        else batchNorm(rt().tensor(f32(x), shape), opts);
        const what = `${compiled ? 'compiled' : 'eager'}, after ${i + 1}`;
        expectClose(await runningMean.read(), average(i + 1, (s, c) => s.mean[c]!), 1e-6, `running mean ${what}`);
        expectClose(await runningVar.read(), average(i + 1, (s, c) => s.squares[c]! / 19), 1e-6, `running var ${what}`);
        expect([...(await numBatchesTracked.read())]).toEqual([i + 1]);
      }
      p?.dispose();
    }
  });

  it("matches PyTorch's batch_norm: outputs, running statistics and gradients, in training and then in evaluation", async () => {
    const shape = [4, 3, 5, 5];
    const rng = new Rng(21);
    const [x, w, b, r] = [rng.array(300, -1, 2), rng.array(3), rng.array(3), rng.array(300)];
    const torch = torchJson<{ y: number[]; dx: number[]; dw: number[]; db: number[]; rm: number[]; rv: number[]; e: number[] }>(
      `import json, sys, torch, torch.nn.functional as F
d = json.load(sys.stdin)
x = torch.tensor(d['x']).reshape(4, 3, 5, 5).requires_grad_()
w = torch.tensor(d['w']).requires_grad_(); b = torch.tensor(d['b']).requires_grad_()
rm, rv = torch.zeros(3), torch.ones(3)
y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, eps=1e-3)
(y * torch.tensor(d['r']).reshape(4, 3, 5, 5)).sum().backward()
e = F.batch_norm(x.detach(), rm, rv, w.detach(), b.detach(), training=False, eps=1e-3)
print(json.dumps({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.tolist(), 'db': b.grad.tolist(), 'rm': rm.tolist(), 'rv': rv.tolist(), 'e': e.flatten().tolist()}))`,
      JSON.stringify({ x: [...x], w: [...w], b: [...b], r: [...r] }),
    );
    const [tx, tw, tb] = [rt().tensor(f32(x), shape, { requiresGrad: true }), rt().tensor(f32(w), [3], { requiresGrad: true }), rt().tensor(f32(b), [3], { requiresGrad: true })];
    const runningMean = rt().zeros([3]);
    const runningVar = rt().tensor(f32([1, 1, 1]), [3]);
    const y = batchNorm(tx, { weight: tw, bias: tb, runningMean, runningVar, training: true, momentum: 0.2, eps: 1e-3 });
    const [dx, dw, db] = grad(sum(mul(y, rt().tensor(f32(r), shape))), [tx, tw, tb]);
    expectClose(await y.read(), torch.y, 2e-6, 'y');
    expectClose(await dx!.read(), torch.dx, 2e-5, 'dx');
    expectClose(await dw!.read(), torch.dw, 2e-6, 'dweight');
    expectClose(await db!.read(), torch.db, 2e-6, 'dbias');
    expectClose(await runningMean.read(), torch.rm, 2e-6, 'running mean');
    expectClose(await runningVar.read(), torch.rv, 2e-6, 'running var');
    const e = batchNorm(tx, { weight: tw, bias: tb, runningMean, runningVar, eps: 1e-3 });
    expectClose(await e.read(), torch.e, 2e-6, 'evaluation');
  });

  it('refuses what PyTorch refuses, naming the op and the shapes', () => {
    const x = rt().zeros([2, 3, 4]);
    const c3 = rt().zeros([3]);
    const cases: [() => unknown, string][] = [
      [() => batchNorm(rt().zeros([1, 3]), { training: true }), 'batchNorm: needs more than one value per channel in training, got 1 (x [1, 3] f32)'],
      [() => batchNorm(x), 'batchNorm: needs runningMean and runningVar in evaluation (training false) (x [2, 3, 4] f32)'],
      [() => batchNorm(x, { training: true, weight: rt().zeros([4]) }), 'batchNorm: weight must be f32 [3], one per channel, got [4] f32 (x [2, 3, 4] f32)'],
      [() => batchNorm(x, { training: true, runningMean: c3 }), 'batchNorm: runningMean and runningVar go together (x [2, 3, 4] f32)'],
      [() => batchNorm(x, { training: true, momentum: 2 }), 'batchNorm: momentum must be a number in [0, 1] or null, got 2 (x [2, 3, 4] f32)'],
      [() => batchNorm(x, { training: true, momentum: null, runningMean: c3, runningVar: c3 }), 'batchNorm: momentum null (a cumulative average) counts batches in numBatchesTracked, which is not given'],
      [() => batchNorm(x, { training: true, eps: -1 }), 'batchNorm: eps must be a finite number ≥ 0, got -1 (x [2, 3, 4] f32)'],
      [() => batchNorm(x, { training: true, eps: Infinity }), 'batchNorm: eps must be a finite number ≥ 0, got Infinity (x [2, 3, 4] f32)'],
      [() => batchNorm(rt().zeros([3]), { training: true }), 'batchNorm: needs a batch [N, C, ...] (x [3] f32)'],
      [() => batchNorm(x, { training: true, mean: c3 } as never), 'batchNorm: unknown option'],
      [() => batchNorm(x, { training: true, numBatchesTracked: c3 }), 'batchNorm: numBatchesTracked must be an f32 scalar of this runtime, got'],
      [() => batchNorm(x, { training: true, numBatchesTracked: rt().zeros([]) }), 'batchNorm: numBatchesTracked counts updates of runningMean and runningVar, which are not given'],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    }
    // A disposed tensor, named by batchNorm and the option, in training (the statistics' update) and in evaluation.
    const gone = rt().zeros([3]);
    gone.dispose();
    for (const training of [true, false]) {
      expect(() => batchNorm(x, { training, runningMean: gone, runningVar: c3 })).toThrow(new TensorStateError('batchNorm: runningMean, tensor [3] f32, was disposed'));
      expect(() => batchNorm(x, { training, runningMean: c3, runningVar: gone })).toThrow(new TensorStateError('batchNorm: runningVar, tensor [3] f32, was disposed'));
      expect(() => batchNorm(x, { training, runningMean: c3, runningVar: c3, weight: gone })).toThrow(new TensorStateError('batchNorm: weight, tensor [3] f32, was disposed'));
    }
  });

  it('eager running-statistics updates still queued when the runtime is disposed are dropped, not unhandled rejections', async () => {
    const unhandled: unknown[] = [];
    const note = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', note);
    try {
      const own = await createRuntime();
      const runningMean = own.zeros([4]);
      const runningVar = own.ones([4]);
      for (let i = 0; i < 3; i++) batchNorm(own.tensor(f32(new Rng(i).array(24)), [2, 4, 3]), { runningMean, runningVar, training: true });
      own.dispose();
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      process.off('unhandledRejection', note);
    }
    expect(unhandled).toEqual([]);
  });
});
