// Estimates when submitted GPU work will finish, so that waiting in Node can sleep instead of
// spin. Dawn's Node bindings resolve pending promises (mapAsync, onSubmittedWorkDone) by polling
// with setImmediate: while one is pending, the main thread busy-waits on a CPU core — the core
// a software adapter (lavapipe) would otherwise compute with, about a third of its speed on two
// cores. So a wait first sleeps through most of the expected GPU time, then asks Dawn.
//
// Each program's time per run is learned from the waits themselves: when Dawn answers after
// the sleep, all work submitted before the wait finished just then, which gives the time it
// took; when it answers at once, the work was done earlier, so the estimate was too long.

interface Submitted {
  /** The program (weakly: a submit remembered here must not keep a dropped program alive). */
  key: WeakRef<object> | undefined;
  /** Estimated completion, performance.now() ms. */
  end: number;
  /** The program's first run: it includes the driver compiling its pipelines, so it teaches nothing. */
  first: boolean;
  /** Whether `end` comes from a learned time (one-off work counts as instant). */
  known: boolean;
}

// Sleep through this fraction of the expected time, so the wait normally ends with a short spin
// that measures the true completion.
const SLEEP_FRACTION = 0.9;
// An answer within this long after waking means the work was already done.
const AT_ONCE_MS = 1;
// How much to shorten estimates that turned out too long.
const SHRINK = 0.8;
// The shortest time learned per run: a zero could never be scaled up again.
const MIN_MS = 0.01;
// Submits remembered between waits.
const MAX_PENDING = 1024;

export class Timeline {
  // Weak: a program learned about is still collected once its user drops it.
  private readonly perRun = new WeakMap<object, number>();
  private readonly runs = new WeakSet<object>();
  private pending: Submitted[] = [];
  private since = 0;

  constructor(private readonly enabled: boolean) {}

  /** Notes a submit of work identified by `key` (a program), or of one-off work. */
  submitted(key?: object): void {
    const now = performance.now();
    if (!this.pending.length) this.since = now;
    const start = Math.max(now, this.pending.at(-1)?.end ?? now);
    const first = !!key && !this.runs.has(key);
    if (key) this.runs.add(key);
    // A loop that paces itself with settle() but never reads waits nowhere: keep the list short.
    // The window then no longer starts at `since`, so it teaches nothing (marked as a first run).
    if (this.pending.length >= MAX_PENDING) this.pending = [{ ...this.pending.at(-1)!, first: true }];
    const perRun = key && this.perRun.get(key);
    this.pending.push({ key: key && new WeakRef(key), first, known: !key || perRun !== undefined, end: start + (perRun ?? 0) });
  }

  /**
   * Whether sleep(keep) would pace by a guess: some submit it waits for has no learned time yet
   * (so it would return at once, letting the host run any number of runs ahead).
   */
  guessing(keep = 0): boolean {
    return this.enabled && this.pending.slice(0, Math.max(0, this.pending.length - keep)).some((s) => !s.known);
  }

  /**
   * Sleeps until all but the last `keep` submits are expected to be done (timers only: no
   * GPU query). Resolves at once where nothing is known or waiting is not needed.
   */
  async sleep(keep = 0): Promise<void> {
    if (!this.enabled) return;
    const target = this.pending[this.pending.length - 1 - keep];
    if (!target) return;
    const ms = (target.end - performance.now()) * SLEEP_FRACTION;
    if (ms > 1) await new Promise((r) => setTimeout(r, ms));
  }

  /**
   * Waits for `done` (a GPU promise covering all work submitted so far) after sleeping through
   * the expected time, and learns from how long Dawn took to answer.
   */
  async wait<T>(done: () => Promise<T>): Promise<T> {
    await this.sleep();
    const asked = performance.now();
    let value: T;
    try {
      value = await done();
    } catch (e) {
      this.pending = []; // nothing to learn (a lost device, a failed read)
      throw e;
    }
    const at = performance.now();
    this.learn(at, at - asked > AT_ONCE_MS);
    return value;
  }

  private learn(at: number, spun: boolean): void {
    const runs = this.pending;
    this.pending = [];
    if (!runs.length || runs.some((r) => r.first)) return;
    // A program collected since took its time with it: nothing to learn from this window.
    const keys: object[] = [];
    for (const r of runs) {
      if (!r.key) continue;
      const k = r.key.deref();
      if (!k) return;
      keys.push(k);
    }
    const known = keys.filter((k) => this.perRun.has(k));
    const unknown = keys.filter((k) => !this.perRun.has(k));
    const estimate = known.reduce((s, k) => s + this.perRun.get(k)!, 0);
    const actual = at - this.since;
    const scale = (keys: object[], by: number) => {
      for (const key of new Set(keys)) this.teach(key, this.perRun.get(key)! * by);
    };
    if (!spun) {
      scale(known, SHRINK);
      // Answered at once, the work was done some time before: runs of unknown length are taken
      // as fast (the window's length, host time included, could make them seconds), and the
      // first wait that has to spin scales them up to their time.
      for (const k of unknown) this.teach(k, MIN_MS);
    } else if (!unknown.length) {
      if (estimate > 0) scale(known, actual / estimate);
    } else if (actual > estimate) {
      // Runs of unknown length share what the known ones leave of the window.
      for (const k of unknown) this.teach(k, (actual - estimate) / unknown.length);
    } else {
      // The known runs fill the window, so their estimates are too long: shorten them below it,
      // leaving the unknown runs room to be learned from the next window.
      scale(known, (SHRINK * actual) / estimate);
    }
  }

  private teach(key: object, ms: number): void {
    this.perRun.set(key, Math.max(MIN_MS, ms));
  }
}
