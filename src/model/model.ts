// Models built from specs: the layer tree flattened into named leaves (PyTorch's module names,
// so parameter names are state_dict keys), each leaf taking the output of the one before or,
// at a residual block's end, adding two; shapes checked through the whole model before any
// parameter is allocated, and PyTorch's default initialisation from a seeded generator.
import { conv2d } from '../ops/conv2d.js';
import { convTranspose2d } from '../ops/conv_transpose2d.js';
import { adaptiveAvgPool2d, interpolate } from '../ops/resample.js';
import { add, div, relu, sub } from '../ops/elementwise.js';
import { celu, elu, gelu, glu, hardshrink, hardsigmoid, hardswish, hardtanh, leakyRelu, logsigmoid, mish, prelu, relu6, selu, sigmoid, silu, softplus, softshrink, softsign, tanh, tanhshrink, threshold } from '../ops/math.js';
import { linear } from '../ops/linear.js';
import { avgPool2d } from '../ops/avgpool.js';
import { batchNorm } from '../ops/batchnorm.js';
import { groupNorm, instanceNorm, layerNorm } from '../ops/layernorm.js';
import { dropout, dropout2d } from '../ops/dropout.js';
import { Generator, rrelu } from '../ops/random.js';
import { adaptiveMaxPool2d, maxPool2d } from '../ops/maxpool.js';
import { pad } from '../ops/pad.js';
import { pixelShuffle, pixelUnshuffle } from '../ops/permute.js';
import { logSoftmax, softmax } from '../ops/softmax.js';
import { checkTensor } from '../runtime/args.js';
import { checkOptionNames, shown } from '../runtime/options.js';
import { DeviceLimitError, FoveaError, ShapeError, SpecError, TensorStateError } from '../runtime/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import { fmt, sameShape, type Shape } from '../runtime/shape.js';
import { Tensor } from '../runtime/tensor.js';
import { checkSeed, kaimingUniformBound, TorchGenerator } from './random.js';
import { checkLayerNames, parseModelSpec, SEED_CNN, type LayerSpec, type ModelSpec } from './spec.js';
import { hostTensors, mismatches, withoutPrefix, type HostTensors, type HostTensorsLike } from './host-tensors.js';
import { quote } from './untrusted.js';

/** A layer of one input; and the sum that ends a residual block. */
type LeafSpec = Exclude<LayerSpec, { type: 'sequential' | 'residual' }>;
type AddSpec = { type: 'add'; shortcut: boolean };

interface ParamInfo {
  /** 'weight' or 'bias'. */
  role: 'weight' | 'bias';
  shape: number[];
  fanIn: number;
  /** A constant to start from instead of PyTorch's random default (batch norm's 1 and 0): no draw. */
  init?: number;
}

/** A tensor of state that is no parameter (batch norm's running statistics), saved with the parameters. */
interface BufferInfo {
  role: 'running_mean' | 'running_var' | 'num_batches_tracked';
  shape: number[];
  init: number;
  /** PyTorch keeps it as int64 (a count): state() marks it 'I64', and a torch.save file holds it so. */
  int64?: true;
}

/** One layer of the flattened model, with its shapes (per sample, without the batch). */
export interface LayerInfo {
  /** PyTorch module name, e.g. `conv2.0` (a residual block's sum: the block's name). */
  name: string;
  type: LeafSpec['type'] | 'add';
  /** Where the layer is in the spec, e.g. `layers[1].layers[0]`. */
  path: string;
  spec: LeafSpec | AddSpec;
  /**
   * The layers whose outputs it takes, by index (−1: the model's input): the layer before, but
   * for a block's first layers and shortcut (the block's input) and its sum (the last layer of
   * its layers, and of its shortcut or the block's input).
   */
  inputs: readonly number[];
  inputShape: Shape;
  outputShape: Shape;
  params: readonly ParamInfo[];
  buffers: readonly BufferInfo[];
}

/** Options of Model.create: how the parameters are initialised. */
export interface ModelOptions {
  /** Seed of the PyTorch-compatible generator used for the default initialisation (default 1). */
  seed?: number;
  /** Or the generator itself, to keep drawing from it afterwards (e.g. to shuffle as PyTorch does). */
  generator?: TorchGenerator;
  /**
   * Weights to load (a checkpoint's tensors), checked against the spec before anything is
   * allocated: a small file whose spec describes a huge model allocates nothing. The default
   * initialisation is still drawn, so a generator advances as without them.
   */
  weights?: HostTensorsLike;
  /** What holds `weights`, named in errors (e.g. the file); default 'checkpoint'. */
  source?: string;
}

const MODEL_OPTIONS = Object.keys({ seed: true, generator: true, weights: true, source: true } satisfies Record<keyof ModelOptions, true>);

/** Options of Model.forward and Model.activations. */
export interface ForwardOptions {
  /**
   * Whether dropout layers drop and batch norm normalises by the batch's statistics, updating
   * its running ones (default: the model's `training`, true until `eval()`).
   */
  training?: boolean;
}

/** A layer's output for one input, as `Model.activations` returns it. */
export interface Activation {
  name: string;
  type: LayerInfo['type'];
  tensor: Tensor;
}

