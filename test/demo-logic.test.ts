// The demo's logic that runs without a browser: the training loop's batches (those of
// `fovea train --seed 1`, again after every Reset), its loss and evaluation events, work that
// holds training (and stops a test in progress), the charts' points and step ticks, the
// probability bars' softmax, and the weights file check.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkpointBytes, Model, SEED_CNN, serializeSafetensors, TorchGenerator, Trainer, type EvaluateOptions, type Evaluation } from '../src/index.js';
import { logTicks, setPoint, STEP_INCRS } from '../demo/src/charts.js';
import { fitTiles, fixedText, logitText, scaleText } from '../demo/src/network-view.js';
import { arrowChoice } from '../demo/src/dom.js';
import { outLayer } from '../demo/src/inference.js';
import { percent, softmax } from '../demo/src/probabilities.js';
import { AUGMENTATION, TrainingLoop, type TrainingEvents, type TrainingSettings } from '../demo/src/training.js';
import { loadWeightsFile, WeightsFileError } from '../demo/src/weights-io.js';
import { savedName } from '../demo/src/weights-panel.js';
import { describeAdapter } from '../demo/src/webgpu-check.js';
import { useRuntime } from './helpers.js';
import { SEED_CNN_PY, torchJson } from './oracle.js';

const rt = useRuntime();
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** A stand-in for fovea's Trainer: records each batch; step k's loss is k, read back after `readMs`. */
class FakeTrainer {
  batches: number[][] = [];
  inFlight = false;
  resets = 0;
  /** Test batches (of 10 images) evaluated, and how long each takes. */
  evalBatches = 0;
  evalBatchMs = 0;
  readonly optimizer = { lr: 0, reset: () => void this.resets++ };
  /** The options of each setOptimizer, with the step it came before. */
  optimizers: [number, object][] = [];
  setOptimizer(choice: object): void {
    this.optimizers.push([this.batches.length + 1, choice]);
  }
  /** The augmentation of each setAugment, with the step it came before. */
  augments: [number, object | undefined][] = [];
  setAugment(augment: object | undefined): void {
    this.augments.push([this.batches.length + 1, augment]);
  }
  readonly opts = { generator: new TorchGenerator(0) };
  constructor(
    readonly size: number,
    private readonly stepMs = 0,
    private readonly readMs = 0,
    /** The first step whose loss is NaN. */
    private readonly nanFrom = Infinity,
    /** The step that throws. */
    private readonly failAt = Infinity,
  ) {}
  programFor(): object {
    return {};
  }
  async trainStep(idx: Uint32Array) {
    this.inFlight = true;
    await tick(this.stepMs);
    if (this.batches.length + 1 === this.failAt) throw new Error(`device lost at step ${this.failAt}`);
    this.inFlight = false;
    this.batches.push(Array.from(idx));
    const k = this.batches.length;
    return { read: () => tick(this.readMs).then(() => Float32Array.of(k >= this.nanFrom ? NaN : k)) };
  }
  async evaluate(_test: unknown, n: number, { onProgress, signal }: EvaluateOptions = {}): Promise<Evaluation> {
    onProgress?.(0, n);
    for (let done = 0; done < n; ) {
      signal?.throwIfAborted();
      await tick(this.evalBatchMs);
      this.evalBatches++;
      done = Math.min(n, done + 10);
      onProgress?.(done, n);
    }
    return { accuracy: 0.5, loss: 1, count: n, predictions: new Int32Array(0) };
  }
}

interface Log {
  losses: [number, number][];
  changes: [number, string][];
  evals: number[];
  order: string[];
  status: string[];
  stops: number;
}

