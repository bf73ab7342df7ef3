// Optimizers as in-place GPU updates (effects): recorded inside a compiled training step they
// run in its single submit; called eagerly they run as soon as the gradients can be computed.
// Formulas follow PyTorch 1.13 exactly (see shaders/adam.wgsl, sgd.wgsl, adadelta.wgsl, rmsprop.wgsl and adagrad.wgsl).
import { checkTensors } from '../runtime/args.js';
import { ShapeError, TensorStateError } from '../runtime/errors.js';
import { defineEffect, type EffectDef } from '../runtime/op.js';
import { checkOptionNames, listed, shown } from '../runtime/options.js';
import { fmt, grid1d, sameShape } from '../runtime/shape.js';
import { packStruct, structLayout, type ParamValues, type StructLayout } from '../runtime/shaders.js';
import type { Tensor } from '../runtime/tensor.js';
import { scale } from '../ops/elementwise.js';
import { hostTensors, mismatches, type HostTensorsLike } from './host-tensors.js';

const WG = 256;

interface StepAttrs {
  opt: Optimizer;
  /** An eager step's settings, fixed when step() is called (as PyTorch's are). */
  at?: StepSettings;
}

/**
 * The hyperparameters a schedule may change between steps (PyTorch's OneCycleLR changes the
 * momentum with the rate): the learning rate, Adam's betas, SGD's momentum.
 */
export interface StepSettings {
  lr: number;
  betas?: readonly [number, number];
  momentum?: number;
}

/** Common bookkeeping: parameters, their state tensors, the learning rate, the hyperparameter buffer. */
export abstract class Optimizer {
  /** Steps taken so far (PyTorch's `step` in the optimizer state; an eager step counts from step() on, unless refused). */
  stepCount = 0;
  private lrValue = 0;
  /** The tensors it updates in place, in the order their state is kept. */
  readonly params: readonly Tensor[];
  /** Per-parameter state tensors, in parameter order (Adam, AdamW: [exp_avg, exp_avg_sq]; SGD: [momentum_buffer]; Adadelta: [square_avg, acc_delta]). */
  readonly state: readonly (readonly Tensor[])[];
  protected readonly hyper: Tensor;
  // What each step uploads to `hyper`, as the shader's struct Hyper lays it out.
  private readonly hyperValues: Float32Array<ArrayBuffer>;

  constructor(
    params: readonly Tensor[],
    /** Names of the per-parameter state tensors, as PyTorch's optimizer state calls them. */
    readonly stateNames: readonly string[],
    protected readonly effect: StepEffect,
    lr: number,
  ) {
    this.lrValue = lr; // checked by the subclass, with its other hyperparameters, before this
    checkTensors('optimizer', 'params', params);
    if (!params.length) throw new TensorStateError('optimizer: no parameters given');
    const rt = params[0]!.rt;
    for (const p of params) {
      if (!p.storage || p.dtype !== 'f32') throw new TensorStateError(`optimizer: ${p.describe()} must be a realised f32 tensor`);
      p.checkWritable('optimizer'); // refused now, not at the first step
      // One step updates them all in one submit, on one device.
      if (p.rt !== rt) throw new TensorStateError(`optimizer: ${p.describe()} belongs to another runtime than ${params[0]!.describe()}`);
      // Twice in the list, it would get two updates a step (PyTorch warns of it, and will refuse).
      const first = params.find((q) => q.storage === p.storage)!;
      if (first !== p || params.indexOf(p) !== params.lastIndexOf(p)) {
        throw new TensorStateError(`optimizer: ${p.describe()} is given twice${first !== p ? ` (as ${first.describe()}, a view of the same data)` : ''}; each parameter is updated once a step`);
      }
    }
    this.params = params;
    this.state = params.map((p, i) => this.stateNames.map((s) => rt.zeros(p.shape, 'f32', { name: `${paramName(p, i)}.${s}` })));
    this.hyperValues = new Float32Array(effect.hyper.byteSize / 4);
    this.hyper = rt.zeros([this.hyperValues.length], 'f32', { name: 'optimizer hyperparameters' });
  }

  /**
   * The learning rate. It may be changed at any time: every run of a compiled step uploads the
   * current value, so the change applies from the next step. A negative or NaN value throws a
   * RangeError.
   */
  get lr(): number {
    return this.lrValue;
  }

