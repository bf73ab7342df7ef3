// PNG input of `fovea predict` (src/mnist/png.ts) and the probabilities it prints, without a
// GPU: grey, palette and RGB(A) images of every bit depth, interlaced or not, decode to the same
// grey pixels (colour by PIL's luma weights, alpha over black, or white under dark content); an image of the wrong size is
// refused from its IHDR before pngjs decodes anything (a small file can claim 50000×50000);
// image data that inflates to fewer (or more) bytes than its scanlines need is refused, naming
// the file, the byte offset and both sizes; probabilities stay finite for logits far outside
// exp's range.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeGreyPng } from '../src/mnist/png.js';
import { softmax } from '../src/mnist/predict-cli.js';
import { formatError, Rng } from './helpers.js';
import { torchJson } from './oracle.js';
import { chunk, ihdrChunk, pattern, pngFile, scanlines, SIGNATURE, type PngHeaderFields as Header } from './file-builders.js';

const IDAT_DATA = 8 + 25 + 8; // signature, IHDR chunk, IDAT length and type


afterEach(() => void vi.restoreAllMocks());

describe('decodeGreyPng', () => {
  it('decodes grey images of 1, 2, 4 and 8 bits, interlaced or not, and palette images', () => {
    for (const bitDepth of [1, 2, 4, 8]) {
      const levels = 2 ** bitDepth;
      const expected = Uint8Array.from({ length: 28 * 28 }, (_, i) => (pattern(levels)(i % 28, Math.floor(i / 28)) * 255) / (levels - 1));
      for (const interlace of [0, 1] as const) {
        const header = { width: 28, height: 28, bitDepth, interlace };
        const grey = decodeGreyPng(pngFile(header, deflateSync(scanlines(header, pattern(levels)))), `g${bitDepth}-${interlace}.png`, 28, 28);
        expect([...grey], `${bitDepth}-bit, interlace ${interlace}`).toEqual([...expected]);
      }
    }
    const palette = [0, 80, 160, 255];
    const header = { width: 28, height: 28, bitDepth: 2, colorType: 3, interlace: 1 as const };
    const plte = chunk('PLTE', Uint8Array.from(palette.flatMap((v) => [v, v, v])));
    const grey = decodeGreyPng(pngFile(header, deflateSync(scanlines(header, pattern(4))), [plte]), 'palette.png', 28, 28);
    expect([...grey]).toEqual(Array.from({ length: 28 * 28 }, (_, i) => palette[pattern(4)(i % 28, Math.floor(i / 28))]));
  });

  it('decodes RGB and RGBA as written by pngjs', () => {
    const p = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 28 * 28; i++) p.data.set([i % 256, i % 256, i % 256, 255], 4 * i);
    for (const colorType of [0, 2, 6] as const) {
      const grey = decodeGreyPng(PNG.sync.write(p, { colorType }), `c${colorType}.png`, 28, 28);
      expect([...grey], `color type ${colorType}`).toEqual(Array.from({ length: 28 * 28 }, (_, i) => i % 256));
    }
  });

  it("turns colour to grey with PIL's luma weights and composites alpha over black, or over white under dark content", () => {
    // ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B), then × alpha / 255, each rounded: pure red, green and blue
    // differ, and half-transparent white is mid grey. The content is light (its luma weighed by
    // alpha is 142 of 255), so the background is black.
    const light = [[255, 255, 255, 255, 255], [255, 0, 0, 255, 76], [0, 255, 0, 255, 150], [0, 0, 255, 255, 29], [255, 255, 255, 128, 128], [255, 255, 255, 0, 0]];
    // Black ink drawn on a transparent canvas: over black it would vanish, so it goes over white.
    const ink = [[0, 0, 0, 255, 0], [0, 0, 0, 128, 127], [0, 0, 0, 0, 255], [255, 255, 255, 0, 255]];
    for (const pixels of [light, ink]) {
      const p = new PNG({ width: pixels.length, height: 1 });
      pixels.forEach((rgbag, i) => p.data.set(rgbag.slice(0, 4), 4 * i));
      const grey = decodeGreyPng(PNG.sync.write(p, { colorType: 6 }), 'colour.png', 1, pixels.length);
      expect([...grey]).toEqual(pixels.map((q) => q[4]));
    }
  });

  it("gives PIL's grey exactly: colours by its fixed-point luma, 16-bit samples by their high byte", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fovea-luma-'));
    const rng = new Rng(3);
    const [width, height] = [64, 32];
    // 8-bit RGB: random colours, and two whose luma (299 R + 587 G + 114 B) / 1000 rounds a level above PIL's.
    const p = new PNG({ width, height });
    for (let i = 0; i < width * height; i++) p.data.set([...Array.from({ length: 3 }, () => Math.floor(rng.uniform(0, 256))), 255], 4 * i);
    p.data.set([0, 0, 250, 255, 0, 4, 168, 255], 0);
    const rgb8 = PNG.sync.write(p, { colorType: 2 });
    // 16-bit RGB: random samples, big-endian, rows unfiltered.
    const rows = Buffer.alloc(height * (1 + 6 * width));
    for (let y = 0; y < height; y++) for (let x = 0; x < 3 * width; x++) rows.writeUInt16BE(Math.floor(rng.uniform(0, 65536)), y * (1 + 6 * width) + 1 + 2 * x);
    const rgb16 = pngFile({ width, height, bitDepth: 16, colorType: 2 }, deflateSync(rows));
    const files = { rgb8, rgb16 };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `${name}.png`), bytes);
    const pil = torchJson<Record<string, number[]>>(`import json
from PIL import Image
print(json.dumps({n: list(Image.open('${dir}/' + n + '.png').convert('L').getdata()) for n in ['rgb8', 'rgb16']}))`);
    for (const [name, bytes] of Object.entries(files)) expect([...decodeGreyPng(bytes, `${name}.png`, height, width)], name).toEqual(pil[name]);
  });

  it('refuses the wrong size from the header, before pngjs decodes anything', () => {
    const read = vi.spyOn(PNG.sync, 'read');
    // 9 kB that claim 50000×50000 grey pixels (2.5 GB of scanlines).
    const bomb = pngFile({ width: 50000, height: 50000 }, deflateSync(Buffer.alloc(10_000_000)));
    expect(bomb.length).toBeLessThan(20_000);
    const e = formatError(() => decodeGreyPng(bomb, 'bomb.png', 28, 28));
    expect(e.message).toBe('bomb.png (byte 16): image is 50000×50000 pixels, but the model takes 28×28');
    // A 32×32 image whose data pngjs could not even read: the size is what is reported.
    const wrong = formatError(() => decodeGreyPng(pngFile({ width: 32, height: 32 }, Buffer.from('not zlib')), 'big.png', 28, 28));
    expect(wrong.message).toBe('big.png (byte 16): image is 32×32 pixels, but the model takes 28×28');
    expect(read).not.toHaveBeenCalled();
  });

  it('refuses image data that inflates to fewer or more bytes than the scanlines need', () => {
    const plain = { width: 28, height: 28 };
    const rows = scanlines(plain, pattern(256)); // 28 rows of a filter byte and 28 pixels
    expect(rows.length).toBe(812);
    const cases: [string, Uint8Array, RegExp][] = [
      ['a row short', pngFile(plain, deflateSync(rows.subarray(0, 812 - 29))), /image data inflates to 783 bytes, but 28 rows of 28 pixels \(8-bit, color type 0\) need 812$/],
      ['a cut zlib stream', pngFile(plain, deflateSync(rows).subarray(0, 100)), /image data inflates to \d+ bytes, but 28 rows of 28 pixels \(8-bit, color type 0\) need 812$/],
      ['a byte too many', pngFile(plain, deflateSync(Buffer.concat([rows, Buffer.alloc(1)]))), /image data inflates to more than the 812 bytes that 28 rows of 28 pixels \(8-bit, color type 0\) need$/],
      ['far too many', pngFile(plain, deflateSync(Buffer.alloc(10_000_000))), /inflates to more than the 812 bytes/],
    ];
    // Interlaced 1-bit: the seven passes' rows, each a filter byte and its pixels packed 8 to a byte.
    const adam7 = { width: 28, height: 28, bitDepth: 1, interlace: 1 as const };
    const passes = scanlines(adam7, pattern(2));
    expect(passes.length).toBe(4 * 2 + 4 * 2 + 3 * 2 + 7 * 2 + 7 * 3 + 14 * 3 + 14 * 5); // rows × (1 + ceil(width / 8)) per pass
    cases.push(['interlaced, a byte short', pngFile(adam7, deflateSync(passes.subarray(1))), /inflates to 168 bytes, but 28 rows of 28 pixels \(1-bit, color type 0, interlaced\) need 169$/]);
    for (const [what, bytes, pattern] of cases) {
      const e = formatError(() => decodeGreyPng(bytes, 'short.png', 28, 28));
      expect(e.byteOffset, what).toBe(IDAT_DATA);
      expect(e.message, what).toMatch(/^short\.png \(byte 41\): /);
      expect(e.message, what).toMatch(pattern);
    }
  });

  it('names what is malformed and where', () => {
    const good = pngFile({ width: 28, height: 28 }, deflateSync(scanlines({ width: 28, height: 28 }, pattern(256))));
    const noIhdr = Buffer.concat([good.subarray(0, 8), chunk('gAMA', new Uint8Array(4)), good.subarray(8)]);
    const noIdat = Buffer.concat([good.subarray(0, 33), chunk('IEND', new Uint8Array())]);
    const cut = good.subarray(0, IDAT_DATA + 10);
    const cases: [string, Uint8Array, number, RegExp][] = [
      ['GIF', Buffer.from('GIF89a, not a PNG'), 0, /not a readable PNG: it does not start with the 8-byte PNG signature/],
      ['signature only', good.subarray(0, 8), 8, /ends at byte 8, inside its IHDR chunk/],
      ['no IHDR first', noIhdr, 8, /the first chunk must be the 13-byte IHDR, found "gAMA" of 4 bytes/],
      ['no IDAT', noIdat, 33, /no IDAT chunk/],
      ['a cut IDAT chunk', cut, IDAT_DATA - 8, /chunk "IDAT" of \d+ bytes runs past the end of the file \(51 bytes\)/],
    ];
    for (const [what, bytes, offset, pattern] of cases) {
      const e = formatError(() => decodeGreyPng(bytes, 'bad.png', 28, 28));
      expect(e.byteOffset, what).toBe(offset);
      expect(e.message, what).toMatch(pattern);
    }
  });

  const plain = { width: 28, height: 28 };
  const idat = () => chunk('IDAT', deflateSync(scanlines(plain, pattern(256))));
  const iend = chunk('IEND', new Uint8Array());

  it('refuses a second IHDR before pngjs sizes anything from it', () => {
    const read = vi.spyOn(PNG.sync, 'read');
    for (const second of [{ width: 20000, height: 20000 }, { width: 1, height: 1 }, plain]) {
      const bytes = Buffer.concat([SIGNATURE, ihdrChunk(plain), ihdrChunk(second), idat(), iend]);
      const e = formatError(() => decodeGreyPng(bytes, 'twice.png', 28, 28));
      expect(e.message).toBe('twice.png (byte 33): not a readable PNG: a second IHDR chunk (a PNG has exactly one)');
    }
    expect(read).not.toHaveBeenCalled();
  });

  it('checks CRCs, chunk order, IEND and bit depths itself, naming the byte', () => {
    const good = Buffer.concat([SIGNATURE, ihdrChunk(plain), idat(), iend]);
    // Bytes after IEND are ignored, as libpng and PIL ignore them (pngjs alone would refuse them).
    expect(decodeGreyPng(Buffer.concat([good, Buffer.from('junk')]), 'trailing.png', 28, 28)).toEqual(decodeGreyPng(good, 'good.png', 28, 28));
    const longEnd = Buffer.concat([good.subarray(0, good.length - 12), chunk('IEND', Buffer.from('data'))]);
    expect(formatError(() => decodeGreyPng(longEnd, 'end.png', 28, 28)).message).toBe(`end.png (byte ${good.length - 12}): not a readable PNG: an IEND chunk of 4 bytes (it holds none)`);
    const flip = (at: number) => Buffer.from(good).fill(good[at]! ^ 1, at, at + 1);
    const crcAt = (b: Uint8Array, chunkAt: number) => new DataView(b.buffer, b.byteOffset).getUint32(chunkAt + 8 + new DataView(b.buffer, b.byteOffset).getUint32(chunkAt));
    const badIdat = flip(good.length - 12 - 5); // the last byte of the IDAT data
    const badIhdr = flip(28); // the interlace byte
    const palette = chunk('PLTE', new Uint8Array(3 * 256));
    const rows16 = deflateSync(Buffer.alloc(28 * (1 + 56)));
    const text = chunk('tEXt', Buffer.from('Comment\0hi'));
    const cases: [string, Uint8Array, number, RegExp][] = [
      ['a wrong IDAT CRC', badIdat, 33, new RegExp(`CRC mismatch in chunk "IDAT" \\(stored 0x${crcAt(good, 33).toString(16).padStart(8, '0')}, computed 0x[0-9a-f]{8}\\)$`)],
      ['a wrong IHDR CRC', badIhdr, 8, /CRC mismatch in chunk "IHDR"/],
      ['no IEND', good.subarray(0, good.length - 12), good.length - 12, new RegExp(`the file ends at byte ${good.length - 12} without an IEND chunk$`)],
      ['IDAT chunks apart', Buffer.concat([SIGNATURE, ihdrChunk(plain), idat(), text, idat(), iend]), 33 + idat().length + text.length, /IDAT chunks must be consecutive$/],
      ['palette without PLTE', pngFile({ ...plain, colorType: 3 }, deflateSync(Buffer.alloc(28 * 29))), 33, /a palette image \(color type 3\) needs a PLTE chunk before its image data$/],
      ['PLTE after IDAT', Buffer.concat([SIGNATURE, ihdrChunk({ ...plain, colorType: 3 }), palette, idat(), palette, iend]), 33 + palette.length + idat().length, /PLTE chunk after the image data/],
      ['palette at 16 bits', pngFile({ ...plain, bitDepth: 16, colorType: 3 }, rows16, [palette]), 24, /bit depth 16 is not allowed for color type 3 \(only 1, 2, 4, 8\)$/],
      ['RGB at 1 bit', pngFile({ ...plain, bitDepth: 1, colorType: 2 }, deflateSync(Buffer.alloc(28 * 12))), 24, /bit depth 1 is not allowed for color type 2 \(only 8, 16\)$/],
      ['data after the zlib stream', pngFile(plain, Buffer.concat([deflateSync(scanlines(plain, pattern(256))), Buffer.from('junk')])), IDAT_DATA, /4 bytes of image data after the end of its zlib stream$/],
      ['grey+alpha at 2 bits', pngFile({ ...plain, bitDepth: 2, colorType: 4 }, deflateSync(Buffer.alloc(28 * 15))), 24, /bit depth 2 is not allowed for color type 4 \(only 8, 16\)$/],
      ['a critical chunk not known', Buffer.concat([SIGNATURE, ihdrChunk(plain), chunk('ABCD', Buffer.from('x')), idat(), iend]), 33, /chunk "ABCD" is critical \(its name starts in upper case\) and not one this reader knows \(IHDR, PLTE, IDAT, IEND\)$/],
      ['a chunk name not of letters', Buffer.concat([SIGNATURE, ihdrChunk(plain), chunk('a1b2', Buffer.from('x')), idat(), iend]), 33, /chunk "a1b2": a chunk's name is four letters$/],
    ];
    for (const [what, bytes, offset, pattern] of cases) {
      const e = formatError(() => decodeGreyPng(bytes, 'bad.png', 28, 28));
      expect(e.message, what).toMatch(/^bad\.png \(byte \d+\): not a readable PNG: /);
      expect(e.byteOffset, what).toBe(offset);
      expect(e.message, what).toMatch(pattern);
    }
    // An ancillary chunk between IHDR and IDAT is fine.
    expect(decodeGreyPng(Buffer.concat([SIGNATURE, ihdrChunk(plain), text, idat(), iend]), 'text.png', 28, 28)).toHaveLength(28 * 28);
  });

  // PLTE and tRNS by the PNG specification's rules: pngjs joins two palettes, applies a second
  // tRNS or one after IDAT, and reads past (or ignores) wrongly sized ones.
  /** A 28×28 file: IHDR of `header`, then `chunks` (IDAT included) in order, then IEND. */
  const file = (header: Header, ...chunks: Buffer[]) => Buffer.concat([SIGNATURE, ihdrChunk(header), ...chunks, iend]);
  /** Image data of `header` whose every sample is `value(x, y)`. */
  const data = (header: Header, value = pattern(2)) => chunk('IDAT', deflateSync(scanlines(header, value)));
  const entries = (n: number) => chunk('PLTE', new Uint8Array(3 * n).map((_, i) => (i * 37) % 256));
  const trns = (n: number) => chunk('tRNS', new Uint8Array(n).fill(128));
  /** An RGB (or RGBA) file from pngjs with `chunks` inserted after its IHDR. */
  const rgb = (colorType: 2 | 6, ...chunks: Buffer[]) => {
    const p = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 28 * 28; i++) p.data.set([i % 256, (3 * i) % 256, 7, 255], 4 * i);
    const bytes = PNG.sync.write(p, { colorType });
    return Buffer.concat([bytes.subarray(0, 33), ...chunks, bytes.subarray(33)]);
  };
  const palette8 = { ...plain, colorType: 3 };
  const grey8 = plain;
  const greyAlpha = { ...plain, colorType: 4 };
  /** Grey+alpha rows hold two 8-bit samples a pixel: the scanlines of a 56-wide grey image. */
  const greyAlphaData = () => data({ ...plain, width: 56 });

  it('refuses PLTE and tRNS chunks that break the PNG specification, naming the chunk and its byte', () => {
    const [p4, t2, t6] = [entries(4), trns(2), trns(6)];
    const cases: [string, Uint8Array, number, RegExp][] = [
      ['two PLTE chunks', file(palette8, p4, entries(2), data(palette8)), 33 + p4.length, /a second PLTE chunk \(a PNG has at most one\)$/],
      ['two tRNS chunks', file(palette8, p4, trns(1), trns(2), data(palette8)), 33 + p4.length + trns(1).length, /a second tRNS chunk \(a PNG has at most one\)$/],
      ['a 4-byte PLTE', file(palette8, chunk('PLTE', new Uint8Array(4)), data(palette8)), 33, /PLTE chunk of 4 bytes, not a multiple of 3 \(one RGB triple per entry\)$/],
      ['a 7-byte PLTE in RGB', rgb(2, chunk('PLTE', new Uint8Array(7))), 33, /PLTE chunk of 7 bytes, not a multiple of 3/],
      ['an empty PLTE', file(palette8, chunk('PLTE', new Uint8Array()), data(palette8)), 33, /PLTE chunk of 0 entries \(a palette has 1 to 256\)$/],
      ['257 palette entries', file(palette8, entries(257), data(palette8)), 33, /PLTE chunk of 257 entries \(a palette has 1 to 256\)$/],
      ['257 suggested entries in RGBA', rgb(6, entries(257)), 33, /PLTE chunk of 257 entries \(a palette has 1 to 256\)$/],
      ['3 entries in a 1-bit image', file({ ...palette8, bitDepth: 1 }, entries(3), data({ ...palette8, bitDepth: 1 })), 33, /PLTE chunk of 3 entries, more than the 2 a 1-bit palette image can index$/],
      ['17 entries in a 4-bit image', file({ ...palette8, bitDepth: 4 }, entries(17), data({ ...palette8, bitDepth: 4 })), 33, /PLTE chunk of 17 entries, more than the 16 a 4-bit palette image can index$/],
      ['PLTE in grey', file(grey8, p4, data(grey8)), 33, /PLTE chunk in a grey image \(color type 0 has no palette\)$/],
      ['PLTE in grey+alpha', file(greyAlpha, p4, greyAlphaData()), 33, /PLTE chunk in a grey image \(color type 4 has no palette\)$/],
      ['tRNS after IDAT', file(grey8, data(grey8), t2), 33 + data(grey8).length, /tRNS chunk after the image data \(IDAT\)$/],
      ['tRNS before PLTE', file(palette8, trns(1), p4, data(palette8)), 33, /tRNS chunk before the PLTE chunk \(a palette image needs its PLTE first\)$/],
      ['tRNS before a suggested PLTE', rgb(2, t6, p4), 33 + t6.length, /PLTE chunk after the tRNS chunk \(tRNS must follow it\)$/],
      ['tRNS longer than the palette', file(palette8, p4, trns(5), data(palette8)), 33 + p4.length, /tRNS chunk of 5 bytes, more than the 4 palette entries$/],
      ['a 1-byte grey tRNS', file(grey8, trns(1), data(grey8)), 33, /tRNS chunk of 1 bytes, but color type 0 needs exactly 2 \(one 16-bit sample per channel\)$/],
      ['a 300-byte grey tRNS', file(grey8, trns(300), data(grey8)), 33, /tRNS chunk of 300 bytes, but color type 0 needs exactly 2/],
      ['a 2-byte RGB tRNS', rgb(2, t2), 33, /tRNS chunk of 2 bytes, but color type 2 needs exactly 6 \(one 16-bit sample per channel\)$/],
      ['tRNS in grey+alpha', file(greyAlpha, t2, greyAlphaData()), 33, /tRNS chunk in an image with an alpha channel \(color type 4\)$/],
      ['tRNS in RGBA', rgb(6, t6), 33, /tRNS chunk in an image with an alpha channel \(color type 6\)$/],
    ];
    for (const [what, bytes, offset, pattern] of cases) {
      const e = formatError(() => decodeGreyPng(bytes, 'bad.png', 28, 28));
      expect(e.message, what).toMatch(/^bad\.png \(byte \d+\): not a readable PNG: /);
      expect(e.byteOffset, what).toBe(offset);
      expect(e.message, what).toMatch(pattern);
    }
  });

  it('still decodes a short palette with fewer alpha values, a grey or RGB transparent colour, and a suggested PLTE', () => {
    // 3 entries in an 8-bit image, alpha for the first 2 only (the third stays opaque).
    const shortPalette = chunk('PLTE', Uint8Array.of(255, 255, 255, 200, 200, 200, 100, 100, 100));
    const alpha = chunk('tRNS', Uint8Array.of(0, 128));
    const grey = decodeGreyPng(file(palette8, shortPalette, alpha, data(palette8, pattern(3))), 'p.png', 28, 28);
    expect([...grey]).toEqual(Array.from({ length: 28 * 28 }, (_, i) => [0, Math.round((200 * 128) / 255), 100][pattern(3)(i % 28, Math.floor(i / 28))]));
    // As many alpha values as entries.
    const full = decodeGreyPng(file(palette8, shortPalette, chunk('tRNS', Uint8Array.of(0, 128, 255)), data(palette8, pattern(3))), 'p.png', 28, 28);
    expect([...full]).toEqual([...grey]);
    // Grey 8-bit with sample 1 transparent: those pixels turn white, as the rest is dark (0 and 2).
    const greyTrns = decodeGreyPng(file(grey8, chunk('tRNS', Uint8Array.of(0, 1)), data(grey8, pattern(3))), 'g.png', 28, 28);
    expect([...greyTrns]).toEqual(Array.from({ length: 28 * 28 }, (_, i) => [0, 255, 2][pattern(3)(i % 28, Math.floor(i / 28))]));
    // RGB with a suggested palette before its 6-byte tRNS, and RGBA with a suggested palette.
    const opaque = decodeGreyPng(rgb(2), 'rgb.png', 28, 28);
    expect([...decodeGreyPng(rgb(2, entries(256), trns(6)), 'rgb.png', 28, 28)]).toEqual([...opaque]);
    expect([...decodeGreyPng(rgb(6, entries(256)), 'rgba.png', 28, 28)]).toEqual([...opaque]);
  });
});

describe("predict's probabilities", () => {
  it('are a softmax that neither overflows nor underflows for large logits', () => {
    // exp(1000) is Infinity and exp(-1000) is 0: only the shift by the largest logit keeps them finite.
    expect(softmax([1000, 0])).toEqual([1, 0]);
    expect(softmax([-1000, -1000])).toEqual([0.5, 0.5]);
    const p = softmax(Float32Array.of(1000, 999));
    expect(p[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 12);
    expect(p[1]).toBeCloseTo(Math.exp(-1) / (1 + Math.exp(-1)), 12);
  });
});
