// Learning-rate schedules with PyTorch's torch.optim.lr_scheduler semantics (1.13): a scheduler
// sets the rate of each of the optimizer's parameter groups when made and at each step(), which
// goes after optimizer.step(). Each is a closed form of its step count, so the rate after t steps
// is computed, not accumulated: a scheduler set back to a saved count (load) gives the same rates
// as one never stopped.
import type { Optimizer } from './optim/index.js';
import { checkOptionNames, shown } from '../runtime/options.js';

// The rates each optimizer's groups had when its first scheduler was made: every scheduler of it
// starts from there, as PyTorch's `initial_lr` (a warm-up's LinearLR lowers the rate before the
// schedule that follows it in a SequentialLR is made).
const initialLrs = new WeakMap<Optimizer, readonly number[]>();

/**
 * Parameter group `group`'s rate after t steps from its base rate; tagged with its `factor`
 * where it is the base rate times one.
 */
type Rate = ((t: number, baseLr: number, group: number) => number) & { factor?: (t: number) => number };

/** The rate of a schedule that multiplies the base rate by factor(t): such schedules chain (ChainedScheduler). */
const times = (factor: (t: number) => number): Rate => Object.assign((t: number, base: number) => base * factor(t), { factor });

/**
 * A schedule: parameter group i's rate after t calls of step() is `lrAt(t, i)`, and where the
 * schedule cycles the momentum too (OneCycleLR), every group's momentum (SGD's, or Adam's first
 * beta) `momentumAt(t)`.
 */
export class LRScheduler {
  /** step() calls so far (PyTorch's `last_epoch`). */
  private count = 0;
  /** The rates the schedule starts from, one per parameter group: the optimizer's when its first scheduler was made. */
  readonly baseLrs: readonly number[];
  /** The first group's base rate. */
  readonly baseLr: number;
  /**
   * The factor of the base rate after t steps, for the schedules that multiply it (StepLR,
   * MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR: those ChainedScheduler
   * chains); undefined for those that set the rate outright.
   */
  readonly factorAt: ((t: number) => number) | undefined;

  /**
   * `rate(t, baseLr)` is the rate after t steps (PyTorch's LambdaLR is `baseLr * lambda(t)`);
   * `momentum(t)`, if given, the momentum.
   */
  constructor(
    readonly optimizer: Optimizer,
    private readonly rate: Rate,
    private readonly momentum?: (t: number) => number | undefined,
  ) {
    if (!initialLrs.has(optimizer)) initialLrs.set(optimizer, optimizer.paramGroups.map((g) => g.lr));
    this.baseLrs = initialLrs.get(optimizer)!;
    this.baseLr = this.baseLrs[0]!;
    this.factorAt = rate.factor;
    this.apply(0);
  }

  /** Parameter group `group`'s rate after `t` steps (the first group's by default). */
  lrAt(t: number, group = 0): number {
    return this.rate(t, this.baseLrs[group]!, group);
  }

  /** The momentum after `t` steps, where the schedule sets it (else undefined). */
  momentumAt(t: number): number | undefined {
    return this.momentum?.(t);
  }

  private apply(t: number): void {
    // The groups it was made with: one added since keeps its rate, as PyTorch's.
    this.baseLrs.forEach((_, i) => (this.optimizer.paramGroups[i]!.lr = this.lrAt(t, i)));
    const m = this.momentumAt(t);
    if (m !== undefined) this.optimizer.setCycledMomentum?.(m);
  }

  /** Steps taken (PyTorch's `last_epoch`). */
  get lastEpoch(): number {
    return this.count;
  }

  /** The rate it set last (PyTorch's `get_last_lr()[0]`): the first group's. */
  get lastLr(): number {
    return this.lrAt(this.count);
  }

  /** The rates it set last, one per parameter group (PyTorch's `get_last_lr()`). */
  get lastLrs(): number[] {
    return this.baseLrs.map((_, i) => this.lrAt(this.count, i));
  }

