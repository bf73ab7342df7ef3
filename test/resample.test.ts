// adaptiveAvgPool2d and interpolate (nearest, nearest-exact, bilinear and bicubic with and
// without aligned corners, area, by size or by scale factor) against a float64 reference written per output pixel
// in two dimensions (test/references.ts), with central differences; against PyTorch's values
// and gradients; NaN and infinities kept where PyTorch puts them, through pad and conv2d's
// padding modes too; their work split as on a CPU adapter and as on a GPU, on few long rows and on
// more outputs than invocations; the constants they upload once; and their errors.
import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool2d, conv2d, DeviceLimitError, grad, interpolate, mul, pad, sum, type InterpolateOptions, type Runtime, type Tensor } from '../src/index.js';
import { checkOp, expectAsTorch, expectClose, expectShapeErrors, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson, torchOps } from './oracle.js';
import { padOutShape, refPad, refPadGrad, refResample, refResampleGrad, type PadCfg, type ResampleCfg as Cfg } from './references.js';

const rt = useRuntime();

const label = (c: Cfg) => `${c.mode}${c.alignCorners ? ' aligned' : ''} [${c.N},${c.C},${c.H},${c.W}] → ${c.OH}×${c.OW}${c.factors ? ` (by ${c.factors.join('×')})` : ''}`;

/** The op call a configuration describes. */
function apply(x: Tensor, c: Cfg): Tensor {
  if (c.mode === 'adaptive') return adaptiveAvgPool2d(x, [c.OH, c.OW]);
  const opts: InterpolateOptions = { mode: c.mode, ...(c.factors ? { scaleFactor: c.factors } : { size: [c.OH, c.OW] }), ...(c.alignCorners !== undefined ? { alignCorners: c.alignCorners } : {}) };
  return interpolate(x, opts);
}

async function check(rng: Rng, c: Cfg, runtime: Runtime = rt()): Promise<void> {
  await checkOp(runtime, rng, {
    name: label(c),
    shapes: [[c.N, c.C, c.H, c.W]],
    gpu: ([x]) => {
      const y = apply(x!, c);
      expect(y.shape).toEqual([c.N, c.C, c.OH, c.OW]);
      return y;
    },
    ref: ([x]) => refResample(c, x!),
    refGrad: (_, r) => [refResampleGrad(c, r)],
    tol: 1e-5,
  });
}

const MODES = ['adaptive', 'nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area'] as const;

