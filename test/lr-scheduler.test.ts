// Learning-rate schedulers against PyTorch 1.13's own (torch.optim.lr_scheduler, run under
// Debian's python3-torch): the rate set at construction and after each step, a schedule set
// back to a saved count, ReduceLROnPlateau's cuts on a metric with plateaus, the rates reaching
// the compiled and eager updates, and bad options.
import { describe, expect, it } from 'vitest';
import {
  CosineAnnealingLR, ExponentialLR, grad, LambdaLR, LinearLR, LRScheduler, MultiStepLR, ReduceLROnPlateau, SequentialLR, SGD, StepLR, sum, mul,
  type Optimizer, type PlateauOptions,
} from '../src/index.js';
import { useRuntime } from './helpers.js';
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
  [
    'SequentialLR: a warm-up, then a cosine',
    (o) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.1, totalIters: 3 }), new CosineAnnealingLR(o, { tMax: 12 })], [3]),
    'S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=3), S.CosineAnnealingLR(opt, 12)], milestones=[3])',
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
for kw, metrics in [${PLATEAUS.map(([, py, ms]) => `(dict(${py}), ${JSON.stringify(ms)})`).join(', ')}]:
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

  it('set back to a saved count (load), a new scheduler continues exactly as one never stopped', () => {
    const make = (o: Optimizer) => new SequentialLR(o, [new LinearLR(o, { startFactor: 0.2, totalIters: 4 }), new CosineAnnealingLR(o, { tMax: 15 })], [4]);
    const whole = rates(make);
    const first = sgd();
    const s = make(first);
    for (let i = 0; i < 9; i++) s.step();
    const saved = s.state();
    expect(saved).toEqual({ lastEpoch: 9 });
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

  it('every scheduler of an optimizer starts from its rate when the first was made, as PyTorch\'s initial_lr', () => {
    const opt = sgd();
    const warm = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
    expect(opt.lr).toBe(LR * 0.5);
    const cos = new CosineAnnealingLR(opt, { tMax: 4 });
    expect([warm.baseLr, cos.baseLr, opt.lr]).toEqual([LR, LR, LR]);
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

  it('refuses bad options, naming the scheduler and the option', () => {
    const opt = sgd();
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(/^StepLR: stepSize must be an integer ≥ 1, got 0$/);
    expect(() => new StepLR(opt, { stepSize: 2, step_size: 3 } as never)).toThrow(/^StepLR: unknown option 'step_size' \(it takes stepSize, gamma\)$/);
    expect(() => new ExponentialLR(opt, { gamma: -1 })).toThrow(/^ExponentialLR: gamma must be a number ≥ 0, got -1$/);
    expect(() => new MultiStepLR(opt, { milestones: [1, 2.5] })).toThrow(/^MultiStepLR: milestones must be an array of integers ≥ 0, got an array$/);
    expect(() => new CosineAnnealingLR(opt, { tMax: 10, etaMin: NaN })).toThrow(/^CosineAnnealingLR: etaMin must be a number ≥ 0, got NaN$/);
    expect(() => new LinearLR(opt, { startFactor: 0 })).toThrow(/^LinearLR: startFactor must be in \(0, 1\], got 0$/);
    expect(() => new LambdaLR(opt, 0.5 as never)).toThrow(/^LambdaLR: lambda must be a function of the step count, got 0.5$/);
    const a = new StepLR(opt, { stepSize: 2 });
    const b = new StepLR(opt, { stepSize: 3 });
    expect(() => new SequentialLR(opt, [a, b], [])).toThrow(/^SequentialLR: expected 1 milestone for 2 schedulers, got an array of 0$/);
    expect(() => new SequentialLR(opt, [a, b, a], [3, 3])).toThrow(/^SequentialLR: milestones must be increasing integers ≥ 1, got 3 at milestones\[1\]$/);
    expect(() => new SequentialLR(sgd(), [a, b], [2])).toThrow(/^SequentialLR: schedulers\[0\] schedules another optimizer than the one given$/);
    expect(() => a.load({ lastEpoch: -1 })).toThrow(/^StepLR.load: lastEpoch must be an integer ≥ 0, got -1$/);
    expect(() => new ReduceLROnPlateau(opt, { factor: 1 })).toThrow(/^ReduceLROnPlateau: factor must be in \[0, 1\), got 1$/);
    expect(() => new ReduceLROnPlateau(opt, { mode: 'maximum' as never })).toThrow(/^ReduceLROnPlateau: mode must be 'min' or 'max', got "maximum"$/);
    expect(() => new ReduceLROnPlateau(opt).step(NaN)).toThrow(/^ReduceLROnPlateau.step: the metric must be a number, got NaN/);
    expect(() => new ReduceLROnPlateau(opt).load({ lastEpoch: 1, best: 0.5, numBadEpochs: -1, cooldownCounter: 0 })).toThrow(/^ReduceLROnPlateau.load: numBadEpochs must be an integer ≥ 0, got -1$/);
    // A rate the optimizer refuses is refused where it is set.
    expect(() => new LambdaLR(opt, () => -1)).toThrow(/invalid learning rate -0.1/);
  });
});
