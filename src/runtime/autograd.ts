// Reverse-mode autograd over the lazy graph: walk back from the output in reverse topological
// order, applying each op's backward rule. Only nodes on a path to a wanted input get a
// gradient, and a rule is told which of its inputs need one.
import { add } from '../ops/elementwise.js';
import { checkTensor, checkTensors } from './args.js';
import { FoveaError, ShapeError, TensorStateError } from './errors.js';
import { fmt, sameShape } from './shape.js';
import type { Tensor } from './tensor.js';

/** Topological order (inputs first) of the op nodes reachable from `root`, not past a detach. */
function topo(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const work: [Tensor, boolean][] = [[root, false]];
  while (work.length) {
    const [t, expanded] = work.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    work.push([t, true]);
    if (t.op?.def.detaches) continue; // no gradient passes: what it came from is no history
    for (const x of t.op?.inputs ?? []) work.push([x, false]);
  }
  return order;
}

// What each tensor grad() returned is the gradient of: several tensors where one gradient
// serves several (add's rule passes g on to both inputs).
const gradientOf = new WeakMap<Tensor, Set<Tensor>>();

/** @internal Records that `g` is (derived from) the gradient of each of `of`, as clipping's results are. */
export function markGradient(g: Tensor, of: Iterable<Tensor>): void {
  let set = gradientOf.get(g);
  if (!set) gradientOf.set(g, (set = new Set()));
  for (const t of of) set.add(t);
}

const NONE: ReadonlySet<Tensor> = new Set();

/** @internal The tensors grad() returned `g` as the gradient of (empty where none). */
export function gradientTargets(g: Tensor | undefined): ReadonlySet<Tensor> {
  return (g && gradientOf.get(g)) ?? NONE;
}

/**
 * Gradients of `output` with respect to each of `wrt` (lazy tensors, same shapes). `output`
 * must hold one element unless `seed` (the gradient of the output) is given. An input that the
 * output does not depend on gets zeros, while another does; when none does, grad throws (as
 * PyTorch's "not used in the graph": a program's output, say, carries no history).
 */
