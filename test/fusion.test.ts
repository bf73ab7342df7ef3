// Kernel fusion (OpDef.absorb): a ReLU computed in the matmul's epilogue and a ReLU gradient in
// the max-pool backward give bit-identical results to the separate kernels, and only fuse
// when nothing else reads the intermediate (an output, or another op).
import { describe, expect, it } from 'vitest';
import { add, conv2d, grad, linear, maxPool2d, relu, sum, mul, type Runtime, type Tensor } from '../src/index.js';
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
