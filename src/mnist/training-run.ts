// The training loop of `fovea train`, from where the run stands: steps with the loss read back
// every --log-every steps, an evaluation and a checkpoint at the end of each epoch, a stop on
// Ctrl-C or SIGTERM, on divergence or on a metrics log that can no longer be written, the last
// save and the closing report.
import { saveCheckpoint, type CheckpointPaths } from '../model/checkpoint.js';
import { nonFinite } from '../model/checkpoint-format.js';
import { FileWriteError, writeFileAtomic } from '../model/files.js';
import { FoveaError } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import type { MnistSplit } from './files.js';
import type { MetricsLog } from './metrics-log.js';
import { trainingPlot } from './plot.js';
import { formatDuration, Progress, type ProgressSink } from './progress.js';
import type { RunGuard } from './run-guard.js';
import type { LRScheduler } from '../model/lr-scheduler/index.js';
import { scheduled, spansRun } from './lr-schedule.js';
import type { Evaluation, Trainer } from './trainer.js';
import type { TrainOptions } from './train-options.js';

/** The loss or the weights became NaN or infinite: training stops, and saves nothing more. */
export class DivergedError extends FoveaError {
  override name = 'DivergedError';
}

/** What a run stopped by Ctrl-C or SIGTERM before its first step says. */
export const NOTHING_RAN = 'interrupted before the first step; nothing saved';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** What a run trains, from where, and where it writes. */
export interface RunSetup {
  /** At the run's first step: a resumed run's, with its optimizer state loaded. */
  trainer: Trainer;
  /** The learning-rate schedule, at the run's first step; stepped after every step. */
  schedule: LRScheduler;
  /** The steps the schedule spans (saved for a cosine's --resume). */
  span: number;
  /** The epoch (from 0) and the step in it where the run starts. */
  epoch: number;
  stepInEpoch: number;
  /** The step the run ends at. */
  total: number;
  /** Whether the run goes on from a checkpoint (--resume). */
  resumed: boolean;
  test: MnistSplit;
  opts: TrainOptions;
  paths: CheckpointPaths;
  dataDir: string;
  log: MetricsLog;
  guard: RunGuard;
  stdout: ProgressSink;
}

/** One run's loop, with the state it carries between steps, evaluations and saves. */
export class TrainingRun {
  private readonly progress: Progress;
  private epoch: number;
  private stepInEpoch: number;
  private evalSecs = 0;
  private saveSecs = 0;
  /** The step of the last evaluation that ran to its end. */
  private evaluatedAt = -1;
  private samplesDone = 0;
  // When run() began (set there, as mark is).
  private start = 0;
  // The time and the samples done at the last loss read, and the rate since the one before.
  private mark = { t: 0, samples: 0 };
  private rate: number | undefined;
  // The last loss read, shown on the steps between reads (an evaluation may be recorded since).
  private lastLoss: number | undefined;
  // The last step, if --log-every did not log it (its loss holds until the next step).
  private unlogged: { loss: Tensor; epoch: number } | undefined;

  constructor(private readonly s: RunSetup) {
    this.progress = new Progress(s.stdout, s.opts.batchSize);
    ({ epoch: this.epoch, stepInEpoch: this.stepInEpoch } = s);
    if (s.resumed) s.guard.saved(s.trainer.step);
  }

  /** Whether the run stops after this step: a Ctrl-C, SIGTERM or SIGHUP, or a failed append to the metrics log. */
  private get stopping(): boolean {
    return this.s.guard.interrupted || this.s.log.broken;
  }

