// examples/spatial-transformer.mjs, PyTorch's spatial transformer tutorial: a localisation
// network's affine maps resample each digit (affineGrid, gridSample) before a CNN classifies it,
// the gradient reaching the localisation network through the grid. On the real MNIST it learns
// to classify, and the maps move away from the identity they start at.
import { describe, expect, it } from 'vitest';
import { CLASSIFIER, LOCALIZATION, trainSpatialTransformer } from '../examples/spatial-transformer.mjs';
import { Model } from '../src/index.js';
import { defaultMnistDir, loadMnistDir } from '../src/node.js';
import { useRuntime } from './helpers.js';

// Without the debug poisoning of freed buffers (other tests check that): a training run's speed.
const rt = useRuntime({});

describe('the spatial transformer example', () => {
  it('learns in 300 steps, its maps moved from the identity by what the classifier needed', async () => {
    expect([Model.create(rt(), LOCALIZATION).outputShape, Model.create(rt(), CLASSIFIER).outputShape]).toEqual([[6], [10]]);
    const data = await loadMnistDir(defaultMnistDir());
    const { accuracy, moved, originals, transformed } = await trainSpatialTransformer(rt(), data, { steps: 300, testCount: 200 });
    // Untrained: 10%; the tutorial's network after 300 steps of SGD at 0.01: about 70%.
    expect(accuracy).toBeGreaterThan(0.5);
    expect(moved).toBeGreaterThan(0.01);
    expect(transformed).toHaveLength(originals.length);
    // Resampled, not copied: the transformed digits differ from the originals.
    expect(transformed.some((v, i) => Math.abs(v - originals[i]!) > 0.1)).toBe(true);
  });
});
