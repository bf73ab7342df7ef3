// Random tensors drawn on the GPU (shaders/random.wgsl), and the stream they come from. Each draw
// takes a key (the generator's seed, the draw's number): eager, it is fixed when the op is
// recorded, so a value computed again (for a gradient) is the same; in a compiled program, it
// is uploaded before each run, so every run draws anew, as every step in PyTorch does. Dropout
// (./dropout.ts) draws its masks so, and the randomized leaky ReLU its slopes.
import { checkRuntime, runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineEffect, defineOp } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { checkShape, grid1d, type Shape } from '../runtime/shape.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../runtime/tensor.js';
import { add, affine, mul } from './elementwise.js';
import { leakyRelu, thresholdMaskOp } from './math.js';

export const WG = 64;

/**
 * The random stream of dropout masks and random tensors, as torch.Generator's seed and offset:
 * each draw takes the key (seed, offset) and advances the offset by one. Setting `offset`
 * replays a stream from there (e.g. when training resumes).
 */
export class Generator {
  /** The number of the next draw. */
  offset = 0;
  /** The seed, a 32-bit unsigned integer. */
  readonly seed: number;

  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`Generator: the seed must be an integer in [0, 2^32), got ${shown(seed)}`);
    this.seed = seed;
  }

  /** The key of the next draw: [seed, offset mod 2^32]. */
  next(): Uint32Array<ArrayBuffer> {
    return Uint32Array.of(this.seed, this.offset++ >>> 0);
  }
}

/** Uploads the next draw's key before every run of the program that holds it (writes nothing on the GPU). */
const nextKeyEffect = defineEffect<{ generator: Generator }>({
  name: 'random_key',
  writes: () => [],
  beforeRun([key], { generator }) {
    key!.rt.write(key!, generator.next(), true);
  },
  encode() {},
});

const defaultGenerators = new WeakMap<Runtime, Generator>();

/**
 * The key (u32 [2]) of the next draw from `generator` (default: the runtime's, of seed 0):
 * drawn now, or inside a compiled function before each run.
 */
export function drawKey(rt: Runtime, generator: Generator | undefined): Tensor {
  let gen = generator ?? defaultGenerators.get(rt);
  if (!gen) defaultGenerators.set(rt, (gen = new Generator()));
  if (!rt.tracingNow) return rt.tensor(gen.next(), [2], { name: 'random key' });
  const key = rt.zeros([2], 'u32', { name: 'random key' });
  void rt.effect(nextKeyEffect, [key], { generator: gen });
  return key;
}

/** What a random tensor records: its shape, its distribution and that distribution's shift and scale. */
export interface RandomAttrs {
  shape: Shape;
  dist: 'uniform' | 'normal';
  shift: number;
  scale: number;
}

/** A random tensor of `shape` from the key (u32 [2]), as random.wgsl's entry `dist` draws it. */
export const randomOp = defineOp<RandomAttrs>({
  name: 'random',
  infer: (_, { shape }) => ({ shape, dtype: 'f32' }),
  encode(ctx, [key], out, { dist, shift, scale }) {
    ctx.dispatch({
      shader: 'random.wgsl',
      entry: dist === 'uniform' ? 'uniforms' : 'normals',
      constants: { WG },
      params: { n: out.size, threshold: 0, scale, shift },
      bindings: { key: key!, out },
      workgroups: grid1d(Math.ceil(out.size / 2), WG),
    });
  },
  // The key is integers: no gradient flows to it.
  backward: () => [null],
});

/** Options of the random tensors. */
export interface RandomTensorOptions {
  /** The stream drawn from (default: one per runtime, of seed 0). */
  generator?: Generator;
}

function random(op: string, rt: Runtime, shape: Shape, opts: object, names: readonly string[], dist: RandomAttrs['dist'], shift: number, spread: number): Tensor {
  const fail = (why: string) => new ShapeError(op, why, [shape]);
  checkShape(shape, op);
  checkOptionNames(opts, ['generator', ...names], fail);
  const { generator } = opts as RandomTensorOptions;
  if (generator !== undefined && !(generator instanceof Generator)) throw fail(`generator must be a Generator, got ${shown(generator)}`);
  return rt.record(randomOp, [drawKey(rt, generator)], { shape: [...shape], dist, shift, scale: spread });
}

