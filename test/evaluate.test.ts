// Evaluation without a Trainer (Evaluator, evaluate()) against a float64 reference of a small
// linear model; each images object uploaded once (repeated evaluations, and the Trainer's own
// training set, write no pixels again); other labels for the training images leave training
// intact; the Trainer's onProgress option; everything freed by dispose(); labels and images that
// do not fit the model refused before anything runs; progress and aborting an evaluation.
import { describe, expect, it, vi } from 'vitest';
import { createRuntime, type AdamW, evaluate, Evaluator, Model, ShapeError, Trainer, type LabelledImages, type ModelSpec } from '../src/index.js';
import { POISON } from '../src/runtime/buffers.js';
import { expectClose, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const SPEC: ModelSpec = { input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', name: 'out', outFeatures: 10 }] };
const PIXELS = 28 * 28;

function dataset(rng: Rng, count: number): LabelledImages {
  const pixels = Uint8Array.from({ length: count * PIXELS }, () => rng.int(0, 255));
  return { images: { count, rows: 28, cols: 28, pixels }, labels: Uint8Array.from({ length: count }, () => rng.int(0, 9)) };
}

/** Float64 logits, mean cross-entropy and arg-max of the linear model on the first `count` images. */
async function reference(model: Model, data: LabelledImages, count: number) {
  const state = await model.state();
  const w = state.get('out.weight')!.data;
  const b = state.get('out.bias')!.data;
  let loss = 0;
  const predictions: number[] = [];
  const margins: number[] = [];
  for (let n = 0; n < count; n++) {
    const z = Array.from({ length: 10 }, (_, k) => {
      let s = b[k]!;
      for (let i = 0; i < PIXELS; i++) s += w[k * PIXELS + i]! * (data.images.pixels[n * PIXELS + i]! / 255);
      return s;
    });
    const m = Math.max(...z);
    loss += Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) + m - z[data.labels[n]!]!;
    const sorted = [...z].sort((x, y) => y - x);
    predictions.push(z.indexOf(m));
    margins.push(sorted[0]! - sorted[1]!);
  }
  return { loss: loss / count, predictions, margins };
}

/** Counts the bytes written with queue.writeBuffer while `fn` runs. */
async function bytesWritten<T>(fn: () => Promise<T>, runtime = rt()): Promise<{ bytes: number; result: T }> {
  const queue = runtime.device.queue;
  let bytes = 0;
  const orig = queue.writeBuffer.bind(queue);
  const spy = vi.spyOn(queue, 'writeBuffer').mockImplementation((buffer, offset, data, dataOffset?, size?) => {
    // The debug pool's NaN fills of buffers it hands out are not uploads.
    const poisonFill = data instanceof Uint32Array && data[0] === POISON;
    if (!poisonFill) bytes += size ?? (data as ArrayBufferView).byteLength ?? (data as ArrayBuffer).byteLength;
    return orig(buffer, offset, data as BufferSource, dataOffset, size);
  });
  try {
    const result = await fn();
    return { bytes, result };
  } finally {
    spy.mockRestore();
  }
}

describe('Trainer and the last batch', () => {
  const images = (count: number) => ({ images: { count, rows: 2, cols: 2, pixels: Uint8Array.from({ length: 4 * count }, (_, i) => (i * 37) % 256) }, labels: Uint8Array.from({ length: count }, (_, i) => i % 2) });
  const spec = { input: [1, 2, 2], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 3 }, { type: 'batchnorm1d' }, { type: 'linear', outFeatures: 2 }] };

  it("refuses, before any step, an epoch whose last batch the model refuses (batch norm's of one image), naming the batch", async () => {
    const model = Model.create(rt(), spec);
    const err = await Trainer.create(rt(), model, images(5), { batchSize: 2, optimizer: 'sgd', lr: 0.1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShapeError);
    expect((err as Error).message).toBe("model.forward: layers[2] (batchnorm1d '2'): the last batch of each epoch (5 images in batches of 2) holds 1: batchNorm: needs more than one value per channel in training, got 1 (x [1, 3] f32)");
    // Batches of 3 leave 2: trained to the end of the epoch.
    const t = await Trainer.create(rt(), model, images(5), { batchSize: 3, optimizer: 'sgd', lr: 0.1 });
    const order = t.epochOrder();
    for (const lo of [0, 3]) await (await t.trainStep(order.subarray(lo, lo + 3))).read();
    expect(t.programFor(2)).toBeDefined();
    t.dispose();
  });
});

