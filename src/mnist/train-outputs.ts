// Where `fovea train` writes (the checkpoint, its optimizer state and plot, the metrics log),
// checked before anything is read or run.
import { accessSync, closeSync, constants, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { checkpointPaths, type CheckpointPaths } from '../model/checkpoint.js';
import { modelPathOf, OPTIMIZER_STATE_SUFFIX } from '../model/checkpoint-format.js';
import { FileWriteError, resolveLinks } from '../model/files.js';
import { isZip } from '../model/zip.js';
import { FlagError, type TrainOptions } from './train-options.js';

/** The files a run writes: the checkpoint's own, and the metrics log (--metrics or the default). */
export interface TrainOutputs {
  paths: CheckpointPaths;
  metrics: string;
}

/** What is at `path` now: a directory, a regular file, something else (a pipe, a device), or nothing. */
function kindOf(path: string): 'directory' | 'file' | 'other' | 'none' {
  try {
    const s = statSync(path);
    return s.isDirectory() ? 'directory' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'none'; // any other failure to stat is left to the write
  }
}

/**
 * The name a write to `path` replaces (saves rename a new file onto it): where a symbolic link
 * leads, in its real directory. Another spelling of the path, or a link to it, is the same name;
 * a hard link is another (renaming onto it leaves the other name's contents alone).
 */
function writtenName(path: string): string {
  const file = resolveLinks(path);
  // NOTE: the directory as the kernel resolves it: `link/..` is the link target's parent, which
  // path.resolve(), working on the text, would take for the link's own directory.
  try {
    return realpathSync.native(file); // an existing file: also its name as the file system spells it
  } catch {
    try {
      return join(realpathSync.native(dirname(file)), basename(file));
    } catch {
      return resolve(file);
    }
  }
}

/** Bytes read to tell a metrics log: its first record is a line of about 100. */
const HEAD_BYTES = 4096;

/**
 * Whether `path` holds something other than what `is` recognises from its first bytes, which
 * would be lost under the file a run writes there. A file that is absent, empty or unreadable is
 * none (the write reports one it cannot replace); only regular files are read (checkOutputs
 * refuses the rest: reading a pipe would wait for input).
 */
function holdsOther(path: string, is: (head: Buffer) => boolean): boolean {
  let head: Buffer;
  try {
    if (!statSync(path).isFile()) return false;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(HEAD_BYTES);
      head = buf.subarray(0, readSync(fd, buf, 0, HEAD_BYTES, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  return head.length > 0 && !is(head);
}

/** A metrics log starts with a JSON record of a step (it is written whole before anything is appended). */
function metricsLog(head: Buffer): boolean {
  try {
    const r = JSON.parse(head.toString('utf8').split('\n', 1)[0]!) as unknown;
    return typeof r === 'object' && r !== null && typeof (r as { step?: unknown }).step === 'number';
  } catch {
    return false;
  }
}

/**
 * A torch.save archive starts with the local header of its data.pkl (PyTorch's and fovea's do):
 * 30 bytes, then the name, `<folder>/data.pkl`. Any other ZIP file (photos, an .npz) is not one.
 */
function torchSave(head: Buffer): boolean {
  if (!isZip(head) || head.length < 30) return false;
  const name = head.subarray(30, 30 + head.readUInt16LE(26)).toString('latin1');
  return /^[^/]+\/data\.pkl$/.test(name);
}

/** A safetensors file starts with its header's length, 8 bytes, then the header's '{'. */
/** Whether a file's first bytes are a training plot's, as a run writes it (trainingPlot, titled 'fovea training'). */
function trainingPlot(head: Buffer): boolean {
  const text = head.toString('utf8');
  return text.includes('<svg') && text.includes('>fovea training');
}

function safetensors(head: Buffer): boolean {
  return head.length > 8 && head[8] === 0x7b && head.readBigUInt64LE(0) >= 2n;
}

/** The run's outputs, once each is known to be writable and to clash with no other file of the run. */
export function checkOutputs(input: TrainOptions): TrainOutputs {
  // Such a name is the optimizer state of another checkpoint: writing a model there replaces it.
  if (input.out.endsWith(OPTIMIZER_STATE_SUFFIX)) {
    const owner = modelPathOf(input.out);
    throw new FlagError('--out', `--out ${input.out}: a name ending in ${OPTIMIZER_STATE_SUFFIX} is the optimizer state saved beside ${owner}; choose another name`);
  }
  const paths = checkpointPaths(input.out);
  const metricsPath = input.metrics ?? paths.metrics;
  const named: [string, string][] = [
    [paths.model, '--out'],
    [paths.optimizer, `the optimizer state of --out ${input.out}`],
    [paths.plot, `the plot of --out ${input.out}`],
  ];
  const metricsWhat = input.metrics !== undefined ? '--metrics' : `the metrics log of --out ${input.out}`;
  const metricsOutput: [string, string] = [metricsPath, metricsWhat];
  const outputs: [string, string][] = [...named, metricsOutput];
  // Fail now, not after an hour of training, when an output cannot be written where it goes
  // (where a link in its place leads), or would replace a directory, a pipe or a device.
  for (const [file, what] of outputs) {
    const target = resolveLinks(file);
    const dir = dirname(target); // as the kernel resolves it (see writtenName)
    try {
      accessSync(dir, constants.W_OK);
    } catch (e) {
      throw new FileWriteError(file, (e as NodeJS.ErrnoException).code, `its directory ${dir} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not writable'} (${what})`);
    }
    if (kindOf(dir) !== 'directory') throw new FileWriteError(file, 'ENOTDIR', `${dir} is not a directory (${what})`);
    const kind = kindOf(target);
    if (kind === 'directory') throw new FileWriteError(file, 'EISDIR', `it is an existing directory (${what})`);
    if (kind === 'other') throw new FileWriteError(file, 'EEXIST', `it is not a regular file (a pipe or a device: ${what} would replace it)`);
  }
  // An output on an input file would overwrite it with the first save, whatever the name (a link
  // to it too), and two outputs on one name would overwrite each other. (--resume reads --out by
  // design; --init cannot be combined with it.)
  const inputs: [string | undefined, string][] = [
    [input.init, '--init'],
    [input.model, '--model'],
  ];
  const label = ([file, what]: [string, string]) => (what.startsWith('--') ? `${what} ${file}` : `${what} (${file})`);
  for (const [i, output] of outputs.entries()) {
    const others = [...inputs, ...outputs.slice(0, i)];
    const clash = others.find(([file]) => file !== undefined && writtenName(file) === writtenName(output[0]));
    if (clash) {
      const flag = output === metricsOutput && input.metrics !== undefined ? '--metrics' : '--out';
      throw new FlagError(flag, `${label(output)} is also ${clash[1]}: one would overwrite the other`);
    }
  }
  // A log is replaced whole by a new run: anything else there (a checkpoint, say) would be lost;
  // and a checkpoint replaces what is at --out, which should not be a data set's file, say.
  if (holdsOther(metricsPath, metricsLog)) {
    throw new FileWriteError(metricsPath, 'EEXIST', `it holds something other than a metrics log (${metricsWhat}), which the run would replace; move it, or choose another path`);
  }
  if (holdsOther(paths.model, (head) => safetensors(head) || torchSave(head))) {
    throw new FileWriteError(paths.model, 'EEXIST', 'it holds something other than a safetensors or torch.save checkpoint (--out), which the run would replace; move it, or choose another path');
  }
  if (holdsOther(paths.optimizer, safetensors)) {
    throw new FileWriteError(paths.optimizer, 'EEXIST', `it holds something other than a safetensors file (${named[1]![1]}), which the run would replace; move it, or choose another path`);
  }
  if (holdsOther(paths.plot, trainingPlot)) {
    throw new FileWriteError(paths.plot, 'EEXIST', `it holds something other than a training plot (${named[2]![1]}), which the run would replace; move it, or choose another path`);
  }
  return { paths, metrics: metricsPath };
}
