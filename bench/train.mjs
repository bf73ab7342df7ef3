// Training throughput of the seed CNN (batch 50, Adam lr 0.001) in fovea and in the two WebGPU
// peers that train in JavaScript (bench/peers: TensorFlow.js and jax-js), on the same Dawn
// adapter, one after the other in this run; and in PyTorch itself (CUDA, else CPU) as the
// yardstick. The protocol is the peers' (bench/peers/README.md):
// 20 warm-up steps, then the median samples/s over windows of 10 steps, each window ending with
// a loss read-back. Also fovea's first-step latency (pipeline compilation included), epoch time
// and the peak GPU bytes of a training step. Prints a table with ratios.
//   npm run bench [-- --steps 200 --warmup 20 --window 10 --no-peers]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, Model, TorchGenerator, Trainer } from 'fovea';
import { defaultMnistDir, loadMnistDir } from 'fovea/node';
import { benchFlags } from './flags.mjs';
import { median } from './peers/common.mjs';

const { flags, fail } = benchFlags(import.meta.url, {
  steps: { type: 'int', default: 200, min: 1 },
  warmup: { type: 'int', default: 20, min: 1 },
  window: { type: 'int', default: 10, min: 1 },
  'no-peers': { type: 'boolean' },
});
const { steps: STEPS, warmup: WARMUP, window: WINDOW } = flags;
if (STEPS < WINDOW) fail(`--steps (${STEPS}) must be at least --window (${WINDOW})`);
const BATCH = 50;
// As the peers do: measure compilation with Mesa's on-disk shader cache off.
process.env.MESA_SHADER_CACHE_DISABLE ??= 'true';


async function fovea() {
  const data = await loadMnistDir(defaultMnistDir());
  const t0 = performance.now();
  const rt = await createRuntime();
  const generator = new TorchGenerator(1);
  const model = Model.create(rt, undefined, { generator });
  const trainer = await Trainer.create(rt, model, data.train, { batchSize: BATCH, optimizer: 'adam', lr: 0.001, generator });
  let order = trainer.epochOrder();
  let at = 0;
  const step = () => {
    if (at + BATCH > order.length) {
      order = trainer.epochOrder();
      at = 0;
    }
    const idx = order.subarray(at, at + BATCH);
    at += BATCH;
    return trainer.trainStep(idx);
  };
  const first = (await (await step()).read())[0];
  const firstStepMs = performance.now() - t0;
  for (let s = 1; s < WARMUP; s++) await step();
  const rates = [];
  let loss = first;
  for (let w = 0; w < Math.floor(STEPS / WINDOW); w++) {
    const t = performance.now();
    let last;
    for (let i = 0; i < WINDOW; i++) last = await step();
    loss = (await last.read())[0];
    rates.push((WINDOW * BATCH) / ((performance.now() - t) / 1000));
  }
  const program = trainer.programFor(BATCH);
  const a = rt.adapter;
  const result = {
    peer: 'fovea',
    adapter: [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / '),
    samplesPerSec: median(rates),
    firstStepMs,
    finalLoss: loss,
    stepPeakBytes: program.stats.peakBytes,
    stepDispatches: program.stats.dispatches,
    runtimePeakBytes: rt.stats().peakBytes,
  };
  trainer.dispose();
  rt.dispose();
  return result;
}

// PyTorch itself, the yardstick: on CUDA where it has a GPU, else on the CPU (Debian's
// python3-torch; FOVEA_PYTHON picks another interpreter, as for the tests' PyTorch oracle).
function pytorch() {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'pytorch.py');
  const args = [script, '--data', defaultMnistDir(), '--steps', String(STEPS), '--warmup', String(WARMUP), '--window', String(WINDOW)];
  const r = spawnSync(process.env.FOVEA_PYTHON ?? '/usr/bin/python3', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  } catch {
    return { peer: 'PyTorch', error: r.error ? r.error.message : `exit ${r.status}` };
  }
}

function peer(script) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'peers');
  if (!existsSync(join(dir, 'node_modules'))) {
    console.error(`installing the peers (npm ci --prefix ${dir}) …`);
    execFileSync('npm', ['ci', '--prefix', dir, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  }
  const r = spawnSync(process.execPath, [join(dir, script), '--steps', String(STEPS), '--warmup', String(WARMUP), '--window', String(WINDOW)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = r.stdout.trim().split('\n').at(-1);
  try {
    return JSON.parse(line);
  } catch {
    return { peer: script, error: `exit ${r.status}` };
  }
}

console.error('fovea …');
const ours = await fovea();
const rows = [ours];
if (!flags['no-peers']) {
  for (const script of ['jax.mjs', 'tfjs.mjs']) {
    console.error(`${script} …`);
    rows.push(peer(script));
  }
  console.error('pytorch.py …');
  rows.push(pytorch());
}

const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(`adapter: ${ours.adapter}`);
console.log(`seed CNN, batch ${BATCH}, Adam: median of ${Math.floor(STEPS / WINDOW)} windows of ${WINDOW} steps after ${WARMUP} warm-up steps\n`);
const table = [['runtime', 'samples/s', 'epoch (60k)', 'first step', 'fovea is'], ...rows.map((r) => [
  r.peer,
  r.error ? r.error : r.samplesPerSec.toFixed(0),
  r.error ? '' : `${(60000 / r.samplesPerSec).toFixed(0)} s`,
  r.error ? '' : `${(r.firstStepMs / 1000).toFixed(1)} s`,
  r === ours || r.error ? '' : `${(ours.samplesPerSec / r.samplesPerSec).toFixed(1)}×`,
])];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
for (const [i, r] of table.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
console.log(`\nfovea training step: ${ours.stepDispatches} dispatches, one submit; peak GPU bytes of its intermediates ${mb(ours.stepPeakBytes)}, of the whole runtime (dataset included) ${mb(ours.runtimePeakBytes)}`);
