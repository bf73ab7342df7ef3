// Matrix multiply as torch.matmul (batch dimensions broadcast, 1-D operands), with free
// transposes, an optional fused bias, and a batch-summing form. It is the one primitive behind
// linear layers and convolutions (im2col + matmul), and its gradient rule is itself made of
// matmuls.
import { parallelWorkgroups } from '../runtime/device.js';
import { checkTensor, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp, type DispatchSpec } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { shaderInfo, type ParamValues } from '../runtime/shaders.js';
import { broadcastShapes, ceilDiv, fmt, grid1d, sameShape, type Shape } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, reluOp } from './elementwise.js';
import { broadcastTo, sum } from './reduce.js';
import { transposeLast as transpose } from './transpose.js';

/** Options of `matmul`: transposed operands, a fused bias, and summing over the batch. */
export interface MatmulOptions {
  /** Use Aᵀ: a is stored [..., K, M] (a matrix: a 1-D a is refused with it). */
  transA?: boolean;
  /** Use Bᵀ: b is stored [..., N, K] (a matrix: a 1-D b is refused with it). */
  transB?: boolean;
  /**
   * Added to every row (length N, 'col') or every column (length M, 'row') of C: along an axis
   * the result keeps (not one a 1-D operand drops).
   */
  bias?: Tensor;
  /** Which way the bias runs (default 'col': one value per column). */
  biasAxis?: 'row' | 'col';
  /** Sum the batch of products (broadcast) into one [M, N] result. */
  sumBatch?: boolean;
}

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
  bias: 'none' | 'row' | 'col';
  /** 0: a batched product; g ≥ 1: the batch summed into g partial results ([M, N] when g = 1). */
  groups: number;
  /** max(·, 0) applied to the result: a following ReLU fused in by the planner. */
  relu?: boolean;
  /** Run as one workgroup per output, sharing its products (shaders/matmul_dot.wgsl): see dotProducts. */
  dot?: boolean;
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

function shapeError(a: Tensor, b: Tensor, { transA, transB }: { transA: boolean; transB: boolean }, why: string): ShapeError {
  return new ShapeError('matmul', `${why}: a ${fmt(a.shape)}${transA ? 'ᵀ' : ''}, b ${fmt(b.shape)}${transB ? 'ᵀ' : ''}`, [a.shape, b.shape]);
}

// The kernel's shapes: matrices, with batch dimensions equal or absent on one side (matmul
// brings other operands to these).
function dimsOf(a: Tensor, b: Tensor, t: { transA: boolean; transB: boolean }): Dims {
  const err = (why: string) => shapeError(a, b, t, why);
  if (a.rank < 2 || b.rank < 2) throw err('operands need at least 2 dimensions');
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [M, Ka] = t.transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = t.transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) throw err(`inner dimensions differ (${Ka} vs ${Kb})`);
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  if (ab.length && bb.length && !sameShape(ab, bb)) throw err('batch dimensions differ');
  const batchShape = ab.length ? ab : bb;
  return { batch: batchShape.reduce((x, y) => x * y, 1), batchShape, M, N, K: Ka, aBatched: ab.length > 0, bBatched: bb.length > 0 };
}

/**
 * Checks the operands as given to matmul, as torch.matmul takes them (1-D operands, batch
 * dimensions broadcast), and returns the result's batch shape.
 */
function checkShapes(a: Tensor, b: Tensor, opts: MatmulOptions): Shape {
  const t = { transA: opts.transA ?? false, transB: opts.transB ?? false };
  const err = (why: string) => shapeError(a, b, t, why);
  if (a.rank < 1 || b.rank < 1) throw err('operands need at least 1 dimension');
  // A vector has no stored orientation to flip: PyTorch's matmul reads it as a row (a) or a column (b).
  if (a.rank === 1 && t.transA) throw err('transA needs a matrix a: a 1-D a is taken as a row, untransposed');
  if (b.rank === 1 && t.transB) throw err('transB needs a matrix b: a 1-D b is taken as a column, untransposed');
  // A bias runs along an axis of the result; a 1-D operand's axis is dropped from it.
  if (opts.bias) {
    const axis = opts.biasAxis ?? 'col';
    if (axis === 'col' && b.rank === 1) throw err(`a bias per column needs a matrix b: a 1-D b leaves no columns${a.rank > 1 ? " (biasAxis 'row' adds one per row of a)" : ''}`);
    if (axis === 'row' && a.rank === 1) throw err(`a bias per row needs a matrix a: a 1-D a leaves no rows${b.rank > 1 ? " (biasAxis 'col' adds one per column of b)" : ''}`);
  }
  const Ka = a.rank === 1 || !t.transA ? a.shape[a.rank - 1]! : a.shape[a.rank - 2]!;
  const Kb = b.rank === 1 || t.transB ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  if (Ka !== Kb) throw err(`inner dimensions differ (${Ka} vs ${Kb})`);
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const batch = broadcastShapes(ab, bb);
  if (!batch) throw err(`batch dimensions ${fmt(ab)} and ${fmt(bb)} do not broadcast`);
  return batch;
}