/** A loop over a fake trainer; `stopAt(k)` makes it pause before its step k + 1. */
function loopOver(trainer: FakeTrainer, gen: TorchGenerator, opts: { batchSize: number; evalEvery?: number; evalImages?: number; failed?: (e: unknown) => void }) {
  const log: Log = { losses: [], changes: [], evals: [], order: [], status: [], stops: 0 };
  let stopAt = Infinity;
  let stopped: () => void = () => undefined;
  const events: TrainingEvents = {
    loss: (step, loss) => (log.losses.push([step, loss]), log.order.push(`loss ${step}`)),
    evaluation: (step) => (log.evals.push(step), log.order.push(`eval ${step}`)),
    settingsChanged: (step, what) => log.changes.push([step, what]),
    progress: () => undefined,
    status: (text) => log.status.push(text),
    stopped: (e) => {
      if (e && !opts.failed) throw e;
      if (e) opts.failed!(e);
      log.stops++;
      stopped();
    },
    beforeStep: async () => {
      if (loop.step >= stopAt) void loop.pause();
    },
  };
  const model = { load: () => undefined } as unknown as Model;
  const settings: TrainingSettings = { optimizer: 'adam', lr: 0.01, batchSize: opts.batchSize, augment: false, evalEvery: opts.evalEvery ?? 1e6, evalImages: opts.evalImages ?? 10 };
  const loop = new TrainingLoop(trainer as unknown as Trainer, model, { images: {} as never, labels: new Uint8Array() }, settings, new Map(), gen, events);
  /** Trains until `steps` steps are done in all, and resolves once the loop has stopped. */
  const trainTo = (steps: number) =>
    new Promise<void>((resolve) => {
      stopAt = steps;
      stopped = resolve;
      loop.start();
    });
  return { loop, log, settings, trainTo, trainOn: () => ((stopAt = Infinity), loop.start()) };
}

