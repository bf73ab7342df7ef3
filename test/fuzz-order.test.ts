// A seeded property-based test of fovea's ordering semantics (the eager queue, lazy values,
// views, disposal): random sequences of PyTorch-style statements, run WITHOUT awaiting unless
// the sequence says so — tensors created, elementwise ops (neg, relu, abs, scale, add/sub/mul,
// maximum/minimum, with numbers too), reductions (sum, mean, max over all or one axis), reshape
// views, detach, reads (awaited or not; read() or realize()), writes of new host values,
// backward() and grad(), eager SGD/Adam step() (awaited or not, with .grad or given gradients),
// zeroGrad, lr changes, reset, compiled runs (a compiled step that also updates a parameter, a
// forward program reading parameters and a lazy value captured from outside), dispose, sync.
//
// Each sequence runs on fovea first, noting what each statement did (its value, or its
// refusal); a float64 model then replays it in program order with PyTorch semantics (each op
// sees the values as of when it was called; reshape views share storage; detach shares
// storage; a refused statement has no effect). Every value read must be the model's, and every
// refusal must be a documented one (the model names the reason), else the seed fails with the
// program printed. Work asked for (read() or step() called, not yet run) before a tensor it
// reads was disposed runs with it: a refusal for that dispose is a failure.
//
// Seeds: FUZZ_SEEDS (default 1-2000; seeds up to 20000 pass too), e.g. FUZZ_SEEDS=7,300-399. FUZZ_LOG=1 prints refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abs, Adam, add, backward, grad, max, maximum, mean, minimum, mul, neg, relu, scale, SGD, sub, sum, TensorStateError, type Optimizer, type Program, type Tensor } from '../src/index.js';
import { errorText, Rng, seedList, useRuntime } from './helpers.js';

const rt = useRuntime();

const seeds = (): number[] => seedList(process.env.FUZZ_SEEDS, '1-2000');

type Shape = number[];
type F = Float64Array;
const numel = (s: Shape) => s.reduce((a, b) => a * b, 1);
const fmtShape = (s: Shape) => `[${s.join(', ')}]`;
const fmtVec = (v: ArrayLike<number>) => `[${Array.from(v, (x) => (Number.isInteger(x) ? x : +x.toPrecision(6))).join(', ')}]`;

// ---- programs ----

const BASES = ['p0', 'p1', 'x0', 'x1'] as const;
type Base = (typeof BASES)[number];
type UnOp = 'neg' | 'relu' | 'abs' | 'scale' | 'addc' | 'rsubc' | 'mulc';
type BinOp = 'add' | 'sub' | 'mul' | 'maximum' | 'minimum';
type RedOp = 'sum' | 'mean' | 'max';

type Action =
  | { k: 'new'; out: string; shape: Shape; values: number[] }
  | { k: 'un'; out: string; op: UnOp; a: string; c: number }
  | { k: 'bin'; out: string; op: BinOp; a: string; b: string }
  | { k: 'red'; out: string; op: RedOp; a: string; axis?: number }
  | { k: 'reshape'; out: string; a: string; shape: Shape }
  | { k: 'detach'; out: string; a: string }
  | { k: 'read'; h: string; awaited: boolean; id: string; via: 'read' | 'realize' }
  | { k: 'write'; t: string; values: number[] }
  | { k: 'backward'; loss: string }
  | { k: 'grad'; loss: string; wrt: number[]; outs: string[] }
  | { k: 'step'; opt: number; grads?: string[]; awaited: boolean; id: string }
  | { k: 'zeroGrad'; opt: number }
  | { k: 'run'; prog: 'stepP' | 'fwdP'; x?: string | number[]; out: string }
  | { k: 'dispose'; h: string }
  | { k: 'lr'; opt: number; lr: number }
  | { k: 'reset'; opt: number }
  | { k: 'sync' }
  | { k: 'await'; id: string };

interface OptSpec {
  kind: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  betas: [number, number];
  eps: number;
}

interface Setup {
  shape: Shape;
  init: Record<Base, number[]>;
  requiresGrad: [boolean, boolean];
  opts: [OptSpec, OptSpec];
  /** stepP = compile(({ x }) => { loss = sum(mul(f(p<opt>), x)); backward(loss) | grad; opt.step(); return { loss } }) */
  stepP: { opt: number; f: 'id' | 'addx' | 'mulp'; xj: Base; useGrad: boolean };
  /** c0 = add(cap.x, cap.p), recorded before compiling, lazy; fwdP = compile(() => ({ y: add(scale(a, 2), b) })) */
  cap: { x: Base; p: Base };
  fwdP: { a: Base; b: Base | 'c0' };
}

interface Prog {
  seed: number;
  setup: Setup;
  statements: Action[][];
}

function describeAction(a: Action): string {
  const unText: Record<UnOp, (x: string, c: number) => string> = {
    neg: (x) => `neg(${x})`,
    relu: (x) => `relu(${x})`,
    abs: (x) => `abs(${x})`,
    scale: (x, c) => `scale(${x}, ${c})`,
    addc: (x, c) => `add(${x}, ${c})`,
    rsubc: (x, c) => `sub(${c}, ${x})`,
    mulc: (x, c) => `mul(${x}, ${c})`,
  };
  switch (a.k) {
    case 'new':
      return `${a.out} = rt.tensor([${a.values.join(', ')}], ${fmtShape(a.shape)})`;
    case 'un':
      return `${a.out} = ${unText[a.op](a.a, a.c)}`;
    case 'bin':
      return `${a.out} = ${a.op}(${a.a}, ${a.b})`;
    case 'red':
      return `${a.out} = ${a.op}(${a.a}${a.axis === undefined ? '' : `, ${a.axis}`})`;
    case 'reshape':
      return `${a.out} = ${a.a}.reshape(${fmtShape(a.shape)})`;
    case 'detach':
      return `${a.out} = ${a.a}.detach()`;
    case 'read':
      return `${a.awaited ? 'await ' : `${a.id} = `}${a.h}.${a.via}()`;
    case 'write':
      return `${a.t}.write([${a.values.join(', ')}])`;
    case 'backward':
      return `backward(${a.loss})`;
    case 'grad':
      return `[${a.outs.join(', ')}] = grad(${a.loss}, [${a.wrt.map((i) => `p${i}`).join(', ')}])`;
    case 'step':
      return `${a.awaited ? 'await ' : `${a.id} = `}opt${a.opt}.step(${a.grads ? `[${a.grads.join(', ')}]` : ''})`;
    case 'zeroGrad':
      return `opt${a.opt}.zeroGrad()`;
    case 'run': {
      const arg = a.prog === 'stepP' ? `{ x: ${typeof a.x === 'string' ? a.x : `[${a.x!.join(', ')}]`} }` : '';
      return `${a.out} = ${a.prog}.run(${arg}).${a.prog === 'stepP' ? 'loss' : 'y'}`;
    }
    case 'dispose':
      return `${a.h}.dispose()`;
    case 'lr':
      return `opt${a.opt}.lr = ${a.lr}`;
    case 'reset':
      return `opt${a.opt}.reset()`;
    case 'sync':
      return 'await rt.sync()';
    case 'await':
      return `await ${a.id}`;
  }
}

function describeOpt(o: OptSpec, i: number): string {
  return o.kind === 'sgd'
    ? `opt${i} = new SGD([p${i}], { lr: ${o.lr}, momentum: ${o.momentum}, dampening: ${o.dampening}, weightDecay: ${o.weightDecay}, nesterov: ${o.nesterov} })`
    : `opt${i} = new Adam([p${i}], { lr: ${o.lr}, betas: [${o.betas.join(', ')}], eps: ${o.eps}, weightDecay: ${o.weightDecay} })`;
}

function describeProgram(p: Prog): string {
  const s = p.setup;
  const lines = BASES.map((b, i) => `  ${b} = rt.tensor([${s.init[b].join(', ')}], ${fmtShape(s.shape)}${i < 2 ? `, { requiresGrad: ${s.requiresGrad[i]} }` : ''})`);
  s.opts.forEach((o, i) => lines.push(`  ${describeOpt(o, i)}`));
  const k = s.stepP.opt;
  const f = s.stepP.f === 'id' ? `p${k}` : s.stepP.f === 'addx' ? `add(p${k}, ${s.stepP.xj})` : `mul(p${k}, p${1 - k})`;
  const upd = s.stepP.useGrad ? `opt${k}.step(grad(loss, [p${k}]))` : `backward(loss); opt${k}.step()`;
  lines.push(`  c0 = add(${s.cap.x}, ${s.cap.p})`);
  lines.push(`  stepP = await rt.compile(({ x }) => { const loss = sum(mul(${f}, x)); ${upd}; return { loss }; }, { x: ${fmtShape(s.shape)} })`);
  lines.push(`  fwdP = await rt.compile(() => ({ y: add(scale(${s.fwdP.a}, 2), ${s.fwdP.b}) }))`);
  p.statements.forEach((st, i) => lines.push(`  ${String(i).padStart(2)}: ${st.map(describeAction).join('; ')}`));
  return `seed ${p.seed}:\n${lines.join('\n')}`;
}

