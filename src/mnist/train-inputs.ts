// What `fovea train` reads before the GPU is touched: the checkpoint and optimizer state of
// --resume, the weights of --init, the model spec and the MNIST directory, each checked as it
// is read (whether the weights fit the model is checked once the model is built).
import { resolve } from 'node:path';
import { readCheckpoint, readOptimizerState, resolveSpec, type Checkpoint, type OptimizerCheckpoint, type TrainingPosition } from '../model/checkpoint.js';
import { nonFinite, requireFinite } from '../model/checkpoint-format.js';
import { FileReadError } from '../model/files.js';
import { NON_NEGATIVE_STATE } from '../model/optim/kinds.js';
import type { ModelOptions } from '../model/model.js';
import type { ModelSpec } from '../model/spec.js';
import { hasControls, quote } from '../model/untrusted.js';
import { FileFormatError, SpecError } from '../runtime/errors.js';
import { defaultMnistDir, loadMnistDir, MnistNotFoundError, type MnistData } from './files.js';
import { stepsPerEpoch } from './trainer.js';
import { checkOptimizerFlags, FlagError, resumeSettings, type TrainOptions } from './train-options.js';

/** A checkpoint being resumed, with its optimizer state and training position. */
export interface Resumed {
  ckpt: Checkpoint;
  opt: OptimizerCheckpoint;
  position: TrainingPosition;
}

export interface TrainInputs {
  /** The options, with the settings saved in a resumed checkpoint in place of the defaults. */
  opts: TrainOptions;
  resumed: Resumed | undefined;
  spec: ModelSpec;
  /**
   * The weights the model starts from, the resumed checkpoint's or --init's, and their file;
   * undefined when they are drawn. `assumed`: the file names no model (one written from
   * PyTorch) and no --model was given, so the seed CNN was taken; a mismatch says so.
   */
  weights: { tensors: ModelOptions['weights']; file: string; assumed: string | undefined } | undefined;
  dataDir: string;
  data: MnistData;
}

/** A missing file of --resume, with what --resume reads and what to do instead. */
function missing(e: unknown, hint: string): unknown {
  return e instanceof FileReadError && e.code === 'ENOENT' ? new FileReadError(e.path, e.what, e.code, `${e.detail}; ${hint}`) : e;
}

/**
 * Refuses parameter groups other than those fovea train makes: one, or with --no-weight-decay
 * two, the second without weight decay and otherwise alike, both as old as the optimizer.
 * Another optimizer's groups go on in a loop of one's own (Optimizer.loadState).
 */
function checkOwnGroups({ path, state }: OptimizerCheckpoint, fromWeights: string): void {
  const groups = state.paramGroups;
  if (!groups) return;
  const rest = ({ params, stepCount, weightDecay, ...h }: (typeof groups)[number]) => JSON.stringify(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : 1)));
  const own = groups.length === 2 && groups[0]!.weightDecay > 0 && groups[1]!.weightDecay === 0 && rest(groups[0]!) === rest(groups[1]!) && groups.every((g) => g.stepCount === state.stepCount);
  if (!own) {
    throw new FileFormatError(
      path,
      undefined,
      `holds ${groups.length} parameter groups with hyperparameters or step counts of their own, which fovea train cannot continue (it makes one group, or with --no-weight-decay a second alike but for its weight decay of 0); resume it with Optimizer.loadState in a loop of your own, or ${fromWeights}`,
    );
  }
}

/** The first optimizer state tensor that is never negative, yet holds a negative value, said; else undefined. */
function negativeMoment(tensors: ReadonlyMap<string, { data: Float32Array }>): string | undefined {
  for (const [name, t] of tensors) {
    if (!NON_NEGATIVE_STATE.includes(name.slice(name.lastIndexOf('.') + 1))) continue;
    const at = t.data.findIndex((v) => v < 0);
    if (at >= 0) return `tensor ${quote(name)} holds ${t.data[at]} at element ${at}`;
  }
  return undefined;
}

