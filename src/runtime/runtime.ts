// The runtime: one GPU device and everything that lives on it (buffer pool, pipeline cache,
// programs, tensors). Entry point for creating tensors, compiling programs and reading values.
import { resolveShape, reshapeOp } from '../ops/reshape.js';
import { checkTensor, checkTensors, given, isUndefinedArgument } from './args.js';
import { BufferPool, MAP_READ, STAGING_USAGE, USAGE } from './buffers.js';
import { acquireDevice, type AdapterReport, type DeviceOptions } from './device.js';
import { arrayName, byteSize, bytesPerElement, checkDType, dtypeOf, fromNumbers, hostArray, type DType, type HostArray, type TypedArrayFor } from './dtype.js';
import { DeviceLimitError, DeviceLostError, FoveaError, GPUValidationError, ShapeError, TensorStateError } from './errors.js';
import type { EffectDef, OpDef } from './op.js';
import { PipelineCache } from './pipelines.js';
import { EagerQueue } from './eager-queue.js';
import { Timeline } from './timeline.js';
import type { Effect } from './plan.js';
import { Program, type InputSpec } from './program.js';
import { checkLazyInputs, companionsOf, readsOf, withCompanions } from './lazy.js';
import { flattenNested, hostValues, type NestedNumbers } from './nested.js';
import { checkOptionNames, shown } from './options.js';
import { checkShape, fmt, numel, type Shape } from './shape.js';
import { dtypeOrOptions, shapeOrOptions, type FilledOptions, type TensorOptions } from './tensor-options.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';
import { checkSeed, TorchGenerator } from '../model/random.js';

/** Options of createRuntime(): the device to use (or how to acquire one) and debug aids. */
export interface RuntimeOptions extends DeviceOptions {
  /**
   * Debug aids. `poisonFreed` fills every buffer with NaN once its last reader is done, and
   * every buffer the pool hands out, so a value read from memory nothing wrote shows as NaN.
   */
  debug?: { poisonFreed?: boolean };
}

// RuntimeOptions as a table, so that an option left out of it fails tsc.
const RUNTIME_OPTIONS = Object.keys({ device: true, powerPreference: true, debug: true } satisfies Record<keyof RuntimeOptions, true>);

/** Options of `rt.rand` and `rt.randn`: the generator to draw from (default `rt.generator`), and a new tensor's. */
export interface RandomOptions extends FilledOptions {
  generator?: TorchGenerator;
}

/** Counters of a runtime's work and memory, from `rt.stats()`. */
export interface RuntimeStats {
  /** Kernel dispatches submitted so far. */
  dispatches: number;
  /** Command buffers submitted (programs run, eager realisations, reads). */
  submits: number;
  /** Compute pipelines compiled. */
  pipelinesCreated: number;
  /** Bind groups created (cached: a program's are made once, when it is built). */
  bindGroupsCreated: number;
  /** Programs built: compiled ones, and one per eager realisation or update. */
  programsBuilt: number;
  /** GPU buffers created (pooled buffers are reused, so this stops growing in steady state). */
  buffersCreated: number;
  /** Bytes of all buffers ever created. */
  bytesAllocated: number;
  /** Bytes of the buffers that exist now. */
  liveBytes: number;
  /** Bytes handed out right now. */
  inUseBytes: number;
  /** The most bytes ever handed out at once (tensors, compiled programs' buffers, staging for reads). */
  peakBytes: number;
}

/** What a function compiled by `rt.compile` may return: one tensor, an array or a record of them, or nothing (effects only). */
export type ProgramOutputs = Tensor | readonly Tensor[] | Readonly<Record<string, Tensor>> | void;

/** The keys of a record as the strings JavaScript makes of them (`{ 0: … }` has '0'). */
type KeyNames<T> = `${Extract<keyof T, string | number>}`;

/**
 * The names run() gives the outputs of a compiled function returning O: a record's keys, a
 * tuple's indices ('0', '1', …), 'out' for one tensor; any string for an array of unknown length.
 */
export type OutputNames<O> = O extends Tensor
  ? 'out'
  : O extends readonly Tensor[]
    ? number extends O['length'] ? string : Extract<keyof O, `${number}`>
    : O extends Readonly<Record<string, Tensor>>
      ? KeyNames<O>
      : never;

/** What rt.compile takes for each input: its shape, or its shape and dtype. */
export type InputSpecs = Readonly<Record<string, Shape | InputSpec>>;

/** Options of `rt.compile`. */
export interface CompileOptions {
  /** Names the program in labels and error messages. */
  name?: string;
  /** Called as pipelines finish compiling. */
  onProgress?: (done: number, total: number) => void;
}
const COMPILE_OPTIONS = Object.keys({ name: true, onProgress: true } satisfies Record<keyof CompileOptions, true>);

interface Trace {
  effects: Effect[];
  written: Set<Storage>;
  /** Tensors whose `.grad` backward() set while tracing, with what they held before. */
  grads: Map<Tensor, Tensor | undefined>;
  /** A read of a value that exists only inside the program, tried while tracing: compile fails with it. */
  failedRead?: FoveaError;
}

// NOTE: Dawn (Node) can crash when a GPUAdapter is garbage-collected while its device lives.
const keepAlive = new WeakMap<Runtime, GPUAdapter | undefined>();

/**
 * Acquires a WebGPU device (or uses the host application's `options.device`, whose limits it
 * checks: NoAdapterError) and returns a runtime on it.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  checkOptionNames(options, RUNTIME_OPTIONS, (why) => new RangeError(`createRuntime: ${why}`));
  const acquired = await acquireDevice(options);
  const rt = new Runtime(acquired.device, acquired.adapter, acquired.owned, options, acquired.bindGroupBudget);
  keepAlive.set(rt, acquired.gpuAdapter);
  return rt;
}

/**
 * The traced function's inputs, noting names read that compile() was given no spec for (a
 * function may probe for an input, so reading one is no error in itself).
 */