interface GenVal {
  name: string;
  shape: Shape;
  /** Depends on a parameter with requiresGrad through recorded ops (a loss of it has a gradient). */
  onParam: boolean;
  kind: 'base' | 'val' | 'out' | 'grad' | 'new';
}

const SHAPES: Shape[] = [[2], [4], [2, 2], [1, 4], [2, 4]];

function generate(seed: number): Prog {
  const rng = new Rng(seed);
  const shape = rng.pick(SHAPES);
  const n = numel(shape);
  const half = () => rng.int(-6, 6) / 2;
  const vals = (count = n) => Array.from({ length: count }, half);
  const init = Object.fromEntries(BASES.map((b) => [b, vals()])) as Record<Base, number[]>;
  const adamShare = rng.next() < 0.4;
  const optSpec = (): OptSpec => {
    if (adamShare && rng.next() < 0.7) {
      return { kind: 'adam', lr: rng.pick([0.5, 0.25]), momentum: 0, dampening: 0, weightDecay: rng.pick([0, 0, 0.5]), nesterov: false, betas: rng.pick([[0.5, 0.75], [0.9, 0.999]] as [number, number][]), eps: rng.pick([0.1, 0.5]) }; // not 1e-8: a gradient that is 0 in f32 and 1e-9 in float64 would be a whole step apart
    }
    const momentum = rng.pick([0, 0, 0.5]);
    const dampening = momentum ? rng.pick([0, 0.5]) : 0;
    return { kind: 'sgd', lr: rng.pick([1, 0.5, 0.25]), momentum, dampening, weightDecay: rng.pick([0, 0, 0.5]), nesterov: momentum > 0 && dampening === 0 && rng.next() < 0.5, betas: [0.9, 0.999], eps: 1e-8 };
  };
  const opts: [OptSpec, OptSpec] = [optSpec(), optSpec()];
  // Kinks (relu, abs, max, maximum, minimum) only where every value stays exact in f32: with
  // Adam's square roots, a tie could fall either way in f32 and in float64.
  const smooth = opts.some((o) => o.kind === 'adam');
  const requiresGrad: [boolean, boolean] = [true, rng.next() < 0.7];
  const k = requiresGrad[1] && rng.next() < 0.4 ? 1 : 0;
  const setup: Setup = {
    shape,
    init,
    requiresGrad,
    opts,
    stepP: { opt: k, f: rng.pick(['id', 'addx', 'mulp'] as const), xj: rng.pick(['x0', 'x1'] as const), useGrad: rng.next() < 0.3 },
    cap: { x: rng.pick(['x0', 'x1'] as const), p: rng.pick(['p0', 'p1'] as const) },
    fwdP: { a: rng.pick(BASES), b: rng.pick([...BASES, 'c0', 'c0'] as const) },
  };

  const values: GenVal[] = BASES.map((b, i) => ({ name: b, shape, onParam: i < 2 && requiresGrad[i as 0 | 1], kind: 'base' as const }));
  values.push({ name: 'c0', shape, onParam: setup.cap.p === 'p0' || requiresGrad[1], kind: 'val' });
  const pending: string[] = [];
  const realisedVals = new Set<string>(); // read and awaited (so realised): writable, detachable
  let count = 0;
  const fresh = (prefix: string) => `${prefix}${++count}`;
  const pickVal = (pred: (v: GenVal) => boolean = () => true): GenVal | undefined => {
    const vs = values.filter(pred);
    if (!vs.length) return undefined;
    return rng.next() < 0.5 ? rng.pick(vs.slice(-3)) : rng.pick(vs);
  };
  const sameShape = (a: Shape, b: Shape) => fmtShape(a) === fmtShape(b);
  const add_ = (v: GenVal) => (values.push(v), v);

  const recordOp = (from?: GenVal): Action | undefined => {
    const a = from ?? pickVal((v) => v.kind !== 'grad');
    if (!a) return undefined;
    const out = fresh('v');
    const r = rng.next();
    const unOps: UnOp[] = smooth ? ['neg', 'scale', 'addc', 'rsubc', 'mulc'] : ['neg', 'relu', 'abs', 'scale', 'addc', 'rsubc', 'mulc'];
    const binOps: BinOp[] = smooth ? ['add', 'sub', 'mul'] : ['add', 'sub', 'mul', 'maximum', 'minimum'];
    if (r < 0.3) {
      const op = rng.pick(unOps);
      add_({ name: out, shape: a.shape, onParam: a.onParam, kind: 'val' });
      return { k: 'un', out, op, a: a.name, c: rng.pick([2, -1, 0.5, 1.5]) };
    }
    if (r < 0.65) {
      const b = pickVal((v) => v.kind !== 'grad' && (sameShape(v.shape, a.shape) || v.shape.length === 0)) ?? a;
      const op = rng.pick(binOps);
      const [x, y] = rng.next() < 0.5 || b.shape.length === 0 ? [a, b] : [b, a];
      add_({ name: out, shape: a.shape, onParam: a.onParam || b.onParam, kind: 'val' });
      return { k: 'bin', out, op, a: x.name, b: y.name };
    }
    if (r < 0.88) {
      const op = rng.pick(smooth ? (['sum', 'mean'] as const) : (['sum', 'mean', 'max'] as const));
      // mean over sizes 1, 2, 4 only: exact in f32.
      const axis = a.shape.length === 2 && rng.next() < 0.5 ? rng.int(0, 1) : undefined;
      const outShape = axis === undefined ? [] : a.shape.filter((_, i) => i !== axis);
      add_({ name: out, shape: outShape, onParam: a.onParam, kind: 'val' });
      return axis === undefined ? { k: 'red', out, op, a: a.name } : { k: 'red', out, op, a: a.name, axis };
    }
    const to = a.shape.length === 1 ? (numel(a.shape) === 4 ? rng.pick([[2, 2], [1, 4]]) : [1, numel(a.shape)]) : [numel(a.shape)];
    add_({ name: out, shape: to, onParam: a.onParam, kind: 'val' });
    return { k: 'reshape', out, a: a.name, shape: to };
  };

  const statements: Action[][] = [];
  let backwards = 0;
  const length = rng.int(6, 16);
  while (statements.length < length) {
    const r = rng.next();
    const awaited = rng.next() < 0.35;
    if (r < 0.2) {
      const op = recordOp();
      if (op) statements.push([op]);
    } else if (r < 0.25 && rng.next() < 0.5) {
      // Views of a lazy value and the value itself, read and written in either order.
      const y = pickVal((v) => v.kind === 'val' && v.shape.length > 0);
      if (!y) continue;
      const to = y.shape.length === 1 ? [1, numel(y.shape)] : [numel(y.shape)];
      const v = add_({ name: fresh('v'), shape: to, onParam: y.onParam, kind: 'val' });
      const acts: Action[] = [{ k: 'reshape', out: v.name, a: y.name, shape: to }];
      const order = rng.next() < 0.5 ? [v, y] : [y, v];
      for (const h of order) {
        const id = fresh('r');
        const aw = rng.next() < 0.7;
        if (!aw) pending.push(id);
        else realisedVals.add(h.name);
        acts.push({ k: 'read', h: h.name, awaited: aw, id, via: 'read' });
      }
      const w = rng.pick([v, y]);
      acts.push({ k: 'write', t: w.name, values: vals(numel(w.shape)) });
      for (const h of rng.next() < 0.5 ? [v, y] : [y, v]) {
        const id = fresh('r');
        const aw = rng.next() < 0.5;
        if (!aw) pending.push(id);
        acts.push({ k: 'read', h: h.name, awaited: aw, id, via: 'read' });
      }
      statements.push(acts);
    } else if (r < 0.25 && rng.next() < 0.5) {
      // A value read (not awaited), then what it is computed from realised by other work and
      // written: the read was asked for first, so it gets the values before the write.
      const w = pickVal((v) => v.kind === 'val' && v.shape.length > 0);
      if (!w) continue;
      const acts: Action[] = [];
      const z = rng.next() < 0.5 ? recordOp(w) : undefined;
      const target = z ? values.at(-1)! : w;
      const rid = fresh('r');
      pending.push(rid);
      const realiseFirst = rng.next() < 0.5;
      const wid = fresh('r');
      if (realiseFirst) acts.push({ k: 'read', h: w.name, awaited: false, id: wid, via: rng.pick(['read', 'realize'] as const) });
      if (z) acts.push(z);
      acts.push({ k: 'read', h: target.name, awaited: false, id: rid, via: 'read' });
      if (!realiseFirst) acts.push({ k: 'read', h: w.name, awaited: false, id: wid, via: rng.pick(['read', 'realize'] as const) });
      acts.push({ k: 'await', id: wid });
      realisedVals.add(w.name);
      acts.push({ k: 'write', t: w.name, values: vals(numel(w.shape)) });
      if (rng.next() < 0.7) acts.push({ k: 'await', id: rid });
      statements.push(acts);
    } else if (r < 0.25) {
      const out = fresh('t');
      add_({ name: out, shape, onParam: false, kind: 'new' });
      statements.push([{ k: 'new', out, shape, values: vals() }]);
    } else if (r < 0.42) {
      // A loss on a parameter, its gradients, steps.
      // Most often on a parameter itself, as a training step records its forward pass afresh.
      const fresh_ = rng.next() < 0.6;
      const on = fresh_ ? values.find((v) => v.name === (requiresGrad[1] && rng.next() < 0.5 ? 'p1' : 'p0')) : pickVal((v) => v.onParam && v.kind !== 'grad');
      if (!on) continue;
      const acts: Action[] = [];
      let cur = on;
      if (rng.next() < 0.7) {
        const op = recordOp(cur);
        if (op) {
          acts.push(op);
          cur = values.at(-1)!;
        }
      }
      if (cur.shape.length !== 0) {
        const loss = fresh('l');
        const op = rng.pick(smooth ? (['sum', 'mean'] as const) : (['sum', 'sum', 'mean', 'max'] as const));
        acts.push({ k: 'red', out: loss, op, a: cur.name });
        cur = add_({ name: loss, shape: [], onParam: cur.onParam, kind: 'val' });
      }
      if (!cur.onParam) continue;
      let grads: string[] | undefined;
      if (rng.next() < 0.25) {
        const wrt = rng.next() < 0.5 ? [0, 1] : [rng.int(0, 1)];
        const outs = wrt.map(() => fresh('g'));
        acts.push({ k: 'grad', loss: cur.name, wrt, outs });
        outs.forEach((o) => add_({ name: o, shape, onParam: false, kind: 'grad' }));
        grads = outs;
      } else {
        acts.push({ k: 'backward', loss: cur.name });
        backwards++;
      }
      const order = rng.next() < 0.35 ? [0, 1] : rng.next() < 0.5 ? [1, 0] : [rng.int(0, 1)];
      for (const opt of order) {
        if (rng.next() < 0.15) continue;
        const id = fresh('s');
        const aw = rng.next() < 0.3;
        if (!aw) pending.push(id);
        const gs = grads ? (() => {
          const g = (acts.find((x) => x.k === 'grad') as { wrt: number[]; outs: string[] }).wrt.indexOf(opt);
          return g >= 0 ? [grads[g]!] : [rng.pick(values.filter((v) => sameShape(v.shape, shape) && v.kind !== 'grad')).name];
        })() : undefined;
        acts.push(gs ? { k: 'step', opt, grads: gs, awaited: aw, id } : { k: 'step', opt, awaited: aw, id });
      }
      statements.push(acts);
      if (rng.next() < 0.5) {
        const rid = fresh('r');
        const aw = rng.next() < 0.5;
        if (!aw) pending.push(rid);
        // As a training loop: the next batch written, the loss read (or first the loss read).
        const batch: Action = { k: 'write', t: rng.pick(['x0', 'x1']), values: vals() };
        const read: Action = { k: 'read', h: cur.name, awaited: aw, id: rid, via: 'read' };
        statements.push(rng.next() < 0.5 ? [batch, read] : [read, batch]);
      }
    } else if (r < 0.55) {
      const q = rng.next();
      const h = q < 0.15 ? `p${rng.int(0, 1)}.grad` : q < 0.5 ? pickVal()?.name : rng.pick(values).name;
      if (!h) continue;
      const id = fresh('r');
      if (!awaited) pending.push(id);
      else if (!h.endsWith('.grad')) realisedVals.add(h);
      statements.push([{ k: 'read', h, awaited, id, via: rng.next() < 0.15 ? 'realize' : 'read' }]);
    } else if (r < 0.63) {
      const q = rng.next();
      const cands = values.filter((v) => v.kind === 'base' || v.kind === 'new');
      const t = q < 0.75 ? rng.pick(cands) : q < 0.9 && realisedVals.size ? values.find((v) => realisedVals.has(v.name)) : rng.pick(values);
      if (!t) continue;
      statements.push([{ k: 'write', t: t.name, values: vals(numel(t.shape)) }]);
    } else if (r < 0.7) {
      const opt = rng.int(0, 1);
      const id = fresh('s');
      if (!awaited) pending.push(id);
      const q = rng.next();
      const gs = q < 0.5 && backwards > 0 ? undefined : [rng.pick(values.filter((v) => sameShape(v.shape, shape))).name];
      statements.push([gs ? { k: 'step', opt, grads: gs, awaited, id } : { k: 'step', opt, awaited, id }]);
    } else if (r < 0.73) {
      statements.push([{ k: 'zeroGrad', opt: rng.int(0, 1) }]);
    } else if (r < 0.82) {
      const out = fresh('y');
      if (rng.next() < 0.6) {
        const q = rng.next();
        const x = q < 0.4 ? vals() : q < 0.7 ? rng.pick(['x0', 'x1', `p${setup.stepP.opt}`, `p${1 - setup.stepP.opt}`]) : rng.pick(values.filter((v) => sameShape(v.shape, shape))).name;
        statements.push([{ k: 'run', prog: 'stepP', x, out }]);
      } else {
        statements.push([{ k: 'run', prog: 'fwdP', out }]);
      }
      add_({ name: out, shape: (statements.at(-1)![0] as { prog: string }).prog === 'stepP' ? [] : shape, onParam: false, kind: 'out' });
    } else if (r < 0.86) {
      const a = rng.next() < 0.5 && realisedVals.size ? values.find((v) => realisedVals.has(v.name)) : pickVal((v) => v.kind !== 'grad');
      if (!a) continue;
      const out = fresh('d');
      add_({ name: out, shape: a.shape, onParam: false, kind: 'new' });
      statements.push([{ k: 'detach', out, a: a.name }]);
    } else if (r < 0.89) {
      const h = rng.next() < 0.3 ? rng.pick(BASES) : pickVal((v) => v.kind !== 'base')?.name;
      if (!h) continue;
      statements.push([{ k: 'dispose', h }]);
    } else if (r < 0.91) {
      statements.push([{ k: 'lr', opt: rng.int(0, 1), lr: rng.pick([1, 0.5, 0.25, 0]) }]);
    } else if (r < 0.92) {
      statements.push([{ k: 'reset', opt: rng.int(0, 1) }]);
    } else if (pending.length && rng.next() < 0.7) {
      statements.push([{ k: 'await', id: pending.splice(rng.int(0, pending.length - 1), 1)[0]! }]);
    } else {
      statements.push([{ k: 'sync' }]);
      pending.length = 0;
    }
  }
  return { seed, setup, statements };
}

