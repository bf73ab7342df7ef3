// What every learning-rate schedule shares (LRScheduler: the rate of each parameter group as a
// function of the step count, set when made and at each step()), and the checks of schedules'
// options.
import type { Optimizer } from '../optim/index.js';
import { given } from '../../runtime/args.js';
import { checkOptionNames, shown } from '../../runtime/options.js';

// The rates each optimizer's groups had when its first scheduler was made (a group added since,
// when the first scheduler after it was made): every scheduler of it starts from there, as
// PyTorch's `initial_lr` (a warm-up's LinearLR lowers the rate before the schedule that follows
// it in a SequentialLR is made).
const initialLrs = new WeakMap<Optimizer, readonly number[]>();

/**
 * Parameter group `group`'s rate after t steps from its base rate; tagged with its `factor`
 * where it is the base rate times one, and with `added(t, lr)`, where a step to t moves the rate
 * lr of a group added since the schedule was made, what it moves it to (see addedGroupsLr).
 */
export type Rate = ((t: number, baseLr: number, group: number) => number) & { factor?: (t: number) => number; added?: (t: number, lr: number) => number };

/**
 * The rate of a schedule that multiplies the base rate by factor(t): such schedules chain
 * (ChainedScheduler). `everyGroup`: PyTorch's steps it by multiplying each group's rate by
 * factor(t)/factor(t − 1), a group added since included (left as it is where factor(t − 1) is 0).
 */
export function times(factor: (t: number) => number, everyGroup = false): Rate {
  const rate = Object.assign((t: number, base: number) => base * factor(t), { factor });
  if (!everyGroup) return rate;
  return Object.assign(rate, { added: (t: number, lr: number) => (factor(t - 1) === 0 ? lr : (lr * factor(t)) / factor(t - 1)) });
}

/**
 * A schedule: parameter group i's rate after t calls of step() is `lrAt(t, i)`, and where the
 * schedule cycles the momentum too (OneCycleLR), every group's momentum (SGD's, or Adam's first
 * beta) `momentumAt(t)`.
 */
export class LRScheduler {
  /**
   * Where the rates are taken: step() calls so far, or where step(epoch) put it (a fractional
   * epoch, CosineAnnealingWarmRestarts's only). PyTorch's `last_epoch` is its floor.
   */
  private at = 0;
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
  /** The rates it set last, one per parameter group. */
  private last: number[] = [];

  /**
   * `rate(t, baseLr)` is the rate after t steps (PyTorch's LambdaLR is `baseLr * lambda(t)`);
   * `momentum(t)`, if given, the momentum.
   */
  constructor(
    readonly optimizer: Optimizer,
    private readonly rate: Rate,
    private readonly momentum?: (t: number) => number | undefined,
    /** The groups it sets, where fewer than the optimizer's (a chain's or sequence's: those of its schedules). */
    groups?: number,
  ) {
    checkOptimizer(new.target.name, optimizer);
    const initial = initialLrs.get(optimizer) ?? [];
    const all = [...initial, ...optimizer.paramGroups.slice(initial.length).map((g) => g.lr)];
    initialLrs.set(optimizer, all);
    this.baseLrs = all.slice(0, groups);
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

  /**
   * The rate a step to t moves `lr`, the rate of a group added since the schedule was made, to.
   * As PyTorch's: StepLR, MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR and
   * CosineAnnealingLR (and a chain or sequence, through them) step every group's rate by their
   * recurrences, and the schedules that set the rates from the base rates leave such a group's alone.
   */
  addedGroupsLr(t: number, lr: number): number {
    return this.rate.added?.(t, lr) ?? lr;
  }

  // The rates after t steps; `stepped`: a step to t, which moves the rates of groups added since too.
  private apply(t: number, stepped = false): void {
    const groups = this.optimizer.paramGroups;
    this.baseLrs.forEach((_, i) => (groups[i]!.lr = this.lrAt(t, i)));
    if (stepped) for (const g of groups.slice(this.baseLrs.length)) g.lr = this.addedGroupsLr(t, g.lr);
    const m = this.momentumAt(t);
    if (m !== undefined) this.optimizer.setCycledMomentum?.(m, this.baseLrs.length);
    this.last = groups.map((g) => g.lr);
  }

  /** Steps taken (PyTorch's `last_epoch`): where step(epoch) put it, rounded down. */
  get lastEpoch(): number {
    return Math.floor(this.at);
  }

  /** @internal The position the rates are taken at (fractional after a fractional step(epoch)). */
  protected get epoch(): number {
    return this.at;
  }

  /** The rate it set last (PyTorch's `get_last_lr()[0]`): the first group's. */
  get lastLr(): number {
    return this.last[0]!;
  }

  /** The rates of the parameter groups as it left them last, one per group (PyTorch's `get_last_lr()`). */
  get lastLrs(): number[] {
    return [...this.last];
  }

  /**
   * Moves the schedule on one step (or epoch, as the caller counts) and sets each group's rate.
   * It takes no epoch (PyTorch's step(epoch) is deprecated, and here only
   * CosineAnnealingWarmRestarts and ReduceLROnPlateau take one): given one, it throws rather
   * than step on as if it had not been given.
   */
  step(): void {
    refuseEpoch(this.constructor.name, arguments.length);
    this.moveTo(this.at + 1, true);
  }

  /** @internal Takes the rates at `t` (`stepped`: a step, which moves the rates of groups added since too). */
  protected moveTo(t: number, stepped: boolean): void {
    this.apply(t, stepped);
    this.at = t;
  }

  /** What load() needs to continue the schedule (PyTorch's state_dict()). */
  state(): { lastEpoch: number } {
    return { lastEpoch: this.lastEpoch };
  }

  /** Sets the schedule to a saved step count, and each group's rate to the schedule's there. */
  load(state: { lastEpoch: number }): void {
    const t = state?.lastEpoch;
    if (!isCount(t)) throw new RangeError(`${this.constructor.name}.load: lastEpoch must be an integer ≥ 0, got ${shown(t)}`);
    this.moveTo(t, false);
  }
}

/** step()'s refusal of an epoch (`given` arguments) where the schedule takes none. */
export function refuseEpoch(name: string, given: number): void {
  if (given) {
    throw new TypeError(
      `${name}.step() takes no epoch (PyTorch's step(epoch) is deprecated; only CosineAnnealingWarmRestarts and ReduceLROnPlateau take one here): call step() once per step, or load({ lastEpoch }) to go to a step`,
    );
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
