// conv2d (im2col + matmul) and its primitives im2col / col2im against float64 references
// written as direct loops: many random geometries (odd sizes, non-square kernels, mixed
// strides, padding 0–2, dilation 1–3, groups, channel counts 1–7), the seed CNN's layers (named
// geometries and the seed's layers on each matmul kernel), which-gradient checks and shape
// errors. convTranspose2d, its adjoint, is checked in conv_transpose2d.test.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { adaptiveAvgPool2d, adaptiveMaxPool2d, avgPool2d, col2im, conv2d, convTranspose2d, DeviceLimitError, grad, im2col, linear, maxPool2d, relu, ShapeError, softmaxCrossEntropy, type Runtime, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectOpAsTorch, expectSameOutputs, expectShapeErrors, f32, Rng, usePlainRuntime, useRuntime, useRuntimeBindingAtMost, useRuntimeSplittingAs } from './helpers.js';
import { convShapes as shapesOf, convOutHW as outHW, convTShapes, refConv, refConvGrad, refConvTranspose, refConvTransposeGrad, type ConvCfg as Cfg, type ConvTCfg } from './references.js';

const rt = useRuntime();
const plain = usePlainRuntime(true);
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

const both = (h: number, w: number) => (h === w ? h : ([h, w] as [number, number]));
const opts = (c: Cfg) => ({
  stride: both(c.sh, c.sw),
  padding: both(c.ph, c.pw),
  ...(c.dh !== undefined ? { dilation: both(c.dh, c.dw!) } : {}),
  ...(c.groups !== undefined ? { groups: c.groups } : {}),
});
const label = (c: Cfg) =>
  `conv2d x[${c.N},${c.C},${c.H},${c.W}] w[${shapesOf(c)[1]}] stride ${c.sh},${c.sw} pad ${c.ph},${c.pw}${c.dh ? ` dilation ${c.dh},${c.dw}` : ''}${c.groups ? ` groups ${c.groups}` : ''}${c.bias ? ' bias' : ''}`;

async function checkConv(rng: Rng, c: Cfg, runtime = rt): Promise<void> {
  await checkOp(runtime(), rng, {
    name: label(c),
    shapes: shapesOf(c),
    gpu: ([x, w, b]) => conv2d(x!, w!, b, opts(c)),
    ref: ([x, w, b]) => refConv(c, x!, w!, b),
    refGrad: ([x, w], r) => refConvGrad(c, x!, w!, r).slice(0, c.bias ? 3 : 2),
    tol: 1e-4,
  });
}

const KERNELS: [number, number][] = [[1, 1], [3, 3], [5, 5], [2, 3], [3, 2], [1, 3], [4, 1]];
const STRIDES: [number, number][] = [[1, 1], [2, 2], [1, 2], [2, 1], [3, 3]];

function randomCfg(rng: Rng): Cfg {
  for (;;) {
    const [KH, KW] = rng.pick(KERNELS);
    const [sh, sw] = rng.pick(STRIDES);
    const c: Cfg = {
      N: rng.pick([1, 2, 3]),
      C: rng.pick([1, 2, 3, 5, 7]),
      H: rng.int(1, 11),
      W: rng.int(1, 11),
      O: rng.pick([1, 2, 3, 4, 6]),
      KH,
      KW,
      sh,
      sw,
      ph: rng.int(0, 2),
      pw: rng.int(0, 2),
      bias: rng.next() < 0.7,
    };
    // A third dilated, a third grouped (groups dividing both channel counts, C of them:
    // depthwise, where O is a multiple of C).
    if (rng.next() < 0.35) [c.dh, c.dw] = [rng.int(1, 3), rng.int(1, 3)];
    if (rng.next() < 0.35) {
      const g = rng.pick([1, 2, 3, 5, 7].filter((d) => c.C % d === 0 && c.O % d === 0));
      if (g > 1) c.groups = g;
    }
    const [OH, OW] = outHW(c);
    // Small enough for finite differences of the float64 reference to stay fast.
    if (OH >= 1 && OW >= 1 && c.N * c.O * OH * OW * c.C * KH * KW <= 60_000) return c;
  }
}

