// Tensors: handles to GPU data. A tensor is either realised (it has a Storage: a GPU buffer
// range) or lazy (it has the op that will compute it), or a program input placeholder.
// Ops only record; work happens when a value is needed (read, realize, a compiled program).
import { bytesPerElement, type DType, type HostArray, type TypedArrayFor } from './dtype.js';
import { TensorStateError, ShapeError } from './errors.js';
import { detachOp } from '../ops/reshape.js';
import { backward } from './autograd.js';
import type { OpDef } from './op.js';
import type { NestedNumbers } from './nested.js';
import type { Runtime } from './runtime.js';
import { checkShape, fmt, normAxis, numel, type Shape } from './shape.js';
import type { Storage } from './storage.js';

export interface OpRecord {
  def: OpDef<any>;
  inputs: readonly Tensor[];
  attrs: unknown;
  /** Storage versions of realised inputs when the op was recorded; realising later checks them. */
  versions: readonly number[];
}

let nextId = 1;

// Storages of tensors that are garbage-collected without dispose() return to the pool.
const collected = new FinalizationRegistry<Storage>((s) => s.release());

/**
 * A handle to GPU data of one shape and dtype: realised (it has a buffer range), lazy (it has the
 * op that computes it), or a program input placeholder. Ops record; `read()`, `realize()` and
 * compiled programs compute.
 */
export class Tensor {
  // What a tensor is (its runtime, shape, dtype, op) has getters only: kernels trust it, and a
  // shape reassigned from plain JavaScript would have them read out of bounds. The shape is frozen.
  readonly #id = nextId++;
  readonly #rt: Runtime;
  readonly #shape: Shape;
  readonly #dtype: DType;
  #op: OpRecord | undefined;
  readonly #placeholder: string | undefined;
  /** Set when the value has been computed or uploaded. */
  storage: Storage | undefined;
  /** Gradient from `backward()`: lazy until read, or, set by a compiled `backward()`, that program's output of its last run. */
  grad: Tensor | undefined;
  #requiresGrad = false;

  /** Whether `backward()` computes a gradient for this tensor (parameters); f32 tensors only, as in PyTorch. */
  get requiresGrad(): boolean {
    return this.#requiresGrad;
  }

