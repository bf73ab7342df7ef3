// The SVG of a run's curves (src/mnist/plot.ts), as `fovea train` writes it next to the
// checkpoint: larger values are drawn higher, and text from the command line (the title holds
// the --out path) is escaped, so it cannot add markup to the document.
import { describe, expect, it } from 'vitest';
import { trainingPlot } from '../src/mnist/plot.js';

/** The points of each line of the document, in order: [x, y] in SVG coordinates (y grows down). */
function paths(svg: string): [number, number][][] {
  return [...svg.matchAll(/<path d="([^"]*)"/g)].map(([, d]) => [...d!.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map(([, x, y]) => [Number(x), Number(y)]));
}

describe('trainingPlot', () => {
  it('draws a larger loss and a higher accuracy higher up', () => {
    const svg = trainingPlot(
      [{ step: 1, loss: 2 }, { step: 2, loss: 1 }],
      [{ step: 2, testAccuracy: 0.5, testLoss: 1.5 }, { step: 4, testAccuracy: 0.9, testLoss: 0.5 }],
    );
    const [trainLoss, testLoss, accuracy] = paths(svg);
    expect(trainLoss![0]![1]).toBeLessThan(trainLoss![1]![1]);
    expect(testLoss![0]![1]).toBeLessThan(testLoss![1]![1]);
    expect(accuracy![0]![1]).toBeGreaterThan(accuracy![1]![1]);
    // Later steps to the right.
    expect(trainLoss![0]![0]).toBeLessThan(trainLoss![1]![0]);
  });

  it("draws a long run's 300,000 records, and spans them: the largest loss at the top, the last step at the right", () => {
    const n = 300_000;
    const losses = Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: i === 7 ? 9 : 1 }));
    const evals = Array.from({ length: n }, (_, i) => ({ step: i + 1, testAccuracy: i === 3 ? 0.2 : 0.9, testLoss: 1 }));
    const [trainLoss, , accuracy] = paths(trainingPlot(losses, evals));
    const top = Math.min(...trainLoss!.slice(0, 100).map(([, y]) => y));
    expect(trainLoss![7]![1]).toBe(top);
    expect(trainLoss!.at(-1)![0]).toBeGreaterThan(trainLoss![0]![0]);
    expect(accuracy![3]![1]).toBeGreaterThan(accuracy![4]![1]); // the lowest accuracy, lowest down
  });

  it('adds a panel of the learning rate where the log holds one, below the others, a higher rate higher up', () => {
    const evals = [{ step: 2, testAccuracy: 0.8, testLoss: 0.7 }, { step: 3, testAccuracy: 0.9, testLoss: 0.5 }];
    const constant = trainingPlot([{ step: 1, loss: 2 }, { step: 2, loss: 1 }, { step: 3, loss: 1 }], evals);
    expect(paths(constant)).toHaveLength(3);
    expect(constant).not.toContain('Learning rate');
    const svg = trainingPlot([{ step: 1, loss: 2, lr: 0.001 }, { step: 2, loss: 1, lr: 0.01 }, { step: 3, loss: 1, lr: 0.0001 }], evals);
    expect(svg).toContain('>Learning rate</text>');
    const all = paths(svg);
    expect(all).toHaveLength(4);
    const accY = all[2]![0]![1];
    const lr = all[3]!;
    expect(lr.every(([, y]) => y > accY)).toBe(true); // the third panel, below the accuracy
    expect(lr[1]![1]).toBeLessThan(lr[0]![1]);
    expect(lr[0]![1]).toBeLessThan(lr[2]![1]);
    // The document grows by a panel.
    const height = (s: string) => Number(/height="(\d+)"/.exec(s)![1]);
    expect(height(svg)).toBeGreaterThan(height(constant));
  });

  it('escapes the title, so a path cannot add markup', () => {
    const svg = trainingPlot([{ step: 1, loss: 1 }], [], 'fovea training: runs/<script>alert(1)</script> & co.safetensors');
    expect(svg).toContain('>fovea training: runs/&lt;script&gt;alert(1)&lt;/script&gt; &amp; co.safetensors</text>');
    expect(svg).not.toContain('<script');
  });
});
