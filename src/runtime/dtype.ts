// Element types a tensor can hold, and the typed arrays that carry them on the host.
import { ShapeError } from './errors.js';

/** f32 for values, i32 for labels (softmaxCrossEntropy), i32 or u32 for indices, u8 for compact datasets (storage only). */
export type DType = 'f32' | 'i32' | 'u32' | 'u8';

export type TypedArrayFor<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'i32'
    ? Int32Array
    : D extends 'u32'
      ? Uint32Array
      : Uint8Array;

/** The typed arrays that carry tensor values on the host, one per dtype (u8 also from canvas pixels). */
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Uint8ClampedArray;

export const bytesPerElement: Record<DType, number> = { f32: 4, i32: 4, u32: 4, u8: 1 };

/** The typed array that carries each dtype, by name (for messages). */
export const arrayName: Record<DType, string> = { f32: 'Float32Array', i32: 'Int32Array', u32: 'Uint32Array', u8: 'Uint8Array' };

/** `dtype` if it is one of ours; else a ShapeError naming `what` (e.g. 'float32' from a PyTorch habit). */
export function checkDType(dtype: unknown, what: string): DType {
  if (typeof dtype === 'string' && Object.hasOwn(bytesPerElement, dtype)) return dtype as DType;
  if (typeof dtype === 'object' && dtype !== null && !Array.isArray(dtype)) throw new ShapeError(what, `the dtype is a string argument ('f32', 'i32', 'u32' or 'u8'), got an object`);
  throw new ShapeError(what, `unknown dtype ${JSON.stringify(dtype) ?? String(dtype)}: use 'f32', 'i32', 'u32' or 'u8'`);
}

/** The dtype a host array carries; anything else (a Float64Array, undefined) is refused, naming `what`. */
export function dtypeOf(data: HostArray, what: string): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'u8';
  const got: unknown = data;
  const kind = got === null || typeof got !== 'object' ? String(got) : (got.constructor?.name ?? 'an object');
  throw new ShapeError(what, `expected a Float32Array, Int32Array, Uint32Array or Uint8Array (or Uint8ClampedArray), got ${kind}`);
}

export function hostArray<D extends DType>(dtype: D, bytes: ArrayBuffer, length: number): TypedArrayFor<D> {
  switch (dtype) {
    case 'f32':
      return new Float32Array(bytes, 0, length) as TypedArrayFor<D>;
    case 'i32':
      return new Int32Array(bytes, 0, length) as TypedArrayFor<D>;
    case 'u32':
      return new Uint32Array(bytes, 0, length) as TypedArrayFor<D>;
    case 'u8':
      return new Uint8Array(bytes, 0, length) as TypedArrayFor<D>;
  }
  throw new Error(`unknown dtype ${dtype satisfies never}`);
}

/** Bytes a buffer needs for `count` elements: WebGPU wants sizes in multiples of 4. */
export function byteSize(dtype: DType, count: number): number {
  return Math.max(4, Math.ceil((count * bytesPerElement[dtype]) / 4) * 4);
}

// The integers each integer dtype holds.
const INTEGER_RANGE: Partial<Record<DType, readonly [number, number]>> = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1], u8: [0, 255] };

/**
 * Plain numbers as a typed array of `dtype`. Integers are truncated toward zero, as PyTorch's
 * are, and one that does not fit the dtype is a RangeError naming `what` and its index (the
 * typed array would wrap it silently: 3e9 as i32 is −1294967296).
 */
export function fromNumbers(dtype: DType, values: readonly number[], what: string): HostArray {
  const range = INTEGER_RANGE[dtype];
  if (range) {
    values.forEach((v, i) => {
      if (!(Math.trunc(v) >= range[0] && Math.trunc(v) <= range[1])) {
        throw new RangeError(`${what}: ${v}${values.length > 1 ? ` (value ${i})` : ''} does not fit ${dtype}, whose range is ${range[0]} to ${range[1]}`);
      }
    });
  }
  const out = hostArray(dtype, new ArrayBuffer(byteSize(dtype, values.length)), values.length);
  out.set(values);
  return out;
}