  set lr(value: number) {
    if (!(value >= 0)) throw new RangeError(`${this.constructor.name}: invalid learning rate ${value}`);
    this.lrValue = value;
  }

  /** Frees the state tensors (moments, momentum buffers) now rather than when collected; step() is refused after it. */
  dispose(): void {
    this.disposed = true;
    for (const ts of this.state) for (const t of ts) t.dispose();
    this.hyper.dispose();
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
    this.stepCount = this.taken = 0;
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
    const rt = this.hyper.rt;
    for (const [i, p] of this.params.entries()) {
      if (!p.grad) continue;
      rt.settingGrad(p);
      p.grad = rt.zeros(p.shape, 'f32', { name: `${paramName(p, i)}.grad` });
    }
  }

  /**
   * Applies one update from `grads` (default: each parameter's `.grad`). Inside rt.compile()
   * it becomes part of the compiled step; outside, it is queued and runs once its gradients can
   * be computed, and ops, reads and writes asked for after it see its result. Await it (or
   * rt.sync()) before work of your own on the parameters' buffers. What is wrong at the call (a
   * missing gradient, a shape) throws at once, as in PyTorch; an eager step refused when its turn
   * comes (its gradients were recorded from values updated since) rejects the promise.
   */
  step(grads?: readonly Tensor[]): Promise<void> {
    const name = this.effect.name;
    this.checkNotDisposed('step()');
    const rt = this.hyper.rt;
    if (grads !== undefined) checkTensors(name, 'grads', grads);
    const gs = grads ?? this.params.map((p) => p.grad);
    if (gs.length !== this.params.length) throw new ShapeError(name, `${gs.length} gradients for ${this.params.length} parameters`);
    // What the step writes: a gradient sharing one of these buffers is copied first (one
    // dispatch may not read and write a buffer).
    const written = new Set([this.hyper, ...this.params, ...this.state.flat()].map((t) => t.storage!.buffer));
    const inputs: Tensor[] = [this.hyper];
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
    // A compiled step takes the learning rate (and momentum) of each run; an eager one those of
    // now, though it runs once its gradients are computed. The bias corrections (and SGD's first step) follow
    // the steps run before it: a step refused, now or when its turn comes, is none.
    if (rt.tracingNow) return rt.effect(this.effect, inputs, { opt: this });
    const done = rt.effect(this.effect, inputs, { opt: this, at: this.settingsNow() });
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
  // Steps that have run: what the bias corrections and SGD's first step follow (stepCount also
  // counts eager steps still queued).
  protected taken = 0;

  // reset() and loadState() set the step count now: steps still queued would count after them.
  private checkNoneQueued(what: string): void {
    if (this.queued) throw new TensorStateError(`${this.effect.name}: ${what} with ${this.queued} step${this.queued > 1 ? 's' : ''} not yet run; await ${this.queued > 1 ? 'them' : 'it'} (or rt.sync()) first`);
  }

  /**
   * @internal Sets what a cyclic schedule (OneCycleLR, CyclicLR) cycles as the momentum: SGD's
   * and RMSprop's momentum, Adam's first beta; absent for an optimizer without one.
   */
  readonly setCycledMomentum?: (m: number) => void;

  /** @internal The settings a step takes: those of now (eager: when asked for; compiled: as it runs). */
  settingsNow(): StepSettings {
    return { lr: this.lr };
  }

  /** @internal Counts a step and returns its hyperparameters (with settings `s`), by the names of the shader's struct Hyper. */
  abstract nextStep(s: StepSettings): ParamValues;

  /** @internal Uploads a step's hyperparameters (as the step runs, in its turn). */
  upload(values: ParamValues): void {
    packStruct(this.effect.hyper, values, this.hyperValues.buffer);
    this.hyper.rt.write(this.hyper, this.hyperValues, true);
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
   * stateTensors() with its shape and data length, and the step count.
   */
  loadState(tensors: HostTensorsLike, stepCount: number, source = 'optimizer state'): void {
    this.checkNotDisposed('loadState()');
    this.checkNoneQueued('loadState()');
    const given = hostTensors(tensors, `${this.effect.name}: loadState`);
    const mine = this.stateTensors();
    const problems = [mismatches(given, new Map([...mine].map(([name, t]) => [name, t.shape])), source, 'this optimizer')];
    if (!Number.isInteger(stepCount) || stepCount < 0) problems.push(`step count ${stepCount} is not a non-negative integer`);
    const why = problems.filter(Boolean).join('; ');
    if (why) throw new ShapeError(this.effect.name, `${source} does not match: ${why}`);
    for (const [name, t] of mine) t.write(given.get(name)!.data);
    this.stepCount = this.taken = stepCount;
  }
}

/** Parameter i's name in state names: its own, else param<i>. */
const paramName = (p: Tensor, i: number) => p.name ?? `param${i}`;

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

/** Throws a RangeError naming the options `kind` does not take (other optimizers' as such), before any allocation. */
function checkOptions(kind: OptimizerKind, opts: unknown): void {
  if (opts === undefined) return;
  const fail = (why: string) => new RangeError(`${DISPLAY[kind]}: ${why}`);
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
    writes({ opt }) {
      return opt.params.flatMap((_, i) => [1 + i * per, ...stateNames.map((_, s) => 1 + i * per + 2 + s)]);
    },
    beforeRun(_, { opt, at }) {
      if (at === undefined) opt.stepCount++; // a compiled step counts as it runs; an eager one, when asked for
      opt.upload(opt.nextStep(at ?? opt.settingsNow()));
    },
    encode(ctx, inputs, { opt }) {
      const hyper = inputs[0]!;
      opt.params.forEach((_, i) => {
        const [param, grad, ...state] = inputs.slice(1 + i * per, 1 + (i + 1) * per) as [Tensor, Tensor, ...Tensor[]];
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

/** Adam (PyTorch semantics: bias correction, eps outside the square root, L2 weight decay). */
export class Adam extends Optimizer {
  private betasValue: readonly [number, number];
  /** Added to the denominator, outside the square root. */
  readonly eps: number;
  /** Adam: L2 penalty added to the gradients; AdamW: the rate of the decoupled decay. */
  readonly weightDecay: number;

  /** Which of the family it is: AdamW, NAdam and RAdam differ in their step's coefficients and defaults only. */
  readonly kind: AdamKind;

  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    const kind: AdamKind = new.target === AdamW ? 'adamw' : new.target === NAdam ? 'nadam' : new.target === RAdam ? 'radam' : new.target === Adamax ? 'adamax' : 'adam';
    checkOptions(kind, opts);
    const { lr = OPTIMIZER_DEFAULTS[kind].lr!, betas = [0.9, 0.999], eps = 1e-8, weightDecay = OPTIMIZER_DEFAULTS[kind].weightDecay } = opts;
    const [b1, b2] = Array.isArray(betas) ? betas : [NaN, NaN];
    checkRanges(DISPLAY[kind], [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      ['betas[0]', b1, atLeast0(b1) && b1 < 1, 'in [0, 1)'],
      ['betas[1]', b2, atLeast0(b2) && b2 < 1, 'in [0, 1)'],
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ]);
    // PyTorch's state names: Adamax keeps the infinity norm where the others keep squares.
    super(params, ['exp_avg', kind === 'adamax' ? 'exp_inf' : 'exp_avg_sq'], ADAM_FAMILY[kind], lr);
    this.kind = kind;
    this.betasValue = [b1, b2];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  /**
   * Decay rates of the first and second moment estimates. They may be changed between steps, as
   * the learning rate (OneCycleLR cycles the first); each in [0, 1), or a RangeError.
   */
  get betas(): readonly [number, number] {
    return this.betasValue;
  }

  set betas(value: readonly [number, number]) {
    const [b1, b2] = Array.isArray(value) && value.length === 2 ? value : [NaN, NaN];
    checkRanges(DISPLAY[this.kind], [
      ['betas[0]', b1, atLeast0(b1) && b1 < 1, 'in [0, 1)'],
      ['betas[1]', b2, atLeast0(b2) && b2 < 1, 'in [0, 1)'],
    ]);
    this.betasValue = [b1, b2];
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.betas = [m, this.betasValue[1]];
  };

  override settingsNow(): StepSettings {
    return { lr: this.lr, betas: this.betasValue };
  }

  nextStep({ lr, betas = this.betasValue }: StepSettings): ParamValues {
    const t = ++this.taken;
    // β1 as of this step in the bias correction too, as PyTorch's (a cycled β1 changes it).
    const [b1, b2] = betas;
    // NOTE: float64 here, as PyTorch computes the bias corrections and 1 − β in Python floats
    // (1 − β rounded to f32 differs from 1 − (β rounded to f32) by 1e-5 relative for β2).
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    return { beta1: b1, beta2: b2, eps: this.eps, weight_decay: this.weightDecay, decay: 1, step_size: lr / bc1, bc2_sqrt: Math.sqrt(bc2), one_minus_beta1: 1 - b1, one_minus_beta2: 1 - b2, grad_coef: 0, adaptive: 1, inf_norm: 0 };
  }
}

/**
 * Adamax (PyTorch 1.13's torch.optim.Adamax): Adam with the infinity norm, u = max(β2·u, |g| + ε),
 * in place of the second moment, and p −= lr / bc1 · m / u (lr 2e-3 by default, as PyTorch's).
 */
export class Adamax extends Adam {
  override nextStep(s: StepSettings): ParamValues {
    return { ...super.nextStep(s), inf_norm: 1 };
  }
}

/** NAdam's options: Adam's (lr 2e-3 by default, as PyTorch's) and the decay of its momentum schedule. */
export interface NAdamOptions extends AdamOptions {
  /** ψ of the momentum schedule μt = β1·(1 − ½·0.96^(t·ψ)) (default 4e-3). */
  momentumDecay?: number;
}

/**
 * NAdam (PyTorch 1.13's torch.optim.NAdam): Adam with Nesterov momentum, the momentum following
 * the schedule μt = β1·(1 − ½·0.96^(t·ψ)); each step adds the gradient and the first moment, each
 * by its own coefficient of the schedule's running product (kept on the host, in f32 as PyTorch's).
 */
export class NAdam extends Adam {
  /** ψ of the momentum schedule. */
  readonly momentumDecay: number;
  /** μ1·…·μt after t steps, and t (recomputed when loadState sets another step count). */
  private muProduct = 1;
  private muSteps = 0;

  constructor(params: readonly Tensor[], opts: NAdamOptions = {}) {
    const { momentumDecay = 4e-3, ...adam } = opts ?? {};
    checkOptions('nadam', opts);
    checkRanges('NAdam', [['momentumDecay', momentumDecay, atLeast0(momentumDecay), '≥ 0']]);
    super(params, adam);
    this.momentumDecay = momentumDecay;
  }

  override nextStep(s: StepSettings): ParamValues {
    const base = super.nextStep(s); // counts the step
    const t = this.taken;
    const b1 = (s.betas ?? this.betas)[0];
    const mu = (k: number) => b1 * (1 - 0.5 * 0.96 ** (k * this.momentumDecay));
    if (this.muSteps !== t - 1) [this.muProduct, this.muSteps] = [1, 0];
    while (this.muSteps < t) this.muProduct = Math.fround(this.muProduct * mu(++this.muSteps));
    const next = this.muProduct * mu(t + 1);
    return { ...base, grad_coef: (s.lr * (1 - mu(t))) / (1 - this.muProduct), step_size: (s.lr * mu(t + 1)) / (1 - next) };
  }
}

/**
 * RAdam (PyTorch 1.13's torch.optim.RAdam): Adam whose adaptive step is scaled by the
 * rectification of its second moment's variance, and taken as plain momentum SGD (lr / bc1)
 * while that variance is not yet tractable (ρt ≤ 5, the first steps).
 */
export class RAdam extends Adam {
  override nextStep(s: StepSettings): ParamValues {
    const base = super.nextStep(s); // counts the step
    const t = this.taken;
    const [b1, b2] = s.betas ?? this.betas;
    const [bc1, bc2] = [1 - b1 ** t, 1 - b2 ** t];
    const rhoInf = 2 / (1 - b2) - 1;
    const rho = rhoInf - (2 * t * b2 ** t) / bc2;
    if (rho <= 5) return { ...base, step_size: s.lr / bc1, adaptive: 0 };
    const rect = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
    // lr·rect/bc1 · m · √bc2 / (√v + ε) = step_size · m / (√v/√bc2 + ε/√bc2).
    return { ...base, step_size: (s.lr * rect) / bc1, eps: this.eps / Math.sqrt(bc2) };
  }
}

/**
 * AdamW (PyTorch's torch.optim.AdamW): Adam whose weight decay shrinks the parameters by
 * 1 − lr·weightDecay before each update instead of adding to the gradients (default 0.01).
 */
export class AdamW extends Adam {
  override nextStep(s: StepSettings): ParamValues {
    // 1 − lr·wd in float64, as PyTorch's param.mul_(1 - lr * weight_decay).
    return { ...super.nextStep(s), weight_decay: 0, decay: 1 - s.lr * this.weightDecay };
  }
}

/**
 * SGD's hyperparameters (PyTorch's defaults but lr, which is required). Any other option (Adam's
 * `betas`, a misspelt name) is a RangeError, as is a value out of range.
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

/** SGD with optional momentum, dampening, Nesterov and L2 weight decay (PyTorch semantics). */
export class SGD extends Optimizer {
  private momentumValue: number;
  /** Dampening of the momentum. */
  readonly dampening: number;
  /** L2 penalty added to the gradients. */
  readonly weightDecay: number;
  /** Nesterov momentum. */
  readonly nesterov: boolean;

  constructor(params: readonly Tensor[], opts: SGDOptions) {
    checkOptions('sgd', opts);
    const { lr, momentum = 0, dampening = 0, weightDecay = OPTIMIZER_DEFAULTS.sgd.weightDecay, nesterov = false } = opts ?? {};
    checkRanges('SGD', [
      ['lr', lr, atLeast0(lr), '≥ 0 (SGD has no default)'],
      ['momentum', momentum, atLeast0(momentum), '≥ 0'],
      ['dampening', dampening, typeof dampening === 'number' && Number.isFinite(dampening), 'a number'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
      ['nesterov', nesterov, typeof nesterov === 'boolean', 'true or false'],
    ]);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError(`SGD: Nesterov momentum requires a momentum above 0 and zero dampening, got momentum ${momentum}, dampening ${dampening}`);
    }
    super(params, ['momentum_buffer'], sgdEffect, lr);
    this.momentumValue = momentum;
    this.dampening = dampening;
    this.weightDecay = weightDecay;
    this.nesterov = nesterov;
  }

  /**
   * Momentum factor (0: plain SGD). It may be changed between steps, as the learning rate
   * (OneCycleLR cycles it): ≥ 0, and above 0 with Nesterov, or a RangeError.
   */
  get momentum(): number {
    return this.momentumValue;
  }

  set momentum(value: number) {
    checkRanges('SGD', [['momentum', value, atLeast0(value) && (!this.nesterov || value > 0), this.nesterov ? '> 0 with Nesterov momentum' : '≥ 0']]);
    this.momentumValue = value;
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.momentum = m;
  };

  override settingsNow(): StepSettings {
    return { lr: this.lr, momentum: this.momentumValue };
  }

  // Whether the momentum buffer holds a value: PyTorch starts it as the gradient at the first
  // step with a momentum (steps without one, before one was set, leave none), and loaded state
  // holds one once a step was taken.
  private buffered = false;

  override reset(): void {
    super.reset();
    this.buffered = false;
  }

  override loadState(tensors: HostTensorsLike, stepCount: number, source?: string): void {
    super.loadState(tensors, stepCount, source);
    this.buffered = stepCount > 0;
  }

  nextStep({ lr, momentum = this.momentumValue }: StepSettings): ParamValues {
    const first = momentum !== 0 && !this.buffered ? 1 : 0;
    if (momentum !== 0) this.buffered = true;
    this.taken++;
    // 1 − dampening in float64, as PyTorch computes it.
    return { lr, momentum, one_minus_dampening: 1 - this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov ? 1 : 0, first };
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

/** Adadelta (PyTorch semantics: running averages of squared gradients and updates, L2 weight decay). */
export class Adadelta extends Optimizer {
  /** Decay rate of the running averages. */
  readonly rho: number;
  /** Added inside both square roots. */
  readonly eps: number;
  /** L2 penalty added to the gradients. */
  readonly weightDecay: number;

  constructor(params: readonly Tensor[], opts: AdadeltaOptions = {}) {
    checkOptions('adadelta', opts);
    const { lr = OPTIMIZER_DEFAULTS.adadelta.lr!, rho = 0.9, eps = 1e-6, weightDecay = OPTIMIZER_DEFAULTS.adadelta.weightDecay } = opts;
    checkRanges('Adadelta', [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      ['rho', rho, atLeast0(rho) && rho <= 1, 'in [0, 1]'],
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
    ]);
    super(params, ['square_avg', 'acc_delta'], adadeltaEffect, lr);
    this.rho = rho;
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  nextStep({ lr }: StepSettings): ParamValues {
    this.taken++;
    return { lr, rho: this.rho, one_minus_rho: 1 - this.rho, eps: this.eps, weight_decay: this.weightDecay };
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

/** RMSprop (PyTorch semantics: eps outside the square root, optional momentum and centering, L2 weight decay). */
export class RMSprop extends Optimizer {
  /** Decay rate of the running averages. */
  readonly alpha: number;
  /** Added to the denominator. */
  readonly eps: number;
  /** L2 penalty added to the gradients. */
  readonly weightDecay: number;
  /** Whether it divides by the variance (a running average of the gradients subtracted). */
  readonly centered: boolean;
  private momentumValue: number;

  constructor(params: readonly Tensor[], opts: RMSpropOptions = {}) {
    checkOptions('rmsprop', opts);
    const { lr = OPTIMIZER_DEFAULTS.rmsprop.lr!, alpha = 0.99, eps = 1e-8, weightDecay = OPTIMIZER_DEFAULTS.rmsprop.weightDecay, momentum = 0, centered = false } = opts;
    checkRanges('RMSprop', [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      ['alpha', alpha, atLeast0(alpha), '≥ 0'],
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
      ['momentum', momentum, atLeast0(momentum), '≥ 0'],
      ['centered', centered, typeof centered === 'boolean', 'true or false'],
    ]);
    // PyTorch's state names (it keeps momentum_buffer and grad_avg only where they are used).
    super(params, ['square_avg', 'momentum_buffer', 'grad_avg'], rmspropEffect, lr);
    this.alpha = alpha;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.centered = centered;
    this.momentumValue = momentum;
  }

  /** Momentum factor (0: none). It may be changed between steps, as the learning rate (OneCycleLR cycles it): ≥ 0, or a RangeError. */
  get momentum(): number {
    return this.momentumValue;
  }

  set momentum(value: number) {
    checkRanges('RMSprop', [['momentum', value, atLeast0(value), '≥ 0']]);
    this.momentumValue = value;
  }

  override readonly setCycledMomentum = (m: number): void => {
    this.momentum = m;
  };

  override settingsNow(): StepSettings {
    return { lr: this.lr, momentum: this.momentumValue };
  }

  nextStep({ lr, momentum = this.momentumValue }: StepSettings): ParamValues {
    this.taken++;
    return { lr, alpha: this.alpha, one_minus_alpha: 1 - this.alpha, eps: this.eps, weight_decay: this.weightDecay, momentum, centered: this.centered ? 1 : 0 };
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
  /** Where the sums of squared gradients start (default 0). */
  initialAccumulatorValue?: number;
}

const adagradEffect = stepEffect('adagrad', 'adagrad.wgsl', ['state_sum']);

/** Adagrad (PyTorch semantics: a running sum of squared gradients, eps outside the square root, lr decay, L2 weight decay). */
export class Adagrad extends Optimizer {
  /** The rate's decay with the step count. */
  readonly lrDecay: number;
  /** Added to the denominator. */
  readonly eps: number;
  /** L2 penalty added to the gradients. */
  readonly weightDecay: number;
  /** Where the sums start (at construction and after reset()). */
  readonly initialAccumulatorValue: number;

  constructor(params: readonly Tensor[], opts: AdagradOptions = {}) {
    checkOptions('adagrad', opts);
    const { lr = OPTIMIZER_DEFAULTS.adagrad.lr!, lrDecay = 0, eps = 1e-10, weightDecay = OPTIMIZER_DEFAULTS.adagrad.weightDecay, initialAccumulatorValue = 0 } = opts;
    checkRanges('Adagrad', [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      ['lrDecay', lrDecay, atLeast0(lrDecay), '≥ 0'],
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
      ['initialAccumulatorValue', initialAccumulatorValue, atLeast0(initialAccumulatorValue), '≥ 0'],
    ]);
    super(params, ['sum'], adagradEffect, lr);
    this.lrDecay = lrDecay;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.initialAccumulatorValue = initialAccumulatorValue;
    this.fillSums();
  }

  private fillSums(): void {
    if (this.initialAccumulatorValue) for (const [sum] of this.state) sum!.write(new Float32Array(sum!.size).fill(this.initialAccumulatorValue));
  }

  override reset(): void {
    super.reset();
    this.fillSums();
  }

  nextStep({ lr }: StepSettings): ParamValues {
    const t = ++this.taken;
    // lr / (1 + (t − 1)·lr_decay) in float64, as PyTorch computes it.
    return { clr: lr / (1 + (t - 1) * this.lrDecay), eps: this.eps, weight_decay: this.weightDecay };
  }
}
