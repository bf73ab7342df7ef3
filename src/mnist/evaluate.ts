// Evaluating a classifier on labelled images, on the GPU: accuracy, mean cross-entropy and the
// predicted class of every image, in batches run by one compiled program per batch size. Each
// images object is uploaded once and kept on the GPU while it lives, so evaluating the same set
// again uploads nothing. Browser-safe: the Trainer, `fovea eval` and the demo all use it.
import { argmax } from '../ops/argmax.js';
import { gather, gatherShards } from '../ops/gather.js';
import { softmaxCrossEntropy } from '../ops/softmax_cross_entropy.js';
import type { Model } from '../model/model.js';
import { DeviceLimitError, ShapeError, TensorStateError } from '../runtime/errors.js';
import type { Program } from '../runtime/program.js';
import type { Runtime } from '../runtime/runtime.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import type { MnistImages } from './idx.js';

/** Images (bytes) and their labels. */
export interface LabelledImages {
  images: MnistImages;
  labels: Uint8Array;
  /** Where the images and labels were read from; errors about the set name them. */
  files?: { images: string; labels: string };
}

/** What an evaluation measured. */
export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy over the images. */
  loss: number;
  count: number;
  /** The arg-max class of every image, in order. */
  predictions: Int32Array;
}

/**
 * @internal A labelled set kept on the GPU: bytes for images, i32 labels. The labels it was
 * created with stay uploaded (a training step may read them); another labels array for the same
 * images gets a second tensor, replaced when yet another array comes.
 */
export class GpuSplit {
  /**
   * The images on the GPU, u8 [images, sample size]: one tensor, or, for a set larger than one
   * buffer binding may be, shards of whole images, each with the number of its first.
   */
  readonly shards: readonly { images: Tensor; start: number }[];
  readonly count: number;
  private readonly classes: number;
  private readonly first: { source: Uint8Array; tensor: Tensor };
  private other: { source: Uint8Array; tensor: Tensor } | undefined;

  constructor(
    private readonly rt: Runtime,
    split: LabelledImages,
    sampleShape: readonly number[],
    outputShape: readonly number[],
  ) {
    const { count, rows, cols, pixels, channels = 1 } = split.images;
    const per = sampleShape.reduce((a, b) => a * b, 1);
    const where = split.files ? `${split.files.images}: ` : '';
    if (!Number.isInteger(channels) || channels < 1) throw new ShapeError('dataset', `${where}channels must be a positive integer, got ${String(channels)}`, [[count, rows, cols]]);
    // An image is the sample's last two sizes (or all of it, for a flat input): 4×16 bytes are
    // not an 8×8 image, though they hold as many; and its channels, the size before them.
    const [h, w] = sampleShape.length >= 2 ? sampleShape.slice(-2) : [rows, cols];
    const image = channels === 1 ? `${rows}×${cols}` : `${channels}×${rows}×${cols}`;
    const dims = channels === 1 ? [rows, cols] : [channels, rows, cols];
    if (channels * rows * cols !== per || rows !== h || cols !== w || (channels > 1 && sampleShape.length >= 3 && sampleShape.at(-3) !== channels)) {
      throw new ShapeError('dataset', `${where}images are ${image}, the model takes ${fmt(sampleShape)}`, [dims, sampleShape]);
    }
    if (count < 1) throw new ShapeError('dataset', `${where}no images`, [[count, ...dims]]);
    if (pixels.length !== count * per) {
      throw new ShapeError('dataset', `${where}pixels holds ${pixels.length} bytes, but ${count} images of ${image} need ${count * per}`, [[pixels.length], [count, ...dims]]);
    }
    if (outputShape.length !== 1) {
      throw new ShapeError('model', `its output per image is ${fmt(outputShape)}; a classifier's must be [classes] (end the model with flatten and linear)`, [outputShape]);
    }
    this.count = count;
    this.classes = outputShape[0]!;
    this.first = { source: split.labels, tensor: this.upload(split.labels, split.files?.labels) };
    const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = rt.limits;
    // Whole images per shard, their bytes (padded to a word) within one binding.
    const most = Math.max(1, Math.floor((Math.min(binding, buffer) - 3) / per));
    const shards: { images: Tensor; start: number }[] = [];
    for (let start = 0; start < count; start += most) {
      const n = Math.min(most, count - start);
      shards.push({ images: rt.tensor(pixels.subarray(start * per, (start + n) * per), [n, per], { name: count > most ? `dataset images ${start}…${start + n - 1}` : 'dataset images' }), start });
    }
    this.shards = shards;
  }