// Blocks of C per invocation, declared by the kernels themselves: T×T (shaders/matmul.wgsl), and
// ROWS×4 with subgroups (shaders/matmul_subgroup.wgsl). A workgroup of the first runs WG blocks:
// small workgroups suit software Vulkan, which runs one workgroup per thread, 8 lanes wide. On
// GPUs a workgroup computes a T×T tile of C (shaders/matmul_shared.wgsl).
const BLOCK = shaderInfo('matmul.wgsl').consts.T!;
const SG_ROWS = shaderInfo('matmul_subgroup.wgsl').consts.ROWS!;
const TILE = shaderInfo('matmul_shared.wgsl').consts.T!;
const WG = 8;
// Each workgroup costs a fixed overhead on a CPU driver: past this many times the workgroups
// that fill the adapter, the subgroup kernel runs several batch entries per workgroup.
const MERGE_PAST = 8;

/**
 * Whether products run on a GPU's kernels: tiles in workgroup memory (shaders/matmul_shared.wgsl),
 * or a workgroup per output (dotProducts), since a GPU needs many invocations in flight (the
 * README's "On a GPU" has the figures). CPU drivers run a few workgroups at a time, and loads
 * are their cost, so there each invocation keeps a large block of C in registers.
 */
function sharedTiles(rt: Tensor['rt']): boolean {
  return !rt.adapter.software;
}

// NOTE: WebGPU binds at least 16 bytes to an array<vec4<f32>>. An operand under that (a host's
// buffer of up to 3 floats, wrapped) is never loaded as vec4s (those need rows of 4), so its
// vec4 view, which the kernel then never reads, binds 16 bytes of zeros kept per runtime instead.
const vec4Placeholders = new WeakMap<Tensor['rt'], Tensor>();
function vec4View(t: Tensor): Tensor {
  if (t.size >= 4) return t;
  let p = vec4Placeholders.get(t.rt);
  if (!p) vec4Placeholders.set(t.rt, (p = t.rt.zeros([4])));
  return p;
}

/** Workgroups [x, y] that one batch entry's C = op(A)·op(B) takes on this device's kernel. */
function grid(rt: Tensor['rt'], d: Dims): { x: number; y: number; columnOrder: boolean } {
  if (sharedTiles(rt)) return { x: ceilDiv(d.N, TILE), y: ceilDiv(d.M, TILE), columnOrder: false };
  const wg = subgroupWidth(rt);
  // Subgroup kernel: 16-row stripes, 4 columns per invocation (shaders/matmul_subgroup.wgsl).
  if (wg) return { x: ceilDiv(ceilDiv(d.N, 4), wg), y: ceilDiv(d.M, SG_ROWS), columnOrder: false };
  // Neighbouring blocks share the larger operand's rows or columns in cache.
  const columnOrder = (d.bBatched ? d.batch : 1) * d.K * d.N >= (d.aBatched ? d.batch : 1) * d.M * d.K;
  const [rowBlocks, colBlocks] = [ceilDiv(d.M, BLOCK), ceilDiv(d.N, BLOCK)];
  const [x, y] = columnOrder ? [ceilDiv(rowBlocks, WG), colBlocks] : [ceilDiv(colBlocks, WG), rowBlocks];
  return { x, y, columnOrder };
}

// The most outputs of a batch sum that shaders/matmul_dot.wgsl takes (the seed CNN's conv1
// weight gradient has 400; conv2's 12,800 are left to the tiles, which share loads between
// outputs).
const DOT_MAX_SUMMED = 1024;