  /** Moves the schedule on one step (or epoch, as the caller counts) and sets each group's rate. */
  step(): void {
    this.apply(this.count + 1);
    this.count++;
  }

  /** What load() needs to continue the schedule (PyTorch's state_dict()). */
  state(): { lastEpoch: number } {
    return { lastEpoch: this.count };
  }

  /** Sets the schedule to a saved step count, and each group's rate to the schedule's there. */
  load(state: { lastEpoch: number }): void {
    const t = state?.lastEpoch;
    if (!isCount(t)) throw new RangeError(`${this.constructor.name}.load: lastEpoch must be an integer ≥ 0, got ${shown(t)}`);
    this.apply(t);
    this.count = t;
  }
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isRate = (v: unknown): v is number => typeof v === 'number' && v >= 0 && Number.isFinite(v);

/** Checks a scheduler's options: known names, then each value against its range. */
function check(name: string, opts: object, checks: Record<string, [value: unknown, ok: boolean, range: string]>): void {
  const fail = (why: string) => new RangeError(`${name}: ${why}`);
  checkOptionNames(opts, Object.keys(checks), fail);
  for (const [key, [value, ok, range]] of Object.entries(checks)) {
    if (!ok) throw fail(`${key} must be ${range}, got ${shown(value)}`);
  }
}

/** The rate times `gamma` every `stepSize` steps (PyTorch's StepLR). */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { stepSize: number; gamma?: number }) {
    const { stepSize, gamma = 0.1 } = opts ?? {};
    check('StepLR', opts, { stepSize: [stepSize, isPositiveInt(stepSize), 'an integer ≥ 1'], gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    super(optimizer, times((t) => gamma ** Math.floor(t / stepSize)));
  }
}

/** The rate times `gamma` at each of the `milestones` (step counts; PyTorch's MultiStepLR). */
export class MultiStepLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { milestones: readonly number[]; gamma?: number }) {
    const { milestones, gamma = 0.1 } = opts ?? {};
    const ok = Array.isArray(milestones) && milestones.every(isCount);
    check('MultiStepLR', opts, { milestones: [milestones, ok, 'an array of integers ≥ 0'], gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    // A milestone given twice applies twice, as PyTorch's (a Counter of them).
    const sorted = [...milestones].sort((a, b) => a - b);
    super(optimizer, times((t) => gamma ** sorted.filter((m) => m <= t).length));
  }
}

/** The rate times `gamma` every step (PyTorch's ExponentialLR). */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { gamma: number }) {
    const { gamma } = opts ?? {};
    check('ExponentialLR', opts, { gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    super(optimizer, times((t) => gamma ** t));
  }
}

/**
 * Half a cosine from the rate down to `etaMin` over `tMax` steps (PyTorch's CosineAnnealingLR,
 * without restarts: past tMax the cosine rises again, as PyTorch's does).
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { tMax: number; etaMin?: number }) {
    const { tMax, etaMin = 0 } = opts ?? {};
    check('CosineAnnealingLR', opts, { tMax: [tMax, isPositiveInt(tMax), 'an integer ≥ 1'], etaMin: [etaMin, isRate(etaMin), 'a number ≥ 0'] });
    super(optimizer, (t, base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2);
  }
}

/**
 * The rate times a factor going linearly from `startFactor` to `endFactor` over `totalIters`
 * steps, then held (PyTorch's LinearLR, a warm-up; defaults 1/3, 1 and 5 as there).
 */
export class LinearLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = opts ?? {};
    check('LinearLR', opts, {
      startFactor: [startFactor, typeof startFactor === 'number' && startFactor > 0 && startFactor <= 1, 'in (0, 1]'],
      endFactor: [endFactor, typeof endFactor === 'number' && endFactor >= 0 && endFactor <= 1, 'in [0, 1]'],
      totalIters: [totalIters, isPositiveInt(totalIters), 'an integer ≥ 1'],
    });
    super(optimizer, times((t) => (t >= totalIters ? endFactor : startFactor + ((endFactor - startFactor) * t) / totalIters)));
  }
}

