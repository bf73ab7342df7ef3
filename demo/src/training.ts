// The training loop of the page: steps of fovea's Trainer on shuffled batches, the loss of
// every step read back one step behind (so the GPU always has the next step queued and the page
// yields to the event loop at every read), test evaluations every N steps, and pause/reset.
// Whether it runs follows two things: the user's wish (the Start/Pause button) and the work that
// needs the weights still (save, load, reset), which runs one at a time with training paused.
// A pause or such work stops the loop's test in progress, and more such work the test of the work
// before it (after its batch in flight); the test is taken when training goes on, or once the
// work is done if training stays paused, unless the weights were tested meanwhile.
// Batches are shuffled as PyTorch's DataLoader does, by the trainer's generator, which also draws
// the augmentation and is set back to the state after the initialisation at every Reset, so every
// run from Reset takes the batches and transforms `fovea train --seed 1` takes.
import type { Evaluation, LabelledImages, Model, OptimizerChoice, RandomAffineOptions, TorchGenerator, Trainer } from 'fovea';

/** The optimizers the page offers, as the Trainer's options (the learning rate is a control of its own). */
export const OPTIMIZERS = {
  adam: { label: 'Adam', options: { optimizer: 'adam' } },
  'sgd-momentum': { label: 'SGD, momentum 0.9', options: { optimizer: 'sgd', momentum: 0.9 } },
  sgd: { label: 'SGD', options: { optimizer: 'sgd' } },
} as const satisfies Record<string, { label: string; options: Omit<OptimizerChoice, 'lr'> }>;

export type OptimizerKey = keyof typeof OPTIMIZERS;

/** The Trainer's options for an optimizer of the page at a learning rate. */
export const optimizerOptions = (key: OptimizerKey, lr: number): OptimizerChoice => ({ ...OPTIMIZERS[key].options, lr });

/**
 * The page's augmentation: each training digit turned by up to ±10° and shifted by up to a tenth
 * of its size, as `fovea train --augment-rotate 10 --augment-translate 0.1`, so that the network
 * learns digits not placed as MNIST's are.
 */
export const AUGMENTATION: RandomAffineOptions = { degrees: 10, translate: [0.1, 0.1] };

export interface TrainingSettings {
  optimizer: OptimizerKey;
  lr: number;
  batchSize: number;
  /** Whether each training digit is transformed at random (AUGMENTATION). */
  augment: boolean;
  /** Evaluate every this many steps. */
  evalEvery: number;
  /** on the first this many test images. */
  evalImages: number;
}

export interface TrainingEvents {
  loss(step: number, loss: number): void;
  evaluation(step: number, ev: Evaluation): void;
  /** Step `step` is the first with an optimizer, learning rate, batch size or augmentation other than the step before's (`what`, e.g. "lr 0.01"). */
  settingsChanged(step: number, what: string): void;
  /** After each step's loss is known. */
  progress(): void;
  status(text: string): void;
  /** The loop stopped (paused, held, or failed: then `wanted` turned false). */
  stopped(error?: unknown): void;
  /** Awaited before each step is submitted: lets work the user is waiting for go first. */
  beforeStep(): Promise<void>;
}

type Params = Map<string, { shape: number[]; data: Float32Array }>;

export class TrainingLoop {
  step = 0;
  epoch = 1;
  /** Images seen. */
  samples = 0;
  /** Training samples per second over the last few seconds of training (kept while paused). */
  speed = 0;
  /** Whether the user wants training to run (it does unless work holds it). */
  wanted = false;
  /** The trainer's generator: it shuffles here, and draws the augmentation in the trainer. */
  private readonly shuffler: TorchGenerator;
  private order: Uint32Array;
  private pos = 0;
  /** The loop goes on while this is true; it stops after the step in flight once false. */
  private go = false;
  /** The running loop, until it has stopped. */
  private loop: Promise<void> | undefined;
  /** Pending work that holds training (save, load, reset). */
  private holds = 0;
  /** That work, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The step whose test is due (taken before the next step), if any. */
  private due: number | undefined;
  /** The optimizer, learning rate, batch size and augmentation of the run's last step (undefined before its first). */
  private used: { optimizer: OptimizerKey; lr: number; batch: number; augment: boolean } | undefined;
  /** The page's optimizer that the trainer's is (the settings' when the loop was made, as the trainer's was). */
  private optimizer: OptimizerKey;
  /** Whether the trainer augments (AUGMENTATION). */
  private augmenting: boolean;
  /** Stops the test in progress (the loop's, or held work's). */
  private testing: AbortController | undefined;
  /** The work holding training when that test began (0: the loop's own). */
  private testingHolds = 0;
  private readonly times: { t: number; samples: number }[] = [];
  /** Whether the model holds the initial weights (no step or load since the start or a Reset). */
  private atInitial = true;
  /** Their tests by number of images: a test is deterministic, so a Reset's takes no time. */
  private readonly initialTests = new Map<number, Evaluation>();

