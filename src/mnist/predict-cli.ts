// `fovea predict`: classifies PNG images with a checkpoint. Each PNG is read as grey bytes
// (png.ts). One of the model's input size (28×28 for the seed CNN) is taken as it is, unless
// --fit; any other is fitted as an MNIST digit (fitDigit: dark ink on paper turned over,
// cropped, scaled to the 20-pixel box, centred by mass). Pixels go to the GPU as bytes and through
// the same gather (÷255) as training, so an MNIST image saved as PNG scores as in `eval`.
// Probabilities are the softmax of the logits, computed on the host in float64.
import { readCheckpoint, resolveSpec } from '../model/checkpoint.js';
import { modelWithWeights, requireFinite } from '../model/checkpoint-format.js';
import { readFileChecked } from '../model/files.js';
import { fitDigit } from './digit.js';
import { decodeAnyGreyPng } from './png.js';
import { gather } from '../ops/gather.js';
import { ShapeError } from '../runtime/errors.js';
import { createRuntime } from '../runtime/runtime.js';
import { EVAL_BATCH } from './evaluate.js';
import type { CommandIO } from './progress.js';

export interface PredictOptions {
  checkpoint: string;
  model?: string;
  json: boolean;
  /** Fit every image as an MNIST digit, those of the model's size too. */
  fit: boolean;
  images: readonly string[];
}

export interface Prediction {
  file: string;
  class: number;
  probabilities: number[];
  /** The image's own size, and whether its light background was turned over, where it was fitted. */
  fitted?: { width: number; height: number; inverted: boolean };
}

/** Softmax in float64. */
export function softmax(logits: ArrayLike<number>): number[] {
  const xs = Array.from(logits);
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The image size a single-channel model takes: [height, width]; a flat input [n] is a square image. */
function imageSize(input: readonly number[]): [number, number] {
  const size = input.reduce((a, b) => a * b, 1);
  if (input.length >= 2 && size === input.at(-1)! * input.at(-2)!) return [input.at(-2)!, input.at(-1)!];
  const side = Math.round(Math.sqrt(size));
  if (input.length === 1 && side * side === size) return [side, side];
  const why = input.length === 1 ? `a flat input of ${size} values, not a square image's (give the model an input [1, height, width])` : 'more than one channel';
  throw new ShapeError('predict', `images are grey, single-channel, but the model takes [${input.join(', ')}]: ${why}`, [input]);
}

/** Runs `fovea predict`; returns the exit code. */
export async function predict(opts: PredictOptions, io: CommandIO): Promise<number> {
  const ckpt = await readCheckpoint(opts.checkpoint);
  requireFinite(ckpt, opts.checkpoint);
  const spec = await resolveSpec(opts.model, ckpt);
  const [h, w] = imageSize(spec.input);
  // Each image is decoded before anything is sized from the spec, so a checkpoint claiming a
  // huge input allocates nothing (a fitted image is h×w bytes, as one taken as it is).
  const greys: Uint8Array[] = [];
  const fitted: Prediction['fitted'][] = [];
  for (const file of opts.images) {
    const png = decodeAnyGreyPng(await readFileChecked(file, 'image'), file);
    if (!opts.fit && png.width === w && png.height === h) {
      greys.push(png.grey);
      fitted.push(undefined);
      continue;
    }
    const digit = fitDigit({ width: png.width, height: png.height, data: Float32Array.from(png.grey, (v) => v / 255) }, h, w);
    greys.push(Uint8Array.from(digit.image, (v) => Math.round(v * 255)));
    fitted.push({ width: png.width, height: png.height, inverted: digit.inverted });
  }
  const n = greys.length;
  const pixels = new Uint8Array(n * h * w);
  greys.forEach((g, i) => pixels.set(g, i * h * w));

  const rt = await createRuntime();
  try {
    const model = modelWithWeights(rt, spec, ckpt.tensors, opts.checkpoint, !ckpt.spec && opts.model === undefined ? 'give its model with --model FILE' : undefined);
    const images = rt.tensor(pixels, [n, h * w], { name: 'images' });
    // In batches, as eval: activations grow with the batch. The last batch is filled up with
    // image 0, its extra results dropped, so one program serves every batch.
    const batch = Math.min(n, EVAL_BATCH);
    const program = await rt.compile(
      ({ idx }) => ({ logits: model.forward(gather(images, idx!).reshape(batch, ...model.inputShape), { training: false }) }),
      { idx: { shape: [batch], dtype: 'u32' } },
      { name: `predict (batches of ${batch} images)` },
    );
    const idx = new Uint32Array(batch);
    let logits = new Float32Array(0);
    for (let first = 0; first < n; first += batch) {
      for (let i = 0; i < batch; i++) idx[i] = first + i < n ? first + i : 0;
      const out = (await program.run({ idx }).logits!.read()) as Float32Array;
      const classes = out.length / batch;
      if (!logits.length) logits = new Float32Array(n * classes);
      logits.set(out.subarray(0, Math.min(batch, n - first) * classes), first * classes);
    }
    program.dispose();
    const classes = logits.length / n;
    const results: Prediction[] = opts.images.map((file, i) => {
      const probabilities = softmax(logits.subarray(i * classes, (i + 1) * classes));
      return { file, class: probabilities.indexOf(Math.max(...probabilities)), probabilities, ...(fitted[i] ? { fitted: fitted[i] } : {}) };
    });
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ predictions: results })}\n`);
    } else {
      for (const r of results) {
        const how = r.fitted && ` [fitted as an MNIST digit from ${r.fitted.width}×${r.fitted.height}${r.fitted.inverted ? ', its light background turned dark' : ''}]`;
        io.stdout.write(`${r.file}: ${r.class} (${(r.probabilities[r.class]! * 100).toFixed(2)}%)${how ?? ''}\n`);
        io.stdout.write(`  ${r.probabilities.map((p, k) => `${k}: ${p.toFixed(4)}`).join('  ')}\n`);
      }
    }
    return 0;
  } finally {
    rt.dispose();
  }
}
