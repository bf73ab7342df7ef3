// Device acquisition: Dawn (npm `webgpu`) in Node, `navigator.gpu` in a browser, or a
// GPUDevice that a host application hands us (which we then never destroy).
import { NoAdapterError } from './errors.js';
import { shown } from './options.js';
import { grid1d } from './shape.js';

/** What the runtime reports about the adapter it runs on. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Smallest subgroup size, when the device has the 'subgroups' feature (else 0). */
  subgroupMinSize: number;
  /**
   * True for an adapter that runs on the CPU (lavapipe, SwiftShader, WARP): a few dozen
   * workgroups keep it busy, where a GPU wants thousands, so kernels split work less finely,
   * and matmul keeps large blocks in registers instead of sharing tiles in workgroup memory.
   */
  software: boolean;
  /** True when the device came from the host application. */
  hostDevice: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: AdapterReport;
  /** Whether the runtime created the device and so must destroy it on dispose. */
  owned: boolean;
  /** Held for the device's lifetime: Dawn in Node can crash if the adapter is collected first. */
  gpuAdapter?: GPUAdapter;
  /** The most bind groups one program may make (see bindGroupBudget). */
  bindGroupBudget: number;
}

/** Where the runtime's device comes from: a host application's device, or a new one. */
export interface DeviceOptions {
  /**
   * Run on this device instead of acquiring one; the runtime will not destroy it. Anything that
   * is not a GPUDevice (a GPUAdapter, `{}`, null) is a TypeError naming what it lacks.
   */
  device?: GPUDevice;
  /** Passed to requestAdapter() when the runtime acquires its own device (default 'high-performance'). */
  powerPreference?: GPUPowerPreference;
}

const IN_NODE = typeof process !== 'undefined' && !!process.versions?.node;
const HOW_TO_GET_AN_ADAPTER = IN_NODE
  ? 'In Node, fovea uses Dawn (npm package `webgpu`), which needs a Vulkan driver: install your GPU vendor\'s, or on a ' +
    'machine without a GPU Mesa\'s software one, lavapipe, version 23 or later (Debian/Ubuntu: `apt install mesa-vulkan-drivers ' +
    'libvulkan1`; fovea\'s `scripts/setup-system.sh`, also in the installed package, does it, from backports on Debian 12).'
  : 'Use a browser with WebGPU (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows, or one with WebGPU turned on), ' +
    'with hardware acceleration enabled; chrome://gpu shows why WebGPU may be off.';

// Limits every fovea kernel may rely on. The WebGPU defaults already meet them; checking
// makes a too-small host device fail here, with names, rather than deep inside an op.
const REQUIRED_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
} as const;

// Dawn's GPU object stays in module scope: putting it on a global `navigator` keeps Node alive.
let nodeGPU: GPU | undefined;

async function findGPU(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (!IN_NODE) throw new NoAdapterError(`This browser does not expose WebGPU (navigator.gpu is missing). ${HOW_TO_GET_AN_ADAPTER}`);
  if (!nodeGPU) {
    const specifier = 'webgpu';
    let mod: { create(flags: string[]): GPU };
    try {
      mod = await import(/* @vite-ignore */ specifier);
    } catch (e) {
      // It is an optional dependency: `npm install --omit=optional` leaves it out.
      throw new NoAdapterError(
        `Could not load the npm package \`webgpu\` (${(e as Error).message}); fovea installs it unless optional dependencies are omitted (\`npm install\` without --omit=optional). ${HOW_TO_GET_AN_ADAPTER}`,
      );
    }
    nodeGPU = mod.create([]);
  }
  return nodeGPU;
}

/**
 * Workgroups that work split for parallelism aims at on this adapter: a CPU driver runs a few
 * at once; a GPU has over a hundred cores, each running many to hide memory latency.
 */
export function parallelWorkgroups(adapter: AdapterReport): number {
  return adapter.software ? 16 : 1024;
}

/**
 * How a row of `rowLength` values is split among invocations of `wg`-wide workgroups, for
 * `total` values in all: `span` values each, `spans` invocations per row. A CPU adapter takes
 * whole rows, paying its index arithmetic (integer division, slow there) once per row; a GPU,
 * spans short enough to fill it with parallelWorkgroups().
 */
export function rowSpans(adapter: AdapterReport, rowLength: number, total: number, wg: number): { span: number; spans: number } {
  const span = Math.max(1, adapter.software ? rowLength : Math.min(rowLength, Math.ceil(total / (parallelWorkgroups(adapter) * wg))));
  return { span, spans: Math.max(1, Math.ceil(rowLength / span)) };
}

/**
 * Workgroups of `wg` invocations for a kernel whose invocations walk `n` elements, each stepping
 * by all of them (thread_count in grid.wgsl): on a GPU one element each; on a CPU adapter at most
 * 16 × parallelWorkgroups(), each invocation walking many, as a CPU driver pays for starting
 * every workgroup (unary ops over 10^7 values 2.5 to 4.5× faster on lavapipe than one element each).
 */
export function strideGrid(adapter: AdapterReport, n: number, wg: number): [number, number, number] {
  const groups = Math.ceil(n / wg);
  return grid1d(adapter.software ? Math.min(groups, 16 * parallelWorkgroups(adapter)) : groups, 1);
}

