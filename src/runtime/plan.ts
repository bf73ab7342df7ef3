// Graph planning: orders the lazy nodes needed for some targets and effects, and assigns each
// computed tensor a buffer slot, reusing slots whose tensors are dead. Peak bytes are known
// here, before anything runs.
import { sizeClass } from './buffers.js';
import { byteSize } from './dtype.js';
import type { EffectDef } from './op.js';
import type { Storage, Tensor } from './tensor.js';

/** A recorded in-place update (an optimizer step). */
export interface Effect {
  def: EffectDef<any>;
  inputs: readonly Tensor[];
  attrs: unknown;
}

export type Step = { kind: 'op'; tensor: Tensor } | { kind: 'effect'; effect: Effect };

/** Where a tensor's elements live while a plan runs. */
export type BufferSource =
  | { kind: 'slot'; slot: number }
  | { kind: 'input'; name: string }
  | { kind: 'storage'; storage: Storage };

export interface Plan {
  steps: Step[];
  /** Byte size of each slot (rounded to the pool's size classes). */
  slotBytes: number[];
  /** Slots that stay alive after the plan: they hold the targets. */
  keptSlots: Set<number>;
  /** freedAfter[i]: slots whose last reader is step i. */
  freedAfter: number[][];
  /** Largest number of slot bytes alive at one time. */
  peakBytes: number;
  source(t: Tensor): BufferSource;
}

const isComputed = (t: Tensor) => !t.storage && t.op !== undefined;
const isAlias = (t: Tensor) => t.op !== undefined && t.op.def.encode === undefined;

function inputsOf(step: Step): readonly Tensor[] {
  return step.kind === 'op' ? step.tensor.op!.inputs : step.effect.inputs;
}

export function planGraph(targets: readonly Tensor[], effects: readonly Effect[]): Plan {
  // Nodes reachable from the targets and effects that still need computing.
  const computed = new Set<Tensor>();
  const stack: Tensor[] = [...targets, ...effects.flatMap((e) => e.inputs)];
  while (stack.length) {
    const t = stack.pop()!;
    if (!isComputed(t) || computed.has(t)) continue;
    computed.add(t);
    stack.push(...t.op!.inputs);
  }

  // An effect writes its storages in place, so it runs after every other reader of them.
  const extraDeps = new Map<Effect, Tensor[]>();
  for (const e of effects) {
    const written = new Set(e.def.writes(e.attrs).map((i) => e.inputs[i]!.storage));
    extraDeps.set(e, [...computed].filter((t) => !isAlias(t) && t.op!.inputs.some((x) => x.storage && written.has(x.storage))));
  }

  // Depth-first post-order; aliases are resolved, not scheduled.
  const steps: Step[] = [];
  const done = new Set<Tensor>();
  const visit = (root: Tensor) => {
    const work: [Tensor, boolean][] = [[root, false]];
    while (work.length) {
      const [t, expanded] = work.pop()!;
      if (!computed.has(t) || done.has(t)) continue;
      if (expanded) {
        done.add(t);
        if (!isAlias(t)) steps.push({ kind: 'op', tensor: t });
        continue;
      }
      work.push([t, true]);
      const ins = t.op!.inputs;
      for (let i = ins.length - 1; i >= 0; i--) work.push([ins[i]!, false]);
    }
  };
  for (const t of targets) visit(t);
  for (const e of effects) {
    for (const t of [...e.inputs, ...extraDeps.get(e)!]) visit(t);
    steps.push({ kind: 'effect', effect: e });
  }

  // Buffer sources: own slot for computed tensors, the base's for aliases.
  const slotOf = new Map<Tensor, number>();
  const source = (t: Tensor): BufferSource => {
    let base = t;
    while (!base.storage && base.op && isAlias(base)) base = base.op.inputs[0]!;
    if (base.storage) return { kind: 'storage', storage: base.storage };
    if (base.placeholder !== undefined) return { kind: 'input', name: base.placeholder };
    const slot = slotOf.get(base);
    if (slot === undefined) throw new Error(`plan: ${base.describe()} used before it is computed`);
    return { kind: 'slot', slot };
  };

  // Last reader of each base tensor.
  const lastUse = new Map<Tensor, number>();
  const baseOf = (t: Tensor): Tensor => {
    while (!t.storage && t.op && isAlias(t)) t = t.op.inputs[0]!;
    return t;
  };
  steps.forEach((s, i) => {
    for (const x of inputsOf(s)) lastUse.set(baseOf(x), i);
  });
  const kept = new Set(targets.map(baseOf));

  // Greedy slot assignment: best-fit among free slots no more than twice the size needed.
  const slotBytes: number[] = [];
  const keptSlots = new Set<number>();
  const freedAfter: number[][] = steps.map(() => []);
  const free: number[] = [];
  let live = 0;
  let peakBytes = 0;
  steps.forEach((s, i) => {
    if (s.kind === 'op') {
      const t = s.tensor;
      const need = sizeClass(byteSize(t.dtype, t.size));
      let best = -1;
      for (const [j, slot] of free.entries()) {
        const b = slotBytes[slot]!;
        if (b >= need && b <= 2 * need && (best < 0 || b < slotBytes[free[best]!]!)) best = j;
      }
      const slot = best >= 0 ? free.splice(best, 1)[0]! : slotBytes.push(need) - 1;
      slotOf.set(t, slot);
      live += slotBytes[slot]!;
      peakBytes = Math.max(peakBytes, live);
      if (kept.has(t)) keptSlots.add(slot);
      else if (!lastUse.has(t)) lastUse.set(t, i); // computed but unread: free at once
    }
    for (const x of inputsOf(s)) {
      const b = baseOf(x);
      const slot = slotOf.get(b);
      if (slot !== undefined && lastUse.get(b) === i && !keptSlots.has(slot) && !freedAfter[i]!.includes(slot)) {
        freedAfter[i]!.push(slot);
      }
    }
    if (s.kind === 'op' && lastUse.get(s.tensor) === i && !keptSlots.has(slotOf.get(s.tensor)!)) {
      freedAfter[i]!.push(slotOf.get(s.tensor)!);
    }
    for (const slot of freedAfter[i]!) {
      free.push(slot);
      live -= slotBytes[slot]!;
    }
  });

  return { steps, slotBytes, keptSlots, freedAfter, peakBytes, source };
}
