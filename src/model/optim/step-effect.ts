// An optimizer's update as an effect: one dispatch per parameter of its shader, recorded into a
// compiled step's submit or queued eagerly.
import { TensorStateError } from '../../runtime/errors.js';
import { defineEffect, type EffectDef } from '../../runtime/op.js';
import { grid1d } from '../../runtime/shape.js';
import { structLayout, type StructLayout } from '../../runtime/shaders.js';
import type { Tensor } from '../../runtime/tensor.js';
import type { Hyperparameters, Optimizer } from './optimizer.js';

const WG = 256;

export interface StepAttrs {
  opt: Optimizer;
  /** The groups (their hyperparameter buffers lead the inputs), and the parameters the step updates (not the frozen ones), as step() found them: a group added later is not in them. */
  groups: number;
  updated: readonly number[];
  /** The tensors after those that the host writes as the step runs (NAdam's products): declared written, bound by no dispatch. */
  hostWritten: number;
  /** The optimizer's parameters when step() was called, frozen ones (not updated) too. */
  params: number;
  /** Which of them required gradients then: a compiled step updates those, and refuses a run once that changes. */
  requiresGrad: readonly boolean[];
  /** An eager step's hyperparameters, each group's, fixed when step() is called (as PyTorch's are). */
  at?: readonly Hyperparameters[];
}

/** An optimizer's update, with the layout of the hyperparameters its shader reads. */
export type StepEffect = EffectDef<StepAttrs> & { readonly hyper: StructLayout };

/**
 * Declares an optimizer's effect: one dispatch per parameter of `shader`, which
 * binds param, grad, `stateNames` and hyper, its struct Hyper.
 */
export function stepEffect(name: string, shader: string, stateNames: readonly string[]): StepEffect {
  const per = 2 + stateNames.length; // param, grad, state...
  const hyper = structLayout(shader, 'Hyper');
  const def = defineEffect<StepAttrs>({
    name,
    // Inputs: each group's hyperparameter buffer, then each parameter's param, grad, state...,
    // then what the host writes as the step runs (no dispatch binds it).
    writes({ groups, updated, hostWritten }) {
      const after = groups + updated.length * per;
      return [...updated.flatMap((_, i) => [groups + i * per, ...stateNames.map((_, s) => groups + i * per + 2 + s)]), ...Array.from({ length: hostWritten }, (_, k) => after + k)];
    },
    beforeRun(_, { opt, params, requiresGrad, updated, at }) {
      // An eager step updates the groups of when it was asked for; a compiled one, every group.
      if (at === undefined && params !== opt.params.length) {
        throw new TensorStateError(`${name}: a parameter group was added to the optimizer after this step was compiled, and the step does not update it; compile the step again`);
      }
      // Nor would it freeze or train a parameter as its requiresGrad now says: its gradients were traced.
      const changed = at === undefined ? opt.params.findIndex((p, i) => p.requiresGrad !== requiresGrad[i]) : -1;
      if (changed >= 0) {
        const p = opt.params[changed]!;
        throw new TensorStateError(`${name}: requiresGrad of ${p.describe()} was set to ${p.requiresGrad} after this step was compiled, which ${p.requiresGrad ? 'left it out' : 'updates it'}; compile the step again`);
      }
      if (at === undefined) opt.counted(updated, 1); // a compiled step counts as it runs; an eager one, when asked for
      opt.runStep(at ?? opt.settingsNow(), updated);
    },
    encode(ctx, inputs, { opt, groups: first, updated }) {
      updated.forEach((p, i) => {
        const hyper = inputs[opt.groupOf[p]!]!;
        const [param, grad, ...state] = inputs.slice(first + i * per, first + (i + 1) * per) as [Tensor, Tensor, ...Tensor[]];
        ctx.dispatch({
          shader,
          constants: { WG },
          params: { n: param.size, slot: opt.slotOf[p]! },
          bindings: { param, grad, hyper, ...Object.fromEntries(stateNames.map((s, k) => [s, state[k]!])) },
          workgroups: grid1d(param.size, WG),
        });
      });
    },
  });
  return Object.assign(def, { hyper });
}
