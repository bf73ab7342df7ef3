// The learning-rate schedule of `fovea train`: one scheduler, stepped after every training step
// and set to the step count on --resume (each rate is a closed form of it, so a resumed run
// takes the rates of one never stopped). --lr-schedule step: × --lr-gamma as each epoch starts;
// cosine: from --lr down to 0 over the run's --epochs. --warmup-steps comes first, from --lr/N.
import { CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR, type LRScheduler } from '../model/lr-scheduler.js';
import type { Optimizer } from '../model/optim.js';

export const LR_SCHEDULES = ['step', 'cosine'] as const;
export type LrScheduleKind = (typeof LR_SCHEDULES)[number];

/** The flags that make a schedule. */
export interface ScheduleFlags {
  lrSchedule: LrScheduleKind;
  lrGamma: number;
  warmupSteps: number;
}

/** Whether the rate changes during the run (the epoch lines then show it). */
export const scheduled = (s: ScheduleFlags): boolean => s.lrSchedule !== 'step' || s.lrGamma !== 1 || s.warmupSteps > 0;

/** The schedule in words, for the settings line (empty for a constant rate). */
export function describeSchedule(s: ScheduleFlags, span: number): string {
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
  const warm = s.warmupSteps;
  // t counts from the warm-up's end: the decay goes by the run's epochs, warm-up or not.
  const main =
    s.lrSchedule === 'cosine'
      ? new CosineAnnealingLR(optimizer, { tMax: span - warm })
      : new LambdaLR(optimizer, (t) => s.lrGamma ** Math.floor((t + warm) / stepsPerEpoch));
  if (!warm) return main;
  return new SequentialLR(optimizer, [new LinearLR(optimizer, { startFactor: 1 / warm, totalIters: warm }), main], [warm]);
}