// ---- running on fovea ----

interface Outcome {
  skipped?: boolean;
  thrown?: unknown;
  rejected?: unknown;
  value?: ArrayLike<number>;
  settled?: boolean;
}

interface Run {
  outcomes: Outcome[][];
  finals: Partial<Record<Base, Float32Array>>;
  stepCounts: number[];
  finalErrors: Partial<Record<Base, unknown>>;
}

const UN: Record<UnOp, (x: Tensor, c: number) => Tensor> = {
  neg: (x) => neg(x),
  relu: (x) => relu(x),
  abs: (x) => abs(x),
  scale: (x, c) => scale(x, c),
  addc: (x, c) => add(x, c),
  rsubc: (x, c) => sub(c, x),
  mulc: (x, c) => mul(x, c),
};
const BIN: Record<BinOp, (a: Tensor, b: Tensor) => Tensor> = { add, sub, mul, maximum, minimum };
const RED: Record<RedOp, (x: Tensor, axis?: number) => Tensor> = { sum: (x, a) => sum(x, a), mean: (x, a) => mean(x, a), max: (x, a) => max(x, a) };

function makeOpt(p: Tensor, o: OptSpec): Optimizer {
  return o.kind === 'sgd'
    ? new SGD([p], { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: o.weightDecay, nesterov: o.nesterov })
    : new Adam([p], { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
}

async function runOnFovea(p: Prog, made: { dispose(): void }[]): Promise<Run> {
  const r = rt();
  const s = p.setup;
  const env = new Map<string, Tensor>();
  for (const [i, b] of BASES.entries()) {
    const t = r.tensor(s.init[b], s.shape, { requiresGrad: i < 2 && s.requiresGrad[i as 0 | 1] });
    t.name = b;
    made.push(t);
    env.set(b, t);
  }
  const opts = [0, 1].map((i) => makeOpt(env.get(`p${i}`)!, s.opts[i]!));
  made.push(...opts);
  const c0 = add(env.get(s.cap.x)!, env.get(s.cap.p)!);
  env.set('c0', c0);
  const uses = new Set(p.statements.flat().flatMap((a) => (a.k === 'run' ? [a.prog] : [])));
  const progs = new Map<string, Program>();
  const k = s.stepP.opt;
  const pk = env.get(`p${k}`)!;
  if (uses.has('stepP')) {
    const f = () => (s.stepP.f === 'id' ? pk : s.stepP.f === 'addx' ? add(pk, env.get(s.stepP.xj)!) : mul(pk, env.get(`p${1 - k}`)!));
    progs.set(
      'stepP',
      await r.compile(
        ({ x }) => {
          const loss = sum(mul(f(), x!));
          if (s.stepP.useGrad) void opts[k]!.step(grad(loss, [pk]));
          else {
            backward(loss);
            void opts[k]!.step();
          }
          return { loss };
        },
        { x: s.shape },
        { name: 'stepP' },
      ),
    );
  }
  if (uses.has('fwdP')) progs.set('fwdP', await r.compile(() => ({ y: add(scale(env.get(s.fwdP.a)!, 2), env.get(s.fwdP.b)!) }), {}, { name: 'fwdP' }));
  made.push(...progs.values());

  const promises = new Map<string, Promise<unknown>>();
  const settle = (o: Outcome, pr: Promise<unknown>): Promise<unknown> =>
    pr.then(
      (v) => {
        o.settled = true;
        if (v && typeof v === 'object' && 'length' in (v as object)) o.value = v as ArrayLike<number>;
      },
      (e: unknown) => {
        o.settled = true;
        o.rejected = e;
      },
    );
  const get = (name: string): Tensor | undefined => {
    const m = /^(p\d)\.grad$/.exec(name);
    return m ? env.get(m[1]!)?.grad : env.get(name);
  };
  const outcomes: Outcome[][] = [];
  for (const st of p.statements) {
    const outs: Outcome[] = [];
    outcomes.push(outs);
    let refused = false; // a backward()/grad refused: the steps after it in the statement are not taken
    for (const a of st) {
      const o: Outcome = {};
      outs.push(o);
      const names =
        a.k === 'un' || a.k === 'red' || a.k === 'reshape' || a.k === 'detach'
          ? [a.a]
          : a.k === 'bin'
            ? [a.a, a.b]
            : a.k === 'read'
              ? [a.h]
              : a.k === 'write'
                ? [a.t]
                : a.k === 'backward' || a.k === 'grad'
                  ? [a.loss]
                  : a.k === 'step'
                    ? (a.grads ?? [])
                    : a.k === 'run' && typeof a.x === 'string'
                      ? [a.x]
                      : a.k === 'dispose'
                        ? [a.h]
                        : [];
      if ((refused && a.k === 'step') || names.some((x) => !get(x))) {
        o.skipped = true;
        continue;
      }
      try {
        switch (a.k) {
          case 'new': {
            const t = r.tensor(a.values, a.shape);
            env.set(a.out, t);
            made.push(t);
            break;
          }
          case 'un':
            env.set(a.out, UN[a.op](get(a.a)!, a.c));
            break;
          case 'bin':
            env.set(a.out, BIN[a.op](get(a.a)!, get(a.b)!));
            break;
          case 'red':
            env.set(a.out, RED[a.op](get(a.a)!, a.axis));
            break;
          case 'reshape':
            env.set(a.out, get(a.a)!.reshape(a.shape));
            break;
          case 'detach':
            env.set(a.out, get(a.a)!.detach());
            break;
          case 'read': {
            const t = get(a.h)!;
            const pr = settle(o, a.via === 'read' ? t.read() : t.realize().then(() => undefined));
            promises.set(a.id, pr);
            if (a.awaited) await pr;
            break;
          }
          case 'write':
            get(a.t)!.write(a.values);
            break;
          case 'backward':
            try {
              backward(get(a.loss)!);
            } catch (e) {
              refused = true;
              throw e;
            }
            break;
          case 'grad':
            try {
              const gs = grad(get(a.loss)!, a.wrt.map((i) => env.get(`p${i}`)!));
              a.outs.forEach((n, i) => env.set(n, gs[i]!));
            } catch (e) {
              refused = true;
              throw e;
            }
            break;
          case 'step': {
            const pr = settle(o, opts[a.opt]!.step(a.grads?.map((g) => get(g)!)));
            promises.set(a.id, pr);
            if (a.awaited) await pr;
            break;
          }
          case 'zeroGrad':
            opts[a.opt]!.zeroGrad();
            break;
          case 'run': {
            const prog = progs.get(a.prog)!;
            if (a.prog === 'stepP') {
              const x = typeof a.x === 'string' ? get(a.x)! : Float32Array.from(a.x!);
              env.set(a.out, prog.run({ x }).loss!);
            } else env.set(a.out, prog.run().y!);
            break;
          }
          case 'dispose':
            get(a.h)!.dispose();
            break;
          case 'lr':
            opts[a.opt]!.lr = a.lr;
            break;
          case 'reset':
            opts[a.opt]!.reset();
            break;
          case 'sync':
            await r.sync();
            break;
          case 'await':
            await promises.get(a.id);
            break;
        }
      } catch (e) {
        o.thrown = e;
      }
    }
  }
  await Promise.all(promises.values());
  try {
    await r.sync();
  } catch (e) {
    // A failure recorded asynchronously (a queued write's) surfaces here: reported by the check.
    outcomes.push([{ thrown: e }]);
  }
  const finals: Run['finals'] = {};
  const finalErrors: Run['finalErrors'] = {};
  for (const b of BASES) {
    try {
      finals[b] = (await env.get(b)!.read()) as Float32Array;
    } catch (e) {
      finalErrors[b] = e;
    }
  }
  return { outcomes, finals, finalErrors, stepCounts: opts.map((o) => o.stepCount) };
}

// ---- the model ----

interface Store {
  name: string;
  value: F;
  version: number;
}

interface OpRec {
  kind: string;
  inputs: H[];
  versions: number[];
  /** Input values when recorded (what PyTorch's autograd saves), and the output's. */
  snaps: F[];
  out: F;
  c?: number;
  axis?: number;
}

const NOT = -2;
interface H {
  name: string;
  shape: Shape;
  store: Store;
  op?: OpRec;
  /** Computed lazily by fovea (an op's result), as opposed to uploaded, a view of such, or a program output. */
  lazy: boolean;
  /** The queue item that computes it (NOT: nothing asked for it yet; -1: realised when made). */
  requested: number;
  requiresGrad: boolean;
  pinned?: number;
  disposed: boolean;
  companions: H[];
  /** A gradient: the stores (with versions) and handles of the history it was computed from. */
  deps?: Map<Store, number>;
  hist?: Set<H>;
}

interface Item {
  seq: number;
  writes: Set<Store>;
  reads: Set<Store>;
  opt?: number;
}

function unRef(op: UnOp, x: F, c: number): F {
  switch (op) {
    case 'neg':
      return x.map((v) => -v);
    case 'relu':
      return x.map((v) => Math.max(v, 0));
    case 'abs':
      return x.map((v) => Math.abs(v));
    case 'scale':
    case 'mulc':
      return x.map((v) => v * c);
    case 'addc':
      return x.map((v) => v + c);
    case 'rsubc':
      return x.map((v) => c - v);
  }
}
const binFn: Record<BinOp, (a: number, b: number) => number> = { add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, maximum: Math.max, minimum: Math.min };
function bc(a: F, b: F, f: (x: number, y: number) => number): F {
  const n = Math.max(a.length, b.length);
  return Float64Array.from({ length: n }, (_, i) => f(a[a.length === 1 && n > 1 ? 0 : i]!, b[b.length === 1 && n > 1 ? 0 : i]!));
}
/** Index groups of a reduction of `shape` over all axes or one (row-major). */
function groups(shape: Shape, axis?: number): number[][] {
  const n = numel(shape);
  if (axis === undefined) return [Array.from({ length: n }, (_, i) => i)];
  const [r, c] = shape as [number, number];
  return axis === 0 ? Array.from({ length: c }, (_, j) => Array.from({ length: r }, (_, i) => i * c + j)) : Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => i * c + j));
}
function redRef(op: RedOp, x: F, shape: Shape, axis?: number): F {
  return Float64Array.from(groups(shape, axis), (g) => {
    const vs = g.map((i) => x[i]!);
    return op === 'max' ? Math.max(...vs) : op === 'sum' ? vs.reduce((s, v) => s + v, 0) : vs.reduce((s, v) => s + v, 0) / vs.length;
  });
}

