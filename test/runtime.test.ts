// The runtime and scheduler: buffer reuse under poisoning, bit-identical replays, no allocation
// or compilation after the first training-like step, tensor state errors, interop, and the
// error paths (shapes, broken shaders, invalid pipelines, missing adapter, lost device).
import { describe, expect, it } from 'vitest';
import {
  Adam,
  add,
  conv2d,
  createRuntime,
  defineOp,
  DeviceLimitError,
  DeviceLostError,
  FoveaError,
  GPUValidationError,
  grad,
  linear,
  matmul,
  mean,
  Model,
  mul,
  NoAdapterError,
  ops,
  registerShader,
  relu,
  type Runtime,
  scale,
  SEED_CNN,
  ShaderCompileError,
  ShapeError,
  sub,
  sum,
  type Tensor,
  tanh,
  TensorStateError,
  Trainer,
} from '../src/index.js';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { join, resolve } from 'node:path';
import { globals } from 'webgpu';
import { sizeClass } from '../src/runtime/buffers.js';
import { isSoftwareAdapter, mapsInUse } from '../src/runtime/device.js';
import { shaderInfo } from '../src/runtime/shaders.js';
import * as opFunctions from '../src/ops/index.js';
import { collectGarbage, expectClose, f32, Rng, thrown, useRuntime } from './helpers.js';

const { GPUBufferUsage } = globals as { GPUBufferUsage: typeof globalThis.GPUBufferUsage };

const rt = useRuntime();
const ROOT = resolve(import.meta.dirname, '..');

/** A small MLP regression step: forward, backward and an Adam update. */
async function mlpStep(r: ReturnType<typeof rt>, rng: Rng) {
  const w1 = r.tensor(f32(rng.array(12 * 7)), [12, 7], { name: 'w1' });
  const b1 = r.tensor(f32(rng.array(12)), [12], { name: 'b1' });
  const w2 = r.tensor(f32(rng.array(3 * 12)), [3, 12], { name: 'w2' });
  const opt = new Adam([w1, b1, w2], { lr: 0.01 });
  const step = await r.compile(
    ({ x, y }) => {
      const h = relu(linear(x!, w1, b1));
      const d = sub(linear(h, w2), y!);
      const loss = mean(mul(d, d));
      void opt.step(grad(loss, [w1, b1, w2]));
      return { loss };
    },
    { x: [5, 7], y: [5, 3] },
    { name: 'mlp step' },
  );
  return { step, params: [w1, b1, w2], opt };
}

