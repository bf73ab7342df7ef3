// Adam and SGD against float64 implementations of PyTorch 1.13's update rules, run as a
// compiled step (the update in the same submit as the gradient) and eagerly.
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop, add, backward, clipGradNorm, clipGradValue, createRuntime, exp, grad, linear, mean, Model, mul, scale, SGD, sub, sum, TensorStateError, type Optimizer, type Tensor } from '../src/index.js';
import { collectGarbage, expectClose, f32, relError, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';
import { describeOptimizer } from '../src/model/checkpoint.js';

const rt = useRuntime();

// loss(p) = ½·Σ (p − c)²·k, so the gradient is (p − c)·k: it depends on p, so the state matters.
const K = 3;
const gradOf = (p: Float64Array, c: Float64Array) => p.map((v, i) => (v - c[i]!) * K);

/** Adam, or with `decoupled` AdamW (p shrunk by 1 − lr·wd before the update, the gradient taken before). */
function refAdam(p0: Float64Array, c: Float64Array, steps: number, o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled?: boolean }) {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(p, c);
    for (let i = 0; i < p.length; i++) {
      if (o.decoupled) p[i] = p[i]! * (1 - o.lr * o.wd);
      const gi = o.decoupled ? g[i]! : g[i]! + o.wd * p[i]!;
      m[i] = o.b1 * m[i]! + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * gi * gi;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - o.b2 ** t) + o.eps;
      p[i] = p[i]! - (o.lr / (1 - o.b1 ** t)) * (m[i]! / denom);
    }
  }
  return { p, m, v };
}

/** SGD's steps from a momentum buffer that is held and all 0 (after steps of zero gradients): buf = m·buf + (1 − dampening)·g from the first. */
function refSgdFromZeroBuffer(p0: Float64Array, c: Float64Array, steps: number, lr: number, momentum: number, dampening: number): Float64Array {
  const p = Float64Array.from(p0);
  const buf = new Float64Array(p.length);
  for (let t = 0; t < steps; t++) {
    const g = gradOf(p, c);
    for (let i = 0; i < p.length; i++) {
      buf[i] = momentum * buf[i]! + (1 - dampening) * g[i]!;
      p[i] = p[i]! - lr * buf[i]!;
    }
  }
  return p;
}

function refSgd(p0: Float64Array, c: Float64Array, steps: number, o: { lr: number; momentum: number; dampening: number; wd: number; nesterov: boolean }) {
  const p = Float64Array.from(p0);
  const buf = new Float64Array(p.length);
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(p, c);
    for (let i = 0; i < p.length; i++) {
      let d = g[i]! + o.wd * p[i]!;
      if (o.momentum) {
        buf[i] = t === 1 ? d : o.momentum * buf[i]! + (1 - o.dampening) * d;
        d = o.nesterov ? d + o.momentum * buf[i]! : buf[i]!;
      }
      p[i] = p[i]! - o.lr * d;
    }
  }
  return { p, buf };
}

function refAdadelta(p0: Float64Array, c: Float64Array, steps: number, o: { lr: number; rho: number; eps: number; wd: number }) {
  const p = Float64Array.from(p0);
  const sq = new Float64Array(p.length);
  const acc = new Float64Array(p.length);
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(p, c);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! + o.wd * p[i]!;
      sq[i] = o.rho * sq[i]! + (1 - o.rho) * gi * gi;
      const delta = (Math.sqrt(acc[i]! + o.eps) / Math.sqrt(sq[i]! + o.eps)) * gi;
      acc[i] = o.rho * acc[i]! + (1 - o.rho) * delta * delta;
      p[i] = p[i]! - o.lr * delta;
    }
  }
  return { p, sq, acc };
}

function refRmsprop(p0: Float64Array, c: Float64Array, steps: number, o: { lr: number; alpha: number; eps: number; wd: number; momentum: number; centered: boolean }) {
  const p = Float64Array.from(p0);
  const sq = new Float64Array(p.length);
  const buf = new Float64Array(p.length);
  const ga = new Float64Array(p.length);
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(p, c);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! + o.wd * p[i]!;
      sq[i] = o.alpha * sq[i]! + (1 - o.alpha) * gi * gi;
      let avg = sq[i]!;
      if (o.centered) {
        ga[i] = o.alpha * ga[i]! + (1 - o.alpha) * gi;
        avg -= ga[i]! * ga[i]!;
      }
      const step = gi / (Math.sqrt(avg) + o.eps);
      if (o.momentum > 0) buf[i] = o.momentum * buf[i]! + step;
      p[i] = p[i]! - o.lr * (o.momentum > 0 ? buf[i]! : step);
    }
  }
  return { p, sq, buf, ga };
}

function refAdagrad(p0: Float64Array, c: Float64Array, steps: number, o: { lr: number; lrDecay: number; eps: number; wd: number; init: number }) {
  const p = Float64Array.from(p0);
  const sum = new Float64Array(p.length).fill(o.init);
  for (let t = 1; t <= steps; t++) {
    const g = gradOf(p, c);
    const clr = o.lr / (1 + (t - 1) * o.lrDecay);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! + o.wd * p[i]!;
      sum[i] = sum[i]! + gi * gi;
      p[i] = p[i]! - (clr * gi) / (Math.sqrt(sum[i]!) + o.eps);
    }
  }
  return { p, sum };
}

function lossOf(p: ReturnType<typeof rt>['tensor'] extends (...a: never[]) => infer T ? T : never, c: ReturnType<typeof rt>['tensor'] extends (...a: never[]) => infer T ? T : never) {
  const d = sub(p, c);
  return scale(sum(mul(d, d)), K / 2);
}

// A large ε against small gradients, where ε added after the root (PyTorch's √v + ε) and inside
// it (√(v + ε)) differ threefold: ε 0.1, |p0 − c| in [0.002, 0.005] so that the gradients
// 3·(p − c) are near 0.01, √v near them. Parameters near 0 keep f32's rounding of p far below
// the distance moved, which is what is compared (p − p0: p itself barely changes).
function smallGradients(seed: number, n: number) {
  const rng = new Rng(seed);
  const p0 = rng.array(n, -0.1, 0.1);
  const c = Float64Array.from(p0, (v) => Math.fround(v + rng.pick([-1, 1]) * rng.uniform(0.002, 0.005)));
  return { p0, c, moved: (p: ArrayLike<number>) => Float64Array.from(p0, (v, i) => p[i]! - v) };
}
const SMALL = { rmsprop: smallGradients(47, 31), adagrad: smallGradients(77, 29) };
const RMSPROP_EPS = [
  { alpha: 0.99, momentum: 0, centered: false, wd: 0 },
  { alpha: 0.9, momentum: 0.5, centered: true, wd: 0.05 },
];
// PyTorch's runs of both optimizers on them, in one Python process (its start is most of the time).
type EpsRuns = { rmsprop: number[][]; adagrad: number[] };
let torchEps: EpsRuns | undefined;
const torchEpsRuns = (): EpsRuns =>
  (torchEps ??= torchJson<EpsRuns>(`
import json, torch
def run(make, p0, c):
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(c, dtype=torch.float64)
    opt = make(p)
    for _ in range(25):
        opt.zero_grad(); (${K / 2} * ((p - c) ** 2).sum()).backward(); opt.step()
    return p.tolist()
r, a = ${JSON.stringify([SMALL.rmsprop, SMALL.adagrad].map(({ p0, c }) => [Array.from(p0), Array.from(c)]))}
print(json.dumps({
    'rmsprop': [run(lambda p: torch.optim.RMSprop([p], lr=0.001, alpha=alpha, eps=0.1, momentum=momentum, centered=bool(centered), weight_decay=wd), *r)
                for alpha, momentum, centered, wd in ${JSON.stringify(RMSPROP_EPS.map((o) => [o.alpha, o.momentum, o.centered ? 1 : 0, o.wd]))}],
    'adagrad': run(lambda p: torch.optim.Adagrad([p], lr=0.001, lr_decay=0.1, weight_decay=0.05, eps=0.1), *a),
}))
`));

/** 25 steps of `opt` on p, compiled, against c: p's values after them. */
async function compiledSteps(p: Tensor, opt: Optimizer, c: Float64Array): Promise<ArrayLike<number>> {
  const ct = rt().tensor(f32(c), p.shape);
  const step = await rt().compile(() => {
    void opt.step(grad(lossOf(p, ct), [p]));
  });
  for (let i = 0; i < 25; i++) step.run();
  return p.read();
}

