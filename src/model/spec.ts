// Model specs: the JSON form of a model, validated with zod so that a bad field is reported
// with its path (`layers[3].kernelSize: …`). The default spec is the seed tutorial's CNN.
import { z } from 'zod';
import { SpecError } from '../runtime/errors.js';
import { shown } from '../runtime/options.js';
import { clean, formatPath, hasControls, once, quote } from './untrusted.js';
import type { InterpolateMode } from '../ops/resample.js';

export { formatPath } from './untrusted.js';

export type Pair = number | [number, number];

/** One layer of a model spec (a `sequential` groups layers under one name prefix). */
export type LayerSpec =
  | { type: 'conv2d'; name?: string; inChannels?: number; outChannels: number; kernelSize: Pair; stride?: Pair; padding?: Pair | 'same' | 'valid'; paddingMode?: 'zeros' | 'reflect' | 'replicate' | 'circular'; dilation?: Pair; groups?: number; bias?: boolean }
  | { type: 'convtranspose2d'; name?: string; inChannels?: number; outChannels: number; kernelSize: Pair; stride?: Pair; padding?: Pair; outputPadding?: Pair; dilation?: Pair; groups?: number; bias?: boolean }
  | { type: 'linear'; name?: string; inFeatures?: number; outFeatures: number; bias?: boolean }
  | { type: 'relu' | 'sigmoid' | 'tanh' | 'silu' | 'mish' | 'selu' | 'relu6' | 'hardsigmoid' | 'hardswish' | 'logsigmoid' | 'softsign' | 'tanhshrink'; name?: string }
  | { type: 'hardtanh'; name?: string; minVal?: number; maxVal?: number }
  | { type: 'softshrink' | 'hardshrink'; name?: string; lambd?: number }
  | { type: 'threshold'; name?: string; threshold: number; value: number }
  | { type: 'celu'; name?: string; alpha?: number }
  | { type: 'glu'; name?: string; dim?: number }
  | { type: 'prelu'; name?: string; numParameters?: number; init?: number }
  | { type: 'softplus'; name?: string; beta?: number; threshold?: number }
  | { type: 'gelu'; name?: string; approximate?: 'none' | 'tanh' }
  | { type: 'elu'; name?: string; alpha?: number }
  | { type: 'maxpool2d'; name?: string; kernelSize: Pair; stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean }
  | { type: 'avgpool2d'; name?: string; kernelSize: Pair; stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean; divisorOverride?: number }
  | { type: 'adaptiveavgpool2d' | 'adaptivemaxpool2d'; name?: string; outputSize: Pair }
  | { type: 'upsample'; name?: string; size?: Pair; scaleFactor?: number | [number, number]; mode?: InterpolateMode; alignCorners?: boolean }
  | { type: 'flatten'; name?: string; startDim?: number; endDim?: number }
  | { type: 'unflatten'; name?: string; dim: number; sizes: number[] }
  | { type: 'identity'; name?: string }
  | { type: 'pixelshuffle'; name?: string; upscaleFactor: number }
  | { type: 'pixelunshuffle'; name?: string; downscaleFactor: number }
  | { type: 'softmax' | 'logsoftmax'; name?: string; dim?: number }
  | { type: 'zeropad2d' | 'reflectionpad2d' | 'replicationpad2d'; name?: string; padding: Padding4 }
  | { type: 'constantpad2d'; name?: string; padding: Padding4; value: number }
  | { type: 'dropout' | 'dropout2d'; name?: string; p?: number }
  | { type: 'leakyrelu'; name?: string; negativeSlope?: number }
  | { type: 'rrelu'; name?: string; lower?: number; upper?: number }
  | { type: 'batchnorm1d' | 'batchnorm2d'; name?: string; numFeatures?: number; eps?: number; momentum?: number | null; affine?: boolean; trackRunningStats?: boolean }
  | { type: 'layernorm'; name?: string; normalizedShape?: number[]; eps?: number; elementwiseAffine?: boolean }
  | { type: 'groupnorm'; name?: string; numGroups: number; numChannels?: number; eps?: number; affine?: boolean }
  | { type: 'instancenorm2d'; name?: string; numFeatures?: number; eps?: number; momentum?: number; affine?: boolean; trackRunningStats?: boolean }
  | { type: 'sequential'; name?: string; layers: LayerSpec[] }
  | { type: 'residual'; name?: string; layers: LayerSpec[]; shortcut?: LayerSpec };

