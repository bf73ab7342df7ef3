// narrow and concat (and narrow's gradient op) against float64 references written as index
// loops: every axis of ranks 1–4, odd sizes, empty ranges, negative axes and starts, both
// work splits, 32-bit integer dtypes, and the errors.
import { describe, expect, it } from 'vitest';
import { concat, grad, narrow, ops, ShapeError, stack } from '../src/index.js';
import { checkOp, f32, Rng, useRuntime, useRuntimeSplittingAs } from './helpers.js';
import { refConcat, refNarrow, refNarrowGrad, withAxis } from './references.js';

const rt = useRuntime();
const cpuSplit = useRuntimeSplittingAs(true);
const gpuSplit = useRuntimeSplittingAs(false);

// The last is large enough that a CPU adapter's runs (of several values) cross rows.
const SHAPES = [[7], [1, 5], [3, 1], [4, 3], [2, 3, 5], [1, 4, 1], [3, 2, 1, 5], [2, 5, 3, 3], [5, 33, 61]];

describe.each([
  ['as on a CPU adapter (long runs per invocation)', cpuSplit],
  ['as on a GPU (one value per invocation)', gpuSplit],
] as const)('narrow and concat, work split %s', (_, runtime) => {
  it('narrow matches the reference on every axis (first, middle, last and empty ranges), with gradients', async () => {
    const rng = new Rng(11);
    for (const shape of SHAPES) {
      for (let axis = 0; axis < shape.length; axis++) {
        const size = shape[axis]!;
        const ranges = [[0, 1], [size - 1, 1], [rng.int(0, size - 1), 0], [0, size]];
        if (size > 2) ranges.push([1, size - 2]);
        for (const [start, length] of ranges) {
          await checkOp(runtime(), rng, {
            name: `narrow ${JSON.stringify(shape)} axis ${axis} start ${start} length ${length}`,
            shapes: [shape],
            gpu: ([x]) => narrow(x!, axis, start!, length!),
            ref: ([x]) => refNarrow(x!, shape, axis, start!, length!),
            refGrad: (_, r) => [refNarrowGrad(r, withAxis(shape, axis, length!), axis, start!, size)],
            tol: 0,
          });
        }
      }
    }
  });

  it('concat matches the reference on every axis (two to four inputs, some empty), with gradients', async () => {
    const rng = new Rng(12);
    for (const shape of SHAPES) {
      for (let axis = 0; axis < shape.length; axis++) {
        const parts = rng.int(2, 4);
        const shapes = Array.from({ length: parts }, (_, k) => withAxis(shape, axis, k === 1 && parts > 2 ? 0 : rng.int(1, 4)));
        await checkOp(runtime(), rng, {
          name: `concat ${JSON.stringify(shapes)} axis ${axis}`,
          shapes,
          gpu: (xs) => concat(xs, axis),
          ref: (xs) => refConcat(xs, shapes, axis),
          refGrad: (xs, r) => {
            let start = 0;
            return shapes.map((s) => {
              start += s[axis]!;
              return refNarrow(r, withAxis(shape, axis, shapes.reduce((t, sh) => t + sh[axis]!, 0)), axis, start - s[axis]!, s[axis]!);
            });
          },
          tol: 0,
        });
      }
    }
  });
});

