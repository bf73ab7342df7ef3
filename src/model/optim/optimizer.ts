// The optimizers' common part: parameter groups, their hyperparameters (checked as they are
// set), the per-parameter state tensors, the step that records each optimizer's update, and the
// state saved for resuming. Each optimizer (adam.ts, sgd.ts, …) adds its options and the values
// its shader reads at each step.
import { checkTensor, checkTensors } from '../../runtime/args.js';
import { gradientTargets } from '../../runtime/autograd.js';
import { ShapeError, TensorStateError } from '../../runtime/errors.js';
import { shown } from '../../runtime/options.js';
import { fmt, sameShape } from '../../runtime/shape.js';
import { packStruct, type ParamValues } from '../../runtime/shaders.js';
import type { Runtime } from '../../runtime/runtime.js';
import { Tensor } from '../../runtime/tensor.js';
import { scale } from '../../ops/elementwise.js';
import { hostTensors, mismatches, type HostTensors, type HostTensorsLike } from '../host-tensors.js';
import { checkOptions, DISPLAY, type OptimizerKind } from './kinds.js';
import { checkParams, paramName, splitGroups } from './params.js';
import type { StepEffect } from './step-effect.js';

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
export type Resolve<H> = (opts: object, who: string) => H;

/** Common bookkeeping: parameter groups, their state tensors, the hyperparameter buffers. */
export abstract class Optimizer<H extends Hyperparameters = Hyperparameters> {
  // Steps taken so far (see stepCount).
  private steps = 0;

  /**
   * Steps taken so far (PyTorch's `step` in the optimizer state; an eager step counts from
   * step() on, unless refused). Set by loadState() and reset(), with each parameter's.
   */
  get stepCount(): number {
    return this.steps;
  }
  // Grown by each group, as the constructor makes them and addParamGroup() adds them.
  private readonly all = { params: [] as Tensor[], groups: [] as ParamGroup<H>[], state: [] as Tensor[][], groupOf: [] as number[], slotOf: [] as number[] };
  // Each group's hyperparameters: replaced, never changed in place, so an eager step keeps those it was asked with.
  private readonly values: H[] = [];
  // Each group's buffer of what its steps upload: a struct Hyper per parameter, as the shader
  // lays it out (each parameter counts its own steps, so their bias corrections may differ).
  private readonly hypers: Tensor[] = [];
  private readonly hyperValues: Float32Array<ArrayBuffer>[] = [];
  protected readonly rt: Runtime;
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

