// Gradient clipping by the joint L2 norm, as torch.nn.utils.clip_grad_norm_ (norm_type 2), and
// by value, as clip_grad_value_.
import { checkTensors } from '../runtime/args.js';
import { gradientTargets, markGradient } from '../runtime/autograd.js';
import { shown } from '../runtime/options.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, div, mul } from '../ops/elementwise.js';
import { clamp, sqrt } from '../ops/math.js';
import { sum } from '../ops/reduce.js';

/**
 * The gradients scaled together so that their joint L2 norm is at most `maxNorm`, and that norm,
 * as torch.nn.utils.clip_grad_norm_ (norm_type 2): each times min(1, maxNorm / (norm + 1e-6)),
 * computed on the GPU (nothing is read back, so it fits in a compiled step:
 * `opt.step(clipGradNorm(grad(loss, params), 1).grads)`). As PyTorch's, the factor is detached:
 * no gradient flows through the norm.
 */
export function clipGradNorm(grads: readonly Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  checkTensors('clipGradNorm', 'grads', grads);
  if (!grads.length) throw new RangeError('clipGradNorm: no gradients given');
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be a number ≥ 0, got ${shown(maxNorm)}`);
  const norm = sqrt(grads.map((g) => sum(mul(g, g))).reduce((a, b) => add(a, b)));
  const factor = clamp(div(maxNorm, add(norm.detach(), 1e-6)), undefined, 1);
  const clipped = grads.map((g) => mul(g, factor));
  clipped.forEach((c, i) => markGradient(c, gradientTargets(grads[i]!)));
  // The norm rides with the gradients, as a loss does (Tensor.companions): a step that takes
  // them computes it before updating what it is computed from, so it can be read after.
  if (!norm.rt.tracingNow) for (const c of clipped) (c.companions ??= []).push(norm);
  return { grads: clipped, norm };
}

/**
 * Each gradient clamped to [−clipValue, clipValue], as torch.nn.utils.clip_grad_value_ (NaN
 * stays NaN), on the GPU: `opt.step(clipGradValue(grad(loss, params), 0.5))`.
 */
export function clipGradValue(grads: readonly Tensor[], clipValue: number): Tensor[] {
  checkTensors('clipGradValue', 'grads', grads);
  if (typeof clipValue !== 'number' || !(clipValue >= 0) || clipValue === Infinity) throw new RangeError(`clipGradValue: clipValue must be a finite number ≥ 0, got ${shown(clipValue)}`);
  return grads.map((g) => {
    const clipped = clamp(g, -clipValue, clipValue);
    markGradient(clipped, gradientTargets(g));
    return clipped;
  });
}