describe('the training loop', () => {
  it("takes the batches of `fovea train --seed 1` (whole batches of each epoch's permutation), again after every Reset or Load", async () => {
    const gen = new TorchGenerator(1);
    const trainer = new FakeTrainer(9);
    const { loop, trainTo } = loopOver(trainer, gen.clone(), { batchSize: 3 });
    // 9 images in batches of 3: three batches an epoch.
    const perms = [0, 1, 2].map(() => Array.from(gen.epochPermutation(9)));
    const expected = perms.flatMap((p) => [p.slice(0, 3), p.slice(3, 6), p.slice(6, 9)]).slice(0, 7);
    await trainTo(7);
    expect(trainer.batches).toEqual(expected);
    expect([loop.step, loop.epoch]).toEqual([7, 3]);
    for (let r = 0; r < 2; r++) {
      trainer.batches = [];
      await loop.reset(async () => undefined);
      expect([loop.step, loop.epoch, loop.wanted]).toEqual([0, 1, false]);
      await trainTo(4 + r);
      expect(trainer.batches, `after reset ${r + 1}`).toEqual(expected.slice(0, 4 + r));
    }
    // A load starts over from the file's weights, as `fovea train --init` does: a fresh
    // optimizer, step 0, the first batches again.
    trainer.batches = [];
    const resets = trainer.resets;
    await loop.whilePaused(async () => loop.startOver());
    expect([loop.step, loop.epoch, trainer.resets]).toEqual([0, 1, resets + 1]);
    await trainTo(4);
    expect(trainer.batches).toEqual(expected.slice(0, 4));
  });

  it('says at which step the learning rate or batch size changed, from the second step of a run on', async () => {
    const { loop, log, settings, trainTo } = loopOver(new FakeTrainer(100), new TorchGenerator(1), { batchSize: 4 });
    await trainTo(3);
    settings.lr = 0.02;
    await trainTo(5);
    settings.batchSize = 2;
    settings.lr = 0.5;
    await trainTo(6);
    expect(log.changes).toEqual([[4, 'lr 0.02'], [6, 'lr 0.5, batch 2']]);
    // A new run's first step changes nothing, whatever the last run ended with.
    await loop.whilePaused(async () => loop.startOver());
    settings.batchSize = 4;
    await trainTo(2);
    expect(log.changes).toHaveLength(2);
  });

  it('gives the trainer a new optimizer before the first step after the choice changed, at the rate then chosen, and says so', async () => {
    const trainer = new FakeTrainer(100);
    const { loop, log, settings, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 4 });
    await trainTo(2);
    settings.optimizer = 'sgd-momentum';
    settings.lr = 0.05;
    await trainTo(4);
    settings.optimizer = 'sgd';
    settings.optimizer = 'sgd-momentum'; // chosen back before a step: nothing changes
    await trainTo(5);
    settings.optimizer = 'sgd';
    await trainTo(6);
    expect(trainer.optimizers).toEqual([[3, { optimizer: 'sgd', momentum: 0.9, lr: 0.05 }], [6, { optimizer: 'sgd', lr: 0.05 }]]);
    expect(log.changes).toEqual([[3, 'SGD, momentum 0.9, lr 0.05'], [6, 'SGD']]);
    expect(trainer.optimizer.lr).toBe(0.05);
    // A Reset keeps the chosen optimizer: a fresh state of it, no new one.
    await loop.reset(async () => undefined);
    await trainTo(2);
    expect([trainer.optimizers.length, log.changes.length]).toEqual([2, 2]);
  });

  it('turns the augmentation on or off before the first step after the box changed, and says so', async () => {
    const trainer = new FakeTrainer(100);
    const { loop, log, settings, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 4 });
    await trainTo(2);
    settings.augment = true;
    await trainTo(4);
    settings.augment = false;
    settings.augment = true; // back before a step: nothing changes
    await trainTo(5);
    settings.augment = false;
    settings.lr = 0.03;
    await trainTo(6);
    expect(trainer.augments).toEqual([[3, AUGMENTATION], [6, undefined]]);
    expect(log.changes).toEqual([[3, 'augmentation on'], [6, 'lr 0.03, augmentation off']]);
    // A Reset keeps the choice.
    await loop.reset(async () => undefined);
    await trainTo(2);
    expect([trainer.augments.length, log.changes.length]).toEqual([2, 2]);
  });

  it("with a real Trainer, augmenting, takes the steps of `fovea train --seed 1 --augment-rotate 10 --augment-translate 0.1` again after a Reset", async () => {
    const spec = { input: [1, 6, 6], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 3 }] } as const;
    const count = 12;
    const data = { images: { count, rows: 6, cols: 6, pixels: Uint8Array.from({ length: 36 * count }, (_, i) => (i * 53 + 11) % 256) }, labels: Uint8Array.from({ length: count }, (_, i) => i % 3) };
    const gen = new TorchGenerator(1);
    const model = Model.create(rt(), spec, { generator: gen });
    const initial = await model.state();
    // As the CLI trains: the generator after the initialisation shuffles each epoch, then draws each step's transforms.
    const cliGen = gen.clone();
    const cli = await Trainer.create(rt(), model, data, { batchSize: 4, optimizer: 'sgd', lr: 0.1, generator: cliGen, augment: AUGMENTATION });
    for (let epoch = 0; epoch < 2; epoch++) {
      const order = cli.epochOrder();
      for (let k = 0; k < 3; k++) await cli.trainStep(order.slice(4 * k, 4 * k + 4));
    }
    const want = [...(await model.state())].map(([n, t]) => [n, [...t.data]]);
    cli.dispose();

    model.load(initial, 'initial');
    const trainer = await Trainer.create(rt(), model, data, { batchSize: 4, optimizer: 'sgd', lr: 0.1, generator: new TorchGenerator(99), augment: AUGMENTATION });
    const settings: TrainingSettings = { optimizer: 'sgd', lr: 0.1, batchSize: 4, augment: true, evalEvery: 1e6, evalImages: 1 };
    let stopAt = 0;
    let stopped = () => undefined as void;
    const loop: TrainingLoop = new TrainingLoop(trainer, model, data, settings, initial, gen, {
      loss: () => undefined,
      evaluation: () => undefined,
      settingsChanged: () => undefined,
      progress: () => undefined,
      status: () => undefined,
      stopped: (e) => {
        if (e) throw e;
        stopped();
      },
      beforeStep: async () => {
        if (loop.step >= stopAt) void loop.pause();
      },
    });
    const trainTo = (n: number) => new Promise<void>((resolve) => ((stopAt = n), (stopped = resolve), loop.start()));
    for (const run of ['first run', 'after a Reset']) {
      await trainTo(5); // a pause mid-epoch changes nothing
      await trainTo(6);
      expect([...(await model.state())].map(([n, t]) => [n, [...t.data]]), run).toEqual(want);
      await loop.reset(async () => undefined);
    }
    trainer.dispose();
    model.dispose();
  });

  it('reports every loss under its own step, and an evaluation after the loss of its step', async () => {
    const trainer = new FakeTrainer(100, 0, 5);
    const { log, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 4, evalEvery: 3 });
    await trainTo(7);
    expect(log.losses).toEqual([1, 2, 3, 4, 5, 6, 7].map((k) => [k, k]));
    expect(log.evals).toEqual([3, 6]);
    expect(log.order.slice(0, 4)).toEqual(['loss 1', 'loss 2', 'loss 3', 'eval 3']);
  });

  it('runs held work once the step in flight is done, takes no step meanwhile, then trains on', async () => {
    const trainer = new FakeTrainer(1000, 20);
    const { loop } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2 });
    loop.start();
    while (!trainer.inFlight) await tick(1);
    const seen = await loop.whilePaused(async () => {
      const state = { inFlight: trainer.inFlight, steps: trainer.batches.length };
      await tick(100);
      return { ...state, after: trainer.batches.length };
    });
    expect(seen.inFlight).toBe(false);
    expect(seen.after).toBe(seen.steps);
    const held = trainer.batches.length;
    await tick(150);
    expect(trainer.batches.length).toBeGreaterThan(held); // trains on: the user still wants it
    await loop.pause();
  }, 10_000);

  it('a pause or held work stops the test in progress after its batch; the test is taken when training goes on, unless the work tested', async () => {
    const trainer = new FakeTrainer(1000);
    trainer.evalBatchMs = 20; // 100 images: 10 batches
    const { loop, log, trainTo, trainOn } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, evalEvery: 3, evalImages: 100 });
    const testing = async () => {
      while (!log.status.at(-1)?.startsWith('testing… 10 of 100')) await tick(1);
    };
    loop.start();
    await testing(); // the test of step 3
    await loop.pause();
    expect(trainer.evalBatches).toBeLessThan(4);
    expect([loop.step, log.evals, log.status.at(-1)]).toEqual([3, [], '']);
    await trainTo(4);
    expect(log.order.slice(-3)).toEqual(['loss 3', 'eval 3', 'loss 4']);
    expect(log.status).toContain('testing… 100 of 100');
    // Work that holds training and tests the weights itself: the test of step 6 is not repeated.
    trainOn();
    await testing();
    await loop.whilePaused(() => loop.evaluate());
    while (loop.step < 8) await tick(1);
    await loop.pause();
    expect(log.evals).toEqual([3, 6]);
  }, 10_000);

  it("a held work's test (a load's, a reset's) stops for the next work and is taken again after it while paused; Start waits for it", async () => {
    const trainer = new FakeTrainer(1000);
    trainer.evalBatchMs = 20; // 100 images: 10 batches, 200 ms
    const { loop, log } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, evalEvery: 1000, evalImages: 100 });
    const testing = async () => {
      while (!log.status.at(-1)?.startsWith('testing… 10 of 100')) await tick(1);
    };
    // Loaded weights: a new run from weights of a file, as a load starts.
    const loaded = () => (loop.startOver(), loop.stoppableTest());
    // A save asked for during a load's test runs once that test's batch in flight is done.
    const load = loop.whilePaused(async () => loaded());
    await testing();
    let tested = NaN;
    await loop.whilePaused(async () => void (tested = trainer.evalBatches));
    // The save ran after the batch in flight (the test's second), not after the whole test.
    expect(tested).toBe(2);
    expect(await load).toBeUndefined(); // stopped
    // Training stays paused: the test is taken again once the save is done.
    while (!log.evals.length) await tick(5);
    expect(log.evals).toEqual([0]);
    // Start during another held test: training waits for it, which is not repeated.
    const batches = trainer.evalBatches;
    const again = loop.whilePaused(async () => loaded());
    await tick(30);
    loop.start();
    expect((await again)?.count).toBe(100);
    while (loop.step < 1) await tick(1);
    await loop.pause();
    expect(trainer.evalBatches - batches).toBe(10);
    expect(log.order.slice(0, 3)).toEqual(['eval 0', 'eval 0', 'loss 1']);
  }, 10_000);

  it('tests the initial weights once per number of images: a Reset takes the result again', async () => {
    const trainer = new FakeTrainer(1000);
    const { loop, log, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, evalImages: 100 });
    await loop.whilePaused(() => loop.evaluate());
    expect(trainer.evalBatches).toBe(10);
    await trainTo(2);
    await loop.reset(async () => void (await loop.evaluate()));
    expect([trainer.evalBatches, log.evals]).toEqual([10, [0, 0]]);
    // Other weights are tested (a step taken, weights loaded), and so is another number of images.
    await trainTo(1);
    await loop.whilePaused(() => loop.evaluate());
    await loop.whilePaused(async () => (loop.startOver(), await loop.evaluate()));
    expect(trainer.evalBatches).toBe(30);
    loop.settings.evalImages = 50;
    await loop.reset(async () => void (await loop.evaluate()));
    await loop.reset(async () => void (await loop.evaluate()));
    expect(trainer.evalBatches).toBe(35);
  });

  it('samples/s measures training: a test between steps does not pull it down', async () => {
    // Simulated time: steps of 10 ms with batches of 2 are 200 samples/s. Stopping reports the
    // step in flight with the one before, at one instant: 5 steps' samples over 4 steps' time,
    // 250 here. The 400 ms test at step 10, were it counted, would bring it under 30.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const trainer = new FakeTrainer(1000, 10); // steps of 10 ms, batches of 2
      trainer.evalBatchMs = 40; // the test of step 10: 400 ms
      const { loop, log, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, evalEvery: 10, evalImages: 100 });
      const trained = trainTo(16);
      await vi.runAllTimersAsync();
      await trained;
      expect(log.evals).toEqual([10]);
      expect(loop.speed).toBeGreaterThanOrEqual(200);
      expect(loop.speed).toBeLessThanOrEqual(250);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops when the loss becomes NaN, saying that training diverged and what to do', async () => {
    const trainer = new FakeTrainer(100, 0, 0, 4);
    let error: unknown;
    const { loop, log, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, failed: (e) => (error = e) });
    await trainTo(40);
    expect((error as Error).message).toBe('the loss became NaN at step 4: training diverged; lower the learning rate, then press Reset');
    expect(loop.wanted).toBe(false);
    // Every step taken is reported once: the one queued behind the NaN one too, no more.
    expect(log.losses.map(([step]) => step)).toEqual([1, 2, 3, 4, 5]);
    expect([trainer.batches.length, loop.step]).toEqual([5, 5]);
  });

  it('a step that fails is what the loop reports, not a NaN loss still being read', async () => {
    const trainer = new FakeTrainer(100, 0, 0, 3, 4);
    let error: unknown;
    const { log, trainTo } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2, failed: (e) => (error = e) });
    await trainTo(40);
    expect((error as Error).message).toBe('device lost at step 4');
    expect(log.losses.map(([step]) => step)).toEqual([1, 2, 3]);
  });

  it('Start pressed while the loop is winding down from a pause: it trains on', async () => {
    // Each loss reads back after 60 ms, so the loop waits that long for its last loss once paused.
    const trainer = new FakeTrainer(1000, 0, 60);
    const { loop, log, trainTo, trainOn } = loopOver(trainer, new TorchGenerator(1), { batchSize: 2 });
    const paused = trainTo(3);
    await tick(0);
    while (loop.step < 3) await tick(1);
    setTimeout(trainOn, 10); // before the last loss is read
    await paused;
    const at = trainer.batches.length;
    await tick(200);
    expect(loop.wanted).toBe(true);
    expect(trainer.batches.length).toBeGreaterThan(at);
    expect(log.stops).toBe(1);
    await loop.pause();
  });
});

