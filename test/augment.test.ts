// RandomAffine against torchvision 0.14's: each image's draw from a generator seeded as
// torch.manual_seed, the inverse matrix, and affineTransform's pixels against F.affine on tensors
// (nearest and bilinear, a fill, non-square images, several channels), its gradients against
// torchvision's grid composition under autograd; its errors. Trainer.setAugment, and
// TorchGenerator.setState, which lets a loop start a Trainer's draws over.
import { describe, expect, it } from 'vitest';
import { affineTransform, grad, Model, mul, RandomAffine, sum, TensorStateError, TorchGenerator, Trainer, inverseAffineMatrix, type AffineParams, type RandomAffineOptions } from '../src/index.js';
import { expectClose, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { mnistHead } from './mnist-fixtures.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

describe('RandomAffine', () => {
  it("draws each image's transform as torchvision's get_params does after torch.manual_seed, and its matrix as _get_inverse_affine_matrix", () => {
    const configs = [
      { opts: { degrees: 15, translate: [0.1, 0.2], scale: [0.8, 1.2], shear: [-5, 5, -3, 3] }, py: 'degrees=[-15.0, 15.0], translate=[0.1, 0.2], scale_ranges=[0.8, 1.2], shears=[-5.0, 5.0, -3.0, 3.0]' },
      { opts: { degrees: [-30, 10], shear: 8 }, py: 'degrees=[-30.0, 10.0], translate=None, scale_ranges=None, shears=[-8.0, 8.0]' },
      { opts: { degrees: 0, translate: [0.3, 0.05] }, py: 'degrees=[0.0, 0.0], translate=[0.3, 0.05], scale_ranges=None, shears=None' },
    ] as const;
    const torch = torchJson<{ params: [number, [number, number], number, [number, number]][]; matrices: number[][] }[]>(`
import json, torch
import torchvision.transforms as T, torchvision.transforms.functional as F
out = []
for kw in [${configs.map((c) => `dict(${c.py})`).join(', ')}]:
    torch.manual_seed(7)
    ps = [T.RandomAffine.get_params(img_size=[28, 20], **kw) for _ in range(40)]
    out.append({'params': ps, 'matrices': [F._get_inverse_affine_matrix([0.0, 0.0], a, [1.0 * t for t in tr], s, list(sh)) for a, tr, s, sh in ps]})
print(json.dumps(out))`);
    for (const [i, c] of configs.entries()) {
      const ra = new RandomAffine(c.opts as never);
      const gen = new TorchGenerator(7);
      const ours = Array.from({ length: 40 }, () => ra.draw(gen, 28, 20));
      expect(ours.map((p) => [p.angle, p.translate, p.scale, p.shear]), JSON.stringify(c.opts)).toEqual(torch[i]!.params);
      for (const [k, p] of ours.entries()) expectClose(inverseAffineMatrix(p), torch[i]!.matrices[k]!, 1e-15, `matrix ${k}`);
      // skip() leaves the generator where drawing would.
      const [a, b] = [new TorchGenerator(3), new TorchGenerator(3)];
      for (let k = 0; k < 5; k++) ra.draw(a, 28, 20);
      ra.skip(b, 5);
      expect(a.randomInt64()).toBe(b.randomInt64());
    }
  });

  it('refuses options torchvision refuses, naming them', () => {
    const bad: [object, RegExp][] = [
      [{ degrees: -1 }, /^RandomAffine: degrees must be a number ≥ 0 or \[min, max\], got -1/],
      [{ degrees: [10, 5] }, /^RandomAffine: degrees must be a number ≥ 0 or \[min, max\], got \[10,5\]/],
      [{ degrees: 0, translate: [0.5, 1.5] }, /^RandomAffine: translate must be \[fx, fy\], fractions in \[0, 1\] of the width and the height, got \[0\.5,1\.5\]/],
      [{ degrees: 0, scale: [0, 1] }, /^RandomAffine: scale must be \[min, max\], numbers > 0, got \[0,1\]/],
      [{ degrees: 0, shear: [1, 2, 3] }, /^RandomAffine: shear must be a number ≥ 0, \[min, max\] or \[xMin, xMax, yMin, yMax\], got \[1,2,3\]/],
      [{ degrees: 0, interpolation: 'bicubic' }, /^RandomAffine: interpolation must be 'nearest' or 'bilinear', got "bicubic"/],
      [{ degrees: 0, rotate: 5 }, /^RandomAffine: unknown option 'rotate'/],
      // Past float32's range: torch's uniform_ refuses these ("out of bounds for float", "to-from to exceed the limit").
      [{ degrees: 2e38 }, /^RandomAffine: degrees \[-2e\+38, 2e\+38\] spans more than float32 holds, in which torch draws it$/],
      [{ degrees: 0, scale: [0.5, 1e39] }, /^RandomAffine: scale \[0\.5, 1e\+39\] spans more than float32 holds/],
      [{ degrees: 0, shear: [0, 1, -3e38, 3e38] }, /^RandomAffine: shear \[-3e\+38, 3e\+38\] spans more than float32 holds/],
    ];
    for (const [opts, re] of bad) expect(() => new RandomAffine(opts as never), JSON.stringify(opts)).toThrow(re);
  });
});

describe('affineTransform', () => {
  it("resamples as torchvision's F.affine on tensors: nearest (pixel for pixel) and bilinear, with fills, on MNIST digits and odd-sized images", async () => {
    const rng = new Rng(5);
    const digits = mnistHead('train', 12).pixels;
    type Case = { n: number; c: number; h: number; w: number; mode: 'nearest' | 'bilinear'; fill: number; mnist: boolean };
    const cases: Case[] = [
      { n: 12, c: 1, h: 28, w: 28, mode: 'nearest', fill: 0, mnist: true },
      { n: 12, c: 1, h: 28, w: 28, mode: 'bilinear', fill: 0, mnist: true },
      { n: 5, c: 3, h: 9, w: 14, mode: 'nearest', fill: 0.25, mnist: false },
      { n: 4, c: 2, h: 11, w: 8, mode: 'bilinear', fill: -0.5, mnist: false },
    ];
    const ra = new RandomAffine({ degrees: 25, translate: [0.15, 0.15], scale: [0.7, 1.3], shear: [-10, 10, -5, 5] });
    const gen = new TorchGenerator(11);
    const data = cases.map((c) => {
      const x = c.mnist ? Array.from(digits, (v) => Math.fround(v / 255)) : Array.from(f32(rng.array(c.n * c.c * c.h * c.w, 0, 1)));
      const params: AffineParams[] = Array.from({ length: c.n }, () => ra.draw(gen, c.w, c.h));
      // An identity and, on square images, a quarter turn among them: pixel centres land on pixel
      // centres (a quarter turn of an image whose sides differ in parity lands on pixel edges,
      // where rounding noise picks the side).
      params[0] = { angle: 0, translate: [0, 0], scale: 1, shear: [0, 0] };
      if (c.h === c.w) params[1] = { angle: 90, translate: [1, -2], scale: 1, shear: [0, 0] };
      return { x, params };
    });
    const torch = torchJson<number[][]>(
      `
import json, sys, torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
out = []
for c, d in json.load(sys.stdin):
    x = torch.tensor(d['x'], dtype=torch.float32).reshape(c['n'], c['c'], c['h'], c['w'])
    mode = InterpolationMode.NEAREST if c['mode'] == 'nearest' else InterpolationMode.BILINEAR
    ys = [F.affine(x[i], p['angle'], p['translate'], p['scale'], p['shear'], interpolation=mode, fill=[c['fill']] * c['c']) for i, p in enumerate(d['params'])]
    out.append(torch.stack(ys).flatten().tolist())
print(json.dumps(out))`,
      JSON.stringify(cases.map((c, i) => [c, data[i]])),
    );
    for (const [i, c] of cases.entries()) {
      const x = rt().tensor(f32(data[i]!.x), [c.n, c.c, c.h, c.w]);
      const m = rt().tensor(f32(data[i]!.params.flatMap((p) => inverseAffineMatrix(p))), [c.n, 6]);
      const y = await affineTransform(x, m, { mode: c.mode, fill: c.fill }).read();
      const what = JSON.stringify({ ...c, mnist: undefined });
      if (c.mode === 'bilinear') {
        expectClose(y, torch[i]!, 1e-5, what);
        continue;
      }
      // Nearest: a position within rounding of a pixel's edge may take either pixel.
      const off = y.filter((v, k) => v !== torch[i]![k]).length;
      expect(off, `${what}: ${off} of ${y.length} pixels differ`).toBeLessThanOrEqual(y.length * 2e-3);
      const exact = (c.h === c.w ? 2 : 1) * c.c * c.h * c.w;
      expect([...y.subarray(0, exact)], `${what}: identity and quarter turn`).toEqual(torch[i]!.slice(0, exact));
    }
  });

  it('gives the fill where a matrix of NaN or ±inf puts a pixel (nearest), and NaN (bilinear), as torchvision', async () => {
    const [n, c, h, w] = [5, 2, 4, 3];
    const x = f32(new Rng(8).array(n * c * h * w, 0, 1));
    const m = [[NaN, 0, 0, 0, 1, 0], [Infinity, 0, 0, 0, 1, 0], [1, 0, 0, 0, 1, -Infinity], [1, 0, NaN, 0, 1, 0], [1e30, 0, 0, 0, 1, 0]];
    const torch = torchJson<Record<string, (number | null)[]>>(
      `
import json, sys, torch
from torchvision.transforms import functional_tensor as FT
d = json.load(sys.stdin)
x = torch.tensor(d['x'], dtype=torch.float32).reshape(${n}, ${c}, ${h}, ${w})
m = [[float(v) for v in row] for row in d['m']]
print(json.dumps({mode: [None if v != v else v for v in torch.stack([FT.affine(x[i], m[i], interpolation=mode, fill=[0.25] * ${c}) for i in range(${n})]).flatten().tolist()] for mode in ('nearest', 'bilinear')}))`,
      JSON.stringify({ x: Array.from(x), m: m.map((row) => row.map(String)) }),
    );
    for (const mode of ['nearest', 'bilinear'] as const) {
      const y = await affineTransform(rt().tensor(x, [n, c, h, w]), rt().tensor(f32(m.flat()), [n, 6]), { mode, fill: 0.25 }).read();
      expect(Array.from(y, (v) => (Number.isNaN(v) ? null : v)), mode).toEqual(torch[mode]);
    }
  });

  it("differentiates for the images and the matrices as torchvision's grid composition does under autograd", async () => {
    const rng = new Rng(8);
    type Case = { n: number; c: number; h: number; w: number; mode: 'nearest' | 'bilinear'; fill: number };
    const cases: Case[] = [
      { n: 2, c: 3, h: 6, w: 7, mode: 'bilinear', fill: 0 },
      { n: 3, c: 2, h: 8, w: 5, mode: 'bilinear', fill: 0.4 },
      { n: 2, c: 1, h: 7, w: 7, mode: 'nearest', fill: 0.25 },
    ];
    const ra = new RandomAffine({ degrees: 30, translate: [0.2, 0.2], scale: [0.8, 1.2], shear: [-8, 8] });
    const gen = new TorchGenerator(5);
    const data = cases.map((c) => ({
      x: Array.from(f32(rng.array(c.n * c.c * c.h * c.w))),
      m: Array.from(f32(Array.from({ length: c.n }, () => inverseAffineMatrix(ra.draw(gen, c.w, c.h))).flat())),
    }));
    const torch = torchJson<{ dx: number[]; dm: number[] }[]>(
      `
import json, sys, torch
try:
    from torchvision.transforms.functional_tensor import _apply_grid_transform, _gen_affine_grid
except ImportError:
    from torchvision.transforms._functional_tensor import _apply_grid_transform, _gen_affine_grid
out = []
for c, d in json.load(sys.stdin):
    x = torch.tensor(d['x']).reshape(c['n'], c['c'], c['h'], c['w']).requires_grad_()
    m = torch.tensor(d['m']).reshape(c['n'], 2, 3).requires_grad_()
    ys = [_apply_grid_transform(x[i:i + 1], _gen_affine_grid(m[i:i + 1], w=c['w'], h=c['h'], ow=c['w'], oh=c['h']), c['mode'], [c['fill']] * c['c']) for i in range(c['n'])]
    y = torch.cat(ys)
    (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
    out.append({'dx': x.grad.flatten().tolist(), 'dm': m.grad.flatten().tolist()})
print(json.dumps(out))`,
      JSON.stringify(cases.map((c, i) => [c, data[i]])),
    );
    for (const [i, c] of cases.entries()) {
      const x = rt().tensor(f32(data[i]!.x), [c.n, c.c, c.h, c.w], { requiresGrad: true });
      const m = rt().tensor(f32(data[i]!.m), [c.n, 6], { requiresGrad: true });
      const y = affineTransform(x, m, { mode: c.mode, fill: c.fill });
      const cos = rt().tensor(f32(Array.from({ length: y.size }, (_, k) => Math.cos(k))), y.shape);
      const [dx, dm] = grad(sum(mul(y, cos)), [x, m]);
      const what = JSON.stringify(c);
      expectClose(await dx!.read(), torch[i]!.dx, 1e-5, `${what}: gradient for the images`);
      expectClose(await dm!.read(), torch[i]!.dm, 1e-4, `${what}: gradient for the matrices`);
      // Only what is asked for: the images' alone.
      const [only] = grad(sum(mul(affineTransform(x, m, { mode: c.mode, fill: c.fill }), cos)), [x]);
      expectClose(await only!.read(), torch[i]!.dx, 1e-5, `${what}: the images' gradient alone`);
    }
  });

  it('refuses what is not a batch of images with a matrix each', () => {
    const x = rt().zeros([2, 1, 4, 4]);
    expectShapeErrors([
      [() => affineTransform(rt().zeros([1, 4, 4]), rt().zeros([1, 6])), /^affineTransform: the images must be f32 \[N, C, H, W\]: images \[1, 4, 4\] f32/],
      [() => affineTransform(x, rt().zeros([2, 4])), /^affineTransform: the matrices must be f32 \[2, 6\], one per image/],
      [() => affineTransform(x, rt().zeros([2, 6]), { mode: 'bicubic' as never }), /^affineTransform: mode must be 'nearest' or 'bilinear', got "bicubic"/],
      [() => affineTransform(x, rt().zeros([2, 6]), { fill: NaN }), /^affineTransform: fill must be a number, got NaN/],
    ]);
  });
});

describe('Trainer.setAugment', () => {
  const spec = { input: [1, 6, 5], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 3 }] } as const;
  const count = 9;
  const data = { images: { count, rows: 6, cols: 5, pixels: Uint8Array.from({ length: 30 * count }, (_, i) => (i * 89 + 7) % 256) }, labels: Uint8Array.from({ length: count }, (_, i) => i % 3) };
  const batches = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [8, 0, 4], [2, 5, 7]].map((b) => Uint32Array.from(b));
  const rotate: RandomAffineOptions = { degrees: 30, translate: [0.2, 0.1], interpolation: 'bilinear' };
  const state = async (m: Model) => [...(await m.state())].map(([name, t]) => [name, Array.from(t.data)]);
  // Plain SGD keeps no state, so Trainers made in turn over one model and one generator train
  // as one Trainer whose augmentation changed between their steps.
  const sgd = { batchSize: 3, optimizer: 'sgd', lr: 0.5 } as const;

  it("changes the augmentation from the next step on, as Trainers made with each would train in turn, drawing from the Trainer's generator", async () => {
    const model = Model.create(rt(), spec, { seed: 3 });
    const t = await Trainer.create(rt(), model, data, { ...sgd, generator: new TorchGenerator(5) });
    const losses: number[] = [];
    const lossOf = async (tr: Trainer, b: Uint32Array) => (await (await tr.trainStep(b)).read())[0]!;
    for (const b of batches.slice(0, 2)) losses.push(await lossOf(t, b));
    t.setAugment(rotate);
    expect(t.opts.augment).toEqual(rotate);
    expect(t.programFor(3), 'the step recompiles with the transform').toBeUndefined();
    for (const b of batches.slice(2, 4)) losses.push(await lossOf(t, b));
    t.setAugment(undefined);
    expect(Object.keys(t.opts)).not.toContain('augment');
    losses.push(await lossOf(t, batches[4]!));

    const ref = Model.create(rt(), spec, { seed: 3 });
    const gen = new TorchGenerator(5);
    const want: number[] = [];
    for (const [augment, from, to] of [[undefined, 0, 2], [rotate, 2, 4], [undefined, 4, 5]] as const) {
      const r = await Trainer.create(rt(), ref, data, { ...sgd, generator: gen, ...(augment ? { augment } : {}) });
      for (const b of batches.slice(from, to)) want.push(await lossOf(r, b));
      r.dispose();
    }
    expect(losses).toEqual(want);
    expect(await state(model)).toEqual(await state(ref));
    // The transform took part: without it the same steps end elsewhere.
    const plain = Model.create(rt(), spec, { seed: 3 });
    const p = await Trainer.create(rt(), plain, data, { ...sgd, generator: new TorchGenerator(5) });
    for (const b of batches) await p.trainStep(b);
    expect(await state(plain)).not.toEqual(await state(model));
    for (const x of [t, p, model, ref, plain]) x.dispose();
  });

  it('keeps the compiled step where only the ranges change, and a generator set back draws the same transforms again', async () => {
    const model = Model.create(rt(), spec, { seed: 3 });
    const start = new TorchGenerator(8);
    const gen = start.clone();
    const t = await Trainer.create(rt(), model, data, { ...sgd, generator: gen, augment: rotate });
    const initial = await model.state();
    const compiled = t.programFor(3);
    t.setAugment({ ...rotate, degrees: 5, scale: [0.8, 1.1] });
    expect(t.programFor(3), 'the same program: only the matrices change').toBe(compiled);
    const run = async () => {
      model.load(initial, 'initial');
      gen.setState(start);
      for (const b of batches) await t.trainStep(b);
      return state(model);
    };
    const first = await run();
    expect(await run(), 'the same draws after setState').toEqual(first);
    t.setAugment({ ...rotate, fill: 0.5 });
    expect(t.programFor(3), 'another fill recompiles').toBeUndefined();
    const ref = Model.create(rt(), spec, { seed: 3 });
    const r = await Trainer.create(rt(), ref, data, { ...sgd, generator: start.clone(), augment: { ...rotate, degrees: 5, scale: [0.8, 1.1] } });
    for (const b of batches) await r.trainStep(b);
    expect(first).toEqual(await state(ref));
    for (const x of [t, r, model, ref]) x.dispose();
  });

  it('refuses an augmentation without a generator, for a model not of images, or with bad options, keeping the one it had', async () => {
    const model = Model.create(rt(), spec, { seed: 3 });
    const bare = await Trainer.create(rt(), model, data, sgd);
    expect(() => bare.setAugment(rotate)).toThrow('Trainer.setAugment: augment draws from the generator: give the Trainer one');
    bare.dispose();
    const t = await Trainer.create(rt(), model, data, { ...sgd, generator: new TorchGenerator(1), augment: rotate });
    expect(() => t.setAugment({ ...rotate, scale: [1.2, 0.9] })).toThrow('RandomAffine: scale must be [min, max], numbers > 0, got [1.2,0.9]');
    expect(() => t.setAugment({ degrees: 10, rotate: 3 } as never)).toThrow("RandomAffine: unknown option 'rotate'");
    expect(t.opts.augment).toEqual(rotate);
    expect(t.programFor(3)).toBeDefined();
    t.dispose();
    expect(() => t.setAugment(undefined)).toThrow(TensorStateError);
    const flat = Model.create(rt(), { input: [30], layers: [{ type: 'linear', name: 'fc', outFeatures: 3 }] }, { seed: 3 });
    const f = await Trainer.create(rt(), flat, data, { ...sgd, generator: new TorchGenerator(1) });
    expect(() => f.setAugment(rotate)).toThrow('Trainer.setAugment: augment transforms images [C, H, W], and the model takes [30]');
    for (const x of [f, model, flat]) x.dispose();
  });
});

describe('TorchGenerator.setState', () => {
  it("takes another generator's state: both draw the same from there, normal draws' kept second value included", () => {
    const a = new TorchGenerator(2);
    a.normal(new Float32Array(1)); // leaves the second value of a Box–Muller pair waiting
    const b = new TorchGenerator(9).setState(a);
    const draw = (g: TorchGenerator) => [...g.normal(new Float32Array(3)), ...g.uniform(new Float32Array(20), 0, 1), Number(g.randomInt64())];
    const fromB = draw(b);
    expect(draw(a)).toEqual(fromB);
    // Independent afterwards.
    b.uniform(new Float32Array(5), 0, 1);
    expect(draw(a)).not.toEqual(draw(b));
  });
});
