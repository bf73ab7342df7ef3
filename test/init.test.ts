// torch.nn.init's initialisations against PyTorch 1.13's with the same seeds: the values drawn
// (bit for bit for uniform draws; normal ones within a few ulp, see TorchGenerator.normal), one
// generator drawn from in turn as PyTorch's default one, the gains, and the errors.
import { describe, expect, it } from 'vitest';
import { init, TorchGenerator, type Nonlinearity, type Tensor } from '../src/index.js';
import { expectClose, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

// [fovea's call, PyTorch's, the shape]; all drawn in turn from one generator seeded 11.
const CASES: [(t: Tensor, g: TorchGenerator) => Tensor, string, number[]][] = [
  [(t, g) => init.uniform(t, -0.5, 2, { generator: g }), 'nn.init.uniform_(t, -0.5, 2)', [17]],
  // Widths f32 cannot hold exactly (b − a is rounded to f32 first, as PyTorch's uniform_real does).
  [(t, g) => init.uniform(t, 0.2, 1.2, { generator: g }), 'nn.init.uniform_(t, 0.2, 1.2)', [300]],
  [(t, g) => init.uniform(t, -10.3, 45.7, { generator: g }), 'nn.init.uniform_(t, -10.3, 45.7)', [300]],
  [(t, g) => init.normal(t, 1, 0.3, { generator: g }), 'nn.init.normal_(t, 1, 0.3)', [5]],
  [(t, g) => init.normal(t, -2, 3, { generator: g }), 'nn.init.normal_(t, -2, 3)', [3, 7]],
  [(t, g) => init.xavierUniform(t, init.calculateGain('relu'), { generator: g }), "nn.init.xavier_uniform_(t, nn.init.calculate_gain('relu'))", [4, 3, 2, 2]],
  [(t, g) => init.xavierNormal(t, 1, { generator: g }), 'nn.init.xavier_normal_(t)', [6, 9]],
  [(t, g) => init.kaimingUniform(t, { generator: g }), 'nn.init.kaiming_uniform_(t)', [7, 5]],
  [(t, g) => init.kaimingUniform(t, { a: 0.1, mode: 'fan_out', generator: g }), "nn.init.kaiming_uniform_(t, a=0.1, mode='fan_out')", [4, 3, 3, 3]],
  [(t, g) => init.kaimingNormal(t, { mode: 'fan_out', nonlinearity: 'relu', generator: g }), "nn.init.kaiming_normal_(t, mode='fan_out', nonlinearity='relu')", [8, 4, 3, 3]],
  [(t, g) => init.kaimingNormal(t, { nonlinearity: 'tanh', generator: g }), "nn.init.kaiming_normal_(t, nonlinearity='tanh')", [33, 2]],
  [(t) => init.constant(t, 0.25), 'nn.init.constant_(t, 0.25)', [2, 3]],
  [(t) => init.zeros(t), 'nn.init.zeros_(t)', [4]],
  [(t) => init.ones(t), 'nn.init.ones_(t)', [2, 2]],
  [(t) => init.eye(t), 'nn.init.eye_(t)', [3, 5]],
  [(t, g) => init.orthogonal(t, 1, { generator: g }), 'nn.init.orthogonal_(t)', [6, 4]],
  [(t, g) => init.orthogonal(t, 2, { generator: g }), 'nn.init.orthogonal_(t, 2)', [3, 5]],
  [(t, g) => init.orthogonal(t, 1, { generator: g }), 'nn.init.orthogonal_(t)', [4, 2, 3]],
  [(t, g) => init.truncNormal(t, 0, 1, -2, 2, { generator: g }), 'nn.init.trunc_normal_(t)', [40, 25]],
  [(t, g) => init.truncNormal(t, 0.5, 0.02, 0.48, 0.6, { generator: g }), 'nn.init.trunc_normal_(t, 0.5, 0.02, 0.48, 0.6)', [7, 3]],
  // Bounds far in a tail: every draw maps through erf⁻¹(−1) = −∞, clamped to the bound (not NaN).
  [(t, g) => init.truncNormal(t, 0, 1, -10, -9, { generator: g }), 'nn.init.trunc_normal_(t, 0, 1, -10, -9)', [3, 4]],
];

describe('init', () => {
  it("fills tensors as torch.nn.init's with the same generator, in turn", async () => {
    const want = torchJson<number[][]>(`
import json, torch, torch.nn as nn
torch.manual_seed(11)
out = []
for shape, f in [${CASES.map(([, py, shape]) => `(${JSON.stringify(shape)}, lambda t: ${py})`).join(', ')}]:
    t = torch.empty(shape)
    f(t)
    out.append(t.flatten().tolist())
print(json.dumps(out))
`);
    const g = new TorchGenerator(11);
    for (const [i, [fill, py, shape]] of CASES.entries()) {
      const t = rt().zeros(shape);
      expect(fill(t, g)).toBe(t);
      const got = await t.read();
      // Uniform draws are PyTorch's to the bit; normal ones within a few ulp.
      if (py.includes('orthogonal')) expectClose(got, want[i]!, 1e-5, py); // LAPACK's f32 QR against float64 Gram–Schmidt
      else if (py.includes('normal')) expectClose(got, want[i]!, 1e-6, py);
      else expect(Array.from(got), py).toEqual(want[i]);
    }
  });

  it("draws from rt.generator when given none, as PyTorch's from its default generator", async () => {
    const [a, b] = [rt().zeros([5, 4]), rt().zeros([5, 4])];
    rt().manualSeed(3);
    init.kaimingUniform(a);
    const want = await a.read();
    init.kaimingUniform(b, { generator: new TorchGenerator(3) });
    expect(Array.from(await b.read())).toEqual(Array.from(want));
  });

  it("gives torch.nn.init.calculate_gain's gains", () => {
    const names: Nonlinearity[] = ['linear', 'conv2d', 'conv_transpose2d', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu'];
    const want = torchJson<number[]>(`import json, torch.nn as nn; print(json.dumps([${names.map((n) => `nn.init.calculate_gain('${n}')`).join(', ')}, nn.init.calculate_gain('leaky_relu', 0.2)]))`);
    expect([...names.map((n) => init.calculateGain(n)), init.calculateGain('leaky_relu', 0.2)]).toEqual(want);
  });

  it('names what is wrong: too few dimensions for fans, an unknown activation or mode, other options', () => {
    expect(() => init.xavierUniform(rt().zeros([4]))).toThrow(/^init\.xavierUniform: fan in and fan out need a tensor of two dimensions or more, got /);
    expect(() => init.kaimingNormal(rt().zeros([4, 2]), { nonlinearity: 'gelu' as never })).toThrow(/^calculateGain: unknown nonlinearity "gelu"/);
    expect(() => init.kaimingNormal(rt().zeros([4, 2]), { mode: 'fanIn' as never })).toThrow(/^init\.kaimingNormal: mode must be 'fan_in' or 'fan_out', got "fanIn"$/);
    expect(() => init.kaimingUniform(rt().zeros([4, 2]), { gain: 2 } as never)).toThrow(/^init\.kaimingUniform: unknown option 'gain'/);
    expect(() => init.uniform(rt().zeros([3]), 2, 1)).toThrow(/^init\.uniform: a 2 is above b 1$/);
    expect(() => init.normal(rt().zeros([3]), 0, -1)).toThrow(/^init\.normal: std must be ≥ 0, got -1$/);
    expect(() => init.eye(rt().zeros([2, 2, 2]))).toThrow(/^init\.eye: needs a 2-D tensor/);
    expect(() => init.ones(rt().zeros([2], 'i32'))).toThrow(/^init\.constant: .* is not f32$/);
    expect(() => init.ones([1, 2] as never)).toThrow(/^init\.constant: the tensor must be a Tensor, got an array$/);
  });
});