const base: Cfg = { N: 1, C: 1, H: 5, W: 5, O: 1, KH: 3, KW: 3, sh: 1, sw: 1, ph: 0, pw: 0, bias: true };
const NAMED: Cfg[] = [
  base,
  { ...base, N: 3, C: 3, H: 7, W: 9, O: 5, ph: 1, pw: 1 }, // odd batch, non-square input
  { ...base, N: 2, C: 5, H: 9, W: 8, O: 4, KH: 5, KW: 5, ph: 2, pw: 2 }, // 5×5 "same"
  { ...base, N: 2, C: 7, H: 6, W: 7, O: 3, KH: 2, KW: 3, sh: 1, sw: 2, ph: 1, pw: 0 }, // 2×3 kernel, mixed stride
  { ...base, N: 1, C: 3, H: 9, W: 11, O: 2, sh: 2, sw: 2, ph: 2, pw: 2 }, // stride 2, padding 2
  { ...base, N: 3, C: 5, H: 5, W: 6, O: 7, KH: 1, KW: 1 }, // 1×1: no im2col
  { ...base, N: 2, C: 3, H: 7, W: 5, O: 2, KH: 1, KW: 1, sh: 2, sw: 2, ph: 1, pw: 0 }, // 1×1 strided and padded
  { ...base, N: 1, C: 2, H: 3, W: 3, O: 2, KH: 3, KW: 3, bias: false }, // kernel = input: one output
  { ...base, N: 2, C: 1, H: 1, W: 1, O: 3, KH: 3, KW: 3, ph: 1, pw: 1 }, // 1×1 input, all padding around
  { ...base, N: 1, C: 4, H: 8, W: 8, O: 5, KH: 3, KW: 3, sh: 3, sw: 3, ph: 0, pw: 0 }, // stride 3 skips pixels
  { ...base, N: 2, C: 3, H: 6, W: 4, O: 2, KH: 5, KW: 3, sh: 2, sw: 1, ph: 2, pw: 1, bias: false },
  { ...base, N: 2, C: 3, H: 9, W: 8, O: 4, dh: 2, dw: 2, ph: 2, pw: 2 }, // dilation 2, "same"
  { ...base, N: 1, C: 2, H: 11, W: 7, O: 3, KH: 3, KW: 2, sh: 2, sw: 1, dh: 3, dw: 2, ph: 1, pw: 0 }, // dilation and stride mixed per axis
  { ...base, N: 3, C: 4, H: 6, W: 5, O: 6, groups: 2, ph: 1, pw: 1 }, // two groups
  { ...base, N: 2, C: 5, H: 7, W: 7, O: 5, groups: 5, sh: 2, sw: 2, ph: 1, pw: 1 }, // depthwise, strided
  { ...base, N: 2, C: 3, H: 5, W: 6, O: 6, KH: 1, KW: 1, groups: 3, bias: false }, // grouped 1×1: no im2col
  { ...base, N: 1, C: 6, H: 9, W: 9, O: 4, groups: 2, dh: 2, dw: 3, ph: 2, pw: 1, sh: 2, sw: 1 }, // groups, dilation and stride
];