/** The history of `h`: every handle it was computed from (through realised op results too, as autograd goes; not past a detach). */
function history(h: H, out = new Set<H>()): Set<H> {
  if (out.has(h)) return out;
  out.add(h);
  if (h.op?.kind === 'detach') return out;
  for (const x of h.op?.inputs ?? []) history(x, out);
  return out;
}

/** Reverse-mode over the model's op records, with the values saved at record time (PyTorch's). */
function refGrads(loss: H): Map<H, F> {
  const order: H[] = [];
  const seen = new Set<H>();
  const visit = (h: H) => {
    if (seen.has(h)) return;
    seen.add(h);
    for (const x of h.op?.inputs ?? []) visit(x);
    order.push(h);
  };
  visit(loss);
  const g = new Map<H, F>([[loss, Float64Array.of(1)]]);
  const acc = (h: H, v: F) => {
    const fit = v.length !== h.store.value.length && h.shape.length === 0 ? Float64Array.of(v.reduce((s, x) => s + x, 0)) : v;
    const prev = g.get(h);
    g.set(h, prev ? prev.map((x, i) => x + fit[i]!) : fit);
  };
  for (let i = order.length - 1; i >= 0; i--) {
    const h = order[i]!;
    const gh = g.get(h);
    if (!gh || !h.op) continue;
    const { kind, inputs, snaps, out, c, axis } = h.op;
    const [a, b] = inputs;
    const [sa, sb] = snaps;
    switch (kind) {
      case 'neg':
        acc(a!, gh.map((v) => -v));
        break;
      case 'relu':
        acc(a!, gh.map((v, j) => (out[j]! > 0 ? v : 0)));
        break;
      case 'abs':
        acc(a!, gh.map((v, j) => v * Math.sign(sa![j]!)));
        break;
      case 'scale':
      case 'mulc':
        acc(a!, gh.map((v) => v * c!));
        break;
      case 'addc':
        acc(a!, gh);
        break;
      case 'rsubc':
        acc(a!, gh.map((v) => -v));
        break;
      case 'reshape':
        acc(a!, gh);
        break;
      case 'detach': // no gradient passes
        break;
      case 'add':
        acc(a!, gh);
        acc(b!, gh);
        break;
      case 'sub':
        acc(a!, gh);
        acc(b!, gh.map((v) => -v));
        break;
      case 'mul':
        acc(a!, bc(gh, sb!, (x, y) => x * y));
        acc(b!, bc(gh, sa!, (x, y) => x * y));
        break;
      case 'maximum':
      case 'minimum': {
        const A = bc(sa!, sb!, (x) => x);
        const B = bc(sa!, sb!, (_, y) => y);
        const win = (x: number, y: number) => (kind === 'maximum' ? x > y : x < y);
        acc(a!, gh.map((v, j) => (win(A[j]!, B[j]!) ? v : A[j] === B[j] ? v / 2 : 0)));
        acc(b!, gh.map((v, j) => (win(B[j]!, A[j]!) ? v : A[j] === B[j] ? v / 2 : 0)));
        break;
      }
      case 'sum':
      case 'mean':
      case 'max': {
        const ga = new Float64Array(sa!.length);
        groups(a!.shape, axis).forEach((grp, o) => {
          if (kind === 'max') {
            const m = out[o]!;
            const ties = grp.filter((i) => sa![i] === m);
            for (const i of ties) ga[i] = gh[o]! / ties.length;
          } else for (const i of grp) ga[i] = kind === 'sum' ? gh[o]! : gh[o]! / grp.length;
        });
        acc(a!, ga);
        break;
      }
    }
  }
  return g;
}

