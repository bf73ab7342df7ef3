// layerNorm and groupNorm against a float64 reference on awkward shapes, normalised over one or
// several last dimensions (over groups of channels), their gradients against the analytic ones
// and central differences, PyTorch's own layer_norm, group_norm and instance_norm (with running
// statistics), and the errors.
import { describe, expect, it } from 'vitest';
import { grad, groupNorm, instanceNorm, layerNorm, mul, ShapeError, sum } from '../src/index.js';
import { checkOp, expectClose, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { refLayerNorm, refLayerNormGrad } from './references.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

// [shape, normalised shape]: rows of 7, of [3, 4], of [5, 3] in a batch of 1, of 65 (one past a
// workgroup), the whole tensor, and rows of 1500 (2 chunks each on a GPU).
const CASES: [number[], number[]][] = [[[5, 7], [7]], [[2, 3, 4], [3, 4]], [[1, 4, 5, 3], [5, 3]], [[3, 65], [65]], [[2, 3], [2, 3]], [[2, 1500], [1500]]];

// Both ways batch norm's kernels split the rows' reductions, whatever this adapter is.
for (const software of [true, false]) describe(`layerNorm and groupNorm, split as on ${software ? 'a CPU adapter' : 'a GPU'}`, () => {
  const rt = useRuntimeSplittingAs(software);
  for (const [shape, normalized] of CASES) {
    it(`normalises x ${JSON.stringify(shape)} over ${JSON.stringify(normalized)}, with weight and bias; gradients of x, weight and bias`, async () => {
      const d = normalized.reduce((a, b) => a * b, 1);
      await checkOp(rt(), new Rng(shape.length * 13 + d), {
        name: `layerNorm x${JSON.stringify(shape)} over ${JSON.stringify(normalized)}`,
        shapes: [shape, normalized, normalized],
        gpu: ([x, w, b]) => layerNorm(x!, normalized, { weight: w!, bias: b! }),
        ref: ([x, w, b]) => refLayerNorm(x!, d, 1e-5, w!, b!),
        refGrad: ([x, w], r) => refLayerNormGrad(x!, d, 1e-5, r, w!),
        tol: 2e-6,
        gradTol: 2e-5,
      });
    });
  }

  // [shape, groups]: groups of 2 channels with pixels, of 3 without, and one channel each
  // (instance norm) in a batch of 1.
  const CASES_G: [number[], number][] = [[[2, 6, 3, 3], 3], [[3, 6], 2], [[1, 4, 5], 4]];
  for (const [shape, groups] of CASES_G) {
    it(`groupNorm normalises x ${JSON.stringify(shape)} in ${groups} groups of channels; its gradient`, async () => {
      const d = shape.slice(1).reduce((a, b) => a * b, 1) / groups;
      await checkOp(rt(), new Rng(shape.length * 7 + groups), {
        name: `groupNorm x${JSON.stringify(shape)} in ${groups} groups`,
        shapes: [shape],
        gpu: ([x]) => groupNorm(x!, groups),
        ref: ([x]) => refLayerNorm(x!, d, 1e-5),
        refGrad: ([x], r) => [refLayerNormGrad(x!, d, 1e-5, r)[0]!],
        tol: 2e-6,
        gradTol: 2e-5,
      });
    });
  }
});

describe('layerNorm', () => {
  it('over a single value gives 0, as PyTorch', async () => {
    expect([...(await layerNorm(rt().tensor(f32([3, -2]), [2, 1]), [1]).read())]).toEqual([0, 0]);
  });

  it("matches PyTorch's layer_norm, without weight and bias too, and with eps 0.01", async () => {
    const rng = new Rng(3);
    const [x, w, b, r] = [rng.array(2 * 3 * 4, -2, 3), rng.array(12), rng.array(12), rng.array(24)];
    const torch = torchJson<{ y: number[]; plain: number[]; dx: number[]; dw: number[]; db: number[] }>(
      `import json, sys, torch, torch.nn.functional as F
d = json.load(sys.stdin)
x = torch.tensor(d['x']).reshape(2, 3, 4).requires_grad_()
w = torch.tensor(d['w']).reshape(3, 4).requires_grad_(); b = torch.tensor(d['b']).reshape(3, 4).requires_grad_()
y = F.layer_norm(x, (3, 4), w, b, eps=0.01)
(y * torch.tensor(d['r']).reshape(2, 3, 4)).sum().backward()
plain = F.layer_norm(x.detach(), (4,))
print(json.dumps({'y': y.flatten().tolist(), 'plain': plain.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.flatten().tolist(), 'db': b.grad.flatten().tolist()}))`,
      JSON.stringify({ x: [...x], w: [...w], b: [...b], r: [...r] }),
    );
    const [tx, tw, tb] = [rt().tensor(f32(x), [2, 3, 4]), rt().tensor(f32(w), [3, 4]), rt().tensor(f32(b), [3, 4])];
    const y = layerNorm(tx, [3, 4], { weight: tw, bias: tb, eps: 0.01 });
    const [dx, dw, db] = grad(sum(mul(y, rt().tensor(f32(r), [2, 3, 4]))), [tx, tw, tb]);
    expectClose(await y.read(), torch.y, 2e-6, 'y');
    expectClose(await layerNorm(tx, [4]).read(), torch.plain, 2e-6, 'without weight and bias');
    expectClose(await dx!.read(), torch.dx, 2e-5, 'dx');
    expectClose(await dw!.read(), torch.dw, 2e-6, 'dweight');
    expectClose(await db!.read(), torch.db, 2e-6, 'dbias');
  });

  it('refuses a normalised shape that is not x\'s last sizes, and weights of another shape, naming the op and the shapes', () => {
    const x = rt().zeros([2, 3, 4]);
    const cases: [() => unknown, string][] = [
      [() => layerNorm(x, [3]), 'layerNorm: normalizedShape must be x\'s last sizes (a non-empty array), got [3] (x [2, 3, 4] f32)'],
      [() => layerNorm(x, []), 'layerNorm: normalizedShape must be x\'s last sizes (a non-empty array), got [] (x [2, 3, 4] f32)'],
      [() => layerNorm(x, [1, 2, 3, 4]), 'layerNorm: normalizedShape must be x\'s last sizes'],
      [() => layerNorm(x, [4], { weight: rt().zeros([3]) }), 'layerNorm: weight must be f32 [4], the normalised shape, got [3] f32 (x [2, 3, 4] f32)'],
      [() => layerNorm(x, [4], { eps: -1 }), 'layerNorm: eps must be a finite number ≥ 0, got -1'],
      [() => layerNorm(x, [4], { eps: Infinity }), 'layerNorm: eps must be a finite number ≥ 0, got Infinity'],
      [() => layerNorm(x, [4], { gamma: 1 } as never), "layerNorm: unknown option 'gamma'"],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    }
  });
});

describe('groupNorm', () => {
  it("matches PyTorch's group_norm with weight and bias: outputs and gradients", async () => {
    const rng = new Rng(9);
    const [x, w, b, r] = [rng.array(2 * 6 * 5, -2, 3), rng.array(6), rng.array(6), rng.array(60)];
    const torch = torchJson<{ y: number[]; dx: number[]; dw: number[]; db: number[] }>(
      `import json, sys, torch, torch.nn.functional as F
d = json.load(sys.stdin)
x = torch.tensor(d['x']).reshape(2, 6, 5).requires_grad_()
w = torch.tensor(d['w']).requires_grad_(); b = torch.tensor(d['b']).requires_grad_()
y = F.group_norm(x, 3, w, b, eps=0.01)
(y * torch.tensor(d['r']).reshape(2, 6, 5)).sum().backward()
print(json.dumps({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.tolist(), 'db': b.grad.tolist()}))`,
      JSON.stringify({ x: [...x], w: [...w], b: [...b], r: [...r] }),
    );
    const [tx, tw, tb] = [rt().tensor(f32(x), [2, 6, 5]), rt().tensor(f32(w), [6]), rt().tensor(f32(b), [6])];
    const y = groupNorm(tx, 3, { weight: tw, bias: tb, eps: 0.01 });
    const [dx, dw, db] = grad(sum(mul(y, rt().tensor(f32(r), [2, 6, 5]))), [tx, tw, tb]);
    expectClose(await y.read(), torch.y, 2e-6, 'y');
    expectClose(await dx!.read(), torch.dx, 2e-5, 'dx');
    expectClose(await dw!.read(), torch.dw, 2e-6, 'dweight');
    expectClose(await db!.read(), torch.db, 2e-6, 'dbias');
  });

  it('refuses groups that do not divide the channels, and weights of another shape', () => {
    const x = rt().zeros([2, 6, 4]);
    expect(() => groupNorm(x, 4)).toThrow('groupNorm: numGroups must be a positive integer dividing the 6 channels, got 4 (x [2, 6, 4] f32)');
    expect(() => groupNorm(x, 3, { weight: rt().zeros([3]) })).toThrow('groupNorm: weight must be f32 [6], one per channel, got');
    expect(() => groupNorm(rt().zeros([6]), 3)).toThrow('groupNorm: needs a batch [N, C, ...] (x [6] f32)');
    // Named as groupNorm's, not as the batch norm it is computed with.
    expect(() => groupNorm(x, 3, { eps: -1 })).toThrow('groupNorm: eps must be a finite number ≥ 0, got -1 (x [2, 6, 4] f32)');
    expect(() => groupNorm(rt().zeros([2, 6], 'i32'), 3)).toThrow('groupNorm: needs an f32 tensor (x [2, 6] i32)');
  });

  it("instanceNorm matches PyTorch's instance_norm: running statistics moved by each training call (3 of them), used without the input's; outputs and gradients", async () => {
    const rng = new Rng(10);
    const xs = [0, 1, 2].map(() => Array.from(f32(rng.array(3 * 4 * 7, -2, 3))));
    const [w, b, r] = [rng.array(4), rng.array(4), rng.array(84)];
    const torch = torchJson<{ ys: number[][]; mean: number[]; var: number[]; y: number[]; dx: number[]; dw: number[] }>(
      `import json, sys, torch, torch.nn.functional as F
d = json.load(sys.stdin)
rm, rv = torch.zeros(4), torch.ones(4)
w = torch.tensor(d['w']).requires_grad_(); b = torch.tensor(d['b'])
ys = [F.instance_norm(torch.tensor(x).reshape(3, 4, 7), rm, rv, w, b, True, 0.2, 1e-3).flatten().tolist() for x in d['xs']]
x = torch.tensor(d['xs'][0]).reshape(3, 4, 7).requires_grad_()
y = F.instance_norm(x, rm, rv, w, b, False, 0.2, 1e-3)
(y * torch.tensor(d['r']).reshape(3, 4, 7)).sum().backward()
print(json.dumps({'ys': ys, 'mean': rm.tolist(), 'var': rv.tolist(), 'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': w.grad.tolist()}))`,
      JSON.stringify({ xs, w: [...w], b: [...b], r: [...r] }),
    );
    const [rm, rv] = [rt().zeros([4]), rt().ones([4])];
    const [tw, tb] = [rt().tensor(f32(w), [4]), rt().tensor(f32(b), [4])];
    const opts = { runningMean: rm, runningVar: rv, weight: tw, bias: tb, momentum: 0.2, eps: 1e-3 };
    for (const [i, x] of xs.entries()) expectClose(await instanceNorm(rt().tensor(x, [3, 4, 7]), opts).read(), torch.ys[i]!, 2e-6, `training call ${i + 1}`);
    expectClose(await rm.read(), torch.mean, 1e-6, 'running mean');
    expectClose(await rv.read(), torch.var, 1e-6, 'running variance');
    const tx = rt().tensor(xs[0]!, [3, 4, 7]);
    const y = instanceNorm(tx, { ...opts, useInputStats: false });
    const [dx, dw] = grad(sum(mul(y, rt().tensor(f32(r), [3, 4, 7]))), [tx, tw]);
    expectClose(await y.read(), torch.y, 2e-6, 'y by the running statistics');
    expectClose(await dx!.read(), torch.dx, 2e-6, 'dx');
    expectClose(await dw!.read(), torch.dw, 2e-6, 'dweight');
  });

  it('instanceNorm refuses what it cannot normalise, naming itself', () => {
    const x = rt().zeros([2, 3, 5]);
    expect(() => instanceNorm(rt().zeros([2, 3, 1]))).toThrow('instanceNorm: needs more than one position per channel to take its statistics, got 1 (x [2, 3, 1] f32)');
    expect(() => instanceNorm(rt().zeros([2, 3]))).toThrow('instanceNorm: needs a batch of channels with positions [N, C, ...] (x [2, 3] f32)');
    expect(() => instanceNorm(x, { useInputStats: false })).toThrow("instanceNorm: needs runningMean and runningVar without the input's statistics (useInputStats false) (x [2, 3, 5] f32)");
    expect(() => instanceNorm(x, { runningMean: rt().zeros([3]) })).toThrow('instanceNorm: runningMean and runningVar go together');
    expect(() => instanceNorm(x, { runningMean: rt().zeros([2]), runningVar: rt().zeros([2]) })).toThrow('instanceNorm: runningMean must be f32 [3], one per channel, got [2] f32');
    expect(() => instanceNorm(x, { momentum: 2 })).toThrow('instanceNorm: momentum must be a number in [0, 1], got 2');
    expect(() => instanceNorm(x, { track: true } as never)).toThrow(ShapeError);
  });
});
