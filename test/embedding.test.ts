// Embedding fovea in a host app (examples/embed-node.mjs's HostApp, on a device this test
// creates): the runtime on the app's device; the app's buffer bound as a program input with no
// copy (the tensor's buffer is the app's, no bytes uploaded, and writing the app's buffer changes
// the next result); fovea's logits and activations used in the app's own pipeline and copies,
// agreeing with fovea's read-back, fovea's softmax, a float64 reference of the seed CNN, and the
// copied-input path bit for bit; named errors; dispose() leaves the device and the app's buffers
// working.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { create, globals } from 'webgpu';
import { compileActivations, digitPixels, DIGIT_SHAPE, HostApp } from '../examples/embed-node.mjs';
import { createRuntime, defineOp, DeviceLostError, Model, NoAdapterError, registerShader, relu, SEED_CNN, ShapeError, softmax, TensorStateError, type Program, type Runtime, type Tensor } from '../src/index.js';
import { defaultMnistDir, loadMnistDir, type MnistData } from '../src/node.js';
import { expectClose } from './helpers.js';

Object.assign(globalThis, globals); // GPUBufferUsage, as a Dawn host app has it (the example does the same)

let gpu: GPU;
let adapter: GPUAdapter; // NOTE: held while its device lives (Dawn can crash otherwise)
let device: GPUDevice;
let app: HostApp;
let rt: Runtime;
let model: Model;
let program: Program;
let mnist: MnistData;
let params: Map<string, { shape: number[]; data: Float32Array }>;
const gpuErrors: string[] = [];

beforeAll(async () => {
  gpu = create([]);
  adapter = (await gpu.requestAdapter())!;
  device = await adapter.requestDevice();
  device.addEventListener('uncapturederror', (ev) => gpuErrors.push((ev as GPUUncapturedErrorEvent).error.message));
  app = new HostApp(device);
  mnist = await loadMnistDir(defaultMnistDir());
  rt = await createRuntime({ device });
  model = Model.create(rt, SEED_CNN, { seed: 1 });
  params = await model.state();
  program = await compileActivations(rt, model);
});

afterAll(() => {
  rt?.dispose();
  device?.destroy();
});

// ---- a float64 reference of the seed CNN ----

/** Conv (stride 1, square kernel k, padding p) of x [c, h, w] with weights [o, c, k, k]. */
function conv(x: Float64Array, c: number, h: number, w: number, weight: Float32Array, bias: Float32Array, o: number, k: number, p: number): Float64Array {
  const y = new Float64Array(o * h * w);
  for (let oc = 0; oc < o; oc++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = bias[oc]!;
        for (let ic = 0; ic < c; ic++) {
          for (let a = 0; a < k; a++) {
            const ii = i + a - p;
            if (ii < 0 || ii >= h) continue;
            for (let b = 0; b < k; b++) {
              const jj = j + b - p;
              if (jj >= 0 && jj < w) s += weight[((oc * c + ic) * k + a) * k + b]! * x[(ic * h + ii) * w + jj]!;
            }
          }
        }
        y[(oc * h + i) * w + j] = s;
      }
    }
  }
  return y;
}

/** ReLU then 2×2 max-pooling of x [c, h, w]. */
function reluPool(x: Float64Array, c: number, h: number, w: number): Float64Array {
  const y = new Float64Array((c * h * w) / 4);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < h / 2; i++) {
      for (let j = 0; j < w / 2; j++) {
        let m = 0;
        for (const [a, b] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) m = Math.max(m, x[(ch * h + 2 * i + a) * w + 2 * j + b]!);
        y[(ch * (h / 2) + i) * (w / 2) + j] = m;
      }
    }
  }
  return y;
}

function referenceLogits(pixels: Float32Array): Float64Array {
  const p = (name: string) => params.get(name)!.data;
  const h1 = reluPool(conv(Float64Array.from(pixels), 1, 28, 28, p('conv1.0.weight'), p('conv1.0.bias'), 16, 5, 2), 16, 28, 28);
  const h2 = reluPool(conv(h1, 16, 14, 14, p('conv2.0.weight'), p('conv2.0.bias'), 32, 5, 2), 32, 14, 14);
  const w = p('out.weight');
  return Float64Array.from({ length: 10 }, (_, k) => h2.reduce((s, v, i) => s + w[k * 1568 + i]! * v, p('out.bias')[k]!));
}

