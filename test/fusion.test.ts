// Kernel fusion (OpDef.absorb): a ReLU computed in the matmul's epilogue and a ReLU gradient in
// the max-pool backward give bit-identical results to the separate kernels, and only fuse
// when nothing else reads the intermediate.
import { describe, expect, it } from 'vitest';
import { conv2d, grad, maxPool2d, relu, sum, mul, type Tensor } from '../src/index.js';
import { f32, Rng, useRuntime } from './helpers.js';

const rt = useRuntime();

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
});
