// @ts-check
// A host application that embeds fovea on its own WebGPU device (Node, Dawn). The app owns the
// device and its buffers; fovea borrows them:
//
//   1. the app creates its device and a GPUBuffer holding two 28×28 test digits;
//   2. fovea runs on that device (createRuntime({ device })), and reads each digit straight from
//      the app's buffer (rt.wrap: a tensor over the buffer, bound to the program, no copy);
//   3. the app binds fovea's logits buffer in its OWN compute pipeline (softmax and arg-max in
//      the app's WGSL below) and reads its own result buffer;
//   4. the app overwrites a digit in its buffer and fovea's next run sees it, still without a
//      copy;
//   5. fovea is disposed, and the device still serves the app's own dispatches.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/embed-node.mjs (see examples/README.md):
//   node examples/embed-node.mjs [--checkpoint model.safetensors] [--steps 100]
// Without a checkpoint the seed CNN is first trained for --steps steps, on this same device.
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import { createRuntime, Model, modelFromBytes, TorchGenerator, Trainer } from 'fovea';
import { defaultMnistDir, loadMnistDir, readFileChecked } from 'fovea/node';

// GPUBufferUsage, GPUMapMode, ... as globals, as in the `webgpu` package's README. (Not
// `navigator`: a global navigator.gpu would keep Node from exiting.)
Object.assign(globalThis, globals);

export const DIGIT_SHAPE = [1, 1, 28, 28];
const DIGIT_BYTES = 28 * 28 * 4;

/**
 * The app's own kernel: softmax of a logits vector (however long the bound range is) and the
 * index of its largest entry. fovea knows nothing of it.
 */
export const APP_SHADER = /* wgsl */ `
struct Result {
  predicted: u32,
  probabilities: array<f32>,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: Result;

@compute @workgroup_size(1)
fn main() {
  let n = arrayLength(&logits);
  var best = 0u;
  for (var i = 1u; i < n; i++) {
    if (logits[i] > logits[best]) { best = i; }
  }
  let m = logits[best];
  var sum = 0.0;
  for (var i = 0u; i < n; i++) { sum += exp(logits[i] - m); }
  for (var i = 0u; i < n; i++) { result.probabilities[i] = exp(logits[i] - m) / sum; }
  result.predicted = best;
}
`;

/** A buffer range of f32 values: a fovea Tensor is one (`buffer`, `byteOffset`, `byteLength`). */
/** @typedef {{ buffer: GPUBuffer, byteOffset: number, byteLength: number }} BufferRange */

