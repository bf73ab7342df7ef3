// `fovea train`: trains a model (default: the seed tutorial's CNN) on MNIST with the seed's
// settings unless told otherwise, reading the loss back only every --log-every steps. Writes
// the checkpoint and its optimizer state (atomically, after every epoch and at the end), a JSONL
// metrics log and an SVG of the curves next to the checkpoint. --resume continues from a
// checkpoint bit-identically: the generator redraws the initialisation and the completed
// epochs' orders before training goes on, so the data order is the one an uninterrupted run
// would have used.
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkpointPaths, describeOptimizer, readCheckpoint, readOptimizerState, resolveSpec, saveCheckpoint, type OptimizerCheckpoint, type Checkpoint } from '../model/checkpoint.js';
import { FileWriteError, lockFor, writeFileAtomic } from '../model/files.js';
import { Model } from '../model/model.js';
import { TorchGenerator } from '../model/random.js';
import { nonFinite, requireFinite } from '../model/checkpoint-format.js';
import { DeviceLimitError, FileFormatError, FoveaError, SpecError } from '../runtime/errors.js';
import { createRuntime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import { defaultMnistDir, loadMnistDir, MnistNotFoundError } from './files.js';
import { trainingPlot, type EvalPoint, type LossPoint } from './plot.js';
import { formatDuration, Progress, type ProgressSink } from './progress.js';
import { stepsPerEpoch, Trainer, type Evaluation } from './trainer.js';

/**
 * A command-line flag has a bad value, or flags conflict; the CLI exits with code 2. `path` is
 * the flag (`--lr`); the message is the whole sentence (`--lr must be a non-negative number, got "x"`).
 */
export class FlagError extends SpecError {
  override name = 'FlagError';
  constructor(flag: string, message: string) {
    super(flag, message);
    this.message = message;
  }
}

/** The loss or the weights became NaN or infinite: training stops, and saves nothing more. */
export class DivergedError extends FoveaError {
  override name = 'DivergedError';
}

export interface TrainOptions {
  model?: string;
  data?: string;
  epochs: number;
  steps?: number;
  batchSize: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  momentum: number;
  /** SGD's dampening and Nesterov, Adam's betas and eps; undefined: the optimizer's default. */
  dampening?: number;
  nesterov?: boolean;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay: number;
  seed: number;
  shuffle: boolean;
  init?: string;
  out: string;
  metrics?: string;
  resume: boolean;
  logEvery: number;
  evalLimit?: number;
  /** Flags given on the command line (the rest are defaults), as `--name`. */
  given: ReadonlySet<string>;
}

export interface CommandIO {
  stdout: ProgressSink;
  stderr: ProgressSink;
}

type MetricsRecord = { step: number; epoch: number; loss: number; samplesPerSec: number; elapsedSec: number } | { epoch: number; step: number; testAccuracy: number; testLoss: number };

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

// The flags one optimizer takes.
const ONLY_FOR: Record<string, TrainOptions['optimizer']> = { '--momentum': 'sgd', '--dampening': 'sgd', '--nesterov': 'sgd', '--betas': 'adam', '--eps': 'adam' };

/** On --resume, the saved settings win; a flag given with another value is an error. */
function resumeSettings(opts: TrainOptions, saved: OptimizerCheckpoint): TrainOptions {
  const s = saved.state;
  // Checked when read (readOptimizerState): a file without an lr is a FileFormatError.
  const h = s.hyperparameters;
  const sgd = 'momentum' in h ? h : undefined;
  const adam = 'betas' in h ? h : undefined;
  const settings = {
    batchSize: s.batchSize,
    optimizer: s.optimizer,
    lr: h.lr,
    momentum: sgd?.momentum,
    dampening: sgd?.dampening,
    nesterov: sgd?.nesterov,
    betas: adam?.betas as [number, number] | undefined,
    eps: adam?.eps,
    weightDecay: h.weightDecay,
    seed: s.seed,
    shuffle: s.shuffle,
  };
  const flags: [string, keyof typeof settings][] = [
    ['--batch-size', 'batchSize'],
    ['--optimizer', 'optimizer'],
    ['--lr', 'lr'],
    ['--momentum', 'momentum'],
    ['--dampening', 'dampening'],
    ['--nesterov', 'nesterov'],
    ['--betas', 'betas'],
    ['--eps', 'eps'],
    ['--weight-decay', 'weightDecay'],
    ['--seed', 'seed'],
    ['--no-shuffle', 'shuffle'],
  ];
  for (const [flag, key] of flags) {
    const value = settings[key];
    // A flag of the other optimizer than the saved one is refused in train(), by name.
    if (!opts.given.has(flag) || value === undefined || JSON.stringify(opts[key]) === JSON.stringify(value)) continue;
    const shown = flag === '--no-shuffle' ? `shuffle ${s.shuffle ? 'on' : 'off'}` : flag === '--nesterov' ? `Nesterov ${value ? 'on' : 'off'}` : `${flag} ${String(value)}`;
    throw new FlagError(flag, `${flag} conflicts with the checkpoint being resumed (${saved.path} has ${shown}); --resume continues with the saved settings`);
  }
  return { ...opts, ...settings, momentum: settings.momentum ?? opts.momentum };
}

/** Whether `path` is an existing directory (any other failure to stat is left to the write). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Metrics records of an earlier run up to `step` (for --resume), or none. */
function previousMetrics(path: string, step: number): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const out: MetricsRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricsRecord;
      if (typeof r.step === 'number' && r.step <= step) out.push(r);
    } catch {
      // A torn last line from an interrupted run: drop it.
    }
  }
  return out;
}

