// Comparisons (eq, ne, lt, le, gt, ge) and where: masks and choices, as PyTorch's a == b and
// torch.where. A comparison gives f32 1 or 0 (PyTorch's bool as .float(): `mean(eq(argmax(logits),
// labels))` is the accuracy), of two f32 or two i32 operands, broadcasting; it has no gradient,
// as PyTorch's bool has none. where(cond, a, b) picks a where cond is not 0, else b, all three
// broadcast; its gradient goes to a and b where each was picked.
import { runtimeOf } from '../runtime/args.js';
import { strideGrid } from '../runtime/device.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type OpDef } from '../runtime/op.js';
import { broadcastShapes, fmt, sameShape, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { dims, kernelFn, MAX_RANK, walked } from './elementwise.js';
import { sumTo } from './reduce.js';

const WG = 256;

type Comparison = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

/** The broadcast shape of `shapes`, refused past the kernels' MAX_RANK runs of axes. */
function broadcastAll(op: string, shapes: readonly Shape[]): Shape {
  const shape = shapes.reduce<Shape | undefined>((s, t) => (s && broadcastShapes(s, t)) ?? undefined, []);
  const all = shapes.map(fmt).join(', ');
  if (!shape) throw new ShapeError(op, `shapes ${all} do not broadcast`, [...shapes]);
  if (walked(shapes, shape).rank > MAX_RANK) {
    throw new ShapeError(op, `shapes ${all} alternate between broadcast and not over more than the supported ${MAX_RANK} runs of axes`, [...shapes]);
  }
  return shape;
}

function compareOp(name: Comparison): OpDef<object> {
  kernelFn('binary.wgsl', name);
  return defineOp({
    name,
    infer([a, b]) {
      if (a!.dtype !== b!.dtype || (a!.dtype !== 'f32' && a!.dtype !== 'i32')) {
        throw new ShapeError(name, `compares two f32 or two i32 tensors, got ${a!.dtype} and ${b!.dtype}`, [a!.shape, b!.shape]);
      }
      return { shape: broadcastAll(name, [a!.shape, b!.shape]), dtype: 'f32' };
    },
    encode(ctx, [a, b], out) {
      const broadcast = !(sameShape(a!.shape, out.shape) && sameShape(b!.shape, out.shape));
      const w = walked([a!.shape, b!.shape], out.shape);
      const ints = a!.dtype === 'i32';
      ctx.dispatch({
        shader: 'binary.wgsl',
        entry: ints ? 'ints' : 'main',
        constants: { WG, BROADCAST: broadcast ? 1 : 0, FN: kernelFn('binary.wgsl', name) },
        params: { n: out.size, rank: w.rank, shape: dims(w.shape), a_strides: dims(w.strides[0]!), b_strides: dims(w.strides[1]!) },
        bindings: ints ? { a_ints: a!, b_ints: b!, out } : { a: a!, b: b!, out },
        workgroups: strideGrid(a!.rt.adapter, out.size, WG),
      });
    },
    // A mask, as PyTorch's bool: no gradient passes, and grad() of a mask alone is refused, as
    // PyTorch's is, not answered with zeros.
    backward: (_g, { inputs }) => inputs.map(() => null),
    detaches: true,
  });
}

export const eqOp = compareOp('eq');
export const neOp = compareOp('ne');
export const ltOp = compareOp('lt');
export const leOp = compareOp('le');
export const gtOp = compareOp('gt');
export const geOp = compareOp('ge');

/** The operands as tensors: a number beside a tensor becomes a scalar of its dtype (an integer for i32). */
function operands(op: string, a: Tensor | number, b: Tensor | number): [Tensor, Tensor] {
  const given = { a, b } as Record<string, Tensor | number>;
  const tensors = Object.fromEntries(Object.entries(given).filter(([, v]) => typeof v !== 'number')) as Record<string, Tensor>;
  if (!Object.keys(tensors).length) throw new TypeError(`${op}: a or b must be a Tensor, got the numbers ${String(a)} and ${String(b)}`);
  const rt = runtimeOf(op, tensors);
  const like = (tensors.a ?? tensors.b)!;
  const scalar = (c: number): Tensor => {
    if (like.dtype === 'i32') {
      if (!Number.isInteger(c) || c < -(2 ** 31) || c >= 2 ** 31) throw new ShapeError(op, `compares ${like.describe()} with the number ${c}, which is no i32`, [like.shape]);
      return rt.constant(`the i32 ${c} given as an operand`, [], () => Int32Array.of(c), 'i32');
    }
    return rt.scalar(c);
  };
  return [typeof a === 'number' ? scalar(a) : a, typeof b === 'number' ? scalar(b) : b];
}

const comparison = (def: OpDef<object>) => (a: Tensor | number, b: Tensor | number): Tensor => {
  const [x, y] = operands(def.name, a, b);
  return x.rt.record(def, [x, y], {});
};

/** a == b elementwise as f32 1 or 0 (PyTorch's bool as .float()), broadcasting; two f32 or two i32 operands, either may be a number. NaN equals nothing. */
export const eq = comparison(eqOp);
/** a != b elementwise as f32 1 or 0, as eq; NaN differs from everything. */
export const ne = comparison(neOp);
/** a < b elementwise as f32 1 or 0, as eq. */
export const lt = comparison(ltOp);
/** a ≤ b elementwise as f32 1 or 0, as eq. */
export const le = comparison(leOp);
/** a > b elementwise as f32 1 or 0, as eq. */
export const gt = comparison(gtOp);
/** a ≥ b elementwise as f32 1 or 0, as eq. */
export const ge = comparison(geOp);

export const whereOp: OpDef<object> = defineOp({
  name: 'where',
  infer([cond, a, b]) {
    if (cond!.dtype !== 'f32' || a!.dtype !== 'f32' || b!.dtype !== 'f32') {
      throw new ShapeError('where', `takes an f32 condition (a mask such as eq's) and f32 values, got ${cond!.dtype}, ${a!.dtype} and ${b!.dtype}`, [cond!.shape, a!.shape, b!.shape]);
    }
    return { shape: broadcastAll('where', [cond!.shape, a!.shape, b!.shape]), dtype: 'f32' };
  },
  encode(ctx, [cond, a, b], out) {
    const w = walked([cond!.shape, a!.shape, b!.shape], out.shape);
    ctx.dispatch({
      shader: 'where.wgsl',
      constants: { WG },
      params: { n: out.size, rank: w.rank, shape: dims(w.shape), cond_strides: dims(w.strides[0]!), a_strides: dims(w.strides[1]!), b_strides: dims(w.strides[2]!) },
      bindings: { cond: cond!, a: a!, b: b!, out },
      workgroups: strideGrid(a!.rt.adapter, out.size, WG),
    });
  },
  // g where each was picked, summed back to its shape; the condition gets none.
  backward: (g, { inputs: [cond, a, b], needs }) => [
    null,
    needs[1] ? sumTo(where(cond!, g, 0), a!.shape) : null,
    needs[2] ? sumTo(where(cond!, 0, g), b!.shape) : null,
  ],
});

/**
 * a where `cond` is not 0 (NaN counts as true, as bool(nan) in Python), else b, broadcasting all
 * three, as torch.where(cond != 0, a, b): `where(gt(x, 0), x, 0)`. a and b may be numbers.
 * Differentiable for a and b: each gets the gradient where it was picked.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const rt = runtimeOf('where', { cond, ...(typeof a === 'number' ? {} : { a }), ...(typeof b === 'number' ? {} : { b }) });
  const value = (v: Tensor | number) => (typeof v === 'number' ? rt.scalar(v) : v);
  return rt.record(whereOp, [cond, value(a), value(b)], {});
}
