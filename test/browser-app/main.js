// A browser app that embeds fovea, installed from its tarball (test/package.test.ts builds it
// with Vite and opens it in Chromium): its own device and buffer, fovea's ops and gradients on
// them, a compiled program whose output the app's own pipeline reads, then fovea disposed and the
// device still working. What it computed goes to window.__result, checked against a CPU
// reference by the test.
import { conv2d, createRuntime, grad, relu, sum } from 'fovea';

const N = 2, C = 3, H = 6, W = 6, O = 4, K = 3;
// Multiples of 1/8 (the bias offset by 1/128): every product and sum is exact in f32, and no
// pre-activation is 0, so the ReLU mask is the same on the GPU and in the reference.
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
const grid = (n, scale, offset = 0) => Float32Array.from({ length: n }, () => ((Math.floor(rand() * 17) - 8) / 8) * scale + offset);
const xData = grid(N * C * H * W, 1);
const wData = grid(O * C * K * K, 0.5);
const bData = grid(O, 0.5, 1 / 128);

const result = { errors: [], uncaptured: [], inputs: { x: Array.from(xData), w: Array.from(wData), b: Array.from(bData), shape: { N, C, H, W, O, K } } };

async function readBuffer(device, src, offset, size) {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(src, offset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const values = Array.from(new Float32Array(staging.getMappedRange().slice(0)));
  staging.destroy();
  return values;
}

async function main() {
  // The app's own adapter, device and buffer (x, wrapped without a copy).
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null');
  const device = await adapter.requestDevice();
  device.addEventListener('uncapturederror', (e) => result.uncaptured.push(e.error.message));
  let lost = false;
  device.lost.then(() => (lost = true));
  const xBuffer = device.createBuffer({ size: xData.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(xBuffer, 0, xData);

  const rt = await createRuntime({ device });
  result.adapter = rt.adapter;
  result.sameDevice = rt.device === device;
  const x = rt.wrap(xBuffer, [N, C, H, W]);
  result.wrapped = x.buffer === xBuffer;
  const w = rt.tensor(wData, [O, C, K, K]);
  const b = rt.tensor(bData, [O]);

  // Eager forward and backward.
  const y = relu(conv2d(x, w, b, { stride: 1, padding: 1 }));
  const s = sum(y);
  const [dx, dw, db] = grad(s, [x, w, b]);
  result.y = Array.from(await y.read());
  result.s = await s.item();
  result.dx = Array.from(await dx.read());
  result.dw = Array.from(await dw.read());
  result.db = Array.from(await db.read());

  // Compiled, with progress; its output's buffer bound in the app's own pipeline (2y + 1).
  const progress = [];
  const program = await rt.compile(({ x }) => ({ y: relu(conv2d(x, w, b, { padding: 1 })) }), { x: [N, C, H, W] }, { onProgress: (done, total) => progress.push([done, total]) });
  result.progress = progress;
  const out = program.run({ x }).y;
  const pipeline = device.createComputePipeline({
    layout: 'auto',
    compute: {
      module: device.createShaderModule({
        code: `@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&dst)) { dst[id.x] = 2.0 * src[id.x] + 1.0; }
}`,
      }),
      entryPoint: 'main',
    },
  });
  async function ownPipeline(buffer, offset, size) {
    const dst = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer, offset, size } },
        { binding: 1, resource: { buffer: dst } },
      ],
    }));
    pass.dispatchWorkgroups(Math.ceil(size / 4 / 64));
    pass.end();
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`the app's pipeline: ${error.message}`);
    const values = await readBuffer(device, dst, 0, size);
    dst.destroy();
    return values;
  }
  result.programY = Array.from(await out.read());
  result.ownPipeline = await ownPipeline(out.buffer, out.byteOffset, out.byteLength);

  rt.dispose();
  try {
    rt.tensor([1]);
  } catch (e) {
    result.afterDisposeError = e.name;
  }
  // The device, and the app's buffer, still work.
  result.ownPipelineAfterDispose = await ownPipeline(xBuffer, 0, xData.byteLength);
  result.xAfterDispose = await readBuffer(device, xBuffer, 0, xData.byteLength);
  result.lost = lost;
  device.destroy();
}

main().then(
  () => (result.done = true),
  (e) => {
    result.errors.push(`${e.name}: ${e.message}`);
    console.error(e);
  },
).finally(() => {
  window.__result = result;
  document.getElementById('out').textContent = JSON.stringify({ done: result.done, errors: result.errors });
});