/** The rate times `factor` for the first `totalIters` steps, then the rate (PyTorch's ConstantLR; defaults 1/3 and 5). */
export class ConstantLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { factor?: number; totalIters?: number } = {}) {
    const { factor = 1 / 3, totalIters = 5 } = opts ?? {};
    check('ConstantLR', opts, { factor: [factor, typeof factor === 'number' && factor >= 0 && factor <= 1, 'in [0, 1]'], totalIters: [totalIters, isCount(totalIters), 'an integer ≥ 0'] });
    super(optimizer, times((t) => (t < totalIters ? factor : 1)));
  }
}

/** The rate times (1 − t/totalIters)^power, 0 from totalIters on (PyTorch's PolynomialLR; defaults 5 and 1). */
export class PolynomialLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { totalIters?: number; power?: number } = {}) {
    const { totalIters = 5, power = 1 } = opts ?? {};
    check('PolynomialLR', opts, { totalIters: [totalIters, isPositiveInt(totalIters), 'an integer ≥ 1'], power: [power, isRate(power), 'a number ≥ 0'] });
    super(optimizer, times((t) => (1 - Math.min(t, totalIters) / totalIters) ** power));
  }
}

/**
 * A cosine from the rate down to `etaMin` over `t0` steps, restarted at the rate each time, each
 * period `tMult` times the one before (PyTorch's CosineAnnealingWarmRestarts, SGDR).
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { t0: number; tMult?: number; etaMin?: number }) {
    const { t0, tMult = 1, etaMin = 0 } = opts ?? {};
    check('CosineAnnealingWarmRestarts', opts, { t0: [t0, isPositiveInt(t0), 'an integer ≥ 1'], tMult: [tMult, isPositiveInt(tMult), 'an integer ≥ 1'], etaMin: [etaMin, isRate(etaMin), 'a number ≥ 0'] });
    super(optimizer, (t, base) => {
      // Periods t0, t0·tMult, t0·tMult², …: which one t falls in, and how far into it.
      let cur = tMult === 1 ? t % t0 : t;
      let period = t0;
      while (cur >= period) {
        cur -= period;
        period *= tMult;
      }
      return etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * cur) / period))) / 2;
    });
  }
}

/** The momentum a cyclic schedule sets (CyclicLR: 0.8 to 0.9; OneCycleLR: 0.85 to 0.95). */
export interface MomentumCycle {
  /** Cycle the momentum (SGD's and RMSprop's, Adam's first beta) inversely to the rate [true]. */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/** CyclicLR's options, PyTorch's defaults in brackets. */
export interface CyclicOptions extends MomentumCycle {
  /** The lowest rate and the highest: one for every parameter group, or one per group. */
  baseLr: number | readonly number[];
  maxLr: number | readonly number[];
  /** Steps rising [2000], and falling [as many]. */
  stepSizeUp?: number;
  stepSizeDown?: number;
  /** 'triangular', 'triangular2' (the height halved each cycle) or 'exp_range' (× gamma^t) ['triangular']. */
  mode?: 'triangular' | 'triangular2' | 'exp_range';
  gamma?: number;
}

/**
 * The rate going between `baseLr` and `maxLr` and back, in cycles (PyTorch's CyclicLR), the
 * momentum the other way; stepped after every batch. It sets the rate whatever the optimizer's was.
 */
export class CyclicLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: CyclicOptions) {
    const o = opts ?? ({} as CyclicOptions);
    const { baseLr, maxLr, stepSizeUp = 2000, stepSizeDown = stepSizeUp, mode = 'triangular', gamma = 1 } = o;
    const { cycleMomentum, baseMomentum, maxMomentum, checks } = momentumCycle(o, 0.8, 0.9);
    const groups = optimizer?.paramGroups?.length ?? 1;
    check('CyclicLR', o, {
      baseLr: perGroup(baseLr, groups),
      maxLr: perGroup(maxLr, groups),
      stepSizeUp: [stepSizeUp, isPositiveInt(stepSizeUp), 'an integer ≥ 1'],
      stepSizeDown: [stepSizeDown, isPositiveInt(stepSizeDown), 'an integer ≥ 1'],
      mode: [mode, ['triangular', 'triangular2', 'exp_range'].includes(mode), "'triangular', 'triangular2' or 'exp_range'"],
      gamma: [gamma, isRate(gamma), 'a number ≥ 0'],
      ...checks,
    });
    checkMomentum('CyclicLR', optimizer, cycleMomentum);
    const size = stepSizeUp + stepSizeDown;
    const upRatio = stepSizeUp / size;
    // `range` scaled as PyTorch's does at step t: by where t is in its cycle (numbered from 1),
    // then by what the mode makes of that cycle.
    const height = (range: number, t: number): number => {
      const cycle = Math.floor(1 + t / size);
      const x = 1 + t / size - cycle;
      const factor = x <= upRatio ? x / upRatio : (x - 1) / (upRatio - 1);
      const scale = mode === 'triangular' ? 1 : mode === 'triangular2' ? 1 / 2 ** (cycle - 1) : gamma ** t;
      return range * factor * scale;
    };
    const [lows, highs] = [ofGroups(baseLr, groups), ofGroups(maxLr, groups)];
    super(optimizer, (t, _base, g) => lows[g]! + height(highs[g]! - lows[g]!, t), cycleMomentum ? (t) => maxMomentum - height(maxMomentum - baseMomentum, t) : undefined);
  }
}