type Leaf = Pick<LayerInfo, 'name' | 'path' | 'spec' | 'inputs'>;

/**
 * Flattens `layers` (their names under `prefix`, unique: checkLayerNames checked them) into `out`,
 * the first taking layer `input`'s output; returns the last one's index.
 */
function flatten(layers: readonly LayerSpec[], prefix: string, path: string, out: Leaf[], input: number): number {
  layers.forEach((l, i) => (input = flattenLayer(l, prefix + (l.name ?? String(i)), `${path}layers[${i}]`, out, input)));
  return input;
}

function flattenLayer(l: LayerSpec, name: string, path: string, out: Leaf[], input: number): number {
  if (l.type === 'sequential') return flatten(l.layers, `${name}.`, `${path}.`, out, input);
  if (l.type !== 'residual') return out.push({ name, path, spec: l, inputs: [input] }) - 1;
  // A residual block: its layers and its shortcut both take the block's input, in one namespace.
  const body = flatten(l.layers, `${name}.`, `${path}.`, out, input);
  const other = l.shortcut ? flattenLayer(l.shortcut, `${name}.${l.shortcut.name ?? 'downsample'}`, `${path}.shortcut`, out, input) : input;
  return out.push({ name, path, spec: { type: 'add', shortcut: !!l.shortcut }, inputs: [body, other] }) - 1;
}

function paramsOf(spec: LeafSpec, input: Shape): ParamInfo[] {
  const bias = !('bias' in spec) || spec.bias !== false;
  if (spec.type === 'conv2d' || spec.type === 'convtranspose2d') {
    const [kh, kw] = typeof spec.kernelSize === 'number' ? [spec.kernelSize, spec.kernelSize] : spec.kernelSize;
    const [c, o, g] = [spec.inChannels ?? input[0] ?? 0, spec.outChannels, spec.groups ?? 1];
    // PyTorch's layouts, [O, C/g, KH, KW] and transposed [C, O/g, KH, KW]; its fan_in is the
    // weight's second size times the kernel's, for the bias too.
    const shape = spec.type === 'conv2d' ? [o, c / g, kh, kw] : [c, o / g, kh, kw];
    const fanIn = shape[1]! * kh * kw;
    const ps: ParamInfo[] = [{ role: 'weight', shape, fanIn }];
    if (bias) ps.push({ role: 'bias', shape: [o], fanIn });
    return ps;
  }
  if (spec.type === 'linear') {
    const f = spec.inFeatures ?? input[input.length - 1] ?? 0;
    const ps: ParamInfo[] = [{ role: 'weight', shape: [spec.outFeatures, f], fanIn: f }];
    if (bias) ps.push({ role: 'bias', shape: [spec.outFeatures], fanIn: f });
    return ps;
  }
  if (spec.type === 'layernorm' && spec.elementwiseAffine !== false) {
    const shape = spec.normalizedShape ?? [...input];
    const n = shape.reduce((a, b) => a * b, 1);
    return [{ role: 'weight', shape, fanIn: n, init: 1 }, { role: 'bias', shape, fanIn: n, init: 0 }];
  }
  if (spec.type === 'prelu') {
    const n = spec.numParameters ?? 1;
    return [{ role: 'weight', shape: [n], fanIn: n, init: spec.init ?? 0.25 }];
  }
  if (((isBatchNorm(spec) || spec.type === 'groupnorm') && spec.affine !== false) || (spec.type === 'instancenorm2d' && spec.affine === true)) {
    const c = input[0] ?? 0; // numFeatures and numChannels, if given, are checked to be these
    return [{ role: 'weight', shape: [c], fanIn: c, init: 1 }, { role: 'bias', shape: [c], fanIn: c, init: 0 }];
  }
  return [];
}

type BatchNormSpec = Extract<LeafSpec, { type: 'batchnorm1d' | 'batchnorm2d' }>;
const isBatchNorm = (spec: LeafSpec): spec is BatchNormSpec => spec.type === 'batchnorm1d' || spec.type === 'batchnorm2d';

function buffersOf(spec: LeafSpec, input: Shape): BufferInfo[] {
  // Batch norm's by default; instance norm's if asked for (where num_batches_tracked stays 0, as PyTorch's).
  const tracks = isBatchNorm(spec) ? spec.trackRunningStats !== false : spec.type === 'instancenorm2d' && spec.trackRunningStats === true;
  if (!tracks) return [];
  const c = input[0] ?? 0; // numFeatures, if given, is checked to be this
  return [{ role: 'running_mean', shape: [c], init: 0 }, { role: 'running_var', shape: [c], init: 1 }, { role: 'num_batches_tracked', shape: [], init: 0, int64: true }];
}

/** How a forward pass runs: in training (dropout drops, from `generator`) or not. */
interface Mode {
  training: boolean;
  generator?: Generator;
}

