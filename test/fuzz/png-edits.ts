// Format-aware edits of PNG files for the seeded fuzz tests (test/fuzz-png.test.ts and the large
// inputs of test/fuzz-large.test.ts): the file as chunks, edited and reassembled with their
// CRCs fixed, so the checks past the CRC are reached. IHDR fields, chunks removed, copied,
// swapped or inserted, IDAT split, and the image data re-encoded (scanlines too short or long, a
// cut or corrupt zlib stream, raw deflate).
import { deflateRawSync, deflateSync } from 'node:zlib';
import { chunk, SIGNATURE } from '../file-builders.js';
import type { Rng } from '../helpers.js';
import type { PngBase } from './bases.js';
import { own, randomEdit } from './mutations.js';
import { show } from './property.js';

/** A chunk of a PNG: its type and data (length and CRC are written by assemble). */
export interface PngChunk { type: string; data: Uint8Array }

/** The chunks of a PNG (after its signature), data copied. */
export function chunksOf(png: Uint8Array): PngChunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: PngChunk[] = [];
  for (let at = 8; at < png.length; ) {
    const len = view.getUint32(at);
    out.push({ type: String.fromCharCode(...png.subarray(at + 4, at + 8)), data: own(png.subarray(at + 8, at + 8 + len)) });
    at += 12 + len;
  }
  return out;
}

/** A PNG of `chunks`, each with its CRC. */
export const assemble = (chunks: PngChunk[]) => own(Buffer.concat([SIGNATURE, ...chunks.map((c) => chunk(c.type, c.data))]));

const IHDR_FIELDS: [string, number, 4 | 1, number[]][] = [
  ['width', 0, 4, [0, 1, 14, 27, 29, 0x7fffffff, 0x80000000, 0xffffffff]],
  ['height', 4, 4, [0, 1, 14, 27, 29, 0x7fffffff, 0x80000000, 0xffffffff]],
  ['bit depth', 8, 1, [0, 1, 2, 3, 4, 8, 16, 32, 255]],
  ['color type', 9, 1, [0, 1, 2, 3, 4, 5, 6, 7, 255]],
  ['compression', 10, 1, [1, 255]],
  ['filter', 11, 1, [1, 255]],
  ['interlace', 12, 1, [0, 1, 2, 255]],
];
const NEW_CHUNKS = ['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND', 'tEXt', 'zzZz', 'ABCD', 'gAMA', 'sBIT', 'bKGD', 'pHYs', 'iCCP', 'acTL', 'CgBI'];

