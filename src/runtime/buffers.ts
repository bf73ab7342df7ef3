// GPU buffer pool. Buffers are bucketed by size class and usage, so a freed buffer serves the
// next request of a similar size, and a steady-state training step allocates nothing new.

// NOTE: GPUBufferUsage, GPUMapMode and GPUShaderStage are globals only once WebGPU is loaded
// (in Node, after Dawn is), so the flags are spelled here as the spec's fixed numbers.
/** GPUBufferUsage's flags. */
export const USAGE = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080, QUERY_RESOLVE: 0x0200 } as const;
/** GPUMapMode.READ and GPUShaderStage.COMPUTE. */
export const MAP_READ = 0x0001;
export const COMPUTE_STAGE = 0x0004;
/** Usage of every tensor buffer: bindable as storage, copyable both ways. */
export const TENSOR_USAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
export const STAGING_USAGE = USAGE.MAP_READ | USAGE.COPY_DST;
export const UNIFORM_USAGE = USAGE.UNIFORM | USAGE.COPY_DST;

/** What debug mode fills unwritten memory with: a quiet NaN with a recognisable payload. */
export const POISON = 0x7fc00bad;

/**
 * Rounds a request up to its size class: 256-byte steps to 64 KiB, then 8 classes per doubling;
 * not past `largest` (the device's maxBufferSize), so a tensor that fits is given a buffer.
 */
export function sizeClass(bytes: number, largest = Infinity): number {
  const b = Math.max(256, bytes);
  const step = b <= 65536 ? 256 : 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.max(bytes, Math.min(Math.ceil(b / step) * step, Math.floor(largest / 4) * 4));
}

export interface PoolStats {
  /** Buffers created since the runtime started. */
  buffersCreated: number;
  /** Bytes of all buffers created since the runtime started. */
  bytesCreated: number;
  /** Bytes of buffers that currently exist (in use or waiting in the pool). */
  liveBytes: number;
  /** Bytes of buffers currently handed out. */
  inUseBytes: number;
  /** The most bytes handed out at once: every buffer counts, a program's slots and inputs as a tensor's. */
  peakBytes: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly all = new Set<GPUBuffer>();
  readonly stats: PoolStats = { buffersCreated: 0, bytesCreated: 0, liveBytes: 0, inUseBytes: 0, peakBytes: 0 };

  private poisonWords: Uint32Array | undefined;

  /**
   * With `poison`, every storage buffer handed out is first filled with POISON, so a kernel
   * that leaves part of its output unwritten shows NaN there instead of a plausible zero.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly poison = false,
  ) {}

  acquire(bytes: number, usage: number = TENSOR_USAGE): GPUBuffer {
    const size = sizeClass(bytes, this.device.limits.maxBufferSize);
    const key = `${usage}:${size}`;
    let buf = this.free.get(key)?.pop();
    this.stats.inUseBytes += size;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.inUseBytes);
    if (!buf) {
      buf = this.device.createBuffer({ size, usage, label: `fovea ${size}B` });
      this.all.add(buf);
      this.stats.buffersCreated++;
      this.stats.bytesCreated += size;
      this.stats.liveBytes += size;
    }
    if (this.poison && usage & USAGE.STORAGE) this.fillPoison(buf);
    return buf;
  }

  private fillPoison(buf: GPUBuffer): void {
    const words = buf.size / 4;
    if (!this.poisonWords || this.poisonWords.length < words) this.poisonWords = new Uint32Array(words).fill(POISON);
    this.device.queue.writeBuffer(buf, 0, this.poisonWords, 0, words);
  }

  /** Whether `buffer` is one of the pool's (not a host app's, wrapped). */
  owns(buffer: GPUBuffer): boolean {
    return this.all.has(buffer);
  }

  release(buffer: GPUBuffer): void {
    if (!this.all.has(buffer)) return;
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    if (list.includes(buffer)) throw new Error('BufferPool: buffer released twice');
    list.push(buffer);
    this.stats.inUseBytes -= buffer.size;
  }

  /**
   * A callback that returns `buffer` to the pool. It captures nothing else: a closure created
   * where tensors are in scope would share their context and keep them from being collected.
   */
  releaser(buffer: GPUBuffer): () => void {
    return () => this.release(buffer);
  }

  /** Destroys the buffers waiting in the pool (those in use stay). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) this.destroy(b);
    }
    this.free.clear();
  }

  destroyAll(): void {
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.clear();
    this.stats.liveBytes = 0;
    this.stats.inUseBytes = 0;
  }

  private destroy(b: GPUBuffer): void {
    this.all.delete(b);
    this.stats.liveBytes -= b.size;
    b.destroy();
  }
}
