// `fovea summary`: a model's layers as fovea builds them, from a spec or a checkpoint's, checked
// through the whole model: PyTorch module names, output shapes and parameter counts, so that a
// spec can be tried before it trains; a checkpoint's tensors are checked against it. Shapes are
// inferred on placeholders, within the device's limits: nothing is allocated on the GPU.
import { checkSpecFile, readCheckpoint, resolveSpec } from '../model/checkpoint.js';
import { readAsSeed } from '../model/checkpoint-format.js';
import { checkWeights, inferLayers, type LayerInfo } from '../model/model.js';
import { createRuntime } from '../runtime/runtime.js';
import type { CommandIO } from './progress.js';

export interface SummaryOptions {
  /** A model spec (JSON); else the checkpoint's, else the seed CNN. */
  model?: string;
  checkpoint?: string;
  json: boolean;
}

const count = (shapes: readonly { shape: readonly number[] }[]) => shapes.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

/** What a layer is in the table: its type, a residual block's sum named as such. */
const kind = (l: LayerInfo) => (l.type === 'add' ? 'add (residual)' : l.type);

/** Runs `fovea summary`; returns the exit code. */
export async function summary(opts: SummaryOptions, io: CommandIO): Promise<number> {
  const ckpt = opts.checkpoint === undefined ? undefined : await readCheckpoint(opts.checkpoint, 'checkpoint', { ignoreSpec: opts.model !== undefined });
  const spec = await resolveSpec(opts.model, ckpt);
  const rt = await createRuntime();
  try {
    checkSpecFile(rt, spec, opts.model);
    const layers = inferLayers(rt, spec);
    if (ckpt) {
      const file = opts.checkpoint!;
      readAsSeed(file, !ckpt.spec && opts.model === undefined ? 'give its model with --model FILE' : undefined, () => checkWeights(layers, ckpt.tensors, file));
    }
    const [parameters, buffers] = [count(layers.flatMap((l) => l.params)), count(layers.flatMap((l) => l.buffers))];
    const output = layers.at(-1)!.outputShape;
    if (opts.json) {
      const rows = layers.map((l) => ({ name: l.name, type: l.type, path: l.path, input: l.inputShape, output: l.outputShape, parameters: count(l.params) }));
      io.stdout.write(`${JSON.stringify({ input: spec.input, ...(spec.normalize ? { normalize: spec.normalize } : {}), output, parameters, buffers, layers: rows })}\n`);
      return 0;
    }
    const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
    const rows = [['layer', 'type', 'output', 'parameters'], ...layers.map((l) => [l.name, kind(l), shape(l.outputShape), l.params.length ? count(l.params).toLocaleString('en-US') : '–'])];
    const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    const line = (r: string[]) => r.map((v, c) => (c === 3 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join('  ');
    const kib = ((parameters + buffers) * 4) / 1024;
    io.stdout.write(
      [
        `input ${shape(spec.input)}${spec.normalize ? `, normalised: (x − mean) / std, mean ${shape(spec.normalize.mean)}, std ${shape(spec.normalize.std)}` : ''}`,
        ...rows.map(line),
        `${parameters.toLocaleString('en-US')} parameters${buffers ? ` and ${buffers.toLocaleString('en-US')} buffer values` : ''} (${kib.toFixed(1)} KiB as f32); output ${shape(output)}`,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    rt.dispose();
  }
}
