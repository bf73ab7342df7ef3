// Browser tests of the demo (demo/), built, served and opened in Debian's Chromium with WebGPU
// on SwiftShader (scripts/demo-browser.mjs), driven by playwright-core. Covers start-up without
// console errors, a bad setting pointed out, training (the loss falls), drawing with synthesized
// pointer strokes and taps, the activation maps (screenshots, since a WebGPU canvas reads blank
// through drawImage), a narrow window (keys, layout, no ResizeObserver errors), weights
// from the CLI (the page must classify test digits exactly as `fovea eval` does), saving, specs
// spelt differently and other networks, loading while training, save/load/reset clicked at
// once, a corrupt file, the dev server, and browsers without WebGPU or without an adapter.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Locator, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { build, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveDemo } from '../scripts/demo-browser.mjs';
import { fitDigit, lumaBytes, parseCheckpoint, parseSafetensors, serializeSafetensors, SPEC_KEY } from '../src/index.js';
import { mnistHead } from './mnist-fixtures.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli.js');
const ARTIFACTS = join(ROOT, 'artifacts');
/** Test digits compared between the page and `fovea eval`. */
const COMPARED = 20;
// SwiftShader is slow: a small batch, and tests on 100 images only.
const QUERY = '?batch=8&lr=0.003&evalImages=100&evalEvery=20&augment=1';

const run = promisify(execFile);
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() };

let tmp: string;
let server: PreviewServer;
let url: string;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
/** The untrained model's test accuracy, measured at start-up (Reset must measure it again). */
let untrained: number;
/** The CLI's checkpoint and its predictions on the first COMPARED test images. */
let cliCheckpoint: Promise<{ file: string; predictions: number[] }>;

async function cli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { cwd: ROOT, env, maxBuffer: 16 << 20 });
  return stdout;
}

async function cliPredictions(checkpoint: string): Promise<number[]> {
  const out = JSON.parse(await cli(['eval', '--checkpoint', checkpoint, '--json', '--limit', String(COMPARED)])) as { predictions: number[] };
  return out.predictions;
}

/** Luminance variance of an element's screenshot, and the fraction of pixels that are not the page's white. */
async function pixels(el: Locator): Promise<{ variance: number; inked: number }> {
  const png = PNG.sync.read(await el.screenshot());
  let sum = 0;
  let sq = 0;
  let inked = 0;
  const n = png.width * png.height;
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [png.data[4 * i]!, png.data[4 * i + 1]!, png.data[4 * i + 2]!];
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    sum += y;
    sq += y * y;
    if (r < 252 || g < 252 || b < 252) inked++;
  }
  return { variance: sq / n - (sum / n) ** 2, inked: inked / n };
}

async function number(sel: string, attr = 'value'): Promise<number> {
  return Number(await page.locator(sel).getAttribute(`data-${attr}`));
}

/** The step the page shows. */
const step = () => number('#stat-step');

/** Presses Start and waits until a step has been taken. */
async function startTraining(): Promise<void> {
  const start = await step();
  await page.locator('#train-toggle').click();
  await expect.poll(step, { timeout: 60_000 }).toBeGreaterThan(start);
}

