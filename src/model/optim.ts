// Optimizers as in-place GPU updates (effects): recorded inside a compiled training step they
// run in its single submit; called eagerly they run as soon as the gradients can be computed.
// Formulas follow PyTorch 1.13 exactly (see shaders/adam.wgsl, sgd.wgsl, adadelta.wgsl, rmsprop.wgsl and adagrad.wgsl).
import { checkTensors } from '../runtime/args.js';
import { ShapeError, TensorStateError } from '../runtime/errors.js';
import { defineEffect, type EffectDef } from '../runtime/op.js';
import { checkOptionNames, listed, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import { packStruct, structLayout, type ParamValues, type StructLayout } from '../runtime/shaders.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../runtime/tensor.js';
import { scale } from '../ops/elementwise.js';
import { hostTensors, mismatches, type HostTensorsLike } from './host-tensors.js';

const WG = 256;

interface StepAttrs {
  opt: Optimizer;
  /** The groups (their hyperparameter buffers lead the inputs) and the group of each parameter the step updates, as step() found them: a group added later is not in them. */
  groups: number;
  groupOf: readonly number[];
  /** An eager step's hyperparameters, each group's, fixed when step() is called (as PyTorch's are). */
  at?: readonly Hyperparameters[];
}

/** What every optimizer's parameter groups hold: the learning rate, the weight decay, and their own hyperparameters. */
export interface Hyperparameters {
  lr: number;
  weightDecay: number;
}

/**
 * The hyperparameters that may change between steps (a schedule changes them): the learning rate,
 * and the momentum (Adam's betas, SGD's and RMSprop's momentum; OneCycleLR cycles it).
 */
type Mutable = 'lr' | 'betas' | 'momentum';
const MUTABLE: readonly string[] = ['lr', 'betas', 'momentum'] satisfies Mutable[];

/**
 * One of an optimizer's parameter groups (PyTorch's `param_groups[i]`): its parameters and their
 * hyperparameters. `lr`, and `betas` or `momentum` where the optimizer has them, may be set
 * between steps (checked as the constructor checks them; a compiled step uploads them each run);
 * the others are fixed.
 */
export type ParamGroup<H extends Hyperparameters = Hyperparameters> = { readonly params: readonly Tensor[] } & Readonly<Omit<H, Mutable>> & Pick<H, Extract<keyof H, Mutable>>;

/** A parameter group as an optimizer takes it: its parameters, and the options it sets otherwise than the optimizer's. */
export type ParamGroupOptions<O> = { params: readonly Tensor[] } & Partial<O>;

/**
 * What an optimizer updates: tensors, or groups of them with options of their own
 * (`[{ params: weights }, { params: biases, weightDecay: 0 }]`), as PyTorch's optimizers take them.
 */
export type Params<O> = readonly Tensor[] | readonly ParamGroupOptions<O>[];

/** Checks options (merged with a group's) and fills in the defaults; `who` names the optimizer, and the group. */
type Resolve<H> = (opts: object, who: string) => H;

/** Common bookkeeping: parameter groups, their state tensors, the hyperparameter buffers. */
export abstract class Optimizer<H extends Hyperparameters = Hyperparameters> {
  /** Steps taken so far (PyTorch's `step` in the optimizer state; an eager step counts from step() on, unless refused). */
  stepCount = 0;
  // Grown by each group, as the constructor makes them and addParamGroup() adds them.
  private readonly all = { params: [] as Tensor[], groups: [] as ParamGroup<H>[], state: [] as Tensor[][], groupOf: [] as number[] };
  // Each group's hyperparameters: replaced, never changed in place, so an eager step keeps those it was asked with.
  private readonly values: H[] = [];
  // Each group's buffer of what its steps upload, as the shader's struct Hyper lays it out.
  private readonly hypers: Tensor[] = [];
  private readonly rt: Runtime;
  private readonly hyperValues: Float32Array<ArrayBuffer>;
  // The constructor's options, which a group added later takes where it sets none of its own.
  private readonly defaults: object;

  /** The tensors it updates in place, in the order their state is kept: the groups' in turn. */
  get params(): readonly Tensor[] {
    return this.all.params;
  }

  /** The parameter groups: one, unless the constructor was given several or addParamGroup() added some. */
  get paramGroups(): readonly ParamGroup<H>[] {
    return this.all.groups;
  }

  /** Per-parameter state tensors, in parameter order (Adam, AdamW: [exp_avg, exp_avg_sq]; SGD: [momentum_buffer]; Adadelta: [square_avg, acc_delta]). */
  get state(): readonly (readonly Tensor[])[] {
    return this.all.state;
  }

  /** @internal The group of each parameter. */
  get groupOf(): readonly number[] {
    return this.all.groupOf;
  }

  constructor(
    params: Params<object>,
    opts: object | undefined,
    /** Which optimizer it is, by the name the CLI, Trainer and checkpoints use. */
    readonly kind: OptimizerKind,
    /** Names of the per-parameter state tensors, as PyTorch's optimizer state calls them. */
    readonly stateNames: readonly string[],
    protected readonly effect: StepEffect,
    private readonly resolve: Resolve<H>,
  ) {
    const display = DISPLAY[kind];
    const groups = splitGroups(display, params);
    if (opts !== undefined) checkOptions(kind, opts, display);
    this.defaults = opts ?? {};
    // Every group checked before anything is allocated.
    const named = groups.length > 1 || groups[0]!.own !== undefined;
    const values = groups.map((g, i) => resolve({ ...opts, ...g.own }, named ? `${display}: param group ${i}` : display));
    const all = groups.flatMap((g) => g.params);
    checkParams(all);
    this.rt = all[0]!.rt; // a group may be empty, as PyTorch's
    this.hyperValues = new Float32Array(effect.hyper.byteSize / 4);
    groups.forEach((g, i) => this.append(g.params, values[i]!, named));
  }

  /**
   * Adds a parameter group, as PyTorch's add_param_group: its parameters (none of them already
   * here), with options over those the constructor was given, checked as the constructor checks
   * them; its state starts as a new optimizer's. A step compiled before it does not update the
   * group, and is refused from then on (compile it again); schedulers made before it leave its
   * rate alone, as PyTorch's.
   */
  addParamGroup(group: ParamGroupOptions<Partial<H>>): void {
    this.checkNotDisposed('addParamGroup()');
    const display = DISPLAY[this.kind];
    const i = this.paramGroups.length;
    if (typeof group !== 'object' || group === null || group instanceof Tensor || !('params' in group)) {
      throw new TypeError(`${display}: addParamGroup takes a parameter group ({ params, ...options }), got ${group instanceof Tensor ? 'a tensor' : shown(group)}`);
    }
    const { params, ...own } = group;
    checkTensors(display, `param group ${i}'s params`, params);
    const values = this.resolve({ ...this.defaults, ...own }, `${display}: param group ${i}`);
    checkParams([...this.params, ...params]);
    this.append(params, values, true);
  }

  /** Allocates a group's state and hyperparameter buffer, and lists it. */
  private append(params: readonly Tensor[], values: H, named: boolean): void {
    const i = this.values.length;
    const who = named ? `${DISPLAY[this.kind]}: param group ${i}` : DISPLAY[this.kind];
    this.values.push(values);
    this.taken.push(0);
    this.addedAt.push(this.stepCount);
    this.all.groups.push(this.groupView(i, params, who));
    for (const p of params) {
      const at = this.all.params.push(p) - 1;
      this.all.groupOf.push(i);
      this.all.state.push(this.stateNames.map((s) => this.rt.zeros(p.shape, 'f32', { name: `${paramName(p, at)}.${s}` })));
    }
    this.hypers.push(this.rt.zeros([this.hyperValues.length], 'f32', { name: `optimizer hyperparameters${named ? ` (param group ${i})` : ''}` }));
    this.initGroupState(i);
  }

  /** Sets the state of group `group`'s parameters as a new optimizer's starts (zeros unless overridden: Adagrad's sums). */
  protected initGroupState(_group: number): void {}

  /** Group i as users see it: its values read and checked as they are set. */
  private groupView(i: number, params: readonly Tensor[], who: string): ParamGroup<H> {
    const view = { params };
    for (const key of Object.keys(this.values[i]!)) {
      Object.defineProperty(view, key, {
        enumerable: true,
        get: () => this.values[i]![key as keyof H],
        set: MUTABLE.includes(key) ? (v: unknown) => void (this.values[i] = this.resolve({ ...this.values[i], [key]: v }, who)) : undefined,
      });
    }
    return Object.freeze(view) as ParamGroup<H>;
  }

  /** Sets `change(group)` in every group, each checked before any is set. */
  protected setEach(change: (h: H) => Partial<H>): void {
    const next = this.paramGroups.map((g, i) => {
      try {
        return this.resolve({ ...this.values[i], ...change(this.values[i]!) }, DISPLAY[this.kind]);
      } catch (e) {
        throw this.paramGroups.length > 1 && e instanceof RangeError ? new RangeError(e.message.replace(DISPLAY[this.kind], `${DISPLAY[this.kind]}: param group ${i}`)) : e;
      }
    });
    this.values.splice(0, next.length, ...next);
  }

  /** The first group's hyperparameters (those of all, unless groups were given with their own). */
  protected get first(): H {
    return this.values[0]!;
  }

  /**
   * The learning rate: the first group's; set, every group's. It may be changed at any time:
   * every run of a compiled step uploads the current value, so the change applies from the next
   * step. A negative or NaN value throws a RangeError.
   */
  get lr(): number {
    return this.first.lr;
  }

  set lr(value: number) {
    this.setEach(() => ({ lr: value }) as Partial<H>);
  }

  /**
   * The weight decay (the first group's): an L2 penalty added to the gradients; AdamW's, the
   * rate of its decoupled decay.
   */
  get weightDecay(): number {
    return this.first.weightDecay;
  }

  /** Frees the state tensors (moments, momentum buffers) now rather than when collected; step() is refused after it. */
  dispose(): void {
    this.disposed = true;
    for (const ts of this.state) for (const t of ts) t.dispose();
    for (const h of this.hypers) h.dispose();
  }

  private disposed = false;

  private checkNotDisposed(what: string): void {
    if (this.disposed) throw new TensorStateError(`${this.effect.name}: ${what} on an optimizer that was disposed`);
  }

  /**
   * Back to the state of a new optimizer: every state tensor zeroed and the step count 0 (the
   * hyperparameters stay). Written in queue order, so it applies from the next step.
   */
  reset(): void {
    this.checkNotDisposed('reset()');
    this.checkNoneQueued('reset()');
    for (const ts of this.state) for (const t of ts) t.write(new Float32Array(t.size));
    this.stepCount = 0;
    this.taken.fill(0);
    this.addedAt.fill(0);
  }

  /**
   * Sets each parameter's `.grad` that is set to zeros, as PyTorch 1.13's `zero_grad()`: a
   * parameter that the next backward() does not reach then takes a zero gradient in the step
   * (moments, momentum and weight decay still move it, as in PyTorch) rather than the last one
   * again. backward() replaces `.grad`, so a loop whose loss reaches every parameter needs no
   * zeroGrad(). (A parameter without `.grad` stays without: PyTorch's step skips it; fovea's
   * refuses it, naming it.)
   */
  zeroGrad(): void {
    for (const [i, p] of this.params.entries()) {
      if (!p.grad) continue;
      this.rt.settingGrad(p);
      p.grad = this.rt.zeros(p.shape, 'f32', { name: `${paramName(p, i)}.grad` });
    }
  }

  /**
   * Applies one update from `grads` (default: each parameter's `.grad`; given, one per parameter,
   * in the order of `params`). Inside rt.compile() it becomes part of the compiled step; outside,
   * it is queued and runs once its gradients can be computed, and ops, reads and writes asked for
   * after it see its result. Await it (or rt.sync()) before work of your own on the parameters'
   * buffers. What is wrong at the call (a missing gradient, a shape) throws at once, as in
   * PyTorch; an eager step refused when its turn comes (its gradients were recorded from values
   * updated since) rejects the promise.
   */
  step(grads?: readonly Tensor[]): Promise<void> {
    const name = this.effect.name;
    this.checkNotDisposed('step()');
    const rt = this.rt;
    if (grads !== undefined) checkTensors(name, 'grads', grads);
    const gs = grads ?? this.params.map((p) => p.grad);
    if (gs.length !== this.params.length) throw new ShapeError(name, `${gs.length} gradients for ${this.params.length} parameters`);
    // What the step writes: a gradient sharing one of these buffers is copied first (one
    // dispatch may not read and write a buffer).
    const written = new Set([...this.hypers, ...this.params, ...this.state.flat()].map((t) => t.storage!.buffer));
    const inputs: Tensor[] = [...this.hypers];
    this.params.forEach((p, i) => {
      let g = gs[i];
      if (p.disposed) throw new TensorStateError(`${name}: parameter ${p.describe()} was disposed (by its model's dispose(), say); dispose the optimizer with it`);
      if (!g && !p.requiresGrad) throw new TensorStateError(`${name}: ${p.describe()} has no gradient: it requires none (frozen); leave it out of the optimizer's parameters`);
      if (!g) throw new TensorStateError(`${name}: ${p.describe()} has no gradient (call backward() or pass grads)`);
      if (!sameShape(g.shape, p.shape) || g.dtype !== 'f32') {
        throw new ShapeError(name, `gradient ${fmt(g.shape)} ${g.dtype} does not match ${p.describe()}`, [g.shape, p.shape]);
      }
      // A compiled step would take a .grad from before compiling as a constant, every run.
      if (!grads && rt.tracingNow && !rt.gradSetWhileTracing(p)) {
        throw new TensorStateError(`${name}: .grad of ${p.describe()} was not set in this compiled function (its backward() does not reach it), so every run would apply the value it had before; call zeroGrad() before backward() in the function, or pass grads`);
      }
      if (g.storage && written.has(g.storage.buffer)) g = scale(g, 1);
      inputs.push(p, g, ...this.state[i]!);
    });
    // A compiled step takes the hyperparameters of each run; an eager one those of now, though
    // it runs once its gradients are computed. The bias corrections (and SGD's first step) follow
    // the steps run before it: a step refused, now or when its turn comes, is none.
    const attrs = { opt: this as Optimizer, groups: this.hypers.length, groupOf: [...this.groupOf] };
    if (rt.tracingNow) return rt.effect(this.effect, inputs, attrs);
    const done = rt.effect(this.effect, inputs, { ...attrs, at: this.settingsNow() });
    // Counted now, as torch.optim's state['step'] after step(); uncounted if refused.
    this.stepCount++;
    this.queued++;
    return done.then(
      () => void this.queued--,
      (e: unknown) => {
        this.queued--;
        this.stepCount--;
        throw e;
      },
    );
  }

  // Eager steps asked for and not yet run (or refused).
  private queued = 0;
  // Each group's steps that have run: what its bias corrections and SGD's first step follow
  // (stepCount also counts eager steps still queued).
  private readonly taken: number[] = [];
  // stepCount when each group was added (0 for the constructor's).
  private readonly addedAt: number[] = [];

  /**
   * The steps each group has taken, as PyTorch keeps a `step` per parameter: stepCount, but for
   * a group added since, the steps from then on.
   */
  get groupStepCounts(): readonly number[] {
    return this.addedAt.map((a) => this.stepCount - a);
  }

  // reset() and loadState() set the step count now: steps still queued would count after them.
  private checkNoneQueued(what: string): void {
    if (this.queued) throw new TensorStateError(`${this.effect.name}: ${what} with ${this.queued} step${this.queued > 1 ? 's' : ''} not yet run; await ${this.queued > 1 ? 'them' : 'it'} (or rt.sync()) first`);
  }

  /**
   * @internal Sets what a cyclic schedule (OneCycleLR, CyclicLR) cycles as the momentum, in every
   * group: SGD's and RMSprop's momentum, Adam's first beta; absent for an optimizer without one.
   */
  readonly setCycledMomentum?: (m: number) => void;

  /** @internal Each group's hyperparameters as of now (what an eager step takes when asked for). */
  settingsNow(): readonly H[] {
    return [...this.values];
  }

  /** @internal Counts a step of the groups of `at` (their hyperparameters) and returns each one's values of the shader's struct Hyper. */
  stepValues(at: readonly H[]): ParamValues[] {
    return at.map((h, i) => this.groupStep(h, ++this.taken[i]!, i));
  }

  /** The values of the shader's struct Hyper for group `group`'s part of step `t` (counted from 1). */
  protected abstract groupStep(h: H, t: number, group: number): ParamValues;

  /** @internal Uploads each group's values of a step (as the step runs, in its turn). */
  upload(values: readonly ParamValues[]): void {
    values.forEach((v, i) => {
      packStruct(this.effect.hyper, v, this.hyperValues.buffer);
      this.rt.write(this.hypers[i]!, this.hyperValues, true);
    });
  }

  /** The state to save for resuming: `<param>.<state name>` → tensor (the step count is `stepCount`). */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.params.forEach((p, i) =>
      this.stateNames.forEach((s, k) => {
        const key = `${paramName(p, i)}.${s}`;
        if (out.has(key)) throw new TensorStateError(`${this.effect.name}: two parameters are named '${key.slice(0, -s.length - 1)}'; saved state needs unique names`);
        out.set(key, this.state[i]![k]!);
      }),
    );
    return out;
  }

  /**
   * Restores saved state (checked in full before anything is written): every name of
   * stateTensors() with its shape and data length, the step count, and each group's where a
   * group was added later (groupStepCounts; default: stepCount for all). (The hyperparameters
   * are the constructor's; set a saved rate on `lr` or on each group's.)
   */
  loadState(tensors: HostTensorsLike, stepCount: number, source = 'optimizer state', groupStepCounts?: readonly number[]): void {
    this.checkNotDisposed('loadState()');
    this.checkNoneQueued('loadState()');
    const given = hostTensors(tensors, `${this.effect.name}: loadState`);
    const mine = this.stateTensors();
    const problems = [mismatches(given, new Map([...mine].map(([name, t]) => [name, t.shape])), source, 'this optimizer')];
    const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
    if (!count(stepCount)) problems.push(`step count ${stepCount} is not a non-negative integer`);
    const groups = groupStepCounts ?? this.taken.map(() => stepCount);
    if (groupStepCounts !== undefined && (!Array.isArray(groups) || groups.length !== this.paramGroups.length || !groups.every((n) => count(n) && n <= stepCount))) {
      problems.push(`the groups' step counts ${Array.isArray(groupStepCounts) ? JSON.stringify(groupStepCounts) : shown(groupStepCounts)} are not ${this.paramGroups.length} integers from 0 to the step count`);
    }
    const why = problems.filter(Boolean).join('; ');
    if (why) throw new ShapeError(this.effect.name, `${source} does not match: ${why}`);
    for (const [name, t] of mine) t.write(given.get(name)!.data);
    this.stepCount = stepCount;
    groups.forEach((n, i) => {
      this.taken[i] = n;
      this.addedAt[i] = stepCount - n;
    });
  }
}

