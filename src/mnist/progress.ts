// Training progress for the command line. On a terminal: one line redrawn in place (a bar,
// step/total, epoch, the last loss read back, a scheduled learning rate, samples/s and ETA), at
// most ten times a second.
// Otherwise (a pipe, a log file, CI): a plain line each time a loss is read back, so logs stay
// readable and small.

/** Where progress goes: a stream, and whether it is a terminal. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Where a command writes: the process's streams, or a test's stand-ins. */
export interface CommandIO {
  stdout: ProgressSink;
  stderr: ProgressSink;
}

export interface ProgressState {
  /** Steps taken (in total, across epochs and resumed runs). */
  step: number;
  total: number;
  /** 1-based epoch in progress, and the number of epochs. */
  epoch: number;
  epochs: number;
  /** The last loss read back, if any. */
  loss?: number;
  /** Recent throughput. */
  samplesPerSec?: number;
  /** The learning rate, where a schedule changes it. */
  lr?: number;
}

/** "1h02m", "3m05s", "42s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function describe(p: ProgressState): string[] {
  const parts = [`step ${p.step}/${p.total}`, `epoch ${p.epoch}/${p.epochs}`];
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.lr !== undefined) parts.push(`lr ${Number(p.lr.toPrecision(3))}`);
  if (p.samplesPerSec !== undefined && p.samplesPerSec > 0) {
    parts.push(`${p.samplesPerSec.toFixed(1)} samples/s`);
  }
  return parts;
}

export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    /** Samples per step, to turn samples/s into an ETA. */
    private readonly batchSize: number,
  ) {}

  private get tty(): boolean {
    return this.sink.isTTY === true;
  }

  private eta(p: ProgressState): string {
    if (!p.samplesPerSec) return '?';
    return formatDuration(((p.total - p.step) * this.batchSize) / p.samplesPerSec);
  }

  /** After every step: redraws the bar on a terminal (throttled); nothing otherwise. */
  step(p: ProgressState): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 100 && p.step < p.total) return;
    this.lastDraw = now;
    // NOTE: a terminal whose size is unknown may report 0 columns; that is no width to fit.
    const columns = this.sink.columns || undefined;
    const width = Math.max(10, Math.min(30, (columns ?? 80) - 90));
    const filled = Math.round((width * p.step) / Math.max(1, p.total));
    const bar = `[${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}]`;
    const line = `${bar} ${describe(p).join('  ')}  ETA ${this.eta(p)}`;
    this.sink.write(`\r${line.slice(0, (columns ?? 120) - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** After a loss was read back: a plain line when not on a terminal. */
  logged(p: ProgressState): void {
    if (this.tty) return this.step({ ...p });
    this.sink.write(`${describe(p).join('  ')}  ETA ${this.eta(p)}\n`);
  }

  /** Prints a message on its own line (clearing the bar first on a terminal). */
  message(text: string): void {
    this.clear();
    this.sink.write(`${text}\n`);
  }

  /** Ends the bar's line. */
  clear(): void {
    if (this.tty && this.drawn) this.sink.write('\r\x1b[K');
    this.drawn = false;
    this.lastDraw = 0;
  }
}