  /** The images `idx` names, f32 ÷ 255 [idx.length, sample size], from the shards' tensors (or `tables`, a program's inputs standing for them). */
  gather(idx: Tensor, tables: readonly Tensor[] = this.shards.map((s) => s.images)): Tensor {
    return gatherShards(tables, this.shards.map((s) => s.start), idx);
  }

  /** The shards as a program's inputs (images0, images1, …): their specs. */
  inputSpecs(): Record<string, { shape: number[]; dtype: 'u8' }> {
    return Object.fromEntries(this.shards.map((s, k) => [`images${k}`, { shape: [...s.images.shape], dtype: 'u8' as const }]));
  }

  /** The shards as a program's inputs: their tensors, under the names inputSpecs gives. */
  inputs(): Record<string, Tensor> {
    return Object.fromEntries(this.shards.map((s, k) => [`images${k}`, s.images]));
  }

  /** The labels on the GPU: those the set was created with, or `labels` (uploaded once; `file` names them in errors). */
  labels(labels: Uint8Array = this.first.source, file?: string): Tensor {
    if (labels === this.first.source) return this.first.tensor;
    if (labels !== this.other?.source) {
      const tensor = this.upload(labels, file);
      this.other?.tensor.dispose();
      this.other = { source: labels, tensor };
    }
    return this.other.tensor;
  }

  private upload(labels: Uint8Array, file: string | undefined): Tensor {
    const where = file ? `${file}: ` : '';
    if (labels.length !== this.count) throw new ShapeError('dataset', `${where}${labels.length} labels for ${this.count} images`, [[labels.length], [this.count]]);
    // NOTE: the loss does not bounds-check its targets on the GPU: a label past the model's
    // outputs would train on NaN. Labels are unsigned bytes, so none is negative.
    let at = 0;
    for (let i = 1; i < labels.length; i++) if (labels[i]! > labels[at]!) at = i;
    if (labels.length && labels[at]! >= this.classes) {
      throw new ShapeError(
        'dataset',
        `${where}label ${labels[at]} (image ${at}, the largest label) is out of bounds for the model's ${this.classes} outputs: labels must be 0..${this.classes - 1}`,
        [[labels.length], [this.classes]],
      );
    }
    return this.rt.tensor(Int32Array.from(labels), [this.count], { name: 'dataset labels' });
  }

  dispose(): void {
    for (const s of this.shards) s.images.dispose();
    this.first.tensor.dispose();
    this.other?.tensor.dispose();
  }
}

// Programs an Evaluator keeps (one per batch size and set size; each holds a batch's
// intermediates, about 90 MB for the seed CNN at batch 200).
const MAX_PROGRAMS = 4;

/** Images per batch when evaluating or predicting, unless told otherwise. */
export const EVAL_BATCH = 200;

/** Options of an Evaluator. */
export interface EvaluatorOptions {
  /**
   * Images per evaluation batch (memory grows with it; default 200). A batch whose tensors are
   * too large for the device is halved until it fits (see Evaluator.batchSize).
   */
  batchSize?: number;
}

/** Options of one evaluation (Evaluator.evaluate, Trainer.evaluate, evaluate()). */
export interface EvaluateOptions {
  /** Called with the images evaluated so far and their total: (0, total) first, then after each batch. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Stops the evaluation: checked before each batch (the batch in flight finishes), after which
   * it rejects with the signal's reason (by default a DOMException named 'AbortError').
   */
  signal?: AbortSignal;
}

/**
 * Evaluates a model on labelled sets. Each images object is uploaded on first use and reused by
 * later evaluations (keyed by the object, held weakly: a set that is no longer referenced is
 * freed with it); the compiled programs are kept. NOTE: pixels changed in place are not seen
 * again; pass a new images object instead.
 */
export class Evaluator {
  private size: number;
  /** Compiled programs, least recently used first (at most MAX_PROGRAMS: each holds a batch's intermediates). */
  private readonly programs = new Map<string, Program>();
  /** Evaluations in progress (their programs must stay). */
  private running = 0;
  private disposed = false;
  private readonly uploaded = new WeakMap<MnistImages, GpuSplit>();
  private readonly live = new Set<WeakRef<GpuSplit>>();