// CPU implementations of WebGPU and Vulkan, as their adapters name themselves.
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render|\bwarp\b/i;

/** What an adapter says of itself, as one line to match names in. */
const adapterText = (info: Partial<GPUAdapterInfo> | undefined) => [info?.vendor, info?.architecture, info?.device, info?.description].join(' ');

/** Whether an adapter runs on the CPU, from what it says of itself. */
export function isSoftwareAdapter(info: Partial<GPUAdapterInfo> | undefined): boolean {
  return !!info?.isFallbackAdapter || SOFTWARE_ADAPTER.test(adapterText(info));
}

function report(info: GPUAdapterInfo | undefined, features: GPUSupportedFeatures, hostDevice: boolean): AdapterReport {
  const sizes = info as (GPUAdapterInfo & { subgroupMinSize?: number }) | undefined;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    subgroupMinSize: features.has('subgroups') ? (sizes?.subgroupMinSize ?? 0) : 0,
    software: isSoftwareAdapter(info),
    hostDevice,
  };
}

// What the runtime uses of a host device: one lacking any is refused here, by name, rather than
// failing on first use (`{}` would crash reading its limits).
const DEVICE_MEMBERS = [
  'queue',
  'limits',
  'features',
  'lost',
  'createBuffer',
  'createShaderModule',
  'createComputePipelineAsync',
  'createBindGroupLayout',
  'createPipelineLayout',
  'createBindGroup',
  'createCommandEncoder',
  'pushErrorScope',
  'popErrorScope',
] as const satisfies readonly (keyof GPUDevice)[];

function checkIsDevice(device: unknown): asserts device is GPUDevice {
  const what = 'createRuntime: options.device must be a GPUDevice (from adapter.requestDevice())';
  if (typeof device !== 'object' || device === null) throw new TypeError(`${what}, got ${device === null ? 'null' : `a ${typeof device}`}`);
  const missing = DEVICE_MEMBERS.filter((m) => !(m in device));
  if (missing.length) {
    const adapter = 'requestDevice' in device ? ', not the adapter itself' : '';
    throw new TypeError(`${what}${adapter}; got an object without ${missing.join(', ')}`);
  }
}

function checkLimits(limits: GPUSupportedLimits, what: string): void {
  const short = Object.entries(REQUIRED_LIMITS).filter(([k, v]) => (limits[k as keyof GPUSupportedLimits] as number) < v);
  if (short.length) {
    const list = short.map(([k, v]) => `${k} ${limits[k as keyof GPUSupportedLimits]} < ${v}`).join(', ');
    throw new NoAdapterError(`${what} does not meet fovea's limits: ${list}`);
  }
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  if (opts.device !== undefined) {
    checkIsDevice(opts.device);
    checkLimits(opts.device.limits, 'The GPUDevice passed to createRuntime()');
    return { device: opts.device, adapter: report(opts.device.adapterInfo, opts.device.features, true), owned: false, bindGroupBudget: bindGroupBudget(opts.device.adapterInfo) };
  }
  const preferences: readonly (string | undefined)[] = [undefined, 'high-performance', 'low-power'] satisfies (GPUPowerPreference | undefined)[];
  if (!preferences.includes(opts.powerPreference)) throw new RangeError(`createRuntime: powerPreference must be 'high-performance' or 'low-power', got ${shown(opts.powerPreference)}`);
  const gpu = await findGPU();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError(`No WebGPU adapter was found. ${HOW_TO_GET_AN_ADAPTER}`);
  checkLimits(adapter.limits, `The WebGPU adapter (${adapter.info?.description || adapter.info?.vendor || 'unknown'})`);
  // Timestamps for Program.profile(); subgroups for the faster matmul kernel of CPU adapters.
  const features = (['timestamp-query', 'subgroups'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    // Datasets and large activations need more than the 128 MiB defaults where the adapter allows it.
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  return { device, adapter: report(adapter.info, device.features, false), owned: true, gpuAdapter: adapter, bindGroupBudget: bindGroupBudget(adapter.info) };
}

/**
 * Memory maps the process holds now (lines of /proc/self/maps), or 0 where that cannot be read.
 * Bind groups made earlier (other programs, finished eager work) keep theirs until the driver
 * reuses them, which a fresh program cannot count on.
 */
export function mapsInUse(): number {
  try {
    const text = process.getBuiltinModule('fs').readFileSync('/proc/self/maps', 'latin1');
    let n = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

/**
 * The most bind groups one program may make. Lavapipe maps memory for each, and a process past
 * Linux's limit on maps (vm.max_map_count, 65,530 by default) crashes in an allocation it does
 * not check: three quarters of that limit, leaving the rest to everything else. Unbounded for
 * other drivers.
 */
function bindGroupBudget(info: GPUAdapterInfo | undefined): number {
  if (!IN_NODE || !/llvmpipe|lavapipe/i.test(adapterText(info))) return Infinity;
  let maps = 65_530;
  try {
    maps = Number(process.getBuiltinModule('fs').readFileSync('/proc/sys/vm/max_map_count', 'utf8')) || maps;
  } catch {
    // Not Linux, or no /proc: its default.
  }
  return Math.floor(maps * 0.75);
}
