// Training and evaluating a classifier on MNIST-shaped data, entirely on the GPU: the dataset
// is uploaded once, each step gathers its batch by index, and forward, backward and the
// optimizer update run as one compiled program (one submit, no read-back unless asked).
// Browser-safe: the CLI and the demo both drive this class.
import { Adam, SGD, type Optimizer } from '../model/optim.js';
import type { Model } from '../model/model.js';
import type { TorchGenerator } from '../model/random.js';
import { grad } from '../runtime/autograd.js';
import { ShapeError } from '../runtime/errors.js';
import type { Program } from '../runtime/program.js';
import type { Runtime } from '../runtime/runtime.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { argmax } from '../ops/argmax.js';
import { gather } from '../ops/gather.js';
import { softmaxCrossEntropy } from '../ops/softmax_cross_entropy.js';
import type { MnistImages } from './idx.js';

/** Images (bytes) and their labels. */
export interface LabelledImages {
  images: MnistImages;
  labels: Uint8Array;
}

export interface TrainerOptions {
  batchSize: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  momentum?: number;
  /** Generator for shuffling (PyTorch-compatible); absent: batches in file order. */
  generator?: TorchGenerator;
  /** Batch size of evaluation programs (memory grows with it). */
  evalBatchSize?: number;
}

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy over the images. */
  loss: number;
  count: number;
  /** The arg-max class of every image, in order. */
  predictions: Int32Array;
}

/** A dataset kept on the GPU: bytes for images, i32 labels. */
class GpuSplit {
  readonly images: Tensor;
  readonly labels: Tensor;
  readonly count: number;

  constructor(rt: Runtime, split: LabelledImages, sampleShape: readonly number[]) {
    const { count, rows, cols, pixels } = split.images;
    const per = sampleShape.reduce((a, b) => a * b, 1);
    if (rows * cols !== per) throw new ShapeError('trainer', `images are ${rows}×${cols}, the model takes ${fmt(sampleShape)}`, [[rows, cols], sampleShape]);
    this.count = count;
    this.images = rt.tensor(pixels, [count, per], { name: 'dataset images' });
    this.labels = rt.tensor(Int32Array.from(split.labels), [count], { name: 'dataset labels' });
  }

  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }
}

export class Trainer {
  readonly optimizer: Optimizer;
  private readonly train: GpuSplit;
  private readonly steps = new Map<number, Program>();
  private readonly evals = new Map<string, Program>();
  private readonly evalBatch: number;
  /** Steps taken (across epochs). */
  step = 0;

  private constructor(
    readonly rt: Runtime,
    readonly model: Model,
    data: LabelledImages,
    readonly opts: TrainerOptions,
  ) {
    this.train = new GpuSplit(rt, data, model.inputShape);
    const params = [...model.parameters.values()];
    this.optimizer = opts.optimizer === 'adam' ? new Adam(params, { lr: opts.lr }) : new SGD(params, { lr: opts.lr, momentum: opts.momentum ?? 0 });
    this.evalBatch = opts.evalBatchSize ?? 200;
  }

  /** Uploads the training data and compiles the training step. */
  static async create(rt: Runtime, model: Model, data: LabelledImages, opts: TrainerOptions, onProgress?: (done: number, total: number) => void): Promise<Trainer> {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${opts.batchSize}`);
    const t = new Trainer(rt, model, data, opts);
    await t.stepProgram(Math.min(opts.batchSize, t.train.count), onProgress);
    return t;
  }

  /** Number of training images. */
  get size(): number {
    return this.train.count;
  }

  /** Steps per epoch (the last batch may be smaller, as PyTorch's DataLoader). */
  get stepsPerEpoch(): number {
    return Math.ceil(this.train.count / this.opts.batchSize);
  }

  /** The order of the training images in the next epoch. */
  epochOrder(): Uint32Array {
    if (this.opts.generator) return this.opts.generator.epochPermutation(this.train.count);
    return Uint32Array.from({ length: this.train.count }, (_, i) => i);
  }

  private async stepProgram(batch: number, onProgress?: (done: number, total: number) => void): Promise<Program> {
    let p = this.steps.get(batch);
    if (!p) {
      const { model, optimizer, train } = this;
      const params = [...model.parameters.values()];
      p = await this.rt.compile(
        ({ idx }) => {
          const x = gather(train.images, idx!).reshape(batch, ...model.inputShape);
          const loss = softmaxCrossEntropy(model.forward(x), gather(train.labels, idx!));
          void optimizer.step(grad(loss, params));
          return { loss };
        },
        { idx: { shape: [batch], dtype: 'u32' } },
        { name: `train step (batch ${batch})`, ...(onProgress ? { onProgress } : {}) },
      );
      this.steps.set(batch, p);
    }
    return p;
  }

  /**
   * One training step on the images `indices` (one submit). Returns the loss tensor, which is
   * read back only if the caller reads it (before the next step).
   */
  async trainStep(indices: Uint32Array): Promise<Tensor> {
    const p = this.steps.get(indices.length) ?? (await this.stepProgram(indices.length));
    this.step++;
    return p.run({ idx: indices }).loss!;
  }

  /** The compiled step for a batch size, if it exists (for stats). */
  programFor(batch: number): Program | undefined {
    return this.steps.get(batch);
  }

  /** Accuracy, mean loss and predictions on a labelled set (the first `limit` images). */
  async evaluate(data: LabelledImages, limit = data.labels.length): Promise<Evaluation> {
    const split = new GpuSplit(this.rt, data, this.model.inputShape);
    try {
      return await this.evaluateOn(split, data.labels, Math.min(limit, split.count));
    } finally {
      split.dispose();
    }
  }

  private async evaluateOn(split: GpuSplit, labels: Uint8Array, count: number): Promise<Evaluation> {
    const predictions = new Int32Array(count);
    let lossSum = 0;
    for (let start = 0; start < count; start += this.evalBatch) {
      const n = Math.min(this.evalBatch, count - start);
      const key = `${n}/${split.count}`;
      let p = this.evals.get(key);
      if (!p) {
        const { model } = this;
        p = await this.rt.compile(
          ({ idx, images, labels }) => {
            const x = gather(images!, idx!).reshape(n, ...model.inputShape);
            const logits = model.forward(x);
            return { loss: softmaxCrossEntropy(logits, gather(labels!, idx!)), pred: argmax(logits) };
          },
          { idx: { shape: [n], dtype: 'u32' }, images: { shape: split.images.shape, dtype: 'u8' }, labels: { shape: split.labels.shape, dtype: 'i32' } },
          { name: `evaluate (batch ${n})` },
        );
        this.evals.set(key, p);
      }
      const out = p.run({ idx: Uint32Array.from({ length: n }, (_, i) => start + i), images: split.images, labels: split.labels });
      const [loss, pred] = await Promise.all([out.loss!.read(), out.pred!.read()]);
      lossSum += loss[0]! * n;
      predictions.set(pred as Int32Array, start);
    }
    let correct = 0;
    for (let i = 0; i < count; i++) if (predictions[i] === labels[i]) correct++;
    return { accuracy: correct / count, loss: lossSum / count, count, predictions };
  }

  dispose(): void {
    for (const p of [...this.steps.values(), ...this.evals.values()]) p.dispose();
    this.train.dispose();
  }
}
