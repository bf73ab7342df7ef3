// Builders of valid (and deliberately malformed) input files for the parser tests: safetensors
// from a header and data bytes, IDX from dims and data, PNG from chunks and scanlines. Shared by
// safetensors.test.ts, idx.test.ts, png.test.ts, torch-save.test.ts and the seeded fuzz tests
// (fuzz-*.test.ts, test/fuzz/); a ZIP archive of stored entries, as torch.save writes.
import { crc32 } from 'node:zlib';

/** A safetensors file from a header (object or raw text) and data bytes; `n` overrides the length field. */
export function st(header: unknown, data: number | Uint8Array = 0, n?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** A safetensors header entry of dtype F32. */
export const f32Entry = (shape: number[], data_offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets });

/** An IDX file: magic bytes 0 0 type ndims, big-endian dims, then `data`. */
export function idx(dims: number[], data: ArrayLike<number>, { type = 0x08, lead = [0, 0] } = {}): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out.set([lead[0]!, lead[1]!, type, dims.length]);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

export const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** A PNG chunk: length, type, data, CRC. */
export function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export interface PngHeaderFields {
  width: number;
  height: number;
  bitDepth?: number;
  colorType?: number;
  interlace?: 0 | 1;
}

/** Filtered scanlines (filter 0) of one-sample pixels `value(x, y)`, packed at `bitDepth`, per Adam7 pass when interlaced. */
export function scanlines({ width, height, bitDepth = 8, interlace = 0 }: PngHeaderFields, value: (x: number, y: number) => number): Buffer {
  const rows: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of interlace ? ADAM7 : ([[0, 0, 1, 1]] as const)) {
    const w = Math.ceil(Math.max(0, width - x0) / dx);
    const h = Math.ceil(Math.max(0, height - y0) / dy);
    if (!w || !h) continue;
    for (let j = 0; j < h; j++) {
      const row = new Uint8Array(1 + Math.ceil((w * bitDepth) / 8));
      for (let i = 0; i < w; i++) {
        const bit = i * bitDepth;
        row[1 + (bit >> 3)]! |= value(x0 + i * dx, y0 + j * dy) << (8 - bitDepth - (bit & 7));
      }
      rows.push(row);
    }
  }
  return Buffer.concat(rows);
}

export const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function ihdrChunk({ width, height, bitDepth = 8, colorType = 0, interlace = 0 }: PngHeaderFields): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, interlace], 8);
  return chunk('IHDR', ihdr);
}

/** A PNG file: IHDR, any extra chunks (PLTE), IDAT holding `zlibData`, IEND. */
export function pngFile(header: PngHeaderFields, zlibData: Uint8Array, extra: Buffer[] = []): Uint8Array {
  return Buffer.concat([SIGNATURE, ihdrChunk(header), ...extra, chunk('IDAT', zlibData), chunk('IEND', new Uint8Array())]);
}

/** A test pattern of `levels` grey levels. */
export const pattern = (levels: number) => (x: number, y: number) => (x * 7 + y * 3) % levels;