/** The groups of an optimizer's `params`: each group's tensors and options (none for plain tensors). */
function splitGroups(display: string, params: unknown): { params: readonly Tensor[]; own?: object }[] {
  if (!Array.isArray(params)) checkTensors(display, 'params', params);
  const isGroup = (v: unknown) => typeof v === 'object' && v !== null && !(v instanceof Tensor) && 'params' in v;
  if (!params.some(isGroup)) {
    checkTensors(display, 'params', params);
    return [{ params }];
  }
  // As PyTorch: a list of groups or of tensors, not both.
  return params.map((g: unknown, i) => {
    if (!isGroup(g)) throw new TypeError(`${display}: params[${i}] is ${g instanceof Tensor ? 'a tensor' : shown(g)} among parameter groups; give tensors or groups ({ params, ...options }), not both`);
    const { params: ps, ...own } = g as ParamGroupOptions<object>;
    checkTensors(display, `param group ${i}'s params`, ps);
    return { params: ps, own };
  });
}

/** Refuses what no optimizer can update: none, unrealised or non-f32 tensors, read-only ones, two runtimes, one given twice. */
function checkParams(params: readonly Tensor[]): void {
  if (!params.length) throw new TensorStateError('optimizer: no parameters given');
  const rt = params[0]!.rt;
  for (const p of params) {
    if (!p.storage || p.dtype !== 'f32') throw new TensorStateError(`optimizer: ${p.describe()} must be a realised f32 tensor`);
    p.checkWritable('optimizer'); // refused now, not at the first step
    // One step updates them all in one submit, on one device.
    if (p.rt !== rt) throw new TensorStateError(`optimizer: ${p.describe()} belongs to another runtime than ${params[0]!.describe()}`);
    // Twice in the list (or in two groups), it would get two updates a step (PyTorch refuses it).
    const first = params.find((q) => q.storage === p.storage)!;
    if (first !== p || params.indexOf(p) !== params.lastIndexOf(p)) {
      throw new TensorStateError(`optimizer: ${p.describe()} is given twice${first !== p ? ` (as ${first.describe()}, a view of the same data)` : ''}; each parameter is updated once a step`);
    }
  }
}

