// Learning-rate schedules with PyTorch's torch.optim.lr_scheduler semantics (1.13): a scheduler
// sets `optimizer.lr` when made and at each step(), which goes after optimizer.step(). Each is a
// closed form of its step count, so the rate after t steps is computed, not accumulated: a
// scheduler set back to a saved count (load) gives the same rates as one never stopped.
import type { Optimizer } from './optim.js';
import { checkOptionNames, shown } from '../runtime/options.js';

// The rate each optimizer had when its first scheduler was made: every scheduler of it starts
// from there, as PyTorch's `initial_lr` (a warm-up's LinearLR lowers the rate before the
// schedule that follows it in a SequentialLR is made).
const initialLrs = new WeakMap<Optimizer, number>();

/** A schedule: `optimizer.lr` after t calls of step() is `lrAt(t)`. */
export class LRScheduler {
  /** step() calls so far (PyTorch's `last_epoch`). */
  private count = 0;
  /** The rate the schedule starts from: the optimizer's when its first scheduler was made. */
  readonly baseLr: number;

  /** `lrAt(t, baseLr)` is the rate after t steps (PyTorch's LambdaLR is `baseLr * lambda(t)`). */
  constructor(
    readonly optimizer: Optimizer,
    private readonly rate: (t: number, baseLr: number) => number,
  ) {
    if (!initialLrs.has(optimizer)) initialLrs.set(optimizer, optimizer.lr);
    this.baseLr = initialLrs.get(optimizer)!;
    optimizer.lr = this.lrAt(0);
  }

  /** The rate after `t` steps. */
  lrAt(t: number): number {
    return this.rate(t, this.baseLr);
  }

  /** Steps taken (PyTorch's `last_epoch`). */
  get lastEpoch(): number {
    return this.count;
  }

  /** The rate it set last (PyTorch's `get_last_lr()[0]`). */
  get lastLr(): number {
    return this.lrAt(this.count);
  }

  /** Moves the schedule on one step (or epoch, as the caller counts) and sets `optimizer.lr`. */
  step(): void {
    this.count++;
    this.optimizer.lr = this.lrAt(this.count);
  }

  /** What load() needs to continue the schedule (PyTorch's state_dict()). */
  state(): { lastEpoch: number } {
    return { lastEpoch: this.count };
  }

  /** Sets the schedule to a saved step count, and `optimizer.lr` to its rate there. */
  load(state: { lastEpoch: number }): void {
    const t = state?.lastEpoch;
    if (!isCount(t)) throw new RangeError(`${this.constructor.name}.load: lastEpoch must be an integer ≥ 0, got ${shown(t)}`);
    this.count = t;
    this.optimizer.lr = this.lrAt(t);
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
    super(optimizer, (t, base) => base * gamma ** Math.floor(t / stepSize));
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
    super(optimizer, (t, base) => base * gamma ** sorted.filter((m) => m <= t).length);
  }
}

/** The rate times `gamma` every step (PyTorch's ExponentialLR). */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { gamma: number }) {
    const { gamma } = opts ?? {};
    check('ExponentialLR', opts, { gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    super(optimizer, (t, base) => base * gamma ** t);
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
    super(optimizer, (t, base) => base * (t >= totalIters ? endFactor : startFactor + ((endFactor - startFactor) * t) / totalIters));
  }
}

/** The rate times `lambda(t)` (PyTorch's LambdaLR). */
export class LambdaLR extends LRScheduler {
  constructor(optimizer: Optimizer, lambda: (t: number) => number) {
    if (typeof lambda !== 'function') throw new RangeError(`LambdaLR: lambda must be a function of the step count, got ${shown(lambda)}`);
    super(optimizer, (t, base) => base * lambda(t));
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
    super(optimizer, (t) => {
      const i = milestones.filter((m) => m <= t).length;
      return schedulers[i]!.lrAt(t - (i ? milestones[i - 1]! : 0));
    });
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
  /** The rate is never cut below this [0]. */
  minLr?: number;
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
      minLr: [minLr, isRate(minLr), 'a number ≥ 0'],
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
      const old = this.optimizer.lr;
      const lr = Math.max(old * this.o.factor, this.o.minLr);
      if (old - lr > this.o.eps) this.optimizer.lr = lr;
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