describe('RMSprop', () => {
  const configs = [
    { alpha: undefined, momentum: 0, centered: false, wd: 0 },
    { alpha: 0.9, momentum: 0.8, centered: true, wd: 0.05 },
    { alpha: 0.95, momentum: 0, centered: true, wd: 0 },
    { alpha: undefined, momentum: 0.5, centered: false, wd: 0 },
  ];
  for (const { alpha, momentum, centered, wd } of configs) {
    const what = `alpha ${alpha ?? 'by default, 0.99'}, momentum ${momentum}, ${centered ? 'centered' : 'not centered'}, weight decay ${wd}`;
    it(`matches PyTorch's formula over 25 steps, compiled and eager (${what})`, async () => {
      const rng = new Rng(40 + momentum * 10 + (centered ? 1 : 0));
      const p0 = rng.array(43, -2, 2);
      const c = rng.array(43);
      const ct = rt().tensor(f32(c), [43]);
      const ref = refRmsprop(p0, c, 25, { lr: 0.01, alpha: alpha ?? 0.99, eps: 1e-8, wd, momentum, centered });
      const opts = { ...(alpha === undefined ? {} : { alpha }), momentum, centered, weightDecay: wd };
      const compiled = rt().tensor(f32(p0), [43], { name: 'p' });
      const opt = new RMSprop([compiled], opts);
      expect([opt.lr, opt.alpha, opt.eps]).toEqual([0.01, alpha ?? 0.99, 1e-8]);
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(compiled, ct), [compiled]));
      });
      for (let i = 0; i < 25; i++) step.run();
      const eager = rt().tensor(f32(p0), [43], { name: 'q' });
      const eagerOpt = new RMSprop([eager], opts);
      for (let i = 0; i < 25; i++) void eagerOpt.step(grad(lossOf(eager, ct), [eager]));
      for (const [t, o] of [[compiled, opt], [eager, eagerOpt]] as const) {
        expectClose(await t.read(), ref.p, 1e-4, `RMSprop parameters (${t.name})`);
        expectClose(await o.state[0]![0]!.read(), ref.sq, 1e-4, `RMSprop square_avg (${t.name})`);
        if (momentum) expectClose(await o.state[0]![1]!.read(), ref.buf, 1e-4, `RMSprop momentum_buffer (${t.name})`);
        if (centered) expectClose(await o.state[0]![2]!.read(), ref.ga, 1e-4, `RMSprop grad_avg (${t.name})`);
      }
      expect([...opt.stateTensors().keys()]).toEqual(['p.square_avg', 'p.momentum_buffer', 'p.grad_avg']);
    });
  }

  it('takes the same steps as PyTorch 1.13\'s own RMSprop', async () => {
    const p0 = [0.5, -1, 2, 0.25, -0.75];
    const c = [1, 0.5, -1, 0, 2];
    const torch = torchJson<number[]>(`
import json, torch
p = torch.tensor(${JSON.stringify(p0)}, dtype=torch.float64, requires_grad=True)
c = torch.tensor(${JSON.stringify(c)}, dtype=torch.float64)
opt = torch.optim.RMSprop([p], lr=0.02, alpha=0.9, momentum=0.7, centered=True, weight_decay=0.01)
for _ in range(12):
    opt.zero_grad(); (${K / 2} * ((p - c) ** 2).sum()).backward(); opt.step()
print(json.dumps(p.tolist()))
`);
    const p = rt().tensor(p0, [5], { name: 'p' });
    const opt = new RMSprop([p], { lr: 0.02, alpha: 0.9, momentum: 0.7, centered: true, weightDecay: 0.01 });
    for (let i = 0; i < 12; i++) void opt.step(grad(lossOf(p, rt().tensor(c)), [p]));
    expectClose(await p.read(), Float64Array.from(torch), 1e-5, 'RMSprop against PyTorch');
  });

  it("adds ε after the square root (√v + ε, as PyTorch's): ε 0.1 against gradients near 0.01, plain and centered with momentum, as the formula and as PyTorch 1.13", async () => {
    const { p0, c, moved } = SMALL.rmsprop;
    for (const [i, { alpha, momentum, centered, wd }] of RMSPROP_EPS.entries()) {
      const what = `RMSprop ε 0.1, alpha ${alpha}, momentum ${momentum}, ${centered ? 'centered' : 'not centered'}`;
      const ref = refRmsprop(p0, c, 25, { lr: 0.001, alpha, eps: 0.1, wd, momentum, centered });
      const p = rt().tensor(f32(p0), [31], { name: 'p' });
      const got = moved(await compiledSteps(p, new RMSprop([p], { lr: 0.001, alpha, eps: 0.1, momentum, centered, weightDecay: wd }), c));
      expectClose(got, moved(ref.p), 1e-3, `${what}: distance moved, against the formula`);
      expectClose(got, moved(torchEpsRuns().rmsprop[i]!), 1e-3, `${what}: distance moved, against PyTorch`);
    }
  });

  it('refuses a negative alpha and the options of other optimizers', () => {
    const p = rt().tensor([1, 2]);
    expect(() => new RMSprop([p], { alpha: -0.5 })).toThrow(/^RMSprop: alpha must be ≥ 0, got -0.5$/);
    expect(() => new RMSprop([p], { rho: 0.9 } as never)).toThrow(/^RMSprop: rho is an option of Adadelta, not of RMSprop$/);
    expect(() => new Adam([p], { centered: true } as never)).toThrow(/^Adam: centered is an option of RMSprop, not of Adam$/);
  });
});

describe('NAdam, RAdam and Adamax', () => {
  // fovea's optimizer, PyTorch 1.13's (NAdam's foreach form: its single-tensor loop counts μt
  // twice in the second coefficient, which later versions fixed).
  const CASES: [string, (p: Tensor) => Optimizer, string][] = [
    ['NAdam, its defaults', (p) => new NAdam([p]), 'torch.optim.NAdam([p], foreach=True)'],
    ['NAdam, betas, momentum decay and weight decay', (p) => new NAdam([p], { lr: 0.01, betas: [0.8, 0.99], momentumDecay: 0.01, weightDecay: 0.05 }), 'torch.optim.NAdam([p], lr=0.01, betas=(0.8, 0.99), momentum_decay=0.01, weight_decay=0.05, foreach=True)'],
    ['RAdam, its defaults: rectified from step 6', (p) => new RAdam([p]), 'torch.optim.RAdam([p])'],
    ['RAdam, betas (rectified from step 6 at β2 0.99), eps and weight decay', (p) => new RAdam([p], { lr: 0.01, betas: [0.85, 0.99], eps: 1e-3, weightDecay: 0.05 }), 'torch.optim.RAdam([p], lr=0.01, betas=(0.85, 0.99), eps=1e-3, weight_decay=0.05)'],
    ['Adamax, its defaults', (p) => new Adamax([p]), 'torch.optim.Adamax([p])'],
    ['Adamax, betas, eps and weight decay', (p) => new Adamax([p], { lr: 0.01, betas: [0.8, 0.95], eps: 1e-2, weightDecay: 0.05 }), 'torch.optim.Adamax([p], lr=0.01, betas=(0.8, 0.95), eps=1e-2, weight_decay=0.05)'],
  ];
  const rng = new Rng(70);
  const p0 = Array.from(f32(rng.array(37, -2, 2)));
  const c = Array.from(f32(rng.array(37)));
  let torch: { p: number[]; m: number[]; v: number[]; mu?: number }[] | undefined;
  const torchRuns = () =>
    (torch ??= torchJson<{ p: number[]; m: number[]; v: number[]; mu?: number }[]>(`
import json, torch
out = []
for make in [${CASES.map(([, , py]) => `lambda p: ${py}`).join(', ')}]:
    p = torch.tensor(${JSON.stringify(p0)}, dtype=torch.float64, requires_grad=True)
    c = torch.tensor(${JSON.stringify(c)}, dtype=torch.float64)
    opt = make(p)
    for _ in range(25):
        opt.zero_grad(); (${K / 2} * ((p - c) ** 2).sum()).backward(); opt.step()
    s = opt.state[p]
    out.append({'p': p.tolist(), 'm': s['exp_avg'].tolist(), 'v': s.get('exp_avg_sq', s.get('exp_inf')).tolist(), **({'mu': float(s['mu_product'])} if 'mu_product' in s else {})})
print(json.dumps(out))
`));

  for (const [i, [name, make]] of CASES.entries()) {
    it(`${name}: PyTorch's steps over 25, compiled and eager, state and checkpoint description too`, async () => {
      const ct = rt().tensor(f32(c), [37]);
      const compiled = rt().tensor(f32(p0), [37], { name: 'p' });
      const opt = make(compiled);
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(compiled, ct), [compiled]));
      });
      for (let s = 0; s < 25; s++) step.run();
      const eager = rt().tensor(f32(p0), [37], { name: 'q' });
      const eagerOpt = make(eager);
      for (let s = 0; s < 25; s++) void eagerOpt.step(grad(lossOf(eager, ct), [eager]));
      const want = torchRuns()[i]!;
      for (const [t, o] of [[compiled, opt], [eager, eagerOpt]] as const) {
        expectClose(await t.read(), want.p, 1e-5, `${name}: parameters (${t.name})`);
        expectClose(await o.state[0]![0]!.read(), want.m, 1e-5, `${name}: exp_avg (${t.name})`);
        expectClose(await o.state[0]![1]!.read(), want.v, 1e-5, `${name}: exp_avg_sq or exp_inf (${t.name})`);
      }
      const names = ['p.exp_avg', opt instanceof Adamax ? 'p.exp_inf' : 'p.exp_avg_sq', ...(opt instanceof NAdam ? ['p.mu_product'] : [])];
      expect([...opt.stateTensors().keys()]).toEqual(names);
      if (want.mu !== undefined) for (const o of [opt, eagerOpt]) expectClose(await o.stateTensors().get(o === opt ? 'p.mu_product' : 'q.mu_product')!.read(), [want.mu], 1e-6, `${name}: mu_product`);
    });
  }

  it("Adamax's infinity norm keeps a NaN gradient, as PyTorch's amax does (a driver's max may drop it)", async () => {
    const p = rt().tensor([1, 2, 3, 4], [4], { name: 'p' });
    const opt = new Adamax([p]);
    await opt.step([rt().tensor([NaN, 1, Infinity, -Infinity])]);
    // torch.optim.Adamax's exp_inf and parameters after that step (PyTorch 1.13).
    expect(Array.from(await opt.state[0]![1]!.read())).toEqual([NaN, 1, Infinity, Infinity]);
    expect(Array.from(await p.read())).toEqual([NaN, 1.9980000257492065, NaN, NaN]);
  });

  it('NAdam resumed from saved state steps as it would have gone on, its β1 changed between steps (the momentum schedule\'s product saved); state saved without the product still loads', async () => {
    const ct = rt().tensor(f32(c), [37]);
    const beta1 = (t: number) => 0.95 - 0.01 * t; // as OneCycleLR cycles it
    const run = async (resume: 'no' | 'yes' | 'without product') => {
      const p = rt().tensor(f32(p0), [37], { name: 'p' });
      let opt = new NAdam([p], { lr: 0.01 });
      const steps = async (from: number, to: number) => {
        for (let t = from; t < to; t++) {
          opt.paramGroups[0]!.betas = [beta1(t), 0.999];
          await opt.step(grad(lossOf(p, ct), [p]));
        }
      };
      await steps(0, 6);
      if (resume !== 'no') {
        const saved = new Map(await Promise.all([...opt.stateTensors()].map(async ([k, t]) => [k, { shape: t.shape, data: (await t.read()) as Float32Array }] as const)));
        if (resume === 'without product') saved.delete('p.mu_product');
        opt = new NAdam([p], { lr: 0.01 });
        opt.loadState(saved, 6);
      }
      await steps(6, 10);
      return [await p.read(), await opt.stateTensors().get('p.mu_product')!.read()];
    };
    const [straight, mu] = await run('no');
    const [resumed, resumedMu] = await run('yes');
    expectClose(resumed!, straight!, 1e-7, 'resumed');
    expectClose(resumedMu!, mu!, 1e-7, 'mu_product, resumed');
    // Rebuilt with the current β1, the product is off (the steps after, by 1e-4 or so), but it loads.
    const [rebuilt] = await run('without product');
    expect(relError(rebuilt!, straight!)).toBeGreaterThan(1e-6);
    expectClose(rebuilt!, straight!, 1e-2, 'resumed without the product');
    // A group without parameters keeps no product: saving, reset() and dispose() pass it by.
    const empty = new NAdam([{ params: [] }, { params: [rt().tensor([1, 2], [2], { name: 'e' })] }]);
    expect([...empty.stateTensors().keys()]).toEqual(['e.exp_avg', 'e.exp_avg_sq', 'e.mu_product']);
    empty.reset();
    empty.dispose();
  });

  it("are described for checkpoints by their own names, NAdam's momentum decay with them, and refuse bad options", () => {
    const p = rt().tensor([1, 2]);
    expect(describeOptimizer(new NAdam([p], { momentumDecay: 0.01 }))).toEqual({ optimizer: 'nadam', hyperparameters: { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentumDecay: 0.01 } });
    expect(describeOptimizer(new RAdam([p]))).toEqual({ optimizer: 'radam', hyperparameters: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 } });
    expect(() => new NAdam([p], { momentumDecay: -1 })).toThrow(/^NAdam: momentumDecay must be ≥ 0, got -1$/);
    expect(() => new RAdam([p], { momentumDecay: 0.1 } as never)).toThrow(/^RAdam: momentumDecay is an option of NAdam, not of RAdam$/);
    expect(() => new RAdam([p], { betas: [0.9, 1] })).toThrow(/^RAdam: betas\[1\] must be in \[0, 1\), got 1$/);
    expect(() => new NAdam([p], { momentum: 0.9 } as never)).toThrow(/^NAdam: momentum is an option of SGD and RMSprop, not of NAdam$/);
  });
});