export function grad(output: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  checkTensor('grad', 'output', output);
  checkTensors('grad', 'wrt', wrt);
  if (seed !== undefined) checkTensor('grad', 'seed', seed);
  // Named here: another runtime's tensor is on no path from the output, and would be refused as that.
  const foreign = (what: string, t: Tensor) => new TensorStateError(`grad: ${what}, ${t.describe()}, belongs to another runtime than the output, ${output.describe()}`);
  wrt.forEach((w, i) => {
    if (w.rt !== output.rt) throw foreign(`wrt[${i}]`, w);
  });
  if (seed && seed.rt !== output.rt) throw foreign('seed', seed);
  if (!seed && output.size !== 1) {
    throw new ShapeError('grad', `output must have one element (got ${fmt(output.shape)}); pass the output's gradient as seed`, [output.shape]);
  }
  if (seed && (!sameShape(seed.shape, output.shape) || seed.dtype !== 'f32')) {
    throw new ShapeError('grad', `seed ${fmt(seed.shape)} ${seed.dtype} does not match output ${fmt(output.shape)} ${output.dtype}`, [seed.shape, output.shape]);
  }
  if (output.dtype !== 'f32') {
    const rule = output.op?.def.backward;
    const why = rule && typeof rule !== 'function' ? `cannot differentiate through ${output.op!.def.name}: ${rule.notDifferentiable}` : `the output is ${output.dtype}; only f32 values have gradients`;
    throw new FoveaError(`grad: ${why}`);
  }
  for (const w of wrt) {
    if (w.dtype !== 'f32') throw new ShapeError('grad', `only f32 tensors have gradients; ${w.describe()} is ${w.dtype}`, [w.shape]);
  }
  // As PyTorch's "does not have a grad_fn": zeros here would look like a real answer.
  if (!output.op && !wrt.includes(output)) {
    throw new TensorStateError(`grad: ${output.describe()} has no recorded ops to differentiate (a program's output, a detached or uploaded tensor, a comparison's mask); compute it from the inputs eagerly, or take the gradient inside the compiled function`);
  }
  const order = topo(output);
  const wanted = new Set(wrt);
  // needs: on a path from a wanted tensor to the output. Integer values (indices, labels,
  // argmax) carry no gradient, so no path runs through them.
  const needs = new Set<Tensor>();
  for (const t of order) {
    if (t.dtype === 'f32' && (wanted.has(t) || (!t.op?.def.detaches && t.op?.inputs.some((x) => needs.has(x))))) needs.add(t);
  }
  // None of them reaches the output: all-zero gradients would look like a real answer.
  if (!needs.has(output) && wrt.length > 0) {
    throw new TensorStateError(
      `grad: ${output.describe()} was not computed from ${wrt.length === 1 ? wrt[0]!.describe() : `any of the ${wrt.length} tensors asked for`} (a program's output, a detached or uploaded tensor, a comparison's mask carries no history); compute it from them eagerly, or take the gradient inside the compiled function`,
    );
  }
  const grads = new Map<Tensor, Tensor>();
  if (needs.has(output)) grads.set(output, seed ? seed.reshape(...output.shape) : output.rt.ones(output.shape));
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const g = grads.get(t);
    if (!g || !t.op || !needs.has(t)) continue;
    const rule = t.op.def.backward;
    if (typeof rule !== 'function') {
      throw new FoveaError(`grad: cannot differentiate through ${t.op.def.name}: ${rule.notDifferentiable}`);
    }
    const inputs = t.op.inputs;
    // The rule reads the inputs' buffers now: they must still hold what the op read.
    inputs.forEach((x, j) => {
      const v = x.versionRead(t.op!.versions[j]!);
      if (v >= 0 && x.storage && x.rt.eager.versionAfter(x.storage) !== v) {
        throw new TensorStateError(`grad: ${t.op!.def.name} read ${x.describe()} before it was updated in place; take gradients before updating what the forward pass read`);
      }
    });
    // And its output, where the rule reads it (exp, sigmoid, tanh, softmax, ReLU, div, max): a
    // write to it since it was realised would give a gradient of other values, silently (PyTorch
    // refuses it as "modified by an inplace operation"; a rule that does not read it, add's,
    // is not refused).
    const op = t.op;
    const out = () => {
      if (t.storage && t.realisedVersion >= 0 && t.rt.eager.versionAfter(t.storage) !== t.realisedVersion) {
        throw new TensorStateError(`grad: ${t.describe()} was updated in place after ${op.def.name} computed it, and its gradient reads it; take gradients before updating the values they are computed from`);
      }
      return t;
    };
    const rt = output.rt;
    rt.differentiating++;
    let inputGrads;
    try {
      inputGrads = rule(g, { inputs, get out() { return out(); }, attrs: op.attrs, needs: inputs.map((x) => needs.has(x)) });
    } finally {
      rt.differentiating--;
    }
    // An entry per input (null: none), or a missing one would be taken as zero.
    if (!Array.isArray(inputGrads) || inputGrads.length < inputs.length) {
      throw new FoveaError(`grad of ${t.op.def.name}: its gradient rule must return a gradient (or null) for each of its ${inputs.length} inputs; it returned ${Array.isArray(inputGrads) ? inputGrads.length : String(inputGrads)}`);
    }
    inputs.forEach((x, j) => {
      const gx = inputGrads[j];
      if (!needs.has(x) || !gx) return;
      // A rule's gradient of the wrong shape would broadcast silently when gradients add up.
      if (!sameShape(gx.shape, x.shape)) {
        throw new ShapeError(`grad of ${t.op!.def.name}`, `the gradient of input ${j} is ${fmt(gx.shape)}, but the input is ${fmt(x.shape)}`, [x.shape, gx.shape]);
      }
      const prev = grads.get(x);
      grads.set(x, prev ? add(prev, gx) : gx);
    });
  }
  const result = wrt.map((w) => grads.get(w) ?? w.rt.zeros(w.shape));
  result.forEach((g, i) => markGradient(g, [wrt[i]!]));
  // PyTorch's loop reads the loss after optimizer.step(): compute it with the gradients. And
  // PyTorch computes every gradient at once, before any step: each comes with the others, so
  // that a step updating what another one is computed from (two optimizers, one backward) has
  // computed it first.
  if (!output.rt.tracingNow) {
    const lazy = [...new Set(result.filter((g) => !g.storage))];
    // The lazy one-element values the output is computed from (the parts of a loss, logged after
    // the step as PyTorch's loop logs them) ride along too: computed with the output anyway, and
    // four bytes each to keep.
    const parts: Tensor[] = [];
    if (!output.storage) {
      const seen = new Set<Tensor>();
      const stack = [output];
      while (stack.length) {
        const t = stack.pop()!;
        if (seen.has(t) || t.storage) continue;
        seen.add(t);
        if (t !== output && t.size === 1) parts.push(t);
        for (const x of t.op?.inputs ?? []) stack.push(x);
      }
    }
    for (const g of lazy) (g.companions ??= []).push(...(output.storage ? [] : [output]), ...parts, ...lazy.filter((o) => o !== g));
  }
  return result;
}

