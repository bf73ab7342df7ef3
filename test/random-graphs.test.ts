// A seeded property test of the graph scheduler and autograd: random DAGs of the public ops on
// small awkward shapes (intermediates read by several ops, views among the outputs, inputs that
// feed nothing, a loss over several branches), computed eagerly and as a compiled program, with
// and without freed buffers poisoned, against a float64 reference and its analytic gradients
// (these checked on a few entries by central differences). A compiled program must replay bit
// for bit, take new inputs (its own outputs among them) and create nothing after its first run.
// A failure names the seed and prints the graph. Seeds 1-200 by default; FOVEA_GRAPH_SEEDS=7,300-399
// runs those instead.
import { afterAll, describe, expect, it } from 'vitest';
import { abs, adaptiveAvgPool2d, add, celu, expm1, clamp, hardshrink, softshrink, threshold, hardsigmoid, hardswish, hardtanh, logsigmoid, relu6, softsign, tanhshrink, concat, conv2d, convTranspose2d, div, elu, exp, gelu, grad, leakyRelu, linear, log, logSoftmax, logSumExp, matmul, max, maximum, maxPool2d, mean, minimum, mul, narrow, pad, permute, pow, interpolate, mish, relu, scale, selu, sigmoid, silu, softmax, softplus, softmaxCrossEntropy, sqrt, sub, sum, tanh, transpose, type HostArray, type Runtime, type Tensor } from '../src/index.js';
import { expectClose, expectSame, f32, finiteDiff, Rng, seedList, useRuntime } from './helpers.js';
import * as R from './references.js';

const poisoned = useRuntime(); // fills every buffer with NaN once its last reader is done
const plain = useRuntime({ debug: { poisonFreed: false } });

// NOTE: errors are measured against max(1, max |expected|): relative for large values, absolute
// near 0 (a gradient that cancels to 0 in float64 is f32 rounding noise on the GPU). Over 1000
// graphs the largest was 5e-6 (values and gradients alike).
const TOL = 5e-5;
/**
 * A ReLU's or abs's input this near 0, a max-pool window's (or max's line's) runner-up this near
 * its maximum, a clamp's input this near a bound, or maximum's operands this near each other may
 * be on the other side in f32: gradients are then not compared.
 */
const KINK = 1e-5;
const MAX_ELEMENTS = 400;
const DIMS = [1, 2, 3, 4, 5, 7, 8];

type F = Float64Array;
type Leaf = 'input' | 'param' | 'labels';
interface Node {
  kind: string;
  text: string;
  shape: number[];
  args: number[];
  leaf?: Leaf;
  classes?: number; // of labels
  gpu?: (xs: Tensor[]) => Tensor;
  ref?: (xs: F[]) => F;
  vjp?: (g: F, xs: F[], y: F) => (F | null)[]; // the args' gradients (null: none, as for labels)
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** A random graph: nodes in topological order (leaves among them) with their float64 reference. */
class Graph {
  readonly nodes: Node[] = [];
  loss = -1;
  /** Outputs of the compiled program besides the loss and the gradients. */
  outs: number[] = [];
  /** The loss's gradient is taken with respect to these. */
  wrt: number[] = [];
  /** Of the last forward(): how near a ReLU input came to 0, or a max-pool window to a tie. */
  margin = Infinity;
  constructor(readonly rng: Rng) {}