/** Parameter i's name in state names (and saved groups): its own, else param<i>. */
export const paramName = (p: Tensor, i: number) => p.name ?? `param${i}`;

const atLeast0 = (v: unknown): v is number => typeof v === 'number' && v >= 0;

/** Throws a RangeError naming the first hyperparameter out of its range (checked before any allocation). */
function checkRanges(optimizer: string, checks: readonly [name: string, value: unknown, ok: boolean, range: string][]): void {
  for (const [name, value, ok, range] of checks) {
    if (!ok) throw new RangeError(`${optimizer}: ${name} must be ${range}, got ${shown(value)}`);
  }
}

/** The optimizers, by the names the CLI, Trainer and checkpoints use. */
export type OptimizerKind = 'adam' | 'adamw' | 'nadam' | 'radam' | 'adamax' | 'sgd' | 'adadelta' | 'rmsprop' | 'adagrad';

// Each optimizer's options, as a table so that an option left out of it fails tsc.
const OPTION_NAMES: {
  adam: Record<keyof AdamOptions, true>;
  adamw: Record<keyof AdamOptions, true>;
  nadam: Record<keyof NAdamOptions, true>;
  radam: Record<keyof AdamOptions, true>;
  adamax: Record<keyof AdamOptions, true>;
  sgd: Record<keyof SGDOptions, true>;
  adadelta: Record<keyof AdadeltaOptions, true>;
  rmsprop: Record<keyof RMSpropOptions, true>;
  adagrad: Record<keyof AdagradOptions, true>;
} = {
  adam: { lr: true, betas: true, eps: true, weightDecay: true },
  adamw: { lr: true, betas: true, eps: true, weightDecay: true },
  nadam: { lr: true, betas: true, eps: true, weightDecay: true, momentumDecay: true },
  radam: { lr: true, betas: true, eps: true, weightDecay: true },
  adamax: { lr: true, betas: true, eps: true, weightDecay: true },
  sgd: { lr: true, momentum: true, dampening: true, weightDecay: true, nesterov: true },
  adadelta: { lr: true, rho: true, eps: true, weightDecay: true },
  rmsprop: { lr: true, alpha: true, eps: true, weightDecay: true, momentum: true, centered: true },
  adagrad: { lr: true, lrDecay: true, eps: true, weightDecay: true, initialAccumulatorValue: true },
};
/**
 * PyTorch's defaults of the options whose defaults differ between optimizers (SGD has no default
 * learning rate: PyTorch requires one).
 */