/**
 * Adds to `.grad` of every tensor with `requiresGrad` that `output` depends on the gradient of
 * `output`, detached (as PyTorch's, without create_graph: `grad()` gives gradients to
 * differentiate again), or sets it where there is none. As in PyTorch, gradients of several
 * backward() calls (micro-batches) add up until `optimizer.zeroGrad()`, whose zeros are replaced
 * rather than added to. Lazy until read or used.
 * Inside a compiled function, each run of the program sets `.grad` to that run's gradients (added
 * up over the backward() calls in the function; a gradient from before it is not added to).
 */
export function backward(output: Tensor, seed?: Tensor): void {
  checkTensor('backward', 'output', output);
  if (seed !== undefined) checkTensor('backward', 'seed', seed);
  const leaves = topo(output).filter((t) => t.requiresGrad);
  // As PyTorch, which raises: a forgotten requiresGrad would otherwise leave every .grad as it was.
  if (!leaves.length) {
    throw new TensorStateError(`backward: nothing ${output.describe()} is computed from has requiresGrad (create parameters with { requiresGrad: true }, or use grad(output, wrt))`);
  }
  // Added to what is there, but for zeroGrad()'s read-only zeros (an add of zeros would cost a
  // dispatch a parameter a step) and, in a traced function, a gradient from before it, which
  // every run would add again. Checked for every tensor before any .grad is set.
  const adds = leaves.map((t) => {
    const prev = t.grad;
    if (prev === undefined || prev.disposed || prev.constantOf !== undefined || (t.rt.tracingNow && !t.rt.gradSetWhileTracing(t))) return undefined;
    // One assigned by hand must be a gradient of it: added, another shape would broadcast.
    if (!sameShape(prev.shape, t.shape) || prev.dtype !== 'f32' || prev.rt !== t.rt) {
      throw new ShapeError('backward', `.grad of ${t.describe()} is ${prev.describe()}${prev.rt !== t.rt ? ' of another runtime' : ''}, not a gradient of it to add to; set it to undefined (or call zeroGrad()) first`, [t.shape, prev.shape]);
    }
    return prev;
  });
  const gs = grad(output, leaves, seed);
  leaves.forEach((t, i) => {
    t.rt.settingGrad(t);
    // Detached, as PyTorch's .grad (no create_graph): a value, not a function of the parameters
    // to differentiate again (grad() gives those). It carries the gradient's companions.
    const g = gs[i]!;
    const prev = adds[i];
    const d = prev ? add(prev, g).detach() : g.detach();
    if (d !== g) d.companions = g.companions;
    if (t.name !== undefined) d.name = `${t.name}.grad`; // as messages name it
    t.grad = d;
  });
}
