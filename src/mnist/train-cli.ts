// `fovea train`: trains a model (default: the seed tutorial's CNN) on MNIST with the seed's
// settings unless told otherwise, reading the loss back only every --log-every steps. Writes
// the checkpoint and its optimizer state (atomically, after every epoch and at the end), a JSONL
// metrics log and an SVG of the curves next to the checkpoint. --resume continues from a
// checkpoint bit-identically: the generator redraws the initialisation and the completed
// epochs' orders before training goes on, so the data order is the one an uninterrupted run
// would have used. train() sets the run up in steps: ./train-outputs.ts checks where it writes,
// ./run-guard.ts holds the locks and the signals, ./train-inputs.ts reads what it needs, and
// ./training-run.ts trains, saving with ./metrics-log.ts.
import { checkSpecFile, describeOptimizer, stateArguments } from '../model/checkpoint.js';
import { modelWithWeights } from '../model/checkpoint-format.js';
import { Model } from '../model/model.js';
import { TorchGenerator } from '../model/random.js';
import { DeviceLimitError, FileFormatError } from '../runtime/errors.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import { MetricsLog } from './metrics-log.js';
import type { CommandIO } from './progress.js';
import { RunGuard } from './run-guard.js';
import { Trainer } from './trainer.js';
import { readInputs, type TrainInputs } from './train-inputs.js';
import type { LRScheduler } from '../model/lr-scheduler/index.js';
import { ONE_CYCLE_MOMENTUM } from '../model/lr-scheduler/cyclic.js';
import { describeSchedule, runSchedule, spansRun } from './lr-schedule.js';
import { chosenNames, describeAugment, exemptNames, FlagError, sameNames, type TrainOptions } from './train-options.js';
import { checkOutputs, type TrainOutputs } from './train-outputs.js';
import { NOTHING_RAN, TrainingRun } from './training-run.js';

export { FlagError, type TrainOptions } from './train-options.js';
export { DivergedError } from './training-run.js';

type Print = (s: string) => void;

/** Runs `fovea train`; returns the exit code (0, or 130 when interrupted, 143 on SIGTERM, 129 on SIGHUP). */
export async function train(input: TrainOptions, io: CommandIO): Promise<number> {
  const print: Print = (s) => io.stdout.write(`${s}\n`);
  if (input.resume && input.init !== undefined) throw new FlagError('--init', '--init cannot be combined with --resume (the weights come from the checkpoint)');
  const outputs = checkOutputs(input);
  // One run at a time writes these outputs (two would each overwrite the other's checkpoint);
  // taken before --resume reads them, which a run saving meanwhile would show half-saved.
  const guard = RunGuard.take(outputs, io.stderr);
  try {
    // Every input file is read and checked before the GPU is touched (whether it fits the model,
    // once the model is built).
    const inputs = await readInputs(input, outputs.paths.model);
    const { opts, resumed } = inputs;
    // A Ctrl-C or SIGTERM while the files were read: nothing has run.
    if (guard.interrupted) {
      print(NOTHING_RAN);
      return guard.exitCode;
    }
    const rt = await createRuntime();
    try {
      printAdapter(rt, print);
      const trainer = await createTrainer(rt, inputs, print);
      // Where the run starts: the resumed checkpoint's position, or the beginning.
      const { epoch, stepInEpoch } = resumed?.position ?? { epoch: 0, stepInEpoch: 0 };
      const total = Math.min(opts.steps ?? Infinity, opts.epochs * trainer.stepsPerEpoch);
      const span = scheduleSpan(trainer, inputs);
      const schedule = runSchedule(trainer.optimizer, opts, trainer.stepsPerEpoch, span);
      schedule.load({ lastEpoch: trainer.step });
      // A resumed run already at its end has nothing to do (announceRun says so): done.
      if (!announceRun(trainer, inputs, outputs, { epoch, stepInEpoch, total, span, schedule }, print)) return 0;
      const log = MetricsLog.open(outputs.metrics, resumed ? trainer.step : undefined);
      try {
        const { data, dataDir } = inputs;
        const run = new TrainingRun({ trainer, schedule, span, epoch, stepInEpoch, total, resumed: !!resumed, test: data.test, opts, paths: outputs.paths, dataDir, log, guard, stdout: io.stdout });
        return await run.run();
      } finally {
        log.close();
      }
    } finally {
      rt.dispose();
    }
  } finally {
    guard.stop();
  }
}

