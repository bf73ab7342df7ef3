// Format-aware edits of safetensors files for the seeded fuzz tests (test/fuzz-safetensors.test.ts):
// the header as [key, raw JSON text] entries, edited as text so that duplicate keys, 1e400 and
// the like can be written; offsets, shapes, dtypes, names, duplicated and missing entries,
// metadata, the data length, and how the header text is laid out.
import type { Rng } from '../helpers.js';
import type { StBase } from './bases.js';
import { concat } from './mutations.js';
import { show } from './property.js';

/** A JSON value written as this text: numbers JSON.stringify would not write (9007199254740993, 4.0, -0). */
class Raw {
  constructor(readonly text: string) {}
}
/** JSON text of `v`, with Raw values written as they are and non-finite numbers as 1e400. */
function enc(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(enc).join(',')}]`;
  if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? '-0' : String(v)) : Number.isNaN(v) ? 'null' : v > 0 ? '1e400' : '-1e400';
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${enc(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

const OFFSET_VALUES: unknown[] = [
  -1, -4, -0, 0.5, 4.5, 1e-7, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, Infinity,
  new Raw('9007199254740993'), new Raw('18446744073709551615'), new Raw('4.0'), new Raw('4e0'), new Raw('1E2'), '4', null, true, [], {}, [4],
];
const DIM_VALUES: unknown[] = [-1, 0, 1, 2, 3, 0.5, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e308, Infinity, new Raw('-0'), new Raw('3.0'), '2', null, true, [], [2]];
const DTYPES: unknown[] = ['F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'f32', 'F32 ', '', 'F8_E4M3', 'x\u001b[2K\r\u009b', '\u2028', 'F'.repeat(300), 32, null, ['F32'], {}];
const NAMES = ['__metadata__', '__proto__', 'constructor', '', '0', '1', 'x\r\u001b[2K\u001b[32mok\u001b[0m', 'a\u202eb', 'n'.repeat(300), '\ud83d\ude00', '\ud800'];

/** A header entry: a key (repeatable) and its value. */
export interface StEntry { key: string; value: unknown }

/** The header entries of a base file, as serializeSafetensors wrote them. */
export function headerEntries(base: StBase): StEntry[] {
  const out: StEntry[] = [];
  if (base.metadata) out.push({ key: '__metadata__', value: { ...base.metadata } });
  let offset = 0;
  for (const [name, { shape, data }] of base.tensors) {
    out.push({ key: name, value: { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + 4 * data.length] } });
    offset += 4 * data.length;
  }
  return out;
}

/** One edit of safetensors header entries (and maybe of the data length); describes it. */
export function editHeader(entries: StEntry[], data: { bytes: Uint8Array }, rng: Rng): string {
  const tensors = entries.filter((e) => e.key !== '__metadata__' && e.value !== null && typeof e.value === 'object' && !Array.isArray(e.value) && !(e.value instanceof Raw));
  const meta = entries.find((e) => e.key === '__metadata__');
  const t = tensors.length ? rng.pick(tensors) : undefined;
  const tv = t?.value as Record<string, unknown> | undefined;
  const op = rng.int(0, 17);
  const name = (e: StEntry) => JSON.stringify(e.key).slice(0, 40);
  if (t && tv && op <= 2 && Array.isArray(tv.data_offsets)) {
    const which = rng.int(0, 1);
    const offsets = [...(tv.data_offsets as unknown[])];
    const len = data.bytes.length;
    const v = rng.next() < 0.6 ? rng.pick(OFFSET_VALUES) : rng.pick([len, len + 4, len - 4, (offsets[which] as number) + 4, (offsets[which] as number) - 4, (offsets[1 - which] as number)]);
    offsets[which] = v;
    tv.data_offsets = offsets;
    return `${name(t)}.data_offsets[${which}] := ${v instanceof Raw ? v.text : show(v)}`;
  }
  if (t && tv && op === 3 && Array.isArray(tv.data_offsets)) {
    tv.data_offsets = [...(tv.data_offsets as unknown[])].reverse();
    return `${name(t)}.data_offsets reversed`;
  }
  if (t && tv && op === 4 && Array.isArray(tv.data_offsets)) {
    const d = rng.pick([4, -4, 8, 1]);
    tv.data_offsets = (tv.data_offsets as number[]).map((x) => (typeof x === 'number' ? x + d : x));
    return `${name(t)}.data_offsets shifted by ${d}`;
  }
  if (t && tv && op <= 7 && Array.isArray(tv.shape)) {
    const shape = [...(tv.shape as unknown[])];
    const kind = rng.int(0, 5);
    if (kind === 0 && shape.length) {
      const i = rng.int(0, shape.length - 1);
      shape[i] = rng.pick(DIM_VALUES);
      tv.shape = shape;
      return `${name(t)}.shape[${i}] := ${shape[i] instanceof Raw ? (shape[i] as Raw).text : show(shape[i])}`;
    }
    if (kind === 1) {
      shape.splice(rng.int(0, shape.length), 0, rng.pick([1, 1, 0, 2]));
      tv.shape = shape;
      return `${name(t)}.shape := ${show(shape)}`;
    }
    if (kind === 2 && shape.length) {
      shape.splice(rng.int(0, shape.length - 1), 1);
      tv.shape = shape;
      return `${name(t)}.shape := ${show(shape)}`;
    }
    if (kind === 3) {
      tv.shape = [...shape].reverse();
      return `${name(t)}.shape reversed`;
    }
    if (kind === 4) {
      const n = rng.pick([100, 5000]);
      const v = rng.pick([1, 2, -1, 0]);
      tv.shape = new Array<number>(n).fill(v);
      return `${name(t)}.shape := ${n} × ${v}`;
    }
    tv.shape = rng.pick([[], [2 ** 32, 2 ** 32, 0], [2 ** 26, 2 ** 26, 2 ** 26], [0, 2 ** 53], [2 ** 53 - 1, 1]]);
    return `${name(t)}.shape := ${show(tv.shape)}`;
  }
  if (t && tv && op === 8) {
    tv.dtype = rng.pick(DTYPES);
    return `${name(t)}.dtype := ${show(tv.dtype)}`;
  }
  if (t && tv && op === 9) {
    const field = rng.pick(['dtype', 'shape', 'data_offsets']);
    if (rng.next() < 0.5) {
      delete tv[field];
      return `${name(t)}.${field} deleted`;
    }
    t.value = new Raw(`${enc(tv).slice(0, -1)},${JSON.stringify(field)}:${enc(rng.pick([[1], [0, 4], 'F16', 7]))}}`);
    return `${name(t)}.${field} given twice: ${(t.value as Raw).text}`;
  }
  if (t && op === 10) {
    const i = entries.indexOf(t);
    const copy = { key: t.key, value: structuredClone(t.value) };
    entries.splice(rng.int(0, entries.length), 0, copy);
    return `entry ${name(t)} duplicated (position ${i})`;
  }
  if (t && op === 11) {
    entries.splice(entries.indexOf(t), 1);
    return `entry ${name(t)} deleted`;
  }
  if (t && op === 12) {
    const old = name(t);
    t.key = rng.next() < 0.3 && tensors.length > 1 ? rng.pick(tensors).key : rng.pick(NAMES);
    return `entry ${old} renamed ${name(t)}`;
  }
  if (t && op === 13) {
    t.value = rng.pick([3, null, [], 'x', {}, [0, 4], { dtype: 'F32' }]);
    return `entry ${name(t)} := ${show(t.value)}`;
  }
  if (op === 14) {
    if (meta && rng.next() < 0.6) {
      const v = rng.pick<unknown>([3, null, [], 'x', { a: 1 }, { a: null }, { a: ['b'] }, { '\u001b[2K': 'x' }, { __proto__x: 'y' }, { k: '\u2028' }]);
      meta.value = v;
      return `"__metadata__" := ${show(v)}`;
    }
    entries.unshift({ key: '__metadata__', value: rng.pick<unknown>([{ a: 'b' }, { a: 1 }, 'x']) });
    return `"__metadata__" := ${show(entries[0]!.value)} added`;
  }
  if (op === 15) {
    const k = rng.pick([4, 1, 3, 16]);
    if (rng.next() < 0.5) {
      data.bytes = concat(data.bytes, new Uint8Array(k).fill(0x41));
      return `${k} bytes appended to the data`;
    }
    data.bytes = data.bytes.slice(0, Math.max(0, data.bytes.length - k));
    return `${k} bytes cut from the data`;
  }
  if (op === 16) {
    const e: StEntry = { key: rng.pick(['new', 'w', 'e2', '__proto__']), value: { dtype: 'F32', shape: rng.pick([[0], [1], [2]]), data_offsets: rng.pick([[0, 0], [0, 4], [4, 8], [data.bytes.length, data.bytes.length], [data.bytes.length, data.bytes.length + 4]]) } };
    entries.splice(rng.int(0, entries.length), 0, e);
    return `entry ${name(e)} := ${show(e.value)} added`;
  }
  const v = rng.pick([3, 'x']);
  entries.push({ key: 'z', value: v });
  return `entry "z" := ${show(v)} added`;
}

/** Header text of `entries`, and how it is laid out (padding, BOM, whitespace). */
export function headerText(entries: StEntry[], rng: Rng): { text: string; what: string } {
  const body = entries.map((e) => `${JSON.stringify(e.key)}:${enc(e.value)}`).join(',');
  const layout = rng.int(0, 19);
  if (layout === 0) return { text: `{${body}}   `, what: 'padded with 3 spaces' };
  if (layout === 1) return { text: `{ ${body.replaceAll(',"', ', "')}\n}`, what: 'with spaces and a newline' };
  if (layout === 2) return { text: `{${body}}\u0000`, what: 'padded with a NUL' };
  if (layout === 3) return { text: `{${body}}\ufeff`, what: 'ending in a BOM' };
  return { text: `{${body}}`, what: 'compact' };
}
