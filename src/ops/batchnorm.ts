// Batch normalisation (torch.nn.functional.batch_norm). In training it normalises by the
// batch's statistics over every axis but the channels (axis 1), and updates the running
// statistics in place (shaders/batchnorm_stats.wgsl, an effect: in a compiled program, at every
// run); in evaluation it normalises by the running statistics. Kernels (shaders/batchnorm.wgsl):
// the statistics (chunks of each channel, then combined), the normalisation, and its gradient
// (the sums it takes, likewise, then the input's); each kernel's own gradient (second
// derivatives) is that of the same formula composed of differentiable ops.
import { grad } from '../runtime/autograd.js';
import { runtimeOf } from '../runtime/args.js';
import { ShapeError, TensorStateError, type FoveaError } from '../runtime/errors.js';
import { parallelWorkgroups, strideGrid } from '../runtime/device.js';
import { defineEffect, defineOp, type BackwardRule, type DispatchSpec } from '../runtime/op.js';
import { checkOptionNames, nonNegativeOption, shown } from '../runtime/options.js';
import { fmt, grid1d, type Shape } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { add, div, mul, reluOp, scale, sub } from './elementwise.js';
import { sqrt } from './math.js';
import { sum } from './reduce.js';
import { reshapeOp } from './reshape.js';
import { concat, narrow } from './slice.js';

const WG = 256;

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
  /**
   * Weight of the batch's statistics in the running ones (default 0.1); null, PyTorch's None: a
   * cumulative average, 1/n for the n-th batch (needs numBatchesTracked).
   */
  momentum?: number | null;
  /** Added to the variance before its square root (default 1e-5). */
  eps?: number;
  /** A scalar counting the training passes that updated the running statistics, as nn.BatchNorm's buffer: incremented with them. */
  numBatchesTracked?: Tensor;
}

/** x [N, C, ...] as the kernels see it: C channels of M = N·S values, S values apart by `inner`. */
function layout(x: Tensor) {
  const channels = x.shape[1]!;
  return { channels, inner: x.shape.slice(2).reduce((a, b) => a * b, 1), n: x.size, count: x.size / channels };
}

/** The axes batch norm reduces (all but the channels), and the shape [1, C, 1, ...] of its statistics. */
function perChannel(x: Tensor): { axes: number[]; shape: Shape } {
  return { axes: [0, ...x.shape.slice(2).map((_, i) => i + 2)], shape: [1, x.shape[1]!, ...x.shape.slice(2).map(() => 1)] };
}

/**
 * Chunks each channel's reductions take, a workgroup each: one on a CPU adapter; on a GPU, enough
 * to fill it (parallelWorkgroups), of at least 4 values per invocation.
 */
function chunksOf(x: Tensor): number {
  const { channels, count } = layout(x);
  if (x.rt.adapter.software) return 1;
  return Math.max(1, Math.min(Math.ceil(parallelWorkgroups(x.rt.adapter) / channels), Math.ceil(count / (4 * WG))));
}

// A kernel of shaders/batchnorm.wgsl: a workgroup per chunk (the chunks' sums), an invocation per
// channel (their combination) or per element. A chunk's workgroup is no wider than its values
// (rounded up to a power of 2, at least a CPU adapter's 8 or a GPU's 32): layer norm's rows, as
// channels, may be a few values each, and idle invocations cost a CPU adapter as working ones.
function dispatch(entry: string, x: Tensor, eps: number, groups: number, bindings: DispatchSpec['bindings']): DispatchSpec {
  const l = layout(x);
  const chunk = Math.ceil(l.count / groups);
  const perChunk = entry.endsWith('_chunks');
  const wg = perChunk ? (x.rt.adapter.software ? 8 : Math.min(WG, Math.max(32, 2 ** Math.ceil(Math.log2(chunk))))) : WG;
  // Per element: a grid-stride loop (apply, grad_input), so that a CPU adapter starts few workgroups.
  const workgroups = perChunk ? grid1d(l.channels * groups, 1) : entry === 'stats_combine' || entry === 'grad_sums' ? grid1d(l.channels, WG) : strideGrid(x.rt.adapter, l.n, WG);
  return { shader: 'batchnorm.wgsl', entry, constants: { WG: wg }, params: { ...l, eps, groups, chunk }, bindings, workgroups };
}

