// CIFAR-10's binary batches (src/mnist/cifar.ts): records of a label and a 3×32×32 picture,
// planes red, green, blue, read in file order across the five training batches; a directory
// holding them loads as a data directory; malformed batches are named with the byte at fault. A
// set of pictures larger than one buffer binding may be (CIFAR-10's, on lavapipe) trains and
// evaluates as the same pictures in a small set.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, Model, Trainer } from '../src/index.js';
import { CIFAR_FILES, parseCifarBatches } from '../src/mnist/cifar.js';
import { loadMnistDir, loadMnistSplit, MnistNotFoundError } from '../src/mnist/files.js';
import { FileFormatError } from '../src/runtime/errors.js';
import { formatError, useRuntime } from './helpers.js';

const rt = useRuntime();

/** A record as the format describes it: the label, then 1024 red, 1024 green and 1024 blue bytes, each plane row by row. */
function record(label: number, pixel: (c: number, y: number, x: number) => number): Uint8Array {
  const r = new Uint8Array(3073);
  r[0] = label;
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) r[1 + c * 1024 + y * 32 + x] = pixel(c, y, x);
  return r;
}

/** Batch `b` of n records: record k's label and pixels made from (b, k). */
function batch(b: number, n: number): Uint8Array {
  const out = new Uint8Array(n * 3073);
  for (let k = 0; k < n; k++) out.set(record((3 * b + k) % 10, (c, y, x) => (b * 31 + k * 7 + c * 50 + y * 3 + x) % 256), k * 3073);
  return out;
}

describe('parseCifarBatches', () => {
  it('reads each record as a label and a [3, 32, 32] picture, the batches in turn', () => {
    const { images, labels } = parseCifarBatches([batch(1, 3), batch(2, 2)], ['a.bin', 'b.bin']);
    expect(images).toMatchObject({ count: 5, rows: 32, cols: 32, channels: 3 });
    expect([...labels]).toEqual([3, 4, 5, 6, 7]);
    // Picture 4 is batch 2's record 1: its green plane's row 5, column 9.
    const at = (n: number, c: number, y: number, x: number) => images.pixels[n * 3072 + c * 1024 + y * 32 + x];
    expect(at(4, 1, 5, 9)).toBe((2 * 31 + 1 * 7 + 50 + 15 + 9) % 256);
    expect(at(0, 2, 31, 31)).toBe((31 + 100 + 93 + 31) % 256);
    expect(images.pixels).toHaveLength(5 * 3072);
  });

  it('refuses an empty batch, or one not of whole records, naming the file and the byte where the part record starts', () => {
    const empty = formatError(() => parseCifarBatches([batch(1, 2), new Uint8Array(0)], ['a.bin', 'b.bin']));
    expect([empty.file, empty.byteOffset, empty.message]).toEqual(['b.bin', 0, 'b.bin (byte 0): not a CIFAR-10 batch: the file is empty']);
    const cut = formatError(() => parseCifarBatches([batch(1, 3).subarray(0, 2 * 3073 + 100)], ['c.bin']));
    expect([cut.byteOffset, cut.message]).toEqual([2 * 3073, 'c.bin (byte 6146): not a CIFAR-10 batch: its 6246 bytes are 2 records of 3073 bytes (a label and a 3×32×32 picture) and 100 bytes more']);
    expect(cut).toBeInstanceOf(FileFormatError);
  });
});

