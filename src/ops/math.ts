// Elementwise math for losses and layers of one's own (exp, log, sqrt, sigmoid, tanh, leaky ReLU,
// ELU, SELU, GELU, SiLU, softplus, Mish, hardtanh, ReLU6, hard sigmoid and swish, log-sigmoid,
// softsign, tanhshrink, PReLU, abs, clamp, maximum, minimum, pow), with PyTorch 1.13's values (see shaders/lib/math.wgsl) and gradients,
// composed of differentiable ops (so they have gradients too), from the output where PyTorch uses it.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { shown } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import type { OpDef } from '../runtime/op.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, affine, binary, binaryOp, div, factor, mul, neg, reluGradOp, scale, sub, unaryOp, type Uniforms } from './elementwise.js';
import { sumTo } from './reduce.js';
import { narrow } from './slice.js';

export const expOp = unaryOp<object>('exp', (g, { out }) => [mul(g, out)]);

// d/dx (eˣ − 1) = eˣ, taken from x (out + 1 would round away eˣ's low bits near 0: none here).
export const expm1Op = unaryOp<object>('expm1', (g, { inputs: [x] }) => [mul(g, exp(x!))]);

export const logOp = unaryOp<object>('log', (g, { inputs: [x] }) => [div(g, x!)]);

// d/dx x·log x = log x + 1 (−∞ at 0).
export const xlogxOp = unaryOp<object>('xlogx', (g, { inputs: [x] }) => [mul(g, affine(log(x!), 1, 1))]);

// g / (2y), as (g / 2) / y.
export const sqrtOp = unaryOp<object>('sqrt', (g, { out }) => [div(scale(g, 0.5), out)]);

export const sigmoidOp = unaryOp<object>('sigmoid', (g, { out }) => [mul(mul(g, affine(out, -1, 1)), out)]);

export const tanhOp = unaryOp<object>('tanh', (g, { out }) => [mul(g, affine(mul(out, out), -1, 1))]);

/** eˣ elementwise. */
export const exp = (x: Tensor): Tensor => runtimeOf('exp', { x }).record(expOp, [x], {});
/** eˣ − 1 elementwise, precise near 0 (where exp(x) − 1 would cancel), as torch.expm1. */
export const expm1 = (x: Tensor): Tensor => runtimeOf('expm1', { x }).record(expm1Op, [x], {});
/** Natural logarithm elementwise: log(0) = −∞, log of a negative number NaN. */
export const log = (x: Tensor): Tensor => runtimeOf('log', { x }).record(logOp, [x], {});
/** x·log x elementwise, 0 at x = 0 (PyTorch's xlogy(x, x)); NaN for negative x. */
export const xlogx = (x: Tensor): Tensor => runtimeOf('xlogx', { x }).record(xlogxOp, [x], {});
/** √x elementwise; NaN for negative x. */
export const sqrt = (x: Tensor): Tensor => runtimeOf('sqrt', { x }).record(sqrtOp, [x], {});
/** 1 / (1 + e⁻ˣ) elementwise, stable for any x. */
export const sigmoid = (x: Tensor): Tensor => runtimeOf('sigmoid', { x }).record(sigmoidOp, [x], {});
/** tanh x elementwise, stable for any x and precise near 0. */
export const tanh = (x: Tensor): Tensor => runtimeOf('tanh', { x }).record(tanhOp, [x], {});

// ---- abs, clamp, maximum, minimum and pow: values and gradients as PyTorch 1.13's, the
// gradients where a function has a kink (0 for abs, the bounds for clamp, ties for maximum and
// minimum) included; each gradient is composed of differentiable ops and of masks that are
// constant almost everywhere (their gradient is 0), so second derivatives are PyTorch's too ----

/**
 * clamp's bounds, and where its gradient passes: torch.clamp's from min to max (NaN: not);
 * 'inside', strictly between them (NaN: not); 'hardtanh', unless at or outside them (NaN: too).
 */
type ClampAttrs = { min: number; max: number; passes?: 'inside' | 'hardtanh' };