function noteUndeclared(placeholders: Record<string, Tensor>, undeclared: Set<string>, tracing: () => boolean): Record<string, Tensor> {
  return new Proxy(placeholders, {
    get(target, key, receiver) {
      // Only while tracing: compile's own look at a returned record reads no input.
      if (typeof key === 'string' && !(key in target) && tracing()) undeclared.add(key);
      return Reflect.get(target, key, receiver);
    },
  });
}

/** The error of a traced function that failed on no Tensor (`cause`) after reading inputs not declared. */
function undeclaredInputs(undeclared: Set<string>, declared: string[], cause: TypeError): TypeError {
  const names = [...undeclared].map((n) => `'${n}'`).join(', ');
  const known = declared.length ? `only ${declared.map((n) => `'${n}'`).join(', ')} ${declared.length > 1 ? 'are' : 'is'}` : 'none is';
  const [first] = undeclared;
  return new TypeError(
    `compile: the traced function reads input${undeclared.size > 1 ? 's' : ''} ${names}, but ${known} declared; give each input's shape (or { shape, dtype }) ` +
      `in compile's second argument, as rt.compile(fn, { ${first}: [2, 3] }) (${cause.message})`,
    { cause },
  );
}

/** Constants kept (Runtime.constant: operand scalars, resampling matrices), the oldest let go first. */
const MAX_CONSTANTS = 256;

/**
 * One GPU device and everything fovea keeps on it: the buffer pool, the pipeline cache, tensors
 * and programs. Create it with createRuntime(); every tensor belongs to one runtime.
 */
export class Runtime {
  /** @internal The pool that buffers are taken from and returned to. */
  readonly pool: BufferPool;
  /** @internal Compiled pipelines and their layouts. */
  readonly pipelines: PipelineCache;
  /** The debug aids in effect (RuntimeOptions.debug). */
  readonly debug: { poisonFreed: boolean };
  /** @internal */
  readonly counters = { dispatches: 0, submits: 0, bindGroups: 0, programs: 0 };
  private tracing: Trace | undefined;
  private pending: FoveaError | undefined;
  private lostError: DeviceLostError | undefined;
  /** Rejecters of the GPU waits in progress: a lost device rejects them (see gpuWait). */
  private readonly waiters = new Set<(e: unknown) => void>();
  /** @internal Eager work, in the order it was asked for (see eager-queue.ts). */
  readonly eager = new EagerQueue();
  // In Node, waits sleep through the expected GPU time (Dawn's promise polling would spin).
  private readonly timeline = new Timeline(typeof process !== 'undefined' && !!process.versions?.node);
  private disposedFlag = false;
  /**
   * @internal Gradient rules running (grad()): what they record may read a lazy value that the
   * user disposed on the way (an intermediate of the forward pass), which is computed anew, as
   * the forward pass computes it anew for the loss.
   */
  differentiating = 0;
  /** Constants ops make (a number given as an operand, `sub(1, x)`): uploaded once, read by any graph. */
  private readonly constants = new Map<string, Tensor>();