describe('scheduler', () => {
  it('after the first training step, further steps allocate no buffer and compile no pipeline', async () => {
    const rng = new Rng(1);
    const { step } = await mlpStep(rt(), rng);
    const x = f32(rng.array(35));
    const y = f32(rng.array(15));
    const first = await step.run({ x, y }).loss!.read();
    const before = rt().stats();
    let last = first;
    for (let i = 0; i < 20; i++) {
      const { loss } = step.run({ x, y });
      if (i % 5 === 4) last = await loss!.read();
    }
    const after = rt().stats();
    expect(after.buffersCreated).toBe(before.buffersCreated);
    expect(after.pipelinesCreated).toBe(before.pipelinesCreated);
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    // One submit per step, plus one per read-back.
    expect(after.submits - before.submits).toBe(20 + 4);
    expect(after.dispatches - before.dispatches).toBe(20 * step.stats.dispatches);
    expect(last[0]!).toBeLessThan(first[0]!);
  });

  it("the seed CNN's Trainer step: one submit, nothing allocated, compiled or read back after the first", async () => {
    const rng = new Rng(3);
    const count = 120;
    const data = {
      images: { count, rows: 28, cols: 28, pixels: Uint8Array.from({ length: count * 784 }, () => rng.int(0, 255)) },
      labels: Uint8Array.from({ length: count }, () => rng.int(0, 9)),
    };
    const trainer = await Trainer.create(rt(), Model.create(rt(), SEED_CNN, { seed: 1 }), data, { batchSize: 20, optimizer: 'adam', lr: 1e-3 });
    const batch = (k: number) => Uint32Array.from({ length: 20 }, (_, i) => (k * 20 + i) % count);
    await (await trainer.trainStep(batch(0))).read();
    const before = rt().stats();
    let loss: Tensor | undefined;
    for (let k = 1; k <= 12; k++) loss = await trainer.trainStep(batch(k));
    await rt().sync();
    const after = rt().stats();
    expect(after.buffersCreated).toBe(before.buffersCreated);
    expect(after.pipelinesCreated).toBe(before.pipelinesCreated);
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    expect(after.programsBuilt).toBe(before.programsBuilt);
    expect(after.submits - before.submits).toBe(12); // no read-back: sync() submits nothing
    expect(after.dispatches - before.dispatches).toBe(12 * trainer.programFor(20)!.stats.dispatches);
    expect(Number.isFinite((await loss!.read())[0]!)).toBe(true);
  });

  it('plans buffer reuse before running and stays right with freed buffers poisoned', async () => {
    const rng = new Rng(2);
    const data = rng.array(4096);
    const x = rt().tensor(f32(data), [64, 64]);
    // A chain of 12 ops: live intermediates never exceed a few, so slots are reused.
    let y: Tensor = x;
    const ref = Float64Array.from(data);
    for (let i = 0; i < 12; i++) {
      y = i % 2 ? relu(y) : add(scale(y, 0.5), x);
      for (let k = 0; k < ref.length; k++) ref[k] = i % 2 ? Math.max(ref[k]!, 0) : 0.5 * ref[k]! + data[k]!;
    }
    const program = await rt().compile(() => ({ y }));
    expect(program.stats.slots).toBeLessThanOrEqual(3);
    expect(program.stats.peakBytes).toBeLessThanOrEqual(3 * 64 * 64 * 4);
    expectClose(await program.run().y!.read(), ref, 1e-6, 'chain with poisoned reuse');
  });

  it("rounds a buffer up to its size class, but not past the device's largest buffer", () => {
    expect([1, 256, 260, 65536, 65540, 100_000, 2 ** 20 + 4].map((b) => sizeClass(b))).toEqual([256, 256, 512, 65536, 73728, 106496, 1179648]);
    // A request whose class is past the limit is given the limit's last whole word.
    const limit = 100_002;
    expect([65540, 95_000, 99_000, 100_000].map((b) => sizeClass(b, limit))).toEqual([73728, 98304, 100_000, 100_000]);
  });

  it('poisons buffers returned to the pool in debug mode', async () => {
    const x = rt().tensor(new Float32Array(1000).fill(1), [1000]);
    const y = relu(scale(relu(x), 2)); // two intermediates go back to the pool
    await y.read();
    // A new buffer of the same size class comes from the pool, still holding the poison.
    const reused = rt().empty([1000]);
    const bits = new Uint32Array((await reused.read()).buffer);
    expect(bits.every((b) => b === 0x7fc00bad)).toBe(true);
  });

  it('poisons a slot freed inside a program, so a kernel that writes nothing reads NaN in every element', async () => {
    registerShader('writes-nothing-test.wgsl', [
      'override WG: u32;',
      '@group(0) @binding(0) var<storage, read_write> out: array<f32>;',
      '@compute @workgroup_size(WG)',
      'fn main(@builtin(local_invocation_index) lid: u32) {',
      '  if (lid > 1000u) { out[0] = 0.0; } // never: WG is 1',
      '}',
    ].join('\n'));
    const forgetful = defineOp<object>({
      name: 'writes_nothing',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'writes-nothing-test.wgsl', constants: { WG: 1 }, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    // relu's slot is freed once scale has read it, and reused for the output nothing writes.
    // 1024 floats fill their size class, so the slot's last word is the output's last element.
    const program = await rt().compile(({ x }) => ({ c: rt().record(forgetful, [scale(relu(x!), 2)], {}) }), { x: [1024] });
    expect(program.stats.slots).toBe(2);
    const bits = new Uint32Array((await program.run({ x: new Float32Array(1024).fill(1) }).c!.read()).buffer);
    expect(bits.findIndex((w) => w !== 0x7fc00bad)).toBe(-1);
  });

  it('running the same program twice is bit-identical', async () => {
    const rng = new Rng(3);
    const w = rt().tensor(f32(rng.array(40 * 33)), [40, 33]);
    const program = await rt().compile(
      ({ x }) => {
        const out = sum(mul(relu(linear(x!, w)), relu(linear(x!, w))));
        return { out, dw: grad(out, [w])[0]! };
      },
      { x: [17, 33] },
    );
    const x = f32(rng.array(17 * 33));
    const a = program.run({ x });
    const a1 = new Uint32Array((await a.out!.read()).buffer);
    const a2 = new Uint32Array((await a.dw!.read()).buffer);
    const b = program.run({ x });
    expect(new Uint32Array((await b.out!.read()).buffer)).toEqual(a1);
    expect(new Uint32Array((await b.dw!.read()).buffer)).toEqual(a2);
  });

  it('computes no gradient that was not asked for', async () => {
    const x = rt().tensor(f32(new Rng(4).array(6 * 5)), [6, 5]);
    const w = rt().tensor(f32(new Rng(5).array(4 * 5)), [4, 5]);
    const loss = sum(linear(x, w));
    const onlyW = await rt().compile(() => ({ g: grad(loss, [w])[0]! }));
    const both = await rt().compile(() => {
      const [gx, gw] = grad(loss, [x, w]);
      return { gx: gx!, gw: gw! };
    });
    expect(onlyW.stats.dispatches).toBe(both.stats.dispatches - 1);
  });
});

describe('tensor state', () => {
  it("a tensor's shape, dtype, runtime and op cannot be reassigned, nor its shape array changed", async () => {
    const t = rt().tensor([1, 2, 3, 4]);
    const y = relu(t);
    const [op, id] = [y.op, y.id];
    expect(() => ((t as { shape: unknown }).shape = [100000])).toThrow(TypeError);
    expect(() => ((t as { dtype: unknown }).dtype = 'u8')).toThrow(TypeError);
    expect(() => ((y as { rt: unknown }).rt = undefined)).toThrow(TypeError);
    expect(() => ((y as { op: unknown }).op = undefined)).toThrow(TypeError);
    expect(() => ((y as { id: unknown }).id = 0)).toThrow(TypeError);
    expect(() => (t.shape as number[]).push(5)).toThrow(TypeError);
    expect(() => ((t.shape as number[])[0] = 100000)).toThrow(TypeError);
    expect([t.shape, t.dtype, y.op, y.id]).toEqual([[4], 'f32', op, id]);
    expect(Array.from(await add(t, y).read())).toEqual([2, 4, 6, 8]);
  });

  it('prints as what it is (console.log shows no runtime internals)', async () => {
    const t = relu(rt().tensor([[1, -2], [3, 4]]));
    expect(inspect(t)).toBe('Tensor(relu output [2, 2] f32, lazy)');
    await t.realize();
    expect(String(t)).toBe('Tensor(relu output [2, 2] f32)');
    t.dispose();
    expect(inspect([t])).toBe('[ Tensor(relu output [2, 2] f32, disposed) ]');
    const p = await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [3] }, { name: 'clip' });
    expect(inspect(p)).toBe('Program(clip: inputs x; outputs y; 1 dispatch)');
    p.dispose();
    expect(String(p)).toMatch(/, disposed\)$/);
    expect(inspect(rt())).toMatch(/^Runtime\(.+, \d+\.\d MiB in use\)$/);
  });

  it('reshape and flatten are views: no copy, no dispatch', async () => {
    const x = rt().tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const before = rt().stats();
    const v = x.flatten(1).reshape(3, -1);
    expect(v.shape).toEqual([3, 2]);
    expect(v.buffer).toBe(x.buffer);
    expect(Array.from(await v.read())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rt().stats().dispatches).toBe(before.dispatches);
    expect(() => x.reshape(4, 2)).toThrow(/cannot reshape \[1, 2, 3\] \(6 elements\) to \[4, 2\]/);
    expect(x.reshape([2, -1]).shape).toEqual([2, 3]); // one array, as torch.reshape takes too
    expect(rt().zeros([0, 3]).reshape(3, -1).shape).toEqual([3, 0]);
    expect(() => rt().zeros([0, 3]).reshape(-1, 0)).toThrow(/reshape: cannot infer the -1 of \[-1, 0\]: another size is 0/);
    // As torch.flatten: the end dim is an index, so the rank itself is one past the last.
    expect(x.flatten(0, 2).shape).toEqual([6]);
    expect(() => x.flatten(0, 3)).toThrow(ShapeError);
    expect(() => x.flatten(0, 3)).toThrow(/^flatten: axis 3 out of range for rank 3$/);
    expect(() => x.flatten(2, 1)).toThrow(/^flatten: start 2 comes after end 1 in \[1, 2, 3\]$/);
    expect(x.flatten(-2, 2).shape).toEqual([1, 6]);
    // A 0-d tensor takes axis 0 or -1 and becomes 1-d, as in PyTorch.
    expect(rt().tensor(3).flatten(0, -1).shape).toEqual([1]);
    expect(() => rt().tensor(3).flatten(1)).toThrow(/^flatten: axis 1 out of range for a 0-d tensor \(it takes 0 or -1\)$/);
  });

  it('alternating input tensors reuse their bind groups', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(relu(x!), 3) }), { x: [4] });
    const a = rt().tensor([1, -2, 3, -4]);
    const b = rt().tensor([-1, 2, -3, 4]);
    p.run({ x: a });
    p.run({ x: b });
    const before = rt().stats().bindGroupsCreated;
    for (let i = 0; i < 4; i++) {
      expect(Array.from(await p.run({ x: a }).y!.read())).toEqual([3, 0, 9, 0]);
      expect(Array.from(await p.run({ x: b }).y!.read())).toEqual([0, 6, 0, 12]);
    }
    expect(rt().stats().bindGroupsCreated).toBe(before);
  });

  it('keeps bind groups for a few input tensors only, not for every tensor it was ever fed', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(relu(x!), 3) }), { x: [4] });
    const xs = Array.from({ length: 20 }, (_, i) => rt().tensor([i, -i, i, -i]));
    const pass = async () => {
      const before = rt().stats().bindGroupsCreated;
      // relu(−0) is −0, as PyTorch's (x of 0 holds −0 as its negated entries).
      for (const [i, x] of xs.entries()) expect(Array.from(await p.run({ x }).y!.read())).toEqual([3 * i, i ? 0 : -0, 3 * i, i ? 0 : -0]);
      return rt().stats().bindGroupsCreated - before;
    };
    expect(await pass()).toBeGreaterThanOrEqual(xs.length);
    // A cache holding all 20 would build nothing on a second pass (and grow with every new tensor).
    expect(await pass()).toBeGreaterThan(0);
  });

  it('a new input tensor each run, in a pooled buffer used before, reuses the bind group of that buffer', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(relu(x!), 3) }), { x: [4] });
    const feed = async (i: number) => {
      const x = rt().tensor([i, -i, i, -i]);
      expect(Array.from(await p.run({ x }).y!.read())).toEqual([3 * i, i ? 0 : -0, 3 * i, i ? 0 : -0]);
      x.dispose(); // its buffer back to the pool, for the next run's tensor
    };
    await feed(0);
    const before = rt().stats().bindGroupsCreated;
    for (let i = 1; i < 6; i++) await feed(i);
    expect(rt().stats().bindGroupsCreated).toBe(before);
  });

  it('an output read after its program ran again is refused', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [3] });
    const first = p.run({ x: f32([1, 2, 3]) }).y!;
    expect(Array.from(await first.read())).toEqual([2, 4, 6]);
    p.run({ x: f32([4, 5, 6]) });
    await expect(first.read()).rejects.toThrow(TensorStateError);
  });

  it("feeds a program its own output (state = run({ x: state })) by copying it in", async () => {
    const p = await rt().compile(({ x }) => ({ y: add(scale(x!, 2), x!) }), { x: [3] });
    let y = p.run({ x: f32([1, 2, 3]) }).y!;
    for (let i = 0; i < 3; i++) y = p.run({ x: y }).y!;
    expect(Array.from(await y.read())).toEqual([81, 162, 243]);
    // The device saw nothing invalid: later work runs and reads as usual.
    expect(Array.from(await sum(rt().tensor([1, 2])).read())).toEqual([3]);
  });

  it('one tensor returned under two names reads under both', async () => {
    const p = await rt().compile(({ x }) => {
      const y = relu(x!);
      return { a: y, b: y };
    }, { x: [2] });
    const o = p.run({ x: f32([-1, 2]) });
    expect(Array.from(await o.a!.read())).toEqual([0, 2]);
    expect(Array.from(await o.b!.read())).toEqual([0, 2]);
  });

  it('an input never given is an error naming it', async () => {
    const p = await rt().compile(({ x, y }) => ({ z: add(x!, y!) }), { x: [2], y: [2] });
    expect(() => p.run({ x: f32([1, 2]) })).toThrow(/program: input 'y' never given/);
    p.input('y').write(f32([10, 20]));
    expect(Array.from(await p.run({ x: f32([1, 2]) }).z!.read())).toEqual([11, 22]);
    // One the function does not use needs no value (but is still checked when given); one it returns does.
    const unused = await rt().compile(({ x }) => ({ z: relu(x!) }), { x: [2], mask: [2] });
    expect(Array.from(await unused.run({ x: f32([-1, 2]) }).z!.read())).toEqual([0, 2]);
    expect(() => unused.run({ x: f32([1, 2]), mask: f32([1]) })).toThrow(/input 'mask' \[2\] f32 takes 2 values, got 1/);
    const returned = await rt().compile(({ x, y }) => ({ z: relu(x!), y: y!.reshape(1, 2) }), { x: [2], y: [2] });
    expect(() => returned.run({ x: f32([1, 2]) })).toThrow(/input 'y' never given/);
  });

  it('a lazy result of a tensor later updated in place is refused', async () => {
    const p = rt().tensor([1, -2, 3]);
    const y = relu(p);
    p.write(f32([5, 5, 5]));
    await expect(y.read()).rejects.toThrow(/read tensor \[3\] f32 before it was updated in place/);
  });

  it('wraps a host GPUBuffer without a copy, as data and as a program input', async () => {
    const device = rt().device;
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, f32([1, -2, 3, -4]));
    const t = rt().wrap(buf, [4]);
    expect(t.buffer).toBe(buf);
    expect(Array.from(await relu(t).read())).toEqual([1, 0, 3, 0]);
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 10) }), { x: [4] });
    expect(Array.from(await p.run({ x: t }).y!.read())).toEqual([10, -20, 30, -40]);
    device.queue.writeBuffer(buf, 0, f32([2, 2, 2, 2]));
    expect(Array.from(await p.run({ x: t }).y!.read())).toEqual([20, 20, 20, 20]);
    expect(() => rt().wrap(buf, [5])).toThrow(ShapeError);
    t.dispose();
    buf.destroy();
  });

  it('multiplies a wrapped buffer of fewer than 16 bytes, eagerly and compiled (the vec4 views of a product bind 16)', async () => {
    const device = rt().device;
    const buf = device.createBuffer({ size: 12, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, f32([1, 2, 3]));
    const x = rt().wrap(buf, [1, 3]);
    const w = rt().tensor([[1, 1, 1], [0, 0, 1]]);
    expect(Array.from(await linear(x, w).read())).toEqual([6, 3]);
    expect(Array.from(await matmul(w, x, { transB: true }).read())).toEqual([6, 3]);
    const p = await rt().compile(({ x }) => ({ y: linear(x!, w) }), { x: [1, 3] });
    expect(Array.from(await p.run({ x }).y!.read())).toEqual([6, 3]);
    p.dispose();
    x.dispose();
    buf.destroy();
  });

  it('reads and writes a tensor wrapped at a byte offset there, leaving the bytes around it alone', async () => {
    const device = rt().device;
    const at = rt().limits.minStorageBufferOffsetAlignment;
    const buf = device.createBuffer({ size: at + 32, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, f32([9, 9, 9, 9]));
    device.queue.writeBuffer(buf, at, f32([1, 2, 3, 4, 7, 7, 7, 7]));
    const t = rt().wrap(buf, [4], 'f32', at);
    expect(Array.from(await t.read())).toEqual([1, 2, 3, 4]);
    t.write(f32([5, 6, 7, 8]));
    expect(Array.from(await t.read())).toEqual([5, 6, 7, 8]);
    expect(Array.from(await rt().wrap(buf, [4]).read())).toEqual([9, 9, 9, 9]);
    expect(Array.from(await rt().wrap(buf, [8], 'f32', at).read())).toEqual([5, 6, 7, 8, 7, 7, 7, 7]);
    buf.destroy();
  });
});

