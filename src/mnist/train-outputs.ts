// Where `fovea train` writes (the checkpoint, its optimizer state and plot, the metrics log),
// checked before anything is read or run.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkpointPaths, type CheckpointPaths } from '../model/checkpoint.js';
import { FileWriteError } from '../model/files.js';
import { FlagError, type TrainOptions } from './train-options.js';

/** The files a run writes: the checkpoint's own, and the metrics log (--metrics or the default). */
export interface TrainOutputs {
  paths: CheckpointPaths;
  metrics: string;
}

/** Whether `path` is an existing directory (any other failure to stat is left to the write). */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The run's outputs, once each is known to be writable and to clash with no other file of the run. */
export function checkOutputs(input: TrainOptions): TrainOutputs {
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
  return { paths, metrics: metricsPath };
}