/** Padding of all four sides, or [left, right, top, bottom], as nn.ZeroPad2d's. */
export type Padding4 = number | [number, number, number, number];

/** A model as JSON: the shape of one input sample and the layers in order. */
export interface ModelSpec {
  /** Shape of one input sample, e.g. [1, 28, 28] (channels, height, width). */
  input: number[];
  layers: LayerSpec[];
  /** The names of a classifier's outputs, in order (CIFAR-10's airplane, automobile, …): `fovea predict` prints them. */
  classes?: string[];
  /**
   * What the model does first to its input (pixels in [0, 1], as torchvision's ToTensor gives
   * them): (x − mean) / std per channel, as torchvision's Normalize; one value each, or one per
   * channel of an input [C, H, W].
   */
  normalize?: { mean: number[]; std: number[] };
}

// NOTE: a bound on the values in one input sample, 2^24 (a 4096×4096 grey image), so that
// nothing sized from a spec (predict's pixel buffer) can be made huge by a small file; far
// above MNIST's 784 and any input the device's buffer limits would take in a useful batch.
const MAX_INPUT_ELEMENTS = 2 ** 24;

const modelSchema = /* @__PURE__ */ once((): z.ZodType<ModelSpec> => {
  const positive = z.number().int().positive();
  // A union's own failure says only "Invalid input": say what either form is.
  const pair = z.union([positive, z.tuple([positive, positive])], { error: 'expected a positive integer or [h, w] of them' });
  const nonNegative = z.number().int().nonnegative();
  const padding = z.union([nonNegative, z.tuple([nonNegative, nonNegative])], { error: 'expected a non-negative integer or [h, w] of them' });
  const padding4 = (side: z.ZodNumber) => z.union([side, z.tuple([side, side, side, side])], { error: `expected ${side === nonNegative ? 'a non-negative' : 'an'} integer or [left, right, top, bottom] of them` });
  const name = z
    .string()
    .regex(/^[A-Za-z0-9_]+$/, 'a name is letters, digits and underscores')
    .optional();

  const layerSchema: z.ZodType<LayerSpec> = z.lazy(() =>
    z.discriminatedUnion('type', [
      // As nn.Conv2d and nn.ConvTranspose2d (groups dividing both channel counts, checked
      // against the input's).
      z.strictObject({
        type: z.literal('conv2d'),
        name,
        inChannels: positive.optional(),
        outChannels: positive,
        kernelSize: pair,
        stride: pair.optional(),
        padding: z.union([nonNegative, z.tuple([nonNegative, nonNegative]), z.enum(['same', 'valid'])], { error: "expected a non-negative integer, [h, w] of them, 'same' or 'valid'" }).optional(),
        paddingMode: z.enum(['zeros', 'reflect', 'replicate', 'circular']).optional(),
        dilation: pair.optional(),
        groups: positive.optional(),
        bias: z.boolean().optional(),
      }),
      z.strictObject({
        type: z.literal('convtranspose2d'),
        name,
        inChannels: positive.optional(),
        outChannels: positive,
        kernelSize: pair,
        stride: pair.optional(),
        padding: padding.optional(),
        outputPadding: padding.optional(),
        dilation: pair.optional(),
        groups: positive.optional(),
        bias: z.boolean().optional(),
      }),
      z.strictObject({ type: z.literal('linear'), name, inFeatures: positive.optional(), outFeatures: positive, bias: z.boolean().optional() }),
      // Activations without parameters, as nn.ReLU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.Mish, nn.SELU,
      // nn.ReLU6, nn.Hardsigmoid, nn.Hardswish, nn.LogSigmoid, nn.Softsign and nn.Tanhshrink.
      z.strictObject({ type: z.enum(['relu', 'sigmoid', 'tanh', 'silu', 'mish', 'selu', 'relu6', 'hardsigmoid', 'hardswish', 'logsigmoid', 'softsign', 'tanhshrink']), name }),
      // As nn.Hardtanh: bounds −1 and 1 by default, the lower below the upper (nn.Hardtanh asserts it).
      z
        .strictObject({ type: z.literal('hardtanh'), name, minVal: z.number().optional(), maxVal: z.number().optional() })
        .refine((l) => (l.minVal ?? -1) < (l.maxVal ?? 1), { path: ['maxVal'], message: 'expected maxVal above minVal' }),
      // As nn.Softshrink and nn.Hardshrink (lambd 0.5, at least 0), nn.Threshold and nn.CELU (alpha 1, not 0).
      z.strictObject({ type: z.enum(['softshrink', 'hardshrink']), name, lambd: z.number().min(0).optional() }),
      z.strictObject({ type: z.literal('threshold'), name, threshold: z.number(), value: z.number() }),
      z.strictObject({ type: z.literal('celu'), name, alpha: z.number().refine((a) => a !== 0, 'expected a nonzero number').optional() }),
      // As nn.GLU: the halves of dimension dim (-1; counting the batch, as flatten's) gating each other.
      z.strictObject({ type: z.literal('glu'), name, dim: z.number().int().optional() }),
      // As nn.PReLU: numParameters slopes (1, or one per channel), each init (0.25) to begin with.
      z.strictObject({ type: z.literal('prelu'), name, numParameters: positive.optional(), init: z.number().optional() }),
      // As nn.Softplus: beta 1 and threshold 20 by default.
      z.strictObject({ type: z.literal('softplus'), name, beta: z.number().refine((b) => b !== 0, 'expected a nonzero number').optional(), threshold: z.number().optional() }),
      // As nn.GELU: approximate 'none' (x·Φ(x)) by default, or 'tanh'.
      z.strictObject({ type: z.literal('gelu'), name, approximate: z.enum(['none', 'tanh']).optional() }),
      // As nn.ELU: alpha 1 by default.
      z.strictObject({ type: z.literal('elu'), name, alpha: z.number().optional() }),
      // As nn.MaxPool2d and nn.AvgPool2d (floor sizes but in ceil mode; max pooling's taps spaced
      // by its dilation; padding counted in the mean unless countIncludePad is false;
      // divisorOverride in place of the count).
      z.strictObject({ type: z.literal('maxpool2d'), name, kernelSize: pair, stride: pair.optional(), padding: padding.optional(), dilation: pair.optional(), ceilMode: z.boolean().optional() }),
      z.strictObject({
        type: z.literal('avgpool2d'),
        name,
        kernelSize: pair,
        stride: pair.optional(),
        padding: padding.optional(),
        ceilMode: z.boolean().optional(),
        countIncludePad: z.boolean().optional(),
        divisorOverride: z.number().int().refine((d) => d !== 0, 'expected a nonzero integer').optional(),
      }),
      // As nn.AdaptiveAvgPool2d and nn.AdaptiveMaxPool2d: any input size to outputSize.
      z.strictObject({ type: z.enum(['adaptiveavgpool2d', 'adaptivemaxpool2d']), name, outputSize: pair }),
      // As nn.Upsample: size or scaleFactor (one of them), mode 'nearest' by default;
      // alignCorners for 'bilinear' and 'bicubic' only.
      z
        .strictObject({
          type: z.literal('upsample'),
          name,
          size: pair.optional(),
          scaleFactor: z.union([z.number().positive(), z.tuple([z.number().positive(), z.number().positive()])], { error: 'expected a positive number or [h, w] of them' }).optional(),
          mode: z.enum(['nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area']).optional(),
          alignCorners: z.boolean().optional(),
        })
        .superRefine((l, ctx) => {
          if ((l.size === undefined) === (l.scaleFactor === undefined)) ctx.addIssue({ code: 'custom', path: ['size'], message: 'give either size or scaleFactor, not both or neither' });
          if (l.alignCorners !== undefined && l.mode !== 'bilinear' && l.mode !== 'bicubic') ctx.addIssue({ code: 'custom', path: ['alignCorners'], message: "only for modes 'bilinear' and 'bicubic'" });
        }),
      z.strictObject({ type: z.literal('flatten'), name, startDim: z.number().int().optional(), endDim: z.number().int().optional() }),
      // As nn.Unflatten (dim counts the batch, as flatten's; one size may be -1) and nn.Identity.
      z.strictObject({ type: z.literal('unflatten'), name, dim: z.number().int(), sizes: z.array(z.number().int().min(-1).refine((d) => d !== 0, 'expected a positive size or -1')).min(1).max(4) }),
      z.strictObject({ type: z.literal('identity'), name }),
      // As nn.PixelShuffle and nn.PixelUnshuffle.
      z.strictObject({ type: z.literal('pixelshuffle'), name, upscaleFactor: positive }),
      z.strictObject({ type: z.literal('pixelunshuffle'), name, downscaleFactor: positive }),
      // As nn.Softmax and nn.LogSoftmax: over dim, which counts the batch (as flatten's), 1 by default.
      z.strictObject({ type: z.enum(['softmax', 'logsoftmax']), name, dim: z.number().int().optional() }),
      // As nn.ZeroPad2d and nn.ConstantPad2d (a negative padding crops) and nn.ReflectionPad2d
      // and nn.ReplicationPad2d: all four sides, or [left, right, top, bottom].
      z.strictObject({ type: z.literal('zeropad2d'), name, padding: padding4(z.number().int()) }),
      z.strictObject({ type: z.literal('constantpad2d'), name, padding: padding4(z.number().int()), value: z.number() }),
      z.strictObject({ type: z.enum(['reflectionpad2d', 'replicationpad2d']), name, padding: padding4(nonNegative) }),
      // As nn.LeakyReLU: negativeSlope 0.01 by default.
      z.strictObject({ type: z.literal('leakyrelu'), name, negativeSlope: z.number().optional() }),
      // As nn.RReLU: negative slopes drawn from [lower, upper] in training (1/8 to 1/3 by
      // default), their mean in evaluation.
      z
        .strictObject({ type: z.literal('rrelu'), name, lower: z.number().optional(), upper: z.number().optional() })
        .refine((l) => (l.lower ?? 1 / 8) <= (l.upper ?? 1 / 3), { path: ['upper'], message: 'expected upper ≥ lower' }),
      // As nn.Dropout and nn.Dropout2d (whole channels): p, the probability of a zero, 0.5 by
      // default; only in training.
      z.strictObject({ type: z.enum(['dropout', 'dropout2d']), name, p: z.number().min(0).max(1).optional() }),
      // As nn.BatchNorm1d ([C] or [C, L] per sample) and nn.BatchNorm2d ([C, H, W]): numFeatures
      // is the input's channels; eps 1e-5, momentum 0.1 (null: a cumulative average), affine and
      // running statistics by default.
      z.strictObject({
        type: z.enum(['batchnorm1d', 'batchnorm2d']),
        name,
        numFeatures: positive.optional(),
        eps: z.number().min(0).optional(),
        momentum: z.number().min(0).max(1).nullable().optional(),
        affine: z.boolean().optional(),
        trackRunningStats: z.boolean().optional(),
      }),
      // As nn.LayerNorm: normalizedShape, the last sizes of a sample, by default all of them.
      z.strictObject({
        type: z.literal('layernorm'),
        name,
        normalizedShape: z.array(positive).min(1).max(3).optional(),
        eps: z.number().min(0).optional(),
        elementwiseAffine: z.boolean().optional(),
      }),
      // As nn.GroupNorm: numGroups dividing the channels (numChannels, checked if given).
      z.strictObject({ type: z.literal('groupnorm'), name, numGroups: positive, numChannels: positive.optional(), eps: z.number().min(0).optional(), affine: z.boolean().optional() }),
      // As nn.InstanceNorm2d (without running statistics): each channel of each sample; affine
      // false by default, as there.
      z.strictObject({
        type: z.literal('instancenorm2d'),
        name,
        numFeatures: positive.optional(),
        eps: z.number().min(0).optional(),
        momentum: z.number().min(0).max(1).optional(),
        affine: z.boolean().optional(),
        trackRunningStats: z.boolean().optional(),
      }),
      z.strictObject({ type: z.literal('sequential'), name, layers: z.array(layerSchema).min(1) }),
      // A residual block, as torchvision ResNet's: its layers' output plus its input, or plus
      // its shortcut's output (named 'downsample' unless it names itself), both named under it.
      z.strictObject({ type: z.literal('residual'), name, layers: z.array(layerSchema).min(1), shortcut: layerSchema.optional() }),
    ]),
  );

  return z.strictObject({
    input: z
      .array(positive)
      .min(1)
      .max(3)
      .refine((dims) => dims.reduce((a, d) => a * d, 1) <= MAX_INPUT_ELEMENTS, `more than ${MAX_INPUT_ELEMENTS} values in one input sample`),
    layers: z.array(layerSchema).min(1),
    normalize: z
      // A std that float32 (the model's arithmetic) holds as 0 or a subnormal divides into infinities.
      .strictObject({ mean: z.array(z.number()).min(1), std: z.array(z.number().refine((v) => Math.fround(v) >= 2 ** -126, 'expected a positive number, at least 2^-126 (float32 holds less as 0)')).min(1) })
      .refine((n) => n.mean.length === n.std.length, { message: 'mean and std need as many values', path: ['std'] })
      .optional(),
    // As many as the model has outputs (checked where the shapes are inferred).
    classes: z
      .array(z.string().min(1).max(100).refine((s) => !hasControls(s), 'a class name may not hold control characters'))
      .min(1)
      .optional(),
  })
    .superRefine((spec, ctx) => {
      // One value for every channel, or one per channel of an input [C, H, W].
      const channels = spec.input.length === 3 ? spec.input[0]! : 1;
      const n = spec.normalize?.mean.length;
      if (n !== undefined && n !== 1 && n !== channels) {
        ctx.addIssue({ code: 'custom', path: ['normalize', 'mean'], message: `${n} values for an input of ${channels} channel${channels === 1 ? '' : 's'}: give one, or one per channel` });
      }
    });
});

