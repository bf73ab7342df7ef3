// Model specs: the JSON form of a model, validated with zod so that a bad field is reported
// with its path (`layers[3].kernelSize: …`). The default spec is the seed tutorial's CNN.
import { z } from 'zod';
import { SpecError } from '../runtime/errors.js';

const positive = z.number().int().positive();
const pair = z.union([positive, z.tuple([positive, positive])]);
const padding = z.union([z.number().int().nonnegative(), z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])]);
const name = z
  .string()
  .regex(/^[A-Za-z0-9_]+$/, 'a name is letters, digits and underscores')
  .optional();

export type Pair = number | [number, number];

/** One layer of a model spec (a `sequential` groups layers under one name prefix). */
export type LayerSpec =
  | { type: 'conv2d'; name?: string; inChannels?: number; outChannels: number; kernelSize: Pair; stride?: Pair; padding?: Pair; bias?: boolean }
  | { type: 'linear'; name?: string; inFeatures?: number; outFeatures: number; bias?: boolean }
  | { type: 'relu'; name?: string }
  | { type: 'maxpool2d'; name?: string; kernelSize: Pair; stride?: Pair; padding?: Pair }
  | { type: 'flatten'; name?: string; startDim?: number; endDim?: number }
  | { type: 'sequential'; name?: string; layers: LayerSpec[] };

/** A model as JSON: the shape of one input sample and the layers in order. */
export interface ModelSpec {
  /** Shape of one input sample, e.g. [1, 28, 28] (channels, height, width). */
  input: number[];
  layers: LayerSpec[];
}

const layerSchema: z.ZodType<LayerSpec> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('conv2d'),
      name,
      inChannels: positive.optional(),
      outChannels: positive,
      kernelSize: pair,
      stride: pair.optional(),
      padding: padding.optional(),
      bias: z.boolean().optional(),
    }),
    z.strictObject({ type: z.literal('linear'), name, inFeatures: positive.optional(), outFeatures: positive, bias: z.boolean().optional() }),
    z.strictObject({ type: z.literal('relu'), name }),
    z.strictObject({ type: z.literal('maxpool2d'), name, kernelSize: pair, stride: pair.optional(), padding: padding.optional() }),
    z.strictObject({ type: z.literal('flatten'), name, startDim: z.number().int().optional(), endDim: z.number().int().optional() }),
    z.strictObject({ type: z.literal('sequential'), name, layers: z.array(layerSchema).min(1) }),
  ]),
);

const modelSchema = z.strictObject({
  input: z.array(positive).min(1).max(3),
  layers: z.array(layerSchema).min(1),
});

/** Formats a zod path as `layers[3].kernelSize`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Validates a parsed JSON value as a model spec; throws SpecError with the bad field's path. */
export function parseModelSpec(value: unknown, source = 'model spec'): ModelSpec {
  const r = modelSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new SpecError(formatPath(issue.path), `${issue.message} (in ${source})`);
  }
  return r.data as ModelSpec;
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
