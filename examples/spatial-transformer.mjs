// @ts-check
// A spatial transformer network on MNIST, as PyTorch's tutorial (spatial_transformer_tutorial):
// a localisation network looks at each digit and outputs an affine map, affineGrid and
// gridSample resample the digit through it, and a small CNN classifies what comes out. The
// gradient reaches the localisation network through the sampling grid, so it learns the maps
// that help the classifier (zooming in, straightening). SGD updates both in the same submit.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/spatial-transformer.mjs:
//   node examples/spatial-transformer.mjs [--steps 600] [--out transformed.png]
// It prints the test accuracy and how far the maps moved from the identity, and with --out
// writes a PNG of test digits (top row) over what the transformer made of them (bottom row).
import { realpathSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { affineGrid, argmax, createRuntime, crossEntropy, grad, gridSample, Model, SGD } from 'fovea';
import { defaultMnistDir, loadMnistDir } from 'fovea/node';

/** The localisation network, to the six numbers of a 2×3 affine map (the tutorial's localization and fc_loc). */
export const LOCALIZATION = {
  input: [1, 28, 28],
  layers: [
    {
      type: 'sequential',
      name: 'localization',
      layers: [
        { type: 'conv2d', outChannels: 8, kernelSize: 7 }, // → [8, 22, 22]
        { type: 'maxpool2d', kernelSize: 2 },
        { type: 'relu' },
        { type: 'conv2d', outChannels: 10, kernelSize: 5 }, // → [10, 7, 7]
        { type: 'maxpool2d', kernelSize: 2 },
        { type: 'relu' },
      ],
    },
    { type: 'flatten' },
    { type: 'sequential', name: 'fc_loc', layers: [{ type: 'linear', outFeatures: 32 }, { type: 'relu' }, { type: 'linear', outFeatures: 6 }] },
  ],
};

/** The classifier of the transformed digits (the tutorial's conv1, conv2, fc1 and fc2, with its dropout). */
export const CLASSIFIER = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', name: 'conv1', outChannels: 10, kernelSize: 5 },
    { type: 'maxpool2d', kernelSize: 2 },
    { type: 'relu' },
    { type: 'conv2d', name: 'conv2', outChannels: 20, kernelSize: 5 },
    { type: 'dropout2d' },
    { type: 'maxpool2d', kernelSize: 2 },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'linear', name: 'fc1', outFeatures: 50 },
    { type: 'relu' },
    { type: 'dropout' },
    { type: 'linear', name: 'fc2', outFeatures: 10 },
  ],
};

/**
 * `count` images from `first` of an MNIST split, normalised as the tutorial's
 * Normalize((0.1307,), (0.3081,)), and their labels.
 * @param {import('fovea/node').MnistSplit} split
 * @param {number} first
 * @param {number} count
 */
function batch(split, first, count) {
  const x = Float32Array.from(split.images.pixels.subarray(first * 784, (first + count) * 784), (v) => (v / 255 - 0.1307) / 0.3081);
  return { x, y: Int32Array.from(split.labels.subarray(first, first + count)) };
}

/**
 * Trains the network for `steps` steps of `size` training images (in file order); returns the
 * test accuracy over the first `testCount` test images, the mean distance of their maps from the
 * identity, and those images before and after the transformer.
 * @param {import('fovea').Runtime} rt
 * @param {import('fovea/node').MnistData} data
 * @param {{ steps?: number, size?: number, testCount?: number, log?: (line: string) => void }} [opts]
 */
export async function trainSpatialTransformer(rt, data, { steps = 600, size = 64, testCount = 500, log = () => {} } = {}) {
  const loc = Model.create(rt, LOCALIZATION, { seed: 1 });
  const net = Model.create(rt, CLASSIFIER, { seed: 2 });
  // The tutorial's start: the map is the identity (fc_loc's last weight 0, its bias [1, 0, 0, 0, 1, 0]).
  rt.write(/** @type {import('fovea').Tensor} */ (loc.parameters.get('fc_loc.2.weight')), new Float32Array(6 * 32));
  rt.write(/** @type {import('fovea').Tensor} */ (loc.parameters.get('fc_loc.2.bias')), Float32Array.of(1, 0, 0, 0, 1, 0));
  const params = [...loc.parameters.values(), ...net.parameters.values()];
  const opt = new SGD(params, { lr: 0.01 });
  /**
   * @param {import('fovea').Tensor} x
   * @param {boolean} training
   */
  const transform = (x, training) => {
    const theta = loc.forward(x, { training }).reshape(x.shape[0] ?? 0, 2, 3);
    return { theta, moved: gridSample(x, affineGrid(theta, [...x.shape])) };
  };
  const step = await rt.compile(({ x, y }) => {
    const loss = crossEntropy(net.forward(transform(/** @type {import('fovea').Tensor} */ (x), true).moved, { training: true }), /** @type {import('fovea').Tensor} */ (y));
    opt.step(grad(loss, params));
    return { loss };
  }, { x: [size, 1, 28, 28], y: { shape: [size], dtype: 'i32' } });
  const test = await rt.compile(({ x }) => {
    const { theta, moved } = transform(/** @type {import('fovea').Tensor} */ (x), false);
    return { predictions: argmax(net.forward(moved, { training: false })), theta, moved };
  }, { x: [testCount, 1, 28, 28] });
  const perEpoch = Math.floor(data.train.labels.length / size);
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(data.train, (s % perEpoch) * size, size);
    const { loss } = step.run({ x, y });
    if ((s + 1) % 100 === 0 || s + 1 === steps) log(`step ${s + 1}: training loss ${(await loss.item()).toFixed(4)}`);
  }
  const { x, y } = batch(data.test, 0, testCount);
  const out = test.run({ x });
  const predictions = await out.predictions.read();
  const accuracy = predictions.filter((p, i) => p === y[i]).length / testCount;
  const theta = /** @type {Float32Array} */ (await out.theta.read());
  const identity = [1, 0, 0, 0, 1, 0];
  const moved = theta.reduce((s, v, i) => s + Math.abs(v - /** @type {number} */ (identity[i % 6])), 0) / testCount;
  return { accuracy, moved, originals: x, transformed: /** @type {Float32Array} */ (await out.moved.read()) };
}

/**
 * A grey PNG: `count` normalised 28×28 digits on the top row, their transformed ones below.
 * @param {Float32Array} originals
 * @param {Float32Array} transformed
 * @param {number} count
 */
function grid(originals, transformed, count) {
  const png = new PNG({ width: 28 * count, height: 56, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const grey = (/** @type {number} */ v) => Math.round(Math.min(1, Math.max(0, v * 0.3081 + 0.1307)) * 255);
  for (const [row, images] of [originals, transformed].entries())
    for (let k = 0; k < count; k++)
      for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) png.data[(row * 28 + y) * 28 * count + k * 28 + x] = grey(images[k * 784 + y * 28 + x] ?? 0);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

async function main() {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '600' }, out: { type: 'string' } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
  const rt = await createRuntime();
  const data = await loadMnistDir(defaultMnistDir());
  const { accuracy, moved, originals, transformed } = await trainSpatialTransformer(rt, data, { steps, log: (line) => console.log(line) });
  console.log(`test accuracy ${(accuracy * 100).toFixed(1)}% on 500 test images; the maps moved ${moved.toFixed(3)} from the identity (mean absolute change of their six numbers)`);
  if (values.out) {
    writeFileSync(values.out, grid(originals, transformed, 12));
    console.log(`wrote ${values.out}: 12 test digits over what the transformer made of them`);
  }
  rt.dispose();
}

// Run as a script (not when imported, as the tests do).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
