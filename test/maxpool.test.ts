// maxPool2d and its gradient primitive against a float64 reference written from PyTorch's
// definition (−∞ padding, floor output size, first maximum in row-major window order): random
// geometries, overlapping windows, ties, padding beside negative values, the seed CNN's pools, the
// ReLU gradient fused into the backward; dilated windows and adaptiveMaxPool2d's, against the
// reference and PyTorch.
import { describe, expect, it } from 'vitest';
import { adaptiveMaxPool2d, DeviceLimitError, grad, maxPool2d, maxPool2dBackward, Model, mul, ops, relu, sum, type Runtime, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectOpAsTorch, expectShapeErrors, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson } from './oracle.js';
import { poolLabel, poolOptions as optsOf, poolOutHW as outHW, refArgmax, refPool, refPoolGrad, type PoolCfg as Cfg } from './references.js';

const rt = useRuntime();
// Rows whole per invocation (a CPU adapter), or split among invocations (a GPU), on any adapter.
const partitions = [
  ['as on a CPU adapter', useRuntimeSplittingAs(true)],
  ['as on a GPU', useRuntimeSplittingAs(false)],
] as const;

const label = (c: Cfg) => poolLabel('maxPool2d', c);

async function checkPool(r: Runtime, rng: Rng, c: Cfg): Promise<void> {
  await checkOp(r, rng, {
    name: label(c),
    shapes: [[c.N, c.C, c.H, c.W]],
    gpu: ([x]) => {
      const y = c.adaptive ? adaptiveMaxPool2d(x!, c.adaptive) : maxPool2d(x!, optsOf(c));
      expect(y.shape).toEqual([c.N, c.C, ...outHW(c)]);
      return y;
    },
    ref: ([x]) => refPool(c, x!),
    refGrad: ([x], r) => [refPoolGrad(c, x!, r)],
    // Max and sums of at most a few dy values: nearly exact.
    tol: 1e-6,
  });
}

function randomCfg(rng: Rng): Cfg {
  for (;;) {
    const [kh, kw] = rng.pick([[1, 1], [2, 2], [3, 3], [2, 3], [3, 2], [4, 4], [1, 3]] as [number, number][]);
    const c: Cfg = {
      N: rng.pick([1, 2, 3]),
      C: rng.pick([1, 3, 5, 7]),
      H: rng.int(1, 13),
      W: rng.int(1, 13),
      kh,
      kw,
      ...(rng.next() < 0.3 ? {} : { stride: rng.pick([[1, 1], [2, 2], [1, 2], [2, 1], [3, 3]] as [number, number][]) }),
      ph: rng.int(0, Math.floor(kh / 2)),
      pw: rng.int(0, Math.floor(kw / 2)),
      ...(rng.next() < 0.3 ? { ceil: true } : {}),
    };
    const [OH, OW] = outHW(c);
    if (OH >= 1 && OW >= 1) return c;
  }
}

