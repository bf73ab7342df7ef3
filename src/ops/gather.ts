// gather: rows of a table picked by index, e.g. a training batch out of a dataset kept on the
// GPU, or an embedding's vectors. Byte tables (u8) come out as f32 divided by `divisor`, so
// images can stay compact. An f32 table gets a gradient: each picked row's gradient added into
// its row (gather_backward), as an embedding's.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineOp } from '../runtime/op.js';
import { shown } from '../runtime/options.js';
import { fmt, grid1d } from '../runtime/shape.js';
import type { Tensor } from '../runtime/tensor.js';
import { add } from './elementwise.js';

const WG = 256;
// What an index out of range yields: a NaN for f32, -1 (i32) or 0xffffffff (u32) for integers.
const F32_NAN = 0x7fc00000;
const ALL_ONES = 0xffffffff;

// The f32 each byte value k stands for: k / divisor as one correctly rounded f32 division, as
// ToTensor's. The float64 quotient of two f32 values, rounded to f32, is exactly that (53 ≥ 2·24
// + 2 bits: double rounding cannot err). The shader looks these up: WGSL's division need not be
// correctly rounded.
function byteValues(divisor: number): number[] {
  const d = Math.fround(divisor);
  return Array.from({ length: 256 }, (_, k) => Math.fround(k / d));
}

export interface GatherAttrs {
  divisor: number;
  /** The table is rows offset … of a larger one, which the indices count in (default 0). */
  offset?: number;
  /** An index outside the table yields 0, not `missing`: shards' gathers then add up to the whole table's. */
  zeroOutside?: boolean;
}

export const gatherOp = defineOp<GatherAttrs>({
  name: 'gather',
  infer([table, idx]) {
    if (table!.rank < 1 || idx!.rank !== 1 || (idx!.dtype !== 'u32' && idx!.dtype !== 'i32')) {
      throw new ShapeError('gather', `needs a table [rows, ...] and 1-D integer indices, got ${fmt(table!.shape)} ${table!.dtype} and ${fmt(idx!.shape)} ${idx!.dtype}`, [table!.shape, idx!.shape]);
    }
    return { shape: [idx!.size, ...table!.shape.slice(1)], dtype: table!.dtype === 'u8' ? 'f32' : table!.dtype };
  },
  encode(ctx, [table, idx], out, { divisor, offset = 0, zeroOutside = false }) {
    const rowLen = table!.shape.slice(1).reduce((a, b) => a * b, 1);
    ctx.dispatch({
      shader: 'gather.wgsl',
      entry: table!.dtype === 'u8' ? 'bytes_to_f32' : 'words',
      constants: { WG },
      params: {
        rows: idx!.size,
        row_len: rowLen,
        table_rows: table!.shape[0]!,
        missing: zeroOutside ? 0 : out.dtype === 'f32' ? F32_NAN : ALL_ONES,
        offset,
        byte_values: table!.dtype === 'u8' ? byteValues(divisor) : [],
      },
      bindings: { table: table!, idx: idx!, out },
      workgroups: grid1d(out.size, WG),
    });
  },
  // Only an f32 table can want a gradient (the indices are integers, a u8 table's output is
  // computed from bytes).
  backward: (g, { inputs: [table, idx] }) => {
    const rows = table!.shape[0]!;
    return [g.rt.record(gatherBackwardOp, [g, idx!, g.rt.record(gatherBucketsOp, [idx!], { rows })], { rows }), null];
  },
});

/** Columns of a table row per workgroup of gather_backward.wgsl's sums. */
const BACKWARD_WG = 64;
/**
 * Picks per round of gather_backward.wgsl's buckets pass (its one workgroup): each pick compares
 * itself with the round's earlier ones, so a CPU adapter, which runs the invocations in turn,
 * takes short rounds; a GPU, which runs them at once, fewer and longer ones.
 */
const bucketsWG = (t: Tensor) => (t.rt.adapter.software ? 64 : 256);

/** gather_backward's buckets: each table row's picks, listed in order (see gather_backward.wgsl). */
export const gatherBucketsOp = defineOp<{ rows: number }>({
  name: 'gather_buckets',
  infer: ([idx], { rows }) => ({ shape: [rows + 1 + 2 * idx!.size], dtype: 'u32' }),
  encode(ctx, [idx], out, { rows }) {
    ctx.dispatch({
      shader: 'gather_backward.wgsl',
      entry: 'build',
      constants: { WG: bucketsWG(idx!) },
      params: { rows, row_len: 0, picks: idx!.size, chunks: 0, per_group: 0 },
      bindings: { idx: idx!, buckets: out },
      workgroups: [1, 1, 1],
    });
  },
  backward: { notDifferentiable: "gather's buckets are indices" },
});

