// Checkpoints on disk (Node-only). The model file is in the browser-safe format of
// ./checkpoint-format.ts (safetensors, PyTorch's state_dict names, the spec in the metadata; or,
// named .pt or .pth, torch.save's, which torch.load reads).
// Training state goes beside it in `<name>.optim.safetensors`: the optimizer's state tensors
// plus string metadata, with (as `fovea train` saves it) where training stood, enough for
// `fovea train --resume` to continue bit-identically:
//
//   optimizer        "adam" | "adamw" | "nadam" | "radam" | "adamax" | "sgd" | "adadelta" | "rmsprop" | "adagrad"
//   hyperparameters  JSON: Adam, AdamW, RAdam and Adamax {lr, betas, eps, weightDecay}; NAdam those and momentumDecay;
//                    SGD {lr, momentum, dampening, weightDecay, nesterov};
//                    Adadelta {lr, rho, eps, weightDecay}; RMSprop {lr, alpha, eps, weightDecay, momentum, centered};
//                    Adagrad {lr, lrDecay, eps, weightDecay, initialAccumulatorValue}
//                    (the first parameter group's, where there are several)
//   paramGroups      JSON, only where there are several groups: each group's hyperparameters as
//                    above, with `params`, the names its parameters' state is saved under, and
//                    `stepCount`, its own (below the optimizer's for a group added later)
//   paramStepCounts  JSON, only where a step left parameters out (frozen): {name: the steps that
//                    updated it}, for those below their group's count (PyTorch's state[p]['step'])
//   stepCount        optimizer steps taken (= training steps)
//   modelSha256      SHA-256 of the model file saved with it (a pair from two saves is refused)
// and the training position, all of it or none:
//   epoch            epochs completed (0-based index of the epoch in progress)
//   stepInEpoch      steps taken in that epoch
//   seed, batchSize, shuffle ("true"/"false"), dataDir
// and, optional (absent: a constant rate), the learning-rate schedule (the current rate is
// hyperparameters.lr, the next step's):
//   initialLr      the first rate (after any warm-up)
//   lrSchedule     "step" (× lrGamma after each epoch), "cosine" (to 0 over scheduleSteps) or
//                  "onecycle" (OneCycleLR peaking at initialLr over scheduleSteps)
//   lrGamma        the step schedule's factor
//   warmupSteps    steps of linear warm-up from initialLr / warmupSteps (absent: 0)
//   scheduleSteps  the steps the cosine or one-cycle schedule spans, a warm-up included
// and, as optional, labelSmoothing, maxGradNorm and augment (JSON: the RandomAffine options the
// training images were augmented with).
//
// Both files are written to temp files and fsynced before either is renamed (./files.ts), so a
// failure while writing leaves the old pair. The renames go model first: one interrupted between
// them leaves the new weights (still usable for eval) beside the old optimizer state, whose hash
// disagrees, which loading reports.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DeviceLimitError, FileFormatError, ShapeError, SpecError } from '../runtime/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import { checkpointBytes, checkpointFormatOf, OPTIMIZER_STATE_KEYS, OPTIMIZER_STATE_SUFFIX, parseCheckpoint, SPEC_KEY, type HostTensor, type ParseCheckpointOptions, type ParsedCheckpoint } from './checkpoint-format.js';
import { readFileChecked, writeFilesAtomic, type AtomicWriteHooks } from './files.js';
import { inferLayers, type Model } from './model.js';
import { RandomAffine, type RandomAffineOptions } from './augment.js';
import { paramName, type Optimizer, type OptimizerKind, type ParamGroup } from './optim/index.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import { MAX_SPEC_CHARS, parseModelSpecJson, SEED_CNN, type ModelSpec } from './spec.js';
import { clean, fileKind, formatPath, hasControls, quote } from './untrusted.js';

export { SPEC_KEY, checkpointBytes, checkpointFormatOf } from './checkpoint-format.js';

/** The files that belong to a checkpoint at `path`. */
export interface CheckpointPaths {
  model: string;
  /** Optimizer state and training position: `model.optim.safetensors` for `model.safetensors`. */
  optimizer: string;
  /** Loss and accuracy curves: `model.svg`. */
  plot: string;
  /** Default metrics log: `model.metrics.jsonl`. */
  metrics: string;
}