describe('maxPool2d', () => {
  it.each(partitions)('matches float64 on named geometries, with gradients, work split %s', async (_, part) => {
    const rng = new Rng(12);
    const cases: Cfg[] = [
      { N: 1, C: 1, H: 4, W: 4, kh: 2, kw: 2, ph: 0, pw: 0 },
      { N: 3, C: 5, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0 }, // odd sizes: the last row/column is dropped
      { N: 2, C: 3, H: 7, W: 8, kh: 2, kw: 2, ph: 0, pw: 0 }, // only the last row dropped
      { N: 2, C: 3, H: 8, W: 7, kh: 2, kw: 2, ph: 0, pw: 0 }, // only the last column dropped
      { N: 2, C: 3, H: 9, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 0, pw: 0 }, // overlapping windows
      { N: 2, C: 3, H: 8, W: 8, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 }, // overlapping, padded
      { N: 1, C: 2, H: 6, W: 7, kh: 3, kw: 3, stride: [1, 1], ph: 1, pw: 1 }, // every pixel in up to 9 windows
      { N: 1, C: 7, H: 5, W: 11, kh: 2, kw: 3, stride: [1, 2], ph: 1, pw: 1 }, // non-square, mixed stride
      { N: 3, C: 1, H: 5, W: 5, kh: 5, kw: 5, ph: 2, pw: 2 },
      { N: 1, C: 3, H: 6, W: 6, kh: 1, kw: 1, stride: [2, 2], ph: 0, pw: 0 }, // 1×1: subsampling
      { N: 2, C: 2, H: 1, W: 1, kh: 2, kw: 2, stride: [1, 1], ph: 1, pw: 1 }, // one pixel in all windows
      { N: 3, C: 5, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0, ceil: true }, // ceil mode: the last row and column kept, in half windows
      { N: 1, C: 2, H: 8, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1, ceil: true }, // padded
      { N: 1, C: 2, H: 5, W: 7, kh: 2, kw: 2, stride: [2, 2], ph: 1, pw: 1, ceil: true }, // a last window would start in the padding: none
      { N: 2, C: 1, H: 6, W: 6, kh: 2, kw: 2, ph: 0, pw: 0, ceil: true }, // sizes the windows tile: ceil mode changes nothing
    ];
    for (const c of cases) await checkPool(part(), rng, c);
  });

  it.each(partitions)('matches float64 on 40 random geometries, with gradients, work split %s', async (_, part) => {
    const rng = new Rng(77);
    for (let t = 0; t < 40; t++) await checkPool(part(), rng, randomCfg(rng));
  });

  it.each(partitions)("matches float64 on the seed CNN's pools, and on rows a GPU splits into spans of several elements, work split %s", async (_, part) => {
    const rt = part;
    const rng = new Rng(5);
    for (const c of [
      { N: 50, C: 16, H: 28, W: 28, kh: 2, kw: 2, ph: 0, pw: 0 },
      { N: 50, C: 32, H: 14, W: 14, kh: 2, kw: 2, ph: 0, pw: 0 },
      // 501,760 windows in rows of 28, 2,007,040 input elements in rows of 56: on a GPU an
      // invocation takes every 14th window of a row (two), or every 7th element (eight); the
      // tiled backward kernel, then the general one.
      { N: 40, C: 16, H: 56, W: 56, kh: 2, kw: 2, ph: 0, pw: 0 },
      { N: 40, C: 16, H: 56, W: 56, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 },
      // Rows that spans do not divide: 31 windows a row in 11 spans, 61 elements in 7.
      { N: 40, C: 16, H: 61, W: 61, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 },
    ] satisfies Cfg[]) {
      // The reference gradient was validated by finite differences above; here it is trusted,
      // which keeps these large cases fast.
      const xs = rng.array(c.N * c.C * c.H * c.W);
      const x = rt().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
      const y = maxPool2d(x, optsOf(c));
      expect(y.shape).toEqual([c.N, c.C, ...outHW(c)]);
      expectClose(await y.read(), refPool(c, xs), 1e-6, `${label(c)} forward`);
      const r = rng.array(y.size);
      const [dx] = grad(y, [x], rt().tensor(f32(r), y.shape));
      expectClose(await dx!.read(), refPoolGrad(c, xs, r), 1e-6, `${label(c)} gradient`);
    }
  });

  it('sends the gradient of a tied window only to its first maximum', async () => {
    const x = rt().tensor(f32([1, 1, 1, 1]), [1, 1, 2, 2]);
    const [dx] = grad(maxPool2d(x, { kernelSize: 2 }), [x], rt().tensor(f32([5]), [1, 1, 1, 1]));
    expect(Array.from(await dx!.read())).toEqual([5, 0, 0, 0]);

    // Many ties (values from {0, 1, 2}) over overlapping and padded windows.
    const rng = new Rng(8);
    for (const c of [
      { N: 2, C: 3, H: 9, W: 8, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 },
      { N: 1, C: 2, H: 7, W: 7, kh: 2, kw: 3, stride: [1, 1], ph: 1, pw: 0 },
      { N: 2, C: 2, H: 6, W: 6, kh: 2, kw: 2, ph: 0, pw: 0 },
    ] satisfies Cfg[]) {
      const xs = Float64Array.from({ length: c.N * c.C * c.H * c.W }, () => rng.int(0, 2));
      const t = rt().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
      const y = maxPool2d(t, optsOf(c));
      const r = rng.array(y.size);
      expectClose(await y.read(), refPool(c, xs), 0, `${label(c)} ties forward`);
      const [g] = grad(y, [t], rt().tensor(f32(r), y.shape));
      expectClose(await g!.read(), refPoolGrad(c, xs, r), 1e-6, `${label(c)} ties gradient`);
    }
  });

  it('pads with −∞, not zero', async () => {
    const x = rt().tensor(f32([-3, -2, -5, -4]), [1, 1, 2, 2]);
    const y = maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 });
    expect(Array.from(await y.read())).toEqual([-3, -2, -2, -3, -2, -2, -5, -4, -4]);
  });

  it('propagates NaN as PyTorch does, its gradient going to the last NaN of a window (torch 1.13: [0, 1, 0, 0, 0, 0, 0, 2])', async () => {
    const x = rt().tensor(f32([1, NaN, 3, 2, 0, NaN, 4, NaN]), [1, 2, 2, 2]);
    const y = maxPool2d(x, { kernelSize: 2 });
    expect(Array.from(await y.read())).toEqual([NaN, NaN]);
    const [dx] = grad(y, [x], rt().tensor(f32([1, 2]), [1, 2, 1, 1]));
    expect(Array.from(await dx!.read())).toEqual([0, 1, 0, 0, 0, 0, 0, 2]);
  });

  it.each(partitions)('after a ReLU, the gradient mask fused into the pool backward holds for every kind of pool, work split %s', async (_, part) => {
    const rt = part;
    const rng = new Rng(3);
    for (const c of [
      { N: 2, C: 3, H: 8, W: 8, kh: 2, kw: 2, ph: 0, pw: 0 }, // the tiled kernel
      { N: 2, C: 3, H: 9, W: 9, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 }, // the general one
    ] satisfies Cfg[]) {
      // Blocks of negative values: some windows are all zeros after the ReLU, and their first
      // zero, whose ReLU gradient is 0, must get nothing.
      const xs = Float64Array.from({ length: c.N * c.C * c.H * c.W }, (_, i) => Math.fround(Math.floor(i / 13) % 2 ? rng.uniform(-1, -0.1) : rng.uniform()));
      const x = rt().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
      const [OH, OW] = outHW(c);
      const r = rng.array(c.N * c.C * OH * OW);
      const weights = rt().tensor(f32(r), [c.N, c.C, OH, OW]);
      const program = await rt().compile(() => grad(sum(mul(maxPool2d(relu(x), optsOf(c)), weights)), [x])[0]!);
      expect(program.stats.fused, label(c)).toBe(1);
      const act = xs.map((v) => Math.max(v, 0));
      const want = refPoolGrad(c, act, r).map((g, i) => (xs[i]! > 0 ? g : 0));
      expectClose(await program.run().out!.read(), want, 1e-6, `${label(c)} after a ReLU`);
    }
  });

  it('takes ±∞ as ordinary numbers, not NaN', async () => {
    const x = rt().tensor(f32([-1, -Infinity, -2, -3, -Infinity, -Infinity, Infinity, 5]), [1, 2, 2, 2]);
    const y = maxPool2d(x, { kernelSize: 2 });
    expect(Array.from(await y.read())).toEqual([-1, Infinity]);
    const [dx] = grad(y, [x], rt().tensor(f32([1, 2]), [1, 2, 1, 1]));
    expect(Array.from(await dx!.read())).toEqual([1, 0, 0, 0, 0, 0, 2, 0]);
  });

  it('maxPool2dBackward is the gradient as a primitive', async () => {
    const rng = new Rng(4);
    const c: Cfg = { N: 2, C: 3, H: 5, W: 6, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 };
    const xs = rng.array(c.N * c.C * c.H * c.W);
    const dys = rng.array(c.N * c.C * outHW(c)[0] * outHW(c)[1]);
    const x = rt().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
    const dy = rt().tensor(f32(dys), [c.N, c.C, ...outHW(c)]);
    const dx = maxPool2dBackward(x, dy, optsOf(c));
    expectClose(await dx.read(), refPoolGrad(c, xs, dys), 1e-6, 'maxPool2dBackward');
    expect(() => maxPool2dBackward(x, rt().zeros([2, 3, 2, 2]), optsOf(c))).toThrow(/maxPool2dBackward: dy must be f32 \[2, 3, 3, 3\] for input \[2, 3, 5, 6\], got \[2, 3, 2, 2\]/);
    // Overlapping windows: each window's arg-max found once (max_pool2d_argmax, u32 indices within
    // the plane), then read by the backward pass; windows that tile the input take one pass.
    const attrs = { kernel: [3, 3], stride: [2, 2], padding: [1, 1] } as const;
    const arg = rt().record(ops.max_pool2d_argmax, [x], attrs);
    expect(arg.dtype).toBe('u32');
    expect(Array.from(await arg.read())).toEqual(Array.from(refArgmax(c, xs), (i) => i % (c.H * c.W)));
    expect(() => rt().record(ops.max_pool2d_backward, [x, dy], attrs)).toThrow(/maxPool2dBackward: takes the windows' arg-maxes \(u32 \[2, 3, 3, 3\]\) exactly where the windows do not tile the input \[2, 3, 5, 6\]/);
    const kernels = async (opts: Parameters<typeof maxPool2d>[1]) => (await rt().compile(() => ({ dx: grad(sum(maxPool2d(x, opts)), [x])[0]! }))).stats.kernels.filter((k) => k.startsWith('maxpool'));
    expect(await kernels(optsOf(c))).toEqual(['maxpool.wgsl:argmax', 'maxpool.wgsl:backward']);
    expect(await kernels({ kernelSize: [1, 2] })).toEqual(['maxpool.wgsl:backward_tiled']);
  });

  it.each(partitions)("has second derivatives, as PyTorch's with create_graph, work split %s", async (_, part) => {
    // f = Σ v·∂(Σ r·maxPool2d(x))/∂x: ∂f/∂r is v at each window's arg-max (ties to the first
    // maximum, as the gradient), ∂f/∂x is 0; through a ReLU before the pool too (its gradient
    // fused into the pool's). And the third: ∂(Σ w·∂f/∂r)/∂v is the pool's gradient of w again.
    const rng = new Rng(5);
    const cases: [Cfg, boolean][] = [
      [{ N: 2, C: 3, H: 5, W: 6, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 }, false],
      [{ N: 1, C: 2, H: 4, W: 4, kh: 2, kw: 2, ph: 0, pw: 0 }, true],
      [{ N: 1, C: 1, H: 5, W: 7, kh: 3, kw: 2, stride: [1, 1], ph: 1, pw: 0 }, true],
    ];
    for (const [c, withRelu] of cases) {
      const [oh, ow] = outHW(c);
      const xs = Float64Array.from({ length: c.N * c.C * c.H * c.W }, () => rng.int(-3, 3) / 2); // ties
      const rs = rng.array(c.N * c.C * oh * ow);
      const vs = rng.array(xs.length);
      const torch = torchJson<{ hx: number[]; hr: number[] }>(`
import json, sys, torch
d = json.load(sys.stdin)
x = torch.tensor(d['x'], dtype=torch.float32).reshape(${c.N}, ${c.C}, ${c.H}, ${c.W}).requires_grad_()
r = torch.tensor(d['r'], dtype=torch.float32).reshape(${c.N}, ${c.C}, ${oh}, ${ow}).requires_grad_()
y = torch.nn.functional.max_pool2d(${withRelu ? 'torch.relu(x)' : 'x'}, (${c.kh}, ${c.kw}), ${c.stride ? `(${c.stride})` : 'None'}, (${c.ph}, ${c.pw}))
g, = torch.autograd.grad((y * r).sum(), x, create_graph=True)
hx, hr = torch.autograd.grad((g * torch.tensor(d['v'], dtype=torch.float32).reshape(x.shape)).sum(), [x, r], allow_unused=True)
print(json.dumps({'hx': (torch.zeros_like(x) if hx is None else hx).flatten().tolist(), 'hr': hr.flatten().tolist()}))`, JSON.stringify({ x: Array.from(xs), r: Array.from(f32(rs)), v: Array.from(f32(vs)) }));
      const x = part().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
      const r = part().tensor(f32(rs), [c.N, c.C, oh, ow]);
      const v = part().tensor(f32(vs), x.shape);
      const [g] = grad(sum(mul(maxPool2d(withRelu ? relu(x) : x, optsOf(c)), r)), [x]);
      const [hx, hr] = grad(sum(mul(g!, v)), [x, r]);
      const what = `${label(c)}${withRelu ? ' after a ReLU' : ''}`;
      expectClose(await hr!.read(), torch.hr, 1e-6, `∂²/∂x∂r, ${what}`);
      expect(Array.from(await hx!.read()), `∂²/∂x², ${what}`).toEqual(torch.hx);
      const w = rng.array(rs.length);
      const [third] = grad(sum(mul(hr!, part().tensor(f32(w), r.shape))), [v]);
      const masked = withRelu ? Float64Array.from(xs, (e) => (e > 0 ? 1 : 0)) : undefined;
      expectClose(await third!.read(), refPoolGrad(c, xs, w).map((e, i) => (masked ? e * masked[i]! : e)), 1e-6, `third derivative, ${what}`);
    }
    // The pick with a ReLU's gradient fused in (the planner's form of the backward pass): zero
    // where the arg-max is not positive.
    const c = cases[0]![0];
    const xs = rng.array(c.N * c.C * c.H * c.W);
    const gxs = rng.array(xs.length);
    const x = part().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
    const picked = part().record(ops.max_pool2d_pick, [x, part().tensor(f32(gxs), x.shape)], { kernel: [3, 3], stride: [2, 2], padding: [1, 1], reluMask: true });
    expectClose(await picked.read(), Array.from(refArgmax(c, xs), (i) => (xs[i]! > 0 ? gxs[i]! : 0)), 0, 'max_pool2d_pick with a ReLU mask');
  });

  it("matches PyTorch's max_pool2d in ceil mode, values and gradients", async () => {
    const rng = new Rng(33);
    const cases: Cfg[] = [
      { N: 2, C: 2, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0, ceil: true },
      { N: 1, C: 3, H: 8, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1, ceil: true },
      { N: 2, C: 1, H: 10, W: 6, kh: 3, kw: 2, stride: [3, 2], ph: 1, pw: 0, ceil: true },
      { N: 1, C: 2, H: 5, W: 7, kh: 2, kw: 2, stride: [2, 2], ph: 1, pw: 1, ceil: true }, // no window starting in the padding
    ];
    const call = "F.max_pool2d(xs[0], (c['kh'], c['kw']), tuple(c.get('stride') or (c['kh'], c['kw'])), (c['ph'], c['pw']), ceil_mode=True)";
    const gpu = ([x]: Tensor[], c: Cfg) => {
      const y = maxPool2d(x!, optsOf(c));
      expect(y.shape).toEqual([c.N, c.C, ...outHW(c)]);
      return y;
    };
    await expectOpAsTorch(rt(), rng, cases, { shapes: (c) => [[c.N, c.C, c.H, c.W]], call, gpu, label }, { values: 1e-7, grads: 1e-6 });
  });

  it('rejects bad inputs and options before any dispatch', () => {
    const x = rt().zeros([2, 3, 8, 8]);
    const before = rt().stats().dispatches;
    const cases: [() => unknown, RegExp][] = [
      [() => maxPool2d(rt().zeros([8, 8]), { kernelSize: 2 }), /maxPool2d: needs an f32 \[N, C, H, W\] input, or one image \[C, H, W\], got \[8, 8\]/],
      [() => maxPool2d(x, { kernelSize: 0 }), /maxPool2d: kernelSize must be an integer ≥ 1 .* got 0 \(input \[2, 3, 8, 8\]\)/],
      [() => maxPool2d(x, { kernelSize: 2, stride: 0 }), /maxPool2d: stride must be/],
      [() => maxPool2d(x, { kernelSize: 3, padding: 2 }), /maxPool2d: padding \[2, 2\] is over half the kernel \[3, 3\]/],
      [() => maxPool2d(x, { kernelSize: 9 }), /maxPool2d: the 9×9 window does not fit the input padded by \[0, 0\]/],
      [() => maxPool2d(rt().zeros([1, 1, 0, 4]), { kernelSize: 2, padding: 1 }), /maxPool2d: the image is empty/],
      [() => maxPool2d(x, { kernelSize: 2, dilations: 2 } as never), /^maxPool2d: unknown option 'dilations' \(it takes kernelSize, stride, padding, ceilMode, dilation\) \(input \[2, 3, 8, 8\]\)$/],
      [() => maxPool2d(x, { kernelSize: 2, dilation: 0 }), /^maxPool2d: dilation must be an integer ≥ 1 or a pair of them, got 0 \(input \[2, 3, 8, 8\]\)$/],
      [() => maxPool2d(x, { kernelSize: 3, dilation: [4, 1] }), /^maxPool2d: the 3×3 window dilated by \[4, 1\] does not fit the input padded by \[0, 0\] \(input \[2, 3, 8, 8\]\)$/],
      [() => adaptiveMaxPool2d(x, [2, 0]), /^adaptiveMaxPool2d: outputSize must be an integer ≥ 1 or a pair of them, got \[2,0\] \(input \[2, 3, 8, 8\]\)$/],
      [() => adaptiveMaxPool2d(rt().zeros([8, 8]), 2), /^adaptiveMaxPool2d: needs an f32 \[N, C, H, W\] input, or one image \[C, H, W\], got \[8, 8\]/],
      [() => adaptiveMaxPool2d(rt().zeros([1, 1, 0, 5]), 2), /^adaptiveMaxPool2d: the image is empty/],
      [() => maxPool2d(x, { kernelSize: 2, ceilMode: 1 as never }), /^maxPool2d: ceilMode must be true or false, got 1 \(input \[2, 3, 8, 8\]\)$/],
      [() => maxPool2d(x, undefined as never), /^maxPool2d: kernelSize must be an integer ≥ 1 or a pair of them, got undefined/],
      [() => maxPool2d(x, [2, 2, 2] as never), /^maxPool2d: kernelSize must be an integer ≥ 1 or a pair of them, got \[2,2,2\]/],
      // Wrapped to 1 in the kernel's u32 parameters, this window's loop ran on for ever.
      [() => maxPool2d(x, { kernelSize: 2 ** 32 + 1, padding: 2 ** 31 }), /^maxPool2d: kernelSize 4294967297 is over 1073741824 \(2\^30\)/],
    ];
    expectShapeErrors(cases);
    // A result too large for the device, named by adaptiveMaxPool2d, not the max_pool2d op it records.
    const big = /^adaptiveMaxPool2d: result \[2, 3, 32768, 32768\] f32 is 25769803776 bytes, over this device's limit .* \(input \[2, 3, 8, 8\], outputSize \[32768, 32768\]\)$/;
    expect(() => adaptiveMaxPool2d(x, 2 ** 15)).toThrow(DeviceLimitError);
    expect(() => adaptiveMaxPool2d(x, 2 ** 15)).toThrow(big);
    expect(rt().stats().dispatches).toBe(before);
  });

  it('takes the kernel size alone, as F.max_pool2d(x, 2)', async () => {
    const x = rt().tensor(f32(Array.from({ length: 2 * 4 * 6 }, (_, i) => (i * 7) % 11)), [1, 2, 4, 6]);
    const given = [await maxPool2d(x, 2).read(), await maxPool2d(x, [2, 3]).read()];
    const full = [await maxPool2d(x, { kernelSize: 2 }).read(), await maxPool2d(x, { kernelSize: [2, 3] }).read()];
    expect(given.map((a) => Array.from(a))).toEqual(full.map((a) => Array.from(a)));
    expect(maxPool2d(x, [2, 3]).shape).toEqual([1, 2, 2, 2]);
  });
});

