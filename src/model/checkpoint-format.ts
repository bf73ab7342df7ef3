// The checkpoint format, browser-safe: a safetensors file of F32 tensors (I64 for a batch norm's
// num_batches_tracked, as PyTorch's; F16, BF16, F64 and I64 read too, as f32) under PyTorch's state_dict names and shapes (so `model.load_state_dict(dict(tensors))` takes it as it is),
// with the model spec as JSON in the "fovea.spec" metadata, so a non-default model can be
// rebuilt from the file alone; or a state_dict as torch.save writes one (./torch-save-write.ts,
// the spec beside it), which `torch.load` reads with nothing else installed, and reads from
// PyTorch (./torch-save.ts). The CLI (through ./checkpoint.ts, which adds files and training
// state), the demo and host apps all read and write it with these functions.
import { FileFormatError, SpecError } from '../runtime/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import { Model, type ModelOptions } from './model.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { parseModelSpecJson, SEED_CNN, type ModelSpec } from './spec.js';
import { isLegacyTorchSave, isTorchSave, parseLegacyTorchSave, parseTorchSave } from './torch-save.js';
import { SPEC_RECORD, torchSaveBytes } from './torch-save-write.js';
import { quote } from './untrusted.js';

/** Metadata key holding the model spec as JSON. */
export const SPEC_KEY = 'fovea.spec';

/** What replaces `.safetensors` in the name of the optimizer state saved beside a model (./checkpoint.ts). */
export const OPTIMIZER_STATE_SUFFIX = '.optim.safetensors';
/**
 * The model file that optimizer state at `path` (a name ending in OPTIMIZER_STATE_SUFFIX) is
 * saved beside, as ./checkpoint.ts names them: `m.pt.optim.safetensors` is `m.pt`'s (torch.save's
 * names keep their extension), `m.v2.optim.safetensors` is `m.v2.safetensors`'s.
 */
export function modelPathOf(path: string): string {
  const stem = path.slice(0, -OPTIMIZER_STATE_SUFFIX.length);
  return checkpointFormatOf(stem) === 'torch' ? stem : `${stem}.safetensors`;
}

/** Metadata keys that only optimizer-state files have (./checkpoint.ts writes them). */
export const OPTIMIZER_STATE_KEYS = ['optimizer', 'modelSha256'] as const;

/** A named array of values, as models and checkpoints exchange them. */
export interface HostTensor {
  shape: readonly number[];
  data: Float32Array;
  /** 'I64' where PyTorch keeps the tensor as int64 (Model.state() marks num_batches_tracked so; a file's I64 tensors are): checkpoints write it so. */
  dtype?: string;
}

/** A checkpoint's file format: safetensors, or PyTorch's torch.save (a .pt file; torch.load reads it). */
export type CheckpointFormat = 'safetensors' | 'torch';

/** The format a checkpoint's file name asks for: torch.save's for .pt and .pth, safetensors for any other. */
export function checkpointFormatOf(path: string): CheckpointFormat {
  return /\.pth?$/i.test(path) ? 'torch' : 'safetensors';
}

/**
 * The bytes of a model checkpoint: the tensors in the given order, F32 (but those of dtype 'I64',
 * int64 as PyTorch keeps them), and the spec (in the metadata, or beside the state_dict).
 */
export function checkpointBytes(tensors: Iterable<[string, HostTensor]>, spec: ModelSpec, format: CheckpointFormat = 'safetensors'): Uint8Array {
  if (format === 'torch') return torchSaveBytes(tensors, JSON.stringify(spec));
  return serializeSafetensors(tensors, { format: 'pt', [SPEC_KEY]: JSON.stringify(spec) });
}

/** A model's current parameters (read back from the GPU) and spec, as checkpoint bytes (safetensors, or torch.save's for `format` 'torch'). */
export async function serializeModel(model: Model, format: CheckpointFormat = 'safetensors'): Promise<Uint8Array> {
  return checkpointBytes(await model.state(), model.spec, format);
}

/** A checkpoint parsed from bytes. */
export interface ParsedCheckpoint {
  /** By name; the names of one tensor (a weight tied across layers, in a torch.save file) share one array. */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
  /** The spec saved in the file, if any (validated). */
  spec: ModelSpec | undefined;
}

/** Options of parseCheckpoint. */
export interface ParseCheckpointOptions {
  /**
   * The caller builds the model from a spec of its own: the file's is not read (`spec` is then
   * undefined), so a spec that this version cannot read (a newer one's layer) is no error.
   */
  ignoreSpec?: boolean;
}

/**
 * Parses checkpoint bytes (`file` names them in errors), safetensors or a state_dict saved with
 * torch.save (no spec then; see ./torch-save.ts): every safetensors field is checked
 * (FileFormatError), and the spec in the metadata, if there is one, is validated (FileFormatError
 * for bad JSON, SpecError naming the bad field). An optimizer-state file is a SpecError saying so.
 */
