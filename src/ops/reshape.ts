// reshape: a view with a new shape over the same buffer (no kernel, no copy).
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { fmt, numel, type Shape } from '../runtime/shape.js';

export const reshapeOp = defineOp<{ shape: Shape }>({
  name: 'reshape',
  infer([x], { shape }) {
    return { shape, dtype: x!.dtype };
  },
  backward: (g, { inputs: [x] }) => [g.reshape(...x!.shape)],
});

/** detach() of a lazy value: the same values, a view (no kernel, no copy), no gradient through it. */
export const detachOp = defineOp<object>({
  name: 'detach',
  detaches: true,
  infer: ([x]) => ({ shape: x!.shape, dtype: x!.dtype }),
  backward: { notDifferentiable: 'detach() stops gradients' }, // never asked: autograd does not pass it
});

/** Resolves one -1 and checks the element count; used by Tensor.reshape. */
export function resolveShape(from: Shape, to: readonly number[]): number[] {
  const holes = to.filter((d) => d === -1).length;
  if (holes > 1 || to.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new ShapeError('reshape', `invalid target shape ${fmt(to)}`, [from, to]);
  }
  const known = to.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = numel(from);
  // With a 0 among the other sizes, -1 could be anything (PyTorch refuses it too).
  if (holes && known === 0) throw new ShapeError('reshape', `cannot infer the -1 of ${fmt(to)}: another size is 0`, [from, to]);
  const out = to.map((d) => (d === -1 ? total / known : d));
  if (numel(out) !== total || out.some((d) => !Number.isInteger(d))) {
    throw new ShapeError('reshape', `cannot reshape ${fmt(from)} (${total} elements) to ${fmt(to)}`, [from, to]);
  }
  return out;
}
