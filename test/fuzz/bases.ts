// The valid files the seeded fuzz tests (test/fuzz-*.test.ts) mutate: safetensors files as
// serializeSafetensors writes them, model specs using every layer kind and field form, IDX files
// of 1 to 4 dims, PNGs of every colour type (1- to 16-bit, some interlaced, two written by pngjs),
// and the metadata of an optimizer-state file.
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { serializeSafetensors } from '../../src/model/safetensors.js';
import { SEED_CNN, type ModelSpec } from '../../src/model/spec.js';
import { chunk, idx, ihdrChunk, pattern, scanlines, SIGNATURE, st, type PngHeaderFields } from '../file-builders.js';
import { Rng } from '../helpers.js';
import { own } from './mutations.js';
import { BASE_SEED, prod } from './property.js';

/** Named F32 tensors of `shapes`, with seeded values in [-2, 2). */
export const tensorsOf = (rng: Rng, shapes: [string, number[]][]) =>
  shapes.map(([name, shape]) => [name, { shape, data: Float32Array.from({ length: prod(shape) }, () => Math.fround(rng.uniform(-2, 2))) }] as [string, { shape: number[]; data: Float32Array }]);

/** Valid safetensors files, as serializeSafetensors writes them, with what they were made of. */
export const ST_BASES = (() => {
  const rng = new Rng(BASE_SEED);
  const a = tensorsOf(rng, [['w', [2, 3]], ['b', [3]], ['s', []], ['e', [2, 0]]]);
  const b = tensorsOf(rng, [['layer.0.weight', [4, 1, 2, 2]], ['layer.0.bias', [4]]]);
  return [
    { name: 'four tensors and metadata', tensors: a, metadata: { format: 'pt', note: 'ünïcödé ✓' } as Record<string, string> | undefined },
    { name: 'two tensors, no metadata', tensors: b, metadata: undefined },
    { name: 'empty', tensors: [] as typeof a, metadata: { k: 'v' } },
  ].map((x) => ({ ...x, bytes: serializeSafetensors(x.tensors, x.metadata) }));
})();
/** A base safetensors file, with the tensors and metadata it was made of. */
export type StBase = (typeof ST_BASES)[number];

/** A safetensors file of F16, BF16 and F64 tensors of random bits (NaNs, subnormals and all), built by hand. */
export const ST_OTHER_DTYPES = (() => {
  const rng = new Rng(BASE_SEED + 1);
  const data = Uint8Array.from({ length: 2 * 6 + 2 * 4 + 8 * 3 }, () => rng.int(0, 255));
  return st({ h: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] }, b: { dtype: 'BF16', shape: [4], data_offsets: [12, 20] }, d: { dtype: 'F64', shape: [3, 1], data_offsets: [20, 44] } }, data);
})();

/** A flatten and a linear layer. */
export const SMALL_SPEC: ModelSpec = { input: [1, 4, 4], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 3 }] };
/** Every layer kind and field form. */
const ALL_KINDS: ModelSpec = {
  input: [3, 16, 16],
  layers: [
    { type: 'conv2d', name: 'c1', inChannels: 3, outChannels: 4, kernelSize: [3, 2], stride: [2, 1], padding: [1, 0], bias: false },
    { type: 'batchnorm2d', name: 'bn', numFeatures: 4, eps: 0.001, momentum: 0.2, affine: true, trackRunningStats: true },
    { type: 'groupnorm', numGroups: 2, numChannels: 4, eps: 0.001, affine: true },
    { type: 'instancenorm2d', name: 'inorm', numFeatures: 4, eps: 0.01, affine: true },
    { type: 'leakyrelu', negativeSlope: 0.1 },
    { type: 'dropout2d', p: 0.1 },
    { type: 'sequential', name: 'block', layers: [{ type: 'conv2d', outChannels: 2, kernelSize: 1 }, { type: 'maxpool2d', kernelSize: [2, 2], stride: 2, padding: 0 }, { type: 'avgpool2d', kernelSize: 1 }] },
    { type: 'flatten', startDim: 1, endDim: -1 },
    { type: 'batchnorm1d', affine: false, trackRunningStats: false },
    { type: 'layernorm', name: 'ln', normalizedShape: [2], eps: 0.001, elementwiseAffine: true },
    { type: 'dropout', name: 'drop', p: 0.25 },
    { type: 'linear', name: 'out', inFeatures: 2, outFeatures: 10, bias: true },
  ],
};
/** Valid model specs, with what they are. */
export const SPEC_BASES: [string, ModelSpec][] = [['the seed CNN', SEED_CNN], ['every layer kind', ALL_KINDS], ['a small MLP', SMALL_SPEC]];

