// Batch normalisation (torch.nn.functional.batch_norm), composed of differentiable ops, so its
// gradients (and theirs) come from theirs. In training it normalises by the batch's statistics
// over every axis but the channels (axis 1), and updates the running statistics in place
// (shaders/batchnorm_stats.wgsl, an effect: in a compiled program, at every run); in evaluation it
// normalises by the running statistics.
import { runtimeOf } from '../runtime/args.js';
import { ShapeError } from '../runtime/errors.js';
import { defineEffect } from '../runtime/op.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { fmt, grid1d } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { add, div, mul, scale, sub } from './elementwise.js';
import { sqrt } from './math.js';
import { sum } from './reduce.js';

const WG = 64;

/** Options of batchNorm, as torch.nn.functional.batch_norm's. */
export interface BatchNormOptions {
  /** Running mean and variance [C]: updated in place in training, used in evaluation. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  /** Per-channel scale and shift [C] (default: none). */
  weight?: Tensor;
  bias?: Tensor;
  /** Normalise by the batch's statistics and update the running ones (default false, as PyTorch's). */
  training?: boolean;
  /** Weight of the batch's statistics in the running ones (default 0.1). */
  momentum?: number;
  /** Added to the variance before its square root (default 1e-5). */
  eps?: number;
  /** A scalar counting the training passes that updated the running statistics, as nn.BatchNorm's buffer: incremented with them. */
  numBatchesTracked?: Tensor;
}

interface StatsAttrs {
  count: number;
  momentum: number;
  /** Whether input 4 is num_batches_tracked, to count the update. */
  counted: boolean;
}

/** running_mean and running_var (inputs 0 and 1) moved towards the batch's mean and squares. */
const runningStatsEffect = defineEffect<StatsAttrs>({
  name: 'batchnorm_stats',
  writes: ({ counted }) => (counted ? [0, 1, 4] : [0, 1]),
  encode(ctx, [runningMean, runningVar, mean, squares, batches], { count, momentum, counted }) {
    ctx.dispatch({
      shader: 'batchnorm_stats.wgsl',
      entry: counted ? 'counted' : 'main',
      constants: { WG },
      params: { channels: runningMean!.size, count, momentum },
      bindings: { running_mean: runningMean!, running_var: runningVar!, mean: mean!, squares: squares!, ...(batches ? { num_batches_tracked: batches } : {}) },
      workgroups: grid1d(runningMean!.size, WG),
    });
  },
});

/**
 * x [N, C, ...] normalised per channel: (x − mean) / √(var + eps) · weight + bias, as
 * torch.nn.functional.batch_norm. In training, mean and the biased var are the batch's (over N
 * and every axis after C), and runningMean and runningVar, if given, move towards them by
 * `momentum` (the variance unbiased, as PyTorch's); in evaluation, they are the running ones.
 */
export function batchNorm(x: Tensor, opts: BatchNormOptions = {}): Tensor {
  const rt = runtimeOf('batchNorm', { x });
  const fail = (why: string) => new ShapeError('batchNorm', `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['runningMean', 'runningVar', 'weight', 'bias', 'training', 'momentum', 'eps', 'numBatchesTracked'], fail);
  const { runningMean, runningVar, weight, bias, training = false, momentum = 0.1, eps = 1e-5, numBatchesTracked } = opts;
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  if (x.rank < 2) throw fail('needs a batch [N, C, ...]');
  const c = x.shape[1]!;
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t === undefined) continue;
    if (!(t instanceof Tensor)) throw fail(`${name} must be a Tensor, got ${shown(t)}`);
    if (t.rt !== rt) throw fail(`${name} belongs to another runtime`);
    if (t.dtype !== 'f32' || t.rank !== 1 || t.shape[0] !== c) throw fail(`${name} must be f32 [${c}], one per channel, got ${fmt(t.shape)} ${t.dtype}`);
  }
  if ((runningMean === undefined) !== (runningVar === undefined)) throw fail('runningMean and runningVar go together');
  if (numBatchesTracked !== undefined) {
    if (!(numBatchesTracked instanceof Tensor) || numBatchesTracked.rt !== rt || numBatchesTracked.dtype !== 'f32' || numBatchesTracked.size !== 1) {
      throw fail(`numBatchesTracked must be an f32 scalar of this runtime, got ${numBatchesTracked instanceof Tensor ? numBatchesTracked.describe() : shown(numBatchesTracked)}`);
    }
    if (!runningMean) throw fail('numBatchesTracked counts updates of runningMean and runningVar, which are not given');
  }
  if (typeof training !== 'boolean') throw fail(`training must be true or false, got ${shown(training)}`);
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) throw fail(`momentum must be a number in [0, 1], got ${shown(momentum)}`);
  if (typeof eps !== 'number' || !(eps >= 0)) throw fail(`eps must be a number ≥ 0, got ${shown(eps)}`);
  // Statistics of shape [1, C, 1, ...], to broadcast against x.
  const perChannel = [1, c, ...x.shape.slice(2).map(() => 1)];
  const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
  const count = x.size / c;
  let centred: Tensor;
  let variance: Tensor;
  if (training) {
    if (count <= 1) throw fail(`needs more than one value per channel in training, got ${count}`);
    const mean = scale(sum(x, axes, true), 1 / count);
    centred = sub(x, mean);
    const squares = sum(mul(centred, centred), axes, true);
    variance = scale(squares, 1 / count);
    if (runningMean && runningVar) {
      const stats = [runningMean, runningVar, mean.detach().reshape(c), squares.detach().reshape(c)];
      void rt.effect(runningStatsEffect, numBatchesTracked ? [...stats, numBatchesTracked] : stats, { count, momentum, counted: !!numBatchesTracked });
    }
  } else {
    if (!runningMean || !runningVar) throw fail('needs runningMean and runningVar in evaluation (training false)');
    centred = sub(x, runningMean.reshape(perChannel));
    variance = runningVar.reshape(perChannel);
  }
  let y = div(centred, sqrt(add(variance, eps)));
  if (weight) y = mul(y, weight.reshape(perChannel));
  if (bias) y = add(y, bias.reshape(perChannel));
  return y;
}