// The bounds as alpha and beta; an omitted one is ∓inf, which gives the same values and mask.
function clampUniforms(fn: 'clamp' | 'clamp_mask') {
  const masks = { inside: 'clamp_inside_mask', hardtanh: 'hardtanh_mask' };
  return ({ min, max, passes }: ClampAttrs): Uniforms => ({ fn: fn === 'clamp_mask' && passes ? masks[passes] : fn, alpha: min, beta: max });
}

// Masks: sign(x) for abs's gradient, where clamp's passes (1, else 0), and the share of
// maximum(a, b)'s gradient that a gets (0, ½ or 1). Piecewise constant: no gradient.
const piecewiseConstant = (_g: Tensor, { inputs }: { inputs: readonly Tensor[] }) => inputs.map(() => null);
export const signOp = unaryOp<object>('sign', piecewiseConstant);
export const clampMaskOp = unaryOp<ClampAttrs>('clamp_mask', piecewiseConstant, clampUniforms('clamp_mask'));
export const maxShareOp = binaryOp('max_share', piecewiseConstant);

// g · sgn(x), as PyTorch (so an infinite g gives NaN at 0, as there).
// x for x > 0, else slope·x (alpha); the gradient g times its slope there, piecewise constant, so
// differentiable again (zero second derivative).
export const leakyReluSlopeOp = unaryOp<{ alpha: number }>('leaky_relu_slope', piecewiseConstant);
export const leakyReluOp = unaryOp<{ alpha: number }>('leaky_relu', (g, { inputs: [x], attrs }) => [mul(g, x!.rt.record(leakyReluSlopeOp, [x!], attrs))]);

// ELU of α with input scale β (CELU's 1/α, else 1): its gradient g times its slope (1, or
// α·β·e^(βx) at and below 0); the slope's own, for second derivatives: α·β²·e^(βx) strictly below 0
// (as PyTorch's elu_double_backward, 0 at 0), the slope times β and the step function of −x
// (leaky ReLU's slope with 0).
type EluAttrs = { alpha: number; beta: number };
export const eluSlopeOp = unaryOp<EluAttrs>('elu_slope', (g, { inputs: [x], out, attrs }) => [mul(g, scale(mul(out, x!.rt.record(leakyReluSlopeOp, [neg(x!)], { alpha: 0 })), attrs.beta))]);
export const eluOp = unaryOp<EluAttrs>('elu', (g, { inputs: [x], attrs }) => [mul(g, x!.rt.record(eluSlopeOp, [x!], attrs))]);

// Softplus (alpha β, beta the threshold): its gradient g times its slope s = σ(βx) (1 above the
// threshold), whose own is β·s·(1 − s) where βx is below the threshold, else 0 (at it too, as
// PyTorch's softplus_double_backward, though s is σ(βx) there): the mask [−βx > −threshold].
type SoftplusAttrs = { alpha: number; beta: number };
export const softplusSlopeOp = unaryOp<SoftplusAttrs>('softplus_slope', (g, { inputs: [x], out, attrs }) => {
  const below = x!.rt.record(thresholdMaskOp, [scale(x!, -attrs.alpha)], { alpha: -attrs.beta, beta: 0 });
  return [mul(g, mul(mul(scale(out, attrs.alpha), affine(out, -1, 1)), below))];
});
export const softplusOp = unaryOp<SoftplusAttrs>('softplus', (g, { inputs: [x], attrs }) => [mul(g, x!.rt.record(softplusSlopeOp, [x!], attrs))]);

// Φ(x), whose gradient is the normal density φ(x) = e^(−x²/2) / √(2π).
export const normalCdfOp = unaryOp<object>('normal_cdf', (g, { inputs: [x] }) => [mul(g, scale(exp(scale(mul(x!, x!), -0.5)), 1 / Math.sqrt(2 * Math.PI)))]);

export const absOp = unaryOp<object>('abs', (g, { inputs: [x] }) => [mul(g, x!.rt.record(signOp, [x!], {}))]);

