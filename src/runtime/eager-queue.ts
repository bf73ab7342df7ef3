// Eager work (a read of lazy values, an in-place update such as an optimizer step not awaited,
// a write behind one) runs one piece at a time, in the order it was asked for, as PyTorch's
// statements do. What is queued and not yet run is counted per storage it writes and reads:
// - an op recorded now expects the versions the queued updates will leave (versionAfter);
// - a read of what they write waits for them, and a write to what they read or write waits
//   its turn (the runtime's write());
// - work that runs at once (a compiled run) and would come before them where they overlap is
//   refused (refuseWritten, refuseRead).
import { TensorStateError } from './errors.js';
import type { Storage } from './storage.js';
import type { Tensor } from './tensor.js';

export class EagerQueue {
  private serial: Promise<unknown> = Promise.resolve();
  /** Work queued and not yet run, per storage it writes. */
  private readonly writes = new Map<Storage, number>();
  /** The same, per storage it reads (inputs, or what its lazy inputs are computed from). */
  private readonly reads = new Map<Storage, number>();
  /**
   * The same, per lazy tensor it reads once computed (a read of a lazy value copies it out): by
   * its turn the tensor may have a storage, computed by earlier work, and a write to it asked for
   * after the read must wait for it.
   */
  private readonly readTensors = new Map<Tensor, number>();
  private submitting = false;

  /** Whether any work is queued and not yet run. */
  get busy(): boolean {
    return this.writes.size > 0 || this.reads.size > 0 || this.readTensors.size > 0;
  }

  /** The version an op recorded now reads: the storage's, after the queued updates of it. */
  versionAfter(s: Storage): number {
    return s.version + (this.writes.get(s) ?? 0);
  }

  /** Runs `fn` after everything queued before it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn, fn);
    this.serial = next.catch(() => undefined);
    return next;
  }

  /** Resolves once everything queued so far has run. */
  settled(): Promise<void> {
    return this.run(async () => undefined);
  }

  /**
   * Queues work that writes `written` and reads `read`. `work` calls `ran()` as it moves the
   * versions on; work that fails moves them on too, or what was recorded after it would expect
   * the version a later write reaches, and read that write's values.
   */
  add(written: readonly Storage[], read: readonly Storage[], work: (ran: () => void) => Promise<void>, readTensors: readonly Tensor[] = []): Promise<void> {
    count(this.writes, written, 1);
    count(this.reads, read, 1);
    count(this.readTensors, readTensors, 1);
    let queued = true;
    const dequeue = (failed: boolean) => {
      if (!queued) return;
      queued = false;
      if (failed) for (const s of written) s.version++;
      count(this.writes, written, -1);
      count(this.reads, read, -1);
      count(this.readTensors, readTensors, -1);
    };
    return this.run(() => work(() => dequeue(false))).finally(() => dequeue(true));
  }

  /** Whether queued work writes this buffer (through any storage of it). */
  writesBuffer(buffer: GPUBuffer): boolean {
    for (const s of this.writes.keys()) if (s.buffer === buffer) return true;
    return false;
  }

  /**
   * Whether a write of this buffer must wait its turn: queued work reads or writes it. Writes
   * made as a program is submitted (see asSubmitted) are that program's, in their turn already.
   */
  mustQueueWrite(buffer: GPUBuffer): boolean {
    return !this.submitting && this.uses(buffer);
  }

  /** Whether queued work reads or writes this buffer (a lazy value it reads, computed since into it, too). */
  uses(buffer: GPUBuffer): boolean {
    if (!this.busy) return false;
    for (const s of this.reads.keys()) if (s.buffer === buffer) return true;
    for (const t of this.readTensors.keys()) if (t.storage?.buffer === buffer) return true;
    return this.writesBuffer(buffer);
  }

  /** Runs `fn` as a program is submitted: its writes (host inputs, an effect's uploads) are not queued. */
  asSubmitted<T>(fn: () => T): T {
    this.submitting = true;
    try {
      return fn();
    } finally {
      this.submitting = false;
    }
  }

  /** Refuses work done at once (`what`) that reads tensors queued work still writes: it would come first. */
  refuseWritten(tensors: Iterable<Tensor>, what: string): void {
    if (!this.busy) return;
    for (const t of tensors) {
      if (t.storage && this.writesBuffer(t.storage.buffer)) {
        throw new TensorStateError(`${what}: ${t.describe()} has an in-place update still queued (an optimizer step not awaited, or a write behind one); await it (or rt.sync()) first`);
      }
    }
  }

  /** Refuses work done at once (`what`) that overwrites storages queued work still reads: it would read the new values. */
  refuseRead(writes: Iterable<Storage>, what: string, name: (s: Storage) => string): void {
    if (!this.busy) return;
    for (const s of writes) {
      for (const r of this.reads.keys()) {
        if (r.buffer === s.buffer) {
          throw new TensorStateError(`${what}: ${name(s)} is read by work still queued (an optimizer step not awaited, or a read of a lazy value, which reads it or computes from it); await it (or rt.sync()) first`);
        }
      }
    }
  }
}

// Adds `by` to the count of each storage, dropping those that reach 0.
function count<K>(counts: Map<K, number>, storages: readonly K[], by: number): void {
  for (const s of storages) {
    const n = (counts.get(s) ?? 0) + by;
    if (n) counts.set(s, n);
    else counts.delete(s);
  }
}
