// Training in the demo page, as a visitor does it: builds and serves the demo, opens it in
// headless Chromium (WebGPU on SwiftShader, see scripts/demo-browser.mjs), presses "Start
// training" and records every test evaluation the page shows until its accuracy reaches the
// target. Prints a table (step, seconds since the start, samples/s, test accuracy). Settings
// are the page's controls, set through its URL; the defaults are the page's own (batch 50,
// Adam lr 0.001), tested on all 10,000 test images every 100 steps.
//   npm run bench:demo [-- --target 0.95 --minutes 30 --batch 50 --lr 0.001 --eval-every 100 --eval-images 10000]
import { launchChromium, serveDemo } from '../scripts/demo-browser.mjs';
import { benchFlags } from './flags.mjs';

const { flags } = benchFlags(import.meta.url, {
  target: { type: 'number', default: 0.95, min: 0, max: 1 },
  minutes: { type: 'number', default: 30, min: 0 },
  batch: { type: 'int', default: 50, min: 1 },
  lr: { type: 'number', default: 0.001, min: 0 },
  'eval-every': { type: 'int', default: 100, min: 1 },
  'eval-images': { type: 'int', default: 10000, min: 1, max: 10000 },
});
const TARGET = flags.target;
const query = new URLSearchParams({ batch: flags.batch, lr: flags.lr, evalEvery: flags['eval-every'], evalImages: flags['eval-images'] });

const { url, server } = await serveDemo();
const browser = await launchChromium();
let reached = false;
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const opened = performance.now();
  await page.goto(`${url}?${query}`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 300_000 });
  const adapter = await page.locator('#adapter').textContent();
  const readyS = (performance.now() - opened) / 1000;

  await page.locator('#train-toggle').click();
  const t0 = performance.now();
  const deadline = t0 + flags.minutes * 60_000;
  const rows = [];
  const stat = (id, attr = 'value') => page.locator(`#${id}`).getAttribute(`data-${attr}`);
  let shown = '';
  while (performance.now() < deadline && !reached) {
    // Each evaluation marks the accuracy with the step it was taken at.
    const at = await page.waitForFunction((prev) => {
      const el = document.querySelector('#stat-acc');
      const key = `${el.dataset.step}:${el.dataset.value}`;
      return el.dataset.step && key !== prev ? key : false;
    }, shown, { timeout: Math.max(1, deadline - performance.now()), polling: 250 }).then((h) => h.jsonValue(), () => undefined);
    if (at === undefined || errors.length) break;
    shown = at;
    const row = {
      step: Number(await stat('stat-acc', 'step')),
      seconds: (performance.now() - t0) / 1000,
      speed: Number(await stat('stat-speed')),
      accuracy: Number(await stat('stat-acc')),
    };
    rows.push(row);
    console.log(`step ${row.step}: ${(row.accuracy * 100).toFixed(2)}% after ${row.seconds.toFixed(0)} s`);
    reached = row.accuracy >= TARGET;
  }
  await page.locator('#train-toggle').click();

  console.log(`\n${adapter}; page ready (MNIST loaded, pipelines compiled) in ${readyS.toFixed(1)} s`);
  console.log(`settings: ${query}\n`);
  console.log('| step | seconds | samples/s | test accuracy |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(`| ${r.step} | ${r.seconds.toFixed(0)} | ${Math.round(r.speed)} | ${(r.accuracy * 100).toFixed(2)}% |`);
  }
  if (errors.length) console.log(`\npage errors: ${errors.join('; ')}`);
  console.log(reached ? `\nreached ${TARGET * 100}% test accuracy` : `\ndid not reach ${TARGET * 100}% in ${flags.minutes} minutes`);
} finally {
  await browser.close();
  await server.close();
}
process.exitCode = reached ? 0 : 1;