/** Reads and checks every input of a run; `modelPath` is the checkpoint --resume reads. */
export async function readInputs(input: TrainOptions, modelPath: string): Promise<TrainInputs> {
  let resumed: Resumed | undefined;
  let opts = input;
  if (input.resume) {
    const ckpt = await readCheckpoint(modelPath, 'checkpoint', { ignoreSpec: input.model !== undefined }).catch((e: unknown) => {
      throw missing(e, '--resume continues the run of fovea train that wrote --out; give that run\'s --out, or leave --resume out to start a new run');
    });
    requireFinite(ckpt, modelPath);
    // Weights without a run's state (saveCheckpoint alone, or PyTorch's) can still be started from.
    const fromWeights = `to start from these weights, use --init ${modelPath} with another --out`;
    // Its optimizer state may hold infinities (Adam's second moment can overflow while the
    // weights stay finite): the run goes on as it would have without the stop. NaN, which no
    // step saves beside finite weights, is a damaged file.
    const opt = await readOptimizerState(modelPath, ckpt).catch((e: unknown) => {
      throw missing(e, `--resume continues a run of fovea train from its checkpoint and the .optim.safetensors saved beside it; ${fromWeights}`);
    });
    const nan = nonFinite(opt.tensors, true);
    if (nan) throw new FileFormatError(opt.path, undefined, `${nan}, which no training step saves beside finite weights`);
    const negative = negativeMoment(opt.tensors);
    if (negative) throw new FileFormatError(opt.path, undefined, `${negative}, which no training step saves: a second moment (a sum of squares) is never negative`);
    if (!opt.position) {
      throw new FileFormatError(
        opt.path,
        undefined,
        `holds no training position (epoch, step, seed, batch size, shuffling, data directory), which --resume continues from: it was saved without one (saveCheckpoint without position); ${fromWeights}`,
      );
    }
    checkOwnGroups(opt, fromWeights);
    resumed = { ckpt, opt, position: opt.position };
    opts = resumeSettings(input, resumed);
  }
  // After --resume has set the optimizer: the saved one counts, not the default.
  checkOptimizerFlags(opts);
  const init = opts.init !== undefined ? await readCheckpoint(opts.init, 'initial weights', { ignoreSpec: opts.model !== undefined }) : undefined;
  if (init) requireFinite(init, opts.init!);
  const spec = await resolveSpec(opts.model, resumed?.ckpt ?? init);
  const dataDir = resolve(opts.data ?? resumed?.position.dataDir ?? defaultMnistDir());
  // saveCheckpoint refuses to record such a path (it is printed as it is on --resume): refused
  // now, not once the first epoch is trained and nothing can be saved.
  if (hasControls(dataDir)) throw new FlagError('--data', `--data ${quote(dataDir)}: the path holds a control character, which a checkpoint cannot record; link the directory under another name`);
  const data = await loadMnistDir(dataDir).catch((e: unknown) => {
    if (!(resumed && opts.data === undefined && e instanceof MnistNotFoundError)) throw e;
    throw new MnistNotFoundError(e.dir, e.tried, `${e.message} (the data directory saved in ${resumed.opt.path}; --data DIR reads another)`);
  });
  if (resumed) {
    const { epoch, stepInEpoch } = resumed.position;
    const { stepCount } = resumed.opt.state;
    const spe = stepsPerEpoch(data.train.labels.length, opts.batchSize);
    if (stepInEpoch >= spe || epoch * spe + stepInEpoch !== stepCount) {
      throw new SpecError('', `${resumed.opt.path} is at epoch ${epoch} step ${stepInEpoch} (step ${stepCount} in all), which does not fit ${spe} steps per epoch on ${dataDir}`);
    }
  }
  const from = resumed ? { ckpt: resumed.ckpt, file: modelPath } : init ? { ckpt: init, file: opts.init! } : undefined;
  const weights = from && { tensors: from.ckpt.tensors, file: from.file, assumed: !from.ckpt.spec && opts.model === undefined ? 'give its model with --model FILE' : undefined };
  return { opts, resumed, spec, weights, dataDir, data };
}
