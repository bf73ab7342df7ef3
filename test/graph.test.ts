// Edge cases of the lazy graph, its planner and autograd: a fused ReLU that is itself an output,
// a view recorded before its base was realised, gradients after an in-place update, integer
// values on the way to the output, a bound input disposed, a constant returned by a program,
// and detach(). Values are checked against plain JavaScript arithmetic.
import { describe, expect, it } from 'vitest';
import { add, argmax, backward, createRuntime, defineOp, exp, gather, grad, linear, matmul, Model, mul, relu, scale, SGD, ShapeError, sum, TensorStateError, type Tensor } from '../src/index.js';
import { collectGarbage, expectClose, f32, Rng, useRuntime } from './helpers.js';

const rt = useRuntime();

/** relu(x·wᵀ) for row-major x [n, k] and w [m, k], in float64. */
function reluLinear(x: Float64Array, w: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += x[i * k + l]! * w[j * k + l]!;
      out[i * m + j] = Math.max(0, s);
    }
  return out;
}

describe('planning', () => {
  it('a fused ReLU returned as an output keeps its buffer while later ops run', async () => {
    const rng = new Rng(21);
    const [xs, w1s, w2s] = [rng.array(2 * 4), rng.array(8 * 4), rng.array(3 * 8)];
    const w1 = rt().tensor(f32(w1s), [8, 4]);
    const w2 = rt().tensor(f32(w2s), [3, 8]);
    const build = (x: Parameters<typeof linear>[0]) => {
      const h = relu(linear(x, w1));
      const z = linear(h, w2);
      return { h, s: mul(add(z, z), add(z, z)) };
    };
    const expected = reluLinear(xs, w1s, 2, 4, 8);
    const p = await rt().compile(({ x }) => build(x!), { x: [2, 4] });
    expectClose(await p.run({ x: f32(xs) }).h!.read(), expected, 1e-5, 'compiled h');
    // Eagerly too: both targets of one realisation.
    const { h, s } = build(rt().tensor(f32(xs), [2, 4]));
    await rt().realize([h, s]);
    expectClose(await h.read(), expected, 1e-5, 'eager h');
  });

  it('a view recorded before its base was realised reads after it', async () => {
    const acts = Model.create(rt()).activations(rt().zeros([1, 1, 28, 28]));
    for (const a of acts) await a.tensor.read();
    const flat = acts.find((a) => a.type === 'flatten')!;
    expect(Array.from(await flat.tensor.read())).toEqual(Array.from(await acts[acts.indexOf(flat) - 1]!.tensor.read()));
  });

  it('a constant made while tracing (the gradient of an unused parameter) stays valid as an output', async () => {
    const w = rt().tensor([1, 2, 3]);
    const unused = rt().tensor([4, 5]);
    let p = await rt().compile(({ x }) => {
      const [gw, gu] = grad(sum(mul(x!, w)), [w, unused]);
      return { gw: gw!, gu: gu! };
    }, { x: [3] });
    const out = p.run({ x: f32([7, 8, 9]) });
    await rt().sync();
    // The program goes; its outputs stay readable (it can never run again).
    p = undefined as never;
    await collectGarbage();
    expect(Array.from(await out.gw!.read())).toEqual([7, 8, 9]);
    expect(Array.from(await out.gu!.read())).toEqual([0, 0]);
  });

  it('a program reads a tensor from outside its function at every run: a realised one from its buffer, a lazy one computed from what it comes from', async () => {
    const w = rt().tensor([5, 6]);
    const lazy = mul(w, 2);
    const realised = await rt().tensor([1, 2]).realize();
    const p = await rt().compile(({ x }) => ({ a: mul(x!, lazy), b: mul(x!, realised) }), { x: [2] });
    const run = async () => Promise.all(Object.values(p.run({ x: [1, 1] })).map(async (t) => Array.from(await t.read())));
    expect(await run()).toEqual([[10, 12], [1, 2]]);
    w.write([1, 1]);
    realised.write([3, 4]);
    expect(await run()).toEqual([[2, 2], [3, 4]]);
  });

  it('a program refuses an input bound earlier whose tensor was disposed since', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [64] });
    const t = rt().full([64], 1);
    expect(Array.from(await p.run({ x: t }).y!.read())[0]).toBe(2);
    t.dispose();
    const other = rt().full([64], 9); // may take the freed buffer
    expect(() => p.run()).toThrow(/input 'x' is still bound to a tensor that was disposed since/);
    expect(Array.from(await p.run({ x: other }).y!.read())[0]).toBe(18);
  });
});