/** Valid IDX files. */
export const IDX_BASES: [string, Uint8Array][] = [
  ['labels', idx([6], [0, 9, 3, 1, 7, 2])],
  ['images 3×2×3', idx([3, 2, 3], Array.from({ length: 18 }, (_, i) => (i * 37) % 256))],
  ['4 dims', idx([1, 2, 1, 2], [1, 2, 3, 4])],
  ['2 dims', idx([2, 5], Array.from({ length: 10 }, (_, i) => i))],
];

/** A valid PNG, with what it was made of. */
export interface PngBase {
  name: string;
  header: PngHeaderFields;
  /** Filtered scanlines of the image, where we made them. */
  rows?: Buffer;
  extra: Buffer[];
  bytes: Uint8Array;
}

/** Valid PNGs of 28×28 pixels. */
export const PNG_BASES: PngBase[] = (() => {
  const grey: PngHeaderFields = { width: 28, height: 28 };
  const bits1: PngHeaderFields = { width: 28, height: 28, bitDepth: 1, interlace: 1 };
  const pal: PngHeaderFields = { width: 28, height: 28, bitDepth: 2, colorType: 3, interlace: 1 };
  const made = (name: string, header: PngHeaderFields, levels: number, extra: Buffer[] = []): PngBase => {
    const rows = scanlines(header, pattern(levels));
    return { name, header, rows, extra, bytes: own(Buffer.concat([SIGNATURE, ihdrChunk(header), ...extra, chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array())])) };
  };
  const fromPngjs = (name: string, colorType: 2 | 6): PngBase => {
    const p = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 28 * 28; i++) p.data.set([i % 256, (3 * i) % 256, 7, colorType === 6 ? (i * 5) % 256 : 255], 4 * i);
    const bytes = PNG.sync.write(p, { colorType });
    const text = chunk('tEXt', Buffer.from('Comment\0fuzz'));
    return { name, header: { width: 28, height: 28, colorType }, extra: [text], bytes: own(Buffer.concat([bytes.subarray(0, 33), text, bytes.subarray(33)])) };
  };
  /** Two-sample (or 16-bit) pixels: the scanlines of an 8-bit grey image twice as wide. */
  const wide = (name: string, header: PngHeaderFields): PngBase => {
    const rows = scanlines({ width: 56, height: 28 }, pattern(256));
    return { name, header, rows, extra: [], bytes: own(Buffer.concat([SIGNATURE, ihdrChunk(header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array())])) };
  };
  return [
    made('grey 8-bit', grey, 256),
    wide('grey 16-bit', { width: 28, height: 28, bitDepth: 16 }),
    wide('grey+alpha 8-bit', { width: 28, height: 28, colorType: 4 }),
    made('grey 1-bit interlaced', bits1, 2),
    made('palette 2-bit interlaced, PLTE and tRNS', pal, 4, [chunk('PLTE', Uint8Array.of(0, 0, 0, 80, 80, 80, 160, 160, 160, 255, 255, 255)), chunk('tRNS', Uint8Array.of(255, 128))]),
    fromPngjs('RGB 8-bit from pngjs, with tEXt', 2),
    fromPngjs('RGBA 8-bit from pngjs, with tEXt', 6),
  ];
})();

/** The metadata of a valid optimizer-state file of `optimizer`, saved beside the model of SHA-256 `sha`. */
export function optimizerMetadata(optimizer: 'adam' | 'sgd', sha: string): Record<string, string> {
  const hp = optimizer === 'adam' ? { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 } : { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true };
  return { optimizer, hyperparameters: JSON.stringify(hp), stepCount: '12', epoch: '1', stepInEpoch: '2', seed: '7', batchSize: '64', shuffle: 'true', dataDir: '/data/mnist', modelSha256: sha };
}
