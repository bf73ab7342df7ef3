// rt.rand and rt.randn against PyTorch 1.13's torch.rand and torch.randn on the CPU after the
// same manual_seed: a sequence of draws of many sizes from one generator (so the draws each
// consumes, and the normal value PyTorch keeps for the next draw, are checked too), exactly for
// the float64 path below 16 values, within 2 ulp (most the same bits) for PyTorch's vectorised f32 path.
import { describe, expect, it } from 'vitest';
import { grad, mul, sum, TorchGenerator } from '../src/index.js';
import { expectClose, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

// Each draw: rand or randn, of this shape, in this order, from one generator.
const DRAWS: ['rand' | 'randn', number[]][] = [
  ['randn', [3]], // an odd count below 16: a normal value left waiting
  ['randn', [1]], // takes it
  ['randn', [2, 2]],
  ['rand', [5]],
  ['randn', [5]],
  ['randn', [16]], // the vectorised path: one block
  ['randn', [4, 5]], // 20: a block, then the last 16 drawn again
  ['rand', [3, 7]],
  ['randn', [15]],
  ['randn', [100]],
  ['randn', [1]],
  ['randn', [33, 31]],
];

describe('rand and randn', () => {
  it("draw as torch.rand and torch.randn do after the same manual_seed, draw after draw", async () => {
    const torch = torchJson<number[][]>(`
import json, torch
torch.manual_seed(7)
draws = ${JSON.stringify(DRAWS)}
print(json.dumps([(torch.rand if f == 'rand' else torch.randn)(*shape).flatten().tolist() for f, shape in draws]))`);
    rt().manualSeed(7);
    // The vectorised path's values: each within 2 ulp, or 2^-23 near 0 where cos or sin is small
    // (PyTorch's SLEEF log, cos and sin round otherwise than JavaScript's), most the same bits.
    const tolerance = (v: number) => Math.max(2 * 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23), 2 ** -23);
    let [same, vectorised] = [0, 0];
    for (const [i, [f, shape]] of DRAWS.entries()) {
      const t = f === 'rand' ? rt().rand(shape) : rt().randn(shape);
      expect(t.shape).toEqual(shape);
      const got = await t.read();
      const n = got.length;
      if (f === 'rand' || n < 16) expect(Array.from(got), `${f}(${shape}) #${i}`).toEqual(torch[i]);
      else {
        got.forEach((v, k) => expect(Math.abs(v - torch[i]![k]!), `${f}(${shape}) #${i}[${k}]: ${v}, PyTorch ${torch[i]![k]}`).toBeLessThanOrEqual(tolerance(torch[i]![k]!)));
        same += got.filter((v, k) => v === torch[i]![k]).length;
        vectorised += n;
      }
    }
    expect(same / vectorised).toBeGreaterThan(0.75);
  });

  it('take a generator of their own, and make tensors as rt.zeros does (requiresGrad, name)', async () => {
    const g = new TorchGenerator(3);
    const a = rt().randn([20], { generator: g, requiresGrad: true, name: 'w' });
    expect(a.requiresGrad).toBe(true);
    expect(a.name).toBe('w');
    const [dw] = grad(sum(mul(a, a)), [a]);
    expectClose(await dw!.read(), Array.from(await a.read(), (v) => 2 * v), 0, 'a gradient through it');
    // The same seed draws the same values; the runtime's generator is untouched.
    rt().manualSeed(5);
    const before = rt().generator.clone();
    expect(Array.from(await rt().randn([20], { generator: new TorchGenerator(3) }).read())).toEqual(Array.from(await a.read()));
    expect(Array.from(await rt().rand([4]).read())).toEqual(Array.from(before.uniform(new Float32Array(4), 0, 1)));
    expect(() => rt().randn([2], { generator: 3 as never })).toThrow(/^randn: generator must be a TorchGenerator, got 3$/);
    expect(() => rt().rand([2], { dtype: 'i32' } as never)).toThrow(/^rand: unknown option 'dtype' \(it takes generator, requiresGrad, name\)$/);
    expect(() => rt().rand([-1])).toThrow(/^rand: /);
    expect(() => rt().manualSeed(-1)).toThrow(/^manualSeed: the seed must be an integer from 0 to 2\^53 − 1, got -1$/);
  });
});