describe('autograd', () => {
  it('refuses a gradient through an op whose input was updated in place since', async () => {
    const x = rt().tensor([1, 2], [1, 2]);
    const w = rt().ones([2, 2]);
    const y = linear(x, w);
    await y.read();
    await new SGD([w], { lr: 1 }).step([rt().ones([2, 2])]);
    expect(() => grad(sum(mul(y, y)), [x])).toThrow(TensorStateError);
    expect(() => grad(sum(mul(y, y)), [x])).toThrow(/grad: matmul read .* before it was updated in place/);
  });

  it('refuses a gradient through an op whose own output was updated in place since (its rule reads it)', async () => {
    const x = rt().tensor([1, 2]);
    const y = exp(x);
    await y.realize();
    y.write([5, 6]); // exp's gradient is g·y: with these values it would be [5, 6], silently
    expect(() => grad(sum(y), [x])).toThrow(/grad: exp output .* was updated in place after exp computed it/);
    // Through a view of it too; and not for a view made while an update of its base is queued.
    const z = exp(x);
    await z.realize();
    z.reshape(2, 1).write([[5], [6]]);
    expect(() => grad(sum(z), [x])).toThrow(/was updated in place after exp computed it/);
    // A rule that does not read the output (add's) takes no offence, as in PyTorch.
    const x2 = rt().tensor([1, 2], { requiresGrad: true });
    const sum2 = add(x2, 1);
    await sum2.realize();
    sum2.write([5, 6]);
    expect(Array.from(await grad(sum(sum2), [x2])[0]!.read())).toEqual([1, 1]);
    const w = rt().tensor([1, 2]);
    const step = new SGD([w], { lr: 1 }).step([rt().tensor([1, 1])]);
    const [gw] = grad(sum(mul(w.reshape(2, 1), w.reshape(2, 1))), [w]);
    await step;
    expect(Array.from(await gw!.read())).toEqual([0, 2]); // 2·w after the step, w = [0, 1]
  });

  it('integer values (argmax, indices) carry no gradient and block none', async () => {
    const x = rt().tensor([1, 5, 2, 9, 3, 4], [2, 3]);
    const table = rt().tensor([10, 20, 30], [3, 1]);
    const picked = gather(table, argmax(x, 1)).reshape(2, 1); // [[20], [10]]
    const [gx] = grad(sum(mul(x, picked)), [x]);
    expect(Array.from(await gx!.read())).toEqual([20, 20, 20, 10, 10, 10]);
    expect(() => grad(sum(x), [argmax(x, 1)])).toThrow(/grad: only f32 tensors have gradients; .* is i32/);
  });

  it('detach() shares the values and stops gradients', async () => {
    const x = rt().tensor([1, 2, 3]);
    const y = mul(x, x);
    await y.realize();
    const d = y.detach();
    expect(d.buffer).toBe(y.buffer);
    expect(d.op).toBeUndefined();
    const [g] = grad(sum(mul(d, x)), [x]);
    expect(Array.from(await g!.read())).toEqual([1, 4, 9]); // d is a constant: d·x → d
  });

  it('detach() of a lazy value is lazy too, stops gradients, and once computed keeps no history', async () => {
    const x = rt().tensor([1, 2, 3]);
    const d = mul(x, x).detach();
    expect(d.storage).toBeUndefined();
    const [g] = grad(sum(mul(d, x)), [x]);
    expect(Array.from(await g!.read())).toEqual([1, 4, 9]); // d·x → d, not 3x²
    expect(() => grad(sum(d), [x])).toThrow(/was not computed from/); // as PyTorch's "not used in the graph"
    // backward() sets .grad of what the loss is computed from, not of what was detached.
    const p = rt().tensor([1, 2], { requiresGrad: true });
    const q = rt().tensor([3, 4], { requiresGrad: true });
    backward(sum(mul(mul(p, 2).detach(), q)));
    expect(p.grad).toBeUndefined();
    expect(Array.from(await q.grad!.read())).toEqual([2, 4]);
    expect(Array.from(await d.read())).toEqual([1, 4, 9]);
    expect(d.op).toBeUndefined(); // computed: what it came from can go
    // An eager loop carrying a detached value: each step's value only, not a growing chain.
    let v = rt().zeros([1024]);
    const before = rt().stats().inUseBytes;
    for (let i = 0; i < 20; i++) {
      v = add(v, 1).detach();
      await v.read();
    }
    expect((await v.read())[1023]).toBe(20);
    expect(v.op).toBeUndefined();
    await collectGarbage();
    expect(rt().stats().inUseBytes - before).toBeLessThan(4 * 4096); // not 20 steps' 4 kB buffers held
  });

  it('refuses a result whose input, lazy when recorded, was updated in place after it was realised', async () => {
    const q = mul(rt().tensor([1, 2, 3]), rt().tensor([1, 2, 3])); // lazy
    const v = rt().tensor([1, 1, 1]);
    const y = sum(mul(q, v)); // recorded while q was lazy
    await q.realize();
    await new SGD([q], { lr: 1 }).step([rt().tensor([5, 5, 5])]);
    await expect(y.read()).rejects.toThrow(/^read: mul read .* before it was updated in place/);
    expect(() => grad(y, [v])).toThrow(/grad: mul read .* before it was updated in place/);
  });

  it('second derivatives through ReLU and through a batch-summing matmul, as PyTorch computes them', async () => {
    // gx = w·[x > 0]; d/dw Σ gx² = 2·w·[x > 0]; d/dx of anything through the mask is 0.
    const x = rt().tensor([1, -2, 3]);
    const w = rt().tensor([2, 3, 4]);
    const [gx] = grad(sum(mul(relu(x), w)), [x]);
    const [gw, gxx] = grad(sum(mul(gx!, gx!)), [w, x]);
    expect(Array.from(await gw!.read())).toEqual([4, 0, 8]);
    expect(Array.from(await gxx!.read())).toEqual([0, 0, 0]);
    // A cotangent that does not vanish where the mask does: d/dw Σ v·gx = v·[x > 0].
    const [gvw] = grad(sum(mul(gx!, rt().tensor([1, 10, 100]))), [w]);
    expect(Array.from(await gvw!.read())).toEqual([1, 0, 100]);
    // c = Σₙ aₙ·bₙ (a weight gradient's form); ga = r·bₙᵀ; d/dbₙ Σ ga² = 2·bₙ·(rᵀr).
    const rng = new Rng(5);
    const [A, B, R] = [rng.array(8 * 3 * 4), rng.array(8 * 4 * 2), rng.array(3 * 2)];
    const a = rt().tensor(f32(A), [8, 3, 4]);
    const b = rt().tensor(f32(B), [8, 4, 2]);
    const [ga] = grad(sum(mul(matmul(a, b, { sumBatch: true }), rt().tensor(f32(R), [3, 2]))), [a]);
    const [gb] = grad(sum(mul(ga!, ga!)), [b]);
    const rtr = [0, 0, 0, 0]; // rᵀr, 2×2
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) rtr[i * 2 + j]! += R[k * 2 + i]! * R[k * 2 + j]!;
    const want = new Float64Array(8 * 4 * 2);
    for (let n = 0; n < 8; n++) for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) want[n * 8 + i * 2 + j]! += 2 * B[n * 8 + i * 2 + k]! * rtr[k * 2 + j]!;
    expectClose(await gb!.read(), want, 1e-5, 'second derivative through a batch-summing matmul');
  });

  it("refuses a gradient rule's result that does not have its input's shape (it would broadcast when added)", () => {
    const wrong = defineOp<object>({
      name: 'wrong_grad',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: () => undefined,
      backward: (g) => [sum(g, [1])], // [2] for a [2, 3] input
    });
    const x = rt().zeros([2, 3]);
    expect(() => grad(sum(rt().record(wrong, [x], {})), [x])).toThrow(ShapeError);
    expect(() => grad(sum(rt().record(wrong, [x], {})), [x])).toThrow(/grad of wrong_grad: the gradient of input 0 is \[2\], but the input is \[2, 3\]/);
  });

  it('a tensor without recorded ops has nothing to differentiate, and a seed must have the output\'s shape', async () => {
    const p = rt().tensor([1, 2, 3], [3], { name: 'p' });
    const step = await rt().compile(() => ({ loss: sum(mul(p, p)) }));
    const { loss } = step.run();
    expect(() => grad(loss!, [p])).toThrow(/grad: program output 'loss' \[\] f32 has no recorded ops to differentiate/);
    const y = mul(rt().tensor([1, 2, 3, 4, 5, 6], [2, 3]), p);
    expect(() => grad(y, [p], rt().ones([3, 2]))).toThrow(/grad: seed \[3, 2\] f32 does not match output \[2, 3\] f32/);
    expect(Array.from(await grad(y, [p], rt().ones([2, 3]))[0]!.read())).toEqual([5, 7, 9]);
  });

  it('refuses, as PyTorch does, a gradient with respect to tensors the output was not computed from', async () => {
    // A loss computed eagerly from a compiled forward pass: its history stops at the program.
    const w = rt().tensor([1, 2, 3], [3], { name: 'w' });
    const forward = await rt().compile(({ x }) => ({ y: mul(x!, w) }), { x: [3] });
    const loss = sum(forward.run({ x: f32([1, 1, 1]) }).y!);
    expect(() => grad(loss, [w])).toThrow(TensorStateError);
    expect(() => grad(loss, [w])).toThrow(/^grad: sum output \[\] f32 was not computed from \S*w\S* \[3\] f32 \(a program's output, a detached or uploaded tensor, a comparison's mask carries no history\)/);
    const v = rt().tensor([4, 5]);
    expect(() => grad(sum(mul(w, w)), [v, rt().zeros([1])])).toThrow(/was not computed from any of the 2 tensors asked for/);
    // One of them is enough: the others get zeros.
    expect(Array.from(await grad(sum(mul(w, w)), [w, v])[1]!.read())).toEqual([0, 0]);
  });

  it('a gradient rule must answer for every input; defineOp checks its definition', () => {
    const short = defineOp({ name: 'short_grad', infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }), encode: () => undefined, backward: () => [] });
    const x = rt().zeros([3]);
    expect(() => grad(sum(rt().record(short, [x], {})), [x])).toThrow(/^grad of short_grad: its gradient rule must return a gradient \(or null\) for each of its 1 inputs; it returned 0$/);
    expect(() => defineOp({ name: 'no_rule', infer: ([x]: readonly Tensor[]) => ({ shape: x!.shape, dtype: 'f32' }) } as never)).toThrow(/^defineOp 'no_rule': needs backward: a gradient rule, or \{ notDifferentiable: 'why' \}$/);
    expect(() => defineOp({ infer: () => ({ shape: [], dtype: 'f32' }), backward: () => [] } as never)).toThrow(/^defineOp: needs a name/);
    expect(() => defineOp({ name: 'no_infer', backward: () => [] } as never)).toThrow(/needs infer\(inputs, attrs\)/);
  });
});

