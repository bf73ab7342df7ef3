// Lifetimes: memory comes back from dropped tensors and programs, a run that throws changes
// nothing, a disposed program's tensors are unusable, work in flight at rt.dispose() is refused
// cleanly, and what the host hands in (arrays, buffers, tensors) is checked before any work.
import { describe, expect, it, vi } from 'vitest';
import { globals } from 'webgpu';
import { Adam, add, backward, createRuntime, DeviceLimitError, exp, linear, matmul, Model, mul, relu, scale, SGD, ShapeError, sum, tanh, TensorStateError, type InputSpecs, type Runtime, type Tensor } from '../src/index.js';
import { collectGarbage, expectClose, f32, useRuntime } from './helpers.js';

const { GPUBufferUsage } = globals as { GPUBufferUsage: typeof globalThis.GPUBufferUsage };

const rt = useRuntime();

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 7) - 3);

/**
 * Runs `work` `times` times (in a function of its own, so that no frame still holds what it
 * made), then checks that every buffer it took is back once collected; `drain` waits for the
 * GPU first.
 */
async function expectReturned(r: Runtime, times: number, work: () => Promise<void>, drain = false): Promise<void> {
  await collectGarbage();
  const base = r.stats().inUseBytes;
  for (let i = 0; i < times; i++) await work();
  if (drain) await r.sync();
  await collectGarbage();
  expect(r.stats().inUseBytes).toBe(base);
}

describe('memory', () => {
  it("waits on the GPU leave nothing behind (a wait raced against the device's loss kept a reaction each, for good)", async () => {
    const r = rt();
    await r.sync();
    await collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) await r.sync();
    await collectGarbage();
    // About 300 bytes each before: 6 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1.5e6);
  });

  it("runtimes disposed on a host's device are collected, though the device lives on", async () => {
    const refs: WeakRef<Runtime>[] = [];
    for (let i = 0; i < 5; i++) {
      const guest = await createRuntime({ device: rt().device });
      await guest.tensor([1, 2]).read();
      guest.dispose();
      refs.push(new WeakRef(guest));
    }
    await collectGarbage();
    expect(refs.filter((w) => w.deref()).length).toBeLessThanOrEqual(1);
  });

  it('tensors and programs dropped without dispose() give their buffers back once collected', async () => {
    const r = rt();
    const w = r.tensor(ramp(64 * 64), [64, 64]);
    await expectReturned(r, 10, async () => {
      // Eager: the result and every intermediate are dropped after the read.
      await sum(relu(matmul(r.tensor(ramp(64 * 64), [64, 64]), w))).read();
      const p = await r.compile(({ x }) => ({ y: relu(matmul(x!, w)) }), { x: [64, 64] });
      await p.run({ x: ramp(64 * 64) }).y!.read();
    });
  });

  it('emptyCache() destroys the pooled buffers no tensor holds; those in use stay, and later work allocates anew', async () => {
    const r = await createRuntime();
    const kept = r.tensor(ramp(1000));
    for (const n of [3000, 5000, 7000]) {
      const a = r.tensor(ramp(n));
      await add(a, a).read(); // its result is dropped
      a.dispose();
    }
    await collectGarbage();
    const before = r.stats();
    expect(before.liveBytes).toBeGreaterThan(before.inUseBytes + 3 * 3000 * 4);
    r.emptyCache();
    const after = r.stats();
    expect(after.liveBytes).toBe(after.inUseBytes);
    expect(after.inUseBytes).toBe(before.inUseBytes);
    expect(Array.from(await scale(kept, 2).read())).toEqual(Array.from(ramp(1000), (v) => 2 * v));
    expect(r.stats().buffersCreated).toBeGreaterThan(after.buffersCreated);
    // The process's memory comes back at once, not at the next piece of work: 256 MiB written,
    // freed, then emptyCache() and a sync (a wait, no work).
    const big = [0, 1, 2, 3].map(() => r.zeros([4096, 4096]));
    await r.realize(big.map((t) => relu(t)));
    for (const t of big) t.dispose();
    await collectGarbage();
    await r.sync();
    const held = process.memoryUsage().rss;
    r.emptyCache();
    await r.sync();
    expect(held - process.memoryUsage().rss).toBeGreaterThan(200 * 2 ** 20);
    r.dispose();
    expect(() => r.emptyCache()).toThrow(TensorStateError);
  });

  it('programs bound to views of each other\'s outputs are collected once dropped', async () => {
    const r = rt();
    const work = async () => {
      const p = await r.compile(({ x }) => ({ y: scale(x!, 2) }), { x: [1024] });
      const q = await r.compile(({ x }) => ({ y: scale(x!, 3) }), { x: [1024] });
      const py = p.run({ x: ramp(1024) }).y!;
      const qy = q.run({ x: py.detach() }).y!;
      p.run({ x: qy.reshape(1024) }); // each now holds a tensor on the other's buffer
    };
    await expectReturned(r, 3, work, true);
  });

  it('programs run without any read (paced by settle()) are collected too', async () => {
    const r = rt();
    await expectReturned(r, 5, async () => {
      const p = await r.compile(({ x }) => ({ y: scale(x!, 2) }), { x: [1024] });
      p.run({ x: ramp(1024) });
      await r.settle(2);
    });
    await r.sync();
  });

  it('an output keeps its program (and its buffer) alive', async () => {
    const r = rt();
    const y = await (async () => {
      const p = await r.compile(({ x }) => ({ y: scale(x!, 3) }), { x: [4] });
      return p.run({ x: f32([1, 2, 3, 4]) }).y!;
    })();
    await collectGarbage();
    // Programs compiled since would have taken the buffer had it gone back to the pool.
    for (let i = 0; i < 3; i++) (await r.compile(({ x }) => ({ z: scale(x!, -1) }), { x: [4] })).run({ x: f32([9, 9, 9, 9]) });
    expect(Array.from(await y.read())).toEqual([3, 6, 9, 12]);
  });

  it('stats().peakBytes keeps the most bytes ever in use, after they are freed', async () => {
    const own = await createRuntime();
    try {
      own.zeros([1 << 18]).dispose(); // 1 MiB
      expect(own.stats().peakBytes).toBeGreaterThanOrEqual(1 << 20);
      own.zeros([1 << 19]).dispose(); // 2 MiB
      const peak = own.stats().peakBytes;
      expect(peak).toBeGreaterThanOrEqual(1 << 21);
      own.zeros([1 << 10]).dispose();
      expect(own.stats().inUseBytes).toBeLessThan(1 << 20);
      expect(own.stats().peakBytes).toBe(peak);
    } finally {
      own.dispose();
    }
  });

  it("stats().peakBytes counts a compiled program's buffers and an eager chain's intermediates", async () => {
    for (const eager of [false, true]) {
      const own = await createRuntime();
      try {
        const x = own.zeros([512, 512]); // 1 MiB
        if (eager) {
          // The product (1 MiB) lives only inside the realisation of its sum.
          await sum(matmul(x, x)).read();
        } else {
          // The program's own input and its output, taken as it is built.
          await own.compile(({ x }) => ({ y: scale(x!, 3) }), { x: [512, 512] });
        }
        // x and the product, or x and the program's input and output.
        expect(own.stats().peakBytes, eager ? 'eager' : 'compiled').toBeGreaterThanOrEqual((eager ? 2 : 3) << 20);
      } finally {
        own.dispose();
      }
    }
  });
});