// Hard sigmoid and swish, with PyTorch's gradients: where(−3 < x < 3, g/6, 0); g times hard swish's
// slope (0 to −3, x/3 + ½ between, 1 from 3, as PyTorch since 2.7), whose own is where(−3 < x < 3, g/3, 0).
const inside3 = (x: Tensor, g: Tensor) => x.rt.record(reluGradOp, [x.rt.record(clampMaskOp, [x], { min: -3, max: 3, passes: 'inside' }), g], {});
export const hardsigmoidOp = unaryOp<object>('hardsigmoid', (g, { inputs: [x] }) => [div(inside3(x!, g), 6)]);
export const hardswishSlopeOp = unaryOp<object>('hardswish_slope', (g, { inputs: [x] }) => [div(inside3(x!, g), 3)]);
export const hardswishOp = unaryOp<object>('hardswish', (g, { inputs: [x] }) => [mul(g, x!.rt.record(hardswishSlopeOp, [x!], {}))]);

// Soft and hard shrink (alpha λ) and threshold (alpha the threshold, beta the value): g where
// their masks pass (outside [−λ, λ]; above the threshold; NaN too, as PyTorch's), else 0.
type AlphaBeta = { alpha: number; beta?: number };
const masked = (mask: OpDef<AlphaBeta>) => (g: Tensor, { inputs: [x], attrs }: { inputs: readonly Tensor[]; attrs: AlphaBeta }) => [x!.rt.record(reluGradOp, [x!.rt.record(mask, [x!], attrs), g], {})];
export const shrinkMaskOp = unaryOp<AlphaBeta>('shrink_mask', piecewiseConstant);
export const thresholdMaskOp = unaryOp<AlphaBeta>('threshold_mask', piecewiseConstant);
export const softshrinkOp = unaryOp<AlphaBeta>('softshrink', masked(shrinkMaskOp));
export const hardshrinkOp = unaryOp<AlphaBeta>('hardshrink', masked(shrinkMaskOp));
export const thresholdOp = unaryOp<AlphaBeta>('threshold', masked(thresholdMaskOp));

// g where the mask passes (min ≤ x ≤ max, or as `passes` says), else 0 (not g · 0: an infinite or
// NaN g gives 0 there, as PyTorch's where()).
export const clampOp = unaryOp<ClampAttrs>(
  'clamp',
  (g, { inputs: [x], attrs }) => [x!.rt.record(reluGradOp, [x!.rt.record(clampMaskOp, [x!], attrs), g], {})],
  clampUniforms('clamp'),
);

// The share w of g that p gets where q is the other operand: where(w > 0, g, 0) · w, so that
// where the other operand wins the gradient is 0 whatever g is (PyTorch's masked_fill).
function share(g: Tensor, p: Tensor, q: Tensor): Tensor {
  const w = p.rt.record(maxShareOp, [p, q], {});
  return mul(p.rt.record(reluGradOp, [w, g], {}), w);
}

export const maximumOp = binaryOp('maximum', (g, { inputs: [a, b], needs }) => [
  needs[0] ? sumTo(share(g, a!, b!), a!.shape) : null,
  needs[1] ? sumTo(share(g, b!, a!), b!.shape) : null,
]);

export const minimumOp = binaryOp('minimum', (g, { inputs: [a, b], needs }) => [
  needs[0] ? sumTo(share(g, b!, a!), a!.shape) : null,
  needs[1] ? sumTo(share(g, a!, b!), b!.shape) : null,
]);

type PowAttrs = { p: number };

// The exponents PyTorch computes otherwise than through powf, with unary.wgsl's function for each:
// the values differ at the edges (pow(−0, 0.5) is √−0 = −0) and are exact or nearly (x·x).
const POW_FNS = new Map<number, string>([
  [0, 'pow_one'],
  [1, 'pow_copy'],
  [2, 'pow_square'],
  [3, 'pow_cube'],
  [-1, 'pow_reciprocal'],
  [-2, 'pow_reciprocal_square'],
  [0.5, 'sqrt'],
  [-0.5, 'pow_reciprocal_sqrt'],
]);

// g · (p · x^(p−1)), and no gradient (zeros) for p = 0, as PyTorch's pow_backward.
export const powOp = unaryOp<PowAttrs>(
  'pow',
  (g, { inputs: [x], attrs: { p } }) => [p === 0 ? null : mul(g, mul(pow(x!, p - 1), p))],
  ({ p }) => ({ fn: POW_FNS.get(p) ?? 'pow', alpha: p, beta: 0 }),
);