/**
 * Whether to run one workgroup per output, sharing its products (shaders/matmul_dot.wgsl): on a
 * GPU, for a product whose tiles would leave most of it idle (`tiles` workgroups per batch
 * entry), each walking a long k. A CPU driver is kept busy by the tiles. Summed over the batch,
 * the batch lengthens k; each output then reads its row and column of every entry, so only for
 * few outputs.
 */
function dotProducts(rt: Tensor['rt'], d: Dims, tiles: number, sumBatch: boolean): boolean {
  if (!sharedTiles(rt) || tiles * (sumBatch ? 1 : d.batch) >= parallelWorkgroups(rt.adapter) / 8) return false;
  return sumBatch ? d.K * d.batch >= 256 && d.M * d.N <= DOT_MAX_SUMMED : d.K >= 256;
}

/**
 * Invocations sharing one output's `length` products in shaders/matmul_dot.wgsl: more for a long
 * run (conv1's weight gradient sums 50 × 784 per output), or too few of them are in flight to
 * hide the loads' latency (with 64, that gradient took three times as long on an H200).
 */
function dotWorkgroup(length: number): number {
  return length >= 4096 ? 256 : 64;
}

/** Workgroup size of the subgroup kernel on this device, or 0 where it cannot run. */
function subgroupWidth(rt: Tensor['rt']): number {
  const min = rt.adapter.subgroupMinSize;
  return min >= 8 ? Math.min(64, min) : 0;
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
    if (attrs.groups === 1) return { shape: [d.M, d.N], dtype: 'f32' };
    if (attrs.groups > 1) return { shape: [attrs.groups, d.M, d.N], dtype: 'f32' };
    return { shape: [...d.batchShape, d.M, d.N], dtype: 'f32' };
  },
  encode(ctx, inputs, out, attrs) {
    const [a, b, bias] = inputs as [Tensor, Tensor, Tensor?];
    const d = dimsOf(a, b, attrs);
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
    const groups = attrs.groups;
    const B_VEC = vectorised(!attrs.transB, d.N) ? 1 : 0;
    const entry = d.N % 4 === 0 ? 'main_vec4' : 'main';
    const params = {
      ...{ M: d.M, N: d.N, K: d.K, batch: d.batch, group: groups ? ceilDiv(d.batch, groups) : 1 },
      ...strides,
      ...{ batch_offset: 0, x_offset: 0, y_offset: 0 },
      bias_mode: { none: 0, row: 1, col: 2 }[attrs.bias],
      sum_batch: groups ? 1 : 0,
      relu: attrs.relu ? 1 : 0,
    };
    // The scalar views, which every kernel binds; the block and subgroup kernels add vec4 ones.
    const scalar = { a, b, bias: bias ?? a, c: out };
    const bindings = { ...scalar, b4: vec4View(b), c4: out };
    const z = groups || d.batch;
    const { x, y, columnOrder } = grid(a.rt, d);
    // Past the device's workgroups per dimension, the tiles run as several dispatches, each told
    // where its own start.
    const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
    const dispatchTiles = (kernel: Omit<DispatchSpec, 'params' | 'workgroups'>, p: ParamValues, layers: number) => {
      for (const [x0, gx] of slices(x, maxDim))
        for (const [y0, gy] of slices(y, maxDim))
          for (const [z0, gz] of slices(layers, maxDim)) ctx.dispatch({ ...kernel, params: { ...p, x_offset: x0, y_offset: y0, batch_offset: z0 }, workgroups: [gx, gy, gz] });
    };
    if (attrs.dot) {
      ctx.dispatch({
        shader: 'matmul_dot.wgsl',
        constants: { WG: dotWorkgroup(d.K * (groups ? d.batch : 1)) },
        params,
        bindings: scalar,
        workgroups: grid1d(z * d.M * d.N, 1, ctx.limits.maxComputeWorkgroupsPerDimension),
      });
      return;
    }
    if (!sharedTiles(a.rt) && subgroupWidth(a.rt)) {
      const wg = subgroupWidth(a.rt);
      const A_VEC = strides.a_k === 1 && strides.a_m % 4 === 0 && strides.a_batch % 4 === 0 ? 1 : 0;
      // Batch entries share a workgroup when there would be many small ones, or more than the
      // device's workgroups per dimension.
      const many = Math.floor((x * y * d.batch) / (MERGE_PAST * parallelWorkgroups(a.rt.adapter)));
      const perGroup = groups ? params.group : Math.min(d.batch, Math.max(1, many, ceilDiv(d.batch, ctx.limits.maxComputeWorkgroupsPerDimension)));
      const kernel = { shader: 'matmul_subgroup.wgsl', entry, constants: { WG: wg, A_VEC, B_VEC }, bindings: { ...bindings, a4: vec4View(a) } };
      dispatchTiles(kernel, { ...params, group: perGroup }, groups || ceilDiv(d.batch, perGroup));
      return;
    }
    // One workgroup layer per batch entry (or partial sum).
    const kernel = sharedTiles(a.rt)
      ? { shader: 'matmul_shared.wgsl', bindings: scalar }
      : {
          shader: 'matmul.wgsl',
          entry,
          constants: { WG, A_VEC: vectorised(attrs.transA, d.M) ? 1 : 0, B_VEC, COLUMN_ORDER: columnOrder ? 1 : 0 },
          bindings: { ...bindings, a4: vec4View(a) },
        };
    dispatchTiles(kernel, params, z);
  },
  absorb(self, consumer) {
    if (consumer.def !== reluOp || self.attrs.relu || self.attrs.groups > 1) return undefined;
    return { ...self.attrs, relu: true };
  },
  backward(grad, { inputs, attrs, needs }) {
    const [a, b] = inputs as [Tensor, Tensor];
    const { transA, transB } = attrs;
    const d = dimsOf(a, b, attrs);
    // A batch sum (into `groups` partials, or one result): batch entry i went into partial
    // ⌊i / group⌋, so it takes that partial's gradient; then the product is an ordinary batched one.
    const batchShape = (a.rank > 2 ? a : b).shape.slice(0, -2);
    const g = attrs.groups >= 1 && batchShape.length ? repeatGroups(grad.reshape(attrs.groups, d.M, d.N), d.batch, attrs.groups).reshape(...batchShape, d.M, d.N) : grad;
    const batched = g.rank > 2;
    const sumA = batched && a.rank === 2;
    const sumB = batched && b.rank === 2;
    const da = !needs[0] ? null : transA ? matmul(b, g, { transA: transB, transB: true, sumBatch: sumA }) : matmul(g, b, { transB: !transB, sumBatch: sumA });
    const db = !needs[1] ? null : transB ? matmul(g, a, { transA: true, transB: transA, sumBatch: sumB }) : matmul(a, g, { transA: !transA, sumBatch: sumB });
    let dbias: Tensor | null = null;
    if (needs[2]) {
      // The bias is added once to a batch sum (groups 1), so its gradient is the output's, not
      // the gradient repeated over the batch.
      const out = attrs.groups >= 1 ? grad : g;
      const keep = attrs.bias === 'row' ? out.rank - 2 : out.rank - 1;
      dbias = sum(out, out.shape.map((_, i) => i).filter((i) => i !== keep));
    }
    return [da, db, dbias];
  },
});

