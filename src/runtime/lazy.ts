// Checks on lazy graphs before eager work computes them: every realised tensor they read must
// still hold the values it had when the op was recorded (an in-place update since would make
// the result silently wrong), and the companions that ride along (Tensor.companions).
import { TensorStateError } from './errors.js';
import type { Storage } from './storage.js';
import type { Tensor } from './tensor.js';

/**
 * Throws if anything `roots` read was disposed, is a program input, or (with `versions`) was
 * updated in place since; `what` computes them. Without `versions`, for work about to be
 * queued: what earlier queued work computes, or updates, is known only once that has run.
 * `inTurn`, for queued work in its turn: a tensor disposed after the work was asked for is still
 * there for it (see Tensor.dispose).
 */
export function checkLazyInputs(roots: readonly Tensor[], what = 'realize', { versions = true, inTurn = false } = {}): void {
  const gone = (t: Tensor) => (inTurn ? t.released : t.disposed);
  // A lazy value disposed is not computed (its intermediates may be: they free nothing).
  for (const t of roots) if ((!t.storage || !inTurn) && gone(t)) throw new TensorStateError(`${what}: ${t.describe()} was disposed`);
  // Realised for this work: not one to be lazy again once released (Tensor.lazyAgain).
  const realised = (t: Tensor) => t.storage && (inTurn || !t.lazyAgain);
  const seen = new Set<Tensor>();
  // Each with the root it is read for, named where what it reads is gone.
  const stack = roots.map((t) => [t, t] as const);
  while (stack.length) {
    const [t, root] = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (realised(t)) {
      if (t !== root && gone(t)) {
        throw new TensorStateError(`${what}: ${root.describe()} is computed from ${t.describe()}, which was disposed first; dispose a tensor after asking for what is computed from it (read(), realize(), a step)`);
      }
      t.checkReadable(what, inTurn);
      continue;
    }
    if (t.placeholder !== undefined) {
      throw new TensorStateError(`${what}: the value depends on program input '${t.placeholder}'; it exists only inside the compiled program`);
    }
    const op = t.op!;
    op.inputs.forEach((x, i) => {
      if (!versions) return;
      const v = x.versionRead(op.versions[i]!);
      if (v >= 0 && x.storage && x.storage.version !== v) {
        throw new TensorStateError(
          `${what}: ${op.def.name} read ${x.describe()} before it was updated in place; ${root.describe()}, computed from it, was recorded from the old values (ask for lazy results, such as a loss or the logits an accuracy is counted from, with read() or realize() before updating what they are computed from, such as by an optimizer step)`,
        );
      }
    });
    for (const x of op.inputs) stack.push([x, root]);
  }
}

/**
 * `lazy` and the companions they carry (Tensor.companions), which are then dropped: those still
 * to compute and still computable (one whose inputs were updated since fails on its own read).
 */
export function withCompanions(lazy: readonly Tensor[]): Tensor[] {
  const all = new Set(lazy);
  for (const t of lazyAncestors(lazy)) {
    for (const c of t.companions ?? []) {
      if (c.released) continue;
      if (c.storage) {
        // Computed already, into a view's storage it borrows (Tensor.borrow): held now, as if
        // computed here, so the view's release leaves it (it would be lazy again, and computed
        // anew from what a step has updated since).
        c.hold();
        continue;
      }
      try {
        checkLazyInputs([c], 'realize', { inTurn: true });
        all.add(c);
      } catch {
        // left lazy: its own read reports why
      }
    }
    t.companions = undefined;
  }
  return [...all];
}

/** The companions of the lazy values of `ts` and of the lazy values they are computed from (see lazyAncestors). */
export function companionsOf(ts: readonly Tensor[]): Tensor[] {
  return [...lazyAncestors(ts.filter((t) => !t.storage))].flatMap((b) => b.companions ?? []);
}

/**
 * `roots` and the lazy values they are computed from, through lazy values only: an eager program
 * that computes a root computes them too, so their companions ride along with it, as they would
 * with them (the loss with gradients a step takes clipped, or a view of a gradient).
 */
function lazyAncestors(roots: readonly Tensor[]): Set<Tensor> {
  const out = new Set<Tensor>();
  const stack = [...roots];
  while (stack.length) {
    const t = stack.pop()!;
    if (out.has(t)) continue;
    out.add(t);
    if (!t.storage) for (const x of t.op?.inputs ?? []) if (!x.storage && !x.released) stack.push(x);
  }
  return out;
}

/**
 * What computing the lazy `roots` reads: the storages of the realised tensors they are computed
 * from, and the lazy tensors among them and those they are computed from (through lazy tensors
 * only), which earlier work may compute first (see EagerQueue.add). A value lazy again once
 * queued work has run (Tensor.letGo) is lazy here.
 */
export function readsOf(roots: readonly Tensor[]): { storages: Set<Storage>; lazy: Tensor[] } {
  const storages = new Set<Storage>();
  const seen = new Set<Tensor>();
  const stack = roots.filter((t) => !t.storage || t.letGo);
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const x of t.op?.inputs ?? []) {
      // A storage released already (its work is refused in its turn) is not counted: the pool
      // may have given its buffer to another tensor, whose work it would hold back or refuse.
      if (x.storage && !x.letGo) {
        if (!x.storage.disposed) storages.add(x.storage);
      } else stack.push(x);
    }
  }
  return { storages, lazy: [...seen] };
}
