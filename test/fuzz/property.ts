// The property every fuzz case checks, for the seeded fuzz tests of the parsers of untrusted
// files (test/fuzz-*.test.ts): each mutant of a valid file must either parse to a result
// consistent with its bytes (test/fuzz/consistency.ts) or throw a FoveaError whose message names
// the file, with no control characters and of bounded length; never a TypeError/RangeError/
// SyntaxError, never a slow parse, never an allocation sized by a claimed rather than an actual
// size. Also the seeds, the summary of outcomes, and helpers for describing values in messages.
//
// Every case has a seed; a failure lists the seed and the exact mutation (offsets, bytes,
// values), so it can be rebuilt by hand. FOVEA_FUZZ_SEED=n fuzzes from another base seed;
// FOVEA_FUZZ_STATS=1 lists how often each check threw, FOVEA_FUZZ_SHOW=regex the cases behind one.
import { expect } from 'vitest';
import { FileFormatError, FoveaError } from '../../src/runtime/errors.js';

/** The seed all cases' seeds are derived from (FOVEA_FUZZ_SEED=n to fuzz from another). */
export const BASE_SEED = Number(process.env.FOVEA_FUZZ_SEED ?? 0x5eed);
/** One parse may take this long (typical: well under 5 ms), so a hang or a quadratic loop shows. */
const MAX_MS = 1000;
/** What one parse may allocate in ArrayBuffers beyond this multiple of its input (a copy of the data is fine). */
export const ALLOC_SLACK = 1 << 20;
const ALLOC_FACTOR = 8;
/** Longest error message accepted (quoted names are cut at 200 characters). */
const MAX_MESSAGE = 2000;
/** What quote() and clean() escape: C0/C1 controls, line separators, bidi embeddings and isolates. */
export const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** A case's seed: `group` and `i` mixed into the base seed, so cases can be rerun one by one. */
export const seedOf = (group: number, i: number) => (Math.imul(BASE_SEED ^ (group * 0x9e3779b9), 0x85ebca6b) + i) >>> 0;

// ---------------------------------------------------------------------------------------------
// The property check.

/** A mutated input: what was done (exactly enough to redo it by hand) and the result. */
export interface Mutant {
  seed: number;
  what: string;
  bytes: Uint8Array;
}

/** What a parse did: returned a result, or threw. */
type Outcome<R> = { threw: false; result: R } | { threw: true; error: unknown };

/** Per-case bounds other than the defaults. */
export interface Limits {
  maxAlloc?: number;
  maxOffset?: number;
}

/** Collects property violations of one group of cases; `done` fails the test listing them. */
export class Fuzz {
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
    const start = this.begin();
    let outcome: Outcome<R>;
    try {
      outcome = { threw: false, result: parse() };
    } catch (error) {
      outcome = { threw: true, error };
    }
    return this.judge(m, file, start, outcome, check, limits);
  }

  /** As run, for a parser that returns a promise (reads a file). */
  async runAsync<R>(m: Mutant, file: string, parse: () => Promise<R>, check: (r: R) => string | undefined, limits: Limits = {}): Promise<R | undefined> {
    const start = this.begin();
    const outcome = await parse().then(
      (result): Outcome<R> => ({ threw: false, result }),
      (error: unknown): Outcome<R> => ({ threw: true, error }),
    );
    return this.judge(m, file, start, outcome, check, limits);
  }

  private begin(): { t0: number; a0: number } {
    this.cases++;
    return { t0: performance.now(), a0: process.memoryUsage().arrayBuffers };
  }

  // Records what broke the property, if anything; returns the parse's result (undefined if it threw).
  private judge<R>(m: Mutant, file: string, start: { t0: number; a0: number }, o: Outcome<R>, check: (r: R) => string | undefined, limits: Limits): R | undefined {
    const ms = performance.now() - start.t0;
    const alloc = process.memoryUsage().arrayBuffers - start.a0;
    if (ms > this.maxMs) this.record(m, `took ${ms.toFixed(0)} ms (limit ${this.maxMs})`);
    const allowed = limits.maxAlloc ?? ALLOC_SLACK + ALLOC_FACTOR * m.bytes.length;
    if (alloc > allowed) this.record(m, `allocated ${alloc} bytes of ArrayBuffers for a ${m.bytes.length}-byte input (limit ${allowed})`);
    const outcome = !o.threw ? 'parsed' : o.error instanceof Error ? `${o.error.name}: ${template(o.error.message, file)}` : typeof o.error;
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    if (SHOW?.test(outcome)) console.log(`seed ${m.seed}: ${m.what}\n    → ${o.threw ? String(o.error) : 'parsed'}`);
    if (o.threw) {
      const why = errorProblem(o.error, file, limits.maxOffset ?? m.bytes.length);
      if (why) this.record(m, why);
      return undefined;
    }
    let why: string | undefined;
    try {
      why = check(o.result);
    } catch (e) {
      why = `consistency check threw ${String(e)}`;
    }
    if (why) this.record(m, `parsed, but inconsistently: ${why}`);
    return o.result;
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

/**
 * Logs what each group of cases in this file ran into (call from afterAll): counts, and with
 * FOVEA_FUZZ_STATS=1 how often each outcome came up.
 */
export function logSummary(): void {
  if (summary.length) console.log(`fuzz (base seed ${BASE_SEED}):\n  ${summary.join('\n  ')}`);
}

/** An error message with the file, quoted text and numbers blanked: which check threw. */
const template = (message: string, file: string) =>
  message.split(file).join('<file>').replace(/"(?:[^"\\]|\\.)*"(…)?( \(\d+ characters\))?/g, '"…"').replace(/0x[0-9a-fA-F]+/g, 'N').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/g, 'N').slice(0, 140);

/** Why a thrown value is not the error the property asks for, or undefined when it is. */
export function errorProblem(e: unknown, file: string, maxOffset = Infinity): string | undefined {
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
export function embed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 13).fill(0xee);
  out.set(bytes, 7);
  return out.subarray(7, 7 + bytes.length);
}

// ---------------------------------------------------------------------------------------------
// Values in messages, and the size of a shape.

/** A byte as 0xNN. */
export const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;
/** Bytes as [0xNN 0xNN …]. */
export const hexes = (bs: ArrayLike<number>) => `[${Array.from(bs, hex).join(' ')}]`;
/** The product of `xs`: the number of elements of a shape. */
export const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** A value for a message: JSON, with non-finite numbers and -0 spelt out, long ones cut. */
export function show(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? `<${x}>` : x)) ?? String(v);
  } catch {
    s = '<nested too deep to show>';
  }
  return s.length > 120 ? `${s.slice(0, 120)}… (${s.length} chars)` : s;
}