describe('programs', () => {
  it('a run that throws leaves the bindings of the last good run', async () => {
    const p = await rt().compile(({ x, y }) => ({ z: add(x!, y!) }), { x: [4], y: [4] });
    const a = rt().tensor(f32([100, 200, 300, 400]));
    expect(() => p.run({ x: a })).toThrow(/input 'y' never given/);
    expect(Array.from(await p.run({ x: a, y: f32([1, 1, 1, 1]) }).z!.read())).toEqual([101, 201, 301, 401]);
    const b = rt().tensor(f32([5, 5, 5, 5]));
    expect(() => p.run({ x: b, y: f32([1, 2, 3]) })).toThrow(/input 'y' \[4\] f32 takes 4 values, got 3$/);
    expect(Array.from(await p.run({ y: f32([3, 3, 3, 3]) }).z!.read())).toEqual([103, 203, 303, 403]);
  });

  it("a disposed program's outputs and inputs are unusable, in other programs too", async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    const { y } = p.run({ x: f32([1, 2, 3, 4]) });
    const q = await rt().compile(({ x }) => ({ z: relu(x!) }), { x: [4] });
    expect(Array.from(await q.run({ x: y! }).z!.read())).toEqual([2, 4, 6, 8]);
    const input = p.input('x');
    p.dispose();
    // Buffers back in the pool, handed to the next program: nothing may read or write them.
    const other = await rt().compile(({ x }) => ({ w: scale(x!, 7) }), { x: [4] });
    other.run({ x: f32([1, 1, 1, 1]) });
    await expect(y!.read()).rejects.toThrow(/program was disposed|was released/);
    expect(() => input.write(f32([0, 0, 0, 0]))).toThrow(TensorStateError);
    expect(() => q.run()).toThrow(/input 'x' is still bound to a tensor that was disposed/);
    expect(() => p.run({ x: f32([1, 2, 3, 4]) })).toThrow(/the program was disposed/);
  });

  it('a tensor stays bound while the program holds it, even one the app no longer references', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    // Inline: nothing but the program refers to the tensor after this run.
    await p.run({ x: rt().tensor(f32([1, 2, 3, 4])) }).y!.read();
    for (let i = 0; i < 3; i++) {
      await collectGarbage();
      rt().full([4], 9); // would take a freed buffer
    }
    expect(Array.from(await p.run().y!.read())).toEqual([2, 4, 6, 8]);
  });

  it('input(name) binds the program\'s own buffer again, after a tensor was bound', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    expect(Array.from(await p.run({ x: rt().tensor(f32([1, 2, 3, 4])) }).y!.read())).toEqual([2, 4, 6, 8]);
    p.input('x').write(f32([5, 6, 7, 8]));
    expect(Array.from(await p.run().y!.read())).toEqual([10, 12, 14, 16]);
    // And a tensor given to run() wins over an input() handed out before it.
    p.input('x');
    expect(Array.from(await p.run({ x: rt().tensor(f32([1, 1, 1, 1])) }).y!.read())).toEqual([2, 2, 2, 2]);
    expect(Array.from(await p.run().y!.read())).toEqual([2, 2, 2, 2]);
  });

  it("a tensor in another input's buffer is taken with the values it holds when given", async () => {
    const p = await rt().compile(({ x, y }) => ({ xv: x!.reshape(2), s: add(x!, y!) }), { x: [2], y: [2] });
    const first = p.run({ x: f32([1, 2]), y: f32([10, 20]) });
    // first.xv lives in x's buffer, which this run fills with new values: y must see [1, 2]...
    expect(Array.from(await p.run({ x: f32([100, 200]), y: first.xv! }).s!.read())).toEqual([101, 202]);
    // ...and go on seeing them while it stays bound and x changes.
    expect(Array.from(await p.run({ x: f32([5, 5]) }).s!.read())).toEqual([6, 7]);
    // x fed from an output of the run (copied in as the run starts), y from x's buffer before.
    const r = p.run({ x: f32([1, 2]), y: f32([3, 4]) });
    expect(Array.from(await p.run({ x: r.s!, y: r.xv! }).s!.read())).toEqual([5, 8]);
    // Inputs given each other's views, a chain and a cycle, u8 too: each takes the old values.
    const q = await rt().compile(({ a, b, c }) => ({ av: a!.reshape(2), bv: b!.reshape(2), cv: c!.reshape(2) }), {
      a: { shape: [2], dtype: 'u8' },
      b: { shape: [2], dtype: 'u8' },
      c: { shape: [2], dtype: 'u8' },
    });
    const q1 = q.run({ a: Uint8Array.of(1, 2), b: Uint8Array.of(3, 4), c: Uint8Array.of(5, 6) });
    const q2 = q.run({ a: q1.cv!, b: q1.av!, c: q1.bv! });
    expect(await Promise.all([q2.av!, q2.bv!, q2.cv!].map(async (t) => Array.from(await t.read())))).toEqual([[5, 6], [1, 2], [3, 4]]);
    // Copied into, an input's buffer changes as by a host write: a program bound to a view of it
    // from before is refused, not fed the new values.
    const r1 = q.run({ a: Uint8Array.of(1, 2), b: Uint8Array.of(3, 4), c: Uint8Array.of(5, 6) });
    const c = await rt().compile(({ v }) => ({ w: v!.reshape(2) }), { v: { shape: [2], dtype: 'u8' } });
    expect(Array.from(await c.run({ v: r1.bv! }).w!.read())).toEqual([3, 4]);
    q.run({ b: r1.av! });
    expect(() => c.run()).toThrow(/input 'v' is still bound to an output of a program that has run again since/);
  });

  it("an input left bound to another program's output is refused once that program has run again", async () => {
    const a = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [2] });
    const b = await rt().compile(({ x }) => ({ z: scale(x!, 10) }), { x: [2] });
    const { y } = a.run({ x: f32([1, 2]) });
    expect(Array.from(await b.run({ x: y! }).z!.read())).toEqual([20, 40]);
    expect(Array.from(await b.run().z!.read())).toEqual([20, 40]); // still a's current output
    const next = a.run({ x: f32([3, 4]) }).y!;
    expect(() => b.run()).toThrow(/input 'x' is still bound to an output of a program that has run again since; pass its new output/);
    expect(Array.from(await b.run({ x: next }).z!.read())).toEqual([60, 80]);
  });

  it('a read inside the traced function of a value only the program has fails compile, and nothing rejects later', async () => {
    const traced = ({ x }: Record<string, Tensor>) => {
      void sum(x!).item(); // not awaited, as a synchronous function cannot
      return { y: relu(x!) };
    };
    await expect(rt().compile(traced, { x: [3] })).rejects.toThrow(/^realize: the value depends on program input 'x'; it exists only inside the compiled program$/);
    // An unhandled rejection from the read would fail this test file.
    await new Promise((r) => setTimeout(r, 50));
  });

  it('a read inside the traced function of an eager value keeps the companions it carries', async () => {
    // backward() makes the loss ride with the gradient; a read of the gradient while tracing
    // must still compute the loss with it, before the step below overwrites x.
    const x = rt().tensor([1, 2], [2], { name: 'x', requiresGrad: true });
    const q = rt().tensor([3, -1], [2], { name: 'q', requiresGrad: true });
    const loss = sum(mul(x, q));
    backward(loss);
    let read: Promise<unknown> | undefined;
    await rt().compile(({ v }) => {
      read = x.grad!.read();
      return { y: relu(v!) };
    }, { v: [2] });
    expect(Array.from((await read) as Float32Array)).toEqual([3, -1]);
    await new SGD([x], { lr: 0.1 }).step();
    expect(await loss.item()).toBe(1);
  });

  it('an input the traced function reads but compile was not given a spec for is named', async () => {
    // In JavaScript, or past the types (which name the declared inputs only).
    type Loose = Record<string, Tensor | undefined>;
    const missing =
      "compile: the traced function reads input 'x', but none is declared; give each input's shape (or { shape, dtype }) in compile's second argument, " +
      'as rt.compile(fn, { x: [2, 3] }) (relu: x must be a Tensor, got undefined)';
    await expect(rt().compile(({ x }: Loose) => relu(x!))).rejects.toThrow(TypeError);
    await expect(rt().compile(({ x }: Loose) => relu(x!))).rejects.toThrow(missing);
    await expect(rt().compile(({ x, y }: Loose) => add(x!, y!), { x: [2] })).rejects.toThrow(/^compile: the traced function reads input 'y', but only 'x' is declared; .* \(add: b must be a Tensor or a number, got undefined\)$/);
    // An input probed for (optional) is no error; nor is compile's own look at a record of inputs returned as it is.
    const p = await rt().compile(({ x, bias }: Loose) => ({ y: bias ? add(x!, bias) : relu(x!) }), { x: [2] });
    expect(Array.from(await p.run({ x: [-1, 2] }).y!.read())).toEqual([0, 2]);
    const q = await rt().compile((inputs) => inputs, { x: [2] });
    expect(Array.from(await q.run({ x: [1, 2] }).x!.read())).toEqual([1, 2]);
    // After an optional input was probed for, another TypeError comes through as it is.
    const relu2 = 'relu: x must be a Tensor, got the number 2 (rt.tensor(2) makes a tensor of it; add, sub, mul, div, maximum and minimum take a number for either operand)';
    await expect(rt().compile(({ x, bias }: Loose) => ({ y: bias ? add(x!, bias) : relu(2 as never) }), { x: [2] })).rejects.toThrow(new TypeError(relu2));
    const cfg = undefined as unknown as { scale: number };
    await expect(rt().compile(({ x, bias }: Loose) => ({ y: bias ? add(x!, bias) : scale(x!, cfg.scale) }), { x: [2] })).rejects.toThrow(/^Cannot read properties of undefined \(reading 'scale'\)$/);
  });

  it('a traced function must return tensors', async () => {
    await expect(rt().compile(() => 3 as never)).rejects.toThrow(/compile: the traced function returned 3/);
    await expect(rt().compile(() => ({ a: 3 }) as never)).rejects.toThrow(/compile: output 'a' is 3, not a Tensor/);
  });

  it('a read asked for before the program runs again gets the old values, with eager work queued', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 1) }), { x: [3] });
    const { y } = p.run({ x: f32([1, 2, 3]) });
    const other = relu(rt().tensor(ramp(256 * 256), [256, 256]));
    const busy = other.realize(); // eager work queued: not this tensor's
    const first = y!.read();
    p.run({ x: f32([7, 8, 9]) });
    expect(Array.from(await first)).toEqual([1, 2, 3]);
    await busy;
  });

  it('profiling a program with no dispatch gives no timings and leaves the device clean', async () => {
    const r = rt();
    if (!r.device.features.has('timestamp-query')) throw new Error('this adapter lacks timestamp-query, which the test needs');
    const p = await r.compile(() => {});
    expect(await p.profile()).toEqual([]);
    expect(Array.from(await relu(r.tensor([-1, 2])).read())).toEqual([0, 2]);
  });
});