// NOTE: zod validates the recursive layer schema recursively, and a few hundred nested
// `sequential`s overflow the stack (a RangeError naming nothing). 64 levels of JSON hold 30
// nested sequentials (each adds an object and its layers array); the seed CNN uses 6.
const MAX_DEPTH = 64;
// NOTE: zod takes hundreds of bytes per value validated (and keeps an issue for every bad
// one), so a spec is bounded before it is validated: a 10,000-layer network's holds about
// 50,000 values, its JSON about 500 KB.
const MAX_VALUES = 2 ** 16;
/** The longest JSON text read as a model spec (from a file or a checkpoint's metadata). */
export const MAX_SPEC_CHARS = 2 ** 20;

/**
 * Throws a SpecError naming the first value nested deeper than MAX_DEPTH, or when there are more
 * than MAX_VALUES; iterative, so deep input cannot overflow the stack here.
 */
function checkSize(value: unknown, source: string): void {
  interface Node { value: unknown; depth: number; key?: PropertyKey; parent?: Node }
  const stack: Node[] = [{ value, depth: 0 }];
  let count = 1;
  for (let node = stack.pop(); node; node = stack.pop()) {
    const v = node.value;
    if (typeof v !== 'object' || v === null) continue;
    if (node.depth >= MAX_DEPTH) {
      const path: PropertyKey[] = [];
      for (let n: Node | undefined = node; n?.key !== undefined; n = n.parent) path.unshift(n.key);
      throw new SpecError(formatPath(path), `nested more than ${MAX_DEPTH} levels deep (in ${source})`);
    }
    const keys = Array.isArray(v) ? undefined : Object.keys(v);
    const size = keys ? keys.length : (v as unknown[]).length;
    if ((count += size) > MAX_VALUES) throw new SpecError('', `more than ${MAX_VALUES} values, more than any model spec needs (in ${source})`);
    for (let i = 0; i < size; i++) {
      const key = keys ? keys[i]! : i;
      stack.push({ value: (v as Record<PropertyKey, unknown>)[key], depth: node.depth + 1, key, parent: node });
    }
  }
}

