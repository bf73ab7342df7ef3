// One `fovea train` run's hold on its outputs: the locks of the checkpoint and of the metrics log
// (<file>.lock), so that one run at a time writes them, and what signals do. A first Ctrl-C,
// SIGTERM (a timeout, `docker stop`, a scheduler) or SIGHUP (the terminal closed; output to it is
// dropped) asks the run to stop after the step and save; a second signal quits at once, saying
// what the checkpoint file keeps, except that a checkpoint being saved is finished first. (Node
// sets every signal back to its default when it starts, so `nohup` cannot keep SIGHUP from a
// run: without this handler it would kill it.)
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { lockFor } from '../model/lock.js';
import type { ProgressSink } from './progress.js';
import type { TrainOutputs } from './train-outputs.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The lock and signal handlers of one run, from take() to stop(). */
export class RunGuard {
  private stopCode: number | undefined; // the exit code, once a signal asked the run to stop
  private saving = false;
  private quit: number | undefined; // the exit code, once asked to quit during a save
  private savedStep: number | undefined; // the step the checkpoint file holds, once known
  private readonly stopping = new AbortController(); // aborted by the first signal: an evaluation stops

  private constructor(
    private readonly out: string,
    private readonly stderr: ProgressSink,
    private readonly release: () => void,
  ) {}

  /** Takes the locks of the run's checkpoint and metrics log (lockFor) and handles the signals until stop(). */
  static take({ paths, metrics }: TrainOutputs, stderr: ProgressSink): RunGuard {
    const releases: (() => void)[] = [];
    try {
      // A run with another --out but this --metrics would replace the log as much as the checkpoint.
      for (const file of [paths.model, metrics]) releases.push(lockFor(file));
    } catch (e) {
      for (const r of releases) r();
      throw e;
    }
    const guard = new RunGuard(paths.model, stderr, () => releases.forEach((r) => r()));
    process.on('exit', guard.release); // a signal that quits at once exits from inside the run
    for (const s of SIGNALS) process.on(s, guard.onSignal);
    return guard;
  }

  /** Whether a signal (Ctrl-C, SIGTERM, SIGHUP) asked the run to stop after its step. */
  get interrupted(): boolean {
    return this.stopCode !== undefined;
  }

  /** Aborted once a signal asks the run to stop: an evaluation under way stops at its next batch. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  /** The exit code of a run stopped by a signal: 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP. */
  get exitCode(): number {
    return this.stopCode ?? 130;
  }

  /** Records that the checkpoint file holds `step` (saved, or the one --resume read). */
  saved(step: number): void {
    this.savedStep = step;
  }

  /** What the checkpoint file keeps should the run end now: its step, an earlier run's file, or nothing. */
  kept(): string {
    if (this.savedStep !== undefined) return `${this.out} keeps step ${this.savedStep}`;
    return existsSync(this.out) ? `${this.out} keeps an earlier run's checkpoint` : 'nothing was saved';
  }

  /** Runs `write` (a checkpoint save), holding off a quit until it is done. */
  async whileSaving<T>(write: () => Promise<T>): Promise<T> {
    this.saving = true;
    try {
      return await write();
    } finally {
      this.saving = false;
    }
  }

  /** After a save: quits, saying what was `saved` (and the `failure` the run would report), if asked to during it. */
  quitIfAsked(saved: string, failure?: Error): void {
    if (this.quit === undefined) return;
    this.stderr.write(`fovea train: saved ${saved}; quitting\n`);
    if (failure) this.stderr.write(`fovea train: ${failure.name}: ${failure.message}\n`);
    process.exit(this.quit);
  }

  /** Releases the locks and the signals. */
  stop(): void {
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off('exit', this.release);
    this.release();
  }

  // A checkpoint cut off mid-save would be lost with the run: one being saved is finished first.
  private quitNow(code: number, why: string): void {
    if (!this.saving) {
      this.stderr.write(`\nfovea train: ${why}; quitting now; ${this.kept()}\n`);
      process.exit(code);
    }
    this.quit = code;
    this.stderr.write(`\nfovea train: ${why}; quitting once the checkpoint being saved is written\n`);
  }

  private readonly onSignal = (signal: NodeJS.Signals) => {
    const code = 128 + constants.signals[signal];
    const what = signal === 'SIGINT' ? 'interrupted' : signal;
    if (this.stopCode !== undefined) return this.quitNow(code, this.stopCode === code ? `${what} again` : what);
    this.stopCode = code;
    this.stopping.abort();
    this.stderr.write(`\nfovea train: ${what}; stopping after this step and saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C again to quit now' : 'another signal quits now'})\n`);
  };
}