// ---- the same formulas composed of differentiable ops: the kernels' gradients ----

/** Row `row` of [2, C] statistics or sums, shaped to broadcast against x. */
const row = (t: Tensor, r: number, x: Tensor) => narrow(t, 0, r, 1).reshape(...perChannel(x).shape);

const invstdOf = (stats: Tensor, x: Tensor, eps: number) => div(1, sqrt(add(row(stats, 1, x), eps)));

function composedApply(x: Tensor, stats: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const { shape } = perChannel(x);
  return add(mul(mul(sub(x, row(stats, 0, x)), invstdOf(stats, x, eps)), weight.reshape(...shape)), bias.reshape(...shape));
}

function composedStatsGrad(gs: Tensor, x: Tensor, stats: Tensor): Tensor {
  const m = layout(x).count;
  return add(scale(row(gs, 0, x), 1 / m), mul(sub(x, row(stats, 0, x)), scale(row(gs, 1, x), 2 / m)));
}

function composedGradSums(g: Tensor, x: Tensor, stats: Tensor, eps: number): Tensor {
  const { axes } = perChannel(x);
  const normalised = mul(sub(x, row(stats, 0, x)), invstdOf(stats, x, eps));
  return concat([sum(g, axes).reshape(1, -1), sum(mul(g, normalised), axes).reshape(1, -1)], 0);
}

function composedGradInput(g: Tensor, x: Tensor, stats: Tensor, sums: Tensor, weight: Tensor, eps: number): Tensor {
  const m = layout(x).count;
  const r = invstdOf(stats, x, eps);
  const centredTerm = mul(mul(sub(x, row(stats, 0, x)), r), scale(row(sums, 1, x), 1 / m));
  return mul(mul(weight.reshape(...perChannel(x).shape), r), sub(sub(g, scale(row(sums, 0, x), 1 / m)), centredTerm));
}

/**
 * A gradient rule that differentiates `formula` of the op's inputs (the op's own value, composed).
 * It is applied to views of the inputs, so that the gradient is the op's own, not also through
 * what one input is computed from another (the statistics from x), which autograd adds itself;
 * views, not detached copies, so that the result is differentiable again.
 */
function viaComposed<A>(formula: (inputs: readonly Tensor[], attrs: A) => Tensor): BackwardRule<A> {
  return (gg, { inputs, attrs, needs }) => {
    // The chunks' partial sums (the last input of the ops that combine them) are a means of
    // computing the value, which the formula computes from the other inputs: no gradient.
    const own = (i: number) => needs[i] && inputs[i]!.op?.def !== chunksOp && inputs[i]!.op?.def !== gradChunksOp;
    const views = inputs.map((t) => t.rt.record(reshapeOp, [t], { shape: t.shape }));
    const wrt = views.filter((_, i) => own(i));
    if (!wrt.length) return inputs.map(() => null);
    const grads = grad(formula(views, attrs), wrt, gg);
    let k = 0;
    return inputs.map((_, i) => (own(i) ? grads[k++]! : null));
  };
}

type Eps = { eps: number };
type Groups = { groups: number };
const PARTIAL = { notDifferentiable: 'partial sums, combined by an op that differentiates the whole' };

/** Each chunk's mean and sum of squared deviations, [C, groups, 2]. */
export const chunksOp = defineOp<Groups>({
  name: 'batch_norm_chunks',
  infer: ([x], { groups }) => ({ shape: [x!.shape[1]!, groups, 2], dtype: 'f32' }),
  encode: (ctx, [x], out, { groups }) => ctx.dispatch(dispatch('stats_chunks', x!, 0, groups, { x: x!, out })),
  backward: PARTIAL,
});