/** check()'s entry for a rate given for every group or per group (as PyTorch's lists of them). */
function perGroup(v: unknown, groups: number): [unknown, boolean, string] {
  const ok = Array.isArray(v) ? v.length === groups && v.every(isRate) : isRate(v);
  return [v, ok, groups > 1 ? `a number ≥ 0, or an array of ${groups} (one per parameter group)` : 'a number ≥ 0'];
}

/** A rate given for every group or per group, per group. */
const ofGroups = (v: number | readonly number[], groups: number): readonly number[] => (typeof v === 'number' ? Array<number>(groups).fill(v) : v);

/** A cyclic schedule's momentum options with their defaults (`base` to `max`), and their checks, for check(). */
function momentumCycle(o: MomentumCycle, base: number, max: number) {
  const { cycleMomentum = true, baseMomentum = base, maxMomentum = max } = o;
  const checks: Record<keyof MomentumCycle, [unknown, boolean, string]> = {
    cycleMomentum: [cycleMomentum, typeof cycleMomentum === 'boolean', 'true or false'],
    baseMomentum: [baseMomentum, isRate(baseMomentum), 'a number ≥ 0'],
    maxMomentum: [maxMomentum, isRate(maxMomentum), 'a number ≥ 0'],
  };
  return { cycleMomentum, baseMomentum, maxMomentum, checks };
}

/** Refuses a momentum schedule for an optimizer without a momentum. */
function checkMomentum(name: string, optimizer: Optimizer, cycle: boolean): void {
  if (cycle && !optimizer.setCycledMomentum) {
    throw new RangeError(`${name}: cycleMomentum needs an optimizer with a momentum (SGD, RMSprop) or betas (Adam, AdamW); give cycleMomentum: false for ${optimizer.constructor.name}`);
  }
}

/** A function of the step count for every parameter group, or one per group (PyTorch's lr_lambda). */
export type Lambdas = ((t: number) => number) | readonly ((t: number) => number)[];