  leaf(shape: number[], leaf: Leaf = this.rng.next() < 0.5 ? 'input' : 'param', classes?: number): number {
    return this.nodes.push({ kind: leaf, text: leaf, shape, args: [], leaf, classes }) - 1;
  }
  op(kind: string, attrs: string, shape: number[], args: number[], gpu: Node['gpu'], ref: Node['ref'], vjp: Node['vjp']): number {
    const text = `${kind}(${[...args.map((a) => `n${a}`), ...(attrs ? [attrs] : [])].join(', ')})`;
    return this.nodes.push({ kind, text, shape, args, gpu, ref, vjp }) - 1;
  }
  /** A random f32 node (leaves too) whose shape passes `ok`; half the time a recent one, for deeper chains. */
  pick(ok: (s: number[]) => boolean = () => true): number | undefined {
    const c = this.nodes.flatMap((n, i) => (n.leaf !== 'labels' && ok(n.shape) ? [i] : []));
    const recent = c.filter((i) => i >= this.nodes.length - 3);
    return c.length ? this.rng.pick(recent.length && this.rng.next() < 0.5 ? recent : c) : undefined;
  }
  shape = (i: number) => this.nodes[i]!.shape;
  ofKind = (...kinds: Leaf[]) => this.nodes.flatMap((n, i) => (n.leaf && kinds.includes(n.leaf) ? [i] : []));
  describe(): string {
    const lines = this.nodes.map((n, i) => `  n${i} ${fmt(n.shape)} = ${n.text}`);
    const names = (is: number[]) => is.map((i) => `n${i}`).join(', ');
    return `${lines.join('\n')}\n  loss n${this.loss}; outputs ${names(this.outs)}; gradients of ${names(this.wrt)}`;
  }
  values(rng: Rng, kinds: Leaf[]): Map<number, F> {
    const draw = (n: Node) => (n.leaf === 'labels' ? Float64Array.from({ length: numel(n.shape) }, () => rng.int(0, n.classes! - 1)) : rng.array(numel(n.shape)));
    return new Map(this.ofKind(...kinds).map((i) => [i, draw(this.nodes[i]!)]));
  }
  /** Every node's value, on the GPU (Tensor) or in float64 (F). */
  eval<T>(leaf: (i: number) => T, apply: (n: Node, xs: T[]) => T): T[] {
    const vs: T[] = [];
    this.nodes.forEach((n, i) => vs.push(n.leaf ? leaf(i) : apply(n, n.args.map((a) => vs[a]!))));
    return vs;
  }
  build = (leaf: (i: number) => Tensor) => this.eval(leaf, (n, xs) => n.gpu!(xs));
  forward(leaves: Map<number, F>): F[] {
    this.margin = Infinity;
    return this.eval((i) => leaves.get(i)!, (n, xs) => n.ref!(xs));
  }
  /** Reverse-mode gradients of the loss for every node, in float64. */
  backward(vs: F[]): F[] {
    const gs = this.nodes.map((n) => new Float64Array(numel(n.shape)));
    gs[this.loss]![0] = 1;
    for (let i = this.loss; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (n.leaf) continue;
      const back = n.vjp!(gs[i]!, n.args.map((a) => vs[a]!), vs[i]!);
      n.args.forEach((a, k) => back[k]?.forEach((v, j) => (gs[a]![j]! += v)));
    }
    return gs;
  }
}

// ---- the ops: each applied at random to nodes of the graph (undefined: it fitted none) ----

function binary(g: Graph, kind: 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum', x: number, y: number): number {
  const r = R.refBinary(kind, g.shape(x), g.shape(y));
  const gpu = { add, sub, mul, div, maximum, minimum }[kind];
  // maximum and minimum have a kink where the operands tie.
  const kinked = kind === 'maximum' || kind === 'minimum';
  const [ia, ib] = kinked ? [R.broadcastIndex(g.shape(x), r.shape), R.broadcastIndex(g.shape(y), r.shape)] : [];
  const ref = ([p, q]: F[]) => {
    ia?.forEach((j, i) => (g.margin = Math.min(g.margin, Math.abs(p![j]! - q![ib![i]!]!))));
    return r.forward(p!, q!);
  };
  return g.op(kind, '', r.shape, [x, y], ([p, q]) => gpu(p!, q!), ref, (gr, [p, q]) => r.grad(p!, q!, gr));
}

/** A second operand for a: another node that broadcasts with it, or a new leaf of a rank above a's, below it, or the same. */
function partner(g: Graph, rng: Rng, a: number): number {
  const sa = g.shape(a);
  const b = rng.next() < 0.3 ? g.pick((s) => R.broadcastShape(sa, s) !== undefined) : undefined;
  const lead = rng.next() < 0.15 ? [rng.pick(DIMS)] : [];
  return b ?? g.leaf([...lead, ...sa.slice(lead.length ? 0 : rng.int(0, sa.length)).map((d) => (rng.next() < 0.4 ? 1 : d))]);
}

function unary(g: Graph, kind: keyof typeof R.refUnary, x: number): number {
  const { f, df } = R.refUnary[kind];
  const gpu = {
    exp, expm1, log, sqrt, sigmoid, tanh, abs, silu, mish, selu,
    softplus: (t: Tensor) => softplus(t, 1.5, 10),
    leakyRelu: (t: Tensor) => leakyRelu(t, 0.2),
    elu: (t: Tensor) => elu(t, 1.5),
    gelu: (t: Tensor) => gelu(t),
    geluTanh: (t: Tensor) => gelu(t, 'tanh'),
    hardtanh: (t: Tensor) => hardtanh(t, -0.5, 1.5),
    relu6, hardsigmoid, hardswish, logsigmoid, softsign, tanhshrink,
    softshrink: (t: Tensor) => softshrink(t, 0.5),
    hardshrink: (t: Tensor) => hardshrink(t, 0.5),
    threshold: (t: Tensor) => threshold(t, 0.5, -2),
    celu: (t: Tensor) => celu(t, 1.5),
    celuNegative: (t: Tensor) => celu(t, -1.5),
  }[kind];
  // abs, leakyRelu, elu (α 1.5) and selu have a kink at 0.
  const ref = ([v]: F[]) => v!.map((z) => (['abs', 'leakyRelu', 'elu', 'selu'].includes(kind) && (g.margin = Math.min(g.margin, Math.abs(z))), f(z)));
  return g.op(kind, '', g.shape(x), [x], ([p]) => gpu(p!), ref, (gr, [v]) => [gr.map((w, i) => w * df(v![i]!))]);
}

/** e^tanh(x), in [1/e, e]: an operand for log, sqrt and div away from 0 and from overflow. */
const positive = (g: Graph, x: number) => unary(g, 'exp', unary(g, 'tanh', x));

function reduce(g: Graph, x: number, kind: 'sum' | 'mean', axes: number[] | undefined, keepDims: boolean): number {
  const s = g.shape(x);
  const red = (axes ?? s.map((_, i) => i)).map((a) => (a < 0 ? a + s.length : a));
  const r = R.refSum(s, red, kind === 'mean');
  const [attrs, gpu] = [`${axes ? `axes [${axes}]` : ''}${keepDims ? ', keepDims' : ''}`, ([p]: Tensor[]) => (kind === 'sum' ? sum : mean)(p!, axes, keepDims)];
  return g.op(kind, attrs, keepDims ? r.kept : s.filter((_, i) => !red.includes(i)), [x], gpu, ([v]) => r.forward(v!), (gr) => [r.grad(gr)]);
}

function view(g: Graph, x: number, shape: number[], dims?: [number, number]): number {
  const to = shape.map((d) => (d < 0 ? numel(g.shape(x)) / -numel(shape) : d));
  const gpu = ([p]: Tensor[]) => (dims ? p!.flatten(...dims) : p!.reshape(...shape));
  return g.op(dims ? 'flatten' : 'reshape', dims ? `dims ${dims[0]}..${dims[1]}` : fmt(shape), to, [x], gpu, ([v]) => v!.slice(), (gr) => [gr]);
}

/** Each op: the ranks of the node it applies to (picked by the caller, or a new leaf), and how it applies (undefined: it does not fit). */
const OPS: Record<string, [ranks: [number, number], make: (g: Graph, rng: Rng, x: number) => number | undefined]> = {
  binary: [[0, 4], (g, rng, a) => {
    const b = partner(g, rng, a);
    return binary(g, rng.pick(['add', 'sub', 'mul'] as const), ...((rng.next() < 0.3 ? [b, a] : [a, b]) as [number, number]));
  }],
  // Each in its domain: sigmoid, tanh, SiLU, GELU, softplus and Mish of anything, exp of a tanh, log, sqrt and divisors of positive(·).
  math: [[0, 4], (g, rng, a) => {
    const kind = rng.pick(['exp', 'log', 'sqrt', 'sigmoid', 'tanh', 'silu', 'gelu', 'geluTanh', 'softplus', 'mish', 'logsigmoid', 'softsign', 'tanhshrink', 'div'] as const);
    if (kind === 'div') {
      const b = partner(g, rng, a);
      const [num, den] = rng.next() < 0.3 ? [b, a] : [a, b];
      return binary(g, 'div', num, positive(g, den));
    }
    return unary(g, kind, kind === 'exp' ? unary(g, 'tanh', a) : kind === 'log' || kind === 'sqrt' ? positive(g, a) : a);
  }],
  // abs, leakyRelu, elu, selu, clamp, maximum and minimum anywhere (their kinks kept KINK away), pow
  // with p = 2 or 3 anywhere and other exponents of positive(·).
  piecewise: [[0, 4], (g, rng, a) => {
    const kind = rng.pick(['abs', 'leakyRelu', 'elu', 'selu', 'clamp', 'maximum', 'minimum', 'pow'] as const);
    if (kind === 'abs' || kind === 'leakyRelu' || kind === 'elu' || kind === 'selu') return unary(g, kind, a);
    if (kind === 'maximum' || kind === 'minimum') {
      const b = partner(g, rng, a);
      return binary(g, kind, ...((rng.next() < 0.3 ? [b, a] : [a, b]) as [number, number]));
    }
    if (kind === 'clamp') {
      const [lo, hi] = rng.pick([[-0.5, 0.5], [0, undefined], [undefined, 0.25], [-1.5, -0.5]] as const);
      const c = R.refClamp(lo, hi);
      const ref = ([v]: F[]) => v!.map((z) => ((g.margin = Math.min(g.margin, Math.abs(z - (lo ?? -Infinity)), Math.abs(z - (hi ?? Infinity)))), c.f(z)));
      return g.op('clamp', `${lo}, ${hi}`, g.shape(a), [a], ([p]) => clamp(p!, lo, hi), ref, (gr, [v]) => [gr.map((w, i) => w * c.df(v![i]!))]);
    }
    const p = rng.pick([2, 3, 0.5, -1, 1.5, -2.5]);
    const x = p === 2 || p === 3 ? a : positive(g, a);
    const { f, df } = R.refPow(p);
    return g.op('pow', `${p}`, g.shape(x), [x], ([q]) => pow(q!, p), ([v]) => v!.map(f), (gr, [v]) => [gr.map((w, i) => w * df(v![i]!))]);
  }],
  relu: [[0, 5], (g, _, x) => {
    const ref = ([v]: F[]) => v!.map((z) => ((g.margin = z ? Math.min(g.margin, Math.abs(z)) : g.margin), Math.max(z, 0)));
    return g.op('relu', '', g.shape(x), [x], ([p]) => relu(p!), ref, (gr, _, y) => [gr.map((v, i) => (y[i]! > 0 ? v : 0))]);
  }],
  scale: [[0, 5], (g, rng, x) => {
    const c = rng.pick([-1.5, 0.5, 3]);
    return g.op('scale', `${c}`, g.shape(x), [x], ([p]) => scale(p!, c), ([v]) => v!.map((z) => z * c), (gr) => [gr.map((v) => v * c)]);
  }],
  matmul: [[2, 3], (g, rng, a) => {
    const [sa, transA, self] = [g.shape(a), rng.next() < 0.4, rng.next() < 0.25]; // self: a·aᵀ or aᵀ·a, a read twice
    const batchA = sa.length === 3 ? sa[0]! : 0;
    const [M, K] = (transA ? sa.slice(-2).reverse() : sa.slice(-2)) as [number, number];
    const [transB, N] = self ? [!transA, M] : [rng.next() < 0.4, rng.pick(DIMS)];
    const batchB = self ? batchA : batchA ? rng.pick([batchA, 0]) : rng.pick([0, 0, 3]);
    const b = self ? a : g.leaf([...(batchB ? [batchB] : []), ...(transB ? [N, K] : [K, N])]);
    const sumBatch = batchA > 0 && batchB > 0 && rng.next() < 0.3;
    const bias = rng.pick(['none', 'none', 'row', 'col'] as const);
    const c: R.MatmulCfg = { M, N, K, batchA, batchB, transA, transB, bias, sumBatch };
    const args = bias === 'none' ? [a, b] : [a, b, g.leaf([bias === 'row' ? M : N])];
    const attrs = [transA && 'transA', transB && 'transB', bias !== 'none' && `bias per ${bias}`, sumBatch && 'sumBatch'].filter(Boolean).join(', ');
    const gpu = ([p, q, r]: Tensor[]) => matmul(p!, q!, { transA, transB, sumBatch, ...(r ? { bias: r, biasAxis: bias as 'row' | 'col' } : {}) });
    const shape = [...(Math.max(batchA, batchB) && !sumBatch ? [Math.max(batchA, batchB)] : []), M, N];
    return g.op('matmul', attrs, shape, args, gpu, ([p, q, r]) => R.refMatmul(c, p!, q!, r), (gr, [p, q]) => R.refMatmulGrad(c, p!, q!, gr));
  }],
  linear: [[1, 5], (g, rng, x) => {
    if (g.shape(x).length > 3 || rng.next() < 0.2) x = view(g, x, [g.shape(x)[0]!, -1]); // a CNN's head: K up to MAX_ELEMENTS
    const s = g.shape(x);
    const [K, N] = [s[s.length - 1]!, rng.pick(DIMS)];
    const args = [x, g.leaf([N, K]), ...(rng.next() < 0.6 ? [g.leaf([N])] : [])];
    const c: R.MatmulCfg = { M: numel(s) / K, N, K, batchA: 0, batchB: 0, transA: false, transB: true, bias: args[2] ? 'col' : 'none', sumBatch: false };
    return g.op('linear', '', [...s.slice(0, -1), N], args, ([p, w, b]) => linear(p!, w!, b), ([p, w, b]) => R.refMatmul(c, p!, w!, b), (gr, [p, w]) => R.refMatmulGrad(c, p!, w!, gr));
  }],
  conv2d: [[4, 4], (g, rng, x) => {
    const [N, C, H, W] = g.shape(x) as [number, number, number, number];
    const [KH, KW, sh, sw, ph, pw, dh, dw] = [rng.int(1, 3), rng.int(1, 3), rng.int(1, 2), rng.int(1, 2), rng.int(0, 1), rng.int(0, 1), rng.int(1, 2), rng.int(1, 2)];
    const groups = C % 2 === 0 && rng.next() < 0.3 ? 2 : 1;
    const c: R.ConvCfg = { N, C, H, W, O: groups * rng.int(1, 2), KH, KW, sh, sw, ph, pw, dh, dw, groups, bias: rng.next() < 0.6 };
    const [OH, OW] = R.convOutHW(c);
    if (OH < 1 || OW < 1) return undefined;
    const args = [x, g.leaf(R.convShapes(c)[1]!), ...(c.bias ? [g.leaf([c.O])] : [])];
    const opts = { stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number], dilation: [dh, dw] as [number, number], groups };
    const gpu = ([p, w, b]: Tensor[]) => conv2d(p!, w!, b, opts);
    return g.op('conv2d', `stride ${fmt(opts.stride)}, padding ${fmt(opts.padding)}, dilation ${fmt(opts.dilation)}, groups ${groups}`, [N, c.O, OH, OW], args, gpu, ([p, w, b]) => R.refConv(c, p!, w!, b), (gr, [p, w]) => R.refConvGrad(c, p!, w!, gr));
  }],
  convTranspose2d: [[4, 4], (g, rng, x) => {
    const [N, C, H, W] = g.shape(x) as [number, number, number, number];
    const [KH, KW, sh, sw, ph, pw, dh, dw] = [rng.int(1, 3), rng.int(1, 3), rng.int(1, 2), rng.int(1, 2), rng.int(0, 1), rng.int(0, 1), rng.int(1, 2), rng.int(1, 2)];
    const groups = C % 2 === 0 && rng.next() < 0.3 ? 2 : 1;
    const [oph, opw] = [rng.int(0, Math.max(sh, dh) - 1), rng.int(0, Math.max(sw, dw) - 1)];
    const c: R.ConvTCfg = { N, C, H, W, O: groups * rng.int(1, 2), KH, KW, sh, sw, ph, pw, oph, opw, dh, dw, groups, bias: rng.next() < 0.6 };
    const [OH, OW] = R.convTOutHW(c);
    if (OH - oph < 1 || OW - opw < 1 || N * c.O * OH * OW > MAX_ELEMENTS) return undefined;
    const args = [x, g.leaf(R.convTShapes(c)[1]!), ...(c.bias ? [g.leaf([c.O])] : [])];
    const opts = { stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number], outputPadding: [oph, opw] as [number, number], dilation: [dh, dw] as [number, number], groups };
    const gpu = ([p, w, b]: Tensor[]) => convTranspose2d(p!, w!, b, opts);
    const text = `stride ${fmt(opts.stride)}, padding ${fmt(opts.padding)}, output padding ${fmt(opts.outputPadding)}, dilation ${fmt(opts.dilation)}, groups ${groups}`;
    return g.op('convTranspose2d', text, [N, c.O, OH, OW], args, gpu, ([p, w, b]) => R.refConvTranspose(c, p!, w!, b), (gr, [p, w]) => R.refConvTransposeGrad(c, p!, w!, gr));
  }],
  resample: [[4, 4], (g, rng, x) => {
    const [N, C, H, W] = g.shape(x) as [number, number, number, number];
    const c: R.ResampleCfg = { N, C, H, W, OH: rng.int(1, 7), OW: rng.int(1, 7), mode: rng.pick(['adaptive', 'nearest', 'nearest-exact', 'bilinear'] as const) };
    if (c.mode === 'bilinear' && rng.next() < 0.5) c.alignCorners = true;
    if (N * C * c.OH * c.OW > MAX_ELEMENTS) return undefined;
    const gpu = ([p]: Tensor[]) =>
      c.mode === 'adaptive' ? adaptiveAvgPool2d(p!, [c.OH, c.OW]) : interpolate(p!, { size: [c.OH, c.OW], mode: c.mode, ...(c.alignCorners ? { alignCorners: true } : {}) });
    const text = `${c.mode === 'adaptive' ? 'adaptiveAvgPool2d' : `interpolate ${c.mode}${c.alignCorners ? ' aligned' : ''}`} to ${c.OH}×${c.OW}`;
    return g.op('resample', text, [N, C, c.OH, c.OW], [x], gpu, ([p]) => R.refResample(c, p!), (gr) => [R.refResampleGrad(c, gr)]);
  }],
  pad: [[1, 4], (g, rng, x) => {
    const shape = g.shape(x);
    const mode = rng.pick(['constant', 'reflect', 'replicate', 'circular'] as const);
    const dims = shape.length >= 2 && rng.next() < 0.7 ? 2 : 1;
    const padding: number[] = [];
    for (let k = 0; k < dims; k++) {
      const size = shape[shape.length - 1 - k]!;
      const most = Math.min(2, mode === 'reflect' ? size - 1 : size);
      padding.push(rng.int(mode === 'constant' && size > 1 ? -1 : 0, most), rng.int(0, most));
    }
    const c: R.PadCfg = { shape, padding, mode, value: mode === 'constant' ? rng.pick([0, 1.5]) : 0 };
    const out = R.padOutShape(c);
    if (numel(out) > MAX_ELEMENTS) return undefined;
    const gpu = ([p]: Tensor[]) => pad(p!, padding, { mode, ...(mode === 'constant' ? { value: c.value } : {}) });
    return g.op('pad', `${JSON.stringify(padding)} ${mode}${c.value ? ` ${c.value}` : ''}`, out, [x], gpu, ([p]) => R.refPad(c, p!), (gr) => [R.refPadGrad(c, gr)]);
  }],
  maxPool2d: [[4, 4], (g, rng, x) => {
    const [N, C, H, W] = g.shape(x) as [number, number, number, number];
    const [kh, kw] = [rng.int(1, 3), rng.int(1, 3)];
    const stride = rng.next() < 0.5 ? undefined : ([rng.int(1, 2), rng.int(1, 2)] as [number, number]);
    const c: R.PoolCfg = { N, C, H, W, kh, kw, ...(stride ? { stride } : {}), ph: rng.int(0, kh >> 1), pw: rng.int(0, kw >> 1), ...(rng.next() < 0.3 ? { ceil: true } : {}) };
    const [OH, OW] = R.poolOutHW(c);
    if (OH < 1 || OW < 1) return undefined;
    const opts = R.poolOptions(c);
    const ref = ([v]: F[]) => ((g.margin = Math.min(g.margin, R.poolMargin(c, v!))), R.refPool(c, v!));
    const attrs = `kernel ${fmt([kh, kw])}, stride ${stride ? fmt(stride) : 'default'}, padding ${fmt([c.ph, c.pw])}${c.ceil ? ', ceil mode' : ''}`;
    return g.op('maxPool2d', attrs, [N, C, OH, OW], [x], ([p]) => maxPool2d(p!, opts), ref, (gr, [v]) => [R.refPoolGrad(c, v!, gr)]);
  }],
  reduce: [[1, 5], (g, rng, x) => {
    const r = g.shape(x).length;
    const axes = [...Array(r).keys()].filter(() => rng.next() < 0.5).map((a) => (rng.next() < 0.3 ? a - r : a));
    return reduce(g, x, rng.pick(['sum', 'mean'] as const), rng.next() < 0.2 ? undefined : axes.length ? axes : [rng.int(0, r - 1)], rng.next() < 0.4);
  }],
  view: [[0, 5], (g, rng, x) => {
    const s = g.shape(x);
    if (s.length >= 2 && rng.next() < 0.4) {
      const [from, to] = [rng.int(0, s.length - 1), rng.int(0, s.length - 1)].sort((p, q) => p - q) as [number, number];
      return view(g, x, [...s.slice(0, from), numel(s.slice(from, to + 1)), ...s.slice(to + 1)], [from, to]);
    }
    const dims = Array<number>(rng.int(1, 4)).fill(1); // the prime factors of the size, dealt out
    for (let n = numel(s), p = 2; n > 1; ) n % p ? p++ : ((n /= p), (dims[rng.int(0, dims.length - 1)]! *= p));
    if (rng.next() < 0.3) dims[rng.int(0, dims.length - 1)] = -1;
    return view(g, x, dims);
  }],
  transpose: [[2, 5], (g, _, x) => {
    const s = g.shape(x);
    const out = [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
    return g.op('transpose', '', out, [x], ([p]) => transpose(p!), ([v]) => R.refTranspose(v!, s), (gr) => [R.refTranspose(gr, out)]);
  }],
  permute: [[2, 5], (g, rng, x) => {
    const s = g.shape(x);
    const order = s.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const out = order.map((d) => s[d]!);
    // As a gather of each output element's source: the permutation read off a flat index.
    const src = (from: number[], by: number[]) => (v: F) => {
      const strides = from.map((_, d) => from.slice(d + 1).reduce((a, b) => a * b, 1));
      const to = by.map((d) => from[d]!);
      return Float64Array.from(v, (_, j) => {
        let [rest, at] = [j, 0];
        for (let k = to.length - 1; k >= 0; k--) [at, rest] = [at + (rest % to[k]!) * strides[by[k]!]!, Math.floor(rest / to[k]!)];
        return v[at]!;
      });
    };
    const back = order.map((_, i) => order.indexOf(i));
    return g.op('permute', JSON.stringify(order), out, [x], ([p]) => permute(p!, order), ([v]) => src(s, order)(v!), (gr) => [src(out, back)(gr)]);
  }],
  narrow: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const axis = rng.int(-s.length, s.length - 1);
    const a = axis < 0 ? axis + s.length : axis;
    const start = rng.int(0, s[a]! - 1);
    const length = rng.int(1, s[a]! - start);
    const out = R.withAxis(s, a, length);
    return g.op('narrow', `axis ${axis}, ${start}, ${length}`, out, [x], ([p]) => narrow(p!, axis, start, length), ([v]) => R.refNarrow(v!, s, a, start, length), (gr) => [R.refNarrowGrad(gr, out, a, start, s[a]!)]);
  }],
  concat: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const a = rng.int(0, s.length - 1);
    const fits = (t: number[]) => t.length === s.length && t.every((d, i) => i === a || d === s[i]);
    // Another node that fits (at times x itself, read twice), or a new leaf.
    const y = rng.next() < 0.4 ? g.pick(fits) : undefined;
    const args = [x, y ?? g.leaf(R.withAxis(s, a, rng.pick(DIMS)))];
    if (rng.next() < 0.3) args.reverse();
    const shapes = args.map((i) => g.shape(i));
    const out = R.withAxis(s, a, shapes[0]![a]! + shapes[1]![a]!);
    const vjp = (gr: F) => [R.refNarrow(gr, out, a, 0, shapes[0]![a]!), R.refNarrow(gr, out, a, shapes[0]![a]!, shapes[1]![a]!)];
    return g.op('concat', `axis ${a}`, out, args, (ps) => concat(ps, a), (vs) => R.refConcat(vs, shapes, a), vjp);
  }],
  softmax: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const axis = rng.int(-s.length, s.length - 1);
    const a = axis < 0 ? axis + s.length : axis;
    return g.op('softmax', `axis ${axis}`, s, [x], ([p]) => softmax(p!, axis), ([v]) => R.refSoftmax(v!, s, a), (gr, [v]) => [R.refSoftmaxGrad(v!, gr, s, a)]);
  }],
  logSoftmax: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const axis = rng.int(-s.length, s.length - 1);
    const a = axis < 0 ? axis + s.length : axis;
    return g.op('logSoftmax', `axis ${axis}`, s, [x], ([p]) => logSoftmax(p!, axis), ([v]) => R.refLogSoftmax(v!, s, a), (gr, [v]) => [R.refLogSoftmaxGrad(v!, gr, s, a)]);
  }],
  logSumExp: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const [axis, keepDims] = [rng.int(-s.length, s.length - 1), rng.next() < 0.4];
    const a = axis < 0 ? axis + s.length : axis;
    const r = R.refLogSumExp(s, a);
    const out = keepDims ? R.withAxis(s, a, 1) : s.filter((_, i) => i !== a);
    return g.op('logSumExp', `axis ${axis}${keepDims ? ', keepDims' : ''}`, out, [x], ([p]) => logSumExp(p!, axis, keepDims), ([v]) => r.forward(v!), (gr, [v]) => [r.grad(v!, gr)]);
  }],
  // Ties (ReLU's zeros) split the gradient alike in f32 and float64; near-ties are kinks.
  max: [[1, 5], (g, rng, x) => {
    const s = g.shape(x);
    const r0 = s.length;
    const picked = [...Array(r0).keys()].filter(() => rng.next() < 0.5).map((a) => (rng.next() < 0.3 ? a - r0 : a));
    const axes = rng.next() < 0.2 ? undefined : picked.length ? picked : [rng.int(0, r0 - 1)];
    const keepDims = rng.next() < 0.4;
    const red = (axes ?? s.map((_, i) => i)).map((a) => (a < 0 ? a + r0 : a));
    const r = R.refMax(s, red);
    const ref = ([v]: F[]) => ((g.margin = Math.min(g.margin, r.margin(v!))), r.forward(v!));
    const attrs = `${axes ? `axes [${axes}]` : ''}${keepDims ? ', keepDims' : ''}`;
    return g.op('max', attrs, keepDims ? r.kept : s.filter((_, i) => !red.includes(i)), [x], ([p]) => max(p!, axes, keepDims), ref, (gr, [v]) => [r.grad(v!, gr)]);
  }],
  softmaxCrossEntropy: [[1, 5], (g, _, x) => {
    const s = g.shape(x);
    if (s.length !== 2) x = view(g, x, s.length === 1 ? [1, s[0]!] : [s[0]!, -1]);
    const [B, C] = g.shape(x) as [number, number];
    const labels = g.leaf([B], 'labels', C);
    const ref = ([v, l]: F[]) => R.refXent(v!, Int32Array.from(l!), C);
    return g.op('softmaxCrossEntropy', '', [], [x, labels], ([p, l]) => softmaxCrossEntropy(p!, l!), ref, (gr, [v, l]) => [R.refXentGrad(v!, Int32Array.from(l!), C, gr[0]!), null]);
  }],
};