describe('the activation rows', () => {
  it('fit 16 maps a row where each keeps its own pixels, 8 where not, and the ten classes in one row at any width', () => {
    // conv1's 16 maps of 28×28: 16 a row on a desktop, 8 of at least 28 px on a tablet.
    expect(fitTiles(16, 28, 900, 6).cols).toBe(16);
    const tablet = fitTiles(16, 28, 404, 6);
    expect(tablet.cols).toBe(8);
    expect(tablet.tile).toBeGreaterThanOrEqual(28);
    // conv2's 32 maps of 14×14 on a phone: 8 a row.
    expect(fitTiles(32, 14, 300, 6).cols).toBe(8);
    // The classes, labelled tile by tile: never wrapped, the tiles shrunk to fit.
    for (const width of [900, 300, 240]) {
      const { cols, tile } = fitTiles(10, 1, width, 6, true);
      expect(cols, `${width} px`).toBe(10);
      expect(10 * (tile + 6) - 6, `${width} px`).toBeLessThanOrEqual(width);
    }
  });
});

describe('the charts', () => {
  it('keep one point per step (a second test at a step replaces the first) and tick the step axis at whole steps', () => {
    const series: [number[], number[]] = [[], []];
    for (const [step, acc] of [[0, 10], [20, 50], [20, 60], [40, 70]] as const) setPoint(series, step, acc);
    expect(series).toEqual([[0, 20, 40], [10, 60, 70]]);
    expect(STEP_INCRS.slice(0, 7)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(STEP_INCRS.every(Number.isSafeInteger)).toBe(true);
    expect(STEP_INCRS.at(-1)).toBeGreaterThanOrEqual(1e7);
  });
});

describe('the log axis of the loss', () => {
  it('ticks at 1, 2 and 5 times the powers of ten within the range, as exact decimals', () => {
    expect(logTicks(0.1, 10)).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10]);
    expect(logTicks(0.03, 0.7)).toEqual([0.05, 0.1, 0.2, 0.5]);
    expect(logTicks(1e-3, 1e5).length).toBe(25); // 9 decades of three, less 2e5 and 5e5
    expect(logTicks(0, 1)).toEqual([]);
  });
});