describe('evaluation', () => {
  it('evaluate() needs no training data and matches float64 (partial last batch, limit)', async () => {
    const rng = new Rng(1);
    const data = dataset(rng, 45);
    const model = Model.create(rt(), SPEC, { seed: 3 });
    const ev = await evaluate(rt(), model, data, { batchSize: 16, limit: 37 });
    const ref = await reference(model, data, 37);
    expect(ev.count).toBe(37);
    expect(Math.abs(ev.loss - ref.loss)).toBeLessThan(1e-5);
    ev.predictions.forEach((p, n) => {
      if (ref.margins[n]! > 1e-4) expect(p, `image ${n}`).toBe(ref.predictions[n]);
    });
    const correct = ev.predictions.filter((p, n) => p === data.labels[n]).length;
    expect(ev.accuracy).toBe(correct / 37);
  });

  it("halves its batch until the model's tensors fit the device, evaluating as a batch that fits does", async () => {
    // A convolution with just enough channels that its output at batch 200 is over the device's
    // binding limit, and at 100 under it.
    const limit = Math.min(rt().limits.maxStorageBufferBindingSize, rt().limits.maxBufferSize);
    const channels = Math.floor(limit / (200 * PIXELS * 4)) + 1;
    expect(100 * channels * PIXELS * 4).toBeLessThanOrEqual(limit);
    const spec: ModelSpec = { input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: channels, kernelSize: 3, padding: 1 }, { type: 'flatten' }, { type: 'linear', outFeatures: 10 }] };
    const model = Model.create(rt(), spec, { seed: 3 });
    const data = dataset(new Rng(8), 230);
    const big = new Evaluator(rt(), model);
    const small = new Evaluator(rt(), model, { batchSize: 50 });
    try {
      const got = await big.evaluate(data);
      expect(big.batchSize).toBe(100);
      const want = await small.evaluate(data);
      expect(got.count).toBe(230);
      expect(Array.from(got.predictions)).toEqual(Array.from(want.predictions));
      expect(got.accuracy).toBe(want.accuracy);
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-6 * want.loss);
    } finally {
      big.dispose();
      small.dispose();
      for (const p of model.parameters.values()) p.dispose();
    }
  });

  it('uploads an images object once; dispose() returns every buffer', async () => {
    // A runtime of its own: tensors of other tests, collected meanwhile, cannot move its counts.
    const own = await createRuntime();
    const rt = () => own;
    const rng = new Rng(2);
    const data = dataset(rng, 30);
    const model = Model.create(rt(), SPEC);
    const before = rt().stats().inUseBytes;
    const evaluator = new Evaluator(rt(), model, { batchSize: 8 });
    const first = await bytesWritten(() => evaluator.evaluate(data), own);
    expect(first.bytes).toBeGreaterThanOrEqual(30 * PIXELS);
    const again = await bytesWritten(() => evaluator.evaluate(data), own);
    // Only the batches' indices (and the programs' parameters) go up the second time.
    expect(again.bytes).toBeLessThan(PIXELS);
    expect(again.result).toEqual(first.result);
    // Other labels for the same images: the labels only.
    const relabelled = { images: data.images, labels: data.labels.map((l) => (l + 1) % 10) };
    const third = await bytesWritten(() => evaluator.evaluate(relabelled), own);
    expect(third.bytes).toBeLessThan(PIXELS);
    expect(third.result.predictions).toEqual(first.result.predictions);
    expect(third.result.loss).not.toBe(first.result.loss);
    evaluator.dispose();
    expect(rt().stats().inUseBytes).toBe(before);
    own.dispose();
  });

  it('reports progress after each batch; an aborted evaluation stops between batches and holds nothing more; no batch allocates', async () => {
    const own = await createRuntime(); // its counts moved by nothing else
    try {
      const model = Model.create(own, SPEC);
      const data = dataset(new Rng(10), 45);
      const start = own.stats().inUseBytes;
      const evaluator = new Evaluator(own, model, { batchSize: 10 });
      const progress: [number, number][] = [];
      const first = await evaluator.evaluate(data, 45, { onProgress: (done, total) => progress.push([done, total]) });
      expect(progress).toEqual([[0, 45], [10, 45], [20, 45], [30, 45], [40, 45], [45, 45]]);
      // Compiled and uploaded once: evaluating again creates no buffer, however many batches.
      const held = own.stats();
      expect(await evaluator.evaluate(data, 45, { onProgress: () => undefined })).toEqual(first);
      const perBatch = (own.stats().submits - held.submits) / 5;
      expect([own.stats().buffersCreated, own.stats().inUseBytes]).toEqual([held.buffersCreated, held.inUseBytes]);
      // Aborted after its second batch: no third batch runs, and it rejects with an AbortError.
      const controller = new AbortController();
      const seen: number[] = [];
      const submits = own.stats().submits;
      const aborted = evaluator.evaluate(data, 45, {
        signal: controller.signal,
        onProgress: (done) => {
          seen.push(done);
          if (done === 20) controller.abort();
        },
      });
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      expect(seen).toEqual([0, 10, 20]);
      expect(own.stats().submits - submits).toBe(2 * perBatch);
      expect(own.stats().inUseBytes).toBe(held.inUseBytes);
      // A signal aborted before the call: nothing runs; the reason given is what it rejects with.
      const before = own.stats().submits;
      await expect(evaluator.evaluate(data, 45, { signal: AbortSignal.abort(new Error('no longer wanted')) })).rejects.toThrow('no longer wanted');
      expect(own.stats().submits).toBe(before);
      expect(await evaluator.evaluate(data)).toEqual(first);
      evaluator.dispose();
      expect(own.stats().inUseBytes).toBe(start);
    } finally {
      own.dispose();
    }
  });

  it('the Trainer evaluates its training set without uploading it again, and trains on after other labels', async () => {
    const rng = new Rng(3);
    const train = dataset(rng, 40);
    const model = Model.create(rt(), SPEC);
    const progress: [number, number][] = [];
    const trainer = await Trainer.create(rt(), model, train, { batchSize: 8, optimizer: 'sgd', lr: 0.1, onProgress: (d, t) => progress.push([d, t]) });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);
    // The evaluation program's parameters go up, not the 40 images.
    const { bytes, result } = await bytesWritten(() => trainer.evaluate(train));
    expect(bytes).toBeLessThan(40 * PIXELS);
    expect(result.count).toBe(40);
    await trainer.evaluate({ images: train.images, labels: new Uint8Array(40) });
    const idx = Uint32Array.from({ length: 8 }, (_, i) => i);
    const l1 = (await (await trainer.trainStep(idx)).read())[0]!;
    for (let i = 0; i < 20; i++) await trainer.trainStep(idx);
    const l2 = (await (await trainer.trainStep(idx)).read())[0]!;
    expect(l2).toBeLessThan(l1);
    expect(trainer.step).toBe(22);
    expect(() => (trainer.step = -1)).toThrow('Trainer.step: a step count is a non-negative integer, got -1');
    trainer.dispose();
  });

  it("keeps compiled steps for two batch sizes besides its own and the epoch's last, freeing older ones (each holds a batch's activations)", async () => {
    const trainer = await Trainer.create(rt(), Model.create(rt(), SPEC), dataset(new Rng(5), 11), { batchSize: 4, optimizer: 'sgd', lr: 0.1 });
    const step = async (n: number) => (await trainer.trainStep(Uint32Array.from({ length: n }, (_, i) => i))).read();
    const kept = () => [4, 3, 5, 6, 7].filter((n) => trainer.programFor(n));
    for (const n of [4, 3, 5, 6, 7]) await step(n);
    expect(kept()).toEqual([4, 3, 6, 7]);
    const before = rt().stats().inUseBytes;
    for (const n of [8, 9, 10, 5]) await step(n);
    expect(kept()).toEqual([4, 3, 5]);
    expect(trainer.programFor(10)).toBeDefined();
    // Kept by use, not by when compiled: 10, used again, stays; 5 goes.
    await step(10);
    await step(6);
    expect([trainer.programFor(5), trainer.programFor(10), trainer.programFor(6)].map(Boolean)).toEqual([false, true, true]);
    expect(rt().stats().inUseBytes).toBeLessThan(before * 1.5);
    trainer.dispose();
  });

  it('names the problem: labels that do not match the images, a bad batch size', async () => {
    const model = Model.create(rt(), SPEC);
    const data = dataset(new Rng(4), 5);
    await expect(evaluate(rt(), model, { images: data.images, labels: new Uint8Array(4) })).rejects.toThrow(/4 labels for 5 images/);
    expect(() => new Evaluator(rt(), model, { batchSize: 0 })).toThrow(RangeError);
    for (const limit of [0, -1, 2.5]) {
      await expect(evaluate(rt(), model, data, { limit })).rejects.toThrow(`evaluate: limit must be a positive integer, got ${limit}`);
    }
  });

  it('refuses labels past the model\'s outputs before anything runs, naming the file, the label and the width', async () => {
    // 7 outputs, labels up to 9: the loss would read past the logits and train on NaN.
    const model = Model.create(rt(), { input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 7 }] });
    const data = { ...dataset(new Rng(5), 12), files: { images: 'data/train-images', labels: 'data/train-labels' } };
    data.labels.set([3, 9, 6, 9], 0);
    const message = /^dataset: data\/train-labels: label 9 \(image 1, the largest label\) is out of bounds for the model's 7 outputs: labels must be 0\.\.6$/;
    await expect(Trainer.create(rt(), model, data, { batchSize: 4, optimizer: 'sgd', lr: 0.1 })).rejects.toThrow(message);
    await expect(evaluate(rt(), model, data)).rejects.toThrow(message);
    // Without file names the message still gives the label and the width; other labels for the same images are checked too.
    const evaluator = new Evaluator(rt(), model);
    const fine = { images: data.images, labels: data.labels.map((l) => l % 7) };
    await evaluator.evaluate(fine);
    await expect(evaluator.evaluate({ images: data.images, labels: Uint8Array.from(data.labels, (l, i) => (i === 5 ? 7 : l % 7)) })).rejects.toThrow(
      /^dataset: label 7 \(image 5, the largest label\) is out of bounds for the model's 7 outputs/,
    );
    evaluator.dispose();
  });

  it('refuses a model whose output is not one score per class, before anything is uploaded', async () => {
    const model = Model.create(rt(), { input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 3 }] });
    const data = dataset(new Rng(8), 6);
    const before = rt().stats().bytesAllocated;
    const message = "model: its output per image is [2, 26, 26]; a classifier's must be [classes] (end the model with flatten and linear)";
    await expect(Trainer.create(rt(), model, data, { batchSize: 2, optimizer: 'sgd', lr: 0.1 })).rejects.toThrow(message);
    await expect(evaluate(rt(), model, data)).rejects.toThrow(message);
    expect(rt().stats().bytesAllocated).toBe(before);
  });

  it('takes only the optimizers it knows, and no option of another optimizer (it would be ignored)', async () => {
    const model = Model.create(rt(), SPEC);
    const data = dataset(new Rng(9), 6);
    const create = (opts: object) => Trainer.create(rt(), model, data, { batchSize: 2, lr: 0.1, ...opts } as Parameters<typeof Trainer.create>[3]);
    const kinds = "'adam', 'adamw', 'nadam', 'radam', 'adamax', 'sgd', 'adadelta', 'rmsprop' or 'adagrad'";
    await expect(create({ optimizer: 'Adam' })).rejects.toThrow(`Trainer: optimizer must be ${kinds}, got "Adam"`);
    await expect(create({})).rejects.toThrow(`Trainer: optimizer must be ${kinds}, got undefined`);
    const before = rt().stats().bytesAllocated;
    await expect(create({ optimizer: 'adam', momentum: 0.9, nesterov: true })).rejects.toThrow('Trainer: momentum, nesterov are options of sgd, not of the chosen optimizer adam');
    // Even a value that changes nothing (momentum 0) is refused: it says the caller meant SGD.
    await expect(create({ optimizer: 'adam', momentum: 0, dampening: 0.1 })).rejects.toThrow('Trainer: momentum, dampening are options of sgd');
    await expect(create({ optimizer: 'sgd', betas: [0.9, 0.99] })).rejects.toThrow('Trainer: betas is an option of adam, adamw, nadam, radam and adamax');
    expect(rt().stats().bytesAllocated).toBe(before); // refused before the data is uploaded
    await expect(create({ optimizer: 'sgd', eps: 1e-6 })).rejects.toThrow('Trainer: eps is an option of adam, adamw, nadam, radam, adamax, adadelta, rmsprop and adagrad, not of the chosen optimizer sgd');
    // Named before anything else is checked: a misspelt batchSize is not reported as missing.
    await expect(Trainer.create(rt(), model, data, { batch_size: 2, optimizer: 'sgd', lr: 0.1 } as never)).rejects.toThrow("Trainer: unknown option 'batch_size' (it takes batchSize, optimizer, lr,");
    await expect(Trainer.create(rt(), model, data, null as never)).rejects.toThrow(/^Trainer: options must be an object/);
    await expect(create({ optimizer: 'sgd', labelSmoothing: 1.5 })).rejects.toThrow('Trainer: labelSmoothing must be a number in [0, 1], got 1.5');
    await expect(create({ optimizer: 'sgd', maxGradNorm: -1 })).rejects.toThrow('Trainer: maxGradNorm must be a number ≥ 0, got -1');
    const fine = await create({ optimizer: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    expect(fine.optimizer.constructor.name).toBe('SGD');
    fine.dispose();
    const adamw = await create({ optimizer: 'adamw', betas: [0.9, 0.99] });
    expect([adamw.optimizer.constructor.name, (adamw.optimizer as AdamW).weightDecay]).toEqual(['AdamW', 0.01]);
    adamw.dispose();
  });

  it('names the images file whose images do not fit the model', async () => {
    const model = Model.create(rt(), SPEC);
    const pixels = new Uint8Array(3 * 32 * 32);
    const data = { images: { count: 3, rows: 32, cols: 32, pixels }, labels: new Uint8Array(3), files: { images: 'd/t10k-images', labels: 'd/t10k-labels' } };
    await expect(evaluate(rt(), model, data)).rejects.toThrow('dataset: d/t10k-images: images are 32×32, the model takes [1, 28, 28]');
    // As many bytes per image is not enough: 14×56 is no 28×28 image.
    const wide = { images: { count: 3, rows: 14, cols: 56, pixels: new Uint8Array(3 * PIXELS) }, labels: new Uint8Array(3) };
    await expect(evaluate(rt(), model, wide)).rejects.toThrow('dataset: images are 14×56, the model takes [1, 28, 28]');
    const short = { images: { count: 3, rows: 28, cols: 28, pixels: new Uint8Array(2 * PIXELS) }, labels: new Uint8Array(3) };
    await expect(evaluate(rt(), model, short)).rejects.toThrow(`dataset: pixels holds ${2 * PIXELS} bytes, but 3 images of 28×28 need ${3 * PIXELS}`);
    const empty = { images: { count: 0, rows: 28, cols: 28, pixels: new Uint8Array(0) }, labels: new Uint8Array(0) };
    await expect(evaluate(rt(), model, empty)).rejects.toThrow('dataset: no images');
    await expect(Trainer.create(rt(), model, empty, { batchSize: 4, optimizer: 'sgd', lr: 0.1 })).rejects.toThrow('dataset: no images');
  });

  it('trains and evaluates images of several channels ([3, H, W], channel by channel) as PyTorch does', async () => {
    const rng = new Rng(21);
    const [count, c, h, w, classes] = [10, 3, 7, 6, 5];
    const spec: ModelSpec = { input: [c, h, w], layers: [{ type: 'conv2d', name: 'c', outChannels: 4, kernelSize: 3, padding: 1 }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', name: 'out', outFeatures: classes }] };
    const data = { images: { count, rows: h, cols: w, channels: c, pixels: Uint8Array.from({ length: count * c * h * w }, () => rng.int(0, 255)) }, labels: Uint8Array.from({ length: count }, () => rng.int(0, classes - 1)) };
    const batches = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]];
    const model = Model.create(rt(), spec, { seed: 3 });
    const initial = Object.fromEntries([...(await model.state())].map(([k, t]) => [k, Array.from(t.data)]));
    const trainer = await Trainer.create(rt(), model, data, { batchSize: 4, optimizer: 'adam', lr: 0.01 });
    for (const b of batches) await trainer.trainStep(Uint32Array.from(b));
    const ev = await trainer.evaluate(data);
    const torch = torchJson<{ weights: Record<string, number[]>; loss: number; predictions: number[] }>(
      `
import json, sys, torch
import torch.nn.functional as F
d = json.load(sys.stdin)
W = {k: torch.tensor(v).reshape(s).requires_grad_() for (k, v), s in zip(d['initial'].items(), [(4, ${c}, 3, 3), (4,), (${classes}, ${4 * h * w}), (${classes},)])}
x = torch.tensor(d['pixels'], dtype=torch.float32).reshape(${count}, ${c}, ${h}, ${w}) / 255
y = torch.tensor(d['labels'])
net = lambda v: F.linear(F.relu(F.conv2d(v, W['c.weight'], W['c.bias'], padding=1)).flatten(1), W['out.weight'], W['out.bias'])
opt = torch.optim.Adam(W.values(), lr=0.01)
for b in d['batches']:
    opt.zero_grad(); F.cross_entropy(net(x[b]), y[b]).backward(); opt.step()
with torch.no_grad():
    z = net(x)
print(json.dumps({'weights': {k: v.flatten().tolist() for k, v in W.items()}, 'loss': F.cross_entropy(z, y).item(), 'predictions': z.argmax(1).tolist()}))`,
      JSON.stringify({ initial, pixels: Array.from(data.images.pixels), labels: Array.from(data.labels), batches }),
    );
    expect(Object.keys(initial)).toEqual(['c.weight', 'c.bias', 'out.weight', 'out.bias']);
    for (const [name, t] of await model.state()) expectClose(t.data, torch.weights[name]!, 1e-5, name);
    expect(Array.from(ev.predictions)).toEqual(torch.predictions);
    expect(ev.loss).toBeCloseTo(torch.loss, 5);
    trainer.dispose();

    // Channels are part of the image: refused where they are not the model's.
    const as = (channels: number | undefined, rows = h) => ({ images: { count: 2, rows, cols: w, ...(channels === undefined ? {} : { channels }), pixels: new Uint8Array(2 * (channels ?? 1) * rows * w) }, labels: new Uint8Array(2) });
    await expect(evaluate(rt(), model, as(undefined, 3 * h))).rejects.toThrow(`dataset: images are ${3 * h}×${w}, the model takes [3, 7, 6]`);
    await expect(evaluate(rt(), model, as(1))).rejects.toThrow('dataset: images are 7×6, the model takes [3, 7, 6]');
    await expect(evaluate(rt(), model, as(2))).rejects.toThrow('dataset: images are 2×7×6, the model takes [3, 7, 6]');
    await expect(evaluate(rt(), model, as(0))).rejects.toThrow('dataset: channels must be a positive integer, got 0');
    const transposed = Model.create(rt(), { ...spec, input: [h, c, w] });
    await expect(evaluate(rt(), transposed, as(c))).rejects.toThrow('dataset: images are 3×7×6, the model takes [7, 3, 6]');
    // A flat input takes them flattened, channel by channel.
    const flat = Model.create(rt(), { input: [c * h * w], layers: [{ type: 'linear', name: 'out', outFeatures: classes }] });
    expect((await evaluate(rt(), flat, as(c))).count).toBe(2);
    for (const m of [model, transposed, flat]) m.dispose();
  });

  it('a training step refuses indices at or past the set size and an empty batch; a disposed Trainer refuses work and holds no memory', async () => {
    const own = await createRuntime(); // its counts moved by nothing else
    try {
      const model = Model.create(own, SPEC);
      const before = own.stats().inUseBytes;
      const trainer = await Trainer.create(own, model, dataset(new Rng(6), 20), { batchSize: 4, optimizer: 'adam', lr: 0.01 });
      await expect(trainer.trainStep(Uint32Array.of(0, 1, 2, 25))).rejects.toThrow('trainStep: index 25 (batch position 3) is past the 20 training images');
      await expect(trainer.trainStep(Uint32Array.of(0, 20))).rejects.toThrow('trainStep: index 20 (batch position 1) is past the 20 training images');
      await expect(trainer.trainStep(new Uint32Array(0))).rejects.toThrow('trainStep: an empty batch');
      expect(trainer.step).toBe(0);
      const loss = await (await trainer.trainStep(Uint32Array.of(0, 1, 2, 3))).read();
      expect(Number.isFinite(loss[0])).toBe(true);
      trainer.dispose();
      // The optimizer's moments (2 × 31 KB) too; only constants made while tracing (the
      // gradient's seed, 256 bytes) wait for the program to be collected.
      expect(own.stats().inUseBytes - before).toBeLessThanOrEqual(256);
      await expect(trainer.trainStep(Uint32Array.of(0))).rejects.toThrow('trainStep: the Trainer was disposed');
      await expect(trainer.evaluate(dataset(new Rng(7), 3))).rejects.toThrow('evaluate: the Evaluator (or its Trainer) was disposed');
    } finally {
      own.dispose();
    }
  });

  it('keeps a few compiled programs, not one per set size ever seen', async () => {
    const own = await createRuntime();
    try {
      const model = Model.create(own, SPEC);
      const evaluator = new Evaluator(own, model, { batchSize: 4 });
      const rng = new Rng(8);
      await evaluator.evaluate(dataset(rng, 9));
      const held = own.stats().inUseBytes;
      for (let count = 10; count < 20; count++) await evaluator.evaluate(dataset(rng, count)); // sets of 10 sizes
      // The sets themselves may not be collected yet; their programs (4 at most) are freed.
      const perProgram = held / 2;
      expect(own.stats().inUseBytes).toBeLessThan(held + 10 * 20 * PIXELS + 3 * perProgram);
    } finally {
      own.dispose();
    }
  });
});