/** Each channel's mean and biased variance, [2, C], from x's chunks (input 1). */
export const batchNormStatsOp = defineOp<Groups>({
  name: 'batch_norm_stats',
  infer: ([x]) => ({ shape: [2, x!.shape[1]!], dtype: 'f32' }),
  encode: (ctx, [x, chunks], out, { groups }) => ctx.dispatch(dispatch('stats_combine', x!, 0, groups, { chunks: chunks!, out })),
  // One kernel, not the composed formula's gradient (a pass over x for each of its ops); the
  // mean it reads is this op's output, so that the gradient is differentiable again.
  backward: (gs, { inputs: [x], out, needs }) => [needs[0] ? x!.rt.record(batchNormStatsGradOp, [gs, x!, out], {}) : null, null],
});

/** The gradient of x through its statistics [2, C] (input 2, x's own), given theirs (input 0). */
export const batchNormStatsGradOp = defineOp<object>({
  name: 'batch_norm_stats_grad',
  infer: ([, x]) => ({ shape: x!.shape, dtype: 'f32' }),
  encode: (ctx, [gs, x, stats], out) => ctx.dispatch(dispatch('stats_grad', x!, 0, 1, { sums: gs!, x: x!, stats: stats!, out })),
  backward: viaComposed(([gs, x, stats]) => composedStatsGrad(gs!, x!, stats!)),
});

/** Each chunk's Σg and Σg·(x − mean), [C, groups, 2]. */
export const gradChunksOp = defineOp<Groups>({
  name: 'batch_norm_grad_chunks',
  infer: ([, x], { groups }) => ({ shape: [x!.shape[1]!, groups, 2], dtype: 'f32' }),
  encode: (ctx, [g, x, stats], out, { groups }) => ctx.dispatch(dispatch('grad_chunks', x!, 0, groups, { g: g!, x: x!, stats: stats!, out })),
  backward: PARTIAL,
});

/** Σg and Σg·x̂ per channel, [2, C], from the chunks' (input 3): the gradients of bias and weight, and sums x's takes. */
export const batchNormGradSumsOp = defineOp<Eps & Groups>({
  name: 'batch_norm_grad_sums',
  infer: ([, x]) => ({ shape: [2, x!.shape[1]!], dtype: 'f32' }),
  encode: (ctx, [, x, stats, chunks], out, { eps, groups }) => ctx.dispatch(dispatch('grad_sums', x!, eps, groups, { stats: stats!, chunks: chunks!, out })),
  backward: viaComposed(([g, x, stats], { eps }) => composedGradSums(g!, x!, stats!, eps)),
});

/** The gradient of x through the normalisation and the batch's statistics, from g and the sums. */
export const batchNormGradInputOp = defineOp<Eps>({
  name: 'batch_norm_grad_input',
  infer: ([, x]) => ({ shape: x!.shape, dtype: 'f32' }),
  encode: (ctx, [g, x, stats, sums, weight], out, { eps }) =>
    ctx.dispatch(dispatch('grad_input', x!, eps, 1, { g: g!, x: x!, stats: stats!, sums: sums!, weight: weight!, out })),
  backward: viaComposed(([g, x, stats, sums, weight], { eps }) => composedGradInput(g!, x!, stats!, sums!, weight!, eps)),
});

/**
 * (x − mean)·invstd·weight + bias per channel, from statistics [2, C]. `batch`: they are x's own
 * (batchNormStatsOp of x), and x's gradient goes through them too, in one kernel; their own is
 * then null. Otherwise (running statistics) they are inputs like any other.
 */