/**
 * A model spec from its JSON text (a file's, a checkpoint's metadata): text longer than
 * MAX_SPEC_CHARS or not JSON is refused with `bad(why)`, a bad spec with a SpecError.
 */
export function parseModelSpecJson(text: string, source: string, bad: (why: string) => Error): ModelSpec {
  if (text.length > MAX_SPEC_CHARS) throw bad(`too long for a model spec: ${text.length} characters, at most ${MAX_SPEC_CHARS}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${clean((e as Error).message)})`);
  }
  return parseModelSpec(json, source);
}

/** Validates a parsed JSON value as a model spec; throws SpecError with the bad field's path. */
export function parseModelSpec(value: unknown, source = 'model spec'): ModelSpec {
  checkSize(value, source);
  const r = modelSchema().safeParse(value);
  if (!r.success) {
    const { path, why } = specIssue(r.error.issues, value);
    throw new SpecError(formatPath(path), `${why} (in ${source})`);
  }
  const spec = r.data as ModelSpec;
  checkLayerNames(spec.layers, source);
  return spec;
}

/** @internal checkNames of a spec's layers (`source` names it in the error). */
export function checkLayerNames(layers: readonly LayerSpec[], source = 'model spec'): void {
  checkNames(layers, 'layers', source);
}

/**
 * Refuses two layers of one list under one name (a layer's own, or its index), and a residual
 * block's shortcut named as a layer of the block, which share its namespace: their parameters
 * would have one state_dict key.
 */
