// Reader and writer for Hugging Face's safetensors format. The writer writes F32; the reader
// reads F32 bit for bit and F16, BF16, F64 and I64 (a batch norm's num_batches_tracked, as
// PyTorch saves it) as f32 (as load_state_dict casts to the model's dtype), and refuses the rest
// by name. The reader takes untrusted bytes and checks every field; each failure is a FileFormatError naming the file,
// the tensor where there is one, and a byte offset. Browser-safe: no Node imports.
//
// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian u64 N; N bytes
// of UTF-8 JSON mapping each tensor name to { dtype, shape, data_offsets: [begin, end] } plus
// an optional "__metadata__" string→string map; then the data buffer. Offsets are relative to
// the start of the data buffer; data is little-endian and row-major.
import { z } from 'zod';
import { FileFormatError, ShapeError } from '../runtime/errors.js';
import { clean, fileKind, formatPath, once, quote } from './untrusted.js';

/** A tensor read from a safetensors file. */
export interface SafetensorsTensor {
  /** The file's dtype: F32, F16, BF16, F64 or I64. */
  dtype: string;
  shape: number[];
  /** The values as f32: F32 bit for bit, F16 and BF16 exactly, F64 and I64 rounded to nearest. */
  data: Float32Array;
}

/** A parsed safetensors file. */
export interface Safetensors {
  /** Tensors in the order of their data (the order serializeSafetensors was given them). */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

// NOTE: the same bound as the reference implementation (MAX_HEADER_SIZE); it stops a corrupt
// length field from making us decode hundreds of megabytes as JSON.
const MAX_HEADER_BYTES = 100_000_000;
// NOTE: keys of the header's objects at any depth (each tensor has four: its name, dtype, shape
// and data_offsets), so 125,000 tensors. The reference implementation has no such limit; no
// checkpoint comes near it, and a 100 MB header of 1.8 million empty tensors took 27 s and 2.3 GB
// to read (9 million metadata entries, minutes).
const MAX_HEADER_KEYS = 500_000;
// serde_json's recursion limit, which the reference implementation reads with: deeper arrays or
// objects are no checkpoint's, and JSON.parse of 10 million nested brackets takes half a minute.
const MAX_HEADER_DEPTH = 128;
const METADATA_KEY = '__metadata__';
/** Bytes per element of the dtypes read, all as f32. */
const READ_DTYPES = new Map([['F32', 4], ['F16', 2], ['BF16', 2], ['F64', 8], ['I64', 8]]);
const READ_NAMES = 'F32, F16, BF16, F64 and I64';
/** dtype names the format defines; those not read are recognised only to be rejected clearly. */
const KNOWN_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2',
  'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64', 'C64',
]);

const tensorEntry = /* @__PURE__ */ once(() =>
  z.object({
    dtype: z.string(),
    // NOTE: sizes are checked by badSize, which stops at the first bad one; zod would build an
    // issue for every one, and a header of millions of bad sizes would exhaust memory.
    shape: z.array(z.unknown()),
    data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  }),
);

/** Zod's issues, the first three in full. */
function describeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => `${i.path.length > 0 ? formatPath(i.path) : '(entry)'}: ${clean(i.message)}`);
  return shown.join('; ') + (error.issues.length > 3 ? `; and ${error.issues.length - 3} more` : '');
}

/** What a JSON value is, for a message: "an array", "null", "number", ... */
const kindOf = (v: unknown) => (Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v);

/** The first size in `shape` that is not a safe non-negative integer, described; else undefined. */
function badSize(shape: readonly unknown[]): string | undefined {
  const i = shape.findIndex((d) => !(Number.isSafeInteger(d) && (d as number) >= 0));
  if (i < 0) return undefined;
  const d = shape[i];
  const rest = shape.length - i - 1;
  return `shape[${i}]: expected an integer from 0 to 2^53 - 1, found ${typeof d === 'number' ? d : kindOf(d)}` +
    (rest > 0 ? `; ${rest} later size${rest === 1 ? ' is' : 's are'} not checked` : '');
}

/** A shape for a message: at most 8 sizes shown. */
const formatShape = (shape: readonly number[]) =>
  `[${shape.slice(0, 8).join(', ')}${shape.length > 8 ? `, … (${shape.length} dimensions)` : ''}]`;