  /**
   * Trains to the end of the run or to a Ctrl-C, SIGTERM or SIGHUP, and saves; returns the exit
   * code (0, or RunGuard's: 130, 143 or 129). Once: the run's position moves on as it goes.
   */
  async run(): Promise<number> {
    const { trainer, opts, total, guard, log } = this.s;
    // Replay the generator's draws for the epochs already done (their orders and augmentations),
    // so the run continues exactly.
    for (let e = 0; e < this.epoch; e++) {
      trainer.epochOrder();
      trainer.skipAugmentation(trainer.size);
    }
    this.start = performance.now();
    this.mark = { t: this.start, samples: 0 };
    const startStep = trainer.step;
    let last: Evaluation | undefined;
    for (; this.epoch < opts.epochs && trainer.step < total && !this.stopping; this.epoch++, this.stepInEpoch = 0) {
      last = (await this.trainEpoch()) ?? last;
      if (this.stopping || trainer.step >= total) break;
    }
    // A Ctrl-C stops where --log-every may not log: logged, so a resumed run's time goes on from there.
    if (guard.interrupted && this.unlogged && !log.broken) await this.logLoss(this.unlogged.loss, this.unlogged.epoch);
    if (log.broken) return this.saveAfterLogFailure();
    this.progress.clear();
    const ran = trainer.step - startStep;
    if (guard.interrupted && ran === 0) {
      this.print(NOTHING_RAN);
      return guard.exitCode;
    }
    await this.save();
    this.report(ran, last);
    // A Ctrl-C during the last steps stops nothing but the last evaluation: the run is complete.
    if (guard.interrupted && trainer.step < total) {
      // (--init started the weights, which the checkpoint now holds: --resume takes them from there.)
      this.print(`interrupted at step ${trainer.step}; continue with the same command${this.s.opts.init === undefined ? '' : ' without --init'} and --resume`);
      return guard.exitCode;
    }
    if (guard.interrupted && this.evaluatedAt !== trainer.step) {
      this.print(`interrupted; the checkpoint holds all ${trainer.step} steps, not evaluated (fovea eval --checkpoint ${this.s.paths.model} measures it)`);
      return guard.exitCode;
    }
    return 0;
  }

  /**
   * The metrics log could not be appended to (a full disk): the work so far is saved if it can
   * be, and the failure thrown, naming the log and what the checkpoint file keeps.
   */
  private async saveAfterLogFailure(): Promise<never> {
    const { trainer, guard, log } = this.s;
    this.progress.clear();
    let failed = '';
    try {
      await this.save();
    } catch (e) {
      failed = `saving step ${trainer.step} failed too (${e instanceof Error ? e.message : String(e)}); `;
    }
    throw log.failure(`${failed}${guard.kept()}`)!;
  }

  private print(s: string): void {
    this.s.stdout.write(`${s}\n`);
  }

  /** Steps to the end of the epoch (or of the run, or to a stop); at its end, evaluates and saves. */
  private async trainEpoch(): Promise<Evaluation | undefined> {
    const { trainer, total } = this.s;
    const spe = trainer.stepsPerEpoch;
    const order = trainer.epochOrder();
    // A run resumed within the epoch: the augmentation of its steps already taken is replayed too.
    trainer.skipAugmentation(Math.min(this.stepInEpoch * this.s.opts.batchSize, trainer.size));
    const epochStart = performance.now();
    const epochSamples = this.samplesDone;
    while (this.stepInEpoch < spe && trainer.step < total && !this.stopping) await this.step(order);
    if (this.stepInEpoch < spe && trainer.step < total) return undefined;
    // The epoch's last steps may still be queued: they are training time, not evaluation's.
    await trainer.rt.sync();
    const secs = (performance.now() - epochStart) / 1000;
    const samples = this.samplesDone - epochSamples;
    // Evaluating and saving are not training: the next logged rate leaves them out.
    const paused = performance.now();
    const ev = await this.evaluate(this.epoch + 1);
    this.progress.message(
      `epoch ${this.epoch + 1}${this.stepInEpoch >= spe ? ' done' : ` stopped at step ${this.stepInEpoch}/${spe}`}: ${secs.toFixed(1)} s, ${(samples / secs).toFixed(1)} samples/s; ` +
        (ev ? `test accuracy ${pct(ev.accuracy)} (${Math.round(ev.accuracy * ev.count)}/${ev.count}), test loss ${ev.loss.toFixed(4)}` : 'not evaluated (stopped by a signal)') +
        // The rate of the epoch's last step, where a schedule changes it (0.7² shows as 0.49).
        (scheduled(this.s.opts) ? `; lr ${Number(this.s.schedule.lrAt(trainer.step - 1).toPrecision(6))}` : ''),
    );
    // Each finished epoch is kept should a later one fail; the last is saved by run().
    if (this.stepInEpoch >= spe && trainer.step < total && !this.stopping) await this.save();
    this.mark.t += performance.now() - paused;
    return ev;
  }