/** One edit of a PNG's chunks; `preserves` when the image must decode exactly as before. */
export function editPng(chunks: PngChunk[], base: PngBase, rng: Rng): { what: string; preserves: boolean } {
  const op = rng.int(0, 10);
  const i = rng.int(0, chunks.length - 1);
  const c = chunks[i]!;
  if (op === 0 || op === 1) {
    const ihdr = chunks.find((x) => x.type === 'IHDR');
    if (ihdr && ihdr.data.length === 13) {
      const [field, at, size, values] = rng.pick(IHDR_FIELDS);
      const v = rng.pick(values);
      const data = ihdr.data.slice();
      if (size === 4) new DataView(data.buffer).setUint32(at, v);
      else data[at] = v;
      ihdr.data = data;
      return { what: `IHDR ${field} := ${v}`, preserves: false };
    }
  }
  if (op === 2) {
    const e = randomEdit(c.data, rng);
    c.data = e.bytes;
    return { what: `chunk ${i} (${c.type}) data: ${e.what}`, preserves: false };
  }
  if (op === 3 && chunks.length > 1) {
    chunks.splice(i, 1);
    return { what: `chunk ${i} (${c.type}) removed`, preserves: false };
  }
  if (op === 4) {
    const to = rng.int(1, chunks.length);
    chunks.splice(to, 0, { type: c.type, data: c.data.slice() });
    return { what: `chunk ${i} (${c.type}) copied to position ${to}`, preserves: false };
  }
  if (op === 5 && i + 1 < chunks.length) {
    [chunks[i], chunks[i + 1]] = [chunks[i + 1]!, chunks[i]!];
    return { what: `chunks ${i} and ${i + 1} swapped`, preserves: false };
  }
  if (op === 6) {
    const type = rng.pick(NEW_CHUNKS);
    const len = rng.pick([0, 1, 2, 3, 4, 6, 9, 12, 13, 256, 300, 768, 771]);
    const data = Uint8Array.from({ length: len }, () => rng.int(0, 255));
    const to = rng.int(0, chunks.length);
    chunks.splice(to, 0, { type, data });
    return { what: `chunk ${type} of ${len} random bytes inserted at position ${to}`, preserves: false };
  }
  if (op === 7) {
    // An ancillary chunk nobody knows, right after IHDR or right before IEND: the image is unchanged.
    const type = rng.pick(['zzZz', 'tEXt', 'vpAg']);
    const data = Uint8Array.from({ length: rng.int(0, 40) }, () => rng.int(0, 255));
    const to = rng.next() < 0.5 ? 1 : chunks.length - 1;
    const known = chunks[to - 1]?.type === 'IHDR' || chunks[to]?.type === 'IEND';
    chunks.splice(to, 0, { type, data });
    return { what: `ancillary chunk ${type} of ${data.length} bytes inserted at position ${to}`, preserves: known };
  }
  const idats = chunks.map((x, j) => [x, j] as const).filter(([x]) => x.type === 'IDAT');
  if (op === 8 && idats.length) {
    // The image data split into several IDAT chunks: the image is unchanged.
    const first = idats[0]![1];
    const all = Buffer.concat(idats.map(([x]) => x.data));
    const cuts = [...new Set(Array.from({ length: rng.int(1, 5) }, () => rng.int(0, all.length)))].sort((a, b) => a - b);
    const parts: PngChunk[] = [];
    let prev = 0;
    for (const cut of [...cuts, all.length]) {
      parts.push({ type: 'IDAT', data: all.subarray(prev, cut) });
      prev = cut;
    }
    chunks.splice(first, idats.length, ...parts);
    return { what: `image data split into IDATs at ${show(cuts)}`, preserves: true };
  }
  if (op >= 9 && base.rows && idats.length) {
    const first = idats[0]![1];
    let rows = Buffer.from(base.rows);
    let what: string;
    const kind = rng.int(0, 6);
    if (kind === 0) {
      const at = rng.int(0, rows.length - 1);
      const v = rng.int(0, 255);
      rows[at] = v;
      what = `scanline byte ${at} := ${v}`;
    } else if (kind === 1) {
      const k = rng.int(1, 40);
      rows = rows.subarray(0, rows.length - k);
      what = `scanlines ${k} bytes short`;
    } else if (kind === 2) {
      const k = rng.int(1, 40);
      rows = Buffer.concat([rows, Buffer.alloc(k, 7)]);
      what = `scanlines ${k} bytes long`;
    } else {
      rows = Buffer.from(rows);
      what = 'scanlines unchanged';
    }
    let z: Uint8Array = deflateSync(rows, { level: rng.pick([0, 1, 9]) });
    const tail = rng.int(0, 5);
    if (tail === 1) {
      const k = rng.int(1, 4);
      z = z.subarray(0, z.length - k);
      what += `; zlib stream without its last ${k} bytes`;
    } else if (tail === 2) {
      z = Buffer.from(z);
      z[z.length - 1]! ^= 1;
      what += '; Adler-32 wrong';
    } else if (tail === 3) {
      z = Buffer.concat([z, Buffer.from('junk')]);
      what += '; 4 bytes after the zlib stream';
    } else if (tail === 4) {
      z = deflateRawSync(rows);
      what += '; raw deflate (no zlib header)';
    }
    chunks.splice(first, idats.length, { type: 'IDAT', data: z });
    return { what: `image data re-encoded: ${what}`, preserves: false };
  }
  const e = randomEdit(c.data, rng);
  c.data = e.bytes;
  return { what: `chunk ${i} (${c.type}) data: ${e.what}`, preserves: false };
}