/** The paths of the files that belong to a checkpoint at `path` (`model.safetensors` → `model.optim.safetensors`, ...). */
export function checkpointPaths(path: string): CheckpointPaths {
  const base = path.endsWith('.safetensors') ? path.slice(0, -'.safetensors'.length) : path;
  return { model: path, optimizer: `${base}${OPTIMIZER_STATE_SUFFIX}`, plot: `${base}.svg`, metrics: `${base}.metrics.jsonl` };
}

/** Where training stood when a checkpoint was saved (besides the optimizer's own state). */
export interface TrainingPosition {
  /** Epochs completed. */
  epoch: number;
  /** Steps taken in the epoch in progress. */
  stepInEpoch: number;
  seed: number;
  batchSize: number;
  shuffle: boolean;
  dataDir: string;
  /**
   * The learning-rate schedule, if any (the optimizer's own state holds the current rate): the
   * run's first rate, then multiplied by `lrGamma` after each epoch (`lrSchedule` "step") or
   * annealed to 0 by a cosine over `scheduleSteps` steps ("cosine"), after `warmupSteps` steps
   * of linear warm-up.
   */
  initialLr?: number;
  lrSchedule?: 'step' | 'cosine' | 'onecycle';
  lrGamma?: number;
  warmupSteps?: number;
  scheduleSteps?: number;
  /** The loss's label smoothing (absent: 0). */
  labelSmoothing?: number;
  /** The norm gradients were clipped to (absent: not clipped). */
  maxGradNorm?: number;
  /** The augmentation of the training images (absent: none). */
  augment?: RandomAffineOptions;
}

const POSITION_KEYS = ['epoch', 'stepInEpoch', 'seed', 'batchSize', 'shuffle', 'dataDir'] as const satisfies readonly (keyof TrainingPosition)[];

/** The optimizer's side of `<name>.optim.safetensors` (the position is kept apart). */
export interface TrainingState {
  optimizer: OptimizerKind;
  /** The hyperparameters (the first group's, where there are several). */
  hyperparameters: Record<string, unknown>;
  /** Each group's hyperparameters, the names of its parameters and its step count, where there are several groups. */
  paramGroups?: ({ params: string[]; stepCount: number } & Record<string, unknown>)[];
  /** The steps that updated each parameter, by name, where fewer than its group's (it was frozen for some). */
  paramStepCounts?: Record<string, number>;
  stepCount: number;
}

/** Kind and hyperparameters of an optimizer, as saved. */
export function describeOptimizer(opt: Optimizer): Pick<TrainingState, 'optimizer' | 'hyperparameters' | 'paramGroups' | 'paramStepCounts'> {
  const values = ({ params, ...h }: ParamGroup) => ({ ...h, ...('betas' in h ? { betas: [...(h.betas as number[])] } : {}) });
  const names = opt.params.map(paramName);
  const [groupCounts, paramCounts] = [opt.groupStepCounts, opt.paramStepCounts];
  const groups = opt.paramGroups.map((g, i) => ({ params: g.params.map((p) => names[opt.params.indexOf(p)]!), ...values(g), stepCount: groupCounts[i]! }));
  const own = names.flatMap((name, i) => (paramCounts[i]! < groupCounts[opt.groupOf[i]!]! ? [[name, paramCounts[i]!] as const] : []));
  return { optimizer: opt.kind, hyperparameters: values(opt.paramGroups[0]!), ...(groups.length > 1 ? { paramGroups: groups } : {}), ...(own.length ? { paramStepCounts: Object.fromEntries(own) } : {}) };
}

/**
 * The arguments of `opt.loadState` for state read back (readOptimizerState): its tensors, the
 * step count, and each group's and parameter's count where they were saved; a count saved for
 * a parameter this optimizer lacks is refused, naming the file.
 */
export function stateArguments(opt: Optimizer, saved: OptimizerCheckpoint): Parameters<Optimizer['loadState']> {
  const { stepCount, paramGroups, paramStepCounts = {} } = saved.state;
  const groups = paramGroups?.map((g) => g.stepCount);
  const names = opt.params.map(paramName);
  const unknown = Object.keys(paramStepCounts).find((name) => !names.includes(name));
  if (unknown !== undefined) throw new FileFormatError(saved.path, undefined, `metadata "paramStepCounts": a step count for '${unknown}', which the optimizer does not update`);
  const params = names.map((name, i) => paramStepCounts[name] ?? groups?.[opt.groupOf[i]!] ?? stepCount);
  return [saved.tensors, stepCount, saved.path, groups, params];
}

