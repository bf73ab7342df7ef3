// safetensors: bit-exact round trips, a byte-for-byte header layout built by hand from the
// spec, a table of malformed files (each a FileFormatError naming the file, tensor and byte
// offset), and the checkpoint file helpers (atomic write, checked read).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError, ShapeError } from '../src/runtime/errors.js';
import { parseSafetensors, serializeSafetensors } from '../src/model/safetensors.js';
import { FileReadError, FileWriteError, readFileChecked, writeFileAtomic } from '../src/model/files.js';
import { readModelSpec } from '../src/model/checkpoint.js';
import { formatError } from './helpers.js';
import { torchJson } from './oracle.js';
import { f32Entry as f32, st } from './file-builders.js';

const bitsOf = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
const fromBits = (bits: number[]) => new Float32Array(new Uint32Array(bits).buffer);

describe('safetensors round trip', () => {
  it('is bit-exact for NaN payloads, ±0, ±Inf, denormals and extremes', () => {
    const special = fromBits([
      0x7fc00000, // quiet NaN
      0x7fc00001, // quiet NaN with payload
      0xffc12345, // negative NaN with payload
      0x7f800001, // signalling NaN
      0x80000000, // −0
      0x00000001, // smallest denormal
      0x807fffff, // largest negative denormal
      0x7f800000, // +Inf
      0xff800000, // −Inf
      0x7f7fffff, // largest finite
      0x3f800000, // 1
    ]);
    const weights = Float32Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    const bytes = serializeSafetensors(
      [
        ['special', { shape: [11], data: special }],
        ['layer.0.weight', { shape: [2, 3, 4], data: weights }],
        ['scalar', { shape: [], data: Float32Array.of(-7.25) }],
        ['empty', { shape: [3, 0], data: new Float32Array(0) }],
      ],
      { format: 'pt', note: 'ünïcödé ✓' },
    );
    // Parse from an odd byte offset too: the reader must not assume the file is aligned.
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    for (const input of [bytes, shifted.subarray(1)]) {
      const { tensors, metadata } = parseSafetensors(input, 'round.safetensors');
      expect(metadata).toEqual({ format: 'pt', note: 'ünïcödé ✓' });
      expect([...tensors.keys()]).toEqual(['special', 'layer.0.weight', 'scalar', 'empty']);
      expect(bitsOf(tensors.get('special')!.data)).toEqual(bitsOf(special));
      expect(bitsOf(tensors.get('layer.0.weight')!.data)).toEqual(bitsOf(weights));
      expect(tensors.get('layer.0.weight')!.shape).toEqual([2, 3, 4]);
      expect(tensors.get('scalar')).toEqual({ dtype: 'F32', shape: [], data: Float32Array.of(-7.25) });
      expect(tensors.get('empty')).toEqual({ dtype: 'F32', shape: [3, 0], data: new Float32Array(0) });
    }
  });

  it('round-trips names that are special to JavaScript objects', () => {
    const names = ['__proto__', 'constructor', 'toString'];
    const bytes = serializeSafetensors(names.map((n, i) => [n, { shape: [1], data: Float32Array.of(i) }]));
    const { tensors } = parseSafetensors(bytes, 'special.safetensors');
    expect([...tensors.keys()]).toEqual(names);
    expect(names.map((n) => Array.from(tensors.get(n)!.data))).toEqual([[0], [1], [2]]);
  });

  it('round-trips tensors in the order given, integer-like names too', () => {
    const names = ['b', '1', 'a', '0'];
    const bytes = serializeSafetensors(names.map((n, i) => [n, { shape: [1], data: Float32Array.of(i) }]));
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
    expect([...header.matchAll(/"(\w+)":\{"dtype"/g)].map((m) => m[1])).toEqual(names);
    const { tensors } = parseSafetensors(bytes, 'order.safetensors');
    expect([...tensors].map(([n, t]) => [n, t.data[0]])).toEqual(names.map((n, i) => [n, i]));
  });

  it('round-trips an empty tensor at the offset where the next one begins, whatever the header order', () => {
    // Parsed as a JS object, the header lists the integer-like "1" (at [8, 12]) before the
    // empty "e" (at [8, 8]), which ends where "1" begins: no overlap.
    const bytes = serializeSafetensors([
      ['a', { shape: [2], data: Float32Array.of(1, 2) }],
      ['e', { shape: [0], data: new Float32Array(0) }],
      ['1', { shape: [1], data: Float32Array.of(3) }],
    ]);
    const { tensors } = parseSafetensors(bytes, 'empty-between.safetensors');
    expect(Object.fromEntries([...tensors].map(([k, t]) => [k, [t.shape, [...t.data]]]))).toEqual({ a: [[2], [1, 2]], e: [[0], []], 1: [[1], [3]] });
  });

  it('round-trips no tensors and no metadata', () => {
    const bytes = serializeSafetensors([]);
    expect(bytes.length).toBe(16);
    const parsed = parseSafetensors(bytes, 'empty.safetensors');
    expect(parsed.tensors.size).toBe(0);
    expect(parsed.metadata).toEqual({});
  });

  it('rejects a shape that does not match its data, and repeated or reserved names', () => {
    expect(() => serializeSafetensors([['w', { shape: [2, 2], data: new Float32Array(3) }]])).toThrow(ShapeError);
    expect(() => serializeSafetensors([['w', { shape: [-1], data: new Float32Array(1) }]])).toThrow(/non-negative integers/);
    const w = { shape: [1], data: new Float32Array(1) };
    expect(() => serializeSafetensors([['w', w], ['w', w]])).toThrow(/"w" is used twice/);
    expect(() => serializeSafetensors([['__metadata__', w]])).toThrow(/reserved/);
  });
});

describe('safetensors byte layout, built by hand from the spec', () => {
  it('matches byte for byte: u64 length, compact JSON in the given order, space padding, LE data', () => {
    const bytes = serializeSafetensors(
      [
        ['b', { shape: [1], data: Float32Array.of(1) }],
        ['a', { shape: [2, 1], data: Float32Array.of(-2, 0.5) }],
      ],
      { format: 'pt' },
    );
    // 141 bytes of JSON (counted by hand), padded with 3 spaces to 144 = 0x90.
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"a":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]}}' +
      '   ';
    const expected = [
      ...[0x90, 0, 0, 0, 0, 0, 0, 0],
      ...[...json].map((c) => c.charCodeAt(0)),
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0
      ...[0x00, 0x00, 0x00, 0xc0], // −2.0
      ...[0x00, 0x00, 0x00, 0x3f], // 0.5
    ];
    expect(expected.length).toBe(8 + 144 + 12);
    expect([...bytes]).toEqual(expected);
  });
});