/** Each group's function of `lambda`, checked. */
function lambdasOf(name: string, optimizer: Optimizer, lambda: Lambdas): readonly ((t: number) => number)[] {
  const groups = optimizer?.paramGroups?.length ?? 1;
  const fs = typeof lambda === 'function' ? new Array<(t: number) => number>(groups).fill(lambda) : lambda;
  if (!Array.isArray(fs) || fs.length !== groups || !fs.every((f) => typeof f === 'function')) {
    throw new RangeError(`${name}: lambda must be a function of the step count${groups > 1 ? `, or ${groups} of them (one per parameter group)` : ''}, got ${shown(lambda)}`);
  }
  return fs;
}

/** The rate times `lambda(t)` (PyTorch's LambdaLR); given a list, each parameter group's times its own. */
export class LambdaLR extends LRScheduler {
  constructor(optimizer: Optimizer, lambda: Lambdas) {
    const fs = lambdasOf('LambdaLR', optimizer, lambda);
    super(optimizer, (t, base, group) => base * fs[group]!(t));
  }
}

/**
 * The rate times `lambda(t)` at each step t, the factors accumulating (PyTorch's
 * MultiplicativeLR): base·λ(1)·…·λ(t), the products kept as they are reached, so that a step
 * calls λ once. Given a list, each parameter group's its own; one function chains
 * (ChainedScheduler).
 */
export class MultiplicativeLR extends LRScheduler {
  constructor(optimizer: Optimizer, lambda: Lambdas) {
    const fs = lambdasOf('MultiplicativeLR', optimizer, lambda);
    // λ(1)·…·λ(t) at index t, per group, grown as the steps reach them.
    const products = fs.map(() => [1]);
    const factor = (t: number, group = 0) => {
      const p = products[group]!;
      while (p.length <= t) p.push(p.at(-1)! * fs[group]!(p.length));
      return p[t]!;
    };
    super(optimizer, typeof lambda === 'function' ? times(factor) : (t, base, group) => base * factor(t, group));
  }
}

/**
 * `schedulers[i]` from `milestones[i - 1]` on, each counting its steps from 0 there (PyTorch's
 * SequentialLR): a LinearLR warm-up then a CosineAnnealingLR is
 * `new SequentialLR(opt, [warmup, cosine], [warmupSteps])`.
 */
export class SequentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[]) {
    const fail = (why: string) => new RangeError(`SequentialLR: ${why}`);
    if (!Array.isArray(schedulers) || !schedulers.length || !schedulers.every((s) => s instanceof LRScheduler)) throw fail(`schedulers must be a non-empty array of schedulers, got ${shown(schedulers)}`);
    const other = schedulers.findIndex((s) => s.optimizer !== optimizer);
    if (other >= 0) throw fail(`schedulers[${other}] schedules another optimizer than the one given`);
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw fail(`expected ${schedulers.length - 1} milestone${schedulers.length === 2 ? '' : 's'} for ${schedulers.length} schedulers, got ${shown(milestones)}${Array.isArray(milestones) ? ` of ${milestones.length}` : ''}`);
    }
    const bad = milestones.findIndex((m, i) => !isPositiveInt(m) || (i > 0 && m <= milestones[i - 1]!));
    if (bad >= 0) throw fail(`milestones must be increasing integers ≥ 1, got ${shown(milestones[bad])} at milestones[${bad}]`);
    // The scheduler of step t, and t counted from its milestone.
    const at = (t: number): [LRScheduler, number] => {
      const i = milestones.filter((m) => m <= t).length;
      return [schedulers[i]!, t - (i ? milestones[i - 1]! : 0)];
    };
    super(
      optimizer,
      (t, _base, group) => {
        const [s, u] = at(t);
        return s.lrAt(u, group);
      },
      (t) => {
        const [s, u] = at(t);
        return s.momentumAt(u);
      },
    );
  }
}

/**
 * Schedules applied together, each step multiplying the rate by each one's factor (PyTorch's
 * ChainedScheduler): a ConstantLR warm-up with an ExponentialLR decay is
 * `new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, { gamma: 0.9 })])`.
 * Step the chain (it steps them); the schedules that set the rate outright (cosines, cycles,
 * LambdaLR, SequentialLR) do not chain, as in PyTorch, where the last of them would win.
 */
