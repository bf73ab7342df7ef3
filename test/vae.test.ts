// examples/vae.mjs, a VAE whose reparameterisation noise is drawn on the GPU at every run of its
// compiled step: on the real MNIST, the test loss per image falls from the untrained network's
// (about 784·ln 2) to well under half of it, the latent code carries information (a KL divergence
// above 0), and digits decoded from N(0, I) are images, not blanks or copies of each other.
import { describe, expect, it } from 'vitest';
import { DECODER, ENCODER, trainVae } from '../examples/vae.mjs';
import { Model } from '../src/index.js';
import { defaultMnistDir, loadMnistDir } from '../src/node.js';
import { useRuntime } from './helpers.js';

// Without the debug poisoning of freed buffers (other tests check that): a training run's speed.
const rt = useRuntime({});

describe('the VAE example', () => {
  it('learns in 250 steps: test loss under half the untrained one, a latent code in use, and samples that are images', async () => {
    expect([Model.create(rt(), ENCODER).outputShape, Model.create(rt(), DECODER).outputShape]).toEqual([[40], [784]]);
    const data = await loadMnistDir(defaultMnistDir());
    const { before, after, kl, samples } = await trainVae(rt(), data, { steps: 250, testCount: 200, samples: 8 });
    expect(before).toBeGreaterThan(500);
    expect(after).toBeLessThan(before / 2.5);
    expect(kl).toBeGreaterThan(1);
    expect(samples).toHaveLength(8 * 784);
    const images = Array.from({ length: 8 }, (_, k) => samples.subarray(k * 784, (k + 1) * 784));
    for (const [k, image] of images.entries()) {
      // A digit's worth of ink (MNIST's have about 150 pixels above ¼ of 784), on a dark ground,
      // blurred as a VAE's samples are this early, but somewhere bright.
      const ink = image.filter((v) => v > 0.25).length;
      expect(ink, `sample ${k}`).toBeGreaterThan(40);
      expect(ink, `sample ${k}`).toBeLessThan(400);
      expect(Math.max(...image), `sample ${k}`).toBeGreaterThan(0.45);
    }
    // Each sample from its own latent values: no two alike.
    const differ = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0);
    expect(Math.min(...images.slice(1).map((im, k) => differ(im, images[k]!)))).toBeGreaterThan(10);
  });
});