function checkNames(layers: readonly LayerSpec[], path: string, source: string): void {
  const seen = new Set<string>();
  layers.forEach((l, i) => {
    const local = l.name ?? String(i);
    if (seen.has(local)) throw new SpecError(`${path}[${i}].name`, `duplicate layer name '${local}' (in ${source})`);
    seen.add(local);
    checkInside(l, `${path}[${i}]`, source);
  });
}

/** checkNames within a sequential or residual layer `l` (at `at`). */
function checkInside(l: LayerSpec, at: string, source: string): void {
  if (l.type !== 'sequential' && l.type !== 'residual') return;
  checkNames(l.layers, `${at}.layers`, source);
  if (l.type !== 'residual' || !l.shortcut) return;
  const named = l.shortcut.name ?? 'downsample';
  if (l.layers.some((m, k) => (m.name ?? String(k)) === named)) throw new SpecError(`${at}.shortcut.name`, `duplicate layer name '${named}' (a layer of the block has it) (in ${source})`);
  checkInside(l.shortcut, `${at}.shortcut`, source);
}

/**
 * The fields of each layer type, of `normalize` and of the spec itself, from the schema: what an
 * unknown field is checked against.
 */
const fieldsOf = /* @__PURE__ */ once(() => {
  // The schema's own parts, reached through zod's object and union accessors.
  const top = modelSchema() as unknown as z.ZodObject<{ layers: z.ZodArray<z.ZodLazy<z.ZodDiscriminatedUnion<z.ZodObject[]>>>; normalize: z.ZodOptional<z.ZodObject> }>;
  const byType = new Map<string, string[]>();
  for (const o of top.shape.layers.element.unwrap().options) {
    const type = o.shape.type as z.ZodLiteral<string> | z.ZodEnum;
    for (const t of type instanceof z.ZodEnum ? (type.options as string[]) : type.values) byType.set(t, Object.keys(o.shape));
  }
  return { spec: Object.keys(top.shape), normalize: Object.keys(top.shape.normalize.unwrap().shape), byType };
});