  /** @internal Each parameter's place in its group: its struct Hyper in the group's buffer. */
  get slotOf(): readonly number[] {
    return this.all.slotOf;
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
    // A copy (arrays too), as PyTorch's defaults: the caller's object changed later changes no group added later.
    this.defaults = Object.fromEntries(Object.entries(opts ?? {}).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
    // Every group checked before anything is allocated.
    const named = groups.length > 1 || groups[0]!.own !== undefined;
    const values = groups.map((g, i) => resolve({ ...opts, ...g.own }, named ? `${display}: param group ${i}` : display));
    const all = groups.flatMap((g) => g.params);
    checkParams(all);
    this.rt = all[0]!.rt; // a group may be empty, as PyTorch's
    groups.forEach((g, i) => this.append(g.params, values[i]!, named));
  }

  /**
   * Adds a parameter group, as PyTorch's add_param_group: its parameters (none of them already
   * here), with options over those the constructor was given, checked as the constructor checks
   * them; its state starts as a new optimizer's. A step compiled before it does not update the
   * group, and is refused from then on (compile it again); schedulers made before it move its
   * rate as PyTorch's do (see LRScheduler.addedGroupsLr), and those made after start it from its
   * rate then.
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
    this.addedAt.push(this.stepCount);
    this.all.groups.push(this.groupView(i, params, who));
    for (const [slot, p] of params.entries()) {
      const at = this.all.params.push(p) - 1;
      this.all.groupOf.push(i);
      this.all.slotOf.push(slot);
      this.paramSteps.push(0);
      this.taken.push(0);
      this.all.state.push(this.stateNames.map((s) => this.rt.zeros(p.shape, 'f32', { name: `${paramName(p, at)}.${s}` })));
    }
    // A struct per parameter, the last one's views of byteSize fitting (one for a group without parameters).
    const { stride, byteSize } = this.effect.hyper;
    const floats = (Math.max(0, params.length - 1) * stride + byteSize) / 4;
    this.hyperValues.push(new Float32Array(floats));
    this.hypers.push(this.rt.zeros([floats], 'f32', { name: `optimizer hyperparameters${named ? ` (param group ${i})` : ''}` }));
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
  protected setEach(change: (h: H) => Partial<H>, groups = this.paramGroups.length): void {
    const next = this.paramGroups.map((g, i) => {
      if (i >= groups) return this.values[i]!;
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
    for (const z of this.zeros.values()) z.dispose();
    this.zeros.clear();
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
    this.steps = 0;
    this.paramSteps.fill(0);
    this.taken.fill(0);
    this.addedAt.fill(0);
  }

  /**
   * Sets each parameter's `.grad` that is set to zeros, as PyTorch 1.13's `zero_grad()`, before
   * a step's backward(), which adds to `.grad` (as PyTorch's) but replaces these zeros: the
   * gradients of the last step are not added to again, and a parameter that the next backward()
   * does not reach takes a zero gradient in the step (moments, momentum and weight decay still
   * move it, as in PyTorch). (A parameter without `.grad` stays without: PyTorch's step skips
   * it; fovea's skips a frozen one, requiresGrad false, and refuses any other, naming it.) The
   * zeros are read-only, shared by the parameters of a shape.
   */
  zeroGrad(): void {
    this.checkNotDisposed('zeroGrad()');
    for (const [i, p] of this.params.entries()) {
      if (!p.grad) continue;
      this.rt.settingGrad(p);
      // A view of one buffer of zeros per shape, made once (and freed by dispose()): an eager
      // loop's zeroGrad() allocates and uploads nothing after its first step.
      const key = fmt(p.shape);
      let zeros = this.zeros.get(key);
      if (!zeros) this.zeros.set(key, (zeros = this.rt.zeros(p.shape)));
      p.grad = this.rt.readOnlyView(zeros, `the zeros ${key} that zeroGrad() shares among gradients of that shape (set .grad = rt.tensor(…) for values of its own)`, `${paramName(p, i)}.grad`);
    }
  }

  // zeroGrad()'s zeros, by shape.
  private readonly zeros = new Map<string, Tensor>();

  /**
   * Applies one update from `grads` (default: each parameter's `.grad`; given, one per parameter,
   * in the order of `params`, the groups' in turn, as grad(loss, opt.params) returns them; a
   * gradient grad() gave for another of these parameters is refused as out of order; undefined
   * for a frozen one, requiresGrad false, which the step
   * skips as PyTorch's skips a parameter without a gradient). Inside rt.compile() it becomes part of the compiled step; outside,
   * it is queued and runs once its gradients can be computed, and ops, reads and writes asked for
   * after it see its result. Await it (or rt.sync()) before work of your own on the parameters'
   * buffers. What is wrong at the call (a missing gradient, a shape) throws at once, as in
   * PyTorch; an eager step refused when its turn comes (its gradients were recorded from values
   * updated since) rejects the promise. One still queued when the runtime is disposed is dropped:
   * the promise resolves.
   */
  step(grads?: readonly (Tensor | undefined)[]): Promise<void> {
    const name = this.effect.name;
    this.checkNotDisposed('step()');
    const rt = this.rt;
    if (grads !== undefined) {
      if (!Array.isArray(grads)) checkTensors(name, 'grads', grads);
      // undefined only for a frozen parameter.
      for (const [i, g] of grads.entries()) {
        const p = this.params[i];
        if (g !== undefined || p?.requiresGrad !== false) checkTensor(name, `grads[${i}]${p ? ` (the gradient of ${paramName(p, i)})` : ''}`, g);
        // Shapes alike, gradients in another order would update the wrong tensors silently.
        const of = gradientTargets(g);
        const j = p && !of.has(p) ? this.params.findIndex((q) => of.has(q)) : -1;
        if (j >= 0) {
          throw new TensorStateError(`${name}: grads[${i}] is the gradient of ${paramName(this.params[j]!, j)}, not of ${paramName(p!, i)}: pass the gradients in the order of the optimizer's params, its groups' in turn, as grad(loss, opt.params) returns them`);
        }
      }
    }
    const gs = grads ?? this.params.map((p) => p.grad);
    if (gs.length !== this.params.length) throw new ShapeError(name, `${gs.length} gradients for ${this.params.length} parameters`);
    // What the step writes: a gradient sharing one of these buffers is copied first (one
    // dispatch may not read and write a buffer).
    const written = new Set([...this.hypers, ...this.params, ...this.state.flat()].map((t) => t.storage!.buffer));
    const inputs: Tensor[] = [...this.hypers];
    const updated: number[] = [];
    this.params.forEach((p, i) => {
      let g = gs[i];
      if (p.disposed) throw new TensorStateError(`${name}: parameter ${p.describe()} was disposed (by its model's dispose(), say); dispose the optimizer with it`);
      // Frozen (requiresGrad = false, so backward() gives it no gradient): left as it is, as
      // PyTorch's step skips a parameter without one.
      if (!g && !p.requiresGrad) return;
      if (!g) throw new TensorStateError(`${name}: ${p.describe()} has no gradient (call backward() or pass grads)`);
      if (!sameShape(g.shape, p.shape) || g.dtype !== 'f32') {
        throw new ShapeError(name, `gradient ${fmt(g.shape)} ${g.dtype} does not match ${p.describe()}`, [g.shape, p.shape]);
      }
      if (g.rt !== rt) throw new TensorStateError(`${name}: the gradient of ${p.describe()}, ${g.describe()}, belongs to another runtime`);
      // A compiled step would take a .grad from before compiling as a constant, every run.
      if (!grads && rt.tracingNow && !rt.gradSetWhileTracing(p)) {
        throw new TensorStateError(`${name}: .grad of ${p.describe()} was not set in this compiled function (its backward() does not reach it), so every run would apply the value it had before; call zeroGrad() before backward() in the function, or pass grads`);
      }
      if (g.storage && written.has(g.storage.buffer)) g = scale(g, 1);
      inputs.push(p, g, ...this.state[i]!);
      updated.push(i);
    });
    if (!updated.length) throw new TensorStateError(`${name}: every parameter is frozen (requiresGrad false, no gradient): there is nothing to update`);
    // What the step writes from the host besides (NAdam's products): declared written, so a read
    // asked for before the step has run waits for it.
    const hostWritten = this.hostWritten(updated);
    inputs.push(...hostWritten);
    // A compiled step takes the hyperparameters of each run; an eager one those of now, though
    // it runs once its gradients are computed. The bias corrections (and SGD's first step) follow
    // the steps run before it: a step refused, now or when its turn comes, is none.
    const attrs = { opt: this as Optimizer, groups: this.hypers.length, updated, hostWritten: hostWritten.length, params: this.params.length, requiresGrad: this.params.map((p) => p.requiresGrad) };
    if (rt.tracingNow) return rt.effect(this.effect, inputs, attrs);
    const done = rt.effect(this.effect, inputs, { ...attrs, at: this.settingsNow() });
    // Counted now, as torch.optim's state['step'] after step(); uncounted if refused.
    this.counted(updated, 1);
    this.queued++;
    return done.then(
      () => void this.queued--,
      (e: unknown) => {
        this.queued--;
        this.counted(updated, -1);
        throw e;
      },
    );
  }

  // Eager steps asked for and not yet run (or refused).
  private queued = 0;
  // The steps that updated each parameter, as asked for (eager ones still queued too).
  private readonly paramSteps: number[] = [];
  // The steps that updated each parameter and have run: what its bias corrections and SGD's
  // first step follow.
  private readonly taken: number[] = [];
  // stepCount when each group was added (0 for the constructor's).
  private readonly addedAt: number[] = [];

  /** @internal Counts a step that updates the parameters `updated` (−1: uncounts a refused one). */
  counted(updated: readonly number[], by: 1 | -1): void {
    this.steps += by;
    for (const i of updated) this.paramSteps[i]! += by;
  }

  /**
   * The steps each group has taken: stepCount, but for a group added since, the steps from then
   * on (what its parameters count, but those left out of some while frozen).
   */
  get groupStepCounts(): readonly number[] {
    return this.addedAt.map((a) => this.stepCount - a);
  }

  /**
   * The steps that updated each parameter, in the order of `params`, as PyTorch's per-parameter
   * `state[p]['step']`: a step skips a frozen parameter (requiresGrad false, no gradient), so one
   * unfrozen later starts its bias corrections (and SGD its momentum buffer) afresh, as PyTorch's.
   */
  get paramStepCounts(): readonly number[] {
    return [...this.paramSteps];
  }

  // reset() and loadState() set the step count now: steps still queued would count after them.
  private checkNoneQueued(what: string): void {
    if (this.queued) throw new TensorStateError(`${this.effect.name}: ${what} with ${this.queued} step${this.queued > 1 ? 's' : ''} not yet run; await ${this.queued > 1 ? 'them' : 'it'} (or rt.sync()) first`);
  }

  /**
   * @internal Sets what a cyclic schedule (OneCycleLR, CyclicLR) cycles as the momentum, in the
   * first `groups` groups (those the schedule was made with; as PyTorch's, it leaves a group added
   * since): SGD's and RMSprop's momentum, Adam's first beta; absent for an optimizer without one.
   */
  readonly setCycledMomentum?: (m: number, groups: number) => void;

  /** @internal Each group's hyperparameters as of now (what an eager step takes when asked for). */
  settingsNow(): readonly H[] {
    return [...this.values];
  }

  /**
   * @internal Counts a step of the parameters `updated`, their groups' hyperparameters `at`, and
   * uploads each one's values of the shader's struct Hyper (as the step runs, in its turn).
   */
  runStep(at: readonly H[], updated: readonly number[]): void {
    const size = this.effect.hyper.stride;
    const groups = new Set<number>();
    for (const i of updated) {
      const g = this.groupOf[i]!;
      groups.add(g);
      packStruct(this.effect.hyper, this.paramStep(at[g]!, ++this.taken[i]!, i), this.hyperValues[g]!.buffer, this.slotOf[i]! * size);
    }
    this.stepped(updated);
    for (const g of groups) this.rt.write(this.hypers[g]!, this.hyperValues[g]!, true);
  }

  /** The values of the shader's struct Hyper for parameter `i`'s step `t` (its own count, from 1), its group's hyperparameters `h`. */
  protected abstract paramStep(h: H, t: number, i: number): ParamValues;

  /** What an optimizer keeps besides, once the values of a step of `updated` are set. */
  protected stepped(_updated: readonly number[]): void {}

  /** The tensors that stepped() writes for a step of `updated`. */
  protected hostWritten(_updated: readonly number[]): Tensor[] {
    return [];
  }

  /**
   * The state to save for resuming: `<param>.<state name>` → tensor (the step count is
   * `stepCount`), and what an optimizer keeps besides (NAdam's `<param>.mu_product`).
   */
  stateTensors(): Map<string, Tensor> {
    return new Map([...this.perParamState(), ...this.extraState()]);
  }

  // The state tensors the shader updates, by name.
  private perParamState(): Map<string, Tensor> {
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
   * State kept beside the shader's, by name: saved with it, and taken by loadState where given
   * (state saved before an optimizer kept it lacks it). None by default.
   */
  protected extraState(): Map<string, Tensor> {
    return new Map();
  }

  /**
   * Restores saved state (checked in full before anything is written): every name of
   * stateTensors() with its shape and data length, the step count, each group's where a group
   * was added later (groupStepCounts; default: stepCount for all), and each parameter's where a
   * step left it out (paramStepCounts; default: its group's). (The hyperparameters are the
   * constructor's; set a saved rate on `lr` or on each group's.)
   */
  loadState(tensors: HostTensorsLike, stepCount: number, source = 'optimizer state', groupStepCounts?: readonly number[], paramStepCounts?: readonly number[]): void {
    this.checkNotDisposed('loadState()');
    this.checkNoneQueued('loadState()');
    const given = hostTensors(tensors, `${this.effect.name}: loadState`);
    // The extra state given is checked as the rest; what is not given is not missing.
    const extra = [...this.extraState()].filter(([name]) => given.has(name));
    const mine = new Map([...this.perParamState(), ...extra]);
    const problems = [mismatches(given, new Map([...mine].map(([name, t]) => [name, t.shape])), 'this optimizer')];
    const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
    if (!count(stepCount)) problems.push(`step count ${stepCount} is not a non-negative integer`);
    const groups = groupStepCounts ?? this.addedAt.map(() => stepCount);
    if (groupStepCounts !== undefined && (!Array.isArray(groups) || groups.length !== this.paramGroups.length || !groups.every((n) => count(n) && n <= stepCount))) {
      problems.push(`the groups' step counts ${Array.isArray(groupStepCounts) ? JSON.stringify(groupStepCounts) : shown(groupStepCounts)} are not ${this.paramGroups.length} integers from 0 to the step count`);
    }
    const params = paramStepCounts ?? this.groupOf.map((g) => groups[g]!);
    if (paramStepCounts !== undefined && (!Array.isArray(params) || params.length !== this.params.length || !params.every((n, i) => count(n) && n <= (groups[this.groupOf[i]!] ?? stepCount)))) {
      problems.push(`the parameters' step counts ${Array.isArray(paramStepCounts) ? JSON.stringify(paramStepCounts) : shown(paramStepCounts)} are not ${this.params.length} integers from 0 to their group's step count`);
    }
    const why = problems.filter(Boolean).join('; ');
    if (why) throw new ShapeError(this.effect.name, `${source} does not match: ${why}`);
    for (const [name, t] of mine) t.write(given.get(name)!.data);
    this.steps = stepCount;
    groups.forEach((n, i) => (this.addedAt[i] = stepCount - n));
    params.forEach((n, i) => (this.paramSteps[i] = this.taken[i] = n));
    this.loaded(given);
  }

  /** What loadState() leaves to an optimizer, given the state loaded (checked, and written to its tensors). */
  protected loaded(_given: HostTensors): void {}
}
