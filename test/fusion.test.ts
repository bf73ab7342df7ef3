// Kernel fusion (OpDef.absorb): a ReLU computed in the matmul's epilogue and a ReLU gradient in
// the max-pool backward give bit-identical results to the separate kernels, and only fuse
// when nothing else reads the intermediate (an output, or another op).
import { describe, expect, it } from 'vitest';
import { add, batchNorm, conv2d, grad, groupNorm, layerNorm, linear, maxPool2d, relu, sub, sum, mul, type Runtime, type Tensor } from '../src/index.js';
import { f32, Rng, usePlainRuntime, useRuntime } from './helpers.js';

const rt = useRuntime();
const plain = usePlainRuntime(true);

const bits = async (t: Tensor) => new Uint32Array((await t.read()).buffer);

describe('fusion', () => {
  it('conv → ReLU → pool, forward and backward: fused equals unfused, bit for bit', async () => {
    const rng = new Rng(7);
    const x = rt().tensor(f32(rng.array(3 * 5 * 12 * 10)), [3, 5, 12, 10]);
    const w = rt().tensor(f32(rng.array(8 * 5 * 3 * 3)), [8, 5, 3, 3]);
    const b = rt().tensor(f32(rng.array(8)), [8]);
    const r = rt().tensor(f32(rng.array(3 * 8 * 6 * 5)), [3, 8, 6, 5]);
    const build = (keep: boolean): Record<string, Tensor> => {
      const pre = conv2d(x, w, b, { padding: 1 });
      const act = relu(pre);
      const pooled = maxPool2d(act, { kernelSize: 2 });
      const [dw, dx] = grad(sum(mul(pooled, r)), [w, x]);
      // Returning the pre-activation (and the pool gradient's input) keeps them in memory, so
      // nothing can be fused into their producers.
      return keep ? { pooled, dw: dw!, dx: dx!, pre, act } : { pooled, dw: dw!, dx: dx! };
    };
    const fused = await rt().compile(() => build(false));
    const plain = await rt().compile(() => build(true));
    // ReLU into the conv's matmul, the ReLU gradient into the pool backward (and the conv's
    // input-gradient path); keeping the pre-activation forbids the first.
    expect(fused.stats.fused).toBeGreaterThanOrEqual(2);
    expect(plain.stats.fused).toBeLessThan(fused.stats.fused);
    const f = fused.run();
    const p = plain.run();
    for (const name of ['pooled', 'dw', 'dx']) {
      expect(await bits(f[name]!), name).toEqual(await bits(p[name]!));
    }
  });

  it('a pre-activation that another op also reads is not fused into its producer', async () => {
    const x = rt().tensor(f32([1, -2, 3, -4, 5, -6]), [2, 3]);
    const eye = rt().tensor(f32([1, 0, 0, 0, 1, 0, 0, 0, 1]), [3, 3]);
    const program = await rt().compile(() => {
      const pre = linear(x, eye);
      return { y: add(relu(pre), pre) }; // a residual connection around the ReLU
    });
    expect(program.stats.fused).toBe(0);
    expect(Array.from(await program.run().y!.read())).toEqual([2, -2, 6, -4, 10, -6]);
  });

  // PyTorch: relu(NaN) = NaN, and its gradient passes at NaN (threshold_backward masks only
  // x ≤ 0). WGSL's max(NaN, 0) may be 0 (it is on lavapipe), which would hide a diverging net.
  const N = NaN;
  for (const [kernels, runtime] of [['the device default', rt], ['the block kernel', plain]] as [string, () => Runtime][]) {
    it(`NaN passes through ReLU, fused or not, forward and backward (${kernels} matmul)`, async () => {
      const x = runtime().tensor(f32([N, -1, 3, 2, 0.5, -2, 1, 4, -1, -3, -5, -6, -2, -4, 7, -1]), [1, 1, 4, 4]);
      const one = runtime().tensor(f32([1]), [1, 1, 1, 1]);
      const rows = runtime().tensor(f32([N, -2, 3, 1, -1, 0]), [2, 3]);
      const eye = runtime().tensor(f32([1, 0, 0, 0, 1, 0, 0, 0, 1]), [3, 3]);
      const build = (keep: boolean): Record<string, Tensor> => {
        const pre = conv2d(x, one, undefined);
        const act = relu(pre);
        const pooled = maxPool2d(act, { kernelSize: 2 });
        const [dx] = grad(sum(pooled), [x]);
        const lin = linear(rows, eye);
        const out = relu(lin);
        const [drows] = grad(sum(relu(rows)), [rows]);
        return keep ? { pooled, dx: dx!, out, drows: drows!, act, pre, lin } : { pooled, dx: dx!, out, drows: drows! };
      };
      const fused = await runtime().compile(() => build(false));
      const unfused = await runtime().compile(() => build(true));
      expect(fused.stats.fused).toBeGreaterThanOrEqual(3);
      expect(unfused.stats.fused).toBeLessThan(fused.stats.fused);
      for (const [name, program] of [['fused', fused], ['unfused', unfused]] as const) {
        const r = program.run();
        expect(Array.from(await r.pooled!.read()), `${name} pooled`).toEqual([N, 4, 0, 7]);
        // The NaN wins its window and passes the ReLU; the all-zero window's arg-max is masked.
        expect(Array.from(await r.dx!.read()), `${name} dx`).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0]);
        // NaN · 0 is NaN: the whole first row.
        expect(Array.from(await r.out!.read()), `${name} linear → relu`).toEqual([N, N, N, 1, 0, 0]);
        expect(Array.from(await r.drows!.read()), `${name} relu gradient`).toEqual([1, 0, 1, 1, 0, 0]);
      }
    });

    it(`−∞ through a ReLU fused into a matmul is 0, as unfused (${kernels} matmul)`, async () => {
      const eye = (n: number) => runtime().tensor(f32(Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0))), [n, n]);
      // Widths 4 and 3: the vectorised and the scalar epilogue; a −∞ bias, and a product that overflows.
      const x4 = runtime().tensor([1, -2, 3, 4, -5, 6, -7, 8], [2, 4]);
      const b4 = runtime().tensor([-Infinity, 0, 1, 0]);
      const x3 = runtime().tensor([1, -2, 3, -5, 6, -7], [2, 3]);
      const b3 = runtime().tensor([-Infinity, 0, 1]);
      const big = runtime().tensor([3e38, 1, 2, 3], [1, 4]);
      const w = runtime().tensor(f32([-10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]), [4, 4]);
      const [e4, e3] = [eye(4), eye(3)];
      const program = await runtime().compile(() => ({ y4: relu(linear(x4, e4, b4)), y3: relu(linear(x3, e3, b3)), y: relu(linear(big, w)) }));
      expect(program.stats.fused).toBe(3);
      const out = program.run();
      expect(Array.from(await out.y4!.read())).toEqual([0, 0, 4, 4, 0, 6, 0, 8]);
      expect(Array.from(await out.y3!.read())).toEqual([0, 0, 4, 0, 6, 0]);
      expect(Array.from(await out.y!.read())).toEqual([0, 1, 2, 3]);
    });
  }
});