describe('the ends of a colour scale', () => {
  it('have three significant digits, or an exponent far from 1', () => {
    expect([2.3456, 0.012345, 789.4, 0, 1e-5, 123456].map(scaleText)).toEqual(['2.35', '0.0123', '789', '0', '1.00e-5', '1.23e+5']);
  });
});

describe('the logits under the out row', () => {
  it('fit five characters: two decimals below 1, one below 10, none above; no sign on a rounded 0', () => {
    expect([-14.23, 5.26, -0.004, 0.123, -0.996, 9.96, -120.4].map(logitText)).toEqual(['−14', '5.3', '0.00', '0.12', '−1.0', '10', '−120']);
    expect([NaN, -Infinity].map(logitText)).toEqual(['NaN', '−Infinity']);
    // Weights in the explanation's tables: a tiny negative one is 0.000, not −0.000.
    expect([-0.0004, -0.0006, 0.0004, -1.23456].map((v) => fixedText(v, 3))).toEqual(['0.000', '−0.001', '0.000', '−1.235']);
  });
});

describe('the probability bars', () => {
  it('softmax of large logits is finite and sums to one', () => {
    const p = softmax([1000, 0, -1000, 999]);
    expect(Array.from(p).every(Number.isFinite)).toBe(true);
    expect(p[0]! + p[3]!).toBeCloseTo(1, 12);
    expect(p[0]! / p[3]!).toBeCloseTo(Math.E, 9);
    const q = softmax([1, 2, 3]);
    const e = [1, 2, 3].map(Math.exp);
    const z = e[0]! + e[1]! + e[2]!;
    expect(Array.from(q).map((v, i) => v - e[i]! / z)).toEqual([0, 0, 0].map(() => expect.closeTo(0, 15)));
  });

  it('shows a probability to one decimal, never a rounded 100.0% that it is not', () => {
    expect([0.109, 0.5, 0.99949, 0.9995, 0.99999, 1, 0].map(percent)).toEqual(['10.9%', '50.0%', '99.9%', '> 99.9%', '> 99.9%', '100.0%', '0.0%']);
  });
});

