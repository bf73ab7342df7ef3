// Comparisons and where against PyTorch 1.13: eq, ne, lt, le, gt, ge as (a OP b).float() on f32
// operands with NaN, ±0 and ±inf among them and on i32 ones, broadcasting and with numbers;
// torch.where with all three operands broadcast, its gradients; the errors. Past 65,536 elements,
// under both work splits, against a host reference per element (the walk over broadcast axes).
import { describe, expect, it } from 'vitest';
import { argmax, eq, ge, grad, gt, le, lt, mean, mul, ne, ShapeError, sum, where, type Tensor } from '../src/index.js';
import { expectClose, expectSame, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { torchJson } from './oracle.js';
import { broadcastIndex } from './references.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

const OPS = { eq, ne, lt, le, gt, ge } as const;
const TORCH = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' } as const;

// Values with ties, both zeros, infinities and NaN, so each comparison meets each case.
const SPECIAL = [0, -0, 1, -1, 2.5, Infinity, -Infinity, NaN];
const pickFrom = (rng: Rng, n: number) => Array.from({ length: n }, () => SPECIAL[rng.int(0, SPECIAL.length - 1)]!);
const json = (v: readonly number[]) => v.map((x) => (Number.isNaN(x) ? 'nan' : Object.is(x, -0) ? '-0.0' : String(x)));

describe('comparisons', () => {
  const cases: [number[], number[]][] = [[[7], [7]], [[3, 5], [5]], [[2, 1, 4], [3, 1]], [[1], [2, 3, 5]], [[6, 1], [1, 9]], [[1, 3, 1, 5], [2, 1, 7, 1]]];

  it("give PyTorch's (a OP b).float() for f32 operands, broadcasting, NaN equal to nothing, −0 equal to 0", async () => {
    const rng = new Rng(1);
    const data = cases.map(([sa, sb]) => ({ sa, sb, a: pickFrom(rng, sa.reduce((x, y) => x * y, 1)), b: pickFrom(rng, sb.reduce((x, y) => x * y, 1)) }));
    const want = torchJson<Record<string, number[][]>>(`
import json, sys, torch
d = json.load(sys.stdin)
out = {}
for op in ${JSON.stringify(Object.values(TORCH))}:
    out[op] = []
    for c in d:
        a = torch.tensor([float(v) for v in c['a']]).reshape(c['sa'])
        b = torch.tensor([float(v) for v in c['b']]).reshape(c['sb'])
        out[op].append(eval('(a ' + op + ' b)').float().flatten().tolist())
print(json.dumps(out))`, JSON.stringify(data.map((c) => ({ ...c, a: json(c.a), b: json(c.b) }))));
    for (const [name, f] of Object.entries(OPS)) {
      data.forEach((c, i) => {
        const y = f(rt().tensor(f32(c.a), c.sa), rt().tensor(f32(c.b), c.sb));
        expect(y.dtype).toBe('f32');
        void y.read().then((v) => expect(Array.from(v), `${name} ${JSON.stringify(c)}`).toEqual(want[TORCH[name as keyof typeof TORCH]]![i]));
      });
    }
    await rt().sync();
  });

  it('compare i32 tensors (class indices and labels: the accuracy on the GPU), and a number as either operand', async () => {
    const a = [0, 5, -3, 2147483647, -2147483648, 7];
    const b = [0, 4, -3, 2147483646, -2147483648, 8];
    const [x, y] = [rt().tensor(Int32Array.from(a)), rt().tensor(Int32Array.from(b))];
    // 2147483647 and 2147483646 are one f32: compared as integers, not as floats.
    expect(Array.from(await eq(x, y).read())).toEqual([1, 0, 1, 0, 1, 0]);
    expect(Array.from(await lt(x, y).read())).toEqual([0, 0, 0, 0, 0, 1]);
    expect(Array.from(await ge(x, 5).read())).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(await gt(-3, x).read())).toEqual([0, 0, 0, 0, 1, 0]);
    expect(Array.from(await le(rt().tensor([0.5, NaN, 1]), 0.5).read())).toEqual([1, 0, 0]);
    // Logits [3, 4], predicting 1, 0, 2, and labels: two of three right.
    const logits = rt().tensor([0.1, 2, 0.3, 0, 5, 1, 0, 0, 0, 0, 3, 1], [3, 4]);
    expect(await mean(eq(argmax(logits), rt().tensor(Int32Array.from([1, 0, 3])))).item()).toBeCloseTo(2 / 3, 7);
  });

  it('have no gradient (a mask is a constant), and refuse mixed dtypes, an i32 compared with a fraction, and two numbers', async () => {
    const x = rt().tensor([-1, 2, 3]);
    const [g] = grad(sum(mul(gt(x, 0), x)), [x]);
    expect(Array.from(await g!.read())).toEqual([0, 1, 1]);
    // A mask alone carries no gradient: refused, as PyTorch's bool has no grad_fn, not zeros.
    expect(() => grad(sum(gt(x, 1)), [x])).toThrow(/^grad: sum output \[\] f32 was not computed from tensor \[3\] f32 \(a program's output, a detached or uploaded tensor, a comparison's mask carries no history\)/);
    const ints = rt().tensor(Int32Array.from([1, 2]));
    expect(() => eq(ints, rt().tensor([1, 2]))).toThrow(new ShapeError('eq', 'compares two f32 or two i32 tensors, got i32 and f32', [[2], [2]]));
    expect(() => eq(ints, 1.5)).toThrow(/^eq: compares tensor \[2\] i32 with the number 1\.5, which is no i32$/);
    expect(() => lt(rt().zeros([2, 3]), rt().zeros([3, 2]))).toThrow(/^lt: shapes \[2, 3\], \[3, 2\] do not broadcast$/);
    expect(() => ne(1 as unknown as Tensor, 2)).toThrow(/^ne: a or b must be a Tensor, got the numbers 1 and 2$/);
  });
});