/** Options of saveCheckpoint. */
export interface SaveOptions {
  /** Also save this optimizer's state (and, with `position`, where training stood) beside the model. */
  optimizer?: Optimizer;
  /** Where training stood, with `optimizer` (what `fovea train --resume` continues from). */
  position?: TrainingPosition;
  /** Test seam: how bytes reach the temp files and how they are renamed. */
  hooks?: AtomicWriteHooks;
}

/**
 * Saves a model (and optionally its optimizer state) atomically; see the header for the files.
 * A path ending in .pt or .pth gets torch.save's format (`torch.load(path)` gives the state_dict).
 */
export async function saveCheckpoint(path: string, model: Model, opts: SaveOptions = {}): Promise<void> {
  // What is saved is read as of the call, every read asked for at once: a step or a dispose()
  // asked for before they have run changes none of it, and the step count goes with the state.
  const opt = opts.optimizer;
  const state: TrainingState | undefined = opt && { ...describeOptimizer(opt), stepCount: opt.stepCount };
  const optTensors = opt ? [...opt.stateTensors()] : [];
  const [weights, optData] = await Promise.all([model.state(), Promise.all(optTensors.map(([, t]) => t.read()))]);
  const bytes = checkpointBytes(weights, model.spec, checkpointFormatOf(path));
  let optBytes: Uint8Array | undefined;
  if (state) {
    const tensors = optTensors.map(([name, t], i): [string, HostTensor] => [name, { shape: [...t.shape], data: optData[i] as Float32Array }]);
    const metadata = { ...stateMetadata(state, opts.position), modelSha256: sha256(bytes) };
    // What reading it back would refuse is refused now, before anything is written.
    const r = stateSchema.safeParse(metadata);
    const partial = r.success && positionGap(r.data);
    if (!r.success || partial) {
      const issue = r.success ? { path: [partial], message: 'a training position needs every field' } : r.error.issues[0]!;
      const key = String(issue.path[0]);
      // Named as the caller gave it: a field left out (JavaScript) is missing, not "".
      const inPosition = (POSITION_KEYS as readonly string[]).includes(key);
      const given: unknown = inPosition ? (opts.position as unknown as Record<string, unknown>)[key] : metadata[key as keyof typeof metadata];
      const got = given === undefined ? 'missing' : `got ${quote(String(given))}`;
      throw new RangeError(`saveCheckpoint: ${inPosition ? `position.${key}` : key}: ${clean(issue.message)}, ${got}`);
    }
    optBytes = serializeSafetensors(tensors, metadata);
  }
  await writeFilesAtomic(optBytes ? [[path, bytes], [checkpointPaths(path).optimizer, optBytes]] : [[path, bytes]], opts.hooks);
}

/** A model checkpoint read from disk. */
export interface Checkpoint extends ParsedCheckpoint {
  /** SHA-256 of the file's bytes. */
  sha256: string;
}

/**
 * Reads and checks a checkpoint file (FileReadError, FileFormatError, SpecError for a bad spec or
 * an optimizer-state file); `opts.ignoreSpec` where the model's spec comes from elsewhere.
 */
export async function readCheckpoint(path: string, what = 'checkpoint', opts: ParseCheckpointOptions = {}): Promise<Checkpoint> {
  const bytes = await readFileChecked(path, what);
  return { ...parseCheckpoint(bytes, path, opts), sha256: sha256(bytes) };
}

/** Overwrites a model's parameters from a checkpoint; every name and shape is checked first. */
export async function loadCheckpoint(model: Model, path: string, what = 'checkpoint'): Promise<Checkpoint> {
  const ckpt = await readCheckpoint(path, what);
  model.load(ckpt.tensors, path);
  return ckpt;
}

/** Reads a JSON model spec file (FileReadError, FileFormatError, or SpecError with the field path). */
export async function readModelSpec(path: string): Promise<ModelSpec> {
  const bytes = await readFileChecked(path, 'model spec', MAX_SPEC_CHARS);
  const kind = fileKind(bytes);
  if (kind && kind !== 'JSON text') throw new FileFormatError(path, 0, `not a JSON model spec: it looks like ${kind}`);
  const text = new TextDecoder().decode(bytes);
  return parseModelSpecJson(text, path, (why) => new FileFormatError(path, undefined, why));
}

