// What every learning-rate schedule shares (LRScheduler: the rate of each parameter group as a
// function of the step count, set when made and at each step()), and the checks of schedules'
// options.
import type { Optimizer } from '../optim/index.js';
import { given } from '../../runtime/args.js';
import { checkOptionNames, shown } from '../../runtime/options.js';

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
export const times = (factor: (t: number) => number): Rate => Object.assign((t: number, base: number) => base * factor(t), { factor });

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
   * MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR, MultiplicativeLR with one
   * function, CosineAnnealingLR down to 0: those ChainedScheduler chains); undefined for those
   * that set the rate outright.
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
    checkOptimizer(new.target.name, optimizer);
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

export const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
export const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
export const isRate = (v: unknown): v is number => typeof v === 'number' && v >= 0 && Number.isFinite(v);

/** Checks a scheduler's options: known names, then each value against its range. */
/** Throws a TypeError naming scheduler `name` where `optimizer` is no Optimizer (a forgotten argument, say). */
export function checkOptimizer(name: string, optimizer: unknown): asserts optimizer is Optimizer {
  if (typeof optimizer !== 'object' || optimizer === null || !Array.isArray((optimizer as Partial<Optimizer>).paramGroups)) {
    throw new TypeError(`${name}: optimizer must be an Optimizer (such as new Adam(model.parameters())), got ${given(optimizer)}`);
  }
}

export function check(name: string, opts: object, checks: Record<string, [value: unknown, ok: boolean, range: string]>): void {
  const fail = (why: string) => new RangeError(`${name}: ${why}`);
  checkOptionNames(opts, Object.keys(checks), fail);
  for (const [key, [value, ok, range]] of Object.entries(checks)) {
    if (!ok) throw fail(`${key} must be ${range}, got ${shown(value)}`);
  }
}

/** check()'s entry for a rate given for every group or per group (as PyTorch's lists of them). */
export function perGroup(v: unknown, groups: number): [unknown, boolean, string] {
  const ok = Array.isArray(v) ? v.length === groups && v.every(isRate) : isRate(v);
  return [v, ok, groups > 1 ? `a number ≥ 0, or an array of ${groups} (one per parameter group)` : 'a number ≥ 0'];
}

/** A rate given for every group or per group, per group. */
export const ofGroups = (v: number | readonly number[], groups: number): readonly number[] => (typeof v === 'number' ? Array<number>(groups).fill(v) : v);
