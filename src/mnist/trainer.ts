// Training and evaluating a classifier on MNIST-shaped data, entirely on the GPU: the dataset
// is uploaded once, each step gathers its batch by index, and forward, backward and the
// optimizer update run as one compiled program (one submit, no read-back unless asked).
// Browser-safe: the CLI and the demo both drive this class.
import type { Optimizer } from '../model/optim/index.js';
import { RandomAffine, type RandomAffineOptions } from '../model/augment.js';
import { clipGradNorm } from '../model/clip-grad.js';
import type { Model } from '../model/model.js';
import type { TorchGenerator } from '../model/random.js';
import { grad } from '../runtime/autograd.js';
import { checkOptionNames, shown, unitOption } from '../runtime/options.js';
import { DeviceLimitError, ShapeError, TensorStateError } from '../runtime/errors.js';
import type { Program } from '../runtime/program.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import { gather } from '../ops/gather.js';
import { affineTransform } from '../ops/affine_transform.js';
import { softmaxCrossEntropy } from '../ops/softmax_cross_entropy.js';
import { Evaluator, type EvaluateOptions, type Evaluation, type GpuSplit, type LabelledImages } from './evaluate.js';
import { checkOptimizerOptions, createOptimizer, OPTIMIZER_CHOICE, type OptimizerChoice } from './optimizer-choice.js';

export type { Evaluation, LabelledImages } from './evaluate.js';
export type { OptimizerChoice } from './optimizer-choice.js';

/** Options of Trainer.create: the optimizer's (OptimizerChoice) and these. */
export interface TrainerOptions extends OptimizerChoice {
  /** Images per training step. */
  batchSize: number;
  /** The loss's label smoothing, as CrossEntropyLoss(label_smoothing=…) (default 0; evaluation's loss has none). */
  labelSmoothing?: number;
  /** Gradients scaled to this joint L2 norm at most before each update, as clip_grad_norm_ (default: not clipped). */
  maxGradNorm?: number;
  /**
   * The run's generator (PyTorch-compatible; after the initialisation, PyTorch's global one):
   * it shuffles, and draws the augmentation. Absent: batches in file order, no augmentation.
   */
  generator?: TorchGenerator;
  /**
   * Batches in the order the generator shuffles them, as a DataLoader with shuffle=True (default
   * true, where there is a generator; true without one is refused); false: in file order, the
   * generator drawing only the DataLoader's base seed of each epoch and the augmentation.
   */
  shuffle?: boolean;
  /**
   * Each training image transformed at random, as torchvision's RandomAffine on tensors (after
   * ToTensor) in the dataset of a DataLoader: each step's images in batch order, drawn from
   * `generator` (required) (default: none). Evaluation sees the images as they are.
   */
  augment?: RandomAffineOptions;
  /** Batch size of evaluation programs (default 200; memory grows with it; halved while too large for the device). */
  evalBatchSize?: number;
  /** Called as the pipelines of the first training step compile, during Trainer.create(). */
  onProgress?: (done: number, total: number) => void;
}

// TrainerOptions as a table, so that an option left out of it fails tsc; in the order errors
// list them: batchSize, the optimizer's, then the others.
const { batchSize: _, ...others } = { batchSize: true, labelSmoothing: true, maxGradNorm: true, generator: true, shuffle: true, augment: true, evalBatchSize: true, onProgress: true } satisfies Record<Exclude<keyof TrainerOptions, keyof OptimizerChoice>, true>;
const TRAINER_OPTIONS = ['batchSize', ...OPTIMIZER_CHOICE, ...Object.keys(others)];

/**
 * Compiled steps kept for batch sizes other than the options' and the epoch's last: each holds a
 * batch's activations and gradients (tens of MB), so a loop of many sizes must not keep them all.
 */
const MAX_OTHER_STEPS = 2;