describe('the weights file check', () => {
  it('refuses a checkpoint whose network has a layer more than the seed CNN, naming it', async () => {
    const model = Model.create(rt(), SEED_CNN, { seed: 1 });
    const state = await model.state();
    const longer = { ...SEED_CNN, layers: [...SEED_CNN.layers, { type: 'relu' as const }] };
    const file = new File([checkpointBytes(state, longer) as Uint8Array<ArrayBuffer>], 'longer.safetensors');
    const err = await loadWeightsFile(model, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeightsFileError);
    expect(String(err)).toMatch(/longer\.safetensors holds a different model than this page's seed CNN: layer 9 is 4 \(relu\) \[10\] → \[10\] there, absent here\.$/);
    // The same layers, normalising their input: the page would feed them pixels as they are.
    const normalised = { ...SEED_CNN, normalize: { mean: [0.1307], std: [0.3081] } };
    const err2 = await loadWeightsFile(model, new File([checkpointBytes(state, normalised) as Uint8Array<ArrayBuffer>], 'normalised.safetensors')).catch((e: unknown) => e);
    expect(String(err2)).toBe("WeightsFileError: normalised.safetensors holds a network that normalises its input (mean 0.1307, std 0.3081), which this page's seed CNN does not.");
    // The same network loads.
    expect(await loadWeightsFile(model, new File([checkpointBytes(state, SEED_CNN) as Uint8Array<ArrayBuffer>], 'same.safetensors'))).toEqual({ tensors: 6, values: expect.any(Number) });
  });

  it("loads the seed CNN's state_dict saved with torch.save, with PyTorch's values", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-demo-pt-'));
    try {
      const torch = torchJson<Record<string, number[]>>(`${SEED_CNN_PY}
import json
torch.manual_seed(4)
sd = CNN().state_dict()
torch.save(sd, ${JSON.stringify(join(dir, 'cnn.pt'))})
print(json.dumps({k: t.flatten().tolist() for k, t in sd.items()}))`);
      const model = Model.create(rt(), SEED_CNN, { seed: 1 });
      const bytes = new Uint8Array(readFileSync(join(dir, 'cnn.pt')));
      expect(await loadWeightsFile(model, new File([bytes], 'cnn.pt'))).toEqual({ tensors: 6, values: 28938 });
      for (const [name, t] of await model.state()) expect(Array.from(t.data), name).toEqual(torch[name]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses NaN weights, optimizer state and other kinds of file, saying what each is, and writes nothing', async () => {
    const model = Model.create(rt(), SEED_CNN, { seed: 1 });
    const state = await model.state();
    const refused = async (bytes: Uint8Array, name: string) => String(await loadWeightsFile(model, new File([bytes as Uint8Array<ArrayBuffer>], name)).catch((e: unknown) => e));
    const diverged = new Map(state);
    const bias = state.get('out.bias')!;
    diverged.set('out.bias', { shape: bias.shape, data: bias.data.map((v, i) => (i === 3 ? NaN : v)) });
    expect(await refused(checkpointBytes(diverged, SEED_CNN), 'nan.safetensors')).toBe(
      'WeightsFileError: nan.safetensors: tensor "out.bias" holds 1 NaN or infinite value (of 10): the weights of a training run that diverged',
    );
    const optim = serializeSafetensors([['out.bias.exp_avg', { shape: [10], data: new Float32Array(10) }]], { optimizer: 'adam', modelSha256: '0'.repeat(64) });
    expect(await refused(optim, 'm.optim.safetensors')).toBe('WeightsFileError: m.optim.safetensors holds optimizer state (saved beside a model, for --resume), not a model; the model is m.safetensors');
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52);
    expect(await refused(png, 'digit.png')).toBe('WeightsFileError: digit.png is a PNG image, not weights: this loads .safetensors files (saved here or by fovea train) and .pt state_dicts (saved with torch.save).');
    expect(await refused(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16), 'digit.jpg')).toMatch(/^WeightsFileError: digit\.jpg is a JPEG image, not weights/);
    for (const [name, t] of await model.state()) expect(Array.from(t.data), name).toEqual(Array.from(state.get(name)!.data));
  });
});

