// The learning-rate schedule of `fovea train`: one scheduler, stepped after every training step
// and set to the step count on --resume (each rate is a closed form of it, so a resumed run
// takes the rates of one never stopped). --lr-schedule step: × --lr-gamma as each epoch starts;
// cosine: from --lr down to 0 over the run's --epochs; onecycle: OneCycleLR peaking at --lr,
// over the run's --epochs, cycling the momentum (SGD's, Adam's first beta) too. --warmup-steps
// comes first, from --lr/N (not with onecycle, which rises by itself).
import { CosineAnnealingLR, LambdaLR, LinearLR, OneCycleLR, SequentialLR, type LRScheduler } from '../model/lr-scheduler/index.js';
import { Adam, type Optimizer } from '../model/optim/index.js';

export const LR_SCHEDULES = ['step', 'cosine', 'onecycle'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULES)[number];

/** The flags that make a schedule. */
export interface ScheduleFlags {
  lrSchedule: LrScheduleKind;
  lrGamma: number;
  warmupSteps: number;
}

/** The fraction of a one-cycle run spent rising (PyTorch's default). */
const ONE_CYCLE_PCT = 0.3;

/** Whether the rate changes during the run (the epoch lines then show it). */
export const scheduled = (s: ScheduleFlags): boolean => s.lrSchedule !== 'step' || s.lrGamma !== 1 || s.warmupSteps > 0;

/** Schedules whose rates depend on the run's length (saved, for --resume, as scheduleSteps). */
export const spansRun = (s: ScheduleFlags): boolean => s.lrSchedule !== 'step';

/** The schedule in words, for the settings line (empty for a constant rate). */
export function describeSchedule(s: ScheduleFlags, schedule: LRScheduler, span: number): string {
  if (s.lrSchedule === 'onecycle') {
    // The peak: the last step of the rise, as OneCycleLR's phases count it.
    const peak = Math.max(0, Math.round(ONE_CYCLE_PCT * span) - 1);
    const v = (x: number | undefined) => Number(x!.toPrecision(6));
    const m = schedule.momentumAt(0) === undefined ? '' : `, ${schedule.optimizer instanceof Adam ? 'beta1' : 'momentum'} from ${v(schedule.momentumAt(0))} to ${v(schedule.momentumAt(peak))} and back`;
    return `; one cycle: lr from ${v(schedule.lrAt(0))} up to ${v(schedule.lrAt(peak))} at step ${peak + 1}, then down to ${v(schedule.lrAt(span - 1))} at step ${span}${m}`;
  }
  const warmup = s.warmupSteps ? `; lr warmed up over ${s.warmupSteps} step${s.warmupSteps === 1 ? '' : 's'}` : '';
  if (s.lrSchedule === 'cosine') return `${warmup}; lr to 0 by cosine annealing over ${span - s.warmupSteps} steps`;
  return `${warmup}${s.lrGamma === 1 ? '' : `; lr ×${s.lrGamma} after each epoch`}`;
}

/**
 * The run's scheduler on `optimizer`, whose rate must be the first (--lr) when it is made.
 * `span`: the steps the cosine spans with its warm-up (the run's epochs'); a warm-up must leave
 * the cosine at least one.
 */
export function runSchedule(optimizer: Optimizer, s: ScheduleFlags, stepsPerEpoch: number, span: number): LRScheduler {
  // PyTorch's defaults, but the momentum of an optimizer without one (Adadelta), which PyTorch refuses to cycle.
  if (s.lrSchedule === 'onecycle') return new OneCycleLR(optimizer, { maxLr: optimizer.lr, totalSteps: span, pctStart: ONE_CYCLE_PCT, cycleMomentum: optimizer.setCycledMomentum !== undefined });
  const warm = s.warmupSteps;
  // t counts from the warm-up's end: the decay goes by the run's epochs, warm-up or not.
  const main =
    s.lrSchedule === 'cosine'
      ? new CosineAnnealingLR(optimizer, { tMax: span - warm })
      : new LambdaLR(optimizer, (t) => s.lrGamma ** Math.floor((t + warm) / stepsPerEpoch));
  if (!warm) return main;
  return new SequentialLR(optimizer, [new LinearLR(optimizer, { startFactor: 1 / warm, totalIters: warm }), main], [warm]);
}