describe('a directory of CIFAR-10 batches', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fovea-cifar-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads as a data directory: 3×32×32 pictures, the five training batches in order, the test batch', async () => {
    const d = join(dir, 'cifar-10-batches-bin');
    await mkdir(d);
    for (const [b, f] of CIFAR_FILES.train.entries()) await writeFile(join(d, f), batch(b + 1, 2));
    await writeFile(join(d, 'test_batch.bin'), batch(9, 3));
    const data = await loadMnistDir(d);
    expect(data.train.images).toMatchObject({ count: 10, rows: 32, cols: 32, channels: 3 });
    expect([...data.train.labels]).toEqual([3, 4, 6, 7, 9, 0, 2, 3, 5, 6]);
    expect(Buffer.compare(data.train.images.pixels.subarray(8 * 3072), parseCifarBatches([batch(5, 2)], ['x']).images.pixels)).toBe(0);
    expect([...data.test.labels]).toEqual([7, 8, 9]);
    expect(data.test.files).toEqual({ images: join(d, 'test_batch.bin'), labels: join(d, 'test_batch.bin') });
    expect(data.train.files.images).toBe(`${join(d, 'data_batch_1.bin')} … data_batch_5.bin`);
    // A training batch missing: named.
    await rm(join(d, 'data_batch_4.bin'));
    const e = (await loadMnistDir(d).catch((err: unknown) => err)) as MnistNotFoundError;
    expect(e).toBeInstanceOf(MnistNotFoundError);
    expect(e.message).toBe(`CIFAR-10 batch not found: ${join(d, 'data_batch_4.bin')} (the train split is data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin)`);
    // The test split alone still loads.
    expect((await loadMnistSplit(d, 'test')).images.count).toBe(3);
    // The first training batch or the test batch missing: named as CIFAR-10's, not as MNIST files.
    await rm(join(d, 'data_batch_1.bin'));
    await expect(loadMnistSplit(d, 'train')).rejects.toThrow(`CIFAR-10 batch not found: ${join(d, 'data_batch_1.bin')} (the train split is`);
    await rm(join(d, 'test_batch.bin'));
    await expect(loadMnistSplit(d, 'test')).rejects.toThrow(`CIFAR-10 batch not found: ${join(d, 'test_batch.bin')} (the test split is test_batch.bin)`);
  });
});

describe('a set larger than one buffer binding', () => {
  it('is kept in shards, and trains and evaluates as the same pictures in a small set do', async () => {
    const per = 3 * 32 * 32;
    // Just over 128 MiB (lavapipe's and WebGPU's default binding limit) of pictures.
    const count = Math.floor(2 ** 27 / per) + 40;
    const pixels = new Uint8Array(count * per);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.imul(i, 2654435761) >>> 24;
    const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % 10);
    const big = { images: { count, rows: 32, cols: 32, channels: 3, pixels }, labels };
    // Pictures from the first images, the last, and either side of where a 128 MiB shard ends.
    const edge = Math.floor((2 ** 27 - 3) / per);
    const picked = [count - 1, 3, edge - 1, edge, edge + 1, count - 2];
    const small = {
      images: { count: picked.length, rows: 32, cols: 32, channels: 3, pixels: Uint8Array.from(picked.flatMap((i) => [...pixels.subarray(i * per, (i + 1) * per)])) },
      labels: Uint8Array.from(picked, (i) => labels[i]!),
    };
    const spec = { input: [3, 32, 32], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 10 }] } as const;
    const run = async (data: typeof big, batches: number[][]) => {
      const model = Model.create(rt(), spec, { seed: 2 });
      const t = await Trainer.create(rt(), model, data, { batchSize: 3, optimizer: 'sgd', lr: 0.01 });
      const losses: number[] = [];
      for (const b of batches) losses.push((await (await t.trainStep(Uint32Array.from(b))).read())[0]!);
      const weights = [...(await model.state())].map(([n, w]) => [n, [...w.data]]);
      const shards = t.evaluator.upload(data).shards.length;
      t.dispose();
      return { losses, weights, shards, model };
    };
    const sharded = await run(big, [picked.slice(0, 3), picked.slice(3)]);
    const whole = await run(small, [[0, 1, 2], [3, 4, 5]]);
    if (rt().limits.maxStorageBufferBindingSize < count * per) expect(sharded.shards).toBeGreaterThan(1);
    expect(sharded.losses).toEqual(whole.losses);
    expect(sharded.weights).toEqual(whole.weights);
    // Evaluated: the big set's predictions of the picked pictures are the small set's.
    const [onBig, onSmall] = [await evaluate(rt(), sharded.model, big), await evaluate(rt(), sharded.model, small)];
    expect(picked.map((i) => onBig.predictions[i])).toEqual([...onSmall.predictions]);
    sharded.model.dispose();
    whole.model.dispose();
  });
});
