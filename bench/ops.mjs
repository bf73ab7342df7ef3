// Kernel benchmarks on the current adapter: GFLOP/s of a 1024³ matmul, and the seed CNN's
// second conv layer forward and backward at batch 50. Prints a table; timings are the median
// over repeated runs of a compiled program, each sample closed by onSubmittedWorkDone.
import { conv2d, createRuntime, grad, matmul, sum, mul } from 'fovea';

const REPS = Number(process.env.REPS ?? 5);

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** Median ms per run of `program`, `inner` runs per sample. */
async function time(rt, program, inner) {
  program.run();
  await rt.sync(); // first run: pipelines built lazily by the driver
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

const rt = await createRuntime();
const rows = [];
const n = 1024;
{
  const a = rt.tensor(rand(n * n, 1), [n, n]);
  const b = rt.tensor(rand(n * n, 2), [n, n]);
  const p = await rt.compile(() => ({ c: matmul(a, b) }));
  const ms = await time(rt, p, 4);
  rows.push(['matmul 1024³', `${ms.toFixed(1)} ms`, `${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`]);
}
{
  // The seed CNN's conv2: [50,16,14,14] * [32,16,5,5], padding 2.
  const x = rt.tensor(rand(50 * 16 * 14 * 14, 3), [50, 16, 14, 14]);
  const w = rt.tensor(rand(32 * 16 * 25, 4), [32, 16, 5, 5]);
  const bias = rt.tensor(rand(32, 5), [32]);
  const r = rt.tensor(rand(50 * 32 * 14 * 14, 6), [50, 32, 14, 14]);
  const fwd = await rt.compile(() => ({ y: conv2d(x, w, bias, { padding: 2 }) }));
  const flops = 2 * 50 * 32 * 14 * 14 * 16 * 25;
  const fms = await time(rt, fwd, 4);
  rows.push(['conv2 forward, batch 50', `${fms.toFixed(1)} ms`, `${(flops / fms / 1e6).toFixed(1)} GFLOP/s`]);
  // Backward: gradients of input, weight and bias (the cotangent is a constant tensor).
  const bwd = await rt.compile(() => {
    const [dx, dw, db] = grad(sum(mul(conv2d(x, w, bias, { padding: 2 }), r)), [x, w, bias]);
    return { dx, dw, db };
  });
  const bms = await time(rt, bwd, 2);
  rows.push(['conv2 forward + backward, batch 50', `${bms.toFixed(1)} ms`, `${((3 * flops) / bms / 1e6).toFixed(1)} GFLOP/s`]);
}

const a = rt.adapter;
console.log(`adapter: ${[a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || 'unknown'}`);
const widths = [0, 1, 2].map((i) => Math.max(...[['kernel', 'time', 'rate'], ...rows].map((r) => r[i].length)));
const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(['kernel', 'time', 'rate']));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
rt.dispose();