  /** @internal Use createRuntime(). */
  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    private readonly ownsDevice: boolean,
    options: RuntimeOptions,
    /** @internal The most bind groups one program may make on this driver (see device.ts). */
    readonly bindGroupBudget = Infinity,
  ) {
    this.debug = { poisonFreed: options.debug?.poisonFreed ?? false };
    this.pool = new BufferPool(device, this.debug.poisonFreed);
    this.pipelines = new PipelineCache(device);
    // Weak: a host's device outlives the runtimes disposed on it, and its `lost` promise, which
    // settles only with the device, would otherwise keep each of them (and its caches) alive.
    // (A closure made here would share this constructor's context, which holds `this`.)
    watchLoss(device, new WeakRef(this));
    if (ownsDevice) {
      device.addEventListener('uncapturederror', (ev) => {
        this.fail(new GPUValidationError('device', (ev as GPUUncapturedErrorEvent).error.message));
      });
    }
  }

  /** The device's limits. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // ---- tensors ----

  /**
   * Uploads host data as a tensor: a typed array (its dtype), or plain numbers, nested as
   * torch.tensor takes them (f32 unless `opts.dtype`; the nesting is the shape, and a lone
   * number is a 0-d tensor). A `shape` given with the data must hold as many elements. The dtype
   * goes in the options, as torch.tensor's keyword: `rt.tensor([1, 2], { dtype: 'i32' })`, or
   * after a shape: `rt.tensor(data, [2, 3], { requiresGrad: true })`.
   */
  tensor(data: HostArray | NestedNumbers | number, opts?: TensorOptions): Tensor;
  tensor(data: HostArray | NestedNumbers | number, shape?: Shape, opts?: TensorOptions): Tensor;
  tensor(data: HostArray | NestedNumbers | number, shapeOrOpts?: Shape | TensorOptions, more?: TensorOptions): Tensor {
    this.checkUsable();
    const [shape, opts] = shapeOrOptions('tensor', shapeOrOpts, more);
    const plain = Array.isArray(data) || typeof data === 'number' ? flattenNested(data as NestedNumbers, 'tensor') : undefined;
    const dtype = opts.dtype === undefined ? (plain ? 'f32' : dtypeOf(data as HostArray, 'tensor')) : checkDType(opts.dtype, 'tensor');
    const host = plain ? fromNumbers(dtype, plain.values, 'tensor') : (data as HostArray);
    const given = dtypeOf(host, 'tensor');
    if (given !== dtype) {
      const why = `dtype ${dtype} was asked for but the data is ${host.constructor.name} (${given})`;
      throw new ShapeError('tensor', `${why}: give ${arrayName[dtype]} data or plain numbers, or leave the dtype out`);
    }
    const s = checkShape(shape ?? plain?.shape ?? [host.length], 'tensor');
    if (numel(s) !== host.length) throw new ShapeError('tensor', `${host.length} values do not fill shape ${fmt(s)}`, [s]);
    const t = this.allocate('tensor', s, dtype, opts);
    this.writeBytes(t.storage!, host);
    return t;
  }

  /**
   * @internal The f32 scalar `c` for a number given as an operand: a read-only view of one
   * buffer per value, so an eager loop's `sub(1, p)` uploads and allocates nothing after its
   * first step, and what a graph's op record exposes can be neither written nor disposed for all.
   */
  scalar(c: number): Tensor {
    const key = Object.is(c, -0) ? '-0' : String(c);
    return this.constant(`the number ${key} given as an operand`, [], () => Float32Array.of(c));
  }

  /**
   * @internal The constant that `what` names (a key, and how errors describe it), made by
   * `make` the first time it is asked for and uploaded once: a read-only view of it. f32 (u32 or
   * i32 where `dtype` says so, `make` then giving a Uint32Array or an Int32Array); of `shape`, or,
   * where that is not known before it is made, 1-D.
   */
  constant(what: string, shape: Shape | undefined, make: () => Float32Array | Uint32Array | Int32Array, dtype: 'f32' | 'u32' | 'i32' = 'f32'): Tensor {
    let held = this.constants.get(what);
    if (!held) {
      // Checked before it is made: one too large for the device would take the host's time and
      // memory first.
      if (shape) this.checkBindable(what, shape, dtype, 'constant');
      const values = make();
      if (!shape) this.checkBindable(what, [values.length], dtype, 'constant');
      // A loop whose numbers change every step (a decaying factor) keeps at most this many.
      if (this.constants.size >= MAX_CONSTANTS) this.constants.delete(this.constants.keys().next().value!);
      held = this.tensor(values, shape ?? [values.length]);
      this.constants.set(what, held);
    }
    return this.readOnlyView(held, what);
  }

  /**
   * @internal A view of the realised tensor `t`, named `name`, to which a write is refused as a
   * write to `what`, a constant; it keeps `t`'s memory while it lives.
   */
  readOnlyView(t: Tensor, what: string, name?: string): Tensor {
    const view = new Tensor(this, t.shape, t.dtype).attach(t.storage!.retain(), true);
    view.constantOf = what;
    view.name = name;
    return view;
  }

  /** A new tensor of zeros: `rt.zeros([2, 3])`, `rt.zeros([2], 'i32')`, `rt.zeros([2, 3], { requiresGrad: true })`. */
  zeros(shape: Shape, dtype?: DType | TensorOptions, opts?: FilledOptions): Tensor {
    return this.filled('zeros', shape, 0, dtype, opts);
  }

  /** A new tensor of ones (the dtype and options as zeros' take them). */
  ones(shape: Shape, dtype?: DType | TensorOptions, opts?: FilledOptions): Tensor {
    return this.filled('ones', shape, 1, dtype, opts);
  }

  /** A new tensor with every element `value` (the dtype and options as zeros' take them). */
  full(shape: Shape, value: number, dtype?: DType | TensorOptions, opts?: FilledOptions): Tensor {
    return this.filled('full', shape, value, dtype, opts);
  }

  private filled(what: string, shape: Shape, value: number, dtypeOrOpts: DType | TensorOptions | undefined, more: FilledOptions | undefined): Tensor {
    const [dtype, opts] = dtypeOrOptions(what, dtypeOrOpts, more);
    if (typeof value !== 'number') throw new TypeError(`${what}: the value must be a number, got ${shown(value)}`);
    const fill = fromNumbers(dtype, [value], what)[0]!;
    const t = this.allocate(what, shape, dtype, opts); // checks the size against the device first
    this.writeBytes(t.storage!, hostArray(dtype, new ArrayBuffer(t.byteLength), t.size).fill(fill));
    return t;
  }

  /**
   * The generator `rand` and `randn` draw from when given none: seeded at random, as PyTorch's
   * default generator in a new Python process, until `manualSeed`.
   */
  generator = new TorchGenerator(crypto.getRandomValues(new Uint32Array(1))[0]!);

  /** Seeds `rt.generator` as `torch.manual_seed(seed)` seeds PyTorch's (its low 32 bits), and returns it. */
  manualSeed(seed: number): TorchGenerator {
    checkSeed('manualSeed', seed);
    this.generator = new TorchGenerator(seed);
    return this.generator;
  }

  /** f32 values uniform in [0, 1), drawn as `torch.rand` draws them (from `opts.generator`, or `rt.generator`). */
  rand(shape: Shape, opts: RandomOptions = {}): Tensor {
    return this.random('rand', shape, opts, (g, out) => g.uniform(out, 0, 1));
  }

  /**
   * f32 values of the standard normal distribution, drawn as `torch.randn` draws them on the CPU
   * (from `opts.generator`, or `rt.generator`; see TorchGenerator.normal).
   */
  randn(shape: Shape, opts: RandomOptions = {}): Tensor {
    return this.random('randn', shape, opts, (g, out) => g.normal(out));
  }

  private random(what: string, shape: Shape, opts: RandomOptions, fill: (g: TorchGenerator, out: Float32Array) => void): Tensor {
    checkOptionNames(opts, ['generator', 'requiresGrad', 'name'], (why) => new ShapeError(what, why));
    const { generator = this.generator, ...rest } = opts;
    if (!(generator instanceof TorchGenerator)) throw new TypeError(`${what}: generator must be a TorchGenerator, got ${shown(generator)}`);
    const t = this.empty(checkShape(shape, what), rest); // checks the size against the device first
    const data = new Float32Array(t.size);
    fill(generator, data);
    t.write(data);
    return t;
  }

  /** A tensor on a new pooled buffer; contents undefined until written (the dtype and options as zeros' take them). */
  empty(shape: Shape, dtype?: DType | TensorOptions, opts?: FilledOptions): Tensor {
    const [d, o] = dtypeOrOptions('empty', dtype, opts);
    return this.allocate('empty', shape, d, o);
  }

  /** A new tensor from the pool, its checks' errors naming `what` (the method called). */
  private allocate(what: string, shape: Shape, dtype: DType, opts: TensorOptions): Tensor {
    this.checkUsable();
    const s = checkShape(shape, what);
    checkDType(dtype, what);
    const bytes = byteSize(dtype, numel(s));
    this.checkBindable(what, s, dtype, 'tensor');
    const t = new Tensor(this, s, dtype);
    t.name = opts.name;
    t.requiresGrad = opts.requiresGrad ?? false; // refused for an integer dtype, before a buffer is taken
    const buf = this.pool.acquire(bytes);
    return t.attach(new Storage(buf, 0, bytes, this.pool.releaser(buf)), true);
  }

  /**
   * Wraps a GPUBuffer of the host application as a tensor, without a copy (`t.buffer` is
   * `buffer`); a program binds it as an input as it is. The buffer needs STORAGE usage (and
   * COPY_SRC to be read back), `byteOffset` a multiple of minStorageBufferOffsetAlignment, and
   * room for the shape's elements from there; the runtime never destroys it. See
   * docs/embedding.md.
   */
  wrap(buffer: GPUBuffer, shape: Shape, dtype: DType = 'f32', byteOffset = 0): Tensor {
    this.checkUsable();
    // A host array or a forgotten argument would fail below as a buffer without STORAGE usage.
    const isBuffer = typeof buffer === 'object' && buffer !== null && ['usage', 'size', 'mapAsync', 'destroy'].every((m) => m in buffer);
    if (!isBuffer) throw new TypeError(`wrap: buffer must be a GPUBuffer, got ${given(buffer)}`);
    checkDType(dtype, 'wrap');
    const s = checkShape(shape, 'wrap');
    const bytes = byteSize(dtype, numel(s));
    // A buffer may be larger than any binding of it (lavapipe: 4 GiB buffers, 128 MiB bindings):
    // refused here, not by the first op's bind group.
    this.checkBindable('wrap', s, dtype, 'tensor');
    if (!(buffer.usage & USAGE.STORAGE)) throw new TensorStateError('wrap: the buffer lacks GPUBufferUsage.STORAGE');
    const align = this.limits.minStorageBufferOffsetAlignment;
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % align) {
      throw new TensorStateError(`wrap: byteOffset ${byteOffset} is not a non-negative multiple of ${align}`);
    }
    if (byteOffset + bytes > buffer.size) {
      throw new ShapeError('wrap', `${fmt(s)} ${dtype} needs ${bytes} bytes at offset ${byteOffset}, but the buffer has ${buffer.size}`, [s]);
    }
    return new Tensor(this, s, dtype).attach(new Storage(buffer, byteOffset, bytes), true);
  }

  /** @internal */
  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const to = resolveShape(t.shape, shape);
    // A value lazy again once queued work has run (letGo) is lazy here, as in record().
    if (t.storage && !t.letGo) {
      const s = t.checkReadable('reshape');
      const v = new Tensor(this, to, t.dtype, { def: reshapeOp, inputs: [t], attrs: { shape: to }, versions: [this.eager.versionAfter(s)] });
      // A view of a program's output shows that run's values only, as the output itself.
      v.attach(s.retain(), true, t.pinnedVersion);
      // The version it shows is the one its base will have once queued updates have run (as
      // its op record's): grad compares it with the storage's then.
      v.realisedVersion = this.eager.versionAfter(s);
      return v;
    }
    return this.record(reshapeOp, [t], { shape: to });
  }

  // ---- recording ----

  /** Records an op applied to `inputs` (shape-checked now, computed when needed). */
  record<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
    this.checkUsable();
    checkTensors(def.name, 'inputs', inputs);
    for (const x of inputs) {
      if (x.rt !== this) throw new TensorStateError(`${def.name}: ${x.describe()} belongs to another runtime`);
      if (x.disposed && !(this.differentiating && x.op && !x.storage)) throw new TensorStateError(`${def.name}: ${x.describe()} was disposed`);
      if (this.tracing && x.storage && this.tracing.written.has(x.storage)) {
        throw new TensorStateError(`${def.name}: reads ${x.describe()} after it was updated in place in the same program`);
      }
    }
    const { shape, dtype } = def.infer(inputs, attrs);
    this.checkBindable(def.name, shape, dtype);
    const versions = inputs.map((x) => {
      const s = viewedStorage(x);
      return s ? this.eager.versionAfter(s) : -1;
    });
    return new Tensor(this, shape, dtype, { def, inputs, attrs, versions });
  }

  /**
   * Records an in-place update. Inside compile() it becomes part of the program; outside, it is
   * queued behind earlier eager work and runs in its turn (see eager-queue.ts): ops, reads and
   * writes asked for after it see its result.
   */
  effect<A>(def: EffectDef<A>, inputs: readonly Tensor[], attrs: A): Promise<void> {
    this.checkUsable();
    for (const x of inputs) if (x.rt !== this) throw new TensorStateError(`${def.name}: ${x.describe()} belongs to another runtime`);
    def.check?.(inputs, attrs);
    const e: Effect = { def, inputs, attrs };
    for (const i of def.writes(attrs)) {
      const t = inputs[i]!;
      if (!t.storage) throw new TensorStateError(`${def.name}: ${t.describe()} is written in place, so it must be a realised tensor`);
      t.checkWritable(def.name);
    }
    if (this.tracing) {
      // Reads after an update are refused in record(); a second update of the same tensor too.
      for (const x of inputs) {
        if (x.storage && this.tracing.written.has(x.storage)) {
          throw new TensorStateError(`${def.name}: ${x.describe()} was already updated in place in this program; a program updates a tensor once (run it again for another update)`);
        }
      }
      this.tracing.effects.push(e);
      for (const i of def.writes(attrs)) this.tracing.written.add(inputs[i]!.storage!);
      return Promise.resolve();
    }
    // What it reads disposed (or a program's input) is refused now, not when its turn comes.
    checkLazyInputs(inputs, def.name, { versions: false });
    const writes = def.writes(attrs);
    const written = writes.map((i) => inputs[i]!.storage!);
    // It reads its realised inputs (gradients given as tensors) and what its lazy inputs (the
    // gradients of backward) and their companions (the loss, computed with them) are computed
    // from when it runs: a write asked for after the step waits for it, as a realize's does.
    const companions = companionsOf(inputs);
    const reads = readsOf([...inputs, ...companions]);
    const read = new Set([...reads.storages, ...inputs.flatMap((t, i) => (t.storage && !writes.includes(i) ? [t.storage] : []))]);
    const readLazy = reads.lazy;
    return this.eager.add(written, [...read], async (ran) => {
      // The runtime disposed meanwhile: what it would update is gone, and a step not awaited
      // (the usual eager loop's) must not reject with no one to hear it.
      if (this.disposedFlag) return;
      checkLazyInputs(inputs, def.name, { inTurn: true });
      // The lazy inputs (an optimizer's gradients) are kept, as PyTorch's .grad outlives
      // step(), and so are their companions (the loss); and so are those computed already into
      // a view's storage they borrow, which the view's release would otherwise take with it.
      for (const t of inputs) if (t.storage) t.hold();
      const along = withCompanions(inputs.filter((t) => !t.storage));
      const targets = Object.fromEntries(along.map((t, i) => [String(i), t]));
      const p = await Program.build(this, { name: def.name, targets, effects: [e], inputs: {}, eager: true });
      this.counters.programs++;
      runChecked(p, [...inputs, ...along], def.name);
      ran();
      p.transferTargets();
    }, readLazy);
  }

  // ---- programs ----

  /**
   * Traces `fn` on placeholder inputs and compiles the result into a Program that can be run
   * many times. Effects recorded inside (optimizer steps) become part of the program. In
   * TypeScript the program's type knows the input names of `inputs` and the output names of what
   * `fn` returns; specs built at run time, typed `InputSpecs`, give it any names.
   */
  async compile<O extends ProgramOutputs, I extends InputSpecs = InputSpecs>(
    fn: (inputs: { readonly [K in keyof I]: Tensor }) => O,
    inputs: I = {} as I,
    opts: CompileOptions = {},
  ): Promise<Program<OutputNames<O>, KeyNames<I>>> {
    this.checkUsable();
    if (typeof fn !== 'function') throw new TypeError(`compile: fn must be a function of the inputs, got ${given(fn)}`);
    checkOptionNames(opts, COMPILE_OPTIONS, (why) => new RangeError(`compile: ${why}`));
    if (opts.name !== undefined && typeof opts.name !== 'string') throw new TypeError(`compile: name must be a string, got ${shown(opts.name)}`);
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw new TypeError(`compile: onProgress must be a function (done, total), got ${shown(opts.onProgress)}`);
    if (this.tracing) throw new TensorStateError('compile: cannot compile inside another compile');
    const specs: Record<string, InputSpec & { dtype: DType }> = {};
    const placeholders: Record<string, Tensor> = {};
    for (const [name, spec] of Object.entries(inputs)) {
      const where = `compile input '${name}'`;
      if (typeof spec !== 'object' || spec === null) throw new RangeError(`${where}: expected a shape (an array of sizes) or { shape, dtype }, got ${shown(spec)}`);
      const s = Array.isArray(spec) ? { shape: spec as Shape } : (spec as InputSpec);
      const full = { shape: checkShape(s.shape, where), dtype: s.dtype === undefined ? 'f32' : checkDType(s.dtype, where) };
      this.checkBindable(where, full.shape, full.dtype, 'input');
      specs[name] = full;
      placeholders[name] = new Tensor(this, full.shape, full.dtype, undefined, name);
    }
    const trace: Trace = { effects: [], written: new Set(), grads: new Map() };
    this.tracing = trace;
    let result: ProgramOutputs;
    const grads: [leaf: Tensor, grad: Tensor][] = [];
    const undeclared = new Set<string>();
    try {
      result = fn(noteUndeclared(placeholders, undeclared, () => this.tracing === trace) as { readonly [K in keyof I]: Tensor });
    } catch (e) {
      // An op given undefined after an input left out of the specs was read: most likely that input.
      if (isUndefinedArgument(e) && undeclared.size) throw undeclaredInputs(undeclared, Object.keys(specs), e as TypeError);
      throw e;
    } finally {
      this.tracing = undefined;
      // backward() set them to values of the trace: each run of the program sets them to its
      // gradients, as PyTorch's step does; until the first run, they keep what they held.
      for (const [leaf, before] of trace.grads) {
        if (leaf.grad) grads.push([leaf, leaf.grad]);
        leaf.grad = before;
      }
    }
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      // Its rejection (it runs on past tracing) is this error's consequence: not unhandled.
      (result as unknown as Promise<unknown>).then(undefined, () => {});
      throw new TensorStateError('compile: the traced function must be synchronous');
    }
    if (trace.failedRead) throw trace.failedRead;
    if (result !== undefined && (typeof result !== 'object' || result === null)) {
      throw new TensorStateError(`compile: the traced function returned ${String(result)}; return a tensor, an array or a record of tensors, or nothing`);
    }
    const targets: Record<string, Tensor> =
      result === undefined ? {} : result instanceof Tensor ? { out: result } : Array.isArray(result) ? Object.fromEntries(result.map((t, i) => [String(i), t])) : { ...(result as Record<string, Tensor>) };
    for (const [name, t] of Object.entries(targets)) {
      if (!(t instanceof Tensor)) throw new TensorStateError(`compile: output '${name}' is ${String(t)}, not a Tensor`);
      if (t.rt !== this) throw new TensorStateError(`compile: output '${name}' is ${t.describe()} of another runtime`);
    }
    const program = await Program.build(this, {
      name: opts.name ?? 'program',
      targets,
      grads,
      effects: trace.effects,
      inputs: specs,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    this.counters.programs++;
    return program as Program<OutputNames<O>, KeyNames<I>>;
  }

  /** @internal backward() is about to set `t.grad`: while tracing, what it held is kept (see compile). */
  settingGrad(t: Tensor): void {
    if (this.tracing && !this.tracing.grads.has(t)) this.tracing.grads.set(t, t.grad);
  }

  /** @internal Whether backward() (or zeroGrad()) set `t.grad` in the function compile() is tracing. */
  gradSetWhileTracing(t: Tensor): boolean {
    return this.tracing?.grads.has(t) ?? false;
  }

  /** @internal Whether compile() is tracing a function now (ops and effects are recorded, not run). */
  get tracingNow(): boolean {
    return this.tracing !== undefined;
  }

  /** Computes lazy tensors (one submit for all of them). */
  realize(tensors: readonly Tensor[]): Promise<void> {
    return this.realizeThen(tensors);
  }

  /**
   * realize(), then `after` in the same turn of the eager queue (a read's copy: work queued after
   * the read, such as a write to the value, cannot come between them).
   */
  private realizeThen(tensors: readonly Tensor[], after?: () => void, what = 'realize'): Promise<void> {
    this.checkUsable();
    checkTensors('realize', 'tensors', tensors);
    for (const t of tensors) if (t.storage) t.checkReadable(what); // disposed, or a stale program output
    const lazy = tensors.filter((t) => !t.storage);
    // Queued too, as a read of their storage: realised ones with in-place updates queued, which
    // `after` (a read's copy) waits for, and lazy values again once queued work has run (letGo),
    // computed anew then. A write asked for after this waits behind it.
    const queued = tensors.filter((t) => t.storage && (t.letGo || (after && this.eager.writesBuffer(t.storage.buffer))));
    // Asked for itself, a value that borrowed its view's storage holds it (Tensor.hold); not
    // where the request is refused below (a disposed value), which changes nothing.
    if (!lazy.some((t) => t.disposed)) for (const t of tensors) if (!t.letGo) t.hold();
    if (!lazy.length && !queued.length) {
      after?.();
      return Promise.resolve();
    }
    if (this.tracing) {
      // A read (item(), read()) in the traced function of a value only the program will have:
      // compile throws the error. The read's promise never settles: a synchronous traced
      // function cannot await it, and rejecting it would surface after compile, unhandled.
      // Not withCompanions: it drops the companions that the read below computes with these.
      try {
        checkLazyInputs(lazy);
      } catch (e) {
        this.tracing.failedRead ??= e as FoveaError;
        return new Promise<void>(() => undefined);
      }
    }
    // A value disposed is refused now; what it is computed from, in its turn (gone by then if
    // disposed before this was asked for; there for it if after).
    for (const t of lazy) if (t.disposed) throw new TensorStateError(`${what}: ${t.describe()} was disposed`);
    // Queued as an update that writes nothing: a write asked for after this read, to what it
    // reads, waits behind it (done at once, it would come first, and the read be refused).
    const roots = [...lazy, ...companionsOf(lazy), ...queued];
    const read = readsOf(roots);
    // The lazy values are read too, once computed (by this work, or by earlier work: a step
    // computes its loss, an earlier read a value these are computed from).
    return this.eager.add(
      [],
      [...read.storages, ...queued.map((t) => t.storage!)],
      async (ran) => {
        const todo = withCompanions(tensors.filter((t) => !t.storage));
        if (todo.length) {
          checkLazyInputs(todo, what, { inTurn: true });
          const p = await Program.build(this, {
            // A few named, not thousands: the name heads its errors.
            name: `realize ${todo.slice(0, 3).map((t) => t.describe()).join(', ')}${todo.length > 3 ? `, … (${todo.length} tensors)` : ''}`,
            targets: Object.fromEntries(todo.map((t, i) => [String(i), t])),
            effects: [],
            inputs: {},
            eager: true,
          });
          this.counters.programs++;
          runChecked(p, todo, what);
          ran();
          p.transferTargets();
        }
        // Computed into a view's storage by earlier work: asked for before any dispose of the view.
        for (const t of tensors) t.hold();
        after?.();
      },
      read.lazy,
    );
  }

  /** Copies a tensor's values to the host (computing it first if lazy). */
  async read<D extends DType>(t: Tensor & { dtype: D }): Promise<TypedArrayFor<D>> {
    checkTensor('read', 't', t);
    // The copy is submitted in the read's turn: a write asked for after the read (queued
    // behind it, or made at once) cannot come between the value and its copy.
    let out: { staging: GPUBuffer; bytes: number; copied: Promise<GPUError | null> } | undefined;
    const copyOut = () => {
      const s = t.checkReadable('read', true);
      this.checkUsable();
      if (!(s.buffer.usage & USAGE.COPY_SRC)) throw new TensorStateError(`read: the buffer of ${t.describe()} lacks GPUBufferUsage.COPY_SRC`);
      const bytes = byteSize(t.dtype, t.size);
      const staging = this.pool.acquire(bytes, STAGING_USAGE);
      this.device.pushErrorScope('validation');
      const encoder = this.device.createCommandEncoder({ label: 'read' });
      encoder.copyBufferToBuffer(s.buffer, s.byteOffset, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      const copied = this.device.popErrorScope().catch(() => null); // a lost device: reported below
      this.submitted();
      out = { staging, bytes, copied };
    };
    // Computed first if lazy, after its eager updates if it has any queued (see realizeThen);
    // else copied now. Checked as asked for now: a tensor disposed since is there in its turn.
    await this.realizeThen([t], copyOut, 'read');
    const { staging, bytes, copied } = out!;
    try {
      await this.gpuWait(() => {
        this.checkUsable(); // not after dispose(): the staging buffer is gone
        return staging.mapAsync(MAP_READ, 0, bytes);
      });
      const err = await copied;
      if (err) throw new GPUValidationError(`read ${t.describe()}`, err.message);
      const copy = staging.getMappedRange(0, bytes).slice(0);
      // The submits this read waited for were validated by now: their error is this read's.
      this.checkUsable();
      return hostArray(t.dtype, copy, t.size) as TypedArrayFor<D>;
    } catch (e) {
      // Disposed or lost while waiting: say so, not the aborted map.
      if (this.disposedFlag) throw new TensorStateError('read: the runtime was disposed');
      throw this.lostError ?? e;
    } finally {
      if (!this.lostError && !this.disposedFlag) {
        if (staging.mapState !== 'unmapped') staging.unmap(); // a mapped buffer back in the pool fails every later read
        this.pool.release(staging);
      }
    }
  }

  /** @internal `inTurn`: written by queued work in its turn, which a dispose since does not stop. */
  write(t: Tensor, values: HostArray | NestedNumbers | number, inTurn = false): void {
    this.checkUsable();
    const s = t.checkReadable('write', inTurn);
    // Lazy again once queued work has run: a write now would be lost then, as refused at once.
    if (!inTurn && t.letGo) throw new TensorStateError(`write: ${t.describe()} is lazy; await t.realize() first`);
    t.checkWritable('write');
    if (!(s.buffer.usage & USAGE.COPY_DST)) throw new TensorStateError(`write: the buffer of ${t.describe()} lacks GPUBufferUsage.COPY_DST`);
    const data = hostValues(values, t.shape, t.dtype, 'write', t.describe());
    const given = dtypeOf(data, 'write');
    if (given !== t.dtype || data.length !== t.size) {
      throw new ShapeError('write', `${t.describe()} takes ${t.size} ${t.dtype} values, got ${data.length} ${given}`, [t.shape]);
    }
    // Its values are the ones written from now on, not lost with the view it borrowed from.
    t.hold();
    if (!this.eager.mustQueueWrite(s.buffer)) {
      this.scopedWrite(s, data, t);
      s.version++;
      return;
    }
    // An eager update not yet run (a step not awaited) reads or writes it: the write waits its
    // turn behind it, as a queued update itself, with a copy of the data the caller may reuse.
    const copy = data.slice();
    void this.eager.add([s], [], async (ran) => {
      // The tensor or the runtime disposed meanwhile: nothing can read what it would write.
      if (this.disposedFlag || this.lostError || s.disposed) return;
      this.scopedWrite(s, copy, t);
      s.version++;
      ran();
    }).catch((e: unknown) => this.fail(e as FoveaError));
  }

  // A write the device refuses (a host's buffer it has destroyed) is told by the next call, as
  // the write's, not sent to the device's uncaptured-error handler (the host app's). The pool's
  // own buffers (a program's inputs, written every step) need no scope.
  private scopedWrite(s: Storage, values: HostArray, t: Tensor): void {
    if (this.pool.owns(s.buffer)) return this.writeBytes(s, values);
    this.device.pushErrorScope('validation');
    this.writeBytes(s, values);
    this.device.popErrorScope().then(
      (err) => err && this.fail(new GPUValidationError(`write to ${t.describe()}`, err.message)),
      () => undefined,
    );
  }

  private writeBytes(s: Storage, values: HostArray): void {
    // Dawn's writeBuffer takes no SharedArrayBuffer (a worker's shared pixels): a copy it takes.
    const data = values.buffer instanceof ArrayBuffer ? values : values.slice();
    const bytes = data.byteLength;
    if (bytes % 4 === 0) {
      this.device.queue.writeBuffer(s.buffer, s.byteOffset, data.buffer, data.byteOffset, bytes);
    } else {
      // writeBuffer needs a multiple of 4 bytes: pad a copy (u8 data).
      const padded = new Uint8Array(Math.ceil(bytes / 4) * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.device.queue.writeBuffer(s.buffer, s.byteOffset, padded);
    }
  }

  // ---- bookkeeping ----

  /**
   * Destroys the pooled buffers that no tensor or program holds, as PyTorch's
   * `torch.cuda.empty_cache()`. The pool keeps every freed buffer for the next tensor of its
   * size class, so work whose shapes will not recur (another batch size, image size) leaves
   * memory behind until this is called; `stats().liveBytes` then falls by what it freed.
   */
  emptyCache(): void {
    this.checkUsable();
    this.pool.trim();
    // Dawn frees a destroyed buffer's memory as it next processes the queue: now, not at the
    // next piece of work.
    this.device.queue.submit([]);
  }

  /** Counters of the work done and the memory used so far. */
  stats(): RuntimeStats {
    const p = this.pool.stats;
    return {
      dispatches: this.counters.dispatches,
      submits: this.counters.submits,
      pipelinesCreated: this.pipelines.created,
      bindGroupsCreated: this.counters.bindGroups,
      programsBuilt: this.counters.programs,
      buffersCreated: p.buffersCreated,
      bytesAllocated: p.bytesCreated,
      liveBytes: p.liveBytes,
      inUseBytes: p.inUseBytes,
      peakBytes: p.peakBytes,
    };
  }

  /** Runs the eager work still queued (steps not awaited, writes behind them, reads), then waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.checkUsable();
    await this.eager.settled();
    await this.disposedIfFailed('sync', this.gpuWait(() => this.device.queue.onSubmittedWorkDone()));
    this.checkUsable();
  }

  // A wait that dispose() cut short (its own device destroyed, or not) is refused as disposed.
  private async disposedIfFailed<T>(what: string, wait: Promise<T>): Promise<T> {
    try {
      return await wait;
    } catch (e) {
      if (this.disposedFlag) throw new TensorStateError(`${what}: the runtime was disposed`);
      throw e;
    }
  }

  /**
   * Lets the host pace itself without reading anything back: resolves once at most `queued`
   * of the submitted programs are expected to still be running (estimated from past runs; until
   * a program's time is known, once all submitted work is done; in a browser it resolves at once). A training loop that awaits `rt.settle(2)` after each step
   * keeps the GPU busy without running far ahead of it.
   */
  async settle(queued = 0): Promise<void> {
    this.checkUsable();
    // Until a queued program's time per run is learned, timers cannot pace it: ask the GPU,
    // which teaches the timeline that time (the first runs of a training loop).
    if (this.timeline.guessing(queued)) await this.disposedIfFailed('settle', this.gpuWait(() => this.device.queue.onSubmittedWorkDone()));
    else await this.timeline.sleep(queued);
    if (this.disposedFlag) throw new TensorStateError('settle: the runtime was disposed');
  }

  /** @internal Awaits a GPU promise covering all submitted work, politely (see timeline.ts). */
  gpuWait<T>(done: () => Promise<T>): Promise<T> {
    // Not Promise.race with a promise of the device's loss: that never settles while the device
    // lives, and each race would leave a reaction on it, a few hundred bytes per wait for good.
    return this.timeline.wait(() => {
      if (this.lostError) return Promise.reject(this.lostError);
      const p = done();
      return new Promise<T>((resolve, reject) => {
        this.waiters.add(reject);
        p.then(
          (v) => {
            this.waiters.delete(reject);
            resolve(v);
          },
          (e: unknown) => {
            this.waiters.delete(reject);
            reject(e);
          },
        );
      });
    });
  }

  /** @internal Notes a submit for the wait-time estimates (see timeline.ts). */
  submitted(program?: object): void {
    this.timeline.submitted(program);
    this.counters.submits++;
  }

  /**
   * Destroys every buffer the runtime created (tensors, programs, the pool), and the device only
   * if the runtime created it: a host application's device and wrapped buffers stay usable.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.pool.destroyAll();
    if (this.ownsDevice) this.device.destroy();
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** `Runtime(llvmpipe …, 1.2 MiB in use)`: the adapter and the memory, for console.log. */
  toString(): string {
    const a = this.adapter;
    const mib = (this.pool.stats.inUseBytes / 2 ** 20).toFixed(1);
    return `Runtime(${a.description || [a.vendor, a.device].filter(Boolean).join(' ') || 'unknown adapter'}, ${this.disposedFlag ? 'disposed' : `${mib} MiB in use`})`;
  }

  /** What Node's console.log and util.inspect show (not the device, pool and caches behind it). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** @internal Records an asynchronous failure; the next call into the runtime throws it. */
  fail(e: FoveaError): void {
    this.pending ??= e;
  }

  /** @internal The device was lost: every later call, and the waits in progress, fail with `e`. */
  lose(e: DeviceLostError): void {
    this.lostError = e;
    for (const reject of this.waiters) reject(e);
    this.waiters.clear();
  }

  /** @internal */
  checkUsable(): void {
    if (this.disposedFlag) throw new TensorStateError('the runtime was disposed');
    if (this.lostError) throw this.lostError;
    const e = this.pending;
    if (e) {
      this.pending = undefined;
      throw e;
    }
  }

  /** @internal Throws a DeviceLimitError (naming `op`) when a tensor of this shape cannot be bound. */
  checkBindable(op: string, shape: Shape, dtype: DType, what = 'result'): void {
    const bytes = numel(shape) * bytesPerElement[dtype];
    const { maxStorageBufferBindingSize: binding, maxBufferSize: buffer } = this.limits;
    const limit = binding <= buffer ? `limit of ${binding} bytes per buffer binding (maxStorageBufferBindingSize)` : `limit of ${buffer} bytes per buffer (maxBufferSize)`;
    if (bytes > Math.min(binding, buffer)) throw new DeviceLimitError(op, `${what} ${fmt(shape)} ${dtype} is ${bytes} bytes, over this device's ${limit}`, [shape]);
  }

}

// Outside the Runtime class: the handler must hold the runtime weakly (see its constructor).
function watchLoss(device: GPUDevice, ref: WeakRef<Runtime>): void {
  void device.lost.then((info) => ref.deref()?.lose(new DeviceLostError(`GPU device lost (${info.reason}): ${info.message || 'no message'}`)));
}

// The storage `t` shows: its own, or, for a lazy view (reshape, detach) of a realised tensor,
// that tensor's, which the view shares once computed. An op recorded on it reads the version the
// queued updates leave, as of now: a write queued before then, behind work that computes the
// view, is not one after it. A value lazy again once queued work has run (letGo) shows none.
function viewedStorage(t: Tensor): Storage | undefined {
  let x = t;
  while (!x.storage && x.op && !x.op.def.encode) x = x.op.inputs[0]!;
  return x.storage && !x.letGo ? x.storage : undefined;
}

// Runs an eager program once its pipelines are compiled. The host may have updated what the
// lazy values read while they compiled (an await): checked again, or the run would read the
// new values without a word. A tensor disposed meanwhile is released after this work (see
// Tensor.dispose), so it is still there for it.
function runChecked(p: Program, lazy: readonly Tensor[], what: string | undefined): void {
  try {
    checkLazyInputs(lazy, what, { inTurn: true });
  } catch (e) {
    p.dispose();
    throw e;
  }
  p.run();
}


