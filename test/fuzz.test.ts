// Seeded fuzzing of the parsers of untrusted files: safetensors (and checkpoints and optimizer
// state on top of it), IDX (and .gz), PNG, and model specs. Each valid base file is mutated in
// many ways (truncation at every length, a bit flip in every byte, random overwrites, inserts,
// deletes and duplicated ranges, and format-aware edits of header fields, chunks, dims and JSON
// values), and every mutant must either parse to a result consistent with its bytes or throw a
// FoveaError whose message names the file, with no control characters and of bounded length;
// never a TypeError/RangeError/SyntaxError, never a slow parse, never an allocation sized by a
// claimed rather than an actual size. No GPU: none of these parsers needs a runtime.
//
// Every case has a seed; a failure lists the seed and the exact mutation (offsets, bytes,
// values), so it can be rebuilt by hand. FOVEA_FUZZ_SEED=n fuzzes from another base seed;
// FOVEA_FUZZ_STATS=1 lists how often each check threw, FOVEA_FUZZ_SHOW=regex the cases behind one.
//
// The file-reading entry points (readModelSpec, readOptimizerState, readIdxFile) read through
// readFileChecked, which is given in-memory files here: disk I/O would cost more than parsing.
import { isDeepStrictEqual } from 'node:util';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FileFormatError, FoveaError, SpecError } from '../src/runtime/errors.js';
import { parseSafetensors, serializeSafetensors, type Safetensors } from '../src/model/safetensors.js';
import { checkpointBytes, parseCheckpoint, SPEC_KEY, type ParsedCheckpoint } from '../src/model/checkpoint-format.js';
import { readModelSpec, readOptimizerState, type OptimizerCheckpoint } from '../src/model/checkpoint.js';
import { parseModelSpec, SEED_CNN, type ModelSpec } from '../src/model/spec.js';
import { parseIdx, parseMnistImages, parseMnistLabels, type IdxFile, type MnistImages } from '../src/mnist/idx.js';
import { readIdxFile } from '../src/mnist/files.js';
import { decodeGreyPng } from '../src/mnist/png.js';
import { Rng } from './helpers.js';
import { chunk, idx, ihdrChunk, pattern, scanlines, SIGNATURE, st, type PngHeaderFields } from './file-builders.js';

/** In-memory files by path, served by readFileChecked (files elsewhere are read from disk as usual). */
const memFiles = vi.hoisted(() => new Map<string, Uint8Array>());
vi.mock('../src/model/files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/model/files.js')>();
  return { ...real, readFileChecked: async (path: string, what: string) => memFiles.get(path) ?? real.readFileChecked(path, what) };
});

/** Runs `f` with `bytes` as the file at `path` (as a view at an odd offset, as embed gives). */
async function withFile<R>(path: string, bytes: Uint8Array, f: () => Promise<R>): Promise<R> {
  memFiles.set(path, embed(bytes));
  try {
    return await f();
  } finally {
    memFiles.delete(path);
  }
}

const BASE_SEED = Number(process.env.FOVEA_FUZZ_SEED ?? 0x5eed);
/** One parse may take this long (typical: well under 5 ms), so a hang or a quadratic loop shows. */
const MAX_MS = 1000;
/** What one parse may allocate in ArrayBuffers beyond this multiple of its input (a copy of the data is fine). */
const ALLOC_SLACK = 1 << 20;
const ALLOC_FACTOR = 8;
/** Longest error message accepted (quoted names are cut at 200 characters). */
const MAX_MESSAGE = 2000;
/** What quote() and clean() escape: C0/C1 controls, line separators, bidi embeddings and isolates. */
const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A case's seed: `group` and `i` mixed into the base seed, so cases can be rerun one by one. */
const seedOf = (group: number, i: number) => (Math.imul(BASE_SEED ^ (group * 0x9e3779b9), 0x85ebca6b) + i) >>> 0;

// ---------------------------------------------------------------------------------------------
// The property check.

/** A mutated input: what was done (exactly enough to redo it by hand) and the result. */
interface Mutant {
  seed: number;
  what: string;
  bytes: Uint8Array;
}

/** Per-case bounds other than the defaults. */
interface Limits {
  maxAlloc?: number;
  maxOffset?: number;
}

/** Collects property violations of one group of cases; `done` fails the test listing them. */
class Fuzz {
  readonly failures: string[] = [];
  cases = 0;
  /** Outcomes: 'parsed', or the error class and its message with names and numbers blanked (FOVEA_FUZZ_STATS=1 lists them). */
  readonly outcomes = new Map<string, number>();
  private readonly start = performance.now();
  constructor(
    readonly name: string,
    private readonly maxMs = MAX_MS,
  ) {}

  private record(m: { seed: number; what: string }, problem: string): void {
    this.failures.push(`seed ${m.seed}: ${m.what}\n    → ${problem}`);
  }

  /**
   * Runs `parse` on a mutant: it must return a value that `check` finds consistent, or throw a
   * FoveaError naming `file` (a FileFormatError's byte offset inside the input, or up to
   * `limits.maxOffset`); within MAX_MS, allocating ArrayBuffers of at most ALLOC_FACTOR times
   * the input size (or `limits.maxAlloc`).
   */
  run<R>(m: Mutant, file: string, parse: () => R, check: (r: R) => string | undefined, limits: Limits = {}): R | undefined {
    this.cases++;
    const a0 = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let result: R | undefined;
    let error: unknown;
    let threw = false;
    try {
      result = parse();
    } catch (e) {
      threw = true;
      error = e;
    }
    this.judge(m, file, performance.now() - t0, process.memoryUsage().arrayBuffers - a0, threw, error, result, check, limits);
    return threw ? undefined : result;
  }

  /** As run, for a parser that returns a promise (reads a file). */
  async runAsync<R>(m: Mutant, file: string, parse: () => Promise<R>, check: (r: R) => string | undefined, limits: Limits = {}): Promise<R | undefined> {
    this.cases++;
    const a0 = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    let result: R | undefined;
    let error: unknown;
    let threw = false;
    try {
      result = await parse();
    } catch (e) {
      threw = true;
      error = e;
    }
    this.judge(m, file, performance.now() - t0, process.memoryUsage().arrayBuffers - a0, threw, error, result, check, limits);
    return threw ? undefined : result;
  }

  private judge<R>(m: Mutant, file: string, ms: number, alloc: number, threw: boolean, error: unknown, result: R | undefined, check: (r: R) => string | undefined, limits: Limits): void {
    if (ms > this.maxMs) this.record(m, `took ${ms.toFixed(0)} ms (limit ${this.maxMs})`);
    const allowed = limits.maxAlloc ?? ALLOC_SLACK + ALLOC_FACTOR * m.bytes.length;
    if (alloc > allowed) this.record(m, `allocated ${alloc} bytes of ArrayBuffers for a ${m.bytes.length}-byte input (limit ${allowed})`);
    const outcome = !threw ? 'parsed' : error instanceof Error ? `${error.name}: ${template(error.message, file)}` : typeof error;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (SHOW?.test(outcome)) console.log(`seed ${m.seed}: ${m.what}\n    → ${threw ? String(error) : 'parsed'}`);
    if (threw) {
      const why = errorProblem(error, file, limits.maxOffset ?? m.bytes.length);
      if (why) this.record(m, why);
      return;
    }
    let why: string | undefined;
    try {
      why = check(result as R);
    } catch (e) {
      why = `consistency check threw ${String(e)}`;
    }
    if (why) this.record(m, `parsed, but inconsistently: ${why}`);
  }

