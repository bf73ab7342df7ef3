// The training progress bar on a terminal: fitted to the reported width, whole when the width is
// unknown (a terminal may report 0 columns).
import { describe, expect, it } from 'vitest';
import { Progress } from '../src/mnist/progress.js';

function drawn(columns: number | undefined): string {
  let out = '';
  const progress = new Progress({ write: (s: string) => (out += s), isTTY: true, ...(columns === undefined ? {} : { columns }) }, 50);
  progress.step({ step: 600, total: 1200, epoch: 1, epochs: 1, loss: 0.1234, samplesPerSec: 1000 });
  return out;
}

describe('Progress', () => {
  it('draws the whole line when the width is 0 or unknown, and cuts it to a known width', () => {
    for (const columns of [0, undefined]) {
      expect(drawn(columns), `columns ${columns}`).toMatch(/^\r\[=+>\s*\] step 600\/1200 {2}epoch 1\/1 {2}loss 0\.1234 {2}1000\.0 samples\/s {2}ETA 30s\x1b\[K$/);
    }
    expect(drawn(40)).toBe(`\r${drawn(undefined).slice(1, 40)}\x1b[K`);
  });
});
