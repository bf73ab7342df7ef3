// gather (dataset rows by index, bytes to f32; an f32 table's gradient, as an embedding's) and
// transpose, against host references and PyTorch.
import { describe, expect, it } from 'vitest';
import { gather, grad, mul, ShapeError, sum, transpose } from '../src/index.js';
import { gatherShards } from '../src/ops/gather.js';
import { checkOp, expectClose, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

describe('gather', () => {
  it('picks rows of a byte table as f32 divided by 255, as ToTensor does; past the table, NaN', async () => {
    const rng = new Rng(1);
    const rows = 37;
    const len = 13; // odd: rows straddle 4-byte words
    const table = Uint8Array.from({ length: rows * len }, () => rng.int(0, 255));
    const idx = Uint32Array.from([36, 0, 5, 5, 17]);
    const out = await gather(rt().tensor(table, [rows, len]), rt().tensor(idx)).read();
    const want = Array.from(idx).flatMap((r) => Array.from(table.subarray(r * len, (r + 1) * len), (v) => Math.fround(v / 255)));
    expect(Array.from(out)).toEqual(want);
    // An index past the table (the row count itself, or -1) yields a row of NaN.
    const small = rt().tensor(Uint8Array.from({ length: 15 }, (_, i) => 17 * i), [3, 5]);
    const past = await gather(small, rt().tensor(Uint32Array.from([3, 2]))).read();
    expect(Array.from(past.subarray(0, 5)).every(Number.isNaN)).toBe(true);
    expect(Array.from(past.subarray(5))).toEqual([10, 11, 12, 13, 14].map((v) => Math.fround((17 * v) / 255)));
    expect(Array.from(await gather(small, rt().tensor(Int32Array.from([-1]))).read()).every(Number.isNaN)).toBe(true);
  });

  it('every byte value comes out as the correctly rounded f32 of byte / divisor, whatever the adapter divides like', async () => {
    // A division in the shader would fail here on adapters whose f32 division is not correctly
    // rounded (NVIDIA's gave 93 / 255 one ulp low), and so would a multiplication by 1 / 255.
    const every = rt().tensor(Uint8Array.from({ length: 256 }, (_, k) => k), [16, 16]);
    const rows = rt().tensor(Uint32Array.from({ length: 16 }, (_, r) => 15 - r));
    const want = (d: number) => Array.from({ length: 256 }, (_, i) => Math.fround((16 * (15 - (i >> 4)) + (i & 15)) / d));
    expect(Array.from(await gather(every, rows).read())).toEqual(want(255));
    expect(Array.from(await gather(every, rows, 7).read())).toEqual(want(7));
  });

  it('copies 32-bit rows; an index past the table yields NaN (f32) or -1 (integers)', async () => {
    const table = rt().tensor(Int32Array.from([10, 11, 12, 13, 14, 15]), [3, 2]);
    const out = await gather(table, rt().tensor(Int32Array.from([2, 0, 3, -1]))).read();
    expect(Array.from(out)).toEqual([14, 15, 10, 11, -1, -1, -1, -1]);
    const u = await gather(rt().tensor(Uint32Array.from([7, 8]), [2, 1]), rt().tensor(Uint32Array.from([1, 2]))).read();
    expect(Array.from(u)).toEqual([8, 0xffffffff]);
    const f = await gather(rt().tensor([1, 2, 3], [3, 1]), rt().tensor(Uint32Array.from([1, 3]))).read();
    expect(f[0]).toBe(2);
    expect(Number.isNaN(f[1])).toBe(true);
  });

  it('rejects non-integer indices, and a divisor that is no finite non-zero number or is given for a table of no bytes', () => {
    expect(() => gather(rt().zeros([3, 2]), rt().zeros([2]))).toThrow(/gather: needs a table \[rows, \.\.\.\] and 1-D integer indices/);
    // Every index is out of range of an empty table; picking none of its rows is fine.
    expect(() => gather(rt().zeros([0, 2]), rt().tensor(Int32Array.of(0)))).toThrow(new ShapeError('gather', 'a table of 0 rows has no row to pick: table [0, 2] f32, idx [1] i32', [[0, 2], [1]]));
    expect(gather(rt().zeros([0, 2]), rt().tensor(new Int32Array(0))).shape).toEqual([0, 2]);
    const bytes = rt().tensor(Uint8Array.from([1, 2, 3, 4]), [2, 2]);
    const idx = rt().tensor(Uint32Array.from([1]));
    for (const [d, shown] of [[0, '0'], [Infinity, 'Infinity'], [NaN, 'NaN'], ['255', '"255"']] as const) {
      expect(() => gather(bytes, idx, d as number)).toThrow(new RangeError(`gather: divisor must be a finite number other than 0, got ${shown}`));
    }
    expect(() => gather(rt().zeros([2, 2]), idx, 255)).toThrow(new TypeError('gather: a divisor scales the bytes of a u8 table; tensor [2, 2] f32 takes none'));
  });
});

/** Float64 gradient of Σ gather(table, idx)·r with respect to the table: r's rows added into the rows picked. */
/** f32 terms added as shaders/lib/blocked_sum.wgsl adds them: blocks of 4, 16, 64 …, then smallest first. */
function blockedSumF32(terms: readonly number[]): number {
  const s = new Float32Array(9);
  terms.forEach((v, i) => {
    s[0] = s[0]! + v;
    for (let k = 1, c = i + 1; k < 9 && c % 4 === 0; k++, c /= 4) [s[k], s[k - 1]] = [s[k]! + s[k - 1]!, 0];
  });
  return s.reduce((a, b) => Math.fround(a + b));
}

function refGatherGrad(rows: number, rowLen: number, idx: ArrayLike<number>, r: Float64Array): Float64Array {
  const out = new Float64Array(rows * rowLen);
  Array.from(idx).forEach((row, b) => {
    if (row < 0 || row >= rows) return;
    for (let c = 0; c < rowLen; c++) out[row * rowLen + c]! += r[b * rowLen + c]!;
  });
  return out;
}

describe('gatherShards: a byte table kept as shards of whole rows', () => {
  it('gives the rows a single table gives, bit for bit, from any shard, for odd row lengths and shards of one row', async () => {
    const rng = new Rng(4);
    for (const [rows, len, cuts] of [[37, 13, [10, 11, 30]], [9, 3072, [4]], [5, 7, [1, 2, 3, 4]]] as const) {
      const table = Uint8Array.from({ length: rows * len }, () => rng.int(0, 255));
      const starts = [0, ...cuts];
      const shards = starts.map((s, k) => rt().tensor(table.subarray(s * len, (starts[k + 1] ?? rows) * len), [(starts[k + 1] ?? rows) - s, len]));
      const picks = Uint32Array.from({ length: 23 }, (_, i) => (i === 0 ? rows - 1 : i === 1 ? 0 : rng.int(0, rows - 1)));
      const want = Array.from(picks, (r) => Array.from(table.subarray(r * len, (r + 1) * len), (v) => Math.fround(v / 255))).flat();
      expect(Array.from(await gatherShards(shards, starts, rt().tensor(picks)).read()), `${rows} rows of ${len} in ${starts.length} shards`).toEqual(want);
    }
  });
});

describe('gather: the gradient of an f32 table (an embedding)', () => {
  it('adds each picked row’s gradient into its row, as torch.nn.functional.embedding; rows never picked get 0', async () => {
    const rng = new Rng(3);
    // A table [7, 3, 5] (rows of 15), rows picked twice and three times, i32 and u32 indices.
    const idx = [4, 0, 6, 4, 2, 4, 0, 5, 1, 6, 3, 4, 2];
    const table = rng.array(7 * 15);
    const r = rng.array(idx.length * 15);
    const torch = torchJson<number[]>(`
import json, sys, torch
d = json.load(sys.stdin)
w = torch.tensor(d['w'], dtype=torch.float32).reshape(7, 15).requires_grad_()
y = torch.nn.functional.embedding(torch.tensor(d['idx']), w)
y.backward(torch.tensor(d['r'], dtype=torch.float32).reshape(${idx.length}, 15))
print(json.dumps(w.grad.flatten().tolist()))`, JSON.stringify({ w: Array.from(f32(table)), idx, r: Array.from(f32(r)) }));
    for (const ints of [Int32Array.from(idx), Uint32Array.from(idx)]) {
      const t = rt().tensor(f32(table), [7, 3, 5]);
      const y = gather(t, rt().tensor(ints));
      expect(y.shape).toEqual([idx.length, 3, 5]);
      const [g] = grad(y, [t], rt().tensor(f32(r), y.shape));
      expect(g!.shape).toEqual([7, 3, 5]);
      const got = await g!.read();
      expectClose(got, torch, 1e-6, `gradient, ${ints.constructor.name} indices (PyTorch)`);
      expectClose(got, refGatherGrad(7, 15, idx, r), 1e-6, `gradient, ${ints.constructor.name} indices (float64)`);
    }
  });

  it('rows longer than a workgroup, a single pick, none, indices past the table (which add nowhere), and random tables', async () => {
    const rng = new Rng(4);
    for (const [rows, rowLen, idx] of [
      [5, 130, [4, 1, 4, 0]], // 3 workgroups a row
      [1, 1, [0]], // batch 1
      [3, 7, []], // nothing picked: zeros
      [4, 3, [1, 4, -1, 9, 1]], // out of range: NaN forward rows, no gradient
    ] as [number, number, number[]][]) {
      const table = rng.array(rows * rowLen);
      const r = rng.array(idx.length * rowLen);
      const t = rt().tensor(f32(table), [rows, rowLen]);
      const [g] = grad(gather(t, rt().tensor(Int32Array.from(idx))), [t], rt().tensor(f32(r), [idx.length, rowLen]));
      expectClose(await g!.read(), refGatherGrad(rows, rowLen, idx, r), 1e-6, `gradient of [${rows}, ${rowLen}] picked by [${idx}]`);
    }
    // Many rounds of the bucketing's workgroup (its rounds as a CPU adapter's and a GPU's) and
    // many rows to each of its invocations: a row picked every third time among random ones, and
    // indices out of range, across rounds.
    for (const [rows, rowLen, picks, on] of [[3001, 3, 5000, cpuSplit], [3001, 3, 5000, gpuSplit], [100_003, 1, 700, rt], [1, 2, 333, rt]] as const) {
      const idx = Array.from({ length: picks }, (_, b) => (b % 3 === 0 ? rows >> 1 : b % 97 === 5 ? (b % 2 ? -1 : rows + b) : rng.int(0, rows - 1)));
      const r = rng.array(picks * rowLen);
      const t = on().tensor(f32(rng.array(rows * rowLen)), [rows, rowLen]);
      const [g] = grad(gather(t, on().tensor(Int32Array.from(idx))), [t], on().tensor(f32(r), [picks, rowLen]));
      const got = await g!.read();
      expectClose(got, refGatherGrad(rows, rowLen, idx, r), 1e-6, `gradient of [${rows}, ${rowLen}] picked ${picks} times`);
      // Each sum in ascending pick order, as blocked_sum.wgsl adds (f32 additions alone): to the bit.
      const hot = rows >> 1;
      const terms = idx.flatMap((row, b) => (row === hot ? [Math.fround(r[b * rowLen]!)] : []));
      expect(got[hot * rowLen], `row ${hot}'s sum in pick order`).toBe(blockedSumF32(terms));
    }
    // Random tables and picks: rows up to 70 of up to 200 values, up to 300 picks with repeats.
    for (let t = 0; t < 12; t++) {
      const [rows, rowLen, picks] = [rng.int(1, 70), rng.int(1, 200), rng.int(0, 300)];
      const idx = Array.from({ length: picks }, () => rng.int(0, rows - 1));
      const r = rng.array(picks * rowLen);
      const tab = rt().tensor(f32(rng.array(rows * rowLen)), [rows, rowLen]);
      const ints = t % 2 ? Uint32Array.from(idx) : Int32Array.from(idx);
      const [g] = grad(gather(tab, rt().tensor(ints)), [tab], rt().tensor(f32(r), [picks, rowLen]));
      expectClose(await g!.read(), refGatherGrad(rows, rowLen, idx, r), 1e-6, `gradient of [${rows}, ${rowLen}] picked ${picks} times`);
    }
  });

  it('keeps f32 precision for a row picked 200,000 times, and is differentiable again', async () => {
    const picks = 200_000;
    const t = rt().tensor(f32([1, 2, 3, 4]), [2, 2]);
    const idx = rt().tensor(new Int32Array(picks)); // row 0 each time
    const [g] = grad(gather(t, idx), [t], rt().tensor(new Float32Array(picks * 2).fill(0.1), [picks, 2]));
    // A plain running sum of 200,000 × 0.1f is off by 2e-3 relative (19959.5); blocked, within 1e-6.
    expectClose(await g!.read(), [picks * Math.fround(0.1), picks * Math.fround(0.1), 0, 0], 1e-6, 'gradient of a row picked 200,000 times');
    // f = Σ gather(t, idx)², df/dt = 2·count·t by row; its gradient along v: 2·count·v.
    const small = rt().tensor(f32([1, 2, 3, 4, 5, 6]), [3, 2]);
    const some = rt().tensor(Int32Array.from([2, 0, 2, 2]));
    const picked = gather(small, some);
    const [df] = grad(sum(mul(picked, picked)), [small]);
    expect(Array.from(await df!.read())).toEqual([2, 4, 0, 0, 30, 36]);
    const v = rt().tensor([1, -1, 2, 3, 0.5, 4], [3, 2]);
    const [h] = grad(sum(mul(df!, v)), [small]);
    expect(Array.from(await h!.read())).toEqual([2, -2, 0, 0, 3, 24]);
  });
});

describe('transpose', () => {
  it.each([
    ['as on a CPU adapter (whole rows per invocation)', cpuSplit],
    ['as on a GPU (rows in short spans)', gpuSplit],
  ] as const)('swaps the last two dimensions, with its gradient, work split %s', async (_, rt) => {
    const rng = new Rng(2);
    for (const shape of [[1, 1], [3, 5], [7, 1], [2, 3, 4], [2, 1, 5, 9], [2, 3, 4, 5], [400, 32], [3, 301, 257], [0, 3], [3, 0], [2, 0, 5], [0, 0]]) {
      const [r, c] = shape.slice(-2) as [number, number];
      const batch = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const ref = (x: Float64Array) => {
        const out = new Float64Array(x.length);
        for (let b = 0; b < batch; b++) for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[b * r * c + j * r + i] = x[b * r * c + i * c + j]!;
        return out;
      };
      const refT = (g: Float64Array) => {
        const out = new Float64Array(g.length);
        for (let b = 0; b < batch; b++) for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[b * r * c + i * c + j] = g[b * r * c + j * r + i]!;
        return out;
      };
      await checkOp(rt(), rng, { name: `transpose ${shape}`, shapes: [shape], gpu: ([x]) => transpose(x!), ref: ([x]) => ref(x!), refGrad: (_, g) => [refT(g)], tol: 0 });
    }
  });
});
