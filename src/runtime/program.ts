// A planned graph turned into GPU work: its dispatches listed and compiled (encode.ts), slot
// buffers taken from the pool, params packed into one uniform buffer, bind groups created once. Running it encodes every
// dispatch into one compute pass and submits once; nothing is allocated or compiled per run.
import { MAP_READ, STAGING_USAGE, UNIFORM_USAGE, USAGE, type BufferPool } from './buffers.js';
import { arrayName, byteSize, type DType, type HostArray, dtypeOf } from './dtype.js';
import { DeviceLimitError, GPUValidationError, ShapeError, TensorStateError } from './errors.js';
import { hostValues, type NestedNumbers } from './nested.js';
import { compileKernels, encodePlan, type Encoded } from './encode.js';
import { planGraph, type BufferSource, type Effect, type Plan } from './plan.js';
import { kernelName } from './pipelines.js';
import { mapsInUse } from './device.js';
import type { Runtime } from './runtime.js';
import { fmt, sameShape, type Shape } from './shape.js';
import { packParams, shaderInfo } from './shaders.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';

/** Shape and dtype (default f32) of a program input. */
export interface InputSpec {
  /** Shape of the values each run passes. */
  shape: Shape;
  /** Element type (default f32). */
  dtype?: DType;
}

/** GPU time of one dispatch, from Program.profile(). */
export interface DispatchTiming {
  label: string;
  kernel: string;
  ms: number;
}

/** What a compiled program holds and does per run (known before its first run). */
export interface ProgramStats {
  /** Dispatches per run. */
  dispatches: number;
  /** Intermediate and output buffers the program holds. */
  slots: number;
  /** Bytes of those buffers. */
  slotBytes: number;
  /** Largest number of those bytes alive at one point of a run. */
  peakBytes: number;
  /** Bytes of the program's input buffers. */
  inputBytes: number;
  /** Ops computed inside another op's kernel (fused), so without a dispatch of their own. */
  fused: number;
  /** The kernel of each dispatch, in order, as `file:entry` (which variant the device got), and `[fn]`, the function it applies, where an entry point applies several. */
  kernels: string[];
}

// Input tensors whose bind groups a program keeps, for inputs fed alternately from a few.
const INPUT_BIND_GROUPS = 8;

// A number per GPU object (buffer, bind group layout), for the keys of the bind groups that bind it.
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;
function objectId(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = nextObjectId++));
  return id;
}

// Timestamps per query set (WebGPU's limit): two per dispatch when profiling.
const MAX_QUERIES = 4096;

interface Held {
  pool: BufferPool;
  buffers: GPUBuffer[];
}

// A program dropped without dispose() returns its buffers to the pool once collected. Its
// storages (outputs, inputs) name it as their owner, so it lives while any tensor on them is
// reachable.
const collected = new FinalizationRegistry<Held>(({ pool, buffers }) => {
  for (const b of buffers) pool.release(b);
});

export interface ProgramInit {
  name: string;
  targets: Record<string, Tensor>;
  /** An eager realisation or update, which the runtime runs in turn (not the user's compile()). */
  eager?: boolean;
  /** Gradients each run also computes and sets as its leaf's `.grad` (backward() while tracing). */
  grads?: readonly (readonly [leaf: Tensor, grad: Tensor])[];
  effects: readonly Effect[];
  inputs: Record<string, InputSpec & { dtype: DType }>;
  onProgress?: (done: number, total: number) => void;
}

/** What run() and profile() take for each input: host values (written to its buffer) or a tensor (bound). */
export type ProgramInput = Tensor | HostArray | NestedNumbers | number;

/**
 * A traced graph compiled for replay (from `rt.compile`): every pipeline, buffer and bind group
 * is made once, and `run()` only encodes its dispatches into one command buffer and submits it.
 * `Out` and `In` are its output and input names, as compile() infers them.
 */
