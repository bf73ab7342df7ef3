// Mutation generators for the seeded fuzz tests (test/fuzz-*.test.ts), for every format:
// byte-level ones (truncation at every length, a bit flip in every byte, random overwrites,
// inserts, deletes, duplicated ranges and sizing u32s) and edits of JSON values (model specs,
// optimizer hyperparameters). Each mutant says exactly what was done, so it can be redone by hand.
// The format-aware edits are in safetensors-edits.ts and png-edits.ts.
import { Rng } from '../helpers.js';
import { hex, hexes, seedOf, show, type Mutant } from './property.js';

/** A copy as a plain Uint8Array: a Buffer's slice() is a view, so mutating one would edit the base file. */
export const own = (b: Uint8Array) => new Uint8Array(b);

// ---------------------------------------------------------------------------------------------
// Byte-level mutations.

/** The parts, one after another, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every proper prefix of `bytes` (the empty one too). */
export function* truncations(bytes: Uint8Array, seed: number, label: string): Generator<Mutant> {
  for (let n = 0; n < bytes.length; n++) yield { seed, what: `${label}: truncated to ${n} of ${bytes.length} bytes`, bytes: own(bytes.subarray(0, n)) };
}

/** One bit flipped in every byte of `bytes` (which bit: from the seed). */
export function* bitFlips(bytes: Uint8Array, seed: number, label: string): Generator<Mutant> {
  const rng = new Rng(seed);
  for (let i = 0; i < bytes.length; i++) {
    const bit = rng.int(0, 7);
    const out = own(bytes);
    out[i]! ^= 1 << bit;
    yield { seed, what: `${label}: bit ${bit} of byte ${i} flipped (${hex(bytes[i]!)} → ${hex(out[i]!)})`, bytes: out };
  }
}

