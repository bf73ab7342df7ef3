// `fovea eval`: test-set accuracy and mean cross-entropy of a checkpoint, on the GPU, with the
// same evaluation the training loop reports. `--json` prints exactly one JSON object on stdout
// (accuracy, loss, count, and the arg-max class of every test image in file order).
import { resolve } from 'node:path';
import { readCheckpoint, resolveSpec } from '../model/checkpoint.js';
import { Model } from '../model/model.js';
import { createRuntime } from '../runtime/runtime.js';
import { defaultMnistDir, loadMnistDir } from './files.js';
import type { CommandIO } from './train-cli.js';
import { Trainer } from './trainer.js';

export interface EvalOptions {
  checkpoint: string;
  model?: string;
  data?: string;
  json: boolean;
  limit?: number;
}

/** Runs `fovea eval`; returns the exit code. */
export async function evaluateCheckpoint(opts: EvalOptions, io: CommandIO): Promise<number> {
  const ckpt = await readCheckpoint(opts.checkpoint);
  const spec = await resolveSpec(opts.model, ckpt);
  const dataDir = resolve(opts.data ?? defaultMnistDir());
  const { test } = await loadMnistDir(dataDir);
  const rt = await createRuntime();
  try {
    const model = Model.create(rt, spec);
    model.load(ckpt.tensors, opts.checkpoint);
    // NOTE: the Trainer owns the evaluation programs; it is built on a one-image set (its
    // training step is compiled but never run) so the training images are never uploaded.
    const one = { images: { ...test.images, count: 1, pixels: test.images.pixels.subarray(0, test.images.rows * test.images.cols) }, labels: test.labels.subarray(0, 1) };
    const trainer = await Trainer.create(rt, model, one, { batchSize: 1, optimizer: 'sgd', lr: 0 });
    const ev = await trainer.evaluate(test, opts.limit);
    trainer.dispose();
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
