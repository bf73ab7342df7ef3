// A plan turned into a list of dispatches: each op's encode() asked for its kernels, every
// binding matched by name to the WGSL declaration and resolved to where its buffer will be
// (a slot, an input, a realised tensor), and the pipelines compiled. No buffer is made here.
import { POISON } from './buffers.js';
import { byteSize } from './dtype.js';
import { DeviceLimitError, FoveaError } from './errors.js';
import type { DispatchSpec } from './op.js';
import { kernelKey, type KernelRef } from './pipelines.js';
import type { BufferSource, Plan } from './plan.js';
import type { Runtime } from './runtime.js';
import { fmt, grid1d } from './shape.js';
import { shaderInfo, type ParamValues } from './shaders.js';

export interface Binding {
  binding: number;
  source: BufferSource | 'params';
  size: number;
}

/** One dispatch of a program, with what it binds; pipeline and layout are set by compileKernels. */
export interface Encoded {
  label: string;
  kernel: KernelRef;
  pipeline?: GPUComputePipeline;
  layout?: GPUBindGroupLayout;
  bindings: Binding[];
  /** Where its params sit in the program's uniform buffer (set when that is laid out). */
  paramsOffset: number;
  paramsSize: number;
  workgroups: [number, number, number];
  params: ParamValues | undefined;
  bindGroup?: GPUBindGroup;
}

const FILL_WG = 64;

/** Every dispatch of the plan, in order (with poison fills after each free in debug mode). */
export function encodePlan(rt: Runtime, plan: Plan): Encoded[] {
  const encoded: Encoded[] = [];
  plan.steps.forEach((step, i) => {
    const label =
      step.kind === 'op'
        ? `${step.call.def.name} → ${fmt(step.tensor.shape)}`
        : `${step.effect.def.name} (${step.effect.def.writes(step.effect.attrs).length} tensors updated in place)`;
    const ctx = {
      limits: rt.device.limits,
      dispatch: (d: DispatchSpec) => {
        const given: Record<string, Omit<Binding, 'binding'>> = {};
        for (const [name, t] of Object.entries(d.bindings)) given[name] = { source: plan.source(t), size: byteSize(t.dtype, t.size) };
        push(rt, encoded, label, d, given);
      },
    };
    if (step.kind === 'op') step.call.def.encode!(ctx, step.call.inputs, step.tensor, step.call.attrs);
    else step.effect.def.encode(ctx, step.effect.inputs, step.effect.attrs);
    if (rt.debug.poisonFreed) {
      for (const slot of plan.freedAfter[i]!) {
        const words = plan.slotBytes[slot]! / 4;
        push(
          rt,
          encoded,
          `poison slot ${slot}`,
          { shader: 'fill.wgsl', constants: { WG: FILL_WG }, params: { n: words, value: POISON }, workgroups: grid1d(words, FILL_WG) },
          { out: { source: { kind: 'slot', slot }, size: words * 4 } },
        );
      }
    }
  });
  return encoded;
}

// Matches the given buffers to the bindings the entry point uses, by name. A given name the
// file does not declare is a mistake; one declared but unused by this entry is ignored.
function push(rt: Runtime, encoded: Encoded[], label: string, d: Omit<DispatchSpec, 'bindings'>, given: Record<string, Omit<Binding, 'binding'>>): void {
  const info = shaderInfo(d.shader);
  const entry = d.entry ?? 'main';
  if (!info.entryBindings.has(entry)) throw new FoveaError(`${label}: ${d.shader} has no @compute entry point '${entry}' (it has ${[...info.entryBindings.keys()].join(', ')})`);
  const unknown = Object.keys(d.constants ?? {}).filter((c) => !info.overrides.includes(c));
  if (unknown.length) throw new FoveaError(`${label}: ${d.shader} declares no override constant ${unknown.map((c) => `'${c}'`).join(', ')} (it has ${info.overrides.join(', ') || 'none'})`);
  const used = rt.pipelines.layout(d.shader, entry).bindings;
  const bindings: Binding[] = [];
  for (const name of Object.keys(given)) {
    if (!info.bindings.some((b) => b.name === name)) throw new FoveaError(`${label}: ${d.shader} has no binding named ${name} (it has ${info.bindings.map((b) => b.name).join(', ')})`);
  }
  for (const decl of used) {
    if (decl.kind === 'uniform') {
      if (decl.name !== 'params') throw new FoveaError(`${label}: ${d.shader}'s uniform binding must be named params, not ${decl.name}`);
      if (!d.params) throw new FoveaError(`${label}: ${d.shader}:${entry} reads the uniform params (its struct Params), but the dispatch gives no params`);
      bindings.push({ binding: decl.binding, source: 'params', size: info.params!.byteSize });
      continue;
    }
    const b = given[decl.name];
    if (!b) throw new FoveaError(`${label}: ${d.shader}:${entry} binding '${decl.name}' was not given a tensor`);
    bindings.push({ binding: decl.binding, ...b });
  }
  const [x, y = 1, z = 1] = d.workgroups;
  if (x * y * z === 0) return; // nothing to do (an empty tensor)
  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max) {
    throw new DeviceLimitError(label, `needs ${x}×${y}×${z} workgroups, over this device's limit of ${max} per dimension`);
  }
  encoded.push({
    label,
    kernel: { shader: d.shader, entry, constants: d.constants ?? {} },
    bindings,
    paramsOffset: -1,
    paramsSize: info.params && d.params ? info.params.byteSize : 0,
    workgroups: [x, y, z],
    params: d.params,
  });
}

/** Compiles each distinct kernel once (all at the same time), then gives every dispatch its pipeline. */
export async function compileKernels(rt: Runtime, encoded: Encoded[], onProgress?: (done: number, total: number) => void): Promise<void> {
  const kernels = new Map<string, KernelRef>();
  for (const e of encoded) kernels.set(kernelKey(e.kernel), e.kernel);
  let done = 0;
  onProgress?.(0, kernels.size);
  await Promise.all(
    [...kernels.values()].map(async (k) => {
      await rt.pipelines.prepare(k);
      onProgress?.(++done, kernels.size);
    }),
  );
  for (const e of encoded) {
    e.pipeline = rt.pipelines.get(e.kernel)!;
    e.layout = rt.pipelines.layout(e.kernel.shader, e.kernel.entry).bindGroupLayout;
  }
}
