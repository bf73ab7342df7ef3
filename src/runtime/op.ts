// The contract every op implements: shape inference (throws before any dispatch), the kernel
// dispatches that compute it, and its gradient rule, side by side in src/ops/<op>.ts.
import type { DType } from './dtype.js';
import { FoveaError } from './errors.js';
import type { Shape } from './shape.js';
import type { ParamValues } from './shaders.js';
import type { Tensor } from './tensor.js';

export interface TensorType {
  shape: Shape;
  dtype: DType;
}

/** One compute dispatch: a shader entry point, its constants, params and tensor bindings. */
export interface DispatchSpec {
  /** File name under shaders/. */
  shader: string;
  /** Entry point; defaults to `main`. */
  entry?: string;
  /** Values of the shader's `override` declarations (workgroup and tile sizes, modes). */
  constants?: Readonly<Record<string, number>>;
  /** Values of the shader's `struct Params`, bound as the `params` uniform. */
  params?: ParamValues;
  /** Tensor for each storage binding of the shader, by the name the WGSL declares. */
  bindings: Readonly<Record<string, Tensor>>;
  workgroups: readonly [number, number?, number?];
}

/** What an op's encode() gets: the device limits, and a way to emit dispatches. */
export interface EncodeContext {
  readonly limits: GPUSupportedLimits;
  dispatch(d: DispatchSpec): void;
}

/** What a gradient rule gets besides the output's gradient: the op's inputs, output and attributes. */
export interface BackwardContext<A> {
  inputs: readonly Tensor[];
  out: Tensor;
  attrs: A;
  /** needs[i]: whether the gradient of inputs[i] is wanted; return null where it is not. */
  needs: readonly boolean[];
}

/** Gradients of the inputs given the gradient of the output (built from ops, so lazily). */
export type BackwardRule<A> = (grad: Tensor, ctx: BackwardContext<A>) => readonly (Tensor | null)[];

/** Marks an op without a gradient, with the reason given to whoever tries to differentiate it. */
export interface NotDifferentiable {
  notDifferentiable: string;
}

/** An op applied to inputs, as recorded in the graph. */
export interface OpCall<A = unknown> {
  def: OpDef<A>;
  inputs: readonly Tensor[];
  attrs: A;
}

/** An op: shape inference, the kernel dispatches that compute it, its gradient rule (see defineOp). */
export interface OpDef<A = unknown> {
  readonly name: string;
  infer(inputs: readonly Tensor[], attrs: A): TensorType;
  /** Emits the dispatches; absent for ops whose output aliases input 0's buffer (reshape). */
  encode?(ctx: EncodeContext, inputs: readonly Tensor[], out: Tensor, attrs: A): void;
  readonly backward: BackwardRule<A> | NotDifferentiable;
  /**
   * @internal Stops gradients, as detach(): no gradient passes it, and once realised it forgets
   * what it was computed from (so a loop carrying a detached value keeps no history).
   */
  readonly detaches?: boolean;
  /**
   * Kernel fusion: when this op's output is read only by `consumer` (an elementwise op over it,
   * through `via`), the op may compute the consumer's result itself. Returns the attrs that make
   * its kernel do so, or undefined. The planner then skips the consumer's kernel and the
   * intermediate buffer; values are unchanged.
   */
  absorb?(self: OpCall<A>, consumer: OpCall<any>, via: Tensor): A | undefined;
}

/** An in-place update (optimizer step): runs after every other read of the tensors it writes. */
export interface EffectDef<A = unknown> {
  readonly name: string;
  /** Throws where the inputs or attrs are wrong, when the update is asked for (before anything runs). */
  check?(inputs: readonly Tensor[], attrs: A): void;
  encode(ctx: EncodeContext, inputs: readonly Tensor[], attrs: A): void;
  /** Indices of the inputs written in place. */
  writes(attrs: A): readonly number[];
  /** Called on the host before every run that includes the effect (e.g. to upload a step count). */
  beforeRun?(inputs: readonly Tensor[], attrs: A): void;
}

/**
 * Declares an op (record it with `rt.record(def, inputs, attrs)`), checking the definition's
 * shape for JavaScript callers: a name, infer, encode if any, and backward as a rule or
 * `{ notDifferentiable: why }`.
 */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  const d = def as Partial<OpDef<A>> | null | undefined;
  const name = typeof d?.name === 'string' && d.name ? d.name : undefined;
  const fail = (why: string) => new FoveaError(`defineOp${name ? ` '${name}'` : ''}: ${why}`);
  if (!name) throw fail('needs a name (a non-empty string)');
  if (typeof d!.infer !== 'function') throw fail('needs infer(inputs, attrs), the shape rule');
  if (d!.encode !== undefined && typeof d!.encode !== 'function') throw fail('encode must be a function');
  const b = d!.backward as unknown;
  const notDiff = typeof b === 'object' && b !== null && typeof (b as NotDifferentiable).notDifferentiable === 'string';
  if (typeof b !== 'function' && !notDiff) throw fail("needs backward: a gradient rule, or { notDifferentiable: 'why' }");
  return def;
}

/** Declares an in-place update (record it with `rt.effect(def, inputs, attrs)`). */
export function defineEffect<A>(def: EffectDef<A>): EffectDef<A> {
  return def;
}
