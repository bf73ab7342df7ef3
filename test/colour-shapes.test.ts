// examples/colour-shapes.mjs, colour images through the Trainer: nine classes of shape and colour
// on 32×32 RGB pictures stored channel by channel. In 400 steps the network tells the colours
// apart almost always and the shapes mostly: what only the three channels together can give.
import { describe, expect, it } from 'vitest';
import { COLOURS, shapes, SHAPES, trainShapes } from '../examples/colour-shapes.mjs';
import { useRuntime } from './helpers.js';

// Without the debug poisoning of freed buffers (other tests check that): a training run's speed.
const rt = useRuntime({});

describe('the colour shapes example', () => {
  it('makes pictures of each class, the shape in its colour channel', () => {
    const { images, labels } = shapes(90, 4);
    expect([images.count, images.channels, images.rows, images.cols, images.pixels.length]).toEqual([90, 3, 32, 32, 90 * 3 * 1024]);
    expect(new Set(labels).size).toBe(SHAPES.length * COLOURS.length);
    for (let n = 0; n < 90; n++) {
      // The class's channel is the brightest one at the picture's brightest pixel.
      const plane = (c: number) => images.pixels.subarray((n * 3 + c) * 1024, (n * 3 + c + 1) * 1024);
      const sums = [0, 1, 2].map((c) => plane(c).reduce((a, v) => a + (v > 140 ? 1 : 0), 0));
      expect(sums.indexOf(Math.max(...sums)), `picture ${n}`).toBe(labels[n]! % 3);
    }
  });

  it('learns in 400 steps: colours almost always, shapes mostly', async () => {
    const { before, after, predictions, labels } = await trainShapes(rt(), { steps: 400 });
    expect(before).toBeLessThan(0.3);
    const colour = labels.filter((l, i) => l % 3 === predictions[i]! % 3).length / labels.length;
    expect(colour).toBeGreaterThan(0.97);
    expect(after).toBeGreaterThan(0.85);
  });
});