export const batchNormOp = defineOp<Eps & { batch: boolean; relu?: boolean }>({
  name: 'batch_norm',
  infer: ([x]) => ({ shape: x!.shape, dtype: 'f32' }),
  encode: (ctx, [x, stats, weight, bias], out, { eps, relu }) => {
    const d = dispatch('apply', x!, eps, 1, { x: x!, stats: stats!, weight: weight!, bias: bias!, out });
    ctx.dispatch(relu ? { ...d, constants: { ...d.constants, RELU: 1 } } : d);
  },
  // A following ReLU, rectified in the store. The gradients read x, the statistics and weight,
  // never this op's output, so its pre-activation is needed by nothing else.
  absorb: (self, consumer) => (consumer.def === reluOp && !self.attrs.relu ? { ...self.attrs, relu: true } : undefined),
  backward: (g, ctx) => {
    const { inputs, attrs, needs } = ctx;
    if (!attrs.batch) return viaComposed<Eps>(([x, stats, weight, bias], { eps }) => composedApply(x!, stats!, weight!, bias!, eps))(g, ctx);
    const [x, stats, weight] = inputs as [Tensor, Tensor, Tensor, Tensor];
    const rt = x.rt;
    const groups = chunksOf(x);
    const chunks = rt.record(gradChunksOp, [g, x, stats], { groups });
    const sums = rt.record(batchNormGradSumsOp, [g, x, stats, chunks], { eps: attrs.eps, groups });
    const c = x.shape[1]!;
    return [
      needs[0] ? rt.record(batchNormGradInputOp, [g, x, stats, sums, weight], { eps: attrs.eps }) : null,
      null,
      needs[2] ? narrow(sums, 0, 1, 1).reshape(c) : null,
      needs[3] ? narrow(sums, 0, 0, 1).reshape(c) : null,
    ];
  },
});

interface StatsAttrs {
  count: number;
  /** null: the cumulative average. */
  momentum: number | null;
  /** Whether input 3 is num_batches_tracked, to count the update. */
  counted: boolean;
}

/** running_mean and running_var (inputs 0 and 1) moved towards the batch's statistics (input 2). */
const runningStatsEffect = defineEffect<StatsAttrs>({
  name: 'batchnorm_stats',
  writes: ({ counted }) => (counted ? [0, 1, 3] : [0, 1]),
  encode(ctx, [runningMean, runningVar, stats, batches], { count, momentum, counted }) {
    const bindings = { running_mean: runningMean!, running_var: runningVar!, stats: stats!, ...(batches ? { num_batches_tracked: batches } : {}) };
    const base = { shader: 'batchnorm_stats.wgsl', constants: { WG: 64 }, params: { channels: runningMean!.size, count, momentum: momentum ?? 0 }, bindings };
    ctx.dispatch({ ...base, entry: momentum === null ? 'cumulative' : counted ? 'counted' : 'main', workgroups: grid1d(runningMean!.size, 64) });
    if (momentum === null) ctx.dispatch({ ...base, entry: 'count', workgroups: [1] });
  },
});

/** [2, C]: the mean and the biased variance of each channel of x [N, C, ...], over N and the axes after C. */
export function channelStats(x: Tensor): Tensor {
  const groups = chunksOf(x);
  return x.rt.record(batchNormStatsOp, [x, x.rt.record(chunksOp, [x], { groups })], { groups });
}

/**
 * Moves runningMean and runningVar [C] towards `stats` [2, C] (mean and biased variance over
 * `count` values each), in place, as PyTorch's running statistics: by `momentum`, the variance
 * unbiased (null: a cumulative average); numBatchesTracked, if given, counts the update.
 */
export function updateRunningStats(runningMean: Tensor, runningVar: Tensor, stats: Tensor, count: number, momentum: number | null, numBatchesTracked?: Tensor): void {
  const inputs = [runningMean, runningVar, stats];
  const { rt } = runningMean;
  // An eager update nobody awaits: its failure is the runtime's next error (and none once the
  // runtime is disposed, which refuses the updates still queued), not an unhandled rejection.
  rt.effect(runningStatsEffect, numBatchesTracked ? [...inputs, numBatchesTracked] : inputs, { count, momentum, counted: !!numBatchesTracked }).catch((e: unknown) => rt.fail(e as FoveaError));
}

