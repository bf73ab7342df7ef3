// A seeded property test of the eager queue: short random programs of PyTorch-style statements
// (ops recorded lazily, writes, optimizer steps awaited or not, backward() then step(), reads of
// lazy values awaited at once or later, compiled runs, rt.sync()) on a few small tensors, against
// a float64 model that executes the statements one at a time, in order. Values are small
// integers and halves, so f32 results are exact. The contract: every value read is the one
// sequential execution gives, or the statement is refused with a TensorStateError (thrown, or the
// rejection of its own promise) for a reason the model names (a lazy value read after what it
// was computed from was updated, a compiled run that would come before queued work on what it
// reads or writes, ...); never a wrong value, a hang or an unhandled rejection.
//
// Each program runs first on fovea, noting what each statement did (its value, or its refusal);
// the model then replays it with those outcomes: a refused statement has no effect (a refused
// eager step still moves its parameter's version on, as fovea's do, but not its values), and its
// refusal must be one the model allows. A failure names the seed and prints the program.
// Seeds 1-400 by default; FOVEA_ORDER_SEEDS=7,300-399 runs those instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, backward, mul, scale, SGD, sum, TensorStateError, type Program, type Tensor } from '../src/index.js';
import { errorText, Rng, seedList, useRuntime } from './helpers.js';

const rt = useRuntime();

const seeds = (): number[] => seedList(process.env.FOVEA_ORDER_SEEDS, '1-400');

// ---- programs ----

const BASES = ['p0', 'p1', 'x0', 'x1'] as const;
type Base = (typeof BASES)[number];
const PARAMS = ['p0', 'p1'] as const;

/** What a statement gives a step as its gradient: a tensor by name, p.grad, or a new tensor. */
type GradSource = { name: string } | { grad: true } | { values: number[] };

type Action =
  | { k: 'op'; out: string; op: 'add' | 'mul'; a: string; b: string }
  | { k: 'op'; out: string; op: 'scale'; a: string; c: number }
  | { k: 'op'; out: string; op: 'sum'; a: string }
  | { k: 'write'; t: Base; values: number[] }
  | { k: 'step'; opt: number; g: GradSource; awaited: boolean; id: string }
  | { k: 'backward'; loss: string }
  | { k: 'read'; h: string; awaited: boolean; id: string }
  | { k: 'run'; prog: 'scale' | 'in' | 'step'; a?: string | number[]; out?: string }
  | { k: 'sync' }
  | { k: 'await'; id: string };

interface Setup {
  n: number;
  init: Record<Base, number[]>;
  lr: [number, number];
  requiresGrad: [boolean, boolean];
  /** scaleP = compile(() => ({ y: scale(<scaleOf>, 2) })) */
  scaleOf: Base;
  /** inP = compile(({ a }) => ({ y: add(a, <inAdds>) }), { a: [n] }) */
  inAdds: Base;
  /** stepP = compile(() => void opt<stepOpt>.step([<stepGrad>])) */
  stepOpt: number;
  stepGrad: Base;
}

interface Program_ {
  seed: number;
  setup: Setup;
  statements: Action[][];
}

function describeAction(a: Action): string {
  switch (a.k) {
    case 'op':
      if (a.op === 'scale') return `${a.out} = scale(${a.a}, ${a.c})`;
      if (a.op === 'sum') return `${a.out} = sum(${a.a})`;
      return `${a.out} = ${a.op}(${a.a}, ${a.b})`;
    case 'write':
      return `${a.t}.write([${a.values.join(', ')}])`;
    case 'step': {
      const g = 'name' in a.g ? `[${a.g.name}]` : 'values' in a.g ? `[rt.tensor([${a.g.values.join(', ')}])]` : '';
      return `${a.awaited ? 'await ' : `${a.id} = `}opt${a.opt}.step(${g})`;
    }
    case 'backward':
      return `backward(${a.loss})`;
    case 'read':
      return `${a.awaited ? 'await ' : `${a.id} = `}${a.h}.read()`;
    case 'run': {
      const arg = a.prog === 'in' ? `{ a: ${typeof a.a === 'string' ? a.a : `Float32Array.of(${a.a!.join(', ')})`} }` : '';
      return `${a.out ? `${a.out} = ` : ''}${a.prog}P.run(${arg})${a.out ? '.y' : ''}`;
    }
    case 'sync':
      return 'await rt.sync()';
    case 'await':
      return `await ${a.id}`;
  }
}