/** Applies op `kind` to a node of a rank it takes, or to a new leaf (see OPS). */
function apply(g: Graph, rng: Rng, kind: string, x?: number): number | undefined {
  const [[lo, hi], make] = OPS[kind]!;
  x ??= g.pick((s) => s.length >= lo && s.length <= hi) ?? g.leaf(Array.from({ length: rng.int(Math.max(lo, 1), Math.min(hi, 4)) }, () => rng.pick(DIMS)));
  return make(g, rng, x);
}

/** `ops` random ops; the loss adds Σ(node · r) of every node nothing reads and of a few others. */
function randomGraph(rng: Rng, ops: number): Graph {
  const g = new Graph(rng);
  g.leaf([rng.pick(DIMS), rng.pick(DIMS), rng.pick(DIMS)], 'input');
  for (let made = 0; made < ops; ) {
    const [kind, before] = [rng.pick(Object.keys(OPS)), g.nodes.length];
    let n = apply(g, rng, kind);
    // As networks stack layers: a ReLU after a product (fused into it), max pooling after that.
    if (n !== undefined && ['matmul', 'linear', 'conv2d'].includes(kind) && rng.next() < 0.4) n = apply(g, rng, 'relu', n);
    if (n !== undefined && kind === 'conv2d' && rng.next() < 0.6) n = apply(g, rng, 'maxPool2d', n) ?? n;
    if (n !== undefined && numel(g.shape(n)) <= MAX_ELEMENTS) made++;
    else g.nodes.splice(before); // nothing fitted, or too large: dropped with its new leaves
  }
  const read = new Set(g.nodes.flatMap((n) => n.args));
  const ends = g.nodes.flatMap((n, i) => (!n.leaf && (!read.has(i) || rng.next() < 0.15) ? [i] : []));
  const terms = ends.map((i) => reduce(g, binary(g, 'mul', i, g.leaf([...g.shape(i)], 'param')), 'sum', undefined, false));
  g.loss = terms.reduce((acc, t) => binary(g, 'add', acc, t));
  g.leaf([rng.pick(DIMS), rng.pick(DIMS)], 'input'); // feeds nothing
  const outs = g.nodes.flatMap((n, i) => (i !== g.loss && rng.next() < (n.leaf ? 0.1 : 0.3) ? [i] : []));
  for (const [i, n] of g.nodes.entries()) if ((n.kind === 'reshape' || n.kind === 'flatten') && rng.next() < 0.6) outs.push(i, n.args[0]!); // a view and its base
  g.outs = [...new Set(outs)].sort((a, b) => a - b);
  // Some leaves (so rules are asked for only some of their inputs' gradients), a few intermediates, at times the loss itself.
  const some = g.ofKind('input', 'param').filter(() => rng.next() < 0.6);
  // At least one the loss reads (the last input feeds nothing, n0 may not either): grad refuses a loss computed from none of them.
  const reads = new Set(g.nodes.flatMap((n) => n.args));
  g.wrt = [...(some.some((i) => reads.has(i)) ? some : [...some, g.ofKind('input', 'param').find((i) => reads.has(i))!]), ...g.nodes.flatMap((n, i) => (!n.leaf && rng.next() < (i === g.loss ? 0.3 : 0.1) ? [i] : [])).slice(-3)];
  return g;
}

