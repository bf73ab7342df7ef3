// What a successful parse must agree with, for the seeded fuzz tests (test/fuzz-*.test.ts):
// each check reads the input independently of the parser (safetensors header and data, model
// spec fields, IDX header and data, optimizer state) and returns why the parse's result is not
// what the bytes hold, or undefined when it is.
import { isDeepStrictEqual } from 'node:util';
import type { OptimizerCheckpoint } from '../../src/model/checkpoint.js';
import { parseSafetensors, type Safetensors } from '../../src/model/safetensors.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { parseIdx, type IdxFile, type MnistImages } from '../../src/mnist/idx.js';
import { CONTROL, hexes, prod, show } from './property.js';

/** Bytes per element of the dtypes parseSafetensors reads. */
const ST_SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** The f32 values of little-endian `bytes` of `dtype`, from bit arithmetic (not as the parser decodes them). */
function asF32(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / ST_SIZES[dtype]!);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'F64') out[i] = Math.fround(view.getFloat64(8 * i, true));
    else if (dtype === 'BF16') bits[i] = view.getUint16(2 * i, true) << 16;
    else {
      const h = view.getUint16(2 * i, true);
      const sign = (h & 0x8000) << 16;
      let e = (h >> 10) & 31;
      let m = h & 0x3ff;
      if (e === 31) bits[i] = sign | 0x7f800000 | (m << 13);
      else if (e > 0) bits[i] = sign | ((e + 112) << 23) | (m << 13);
      else if (m === 0) bits[i] = sign;
      else {
        // A subnormal half: normalise the mantissa, lowering the exponent.
        for (e = 113; !(m & 0x400); e--) m <<= 1;
        bits[i] = sign | (e << 23) | ((m & 0x3ff) << 13);
      }
    }
  }
  return out;
}

/** Why `r` is not what `bytes` hold as safetensors (from an independent reading), or undefined. */
export function safetensorsProblem(bytes: Uint8Array, r: Safetensors): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  if (dataLength < 0) return `header length ${n} past the end of the ${bytes.length}-byte file`;
  const header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart))) as Record<string, unknown>;
  const meta = header.__metadata__ ?? {};
  if (!isDeepStrictEqual({ ...r.metadata }, { ...(meta as object) })) return `metadata ${show({ ...r.metadata })} is not the header's ${show(meta)}`;
  for (const v of Object.values(r.metadata)) if (typeof v !== 'string') return `metadata value ${show(v)} is not a string`;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (!isDeepStrictEqual([...r.tensors.keys()].sort(), names.sort())) return `tensors ${show([...r.tensors.keys()])}, header has ${show(names)}`;
  let total = 0;
  let lastBegin = -1;
  for (const [name, t] of r.tensors) {
    const h = header[name] as { dtype: unknown; shape: unknown; data_offsets: unknown };
    const [begin, end] = h.data_offsets as [number, number];
    const size = ST_SIZES[String(h.dtype)];
    if (t.dtype !== h.dtype || !Object.hasOwn(ST_SIZES, t.dtype) || size === undefined) return `tensor ${show(name)} of dtype ${show(t.dtype)} (header ${show(h.dtype)})`;
    if (!isDeepStrictEqual(t.shape, h.shape)) return `tensor ${show(name)} has shape ${show(t.shape)}, header ${show(h.shape)}`;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `tensor ${show(name)} has shape ${show(t.shape)}`;
    if (!(t.data instanceof Float32Array)) return `tensor ${show(name)} data is not a Float32Array`;
    if (t.data.length !== prod(t.shape)) return `tensor ${show(name)} has ${t.data.length} values for shape ${show(t.shape)}`;
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && begin <= end && end <= dataLength)) {
      return `tensor ${show(name)} data_offsets ${show(h.data_offsets)} are not inside the ${dataLength}-byte data buffer`;
    }
    if (end - begin !== t.data.length * size) return `tensor ${show(name)} holds ${t.data.length} values of ${size} bytes, data_offsets ${show(h.data_offsets)} span ${end - begin}`;
    const file = bytes.subarray(dataStart + begin, dataStart + end);
    // F32 bit for bit (NaN payloads too); the others as values, any NaN for a NaN.
    const same =
      t.dtype === 'F32'
        ? Buffer.compare(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), file) === 0
        : asF32(t.dtype, file).every((v, i) => Object.is(v, t.data[i]) || (Number.isNaN(v) && Number.isNaN(t.data[i])));
    if (!same) return `tensor ${show(name)} data differs from file bytes ${dataStart + begin}..${dataStart + end} read as ${t.dtype}`;
    if (begin < lastBegin) return `tensor ${show(name)} (at ${begin}) comes after one at ${lastBegin}`;
    lastBegin = begin;
    total += end - begin;
  }
  if (total !== dataLength) return `tensors hold ${total} bytes of a ${dataLength}-byte data buffer`;
  return undefined;
}