  set requiresGrad(on: boolean) {
    // Refused now, not at backward(): a gradient of integers is no gradient.
    if (on && this.#dtype !== 'f32') throw new ShapeError('requiresGrad', `only f32 tensors can require gradients, not ${this.describe()}`);
    this.#requiresGrad = on;
  }
  /** Parameter name, shown in error messages and checkpoints. */
  name: string | undefined;
  /**
   * @internal Lazy values computed along with this one: backward()'s output rides with the
   * gradients, so an eager optimizer step (which computes them) also computes the loss before
   * updating the weights it was computed from, and the loss can be read after the step.
   */
  companions: Tensor[] | undefined;
  /** For tensors returned by a program run: the storage version they show. */
  private pinned: number | undefined;
  /** @internal What the tensor is, if nothing may write it (a number given as an operand). */
  constantOf: string | undefined;
  private disposedFlag = false;
  /** Set once the storage is released: after dispose(), and after the work asked for before it. */
  private releasedFlag = false;
  /** The program whose buffer the storage is (or the tensor that owns it), kept alive while this tensor is reachable. */
  private owner: object | undefined;
  /** Whether the storage is borrowed (see borrow). */
  private borrowed = false;
  /** Whether its reference counts in the storage's `leaving` (disposed, released after queued work). */
  private leaves = false;

  constructor(rt: Runtime, shape: Shape, dtype: DType, op?: OpRecord, placeholder?: string) {
    this.#rt = rt;
    this.#shape = checkShape(shape, 'Tensor');
    this.#dtype = dtype;
    this.#op = op;
    this.#placeholder = placeholder;
  }

  /** Unique per tensor, in creation order (named in labels and caches). */
  get id(): number {
    return this.#id;
  }

  /** The runtime the tensor belongs to. */
  get rt(): Runtime {
    return this.#rt;
  }

  /** Dimensions, outermost first (a frozen array). */
  get shape(): Shape {
    return this.#shape;
  }

  /** Element type. */
  get dtype(): DType {
    return this.#dtype;
  }

  /** The op that computes a lazy tensor (kept by a realised one for `grad`). */
  get op(): OpRecord | undefined {
    return this.#op;
  }

  /** Name of the program input this tensor stands for while a program is traced. */
  get placeholder(): string | undefined {
    return this.#placeholder;
  }

  /**
   * @internal The storage version when the tensor was realised: what ops recorded while it was
   * still lazy read (an update in place since makes their results stale).
   */
  realisedVersion = -1;

  /** @internal The version of this input that an op recorded with `recorded` (-1: it was lazy then) read. */
  versionRead(recorded: number): number {
    return recorded >= 0 ? recorded : this.realisedVersion;
  }

  /** @internal For a program's output: the storage version it shows (valid while it is current). */
  get pinnedVersion(): number | undefined {
    return this.pinned;
  }

  /**
   * @internal Attaches realised data; `owned` storages are released with the tensor. `holder`
   * (default: the storage's program) is kept alive as long as this tensor.
   */
  attach(storage: Storage, owned: boolean, pinned?: number, holder?: object): this {
    if (this.#op?.def.detaches) this.#op = undefined; // computed: what it came from can go
    this.storage = storage;
    this.owner = holder ?? storage.owner;
    this.pinned = pinned;
    this.realisedVersion = storage.version;
    this.borrowed = false;
    if (owned) collected.register(this, storage, this);
    // Computed by work asked for before its dispose: given back after that work (see dispose).
    if (owned && this.disposedFlag && !this.releasedFlag) this.leave();
    return this;
  }

  /**
   * @internal A lazy value whose view was computed first, into the storage the value would have
   * had: the value shows that storage while it lives (a write to either shows in the other), and
   * is lazy again once it is released, without holding it (dispose() of the view frees it),
   * unless it was asked for itself since (hold) or written, itself or through the view (keeps).
   */
  borrow(storage: Storage): void {
    this.storage = storage;
    this.owner = storage.owner;
    this.realisedVersion = storage.version;
    this.ownsStorage = false;
    this.borrowed = true;
    storage.lend(this);
  }

  /**
   * @internal Asked for itself (read, realize(), a write): a value of its own from now on, which
   * holds the storage it borrowed, so the view's dispose() leaves it (and what was written to it)
   * as PyTorch's base tensor outlives its views.
   */
  hold(): void {
    if (!this.borrowed || !this.storage || this.disposedFlag) return;
    this.storage.retain();
    this.ownsStorage = true;
    this.borrowed = false;
    collected.register(this, this.storage, this);
  }

  /** @internal The storage it borrowed was released: lazy again (computed anew where read). */
  unborrow(storage: Storage): void {
    if (this.storage !== storage || !this.borrowed) return;
    this.storage = undefined;
    this.realisedVersion = -1;
    this.ownsStorage = true;
    this.borrowed = false;
  }

  /**
   * @internal Borrows a storage whose holders were all disposed, given back once the work asked
   * for before has run: lazy again for what is asked for from now on, as at once with nothing queued.
   */
  get letGo(): boolean {
    return this.borrowed && !!this.storage?.going && !this.keeps(this.storage, this.rt.eager.versionAfter(this.storage));
  }

  /**
   * @internal Whether it keeps the storage it borrowed once the others let go: it was written
   * since it borrowed it (through itself or its view; by `version`, the storage's version after
   * the writes queued), as PyTorch's base tensor holds what was written to its view.
   */
  keeps(storage: Storage, version = storage.version): boolean {
    return this.borrowed && this.storage === storage && !this.disposedFlag && version !== this.realisedVersion;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of the elements, from `byteOffset` in `buffer` (for u8, possibly not a multiple of 4). */
  get byteLength(): number {
    return this.size * bytesPerElement[this.dtype];
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * @internal Whether the storage went back with dispose(): at once, or, where eager work asked
   * for before it was still queued, once that has run (it may read or compute this tensor).
   */
  get released(): boolean {
    return this.releasedFlag;
  }

  /** The GPU buffer holding this tensor (at `byteOffset`); throws for a lazy tensor. */
  get buffer(): GPUBuffer {
    return this.checkReadable('buffer').buffer;
  }

  /** Where the elements start in `buffer`, in bytes; throws for a lazy tensor. */
  get byteOffset(): number {
    return this.checkReadable('byteOffset').byteOffset;
  }

  /** Same elements, new shape (sizes as arguments or one array; one may be -1); no copy. */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    // Sizes as arguments or as one array, as torch.reshape takes either.
    return this.rt.reshape(this, Array.isArray(shape[0]) ? shape[0] : (shape as number[]));
  }

  /** Flattens dims start..end into one, as torch.flatten; no copy. */
  flatten(start = 0, end = -1): Tensor {
    // A 0-d tensor takes axes 0 and -1, as in PyTorch, and becomes 1-d.
    const [s, e] = [normAxis(start, this.rank, 'flatten', true), normAxis(end, this.rank, 'flatten', true)];
    if (this.rank === 0) return this.reshape(1);
    if (s > e) throw new ShapeError('flatten', `start ${start} comes after end ${end} in ${fmt(this.shape)}`, [this.shape]);
    const mid = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape(...this.shape.slice(0, s), mid, ...this.shape.slice(e + 1));
  }

  /** A dimension of size 1 inserted at `dim` (−rank − 1 to rank), as torch.unsqueeze; no copy. */
  unsqueeze(dim: number): Tensor {
    const d = normAxis(dim, this.rank + 1, 'unsqueeze');
    return this.reshape(...this.shape.slice(0, d), 1, ...this.shape.slice(d));
  }

  /**
   * Dimension `dim` left out if its size is 1 (else the same shape), or without `dim` every
   * dimension of size 1, as torch.squeeze; no copy.
   */
  squeeze(dim?: number): Tensor {
    if (dim === undefined) return this.reshape(this.shape.filter((s) => s !== 1));
    const d = normAxis(dim, this.rank, 'squeeze', true);
    return this.reshape(this.shape.filter((s, i) => i !== d || s !== 1));
  }

  /**
   * The same values without the ops that computed them, as PyTorch's `detach()`: shares this
   * tensor's buffer (no copy), gradients do not flow through it, and the ops it came from can be
   * freed (a lazy tensor's once the detached one is computed). A realised tensor keeps its ops
   * for `grad`, so an eager loop that carries a value over (`x = add(x, y)`) should carry
   * `x.detach()` (or be compiled).
   */
  detach(): Tensor {
    if ((!this.storage || this.letGo) && !this.disposed) return this.rt.record(detachOp, [this], {});
    const s = this.checkReadable('detach');
    return new Tensor(this.rt, this.shape, this.dtype).attach(s.retain(), true, this.pinned);
  }

  /** Computes the tensor if it is lazy (one submit); resolves once it is encoded. */
  async realize(): Promise<this> {
    await this.rt.realize([this]);
    return this;
  }

  /**
   * `backward(this, seed)`, as PyTorch's `loss.backward()`: adds the gradient of this value to
   * `.grad` of every tensor with `requiresGrad` it is computed from.
   */
  backward(seed?: Tensor): void {
    backward(this, seed);
  }

  /**
   * Copies the values to the host: a Float32Array for an f32 tensor, else an Int32Array,
   * Uint32Array or Uint8Array. Typed as any of those, or, as TensorFlow.js's `data<D>()`, as the
   * one for the dtype named: `await y.read<'f32'>()` is a Float32Array (a type only: the tensor's
   * dtype decides what comes back).
   */
  async read<D extends DType = DType>(): Promise<TypedArrayFor<D>> {
    return (await this.rt.read(this)) as TypedArrayFor<D>;
  }

  /**
   * The values as plain numbers nested as the shape, as PyTorch's `tolist()`: `[[1, 2], [3, 4]]`
   * for a [2, 2] tensor, a number for a 0-d one.
   */
  async tolist(): Promise<NestedNumbers | number> {
    const values = await this.read();
    if (this.rank === 0) return values[0]!;
    const nest = (at: number, axis: number): NestedNumbers => {
      const n = this.shape[axis]!;
      if (axis === this.rank - 1) return Array.from(values.subarray(at, at + n));
      const inner = this.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => nest(at + i * inner, axis + 1));
    };
    return nest(0, 0);
  }

  /** The value of a one-element tensor (a loss), as PyTorch's `item()`. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError('item', `${this.describe()} has ${this.size} elements, not one`, [this.shape]);
    return (await this.read())[0]!;
  }

  /**
   * Overwrites the values of a realised tensor from the host (in queue order): a typed array of
   * its dtype, or plain numbers, nested as its shape or flat, as `rt.tensor` takes them.
   */
  write(data: HostArray | NestedNumbers | number): void {
    this.rt.write(this, data);
  }

  /**
   * Releases the GPU memory now rather than when the tensor is garbage-collected. Work asked for
   * before (a read, an optimizer step not awaited) still runs with it: its memory then goes back
   * once that work has run, as a GPUBuffer destroyed after a submit lives until the submit is done.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    collected.unregister(this);
    const lazy = (this.disposedLazy = !this.storage);
    // Behind queued work that may compute it (a lazy value) or use its buffer; at once
    // otherwise, as with nothing queued.
    const waits = this.rt.eager.busy && !this.rt.disposed && (lazy || this.rt.eager.uses(this.storage!.buffer));
    if (!waits) return this.release(lazy);
    this.leave();
    void this.rt.eager.run(async () => this.release(lazy));
  }

  private leave(): void {
    if (!this.storage || !this.ownsStorage || this.leaves) return;
    this.leaves = true;
    this.storage.leaving++;
  }

  /** Disposed while lazy (see lazyAgain). */
  private disposedLazy = false;

  /**
   * @internal Disposed while lazy, and computed since by work asked for before: lazy again once
   * released, so work asked for now takes it as lazy, however far the queue has run. (A detached
   * value, which forgot its op when computed, cannot be: it is gone with its storage.)
   */
  get lazyAgain(): boolean {
    return this.disposedLazy && this.#op !== undefined;
  }

  private release(lazy: boolean): void {
    this.releasedFlag = true;
    collected.unregister(this); // attached since dispose() by the work before it
    if (this.storage && this.ownsStorage) {
      if (this.leaves) this.storage.leaving--;
      this.storage.release();
    }
    this.leaves = false;
    // Computed by that work: lazy again for work asked for since, which computes it anew if it
    // needs it, as it would have without that work.
    if (lazy && this.#op) {
      this.storage = undefined;
      this.realisedVersion = -1;
    }
  }

  /** @internal whether dispose() releases the storage (false for program-owned outputs). */
  ownsStorage = true;

  /**
   * @internal The storage, after checking it is usable now: by work asked for now, or, `inTurn`,
   * by queued work in its turn, which may use a tensor disposed after it was asked for.
   */
  checkReadable(what: string, inTurn = false): Storage {
    if (this.rt.disposed) throw new TensorStateError(`${what}: the runtime of ${this.describe()} was disposed`);
    if (inTurn ? this.releasedFlag : this.disposedFlag) throw new TensorStateError(`${what}: ${this.describe()} was disposed`);
    const s = this.storage;
    if (!s) throw new TensorStateError(`${what}: ${this.describe()} is lazy; await t.realize() first`);
    if (s.disposed) throw new TensorStateError(`${what}: the buffer of ${this.describe()} was released (the tensor, or the program it came from, was disposed)`);
    if (this.pinned !== undefined && this.pinned !== s.version) {
      throw new TensorStateError(
        `${what}: ${this.describe()} is an output of a program run that has since run again and overwritten it; ` +
          'read it before the next run',
      );
    }
    return s;
  }

  /** @internal Refuses, naming `what`, a write in place to a program's output (which its next run overwrites). */
  checkWritable(what: string): void {
    if (this.constantOf !== undefined) throw new TensorStateError(`${what}: ${this.describe()} is ${this.constantOf}, a constant`);
    if (this.pinned !== undefined) throw new TensorStateError(`${what}: ${this.describe()} is an output of a compiled program; outputs are read-only (copy it to update it in place)`);
  }

  /** `<name or op> [shape] dtype`, as error messages name a tensor. */
  describe(): string {
    const what = this.name ?? (this.op ? `${this.op.def.name} output` : this.placeholder ? `input '${this.placeholder}'` : 'tensor');
    return `${what} ${fmt(this.shape)} ${this.dtype}`;
  }

  /** `Tensor(relu output [2, 3] f32, lazy)`: what it is, not its values (those need `read()`). */
  toString(): string {
    const state = this.disposedFlag ? ', disposed' : this.storage ? '' : this.placeholder === undefined ? ', lazy' : ', program input';
    return `Tensor(${this.describe()}${state})`;
  }

  /** What Node's console.log and util.inspect show (not the runtime and graph behind it). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