/** The host app: its buffers, its pipeline, its dispatches. Nothing here calls fovea. */
export class HostApp {
  /**
   * @param {GPUDevice} device
   * @param {number} slots how many digits the app's input buffer holds
   */
  constructor(device, slots = 2) {
    this.device = device;
    // Each digit starts at a multiple of the device's storage offset alignment, so that each
    // can be bound (by fovea, here) at its own offset.
    const align = device.limits.minStorageBufferOffsetAlignment;
    this.slotBytes = Math.ceil(DIGIT_BYTES / align) * align;
    /** The app's input: `slots` digits of 784 f32 pixels in [0, 1]. */
    this.digits = device.createBuffer({
      label: 'app digits',
      size: slots * this.slotBytes,
      // STORAGE to be bound by fovea's kernels; COPY_DST for writeBuffer; COPY_SRC to be read back.
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    this.pipeline = device.createComputePipeline({
      label: 'app softmax',
      layout: 'auto',
      compute: { module: device.createShaderModule({ label: 'app softmax', code: APP_SHADER }), entryPoint: 'main' },
    });
    this.result = device.createBuffer({ label: 'app result', size: 256, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    this.readback = device.createBuffer({ label: 'app readback', size: 256, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /**
   * Byte offset of digit slot `i` in the app's buffer.
   * @param {number} i
   */
  slotOffset(i) {
    return i * this.slotBytes;
  }

  /**
   * Writes 784 pixels (0…1) into digit slot `i` (queue order: before any later submit).
   * @param {number} i
   * @param {Float32Array} pixels
   */
  writeDigit(i, pixels) {
    this.device.queue.writeBuffer(this.digits, this.slotOffset(i), pixels);
  }

  /**
   * Runs the app's pipeline on a range of logits (any buffer: fovea's or the app's own), in one
   * submit, and reads the app's result buffer back.
   * @param {BufferRange} logits
   * @returns {Promise<{ predicted: number, probabilities: Float32Array }>}
   */
  async classify(logits) {
    const { device } = this;
    const bindGroup = device.createBindGroup({
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: logits.buffer, offset: logits.byteOffset, size: logits.byteLength } },
        { binding: 1, resource: { buffer: this.result } },
      ],
    });
    const encoder = device.createCommandEncoder({ label: 'app classify' });
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(1);
    pass.end();
    const n = logits.byteLength / 4;
    encoder.copyBufferToBuffer(this.result, 0, this.readback, 0, 4 + 4 * n);
    device.queue.submit([encoder.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ, 0, 4 + 4 * n);
    const bytes = this.readback.getMappedRange(0, 4 + 4 * n).slice(0);
    this.readback.unmap();
    return { predicted: new Uint32Array(bytes, 0, 1)[0] ?? -1, probabilities: new Float32Array(bytes, 4, n) };
  }

  /**
   * Copies a range of any buffer into a new ArrayBuffer (the app's own read-back).
   * @param {BufferRange} range
   */
  async read(range) {
    const staging = this.device.createBuffer({ size: range.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(range.buffer, range.byteOffset, staging, 0, range.byteLength);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const bytes = staging.getMappedRange().slice(0);
    staging.destroy();
    return bytes;
  }

  /** Frees the app's buffers (the device stays the app's to destroy). */
  destroy() {
    for (const b of [this.digits, this.result, this.readback]) b.destroy();
  }
}

/**
 * fovea's part: a program computing every layer's output for one digit. The returned tensors
 * of each run are views of the program's own buffers, valid until its next run.
 * @param {import('fovea').Runtime} rt
 * @param {import('fovea').Model} model
 * @param {(done: number, total: number) => void} [onProgress]
 */
export function compileActivations(rt, model, onProgress) {
  return rt.compile(
    ({ x }) => Object.fromEntries(model.activations(/** @type {import('fovea').Tensor} */ (x), { training: false }).map((a) => [a.name, a.tensor])),
    { x: DIGIT_SHAPE },
    { name: 'activations', ...(onProgress ? { onProgress } : {}) },
  );
}

/**
 * The pixels of test image `i` as 784 floats in [0, 1].
 * @param {import('fovea').MnistImages} images
 * @param {number} i
 */
export function digitPixels(images, i) {
  const per = images.rows * images.cols;
  return Float32Array.from(images.pixels.subarray(i * per, (i + 1) * per), (v) => v / 255);
}

/** @param {string} name */
function flag(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Dawn's GPU object and adapter must outlive the device (Node can crash otherwise): held here. */
/** @type {{ gpu?: GPU, adapter?: GPUAdapter | null }} */
const dawn = {};

async function main() {
  // ---- the app's device: fovea is not involved yet ----
  dawn.gpu = create([]);
  const adapter = (dawn.adapter = await dawn.gpu.requestAdapter());
  if (!adapter) throw new Error('no WebGPU adapter (see the README: scripts/setup-system.sh installs a software one)');
  const device = await adapter.requestDevice({
    // The app decides its features and limits; fovea checks the limits in createRuntime() and
    // uses what the device has ('subgroups': a faster matmul; 'timestamp-query': profiling).
    // The training set (60,000 images as bytes, 47 MB) fits the default limits.
    requiredFeatures: /** @type {GPUFeatureName[]} */ (['subgroups', 'timestamp-query']).filter((f) => adapter.features.has(f)),
  });
  device.addEventListener('uncapturederror', (ev) => console.error('app: GPU error:', /** @type {GPUUncapturedErrorEvent} */ (ev).error.message));
  const app = new HostApp(device);
  const mnist = await loadMnistDir(defaultMnistDir());
  const [a, b, c] = [0, 1, 2];
  app.writeDigit(0, digitPixels(mnist.test.images, a));
  app.writeDigit(1, digitPixels(mnist.test.images, b));

  // ---- fovea on the app's device ----
  const rt = await createRuntime({ device });
  console.log(`fovea runs on the app's device (${rt.adapter.description || rt.adapter.vendor || 'unknown adapter'}; hostDevice: ${rt.adapter.hostDevice})`);
  const checkpoint = flag('--checkpoint') ?? (existsSync('model.safetensors') ? 'model.safetensors' : undefined);
  let model;
  if (checkpoint) {
    model = modelFromBytes(rt, await readFileChecked(checkpoint, 'checkpoint'), checkpoint);
    console.log(`loaded ${checkpoint}`);
  } else {
    const steps = Number(flag('--steps') ?? 100);
    if (!Number.isInteger(steps) || steps < 0 || steps > 1200) throw new RangeError(`--steps must be an integer from 0 to 1200 (one epoch), got ${flag('--steps')}`);
    const gen = new TorchGenerator(1);
    model = Model.create(rt, undefined, { generator: gen });
    const trainer = await Trainer.create(rt, model, mnist.train, { batchSize: 50, optimizer: 'adam', lr: 1e-3, generator: gen });
    const order = trainer.epochOrder();
    console.log(`no checkpoint given (--checkpoint, or ./model.safetensors from \`npx fovea train\`): training ${steps} steps first`);
    for (let s = 0; s < steps; s++) await trainer.trainStep(order.subarray(s * 50, (s + 1) * 50));
    const ev = await trainer.evaluate(mnist.test, 1000);
    console.log(`trained the seed CNN for ${steps} steps on this device: ${(ev.accuracy * 100).toFixed(1)}% on 1000 test digits`);
    trainer.dispose();
  }
  // Pipelines compile before the first run; onProgress reports them (e.g. for a loading bar).
  let pipelines = 0;
  const program = await compileActivations(rt, model, (done, total) => (pipelines = total));
  console.log(`compiled the activations program: ${pipelines} pipelines, ${program.stats.dispatches} dispatches per run`);

  // Tensors over the app's buffer: no copy, no new buffer. Each slot is its own tensor.
  const inputs = [0, 1].map((i) => rt.wrap(app.digits, DIGIT_SHAPE, 'f32', app.slotOffset(i)));
  const last = model.layers.at(-1)?.name ?? 'out';
  const firstRelu = model.layers.find((l) => l.type === 'relu')?.name ?? last;
  /**
   * @param {number} slot
   * @param {number} label
   */
  const show = async (slot, label) => {
    const acts = program.run({ x: /** @type {import('fovea').Tensor} */ (inputs[slot]) }); // submitted now
    const logits = /** @type {import('fovea').Tensor} */ (acts[last]);
    // The app's pipeline reads fovea's logits buffer in place: submitted after fovea's run, so
    // it sees this run's values.
    const r = await app.classify(logits);
    const fovea = /** @type {Float32Array} */ (await logits.read());
    // Any layer's output is a buffer range too: here the app copies the first ReLU's maps.
    const maps = /** @type {import('fovea').Tensor} */ (acts[firstRelu]);
    const active = new Float32Array(await app.read(maps)).filter((v) => v > 0).length;
    console.log(
      `slot ${slot} (test digit labelled ${label}): the app's shader says ${r.predicted} with p = ${r.probabilities[r.predicted]?.toFixed(4)}; ` +
        `fovea's logits read back agree: ${fovea.indexOf(Math.max(...fovea)) === r.predicted}; ` +
        `${active}/${maps.size} units of '${firstRelu}' active (${maps.byteLength} bytes at offset ${maps.byteOffset} of fovea's buffer)`,
    );
  };
  await show(0, mnist.test.labels[a] ?? -1);
  await show(1, mnist.test.labels[b] ?? -1);
  // The app overwrites slot 0 in place; fovea's next run reads the new digit, still no copy.
  app.writeDigit(0, digitPixels(mnist.test.images, c));
  await show(0, mnist.test.labels[c] ?? -1);

  // ---- fovea goes; the device stays ----
  program.dispose();
  rt.dispose(); // frees fovea's buffers, never the app's device or the app's buffers
  const own = app.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  app.device.queue.writeBuffer(own, 0, Float32Array.of(0.5, 3, -1, 2));
  const after = await app.classify({ buffer: own, byteOffset: 0, byteLength: 16 });
  console.log(`after rt.dispose(), the app's own dispatch still runs: softmax(0.5, 3, -1, 2) = [${Array.from(after.probabilities, (p) => p.toFixed(4)).join(', ')}], arg-max ${after.predicted}`);
  own.destroy();
  app.destroy();
  device.destroy(); // the app's decision, not fovea's
}

// Run as a script (also through a symlink, as pnpm-style installs link packages), not imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  await main().catch((/** @type {Error} */ e) => {
    console.error(`embed-node: ${e.name}: ${e.message}`);
    process.exit(1);
  });
}