function describeProgram(p: Program_): string {
  const s = p.setup;
  const lines = BASES.map((b, i) => {
    const param = i < 2 ? `, requiresGrad: ${s.requiresGrad[i]}; opt${i} = new SGD([${b}], { lr: ${s.lr[i]} })` : '';
    return `  ${b} = rt.tensor([${s.init[b].join(', ')}]${param})`;
  });
  lines.push(`  scaleP = compile(() => ({ y: scale(${s.scaleOf}, 2) }))`);
  lines.push(`  inP = compile(({ a }) => ({ y: add(a, ${s.inAdds}) }), { a: [${s.n}] })`);
  lines.push(`  stepP = compile(() => void opt${s.stepOpt}.step([${s.stepGrad}]))`);
  p.statements.forEach((st, i) => lines.push(`  ${String(i).padStart(2)}: ${st.map(describeAction).join('; ')}`));
  return `seed ${p.seed}:\n${lines.join('\n')}`;
}

function generate(seed: number): Program_ {
  const rng = new Rng(seed);
  const n = rng.int(2, 4);
  const vals = () => Array.from({ length: n }, () => rng.int(-3, 3));
  const init = Object.fromEntries(BASES.map((b) => [b, vals()])) as Record<Base, number[]>;
  const setup: Setup = {
    n,
    init,
    lr: [rng.pick([1, 0.5]), rng.pick([1, 0.5])],
    requiresGrad: [rng.next() < 0.85, rng.next() < 0.6],
    scaleOf: rng.pick(BASES),
    inAdds: rng.pick(BASES),
    stepOpt: rng.int(0, 1),
    stepGrad: rng.pick(['x0', 'x1', 'p0', 'p1'] as const),
  };
  if (setup.stepGrad === `p${setup.stepOpt}`) setup.stepGrad = 'x0';
  const vecs: string[] = [...BASES];
  const scalars: string[] = [];
  const losses: string[] = [];
  /** Vector values that depend on a parameter that requires a gradient (for losses). */
  const onParam = new Set<string>(PARAMS.filter((_, i) => setup.requiresGrad[i]));
  const pending: string[] = [];
  /** Parameters a backward() of an earlier statement may have given a gradient. */
  const graded = new Set<number>();
  let count = 0;
  const fresh = (prefix: string) => `${prefix}${++count}`;
  // Half the time one of the last few values, for deeper chains.
  const pickVec = () => (rng.next() < 0.5 && vecs.length > 4 ? rng.pick(vecs.slice(-3)) : rng.pick(vecs));
  const recordOp = (): Action => {
    const r = rng.next();
    const out = fresh('v');
    let act: Action;
    if (r < 0.3) act = { k: 'op', out, op: 'add', a: pickVec(), b: pickVec() };
    else if (r < 0.55) act = { k: 'op', out, op: 'mul', a: pickVec(), b: scalars.length && rng.next() < 0.2 ? rng.pick(scalars) : pickVec() };
    else if (r < 0.8) act = { k: 'op', out, op: 'scale', a: pickVec(), c: rng.pick([2, -1, 0.5]) };
    else act = { k: 'op', out, op: 'sum', a: pickVec() };
    if (act.op === 'sum') scalars.push(out);
    else vecs.push(out);
    if ([act.a, 'b' in act ? act.b : ''].some((x) => onParam.has(x)) && act.op !== 'sum') onParam.add(out);
    return act;
  };
  const statements: Action[][] = [];
  const length = rng.int(4, 12);
  while (statements.length < length) {
    const r = rng.next();
    const awaited = rng.next() < 0.35;
    if (r < 0.25) {
      statements.push([recordOp()]);
    } else if (r < 0.35) {
      statements.push([{ k: 'write', t: rng.pick(BASES), values: vals() }]);
    } else if (r < 0.5) {
      const opt = rng.int(0, 1);
      const q = rng.next();
      const g: GradSource =
        q < 0.6 || !graded.size ? (rng.next() < 0.7 ? { name: rng.pick(vecs.filter((v) => v !== `p${opt}`)) } : { values: vals() }) : graded.has(opt) && q < 0.85 ? { grad: true } : { name: `p${rng.pick([...graded])}.grad` };
      const id = fresh('s');
      if (!awaited) pending.push(id);
      statements.push([{ k: 'step', opt, g, awaited, id }]);
    } else if (r < 0.65) {
      // loss = sum(mul(a, b)), a on a parameter; backward(loss); opt.step(), and at times the other optimizer's step too.
      const params = [...onParam];
      if (!params.length) {
        statements.push([recordOp()]);
        continue;
      }
      const prod = fresh('v');
      const loss = fresh('l');
      const acts: Action[] = [
        { k: 'op', out: prod, op: 'mul', a: rng.pick(params), b: pickVec() },
        { k: 'op', out: loss, op: 'sum', a: prod },
      ];
      const termed = rng.next() < 0.45;
      if (termed) {
        // A term only the loss reads: sum(mul(add(p, x), b)), whose gradient is b.
        const term = fresh('v');
        acts.unshift({ k: 'op', out: term, op: 'add', a: rng.pick(params), b: pickVec() });
        (acts[1] as { a: string }).a = term;
        vecs.push(term);
        onParam.add(term);
      }
      vecs.push(prod);
      scalars.push(loss);
      losses.push(loss);
      acts.push({ k: 'backward', loss });
      // The step of the parameter the loss is on, and at times the other's (two optimizers, one backward).
      const on = acts[0]!.k === 'op' && 'b' in acts[0]! ? acts[0]!.a : '';
      const first = Number(on === 'p1' || (on !== 'p0' && rng.next() < 0.5));
      const order = rng.next() < 0.4 ? [first, 1 - first] : rng.next() < 0.15 ? [1 - first] : [first];
      for (const i of order) if (setup.requiresGrad[i]) graded.add(i);
      for (const opt of order) {
        const id = fresh('s');
        const aw = rng.next() < 0.3;
        if (!aw) pending.push(id);
        acts.push({ k: 'step', opt, g: { grad: true }, awaited: aw, id });
      }
      statements.push(acts);
      if (rng.next() < 0.5) {
        // As a training loop goes on: the next batch written into a tensor the loss read (the
        // term's, which its gradient does not read, most often), then the loss read.
        const isBase = (x: string): x is Base => (BASES as readonly string[]).includes(x);
        const term = termed && acts[0]!.k === 'op' && 'b' in acts[0]! && isBase(acts[0]!.b) && rng.next() < 0.7 ? [acts[0]!.b] : [];
        const read = term.length ? term : acts.flatMap((x) => (x.k === 'op' && 'b' in x ? [x.a, x.b] : [])).filter(isBase);
        if (read.length) statements.push([{ k: 'write', t: rng.pick(read), values: vals() }]);
        if (rng.next() < 0.7) {
          const id = fresh('r');
          const aw = rng.next() < 0.5;
          if (!aw) pending.push(id);
          statements.push([{ k: 'read', h: loss, awaited: aw, id }]);
        }
      }
    } else if (r < 0.8) {
      const q = rng.next();
      // A loss read after its step (as PyTorch's loop prints it), any value, a recent one, a gradient.
      const h =
        q < 0.2 && losses.length ? losses.at(-1)! : q < 0.5 ? rng.pick(scalars.length && rng.next() < 0.5 ? scalars : vecs) : q < 0.8 ? rng.pick(vecs.slice(-4)) : `${rng.pick(PARAMS)}.grad`;
      const id = fresh('r');
      if (!awaited) pending.push(id);
      statements.push([{ k: 'read', h, awaited, id }]);
    } else if (r < 0.92) {
      const which = rng.pick(['scale', 'in', 'in', 'step'] as const);
      if (which === 'step') {
        statements.push([{ k: 'run', prog: 'step' }]);
      } else {
        const out = fresh('y');
        const a = which === 'in' ? (rng.next() < 0.3 ? vals() : rng.pick(vecs.filter((v) => /^[px]\d$|^y/.test(v)))) : undefined;
        statements.push([{ k: 'run', prog: which, ...(a !== undefined ? { a } : {}), out }]);
        vecs.push(out);
      }
    } else if (pending.length && rng.next() < 0.6) {
      statements.push([{ k: 'await', id: pending.splice(rng.int(0, pending.length - 1), 1)[0]! }]);
    } else {
      statements.push([{ k: 'sync' }]);
      pending.length = 0;
    }
  }
  return { seed, setup, statements };
}

