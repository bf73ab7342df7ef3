// Learning-rate schedulers against PyTorch 1.13's own (torch.optim.lr_scheduler, run under
// Debian's python3-torch): the rate set at construction and after each step, a schedule set
// back to a saved count, ReduceLROnPlateau's cuts on a metric with plateaus, the momentum that
// OneCycleLR and CyclicLR cycle, the rates and momenta reaching the compiled and eager updates
// (parameters against PyTorch's), and bad options.
import { describe, expect, it } from 'vitest';
import {
  Adadelta, Adam, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, PolynomialLR, RMSprop, ExponentialLR, grad, LambdaLR, LinearLR, LRScheduler, MultiplicativeLR, MultiStepLR, OneCycleLR, ReduceLROnPlateau, SequentialLR, SGD, StepLR,
  sub, sum, mul, type Optimizer, type PlateauOptions, type Tensor,
} from '../src/index.js';
import { expectClose, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const LR = 0.1;
const STEPS = 24;

/** A fresh optimizer over one parameter, at rate LR. */
const sgd = (): Optimizer => new SGD([rt().tensor([1, 2, 3])], { lr: LR });

/** The rates a scheduler sets: at construction, then after each of STEPS steps. */
function rates(make: (opt: Optimizer) => LRScheduler): number[] {
  const opt = sgd();
  const s = make(opt);
  const out = [opt.lr];
  for (let i = 0; i < STEPS; i++) {
    s.step();
    out.push(opt.lr);
    expect(s.lastLr).toBe(opt.lr);
  }
  expect(s.lastEpoch).toBe(STEPS);
  return out;
}

// Metrics with plateaus, small gains (below the relative threshold 1e-4 of 0.5 is 0.00005) and
// a rise: each reduction rule meets each case.
const METRICS = [1, 0.9, 0.9, 0.95, 0.9, 0.89999, 0.8, 0.8, 0.8, 0.8, 0.81, 0.7, 0.5, 0.49998, 0.5, 0.5, 0.5, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.3];
// A metric to maximise (an accuracy) rises as METRICS falls.
const RISING = METRICS.map((m) => 1 - m);
const PLATEAUS: [PlateauOptions, string, number[]][] = [
  [{ patience: 2 }, 'patience=2', METRICS],
  [{ patience: 1, cooldown: 2, factor: 0.5 }, 'patience=1, cooldown=2, factor=0.5', METRICS],
  [{ patience: 0, minLr: 0.02, factor: 0.3 }, 'patience=0, min_lr=0.02, factor=0.3', METRICS],
  [{ patience: 1, thresholdMode: 'abs', threshold: 0.05 }, "patience=1, threshold_mode='abs', threshold=0.05", METRICS],
  [{ mode: 'max', patience: 1, factor: 0.5 }, "mode='max', patience=1, factor=0.5", RISING],
  [{ mode: 'max', patience: 1, thresholdMode: 'abs', threshold: 0.05 }, "mode='max', patience=1, threshold_mode='abs', threshold=0.05", RISING],
  [{ patience: 0, eps: 0.05, factor: 0.9 }, 'patience=0, eps=0.05, factor=0.9', METRICS],
  // A NaN metric (a diverged loss) improves on nothing, and nothing improves on it.
  [{ patience: 1, factor: 0.5 }, 'patience=1, factor=0.5', [NaN, 1, NaN, 0.9, NaN, NaN, 0.5, NaN, 0.4, NaN, NaN, NaN, 0.1, 0.1]],
  [{ mode: 'max', patience: 0, factor: 0.5 }, "mode='max', patience=0, factor=0.5", [0.2, NaN, 0.3, NaN, 0.4, 0.5, NaN, 0.6, NaN, NaN, 0.7]],
];

// Each case: fovea's scheduler, and PyTorch's as a Python expression of `opt` (and `S`, the module).
const CASES: [string, (opt: Optimizer) => LRScheduler, string][] = [
  ['StepLR', (o) => new StepLR(o, { stepSize: 3, gamma: 0.5 }), 'S.StepLR(opt, step_size=3, gamma=0.5)'],
  ['StepLR (gamma by default)', (o) => new StepLR(o, { stepSize: 5 }), 'S.StepLR(opt, 5)'],
  ['MultiStepLR, a milestone twice', (o) => new MultiStepLR(o, { milestones: [9, 2, 5, 5], gamma: 0.3 }), 'S.MultiStepLR(opt, [9, 2, 5, 5], gamma=0.3)'],
  ['ExponentialLR', (o) => new ExponentialLR(o, { gamma: 0.87 }), 'S.ExponentialLR(opt, 0.87)'],
  ['CosineAnnealingLR, past tMax', (o) => new CosineAnnealingLR(o, { tMax: 7, etaMin: 0.01 }), 'S.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)'],
  ['CosineAnnealingLR to 0', (o) => new CosineAnnealingLR(o, { tMax: STEPS }), `S.CosineAnnealingLR(opt, ${STEPS})`],
  ['LinearLR', (o) => new LinearLR(o, { startFactor: 0.25, endFactor: 0.9, totalIters: 4 }), 'S.LinearLR(opt, start_factor=0.25, end_factor=0.9, total_iters=4)'],
  ['LinearLR (defaults)', (o) => new LinearLR(o), 'S.LinearLR(opt)'],
  ['LambdaLR', (o) => new LambdaLR(o, (t) => 1 / (t + 1) ** 0.5), 'S.LambdaLR(opt, lambda t: 1 / (t + 1) ** 0.5)'],
  ['MultiplicativeLR', (o) => new MultiplicativeLR(o, (t) => (t % 2 ? 0.95 : 0.85)), 'S.MultiplicativeLR(opt, lambda t: 0.95 if t % 2 else 0.85)'],
  [
    'ChainedScheduler: a multiplicative decay with steps',
    (o) => new ChainedScheduler([new MultiplicativeLR(o, () => 0.97), new StepLR(o, { stepSize: 4, gamma: 0.5 })]),
    'S.ChainedScheduler([S.MultiplicativeLR(opt, lambda t: 0.97), S.StepLR(opt, 4, 0.5)])',
  ],
  [
    'SequentialLR: a warm-up, then a cosine',
    (o) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.1, totalIters: 3 }), new CosineAnnealingLR(o, { tMax: 12 })], [3]),
    'S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=3), S.CosineAnnealingLR(opt, 12)], milestones=[3])',
  ],
  ['ConstantLR', (o) => new ConstantLR(o, { factor: 0.4, totalIters: 6 }), 'S.ConstantLR(opt, factor=0.4, total_iters=6)'],
  ['ConstantLR (defaults)', (o) => new ConstantLR(o), 'S.ConstantLR(opt)'],
  ['PolynomialLR', (o) => new PolynomialLR(o, { totalIters: 15, power: 2 }), 'S.PolynomialLR(opt, total_iters=15, power=2)'],
  ['CosineAnnealingWarmRestarts', (o) => new CosineAnnealingWarmRestarts(o, { t0: 5, etaMin: 0.001 }), 'S.CosineAnnealingWarmRestarts(opt, T_0=5, eta_min=0.001)'],
  ['CosineAnnealingWarmRestarts, periods doubling', (o) => new CosineAnnealingWarmRestarts(o, { t0: 3, tMult: 2 }), 'S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2)'],
  ['CyclicLR', (o) => new CyclicLR(o, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 4, stepSizeDown: 2, cycleMomentum: false }), 'S.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=2, cycle_momentum=False)'],
  ['CyclicLR, triangular2', (o) => new CyclicLR(o, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 3, mode: 'triangular2', cycleMomentum: false }), "S.CyclicLR(opt, 0.01, 0.1, step_size_up=3, mode='triangular2', cycle_momentum=False)"],
  ['CyclicLR, exp_range', (o) => new CyclicLR(o, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 5, mode: 'exp_range', gamma: 0.9, cycleMomentum: false }), "S.CyclicLR(opt, 0.01, 0.1, step_size_up=5, mode='exp_range', gamma=0.9, cycle_momentum=False)"],
  ['OneCycleLR', (o) => new OneCycleLR(o, { maxLr: 0.5, totalSteps: STEPS }), `S.OneCycleLR(opt, max_lr=0.5, total_steps=${STEPS})`],
  [
    'OneCycleLR, three phases, linear',
    (o) => new OneCycleLR(o, { maxLr: 1, epochs: 5, stepsPerEpoch: 5, pctStart: 0.25, annealStrategy: 'linear', threePhase: true, divFactor: 10, finalDivFactor: 100 }),
    "S.OneCycleLR(opt, max_lr=1, epochs=5, steps_per_epoch=5, pct_start=0.25, anneal_strategy='linear', three_phase=True, div_factor=10, final_div_factor=100)",
  ],
  [
    'ChainedScheduler: a constant warm-up, an exponential decay',
    (o) => new ChainedScheduler([new ConstantLR(o, { factor: 0.1, totalIters: 2 }), new ExponentialLR(o, { gamma: 0.9 })]),
    'S.ChainedScheduler([S.ConstantLR(opt, factor=0.1, total_iters=2), S.ExponentialLR(opt, gamma=0.9)])',
  ],
  [
    'ChainedScheduler of three: a linear warm-up, steps at milestones, a polynomial decay',
    (o) => new ChainedScheduler([new LinearLR(o, { startFactor: 0.2, totalIters: 4 }), new MultiStepLR(o, { milestones: [6, 11], gamma: 0.5 }), new PolynomialLR(o, { totalIters: 20, power: 1.5 })]),
    'S.ChainedScheduler([S.LinearLR(opt, start_factor=0.2, total_iters=4), S.MultiStepLR(opt, [6, 11], gamma=0.5), S.PolynomialLR(opt, total_iters=20, power=1.5)])',
  ],
  [
    'ChainedScheduler: an exponential decay under a cosine to 0',
    (o) => new ChainedScheduler([new ExponentialLR(o, { gamma: 0.9 }), new CosineAnnealingLR(o, { tMax: STEPS })]),
    `S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.CosineAnnealingLR(opt, ${STEPS})])`,
  ],
  [
    'SequentialLR of three',
    (o) => new SequentialLR(o, [new ExponentialLR(o, { gamma: 0.8 }), new StepLR(o, { stepSize: 2, gamma: 0.5 }), new LinearLR(o, { startFactor: 0.5 })], [4, 9]),
    'S.SequentialLR(opt, [S.ExponentialLR(opt, 0.8), S.StepLR(opt, 2, 0.5), S.LinearLR(opt, 0.5)], milestones=[4, 9])',
  ],
];

