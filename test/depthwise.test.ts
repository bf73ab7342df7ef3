// Depthwise convolution (conv2d with one input channel per group, run by depthwise.ts's kernels)
// against float64 references written as direct loops: awkward geometries (odd sizes, batch 1,
// stride 2, dilation 2, padding 0–2, channel multipliers 1 and 3, channels not a multiple of 4,
// kernels 1×1 to 5×5), values and every gradient, as a CPU adapter and a GPU split the work;
// second derivatives against PyTorch's (create_graph); and which kernels conv2d takes.
import { describe, expect, it } from 'vitest';
import { add, conv2d, grad, mul, sum, type Tensor } from '../src/index.js';
import { torchJson } from './oracle.js';
import { checkOp, expectClose, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { convOutHW as outHW, convShapes as shapesOf, refConv, refConvGrad, type ConvCfg as Cfg } from './references.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

const both = (h: number, w: number) => (h === w ? h : ([h, w] as [number, number]));
const opts = (c: Cfg) => ({ stride: both(c.sh, c.sw), padding: both(c.ph, c.pw), dilation: both(c.dh ?? 1, c.dw ?? 1), groups: c.C });
const label = (c: Cfg) => `depthwise x[${c.N},${c.C},${c.H},${c.W}] w[${shapesOf(c)[1]}] stride ${c.sh},${c.sw} pad ${c.ph},${c.pw} dilation ${c.dh ?? 1},${c.dw ?? 1}${c.bias ? ' bias' : ''}`;

async function checkDepthwise(rng: Rng, c: Cfg, runtime = rt): Promise<void> {
  await checkOp(runtime(), rng, {
    name: label(c),
    shapes: shapesOf(c),
    gpu: ([x, w, b]) => conv2d(x!, w!, b, opts(c)),
    ref: ([x, w, b]) => refConv(c, x!, w!, b),
    refGrad: ([x, w], r) => refConvGrad(c, x!, w!, r).slice(0, c.bias ? 3 : 2),
    tol: 1e-4,
  });
}

/** A depthwise geometry: C channels, `mult` output channels each (default 1). */
const dw = (c: Partial<Cfg> & { C: number; mult?: number }): Cfg => {
  const { mult = 1, ...rest } = c;
  return { N: 2, H: 7, W: 6, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, bias: true, ...rest, O: c.C * mult, groups: c.C };
};

// Widths of 13 and more leave blocks of 4 outputs whose taps all lie inside the image (the
// kernels' untested paths) besides those at the edges.
const NAMED: Cfg[] = [
  dw({ C: 3 }),
  dw({ C: 5, N: 1, H: 9, W: 17, sh: 2, sw: 2, mult: 3 }), // stride 2, multiplier 3, batch 1
  dw({ C: 7, H: 8, W: 15, KH: 5, KW: 5, ph: 2, pw: 2, bias: false }), // 5×5
  dw({ C: 6, H: 9, W: 19, dh: 2, dw: 2, ph: 2, pw: 2, mult: 3 }), // dilation 2
  dw({ C: 3, N: 3, H: 6, W: 15, KH: 2, KW: 3, sh: 1, sw: 2, ph: 0, pw: 1 }), // 2×3, mixed stride
  dw({ C: 5, W: 13, KH: 1, KW: 1, ph: 0, pw: 0, mult: 3 }), // 1×1
  dw({ C: 2, H: 5, W: 5, KH: 1, KW: 1, sh: 2, sw: 2, ph: 2, pw: 1 }), // 1×1 strided, all padding at the corners
  dw({ C: 1, H: 3, W: 3, ph: 0, pw: 0, mult: 3 }), // one channel: kernel = input, one output
  dw({ C: 4, N: 1, H: 3, W: 14, ph: 0, pw: 2 }), // one output row in all: the weight gradient in one pass
  dw({ C: 3, N: 1, H: 11, W: 16, KH: 3, KW: 2, sh: 2, sw: 1, dh: 3, dw: 2, ph: 1, pw: 0 }), // dilation and stride per axis
  dw({ C: 5, N: 1, H: 6, W: 21, KH: 3, KW: 7, ph: 1, pw: 3, mult: 2 }), // a kernel row of 7: two groups of taps
];

const KERNELS: [number, number][] = [[1, 1], [3, 3], [5, 5], [2, 3], [3, 2], [1, 3]];

function randomCfg(rng: Rng): Cfg {
  for (;;) {
    const [KH, KW] = rng.pick(KERNELS);
    const s = rng.pick([1, 1, 2]);
    const d = rng.pick([1, 1, 2]);
    const c = dw({ C: rng.pick([1, 2, 3, 5, 7]), mult: rng.pick([1, 1, 3]), N: rng.pick([1, 2, 3]), H: rng.int(1, 12), W: rng.int(1, 20), KH, KW, sh: s, sw: s, dh: d, dw: d, ph: rng.int(0, 2), pw: rng.int(0, 2), bias: rng.next() < 0.7 });
    const [OH, OW] = outHW(c);
    if (OH >= 1 && OW >= 1) return c;
  }
}

describe.each([
  { split: 'as a CPU adapter', runtime: cpuSplit },
  { split: 'as a GPU', runtime: gpuSplit },
])('depthwise conv2d, work split $split', ({ runtime }) => {
  it('matches float64 on named geometries, values and gradients', async () => {
    const rng = new Rng(5);
    for (const c of NAMED) await checkDepthwise(rng, c, runtime);
  });

  it('matches float64 on 8 random geometries, values and gradients', async () => {
    const rng = new Rng(77);
    for (let t = 0; t < 8; t++) await checkDepthwise(rng, randomCfg(rng), runtime);
  });
});

describe('depthwise conv2d', () => {
  it('runs on its own kernels, no im2col or matmul, forward and backward', async () => {
    const x = rt().zeros([2, 6, 9, 9]);
    const w = rt().zeros([12, 1, 3, 3]);
    const b = rt().zeros([12]);
    const r = rt().zeros([2, 12, 9, 9]);
    const p = await rt().compile(() => {
      const y = conv2d(x, w, b, { padding: 1, groups: 6 });
      const [gx, gw, gb] = grad(y, [x, w, b], r);
      return { y, gx: gx!, gw: gw!, gb: gb! };
    });
    const kernels = p.stats.kernels.filter((k) => k !== 'fill.wgsl:main');
    expect(kernels.filter((k) => k.startsWith('depthwise.wgsl'))).toEqual(expect.arrayContaining(['depthwise.wgsl:forward_bias', 'depthwise.wgsl:input_grad', 'depthwise.wgsl:weight_grad']));
    expect(kernels.filter((k) => /im2col|col2im|matmul/.test(k))).toEqual([]);
    // Unbatched and bias-free: the same kernels.
    const one = await rt().compile(() => ({ y: conv2d(rt().zeros([6, 9, 9]), w, undefined, { groups: 6 }) }));
    expect(one.stats.kernels.filter((k) => k !== 'fill.wgsl:main')).toEqual(['depthwise.wgsl:forward']);
  });

  it("has second derivatives as PyTorch's with create_graph (every gradient of every gradient)", async () => {
    const rng = new Rng(19);
    const c = dw({ C: 3, N: 2, H: 6, W: 13, sh: 2, sw: 1, ph: 1, pw: 2, dh: 1, dw: 2, mult: 2 });
    const [xs, ws, bs] = shapesOf(c).map((s) => f32(rng.array(s.reduce((a, b) => a * b, 1))));
    const [OH, OW] = outHW(c);
    const ySize = c.N * c.O * OH * OW;
    const [rs, s1, s2] = [ySize, xs!.length, ws!.length].map((n) => f32(rng.array(n)));
    const list = (a: Float32Array) => JSON.stringify(Array.from(a));
    const want = torchJson<number[][]>(`
import json, torch
import torch.nn.functional as F
t = lambda v, *s: torch.tensor(v).reshape(*s).requires_grad_()
x, w, b = t(${list(xs!)}, ${c.N}, ${c.C}, ${c.H}, ${c.W}), t(${list(ws!)}, ${c.O}, 1, 3, 3), t(${list(bs!)}, ${c.O})
r = t(${list(rs!)}, ${c.N}, ${c.O}, ${OH}, ${OW})
y = F.conv2d(x, w, b, (${c.sh}, ${c.sw}), (${c.ph}, ${c.pw}), (${c.dh}, ${c.dw}), ${c.C})
gx, gw = torch.autograd.grad((y * r).sum(), [x, w], create_graph=True)
h = (gx * torch.tensor(${list(s1!)}).reshape(x.shape)).sum() + (gw * torch.tensor(${list(s2!)}).reshape(w.shape)).sum()
print(json.dumps([g.flatten().tolist() for g in torch.autograd.grad(h, [x, w, r])]))
`);
    const [x, w, b] = [xs!, ws!, bs!].map((v, i) => rt().tensor(v, shapesOf(c)[i]!));
    const r = rt().tensor(rs!, [c.N, c.O, OH, OW]);
    const y = conv2d(x!, w!, b!, opts(c));
    const [gx, gw] = grad(sum(mul(y, r)), [x!, w!]);
    const h = add(sum(mul(gx!, rt().tensor(s1!, x!.shape))), sum(mul(gw!, rt().tensor(s2!, w!.shape))));
    const hs: Tensor[] = grad(h, [x!, w!, r]);
    for (const [i, name] of ['x', 'w', 'r'].entries()) expectClose(await hs[i]!.read(), want[i]!, 1e-5, `second derivative in ${name}`);
  });
});