/** Names the adapter, with a hint when it is a CPU one. */
function printAdapter(rt: Runtime, print: Print): void {
  const a = rt.adapter;
  print(`adapter: ${[a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown'}${a.description ? ` (${a.description})` : ''}`);
  if (a.software) print('  a CPU adapter (WebGPU in software): on a GPU (on Linux, through its Vulkan driver) training runs tens of times faster');
}

/** Builds the model (printing its summary) and its trainer, at the resumed checkpoint's step if any, with the test set uploaded. */
async function createTrainer(rt: Runtime, { opts, resumed, spec, weights, data }: TrainInputs, print: Print): Promise<Trainer> {
  checkSpecFile(rt, spec, opts.model);
  const gen = new TorchGenerator(opts.seed);
  // The generator draws the initialisation first in every case, so shuffling is unaffected.
  const model = weights ? modelWithWeights(rt, spec, weights.tensors, weights.file, weights.assumed, { generator: gen }) : Model.create(rt, spec, { generator: gen });
  print(model.summary());
  const names = [...model.parameters.keys()];
  const frozen = frozenNames(opts, resumed, names);
  if (frozen.length) print(`frozen, left as they are: ${frozen.join(', ')}`);
  for (const name of frozen) model.parameters.get(name)!.requiresGrad = false;
  const trained = names.filter((n) => !frozen.includes(n));
  // A frozen parameter is in no group: exempting it leaves the groups as they are.
  const noWeightDecay = resumed ? savedGroups(resumed, trained) : exemptNames(opts.noWeightDecay ?? [], names).filter((n) => trained.includes(n));
  let trainer: Trainer;
  try {
    trainer = await Trainer.create(rt, model, data.train, {
      batchSize: opts.batchSize,
      optimizer: opts.optimizer,
      lr: opts.lr,
      // (OneCycleLR sets SGD's momentum, from 0.95, as it is made: --nesterov takes that.)
      ...(opts.optimizer === 'sgd' ? { momentum: opts.lrSchedule === 'onecycle' && opts.momentum === 0 ? ONE_CYCLE_MOMENTUM.max : opts.momentum, dampening: opts.dampening, nesterov: opts.nesterov }
      : opts.optimizer === 'adadelta' ? { rho: opts.rho, eps: opts.eps }
      : opts.optimizer === 'rmsprop' ? { alpha: opts.alpha, eps: opts.eps, momentum: opts.momentum, centered: opts.centered }
      : opts.optimizer === 'adagrad' ? { lrDecay: opts.lrDecay, eps: opts.eps, initialAccumulatorValue: opts.initialAccumulatorValue }
      : opts.optimizer === 'nadam' ? { betas: opts.betas, eps: opts.eps, momentumDecay: opts.momentumDecay }
      : { betas: opts.betas, eps: opts.eps }),
      weightDecay: opts.weightDecay,
      ...(noWeightDecay.length ? { noWeightDecay } : {}),
      labelSmoothing: opts.labelSmoothing,
      ...(opts.maxGradNorm === undefined ? {} : { maxGradNorm: opts.maxGradNorm }),
      // The generator PyTorch's global one would be: it shuffles (or not) and augments.
      generator: gen,
      shuffle: opts.shuffle,
      ...(opts.augment ? { augment: opts.augment } : {}),
    });
  } catch (e) {
    // An intermediate of the step too large for the device: the batch made it so (the dataset
    // itself, uploaded first, is named 'tensor' by the runtime's check). A batch size taken
    // from a resumed checkpoint is the file's, not a flag the user gave.
    if (e instanceof DeviceLimitError && e.op !== 'tensor') {
      if (resumed && !opts.given.has('--batch-size')) {
        throw new DeviceLimitError(resumed.opt.path, `the batch size ${opts.batchSize} saved there is too large for this device (${e.message})`, e.shapes);
      }
      throw new FlagError('--batch-size', `--batch-size ${opts.batchSize} is too large for this device (${e.message})`);
    }
    throw e;
  }
  // Uploading the test set checks it fits the model now, not after an epoch of training.
  trainer.evaluator.upload(data.test);
  if (resumed) {
    trainer.optimizer.loadState(...stateArguments(trainer.optimizer, resumed.opt));
    trainer.step = resumed.opt.state.stepCount;
  }
  return trainer;
}