export class ChainedScheduler extends LRScheduler {
  private readonly schedulers: readonly LRScheduler[];

  constructor(schedulers: readonly LRScheduler[]) {
    const fail = (why: string) => new RangeError(`ChainedScheduler: ${why}`);
    if (!Array.isArray(schedulers) || !schedulers.length || !schedulers.every((s) => s instanceof LRScheduler)) throw fail(`schedulers must be a non-empty array of schedulers, got ${shown(schedulers)}`);
    const optimizer = schedulers[0]!.optimizer;
    const other = schedulers.findIndex((s) => s.optimizer !== optimizer);
    if (other >= 0) throw fail(`schedulers[${other}] schedules another optimizer than schedulers[0]`);
    const outright = schedulers.findIndex((s) => !s.factorAt);
    if (outright >= 0) {
      throw fail(`schedulers[${outright}] (${schedulers[outright]!.constructor.name}) sets the rate outright, not a factor of it: chain StepLR, MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR or MultiplicativeLR`);
    }
    super(optimizer, times((t) => schedulers.reduce((f, s) => f * s.factorAt!(t), 1)));
    this.schedulers = schedulers;
  }

  /** Steps each schedule, then sets the rate their factors give together. */
  override step(): void {
    for (const s of this.schedulers) s.step();
    super.step();
  }

  /** Sets each schedule, and the chain, to a saved step count. */
  override load(state: { lastEpoch: number }): void {
    super.load(state); // checks the count, naming the chain
    for (const s of this.schedulers) s.load(state);
    super.load(state); // the rate of them all, after each set its own
  }
}

/** OneCycleLR's options, PyTorch's defaults in brackets. */
export interface OneCycleOptions extends MomentumCycle {
  /** The peak rate: of every parameter group, or one per group. */
  maxLr: number | readonly number[];
  /** Steps in the cycle; or `epochs` × `stepsPerEpoch`. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The fraction of the steps spent rising [0.3]. */
  pctStart?: number;
  /** 'cos' or 'linear' [cos]. */
  annealStrategy?: 'cos' | 'linear';
  /** The first rate is maxLr / divFactor [25]; the last, that / finalDivFactor [1e4]. */
  divFactor?: number;
  finalDivFactor?: number;
  /** Fall back to the first rate before annealing to the last (fast.ai's variant) [false]. */
  threePhase?: boolean;
}

/**
 * The one-cycle policy (PyTorch's OneCycleLR): the rate rises from maxLr/divFactor to maxLr
 * over pctStart of the steps, then falls far below the start, while the momentum falls from
 * maxMomentum to baseMomentum and rises back. Stepped after every batch, totalSteps times at
 * most; it sets the rate whatever the optimizer's was.
 */
