// `fovea predict`: classifies PNG and JPEG images with a checkpoint. For a grey model each is read
// as grey bytes (png.ts, jpeg.ts): one of the model's input size (28×28 for the seed CNN) is taken as it is,
// unless --fit; any other is fitted as an MNIST digit (fitDigit: dark ink on paper turned over,
// cropped, scaled to the 20-pixel box, centred by mass). For a colour model ([3, H, W]) each is
// read as RGB planes, at the model's size. Pixels go to the GPU as bytes and through the same
// gather (÷255) as training, so an MNIST image saved as PNG scores as in `eval`. Probabilities
// are the softmax of the logits, computed on the host in float64.
import { checkSpecFile, readCheckpoint, resolveSpec } from '../model/checkpoint.js';
import { clean, fileKind } from '../model/untrusted.js';
import { modelWithWeights, requireFinite } from '../model/checkpoint-format.js';
import { FileReadError, readFileChecked } from '../model/files.js';
import { fitDigit, lumaBytes } from './digit.js';
import { decodeJpeg } from './jpeg.js';
import { colourPlanes, type Picture } from './picture.js';
import { decodeAnyPng } from './png.js';
import { FlagError } from './train-options.js';
import { gather } from '../ops/gather.js';
import { FileFormatError, ShapeError } from '../runtime/errors.js';
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
  /** The class's name, where the model's spec names its classes. */
  name?: string;
  probabilities: number[];
  /** The image's own size, and whether its light background was turned over, where it was fitted. */
  fitted?: { width: number; height: number; inverted: boolean; page?: { x: number; y: number; w: number; h: number } };
  /** For a colour model, a picture of another size: its own size and the centre taken, before it was shrunk (or stretched) to the model's. */
  resized?: { width: number; height: number; crop: { x: number; y: number; w: number; h: number } };
  /** Set where the model was given one colour throughout (no ink found: a blank page, or ink the fitting took for background): its class means nothing. */
  blank?: true;
}

