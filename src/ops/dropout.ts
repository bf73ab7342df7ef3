// Dropout (torch.nn.functional.dropout): x · mask, the mask drawn on the GPU as ./random.ts draws
// (shaders/random.wgsl), so that its gradient is g · mask through mul's rule: eager, a value
// computed again (for a gradient) gets the same mask; in a compiled program, every run draws a
// new mask, as every step in PyTorch does.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError, TensorStateError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { mul } from './elementwise.js';
import { drawKey, Generator, WG } from './random.js';

export { Generator } from './random.js';

/** The attributes dropout_mask records: the mask's shape and the probability of a zero. */
export interface MaskAttrs {
  shape: Shape;
  p: number;
}

/** The mask for `shape`: 0 with probability p, else 1/(1 − p); input: the key (u32 [2]). */
export const dropoutMaskOp = defineOp<MaskAttrs>({
  name: 'dropout_mask',
  infer: (_, { shape }) => ({ shape, dtype: 'f32' }),
  encode(ctx, [key], out, { p }) {
    ctx.dispatch({
      shader: 'random.wgsl',
      entry: 'mask',
      constants: { WG },
      // ⌈p·2^24⌉ is exact in float64; 1/(1 − p) is rounded to f32 once, and is 0 for p = 1
      // (every element dropped: zeros, as PyTorch's).
      params: { n: out.size, threshold: Math.ceil(p * 2 ** 24), scale: p === 1 ? 0 : 1 / (1 - p), shift: 0 },
      bindings: { key: key!, out },
      workgroups: grid1d(Math.ceil(out.size / 2), WG),
    });
  },
  // The key is integers: no gradient flows to it.
  backward: () => [null],
});

/** Options of dropout. */
export interface DropoutOptions {
  /** Whether to drop (default true); false returns x, as PyTorch's `training=False`. */
  training?: boolean;
  /** The stream the masks come from; default: one per runtime, of seed 0. */
  generator?: Generator;
}

/**
 * x with each element zeroed with probability p and the others scaled by 1/(1 − p), as
 * torch.nn.functional.dropout in training mode (p = 0.5 by default; p = 1 gives zeros). The
 * gradient is g times the same mask. Eager, each call draws a mask; inside a compiled function,
 * each run of the program draws a new one.
 */
export function dropout(x: Tensor, p = 0.5, opts: DropoutOptions = {}): Tensor {
  return masked('dropout', x, p, opts, (shape) => shape);
}

/**
 * x [N, C, H, W] with each channel of each sample zeroed with probability p and the others scaled
 * by 1/(1 − p), as torch.nn.functional.dropout2d in training mode: a mask of [N, C, 1, 1]
 * drawn as dropout's, broadcast over the pixels.
 */
export function dropout2d(x: Tensor, p = 0.5, opts: DropoutOptions = {}): Tensor {
  return masked('dropout2d', x, p, opts, (shape, fail) => {
    if (shape.length !== 4) throw fail('needs a batch of images [N, C, H, W]');
    return [shape[0]!, shape[1]!, 1, 1];
  });
}

/** x times a mask of shape maskShape(x.shape), drawn as dropout's (see dropout). */
function masked(op: string, x: Tensor, p: number, opts: DropoutOptions, maskShape: (shape: Shape, fail: (why: string) => Error) => Shape): Tensor {
  const rt = runtimeOf(op, { x });
  const fail = (why: string) => new ShapeError(op, `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['training', 'generator'], fail);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw fail(`p must be a probability in [0, 1], got ${shown(p)}`);
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  const shape = maskShape(x.shape, fail);
  const { training = true, generator } = opts;
  if (typeof training !== 'boolean') throw fail(`training must be true or false, got ${shown(training)}`);
  if (generator !== undefined && !(generator instanceof Generator)) throw fail(`generator must be a Generator, got ${shown(generator)}`);
  // x itself where nothing is dropped: refused now if disposed, as an op recorded on it would be.
  if (x.disposed) throw new TensorStateError(`${op}: ${x.describe()} was disposed`);
  if (!training || p === 0) return x;
  return mul(x, rt.record(dropoutMaskOp, [drawKey(rt, generator)], { shape, p }));
}