/** Runs `fovea train`; returns the exit code (0, or 130 when interrupted). */
export async function train(input: TrainOptions, io: CommandIO): Promise<number> {
  const print = (s: string) => io.stdout.write(`${s}\n`);
  if (input.resume && input.init !== undefined) throw new FlagError('--init', '--init cannot be combined with --resume (the weights come from the checkpoint)');
  const paths = checkpointPaths(input.out);
  const metricsPath = input.metrics ?? paths.metrics;
  // Fail now, not after an hour of training, when the outputs cannot be written there.
  for (const file of new Set([paths.model, metricsPath])) {
    const dir = dirname(resolve(file));
    try {
      accessSync(dir, constants.W_OK);
    } catch (e) {
      throw new FileWriteError(file, (e as NodeJS.ErrnoException).code, `its directory ${dir} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not writable'}`);
    }
    if (!isDirectory(dir)) throw new FileWriteError(file, 'ENOTDIR', `${dir} is not a directory`);
  }
  // A directory in an output's place would fail only at the first save, after the training.
  const named: [string, string][] = [
    [paths.model, '--out'],
    [paths.optimizer, `the optimizer state of --out ${input.out}`],
    [paths.plot, `the plot of --out ${input.out}`],
  ];
  const outputs: [string, string][] = [...named, [metricsPath, input.metrics !== undefined ? '--metrics' : `the metrics log of --out ${input.out}`]];
  for (const [file, what] of outputs) {
    if (isDirectory(file)) throw new FileWriteError(file, 'EISDIR', `it is an existing directory (${what})`);
  }
  // Only --metrics can land on another output (the rest are named after --out), or on an input
  // file: it is written with the first save.
  const inputs: [string | undefined, string][] = [
    [input.init, '--init'],
    [input.model, '--model'],
  ];
  const clash = [...named, ...inputs].find(([file]) => file !== undefined && resolve(file) === resolve(metricsPath));
  if (clash) {
    const metrics = input.metrics !== undefined ? `--metrics ${input.metrics}` : `the metrics log of --out ${input.out} (${metricsPath})`;
    throw new FlagError(input.metrics !== undefined ? '--metrics' : '--out', `${metrics} is also ${clash[1]}: one would overwrite the other`);
  }

  let interrupted = false;
  let metricsFd: number | undefined; // the metrics log, once the first save has written it
  let saving = false;
  let quit: number | undefined; // the exit code, once asked to quit during a save
  // A checkpoint cut off mid-save would be lost with the run: one being saved is finished first.
  const quitNow = (code: number, why: string) => {
    if (!saving) process.exit(code);
    quit = code;
    io.stderr.write(`\nfovea train: ${why}; quitting once the checkpoint being saved is written\n`);
  };
  const onSigint = () => {
    if (interrupted) return quitNow(130, 'interrupted again');
    interrupted = true;
    io.stderr.write('\nfovea train: interrupted; stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n');
  };
  // A closed terminal or a stopped container: quit as a second Ctrl-C does (the lock released).
  const onTerminate = (signal: NodeJS.Signals) => quitNow(128 + (signal === 'SIGHUP' ? 1 : 15), signal);
  // One run at a time writes these outputs (two would each overwrite the other's checkpoint);
  // taken before --resume reads them, which a run saving meanwhile would show half-saved.
  const release = lockFor(paths.model);
  const stop = () => {
    process.off('SIGINT', onSigint);
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, onTerminate);
    process.off('exit', release);
    release();
  };
  process.on('exit', release); // a Ctrl-C that quits at once exits from inside the run
  process.on('SIGINT', onSigint);
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, onTerminate);
  try {
    // Every input file is read and checked before the GPU is touched (whether it fits the model,
    // once the model is built).
    let resumed: { ckpt: Checkpoint; opt: OptimizerCheckpoint } | undefined;
    let opts = input;
    if (input.resume) {
      const ckpt = await readCheckpoint(paths.model);
      requireFinite(ckpt, paths.model);
      // Its optimizer state may hold infinities (Adam's second moment can overflow while the
      // weights stay finite): the run goes on as it would have without the stop. NaN, which no
      // step saves beside finite weights, is a damaged file.
      const opt = await readOptimizerState(paths.model, ckpt);
      const nan = nonFinite(opt.tensors, true);
      if (nan) throw new FileFormatError(opt.path, undefined, `${nan}, which no training step saves beside finite weights`);
      resumed = { ckpt, opt };
      opts = resumeSettings(input, opt);
    }
    // After --resume has set the optimizer: the saved one counts, not the default. The other
    // optimizer's flags would be silently ignored.
    for (const [flag, kind] of Object.entries(ONLY_FOR)) {
      if (input.given.has(flag) && opts.optimizer !== kind) throw new FlagError(flag, `${flag} applies only to --optimizer ${kind}`);
    }
    if (opts.nesterov && (opts.momentum <= 0 || (opts.dampening ?? 0) !== 0)) {
      throw new FlagError('--nesterov', `--nesterov needs a --momentum above 0 and no --dampening, as PyTorch's (momentum ${opts.momentum}, dampening ${opts.dampening ?? 0})`);
    }
    const init = opts.init !== undefined ? await readCheckpoint(opts.init, 'initial weights') : undefined;
    if (init) requireFinite(init, opts.init!);
    const spec = await resolveSpec(opts.model, resumed?.ckpt ?? init);
    const dataDir = resolve(opts.data ?? resumed?.opt.state.dataDir ?? defaultMnistDir());
    const data = await loadMnistDir(dataDir).catch((e: unknown) => {
      if (!(resumed && opts.data === undefined && e instanceof MnistNotFoundError)) throw e;
      throw new MnistNotFoundError(e.dir, e.tried, `${e.message} (the data directory saved in ${resumed.opt.path}; --data DIR reads another)`);
    });
    if (resumed) {
      const s = resumed.opt.state;
      const spe = stepsPerEpoch(data.train.labels.length, opts.batchSize);
      if (s.stepInEpoch >= spe || s.epoch * spe + s.stepInEpoch !== s.stepCount) {
        throw new SpecError('', `${resumed.opt.path} is at epoch ${s.epoch} step ${s.stepInEpoch} (step ${s.stepCount} in all), which does not fit ${spe} steps per epoch on ${dataDir}`);
      }
    }

    // A Ctrl-C while the files were read: nothing has run.
    if (interrupted) {
      print('interrupted before the first step; nothing saved');
      return 130;
    }
    const rt = await createRuntime();
    try {
      const a = rt.adapter;
      print(`adapter: ${[a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown'}${a.description ? ` (${a.description})` : ''}`);
      if (a.software) print('  a CPU adapter (WebGPU in software): on a GPU (on Linux, through its Vulkan driver) training runs tens of times faster');
      const gen = new TorchGenerator(opts.seed);
      // The generator draws the initialisation first in every case, so shuffling is unaffected.
      const weights = resumed ? { weights: resumed.ckpt.tensors, source: paths.model } : init ? { weights: init.tensors, source: opts.init } : {};
      const model = Model.create(rt, spec, { generator: gen, ...weights });
      print(model.summary());

      const progress = new Progress(io.stdout, opts.batchSize);
      let trainer: Trainer;
      try {
        trainer = await Trainer.create(rt, model, data.train, {
          batchSize: opts.batchSize,
          optimizer: opts.optimizer,
          lr: opts.lr,
          ...(opts.optimizer === 'sgd' ? { momentum: opts.momentum, dampening: opts.dampening, nesterov: opts.nesterov } : { betas: opts.betas, eps: opts.eps }),
          weightDecay: opts.weightDecay,
          ...(opts.shuffle ? { generator: gen } : {}),
        });
      } catch (e) {
        // An intermediate of the step too large for the device: the batch made it so (the dataset
        // itself, uploaded first, is named 'tensor' by the runtime's check). A batch size taken
        // from a resumed checkpoint is the file's, not a flag the user gave.
        if (e instanceof DeviceLimitError && e.op !== 'tensor') {
          if (resumed && !input.given.has('--batch-size')) {
            throw new DeviceLimitError(resumed.opt.path, `the batch size ${opts.batchSize} saved there is too large for this device (${e.message})`, e.shapes);
          }
          throw new FlagError('--batch-size', `--batch-size ${opts.batchSize} is too large for this device (${e.message})`);
        }
        throw e;
      }
      // Uploading the test set checks it fits the model now, not after an epoch of training.
      trainer.evaluator.upload(data.test);
      const spe = trainer.stepsPerEpoch;
      const testCount = data.test.labels.length;
      const evalCount = Math.min(opts.evalLimit ?? testCount, testCount);
      const total = Math.min(opts.steps ?? Infinity, opts.epochs * spe);
      let epoch = 0;
      let stepInEpoch = 0;
      if (resumed) {
        const s = resumed.opt.state;
        trainer.optimizer.loadState(resumed.opt.tensors, s.stepCount, resumed.opt.path);
        trainer.step = s.stepCount;
        ({ epoch, stepInEpoch } = s);
      }
      // Every hyperparameter, as the checkpoint saves it, whether set by a flag, a resumed file or
      // the optimizer's defaults.
      const hyper = Object.entries(describeOptimizer(trainer.optimizer).hyperparameters).map(
        ([k, v]) => `${k === 'weightDecay' ? 'weight decay' : k} ${Array.isArray(v) ? v.join(',') : String(v)}`,
      );
      const optimizerText = `${opts.optimizer} (${hyper.join(', ')})`;
      print(
        [
          `settings: epochs ${opts.epochs}, steps ${total} (${spe} per epoch), batch size ${opts.batchSize}, optimizer ${optimizerText}, seed ${opts.seed}, shuffle ${opts.shuffle ? 'on' : 'off'}`,
          `data: ${dataDir} (${data.train.labels.length} training, ${data.test.labels.length} test images)`,
          `output: ${paths.model} (+ ${paths.optimizer}), metrics ${metricsPath}, plot ${paths.plot}; loss read every ${opts.logEvery} steps${evalCount < testCount ? `, evaluation on the first ${evalCount} test images` : ''}`,
        ].join('\n'),
      );
      if (resumed) print(`resuming at step ${trainer.step} (epoch ${epoch + 1}, step ${stepInEpoch} of ${spe})`);
      if (trainer.step >= total) {
        const limit = opts.steps !== undefined && opts.steps <= opts.epochs * spe ? `--steps ${opts.steps}` : `--epochs ${opts.epochs}, ${spe} steps each`;
        print(`nothing to do: already at step ${trainer.step}; the run ends at step ${total} (${limit})`);
        return 0;
      }
      if (opts.steps !== undefined && opts.steps > total) {
        print(`note: --steps ${opts.steps} goes past the end of epoch ${opts.epochs} (${spe} steps each): stopping at step ${total}; --epochs sets how many epochs`);
      }

      const history = resumed ? previousMetrics(metricsPath, trainer.step) : [];
      const line = (r: MetricsRecord) => `${JSON.stringify(r)}\n`;
      const record = (r: MetricsRecord) => {
        history.push(r);
        if (metricsFd !== undefined) writeSync(metricsFd, line(r));
      };
      // The metrics log goes with the checkpoint: written whole (atomically) with the first save,
      // then line by line. A run that fails before saving leaves the log of the checkpoint on
      // disk as it was.
      const keepLog = async () => {
        if (metricsFd !== undefined) return;
        await writeFileAtomic(metricsPath, new TextEncoder().encode(history.map(line).join('')));
        try {
          metricsFd = openSync(metricsPath, 'a');
        } catch (e) {
          throw new FileWriteError(metricsPath, (e as NodeJS.ErrnoException).code, (e as Error).message);
        }
      };
      const elapsedBefore = history.reduce((m, r) => ('elapsedSec' in r ? Math.max(m, r.elapsedSec) : m), 0);

      let evalSecs = 0;
      const evaluate = async (ep: number): Promise<Evaluation> => {
        const t = performance.now();
        const ev = await trainer.evaluate(data.test, opts.evalLimit);
        evalSecs += (performance.now() - t) / 1000;
        record({ epoch: ep, step: trainer.step, testAccuracy: ev.accuracy, testLoss: ev.loss });
        return ev;
      };
      // The step the checkpoint on disk holds, if any.
      let savedStep = resumed ? trainer.step : undefined;
      const diverged = (what: string) => {
        progress.clear();
        const kept = savedStep !== undefined ? `${paths.model} keeps step ${savedStep}` : 'nothing was saved';
        // Adam's eps 0 gives 0/0 wherever a gradient is 0, whatever the learning rate.
        const advice =
          opts.optimizer === 'adam' && opts.eps === 0
            ? 'with --eps 0, Adam divides 0 by 0 where a gradient is 0: give --eps a positive value'
            : resumed
              ? 'a run from the start with a smaller --lr may help'
              : 'a smaller --lr may help';
        return new DivergedError(`training diverged by step ${trainer.step}: ${what}; ${kept} (${advice})`);
      };
      const save = async () => {
        // eval and predict refuse such weights; a resumed run would only carry the NaNs on.
        const bad = nonFinite(await model.state());
        if (bad) throw diverged(`parameter ${bad}`);
        // A finished epoch is saved as the start of the next one.
        const pos = stepInEpoch >= spe ? { epoch: epoch + 1, stepInEpoch: 0 } : { epoch, stepInEpoch };
        saving = true;
        try {
          await saveCheckpoint(paths.model, model, {
            optimizer: trainer.optimizer,
            position: { ...pos, seed: opts.seed, batchSize: opts.batchSize, shuffle: opts.shuffle, dataDir },
          });
          await keepLog();
          const losses = history.filter((r): r is LossPoint & MetricsRecord => 'loss' in r);
          const evals = history.filter((r): r is EvalPoint & MetricsRecord => 'testAccuracy' in r);
          await writeFileAtomic(paths.plot, new TextEncoder().encode(trainingPlot(losses, evals, `fovea training: ${paths.model}`)));
        } finally {
          saving = false;
        }
        savedStep = trainer.step;
        if (quit !== undefined) {
          io.stderr.write(`fovea train: saved ${paths.model} at step ${trainer.step}; quitting\n`);
          process.exit(quit);
        }
      };

      // Replay the generator's draws for the epochs already done, so the order continues exactly.
      for (let e = 0; e < epoch; e++) trainer.epochOrder();
      const n = trainer.size;
      const start = performance.now();
      const startStep = trainer.step;
      let last: Evaluation | undefined;
      let mark = { t: start, samples: 0 };
      let rate: number | undefined;
      // The last loss read, shown on the steps between reads (an evaluation may be recorded since).
      let lastLoss: number | undefined;
      let samplesDone = 0;
      // Reads a step's loss back and records it, with the rate since the last record.
      const logLoss = async (loss: Tensor, ep: number) => {
        const value = await loss.item();
        lastLoss = value;
        const now = performance.now();
        rate = (samplesDone - mark.samples) / ((now - mark.t) / 1000);
        mark = { t: now, samples: samplesDone };
        record({ step: trainer.step, epoch: ep, loss: value, samplesPerSec: rate, elapsedSec: elapsedBefore + (now - start) / 1000 });
        progress.logged({ step: trainer.step, total, epoch: ep, epochs: opts.epochs, loss: value, samplesPerSec: rate });
        if (!Number.isFinite(value)) throw diverged(`the loss is ${value}`);
      };
      // The last step, if --log-every did not log it (its loss holds until the next step).
      let unlogged: { loss: Tensor; epoch: number } | undefined;
      for (; epoch < opts.epochs && trainer.step < total && !interrupted; epoch++, stepInEpoch = 0) {
        const order = trainer.epochOrder();
        const epochStart = performance.now();
        const epochSamples = samplesDone;
        for (; stepInEpoch < spe && trainer.step < total && !interrupted; ) {
          const lo = stepInEpoch * opts.batchSize;
          const batch = order.subarray(lo, Math.min(lo + opts.batchSize, n));
          const loss = await trainer.trainStep(batch);
          stepInEpoch++;
          samplesDone += batch.length;
          // NOTE: at most a few steps queued on the GPU, so progress and Ctrl-C follow it
          // closely; once a step's time is learned, settle() paces by timers, without a GPU
          // query (see runtime/timeline.ts).
          await rt.settle(2);
          if (trainer.step % opts.logEvery === 0 || trainer.step === total) {
            await logLoss(loss, epoch + 1);
            unlogged = undefined;
          } else {
            unlogged = { loss, epoch: epoch + 1 };
            const state = { step: trainer.step, total, epoch: epoch + 1, epochs: opts.epochs };
            progress.step({ ...state, ...(lastLoss !== undefined ? { loss: lastLoss } : {}), ...(rate ? { samplesPerSec: rate } : {}) });
          }
        }
        if (stepInEpoch >= spe || trainer.step >= total) {
          // The epoch's last steps may still be queued: they are training time, not evaluation's.
          await rt.sync();
          const secs = (performance.now() - epochStart) / 1000;
          const samples = samplesDone - epochSamples;
          last = await evaluate(epoch + 1);
          progress.message(
            `epoch ${epoch + 1}${stepInEpoch >= spe ? ' done' : ` stopped at step ${stepInEpoch}/${spe}`}: ${secs.toFixed(1)} s, ${(samples / secs).toFixed(1)} samples/s; ` +
              `test accuracy ${pct(last.accuracy)} (${Math.round(last.accuracy * last.count)}/${last.count}), test loss ${last.loss.toFixed(4)}`,
          );
          // Each finished epoch is kept should a later one fail; the last is saved below.
          if (stepInEpoch >= spe && trainer.step < total && !interrupted) await save();
        }
        if (interrupted || trainer.step >= total) break;
      }
      // A Ctrl-C stops where --log-every may not log: logged, so a resumed run's time goes on from there.
      if (interrupted && unlogged) await logLoss(unlogged.loss, unlogged.epoch);
      progress.clear();
      const ran = trainer.step - startStep;
      if (interrupted && ran === 0) {
        print('interrupted before the first step; nothing saved');
        return 130;
      }
      await save();
      const secs = (performance.now() - start) / 1000 - evalSecs;
      const took = secs < 60 ? `${secs.toFixed(1)} s` : `${formatDuration(secs)} (${secs.toFixed(1)} s)`;
      print(`trained ${ran} step${ran === 1 ? '' : 's'} (${samplesDone} images) in ${took}, ${(samplesDone / secs).toFixed(1)} samples/s, plus ${evalSecs.toFixed(1)} s evaluating`);
      if (last) print(`final test accuracy ${pct(last.accuracy)} on ${last.count} test images (test loss ${last.loss.toFixed(4)})`);
      print(`saved ${paths.model} and ${paths.optimizer}; metrics ${metricsPath}; plot ${paths.plot}`);
      // A Ctrl-C during the last steps stops nothing: the run is complete.
      if (interrupted && trainer.step < total) {
        print(`interrupted at step ${trainer.step}; continue with the same command and --resume`);
        return 130;
      }
      return 0;
    } finally {
      if (metricsFd !== undefined) closeSync(metricsFd);
      rt.dispose();
    }
  } finally {
    stop();
  }
}