  constructor(
    readonly rt: Runtime,
    readonly model: Model,
    opts: EvaluatorOptions = {},
  ) {
    this.size = opts.batchSize ?? EVAL_BATCH;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`evaluation batch size must be a positive integer, got ${this.size}`);
  }

  /** Images per evaluation batch: as asked, or halved until the model's tensors fit the device. */
  get batchSize(): number {
    return this.size;
  }

  /** @internal The GPU copy of a labelled set (uploaded once per images object). */
  upload(data: LabelledImages): GpuSplit {
    if (this.disposed) throw new TensorStateError('evaluate: the Evaluator (or its Trainer) was disposed');
    let split = this.uploaded.get(data.images);
    if (!split) {
      split = new GpuSplit(this.rt, data, this.model.inputShape, this.model.outputShape);
      this.uploaded.set(data.images, split);
      for (const ref of this.live) if (!ref.deref()) this.live.delete(ref);
      this.live.add(new WeakRef(split));
    }
    return split;
  }

  /** Accuracy, mean loss and predictions on a labelled set (the first `limit` images). */
  async evaluate(data: LabelledImages, limit = data.labels.length, opts: EvaluateOptions = {}): Promise<Evaluation> {
    const { onProgress, signal } = opts;
    const split = this.upload(data); // an empty set is refused here, before its default limit 0
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`evaluate: limit must be a positive integer, got ${limit}`);
    const count = Math.min(limit, split.count);
    const predictions = new Int32Array(count);
    let lossSum = 0;
    const idx = new Uint32Array(this.batchSize);
    this.running++;
    try {
      onProgress?.(0, count);
      for (let start = 0; start < count; ) {
        signal?.throwIfAborted();
        const n = Math.min(this.batchSize, count - start);
        const p = await this.fitted(n, split);
        signal?.throwIfAborted(); // the first batch's compile may have taken long
        if (!p) continue; // the batch size was halved: take a smaller batch
        for (let i = 0; i < n; i++) idx[i] = start + i;
        const out = p.run({ idx: idx.subarray(0, n), ...split.inputs(), labels: split.labels(data.labels, data.files?.labels) });
        const [loss, pred] = await Promise.all([out.loss!.read(), out.pred!.read()]);
        lossSum += loss[0]! * n;
        predictions.set(pred as Int32Array, start);
        start += n;
        onProgress?.(start, count);
      }
    } finally {
      this.running--;
      this.trim();
    }
    let correct = 0;
    for (let i = 0; i < count; i++) if (predictions[i] === data.labels[i]) correct++;
    return { accuracy: correct / count, loss: lossSum / count, count, predictions };
  }

  // The program for a batch of n, or undefined when a batch of n needs a tensor over the device's
  // limits (found while tracing, before anything runs): the batch size is then halved.
  private async fitted(n: number, split: GpuSplit): Promise<Program | undefined> {
    try {
      return await this.program(n, split);
    } catch (e) {
      if (!(e instanceof DeviceLimitError) || n === 1) throw e;
      this.size = Math.ceil(n / 2);
      return undefined;
    }
  }

  // One program per batch size and set size: it gathers its batch from the whole set by index.
  private async program(n: number, split: GpuSplit): Promise<Program> {
    const key = `${n}/${split.count}`;
    let p = this.programs.get(key);
    if (p) {
      this.programs.delete(key); // most recently used: last
      this.programs.set(key, p);
    } else {
      const { model } = this;
      p = await this.rt.compile(
        ({ idx, labels, ...images }) => {
          const x = split.gather(idx!, split.shards.map((_, k) => (images as Record<string, Tensor>)[`images${k}`]!)).reshape(n, ...model.inputShape);
          const logits = model.forward(x, { training: false });
          return { loss: softmaxCrossEntropy(logits, gather(labels!, idx!)), pred: argmax(logits) };
        },
        { idx: { shape: [n], dtype: 'u32' }, ...split.inputSpecs(), labels: { shape: [split.count], dtype: 'i32' } },
        { name: `evaluate (batch ${n})` },
      );
      this.programs.set(key, p);
    }
    return p;
  }

  // Frees the least recently used programs beyond MAX_PROGRAMS, once no evaluation runs one.
  private trim(): void {
    if (this.running) return;
    for (const [key, p] of this.programs) {
      if (this.programs.size <= MAX_PROGRAMS) break;
      this.programs.delete(key);
      p.dispose();
    }
  }

  /** Frees the compiled programs and every uploaded set; the evaluator is unusable after. */
  dispose(): void {
    this.disposed = true;
    for (const p of this.programs.values()) p.dispose();
    this.programs.clear();
    for (const ref of this.live) ref.deref()?.dispose();
    this.live.clear();
  }
}

/**
 * Evaluates a model on a labelled set (the first `opts.limit` images) and frees what it
 * uploaded and compiled; no training data or Trainer needed. For repeated evaluations, keep an
 * Evaluator instead.
 */
export async function evaluate(rt: Runtime, model: Model, data: LabelledImages, opts: EvaluatorOptions & EvaluateOptions & { limit?: number } = {}): Promise<Evaluation> {
  const ev = new Evaluator(rt, model, opts);
  try {
    return await ev.evaluate(data, opts.limit, opts);
  } finally {
    ev.dispose();
  }
}