/**
 * Checks that the spec read from `file` (a --model file) makes a model on `rt` (its layers fit
 * their inputs, its classes its output): a SpecError or ShapeError names the file too, as the
 * spec's own errors do. Without a file, nothing to check here.
 */
export function checkSpecFile(rt: Runtime, spec: ModelSpec, file: string | undefined): void {
  if (file === undefined) return;
  try {
    inferLayers(rt, spec);
  } catch (e) {
    if (!(e instanceof SpecError || e instanceof ShapeError) || e instanceof DeviceLimitError) throw e;
    if (e instanceof ShapeError) throw new ShapeError(e.op, `${e.detail} (in ${file})`, e.shapes);
    throw new SpecError(e.path, `${e.path ? e.message.slice(e.path.length + 2) : e.message} (in ${file})`);
  }
}

/** The spec to use: a --model file, else the checkpoint's own, else the seed CNN. */
export async function resolveSpec(modelFile: string | undefined, checkpoint?: Checkpoint): Promise<ModelSpec> {
  if (modelFile !== undefined) return readModelSpec(modelFile);
  return checkpoint?.spec ?? SEED_CNN;
}

// A number as String() writes one ("0.001", "1e-7").
const DECIMAL = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const int = (min: number) => z.string().regex(/^[0-9]+$/, 'expected a non-negative integer').transform(Number).pipe(z.number().int().min(min).max(Number.MAX_SAFE_INTEGER));
const json = z.string().transform((s, ctx) => {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON' });
    return z.NEVER;
  }
});
// The hyperparameters describeOptimizer saves, checked as Adam's and SGD's constructors check
// them, so a bad file is named here rather than failing once the GPU is set up. (zod's numbers
// refuse ±Infinity, which JSON spells 1e400.)
const rate = z.number().nonnegative();
const beta = z.number().min(0).lt(1);
const HYPERPARAMETERS = {
  adam: z.object({ lr: rate, betas: z.tuple([beta, beta]), eps: rate, weightDecay: rate }),
  nadam: z.object({ lr: rate, betas: z.tuple([beta, beta]), eps: rate, weightDecay: rate, momentumDecay: rate }),
  sgd: z
    .object({ lr: rate, momentum: rate, dampening: z.number(), weightDecay: rate, nesterov: z.boolean() })
    .refine((h) => !h.nesterov || (h.momentum > 0 && h.dampening === 0), 'Nesterov momentum requires a momentum and zero dampening'),
  adadelta: z.object({ lr: rate, rho: z.number().min(0).max(1), eps: rate, weightDecay: rate }),
  rmsprop: z.object({ lr: rate, alpha: rate, eps: rate, weightDecay: rate, momentum: rate, centered: z.boolean() }),
  adagrad: z.object({ lr: rate, lrDecay: rate, eps: rate, weightDecay: rate, initialAccumulatorValue: rate }),
};
/** Hyperparameters as read back from a file: those of the optimizer it names, checked. */
export type SavedHyperparameters = z.output<(typeof HYPERPARAMETERS)[keyof typeof HYPERPARAMETERS]>;