  /**
   * Fails the test listing the first violations (with their seeds), else logs the count. Also
   * fails a group in which no mutant parsed, or a file was not found: its cases would pass
   * without reaching the checks past the first (as when every mutant edits a shared base).
   */
  done(parses = true): void {
    const ms = performance.now() - this.start;
    const parsed = this.outcomes.get('parsed') ?? 0;
    summary.push(`${this.name}: ${this.cases} mutations (${parsed} parsed, ${this.outcomes.size - (parsed ? 1 : 0)} kinds of error), ${ms.toFixed(0)} ms`);
    if (process.env.FOVEA_FUZZ_STATS) {
      const rows = [...this.outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${String(v).padStart(6)}  ${k}`);
      summary.push(...rows.map((r) => `  ${r}`));
    }
    const shown = this.failures.slice(0, 15).join('\n  ');
    const more = this.failures.length > 15 ? `\n  … and ${this.failures.length - 15} more` : '';
    expect(this.failures.length, `${this.name}: ${this.failures.length} of ${this.cases} mutations broke the property (base seed ${BASE_SEED}):\n  ${shown}${more}\n`).toBe(0);
    if (parses) expect(parsed, `${this.name}: not one of ${this.cases} mutants parsed`).toBeGreaterThan(0);
    expect([...this.outcomes.keys()].filter((k) => k.startsWith('FileReadError')), `${this.name}: files not found`).toEqual([]);
  }
}

const summary: string[] = [];
/** FOVEA_FUZZ_SHOW=regex prints every case whose outcome (as FOVEA_FUZZ_STATS lists them) matches. */
const SHOW = process.env.FOVEA_FUZZ_SHOW ? new RegExp(process.env.FOVEA_FUZZ_SHOW) : undefined;

/** An error message with the file, quoted text and numbers blanked: which check threw. */
const template = (message: string, file: string) =>
  message.split(file).join('<file>').replace(/"(?:[^"\\]|\\.)*"(…)?( \(\d+ characters\))?/g, '"…"').replace(/0x[0-9a-fA-F]+/g, 'N').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/g, 'N').slice(0, 140);

/** Why a thrown value is not the error the property asks for, or undefined when it is. */
function errorProblem(e: unknown, file: string, maxOffset = Infinity): string | undefined {
  if (!(e instanceof FoveaError)) {
    const name = e instanceof Error ? e.constructor.name : typeof e;
    return `threw ${name}, not a FoveaError: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`;
  }
  const { message } = e;
  if (!message.includes(file)) return `${e.name} does not name the file ${file}: ${message.slice(0, 300)}`;
  if (e instanceof FileFormatError && e.file !== file) return `FileFormatError.file is ${e.file}, not ${file}`;
  if (e instanceof FileFormatError && e.byteOffset !== undefined && !(Number.isSafeInteger(e.byteOffset) && e.byteOffset >= 0 && e.byteOffset <= maxOffset)) {
    return `FileFormatError byte offset ${e.byteOffset} is not in the ${maxOffset}-byte input: ${message.slice(0, 300)}`;
  }
  if (message.length > MAX_MESSAGE) return `${e.name} message of ${message.length} characters: ${message.slice(0, 200)}…`;
  if (CONTROL.test(message)) return `${e.name} message holds a control character: ${JSON.stringify(message.slice(0, 300))}`;
  if (message.trim().length <= file.length + 3) return `${e.name} message says nothing but the file: ${message}`;
  return undefined;
}

/** `bytes` copied into a larger buffer at an odd offset, garbage around it: a parser must stay inside the view. */
function embed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 13).fill(0xee);
  out.set(bytes, 7);
  return out.subarray(7, 7 + bytes.length);
}

/** A copy as a plain Uint8Array: a Buffer's slice() is a view, so mutating one would edit the base file. */
const own = (b: Uint8Array) => new Uint8Array(b);

const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;
const hexes = (bs: ArrayLike<number>) => `[${Array.from(bs, hex).join(' ')}]`;
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------------------------
// Byte-level mutations, for every format.

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every proper prefix of `bytes` (the empty one too). */
function* truncations(bytes: Uint8Array, seed: number, label: string): Generator<Mutant> {
  for (let n = 0; n < bytes.length; n++) yield { seed, what: `${label}: truncated to ${n} of ${bytes.length} bytes`, bytes: own(bytes.subarray(0, n)) };
}

/** One bit flipped in every byte of `bytes` (which bit: from the seed). */
function* bitFlips(bytes: Uint8Array, seed: number, label: string): Generator<Mutant> {
  const rng = new Rng(seed);
  for (let i = 0; i < bytes.length; i++) {
    const bit = rng.int(0, 7);
    const out = own(bytes);
    out[i]! ^= 1 << bit;
    yield { seed, what: `${label}: bit ${bit} of byte ${i} flipped (${hex(bytes[i]!)} → ${hex(out[i]!)})`, bytes: out };
  }
}

const U32_VALUES = [0, 1, 2, 3, 4, 7, 8, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One random edit of `bytes`, described exactly. */
function randomEdit(bytes: Uint8Array, rng: Rng): { what: string; bytes: Uint8Array } {
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
function* randomEdits(bytes: Uint8Array, group: number, first: number, count: number, label: string): Generator<Mutant> {
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
function* byteMutants(bytes: Uint8Array, group: number, random: number, label: string): Generator<Mutant> {
  yield* truncations(bytes, seedOf(group, 0), label);
  yield* bitFlips(bytes, seedOf(group, 1), label);
  yield* randomEdits(bytes, group, 2, random, label);
}

// ---------------------------------------------------------------------------------------------
// JSON value mutations (model specs, optimizer hyperparameters, safetensors header fields).

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const fmtPath = (p: Path) => (p.length ? p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('') : '(root)');

/** A value for a message: JSON, with non-finite numbers and -0 spelt out, long ones cut. */
function show(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? `<${x}>` : x)) ?? String(v);
  } catch {
    s = '<nested too deep to show>';
  }
  return s.length > 120 ? `${s.slice(0, 120)}… (${s.length} chars)` : s;
}

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
  '', '3', 'relu', 'conv2d', 'sequential', 'linear', 'flatten', 'maxpool2d', 'x\u001b[2K\r', '\u202e', '__proto__', 'a'.repeat(300),
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
function mutateJson(root: Json, rng: Rng): { what: string; value: Json; last?: boolean } {
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
    const t = rng.pick(['relu', 'conv2d', 'linear', 'maxpool2d', 'flatten', 'sequential', 'dropout', 'Relu']);
    node.type = t;
    return { what: `${where}.type := ${JSON.stringify(t)}`, value: root };
  }
  const x = structuredClone(rng.pick(INTERESTING));
  return { what: `${where} := ${show(x)}`, value: setAt(root, p, x) };
}

/** `count` values each `base` with 1–3 random JSON edits. */
function* jsonMutants(base: Json, group: number, count: number, label: string): Generator<{ seed: number; what: string; value: Json }> {
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

// ---------------------------------------------------------------------------------------------
// Consistency of successful parses.

/** Why `r` is not what `bytes` hold as safetensors (from an independent reading), or undefined. */
function safetensorsProblem(bytes: Uint8Array, r: Safetensors): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  if (dataLength < 0) return `header length ${n} past the end of the ${bytes.length}-byte file`;
  const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart))) as Record<string, unknown>;
  const meta = header.__metadata__ ?? {};
  if (!isDeepStrictEqual({ ...r.metadata }, { ...(meta as object) })) return `metadata ${show({ ...r.metadata })} is not the header's ${show(meta)}`;
  for (const v of Object.values(r.metadata)) if (typeof v !== 'string') return `metadata value ${show(v)} is not a string`;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (!isDeepStrictEqual([...r.tensors.keys()].sort(), names.sort())) return `tensors ${show([...r.tensors.keys()])}, header has ${show(names)}`;
  let total = 0;
  let lastBegin = -1;
  for (const [name, t] of r.tensors) {
    const h = header[name] as { dtype: unknown; shape: unknown; data_offsets: unknown };
    const [begin, end] = h.data_offsets as [number, number];
    if (t.dtype !== 'F32' || h.dtype !== 'F32') return `tensor ${show(name)} of dtype ${show(t.dtype)} (header ${show(h.dtype)})`;
    if (!isDeepStrictEqual(t.shape, h.shape)) return `tensor ${show(name)} has shape ${show(t.shape)}, header ${show(h.shape)}`;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `tensor ${show(name)} has shape ${show(t.shape)}`;
    if (!(t.data instanceof Float32Array)) return `tensor ${show(name)} data is not a Float32Array`;
    if (t.data.length !== prod(t.shape)) return `tensor ${show(name)} has ${t.data.length} values for shape ${show(t.shape)}`;
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end && end <= dataLength)) {
      return `tensor ${show(name)} data_offsets ${show(h.data_offsets)} are not inside the ${dataLength}-byte data buffer`;
    }
    if (end - begin !== t.data.byteLength) return `tensor ${show(name)} holds ${t.data.byteLength} bytes, data_offsets ${show(h.data_offsets)} span ${end - begin}`;
    const got = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const want = bytes.subarray(dataStart + begin, dataStart + end);
    if (Buffer.compare(got, want) !== 0) return `tensor ${show(name)} data differs from file bytes ${dataStart + begin}..${dataStart + end}`;
    if (begin < lastBegin) return `tensor ${show(name)} (at ${begin}) comes after one at ${lastBegin}`;
    lastBegin = begin;
    total += end - begin;
  }
  if (total !== dataLength) return `tensors hold ${total} bytes of a ${dataLength}-byte data buffer`;
  return undefined;
}

const LAYER_KEYS: Record<string, string[]> = {
  conv2d: ['type', 'name', 'inChannels', 'outChannels', 'kernelSize', 'stride', 'padding', 'bias'],
  linear: ['type', 'name', 'inFeatures', 'outFeatures', 'bias'],
  relu: ['type', 'name'],
  maxpool2d: ['type', 'name', 'kernelSize', 'stride', 'padding'],
  flatten: ['type', 'name', 'startDim', 'endDim'],
  sequential: ['type', 'name', 'layers'],
};
const isPos = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 0;
const isNonNeg = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const isPair = (x: unknown, ok: (y: unknown) => boolean) => ok(x) || (Array.isArray(x) && x.length === 2 && x.every(ok));

/** Why `spec` is not a valid model spec, by an independent reading of the format; undefined if it is. */
function specProblem(spec: unknown): string | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return 'spec is not an object';
  const s = spec as Record<string, unknown>;
  if (!isDeepStrictEqual(Object.keys(s).sort(), ['input', 'layers'])) return `spec keys ${show(Object.keys(s))}`;
  const input = s.input;
  if (!Array.isArray(input) || input.length < 1 || input.length > 3 || !input.every(isPos)) return `input ${show(input)}`;
  if (prod(input as number[]) > 2 ** 24) return `input ${show(input)} over 2^24 values`;
  const layers = (ls: unknown, where: string, depth: number): string | undefined => {
    if (!Array.isArray(ls) || ls.length === 0) return `${where} ${show(ls)} is not a non-empty array`;
    if (depth > 32) return `${where} nested ${depth} sequentials deep`;
    for (const [i, l] of ls.entries()) {
      const at = `${where}[${i}]`;
      if (l === null || typeof l !== 'object' || Array.isArray(l)) return `${at} is not an object`;
      const o = l as Record<string, unknown>;
      const allowed = LAYER_KEYS[o.type as string];
      if (!allowed) return `${at}.type ${show(o.type)}`;
      const extra = Object.keys(o).filter((k) => !allowed.includes(k));
      if (extra.length) return `${at} has unknown keys ${show(extra)}`;
      if (o.name !== undefined && !(typeof o.name === 'string' && /^[A-Za-z0-9_]+$/.test(o.name))) return `${at}.name ${show(o.name)}`;
      const bad = (k: string, ok: (y: unknown) => boolean, optional = true) => (o[k] === undefined ? !optional : !ok(o[k]));
      const problems: [string, boolean][] = [
        ['outChannels', o.type === 'conv2d' && bad('outChannels', isPos, false)],
        ['inChannels', bad('inChannels', isPos)],
        ['outFeatures', o.type === 'linear' && bad('outFeatures', isPos, false)],
        ['inFeatures', bad('inFeatures', isPos)],
        ['kernelSize', (o.type === 'conv2d' || o.type === 'maxpool2d') && bad('kernelSize', (y) => isPair(y, isPos), false)],
        ['stride', bad('stride', (y) => isPair(y, isPos))],
        ['padding', bad('padding', (y) => isPair(y, isNonNeg))],
        ['bias', bad('bias', (y) => typeof y === 'boolean')],
        ['startDim', bad('startDim', Number.isSafeInteger)],
        ['endDim', bad('endDim', Number.isSafeInteger)],
      ];
      for (const [k, isBad] of problems) if (isBad) return `${at}.${k} ${show(o[k])}`;
      if (o.type === 'sequential') {
        const why = layers(o.layers, `${at}.layers`, depth + 1);
        if (why) return why;
      }
    }
    return undefined;
  };
  return layers(s.layers, 'layers', 0);
}