describe('what the host hands in', () => {
  it('item() gives the value of a one-element tensor, and refuses others', async () => {
    expect(await sum(rt().tensor([[1.5, 2], [3, 4]])).item()).toBe(10.5);
    expect(await rt().tensor([[7]], undefined, { dtype: 'i32' }).item()).toBe(7);
    await expect(rt().tensor([1, 2]).item()).rejects.toThrow(/item: tensor \[2\] f32 has 2 elements, not one/);
  });

  it('tolist() gives the values nested as the shape, as torch.tensor takes them back: a number for a 0-d tensor', async () => {
    const nested = [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]];
    expect(await rt().tensor(nested).tolist()).toEqual(nested);
    expect(await rt().tensor(nested, undefined, { dtype: 'i32' }).reshape(3, 4).tolist()).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
    expect(await sum(rt().tensor([1.5, 2])).tolist()).toBe(3.5);
    expect(await rt().zeros([2, 0, 3]).tolist()).toEqual([[], []]);
    expect(await rt().zeros([0]).tolist()).toEqual([]);
  });

  it('nested plain arrays as torch.tensor takes them: the nesting is the shape', async () => {
    const t = rt().tensor([[1, 2, 3], [4, 5, 6]]);
    expect([t.shape, t.dtype]).toEqual([[2, 3], 'f32']);
    expect(Array.from(await t.read())).toEqual([1, 2, 3, 4, 5, 6]);
    const labels = rt().tensor([[[7]], [[8]]], undefined, { dtype: 'i32' });
    expect([labels.shape, Array.from(await labels.read())]).toEqual([[2, 1, 1], [7, 8]]);
    expect(rt().tensor([[1, 2], [3, 4]], [4]).shape).toEqual([4]);
    expect(rt().tensor([]).shape).toEqual([0]);
    expect(() => rt().tensor([[1, 2], [3]])).toThrow(/tensor: ragged data: \[1\] has 1 entries where \[2, 2\] needs 2/);
    expect(() => rt().tensor([[1, 2], 3] as never)).toThrow(/tensor: ragged data: \[1\] has a number where \[2, 2\] needs 2/);
    expect(() => rt().tensor([1, '2'] as never)).toThrow(/tensor: element \[1\] is string, not a number/);
    expect(() => rt().tensor([[1, 2]], [3])).toThrow(/tensor: 2 values do not fill shape \[3\]/);
    // A lone number is 0-d, as torch.tensor(3).
    const three = rt().tensor(3);
    expect([three.shape, three.dtype, await three.item()]).toEqual([[], 'f32', 3]);
    expect(await rt().tensor(-2, undefined, { dtype: 'i32' }).item()).toBe(-2);
  });

  it('an unknown dtype is named by the call that was given it', async () => {
    expect(() => rt().tensor([1, 2], undefined, { dtype: 'f64' as never })).toThrow(/^tensor: unknown dtype "f64": use 'f32', 'i32', 'u32' or 'u8'$/);
    expect(() => rt().tensor([1, 2], undefined, { dtype: 'int64' as never })).toThrow(/^tensor: unknown dtype "int64"/);
    expect(() => rt().zeros([2], 'float32' as never)).toThrow(/^zeros: unknown dtype "float32"/);
    expect(() => rt().full([2], 1, undefined as never)).not.toThrow(); // the default
    expect(() => rt().empty([2], 'bool' as never)).toThrow(/^empty: unknown dtype "bool"/);
    await expect(rt().compile(({ a }) => ({ a: a! }), { a: { shape: [2], dtype: 'float32' as never } })).rejects.toThrow(/^compile input 'a': unknown dtype "float32"/);
    expect(() => rt().ones([-1])).toThrow(/^ones: invalid shape \[-1\]$/);
    expect(() => rt().full([-1], 2)).toThrow(/^full: invalid shape \[-1\]$/);
    await expect(rt().compile(({ x }) => ({ y: relu(x!) }), { x: 'abc' as never })).rejects.toThrow(/^compile input 'x': expected a shape \(an array of sizes\) or \{ shape, dtype \}, got "abc"$/);
    await expect(rt().compile(({ x }) => ({ y: relu(x!) }), { x: { shape: 'abc' as never } })).rejects.toThrow(/^compile input 'x': a shape is an array of sizes, got "abc"$/);
    expect(() => rt().zeros([2 ** 30])).toThrow(/^zeros: tensor \[1073741824\] f32 is 4294967296 bytes, over this device's limit of \d+ bytes per buffer( binding)?/);
    // A program input too large is named as the input, before the traced function runs.
    const traced = vi.fn(({ a }: Record<string, Tensor>) => ({ b: relu(a!) }));
    await expect(rt().compile(traced, { a: [2 ** 30] })).rejects.toThrow(/^compile input 'a': input \[1073741824\] f32 is 4294967296 bytes, over this device's limit/);
    expect(traced).not.toHaveBeenCalled();
    // Names an object has (toString) or a value that only converts to one (['f32']) are no dtype.
    expect(() => rt().zeros([2], 'toString' as never)).toThrow(/^zeros: unknown dtype "toString"/);
    expect(() => rt().zeros([2], ['f32'] as never)).toThrow(/^zeros: unknown dtype \["f32"\]/);
    // Options in the dtype's place are options (the dtype among them); an unknown dtype there is named too.
    expect(rt().zeros([2], { dtype: 'i32' }).dtype).toBe('i32');
    expect(() => rt().zeros([2], { dtype: 'int' as never })).toThrow(/^zeros: unknown dtype "int"/);
  });

  it('the options come third, as an object: a dtype in their place, or an option not taken, is refused', async () => {
    const i32 = rt().tensor([1, 2, 3], undefined, { dtype: 'i32' });
    expect([i32.dtype, Array.from(await i32.read())]).toEqual(['i32', [1, 2, 3]]);
    const before = rt().stats().bytesAllocated;
    // As rt.zeros takes it, but torch.tensor's dtype is a keyword: read as options, 'i32' gave f32.
    expect(() => rt().tensor([1, 2, 3], undefined, 'i32' as never)).toThrow(/^tensor: options must be an object \(with dtype, requiresGrad, name\), got "i32"$/);
    expect(() => rt().tensor([1, 2], [2], { type: 'i32' } as never)).toThrow(/^tensor: unknown option 'type' \(it takes dtype, requiresGrad, name\)$/);
    expect(() => rt().tensor([1], undefined, null as never)).toThrow(/^tensor: options must be an object .*got null$/);
    expect(() => rt().zeros([2], 'f32', { requires_grad: true } as never)).toThrow(/^zeros: unknown option 'requires_grad'/);
    expect(() => rt().empty([2], 'f32', 'x' as never)).toThrow(/^empty: options must be an object/);
    // zeros, ones, full and empty take the dtype as an argument: one in the options is refused, not ignored.
    expect(() => rt().zeros([2], undefined, { dtype: 'i32' } as never)).toThrow("zeros: unknown option 'dtype' (it takes requiresGrad, name): the dtype is an argument of zeros(), before the options");
    expect(() => rt().full([2], 7, 'f32', { dtype: 'u8' } as never)).toThrow(/^full: unknown option 'dtype'/);
    // A typed array carries its dtype: another one is refused, not converted.
    expect(() => rt().tensor(new Int32Array([1, 2]), undefined, { dtype: 'f32' })).toThrow(
      /^tensor: dtype f32 was asked for but the data is Int32Array \(i32\): give Float32Array data or plain numbers, or leave the dtype out$/,
    );
    expect(rt().stats().bytesAllocated).toBe(before);
  });

  it('host arrays of other types, and missing ones, are refused, naming the array and where', async () => {
    const p = await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [3] });
    expect(() => rt().tensor(new Float64Array([1.5, 2, 3]) as never)).toThrow(/tensor: expected a Float32Array.*got Float64Array/);
    expect(() => rt().tensor(new Int16Array([1, 300, -2]) as never)).toThrow(ShapeError);
    expect(() => p.run({ x: new Float64Array(3) as never })).toThrow(/program input 'x': expected a Float32Array.*got Float64Array/);
    expect(() => p.run({ x: undefined as never })).toThrow(/program input 'x': .*got undefined/);
  });

  it('a tensor of another runtime is refused by a program before anything is encoded', async () => {
    const other = await createRuntime();
    try {
      const p = await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [2] });
      expect(() => p.run({ x: other.tensor([1, 2]) })).toThrow(/input 'x' is tensor \[2\] f32 of another runtime/);
      expect(Array.from(await p.run({ x: f32([-1, 1]) }).y!.read())).toEqual([0, 1]);
    } finally {
      other.dispose();
    }
  });

  it("wrapped buffers: a negative offset, an unknown dtype, and a read without COPY_SRC, are named errors that never reach the host's device", async () => {
    const device = rt().device;
    const uncaptured: string[] = [];
    const listen = (ev: Event) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
    device.addEventListener('uncapturederror', listen);
    const buf = device.createBuffer({ size: 512, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    try {
      expect(() => rt().wrap(buf, [4], 'f32', -256)).toThrow(/wrap: byteOffset -256 is not a non-negative multiple/);
      expect(() => rt().wrap(new Float32Array(4) as never, [4])).toThrow(new TypeError('wrap: buffer must be a GPUBuffer, got a Float32Array of length 4 (rt.tensor(data, shape) uploads it)'));
      expect(() => rt().wrap(undefined as never, [4])).toThrow(new TypeError('wrap: buffer must be a GPUBuffer, got undefined'));
      expect(() => rt().wrap(buf, [4], 'float32' as never)).toThrow(/^wrap: unknown dtype "float32": use 'f32', 'i32', 'u32' or 'u8'$/);
      const t = rt().wrap(buf, [4]);
      await expect(t.read()).rejects.toThrow(/lacks GPUBufferUsage.COPY_SRC/);
      expect(Array.from(await relu(t).read())).toEqual([0, 0, 0, 0]); // the buffer is zeroed at creation
      await rt().sync();
      expect(uncaptured).toEqual([]);
    } finally {
      device.removeEventListener('uncapturederror', listen);
      buf.destroy();
    }
  });

  it('a read that fails (a destroyed host buffer) leaves later reads working', async () => {
    const device = rt().device;
    const buf = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const gone = rt().wrap(buf, [256]);
    buf.destroy();
    await expect(gone.read()).rejects.toThrow(/read tensor \[256\] f32: .*destroyed/);
    const t = rt().tensor(new Float32Array(256).fill(5));
    for (let i = 0; i < 2; i++) expect((await t.read())[0]).toBe(5); // the same staging size
  });

  it("a read waits for a queued eager update of its buffer, through another tensor on it too", async () => {
    const p = rt().tensor([0, 0, 0], [3], { name: 'p' });
    const view = rt().wrap(p.buffer, [3]);
    void new SGD([p], { lr: 1 }).step([rt().tensor([1, 2, 3])]); // queued: compiles first
    expect(Array.from(await view.read())).toEqual([-1, -2, -3]);
  });

  it('a tensor too large for the device is refused before any host memory is filled', () => {
    // A host copy of its values (4 GB) made before the check would still be allocated here:
    // nothing runs in between to collect it. Unlike a time bound, this catches one never filled.
    const before = process.memoryUsage().arrayBuffers;
    expect(() => rt().zeros([1e9])).toThrow(DeviceLimitError);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1e8);
  });
});

