// Compiled pipelines, cached by (shader file, entry point, override constants). Compilation is
// asynchronous (createComputePipelineAsync) and shared while in flight; WGSL errors are thrown
// with file:line:col. Bind-group layouts come from each shader's declared binding table.
import { COMPUTE_STAGE } from './buffers.js';
import { DeviceLimitError, FoveaError, GPUValidationError, ShaderCompileError } from './errors.js';
import { shaderInfo, type BindingDecl, type ShaderInfo } from './shaders.js';

/** Names one compute pipeline: a shader entry point specialised by its override constants. */
export interface KernelRef {
  shader: string;
  entry: string;
  constants: Readonly<Record<string, number>>;
}

export interface CompiledShader {
  info: ShaderInfo;
  module: GPUShaderModule;
}

/** The layout of one entry point: the bindings it uses, in binding order. */
export interface EntryLayout {
  bindings: readonly BindingDecl[];
  bindGroupLayout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
  /** Why the device refused the layouts, once it has said (undefined: valid). */
  refused: Promise<string | undefined>;
}

/**
 * A kernel as people read it: `file:entry`, and the function an override constant FN picks by
 * its FN_ name in the shader (`unary.wgsl:main[exp]`), as one entry point may apply many.
 */
export function kernelName(k: KernelRef): string {
  const fn = k.constants.FN;
  if (fn === undefined) return `${k.shader}:${k.entry}`;
  const name = Object.entries(shaderInfo(k.shader).consts).find(([c, v]) => c.startsWith('FN_') && v === fn)?.[0];
  return `${k.shader}:${k.entry}[${name ? name.slice(3).toLowerCase() : fn}]`;
}

export function kernelKey(k: KernelRef): string {
  const constants = Object.keys(k.constants)
    .sort()
    .map((name) => [name, k.constants[name]]);
  return JSON.stringify([k.shader, k.entry, constants]);
}

export class PipelineCache {
  private readonly shaders = new Map<string, Promise<CompiledShader>>();
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly ready = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, EntryLayout>();
  created = 0;

  constructor(private readonly device: GPUDevice) {}

  /** The pipeline if it has finished compiling, else undefined. */
  get(k: KernelRef): GPUComputePipeline | undefined {
    return this.ready.get(kernelKey(k));
  }

  /** Compiles (once) and returns the pipeline. */
  prepare(k: KernelRef): Promise<GPUComputePipeline> {
    const key = kernelKey(k);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.compile(k, key);
      this.pipelines.set(key, p);
      // A failed compile must not poison the cache for a later, fixed attempt.
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  shader(file: string): Promise<CompiledShader> {
    let s = this.shaders.get(file);
    if (!s) {
      s = this.compileShader(file);
      this.shaders.set(file, s);
      s.catch(() => this.shaders.delete(file));
    }
    return s;
  }

  private async compileShader(file: string): Promise<CompiledShader> {
    const info = shaderInfo(file);
    // The scope keeps a WGSL error from also reaching the device's uncaptured-error handler.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: file, code: info.source });
    // Handled now: getCompilationInfo() may throw (a device lost) before it is awaited.
    const scoped = this.device.popErrorScope().catch(() => null);
    const messages = (await module.getCompilationInfo()).messages;
    const scopeError = await scoped;
    const error = messages.find((m) => m.type === 'error');
    if (error) {
      const line = info.source.split('\n')[error.lineNum - 1] ?? '';
      const caret = ' '.repeat(Math.max(0, error.linePos - 1)) + '^';
      // Named where the line is written: the shader itself, or a fragment it includes.
      const at = info.lines[error.lineNum - 1] ?? { file, line: error.lineNum };
      const via = at.file === file ? '' : ` (included by ${file})`;
      throw new ShaderCompileError(at.file, at.line, error.linePos, `${error.message}${via}\n  ${line}\n  ${caret}`);
    }
    if (scopeError) throw new ShaderCompileError(file, 0, 0, scopeError.message);
    return { info, module };
  }

  /** The bind-group and pipeline layout of an entry point, built from the bindings it uses. */
  layout(file: string, entry: string): EntryLayout {
    const key = JSON.stringify([file, entry]);
    let l = this.layouts.get(key);
    if (!l) {
      const info = shaderInfo(file);
      const bindings = info.entryBindings.get(entry);
      if (!bindings) throw new FoveaError(`${file} has no @compute entry point '${entry}' (entry points: ${[...info.entryBindings.keys()].join(', ')})`);
      this.checkBindingCounts(`${file}:${entry}`, bindings);
      // Scoped: a refusal is told as this kernel's, not sent to the device's uncaptured-error handler.
      this.device.pushErrorScope('validation');
      const bindGroupLayout = this.device.createBindGroupLayout({
        label: `${file}:${entry}`,
        entries: bindings.map((b) => ({
          binding: b.binding,
          visibility: COMPUTE_STAGE,
          buffer: { type: b.kind },
        })),
      });
      const pipelineLayout = this.device.createPipelineLayout({ label: `${file}:${entry}`, bindGroupLayouts: [bindGroupLayout] });
      const refused = this.device.popErrorScope().then((e) => e?.message, () => undefined);
      l = { bindings, bindGroupLayout, pipelineLayout, refused };
      this.layouts.set(key, l);
    }
    return l;
  }

  // A layout over the device's limits would be invalid, its reason sent to the device's
  // uncaptured-error handler (the host app's, on its device): refused here, by name.
  private checkBindingCounts(where: string, bindings: readonly BindingDecl[]): void {
    const limits = this.device.limits;
    const count = (uniform: boolean) => new Set(bindings.filter((b) => (b.kind === 'uniform') === uniform).map((b) => b.binding)).size;
    const over = [
      [count(false), limits.maxStorageBuffersPerShaderStage, 'storage buffers', 'maxStorageBuffersPerShaderStage'],
      [count(true), limits.maxUniformBuffersPerShaderStage, 'uniform buffers', 'maxUniformBuffersPerShaderStage'],
    ] as const;
    for (const [used, limit, what, name] of over) {
      if (used > limit) throw new DeviceLimitError(where, `binds ${used} ${what}, over this device's limit of ${limit} (${name})`);
    }
  }

  private async compile(k: KernelRef, key: string): Promise<GPUComputePipeline> {
    const shader = await this.shader(k.shader);
    const layout = this.layout(k.shader, k.entry);
    const refused = await layout.refused;
    if (refused) throw new GPUValidationError(`layout of ${k.shader}:${k.entry}`, refused);
    try {
      const pipeline = await this.device.createComputePipelineAsync({
        label: kernelName(k),
        layout: layout.pipelineLayout,
        compute: { module: shader.module, entryPoint: k.entry, constants: { ...k.constants } },
      });
      this.created++;
      this.ready.set(key, pipeline);
      return pipeline;
    } catch (e) {
      throw new GPUValidationError(
        `pipeline ${kernelName(k)} ${JSON.stringify(k.constants)}`,
        (e as Error).message,
      );
    }
  }
}
