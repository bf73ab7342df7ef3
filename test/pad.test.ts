// pad (F.pad: constant, reflect, replicate, circular over the last one or two dimensions) against
// a float64 reference written per element, with central differences; against PyTorch's F.pad
// and nn.Conv2d's padding modes and padding='same', values and gradients; and its errors.
import { describe, expect, it } from 'vitest';
import { conv2d, grad, mul, pad, ShapeError, sum, type PaddingMode } from '../src/index.js';
import { checkOp, expectClose, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';
import { padOutShape, refPad, refPadGrad, type PadCfg as Cfg } from './references.js';

const rt = useRuntime();

const label = (c: Cfg) => `pad [${c.shape}] by ${JSON.stringify(c.padding)} ${c.mode}${c.value ? ` ${c.value}` : ''}`;
const MODES = ['constant', 'reflect', 'replicate', 'circular'] as const;

async function check(rng: Rng, c: Cfg): Promise<void> {
  await checkOp(rt(), rng, {
    name: label(c),
    shapes: [c.shape],
    gpu: ([x]) => {
      const y = pad(x!, c.padding, { mode: c.mode, ...(c.mode === 'constant' ? { value: c.value } : {}) });
      expect(y.shape).toEqual(padOutShape(c));
      return y;
    },
    ref: ([x]) => refPad(c, x!),
    refGrad: (_, r) => [refPadGrad(c, r)],
    tol: 1e-6,
  });
}

describe('pad', () => {
  it('matches a float64 reference in every mode, with gradients: one or two dimensions, ranks 1 to 4, pads up to the size, crops', async () => {
    const rng = new Rng(23);
    const named: Cfg[] = [
      { shape: [2, 3, 4, 5], padding: [1, 2, 3, 0], mode: 'constant', value: 0 },
      { shape: [1, 2, 3, 3], padding: [2, 2, 2, 2], mode: 'reflect', value: 0 }, // the most reflect takes: size − 1
      { shape: [2, 1, 4, 3], padding: [3, 3, 1, 4], mode: 'replicate', value: 0 },
      { shape: [1, 1, 3, 4], padding: [4, 4, 3, 3], mode: 'circular', value: 0 }, // a whole period each side
      { shape: [7], padding: [2, 3], mode: 'reflect', value: 0 }, // a 1-D tensor
      { shape: [2, 5], padding: [1, 1], mode: 'constant', value: -2.5 }, // the last dimension only, a constant
      { shape: [3, 4, 5], padding: [-1, 2, 1, -2], mode: 'constant', value: 1 }, // negative: crops
      { shape: [1, 2, 1, 1], padding: [3, 3, 3, 3], mode: 'replicate', value: 0 }, // one pixel everywhere
    ];
    for (const c of named) await check(rng, c);
    for (let t = 0; t < 24; t++) {
      const mode = rng.pick([...MODES]);
      const rank = rng.int(1, 4);
      const shape = Array.from({ length: rank }, () => rng.int(1, 5));
      const dims = rank >= 2 && rng.next() < 0.7 ? 2 : 1;
      const padding: number[] = [];
      for (let k = 0; k < dims; k++) {
        const size = shape[rank - 1 - k]!;
        const most = mode === 'reflect' ? size - 1 : mode === 'circular' ? size : 4;
        padding.push(rng.int(mode === 'constant' ? -1 : 0, most), rng.int(0, most));
        if (shape[rank - 1 - k]! + padding[2 * k]! + padding[2 * k + 1]! < 1) padding[2 * k] = 0;
      }
      await check(rng, { shape, padding, mode, value: mode === 'constant' ? rng.pick([0, 0, 3]) : 0 });
    }
  });

  it("matches PyTorch's F.pad in every mode, values and gradients", async () => {
    const rng = new Rng(6);
    const cases: Cfg[] = [
      { shape: [2, 3, 5, 4], padding: [2, 1, 0, 3], mode: 'constant', value: 0.5 },
      { shape: [1, 2, 5, 4], padding: [3, 2, 4, 1], mode: 'reflect', value: 0 },
      { shape: [2, 1, 3, 4], padding: [2, 5, 1, 3], mode: 'replicate', value: 0 },
      { shape: [1, 2, 4, 3], padding: [3, 1, 2, 4], mode: 'circular', value: 0 },
      { shape: [2, 3, 6], padding: [4, 2], mode: 'reflect', value: 0 },
      { shape: [2, 2, 5, 5], padding: [-1, 2, 1, -2], mode: 'constant', value: 0 },
    ];
    const xs = cases.map((c) => Array.from(f32(rng.array(c.shape.reduce((a, b) => a * b, 1)))));
    const torch = torchJson<{ y: number[]; dx: number[] }[]>(
      `
import json, sys, torch
import torch.nn.functional as F
out = []
for c, x in zip(*json.load(sys.stdin)):
    x = torch.tensor(x).reshape(c['shape']).requires_grad_()
    y = F.pad(x, c['padding'], mode=c['mode'], value=c['value']) if c['mode'] == 'constant' else F.pad(x, c['padding'], mode=c['mode'])
    (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
    out.append({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist()})
print(json.dumps(out))`,
      JSON.stringify([cases, xs]),
    );
    for (const [i, c] of cases.entries()) {
      const x = rt().tensor(f32(xs[i]!), c.shape);
      const y = pad(x, c.padding, { mode: c.mode, ...(c.mode === 'constant' ? { value: c.value } : {}) });
      expectClose(await y.read(), torch[i]!.y, 1e-7, `${label(c)} values`);
      const [dx] = grad(sum(mul(y, rt().tensor(f32(Array.from({ length: y.size }, (_, k) => Math.sin(k))), y.shape))), [x]);
      expectClose(await dx!.read(), torch[i]!.dx, 1e-6, `${label(c)} gradient`);
    }
  });

  it("conv2d's paddingMode and padding 'same' and 'valid' are nn.Conv2d's padding_mode and padding strings: values and gradients as PyTorch's", async () => {
    const rng = new Rng(9);
    const cases: { mode: PaddingMode; padding: number | [number, number] | 'same' | 'valid'; k: [number, number]; dilation: number; stride: number }[] = [
      { mode: 'reflect', padding: [1, 2], k: [3, 5], dilation: 1, stride: 1 },
      { mode: 'replicate', padding: 2, k: [3, 3], dilation: 1, stride: 2 },
      { mode: 'circular', padding: [2, 1], k: [5, 3], dilation: 1, stride: 1 },
      { mode: 'zeros', padding: 'same', k: [4, 3], dilation: 1, stride: 1 }, // an odd total: one more at the bottom
      { mode: 'reflect', padding: 'same', k: [3, 2], dilation: 2, stride: 1 },
      { mode: 'zeros', padding: 'valid', k: [2, 3], dilation: 1, stride: 1 },
    ];
    const data = cases.map((c) => [rng.array(2 * 3 * 6 * 7), rng.array(4 * 3 * c.k[0] * c.k[1]), rng.array(4)].map((a) => Array.from(f32(a))));
    const torch = torchJson<{ y: number[]; dx: number[]; dw: number[]; db: number[] }[]>(
      `
import json, sys, torch
out = []
for c, (x, w, b) in zip(*json.load(sys.stdin)):
    m = torch.nn.Conv2d(3, 4, c['k'], stride=c['stride'], padding=c['padding'], dilation=c['dilation'], padding_mode=c['mode'])
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w).reshape(m.weight.shape)); m.bias.copy_(torch.tensor(b))
    x = torch.tensor(x).reshape(2, 3, 6, 7).requires_grad_()
    y = m(x)
    (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
    out.append({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dw': m.weight.grad.flatten().tolist(), 'db': m.bias.grad.tolist()})
print(json.dumps(out))`,
      JSON.stringify([cases, data]),
    );
    for (const [i, c] of cases.entries()) {
      const [x, w, b] = data[i]!.map((v, j) => rt().tensor(f32(v), [[2, 3, 6, 7], [4, 3, ...c.k], [4]][j]!));
      const y = conv2d(x!, w!, b!, { paddingMode: c.mode, padding: c.padding, dilation: c.dilation, stride: c.stride });
      const what = `${c.mode} padding ${JSON.stringify(c.padding)}, kernel ${c.k}`;
      if (c.padding === 'same') expect(y.shape).toEqual([2, 4, 6, 7]);
      expectClose(await y.read(), torch[i]!.y, 1e-5, `${what} values`);
      const grads = grad(sum(mul(y, rt().tensor(f32(Array.from({ length: y.size }, (_, k) => Math.sin(k))), y.shape))), [x!, w!, b!]);
      for (const [k, name] of (['dx', 'dw', 'db'] as const).entries()) expectClose(await grads[k]!.read(), torch[i]![name], 1e-4, `${what} ${name}`);
    }
  });

  it('rejects bad padding, modes and inputs with a ShapeError naming pad, before any dispatch', () => {
    const x = rt().zeros([2, 3, 4, 5]);
    const before = rt().stats().dispatches;
    const cases: [() => unknown, RegExp][] = [
      [() => pad(x, [1, 1, 1]), /^pad: padding must be \[left, right\] or \[left, right, top, bottom\] of integers, got \[1,1,1\] \(input \[2, 3, 4, 5\]\)$/],
      [() => pad(x, [1, 0.5]), /^pad: padding must be .* got \[1,0\.5\]/],
      [() => pad(x, 2 as never), /^pad: padding must be .* got 2/],
      [() => pad(x, [5, 0], { mode: 'reflect' }), /^pad: reflect padding \[5, 0\] of the last dimension must be less than its size 5 \(input \[2, 3, 4, 5\]\)$/],
      [() => pad(x, [0, 0, 0, 5], { mode: 'circular' }), /^pad: circular padding \[0, 5\] of the second-to-last dimension must be at most its size 4/],
      [() => pad(x, [-1, 0], { mode: 'replicate' }), /^pad: replicate padding \[-1, 0\] of the last dimension: only a constant padding may be negative/],
      [() => pad(x, [-3, -2]), /^pad: constant padding \[-3, -2\] of the last dimension leaves nothing of its 5/],
      [() => pad(x, [1, 1], { mode: 'edge' as never }), /^pad: mode must be 'constant', 'reflect', 'replicate', 'circular', got "edge"/],
      [() => pad(x, [1, 1], { mode: 'reflect', value: 1 }), /^pad: value is only for mode 'constant', not 'reflect'/],
      [() => pad(x, [1, 1], { value: '1' as never }), /^pad: value must be a number, got "1"/],
      [() => pad(x, [1, 1], { fill: 1 } as never), /^pad: unknown option 'fill' \(it takes mode, value\)/],
      [() => pad(rt().zeros([5]), [1, 1, 1, 1]), /^pad: needs an f32 tensor of at least 2 dimensions, got f32 \(input \[5\]\)/],
      [() => pad(rt().zeros([5], 'i32'), [1, 1]), /^pad: needs an f32 tensor of at least 1 dimension, got i32/],
    ];
    for (const [f, re] of cases) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(re);
    }
    expect(rt().stats().dispatches).toBe(before);
  });
});