export class OneCycleLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: OneCycleOptions) {
    const o = opts ?? ({} as OneCycleOptions);
    const { maxLr, epochs, stepsPerEpoch, pctStart = 0.3, annealStrategy = 'cos', divFactor = 25, finalDivFactor = 1e4, threePhase = false } = o;
    const { cycleMomentum, baseMomentum, maxMomentum, checks } = momentumCycle(o, 0.85, 0.95);
    const totalSteps = o.totalSteps ?? (isPositiveInt(epochs) && isPositiveInt(stepsPerEpoch) ? epochs * stepsPerEpoch : undefined);
    const positive = (v: unknown) => typeof v === 'number' && v > 0 && Number.isFinite(v);
    const groups = optimizer?.paramGroups?.length ?? 1;
    check('OneCycleLR', o, {
      maxLr: perGroup(maxLr, groups),
      totalSteps: [o.totalSteps ?? totalSteps, isPositiveInt(totalSteps), 'an integer ≥ 1 (or give epochs and stepsPerEpoch, integers ≥ 1)'],
      epochs: [epochs, epochs === undefined || isPositiveInt(epochs), 'an integer ≥ 1'],
      stepsPerEpoch: [stepsPerEpoch, stepsPerEpoch === undefined || isPositiveInt(stepsPerEpoch), 'an integer ≥ 1'],
      pctStart: [pctStart, typeof pctStart === 'number' && pctStart >= 0 && pctStart <= 1, 'in [0, 1]'],
      annealStrategy: [annealStrategy, annealStrategy === 'cos' || annealStrategy === 'linear', "'cos' or 'linear'"],
      divFactor: [divFactor, positive(divFactor), 'a number > 0'],
      finalDivFactor: [finalDivFactor, positive(finalDivFactor), 'a number > 0'],
      threePhase: [threePhase, typeof threePhase === 'boolean', 'true or false'],
      ...checks,
    });
    checkMomentum('OneCycleLR', optimizer, cycleMomentum);
    const T = totalSteps!;
    // Phases as PyTorch's, each group's: [end step, start rate, end rate, start momentum, end momentum].
    type Phase = [number, number, number, number, number];
    const phasesOf = (peak: number): Phase[] => {
      const initial = peak / divFactor;
      const min = initial / finalDivFactor;
      return threePhase
        ? [
            [pctStart * T - 1, initial, peak, maxMomentum, baseMomentum],
            [2 * pctStart * T - 2, peak, initial, baseMomentum, maxMomentum],
            [T - 1, initial, min, maxMomentum, maxMomentum],
          ]
        : [
            [pctStart * T - 1, initial, peak, maxMomentum, baseMomentum],
            [T - 1, peak, min, baseMomentum, maxMomentum],
          ];
    };
    const phases = ofGroups(maxLr, groups).map(phasesOf);
    const anneal = annealStrategy === 'cos' ? (a: number, b: number, p: number) => b + ((a - b) / 2) * (1 + Math.cos(Math.PI * p)) : (a: number, b: number, p: number) => (b - a) * p + a;
    // Group g's phase of step t and how far into it t is.
    const at = (t: number, g = 0): [Phase, number] => {
      if (t > T) throw new RangeError(`OneCycleLR: stepped ${t} times, past its ${T} total steps`);
      let start = 0;
      for (const [i, phase] of phases[g]!.entries()) {
        if (t <= phase[0] || i === phases[g]!.length - 1) return [phase, (t - start) / (phase[0] - start)];
        start = phase[0];
      }
      throw new Error('unreachable');
    };
    super(
      optimizer,
      (t, _base, g) => {
        const [[, a, b], p] = at(t, g);
        return anneal(a, b, p);
      },
      cycleMomentum
        ? (t) => {
            const [[, , , a, b], p] = at(t);
            return anneal(a, b, p);
          }
        : undefined,
    );
  }
}

/** ReduceLROnPlateau's options, PyTorch's defaults in brackets. */
export interface PlateauOptions {
  /** 'min' (a metric that should fall, as a loss) or 'max' (one that should rise, as an accuracy) ['min']. */
  mode?: 'min' | 'max';
  /** What the rate is multiplied by, below 1 [0.1]. */
  factor?: number;
  /** Steps without improvement tolerated before the rate is cut [10]. */
  patience?: number;
  /** What counts as an improvement: by this fraction of the best ('rel') or this much ('abs') [1e-4]. */
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  /** Steps after a cut during which none counts as bad [0]. */
  cooldown?: number;
  /** The rate is never cut below this: every group's, or one per parameter group [0]. */
  minLr?: number | readonly number[];
  /** A cut smaller than this is not made [1e-8]. */
  eps?: number;
}

/** What ReduceLROnPlateau.load() needs to continue. */
export interface PlateauState {
  lastEpoch: number;
  /** The best metric so far (±Infinity before the first). */
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
}

/**
 * Cuts the rate by `factor` once a metric has stopped improving for `patience` steps (PyTorch's
 * ReduceLROnPlateau): `step(metric)` after each evaluation, with the metric read back
 * (`await loss.item()`). Unlike the schedulers above, its rates follow the metric, not the count.
 */