/** Shows test image k and returns the class the page predicts for it. */
async function predictTest(k: number, weights: number): Promise<number> {
  await page.locator('#sample-index').fill(String(k));
  await page.locator('#sample-show').click();
  const shown = page.locator(`#prediction[data-for="test:${k}"][data-weights="${weights}"]`);
  await shown.waitFor({ timeout: 30_000 });
  return Number(await shown.getAttribute('data-class'));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fovea-demo-'));
  // The CLI trains while the demo builds and the browser runs (it needs the library build).
  cliCheckpoint = (async () => {
    if (!existsSync(CLI)) await build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
    const file = join(tmp, 'cli.safetensors');
    await cli(['train', '--steps', '60', '--batch-size', '32', '--lr', '0.003', '--eval-limit', '100', '--out', file]);
    return { file, predictions: await cliPredictions(file) };
  })();
  cliCheckpoint.catch(() => undefined); // awaited (and reported) by its test
  ({ url, server } = await serveDemo());
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1300, height: 1000 }, acceptDownloads: true });
  // Errors reported to the window without an exception (a ResizeObserver loop) reach no listener of playwright's.
  await page.addInitScript(() => addEventListener('error', (e) => e.error ?? console.error(`window error: ${e.message}`)));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await cliCheckpoint?.catch(() => undefined);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('demo in Chromium (WebGPU on SwiftShader)', () => {
  it('starts: shows the adapter, downloads MNIST, compiles, tests the untrained model', async () => {
    await page.goto(url + QUERY);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    expect(await page.locator('#adapter').textContent()).toMatch(/^Running on .*swiftshader.*: a CPU adapter/i);
    expect(await page.locator('#error').isHidden()).toBe(true);
    expect(await page.locator('#progress').isHidden()).toBe(true);
    // Test image 0 (a 7) is shown at start, and the untrained model's accuracy is measured.
    expect(await page.locator('#prediction').getAttribute('data-for')).toBe('test:0');
    untrained = await number('#stat-acc');
    expect(untrained).toBeLessThan(0.5);
    // Its prediction is said to be a guess.
    await expect.poll(() => page.locator('#prediction-note').textContent()).toMatch(/% sure — the label is 7 — a guess: the network is untrained \(press Start training\)$|% sure — correct \(label 7\) — a guess: the network is untrained/);
    expect(await page.getByRole('group', { name: 'class probabilities' }).count()).toBe(1);
    expect(await page.getByRole('img', { name: 'the 28×28 image the network sees' }).count()).toBe(1);
    // A digit the test got wrong: shown with its label, which the prediction is not.
    const mistake = page.locator('#sample-mistake');
    expect(await mistake.getAttribute('title')).toMatch(/^shows one of the \d+ of the 100 test digits at step 0 that the network got wrong$/);
    expect(await mistake.textContent()).toBe('One it got wrong at step 0');
    await mistake.click();
    const shown = await page.locator('#sample-index').inputValue();
    expect(Number(shown)).toBeLessThan(100);
    await expect.poll(() => page.locator('#prediction').getAttribute('data-for')).toBe(`test:${shown}`);
    expect(await page.locator('#prediction-note').textContent()).toMatch(/% sure — the label is \d — a guess/);
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('points out an invalid number of steps between tests, keeping the last good one, in effect and in the field', async () => {
    const field = page.locator('#eval-every');
    for (const bad of ['', '0', '-5', '1e9', '2.5']) {
      await field.fill(bad);
      await field.dispatchEvent('change');
      expect(await field.evaluate((e: HTMLInputElement) => e.validationMessage), bad).toBe('Steps between tests must be a whole number from 1 to 1,000,000; it stays 20.');
      expect(await field.inputValue()).toBe('20');
    }
    await field.fill('20');
    await field.dispatchEvent('change');
    expect(await field.evaluate((e: HTMLInputElement) => e.validationMessage)).toBe('');
  });

  it('trains: the shown loss falls, samples/s and test accuracy are shown', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { statuses: string[] };
      const status = document.querySelector('#train-status')!;
      w.statuses = [];
      new MutationObserver((records) => w.statuses.push(...records.flatMap((r) => [...r.addedNodes].map((n) => n.textContent!)))).observe(status, { childList: true });
    });
    await page.locator('#train-toggle').click();
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#stat-step')!.dataset.value) >= 40, null, { timeout: 90_000 });
    expect(await page.locator('#stat-speed').textContent()).toMatch(/^[\d,]+$/);
    // Paused from the keyboard: the button, disabled while the step in flight finishes, keeps
    // the focus, so Enter can press it again.
    await page.locator('#train-toggle').focus();
    await page.keyboard.press('Enter');
    // Pausing waits for the step (and any evaluation) in flight: seconds on SwiftShader under load.
    await expect.poll(() => page.locator('#train-toggle').textContent(), { timeout: 30_000 }).toBe('Resume training');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id), { timeout: 30_000 }).toBe('train-toggle');
    const first = await number('#stat-loss', 'first');
    const average = await number('#stat-loss');
    expect(first).toBeGreaterThan(2);
    expect(average).toBeLessThan(first - 0.3);
    expect(await page.locator('#stat-speed').textContent()).toBe('–'); // paused: none
    await expect.poll(() => page.locator('#prediction-note').textContent()).not.toMatch(/untrained/);
    // Tested every 20 steps (the URL's setting): well above chance by step 40.
    expect(await number('#stat-acc')).toBeGreaterThan(0.3);
    expect(await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses)).toEqual(expect.arrayContaining(['testing… 0 of 100', 'testing… 100 of 100']));
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo-after-training.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('switches the optimizer and the augmentation between steps: from the next step on, said on the charts', async () => {
    const from = (await step()) + 1;
    await page.locator('#optimizer').selectOption({ label: 'SGD, momentum 0.9' });
    expect(await page.locator('#augment').isChecked(), "the address's augment=1").toBe(true);
    await page.locator('#augment').uncheck();
    await page.locator('#train-toggle').click();
    await page.waitForFunction((s) => Number(document.querySelector<HTMLElement>('#stat-step')!.dataset.value) >= s + 5, from, { timeout: 90_000 });
    await page.locator('#train-toggle').click();
    await expect.poll(() => page.locator('#train-toggle').textContent(), { timeout: 30_000 }).toBe('Resume training');
    expect(await page.locator('#chart-loss').getAttribute('aria-label')).toBe(`chart: training loss by step (log scale); from step ${from}: SGD, momentum 0.9, augmentation off`);
    expect(await page.locator('#chart-acc').getAttribute('aria-label')).toBe(`chart: test accuracy by step; from step ${from}: SGD, momentum 0.9, augmentation off`);
    // Still learning: the average loss below the first step's.
    expect(await number('#stat-loss')).toBeLessThan((await number('#stat-loss', 'first')) - 0.3);
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('classifies a digit drawn with pointer strokes, and a tap', async () => {
    const pad = page.locator('#pad');
    await pad.scrollIntoViewIfNeeded();
    await page.locator('#pad-clear').click();
    await expect.poll(() => page.locator('#prediction').getAttribute('data-class')).toBe('');
    expect(await page.locator('#sample-index').inputValue()).toBe(''); // no test digit is shown
    const box = (await pad.boundingBox())!;
    // A tap draws a dot, which is classified.
    await page.mouse.click(box.x + 140, box.y + 140);
    await expect.poll(() => page.locator('#prediction').getAttribute('data-class'), { timeout: 30_000 }).toMatch(/^\d$/);
    await page.locator('#pad-clear').click();
    await expect.poll(() => page.locator('#prediction').getAttribute('data-class')).toBe('');
    // A blank pad predicts nothing, in the out row too: its logits are written, none marked.
    expect(await page.locator('[data-layer="out"] .class-labels small').count()).toBe(10);
    expect(await page.locator('[data-layer="out"] .class-labels .top').count()).toBe(0);
    // Each class's label centred under its tile: tiles of the row's size, 6 pixels apart, from the canvas's left.
    const out = page.locator('[data-layer="out"]');
    const canvasBox = (await out.locator('canvas.maps').boundingBox())!;
    const centres = await out.locator('.class-labels span').evaluateAll((spans) => spans.map((s) => s.getBoundingClientRect().left + s.getBoundingClientRect().width / 2));
    const tile = (canvasBox.width - 9 * 6) / 10;
    centres.forEach((c, k) => expect(Math.abs(c - (canvasBox.x + k * (tile + 6) + tile / 2)), `label ${k}`).toBeLessThan(1));
    // A "1": one stroke down the middle, slightly slanted.
    await page.mouse.move(box.x + 150, box.y + 40);
    await page.mouse.down();
    await page.mouse.move(box.x + 140, box.y + 140, { steps: 10 });
    await page.mouse.move(box.x + 130, box.y + 240, { steps: 10 });
    await page.mouse.up();
    await page.waitForFunction(() => /^\d$/.test(document.querySelector<HTMLElement>('#prediction')!.dataset.class ?? ''), null, { timeout: 30_000 });
    expect(await page.locator('#prediction').getAttribute('data-for')).toMatch(/^drawing:/);
    // The preprocessed 28×28 image (a 2D canvas) has ink, centred.
    const ink = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('#pad-preview')!;
      const d = c.getContext('2d')!.getImageData(0, 0, 28, 28).data;
      let sum = 0;
      let mx = 0;
      for (let i = 0; i < 784; i++) {
        sum += d[4 * i]!;
        mx += d[4 * i]! * ((i % 28) + 0.5);
      }
      return { sum, cx: mx / sum };
    });
    expect(ink.sum).toBeGreaterThan(255 * 20);
    expect(Math.abs(ink.cx - 14)).toBeLessThan(1.5);
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('draws one stroke at a time: a second touch is ignored, and a shown test digit is cleared first', async () => {
    const pad = page.locator('#pad');
    await page.locator('#sample-index').fill('0'); // emptied by the drawing before
    await page.locator('#sample-show').click(); // test digit 0, a 7
    const box = (await pad.boundingBox())!;
    const scale = await pad.evaluate((c: HTMLCanvasElement) => c.width / c.getBoundingClientRect().width);
    /** Ink (red channel > 128) in each of the given boxes of the pad, in CSS pixels from its corner. */
    const inkIn = (areas: [number, number, number, number][]) =>
      pad.evaluate(
        (c: HTMLCanvasElement, { areas, scale }) => {
          const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          return areas.map(([x0, y0, x1, y1]) => {
            let n = 0;
            for (let y = Math.floor(y0 * scale); y < y1 * scale; y++) for (let x = Math.floor(x0 * scale); x < x1 * scale; x++) if (d[4 * (y * c.width + x)]! > 128) n++;
            return n;
          });
        },
        { areas, scale },
      );
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
    const point = (id: number, x: number, y: number) => ({ id, x: box.x + x, y: box.y + y, radiusX: 2, radiusY: 2, force: 1 });
    const touch = (type: 'touchStart' | 'touchMove' | 'touchEnd', points: ReturnType<typeof point>[]) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points });
    // Finger 1 draws down the left edge; halfway, a palm lands bottom right and slides.
    await touch('touchStart', [point(1, 20, 30)]);
    for (let y = 40; y <= 120; y += 10) await touch('touchMove', [point(1, 20, y)]);
    await touch('touchStart', [point(1, 20, 120), point(2, 240, 240)]);
    for (let y = 130; y <= 250; y += 10) await touch('touchMove', [point(1, 20, y), point(2, 250 - (y - 130) / 4, 240)]);
    await touch('touchEnd', []);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: false });
    // The digit shown before is gone (its strokes are in the middle), the whole left line is
    // there, and the palm drew nothing.
    const [middle, top, bottom, palm] = await inkIn([[80, 60, 220, 240], [10, 30, 30, 110], [10, 140, 30, 250], [200, 225, 270, 255]]);
    expect({ middle, palm }).toEqual({ middle: 0, palm: 0 });
    expect(top).toBeGreaterThan(100);
    expect(bottom).toBeGreaterThan(100);
    // A second stroke adds to the first: only a shown test digit is cleared by a new stroke.
    await page.mouse.move(box.x + 250, box.y + 30);
    await page.mouse.down();
    await page.mouse.move(box.x + 250, box.y + 100, { steps: 5 });
    await page.mouse.up();
    const [left, right] = await inkIn([[10, 30, 30, 250], [240, 30, 260, 100]]);
    expect(left).toBeGreaterThan(200);
    expect(right).toBeGreaterThan(100);
    await page.locator('#pad-clear').click();
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('opens a picture of a digit and sees it as `fovea predict` fits it; a file that is no picture is named', async () => {
    // Test digit 0 (a 7) drawn 5 times larger, dark on a white page: a scan of a written digit.
    const [width, height, k, left, top] = [200, 170, 5, 43, 9];
    const digit = mnistHead('test', 1).pixels;
    const page7 = new PNG({ width, height });
    page7.data.fill(255);
    for (let y = 0; y < 28 * k; y++) {
      for (let x = 0; x < 28 * k; x++) {
        const at = 4 * ((top + y) * width + left + x);
        page7.data[at] = page7.data[at + 1] = page7.data[at + 2] = 255 - digit[Math.floor(y / k) * 28 + Math.floor(x / k)]!;
      }
    }
    await page.locator('#picture-file').setInputFiles({ name: 'page7.png', mimeType: 'image/png', buffer: PNG.sync.write(page7) });
    await expect.poll(() => page.locator('#prediction').getAttribute('data-for')).toBe('picture:1');
    // What the network sees, as Node fits the same file (decoded by pngjs there, by Chromium here).
    const want = fitDigit({ width, height, data: Float32Array.from(lumaBytes(page7.data), (v) => v / 255) }).image;
    const seen = await page.locator('#pad-preview').evaluate((c: HTMLCanvasElement) => Array.from(c.getContext('2d')!.getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0)));
    const off = seen.map((v, i) => Math.abs(v - Math.round(want[i]! * 255)));
    expect(Math.max(...off)).toBeLessThanOrEqual(1);
    expect(seen.filter((v) => v > 0).length).toBeGreaterThan(50);
    // The pad shows the picture itself: white paper, as the file has.
    const paper = await page.locator('#pad').evaluate((c: HTMLCanvasElement) => c.getContext('2d')!.getImageData(10, 140, 1, 1).data[0]);
    expect(paper).toBeGreaterThan(200);
    // Scrolled far below the page's head, as on a phone at the pad.
    await page.evaluate(() => scrollTo(0, document.body.scrollHeight));
    expect(await page.evaluate(() => scrollY)).toBeGreaterThan(300);
    await page.locator('#picture-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await expect.poll(() => page.locator('#error').textContent()).toMatch(/^opening a picture: notes\.txt: not a picture this browser can read/);
    // Shown where the page is scrolled to, not in the page's head.
    const banner = (await page.locator('#error').boundingBox())!;
    expect(banner.y).toBeGreaterThanOrEqual(0);
    expect(banner.y + banner.height).toBeLessThanOrEqual(page.viewportSize()!.height);
    await page.evaluate(() => scrollTo(0, 0));
    await page.locator('#error .dismiss').click();
    expect(await page.locator('#prediction').getAttribute('data-for')).toBe('picture:1');
    // A picture that opens clears the error of one that did not.
    await page.locator('#picture-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await expect.poll(() => page.locator('#error').isVisible()).toBe(true);
    await page.locator('#picture-file').setInputFiles({ name: 'page7.png', mimeType: 'image/png', buffer: PNG.sync.write(page7) });
    await expect.poll(() => page.locator('#prediction').getAttribute('data-for')).toBe('picture:2');
    expect(await page.locator('#error').isVisible()).toBe(false);
    // A picture of nothing: said of the picture, not asking for a drawing.
    const grey = new PNG({ width: 40, height: 30 });
    grey.data.fill(128);
    await page.locator('#picture-file').setInputFiles({ name: 'grey.png', mimeType: 'image/png', buffer: PNG.sync.write(grey) });
    await expect.poll(() => page.locator('#prediction').getAttribute('data-for')).toBe('picture:3');
    await expect.poll(() => page.locator('#prediction-note').textContent()).toBe('No digit found in grey.png.');
    expect(consoleErrors).toEqual([]);
  });

  it('draws every activation map from the GPU buffers (non-blank canvases)', async () => {
    // A click on a map brings the explanation, below all the rows, into view.
    const inView = () => page.locator('.explain-text').evaluate((e) => e.getBoundingClientRect().bottom <= innerHeight + 1); // + rounding
    const conv1 = page.locator('[data-layer="conv1.0"] canvas');
    await conv1.scrollIntoViewIfNeeded();
    expect(await inView()).toBe(false);
    await conv1.click({ position: { x: 70, y: 10 } });
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'conv1.0, channel 1', null, { timeout: 30_000 });
    await expect.poll(inView, { timeout: 10_000 }).toBe(true);
    // Choose a channel of the second conv layer for the explanation.
    const conv2 = page.locator('[data-layer="conv2.0"] canvas');
    await conv2.click({ position: { x: 10, y: 10 } });
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'conv2.0, channel 0', null, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('.explain-check')?.textContent?.includes('16 intermediate maps'), null, { timeout: 30_000 });
    // The sum of the per-input-channel maps plus the bias equals the conv layer's own output.
    expect(Number(await page.locator('.explain-check').getAttribute('data-error'))).toBeLessThan(1e-4);
    // The same by keyboard: arrow keys on a focused row choose the channel, and the input channel.
    await conv2.focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'conv2.0, channel 1', null, { timeout: 30_000 });
    await page.locator('#explain canvas').first().focus();
    await page.keyboard.press('End');
    await page.waitForFunction(() => document.querySelector('.kernel-caption')?.textContent?.startsWith('kernel conv2.0.weight[1, 15]'), null, { timeout: 30_000 });
    // The choice, drawn on canvases, is also said in words to screen readers, and each row of
    // maps is a listbox of its channels (a screen reader passes it the arrow keys).
    expect(await page.locator('#explain [aria-live="polite"]').textContent()).toBe('Explaining conv2.0, channel 1; listing the kernel of input channel 15.');
    // As Chromium's accessibility tree has them (the options are the canvases' fallback content).
    const cdp = await page.context().newCDPSession(page);
    const selectedOptions = async () => {
      const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as { nodes: { role?: { value: string }; name?: { value: string }; properties?: { name: string; value: { value: unknown } }[] }[] };
      const listboxes = nodes.filter((n) => n.role?.value === 'listbox').map((n) => n.name!.value.split(/[:;]/)[0]);
      const chosen = nodes
        .filter((n) => n.role?.value === 'option' && /channel/.test(n.name?.value ?? '') && n.properties?.some((p) => p.name === 'selected' && p.value.value === true))
        .map((n) => n.name!.value);
      return { listboxes, chosen };
    };
    await expect.poll(selectedOptions).toEqual({
      listboxes: ['conv1.0', 'conv1.1', 'conv1.2', 'conv2.0', 'conv2.1', 'conv2.2', 'out', 'conv1.2', 'their 16 kernels, conv2.0.weight[1, 0…15]', 'input ∗ kernel'],
      // The block's rows (conv, ReLU, pool) show the channel chosen; the explanation's three rows, the input channel.
      chosen: ['conv2.0, channel 1', 'conv2.1, channel 1', 'conv2.2, channel 1', 'input channel 15', 'input channel 15', 'input channel 15'],
    });
    await cdp.detach();
    const layers = await page.locator('[data-layer]').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.layer!));
    expect(layers).toEqual(['input', 'conv1.0', 'conv1.1', 'conv1.2', 'conv2.0', 'conv2.1', 'conv2.2', 'out']);
    for (const name of layers) {
      const { variance } = await pixels(page.locator(`[data-layer="${name}"] canvas`));
      expect(variance, `pixel variance of the ${name} maps`).toBeGreaterThan(50);
    }
    // Input channels, kernels, intermediate maps; the sum, its ReLU, its max-pool. The last two
    // may be uniform (a channel that ReLU zeroes everywhere), but are drawn all the same.
    const explainCanvases = page.locator('#explain canvas');
    expect(await explainCanvases.count()).toBe(6);
    for (let i = 0; i < 6; i++) {
      const { variance, inked } = await pixels(explainCanvases.nth(i));
      if (i < 4) expect(variance, `explanation canvas ${i}`).toBeGreaterThan(20);
      expect(inked, `explanation canvas ${i}`).toBeGreaterThan(0.5);
    }
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it("in a narrow window: lays out again without errors, Up and Down follow the wrapped rows, the arrows stay between the figures; at a phone's width nothing is wider than it", async () => {
    await page.setViewportSize({ width: 400, height: 1000 });
    try {
      // conv2.0's 16 input channels wrap to two rows of 8.
      const first = page.locator('#explain canvas').first();
      await expect.poll(() => first.evaluate((c) => c.getBoundingClientRect().width), { timeout: 30_000 }).toBeLessThan(400);
      await first.focus();
      await page.keyboard.press('End');
      await page.keyboard.press('ArrowDown');
      await page.waitForFunction(() => document.querySelector('.kernel-caption')?.textContent?.startsWith('kernel conv2.0.weight[1, 7]'), null, { timeout: 30_000 });
      // Each arrow of the sum lies between the figures it joins: in their row, or stacked between them.
      const misplaced = await page.locator('#explain .arrow').evaluateAll((arrows) =>
        arrows.filter((a) => {
          const [p, r, n] = [a.previousElementSibling!, a, a.nextElementSibling!].map((e) => e.getBoundingClientRect()) as [DOMRect, DOMRect, DOMRect];
          const inRow = p.right <= r.left && r.right <= n.left && r.bottom > p.top && r.top < p.bottom && r.bottom > n.top && r.top < n.bottom;
          const stacked = p.bottom <= r.top && r.bottom <= n.top;
          return !inRow && !stacked;
        }).length,
      );
      expect(misplaced).toBe(0);
      // A phone's width: nothing wider than the window (a long line of code wraps).
      await page.setViewportSize({ width: 375, height: 800 });
      await expect.poll(() => page.evaluate(() => document.documentElement.scrollWidth), { timeout: 30_000 }).toBeLessThanOrEqual(375);
    } finally {
      await page.setViewportSize({ width: 1300, height: 1000 });
    }
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it("explains a class of the out row: the maps flattened into it, its weights for the class, their products summing to the logit", async () => {
    const out = page.locator('[data-layer="out"] canvas');
    await out.scrollIntoViewIfNeeded();
    const box = (await out.boundingBox())!;
    await out.click({ position: { x: box.width * (7.5 / 10), y: box.height / 2 } });
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'out, class 7', null, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('.explain-check')?.textContent?.includes('1,568 products'), null, { timeout: 30_000 });
    // The products plus the bias sum to the logit the out row shows, to f32 rounding.
    const check = (await page.locator('.explain-check').textContent())!;
    const [, sum, logit] = /sum to (−?[\d.]+); logit 7 is (−?[\d.]+)/.exec(check)!.map((v) => v.replace('−', '-'));
    expect(Math.abs(Number(sum) - Number(logit))).toBeLessThan(1e-3);
    expect(Number(await page.locator('.explain-check').getAttribute('data-error'))).toBeLessThan(1e-4 * Math.max(1, Math.abs(Number(logit))));
    // The weights listed are those of the map chosen (the input channel chosen before, if any).
    const [, from, to, map] = /^weights out\.weight\[7, (\d+)…(\d+)\] \(for map (\d+), 7×7\); bias out\.bias\[7\] = −?[\d.]+$/.exec((await page.locator('.kernel-caption').textContent())!)!.map(Number);
    expect([from, to]).toEqual([49 * map!, 49 * map! + 48]);
    expect(await page.locator('#explain table.kernel tr').count()).toBe(7);
    expect(await page.locator('.explain-sum-box').isHidden()).toBe(true); // a conv channel's sum, ReLU and pool
    for (let i = 0; i < 3; i++) expect((await pixels(page.locator('#explain canvas').nth(i))).variance, `row ${i}`).toBeGreaterThan(20);
    // By keyboard: the class, and the map whose weights are listed.
    await out.focus();
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'out, class 6', null, { timeout: 30_000 });
    await page.locator('#explain canvas').first().focus();
    await page.keyboard.press('End');
    await page.waitForFunction(() => document.querySelector('.kernel-caption')?.textContent?.startsWith('weights out.weight[6, 1519…1567] (for map 31'), null, { timeout: 30_000 });
    // Back to a conv channel: its sum, ReLU and pool again.
    const conv2 = page.locator('[data-layer="conv2.0"] canvas');
    await conv2.scrollIntoViewIfNeeded();
    await conv2.click({ position: { x: 10, y: 10 } });
    await page.waitForFunction(() => document.querySelector('#explain h3')?.textContent === 'conv2.0, channel 0', null, { timeout: 30_000 });
    expect(await page.locator('.explain-sum-box').isVisible()).toBe(true);
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('loads a checkpoint written by the CLI and classifies test digits as `fovea eval` does', async () => {
    const { file, predictions } = await cliCheckpoint;
    await page.locator('#load').setInputFiles(file);
    await page.waitForSelector('#weights-status[data-loaded="cli.safetensors"]', { timeout: 30_000 });
    const weights = await number('#weights-status', 'version');
    const shown: number[] = [];
    for (let k = 0; k < COMPARED; k++) shown.push(await predictTest(k, weights));
    expect(shown).toEqual(predictions);
    // Each logit is written under its map in the out row, the largest marked: the class shown.
    const logits = await page.locator('[data-layer="out"] .class-labels small').allTextContents();
    expect(logits).toHaveLength(10);
    const values = logits.map((v) => Number(v.replace('−', '-')));
    expect(values.every(Number.isFinite)).toBe(true);
    expect(await page.locator('[data-layer="out"] .class-labels .top').textContent()).toBe(`${shown.at(-1)}${logits[shown.at(-1)!]}`);
    // Each row says what its colours span: the largest |value|, measured on the GPU (for the
    // out row, the largest |logit| written under it, to their rounding), or the image's 0…1.
    const span = /^blue −([\d.e+-]+) … white 0 … red ([\d.e+-]+)$/.exec((await page.locator('[data-layer="out"] .map-scale').textContent())!);
    expect(span?.[1]).toBe(span?.[2]);
    expect(Math.abs(Number(span![1]) - Math.max(...values.map(Math.abs)))).toBeLessThan(0.06);
    expect(await page.locator('[data-layer="input"] .map-scale').textContent()).toBe('black 0 … white 1');
    expect(await page.locator('[data-layer="conv2.0"] .map-scale').textContent()).toMatch(/^blue −[\d.]+ … white 0 … red [\d.]+$/);
    // After a ReLU (and its max-pool) nothing is negative: no blue.
    for (const layer of ['conv2.1', 'conv2.2']) expect(await page.locator(`[data-layer="${layer}"] .map-scale`).textContent()).toMatch(/^white 0 … red [\d.]+$/);
    expect(consoleErrors).toEqual([]);
  }, 120_000);

  it('saves weights that the CLI reads and that classify as in the page', async () => {
    const download = page.waitForEvent('download');
    await page.locator('#save').click();
    const file = join(tmp, (await download).suggestedFilename());
    await (await download).saveAs(file);
    const { tensors, metadata } = parseSafetensors(new Uint8Array(await readFile(file)), file);
    expect([...tensors.keys()].sort()).toEqual(['conv1.0.bias', 'conv1.0.weight', 'conv2.0.bias', 'conv2.0.weight', 'out.bias', 'out.weight']);
    expect(metadata.format).toBe('pt');
    // The page holds the CLI's weights (loaded above), so the CLI predicts the same from them.
    expect(await cliPredictions(file)).toEqual((await cliCheckpoint).predictions);
    // And as torch.save writes them: the same tensors, bit for bit, and the spec.
    const downloadPt = page.waitForEvent('download');
    await page.locator('#save-pt').click();
    const pt = join(tmp, (await downloadPt).suggestedFilename());
    expect(pt).toMatch(/\.pt$/);
    await (await downloadPt).saveAs(pt);
    const torch = parseCheckpoint(new Uint8Array(await readFile(pt)), pt);
    expect(torch.spec).toEqual(JSON.parse(metadata[SPEC_KEY]!));
    for (const [name, t] of tensors) expect(Array.from(torch.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
  }, 60_000);

  it('loads weights whose spec is spelt differently, and names the layer of a different model', async () => {
    const { file } = await cliCheckpoint;
    const { tensors, metadata } = parseSafetensors(new Uint8Array(await readFile(file)), file);
    type Layer = { type: string; layers?: Layer[]; stride?: number };
    const spec = JSON.parse(metadata[SPEC_KEY]!) as { layers: Layer[] };
    const withSpec = (name: string, s: unknown) => ({
      name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(serializeSafetensors(tensors, { ...metadata, [SPEC_KEY]: JSON.stringify(s) })),
    });
    // The same network with its default strides left out and its keys in another order.
    const spelt = structuredClone(spec);
    for (const block of spelt.layers) for (const l of block.layers ?? []) delete l.stride;
    await page.locator('#load').setInputFiles(withSpec('spelt.safetensors', { layers: spelt.layers, input: [1, 28, 28] }));
    await page.waitForSelector('#weights-status[data-loaded="spelt.safetensors"]', { timeout: 30_000 });
    // Without the ReLUs: the same parameters, another network.
    const noRelu = { input: [1, 28, 28], layers: spec.layers.map((b) => ({ ...b, ...(b.layers ? { layers: b.layers.filter((l) => l.type !== 'relu') } : {}) })) };
    await page.locator('#load').setInputFiles(withSpec('norelu.safetensors', noRelu));
    await page.waitForSelector('#weights-status.bad', { timeout: 30_000 });
    expect(await page.locator('#weights-status').textContent()).toMatch(/^norelu\.safetensors holds a different model than this page's seed CNN: layer 2 is conv1\.1 \(maxpool2d, /);
    // Pools of 3×3 with stride 2 and padding 1: the same shapes and parameters, another network.
    type Pool = Layer & { kernelSize?: number; padding?: number };
    const pool3 = structuredClone(spec);
    for (const block of pool3.layers) for (const l of (block.layers ?? []) as Pool[]) if (l.type === 'maxpool2d') Object.assign(l, { kernelSize: 3, stride: 2, padding: 1 });
    await page.locator('#load').setInputFiles(withSpec('pool3.safetensors', pool3));
    await expect.poll(() => page.locator('#weights-status').textContent(), { timeout: 30_000 }).toMatch(
      /^pool3\.safetensors holds a different model than this page's seed CNN: layer 3 is conv1\.2 \(maxpool2d, kernel 3×3, stride 2×2, padding 1×1\) \[16, 28, 28\] → \[16, 14, 14\] there, conv1\.2 \(maxpool2d, kernel 2×2, stride 2×2, padding 0×0\)/,
    );
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('says so when loaded weights, finite, overflow in the forward pass, rather than showing a class', async () => {
    const { file } = await cliCheckpoint;
    const { tensors, metadata } = parseSafetensors(new Uint8Array(await readFile(file)), file);
    const huge = new Map([...tensors].map(([name, t]) => [name, { ...t, data: Float32Array.from(t.data as Float32Array, (v) => v * 1e30) }]));
    await page.locator('#load').setInputFiles({ name: 'huge.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(serializeSafetensors(huge, metadata)) });
    await page.waitForSelector('#weights-status[data-loaded="huge.safetensors"]', { timeout: 30_000 });
    const weights = await number('#weights-status', 'version');
    await page.locator('#sample-index').fill('0');
    await page.locator('#sample-show').click();
    const shown = page.locator(`#prediction[data-for="test:0"][data-weights="${weights}"]`);
    await shown.waitFor({ timeout: 30_000 });
    expect(await shown.textContent()).toBe('?');
    expect(await page.locator('#prediction-note').textContent()).toContain('The network outputs no numbers (NaN or infinity)');
    // Back to the CLI's weights for the tests after this one.
    await page.locator('#load').setInputFiles(file);
    await page.waitForSelector('#weights-status[data-loaded="cli.safetensors"]', { timeout: 30_000 });
    expect(consoleErrors).toEqual([]);
  }, 90_000);

  it('loading weights while training pauses it for the load, then trains on from step 0', async () => {
    const { file } = await cliCheckpoint;
    const toggle = page.locator('#train-toggle');
    await page.evaluate(() => {
      const shown = ((window as unknown as { shownSteps: number[] }).shownSteps = [] as number[]);
      const el = document.querySelector<HTMLElement>('#stat-step')!;
      new MutationObserver(() => shown.push(Number(el.dataset.value))).observe(el, { attributes: true, attributeFilter: ['data-value'] });
    });
    await startTraining();
    const before = await step();
    const version = await number('#weights-status', 'version');
    await page.locator('#load').setInputFiles(file);
    await page.waitForFunction((v) => Number(document.querySelector<HTMLElement>('#weights-status')!.dataset.version) > v, version, { timeout: 30_000 });
    expect(await page.locator('#weights-status').getAttribute('data-loaded')).toBe('cli.safetensors');
    // A new run from the file's weights: steps counted from 0 again.
    const restart = (shown: number[]) => shown.findIndex((v, i) => i > 0 && v < shown[i - 1]!);
    await page.waitForFunction(`(${restart.toString()})(window.shownSteps) > 0`, null, { timeout: 30_000 });
    const shown = await page.evaluate(() => (window as unknown as { shownSteps: number[] }).shownSteps);
    const at = restart(shown);
    expect(shown[at]).toBe(0);
    expect(shown[at - 1]).toBeGreaterThanOrEqual(before);
    const afterLoad = await step();
    await expect.poll(step, { timeout: 60_000 }).toBeGreaterThan(afterLoad);
    await expect.poll(() => page.locator('#weights-status').textContent()).toBe('Loaded cli.safetensors; training has gone on from it since.');
    expect(await toggle.textContent()).toBe('Pause');
    await toggle.click();
    await expect.poll(() => toggle.textContent(), { timeout: 30_000 }).toBe('Resume training');
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('save, load and reset clicked together while training: one loop, and reset leaves it paused', async () => {
    const { file } = await cliCheckpoint;
    const toggle = page.locator('#train-toggle');
    await startTraining();
    // Save and Pause in one task: the pause must not start a second loop beside the first.
    const download = page.waitForEvent('download');
    await page.evaluate(() => {
      document.querySelector<HTMLButtonElement>('#save')!.click();
      document.querySelector<HTMLButtonElement>('#train-toggle')!.click();
    });
    await download;
    await expect.poll(() => toggle.textContent(), { timeout: 30_000 }).toBe('Resume training');
    const paused = await step();
    await page.waitForTimeout(2000);
    expect(await step()).toBe(paused);
    // Start, then a load and a reset at once: the reset comes last and leaves training paused.
    await startTraining();
    expect(await page.locator('#weights-status').textContent()).toBe(`Saved the weights of step ${paused}; training has gone on since.`);
    await page.locator('#load').setInputFiles(file);
    // The toggle offers Start at once: training stops for the reset, and stays stopped after it.
    expect(await page.evaluate(() => (document.querySelector<HTMLButtonElement>('#train-reset')!.click(), document.querySelector('#train-toggle')!.textContent))).toBe('Start training');
    await expect.poll(step, { timeout: 60_000 }).toBe(0);
    await expect.poll(() => page.locator('#train-reset').isEnabled(), { timeout: 60_000 }).toBe(true);
    expect(await toggle.textContent()).toBe('Start training');
    await page.waitForTimeout(2000);
    expect(await step()).toBe(0);
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('pause and reset at once: Start waits for the reset, whose test is of the initial weights at step 0', async () => {
    await startTraining();
    // Any moment at which Reset is still busy but Start could be pressed is recorded.
    await page.evaluate(() => {
      const toggle = document.querySelector<HTMLButtonElement>('#train-toggle')!;
      const reset = document.querySelector<HTMLButtonElement>('#train-reset')!;
      const w = window as unknown as { startable: number; labels: string[] };
      w.startable = 0;
      new MutationObserver(() => {
        if (reset.disabled && !toggle.disabled) w.startable++;
      }).observe(document.body, { attributes: true, subtree: true, attributeFilter: ['disabled'] });
      toggle.click();
      w.labels = [toggle.textContent!];
      reset.click();
      w.labels.push(toggle.textContent!);
    });
    expect(await page.evaluate(() => (window as unknown as { labels: string[] }).labels)).toEqual(['Pausing…', 'Pausing…']);
    await expect.poll(() => page.locator('#train-reset').isEnabled(), { timeout: 60_000 }).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { startable: number }).startable)).toBe(0);
    expect(await step()).toBe(0);
    expect(await page.locator('#stat-acc').getAttribute('data-step')).toBe('0');
    expect(await number('#stat-acc')).toBe(untrained);
    expect(consoleErrors).toEqual([]);
  }, 150_000);

  it('rejects a corrupt weights file with a message in the page', async () => {
    await page.locator('#load').setInputFiles({ name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('definitely not safetensors') });
    await page.waitForSelector('#weights-status.bad', { timeout: 10_000 });
    expect(await page.locator('#weights-status').textContent()).toMatch(/^broken\.safetensors is not a weights file this page can read \(a \.safetensors file saved here or by fovea train, or a \.pt state_dict saved with torch\.save\)\. In detail: broken\.safetensors.*[.!?] The weights in the page are unchanged\.$/);
    expect(await page.locator('#error').isHidden()).toBe(true);
    expect(consoleErrors).toEqual([]);
  }, 30_000);

  it('runs on the dev server of `npm run demo -- --port N`, which prints its address', async () => {
    const dev = spawn('npm', ['run', 'demo', '--', '--port', '5199'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      // Vite takes the next port when 5199 is busy, and says which.
      const address = await new Promise<string>((ok, fail) => {
        let out = '';
        dev.stdout.on('data', (d: Buffer) => {
          out += d.toString().replace(/\x1b\[[0-9;]*m/g, '');
          const m = /Local:\s+(http:\/\/\S+)/.exec(out);
          if (m) ok(m[1]!);
        });
        dev.on('exit', (code) => fail(new Error(`npm run demo exited with ${code}:\n${out}`)));
      });
      expect(address).toMatch(/^http:\/\/localhost:\d+\/$/);
      const p = await browser.newPage();
      const errors: string[] = [];
      p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      p.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
      // A preset out of range is said to be left out, not dropped silently.
      await p.goto(address + QUERY.replace('evalEvery=20', 'evalEvery=-3').replace('augment=1', 'augment=maybe'));
      await p.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
      expect(await p.locator('#prediction').getAttribute('data-class')).toMatch(/^\d$/);
      expect(await p.locator('#error').textContent()).toBe("settings left out: the address's augment=maybe (augment is 1 or 0; it is 0), evalEvery=-3 (steps between tests must be a whole number from 1 to 1,000,000; it is 100) Dismiss");
      expect(await p.locator('#eval-every').inputValue()).toBe('100');
      expect(errors).toEqual([]);
      await p.close();
    } finally {
      process.kill(-dev.pid!, 'SIGTERM');
    }
  }, 150_000);

  it('says plainly what to do in a browser without WebGPU', async () => {
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await p.goto(url);
    await p.waitForSelector('body[data-state="no-webgpu"]', { timeout: 30_000 });
    const notice = await p.locator('#no-webgpu').textContent();
    expect(notice).toContain('needs WebGPU');
    expect(notice).toMatch(/Chrome or Edge 113/);
    expect(await p.locator('#app').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await p.close();
  }, 30_000);

  it('says so when the browser has WebGPU but no adapter', async () => {
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.addInitScript(() => {
      GPU.prototype.requestAdapter = () => Promise.resolve(null);
    });
    await p.goto(url);
    await p.waitForSelector('body[data-state="no-webgpu"]', { timeout: 30_000 });
    expect(await p.locator('#no-webgpu').textContent()).toContain('found no GPU adapter');
    expect(await p.locator('#adapter').textContent()).toBe('No WebGPU adapter.');
    expect(await p.locator('#app').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await p.close();
  }, 30_000);
});
