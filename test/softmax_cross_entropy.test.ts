// softmaxCrossEntropy (mean over the batch, integer labels) and its gradient primitive against
// a float64 reference computed stably: random batch and class counts (including batches past
// the forward kernel's workgroup), huge logits, every class as a label, out-of-range labels,
// ignored labels (against PyTorch's values too).
import { describe, expect, it } from 'vitest';
import { grad, mul, scale, ShapeError, softmaxCrossEntropy, softmaxCrossEntropyBackward, sum } from '../src/index.js';
import { checkOp, expectClose, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';
import { refXent as refLoss, refXentGrad as refGrad } from './references.js';

const rt = useRuntime();

function randomLabels(rng: Rng, B: number, C: number): Int32Array {
  return Int32Array.from({ length: B }, () => rng.int(0, C - 1));
}

async function checkXent(rng: Rng, B: number, C: number, labels = randomLabels(rng, B, C), range: [number, number] = [-3, 3], ignoreIndex?: number, labelSmoothing = 0) {
  const lt = rt().tensor(labels, [B]);
  const opts = { ...(ignoreIndex === undefined ? {} : { ignoreIndex }), ...(labelSmoothing ? { labelSmoothing } : {}) };
  await checkOp(rt(), rng, {
    name: `softmaxCrossEntropy [${B}, ${C}] logits in ${range}${ignoreIndex === undefined ? '' : `, ignoring ${ignoreIndex}`}${labelSmoothing ? `, smoothing ${labelSmoothing}` : ''}`,
    shapes: [[B, C]],
    range,
    gpu: ([x]) => softmaxCrossEntropy(x!, lt, opts),
    ref: ([x]) => refLoss(x!, labels, C, ignoreIndex, labelSmoothing),
    refGrad: ([x], r) => [refGrad(x!, labels, C, r[0]!, ignoreIndex, labelSmoothing)],
    tol: 1e-5,
  });
}

describe('softmaxCrossEntropy', () => {
  it('matches float64 on random batch and class counts, with gradients', async () => {
    const rng = new Rng(10);
    // Batches 1, odd, and past the forward kernel's 64 invocations; classes 1 to 33.
    const sizes: [number, number][] = [[1, 1], [1, 10], [3, 2], [7, 5], [50, 10], [64, 3], [65, 10], [130, 7], [9, 33], [200, 4]];
    for (const [B, C] of sizes) await checkXent(rng, B, C);
    for (let t = 0; t < 20; t++) await checkXent(rng, rng.int(1, 150), rng.int(1, 40));
  });

  it("matches float64 on the seed CNN's logits [50, 10], every class a label", async () => {
    const rng = new Rng(11);
    const labels = Int32Array.from({ length: 50 }, (_, b) => b % 10);
    await checkXent(rng, 50, 10, labels);
    await checkXent(rng, 10, 10, Int32Array.from({ length: 10 }, (_, b) => 9 - b), [-10, 10]);
  });

  it('stays finite and exact with huge logits (±1e4)', async () => {
    const rng = new Rng(12);
    // Also rows shared by teams of 32 and 256 invocations (each member's maximum combined).
    for (const [B, C] of [[4, 10], [50, 10], [7, 3], [3, 1000], [2, 9000]] as const) {
      const xs = rng.array(B * C, -1e4, 1e4);
      // Labels at each row's smallest logit: a loss near 2e4 that a naive exp would lose.
      const labels = Int32Array.from({ length: B }, (_, b) => {
        let at = 0;
        for (let j = 1; j < C; j++) if (xs[b * C + j]! < xs[b * C + at]!) at = j;
        return at;
      });
      const x = rt().tensor(f32(xs), [B, C]);
      const loss = softmaxCrossEntropy(x, rt().tensor(labels, [B]));
      const got = await loss.read();
      expect(Number.isFinite(got[0]!)).toBe(true);
      expect(got[0]!).toBeGreaterThan(1e3);
      expectClose(got, refLoss(xs, labels, C), 1e-6, `huge logits [${B}, ${C}] loss`);
      const [dx] = grad(loss, [x]);
      expectClose(await dx!.read(), refGrad(xs, labels, C, 1), 1e-5, `huge logits [${B}, ${C}] gradient`);
    }
    // All logits equal and huge: log C.
    const same = rt().tensor(f32(new Array(12).fill(1e4)), [3, 4]);
    expectClose(await softmaxCrossEntropy(same, rt().tensor(Int32Array.of(0, 1, 3), [3])).read(), [Math.log(4)], 1e-6, 'equal huge logits');
  });

  it('keeps f32 precision over a batch of a million rows and a row of a million classes', async () => {
    // Each of the forward kernel's 64 invocations adds up 15,625 losses here: a plain running
    // sum gave ln 2 · (1 + 1.8e-4). The wide row: a team of 256, each member 3,900 classes.
    const B = 1_000_000;
    const loss = await softmaxCrossEntropy(rt().zeros([B, 2]), rt().tensor(new Int32Array(B), [B])).item();
    expect(Math.abs(loss - Math.LN2) / Math.LN2).toBeLessThan(1e-6);
    const C = 1_000_000;
    const rng = new Rng(12);
    const xs = rng.array(C, -2, 0);
    const wide = await softmaxCrossEntropy(rt().tensor(f32(xs), [1, C]), rt().tensor(Int32Array.from([0]), [1])).item();
    expectClose([wide], refLoss(xs, Int32Array.from([0]), C), 1e-6, 'one row of 1e6 classes');
  });

  it('shares wide rows among a team of invocations: classes 33 to 9,000, ignored rows and a bad label among them', async () => {
    // Teams (lineTeam): 2 invocations a row at 33 classes, 4 at 100, 8 at 200, 32 at 1,000, 256
    // at 9,000; the forward kernel's one workgroup takes WG / team rows at a time, so batches of
    // 37 and 9 leave some teams without a row in the last round.
    const rng = new Rng(16);
    for (const [B, C] of [[5, 33], [9, 100], [37, 200], [3, 1000]] as const) {
      const labels = randomLabels(rng, B, C);
      await checkXent(rng, B, C, labels);
      labels[B - 1] = -100;
      await checkXent(rng, B, C, labels, [-10, 10]);
    }
    // (Sizes where the reference's own finite differences, step 1e-6, still resolve its entries.)
    for (let t = 0; t < 6; t++) await checkXent(rng, rng.int(1, 3), rng.int(33, 1000));
    // At 9,000 classes the reference's own finite-difference check is too coarse (4.7e-6): the
    // reference alone (checked above).
    const xs = rng.array(2 * 9000, -10, 10);
    const labels = Int32Array.of(8999, 4);
    const wide = rt().tensor(f32(xs), [2, 9000]);
    const wideLoss = softmaxCrossEntropy(wide, rt().tensor(labels, [2]));
    expectClose(await wideLoss.read(), refLoss(xs, labels, 9000), 1e-6, 'loss of [2, 9000]');
    expectClose(await grad(wideLoss, [wide])[0]!.read(), refGrad(xs, labels, 9000, 1), 1e-5, 'gradient of [2, 9000]');
    const [B, C] = [6, 1000];
    const x = rt().tensor(f32(rng.array(B * C)), [B, C]);
    const loss = softmaxCrossEntropy(x, rt().tensor(Int32Array.of(3, 999, -100, 1000, 0, 500), [B]));
    expect(Number.isNaN(await loss.item())).toBe(true);
    const dx = await grad(loss, [x])[0]!.read();
    const row = (b: number) => Array.from(dx.subarray(b * C, (b + 1) * C));
    expect(row(3).every(Number.isNaN)).toBe(true);
    expect(row(2).every((v) => v === 0)).toBe(true);
    for (const b of [0, 1, 4, 5]) expect(row(b).every(Number.isFinite), `row ${b}`).toBe(true);
  });

  it('reads the upstream gradient on the GPU (a lazy g from another op)', async () => {
    const rng = new Rng(13);
    const [B, C] = [6, 5];
    const xs = rng.array(B * C);
    const labels = randomLabels(rng, B, C);
    const x = rt().tensor(f32(xs), [B, C]);
    const loss = scale(softmaxCrossEntropy(x, rt().tensor(labels, [B])), -2.5);
    const [dx] = grad(loss, [x]);
    expectClose(await dx!.read(), refGrad(xs, labels, C, -2.5), 1e-6, 'scaled loss gradient');
  });

  it('gives labels no gradient: the rule returns null for them', () => {
    const x = rt().zeros([2, 3]);
    const labels = rt().tensor(Int32Array.of(0, 2), [2]);
    const loss = softmaxCrossEntropy(x, labels);
    const rule = loss.op!.def.backward;
    if (typeof rule !== 'function') throw new Error('softmaxCrossEntropy must be differentiable');
    const gs = rule(rt().ones([]), { inputs: [x, labels], out: loss, attrs: {}, needs: [true, true] });
    expect(gs[0]).not.toBeNull();
    expect(gs[1]).toBeNull();
  });

  it('makes the loss of a row with an out-of-range label NaN (it cannot throw on the GPU)', async () => {
    const rng = new Rng(14);
    const [B, C] = [4, 3];
    const xs = rng.array(B * C);
    for (const bad of [-1, 3, 1000]) {
      const x = rt().tensor(f32(xs), [B, C]);
      const loss = softmaxCrossEntropy(x, rt().tensor(Int32Array.of(0, bad, 2, 1), [B]));
      expect(Number.isNaN((await loss.read())[0]!), `label ${bad}`).toBe(true);
      const dx = await grad(loss, [x])[0]!.read();
      for (let j = 0; j < C; j++) {
        expect(Number.isNaN(dx[C + j]!), `row 1 gradient, label ${bad}`).toBe(true);
        expect(Number.isFinite(dx[j]!) && Number.isFinite(dx[2 * C + j]!)).toBe(true);
      }
    }
  });

  it("leaves out rows labelled ignoreIndex (-100 by default), in the mean too, as PyTorch's cross_entropy", async () => {
    // torch.nn.functional.cross_entropy in float64 (torch 1.13), labels [2, -100, 0], and the
    // same logits with labels [2, 1, 0] and ignore_index=1.
    const xs = [1, 2, 3, 0.5, -1, 2, 3, 0, 1];
    const torchLoss = 0.28872599200033294;
    const torchGrad = [0.04501528658519022, 0.12236423552739882, -0.1673795221125891, 0, 0, 0, -0.07810263275933021, 0.021005033067033024, 0.05709759969229724];
    for (const [labels, opts] of [[[2, -100, 0], {}], [[2, 1, 0], { ignoreIndex: 1 }]] as const) {
      const x = rt().tensor(f32(xs), [3, 3]);
      const loss = softmaxCrossEntropy(x, rt().tensor(Int32Array.from(labels), [3]), opts);
      expectClose(await loss.read(), [torchLoss], 1e-6, `loss, labels ${labels}`);
      expectClose(await grad(loss, [x])[0]!.read(), torchGrad, 1e-6, `gradient, labels ${labels}`);
    }
    // Random batches, past one workgroup of rows (each counts the kept rows itself).
    const rng = new Rng(15);
    for (const [B, C] of [[1, 3], [7, 5], [65, 10], [130, 4]] as const) {
      const labels = randomLabels(rng, B, C).map((l) => (rng.uniform() < 0.3 ? -100 : l));
      labels[0] = B > 1 ? -100 : 0;
      await checkXent(rng, B, C, labels);
      await checkXent(rng, B, C, labels.map((l) => (l === -100 ? 1 : l)), [-3, 3], 1);
    }
    // Every row ignored: 0/0, a NaN loss as in PyTorch, and a zero gradient, whose own gradient
    // is zero too (PyTorch's; not 0·(g/0)), with label smoothing as without.
    for (const labelSmoothing of [0, 0.1]) {
      const x = rt().tensor(f32([1, 2, 3, 4]), [2, 2]);
      const loss = softmaxCrossEntropy(x, rt().tensor(Int32Array.of(-100, -100), [2]), { labelSmoothing });
      expect(Number.isNaN((await loss.read())[0]!)).toBe(true);
      const [g] = grad(loss, [x]);
      expect(Array.from(await g!.read())).toEqual([0, 0, 0, 0]);
      expect(Array.from(await grad(sum(mul(g!, x)), [x])[0]!.read())).toEqual([0, 0, 0, 0]);
    }
  });

  it("smooths labels as PyTorch's label_smoothing, with ignored rows, wide rows shared by teams, and huge logits", async () => {
    // torch.nn.functional.cross_entropy(x, [2, -100, 0], label_smoothing=0.2) in float64 (torch 1.13).
    const torch = torchJson<{ loss: number; grad: number[] }>(`import json, torch
x = torch.tensor([1, 2, 3, 0.5, -1, 2, 3, 0, 1], dtype=torch.float64).reshape(3, 3).requires_grad_()
loss = torch.nn.functional.cross_entropy(x, torch.tensor([2, -100, 0]), label_smoothing=0.2)
loss.backward()
print(json.dumps({"loss": loss.item(), "grad": x.grad.flatten().tolist()}))`);
    const x = rt().tensor(f32([1, 2, 3, 0.5, -1, 2, 3, 0, 1]), [3, 3]);
    const loss = softmaxCrossEntropy(x, rt().tensor(Int32Array.of(2, -100, 0), [3]), { labelSmoothing: 0.2 });
    expectClose(await loss.read(), [torch.loss], 1e-6, 'smoothed loss');
    expectClose(await grad(loss, [x])[0]!.read(), torch.grad, 1e-6, 'smoothed gradient');
    const rng = new Rng(33);
    for (const [B, C, smoothing] of [[1, 1, 0.5], [7, 5, 0.1], [65, 10, 1], [3, 300, 0.3]] as const) {
      const labels = randomLabels(rng, B, C).map((l, b) => (b === 1 ? -100 : l));
      await checkXent(rng, B, C, labels, [-3, 3], undefined, smoothing);
    }
    // Huge logits: the gaps to the maximum are summed, not the logits, so nothing cancels.
    const big = Float64Array.from({ length: 40 }, (_, i) => Math.fround((i % 7) * 3e3 - 1e4));
    const labels = Int32Array.from({ length: 4 }, (_, b) => (3 * b + 1) % 10);
    const got = await softmaxCrossEntropy(rt().tensor(f32(big), [4, 10]), rt().tensor(labels, [4]), { labelSmoothing: 0.1 }).read();
    expectClose(got, refLoss(big, labels, 10, -100, 0.1), 1e-6, 'smoothed loss of huge logits');
  });

  it('refuses options it lacks and an ignoreIndex that is not an i32', () => {
    const x = rt().zeros([2, 3]);
    const labels = rt().tensor(Int32Array.of(0, 1), [2]);
    expect(() => softmaxCrossEntropy(x, labels, { reduction: 'sum' } as never)).toThrow(/softmaxCrossEntropy: unknown option 'reduction' \(it takes ignoreIndex, labelSmoothing\)/);
    expect(() => softmaxCrossEntropy(x, labels, { labelSmoothing: 1.5 })).toThrow('softmaxCrossEntropy: labelSmoothing must be a number in [0, 1], got 1.5 (logits [2, 3], labels [2])');
    expect(() => softmaxCrossEntropy(x, labels, { ignoreIndex: 0.5 })).toThrow(/softmaxCrossEntropy: ignoreIndex must be an i32 integer, got 0.5 \(logits \[2, 3\], labels \[2\]\)/);
    expect(() => softmaxCrossEntropy(x, labels, { ignoreIndex: 2 ** 31 })).toThrow(ShapeError);
  });

  it('softmaxCrossEntropyBackward is the gradient as a primitive', async () => {
    const x = rt().tensor(f32([1, 2, 3, 0, 0, 0]), [2, 3]);
    const labels = rt().tensor(Int32Array.of(2, 0), [2]);
    const dx = softmaxCrossEntropyBackward(x, labels, rt().tensor(f32([2]), []));
    expectClose(await dx.read(), refGrad(Float64Array.of(1, 2, 3, 0, 0, 0), Int32Array.of(2, 0), 3, 2), 1e-6, 'backward primitive');
  });

  it("has second derivatives, as PyTorch's with create_graph: in the logits and in the loss's gradient g", async () => {
    // f = Σ v·∂(w·loss)/∂x, differentiated in x and in w (which reaches the gradient as g = w).
    // Rows ignored, one class only, rows shared by teams of 4; worst seen 3.0e-7.
    const rng = new Rng(17);
    for (const [B, C, smoothing] of [[5, 4, 0], [3, 1, 0], [4, 100, 0], [5, 4, 0.15]] as const) {
      const xs = rng.array(B * C, -3, 3);
      const labels = randomLabels(rng, B, C);
      if (B > 3) labels[1] = -100;
      const v = rng.array(B * C);
      const torch = torchJson<{ hx: number[]; hw: number }>(`
import json, sys, torch
d = json.load(sys.stdin)
x = torch.tensor(d['x'], dtype=torch.float32).reshape(${B}, ${C}).requires_grad_()
w = torch.tensor(1.7, requires_grad=True)
loss = torch.nn.functional.cross_entropy(x, torch.tensor(d['labels']), ignore_index=-100, label_smoothing=${smoothing}) * w
g, = torch.autograd.grad(loss, x, create_graph=True)
hx, hw = torch.autograd.grad((g * torch.tensor(d['v'], dtype=torch.float32).reshape(${B}, ${C})).sum(), [x, w])
print(json.dumps({'hx': hx.flatten().tolist(), 'hw': hw.item()}))`, JSON.stringify({ x: Array.from(f32(xs)), labels: Array.from(labels), v: Array.from(f32(v)) }));
      const x = rt().tensor(f32(xs), [B, C]);
      const w = rt().tensor(1.7);
      const [g] = grad(mul(softmaxCrossEntropy(x, rt().tensor(labels, [B]), { labelSmoothing: smoothing }), w), [x]);
      const [hx, hw] = grad(sum(mul(g!, rt().tensor(f32(v), [B, C]))), [x, w]);
      expectClose(await hx!.read(), torch.hx, 1e-5, `∂²/∂x², [${B}, ${C}], smoothing ${smoothing}`);
      expectClose(await hw!.read(), [torch.hw], 1e-5, `∂²/∂x∂w, [${B}, ${C}], smoothing ${smoothing}`);
    }
  });

  it('rejects bad shapes and dtypes before any dispatch', () => {
    const x = rt().zeros([4, 3]);
    const before = rt().stats().dispatches;
    const cases: [() => unknown, RegExp][] = [
      [() => softmaxCrossEntropy(x, rt().zeros([4])), /softmaxCrossEntropy: labels must be i32 \[4\] for logits \[4, 3\], got \[4\] f32/],
      [() => softmaxCrossEntropy(x, rt().tensor(Int32Array.of(0, 1, 2), [3])), /labels must be i32 \[4\] for logits \[4, 3\], got \[3\] i32/],
      [() => softmaxCrossEntropy(rt().zeros([12]), rt().zeros([12], 'i32')), /softmaxCrossEntropy: logits must be f32 \[B, C\] with C ≥ 1, got \[12\] f32/],
      [() => softmaxCrossEntropy(rt().zeros([4, 0]), rt().zeros([4], 'i32')), /logits must be f32 \[B, C\] with C ≥ 1, got \[4, 0\]/],
      [() => softmaxCrossEntropyBackward(x, rt().zeros([4], 'i32'), rt().zeros([2])), /softmaxCrossEntropyBackward: g must be one f32 value/],
    ];
    expectShapeErrors(cases);
    expect(rt().stats().dispatches).toBe(before);
  });
});