/** Steps in an epoch of `count` images (the last batch may be smaller, as PyTorch's DataLoader). */
export function stepsPerEpoch(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/** The augmentation that `augment` describes, checked for the model and the Trainer's generator. */
function augmentation(model: Model, opts: Pick<TrainerOptions, 'generator'>, augment: RandomAffineOptions, who: string): RandomAffine {
  if (!opts.generator) throw new RangeError(`${who}: augment draws from the generator: give the Trainer one`);
  if (model.inputShape.length !== 3) throw new RangeError(`${who}: augment transforms images [C, H, W], and the model takes ${JSON.stringify(model.inputShape)}`);
  return new RandomAffine(augment);
}

/**
 * Trains a model on a labelled set kept on the GPU: each step gathers its batch by index and
 * runs forward, backward and the optimizer update as one compiled program; also evaluates.
 */
export class Trainer {
  /** Evaluates the model; its uploaded sets include the training set. */
  readonly evaluator: Evaluator;
  private readonly train: GpuSplit;
  private readonly steps = new Map<number, Program>();
  /** The augmentation, if any, and each batch size's buffer of its matrices (reused every step). */
  private augment: RandomAffine | undefined;
  private readonly matrices = new Map<number, Float32Array>();
  private taken = 0;
  private disposed = false;
  private current: Optimizer;
  private options: TrainerOptions;
  /** Counts the changes that the compiled steps depend on (setOptimizer, setAugment): a step compiled before one is not kept. */
  private generation = 0;

  private constructor(
    readonly rt: Runtime,
    readonly model: Model,
    data: LabelledImages,
    opts: TrainerOptions,
  ) {
    this.options = opts;
    this.augment = opts.augment && augmentation(model, opts, opts.augment, 'Trainer');
    this.evaluator = new Evaluator(rt, model, opts.evalBatchSize === undefined ? {} : { batchSize: opts.evalBatchSize });
    this.train = this.evaluator.upload(data);
    try {
      this.current = createOptimizer(model, opts, 'Trainer');
    } catch (e) {
      // The dataset is on the GPU already: a refused option must not keep it there.
      this.evaluator.dispose();
      throw e;
    }
  }

  /** The optimizer the options chose, or setOptimizer since (set `lr` on it to change the learning rate). */
  get optimizer(): Optimizer {
    return this.current;
  }

  /** The options the Trainer was created with, the optimizer's as setOptimizer last set them. */
  get opts(): Readonly<TrainerOptions> {
    return this.options;
  }

  /**
   * Replaces the optimizer, as a script that makes a new torch.optim optimizer over the same
   * parameters: fresh state (Adam's moments, momentum buffers), from options as create()'s
   * (`{ optimizer: 'sgd', lr: 0.01, momentum: 0.9 }`). The training step recompiles at its next
   * use. Bad options throw a RangeError and leave the optimizer as it was.
   */
  setOptimizer(choice: OptimizerChoice): void {
    if (this.disposed) throw new TensorStateError('setOptimizer: the Trainer was disposed');
    const who = 'Trainer.setOptimizer';
    if (typeof choice !== 'object' || choice === null) throw new RangeError(`${who}: give the optimizer's options, as { optimizer: 'sgd', lr: 0.01 }; got ${shown(choice)}`);
    checkOptionNames(choice, OPTIMIZER_CHOICE, (why) => new RangeError(`${who}: ${why}`));
    checkOptimizerOptions(choice, who);
    const next = createOptimizer(this.model, choice, who);
    this.current.dispose();
    this.current = next;
    this.recompile();
    const options: TrainerOptions = { ...this.options };
    for (const k of OPTIMIZER_CHOICE) delete options[k as keyof OptimizerChoice];
    this.options = { ...options, ...choice };
  }

  /**
   * Transforms each training image from the next step on as `augment` says (RandomAffine's
   * options, as create()'s), or no longer (undefined), as a script that changes its dataset's
   * transform between steps would. The draws come from the Trainer's generator, which it needs.
   * The step recompiles only where augmentation starts or stops, or its interpolation or fill
   * changes. Bad options throw a RangeError and leave the augmentation as it was.
   */
  setAugment(augment: RandomAffineOptions | undefined): void {
    if (this.disposed) throw new TensorStateError('setAugment: the Trainer was disposed');
    const next = augment === undefined ? undefined : augmentation(this.model, this.options, augment, 'Trainer.setAugment');
    const compiled = (a: RandomAffine | undefined) => a && `${a.interpolation} ${a.fill}`;
    if (compiled(next) !== compiled(this.augment)) this.recompile();
    this.augment = next;
    const { augment: _, ...options } = this.options;
    this.options = augment === undefined ? options : { ...options, augment };
  }

  /**
   * What the compiled steps traced: the optimizer's parameters, whether each trains. Freezing one
   * (requiresGrad), or adding a parameter group, since recompiles them at the next step, the
   * optimizer's state kept (PyTorch's loop just skips a parameter without a gradient).
   */
  private traced: boolean[] = [];
  private get retraced(): boolean {
    const params = this.optimizer.params;
    return params.length !== this.traced.length || params.some((p, i) => p.requiresGrad !== this.traced[i]);
  }

  /** Drops the compiled steps: each compiles again at its next use. */
  private recompile(): void {
    this.generation++;
    for (const p of this.steps.values()) p.dispose();
    this.steps.clear();
  }

  /** Uploads the training data and compiles the training step. */
  static async create(rt: Runtime, model: Model, data: LabelledImages, opts: TrainerOptions): Promise<Trainer> {
    checkOptionNames(opts, TRAINER_OPTIONS, (why) => new RangeError(`Trainer: ${why}`));
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`Trainer: batch size must be a positive integer, got ${opts.batchSize}`);
    checkOptimizerOptions(opts, 'Trainer');
    const { labelSmoothing, maxGradNorm } = opts;
    if (labelSmoothing !== undefined) unitOption('labelSmoothing', labelSmoothing, (why) => new RangeError(`Trainer: ${why}`));
    if (maxGradNorm !== undefined && !(typeof maxGradNorm === 'number' && maxGradNorm >= 0)) throw new RangeError(`Trainer: maxGradNorm must be a number ≥ 0, got ${shown(maxGradNorm)}`);
    if (opts.shuffle !== undefined && typeof opts.shuffle !== 'boolean') throw new RangeError(`Trainer: shuffle must be true or false, got ${shown(opts.shuffle)}`);
    // Without a generator the batches come in file order: shuffle asked for by name is refused, not ignored.
    if (opts.shuffle === true && !opts.generator) throw new RangeError('Trainer: shuffle draws from the generator: give the Trainer one (generator: new TorchGenerator(seed)), or leave shuffle out for file order');
    const t = new Trainer(rt, model, data, opts);
    try {
      await t.stepProgram(Math.min(opts.batchSize, t.train.count), opts.onProgress);
      // The epoch's last, smaller batch too: one the model refuses (batch norm's of one image)
      // is refused now, not after an epoch of training.
      const last = t.train.count % opts.batchSize;
      if (last && t.train.count > opts.batchSize) {
        await t.stepProgram(last).catch((e: unknown) => {
          if (!(e instanceof ShapeError) || e instanceof DeviceLimitError) throw e;
          throw new ShapeError(e.op, `the last batch of each epoch (${t.train.count} images in batches of ${opts.batchSize}) holds ${last}: ${e.detail}`, e.shapes);
        });
      }
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }

  /**
   * Steps taken (across epochs). Setting it (to resume) also sets where the model's dropout
   * masks go on: each step drew one per dropout layer.
   */
  get step(): number {
    return this.taken;
  }

  set step(n: number) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Trainer.step: a step count is a non-negative integer, got ${String(n)}`);
    this.taken = n;
    this.model.generator.offset = n * this.model.drawsPerForward;
  }

  /** Number of training images. */
  get size(): number {
    return this.train.count;
  }

  /** Steps per epoch (the last batch may be smaller, as PyTorch's DataLoader). */
  get stepsPerEpoch(): number {
    return stepsPerEpoch(this.train.count, this.opts.batchSize);
  }

  /** The order of the training images in the next epoch (drawing from the generator what a DataLoader draws at an epoch's start). */
  epochOrder(): Uint32Array {
    const g = this.opts.generator;
    if (g && this.opts.shuffle !== false) return g.epochPermutation(this.train.count);
    g?.randomInt64(); // the DataLoader's base seed, drawn unshuffled too
    return Uint32Array.from({ length: this.train.count }, (_, i) => i);
  }

  /** Advances the generator past the augmentation of `images` images, as training on them would (to resume a run). */
  skipAugmentation(images: number): void {
    if (this.augment) this.augment.skip(this.opts.generator!, images);
  }

  private async stepProgram(batch: number, onProgress?: (done: number, total: number) => void): Promise<Program> {
    let p = this.steps.get(batch);
    if (p) {
      // Moved to the end: the most recently used (see trimSteps).
      this.steps.delete(batch);
      this.steps.set(batch, p);
    }
    while (!p) {
      const { model, optimizer, train } = this;
      const generation = this.generation;
      const { labelSmoothing = 0, maxGradNorm } = this.opts;
      // The optimizer's order (its groups in turn), which step() takes the gradients in.
      const params = optimizer.params;
      const augment = this.augment;
      this.traced = params.map((p) => p.requiresGrad);
      p = await this.rt.compile(
        ({ idx, theta }) => {
          const images = train.gather(idx!).reshape(batch, ...model.inputShape);
          const x = augment ? affineTransform(images, theta!, { mode: augment.interpolation, fill: augment.fill }) : images;
          const loss = softmaxCrossEntropy(model.forward(x, { training: true }), gather(train.labels(), idx!), { labelSmoothing });
          // A parameter frozen since the optimizer was made gets no gradient, so the step skips it.
          const trained = params.filter((p) => p.requiresGrad);
          const computed = grad(loss, trained);
          const clipped = maxGradNorm === undefined ? computed : clipGradNorm(computed, maxGradNorm).grads;
          void optimizer.step(params.map((p) => (p.requiresGrad ? clipped[trained.indexOf(p)] : undefined)));
          return { loss };
        },
        { idx: { shape: [batch], dtype: 'u32' }, ...(augment ? { theta: { shape: [batch, 6], dtype: 'f32' as const } } : {}) },
        { name: `train step (batch ${batch})`, ...(onProgress ? { onProgress } : {}) },
      );
      // The optimizer or the augmentation changed while this compiled: compile again for the new one.
      if (generation !== this.generation) {
        p.dispose();
        p = undefined;
        continue;
      }
      this.steps.set(batch, p);
      this.trimSteps();
    }
    return p;
  }

  // Frees the least recently used steps of other batch sizes beyond MAX_OTHER_STEPS (never the
  // options' batch size or the epoch's last batch's). `steps` is in order of use: a step taken
  // is moved to its end (stepProgram), so the one about to run is kept.
  private trimSteps(): void {
    const { batchSize } = this.opts;
    const last = this.train.count % batchSize;
    const others = [...this.steps.keys()].filter((b) => b !== batchSize && b !== last);
    for (const b of others.slice(0, Math.max(0, others.length - MAX_OTHER_STEPS))) {
      this.steps.get(b)!.dispose();
      this.steps.delete(b);
      this.matrices.delete(b);
    }
  }

  /**
   * One training step on the images `indices` (one submit). Returns the loss tensor, which is
   * read back only if the caller reads it (before the next step).
   */
  async trainStep(indices: Uint32Array): Promise<Tensor> {
    if (this.disposed) throw new TensorStateError('trainStep: the Trainer was disposed');
    // The batch is gathered on the GPU, where an index past the set would read NaN into every
    // weight: checked here, on the host, where the indices are.
    if (!indices.length) throw new RangeError('trainStep: an empty batch');
    const bad = indices.findIndex((i) => i >= this.train.count);
    if (bad >= 0) throw new RangeError(`trainStep: index ${indices[bad]} (batch position ${bad}) is past the ${this.train.count} training images`);
    if (this.steps.size && this.retraced) this.recompile();
    const p = await this.stepProgram(indices.length);
    let loss: Tensor;
    if (!this.augment) loss = p.run({ idx: indices }).loss!;
    else {
      const [, h, w] = this.model.inputShape as [number, number, number];
      let theta = this.matrices.get(indices.length);
      if (!theta) this.matrices.set(indices.length, (theta = new Float32Array(indices.length * 6)));
      loss = p.run({ idx: indices, theta: this.augment.drawMatrices(this.opts.generator!, w, h, theta) }).loss!;
    }
    this.taken++; // a step refused is not taken
    return loss;
  }

  /** The compiled step for a batch size, if it exists (for stats). */
  programFor(batch: number): Program | undefined {
    return this.steps.get(batch);
  }

  /**
   * Accuracy, mean loss and predictions on a labelled set (the first `limit` images). A set is
   * uploaded once: evaluating the same data object again (or the training data) uploads nothing.
   * `opts` reports progress and can stop it (see EvaluateOptions).
   */
  evaluate(data: LabelledImages, limit = data.labels.length, opts: EvaluateOptions = {}): Promise<Evaluation> {
    return this.evaluator.evaluate(data, limit, opts);
  }

  /** Frees the compiled programs, the optimizer's state and every uploaded set (the training set included); the Trainer is unusable after. */
  dispose(): void {
    this.disposed = true;
    for (const p of this.steps.values()) p.dispose();
    this.steps.clear();
    this.optimizer.dispose();
    this.evaluator.dispose();
  }
}