/** Softmax in float64. */
export function softmax(logits: ArrayLike<number>): number[] {
  const xs = Array.from(logits);
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** The images a model takes: grey or RGB (channels 1 or 3), of height × width; a flat input [n] takes square grey ones. */
function imageShape(input: readonly number[]): { channels: 1 | 3; h: number; w: number } {
  const size = input.reduce((a, b) => a * b, 1);
  const [h, w] = [input.at(-2)!, input.at(-1)!];
  if (input.length >= 2 && size === h * w) return { channels: 1, h, w };
  if (input.length >= 3 && size === 3 * h * w && input.at(-3) === 3) return { channels: 3, h, w };
  const side = Math.round(Math.sqrt(size));
  if (input.length === 1 && side * side === size) return { channels: 1, h: side, w: side };
  const why = input.length === 1 ? `a flat input of ${size} values, not a square image's (give the model an input [1, height, width])` : `${input.at(-3)} channels`;
  throw new ShapeError('predict', `images are grey or RGB (1 or 3 channels), but the model takes [${input.join(', ')}]: ${why}`, [input]);
}

/** Decodes a PNG or a JPEG, told apart by their first bytes. */
function decodePicture(bytes: Uint8Array, file: string): Picture {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return decodeAnyPng(bytes, file);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return decodeJpeg(bytes, file);
  const start = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new FileFormatError(file, 0, `not a PNG or JPEG picture: it starts with ${start || 'nothing'}, not with the PNG signature 89 50 4e 47 or the JPEG start-of-image marker ff d8${fileKind(bytes) ? `; it looks like ${fileKind(bytes)}` : ''}`);
}

/** Runs `fovea predict`; returns the exit code. */
export async function predict(opts: PredictOptions, io: CommandIO): Promise<number> {
  const ckpt = await readCheckpoint(opts.checkpoint, 'checkpoint', { ignoreSpec: opts.model !== undefined });
  requireFinite(ckpt, opts.checkpoint);
  const spec = await resolveSpec(opts.model, ckpt);
  const { channels, h, w } = imageShape(spec.input);
  if (channels === 3 && opts.fit) throw new FlagError('--fit', `--fit makes grey digits, and the model takes colour images [${spec.input.join(', ')}]`);
  // Each image is decoded before anything is sized from the spec, so a checkpoint claiming a
  // huge input allocates nothing (a fitted image is h×w bytes, as one taken as it is).
  const per = channels * h * w;
  const images: Uint8Array[] = [];
  const fitted: Pick<Prediction, 'fitted' | 'resized' | 'blank'>[] = [];
  // The pictures read, and those that could not be: named on stderr, the others classified.
  const read: string[] = [];
  const failed: { file: string; error: string }[] = [];
  for (const file of opts.images) {
    let png: Picture;
    try {
      png = decodePicture(await readFileChecked(file, 'image'), file);
    } catch (e) {
      if (!(e instanceof FileReadError || e instanceof FileFormatError)) throw e;
      // One line, control characters escaped, as the tool prints any error (a path could rewrite the terminal line).
      const error = `${e.name}: ${clean(e.message.replace(/\s*\n\s*/g, ' '), Infinity)}`;
      failed.push({ file, error });
      io.stderr.write(`fovea predict: ${error}\n`);
      continue;
    }
    read.push(file);
    const sized = png.width === w && png.height === h;
    if (channels === 3) {
      const { planes, crop } = colourPlanes(png, h, w);
      images.push(planes);
      fitted.push(crop ? { resized: { width: png.width, height: png.height, crop } } : {});
      continue;
    }
    const grey = lumaBytes(png.rgba);
    if (!opts.fit && sized) {
      images.push(grey);
      fitted.push({});
      continue;
    }
    const data = new Float32Array(grey.length);
    for (let i = 0; i < grey.length; i++) data[i] = grey[i]! / 255;
    const digit = fitDigit({ width: png.width, height: png.height, data }, h, w);
    images.push(Uint8Array.from(digit.image, (v) => Math.round(v * 255)));
    fitted.push({ fitted: { width: png.width, height: png.height, inverted: digit.inverted, ...(digit.page ? { page: digit.page } : {}) } });
  }
  const n = images.length;
  if (!n) return 1;
  // One colour throughout: each channel's plane one value.
  images.forEach((g, i) => {
    const plane = h * w;
    const flat = (c: number) => g.subarray(c * plane, (c + 1) * plane).every((v) => v === g[c * plane]);
    if (Array.from({ length: channels }, (_, c) => c).every(flat)) fitted[i] = { ...fitted[i], blank: true };
  });
  const pixels = new Uint8Array(n * per);
  images.forEach((g, i) => pixels.set(g, i * per));

  const rt = await createRuntime();
  try {
    checkSpecFile(rt, spec, opts.model);
    const model = modelWithWeights(rt, spec, ckpt.tensors, opts.checkpoint, !ckpt.spec && opts.model === undefined ? 'give its model with --model FILE' : undefined);
    const batchImages = rt.tensor(pixels, [n, per], { name: 'images' });
    // In batches, as eval: activations grow with the batch. The last batch is filled up with
    // image 0, its extra results dropped, so one program serves every batch.
    const batch = Math.min(n, EVAL_BATCH);
    const program = await rt.compile(
      ({ idx }) => ({ logits: model.forward(gather(batchImages, idx!).reshape(batch, ...model.inputShape), { training: false }) }),
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
    const results: Prediction[] = read.map((file, i) => {
      const row = logits.subarray(i * classes, (i + 1) * classes);
      // Finite weights can still overflow float32 on the way (a run that diverged between checks).
      if (!row.every(Number.isFinite)) throw new FileFormatError(opts.checkpoint, undefined, `the model's outputs for ${file} are NaN or infinite: weights that overflow float32, as a training run that diverged leaves`);
      const probabilities = softmax(row);
      const k = probabilities.indexOf(Math.max(...probabilities));
      return { file, class: k, ...(spec.classes ? { name: spec.classes[k]! } : {}), probabilities, ...fitted[i] };
    });
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ predictions: results, ...(failed.length ? { errors: failed } : {}) })}\n`);
    } else {
      for (const r of results) {
        const crop = r.resized?.crop;
        const how =
          r.fitted ? ` [fitted as an MNIST digit from ${r.fitted.width}×${r.fitted.height}${r.fitted.page ? `, the page at (${r.fitted.page.x}, ${r.fitted.page.y}) ${r.fitted.page.w}×${r.fitted.page.h} taken` : ''}${r.fitted.inverted ? ', its light background turned dark' : ''}]`
          : r.resized ? ` [resized from ${r.resized.width}×${r.resized.height}${crop!.w < r.resized.width || crop!.h < r.resized.height ? `, its centre ${+crop!.w.toFixed(1)}×${+crop!.h.toFixed(1)} taken` : ''}]`
          : undefined;
        const pct = `${(r.probabilities[r.class]! * 100).toFixed(2)}%`;
        const blank = r.blank ? ' [blank: one colour throughout, no ink found]' : '';
        io.stdout.write(`${r.file}: ${r.name === undefined ? `${r.class} (${pct})` : `${r.name} (class ${r.class}, ${pct})`}${how ?? ''}${blank}\n`);
        io.stdout.write(`  ${r.probabilities.map((p, k) => `${spec.classes?.[k] ?? k}: ${p.toFixed(4)}`).join('  ')}\n`);
      }
    }
    return failed.length ? 1 : 0;
  } finally {
    rt.dispose();
  }
}
