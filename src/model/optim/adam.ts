// Adam and the optimizers that are Adam with other step coefficients: AdamW, NAdam, RAdam and
// Adamax, all running shaders/adam.wgsl. Formulas follow PyTorch 1.13's.
import { shown } from '../../runtime/options.js';
import type { ParamValues } from '../../runtime/shaders.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { HostTensors } from '../host-tensors.js';
import { atLeast0, checkOptions, checkRanges, OPTIMIZER_DEFAULTS } from './kinds.js';
import { Optimizer, type ParamGroup, type Params, type Resolve } from './optimizer.js';
import { paramName } from './params.js';
import { stepEffect } from './step-effect.js';

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
    if (!Array.isArray(betas) || betas.length !== 2) throw new RangeError(`${who}: betas must be a pair [β1, β2], got ${shown(betas)}${Array.isArray(betas) ? ` of ${betas.length}` : ''}`);
    const [b1, b2] = betas;
    checkRanges(who, [
      ['lr', lr, atLeast0(lr), '≥ 0'],
      betaRange('betas[0]', b1),
      betaRange('betas[1]', b2),
      ['eps', eps, atLeast0(eps), '≥ 0'],
      ['weightDecay', weightDecay, atLeast0(weightDecay), '≥ 0'],
      ['momentumDecay', momentumDecay, atLeast0(momentumDecay), '≥ 0'],
    ]);
    // Frozen, as PyTorch's tuple: changed by assigning a new pair, which is checked, not in place.
    return { lr, betas: Object.freeze([b1, b2] as const), eps, weightDecay, ...(kind === 'nadam' ? { momentumDecay } : {}) };
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

  override readonly setCycledMomentum = (m: number, groups: number): void => {
    this.setEach((h) => ({ betas: [m, h.betas[1]] }), groups);
  };

  protected paramStep(h: AdamHyperparameters, t: number, _i: number): ParamValues {
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
  protected override paramStep(h: AdamHyperparameters, t: number, i: number): ParamValues {
    return { ...super.paramStep(h, t, i), inf_norm: 1 };
  }
}

/**
 * NAdam (PyTorch 1.13's torch.optim.NAdam): Adam with Nesterov momentum, the momentum following
 * the schedule μt = β1·(1 − ½·0.96^(t·ψ)); each step adds the gradient and the first moment, each
 * by its own coefficient of the schedule's running product (kept on the host, in f32 as PyTorch's).
 */
export class NAdam extends Adam {
  // Each parameter's μ1·…·μt after its t steps, and t (recomputed from the current β1 where loaded state lacks it).
  private readonly mu: ({ product: number; steps: number } | undefined)[] = [];
  // Each parameter's product as a tensor, written with each of its steps: what saved state
  // carries, as PyTorch's per-parameter mu_product, since β1 may change between steps (OneCycleLR cycles it).
  private readonly products: Tensor[] = [];
  private readonly scratch = new Float32Array(1);

  constructor(params: Params<NAdamOptions>, opts: NAdamOptions = {}) {
    super(params, opts);
  }

  /** ψ of the momentum schedule (the first group's). */
  get momentumDecay(): number {
    return this.first.momentumDecay!;
  }

  protected override paramStep(h: AdamHyperparameters, t: number, i: number): ParamValues {
    const base = super.paramStep(h, t, i);
    const mu = (k: number) => h.betas[0] * (1 - 0.5 * 0.96 ** (k * h.momentumDecay!));
    const run = this.advanced(i, h, t);
    const next = run.product * mu(t + 1);
    return { ...base, grad_coef: (h.lr * (1 - mu(t))) / (1 - run.product), step_size: (h.lr * mu(t + 1)) / (1 - next) };
  }

  // Parameter i's running product taken to t steps: on from t − 1, or from the start with β1 as now.
  private advanced(i: number, h: AdamHyperparameters, t: number): { product: number; steps: number } {
    let run = this.mu[i];
    if (!run || run.steps !== t - 1) run = this.mu[i] = { product: 1, steps: 0 };
    while (run.steps < t) run.product = Math.fround(run.product * h.betas[0] * (1 - 0.5 * 0.96 ** (++run.steps * h.momentumDecay!)));
    return run;
  }

  protected override hostWritten(updated: readonly number[]): Tensor[] {
    return updated.map((i) => this.productOf(i));
  }

  protected override stepped(updated: readonly number[]): void {
    for (const i of updated) {
      this.scratch[0] = this.mu[i]!.product;
      this.rt.write(this.productOf(i), this.scratch, true);
    }
  }

  // Parameter i's product tensor, made as first asked for (a step, or saving before any).
  private productOf(i: number): Tensor {
    return (this.products[i] ??= this.rt.tensor(Float32Array.of(this.mu[i]?.product ?? 1), [], { name: `${paramName(this.params[i]!, i)}.mu_product` }));
  }

  protected override extraState(): Map<string, Tensor> {
    return new Map(this.params.map((p, i) => [`${paramName(p, i)}.mu_product`, this.productOf(i)]));
  }

  protected override loaded(given: HostTensors): void {
    const steps = this.paramStepCounts;
    this.params.forEach((p, i) => {
      const saved = given.get(`${paramName(p, i)}.mu_product`);
      // State saved without it (by an earlier version): rebuilt with β1 as now, exact where it never changed.
      this.mu[i] = saved ? { product: saved.data[0]!, steps: steps[i]! } : undefined;
      const product = saved ? saved.data[0]! : this.advanced(i, this.paramGroups[this.groupOf[i]!] as AdamHyperparameters & ParamGroup, steps[i]!).product;
      this.productOf(i).write(Float32Array.of(product));
    });
  }

  override reset(): void {
    super.reset();
    this.mu.length = 0;
    this.products.forEach((t) => t.write(Float32Array.of(1))); // forEach: made only as asked for
  }

  override dispose(): void {
    super.dispose();
    this.products.forEach((t) => t.dispose());
  }
}

/**
 * RAdam (PyTorch 1.13's torch.optim.RAdam): Adam whose adaptive step is scaled by the
 * rectification of its second moment's variance, and taken as plain momentum SGD (lr / bc1)
 * while that variance is not yet tractable (ρt ≤ 5, the first steps).
 */
export class RAdam extends Adam {
  protected override paramStep(h: AdamHyperparameters, t: number, i: number): ParamValues {
    const base = super.paramStep(h, t, i);
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
  protected override paramStep(h: AdamHyperparameters, t: number, i: number): ParamValues {
    // 1 − lr·wd in float64, as PyTorch's param.mul_(1 - lr * weight_decay).
    return { ...super.paramStep(h, t, i), weight_decay: 0, decay: 1 - h.lr * h.weightDecay };
  }
}
