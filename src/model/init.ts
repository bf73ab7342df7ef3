// Weight initialisations as torch.nn.init's (PyTorch 1.13): each fills a tensor in place (a
// write, in queue order) with values drawn from a TorchGenerator as PyTorch's CPU generator
// draws them, so that a seed gives PyTorch's values (`init.kaimingNormal(w, { generator:
// rt.manualSeed(0) })` is `torch.manual_seed(0); nn.init.kaiming_normal_(w)`), and returns it.
import { TensorStateError } from '../runtime/errors.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { TorchGenerator } from './random.js';

/** The generator to draw from: `rt.generator` (see rt.manualSeed) unless given. */
export interface InitOptions {
  generator?: TorchGenerator;
}

/** The activations calculateGain knows, as torch.nn.init.calculate_gain's names. */
export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** Options of the Kaiming (He) initialisations, as kaiming_uniform_'s and kaiming_normal_'s. */
export interface KaimingOptions extends InitOptions {
  /** The negative slope of the leaky ReLU that follows (default 0). */
  a?: number;
  /** 'fan_in' (default: the forward pass's variance kept) or 'fan_out' (the backward pass's). */
  mode?: 'fan_in' | 'fan_out';
  /** The activation that follows (default 'leaky_relu', with `a`). */
  nonlinearity?: Nonlinearity;
}

const LINEAR: readonly string[] = ['linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d', 'conv_transpose3d', 'sigmoid'];

/**
 * The gain torch.nn.init.calculate_gain recommends for an activation: 1 for linear ones and the
 * sigmoid, 5/3 for tanh, √2 for ReLU, √(2/(1 + slope²)) for a leaky ReLU (slope `param`, 0.01
 * by default), 3/4 for SELU.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  if (LINEAR.includes(nonlinearity)) return 1;
  if (nonlinearity === 'tanh') return 5.0 / 3;
  if (nonlinearity === 'relu') return Math.sqrt(2.0);
  if (nonlinearity === 'selu') return 3.0 / 4;
  if (nonlinearity === 'leaky_relu') {
    if (param !== undefined && (typeof param !== 'number' || !Number.isFinite(param))) throw new RangeError(`calculateGain: the negative slope must be a number, got ${shown(param)}`);
    return Math.sqrt(2.0 / (1 + (param ?? 0.01) ** 2));
  }
  throw new RangeError(`calculateGain: unknown nonlinearity ${shown(nonlinearity)} (it takes ${[...LINEAR, 'tanh', 'relu', 'leaky_relu', 'selu'].join(', ')})`);
}

/**
 * fan_in and fan_out of a weight, as torch.nn.init computes them: its second and first sizes,
 * each times the product of the sizes after them (a convolution's kernel); two dimensions at
 * least.
 */