  /** One training step on the next batch of `order`, its loss read back every --log-every steps. */
  private async step(order: Uint32Array): Promise<void> {
    const { trainer, opts, total } = this.s;
    const lo = this.stepInEpoch * opts.batchSize;
    const batch = order.subarray(lo, Math.min(lo + opts.batchSize, trainer.size));
    const loss = await trainer.trainStep(batch);
    this.s.schedule.step();
    this.stepInEpoch++;
    this.samplesDone += batch.length;
    // NOTE: at most a few steps queued on the GPU, so progress and Ctrl-C follow it
    // closely; once a step's time is learned, settle() paces by timers, without a GPU
    // query (see runtime/timeline.ts).
    await trainer.rt.settle(2);
    const epoch = this.epoch + 1;
    if (trainer.step % opts.logEvery === 0 || trainer.step === total) {
      await this.logLoss(loss, epoch);
      this.unlogged = undefined;
    } else {
      this.unlogged = { loss, epoch };
      const state = { step: trainer.step, total, epoch, epochs: opts.epochs, ...this.rateShown() };
      this.progress.step({ ...state, ...(this.lastLoss !== undefined ? { loss: this.lastLoss } : {}), ...(this.rate ? { samplesPerSec: this.rate } : {}) });
    }
  }

  // Reads a step's loss back and records it, with the training rate since the last record.
  private async logLoss(loss: Tensor, epoch: number): Promise<void> {
    const { trainer, opts, total } = this.s;
    const value = await loss.item();
    this.lastLoss = value;
    const now = performance.now();
    const rate = (this.samplesDone - this.mark.samples) / ((now - this.mark.t) / 1000);
    this.rate = rate;
    this.mark = { t: now, samples: this.samplesDone };
    const lr = this.rateShown();
    this.s.log.record({ step: trainer.step, epoch, loss: value, ...lr, samplesPerSec: rate, elapsedSec: this.s.log.elapsedBefore + (now - this.start) / 1000 });
    this.progress.logged({ step: trainer.step, total, epoch, epochs: opts.epochs, loss: value, ...lr, samplesPerSec: rate });
    if (!Number.isFinite(value)) throw this.diverged(`the loss is ${value}`);
  }

  /** The last step's learning rate, where a schedule changes it, as logged and shown. */
  private rateShown(): { lr?: number } {
    return scheduled(this.s.opts) ? { lr: this.s.schedule.lrAt(this.s.trainer.step - 1) } : {};
  }

  /** Evaluates on the test set (time not counted as training) and records it; undefined where a signal stopped it. */
  private async evaluate(epoch: number): Promise<Evaluation | undefined> {
    const { trainer, test, opts, guard } = this.s;
    const t = performance.now();
    let ev: Evaluation;
    try {
      ev = await trainer.evaluate(test, opts.evalLimit, { signal: guard.signal });
    } catch (e) {
      if (guard.signal.aborted) return undefined; // Ctrl-C: the checkpoint is saved without it
      throw e;
    } finally {
      this.evalSecs += (performance.now() - t) / 1000;
    }
    this.evaluatedAt = trainer.step;
    this.s.log.record({ epoch, step: trainer.step, testAccuracy: ev.accuracy, testLoss: ev.loss });
    return ev;
  }