/**
 * A tensor of values uniform from `low` to `high` (default 0 and 1), drawn on the GPU: eager, at
 * each call; inside a compiled function, anew at each run (as torch.rand in a training step).
 * Not PyTorch's numbers (its CPU generator draws on the host: rt.rand), but a counter-based
 * stream of their distribution.
 */
export function randomUniform(rt: Runtime, shape: Shape, opts: RandomTensorOptions & { low?: number; high?: number } = {}): Tensor {
  checkRuntime('randomUniform', rt);
  const { low = 0, high = 1 } = opts;
  if (typeof low !== 'number' || typeof high !== 'number' || !Number.isFinite(low) || !Number.isFinite(high) || low > high) {
    throw new ShapeError('randomUniform', `low and high must be finite numbers, low ≤ high, got ${shown(low)} and ${shown(high)}`, [shape]);
  }
  return random('randomUniform', rt, shape, opts, ['low', 'high'], 'uniform', low, high - low);
}

/**
 * A tensor of normal values of mean `mean` and standard deviation `std` (default 0 and 1), drawn
 * on the GPU as randomUniform's are (Box–Muller): the noise of a VAE's reparameterisation,
 * `add(mu, mul(exp(scale(logVar, 0.5)), randomNormal(rt, mu.shape)))`, new at every step.
 */
export function randomNormal(rt: Runtime, shape: Shape, opts: RandomTensorOptions & { mean?: number; std?: number } = {}): Tensor {
  checkRuntime('randomNormal', rt);
  const { mean = 0, std = 1 } = opts;
  if (typeof mean !== 'number' || typeof std !== 'number' || !Number.isFinite(mean) || !(std >= 0) || !Number.isFinite(std)) {
    throw new ShapeError('randomNormal', `mean must be a finite number and std one ≥ 0, got ${shown(mean)} and ${shown(std)}`, [shape]);
  }
  return random('randomNormal', rt, shape, opts, ['mean', 'std'], 'normal', mean, std);
}

/** Options of rrelu. */
export interface RReluOptions {
  /** The slopes' range (default 1/8 and 1/3). */
  lower?: number;
  upper?: number;
  /** Whether the slopes are random (default false: their mean), as PyTorch's `training`. */
  training?: boolean;
  /** The stream the slopes come from, in training. */
  generator?: Generator;
}

/**
 * The randomized leaky ReLU, as F.rrelu: x where x ≥ 0, else a·x with a uniform from lower to
 * upper, drawn for each element in training (as randomUniform's; the gradient is a there); out
 * of training, a is (lower + upper)/2, a leaky ReLU.
 */
export function rrelu(x: Tensor, opts: RReluOptions = {}): Tensor {
  const rt = runtimeOf('rrelu', { x });
  const fail = (why: string) => new ShapeError('rrelu', why, [x.shape]);
  checkOptionNames(opts, ['lower', 'upper', 'training', 'generator'], fail);
  const { lower = 1 / 8, upper = 1 / 3, training = false, generator } = opts;
  if (typeof lower !== 'number' || typeof upper !== 'number' || !Number.isFinite(lower) || !Number.isFinite(upper) || lower > upper) {
    throw fail(`lower and upper must be finite numbers, lower ≤ upper, got ${shown(lower)} and ${shown(upper)}`);
  }
  if (typeof training !== 'boolean') throw fail(`training must be true or false, got ${shown(training)}`);
  if (!training) return leakyRelu(x, (lower + upper) / 2);
  const slopes = randomUniform(rt, x.shape, { low: lower, high: upper, ...(generator ? { generator } : {}) });
  // x·noise, noise the slope a where x ≤ 0, else 1 (NaN too), as PyTorch's rrelu_with_noise:
  // so the gradient at 0 is a, and m + a·(1 − m) is 1 or a exactly (m = [x > 0 or NaN]).
  const above = rt.record(thresholdMaskOp, [x], { alpha: 0, beta: 0 });
  return mul(x, add(above, mul(slopes, affine(above, -1, 1))));
}