/** True on little-endian hosts, where Float32Array bytes are already in file order. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each 4-byte group in place: little-endian ⇄ host order on big-endian hosts. */
function swap32(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const b0 = b[i]!;
    const b1 = b[i + 1]!;
    b[i] = b[i + 3]!;
    b[i + 1] = b[i + 2]!;
    b[i + 2] = b1;
    b[i + 3] = b0;
  }
}

/** An IEEE half-precision value from its bits. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * The int64 `v` as a number that rounds to the f32 nearest `v` (ties to even), as PyTorch's .float()
 * rounds: Number(v) alone rounds to f64 first, and an f32 of that can round the wrong way
 * (2^60 + 2^36 + 1 to 2^60 + 2^36, then to even 2^60, where the nearest is 2^60 + 2^37).
 */
function int64Value(v: bigint): number {
  const magnitude = v < 0n ? -v : v;
  if (magnitude < 2n ** 53n) return Number(v); // exact
  // 54 to 64 bits, of which an f32 keeps 24 and a round bit: below the 30th from the top the bits
  // count only as whether any is set (the sticky bit), so the low 11 fold into one, leaving at
  // most 53, which Number() keeps exactly.
  const kept = Number((magnitude >> 11n) | (magnitude & 0x7ffn ? 1n : 0n)) * 2048;
  return v < 0n ? -kept : kept;
}

/** @internal Little-endian `bytes` of `dtype` (F32, F16, BF16, F64 or I64) as f32 values, in a new (aligned) array. */
export function readAsF32(dtype: string, bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / READ_DTYPES.get(dtype)!);
  if (dtype === 'F32') {
    // NOTE: copy bytes, never go through float values: that keeps NaN payloads bit-exact.
    const raw = new Uint8Array(out.buffer);
    raw.set(bytes);
    if (!HOST_LITTLE_ENDIAN) swap32(raw);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of an f32's bits.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  } else if (dtype === 'F16') {
    // A NaN's sign and payload kept as PyTorch's .float() keeps them (quieted, the payload shifted up).
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) {
      const h = view.getUint16(2 * i, true);
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) bits[i] = ((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13);
      else out[i] = halfValue(h);
    }
  } else if (dtype === 'I64') {
    for (let i = 0; i < out.length; i++) out[i] = int64Value(view.getBigInt64(8 * i, true)); // rounded to nearest
  } else {
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true); // rounded to nearest
  }
  return out;
}

/**
 * Parses a safetensors file of F32 tensors (F16, BF16, F64 and I64 too, read as f32). `file` names the file in errors. Errors about one
 * header entry (dtype, shape, data_offsets) report the byte offset of the entry's name in the
 * header; errors about the data layout (overlaps, gaps) report the file offset in the data.
 * Like the reference implementation, tensors must tile the data buffer exactly: no overlaps,
 * no gaps, no unused bytes at the end. Tensors come in the order of their data (the order
 * serializeSafetensors was given them).
 */
