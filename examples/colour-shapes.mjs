// @ts-check
// Colour images with fovea's Trainer: 32×32 RGB pictures of a square, a disc or a triangle in red,
// green or blue (nine classes), generated here from a seed, stored as bytes channel by channel
// ([3, H, W], as PyTorch's), and a small CNN trained on them with the Trainer (images.channels 3).
// Colour is half the class, so a network that saw the pictures in grey could not tell them apart.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/colour-shapes.mjs:
//   node examples/colour-shapes.mjs [--steps 600]
// It prints the test accuracy before and after training.
import { realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createRuntime, Model, Trainer } from 'fovea';

export const SIDE = 32;
export const SHAPES = ['square', 'disc', 'triangle'];
export const COLOURS = ['red', 'green', 'blue'];

/** The network: two 3×3 convolutions (each with ReLU and 2×2 max-pooling) and a linear layer to the nine classes. */
export const SPEC = {
  input: [3, SIDE, SIDE],
  layers: [
    { type: 'conv2d', name: 'conv1', outChannels: 16, kernelSize: 3, padding: 1 },
    { type: 'relu' },
    { type: 'maxpool2d', kernelSize: 2 },
    { type: 'conv2d', name: 'conv2', outChannels: 32, kernelSize: 3, padding: 1 },
    { type: 'relu' },
    { type: 'maxpool2d', kernelSize: 2 },
    { type: 'flatten' },
    { type: 'linear', name: 'out', outFeatures: SHAPES.length * COLOURS.length },
  ],
};

/**
 * mulberry32: a small seeded generator of numbers in [0, 1).
 * @param {number} seed
 */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * `count` pictures, their labels shape × 3 + colour: a shape of random size and place, its colour
 * strong in its channel and weak in the others, on a dark ground, with a little noise.
 * @param {number} count
 * @param {number} seed
 * @returns {import('fovea').LabelledImages}
 */
export function shapes(count, seed) {
  const rnd = random(seed);
  /** @type {(lo: number, hi: number) => number} */
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const plane = SIDE * SIDE;
  const pixels = new Uint8Array(count * 3 * plane);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const [shape, colour] = [int(0, 2), int(0, 2)];
    labels[n] = shape * 3 + colour;
    const ground = [int(0, 60), int(0, 60), int(0, 60)];
    const ink = [0, 1, 2].map((c) => (c === colour ? int(150, 255) : int(0, 90)));
    const r = int(7, 11); // half the shape's size
    const [cx, cy] = [int(r + 1, SIDE - r - 2), int(r + 1, SIDE - r - 2)];
    /** @type {(x: number, y: number) => boolean} */
    const inside = (x, y) => {
      const [dx, dy] = [x + 0.5 - cx, y + 0.5 - cy];
      if (shape === 0) return Math.abs(dx) <= r && Math.abs(dy) <= r;
      if (shape === 1) return dx * dx + dy * dy <= r * r;
      return dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2; // apex up
    };
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const v = inside(x, y) ? ink : ground;
        for (let c = 0; c < 3; c++) pixels[(n * 3 + c) * plane + y * SIDE + x] = Math.max(0, Math.min(255, (v[c] ?? 0) + int(-10, 10)));
      }
    }
  }
  return { images: { count, rows: SIDE, cols: SIDE, channels: 3, pixels }, labels };
}

/**
 * Trains the network on `train` in shuffled batches of 32 (Adam, lr 0.003) for `steps` steps;
 * returns the test accuracy before and after.
 * @param {import('fovea').Runtime} rt
 * @param {{ steps: number; train?: number; test?: number; log?: (line: string) => void }} opts
 */
export async function trainShapes(rt, { steps, train = 2000, test = 500, log = () => undefined }) {
  const [trainSet, testSet] = [shapes(train, 1), shapes(test, 2)];
  const model = Model.create(rt, SPEC, { seed: 1 });
  const trainer = await Trainer.create(rt, model, trainSet, { batchSize: 32, optimizer: 'adam', lr: 0.003 });
  const before = await trainer.evaluate(testSet);
  const rnd = random(3);
  for (let step = 1; step <= steps; step++) {
    const batch = Uint32Array.from({ length: 32 }, () => Math.floor(rnd() * train));
    const loss = await trainer.trainStep(batch);
    if (step % 100 === 0 || step === steps) log(`step ${step}: loss ${((await loss.read())[0] ?? NaN).toFixed(4)}`);
  }
  const after = await trainer.evaluate(testSet);
  trainer.dispose();
  model.dispose();
  return { before: before.accuracy, after: after.accuracy, predictions: after.predictions, labels: testSet.labels };
}

async function main() {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '600' } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
  const rt = await createRuntime();
  const { before, after } = await trainShapes(rt, { steps, log: (line) => console.log(line) });
  console.log(`test accuracy (500 pictures, 9 classes): ${(before * 100).toFixed(1)}% before training, ${(after * 100).toFixed(1)}% after ${steps} steps`);
  rt.dispose();
}

// Run as a script (not when imported, as the tests do).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
