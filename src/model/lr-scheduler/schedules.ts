// Schedules of the step count alone, each the base rate times a factor or a closed form of it.
import type { Optimizer } from '../optim/index.js';
import { shown } from '../../runtime/options.js';
import { check, isCount, isPositiveInt, isRate, LRScheduler, times, type Rate } from './scheduler.js';

/** The rate times `gamma` every `stepSize` steps (PyTorch's StepLR). */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { stepSize: number; gamma?: number }) {
    const { stepSize, gamma = 0.1 } = opts ?? {};
    check('StepLR', opts, { stepSize: [stepSize, isPositiveInt(stepSize), 'an integer ≥ 1'], gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    super(optimizer, times((t) => gamma ** Math.floor(t / stepSize), true));
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
    super(optimizer, times((t) => gamma ** sorted.filter((m) => m <= t).length, true));
  }
}

/** The rate times `gamma` every step (PyTorch's ExponentialLR). */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { gamma: number }) {
    const { gamma } = opts ?? {};
    check('ExponentialLR', opts, { gamma: [gamma, isRate(gamma), 'a number ≥ 0'] });
    super(optimizer, times((t) => gamma ** t, true));
  }
}

/**
 * Half a cosine from the rate down to `etaMin` over `tMax` steps (PyTorch's CosineAnnealingLR,
 * without restarts: past tMax the cosine rises again, as PyTorch's does). Down to 0, it is the
 * rate times a factor, and chains (ChainedScheduler) as PyTorch's recursive form does through
 * tMax; past it, PyTorch's chain restarts from the base rate (a special case of that form), where
 * fovea's factor rises again.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { tMax: number; etaMin?: number }) {
    const { tMax, etaMin = 0 } = opts ?? {};
    check('CosineAnnealingLR', opts, { tMax: [tMax, isPositiveInt(tMax), 'an integer ≥ 1'], etaMin: [etaMin, isRate(etaMin), 'a number ≥ 0'] });
    const half = (t: number) => (1 + Math.cos((Math.PI * t) / tMax)) / 2;
    // A group added since moves by PyTorch's recurrence, lr − etaMin times half(t)/half(t − 1),
    // but for the steps after a trough (t − 1 an odd multiple of tMax), where PyTorch's leaves it.
    const rate: Rate = etaMin === 0 ? times(half) : (t, base) => etaMin + (base - etaMin) * half(t);
    rate.added = (t, lr) => ((t - 1 - tMax) % (2 * tMax) === 0 ? lr : etaMin + ((lr - etaMin) * half(t)) / half(t - 1));
    super(optimizer, rate);
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
    super(optimizer, times((t) => (t >= totalIters ? endFactor : startFactor + ((endFactor - startFactor) * t) / totalIters), true));
  }
}

/** The rate times `factor` for the first `totalIters` steps, then the rate (PyTorch's ConstantLR; defaults 1/3 and 5). */
export class ConstantLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { factor?: number; totalIters?: number } = {}) {
    const { factor = 1 / 3, totalIters = 5 } = opts ?? {};
    // 0 is refused, as LinearLR's: PyTorch's steps would keep the factor for ever then (its first
    // rate has it, and no step reaches the one that lifts it), where it reads as none.
    check('ConstantLR', opts, { factor: [factor, typeof factor === 'number' && factor >= 0 && factor <= 1, 'in [0, 1]'], totalIters: [totalIters, isPositiveInt(totalIters), 'an integer ≥ 1'] });
    super(optimizer, times((t) => (t < totalIters ? factor : 1), true));
  }
}

/** The rate times (1 − t/totalIters)^power, 0 from totalIters on (PyTorch's PolynomialLR; defaults 5 and 1). */
export class PolynomialLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: { totalIters?: number; power?: number } = {}) {
    const { totalIters = 5, power = 1 } = opts ?? {};
    check('PolynomialLR', opts, { totalIters: [totalIters, isPositiveInt(totalIters), 'an integer ≥ 1'], power: [power, isRate(power), 'a number ≥ 0'] });
    super(optimizer, times((t) => (1 - Math.min(t, totalIters) / totalIters) ** power, true));
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

  /**
   * Moves the schedule on one step, or to `epoch`, which may be fractional (as PyTorch's
   * `step(epoch + i / iters)` within an epoch of `iters` batches); step() then goes on from there.
   */
  override step(epoch?: number): void {
    if (epoch === undefined) return super.step();
    if (typeof epoch !== 'number' || !(epoch >= 0) || !Number.isFinite(epoch)) {
      throw new RangeError(`CosineAnnealingWarmRestarts.step: epoch must be a number ≥ 0, got ${shown(epoch)}`);
    }
    this.moveTo(epoch, false);
  }

  /** What load() needs to continue: the step count, and the epoch where step(epoch) left it fractional. */
  override state(): { lastEpoch: number; epoch?: number } {
    return Number.isInteger(this.epoch) ? super.state() : { ...super.state(), epoch: this.epoch };
  }

  /** Sets the schedule to a saved state (a fractional epoch among it), and each group's rate to the schedule's there. */
  override load(state: { lastEpoch: number; epoch?: number }): void {
    super.load(state);
    const epoch = state.epoch;
    if (epoch === undefined) return;
    if (typeof epoch !== 'number' || !(Math.floor(epoch) === state.lastEpoch)) {
      throw new RangeError(`CosineAnnealingWarmRestarts.load: epoch must be a number whose floor is lastEpoch ${state.lastEpoch}, got ${shown(epoch)}`);
    }
    this.moveTo(epoch, false);
  }
}

/** A function of the step count for every parameter group, or one per group (PyTorch's lr_lambda). */
export type Lambdas = ((t: number) => number) | readonly ((t: number) => number)[];

/** Each group's function of `lambda`, checked. */
function lambdasOf(name: string, optimizer: Optimizer, lambda: Lambdas): readonly ((t: number) => number)[] {
  const groups = optimizer?.paramGroups?.length ?? 1;
  const fs = typeof lambda === 'function' ? new Array<(t: number) => number>(groups).fill(lambda) : lambda;
  if (!Array.isArray(fs) || fs.length !== groups || !fs.every((f) => typeof f === 'function')) {
    throw new RangeError(`${name}: lambda must be a function of the step count${groups > 1 ? `, or ${groups} of them (one per parameter group)` : ''}, got ${shown(lambda)} (made as PyTorch's: new ${name}(optimizer, lambda))`);
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