describe('planning', () => {
  it("a program whose only output is a constant made while tracing: the output keeps it after the program goes", async () => {
    const out = await (async () => {
      const p = await rt().compile(() => ({ gu: rt().zeros([2]) }), { x: [3] });
      return p.run({ x: f32([7, 8, 9]) }).gu!;
    })();
    await collectGarbage();
    for (let i = 0; i < 4; i++) rt().full([2], 5); // would take the constant's buffer, were it freed
    expect(Array.from(await out.read())).toEqual([0, 0]);
  });

  it('a tensor and a view of it realised together share one buffer: disposing one leaves the other', async () => {
    const y = relu(rt().tensor([1, -2, 3, -4]));
    const v = y.reshape(2, 2);
    await rt().realize([y, v]);
    expect(v.buffer).toBe(y.buffer);
    y.dispose();
    const others = [rt().full([4], 7), rt().full([4], 7)]; // would take the buffer, were it freed
    expect(Array.from(await v.read())).toEqual([1, 0, 3, 0]);
    v.dispose();
    for (const t of others) t.dispose();
  });
});

describe('autograd', () => {
  it('.grad set by backward() is a value, not a function of the parameters to differentiate again (as PyTorch\'s without create_graph)', async () => {
    const p = rt().tensor([1, 2], { requiresGrad: true });
    const x = rt().tensor([3, 4]);
    backward(sum(mul(mul(p, p), x))); // .grad = 2·p·x = [6, 16]
    expect(Array.from(await grad(sum(mul(p.grad!, p)), [p])[0]!.read())).toEqual([6, 16]); // not 4·p·x = [12, 32]
    // grad() gives gradients that do differentiate again.
    const [g] = grad(sum(mul(mul(p, p), x)), [p]);
    expect(Array.from(await grad(sum(mul(g!, p)), [p])[0]!.read())).toEqual([12, 32]);
  });

  it("backward() adds to .grad of the tensors that require it, as PyTorch's; zeroGrad()'s zeros are replaced", async () => {
    const w = rt().tensor([1, 2, 3], [3], { requiresGrad: true });
    const x = rt().tensor([4, 5, 6]); // no requiresGrad: left alone
    backward(sum(mul(w, x)));
    expect(Array.from(await w.grad!.read())).toEqual([4, 5, 6]);
    sum(mul(w, w)).backward(); // micro-batches add up: [4, 5, 6] + 2·w (the method, as loss.backward())
    expect(Array.from(await w.grad!.read())).toEqual([6, 9, 12]);
    expect(x.grad).toBeUndefined();
    const opt = new SGD([w], { lr: 0.1 });
    opt.zeroGrad();
    backward(sum(mul(w, w)));
    expect(Array.from(await w.grad!.read())).toEqual([2, 4, 6]);
    // A .grad set by hand that is no gradient of it is refused, not broadcast, and no .grad is set.
    const v = rt().tensor([1, 2], { requiresGrad: true });
    const handSet = rt().tensor([1, 1, 1, 1, 1, 1], [2, 3]);
    w.grad = handSet;
    expect(() => backward(add(sum(mul(w, w)), sum(v)))).toThrow('backward: .grad of tensor [3] f32 is tensor [2, 3] f32, not a gradient of it to add to; set it to undefined (or call zeroGrad()) first');
    expect([w.grad, v.grad]).toEqual([handSet, undefined]);
    w.grad = undefined;
    backward(sum(mul(w, w)));
    expect(Array.from(await w.grad!.read())).toEqual([2, 4, 6]);
    // In a compiled function, a run's gradients add up over its backward() calls, not onto a gradient from before it.
    const p = await rt().compile(({ x: xs }) => {
      backward(sum(mul(w, xs!)));
      backward(sum(mul(w, w)));
      return { y: sum(w) };
    }, { x: [3] });
    for (let k = 0; k < 2; k++) {
      p.run({ x: [4, 5, 6] });
      expect(Array.from(await w.grad!.read())).toEqual([6, 9, 12]);
    }
    opt.dispose();
  });

  it('backward() of a value nothing that requires a gradient went into is refused, as PyTorch refuses it', async () => {
    const x = rt().tensor([1, 2]);
    const loss = sum(mul(x, x));
    const message = /^backward: nothing sum output \[\] f32 is computed from has requiresGrad \(create parameters with \{ requiresGrad: true \}/;
    expect(() => backward(loss)).toThrow(message);
    await expect(rt().compile(() => void backward(sum(mul(x, x))))).rejects.toThrow(message);
    expect(await loss.item()).toBe(5); // still computable
  });
});

describe('autograd', () => {
  it('the gradient of a tensor with respect to itself is ones, recorded ops or not', async () => {
    const t = rt().tensor([5]);
    expect(Array.from(await grad(t, [t])[0]!.read())).toEqual([1]);
  });

  it('a seed must be f32', () => {
    const p = rt().tensor([1, 2, 3]);
    const y = mul(p, p);
    expect(() => grad(y, [p], rt().tensor([1, 1, 1], undefined, { dtype: 'i32' }))).toThrow(/grad: seed \[3\] i32 does not match output \[3\] f32/);
    expect(() => grad(y, [3 as never], rt().ones([3]))).toThrow(TypeError);
    expect(() => grad(y, [3 as never], rt().ones([3]))).toThrow(/^grad: wrt\[0\] must be a Tensor, got the number 3 /);
  });

  it('a tensor of another runtime to differentiate by, or as the seed, is named as such', async () => {
    const p = rt().tensor([1, 2, 3], undefined, { name: 'p' });
    const y = sum(mul(p, p));
    const other = await createRuntime({ device: rt().device });
    try {
      const q = other.tensor([1, 2, 3], undefined, { name: 'q' });
      expect(() => grad(y, [p, q])).toThrow(TensorStateError);
      expect(() => grad(y, [p, q])).toThrow('grad: wrt[1], q [3] f32, belongs to another runtime than the output, sum output [] f32');
      expect(() => grad(y, [p], other.tensor(1))).toThrow('grad: seed, tensor [] f32, belongs to another runtime than the output, sum output [] f32');
    } finally {
      other.dispose();
    }
  });
});