  /** The error that stops a run whose loss or weights are no longer finite, saying what is kept. */
  private diverged(what: string): DivergedError {
    const { trainer, opts, guard } = this.s;
    this.progress.clear();
    // An earlier run's checkpoint at --out is still there: not "nothing".
    const kept = guard.kept();
    // Adam's eps 0 gives 0/0 wherever a gradient is 0, whatever the learning rate.
    const advice =
      opts.optimizer === 'adam' && opts.eps === 0
        ? 'with --eps 0, Adam divides 0 by 0 where a gradient is 0: give --eps a positive value'
        : this.s.resumed
          ? 'a run from the start with a smaller --lr may help'
          : 'a smaller --lr may help';
    return new DivergedError(`training diverged by step ${trainer.step}: ${what}; ${kept} (${advice})`);
  }

  /** Saves the checkpoint, its optimizer state, the metrics log and the plot. */
  private async save(): Promise<void> {
    const t = performance.now();
    try {
      await this.saveFiles();
    } finally {
      this.saveSecs += (performance.now() - t) / 1000;
    }
  }

  // save()'s work, timed there.
  private async saveFiles(): Promise<void> {
    const { trainer, opts, paths, dataDir, log, guard } = this.s;
    // eval and predict refuse such weights; a resumed run would only carry the NaNs on.
    const bad = nonFinite(await trainer.model.state());
    if (bad) throw this.diverged(`parameter ${bad}`);
    // A finished epoch is saved as the start of the next one.
    const pos = this.stepInEpoch >= trainer.stepsPerEpoch ? { epoch: this.epoch + 1, stepInEpoch: 0 } : { epoch: this.epoch, stepInEpoch: this.stepInEpoch };
    await guard.whileSaving(async () => {
      await saveCheckpoint(paths.model, trainer.model, {
        optimizer: trainer.optimizer,
        position: {
          ...pos,
          seed: opts.seed,
          batchSize: opts.batchSize,
          shuffle: opts.shuffle,
          dataDir,
          initialLr: opts.lr,
          lrSchedule: opts.lrSchedule,
          lrGamma: opts.lrGamma,
          warmupSteps: opts.warmupSteps,
          ...(spansRun(opts) ? { scheduleSteps: this.s.span } : {}),
          labelSmoothing: opts.labelSmoothing,
          ...(opts.maxGradNorm === undefined ? {} : { maxGradNorm: opts.maxGradNorm }),
          ...(opts.augment ? { augment: opts.augment } : {}),
        },
      });
      guard.saved(trainer.step); // kept, should the log or the plot fail next
      try {
        await log.save();
        await writeFileAtomic(paths.plot, new TextEncoder().encode(trainingPlot(log.losses, log.evals, `fovea training: ${paths.model}`)));
      } catch (e) {
        // A full disk may stop the log or the plot after the checkpoint is written: say it is.
        if (e instanceof FileWriteError) throw new FileWriteError(e.path, e.code, e.detail, `${e.kept}; ${guard.kept()}`);
        throw e;
      }
    });
    // A failed append, reported after this save, is reported by a quit too.
    guard.quitIfAsked(`${paths.model} at step ${trainer.step}`, log.failure(guard.kept()));
  }

  /** The closing lines: time, speed, final accuracy and the files written. */
  private report(ran: number, last: Evaluation | undefined): void {
    const { paths, log } = this.s;
    const secs = (performance.now() - this.start) / 1000 - this.evalSecs - this.saveSecs;
    const took = secs < 60 ? `${secs.toFixed(1)} s` : `${formatDuration(secs)} (${secs.toFixed(1)} s)`;
    this.print(
      `trained ${ran} step${ran === 1 ? '' : 's'} (${this.samplesDone} images) in ${took}, ${(this.samplesDone / secs).toFixed(1)} samples/s, plus ${this.evalSecs.toFixed(1)} s evaluating and ${this.saveSecs.toFixed(1)} s saving`,
    );
    // One measured before the last step (the last evaluation stopped by a signal) says when.
    const when = this.evaluatedAt === this.s.trainer.step ? 'final test accuracy' : `test accuracy at step ${this.evaluatedAt}`;
    if (last) this.print(`${when} ${pct(last.accuracy)} on ${last.count} test images (test loss ${last.loss.toFixed(4)})`);
    this.print(`saved ${paths.model} and ${paths.optimizer}; metrics ${log.path}; plot ${paths.plot}`);
  }
}
