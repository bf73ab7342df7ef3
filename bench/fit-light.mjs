// How fitDigit reads photos of digits under uneven light: MNIST test digits drawn 4 times larger,
// dark on paper (reflectance 0.92, ink 0.08, grain ±0.01), under a light field, or the sheet
// evenly lit on a dark desk, fitted as `fovea predict` fits a picture, and classified by a
// checkpoint. Prints a table: the accuracy for each, against the digits as they are.
//   npm run build && node bench/fit-light.mjs model.safetensors [--count 500]
import { readFileSync } from 'node:fs';
import { createRuntime, evaluate, fitDigit, modelFromBytes } from 'fovea';
import { defaultMnistDir, loadMnistSplit } from 'fovea/node';
import { benchFlags } from './flags.mjs';

const { flags, positionals } = benchFlags(import.meta.url, { count: { type: 'int', default: 500, min: 1, max: 10000 } }, { args: [1, 1] });
const { count } = flags;
const [S, margin] = [4, 20];
const [W, H] = [28 * S + 2 * margin, 28 * S + 2 * margin];
// Light fields over the page (1: full light).
const LIGHTS = {
  even: () => 0.9,
  'from one side': (x) => 0.95 - 0.55 * (x / W),
  'vignette (corners 37%)': (x, y) => 0.95 - 0.6 * (((x - W / 2) ** 2 + (y - H / 2) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2)) ** 1.5,
  'hard shadow, a corner': (x, y) => (x + y < 0.7 * W ? 0.4 : 0.9),
  'soft shadow, a side': (x) => 0.9 - 0.5 / (1 + Math.exp((x - 0.35 * W) / 6)),
  'a sheet on a dark desk': () => 0.9,
};
// The desk around the sheet of that row: 0.12 ± 0.02, the sheet's corner at (DESK_X, DESK_Y).
const [DESK_W, DESK_H, DESK_X, DESK_Y] = [W + 90, H + 70, 40, 30];

const rt = await createRuntime();
const test = await loadMnistSplit(defaultMnistDir(), 'test');
const model = modelFromBytes(rt, readFileSync(positionals[0]), positionals[0]);
const labels = test.labels.subarray(0, count);
let seed = 1;
const grain = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
const rows = [['as they are', (await evaluate(rt, model, { images: { ...test.images, count, pixels: test.images.pixels.subarray(0, count * 784) }, labels })).accuracy]];
for (const [name, light] of Object.entries(LIGHTS)) {
  const pixels = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    const data = new Float32Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const [sx, sy] = [Math.floor((x - margin) / S), Math.floor((y - margin) / S)];
        const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? test.images.pixels[n * 784 + sy * 28 + sx] / 255 : 0;
        data[y * W + x] = Math.min(1, Math.max(0, light(x, y) * (0.92 * (1 - ink) + 0.08 * ink) + 0.02 * grain()));
      }
    }
    const desk = name === 'a sheet on a dark desk';
    const picture = desk ? Float32Array.from({ length: DESK_W * DESK_H }, () => 0.12 + 0.04 * (grain() + 0.5)) : data;
    if (desk) for (let y = 0; y < H; y++) picture.set(data.subarray(y * W, (y + 1) * W), (DESK_Y + y) * DESK_W + DESK_X);
    const { image } = fitDigit(desk ? { width: DESK_W, height: DESK_H, data: picture } : { width: W, height: H, data });
    for (let i = 0; i < 784; i++) pixels[n * 784 + i] = Math.round(image[i] * 255);
  }
  rows.push([`photo, ${name}`, (await evaluate(rt, model, { images: { count, rows: 28, cols: 28, pixels }, labels })).accuracy]);
}
console.log(`| ${count} test digits | accuracy |\n| --- | --- |`);
for (const [name, acc] of rows) console.log(`| ${name} | ${(acc * 100).toFixed(1)}% |`);
rt.dispose();
