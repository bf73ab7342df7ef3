// transpose: swaps the last two dimensions, materialised (on CPU adapters matmul uses it to put
// an operand in the layout its fast loads need). Its gradient is the transpose back.
import { rowSpans } from '../runtime/device.js';
import { runtimeOf } from '../runtime/args.js';
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
    // Spans of output rows per invocation: a transpose to [32, 400], 32 output rows of 400
    // values, would otherwise be one workgroup on a GPU.
    const outRows = out.size / Math.max(1, rows);
    const { span, spans } = rowSpans(x!.rt.adapter, rows, out.size, WG);
    ctx.dispatch({
      shader: 'transpose.wgsl',
      constants: { WG },
      params: { batch: x!.size / Math.max(1, rows * cols), rows, cols, span, spans },
      bindings: { x: x!, out },
      workgroups: grid1d(outRows * spans, WG),
    });
  },
  backward: (g) => [transposeLast(g)],
});

/** Swaps the last two dimensions (a copy): the kernel behind `transpose` and `permute`, and matmul's operand layouts. */
export function transposeLast(x: Tensor): Tensor {
  return runtimeOf('transpose', { x }).record(transposeOp, [x], {});
}
