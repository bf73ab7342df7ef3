// Reading untrusted PNG files as grey images for `fovea predict`. The size in the IHDR chunk is
// checked before anything is decoded; then every chunk (its length and CRC, a single IHDR, a
// PLTE before consecutive IDATs, an IEND last, PLTE and tRNS by the specification's rules), and
// the image data must inflate to exactly the bytes its scanlines need (pngjs would fill a short
// image with zeros). Only then does pngjs see the file: its own errors often name the wrong
// cause. Grey, RGB(A) and palette images of any bit depth are decoded by pngjs to 8-bit RGBA and
// turned to grey with ITU-R 601 luma (PIL's convert('L')), alpha composited over black (MNIST's
// background).
import { crc32, inflateSync, constants as zlib } from 'node:zlib';
import { PNG } from 'pngjs';
import { clean, quote } from '../model/untrusted.js';
import { FileFormatError } from '../runtime/errors.js';
import { lumaBytes } from './digit.js';
import { checkPictureSize, type Picture } from './picture.js';

/** The error for a file that breaks the PNG format (at byte `at`, where one is to blame). */
function unreadable(file: string, at: number | undefined, why: string): FileFormatError {
  return new FileFormatError(file, at, `not a readable PNG: ${why}`);
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Samples per pixel of each PNG color type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** The bit depths the PNG specification allows for each color type (table 11.1). */
const BIT_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** The seven Adam7 passes: first column and row, column and row step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** The fields of a PNG's IHDR chunk that size its image data. */
interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

const ascii = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const hex32 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** Reads the IHDR chunk, which must follow the 8-byte signature; nothing is decoded. */
function pngHeader(bytes: Uint8Array, file: string): PngHeader {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) throw unreadable(file, 0, 'it does not start with the 8-byte PNG signature');
  if (bytes.length < 33) throw unreadable(file, bytes.length, `the file ends at byte ${bytes.length}, inside its IHDR chunk (bytes 8 to 32)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = ascii(bytes.subarray(12, 16));
  if (type !== 'IHDR' || view.getUint32(8) !== 13) throw unreadable(file, 8, `the first chunk must be the 13-byte IHDR, found ${quote(type)} of ${view.getUint32(8)} bytes`);
  const [bitDepth, colorType, interlace] = [bytes[24]!, bytes[25]!, bytes[28]!];
  const depths = BIT_DEPTHS[colorType];
  if (depths === undefined) throw unreadable(file, 25, `color type ${colorType} is not one of 0, 2, 3, 4, 6`);
  if (!depths.includes(bitDepth)) throw unreadable(file, 24, `bit depth ${bitDepth} is not allowed for color type ${colorType} (only ${depths.join(', ')})`);
  if (bytes[26] !== 0 || bytes[27] !== 0) throw unreadable(file, bytes[26] !== 0 ? 26 : 27, `compression method ${bytes[26]} and filter method ${bytes[27]} must both be 0`);
  if (interlace > 1) throw unreadable(file, 28, `interlace method ${interlace} is not 0 or 1`);
  return { width: view.getUint32(16), height: view.getUint32(20), bitDepth, colorType, interlaced: interlace === 1 };
}

/** Bytes of filtered scanlines an image of this header needs: a filter byte and the packed pixels per row, per pass. */
function scanlineBytes(h: PngHeader): number {
  const bits = CHANNELS[h.colorType]! * h.bitDepth;
  const rows = (width: number, height: number) => (width && height ? height * (1 + Math.ceil((width * bits) / 8)) : 0);
  if (!h.interlaced) return rows(h.width, h.height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil(Math.max(0, h.width - x0) / dx), Math.ceil(Math.max(0, h.height - y0) / dy)), 0);
}

/**
 * Walks the chunks after the signature, checking each one's length and CRC, that IHDR comes
 * only once (pngjs would size its buffers from a second one), that a palette image has its
 * PLTE before the image data, that the IDAT chunks are consecutive, and that an IEND comes;
 * then checks that the IDAT chunks inflate to exactly the scanlines the header describes.
 * PLTE and tRNS must follow the specification's rules (at most one each, before IDAT, tRNS
 * after PLTE, only in the color types that allow them, lengths that fit): pngjs joins two
 * palettes, applies a second tRNS or one after IDAT, and misreads wrong lengths or fails with
 * an error that names none of this. Returns where the IEND chunk ends: bytes after it are
 * ignored, as libpng, PIL and browsers ignore them.
 */
function checkChunks(bytes: Uint8Array, file: string, header: PngHeader): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let first: number | undefined;
  let idatEnded = false;
  /** Entries of the PLTE chunk, once read. */
  let plte: number | undefined;
  let trns = false;
  let at = 8;
  for (;;) {
    if (at + 8 > bytes.length) throw unreadable(file, at, `the file ends at byte ${bytes.length} without an IEND chunk`);
    const length = view.getUint32(at);
    const type = ascii(bytes.subarray(at + 4, at + 8));
    const where = `chunk ${quote(type)}`;
    if (at + 12 + length > bytes.length) throw unreadable(file, at, `${where} of ${length} bytes runs past the end of the file (${bytes.length} bytes)`);
    const stored = view.getUint32(at + 8 + length);
    const computed = crc32(bytes.subarray(at + 4, at + 8 + length));
    if (stored !== computed) throw unreadable(file, at, `CRC mismatch in ${where} (stored ${hex32(stored)}, computed ${hex32(computed)})`);
    if (type === 'IHDR' && at !== 8) throw unreadable(file, at, 'a second IHDR chunk (a PNG has exactly one)');
    if (!/^[A-Za-z]{4}$/.test(type)) throw unreadable(file, at, `${where}: a chunk's name is four letters`);
    // A critical chunk (first letter upper case) not known cannot be skipped, as the PNG spec says.
    if (/^[A-Z]/.test(type) && !['IHDR', 'PLTE', 'IDAT', 'IEND'].includes(type)) throw unreadable(file, at, `${where} is critical (its name starts in upper case) and not one this reader knows (IHDR, PLTE, IDAT, IEND)`);
    if (type === 'PLTE') {
      if (first !== undefined) throw unreadable(file, at, 'PLTE chunk after the image data (IDAT)');
      if (plte !== undefined) throw unreadable(file, at, 'a second PLTE chunk (a PNG has at most one)');
      if (header.colorType === 0 || header.colorType === 4) throw unreadable(file, at, `PLTE chunk in a grey image (color type ${header.colorType} has no palette)`);
      if (trns) throw unreadable(file, at, 'PLTE chunk after the tRNS chunk (tRNS must follow it)');
      if (length % 3 !== 0) throw unreadable(file, at, `PLTE chunk of ${length} bytes, not a multiple of 3 (one RGB triple per entry)`);
      plte = length / 3;
      if (plte < 1 || plte > 256) throw unreadable(file, at, `PLTE chunk of ${plte} entries (a palette has 1 to 256)`);
      // Only a palette image's indices are bounded by its bit depth; PLTE in RGB(A) is a suggestion.
      const indexable = 2 ** header.bitDepth;
      if (header.colorType === 3 && plte > indexable) throw unreadable(file, at, `PLTE chunk of ${plte} entries, more than the ${indexable} a ${header.bitDepth}-bit palette image can index`);
    }
    if (type === 'tRNS') {
      if (first !== undefined) throw unreadable(file, at, 'tRNS chunk after the image data (IDAT)');
      if (trns) throw unreadable(file, at, 'a second tRNS chunk (a PNG has at most one)');
      if (header.colorType === 4 || header.colorType === 6) throw unreadable(file, at, `tRNS chunk in an image with an alpha channel (color type ${header.colorType})`);
      if (header.colorType === 3) {
        if (plte === undefined) throw unreadable(file, at, 'tRNS chunk before the PLTE chunk (a palette image needs its PLTE first)');
        // Fewer alpha values than entries is allowed: the rest stay opaque.
        if (length > plte) throw unreadable(file, at, `tRNS chunk of ${length} bytes, more than the ${plte} palette entries`);
      } else {
        const need = header.colorType === 0 ? 2 : 6;
        if (length !== need) throw unreadable(file, at, `tRNS chunk of ${length} bytes, but color type ${header.colorType} needs exactly ${need} (one 16-bit sample per channel)`);
      }
      trns = true;
    }
    if (type === 'IDAT') {
      if (idatEnded) throw unreadable(file, at, 'IDAT chunks must be consecutive');
      if (header.colorType === 3 && plte === undefined) throw unreadable(file, at, 'a palette image (color type 3) needs a PLTE chunk before its image data');
      first ??= at + 8;
      idat.push(bytes.subarray(at + 8, at + 8 + length));
    } else if (first !== undefined) {
      idatEnded = true;
    }
    if (type === 'IEND') {
      if (length !== 0) throw unreadable(file, at, `an IEND chunk of ${length} bytes (it holds none)`);
      break;
    }
    at += 12 + length;
  }
  const end = at + 12;
  if (first === undefined) throw unreadable(file, at, 'no IDAT chunk (no image data)');
  const need = scanlineBytes(header);
  const rows = `${header.height} rows of ${header.width} pixels (${header.bitDepth}-bit, color type ${header.colorType}${header.interlaced ? ', interlaced' : ''})`;
  const data = Buffer.concat(idat);
  let got: number;
  let used = data.length;
  try {
    // Bounded: a small file cannot inflate to more than one byte past what the image needs.
    // `info` adds how much input the stream used: zlib ignores bytes after its end.
    const r = inflateSync(data, { maxOutputLength: need + 1, finishFlush: zlib.Z_SYNC_FLUSH, info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    got = r.buffer.length;
    used = r.engine.bytesWritten;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') got = need + 1;
    else throw unreadable(file, first, `corrupt image data (${(e as Error).message})`);
  }
  if (got < need) throw new FileFormatError(file, first, `image data inflates to ${got} bytes, but ${rows} need ${need}`);
  if (got > need) throw new FileFormatError(file, first, `image data inflates to more than the ${need} bytes that ${rows} need`);
  if (used < data.length) throw unreadable(file, first, `${data.length - used} bytes of image data after the end of its zlib stream`);
  return end;
}

/**
 * Decodes a PNG to grey bytes (row-major), checking its size is `height`×`width` (from the IHDR
 * chunk, before decoding) and that its image data is complete.
 */
export function decodeGreyPng(bytes: Uint8Array, file: string, height: number, width: number): Uint8Array {
  const header = pngHeader(bytes, file);
  if (header.width !== width || header.height !== height) {
    throw new FileFormatError(file, 16, `image is ${header.width}×${header.height} pixels, but the model takes ${width}×${height}`);
  }
  return lumaBytes(decodeChecked(bytes, file, header));
}

/**
 * Decodes a PNG of any size up to MAX_PICTURE_PIXELS (checked in the IHDR chunk, before decoding)
 * to RGBA bytes, with its size: for pictures fitted to a model's input (fitDigit, after
 * lumaBytes), and colour ones (colourPlanes).
 */
export function decodeAnyPng(bytes: Uint8Array, file: string): Picture {
  const header = pngHeader(bytes, file);
  const { width, height } = header;
  if (!width || !height) throw new FileFormatError(file, 16, `image is ${width}×${height} pixels: it has none`);
  checkPictureSize(file, 16, width, height);
  return { width, height, rgba: decodeChecked(bytes, file, header) };
}

/** Decodes a PNG whose header has been read and accepted, after checking its chunks, to RGBA bytes. */
function decodeChecked(bytes: Uint8Array, file: string, header: PngHeader): Uint8Array {
  const { width, height } = header;
  // pngjs refuses bytes after IEND ("unrecognised content at end of stream"): it is not shown them.
  const end = checkChunks(bytes, file, header);
  let png: { width: number; height: number; data: ArrayLike<number> };
  // 16-bit samples are read as they are and cut to their high byte, as PIL reads a 16-bit RGB(A)
  // picture (pngjs would round v × 255 / 65535, a level above PIL's for some).
  const deep = header.bitDepth === 16;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, end), deep ? { skipRescale: true } : {});
  } catch (e) {
    throw new FileFormatError(file, undefined, `not a readable PNG (${clean((e as Error).message)})`);
  }
  // Belt and braces: pngjs sizes its output from the IHDR it read, which must be the one checked.
  if (png.width !== width || png.height !== height || png.data.length !== 4 * width * height) {
    throw unreadable(file, undefined, `decoded to ${png.width}×${png.height} pixels (${png.data.length} bytes of RGBA), not the ${width}×${height} of its IHDR`);
  }
  return deep ? Uint8Array.from(png.data, (v) => v >>> 8) : (png.data as Uint8Array);
}
