// ReduceLROnPlateau: the rate cut when a metric stops improving.
import type { Optimizer } from '../optim/index.js';
import { shown } from '../../runtime/options.js';
import { check, checkOptimizer, isCount, isRate, ofGroups, perGroup } from './scheduler.js';

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
 * (`await loss.item()`). Unlike the other schedulers, its rates follow the metric, not the count.
 */
export class ReduceLROnPlateau {
  private s: PlateauState;
  private readonly o: Required<PlateauOptions>;

  constructor(
    readonly optimizer: Optimizer,
    opts: PlateauOptions = {},
  ) {
    checkOptimizer('ReduceLROnPlateau', optimizer);
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

  /**
   * Takes one step's metric; cuts the rate if it is `patience` steps past the last improvement.
   * A NaN metric (a diverged loss) is no improvement, as in PyTorch. `epoch`, where given, is the
   * step count from now on (PyTorch's deprecated step(metrics, epoch)); it changes nothing else.
   */
  step(metric: number, epoch?: number): void {
    if (typeof metric !== 'number') throw new RangeError(`ReduceLROnPlateau.step: the metric must be a number, got ${shown(metric)} (a tensor's value is read with await t.item())`);
    if (epoch !== undefined && !isCount(epoch)) throw new RangeError(`ReduceLROnPlateau.step: epoch must be an integer ≥ 0, got ${shown(epoch)}`);
    const minLrs = ofGroups(this.o.minLr, this.optimizer.paramGroups.length);
    if (minLrs.length !== this.optimizer.paramGroups.length) {
      throw new RangeError(`ReduceLROnPlateau.step: minLr has ${minLrs.length} floors for ${this.optimizer.paramGroups.length} parameter groups (one was added since); give one number, or one per group`);
    }
    const s = this.s;
    s.lastEpoch = epoch ?? s.lastEpoch + 1;
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
