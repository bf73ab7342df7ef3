// pad (F.pad: constant, reflect, replicate, circular over the last one or two dimensions) against
// a float64 reference written per element, with central differences; against PyTorch's F.pad
// and nn.Conv2d's padding modes and padding='same', values and gradients; and its errors.
import { describe, expect, it } from 'vitest';
import { conv2d, DeviceLimitError, pad, type PaddingMode, type Tensor } from '../src/index.js';
import { checkOp, expectOpAsTorch, expectShapeErrors, Rng, useRuntime } from './helpers.js';
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
    await expectOpAsTorch(
      rt(),
      rng,
      cases,
      {
        shapes: (c) => [c.shape],
        call: "F.pad(xs[0], c['padding'], mode=c['mode'], value=c['value']) if c['mode'] == 'constant' else F.pad(xs[0], c['padding'], mode=c['mode'])",
        gpu: ([x], c) => pad(x!, c.padding, { mode: c.mode, ...(c.mode === 'constant' ? { value: c.value } : {}) }),
        label,
      },
      { values: 1e-7, grads: 1e-6 },
    );
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
    // nn.Conv2d's own padding (its padding_mode and padding strings), with these weights.
    const prelude = `
def conv(xs, c):
    m = torch.nn.Conv2d(3, 4, c['k'], stride=c['stride'], padding=c['padding'], dilation=c['dilation'], padding_mode=c['mode'])
    return torch.nn.utils.stateless.functional_call(m, {'weight': xs[1], 'bias': xs[2]}, (xs[0],))`;
    const gpu = ([x, w, b]: Tensor[], c: (typeof cases)[number]) => {
      const y = conv2d(x!, w!, b!, { paddingMode: c.mode, padding: c.padding, dilation: c.dilation, stride: c.stride });
      if (c.padding === 'same') expect(y.shape).toEqual([2, 4, 6, 7]);
      return y;
    };
    const label = (c: (typeof cases)[number]) => `${c.mode} padding ${JSON.stringify(c.padding)}, kernel ${c.k}`;
    await expectOpAsTorch(rt(), rng, cases, { shapes: (c) => [[2, 3, 6, 7], [4, 3, ...c.k], [4]], call: 'conv(xs, c)', prelude, gpu, label }, { values: 1e-5, grads: 1e-4 });
  });

  it('rejects bad padding, modes and inputs with a ShapeError naming pad, before any dispatch; an empty dimension padded', async () => {
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
      // (An empty dimension left unpadded is no matter: below.)
      [() => pad(x, [1, 1], { mode: 'edge' as never }), /^pad: mode must be 'constant', 'reflect', 'replicate', 'circular', got "edge"/],
      [() => pad(x, [1, 1], { mode: 'reflect', value: 1 }), /^pad: value is only for mode 'constant', not 'reflect'/],
      [() => pad(x, [1, 1], { value: '1' as never }), /^pad: value must be a number, got "1"/],
      [() => pad(x, [1, 1], { fill: 1 } as never), /^pad: unknown option 'fill' \(it takes mode, value\)/],
      [() => pad(rt().zeros([5]), [1, 1, 1, 1]), /^pad: needs an f32 tensor of at least 2 dimensions, got f32 \(input \[5\]\)/],
      [() => pad(rt().zeros([5], 'i32'), [1, 1]), /^pad: needs an f32 tensor of at least 1 dimension, got i32/],
    ];
    expectShapeErrors(cases);
    expect(rt().stats().dispatches).toBe(before);
    // Padding the last dimension of [0, 5] gives [0, 7], as F.pad; and of [2, 0] ones of the constant;
    // padding the other dimension of [2, 0] gives [4, 0], rows of nothing.
    expect(pad(rt().zeros([0, 5]), [1, 1]).shape).toEqual([0, 7]);
    expect(Array.from(await pad(rt().zeros([2, 0]), [1, 1], { value: 3 }).read())).toEqual([3, 3, 3, 3]);
    const rows = pad(rt().zeros([2, 0]), [0, 0, 1, 1]);
    expect([rows.shape, (await rows.read()).length]).toEqual([[4, 0], 0]);
  });

  it('refuses a result too large for the device with a DeviceLimitError naming pad and the shapes, before building its taps', () => {
    // 2³¹ + 3 floats: past any device's binding limit, and past what a typed array of the matrix may hold.
    const cases: [() => unknown, RegExp][] = [
      [() => pad(rt().zeros([3]), [2 ** 31, 0]), /^pad: result \[2147483651\] f32 is 8589934604 bytes, over this device's limit of \d+ bytes .* \(input \[3\]\)$/],
      [() => pad(rt().zeros([2, 3]), [0, 0, 2 ** 31, 0], { value: 1 }), /^pad: result \[2147483650, 3\] f32 is \d+ bytes, over this device's limit .* \(input \[2, 3\]\)$/],
    ];
    for (const [f, re] of cases) {
      expect(f).toThrow(DeviceLimitError);
      expect(f).toThrow(re);
    }
  });
});
