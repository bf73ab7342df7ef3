// permute against its definition in float64 (out[i_0, …] = x at the indices reordered) on
// random ranks, sizes (ones among them) and orders, with central differences; which kernel each
// order takes (a view, the transpose, the strided copy); inside a compiled step; its errors.
import { describe, expect, it } from 'vitest';
import { grad, mul, permute, sum, transpose, type Tensor } from '../src/index.js';
import { checkOp, expectClose, expectSameOutputs, expectShapeErrors, f32, Rng, useRuntime } from './helpers.js';

const rt = useRuntime();

/** out[j] for each output index j: x at the input index whose coordinate d is output coordinate order.indexOf(d). */
function refPermute(shape: number[], order: number[], x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  const outShape = order.map((d) => shape[d]!);
  const inStrides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  for (let j = 0; j < x.length; j++) {
    let rest = j;
    let src = 0;
    for (let k = outShape.length - 1; k >= 0; k--) {
      src += (rest % outShape[k]!) * inStrides[order[k]!]!;
      rest = Math.floor(rest / outShape[k]!);
    }
    out[j] = x[src]!;
  }
  return out;
}

/** The names of the ops that computed t, back to its inputs. */
function opNames(t: Tensor): string[] {
  const names: string[] = [];
  for (let u: Tensor | undefined = t; u?.op; u = u.op.inputs[0]) names.push(u.op.def.name);
  return names;
}

const shuffled = (rng: Rng, n: number) => {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
};