describe('views of lazy values', () => {
  it('a view computed before its lazy value shares its buffer with it, without holding it: disposing the view frees it', async () => {
    const x = rt().tensor(new Float32Array(2 * 64 * 64).fill(1), [2, 64, 64]);
    const w = rt().tensor(new Float32Array(64 * 64).fill(0.5), [64, 64]);
    await collectGarbage();
    const before = rt().stats().inUseBytes;
    const y = linear(x, w); // the matmul of linear(x2d, w).reshape(...): internal, lazy
    await y.read();
    y.dispose();
    expect(rt().stats().inUseBytes - before).toBe(0);
    // While the view lives, its lazy value shows the same buffer: a write to one shows in the other.
    const a = add(rt().tensor([1, 2, 3, 4]), 1);
    const v = a.reshape(2, 2);
    await v.read();
    v.write([[9, 9], [9, 9]]);
    expect(Array.from(await a.read())).toEqual([9, 9, 9, 9]);
    a.write([7, 7, 7, 7]);
    expect(Array.from(await v.read())).toEqual([7, 7, 7, 7]);
    // Once the view is disposed, the value is lazy again, computed anew where read.
    const b = add(rt().tensor([1, 2]), 1);
    const u = b.reshape(2, 1);
    await u.read();
    u.dispose();
    expect(b.storage).toBeUndefined();
    expect(Array.from(await b.read())).toEqual([2, 3]);
  });

  it('an op recorded on a lazy view of a realised value, after a write to that value queued behind the view\'s read, reads the written values', async () => {
    const a = add(rt().tensor(f32([1, 2])), 1);
    const v = a.reshape(2, 1); // lazy: a is
    await a.read();
    const viewed = v.read(); // queued: v becomes a view of a in its turn
    a.write(f32([5, 6])); // queued behind that read
    const doubled = add(v, v); // recorded after the write, as PyTorch runs it: reads [5, 6]
    expect(Array.from(await viewed)).toEqual([2, 3]);
    expect(Array.from(await doubled.read())).toEqual([10, 12]);
  });
  it('a run refused leaves a value that borrowed its view\'s storage borrowing: the view\'s dispose still frees it', async () => {
    const r = rt();
    const p = await r.compile(({ x, y }) => ({ out: add(scale(x!, 2), y!) }), { x: [4], y: [4] });
    const a = add(r.tensor([1, 2, 3, 4]), 1);
    const v = a.reshape(2, 2);
    await v.realize();
    expect(() => p.run({ x: a })).toThrow(/input 'y' never given/);
    v.dispose();
    expect(a.storage).toBeUndefined();
    expect(Array.from(await a.read())).toEqual([2, 3, 4, 5]);
    p.dispose();
  });

  it('a realize refused (a disposed value among those asked for) leaves a value that borrowed its view\'s storage borrowing', async () => {
    const a = add(rt().tensor([1, 2, 3, 4]), 1);
    const v = a.reshape(2, 2);
    await v.realize();
    const gone = scale(rt().tensor([1]), 2);
    gone.dispose();
    expect(() => rt().realize([a, gone])).toThrow(/^realize: affine output \[1\] f32 was disposed$/);
    v.dispose();
    expect(a.storage).toBeUndefined();
  });
});

