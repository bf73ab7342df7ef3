// Test helpers: a seeded RNG, comparison with stated tolerances, central finite differences,
// and a shared runtime per test file (created on a real adapter; no adapter fails the file).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect } from 'vitest';
import { createRuntime, FileFormatError, grad, mul, ShapeError, sum, type Runtime, type RuntimeOptions, type Tensor } from '../src/index.js';
import { torchOps } from './oracle.js';

/** mulberry32: small, seeded, good enough for test data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  /** Values rounded to f32, so the GPU and the float64 reference see identical inputs. */
  array(n: number, lo = -1, hi = 1): Float64Array {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.fround(this.uniform(lo, hi));
    return a;
  }
}

export const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

/** Normwise relative error: max |a − e| / max |e| (the infinity-norm form). */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  if (Number.isNaN(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** Asserts shape of the data and normwise relative error ≤ tol, with a message naming the case. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i]!)) throw new Error(`${what}: element ${i} is ${actual[i]}`);
  }
  const err = relError(actual, expected);
  expect(err, `${what}: relative error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

/**
 * Asserts the arrays equal element by element (as toEqual does, -0 apart from 0), naming the first
 * difference and how many there are: vitest's diff of a million-element array takes minutes.
 */
export function expectSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let first = -1;
  let count = 0;
  for (let i = 0; i < actual.length; i++) {
    if (Object.is(actual[i], expected[i])) continue;
    if (first < 0) first = i;
    count++;
  }
  expect(first < 0 ? 'equal' : `${count} elements differ, the first [${first}]: ${actual[first]}, expected ${expected[first]}`, what).toBe('equal');
}

/**
 * Central finite differences of a scalar float64 function f at x, for every element of x
 * (or `sample` random elements of large inputs).
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-6, indices?: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of indices ?? x.keys()) {
    const xi = x[i]!;
    x[i] = xi + eps;
    const up = f(x);
    x[i] = xi - eps;
    const down = f(x);
    x[i] = xi;
    out.set(i, (up - down) / (2 * eps));
  }
  return out;
}

/** Asserts an analytic float64 gradient against central finite differences (at most `max` entries). */
export function expectGradMatchesFD(
  f: (x: Float64Array) => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  what: string,
  rng: Rng,
  max = 40,
): void {
  const indices = x.length <= max ? [...x.keys()] : Array.from({ length: max }, () => rng.int(0, x.length - 1));
  const fd = finiteDiff(f, x, 1e-6, indices);
  const a = indices.map((i) => analytic[i]!);
  const n = indices.map((i) => fd.get(i)!);
  const err = relError(a, n);
  expect(err, `${what}: analytic vs finite-difference gradient, relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(1e-6);
}

/** One runtime per test file, with freed-buffer poisoning on so lifetime bugs show as NaN. */
export function useRuntime(options: RuntimeOptions = { debug: { poisonFreed: true } }): () => Runtime {
  let rt: Runtime | undefined;
  beforeAll(async () => {
    rt = await createRuntime(options);
  });
  afterAll(() => rt?.dispose());
  return () => {
    if (!rt) throw new Error('runtime not created');
    return rt;
  };
}

/**
 * A runtime whose buffer bindings hold `bytes` at most (the device's limit, as seen by fovea):
 * the slicing of work too large for one binding is tested on small shapes, which run fast, on
 * any adapter.
 */
export function useRuntimeBindingAtMost(bytes: number): () => Runtime {
  const runtime = useRuntime();
  beforeAll(() => {
    const real = runtime().limits;
    const limits = new Proxy(real, { get: (t, k) => (k === 'maxStorageBufferBindingSize' ? bytes : Reflect.get(t, k)) });
    Object.defineProperty(runtime(), 'limits', { get: () => limits });
  });
  return runtime;
}

/**
 * A runtime that splits work as on a CPU adapter (software: true) or on a GPU (false),
 * whatever this adapter is: both partitions are checked on any adapter.
 */
export function useRuntimeSplittingAs(software: boolean): () => Runtime {
  const rt = useRuntime();
  beforeAll(() => {
    (rt().adapter as { software: boolean }).software = software;
  });
  return rt;
}

/**
 * A runtime on a device requested with no optional feature (no subgroups): the kernels that a
 * plain WebGPU device gets, whatever this adapter offers. `software` splits work as on a CPU
 * adapter (true) or a GPU (false) instead of as this adapter does.
 */
export function usePlainRuntime(software?: boolean): () => Runtime {
  let rt: Runtime | undefined;
  let device: GPUDevice | undefined;
  const held: unknown[] = []; // Dawn's GPU and adapter must outlive the device
  beforeAll(async () => {
    const { create } = await import('webgpu');
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    held.push(gpu, adapter);
    device = await adapter.requestDevice();
    rt = await createRuntime({ device, debug: { poisonFreed: true } });
    if (software !== undefined) (rt.adapter as { software: boolean }).software = software;
  });
  afterAll(() => {
    rt?.dispose();
    device?.destroy();
  });
  return () => {
    if (!rt) throw new Error('runtime not created');
    return rt;
  };
}

/** Sum of a · r over elements: the scalar whose gradient w.r.t. a is r. */
export function dot(a: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * r[i]!;
  return s;
}

/**
 * `y`'s values, and the gradients of Σ y·sin(k) with respect to `inputs`, against PyTorch's
 * (oracle.ts torchOps), each within its tolerance.
 */
