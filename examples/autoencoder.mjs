// @ts-check
// A convolutional autoencoder on MNIST: a training step of your own, compiled, for a model that
// is no classifier. Two strided convolutions encode a digit into 32 maps of 7×7, two transposed
// convolutions decode it back to 28×28, and the loss is the binary cross-entropy of the
// reconstruction's logits against the image's pixels (in [0, 1]). Adam updates the weights in
// the same submit.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/autoencoder.mjs:
//   node examples/autoencoder.mjs [--steps 300] [--out reconstructions.png]
// It prints the test images' reconstruction loss before and after training, and with --out
// writes a PNG of test digits (top row) over their reconstructions (bottom row).
import { realpathSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { Adam, binaryCrossEntropyWithLogits, createRuntime, grad, Model, sigmoid } from 'fovea';
import { defaultMnistDir, loadMnistDir } from 'fovea/node';

/** The network as a model spec: layers named as an nn.Sequential's, initialised as PyTorch's. */
export const AUTOENCODER = {
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', outChannels: 16, kernelSize: 3, stride: 2, padding: 1 }, // → [16, 14, 14]
    { type: 'relu' },
    { type: 'conv2d', outChannels: 32, kernelSize: 3, stride: 2, padding: 1 }, // → [32, 7, 7]
    { type: 'relu' },
    { type: 'convtranspose2d', outChannels: 16, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1 }, // → [16, 14, 14]
    { type: 'relu' },
    { type: 'convtranspose2d', outChannels: 1, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1 }, // → [1, 28, 28], logits
  ],
};

/**
 * `count` images from `first` of an MNIST split, as floats in [0, 1].
 * @param {import('fovea').MnistImages} images
 * @param {number} first
 * @param {number} count
 */
function pixels(images, first, count) {
  const size = images.rows * images.cols;
  return Float32Array.from(images.pixels.subarray(first * size, (first + count) * size), (v) => v / 255);
}

/**
 * Trains the autoencoder for `steps` steps of `batch` training images (in file order) and
 * returns its test reconstruction loss before and after, over the first `testCount` test images.
 * @param {import('fovea').Runtime} rt
 * @param {import('fovea/node').MnistData} data
 * @param {{ steps?: number, batch?: number, testCount?: number, log?: (line: string) => void }} [opts]
 */
export async function trainAutoencoder(rt, data, { steps = 300, batch = 50, testCount = 500, log = () => {} } = {}) {
  const model = Model.create(rt, AUTOENCODER, { seed: 1 });
  const params = [...model.parameters.values()];
  const opt = new Adam(params, { lr: 1e-3 });
  // The pixels are the input and the target: one input tensor, written each step.
  const step = await rt.compile(({ x }) => {
    const loss = binaryCrossEntropyWithLogits(model.forward(x), x);
    opt.step(grad(loss, params));
    return { loss };
  }, { x: [batch, 1, 28, 28] });
  const test = await rt.compile(({ x }) => {
    const logits = model.forward(x, { training: false });
    return { loss: binaryCrossEntropyWithLogits(logits, x), image: sigmoid(logits) };
  }, { x: [testCount, 1, 28, 28] });
  const testImages = pixels(data.test.images, 0, testCount);
  const before = await test.run({ x: testImages }).loss.item();
  const perEpoch = Math.floor(data.train.images.count / batch);
  for (let s = 0; s < steps; s++) {
    const { loss } = step.run({ x: pixels(data.train.images, (s % perEpoch) * batch, batch) });
    if ((s + 1) % 50 === 0 || s + 1 === steps) log(`step ${s + 1}: training loss ${(await loss.item()).toFixed(4)}`);
  }
  const out = test.run({ x: testImages });
  const after = await out.loss.item();
  // The reconstructions are sigmoids: f32, as every op's result but argmax's.
  const reconstructions = /** @type {Float32Array} */ (await out.image.read());
  return { before, after, reconstructions, originals: testImages };
}

/**
 * A grey PNG: `count` 28×28 originals on the top row, their reconstructions below.
 * @param {Float32Array} originals
 * @param {Float32Array} reconstructions
 * @param {number} count
 */
function grid(originals, reconstructions, count) {
  const png = new PNG({ width: 28 * count, height: 56, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  for (const [row, images] of [originals, reconstructions].entries())
    for (let k = 0; k < count; k++)
      for (let y = 0; y < 28; y++)
        for (let x = 0; x < 28; x++) png.data[(row * 28 + y) * 28 * count + k * 28 + x] = Math.round((images[k * 784 + y * 28 + x] ?? 0) * 255);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

async function main() {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '300' }, out: { type: 'string' } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
  const rt = await createRuntime();
  const data = await loadMnistDir(defaultMnistDir());
  const { before, after, reconstructions, originals } = await trainAutoencoder(rt, data, { steps, log: (line) => console.log(line) });
  console.log(`test reconstruction loss (binary cross-entropy per pixel, 500 images): ${before.toFixed(4)} before training, ${after.toFixed(4)} after ${steps} steps`);
  if (values.out) {
    writeFileSync(values.out, grid(originals, reconstructions, 12));
    console.log(`wrote ${values.out}: 12 test digits over their reconstructions`);
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
