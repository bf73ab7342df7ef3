// Random tensors drawn on the GPU (randomUniform, randomNormal) against float64 references of
// the same Threefry words, their distributions (Kolmogorov–Smirnov), new draws per eager call and
// per compiled run (replayed by a generator's offset), gradients through them (a VAE's
// reparameterisation); rrelu in evaluation as PyTorch's, in training with the slopes of the
// reference's draw and its gradient those slopes, as a model layer (nn.RReLU); their errors.
import { describe, expect, it } from 'vitest';
import { add, exp, Generator, grad, Model, mul, parseModelSpec, randomNormal, randomUniform, rrelu, scale, sum } from '../src/index.js';
import { expectClose, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';
import { erfc, threefry2x32 } from './references.js';

const rt = useRuntime();

/** The words of draw (seed, offset) for n values: block t gives values 2t and 2t + 1. */
function words(seed: number, offset: number, n: number): number[] {
  return Array.from({ length: Math.ceil(n / 2) }, (_, t) => threefry2x32(seed, offset, t, 0)).flat().slice(0, n);
}
const unit = (w: number) => (w >>> 8) / 2 ** 24;

/** The Kolmogorov–Smirnov distance of `xs` from the distribution function `cdf`. */
function ks(xs: ArrayLike<number>, cdf: (x: number) => number): number {
  const s = Float64Array.from(xs).sort();
  return s.reduce((d, x, i) => Math.max(d, Math.abs(cdf(x) - i / s.length), Math.abs(cdf(x) - (i + 1) / s.length)), 0);
}

describe('random tensors', () => {
  it("draw the reference's values from the generator's key: uniform from low to high, normal by Box–Muller, on odd sizes", async () => {
    for (const [shape, seed, offset] of [[[1], 0, 0], [[7], 3, 12], [[3, 5, 7], 2 ** 32 - 1, 5]] as [number[], number, number][]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const w = words(seed, offset, n + (n % 2));
      const g = () => Object.assign(new Generator(seed), { offset });
      const u = await randomUniform(rt(), shape, { low: -2, high: 3, generator: g() }).read();
      expectClose(u, w.slice(0, n).map((v) => -2 + 5 * unit(v)), 1e-6, `uniform ${JSON.stringify(shape)}`);
      const z = await randomNormal(rt(), shape, { mean: 1, std: 0.5, generator: g() }).read();
      const want = Array.from({ length: n }, (_, i) => {
        const [a, b] = [w[i - (i % 2)]!, w[i - (i % 2) + 1]!];
        const [r, th] = [Math.sqrt(-2 * Math.log(1 - unit(a))), 2 * Math.PI * unit(b)];
        return 1 + 0.5 * r * (i % 2 ? Math.sin(th) : Math.cos(th));
      });
      expectClose(z, want, 1e-5, `normal ${JSON.stringify(shape)}`);
      expect(z.every(Number.isFinite)).toBe(true);
    }
  });

  it('are uniform and normal by the Kolmogorov–Smirnov distance of 100,001 values', async () => {
    const n = 100_001;
    const u = await randomUniform(rt(), [n], { low: 2, high: 5, generator: new Generator(9) }).read();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThanOrEqual(5);
    // 1.95/√n: exceeded with probability 0.001 by a true sample.
    expect(ks(u, (x) => Math.min(1, Math.max(0, (x - 2) / 3)))).toBeLessThan(1.95 / Math.sqrt(n));
    const z = await randomNormal(rt(), [n], { mean: -1, std: 2, generator: new Generator(10) }).read();
    expect(ks(z, (x) => 0.5 * erfc(-(x + 1) / 2 / Math.SQRT2))).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('draw anew at each eager call and each compiled run; a generator set back replays them', async () => {
    const gen = new Generator(4);
    const [a, b] = [await randomNormal(rt(), [64], { generator: gen }).read(), await randomNormal(rt(), [64], { generator: gen }).read()];
    expect(a).not.toEqual(b);
    const p = await rt().compile(() => ({ e: randomUniform(rt(), [5, 3], { generator: gen }) }), {});
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push([...(await p.run().e!.read())]);
    expect(new Set(runs.map((r) => r.join())).size).toBe(3);
    gen.offset = 2;
    expect([...(await p.run().e!.read())]).toEqual(runs[0]);
    p.dispose();
  });

  it("let gradients through a VAE's reparameterisation: ∂/∂μ is 1 and ∂/∂log σ² is ½σ·ε, with the ε drawn", async () => {
    const rng = new Rng(3);
    const mu = rt().tensor(f32(rng.array(10)), [2, 5], { requiresGrad: true });
    const logVar = rt().tensor(f32(rng.array(10)), [2, 5], { requiresGrad: true });
    const eps = randomNormal(rt(), [2, 5], { generator: new Generator(8) });
    const z = add(mu, mul(exp(scale(logVar, 0.5)), eps));
    const [dMu, dLogVar] = grad(sum(z), [mu, logVar]);
    expect([...(await dMu!.read())]).toEqual(new Array<number>(10).fill(1));
    const [lv, e] = [await logVar.read(), await eps.read()];
    expectClose(await dLogVar!.read(), Array.from(lv, (v, i) => 0.5 * Math.exp(0.5 * v) * e[i]!), 1e-6, '∂/∂log σ²');
  });
});

describe('rrelu', () => {
  it("in evaluation is PyTorch's (the mean slope); in training draws a slope per negative element (the reference's, from the generator's words), its gradient that slope", async () => {
    const rng = new Rng(6);
    const xs = Array.from(f32(rng.array(400, -2, 2)));
    const torch = torchJson<number[]>(`import json, sys, torch
import torch.nn.functional as F
print(json.dumps(F.rrelu(torch.tensor(json.load(sys.stdin)), lower=0.1, upper=0.4, training=False).tolist()))`, JSON.stringify(xs));
    const x = rt().tensor(f32(xs), [20, 20], { requiresGrad: true });
    expectClose(await rrelu(x, { lower: 0.1, upper: 0.4 }).read(), torch, 1e-7, 'evaluation');
    const y = rrelu(x, { lower: 0.1, upper: 0.4, training: true, generator: new Generator(2) });
    const [g] = grad(sum(y), [x]);
    const [yv, gv] = [await y.read(), await g!.read()];
    // The slopes are randomUniform's from the generator's first draw (seed 2, offset 0): element
    // i's lower + (upper − lower)·unit(word i), from the reference Threefry, 1 where x > 0.
    const w = words(2, 0, xs.length);
    const slope = xs.map((v, i) => (v > 0 ? 1 : 0.1 + 0.3 * unit(w[i]!)));
    // These draws span [lower, upper]: a slope drawn from a narrower range would show.
    expect(Math.min(...slope)).toBeLessThan(0.11);
    expect(Math.max(...slope.filter((a) => a < 1))).toBeGreaterThan(0.39);
    expectClose(yv, xs.map((v, i) => v * slope[i]!), 1e-6, 'training: x·slope');
    expectClose(gv, slope, 1e-6, 'training: gradient, the slope');
    xs.forEach((v, i) => v > 0 && expect(yv[i], `positive ${i} passes as it is`).toBe(v));
    // At 0 (and −0) the slope drawn, as PyTorch's x ≤ 0 has it; NaN passes with gradient 1, as there.
    const z = rt().tensor([0, -0, NaN, 0], [4], { requiresGrad: true });
    const yz = rrelu(z, { lower: 0.1, upper: 0.4, training: true, generator: new Generator(3) });
    const gz = Array.from(await grad(sum(yz), [z])[0]!.read());
    expect(Array.from(await yz.read()).map((v) => Object.is(v, -0) ? '-0' : v)).toEqual([0, '-0', NaN, 0]);
    for (const k of [0, 1, 3]) expect(gz[k]! >= 0.1 - 1e-6 && gz[k]! <= 0.4 + 1e-6, `gradient at 0: ${gz[k]}`).toBe(true);
    expect(gz[2]).toBe(1);
  });

  it('as a model layer is nn.RReLU: in evaluation the same outputs as a torch model of the same seed; in training it draws from the model\'s generator', async () => {
    const torch = torchJson<{ y: number[] }>(`import json, torch, torch.nn as nn
torch.manual_seed(5)
m = nn.Sequential(nn.Linear(6, 8), nn.RReLU(0.2, 0.3), nn.Linear(8, 3)).eval()
print(json.dumps({"y": m(torch.linspace(-2, 2, 12).reshape(2, 6)).flatten().tolist()}))`);
    const m = Model.create(rt(), parseModelSpec({ input: [6], layers: [{ type: 'linear', outFeatures: 8 }, { type: 'rrelu', lower: 0.2, upper: 0.3 }, { type: 'linear', outFeatures: 3 }] }), { seed: 5 });
    const x = rt().tensor(f32(Array.from({ length: 12 }, (_, i) => -2 + (4 * i) / 11)), [2, 6]);
    expectClose(await m.forward(x, { training: false }).read(), torch.y, 1e-5, 'evaluation');
    expect(m.drawsPerForward).toBe(1);
    const before = m.generator.offset;
    const [a, b] = [await m.forward(x, { training: true }).read(), await m.forward(x, { training: true }).read()];
    expect(m.generator.offset).toBe(before + 2);
    expect(a).not.toEqual(b);
  });

  it('refuse bad ranges and options, naming the op', () => {
    const x = rt().zeros([3]);
    expectShapeErrors([
      [() => randomUniform(rt(), [2], { low: 1, high: 0 }), /^randomUniform: low and high must be finite numbers, low ≤ high, got 1 and 0/],
      [() => randomNormal(rt(), [2], { std: -1 }), /^randomNormal: mean must be a finite number and std one ≥ 0, got 0 and -1/],
      [() => randomNormal(rt(), [2], { seed: 1 } as never), /^randomNormal: unknown option 'seed'/],
      [() => randomUniform(rt(), [2], { generator: 3 as never }), /^randomUniform: generator must be a Generator, got 3/],
      [() => rrelu(x, { lower: 0.5, upper: 0.1 }), /^rrelu: lower and upper must be finite numbers, lower ≤ upper, got 0\.5 and 0\.1/],
      [() => rrelu(x, { training: 'yes' as never }), /^rrelu: training must be true or false, got "yes"/],
    ]);
    expect(() => randomUniform(rt(), [2, -1])).toThrow(/randomUniform/);
    expect(() => randomNormal([2] as never, [2])).toThrow(new TypeError('randomNormal: rt must be a Runtime (from createRuntime()), got an array of length 1 (rt.tensor() makes a tensor of nested numbers)'));
  });
});