describe('Adagrad', () => {
  for (const { lrDecay, wd, init } of [{ lrDecay: 0, wd: 0, init: 0 }, { lrDecay: 0.1, wd: 0.05, init: 0.3 }]) {
    it(`matches PyTorch's formula over 25 steps, compiled and eager (lr decay ${lrDecay}, weight decay ${wd}, accumulators from ${init}), and from the start again after reset()`, async () => {
      const rng = new Rng(70 + init * 10);
      const p0 = rng.array(39, -2, 2);
      const c = rng.array(39);
      const ct = rt().tensor(f32(c), [39]);
      const ref = refAdagrad(p0, c, 25, { lr: 0.05, lrDecay, eps: 1e-10, wd, init });
      const opts = { lr: 0.05, lrDecay, weightDecay: wd, initialAccumulatorValue: init };
      const compiled = rt().tensor(f32(p0), [39], { name: 'p' });
      const opt = new Adagrad([compiled], opts);
      expect(opt.eps).toBe(1e-10);
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(compiled, ct), [compiled]));
      });
      for (let i = 0; i < 25; i++) step.run();
      const eager = rt().tensor(f32(p0), [39], { name: 'q' });
      const eagerOpt = new Adagrad([eager], opts);
      for (let i = 0; i < 25; i++) void eagerOpt.step(grad(lossOf(eager, ct), [eager]));
      for (const [t, o] of [[compiled, opt], [eager, eagerOpt]] as const) {
        expectClose(await t.read(), ref.p, 1e-4, `Adagrad parameters (${t.name})`);
        expectClose(await o.state[0]![0]!.read(), ref.sum, 1e-4, `Adagrad sum (${t.name})`);
      }
      expect([...opt.stateTensors().keys()]).toEqual(['p.sum']);
      // reset(): the sums start again from the initial value, the decay from step 1.
      await rt().sync();
      opt.reset();
      compiled.write(f32(p0));
      for (let i = 0; i < 25; i++) step.run();
      expectClose(await compiled.read(), ref.p, 1e-4, 'Adagrad parameters after reset()');
    });
  }

  it("takes the same steps as PyTorch 1.13's own Adagrad", async () => {
    const p0 = [0.5, -1, 2, 0.25, -0.75];
    const c = [1, 0.5, -1, 0, 2];
    const torch = torchJson<number[]>(`
import json, torch
p = torch.tensor(${JSON.stringify(p0)}, dtype=torch.float64, requires_grad=True)
c = torch.tensor(${JSON.stringify(c)}, dtype=torch.float64)
opt = torch.optim.Adagrad([p], lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.2)
for _ in range(12):
    opt.zero_grad(); (${K / 2} * ((p - c) ** 2).sum()).backward(); opt.step()
print(json.dumps(p.tolist()))
`);
    const p = rt().tensor(p0, [5], { name: 'p' });
    const opt = new Adagrad([p], { lr: 0.1, lrDecay: 0.05, weightDecay: 0.01, initialAccumulatorValue: 0.2 });
    for (let i = 0; i < 12; i++) void opt.step(grad(lossOf(p, rt().tensor(c)), [p]));
    expectClose(await p.read(), Float64Array.from(torch), 1e-5, 'Adagrad against PyTorch');
  });

  it("adds ε after the square root (√sum + ε, as PyTorch's): ε 0.1 against gradients near 0.01, with lr decay and weight decay, as the formula and as PyTorch 1.13", async () => {
    const { p0, c, moved } = SMALL.adagrad;
    // Accumulators from 0: the sum of squares stays near 1e-4, far below ε.
    const ref = refAdagrad(p0, c, 25, { lr: 0.001, lrDecay: 0.1, eps: 0.1, wd: 0.05, init: 0 });
    const p = rt().tensor(f32(p0), [29], { name: 'p' });
    const got = moved(await compiledSteps(p, new Adagrad([p], { lr: 0.001, lrDecay: 0.1, eps: 0.1, weightDecay: 0.05 }), c));
    expectClose(got, moved(ref.p), 1e-3, 'Adagrad ε 0.1: distance moved, against the formula');
    expectClose(got, moved(torchEpsRuns().adagrad), 1e-3, 'Adagrad ε 0.1: distance moved, against PyTorch');
  });

  it('refuses a negative lr decay', () => {
    expect(() => new Adagrad([rt().tensor([1, 2])], { lrDecay: -1 })).toThrow(/^Adagrad: lrDecay must be ≥ 0, got -1$/);
  });
});

describe('Adadelta', () => {
  for (const [wd, rho] of [[0, undefined], [0.1, 0.5]] as const) {
    it(`matches PyTorch's formula over 25 compiled steps (weight decay ${wd}, rho ${rho ?? 'by default, 0.9'})`, async () => {
      const rng = new Rng(30);
      const p0 = rng.array(41, -2, 2);
      const c = rng.array(41);
      const p = rt().tensor(f32(p0), [41], { name: 'p' });
      const opt = new Adadelta([p], { weightDecay: wd, ...(rho === undefined ? {} : { rho }) });
      expect([opt.lr, opt.rho, opt.eps]).toEqual([1, rho ?? 0.9, 1e-6]);
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(p, rt().tensor(f32(c), [41])), [p]));
      });
      for (let i = 0; i < 25; i++) step.run();
      const ref = refAdadelta(p0, c, 25, { lr: 1, rho: rho ?? 0.9, eps: 1e-6, wd });
      expectClose(await p.read(), ref.p, 1e-5, 'Adadelta parameters');
      expectClose(await opt.state[0]![0]!.read(), ref.sq, 1e-4, 'Adadelta square_avg');
      expectClose(await opt.state[0]![1]!.read(), ref.acc, 1e-4, 'Adadelta acc_delta');
      expect([...opt.stateTensors().keys()]).toEqual(['p.square_avg', 'p.acc_delta']);
    });
  }

  it('refuses a rho outside [0, 1] and the options of other optimizers', () => {
    const p = rt().tensor([1, 2]);
    expect(() => new Adadelta([p], { rho: 1.5 })).toThrow(/^Adadelta: rho must be in \[0, 1\], got 1.5$/);
    expect(() => new Adadelta([p], { betas: [0.9, 0.99] } as never)).toThrow(/^Adadelta: betas is an option of Adam, AdamW, NAdam, RAdam and Adamax, not of Adadelta$/);
    expect(() => new SGD([p], { lr: 0.1, eps: 1e-6 } as never)).toThrow(/^SGD: eps is an option of Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, RMSprop and Adagrad, not of SGD$/);
  });
});

describe('Adam', () => {
  for (const wd of [0, 0.01]) {
    it(`matches PyTorch's formula over 25 compiled steps (weight decay ${wd})`, async () => {
      const rng = new Rng(10 + wd * 100);
      const p0 = rng.array(37);
      const c = rng.array(37);
      const p = rt().tensor(f32(p0), [37], { name: 'p' });
      const ct = rt().tensor(f32(c), [37]);
      const opt = new Adam([p], { lr: 0.05, weightDecay: wd });
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(p, ct), [p]));
      });
      for (let i = 0; i < 25; i++) step.run();
      const ref = refAdam(p0, c, 25, { lr: 0.05, b1: 0.9, b2: 0.999, eps: 1e-8, wd });
      expect(opt.stepCount).toBe(25);
      expectClose(await p.read(), ref.p, 1e-5, 'Adam parameters');
      expectClose(await opt.state[0]![0]!.read(), ref.m, 1e-5, 'Adam exp_avg');
      // v is a running sum of squares along a trajectory that f32 rounding shifts slightly.
      expectClose(await opt.state[0]![1]!.read(), ref.v, 1e-4, 'Adam exp_avg_sq');
    });
  }

  for (const wd of [undefined, 0.3]) {
    it(`as AdamW, matches PyTorch's formula over 25 compiled steps (weight decay ${wd ?? 'by default, 0.01'})`, async () => {
      const rng = new Rng(20);
      const p0 = rng.array(37, -3, 3);
      const c = rng.array(37);
      const p = rt().tensor(f32(p0), [37], { name: 'p' });
      const opt = new AdamW([p], { lr: 0.05, ...(wd === undefined ? {} : { weightDecay: wd }) });
      expect(opt.weightDecay).toBe(wd ?? 0.01);
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(p, rt().tensor(f32(c), [37])), [p]));
      });
      for (let i = 0; i < 25; i++) step.run();
      const ref = refAdam(p0, c, 25, { lr: 0.05, b1: 0.9, b2: 0.999, eps: 1e-8, wd: wd ?? 0.01, decoupled: true });
      expectClose(await p.read(), ref.p, 1e-5, 'AdamW parameters');
      expectClose(await opt.state[0]![0]!.read(), ref.m, 1e-5, 'AdamW exp_avg');
    });
  }

  it('steps eagerly too, and a changed learning rate takes effect', async () => {
    const rng = new Rng(12);
    const p0 = rng.array(9);
    const c = rng.array(9);
    const p = rt().tensor(f32(p0), [9]);
    const ct = rt().tensor(f32(c), [9]);
    const opt = new Adam([p], { lr: 0.1 });
    await opt.step(grad(lossOf(p, ct), [p]));
    const ref1 = refAdam(p0, c, 1, { lr: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0 });
    expectClose(await p.read(), ref1.p, 1e-6, 'one eager Adam step');
  });
});