describe('permute', () => {
  it('matches its definition on random ranks, sizes and orders, with gradients', async () => {
    const rng = new Rng(44);
    for (let t = 0; t < 40; t++) {
      const rank = rng.int(1, 6);
      const shape = Array.from({ length: rank }, () => rng.pick([1, 2, 3, 4, 5]));
      const order = shuffled(rng, rank);
      // Some orders given as negative dimensions, as torch takes them.
      const given = order.map((d) => (rng.next() < 0.2 ? d - rank : d));
      await checkOp(rt(), rng, {
        name: `permute [${shape}] by [${given}]`,
        shapes: [shape],
        gpu: ([x]) => {
          const y = permute(x!, given);
          expect(y.shape).toEqual(order.map((d) => shape[d]!));
          return y;
        },
        ref: ([x]) => refPermute(shape, order, x!),
        refGrad: (_, r) => [refPermute(order.map((d) => shape[d]!), order.map((_, i) => order.indexOf(i)), r)],
        tol: 1e-7,
      });
    }
  });

  it('is a view where only size-1 dimensions move, the transpose kernel where runs of dimensions swap at the end, else a strided copy', async () => {
    const x = rt().tensor(f32(new Rng(2).array(2 * 3 * 4 * 5)), [2, 3, 4, 5]);
    const cases: [number[], number[], string[]][] = [
      [[0, 2, 3, 1], [2, 4, 5, 3], ['reshape', 'transpose', 'reshape']], // NCHW → NHWC: [2, 3, 20] → [2, 20, 3]
      [[0, 3, 1, 2], [2, 5, 3, 4], ['reshape', 'transpose', 'reshape']], // NHWC → NCHW, read as such
      [[0, 2, 1, 3], [2, 4, 3, 5], ['reshape', 'permute', 'reshape']], // the middle two: a strided copy
      [[3, 2, 1, 0], [5, 4, 3, 2], ['reshape', 'permute', 'reshape']],
      [[1, 0, 2, 3], [3, 2, 4, 5], ['reshape', 'permute', 'reshape']], // [2, 3, 20] → [3, 2, 20]
    ];
    const xs = await x.read();
    for (const [order, shape, ops] of cases) {
      const y = permute(x, order);
      expect(y.shape).toEqual(shape);
      expect(opNames(y), JSON.stringify(order)).toEqual(ops);
      expectClose(await y.read(), refPermute([2, 3, 4, 5], order, Float64Array.from(xs)), 0, `permute by ${order}`);
    }
    // Size-1 dimensions moving among the others move no value: a view.
    const u = rt().tensor(f32([1, 2, 3, 4, 5, 6]), [1, 2, 1, 3]);
    const before = rt().stats().dispatches;
    const v = permute(u, [2, 1, 0, 3]);
    expect(v.shape).toEqual([1, 2, 1, 3]);
    expect(opNames(v)).toEqual(['reshape']);
    expect(permute(u, [1, 3, 0, 2]).shape).toEqual([2, 3, 1, 1]);
    expect(Array.from(await permute(u, [1, 0, 3, 2]).read())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rt().stats().dispatches).toBe(before);
  });

  it('runs inside a compiled step as it does eagerly, with its gradient', async () => {
    const rng = new Rng(8);
    const w = rt().tensor(f32(rng.array(4 * 3 * 5)), [4, 3, 5], { requiresGrad: true });
    const step = (x: Tensor) => {
      const y = mul(permute(x, [1, 2, 0]), w);
      const [g] = grad(sum(mul(y, y)), [w]);
      return { y, g: g! };
    };
    const program = await rt().compile(({ x }) => step(x!), { x: [5, 4, 3] });
    for (let run = 0; run < 2; run++) {
      const xs = f32(rng.array(60));
      const got = program.run({ x: xs });
      const want = step(rt().tensor(xs, [5, 4, 3]));
      await expectSameOutputs(got, want, 1e-6, `compiled, run ${run}`);
    }
  });

  it('transpose swaps any two dimensions, as torch.transpose, with gradients: the last two by default', async () => {
    const rng = new Rng(45);
    const shape = [2, 3, 4, 5];
    for (const [d0, d1] of [[0, 1], [1, 3], [-1, 0], [2, -2], [-2, -1], [3, 2]] as [number, number][]) {
      const [a, b] = [(d0 + 4) % 4, (d1 + 4) % 4];
      const order = shape.map((_, d) => (d === a ? b : d === b ? a : d));
      await checkOp(rt(), rng, {
        name: `transpose [${shape}] of ${d0} and ${d1}`,
        shapes: [shape],
        gpu: ([x]) => transpose(x!, d0, d1),
        ref: ([x]) => refPermute(shape, order, x!),
        refGrad: (_, r) => [refPermute(order.map((d) => shape[d]!), order, r)],
        tol: 0,
      });
    }
    const x = rt().zeros([2, 3, 4]);
    expect(opNames(transpose(x))).toEqual(['transpose']);
    expect(opNames(transpose(x, 2, 1))).toEqual(['transpose']); // the last two, either way round
    expect(transpose(x, 1, 1).shape).toEqual([2, 3, 4]);
    expect(() => transpose(x, 0, 3)).toThrow(/^transpose: axis 3 out of range for rank 3$/);
  });

  it('rejects an order that is no permutation of the dimensions, naming permute, the shape and the order', () => {
    const x = rt().zeros([2, 3, 4]);
    const cases: [() => unknown, RegExp][] = [
      [() => permute(x, [0, 1]), /^permute: the order must list each of the 3 dimensions once: input \[2, 3, 4\], order \[0,1\]$/],
      [() => permute(x, [0, 1, 1]), /^permute: the order must list each of the 3 dimensions once: input \[2, 3, 4\], order \[0,1,1\]$/],
      [() => permute(x, [0, 1, 3]), /^permute: the order must list each/],
      [() => permute(x, [0, -1, 2]), /^permute: the order must list each/], // -1 is 2: twice
      [() => permute(x, [0, 1.5, 2]), /^permute: the order must list each/],
      [() => permute(x, 'nchw' as never), /^permute: the order must list each/],
      [() => permute(rt().zeros([2, 3], 'i32'), [1, 0]), /^permute: needs an f32 tensor, got i32: input \[2, 3\]/],
    ];
    expectShapeErrors(cases);
    expect(() => permute([1, 2] as never, [0])).toThrow(TypeError);
  });
});