/** [groups, M, N] → [batch, M, N], entry i a copy of partial ⌊i / (batch/groups)⌋ (a broadcast, so differentiable again). */
function repeatGroups(g: Tensor, batch: number, groups: number): Tensor {
  const [, M, N] = g.shape as [number, number, number];
  return broadcastTo(g.reshape(groups, 1, M * N), [groups, batch / groups, M * N]).reshape(batch, M, N);
}

/** [first, count] of each run of at most `max` of n workgroups. */
function slices(n: number, max: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let first = 0; first < n; first += max) runs.push([first, Math.min(max, n - first)]);
  return runs;
}

/** The smallest number of groups, at least `want`, that divides `batch` evenly. */
function evenGroups(batch: number, want: number): number {
  for (let g = Math.max(1, want); g < batch; g++) if (batch % g === 0) return g;
  return batch;
}

/** Whether an operand is loaded as vec4s: contiguous along the output's side, 4 dividing it. */
function vectorised(contiguous: boolean, size: number): boolean {
  return contiguous && size % 4 === 0;
}

/** How one way of computing a product lays out its operands, and what that costs. */
interface Arrangement {
  swap: boolean;
  transposeA: boolean;
  transposeB: boolean;
  cost: number;
  /** The one-workgroup-per-output kernel, which takes operands as they are laid out. */
  dot?: boolean;
}

