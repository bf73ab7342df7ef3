// avgPool2d (a depthwise convolution by ones, a division) against a float64 reference and
// PyTorch's avg_pool2d: random geometries with overlapping and padded windows, gradients against
// finite differences, the composed gradient's own gradient, errors named by the op.
import { describe, expect, it } from 'vitest';
import { avgPool2d, DeviceLimitError, grad, im2col, mul, sum, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectOpAsTorch, expectShapeErrors, f32, Rng, useRuntime, useRuntimeBindingAtMost } from './helpers.js';
import { torchJson } from './oracle.js';
import { poolLabel, poolOptions as optsOf, poolOutHW as outHW, refAvgPool, refAvgPoolGrad, type PoolCfg as Cfg } from './references.js';

const rt = useRuntime();

const label = (c: Cfg) => poolLabel('avgPool2d', c);

async function check(rng: Rng, c: Cfg): Promise<void> {
  await checkOp(rt(), rng, {
    name: label(c),
    shapes: [[c.N, c.C, c.H, c.W]],
    gpu: ([x]) => {
      const y = avgPool2d(x!, optsOf(c));
      expect(y.shape).toEqual([c.N, c.C, ...outHW(c)]);
      return y;
    },
    ref: ([x]) => refAvgPool(c, x!),
    refGrad: (_, r) => [refAvgPoolGrad(c, r)],
    tol: 1e-6,
  });
}

describe('avgPool2d', () => {
  it('matches float64 on named and random geometries, with gradients', async () => {
    const rng = new Rng(30);
    const cases: Cfg[] = [
      { N: 1, C: 1, H: 4, W: 4, kh: 2, kw: 2, ph: 0, pw: 0 },
      { N: 3, C: 5, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0 }, // odd sizes: the last row and column dropped
      { N: 2, C: 3, H: 9, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 }, // overlapping, padded
      { N: 1, C: 7, H: 5, W: 11, kh: 2, kw: 3, stride: [1, 2], ph: 1, pw: 1 }, // non-square, mixed stride
      { N: 2, C: 2, H: 1, W: 1, kh: 2, kw: 2, stride: [1, 1], ph: 1, pw: 1 }, // one pixel in all windows
      { N: 50, C: 6, H: 28, W: 28, kh: 2, kw: 2, ph: 0, pw: 0 }, // LeNet-5's first subsampling
      { N: 2, C: 3, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0, ceil: true }, // ceil mode: half windows, each its own count
      { N: 1, C: 2, H: 8, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1, ceil: true }, // ceil mode, windows past the padding
      { N: 1, C: 2, H: 5, W: 7, kh: 2, kw: 2, stride: [2, 2], ph: 1, pw: 1, ceil: true }, // none starting in the padding
      { N: 2, C: 3, H: 9, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1, countIncludePad: false }, // padding left out of the count
      { N: 1, C: 2, H: 5, W: 6, kh: 3, kw: 2, stride: [2, 1], ph: 1, pw: 1, ceil: true, countIncludePad: false },
      { N: 2, C: 1, H: 6, W: 5, kh: 2, kw: 3, stride: [2, 2], ph: 1, pw: 1, divisorOverride: 4 },
    ];
    for (const c of cases) await check(rng, c);
    for (let t = 0; t < 20; t++) {
      const [kh, kw] = rng.pick([[1, 1], [2, 2], [3, 3], [2, 3], [3, 2], [4, 4]] as [number, number][]);
      const c: Cfg = {
        N: rng.pick([1, 2, 3]),
        C: rng.pick([1, 3, 5]),
        H: rng.int(kh, 12),
        W: rng.int(kw, 12),
        kh,
        kw,
        ...(rng.next() < 0.3 ? {} : { stride: rng.pick([[1, 1], [2, 2], [1, 2], [3, 3]] as [number, number][]) }),
        ph: rng.int(0, Math.floor(kh / 2)),
        pw: rng.int(0, Math.floor(kw / 2)),
        ...(rng.next() < 0.3 ? { ceil: true } : {}),
        ...(rng.next() < 0.3 ? { countIncludePad: false } : {}),
      };
      await check(rng, c);
    }
  });

  it("matches PyTorch's avg_pool2d with ceil_mode, count_include_pad=False and divisor_override, values and gradients", async () => {
    const rng = new Rng(32);
    const cases: Cfg[] = [
      { N: 2, C: 2, H: 7, W: 9, kh: 2, kw: 2, ph: 0, pw: 0, ceil: true },
      { N: 1, C: 3, H: 8, W: 7, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1, ceil: true },
      { N: 2, C: 2, H: 9, W: 7, kh: 3, kw: 2, stride: [2, 2], ph: 1, pw: 1, countIncludePad: false },
      { N: 1, C: 2, H: 5, W: 6, kh: 3, kw: 3, stride: [2, 3], ph: 1, pw: 1, ceil: true, countIncludePad: false },
      { N: 2, C: 1, H: 6, W: 5, kh: 2, kw: 3, stride: [2, 2], ph: 1, pw: 1, ceil: true, divisorOverride: 4 },
      { N: 1, C: 2, H: 5, W: 7, kh: 2, kw: 2, stride: [2, 2], ph: 1, pw: 1, ceil: true },
    ];
    const call = "F.avg_pool2d(xs[0], (c['kh'], c['kw']), tuple(c.get('stride') or (c['kh'], c['kw'])), (c['ph'], c['pw']), c.get('ceil', False), c.get('countIncludePad', True), c.get('divisorOverride'))";
    const gpu = ([x]: Tensor[], c: Cfg) => {
      const y = avgPool2d(x!, optsOf(c));
      expect(y.shape).toEqual([c.N, c.C, ...outHW(c)]);
      return y;
    };
    await expectOpAsTorch(rt(), rng, cases, { shapes: (c) => [[c.N, c.C, c.H, c.W]], call, gpu, label }, { values: 1e-6, grads: 1e-6 });
  });

  it("matches PyTorch's avg_pool2d, values and gradients, and its gradient is differentiable again", async () => {
    const rng = new Rng(31);
    const c: Cfg = { N: 2, C: 3, H: 7, W: 6, kh: 3, kw: 3, stride: [2, 2], ph: 1, pw: 1 };
    const [oh, ow] = outHW(c);
    const xs = rng.array(c.N * c.C * c.H * c.W);
    const rs = rng.array(c.N * c.C * oh * ow);
    const torch = torchJson<{ y: number[]; g: number[] }>(`
import json, sys, torch
d = json.load(sys.stdin)
x = torch.tensor(d['x'], dtype=torch.float32).reshape(${c.N}, ${c.C}, ${c.H}, ${c.W}).requires_grad_()
y = torch.nn.functional.avg_pool2d(x, 3, 2, 1)
y.backward(torch.tensor(d['r'], dtype=torch.float32).reshape(y.shape))
print(json.dumps({'y': y.flatten().tolist(), 'g': x.grad.flatten().tolist()}))`, JSON.stringify({ x: Array.from(f32(xs)), r: Array.from(f32(rs)) }));
    const x = rt().tensor(f32(xs), [c.N, c.C, c.H, c.W]);
    const r = rt().tensor(f32(rs), [c.N, c.C, oh, ow]);
    const y = avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
    expectClose(await y.read(), torch.y, 1e-6, 'values');
    const [g] = grad(sum(mul(y, r)), [x]);
    expectClose(await g!.read(), torch.g, 1e-6, 'gradient');
    // The gradient is linear in r and does not read x: differentiated again, Σ v·∂(Σ r·y)/∂x gives
    // the pool of v in r.
    const vs = rng.array(xs.length);
    const [hr] = grad(sum(mul(g!, rt().tensor(f32(vs), x.shape))), [r]);
    expectClose(await hr!.read(), refAvgPool(c, vs), 1e-6, 'the gradient of the gradient');
  });

  it('rejects bad inputs and options before any dispatch, naming avgPool2d', () => {
    const x = rt().zeros([2, 3, 8, 8]);
    const before = rt().stats().dispatches;
    const cases: [() => unknown, RegExp][] = [
      [() => avgPool2d(rt().zeros([8, 8]), 2), /^avgPool2d: needs an f32 \[N, C, H, W\] input, or one image \[C, H, W\], got \[8, 8\]/],
      [() => avgPool2d(x, { kernelSize: 0 }), /^avgPool2d: kernelSize must be an integer ≥ 1 .* got 0 \(input \[2, 3, 8, 8\]\)/],
      [() => avgPool2d(x, { kernelSize: 3, padding: 2 }), /^avgPool2d: padding \[2, 2\] is over half the kernel \[3, 3\]/],
      [() => avgPool2d(x, { kernelSize: 9 }), /^avgPool2d: the 9×9 window does not fit the input padded by \[0, 0\]/],
      [() => avgPool2d(x, { kernelSize: 2, dilation: 2 } as never), /^avgPool2d: unknown option 'dilation' \(it takes kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride\)/],
      [() => avgPool2d(x, { kernelSize: 2, countIncludePad: 'no' as never }), /^avgPool2d: countIncludePad must be true or false, got "no" \(input \[2, 3, 8, 8\]\)$/],
      [() => avgPool2d(x, { kernelSize: 2, divisorOverride: 0 }), /^avgPool2d: divisorOverride must be a nonzero number, got 0/],
    ];
    expectShapeErrors(cases);
    expect(rt().stats().dispatches).toBe(before);
  });
});