/** The parameters without weight decay in a resumed optimizer file, whose groups must hold the model's parameters `names`. */
/**
 * The parameters --freeze chooses; on --resume, those the saved optimizer state holds nothing
 * for (it was made without them), a --freeze choosing others refused.
 */
function frozenNames(opts: TrainOptions, resumed: TrainInputs['resumed'], names: readonly string[]): string[] {
  const chosen = opts.freeze ? chosenNames('--freeze', opts.freeze, names) : [];
  if (chosen.length === names.length) throw new FlagError('--freeze', `--freeze ${opts.freeze!.join(',')} chooses every parameter of the model (${names.length}): nothing would be trained`);
  if (!resumed) return chosen;
  const keys = [...resumed.opt.tensors.keys()];
  // State is saved as <parameter name>.<state name>, a state name without dots.
  const saved = names.filter((n) => !keys.some((k) => k.startsWith(`${n}.`) && !k.slice(n.length + 1).includes('.')));
  if (opts.given.has('--freeze') && !sameNames(chosen, saved)) {
    const shown = saved.length ? `--freeze ${saved.join(',')}` : 'every parameter trained';
    throw new FlagError('--freeze', `--freeze conflicts with the checkpoint being resumed (${resumed.opt.path} has ${shown}); --resume continues with the saved settings`);
  }
  return saved;
}

function savedGroups({ opt }: NonNullable<TrainInputs['resumed']>, names: readonly string[]): readonly string[] {
  const groups = opt.state.paramGroups?.map((g) => g.params) ?? [names];
  const stray = groups.flat().filter((n) => !names.includes(n));
  const left = names.filter((n) => !groups.some((g) => g.includes(n)));
  if (stray.length || left.length) {
    const why = [stray.length ? `names ${stray.join(', ')}, which the model does not have` : '', left.length ? `leaves out ${left.join(', ')}` : ''].filter(Boolean).join(' and ');
    throw new FileFormatError(opt.path, undefined, `its parameter groups do not fit the model: the list ${why}`);
  }
  return groups[1] ?? [];
}

/**
 * The steps the schedule spans: the run's epochs' (--steps only stops it early). A resumed
 * cosine keeps its own, which --epochs must give again: the rates depend on it.
 */
function scheduleSpan(trainer: Trainer, { opts, resumed }: TrainInputs): number {
  const spe = trainer.stepsPerEpoch;
  const span = opts.epochs * spe;
  if (!spansRun(opts)) return span;
  // The span is saved in the checkpoint (scheduleSteps), an integer it must hold exactly.
  if (!Number.isSafeInteger(span)) throw new FlagError('--epochs', `--epochs ${opts.epochs} gives the ${opts.lrSchedule} schedule ${span} steps (${spe} each), more than can be counted exactly (${Number.MAX_SAFE_INTEGER}); give fewer`);
  const saved = resumed?.position?.scheduleSteps;
  if (saved !== undefined && saved !== span) {
    throw new FlagError('--epochs', `--epochs ${opts.epochs} gives the run ${span} steps (${spe} each), where the ${opts.lrSchedule} schedule of the checkpoint being resumed (${resumed!.opt.path}) spans ${saved}: give the --epochs it began with`);
  }
  if (opts.warmupSteps >= span) {
    throw new FlagError('--warmup-steps', `--warmup-steps ${opts.warmupSteps} leaves no step for the cosine schedule: the run has ${span} steps (--epochs ${opts.epochs}, ${spe} each)`);
  }
  return span;
}

