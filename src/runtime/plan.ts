// Graph planning: orders the lazy nodes needed for some targets and effects, fuses producers
// with the elementwise op that alone reads them (OpDef.absorb), and assigns each computed
// tensor a buffer slot, reusing slots whose tensors are dead. Peak bytes are known here,
// before anything runs.
import { sizeClass } from './buffers.js';
import { byteSize } from './dtype.js';
import type { EffectDef, OpCall } from './op.js';
import type { Storage } from './storage.js';
import type { Tensor } from './tensor.js';

/** A recorded in-place update (an optimizer step). */
export interface Effect {
  def: EffectDef<any>;
  inputs: readonly Tensor[];
  attrs: unknown;
}

export type Step = { kind: 'op'; tensor: Tensor; call: OpCall<any> } | { kind: 'effect'; effect: Effect };

/** Where a tensor's elements live while a plan runs. */
export type BufferSource =
  | { kind: 'slot'; slot: number }
  | { kind: 'input'; name: string }
  | { kind: 'storage'; storage: Storage };

export interface Plan {
  steps: Step[];
  /** Byte size of each slot (rounded to the pool's size classes). */
  slotBytes: number[];
  /** freedAfter[i]: slots whose last reader is step i. */
  freedAfter: number[][];
  /** Largest number of slot bytes alive at one time. */
  peakBytes: number;
  /** Consumer ops computed by their producer's kernel. */
  fused: number;
  source(t: Tensor): BufferSource;
}

const isComputed = (t: Tensor) => !t.storage && t.op !== undefined;

function inputsOf(step: Step): readonly Tensor[] {
  return step.kind === 'op' ? step.call.inputs : step.effect.inputs;
}

