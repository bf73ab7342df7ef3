// One `fovea train` run's hold on its outputs: the <out>.lock, so that one run at a time writes
// them, and what Ctrl-C, SIGTERM and SIGHUP do. A first Ctrl-C asks the run to stop after the
// step and save; a second one, or SIGTERM or SIGHUP, quits at once, except that a checkpoint
// being saved is finished first.
import { lockFor } from '../model/files.js';
import type { ProgressSink } from './progress.js';

const TERMINATE = ['SIGTERM', 'SIGHUP'] as const;

/** The lock and signal handlers of one run, from take() to stop(). */
export class RunGuard {
  private stopAsked = false;
  private saving = false;
  private quit: number | undefined; // the exit code, once asked to quit during a save

  private constructor(
    private readonly stderr: ProgressSink,
    private readonly release: () => void,
  ) {}

  /** Takes the lock of the checkpoint at `path` (lockFor) and handles the signals until stop(). */
  static take(path: string, stderr: ProgressSink): RunGuard {
    const guard = new RunGuard(stderr, lockFor(path));
    process.on('exit', guard.release); // a Ctrl-C that quits at once exits from inside the run
    process.on('SIGINT', guard.onSigint);
    for (const s of TERMINATE) process.on(s, guard.onTerminate);
    return guard;
  }

  /** Whether a Ctrl-C asked the run to stop after its step. */
  get interrupted(): boolean {
    return this.stopAsked;
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

  /** After a save: quits, saying what was `saved`, if asked to during it. */
  quitIfAsked(saved: string): void {
    if (this.quit === undefined) return;
    this.stderr.write(`fovea train: saved ${saved}; quitting\n`);
    process.exit(this.quit);
  }

  /** Releases the lock and the signals. */
  stop(): void {
    process.off('SIGINT', this.onSigint);
    for (const s of TERMINATE) process.off(s, this.onTerminate);
    process.off('exit', this.release);
    this.release();
  }

  // A checkpoint cut off mid-save would be lost with the run: one being saved is finished first.
  private quitNow(code: number, why: string): void {
    if (!this.saving) process.exit(code);
    this.quit = code;
    this.stderr.write(`\nfovea train: ${why}; quitting once the checkpoint being saved is written\n`);
  }

  private readonly onSigint = () => {
    if (this.stopAsked) return this.quitNow(130, 'interrupted again');
    this.stopAsked = true;
    this.stderr.write('\nfovea train: interrupted; stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n');
  };

  // A closed terminal or a stopped container: quit as a second Ctrl-C does (the lock released).
  private readonly onTerminate = (signal: NodeJS.Signals) => this.quitNow(128 + (signal === 'SIGHUP' ? 1 : 15), signal);
}