export const OPTIMIZER_DEFAULTS: Readonly<Record<OptimizerKind, { lr?: number; weightDecay: number }>> = {
  adam: { lr: 1e-3, weightDecay: 0 },
  adamw: { lr: 1e-3, weightDecay: 0.01 },
  nadam: { lr: 2e-3, weightDecay: 0 },
  radam: { lr: 1e-3, weightDecay: 0 },
  adamax: { lr: 2e-3, weightDecay: 0 },
  sgd: { weightDecay: 0 },
  adadelta: { lr: 1, weightDecay: 0 },
  rmsprop: { lr: 0.01, weightDecay: 0 },
  adagrad: { lr: 0.01, weightDecay: 0 },
};

/** Every OptimizerKind. */
export const OPTIMIZER_KINDS = Object.keys(OPTION_NAMES) as readonly OptimizerKind[];

/**
 * The options `opts` sets (to anything but undefined) that only other optimizers take (`kind`
 * would ignore them), and those optimizers.
 */
export function otherOptimizerOptions(kind: OptimizerKind, opts: object): { names: string[]; owners: OptimizerKind[] } {
  const names = Object.entries(opts)
    .filter(([k, v]) => v !== undefined && !Object.hasOwn(OPTION_NAMES[kind], k) && OPTIMIZER_KINDS.some((o) => Object.hasOwn(OPTION_NAMES[o], k)))
    .map(([k]) => k);
  return { names, owners: OPTIMIZER_KINDS.filter((o) => o !== kind && names.length > 0 && names.every((k) => Object.hasOwn(OPTION_NAMES[o], k))) };
}