describe('disposed lazy values', () => {
  it('are not computed: a realize, a read or a step given one is refused, naming it (a realize of a disposed realised tensor too); a disposed intermediate is no matter', async () => {
    const x = rt().tensor([1, -2, 3]);
    const y = relu(x);
    y.dispose();
    await expect(y.realize()).rejects.toThrow(/^realize: .* was disposed$/);
    const gone = rt().tensor([1]);
    gone.dispose();
    await expect(gone.realize()).rejects.toThrow(/^realize: .* was disposed$/); // realised, too
    await expect(y.read()).rejects.toThrow(/^read: .* was disposed$/);
    const p = rt().tensor([1, 1, 1]);
    const g = scale(x, 2);
    g.dispose();
    expect(() => new SGD([p], { lr: 1 }).step([g])).toThrow(/^sgd: .* was disposed$/);
    const h = relu(x);
    const z = scale(h, 2);
    h.dispose();
    expect(Array.from(await z.read())).toEqual([2, 0, 6]);
  });

  // Runs `during` once, as the next eager program compiles (its inputs checked, not yet run).
  const whileCompiling = (r: Runtime, during: () => void) => {
    let once: (() => void) | undefined = during;
    const prepare = r.pipelines.prepare.bind(r.pipelines);
    return vi.spyOn(r.pipelines, 'prepare').mockImplementation((k) => {
      once?.();
      once = undefined;
      return prepare(k);
    });
  };

  it('a read whose input is disposed while its program compiles reads it: the memory goes back after the read', async () => {
    const x = rt().tensor([1, 2, 3]);
    const spy = whileCompiling(rt(), () => x.dispose());
    try {
      expect(Array.from(await scale(x, 2).read())).toEqual([2, 4, 6]);
    } finally {
      spy.mockRestore();
    }
    expect(x.disposed).toBe(true);
    expect(x.storage!.disposed).toBe(true);
  });

  it('a loss disposed while the step that computes it along compiles leaves the step to run, and is freed', async () => {
    const w = rt().tensor([1, 2, 3], [3], { requiresGrad: true, name: 'w' });
    const opt = new SGD([w], { lr: 1 });
    const loss = sum(mul(w, w));
    backward(loss);
    const spy = whileCompiling(rt(), () => loss.dispose()); // not read: not needed
    try {
      await opt.step();
    } finally {
      spy.mockRestore();
    }
    expect(loss.storage).toBeUndefined();
    expect(Array.from(await w.read())).toEqual([-1, -2, -3]);
  });
});