/**
 * What an object at `path` in a spec may hold, and what to call it ('a layer of type "conv2d"'), where
 * that is known: an object with an unknown type has no fields to name.
 */
function fieldsAt(path: readonly PropertyKey[], value: unknown): { what: string; fields: string[] } | undefined {
  const { spec, normalize, byType } = fieldsOf();
  if (path.length === 0) return { what: 'a model spec', fields: spec };
  if (path.length === 1 && path[0] === 'normalize') return { what: 'normalize', fields: normalize };
  const at = path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], value) as { type?: unknown } | undefined;
  const fields = typeof at?.type === 'string' ? byType.get(at.type) : undefined;
  return fields && { what: `a layer of type ${quote(at!.type as string)}`, fields };
}

/**
 * What to say of the first issue zod found: an unknown layer type with every type there is
 * (zod's own message is cut short) and the likely one; an unknown field with the field it is
 * likely a spelling of (PyTorch's out_channels for outChannels), or else the fields there are;
 * and a missing field with the unknown one beside it, which may be its misspelling.
 */
function specIssue(issues: readonly z.core.$ZodIssue[], value: unknown): { path: PropertyKey[]; why: string } {
  const issue = issues[0]!;
  const unknownField = (i: z.core.$ZodIssue) => {
    if (i.code !== 'unrecognized_keys') return '';
    const key = i.keys[0]!;
    const said = `unknown field ${quote(key)}${i.keys.length > 1 ? ` and ${i.keys.length - 1} more` : ''}`;
    const known = fieldsAt(i.path, value);
    if (!known) return said;
    const bare = (f: string) => f.toLowerCase().replace(/[_-]/g, '');
    const like = known.fields.find((f) => bare(f) === bare(key));
    return like ? `${said} (${quote(like)}?)` : `${said}; ${known.what} has ${known.fields.join(', ')}`;
  };
  if (issue.code === 'unrecognized_keys') return { path: issue.path, why: unknownField(issue) };
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator === 'type') {
    const types = (issue as unknown as { options: string[] }).options;
    const given = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], value);
    if (typeof given !== 'string') return { path: issue.path, why: `${given === undefined ? 'a layer needs a type' : "a layer's type is a string"}, one of ${types.join(', ')}` };
    // PyTorch's class names in lower case are ours (nn.BatchNorm2d: batchnorm2d).
    const like = types.find((t) => t === given.toLowerCase().replace(/[_-]/g, ''));
    return { path: issue.path, why: `unknown layer type ${quote(given)}${like ? ` (${quote(like)}?)` : ''}; the types are ${types.join(', ')}` };
  }
  // An unknown field of the same object, reported after this one.
  const parent = formatPath(issue.path.slice(0, -1));
  const beside = issues.find((i) => i.code === 'unrecognized_keys' && formatPath(i.path) === parent);
  // zod's messages can echo the input (an unknown field's name).
  return { path: issue.path, why: `${plainly(issue, value) ?? clean(issue.message)}${beside ? `; and ${unknownField(beside)}` : ''}` };
}