/** `momentum is an option of sgd`, `betas, eps are options of adam and adamw`: for other optimizers' options. */
export function foreignOptionsText({ names, owners }: ReturnType<typeof otherOptimizerOptions>, name: (k: OptimizerKind) => string): string {
  return `${names.join(', ')} ${names.length > 1 ? 'are options' : 'is an option'} of ${owners.length ? listed(owners.map(name), 'and') : 'other optimizers'}`;
}

const DISPLAY: Record<OptimizerKind, string> = { adam: 'Adam', adamw: 'AdamW', nadam: 'NAdam', radam: 'RAdam', adamax: 'Adamax', sgd: 'SGD', adadelta: 'Adadelta', rmsprop: 'RMSprop', adagrad: 'Adagrad' };

/** Throws a RangeError naming the options `kind` does not take (other optimizers' as such), before any allocation; `who` names the optimizer (and group). */
function checkOptions(kind: OptimizerKind, opts: unknown, who: string): void {
  const fail = (why: string) => new RangeError(`${who}: ${why}`);
  const foreign = typeof opts === 'object' && opts ? otherOptimizerOptions(kind, opts) : undefined;
  if (foreign?.names.length) throw fail(`${foreignOptionsText(foreign, (k) => DISPLAY[k])}, not of ${DISPLAY[kind]}`);
  checkOptionNames(opts, Object.keys(OPTION_NAMES[kind]), fail);
}

/** An optimizer's update, with the layout of the hyperparameters its shader reads. */
type StepEffect = EffectDef<StepAttrs> & { readonly hyper: StructLayout };

/**
 * Declares the effect shared by both optimizers: one dispatch per parameter of `shader`, which
 * binds param, grad, `stateNames` and hyper, its struct Hyper.
 */
function stepEffect(name: string, shader: string, stateNames: readonly string[]): StepEffect {
  const per = 2 + stateNames.length; // param, grad, state...
  const hyper = structLayout(shader, 'Hyper');
  const def = defineEffect<StepAttrs>({
    name,
    // Inputs: each group's hyperparameter buffer, then each parameter's param, grad, state...
    writes({ groups, groupOf }) {
      return groupOf.flatMap((_, i) => [groups + i * per, ...stateNames.map((_, s) => groups + i * per + 2 + s)]);
    },
    beforeRun(_, { opt, groupOf, at }) {
      // An eager step updates the groups of when it was asked for; a compiled one, every group.
      if (at === undefined && groupOf.length !== opt.params.length) {
        throw new TensorStateError(`${name}: a parameter group was added to the optimizer after this step was compiled, and the step does not update it; compile the step again`);
      }
      if (at === undefined) opt.stepCount++; // a compiled step counts as it runs; an eager one, when asked for
      opt.upload(opt.stepValues(at ?? opt.settingsNow()));
    },
    encode(ctx, inputs, { groups: first, groupOf }) {
      groupOf.forEach((group, i) => {
        const hyper = inputs[group]!;
        const [param, grad, ...state] = inputs.slice(first + i * per, first + (i + 1) * per) as [Tensor, Tensor, ...Tensor[]];
        ctx.dispatch({
          shader,
          constants: { WG },
          params: { n: param.size },
          bindings: { param, grad, hyper, ...Object.fromEntries(stateNames.map((s, k) => [s, state[k]!])) },
          workgroups: grid1d(param.size, WG),
        });
      });
    },
  });
  return Object.assign(def, { hyper });
}

/**
 * Adam's and AdamW's hyperparameters (PyTorch's defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8,
 * weight decay 0 for Adam and 0.01 for AdamW). Any other option (SGD's `momentum`, a misspelt
 * name) is a RangeError, as is a value out of range.
 */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Moment decay rates, each in [0, 1) (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradients (default 0); AdamW: the decoupled decay's rate (default 0.01). */
  weightDecay?: number;
}

/** NAdam's options: Adam's (lr 2e-3 by default, as PyTorch's) and the decay of its momentum schedule. */
export interface NAdamOptions extends AdamOptions {
  /** ψ of the momentum schedule μt = β1·(1 − ½·0.96^(t·ψ)) (default 4e-3). */
  momentumDecay?: number;
}

/** A parameter group's hyperparameters in the Adam family (NAdam's with its momentum decay). */
export type AdamHyperparameters = Required<AdamOptions> & Pick<NAdamOptions, 'momentumDecay'>;

/** The Adam family, by class: each runs adam.wgsl (see there) with its own step coefficients. */
const ADAM_FAMILY = {
  adam: stepEffect('adam', 'adam.wgsl', ['m', 'v']),
  adamw: stepEffect('adamw', 'adam.wgsl', ['m', 'v']),
  nadam: stepEffect('nadam', 'adam.wgsl', ['m', 'v']),
  radam: stepEffect('radam', 'adam.wgsl', ['m', 'v']),
  adamax: stepEffect('adamax', 'adam.wgsl', ['m', 'v']),
};
/** The optimizers that are Adam with other step coefficients. */
export type AdamKind = keyof typeof ADAM_FAMILY;

const betaRange = (name: string, b: unknown): [string, unknown, boolean, string] => [name, b, atLeast0(b) && b < 1, 'in [0, 1)'];

