// What an optimizer takes as its parameters: tensors, or parameter groups of them.
import { checkTensors } from '../../runtime/args.js';
import { TensorStateError } from '../../runtime/errors.js';
import { shown } from '../../runtime/options.js';
import { Tensor } from '../../runtime/tensor.js';
import type { ParamGroupOptions } from './optimizer.js';

/** The groups of an optimizer's `params`: each group's tensors and options (none for plain tensors). */
export function splitGroups(display: string, params: unknown): { params: readonly Tensor[]; own?: object }[] {
  if (!Array.isArray(params)) checkTensors(display, 'params', params);
  const isGroup = (v: unknown) => typeof v === 'object' && v !== null && !(v instanceof Tensor) && 'params' in v;
  if (!params.some(isGroup)) {
    checkTensors(display, 'params', params);
    return [{ params }];
  }
  // As PyTorch: a list of groups or of tensors, not both.
  return params.map((g: unknown, i) => {
    if (!isGroup(g)) throw new TypeError(`${display}: params[${i}] is ${g instanceof Tensor ? 'a tensor' : shown(g)} among parameter groups; give tensors or groups ({ params, ...options }), not both`);
    const { params: ps, ...own } = g as ParamGroupOptions<object>;
    checkTensors(display, `param group ${i}'s params`, ps);
    return { params: ps, own };
  });
}

/** Refuses what no optimizer can update: none, unrealised or non-f32 tensors, read-only ones, two runtimes, one given twice. */
export function checkParams(params: readonly Tensor[]): void {
  if (!params.length) throw new TensorStateError('optimizer: no parameters given');
  const rt = params[0]!.rt;
  for (const p of params) {
    if (!p.storage || p.dtype !== 'f32') throw new TensorStateError(`optimizer: ${p.describe()} must be a realised f32 tensor`);
    p.checkWritable('optimizer'); // refused now, not at the first step
    // One step updates them all in one submit, on one device.
    if (p.rt !== rt) throw new TensorStateError(`optimizer: ${p.describe()} belongs to another runtime than ${params[0]!.describe()}`);
    // Twice in the list (or in two groups), it would get two updates a step (PyTorch refuses it).
    const first = params.find((q) => q.storage === p.storage)!;
    if (first !== p || params.indexOf(p) !== params.lastIndexOf(p)) {
      throw new TensorStateError(`optimizer: ${p.describe()} is given twice${first !== p ? ` (as ${first.describe()}, a view of the same data)` : ''}; each parameter is updated once a step`);
    }
  }
}

/** Parameter i's name in state names (and saved groups): its own, else param<i>. */
export const paramName = (p: Tensor, i: number) => p.name ?? `param${i}`;
