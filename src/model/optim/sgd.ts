// SGD with momentum, dampening, Nesterov and weight decay (shaders/sgd.wgsl), as PyTorch 1.13's.
import type { ParamValues } from '../../runtime/shaders.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { HostTensors } from '../host-tensors.js';
import { atLeast0, checkOptions, checkRanges, OPTIMIZER_DEFAULTS } from './kinds.js';
import { Optimizer, type ParamGroupOptions, type Params, type Resolve } from './optimizer.js';
import { paramName } from './params.js';
import { stepEffect } from './step-effect.js';

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
  constructor(params: Params<SGDOptions>, opts: SGDOptions);
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

  override readonly setCycledMomentum = (m: number, groups: number): void => {
    this.setEach(() => ({ momentum: m }), groups);
  };

  // Whether each parameter's momentum buffer holds a value: PyTorch starts one as the gradient at
  // the parameter's first step with a momentum (steps without one, before one was set, leave
  // none). Saved beside the buffers, whose zeros cannot tell PyTorch's None from a buffer of
  // gradients all 0 so far (a blank input's), as `<name>.momentum_buffer_held`, 1 or 0: tensors
  // a step writes as it runs (where its flag changes), so that state saved with steps still
  // queued holds the flags of those steps, as it holds their buffers.
  private buffered: boolean[] = [];
  private readonly held: Tensor[] = [];
  // What each of `held` holds, as written.
  private readonly heldValues: number[] = [];
  private readonly flag = new Float32Array(1);

  override reset(): void {
    super.reset();
    this.buffered = [];
    this.held.forEach((_, i) => this.writeHeld(i, false));
  }

  private heldOf(i: number): Tensor {
    if (!this.held[i]) {
      this.heldValues[i] = this.buffered[i] ? 1 : 0;
      this.held[i] = this.rt.tensor(Float32Array.of(this.heldValues[i]), [], { name: `${paramName(this.params[i]!, i)}.momentum_buffer_held` });
    }
    return this.held[i];
  }

  // As a step runs (submitted), or as state is loaded or reset.
  private writeHeld(i: number, on: boolean, submitted = false): void {
    const t = this.heldOf(i);
    if (this.heldValues[i] === (on ? 1 : 0)) return;
    this.heldValues[i] = this.flag[0] = on ? 1 : 0;
    if (submitted) this.rt.write(t, this.flag, true);
    else t.write(this.flag);
  }

  protected override hostWritten(updated: readonly number[]): Tensor[] {
    return updated.map((i) => this.heldOf(i));
  }

  protected override stepped(updated: readonly number[]): void {
    for (const i of updated) this.writeHeld(i, this.buffered[i] ?? false, true);
  }

  protected override extraState(): Map<string, Tensor> {
    return new Map(this.params.map((p, i) => [`${paramName(p, i)}.momentum_buffer_held`, this.heldOf(i)]));
  }

  protected override loaded(given: HostTensors): void {
    const counts = this.paramStepCounts;
    const held = this.params.map((p, i) => given.get(`${paramName(p, i)}.momentum_buffer_held`));
    if (held.every((t) => t !== undefined)) {
      this.buffered = held.map((t, i) => t.data[0] !== 0 && counts[i]! > 0);
    } else {
      // State saved without the flags (by an earlier version): a buffer where those of the
      // parameters of its group that took as many steps are not all 0.
      const nonzero = this.params.map((p, i) => given.get(`${paramName(p, i)}.momentum_buffer`)!.data.some((v) => v !== 0));
      const alike = (i: number, j: number) => this.groupOf[i] === this.groupOf[j] && counts[i] === counts[j];
      this.buffered = this.params.map((_, i) => counts[i]! > 0 && nonzero.some((n, j) => n && alike(i, j)));
    }
    // The tensors as loaded (given flags were written as given): as read here.
    this.params.forEach((_, i) => {
      this.heldValues[i] = given.has(`${paramName(this.params[i]!, i)}.momentum_buffer_held`) ? (held[i]!.data[0] !== 0 ? 1 : 0) : (this.heldValues[i] ?? 0);
      this.writeHeld(i, this.buffered[i]!);
    });
  }

  override dispose(): void {
    super.dispose();
    this.held.forEach((t) => t.dispose());
  }

  protected paramStep(h: Required<SGDOptions>, _t: number, i: number): ParamValues {
    const first = h.momentum !== 0 && !this.buffered[i] ? 1 : 0;
    if (h.momentum !== 0) this.buffered[i] = true;
    // 1 − dampening in float64, as PyTorch computes it.
    return { lr: h.lr, momentum: h.momentum, one_minus_dampening: 1 - h.dampening, weight_decay: h.weightDecay, nesterov: h.nesterov ? 1 : 0, first };
  }
}