describe('dispose() after asking for work that reads the tensor', () => {
  const inUse = () => rt().stats().inUseBytes;

  it('a read asked for first reads it; its memory goes back once that read has run', async () => {
    const before = inUse();
    const x = rt().tensor(f32([1, 2, 3]));
    const y = scale(x, 2);
    const read = y.read();
    x.dispose();
    expect(x.disposed).toBe(true);
    expect(x.storage!.disposed).toBe(false); // the read still needs it
    expect(Array.from(await read)).toEqual([2, 4, 6]);
    expect(x.storage!.disposed).toBe(true);
    y.dispose();
    expect(inUse()).toBe(before);
  });

  it('a tensor disposed after its own read was asked for is read, then freed; asked for again, it is refused', async () => {
    const before = inUse();
    const x = rt().tensor(f32([1, -2, 3]));
    const y = relu(x);
    const read = y.read();
    y.dispose();
    expect(Array.from(await read)).toEqual([1, 0, 3]);
    expect(y.storage).toBeUndefined();
    await expect(y.read()).rejects.toThrow(/^read: relu output \[3\] f32 was disposed$/);
    x.dispose();
    expect(inUse()).toBe(before);
  });

  it('an optimizer step not awaited runs with the batch disposed after it was asked for', async () => {
    const w = rt().tensor(f32([1, 2]), [2], { name: 'w', requiresGrad: true });
    const x = rt().tensor(f32([3, 5]), [2], { name: 'x' });
    const opt = new SGD([w], { lr: 0.5 });
    const loss = sum(mul(w, x)); // d/dw = x
    backward(loss);
    const step = opt.step();
    x.dispose();
    await step;
    expect(Array.from(await w.read())).toEqual([1 - 0.5 * 3, 2 - 0.5 * 5]);
    expect(await loss.item()).toBe(1 * 3 + 2 * 5); // computed along with the step, before the update
    expect(x.storage!.disposed).toBe(true);
  });

  it('an optimizer and its parameter disposed right after a step not awaited: the step runs, and what was read after it shows it', async () => {
    const w = rt().tensor(f32([1, 2]), [2], { name: 'w', requiresGrad: true });
    const opt = new Adam([w], { lr: 0.1 });
    const loss = sum(mul(w, w));
    backward(loss);
    const step = opt.step(); // uploads its hyperparameters in its turn, after the dispose
    const lossRead = loss.read(); // computed along with the step, from the weights before it
    const wRead = w.read();
    opt.dispose();
    w.dispose();
    await step;
    expect(Array.from(await lossRead)).toEqual([5]);
    // Adam's first step moves each weight by lr against the sign of its gradient.
    const after = Array.from(await wRead);
    expect(after[0]).toBeCloseTo(0.9, 6);
    expect(after[1]).toBeCloseTo(1.9, 6);
  });

  it('what is asked for after the dispose is refused, while the release still waits for earlier work', async () => {
    const x = rt().tensor(f32([1, 2]), [2], { name: 'x' });
    const y = scale(x, 2); // recorded before the dispose, asked for after it
    const read = scale(x, 3).read();
    x.dispose();
    expect(() => scale(x, 2)).toThrow('affine: x [2] f32 was disposed');
    await expect(y.read()).rejects.toThrow('read: affine output [2] f32 is computed from x [2] f32, which was disposed first');
    expect(() => x.write(f32([0, 0]))).toThrow('write: x [2] f32 was disposed');
    await expect(x.read()).rejects.toThrow('read: x [2] f32 was disposed');
    expect(Array.from(await read)).toEqual([3, 6]);
  });

  it('a read refused in its turn, for a tensor freed before it was asked for, holds back no work on the buffer the pool has given out again', async () => {
    const x = rt().tensor(f32([1, 2]), [2], { name: 'x' });
    const y = scale(x, 2);
    const freed = x.storage!.buffer;
    x.dispose(); // nothing queued: back in the pool at once
    const w = rt().tensor(f32([5, 5]), [2], { name: 'w' });
    expect(w.storage!.buffer).toBe(freed); // given out again
    const opt = new SGD([w], { lr: 1 });
    const step = await rt().compile(() => {
      opt.step([rt().ones([2])]);
      return {};
    });
    const read = y.read(); // queued; refused in its turn
    step.run(); // updates w at once: nothing queued reads it
    await expect(read).rejects.toThrow('read: affine output [2] f32 is computed from x [2] f32, which was disposed first');
    expect(Array.from(await w.read())).toEqual([4, 4]);
    step.dispose();
  });

  it('a lazy value disposed after its read was asked for is lazy for what is asked for after, however far the queue has run', async () => {
    const src = rt().tensor(f32([1, 2]), [2], { name: 'src' });
    const x = scale(src, 2);
    const g = add(x, 1); // recorded before x's dispose
    const w = rt().tensor(f32([0, 0]), [2], { name: 'w' });
    const opt = new SGD([w], { lr: 1 });
    // The queue is held at the program built second (a read behind x's), so x is computed
    // and its release, queued behind that read, still waits when the step is asked for.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const prepare = rt().pipelines.prepare.bind(rt().pipelines);
    let builds = 0;
    const spy = vi.spyOn(rt().pipelines, 'prepare').mockImplementation(async (k) => {
      if (++builds === 2) await gate;
      return prepare(k);
    });
    try {
      const first = x.read();
      const held = scale(src, 3).read();
      x.dispose();
      expect(Array.from(await first)).toEqual([2, 4]);
      expect(x.storage).toBeDefined(); // computed, not yet released
      const step = opt.step([g]); // g anew from src, as x will be lazy in its turn
      open();
      await step;
      expect(Array.from(await held)).toEqual([3, 6]);
    } finally {
      open();
      spy.mockRestore();
    }
    expect(Array.from(await w.read())).toEqual([-3, -5]);
    expect(x.storage).toBeUndefined();
  });

  it('a lazy value computed by a read asked for before its dispose is computed anew by a later read of what comes from it', async () => {
    const x = rt().tensor(f32([1, 2]));
    const a = scale(x, 2);
    const b = add(a, 1);
    const first = a.read();
    a.dispose();
    const second = b.read(); // asked for after a's dispose: a is an intermediate of it
    expect(Array.from(await first)).toEqual([2, 4]);
    expect(Array.from(await second)).toEqual([3, 5]);
    expect(a.storage).toBeUndefined();
  });

  it('a lazy intermediate disposed before backward is computed anew for the gradient rules that read it', async () => {
    const xs = [0.1, -0.7, 0.4];
    const a = rt().tensor(f32(xs), { requiresGrad: true });
    const h = exp(a); // its rule reads its output, and mul's reads h twice
    const loss = sum(mul(h, tanh(h)));
    h.dispose();
    backward(loss);
    // d/da Σ e^a·tanh(e^a) = e^a·(tanh(e^a) + e^a·(1 − tanh²(e^a)))
    const want = xs.map((x) => Math.exp(x) * (Math.tanh(Math.exp(x)) + Math.exp(x) * (1 - Math.tanh(Math.exp(x)) ** 2)));
    expectClose(await a.grad!.read(), want, 1e-5, 'a.grad');
    // A value computed and then disposed is gone: its gradient is refused, naming it.
    const r = relu(a);
    await r.realize();
    const l2 = sum(mul(r, r));
    r.dispose();
    expect(() => backward(l2)).toThrow(/relu output \[3\] f32 was disposed/);
    // And an op asked for by the user on a disposed value, lazy or not, is refused.
    const q = exp(a);
    q.dispose();
    expect(() => exp(q)).toThrow(/exp output \[3\] f32 was disposed/);
  });

  it('a tensor that no queued work uses gives its memory back at once, though other work is queued', async () => {
    const x = rt().tensor(f32([1, 2]));
    const other = scale(rt().tensor(f32([3])), 2).read(); // queued, reads nothing of x
    const held = inUse();
    x.dispose();
    expect(x.storage!.disposed).toBe(true);
    expect(held - inUse()).toBe(x.storage!.buffer.size); // its buffer, back in the pool
    expect(Array.from(await other)).toEqual([6]);
  });

  // A view computed before its lazy value: the value borrows the view's storage (Tensor.borrow).
  const borrowing = async () => {
    const a = add(rt().tensor(f32([1, 2, 3, 4])), 1);
    const v = a.reshape(2, 2);
    await v.read();
    return { a, v };
  };

  it('a lazy value whose view was computed first is lazy again once the view is disposed, for what is asked for after it, whatever is queued', async () => {
    const { a, v } = await borrowing();
    const other = scale(rt().tensor(f32([3])), 2).read(); // queued, unrelated
    v.dispose();
    expect(() => a.write(f32([9, 9, 9, 9]))).toThrow('write: add output [4] f32 is lazy; await t.realize() first');
    expect(Array.from(await a.read())).toEqual([2, 3, 4, 5]);
    expect(Array.from(await other)).toEqual([6]);
    expect(Array.from(await a.read())).toEqual([2, 3, 4, 5]);
  });

  it('a lazy value whose view was computed first, the view written and disposed while queued work reads it: the value keeps the storage, with what was written', async () => {
    const { a, v } = await borrowing();
    const doubled = scale(v, 2).read(); // queued: reads the view's storage, which a shows
    v.write(f32([0, 0, 0, 0])); // queued behind it: a shows it too, as a base its view's write
    v.dispose();
    a.write(f32([9, 9, 9, 9])); // a keeps the storage: the write is taken, behind the other
    const value = a.read();
    const flat = a.reshape(4);
    const tenfold = scale(a, 10);
    expect(Array.from(await doubled)).toEqual([4, 6, 8, 10]);
    expect(Array.from(await value)).toEqual([9, 9, 9, 9]);
    expect(Array.from(await flat.read())).toEqual([9, 9, 9, 9]);
    expect(Array.from(await tenfold.read())).toEqual([90, 90, 90, 90]);
    expect(a.storage!.disposed).toBe(false);
  });

  it('a lazy value whose view was computed first, the view disposed unwritten while queued work reads it: that work reads the view, what is asked for after it the value computed anew', async () => {
    const { a, v } = await borrowing();
    const doubled = scale(v, 2).read(); // queued: reads the view's storage, which a shows
    v.dispose();
    expect(() => a.write(f32([9, 9, 9, 9]))).toThrow('write: add output [4] f32 is lazy; await t.realize() first');
    const value = a.read(); // behind the view's release: a is lazy again by then
    const flat = a.reshape(4); // of a lazy a, not holding the view's storage
    const tenfold = scale(a, 10);
    expect(Array.from(await doubled)).toEqual([4, 6, 8, 10]);
    expect(Array.from(await value)).toEqual([2, 3, 4, 5]);
    expect(Array.from(await flat.read())).toEqual([2, 3, 4, 5]);
    expect(Array.from(await tenfold.read())).toEqual([20, 30, 40, 50]);
    expect(a.storage!.disposed).toBe(false); // computed anew, in a buffer of its own
  });

  it('a lazy value whose view was computed first, bound as a program input, keeps the storage: the view\'s dispose leaves the program bound to it', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    const { a, v } = await borrowing();
    expect(Array.from(await p.run({ x: a }).y!.read())).toEqual([4, 6, 8, 10]);
    v.dispose();
    expect(Array.from(await p.run().y!.read())).toEqual([4, 6, 8, 10]);
    p.dispose();
  });

  it('a lazy value whose view was computed first, read by a compiled program, keeps the storage: the view\'s dispose (or collection) leaves the program its value', async () => {
    const { a, v } = await borrowing();
    const p = await rt().compile(() => ({ y: scale(a, 2) }));
    v.dispose();
    expect(Array.from(await p.run().y!.read())).toEqual([4, 6, 8, 10]);
    expect(Array.from(await a.read())).toEqual([2, 3, 4, 5]);
    p.dispose();
  });

  it('a lazy value whose view was computed first keeps what was written to the view once the view is disposed; not written, it is computed anew', async () => {
    const written = await borrowing();
    written.v.write(f32([7, 7, 7, 7]));
    written.v.dispose();
    expect(Array.from(await written.a.read())).toEqual([7, 7, 7, 7]);
    const kept = rt().stats().inUseBytes;
    written.a.dispose();
    expect(rt().stats().inUseBytes).toBeLessThan(kept); // its own now: freed with it
    const untouched = await borrowing();
    untouched.v.dispose();
    expect(untouched.a.storage).toBeUndefined();
    expect(Array.from(await untouched.a.read())).toEqual([2, 3, 4, 5]);
  });

  it('a lazy value whose view was computed first, then read or written itself, is a value of its own: the view\'s dispose leaves it, and what was written to it', async () => {
    const read = await borrowing();
    await read.a.read();
    read.v.dispose();
    read.a.write(f32([9, 9, 9, 9])); // not refused as lazy
    expect(Array.from(await read.a.read())).toEqual([9, 9, 9, 9]);
    const written = await borrowing();
    written.a.write(f32([7, 7, 7, 7]));
    written.v.dispose();
    expect(Array.from(await written.a.read())).toEqual([7, 7, 7, 7]); // not computed anew
    // Read while the view is still queued, the view disposed before that read has run.
    const a = add(rt().tensor(f32([1, 2, 3, 4])), 1);
    const v = a.reshape(2, 2);
    const viewed = v.read();
    const value = a.read();
    v.dispose();
    expect(Array.from(await viewed)).toEqual([2, 3, 4, 5]);
    expect(Array.from(await value)).toEqual([2, 3, 4, 5]);
    a.write(f32([6, 6, 6, 6]));
    expect(Array.from(await a.read())).toEqual([6, 6, 6, 6]);
    for (const t of [read.a, written.a, a]) t.dispose();
  });

  it('a program still bound to a tensor disposed while queued work reads it refuses a run asked for after the dispose', async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [2] });
    const t = rt().tensor(f32([1, 2]));
    expect(Array.from(await p.run({ x: t }).y!.read())).toEqual([2, 4]);
    const tripled = scale(t, 3).read(); // queued: t's memory goes back after it
    t.dispose();
    expect(() => p.run()).toThrow(/input 'x' is still bound to a tensor that was disposed since/);
    expect(Array.from(await tripled)).toEqual([3, 6]);
    expect(() => p.run()).toThrow(/input 'x' is still bound to a tensor that was disposed since/);
    p.dispose();
  });

  it("a model's state() asked for before a step and a dispose() holds the values as of the call", async () => {
    const m = Model.create(rt(), { input: [3], layers: [{ type: 'linear', name: 'fc', outFeatures: 2 }] }, { seed: 1 });
    const opt = new SGD([...m.parameters.values()], { lr: 1 });
    const before = await m.state();
    backward(sum(m.forward(rt().tensor(f32([1, 2, 3]), [1, 3]))));
    const state = m.state();
    const step = opt.step();
    opt.dispose();
    m.dispose();
    await step;
    const got = await state;
    for (const [name, { data }] of before) expect(Array.from(got.get(name)!.data), name).toEqual(Array.from(data));
  });
});

