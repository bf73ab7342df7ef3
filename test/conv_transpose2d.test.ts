// convTranspose2d (matmul + col2im) against a float64 reference written as its definition
// scatters (test/references.ts): named and random geometries (odd sizes, stride 1–3, padding,
// output padding, dilation, groups, depthwise, batch 1), with central differences of the
// reference; against PyTorch's conv_transpose2d, values and gradients; as conv2d's adjoint;
// inside a compiled step; and its errors.
import { describe, expect, it } from 'vitest';
import { conv2d, convTranspose2d, grad, mul, sum, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectOpAsTorch, expectSameOutputs, expectShapeErrors, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { convTOutHW as outHW, convTShapes as shapesOf, refConvTranspose, refConvTransposeGrad, type ConvTCfg as Cfg } from './references.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

const both = (h: number, w: number) => (h === w ? h : ([h, w] as [number, number]));
const opts = (c: Cfg) => ({
  stride: both(c.sh, c.sw),
  padding: both(c.ph, c.pw),
  outputPadding: both(c.oph, c.opw),
  dilation: both(c.dh ?? 1, c.dw ?? 1),
  groups: c.groups ?? 1,
});
const label = (c: Cfg) =>
  `convTranspose2d x[${shapesOf(c)[0]}] w[${shapesOf(c)[1]}] stride ${c.sh},${c.sw} pad ${c.ph},${c.pw} out pad ${c.oph},${c.opw} dilation ${c.dh ?? 1},${c.dw ?? 1} groups ${c.groups ?? 1}${c.bias ? ' bias' : ''}`;

async function check(rng: Rng, c: Cfg, runtime = rt): Promise<void> {
  await checkOp(runtime(), rng, {
    name: label(c),
    shapes: shapesOf(c),
    gpu: ([x, w, b]) => {
      const y = convTranspose2d(x!, w!, b, opts(c));
      expect(y.shape).toEqual([c.N, c.O, ...outHW(c)]);
      return y;
    },
    ref: ([x, w, b]) => refConvTranspose(c, x!, w!, b),
    refGrad: ([x, w], r) => refConvTransposeGrad(c, x!, w!, r).slice(0, c.bias ? 3 : 2),
    tol: 1e-4,
  });
}

const base: Cfg = { N: 1, C: 1, H: 4, W: 4, O: 1, KH: 3, KW: 3, sh: 1, sw: 1, ph: 0, pw: 0, oph: 0, opw: 0, bias: true };
const NAMED: Cfg[] = [
  base,
  { ...base, N: 2, C: 3, H: 5, W: 7, O: 4, sh: 2, sw: 2, ph: 1, pw: 1, oph: 1, opw: 1 }, // the upsampling pair of a stride-2 "same" conv
  { ...base, N: 3, C: 5, H: 4, W: 3, O: 3, KH: 4, KW: 4, sh: 2, sw: 2, ph: 1, pw: 1 }, // DCGAN's 4×4, stride 2: doubles the size
  { ...base, N: 2, C: 2, H: 3, W: 5, O: 3, KH: 2, KW: 3, sh: 3, sw: 1, ph: 0, pw: 1, oph: 2, opw: 0, bias: false }, // stride 3, output padding 2
  { ...base, N: 2, C: 4, H: 5, W: 4, O: 6, groups: 2, sh: 2, sw: 2, ph: 1, pw: 0 }, // two groups
  { ...base, N: 1, C: 3, H: 6, W: 5, O: 3, groups: 3, sh: 2, sw: 1 }, // depthwise
  { ...base, N: 2, C: 2, H: 4, W: 5, O: 3, dh: 2, dw: 3, ph: 1, pw: 2 }, // dilated
  // Output padding not below the stride (allowed by a larger dilation): rows no input reaches,
  // and with padding, rows that it would have cut.
  { ...base, N: 2, C: 2, H: 3, W: 4, O: 2, dh: 3, dw: 2, oph: 2, opw: 1 },
  { ...base, N: 1, C: 3, H: 2, W: 5, O: 3, sh: 1, sw: 3, ph: 1, pw: 1, dh: 3, dw: 3, oph: 2, opw: 0 },
  { ...base, N: 2, C: 2, H: 4, W: 3, O: 2, ph: 3, pw: 2, dh: 4, dw: 3, oph: 3, opw: 2, bias: false },
  { ...base, N: 3, C: 4, H: 3, W: 5, O: 5, KH: 1, KW: 1 }, // 1×1: no col2im
  { ...base, N: 2, C: 2, H: 3, W: 3, O: 4, KH: 1, KW: 1, dh: 2, dw: 2, oph: 1, opw: 1, groups: 2 }, // 1×1 padded below and right
  { ...base, N: 1, C: 3, H: 1, W: 1, O: 2, KH: 3, KW: 2 }, // one pixel: the kernel itself
  { ...base, N: 2, C: 1, H: 6, W: 6, O: 2, KH: 5, KW: 5, ph: 2, pw: 2, sh: 1, sw: 1 }, // padding crops the full output
  // Padding that would leave no output but for the output padding: the rows it adds are there.
  { ...base, N: 1, C: 1, H: 1, W: 1, O: 1, KH: 1, KW: 2, sh: 1, sw: 2, ph: 0, pw: 1, oph: 0, opw: 1 },
  { ...base, N: 2, C: 2, H: 2, W: 1, O: 3, KH: 3, KW: 3, sh: 3, sw: 3, ph: 3, pw: 2, oph: 2, opw: 2 },
];

const KERNELS: [number, number][] = [[1, 1], [2, 2], [3, 3], [4, 4], [2, 3], [3, 1]];

function randomCfg(rng: Rng): Cfg {
  for (;;) {
    const [KH, KW] = rng.pick(KERNELS);
    const [sh, sw] = [rng.int(1, 3), rng.int(1, 3)];
    const [dh, dw] = rng.next() < 0.3 ? [rng.int(1, 3), rng.int(1, 3)] : [1, 1];
    const groups = rng.pick([1, 1, 2, 3]);
    const c: Cfg = {
      N: rng.pick([1, 2, 3]),
      C: groups * rng.pick([1, 2, 3]),
      H: rng.int(1, 7),
      W: rng.int(1, 7),
      O: groups * rng.pick([1, 2, 3]),
      KH,
      KW,
      sh,
      sw,
      ph: rng.int(0, 2),
      pw: rng.int(0, 2),
      oph: rng.int(0, Math.max(sh, dh) - 1),
      opw: rng.int(0, Math.max(sw, dw) - 1),
      dh,
      dw,
      groups,
      bias: rng.next() < 0.7,
    };
    const [OH, OW] = outHW(c);
    // Outputs that padding leaves, small enough for finite differences of the reference.
    if (OH >= 1 && OW >= 1 && c.N * c.O * OH * OW * c.C * KH * KW <= 60_000) return c;
  }
}

describe('convTranspose2d', () => {
  it.each([
    ["a CPU adapter's", cpuSplit],
    ["a GPU's", gpuSplit],
  ] as const)('matches a float64 scatter on named geometries, with gradients (%s kernels)', async (_, runtime) => {
    const rng = new Rng(11);
    for (const c of NAMED) await check(rng, c, runtime);
  });

  it('matches a float64 scatter on 30 random geometries, with gradients', async () => {
    const rng = new Rng(2026);
    for (let t = 0; t < 30; t++) await check(rng, randomCfg(rng));
  });

  it("matches PyTorch's conv_transpose2d, values and every gradient", async () => {
    const rng = new Rng(8);
    const cases: Cfg[] = [NAMED[1]!, NAMED[3]!, NAMED[4]!, NAMED[7]!, NAMED[8]!, NAMED[9]!, NAMED[14]!, NAMED[15]!];
    const call = "F.conv_transpose2d(xs[0], xs[1], xs[2] if len(xs) > 2 else None, (c['sh'], c['sw']), (c['ph'], c['pw']), (c['oph'], c['opw']), c.get('groups', 1), (c.get('dh', 1), c.get('dw', 1)))";
    await expectOpAsTorch(rt(), rng, cases, { shapes: shapesOf, call, gpu: ([x, w, b], c) => convTranspose2d(x!, w!, b, opts(c)), label }, { values: 1e-5, grads: 1e-4 });
  });

  it("is conv2d's adjoint: Σ convTranspose2d(y, w)·x = Σ y·conv2d(x, w), and its input gradient is conv2d", async () => {
    const rng = new Rng(4);
    const o = { stride: 2, padding: [1, 2] as [number, number], dilation: [2, 1] as [number, number], groups: 2 };
    const [xs, ws] = [rng.array(2 * 4 * 9 * 8), rng.array(6 * 2 * 3 * 3)];
    const x = rt().tensor(f32(xs), [2, 4, 9, 8]);
    const w = rt().tensor(f32(ws), [6, 2, 3, 3]);
    const y = conv2d(x, w, undefined, o);
    const ys = rt().tensor(f32(rng.array(y.size)), y.shape);
    // conv2d's output sizes come from 9×8 and from 10×8: the output padding says which.
    const back = convTranspose2d(ys, w, undefined, { ...o, outputPadding: [0, 1] });
    expect(back.shape).toEqual(x.shape);
    const [lhs, rhs] = await Promise.all([sum(mul(back, x)).item(), sum(mul(y, ys)).item()]);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(rhs)));
    const [dys] = grad(sum(mul(back, x)), [ys]);
    expectClose(await dys!.read(), await y.read(), 1e-5, 'the input gradient of the transpose');
  });

  it('runs inside a compiled step (a decoder: linear-free, conv then transposed conv) as it does eagerly', async () => {
    const rng = new Rng(40);
    const param = (shape: number[]) => rt().tensor(f32(rng.array(shape.reduce((a, b) => a * b, 1))), shape);
    const [w1, w2, b2] = [param([4, 1, 3, 3]), param([4, 2, 4, 4]), param([2])];
    const step = (x: Tensor) => {
      const y = convTranspose2d(conv2d(x, w1!, undefined, { stride: 2, padding: 1 }), w2!, b2!, { stride: 2, padding: 1 });
      const loss = sum(mul(y, y));
      const [g1, g2, gb] = grad(loss, [w1!, w2!, b2!]);
      return { y, g1: g1!, g2: g2!, gb: gb! };
    };
    const program = await rt().compile(({ x }) => step(x!), { x: [3, 1, 8, 8] });
    for (let run = 0; run < 2; run++) {
      const xs = f32(rng.array(3 * 64));
      const got = program.run({ x: xs });
      const want = step(rt().tensor(xs, [3, 1, 8, 8]));
      expect(got.y!.shape).toEqual([3, 2, 8, 8]);
      await expectSameOutputs(got, want, 1e-6, `compiled, run ${run}`);
    }
  });

  it('rejects bad shapes and options with a ShapeError naming convTranspose2d and the shapes, before any dispatch', () => {
    const x = rt().zeros([2, 4, 5, 5]);
    const w = rt().zeros([4, 3, 3, 3]);
    const before = rt().stats().dispatches;
    expect(convTranspose2d(x, w, rt().zeros([3]), { stride: 2, padding: 1, outputPadding: 1 }).shape).toEqual([2, 3, 10, 10]);
    expect(convTranspose2d(x, rt().zeros([4, 3, 3, 3]), rt().zeros([6]), { groups: 2 }).shape).toEqual([2, 6, 7, 7]);
    const cases: [() => unknown, RegExp][] = [
      [() => convTranspose2d(rt().zeros([5, 5]), w), /^convTranspose2d: the input must be \[N, C, H, W\], or one image \[C, H, W\]: input \[5, 5\], weight \[4, 3, 3, 3\]$/],
      [() => convTranspose2d(x, rt().zeros([4, 3, 3])), /^convTranspose2d: the weight must be \[C, O\/groups, KH, KW\]: /],
      [() => convTranspose2d(x, rt().zeros([3, 4, 3, 3])), /^convTranspose2d: input channels differ \(4 vs 3\): input \[2, 4, 5, 5\], weight \[3, 4, 3, 3\]$/],
      [() => convTranspose2d(x, w, rt().zeros([4])), /^convTranspose2d: the bias must be \[3\]: input \[2, 4, 5, 5\], weight \[4, 3, 3, 3\], bias \[4\]$/],
      [() => convTranspose2d(x, w, undefined, { groups: 3 }), /^convTranspose2d: 3 groups do not divide the 4 input channels: /],
      [() => convTranspose2d(x, w, undefined, { stride: 2, outputPadding: 2 }), /^convTranspose2d: outputPadding \[2, 2\] must be smaller than the stride \[2, 2\] or the dilation \[1, 1\]: /],
      [() => convTranspose2d(x, w, undefined, { outputPadding: [0, 1] }), /^convTranspose2d: outputPadding \[0, 1\] must be smaller than the stride \[1, 1\] or the dilation \[1, 1\]/],
      [() => convTranspose2d(x, w, undefined, { padding: 4 }), /^convTranspose2d: padding \[4, 4\] leaves no output of the 3×3 kernel over the 5×5 input at stride \[1, 1\]: /],
      [() => convTranspose2d(x, w, undefined, { dilation: 0 }), /^convTranspose2d: dilation must be an integer ≥ 1 or a pair of them, got 0: /],
      [() => convTranspose2d(x, w, undefined, { output_padding: 1 } as never), /^convTranspose2d: unknown option 'output_padding' \(it takes stride, padding, outputPadding, dilation, groups\): /],
      [() => convTranspose2d(rt().zeros([2, 4, 5, 5], 'i32'), w), /^convTranspose2d: needs f32 tensors, got input i32, weight f32: /],
    ];
    expectShapeErrors(cases);
    expect(() => convTranspose2d(x, w, { stride: 2 } as never)).toThrow(/^convTranspose2d: b must be a Tensor or undefined, got an object; options come fourth/);
    expect(() => convTranspose2d(x, [1] as never)).toThrow(TypeError);
    expect(rt().stats().dispatches).toBe(before);
  });
});
