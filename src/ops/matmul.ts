// Matrix multiply, batched, with free transposes, an optional fused bias, and a batch-summing
// form. It is the one primitive behind linear layers and convolutions (im2col + matmul), and
// its gradient rule is itself made of matmuls.
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { ceilDiv, fmt, sameShape, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { sum } from './reduce.js';

export interface MatmulOptions {
  /** Use Aᵀ: a is stored [..., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: b is stored [..., N, K]. */
  transB?: boolean;
  /** Added to every row (length N, 'col') or every column (length M, 'row') of C. */
  bias?: Tensor;
  biasAxis?: 'row' | 'col';
  /** Sum the batch of products into one [M, N] result. */
  sumBatch?: boolean;
}

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
  bias: 'none' | 'row' | 'col';
  sumBatch: boolean;
}

interface Dims {
  batch: number;
  batchShape: Shape;
  M: number;
  N: number;
  K: number;
  aBatched: boolean;
  bBatched: boolean;
}

function dimsOf(a: Tensor, b: Tensor, { transA, transB }: MatmulAttrs): Dims {
  const err = (why: string) => new ShapeError('matmul', `${why}: a ${fmt(a.shape)}${transA ? 'ᵀ' : ''}, b ${fmt(b.shape)}${transB ? 'ᵀ' : ''}`, [a.shape, b.shape]);
  if (a.rank < 2 || b.rank < 2) throw err('operands need at least 2 dimensions');
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [M, Ka] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) throw err(`inner dimensions differ (${Ka} vs ${Kb})`);
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  if (ab.length && bb.length && !sameShape(ab, bb)) throw err('batch dimensions differ');
  const batchShape = ab.length ? ab : bb;
  return { batch: batchShape.reduce((x, y) => x * y, 1), batchShape, M, N, K: Ka, aBatched: ab.length > 0, bBatched: bb.length > 0 };
}

/** Register-block and workgroup shape for a product; small dimensions get small blocks. */
function tiling(M: number, N: number) {
  const TM = M >= 64 ? 8 : M >= 16 ? 4 : M >= 4 ? 2 : 1;
  const TNV = N >= 64 ? 2 : 1;
  return { TM, TNV, WGX: 8, WGY: 8 };
}

const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);

/**
 * Load modes (see shaders/matmul.wgsl): vec4 loads need the vector's four elements adjacent
 * and every vec4 start on a multiple of 4 elements (tensors start 256-byte aligned).
 */
function loadModes(d: Dims, s: { a_batch: number; a_m: number; a_k: number; b_batch: number; b_k: number; b_n: number }, TM: number) {
  const A_VEC = s.a_k === 1 && aligned(s.a_m, s.a_batch) ? 1 : s.a_m === 1 && TM % 4 === 0 && aligned(s.a_k, s.a_batch, d.M) ? 2 : 0;
  const B_VEC = s.b_n === 1 && aligned(s.b_k, s.b_batch, d.N) ? 1 : s.b_k === 1 && aligned(s.b_n, s.b_batch) ? 2 : 0;
  return { A_VEC, B_VEC };
}

export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  infer(inputs, attrs) {
    const [a, b, bias] = inputs as [Tensor, Tensor, Tensor?];
    if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError('matmul', `needs f32 operands, got ${a.dtype} and ${b.dtype}`, [a.shape, b.shape]);
    const d = dimsOf(a, b, attrs);
    if (attrs.bias !== 'none') {
      const want = attrs.bias === 'row' ? d.M : d.N;
      if (!bias || bias.rank !== 1 || bias.size !== want || bias.dtype !== 'f32') {
        throw new ShapeError('matmul', `bias per ${attrs.bias} must be f32 [${want}], got ${bias ? fmt(bias.shape) : 'none'}`, [a.shape, b.shape, bias?.shape ?? []]);
      }
    }
    if (attrs.sumBatch) return { shape: [d.M, d.N], dtype: 'f32' };
    return { shape: [...d.batchShape, d.M, d.N], dtype: 'f32' };
  },
  encode(ctx, inputs, out, attrs) {
    const [a, b, bias] = inputs as [Tensor, Tensor, Tensor?];
    const d = dimsOf(a, b, attrs);
    const { TM, TNV, WGX, WGY } = tiling(d.M, d.N);
    // Row-major storage: a is [.., M, K] (or [.., K, M] when transposed).
    const [aRows, aCols] = a.shape.slice(-2) as [number, number];
    const [bRows, bCols] = b.shape.slice(-2) as [number, number];
    const strides = {
      a_batch: d.aBatched ? aRows * aCols : 0,
      a_m: attrs.transA ? 1 : aCols,
      a_k: attrs.transA ? aCols : 1,
      b_batch: d.bBatched ? bRows * bCols : 0,
      b_k: attrs.transB ? 1 : bCols,
      b_n: attrs.transB ? bCols : 1,
    };
    ctx.dispatch({
      shader: 'matmul.wgsl',
      constants: {
        TM,
        TNV,
        WGX,
        WGY,
        ...loadModes(d, strides, TM),
        BIAS: { none: 0, row: 1, col: 2 }[attrs.bias],
        SUM_BATCH: attrs.sumBatch ? 1 : 0,
      },
      params: { M: d.M, N: d.N, K: d.K, batch: d.batch, ...strides },
      bindings: { a, a4: a, b, b4: b, bias: bias ?? a, c: out },
      workgroups: [ceilDiv(d.N, 4 * TNV * WGX), ceilDiv(d.M, TM * WGY), attrs.sumBatch ? 1 : d.batch],
    });
  },
  // With op(X) = X or Xᵀ and C = op(A)·op(B): d op(A) = dC·op(B)ᵀ and d op(B) = op(A)ᵀ·dC,
  // written on the stored operands so no transpose is materialised. An operand broadcast over
  // the batch gets its gradient summed over the batch.
  backward(g, { inputs, attrs, needs }) {
    const [a, b] = inputs as [Tensor, Tensor];
    const { transA, transB } = attrs;
    const batched = g.rank > 2;
    const sumA = batched && a.rank === 2;
    const sumB = batched && b.rank === 2;
    const da = !needs[0] ? null : transA ? matmul(b, g, { transA: transB, transB: true, sumBatch: sumA }) : matmul(g, b, { transB: !transB, sumBatch: sumA });
    const db = !needs[1] ? null : transB ? matmul(g, a, { transA: true, transB: transA, sumBatch: sumB }) : matmul(a, g, { transA: !transA, sumBatch: sumB });
    let dbias: Tensor | null = null;
    if (needs[2]) {
      const keep = attrs.bias === 'row' ? g.rank - 2 : g.rank - 1;
      dbias = sum(g, g.shape.map((_, i) => i).filter((i) => i !== keep));
    }
    return [da, db, dbias];
  },
});

/**
 * op(A)·op(B), batched over leading dimensions (equal, or absent on one side to broadcast it).
 * a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or [..., N, K] with transB).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const attrs: MatmulAttrs = {
    transA: opts.transA ?? false,
    transB: opts.transB ?? false,
    bias: opts.bias ? (opts.biasAxis ?? 'col') : 'none',
    sumBatch: opts.sumBatch ?? false,
  };
  return a.rt.record(matmulOp, opts.bias ? [a, b, opts.bias] : [a, b], attrs);
}