/** What zod's type and bound issues say, with the value given: "expected an integer, got 10.5". */
function plainly(issue: z.core.$ZodIssue, value: unknown): string | undefined {
  const given = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], value);
  const got = typeof given === 'string' ? quote(given, 40) : Array.isArray(given) ? `an array of ${given.length}` : shown(given);
  if (issue.code === 'invalid_type') {
    const nouns: Record<string, string> = { int: 'an integer', number: 'a number', string: 'a string', array: 'an array', object: 'an object', boolean: 'true or false' };
    const expected = nouns[issue.expected] ?? issue.expected;
    return given === undefined ? `missing: expected ${expected}` : `expected ${expected}, got ${got}`;
  }
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'number') {
    const bound = issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
    return `must be ${bound} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)}, got ${got}`;
  }
  return undefined;
}

/** The seed tutorial's CNN; its parameter names are the PyTorch model's state_dict keys. */
export const SEED_CNN: ModelSpec = {
  input: [1, 28, 28],
  layers: [
    {
      type: 'sequential',
      name: 'conv1',
      layers: [{ type: 'conv2d', outChannels: 16, kernelSize: 5, stride: 1, padding: 2 }, { type: 'relu' }, { type: 'maxpool2d', kernelSize: 2 }],
    },
    {
      type: 'sequential',
      name: 'conv2',
      layers: [{ type: 'conv2d', outChannels: 32, kernelSize: 5, stride: 1, padding: 2 }, { type: 'relu' }, { type: 'maxpool2d', kernelSize: 2 }],
    },
    { type: 'flatten' },
    { type: 'linear', name: 'out', outFeatures: 10 },
  ],
};