const resolveAdam =
  (kind: AdamKind): Resolve<AdamHyperparameters> =>
  (opts, who) => {
    checkOptions(kind, opts, who);
    const { lr = OPTIMIZER_DEFAULTS[kind].lr!, betas = [0.9, 0.999], eps = 1e-8, weightDecay = OPTIMIZER_DEFAULTS[kind].weightDecay, momentumDecay = 4e-3 } = opts as NAdamOptions;
    const [b1, b2] = Array.isArray(betas) && betas.length === 2 ? betas : [NaN, NaN];
    checkRanges(who, [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      betaRange('betas[0]', b1),
      betaRange('betas[1]', b2),
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
      ['momentumDecay', momentumDecay, atLeast0(momentumDecay), '≥ 0'],
    ]);
    return { lr, betas: [b1, b2], eps, weightDecay, ...(kind === 'nadam' ? { momentumDecay } : {}) };
  };

/** Adam (PyTorch semantics: bias correction, eps outside the square root, L2 weight decay). */
export class Adam extends Optimizer<AdamHyperparameters> {
  /** Which of the family it is: AdamW, NAdam, RAdam and Adamax differ in their step's coefficients and defaults only. */
  declare readonly kind: AdamKind;

  constructor(params: Params<AdamOptions>, opts: AdamOptions = {}) {
    const kind: AdamKind = new.target === AdamW ? 'adamw' : new.target === NAdam ? 'nadam' : new.target === RAdam ? 'radam' : new.target === Adamax ? 'adamax' : 'adam';
    // PyTorch's state names: Adamax keeps the infinity norm where the others keep squares.
    super(params, opts, kind, ['exp_avg', kind === 'adamax' ? 'exp_inf' : 'exp_avg_sq'], ADAM_FAMILY[kind], resolveAdam(kind));
  }

  /** Added to the denominator, outside the square root (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  /**
   * Decay rates of the first and second moment estimates: the first group's; set, every group's.
   * They may be changed between steps, as the learning rate (OneCycleLR cycles the first); each
   * in [0, 1), or a RangeError.
   */
  get betas(): readonly [number, number] {
    return this.first.betas;
  }

  set betas(value: readonly [number, number]) {
    this.setEach(() => ({ betas: value }));
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.setEach((h) => ({ betas: [m, h.betas[1]] }));
  };

  protected groupStep(h: AdamHyperparameters, t: number, _group: number): ParamValues {
    // β1 as of this step in the bias correction too, as PyTorch's (a cycled β1 changes it).
    const [b1, b2] = h.betas;
    // NOTE: float64 here, as PyTorch computes the bias corrections and 1 − β in Python floats
    // (1 − β rounded to f32 differs from 1 − (β rounded to f32) by 1e-5 relative for β2).
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    return { beta1: b1, beta2: b2, eps: h.eps, weight_decay: h.weightDecay, decay: 1, step_size: h.lr / bc1, bc2_sqrt: Math.sqrt(bc2), one_minus_beta1: 1 - b1, one_minus_beta2: 1 - b2, grad_coef: 0, adaptive: 1, inf_norm: 0 };
  }
}

/**
 * Adamax (PyTorch 1.13's torch.optim.Adamax): Adam with the infinity norm, u = max(β2·u, |g| + ε),
 * in place of the second moment, and p −= lr / bc1 · m / u (lr 2e-3 by default, as PyTorch's).
 */
export class Adamax extends Adam {
  protected override groupStep(h: AdamHyperparameters, t: number, group: number): ParamValues {
    return { ...super.groupStep(h, t, group), inf_norm: 1 };
  }
}

/**
 * NAdam (PyTorch 1.13's torch.optim.NAdam): Adam with Nesterov momentum, the momentum following
 * the schedule μt = β1·(1 − ½·0.96^(t·ψ)); each step adds the gradient and the first moment, each
 * by its own coefficient of the schedule's running product (kept on the host, in f32 as PyTorch's).
 */
export class NAdam extends Adam {
  // Each group's μ1·…·μt after t steps, and t (recomputed when loadState sets another step count).
  private readonly mu: { product: number; steps: number }[] = [];

  constructor(params: Params<NAdamOptions>, opts: NAdamOptions = {}) {
    super(params, opts);
  }

  /** ψ of the momentum schedule (the first group's). */
  get momentumDecay(): number {
    return this.first.momentumDecay!;
  }

  protected override groupStep(h: AdamHyperparameters, t: number, group: number): ParamValues {
    const base = super.groupStep(h, t, group);
    const b1 = h.betas[0];
    const mu = (k: number) => b1 * (1 - 0.5 * 0.96 ** (k * h.momentumDecay!));
    let run = this.mu[group];
    if (!run || run.steps !== t - 1) run = this.mu[group] = { product: 1, steps: 0 };
    while (run.steps < t) run.product = Math.fround(run.product * mu(++run.steps));
    const next = run.product * mu(t + 1);
    return { ...base, grad_coef: (h.lr * (1 - mu(t))) / (1 - run.product), step_size: (h.lr * mu(t + 1)) / (1 - next) };
  }
}

/**
 * RAdam (PyTorch 1.13's torch.optim.RAdam): Adam whose adaptive step is scaled by the
 * rectification of its second moment's variance, and taken as plain momentum SGD (lr / bc1)
 * while that variance is not yet tractable (ρt ≤ 5, the first steps).
 */
export class RAdam extends Adam {
  protected override groupStep(h: AdamHyperparameters, t: number, group: number): ParamValues {
    const base = super.groupStep(h, t, group);
    const [b1, b2] = h.betas;
    const [bc1, bc2] = [1 - b1 ** t, 1 - b2 ** t];
    const rhoInf = 2 / (1 - b2) - 1;
    const rho = rhoInf - (2 * t * b2 ** t) / bc2;
    if (rho <= 5) return { ...base, step_size: h.lr / bc1, adaptive: 0 };
    const rect = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
    // lr·rect/bc1 · m · √bc2 / (√v + ε) = step_size · m / (√v/√bc2 + ε/√bc2).
    return { ...base, step_size: (h.lr * rect) / bc1, eps: h.eps / Math.sqrt(bc2) };
  }
}