/** 32-bit values that break sizes: 0, small, byte and word limits, the sign bit, all ones. */
export const U32_VALUES = [0, 1, 2, 3, 4, 7, 8, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One random edit of `bytes`, described exactly. */
export function randomEdit(bytes: Uint8Array, rng: Rng): { what: string; bytes: Uint8Array } {
  const n = bytes.length;
  const at = rng.int(0, n);
  switch (rng.int(0, 6)) {
    case 0: {
      // Overwrite 1–8 random bytes.
      const out = own(bytes);
      const edits: string[] = [];
      if (n === 0) return { what: 'nothing to overwrite', bytes: out };
      for (let k = rng.int(1, 8); k > 0; k--) {
        const i = rng.int(0, n - 1);
        out[i] = rng.int(0, 255);
        edits.push(`[${i}]=${hex(out[i]!)}`);
      }
      return { what: `overwrite ${edits.join(' ')}`, bytes: out };
    }
    case 1: {
      const ins = Uint8Array.from({ length: rng.int(1, 16) }, () => rng.int(0, 255));
      return { what: `insert ${hexes(ins)} at ${at}`, bytes: concat(bytes.subarray(0, at), ins, bytes.subarray(at)) };
    }
    case 2: {
      const len = rng.int(1, Math.max(1, Math.min(64, n - at)));
      return { what: `delete ${len} bytes at ${at}`, bytes: concat(bytes.subarray(0, at), bytes.subarray(at + len)) };
    }
    case 3: {
      const len = rng.int(1, Math.max(1, Math.min(64, n - at)));
      const to = rng.int(0, n);
      return { what: `copy of bytes ${at}..${at + len} inserted at ${to}`, bytes: concat(bytes.subarray(0, to), bytes.subarray(at, at + len), bytes.subarray(to)) };
    }
    case 4: {
      // A 32-bit value that sizes something (a length, a dimension), either byte order.
      if (n < 4) return { what: 'too short for a u32', bytes: own(bytes) };
      const i = rng.int(0, n - 4);
      const v = rng.next() < 0.5 ? rng.pick(U32_VALUES) : rng.pick([n, n - i, n + 1, n - 1]) >>> 0;
      const le = rng.next() < 0.5;
      const out = own(bytes);
      new DataView(out.buffer).setUint32(i, v, le);
      return { what: `u32 ${v} (${le ? 'LE' : 'BE'}) written at ${i}`, bytes: out };
    }
    case 5:
      return { what: `${n - at} bytes cut from the end`, bytes: own(bytes.subarray(0, at)) };
    default: {
      const tail = Uint8Array.from({ length: rng.int(1, 32) }, () => rng.int(0, 255));
      return { what: `appended ${hexes(tail)}`, bytes: concat(bytes, tail) };
    }
  }
}

/** `count` mutants of 1–3 random edits each, seeds `seedOf(group, first + i)`. */
export function* randomEdits(bytes: Uint8Array, group: number, first: number, count: number, label: string): Generator<Mutant> {
  for (let i = 0; i < count; i++) {
    const seed = seedOf(group, first + i);
    const rng = new Rng(seed);
    let b = bytes;
    const whats: string[] = [];
    for (let k = rng.int(1, 3); k > 0; k--) {
      const e = randomEdit(b, rng);
      b = e.bytes;
      whats.push(e.what);
    }
    yield { seed, what: `${label}: ${whats.join('; ')}`, bytes: b };
  }
}

/** Truncations, bit flips and `random` random edits of `bytes`. */
export function* byteMutants(bytes: Uint8Array, group: number, random: number, label: string): Generator<Mutant> {
  yield* truncations(bytes, seedOf(group, 0), label);
  yield* bitFlips(bytes, seedOf(group, 1), label);
  yield* randomEdits(bytes, group, 2, random, label);
}

// ---------------------------------------------------------------------------------------------
// JSON value mutations (model specs, optimizer hyperparameters, safetensors header fields).

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const fmtPath = (p: Path) => (p.length ? p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('') : '(root)');

function nodesOf(v: Json, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => nodesOf(x, [...path, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodesOf(x, [...path, k], out);
  return out;
}

function getAt(v: Json, p: Path): Json {
  let x: Json = v;
  for (const k of p) x = (x as Record<string | number, Json>)[k]!;
  return x;
}

/** Sets an own property, as JSON.parse does (a key "__proto__" included). */
function setOwn(o: object, k: string | number, x: unknown): void {
  Object.defineProperty(o, k, { value: x, writable: true, enumerable: true, configurable: true });
}

/** `root` with the node at `p` replaced by `x` (root mutated in place; returns the new root). */
function setAt(root: Json, p: Path, x: Json): Json {
  if (p.length === 0) return x;
  setOwn(getAt(root, p.slice(0, -1)) as object, p[p.length - 1]!, x);
  return root;
}

const INTERESTING: Json[] = [
  -1, 0, 1, 2, 3, 0.5, 1.5, -0, 2 ** 24, 2 ** 24 + 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, Infinity, -Infinity, NaN,
  '', '3', 'relu', 'conv2d', 'sequential', 'linear', 'flatten', 'maxpool2d', 'avgpool2d', 'x\u001b[2K\r', '\u202e', '__proto__', 'a'.repeat(300),
  null, true, false, [], {}, [1], [1, 2], [1, 2, 3], [0, 0], [-1, 2], [2 ** 31, 2 ** 31], { type: 'relu' }, { type: 'sequential', layers: [] },
];
const KEYS = ['x', 'name', 'bias', 'type', 'layers', 'inplace', '__proto__', 'constructor', 'input', 'x\u001b[31m\r', '\u2028'];
const DEPTHS = [30, 31, 32, 62, 63, 64, 65, 100, 1000];

/** Nested sequentials around a relu, `depth` of them (2 JSON levels each). */
function deepSequential(depth: number): Json {
  let layers: Json[] = [{ type: 'relu' }];
  for (let i = 0; i < depth; i++) layers = [{ type: 'sequential', layers }];
  return layers[0]!;
}

/**
 * One random edit of a JSON value (mutated in place where it can be; use the returned root).
 * `last` after nesting a value deep: further edits would walk thousands of levels.
 */
export function mutateJson(root: Json, rng: Rng): { what: string; value: Json; last?: boolean } {
  const nodes = nodesOf(root);
  const p = rng.pick(nodes);
  const node = getAt(root, p);
  const where = fmtPath(p);
  const op = rng.int(0, 11);
  if (op <= 2) {
    const x = structuredClone(rng.pick(INTERESTING));
    return { what: `${where} := ${show(x)}`, value: setAt(root, p, x) };
  }
  if (op === 3 && typeof node === 'number') {
    const x = rng.pick([node + 1, node - 1, -node, node + 0.5, node * 2 ** 31, 0, node * 1e300]);
    return { what: `${where} := ${show(x)} (was ${show(node)})`, value: setAt(root, p, x) };
  }
  if (op === 4 && p.length > 0) {
    const parent = getAt(root, p.slice(0, -1));
    const k = p[p.length - 1]!;
    if (Array.isArray(parent)) parent.splice(k as number, 1);
    else delete (parent as Record<string, Json>)[k];
    return { what: `${where} deleted`, value: root };
  }
  if (op === 5 && node !== null && typeof node === 'object' && !Array.isArray(node)) {
    const k = rng.pick(KEYS);
    const x = structuredClone(rng.pick(INTERESTING));
    setOwn(node, k, x);
    return { what: `${where}[${JSON.stringify(k)}] := ${show(x)}`, value: root };
  }
  if (op === 6 && Array.isArray(node) && node.length > 0) {
    const i = rng.int(0, node.length - 1);
    const to = rng.int(0, node.length);
    node.splice(to, 0, structuredClone(node[i]!));
    return { what: `${where}[${i}] duplicated at [${to}]`, value: root };
  }
  if (op === 7 && Array.isArray(node) && node.length > 1) {
    const i = rng.int(0, node.length - 1);
    const j = rng.int(0, node.length - 1);
    [node[i], node[j]] = [node[j]!, node[i]!];
    return { what: `${where}[${i}] and [${j}] swapped`, value: root };
  }
  if (op === 8) return { what: `${where} wrapped in an array`, value: setAt(root, p, [node]) };
  if (op === 9) {
    const depth = rng.pick(DEPTHS);
    const x = rng.next() < 0.5 ? deepSequential(depth) : JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as Json;
    return { what: `${where} := ${show(x).slice(0, 40)}… nested ${depth} deep`, value: setAt(root, p, x), last: true };
  }
  if (op === 10) {
    const n = rng.pick([3, 4, 5, 100, 2000]);
    const item = structuredClone(rng.pick(INTERESTING));
    return { what: `${where} := ${n} × ${show(item)}`, value: setAt(root, p, Array.from({ length: n }, () => structuredClone(item))) };
  }
  if (node !== null && typeof node === 'object' && !Array.isArray(node) && 'type' in node) {
    const t = rng.pick(['relu', 'sigmoid', 'tanh', 'conv2d', 'linear', 'maxpool2d', 'avgpool2d', 'flatten', 'sequential', 'dropout', 'Relu']);
    node.type = t;
    return { what: `${where}.type := ${JSON.stringify(t)}`, value: root };
  }
  const x = structuredClone(rng.pick(INTERESTING));
  return { what: `${where} := ${show(x)}`, value: setAt(root, p, x) };
}

/** `count` values each `base` with 1–3 random JSON edits. */
export function* jsonMutants(base: Json, group: number, count: number, label: string): Generator<{ seed: number; what: string; value: Json }> {
  for (let i = 0; i < count; i++) {
    const seed = seedOf(group, i);
    const rng = new Rng(seed);
    let v = structuredClone(base);
    const whats: string[] = [];
    for (let k = rng.int(1, 3); k > 0; k--) {
      const e = mutateJson(v, rng);
      v = e.value;
      whats.push(e.what);
      if (e.last) break;
    }
    yield { seed, what: `${label}: ${whats.join('; ')}`, value: v };
  }
}
