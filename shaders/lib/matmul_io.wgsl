// What the matmul kernels (matmul.wgsl, matmul_subgroup.wgsl, matmul_shared.wgsl,
// matmul_dot.wgsl) share: their parameters, bindings, the options src/ops/matmul.ts sets for
// all, and how each finds its batch entries and finishes an output. Included by each.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  // Batches per partial sum (sum_batch). Without sum_batch, the subgroup kernel runs this many
  // batch entries per workgroup, one after another (fewer, longer workgroups: each costs a fixed
  // overhead on CPU drivers).
  group: u32,
  // op(A)[b][i][k] = a[b * a_batch + i * a_m + k * a_k]
  a_batch: u32,
  a_m: u32,
  a_k: u32,
  // op(B)[b][k][j] = b[b * b_batch + k * b_k + j * b_n]
  b_batch: u32,
  b_k: u32,
  b_n: u32,
  // The tile kernels' workgroup layer z = 0 is layer batch_offset of the product (a batch, or
  // partial sums, past the device's workgroups per dimension run as several dispatches).
  batch_offset: u32,
  // The tile kernels' workgroup (0, 0) is tile (x_offset, y_offset) of the product: one wider or
  // taller than the device's workgroups per dimension runs as several dispatches.
  x_offset: u32,
  y_offset: u32,
  // The epilogue and batch summing are uniforms, not override constants: they run outside the
  // k loop, so specialising them gains nothing, and each specialisation is one more pipeline
  // for the driver to compile (about half a second each on software Vulkan).
  // 0: no bias, 1: bias[i] added to row i, 2: bias[j] added to column j.
  bias_mode: u32,
  // 1: the batch is summed into partial results (the weight gradient of a convolution).
  sum_batch: u32,
  // 1: ReLU after the bias (a following ReLU fused in by the planner).
  relu: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read_write> c4: array<vec4<f32>>;

// 1: op(B) is loaded as vec4s along n (b_n = 1, N a multiple of 4); 0: scalar loads.
override B_VEC: u32;

// #include "nan.wgsl"

// The tile (x, y) of the product that workgroup wid of this dispatch computes.
fn tile_of(wid: vec3u) -> vec2u {
  return vec2u(wid.x + params.x_offset, wid.y + params.y_offset);
}

// The batch entries first … last − 1 (as x, y) that output layer z sums: with sum_batch, the
// `group` entries of partial sum z; without, entry z alone.
fn batch_entries(z: u32) -> vec2u {
  let first = select(z, z * params.group, params.sum_batch == 1u);
  return vec2u(first, select(z + 1u, min(params.batch, first + params.group), params.sum_batch == 1u));
}

// Output (i, j) of a product with its bias and ReLU, as the host asked.
fn finish_output(value: f32, i: u32, j: u32) -> f32 {
  var out = value;
  if (params.bias_mode == 1u) { out += bias[i]; }
  if (params.bias_mode == 2u) { out += bias[j]; }
  if (params.relu == 1u) { out = rectify(out); }
  return out;
}