// `{"w":` — the first tensor key in a JSON.stringify'd header sits at byte 8 + 1.
const KEY0 = 9;

const MALFORMED: { what: string; bytes: Uint8Array; offset: number; pattern: RegExp }[] = [
  { what: 'file shorter than the length field', bytes: new Uint8Array(7), offset: 7, pattern: /7 bytes, too short/ },
  { what: 'a length field and nothing else', bytes: new Uint8Array(8), offset: 8, pattern: /header is not valid JSON/ },
  { what: 'header length beyond the file', bytes: st({}, 0, 1000n), offset: 0, pattern: /header length 1000 runs past the end of the file \(10 bytes/ },
  { what: 'header length huge', bytes: st({}, 0, 2n ** 63n), offset: 0, pattern: /header length 9223372036854775808 is over the 100000000-byte limit/ },
  { what: 'header not UTF-8', bytes: st('{}').map((b, i) => (i === 9 ? 0xff : b)), offset: 9, pattern: /not valid UTF-8/ },
  // Bytes 8…: { " é(2) " : " ü(2) ! — the 0xff put in place of "!" is byte 8 + 9.
  { what: 'header not UTF-8 after multi-byte text', bytes: st('{"é":"ü!"}').map((b) => (b === 0x21 ? 0xff : b)), offset: 17, pattern: /not valid UTF-8/ },
  { what: 'header not JSON', bytes: st('{"w" 1}'), offset: 8 + 5, pattern: /not valid JSON/ },
  { what: 'header JSON cut short', bytes: st('{"w":'), offset: 8 + 5, pattern: /not valid JSON/ },
  { what: 'header a JSON array', bytes: st([1, 2]), offset: 8, pattern: /not a safetensors file: its header must begin with "\{" \(0x7B\), found 0x5B$/ },
  // A PNG read as weights: named as another kind of file, not by the header length its first bytes make.
  { what: 'a PNG file', bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52), offset: 8, pattern: /found 0x00; it looks like a PNG picture$/ },
  { what: 'dtype U8', bytes: st({ w: { ...f32([4], [0, 4]), dtype: 'U8' } }, 4), offset: KEY0, pattern: /tensor "w": dtype U8 is not supported; F32, F16, BF16, F64 and I64 are/ },
  { what: 'dtype I32', bytes: st({ w: { ...f32([1], [0, 8]), dtype: 'I32' } }, 8), offset: KEY0, pattern: /tensor "w": dtype I32 is not supported/ },
  { what: 'unknown dtype', bytes: st({ w: { ...f32([1], [0, 4]), dtype: 'Q3' } }, 4), offset: KEY0, pattern: /tensor "w": unknown dtype "Q3"/ },
  { what: 'dtype not a string', bytes: st({ w: { ...f32([1], [0, 4]), dtype: 32 } }, 4), offset: KEY0, pattern: /tensor "w": malformed header entry: dtype:/ },
  { what: 'negative shape', bytes: st({ w: f32([-1, 2], [0, 8]) }, 8), offset: KEY0, pattern: /tensor "w": malformed header entry: shape\[0\]:/ },
  { what: 'negative last size', bytes: st({ w: f32([2, -1], [0, 8]) }, 8), offset: KEY0, pattern: /tensor "w": malformed header entry: shape\[1\]: expected an integer from 0 to 2\^53 - 1, found -1$/ },
  { what: 'fractional shape', bytes: st({ w: f32([1.5], [0, 4]) }, 4), offset: KEY0, pattern: /tensor "w": malformed header entry: shape\[0\]:/ },
  { what: 'shape not an array', bytes: st({ w: { ...f32([], [0, 4]), shape: '2' } }, 4), offset: KEY0, pattern: /tensor "w": malformed header entry: shape:/ },
  { what: 'missing data_offsets', bytes: st({ w: { dtype: 'F32', shape: [1] } }, 4), offset: KEY0, pattern: /tensor "w": malformed header entry: data_offsets:/ },
  { what: 'data_offsets of three numbers', bytes: st({ w: { ...f32([1], [0, 4]), data_offsets: [0, 4, 8] } }, 4), offset: KEY0, pattern: /tensor "w": malformed header entry: data_offsets/ },
  { what: 'entry not an object', bytes: st({ w: 3 }), offset: KEY0, pattern: /tensor "w": malformed header entry/ },
  { what: 'offsets not matching shape', bytes: st({ w: f32([2, 3], [0, 20]) }, 20), offset: KEY0, pattern: /tensor "w": shape \[2, 3\] needs 24 bytes of F32 but data_offsets \[0, 20\] span 20/ },
  { what: 'F16 offsets sized for F32', bytes: st({ w: { ...f32([3], [0, 12]), dtype: 'F16' } }, 12), offset: KEY0, pattern: /tensor "w": shape \[3\] needs 6 bytes of F16 but data_offsets \[0, 12\] span 12/ },
  { what: 'offsets reversed', bytes: st({ w: f32([0], [8, 4]) }, 8), offset: KEY0, pattern: /tensor "w": data_offsets \[8, 4\] end before they begin/ },
  { what: 'offsets beyond the data', bytes: st({ w: f32([4], [0, 16]) }, 12), offset: KEY0, pattern: /tensor "w": data_offsets \[0, 16\] run past the end of the 12-byte data buffer/ },
  { what: 'shape whose product overflows before a zero', bytes: st({ w: f32([2 ** 32, 2 ** 32, 0], [0, 0]) }), offset: KEY0, pattern: /tensor "w": shape \[4294967296, 4294967296, 0\] has more elements than can be counted/ },
  { what: 'metadata value not a string', bytes: st({ __metadata__: { step: 3 } }), offset: KEY0, pattern: /"__metadata__" must map strings to strings: step:/ },
];