/** x where x > 0, else negativeSlope·x, as torch.nn.functional.leaky_relu (slope 0.01 by default). */
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor =>
  runtimeOf('leakyRelu', { x }).record(leakyReluOp, [x], { alpha: factor('leakyRelu', 'the negative slope', negativeSlope) });

/** x where x > 0, else alpha·(eˣ − 1), as torch.nn.functional.elu (alpha 1 by default). */
export const elu = (x: Tensor, alpha = 1): Tensor => runtimeOf('elu', { x }).record(eluOp, [x], { alpha: factor('elu', 'alpha', alpha), beta: 1 });

/**
 * GELU, x·Φ(x) with Φ the standard normal distribution function (torch.nn.functional.gelu), or
 * with approximate 'tanh' ½x·(1 + tanh(√(2/π)·(x + 0.044715x³))). Both are computed so that the
 * far negative tail does not cancel where PyTorch's f32 formulas do (to 0 below about −5.5):
 * Φ as ½·erfc(−x/√2), and ½·(1 + tanh u) as σ(2u).
 */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  const rt = runtimeOf('gelu', { x });
  if (approximate === 'tanh') return mul(x, sigmoid(scale(add(x, scale(mul(mul(x, x), x), 0.044715)), 2 * Math.sqrt(2 / Math.PI))));
  if (approximate !== 'none') throw new TypeError(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
  return mul(x, rt.record(normalCdfOp, [x], {}));
}

/**
 * log(1 + e^(βx))/β, and x itself where βx > threshold, as torch.nn.functional.softplus (beta 1,
 * threshold 20 by default).
 */
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  const rt = runtimeOf('softplus', { x });
  if (factor('softplus', 'beta', beta) === 0) throw new RangeError('softplus: beta must not be 0 (it divides by it)');
  return rt.record(softplusOp, [x], { alpha: beta, beta: factor('softplus', 'the threshold', threshold) });
}

/** Mish, x·tanh(softplus(x)), as torch.nn.functional.mish. */
export function mish(x: Tensor): Tensor {
  runtimeOf('mish', { x }); // anything but a tensor named as mish's argument
  return mul(x, tanh(softplus(x)));
}

/** SELU, λ·elu(x, α) with PyTorch's λ ≈ 1.0507 and α ≈ 1.6733, as torch.nn.functional.selu. */
export function selu(x: Tensor): Tensor {
  runtimeOf('selu', { x });
  return scale(elu(x, 1.6732632423543772), 1.0507009873554805);
}

/** SiLU (swish), x·σ(x), as torch.nn.functional.silu. */
export function silu(x: Tensor): Tensor {
  runtimeOf('silu', { x }); // anything but a tensor named as silu's argument
  return mul(x, sigmoid(x));
}

/**
 * x limited to [minVal, maxVal] (default [−1, 1]), as torch.nn.functional.hardtanh: clamp's
 * values, and PyTorch's gradient, which passes strictly between the bounds (clamp's, at them too).
 */
export function hardtanh(x: Tensor, minVal = -1, maxVal = 1): Tensor {
  const rt = runtimeOf('hardtanh', { x });
  factor('hardtanh', 'minVal', minVal);
  factor('hardtanh', 'maxVal', maxVal);
  if (minVal > maxVal) throw new RangeError(`hardtanh: minVal ${minVal} is above maxVal ${maxVal}`);
  return rt.record(clampOp, [x], { min: minVal, max: maxVal, passes: 'hardtanh' });
}

/** min(max(x, 0), 6), as torch.nn.functional.relu6 (hardtanh's, gradient and all). */
export function relu6(x: Tensor): Tensor {
  runtimeOf('relu6', { x });
  return hardtanh(x, 0, 6);
}

/** min(max(x + 3, 0), 6) / 6, as torch.nn.functional.hardsigmoid: its gradient 1/6 strictly between −3 and 3. */
export const hardsigmoid = (x: Tensor): Tensor => runtimeOf('hardsigmoid', { x }).record(hardsigmoidOp, [x], {});