/** A spec parsed from `input` must be `input` itself (strict objects: nothing dropped or changed) and valid. */
function parsedSpecProblem(input: unknown, r: ModelSpec): string | undefined {
  if (!isDeepStrictEqual(r, input)) return `the parsed spec ${show(r)} differs from the input ${show(input)}`;
  return specProblem(r);
}

/** Why `r` is not the IDX file `bytes` hold (read independently), or undefined. */
function idxProblem(bytes: Uint8Array, r: IdxFile): string | undefined {
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) return `magic ${hexes(bytes.subarray(0, 4))} accepted`;
  const nd = bytes[3]!;
  if (nd < 1 || nd > 4 || r.dims.length !== nd) return `${r.dims.length} dims, byte 3 says ${nd}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (!isDeepStrictEqual(r.dims, dims)) return `dims ${show(r.dims)}, header says ${show(dims)}`;
  if (!dims.every((d) => d >= 1)) return `dims ${show(dims)} hold a 0`;
  if (r.data.length !== prod(dims)) return `${r.data.length} data bytes for dims ${show(dims)}`;
  if (r.data.buffer !== bytes.buffer) return 'data is not a view of the input';
  if (r.data.byteOffset !== bytes.byteOffset + 4 + 4 * nd) return `data starts at ${r.data.byteOffset - bytes.byteOffset}, not ${4 + 4 * nd}`;
  if (r.data.byteOffset + r.data.length !== bytes.byteOffset + bytes.length) return 'data does not end where the input ends';
  return undefined;
}

function imagesProblem(bytes: Uint8Array, r: MnistImages): string | undefined {
  const i = parseIdx(bytes, 'check');
  if (i.dims.length !== 3 || !isDeepStrictEqual([r.count, r.rows, r.cols], i.dims)) return `images ${r.count}×${r.rows}×${r.cols} from dims ${show(i.dims)}`;
  return idxProblem(bytes, { dims: i.dims, data: r.pixels });
}

function labelsProblem(bytes: Uint8Array, r: Uint8Array): string | undefined {
  const i = parseIdx(bytes, 'check');
  if (i.dims.length !== 1 || r.length !== i.dims[0]) return `${r.length} labels from dims ${show(i.dims)}`;
  if (r.some((l) => l > 9)) return `a label over 9 accepted: ${r.find((l) => l > 9)}`;
  return idxProblem(bytes, { dims: i.dims, data: r });
}

// ---------------------------------------------------------------------------------------------
// Base files.

const tensorsOf = (rng: Rng, shapes: [string, number[]][]) =>
  shapes.map(([name, shape]) => [name, { shape, data: Float32Array.from({ length: prod(shape) }, () => Math.fround(rng.uniform(-2, 2))) }] as [string, { shape: number[]; data: Float32Array }]);

/** Valid safetensors files, as serializeSafetensors writes them, with what they were made of. */
const ST_BASES = (() => {
  const rng = new Rng(BASE_SEED);
  const a = tensorsOf(rng, [['w', [2, 3]], ['b', [3]], ['s', []], ['e', [2, 0]]]);
  const b = tensorsOf(rng, [['layer.0.weight', [4, 1, 2, 2]], ['layer.0.bias', [4]]]);
  return [
    { name: 'four tensors and metadata', tensors: a, metadata: { format: 'pt', note: 'ünïcödé ✓' } as Record<string, string> | undefined },
    { name: 'two tensors, no metadata', tensors: b, metadata: undefined },
    { name: 'empty', tensors: [] as typeof a, metadata: { k: 'v' } },
  ].map((x) => ({ ...x, bytes: serializeSafetensors(x.tensors, x.metadata) }));
})();

const SMALL_SPEC: ModelSpec = { input: [1, 4, 4], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 3 }] };
/** Every layer kind and field form. */
const ALL_KINDS: ModelSpec = {
  input: [3, 16, 16],
  layers: [
    { type: 'conv2d', name: 'c1', inChannels: 3, outChannels: 4, kernelSize: [3, 2], stride: [2, 1], padding: [1, 0], bias: false },
    { type: 'relu' },
    { type: 'sequential', name: 'block', layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 1 }, { type: 'maxpool2d', kernelSize: [2, 2], stride: 2, padding: 0 }] },
    { type: 'flatten', startDim: 1, endDim: -1 },
    { type: 'linear', name: 'out', inFeatures: 2, outFeatures: 10, bias: true },
  ],
};
const SPEC_BASES: [string, ModelSpec][] = [['the seed CNN', SEED_CNN], ['every layer kind', ALL_KINDS], ['a small MLP', SMALL_SPEC]];

/** Valid IDX files. */
const IDX_BASES: [string, Uint8Array][] = [
  ['labels', idx([6], [0, 9, 3, 1, 7, 2])],
  ['images 3×2×3', idx([3, 2, 3], Array.from({ length: 18 }, (_, i) => (i * 37) % 256))],
  ['4 dims', idx([1, 2, 1, 2], [1, 2, 3, 4])],
  ['2 dims', idx([2, 5], Array.from({ length: 10 }, (_, i) => i))],
];

interface PngBase {
  name: string;
  header: PngHeaderFields;
  /** Filtered scanlines of the image, where we made them. */
  rows?: Buffer;
  extra: Buffer[];
  bytes: Uint8Array;
}

const PNG_BASES: PngBase[] = (() => {
  const grey: PngHeaderFields = { width: 28, height: 28 };
  const bits1: PngHeaderFields = { width: 28, height: 28, bitDepth: 1, interlace: 1 };
  const pal: PngHeaderFields = { width: 28, height: 28, bitDepth: 2, colorType: 3, interlace: 1 };
  const made = (name: string, header: PngHeaderFields, levels: number, extra: Buffer[] = []): PngBase => {
    const rows = scanlines(header, pattern(levels));
    return { name, header, rows, extra, bytes: own(Buffer.concat([SIGNATURE, ihdrChunk(header), ...extra, chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array())])) };
  };
  const fromPngjs = (name: string, colorType: 2 | 6): PngBase => {
    const p = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 28 * 28; i++) p.data.set([i % 256, (3 * i) % 256, 7, colorType === 6 ? (i * 5) % 256 : 255], 4 * i);
    const bytes = PNG.sync.write(p, { colorType });
    const text = chunk('tEXt', Buffer.from('Comment\0fuzz'));
    return { name, header: { width: 28, height: 28, colorType }, extra: [text], bytes: own(Buffer.concat([bytes.subarray(0, 33), text, bytes.subarray(33)])) };
  };
  /** Two-sample (or 16-bit) pixels: the scanlines of an 8-bit grey image twice as wide. */
  const wide = (name: string, header: PngHeaderFields): PngBase => {
    const rows = scanlines({ width: 56, height: 28 }, pattern(256));
    return { name, header, rows, extra: [], bytes: own(Buffer.concat([SIGNATURE, ihdrChunk(header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array())])) };
  };
  return [
    made('grey 8-bit', grey, 256),
    wide('grey 16-bit', { width: 28, height: 28, bitDepth: 16 }),
    wide('grey+alpha 8-bit', { width: 28, height: 28, colorType: 4 }),
    made('grey 1-bit interlaced', bits1, 2),
    made('palette 2-bit interlaced, PLTE and tRNS', pal, 4, [chunk('PLTE', Uint8Array.of(0, 0, 0, 80, 80, 80, 160, 160, 160, 255, 255, 255)), chunk('tRNS', Uint8Array.of(255, 128))]),
    fromPngjs('RGB 8-bit from pngjs, with tEXt', 2),
    fromPngjs('RGBA 8-bit from pngjs, with tEXt', 6),
  ];
})();

// ---------------------------------------------------------------------------------------------
// safetensors header edits: the header as [key, raw JSON text] entries, edited as text so that
// duplicate keys, 1e400 and the like can be written.

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

interface StEntry { key: string; value: unknown }

function headerEntries(base: (typeof ST_BASES)[number]): StEntry[] {
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
function editHeader(entries: StEntry[], data: { bytes: Uint8Array }, rng: Rng): string {
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
function headerText(entries: StEntry[], rng: Rng): { text: string; what: string } {
  const body = entries.map((e) => `${JSON.stringify(e.key)}:${enc(e.value)}`).join(',');
  const layout = rng.int(0, 19);
  if (layout === 0) return { text: `{${body}}   `, what: 'padded with 3 spaces' };
  if (layout === 1) return { text: `{ ${body.replaceAll(',"', ', "')}\n}`, what: 'with spaces and a newline' };
  if (layout === 2) return { text: `{${body}}\u0000`, what: 'padded with a NUL' };
  if (layout === 3) return { text: `{${body}}\ufeff`, what: 'ending in a BOM' };
  return { text: `{${body}}`, what: 'compact' };
}

// ---------------------------------------------------------------------------------------------
// PNG chunk edits (CRCs fixed, so the checks past the CRC are reached).

interface PngChunk { type: string; data: Uint8Array }

function chunksOf(png: Uint8Array): PngChunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: PngChunk[] = [];
  for (let at = 8; at < png.length; ) {
    const len = view.getUint32(at);
    out.push({ type: String.fromCharCode(...png.subarray(at + 4, at + 8)), data: own(png.subarray(at + 8, at + 8 + len)) });
    at += 12 + len;
  }
  return out;
}
const assemble = (chunks: PngChunk[]) => own(Buffer.concat([SIGNATURE, ...chunks.map((c) => chunk(c.type, c.data))]));

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
function editPng(chunks: PngChunk[], base: PngBase, rng: Rng): { what: string; preserves: boolean } {
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

// ---------------------------------------------------------------------------------------------
// Optimizer state.

const OPT_STRINGS = ['', ' ', '0', '1', '-1', '1.5', '1e3', '01', '0x10', ' 1', '1 ', '9007199254740991', '9007199254740992', '99999999999999999999', 'true', 'false', 'TRUE', 'adam', 'sgd', 'Adam', 'null', '{}', '[]', 'x\u001b[2K\r', '\u2028', 'a'.repeat(300), 'a'.repeat(64), 'A'.repeat(64), '{"lr":1e400}'];

function optimizerMetadata(optimizer: 'adam' | 'sgd', sha: string): Record<string, string> {
  const hp = optimizer === 'adam' ? { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 } : { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true };
  return { optimizer, hyperparameters: JSON.stringify(hp), stepCount: '12', epoch: '1', stepInEpoch: '2', seed: '7', batchSize: '64', shuffle: 'true', dataDir: '/data/mnist', modelSha256: sha };
}

function optimizerStateProblem(r: OptimizerCheckpoint, bytes: Uint8Array): string | undefined {
  const s = r.state;
  const ints: [string, number, number][] = [['stepCount', s.stepCount, 0], ['epoch', s.epoch, 0], ['stepInEpoch', s.stepInEpoch, 0], ['seed', s.seed, 0], ['batchSize', s.batchSize, 1]];
  for (const [k, v, min] of ints) if (!Number.isSafeInteger(v) || v < min) return `${k} ${show(v)}`;
  if (typeof s.shuffle !== 'boolean') return `shuffle ${show(s.shuffle)}`;
  if (typeof s.dataDir !== 'string' || !s.dataDir || CONTROL.test(s.dataDir)) return `dataDir ${show(s.dataDir)}`;
  const h = s.hyperparameters as Record<string, unknown>;
  const rate = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const beta = (x: unknown) => rate(x) && (x as number) < 1;
  if (s.optimizer === 'adam') {
    if (!rate(h.lr) || !rate(h.eps) || !rate(h.weightDecay) || !Array.isArray(h.betas) || h.betas.length !== 2 || !h.betas.every(beta)) return `adam hyperparameters ${show(h)}`;
  } else if (s.optimizer === 'sgd') {
    if (!rate(h.lr) || !rate(h.momentum) || !rate(h.weightDecay) || typeof h.dampening !== 'number' || !Number.isFinite(h.dampening) || typeof h.nesterov !== 'boolean') return `sgd hyperparameters ${show(h)}`;
    if (h.nesterov && !((h.momentum as number) > 0 && h.dampening === 0)) return `nesterov with ${show(h)}`;
  } else return `optimizer ${show(s.optimizer)}`;
  return safetensorsProblem(bytes, { tensors: r.tensors as Safetensors['tensors'], metadata: parseSafetensors(bytes, 'check').metadata });
}

// ---------------------------------------------------------------------------------------------

afterAll(() => {
  console.log(`fuzz (base seed ${BASE_SEED}):\n  ${summary.join('\n  ')}`);
});

/** A full garbage collection now (for the large-input measurements). */
const gc = (() => {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
})();

describe('fuzzing the parsers of untrusted files', () => {
  // A hostile file of a few MB must cost time and memory in proportion to its size, with a
  // small constant. Memory here is the growth of the used JS heap across one parse, after a
  // full GC and with none forced during it: what the parse held alive long enough to survive
  // the young-generation collections, so a parser that builds an object for every element of
  // its input (an error per bad element, a node per value) shows.
  it('large inputs cost time and memory proportional to their size, with small constants', () => {
    const f = new Fuzz('large inputs');
    const cases: { what: string; file: string; size: number; run: () => unknown }[] = [];
    const json = (value: unknown) => ({ value, size: JSON.stringify(value).length });
    const specCase = (what: string, value: unknown, inCheckpoint = false) => {
      const j = json(value);
      cases.push({ what: `parseModelSpec: ${what}`, file: 'large.json', size: j.size, run: () => parseModelSpec(j.value, 'large.json') });
      if (!inCheckpoint) return;
      const bytes = serializeSafetensors([], { [SPEC_KEY]: JSON.stringify(value) });
      cases.push({ what: `parseCheckpoint, spec metadata: ${what}`, file: 'large.safetensors', size: bytes.length, run: () => parseCheckpoint(bytes, 'large.safetensors') });
    };
    specCase('layers of 100000 numbers', { input: [4], layers: new Array(100_000).fill(5) }, true);
    specCase('layers of 50000 objects with an unknown key', { input: [4], layers: new Array(50_000).fill(0).map(() => ({ type: 'relu', x: 1 })) });
    specCase('input of 100000 × -1', { input: new Array(100_000).fill(-1), layers: [{ type: 'relu' }] });
    specCase('an unknown key holding 500000 zeros', { input: [4], layers: [{ type: 'relu' }], x: new Array(500_000).fill(0) }, true);
    specCase('10000 relu layers', { input: [4], layers: new Array(10_000).fill(0).map(() => ({ type: 'relu' })) });
    const st1 = st({ w: { dtype: 'F32', shape: new Array(500_000).fill(-1), data_offsets: [0, 4] } }, 4);
    cases.push({ what: 'parseSafetensors: shape of 500000 × -1', file: 'large.safetensors', size: st1.length, run: () => parseSafetensors(st1, 'large.safetensors') });
    const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`t${i}`, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }]));
    const st2 = st({ ...many, z: { dtype: 'F16', shape: [0], data_offsets: [0, 0] } });
    cases.push({ what: 'parseSafetensors: 20000 tensors, the last bad', file: 'large.safetensors', size: st2.length, run: () => parseSafetensors(st2, 'large.safetensors') });
    const st3 = st({ __metadata__: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 'v'])) });
    cases.push({ what: 'parseSafetensors: 50000 metadata keys', file: 'large.safetensors', size: st3.length, run: () => parseSafetensors(st3, 'large.safetensors') });
    const base = PNG_BASES[0]!.bytes;
    const chunks = chunksOf(base);
    const png1 = assemble([chunks[0]!, ...Array.from({ length: 50_000 }, () => ({ type: 'zzZz', data: new Uint8Array() })), ...chunks.slice(1)]);
    cases.push({ what: 'decodeGreyPng: 50000 empty ancillary chunks', file: 'large.png', size: png1.length, run: () => decodeGreyPng(png1, 'large.png', 28, 28) });
    const idat = chunks.find((c) => c.type === 'IDAT')!.data;
    const png2 = assemble([chunks[0]!, ...Array.from(idat, (b) => ({ type: 'IDAT', data: Uint8Array.of(b) })), ...Array.from({ length: 30_000 }, () => ({ type: 'IDAT', data: new Uint8Array() })), chunks.at(-1)!]);
    cases.push({ what: `decodeGreyPng: image data in ${idat.length + 30_000} IDAT chunks`, file: 'large.png', size: png2.length, run: () => decodeGreyPng(png2, 'large.png', 28, 28) });
    const labels = idx([2_000_000], new Uint8Array(2_000_000).fill(3));
    cases.push({ what: 'parseMnistLabels: 2000000 labels', file: 'large.idx', size: labels.length, run: () => parseMnistLabels(labels, 'large.idx') });

    for (const [i, c] of cases.entries()) {
      f.cases++;
      gc();
      const h0 = getHeapStatistics().used_heap_size;
      const t0 = performance.now();
      let error: unknown;
      try {
        c.run();
      } catch (e) {
        error = e;
      }
      const ms = performance.now() - t0;
      const heap = getHeapStatistics().used_heap_size - h0;
      const outcome = error === undefined ? 'parsed' : error instanceof Error ? error.name : typeof error;
      f.outcomes.set(outcome, (f.outcomes.get(outcome) ?? 0) + 1);
      const m = { seed: seedOf(140, i), what: `${c.what} (${c.size} bytes)` };
      const maxMs = 250 + c.size / 2000; // 0.5 µs a byte
      const maxHeap = 32 * 2 ** 20 + 16 * c.size;
      if (ms > maxMs) f.failures.push(`${m.what}\n    → took ${ms.toFixed(0)} ms (limit ${maxMs.toFixed(0)})`);
      if (heap > maxHeap) f.failures.push(`${m.what}\n    → the JS heap grew by ${(heap / 2 ** 20).toFixed(0)} MiB (limit ${(maxHeap / 2 ** 20).toFixed(0)} MiB, ${(heap / c.size).toFixed(0)} bytes a byte of input)`);
      const why = error === undefined ? undefined : errorProblem(error, c.file);
      if (why) f.failures.push(`${m.what}\n    → ${why}`);
    }
    gc();
    f.done(false);
  });

  it('safetensors: byte-level mutations of valid files', () => {
    const f = new Fuzz('safetensors bytes');
    for (const [b, base] of ST_BASES.entries()) {
      for (const m of byteMutants(base.bytes, 10 + b, 400, `safetensors "${base.name}"`)) {
        const file = `fuzz/st-${m.seed}.safetensors`;
        const bytes = embed(m.bytes);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
      // The header length field: every interesting value.
      const n = Number(new DataView(base.bytes.buffer).getBigUint64(0, true));
      const lengths = [0n, 1n, 2n, 7n, 8n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 4), BigInt(base.bytes.length - 8), BigInt(base.bytes.length - 7), 2n ** 31n, 2n ** 32n, 2n ** 32n + BigInt(n), 100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
      for (const len of lengths) {
        const out = base.bytes.slice();
        new DataView(out.buffer).setBigUint64(0, len, true);
        const m = { seed: seedOf(10 + b, 9999), what: `safetensors "${base.name}": header length := ${len} (was ${n})`, bytes: out };
        const file = `fuzz/st-len-${len}.safetensors`;
        const bytes = embed(out);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
    }
    f.done();
  });

  it('safetensors: header field edits (offsets, shapes, dtypes, names, duplicates, metadata)', () => {
    const f = new Fuzz('safetensors header fields');
    const perBase = 700;
    for (const [b, base] of ST_BASES.entries()) {
      const data = base.bytes.subarray(8 + Number(new DataView(base.bytes.buffer).getBigUint64(0, true)));
      for (let i = 0; i < perBase; i++) {
        const seed = seedOf(20 + b, i);
        const rng = new Rng(seed);
        const entries = headerEntries(base);
        const d = { bytes: data.slice() };
        const whats: string[] = [];
        for (let k = rng.int(1, 3); k > 0; k--) whats.push(editHeader(entries, d, rng));
        const { text, what } = headerText(entries, rng);
        const json = new TextEncoder().encode(text);
        // Mostly the right length field, so the edit is what the parser sees; sometimes not.
        const lenEdit = rng.next() < 0.85 ? 0 : rng.pick([-1, 1, -8, 8, 4]);
        const out = st(text, d.bytes, BigInt(Math.max(0, json.length + lenEdit)));
        const m: Mutant = { seed, what: `safetensors "${base.name}": ${whats.join('; ')}; header ${what}${lenEdit ? `, length field off by ${lenEdit}` : ''} — header ${show(text)}`, bytes: out };
        const file = `fuzz/st-h-${seed}.safetensors`;
        const bytes = embed(out);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
    }
    f.done();
  });

  it('checkpoints: parseCheckpoint on mutated checkpoint bytes, spec text and spec values', () => {
    const f = new Fuzz('checkpoints');
    const rng0 = new Rng(seedOf(30, 0));
    const tensors = tensorsOf(rng0, [['fc.weight', [3, 16]], ['fc.bias', [3]]]);
    const check = (bytes: Uint8Array) => (r: ParsedCheckpoint) => {
      const why = safetensorsProblem(bytes, r);
      if (why) return why;
      if ('optimizer' in r.metadata && 'modelSha256' in r.metadata) return 'an optimizer-state file accepted as a checkpoint';
      const text = r.metadata[SPEC_KEY];
      if (text === undefined) return r.spec === undefined ? undefined : 'a spec without the metadata key';
      return r.spec === undefined ? 'spec metadata ignored' : parsedSpecProblem(JSON.parse(text), r.spec);
    };
    const runOne = (m: Mutant, name = `fuzz/ckpt-${m.seed}.safetensors`) => {
      const bytes = embed(m.bytes);
      f.run(m, name, () => parseCheckpoint(bytes, name), check(bytes));
    };
    const base = checkpointBytes(tensors, SMALL_SPEC);
    for (const m of byteMutants(base, 31, 400, 'checkpoint')) runOne(m);
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      const text = JSON.stringify(spec);
      const textBytes = new TextEncoder().encode(text);
      const specText = (m: Mutant): Mutant => ({ ...m, bytes: serializeSafetensors(tensors, { format: 'pt', [SPEC_KEY]: new TextDecoder().decode(m.bytes) }) });
      for (const m of randomEdits(textBytes, 32 + s, 0, 100, `spec text of ${label}`)) runOne(specText(m));
      for (let n = 0; n < textBytes.length; n += 7) runOne(specText({ seed: seedOf(32 + s, 1000), what: `spec text of ${label} truncated to ${n} bytes`, bytes: textBytes.slice(0, n) }));
      for (const j of jsonMutants(spec as unknown as Json, 35 + s, 150, `spec of ${label}`)) {
        runOne({ seed: j.seed, what: j.what, bytes: checkpointBytes(tensors, j.value as unknown as ModelSpec) });
      }
    }
    // Metadata that marks an optimizer-state file, or lacks the spec.
    const metas: [string, Record<string, string>][] = [
      ['optimizer-state keys', { optimizer: 'adam', modelSha256: 'a'.repeat(64) }],
      ['one optimizer-state key', { optimizer: 'adam' }],
      ['no spec', { format: 'pt' }],
      ['spec not JSON', { [SPEC_KEY]: '{"input": [1, 4' }],
      ['spec JSON null', { [SPEC_KEY]: 'null' }],
      ['spec nested 100000 deep', { [SPEC_KEY]: '['.repeat(100_000) + ']'.repeat(100_000) }],
    ];
    for (const [i, [what, metadata]] of metas.entries()) {
      for (const name of ['fuzz/m.safetensors', 'fuzz/m.optim.safetensors']) runOne({ seed: seedOf(38, i), what: `checkpoint with ${what}, named ${name}`, bytes: serializeSafetensors(tensors, metadata) }, name);
    }
    f.done();
  });

  it('optimizer state: readOptimizerState on mutated metadata and bytes', async () => {
    const f = new Fuzz('optimizer state');
    const sha = 'c0ffee'.repeat(10) + 'c0ff';
    const rng0 = new Rng(seedOf(40, 0));
    const tensors = tensorsOf(rng0, [['exp_avg.0', [2, 3]], ['exp_avg_sq.0', [2, 3]]]);
    const run = async (m: Mutant, i: number) => {
      const model = `mem/opt-${i}.safetensors`;
      const path = `mem/opt-${i}.optim.safetensors`;
      await withFile(path, m.bytes, () => f.runAsync(m, path, () => readOptimizerState(model, { sha256: sha }), (r) => optimizerStateProblem(r, m.bytes)));
    };
    let i = 0;
    for (const optimizer of ['adam', 'sgd'] as const) {
      const base = optimizerMetadata(optimizer, sha);
      for (let k = 0; k < 200; k++) {
        const seed = seedOf(optimizer === 'adam' ? 41 : 42, k);
        const rng = new Rng(seed);
        const meta = { ...base };
        const whats: string[] = [];
        for (let e = rng.int(1, 2); e > 0; e--) {
          const key = rng.pick([...Object.keys(base), 'hyperparameters', 'hyperparameters', 'extra']);
          const op = rng.int(0, 3);
          if (key === 'hyperparameters' && op <= 1) {
            let hp: Json;
            try {
              hp = JSON.parse(meta.hyperparameters ?? 'null') as Json;
            } catch {
              hp = null;
            }
            const j = mutateJson(hp, rng);
            meta.hyperparameters = JSON.stringify(j.value);
            whats.push(`hyperparameters ${j.what}`);
          } else if (op === 2) {
            delete meta[key];
            whats.push(`${key} deleted`);
          } else {
            meta[key] = rng.pick(OPT_STRINGS);
            whats.push(`${key} := ${show(meta[key])}`);
          }
        }
        await run({ seed, what: `${optimizer} state: ${whats.join('; ')}`, bytes: serializeSafetensors(tensors, meta) }, i++);
      }
      for (const m of randomEdits(serializeSafetensors(tensors, base), optimizer === 'adam' ? 43 : 44, 0, 100, `${optimizer} state bytes`)) await run(m, i++);
    }
    f.done();
  });

  it('IDX: parseIdx, parseMnistImages and parseMnistLabels on mutated files', () => {
    const f = new Fuzz('IDX');
    const all = (m: Mutant) => {
      const file = `fuzz/idx-${m.seed}.idx`;
      const bytes = embed(m.bytes);
      f.run(m, file, () => parseIdx(bytes, file), (r) => idxProblem(bytes, r));
      f.run(m, file, () => parseMnistImages(bytes, file), (r) => imagesProblem(bytes, r));
      f.run(m, file, () => parseMnistLabels(bytes, file), (r) => labelsProblem(bytes, r));
    };
    for (const [b, [label, base]] of IDX_BASES.entries()) {
      for (const m of byteMutants(base, 50 + b, 250, `IDX ${label}`)) all(m);
      // Header fields: each dimension, the dimension count, the type and leading bytes.
      const nd = base[3]!;
      for (let k = 0; k < 200; k++) {
        const seed = seedOf(55 + b, k);
        const rng = new Rng(seed);
        let out: Uint8Array = base.slice();
        const whats: string[] = [];
        for (let e = rng.int(1, 2); e > 0; e--) {
          const op = rng.int(0, 5);
          if (op <= 1) {
            const i = rng.int(0, nd - 1);
            const was = out.length >= 8 + 4 * i ? new DataView(out.buffer).getUint32(4 + 4 * i) : 0;
            const v = rng.next() < 0.7 ? rng.pick(U32_VALUES) : rng.pick([was + 1, was - 1, was * 2]) >>> 0;
            if (out.length >= 8 + 4 * i) new DataView(out.buffer).setUint32(4 + 4 * i, v);
            whats.push(`dim ${i} := ${v}`);
          } else if (op === 2) {
            out[3] = rng.pick([0, 1, 2, 3, 4, 5, 6, 255]);
            whats.push(`dimension count := ${out[3]}`);
          } else if (op === 3) {
            out[2] = rng.pick([0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0x01, 0xff]);
            whats.push(`type := ${hex(out[2]!)}`);
          } else if (op === 4) {
            const i = rng.int(0, 1);
            out[i] = rng.pick([1, 0x1f, 0x80, 0xff]);
            whats.push(`byte ${i} := ${hex(out[i]!)}`);
          } else {
            const k2 = rng.int(1, 8);
            if (rng.next() < 0.5) {
              out = concat(out, new Uint8Array(k2).fill(rng.pick([0, 9, 10, 255])));
              whats.push(`${k2} data bytes appended`);
            } else {
              out = out.slice(0, Math.max(0, out.length - k2));
              whats.push(`${k2} bytes cut from the end`);
            }
          }
        }
        all({ seed, what: `IDX ${label}: ${whats.join('; ')}`, bytes: out });
      }
    }
    f.done();
  });

  it('IDX .gz: readIdxFile on mutated gzip streams and mutated IDX inside them', async () => {
    const f = new Fuzz('IDX .gz');
    // NOTE: a .gz is inflated into an array that starts at 1 MiB and doubles as data arrives
    // (src/mnist/files.ts): a header that claims 1 GiB costs that 1 MiB and zlib's chunks.
    const GZ_CAP = 2 * ALLOC_SLACK;
    let n = 0;
    const run = async (m: Mutant, named: 'gz' | 'plain') => {
      const path = `mem/idx-${n++}${named === 'gz' ? '.gz' : ''}`;
      const out = await withFile(path, m.bytes, () => f.runAsync(m, path, () => readIdxFile(path), (r) => {
        // A file named without .gz and without the gzip magic is returned as it is.
        if (named === 'plain' && !(m.bytes[0] === 0x1f && m.bytes[1] === 0x8b)) return Buffer.compare(r, m.bytes) === 0 ? undefined : 'a plain file changed';
        // Whatever else readIdxFile returns is what zlib inflates the whole file to.
        let want: Uint8Array;
        try {
          want = gunzipSync(m.bytes);
        } catch (e) {
          return `accepted a stream zlib refuses (${(e as Error).message})`;
        }
        return Buffer.compare(r, want) === 0 ? undefined : `returned ${r.length} bytes, zlib inflates ${want.length}`;
      }, { maxAlloc: GZ_CAP, maxOffset: Infinity }));
      if (out) {
        // And then the IDX parsers on what came out, as loadMnistDir does.
        const im: Mutant = { ...m, what: `${m.what}, then parsed`, bytes: out };
        f.run(im, path, () => parseIdx(out, path), (r) => idxProblem(out, r));
        f.run(im, path, () => parseMnistImages(out, path), (r) => imagesProblem(out, r));
        f.run(im, path, () => parseMnistLabels(out, path), (r) => labelsProblem(out, r));
      }
    };
    for (const [b, [label, base]] of IDX_BASES.slice(0, 2).entries()) {
      const gz = own(gzipSync(base));
      for (const m of truncations(gz, seedOf(60 + b, 0), `gzip of IDX ${label}`)) await run(m, 'gz');
      for (const m of bitFlips(gz, seedOf(60 + b, 1), `gzip of IDX ${label}`)) await run(m, 'gz');
      for (const m of randomEdits(gz, 60 + b, 2, 80, `gzip of IDX ${label}`)) await run(m, rng01(m.seed) ? 'gz' : 'plain');
      // Mutated IDX, gzipped whole.
      for (const m of randomEdits(base, 62 + b, 0, 80, `IDX ${label}`)) await run({ ...m, what: `${m.what}, gzipped`, bytes: gzipSync(m.bytes) }, 'gz');
      const extras: [string, Uint8Array][] = [
        ['a second gzip member', concat(gz, gzipSync(Uint8Array.of(1, 2, 3)))],
        ['two copies', concat(gz, gz)],
        ['trailing garbage', concat(gz, Uint8Array.of(0, 1, 2, 3))],
        ['an empty member after it', concat(gz, gzipSync(new Uint8Array()))],
        ['a header claiming 2^30 - 8 labels', gzipSync(Uint8Array.of(0, 0, 8, 1, 0x3f, 0xff, 0xff, 0xf8))],
      ];
      for (const [what, bytes] of extras) await run({ seed: seedOf(64, b), what: `gzip of IDX ${label}: ${what}`, bytes }, 'gz');
    }
    f.done();
  });

  it('PNG: decodeGreyPng on mutated files (bytes, and chunks with their CRCs fixed)', () => {
    const f = new Fuzz('PNG');
    for (const [b, base] of PNG_BASES.entries()) {
      const { width, height } = base.header;
      const expected = decodeGreyPng(base.bytes, 'base.png', height, width);
      const run = (m: Mutant, preserves: boolean) => {
        const file = `fuzz/png-${m.seed}.png`;
        const bytes = embed(m.bytes);
        f.run(m, file, () => decodeGreyPng(bytes, file, height, width), (r) => {
          if (!(r instanceof Uint8Array) || r.length !== width * height) return `decoded to ${r.length} pixels, not ${width}×${height}`;
          if (preserves && Buffer.compare(r, expected) !== 0) return 'an edit that keeps the image decoded to other pixels';
          return undefined;
        });
      };
      for (const m of byteMutants(base.bytes, 100 + b, 150, `PNG ${base.name}`)) run(m, false);
      for (let k = 0; k < 300; k++) {
        const seed = seedOf(110 + b, k);
        const rng = new Rng(seed);
        const chunks = chunksOf(base.bytes);
        const whats: string[] = [];
        let preserves = true;
        for (let e = rng.int(1, 2); e > 0; e--) {
          const r = editPng(chunks, base, rng);
          whats.push(r.what);
          preserves &&= r.preserves;
        }
        run({ seed, what: `PNG ${base.name}: ${whats.join('; ')}`, bytes: assemble(chunks) }, preserves);
      }
    }
    f.done();
  });

  it('model specs: readModelSpec on mutated JSON text', async () => {
    const f = new Fuzz('spec files');
    let n = 0;
    const run = async (m: Mutant) => {
      const path = `mem/spec-${n++}.json`;
      await withFile(path, m.bytes, () => f.runAsync(m, path, () => readModelSpec(path), (r) => parsedSpecProblem(JSON.parse(new TextDecoder().decode(m.bytes)), r)));
    };
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      const text = new TextEncoder().encode(JSON.stringify(spec, null, s === 0 ? 1 : undefined));
      for (const m of byteMutants(text, 120 + s, 200, `spec ${label}`)) await run(m);
    }
    const odd: [string, string][] = [
      ['empty', ''],
      ['a BOM, then the spec', `\ufeff${JSON.stringify(SMALL_SPEC)}`],
      ['nested 100000 deep', '['.repeat(100_000) + ']'.repeat(100_000)],
      ['a duplicated key', '{"input":[1,4,4],"input":[4],"layers":[{"type":"relu"}]}'],
      ['a key "__proto__"', '{"input":[4],"layers":[{"type":"relu"}],"__proto__":{"x":1}}'],
      ['1e400 in a size', '{"input":[1e400],"layers":[{"type":"relu"}]}'],
      ['NUL and escape characters in a key', '{"input":[4],"layers":[{"type":"relu","\\u0000\\u001b[2K":1}]}'],
      ['invalid UTF-8', '{"input":[4],"layers":[{"type":"relu","name":"\xff\xfe"}]}'],
    ];
    for (const [i, [what, text]] of odd.entries()) await run({ seed: seedOf(124, i), what: `spec file: ${what}`, bytes: what === 'invalid UTF-8' ? Buffer.from(text, 'latin1') : new TextEncoder().encode(text) });
    f.done();
  });

  it('model specs: parseModelSpec on mutated values', () => {
    const f = new Fuzz('spec values');
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      for (const j of jsonMutants(spec as unknown as Json, 130 + s, 400, `spec ${label}`)) {
        const m: Mutant = { seed: j.seed, what: j.what, bytes: new Uint8Array() };
        f.run(m, 'fuzz/spec.json', () => parseModelSpec(j.value, 'fuzz/spec.json'), (r) => parsedSpecProblem(j.value, r));
      }
    }
    f.done();
  });

  it('the property check itself flags a wrong parse, a stray exception and a slow parse', () => {
    // A harness that passed everything would make the tests above pass vacuously.
    const f = new Fuzz('self-check', 20);
    const m: Mutant = { seed: 0, what: 'self-check', bytes: IDX_BASES[0]![1].slice(0, 10) };
    const sloppy = (bytes: Uint8Array): IdxFile => ({ dims: [6], data: bytes.subarray(8) }); // no length check
    f.run(m, 'a.idx', () => sloppy(m.bytes), (r) => idxProblem(m.bytes, r));
    f.run(m, 'a.idx', () => new DataView(m.bytes.buffer).getUint32(100), () => undefined);
    f.run(m, 'a.idx', () => {
      throw new FileFormatError('other.idx', 0, 'names another file');
    }, () => undefined);
    f.run(m, 'a.idx', () => {
      throw new SpecError('x', 'a.idx: \u001b[2K');
    }, () => undefined);
    f.run(m, 'a.idx', () => {
      const t = performance.now();
      while (performance.now() - t < 30);
      throw new FileFormatError('a.idx', 0, 'slow');
    }, () => undefined);
    f.run(m, 'a.idx', () => new Uint8Array(64 * 2 ** 20), () => undefined);
    expect(f.failures.map((x) => x.split('→ ')[1]!.replace(/\d+/g, 'N'))).toEqual([
      'parsed, but inconsistently: N data bytes for dims [N]',
      'threw RangeError, not a FoveaError: Offset is outside the bounds of the DataView',
      'FileFormatError does not name the file a.idx: other.idx (byte N): names another file',
      'SpecError message holds a control character: "x: a.idx: \\uNb[NK"',
      'took N ms (limit N)',
      'allocated N bytes of ArrayBuffers for a N-byte input (limit N)',
    ]);
  });
});

/** A coin flip from a seed (which name a mutated gzip is written under). */
function rng01(seed: number): boolean {
  return new Rng(seed ^ 0xabcdef).next() < 0.5;
}