describe('adaptiveAvgPool2d and interpolate', () => {
  it('match a float64 reference, with gradients, up and down, on odd and non-square sizes, batch 1, by size and by scale factor', async () => {
    const rng = new Rng(17);
    const named: Cfg[] = [
      { N: 1, C: 1, H: 7, W: 7, OH: 1, OW: 1, mode: 'adaptive' }, // global average pooling
      { N: 2, C: 3, H: 7, W: 5, OH: 3, OW: 2, mode: 'adaptive' }, // overlapping windows of 3 and 2
      { N: 1, C: 2, H: 3, W: 4, OH: 5, OW: 4, mode: 'adaptive' }, // more outputs than inputs; one axis unchanged
      { N: 2, C: 1, H: 3, W: 5, OH: 6, OW: 10, mode: 'nearest', factors: [2, 2] },
      { N: 1, C: 3, H: 4, W: 3, OH: 6, OW: 5, mode: 'nearest' },
      { N: 1, C: 2, H: 5, W: 4, OH: 3, OW: 2, mode: 'nearest-exact' },
      { N: 2, C: 2, H: 4, W: 5, OH: 7, OW: 9, mode: 'bilinear' },
      { N: 1, C: 1, H: 6, W: 7, OH: 4, OW: 3, mode: 'bilinear', alignCorners: true },
      { N: 1, C: 2, H: 3, W: 4, OH: 5, OW: 6, mode: 'bilinear', factors: [1.7, 1.5] }, // a factor whose sizes are floored
      { N: 2, C: 1, H: 1, W: 4, OH: 3, OW: 1, mode: 'bilinear', alignCorners: true }, // one pixel in, one out
      { N: 2, C: 2, H: 4, W: 5, OH: 9, OW: 7, mode: 'bicubic' }, // sources past both borders
      { N: 1, C: 1, H: 7, W: 6, OH: 3, OW: 4, mode: 'bicubic', alignCorners: true },
      { N: 1, C: 2, H: 2, W: 1, OH: 5, OW: 3, mode: 'bicubic' }, // fewer pixels than taps: the border's repeated
      { N: 1, C: 2, H: 5, W: 6, OH: 7, OW: 9, mode: 'bicubic', factors: [1.5, 1.6] },
      { N: 2, C: 1, H: 7, W: 9, OH: 3, OW: 4, mode: 'area' },
      { N: 1, C: 1, H: 5, W: 3, OH: 5, OW: 3, mode: 'nearest', factors: [1, 1] }, // the identity: nothing to do
      { N: 1, C: 1, H: 5, W: 3, OH: 5, OW: 3, mode: 'bicubic' }, // the identity's values, by four taps
      { N: 1, C: 2, H: 3, W: 3, OH: 3, OW: 3, mode: 'nearest', factors: [1.2, 1.1] }, // the same size at another scale: not copied
      { N: 1, C: 2, H: 3, W: 4, OH: 6, OW: 4, mode: 'bilinear', factors: [2.1, 1.2] }, // the same width at another scale: copied too
    ];
    for (const c of named) await check(rng, c);
    for (let t = 0; t < 24; t++) {
      const mode = rng.pick([...MODES]);
      const [H, W] = [rng.int(1, 9), rng.int(1, 9)];
      const c: Cfg = { N: rng.pick([1, 2, 3]), C: rng.pick([1, 2, 3, 5]), H, W, OH: rng.int(1, 12), OW: rng.int(1, 12), mode };
      if ((mode === 'bilinear' || mode === 'bicubic') && rng.next() < 0.4) c.alignCorners = true;
      if (mode !== 'adaptive' && !c.alignCorners && rng.next() < 0.4) {
        c.factors = [rng.pick([0.5, 1.5, 2, 2.5, 3]), rng.pick([0.7, 1, 2, 4])];
        [c.OH, c.OW] = [Math.floor(H * c.factors[0]), Math.floor(W * c.factors[1])];
        if (c.OH < 1 || c.OW < 1) continue;
      }
      await check(rng, c);
    }
  });

  it("match PyTorch's adaptive_avg_pool2d and interpolate, values and gradients, and their gradients are differentiable again", async () => {
    const rng = new Rng(5);
    const cases: Cfg[] = [
      { N: 2, C: 3, H: 10, W: 9, OH: 4, OW: 3, mode: 'adaptive' },
      { N: 1, C: 2, H: 5, W: 6, OH: 15, OW: 9, mode: 'nearest' },
      { N: 1, C: 2, H: 4, W: 6, OH: 9, OW: 8, mode: 'nearest', factors: [2.3, 1.4] },
      { N: 1, C: 2, H: 9, W: 6, OH: 4, OW: 13, mode: 'nearest-exact' },
      { N: 2, C: 1, H: 5, W: 6, OH: 9, OW: 4, mode: 'bilinear' },
      { N: 2, C: 1, H: 5, W: 6, OH: 9, OW: 4, mode: 'bilinear', alignCorners: true },
      { N: 1, C: 2, H: 7, W: 3, OH: 10, OW: 7, mode: 'bilinear', factors: [1.5, 2.5] },
      { N: 2, C: 1, H: 5, W: 6, OH: 9, OW: 4, mode: 'bicubic' },
      { N: 1, C: 2, H: 6, W: 3, OH: 4, OW: 8, mode: 'bicubic', alignCorners: true },
      { N: 1, C: 2, H: 7, W: 3, OH: 10, OW: 7, mode: 'bicubic', factors: [1.5, 2.5] },
      { N: 2, C: 2, H: 9, W: 10, OH: 4, OW: 3, mode: 'area' },
      { N: 1, C: 1, H: 7, W: 5, OH: 3, OW: 2, mode: 'area', factors: [0.5, 0.5] },
      // The same size by a factor: bilinear copies. (Nearest reads ⌊i/factor⌋, as PyTorch's NCHW
      // forward kernel does; its backward kernel, and its channels-last forward one, which one
      // channel takes, copy such an axis, and halve the index of one twice the size.)
      { N: 1, C: 2, H: 4, W: 5, OH: 5, OW: 5, mode: 'bilinear', factors: [1.3, 1.1] },
      // Source points in double (PyTorch's bilinear), a hair short of a pixel: 5 → 3, 6 → 4 aligned.
      { N: 1, C: 1, H: 5, W: 6, OH: 3, OW: 4, mode: 'bilinear' },
      { N: 1, C: 1, H: 5, W: 6, OH: 3, OW: 4, mode: 'bilinear', alignCorners: true },
    ];
    const xs = cases.map((c) => f32(rng.array(c.N * c.C * c.H * c.W)));
    const torch = torchOps('resample(xs[0], c)', cases, cases.map((c, i) => [[xs[i]!, [c.N, c.C, c.H, c.W]]]), `
def resample(x, c):
    if c['mode'] == 'adaptive':
        return F.adaptive_avg_pool2d(x, (c['OH'], c['OW']))
    size = None if 'factors' in c else (c['OH'], c['OW'])
    return F.interpolate(x, size=size, scale_factor=c.get('factors'), mode=c['mode'], align_corners=c.get('alignCorners'))`);
    for (const [i, c] of cases.entries()) {
      const x = rt().tensor(xs[i]!, [c.N, c.C, c.H, c.W]);
      const y = apply(x, c);
      expect(y.shape).toEqual([c.N, c.C, c.OH, c.OW]);
      // Bicubic's 16 taps, some weights negative, cancel: a GPU compiler's fused multiply-adds differ from PyTorch's CPU by about 1e-6.
      await expectAsTorch([x], y, torch[i]!, { values: c.mode === 'bicubic' ? 3e-6 : 1e-6, grads: 1e-5 }, label(c));
      const r = rt().tensor(f32(Array.from({ length: y.size }, (_, k) => Math.sin(k))), y.shape);
      const [dx] = grad(sum(mul(y, r)), [x]);
      // Linear in x: the gradient's own gradient, in r, is the op again (Σ v·Aᵀr = Σ (Av)·r).
      const v = rng.array(x.size);
      const [dr] = grad(sum(mul(dx!, rt().tensor(f32(v), x.shape))), [r]);
      expectClose(await dr!.read(), refResample(c, v), 1e-5, `${label(c)} second derivative`);
    }
  });

  it("keep NaN and infinities where PyTorch's kernels put them, in values and gradients: through pad's modes and conv2d's padding too", async () => {
    // Each case: fovea's call, and PyTorch's on the same x [1, 2, 5, 6] (and w [3, 2, 3, 3]).
    const cases: [string, (x: Tensor, w: Tensor) => Tensor, string][] = [
      ['adaptive 2×4', (x) => adaptiveAvgPool2d(x, [2, 4]), 'F.adaptive_avg_pool2d(x, (2, 4))'],
      ['area 3×2', (x) => interpolate(x, { size: [3, 2], mode: 'area' }), "F.interpolate(x, size=(3, 2), mode='area')"],
      ['nearest ×2', (x) => interpolate(x, { scaleFactor: 2 }), 'F.interpolate(x, scale_factor=2)'],
      ['nearest-exact 7×4', (x) => interpolate(x, { size: [7, 4], mode: 'nearest-exact' }), "F.interpolate(x, size=(7, 4), mode='nearest-exact')"],
      ['bilinear ×2', (x) => interpolate(x, { scaleFactor: 2, mode: 'bilinear' }), "F.interpolate(x, scale_factor=2, mode='bilinear')"],
      ['bilinear aligned 9×4', (x) => interpolate(x, { size: [9, 4], mode: 'bilinear', alignCorners: true }), "F.interpolate(x, size=(9, 4), mode='bilinear', align_corners=True)"],
      // The same size: each pixel read twice, weighted 1 and 0, so ±∞ become NaN there too.
      ['bilinear 5×6', (x) => interpolate(x, { size: [5, 6], mode: 'bilinear' }), "F.interpolate(x, size=(5, 6), mode='bilinear')"],
      ['bicubic 7×9', (x) => interpolate(x, { size: [7, 9], mode: 'bicubic' }), "F.interpolate(x, size=(7, 9), mode='bicubic')"],
      ['bicubic aligned 9×11', (x) => interpolate(x, { size: [9, 11], mode: 'bicubic', alignCorners: true }), "F.interpolate(x, size=(9, 11), mode='bicubic', align_corners=True)"],
      ['pad constant', (x) => pad(x, [1, 2, 2, 1], { value: 0.5 }), 'F.pad(x, (1, 2, 2, 1), value=0.5)'],
      ['pad reflect', (x) => pad(x, [2, 1, 1, 2], { mode: 'reflect' }), "F.pad(x, (2, 1, 1, 2), mode='reflect')"],
      ['pad replicate', (x) => pad(x, [1, 1, 2, 2], { mode: 'replicate' }), "F.pad(x, (1, 1, 2, 2), mode='replicate')"],
      ['pad circular', (x) => pad(x, [2, 2, 1, 1], { mode: 'circular' }), "F.pad(x, (2, 2, 1, 1), mode='circular')"],
      ['conv2d reflect', (x, w) => conv2d(x, w, undefined, { padding: 1, paddingMode: 'reflect' }), "F.conv2d(F.pad(x, (1, 1, 1, 1), mode='reflect'), w)"],
    ];
    const rng = new Rng(23);
    // Values with +∞, −∞ and NaN in x; gradients of finite values, with NaN and ∞ in the output's gradient.
    const special = (v: number[], at: [number, number][]) => (at.forEach(([k, s]) => (v[k] = s)), v);
    const x = special(Array.from(rng.array(60)), [[8, Infinity], [45, NaN], [29, -Infinity]]);
    const finite = Array.from(rng.array(60));
    const w = Array.from(rng.array(54));
    const enc = (v: ArrayLike<number>) => Array.from(v, (n) => (Number.isFinite(n) ? n : String(n)));
    const dec = (v: (number | string)[]) => v.map(Number);
    type Out = { y: (number | string)[]; grad: (number | string)[] };
    const torch = torchJson<Out[]>(
      `
import json, sys, torch
import torch.nn.functional as F
x0, finite, w, calls = json.load(sys.stdin)
enc = lambda t: [v if v == v and abs(v) != float('inf') else str(v).replace('inf', 'Infinity').replace('nan', 'NaN') for v in t.detach().flatten().tolist()]
t = lambda v: torch.tensor([float(n) for n in v], dtype=torch.float32).reshape(1, 2, 5, 6)
w = torch.tensor(w, dtype=torch.float32).reshape(3, 2, 3, 3)
out = []
for call in calls:
    y = eval(call, {'F': F, 'x': t(x0), 'w': w})
    x = t(finite).requires_grad_()
    z = eval(call, {'F': F, 'x': x, 'w': w})
    g = torch.arange(z.numel(), dtype=torch.float32).sin().reshape(z.shape)
    g.view(-1)[3] = float('nan'); g.view(-1)[-2] = float('inf')
    z.backward(g)
    out.append({'y': enc(y), 'grad': enc(x.grad)})
print(json.dumps(out))`,
      JSON.stringify([enc(x), finite, w, cases.map(([, , py]) => py)]),
    );
    const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'finite' : String(v));
    const expectAs = (got: Float32Array, want: number[], what: string) => {
      const differ = want.flatMap((v, k) => (kind(v) === kind(got[k]!) ? [] : [`${k}: ${got[k]} vs PyTorch's ${v}`]));
      expect(differ, `${what}: where NaN and ±∞ are`).toEqual([]);
      expectClose(got.map((v) => (Number.isFinite(v) ? v : 0)), want.map((v) => (Number.isFinite(v) ? v : 0)), 1e-5, `${what}: the finite values`);
    };
    for (const [i, [what, call]] of cases.entries()) {
      const wt = rt().tensor(f32(w), [3, 2, 3, 3]);
      const y = call(rt().tensor(f32(x), [1, 2, 5, 6]), wt);
      const want = { y: dec(torch[i]!.y), grad: dec(torch[i]!.grad) };
      expect(want.y.some((v) => !Number.isFinite(v)) && want.y.some(Number.isFinite), `${what}: PyTorch's values both finite and not`).toBe(true);
      expectAs((await y.read()) as Float32Array, want.y, what);
      const xf = rt().tensor(f32(finite), [1, 2, 5, 6]);
      const z = call(xf, wt);
      const g = Float32Array.from({ length: z.size }, (_, k) => Math.fround(Math.sin(k)));
      [g[3], g[z.size - 2]] = [NaN, Infinity];
      const [dx] = grad(sum(mul(z, rt().tensor(g, z.shape))), [xf]);
      expectAs((await dx!.read()) as Float32Array, want.grad, `${what} gradient`);
    }
  });

  it("upload each map's taps once: a second call, or a compiled step run again, creates no buffer", async () => {
    const x = rt().tensor(f32(new Rng(1).array(2 * 3 * 5 * 7)), [2, 3, 5, 7]);
    const up = () => interpolate(x, { scaleFactor: 2, mode: 'bilinear' });
    const first = up();
    await first.read();
    first.dispose(); // its output and intermediate go back to the pool, for the second call
    const before = rt().stats().buffersCreated;
    const y = up();
    expect(y.shape).toEqual([2, 3, 10, 14]);
    await y.read();
    expect(rt().stats().buffersCreated).toBe(before);
    const step = await rt().compile(({ v }) => ({ y: adaptiveAvgPool2d(interpolate(v!, { size: [9, 4], mode: 'nearest-exact' }), 2) }), { v: [2, 3, 5, 7] });
    await step.run({ v: x }).y!.read();
    const after = rt().stats().buffersCreated;
    const { y: z } = step.run({ v: x });
    expect(z!.shape).toEqual([2, 3, 2, 2]);
    await z!.read();
    expect(rt().stats().buffersCreated).toBe(after);
  });

  it('rejects bad inputs and options with a ShapeError naming the op, before any dispatch', () => {
    const x = rt().zeros([2, 3, 8, 8]);
    const before = rt().stats().dispatches;
    const cases: [() => unknown, RegExp][] = [
      [() => adaptiveAvgPool2d(rt().zeros([8, 8]), 2), /^adaptiveAvgPool2d: needs an f32 \[N, C, H, W\] input, got \[8, 8\] f32 \(input \[8, 8\]\)$/],
      [() => adaptiveAvgPool2d(x, 0), /^adaptiveAvgPool2d: outputSize must be an integer ≥ 1 or a pair of them, got 0 \(input \[2, 3, 8, 8\]\)$/],
      [() => adaptiveAvgPool2d(x, [2, 2, 2] as never), /^adaptiveAvgPool2d: outputSize must be/],
      [() => interpolate(x, {}), /^interpolate: give either size or scaleFactor, not both or neither \(input \[2, 3, 8, 8\]\)$/],
      [() => interpolate(x, { size: 4, scaleFactor: 2 }), /^interpolate: give either size or scaleFactor/],
      [() => interpolate(x, { size: 4, mode: 'trilinear' as never }), /^interpolate: mode must be 'nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area', got "trilinear"/],
      [() => interpolate(x, { size: 4, alignCorners: true }), /^interpolate: alignCorners is only for modes 'bilinear' and 'bicubic', not 'nearest'/],
      [() => interpolate(x, { size: 4, mode: 'area', alignCorners: false }), /^interpolate: alignCorners is only for modes 'bilinear' and 'bicubic', not 'area'/],
      [() => interpolate(x, { size: 4, mode: 'bilinear', alignCorners: 1 as never }), /^interpolate: alignCorners must be true or false, got 1/],
      [() => interpolate(x, { scaleFactor: 0 }), /^interpolate: scaleFactor must be a positive number or \[h, w\] of them, got 0/],
      [() => interpolate(x, { scaleFactor: [2, NaN] }), /^interpolate: scaleFactor must be a positive number .* got \[2,null\]/],
      [() => interpolate(x, { scaleFactor: 0.1 }), /^interpolate: scaleFactor 0.1 leaves no output \(0×0\)/],
      [() => interpolate(x, { size: [4, 0] }), /^interpolate: size must be an integer ≥ 1 or a pair of them, got \[4,0\]/],
      [() => interpolate(x, { size: 4, antialias: true } as never), /^interpolate: unknown option 'antialias' \(it takes size, scaleFactor, mode, alignCorners\)/],
      [() => interpolate(rt().zeros([2, 3, 8, 8], 'i32'), { size: 4 }), /^interpolate: needs an f32 \[N, C, H, W\] input, got \[2, 3, 8, 8\] i32/],
    ];
    expectShapeErrors(cases);
    expect(() => interpolate([1] as never, { size: 2 })).toThrow(TypeError);
    expect(rt().stats().dispatches).toBe(before);
  });

  it('refuse a result too large for the device with a DeviceLimitError naming the op and the shapes; an axis of a million pixels is no matter', async () => {
    const x = rt().zeros([1, 1, 4, 4]);
    const cases: [() => unknown, RegExp][] = [
      [() => adaptiveAvgPool2d(x, [2 ** 30, 2]), /^adaptiveAvgPool2d: result \[1, 1, 1073741824, 2\] f32 is 8589934592 bytes, over this device's limit .* \(input \[1, 1, 4, 4\]\)$/],
      [() => interpolate(x, { size: [2 ** 16, 2 ** 15], mode: 'bilinear' }), /^interpolate: result \[1, 1, 65536, 32768\] f32 is 8589934592 bytes, over this device's limit .* \(input \[1, 1, 4, 4\]\)$/],
    ];
    for (const [f, re] of cases) {
      expect(f).toThrow(DeviceLimitError);
      expect(f).toThrow(re);
    }
    // A column of 2²⁰ pixels pooled to 2¹²: a dense map would be 2³² weights; its taps are 2²⁰.
    const column = Float32Array.from({ length: 2 ** 20 }, (_, k) => k % 256);
    const y = await adaptiveAvgPool2d(rt().tensor(column, [1, 1, 2 ** 20, 1]), [2 ** 12, 1]).read();
    expect(Array.from(y.subarray(0, 3))).toEqual([127.5, 127.5, 127.5]);
  });
});

// Output rows whole per invocation (a CPU adapter), split further where they are few, or split
// among invocations (a GPU), on any adapter.
for (const [how, split] of [
  ['as on a CPU adapter', useRuntimeSplittingAs(true)],
  ['as on a GPU', useRuntimeSplittingAs(false)],
] as const) {
  describe(`adaptiveAvgPool2d, interpolate and pad, split ${how}`, () => {
    it('match the float64 references, with gradients, on few long rows and on more outputs than one per invocation', async () => {
      const rng = new Rng(41);
      const cases: Cfg[] = [
        { N: 2, C: 3, H: 7, W: 300, OH: 3, OW: 70, mode: 'adaptive' }, // 18 rows of 70, and 42 of 300 back
        { N: 1, C: 1, H: 1, W: 1000, OH: 1, OW: 2500, mode: 'nearest' }, // a single row
        { N: 3, C: 1, H: 5, W: 97, OH: 4, OW: 130, mode: 'bicubic', alignCorners: true },
      ];
      for (const c of cases) await check(rng, c, split());
      // 69,660 outputs: a GPU's invocations take 2 each. (Against the reference alone: central
      // differences of it would take seconds.)
      const c: Cfg = { N: 1, C: 2, H: 40, W: 50, OH: 81, OW: 430, mode: 'bilinear' };
      const [v, r] = [rng.array(c.N * c.C * c.H * c.W), rng.array(c.N * c.C * c.OH * c.OW)];
      const x = split().tensor(f32(v), [c.N, c.C, c.H, c.W]);
      const y = apply(x, c);
      expectClose(await y.read(), refResample(c, v), 1e-5, label(c));
      const [dx] = grad(y, [x], split().tensor(f32(r), y.shape));
      expectClose(await dx!.read(), refResampleGrad(c, r), 1e-5, `${label(c)} gradient`);
      const pads: PadCfg[] = [
        { shape: [1000], padding: [7, 5], mode: 'reflect', value: 0 }, // one row
        { shape: [3, 2, 301], padding: [4, 9, 2, 1], mode: 'replicate', value: 0 },
      ];
      for (const c of pads) {
        await checkOp(split(), rng, {
          name: `pad [${c.shape}] by ${JSON.stringify(c.padding)} ${c.mode}`,
          shapes: [c.shape],
          gpu: ([x]) => {
            const y = pad(x!, c.padding, { mode: c.mode });
            expect(y.shape).toEqual(padOutShape(c));
            return y;
          },
          ref: ([x]) => refPad(c, x!),
          refGrad: (_, r) => [refPadGrad(c, r)],
          tol: 1e-6,
        });
      }
    });
  });
}