describe('learning-rate schedulers', () => {
  // One Python run for all the cases: PyTorch's rates after construction and after each step.
  let torch: number[][] | undefined;
  const torchRates = (i: number): number[] => {
    torch ??= torchJson<number[][]>(`
import json, warnings, torch
import torch.optim.lr_scheduler as S
warnings.simplefilter('ignore')
out = []
for make in [${CASES.map(([, , py]) => `lambda opt: ${py}`).join(', ')}]:
    opt = torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=${LR})
    s = make(opt)
    rates = [opt.param_groups[0]['lr']]
    for _ in range(${STEPS}):
        opt.step()
        s.step()
        rates.append(opt.param_groups[0]['lr'])
    out.append(rates)
print(json.dumps(out))
`);
    return torch[i]!;
  };

  for (const [i, [name, make]] of CASES.entries()) {
    it(`${name}: PyTorch's rates, at construction and after each of ${STEPS} steps`, () => {
      const ours = rates(make);
      const theirs = torchRates(i);
      expect(ours).toHaveLength(theirs.length);
      for (const [t, r] of theirs.entries()) {
        // PyTorch accumulates most rates step by step, fovea computes each in closed form.
        expect(Math.abs(ours[t]! - r), `step ${t}: ${ours[t]} vs PyTorch's ${r}`).toBeLessThanOrEqual(1e-12 * Math.max(r, 1e-3));
      }
    });
  }

  it("ReduceLROnPlateau cuts the rate where PyTorch's does, in every mode, and continues from a saved state", () => {
    const torch = torchJson<number[][]>(`
import json, torch
out = []
for kw, metrics in [${PLATEAUS.map(([, py, ms]) => `(dict(${py}), [${ms.map((m) => (Number.isNaN(m) ? "float('nan')" : m)).join(', ')}])`).join(', ')}]:
    opt = torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=${LR})
    s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    rates = []
    for m in metrics:
        s.step(m)
        rates.append(opt.param_groups[0]['lr'])
    out.append(rates)
print(json.dumps(out))
`);
    for (const [i, [opts, py, metrics]] of PLATEAUS.entries()) {
      const opt = sgd();
      const s = new ReduceLROnPlateau(opt, opts);
      const ours = metrics.map((m) => (s.step(m), opt.lr));
      expect(ours, py).toEqual(torch[i]);
      expect(s.lastEpoch).toBe(metrics.length);
      // Stopped after 9 metrics and continued from its state and the optimizer's rate.
      const first = sgd();
      const before = new ReduceLROnPlateau(first, opts);
      for (const m of metrics.slice(0, 9)) before.step(m);
      const again = sgd();
      again.lr = first.lr;
      const after = new ReduceLROnPlateau(again, opts);
      after.load(before.state());
      expect(metrics.slice(9).map((m) => (after.step(m), again.lr)), py).toEqual(torch[i]!.slice(9));
    }
  });

  it.each([
    ['a SequentialLR', (o: Optimizer) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.2, totalIters: 4 }), new CosineAnnealingLR(o, { tMax: 15 })], [4])],
    ['a ChainedScheduler', (o: Optimizer) => new ChainedScheduler([new LinearLR(o, { startFactor: 0.2, totalIters: 4 }), new StepLR(o, { stepSize: 5, gamma: 0.5 })])],
  ])('set back to a saved count (load), %s continues exactly as one never stopped', (_, make) => {
    const whole = rates(make);
    const first = sgd();
    const s = make(first);
    for (let i = 0; i < 9; i++) s.step();
    const saved = s.state();
    expect(saved).toEqual(s instanceof ChainedScheduler ? { lastEpoch: 9, offsets: [0, 0] } : { lastEpoch: 9 });
    const opt = sgd();
    const resumed = make(opt);
    resumed.load(saved);
    const rest = [opt.lr];
    for (let i = 9; i < STEPS; i++) {
      resumed.step();
      rest.push(opt.lr);
    }
    expect(rest).toEqual(whole.slice(9));
  });

  it("CosineAnnealingWarmRestarts takes PyTorch's fractional step(epoch), and step() goes on from there; the others refuse an epoch", () => {
    const epochs = [0.5, 1.5, 7.25, 12, 12.5, 30.75, 3];
    const torch = torchJson<{ rates: number[][]; last: number[] }>(`
import json, warnings, torch
import torch.optim.lr_scheduler as S
warnings.simplefilter('ignore')
rates, last = [], []
for mult in [1, 2]:
    opt = torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=${LR})
    s = S.CosineAnnealingWarmRestarts(opt, 10, T_mult=mult, eta_min=0.001)
    out = []
    for e in ${JSON.stringify(epochs)}:
        s.step(e)
        out.append(opt.param_groups[0]['lr'])
        s.step()
        out.append(opt.param_groups[0]['lr'])
        last.append(s.last_epoch)
    rates.append(out)
print(json.dumps({'rates': rates, 'last': last}))`);
    const lasts: number[] = [];
    for (const [m, tMult] of [1, 2].entries()) {
      const opt = sgd();
      const s = new CosineAnnealingWarmRestarts(opt, { t0: 10, tMult, etaMin: 0.001 });
      const ours = epochs.flatMap((e) => {
        s.step(e);
        const at = opt.lr;
        s.step();
        lasts.push(s.lastEpoch);
        return [at, opt.lr];
      });
      ours.forEach((r, i) => expect(Math.abs(r - torch.rates[m]![i]!), `tMult ${tMult}, rate ${i}: ${r} vs PyTorch's ${torch.rates[m]![i]}`).toBeLessThanOrEqual(1e-12));
      // Saved at a fractional epoch, a new one goes on from there.
      s.step(4.5);
      const again = new CosineAnnealingWarmRestarts(sgd(), { t0: 10, tMult, etaMin: 0.001 });
      again.load(s.state());
      s.step();
      again.step();
      expect(again.lastLr).toBe(s.lastLr);
    }
    expect(lasts).toEqual(torch.last);
    expect(() => new CosineAnnealingWarmRestarts(sgd(), { t0: 10 }).step(-1)).toThrow(/^CosineAnnealingWarmRestarts.step: epoch must be a number ≥ 0, got -1$/);
    // PyTorch's other schedulers take a deprecated epoch; here they refuse it rather than ignore it.
    const step = new StepLR(sgd(), { stepSize: 2 });
    expect(() => (step.step as (e: number) => void)(10)).toThrow(/^StepLR.step\(\) takes no epoch/);
    expect(step.lastEpoch).toBe(0);
    const chain = new ChainedScheduler([new ExponentialLR(sgd(), { gamma: 0.9 })]);
    expect(() => (chain.step as (e: number) => void)(3)).toThrow(/^ChainedScheduler.step\(\) takes no epoch/);
    // ReduceLROnPlateau's epoch is its count from then on.
    const plateau = new ReduceLROnPlateau(sgd());
    plateau.step(1, 40);
    plateau.step(1);
    expect(plateau.lastEpoch).toBe(41);
    expect(() => plateau.step(1, 2.5)).toThrow(/^ReduceLROnPlateau.step: epoch must be an integer ≥ 0, got 2.5$/);
  });

  it('every scheduler of an optimizer starts from its rate when the first was made, as PyTorch\'s initial_lr', () => {
    const opt = sgd();
    const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    expect(opt.lr).toBe(LR * 0.5);
    const cos = new CosineAnnealingLR(opt, { tMax: 4 });
    expect([warm.baseLr, cos.baseLr, opt.lr]).toEqual([LR, LR, LR]);
  });

  // loss = ½·Σ (p − c)², so that momentum and moments matter; 12 steps of a cycle's rates and momenta.
  const P0 = [0.5, -1, 2, 0.25, -0.75];
  const C = [1, 0.5, -1, 0, 2];
  const torchCycle = (make: string, momentum: string, schedule: string) =>
    torchJson<{ p: number[]; lrs: number[]; momenta: number[] }>(`
import json, torch
p = torch.tensor(${JSON.stringify(P0)}, dtype=torch.float64, requires_grad=True)
c = torch.tensor(${JSON.stringify(C)}, dtype=torch.float64)
opt = ${make}
s = torch.optim.lr_scheduler.${schedule}
lrs, momenta = [], []
for _ in range(12):
    lrs.append(opt.param_groups[0]['lr']); momenta.append(${momentum})
    opt.zero_grad(); (0.5 * ((p - c) ** 2).sum()).backward(); opt.step(); s.step()
print(json.dumps({'p': p.tolist(), 'lrs': lrs, 'momenta': momenta}))
`);

  const oneCycle = (o: Optimizer) => new OneCycleLR(o, { maxLr: 0.2, totalSteps: 12, pctStart: 0.4 });
  const ONE_CYCLE = 'OneCycleLR(opt, max_lr=0.2, total_steps=12, pct_start=0.4)';
  const sgdMomentum = (o: Optimizer) => (o as SGD).momentum;
  for (const [name, make, torchMake, momentum, schedule, torchSchedule] of [
    ['SGD (Nesterov)', (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }), 'torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)', sgdMomentum, oneCycle, ONE_CYCLE],
    ['Adam', (ps: Tensor[]) => new Adam(ps, { lr: 0.1 }), 'torch.optim.Adam([p], lr=0.1)', (o: Optimizer) => (o as Adam).betas[0], oneCycle, ONE_CYCLE],
    ['RMSprop', (ps: Tensor[]) => new RMSprop(ps, { lr: 0.01, momentum: 0.5 }), 'torch.optim.RMSprop([p], lr=0.01, momentum=0.5)', (o: Optimizer) => (o as RMSprop).momentum, oneCycle, ONE_CYCLE],
    [
      'SGD',
      (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.5 }),
      'torch.optim.SGD([p], lr=0.1, momentum=0.5)',
      sgdMomentum,
      (o: Optimizer) => new CyclicLR(o, { baseLr: 0.02, maxLr: 0.3, stepSizeUp: 3, mode: 'triangular2' }),
      "CyclicLR(opt, base_lr=0.02, max_lr=0.3, step_size_up=3, mode='triangular2')",
    ],
  ] as const) {
    it(`${torchSchedule.replace(/\(.*/, '')} cycles ${name}'s ${name === 'Adam' ? 'first beta' : 'momentum'} as PyTorch's, and compiled and eager steps take each step's`, async () => {
      const torch = torchCycle(torchMake, name === 'Adam' ? "opt.param_groups[0]['betas'][0]" : "opt.param_groups[0]['momentum']", torchSchedule);
      const compiled = rt().tensor(P0, [5], { name: 'p' });
      const eager = rt().tensor(P0, [5], { name: 'q' });
      const c = rt().tensor(C);
      const lossOf = (p: Tensor) => mul(sum(mul(sub(p, c), sub(p, c))), 0.5);
      const opts = [make([compiled]), make([eager])];
      const scheds = opts.map(schedule);
      const step = await rt().compile(() => {
        void opts[0]!.step(grad(lossOf(compiled), [compiled]));
      });
      const seen: number[][] = [[], []];
      for (let i = 0; i < 12; i++) {
        seen[0]!.push(opts[0]!.lr);
        seen[1]!.push(momentum(opts[0]!));
        step.run();
        void opts[1]!.step(grad(lossOf(eager), [eager]));
        for (const s of scheds) s.step();
      }
      for (const [t, lr] of torch.lrs.entries()) expect(Math.abs(seen[0]![t]! - lr), `lr of step ${t + 1}`).toBeLessThan(1e-15);
      for (const [t, m] of torch.momenta.entries()) expect(Math.abs(seen[1]![t]! - m), `momentum of step ${t + 1}`).toBeLessThan(1e-15);
      if (scheds[0] instanceof OneCycleLR) expect(() => scheds[0]!.step()).toThrow(/^OneCycleLR: stepped 13 times, past its 12 total steps$/);
      for (const t of [compiled, eager]) {
        const got = await t.read();
        for (const [i, v] of torch.p.entries()) expect(Math.abs(got[i]! - v), `${t.name}[${i}]`).toBeLessThan(1e-5);
      }
    });
  }

  it('a compiled step under a schedule that changes the rate and beta1 every step allocates nothing, compiles nothing and submits once a run', async () => {
    const p = rt().tensor(P0, [5], { name: 'p' });
    const c = rt().tensor(C);
    const opt = new Adam([p], { lr: 0.1 });
    const s = oneCycle(opt);
    const step = await rt().compile(() => {
      void opt.step(grad(mul(sum(mul(sub(p, c), sub(p, c))), 0.5), [p]));
    });
    step.run();
    s.step();
    await rt().sync();
    const before = rt().stats();
    const set = new Set<string>();
    for (let i = 1; i < 12; i++) {
      set.add(`${opt.lr} ${opt.betas[0]}`);
      step.run();
      s.step();
    }
    await rt().sync();
    const after = rt().stats();
    expect([after.buffersCreated, after.pipelinesCreated, after.bindGroupsCreated, after.programsBuilt]).toEqual([before.buffersCreated, before.pipelinesCreated, before.bindGroupsCreated, before.programsBuilt]);
    expect(after.submits - before.submits).toBe(11);
    expect(set.size).toBe(11); // a new rate and beta1 every run
  });

  it("SGD given a momentum after steps without one starts its buffer then, as PyTorch's", async () => {
    const torch = torchJson<number[]>(`
import json, torch
p = torch.tensor(${JSON.stringify(P0)}, dtype=torch.float64, requires_grad=True)
c = torch.tensor(${JSON.stringify(C)}, dtype=torch.float64)
opt = torch.optim.SGD([p], lr=0.1, dampening=0.5)
for i in range(5):
    if i == 2: opt.param_groups[0]['momentum'] = 0.9
    opt.zero_grad(); (0.5 * ((p - c) ** 2).sum()).backward(); opt.step()
print(json.dumps(p.tolist()))
`);
    const p = rt().tensor(P0, [5], { name: 'p' });
    const c = rt().tensor(C);
    // With dampening, a buffer started as μ·0 + (1 − dampening)·g would differ from g.
    const opt = new SGD([p], { lr: 0.1, dampening: 0.5 });
    for (let i = 0; i < 5; i++) {
      if (i === 2) opt.momentum = 0.9;
      void opt.step(grad(mul(sum(mul(sub(p, c), sub(p, c))), 0.5), [p]));
    }
    const got = await p.read();
    for (const [i, v] of torch.entries()) expect(Math.abs(got[i]! - v), `p[${i}]`).toBeLessThan(1e-6);
  });

  it('a compiled step and an eager step update with the rate set when they run', async () => {
    // loss = Σ p·c, so each SGD step takes lr·c from p: p = p0 − c·Σ lr_t.
    const c = [1, -2, 0.5];
    const compiled = rt().tensor([1, 2, 3], [3], { name: 'p' });
    const eager = rt().tensor([1, 2, 3], [3], { name: 'q' });
    const ct = rt().tensor(c);
    const opts = [new SGD([compiled], { lr: 0.4 }), new SGD([eager], { lr: 0.4 })];
    const scheds = opts.map((o) => new ExponentialLR(o, { gamma: 0.5 }));
    const step = await rt().compile(() => {
      void opts[0]!.step(grad(sum(mul(compiled, ct)), [compiled]));
    });
    for (let i = 0; i < 3; i++) {
      step.run();
      void opts[1]!.step(grad(sum(mul(eager, ct)), [eager]));
      for (const s of scheds) s.step();
    }
    const taken = 0.4 + 0.2 + 0.1;
    const expected = [1, 2, 3].map((p, i) => p - c[i]! * taken);
    for (const t of [compiled, eager]) {
      const got = await t.read();
      for (const [i, e] of expected.entries()) expect(got[i]).toBeCloseTo(e, 6);
    }
  });

  it("OneCycleLR annealed linearly, stepped after each of its totalSteps batches, holds its final rate (PyTorch's goes below 0), and refuses a step more", () => {
    const opt = new SGD([rt().tensor([0])], { lr: 0.1, momentum: 0.9 });
    const s = new OneCycleLR(opt, { maxLr: 1, totalSteps: 8, annealStrategy: 'linear', divFactor: 10, finalDivFactor: 100 });
    for (let t = 0; t < 8; t++) s.step();
    // maxLr / divFactor / finalDivFactor and maxMomentum, as after step 7.
    for (const lr of [opt.lr, s.lastLr]) expect(lr).toBeCloseTo(0.001, 15);
    expect(opt.momentum).toBeCloseTo(0.95, 15);
    expect(() => s.step()).toThrow(/^OneCycleLR: stepped 9 times, past its 8 total steps$/);
    // pctStart 1: PyTorch's rates up to the peak, then (where PyTorch divides by the annealing
    // phase's 0 steps) that phase's end, the final rate.
    const torch = torchJson<number[]>(`
import json, torch
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
s = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=5, pct_start=1.0)
out = [opt.param_groups[0]['lr']]
for _ in range(4):
    opt.step(); s.step(); out.append(opt.param_groups[0]['lr'])
print(json.dumps(out))`);
    const up = new SGD([rt().tensor([0])], { lr: 0.1, momentum: 0.9 });
    const warm = new OneCycleLR(up, { maxLr: 0.1, totalSteps: 5, pctStart: 1 });
    const ours = [up.lr, ...Array.from({ length: 5 }, () => (warm.step(), up.lr))];
    expectClose(ours.slice(0, 5), torch, 1e-15, 'OneCycleLR with pctStart 1');
    expect(ours[5]).toBeCloseTo(0.1 / 25 / 1e4, 18);
    expect(up.momentum).toBeCloseTo(0.95, 15);
  });

  it('a chain of schedules stepped before it was made, saved and loaded into new ones, goes on as one never stopped', () => {
    const make = () => {
      const opt = sgd();
      const subs = [new ExponentialLR(opt, { gamma: 0.9 }), new StepLR(opt, { stepSize: 2, gamma: 0.5 })];
      return { opt, subs };
    };
    const whole = make();
    for (let t = 0; t < 3; t++) for (const s of whole.subs) s.step();
    const chain = new ChainedScheduler(whole.subs);
    for (let t = 0; t < 4; t++) chain.step();
    const saved = chain.state();
    expect(saved).toEqual({ lastEpoch: 4, offsets: [3, 3] });
    const again = make();
    const loaded = new ChainedScheduler(again.subs);
    loaded.load(saved);
    for (let t = 0; t < 3; t++) {
      expect(again.opt.lr).toBeCloseTo(whole.opt.lr, 15);
      chain.step();
      loaded.step();
    }
    expect(again.opt.lr).toBeCloseTo(0.1 * 0.9 ** 10 * 0.5 ** 5, 15); // 10 steps of each, StepLR's every 2nd
  });

  it('refuses bad options, naming the scheduler and the option', () => {
    const opt = sgd();
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(/^StepLR: stepSize must be an integer ≥ 1, got 0$/);
    expect(() => new StepLR(opt, { stepSize: 2, step_size: 3 } as never)).toThrow(/^StepLR: unknown option 'step_size' \(it takes stepSize, gamma\)$/);
    expect(() => new ExponentialLR(opt, { gamma: -1 })).toThrow(/^ExponentialLR: gamma must be a number ≥ 0, got -1$/);
    expect(() => new MultiStepLR(opt, { milestones: [1, 2.5] })).toThrow(/^MultiStepLR: milestones must be an array of integers ≥ 0, got an array$/);
    expect(() => new CosineAnnealingLR(opt, { tMax: 10, etaMin: NaN })).toThrow(/^CosineAnnealingLR: etaMin must be a number ≥ 0, got NaN$/);
    expect(() => new LinearLR(opt, { startFactor: 0 })).toThrow(/^LinearLR: startFactor must be in \(0, 1\], got 0$/);
    // PyTorch's ConstantLR(total_iters=0) keeps the factor for ever (its steps never lift it): refused.
    expect(() => new ConstantLR(opt, { factor: 0.5, totalIters: 0 })).toThrow(/^ConstantLR: totalIters must be an integer ≥ 1, got 0$/);
    expect(() => new CosineAnnealingLR(undefined as never, { tMax: 3 })).toThrow(new TypeError('CosineAnnealingLR: optimizer must be an Optimizer (such as new Adam(model.parameters())), got undefined'));
    expect(() => new CyclicLR(undefined as never, { baseLr: 0.1, maxLr: 1 })).toThrow(/^CyclicLR: optimizer must be an Optimizer .*, got undefined$/);
    expect(() => new OneCycleLR(null as never, { maxLr: 1, totalSteps: 10 })).toThrow(/^OneCycleLR: optimizer must be an Optimizer .*, got null$/);
    expect(() => new ReduceLROnPlateau([] as never)).toThrow(/^ReduceLROnPlateau: optimizer must be an Optimizer .*, got an array of length 0/);
    expect(() => new LambdaLR(opt, 0.5 as never)).toThrow(/^LambdaLR: lambda must be a function of the step count, got 0.5 \(made as PyTorch's: new LambdaLR\(optimizer, lambda\)\)$/);
    const a = new StepLR(opt, { stepSize: 2 });
    const b = new StepLR(opt, { stepSize: 3 });
    expect(() => new SequentialLR(opt, [a, b], [])).toThrow(/^SequentialLR: expected 1 milestone for 2 schedulers, got an array of 0$/);
    expect(() => new SequentialLR(opt, [a, b, a], [3, 3])).toThrow(/^SequentialLR: milestones must be increasing integers ≥ 1, got 3 at milestones\[1\]$/);
    expect(() => new SequentialLR(sgd(), [a, b], [2])).toThrow(/^SequentialLR: schedulers\[0\] schedules another optimizer than the one given$/);
    expect(() => a.load({ lastEpoch: -1 })).toThrow(/^StepLR.load: lastEpoch must be an integer ≥ 0, got -1$/);
    expect(() => new ChainedScheduler([a, new CosineAnnealingLR(opt, { tMax: 5, etaMin: 0.01 })])).toThrow(
      /^ChainedScheduler: schedulers\[1\] \(CosineAnnealingLR\) sets the rate outright, not a factor of it: chain StepLR, MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR, MultiplicativeLR or CosineAnnealingLR down to etaMin 0$/,
    );
    expect(() => new ChainedScheduler([a, new StepLR(sgd(), { stepSize: 2 })])).toThrow(/^ChainedScheduler: schedulers\[1\] schedules another optimizer than schedulers\[0\]$/);
    expect(() => new ChainedScheduler([])).toThrow(/^ChainedScheduler: schedulers must be a non-empty array of schedulers, got an array \(made as PyTorch's: new ChainedScheduler\(schedulers\)\)$/);
    // Options objects where PyTorch's take schedulers or functions: said how they are made.
    expect(() => new SequentialLR(opt, { schedulers: [a, b], milestones: [2] } as never, undefined as never)).toThrow(/^SequentialLR: schedulers must be a non-empty array of schedulers, got an object \(made as PyTorch's: new SequentialLR\(optimizer, schedulers, milestones\)\)$/);
    expect(() => new LambdaLR(opt, { lrLambda: () => 1 } as never)).toThrow(/^LambdaLR: lambda must be a function of the step count, got an object \(made as PyTorch's: new LambdaLR\(optimizer, lambda\)\)$/);
    expect(() => new ChainedScheduler([a, b]).load({ lastEpoch: 1.5 })).toThrow(/^ChainedScheduler.load: lastEpoch must be an integer ≥ 0, got 1.5$/);
    expect(() => new ChainedScheduler([a, b]).load({ lastEpoch: 1, offsets: [1] })).toThrow(/^ChainedScheduler.load: offsets must be 2 integers ≥ 0 \(each schedule's count where the chain started\), got an array$/);
    expect(() => new ReduceLROnPlateau(opt, { factor: 1 })).toThrow(/^ReduceLROnPlateau: factor must be in \[0, 1\), got 1$/);
    expect(() => new ReduceLROnPlateau(opt, { mode: 'maximum' as never })).toThrow(/^ReduceLROnPlateau: mode must be 'min' or 'max', got "maximum"$/);
    expect(() => new ReduceLROnPlateau(opt).step('0.5' as never)).toThrow(/^ReduceLROnPlateau.step: the metric must be a number, got "0.5" \(a tensor's value is read with await t.item\(\)\)$/);
    expect(() => new ReduceLROnPlateau(opt).load({ lastEpoch: 1, best: 0.5, numBadEpochs: -1, cooldownCounter: 0 })).toThrow(/^ReduceLROnPlateau.load: numBadEpochs must be an integer ≥ 0, got -1$/);
    expect(() => new OneCycleLR(opt, { maxLr: 1 })).toThrow(/^OneCycleLR: totalSteps must be an integer ≥ 1 \(or give epochs and stepsPerEpoch, integers ≥ 1\), got undefined$/);
    expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 10, pctStart: 1.5 })).toThrow(/^OneCycleLR: pctStart must be in \[0, 1\], got 1.5$/);
    expect(() => new OneCycleLR(new Adadelta([rt().tensor([1])]), { maxLr: 1, totalSteps: 10 })).toThrow(/^OneCycleLR: cycleMomentum needs an optimizer with a momentum \(SGD, RMSprop\) or betas \(Adam, AdamW\); give cycleMomentum: false for Adadelta$/);
    expect(() => new OneCycleLR(new Adam([rt().tensor([1])]), { maxLr: 1, totalSteps: 10, maxMomentum: 1 })).toThrow(/^Adam: betas\[0\] must be in \[0, 1\), got 1$/);
    expect(() => ((opt as SGD).momentum = -1)).toThrow(/^SGD: momentum must be ≥ 0, got -1$/);
    // A rate the optimizer refuses is refused where it is set.
    expect(() => new LambdaLR(opt, () => -1)).toThrow(/^SGD: lr must be ≥ 0, got -0.1$/);
  });
});
