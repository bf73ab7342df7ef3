// The training progress bar on a terminal: fitted to the reported width, whole when the width is
// unknown (a terminal may report 0 columns); durations as seconds, minutes or hours.
import { describe, expect, it } from 'vitest';
import { formatDuration, Progress } from '../src/mnist/progress.js';

function drawn(columns: number | undefined, lr?: number): string {
  let out = '';
  const progress = new Progress({ write: (s: string) => (out += s), isTTY: true, ...(columns === undefined ? {} : { columns }) }, 50);
  progress.step({ step: 600, total: 1200, epoch: 1, epochs: 1, loss: 0.1234, samplesPerSec: 1000, ...(lr === undefined ? {} : { lr }) });
  return out;
}

describe('Progress', () => {
  it('draws the whole line when the width is 0 or unknown, and cuts it to a known width', () => {
    for (const columns of [0, undefined]) {
      expect(drawn(columns), `columns ${columns}`).toMatch(/^\r\[=+>\s*\] step 600\/1200 {2}epoch 1\/1 {2}loss 0\.1234 {2}1000\.0 samples\/s {2}ETA 30s\x1b\[K$/);
    }
    expect(drawn(40)).toBe(`\r${drawn(undefined).slice(1, 40)}\x1b[K`);
  });

  it('shows a scheduled learning rate to 3 significant digits after the loss', () => {
    expect(drawn(undefined, 0.0074999999)).toMatch(/ {2}loss 0\.1234 {2}lr 0\.0075 {2}1000\.0 samples\/s {2}/);
  });
});

describe('formatDuration', () => {
  it('shows whole minutes and the seconds left over, hours and the minutes left over', () => {
    const cases: [number, string][] = [[42.4, '42s'], [59.4, '59s'], [60, '1m00s'], [90, '1m30s'], [3599, '59m59s'], [3600, '1h00m'], [5430, '1h30m'], [-1, '?'], [NaN, '?']];
    for (const [seconds, shown] of cases) expect(formatDuration(seconds), `${seconds} s`).toBe(shown);
  });
});