/** gather's gradient for an f32 table of `rows` rows: g [picks, ...] added into the rows idx [picks] names, listed by `buckets`. */
export const gatherBackwardOp = defineOp<{ rows: number }>({
  name: 'gather_backward',
  infer([g, idx, buckets], { rows }) {
    if (g!.dtype !== 'f32' || g!.rank < 1 || idx!.rank !== 1 || g!.shape[0] !== idx!.size || (idx!.dtype !== 'u32' && idx!.dtype !== 'i32') || buckets!.size !== rows + 1 + 2 * idx!.size) {
      throw new ShapeError('gather_backward', `needs an f32 gradient [picks, ...], picks integer indices and their buckets, got ${fmt(g!.shape)} ${g!.dtype}, ${fmt(idx!.shape)} ${idx!.dtype} and ${fmt(buckets!.shape)}`, [g!.shape, idx!.shape, buckets!.shape]);
    }
    return { shape: [rows, ...g!.shape.slice(1)], dtype: 'f32' };
  },
  encode(ctx, [g, idx, buckets], out, { rows }) {
    const rowLen = g!.shape.slice(1).reduce((a, b) => a * b, 1);
    const chunks = Math.ceil(rowLen / BACKWARD_WG);
    // Short rows (an embedding's few columns) several to a workgroup, not one each with most
    // invocations idle.
    const perGroup = rowLen >= 1 && 2 * rowLen <= BACKWARD_WG ? Math.floor(BACKWARD_WG / rowLen) : 1;
    ctx.dispatch({
      shader: 'gather_backward.wgsl',
      constants: { WG: BACKWARD_WG },
      params: { rows, row_len: rowLen, picks: idx!.size, chunks, per_group: perGroup },
      bindings: { g: g!, lists: buckets!, out },
      workgroups: grid1d(perGroup > 1 ? Math.ceil(rows / perGroup) : rows * chunks, 1, ctx.limits.maxComputeWorkgroupsPerDimension),
    });
  },
  // Linear in g: its gradient picks the rows back.
  backward: (gg, { inputs: [, idx] }) => [gather(gg, idx!), null, null],
});

/**
 * Rows `idx` of `table` ([rows, ...] → [idx.length, ...]). A u8 table yields f32 values
 * divided by `divisor` (default 255, as torchvision's ToTensor; other tables take none). An
 * index out of range yields a row of NaN (f32 and u8 tables) or of -1 (i32; 0xffffffff for u32):
 * as labels, a NaN loss. As torch.index_select(table, 0, idx) and F.embedding (not Python's
 * table[idx]), a negative index is out of range: −1 is not the last row. Differentiable with respect to an f32 table: its gradient adds each
 * picked row's gradient into that row (a row picked twice gets both; an index out of range adds
 * nowhere), as torch.nn.functional.embedding's.
 */
export function gather(table: Tensor, idx: Tensor, divisor?: number): Tensor {
  const rt = runtimeOf('gather', { table, idx });
  if (divisor !== undefined) {
    if (typeof divisor !== 'number' || !Number.isFinite(divisor) || divisor === 0) {
      throw new RangeError(`gather: divisor must be a finite number other than 0, got ${shown(divisor)}`);
    }
    if (table.dtype !== 'u8') throw new TypeError(`gather: a divisor scales the bytes of a u8 table; ${table.describe()} takes none`);
  }
  // Any index is out of range of no rows: refused here, where a shader could only give NaN.
  if (table.rank >= 1 && table.shape[0] === 0 && idx.size > 0) {
    throw new ShapeError('gather', `a table of 0 rows has no row to pick: table ${fmt(table.shape)} ${table.dtype}, idx ${fmt(idx.shape)} ${idx.dtype}`, [table.shape, idx.shape]);
  }
  return rt.record(gatherOp, [table, idx], { divisor: divisor ?? 255 });
}

/**
 * @internal Rows `idx` of a u8 table kept as shards of whole rows (table k holding the rows from
 * starts[k] on), as f32 ÷ 255: each shard's gather gives its own rows and 0 for the others', and
 * the gathers add up, exactly, to the whole table's. For a dataset larger than a buffer binding
 * may be (lavapipe's and WebGPU's default: 128 MiB; CIFAR-10's training images are 154 MB).
 */
export function gatherShards(tables: readonly Tensor[], starts: readonly number[], idx: Tensor): Tensor {
  if (tables.length === 1) return gather(tables[0]!, idx);
  const rt = runtimeOf('gather', { table: tables[0]!, idx });
  return tables.map((table, k) => rt.record(gatherOp, [table, idx], { divisor: 255, offset: starts[k]!, zeroOutside: true })).reduce((a, b) => add(a, b));
}