export function parseCheckpoint(bytes: Uint8Array, file: string, opts: ParseCheckpointOptions = {}): ParsedCheckpoint {
  const savedSpec = (text: string | undefined, source: string, what: string) => (text === undefined || opts.ignoreSpec ? undefined : specOf(text, file, source, what));
  // A state_dict saved with torch.save: its tensors, under their names, and no spec.
  if (isTorchSave(bytes)) {
    const { tensors, spec } = parseTorchSave(bytes, file);
    return { tensors, metadata: {}, spec: savedSpec(spec, `the "${SPEC_RECORD}" entry of ${file}`, `entry "${SPEC_RECORD}"`) };
  }
  if (isLegacyTorchSave(bytes)) return { tensors: parseLegacyTorchSave(bytes, file), metadata: {}, spec: undefined };
  const { tensors, metadata } = safetensorsOf(bytes, file);
  // The optimizer state saved beside a checkpoint is safetensors too: name the mix-up, not its tensors.
  if (OPTIMIZER_STATE_KEYS.every((key) => key in metadata)) {
    const model = file.endsWith(OPTIMIZER_STATE_SUFFIX) ? `; the model is ${modelPathOf(file)}` : '';
    throw new SpecError('', `${file} holds optimizer state (saved beside a model, for --resume), not a model${model}`);
  }
  return { tensors, metadata, spec: savedSpec(metadata[SPEC_KEY], `the "${SPEC_KEY}" metadata of ${file}`, `metadata "${SPEC_KEY}"`) };
}

/** A safetensors file; one named .pt or .pth that is not one is said to be no torch.save file either. */
function safetensorsOf(bytes: Uint8Array, file: string): ReturnType<typeof parseSafetensors> {
  try {
    return parseSafetensors(bytes, file);
  } catch (e) {
    if (!(e instanceof FileFormatError) || checkpointFormatOf(file) !== 'torch') throw e;
    const why = e.message.slice(`${file}${e.byteOffset === undefined ? '' : ` (byte ${e.byteOffset})`}: `.length);
    throw new FileFormatError(file, e.byteOffset, `not a torch.save file (a ZIP archive, or the pickles of its legacy format), nor safetensors: ${why}`);
  }
}

/** The spec a checkpoint holds as JSON (in `source`, which `what` names in the file), validated. */
function specOf(text: string, file: string, source: string, what: string): ModelSpec {
  return parseModelSpecJson(text, source, (why) => new FileFormatError(file, undefined, `${what} is ${why}`));
}

/** Options of modelFromBytes: ModelOptions' seed or generator (the weights are the file's), plus a spec that overrides the file's. */
export interface ModelFromBytesOptions extends Omit<ModelOptions, 'weights' | 'source'> {
  /** The model to build; default: the spec in the file, else the seed CNN. */
  spec?: ModelSpec;
}

/**
 * Builds a model from checkpoint bytes: the spec from `opts.spec`, else from the file, else the
 * seed CNN; then every parameter from the file (all names and shapes are checked first; a
 * mismatch is a SpecError listing them).
 */
export function modelFromBytes(rt: Runtime, bytes: Uint8Array, file: string, opts: ModelFromBytesOptions = {}): Model {
  const ckpt = parseCheckpoint(bytes, file, { ignoreSpec: opts.spec !== undefined });
  const { spec = ckpt.spec ?? SEED_CNN, ...modelOpts } = opts;
  return modelWithWeights(rt, spec, ckpt.tensors, file, !ckpt.spec && !opts.spec ? 'pass its model as { spec }' : undefined, modelOpts);
}

/**
 * @internal Model.create with a file's weights. `assumed`: the seed CNN was taken for a file
 * that names no model (one written from PyTorch), and how to give it: a mismatch then says so.
 */
export function modelWithWeights(rt: Runtime, spec: ModelSpec, weights: ModelOptions['weights'], file: string, assumed: string | undefined, opts: Omit<ModelOptions, 'weights' | 'source'> = {}): Model {
  return readAsSeed(file, assumed, () => Model.create(rt, spec, { ...opts, ...(weights ? { weights } : {}), source: file }));
}

/**
 * @internal Runs `build`, saying in a SpecError it throws that `file` was read as the seed CNN
 * for want of a spec, and what to do (`assumed`), where that is so.
 */
export function readAsSeed<T>(file: string, assumed: string | undefined, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof SpecError && assumed) {
      throw new SpecError(e.path, `${e.message.slice(e.path ? e.path.length + 2 : 0)} (${file} holds no "${SPEC_KEY}" metadata, so it was read as the seed CNN; ${assumed})`);
    }
    throw e;
  }
}

/**
 * Throws a FileFormatError naming the first tensor with a NaN or infinite value: the weights of
 * a run that diverged, from which no class or loss can be computed (eval, predict, the demo).
 */
export function requireFinite(ckpt: ParsedCheckpoint, path: string): void {
  const bad = nonFinite(ckpt.tensors);
  if (bad) throw new FileFormatError(path, undefined, `${bad}: the weights of a training run that diverged`);
}

/**
 * Names the first tensor holding NaN or infinite values (`tensor "w" holds 3 NaN or infinite
 * values (of 400)`), or with `nanOnly` NaN values, if any.
 */
export function nonFinite(tensors: ReadonlyMap<string, { data: ArrayLike<number> }>, nanOnly = false): string | undefined {
  const isBad = nanOnly ? Number.isNaN : (v: number) => !Number.isFinite(v);
  for (const [name, t] of tensors) {
    let bad = 0;
    for (let i = 0; i < t.data.length; i++) if (isBad(t.data[i]!)) bad++;
    if (bad) return `tensor ${quote(name)} holds ${bad} ${nanOnly ? 'NaN' : 'NaN or infinite'} value${bad === 1 ? '' : 's'} (of ${t.data.length})`;
  }
  return undefined;
}
