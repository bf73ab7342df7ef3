// linear(x, w, b) = x·wᵀ + b with PyTorch's [out, in] weight layout: one matmul with the bias
// fused, so its gradients are matmul's.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { fmt } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { matmul } from './matmul.js';

/** x: [..., in], w: [out, in], b: [out] → [..., out] (as nn.Linear: any leading dimensions, or none). */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  runtimeOf('linear', b === undefined ? { x, w } : { x, w, b });
  if (x.rank < 1 || w.rank !== 2 || x.shape[x.rank - 1] !== w.shape[1]) {
    throw new ShapeError('linear', `input ${fmt(x.shape)} does not fit weight ${fmt(w.shape)} ([out, in] expects input [..., ${w.shape[1] ?? '?'}])`, [x.shape, w.shape]);
  }
  if (x.rank !== 2) return linear(x.reshape(-1, x.shape[x.rank - 1]!), w, b).reshape(...x.shape.slice(0, -1), w.shape[0]!);
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0] || b.dtype !== 'f32')) {
    throw new ShapeError('linear', `bias ${fmt(b.shape)} ${b.dtype} does not fit weight ${fmt(w.shape)} (expects f32 [${w.shape[0]}]); input ${fmt(x.shape)}`, [x.shape, w.shape, b.shape]);
  }
  return matmul(x, w, b ? { transB: true, bias: b, biasAxis: 'col' } : { transB: true });
}