// Layout errors point into the data buffer: 8 + header length + the offset in the buffer.
const overlapping = st({ w: f32([2], [0, 8]), v: f32([2], [4, 12]) }, 12);
const gap = st({ w: f32([1], [0, 4]), v: f32([1], [8, 12]) }, 12);
const unused = st({ w: f32([1], [0, 4]) }, 6);
const headerEnd = (bytes: Uint8Array) => 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
MALFORMED.push(
  { what: 'overlapping tensors', bytes: overlapping, offset: headerEnd(overlapping) + 4, pattern: /tensor "v" \(data_offsets \[4, 12\]\) overlaps tensor "w", which ends at 8/ },
  { what: 'gap between tensors', bytes: gap, offset: headerEnd(gap) + 4, pattern: /4 unused bytes in the data buffer before tensor "v"/ },
  { what: 'unused bytes after the last tensor', bytes: unused, offset: headerEnd(unused) + 4, pattern: /2 bytes after the last tensor's data are not part of any tensor/ },
);

describe('safetensors of other float dtypes, built by hand', () => {
  it('reads F16 and BF16 exactly and F64 rounded to nearest, as f32, keeping the file dtype', () => {
    // Bit patterns and their values, worked out by hand from IEEE 754.
    const half = [0x3c00, 0xc000, 0x7bff, 0x3555, 0x0400, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00];
    const halfValues = [1, -2, 65504, 0.333251953125, 2 ** -14, 2 ** -24, -0, Infinity, -Infinity, NaN];
    const brain = [0x3f80, 0xc040, 0x3eab, 0x0001, 0x7f80, 0xff81];
    const brainValues = [1, -3, 0.333984375, 2 ** -133, Infinity, NaN];
    const doubles = [1 / 3, 1e300, -1e300, -0, 2 ** -149, 2 ** -151, 1e-50, 16777217];
    const doubleValues = [0.3333333432674408, Infinity, -Infinity, -0, 2 ** -149, 0, 0, 16777216];
    const data = new Uint8Array(2 * half.length + 2 * brain.length + 8 * doubles.length);
    const view = new DataView(data.buffer);
    half.forEach((h, i) => view.setUint16(2 * i, h, true));
    brain.forEach((b, i) => view.setUint16(2 * half.length + 2 * i, b, true));
    doubles.forEach((d, i) => view.setFloat64(2 * half.length + 2 * brain.length + 8 * i, d, true));
    const h = 2 * half.length;
    const b = h + 2 * brain.length;
    const bytes = st({
      d: { dtype: 'F64', shape: [2, 4], data_offsets: [b, data.length] },
      h: { dtype: 'F16', shape: [half.length], data_offsets: [0, h] },
      b: { dtype: 'BF16', shape: [1, brain.length], data_offsets: [h, b] },
    }, data);
    const { tensors } = parseSafetensors(bytes, 'mixed.safetensors');
    expect([...tensors.keys()]).toEqual(['h', 'b', 'd']);
    expect(tensors.get('h')).toEqual({ dtype: 'F16', shape: [10], data: Float32Array.from(halfValues) });
    expect(Object.is(tensors.get('h')!.data[6], -0)).toBe(true);
    expect(tensors.get('b')).toEqual({ dtype: 'BF16', shape: [1, 6], data: Float32Array.from(brainValues) });
    expect(tensors.get('d')).toEqual({ dtype: 'F64', shape: [2, 4], data: Float32Array.from(doubleValues) });
    expect(Object.is(tensors.get('d')!.data[3], -0)).toBe(true);
  });

  it("keeps an F16 NaN's sign and payload, quieted, as PyTorch's .float() does", () => {
    // Sign, then the quiet bit set and the 10-bit payload shifted up 13: worked out from IEEE 754.
    const half = [0x7e00, 0xfe01, 0x7c01, 0x7dff];
    const bits = [0x7fc00000, 0xffc02000, 0x7fc02000, 0x7fffe000];
    const data = new Uint8Array(2 * half.length);
    half.forEach((h, i) => new DataView(data.buffer).setUint16(2 * i, h, true));
    const { tensors } = parseSafetensors(st({ h: { dtype: 'F16', shape: [half.length], data_offsets: [0, data.length] } }, data), 'nan.safetensors');
    const got = tensors.get('h')!.data;
    expect(Array.from(new Uint32Array(got.buffer, got.byteOffset, got.length))).toEqual(bits);
  });

  it("reads I64 (PyTorch's num_batches_tracked) rounded to nearest f32", () => {
    const longs = [0n, 3n, -5n, 16777217n, 2n ** 62n + 1n, -(2n ** 63n)];
    const data = new Uint8Array(8 * longs.length);
    longs.forEach((v, i) => new DataView(data.buffer).setBigInt64(8 * i, v, true));
    const { tensors } = parseSafetensors(st({ n: { dtype: 'I64', shape: [2, 3], data_offsets: [0, data.length] } }, data), 'long.safetensors');
    expect(tensors.get('n')).toEqual({ dtype: 'I64', shape: [2, 3], data: Float32Array.of(0, 3, -5, 16777216, 2 ** 62, -(2 ** 63)) });
  });

  it("reads I64 rounded once to the nearest f32, ties to even, bit for bit as PyTorch's .float()", () => {
    // Exact ties and just past them, at 2^24 and past 2^53 (where rounding to f64 first goes wrong).
    const longs = [2n ** 24n + 1n, 2n ** 24n + 3n, 2n ** 53n + 1n, 2n ** 60n + 2n ** 36n, 2n ** 60n + 2n ** 36n + 1n, 2n ** 60n + 3n * 2n ** 36n, 2n ** 62n + 2n ** 38n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 62n + 2n ** 38n + 1n), -(2n ** 60n + 2n ** 36n + 1n), 2n ** 55n + 2n ** 31n + 2n ** 10n];
    const data = new Uint8Array(8 * longs.length);
    longs.forEach((v, i) => new DataView(data.buffer).setBigInt64(8 * i, v, true));
    const { tensors } = parseSafetensors(st({ n: { dtype: 'I64', shape: [longs.length], data_offsets: [0, data.length] } }, data), 'long.safetensors');
    const torch = torchJson<number[]>(`import json, torch
print(json.dumps(torch.tensor([${longs.join(', ')}], dtype=torch.int64).float().view(torch.int32).tolist()))`);
    expect(bitsOf(tensors.get('n')!.data)).toEqual(torch.map((b) => b >>> 0));
  });
});