/**
 * x · min(max(x + 3, 0), 6) / 6, as torch.nn.functional.hardswish: its gradient x/3 + ½ strictly
 * between −3 and 3, 0 up to −3 and 1 from 3 (the flat sides' slopes at the kinks, as PyTorch since 2.7).
 */
export const hardswish = (x: Tensor): Tensor => runtimeOf('hardswish', { x }).record(hardswishOp, [x], {});

/** log σ(x) = −softplus(−x), as torch.nn.functional.logsigmoid: finite for any finite x. */
export function logsigmoid(x: Tensor): Tensor {
  runtimeOf('logsigmoid', { x });
  // 0 − y, not −y: at x = +∞, +0 as PyTorch's (min(x, 0) − log1p(e^−|x|)).
  return sub(0, softplus(neg(x)));
}

/** x / (1 + |x|), as torch.nn.functional.softsign. */
export function softsign(x: Tensor): Tensor {
  runtimeOf('softsign', { x });
  return div(x, affine(abs(x), 1, 1));
}

/** x − tanh(x), as torch.nn.functional.tanhshrink. */
export function tanhshrink(x: Tensor): Tensor {
  runtimeOf('tanhshrink', { x });
  return sub(x, tanh(x));
}

/**
 * x where x > 0, else weight · x, as torch.nn.functional.prelu: `weight` [1], one slope for all,
 * or [C], one per channel (dimension 1 of x). Its gradients: to x, 1 or the slope (the slope at
 * 0, as PyTorch's); to the weight, x where x ≤ 0, summed over what it is shared by.
 */
export function prelu(x: Tensor, weight: Tensor): Tensor {
  const rt = runtimeOf('prelu', { x, weight });
  const channels = x.rank >= 2 ? x.shape[1]! : 1;
  if (weight.rank !== 1 || (weight.size !== 1 && weight.size !== channels) || weight.dtype !== 'f32') {
    throw new ShapeError('prelu', `weight must be f32 [1] or [${channels}] (the channels of x ${fmt(x.shape)}), got ${fmt(weight.shape)} ${weight.dtype}`, [x.shape, weight.shape]);
  }
  // The slope along dimension 1. where(x ≤ 0, x, 0)·w − where(x > 0, −x, 0): x itself above 0, w·x
  // (−0 for −0) at or below, and masks rather than products with 0, so ±inf stays itself and
  // sends the weight no NaN.
  // A 0-d x takes its one slope 0-d: [1] would broadcast the result to [1].
  const w = x.rank === 0 ? weight.reshape() : weight.size === 1 || x.rank === 2 ? weight : weight.reshape(channels, ...new Array<number>(x.rank - 2).fill(1));
  const positive = rt.record(leakyReluSlopeOp, [x], { alpha: 0 });
  const where = (mask: Tensor, v: Tensor) => rt.record(reluGradOp, [mask, v], {});
  return sub(mul(where(affine(positive, -1, 1), x), w), where(positive, neg(x)));
}

/** x − λ above λ, x + λ below −λ, 0 between (NaN kept), as torch.nn.functional.softshrink (λ 0.5 by default); the gradient g outside [−λ, λ]. */
export function softshrink(x: Tensor, lambd = 0.5): Tensor {
  return runtimeOf('softshrink', { x }).record(softshrinkOp, [x], { alpha: shrinkLambda('softshrink', lambd) });
}

/** x outside [−λ, λ], 0 inside, as torch.nn.functional.hardshrink (λ 0.5 by default); the gradient g outside. */
export function hardshrink(x: Tensor, lambd = 0.5): Tensor {
  return runtimeOf('hardshrink', { x }).record(hardshrinkOp, [x], { alpha: shrinkLambda('hardshrink', lambd) });
}

/** `value` where x ≤ `threshold`, else x, as torch.nn.functional.threshold; the gradient g above the threshold (and at NaN). */
export function threshold(x: Tensor, threshold: number, value: number): Tensor {
  return runtimeOf('threshold', { x }).record(thresholdOp, [x], { alpha: factor('threshold', 'the threshold', threshold), beta: factor('threshold', 'the value', value) });
}

