// `fovea eval`: test-set accuracy and mean cross-entropy of a checkpoint, on the GPU, with the
// same evaluation the training loop reports. `--json` prints exactly one JSON object on stdout
// (accuracy, loss, count, and the arg-max class of every test image in file order).
import { resolve } from 'node:path';
import { checkSpecFile, readCheckpoint, resolveSpec } from '../model/checkpoint.js';
import { modelWithWeights, requireFinite } from '../model/checkpoint-format.js';
import { FileFormatError } from '../runtime/errors.js';
import { createRuntime } from '../runtime/runtime.js';
import { defaultMnistDir, loadMnistSplit } from './files.js';
import type { CommandIO } from './progress.js';
import { evaluate } from './evaluate.js';

export interface EvalOptions {
  checkpoint: string;
  model?: string;
  data?: string;
  json: boolean;
  limit?: number;
}

/** Runs `fovea eval`; returns the exit code. */
export async function evaluateCheckpoint(opts: EvalOptions, io: CommandIO): Promise<number> {
  const ckpt = await readCheckpoint(opts.checkpoint, 'checkpoint', { ignoreSpec: opts.model !== undefined });
  requireFinite(ckpt, opts.checkpoint);
  const spec = await resolveSpec(opts.model, ckpt);
  const dataDir = resolve(opts.data ?? defaultMnistDir());
  const test = await loadMnistSplit(dataDir, 'test');
  const rt = await createRuntime();
  try {
    checkSpecFile(rt, spec, opts.model);
    const model = modelWithWeights(rt, spec, ckpt.tensors, opts.checkpoint, !ckpt.spec && opts.model === undefined ? 'give its model with --model FILE' : undefined);
    const ev = await evaluate(rt, model, test, { limit: opts.limit });
    // Finite weights can still overflow float32 on the way (a run that diverged between checks).
    if (!Number.isFinite(ev.loss)) throw new FileFormatError(opts.checkpoint, undefined, `its mean loss on the test images of ${dataDir} is ${ev.loss}: outputs that overflow float32, as the weights of a training run that diverged give`);
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ accuracy: ev.accuracy, loss: ev.loss, count: ev.count, predictions: Array.from(ev.predictions) })}\n`);
    } else {
      const correct = Math.round(ev.accuracy * ev.count);
      io.stdout.write(`${opts.checkpoint} on ${ev.count} test images of ${dataDir}\naccuracy ${(ev.accuracy * 100).toFixed(2)}% (${correct}/${ev.count}), mean loss ${ev.loss.toFixed(4)}\n`);
    }
    return 0;
  } finally {
    rt.dispose();
  }
}
