// @ts-check
// A variational autoencoder on MNIST, as PyTorch's examples/vae: an encoder to the mean and log
// variance of 20 latent values, a sample of them by the reparameterisation trick (its noise drawn
// on the GPU at every run of the compiled step, as torch.randn_like at every step), a decoder
// back to 784 pixel logits, and the loss the binary cross-entropy of the reconstruction (summed)
// plus the KL divergence of the latent distribution from N(0, I). Adam updates both networks in
// the same submit.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/vae.mjs:
//   node examples/vae.mjs [--steps 500] [--out samples.png]
// It prints the test images' loss per image before and after training, and with --out writes a
// PNG of digits the decoder makes from latent values drawn from N(0, I).
import { realpathSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { Adam, add, binaryCrossEntropyWithLogits, createRuntime, exp, Generator, grad, Model, mul, narrow, randomNormal, scale, sigmoid, sub, sum } from 'fovea';
import { defaultMnistDir, loadMnistDir } from 'fovea/node';

const LATENT = 20;

/** The encoder, to the latent values' means and log variances side by side (PyTorch's fc1, then fc21 and fc22 as one layer). */
export const ENCODER = { input: [784], layers: [{ type: 'linear', outFeatures: 400 }, { type: 'relu' }, { type: 'linear', outFeatures: 2 * LATENT }] };
/** The decoder, to pixel logits (PyTorch's fc3 and fc4; the sigmoid is in the loss). */
export const DECODER = { input: [LATENT], layers: [{ type: 'linear', outFeatures: 400 }, { type: 'relu' }, { type: 'linear', outFeatures: 784 }] };

/**
 * `count` images from `first` of an MNIST split, as rows of 784 floats in [0, 1].
 * @param {import('fovea').MnistImages} images
 * @param {number} first
 * @param {number} count
 */
function pixels(images, first, count) {
  return Float32Array.from(images.pixels.subarray(first * 784, (first + count) * 784), (v) => v / 255);
}

/**
 * The loss of a batch x [N, 784], summed over it: the reconstruction's binary cross-entropy and
 * the KL divergence −½·Σ(1 + log σ² − μ² − σ²), with z = μ + σ·ε, ε ~ N(0, I) drawn on the GPU.
 * @param {Model} encoder
 * @param {Model} decoder
 * @param {import('fovea').Tensor} x
 * @param {Generator} noise
 */
function vaeLoss(encoder, decoder, x, noise) {
  const h = encoder.forward(x);
  const [mu, logVar] = [narrow(h, 1, 0, LATENT), narrow(h, 1, LATENT, LATENT)];
  const z = add(mu, mul(exp(scale(logVar, 0.5)), randomNormal(x.rt, mu.shape, { generator: noise })));
  const reconstruction = binaryCrossEntropyWithLogits(decoder.forward(z), x, { reduction: 'sum' });
  const kl = scale(sum(sub(sub(add(logVar, 1), mul(mu, mu)), exp(logVar))), -0.5);
  return { loss: add(reconstruction, kl), kl };
}

/**
 * Trains the VAE for `steps` steps of `batch` training images (in file order) and returns its
 * test loss per image before and after, over the first `testCount` test images, and `samples`
 * digits decoded from N(0, I).
 * @param {import('fovea').Runtime} rt
 * @param {import('fovea/node').MnistData} data
 * @param {{ steps?: number, batch?: number, testCount?: number, samples?: number, log?: (line: string) => void }} [opts]
 */
export async function trainVae(rt, data, { steps = 500, batch = 128, testCount = 500, samples = 12, log = () => {} } = {}) {
  const encoder = Model.create(rt, ENCODER, { seed: 1 });
  const decoder = Model.create(rt, DECODER, { seed: 2 });
  const params = [...encoder.parameters.values(), ...decoder.parameters.values()];
  const opt = new Adam(params, { lr: 1e-3 });
  const noise = new Generator(3);
  const step = await rt.compile(({ x }) => {
    const { loss } = vaeLoss(encoder, decoder, /** @type {import('fovea').Tensor} */ (x), noise);
    opt.step(grad(loss, params));
    return { loss };
  }, { x: [batch, 784] });
  const test = await rt.compile(({ x }) => vaeLoss(encoder, decoder, /** @type {import('fovea').Tensor} */ (x), noise), { x: [testCount, 784] });
  const generate = await rt.compile(() => ({ images: sigmoid(decoder.forward(randomNormal(rt, [samples, LATENT], { generator: noise }))) }), {});
  const testImages = pixels(data.test.images, 0, testCount);
  const before = (await test.run({ x: testImages }).loss.item()) / testCount;
  const perEpoch = Math.floor(data.train.images.count / batch);
  for (let s = 0; s < steps; s++) {
    const { loss } = step.run({ x: pixels(data.train.images, (s % perEpoch) * batch, batch) });
    if ((s + 1) % 100 === 0 || s + 1 === steps) log(`step ${s + 1}: training loss ${((await loss.item()) / batch).toFixed(1)} per image`);
  }
  const out = test.run({ x: testImages });
  const [after, kl] = [(await out.loss.item()) / testCount, (await out.kl.item()) / testCount];
  const drawn = /** @type {Float32Array} */ (await generate.run().images.read());
  return { before, after, kl, samples: drawn };
}

/**
 * A grey PNG of `count` 28×28 images in a row.
 * @param {Float32Array} images
 * @param {number} count
 */
function row(images, count) {
  const png = new PNG({ width: 28 * count, height: 28, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  for (let k = 0; k < count; k++)
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) png.data[y * 28 * count + k * 28 + x] = Math.round((images[k * 784 + y * 28 + x] ?? 0) * 255);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

async function main() {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '500' }, out: { type: 'string' } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${values.steps}`);
  const rt = await createRuntime();
  const data = await loadMnistDir(defaultMnistDir());
  const { before, after, kl, samples } = await trainVae(rt, data, { steps, log: (line) => console.log(line) });
  console.log(`test loss per image (500 images): ${before.toFixed(1)} before training, ${after.toFixed(1)} after ${steps} steps (of it KL divergence ${kl.toFixed(1)})`);
  if (values.out) {
    writeFileSync(values.out, row(samples, 12));
    console.log(`wrote ${values.out}: 12 digits decoded from latent values drawn from N(0, I)`);
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
