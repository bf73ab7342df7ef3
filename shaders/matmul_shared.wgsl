// Batched matrix multiply for GPUs: the same product as matmul.wgsl (same Params, strides,
// bias, ReLU and batch sums), in tiles shared through workgroup memory.
//
// A workgroup of 8 × 8 invocations computes a 32 × 32 tile of C, each invocation a 4 × 4 block
// (rows 4·ly …, columns 4·lx …). Along k it steps 32 at a time: the workgroup copies the step's
// 32 × 32 values of op(A) and of op(B) into workgroup memory, each loaded once and read there
// by 8 invocations, four values per read. A GPU hides the latency of memory by running many
// invocations at once, and these small tiles give the seed CNN's products enough of them: its
// conv2 forward, [50, 32, 196], is 350 workgroups here and 200 subgroups in
// matmul_subgroup.wgsl, whose register blocks suit CPU drivers (src/ops/matmul.ts chooses).

// #include "matmul_io.wgsl"

// C's tile per workgroup is T × T, and k advances T at a time.
const T = 32u;
// Invocations per side of the workgroup: each computes (T / SIDE)² outputs, four vec4 rows.
const SIDE = 8u;
// vec4s per row of the copies in workgroup memory: padded by one, so that invocations storing
// down a column spread over more banks.
const ROW = T / 4u + 1u;

// op(A) and op(B) at the current step along k, k-major: [k][m] and [k][n], four values a vec4.
var<workgroup> tile_a: array<vec4<f32>, T * ROW>;
var<workgroup> tile_b: array<vec4<f32>, T * ROW>;

// vec4s each invocation copies per operand and step: a fixed count, so that the compiler
// unrolls the copy and all its loads are in flight at once. Each is stored whole: invocations
// storing components of one vec4 at once could race where a compiler writes a component by
// rewriting the vector (Tint does, for D3D's FXC).
const COPIES = T * T / (4u * SIDE * SIDE);

// Copy j of invocation lid: its k (x) and vec4 g (y: m or n = 4g … 4g + 3) at one step.
// Neighbouring invocations load neighbouring addresses: along k where k is contiguous in memory
// (along_k), else along m or n.
fn slot(j: u32, lid: u32, along_k: bool) -> vec2u {
  let lanes = SIDE * SIDE;
  if (along_k) {
    return vec2u(lid % T, j * (lanes / T) + lid / T);
  }
  return vec2u(j * (lanes / (T / 4u)) + lid / (T / 4u), lid % (T / 4u));
}

// op(A)[e][i][k] and op(B)[e][k][j], zero past the edges.
fn a_at(e: u32, i: u32, k: u32) -> f32 {
  if (i >= params.M || k >= params.K) { return 0.0; }
  return a[e * params.a_batch + i * params.a_m + k * params.a_k];
}
fn b_at(e: u32, k: u32, j: u32) -> f32 {
  if (j >= params.N || k >= params.K) { return 0.0; }
  return b[e * params.b_batch + k * params.b_k + j * params.b_n];
}

// Copies op(A) and op(B) of batch entry e at k0 … k0 + T − 1 into workgroup memory.
fn stage(e: u32, k0: u32, row0: u32, col0: u32, lid: u32) {
  let a_along_k = params.a_k == 1u;
  let b_along_k = params.b_k == 1u;
  var va: array<vec4<f32>, COPIES>;
  var vb: array<vec4<f32>, COPIES>;
  for (var j = 0u; j < COPIES; j++) {
    let sa = slot(j, lid, a_along_k);
    let k = k0 + sa.x;
    let i = row0 + 4u * sa.y;
    va[j] = vec4(a_at(e, i, k), a_at(e, i + 1u, k), a_at(e, i + 2u, k), a_at(e, i + 3u, k));
    let sb = slot(j, lid, b_along_k);
    let kb = k0 + sb.x;
    let n = col0 + 4u * sb.y;
    vb[j] = vec4(b_at(e, kb, n), b_at(e, kb, n + 1u), b_at(e, kb, n + 2u), b_at(e, kb, n + 3u));
  }
  for (var j = 0u; j < COPIES; j++) {
    let sa = slot(j, lid, a_along_k);
    tile_a[sa.x * ROW + sa.y] = va[j];
    let sb = slot(j, lid, b_along_k);
    tile_b[sb.x * ROW + sb.y] = vb[j];
  }
}

@compute @workgroup_size(SIDE, SIDE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) local: vec3u, @builtin(local_invocation_index) lid: u32) {
  let M = params.M;
  let N = params.N;
  let tile = tile_of(wid);
  let row0 = tile.y * T;
  let col0 = tile.x * T;
  // Without sum_batch, z is the batch entry; with it, the partial sum.
  let z = wid.z + params.batch_offset;
  let entries = batch_entries(z);
  // Rows 4·ly + r of the block, as vec4s of its columns.
  var acc0 = vec4(0.0);
  var acc1 = vec4(0.0);
  var acc2 = vec4(0.0);
  var acc3 = vec4(0.0);
  let ly = local.y;
  let lx = local.x;
  // Uniform control flow: the loop bounds are the workgroup's, so all invocations reach the barriers.
  for (var e = entries.x; e < entries.y; e++) {
    for (var k0 = 0u; k0 < params.K; k0 += T) {
      stage(e, k0, row0, col0, lid);
      workgroupBarrier();
      for (var k = 0u; k < T; k++) {
        let av = tile_a[k * ROW + ly];
        let bv = tile_b[k * ROW + lx];
        acc0 = fma(vec4(av.x), bv, acc0);
        acc1 = fma(vec4(av.y), bv, acc1);
        acc2 = fma(vec4(av.z), bv, acc2);
        acc3 = fma(vec4(av.w), bv, acc3);
      }
      workgroupBarrier();
    }
  }
  let rows = array(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + 4u * ly + r;
    if (i >= M) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = col0 + 4u * lx + q;
      if (j >= N) { break; }
      c[(z * M + i) * N + j] = finish_output(rows[r][q], i, j);
    }
  }
}