export function planGraph(targets: readonly Tensor[], effects: readonly Effect[], largestBuffer = Infinity): Plan {
  // Nodes reachable from the targets and effects that still need computing.
  const computed = new Set<Tensor>();
  const stack: Tensor[] = [...targets, ...effects.flatMap((e) => e.inputs)];
  while (stack.length) {
    const t = stack.pop()!;
    if (!isComputed(t) || computed.has(t)) continue;
    computed.add(t);
    stack.push(...t.op!.inputs);
  }

  // A computed tensor is either produced by its own kernel or shares another's buffer: a view
  // (reshape) of its input, or a consumer fused into its producer.
  const sharesWith = new Map<Tensor, Tensor>();
  for (const t of computed) if (!t.op!.def.encode) sharesWith.set(t, t.op!.inputs[0]!);
  const baseOf = (t: Tensor): Tensor => {
    while (!t.storage && sharesWith.has(t)) t = sharesWith.get(t)!;
    return t;
  };
  const kept = new Set(targets.map(baseOf));
  const calls = new Map<Tensor, OpCall<any>>();
  for (const t of computed) if (!sharesWith.has(t)) calls.set(t, t.op!);

  // Fusion: a producer read by exactly one op (and by no effect or target) may absorb it.
  const readers = new Map<Tensor, Tensor[]>();
  for (const [t, call] of calls) for (const x of call.inputs) readers.set(baseOf(x), [...(readers.get(baseOf(x)) ?? []), t]);
  for (const e of effects) for (const x of e.inputs) readers.set(baseOf(x), [...(readers.get(baseOf(x)) ?? []), x, x]);
  let fused = 0;
  for (const [consumer, call] of [...calls]) {
    for (const via of call.inputs) {
      const producer = baseOf(via);
      const pc = calls.get(producer);
      if (!pc?.def.absorb || kept.has(producer) || readers.get(producer)?.length !== 1) continue;
      // The consumer's other inputs must be ready when the producer runs: among its inputs.
      if (!call.inputs.every((x) => baseOf(x) === producer || x.storage || pc.inputs.includes(x))) continue;
      const attrs = pc.def.absorb(pc, call, via);
      if (attrs === undefined) continue;
      calls.set(producer, { ...pc, attrs });
      calls.delete(consumer);
      sharesWith.set(consumer, producer);
      // The producer now stands for the consumer: it reads the consumer's other inputs and is
      // read by the consumer's readers.
      for (const x of call.inputs) if (baseOf(x) !== producer) readers.set(baseOf(x), [...(readers.get(baseOf(x)) ?? []), producer]);
      readers.set(producer, readers.get(consumer) ?? []);
      readers.delete(consumer);
      fused++;
      break;
    }
  }

  // A target fused into its producer now lives in the producer's buffer, which must stay too.
  for (const t of targets) kept.add(baseOf(t));

  // An effect writes its storages in place, so it runs after every other reader of them.
  const extraDeps = new Map<Effect, Tensor[]>();
  for (const e of effects) {
    const written = new Set(e.def.writes(e.attrs).map((i) => e.inputs[i]!.storage));
    extraDeps.set(e, [...calls].filter(([, c]) => c.inputs.some((x) => x.storage && written.has(x.storage))).map(([t]) => t));
  }

  // Depth-first post-order over the kernels' inputs (through shared buffers to their producers).
  const steps: Step[] = [];
  const done = new Set<Tensor>();
  const visit = (root: Tensor) => {
    const work: [Tensor, boolean][] = [[root, false]];
    while (work.length) {
      const [t, expanded] = work.pop()!;
      if (!computed.has(t) || done.has(t)) continue;
      const call = calls.get(t);
      if (expanded) {
        done.add(t);
        if (call) steps.push({ kind: 'op', tensor: t, call });
        continue;
      }
      work.push([t, true]);
      const ins = call ? call.inputs : [sharesWith.get(t)!, ...t.op!.inputs];
      for (let i = ins.length - 1; i >= 0; i--) work.push([ins[i]!, false]);
    }
  };
  for (const t of targets) visit(t);
  for (const e of effects) {
    for (const t of [...e.inputs, ...extraDeps.get(e)!]) visit(t);
    steps.push({ kind: 'effect', effect: e });
  }

  const slotOf = new Map<Tensor, number>();
  const source = (t: Tensor): BufferSource => {
    const base = baseOf(t);
    if (base.storage) return { kind: 'storage', storage: base.storage };
    if (base.placeholder !== undefined) return { kind: 'input', name: base.placeholder };
    const slot = slotOf.get(base);
    if (slot === undefined) throw new Error(`plan: ${base.describe()} used before it is computed`);
    return { kind: 'slot', slot };
  };

  // Last reader of each base tensor.
  const lastUse = new Map<Tensor, number>();
  steps.forEach((s, i) => {
    for (const x of inputsOf(s)) lastUse.set(baseOf(x), i);
  });

  // Greedy slot assignment: best-fit among free slots no more than twice the size needed.
  const slotBytes: number[] = [];
  const keptSlots = new Set<number>(); // they hold the targets, alive after the plan
  const freedAfter: number[][] = steps.map(() => []);
  const free: number[] = [];
  let live = 0;
  let peakBytes = 0;
  steps.forEach((s, i) => {
    const release = (slot: number | undefined) => {
      if (slot !== undefined && !keptSlots.has(slot) && !freedAfter[i]!.includes(slot)) freedAfter[i]!.push(slot);
    };
    if (s.kind === 'op') {
      const t = s.tensor;
      const need = sizeClass(byteSize(t.dtype, t.size), largestBuffer);
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
      else if (!lastUse.has(t) || lastUse.get(t)! < i) release(slot); // computed but never read
    }
    for (const x of inputsOf(s)) {
      const b = baseOf(x);
      if (lastUse.get(b) === i) release(slotOf.get(b));
    }
    for (const slot of freedAfter[i]!) {
      free.push(slot);
      live -= slotBytes[slot]!;
    }
  });

  return { steps, slotBytes, freedAfter, peakBytes, fused, source };
}