const message = errorText;

interface OptState {
  spec: OptSpec;
  lr: number;
  taken: number;
  /** optimizer.stepCount: steps taken since the last reset. */
  count: number;
  state: F[];
  store: Store; // its state tensors, as one store (what queued steps write)
}

function applyStep(o: OptState, p: Store, g: F, lr: number): void {
  const s = o.spec;
  o.count++;
  const gg = Float64Array.from(g, (v, i) => v + (s.weightDecay ? s.weightDecay * p.value[i]! : 0));
  o.taken++;
  if (s.kind === 'sgd') {
    let d = gg;
    if (s.momentum) {
      const buf = o.taken === 1 ? gg.slice() : o.state[0]!.map((b, i) => s.momentum * b + (1 - s.dampening) * gg[i]!);
      o.state[0] = buf;
      d = s.nesterov ? gg.map((v, i) => v + s.momentum * buf[i]!) : buf;
    }
    p.value = p.value.map((v, i) => v - lr * d[i]!);
  } else {
    const [b1, b2] = s.betas;
    const m = o.state[0]!.map((v, i) => b1 * v + (1 - b1) * gg[i]!);
    const v2 = o.state[1]!.map((v, i) => b2 * v + (1 - b2) * gg[i]! * gg[i]!);
    o.state[0] = m;
    o.state[1] = v2;
    const bc1 = 1 - b1 ** o.taken;
    const bc2 = 1 - b2 ** o.taken;
    p.value = p.value.map((x, i) => x - (lr / bc1) * (m[i]! / (Math.sqrt(v2[i]!) / Math.sqrt(bc2) + s.eps)));
  }
}

const TOL = 1e-4;
function close(got: ArrayLike<number>, want: ArrayLike<number>): boolean {
  if (got.length !== want.length) return false;
  let scaleV = 1;
  for (let i = 0; i < want.length; i++) scaleV = Math.max(scaleV, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= TOL * scaleV)) return false;
  }
  return true;
}

interface Judgement {
  problems: string[];
  /** Oddities that are no ordering fault (reported, not failed). */
  minor: string[];
  log: string[];
}

