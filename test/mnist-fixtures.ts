// MNIST fixtures for the CLI tests: the first images of the real files, as small IDX folders.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultMnistDir, MNIST_FILES } from '../src/mnist/files.js';

const MNIST = defaultMnistDir();

/** The first `n` images (raw bytes) and labels of a split of the real MNIST. */
export function mnistHead(split: 'train' | 'test', n: number): { pixels: Buffer; labels: Buffer } {
  const [img, lab] = split === 'train' ? [MNIST_FILES.trainImages, MNIST_FILES.trainLabels] : [MNIST_FILES.testImages, MNIST_FILES.testLabels];
  return { pixels: readFileSync(join(MNIST, img)).subarray(16, 16 + n * 784), labels: readFileSync(join(MNIST, lab)).subarray(8, 8 + n) };
}

/** A small MNIST directory: the first `train` training and `test` test images (blank `testSide`² images if not 28). */
export function smallMnist(dir: string, train: number, test: number, testSide = 28): string {
  mkdirSync(dir, { recursive: true });
  const idx = (magic: number, dims: number[], data: Buffer) => {
    const h = Buffer.alloc(4 + 4 * dims.length);
    h.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([h, data]);
  };
  for (const [split, n] of [['train', train], ['test', test]] as const) {
    const { pixels, labels } = mnistHead(split, n);
    const [img, lab] = split === 'train' ? [MNIST_FILES.trainImages, MNIST_FILES.trainLabels] : [MNIST_FILES.testImages, MNIST_FILES.testLabels];
    const side = split === 'test' ? testSide : 28;
    writeFileSync(join(dir, img), idx(0x803, [n, side, side], side === 28 ? pixels : Buffer.alloc(n * side * side)));
    writeFileSync(join(dir, lab), idx(0x801, [n], labels));
  }
  return dir;
}