export class ReduceLROnPlateau {
  private s: PlateauState;
  private readonly o: Required<PlateauOptions>;

  constructor(
    readonly optimizer: Optimizer,
    opts: PlateauOptions = {},
  ) {
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = opts ?? {};
    check('ReduceLROnPlateau', opts, {
      mode: [mode, mode === 'min' || mode === 'max', "'min' or 'max'"],
      factor: [factor, typeof factor === 'number' && factor >= 0 && factor < 1, 'in [0, 1)'],
      patience: [patience, isCount(patience), 'an integer ≥ 0'],
      threshold: [threshold, isRate(threshold), 'a number ≥ 0'],
      thresholdMode: [thresholdMode, thresholdMode === 'rel' || thresholdMode === 'abs', "'rel' or 'abs'"],
      cooldown: [cooldown, isCount(cooldown), 'an integer ≥ 0'],
      minLr: perGroup(minLr, optimizer?.paramGroups?.length ?? 1),
      eps: [eps, isRate(eps), 'a number ≥ 0'],
    });
    this.o = { mode, factor, patience, threshold, thresholdMode, cooldown, minLr, eps };
    this.s = { lastEpoch: 0, best: mode === 'min' ? Infinity : -Infinity, numBadEpochs: 0, cooldownCounter: 0 };
  }

  private better(a: number, best: number): boolean {
    const { mode, threshold, thresholdMode } = this.o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }

  /** Takes one step's metric; cuts the rate if it is `patience` steps past the last improvement. */
  step(metric: number): void {
    if (typeof metric !== 'number' || Number.isNaN(metric)) throw new RangeError(`ReduceLROnPlateau.step: the metric must be a number, got ${shown(metric)} (a tensor's value is read with await t.item())`);
    const minLrs = ofGroups(this.o.minLr, this.optimizer.paramGroups.length);
    if (minLrs.length !== this.optimizer.paramGroups.length) {
      throw new RangeError(`ReduceLROnPlateau.step: minLr has ${minLrs.length} floors for ${this.optimizer.paramGroups.length} parameter groups (one was added since); give one number, or one per group`);
    }
    const s = this.s;
    s.lastEpoch++;
    if (this.better(metric, s.best)) {
      s.best = metric;
      s.numBadEpochs = 0;
    } else {
      s.numBadEpochs++;
    }
    if (s.cooldownCounter > 0) {
      s.cooldownCounter--;
      s.numBadEpochs = 0;
    }
    if (s.numBadEpochs > this.o.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const lr = Math.max(g.lr * this.o.factor, minLrs[i]!);
        if (g.lr - lr > this.o.eps) g.lr = lr;
      });
      s.cooldownCounter = this.o.cooldown;
      s.numBadEpochs = 0;
    }
  }

  /** Steps taken (PyTorch's `last_epoch`). */
  get lastEpoch(): number {
    return this.s.lastEpoch;
  }

  /** Where it stands; with the optimizer's rate (saved with the optimizer), enough to continue. */
  state(): PlateauState {
    return { ...this.s };
  }

  /** Continues from a saved state (the optimizer's rate is restored with the optimizer's own). */
  load(state: PlateauState): void {
    const { lastEpoch, best, numBadEpochs, cooldownCounter } = state ?? ({} as PlateauState);
    const bad = ([['lastEpoch', lastEpoch], ['numBadEpochs', numBadEpochs], ['cooldownCounter', cooldownCounter]] as const).find(([, v]) => !isCount(v));
    if (bad) throw new RangeError(`ReduceLROnPlateau.load: ${bad[0]} must be an integer ≥ 0, got ${shown(bad[1])}`);
    if (typeof best !== 'number' || Number.isNaN(best)) throw new RangeError(`ReduceLROnPlateau.load: best must be a number, got ${shown(best)}`);
    this.s = { lastEpoch, best, numBadEpochs, cooldownCounter };
  }
}