// ---- running a graph ----

const counted = { graphs: 0, fused: 0, kinked: 0, ops: new Map<string, number>() };

/** The loss and outputs (`n<i>`) and the gradients (`d<i>`, left out near a kink: see KINK). */
function expected(g: Graph, leaves: Map<number, F>): Map<string, F> {
  const vs = g.forward(leaves);
  const gs = g.backward(vs);
  if (g.margin < KINK) counted.kinked++;
  return new Map([...[g.loss, ...g.outs].map((i) => [`n${i}`, vs[i]!] as const), ...(g.margin < KINK ? [] : g.wrt.map((i) => [`d${i}`, gs[i]!] as const))]);
}

function within(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const s = Array.from(want).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(got, want, s > 0 ? (tol * Math.max(1, s)) / s : tol, what);
}

function check(got: Map<string, ArrayLike<number>>, want: Map<string, F>, what: string): void {
  for (const [k, e] of want) within(got.get(k)!, e, TOL, `${what} ${k}`);
}

const host = (g: Graph, i: number, v: F) => (g.nodes[i]!.leaf === 'labels' ? Int32Array.from(v) : f32(v));
const hostArrays = (g: Graph, leaves: Map<number, F>) => Object.fromEntries(g.ofKind('input', 'labels').map((i) => [`n${i}`, host(g, i, leaves.get(i)!)]));

