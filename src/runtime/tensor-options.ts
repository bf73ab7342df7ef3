// The options of tensors made from the host (rt.tensor, zeros, ones, full, empty), as plain
// JavaScript passes them: a shape, a dtype or an options object may stand in the same place, and
// an option the call does not take is refused by name.
import { checkDType, type DType } from './dtype.js';
import { ShapeError } from './errors.js';
import { checkOptionNames } from './options.js';
import type { Shape } from './shape.js';

/** Options of tensors created from the host (`rt.tensor`, `rt.zeros`, ...); any other is a ShapeError. */
export interface TensorOptions {
  /** Element type (default: the typed array's, or f32 for plain numbers and zeros/ones/full). */
  dtype?: DType;
  /** Whether backward() computes a gradient for it (default false). */
  requiresGrad?: boolean;
  /** Shown in error messages and used as the parameter name in checkpoints. */
  name?: string;
}

// TensorOptions as a table, so that an option left out of it fails tsc.
const TENSOR_OPTIONS = Object.keys({ dtype: true, requiresGrad: true, name: true } satisfies Record<keyof TensorOptions, true>);

/** Options of `rt.zeros`, `ones`, `full` and `empty`, whose dtype is an argument of its own. */
export type FilledOptions = Omit<TensorOptions, 'dtype'>;

function checkFilledOptions(what: string, opts: FilledOptions): void {
  const known = TENSOR_OPTIONS.filter((k) => k !== 'dtype');
  const hint = (opts as TensorOptions | null)?.dtype !== undefined ? `: the dtype is an argument of ${what}(), before the options` : '';
  checkOptionNames(opts, known, (why) => new ShapeError(what, `${why}${hint}`));
}

// An options object where a shape or a dtype may stand: a plain object (a shape is an array).
const isOptions = (v: unknown): v is TensorOptions => {
  const proto: unknown = typeof v === 'object' && v !== null ? Object.getPrototypeOf(v) : undefined;
  return proto === null || (proto !== undefined && Object.getPrototypeOf(proto) === null);
};

/** rt.tensor's shape and options (checked), from `(data, shape?, opts?)` or `(data, opts)`. */
export function shapeOrOptions(what: string, shapeOrOpts: Shape | TensorOptions | undefined, more: TensorOptions | undefined): [Shape | undefined, TensorOptions] {
  if (isOptions(shapeOrOpts) && more !== undefined) throw new TypeError(`${what}: options given twice (in place of the shape, and after it)`);
  const [shape, opts] = isOptions(shapeOrOpts) ? [undefined, shapeOrOpts] : [shapeOrOpts, more === undefined ? {} : more];
  checkOptionNames(opts, TENSOR_OPTIONS, (why) => new ShapeError(what, why));
  return [shape, opts];
}

/** zeros'/ones'/full's/empty's dtype and options, from `(shape, dtype?, opts?)` or `(shape, opts)` with the dtype in them. */
export function dtypeOrOptions(what: string, dtypeOrOpts: DType | TensorOptions | undefined, more: FilledOptions | undefined): [DType, TensorOptions] {
  if (isOptions(dtypeOrOpts)) {
    if (more !== undefined) throw new TypeError(`${what}: options given twice (in place of the dtype, and after it)`);
    checkOptionNames(dtypeOrOpts, TENSOR_OPTIONS, (why) => new ShapeError(what, why));
    return [dtypeOrOpts.dtype === undefined ? 'f32' : checkDType(dtypeOrOpts.dtype, what), dtypeOrOpts];
  }
  // Only what is left out takes the default: a null dtype or null options are refused by name.
  const opts = more === undefined ? {} : more;
  checkFilledOptions(what, opts);
  return [dtypeOrOpts === undefined ? 'f32' : checkDType(dtypeOrOpts, what), opts];
}