describe('maxPool2d with dilation, and adaptiveMaxPool2d', () => {
  const DILATED: Cfg[] = [
    { N: 2, C: 3, H: 9, W: 9, kh: 2, kw: 2, stride: [1, 1], ph: 0, pw: 0, dilation: [2, 2] },
    { N: 1, C: 5, H: 11, W: 8, kh: 3, kw: 2, stride: [2, 1], ph: 1, pw: 1, dilation: [2, 3] }, // padded: taps straddle the border
    { N: 3, C: 2, H: 7, W: 10, kh: 3, kw: 3, stride: [2, 3], ph: 1, pw: 0, dilation: [1, 2], ceil: true },
    { N: 1, C: 1, H: 13, W: 6, kh: 2, kw: 3, stride: [3, 1], ph: 1, pw: 1, dilation: [5, 2] }, // windows that skip rows between their taps
  ];
  const ADAPTIVE: Cfg[] = [
    { N: 2, C: 3, H: 5, W: 7, kh: 1, kw: 1, ph: 0, pw: 0, adaptive: [3, 4] }, // overlapping windows of 2 and 3
    { N: 1, C: 4, H: 7, W: 7, kh: 1, kw: 1, ph: 0, pw: 0, adaptive: [3, 3] },
    { N: 3, C: 1, H: 2, W: 3, kh: 1, kw: 1, ph: 0, pw: 0, adaptive: [5, 4] }, // more windows than rows: each pixel in several
    { N: 1, C: 2, H: 9, W: 8, kh: 1, kw: 1, ph: 0, pw: 0, adaptive: [1, 3] }, // a whole column's maximum, and uneven thirds
    { N: 2, C: 2, H: 6, W: 8, kh: 1, kw: 1, ph: 0, pw: 0, adaptive: [3, 2] }, // windows that tile: plain max pooling's
  ];

  it.each(partitions)('match float64, with gradients, work split %s', async (_, part) => {
    const rng = new Rng(41);
    for (const c of [...DILATED, ...ADAPTIVE]) await checkPool(part(), rng, c);
  });

  it("match PyTorch's max_pool2d with dilation and adaptive_max_pool2d, values and gradients", async () => {
    const rng = new Rng(42);
    const call = "F.adaptive_max_pool2d(xs[0], tuple(c['adaptive'])) if c.get('adaptive') else F.max_pool2d(xs[0], (c['kh'], c['kw']), tuple(c.get('stride') or (c['kh'], c['kw'])), (c['ph'], c['pw']), tuple(c['dilation']), ceil_mode=bool(c.get('ceil')))";
    const gpu = ([x]: Tensor[], c: Cfg) => (c.adaptive ? adaptiveMaxPool2d(x!, c.adaptive) : maxPool2d(x!, optsOf(c)));
    await expectOpAsTorch(rt(), rng, [...DILATED, ...ADAPTIVE], { shapes: (c) => [[c.N, c.C, c.H, c.W]], call, gpu, label }, { values: 1e-7, grads: 1e-6 });
  });

  it('a dilated window whose taps all fall in the padding gives −∞ and no gradient, as PyTorch 1.13', async () => {
    // 3×3 input, kernel 2, padding 1, dilation 4: the one window's taps are rows and columns −1 and 3.
    const x = rt().tensor(Array.from({ length: 9 }, (_, i) => i), [1, 1, 3, 3]);
    const y = maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1, dilation: 4 });
    expect(Array.from(await y.read())).toEqual([-Infinity]);
    expect(Array.from(await grad(sum(mul(y, rt().tensor([2], [1, 1, 1, 1]))), [x])[0]!.read())).toEqual(new Array(9).fill(0));
    // Beside windows that have taps: [[8, 6], [2, 0]] at dilation 3, as PyTorch's.
    expect(Array.from(await maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1, dilation: 3 }).read())).toEqual([8, 6, 2, 0]);
  });

  it("are nn.MaxPool2d's dilation and nn.AdaptiveMaxPool2d as model layers", async () => {
    const spec = {
      input: [2, 9, 11],
      layers: [{ type: 'maxpool2d', kernelSize: 3, stride: 1, padding: 1, dilation: [2, 1] }, { type: 'adaptivemaxpool2d', outputSize: [4, 3] }, { type: 'flatten' }],
    } as const;
    const model = Model.create(rt(), spec);
    const xs = new Rng(3).array(2 * 2 * 9 * 11);
    const want = torchJson<number[]>(`
import json, torch
x = torch.tensor(${JSON.stringify(Array.from(f32(xs)))}).reshape(2, 2, 9, 11)
m = torch.nn.Sequential(torch.nn.MaxPool2d(3, 1, 1, dilation=(2, 1)), torch.nn.AdaptiveMaxPool2d((4, 3)), torch.nn.Flatten())
print(json.dumps(m(x).flatten().tolist()))
`);
    expectClose(await model.forward(rt().tensor(f32(xs), [2, 2, 9, 11])).read(), want, 0, 'the model against torch');
  });
});