describe('narrow and concat', () => {
  it('take negative axes and starts as counted from the end, as PyTorch', async () => {
    const x = rt().tensor(f32(Array.from({ length: 24 }, (_, i) => i)), [2, 3, 4]);
    expect(Array.from(await narrow(x, -1, -3, 2).read())).toEqual([1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]);
    expect(Array.from(await narrow(x, -2, 1, 1).read())).toEqual([4, 5, 6, 7, 16, 17, 18, 19]);
    const y = rt().tensor(f32([100, 101, 102, 103, 104, 105, 106, 107]), [2, 1, 4]);
    expect(Array.from(await concat([y, x], -2).read())).toEqual([100, 101, 102, 103, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 104, 105, 106, 107, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
  });

  it('copy i32 and u32 values bit for bit, and join a tensor with itself', async () => {
    const i = rt().tensor(Int32Array.from([-1, -2147483648, 2147483647, 7, 0, -9]), [3, 2]);
    expect(Array.from(await concat([i, narrow(i, 0, 2, 1)]).read())).toEqual([-1, -2147483648, 2147483647, 7, 0, -9, 0, -9]);
    const u = rt().tensor(Uint32Array.from([0xffffffff, 1, 2]), [3]);
    expect(Array.from(await concat([u, u]).read())).toEqual([0xffffffff, 1, 2, 0xffffffff, 1, 2]);
    expect((await concat([u, u]).read()) instanceof Uint32Array).toBe(true);
    // The gradient of a tensor joined with itself sums both halves of the seed.
    const x = rt().tensor(f32([1, 2, 3]));
    const [g] = grad(concat([x, x, narrow(x, 0, 1, 1)]), [x], rt().tensor(f32([1, 10, 100, 1000, 10000, 100000, 7])));
    expect(Array.from(await g!.read())).toEqual([1001, 10017, 100100]);
  });

  it("narrow's gradient op matches the reference, and its own gradient is narrow (second order)", async () => {
    const rng = new Rng(13);
    for (const [shape, axis, start, size] of [[[2, 3, 4], 1, 2, 6], [[5], 0, 0, 7], [[3, 1, 2], 2, 1, 3], [[1, 2], 0, 0, 1]] as const) {
      const attrs = { axis, start, length: shape[axis]!, size };
      const full = withAxis(shape, axis, size);
      await checkOp(rt(), rng, {
        name: `narrow_backward ${JSON.stringify(shape)} into ${JSON.stringify(full)}`,
        shapes: [[...shape]],
        gpu: ([g]) => rt().record(ops.narrow_backward, [g!], attrs),
        ref: ([g]) => refNarrowGrad(g!, shape, axis, start, size),
        refGrad: (_, r) => [refNarrow(r, full, axis, start, shape[axis]!)],
        tol: 0,
      });
    }
  });

  it('reject what does not fit with a ShapeError naming the op and the shapes, before any dispatch', () => {
    const before = rt().stats().dispatches;
    const x = rt().zeros([2, 3]);
    expect(() => narrow(x, 1, 2, 2)).toThrow('narrow: start 2 and length 2 do not fit axis 1 of [2, 3] (size 3)');
    expect(() => narrow(x, 0, 0, -1)).toThrow('narrow: start 0 and length -1 do not fit axis 0 of [2, 3] (size 2)');
    expect(() => narrow(x, 0, 0.5, 1)).toThrow(ShapeError);
    expect(() => narrow(x, 1, -4, 1)).toThrow('narrow: start -4 is before the first index of axis 1 of [2, 3]');
    expect(() => narrow(x, 2, 0, 1)).toThrow('narrow: axis 2 out of range for rank 2');
    expect(() => narrow(rt().zeros([4], 'u8'), 0, 1, 2)).toThrow('narrow: takes 32-bit tensors (f32, i32, u32), got [4] u8');
    expect(() => concat([x, rt().zeros([2, 4])])).toThrow('concat: tensors must have one dtype and the same sizes off axis 0: [2, 3] f32, [2, 4] f32');
    expect(() => concat([x, rt().zeros([2, 3], 'i32')], 1)).toThrow('concat: tensors must have one dtype and the same sizes off axis 1: [2, 3] f32, [2, 3] i32');
    expect(() => concat([x, rt().zeros([6])])).toThrow(/concat: tensors must have one dtype and the same sizes off axis 0: \[2, 3\] f32, \[6\] f32/);
    expect(() => concat([])).toThrow('concat: expected a non-empty array of Tensors, got []');
    expect(() => concat([x, 3 as never])).toThrow(TypeError);
    expect(() => concat([x, 3 as never])).toThrow(/^concat: tensors\[1\] must be a Tensor, got the number 3 /);
    expect(() => concat(x as never)).toThrow(TypeError);
    expect(() => concat(x as never)).toThrow(/^concat: tensors must be an array of Tensors, got a Tensor$/);
    expect(() => concat([rt().zeros([])])).toThrow('concat: axis 0 out of range for rank 0');
    expect(rt().stats().dispatches).toBe(before);
  });
});

describe('stack, unsqueeze and squeeze', () => {
  it('stack joins tensors of one shape along a new dimension, as torch.stack, with gradients', async () => {
    const rng = new Rng(15);
    for (const axis of [0, 1, 2, -1, -3]) {
      const shape = [2, 3];
      const a = axis < 0 ? axis + 3 : axis;
      await checkOp(rt(), rng, {
        name: `stack of three [2, 3] on axis ${axis}`,
        shapes: [shape, shape, shape],
        gpu: (xs) => {
          const y = stack(xs, axis);
          expect(y.shape).toEqual([...shape.slice(0, a), 3, ...shape.slice(a)]);
          return y;
        },
        // out[..., k, ...] = xs[k][...]: concat on the new axis of each input seen with a size-1 axis there.
        ref: (xs) => refConcat(xs, xs.map(() => [...shape.slice(0, a), 1, ...shape.slice(a)]), a),
        refGrad: (xs, r) => xs.map((_, k) => refNarrow(r, [...shape.slice(0, a), 3, ...shape.slice(a)], a, k, 1)),
        tol: 0,
      });
    }
    expect(() => stack([rt().zeros([2, 3]), rt().zeros([3, 2])])).toThrow(/^stack: tensors\[1\] is \[3, 2\], tensors\[0\] \[2, 3\]: stacked tensors have one shape$/);
    expect(() => stack([])).toThrow(/^stack: expected a non-empty array of Tensors, got \[\]$/);
    expect(() => stack([rt().zeros([2])], 2)).toThrow(/^stack: axis 2 out of range for rank 2$/);
  });

  it('unsqueeze and squeeze are views of the shapes torch gives', async () => {
    const x = rt().tensor(f32([1, 2, 3, 4, 5, 6]), [2, 1, 3]);
    const before = rt().stats().dispatches;
    expect(x.unsqueeze(0).shape).toEqual([1, 2, 1, 3]);
    expect(x.unsqueeze(3).shape).toEqual([2, 1, 3, 1]);
    expect(x.unsqueeze(-1).shape).toEqual([2, 1, 3, 1]);
    expect(x.unsqueeze(-4).shape).toEqual([1, 2, 1, 3]);
    expect(x.squeeze().shape).toEqual([2, 3]);
    expect(x.squeeze(1).shape).toEqual([2, 3]);
    expect(x.squeeze(-2).shape).toEqual([2, 3]);
    expect(x.squeeze(0).shape).toEqual([2, 1, 3]); // not of size 1: unchanged, as torch's
    expect(rt().tensor(5).squeeze(0).shape).toEqual([]);
    expect(rt().zeros([1, 1]).squeeze().shape).toEqual([]);
    expect(Array.from(await x.unsqueeze(1).squeeze().read())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rt().stats().dispatches).toBe(before);
    expect(() => x.unsqueeze(4)).toThrow(/^unsqueeze: axis 4 out of range for rank 4$/);
    expect(() => x.squeeze(3)).toThrow(/^squeeze: axis 3 out of range for rank 3$/);
  });
});