// Costs in multiply-adds: moving an element through a transpose costs about 16 of them; a
// product whose operand cannot use vec4 loads slows by the fraction of its work given here.
const MOVE = 16;
const SCALAR_PENALTY = {
  // 8×8 blocks (matmul.wgsl): op(A) wants m-contiguous, op(B) n-contiguous.
  blocks: { a: 0.15, b: 0.15 },
  // Subgroup kernel: op(A) is shared by broadcast (wants k-contiguous), op(B) is per invocation.
  subgroup: { a: 0.1, b: 1 },
};

/**
 * The cheapest way to run C = op(A)·op(B) on this device's kernel: as is or as
 * Cᵀ = op(B)ᵀ·op(A)ᵀ (transposed back after), with either operand first copied transposed.
 */
function arrange(a: Tensor, b: Tensor, transA: boolean, transB: boolean, d: Dims, subgroups: boolean): Arrangement {
  const work = d.M * d.N * d.K * d.batch;
  const penalty = subgroups ? SCALAR_PENALTY.subgroup : SCALAR_PENALTY.blocks;
  let best: Arrangement | undefined;
  for (const swap of [false, true]) {
    // The swapped product's A is op(B)ᵀ (stored b, transposed flag !transB), its B is op(A)ᵀ.
    const [A, B, tA, tB, M, N] = swap ? [b, a, !transB, !transA, d.N, d.M] : [a, b, transA, transB, d.M, d.N];
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const ta = tA !== transposeA;
        const tb = tB !== transposeB;
        // Good layouts: op(B) along n always; op(A) along m (blocks) or along k (subgroups).
        const aGood = subgroups ? !ta && d.K % 4 === 0 : ta && M % 4 === 0;
        const bGood = !tb && N % 4 === 0;
        const cost =
          (transposeA ? A.size * MOVE : 0) +
          (transposeB ? B.size * MOVE : 0) +
          (swap ? d.M * d.N * d.batch * MOVE : 0) +
          (aGood ? 0 : work * penalty.a) +
          (bGood ? 0 : work * penalty.b);
        if (!best || cost < best.cost) best = { swap, transposeA, transposeB, cost };
      }
    }
  }
  return best!;
}

/**
 * op(A)·op(B), as torch.matmul: a: [..., M, K] (or [..., K, M] with transA), b: [..., K, N] (or
 * [..., N, K] with transB), batch dimensions broadcast (right-aligned; size 1 or missing
 * broadcasts). A 1-D a [K] is the row [1, K], a 1-D b [K] the column [K, 1], and that 1 is dropped
 * from the result ([K]·[K] gives a 0-d tensor); a 1-D operand takes no transpose, and a bias runs
 * along an axis the result keeps.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  runtimeOf('matmul', { a, b });
  checkMatmulOptions(a, b, opts);
  const batch = checkShapes(a, b, opts);
  if (a.rank === 1 || b.rank === 1) {
    const c = matmul(a.rank === 1 ? a.reshape(1, a.shape[0]!) : a, b.rank === 1 ? b.reshape(b.shape[0]!, 1) : b, opts);
    const [M, N] = c.shape.slice(-2) as [number, number];
    return c.reshape(...c.shape.slice(0, -2), ...(a.rank > 1 ? [M] : []), ...(b.rank > 1 ? [N] : []));
  }
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  if (ab.length && bb.length && !sameShape(ab, bb)) return broadcastProduct(a, b, batch, opts);
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const d = dimsOf(a, b, { transA, transB });
  const bias = opts.bias ? (opts.biasAxis ?? 'col') : 'none';
  // The kernels are fastest with operands in certain layouts (see arrange): an operand laid out
  // the other way is copied transposed first, or the product computed transposed, where that
  // is cheap next to the product itself.
  // The kernels of GPUs read any layout (the shared tiles load along whichever axis is
  // contiguous; a workgroup per output along k): nothing to rearrange.
  const { x, y } = grid(a.rt, d);
  const dot = dotProducts(a.rt, d, x * y, opts.sumBatch ?? false);
  const how = dot || sharedTiles(a.rt) ? { swap: false, transposeA: false, transposeB: false, cost: 0, dot } : arrange(a, b, transA, transB, d, subgroupWidth(a.rt) > 0);
  if (how.swap) {
    const swapped = { ...d, M: d.N, N: d.M, aBatched: d.bBatched, bBatched: d.aBatched };
    const t = matmulAs(b, a, !transB, !transA, { ...how, swap: false }, opts.bias, bias === 'row' ? 'col' : bias === 'col' ? 'row' : 'none', opts.sumBatch ?? false, swapped);
    return transpose(t);
  }
  return matmulAs(a, b, transA, transB, how, opts.bias, bias, opts.sumBatch ?? false, d);
}

/**
 * A product whose batch dimensions differ, brought to the kernel's: an operand holding one matrix
 * is taken unbatched (read for every entry, not copied), one whose batch only lacks dimensions of
 * size 1 is reshaped, and any other is copied broadcast, as torch's expand + reshape; reshape and
 * broadcastTo carry the gradients back, broadcastTo's summed over the broadcast dimensions.
 */
