// Elementwise ops: binary with NumPy broadcasting (add, sub, mul, div) and unary (relu, affine),
// and the kernel families (binary.wgsl, unary.wgsl) that math.ts's ops use too. Gradients of
// broadcast operands are summed back to their shapes.
import { checkTensor, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type OpDef } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { strideGrid } from '../runtime/device.js';
import { broadcastShapes, fmt, sameShape, stridesOf, type Shape } from '../runtime/shape.js';
import { shaderInfo } from '../runtime/shaders.js';
import type { Tensor } from '../runtime/tensor.js';
import { sumTo } from './reduce.js';

const WG = 256;
/** The most runs of axes the kernels' fixed per-dimension arrays (array<vec4<u32>, 2>) hold. */
export const MAX_RANK = 8;

/** Pads a list of per-dimension values to the shaders' fixed array<vec4<u32>, 2>. */
export function dims(values: readonly number[]): number[] {
  return [...values, ...new Array<number>(MAX_RANK - values.length).fill(0)];
}

type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'relu_grad' | 'maximum' | 'minimum' | 'max_share' | 'bce' | 'bce_grad';

/**
 * The FN constant of function `fn` in `shader` (binary.wgsl, unary.wgsl: e.g. FN_EXP for 'exp'),
 * the override constant that picks it. A function the shader lacks throws, as the op is defined.
 */
export function kernelFn(shader: 'binary.wgsl' | 'unary.wgsl', fn: string): number {
  const value = shaderInfo(shader).consts[`FN_${fn.toUpperCase()}`];
  if (value === undefined) throw new Error(`${shader} declares no FN_${fn.toUpperCase()}`);
  return value;
}

/** `relu`: a following ReLU computed in the store (set by absorb, in a plan only). */
export type BinaryAttrs = { relu?: boolean };

export function binaryOp(name: BinaryFn, backward: OpDef<BinaryAttrs>['backward']): OpDef<BinaryAttrs> {
  kernelFn('binary.wgsl', name);
  return defineOp<BinaryAttrs>({
    name,
    infer([a, b]) {
      if (a!.dtype !== 'f32' || b!.dtype !== 'f32') throw new ShapeError(name, `needs f32 tensors, got ${a!.dtype} and ${b!.dtype}`);
      const shape = broadcastShapes(a!.shape, b!.shape);
      if (!shape) throw new ShapeError(name, `shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} do not broadcast`, [a!.shape, b!.shape]);
      const rank = broadcastRuns(a!.shape, b!.shape, shape);
      if (rank > MAX_RANK) {
        throw new ShapeError(name, `shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} alternate between broadcast and not over ${rank} runs of axes, more than the supported ${MAX_RANK}`, [a!.shape, b!.shape]);
      }
      return { shape, dtype: 'f32' };
    },
    encode(ctx, [a, b], out, { relu }) {
      const broadcast = !(sameShape(a!.shape, out.shape) && sameShape(b!.shape, out.shape));
      const w = walked([a!.shape, b!.shape], out.shape);
      ctx.dispatch({
        shader: 'binary.wgsl',
        constants: { WG, BROADCAST: broadcast ? 1 : 0, FN: kernelFn('binary.wgsl', name), ...(relu ? { RELU: 1 } : {}) },
        params: { n: out.size, rank: w.rank, shape: dims(w.shape), a_strides: dims(w.strides[0]!), b_strides: dims(w.strides[1]!) },
        bindings: { a: a!, b: b!, out },
        workgroups: strideGrid(a!.rt.adapter, out.size, WG),
      });
    },
    // A residual add (or any of these) followed by a ReLU: rectified in the store. No gradient
    // here reads the pre-activation but div's, which then reads it besides the ReLU: no fusion.
    absorb: (self, consumer) => (consumer.def === reluOp && !self.attrs.relu ? { ...self.attrs, relu: true } : undefined),
    backward,
  });
}

/**
 * The output shape and each operand's strides as a kernel walks them: axes of size 1 left out,
 * and adjacent axes merged where each operand steps through both alike (both broadcast, or
 * both its own, hence contiguous). Any rank whose broadcasting alternates at most MAX_RANK
 * times fits the kernels' fixed arrays.
 */
export function walked(operands: readonly Shape[], out: Shape): { rank: number; shape: number[]; strides: number[][] } {
  const own = operands.map((s) => broadcastStrides(s, out));
  const w = { rank: 0, shape: [] as number[], strides: operands.map(() => [] as number[]) };
  out.forEach((d, i) => {
    if (d === 1) return;
    const last = w.rank - 1;
    if (last >= 0 && own.every((s, k) => (w.strides[k]![last] === 0) === (s[i] === 0))) {
      w.shape[last]! *= d;
      own.forEach((s, k) => (w.strides[k]![last] = s[i]!));
    } else {
      w.rank = w.shape.push(d);
      own.forEach((s, k) => w.strides[k]!.push(s[i]!));
    }
  });
  return w;
}

/** The runs of axes binary.wgsl walks to broadcast a and b to out (at most MAX_RANK). */
export const broadcastRuns = (a: Shape, b: Shape, out: Shape = b): number => walked([a, b], out).rank;

/** Strides of `shape` read as `outShape` (right-aligned); broadcast dimensions get stride 0. */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : own[d - lead]!));
}

export const addOp = binaryOp('add', (g, { inputs: [a, b], needs }) => [
  needs[0] ? sumTo(g, a!.shape) : null,
  needs[1] ? sumTo(g, b!.shape) : null,
]);

export const subOp = binaryOp('sub', (g, { inputs: [a, b], needs }) => [
  needs[0] ? sumTo(g, a!.shape) : null,
  needs[1] ? sumTo(scale(g, -1), b!.shape) : null,
]);