const readAll = async (out: Record<string, Tensor>) => new Map<string, ArrayLike<number>>(await Promise.all(Object.entries(out).map(async ([k, t]) => [k, await t.read()] as const)));

/** The graph compiled on `rt`, the params uploaded there: its loss, outputs and gradients. */
function compileOn(rt: Runtime, g: Graph, params: Map<number, F>) {
  const held = new Map([...params].map(([i, v]) => [i, rt.tensor(f32(v), g.shape(i))]));
  const specs = Object.fromEntries(g.ofKind('input', 'labels').map((i) => [`n${i}`, { shape: g.shape(i), dtype: g.nodes[i]!.leaf === 'labels' ? ('i32' as const) : ('f32' as const) }]));
  return rt.compile((xs) => {
    const ts = g.build((i) => xs[`n${i}`] ?? held.get(i)!);
    const gs = grad(ts[g.loss]!, g.wrt.map((i) => ts[i]!));
    return Object.fromEntries([...[g.loss, ...g.outs].map((i) => [`n${i}`, ts[i]!]), ...g.wrt.map((i, k) => [`d${i}`, gs[k]!])]);
  }, specs);
}

/** Eagerly: half the values realised together, then all read in a random order (each read plans what is still lazy), then the gradients. */
async function eager(rt: Runtime, g: Graph, leaves: Map<number, F>, rng: Rng): Promise<Map<string, ArrayLike<number>>> {
  const ts = g.build((i) => rt.tensor(host(g, i, leaves.get(i)!), g.shape(i)));
  const order = [g.loss, ...g.outs].map((i) => [rng.next(), i] as const).sort(([p], [q]) => p - q).map(([, i]) => i);
  await rt.realize(order.slice(0, order.length >> 1).map((i) => ts[i]!));
  const got = new Map<string, ArrayLike<number>>();
  for (const i of order) got.set(`n${i}`, await ts[i]!.read());
  const gs = grad(ts[g.loss]!, g.wrt.map((i) => ts[i]!));
  await rt.realize(gs);
  for (const [k, i] of g.wrt.entries()) got.set(`d${i}`, await gs[k]!.read());
  return got;
}