export class Program<Out extends string = string, In extends string = string> {
  /** From `CompileOptions.name`; shown in labels and error messages. */
  readonly name: string;
  /** Dispatches, fused ops, buffers and peak bytes, known before the first run. */
  readonly stats: ProgramStats;
  private readonly plan: Plan;
  private readonly encoded: Encoded[];
  private slotBuffers: GPUBuffer[] = [];
  private slotStorages: Storage[] = [];
  private uniforms: GPUBuffer | undefined;
  private readonly inputSpecs: Record<string, InputSpec & { dtype: DType }>;
  private readonly ownInputs = new Map<string, Tensor>();
  /** What input(name) hands out: tensors on the same storages as ownInputs. */
  private readonly inputHandles = new Map<string, Tensor>();
  /** Their buffers. */
  private readonly ownBuffers = new Set<GPUBuffer>();
  private readonly boundInputs = new Map<string, Storage>();
  /** The tensors bound, kept from the garbage collector (which would free their storage) while bound. */
  private readonly boundTensors = new Map<string, Tensor>();
  /** Inputs handed out by input() since the last run: it binds the program's own buffers again. */
  private readonly ownFed = new Set<string>();
  /** For inputs bound to another program's output: the version that output was bound at. */
  private readonly boundPins = new Map<string, number | undefined>();
  /** The bind groups made when the program was built, by what they bind (groupKey). */
  private readonly groups = new Map<string, GPUBindGroup>();
  /** Those made since for other input tensors, by what they bind, least recently used first. */
  private readonly rebound = new Map<string, GPUBindGroup>();
  /** The most kept in `rebound`: INPUT_BIND_GROUPS tensors' worth, within the driver's budget. */
  private reboundLimit = 0;
  /** Inputs the program reads (or returns) never given yet (to run(), or handed out by input() for the caller to write). */
  private readonly unfed: Set<string>;
  /** Buffers a run writes (slots, tensors its effects update): an input there is copied in. */
  private readonly overwritten = new Set<GPUBuffer>();
  /** Copies into own input buffers that the next submit encodes before its dispatches. */
  private readonly inputCopies: [from: Storage, to: Storage][] = [];
  /** The outputs run() returns (the first `shown`), then the gradients it sets as `.grad`. */
  private readonly outputs: [string, Tensor][];
  private readonly shown: number;
  private readonly eager: boolean;
  private readonly gradLeaves: Tensor[];
  /**
   * Where each output lives, fixed when the program is planned: a target recorded outside the
   * traced function and realised eagerly since is still computed by the program into its slot.
   */
  private readonly outputSources: BufferSource[];
  /** Per output: whether its run bumps the version of its slot (once per slot, however many outputs share it). */
  private readonly bumps: boolean[];
  private readonly written: Storage[];
  private readonly effects: readonly Effect[];
  private readonly captured: Tensor[] = [];
  /** Every pooled buffer the program holds (slots, own inputs, uniforms). */
  private held: Held | undefined;
  private disposed = false;

  private constructor(
    private readonly rt: Runtime,
    init: ProgramInit,
  ) {
    this.name = init.name;
    this.eager = init.eager ?? false;
    this.inputSpecs = init.inputs;
    this.outputs = Object.entries(init.targets);
    this.shown = this.outputs.length;
    this.gradLeaves = (init.grads ?? []).map(([leaf]) => leaf);
    for (const [leaf, g] of init.grads ?? []) this.outputs.push([`.grad of ${leaf.describe()}`, g]);
    this.plan = planGraph(
      this.outputs.map(([, t]) => t),
      init.effects,
      rt.device.limits.maxBufferSize,
    );
    this.outputSources = this.outputs.map(([, t]) => this.plan.source(t));
    const slots = this.outputSources.map((s) => (s.kind === 'slot' ? s.slot : -1));
    this.bumps = slots.map((s, i) => s >= 0 && slots.indexOf(s) === i);
    this.effects = init.effects;
    this.written = init.effects.flatMap((e) => e.def.writes(e.attrs).map((i) => e.inputs[i]!.storage!));
    this.encoded = encodePlan(rt, this.plan);
    // An input the traced function never used needs no value, as an unused argument of jax.jit.
    const used = [...this.encoded.flatMap((e) => e.bindings.map((b) => b.source)), ...this.outputSources];
    this.unfed = new Set(used.flatMap((s) => (s !== 'params' && s.kind === 'input' ? [s.name] : [])));
    // Realised tensors the program reads, or returns as they are: each run checks they are still
    // there. One that borrowed its view's storage holds it (Tensor.hold), as a realize() of it
    // would: the view collected before a run would leave it lazy, and the run without its value.
    for (const step of this.plan.steps) {
      for (const s of step.kind === 'op' ? step.call.inputs : step.effect.inputs) {
        if (!s.storage) continue;
        if (!s.letGo) s.hold();
        this.captured.push(s);
      }
    }
    this.outputSources.forEach((src, i) => {
      let t = this.outputs[i]![1];
      while (!t.storage && t.op) t = t.op.inputs[0]!; // a view of it
      if (src.kind === 'storage') this.captured.push(t);
    });
    this.stats = {
      dispatches: this.encoded.length,
      slots: this.plan.slotBytes.length,
      slotBytes: this.plan.slotBytes.reduce((a, b) => a + b, 0),
      peakBytes: this.plan.peakBytes,
      inputBytes: 0,
      fused: this.plan.fused,
      kernels: this.encoded.map((e) => kernelName(e.kernel)),
    };
  }