/** Replays the program on the model with fovea's outcomes. */
function check(p: Prog, run: Run): Judgement {
  const s = p.setup;
  const f: Judgement = { problems: [], minor: [], log: [] };
  const stores = new Map<Base, Store>(BASES.map((b) => [b, { name: b, value: Float64Array.from(s.init[b]), version: 0 }]));
  const env = new Map<string, H>();
  const base = (name: string, store: Store, requiresGrad: boolean): H => ({ name, shape: s.shape, store, lazy: false, requested: -1, requiresGrad, disposed: false, companions: [] });
  BASES.forEach((b, i) => env.set(b, base(b, stores.get(b)!, i < 2 && s.requiresGrad[i as 0 | 1])));
  const grads = new Map<number, H>();
  const opts: OptState[] = [0, 1].map((i) => ({
    spec: s.opts[i]!,
    lr: s.opts[i]!.lr,
    taken: 0,
    count: 0,
    state: [new Float64Array(numel(s.shape)), new Float64Array(numel(s.shape))],
    store: { name: `opt${i} state`, value: new Float64Array(0), version: 0 },
  }));
  const items: Item[] = [];
  let done = -1;
  const itemOf = new Map<string, number>();
  const pendingItems = () => items.filter((i) => i.seq > done);
  const queue = (writes: Iterable<Store>, reads: Iterable<Store>, opt?: number): Item => {
    const it: Item = { seq: items.length, writes: new Set(writes), reads: new Set(reads), ...(opt !== undefined ? { opt } : {}) };
    items.push(it);
    return it;
  };
  // Program slots.
  const slots = { loss: { name: 'stepP.loss', value: new Float64Array(1), version: 0 }, fwd: { name: 'fwdP.y', value: new Float64Array(numel(s.shape)), version: 0 }, grads: [0, 1].map((i) => ({ name: `stepP .grad of p${i}`, value: new Float64Array(numel(s.shape)), version: 0 })) };
  // c0: lazy, recorded before anything.
  {
    const xs = env.get(s.cap.x)!;
    const ps = env.get(s.cap.p)!;
    const value = bc(xs.store.value, ps.store.value, (a, b) => a + b);
    env.set('c0', { name: 'c0', shape: s.shape, store: { name: 'c0', value, version: 0 }, lazy: true, requested: NOT, requiresGrad: false, disposed: false, companions: [], op: { kind: 'add', inputs: [xs, ps], versions: [0, 0], snaps: [xs.store.value, ps.store.value], out: value } });
  }

  const get = (name: string): H | undefined => {
    const m = /^p(\d)\.grad$/.exec(name);
    return m ? grads.get(Number(m[1])) : env.get(name);
  };
  // When each name is disposed (statement-action index), for telling a dispose after asking.
  const disposedAt = new Map<string, number>();
  {
    let idx = 0;
    p.statements.forEach((st, si) =>
      st.forEach((a, ai) => {
        const o = run.outcomes[si]![ai]!;
        if (a.k === 'dispose' && !o.skipped && !o.thrown && !disposedAt.has(a.h)) disposedAt.set(a.h, idx);
        idx++;
      }),
    );
  }
  let now = 0; // action index

  const realisedNow = (h: H) => !h.lazy || (h.requested !== NOT && h.requested <= done);
  const asked = (h: H) => !h.lazy || h.requested !== NOT;
  const pinnedStale = (h: H) => h.pinned !== undefined && h.pinned !== h.store.version;
  /** Whether computing `h` now would read a store updated since an op on the way read it (a program output overwritten too). */
  const stale = (h: H): boolean => {
    if (pinnedStale(h)) return true;
    if (asked(h)) return false;
    if (h.deps) {
      for (const [st, v] of h.deps) if (st.version !== v) return true;
      // Its forward values still lazy are computed with it, from what they were recorded from.
      return [...h.hist!].some((x) => pinnedStale(x) || (x.op !== undefined && !asked(x) && stale(x)));
    }
    return h.op!.inputs.some((x, i) => (asked(x) ? x.store.version !== h.op!.versions[i] || pinnedStale(x) : stale(x)));
  };
  /** The handles computing `h` now reads (realised ones: where a dispose matters). */
  const involved = (h: H, out = new Set<H>()): Set<H> => {
    if (out.has(h)) return out;
    out.add(h);
    // Through values asked for but perhaps not computed yet: fovea notes what it reads when asked.
    if (realisedNow(h)) return out;
    // A gradient's history too, and what its values still lazy are computed from (through a
    // detach: computing a detached value reads what it came from, though no gradient passes).
    if (h.hist) for (const x of h.hist) involved(x, out);
    for (const x of h.op?.inputs ?? []) involved(x, out);
    return out;
  };
  /** Stores queued work computing `h` reads (for the model's queue). */
  const readsOf = (h: H): Set<Store> => {
    const out = new Set<Store>();
    for (const x of involved(h)) out.add(x.store);
    for (const c of h.companions) for (const x of involved(c)) out.add(x.store);
    return out;
  };
  /** A refusal because of a dispose: 'before' (documented: a disposed tensor is unusable) or 'after' (asked for first). */
  const disposal = (hs: Iterable<H>): 'before' | 'after' | undefined => {
    let r: 'before' | 'after' | undefined;
    for (const h of hs) {
      if (h.disposed) return 'before';
      const at = disposedAt.get(h.name);
      if (at !== undefined && at > now && [...env.values()].includes(h)) r = 'after';
    }
    return r;
  };
  const where = (si: number, a: Action) => `statement ${si} (${describeAction(a)})`;
  /** Judges a refusal: `allowed` names the documented reason, if any. */
  const refusal = (si: number, a: Action, e: unknown, allowed: string | false | undefined, hs: Iterable<H> = []) => {
    const d = e instanceof TensorStateError && /disposed/.test(e.message) ? disposal(hs) : undefined;
    if (!(e instanceof TensorStateError)) {
      f.problems.push(`${where(si, a)} failed with ${message(e)}`);
    } else if (!allowed && d === 'after') {
      f.problems.push(`${where(si, a)} was refused for a dispose asked for after it: ${message(e)}`);
    } else if (!allowed && d === undefined) {
      f.problems.push(`${where(si, a)} was refused, though nothing documented makes it so: ${message(e)}`);
    } else {
      f.log.push(`${where(si, a)}: refused (${allowed || 'disposed'}): ${e.message}`);
    }
  };

  /** Marks `h` (and the companions still computable) as computed by queue item `seq`. */
  const request = (h: H, seq: number) => {
    if (asked(h)) return;
    // A companion disposed, even later, is lazy again once released (what is asked for after
    // its dispose recomputes it): the model takes it as never computed.
    for (const c of h.companions) if (c.lazy && !asked(c) && !stale(c) && !disposedAt.has(c.name) && disposal(involved(c)) !== 'before') c.requested = seq;
    h.requested = seq;
    // A view's lazy base is computed into the view's storage, and is that storage from then on.
    for (let x = h; x.op?.kind === 'reshape'; ) {
      x = x.op.inputs[0]!;
      if (asked(x) || x.disposed || x.store !== h.store) break;
      x.requested = seq;
    }
  };
  const lazyOp = (name: string, shape: Shape, value: F, kind: string, inputs: H[], extra: Partial<OpRec> = {}): H => ({
    name,
    shape,
    store: { name, value, version: 0 },
    lazy: true,
    requested: NOT,
    requiresGrad: false,
    disposed: false,
    companions: [],
    op: { kind, inputs, versions: inputs.map((x) => x.store.version), snaps: inputs.map((x) => x.store.value), out: value, ...extra },
  });
  /** Gradients of `loss` for `leaves` (PyTorch's backward: computed now, from the values saved when recorded). */
  const gradHandles = (loss: H, leaves: H[], names: string[]): H[] => {
    const g = refGrads(loss);
    const hist = history(loss);
    const deps = new Map<Store, number>([...hist].map((x) => [x.store, x.store.version]));
    const made: H[] = leaves.map((leaf, i) => {
      const v = g.get(leaf) ?? new Float64Array(numel(leaf.shape));
      return { name: names[i]!, shape: leaf.shape, store: { name: names[i]!, value: v, version: 0 }, lazy: true, requested: NOT, requiresGrad: false, disposed: false, companions: [], deps, hist };
    });
    for (const h of made) h.companions = [...(asked(loss) ? [] : [loss]), ...made.filter((m) => m !== h)];
    return made;
  };
  const check_ = (si: number, a: Action, got: ArrayLike<number>, want: ArrayLike<number>) => {
    if (!close(got, want)) f.problems.push(`${where(si, a)} read ${fmtVec(got)}, but in order it is ${fmtVec(want)}`);
  };

  p.statements.forEach((st, si) => {
    st.forEach((a, ai) => {
      const o = run.outcomes[si]![ai]!;
      const idx = now;
      if (o.skipped) return void now++;
      const thrownOr = (allowed: string | false | undefined, hs: Iterable<H> = []) => {
        if (o.thrown) refusal(si, a, o.thrown, allowed, hs);
        return !!o.thrown;
      };
      switch (a.k) {
        case 'new':
          if (thrownOr(false)) break;
          env.set(a.out, { ...base(a.out, { name: a.out, value: Float64Array.from(a.values), version: 0 }, false), shape: a.shape });
          break;
        case 'un':
        case 'bin':
        case 'red':
        case 'reshape': {
          const inputs = [get(a.a)!, ...(a.k === 'bin' ? [get(a.b)!] : [])];
          if (thrownOr((inputs.some((x) => x.disposed) && 'an input was disposed') || (a.k === 'reshape' && pinnedStale(inputs[0]!) && 'its program has run again since'), inputs)) break;
          const dead = inputs.find((x) => x.disposed);
          if (dead) f.problems.push(`${where(si, a)} recorded an op on ${dead.name}, which was disposed`);
          const [x, y] = inputs as [H, H | undefined];
          if (a.k === 'reshape') {
            // A view: the same storage (PyTorch's view semantics, and fovea's README: "reshape/flatten are views").
            env.set(a.out, { name: a.out, shape: a.shape, store: x.store, lazy: x.lazy && !realisedNow(x), requested: x.lazy && !realisedNow(x) ? NOT : -1, requiresGrad: false, disposed: false, companions: [], op: { kind: 'reshape', inputs: [x], versions: [x.store.version], snaps: [x.store.value], out: x.store.value }, ...(x.pinned !== undefined ? { pinned: x.pinned } : {}) });
            break;
          }
          const value = a.k === 'un' ? unRef(a.op, x.store.value, a.c) : a.k === 'bin' ? bc(x.store.value, y!.store.value, binFn[a.op]) : redRef(a.op, x.store.value, x.shape, a.axis);
          const shape = a.k === 'red' ? (a.axis === undefined ? [] : x.shape.filter((_, i) => i !== a.axis)) : x.shape.length >= (y?.shape.length ?? 0) ? x.shape : y!.shape;
          env.set(a.out, lazyOp(a.out, shape, value, a.op, inputs, a.k === 'un' ? { c: a.c } : a.k === 'red' && a.axis !== undefined ? { axis: a.axis } : {}));
          break;
        }
        case 'detach': {
          const x = get(a.a)!;
          if (thrownOr((x.disposed && 'disposed') || (pinnedStale(x) && 'its program has run again since'), [x])) break;
          if (x.disposed) f.problems.push(`${where(si, a)} detached ${x.name}, which was disposed`);
          const lazy = x.lazy && !realisedNow(x);
          // A view with no history (PyTorch's detach); of a lazy value, lazy too, read as its value is.
          env.set(a.out, { name: a.out, shape: x.shape, store: x.store, lazy, requested: lazy ? NOT : -1, requiresGrad: false, disposed: false, companions: [], ...(lazy ? { op: { kind: 'detach', inputs: [x], versions: [x.store.version], snaps: [x.store.value], out: x.store.value } } : {}), ...(x.pinned !== undefined ? { pinned: x.pinned } : {}) });
          break;
        }
        case 'read': {
          const h = get(a.h)!;
          if (o.thrown) {
            refusal(si, a, o.thrown, false, [h]);
            break;
          }
          const hs = involved(h);
          const lazyNow = h.lazy && !realisedNow(h);
          let it: Item | undefined;
          // A disposed value's read is refused at once, not queued.
          if (lazyNow && !h.disposed) {
            it = h.requested !== NOT ? undefined : queue([], readsOf(h));
          }
          const e = o.rejected;
          if (e !== undefined) {
            const why = (h.disposed && 'disposed') || (pinnedStale(h) && 'its program has run again since') || (lazyNow && stale(h) && 'computed from values updated since') || false;
            refusal(si, a, e, why, hs);
            if (it) itemOf.set(a.id, it.seq);
          } else {
            if (h.disposed) (a.via === 'realize' ? f.minor : f.problems).push(`${where(si, a)} resolved, though ${h.name} was disposed`);
            if (lazyNow && stale(h)) f.log.push(`${where(si, a)}: read a value computed from values updated since, without refusal (checked against its recorded value)`);
            if (o.value) check_(si, a, o.value, h.store.value);
            else if (a.via === 'read' && o.settled) f.problems.push(`${where(si, a)} resolved without values`);
            if (it) {
              request(h, it.seq);
              itemOf.set(a.id, it.seq);
            } else if (h.lazy && h.requested >= 0) {
              itemOf.set(a.id, h.requested);
            } else if (a.via === 'read') {
              // A realised tensor: its read waits for the queued updates of it (realize() does
              // not: it computes lazy values only, docs/embedding.md "Ordering").
              const w = pendingItems().filter((i) => i.writes.has(h.store));
              if (w.length) itemOf.set(a.id, w.at(-1)!.seq);
            }
          }
          if (a.awaited && itemOf.has(a.id)) done = Math.max(done, itemOf.get(a.id)!);
          break;
        }
        case 'write': {
          const h = get(a.t)!;
          const why = (h.disposed && 'disposed') || (h.pinned !== undefined && 'program outputs are read-only') || (h.lazy && !realisedNow(h) && 'write() needs a realised tensor (Tensor.write JSDoc)');
          if (o.thrown) {
            refusal(si, a, o.thrown, why, [h]);
            break;
          }
          if (why && !/needs a realised/.test(why)) {
            f.problems.push(`${where(si, a)} was not refused, though ${why}`);
            break;
          }
          const queued = pendingItems().some((i) => i.writes.has(h.store) || i.reads.has(h.store));
          h.store.value = Float64Array.from(a.values);
          h.store.version++;
          if (queued) queue([h.store], []);
          break;
        }
        case 'backward':
        case 'grad': {
          const loss = get(a.loss)!;
          const hist = history(loss);
          const leaves = a.k === 'backward' ? [...hist].filter((x) => x.requiresGrad) : a.wrt.map((i) => env.get(`p${i}`)!);
          const reached = leaves.filter((l) => l !== loss || hist.has(l));
          const changed = [...hist].some((x) => x.op && x.op.inputs.some((i, j) => i.store.version !== x.op!.versions[j])) || [...hist].some((x) => x.op && x.lazy && asked(x) && x.store.version !== 0);
          const why =
            (a.k === 'backward' && !leaves.length && 'nothing it is computed from has requiresGrad') ||
            (a.k === 'grad' && !leaves.some((l) => hist.has(l)) && 'not computed from the tensors asked for') ||
            (changed && 'a value its history read was updated since') ||
            ([...hist].some((x) => x.disposed) && 'disposed') ||
            ([...hist].some(pinnedStale) && 'a program output it reads was overwritten');
          if (o.thrown) {
            refusal(si, a, o.thrown, why, hist);
            break;
          }
          // (Not refused though its history reads something disposed or overwritten: fine while
          // the gradients do not read it; their own use is checked.)
          if (/requiresGrad|not computed/.test(why || '')) {
            f.problems.push(`${where(si, a)} was not refused, though ${why}`);
            break;
          }
          void reached;
          if (a.k === 'backward') {
            const hs = gradHandles(loss, leaves, leaves.map((l) => `${l.name}.grad`));
            leaves.forEach((l, i) => {
              const pi = BASES.indexOf(l.name as Base);
              if (pi !== 0 && pi !== 1) return;
              const h = hs[i]!;
              // PyTorch's backward adds to .grad; zeroGrad()'s zeros are replaced, and so is a disposed one.
              const prev = grads.get(pi);
              if (prev && prev.store.name !== 'zeros' && !prev.disposed) {
                h.store.value = h.store.value.map((v, k) => v + prev.store.value[k]!);
                h.deps = new Map([...(prev.deps ?? []), [prev.store, prev.store.version], ...h.deps!]);
                h.hist = new Set([...(prev.hist ?? []), prev, ...h.hist!]);
              }
              grads.set(pi, h);
            });
          } else {
            const hs = gradHandles(loss, leaves, a.outs);
            // A tensor asked for that the loss does not reach: zeros, realised.
            hs.forEach((h, i) => {
              if (!hist.has(leaves[i]!)) {
                h.lazy = false;
                h.requested = -1;
              }
              env.set(a.outs[i]!, h);
            });
          }
          break;
        }
        case 'step': {
          const oi = a.opt;
          const opt = opts[oi]!;
          const param = env.get(`p${oi}`)!;
          const gs = a.grads ? a.grads.map((n) => get(n)!) : [grads.get(oi)];
          const g = gs[0];
          const hs = new Set<H>([param]);
          if (g) for (const x of involved(g)) hs.add(x);
          const atCall =
            (param.disposed && 'its parameter was disposed') ||
            (!g && 'no gradient (.grad not set)') ||
            (g && g.disposed && 'its gradient was disposed') ||
            (g && [...involved(g)].some((x) => x.disposed) && 'its gradient is computed from a disposed tensor') ||
            (g && [...involved(g)].some(pinnedStale) && 'its gradient reads a program output overwritten since');
          if (o.thrown) {
            refusal(si, a, o.thrown, atCall, hs);
            break;
          }
          if (atCall && g && g.lazy && !asked(g) && atCall === 'its gradient was disposed') {
            f.minor.push(`${where(si, a)} was not refused at the call, though ${atCall} (a disposed lazy tensor is computed all the same)`);
          } else if (atCall && !(g && /overwritten|disposed tensor/.test(atCall))) {
            f.problems.push(`${where(si, a)} was not refused at the call, though ${atCall}`);
            break;
          }
          const reads = new Set<Store>(g ? readsOf(g) : []);
          const it = queue([param.store, opt.store], reads, oi);
          itemOf.set(a.id, it.seq);
          if (o.rejected !== undefined) {
            refusal(si, a, o.rejected, (g && stale(g) && 'its gradient was computed from values updated since') || atCall, hs);
            param.store.version++; // a refused step moves the version on, not the values (see eager-queue.ts)
          } else {
            request(g!, it.seq);
            applyStep(opt, param.store, g!.store.value, opt.lr);
            param.store.version++;
          }
          if (a.awaited) done = Math.max(done, it.seq);
          break;
        }
        case 'zeroGrad': {
          if (thrownOr(false)) break;
          const g = grads.get(a.opt);
          if (g) grads.set(a.opt, base(`p${a.opt}.grad`, { name: `zeros`, value: new Float64Array(numel(s.shape)), version: 0 }, false));
          break;
        }
        case 'lr':
          if (thrownOr(false)) break;
          opts[a.opt]!.lr = a.lr;
          break;
        case 'reset': {
          const queuedSteps = pendingItems().some((i) => i.opt === a.opt);
          if (thrownOr(queuedSteps && 'reset() with steps not yet run (README: await those queued first)')) break;
          const opt = opts[a.opt]!;
          opt.taken = 0;
          opt.count = 0;
          opt.state = [new Float64Array(numel(s.shape)), new Float64Array(numel(s.shape))];
          if (pendingItems().some((i) => i.reads.has(opt.store) || i.writes.has(opt.store))) queue([opt.store], []);
          break;
        }
        case 'run': {
          const conflict = (reads: Set<Store>, writes: Set<Store>) =>
            pendingItems().find((i) => [...i.writes].some((w) => reads.has(w) || writes.has(w)) || [...i.reads].some((r) => writes.has(r)));
          if (a.prog === 'fwdP') {
            const A = env.get(s.fwdP.a)!;
            const Bs = s.fwdP.b === 'c0' ? [env.get(s.cap.x)!, env.get(s.cap.p)!] : [env.get(s.fwdP.b)!];
            const reads = new Set([A.store, ...Bs.map((b) => b.store)]);
            const writes = new Set<Store>([slots.fwd]);
            const why = (conflict(reads, writes) && 'eager work still queued reads what it writes or writes what it reads') || ([A, ...Bs].some((x) => x.disposed) && 'disposed');
            if (thrownOr(why, [A, ...Bs])) break;
            if (why && why === 'disposed') f.problems.push(`${where(si, a)} was not refused, though ${why}`);
            const bv = Bs.length === 2 ? bc(Bs[0]!.store.value, Bs[1]!.store.value, (x, y) => x + y) : Bs[0]!.store.value;
            slots.fwd.value = A.store.value.map((v, i) => 2 * v + bv[i]!);
            slots.fwd.version++;
            env.set(a.out, { name: a.out, shape: s.shape, store: slots.fwd, lazy: false, requested: -1, requiresGrad: false, disposed: false, companions: [], pinned: slots.fwd.version });
            break;
          }
          const k = s.stepP.opt;
          const pk = env.get(`p${k}`)!;
          const other = env.get(s.stepP.f === 'addx' ? s.stepP.xj : `p${1 - k}`)!;
          const xh = typeof a.x === 'string' ? get(a.x)! : undefined;
          const reads = new Set<Store>([pk.store, opts[k]!.store, ...(s.stepP.f !== 'id' ? [other.store] : []), ...(xh ? [xh.store] : [])]);
          const writes = new Set<Store>([pk.store, opts[k]!.store, slots.loss, ...slots.grads]);
          const used = [pk, ...(s.stepP.f !== 'id' ? [other] : []), ...(xh ? [xh] : [])];
          const why =
            (conflict(reads, writes) && 'eager work still queued reads what it writes or writes what it reads') ||
            (used.some((x) => x.disposed) && 'disposed') ||
            (xh && pinnedStale(xh) && 'its input is a program output overwritten since') ||
            (xh && xh.lazy && !realisedNow(xh) && 'an input tensor must be realised');
          if (thrownOr(why, used)) break;
          if (why && /disposed|overwritten/.test(why)) f.problems.push(`${where(si, a)} was not refused, though ${why}`);
          const x = xh ? xh.store.value : Float64Array.from(a.x as number[]);
          const pv = pk.store.value;
          const fv = s.stepP.f === 'id' ? pv : bc(pv, other.store.value, s.stepP.f === 'addx' ? (u, v) => u + v : (u, v) => u * v);
          slots.loss.value = Float64Array.of(fv.reduce((t, v, i) => t + v * x[i]!, 0));
          slots.loss.version++;
          const gk = s.stepP.f === 'mulp' ? x.map((v, i) => v * other.store.value[i]!) : x.slice();
          if (!s.stepP.useGrad) {
            // backward() in the program: each run sets .grad of the leaves it reaches.
            const leaves = [k, ...(s.stepP.f === 'mulp' && s.requiresGrad[1 - k] ? [1 - k] : [])];
            for (const i of leaves) {
              const slot = slots.grads[i]!;
              slot.value = i === k ? gk : x.map((v, j) => v * pv[j]!);
              slot.version++;
              grads.set(i, { name: `p${i}.grad`, shape: s.shape, store: slot, lazy: false, requested: -1, requiresGrad: false, disposed: false, companions: [], pinned: slot.version });
            }
          }
          applyStep(opts[k]!, pk.store, gk, opts[k]!.lr);
          pk.store.version++;
          env.set(a.out, { name: a.out, shape: [], store: slots.loss, lazy: false, requested: -1, requiresGrad: false, disposed: false, companions: [], pinned: slots.loss.version });
          break;
        }
        case 'dispose': {
          if (thrownOr(false)) break;
          const h = get(a.h)!;
          h.disposed = true;
          break;
        }
        case 'sync':
          if (thrownOr(false)) break;
          done = items.length - 1;
          break;
        case 'await': {
          const seq = itemOf.get(a.id);
          if (seq !== undefined) done = Math.max(done, seq);
          break;
        }
      }
      void idx;
      now++;
    });
  });
  // Anything thrown by the final sync.
  for (const extra of run.outcomes.slice(p.statements.length)) for (const o of extra) if (o.thrown) f.problems.push(`the final rt.sync() threw ${message(o.thrown)}`);
  opts.forEach((o, i) => {
    if (run.stepCounts[i] !== o.count) f.problems.push(`opt${i}.stepCount is ${run.stepCounts[i]} at the end, but ${o.count} steps were taken (a refused step is not counted)`);
  });
  for (const b of BASES) {
    const h = env.get(b)!;
    if (h.disposed) continue;
    const got = run.finals[b];
    if (!got) {
      f.problems.push(`reading ${b} at the end failed: ${message(run.finalErrors[b])}`);
      continue;
    }
    if (!close(got, stores.get(b)!.value)) f.problems.push(`${b} ends as ${fmtVec(got)}, but in order it is ${fmtVec(stores.get(b)!.value)}`);
  }
  return f;
}

