// permute, PyTorch's Tensor.permute: the dimensions reordered, materialised as a strided copy
// (binary.wgsl's FN_COPY reads x through its permuted strides). Dimensions of size 1 are left
// out, and dimensions that stay next to each other and in order move as one, so NCHW → NHWC is
// [N, C, H·W] → [N, H·W, C]: the transpose of the last two, which has its own kernel; an order
// that moves nothing (size-1 dimensions alone) is a view. Its gradient is the inverse permutation.
// The pixel (un)shuffles are a reshape and a permute.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { strideGrid } from '../runtime/device.js';
import { fmt, normAxis, stridesOf } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { dims as padded, kernelFn, MAX_RANK } from './elementwise.js';
import { transposeLast } from './transpose.js';

const WG = 256;

export const permuteOp = defineOp<{ order: readonly number[] }>({
  name: 'permute',
  infer([x], { order }) {
    if (x!.dtype !== 'f32' || order.length !== x!.rank || order.length > MAX_RANK) {
      throw new ShapeError('permute', `needs an f32 tensor of at most ${MAX_RANK} dimensions and an order of each, got ${fmt(x!.shape)} ${x!.dtype} and ${fmt(order)}`, [x!.shape]);
    }
    return { shape: order.map((d) => x!.shape[d]!), dtype: 'f32' };
  },
  encode(ctx, [x], out, { order }) {
    const strides = stridesOf(x!.shape);
    ctx.dispatch({
      shader: 'binary.wgsl',
      constants: { WG, BROADCAST: 1, FN: kernelFn('binary.wgsl', 'copy') },
      params: { n: out.size, rank: order.length, shape: padded(out.shape), a_strides: padded(order.map((d) => strides[d]!)), b_strides: padded([]) },
      bindings: { a: x!, b: x!, out },
      workgroups: strideGrid(x!.rt.adapter, out.size, WG),
    });
  },
  backward: (g, { attrs: { order } }) => [permute(g, inverse(order))],
});

const inverse = (order: readonly number[]) => order.map((_, i) => order.indexOf(i));

/**
 * x's dimensions in the order `order` gives (dimension i of the result is dimension order[i]
 * of x; negative ones count from the end), as torch.permute: [N, C, H, W] by [0, 2, 3, 1] is
 * [N, H, W, C]. A copy, unless only dimensions of size 1 move.
 */
export function permute(x: Tensor, order: readonly number[]): Tensor {
  runtimeOf('permute', { x });
  const err = (why: string) => new ShapeError('permute', `${why}: input ${fmt(x.shape)}, order ${JSON.stringify(order)}`, [x.shape]);
  if (!Array.isArray(order) || order.length !== x.rank) throw err(`the order must list each of the ${x.rank} dimensions once`);
  const dims = order.map((d) => (Number.isInteger(d) && d >= -x.rank && d < x.rank ? (d + x.rank) % x.rank : NaN));
  if (dims.some((d) => Number.isNaN(d)) || new Set(dims).size !== dims.length) throw err(`the order must list each of the ${x.rank} dimensions once`);
  if (x.dtype !== 'f32') throw err(`needs an f32 tensor, got ${x.dtype}`);
  const shape = dims.map((d) => x.shape[d]!);
  // The order of the dimensions larger than 1, numbered among themselves; then runs of them that
  // stay in order merged, each run one dimension of a view of x.
  const big = x.shape.flatMap((s, d) => (s === 1 ? [] : [d]));
  const moved = dims.filter((d) => x.shape[d] !== 1).map((d) => big.indexOf(d));
  const runs: number[][] = [];
  for (const d of moved) {
    const run = runs.at(-1);
    if (run && run.at(-1)! + 1 === d) run.push(d);
    else runs.push([d]);
  }
  const byFirst = [...runs].sort((a, b) => a[0]! - b[0]!);
  const view = byFirst.map((run) => run.reduce((p, d) => p * x.shape[big[d]!]!, 1));
  const merged = runs.map((run) => byFirst.indexOf(run));
  const r = merged.length;
  if (merged.every((d, i) => d === i)) return x.reshape(shape);
  if (merged.slice(0, -2).every((d, i) => d === i)) return transposeLast(x.reshape(view)).reshape(shape);
  if (r > MAX_RANK) throw err(`the order moves ${r} runs of dimensions, more than the ${MAX_RANK} the kernel takes`);
  return x.rt.record(permuteOp, [x.reshape(view)], { order: merged }).reshape(shape);
}

/**
 * Dimensions `dim0` and `dim1` swapped (negative ones count from the end), as torch.transpose;
 * by default the last two, materialised by their own kernel (a matrix's transpose).
 */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  runtimeOf('transpose', { x });
  if (dim0 === -2 && dim1 === -1) return transposeLast(x);
  const [a, b] = [normAxis(dim0, x.rank, 'transpose'), normAxis(dim1, x.rank, 'transpose')];
  if (Math.min(a, b) === x.rank - 2 && Math.max(a, b) === x.rank - 1) return transposeLast(x);
  const order = x.shape.map((_, d) => (d === a ? b : d === b ? a : d));
  return permute(x, order);
}

/** Checks a pixel (un)shuffle's input and factor; returns the leading dimensions and C, H, W. */
function pixelDims(op: string, x: Tensor, r: number): [lead: number[], c: number, h: number, w: number] {
  runtimeOf(op, { x });
  if (!Number.isInteger(r) || r < 1) throw new ShapeError(op, `the factor must be an integer ≥ 1, got ${shown(r)}`, [x.shape]);
  if (x.rank < 3) throw new ShapeError(op, `needs [*, C, H, W] or [C, H, W], got ${fmt(x.shape)}`, [x.shape]);
  const [c, h, w] = x.shape.slice(-3) as [number, number, number];
  return [x.shape.slice(0, -3), c, h, w];
}

/**
 * [*, C·r², H, W] to [*, C, H·r, W·r], each r×r block of outputs from r² channels, as
 * F.pixel_shuffle (the upsampling of sub-pixel convolutions): a reshape and a permute.
 */
export function pixelShuffle(x: Tensor, upscaleFactor: number): Tensor {
  const r = upscaleFactor;
  const [lead, c, h, w] = pixelDims('pixelShuffle', x, r);
  if (c % (r * r)) throw new ShapeError('pixelShuffle', `its ${c} channels are not a multiple of the factor squared, ${r * r}: input ${fmt(x.shape)}`, [x.shape]);
  const k = lead.length;
  const y = permute(x.reshape(...lead, c / (r * r), r, r, h, w), [...lead.keys(), k, k + 3, k + 1, k + 4, k + 2]);
  return y.reshape(...lead, c / (r * r), h * r, w * r);
}

/** [*, C, H·r, W·r] to [*, C·r², H, W], pixelShuffle undone, as F.pixel_unshuffle. */
export function pixelUnshuffle(x: Tensor, downscaleFactor: number): Tensor {
  const r = downscaleFactor;
  const [lead, c, h, w] = pixelDims('pixelUnshuffle', x, r);
  if (h % r || w % r) throw new ShapeError('pixelUnshuffle', `its height and width are not multiples of the factor ${r}: input ${fmt(x.shape)}`, [x.shape]);
  const k = lead.length;
  const y = permute(x.reshape(...lead, c, h / r, r, w / r, r), [...lead.keys(), k, k + 2, k + 4, k + 1, k + 3]);
  return y.reshape(...lead, c * r * r, h / r, w / r);
}