  /** Plans, encodes and compiles a program; resolves when it can run. */
  static async build(rt: Runtime, init: ProgramInit): Promise<Program> {
    const p = new Program(rt, init);
    await compileKernels(rt, p.encoded, init.onProgress);
    rt.checkUsable(); // disposed or lost while compiling: allocate nothing
    try {
      p.allocate();
      await p.createBindGroups();
      rt.checkUsable();
    } catch (e) {
      p.dispose();
      throw e;
    }
    return p;
  }

  private allocate(): void {
    const { rt, plan } = this;
    // Every buffer is listed as it is taken, so dispose() (or collection) frees them all, even
    // after a failure half-way.
    const held: Held = { pool: rt.pool, buffers: [] };
    this.held = held;
    collected.register(this, held, this);
    const take = (bytes: number, usage?: number) => {
      const b = rt.pool.acquire(bytes, usage);
      held.buffers.push(b);
      return b;
    };
    this.slotBuffers = plan.slotBytes.map((b) => take(b));
    this.slotStorages = this.slotBuffers.map((buf, i) => new Storage(buf, 0, plan.slotBytes[i]!, undefined, this));
    for (const b of [...this.slotBuffers, ...this.written.map((s) => s.buffer)]) this.overwritten.add(b);
    for (const [name, spec] of Object.entries(this.inputSpecs)) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const bytes = byteSize(spec.dtype, count);
      const buf = take(bytes);
      this.stats.inputBytes += buf.size;
      const t = new Tensor(rt, spec.shape, spec.dtype).attach(new Storage(buf, 0, bytes, undefined, this), false);
      t.ownsStorage = false;
      t.name = `${this.name} input '${name}'`;
      this.ownInputs.set(name, t);
      this.ownBuffers.add(buf);
      this.boundInputs.set(name, t.storage!);
    }
    // All params in one uniform buffer, each at an offset the device accepts. Dispatches given
    // the same values (one op repeated on one shape, as in a deep chain) share them, and so can
    // share a bind group (see createBindGroups).
    const align = rt.device.limits.minUniformBufferOffsetAlignment;
    const blocks = new Map<string, { offset: number; bytes: Uint8Array }>();
    let size = 0;
    for (const e of this.encoded) {
      if (!e.paramsSize) continue;
      const bytes = new Uint8Array(e.paramsSize);
      packParams(shaderInfo(e.kernel.shader), e.params!, bytes.buffer, 0);
      const key = bytes.join();
      let block = blocks.get(key);
      if (!block) {
        blocks.set(key, (block = { offset: size, bytes }));
        size = Math.ceil((size + e.paramsSize) / align) * align;
      }
      e.paramsOffset = block.offset;
    }
    if (size) {
      const data = new Uint8Array(size);
      for (const { offset, bytes } of blocks.values()) data.set(bytes, offset);
      this.uniforms = take(size, UNIFORM_USAGE);
      rt.device.queue.writeBuffer(this.uniforms, 0, data);
    }
  }

  private resolve(source: BufferSource): Storage {
    switch (source.kind) {
      case 'slot':
        return this.slotStorages[source.slot]!;
      case 'input':
        return this.boundInputs.get(source.name)!;
      case 'storage':
        return source.storage;
    }
  }

  /** What a dispatch binds, now: its buffers' ranges, in binding order. */
  private entriesOf(e: Encoded): (GPUBindGroupEntry & { resource: GPUBufferBinding })[] {
    return e.bindings.map((b) => {
      if (b.source === 'params') return { binding: b.binding, resource: { buffer: this.uniforms!, offset: e.paramsOffset, size: b.size } };
      const s = this.resolve(b.source);
      // Rounded up to 16 bytes where the buffer allows, so kernels may view it as vec4s; a
      // binding's size is a multiple of 4 (a host's buffer may end elsewhere).
      const size = Math.min(Math.ceil(b.size / 16) * 16, Math.floor((s.buffer.size - s.byteOffset) / 4) * 4);
      return { binding: b.binding, resource: { buffer: s.buffer, offset: s.byteOffset, size } };
    });
  }

  private bindGroupFor(e: Encoded, entries: GPUBindGroupEntry[]): GPUBindGroup {
    this.rt.counters.bindGroups++;
    return this.rt.device.createBindGroup({ label: e.label, layout: e.layout!, entries });
  }

  /** What a dispatch's bind group binds, as a key: dispatches of the same key share one. */
  private groupKey(e: Encoded, entries: ReturnType<Program['entriesOf']>): string {
    return `${objectId(e.layout!)}:${entries.map(({ resource: r }) => `${objectId(r.buffer)}@${r.offset}+${r.size}`).join(',')}`;
  }

  /** The program inputs a dispatch binds. */
  private static inputsOf(e: Encoded): string[] {
    return e.bindings.flatMap((b) => (b.source !== 'params' && b.source.kind === 'input' ? [b.source.name] : []));
  }

  /** Past the bind groups this driver allows, the process would crash (see bindGroupBudget in device.ts). */
  private overBudget(count: number, room?: number): DeviceLimitError {
    const over =
      room === undefined
        ? `over the ${this.rt.bindGroupBudget} one program may make on lavapipe, which maps memory for each, within three quarters of vm.max_map_count`
        : `over the ${Math.max(0, room)} that lavapipe, which maps memory for each, can make now within vm.max_map_count (other programs, and eager work done before, hold maps too: dispose programs no longer needed)`;
    return new DeviceLimitError(
      this.name,
      `its ${this.encoded.length} dispatches need ${count} bind groups, ${over}: compute part of the work first (await t.realize() on a value half-way), raise vm.max_map_count (sysctl), or run on a GPU`,
      [],
    );
  }

  // Bind groups are created once, each in its own error scope so a failure names its op.
  // Dispatches that bind the same ranges with the same layout share one: a deep chain of one op
  // alternates between a few (software Vulkan maps memory per bind group, and a process that
  // holds past 65,530 maps, Linux's default limit, crashes).
  private async createBindGroups(): Promise<void> {
    const device = this.rt.device;
    const checks: Promise<void>[] = [];
    const keyed = this.encoded.map((e) => {
      const entries = this.entriesOf(e);
      return { e, entries, key: this.groupKey(e, entries) };
    });
    const count = new Set(keyed.map((k) => k.key)).size;
    if (count > this.rt.bindGroupBudget) throw this.overBudget(count); // before one is made
    // The budget is three quarters of vm.max_map_count for one program; what other programs (and
    // finished eager work, until the driver reuses them) hold counts against the same limit.
    if (Number.isFinite(this.rt.bindGroupBudget) && count > 1024) {
      const room = Math.floor(this.rt.bindGroupBudget / 0.75) - 2048 - mapsInUse();
      if (count > room) throw this.overBudget(count, room);
    }
    const fed = new Set(keyed.filter(({ e }) => Program.inputsOf(e).length).map((k) => k.key)).size;
    this.reboundLimit = Math.min(INPUT_BIND_GROUPS * fed, this.rt.bindGroupBudget - count);
    for (const { e, entries, key } of keyed) {
      const shared = this.groups.get(key);
      if (shared) {
        e.bindGroup = shared;
        continue;
      }
      device.pushErrorScope('validation');
      e.bindGroup = this.bindGroupFor(e, entries);
      this.groups.set(key, e.bindGroup);
      checks.push(
        device.popErrorScope().then((err) => {
          if (err) throw new GPUValidationError(e.label, err.message);
        }),
      );
    }
    await Promise.all(checks);
  }

  /**
   * The program's own buffer for an input: writing it (t.write, or queue.writeBuffer on t.buffer)
   * feeds the next run, which binds it again in place of any tensor bound before (a tensor given
   * to that run wins).
   */
  input(name: In): Tensor {
    const own = this.ownInputs.get(name);
    if (!own) throw new TensorStateError(`${this.name}: no input named '${name}' (inputs: ${[...this.ownInputs.keys()].join(', ') || 'none'})`);
    this.unfed.delete(name);
    this.ownFed.add(name);
    if (this.disposed) return own; // disposed with the program: unusable
    // A handle of its own: the caller disposing it leaves the program's input working.
    let t = this.inputHandles.get(name);
    if (!t || t.disposed) {
      t = new Tensor(this.rt, own.shape, own.dtype).attach(own.storage!, false);
      t.ownsStorage = false;
      t.name = own.name;
      this.inputHandles.set(name, t);
    }
    return t;
  }

  /** Names of the inputs `run()` takes (those given to compile). */
  get inputNames(): In[] {
    return [...this.ownInputs.keys()] as In[];
  }

  /** Names of the tensors `run()` returns. */
  get outputNames(): Out[] {
    return this.outputs.slice(0, this.shown).map(([n]) => n as Out);
  }

  /** `Program(train step (batch 50): inputs idx; outputs loss; 35 dispatches)`, and ', disposed' once it is. */
  toString(): string {
    const list = (names: string[]) => names.join(', ') || 'none';
    return `Program(${this.name}: inputs ${list(this.inputNames)}; outputs ${list(this.outputNames)}; ${this.stats.dispatches} dispatch${this.stats.dispatches === 1 ? '' : 'es'}${this.disposed ? ', disposed' : ''})`;
  }

  /** What Node's console.log and util.inspect show (not the plan and buffers behind it). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /**
   * Runs the program: one command buffer, one submit. Inputs may be host arrays or plain numbers
   * (nested as the input's shape, or flat; written to the program's input buffers) or realised tensors (bound without a copy, except a tensor this
   * program overwrites, such as its own output fed back or a parameter its optimizer updates,
   * which is copied in at the start of the run, and a tensor in another of its input buffers,
   * copied as it is given). Returns the outputs, valid until the program runs again.
   */
  run(inputs: Partial<Record<In, ProgramInput>> = {}): Record<Out, Tensor> {
    return this.submit(inputs) as Record<Out, Tensor>;
  }

  /**
   * Runs the program once (effects included) with every dispatch timed by GPU timestamps, and
   * returns each dispatch's label, kernel and milliseconds. Needs the 'timestamp-query' feature.
   * Dawn rounds timestamps to 65.5 µs unless its device was made without that rounding (in Node:
   * `create(['disable-dawn-features=timestamp_quantization'])`, as bench/ops.mjs does).
   */
  async profile(inputs: Partial<Record<In, ProgramInput>> = {}): Promise<DispatchTiming[]> {
    const device = this.rt.device;
    if (!device.features.has('timestamp-query')) throw new TensorStateError(`${this.name}: profiling needs the 'timestamp-query' feature, which this device lacks`);
    const count = 2 * this.encoded.length;
    if (count > MAX_QUERIES) throw new TensorStateError(`${this.name}: profiling times at most ${MAX_QUERIES / 2} dispatches; this program has ${this.encoded.length}`);
    if (!count) {
      this.submit(inputs);
      return [];
    }
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = device.createBuffer({ size: 8 * count, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC });
    const staging = device.createBuffer({ size: 8 * count, usage: STAGING_USAGE });
    try {
      this.submit(inputs, (encoder) => {
        encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, staging, 0, 8 * count);
      }, querySet);
      await this.rt.gpuWait(() => staging.mapAsync(MAP_READ));
      const t = new BigInt64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return this.encoded.map((e, i) => ({ label: e.label, kernel: kernelName(e.kernel), ms: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
    } finally {
      querySet.destroy();
      resolve.destroy();
      staging.destroy();
    }
  }

  // Encodes every dispatch into one command buffer and submits it. With a query set, each
  // dispatch gets its own pass with timestamps (profiling); otherwise all share one pass.
  private submit(inputs: Partial<Record<string, ProgramInput>>, after?: (e: GPUCommandEncoder) => void, timed?: GPUQuerySet): Record<string, Tensor> {
    this.rt.checkUsable();
    if (this.disposed) throw new TensorStateError(`${this.name}: the program was disposed`);
    // An eager program runs in its turn: what was disposed after it was asked for is there for it.
    for (const t of this.captured) t.checkReadable(`${this.name}`, this.eager);
    // The runtime's own programs run in the order they were asked for; a run of the user's
    // comes at once, so it may neither read what queued work still writes, nor overwrite what
    // queued work still reads (a step's gradients, a lazy value being read).
    if (!this.eager && this.rt.eager.busy) {
      const stillBound = [...this.boundTensors].filter(([name]) => !(name in inputs)).map(([, t]) => t);
      // Its own input buffers too: a write through input(name) may be queued.
      const given = Object.values(inputs).filter((v): v is Tensor => v instanceof Tensor);
      this.rt.eager.refuseWritten([...this.captured, ...stillBound, ...given, ...this.ownInputs.values()], this.name);
      const rewritten = [...this.written, ...this.slotStorages, ...Object.keys(inputs).flatMap((n) => this.ownInputs.get(n)?.storage ?? [])];
      this.rt.eager.refuseRead(rewritten, this.name, (s) => this.describeStorage(s));
    }
    const device = this.rt.device;
    // One scope from binding the inputs (a new bind group, a host write, a copy) to the submit:
    // what the device refuses is told as this program's, not sent to its uncaptured-error handler.
    device.pushErrorScope('validation');
    try {
      // Its host inputs and its effects' uploads are written now, with the run, whatever eager
      // updates are queued: they are part of it.
      this.rt.eager.asSubmitted(() => {
        this.bindInputs(inputs);
        for (const e of this.effects) e.def.beforeRun?.(e.inputs, e.attrs);
      });
      const encoder = device.createCommandEncoder({ label: this.name });
      encodeCopies(encoder, this.inputCopies);
      const pass = timed ? undefined : encoder.beginComputePass({ label: this.name });
      this.encoded.forEach((e, i) => {
        const p = pass ?? encoder.beginComputePass({ label: e.label, timestampWrites: { querySet: timed!, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        p.setPipeline(e.pipeline!);
        p.setBindGroup(0, e.bindGroup!);
        p.dispatchWorkgroups(e.workgroups[0], e.workgroups[1], e.workgroups[2]);
        if (!pass) p.end();
      });
      pass?.end();
      after?.(encoder);
      device.queue.submit([encoder.finish()]);
    } finally {
      device.popErrorScope().then(
        (err) => err && this.rt.fail(new GPUValidationError(this.name, err.message)),
        () => undefined,
      );
    }
    this.rt.counters.dispatches += this.encoded.length;
    this.rt.submitted(this);
    for (const s of this.written) s.version++;
    const out: Record<string, Tensor> = {};
    this.outputs.forEach(([name, t], i) => {
      const src = this.outputSources[i]!;
      const s = this.resolve(src);
      if (this.bumps[i]) s.version++;
      // A slot is the program's; another storage (a constant made while tracing) is shared.
      const shared = src.kind === 'storage';
      // An input (or a view of one) bound to a tensor is that tensor's storage: the output keeps
      // the tensor from the collector, which would free the storage under it.
      const holder = src.kind === 'input' ? this.boundTensors.get(src.name) : undefined;
      const r = new Tensor(this.rt, t.shape, t.dtype).attach(shared ? s.retain() : s, shared, s.version, holder);
      r.ownsStorage = shared;
      r.name = `${this.name} output '${name}'`;
      if (i < this.shown) out[name] = r;
      else this.gradLeaves[i - this.shown]!.grad = r;
    });
    return out;
  }

  // A storage this program writes, as an error message names it.
  private describeStorage(s: Storage): string {
    const t = this.captured.find((c) => c.storage === s) ?? [...this.ownInputs.values()].find((c) => c.storage === s);
    if (t) return t.describe();
    const i = this.outputSources.findIndex((src) => src.kind === 'slot' && this.slotStorages[src.slot] === s);
    return i >= 0 ? `its output '${this.outputs[i]![0]}'` : 'a buffer of its own';
  }

  // Copies as if all at once, though one copy may write another's source (inputs given each
  // other's views): each goes once no other still reads its destination, and a cycle of them
  // goes through a temporary buffer. In a submit of its own, which queue order puts ahead of the
  // host writes that follow it.
  private copyAtOnce(moves: readonly (readonly [from: Storage, to: Storage])[]): void {
    const rt = this.rt;
    const pending = [...moves];
    const ordered: (readonly [Storage, Storage])[] = [];
    const temps: GPUBuffer[] = [];
    while (pending.length) {
      const free = pending.findIndex(([, to]) => !pending.some(([from]) => from.buffer === to.buffer));
      if (free >= 0) {
        ordered.push(pending.splice(free, 1)[0]!);
        continue;
      }
      const [from, to] = pending[0]!;
      const temp = new Storage(rt.pool.acquire(Math.ceil(from.byteLength / 4) * 4), 0, from.byteLength);
      temps.push(temp.buffer);
      ordered.push([from, temp]);
      pending[0] = [temp, to];
    }
    const encoder = rt.device.createCommandEncoder({ label: `${this.name}: inputs given in other inputs' buffers` });
    encodeCopies(encoder, ordered);
    rt.device.queue.submit([encoder.finish()]);
    rt.submitted();
    for (const b of temps) rt.pool.release(b);
  }

  // Checks every input before changing anything, so a run that throws leaves the bindings of
  // the last good run in place.
  private bindInputs(inputs: Partial<Record<string, ProgramInput>>): void {
    const next = new Map<string, Storage>();
    const pins = new Map<string, number | undefined>();
    const copies: [from: Storage, to: Storage][] = [];
    const writes: [Tensor, HostArray][] = [];
    // Held once every input is checked: a run refused leaves a borrowed value borrowing.
    const held: Tensor[] = [];
    for (const [name, value] of Object.entries(inputs)) {
      const spec = this.inputSpecs[name];
      if (!spec) throw new TensorStateError(`${this.name}: no input named '${name}' (inputs: ${this.inputNames.join(', ') || 'none'})`);
      const own = this.ownInputs.get(name)!;
      if (value instanceof Tensor) {
        if (value.rt !== this.rt) throw new TensorStateError(`${this.name}: input '${name}' is ${value.describe()} of another runtime`);
        if (!sameShape(value.shape, spec.shape) || value.dtype !== spec.dtype) {
          throw new ShapeError(this.name, `input '${name}' expects ${fmt(spec.shape)} ${spec.dtype}, got ${fmt(value.shape)} ${value.dtype}`, [spec.shape, value.shape]);
        }
        const storage = value.checkReadable(`${this.name} input '${name}'`);
        if (value.letGo) throw new TensorStateError(`${this.name} input '${name}': ${value.describe()} is lazy; await t.realize() first`);
        held.push(value); // bound: a value that borrowed its view's storage outlives the view's dispose
        // A tensor this run overwrites (its own output fed back, a tensor its optimizer updates)
        // cannot also be bound as its input: it is copied to the input buffer at the start.
        if (this.overwritten.has(storage.buffer)) copies.push([storage, own.storage!]);
        next.set(name, this.overwritten.has(storage.buffer) ? own.storage! : storage);
        if (!this.overwritten.has(storage.buffer)) pins.set(name, value.pinnedVersion);
      } else {
        const data = hostValues(value as Exclude<ProgramInput, Tensor>, spec.shape, spec.dtype, this.name, `input '${name}' ${fmt(spec.shape)} ${spec.dtype}`);
        const dtype = dtypeOf(data, `${this.name} input '${name}'`);
        const count = spec.shape.reduce((a, b) => a * b, 1);
        if (dtype !== spec.dtype) throw new ShapeError(this.name, `input '${name}' ${fmt(spec.shape)} ${spec.dtype} takes ${arrayName[spec.dtype]} data or plain numbers, got ${data.constructor.name} (${dtype})`, [spec.shape]);
        if (data.length !== count) throw new ShapeError(this.name, `input '${name}' ${fmt(spec.shape)} ${spec.dtype} takes ${count} values, got ${data.length}`, [spec.shape]);
        writes.push([own, data]);
        next.set(name, own.storage!);
      }
    }
    // A tensor in another input's own buffer (a view of an input returned as an output, or
    // program.input(name)) is copied into this input's own buffer as it is given, before host
    // writes and copies into that buffer can change it, this run's or a later one's.
    const early: [from: Storage, to: Storage][] = [];
    for (const [name, storage] of next) {
      const own = this.ownInputs.get(name)!.storage!;
      if (storage === own || !this.ownBuffers.has(storage.buffer)) continue;
      early.push([storage, own]);
      next.set(name, own);
      pins.delete(name);
    }
    for (const name of this.ownFed) if (!next.has(name)) next.set(name, this.ownInputs.get(name)!.storage!);
    const missing = [...this.unfed].filter((n) => !next.has(n));
    if (missing.length) {
      throw new TensorStateError(`${this.name}: input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} never given: pass ${missing.length > 1 ? 'them' : 'it'} to run(), or write program.input(name)`);
    }
    this.checkStillBound(next);
    for (const t of held) t.hold();
    this.inputCopies.splice(0, this.inputCopies.length, ...copies); // this run's copies only
    // Copied into, an own input buffer changes as by a host write: views of it handed out before
    // (outputs, and the programs bound to them) are stale from now on.
    for (const [, to] of [...early, ...copies]) to.version++;
    if (early.length) this.copyAtOnce(early);
    for (const [own, value] of writes) own.write(value);
    const changed = new Set<string>();
    this.ownFed.clear();
    for (const [name, storage] of next) {
      this.unfed.delete(name);
      const given = inputs[name];
      if (given instanceof Tensor && storage !== this.ownInputs.get(name)!.storage) this.boundTensors.set(name, given);
      else this.boundTensors.delete(name);
      this.boundPins.set(name, pins.get(name));
      if (this.boundInputs.get(name) !== storage) {
        this.boundInputs.set(name, storage);
        changed.add(name);
      }
    }
    if (changed.size) this.rebind(changed);
  }

  // A tensor bound by an earlier run (and not replaced in `next`) stays bound; its buffer must
  // not have been freed since. Nor, if it is another program's output, has that program run
  // again since (as a read).
  private checkStillBound(next: ReadonlyMap<string, Storage>): void {
    for (const [name, s] of this.boundInputs) {
      if (next.has(name)) continue;
      // Going back (s.going) once queued work has run: gone for a run asked for now.
      if (s.disposed || s.going) throw new TensorStateError(`${this.name}: input '${name}' is still bound to a tensor that was disposed since; pass another`);
      const pin = this.boundPins.get(name);
      if (pin !== undefined && s.version !== pin) {
        throw new TensorStateError(`${this.name}: input '${name}' is still bound to an output of a program that has run again since; pass its new output`);
      }
    }
  }

  /**
   * Gives the dispatches that bind the `changed` inputs their bind groups for the buffers bound
   * now. Programs fed alternately from a few tensors reuse them, and so do programs fed a new
   * tensor each run in a pooled buffer used before: they are kept by what they bind, shared by
   * the dispatches that bind the same, the least recently used dropped past reboundLimit.
   */
  private rebind(changed: ReadonlySet<string>): void {
    for (const e of this.encoded) {
      if (!Program.inputsOf(e).some((n) => changed.has(n))) continue;
      const entries = this.entriesOf(e);
      const key = this.groupKey(e, entries);
      let group = this.groups.get(key) ?? this.rebound.get(key);
      if (this.rebound.delete(key)) this.rebound.set(key, group!); // most recently used: last
      if (!group) {
        if (this.reboundLimit < 1) throw this.overBudget(this.groups.size + 1);
        if (this.rebound.size >= this.reboundLimit) this.rebound.delete(this.rebound.keys().next().value!);
        group = this.bindGroupFor(e, entries);
        this.rebound.set(key, group);
      }
      e.bindGroup = group;
    }
  }

  /**
   * @internal For eager realisation: hands the target slots to their tensors and returns every
   * other buffer to the pool (poisoned first in debug mode).
   */
  transferTargets(): void {
    const { rt, plan } = this;
    const targetSlots = this.outputs.map(([, t], i) => [t, this.outputSources[i]!] as const);
    // A view (reshape, detach) of a lazy value, realised first, computed that value into its own
    // slot: the value borrows that storage (Tensor.borrow), or realised later on its own it would
    // be another buffer, and a write to either would not show in the other (views share their
    // storage); borrowed, not held, so that dispose() of the view still frees it. Found before
    // attaching, which makes a detached tensor forget what it came from.
    const bases = targetSlots.map(([t, src]) => {
      const chain: Tensor[] = [];
      for (let x = t; src.kind === 'slot' && !t.released && x.op && !x.op.def.encode; ) {
        x = x.op.inputs[0]!;
        if (x.storage || x.released) break;
        const s = plan.source(x);
        if (s.kind !== 'slot' || s.slot !== src.slot) break;
        chain.push(x);
      }
      return chain;
    });
    const storages = new Map<number, Storage>();
    for (const [t, src] of targetSlots) {
      // A tensor disposed after this work was asked for takes its value all the same: it is
      // released after the work (see Tensor.dispose).
      if (t.released) continue;
      // A view of a tensor realised since it was recorded: it shares that storage.
      if (src.kind === 'storage' && !t.storage) t.attach(src.storage.retain(), true);
      if (src.kind !== 'slot') continue;
      const buf = this.slotBuffers[src.slot]!;
      // Aliases of one slot share one storage.
      const shared = storages.get(src.slot);
      if (shared) t.attach(shared.retain(), true);
      else storages.set(src.slot, t.attach(new Storage(buf, 0, plan.slotBytes[src.slot]!, rt.pool.releaser(buf)), true).storage!);
    }
    targetSlots.forEach(([, src], i) => {
      for (const x of bases[i]!) if (src.kind === 'slot' && !x.storage) x.borrow(storages.get(src.slot)!);
    });
    this.slotBuffers.forEach((buf, slot) => {
      if (!storages.has(slot)) rt.pool.release(buf);
    });
    this.slotBuffers = [];
    if (this.uniforms) rt.pool.release(this.uniforms);
    this.uniforms = undefined;
    this.held = undefined;
    collected.unregister(this);
    this.disposed = true;
  }

  /**
   * Returns the program's buffers to the pool (a program dropped without it does so once it
   * is garbage-collected). Its outputs and input tensors are unusable from then on.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    collected.unregister(this);
    for (const s of this.slotStorages) s.disposed = true;
    for (const t of this.ownInputs.values()) {
      t.storage!.disposed = true;
      t.dispose();
    }
    for (const t of this.inputHandles.values()) t.dispose();
    for (const b of this.held?.buffers ?? []) this.rt.pool.release(b);
    this.held = undefined;
    this.boundTensors.clear();
    // Dropped now, not with the program: a driver may hold memory for each (see createBindGroups).
    this.groups.clear();
    this.rebound.clear();
    for (const e of this.encoded) e.bindGroup = undefined;
  }
}

/** Copies each storage into another of its size (a length rounded up to 4 bytes, as WebGPU wants). */
function encodeCopies(encoder: GPUCommandEncoder, copies: readonly (readonly [from: Storage, to: Storage])[]): void {
  for (const [from, to] of copies) {
    encoder.copyBufferToBuffer(from.buffer, from.byteOffset, to.buffer, to.byteOffset, Math.ceil(to.byteLength / 4) * 4);
  }
}