/**
 * x [N, C, ...] normalised per channel: (x − mean) / √(var + eps) · weight + bias, as
 * torch.nn.functional.batch_norm. In training, mean and the biased var are the batch's (over N
 * and every axis after C), and runningMean and runningVar, if given, move towards them by
 * `momentum` (the variance unbiased, as PyTorch's; null: a cumulative average); in evaluation,
 * they are the running ones.
 */
export function batchNorm(x: Tensor, opts: BatchNormOptions = {}): Tensor {
  const rt = runtimeOf('batchNorm', { x });
  const fail = (why: string) => new ShapeError('batchNorm', `${why} (x ${fmt(x.shape)} ${x.dtype})`, [x.shape]);
  checkOptionNames(opts, ['runningMean', 'runningVar', 'weight', 'bias', 'training', 'momentum', 'eps', 'numBatchesTracked'], fail);
  const { runningMean, runningVar, weight, bias, training = false, momentum = 0.1, eps = 1e-5, numBatchesTracked } = opts;
  if (x.dtype !== 'f32') throw fail('needs an f32 tensor');
  if (x.rank < 2) throw fail('needs a batch [N, C, ...]');
  if (x.disposed) throw new TensorStateError(`batchNorm: x, ${x.describe()}, was disposed`);
  const c = x.shape[1]!;
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t === undefined) continue;
    if (!(t instanceof Tensor)) throw fail(`${name} must be a Tensor, got ${shown(t)}`);
    if (t.rt !== rt) throw fail(`${name} belongs to another runtime`);
    // Here, where the ops it feeds (batchnorm_stats, reshape, batch_norm) would name themselves.
    if (t.disposed) throw new TensorStateError(`batchNorm: ${name}, ${t.describe()}, was disposed`);
    if (t.dtype !== 'f32' || t.rank !== 1 || t.shape[0] !== c) throw fail(`${name} must be f32 [${c}], one per channel, got ${fmt(t.shape)} ${t.dtype}`);
  }
  if ((runningMean === undefined) !== (runningVar === undefined)) throw fail('runningMean and runningVar go together');
  if (numBatchesTracked !== undefined) {
    if (!(numBatchesTracked instanceof Tensor) || numBatchesTracked.rt !== rt || numBatchesTracked.dtype !== 'f32' || numBatchesTracked.size !== 1) {
      throw fail(`numBatchesTracked must be an f32 scalar of this runtime, got ${numBatchesTracked instanceof Tensor ? numBatchesTracked.describe() : shown(numBatchesTracked)}`);
    }
    if (!runningMean) throw fail('numBatchesTracked counts updates of runningMean and runningVar, which are not given');
    if (numBatchesTracked.disposed) throw new TensorStateError(`batchNorm: numBatchesTracked, ${numBatchesTracked.describe()}, was disposed`);
  }
  if (typeof training !== 'boolean') throw fail(`training must be true or false, got ${shown(training)}`);
  if (momentum !== null && (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1))) throw fail(`momentum must be a number in [0, 1] or null, got ${shown(momentum)}`);
  if (momentum === null && !numBatchesTracked && runningMean) throw fail('momentum null (a cumulative average) counts batches in numBatchesTracked, which is not given');
  nonNegativeOption('eps', eps, fail);
  const count = x.size / c;
  let stats: Tensor;
  if (training) {
    if (count <= 1) throw fail(`needs more than one value per channel in training, got ${count}`);
    stats = channelStats(x);
    if (runningMean && runningVar) updateRunningStats(runningMean, runningVar, stats, count, momentum, numBatchesTracked);
  } else {
    if (!runningMean || !runningVar) throw fail('needs runningMean and runningVar in evaluation (training false)');
    stats = concat([runningMean.reshape(1, c), runningVar.reshape(1, c)], 0);
  }
  return rt.record(batchNormOp, [x, stats, weight ?? rt.ones([c]), bias ?? rt.zeros([c])], { eps, batch: training });
}