describe('dispose() with work in flight', () => {
  const cases: [string, (r: Runtime) => Promise<unknown>][] = [
    ['compile', (r) => r.compile(({ x }) => ({ y: relu(matmul(x!, x!)) }), { x: [8, 8] })],
    ['realize', (r) => relu(matmul(r.tensor(ramp(64), [8, 8]), r.tensor(ramp(64), [8, 8]))).realize()],
    ['read', (r) => r.tensor(ramp(64)).read()],
    ['sync', (r) => r.sync()],
    ['settle', (r) => r.settle()],
  ];
  for (const [what, start] of cases) {
    it(`a pending ${what} is refused as disposed, and nothing is allocated after (on the host's device)`, async () => {
      const device = rt().device;
      const uncaptured: string[] = [];
      const listen = (ev: Event) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
      device.addEventListener('uncapturederror', listen);
      try {
        const guest = await createRuntime({ device });
        const pending = start(guest);
        guest.dispose();
        await expect(pending).rejects.toThrow(/runtime (of .* )?was disposed/);
        expect(guest.stats().liveBytes).toBe(0);
        await rt().sync();
        expect(uncaptured).toEqual([]);
      } finally {
        device.removeEventListener('uncapturederror', listen);
      }
    });
  }
});

describe('dispose() with eager updates queued', () => {
  it('drops an optimizer step and a write not awaited, as an eager loop leaves them: nothing rejects', async () => {
    const guest = await createRuntime({ device: rt().device });
    const p = guest.ones([2], { requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1 });
    const unhandled: unknown[] = [];
    const listen = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', listen);
    try {
      opt.zeroGrad();
      backward(sum(mul(p, p)));
      const step = opt.step();
      p.write(f32([5, 5])); // queued behind the step, which reads p
      guest.dispose();
      await expect(step).resolves.toBeUndefined();
      await collectGarbage();
      expect(unhandled).toEqual([]);
      await expect(p.read()).rejects.toThrow(/disposed/);
    } finally {
      process.off('unhandledRejection', listen);
    }
  });
});

describe('dispose() with work in flight, on its own device', () => {
  it('a pending sync is refused as disposed, not as a lost device', async () => {
    const own = await createRuntime();
    await relu(own.tensor(ramp(64))).realize();
    const pending = own.sync();
    own.dispose();
    await expect(pending).rejects.toThrow(/^sync: the runtime was disposed$/);
  });
});

describe('programs', () => {
  it('a run that throws on a later input has written none of the host arrays before it', async () => {
    const p = await rt().compile(({ x, y }) => ({ z: add(x!, y!) }), { x: [4], y: [4] });
    expect(Array.from(await p.run({ x: f32([1, 2, 3, 4]), y: f32([10, 10, 10, 10]) }).z!.read())).toEqual([11, 12, 13, 14]);
    expect(() => p.run({ x: f32([100, 100, 100, 100]), y: f32([1, 2, 3]) })).toThrow(/input 'y' \[4\] f32 takes 4 values, got 3$/);
    expect(Array.from(await p.run().z!.read())).toEqual([11, 12, 13, 14]);
  });

  it("a program's input tensor bound by another program is refused there once the first is disposed", async () => {
    const p = await rt().compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    const q = await rt().compile(({ x }) => ({ z: relu(x!) }), { x: [4] });
    const input = p.input('x');
    input.write(f32([1, -2, 3, -4]));
    expect(Array.from(await q.run({ x: input }).z!.read())).toEqual([1, 0, 3, 0]);
    p.dispose();
    expect(() => q.run()).toThrow(/input 'x' is still bound to a tensor that was disposed since/);
  });

  it('a parameter that its own optimizer updates, fed as an input, is copied in: the run reads it as it was', async () => {
    const w = rt().tensor([2, 4, 6], [3], { name: 'w' });
    const opt = new SGD([w], { lr: 0.5 });
    // The input is the gradient: fed w itself, the step is w ← w − 0.5·w.
    const p = await rt().compile(({ g }) => {
      void opt.step([g!]);
      return { seen: scale(g!, 1) };
    }, { g: [3] });
    const { seen } = p.run({ g: w });
    expect(Array.from(await seen!.read())).toEqual([2, 4, 6]);
    expect(Array.from(await w.read())).toEqual([1, 2, 3]);
    expect(Array.from(await p.run({ g: w }).seen!.read())).toEqual([1, 2, 3]);
    expect(Array.from(await w.read())).toEqual([0.5, 1, 1.5]);
  });
});

describe('what the host hands in', () => {
  it('a read waits for every queued eager update of its buffer, also once the first of them is done', async () => {
    const p = rt().tensor([0, 0, 0], [3], { name: 'p' });
    const opt = new SGD([p], { lr: 1 });
    const g = rt().tensor([1, 2, 3]);
    const first = opt.step([g]);
    void opt.step([g]);
    await first;
    expect(Array.from(await p.read())).toEqual([-2, -4, -6]);
  });

  it('a view of a lazy value, realised first, shares its storage with the value: a write to either shows in the other', async () => {
    const x = rt().tensor([1, 2, 3, 4]);
    const y = add(x, 1);
    const v = y.reshape(2, 2);
    expect(Array.from(await v.read())).toEqual([2, 3, 4, 5]);
    expect(Array.from(await y.read())).toEqual([2, 3, 4, 5]);
    y.write([9, 9, 9, 9]);
    expect(Array.from(await v.read())).toEqual([9, 9, 9, 9]);
    v.write([[7, 7], [7, 7]]);
    expect(Array.from(await y.read())).toEqual([7, 7, 7, 7]);
    const w = y.reshape(4).reshape(1, 4); // a view of a view
    expect(Array.from(await w.read())).toEqual([7, 7, 7, 7]);
  });

  it('a view of a lazy gradient, read first, computes the loss along as the gradient would: the loss is readable after the step', async () => {
    const w = rt().tensor([1, 2, 3], [3], { requiresGrad: true, name: 'w' });
    const opt = new SGD([w], { lr: 1 });
    const loss = sum(mul(w, w));
    backward(loss);
    expect(Array.from(await w.grad!.reshape(3, 1).read())).toEqual([2, 4, 6]); // the gradient, logged as a column
    await opt.step();
    expect(Array.from(await loss.read())).toEqual([14]);
    expect(Array.from(await w.read())).toEqual([-1, -2, -3]);
  });

  it('a read of a lazy value gets the values it has when asked for, not those of a write asked for after it', async () => {
    // A view read while its base is realised: the write to the base waits behind the read.
    const x = rt().tensor([1, 2, 3, 4]);
    const y = add(x, 1);
    const v = y.reshape(2, 2);
    await y.read();
    const r = v.read();
    y.write([9, 9, 9, 9]);
    expect(Array.from(await r)).toEqual([2, 3, 4, 5]);
    expect(Array.from(await v.read())).toEqual([9, 9, 9, 9]);
    // A loss computed by a queued step, read, then written once the step has run.
    const p = rt().tensor([1, 2], [2], { requiresGrad: true });
    const opt = new SGD([p], { lr: 1 });
    const loss = sum(mul(p, rt().tensor([3, 4])));
    backward(loss);
    const step = opt.step();
    const read = loss.read();
    await step;
    loss.write([100]);
    expect(Array.from(await read)).toEqual([11]);
    expect(Array.from(await loss.read())).toEqual([100]);
    // A value computed from such a loss, read, then the loss written: not refused as stale.
    const loss2 = sum(mul(p, rt().tensor([3, 4])));
    backward(loss2);
    const step2 = opt.step();
    const z = add(loss2, 1);
    const zRead = z.read();
    await step2;
    loss2.write([100]);
    expect(Array.from(await zRead)).toEqual([-2 * 3 + -2 * 4 + 1]);
  });

  it('a read of a realised tensor queued behind its update gets the updated values, not those of a write asked for after it', async () => {
    const r = rt();
    const t = r.tensor([1, 2, 3], [3], { requiresGrad: true });
    const opt = new SGD([t], { lr: 1 });
    backward(sum(t));
    const step = opt.step(); // t becomes [0, 1, 2]
    // Other work queued between, still compiling once the step has run (until `compiled`).
    let compiled!: () => void;
    const gate = new Promise<void>((res) => (compiled = res));
    const prepare = r.pipelines.prepare.bind(r.pipelines);
    const spy = vi.spyOn(r.pipelines, 'prepare').mockImplementation(async (k) => {
      if (t.storage!.version > 0) await gate; // the step has run: the work after it compiles
      return prepare(k);
    });
    try {
      const other = relu(r.tensor([5, 6, 7])).read();
      const read = t.read();
      await step;
      t.write([9, 9, 9]);
      compiled();
      expect(Array.from(await read)).toEqual([0, 1, 2]);
      expect(Array.from(await other)).toEqual([5, 6, 7]);
    } finally {
      compiled();
      spy.mockRestore();
    }
    expect(Array.from(await t.read())).toEqual([9, 9, 9]);
  });

  it('an eager step refuses a gradient recorded from its parameter before an earlier update', async () => {
    const w = rt().tensor([1, 2, 3], [3], { name: 'w' });
    const opt = new SGD([w], { lr: 1 });
    const g = scale(w, 1); // lazy: reads w as it is now
    await opt.step([rt().tensor([1, 1, 1])]);
    await expect(opt.step([g])).rejects.toThrow(/^sgd: affine read w \[3\] f32 before it was updated in place/);
    expect(Array.from(await w.read())).toEqual([0, 1, 2]);
  });
});