// The weight gradient is a batch-summing matmul: each matmul kernel is checked, whichever
// adapter runs the tests.
describe.each([
  { kernel: "a CPU adapter's kernels (subgroups where offered)", runtime: cpuSplit },
  { kernel: 'the block kernel (a CPU adapter without subgroups)', runtime: plain },
  { kernel: "a GPU's kernels", runtime: gpuSplit },
])('conv2d with matmul on $kernel', ({ runtime }) => {
  it('matches a direct float64 convolution on named geometries, with gradients', async () => {
    const rng = new Rng(7);
    for (const c of NAMED) await checkConv(rng, c, runtime);
  });

  it("matches float64 on the seed CNN's layers (forward, input, weight and bias gradients)", async () => {
    const rng = new Rng(31);
    const layers: Cfg[] = [
      { N: 50, C: 1, H: 28, W: 28, O: 16, KH: 5, KW: 5, sh: 1, sw: 1, ph: 2, pw: 2, bias: true },
      { N: 50, C: 16, H: 14, W: 14, O: 32, KH: 5, KW: 5, sh: 1, sw: 1, ph: 2, pw: 2, bias: true },
    ];
    for (const c of layers) {
      // Too large for finite differences of the reference: the reference gradient is the one
      // validated on the small geometries above.
      const [xs, ws, bs] = shapesOf(c).map((s) => rng.array(s.reduce((a, b) => a * b, 1)));
      const [x, w, b] = [xs!, ws!, bs!].map((v, i) => runtime().tensor(f32(v), shapesOf(c)[i]!));
      const out = conv2d(x!, w!, b!, opts(c));
      expect(out.shape).toEqual([c.N, c.O, ...outHW(c)]);
      expectClose(await out.read(), refConv(c, xs!, ws!, bs!), 1e-4, `${label(c)} forward`);
      const r = rng.array(out.size);
      const grads = grad(out, [x!, w!, b!], runtime().tensor(f32(r), out.shape));
      const want = refConvGrad(c, xs!, ws!, r);
      for (const [i, name] of ['x', 'w', 'b'].entries()) expectClose(await grads[i]!.read(), want[i]!, 1e-4, `${label(c)} d/d${name}`);
    }
  });
});