describe('the name of saved weights', () => {
  it('gives the step of a run from the initial weights, or the file loaded and the steps since', () => {
    expect(savedName(120)).toBe('fovea-mnist-step120.safetensors');
    expect(savedName(0, 'cli.safetensors')).toBe('cli-plus-0-steps.safetensors');
    expect(savedName(17, 'My Model.SAFETENSORS')).toBe('My Model-plus-17-steps.safetensors');
    expect(savedName(3, 'mnist_cnn.pt')).toBe('mnist_cnn-plus-3-steps.safetensors');
    expect(savedName(120, undefined, 'torch')).toBe('fovea-mnist-step120.pt');
    expect(savedName(3, 'mnist_cnn.pt', 'torch')).toBe('mnist_cnn-plus-3-steps.pt');
  });
});

describe('choosing a channel with the keyboard', () => {
  const key = (k: string) => ({ key: k }) as KeyboardEvent;
  it('left and right step through all; up and down keep the column of a 16-wide grid, wrapping', () => {
    // 32 channels, 16 to a row (conv2's maps), and 25 with a short last row.
    expect([arrowChoice(key('ArrowRight'), 15, 32, 16), arrowChoice(key('ArrowLeft'), 0, 32, 16)]).toEqual([16, 31]);
    expect([arrowChoice(key('ArrowDown'), 5, 32, 16), arrowChoice(key('ArrowDown'), 21, 32, 16)]).toEqual([21, 5]);
    expect([arrowChoice(key('ArrowUp'), 21, 32, 16), arrowChoice(key('ArrowUp'), 5, 32, 16)]).toEqual([5, 21]);
    expect([arrowChoice(key('ArrowUp'), 3, 25, 16), arrowChoice(key('ArrowUp'), 12, 25, 16), arrowChoice(key('ArrowDown'), 12, 25, 16)]).toEqual([19, 12, 12]);
    // The first column: the last row down wraps to the top, the first row up to the bottom.
    expect([arrowChoice(key('ArrowDown'), 16, 32, 16), arrowChoice(key('ArrowUp'), 16, 32, 16), arrowChoice(key('ArrowUp'), 0, 32, 16)]).toEqual([0, 0, 16]);
    // Nothing chosen yet: down and right start at the first channel, left at the last.
    expect([arrowChoice(key('ArrowDown'), -1, 32, 16), arrowChoice(key('ArrowRight'), -1, 32, 16), arrowChoice(key('ArrowLeft'), -1, 32, 16)]).toEqual([0, 0, 31]);
    // One row (the explanation's input channels): up and down stay put.
    expect([arrowChoice(key('ArrowDown'), 4, 16), arrowChoice(key('ArrowUp'), 4, 16), arrowChoice(key('End'), 4, 16), arrowChoice(key('a'), 4, 16)]).toEqual([4, 4, 15, undefined]);
  });
});