const position = {
  epoch: int(0),
  stepInEpoch: int(0),
  seed: int(0),
  batchSize: int(1),
  shuffle: z.enum(['true', 'false']).transform((s) => s === 'true'),
  // Printed as it is (`data: …`), so it must hold nothing quote would escape; and an empty
  // path would resolve to the working directory.
  dataDir: z.string().min(1, 'expected a directory, not an empty path').refine((s) => !hasControls(s), 'expected a path without control characters'),
};
// The schedule, label smoothing and clipping: optional (absent from files written before them:
// a constant rate, no smoothing, no clipping then).
const decimal = () => z.string().regex(DECIMAL, 'expected a number').transform(Number);
const schedule = {
  initialLr: decimal().pipe(z.number().nonnegative().finite()),
  lrSchedule: z.enum(['step', 'cosine', 'onecycle']),
  lrGamma: decimal().pipe(z.number().positive().finite()),
  warmupSteps: int(0),
  scheduleSteps: int(1),
  labelSmoothing: decimal().pipe(z.number().min(0).max(1)),
  maxGradNorm: decimal().pipe(z.number().nonnegative().finite()),
  augment: json.pipe(
    z
      .strictObject({
        degrees: z.union([z.number(), z.tuple([z.number(), z.number()])]),
        translate: z.tuple([z.number(), z.number()]).optional(),
        scale: z.tuple([z.number(), z.number()]).optional(),
        shear: z.union([z.number(), z.tuple([z.number(), z.number()]), z.tuple([z.number(), z.number(), z.number(), z.number()])]).optional(),
        interpolation: z.enum(['nearest', 'bilinear']).optional(),
        fill: z.number().optional(),
      })
      .superRefine((o, ctx) => {
        try {
          new RandomAffine(o);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message.replace('RandomAffine: ', '') });
        }
      }),
  ),
};
const SCHEDULE_KEYS = ['initialLr', 'lrSchedule', 'lrGamma', 'warmupSteps', 'scheduleSteps', 'labelSmoothing', 'maxGradNorm', 'augment'] as const satisfies readonly (keyof TrainingPosition)[];
const common = {
  stepCount: int(0),
  ...Object.fromEntries(Object.entries(schedule).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof schedule]: z.ZodOptional<(typeof schedule)[K]> },
  modelSha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected a SHA-256 in hex'),
  ...Object.fromEntries(Object.entries(position).map(([k, v]) => [k, v.optional()])) as { [K in keyof typeof position]: z.ZodOptional<(typeof position)[K]> },
};
// An optimizer's metadata: its hyperparameters, and those of its groups where it has several.
const saved = <K extends OptimizerKind>(kind: K, hyper: (typeof HYPERPARAMETERS)[keyof typeof HYPERPARAMETERS]) =>
  z.object({
    optimizer: z.literal(kind),
    hyperparameters: json.pipe(hyper),
    paramGroups: json
      .pipe(
        z
          .array(hyper.safeExtend({ params: z.array(z.string()), stepCount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }))
          .min(2, 'expected two groups or more (one is saved as the hyperparameters alone)')
          .refine((gs) => new Set(gs.flatMap((g) => g.params)).size === gs.reduce((n, g) => n + g.params.length, 0), 'expected each parameter in one group'),
      )
      .optional(),
    paramStepCounts: json.pipe(z.record(z.string(), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))).optional(),
    ...common,
  });
const stateSchema = z.discriminatedUnion('optimizer', [
  saved('adam', HYPERPARAMETERS.adam),
  saved('adamw', HYPERPARAMETERS.adam),
  saved('nadam', HYPERPARAMETERS.nadam),
  saved('radam', HYPERPARAMETERS.adam),
  saved('adamax', HYPERPARAMETERS.adam),
  saved('sgd', HYPERPARAMETERS.sgd),
  saved('adadelta', HYPERPARAMETERS.adadelta),
  saved('rmsprop', HYPERPARAMETERS.rmsprop),
  saved('adagrad', HYPERPARAMETERS.adagrad),
]).superRefine((s, ctx) => {
  const over = s.paramGroups?.findIndex((g) => g.stepCount > s.stepCount) ?? -1;
  if (over >= 0) ctx.addIssue({ code: 'custom', path: ['paramGroups', over, 'stepCount'], message: `expected at most the optimizer's step count ${s.stepCount}` });
  const param = Object.entries(s.paramStepCounts ?? {}).find(([name, n]) => n > (s.paramGroups?.find((g) => g.params.includes(name))?.stepCount ?? s.stepCount));
  if (param) ctx.addIssue({ code: 'custom', path: ['paramStepCounts', param[0]], message: `expected at most its group's step count` });
  // A cosine's and a cycle's rates depend on their length, which a warm-up must leave a step of.
  if (s.lrSchedule !== 'cosine' && s.lrSchedule !== 'onecycle') return;
  if (s.scheduleSteps === undefined) ctx.addIssue({ code: 'custom', path: ['scheduleSteps'], message: `a ${s.lrSchedule} schedule needs its length in steps` });
  else if ((s.warmupSteps ?? 0) >= s.scheduleSteps) ctx.addIssue({ code: 'custom', path: ['scheduleSteps'], message: `expected more steps than the warm-up's ${s.warmupSteps}` });
});