export async function expectAsTorch(inputs: readonly Tensor[], y: Tensor, want: { y: number[]; grads: number[][] }, tol: { values: number; grads: number }, what: string): Promise<void> {
  expectClose(await y.read(), want.y, tol.values, `${what}: values`);
  const r = y.rt.tensor(f32(Array.from({ length: y.size }, (_, k) => Math.sin(k))), y.shape);
  const grads = grad(sum(mul(y, r)), [...inputs]);
  for (const [i, g] of grads.entries()) expectClose(await g!.read(), want.grads[i]!, tol.grads, `${what}: gradient of input ${i}`);
}

/**
 * For each case: inputs of `shapes(c)` drawn uniform in [−1, 1) (f32), `call` run on them in
 * PyTorch (oracle.ts torchOps, one Python run for all) and `gpu` here, values and gradients
 * compared (expectAsTorch).
 */
export async function expectOpAsTorch<C>(rt: Runtime, rng: Rng, cases: readonly C[], op: { shapes: (c: C) => number[][]; call: string; prelude?: string; gpu: (xs: Tensor[], c: C) => Tensor; label: (c: C) => string }, tol: { values: number; grads: number }): Promise<void> {
  const data = cases.map((c) => op.shapes(c).map((s) => f32(rng.array(s.reduce((a, b) => a * b, 1)))));
  const torch = torchOps(op.call, cases, cases.map((c, i) => data[i]!.map((v, j) => [v, op.shapes(c)[j]!] as const)), op.prelude);
  for (const [i, c] of cases.entries()) {
    const xs = data[i]!.map((v, j) => rt.tensor(v, op.shapes(c)[j]!));
    await expectAsTorch(xs, op.gpu(xs, c), torch[i]!, tol, op.label(c));
  }
}

/** Each call throws a ShapeError whose message matches its pattern. */
export function expectShapeErrors(cases: readonly (readonly [() => unknown, RegExp])[]): void {
  for (const [f, re] of cases) {
    expect(f).toThrow(ShapeError);
    expect(f).toThrow(re);
  }
}

/** Each of `want`'s tensors against `got`'s of the same name (a compiled run against the same work done eagerly). */
export async function expectSameOutputs(got: Readonly<Record<string, Tensor | undefined>>, want: Readonly<Record<string, Tensor>>, tol: number, what: string): Promise<void> {
  for (const [key, t] of Object.entries(want)) expectClose(await got[key]!.read(), await t.read(), tol, `${what}: ${key}`);
}

export interface OpCase {
  /** Label for messages. */
  name: string;
  /** Input shapes; f32 inputs get uniform values in [lo, hi]. */
  shapes: number[][];
  /** The op on GPU tensors. */
  gpu: (xs: Tensor[]) => Tensor;
  /** Float64 reference forward (flat, row-major). */
  ref: (xs: Float64Array[]) => Float64Array;
  /** Float64 analytic gradients of Σ out·r with respect to each differentiable input. */
  refGrad?: (xs: Float64Array[], r: Float64Array) => (Float64Array | null)[];
  /** Normwise relative tolerance of the forward and of the gradients. */
  tol: number;
  gradTol?: number;
  range?: [number, number];
  /** Inputs to differentiate (default: all). */
  wrt?: number[];
}

/**
 * The standard op check: forward against the float64 reference; the reference's analytic
 * gradient against central finite differences of the reference; the GPU gradient (seeded with
 * a random cotangent r) against the reference's analytic gradient.
 */
export async function checkOp(rt: Runtime, rng: Rng, c: OpCase): Promise<void> {
  const [lo, hi] = c.range ?? [-1, 1];
  const xs = c.shapes.map((s) => rng.array(s.reduce((a, b) => a * b, 1), lo, hi));
  const ts = xs.map((x, i) => rt.tensor(f32(x), c.shapes[i]!));
  const out = c.gpu(ts);
  const expected = c.ref(xs);
  expectClose(await out.read(), expected, c.tol, `${c.name} forward`);
  if (!c.refGrad) return;
  const r = rng.array(expected.length);
  const wrt = c.wrt ?? xs.map((_, i) => i);
  const analytic = c.refGrad(xs, r);
  const gpuGrads = grad(out, wrt.map((i) => ts[i]!), rt.tensor(f32(r), out.shape));
  for (const [k, i] of wrt.entries()) {
    const an = analytic[i];
    if (!an) throw new Error(`${c.name}: reference gives no gradient for input ${i}`);
    expectGradMatchesFD((x) => dot(c.ref(xs.map((v, j) => (j === i ? x : v))), r), xs[i]!, an, `${c.name} d/dx${i} (reference)`, rng);
    expectClose(await gpuGrads[k]!.read(), an, c.gradTol ?? c.tol, `${c.name} d/dx${i}`);
  }
}

/** A full garbage collection, then the finalizers it queued (they run as tasks after it). */
export async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `f` and returns the error of class `cls` it throws (failing the test if it throws anything else). */
export function thrown<E extends Error>(f: () => unknown, cls: new (...args: never[]) => E): E {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    return e as E;
  }
  throw new Error(`expected a ${cls.name}, nothing was thrown`);
}

/** Runs `f` and returns the FileFormatError it throws. */
export const formatError = (f: () => unknown): FileFormatError => thrown(f, FileFormatError);

/** Seeds of a randomised test from a list of numbers and ranges (`7,300-399`): the environment variable's, else `fallback`'s. */
export function seedList(spec: string | undefined, fallback: string): number[] {
  return (spec || fallback).split(',').flatMap((part) => {
    const [a, b = a] = part.split('-').map(Number) as [number, number?];
    return Array.from({ length: b! - a + 1 }, (_, i) => a + i);
  });
}

/** An error as a randomised test reports it: its class and message. */
export const errorText = (e: unknown): string => (e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e));
