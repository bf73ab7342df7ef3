// @ts-check
// An op of your own, as fovea's own ops are written: a WGSL kernel (registerShader), and a shape
// rule, a dispatch and a gradient rule (defineOp), applied with rt.record. It then records
// lazily, differentiates and compiles as any built-in op does.
//
// Run it from the repository root after `npm run build`, or from an app that installed fovea as
// node_modules/fovea/examples/custom-op.mjs:
//   node examples/custom-op.mjs
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRuntime, defineOp, grad, mul, registerShader, scale, ShapeError, sum } from 'fovea';

const WG = 64;

// The kernel. Bindings are in group 0 and are given tensors by their WGSL names; a `struct
// Params` is bound as the uniform `params`, filled from the dispatch's `params` by field name.
// `override` constants come from the dispatch's `constants`.
registerShader(
  'square.wgsl',
  `struct Params { n: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < params.n) { out[id.x] = x[id.x] * x[id.x]; }
}`,
);

/** y = x², elementwise, with dy/dx = 2x. */
export const squareOp = defineOp({
  name: 'square',
  // The output's shape and dtype, checked before anything runs.
  infer: ([x]) => {
    if (x?.dtype !== 'f32') throw new ShapeError('square', `needs an f32 tensor, got ${x?.dtype}`, [x?.shape ?? []]);
    return { shape: x.shape, dtype: 'f32' };
  },
  // One invocation per element (one dimension of workgroups: up to 65,535 × 64 elements).
  encode: (ctx, [x], out) => ctx.dispatch({ shader: 'square.wgsl', constants: { WG }, params: { n: out.size }, bindings: { x: /** @type {import('fovea').Tensor} */ (x), out }, workgroups: [Math.ceil(out.size / WG)] }),
  // The gradient of each input (null: none), built from ops, so it is lazy too.
  backward: (g, { inputs: [x] }) => [scale(mul(g, /** @type {import('fovea').Tensor} */ (x)), 2)],
});

/** @param {import('fovea').Tensor} x */
export const square = (x) => x.rt.record(squareOp, [x], {});

async function main() {
  const rt = await createRuntime();
  const x = rt.tensor([1, -2, 3]);
  const y = square(x);
  const [dx] = grad(sum(y), [x]);
  console.log(`square([1, -2, 3]) = [${Array.from(await y.read())}]; its gradient (of the sum) = [${Array.from(await /** @type {import('fovea').Tensor} */ (dx).read())}]`);
  const program = await rt.compile(({ v }) => ({ s: sum(square(/** @type {import('fovea').Tensor} */ (v))) }), { v: [3] });
  const { s } = program.run({ v: Float32Array.of(4, 5, 6) });
  console.log(`compiled: sum(square([4, 5, 6])) = ${await /** @type {import('fovea').Tensor} */ (s).item()}`);
  rt.dispose();
}

// Run as a script (also through a symlink, as pnpm-style installs link packages), not imported.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  await main().catch((/** @type {Error} */ e) => {
    console.error(`custom-op: ${e.name}: ${e.message}`);
    process.exit(1);
  });
}