const seeds = seedList(process.env.FOVEA_GRAPH_SEEDS, '1-200');
const created = (rt: Runtime) => {
  const s = rt.stats();
  return { buffers: s.buffersCreated, pipelines: s.pipelinesCreated, bindGroups: s.bindGroupsCreated, programs: s.programsBuilt };
};

describe('random graphs of the public ops', () => {
  afterAll(() => {
    const ops = [...counted.ops].sort(([, p], [, q]) => q - p);
    const total = ops.reduce((n, [, k]) => n + k, 0);
    console.log(`random graphs: ${counted.graphs} graphs of ${total} ops (${ops.map(([k, n]) => `${k} ${n}`).join(', ')}); ${counted.fused} ops fused; ${counted.kinked} input sets near a kink`);
  });

  it.each(seeds)('seed %i: eager and compiled, poisoned or not, replayed, against float64 values and gradients', async (seed) => {
    const rng = new Rng(seed);
    // Work split as on a CPU adapter (even seeds) or as on a GPU (odd: shared tiles, batch and
    // sum splits), whatever this adapter is; ops choose their kernels as they are recorded.
    const software = seed % 2 === 0;
    for (const r of [poisoned(), plain()]) (r.adapter as { software: boolean }).software = software;
    const g = randomGraph(rng, rng.int(6, 12));
    try {
      const params = g.values(rng, ['param']);
      const [first, second] = [0, 1].map(() => new Map([...params, ...g.values(rng, ['input', 'labels'])])) as [Map<number, F>, Map<number, F>];
      const want = expected(g, first);
      // The reference's analytic gradients against central differences: a few entries of two leaves.
      const leaves = g.wrt.filter((i) => g.nodes[i]!.leaf);
      for (const i of want.has(`d${leaves[0]}`) ? [rng.pick(leaves), rng.pick(leaves)] : []) {
        const at = Array.from({ length: 3 }, () => rng.int(0, numel(g.shape(i)) - 1));
        const fd = finiteDiff((v) => g.forward(new Map([...first, [i, v]]))[g.loss]![0]!, first.get(i)!.slice(), 1e-6, at);
        within(at.map((j) => fd.get(j)!), at.map((j) => want.get(`d${i}`)![j]!), 1e-6, `reference d/dn${i} at ${at}, against finite differences`);
      }
      // Compiled, freed buffers poisoned: run again bit for bit, creating nothing.
      const rt = poisoned();
      const p = await compileOn(rt, g, params);
      counted.fused += p.stats.fused;
      const run1 = await readAll(p.run(hostArrays(g, first)));
      check(run1, want, 'compiled');
      const before = created(rt);
      const out2 = p.run(hostArrays(g, first));
      const run2 = await readAll(out2);
      for (const [k, v] of run1) expectSame(run2.get(k)!, v, `compiled ${k}, run again`);
      expect(created(rt), 'created by the second run').toEqual(before);
      // New inputs: host arrays, or outputs of the run before of the same shape (fed back).
      const feed: Record<string, Tensor | HostArray> = hostArrays(g, second);
      const fedBack: string[] = [];
      for (const i of g.ofKind('input', 'labels')) {
        const node = g.nodes[i]!;
        // Labels from labels of no more classes: a label past the classes is a NaN loss.
        const classesFit = (k: string) => node.leaf !== 'labels' || (g.nodes[Number(k.slice(1))]!.classes ?? Infinity) <= node.classes!;
        const fits = Object.keys(out2).filter((k) => fmt(out2[k]!.shape) === fmt(g.shape(i)) && out2[k]!.dtype === (node.leaf === 'labels' ? 'i32' : 'f32') && classesFit(k));
        if (!fits.length || rng.next() < 0.5) continue;
        const k = rng.pick(fits);
        [feed[`n${i}`], fedBack[fedBack.length]] = [out2[k]!, `n${i} ← output ${k}`];
        second.set(i, Float64Array.from(run2.get(k)!));
      }
      check(await readAll(p.run(feed)), expected(g, second), `compiled, new inputs (fed back: ${fedBack.join(', ') || 'none'})`);
      expect({ ...created(rt), bindGroups: 0 }, 'created by the third run (bind groups aside: tensors bound)').toEqual({ ...before, bindGroups: 0 });
      // Without poisoning: the same bits.
      const q = await compileOn(plain(), g, params);
      const unpoisoned = await readAll(q.run(hostArrays(g, first)));
      for (const [k, v] of run1) expectSame(unpoisoned.get(k)!, v, `compiled without poisoning ${k}`);
      check(await eager(rt, g, first, rng), want, 'eager');
      p.dispose();
      q.dispose();
    } catch (e) {
      const how = `split as on a ${software ? 'CPU' : 'GPU'}; FOVEA_GRAPH_SEEDS=${seed} runs it alone`;
      throw new Error(`random graph of seed ${seed} (${how}):\n${g.describe()}\n${(e as Error).message}`, { cause: e });
    }
    counted.graphs++;
    for (const n of g.nodes) if (!n.leaf) counted.ops.set(n.kind, (counted.ops.get(n.kind) ?? 0) + 1);
  });
});
