// matmul and linear against a float64 reference: odd sizes, transposes, batch broadcasting,
// fused bias, and the batch-summing form; gradients checked as in checkOp. Every kernel is
// checked on whichever adapter runs the tests: a CPU adapter's (the subgroup kernel where the
// adapter has subgroups, the block kernel without) and a GPU's (tiles in workgroup memory, a
// workgroup per output), with work split as each would.
import { describe, expect, it } from 'vitest';
import { conv2d, grad, linear, matmul, relu, ShapeError, sum, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectSame, f32, Rng, usePlainRuntime, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchOps } from './oracle.js';
import { refMatmul, refMatmulGrad, refMatmulNd, refMatmulNdGrad, type MatmulCfg as Cfg, type MatmulNdCfg } from './references.js';

const rt = useRuntime();
const plain = usePlainRuntime(true);
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

function shapes(c: Cfg): number[][] {
  const a = c.transA ? [c.K, c.M] : [c.M, c.K];
  const b = c.transB ? [c.N, c.K] : [c.K, c.N];
  const list = [c.batchA ? [c.batchA, ...a] : a, c.batchB ? [c.batchB, ...b] : b];
  if (c.bias !== 'none') list.push([c.bias === 'row' ? c.M : c.N]);
  return list;
}

// Products as torch.matmul takes them: batch dimensions broadcast one way, the other, or both;
// batches of 1; 1-D operands; with transposes, a bias and the batch sum.
const BROADCAST: (MatmulNdCfg & { out: number[] })[] = [
  { a: [2, 1, 3, 5], b: [4, 5, 2], out: [2, 4, 3, 2] },
  { a: [1, 3, 5], b: [6, 5, 2], out: [6, 3, 2] },
  { a: [6, 3, 5], b: [1, 2, 5], transB: true, bias: 'col', out: [6, 3, 2] },
  { a: [1, 1, 3, 5], b: [1, 5, 2], out: [1, 1, 3, 2] },
  { a: [2, 3, 4, 5], b: [3, 5, 6], out: [2, 3, 4, 6] },
  { a: [3, 1, 4, 5], b: [3, 4, 2], transA: true, out: [3, 3, 5, 2] },
  { a: [5, 1, 3, 7], b: [1, 4, 6, 3], transA: true, transB: true, bias: 'row', out: [5, 4, 7, 6] },
  { a: [3, 1, 2, 5], b: [1, 4, 5, 1], bias: 'row', sumBatch: true, out: [2, 1] },
  { a: [2, 1, 9, 13], b: [1, 3, 17, 13], transB: true, sumBatch: true, bias: 'col', out: [9, 17] },
  { a: [5], b: [5, 3], out: [3] },
  { a: [7, 4], b: [4], out: [7] },
  { a: [6], b: [6], out: [] },
  { a: [5], b: [2, 3, 5, 4], bias: 'col', out: [2, 3, 4] },
  { a: [2, 1, 3, 5], b: [3], transA: true, bias: 'row', out: [2, 1, 5] },
  { a: [5], b: [3, 4, 5], transB: true, out: [3, 4] },
  { a: [5], b: [3, 5, 2], sumBatch: true, out: [2] },
  { a: [3, 1, 5, 4], b: [4, 5], bias: 'row', out: [3, 1, 5, 5] },
];

function broadcastShapes(c: MatmulNdCfg): number[][] {
  const a = c.a.length === 1 ? [1, c.a[0]!] : c.a;
  const b = c.b.length === 1 ? [c.b[0]!, 1] : c.b;
  const bias = c.bias === 'row' ? a[a.length - (c.transA ? 1 : 2)]! : b[b.length - (c.transB ? 2 : 1)]!;
  return c.bias ? [c.a, c.b, [bias]] : [c.a, c.b];
}

function broadcastProduct(c: MatmulNdCfg) {
  return ([a, b, bias]: readonly Tensor[]) => matmul(a!, b!, { transA: c.transA ?? false, transB: c.transB ?? false, sumBatch: c.sumBatch ?? false, ...(bias ? { bias, biasAxis: c.bias! } : {}) });
}

