// Storage: the GPU buffer range behind realised tensors, shared by views, reference-counted,
// and versioned by in-place writes. Tensors hold it (retain/release) or borrow it (lend).
import { TensorStateError } from './errors.js';
import type { Tensor } from './tensor.js';

let nextStorageId = 1;

/** A range of a GPU buffer holding a tensor's elements. Shared by views (reshape). */
export class Storage {
  /** Identifies the storage in caches (bind groups keyed by the inputs they bind). */
  readonly id = nextStorageId++;
  /** Bumped by every in-place write (optimizer steps, `write`, program outputs). */
  version = 0;
  disposed = false;
  private refs = 1;
  /** References of tensors disposed while queued work may use it, given back once that has run (Tensor.dispose). */
  leaving = 0;
  // NOTE: weak, so that the storage kept by the collector's registry until its tensor is
  // collected does not keep the program alive too: two programs bound to each other's outputs
  // would then never be collected. The tensors on the storage hold the program.
  private readonly ownerRef: WeakRef<object> | undefined;
  /** Tensors that borrow it without holding it (Tensor.borrow): lazy again once it is released. */
  private borrowers: WeakRef<Tensor>[] | undefined;

  constructor(
    readonly buffer: GPUBuffer,
    readonly byteOffset: number,
    readonly byteLength: number,
    /** Called when the last reference goes; absent for buffers owned elsewhere. */
    private readonly onFree?: (s: Storage) => void,
    /** The program whose buffer it is: kept alive by every tensor attached to the storage. */
    owner?: object,
  ) {
    this.ownerRef = owner && new WeakRef(owner);
  }

  /** The program whose buffer this is, if any. */
  get owner(): object | undefined {
    return this.ownerRef?.deref();
  }

  /** Whether every reference is one of those: it goes back once queued work has run. */
  get going(): boolean {
    return this.refs > 0 && this.refs === this.leaving;
  }

  retain(): this {
    // Its buffer went back to the pool: a new reference would give it back a second time.
    if (this.refs <= 0) throw new TensorStateError('a released buffer was used again');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    if (this.refs === 1) {
      // A value that borrowed it and was written since keeps it (Tensor.keeps): computed anew,
      // it would lose what was written.
      const keeper = this.borrowers?.map((r) => r.deref()).find((t) => t?.keeps(this));
      if (keeper) {
        keeper.hold(); // a reference of its own: then this one goes
        this.refs--;
        return;
      }
    }
    if (--this.refs === 0) {
      this.disposed = true;
      for (const t of this.borrowers ?? []) t.deref()?.unborrow(this);
      this.borrowers = undefined;
      this.onFree?.(this);
    }
  }

  /** @internal Notes a tensor borrowing the storage (see Tensor.borrow). */
  lend(t: Tensor): void {
    (this.borrowers ??= []).push(new WeakRef(t));
  }
}