/**
 * AdamW (PyTorch's torch.optim.AdamW): Adam whose weight decay shrinks the parameters by
 * 1 − lr·weightDecay before each update instead of adding to the gradients (default 0.01).
 */
export class AdamW extends Adam {
  protected override groupStep(h: AdamHyperparameters, t: number, group: number): ParamValues {
    // 1 − lr·wd in float64, as PyTorch's param.mul_(1 - lr * weight_decay).
    return { ...super.groupStep(h, t, group), weight_decay: 0, decay: 1 - h.lr * h.weightDecay };
  }
}

/**
 * SGD's hyperparameters (PyTorch's defaults but lr, which is required: here, or in every
 * parameter group). Any other option (Adam's `betas`, a misspelt name) is a RangeError, as is a
 * value out of range.
 */
export interface SGDOptions {
  /** Learning rate (required, as in PyTorch). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
  /** Nesterov momentum; needs a momentum and zero dampening (default false). */
  nesterov?: boolean;
}

const sgdEffect = stepEffect('sgd', 'sgd.wgsl', ['buf']);

const resolveSGD: Resolve<Required<SGDOptions>> = (opts, who) => {
  checkOptions('sgd', opts, who);
  const { lr, momentum = 0, dampening = 0, weightDecay = OPTIMIZER_DEFAULTS.sgd.weightDecay, nesterov = false } = opts as SGDOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), lr === undefined ? '≥ 0 (SGD has no default)' : '≥ 0'],
    ['momentum', momentum, atLeast0(momentum), '≥ 0'],
    ['dampening', dampening, typeof dampening === 'number' && Number.isFinite(dampening), 'a number'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ['nesterov', nesterov, typeof nesterov === 'boolean', 'true or false'],
  ]);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError(`${who}: Nesterov momentum requires a momentum above 0 and zero dampening, got momentum ${momentum}, dampening ${dampening}`);
  }
  return { lr, momentum, dampening, weightDecay, nesterov };
};

/** SGD with optional momentum, dampening, Nesterov and L2 weight decay (PyTorch semantics). */
export class SGD extends Optimizer<Required<SGDOptions>> {
  constructor(params: readonly Tensor[], opts: SGDOptions);
  /** Groups that each give an `lr` need none here. */
  constructor(params: readonly ParamGroupOptions<SGDOptions>[], opts?: Partial<SGDOptions>);
  constructor(params: Params<SGDOptions>, opts?: Partial<SGDOptions>) {
    super(params, opts, 'sgd', ['momentum_buffer'], sgdEffect, resolveSGD);
  }

  /**
   * Momentum factor (0: plain SGD): the first group's; set, every group's. It may be changed
   * between steps, as the learning rate (OneCycleLR cycles it): ≥ 0, and above 0 with Nesterov,
   * or a RangeError.
   */
  get momentum(): number {
    return this.first.momentum;
  }

  set momentum(value: number) {
    this.setEach(() => ({ momentum: value }));
  }

  /** Dampening of the momentum (the first group's). */
  get dampening(): number {
    return this.first.dampening;
  }


  /** Nesterov momentum (the first group's). */
  get nesterov(): boolean {
    return this.first.nesterov;
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.momentum = m;
  };

  // Whether each group's momentum buffers hold a value: PyTorch starts one as the gradient at
  // the first step with a momentum (steps without one, before one was set, leave none), and
  // loaded state holds one once a step was taken.
  private buffered: boolean[] = [];

  override reset(): void {
    super.reset();
    this.buffered = [];
  }

  override loadState(tensors: HostTensorsLike, stepCount: number, source?: string, groupStepCounts?: readonly number[]): void {
    super.loadState(tensors, stepCount, source, groupStepCounts);
    this.buffered = this.groupStepCounts.map((n) => n > 0);
  }

  protected groupStep(h: Required<SGDOptions>, _t: number, group: number): ParamValues {
    const first = h.momentum !== 0 && !this.buffered[group] ? 1 : 0;
    if (h.momentum !== 0) this.buffered[group] = true;
    // 1 − dampening in float64, as PyTorch computes it.
    return { lr: h.lr, momentum: h.momentum, one_minus_dampening: 1 - h.dampening, weight_decay: h.weightDecay, nesterov: h.nesterov ? 1 : 0, first };
  }
}

/**
 * Adadelta's hyperparameters (PyTorch's defaults: lr 1, rho 0.9, eps 1e-6, no weight decay).
 * Any other option is a RangeError, as is a value out of range.
 */
export interface AdadeltaOptions {
  /** Scales the update (default 1). */
  lr?: number;
  /** Decay rate of the running averages, in [0, 1] (default 0.9). */
  rho?: number;
  /** Added inside both square roots (default 1e-6). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
}

const adadeltaEffect = stepEffect('adadelta', 'adadelta.wgsl', ['square_avg', 'acc_delta']);

const resolveAdadelta: Resolve<Required<AdadeltaOptions>> = (opts, who) => {
  checkOptions('adadelta', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.adadelta.lr!, rho = 0.9, eps = 1e-6, weightDecay = OPTIMIZER_DEFAULTS.adadelta.weightDecay } = opts as AdadeltaOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['rho', rho, atLeast0(rho) && rho <= 1, 'in [0, 1]'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
  ]);
  return { lr, rho, eps, weightDecay };
};

/** Adadelta (PyTorch semantics: running averages of squared gradients and updates, L2 weight decay). */
export class Adadelta extends Optimizer<Required<AdadeltaOptions>> {
  constructor(params: Params<AdadeltaOptions>, opts: AdadeltaOptions = {}) {
    super(params, opts, 'adadelta', ['square_avg', 'acc_delta'], adadeltaEffect, resolveAdadelta);
  }

  /** Decay rate of the running averages (the first group's). */
  get rho(): number {
    return this.first.rho;
  }