// ---- running on fovea ----

/** What an action did: skipped (a value it names does not exist), refused (synchronously or by its promise), or done. */
interface Outcome {
  skipped?: boolean;
  /** Thrown by the statement itself. */
  thrown?: unknown;
  /** Settled later: its promise's rejection, or the value read. */
  rejected?: unknown;
  value?: Float32Array;
  settled?: boolean;
}

interface Run {
  outcomes: Outcome[][];
  finals: Record<Base, Float32Array>;
}

async function runOnFovea(p: Program_, made: { dispose(): void }[]): Promise<Run> {
  const r = rt();
  const s = p.setup;
  const env = new Map<string, Tensor>();
  for (const [i, b] of BASES.entries()) {
    const t = r.tensor(s.init[b], [s.n], { name: b, requiresGrad: i < 2 && s.requiresGrad[i as 0 | 1] });
    made.push(t);
    env.set(b, t);
  }
  const opts = PARAMS.map((b, i) => new SGD([env.get(b)!], { lr: s.lr[i]! }));
  made.push(...opts);
  const progs = new Map<string, Program>();
  const uses = new Set(p.statements.flat().flatMap((a) => (a.k === 'run' ? [a.prog] : [])));
  if (uses.has('scale')) progs.set('scale', await r.compile(() => ({ y: scale(env.get(s.scaleOf)!, 2) }), {}, { name: 'scaleP' }));
  if (uses.has('in')) progs.set('in', await r.compile(({ a }) => ({ y: add(a!, env.get(s.inAdds)!) }), { a: [s.n] }, { name: 'inP' }));
  if (uses.has('step')) progs.set('step', await r.compile(() => void opts[s.stepOpt]!.step([env.get(s.stepGrad)!]), {}, { name: 'stepP' }));
  made.push(...progs.values());

  const promises = new Map<string, Promise<unknown>>();
  const settle = (o: Outcome, pr: Promise<unknown>): Promise<unknown> =>
    pr.then(
      (v) => {
        o.settled = true;
        if (v instanceof Float32Array) o.value = v;
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
    let refused = false; // a backward() refused: the steps after it in the statement are not taken
    for (const a of st) {
      const o: Outcome = {};
      outs.push(o);
      const names = a.k === 'op' ? [a.a, ...('b' in a ? [a.b] : [])] : a.k === 'read' ? [a.h] : a.k === 'backward' ? [a.loss] : a.k === 'step' && 'name' in a.g ? [a.g.name] : a.k === 'run' && typeof a.a === 'string' ? [a.a] : [];
      if (refused || names.some((x) => !get(x))) {
        o.skipped = true;
        continue;
      }
      try {
        switch (a.k) {
          case 'op': {
            const x = get(a.a)!;
            const t = a.op === 'scale' ? scale(x, a.c) : a.op === 'sum' ? sum(x) : (a.op === 'add' ? add : mul)(x, get(a.b)!);
            env.set(a.out, t);
            made.push(t);
            break;
          }
          case 'write':
            env.get(a.t)!.write(a.values);
            break;
          case 'step': {
            let gs: Tensor[] | undefined;
            if ('name' in a.g) gs = [get(a.g.name)!];
            else if ('values' in a.g) {
              const t = r.tensor(a.g.values);
              made.push(t);
              gs = [t];
            }
            const pr = settle(o, opts[a.opt]!.step(gs));
            promises.set(a.id, pr);
            if (a.awaited) await pr;
            break;
          }
          case 'backward':
            try {
              backward(get(a.loss)!);
            } catch (e) {
              refused = true;
              throw e;
            }
            break;
          case 'read': {
            const pr = settle(o, get(a.h)!.read());
            promises.set(a.id, pr);
            if (a.awaited) await pr;
            break;
          }
          case 'run': {
            const prog = progs.get(a.prog)!;
            const arg: Record<string, Tensor | Float32Array> = a.prog === 'in' ? { a: typeof a.a === 'string' ? get(a.a)! : Float32Array.from(a.a!) } : {};
            const y = prog.run(arg).y;
            if (a.out) env.set(a.out, y!);
            break;
          }
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
  // Everything asked for settles (a hang fails the test by its timeout), then the final values.
  await Promise.all(promises.values());
  await r.sync();
  const finals = {} as Record<Base, Float32Array>;
  for (const b of BASES) finals[b] = (await env.get(b)!.read()) as Float32Array;
  return { outcomes, finals };
}

// ---- the model ----

type Vec = Float64Array;
/** A buffer whose values change: a base tensor, or a compiled program's output slot. */
interface Store {
  name: string;
  value: Vec;
  version: number;
}
type Handle =
  | { kind: 'store'; name: string; store: Store; requiresGrad: boolean; pinned?: number; snapshot?: Vec }
  | {
      kind: 'lazy';
      name: string;
      op: string;
      inputs: Handle[];
      /** Per input: the version of its store when recorded (-1: a lazy input). */
      recorded: number[];
      /** Its value: that of its inputs when it was recorded (as PyTorch computes it then). */
      value: Vec;
      realised: boolean;
      companions: Handle[];
      /** A gradient from backward(): what its loss was computed from. */
      loss?: Handle;
      /** scale's factor. */
      c?: number;
      /** Computed with a gradient (as its loss), so perhaps computed already. */
      companionOf?: boolean;
    };

/** Pending eager work: what it writes and reads, for a compiled run's refusal. */
interface Item {
  seq: number;
  writes: Set<Store>;
  reads: Set<Store>;
}

const vecOf = (h: Handle): Vec => (h.kind === 'lazy' ? h.value : (h.snapshot ?? h.store.value));

function broadcast(a: Vec, b: Vec, f: (x: number, y: number) => number): Vec {
  const n = Math.max(a.length, b.length);
  return Float64Array.from({ length: n }, (_, i) => f(a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
}

/** The stores a lazy value reads when computed now: up to realised values (`full`: through them, as a gradient does). */
function deps(h: Handle, full = false, out = new Set<Store>()): Set<Store> {
  if (h.kind === 'store') out.add(h.store);
  else if (full || !h.realised) {
    if (h.loss) deps(h.loss, true, out);
    for (const x of h.inputs) deps(x, full, out);
  }
  return out;
}

/** Whether computing `h` now reads a store updated since the op reading it was recorded (or a program output since overwritten). */
function stale(h: Handle, full = false): boolean {
  if (h.kind === 'store') return h.pinned !== undefined && h.pinned !== h.store.version;
  if (h.realised && !full) return false;
  if (h.loss && stale(h.loss, true)) return true;
  return h.inputs.some((x, i) => (x.kind === 'store' ? stale(x) || x.store.version !== h.recorded[i] : stale(x, full)));
}

/** Gradient of Σ loss with respect to each parameter that requires one, through the lazy graph (float64). */
function gradients(loss: Handle): Map<Store, Vec> {
  const grads = new Map<Store, Vec>();
  const visit = (h: Handle, g: Vec) => {
    if (h.kind === 'store') {
      if (h.requiresGrad && h.pinned === undefined) {
        const prev = grads.get(h.store);
        grads.set(h.store, prev ? prev.map((v, i) => v + g[i]!) : g);
      }
      return;
    }
    const [a, b] = h.inputs;
    const fit = (x: Handle, gx: Vec) => (vecOf(x).length === 1 && gx.length > 1 ? Float64Array.of(gx.reduce((s, v) => s + v, 0)) : gx);
    switch (h.op) {
      case 'add':
        visit(a!, fit(a!, g));
        visit(b!, fit(b!, g));
        break;
      case 'mul':
        visit(a!, fit(a!, broadcast(g, vecOf(b!), (x, y) => x * y)));
        visit(b!, fit(b!, broadcast(g, vecOf(a!), (x, y) => x * y)));
        break;
      case 'scale':
        visit(a!, g.map((v) => v * h.c!));
        break;
      case 'sum':
        visit(a!, new Float64Array(vecOf(a!).length).fill(g[0]!));
        break;
    }
  };
  visit(loss, Float64Array.of(1));
  return grads;
}

const fmtVec = (v: ArrayLike<number>) => `[${Array.from(v).join(', ')}]`;
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);
const message = errorText;

/** Replays the program on the model with fovea's outcomes; returns the problems found (empty: it passed). */
function check(p: Program_, run: Run, log: string[]): string[] {
  const s = p.setup;
  const problems: string[] = [];
  const stores = new Map<Base, Store>(BASES.map((b) => [b, { name: b, value: Float64Array.from(s.init[b]), version: 0 }]));
  const env = new Map<string, Handle>(BASES.map((b, i) => [b, { kind: 'store', name: b, store: stores.get(b)!, requiresGrad: i < 2 && s.requiresGrad[i as 0 | 1] }]));
  const grads = new Map<string, Handle>(); // 'p0' → its .grad
  const slots = { scale: { name: 'scaleP.y', value: new Float64Array(s.n), version: 0 }, in: { name: 'inP.y', value: new Float64Array(s.n), version: 0 } };
  const items: Item[] = [];
  let done = -1; // items up to this seq are known to have run
  const itemOf = new Map<string, number>();
  const possiblyPending = () => items.filter((i) => i.seq > done);
  const queue = (writes: Iterable<Store>, reads: Iterable<Store>, id?: string) => {
    const it: Item = { seq: items.length, writes: new Set(writes), reads: new Set(reads) };
    items.push(it);
    if (id) itemOf.set(id, it.seq);
    return it;
  };
  const get = (name: string): Handle | undefined => {
    const m = /^(p\d)\.grad$/.exec(name);
    return m ? grads.get(m[1]!) : env.get(name);
  };
  /** Values computed with another (a gradient's loss, the other gradients of its backward) come with it, if they still can. */
  const realise = (h: Handle) => {
    if (h.kind !== 'lazy' || h.realised) return;
    h.realised = true;
    for (const c of h.companions) if (c.kind === 'lazy' && !c.realised && !stale(c)) c.realised = true;
  };
  const where = (si: number, a: Action) => `statement ${si} (${describeAction(a)})`;
  const refusal = (si: number, a: Action, e: unknown, allowed: string | false) => {
    if (!(e instanceof TensorStateError)) problems.push(`${where(si, a)} failed with ${message(e)}`);
    else if (!allowed) problems.push(`${where(si, a)} was refused, though nothing makes it unorderable: ${message(e)}`);
    else log.push(`${where(si, a)}: refused (${allowed}): ${e.message}`);
  };
  const compare = (si: number, a: Action, got: ArrayLike<number>, want: ArrayLike<number>) => {
    if (!same(got, want)) problems.push(`${where(si, a)} read ${fmtVec(got)}, but in order it is ${fmtVec(want)}`);
  };

  p.statements.forEach((st, si) => {
    st.forEach((a, ai) => {
      const o = run.outcomes[si]![ai]!;
      if (o.skipped) return;
      switch (a.k) {
        case 'op': {
          if (o.thrown) return void problems.push(`${where(si, a)} threw ${message(o.thrown)}`);
          const x = get(a.a)!;
          const y = 'b' in a ? get(a.b)! : undefined;
          const inputs = y ? [x, y] : [x];
          const value =
            a.op === 'scale' ? vecOf(x).map((v) => v * a.c) : a.op === 'sum' ? Float64Array.of(vecOf(x).reduce((t, v) => t + v, 0)) : broadcast(vecOf(x), vecOf(y!), a.op === 'add' ? (u, v) => u + v : (u, v) => u * v);
          const recorded = inputs.map((i) => (i.kind === 'store' ? i.store.version : -1));
          const h: Handle = { kind: 'lazy', name: a.out, op: a.op, inputs, recorded, value, realised: false, companions: [], ...(a.op === 'scale' ? { c: a.c } : {}) };
          env.set(a.out, h);
          return;
        }
        case 'write': {
          if (o.thrown) return void problems.push(`${where(si, a)} threw ${message(o.thrown)}`);
          const st_ = stores.get(a.t)!;
          const queued = possiblyPending().some((i) => i.writes.has(st_) || i.reads.has(st_));
          st_.value = Float64Array.from(a.values);
          st_.version++;
          if (queued) queue([st_], []);
          return;
        }
        case 'backward': {
          const loss = get(a.loss)!;
          if (o.thrown) return refusal(si, a, o.thrown, stale(loss, true) && 'the loss was computed from values updated since');
          const gs = gradients(loss);
          const made: Handle[] = [];
          for (const [i, b] of PARAMS.entries()) {
            const g = gs.get(stores.get(b)!);
            if (!g || !s.requiresGrad[i]) continue;
            const h: Handle = { kind: 'lazy', name: `${b}.grad`, op: 'grad', inputs: [], recorded: [], value: g, realised: false, companions: [], loss };
            made.push(h);
            grads.set(b, h);
          }
          // As in PyTorch, backward() computes them all at once: each comes with the loss and the others.
          for (const h of made) if (h.kind === 'lazy') h.companions = [loss, ...made.filter((m) => m !== h)];
          if (made.length && loss.kind === 'lazy') loss.companionOf = true;
          return;
        }
        case 'step': {
          const param = stores.get(PARAMS[a.opt]!)!;
          const g = 'name' in a.g ? get(a.g.name)! : 'grad' in a.g ? grads.get(PARAMS[a.opt]!) : ({ kind: 'store', name: 'new', store: { name: 'new', value: Float64Array.from(a.g.values), version: 0 }, requiresGrad: false } as Handle);
          // Refused when called (no step taken) if its gradient is stale already, queued updates counted.
          if (o.thrown) return refusal(si, a, o.thrown, (!g && 'no gradient') || (stale(g!) && 'its gradient was computed from values updated since'));
          if (!g) return void problems.push(`${where(si, a)} was taken, though ${PARAMS[a.opt]}.grad is not set`);
          const reads = deps(g, true);
          for (const c of g.kind === 'lazy' ? g.companions : []) deps(c, true, reads);
          if (o.rejected) {
            refusal(si, a, o.rejected, stale(g) && 'its gradient was computed from values updated since');
            param.version++; // a failed step moves the version on, not the values
          } else {
            // Computed (with what comes with it) before the update.
            realise(g);
            const gv = vecOf(g);
            param.value = param.value.map((v, i) => v - s.lr[a.opt]! * gv[i]!);
            param.version++;
          }
          const it = queue([param], reads, a.id);
          if (a.awaited) done = Math.max(done, it.seq);
          return;
        }
        case 'read': {
          const h = get(a.h)!;
          if (o.thrown) return void problems.push(`${where(si, a)} threw ${message(o.thrown)}`);
          // A read of a value still to compute is queued (one that may have come with a gradient
          // perhaps not: its wait is not counted on); a read of what queued work writes waits for it.
          const queued = h.kind === 'lazy' ? !h.realised : possiblyPending().some((i) => i.writes.has(h.store));
          const waits = queued && !(h.kind === 'lazy' && (h.loss || h.companionOf));
          const reads = deps(h);
          for (const c of h.kind === 'lazy' ? h.companions : []) deps(c, true, reads);
          if (o.rejected) {
            const why = h.kind === 'lazy' ? stale(h) && 'it was computed from values updated since' : h.pinned !== undefined && h.pinned !== h.store.version && 'its program has run again since';
            refusal(si, a, o.rejected, why);
          } else if (o.value) {
            compare(si, a, o.value, vecOf(h));
            realise(h);
          }
          const it = queued ? queue([], reads) : undefined;
          if (it && waits) itemOf.set(a.id, it.seq);
          if (it && waits && a.awaited) done = Math.max(done, it.seq);
          return;
        }
        case 'run': {
          const arg = a.prog === 'in' ? (typeof a.a === 'string' ? get(a.a)! : undefined) : undefined;
          const reads = new Set<Store>();
          const writes = new Set<Store>();
          if (a.prog === 'scale') {
            reads.add(stores.get(s.scaleOf)!);
            writes.add(slots.scale);
          } else if (a.prog === 'in') {
            reads.add(stores.get(s.inAdds)!);
            if (arg?.kind === 'store') reads.add(arg.store);
            writes.add(slots.in);
          } else {
            reads.add(stores.get(s.stepGrad)!);
            reads.add(stores.get(PARAMS[s.stepOpt]!)!);
            writes.add(stores.get(PARAMS[s.stepOpt]!)!);
          }
          if (o.thrown) {
            const conflict = possiblyPending().find((i) => [...i.writes].some((w) => reads.has(w) || writes.has(w)) || [...i.reads].some((r) => writes.has(r)));
            const staleArg = arg?.kind === 'store' && arg.pinned !== undefined && arg.pinned !== arg.store.version;
            return refusal(si, a, o.thrown, (conflict && 'eager work still queued reads or writes what it reads or writes') || (staleArg && 'its input is an output overwritten since'));
          }
          if (a.prog === 'step') {
            const p_ = stores.get(PARAMS[s.stepOpt]!)!;
            const gv = stores.get(s.stepGrad)!.value;
            p_.value = p_.value.map((v, i) => v - s.lr[s.stepOpt]! * gv[i]!);
            p_.version++;
            return;
          }
          const slot = a.prog === 'scale' ? slots.scale : slots.in;
          const value = a.prog === 'scale' ? stores.get(s.scaleOf)!.value.map((v) => v * 2) : (() => {
            const av = arg ? vecOf(arg) : Float64Array.from(a.a as number[]);
            const bv = stores.get(s.inAdds)!.value;
            return av.map((v, i) => v + bv[i]!);
          })();
          slot.value = value;
          slot.version++;
          env.set(a.out!, { kind: 'store', name: a.out!, store: slot, requiresGrad: false, pinned: slot.version, snapshot: value });
          return;
        }
        case 'sync':
          if (o.thrown) return void problems.push(`${where(si, a)} threw ${message(o.thrown)}`);
          done = items.length - 1;
          return;
        case 'await': {
          const seq = itemOf.get(a.id);
          if (seq !== undefined) done = Math.max(done, seq);
          return;
        }
      }
    });
  });
  for (const b of BASES) {
    const want = stores.get(b)!.value;
    if (!same(run.finals[b], want)) problems.push(`${b} ends as ${fmtVec(run.finals[b])}, but in order it is ${fmtVec(want)}`);
  }
  return problems;
}

// ---- the test ----

describe('eager work runs in the order it was asked for', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  beforeAll(() => void process.on('unhandledRejection', onUnhandled));
  afterAll(() => void process.off('unhandledRejection', onUnhandled));

  it(`random programs give each value read as run in order, or refuse it with a TensorStateError (seeds ${process.env.FOVEA_ORDER_SEEDS ?? '1-400'})`, async () => {
    const failures: string[] = [];
    const refusals: string[] = [];
    const counts = new Map<string, number>();
    for (const seed of seeds()) {
      const p = generate(seed);
      for (const a of p.statements.flat()) counts.set(a.k, (counts.get(a.k) ?? 0) + 1);
      const made: { dispose(): void }[] = [];
      let problems: string[];
      const log: string[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('hung: not settled after 20 s')), 20_000)));
        const run = await Promise.race([runOnFovea(p, made), hung]);
        problems = check(p, run, log);
      } catch (e) {
        problems = [`threw ${e instanceof Error ? e.stack : String(e)}`];
      } finally {
        clearTimeout(timer);
      }
      // Unhandled rejections surface after the microtasks: give them a turn.
      await new Promise((r) => setTimeout(r, 0));
      if (unhandled.length) problems.push(...unhandled.splice(0).map((e) => `unhandled rejection: ${message(e)}`));
      for (const m of made.reverse()) m.dispose();
      await rt().sync();
      refusals.push(...log.map((l) => `seed ${seed}: ${l}`));
      if (problems.length) failures.push(`${describeProgram(p)}\n  problems:\n${problems.map((x) => `    ${x}`).join('\n')}`);
      if (failures.length >= Number(process.env.FOVEA_ORDER_MAX_FAILURES ?? 3)) break;
    }
    if (process.env.FOVEA_ORDER_LOG) console.log(`${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}\n${refusals.join('\n')}`);
    expect(failures.join('\n\n'), 'programs whose values or refusals differ from running them in order').toBe('');
  });
});