const LAYER_KEYS: Record<string, string[]> = {
  conv2d: ['type', 'name', 'inChannels', 'outChannels', 'kernelSize', 'stride', 'padding', 'bias'],
  linear: ['type', 'name', 'inFeatures', 'outFeatures', 'bias'],
  relu: ['type', 'name'],
  sigmoid: ['type', 'name'],
  tanh: ['type', 'name'],
  maxpool2d: ['type', 'name', 'kernelSize', 'stride', 'padding'],
  avgpool2d: ['type', 'name', 'kernelSize', 'stride', 'padding'],
  flatten: ['type', 'name', 'startDim', 'endDim'],
  dropout: ['type', 'name', 'p'],
  dropout2d: ['type', 'name', 'p'],
  leakyrelu: ['type', 'name', 'negativeSlope'],
  batchnorm1d: ['type', 'name', 'numFeatures', 'eps', 'momentum', 'affine', 'trackRunningStats'],
  batchnorm2d: ['type', 'name', 'numFeatures', 'eps', 'momentum', 'affine', 'trackRunningStats'],
  layernorm: ['type', 'name', 'normalizedShape', 'eps', 'elementwiseAffine'],
  groupnorm: ['type', 'name', 'numGroups', 'numChannels', 'eps', 'affine'],
  instancenorm2d: ['type', 'name', 'numFeatures', 'eps', 'affine'],
  sequential: ['type', 'name', 'layers'],
};
const isPos = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 0;
const isNonNeg = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const isPair = (x: unknown, ok: (y: unknown) => boolean) => ok(x) || (Array.isArray(x) && x.length === 2 && x.every(ok));

/** Why `spec` is not a valid model spec, by an independent reading of the format; undefined if it is. */
export function specProblem(spec: unknown): string | undefined {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return 'spec is not an object';
  const s = spec as Record<string, unknown>;
  if (!isDeepStrictEqual(Object.keys(s).sort(), ['input', 'layers'])) return `spec keys ${show(Object.keys(s))}`;
  const input = s.input;
  if (!Array.isArray(input) || input.length < 1 || input.length > 3 || !input.every(isPos)) return `input ${show(input)}`;
  if (prod(input as number[]) > 2 ** 24) return `input ${show(input)} over 2^24 values`;
  const layers = (ls: unknown, where: string, depth: number): string | undefined => {
    if (!Array.isArray(ls) || ls.length === 0) return `${where} ${show(ls)} is not a non-empty array`;
    if (depth > 32) return `${where} nested ${depth} sequentials deep`;
    for (const [i, l] of ls.entries()) {
      const at = `${where}[${i}]`;
      if (l === null || typeof l !== 'object' || Array.isArray(l)) return `${at} is not an object`;
      const o = l as Record<string, unknown>;
      const allowed = LAYER_KEYS[o.type as string];
      if (!allowed) return `${at}.type ${show(o.type)}`;
      const extra = Object.keys(o).filter((k) => !allowed.includes(k));
      if (extra.length) return `${at} has unknown keys ${show(extra)}`;
      if (o.name !== undefined && !(typeof o.name === 'string' && /^[A-Za-z0-9_]+$/.test(o.name))) return `${at}.name ${show(o.name)}`;
      const bad = (k: string, ok: (y: unknown) => boolean, optional = true) => (o[k] === undefined ? !optional : !ok(o[k]));
      const problems: [string, boolean][] = [
        ['outChannels', o.type === 'conv2d' && bad('outChannels', isPos, false)],
        ['inChannels', bad('inChannels', isPos)],
        ['outFeatures', o.type === 'linear' && bad('outFeatures', isPos, false)],
        ['inFeatures', bad('inFeatures', isPos)],
        ['kernelSize', (o.type === 'conv2d' || o.type === 'maxpool2d' || o.type === 'avgpool2d') && bad('kernelSize', (y) => isPair(y, isPos), false)],
        ['stride', bad('stride', (y) => isPair(y, isPos))],
        ['padding', bad('padding', (y) => isPair(y, isNonNeg))],
        ['bias', bad('bias', (y) => typeof y === 'boolean')],
        ['startDim', bad('startDim', Number.isSafeInteger)],
        ['endDim', bad('endDim', Number.isSafeInteger)],
        ['p', bad('p', (y) => typeof y === 'number' && y >= 0 && y <= 1)],
        ['negativeSlope', bad('negativeSlope', Number.isFinite)],
        ['numFeatures', bad('numFeatures', isPos)],
        ['numGroups', o.type === 'groupnorm' && bad('numGroups', isPos, false)],
        ['numChannels', bad('numChannels', isPos)],
        ['eps', bad('eps', (y) => typeof y === 'number' && y >= 0)],
        ['momentum', bad('momentum', (y) => y === null || (typeof y === 'number' && y >= 0 && y <= 1))],
        ['affine', bad('affine', (y) => typeof y === 'boolean')],
        ['trackRunningStats', bad('trackRunningStats', (y) => typeof y === 'boolean')],
        ['elementwiseAffine', bad('elementwiseAffine', (y) => typeof y === 'boolean')],
        ['normalizedShape', bad('normalizedShape', (y) => Array.isArray(y) && y.length >= 1 && y.length <= 3 && y.every(isPos))],
      ];
      for (const [k, isBad] of problems) if (isBad) return `${at}.${k} ${show(o[k])}`;
      if (o.type === 'sequential') {
        const why = layers(o.layers, `${at}.layers`, depth + 1);
        if (why) return why;
      }
    }
    return undefined;
  };
  return layers(s.layers, 'layers', 0);
}