  constructor(
    readonly trainer: Trainer,
    readonly model: Model,
    private readonly test: LabelledImages,
    readonly settings: TrainingSettings,
    private readonly initial: Params,
    /** The generator's state after the initialisation (not advanced by the loop). */
    private readonly shuffleStart: TorchGenerator,
    private readonly events: TrainingEvents,
  ) {
    const g = trainer.opts.generator;
    if (!g) throw new Error('TrainingLoop: the trainer needs a generator, which shuffles and augments');
    this.shuffler = g.setState(shuffleStart);
    this.order = this.shuffler.epochPermutation(trainer.size);
    this.optimizer = settings.optimizer;
    this.augmenting = trainer.opts.augment !== undefined;
  }

  /** Training runs from now on, or as soon as no work holds it (a test that work runs stops). */
  start(): void {
    this.wanted = true;
    this.sync();
  }

  /** Stops after the step in flight; resolves once it has. */
  async pause(): Promise<void> {
    this.wanted = false;
    this.sync();
    await this.loop;
  }

  /**
   * Runs `fn` with training paused (after any other such work), then goes on as the user wants.
   * A test in progress, the loop's or other work's, stops: nothing waits behind a whole test.
   */
  whilePaused<T>(fn: () => Promise<T>): Promise<T> {
    this.holds++;
    this.sync();
    const work = this.queue.then(async () => {
      await this.loop;
      try {
        return await fn();
      } finally {
        this.holds--;
        this.sync();
        // A test that later work stopped is taken now if training stays paused (else the loop
        // takes it): the page shows the weights' accuracy.
        if (this.holds === 0 && !this.wanted && this.due === this.step) {
          void this.whilePaused(() => this.stoppableTest()).catch((e: unknown) => this.events.stopped(e));
        }
      }
    });
    this.queue = work.catch(() => undefined);
    return work;
  }

  // Starts or stops the loop to match the user's wish and the work holding it.
  private sync(): void {
    this.go = this.wanted && this.holds === 0;
    // The loop's test stops when the loop may not run; held work's, when more work waits behind it.
    if (this.testing && (this.testingHolds === 0 ? !this.go : this.holds > this.testingHolds)) this.testing.abort();
    if (!this.go || this.loop) return; // a loop still running sees `go` at its next step
    this.times.length = 0;
    this.loop = this.run().then(
      () => this.stopped(),
      (e: unknown) => {
        this.wanted = false;
        this.stopped(e);
      },
    );
  }

  private stopped(error?: unknown): void {
    this.loop = undefined;
    this.events.stopped(error);
    this.sync(); // wanted again while it was stopping
  }

  /**
   * Back to the initial weights, a fresh optimizer and the first step; training stays paused.
   * `then` runs before anything else may touch the weights (a test of the initial weights).
   */
  reset(then: () => Promise<void>): Promise<void> {
    this.wanted = false;
    return this.whilePaused(async () => {
      this.restart();
      await then();
    });
  }

  private restart(): void {
    this.model.load(this.initial, 'initial weights');
    this.startOver();
    this.atInitial = true;
  }

  /**
   * A new run from the weights the model holds now (the initial ones, or a file's): a fresh
   * optimizer, step 0 and the first epoch's batches again, as `fovea train --init` takes them.
   * For work that holds training (inside whilePaused) and has just replaced the weights.
   */
  startOver(): void {
    this.atInitial = false;
    this.trainer.optimizer.reset();
    this.step = 0;
    this.epoch = 1;
    this.samples = 0;
    this.speed = 0;
    this.shuffler.setState(this.shuffleStart);
    this.order = this.shuffler.epochPermutation(this.trainer.size);
    this.pos = 0;
    this.due = undefined;
    this.used = undefined;
  }

  /**
   * Test accuracy on the first `settings.evalImages` test images, now: the caller holds training
   * (the loop itself, or work inside whilePaused), so the weights cannot change meanwhile.
   * Rejects with the signal's reason once `signal` aborts it.
   */
  async evaluate(signal?: AbortSignal): Promise<Evaluation> {
    const step = this.step;
    const count = (n: number) => n.toLocaleString('en-US');
    const images = this.settings.evalImages;
    try {
      // The test set goes to the GPU once; later evaluations reuse it.
      const known = this.atInitial ? this.initialTests.get(images) : undefined;
      const ev =
        known ??
        (await this.trainer.evaluate(this.test, images, {
          signal,
          onProgress: (done, total) => this.events.status(`testing… ${count(done)} of ${count(total)}`),
        }));
      if (this.atInitial) this.initialTests.set(images, ev);
      if (this.due === step) this.due = undefined;
      this.events.evaluation(step, ev);
      return ev;
    } finally {
      this.events.status('');
    }
  }

