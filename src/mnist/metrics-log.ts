// The JSONL metrics log of `fovea train`: one line per loss read back and per evaluation. It goes
// with the checkpoint: written whole (atomically) with the first save, then line by line, so a
// run that fails before saving leaves the log of the checkpoint on disk as it was. A line that
// cannot be appended (a full disk) stops the appending, not the step: the run stops as after a
// Ctrl-C, saves its checkpoint and then reports the failure (./training-run.ts).
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { FileWriteError, writeFileAtomic } from '../model/files.js';
import type { EvalPoint, LossPoint } from './plot.js';

/** A line of the log: a loss read back (with its step's rate, where a schedule changes it), or an evaluation on the test set. */
export type MetricsRecord = { step: number; epoch: number; loss: number; lr?: number; samplesPerSec: number; elapsedSec: number } | { epoch: number; step: number; testAccuracy: number; testLoss: number };

const line = (r: MetricsRecord) => `${JSON.stringify(r)}\n`;

/** Metrics records of an earlier run up to `step` (for --resume), or none. */
function previousMetrics(path: string, step: number): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const out: MetricsRecord[] = [];
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (!text.trim()) continue;
    try {
      const r = JSON.parse(text) as MetricsRecord;
      if (typeof r.step === 'number' && r.step <= step) out.push(r);
    } catch {
      // A torn last line from an interrupted run: drop it.
    }
  }
  return out;
}

/** The records of a run (an earlier run's too, on --resume), kept in memory for the plot and on disk. */
export class MetricsLog {
  private fd: number | undefined; // the log on disk, once the first save has written it
  private failed: { step: number; code: string | undefined; message: string } | undefined;

  /** Training time the log held when opened (an earlier run's, on --resume; else 0), in seconds. */
  readonly elapsedBefore: number;

  private constructor(
    readonly path: string,
    private readonly records: MetricsRecord[],
  ) {
    this.elapsedBefore = records.reduce((m, r) => ('elapsedSec' in r ? Math.max(m, r.elapsedSec) : m), 0);
  }

  /** A log at `path`; with `resumeAt`, it goes on from the earlier run's records up to that step. */
  static open(path: string, resumeAt?: number): MetricsLog {
    return new MetricsLog(path, resumeAt !== undefined ? previousMetrics(path, resumeAt) : []);
  }

  /** The loss readings, for the plot. */
  get losses(): (LossPoint & MetricsRecord)[] {
    return this.records.filter((r): r is LossPoint & MetricsRecord => 'loss' in r);
  }

  /** The evaluations, for the plot. */
  get evals(): (EvalPoint & MetricsRecord)[] {
    return this.records.filter((r): r is EvalPoint & MetricsRecord => 'testAccuracy' in r);
  }

  /** Adds a record; appended to the file once it has been saved (and until an append fails). */
  record(r: MetricsRecord): void {
    this.records.push(r);
    if (this.fd === undefined || this.failed) return;
    const bytes = Buffer.from(line(r));
    let done = 0;
    try {
      // writeSync may write part of the line (a disk filling up): the rest goes after it.
      while (done < bytes.length) {
        const n = writeSync(this.fd, bytes, done);
        if (n <= 0) throw new Error('no bytes written');
        done += n;
      }
    } catch (e) {
      this.failed = { step: r.step, code: (e as NodeJS.ErrnoException).code, message: (e as Error).message };
      // A torn line is cut off: the log keeps whole records.
      if (done > 0) {
        try {
          ftruncateSync(this.fd, fstatSync(this.fd).size - done);
        } catch {
          // Left torn: --resume drops a line that does not parse.
        }
      }
    }
  }

  /**
   * The append that failed, as an error naming the log, once one has; `kept` completes what is
   * left (the lines before it always are).
   */
  failure(kept: string): FileWriteError | undefined {
    const f = this.failed;
    return f && new FileWriteError(this.path, f.code, `appending the record of step ${f.step}: ${f.message}`, `the records before it are kept; ${kept}`);
  }

  /** Whether an append has failed (the log on disk stops short). */
  get broken(): boolean {
    return this.failed !== undefined;
  }

  /** With a checkpoint save: the first writes the whole log, atomically; later records append. */
  async save(): Promise<void> {
    if (this.fd !== undefined || this.failed) return;
    await writeFileAtomic(this.path, new TextEncoder().encode(this.records.map(line).join('')));
    try {
      this.fd = openSync(this.path, 'a');
    } catch (e) {
      throw new FileWriteError(this.path, (e as NodeJS.ErrnoException).code, (e as Error).message);
    }
  }

  /** Closes the file, if the first save opened it. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
