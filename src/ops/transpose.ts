// transpose: swaps the last two dimensions, materialised (matmul uses it to put an operand in
// the layout its fast loads need). Its gradient is the transpose back.
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { fmt, grid1d } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';

const WG = 64;

export const transposeOp = defineOp<object>({
  name: 'transpose',
  infer([x]) {
    if (x!.rank < 2 || x!.dtype !== 'f32') throw new ShapeError('transpose', `needs an f32 tensor of rank ≥ 2, got ${fmt(x!.shape)} ${x!.dtype}`, [x!.shape]);
    const s = [...x!.shape];
    [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1]!, s[s.length - 2]!];
    return { shape: s, dtype: 'f32' };
  },
  encode(ctx, [x], out) {
    const [rows, cols] = x!.shape.slice(-2) as [number, number];
    ctx.dispatch({
      shader: 'transpose.wgsl',
      constants: { WG },
      params: { batch: x!.size / Math.max(1, rows * cols), rows, cols },
      bindings: { x: x!, out },
      // One invocation per output row.
      workgroups: grid1d(out.size / Math.max(1, rows), WG),
    });
  },
  backward: (g) => [transpose(g)],
});

/** Swaps the last two dimensions (a copy). */
export function transpose(x: Tensor): Tensor {
  return x.rt.record(transposeOp, [x], {});
}
