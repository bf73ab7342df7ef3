// Kernel benchmarks on the current adapter: GFLOP/s of a 1024³ matmul, the seed CNN's second
// conv layer forward and backward at batch 50, a ResNet stem's overlapping max pooling and its
// gradient, an embedding's backward, and forward + backward of a depthwise convolution, a layer
// norm, a segmentation's cross-entropy, a bilinear upsampling and a spatial transformer's
// sampling. Prints a table;
// timings are the median of REPS samples, each as many runs of a compiled program as last 20 ms or more (a GPU's run
// can be far shorter than a wait's own cost), closed by onSubmittedWorkDone. Then
// the seed CNN's training step (or another model's), dispatch by dispatch (GPU timestamps, where
// the adapter has them): `npm run bench:ops [-- --model examples/mnist-batchnorm.json]`.
import { readFileSync } from 'node:fs';
import { affineGrid, conv2d, createRuntime, crossEntropy, gather, grad, gridSample, interpolate, layerNorm, matmul, maxPool2d, Model, NoAdapterError, TorchGenerator, Trainer } from 'fovea';
import { defaultMnistDir, loadMnistDir } from 'fovea/node';
import { create } from 'webgpu';
import { benchFlags } from './flags.mjs';

const REPS = Number(process.env.REPS ?? 5);
const { flags } = benchFlags(import.meta.url, { model: { type: 'string' } });
const spec = flags.model === undefined ? undefined : JSON.parse(readFileSync(flags.model, 'utf8'));
const modelName = flags.model ?? 'the seed CNN';

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** Median ms per run of `program`. */
async function time(rt, program) {
  program.run();
  await rt.sync(); // first run: pipelines built lazily by the driver
  let inner = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) program.run();
    await rt.sync();
    if (performance.now() - t0 >= 20 || inner >= 4096) break;
    inner *= 2;
  }
  const samples = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) program.run();
    await rt.sync();
    samples.push((performance.now() - t0) / inner);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Milliseconds to three significant digits or more. */
const ms3 = (ms) => ms.toFixed(ms >= 10 ? 1 : ms >= 1 ? 2 : 3);

// Dawn rounds timestamps to multiples of 65.5 µs unless told not to; the step's profile below
// wants them exact, so this script asks for its own device (as a host application would).
const gpu = create(['disable-dawn-features=timestamp_quantization']);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) throw new NoAdapterError('No WebGPU adapter was found (bash scripts/setup-system.sh installs a software one)');
const device = await adapter.requestDevice({
  requiredFeatures: ['timestamp-query', 'subgroups'].filter((f) => adapter.features.has(f)),
  requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
});
const rt = await createRuntime({ device });
const rows = [];
const n = 1024;
{
  const a = rt.tensor(rand(n * n, 1), [n, n]);
  const b = rt.tensor(rand(n * n, 2), [n, n]);
  const p = await rt.compile(() => ({ c: matmul(a, b) }));
  const ms = await time(rt, p);
  rows.push(['matmul 1024³', `${ms3(ms)} ms`, `${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`]);
}
{
  // The seed CNN's conv2: [50,16,14,14] * [32,16,5,5], padding 2.
  const x = rt.tensor(rand(50 * 16 * 14 * 14, 3), [50, 16, 14, 14]);
  const w = rt.tensor(rand(32 * 16 * 25, 4), [32, 16, 5, 5]);
  const bias = rt.tensor(rand(32, 5), [32]);
  const r = rt.tensor(rand(50 * 32 * 14 * 14, 6), [50, 32, 14, 14]);
  const fwd = await rt.compile(() => ({ y: conv2d(x, w, bias, { padding: 2 }) }));
  const flops = 2 * 50 * 32 * 14 * 14 * 16 * 25;
  const fms = await time(rt, fwd);
  rows.push(['conv2 forward, batch 50', `${ms3(fms)} ms`, `${(flops / fms / 1e6).toFixed(1)} GFLOP/s`]);
  // Backward: gradients of input, weight and bias, given the output's gradient r.
  const bwd = await rt.compile(() => {
    const [dx, dw, db] = grad(conv2d(x, w, bias, { padding: 2 }), [x, w, bias], r);
    return { dx, dw, db };
  });
  const bms = await time(rt, bwd);
  rows.push(['conv2 forward + backward, batch 50', `${ms3(bms)} ms`, `${((3 * flops) / bms / 1e6).toFixed(1)} GFLOP/s`]);
}
{
  // A ResNet stem's max pooling, 3×3 windows at stride 2 (each pixel in up to four), batch 16.
  const shape = [16, 64, 56, 56];
  const size = shape.reduce((p, d) => p * d);
  const x = rt.tensor(rand(size, 9), shape);
  const opts = { kernelSize: 3, stride: 2, padding: 1 };
  const r = rt.tensor(rand(16 * 64 * 28 * 28, 10), [16, 64, 28, 28]);
  const fms = await time(rt, await rt.compile(() => ({ y: maxPool2d(x, opts) })));
  rows.push(['max pool 3×3 stride 2, [16, 64, 56, 56]', `${ms3(fms)} ms`, `${(size / fms / 1e6).toFixed(2)} G inputs/s`]);
  const bms = await time(rt, await rt.compile(() => ({ dx: grad(maxPool2d(x, opts), [x], r)[0] })));
  rows.push(['its gradient', `${ms3(bms)} ms`, `${(size / bms / 1e6).toFixed(2)} G inputs/s`]);
}
{
  // An embedding's backward: a 50,000 × 64 table, 8,192 picks (a batch of token ids).
  const [vocab, dim, picks] = [50_000, 64, 8192];
  const table = rt.tensor(rand(vocab * dim, 7), [vocab, dim]);
  const idx = rt.tensor(Int32Array.from({ length: picks }, (_, i) => (i * 7919 + ((i * i) % 13)) % vocab));
  const r = rt.tensor(rand(picks * dim, 8), [picks, dim]);
  const p = await rt.compile(() => ({ g: grad(gather(table, idx), [table], r)[0] }));
  const ms = await time(rt, p);
  rows.push([`embedding backward, ${vocab.toLocaleString('en')} × ${dim} table, ${picks.toLocaleString('en')} picks`, `${ms3(ms)} ms`, `${((vocab + picks) * dim / ms / 1e6).toFixed(2)} G values/s`]);
}