/** A spec parsed from `input` must be `input` itself (strict objects: nothing dropped or changed) and valid. */
export function parsedSpecProblem(input: unknown, r: ModelSpec): string | undefined {
  if (!isDeepStrictEqual(r, input)) return `the parsed spec ${show(r)} differs from the input ${show(input)}`;
  return specProblem(r);
}

/** Why `r` is not the IDX file `bytes` hold (read independently), or undefined. */
export function idxProblem(bytes: Uint8Array, r: IdxFile): string | undefined {
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) return `magic ${hexes(bytes.subarray(0, 4))} accepted`;
  const nd = bytes[3]!;
  if (nd < 1 || nd > 4 || r.dims.length !== nd) return `${r.dims.length} dims, byte 3 says ${nd}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (!isDeepStrictEqual(r.dims, dims)) return `dims ${show(r.dims)}, header says ${show(dims)}`;
  if (!dims.every((d) => d >= 1)) return `dims ${show(dims)} hold a 0`;
  if (r.data.length !== prod(dims)) return `${r.data.length} data bytes for dims ${show(dims)}`;
  if (r.data.buffer !== bytes.buffer) return 'data is not a view of the input';
  if (r.data.byteOffset !== bytes.byteOffset + 4 + 4 * nd) return `data starts at ${r.data.byteOffset - bytes.byteOffset}, not ${4 + 4 * nd}`;
  if (r.data.byteOffset + r.data.length !== bytes.byteOffset + bytes.length) return 'data does not end where the input ends';
  return undefined;
}

/** Why `r` is not the MNIST images file `bytes` hold, or undefined. */
export function imagesProblem(bytes: Uint8Array, r: MnistImages): string | undefined {
  const i = parseIdx(bytes, 'check');
  if (i.dims.length !== 3 || !isDeepStrictEqual([r.count, r.rows, r.cols], i.dims)) return `images ${r.count}×${r.rows}×${r.cols} from dims ${show(i.dims)}`;
  return idxProblem(bytes, { dims: i.dims, data: r.pixels });
}

/** Why `r` is not the MNIST labels file `bytes` hold (labels 0 to 9), or undefined. */
export function labelsProblem(bytes: Uint8Array, r: Uint8Array): string | undefined {
  const i = parseIdx(bytes, 'check');
  if (i.dims.length !== 1 || r.length !== i.dims[0]) return `${r.length} labels from dims ${show(i.dims)}`;
  if (r.some((l) => l > 9)) return `a label over 9 accepted: ${r.find((l) => l > 9)}`;
  return idxProblem(bytes, { dims: i.dims, data: r });
}

/** Why `r` is not a valid optimizer state that `bytes` hold (fields in range, tensors as in the file), or undefined. */
export function optimizerStateProblem(r: OptimizerCheckpoint, bytes: Uint8Array): string | undefined {
  const s = r.state;
  if (!Number.isSafeInteger(s.stepCount) || s.stepCount < 0) return `stepCount ${show(s.stepCount)}`;
  const p = r.position;
  if (p) {
    const ints: [string, number, number][] = [['epoch', p.epoch, 0], ['stepInEpoch', p.stepInEpoch, 0], ['seed', p.seed, 0], ['batchSize', p.batchSize, 1]];
    for (const [k, v, min] of ints) if (!Number.isSafeInteger(v) || v < min) return `${k} ${show(v)}`;
    if (typeof p.shuffle !== 'boolean') return `shuffle ${show(p.shuffle)}`;
    if (typeof p.dataDir !== 'string' || !p.dataDir || CONTROL.test(p.dataDir)) return `dataDir ${show(p.dataDir)}`;
  }
  const h = s.hyperparameters as Record<string, unknown>;
  const rate = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const beta = (x: unknown) => rate(x) && (x as number) < 1;
  if (s.optimizer === 'adam') {
    if (!rate(h.lr) || !rate(h.eps) || !rate(h.weightDecay) || !Array.isArray(h.betas) || h.betas.length !== 2 || !h.betas.every(beta)) return `adam hyperparameters ${show(h)}`;
  } else if (s.optimizer === 'sgd') {
    if (!rate(h.lr) || !rate(h.momentum) || !rate(h.weightDecay) || typeof h.dampening !== 'number' || !Number.isFinite(h.dampening) || typeof h.nesterov !== 'boolean') return `sgd hyperparameters ${show(h)}`;
    if (h.nesterov && !((h.momentum as number) > 0 && h.dampening === 0)) return `nesterov with ${show(h)}`;
  } else return `optimizer ${show(s.optimizer)}`;
  return safetensorsProblem(bytes, { tensors: r.tensors as Safetensors['tensors'], metadata: parseSafetensors(bytes, 'check').metadata });
}
