// gridSample and affineGrid against PyTorch's F.grid_sample and F.affine_grid: values and the
// gradients for the images, the grid and theta, bilinear and nearest, zero, border and reflection
// padding, corners aligned or not, grids reaching past the images, odd sizes; the images'
// gradient as the adjoint of sampling, through per-pixel lists of points or without them; a
// spatial transformer's composition; bad shapes and options.
import { describe, expect, it } from 'vitest';
import { affineGrid, defineEffect, DeviceLimitError, grad, gridSample, mul, sum, type GridSampleOptions, type Runtime } from '../src/index.js';
import { checkOp, expectClose, expectShapeErrors, f32, Rng, useRuntime, useRuntimeBindingAtMost, useRuntimeSplittingAs } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();

type Case = { n: number; c: number; h: number; w: number; ho: number; wo: number } & Required<GridSampleOptions>;

describe('gridSample', () => {
  it("samples and differentiates for the images and the grid as F.grid_sample, every mode and padding, with grids past the edges", async () => {
    const rng = new Rng(1);
    const cases: Case[] = [
      { n: 2, c: 3, h: 5, w: 7, ho: 4, wo: 6, mode: 'bilinear', paddingMode: 'zeros', alignCorners: false },
      { n: 1, c: 1, h: 9, w: 4, ho: 3, wo: 5, mode: 'bilinear', paddingMode: 'border', alignCorners: false },
      { n: 3, c: 2, h: 6, w: 6, ho: 6, wo: 6, mode: 'bilinear', paddingMode: 'zeros', alignCorners: true },
      { n: 2, c: 5, h: 4, w: 8, ho: 7, wo: 2, mode: 'bilinear', paddingMode: 'border', alignCorners: true },
      { n: 2, c: 2, h: 7, w: 5, ho: 5, wo: 5, mode: 'nearest', paddingMode: 'zeros', alignCorners: false },
      { n: 1, c: 3, h: 5, w: 5, ho: 4, wo: 4, mode: 'nearest', paddingMode: 'border', alignCorners: true },
      { n: 2, c: 2, h: 5, w: 6, ho: 5, wo: 7, mode: 'bilinear', paddingMode: 'reflection', alignCorners: false },
      { n: 1, c: 3, h: 7, w: 4, ho: 6, wo: 3, mode: 'bilinear', paddingMode: 'reflection', alignCorners: true },
      { n: 2, c: 1, h: 6, w: 5, ho: 4, wo: 4, mode: 'nearest', paddingMode: 'reflection', alignCorners: false },
      { n: 1, c: 2, h: 1, w: 5, ho: 3, wo: 3, mode: 'bilinear', paddingMode: 'reflection', alignCorners: true },
    ];
    // Past the edges, and (reflected) past them several times.
    const data = cases.map((c) => ({ x: Array.from(f32(rng.array(c.n * c.c * c.h * c.w))), grid: Array.from(f32(rng.array(c.n * c.ho * c.wo * 2, c.paddingMode === 'reflection' ? -3.5 : -1.2, c.paddingMode === 'reflection' ? 3.5 : 1.2))) }));
    const torch = torchJson<{ y: number[]; dx: number[]; dgrid: number[] }[]>(
      `
import json, sys, torch
import torch.nn.functional as F
out = []
for c, d in json.load(sys.stdin):
    x = torch.tensor(d['x']).reshape(c['n'], c['c'], c['h'], c['w']).requires_grad_()
    grid = torch.tensor(d['grid']).reshape(c['n'], c['ho'], c['wo'], 2).requires_grad_()
    y = F.grid_sample(x, grid, mode=c['mode'], padding_mode=c['paddingMode'], align_corners=c['alignCorners'])
    (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
    out.append({'y': y.flatten().tolist(), 'dx': x.grad.flatten().tolist(), 'dgrid': grid.grad.flatten().tolist()})
print(json.dumps(out))`,
      JSON.stringify(cases.map((c, i) => [c, data[i]])),
    );
    for (const [i, c] of cases.entries()) {
      const x = rt().tensor(f32(data[i]!.x), [c.n, c.c, c.h, c.w], { requiresGrad: true });
      const grid = rt().tensor(f32(data[i]!.grid), [c.n, c.ho, c.wo, 2], { requiresGrad: true });
      const { mode, paddingMode, alignCorners } = c;
      const y = gridSample(x, grid, { mode, paddingMode, alignCorners });
      const what = JSON.stringify(c);
      expect(y.shape).toEqual([c.n, c.c, c.ho, c.wo]);
      expectClose(await y.read(), torch[i]!.y, 1e-5, what);
      const cos = rt().tensor(f32(Array.from({ length: y.size }, (_, k) => Math.cos(k))), y.shape);
      const [dx, dgrid] = grad(sum(mul(y, cos)), [x, grid]);
      expectClose(await dx!.read(), torch[i]!.dx, 1e-5, `${what}: gradient for the images`);
      expectClose(await dgrid!.read(), torch[i]!.dgrid, 1e-4, `${what}: gradient for the grid`);
    }
  });

  it('matches a float64 bilinear definition, its gradient for the grid with central differences', async () => {
    const rng = new Rng(3);
    const [h, w, ho, wo] = [5, 6, 3, 4];
    const image = rng.array(h * w);
    const at = (px: number, py: number) => (px < 0 || py < 0 || px >= w || py >= h ? 0 : image[py * w + px]!);
    // F.grid_sample, bilinear, zeros, corners not aligned, of one channel.
    const ref = ([g]: Float64Array[]) =>
      Float64Array.from({ length: ho * wo }, (_, p) => {
        const [x, y] = [((g![2 * p]! + 1) * w - 1) / 2, ((g![2 * p + 1]! + 1) * h - 1) / 2];
        const [x0, y0] = [Math.floor(x), Math.floor(y)];
        const [fx, fy] = [x - x0, y - y0];
        return at(x0, y0) * (1 - fx) * (1 - fy) + at(x0 + 1, y0) * fx * (1 - fy) + at(x0, y0 + 1) * (1 - fx) * fy + at(x0 + 1, y0 + 1) * fx * fy;
      });
    const x = rt().tensor(f32(image), [1, 1, h, w]);
    await checkOp(rt(), rng, {
      name: 'gridSample (bilinear, zeros)',
      shapes: [[1, ho, wo, 2]],
      range: [-1.1, 1.1],
      gpu: ([g]) => gridSample(x, g!),
      ref,
      refGrad: ([g], r) => {
        const d = new Float64Array(g!.length);
        for (let p = 0; p < ho * wo; p++) {
          const [x, y] = [((g![2 * p]! + 1) * w - 1) / 2, ((g![2 * p + 1]! + 1) * h - 1) / 2];
          const [x0, y0] = [Math.floor(x), Math.floor(y)];
          const [fx, fy] = [x - x0, y - y0];
          const [v00, v10, v01, v11] = [at(x0, y0), at(x0 + 1, y0), at(x0, y0 + 1), at(x0 + 1, y0 + 1)];
          d[2 * p] = r[p]! * ((v10 - v00) * (1 - fy) + (v11 - v01) * fy) * (w / 2);
          d[2 * p + 1] = r[p]! * ((v01 - v00) * (1 - fx) + (v11 - v10) * fx) * (h / 2);
        }
        return [d];
      },
      tol: 1e-5,
      gradTol: 1e-4,
    });
  });

  it('differentiates for the images as the adjoint of sampling: ⟨g, sample(x)⟩ = ⟨gradient, x⟩ for a fixed grid', async () => {
    const rng = new Rng(4);
    for (const paddingMode of ['zeros', 'border', 'reflection'] as const) {
      const x = rt().tensor(f32(rng.array(2 * 3 * 9 * 7)), [2, 3, 9, 7], { requiresGrad: true });
      const grid = rt().tensor(f32(rng.array(2 * 5 * 6 * 2, -1.5, 1.5)), [2, 5, 6, 2]);
      const g = f32(rng.array(2 * 3 * 5 * 6));
      const y = gridSample(x, grid, { paddingMode, alignCorners: paddingMode === 'border' });
      const [dx] = grad(sum(mul(y, rt().tensor(g, y.shape))), [x]);
      const [yv, xv, dv] = [await y.read(), await x.read(), await dx!.read()];
      const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
      expect(Math.abs(dot(g, yv) - dot(dv, xv)), paddingMode).toBeLessThan(1e-4 * Math.max(1, Math.abs(dot(g, yv))));
    }
  });

  it("differentiates for the images through each pixel's sorted list of points, and past the longest it sorts through all: F.grid_sample's, the same bits on every run", async () => {
    const kernels = await checkImageGradients(rt, imageGradientGrids(new Rng(5)));
    expect(kernels).toContain('grid_sample.wgsl:input_grad');
  });

  it("sums each pixel's gradient over its points in ascending order, through sorted lists and past them: float32 sums of that order, bit for bit", async () => {
    // A 9×9 image with corners aligned: v = i/4 − 1 is pixel i exactly, and v + 1/8 half a pixel
    // past it, so every weight is 1 (nearest) or 1/4 (bilinear, the four neighbours alike) and
    // each sum's bits depend on its order alone. Points of each pixel lie in different workgroups
    // (256 points each); 500 points on one pixel make its (and, bilinear, its neighbours') lists
    // longer than a pixel sorts (√(128·C·Ho·Wo) = 362 here), so those pixels walk all points.
    const rng = new Rng(6);
    const [side, ho, wo] = [9, 16, 64];
    const points = ho * wo;
    const at = Array.from({ length: points }, (_, p) => (p % 2 === 0 && p < 1000 ? 40 : (p * 37) % 81));
    // Magnitudes from 1 to 2^24 with full mantissas, either sign: float32 sums that cancel and
    // round at nearly every step, so any other order shows in the bits.
    const g = f32(Array.from({ length: points }, () => (rng.next() < 0.5 ? -1 : 1) * 2 ** Math.floor(rng.next() * 25) * (1 + rng.next())));
    for (const mode of ['bilinear', 'nearest'] as const) {
      const half = mode === 'bilinear' ? 1 / 8 : 0;
      const grid = f32(at.flatMap((q) => [(q % side) / 4 - 1 + half, Math.floor(q / side) / 4 - 1 + half]));
      const expected = new Float32Array(side * side);
      at.forEach((q, p) => {
        const [px, py] = [q % side, Math.floor(q / side)];
        for (const [dx, dy] of (mode === 'nearest' ? [[0, 0]] : [[0, 0], [1, 0], [0, 1], [1, 1]]) as [number, number][]) {
          const k = (py + dy) * side + px + dx;
          if (px + dx < side && py + dy < side) expected[k] = Math.fround(expected[k]! + (mode === 'nearest' ? g[p]! : g[p]! / 4));
        }
      });
      const images = rt().tensor(new Float32Array(side * side), [1, 1, side, side], { requiresGrad: true });
      const y = gridSample(images, rt().tensor(grid, [1, ho, wo, 2]), { mode, alignCorners: true });
      const [dx] = grad(sum(mul(y, rt().tensor(g, y.shape))), [images]);
      expect(new Uint32Array((await dx!.read()).buffer), mode).toEqual(new Uint32Array(expected.buffer));
    }
  });

  it('sorts each list of up to sortMax points, and leaves the longer ones (which are walked instead)', async () => {
    // The fill leaves lists in the order its invocations ran, nearly ascending on a CPU adapter:
    // the sort is checked on lists laid out by hand. 6 pixels (2×3), 10 points, nearest: the
    // lists' ends [3, 3, 7, 8, 10, 10], then the lists.
    const sortLists = defineEffect<{ sortMax: number }>({
      name: 'grid_sample_sort',
      writes: () => [0],
      encode: (ctx, [lists], { sortMax }) =>
        ctx.dispatch({
          shader: 'grid_sample.wgsl',
          entry: 'bucket_sort',
          constants: { WG: 256 },
          params: { images: 1, channels: 1, height: 2, width: 3, out_height: 1, out_width: 10, bilinear: 0, padding: 0, align_corners: 0, sort_max: sortMax },
          bindings: { buckets: lists! },
          workgroups: [1],
        }),
    });
    const ends = [3, 3, 7, 8, 10, 10];
    const lists = rt().tensor(Uint32Array.from([...ends, 9, 2, 5, 8, 1, 7, 3, 4, 6, 0]), [16]);
    await rt().effect(sortLists, [lists], { sortMax: 3 });
    expect(Array.from(await lists.read())).toEqual([...ends, 2, 5, 9, 8, 1, 7, 3, 4, 0, 6]);
  });

  it('refuses bad shapes and options, naming the op', () => {
    const x = rt().zeros([2, 1, 4, 4]);
    const grid = rt().zeros([2, 3, 3, 2]);
    expectShapeErrors([
      [() => gridSample(rt().zeros([1, 4, 4]), grid), /^gridSample: the images must be f32 \[N, C, H, W\]: images \[1, 4, 4\] f32/],
      [() => gridSample(x, rt().zeros([3, 3, 3, 2])), /^gridSample: the grid must be f32 \[2, Ho, Wo, 2\]/],
      [() => gridSample(x, grid, { paddingMode: 'reflect' as never }), /^gridSample: paddingMode must be 'zeros', 'border' or 'reflection', got "reflect"/],
      [() => gridSample(x, grid, { mode: 'bicubic' as never }), /^gridSample: mode must be 'bilinear' or 'nearest', got "bicubic"/],
      [() => affineGrid(rt().zeros([2, 2, 3]), [3, 1, 4, 4]), /^affineGrid: theta must be f32 \[3, 2, 3\]: theta \[2, 2, 3\], size \[3,1,4,4\]/],
      [() => affineGrid(rt().zeros([2, 2, 3]), [2, 4, 4]), /^affineGrid: size must be \[N, C, H, W\], positive integers/],
    ]);
    // A grid too large for the device, named by affineGrid, not the elementwise ops it is made of.
    expect(() => affineGrid(rt().zeros([2, 2, 3]), [2, 1, 2 ** 15, 2 ** 15])).toThrow(DeviceLimitError);
    expect(() => affineGrid(rt().zeros([2, 2, 3]), [2, 1, 2 ** 15, 2 ** 15])).toThrow(/^affineGrid: result \[2, 32768, 32768, 2\] f32 is 17179869184 bytes, over this device's limit/);
  });
});

describe('gridSample on a GPU', () => {
  // A GPU sorts lists of 256 points at most (its fill leaves them in any order): the lists of 160
  // sorted, those of 480 walked.
  const gpu = useRuntimeSplittingAs(false);
  it("differentiates for the images through each pixel's sorted list of points, and past the longest it sorts through all: F.grid_sample's, the same bits on every run", async () => {
    expect(await checkImageGradients(gpu, imageGradientGrids(new Rng(5)))).toContain('grid_sample.wgsl:input_grad');
  });
});

describe('gridSample where the lists of points of all the images would not fit in a buffer binding', () => {
  // The lists take n·(h·w + 4·Ho·Wo) = 4,126 words (16.5 kB), one image's half that: the lists of
  // one image at a time, the two gradients concatenated.
  const small = useRuntimeBindingAtMost(12 * 1024);
  it("differentiates for the images through each image's lists in turn: F.grid_sample's, the same bits on every run", async () => {
    const kernels = await checkImageGradients(small, imageGradientGrids(new Rng(5)).slice(0, 2));
    expect(kernels.filter((k) => k === 'grid_sample.wgsl:input_grad')).toHaveLength(2);
    expect(kernels).not.toContain('grid_sample.wgsl:input_grad_walk');
  });
});

describe("gridSample where one image's lists would not fit in a buffer binding", () => {
  // One image of one channel: its lists take 143 + 4·480 words (8.3 kB), over the 6 kB a binding
  // holds here; the image, grid and gradients fit.
  const tiny = useRuntimeBindingAtMost(6 * 1024);
  it("differentiates for the images by walking all points from every pixel: F.grid_sample's, the same bits on every run", async () => {
    const one: Dims = [1, 1, h, w, ho, wo];
    const kernels = await checkImageGradients(tiny, imageGradientGrids(new Rng(5), one).slice(0, 2), one);
    expect(kernels).toContain('grid_sample.wgsl:input_grad_walk');
    expect(kernels.filter((k) => k.includes('bucket'))).toEqual([]);
  });
});

type ImageGradientGrid = [what: string, grid: number[], opts: GridSampleOptions];
type Dims = [n: number, c: number, h: number, w: number, ho: number, wo: number];
const DIMS: Dims = [2, 3, 11, 13, 24, 20];
const [, , h, w, ho, wo] = DIMS;

/**
 * Grids of n·Ho·Wo points over images [n, c, h, w] that give pixels lists of every length: with
 * DIMS a pixel sorts lists of up to √(128·c·Ho·Wo) = 429 points and walks all 480 of its image's
 * points past that.
 */
function imageGradientGrids(rng: Rng, [n, , , , ho, wo]: Dims = DIMS): ImageGradientGrid[] {
  const points = n * ho * wo;
  return [
    // 4 points per pixel and more: lists of 16 on average.
    ['upsampled, slightly moved', Array.from({ length: points * 2 }, (_, i) => (i % 2 === 0 ? -1 + (2 * ((i >> 1) % wo) + 1) / wo : -1 + (2 * (Math.floor((i >> 1) / wo) % ho) + 1) / ho) + 0.02 * (rng.next() - 0.5)), {}],
    // All in a box of about a pixel: lists of up to 480, walked point by point.
    ['gathered', Array.from({ length: points * 2 }, () => 0.1 + 0.1 * (rng.next() - 0.5)), {}],
    ['all at the centre', new Array<number>(points * 2).fill(0), { paddingMode: 'border' }],
    ['all at the centre, nearest', new Array<number>(points * 2).fill(0), { mode: 'nearest' }],
    // Lists of 160 at one place, short ones elsewhere.
    ['a third at one place', Array.from({ length: points * 2 }, (_, i) => (Math.floor(i / 2) % 3 === 0 ? (i % 2 === 0 ? 0.3 : -0.2) : 2.2 * (rng.next() - 0.5))), { alignCorners: true }],
  ];
}

/** The images' gradient through each grid against F.grid_sample's, the same bits on three runs; returns the kernels of the last. */
async function checkImageGradients(r: () => Runtime, grids: ImageGradientGrid[], [n, c, h, w, ho, wo]: Dims = DIMS): Promise<string[]> {
  const x = f32(new Rng(55).array(n * c * h * w));
  const torch = torchJson<number[][]>(
    `
import json, sys, torch
import torch.nn.functional as F
d = json.load(sys.stdin)
out = []
for grid, o in d['grids']:
    x = torch.tensor(d['x']).reshape(${n}, ${c}, ${h}, ${w}).requires_grad_()
    y = F.grid_sample(x, torch.tensor(grid, dtype=torch.float32).reshape(${n}, ${ho}, ${wo}, 2), mode=o.get('mode', 'bilinear'), padding_mode=o.get('paddingMode', 'zeros'), align_corners=o.get('alignCorners', False))
    (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
    out.append(x.grad.flatten().tolist())
print(json.dumps(out))`,
    JSON.stringify({ x: Array.from(x), grids: grids.map(([, g, o]) => [Array.from(f32(g)), o]) }),
  );
  let kernels: string[] = [];
  for (const [i, [what, g, opts]] of grids.entries()) {
    const images = r().tensor(x, [n, c, h, w]);
    const cos = r().tensor(f32(Array.from({ length: n * c * ho * wo }, (_, k) => Math.cos(k))), [n, c, ho, wo]);
    const program = await r().compile(() => ({ dx: grad(sum(mul(gridSample(images, r().tensor(f32(g), [n, ho, wo, 2]), opts), cos)), [images])[0]! }));
    kernels = program.stats.kernels;
    const runs: Uint32Array[] = [];
    for (let run = 0; run < 3; run++) {
      const dx = await program.run().dx!.read();
      if (run === 0) expectClose(dx, torch[i]!, 1e-5, what);
      runs.push(new Uint32Array(dx.buffer.slice(0)));
    }
    expect(runs[1], `${what}: a second run`).toEqual(runs[0]);
    expect(runs[2], `${what}: a third run`).toEqual(runs[0]);
  }
  return kernels;
}

describe('affineGrid', () => {
  it("is F.affine_grid, values and theta's gradient, and with gridSample a spatial transformer's sampling, differentiated for theta", async () => {
    const rng = new Rng(2);
    type G = { n: number; h: number; w: number; align: boolean };
    const cases: G[] = [
      { n: 2, h: 5, w: 7, align: false },
      { n: 1, h: 1, w: 6, align: false },
      { n: 3, h: 4, w: 4, align: true },
    ];
    const thetas = cases.map((c) => Array.from(f32(rng.array(c.n * 6, -1, 1))));
    const images = cases.map((c) => Array.from(f32(rng.array(c.n * 2 * 6 * 5))));
    const torch = torchJson<{ grid: number[]; dtheta: number[]; y: number[]; dtheta2: number[] }[]>(
      `
import json, sys, torch
import torch.nn.functional as F
out = []
for c, t, im in json.load(sys.stdin):
    theta = torch.tensor(t).reshape(c['n'], 2, 3).requires_grad_()
    grid = F.affine_grid(theta, [c['n'], 2, c['h'], c['w']], align_corners=c['align'])
    (grid * torch.arange(grid.numel()).reshape(grid.shape).cos()).sum().backward()
    d1 = theta.grad.flatten().tolist()
    theta.grad = None
    x = torch.tensor(im).reshape(c['n'], 2, 6, 5)
    y = F.grid_sample(x, F.affine_grid(theta, [c['n'], 2, c['h'], c['w']], align_corners=c['align']), align_corners=c['align'])
    (y * torch.arange(y.numel()).reshape(y.shape).cos()).sum().backward()
    out.append({'grid': grid.flatten().tolist(), 'dtheta': d1, 'y': y.flatten().tolist(), 'dtheta2': theta.grad.flatten().tolist()})
print(json.dumps(out))`,
      JSON.stringify(cases.map((c, i) => [c, thetas[i], images[i]])),
    );
    for (const [i, c] of cases.entries()) {
      const theta = rt().tensor(f32(thetas[i]!), [c.n, 2, 3], { requiresGrad: true });
      const what = JSON.stringify(c);
      const grid = affineGrid(theta, [c.n, 2, c.h, c.w], { alignCorners: c.align });
      expect(grid.shape).toEqual([c.n, c.h, c.w, 2]);
      expectClose(await grid.read(), torch[i]!.grid, 1e-6, `${what}: grid`);
      const cosOf = (t: typeof grid) => rt().tensor(f32(Array.from({ length: t.size }, (_, k) => Math.cos(k))), t.shape);
      expectClose(await grad(sum(mul(grid, cosOf(grid))), [theta])[0]!.read(), torch[i]!.dtheta, 1e-5, `${what}: gradient for theta`);
      const x = rt().tensor(f32(images[i]!), [c.n, 2, 6, 5]);
      const y = gridSample(x, affineGrid(theta, [c.n, 2, c.h, c.w], { alignCorners: c.align }), { alignCorners: c.align });
      expectClose(await y.read(), torch[i]!.y, 1e-5, `${what}: sampled`);
      expectClose(await grad(sum(mul(y, cosOf(y))), [theta])[0]!.read(), torch[i]!.dtheta2, 1e-4, `${what}: sampled, gradient for theta`);
    }
  });
});
