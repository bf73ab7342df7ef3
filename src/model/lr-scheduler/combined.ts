// Schedules made of others: one after another (SequentialLR), or their factors together (ChainedScheduler).
import type { Optimizer } from '../optim/index.js';
import { shown } from '../../runtime/options.js';
import { isCount, isPositiveInt, LRScheduler, refuseEpoch, times } from './scheduler.js';

/**
 * `schedulers[i]` from `milestones[i - 1]` on, each counting its steps from 0 there (PyTorch's
 * SequentialLR): a LinearLR warm-up then a CosineAnnealingLR is
 * `new SequentialLR(opt, [warmup, cosine], [warmupSteps])`.
 */
export class SequentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[]) {
    const fail = (why: string) => new RangeError(`SequentialLR: ${why}`);
    if (!Array.isArray(schedulers) || !schedulers.length || !schedulers.every((s) => s instanceof LRScheduler)) throw fail(`schedulers must be a non-empty array of schedulers, got ${shown(schedulers)} (made as PyTorch's: new SequentialLR(optimizer, schedulers, milestones))`);
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
    // A group added since: moved by the schedule in turn, as it steps, but not at its milestone,
    // where PyTorch's sets the rates from the base rates.
    const added = (t: number, lr: number) => {
      const [s, u] = at(t);
      return u === 0 ? lr : s.addedGroupsLr(u, lr);
    };
    super(
      optimizer,
      Object.assign((t: number, _base: number, group: number) => {
        const [s, u] = at(t);
        return s.lrAt(u, group);
      }, { added }),
      (t) => {
        const [s, u] = at(t);
        return s.momentumAt(u);
      },
      groupsOf(schedulers),
    );
  }
}

/**
 * Schedules applied together, each step multiplying the rate by each one's factor (PyTorch's
 * ChainedScheduler): a ConstantLR warm-up with an ExponentialLR decay is
 * `new ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, { gamma: 0.9 })])`.
 * Step the chain (it steps them, each on from its own count); the schedules that set the rate outright (cycles, restarts,
 * LambdaLR, SequentialLR, a cosine down to etaMin above 0) do not chain (in PyTorch the last of
 * them would win, or the result would depend on the order of the steps).
 */
export class ChainedScheduler extends LRScheduler {
  private readonly schedulers: readonly LRScheduler[];
  // Each schedule's count where the chain started (they may have been stepped before it was made).
  private readonly offsets: number[];

  constructor(schedulers: readonly LRScheduler[]) {
    const fail = (why: string) => new RangeError(`ChainedScheduler: ${why}`);
    if (!Array.isArray(schedulers) || !schedulers.length || !schedulers.every((s) => s instanceof LRScheduler)) throw fail(`schedulers must be a non-empty array of schedulers, got ${shown(schedulers)} (made as PyTorch's: new ChainedScheduler(schedulers))`);
    const optimizer = schedulers[0]!.optimizer;
    const other = schedulers.findIndex((s) => s.optimizer !== optimizer);
    if (other >= 0) throw fail(`schedulers[${other}] schedules another optimizer than schedulers[0]`);
    const outright = schedulers.findIndex((s) => !s.factorAt);
    if (outright >= 0) {
      throw fail(`schedulers[${outright}] (${schedulers[outright]!.constructor.name}) sets the rate outright, not a factor of it: chain StepLR, MultiStepLR, ExponentialLR, LinearLR, ConstantLR, PolynomialLR, MultiplicativeLR or CosineAnnealingLR down to etaMin 0`);
    }
    const offsets = schedulers.map((s) => s.lastEpoch);
    super(optimizer, times((t) => schedulers.reduce((f, s, i) => f * s.factorAt!(t + offsets[i]!), 1)), undefined, groupsOf(schedulers));
    this.schedulers = schedulers;
    this.offsets = offsets;
  }

  /** Steps each schedule, then sets the rate their factors give together. */
  override step(): void {
    refuseEpoch('ChainedScheduler', arguments.length);
    for (const s of this.schedulers) s.step();
    super.step();
  }

  /** What load() needs to continue the chain: its count, and each schedule's where it started. */
  override state(): { lastEpoch: number; offsets: number[] } {
    return { ...super.state(), offsets: [...this.offsets] };
  }

  /** Sets the chain to a saved state, and each schedule to its count there. */
  override load(state: { lastEpoch: number; offsets?: readonly number[] }): void {
    const offsets = state?.offsets ?? this.offsets;
    if (!Array.isArray(offsets) || offsets.length !== this.schedulers.length || !offsets.every(isCount)) {
      throw new RangeError(`ChainedScheduler.load: offsets must be ${this.schedulers.length} integers ≥ 0 (each schedule's count where the chain started), got ${shown(offsets)}`);
    }
    super.load(state); // checks the count, naming the chain
    this.offsets.splice(0, offsets.length, ...offsets);
    this.schedulers.forEach((s, i) => s.load({ lastEpoch: state.lastEpoch + offsets[i]! }));
    super.load(state); // the rate of them all, after each set its own
  }
}

// The groups schedules made of `schedulers` set: those all of them set (a group added after the
// first was made is moved by the ones that move it, step by step).
const groupsOf = (schedulers: readonly LRScheduler[]): number => Math.min(...schedulers.map((s) => s.baseLrs.length));
