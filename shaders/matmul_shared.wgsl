// Batched matrix multiply for GPUs: the same product as matmul.wgsl (same Params, strides,
// bias, ReLU and batch sums), in tiles shared through workgroup memory.
//
// A workgroup of 8 × 8 invocations computes a 32 × 32 tile of C, each invocation a 4 × 4 block
// (rows 4·ly …, columns 4·lx …). Along k it steps 32 at a time: the workgroup copies the step's
// 32 × 32 values of op(A) and of op(B) into workgroup memory, each loaded once and read there
// by 8 invocations, four values per read. A GPU hides the latency of memory by running many invocations at
// once, and these small tiles give the seed CNN's products enough of them: its conv2 forward,
// [50, 32, 196], is 350 workgroups here and 200 subgroups in matmul_subgroup.wgsl, whose
// register blocks suit CPU drivers (src/ops/matmul.ts chooses).

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

// Values each invocation copies per operand and step: a fixed count, so that the compiler
// unrolls the copy and all its loads are in flight at once.
const COPIES = T * T / (SIDE * SIDE);

// Copy q of invocation lid: its k (x) and m or n (y) within an operand's T × T values at one
// step. Neighbouring invocations take neighbouring addresses: along k where k is contiguous in
// memory (along_k), else along m or n.
fn slot(q: u32, lid: u32, along_k: bool) -> vec2u {
  let l = q * SIDE * SIDE + lid;
  return select(vec2u(l / T, l % T), vec2u(l % T, l / T), along_k);
}

// Copies op(A) and op(B) of batch entry e at k0 … k0 + T − 1 into workgroup memory, zero past
// the edges.
fn stage(e: u32, k0: u32, row0: u32, col0: u32, lid: u32) {
  let a_along_k = params.a_k == 1u;
  let b_along_k = params.b_k == 1u;
  var va: array<f32, COPIES>;
  var vb: array<f32, COPIES>;
  for (var q = 0u; q < COPIES; q++) {
    let sa = slot(q, lid, a_along_k);
    va[q] = 0.0;
    if (row0 + sa.y < params.M && k0 + sa.x < params.K) {
      va[q] = a[e * params.a_batch + (row0 + sa.y) * params.a_m + (k0 + sa.x) * params.a_k];
    }
    let sb = slot(q, lid, b_along_k);
    vb[q] = 0.0;
    if (col0 + sb.y < params.N && k0 + sb.x < params.K) {
      vb[q] = b[e * params.b_batch + (k0 + sb.x) * params.b_k + (col0 + sb.y) * params.b_n];
    }
  }
  for (var q = 0u; q < COPIES; q++) {
    let sa = slot(q, lid, a_along_k);
    tile_a[sa.x * ROW + sa.y / 4u][sa.y % 4u] = va[q];
    let sb = slot(q, lid, b_along_k);
    tile_b[sb.x * ROW + sb.y / 4u][sb.y % 4u] = vb[q];
  }
}

@compute @workgroup_size(SIDE, SIDE)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) local: vec3u, @builtin(local_invocation_index) lid: u32) {
  let M = params.M;
  let N = params.N;
  let row0 = wid.y * T;
  let col0 = wid.x * T;
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
