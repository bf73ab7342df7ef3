// Plain (nested) arrays of numbers as tensor data, as torch.tensor([[1, 2], [3, 4]]) takes
// them: the shape is the nesting, which must be rectangular, and every leaf a number.
import { fromNumbers, type DType, type HostArray } from './dtype.js';
import { ShapeError } from './errors.js';
import { fmt, sameShape, type Shape } from './shape.js';

/** Arbitrarily nested arrays of numbers. */
export type NestedNumbers = readonly (number | NestedNumbers)[];

/** The row-major values and the shape of a nested array; anything ragged or not a number is refused. */
export function flattenNested(data: NestedNumbers, what: string): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) shape.push(level.length);
  const values: number[] = [];
  const path: number[] = []; // indices down to the element being read, for error messages
  const at = () => path.map((i) => `[${i}]`).join('');
  const walk = (a: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof a !== 'number') throw new ShapeError(what, `element ${at() || '[]'} is ${Array.isArray(a) ? 'an array' : typeof a}, not a number`);
      values.push(a);
      return;
    }
    if (!Array.isArray(a) || a.length !== shape[depth]) {
      throw new ShapeError(what, `ragged data: ${at() || 'the top level'} has ${Array.isArray(a) ? `${a.length} entries` : 'a number'} where [${shape.join(', ')}] needs ${shape[depth]}`);
    }
    for (let i = 0; i < a.length; i++) {
      path.push(i);
      walk(a[i], depth + 1);
      path.pop();
    }
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * Data for a tensor of `shape` and `dtype` (`target` says which, in errors): a typed array as
 * it is, or plain numbers nested as the shape, or flat, or one number, converted to the dtype.
 */
export function hostValues(data: HostArray | NestedNumbers | number, shape: Shape, dtype: DType, what: string, target: string): HostArray {
  if (!Array.isArray(data) && typeof data !== 'number') return data as HostArray;
  const plain = flattenNested(data as NestedNumbers, what);
  if (plain.shape.length > 1 && !sameShape(plain.shape, shape)) {
    throw new ShapeError(what, `${target} takes values nested as its shape, or flat; got ${fmt(plain.shape)}`, [shape, plain.shape]);
  }
  return fromNumbers(dtype, plain.values, `${what}: ${target}`);
}