function apply(spec: LeafSpec, x: Tensor, p: readonly Tensor[], b: readonly Tensor[], mode: Mode): Tensor {
  switch (spec.type) {
    case 'conv2d':
      return conv2d(x, p[0]!, p[1], { stride: spec.stride ?? 1, padding: spec.padding ?? 0, paddingMode: spec.paddingMode ?? 'zeros', dilation: spec.dilation ?? 1, groups: spec.groups ?? 1 });
    case 'convtranspose2d':
      return convTranspose2d(x, p[0]!, p[1], { stride: spec.stride ?? 1, padding: spec.padding ?? 0, outputPadding: spec.outputPadding ?? 0, dilation: spec.dilation ?? 1, groups: spec.groups ?? 1 });
    case 'linear':
      return linear(x, p[0]!, p[1]);
    case 'relu':
      return relu(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'tanh':
      return tanh(x);
    case 'silu':
      return silu(x);
    case 'mish':
      return mish(x);
    case 'selu':
      return selu(x);
    case 'relu6':
      return relu6(x);
    case 'hardsigmoid':
      return hardsigmoid(x);
    case 'hardswish':
      return hardswish(x);
    case 'logsigmoid':
      return logsigmoid(x);
    case 'softsign':
      return softsign(x);
    case 'tanhshrink':
      return tanhshrink(x);
    case 'hardtanh':
      return hardtanh(x, spec.minVal ?? -1, spec.maxVal ?? 1);
    case 'softshrink':
      return softshrink(x, spec.lambd ?? 0.5);
    case 'hardshrink':
      return hardshrink(x, spec.lambd ?? 0.5);
    case 'threshold':
      return threshold(x, spec.threshold, spec.value);
    case 'celu':
      return celu(x, spec.alpha ?? 1);
    case 'glu':
      return glu(x, spec.dim ?? -1);
    case 'prelu':
      return prelu(x, p[0]!);
    case 'softplus':
      return softplus(x, spec.beta ?? 1, spec.threshold ?? 20);
    case 'gelu':
      return gelu(x, spec.approximate ?? 'none');
    case 'elu':
      return elu(x, spec.alpha ?? 1);
    case 'leakyrelu':
      return leakyRelu(x, spec.negativeSlope ?? 0.01);
    case 'rrelu':
      return rrelu(x, { lower: spec.lower ?? 1 / 8, upper: spec.upper ?? 1 / 3, training: mode.training, ...(mode.generator ? { generator: mode.generator } : {}) });
    case 'maxpool2d':
    case 'avgpool2d': {
      // The spec's fields are the ops' options, by the same names.
      const { type: _, name: __, ...opts } = spec;
      return spec.type === 'maxpool2d' ? maxPool2d(x, opts) : avgPool2d(x, opts);
    }
    case 'adaptiveavgpool2d':
      return adaptiveAvgPool2d(x, spec.outputSize);
    case 'adaptivemaxpool2d':
      return adaptiveMaxPool2d(x, spec.outputSize);
    case 'upsample': {
      const { size, scaleFactor, mode, alignCorners } = spec;
      return interpolate(x, { ...(size !== undefined ? { size } : { scaleFactor: scaleFactor! }), mode: mode ?? 'nearest', ...(alignCorners !== undefined ? { alignCorners } : {}) });
    }
    case 'flatten':
      return x.flatten(spec.startDim ?? 1, spec.endDim ?? -1);
    case 'unflatten': {
      const d = spec.dim < 0 ? spec.dim + x.rank : spec.dim;
      return x.reshape(...x.shape.slice(0, d), ...spec.sizes, ...x.shape.slice(d + 1));
    }
    case 'identity':
      return x;
    case 'pixelshuffle':
      return pixelShuffle(x, spec.upscaleFactor);
    case 'pixelunshuffle':
      return pixelUnshuffle(x, spec.downscaleFactor);
    case 'softmax':
      return softmax(x, spec.dim ?? 1);
    case 'logsoftmax':
      return logSoftmax(x, spec.dim ?? 1);
    case 'zeropad2d':
    case 'constantpad2d':
    case 'reflectionpad2d':
    case 'replicationpad2d': {
      const sides = typeof spec.padding === 'number' ? new Array<number>(4).fill(spec.padding) : spec.padding;
      const mode = spec.type === 'reflectionpad2d' ? 'reflect' : spec.type === 'replicationpad2d' ? 'replicate' : 'constant';
      return pad(x, sides, { mode, ...(spec.type === 'constantpad2d' ? { value: spec.value } : {}) });
    }
    case 'dropout':
    case 'dropout2d':
      return (spec.type === 'dropout' ? dropout : dropout2d)(x, spec.p ?? 0.5, { training: mode.training, ...(mode.generator ? { generator: mode.generator } : {}) });
    case 'groupnorm': {
      const [weight, bias] = p;
      return groupNorm(x, spec.numGroups, { ...(weight && bias ? { weight, bias } : {}), eps: spec.eps ?? 1e-5 });
    }
    case 'instancenorm2d': {
      const [weight, bias] = p;
      const [runningMean, runningVar] = b;
      // With running statistics, those in evaluation, as PyTorch's.
      return instanceNorm(x, {
        ...(weight && bias ? { weight, bias } : {}),
        ...(runningMean && runningVar ? { runningMean, runningVar } : {}),
        useInputStats: mode.training || !runningMean,
        momentum: spec.momentum ?? 0.1,
        eps: spec.eps ?? 1e-5,
      });
    }
    case 'layernorm': {
      const [weight, bias] = p;
      return layerNorm(x, spec.normalizedShape ?? x.shape.slice(1), { ...(weight && bias ? { weight, bias } : {}), eps: spec.eps ?? 1e-5 });
    }
    case 'batchnorm1d':
    case 'batchnorm2d': {
      const [weight, bias] = p;
      const [runningMean, runningVar, numBatchesTracked] = b;
      // Without running statistics, the batch's in evaluation too, as PyTorch's.
      return batchNorm(x, {
        ...(weight && bias ? { weight, bias } : {}),
        ...(runningMean && runningVar && numBatchesTracked ? { runningMean, runningVar, numBatchesTracked } : {}),
        training: mode.training || !runningMean,
        eps: spec.eps ?? 1e-5,
        momentum: spec.momentum === undefined ? 0.1 : spec.momentum,
      });
    }
  }
}

/** The field that sets a layer's output size, where one does. */
function sizeField(spec: LayerSpec): string | undefined {
  switch (spec.type) {
    case 'upsample':
      return spec.size !== undefined ? 'size' : 'scaleFactor';
    case 'adaptiveavgpool2d':
    case 'adaptivemaxpool2d':
      return 'outputSize';
    case 'zeropad2d':
    case 'constantpad2d':
    case 'reflectionpad2d':
    case 'replicationpad2d':
      return 'padding';
    default:
      return undefined;
  }
}

/**
 * Checks a spec's shapes through every layer without touching the GPU (ops record on
 * placeholders) and returns the flattened layers. A layer that does not fit its input throws a
 * ShapeError naming the layer and both shapes.
 */
export function inferLayers(rt: Runtime, spec: ModelSpec): LayerInfo[] {
  checkLayerNames(spec.layers); // parseModelSpec's check, for a spec that has not been through it
  const leaves: Leaf[] = [];
  flatten(spec.layers, '', '', leaves, -1);
  const input = new Tensor(rt, [1, ...spec.input], 'f32', undefined, 'input');
  const outs: Tensor[] = [];
  const infos = leaves.map((leaf): LayerInfo => {
    const [x, other] = leaf.inputs.map((i) => (i < 0 ? input : outs[i]!)) as [Tensor, Tensor?];
    if (leaf.spec.type === 'add') {
      if (!sameShape(x.shape, other!.shape)) {
        const [a, b] = [fmt(x.shape.slice(1)), fmt(other!.shape.slice(1))];
        const why = leaf.spec.shortcut ? `its layers' output ${a} differs from its shortcut's output ${b}` : `its layers' output ${a} differs from its input ${b}, which it adds: a shortcut can make them one`;
        throw new ShapeError(`${leaf.path} (residual '${leaf.name}')`, why, [x.shape, other!.shape]);
      }
      outs.push(add(x, other!));
      return { ...leaf, type: 'add', inputShape: x.shape.slice(1), outputShape: x.shape.slice(1), params: [], buffers: [] };
    }
    const where = `${leaf.path} (${leaf.spec.type} '${leaf.name}')`;
    // Before its weight's shape is derived from the input (a [H, W] input's H as channels).
    if (['conv2d', 'convtranspose2d', 'maxpool2d', 'avgpool2d', 'adaptiveavgpool2d', 'adaptivemaxpool2d', 'upsample', 'batchnorm2d', 'instancenorm2d', 'pixelshuffle', 'pixelunshuffle'].includes(leaf.spec.type) && x.rank !== 4) {
      throw new ShapeError(where, `takes inputs of [C, H, W] (with the batch, [N, C, H, W]), got ${fmt(x.shape.slice(1))}`, [x.shape]);
    }
    if ((leaf.spec.type === 'conv2d' || leaf.spec.type === 'convtranspose2d') && leaf.spec.groups !== undefined) {
      const { groups, outChannels } = leaf.spec;
      const inChannels = leaf.spec.inChannels ?? x.shape[1]!;
      for (const [what, n] of [['input', inChannels], ['output', outChannels]] as const) {
        if (n % groups !== 0) throw new SpecError(`${leaf.path}.groups`, `${where}: ${groups} groups do not divide its ${n} ${what} channels`);
      }
    }
    if (leaf.spec.type === 'convtranspose2d' && leaf.spec.outputPadding !== undefined) {
      const [extra, stride, dilation] = [leaf.spec.outputPadding, leaf.spec.stride ?? 1, leaf.spec.dilation ?? 1].map((p) => (typeof p === 'number' ? [p, p] : p));
      if ([0, 1].some((i) => extra![i]! >= Math.max(stride![i]!, dilation![i]!))) {
        throw new SpecError(`${leaf.path}.outputPadding`, `${where}: ${JSON.stringify(leaf.spec.outputPadding)} must be smaller than the stride or the dilation on each axis`);
      }
    }
    if (leaf.spec.type === 'batchnorm1d' && x.rank !== 2 && x.rank !== 3) {
      throw new ShapeError(where, `takes inputs of [C] or [C, L] (with the batch, [N, C] or [N, C, L]), got ${fmt(x.shape.slice(1))}`, [x.shape]);
    }
    if (leaf.spec.type === 'layernorm' && leaf.spec.normalizedShape && !sameShape(x.shape.slice(x.rank - leaf.spec.normalizedShape.length), leaf.spec.normalizedShape)) {
      throw new SpecError(`${leaf.path}.normalizedShape`, `${where}: ${fmt(leaf.spec.normalizedShape)} is not the last sizes of its input ${fmt(x.shape.slice(1))}`);
    }
    if (leaf.spec.type === 'groupnorm' && leaf.spec.numChannels !== undefined && leaf.spec.numChannels !== x.shape[1]) {
      throw new SpecError(`${leaf.path}.numChannels`, `${where}: numChannels ${leaf.spec.numChannels} does not match the ${x.shape[1]} channels of its input ${fmt(x.shape.slice(1))}`);
    }
    if ((isBatchNorm(leaf.spec) || leaf.spec.type === 'instancenorm2d') && leaf.spec.numFeatures !== undefined && leaf.spec.numFeatures !== x.shape[1]) {
      throw new SpecError(`${leaf.path}.numFeatures`, `${where}: numFeatures ${leaf.spec.numFeatures} does not match the ${x.shape[1]} channels of its input ${fmt(x.shape.slice(1))}`);
    }
    const params = paramsOf(leaf.spec, x.shape.slice(1));
    const buffers = buffersOf(leaf.spec, x.shape.slice(1));
    if (leaf.spec.type === 'unflatten') {
      // Dims count the batch, as nn.Unflatten's: the batch itself is not a dimension to unflatten.
      const { dim, sizes } = leaf.spec;
      const d = dim < 0 ? dim + x.rank : dim;
      if (d < 1 || d >= x.rank) throw new SpecError(`${leaf.path}.dim`, `${dim} is not a dimension of a sample of [N, ${x.shape.slice(1).join(', ')}] (from 1 to ${x.rank - 1}, or -1 to ${1 - x.rank})`);
      const known = sizes.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
      const holes = sizes.filter((s) => s === -1).length;
      if (holes > 1 || (holes ? x.shape[d]! % known !== 0 : known !== x.shape[d])) {
        throw new SpecError(`${leaf.path}.sizes`, `${JSON.stringify(sizes)} do not multiply to dimension ${d}'s ${x.shape[d]} of [N, ${x.shape.slice(1).join(', ')}]${holes > 1 ? ' (one size at most may be -1)' : ''}`);
      }
    }
    if (leaf.spec.type === 'flatten') {
      // Dims count the batch, as torch.flatten's do: a field out of range is named by its path.
      const r = x.rank;
      const shape = `[N, ${x.shape.slice(1).join(', ')}]`;
      const start = leaf.spec.startDim ?? 1;
      const end = leaf.spec.endDim ?? -1;
      for (const [field, d] of [['startDim', start], ['endDim', end]] as const) {
        if (d < -r || d >= r) throw new SpecError(`${leaf.path}.${field}`, `${d} is out of range for an input of ${r} dimensions with the batch, ${shape} (from ${-r} to ${r - 1})`);
      }
      const [s, e] = [start, end].map((d) => (d < 0 ? d + r : d)) as [number, number];
      if (s === 0) {
        throw new SpecError(`${leaf.path}.startDim`, `flattening the batch dimension (startDim ${start} of ${r} dimensions with the batch) is not supported in a model`);
      }
      if (e < s) throw new SpecError(`${leaf.path}.endDim`, `${end} (dimension ${e}) comes before startDim ${start} (dimension ${s}) of ${shape}`);
    }
    // Before any parameter is drawn: a layer too large for the device fails now, by name.
    for (const p of params) rt.checkBindable(`${where} ${p.role}`, p.shape, 'f32', 'parameter');
    try {
      const ps = params.map((p) => new Tensor(rt, p.shape, 'f32', undefined, p.role));
      // Batch norm (the only layer with buffers) keeps its input's shape; applied to this batch
      // of 1, one without running statistics would refuse it (one value per channel), as
      // PyTorch's does in training.
      const y = isBatchNorm(leaf.spec) ? x : apply(leaf.spec, x, ps, [], { training: false });
      outs.push(y);
      return { ...leaf, type: leaf.spec.type, inputShape: x.shape.slice(1), outputShape: y.shape.slice(1), params, buffers };
    } catch (e) {
      // An output too large for the device is the fault of the field that sizes it (an upsampling by 1e300).
      const field = sizeField(leaf.spec);
      if (e instanceof DeviceLimitError && field) {
        throw new SpecError(`${leaf.path}.${field}`, `${where}: ${field} ${JSON.stringify((leaf.spec as Record<string, unknown>)[field])} makes its output too large: ${e.message}`);
      }
      if (e instanceof ShapeError) throw new ShapeError(where, `does not fit its input ${fmt(x.shape.slice(1))}: ${e.message}`, e.shapes);
      if (e instanceof FoveaError || e instanceof RangeError) throw new SpecError(leaf.path, `${where}: ${e.message}`);
      throw e;
    }
  });
  const out = infos.at(-1)!.outputShape;
  if (spec.classes && (out.length !== 1 || out[0] !== spec.classes.length)) {
    throw new SpecError('classes', `names ${spec.classes.length} classes, but the model's output per sample is ${fmt(out)}${out.length === 1 ? '' : ': a classifier ends in a flat [classes]'}`);
  }
  return infos;
}

/**
 * @internal The tensors under the names of the parameters and buffers of `layers` (the names of a
 * state_dict with one prefix before each, as nn.DataParallel's "module.", taken without it), or a
 * SpecError listing how they differ.
 */
export function checkWeights(layers: readonly LayerInfo[], tensors: HostTensors, source: string, strict = true): HostTensors & { missing: string[]; unexpected: string[] } {
  const wanted = new Map<string, Shape>(layers.flatMap((l) => [...l.params, ...l.buffers].map((p) => [`${l.name}.${p.role}`, p.shape] as const)));
  const named = withoutPrefix(tensors, wanted);
  // A batch norm's num_batches_tracked missing (a state_dict of PyTorch before 0.4.1, which
  // load_state_dict takes so): 0, as PyTorch fills it in.
  const given = new Map(named.tensors);
  for (const l of layers) {
    for (const b of l.buffers) if (b.role === 'num_batches_tracked' && !given.has(`${l.name}.${b.role}`)) given.set(`${l.name}.${b.role}`, { shape: [], data: new Float32Array(1) });
  }
  // Not strict (load_state_dict(strict=False)): names on one side only are listed, not refused;
  // those on both must still agree in shape.
  const missing = strict ? [] : [...wanted.keys()].filter((k) => !given.has(k));
  const unexpected = strict ? [] : [...given.keys()].filter((k) => !wanted.has(k));
  for (const k of missing) wanted.delete(k);
  for (const k of unexpected) given.delete(k);
  const why = mismatches(given, wanted, 'the model');
  if (why) throw new SpecError('', `${source} does not match the model: ${why}${named.prefix ? ` (its names read without the prefix ${quote(named.prefix)} they all carry)` : ''}`);
  return Object.assign(given, { missing, unexpected });
}

/** Options of Model.load. */
export interface LoadOptions {
  /**
   * As load_state_dict's: true (the default) refuses names of the model missing from the given
   * ones, and given ones it lacks; false loads those on both sides and lists the others.
   */
  strict?: boolean;
  /** What the tensors are, in messages (default 'checkpoint'). */
  source?: string;
}

/**
 * A model built from a spec: its layers (PyTorch module names), its parameters (tensors under
 * state_dict keys, initialised as PyTorch does), and forward/activations to apply it.
 */
export class Model {
  /** The validated spec it was built from. */
  readonly spec: ModelSpec;
  /** Its layers, flattened, with their names, shapes and parameters. */
  readonly layers: readonly LayerInfo[];
  /** Parameters by PyTorch state_dict key, in registration order. */
  readonly parameters: ReadonlyMap<string, Tensor>;
  /**
   * Buffers by state_dict key: state that is no parameter (batch norm's running_mean, running_var
   * and num_batches_tracked), updated by training forward passes and saved with the parameters.
   */
  readonly buffers: ReadonlyMap<string, Tensor>;
  /**
   * Whether forward() trains by default (dropout drops, batch norm uses and updates batch
   * statistics), as nn.Module's `training`: true until
   * eval(). A compiled program keeps the mode it was traced in.
   */
  training = true;
  /**
   * The stream of its dropout masks and rrelu slopes, seeded by the next 32 bits of the
   * initialisation's generator (if the model has such layers): each training forward pass draws
   * once per such layer (`drawsPerForward`).
   */
  readonly generator: Generator;
  private readonly layerParams: readonly (readonly Tensor[])[];
  private readonly layerBuffers: readonly (readonly Tensor[])[];

  private constructor(
    readonly rt: Runtime,
    spec: ModelSpec,
    gen: TorchGenerator,
    weights?: { tensors: HostTensors; source: string },
  ) {
    this.spec = spec;
    this.layers = inferLayers(rt, spec);
    const given = weights && checkWeights(this.layers, weights.tensors, weights.source);
    const params = new Map<string, Tensor>();
    const buffers = new Map<string, Tensor>();
    const size = (shape: Shape) => shape.reduce((a, b) => a * b, 1);
    // PyTorch's defaults (reset_parameters of Conv2d and Linear): weight kaiming_uniform_(a=√5),
    // bias U(±1/√fan_in), drawn in module registration order, weight before bias; batch norm's
    // constants, drawing nothing.
    this.layerParams = this.layers.map((l) =>
      l.params.map((p) => {
        const bound = p.role === 'weight' ? kaimingUniformBound(p.fanIn) : 1 / Math.sqrt(p.fanIn);
        // Drawn even when weights are given, so that the generator advances the same.
        const data = p.init === undefined ? gen.uniform(new Float32Array(size(p.shape)), -bound, bound) : new Float32Array(size(p.shape)).fill(p.init);
        const name = `${l.name}.${p.role}`;
        const t = rt.tensor(given?.get(name)!.data ?? data, p.shape, { requiresGrad: true, name });
        params.set(name, t);
        return t;
      }),
    );
    this.layerBuffers = this.layers.map((l) =>
      l.buffers.map((b) => {
        const name = `${l.name}.${b.role}`;
        const t = rt.tensor(given?.get(name)!.data ?? new Float32Array(size(b.shape)).fill(b.init), b.shape, { name });
        buffers.set(name, t);
        return t;
      }),
    );
    this.parameters = params;
    this.buffers = buffers;
    this.generator = new Generator(this.drawsPerForward ? Number(gen.randomInt64() % 2n ** 32n) : 0);
  }

  /** Builds a model (default: the seed CNN) with PyTorch's default initialisation, or `opts.weights`. */
  static create(rt: Runtime, spec: ModelSpec | unknown = SEED_CNN, opts: ModelOptions = {}): Model {
    if (typeof (rt as Partial<Runtime> | undefined)?.checkBindable !== 'function') {
      throw new TypeError('Model.create: the first argument must be a Runtime (from createRuntime()), then the spec');
    }
    checkOptionNames(opts, MODEL_OPTIONS, (why) => new RangeError(`Model.create: ${why}`));
    const { seed, generator, source } = opts;
    if (seed !== undefined) checkSeed('Model.create', seed);
    if (generator !== undefined && !(generator instanceof TorchGenerator)) throw new TypeError(`Model.create: generator must be a TorchGenerator (rt.manualSeed(seed) gives one), got ${shown(generator)}`);
    if (seed !== undefined && generator !== undefined) throw new RangeError('Model.create: give seed or generator, not both');
    if (source !== undefined && typeof source !== 'string') throw new TypeError(`Model.create: source must be a string (what holds the weights), got ${shown(source)}`);
    const weights = opts.weights && { tensors: hostTensors(opts.weights, 'Model.create: weights'), source: source ?? 'checkpoint' };
    return new Model(rt, parseModelSpec(spec), generator ?? new TorchGenerator(seed ?? 1), weights);
  }

  /** Shape of one input sample. */
  get inputShape(): Shape {
    return this.spec.input;
  }

  /** Shape of one output sample. */
  get outputShape(): Shape {
    return this.layers[this.layers.length - 1]!.outputShape;
  }

  /** Training mode (dropout drops, batch norm uses the batch's statistics) or, with false, evaluation mode, as nn.Module.train; returns the model. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw new TypeError(`model.train: the mode must be true or false, got ${shown(mode)}`);
    this.training = mode;
    return this;
  }

  /** Evaluation mode: dropout passes its input through, batch norm uses its running statistics, as nn.Module.eval; returns the model. */
  eval(): this {
    return this.train(false);
  }

  /** Draws a training forward pass takes from `generator`: a mask per dropout layer with p > 0, slopes per rrelu layer. */
  get drawsPerForward(): number {
    return this.layers.filter((l) => ((l.spec.type === 'dropout' || l.spec.type === 'dropout2d') && (l.spec.p ?? 0.5) > 0) || l.spec.type === 'rrelu').length;
  }

  /** The model applied to a batch [N, ...inputShape]. */
  forward(x: Tensor, opts: ForwardOptions = {}): Tensor {
    return this.run('model.forward', x, opts).at(-1)!.tensor;
  }

  /** Every layer's output for a batch, in order (the last is the model's output). */
  activations(x: Tensor, opts: ForwardOptions = {}): Activation[] {
    return this.run('model.activations', x, opts);
  }

  private run(method: string, x: Tensor, opts: ForwardOptions): Activation[] {
    checkTensor(method, 'x', x);
    const gone = [...this.parameters].find(([, p]) => p.disposed);
    if (gone) throw new TensorStateError(`${method}: parameter ${gone[0]} was disposed (the model's dispose() frees them all)`);
    checkOptionNames(opts, ['training'], (why) => new TypeError(`${method}: ${why}`));
    const training = opts.training ?? this.training;
    if (typeof training !== 'boolean') throw new TypeError(`${method}: training must be true or false, got ${shown(training)}`);
    if (x.rank !== this.inputShape.length + 1 || !sameShape(x.shape.slice(1), this.inputShape)) {
      throw new ShapeError('model', `expects input [N, ${this.inputShape.join(', ')}], got ${fmt(x.shape)}`, [x.shape]);
    }
    if (x.dtype !== 'f32') throw new ShapeError('model', `expects f32 input [N, ${this.inputShape.join(', ')}], got ${x.dtype}`, [x.shape]);
    // Named here, not by the first op on an intermediate of the other runtime.
    if (x.rt !== this.rt) throw new TensorStateError(`model: ${x.describe()}, the batch given, belongs to another runtime than the model's parameters`);
    const input = this.normalized(x);
    const outs: Tensor[] = [];
    return this.layers.map((l, i) => {
      const [h, other] = l.inputs.map((j) => (j < 0 ? input : outs[j]!));
      let y: Tensor;
      try {
        y = l.spec.type === 'add' ? add(h!, other!) : apply(l.spec, h!, this.layerParams[i]!, this.layerBuffers[i]!, { training, generator: this.generator });
      } catch (e) {
        // Named by its layer, as the spec's errors are: an op's message says which op, not where.
        if (e instanceof ShapeError) throw new (e.constructor as typeof ShapeError)(`${method}: ${l.path} (${l.type} '${l.name}')`, e.message, e.shapes);
        throw e;
      }
      outs.push(y);
      return { name: l.name, type: l.type, tensor: y };
    });
  }

  /** The input as the spec's `normalize` has it: (x − mean) / std per channel, in f32, as torchvision's Normalize computes it. */
  private normalized(x: Tensor): Tensor {
    const n = this.spec.normalize;
    if (!n) return x;
    // Per channel of [N, C, H, W] (one value each: over the whole sample).
    const shape = n.mean.length > 1 ? [n.mean.length, 1, 1] : [1];
    const constant = (what: string, values: number[]) => this.rt.constant(`normalize ${what} ${values.join(',')}`, shape, () => Float32Array.from(values));
    return div(sub(x, constant('mean', n.mean)), constant('std', n.std));
  }

  /** Number of scalar parameters. */
  get parameterCount(): number {
    let n = 0;
    for (const p of this.parameters.values()) n += p.size;
    return n;
  }

  /** Parameters and buffers by state_dict key, in PyTorch's order: each layer's parameters, then its buffers. */
  get stateTensors(): Map<string, Tensor> {
    return new Map(this.layers.flatMap((l, i) => [...this.layerParams[i]!, ...this.layerBuffers[i]!].map((t, k) => [`${l.name}.${[...l.params, ...l.buffers][k]!.role}`, t] as const)));
  }

  /**
   * Copies every parameter and buffer to the host, as PyTorch's state_dict: the values as of the
   * call, all read asked for at once, so that a step or a dispose() asked for before the copies
   * have run changes none of them. A buffer that PyTorch keeps as int64 (num_batches_tracked)
   * has `dtype: 'I64'`, its values f32 all the same, so that checkpoints can save it as PyTorch does.
   */
  async state(): Promise<Map<string, { shape: number[]; data: Float32Array; dtype?: 'I64' }>> {
    const params = [...this.stateTensors];
    const int64 = new Set(this.layers.flatMap((l) => l.buffers.filter((b) => b.int64).map((b) => `${l.name}.${b.role}`)));
    const data = await Promise.all(params.map(([, t]) => t.read()));
    return new Map(params.map(([name, t], i) => [name, { shape: [...t.shape], data: data[i] as Float32Array, ...(int64.has(name) ? { dtype: 'I64' as const } : {}) }]));
  }

  /**
   * Overwrites the parameters and buffers from named arrays (a checkpoint; a Map as `state()`
   * returns, or a plain object; names with one prefix before each, as nn.DataParallel saves them,
   * are taken without it), as load_state_dict. Every name, shape and data length is checked
   * first, and the mismatches are listed together (the first 8, then a count), before anything
   * is written. With `strict: false`, names on one side only are left (a new head keeps its
   * initialisation) and returned, as load_state_dict's missing_keys and unexpected_keys.
   */
  load(tensors: HostTensorsLike, opts: LoadOptions | string = {}): { missing: string[]; unexpected: string[] } {
    const o = typeof opts === 'string' ? { source: opts } : opts;
    if (typeof o !== 'object' || o === null) throw new TypeError(`Model.load: the options must be { strict, source } or a source name, got ${shown(opts)}`);
    checkOptionNames(o, ['strict', 'source'], (why) => new TypeError(`Model.load: ${why}`));
    const { strict = true, source = 'checkpoint' } = o;
    if (typeof strict !== 'boolean') throw new TypeError(`Model.load: strict must be true or false, got ${shown(strict)}`);
    if (typeof source !== 'string') throw new TypeError(`Model.load: source must be a string, got ${shown(source)}`);
    const given = checkWeights(this.layers, hostTensors(tensors, 'Model.load'), source, strict);
    for (const [name, p] of this.stateTensors) {
      const t = given.get(name);
      if (t) p.write(t.data);
    }
    return { missing: given.missing, unexpected: given.unexpected };
  }

  /**
   * Frees the parameters' buffers now, rather than once the model is collected; using the model
   * after it is an error. Optimizers and programs of its parameters should be disposed first.
   */
  dispose(): void {
    for (const p of this.parameters.values()) {
      p.dispose();
      p.grad = undefined; // a compiled step's gradient holds its program
    }
    for (const b of this.buffers.values()) b.dispose();
  }

  /** A table of layers, output shapes and parameter counts. */
  summary(): string {
    const rows = this.layers.map((l) => [l.name, l.type, fmt(l.outputShape), String(l.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0))]);
    rows.unshift(['input', '', fmt(this.inputShape), '']);
    const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), ['layer', 'type', 'output', 'params'][i]!.length));
    const line = (r: string[]) => r.map((c, i) => (i === 3 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
    return [line(['layer', 'type', 'output', 'params']), ...rows.map(line), `${this.parameterCount} parameters`].join('\n');
  }
}