  /** Added inside both square roots (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  protected groupStep(h: Required<AdadeltaOptions>): ParamValues {
    return { lr: h.lr, rho: h.rho, one_minus_rho: 1 - h.rho, eps: h.eps, weight_decay: h.weightDecay };
  }
}

/**
 * RMSprop's hyperparameters (PyTorch's defaults: lr 0.01, alpha 0.99, eps 1e-8, no weight decay
 * or momentum, not centered). Any other option is a RangeError, as is a value out of range.
 */
export interface RMSpropOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Decay rate of the running average of squared gradients (default 0.99). */
  alpha?: number;
  /** Added to the denominator, outside the square root (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
  /** Momentum factor (default 0). */
  momentum?: number;
  /** Divide by the gradients' estimated variance, not their second moment (default false). */
  centered?: boolean;
}

const rmspropEffect = stepEffect('rmsprop', 'rmsprop.wgsl', ['square_avg', 'buf', 'grad_avg']);

const resolveRMSprop: Resolve<Required<RMSpropOptions>> = (opts, who) => {
  checkOptions('rmsprop', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.rmsprop.lr!, alpha = 0.99, eps = 1e-8, weightDecay = OPTIMIZER_DEFAULTS.rmsprop.weightDecay, momentum = 0, centered = false } = opts as RMSpropOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['alpha', alpha, atLeast0(alpha), '≥ 0'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ['momentum', momentum, atLeast0(momentum), '≥ 0'],
    ['centered', centered, typeof centered === 'boolean', 'true or false'],
  ]);
  return { lr, alpha, eps, weightDecay, momentum, centered };
};

/** RMSprop (PyTorch semantics: eps outside the square root, optional momentum and centering, L2 weight decay). */
export class RMSprop extends Optimizer<Required<RMSpropOptions>> {
  constructor(params: Params<RMSpropOptions>, opts: RMSpropOptions = {}) {
    // PyTorch's state names (it keeps momentum_buffer and grad_avg only where they are used).
    super(params, opts, 'rmsprop', ['square_avg', 'momentum_buffer', 'grad_avg'], rmspropEffect, resolveRMSprop);
  }

  /** Decay rate of the running averages (the first group's). */
  get alpha(): number {
    return this.first.alpha;
  }

  /** Added to the denominator (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  /** Whether it divides by the variance, a running average of the gradients subtracted (the first group's). */
  get centered(): boolean {
    return this.first.centered;
  }

  /**
   * Momentum factor (0: none): the first group's; set, every group's. It may be changed between
   * steps, as the learning rate (OneCycleLR cycles it): ≥ 0, or a RangeError.
   */
  get momentum(): number {
    return this.first.momentum;
  }

  set momentum(value: number) {
    this.setEach(() => ({ momentum: value }));
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.momentum = m;
  };

  protected groupStep(h: Required<RMSpropOptions>): ParamValues {
    return { lr: h.lr, alpha: h.alpha, one_minus_alpha: 1 - h.alpha, eps: h.eps, weight_decay: h.weightDecay, momentum: h.momentum, centered: h.centered ? 1 : 0 };
  }
}

/**
 * Adagrad's hyperparameters (PyTorch's defaults: lr 0.01, no lr decay or weight decay, eps 1e-10,
 * accumulators starting at 0). Any other option is a RangeError, as is a value out of range.
 */
export interface AdagradOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** The rate at step t is lr / (1 + (t − 1)·lrDecay) (default 0). */
  lrDecay?: number;
  /** Added to the denominator, outside the square root (default 1e-10). */
  eps?: number;
  /** L2 penalty added to the gradients (default 0). */
  weightDecay?: number;
  /**
   * Where the sums of squared gradients start (default 0). A parameter group's own applies to its
   * parameters (PyTorch 1.13's Adagrad starts every sum at the constructor's, a group's ignored).
   */
  initialAccumulatorValue?: number;
}

const adagradEffect = stepEffect('adagrad', 'adagrad.wgsl', ['state_sum']);

const resolveAdagrad: Resolve<Required<AdagradOptions>> = (opts, who) => {
  checkOptions('adagrad', opts, who);
  const { lr = OPTIMIZER_DEFAULTS.adagrad.lr!, lrDecay = 0, eps = 1e-10, weightDecay = OPTIMIZER_DEFAULTS.adagrad.weightDecay, initialAccumulatorValue = 0 } = opts as AdagradOptions;
  checkRanges(who, [
    ['lr', lr, atLeast0(lr), '≥ 0'],
    ['lrDecay', lrDecay, atLeast0(lrDecay), '≥ 0'],
    ['eps', eps, atLeast0(eps), '≥ 0'],
    ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ['initialAccumulatorValue', initialAccumulatorValue, atLeast0(initialAccumulatorValue), '≥ 0'],
  ]);
  return { lr, lrDecay, eps, weightDecay, initialAccumulatorValue };
};

/** Adagrad (PyTorch semantics: a running sum of squared gradients, eps outside the square root, lr decay, L2 weight decay). */
export class Adagrad extends Optimizer<Required<AdagradOptions>> {
  constructor(params: Params<AdagradOptions>, opts: AdagradOptions = {}) {
    super(params, opts, 'adagrad', ['sum'], adagradEffect, resolveAdagrad);
  }

  /** The rate's decay with the step count (the first group's). */
  get lrDecay(): number {
    return this.first.lrDecay;
  }

  /** Added to the denominator (the first group's). */
  get eps(): number {
    return this.first.eps;
  }


  /** Where the sums start, at construction and after reset() (the first group's). */
  get initialAccumulatorValue(): number {
    return this.first.initialAccumulatorValue;
  }

  // Each sum starts at its group's initial value (called as each group is made, in the base constructor).
  protected override initGroupState(group: number): void {
    const init = this.paramGroups[group]!.initialAccumulatorValue;
    this.state.forEach(([sum], i) => {
      if (init && this.groupOf[i] === group) sum!.write(new Float32Array(sum!.size).fill(init));
    });
  }

  override reset(): void {
    super.reset();
    this.paramGroups.forEach((_, g) => this.initGroupState(g));
  }

  protected groupStep(h: Required<AdagradOptions>, t: number): ParamValues {
    // lr / (1 + (t − 1)·lr_decay) in float64, as PyTorch computes it.
    return { clr: h.lr / (1 + (t - 1) * h.lrDecay), eps: h.eps, weight_decay: h.weightDecay };
  }
}