  /**
   * A test now, for the loop's due tests and for work holding training (a load's or a reset's
   * test). The loop's stops if training is paused or held meanwhile; held work's, if more work
   * is asked for (Start waits for it). A stopped test resolves undefined and is left due: the
   * loop takes it, or, while training stays paused, it is taken once the work is done.
   */
  async stoppableTest(): Promise<Evaluation | undefined> {
    const testing = (this.testing = new AbortController());
    this.testingHolds = this.holds;
    try {
      return await this.evaluate(testing.signal);
    } catch (e) {
      if (e !== testing.signal.reason) throw e;
      this.due = this.step;
      return undefined;
    } finally {
      if (this.testing === testing) this.testing = undefined;
    }
  }

  private async run(): Promise<void> {
    // Losses read back but not yet reported, oldest first: the step in flight's, and at most
    // one before it.
    const unread: { step: number; batch: number; loss: Promise<ArrayLike<number>> }[] = [];
    const report = async (check: boolean) => {
      const p = unread.shift()!;
      const v = (await p.loss)[0]!;
      this.samples += p.batch;
      this.measure();
      this.events.loss(p.step, v);
      this.events.progress();
      // Nothing more can be learned from NaN or infinite weights: stop, and say what to do.
      if (check && !Number.isFinite(v)) throw new Error(`the loss became ${v} at step ${p.step}: training diverged; lower the learning rate, then press Reset`);
    };
    let failed = false;
    try {
      while (this.go) {
        if (this.due === this.step) {
          await this.stoppableTest();
          this.times.length = 0; // samples/s measures training: the test's time is not in it
          continue;
        }
        await this.events.beforeStep();
        if (!this.go) break;
        const batch = this.settings.batchSize;
        if (this.pos + batch > this.order.length) {
          // A new epoch (the last partial batch is dropped, so no other batch size compiles).
          this.epoch++;
          this.order = this.shuffler.epochPermutation(this.trainer.size);
          this.pos = 0;
        }
        const idx = this.order.slice(this.pos, this.pos + batch);
        this.pos += batch;
        const { lr, optimizer, augment } = this.settings;
        // Another optimizer: a new one, fresh state, as a script would make between steps.
        if (optimizer !== this.optimizer) {
          this.trainer.setOptimizer(optimizerOptions(optimizer, lr));
          this.optimizer = optimizer;
        }
        this.trainer.optimizer.lr = lr;
        if (augment !== this.augmenting) {
          this.trainer.setAugment(augment ? AUGMENTATION : undefined);
          this.augmenting = augment;
        }
        const was = this.used;
        if (was && (was.optimizer !== optimizer || was.lr !== lr || was.batch !== batch || was.augment !== augment)) {
          const what = [was.optimizer !== optimizer ? OPTIMIZERS[optimizer].label : '', was.lr !== lr ? `lr ${lr}` : '', was.batch !== batch ? `batch ${batch}` : '', was.augment !== augment ? `augmentation ${augment ? 'on' : 'off'}` : ''];
          this.events.settingsChanged(this.step + 1, what.filter(Boolean).join(', '));
        }
        this.used = { optimizer, lr, batch, augment };
        const compiling = !this.trainer.programFor(batch);
        if (compiling) this.events.status(`compiling the training step for batch size ${batch}…`);
        this.atInitial = false;
        const loss = await this.trainer.trainStep(idx);
        if (compiling) this.events.status('');
        this.step++;
        // NOTE: read() enqueues the copy now, before the next step overwrites the loss.
        const read = loss.read();
        read.catch(() => undefined); // awaited in order below; a failure must not go unhandled meanwhile
        unread.push({ step: this.step, batch, loss: read });
        if (unread.length > 1) await report(true);
        if (this.step % this.settings.evalEvery === 0) {
          await report(true);
          this.due = this.step;
        }
      }
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      // Every step taken is reported. After a failure, only that failure is thrown.
      while (unread.length) await (failed ? report(false).catch(() => undefined) : report(true));
    }
  }

  private measure(): void {
    const now = performance.now();
    this.times.push({ t: now, samples: this.samples });
    while (this.times.length > 2 && now - this.times[0]!.t > 3000) this.times.shift();
    const first = this.times[0]!;
    const dt = (now - first.t) / 1000;
    if (dt > 0) this.speed = (this.samples - first.samples) / dt;
  }
}