describe('programs', () => {
  it("a traced function's array of tensors gives outputs named by index from '0'", async () => {
    const p = await rt().compile(({ x }) => [relu(x!), scale(x!, 2)], { x: [2] });
    expect(p.outputNames).toEqual(['0', '1']);
    const out = p.run({ x: f32([-1, 3]) });
    expect(Array.from(await out['0']!.read())).toEqual([0, 3]);
    expect(Array.from(await out['1']!.read())).toEqual([-2, 6]);
  });

  it('TypeScript knows the names of a program\'s inputs and outputs (tsc checks this file)', async () => {
    const p = await rt().compile(({ x, y }) => ({ sum: add(x, y), product: mul(x, y) }), { x: [2], y: [2] });
    const out = p.run({ x: [1, 2], y: [3, 4] });
    const names: ('sum' | 'product')[] = p.outputNames;
    expect(names).toEqual(['sum', 'product']);
    expect(Array.from(await out.product.read())).toEqual([3, 8]); // no `!`: the name is known
    // @ts-expect-error a name the function does not return
    expect(out.prod).toBeUndefined();
    // @ts-expect-error an input the program does not have (refused when run, too)
    expect(() => p.run({ z: [1, 2] })).toThrow(/no input named 'z' \(inputs: x, y\)/);
    // @ts-expect-error an input compile was not given a spec for
    await expect(rt().compile(({ w }) => relu(w), { x: [2] })).rejects.toThrow(/reads input 'w', but only 'x' is declared/);
    const one = await rt().compile(({ x }) => relu(x), { x: [2] });
    expect(Array.from(await one.run({ x: [-1, 1] }).out.read())).toEqual([0, 1]);
    // What typed as before still does: the output type given, an array of unknown length,
    // numeric keys, and specs built at run time (any names).
    const given = await rt().compile<{ y: Tensor }>(({ x }) => ({ y: relu(x!) }), { x: [2] });
    expect(given.outputNames).toEqual(['y']);
    const list = await rt().compile(({ x }) => [x, relu(x)].map((t) => scale(t, 2)), { x: [2] });
    expect(Array.from(await list.run({ x: [-1, 1] })[1]!.read())).toEqual([0, 2]);
    const numbered = await rt().compile((inputs) => relu(inputs[0]), { 0: [2] });
    numbered.input('0').write([3, -3]);
    expect(Array.from(await numbered.run().out.read())).toEqual([3, 0]);
    const specs: InputSpecs = Object.fromEntries(['a', 'b'].map((n) => [n, [2]]));
    const dynamic = await rt().compile((inputs) => add(inputs.a!, inputs.b!), specs);
    expect(Array.from(await dynamic.run({ a: [1, 2], b: [3, 4] }).out.read())).toEqual([4, 6]);
  });

  it('an async traced function is refused (its tensors would be traced after compile returned)', async () => {
    await expect(rt().compile((async ({ x }: { x?: unknown }) => relu(x as never)) as never, { x: [2] })).rejects.toThrow(/compile: the traced function must be synchronous/);
    // One that goes on to fail after tracing ended leaves no unhandled rejection behind.
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const late = async ({ x }: Record<string, Tensor>) => {
        await x!.read();
        return x!;
      };
      await expect(rt().compile(late as never, { x: [2] })).rejects.toThrow(/must be synchronous/);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    // Tracing ended: the runtime compiles on.
    expect(Array.from(await (await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [2] })).run({ x: f32([-1, 1]) }).y!.read())).toEqual([0, 1]);
  });
});

describe('what a program returns and reads, over its runs', () => {
  it('an output recorded outside the traced function stays the program\'s value after it is realised eagerly', async () => {
    const w = rt().tensor([1, -2, 3], [3], { name: 'w' });
    const c = relu(w); // lazy, recorded outside: the program computes it from w on each run
    const p = await rt().compile(({ x }) => ({ c, y: add(x!, c) }), { x: [3] });
    expect(Array.from(await p.run({ x: f32([0, 0, 0]) }).c!.read())).toEqual([1, 0, 3]);
    expect(Array.from(await c.read())).toEqual([1, 0, 3]); // c now has a storage of its own
    w.write(f32([-1, 5, 7]));
    const out = p.run({ x: f32([0, 0, 0]) });
    expect(Array.from(await out.y!.read())).toEqual([0, 5, 7]);
    expect(Array.from(await out.c!.read())).toEqual([0, 5, 7]);
    c.dispose();
    expect(Array.from(await p.run({ x: f32([0, 0, 0]) }).c!.read())).toEqual([0, 5, 7]);
  });

  it('a write to the input of a lazy value being read, made while its pipelines compile, waits for the read', async () => {
    const r = rt();
    const a = r.tensor([1, 2, 3], [3], { name: 'a' });
    let during: (() => void) | undefined = () => a.write(f32([10, 20, 30]));
    const prepare = r.pipelines.prepare.bind(r.pipelines);
    const spy = vi.spyOn(r.pipelines, 'prepare').mockImplementation((k) => {
      during?.(); // the read has checked its inputs and is compiling
      during = undefined;
      return prepare(k);
    });
    try {
      const pending = scale(a, 2).read();
      expect(Array.from(await pending)).toEqual([2, 4, 6]); // the values it was asked for from
      expect(during).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect(Array.from(await scale(a, 2).read())).toEqual([20, 40, 60]);
  });

  it('an output that is a bound input tensor keeps that tensor alive once the program and the tensor are dropped', async () => {
    const r = rt();
    const make = async () => {
      const p = await r.compile(({ x }) => ({ x: x!, flat: x!.reshape(4), y: relu(x!) }), { x: [2, 2] });
      const out = p.run({ x: r.tensor([1, -2, 3, -4], [2, 2]) });
      return [out.x!, out.flat!] as const;
    };
    const [x, flat] = await make();
    await collectGarbage();
    for (let i = 0; i < 4; i++) await relu(r.tensor(new Float32Array(4).fill(9), [2, 2])).read(); // reuse freed buffers
    expect(Array.from(await x.read())).toEqual([1, -2, 3, -4]);
    expect(Array.from(await flat.read())).toEqual([1, -2, 3, -4]);
  });

  it("disposing the tensor input(name) handed out leaves the program's input working", async () => {
    const p = await rt().compile(({ x }) => ({ y: relu(x!) }), { x: [3] });
    p.input('x').dispose();
    expect(Array.from(await p.run({ x: f32([-1, 2, -3]) }).y!.read())).toEqual([0, 2, 0]);
    const input = p.input('x');
    input.write(f32([4, -5, 6]));
    expect(Array.from(await p.run().y!.read())).toEqual([4, 0, 6]);
    p.dispose();
    expect(() => input.write(f32([1, 1, 1]))).toThrow(/was disposed/);
    expect(() => p.input('x').write(f32([1, 1, 1]))).toThrow(/was disposed/);
  });
});

describe('a tensor a program returns as it is', () => {
  it('disposed before the run, is refused by the run, and its buffer is not given back to the pool twice', async () => {
    const r = rt();
    const w = r.tensor([1, 2, 3, 4], [4], { name: 'w' });
    const p = await r.compile(({ x }) => ({ w, y: relu(x!) }), { x: [4] });
    w.dispose(); // its buffer is back in the pool: no run has returned it yet
    expect(() => p.run({ x: f32([1, 1, 1, 1]) })).toThrow(/w \[4\] f32 was disposed/);
    const b = r.tensor([5, 6, 7, 8], [4]); // may take w's buffer
    const c = r.tensor([9, 9, 9, 9], [4]);
    expect(Array.from(await b.read())).toEqual([5, 6, 7, 8]);
    expect(Array.from(await c.read())).toEqual([9, 9, 9, 9]);
  });
});
