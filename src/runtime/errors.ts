// Named error classes. Each message names what was wrong and where, so a user can fix
// the call without reading our source.

/** Base class of every error fovea throws on purpose (bad plain arguments: RangeError, TypeError). */
export class FoveaError extends Error {
  override name = 'FoveaError';
}

/** An op was given tensors whose shapes or dtypes do not fit; thrown before any dispatch. */
export class ShapeError extends FoveaError {
  override name = 'ShapeError';
  constructor(
    readonly op: string,
    /** What was wrong, without the op's name (to be told again as another op's). */
    readonly detail: string,
    readonly shapes: readonly (readonly number[])[] = [],
  ) {
    super(`${op}: ${detail}`);
  }
}

/**
 * Shapes that are valid but too large for this device: a tensor over its buffer size limit, a
 * dispatch over its workgroup count limit. Smaller sizes (a smaller batch) would run.
 */
export class DeviceLimitError extends ShapeError {
  override name = 'DeviceLimitError';
}

/** No WebGPU adapter could be acquired. */
export class NoAdapterError extends FoveaError {
  override name = 'NoAdapterError';
}

/** A WGSL shader failed to compile; the message carries file, line and column. */
export class ShaderCompileError extends FoveaError {
  override name = 'ShaderCompileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}`);
  }
}

/** WebGPU reported a validation or out-of-memory error; `op` names the op being encoded. */
export class GPUValidationError extends FoveaError {
  override name = 'GPUValidationError';
  constructor(
    readonly op: string,
    detail: string,
  ) {
    super(`${op}: ${detail}`);
  }
}

/** The GPU device was lost (driver reset, `destroy()`, ...); the runtime cannot be used again. */
export class DeviceLostError extends FoveaError {
  override name = 'DeviceLostError';
}

/** A tensor was used in a way its state does not allow (disposed, stale, wrong runtime). */
export class TensorStateError extends FoveaError {
  override name = 'TensorStateError';
}

/** A file (IDX, safetensors, spec) is malformed; names the file and the byte offset. */
export class FileFormatError extends FoveaError {
  override name = 'FileFormatError';
  constructor(
    readonly file: string,
    readonly byteOffset: number | undefined,
    detail: string,
  ) {
    super(`${file}${byteOffset === undefined ? '' : ` (byte ${byteOffset})`}: ${detail}`);
  }
}

/**
 * A model spec, config or flag is invalid; `path` locates the bad field (`layers[3].kernelSize`),
 * or is '' for a checkpoint that does not fit its model or its pair.
 */
export class SpecError extends FoveaError {
  override name = 'SpecError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(path ? `${path}: ${detail}` : detail);
  }
}
