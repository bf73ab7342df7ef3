// CIFAR-10's binary version (the folder cifar-10-batches-bin of cifar-10-binary.tar.gz): five
// training batches data_batch_1.bin … data_batch_5.bin and test_batch.bin, each a run of
// 3073-byte records: the label (0..9), then the 32×32 picture's red, green and blue planes, row by
// row, as PyTorch's [C, H, W]. Untrusted: each file's length must be whole records, and a label
// past the model's outputs is named with its file by the Trainer or Evaluator that takes it.
import { FileFormatError } from '../runtime/errors.js';
import type { MnistImages } from './idx.js';

/** The side of CIFAR-10's pictures, and their channels. */
const SIDE = 32;
const CHANNELS = 3;
/** A record: the label byte, then the picture. */
const RECORD = 1 + CHANNELS * SIDE * SIDE;

/** The batch files of each split, in the order their records are taken. */
export const CIFAR_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;

/** Checks a batch file's length: whole records, at least one. */
function recordsIn(bytes: Uint8Array, file: string): number {
  if (bytes.length === 0) throw new FileFormatError(file, 0, 'not a CIFAR-10 batch: the file is empty');
  if (bytes.length % RECORD) {
    const whole = Math.floor(bytes.length / RECORD);
    throw new FileFormatError(file, whole * RECORD, `not a CIFAR-10 batch: its ${bytes.length} bytes are ${whole} records of ${RECORD} bytes (a label and a 3×32×32 picture) and ${bytes.length % RECORD} bytes more`);
  }
  return bytes.length / RECORD;
}

/** The pictures and labels of a split's batch files, read in turn (`files` names each, for errors). */
export function parseCifarBatches(batches: readonly Uint8Array[], files: readonly string[]): { images: MnistImages; labels: Uint8Array } {
  const counts = batches.map((b, i) => recordsIn(b, files[i]!));
  const count = counts.reduce((a, b) => a + b, 0);
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * (RECORD - 1));
  let n = 0;
  for (const [i, bytes] of batches.entries()) {
    for (let r = 0; r < counts[i]!; r++, n++) {
      labels[n] = bytes[r * RECORD]!;
      pixels.set(bytes.subarray(r * RECORD + 1, (r + 1) * RECORD), n * (RECORD - 1));
    }
  }
  return { images: { count, rows: SIDE, cols: SIDE, channels: CHANNELS, pixels }, labels };
}
