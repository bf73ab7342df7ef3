// Draws activation maps from the runtime's own GPU buffers (no read-back): each canvas holds
// a list of views (grids of channel tiles over a tensor's buffer); one compute pass measures each
// view's value range on the GPU, then one render pass per canvas colours every tile in a
// fragment shader (activation-map.wgsl) that reads the tensor as read-only storage.
import shaderSource from './activation-map.wgsl?raw';

/** Workgroup size of the `measure` kernel (reaches the WGSL as an override constant). */
const MEASURE_WG = 64;
/** Bytes of the WGSL `View` uniform struct. */
const VIEW_BYTES = 64;

/** A buffer range holding f32 values: a fovea Tensor satisfies this. */
export interface MapSource {
  readonly buffer: GPUBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** One grid of tiles in a canvas, in CSS pixels. */
export interface MapView {
  source: MapSource;
  /** Element index of channel 0's first value inside the source (default 0). */
  offset?: number;
  /** Elements between consecutive channels (default height·width). */
  channelStride?: number;
  channels: number;
  height: number;
  width: number;
  /** Tiles per row. */
  cols: number;
  /** Top-left corner of the grid and each tile's size, in CSS pixels. */
  x: number;
  y: number;
  tile: number;
  gap: number;
  colour: 'diverging' | 'grey';
  /** A fixed range (e.g. 1 for pixels); default: the view's largest |value|, measured on the GPU. */
  range?: number;
  selected?: number;
}

/** Grid size of a view in CSS pixels. */
export function viewSize(v: Pick<MapView, 'channels' | 'cols' | 'tile' | 'gap'>): { width: number; height: number } {
  const rows = Math.ceil(v.channels / v.cols);
  const cols = Math.min(v.cols, v.channels);
  return { width: cols * (v.tile + v.gap) - v.gap, height: rows * (v.tile + v.gap) - v.gap };
}

/** The channel under a point (CSS pixels relative to the canvas), or -1. */
export function channelAt(v: MapView, px: number, py: number): number {
  const cell = v.tile + v.gap;
  const col = Math.floor((px - v.x) / cell);
  const row = Math.floor((py - v.y) / cell);
  if (col < 0 || row < 0 || col >= v.cols) return -1;
  if (px - v.x - col * cell >= v.tile || py - v.y - row * cell >= v.tile) return -1;
  const c = row * v.cols + col;
  return c < v.channels ? c : -1;
}

interface ViewSlot {
  uniform: GPUBuffer;
  key?: string;
  measureGroup?: GPUBindGroup;
  drawGroup?: GPUBindGroup;
}

/** Pipelines shared by every map canvas on one device. */
export class MapRenderer {
  readonly format: GPUTextureFormat;
  readonly measurePipeline: GPUComputePipeline;
  readonly drawPipeline: GPURenderPipeline;

  constructor(readonly device: GPUDevice) {
    this.format = navigator.gpu.getPreferredCanvasFormat();
    const module = device.createShaderModule({ label: 'activation-map.wgsl', code: shaderSource });
    this.measurePipeline = device.createComputePipeline({
      label: 'measure map range',
      layout: 'auto',
      compute: { module, entryPoint: 'measure', constants: { WG: MEASURE_WG } },
    });
    this.drawPipeline = device.createRenderPipeline({
      label: 'draw activation map',
      layout: 'auto',
      vertex: { module, entryPoint: 'vs' },
      fragment: { module, entryPoint: 'fs', targets: [{ format: this.format }] },
      primitive: { topology: 'triangle-list' },
    });
  }