describe('conv2d', () => {
  it('matches a direct float64 convolution on 40 random geometries, with gradients', async () => {
    const rng = new Rng(2025);
    for (let t = 0; t < 40; t++) await checkConv(rng, randomCfg(rng));
  });

  it("matches PyTorch's conv2d with dilation and groups, values and every gradient", async () => {
    const rng = new Rng(12);
    const cases = NAMED.filter((c) => c.dh !== undefined || c.groups !== undefined);
    const call = "F.conv2d(xs[0], xs[1], xs[2] if len(xs) > 2 else None, (c['sh'], c['sw']), (c['ph'], c['pw']), (c.get('dh', 1), c.get('dw', 1)), c.get('groups', 1))";
    await expectOpAsTorch(rt(), rng, cases, { shapes: shapesOf, call, gpu: ([x, w, b], c) => conv2d(x!, w!, b, opts(c)), label }, { values: 1e-5, grads: 1e-4 });
  });

  it('computes no col2im when only the weight gradient is wanted (first layer)', async () => {
    const rng = new Rng(3);
    const c: Cfg = { ...base, N: 2, C: 3, H: 6, W: 5, O: 4, ph: 1, pw: 1 };
    const [xs, ws, bs] = shapesOf(c).map((s) => rng.array(s.reduce((a, b) => a * b, 1)));
    const [x, w, b] = [xs!, ws!, bs!].map((v, i) => rt().tensor(f32(v), shapesOf(c)[i]!));
    const out = conv2d(x!, w!, b!, opts(c));
    const r = rng.array(out.size);
    const seed = rt().tensor(f32(r), out.shape);
    const want = refConvGrad(c, xs!, ws!, r);

    const [dw] = grad(out, [w!], seed);
    expect(opNames(dw!)).not.toContain('col2im');
    expectClose(await dw!.read(), want[1]!, 1e-4, 'weight-only gradient');

    const [dx, dw2] = grad(out, [x!, w!], seed);
    expect(opNames(dx!)).toContain('col2im');
    expect(opNames(dw2!)).not.toContain('col2im');
    expectClose(await dx!.read(), want[0]!, 1e-4, 'input gradient');
  });

  it('runs inside a compiled training step (conv, relu, pool, linear, cross-entropy) as it does eagerly', async () => {
    const rng = new Rng(40);
    const B = 5;
    const param = (shape: number[]) => rt().tensor(f32(rng.array(shape.reduce((a, b) => a * b, 1))), shape);
    const [w1, b1, w2, b2] = [param([4, 1, 3, 3]), param([4]), param([10, 64]), param([10])];
    const step = (x: Tensor, labels: Tensor) => {
      const h = maxPool2d(relu(conv2d(x, w1!, b1!, { padding: 1 })), { kernelSize: 2 });
      const loss = softmaxCrossEntropy(linear(h.flatten(1), w2!, b2!), labels);
      const [gw1, gb1, gw2, gb2] = grad(loss, [w1!, b1!, w2!, b2!]);
      return { loss, gw1: gw1!, gb1: gb1!, gw2: gw2!, gb2: gb2! };
    };
    const program = await rt().compile(({ x, labels }) => step(x!, labels!), { x: [B, 1, 8, 8], labels: { shape: [B], dtype: 'i32' } });
    for (let run = 0; run < 2; run++) {
      const xs = f32(rng.array(B * 64));
      const labels = Int32Array.from({ length: B }, () => rng.int(0, 9));
      const got = program.run({ x: xs, labels });
      const want = step(rt().tensor(xs, [B, 1, 8, 8]), rt().tensor(labels, [B]));
      await expectSameOutputs(got, want, 1e-6, `compiled, run ${run}`);
    }
  });

  it('rejects bad shapes and options with a ShapeError naming conv2d and the shapes, before any dispatch', () => {
    const x = rt().zeros([2, 3, 8, 8]);
    const w = rt().zeros([4, 5, 3, 3]);
    const before = rt().stats().dispatches;
    expect(() => conv2d(x, w)).toThrow(ShapeError);
    expect(() => conv2d(x, w)).toThrow(/^conv2d: input channels differ \(3 vs 5\): input \[2, 3, 8, 8\], weight \[4, 5, 3, 3\]$/);
    const w3 = rt().zeros([4, 3, 3, 3]);
    const cases: [() => unknown, RegExp][] = [
      [() => conv2d(rt().zeros([8, 8]), w3), /conv2d: the input must be \[N, C, H, W\], or one image \[C, H, W\]: input \[8, 8\]/],
      [() => conv2d(x, rt().zeros([4, 3, 3])), /conv2d: the weight must be \[O, C, KH, KW\]: input \[2, 3, 8, 8\], weight \[4, 3, 3\]/],
      [() => conv2d(x, rt().zeros([4, 3, 9, 3])), /conv2d: the 9×3 kernel does not fit the 8×8 input padded by \[0, 0\]/],
      [() => conv2d(x, w3, undefined, { stride: 0 }), /conv2d: stride must be an integer ≥ 1 or a pair of them, got 0: input \[2, 3, 8, 8\]/],
      [() => conv2d(x, w3, undefined, { stride: [1, 1.5] }), /conv2d: stride .* got \[1,1.5\]/],
      [() => conv2d(x, w3, undefined, { padding: -1 }), /^conv2d: padding must be an integer ≥ 0, a pair of them, 'same' or 'valid', got -1: input \[2, 3, 8, 8\]/],
      [() => conv2d(x, w3, undefined, { padding: 'full' as never }), /^conv2d: padding must be an integer ≥ 0, a pair of them, 'same' or 'valid', got "full"/],
      [() => conv2d(x, w3, undefined, { padding: 'same', stride: [1, 2] }), /^conv2d: padding 'same' needs stride 1, as PyTorch's, got stride \[1, 2\]: input \[2, 3, 8, 8\]/],
      [() => conv2d(x, w3, undefined, { padding: 1, paddingMode: 'mirror' as never }), /^conv2d: paddingMode must be 'zeros', 'reflect', 'replicate', 'circular', got "mirror"/],
      [() => conv2d(x, rt().zeros([4, 3, 9, 9]), undefined, { padding: 8, paddingMode: 'reflect' }), /^conv2d: reflect padding \[8, 8\] must be less than the input's height 8: input \[2, 3, 8, 8\], weight \[4, 3, 9, 9\]$/],
      [() => conv2d(x, rt().zeros([4, 3, 1, 1]), undefined, { padding: [0, 9], paddingMode: 'circular' }), /^conv2d: circular padding \[9, 9\] must be at most the input's width 8: /],
      [() => conv2d(x, rt().zeros([4, 3, 9, 9]), undefined, { padding: 'valid' }), /^conv2d: the 9×9 kernel does not fit the 8×8 input padded by \[0, 0\]/],
      [() => conv2d(x, w3, rt().zeros([3])), /conv2d: the bias must be \[4\]: input \[2, 3, 8, 8\], weight \[4, 3, 3, 3\], bias \[3\]/],
      [() => conv2d(x, w3, rt().zeros([4, 1])), /conv2d: the bias must be \[4\]/],
      [() => conv2d(rt().zeros([2, 3, 8, 8], 'i32'), w3), /conv2d: needs f32 tensors, got input i32, weight f32: input/],
      // PyTorch's options fovea lacks are refused, not ignored; so are options in the bias's place.
      [() => conv2d(x, w3, undefined, { padding_mode: 'reflect' } as never), /^conv2d: unknown option 'padding_mode' \(it takes stride, padding, paddingMode, dilation, groups\): input \[2, 3, 8, 8\]/],
      [() => conv2d(x, w3, undefined, { groups: 1, strides: 2, bias: false } as never), /^conv2d: unknown options 'strides', 'bias'/],
      // Groups divide both channel counts, and the weight holds one group's input channels.
      [() => conv2d(x, w3, undefined, { groups: 3 }), /^conv2d: 3 groups do not divide the 4 output channels: input \[2, 3, 8, 8\], weight \[4, 3, 3, 3\]$/],
      [() => conv2d(x, rt().zeros([6, 3, 3, 3]), undefined, { groups: 3 }), /^conv2d: the weight takes 3 groups of 3 input channels, 9 in all, but the input has 3: input \[2, 3, 8, 8\], weight \[6, 3, 3, 3\]$/],
      [() => conv2d(x, rt().zeros([6, 1, 3, 3]), undefined, { groups: 0 }), /^conv2d: groups must be a positive integer, got 0: /],
      [() => conv2d(x, rt().zeros([6, 1, 3, 3]), undefined, { groups: 1.5 }), /^conv2d: groups must be a positive integer, got 1\.5: /],
      [() => conv2d(x, rt().zeros([6, 1, 3, 3]), undefined, { groups: '3' as never }), /^conv2d: groups must be a positive integer, got "3": /],
      [() => conv2d(x, w3, undefined, { dilation: 0 }), /^conv2d: dilation must be an integer ≥ 1 or a pair of them, got 0: input \[2, 3, 8, 8\]/],
      // Dilated, a 3×3 kernel spans 2·(3 − 1) + 1 = 5 pixels; by 4, 9: more than 8.
      [() => conv2d(x, w3, undefined, { dilation: [1, 4] }), /^conv2d: the 3×3 kernel dilated by \[1, 4\] does not fit the 8×8 input padded by \[0, 0\]: /],
      [() => conv2d(x, w3, rt().zeros([4], 'i32')), /^conv2d: needs f32 tensors, got input f32, weight f32, bias i32: /],
      [() => conv2d(x, w3, undefined, { stride: [1, 1, 1] as never }), /^conv2d: stride must be an integer ≥ 1 or a pair of them, got \[1,1,1\]/],
      // Past 2^30 the kernels' u32 parameters would wrap (stride and padding 2^32 gave the corner pixel everywhere).
      [() => conv2d(x, w3, undefined, { stride: 2 ** 32, padding: 2 ** 32 }), /^conv2d: stride 4294967296 is over 1073741824 \(2\^30\), the most fovea's kernels take: input \[2, 3, 8, 8\]/],
      [() => conv2d(x, w3, undefined, { padding: [0, 2 ** 31] }), /^conv2d: padding \[0,2147483648\] is over 1073741824/],
    ];
    expectShapeErrors(cases);
    // Not a tensor where one goes: a TypeError, as JavaScript's own for an argument of the wrong kind.
    const notTensors: [() => unknown, RegExp][] = [
      [() => conv2d(x, w3, { stride: 2 } as never), /^conv2d: b must be a Tensor or undefined, got an object; options come fourth: conv2d\(x, w, b, \{ stride \}\)$/],
      [() => conv2d([[1]] as never, w3), /^conv2d: x must be a Tensor, got an array of length 1 \(rt\.tensor\(\) makes a tensor of nested numbers\)$/],
      [() => conv2d(x, {} as never), /^conv2d: w must be a Tensor, got an object$/],
    ];
    for (const [f, re] of notTensors) {
      expect(f).toThrow(TypeError);
      expect(f).toThrow(re);
    }
    expect(conv2d(x, w3, undefined, { padding: 1 }).shape).toEqual([2, 4, 8, 8]);
    expect(rt().stats().dispatches).toBe(before);
  });
});

/** Names of the ops a lazy tensor's value depends on. */
function opNames(t: Tensor): string[] {
  const names: string[] = [];
  const seen = new Set<Tensor>();
  const stack = [t];
  while (stack.length) {
    const u = stack.pop()!;
    if (seen.has(u) || !u.op) continue;
    seen.add(u);
    names.push(u.op.def.name);
    stack.push(...u.op.inputs);
  }
  return names;
}

// ---- the primitives ----

/** Visits every cols entry [n][c·KH·KW + ky·KW + kx][oy·OW + ox] with the pixel it copies (-1: padding). */
function forEachCol(c: Cfg, f: (colIdx: number, xIdx: number) => void): void {
  const [OH, OW] = outHW(c);
  const rows = c.C * c.KH * c.KW;
  for (let n = 0; n < c.N; n++)
    for (let ch = 0; ch < c.C; ch++)
      for (let ky = 0; ky < c.KH; ky++)
        for (let kx = 0; kx < c.KW; kx++)
          for (let oy = 0; oy < OH; oy++)
            for (let ox = 0; ox < OW; ox++) {
              const iy = oy * c.sh - c.ph + ky * (c.dh ?? 1);
              const ix = ox * c.sw - c.pw + kx * (c.dw ?? 1);
              const inside = iy >= 0 && iy < c.H && ix >= 0 && ix < c.W;
              const row = (ch * c.KH + ky) * c.KW + kx;
              f((n * rows + row) * OH * OW + oy * OW + ox, inside ? ((n * c.C + ch) * c.H + iy) * c.W + ix : -1);
            }
}

function refIm2col(c: Cfg, x: Float64Array): Float64Array {
  const [OH, OW] = outHW(c);
  const cols = new Float64Array(c.N * c.C * c.KH * c.KW * OH * OW);
  forEachCol(c, (ci, xi) => (cols[ci] = xi < 0 ? 0 : x[xi]!));
  return cols;
}

/** The adjoint, as a scatter: every cols entry added to the pixel it was copied from. */
function refCol2im(c: Cfg, cols: Float64Array): Float64Array {
  const x = new Float64Array(c.N * c.C * c.H * c.W);
  forEachCol(c, (ci, xi) => {
    if (xi >= 0) x[xi]! += cols[ci]!;
  });
  return x;
}

describe('conv2d whose columns are more than one binding holds', () => {
  // 3 input channels, 3×3 kernel over 7×6 with padding 1: one image's columns are 27×42 values.
  const one = 27 * 42 * 4;
  const small = useRuntimeBindingAtMost(2 * one + 100);

  it('takes the batch in slices whose columns fit, matching float64 with every gradient', async () => {
    const rng = new Rng(77);
    for (const N of [5, 3, 2]) {
      const c: Cfg = { ...base, N, C: 3, H: 7, W: 6, O: 4, ph: 1, pw: 1 };
      await checkConv(rng, c, small);
      // The whole batch's columns do not fit: the slicing was needed (N > 2).
      const x = small().zeros([N, 3, 7, 6]);
      if (N > 2) expect(() => im2col(x, { kernel: [3, 3], stride: [1, 1], padding: [1, 1] })).toThrow(DeviceLimitError);
    }
    // Strided, non-square, no bias: three images' columns (5·2·3 rows of 4·3) fit a binding.
    await checkConv(rng, { ...base, N: 7, C: 5, H: 8, W: 5, O: 3, KH: 2, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1, bias: false }, small);
    // Depthwise: the same columns, multiplied group by group.
    await checkConv(rng, { ...base, N: 5, C: 3, H: 7, W: 6, O: 3, ph: 1, pw: 1, groups: 3 }, small);
  });

  it("takes a transposed convolution's batch in slices too: its columns are its output's windows", async () => {
    // 3 output channels, a 3×3 kernel, a 7×6 input: the same 27×42 columns per image, two images a slice.
    const rng = new Rng(9);
    const c: ConvTCfg = { ...base, N: 3, C: 2, H: 7, W: 6, O: 3, sh: 2, sw: 2, ph: 1, pw: 1, oph: 1, opw: 0 };
    await checkOp(small(), rng, {
      name: 'convTranspose2d in slices',
      shapes: convTShapes(c),
      gpu: ([x, w, b]) => {
        const y = convTranspose2d(x!, w!, b, { stride: 2, padding: 1, outputPadding: [1, 0] });
        expect(opNames(y).filter((n) => n === 'col2im')).toHaveLength(2); // images 0–1, then 2
        return y;
      },
      ref: ([x, w, b]) => refConvTranspose(c, x!, w!, b),
      refGrad: ([x, w], r) => refConvTransposeGrad(c, x!, w!, r),
      tol: 1e-4,
    });
  });

  it("one image's columns over the limit are a DeviceLimitError that says so", () => {
    const conv = () => conv2d(small().zeros([1, 7, 7, 6]), small().zeros([2, 7, 3, 3]), undefined, { padding: 1 });
    expect(conv).toThrow(DeviceLimitError);
    expect(conv).toThrow(`(input [1, 7, 7, 6], weight [2, 7, 3, 3]; even one image's columns are too large)`);
  });
});

describe('im2col and col2im', () => {
  const win = (c: Cfg) => ({ kernel: [c.KH, c.KW] as const, stride: [c.sh, c.sw] as const, padding: [c.ph, c.pw] as const, dilation: [c.dh ?? 1, c.dw ?? 1] as const });

  it.each([
    ['as on a CPU adapter (whole rows per invocation)', cpuSplit],
    ['as on a GPU (rows in short spans)', gpuSplit],
  ] as const)('im2col lays out windows as documented, and its gradient (col2im) matches, work split %s', async (_, rt) => {
    const rng = new Rng(99);
    for (let t = 0; t < 12; t++) {
      const c = { ...randomCfg(rng), N: rng.pick([1, 2]), C: rng.pick([1, 3]), groups: 1 };
      const [OH, OW] = outHW(c);
      await checkOp(rt(), rng, {
        name: `im2col ${label(c)}`,
        shapes: [[c.N, c.C, c.H, c.W]],
        gpu: ([x]) => {
          const cols = im2col(x!, win(c));
          expect(cols.shape).toEqual([c.N, c.C * c.KH * c.KW, OH * OW]);
          return cols;
        },
        ref: ([x]) => refIm2col(c, x!),
        refGrad: (_, r) => [refCol2im(c, r)],
        tol: 1e-6,
      });
    }
  });

  it.each([
    ['as on a CPU adapter (whole rows per invocation)', cpuSplit],
    ['as on a GPU (rows in short spans)', gpuSplit],
  ] as const)('col2im is the adjoint of im2col, and its gradient (im2col) matches, work split %s', async (_, rt) => {
    const rng = new Rng(100);
    for (let t = 0; t < 12; t++) {
      const c = { ...randomCfg(rng), N: rng.pick([1, 2]), C: rng.pick([1, 2]), groups: 1 };
      const [OH, OW] = outHW(c);
      await checkOp(rt(), rng, {
        name: `col2im ${label(c)}`,
        shapes: [[c.N, c.C * c.KH * c.KW, OH * OW]],
        gpu: ([cols]) => col2im(cols!, c.H, c.W, win(c)),
        ref: ([cols]) => refCol2im(c, cols!),
        refGrad: (_, r) => [refIm2col(c, r)],
        tol: 1e-6,
      });
    }
  });

  it('im2col and col2im of a large image, whose rows a GPU splits into spans of several values (the last one short)', async () => {
    // 200×200 images: 640,000 values, so spans of 3 on a GPU's split (200 = 66·3 + 2).
    const c = { N: 2, C: 8, H: 200, W: 200, O: 1, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1, bias: false };
    const rng = new Rng(5);
    const x = rng.array(c.N * c.C * c.H * c.W);
    const cols = rng.array(c.N * c.C * 9 * c.H * c.W);
    for (const r of [cpuSplit(), gpuSplit()]) {
      expectClose(await im2col(r.tensor(f32(x), [c.N, c.C, c.H, c.W]), win(c)).read(), refIm2col(c, x), 1e-6, 'im2col');
      expectClose(await col2im(r.tensor(f32(cols), [c.N, c.C * 9, c.H * c.W]), c.H, c.W, win(c)).read(), refCol2im(c, cols), 1e-5, 'col2im');
    }
  });

  it('col2im rejects columns that do not fit the geometry; im2col and col2im a window that is no object', () => {
    const cols = rt().zeros([2, 9, 10]);
    expect(() => col2im(cols, 5, 5, { kernel: [3, 3], stride: [1, 1], padding: [0, 0] })).toThrow(/col2im: columns \[2, 9, 10\] f32 do not fit kernel \[3, 3\] over a 5×5 image/);
    expect(() => im2col(rt().zeros([1, 1, 2, 2]), { kernel: [3, 3], stride: [1, 1], padding: [0, 0] })).toThrow(ShapeError);
    // A window that is no object, named by the function called.
    for (const [w, got] of [[null, 'null'], [undefined, 'undefined'], [3, '3'], [[3, 3], 'an array']] as const) {
      expect(() => im2col(rt().zeros([1, 1, 4, 4]), w as never)).toThrow(new TypeError(`im2col: the window must be an object { kernel, stride, padding } (dilation and ceil optional), got ${got}`));
      expect(() => col2im(cols, 5, 5, w as never)).toThrow(new TypeError(`col2im: the window must be an object { kernel, stride, padding } (dilation and ceil optional), got ${got}`));
    }
  });
});

describe('one image [C, H, W], as PyTorch takes it', () => {
  it('convolutions and poolings give the batch of one’s result without its batch axis, with gradients', async () => {
    type Case = { name: string; shapes: number[][]; call: string; gpu: (xs: Tensor[]) => Tensor };
    const cases: Case[] = [
      { name: 'conv2d', shapes: [[3, 7, 6], [5, 3, 3, 2], [5]], call: 'F.conv2d(xs[0], xs[1], xs[2], 2, 1)', gpu: ([x, w, b]) => conv2d(x!, w!, b, { stride: 2, padding: 1 }) },
      { name: 'convTranspose2d', shapes: [[3, 4, 5], [3, 2, 3, 3]], call: 'F.conv_transpose2d(xs[0], xs[1], None, 2, 1)', gpu: ([x, w]) => convTranspose2d(x!, w!, undefined, { stride: 2, padding: 1 }) },
      { name: 'maxPool2d', shapes: [[2, 7, 5]], call: 'F.max_pool2d(xs[0], 2, 2, 1)', gpu: ([x]) => maxPool2d(x!, { kernelSize: 2, stride: 2, padding: 1 }) },
      { name: 'avgPool2d', shapes: [[2, 7, 5]], call: 'F.avg_pool2d(xs[0], 3, 2)', gpu: ([x]) => avgPool2d(x!, { kernelSize: 3, stride: 2 }) },
      { name: 'adaptiveMaxPool2d', shapes: [[3, 7, 5]], call: 'F.adaptive_max_pool2d(xs[0], (3, 2))', gpu: ([x]) => adaptiveMaxPool2d(x!, [3, 2]) },
      { name: 'adaptiveAvgPool2d', shapes: [[3, 7, 5]], call: 'F.adaptive_avg_pool2d(xs[0], (3, 2))', gpu: ([x]) => adaptiveAvgPool2d(x!, [3, 2]) },
    ];
    for (const c of cases) {
      await expectOpAsTorch(rt(), new Rng(31), [c], { shapes: (k) => k.shapes, call: c.call, gpu: (xs) => c.gpu(xs), label: (k) => k.name }, { values: 1e-5, grads: 1e-5 });
    }
    expect(() => conv2d(rt().zeros([2, 3]), rt().zeros([1, 1, 1, 1]))).toThrow(/^conv2d: the input must be \[N, C, H, W\], or one image \[C, H, W\]: input \[2, 3\]/);
    // A refusal names the image, not only the batch of one made of it.
    expect(() => conv2d(rt().zeros([3, 5, 5]), rt().zeros([4, 2, 3, 3]))).toThrow(/^conv2d: .*input \[1, 3, 5, 5\], weight \[4, 2, 3, 3\] \(the image \[3, 5, 5\] taken as a batch of one\)$/);
  });
});