describe('errors', () => {
  it('a shape mismatch throws before any dispatch, naming the op and both shapes', () => {
    const before = rt().stats().dispatches;
    expect(() => add(rt().zeros([2, 3]), rt().zeros([4, 3]))).toThrow(/add: shapes \[2, 3\] and \[4, 3\] do not broadcast/);
    expect(rt().stats().dispatches).toBe(before);
  });

  it('options may take the place of the shape (rt.tensor) or of the dtype (zeros, ones, full, empty), the dtype among them', async () => {
    const ids = rt().tensor([1, 2], { dtype: 'i32', name: 'ids' });
    expect([ids.dtype, ids.shape, ids.name, Array.from(await ids.read())]).toEqual(['i32', [2], 'ids', [1, 2]]);
    const w = rt().zeros([2, 3], { requiresGrad: true });
    expect([w.dtype, w.shape, w.requiresGrad]).toEqual(['f32', [2, 3], true]);
    expect(Array.from(await rt().full([2], 7, { dtype: 'i32' }).read())).toEqual([7, 7]);
    expect([rt().ones([1], { dtype: 'u32' }).dtype, rt().empty([3], { dtype: 'i32' }).dtype, rt().zeros([1], 'i32').dtype]).toEqual(['u32', 'i32', 'i32']);
    expect(() => rt().tensor([1], { name: 'a' } as never, { name: 'b' })).toThrow(new TypeError('tensor: options given twice (in place of the shape, and after it)'));
    expect(() => rt().zeros([1], { dtype: 'i32' }, {})).toThrow(new TypeError('zeros: options given twice (in place of the dtype, and after it)'));
    expect(() => rt().zeros([1], { dtyp: 'i32' } as never)).toThrow(/^zeros: .*dtyp/);
    expect(() => rt().zeros([1], 'f32', { dtype: 'i32' } as never)).toThrow(/the dtype is an argument of zeros\(\), before the options/);
    // Only what is left out takes a default: null, or an object that is no options, is named.
    expect(() => rt().zeros([2], null as never)).toThrow(/^zeros: unknown dtype null/);
    expect(() => rt().full([2], 7, { dtype: null } as never)).toThrow(/^full: unknown dtype null/);
    expect(() => rt().zeros([2], new Date() as never)).toThrow(/^zeros: the dtype is a string argument/);
    expect(() => rt().empty([2], 'i32', null as never)).toThrow(/^empty: /);
    expect(() => rt().tensor([1, 2], { dtype: 'i32' } as never, null as never)).toThrow(new TypeError('tensor: options given twice (in place of the shape, and after it)'));
  });

  it('only f32 tensors can require gradients, as in PyTorch: refused at creation (taking no buffer) and when set', () => {
    const before = rt().stats().inUseBytes;
    const refused = new ShapeError('requiresGrad', 'only f32 tensors can require gradients, not tensor [2] i32');
    expect(() => rt().tensor(Int32Array.of(1, 2), undefined, { requiresGrad: true })).toThrow(refused);
    expect(() => rt().zeros([3], 'u32', { requiresGrad: true, name: 'idx' })).toThrow('requiresGrad: only f32 tensors can require gradients, not idx [3] u32');
    expect(rt().stats().inUseBytes).toBe(before);
    const labels = rt().tensor([1, 2], undefined, { dtype: 'i32' });
    expect(() => (labels.requiresGrad = true)).toThrow(refused);
    labels.requiresGrad = false;
    expect(rt().zeros([2], 'f32', { requiresGrad: true }).requiresGrad).toBe(true);
    // Options in the shape's place.
    expect(() => rt().zeros({ requiresGrad: true } as never)).toThrow(new RangeError('zeros: a shape is an array of sizes, got an object (options go after the shape)'));
  });

  it('an op given something other than a Tensor throws a TypeError naming the op, the argument and what it got', async () => {
    const t = rt().tensor([1, 2]);
    const numbers = '(rt.tensor(2) makes a tensor of it; add, sub, mul, div, maximum and minimum take a number for either operand)';
    const cases: [() => unknown, string][] = [
      [() => relu(2 as never), `relu: x must be a Tensor, got the number 2 ${numbers}`],
      [() => add(t, '2' as never), 'add: b must be a Tensor or a number, got the string "2"'],
      [() => add(2, [1] as never), 'add: b must be a Tensor or a number, got an array of length 1 (rt.tensor() makes a tensor of nested numbers)'],
      [() => relu(undefined as never), 'relu: x must be a Tensor, got undefined'],
      [() => sum(new Float32Array(3) as never), 'sum: x must be a Tensor, got a Float32Array of length 3 (rt.tensor(data, shape) uploads it)'],
      [() => matmul(t.reshape(1, 2), [[1], [2]] as never), 'matmul: b must be a Tensor, got an array of length 2 (rt.tensor() makes a tensor of nested numbers)'],
      [() => matmul(t, t, { bias: 'b' as never }), 'matmul: bias must be a Tensor, got the string "b"'],
      [() => mean(t.realize() as never), 'mean: x must be a Tensor, got a Promise (await it first)'],
      [() => linear(t, t, null as never), 'linear: b must be a Tensor, got null'],
      [() => scale(relu as never, 2), 'scale: x must be a Tensor, got a function (relu)'],
      [() => grad(mean(t), t as never), 'grad: wrt must be an array of Tensors, got a Tensor'],
      [() => rt().record(ops.add, [t, {} as never], {}), 'add: inputs[1] must be a Tensor, got an object'],
    ];
    const before = rt().stats().dispatches;
    for (const [f, message] of cases) {
      expect(f).toThrow(TypeError);
      expect(f).toThrow(message);
    }
    await expect(rt().read(3 as never)).rejects.toThrow(`read: t must be a Tensor, got the number 3 ${numbers.replace('(2)', '(3)')}`);
    await expect(rt().compile(null as never, {})).rejects.toThrow(new TypeError('compile: fn must be a function of the inputs, got null'));
    // Its options, misspelt or of the wrong kind, before anything is traced.
    const fn = ({ x }: { readonly x?: Tensor }) => ({ y: scale(x!, 2) });
    await expect(rt().compile(fn, { x: [2] }, { nmae: 'step' } as never)).rejects.toThrow(new RangeError("compile: unknown option 'nmae' (it takes name, onProgress)"));
    await expect(rt().compile(fn, { x: [2] }, { onProgress: 5 } as never)).rejects.toThrow(new TypeError('compile: onProgress must be a function (done, total), got 5'));
    expect(rt().stats().dispatches).toBe(before);
  });

  it('every op function refuses a missing first argument with a TypeError naming itself, not an internal one', () => {
    const fns = Object.entries(opFunctions).filter(([, f]) => typeof f === 'function');
    expect(fns.length).toBeGreaterThan(20);
    for (const [name, f] of fns) {
      const e = thrown(() => (f as (...a: unknown[]) => unknown)(undefined, undefined, undefined, undefined), TypeError);
      expect(e.message, name).toMatch(new RegExp(`^${name}: \\w+ must be (a Tensor|a Tensor or a number|an array of Tensors|a Runtime \\(from createRuntime\\(\\)\\)), got undefined$`));
    }
  });

  it("the device gets the adapter's buffer limits, not WebGPU's 128/256 MiB defaults", async () => {
    const { create } = await import('webgpu');
    const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter');
    expect(rt().limits.maxStorageBufferBindingSize).toBe(adapter.limits.maxStorageBufferBindingSize);
    expect(rt().limits.maxBufferSize).toBe(adapter.limits.maxBufferSize);
  });

  it('a result too large for the device is a DeviceLimitError (a ShapeError) before any dispatch', () => {
    const before = rt().stats().dispatches;
    // Sized from this device's limit (128 MiB on lavapipe, gigabytes on a GPU).
    const limit = Math.min(rt().limits.maxStorageBufferBindingSize, rt().limits.maxBufferSize);
    const over = `over this device's limit of ${limit} bytes per ${limit === rt().limits.maxStorageBufferBindingSize ? 'buffer binding (maxStorageBufferBindingSize)' : 'buffer (maxBufferSize)'}`;
    const n = Math.ceil(Math.sqrt(limit / 4)) + 1;
    const big = () => matmul(rt().zeros([n, 1]), rt().zeros([1, n]));
    expect(big).toThrow(DeviceLimitError);
    expect(big).toThrow(ShapeError);
    expect(big).toThrow(`matmul: result [${n}, ${n}] f32 is ${4 * n * n} bytes, ${over}`);
    // conv2d's columns too large, even for one image (a larger batch is taken in slices): named
    // by conv2d, which the caller called, with its shapes. A 31×31 kernel makes the columns 961
    // times the input.
    const channels = Math.floor(limit / (961 * 1024 * 4)) + 1;
    const conv = () => conv2d(rt().zeros([1, channels, 32, 32]), rt().zeros([8, channels, 31, 31]), undefined, { padding: 15 });
    expect(conv).toThrow(DeviceLimitError);
    expect(thrown(conv, DeviceLimitError).shapes).toEqual([[1, channels * 961, 1024]]);
    expect(conv).toThrow(
      `conv2d: im2col: result [1, ${channels * 961}, 1024] f32 is ${channels * 961 * 4096} bytes, ${over} (input [1, ${channels}, 32, 32], weight [8, ${channels}, 31, 31]; even one image's columns are too large)`,
    );
    // Its output too large: a smaller batch would do.
    const outs = Math.floor(limit / (2 * 4096 * 4)) + 1;
    const wide = () => conv2d(rt().zeros([2, 1, 64, 64]), rt().zeros([outs, 1, 1, 1]));
    expect(wide).toThrow(`conv2d: matmul: result [2, ${outs}, 4096] f32 is ${2 * outs * 4096 * 4} bytes, ${over} (input [2, 1, 64, 64], weight [${outs}, 1, 1, 1]; a smaller batch needs less)`);
    // A host buffer larger than a binding may be (where the device allows such buffers) is refused
    // by wrap, not by the first op's bind group.
    if (rt().limits.maxBufferSize >= limit + 16) {
      const buffer = rt().device.createBuffer({ size: limit + 16, usage: 0x80 /* STORAGE */ });
      expect(() => rt().wrap(buffer, [limit / 4 + 4])).toThrow(`wrap: tensor [${limit / 4 + 4}] f32 is ${limit + 16} bytes, ${over}`);
      buffer.destroy();
    }
    expect(rt().stats().dispatches).toBe(before);
  });

  it('registers a shader name once: the same source again is the same shader, another is refused', () => {
    const source = '@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = 1.0; }';
    const first = registerShader('twice-test.wgsl', source);
    expect(registerShader('twice-test.wgsl', source)).toBe(first);
    expect(() => registerShader('twice-test.wgsl', source.replace('1.0', '2.0'))).toThrow(/^registerShader: a shader named twice-test\.wgsl already exists, with another source$/);
    expect(() => registerShader('unary.wgsl', source)).toThrow(/already exists/); // one of fovea's own
  });

  it('a broken shader reports its file, line and column', async () => {
    registerShader('broken-test.wgsl', ['// line 1', 'override WG: u32;', '@group(0) @binding(0) var<storage, read_write> out: array<f32>;', '', '@compute @workgroup_size(WG)', 'fn main() {', '  out[0] = undefined_thing;', '}'].join('\n'));
    const brokenOp = defineOp<object>({
      name: 'broken',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'broken-test.wgsl', constants: { WG: 1 }, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const y = rt().record(brokenOp, [rt().zeros([1])], {});
    const err = await y.read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect((err as ShaderCompileError).file).toBe('broken-test.wgsl');
    expect((err as ShaderCompileError).line).toBe(7);
    expect(String(err)).toMatch(/broken-test\.wgsl:7:\d+: .*undefined_thing/);
  });

  it('an error in a shader that includes a fragment is reported at the line of its own file', async () => {
    const text = ['// line 1', '// #include "matmul_io.wgsl"', 'override WG: u32;', '@compute @workgroup_size(WG)', 'fn main() {', '  c[0] = undefined_thing;', '}'];
    registerShader('broken-include-test.wgsl', text.join('\n'));
    const op = defineOp<object>({
      name: 'broken_include',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'broken-include-test.wgsl', constants: { WG: 1 }, bindings: { c: out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const err = await rt().record(op, [rt().zeros([1])], {}).read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect(String(err)).toMatch(/broken-include-test\.wgsl:6:\d+: .*undefined_thing/);
    expect(() => registerShader('bad-include-test.wgsl', 'override WG: u32;\n// #include "nope.wgsl"')).toThrow(/bad-include-test\.wgsl:2: cannot include "nope\.wgsl": shaders\/lib holds blocked_sum\.wgsl, grid\.wgsl, lines\.wgsl, math\.wgsl, matmul_io\.wgsl, nan\.wgsl/);
  });

  it("maps every line of an expanded shader to its file and line", () => {
    const info = shaderInfo('matmul.wgsl');
    // matmul.wgsl includes matmul_io.wgsl, which includes nan.wgsl.
    const files = { 'matmul.wgsl': 'shaders/matmul.wgsl', 'lib/matmul_io.wgsl': 'shaders/lib/matmul_io.wgsl', 'lib/nan.wgsl': 'shaders/lib/nan.wgsl' } as Record<string, string>;
    const texts = Object.fromEntries(Object.entries(files).map(([k, path]) => [k, readFileSync(join(ROOT, path), 'utf8').split('\n')]));
    const expanded = info.source.split('\n');
    expect(info.lines).toHaveLength(expanded.length);
    expect(new Set(info.lines.map((l) => l.file))).toEqual(new Set(Object.keys(files)));
    info.lines.forEach((at, i) => expect(texts[at.file]![at.line - 1], `line ${i + 1}`).toBe(expanded[i]));
    expect(info.bindings.map((b) => b.name)).toEqual(['params', 'a', 'a4', 'b', 'b4', 'bias', 'c', 'c4']);
  });

  it('an invalid pipeline is reported as a validation error naming the kernel', async () => {
    registerShader('too-big-test.wgsl', '@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(4096) fn main() { out[0] = 1.0; }');
    const op = defineOp<object>({
      name: 'too_big',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'too-big-test.wgsl', bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    await expect(rt().record(op, [rt().zeros([1])], {}).read()).rejects.toThrow(GPUValidationError);
    await expect(rt().record(op, [rt().zeros([1])], {}).read()).rejects.toThrow(/too-big-test\.wgsl:main/);
    // The runtime stays usable.
    expect(Array.from(await relu(rt().tensor([-1, 1])).read())).toEqual([0, 1]);
  });

  it('an invalid submit rejects the read of its result, naming the program', async () => {
    const device = rt().device;
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] }, { name: 'doubling' });
    const x = rt().wrap(buf, [4]);
    buf.destroy(); // the host app frees its buffer while fovea still binds it
    await expect(p.run({ x }).y!.read()).rejects.toThrow(/doubling: .*destroyed/);
    expect(Array.from(await relu(rt().tensor([-1, 1])).read())).toEqual([0, 1]);
  });

  it('no adapter gives an error that says how to get one', async () => {
    const g = globalThis as { navigator?: unknown };
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
    try {
      const err = await createRuntime().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoAdapterError);
      expect(String(err)).toMatch(/No WebGPU adapter was found/);
      expect(String(err)).toMatch(/setup-system\.sh/);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete g.navigator;
    }
  });

  it('a lost device surfaces as DeviceLostError, never a hang', async () => {
    const own = await createRuntime();
    const t = own.tensor([1, 2, 3]);
    own.device.destroy();
    await expect(t.read()).rejects.toThrow(DeviceLostError);
    expect(() => own.tensor([1])).toThrow(DeviceLostError);
    own.dispose();
  });

  it('dispose() leaves a host device usable', async () => {
    const host = rt().device;
    const guest = await createRuntime({ device: host });
    expect(guest.adapter.hostDevice).toBe(true);
    expect(Array.from(await relu(guest.tensor([-1, 2])).read())).toEqual([0, 2]);
    guest.dispose();
    expect(() => guest.tensor([1])).toThrow(/disposed/);
    await expect(guest.sync()).rejects.toThrow(/^the runtime was disposed$/); // not a lost device
    expect(Array.from(await relu(rt().tensor([-3, 4])).read())).toEqual([0, 4]);
  });
});

describe('scheduler', () => {
  it('a freed slot goes to the smallest tensor it fits (best fit), leaving the larger slot for a larger tensor', async () => {
    const rng = new Rng(9);
    const w = (m: number, k = 8) => rt().tensor(f32(rng.array(m * k)), [m, k]);
    const [w1, w2, w3, w4, w5] = [w(1024), w(768), w(512), w(1024), w(512, 1024)];
    const p = await rt().compile(
      ({ x }) => ({
        // 4096 and 3072 bytes, both freed after their product (3072 bytes, freed once summed).
        a: sum(matmul(linear(x!, w1).reshape(32, 32), linear(x!, w2).reshape(32, 24))),
        // 2048 bytes, fitting either freed slot, and alive while 4096 bytes more are computed:
        // those fit only the 4096-byte slot, so the 2048 must have taken a 3072-byte one.
        b: add(linear(x!, w3), linear(linear(x!, w4), w5)),
      }),
      { x: [1, 8] },
    );
    expect(p.stats.slots).toBe(4);
    expect(p.stats.slotBytes).toBe(4096 + 3072 + 3072 + 256);
  });

  it("a program's inputBytes are the bytes of its input buffers", async () => {
    const p = await rt().compile(({ x, y }) => ({ z: matmul(x!, y!) }), { x: [3, 5], y: [5, 70] });
    expect(p.stats.inputBytes).toBe(p.input('x').buffer.size + p.input('y').buffer.size);
  });

  it('profile() times every dispatch in milliseconds, in the order of stats.kernels', async () => {
    const r = rt();
    if (!r.device.features.has('timestamp-query')) throw new Error('this adapter lacks timestamp-query, which the test needs');
    const rng = new Rng(10);
    const w = r.tensor(f32(rng.array(256 * 256)), [256, 256]);
    const p = await r.compile(({ x }) => ({ y: sum(relu(matmul(x!, w))) }), { x: [256, 256] });
    const x = f32(rng.array(256 * 256));
    await p.run({ x }).y!.read(); // warm
    const started = performance.now();
    const timings = await p.profile({ x });
    const wall = performance.now() - started;
    expect(timings.map((t) => t.kernel)).toEqual(p.stats.kernels);
    const total = timings.reduce((a, t) => a + t.ms, 0);
    for (const t of timings) expect(t.ms, t.label).toBeGreaterThanOrEqual(0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(wall); // GPU time of one run, within the wall time of that run
  });
});

describe('scheduler', () => {
  it('a small tensor does not take a freed slot over twice its size, which a later large tensor reuses', async () => {
    const rng = new Rng(11);
    const w = (m: number, k = 8) => rt().tensor(f32(rng.array(m * k)), [m, k]);
    const [w1, w2, w4, w5] = [w(1024), w(16), w(1024), w(16, 1024)];
    const p = await rt().compile(
      ({ x }) => ({
        a: sum(linear(x!, w1)), // 4096 bytes, freed once summed
        // 64 bytes (a 256-byte slot) alive while 4096 bytes are computed.
        b: add(linear(x!, w2), linear(linear(x!, w4), w5)),
      }),
      { x: [1, 8] },
    );
    expect(p.stats.slotBytes).toBe(4096 + 4 * 256);
  });

  it('in debug mode a program poisons each slot after its last reader (fill dispatches of its own); otherwise not', async () => {
    const plain = await createRuntime();
    try {
      const build = (r: Runtime) => r.compile(({ x }) => ({ y: sum(relu(scale(relu(x!), 2))) }), { x: [1000] });
      const [debug, normal] = [await build(rt()), await build(plain)];
      const fills = (k: string[]) => k.filter((name) => name === 'fill.wgsl:main').length;
      expect(fills(normal.stats.kernels)).toBe(0);
      expect(fills(debug.stats.kernels)).toBeGreaterThan(0);
      expect(debug.stats.dispatches).toBe(normal.stats.dispatches + fills(debug.stats.kernels));
      const x = f32(Array.from({ length: 1000 }, (_, i) => (i % 5) - 2));
      expect(Array.from(await debug.run({ x }).y!.read())).toEqual(Array.from(await normal.run({ x }).y!.read()));
    } finally {
      plain.dispose();
    }
  });
});

describe('errors', () => {
  it('a dispatch naming a binding its shader does not declare is an error naming both', async () => {
    const op = defineOp<object>({
      name: 'typo',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, [x], out) =>
        ctx.dispatch({ shader: 'fill.wgsl', constants: { WG: 64 }, params: { n: 4, value: 0 }, bindings: { out, inp: x! }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const err = await rt().record(op, [rt().zeros([4])], {}).read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FoveaError);
    expect(String(err)).toMatch(/typo → \[4\]: fill\.wgsl has no binding named inp \(it has params, out\)/);
  });

  it('a dispatch naming an entry point its shader does not declare is an error naming both', async () => {
    const op = defineOp<object>({
      name: 'misnamed',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, [x], out) =>
        ctx.dispatch({ shader: 'fill.wgsl', entry: 'mian', constants: { WG: 64 }, params: { n: 4, value: 0 }, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const err = await rt().record(op, [rt().zeros([4])], {}).read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FoveaError);
    expect(String(err)).toBe("FoveaError: misnamed → [4]: fill.wgsl has no @compute entry point 'mian' (it has main)");
  });

  it('a dispatch setting an override constant its shader does not declare is an error naming both', async () => {
    const op = defineOp<object>({
      name: 'misset',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, [x], out) => ctx.dispatch({ shader: 'fill.wgsl', constants: { WGG: 64 }, params: { n: 4, value: 0 }, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const err = await rt().record(op, [rt().zeros([4])], {}).read().catch((e: unknown) => e);
    expect(String(err)).toBe("FoveaError: misset → [4]: fill.wgsl declares no override constant 'WGG' (it has WG)");
  });

  it('an override constant with an @id is set by its id, as WebGPU keys it (by its name it is refused)', async () => {
    registerShader(
      'override-id-test.wgsl',
      `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
// override NOT_ONE: u32; (a comment declares nothing)
@id(7) override WG: u32;
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) i: u32) {
  if (i < 4u) { out[i] = f32(i) + 1.0; }
}`,
    );
    const op = (constants: Record<string, number>) =>
      defineOp<object>({
        name: 'by-id',
        infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
        encode: (ctx, _, out) => ctx.dispatch({ shader: 'override-id-test.wgsl', constants, bindings: { out }, workgroups: [1] }),
        backward: { notDifferentiable: 'test op' },
      });
    expect(Array.from(await rt().record(op({ '7': 4 }), [rt().zeros([4])], {}).read())).toEqual([1, 2, 3, 4]);
    const err = await rt().record(op({ WG: 4 }), [rt().zeros([4])], {}).read().catch((e: unknown) => e);
    expect(String(err)).toBe("FoveaError: by-id → [4]: override-id-test.wgsl declares no override constant 'WG' (it has 7)");
  });

  it('a dispatch giving no params to a shader whose entry point reads them is an error naming it', async () => {
    const op = defineOp<object>({
      name: 'unparametrised',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _inputs, out) => ctx.dispatch({ shader: 'fill.wgsl', constants: { WG: 64 }, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    const err = await rt().record(op, [rt().zeros([4])], {}).read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FoveaError);
    expect(String(err)).toBe('FoveaError: unparametrised → [4]: fill.wgsl:main reads the uniform params (its struct Params), but the dispatch gives no params');
  });
});

describe('tensor state', () => {
  it('a view of a realised tensor, disposed or dropped, leaves the tensor readable', async () => {
    const x = rt().tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    x.reshape(3, 2).dispose();
    await (async () => {
      for (let i = 0; i < 3; i++) x.flatten(); // dropped views, collected below
    })();
    await collectGarbage();
    const others = [rt().full([6], 7), rt().full([6], 7)]; // would take the buffer, were it freed
    expect(Array.from(await x.read())).toEqual([1, 2, 3, 4, 5, 6]);
    for (const t of others) t.dispose();
  });

  it('a detached tensor, disposed, leaves the tensor it came from readable', async () => {
    const y = mul(rt().tensor([1, 2, 3]), rt().tensor([1, 2, 3]));
    await y.realize();
    y.detach().dispose();
    const others = [rt().full([3], 7), rt().full([3], 7)];
    expect(Array.from(await y.read())).toEqual([1, 4, 9]);
    for (const t of others) t.dispose();
  });

  it("a detached program output is refused once the program has run again, as the output is", async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [3] });
    const d = p.run({ x: f32([1, 2, 3]) }).y!.detach();
    expect(Array.from(await d.read())).toEqual([2, 4, 6]);
    p.run({ x: f32([4, 5, 6]) });
    await expect(d.read()).rejects.toThrow(/has since run again and overwritten it/);
  });

  it("a view of a program output shows that run's values or is refused, as the output is; outputs are read-only", async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    const y = p.run({ x: f32([1, 2, 3, 4]) }).y!;
    const [square, flat] = [y.reshape(2, 2), y.reshape(2, 2).flatten()];
    expect(Array.from(await square.read())).toEqual([2, 4, 6, 8]);
    expect(() => y.write([0, 0, 0, 0])).toThrow("write: program output 'y' [4] f32 is an output of a compiled program; outputs are read-only");
    expect(() => square.write([0, 0, 0, 0])).toThrow(/outputs are read-only/);
    p.run({ x: f32([10, 20, 30, 40]) });
    for (const v of [square, flat, y]) await expect(v.read()).rejects.toThrow(/has since run again and overwritten it/);
  });

  it("disposing a program's output leaves the program's buffer to the program: the next run reads", async () => {
    const p = await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [3] });
    p.run({ x: f32([-1, 2, -3]) }).y!.dispose();
    expect(Array.from(await p.run({ x: f32([4, -5, 6]) }).y!.read())).toEqual([4, 0, 6]);
  });

  it('write() refuses too few values as it does too many', () => {
    const t = rt().tensor([1, 2, 3]);
    expect(() => t.write(f32([1, 2]))).toThrow(ShapeError);
    expect(() => t.write(f32([1, 2]))).toThrow(/write: tensor \[3\] f32 takes 3 f32 values, got 2 f32/);
    expect(() => t.write(f32([1, 2, 3, 4]))).toThrow(/takes 3 f32 values, got 4 f32/);
  });

  it('write() takes plain numbers, nested as the shape or flat, as rt.tensor does', async () => {
    const m = rt().tensor([[1, 2, 3], [4, 5, 6]]);
    m.write([[6, 5, 4], [3, 2, 1]]);
    expect(Array.from(await m.read())).toEqual([6, 5, 4, 3, 2, 1]);
    m.write([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(Array.from(await m.read())).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    const labels = rt().tensor([0, 0], undefined, { dtype: 'i32' });
    labels.write([7, -2]); // the tensor's dtype
    expect([labels.dtype, Array.from(await labels.read())]).toEqual(['i32', [7, -2]]);
    const one = rt().tensor(1);
    one.write(4);
    expect(await one.item()).toBe(4);
    expect(() => m.write([[1, 2], [3, 4], [5, 6]])).toThrow(/^write: tensor \[2, 3\] f32 takes values nested as its shape, or flat; got \[3, 2\]$/);
    expect(() => m.write([1, 2, 3])).toThrow(/takes 6 f32 values, got 3 f32/);
    expect(() => m.write([[1, 2, 3], [4, 5]])).toThrow(/^write: ragged data/);
  });

  it('takes typed arrays over a SharedArrayBuffer (as a worker shares them), for new tensors and writes', async () => {
    const shared = new Float32Array(new SharedArrayBuffer(16)).fill(1.5);
    const t = rt().tensor(shared);
    expect(Array.from(await t.read())).toEqual([1.5, 1.5, 1.5, 1.5]);
    shared[2] = 7;
    t.write(shared);
    expect(Array.from(await t.read())).toEqual([1.5, 1.5, 7, 1.5]);
    const bytes = new Uint8Array(new SharedArrayBuffer(8), 3, 3).fill(9);
    expect(Array.from(await rt().tensor(bytes).read())).toEqual([9, 9, 9]);
  });

  it('a program takes plain numbers for an input, nested as its shape or flat, in its dtype', async () => {
    const p = await rt().compile(({ x, k }) => ({ y: scale(x!, 2), k: k! }), { x: [2, 2], k: { shape: [2], dtype: 'i32' } });
    const out = p.run({ x: [[1, 2], [3, 4]], k: [7, -1] });
    expect(Array.from(await out.y!.read())).toEqual([2, 4, 6, 8]);
    expect(Array.from(await out.k!.read())).toEqual([7, -1]);
    expect(Array.from(await p.run({ x: [5, 6, 7, 8], k: [0, 0] }).y!.read())).toEqual([10, 12, 14, 16]);
    expect(() => p.run({ x: [[1, 2, 3], [4, 5, 6]], k: [0, 0] })).toThrow("program: input 'x' [2, 2] f32 takes values nested as its shape, or flat; got [2, 3]");
    expect(() => p.run({ x: [1, 2, 3], k: [0, 0] })).toThrow("program: input 'x' [2, 2] f32 takes 4 values, got 3");
    expect(() => p.run({ x: new Uint8Array(4), k: [0, 0] })).toThrow("program: input 'x' [2, 2] f32 takes Float32Array data or plain numbers, got Uint8Array (u8)");
    expect(() => p.run({ x: [1, 2, 3, 4], k: [0, 3e9] })).toThrow("program: input 'k' [2] i32: 3000000000 (value 1) does not fit i32");
  });

  it('plain numbers for an integer dtype are truncated as PyTorch does; one out of its range is a RangeError, not a wrapped value', async () => {
    expect(Array.from(await rt().tensor([1.7, -1.5, 2147483647, -2147483648], undefined, { dtype: 'i32' }).read())).toEqual([1, -1, 2147483647, -2147483648]);
    expect(Array.from(await rt().tensor([4294967295, 0.5], undefined, { dtype: 'u32' }).read())).toEqual([4294967295, 0]);
    expect(Array.from(await rt().full([2], 255.9, 'u8').read())).toEqual([255, 255]);
    const cases: [() => unknown, string][] = [
      [() => rt().tensor([1, 3e9], undefined, { dtype: 'i32' }), 'tensor: 3000000000 (value 1) does not fit i32, whose range is -2147483648 to 2147483647'],
      [() => rt().tensor([300], undefined, { dtype: 'u8' }), 'tensor: 300 does not fit u8, whose range is 0 to 255'],
      [() => rt().tensor([[0], [-1]], undefined, { dtype: 'u32' }), 'tensor: -1 (value 1) does not fit u32, whose range is 0 to 4294967295'],
      [() => rt().tensor([NaN], undefined, { dtype: 'i32' }), 'tensor: NaN does not fit i32'],
      [() => rt().full([2], 3e9, 'i32'), 'full: 3000000000 does not fit i32'],
      [() => rt().ones([2], 'i32').write([1, Infinity]), 'write: tensor [2] i32: Infinity (value 1) does not fit i32'],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(RangeError);
      expect(f).toThrow(message);
    }
  });
});

describe('errors', () => {
  it('a fragment included twice (directly and through another fragment) is inserted once, and the shader compiles', async () => {
    // matmul_io.wgsl includes nan.wgsl itself.
    const info = registerShader(
      'twice-include-test.wgsl',
      ['// #include "nan.wgsl"', '// #include "matmul_io.wgsl"', 'override WG: u32;', '@compute @workgroup_size(WG)', 'fn main() {', '  c[0] = 1.0;', '}'].join('\n'),
    );
    expect(info.lines.filter((l) => l.file === 'lib/nan.wgsl' && l.line === 1)).toHaveLength(1);
    const op = defineOp<object>({
      name: 'twice_include',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'twice-include-test.wgsl', constants: { WG: 1 }, bindings: { c: out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    expect(Array.from(await rt().record(op, [rt().zeros([1])], {}).read())).toEqual([1]);
  });

  it("an entry point's bindings are those its code uses, not those its comments or member names (v.a) name", async () => {
    const info = registerShader(
      'comment-binding-test.wgsl',
      [
        '@group(0) @binding(0) var<storage, read> a: array<f32>;',
        '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
        'struct Pair { a: f32, b: f32 }',
        '@compute @workgroup_size(1)',
        'fn main() {',
        '  let v = Pair(2.0, 3.0);',
        '  out[0] = v . a; // unlike copy, reads no a',
        '}',
        '@compute @workgroup_size(1)',
        'fn copy() {',
        '  out[0] = a[0];',
        '}',
      ].join('\n'),
    );
    expect(info.entryBindings.get('main')!.map((b) => b.name)).toEqual(['out']);
    expect(info.entryBindings.get('copy')!.map((b) => b.name)).toEqual(['a', 'out']);
    const op = defineOp<object>({
      name: 'two_only',
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'comment-binding-test.wgsl', bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });
    expect(Array.from(await rt().record(op, [rt().zeros([1])], {}).read())).toEqual([2]);
  });
});

describe('errors', () => {
  const fillOp = (name: string, params: Record<string, number | number[]>) =>
    defineOp<object>({
      name,
      infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
      encode: (ctx, _, out) => ctx.dispatch({ shader: 'fill.wgsl', constants: { WG: 64 }, params, bindings: { out }, workgroups: [1] }),
      backward: { notDifferentiable: 'test op' },
    });

  it('params that the shader\'s struct Params lacks, or more values than a field holds, are errors naming them', async () => {
    await expect(rt().record(fillOp('extra_param', { n: 4, value: 0, count: 4 }), [rt().zeros([4])], {}).read()).rejects.toThrow(/fill\.wgsl: struct Params has no field 'count'/);
    await expect(rt().record(fillOp('long_param', { n: [4, 4], value: 0 }), [rt().zeros([4])], {}).read()).rejects.toThrow(/fill\.wgsl: struct Params: n holds 1 value, got 2/);
  });
});

describe('scheduler', () => {
  it('stats() counts each pipeline once, when it is compiled', async () => {
    const own = await createRuntime();
    try {
      expect(own.stats().pipelinesCreated).toBe(0);
      await relu(own.tensor([-1, 1])).read();
      const once = own.stats().pipelinesCreated;
      expect(once).toBeGreaterThan(0);
      await relu(own.tensor([-2, 2])).read();
      expect(own.stats().pipelinesCreated).toBe(once);
      await sum(own.tensor([-2, 2])).read();
      expect(own.stats().pipelinesCreated).toBeGreaterThan(once);
    } finally {
      own.dispose();
    }
  });

  it('a deep chain of one op shares its uniforms and bind groups, and a program past the bind groups its driver allows is refused before any is made', async () => {
    // 20,000 tanh, alternating between two buffers: a bind group each had lavapipe map memory for
    // 20,000, and a chain over 65,530 crashed the process.
    const xs = [0.5, -0.3, 0.1];
    let y = rt().tensor(f32(xs));
    for (let i = 0; i < 20_000; i++) y = tanh(y);
    const before = rt().stats();
    const got = await y.read();
    const made = rt().stats().bindGroupsCreated - before.bindGroupsCreated;
    expect(made).toBeLessThan(10);
    let want = xs;
    for (let i = 0; i < 20_000; i++) want = want.map(Math.tanh);
    expectClose(got, want, 1e-4, 'tanh²⁰⁰⁰⁰');
    // A program of more distinct bind groups than the budget: refused, naming the count.
    const own = await createRuntime();
    try {
      Object.defineProperty(own, 'bindGroupBudget', { value: 50 });
      const x = own.tensor([1, 2, 3]);
      let z = x;
      const kept: Tensor[] = [];
      for (let i = 0; i < 60; i++) kept.push((z = add(z, x))); // each output kept: 60 buffers
      const err = await own.realize(kept).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceLimitError);
      expect((err as Error).message).toMatch(/its 60 dispatches need 60 bind groups, over the 50 one program may make on lavapipe/);
      expect(Array.from(await add(x, x).read())).toEqual([2, 4, 6]); // still usable
      // Within the budget, but past what the process has left of vm.max_map_count (the maps
      // that other programs and earlier work hold count too, and past it the process crashes).
      const maps = mapsInUse();
      expect(maps).toBeGreaterThan(100); // Linux's /proc/self/maps, read
      Object.defineProperty(own, 'bindGroupBudget', { value: Math.floor(0.75 * (maps + 2048 + 1100)) });
      const deep: Tensor[] = [];
      for (let i = 0; i < 1500; i++) deep.push((z = add(z, x)));
      const past = await own.realize(deep).catch((e: unknown) => e);
      expect(past).toBeInstanceOf(DeviceLimitError);
      expect((past as Error).message).toMatch(/^realize add output \[3\] f32, add output \[3\] f32, add output \[3\] f32, … \(1500 tensors\): its 1560 dispatches need 1501 bind groups, over the \d+ that lavapipe, which maps memory for each, can make now within vm\.max_map_count \(other programs, and eager work done before, hold maps too: dispose programs no longer needed\)/);
    } finally {
      own.dispose();
    }
  });

  it('a deep program fed new input tensors makes bind groups for the ranges they bind, not for each dispatch, and within the budget', async () => {
    const p = await rt().compile(({ x }) => {
      let y = x!;
      for (let i = 0; i < 2000; i++) y = tanh(add(y, x!));
      return { y };
    }, { x: [3] });
    const before = rt().stats().bindGroupsCreated;
    for (let k = 1; k <= 12; k++) {
      const xs = [0.1 * k, -0.05 * k, 0.3];
      let want = xs;
      for (let i = 0; i < 2000; i++) want = want.map((v, j) => Math.tanh(v + xs[j]!));
      expectClose(await p.run({ x: rt().tensor(f32(xs)) }).y!.read(), want, 1e-5, `run ${k}`);
    }
    // Each new tensor is bound by 2000 adds, which alternate between two ranges for y: two groups, not 2000.
    expect(rt().stats().bindGroupsCreated - before).toBeLessThanOrEqual(2 * 12);
    p.dispose();
    // With no room left in the budget, a new input tensor is refused, not given a bind group.
    const own = await createRuntime();
    try {
      const x0 = own.tensor([1, 2]);
      const built = await own.compile(({ x }) => ({ y: add(add(x!, x!), 1) }), { x: [2] });
      Object.defineProperty(own, 'bindGroupBudget', { value: 2 });
      const tight = await own.compile(({ x }) => ({ y: add(add(x!, x!), 1) }), { x: [2] });
      expect(Array.from(await built.run({ x: x0 }).y!.read())).toEqual([3, 5]);
      expect(() => tight.run({ x: x0 })).toThrow(DeviceLimitError);
    } finally {
      own.dispose();
    }
  });

  it('in debug mode every buffer handed out holds the poison: new ones, and those of disposed tensors', async () => {
    const poisoned = async (n: number) => new Uint32Array((await rt().empty([n]).read()).buffer).every((b) => b === 0x7fc00bad);
    expect(await poisoned(12345)).toBe(true); // a size class no other test uses: a new buffer
    const t = rt().full([5000], 1);
    await t.read();
    t.dispose();
    expect(await poisoned(5000)).toBe(true);
  });
});

describe('adapter', () => {
  it('tells CPU adapters (lavapipe, softpipe, SwiftShader, WARP, fallback ones) from GPUs by what they report', () => {
    const cpu = [
      { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7' },
      { vendor: 'mesa', description: 'softpipe' },
      { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' },
      { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' },
      { vendor: 'unknown', isFallbackAdapter: true },
    ];
    const gpu = [
      { vendor: 'nvidia', architecture: '', device: 'nvidia-h200', description: 'NVIDIA: 580.159.04 580.159.4.0' },
      { vendor: 'apple', architecture: 'metal-3', description: '' },
      { vendor: 'intel', architecture: 'gen-12lp', description: 'Intel open-source Mesa driver: Mesa 24.0' },
      { vendor: 'amd', architecture: 'rdna-3', description: 'radv: Mesa 24.0' },
      { vendor: 'qualcomm', architecture: 'adreno-7xx', isFallbackAdapter: false },
    ];
    expect(cpu.map(isSoftwareAdapter)).toEqual(cpu.map(() => true));
    expect(gpu.map(isSoftwareAdapter)).toEqual(gpu.map(() => false));
    expect(isSoftwareAdapter(undefined)).toBe(false);
  });
});