describe('clipGradNorm', () => {
  it("scales gradients as torch.nn.utils.clip_grad_norm_, in a compiled step, and only above the norm", async () => {
    const rng = new Rng(40);
    const [a0, b0] = [rng.array(3 * 7), rng.array(11)];
    const torch = torchJson<Record<string, { norm: number; a: number[]; b: number[] }>>(`import json, torch
out = {}
for max_norm in [0.5, 100.0]:
    a = torch.tensor(${JSON.stringify(Array.from(a0))}, requires_grad=True)
    b = torch.tensor(${JSON.stringify(Array.from(b0))}, requires_grad=True)
    ((a.reshape(3, 7) ** 2).sum() * 1.5 + (b * torch.arange(11.)).sum()).backward()
    norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
    out[str(max_norm)] = {"norm": norm.item(), "a": a.grad.tolist(), "b": b.grad.tolist()}
print(json.dumps(out))`);
    for (const maxNorm of [0.5, 100]) {
      const a = rt().tensor(f32(a0), [3, 7]);
      const b = rt().tensor(f32(b0), [11]);
      const step = await rt().compile(() => {
        const { grads, norm } = clipGradNorm(grad(add(scale(sum(mul(a, a)), 1.5), sum(mul(b, rt().tensor(Array.from({ length: 11 }, (_, i) => i))))), [a, b]), maxNorm);
        return { ga: grads[0]!, gb: grads[1]!, norm };
      });
      const out = step.run();
      const want = torch[String(maxNorm.toFixed(1))]!;
      expectClose(await out.norm!.read(), [want.norm], 1e-6, `norm (max ${maxNorm})`);
      expectClose(await out.ga!.read(), want.a, 1e-6, `a's gradient (max ${maxNorm})`);
      expectClose(await out.gb!.read(), want.b, 1e-6, `b's gradient (max ${maxNorm})`);
    }
    // Eager too: [3, 4] has norm 5, so its factor is 1 / (5 + 1e-6).
    const g = rt().tensor([3, 4]);
    const eager = clipGradNorm([g], 1);
    expectClose(await eager.grads[0]!.read(), [3 / (5 + 1e-6), 4 / (5 + 1e-6)], 1e-6, 'eagerly clipped');
    expect(Array.from(await eager.norm.read())).toEqual([5]);
    expect(() => clipGradNorm([g], -1)).toThrow('clipGradNorm: maxNorm must be a number ≥ 0, got -1');
    expect(() => clipGradNorm([], 1)).toThrow('clipGradNorm: no gradients given');
  });

  it('clipGradValue clamps each gradient as torch.nn.utils.clip_grad_value_', async () => {
    const values = [-3, -0.5, -0.25, 0, 0.25, 0.75, 1e30, -Infinity, NaN];
    const torch = torchJson<(number | null)[]>(`import json, math, torch
g = torch.tensor([-3, -0.5, -0.25, 0, 0.25, 0.75, 1e30, -math.inf, math.nan])
p = torch.zeros(9, requires_grad=True); p.grad = g
torch.nn.utils.clip_grad_value_([p], 0.5)
print(json.dumps([None if math.isnan(v) else v for v in p.grad.tolist()]))`);
    const [clipped] = clipGradValue([rt().tensor(values)], 0.5);
    expect(Array.from(await clipped!.read()).map((v) => (Number.isNaN(v) ? null : v))).toEqual(torch);
    expect(() => clipGradValue([rt().tensor([1])], -1)).toThrow('clipGradValue: clipValue must be a finite number ≥ 0, got -1');
  });
});

describe('SGD', () => {
  const cases = [
    { lr: 0.1, momentum: 0, dampening: 0, wd: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, wd: 0.01, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0.1, wd: 0, nesterov: false },
    { lr: 0.05, momentum: 0.8, dampening: 0, wd: 0, nesterov: true },
    { lr: 0.05, momentum: 0.9, dampening: 0, wd: 0.1, nesterov: true },
  ];
  for (const o of cases) {
    it(`matches PyTorch's formula over 15 steps ${JSON.stringify(o)}`, async () => {
      const rng = new Rng(20);
      const p0 = rng.array(23);
      const c = rng.array(23);
      const p = rt().tensor(f32(p0), [23]);
      const ct = rt().tensor(f32(c), [23]);
      const opt = new SGD([p], { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: o.wd, nesterov: o.nesterov });
      const step = await rt().compile(() => {
        void opt.step(grad(lossOf(p, ct), [p]));
      });
      for (let i = 0; i < 15; i++) step.run();
      const ref = refSgd(p0, c, 15, o);
      expectClose(await p.read(), ref.p, 1e-5, 'SGD parameters');
      if (o.momentum) expectClose(await opt.state[0]![0]!.read(), ref.buf, 1e-5, 'SGD momentum buffer');
    });
  }

  it('takes a new learning rate through the Optimizer base class from the next compiled step', async () => {
    const rng = new Rng(21);
    const p0 = rng.array(11);
    const c = rng.array(11);
    const p = rt().tensor(f32(p0), [11]);
    const ct = rt().tensor(f32(c), [11]);
    const opt: Optimizer = new SGD([p], { lr: 0.1 });
    const step = await rt().compile(() => {
      void opt.step(grad(lossOf(p, ct), [p]));
    });
    for (let i = 0; i < 3; i++) step.run();
    opt.lr = 0.02;
    for (let i = 0; i < 2; i++) step.run();
    const plain = { momentum: 0, dampening: 0, wd: 0, nesterov: false };
    const ref = refSgd(refSgd(p0, c, 3, { lr: 0.1, ...plain }).p, c, 2, { lr: 0.02, ...plain });
    expectClose(await p.read(), ref.p, 1e-5, 'SGD with the learning rate changed after 3 steps');
    expect(() => (opt.lr = -1)).toThrow(RangeError);
    expect(opt.lr).toBe(0.02);
  });

  it('reset() zeroes the state and the step count: the next steps are those of a new optimizer', async () => {
    const rng = new Rng(22);
    const o = { lr: 0.05, momentum: 0.9, dampening: 0.1, wd: 0, nesterov: false };
    const p = rt().tensor(f32(rng.array(13)), [13]);
    const c = rng.array(13);
    const ct = rt().tensor(f32(c), [13]);
    const opt = new SGD([p], { lr: o.lr, momentum: o.momentum, dampening: o.dampening });
    const step = await rt().compile(() => {
      void opt.step(grad(lossOf(p, ct), [p]));
    });
    for (let i = 0; i < 4; i++) step.run();
    opt.reset();
    expect(opt.stepCount).toBe(0);
    expect(Array.from(await opt.state[0]![0]!.read())).toEqual(new Array(13).fill(0));
    const p1 = Float64Array.from(await p.read());
    for (let i = 0; i < 3; i++) step.run();
    const ref = refSgd(p1, c, 3, o);
    expect(opt.stepCount).toBe(3);
    expectClose(await p.read(), ref.p, 1e-5, 'SGD parameters after reset()');
    expectClose(await opt.state[0]![0]!.read(), ref.buf, 1e-5, 'SGD momentum buffer after reset()');
  });

  it("resumed from saved state steps as it would have gone on: its momentum buffer starts as the gradient where none had been used (PyTorch's None)", async () => {
    const rng = new Rng(23);
    const [p0, c] = [rng.array(9), rng.array(9)];
    const ct = rt().tensor(f32(c), [9]);
    // Two steps at `before`, the state saved and loaded into a new SGD (or not), two at momentum 0.9.
    const run = async (before: number, resume: boolean) => {
      const p = rt().tensor(f32(p0), [9], { name: 'p' });
      let opt = new SGD([p], { lr: 0.1, momentum: before, dampening: 0.5 });
      for (let i = 0; i < 2; i++) await opt.step(grad(lossOf(p, ct), [p]));
      if (resume) {
        const saved = Object.fromEntries(await Promise.all([...opt.stateTensors()].map(async ([k, t]) => [k, { shape: t.shape, data: (await t.read()) as Float32Array }] as const)));
        opt = new SGD([p], { lr: 0.1, momentum: before, dampening: 0.5 });
        opt.loadState(saved, 2);
      }
      opt.momentum = 0.9;
      for (let i = 0; i < 2; i++) await opt.step(grad(lossOf(p, ct), [p]));
      return p.read();
    };
    const o = { lr: 0.1, dampening: 0.5, wd: 0, nesterov: false };
    const plain = refSgd(p0, c, 2, { ...o, momentum: 0 }).p;
    const want = refSgd(plain, c, 2, { ...o, momentum: 0.9 }).p; // the buffer starts anew
    expectClose(await run(0, false), want, 1e-5, 'momentum 0, then 0.9');
    expectClose(await run(0, true), want, 1e-5, 'momentum 0, saved and loaded, then 0.9');
    expectClose(await run(0.5, true), await run(0.5, false), 1e-6, 'momentum 0.5, saved and loaded, then 0.9');
    // Gradients of exactly 0 for two steps (a blank input): the buffer is held, all zeros, which
    // the saved flag tells from PyTorch's None; state saved without the flags is guessed at.
    const zerosFirst = async (resume: 'no' | 'flags' | 'without flags') => {
      const p = rt().tensor(f32(p0), [9], { name: 'p' });
      let opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
      for (let i = 0; i < 2; i++) await opt.step([rt().zeros([9])]);
      if (resume !== 'no') {
        const saved = await Promise.all([...opt.stateTensors()].map(async ([k, t]) => [k, { shape: t.shape, data: (await t.read()) as Float32Array }] as const));
        expect(saved.map(([k, t]) => [k, Array.from(t.data).some((v) => v !== 0)])).toEqual([['p.momentum_buffer', false], ['p.momentum_buffer_held', true]]);
        opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
        opt.loadState(Object.fromEntries(saved.filter(([k]) => resume === 'flags' || !k.endsWith('_held'))), 2);
      }
      for (let i = 0; i < 2; i++) await opt.step(grad(lossOf(p, ct), [p]));
      return p.read();
    };
    const asHeld = refSgdFromZeroBuffer(p0, c, 2, 0.1, 0.9, 0.5); // the buffer ½g at the first nonzero step, not g
    const asNone = refSgd(p0, c, 2, { ...o, momentum: 0.9 }).p;
    expect(Math.max(...asHeld.map((v, i) => Math.abs(v - asNone[i]!)))).toBeGreaterThan(1e-3);
    expectClose(await zerosFirst('no'), asHeld, 1e-5, 'zero gradients, then on');
    expectClose(await zerosFirst('flags'), asHeld, 1e-5, 'zero gradients, saved and loaded, then on');
    expectClose(await zerosFirst('without flags'), asNone, 1e-5, 'zero gradients, saved without the flags: a buffer taken for None');
    // Read with a step still queued (not awaited): the flag, as the buffer, is that step's.
    const p = rt().tensor(f32(p0), [9], { name: 'p' });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    const flags = () => opt.stateTensors().get('p.momentum_buffer_held')!.read();
    expect(Array.from(await flags())).toEqual([0]);
    void opt.step(grad(lossOf(p, ct), [p]));
    const [buffer, held] = await Promise.all([opt.stateTensors().get('p.momentum_buffer')!.read(), flags()]);
    expect([Array.from(buffer).some((v) => v !== 0), Array.from(held)]).toEqual([true, [1]]);
    opt.reset();
    expect(Array.from(await flags())).toEqual([0]);
  });

  it('rejects invalid hyperparameters', () => {
    const p = rt().zeros([2]);
    const before = rt().stats().bytesAllocated;
    // Each names the value out of range, before any state is allocated.
    expect(() => new SGD([p], { lr: -1 })).toThrow(/^SGD: lr must be ≥ 0, got -1$/);
    expect(() => new SGD([p], {} as never)).toThrow(/^SGD: lr must be ≥ 0 \(SGD has no default\), got undefined$/);
    expect(() => new SGD([p], { lr: 0.1, momentum: -1 })).toThrow(/^SGD: momentum must be ≥ 0, got -1$/);
    expect(() => new SGD([p], { lr: 0.1, weightDecay: NaN })).toThrow(/^SGD: weightDecay must be ≥ 0, got NaN$/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new Adam([p], { betas: [1, 0.9] })).toThrow(/^Adam: betas\[0\] must be in \[0, 1\), got 1$/);
    expect(() => new Adam([p], { betas: [0.9, 1] })).toThrow(/^Adam: betas\[1\] must be in \[0, 1\), got 1$/);
    expect(() => new Adam([p], { eps: -1e-8 })).toThrow(/^Adam: eps must be ≥ 0, got -1e-8$/);
    expect(() => new Adam([p], { lr: '0.1' as never })).toThrow(/^Adam: lr must be ≥ 0, got "0.1"$/);
    expect(() => new Adam([p], { betas: 0.9 as never })).toThrow(/^Adam: betas must be a pair \[β1, β2\], got 0\.9$/);
    expect(() => new Adam([p], { betas: [0.9] as never })).toThrow(/^Adam: betas must be a pair \[β1, β2\], got an array of 1$/);
    expect(() => new Adam([p], { weightDecay: -1 })).toThrow(/^Adam: weightDecay must be ≥ 0, got -1$/);
    expect(() => new SGD([p], { lr: 0.1, dampening: NaN })).toThrow(/^SGD: dampening must be a number, got NaN$/);
    expect(() => new SGD([p], { lr: 0.1, dampening: '0' as never })).toThrow(/^SGD: dampening must be a number, got "0"$/);
    expect(() => new (SGD as unknown as new (ps: Tensor[]) => SGD)([p])).toThrow(/^SGD: lr must be ≥ 0 \(SGD has no default\), got undefined$/);
    expect(rt().stats().bytesAllocated).toBe(before);
    // As torch.optim.SGD: Nesterov momentum requires zero dampening.
    expect(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/Nesterov/);
    // A NaN learning rate would turn every weight into NaN at the next step.
    const opt = new SGD([p], { lr: 0.1 });
    expect(() => (opt.lr = NaN)).toThrow(RangeError);
    expect(opt.lr).toBe(0.1);
  });

  it('refuses options it does not take (the other optimizer\'s, named as such), before any allocation', () => {
    const p = rt().zeros([2]);
    const before = rt().stats().bytesAllocated;
    // Ignored, each would train with other settings than asked for, silently.
    expect(() => new Adam([p], { lr: 1e-3, momentum: 0.9 } as never)).toThrow(/^Adam: momentum is an option of SGD and RMSprop, not of Adam$/);
    expect(() => new SGD([p], { lr: 0.1, betas: [0.9, 0.99], eps: 1e-6 } as never)).toThrow(/^SGD: betas, eps are options of Adam, AdamW, NAdam, RAdam and Adamax, not of SGD$/);
    expect(() => new AdamW([p], { nesterov: true } as never)).toThrow(/^AdamW: nesterov is an option of SGD, not of AdamW$/);
    expect(() => new AdamW([p], { weightDecay: -0.1 })).toThrow(/^AdamW: weightDecay must be ≥ 0, got -0.1$/);
    expect(() => new Adam([p], { amsgrad: true } as never)).toThrow(/^Adam: unknown option 'amsgrad' \(it takes lr, betas, eps, weightDecay\)$/);
    expect(() => new SGD([p], { lr: 0.1, weight_decay: 1e-4 } as never)).toThrow(/^SGD: unknown option 'weight_decay' \(it takes lr, momentum, dampening, weightDecay, nesterov\)$/);
    // torch.optim.Adam(params, 1e-3) takes lr second; here the options do.
    expect(() => new Adam([p], 1e-3 as never)).toThrow(/^Adam: options must be an object \(with lr, betas, eps, weightDecay\), got 0\.001$/);
    expect(() => new SGD([p], null as never)).toThrow(/^SGD: options must be an object \(with lr, momentum, dampening, weightDecay, nesterov\), got null$/);
    // A string 'false' would turn Nesterov momentum on.
    expect(() => new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: 'false' as never })).toThrow(/^SGD: nesterov must be true or false, got "false"$/);
    expect(() => new SGD([p], { lr: 0.1, momentum: 0, nesterov: true })).toThrow(/^SGD: Nesterov momentum requires a momentum above 0 and zero dampening, got momentum 0, dampening 0$/);
    expect(rt().stats().bytesAllocated).toBe(before);
    // The options of each are taken, and undefined is no option given.
    expect(new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true }).nesterov).toBe(true);
    expect(new Adam([p], { lr: 1e-3, betas: [0.9, 0.99], eps: 1e-6, weightDecay: undefined }).betas).toEqual([0.9, 0.99]);
    expect(new Adam([p], { lr: 1e-3, momentum: undefined, amsgrad: undefined } as never).lr).toBe(1e-3);
  });

  it('refuses a parameter given twice, or with a view of it, which would be updated twice a step', () => {
    const p = rt().tensor([1, 2, 3, 4], [4], { name: 'p' });
    const q = rt().tensor([1], [1], { name: 'q' });
    const before = rt().stats().bytesAllocated;
    expect(() => new SGD([p, q, p], { lr: 0.1 })).toThrow(/^optimizer: \S*p\S* \[4\] f32 is given twice; each parameter is updated once a step$/);
    expect(() => new Adam([p, p.reshape(2, 2)], { lr: 0.1 })).toThrow(/^optimizer: .*\[2, 2\] f32 is given twice \(as \S*p\S* \[4\] f32, a view of the same data\)/);
    expect(rt().stats().bytesAllocated).toBe(before);
  });

  it('refuses parameters of two runtimes, naming them, before any allocation', async () => {
    const other = await createRuntime({ device: rt().device });
    try {
      const a = rt().zeros([2], 'f32', { name: 'a' });
      const b = other.zeros([3], 'f32', { name: 'b' });
      const before = rt().stats().bytesAllocated;
      expect(() => new Adam([a, b], { lr: 1e-3 })).toThrow(/^optimizer: \S*b\S* \[3\] f32 belongs to another runtime than \S*a\S* \[2\] f32$/);
      expect(rt().stats().bytesAllocated).toBe(before);
      // A gradient of another runtime, as step() is called (its buffers cannot be bound with these).
      for (const opt of [new Adam([a], { lr: 1e-3 }), new SGD([a], { lr: 0.1 })]) {
        expect(() => opt.step([other.ones([2], 'f32', { name: 'g' })])).toThrow(/^\w+: the gradient of a \[2\] f32, g \[2\] f32, belongs to another runtime$/);
        expect(opt.stepCount).toBe(0);
      }
      expect(Array.from(await a.read())).toEqual([0, 0]);
    } finally {
      other.dispose();
    }
  });
});