export const mulOp = binaryOp('mul', (g, { inputs: [a, b], needs }) => [
  needs[0] ? sumTo(mul(g, b!), a!.shape) : null,
  needs[1] ? sumTo(mul(g, a!), b!.shape) : null,
]);

// ∂/∂b = −g · (a / b) / b, the quotient reused: as PyTorch, without b² (which overflows sooner).
export const divOp = binaryOp('div', (g, { inputs: [a, b], out, needs }) => [
  needs[0] ? sumTo(div(g, b!), a!.shape) : null,
  needs[1] ? sumTo(scale(mul(g, div(out, b!)), -1), b!.shape) : null,
]);

// relu_grad(y, g) = g where y > 0: linear in g, and flat in y (its derivative is 0 almost
// everywhere), so a second derivative through a ReLU is a ReLU gradient again.
export const reluGradOp = binaryOp('relu_grad', (gg, { inputs: [y], needs }) => [null, needs[1] ? y!.rt.record(reluGradOp, [y!, gg], {}) : null]);

const OPERAND = 'a Tensor or a number';

/**
 * Records a binary op. A number for one operand, as PyTorch takes `1 - x` or `x / 2`, becomes an
 * f32 scalar of the other's runtime, broadcast by the same kernel: the values are torch's.
 */
export function binary(def: OpDef<object>, a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === 'number' && typeof b !== 'number') {
    checkTensor(def.name, 'b', b, OPERAND);
    return b.rt.record(def, [scalarBeside(def.name, b, a), b], {});
  }
  if (typeof b === 'number' && typeof a !== 'number') {
    checkTensor(def.name, 'a', a, OPERAND);
    return a.rt.record(def, [a, scalarBeside(def.name, a, b)], {});
  }
  if (typeof a === 'number') throw new TypeError(`${def.name}: a or b must be a Tensor, got the numbers ${a} and ${String(b)}`);
  checkTensor(def.name, 'a', a, OPERAND);
  checkTensor(def.name, 'b', b, OPERAND);
  return a.rt.record(def, [a, b], {});
}

// The number c as an f32 scalar beside tensor t; an integer t is named with the number, not
// with an f32 tensor the caller never gave.
function scalarBeside(op: string, t: Tensor, c: number): Tensor {
  if (t.dtype !== 'f32') throw new ShapeError(op, `needs f32 tensors, got ${t.describe()} and the number ${c}`, [t.shape]);
  return t.rt.scalar(c);
}

/** a + b, broadcasting; either may be a number. */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary(addOp, a, b);
/** a − b, broadcasting; either may be a number. */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary(subOp, a, b);
/** a · b elementwise, broadcasting; either may be a number. */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary(mulOp, a, b);
/** a / b elementwise, broadcasting; either may be a number. */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary(divOp, a, b);


type AffineAttrs = { alpha: number; beta: number };

/** What a unary op's kernel is given: the function it applies (its FN_ name in unary.wgsl) and the uniforms alpha and beta. */
export type Uniforms = { fn: string; alpha: number; beta: number };

// By default the function named as the op, with alpha and beta from attributes of those names (affine's).
export function unaryOp<A extends object>(
  name: string,
  backward: OpDef<A>['backward'],
  uniforms: (attrs: A) => Uniforms = (attrs) => {
    const { alpha = 0, beta = 0 } = attrs as { alpha?: number; beta?: number };
    return { fn: name, alpha, beta };
  },
): OpDef<A> {
  kernelFn('unary.wgsl', name); // a function the shader lacks fails here, as the module loads
  return defineOp<A>({
    name,
    infer([x]) {
      if (x!.dtype !== 'f32') throw new ShapeError(name, `needs an f32 tensor, got ${x!.dtype}`, [x!.shape]);
      return { shape: x!.shape, dtype: 'f32' };
    },
    encode(ctx, [x], out, attrs) {
      const { fn, alpha, beta } = uniforms(attrs);
      ctx.dispatch({
        shader: 'unary.wgsl',
        constants: { WG, FN: kernelFn('unary.wgsl', fn) },
        params: { n: out.size, alpha, beta },
        bindings: { x: x!, out },
        workgroups: strideGrid(x!.rt.adapter, out.size, WG),
      });
    },
    backward,
  });
}

// The gradient masks by the output (y > 0 exactly where x > 0), so the pre-activation is read
// by nothing but the relu and a producer can absorb the relu (see OpDef.absorb).
export const reluOp = unaryOp<AffineAttrs>('relu', (g, { out }) => [out.rt.record(reluGradOp, [out, g], {})]);

export const affineOp = unaryOp<AffineAttrs>('affine', (g, { attrs }) => [scale(g, attrs.alpha)], ({ alpha, beta }) => ({ fn: beta === 0 ? 'scale' : 'affine', alpha, beta }));

/** max(x, 0). */
export const relu = (x: Tensor): Tensor => runtimeOf('relu', { x }).record(reluOp, [x], { alpha: 1, beta: 0 });

// A factor that is no number (left out, or a string) would reach the kernel's uniform as such.
export function factor(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${op}: ${name} must be a number, got ${shown(v)}`);
  return v;
}

/** alpha · x + beta. */
export const affine = (x: Tensor, alpha: number, beta = 0): Tensor =>
  runtimeOf('affine', { x }).record(affineOp, [x], { alpha: factor('affine', 'alpha', alpha), beta: factor('affine', 'beta', beta) });

/** c · x. */
export const scale = (x: Tensor, c: number): Tensor => runtimeOf('scale', { x }).record(affineOp, [x], { alpha: factor('scale', 'the factor', c), beta: 0 });

/** −x. */
export const neg = (x: Tensor): Tensor => runtimeOf('neg', { x }).record(affineOp, [x], { alpha: -1, beta: 0 });