// Batch norm's normalisation and the binary kernels (a residual add) rectify in their store when
// a ReLU alone reads them, as the matmul does: bit for bit the unfused values and gradients.
describe('fusion of a ReLU into batch norm and binary ops', () => {
  const RELU = 'unary.wgsl:main[relu]';
  const relus = (p: { stats: { kernels: string[] } }) => p.stats.kernels.filter((k) => k === RELU).length;

  // Fused and unfused (`keep`: the pre-activations returned too, so nothing can fuse) programs of
  // `build`, their outputs equal bit for bit; returns the fused program and its outputs.
  async function sameAsUnfused(build: (keep: boolean) => Record<string, Tensor>, fusedAway: number) {
    const fused = await rt().compile(() => build(false));
    const unfused = await rt().compile(() => build(true));
    expect(fused.stats.fused - unfused.stats.fused).toBe(fusedAway);
    expect(relus(unfused) - relus(fused)).toBe(fusedAway);
    expect(unfused.stats.dispatches - fused.stats.dispatches).toBe(fusedAway);
    const [f, p] = [fused.run(), unfused.run()];
    for (const name of Object.keys(f)) expect(await bits(f[name]!), name).toEqual(await bits(p[name]!));
    return { fused, out: f };
  }

  for (const training of [true, false]) {
    it(`batch norm → ReLU (${training ? 'training' : 'evaluation'}), forward and the gradients of x, weight and bias`, async () => {
      const rng = new Rng(training ? 11 : 12);
      const shape = [4, 6, 5, 3];
      const size = 4 * 6 * 5 * 3;
      const x = rt().tensor(f32(rng.array(size)), shape);
      const w = rt().tensor(f32(rng.array(6)), [6]);
      const b = rt().tensor(f32(rng.array(6)), [6]);
      const r = rt().tensor(f32(rng.array(size)), shape);
      const runningMean = rt().tensor(f32(rng.array(6)), [6]);
      const runningVar = rt().tensor(f32(rng.array(6).map((v) => v + 1)), [6]);
      const build = (keep: boolean): Record<string, Tensor> => {
        const pre = batchNorm(x, { weight: w, bias: b, training, runningMean, runningVar });
        const y = relu(pre);
        const [dx, dw, db] = grad(sum(mul(y, r)), [x, w, b]);
        return { y, dx: dx!, dw: dw!, db: db!, ...(keep ? { pre } : {}) };
      };
      const { fused, out } = await sameAsUnfused(build, 1);
      expect(fused.stats.kernels).toContain('batchnorm.wgsl:apply');
      const y = await out.y!.read();
      expect(y.some((v) => v === 0) && y.some((v) => v > 0) && y.every((v) => v >= 0)).toBe(true);
    });
  }

  it('broadcasting and same-shape adds → ReLU, and sub, mul: forward, gradients, NaN, ±0 and ±∞', async () => {
    const N = NaN;
    // a + b hits NaN, −0 (−0 + −0), +0 (1 + −1), ±∞, and NaN from ∞ − ∞.
    const a = rt().tensor(f32([N, -0, 1, -Infinity, Infinity, 2, -3, 0.5, -0, 4, -1, 3]), [3, 1, 4]);
    const b = rt().tensor(f32([1, -0, -1, 2, -Infinity, 0, 3, -2]), [2, 4]);
    const c = rt().tensor(f32([0, -0, 2, -5, N, 1, -1, Infinity, -0, 3, -2, 1]), [3, 1, 4]);
    const r = rt().tensor(f32(new Rng(5).array(24)), [3, 2, 4]);
    const build = (keep: boolean): Record<string, Tensor> => {
      const pre = add(a, b); // [3, 2, 4]
      const y = relu(pre);
      const same = add(a, c); // no broadcast
      const ys = relu(same);
      const diff = sub(c, a);
      const prod = mul(a, c);
      const [da, db] = grad(sum(mul(y, r)), [a, b]);
      const outs = { y, ys, yd: relu(diff), yp: relu(prod), da: da!, db: db! };
      return keep ? { ...outs, pre, same, diff, prod } : outs;
    };
    const { out } = await sameAsUnfused(build, 4);
    const y = await out.y!.read();
    // NaN passes, as the unfused relu's; −0 stays −0, as its rectify keeps it; −∞ is +0.
    expect([0, 4, 12].map((i) => Number.isNaN(y[i]!))).toEqual([true, true, true]); // NaN + 1, NaN − ∞, ∞ − ∞
    expect([Object.is(y[1], -0), Object.is(y[2], 0), Object.is(y[3], 0), y[6], y[8]]).toEqual([true, true, true, 4, Infinity]);
    const ys = await out.ys!.read();
    expect([Number.isNaN(ys[0]!), Object.is(ys[1], -0)]).toEqual([true, true]);
    // The gradient passes where the output is > 0 or NaN (as PyTorch's threshold_backward).
    const [rv, da] = [await r.read(), await out.da!.read()];
    const passes = (v: number) => v > 0 || Number.isNaN(v);
    const want = Array.from({ length: 12 }, (_, k) => {
      const [i, j] = [Math.floor(k / 4), k % 4];
      return Math.fround(Math.fround(passes(y[i * 8 + j]!) ? rv[i * 8 + j]! : 0) + (passes(y[i * 8 + 4 + j]!) ? rv[i * 8 + 4 + j]! : 0));
    });
    expect(Array.from(da)).toEqual(want);
  });

  it('depthwise convolution → ReLU, with and without a bias: forward and the gradients of x, the weight and the bias', async () => {
    const rng = new Rng(23);
    // Rows of 13: blocks of 4 outputs inside the image (taken together) and at its edges (one by one).
    const x = rt().tensor(f32(rng.array(2 * 5 * 9 * 13)), [2, 5, 9, 13]);
    const w = rt().tensor(f32(rng.array(10 * 9)), [10, 1, 3, 3]);
    const b = rt().tensor(f32(rng.array(10)), [10]);
    const r = rt().tensor(f32(rng.array(2 * 10 * 9 * 13)), [2, 10, 9, 13]);
    const { fused, out } = await sameAsUnfused((keep) => {
      const [pre, plain] = [conv2d(x, w, b, { padding: 1, groups: 5 }), conv2d(x, w, undefined, { padding: 1, groups: 5 })];
      const [y, yp] = [relu(pre), relu(plain)];
      const [dx, dw, db] = grad(add(sum(mul(y, r)), sum(mul(yp, r))), [x, w, b]);
      return { y, yp, dx: dx!, dw: dw!, db: db!, ...(keep ? { pre, plain } : {}) };
    }, 2);
    expect(fused.stats.kernels).toContain('depthwise.wgsl:forward_bias');
    const y = await out.y!.read();
    expect(y.some((v) => v === 0) && y.some((v) => v > 0) && y.every((v) => v >= 0)).toBe(true);
  });

  it('layer and group norm → ReLU: into the normalisation (through its reshape) or the bias add', async () => {
    const rng = new Rng(21);
    const x = rt().tensor(f32(rng.array(2 * 6 * 4 * 3)), [2, 6, 4, 3]);
    const [w, b] = [rt().tensor(f32(rng.array(6)), [6]), rt().tensor(f32(rng.array(6)), [6])];
    const r = rt().tensor(f32(rng.array(2 * 6 * 4 * 3)), [2, 6, 4, 3]);
    await sameAsUnfused((keep) => {
      const pl = layerNorm(x, [4, 3]);
      const pg = groupNorm(x, 3, { weight: w, bias: b });
      const [yl, yg] = [relu(pl), relu(pg)];
      const [dx, dw] = grad(add(sum(mul(yl, r)), sum(mul(yg, r))), [x, w]);
      return { yl, yg, dx: dx!, dw: dw!, ...(keep ? { pl, pg } : {}) };
    }, 2);
  });

  it('fuses once, into a producer that nothing else reads; the ReLU output may be read, kept or viewed', async () => {
    const a = rt().tensor(f32([1, -2, 3, -4, 5, -6]), [2, 3]);
    const b = rt().tensor(f32([-1, 1, -1]), [3]);
    const twice = await rt().compile(() => ({ y: relu(relu(add(a, b))) }));
    expect([twice.stats.fused, relus(twice)]).toEqual([1, 1]);
    expect(Array.from(await twice.run().y!.read())).toEqual([0, 0, 2, 0, 6, 0]);
    // The ReLU's output a program output and read by another op, through a view.
    const read = await rt().compile(() => {
      const y = relu(add(a, b).reshape(3, 2));
      return { y, z: mul(y, 2) };
    });
    expect(read.stats.fused).toBe(1);
    const out = read.run();
    expect(Array.from(await out.y!.read())).toEqual([0, 0, 2, 0, 6, 0]);
    expect(Array.from(await out.z!.read())).toEqual([0, 0, 4, 0, 12, 0]);
    // A pre-activation that the residual path also reads stays the add's own.
    const residual = await rt().compile(() => {
      const pre = add(a, b);
      return { y: add(relu(pre), pre) };
    });
    expect(residual.stats.fused).toBe(0);
    expect(relus(residual)).toBe(1);
    expect(Array.from(await residual.run().y!.read())).toEqual([0, -1, 4, -5, 12, -7]);
  });
});