describe('safetensors parsing rejects malformed files', () => {
  for (const c of MALFORMED) {
    it(c.what, () => {
      const file = `fixtures/${c.what.replaceAll(' ', '-')}.safetensors`;
      let error: unknown;
      try {
        parseSafetensors(c.bytes, file);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(FileFormatError);
      const e = error as FileFormatError;
      expect(e.file).toBe(file);
      expect(e.byteOffset).toBe(c.offset);
      expect(e.message).toContain(`${file} (byte ${c.offset}): `);
      expect(e.message).toMatch(c.pattern);
    });
  }

  it('reports the byte offset of a tensor entry after multi-byte UTF-8 text', () => {
    const header = `{"__metadata__":{"k":"ééé"},"t":${JSON.stringify(f32([1], [0, 2]))}}`;
    const e = (() => {
      try {
        parseSafetensors(st(header, 2), 'utf8.safetensors');
      } catch (err) {
        return err as FileFormatError;
      }
      throw new Error('expected a FileFormatError');
    })();
    // 28 characters precede `"t"`, three of them two bytes long in UTF-8.
    expect(e.byteOffset).toBe(8 + 28 + 3);
    expect(e.message).toMatch(/tensor "t": shape \[1\] needs 4 bytes/);
  });

  /** The FileFormatError that parsing `bytes` throws. */
  const parseError = (bytes: Uint8Array, file: string) => formatError(() => parseSafetensors(bytes, file));

  it('names an entry with a 32 KB name at its offset, the name cut short (no RegExp is built from it)', () => {
    const name = 'x'.repeat(32766);
    const e = parseError(st({ [name]: { ...f32([1], [0, 2]), dtype: 'I32' } }, 2), 'long.safetensors');
    expect(e.byteOffset).toBe(KEY0);
    expect(e.message).toMatch(/^long\.safetensors \(byte 9\): tensor "x{200}"… \(32766 characters\): dtype I32 is not supported; F32, F16, BF16, F64 and I64 are$/);
    // A cut that would fall between the halves of a surrogate pair falls before the pair.
    const emoji = `${'a'.repeat(199)}\u{1f600}b`;
    const cut = parseError(st({ [emoji]: { ...f32([1], [0, 2]), dtype: 'I32' } }, 2), 'emoji.safetensors');
    expect(cut.message).toBe(`emoji.safetensors (byte 9): tensor "${'a'.repeat(199)}"… (202 characters): dtype I32 is not supported; F32, F16, BF16, F64 and I64 are`);
    // The name first appears as a metadata value: the offset is still that of the entry's key.
    const header = `{"__metadata__":{"k":"w"},"w" :${JSON.stringify({ ...f32([1], [0, 2]), dtype: 'I32' })}}`;
    expect(parseError(st(header, 2), 'value.safetensors').byteOffset).toBe(8 + header.indexOf('"w" :'));
  });

  it('escapes control characters and line separators in names and dtypes, so a file cannot rewrite the terminal line', () => {
    const evil = 'x\r\x1b[2K\x1b[32mall good\x1b[0m\u009b';
    const cases: [Uint8Array, RegExp][] = [
      [st({ [evil]: { ...f32([1], [0, 2]), dtype: 'I32' } }, 2), /tensor "x\\r\\u001b\[2K\\u001b\[32mall good\\u001b\[0m\\u009b": dtype I32/],
      [st({ w: { ...f32([1], [0, 4]), dtype: evil } }, 4), /tensor "w": unknown dtype "x\\r\\u001b\[2K.*\\u009b"; F32, F16, BF16, F64 and I64 are supported/],
      [st({ a: f32([2], [0, 8]), [evil]: f32([1], [4, 8]) }, 8), /tensor "x\\r\\u001b\[2K.*\\u009b" \(data_offsets \[4, 8\]\) overlaps tensor "a"/],
      [st({ __metadata__: { [evil]: 1 } }), /"__metadata__" must map strings to strings: \["x\\r\\u001b\[2K.*\\u009b"\]: expected a string, found number/],
      [st('{"w": \u001b}'), /header is not valid JSON \(.*\\u001b/],
      // U+2028/U+2029 break lines in editors and log viewers, and JSON.stringify leaves them raw.
      [st({ 'a\u2028b\u2029': { ...f32([1], [0, 2]), dtype: 'I32' } }, 2), /tensor "a\\u2028b\\u2029": dtype I32/],
      // A bidi override shows the text after it reversed.
      [st({ 'a\u202eb': { ...f32([1], [0, 2]), dtype: 'I32' } }, 2), /tensor "a\\u202eb": dtype I32/],
    ];
    for (const [bytes, pattern] of cases) {
      const e = parseError(bytes, 'evil.safetensors');
      expect(e.message).toMatch(pattern);
      expect(e.message).not.toMatch(/[\p{Cc}\u2028\u2029\u202e]/u);
    }
  });

  it('bounds what a message echoes: a million-entry shape, 100000 bad sizes', () => {
    const shape = new Array<number>(1_000_000).fill(2);
    const big = parseError(st({ w: f32(shape, [0, 4]) }, 4), 'shape.safetensors');
    expect(big.message).toMatch(/tensor "w": shape \[2, 2, 2, 2, 2, 2, 2, 2, … \(1000000 dimensions\)\] has more elements than can be counted$/);
    const bad = parseError(st({ w: f32(new Array<number>(100_000).fill(-1), [0, 4]) }, 4), 'issues.safetensors');
    expect(bad.message).toMatch(/malformed header entry: shape\[0\]: expected an integer from 0 to 2\^53 - 1, found -1; 99999 later sizes are not checked$/);
    expect(bad.message.length).toBeLessThan(400);
  });

  // Reporting every bad size of a 10 MB header took 15 s and 2.3 GB (39 MB ran out of memory).
  it('stops at the first bad size: a 10 MB shape of bad sizes is refused naming only that one', () => {
    const n = 3_400_000;
    const header = `{"w":{"dtype":"F32","shape":[2,${new Array<number>(n).fill(-1).join(',')}],"data_offsets":[0,8]}}`;
    expect(header.length).toBeGreaterThan(10_000_000);
    const e = parseError(st(header, 8), 'sizes.safetensors');
    expect(e.byteOffset).toBe(KEY0);
    expect(e.message).toBe(`sizes.safetensors (byte 9): tensor "w": malformed header entry: shape[1]: expected an integer from 0 to 2^53 - 1, found -1; ${n - 1} later sizes are not checked`);
    for (const [size, found] of [['1.5', '1.5'], ['"a"', 'string'], ['null', 'null'], ['1e400', 'Infinity'], ['9007199254740992', '9007199254740992']]) {
      const one = parseError(st(`{"w":{"dtype":"F32","shape":[${size},-1],"data_offsets":[0,4]}}`, 4), 'one.safetensors');
      expect(one.message).toMatch(`tensor "w": malformed header entry: shape[0]: expected an integer from 0 to 2^53 - 1, found ${found}; 1 later size is not checked`);
    }
  });

  it('refuses a key given twice (JSON.parse would keep the last), escaped or not, naming it at its second place', () => {
    const w = JSON.stringify(f32([1], [0, 4]));
    const cases: [string, string, RegExp][] = [
      [`{"w":${w},"v":{"__metadata__":{},"w":[{"w":1}]},"w" :${w}}`, '"w" :', /tensor "w" appears twice in the header$/],
      [`{"w":${w},"\\u0077":${w}}`, '"\\u0077"', /tensor "w" appears twice in the header$/],
      [`{"__metadata__":{"a":"b"},"é":${w},"__metadata__":{}}`, '"__metadata__":{}', /"__metadata__" appears twice in the header$/],
      [`{"a\\"b":${w},"a\\"b":${w}}`, '"a\\"b":{"d', /tensor "a\\"b" appears twice in the header$/],
      // In a tensor's entry, as the reference's duplicate field: a second dtype had won.
      [`{"a":{"dtype":"F32","shape":[1],"dtype":"F16","data_offsets":[0,4]}}`, '"dtype":"F16"', /tensor "a": key "dtype" appears twice in its entry$/],
      [`{"a":{"dtype":"F32","shape":[1],"x":[{"y":"{,\\"\\\\"}],"shape":[1],"data_offsets":[0,4]}}`, '"shape":[1],"data', /tensor "a": key "shape" appears twice in its entry$/],
    ];
    for (const [header, second, pattern] of cases) {
      const e = parseError(st(header, 4), 'twice.safetensors');
      expect(e.byteOffset, header).toBe(8 + new TextEncoder().encode(header.slice(0, header.lastIndexOf(second))).length);
      expect(e.message).toMatch(pattern);
    }
    // Equal names inside entries and metadata are no duplicates; a metadata key given twice is
    // the last, as the reference's map keeps it.
    expect(parseSafetensors(st(`{"__metadata__":{"w":"w"},"w":${w}}`, 4), 'once.safetensors').tensors.size).toBe(1);
    expect(parseSafetensors(st(`{"__metadata__":{"k":"a","k":"b"},"w":${w}}`, 4), 'meta.safetensors').metadata).toEqual({ k: 'b' });
    // Other keys of an entry are ignored, as the reference's, repeated or not.
    expect(parseSafetensors(st(`{"w":{"dtype":"F32","x":1,"shape":[1],"x":2,"data_offsets":[0,4]}}`, 4), 'extra.safetensors').tensors.size).toBe(1);
  });

  it("refuses a header nested over 128 deep, as the reference's JSON reader, before JSON.parse", () => {
    const deep = `{"__metadata__":{},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":${'['.repeat(200)}${']'.repeat(200)}}}`;
    const e = parseError(st(deep, 4), 'deep.safetensors');
    expect(e.byteOffset).toBe(8 + deep.indexOf('[[') + 126); // levels 1 and 2 are the header and the entry
    expect(e.message).toMatch(/header nests objects and arrays over 128 deep \(as the reference's JSON reader refuses them\); level 129 opens here$/);
    const shallow = `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":${'['.repeat(100)}${']'.repeat(100)}}}`;
    expect(parseSafetensors(st(shallow, 4), 'shallow.safetensors').tensors.size).toBe(1);
  });

  // A 100 MB header of 1.8 million empty tensors took 27 s and 2.3 GB; 9 million metadata
  // entries, minutes. Keys are counted before the JSON is parsed.
  it('refuses a header of over 500000 keys at any depth, naming the byte of the one past the limit', () => {
    const entry = JSON.stringify(f32([0], [0, 0]));
    const tensors = Array.from({ length: 125_001 }, (_, i) => `"${i.toString(36)}":${entry}`);
    const header = `{${tensors.join(',')}}`;
    const e = parseError(st(header), 'many.safetensors');
    expect(e.byteOffset).toBe(8 + header.lastIndexOf(`"${(125_000).toString(36)}":`));
    expect(e.message).toMatch(/header has over the 500000-key limit \(a tensor's entry has 4 keys\): key 500001 is here$/);
    // Nested in a metadata value (refused later, as no string), from a file of a million keys.
    const nested = `{"__metadata__":{"k":{${Array.from({ length: 1_000_000 }, (_, i) => `"${i.toString(36)}":0`).join(',')}}}}`;
    const started = performance.now();
    const deep = parseError(st(nested), 'deep.safetensors');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(deep.byteOffset).toBe(8 + nested.indexOf(`"${(499_998).toString(36)}":`));
    expect(deep.message).toMatch(/key 500001 is here$/);
  });

  // Finding the byte took 27 decodings of the header: 18 s for 99 MB.
  it('finds the first byte that is no UTF-8 in one pass: where a decoder fails, overlong forms and surrogates too', () => {
    const cases: [number[], number][] = [
      [[0x80], 0], [[0xc0, 0x80], 0], [[0xc1, 0xbf], 0], [[0xe0, 0x9f, 0x80], 1], [[0xed, 0xa0, 0x80], 1], [[0xf0, 0x8f, 0x80, 0x80], 1],
      [[0xf4, 0x90, 0x80, 0x80], 1], [[0xf5], 0], [[0xe2, 0x82, 0x41], 2], [[0xc3, 0xa9, 0xff], 2], [[0xf0, 0x9f, 0x98], 3],
    ];
    for (const [bad, at] of cases) {
      const bytes = st(`{"k":"é${'x'.repeat(bad.length)}"}`);
      bytes.set(bad, 16);
      expect(parseError(bytes, 'bad.safetensors').byteOffset, bad.map((b) => b.toString(16)).join(' ')).toBe(16 + at);
    }
    // A cut character at the very end: the last byte.
    expect(parseError(st('{}').map((b, i) => (i === 9 ? 0xe2 : b)), 'cut.safetensors').byteOffset).toBe(9);
    const big = new Uint8Array(8 + 60_000_000).fill(0x20);
    new DataView(big.buffer).setBigUint64(0, BigInt(big.length - 8), true);
    big[8] = 0x7b;
    big[big.length - 5] = 0xff;
    const started = performance.now();
    expect(parseError(big, 'big.safetensors').byteOffset).toBe(big.length - 5);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('keeps a metadata key named __proto__', () => {
    const { metadata } = parseSafetensors(st('{"__metadata__":{"__proto__":"x","a":"b"}}'), 'proto.safetensors');
    expect(Object.entries(metadata)).toEqual([['__proto__', 'x'], ['a', 'b']]);
  });
});

describe('checkpoint files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fovea-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically, replaces an existing file, and leaves no temp files', async () => {
    const d = await mkdtemp(join(dir, 'ok-'));
    const path = join(d, 'model.safetensors');
    const bytes = serializeSafetensors([['w', { shape: [2], data: Float32Array.of(1, 2) }]]);
    await writeFileAtomic(path, bytes);
    await writeFileAtomic(path, bytes.subarray(0, 5));
    await writeFileAtomic(path, bytes);
    expect(await readdir(d)).toEqual(['model.safetensors']);
    const back = parseSafetensors(await readFileChecked(path, 'checkpoint'), path);
    expect([...back.tensors.get('w')!.data]).toEqual([1, 2]);
  });

  it('keeps an existing file when the write fails midway, and removes the temp file', async () => {
    const d = await mkdtemp(join(dir, 'fail-'));
    const path = join(d, 'model.safetensors');
    await writeFile(path, 'previous contents');
    const failing = async (handle: import('node:fs/promises').FileHandle, bytes: Uint8Array) => {
      await handle.write(bytes.subarray(0, 3));
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    const e = (await writeFileAtomic(path, new Uint8Array(100), { write: failing }).catch((err: unknown) => err)) as FileWriteError;
    expect(e).toBeInstanceOf(FileWriteError);
    expect(e.code).toBe('ENOSPC');
    expect(e.message).toContain(path);
    expect(await readFile(path, 'utf8')).toBe('previous contents');
    expect(await readdir(d)).toEqual(['model.safetensors']);
  });

  it('keeps the target when the rename fails (target is a non-empty directory)', async () => {
    const d = await mkdtemp(join(dir, 'rename-'));
    const path = join(d, 'model.safetensors');
    await mkdir(path);
    await writeFile(join(path, 'keep'), 'x');
    const e = await writeFileAtomic(path, new Uint8Array(8)).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FileWriteError);
    expect(await readdir(d)).toEqual(['model.safetensors']);
    expect(await readFile(join(path, 'keep'), 'utf8')).toBe('x');
  });

  it('fails cleanly when the directory does not exist', async () => {
    const path = join(dir, 'no-such-dir', 'model.safetensors');
    const e = (await writeFileAtomic(path, new Uint8Array(8)).catch((err: unknown) => err)) as FileWriteError;
    expect(e).toBeInstanceOf(FileWriteError);
    expect(e.code).toBe('ENOENT');
    expect(e.path).toBe(path);
  });

  it('names the path and purpose of a file it cannot read', async () => {
    const missing = join(dir, 'missing.safetensors');
    const e = (await readFileChecked(missing, 'checkpoint').catch((err: unknown) => err)) as FileReadError;
    expect(e).toBeInstanceOf(FileReadError);
    expect(e.message).toBe(`cannot read checkpoint ${missing}: no such file`);
    const isDir = (await readFileChecked(dir, 'checkpoint').catch((err: unknown) => err)) as FileReadError;
    expect(isDir).toBeInstanceOf(FileReadError);
    expect(isDir.code).toBe('EISDIR');
    expect(isDir.message).toContain(dir);
  });

  it('stops reading a file larger than its purpose allows: a model spec of over 1 MiB, or /dev/zero', async () => {
    const big = join(dir, 'big-spec.json');
    await writeFile(big, ' '.repeat(2 ** 20 + 1));
    for (const path of [big, '/dev/zero']) {
      const e = (await readModelSpec(path).catch((err: unknown) => err)) as FileReadError;
      expect(e).toBeInstanceOf(FileReadError);
      expect(e.message).toBe(`cannot read model spec ${path}: more than the 1048576 bytes a model spec may hold`);
    }
    await writeFile(big, JSON.stringify({ input: [4], layers: [{ type: 'relu' }] }));
    expect((await readModelSpec(big)).layers).toEqual([{ type: 'relu' }]);
  });
});