/**
 * Prints the run's settings and where it starts and ends; false when the checkpoint being
 * resumed is already at the end (nothing to do).
 */
function announceRun(trainer: Trainer, { opts, resumed, dataDir, data }: TrainInputs, { paths, metrics }: TrainOutputs, at: { epoch: number; stepInEpoch: number; total: number; span: number; schedule: LRScheduler }, print: Print): boolean {
  const spe = trainer.stepsPerEpoch;
  const { total } = at;
  const testCount = data.test.labels.length;
  const evalCount = Math.min(opts.evalLimit ?? testCount, testCount);
  // Every hyperparameter, as the checkpoint saves it, whether set by a flag, a resumed file or
  // the optimizer's defaults; lr the schedule's first (the one --lr gives).
  const hyper = Object.entries({ ...describeOptimizer(trainer.optimizer).hyperparameters, lr: opts.lr }).map(
    ([k, v]) => `${k === 'weightDecay' ? 'weight decay' : k} ${Array.isArray(v) ? v.join(',') : String(v)}`,
  );
  const exempt = trainer.optimizer.paramGroups[1]?.params.map((p) => [...trainer.model.parameters].find(([, q]) => q === p)![0]);
  const optimizerText = `${opts.optimizer} (${hyper.join(', ')}${exempt ? `, none on ${exempt.join(', ')}` : ''}${describeSchedule(opts, at.schedule, at.span)})`;
  const lossText = `${opts.labelSmoothing ? `, label smoothing ${opts.labelSmoothing}` : ''}${opts.maxGradNorm === undefined ? '' : `, gradients clipped to norm ${opts.maxGradNorm}`}${opts.augment ? `, ${describeAugment(opts.augment)}` : ''}`;
  print(
    [
      `settings: epochs ${opts.epochs}, steps ${total} (${spe} per epoch), batch size ${opts.batchSize}, optimizer ${optimizerText}${lossText}, seed ${opts.seed}, shuffle ${opts.shuffle ? 'on' : 'off'}`,
      `data: ${dataDir} (${data.train.labels.length} training, ${data.test.labels.length} test images)`,
      `output: ${paths.model} (+ ${paths.optimizer}), metrics ${metrics}, plot ${paths.plot}; loss read every ${opts.logEvery} steps${evalCount < testCount ? `, evaluation on the first ${evalCount} test images` : ''}`,
    ].join('\n'),
  );
  if (resumed) print(`resuming at step ${trainer.step} (epoch ${at.epoch + 1}, step ${at.stepInEpoch} of ${spe})`);
  if (trainer.step >= total) {
    const limit = opts.steps !== undefined && opts.steps <= opts.epochs * spe ? `--steps ${opts.steps}` : `--epochs ${opts.epochs}, ${spe} steps each`;
    print(`nothing to do: already at step ${trainer.step}; the run ends at step ${total} (${limit})`);
    return false;
  }
  if (opts.lrSchedule === 'onecycle' && opts.given.has('--betas') && opts.betas) {
    print(`note: --lr-schedule onecycle cycles the first beta (0.95 to 0.85 and back), as PyTorch's OneCycleLR: of --betas ${opts.betas.join(',')}, the second is taken`);
  }
  if (opts.steps !== undefined && opts.steps > total) {
    print(`note: --steps ${opts.steps} goes past the end of epoch ${opts.epochs} (${spe} steps each): stopping at step ${total}; --epochs sets how many epochs`);
  }
  return true;
}