describe('steps as PyTorch takes them', () => {
  it("PyTorch's eager loop order: the loss read after step() is the one the step's gradients came from", async () => {
    // loss = Σ (p − c)², SGD lr 0.1: p ← p − 0.2 (p − c), so p − c shrinks by 0.8 a step.
    const c = [1, -2, 0.5];
    const p = rt().tensor([0, 0, 0], [3], { name: 'p', requiresGrad: true });
    const ct = rt().tensor(c);
    const opt = new SGD([p], { lr: 0.1 });
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const loss = sum(mul(sub(p, ct), sub(p, ct)));
      opt.zeroGrad();
      backward(loss);
      if (i === 1) await p.grad!.read(); // a gradient read first: the loss still comes with it
      await opt.step();
      losses.push(await loss.item());
    }
    const start = c.reduce((a, v) => a + v * v, 0);
    expectClose(losses, [start, start * 0.64, start * 0.64 ** 2], 1e-6, 'losses before each step');
    // A loss recorded before a step that is not the one whose gradients the step took stays refused.
    const stale = sum(p);
    await opt.step([rt().tensor([1, 1, 1])]);
    await expect(stale.item()).rejects.toThrow(/before it was updated in place/);
  });

  it("PyTorch's loop with step() not awaited: each iteration reads what the steps before it left, with backward() or grad()", async () => {
    // loss = Σ p², SGD lr 0.1: p ← 0.8·p each step, so the loss falls by 0.64 a step.
    for (const [how, awaited] of [['backward', false], ['grad', false], ['grad', true]] as const) {
      const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
      const opt = new SGD([p], { lr: 0.1 });
      const losses: Tensor[] = [];
      for (let i = 0; i < 3; i++) {
        const loss = sum(mul(p, p));
        losses.push(loss);
        opt.zeroGrad();
        if (how === 'backward') backward(loss);
        const stepped = how === 'backward' ? opt.step() : opt.step(grad(loss, [p]));
        if (awaited) await stepped;
      }
      const what = `${how}, step ${awaited ? '' : 'not '}awaited`;
      expectClose(await p.read(), [0.512, 1.024], 1e-6, `${what}: p after three steps`);
      // Each loss was computed along with the gradients its step took, before the update.
      expectClose(await Promise.all(losses.map((l) => l.item())), [5, 3.2, 2.048], 1e-6, `${what}: the losses`);
    }
  });

  it('a write behind an eager step not yet run waits its turn; a compiled run on what the step updates is refused: it would come first', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    const opt = new SGD([p], { lr: 1 });
    const twice = await rt().compile(() => ({ y: scale(p, 2) }));
    const stepped = opt.step([rt().tensor([1, 1])]);
    expect(() => twice.run()).toThrow(/^program: \S*p\S* \[2\] f32 has an in-place update still queued \(an optimizer step not awaited, or a write behind one\); await it \(or rt\.sync\(\)\) first$/);
    const data = f32([5, 5]);
    p.write(data); // after the step: its result is overwritten
    data.fill(9); // the caller's array is the caller's again at once
    const doubled = scale(p, 2); // recorded after the write: reads its values
    await stepped;
    expect(Array.from(await doubled.read())).toEqual([10, 10]);
    expect(Array.from(await p.read())).toEqual([5, 5]);
    expect(Array.from(await twice.run().y!.read())).toEqual([10, 10]);
  });

  it("a compiled run's host inputs and hyperparameters are written with it, while another optimizer's eager step is queued", async () => {
    const a = rt().tensor([0, 0], [2], { name: 'a' });
    const b = rt().tensor([0, 0], [2], { name: 'b' });
    const eager = new SGD([a], { lr: 1 });
    const compiled = new SGD([b], { lr: 1 });
    const step = await rt().compile(() => void compiled.step([rt().tensor([1, 2])]));
    const queued = eager.step([rt().tensor([5, 5])]);
    compiled.lr = 0.5;
    step.run(); // uploads lr 0.5 as it is submitted, not behind the queued step
    // A program's host inputs are written with its run too.
    const twice = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [2] });
    const again = eager.step([rt().tensor([1, 1])]);
    const y = twice.run({ x: f32([3, 4]) }).y!;
    expect(Array.from(await y.read())).toEqual([6, 8]);
    // A write through input(name) that waits its turn behind a step reading it: a run then would come first.
    const late = eager.step([twice.input('x')]);
    twice.input('x').write(f32([5, 5]));
    expect(() => twice.run()).toThrow(/^program: program input 'x' \[2\] f32 has an in-place update still queued/);
    await late;
    expect(Array.from(await twice.run().y!.read())).toEqual([10, 10]);
    await Promise.all([queued, again]);
    expect(Array.from(await b.read())).toEqual([-0.5, -1]);
    expect(Array.from(await a.read())).toEqual([-9, -10]); // − 5, − 1, − x as it was before the write: [3, 4]
  });

  it('a write to what a queued step computes its gradients from comes after the step; a compiled run overwriting it is refused', async () => {
    // The batch uploaded into one tensor each iteration: the step not awaited has yet to read it.
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const x = rt().tensor([1, 1], [2], { name: 'x' });
    const opt = new SGD([p], { lr: 0.1 });
    const double = await rt().compile(({ a }) => ({ y: scale(a!, 2) }), { a: [2] });
    const q = rt().tensor([3, 4], [2], { name: 'q' });
    double.run({ a: p }); // binds p
    backward(sum(mul(mul(p, p), x)));
    const stepped = opt.step();
    x.write(f32([2, 2])); // the next batch, uploaded before the step has run
    expect(Array.from(await double.run({ a: q }).y!.read())).toEqual([6, 8]); // p is no longer bound
    await stepped;
    expectClose(await p.read(), [0.8, 1.6], 1e-6, 'p after the step, from x = [1, 1]');
    expect(Array.from(await x.read())).toEqual([2, 2]);
    // A program's output that a queued step reads: the program's next run would overwrite it.
    const out = double.run({ a: p }).y!;
    opt.zeroGrad();
    backward(sum(mul(p, out)));
    const again = opt.step();
    expect(() => double.run({ a: q })).toThrow(/^program: its output 'y' is read by work still queued/);
    await again;
    expectClose(await p.read(), [0.64, 1.28], 1e-6, 'p after the second step, from 2·p');
  });

  it('a compiled run overwriting a gradient given to a queued step (a realised tensor) is refused', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    const opt = new SGD([p], { lr: 1 });
    // Updated in place by another optimizer's compiled step, which would come first.
    const q = rt().tensor([0, 0], [2], { name: 'q' });
    const other = new SGD([q], { lr: 1 });
    const otherStep = await rt().compile(() => void other.step([rt().tensor([1, 1])]), {}, { name: 'other step' });
    const stepped = opt.step([q]);
    expect(() => otherStep.run()).toThrow(/^other step: q \[2\] f32 is read by work still queued/);
    // A program's output, which its next run overwrites.
    const grads = await rt().compile(({ x }) => ({ g: scale(x!, 1) }), { x: [2] }, { name: 'grads' });
    const g = grads.run({ x: f32([1, 1]) }).g!;
    const again = opt.step([g]);
    expect(() => grads.run({ x: f32([100, 100]) })).toThrow(/^grads: its output 'g' is read by work still queued/);
    await Promise.all([stepped, again]);
    expect(Array.from(await p.read())).toEqual([0, 1]); // p − 0 − 1
  });

  it('writes queued behind a step all land, though a tensor written before them was disposed before its write', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    const opt = new SGD([p], { lr: 1 });
    const a = rt().tensor([0, 0], [2], { name: 'a' });
    const ws = Array.from({ length: 4 }, (_, i) => rt().tensor([0, 0], [2], { name: `w${i}` }));
    const stepped = opt.step([rt().tensor([1, 1])]);
    a.write([1, 1]);
    a.dispose(); // before its write runs: nothing can read it, so it is dropped
    ws.forEach((w, i) => w.write([i, i]));
    await stepped;
    await rt().sync();
    for (const [i, w] of ws.entries()) expect(Array.from(await w.read()), w.name).toEqual([i, i]);
  });

  it('a write after a read of a lazy value computed from its tensor waits for the read, which gets the values before it', async () => {
    const x = rt().tensor([1, 2], [2], { name: 'x' });
    const pending = scale(x, 2).read();
    x.write([5, 5]);
    expect(Array.from(await pending)).toEqual([2, 4]);
    expect(Array.from(await x.read())).toEqual([5, 5]);
    expect(Array.from(await scale(x, 2).read())).toEqual([10, 10]);
  });

  it('a write to a tensor no queued step reads or updates is done at once: a compiled run may take it', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    const x = rt().tensor([0, 0], [2], { name: 'x' });
    const twice = await rt().compile(({ a }) => ({ y: scale(a!, 2) }), { a: [2] });
    const stepped = new SGD([p], { lr: 1 }).step([rt().tensor([1, 1])]);
    x.write([3, 4]);
    expect(Array.from(await twice.run({ a: x }).y!.read())).toEqual([6, 8]);
    await stepped;
  });

  it('a step that fails moves on the versions it would have: what was recorded after it does not read a later write', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const x = rt().tensor([1, 1], [2], { name: 'x' });
    const opt = new SGD([p], { lr: 0.1 });
    backward(sum(mul(p, x)));
    // Its pipelines fail to compile (as on a device lost meanwhile): the step fails in its turn.
    const spy = vi.spyOn(rt().pipelines, 'prepare').mockRejectedValueOnce(new Error('no pipeline'));
    let after: Tensor;
    try {
      const stepped = opt.step();
      after = scale(p, 1); // recorded after the step
      await expect(stepped).rejects.toThrow(/no pipeline/);
    } finally {
      spy.mockRestore();
    }
    p.write(f32([10, 20])); // asked for after `after` was recorded
    await expect(after.read()).rejects.toThrow(/affine read p \[2\] f32 before it was updated in place/);
    expect(Array.from(await scale(p, 1).read())).toEqual([10, 20]);
  });

  it('zeroGrad() leaves a parameter without .grad without, as PyTorch; a step then names it, but leaves a frozen one as it is', async () => {
    const a = rt().tensor([1, 2], [2], { name: 'a', requiresGrad: true });
    const b = rt().tensor([3], [1], { name: 'b', requiresGrad: true });
    const opt = new SGD([a, b], { lr: 0.1, weightDecay: 0.5 });
    opt.zeroGrad();
    expect([a.grad, b.grad]).toEqual([undefined, undefined]);
    backward(sum(mul(a, a)));
    expect(() => opt.step()).toThrow('sgd: b [1] f32 has no gradient (call backward() or pass grads)');
    expect(opt.stepCount).toBe(0);
    // A frozen parameter: no gradient, and the step leaves it as it is, as PyTorch's skips it
    // (its weight decay too); the others step as without it. Compiled, the same.
    b.requiresGrad = false;
    opt.zeroGrad();
    // The zeros of a gradient that zeroGrad() left are shared: a write to them is refused, saying so.
    expect(() => a.grad!.write([1, 1])).toThrow("write: a.grad [2] f32 is the zeros [2] that zeroGrad() shares among gradients of that shape (set .grad = rt.tensor(…) for values of its own), a constant");
    backward(sum(mul(a, a)));
    await opt.step();
    expectClose(await a.read(), [1 - 0.1 * (2 + 0.5), 2 - 0.1 * (4 + 1)], 1e-6, 'a after the step');
    expect(Array.from(await b.read())).toEqual([3]);
    const step = await rt().compile(() => {
      opt.zeroGrad();
      backward(sum(mul(a, a)));
      void opt.step();
    });
    step.run();
    expectClose(await a.read(), [0.75 * (1 - 0.1 * 2.5), 1.5 * (1 - 0.1 * 2.5)], 1e-6, 'a after the compiled step');
    expect(Array.from(await b.read())).toEqual([3]);
    // Its gradients were traced: a run after requiresGrad changes is refused, either way.
    b.requiresGrad = true;
    expect(() => step.run()).toThrow('sgd: requiresGrad of b [1] f32 was set to true after this step was compiled, which left it out; compile the step again');
    b.requiresGrad = false;
    a.requiresGrad = false;
    expect(() => step.run()).toThrow('sgd: requiresGrad of a [2] f32 was set to false after this step was compiled, which updates it; compile the step again');
    a.requiresGrad = false;
    a.grad = undefined; // PyTorch's zero_grad(set_to_none=True)
    expect(() => opt.step()).toThrow('sgd: every parameter is frozen (requiresGrad false, no gradient): there is nothing to update');
    // Gradients passed: undefined for the frozen one, which the step skips; for a trained one, refused.
    a.requiresGrad = true;
    const before = Array.from(await a.read());
    await opt.step([rt().tensor([1, 1]), undefined]);
    expectClose(await a.read(), before.map((v) => v - 0.1 * (1 + 0.5 * v)), 1e-6, 'a after a step given its gradient alone');
    expect(Array.from(await b.read())).toEqual([3]);
    expect(() => opt.step([undefined, rt().tensor([1])])).toThrow(/^sgd: grads\[0\] \(the gradient of a\) must be a Tensor, got undefined$/);
  });

  it("zeroGrad() as PyTorch 1.13's zero_grad(): a parameter the next backward() misses steps on a zero gradient", async () => {
    const a = rt().tensor([1, 2], [2], { name: 'a', requiresGrad: true });
    const b = rt().tensor([3], [1], { name: 'b', requiresGrad: true });
    const opt = new Adam([a, b], { lr: 0.1 });
    opt.zeroGrad();
    backward(add(sum(mul(a, a)), sum(b)));
    await opt.step();
    opt.zeroGrad();
    backward(sum(mul(a, a))); // b is not in this loss: its moments still move it
    await opt.step();
    // PyTorch 1.13: zero_grad(); backward(); step() twice, as above.
    expectClose(await a.read(), [0.8004122376441956, 1.8001664876937866], 1e-6, 'a');
    expectClose(await b.read(), [2.832994222640991], 1e-6, 'b');
    expect(Array.from(await b.grad!.read())).toEqual([0]);
    // Its zeros are made once: later calls allocate and upload nothing; and they are read-only.
    const before = rt().stats();
    for (let i = 0; i < 3; i++) opt.zeroGrad();
    expect(rt().stats().inUseBytes).toBe(before.inUseBytes);
    expect(() => b.grad!.write([1])).toThrow(/^write: b\.grad \[1\] f32 is the zeros \[1\] that zeroGrad\(\) shares among gradients of that shape \(set \.grad = rt\.tensor\(…\) for values of its own\), a constant$/);
  });

  it("zeroGrad()'s zeros are the optimizer's: dispose() frees them (once no .grad shows them)", async () => {
    const w = rt().tensor(new Float32Array(1 << 14), [1 << 14], { requiresGrad: true, name: 'w' });
    backward(sum(w));
    await collectGarbage(); // what earlier tests left, collected before counting
    const base = rt().stats().inUseBytes;
    const opt = new SGD([w], { lr: 0.1 });
    opt.zeroGrad();
    expect(Array.from((await w.grad!.read()).slice(0, 2))).toEqual([0, 0]);
    backward(sum(w)); // .grad no longer the zeros
    opt.dispose();
    await collectGarbage();
    expect(rt().stats().inUseBytes).toBe(base);
  });

  it('a compiled step refuses a .grad its function did not set (it would apply the old one every run); zeroGrad() there sets it', async () => {
    const a = rt().tensor([1, 2], [2], { name: 'a', requiresGrad: true });
    const b = rt().tensor([3], [1], { name: 'b', requiresGrad: true });
    backward(add(sum(mul(a, a)), sum(b))); // an eager .grad for b, from before compiling
    const opt = new SGD([a, b], { lr: 0.1 });
    const stale = rt().compile(() => {
      backward(sum(mul(a, a)));
      opt.step();
    });
    await expect(stale).rejects.toThrow(/^sgd: \.grad of b \[1\] f32 was not set in this compiled function \(its backward\(\) does not reach it\), so every run would apply the value it had before; call zeroGrad\(\)/);
    const step = await rt().compile(() => {
      opt.zeroGrad();
      backward(sum(mul(a, a)));
      opt.step();
    });
    step.run();
    step.run();
    expectClose(await a.read(), [0.64, 1.28], 1e-6, 'a after two runs');
    expect(Array.from(await b.read())).toEqual([3]);
    expect(Array.from(await b.grad!.read())).toEqual([0]);
  });

  it('steps refused when their turn comes (their gradients read values written since) are not counted: the next is the first', async () => {
    const p = rt().tensor([1, 2, 3], [3], { name: 'p', requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    const refused: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad();
      backward(sum(mul(p, p)));
      p.write([1, 2, 3]);
      refused.push(opt.step()); // not awaited: queued, each behind the write that dooms it
    }
    expect(opt.stepCount).toBe(3); // as torch.optim's state['step'] right after step()
    expect(() => opt.reset()).toThrow('sgd: reset() with 3 steps not yet run; await them (or rt.sync()) first');
    expect(() => opt.loadState(new Map(), 0)).toThrow('sgd: loadState() with 3 steps not yet run');
    for (const r of refused) await expect(r).rejects.toThrow(/mul read p \[3\] f32 before it was updated in place/);
    expect(opt.stepCount).toBe(0);
    opt.zeroGrad();
    backward(sum(mul(p, p)));
    await opt.step();
    // PyTorch: the first step sets the momentum buffer to the gradient, undamped.
    expectClose(await p.read(), [0.8, 1.6, 2.4], 1e-6, 'p after the first step taken');
  });

  it('refuses a program output as a parameter (outputs are read-only), and copies a gradient sharing a buffer with what the step writes', async () => {
    const init = await rt().compile(() => ({ w: scale(rt().tensor([1, 2]), 1) }));
    const w = init.run().w!;
    for (const t of [w, w.reshape(2)]) expect(() => new SGD([t], { lr: 0.1 })).toThrow(/^optimizer: .* is an output of a compiled program; outputs are read-only/);
    // A host buffer wrapped twice: the parameter, and at another offset the gradient.
    const buffer = rt().device.createBuffer({ size: 512, usage: 0x80 | 0x4 | 0x8 });
    const p = rt().wrap(buffer, [2], 'f32', 0);
    const g = rt().wrap(buffer, [2], 'f32', 256);
    p.write([1, 2]);
    g.write([10, 20]);
    await new SGD([p], { lr: 0.5 }).step([g]);
    expect(Array.from(await p.read())).toEqual([-4, -8]);
    buffer.destroy();
  });

  it('a gradient that is the parameter itself (or a view of it) is copied before the update, as PyTorch takes it', async () => {
    const a = rt().tensor([1, 2], [2], { name: 'a' });
    const opt = new SGD([a], { lr: 0.5 });
    await opt.step([a]);
    expect(Array.from(await a.read())).toEqual([0.5, 1]);
    await opt.step([a.reshape(2)]);
    expect(Array.from(await a.read())).toEqual([0.25, 0.5]);
    const w = rt().tensor([1, 2], [2], { name: 'w' });
    const adam = new Adam([w], { lr: 0.1 });
    await adam.step([w]);
    expectClose(await w.read(), [0.9, 1.9], 1e-6, 'Adam, first step');
    // Its own first moment (0.1·w₀ = [0.1, 0.2]) as the gradient: m = 0.9·m + 0.1·m.
    await adam.step([adam.state[0]![0]!]);
    expectClose(await adam.state[0]![0]!.read(), [0.1, 0.2], 1e-6, "Adam's first moment after the second step");
  });

  it('a step refused when called (its gradient reads a disposed tensor) counts no step: the next is the first', async () => {
    const w = rt().tensor([1, 2], [2], { name: 'w' });
    const opt = new Adam([w], { lr: 0.1 });
    const src = rt().tensor([1, 1], [2], { name: 'src' });
    const g = scale(src, 1);
    src.dispose();
    expect(() => opt.step([g])).toThrow('adam: affine output [2] f32 is computed from src [2] f32, which was disposed first; dispose a tensor after asking for what is computed from it (read(), realize(), a step)');
    expect(opt.stepCount).toBe(0);
    await opt.step([rt().tensor([1, 1])]);
    expectClose(await w.read(), [0.9, 1.9], 1e-6, 'w after the first step');
  });

  it('backward() inside a compiled step: each run sets .grad to its gradients, as a torch step leaves them', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1 });
    const step = await rt().compile(({ x }) => {
      const loss = sum(mul(mul(p, p), x!)); // d/dp = 2·p·x
      backward(loss);
      opt.step();
      return { loss };
    }, { x: [2] });
    expect(p.grad).toBeUndefined(); // the trace's gradients are not kept
    expect(step.outputNames).toEqual(['loss']);
    step.run({ x: f32([1, 3]) });
    expectClose(await p.grad!.read(), [2, 12], 1e-6, '.grad after the first run');
    step.run({ x: f32([1, 3]) }); // from p = [0.8, 0.8]
    expectClose(await p.grad!.read(), [1.6, 4.8], 1e-6, '.grad after the second run');
    expectClose(await p.read(), [0.64, 0.32], 1e-6, 'p after two runs');
    await opt.step(); // an eager step takes the last run's gradients, as torch's would
    expectClose(await p.read(), [0.48, -0.16], 1e-6, 'p after an eager step');
  });

  it('after an eager step the gradients it took are still readable, as .grad after torch step()', async () => {
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const opt = new SGD([p], { lr: 0.5 });
    backward(sum(mul(p, p)));
    await opt.step();
    expect(Array.from(await p.grad!.read())).toEqual([2, 4]);
    expect(Array.from(await p.read())).toEqual([0, 0]);
  });

  it('the loss rides with every gradient backward() sets, whichever of them a step takes', async () => {
    for (const which of [0, 1]) {
      const x = rt().tensor([1, 2], [2], { name: 'x', requiresGrad: true });
      const q = rt().tensor([3, -1], [2], { name: 'q', requiresGrad: true });
      const loss = sum(mul(x, q)); // 3 − 2 = 1
      backward(loss);
      await new SGD([[x, q][which]!], { lr: 0.1 }).step();
      expect(await loss.item(), `stepping ${['x', 'q'][which]}`).toBe(1);
    }
  });

  it('the loss and the norm ride with gradients clipped (or otherwise computed from them) into a step, as in PyTorch\'s loop', async () => {
    // d/dx Σ x·q = q, of norm 5: clipped to norm 1, q / 5. The loss, 3 − 4 = −1, and the norm are read after the step.
    for (const how of ['grad', 'backward', 'scaled'] as const) {
      const x = rt().tensor([1, 1], [2], { name: 'x', requiresGrad: true });
      const q = rt().tensor([3, -4], [2], { name: 'q' });
      const loss = sum(mul(x, q));
      let grads: Tensor[];
      if (how === 'backward') {
        backward(loss);
        grads = [x.grad!];
      } else grads = grad(loss, [x]);
      const clipped = how === 'scaled' ? { grads: [scale(grads[0]!, 1 / 5)], norm: undefined } : clipGradNorm(grads, 1);
      await new SGD([x], { lr: 1 }).step(clipped.grads);
      expect(await loss.item(), how).toBe(-1);
      if (clipped.norm) expect(await clipped.norm.item(), how).toBe(5);
      expectClose(await x.read(), [1 - 3 / 5, 1 + 4 / 5], 1e-6, how);
    }
  });

  it('the loss and .grad read after a step, though views of them were read for logging and released before or after it', async () => {
    // d/dW Σ (xWᵀ)² = 2·(xWᵀ)ᵀx. Reading a view computes the value into the view's storage, which
    // the value borrows: released with the view, it would be lazy again, computed from the
    // updated W and refused. PyTorch reads both after the step.
    const want = { loss: 6.95, grad: [8, 9.2] };
    for (const release of ['dispose after reading', 'dispose while reading', 'collect after the step'] as const) {
      const W = rt().tensor([[0.1, -0.2, 0.3, 0.4], [0.5, 0.1, -0.3, 0.2]], { requiresGrad: true });
      const x = rt().tensor([[1, 2, 3, 4], [0, 1, 0, 1], [2, 0, 1, 1]]);
      const out = linear(x, W);
      const loss = sum(mul(out, out));
      backward(loss);
      let views: Tensor[] | undefined = [loss.reshape(1), W.grad!.flatten()];
      const logged = views.map((v) => v.read());
      if (release === 'dispose while reading') for (const v of views) v.dispose();
      await Promise.all(logged);
      if (release === 'dispose after reading') for (const v of views) v.dispose();
      const stepped = new SGD([W], { lr: 0.1 }).step();
      views = undefined;
      await stepped;
      if (release === 'collect after the step') await collectGarbage();
      expectClose([await loss.item()], [want.loss], 1e-6, `loss, ${release}`);
      expectClose((await W.grad!.read()).slice(0, 2), want.grad, 1e-6, `.grad, ${release}`);
    }
  });

  it('two optimizers stepped after one backward(): each takes the gradient backward() computed, before either update', async () => {
    // d/dp Σ p·q = q and d/dq = p: each gradient reads what the other optimizer updates.
    for (const awaited of [false, true]) {
      const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
      const q = rt().tensor([3, 4], [2], { name: 'q', requiresGrad: true });
      const optP = new SGD([p], { lr: 1 });
      const optQ = new SGD([q], { lr: 1 });
      const loss = sum(mul(p, q));
      backward(loss);
      const first = optP.step();
      if (awaited) await first;
      await Promise.all([first, optQ.step()]);
      expect(Array.from(await p.read()), `p, first step ${awaited ? '' : 'not '}awaited`).toEqual([-2, -2]); // p − q
      expect(Array.from(await q.read()), `q, first step ${awaited ? '' : 'not '}awaited`).toEqual([2, 2]); // q − p as it was
      expect(await loss.item()).toBe(11);
    }
  });

  it('a write to what only the loss reads, after a step not awaited, comes after the step: the loss read then is the one its gradients came with', async () => {
    // d/dp Σ (p + x)·c = c does not read x; the loss does.
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const x = rt().tensor([1, 1], [2], { name: 'x' });
    const c = rt().tensor([2, 3], [2], { name: 'c' });
    const opt = new SGD([p], { lr: 1 });
    const loss = sum(mul(add(p, x), c));
    backward(loss);
    const stepped = opt.step();
    x.write([5, 5]); // the next batch
    await stepped;
    expect(await loss.item()).toBe(13); // (1 + 1)·2 + (2 + 1)·3
    expect(Array.from(await p.read())).toEqual([-1, -1]);
    expect(Array.from(await x.read())).toEqual([5, 5]);
  });

  it('a gradient reads on when the loss it came with was recorded from values since overwritten', async () => {
    // d/dp Σ p·q = q does not read p; the loss does. Once p is overwritten, only the loss is stale.
    const p = rt().tensor([1, 2], [2], { name: 'p', requiresGrad: true });
    const q = rt().tensor([5, 7], [2], { name: 'q' });
    const loss = sum(mul(p, q));
    backward(loss);
    p.write(Float32Array.of(0, 0));
    expect(Array.from(await p.grad!.read())).toEqual([5, 7]);
    await expect(loss.item()).rejects.toThrow(/before it was updated in place/);
  });

  it("the parts of a loss are read after the step, as PyTorch's loop logs them; a larger value read then is refused, naming it", async () => {
    const w = rt().tensor([0.5, -1, 2], [3], { name: 'w', requiresGrad: true });
    const x = rt().tensor([1, 2, 3]);
    const opt = new SGD([w], { lr: 0.1 });
    const wx = mul(w, x);
    const recon = mean(mul(wx, wx));
    const kl = sum(exp(w));
    const loss = add(recon, kl);
    backward(loss);
    void opt.step();
    // (0.25 + 4 + 36) / 3, and e^0.5 + e^−1 + e^2: the values before the step.
    expect(await recon.item()).toBeCloseTo(40.25 / 3, 5);
    expect(await kl.item()).toBeCloseTo(Math.exp(0.5) + Math.exp(-1) + Math.exp(2), 5);
    expect(await loss.item()).toBeCloseTo(40.25 / 3 + Math.exp(0.5) + Math.exp(-1) + Math.exp(2), 5);
    await expect(wx.read()).rejects.toThrow(/^read: mul read w \[3\] f32 before it was updated in place; mul output \[3\] f32, computed from it, was recorded from the old values \(ask for lazy results, such as a loss or the logits an accuracy is counted from, with read\(\) or realize\(\) before/);
  });

  it('an eager step uses the hyperparameters of the moment step() is called', async () => {
    const p = rt().tensor([0, 0, 0], [3], { name: 'p' });
    const opt = new Adam([p], { lr: 0.1 });
    const stepped = opt.step([rt().tensor([1, -2, 3])]);
    expect(opt.stepCount).toBe(1); // as torch.optim's state['step'] right after step()
    opt.lr = 0.5; // for the next step only
    await stepped;
    // Adam's first step moves each weight by lr against the sign of its gradient.
    expectClose(await p.read(), [-0.1, 0.1, -0.1], 1e-6, 'after a step at lr 0.1');
  });

  it("Adam's 1 − β comes from float64, as PyTorch's does (not 1 − β rounded to f32)", async () => {
    const p = rt().tensor([0], [1], { name: 'p' });
    const opt = new Adam([p], { lr: 0.1 });
    await opt.step([rt().tensor([1])]);
    const [m, v] = opt.state[0]!;
    expect((await m!.read())[0]).toBe(Math.fround(1 - 0.9));
    expect((await v!.read())[0]).toBe(Math.fround(1 - 0.999));
  });

  it('a read of the optimizer state waits for an eager step not awaited, in SGD and Adam', async () => {
    const g = [1, -2, 3];
    // After one step from zero state: SGD's momentum buffer is the gradient, Adam's m is (1 − β1)·g.
    for (const [make, expected] of [
      [(p: Tensor) => new SGD([p], { lr: 0.1, momentum: 0.9 }), g],
      [(p: Tensor) => new Adam([p], { lr: 0.1 }), g.map((v) => (1 - 0.9) * v)],
    ] as const) {
      const opt = make(rt().tensor([0, 0, 0], [3], { name: 'p' }));
      void opt.step([rt().tensor(g)]); // queued: compiles first
      expectClose(await opt.state[0]![0]!.read(), expected, 1e-6, `${opt.constructor.name} state after a queued step`);
    }
  });

  it('an infinite weight stays infinite without weight decay (no 0 · inf), in SGD and Adam', async () => {
    for (const make of [(p: Tensor) => new SGD([p], { lr: 0.1, momentum: 0.9 }), (p: Tensor) => new Adam([p], { lr: 0.1 })]) {
      const p = rt().tensor([Infinity, -Infinity, 0.5], [3], { name: 'p' });
      const opt = make(p);
      for (let i = 0; i < 2; i++) await opt.step([rt().tensor([1, -2, 3])]);
      const got = await p.read();
      expect([got[0], got[1]], opt.constructor.name).toEqual([Infinity, -Infinity]);
      expect(Number.isFinite(got[2]), opt.constructor.name).toBe(true);
      for (const s of opt.state[0]!) expect(Array.from(await s.read()).every(Number.isFinite), `${opt.constructor.name} state`).toBe(true);
    }
  });

  it('loadState writes nothing unless every array fits, and quotes names it does not know', async () => {
    const p = rt().tensor([1, 2, 3], [3], { name: 'p' });
    const opt = new Adam([p], { lr: 0.1 });
    await opt.step([rt().tensor([1, -1, 2])]);
    const before = await Promise.all(opt.state[0]!.map((s) => s.read()));
    const bad = new Map([
      ['p.exp_avg', { shape: [3], data: new Float32Array([7, 7, 7]) }],
      ['p.exp_avg_sq', { shape: [3], data: new Float32Array(2) }],
      ['x\u001b[2K', { shape: [1], data: new Float32Array(1) }],
    ]);
    expect(() => opt.loadState(bad, 5, 'o.safetensors')).toThrow(
      /adam: o\.safetensors does not match: p\.exp_avg_sq \[3\] needs a Float32Array of 3 values, got 2 values; unexpected "x\\u001b\[2K"$/,
    );
    expect(opt.stepCount).toBe(1);
    const after = await Promise.all(opt.state[0]!.map((s) => s.read()));
    expect(after.map((a) => Array.from(a))).toEqual(before.map((a) => Array.from(a)));
    // The step count alone may be wrong; 0 is a valid one.
    const saved = new Map([...opt.stateTensors()].map(([k, t], i) => [k, { shape: [...t.shape], data: before[i]! as Float32Array }]));
    expect(() => opt.loadState(saved, -1, 'o.safetensors')).toThrow(/^adam: o\.safetensors does not match: step count -1 is not a non-negative integer$/);
    opt.loadState(saved, 0);
    expect(opt.stepCount).toBe(0);
    // A plain object, as Model.load takes, or nothing of the sort.
    opt.loadState(Object.fromEntries([...saved].map(([k, t]) => [k, { ...t, data: Float32Array.of(4, 5, 6) }])), 2);
    expect([opt.stepCount, Array.from(await opt.state[0]![0]!.read())]).toEqual([2, [4, 5, 6]]);
    expect(() => opt.loadState([...saved] as never, 0)).toThrow(new TypeError('adam: loadState: takes a Map or a plain object of name → { shape, data }, got an Array'));
    expect(() => opt.loadState(new Float32Array(3) as never, 0)).toThrow(new TypeError('adam: loadState: takes a Map or a plain object of name → { shape, data }, got a Float32Array'));
    // A plain object of another realm (a vm context's, say) is as good.
    const foreign = runInNewContext('({})') as Record<string, { shape: number[]; data: Float32Array }>;
    for (const [k, t] of saved) foreign[k] = t;
    opt.loadState(foreign, 1);
    expect(opt.stepCount).toBe(1);
  });

  it('a step after dispose() names what was disposed: the optimizer, or a parameter (its model disposed), eagerly and while compiling', async () => {
    const model = Model.create(rt(), { input: [4], layers: [{ type: 'linear', outFeatures: 3 }] }, { seed: 1 });
    const opt = new SGD([...model.parameters.values()], { lr: 0.1 });
    backward(sum(model.forward(rt().ones([2, 4]))));
    model.dispose();
    expect(() => opt.step()).toThrow(/^sgd: parameter 0\.weight \[3, 4\] f32 was disposed \(by its model's dispose\(\), say\)/);
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    const adam = new Adam([p], { lr: 0.1 });
    adam.dispose();
    expect(() => adam.step([rt().tensor([1, 1])])).toThrow(new TensorStateError('adam: step() on an optimizer that was disposed'));
    await expect(rt().compile(() => void adam.step([rt().tensor([1, 1])]))).rejects.toThrow('adam: step() on an optimizer that was disposed');
    expect(() => adam.reset()).toThrow('adam: reset() on an optimizer that was disposed');
    expect(() => adam.loadState(new Map(), 0)).toThrow('adam: loadState() on an optimizer that was disposed');
  });

  it('parameters and gradients that are no tensors are TypeErrors naming them', () => {
    const p = rt().tensor([1, 2], [2], { name: 'p' });
    expect(() => new SGD([p, 3 as never], { lr: 0.1 })).toThrow(new TypeError('SGD: params[1] must be a Tensor, got the number 3 (rt.tensor(3) makes a tensor of it; add, sub, mul, div, maximum and minimum take a number for either operand)'));
    expect(() => new Adam(p as never)).toThrow(new TypeError('Adam: params must be an array of Tensors, got a Tensor'));
    expect(() => new SGD([p], { lr: 0.1 }).step([[1, 1]] as never)).toThrow(/^sgd: grads\[0\] \(the gradient of p\) must be a Tensor, got an array of length 2 /);
  });

  it('saved state needs parameters with distinct names', () => {
    const opt = new SGD([rt().tensor([1], [1], { name: 'w' }), rt().tensor([2], [1], { name: 'w' })], { lr: 0.1, momentum: 0.9 });
    expect(() => opt.stateTensors()).toThrow(/sgd: two parameters are named 'w'; saved state needs unique names/);
  });

  it('one compiled program steps an optimizer once: a second step() is refused while tracing', async () => {
    const p = rt().tensor([0], [1], { name: 'p' });
    const g = rt().tensor([1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    await expect(
      rt().compile(() => {
        void opt.step([g]);
        void opt.step([g]);
      }),
    ).rejects.toThrow(/sgd: .*p.* was already updated in place in this program/);
  });

  it('two optimizers in one program: each gradient reads the parameters before either update', async () => {
    // loss = Σ a·b: the gradient of a is b and that of b is a, both from before the step.
    const a0 = [0.5, -1, 2];
    const b0 = [1.5, 0.25, -3];
    const a = rt().tensor(a0);
    const b = rt().tensor(b0);
    const optA = new Adam([a], { lr: 0.01 });
    const optB = new SGD([b], { lr: 0.1 });
    const step = await rt().compile(() => {
      const [ga, gb] = grad(sum(mul(a, b)), [a, b]);
      void optA.step([ga!]);
      void optB.step([gb!]);
    });
    step.run();
    // Adam's first step moves each parameter by lr against the sign of its gradient.
    expectClose(await a.read(), a0.map((v, i) => v - 0.01 * Math.sign(b0[i]!)), 1e-5, 'a (Adam)');
    expectClose(await b.read(), b0.map((v, i) => v - 0.1 * a0[i]!), 1e-6, 'b (SGD)');
  });
});