// ---- the test ----

describe('order fuzz: random eager/lazy/compiled sequences against a float64 PyTorch-order model', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeAll(() => void process.on('unhandledRejection', onUnhandled));
  afterAll(() => void process.off('unhandledRejection', onUnhandled));

  it(`values read match the model, refusals are documented (seeds ${process.env.FUZZ_SEEDS ?? '1-2000'})`, async () => {
    const failures: string[] = [];
    const minor: string[] = [];
    const logs: string[] = [];
    const counts = new Map<string, number>();
    for (const seed of seeds()) {
      const p = generate(seed);
      for (const a of p.statements.flat()) counts.set(a.k, (counts.get(a.k) ?? 0) + 1);
      const made: { dispose(): void }[] = [];
      let judged: Judgement;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('hung: not settled after 30 s')), 30_000)));
        const run = await Promise.race([runOnFovea(p, made), hung]);
        judged = check(p, run);
      } catch (e) {
        judged = { problems: [`threw ${e instanceof Error ? e.stack : String(e)}`], minor: [], log: [] };
      } finally {
        clearTimeout(timer);
      }
      await new Promise((r) => setTimeout(r, 0));
      if (unhandled.length) judged.problems.push(...unhandled.splice(0).map((e) => `unhandled rejection: ${message(e)}`));
      for (const m of made.reverse()) {
        try {
          m.dispose();
        } catch {
          // disposed already
        }
      }
      try {
        await rt().sync();
      } catch (e) {
        judged.problems.push(`rt.sync() after the sequence threw ${message(e)}`);
      }
      logs.push(...judged.log.map((l) => `seed ${seed}: ${l}`));
      minor.push(...judged.minor.map((l) => `seed ${seed}: ${l}`));
      if (judged.problems.length) failures.push(`${describeProgram(p)}\n  problems:\n${judged.problems.map((x) => `    ${x}`).join('\n')}`);
      if (failures.length >= Number(process.env.FUZZ_MAX_FAILURES ?? 5)) break;
    }
    if (process.env.FUZZ_LOG) console.log(`${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}\n${logs.join('\n')}`);
    if (minor.length) console.log(`${minor.length} minor oddities, e.g.:\n${minor.slice(0, Number(process.env.FUZZ_SHOW ?? 3)).join('\n')}`);
    expect(failures.join('\n\n'), 'sequences whose values or refusals differ from running them in order').toBe('');
  });
});