describe('the adapter line', () => {
  it('names the adapter, and says when it is a CPU one', () => {
    const base = { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device', subgroupMinSize: 0, hostDevice: false };
    expect(describeAdapter({ ...base, software: true })).toBe(
      'google swiftshader (SwiftShader Device): a CPU adapter (WebGPU in software), so training is slow; on a GPU it runs tens of times faster',
    );
    expect(describeAdapter({ ...base, vendor: 'nvidia', architecture: 'ampere', description: '', software: false })).toBe('nvidia ampere');
  });
});

describe('the output layer explained', () => {
  it("is the seed CNN's linear layer over its flattened maps, and none where the flatten keeps an axis of the maps (the out row is then not pickable)", () => {
    expect(outLayer(Model.create(rt(), SEED_CNN))?.maps).toEqual([32, 7, 7]);
    const conv = { type: 'conv2d' as const, name: 'c', outChannels: 4, kernelSize: 3, padding: 1 };
    for (const flatten of [{ startDim: 2 }, { endDim: 2 }]) {
      const model = Model.create(rt(), { input: [1, 28, 28], layers: [conv, { type: 'flatten', ...flatten }, { type: 'linear', name: 'out', outFeatures: 10 }] });
      expect(outLayer(model)).toBeUndefined();
    }
  });
});
