// Shape helpers shared by ops and the scheduler.
import { ShapeError } from './errors.js';
import { shown } from './options.js';

/** Dimensions of a tensor, outermost first (row-major). */
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Row-major strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Validates a user-given shape: non-negative integers. Returns a frozen copy. */
export function checkShape(shape: Shape, where: string): Shape {
  if (typeof shape !== 'object' || shape === null || typeof (shape as Iterable<number>)[Symbol.iterator] !== 'function') {
    // An options object in the shape's place (rt.zeros({ dtype })) is the likely mistake.
    const got = typeof shape === 'string' ? JSON.stringify(shape) : typeof shape === 'object' && shape !== null ? 'an object (options go after the shape)' : String(shape);
    throw new RangeError(`${where}: a shape is an array of sizes, got ${got}`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${where}: invalid shape ${fmt(shape)}`);
  }
  return Object.freeze([...shape]);
}

/** Normalises a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number, where: string, scalarAxis = false): number {
  if (!Number.isInteger(axis)) throw new ShapeError(where, `axis ${shown(axis)} is not an integer`);
  // Where `scalarAxis`, a 0-d tensor takes axis 0 or -1, as PyTorch wraps dims of scalars.
  if (scalarAxis && rank === 0) {
    if (axis === 0 || axis === -1) return 0;
    throw new ShapeError(where, `axis ${axis} out of range for a 0-d tensor (it takes 0 or -1)`);
  }
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeError(where, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** NumPy broadcasting of two shapes, or null when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * How many invocations share each line of `len` values along an axis (shaders/lib/lines.wgsl's
 * TEAM), and the workgroup size: one per line up to 32 values, then one per 32 values up to 256.
 */
export function lineTeam(len: number): { team: number; wg: number } {
  const team = Math.min(256, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(len / 32)))));
  return { team, wg: Math.max(64, team) };
}

/** Workgroup counts covering n items, `perGroup` per workgroup, split over y beyond the x limit. */
export function grid1d(n: number, perGroup: number, maxX = 65535): [number, number, number] {
  const groups = ceilDiv(n, perGroup);
  if (groups <= maxX) return [groups, 1, 1];
  return [maxX, ceilDiv(groups, maxX), 1];
}