{
  // Forward and backward (every input's gradient) of ops a model is built from, per input value.
  const both = async (name, shape, f) => {
    const size = shape.reduce((p, d) => p * d);
    const x = rt.tensor(rand(size, 11), shape);
    const y = f(x); // recorded, never run: its shape for the output's gradient
    const r = y.rank ? rt.tensor(rand(y.size, 12), y.shape) : undefined;
    const ms = await time(rt, await rt.compile(() => ({ dx: grad(f(x), [x], r)[0] })));
    rows.push([`${name}, forward + backward`, `${ms3(ms)} ms`, `${(size / ms / 1e6).toFixed(2)} G inputs/s`]);
  };
  const depthwise = rt.tensor(rand(64 * 9, 13), [64, 1, 3, 3]);
  await both('depthwise conv 3×3, [16, 64, 56, 56]', [16, 64, 56, 56], (x) => conv2d(x, depthwise, undefined, { padding: 1, groups: 64 }));
  await both('layerNorm over 768, [64, 128, 768]', [64, 128, 768], (x) => layerNorm(x, [768]));
  const labels = rt.tensor(Int32Array.from({ length: 16 * 64 * 64 }, (_, i) => (i * 7) % 21), [16, 64, 64]);
  await both('crossEntropy, [16, 21, 64, 64] by pixel', [16, 21, 64, 64], (x) => crossEntropy(x, labels));
  await both('bilinear 2× upsampling, [8, 32, 64, 64]', [8, 32, 64, 64], (x) => interpolate(x, { scaleFactor: 2, mode: 'bilinear' }));
  // A spatial transformer zooming in 2×: each pixel touched by about 16 of the grid's points.
  const theta = rt.tensor(Float32Array.from({ length: 16 * 6 }, (_, i) => [0.5, 0.01, 0.02, -0.01, 0.5, 0.03][i % 6]), [16, 2, 3]);
  const zoom = affineGrid(theta, [16, 8, 64, 64]);
  await both('gridSample 2× zoom, [16, 8, 64, 64]', [16, 8, 64, 64], (x) => gridSample(x, zoom));
}

function table(head, body) {
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of body) console.log(line(r));
}

const a = rt.adapter;
console.log(`adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unknown'}`);
table(['kernel', 'time', 'rate'], rows.map((r) => r.map(String)));

// The model's training step (batch 50, Adam), dispatch by dispatch.
if (rt.device.features.has('timestamp-query')) {
  const data = await loadMnistDir(defaultMnistDir());
  const generator = new TorchGenerator(1);
  const trainer = await Trainer.create(rt, Model.create(rt, spec, { generator }), data.train, { batchSize: 50, optimizer: 'adam', lr: 0.001, generator });
  const order = trainer.epochOrder();
  await (await trainer.trainStep(order.subarray(0, 50))).read();
  const step = trainer.programFor(50);
  let timings = await step.profile({ idx: order.subarray(50, 100) });
  for (let r = 1; r < REPS; r++) {
    const again = await step.profile({ idx: order.subarray(50 * (r + 1), 50 * (r + 2)) });
    timings = timings.map((t, i) => ({ ...t, ms: Math.min(t.ms, again[i].ms) }));
  }
  const total = timings.reduce((s, t) => s + t.ms, 0);
  console.log(`\ntraining step of ${modelName}, batch 50: ${timings.length} dispatches, ${step.stats.fused} ops fused away, ${ms3(total)} ms of GPU time (best of ${REPS} per dispatch)`);
  table(['dispatch', 'kernel', 'ms'], timings.map((t) => [t.label, t.kernel, t.ms.toFixed(3)]));
  trainer.dispose();
}
rt.dispose();
device.destroy();