export function fans(t: Tensor, op = 'fans'): { fanIn: number; fanOut: number } {
  if (t.rank < 2) throw new TensorStateError(`${op}: fan in and fan out need a tensor of two dimensions or more, got ${t.describe()}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

/** Checks the tensor and options of an initialisation; returns its generator. */
function prepared(op: string, t: Tensor, opts: object | undefined, names: readonly string[]): TorchGenerator {
  if (!(t instanceof Tensor)) throw new TypeError(`init.${op}: the tensor must be a Tensor, got ${shown(t)}`);
  if (t.dtype !== 'f32') throw new TensorStateError(`init.${op}: ${t.describe()} is not f32`);
  checkOptionNames(opts ?? {}, ['generator', ...names], (why) => new RangeError(`init.${op}: ${why}`));
  const generator = (opts as InitOptions | undefined)?.generator ?? t.rt.generator;
  if (!(generator instanceof TorchGenerator)) throw new TypeError(`init.${op}: generator must be a TorchGenerator, got ${shown(generator)}`);
  return generator;
}

const finite = (op: string, name: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`init.${op}: ${name} must be a finite number, got ${shown(v)}`);
  return v;
};

const drawn = (t: Tensor, fill: (out: Float32Array) => void): Tensor => {
  const out = new Float32Array(t.size);
  fill(out);
  t.write(out);
  return t;
};

/** Uniform values in [a, b), as uniform_ (default [0, 1)). */
function uniform(t: Tensor, a = 0, b = 1, opts?: InitOptions): Tensor {
  const g = prepared('uniform', t, opts, []);
  if (finite('uniform', 'a', a) > finite('uniform', 'b', b)) throw new RangeError(`init.uniform: a ${a} is above b ${b}`);
  return drawn(t, (out) => g.uniform(out, a, b));
}

/** Normal values of mean `mean` and standard deviation `std`, as normal_ (default 0 and 1). */
function normal(t: Tensor, mean = 0, std = 1, opts?: InitOptions): Tensor {
  const g = prepared('normal', t, opts, []);
  finite('normal', 'mean', mean);
  if (finite('normal', 'std', std) < 0) throw new RangeError(`init.normal: std must be ≥ 0, got ${std}`);
  return drawn(t, (out) => g.normal(out, mean, std));
}

/** Every value `value`, as constant_. */
function constant(t: Tensor, value: number): Tensor {
  prepared('constant', t, undefined, []);
  if (typeof value !== 'number') throw new RangeError(`init.constant: value must be a number, got ${shown(value)}`);
  return drawn(t, (out) => out.fill(value));
}

/** The identity of a 2-D tensor (ones on the diagonal of a non-square one too), as eye_. */
function eye(t: Tensor): Tensor {
  prepared('eye', t, undefined, []);
  if (t.rank !== 2) throw new TensorStateError(`init.eye: needs a 2-D tensor, got ${t.describe()} ${fmt(t.shape)}`);
  const [rows, cols] = t.shape as [number, number];
  return drawn(t, (out) => {
    for (let i = 0; i < Math.min(rows, cols); i++) out[i * cols + i] = 1;
  });
}

/** Glorot's uniform initialisation: bound gain·√(6/(fan_in + fan_out)), as xavier_uniform_. */
function xavierUniform(t: Tensor, gain = 1, opts?: InitOptions): Tensor {
  const g = prepared('xavierUniform', t, opts, []);
  const { fanIn, fanOut } = fans(t, 'init.xavierUniform');
  // In PyTorch's order of float64 operations.
  const std = finite('xavierUniform', 'gain', gain) * Math.sqrt(2.0 / (fanIn + fanOut));
  const bound = Math.sqrt(3.0) * std;
  return drawn(t, (out) => g.uniform(out, -bound, bound));
}

/** Glorot's normal initialisation: std gain·√(2/(fan_in + fan_out)), as xavier_normal_. */
function xavierNormal(t: Tensor, gain = 1, opts?: InitOptions): Tensor {
  const g = prepared('xavierNormal', t, opts, []);
  const { fanIn, fanOut } = fans(t, 'init.xavierNormal');
  const std = finite('xavierNormal', 'gain', gain) * Math.sqrt(2.0 / (fanIn + fanOut));
  return drawn(t, (out) => g.normal(out, 0, std));
}

/** He's std for a Kaiming initialisation: gain / √fan. */
function kaimingStd(op: string, t: Tensor, opts: KaimingOptions | undefined): number {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = opts ?? {};
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new RangeError(`init.${op}: mode must be 'fan_in' or 'fan_out', got ${shown(mode)}`);
  const { fanIn, fanOut } = fans(t, `init.${op}`);
  return calculateGain(nonlinearity, finite(op, 'a', a)) / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
}

/** He's uniform initialisation: bound √3·gain/√fan, as kaiming_uniform_ (a leaky ReLU of slope 0, fan in, by default). */
function kaimingUniform(t: Tensor, opts?: KaimingOptions): Tensor {
  const g = prepared('kaimingUniform', t, opts, ['a', 'mode', 'nonlinearity']);
  const bound = Math.sqrt(3.0) * kaimingStd('kaimingUniform', t, opts);
  return drawn(t, (out) => g.uniform(out, -bound, bound));
}

/** He's normal initialisation: std gain/√fan, as kaiming_normal_. */
function kaimingNormal(t: Tensor, opts?: KaimingOptions): Tensor {
  const g = prepared('kaimingNormal', t, opts, ['a', 'mode', 'nonlinearity']);
  const std = kaimingStd('kaimingNormal', t, opts);
  return drawn(t, (out) => g.normal(out, 0, std));
}

/** erf in float64: its Maclaurin series below 4 (within 1e-10 there), ±1 beyond (within 2e-8, below f32's spacing at 1). */
function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** erf⁻¹ in float64, for y in (−1, 1): Giles' single-precision approximation, then Newton's steps on erf. */
function erfinv(y: number): number {
  // ±1: ±∞, as PyTorch's (which trunc_normal_'s clamp then takes to a bound); not the 0/0 of a Newton step.
  if (Math.abs(y) === 1) return y * Infinity;
  const w = -Math.log((1 - y) * (1 + y));
  let x: number;
  if (w < 5) {
    const v = w - 2.5;
    x = [2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941].reduce((p, c) => p * v + c) * y;
  } else {
    const v = Math.sqrt(w) - 3;
    x = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682].reduce((p, c) => p * v + c) * y;
  }
  for (let i = 0; i < 3; i++) x -= (erf(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
  return x;
}

/**
 * Normal values of mean `mean` and standard deviation `std` cut to [a, b], as trunc_normal_
 * (defaults 0, 1, −2 and 2): uniform draws between the bounds' quantiles, mapped back through
 * erf⁻¹ (in float64 here, where PyTorch's is f32: within a few ulp of its values).
 */
function truncNormal(t: Tensor, mean = 0, std = 1, a = -2, b = 2, opts?: InitOptions): Tensor {
  const g = prepared('truncNormal', t, opts, []);
  for (const [name, v] of [['mean', mean], ['std', std], ['a', a], ['b', b]] as const) finite('truncNormal', name, v);
  if (!(std > 0) || !(a < b)) throw new RangeError(`init.truncNormal: needs std > 0 and a < b, got std ${std}, a ${a}, b ${b}`);
  // PyTorch's steps, each rounded to f32 as its float tensor ops round them.
  const cdf = (x: number) => (1 + erf(x / Math.sqrt(2))) / 2;
  const [l, u] = [cdf((a - mean) / std), cdf((b - mean) / std)];
  const f = Math.fround;
  const [scaleBy, shift, lo, hi] = [f(std * Math.sqrt(2)), f(mean), f(a), f(b)];
  return drawn(t, (out) => {
    g.uniform(out, 2 * l - 1, 2 * u - 1);
    for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.max(f(f(f(erfinv(out[i]!)) * scaleBy) + shift), lo), hi);
  });
}

/**
 * A (semi-)orthogonal matrix times `gain`, as orthogonal_: the tensor as [rows, the rest], its
 * rows (or columns, the fewer) orthonormal: the Q of normal draws, as PyTorch's QR with R's
 * diagonal made positive (here by Gram–Schmidt in float64, twice, which gives that Q).
 */
function orthogonal(t: Tensor, gain = 1, opts?: InitOptions): Tensor {
  const g = prepared('orthogonal', t, opts, []);
  if (t.rank < 2) throw new TensorStateError(`init.orthogonal: needs a tensor of two dimensions or more, got ${t.describe()}`);
  finite('orthogonal', 'gain', gain);
  const rows = t.shape[0]!;
  const cols = t.size / rows;
  const draws = g.normal(new Float32Array(rows * cols));
  // The taller way round: m ≥ n columns to orthonormalise.
  const wide = rows < cols;
  const [m, n] = wide ? [cols, rows] : [rows, cols];
  const at = (i: number, j: number) => (wide ? draws[j * cols + i]! : draws[i * cols + j]!);
  const q = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => at(i, j)));
  for (let j = 0; j < n; j++) {
    const v = q[j]!;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        const u = q[k]!;
        let d = 0;
        for (let i = 0; i < m; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < m; i++) v[i]! -= d * u[i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += v[i]! * v[i]!;
    for (let i = 0; i < m; i++) v[i]! /= Math.sqrt(norm);
  }
  return drawn(t, (out) => {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[wide ? j * cols + i : i * cols + j] = q[j]![i]! * gain;
  });
}

/** torch.nn.init's initialisations, each filling a tensor in place and returning it. */
export const init = {
  uniform,
  normal,
  constant,
  zeros: (t: Tensor): Tensor => constant(t, 0),
  ones: (t: Tensor): Tensor => constant(t, 1),
  eye,
  xavierUniform,
  xavierNormal,
  kaimingUniform,
  kaimingNormal,
  truncNormal,
  orthogonal,
  calculateGain,
  fans: (t: Tensor) => fans(t),
};