/**
 * CELU, x above 0, else α·(e^(x/α) − 1), as torch.nn.functional.celu (α 1 by default, any
 * α but 0, a negative one too); NaN's gradient passing, as PyTorch's.
 */
export function celu(x: Tensor, alpha = 1): Tensor {
  const rt = runtimeOf('celu', { x });
  if (factor('celu', 'alpha', alpha) === 0) throw new RangeError('celu: alpha must not be 0 (it divides by it)');
  // ELU of α with input scale 1/α, as PyTorch's: its branch goes by x's sign, whatever α's.
  return rt.record(eluOp, [x], { alpha, beta: 1 / alpha });
}

const shrinkLambda = (op: string, lambd: number): number => {
  if (factor(op, 'lambd', lambd) < 0) throw new RangeError(`${op}: lambd must be ≥ 0, got ${lambd}`);
  return lambd;
};

/**
 * The gated linear unit, a·σ(b) for a and b the two halves of x along `dim` (default: the
 * last), as torch.nn.functional.glu; that dimension's size must be even.
 */
export function glu(x: Tensor, dim = -1): Tensor {
  runtimeOf('glu', { x });
  const d = Number.isInteger(dim) && dim >= -x.rank && dim < x.rank ? (dim < 0 ? dim + x.rank : dim) : -1;
  if (d < 0) throw new ShapeError('glu', `dim ${shown(dim)} is not a dimension of ${fmt(x.shape)}`, [x.shape]);
  const n = x.shape[d]!;
  if (n % 2) throw new ShapeError('glu', `halves dimension ${dim} of ${fmt(x.shape)}, whose size ${n} is odd`, [x.shape]);
  return mul(narrow(x, d, 0, n / 2), sigmoid(narrow(x, d, n / 2, n / 2)));
}

/** |x| elementwise; its gradient is g · sign(x), 0 at x = 0 (as PyTorch). */
export const abs = (x: Tensor): Tensor => runtimeOf('abs', { x }).record(absOp, [x], {});

/**
 * x limited to [min, max] elementwise, as torch.clamp: either bound may be left out (undefined),
 * not both; where min > max the result is max; NaN stays NaN, and a NaN bound makes every
 * value NaN. The gradient passes where min ≤ x ≤ max (bounds included) and is 0 elsewhere.
 */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  const rt = runtimeOf('clamp', { x });
  if (min !== undefined) factor('clamp', 'min', min);
  if (max !== undefined) factor('clamp', 'max', max);
  if (min === undefined && max === undefined) throw new TypeError('clamp: at least one of min and max must be a number');
  return rt.record(clampOp, [x], { min: min ?? -Infinity, max: max ?? Infinity });
}

/**
 * The larger of a and b elementwise, broadcasting (torch.maximum); either may be a number. NaN
 * if either is NaN. The gradient goes to the larger, and is split in halves at a tie.
 */
export const maximum = (a: Tensor | number, b: Tensor | number): Tensor => binary(maximumOp, a, b);
/**
 * The smaller of a and b elementwise, broadcasting (torch.minimum); either may be a number. NaN
 * if either is NaN. The gradient goes to the smaller, and is split in halves at a tie.
 */
export const minimum = (a: Tensor | number, b: Tensor | number): Tensor => binary(minimumOp, a, b);

/**
 * x to the power p (a number) elementwise, with torch.pow's values at the edges: x^0 = 1 (NaN x
 * too), 0^p = inf for p < 0, negative x gives NaN unless p is an integer (then the sign of x^p
 * is right); x·x for p = 2 and x·x·x for p = 3, exactly as PyTorch. Other exponents are within
 * about (10 + 4|p|) ulp (PyTorch's powf within 1): 2^(p·log2|x|) in f32. Gradient p · x^(p−1),
 * and 0 for p = 0.
 */
export const pow = (x: Tensor, p: number): Tensor => runtimeOf('pow', { x }).record(powOp, [x], { p: factor('pow', 'the exponent p', p) });