function randomCfg(rng: Rng): Cfg {
  const batch = rng.pick([0, 1, 3]);
  const layout = rng.pick(['both', 'a', 'b'] as const);
  const sumBatch = batch > 0 && layout === 'both' && rng.next() < 0.4;
  return {
    M: rng.pick([1, 2, 5, 13, 33, 40]),
    N: rng.pick([1, 3, 7, 17, 36]),
    K: rng.pick([1, 4, 9, 25, 70, 260]), // 260: long enough for a GPU's one-workgroup-per-output kernel
    batchA: batch && layout !== 'b' ? batch : 0,
    batchB: batch && layout !== 'a' ? batch : 0,
    transA: rng.next() < 0.5,
    transB: rng.next() < 0.5,
    bias: rng.pick(['none', 'row', 'col'] as const),
    sumBatch,
  };
}

/** Small-integer operands [B, M, K] and [B, K, N] and their batch-summed product Σₙ aₙ·bₙ (exact in f32). */
function smallBatchSum(rng: Rng, B: number, M: number, K: number, N: number) {
  const a = Float32Array.from({ length: B * M * K }, () => rng.int(-3, 3));
  const b = Float32Array.from({ length: B * K * N }, () => rng.int(-3, 3));
  const want = new Float64Array(M * N);
  for (let n = 0; n < B; n++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j]! += a[(n * M + i) * K + k]! * b[(n * K + k) * N + j]!;
  return { a, b, want };
}

describe.each([
  { kernel: "a CPU adapter's kernels (register blocks, with subgroups where offered)", runtime: cpuSplit },
  { kernel: "a GPU's kernels (tiles in workgroup memory, or a workgroup per output)", runtime: gpuSplit },
  { kernel: 'the block kernel (a CPU adapter without subgroups)', runtime: plain },
])('matmul on $kernel', ({ runtime }) => {
  it('matches float64 on random configurations, with gradients', async () => {
    const rng = new Rng(2024);
    for (let t = 0; t < 30; t++) {
      const c = randomCfg(rng);
      await checkOp(runtime(), rng, {
        name: `matmul ${JSON.stringify(c)}`,
        shapes: shapes(c),
        gpu: ([a, b, bias]) => matmul(a!, b!, { transA: c.transA, transB: c.transB, sumBatch: c.sumBatch, ...(bias ? { bias, biasAxis: c.bias as 'row' | 'col' } : {}) }),
        ref: ([a, b, bias]) => refMatmul(c, a!, b!, bias),
        refGrad: ([a, b], r) => {
          const [da, db, dbias] = refMatmulGrad(c, a!, b!, r);
          return c.bias === 'none' ? [da!, db!] : [da!, db!, dbias!];
        },
        // Relative to the largest |value|; bias gradients are sums with cancellation.
        tol: 1e-4,
      });
    }
  });

  it('broadcasts batch dimensions and takes 1-D operands as torch.matmul, matching float64 with gradients', async () => {
    const rng = new Rng(2025);
    for (const c of BROADCAST) {
      const r = runtime();
      const x = broadcastShapes(c).map((s) => r.zeros(s));
      expect(broadcastProduct(c)(x).shape, JSON.stringify(c)).toEqual(c.out);
      await checkOp(r, rng, {
        name: `matmul ${JSON.stringify(c)}`,
        shapes: broadcastShapes(c),
        gpu: broadcastProduct(c),
        ref: ([a, b, bias]) => refMatmulNd(c, a!, b!, bias),
        refGrad: ([a, b], g) => refMatmulNdGrad(c, a!, b!, g),
        tol: 1e-4,
      });
    }
  });

  it('a 1024-wide product stays within 1e-4 of float64', async () => {
    const rng = new Rng(5);
    // Batch 2: enough tiles that a GPU's partition runs it on the shared tiles, not per output.
    const c: Cfg = { M: 257, N: 300, K: 1024, batchA: 2, batchB: 2, transA: false, transB: false, bias: 'none', sumBatch: false };
    await checkOp(runtime(), rng, { name: 'matmul 2x257x300x1024', shapes: shapes(c), gpu: ([a, b]) => matmul(a!, b!), ref: ([a, b]) => refMatmul(c, a!, b!), tol: 1e-4 });
  });

  it('a batch sum over many more entries than output tiles, split into partial sums of several entries', async () => {
    // One 8×8 output: the 128 products are summed in groups (as a conv weight gradient over a batch).
    const [B, M, K, N] = [128, 8, 5, 8];
    const { a, b, want } = smallBatchSum(new Rng(9), B, M, K, N);
    const c = await matmul(runtime().tensor(a, [B, M, K]), runtime().tensor(b, [B, K, N]), { sumBatch: true }).read();
    expect(Array.from(c)).toEqual(Array.from(want)); // small integers: exact
  });

  it('a batch sum split into partial sums adds its bias once, per column or per row, with its gradient', async () => {
    const [B, M, K, N] = [4, 3, 5, 2]; // one output tile: four partial sums
    const { a: A, b: Bm, want: prod } = smallBatchSum(new Rng(53), B, M, K, N);
    const a = runtime().tensor(A, [B, M, K]);
    const b = runtime().tensor(Bm, [B, K, N]);
    const colBias = runtime().tensor([10, -7]);
    const c = matmul(a, b, { sumBatch: true, bias: colBias, biasAxis: 'col' });
    expect(Array.from(await c.read())).toEqual(Array.from(prod, (v, i) => v + [10, -7][i % N]!));
    const rowBias = runtime().tensor([100, 200, 300]);
    const r = matmul(a, b, { sumBatch: true, bias: rowBias, biasAxis: 'row' });
    expect(Array.from(await r.read())).toEqual(Array.from(prod, (v, i) => v + [100, 200, 300][Math.floor(i / N)]!));
    const [dcol] = grad(sum(c), [colBias]);
    expect(Array.from(await dcol!.read())).toEqual([M, M]);
  });

});