function stateMetadata(s: TrainingState, p: TrainingPosition | undefined): Record<string, string> {
  const groups: Record<string, string> = s.paramGroups ? { paramGroups: JSON.stringify(s.paramGroups) } : {};
  const own: Record<string, string> = s.paramStepCounts ? { paramStepCounts: JSON.stringify(s.paramStepCounts) } : {};
  const state = { optimizer: s.optimizer, hyperparameters: JSON.stringify(s.hyperparameters), ...groups, ...own, stepCount: String(s.stepCount) };
  if (!p) return state;
  // A field left out (JavaScript) stays out, to be named as missing.
  const fields = [...POSITION_KEYS, ...SCHEDULE_KEYS].flatMap((k) => (p[k] === undefined ? [] : [[k, typeof p[k] === 'object' ? JSON.stringify(p[k]) : String(p[k])]]));
  return { ...state, ...Object.fromEntries(fields) };
}

/** The first position field missing where others are given, or undefined (all or none given). */
function positionGap(data: Partial<TrainingPosition>): string | undefined {
  const missing = POSITION_KEYS.filter((k) => data[k] === undefined);
  return missing.length && missing.length < POSITION_KEYS.length ? missing[0] : undefined;
}

/** Optimizer state read from `<name>.optim.safetensors`. */
export interface OptimizerCheckpoint {
  path: string;
  tensors: Map<string, HostTensor>;
  state: Omit<TrainingState, 'hyperparameters' | 'paramGroups'> & { hyperparameters: SavedHyperparameters; paramGroups?: (SavedHyperparameters & { params: string[]; stepCount: number })[] };
  /** Where training stood, when it was saved with the state (`fovea train` always saves it). */
  position: TrainingPosition | undefined;
}

/**
 * Reads the optimizer state saved beside the checkpoint `modelPath`, and checks that it was
 * saved together with the model file `model` (its SHA-256).
 */
export async function readOptimizerState(modelPath: string, model: Pick<Checkpoint, 'sha256'>): Promise<OptimizerCheckpoint> {
  const path = checkpointPaths(modelPath).optimizer;
  const { tensors, metadata } = parseSafetensors(await readFileChecked(path, 'optimizer state'), path);
  // A model saved (or copied) under this name: named as such, not by the first field it lacks.
  if (!OPTIMIZER_STATE_KEYS.some((key) => key in metadata)) {
    const what = SPEC_KEY in metadata ? `a model checkpoint (it has "${SPEC_KEY}" metadata)` : "tensors without optimizer metadata (a model's weights?)";
    throw new FileFormatError(path, undefined, `holds ${what}, not optimizer state: no ${OPTIMIZER_STATE_KEYS.map((k) => quote(k)).join(' or ')} metadata`);
  }
  const r = stateSchema.safeParse(metadata);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const [first = '', ...inner] = issue.path;
    const key = String(first);
    const where = inner.length ? `${formatPath(inner)}: ` : '';
    throw new FileFormatError(path, undefined, `metadata ${quote(key)}: ${where}${clean(issue.message)}${key in metadata ? `, got ${quote(metadata[key]!)}` : ''}`);
  }
  const gap = positionGap(r.data);
  if (gap) throw new FileFormatError(path, undefined, `metadata ${quote(gap)}: missing, where the other fields of a training position (${POSITION_KEYS.join(', ')}) are given`);
  const { modelSha256, optimizer, hyperparameters, paramGroups, paramStepCounts, stepCount, epoch, stepInEpoch, seed, batchSize, shuffle, dataDir } = r.data;
  if (modelSha256 !== model.sha256) {
    throw new SpecError('', `${path} was not saved together with ${modelPath} (the model file's SHA-256 differs; was a save interrupted?)`);
  }
  const optional = Object.fromEntries(SCHEDULE_KEYS.flatMap((k) => (r.data[k] === undefined ? [] : [[k, r.data[k]]])));
  const position = dataDir === undefined ? undefined : { epoch: epoch!, stepInEpoch: stepInEpoch!, seed: seed!, batchSize: batchSize!, shuffle: shuffle!, dataDir, ...optional };
  return { path, tensors, state: { optimizer, hyperparameters, ...(paramGroups ? { paramGroups } : {}), ...(paramStepCounts ? { paramStepCounts } : {}), stepCount } as OptimizerCheckpoint['state'], position };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
