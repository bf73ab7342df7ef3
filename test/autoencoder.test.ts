// examples/autoencoder.mjs, a training step of one's own for a model that is no classifier
// (strided convolutions down, transposed convolutions up, binary cross-entropy of the logits
// against the pixels): on the real MNIST, the test images' reconstruction loss falls far below
// the untrained network's, and the reconstructions are images of the digits' shape.
import { describe, expect, it } from 'vitest';
import { AUTOENCODER, trainAutoencoder } from '../examples/autoencoder.mjs';
import { Model } from '../src/index.js';
import { defaultMnistDir, loadMnistDir } from '../src/node.js';
import { useRuntime } from './helpers.js';

const rt = useRuntime();

describe('the autoencoder example', () => {
  it('reconstructs test digits after 100 steps with a fraction of the untrained loss', async () => {
    expect(Model.create(rt(), AUTOENCODER).outputShape).toEqual([1, 28, 28]);
    const data = await loadMnistDir(defaultMnistDir());
    const { before, after, reconstructions, originals } = await trainAutoencoder(rt(), data, { steps: 100, testCount: 100 });
    // Untrained, the logits are near 0: every pixel about ln 2 = 0.69 nats.
    expect(before).toBeGreaterThan(0.6);
    expect(after).toBeLessThan(0.2);
    expect(reconstructions).toHaveLength(originals.length);
    // Bright where the digit is: the mean reconstruction of the pixels above ½ well over that of the others.
    const [on, off] = [0, 1].map((side) => {
      const picked = Array.from(reconstructions).filter((_, i) => (originals[i]! > 0.5) === (side === 0));
      return picked.reduce((a, b) => a + b, 0) / picked.length;
    });
    expect(on!).toBeGreaterThan(0.5);
    expect(off!).toBeLessThan(0.15);
  });
});
