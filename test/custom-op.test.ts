// examples/custom-op.mjs, the README's op of your own (registerShader, defineOp, rt.record):
// values and gradient against float64 and finite differences, eager and compiled, on sizes past
// one workgroup; its shape rule's refusal before any dispatch.
import { describe, expect, it } from 'vitest';
import { square } from '../examples/custom-op.mjs';
import { grad, ShapeError, sum } from '../src/index.js';
import { checkOp, expectClose, f32, Rng, useRuntime } from './helpers.js';

const rt = useRuntime();

describe('an op of your own (examples/custom-op.mjs)', () => {
  it('matches float64 with its gradient, at sizes past one workgroup', async () => {
    const rng = new Rng(41);
    for (const n of [1, 37, 64, 130, 1000]) {
      await checkOp(rt(), rng, {
        name: `square [${n}]`,
        shapes: [[n]],
        range: [-3, 3],
        gpu: ([x]) => square(x!),
        ref: ([x]) => x!.map((v) => v * v),
        refGrad: ([x], r) => [x!.map((v, i) => 2 * v * r[i]!)],
        tol: 1e-6,
      });
    }
  });

  it('compiles into a program as a built-in op does, and its shape rule refuses before any dispatch', async () => {
    const program = await rt().compile(({ v }) => ({ s: sum(square(v!)), g: grad(sum(square(v!)), [v!])[0]! }), { v: [3] });
    const out = program.run({ v: f32([4, 5, 6]) });
    expect(await out.s!.item()).toBe(77);
    expectClose(await out.g!.read(), [8, 10, 12], 0, 'gradient');
    const before = rt().stats().dispatches;
    expect(() => square(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(ShapeError);
    expect(() => square(rt().tensor(Int32Array.of(1, 2), [2]))).toThrow(/^square: needs an f32 tensor, got i32$/);
    expect(rt().stats().dispatches).toBe(before);
  });
});
