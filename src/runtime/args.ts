// Tensor arguments as plain JavaScript passes them: no type checker stops a number, a typed
// array or a forgotten argument there, and an op would fail on it with an internal TypeError
// ("reading 'rt'"). Op functions check their tensor arguments here before reading them.
import type { Runtime } from './runtime.js';
import { Tensor } from './tensor.js';

/** A value given where a Tensor was expected, as an error message shows it, with a way to get a tensor of it. */
export function given(v: unknown): string {
  if (typeof v === 'number') return `the number ${v} (rt.tensor(${v}) makes a tensor of it; add, sub, mul, div, maximum and minimum take a number for either operand)`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'boolean' || typeof v === 'bigint') return `the ${typeof v} ${String(v)}`;
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}`;
  if (typeof v !== 'object' || v === null) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length} (rt.tensor() makes a tensor of nested numbers)`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of length ${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength} (rt.tensor(data, shape) uploads it)`;
  if (typeof (v as { then?: unknown }).then === 'function') return 'a Promise (await it first)';
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

// The errors of arguments that were undefined: what an input read without a spec gives.
const undefinedArguments = new WeakSet<Error>();

/** Whether `e` is an op's refusal of an undefined argument (compile then names inputs read without a spec). */
export function isUndefinedArgument(e: unknown): boolean {
  return e instanceof TypeError && undefinedArguments.has(e);
}

/** Refuses a non-Tensor `name` argument of `op`: a TypeError naming both, what it takes and what was given. */
export function checkTensor(op: string, name: string, v: unknown, takes = 'a Tensor'): asserts v is Tensor {
  if (v instanceof Tensor) return;
  const e = new TypeError(`${op}: ${name} must be ${takes}, got ${given(v)}`);
  if (v === undefined) undefinedArguments.add(e);
  throw e;
}

/**
 * The runtime of `op`'s tensor arguments (by name, in order), after checking that each is a
 * Tensor. A tensor of another runtime is refused where the op is recorded.
 */
export function runtimeOf(op: string, args: Record<string, unknown>): Runtime {
  let rt: Runtime | undefined;
  for (const name in args) {
    const v = args[name];
    checkTensor(op, name, v);
    rt ??= v.rt;
  }
  return rt!;
}

/** Refuses an `rt` argument of `op` that is not a Runtime (a TypeError, as checkTensor's). */
export function checkRuntime(op: string, v: unknown): asserts v is Runtime {
  if (typeof (v as Partial<Runtime> | undefined)?.record === 'function' && typeof (v as Partial<Runtime>).tensor === 'function') return;
  const e = new TypeError(`${op}: rt must be a Runtime (from createRuntime()), got ${given(v)}`);
  if (v === undefined) undefinedArguments.add(e);
  throw e;
}

/** Refuses a `name` argument of `op` that is not an array of Tensors, naming the first element that is not one. */
export function checkTensors(op: string, name: string, v: unknown): asserts v is readonly Tensor[] {
  if (!Array.isArray(v)) throw new TypeError(`${op}: ${name} must be an array of Tensors, got ${given(v)}`);
  // The name of an element is built only for the error: record() checks its inputs on every op.
  for (let i = 0; i < v.length; i++) if (!(v[i] instanceof Tensor)) checkTensor(op, `${name}[${i}]`, v[i]);
}