describe('matmul', () => {
  it('runs on a CPU adapter the block kernel without subgroups, the subgroup one where it can; on a GPU the shared tiles, whatever the layout', async () => {
    const kernelsOf = async (r: ReturnType<typeof rt>, transA = false, transB = false) =>
      (await r.compile(() => ({ c: matmul(r.zeros(transA ? [36, 40] : [40, 36]), r.zeros(transB ? [44, 36] : [36, 44]), { transA, transB }) }))).stats.kernels.filter((k) => k !== 'fill.wgsl:main');
    expect(plain().adapter.subgroupMinSize).toBe(0);
    expect(await kernelsOf(plain())).toEqual([expect.stringMatching(/^matmul\.wgsl:/)]);
    const usual = cpuSplit().adapter.subgroupMinSize >= 8 ? /^matmul_subgroup\.wgsl:/ : /^matmul\.wgsl:/;
    expect(await kernelsOf(cpuSplit())).toEqual([expect.stringMatching(usual)]);
    // Operands are read along whichever axis is contiguous: no transposed copies.
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      expect(await kernelsOf(gpuSplit(), transA, transB), `transA ${transA}, transB ${transB}`).toEqual(['matmul_shared.wgsl:main']);
    }
  });

  it('a batch over the device\'s workgroups per dimension runs on each partition\'s kernels, and conv2d over it', async () => {
    const batch = rt().limits.maxComputeWorkgroupsPerDimension + 4465;
    const rng = new Rng(14);
    const a = Float32Array.from({ length: batch * 2 * 3 }, () => rng.int(-4, 4));
    const b = Float32Array.from({ length: batch * 3 * 2 }, () => rng.int(-4, 4));
    const want = new Float32Array(batch * 4);
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) want[n * 4 + i * 2 + j]! += a[n * 6 + i * 3 + k]! * b[n * 6 + k * 2 + j]!;
    }
    // A 1×1 convolution of 4×4 images: y = 2x + 1 (im2col then a batched matmul).
    const x = Float32Array.from({ length: batch * 16 }, () => rng.int(-8, 8));
    for (const r of [cpuSplit(), gpuSplit(), plain()]) {
      const c = await matmul(r.tensor(a, [batch, 2, 3]), r.tensor(b, [batch, 3, 2])).read();
      expectSame(c, want, 'batched product'); // small integers: exact
      const y = await conv2d(r.tensor(x, [batch, 1, 4, 4]), r.tensor([2], [1, 1, 1, 1]), r.tensor([1])).read();
      expectSame(y, Array.from(x, (v) => 2 * v + 1), '1×1 convolution');
    }
    // Summed over a batch with no divisor under that limit (a prime): in one piece, not split.
    const isPrime = (n: number) => {
      for (let q = 2; q * q <= n; q++) if (n % q === 0) return false;
      return true;
    };
    let prime = batch;
    while (!isPrime(prime)) prime++;
    for (const r of [cpuSplit(), gpuSplit()]) {
      const total = await matmul(r.ones([prime, 1, 1]), r.ones([prime, 1, 1]), { sumBatch: true }).read();
      expect(Array.from(total)).toEqual([prime]);
    }
    // A padded 3×3 convolution of 2×2 images by ones (through im2col): each output is its image's sum.
    const small = Float32Array.from({ length: batch * 4 }, () => rng.int(-2, 2));
    const y = await conv2d(rt().tensor(small, [batch, 1, 2, 2]), rt().ones([1, 1, 3, 3]), undefined, { padding: 1 }).read();
    const sums = Array.from({ length: batch }, (_, n) => small[4 * n]! + small[4 * n + 1]! + small[4 * n + 2]! + small[4 * n + 3]!);
    expectSame(y, sums.flatMap((v) => [v, v, v, v]), 'padded 3×3 convolution');
  });

  it("a product wider or taller than the device's workgroups per dimension runs as several dispatches, on each partition's kernels", async () => {
    // Past 32 × the limit, more workgroups along one dimension than a dispatch may have: for
    // every kernel down the rows, and across the columns for all but the subgroup kernel, whose
    // workgroups are 4 columns per invocation of a subgroup (32 invocations on NVIDIA's GPUs).
    const long = rt().limits.maxComputeWorkgroupsPerDimension * 32 + 100;
    const col = Float32Array.from({ length: long }, (_, j) => (j % 7) - 3.5);
    const pair = Float32Array.from([2, -1]);
    for (const r of [cpuSplit(), gpuSplit(), plain()]) {
      const wide = await r.compile(() => ({ c: matmul(r.tensor(pair, [2, 1]), r.tensor(col, [1, long])) }));
      if (r !== cpuSplit() || r.adapter.subgroupMinSize <= 8) expect(wide.stats.dispatches, 'wide').toBeGreaterThan(1);
      expectSame(await (await wide.run()).c!.read(), [...col.map((v) => 2 * v), ...col.map((v) => -v)], 'wide product');
      const tall = await r.compile(() => ({ c: matmul(r.tensor(col, [long, 1]), r.tensor(pair, [1, 2])) }));
      expect(tall.stats.dispatches, 'tall').toBeGreaterThan(1);
      expectSame(await (await tall.run()).c!.read(), Array.from(col).flatMap((v) => [2 * v, -v]), 'tall product');
    }
  });

  it('spreads a batch sum over a small output as the adapter needs: on a GPU into partial sums or a workgroup per output, on a CPU driver not', async () => {
    // A conv2 weight gradient of the seed CNN: [50, 400, 196] · [50, 196, 32] summed over the batch.
    const dispatches = async (r: ReturnType<typeof rt>) =>
      (await r.compile(() => ({ c: matmul(r.zeros([50, 400, 196]), r.zeros([50, 196, 32]), { sumBatch: true }) }))).stats.kernels.filter((k) => k !== 'fill.wgsl:main'); // not the poisoning of freed buffers
    expect(await dispatches(cpuSplit())).toEqual([expect.stringMatching(/^matmul/)]);
    expect(await dispatches(gpuSplit())).toEqual([expect.stringMatching(/^matmul/), expect.stringMatching(/^reduce\.wgsl:sum/)]);
    // The conv1 weight gradient, [50, 16, 784] · [50, 784, 25] summed: 400 outputs over k = 784 × 50,
    // a workgroup per output on a GPU, the batch summed inside it.
    const rng = new Rng(77);
    const [B, M, K, N] = [50, 16, 784, 25];
    const { a, b, want } = smallBatchSum(rng, B, M, K, N);
    const conv1 = await gpuSplit().compile(() => ({ c: matmul(gpuSplit().tensor(a, [B, M, K]), gpuSplit().tensor(b, [B, K, N]), { sumBatch: true }) }));
    expect(conv1.stats.kernels).toEqual(['matmul_dot.wgsl:main']);
    expect(Array.from(await (await conv1.run()).c!.read())).toEqual(Array.from(want)); // small integers: exact
    // A k shorter than the workgroup: its invocations take several batch entries at once
    // (64 invocations over k = 5 and k = 3; 256 over k = 61).
    for (const [B, M, K, N] of [[97, 3, 5, 7], [300, 2, 3, 5], [70, 3, 61, 2]] as const) {
      const s = smallBatchSum(rng, B, M, K, N);
      const p = await gpuSplit().compile(() => ({ c: matmul(gpuSplit().tensor(s.a, [B, M, K]), gpuSplit().tensor(s.b, [B, K, N]), { sumBatch: true }) }));
      expect(p.stats.kernels, `${B}×${M}×${K}×${N}`).toEqual(['matmul_dot.wgsl:main']);
      expect(Array.from(await (await p.run()).c!.read()), `${B}×${M}×${K}×${N}`).toEqual(Array.from(s.want));
    }
  });

  it('on a GPU, a product with few outputs over a long k runs a workgroup per output, matching float64 with gradients', async () => {
    const base = { batchA: 0, batchB: 0, transA: false, transB: false, bias: 'none', sumBatch: false } as const;
    const configs: Cfg[] = [
      { ...base, M: 5, N: 10, K: 1568, transB: true, bias: 'col' }, // the seed CNN's fc layer, batch 5
      { ...base, M: 64, N: 16, K: 1024, transB: true, bias: 'col' }, // a linear layer at batch 64
      { ...base, M: 7, N: 2, K: 257, transA: true, bias: 'row' },
      { ...base, M: 1, N: 3, K: 300 },
      { ...base, M: 3, N: 5, K: 260, batchA: 2 },
      { ...base, M: 3, N: 1, K: 261, batchA: 3, batchB: 3, transA: true, transB: true },
    ];
    const product = (c: Cfg) => ([a, b, bias]: readonly Tensor[]) =>
      matmul(a!, b!, { transA: c.transA, transB: c.transB, ...(bias ? { bias, biasAxis: c.bias as 'row' | 'col' } : {}) });
    const kernels = async (r: ReturnType<typeof rt>, c: Cfg) => (await r.compile(() => ({ c: product(c)(shapes(c).map((s) => r.zeros(s))) }))).stats.kernels;
    const rng = new Rng(31);
    for (const c of configs) {
      expect(await kernels(gpuSplit(), c), JSON.stringify(c)).toEqual(['matmul_dot.wgsl:main']); // any layout: no transposed copies
      expect(await kernels(cpuSplit(), c), JSON.stringify(c)).not.toContain('matmul_dot.wgsl:main'); // a CPU driver: the tiles
      await checkOp(gpuSplit(), rng, {
        name: `matmul ${JSON.stringify(c)}`,
        shapes: shapes(c),
        gpu: product(c),
        ref: ([a, b, bias]) => refMatmul(c, a!, b!, bias),
        refGrad: ([a, b], r) => {
          const [da, db, dbias] = refMatmulGrad(c, a!, b!, r);
          return c.bias === 'none' ? [da!, db!] : [da!, db!, dbias!];
        },
        tol: 1e-4,
      });
    }
    // With a ReLU fused in: negative sums come out 0.
    const x = gpuSplit().tensor(Float32Array.from({ length: 4 * 300 }, (_, i) => (i % 7) - 3), [4, 300]);
    const w = gpuSplit().tensor(Float32Array.from({ length: 300 * 2 }, (_, i) => (i % 2 ? -1 : 1)), [300, 2]);
    const fused = await gpuSplit().compile(() => ({ y: relu(matmul(x, w)) }));
    expect(fused.stats.kernels).toEqual(['matmul_dot.wgsl:main']);
    const sums = Array.from({ length: 4 }, (_, i) => Array.from({ length: 300 }, (_, k) => ((i * 300 + k) % 7) - 3).reduce((s, v) => s + v, 0));
    expect([...(await (await fused.run()).y!.read())]).toEqual(sums.flatMap((s) => [Math.max(0, s), Math.max(0, -s)]));
  });

  it('on a GPU, the shared tiles sum partials of several batch entries on every layout, and fuse a bias and a ReLU', async () => {
    const r = gpuSplit();
    const rng = new Rng(41);
    const base = { batchA: 0, batchB: 0, transA: false, transB: false, bias: 'none', sumBatch: false } as const;
    const kernelsOf = async (f: () => Tensor) => (await r.compile(() => ({ c: f() }))).stats.kernels.filter((k) => k !== 'fill.wgsl:main');
    // 20 tiles per entry: 128 entries summed into 64 partials of 2, then added.
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const c: Cfg = { ...base, M: 128, N: 130, K: 37, batchA: 128, batchB: 128, transA, transB, sumBatch: true };
      const [x, y] = shapes(c).map((s) => rng.array(s.reduce((p, q) => p * q, 1)));
      const product = () => matmul(r.tensor(f32(x!), shapes(c)[0]!), r.tensor(f32(y!), shapes(c)[1]!), { transA, transB, sumBatch: true });
      expect(await kernelsOf(product), JSON.stringify(c)).toEqual(['matmul_shared.wgsl:main', expect.stringMatching(/^reduce\.wgsl:sum/)]);
      expectClose(await product().read(), refMatmul(c, x!, y!), 1e-4, JSON.stringify(c));
    }
    for (const axis of ['row', 'col'] as const) {
      const c: Cfg = { ...base, M: 35, N: 33, K: 9, batchA: 3, batchB: 3, bias: axis };
      const [x, y, bias] = shapes(c).map((s) => rng.array(s.reduce((p, q) => p * q, 1)));
      const product = () => relu(matmul(r.tensor(f32(x!), shapes(c)[0]!), r.tensor(f32(y!), shapes(c)[1]!), { bias: r.tensor(f32(bias!), shapes(c)[2]!), biasAxis: axis }));
      expect(await kernelsOf(product), axis).toEqual(['matmul_shared.wgsl:main']);
      expectClose(await product().read(), refMatmul(c, x!, y!, bias).map((v) => Math.max(v, 0)), 1e-5, `relu(matmul + bias per ${axis})`);
    }
  });

  it("a batch sum's bias gets the output's gradient once, however the sum runs: split, whole, or a workgroup per output", async () => {
    for (const [r, [B, M, K, N], kernel] of [
      [cpuSplit(), [4, 3, 5, 2], 'reduce.wgsl:sum'], // split into partial sums, the bias added after
      [cpuSplit(), [2, 128, 3, 256], 'matmul_subgroup'], // whole, the bias in the kernel
      [gpuSplit(), [8, 3, 64, 5], 'matmul_dot.wgsl:main'], // a workgroup per output, the bias in the kernel
    ] as const) {
      const what = `${B}×${M}×${K}×${N}`;
      const a = r.ones([B, M, K]);
      const b = r.ones([B, K, N]);
      for (const axis of ['row', 'col'] as const) {
        const bias = r.zeros([axis === 'row' ? M : N]);
        const forward = await r.compile(() => ({ c: matmul(a, b, { sumBatch: true, bias, biasAxis: axis }) }));
        expect(forward.stats.kernels.some((k) => k.startsWith(kernel)), `${what} ${forward.stats.kernels}`).toBe(true);
        const program = await r.compile(() => ({ db: grad(sum(matmul(a, b, { sumBatch: true, bias, biasAxis: axis })), [bias])[0]! }));
        // Each bias entry is added to N (row) or M (col) outputs once.
        expect(new Set(await (await program.run()).db!.read()), `${what} ${axis}`).toEqual(new Set([axis === 'row' ? N : M]));
      }
    }
  });

  it("a batch sum's gradient keeps the batch, split into partial sums or not", async () => {
    // [B, M, K] · [K, N] summed over B: every entry of da is N (b holds ones), db every B·M.
    // [2, 128, 3, 256] fills a CPU adapter whatever its kernel: summed in one piece there.
    const unsplit = await cpuSplit().compile(() => ({ c: matmul(cpuSplit().ones([2, 128, 3]), cpuSplit().ones([3, 256]), { sumBatch: true }) }));
    expect(unsplit.stats.kernels.filter((k) => k !== 'fill.wgsl:main')).toEqual([expect.stringMatching(/^matmul/)]);
    for (const [B, M, K, N] of [[1, 2, 3, 2], [2, 128, 3, 256], [2, 2, 3, 2], [6, 2, 5, 3]] as const) {
      const a = cpuSplit().ones([B, M, K]);
      const b = cpuSplit().ones([K, N]);
      const [da, db] = grad(sum(matmul(a, b, { sumBatch: true })), [a, b]);
      expect(da!.shape, `${B}×${M}×${K}×${N}`).toEqual([B, M, K]);
      expect(new Set(await da!.read()), `${B}×${M}×${K}×${N}`).toEqual(new Set([N]));
      expect(new Set(await db!.read()), `${B}×${M}×${K}×${N}`).toEqual(new Set([B * M]));
    }
  });

  it('rejects mismatched shapes before any dispatch, naming both', () => {
    const a = rt().zeros([3, 4]);
    const b = rt().zeros([5, 6]);
    const before = rt().stats().dispatches;
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/matmul: inner dimensions differ \(4 vs 5\): a \[3, 4\], b \[5, 6\]/);
    expect(() => linear(a, b)).toThrow(/linear: input \[3, 4\] does not fit weight \[5, 6\]/);
    expect(() => linear(a, rt().zeros([5, 4]), rt().zeros([4]))).toThrow(/linear: bias \[4\] f32 does not fit weight \[5, 4\] \(expects f32 \[5\]\); input \[3, 4\]/);
    expect(rt().stats().dispatches).toBe(before);
  });

  it('agrees with torch.matmul and its gradients on broadcast batches and 1-D operands', async () => {
    const cases = BROADCAST.filter((c) => !c.transA && !c.transB && !c.bias && !c.sumBatch);
    const rng = new Rng(61);
    const inputs = cases.map((c) => [c.a, c.b].map((s) => [f32(rng.array(s.reduce((p, q) => p * q, 1))), s] as const));
    const torch = torchOps('torch.matmul(xs[0], xs[1])', cases, inputs);
    for (const [i, c] of cases.entries()) {
      const [a, b] = inputs[i]!.map(([v, s]) => rt().tensor(v, s));
      const y = matmul(a!, b!);
      expectClose(await y.read(), torch[i]!.y, 1e-5, `${JSON.stringify(c)} forward`);
      // The oracle's gradients are of Σ y·sin(k), k each element's index.
      const r = rt().tensor(Float32Array.from({ length: y.size }, (_, k) => Math.sin(k)), y.shape);
      const grads = grad(y, [a!, b!], r);
      for (const j of [0, 1]) expectClose(await grads[j]!.read(), torch[i]!.grads[j]!, 1e-5, `${JSON.stringify(c)} d/dx${j}`);
    }
  });

  it('runs equal or absent batches as before, with no copies; a batch of 1 is read for every entry, not copied', async () => {
    const kernelsOf = async (r: ReturnType<typeof rt>, a: number[], b: number[]) =>
      (await r.compile(() => ({ c: matmul(r.zeros(a), r.zeros(b)) }))).stats.kernels.filter((k) => k !== 'fill.wgsl:main');
    for (const r of [cpuSplit(), gpuSplit(), plain()]) {
      for (const [a, b] of [[[3, 8, 5], [3, 5, 4]], [[8, 5], [2, 3, 5, 4]], [[2, 3, 8, 5], [5, 4]], [[1, 8, 5], [6, 5, 4]], [[2, 3, 8, 5], [1, 1, 5, 4]], [[8], [2, 8, 4]]]) {
        expect(await kernelsOf(r, a!, b!), `${JSON.stringify(a)} · ${JSON.stringify(b)}`).toEqual([expect.stringMatching(/^matmul/)]);
      }
      // Both operands broadcast: each copied to the [2, 4] batch first (as torch's expand + reshape).
      expect(await kernelsOf(r, [2, 1, 8, 5], [4, 5, 4])).toEqual([expect.stringMatching(/^binary/), expect.stringMatching(/^binary/), expect.stringMatching(/^matmul/)]);
    }
  });

  it('refuses batch dimensions that do not broadcast, and a transpose or a dropped bias axis on a 1-D operand, before any dispatch', () => {
    const before = rt().stats().dispatches;
    for (const [a, b, opts, message] of [
      [[2, 3, 4, 5], [4, 5, 6], {}, /^matmul: batch dimensions \[2, 3\] and \[4\] do not broadcast: a \[2, 3, 4, 5\], b \[4, 5, 6\]$/],
      [[2, 5, 4], [3, 6, 5], { transA: true, transB: true }, /^matmul: batch dimensions \[2\] and \[3\] do not broadcast: a \[2, 5, 4\]ᵀ, b \[3, 6, 5\]ᵀ$/],
      [[4], [2, 5], {}, /^matmul: inner dimensions differ \(4 vs 2\): a \[4\], b \[2, 5\]$/],
      [[4], [4, 5], { transA: true }, /^matmul: transA needs a matrix a: a 1-D a is taken as a row, untransposed: a \[4\]ᵀ, b \[4, 5\]$/],
      [[3, 4], [4], { transB: true }, /^matmul: transB needs a matrix b: a 1-D b is taken as a column, untransposed/],
      [[3, 4], [4], { bias: rt().zeros([3]) }, /^matmul: a bias per column needs a matrix b: a 1-D b leaves no columns \(biasAxis 'row' adds one per row of a\): a \[3, 4\], b \[4\]$/],
      [[4], [4], { bias: rt().zeros([1]), biasAxis: 'row' }, /^matmul: a bias per row needs a matrix a: a 1-D a leaves no rows: a \[4\], b \[4\]$/],
      [[], [1, 2], {}, /^matmul: operands need at least 1 dimension: a \[\], b \[1, 2\]$/],
    ] as const) {
      expect(() => matmul(rt().zeros(a), rt().zeros(b), opts as never), `${JSON.stringify(a)} · ${JSON.stringify(b)}`).toThrow(ShapeError);
      expect(() => matmul(rt().zeros(a), rt().zeros(b), opts as never), `${JSON.stringify(a)} · ${JSON.stringify(b)}`).toThrow(message);
    }
    expect(rt().stats().dispatches).toBe(before);
  });

  it('refuses an option it does not take, or one of the wrong kind, which would give another product silently', async () => {
    const a = rt().tensor([[1, 2], [3, 4]]);
    const b = rt().tensor([[5, 6], [7, 8]]);
    const bias = rt().tensor([1, 2]);
    for (const [opts, message] of [
      [{ transposeB: true }, /^matmul: unknown option 'transposeB' \(it takes transA, transB, bias, biasAxis, sumBatch\): a \[2, 2\], b \[2, 2\]$/],
      [{ transB: 'yes' }, /^matmul: transB must be true or false, got "yes"/],
      [{ sumBatch: 1 }, /^matmul: sumBatch must be true or false, got 1/],
      [{ bias, biasAxis: 'rows' }, /^matmul: biasAxis must be 'row' or 'col', got "rows"/],
      [{ bias: [1, 2] }, /^matmul: bias must be a Tensor, got an array/],
      [{ biasAxis: 'row' }, /^matmul: biasAxis 'row' is given without a bias/],
    ] as const) {
      expect(() => matmul(a, b, opts as never), JSON.stringify(opts)).toThrow(message);
    }
    expect(Array.from(await matmul(a, b, { transB: true, bias, biasAxis: 'row' }).read())).toEqual([18, 24, 41, 55]); // A·Bᵀ + [1, 2]ᵀ by rows
  });
});

