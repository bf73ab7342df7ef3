// Cyclic schedules, which set the rate outright and cycle the momentum the other way: CyclicLR and OneCycleLR.
import type { Optimizer } from '../optim/index.js';
import { check, checkOptimizer, isPositiveInt, isRate, LRScheduler, ofGroups, perGroup } from './scheduler.js';

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
    checkOptimizer('CyclicLR', optimizer);
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

/** @internal OneCycleLR's momentum by default, PyTorch's: from max (set as it is made) down to base and back. */
export const ONE_CYCLE_MOMENTUM = { base: 0.85, max: 0.95 } as const;

/**
 * The one-cycle policy (PyTorch's OneCycleLR): the rate rises from maxLr/divFactor to maxLr
 * over pctStart of the steps, then falls far below the start, while the momentum falls from
 * maxMomentum to baseMomentum and rises back. Stepped after every batch, totalSteps times at
 * most; it sets the rate whatever the optimizer's was. The last of those steps, after the last
 * batch, carries the last phase on past its end, as PyTorch's (the cosine rising again), but
 * annealed linearly it holds the final rate and momentum, where PyTorch's reach a negative rate
 * (which an optimizer here refuses).
 */
export class OneCycleLR extends LRScheduler {
  constructor(optimizer: Optimizer, opts: OneCycleOptions) {
    checkOptimizer('OneCycleLR', optimizer);
    const o = opts ?? ({} as OneCycleOptions);
    const { maxLr, epochs, stepsPerEpoch, pctStart = 0.3, annealStrategy = 'cos', divFactor = 25, finalDivFactor = 1e4, threePhase = false } = o;
    const { cycleMomentum, baseMomentum, maxMomentum, checks } = momentumCycle(o, ONE_CYCLE_MOMENTUM.base, ONE_CYCLE_MOMENTUM.max);
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
    // Group g's phase of step t and how far into it t is (step T: past the end of the last, or, annealed linearly, at it).
    const at = (t: number, g = 0): [Phase, number] => {
      if (t > T) throw new RangeError(`OneCycleLR: stepped ${t} times, past its ${T} total steps`);
      let start = 0;
      for (const [i, phase] of phases[g]!.entries()) {
        // A phase of no steps (pctStart 1, or one step's worth) is over: its end (PyTorch divides by 0).
        const p = phase[0] > start ? (t - start) / (phase[0] - start) : 1;
        if (t <= phase[0] || i === phases[g]!.length - 1) return [phase, annealStrategy === 'linear' ? Math.min(1, p) : p];
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