describe('where', () => {
  it('picks as torch.where(cond != 0, a, b), all three broadcast, NaN a true condition; gradients to a and b where each was picked', async () => {
    const rng = new Rng(2);
    const shapes: [number[], number[], number[]][] = [[[5], [5], [5]], [[2, 1, 3], [4, 1], [3]], [[1], [2, 3], [2, 1]], [[3, 1, 1], [1, 4, 1], [1, 1, 5]]];
    const data = shapes.map(([sc, sa, sb]) => {
      const n = (s: number[]) => s.reduce((x, y) => x * y, 1);
      return { sc, sa, sb, c: Array.from({ length: n(sc) }, () => [0, -0, 1, NaN, -2][rng.int(0, 4)]!), a: Array.from(f32(rng.array(n(sa)))), b: Array.from(f32(rng.array(n(sb)))) };
    });
    const want = torchJson<{ y: number[]; ga: number[]; gb: number[] }[]>(`
import json, sys, torch
out = []
for d in json.load(sys.stdin):
    c = torch.tensor([float(v) for v in d['c']]).reshape(d['sc'])
    a = torch.tensor(d['a']).reshape(d['sa']).requires_grad_()
    b = torch.tensor(d['b']).reshape(d['sb']).requires_grad_()
    y = torch.where(c != 0, a, b)
    w = torch.sin(torch.arange(y.numel(), dtype=torch.float32)).reshape(y.shape)
    (y * w).sum().backward()
    out.append({'y': y.flatten().tolist(), 'ga': a.grad.flatten().tolist(), 'gb': b.grad.flatten().tolist()})
print(json.dumps(out))`, JSON.stringify(data.map((d) => ({ ...d, c: json(d.c) }))));
    for (const [i, d] of data.entries()) {
      const [a, b] = [rt().tensor(f32(d.a), d.sa), rt().tensor(f32(d.b), d.sb)];
      const y = where(rt().tensor(f32(d.c), d.sc), a, b);
      const w = rt().tensor(Float32Array.from({ length: y.size }, (_, k) => Math.fround(Math.sin(k))), y.shape);
      const [ga, gb] = grad(sum(mul(y, w)), [a, b]);
      const what = JSON.stringify([d.sc, d.sa, d.sb]);
      expect(Array.from(await y.read()), what).toEqual(want[i]!.y);
      // Summed back over broadcast axes, in an order of their own: within f32 rounding.
      expectClose(await ga!.read(), want[i]!.ga, 1e-6, `${what} a's gradient`);
      expectClose(await gb!.read(), want[i]!.gb, 1e-6, `${what} b's gradient`);
    }
  });

  it('takes numbers for a and b, keeps −0 and NaN where picked, and refuses what is not f32 or does not broadcast', async () => {
    const x = rt().tensor([-0, NaN, -2, 3]);
    const y = await where(ge(x, 0), x, 7).read();
    expect([Object.is(y[0], -0), Number.isNaN(y[1]), y[2], y[3]]).toEqual([true, false, 7, 3]);
    expect(y[1]).toBe(7); // NaN ≥ 0 is false
    expect(Array.from(await where(rt().tensor([1, 0]), 0.5, -0.5).read())).toEqual([0.5, -0.5]);
    expect(() => where(rt().tensor(Int32Array.from([1])), x, x)).toThrow(new ShapeError('where', 'takes an f32 condition (a mask such as eq\'s) and f32 values, got i32, f32 and f32', [[1], [4], [4]]));
    expect(() => where(rt().zeros([2]), x, x)).toThrow(/^where: shapes \[2\], \[4\], \[4\] do not broadcast$/);
  });
});