  /**
   * Encodes every canvas (range measurement, then drawing) into one command buffer and submits
   * it. Resolves to the range (largest |value|) of the first view of each of `measured`, read
   * back in the same submit: a few floats, for the numbers of a colour scale.
   */
  async render(canvases: readonly MapCanvas[], measured: readonly MapCanvas[] = []): Promise<number[]> {
    const live = canvases.filter((c) => c.views.length && c.canvas.isConnected && c.canvas.width > 0);
    if (!live.length) return measured.map(() => NaN);
    const encoder = this.device.createCommandEncoder({ label: 'activation maps' });
    const pass = encoder.beginComputePass({ label: 'measure ranges' });
    pass.setPipeline(this.measurePipeline);
    for (const c of live) c.encodeMeasure(pass);
    pass.end();
    for (const c of live) c.encodeDraw(encoder);
    const bytes = Math.max(16, 4 * measured.length);
    if (!this.staging || this.staging.size < bytes) {
      this.staging?.destroy();
      this.staging = this.device.createBuffer({ label: 'map ranges read back', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
    measured.forEach((c, i) => c.encodeRangeCopy(encoder, this.staging!, 4 * i));
    this.device.queue.submit([encoder.finish()]);
    if (!measured.length) return [];
    // Refreshes run one at a time (LiveView), so one staging buffer serves them all.
    const staging = this.staging;
    await staging.mapAsync(GPUMapMode.READ, 0, 4 * measured.length);
    try {
      return Array.from(new Float32Array(staging.getMappedRange(0, 4 * measured.length)), (v, i) => measured[i]!.views[0]?.range ?? v);
    } finally {
      staging.unmap();
    }
  }

  private staging: GPUBuffer | undefined;
}

/** A WebGPU canvas showing a list of views. */
export class MapCanvas {
  views: MapView[] = [];
  private readonly context: GPUCanvasContext;
  private readonly slots: ViewSlot[] = [];
  private ranges: GPUBuffer | undefined;
  private readonly data = new ArrayBuffer(VIEW_BYTES);

  constructor(
    private readonly renderer: MapRenderer,
    readonly canvas: HTMLCanvasElement,
  ) {
    const ctx = canvas.getContext('webgpu');
    if (!ctx) throw new Error('this browser gives no WebGPU context for a canvas');
    this.context = ctx;
    ctx.configure({ device: renderer.device, format: renderer.format, alphaMode: 'premultiplied' });
  }

  /** Replaces the views and sizes the canvas to hold them (CSS pixels × devicePixelRatio). */
  setViews(views: MapView[], cssWidth?: number, cssHeight?: number): void {
    this.views = views;
    const w = cssWidth ?? Math.max(1, ...views.map((v) => v.x + viewSize(v).width));
    const h = cssHeight ?? Math.max(1, ...views.map((v) => v.y + viewSize(v).height));
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    // Resizing a canvas clears it, so only when the size really changes.
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    const device = this.renderer.device;
    while (this.slots.length < views.length) {
      this.slots.push({ uniform: device.createBuffer({ label: 'map view', size: VIEW_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }) });
    }
    if (!this.ranges || this.ranges.size < views.length * 4) {
      this.ranges?.destroy();
      this.ranges = device.createBuffer({ label: 'map ranges', size: Math.max(16, views.length * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      for (const s of this.slots) s.key = undefined;
    }
  }

  /** The view and channel under a pointer event, if any. */
  hit(ev: { clientX: number; clientY: number }): { view: number; channel: number } | undefined {
    const r = this.canvas.getBoundingClientRect();
    const x = ev.clientX - r.left;
    const y = ev.clientY - r.top;
    for (let i = 0; i < this.views.length; i++) {
      const c = channelAt(this.views[i]!, x, y);
      if (c >= 0) return { view: i, channel: c };
    }
    return undefined;
  }

  /** @internal */
  encodeMeasure(pass: GPUComputePassEncoder): void {
    this.views.forEach((v, i) => {
      const slot = this.prepare(v, i);
      if (v.range !== undefined) return;
      pass.setBindGroup(0, slot.measureGroup!);
      pass.dispatchWorkgroups(1);
    });
  }

  /** @internal Copies the first view's measured range to `dst` at `offset`. */
  encodeRangeCopy(encoder: GPUCommandEncoder, dst: GPUBuffer, offset: number): void {
    if (this.ranges) encoder.copyBufferToBuffer(this.ranges, 0, dst, offset, 4);
  }

  /** @internal */
  encodeDraw(encoder: GPUCommandEncoder): void {
    const pass = encoder.beginRenderPass({
      label: 'draw maps',
      colorAttachments: [{ view: this.context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: { r: 0, g: 0, b: 0, a: 0 } }],
    });
    pass.setPipeline(this.renderer.drawPipeline);
    const dpr = this.canvas.width / Math.max(1, parseFloat(this.canvas.style.width) || this.canvas.width);
    this.views.forEach((v, i) => {
      const { width, height } = viewSize(v);
      const x = Math.max(0, Math.floor(v.x * dpr));
      const y = Math.max(0, Math.floor(v.y * dpr));
      const w = Math.min(this.canvas.width - x, Math.ceil(width * dpr));
      const h = Math.min(this.canvas.height - y, Math.ceil(height * dpr));
      if (w <= 0 || h <= 0) return;
      pass.setViewport(x, y, w, h, 0, 1);
      pass.setScissorRect(x, y, w, h);
      pass.setBindGroup(0, this.slots[i]!.drawGroup!);
      pass.draw(3);
    });
    pass.end();
  }

  // Writes the view's uniforms and (re)creates its bind groups when its buffer changed.
  private prepare(v: MapView, i: number): ViewSlot {
    const slot = this.slots[i]!;
    const dpr = this.canvas.width / Math.max(1, parseFloat(this.canvas.style.width) || this.canvas.width);
    const u32 = new Uint32Array(this.data);
    const i32 = new Int32Array(this.data);
    const f32 = new Float32Array(this.data);
    // Words in the order of struct View's fields (activation-map.wgsl); origin and tile are vec2f.
    u32[0] = v.offset ?? 0;
    u32[1] = v.channelStride ?? v.height * v.width;
    u32[2] = v.channels;
    u32[3] = v.height;
    u32[4] = v.width;
    u32[5] = v.cols;
    i32[6] = v.selected ?? -1;
    u32[7] = v.colour === 'grey' ? 1 : 0;
    f32[8] = Math.floor(v.x * dpr);
    f32[9] = Math.floor(v.y * dpr);
    f32[10] = v.tile * dpr;
    f32[11] = v.tile * dpr;
    f32[12] = v.gap * dpr;
    u32[13] = i;
    f32[14] = v.range ?? 0;
    f32[15] = Math.max(1, Math.round(2 * dpr));
    this.renderer.device.queue.writeBuffer(slot.uniform, 0, this.data);
    const s = v.source;
    const key = `${bufferId(s.buffer)}:${s.byteOffset}:${s.byteLength}`;
    if (slot.key !== key) {
      const device = this.renderer.device;
      const act = { buffer: s.buffer, offset: s.byteOffset, size: Math.ceil(s.byteLength / 4) * 4 };
      slot.measureGroup = device.createBindGroup({
        label: 'measure map range',
        layout: this.renderer.measurePipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: slot.uniform } },
          { binding: 1, resource: act },
          { binding: 2, resource: { buffer: this.ranges! } },
        ],
      });
      slot.drawGroup = device.createBindGroup({
        label: 'draw activation map',
        layout: this.renderer.drawPipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: slot.uniform } },
          { binding: 1, resource: act },
          { binding: 3, resource: { buffer: this.ranges! } },
        ],
      });
      slot.key = key;
    }
    return slot;
  }
}

// Buffers have no identity a string can hold; number them as they are first seen.
const ids = new WeakMap<GPUBuffer, number>();
let nextId = 1;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextId++));
  return id;
}