const argmaxOf = (v: ArrayLike<number>) => Array.from(v).reduce((best, x, i, a) => (x > a[best]! ? i : best), 0);
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Bytes written with queue.writeBuffer while `fn` runs. */
function bytesWritten(fn: () => void): number {
  let bytes = 0;
  const orig = device.queue.writeBuffer.bind(device.queue);
  const spy = vi.spyOn(device.queue, 'writeBuffer').mockImplementation((buffer, offset, data, dataOffset?, size?) => {
    bytes += size ?? (data as ArrayBufferView).byteLength;
    return orig(buffer, offset, data as BufferSource, dataOffset, size);
  });
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return bytes;
}

const digit = (i: number) => digitPixels(mnist.test.images, i);
const logitsOf = (out: Record<string, Tensor>) => out.out!;

describe('embedding fovea in a host app', () => {
  it("runs on the app's device, which must meet fovea's limits", async () => {
    expect(rt.device).toBe(device);
    expect(rt.adapter.hostDevice).toBe(true);
    // The app's device, as if it had been requested with a smaller limit.
    const limits = { ...device.limits, maxComputeInvocationsPerWorkgroup: 128 } as GPUSupportedLimits;
    const small = new Proxy(device, { get: (d, k) => (k === 'limits' ? limits : Reflect.get(d, k)) });
    await expect(createRuntime({ device: small })).rejects.toThrow(NoAdapterError);
    await expect(createRuntime({ device: small })).rejects.toThrow(/maxComputeInvocationsPerWorkgroup 128 < 256/);
  });

  it('refuses a device option that is not a GPUDevice, saying what it lacks', async () => {
    const expected = /^createRuntime: options\.device must be a GPUDevice \(from adapter\.requestDevice\(\)\)/;
    await expect(createRuntime({ device: {} as never })).rejects.toThrow(TypeError);
    await expect(createRuntime({ device: {} as never })).rejects.toThrow(
      /; got an object without queue, limits, features, lost, createBuffer, createShaderModule, createComputePipelineAsync, createBindGroupLayout, createPipelineLayout, createBindGroup, createCommandEncoder, pushErrorScope, popErrorScope$/,
    );
    await expect(createRuntime({ device: adapter as never })).rejects.toThrow(/GPUDevice \(from adapter\.requestDevice\(\)\), not the adapter itself; got an object without queue, lost, createBuffer/);
    await expect(createRuntime({ powerPrefrence: 'low-power' } as never)).rejects.toThrow("createRuntime: unknown option 'powerPrefrence' (it takes device, powerPreference, debug)");
    await expect(createRuntime({ powerPreference: 'fast' } as never)).rejects.toThrow(new RangeError(`createRuntime: powerPreference must be 'high-performance' or 'low-power', got "fast"`));
    // null is no device, not "no device given": the runtime does not go and acquire its own.
    await expect(createRuntime({ device: null as never })).rejects.toThrow(new RegExp(`${expected.source}, got null$`));
  });

  it("binds the app's buffer without a copy, and the app's pipeline computes on fovea's logits", async () => {
    app.writeDigit(0, digit(0));
    app.writeDigit(1, digit(1));
    const x0 = rt.wrap(app.digits, DIGIT_SHAPE, 'f32', app.slotOffset(0));
    const x1 = rt.wrap(app.digits, DIGIT_SHAPE, 'f32', app.slotOffset(1));
    expect(x0.buffer).toBe(app.digits);
    expect(x1.buffer).toBe(app.digits);
    expect(x1.byteOffset).toBe(app.slotBytes);

    for (const [slot, x] of [[0, x0], [1, x1]] as const) {
      const created = rt.stats().buffersCreated;
      let out: Record<string, Tensor> = {};
      // Nothing is uploaded and no buffer is created: the kernels read the app's buffer.
      expect(bytesWritten(() => (out = program.run({ x })))).toBe(0);
      expect(rt.stats().buffersCreated).toBe(created);
      const logits = logitsOf(out);
      const fromApp = await app.classify(logits); // the app's WGSL on fovea's buffer range
      const read = (await logits.read()) as Float32Array;
      const ref = referenceLogits(digit(slot));
      expectClose(read, ref, 1e-5, `logits of test digit ${slot} against float64`);
      expect(fromApp.predicted).toBe(argmaxOf(read));
      expect(fromApp.predicted).toBe(argmaxOf(ref));
      const m = Math.max(...ref);
      const z = ref.reduce((s, v) => s + Math.exp(v - m), 0);
      expectClose(fromApp.probabilities, ref.map((v) => Math.exp(v - m) / z), 1e-5, "the app's softmax against float64");
      expectClose(fromApp.probabilities, await softmax(rt.tensor(read, [1, 10])).read(), 1e-6, "the app's softmax against fovea's");

      // Any layer's output is a buffer range the app can use: its copy equals fovea's read.
      const maps = out['conv1.1']!;
      expect(maps.byteLength).toBe(16 * 28 * 28 * 4);
      expect(bits(new Float32Array(await app.read(maps)))).toEqual(bits((await maps.read()) as Float32Array));

      // The copied path (pixels written into the program's own input buffer) gives the same bits.
      let copiedOut: Record<string, Tensor> = {};
      expect(bytesWritten(() => (copiedOut = program.run({ x: digit(slot) })))).toBe(784 * 4);
      const copied = (await logitsOf(copiedOut).read()) as Float32Array;
      expect(bits(copied)).toEqual(bits(read));
    }
  });

  it("reads the app's buffer at every run: the app's writes change the next result", async () => {
    const own = program.input('x'); // the program's own input buffer; the run below binds x0 instead
    const x0 = rt.wrap(app.digits, DIGIT_SHAPE, 'f32', app.slotOffset(0));
    app.writeDigit(0, digit(0));
    const before = (await logitsOf(program.run({ x: x0 })).read()) as Float32Array;
    const ownInput = Float32Array.from((await own.read()) as Float32Array);
    app.writeDigit(0, digit(2));
    // No inputs given: x0 stays bound, and the kernels read what the app wrote.
    const after = (await logitsOf(program.run()).read()) as Float32Array;
    expectClose(after, referenceLogits(digit(2)), 1e-5, 'logits after the app rewrote its buffer');
    expect(bits(after)).not.toEqual(bits(before));
    // The program's own input buffer was not involved.
    expect(bits((await own.read()) as Float32Array)).toEqual(bits(ownInput));
  });

  it('names the problem: buffer usage, alignment, size, shape; a lost device', async () => {
    const noStorage = device.createBuffer({ size: 4096, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    expect(() => rt.wrap(noStorage, DIGIT_SHAPE)).toThrow(TensorStateError);
    expect(() => rt.wrap(noStorage, DIGIT_SHAPE)).toThrow(/STORAGE/);
    noStorage.destroy();
    const align = device.limits.minStorageBufferOffsetAlignment;
    expect(() => rt.wrap(app.digits, DIGIT_SHAPE, 'f32', 4)).toThrow(new RegExp(`multiple of ${align}`));
    expect(() => rt.wrap(app.digits, DIGIT_SHAPE, 'f32', 2 * app.slotBytes)).toThrow(ShapeError);
    expect(() => program.run({ x: rt.wrap(app.digits, [1, 28, 28]) })).toThrow(ShapeError);

    // A second device (an adapter gives one device), destroyed under a runtime.
    const otherAdapter = (await gpu.requestAdapter())!;
    const other = await otherAdapter.requestDevice();
    const rt2 = await createRuntime({ device: other });
    other.destroy();
    await other.lost;
    expect(() => rt2.zeros([1])).toThrow(DeviceLostError);
    rt2.dispose();
    expect(otherAdapter.info).toBeDefined(); // NOTE: keeps the adapter alive past its device (Dawn)
  });

  it("tells what the app's device refuses as fovea's error, never through the app's error handler or scope", async () => {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    // The app's own scope, open around fovea's calls, catches nothing of fovea's.
    device.pushErrorScope('validation');
    const readOnly = rt.wrap(device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }), [4]);
    expect(() => readOnly.write([1, 2, 3, 4])).toThrow(/^write: the buffer of tensor \[4\] f32 lacks GPUBufferUsage.COPY_DST$/);

    // A buffer the app destroyed: the write is refused by the device, and the next call says so.
    const gone = device.createBuffer({ size: 16, usage });
    const wrapped = rt.wrap(gone, [4]);
    gone.destroy();
    wrapped.write([1, 2, 3, 4]);
    await device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 10));
    expect(() => rt.zeros([1])).toThrow(/^write to tensor \[4\] f32: .*destroyed/s);

    // A buffer of another device, bound to a program input: the new bind group is refused.
    const otherAdapter = (await gpu.requestAdapter())!;
    const other = await otherAdapter.requestDevice();
    const relu4 = await rt.compile(({ x }) => ({ y: relu(x!) }), { x: [4] }, { name: 'relu4' });
    relu4.run({ x: rt.wrap(other.createBuffer({ size: 16, usage }), [4]) });
    await device.queue.onSubmittedWorkDone();
    await new Promise((r) => setTimeout(r, 10));
    expect(() => rt.zeros([1])).toThrow(/^relu4: .*cannot be used with/s);
    other.destroy();

    // A kernel binding more storage buffers than the device allows (the app asked for no more
    // than WebGPU's default 8) is refused by name before any layout is made.
    registerShader(
      'embedding-nine.wgsl',
      `${[...'abcdefgh'].map((n, i) => `@group(0) @binding(${i}) var<storage, read> ${n}: array<f32>;`).join('\n')}
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1) fn main() { out[0] = a[0] + b[0] + c[0] + d[0] + e[0] + f[0] + g[0] + h[0]; }`,
    );
    const sum8 = defineOp<Record<string, never>>({
      name: 'sum8',
      infer: () => ({ shape: [1], dtype: 'f32' }),
      encode: (ctx, xs, out) => ctx.dispatch({ shader: 'embedding-nine.wgsl', bindings: { ...Object.fromEntries([...'abcdefgh'].map((n, i) => [n, xs[i]!])), out }, workgroups: [1] }),
      backward: { notDifferentiable: 'a test of limits' },
    });
    const ones = [...'abcdefgh'].map(() => rt.tensor([1]));
    await expect(rt.record(sum8, ones, {}).read()).rejects.toThrow(
      /^embedding-nine.wgsl:main: binds 9 storage buffers, over this device's limit of 8 \(maxStorageBuffersPerShaderStage\)$/,
    );

    // A buffer whose size is no multiple of 4: bound up to its last whole word.
    const odd = device.createBuffer({ size: 14, usage });
    device.queue.writeBuffer(odd, 0, Float32Array.of(1, -2, 3));
    expect(Array.from(await relu(rt.wrap(odd, [3])).read())).toEqual([1, 0, 3]);
    expect(await device.popErrorScope()).toBeNull();
    expect(gpuErrors).toEqual([]);
    odd.destroy();
    expect(otherAdapter.info).toBeDefined(); // NOTE: keeps the adapter alive past its device (Dawn)
  });

  it("dispose() leaves the device and the app's buffers working", async () => {
    rt.dispose();
    expect(rt.disposed).toBe(true);
    expect(() => rt.wrap(app.digits, DIGIT_SHAPE)).toThrow(TensorStateError);
    expect(() => program.run()).toThrow(TensorStateError);
    // The app's buffer still holds what the app wrote last.
    expect(bits(new Float32Array(await app.read({ buffer: app.digits, byteOffset: 0, byteLength: 784 * 4 })))).toEqual(bits(digit(2)));
    // The app's own dispatch on its own buffers.
    const own = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(own, 0, Float32Array.of(0.5, 3, -1, 2));
    const r = await app.classify({ buffer: own, byteOffset: 0, byteLength: 16 });
    expect(r.predicted).toBe(1);
    const z = [0.5, 3, -1, 2].reduce((s, v) => s + Math.exp(v - 3), 0);
    expectClose(r.probabilities, [0.5, 3, -1, 2].map((v) => Math.exp(v - 3) / z), 1e-6, 'softmax after dispose');
    own.destroy();
    const state = await Promise.race([device.lost.then(() => 'lost'), new Promise((resolve) => setTimeout(() => resolve('alive'), 100))]);
    expect(state).toBe('alive');
    expect(gpuErrors).toEqual([]);
  });
});