// A CPU adapter's split runs at most 16·16 workgroups of 256 invocations: past 65,536 elements
// each invocation walks several, its coordinates carried from one to the next (walk.wgsl), which
// smaller tests never reach. Operands broadcast over four runs of axes of odd sizes (301,301
// elements), each element checked against the host's pick through broadcastIndex.
describe('large tensors', () => {
  const SPLITS = [
    ['as on a CPU adapter (each invocation walking several elements)', cpuSplit],
    ['as on a GPU (one element each)', gpuSplit],
  ] as const;
  const size = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);
  const HOST = { eq: (p: number, q: number) => p === q, ne: (p: number, q: number) => p !== q, lt: (p: number, q: number) => p < q, le: (p: number, q: number) => p <= q, gt: (p: number, q: number) => p > q, ge: (p: number, q: number) => p >= q };

  it.each(SPLITS)('where picks per element over 301,301 elements, all three operands broadcast, laid out %s', async (_, rt) => {
    const [sc, sa, sb, so] = [[7, 1, 301, 1], [1, 11, 301, 13], [7, 11, 1, 13], [7, 11, 301, 13]];
    const c = f32(Array.from({ length: size(sc) }, (_, i) => [0, 1, -0, NaN, -2][(i * 7) % 5]!));
    const a = f32(Array.from({ length: size(sa) }, (_, i) => (i % 97) + 1));
    const b = f32(Array.from({ length: size(sb) }, (_, i) => -((i % 89) + 1)));
    const got = await where(rt().tensor(c, sc), rt().tensor(a, sa), rt().tensor(b, sb)).read();
    const [ic, ia, ib] = [broadcastIndex(sc, so), broadcastIndex(sa, so), broadcastIndex(sb, so)];
    // NaN is a true condition, ±0 false (bool(nan) is True).
    expectSame(got, Float32Array.from(ic, (k, i) => (c[k] !== 0 ? a[ia[i]!]! : b[ib[i]!]!)), `where ${JSON.stringify([sc, sa, sb])}`);
  });

  it.each(SPLITS)('comparisons of f32 and of i32 operands over 301,301 broadcast elements, laid out %s', async (_, rt) => {
    const [sa, sb, so] = [[7, 1, 301, 13], [1, 11, 301, 1], [7, 11, 301, 13]];
    // Few distinct values, so ties are common; NaN among the f32s; the i32 extremes, which f32 would round alike.
    const fa = f32(Array.from({ length: size(sa) }, (_, i) => (i % 31 === 0 ? NaN : (i % 5) - 2)));
    const fb = f32(Array.from({ length: size(sb) }, (_, i) => (i % 7) - 3));
    const ints = [-2147483648, -1, 0, 1, 2147483646, 2147483647];
    const na = Int32Array.from({ length: size(sa) }, (_, i) => ints[(i * 5) % 6]!);
    const nb = Int32Array.from({ length: size(sb) }, (_, i) => ints[i % 6]!);
    const [ia, ib] = [broadcastIndex(sa, so), broadcastIndex(sb, so)];
    for (const [kind, a, b] of [['f32', fa, fb], ['i32', na, nb]] as const) {
      const [ta, tb] = [rt().tensor(a, sa), rt().tensor(b, sb)];
      const got = await Promise.all(Object.values(OPS).map((f) => f(ta, tb).read()));
      for (const [k, name] of Object.keys(OPS).entries()) {
        const host = HOST[name as keyof typeof HOST];
        const want = new Float32Array(ia.length);
        for (let i = 0; i < ia.length; i++) want[i] = host(a[ia[i]!]!, b[ib[i]!]!) ? 1 : 0;
        expectSame(got[k]!, want, `${name} of ${kind} ${JSON.stringify([sa, sb])}`);
      }
    }
  });
});
