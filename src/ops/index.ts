// The op functions, and the table of every op definition. The table's type requires each op
// to state a gradient rule (or why it has none), so a missing rule fails to type-check.
import type { OpDef } from '../runtime/op.js';
import { addOp, affineOp, mulOp, reluGradOp, reluOp, subOp } from './elementwise.js';
import { matmulOp } from './matmul.js';
import { reshapeOp } from './reshape.js';
import { sumOp } from './reduce.js';

export { add, sub, mul, relu, affine, scale, neg } from './elementwise.js';
export { sum, mean, sumTo, broadcastTo } from './reduce.js';
export { matmul, type MatmulOptions } from './matmul.js';
export { linear } from './linear.js';

/** Every op definition by name (for tooling and the generated gradient checks). */
export const ops = {
  add: addOp,
  sub: subOp,
  mul: mulOp,
  relu: reluOp,
  relu_grad: reluGradOp,
  affine: affineOp,
  sum: sumOp,
  reshape: reshapeOp,
  matmul: matmulOp,
} satisfies Record<string, OpDef<any>>;