describe('linear', () => {
  it('is x·wᵀ + b with PyTorch layouts', async () => {
    const rng = new Rng(11);
    for (const [batch, inF, outF] of [
      [1, 5, 3],
      [7, 33, 10],
      [50, 1568, 10],
    ] as const) {
      const c: Cfg = { M: batch, N: outF, K: inF, batchA: 0, batchB: 0, transA: false, transB: true, bias: 'col', sumBatch: false };
      await checkOp(rt(), rng, {
        name: `linear ${batch}x${inF}->${outF}`,
        shapes: [[batch, inF], [outF, inF], [outF]],
        gpu: ([x, w, b]) => linear(x!, w!, b!),
        ref: ([x, w, b]) => refMatmul(c, x!, w!, b),
        refGrad: ([x, w], r) => refMatmulGrad(c, x!, w!, r),
        tol: 1e-5,
      });
    }
  });

  it('takes any leading dimensions, as nn.Linear: [2, 3, 5] → [2, 3, 4], with gradients', async () => {
    // The same numbers as a [6, 5] input: row-major leading dimensions are rows.
    const c: Cfg = { M: 6, N: 4, K: 5, batchA: 0, batchB: 0, transA: false, transB: true, bias: 'col', sumBatch: false };
    await checkOp(rt(), new Rng(12), {
      name: 'linear [2, 3, 5]',
      shapes: [[2, 3, 5], [4, 5], [4]],
      gpu: ([x, w, b]) => linear(x!, w!, b!),
      ref: ([x, w, b]) => refMatmul(c, x!, w!, b),
      refGrad: ([x, w], r) => refMatmulGrad(c, x!, w!, r),
      tol: 1e-5,
    });
  });

  it('takes a 1-D input, as nn.Linear: [5] → [4], with gradients', async () => {
    const c: Cfg = { M: 1, N: 4, K: 5, batchA: 0, batchB: 0, transA: false, transB: true, bias: 'col', sumBatch: false };
    await checkOp(rt(), new Rng(13), {
      name: 'linear [5]',
      shapes: [[5], [4, 5], [4]],
      gpu: ([x, w, b]) => linear(x!, w!, b!),
      ref: ([x, w, b]) => refMatmul(c, x!, w!, b),
      refGrad: ([x, w], r) => refMatmulGrad(c, x!, w!, r),
      tol: 1e-5,
    });
    expect(linear(rt().zeros([5]), rt().zeros([4, 5])).shape).toEqual([4]);
  });
});