describe('avgPool2d whose windows laid out would be more than one binding holds', () => {
  // A 3×3 window, stride 1, padding 1 over 7×6: one plane's windows are 9×42 values, 5 planes'
  // fit a binding; the sums are a convolution that lays out no windows, so all planes pool at once.
  const small = useRuntimeBindingAtMost(5 * 9 * 42 * 4 + 100);

  it('pools all planes at once, matching float64 with the gradient', async () => {
    const rng = new Rng(31);
    for (const c of [
      { N: 3, C: 4, H: 7, W: 6, kh: 3, kw: 3, stride: [1, 1], ph: 1, pw: 1 },
      { N: 1, C: 11, H: 7, W: 6, kh: 3, kw: 3, stride: [1, 1], ph: 1, pw: 1, ceil: true },
      // One plane's windows (9 × 1,600 values) past the limit.
      { N: 1, C: 1, H: 40, W: 40, kh: 3, kw: 3, stride: [1, 1], ph: 1, pw: 1 },
    ] as Cfg[]) {
      await checkOp(small(), rng, {
        name: `${label(c)} with a small binding`,
        shapes: [[c.N, c.C, c.H, c.W]],
        gpu: ([x]) => avgPool2d(x!, optsOf(c)),
        ref: ([x]) => refAvgPool(c, x!),
        refGrad: (_, r) => [refAvgPoolGrad(c, r)],
        tol: 1e-6,
      });
      // The windows of all planes do not fit one binding.
      expect(() => im2col(small().zeros([1, c.N * c.C, c.H, c.W]), { kernel: [3, 3], stride: [1, 1], padding: [1, 1] })).toThrow(DeviceLimitError);
    }
  });
});