export function parseSafetensors(bytes: Uint8Array, file: string): Safetensors {
  // A file of another kind (a PNG, a model spec) is named as such, rather than by the absurd
  // header length its first bytes make.
  const kind = fileKind(bytes);
  const other = kind ? `; it looks like ${kind}` : '';
  if (bytes.length < 8) {
    throw new FileFormatError(file, bytes.length, `file is ${bytes.length} bytes, too short for the 8-byte header length${other}`);
  }
  if (bytes.length > 8 && bytes[8] !== 0x7b) {
    throw new FileFormatError(file, 8, `not a safetensors file: its header must begin with "{" (0x7B), found 0x${bytes[8]!.toString(16).toUpperCase().padStart(2, '0')}${other}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new FileFormatError(file, 0, `header length ${n64} is over the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(n64);
  if (8 + n > bytes.length) {
    throw new FileFormatError(file, 0, `header length ${n} runs past the end of the file (${bytes.length} bytes, so at most ${bytes.length - 8})`);
  }
  const headerBytes = bytes.subarray(8, 8 + n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new FileFormatError(file, 8 + firstInvalidUtf8(headerBytes), 'header is not valid UTF-8');
  }
  // Byte offset in the file of a character index in the header text.
  const at = (charIndex: number) => 8 + new TextEncoder().encode(text.slice(0, charIndex)).length;
  // Counted before JSON.parse, which takes seconds and gigabytes for a million keys.
  const { repeated, overLimit, tooDeep } = scanHeader(text);
  if (overLimit !== undefined) throw new FileFormatError(file, at(overLimit), `header has over the ${MAX_HEADER_KEYS}-key limit (a tensor's entry has 4 keys): key ${MAX_HEADER_KEYS + 1} is here`);
  if (tooDeep !== undefined) throw new FileFormatError(file, at(tooDeep), `header nests objects and arrays over ${MAX_HEADER_DEPTH} deep (as the reference's JSON reader refuses them); level ${MAX_HEADER_DEPTH + 1} opens here`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // NOTE: V8 names a position for most syntax errors; this is best effort, for messages only.
    const pos = /position (\d+)/.exec(message)?.[1];
    const offset = pos !== undefined ? at(Number(pos)) : /end of JSON/.test(message) ? 8 + n : 8;
    throw new FileFormatError(file, offset, `header is not valid JSON (${clean(message)})`);
  }
  // JSON.parse keeps the last of two equal keys; the reference implementation refuses them (in a
  // tensor's entry, serde's duplicate field).
  if (repeated) {
    const { name, within } = repeated;
    const what = within !== undefined ? `tensor ${quote(within)}: key ${quote(name)}` : name === METADATA_KEY ? `"${METADATA_KEY}"` : `tensor ${quote(name)}`;
    throw new FileFormatError(file, at(repeated.index), `${what} appears twice in ${within !== undefined ? 'its entry' : 'the header'}`);
  }
  // NOTE: best effort, for messages only: the first `"name":` in the header text (a plain
  // string search: a RegExp built from a 32 KB name is too large to compile). A name that also
  // appears as a metadata key may point there instead; one written with escapes is not found.
  const keyOffset = (name: string) => {
    const key = JSON.stringify(name);
    for (let i = text.indexOf(key); i >= 0; i = text.indexOf(key, i + 1)) {
      let j = i + key.length;
      while (' \t\n\r'.includes(text[j] ?? '.')) j++;
      if (text[j] === ':') return at(i);
    }
    return 8;
  };

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  // NOTE: no prototype, so a key "__proto__" is kept as any other key.
  const metadata = Object.create(null) as Record<string, string>;
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  // NOTE: JS objects list integer-like keys ("0", "1") first, hence data order below.
  // JSON that begins with "{" (checked above) is an object.
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      const bad = (detail: string) => new FileFormatError(file, keyOffset(name), `"${METADATA_KEY}" must map strings to strings: ${detail}`);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`found ${kindOf(value)}`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw bad(`${formatPath([k])}: expected a string, found ${kindOf(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const bad = (detail: string) => new FileFormatError(file, keyOffset(name), `tensor ${quote(name)}: ${detail}`);
    const parsed = tensorEntry().safeParse(value);
    if (!parsed.success) throw bad(`malformed header entry: ${describeIssues(parsed.error)}`);
    const sizeError = badSize(parsed.data.shape);
    if (sizeError !== undefined) throw bad(`malformed header entry: ${sizeError}`);
    const { dtype, data_offsets: [begin, end] } = parsed.data;
    const shape = parsed.data.shape as number[];
    const size = READ_DTYPES.get(dtype);
    if (size === undefined) {
      throw bad(KNOWN_DTYPES.has(dtype) ? `dtype ${dtype} is not supported; ${READ_NAMES} are` : `unknown dtype ${quote(dtype)}; ${READ_NAMES} are supported`);
    }
    if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    // NOTE: a product past 2^53 is inexact but stays past 2^53, so it still fails the check;
    // one that passes 2^53 on the way and ends at 0 (a zero dimension) is refused here.
    if (shape.reduce((a, d) => (a > Number.MAX_SAFE_INTEGER ? a : a * Math.max(d, 1)), 1) > Number.MAX_SAFE_INTEGER) {
      throw bad(`shape ${formatShape(shape)} has more elements than can be counted`);
    }
    const bytesNeeded = shape.reduce((a, d) => a * d, 1) * size;
    if (end - begin !== bytesNeeded) {
      throw bad(`shape ${formatShape(shape)} needs ${bytesNeeded} bytes of ${dtype} but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    if (end > dataLength) {
      throw bad(`data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data buffer (file bytes ${dataStart}..${bytes.length})`);
    }
    entries.push({ name, dtype, shape, begin, end });
  }

  // Tensors sorted by position must follow one another exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const t of sorted) {
    if (t.begin < cursor) {
      throw new FileFormatError(file, dataStart + t.begin, `tensor ${quote(t.name)} (data_offsets [${t.begin}, ${t.end}]) overlaps tensor ${quote(previous!)}, which ends at ${cursor}`);
    }
    if (t.begin > cursor) {
      throw new FileFormatError(file, dataStart + cursor, `${t.begin - cursor} unused bytes in the data buffer before tensor ${quote(t.name)} (data_offsets [${t.begin}, ${t.end}])`);
    }
    cursor = t.end;
    previous = t.name;
  }
  if (cursor !== dataLength) {
    throw new FileFormatError(file, dataStart + cursor, `${dataLength - cursor} bytes after the last tensor's data are not part of any tensor`);
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, dtype, shape, begin, end } of sorted) {
    tensors.set(name, { dtype, shape, data: readAsF32(dtype, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  return { tensors, metadata };
}

/**
 * One pass over the header text (that begins with "{"), not parsing it: the first key that
 * repeats an earlier one of its object (as JSON.parse reads it, escapes and all), at the top
 * level or in a tensor's entry (`within` names that tensor), with its character index; and the
 * index of the key over MAX_HEADER_KEYS (where the pass stops; a key is a string followed by a
 * colon, at any depth). Strings are skipped whole. Text that is no JSON gives keys of no
 * meaning, but JSON.parse refuses it then.
 */
function scanHeader(text: string): { repeated?: { name: string; index: number; within?: string }; overLimit?: number; tooDeep?: number } {
  // The open containers of the top two levels (the header, a tensor's entry): whether an object,
  // whether a key is due, its last key, and the keys so far where repeats are refused. Deeper
  // ones are only counted.
  type Frame = { object: boolean; keyDue: boolean; key?: string; keys?: Set<string> };
  const stack: Frame[] = [];
  let deeper = 0;
  let repeated: { name: string; index: number; within?: string } | undefined;
  let [keys, lastString] = [0, 0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = deeper ? undefined : stack[stack.length - 1];
    if (c === 0x22) {
      let j = i + 1;
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (top?.object && top.keyDue) {
        top.keyDue = false;
        const quoted = text.slice(i, j + 1);
        let name = quoted.slice(1, -1);
        if (quoted.includes('\\')) {
          try {
            name = JSON.parse(quoted) as string;
          } catch {
            // No JSON string: JSON.parse refuses the header.
          }
        }
        top.key = name;
        // In an entry, its fields only: the reference ignores other keys, repeated or not.
        const checked = stack.length === 1 || ENTRY_FIELDS.includes(name);
        if (checked && !repeated && top.keys?.has(name)) repeated = { name, index: i, ...(stack.length === 2 ? { within: stack[0]!.key! } : {}) };
        if (checked) top.keys?.add(name);
      }
      lastString = i;
      i = j;
    } else if (c === 0x3a) {
      if (++keys > MAX_HEADER_KEYS) return { repeated, overLimit: lastString };
    } else if (c === 0x7b || c === 0x5b) {
      if (stack.length + deeper >= MAX_HEADER_DEPTH) return { repeated, tooDeep: i };
      if (deeper || stack.length === 2) {
        deeper++;
        continue;
      }
      // Repeats are refused at the top level and in a tensor's entry, not in the metadata,
      // whose repeated keys the reference's map keeps the last of, as JSON.parse does.
      const checked = stack.length === 0 || stack[0]!.key !== METADATA_KEY;
      stack.push({ object: c === 0x7b, keyDue: c === 0x7b, ...(c === 0x7b && checked ? { keys: new Set<string>() } : {}) });
    } else if (c === 0x7d || c === 0x5d) {
      if (deeper) deeper--;
      else stack.pop();
    } else if (c === 0x2c && top?.object) {
      top.keyDue = true;
    }
  }
  return { repeated };
}

// A tensor entry's fields (the reference's TensorInfo), whose repeats it refuses.
const ENTRY_FIELDS = ['dtype', 'shape', 'data_offsets'];

/**
 * Index of the byte where a UTF-8 decoder (TextDecoder's, fatal) first fails on `bytes`, in one
 * pass: a byte no character starts with, or one that does not continue the character begun
 * (ranges as the WHATWG decoder checks them: no overlong forms, surrogates or code points past
 * U+10FFFF). A character cut off at the very end points at the last byte.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let needed = 0; // continuation bytes still due
  let [lower, upper] = [0x80, 0xbf]; // the range of the next one
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (needed > 0) {
      if (b < lower || b > upper) return i;
      [lower, upper] = [0x80, 0xbf];
      needed--;
    } else if (b >= 0xc2 && b <= 0xdf) {
      needed = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      needed = 2;
      if (b === 0xe0) lower = 0xa0;
      if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      needed = 3;
      if (b === 0xf0) lower = 0x90;
      if (b === 0xf4) upper = 0x8f;
    } else if (b > 0x7f) {
      return i;
    }
  }
  return bytes.length - 1;
}

/**
 * `data` as little-endian int64s, each truncated toward zero as PyTorch's cast to int64 (a count
 * loaded from a file as 2.5 is saved as 2), beyond int64's range the nearest end of it, NaN 0: a
 * save at the end of a run is not the place to refuse what loading took.
 */
export function int64Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(8 * data.length);
  const view = new DataView(out.buffer);
  const [min, max] = [-(2n ** 63n), 2n ** 63n - 1n];
  data.forEach((v, i) => {
    const n = Number.isNaN(v) ? 0n : v >= 2 ** 63 ? max : v < -(2 ** 63) ? min : BigInt(Math.trunc(v));
    view.setBigInt64(8 * i, n, true);
  });
  return out;
}

/**
 * Serializes tensors to safetensors bytes, in the order given, with `metadata` (if any) as
 * "__metadata__": F32, or I64 for those of dtype 'I64' (a batch norm's num_batches_tracked, as
 * PyTorch's save_file writes it; see int64Bytes). The header JSON is padded with spaces to a
 * multiple of 8 bytes, as the reference implementation does. Throws ShapeError when a shape does
 * not match its data or a name is repeated or reserved.
 */
export function serializeSafetensors(
  tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array; dtype?: string }]>,
  metadata?: Record<string, string>,
): Uint8Array {
  // Header entries in the order given (a JS object would put integer-like names first).
  const header = new Map<string, unknown>();
  if (metadata !== undefined) header.set(METADATA_KEY, metadata);
  const datas: (Float32Array | Uint8Array)[] = [];
  let offset = 0;
  for (const [name, { shape, data: values, dtype }] of tensors) {
    if (name === METADATA_KEY) throw new ShapeError('serializeSafetensors', `"${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (header.has(name)) throw new ShapeError('serializeSafetensors', `tensor name "${name}" is used twice`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ShapeError('serializeSafetensors', `tensor "${name}": shape [${shape.join(', ')}] must be non-negative integers`, [shape]);
    }
    const numel = shape.reduce((a, d) => a * d, 1);
    if (numel !== values.length) {
      throw new ShapeError('serializeSafetensors', `tensor "${name}": shape [${shape.join(', ')}] has ${numel} elements but data has ${values.length}`, [shape]);
    }
    const data = dtype === 'I64' ? int64Bytes(values) : values;
    header.set(name, { dtype: dtype === 'I64' ? 'I64' : 'F32', shape: [...shape], data_offsets: [offset, offset + data.byteLength] });
    offset += data.byteLength;
    datas.push(data);
  }
  const text = `{${[...header].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
  const json = new TextEncoder().encode(text);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  for (const data of datas) {
    const dst = out.subarray(at, at + data.byteLength);
    dst.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    if (!HOST_LITTLE_ENDIAN && data instanceof Float32Array) swap32(dst); // int64Bytes' are little-endian already
    at += data.byteLength;
  }
  return out;
}