function broadcastProduct(a: Tensor, b: Tensor, batch: Shape, opts: MatmulOptions): Tensor {
  const entries = batch.reduce((x, y) => x * y, 1);
  const fit = (x: Tensor) => {
    const matrix = x.shape.slice(-2);
    const n = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
    if (n === 1) return x.reshape(...matrix);
    return (n === entries ? x : broadcastTo(x, [...batch, ...matrix])).reshape(entries, ...matrix);
  };
  const c = matmul(fit(a), fit(b), opts);
  return opts.sumBatch ? c : c.reshape(...batch, ...c.shape.slice(-2));
}

// A misspelt flag (`transposeB`) or a string for a boolean would give another product than
// asked for, silently.
function checkMatmulOptions(a: Tensor, b: Tensor, opts: MatmulOptions): void {
  const fail = (why: string) => new ShapeError('matmul', `${why}: a ${fmt(a.shape)}, b ${fmt(b.shape)}`, [a.shape, b.shape]);
  checkOptionNames(opts, ['transA', 'transB', 'bias', 'biasAxis', 'sumBatch'], fail);
  for (const k of ['transA', 'transB', 'sumBatch'] as const) {
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw fail(`${k} must be true or false, got ${shown(opts[k])}`);
  }
  if (opts.biasAxis !== undefined && opts.biasAxis !== 'row' && opts.biasAxis !== 'col') throw fail(`biasAxis must be 'row' or 'col', got ${shown(opts.biasAxis)}`);
  if (opts.bias !== undefined) checkTensor('matmul', 'bias', opts.bias);
  if (opts.biasAxis !== undefined && opts.bias === undefined) throw fail(`biasAxis '${opts.biasAxis}' is given without a bias`);
}

function matmulAs(a: Tensor, b: Tensor, transA: boolean, transB: boolean, how: Arrangement, bias: Tensor | undefined, biasAxis: MatmulAttrs['bias'], sumBatch: boolean, d: Dims): Tensor {
  if (how.transposeA) {
    a = transpose(a);
    transA = !transA;
  }
  if (how.transposeB) {
    b = transpose(b);
    transB = !transB;
  }
  const attrs: MatmulAttrs = { transA, transB, bias: biasAxis, groups: 0, ...(how.dot ? { dot: true } : {}) };
  const inputs = bias ? [a, b, bias] : [a, b];
  if (!sumBatch) return a.rt.record(matmulOp, inputs, attrs);
  if (how.dot) return a.rt.record(matmulOp, inputs, { ...attrs, groups: 1 }); // the whole batch in each workgroup
  // Summing a batch into a small output leaves few workgroups to run in parallel: split the
  // batch into partial sums, a workgroup layer each, then add them. Groups divide the batch, so
  // the gradient can repeat each partial's gradient by broadcasting.
  const { x, y } = grid(a.rt, d);
  const fill = parallelWorkgroups(a.rt.adapter);
  const even = x * y >= fill || d.batch < 2 ? 1 : evenGroups(d.batch, Math.min(d.batch, ceilDiv(fill, x * y)));
  // A batch with no divisor under the device's workgroups per dimension is summed whole.
  const groups = even <= a.rt.limits.maxComputeWorkgroupsPerDimension ? even : 1;
  if (groups === 1) return a.rt.record(matmulOp, inputs, { ...attrs, groups: 1 });
  const partial = a.rt.record(matmulOp, [a, b], { ...attrs, bias: 'none' as const, groups });
  const total = sum(partial, 0);
  return bias ? add(total, bias.reshape(...(biasAxis === 'row' ? [d.M, 1] : [d.N]))) : total;
}
