enable subgroups;

// Batched matrix multiply for devices with subgroups of at least 8 invocations: the same
// product as matmul.wgsl (same Params, strides, bias, ReLU and batch sums), arranged so that
// most values come from other invocations' registers instead of memory.
//
// A workgroup owns a stripe of 16 rows of C; each invocation owns 4 columns of it (16 × 4
// outputs in sixteen vec4 registers). At each k, invocations 0–7 of every subgroup load the
// stripe's 16 values of op(A) (rows l and l + 8) and hand them to the whole subgroup with
// subgroupBroadcast; each invocation loads only its own 4 values of op(B), one vec4 where op(B)
// runs along n. On software Vulkan every load carries a bounds check per invocation, so this
// cuts the loads per multiply-add by more than half.

// #include "matmul_io.wgsl"

// Invocations per workgroup: each owns 4 columns of the workgroup's 16-row stripe.
override WG: u32;
// 1: op(A) is loaded as vec4s along k (a_k = 1, rows and batches start on a vec4); 0: scalars.
override A_VEC: u32;

const ROWS = 16u;

struct Acc {
  r0: vec4<f32>, r1: vec4<f32>, r2: vec4<f32>, r3: vec4<f32>,
  r4: vec4<f32>, r5: vec4<f32>, r6: vec4<f32>, r7: vec4<f32>,
  r8: vec4<f32>, r9: vec4<f32>, r10: vec4<f32>, r11: vec4<f32>,
  r12: vec4<f32>, r13: vec4<f32>, r14: vec4<f32>, r15: vec4<f32>,
}

// acc[r] += A[r] · bv for the 16 rows: A[l] is lo in invocation l, A[8 + l] is hi there.
fn mac(acc: ptr<function, Acc>, lo: f32, hi: f32, bv: vec4<f32>) {
  (*acc).r0 = fma(vec4(subgroupBroadcast(lo, 0u)), bv, (*acc).r0);
  (*acc).r1 = fma(vec4(subgroupBroadcast(lo, 1u)), bv, (*acc).r1);
  (*acc).r2 = fma(vec4(subgroupBroadcast(lo, 2u)), bv, (*acc).r2);
  (*acc).r3 = fma(vec4(subgroupBroadcast(lo, 3u)), bv, (*acc).r3);
  (*acc).r4 = fma(vec4(subgroupBroadcast(lo, 4u)), bv, (*acc).r4);
  (*acc).r5 = fma(vec4(subgroupBroadcast(lo, 5u)), bv, (*acc).r5);
  (*acc).r6 = fma(vec4(subgroupBroadcast(lo, 6u)), bv, (*acc).r6);
  (*acc).r7 = fma(vec4(subgroupBroadcast(lo, 7u)), bv, (*acc).r7);
  (*acc).r8 = fma(vec4(subgroupBroadcast(hi, 0u)), bv, (*acc).r8);
  (*acc).r9 = fma(vec4(subgroupBroadcast(hi, 1u)), bv, (*acc).r9);
  (*acc).r10 = fma(vec4(subgroupBroadcast(hi, 2u)), bv, (*acc).r10);
  (*acc).r11 = fma(vec4(subgroupBroadcast(hi, 3u)), bv, (*acc).r11);
  (*acc).r12 = fma(vec4(subgroupBroadcast(hi, 4u)), bv, (*acc).r12);
  (*acc).r13 = fma(vec4(subgroupBroadcast(hi, 5u)), bv, (*acc).r13);
  (*acc).r14 = fma(vec4(subgroupBroadcast(hi, 6u)), bv, (*acc).r14);
  (*acc).r15 = fma(vec4(subgroupBroadcast(hi, 7u)), bv, (*acc).r15);
}

// Four consecutive k at once: lo[q] / hi[q] hold op(A) at k + q, b0..b3 op(B) there. Each
// accumulator is read and written once per four k, which matters where accumulators do not
// fit in registers (CPU drivers keep eight invocations' values per register).
fn mac4(acc: ptr<function, Acc>, lo: vec4<f32>, hi: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) {
  (*acc).r0 = fma(vec4(subgroupBroadcast(lo.w, 0u)), b3, fma(vec4(subgroupBroadcast(lo.z, 0u)), b2, fma(vec4(subgroupBroadcast(lo.y, 0u)), b1, fma(vec4(subgroupBroadcast(lo.x, 0u)), b0, (*acc).r0))));
  (*acc).r1 = fma(vec4(subgroupBroadcast(lo.w, 1u)), b3, fma(vec4(subgroupBroadcast(lo.z, 1u)), b2, fma(vec4(subgroupBroadcast(lo.y, 1u)), b1, fma(vec4(subgroupBroadcast(lo.x, 1u)), b0, (*acc).r1))));
  (*acc).r2 = fma(vec4(subgroupBroadcast(lo.w, 2u)), b3, fma(vec4(subgroupBroadcast(lo.z, 2u)), b2, fma(vec4(subgroupBroadcast(lo.y, 2u)), b1, fma(vec4(subgroupBroadcast(lo.x, 2u)), b0, (*acc).r2))));
  (*acc).r3 = fma(vec4(subgroupBroadcast(lo.w, 3u)), b3, fma(vec4(subgroupBroadcast(lo.z, 3u)), b2, fma(vec4(subgroupBroadcast(lo.y, 3u)), b1, fma(vec4(subgroupBroadcast(lo.x, 3u)), b0, (*acc).r3))));
  (*acc).r4 = fma(vec4(subgroupBroadcast(lo.w, 4u)), b3, fma(vec4(subgroupBroadcast(lo.z, 4u)), b2, fma(vec4(subgroupBroadcast(lo.y, 4u)), b1, fma(vec4(subgroupBroadcast(lo.x, 4u)), b0, (*acc).r4))));
  (*acc).r5 = fma(vec4(subgroupBroadcast(lo.w, 5u)), b3, fma(vec4(subgroupBroadcast(lo.z, 5u)), b2, fma(vec4(subgroupBroadcast(lo.y, 5u)), b1, fma(vec4(subgroupBroadcast(lo.x, 5u)), b0, (*acc).r5))));
  (*acc).r6 = fma(vec4(subgroupBroadcast(lo.w, 6u)), b3, fma(vec4(subgroupBroadcast(lo.z, 6u)), b2, fma(vec4(subgroupBroadcast(lo.y, 6u)), b1, fma(vec4(subgroupBroadcast(lo.x, 6u)), b0, (*acc).r6))));
  (*acc).r7 = fma(vec4(subgroupBroadcast(lo.w, 7u)), b3, fma(vec4(subgroupBroadcast(lo.z, 7u)), b2, fma(vec4(subgroupBroadcast(lo.y, 7u)), b1, fma(vec4(subgroupBroadcast(lo.x, 7u)), b0, (*acc).r7))));
  (*acc).r8 = fma(vec4(subgroupBroadcast(hi.w, 0u)), b3, fma(vec4(subgroupBroadcast(hi.z, 0u)), b2, fma(vec4(subgroupBroadcast(hi.y, 0u)), b1, fma(vec4(subgroupBroadcast(hi.x, 0u)), b0, (*acc).r8))));
  (*acc).r9 = fma(vec4(subgroupBroadcast(hi.w, 1u)), b3, fma(vec4(subgroupBroadcast(hi.z, 1u)), b2, fma(vec4(subgroupBroadcast(hi.y, 1u)), b1, fma(vec4(subgroupBroadcast(hi.x, 1u)), b0, (*acc).r9))));
  (*acc).r10 = fma(vec4(subgroupBroadcast(hi.w, 2u)), b3, fma(vec4(subgroupBroadcast(hi.z, 2u)), b2, fma(vec4(subgroupBroadcast(hi.y, 2u)), b1, fma(vec4(subgroupBroadcast(hi.x, 2u)), b0, (*acc).r10))));
  (*acc).r11 = fma(vec4(subgroupBroadcast(hi.w, 3u)), b3, fma(vec4(subgroupBroadcast(hi.z, 3u)), b2, fma(vec4(subgroupBroadcast(hi.y, 3u)), b1, fma(vec4(subgroupBroadcast(hi.x, 3u)), b0, (*acc).r11))));
  (*acc).r12 = fma(vec4(subgroupBroadcast(hi.w, 4u)), b3, fma(vec4(subgroupBroadcast(hi.z, 4u)), b2, fma(vec4(subgroupBroadcast(hi.y, 4u)), b1, fma(vec4(subgroupBroadcast(hi.x, 4u)), b0, (*acc).r12))));
  (*acc).r13 = fma(vec4(subgroupBroadcast(hi.w, 5u)), b3, fma(vec4(subgroupBroadcast(hi.z, 5u)), b2, fma(vec4(subgroupBroadcast(hi.y, 5u)), b1, fma(vec4(subgroupBroadcast(hi.x, 5u)), b0, (*acc).r13))));
  (*acc).r14 = fma(vec4(subgroupBroadcast(hi.w, 6u)), b3, fma(vec4(subgroupBroadcast(hi.z, 6u)), b2, fma(vec4(subgroupBroadcast(hi.y, 6u)), b1, fma(vec4(subgroupBroadcast(hi.x, 6u)), b0, (*acc).r14))));
  (*acc).r15 = fma(vec4(subgroupBroadcast(hi.w, 7u)), b3, fma(vec4(subgroupBroadcast(hi.z, 7u)), b2, fma(vec4(subgroupBroadcast(hi.y, 7u)), b1, fma(vec4(subgroupBroadcast(hi.x, 7u)), b0, (*acc).r15))));
}

// Four values of op(A) along k from element `i` (A_VEC: one vec4 where a_k = 1 and aligned).
fn load_a4(i: u32) -> vec4<f32> {
  if (A_VEC == 1u) {
    return a4[i / 4u];
  }
  let s = params.a_k;
  return vec4(a[i], a[i + s], a[i + 2u * s], a[i + 3u * s]);
}

// This invocation's four values of op(B) at one k (`at` locates column 0 there).
fn load_b(at: u32, o: vec4<u32>) -> vec4<f32> {
  if (B_VEC == 1u) {
    return b4[(at + o.x) / 4u];
  }
  return vec4(b[at + o.x], b[at + o.y], b[at + o.z], b[at + o.w]);
}

// Bias per column (bias_mode 2) of the invocation's 4 columns from col: loaded once, not per row.
fn column_bias(col: u32) -> vec4<f32> {
  if (params.bias_mode != 2u) { return vec4(0.0); }
  let n = params.N - 1u;
  return vec4(bias[min(col, n)], bias[min(col + 1u, n)], bias[min(col + 2u, n)], bias[min(col + 3u, n)]);
}

// Bias and ReLU, as the host asked, on the 4 outputs v of row r (cb: column_bias).
fn finish(v: vec4<f32>, r: u32, cb: vec4<f32>) -> vec4<f32> {
  var out = v + cb;
  if (params.bias_mode == 1u) { out += vec4(bias[r]); }
  if (params.relu == 1u) { out = rectify4(out); }
  return out;
}

// The 16 × 4 outputs of one invocation, before bias and ReLU.
struct Block {
  rows: array<vec4<f32>, 16>,
  row0: u32,
  col0: u32,
  // False for invocations clamped onto a neighbour's block: they compute, but store nothing.
  own: bool,
}

// Every invocation runs to the end (no early return): subgroupBroadcast needs them all.
// Workgroup (x, y) covers columns of stripe y; no integer division (slow on CPU drivers).
fn accumulate(wid: vec3u, lid: u32, lane: u32, z: u32) -> Block {
  let M = params.M;
  let N = params.N;
  let quads = (N + 3u) / 4u;
  let tile = tile_of(wid);
  let row0 = tile.y * ROWS;
  let quad = tile.x * WG + lid;
  let col0 = min(quad, quads - 1u) * 4u;

  // Rows this invocation loads for the subgroup (invocations past 8 load copies, unused).
  let l = lane % 8u;
  let a_lo = min(row0 + l, M - 1u) * params.a_m;
  let a_hi = min(row0 + 8u + l, M - 1u) * params.a_m;
  var bo: vec4<u32>;
  if (B_VEC == 1u) {
    bo = vec4(min(col0, N - 4u) * params.b_n);
  } else {
    bo = vec4(min(col0, N - 1u), min(col0 + 1u, N - 1u), min(col0 + 2u, N - 1u), min(col0 + 3u, N - 1u)) * params.b_n;
  }

  let entries = batch_entries(z);
  var acc: Acc;
  for (var bi = entries.x; bi < entries.y; bi++) {
    var at = bi * params.a_batch;
    var bt = bi * params.b_batch;
    var k = 0u;
    for (; k + 4u <= params.K; k += 4u) {
      let b_step = params.b_k;
      mac4(&acc, load_a4(at + a_lo), load_a4(at + a_hi), load_b(bt, bo), load_b(bt + b_step, bo), load_b(bt + 2u * b_step, bo), load_b(bt + 3u * b_step, bo));
      at += 4u * params.a_k;
      bt += 4u * b_step;
    }
    for (; k < params.K; k++) {
      mac(&acc, a[at + a_lo], a[at + a_hi], load_b(bt, bo));
      at += params.a_k;
      bt += params.b_k;
    }
  }
  let rows = array(acc.r0, acc.r1, acc.r2, acc.r3, acc.r4, acc.r5, acc.r6, acc.r7,
                   acc.r8, acc.r9, acc.r10, acc.r11, acc.r12, acc.r13, acc.r14, acc.r15);
  return Block(rows, row0, col0, quad < quads);
}

// The outputs this workgroup computes: with sum_batch, partial sum z; else batch entries
// z · group … (each entry's product in turn), for layer z of the product.
fn entries(wid: vec3u) -> vec2u {
  let z = wid.z + params.batch_offset;
  if (params.sum_batch == 1u) {
    return vec2u(z, z + 1u);
  }
  return vec2u(z * params.group, min(params.batch, (z + 1u) * params.group));
}

// Stores element by element (any N).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
  let M = params.M;
  let N = params.N;
  let zs = entries(wid);
  for (var z = zs.x; z < zs.y; z++) {
    let blk = accumulate(wid, lid, lane, z);
    let cb = column_bias(blk.col0);
    for (var i = 0u; i < ROWS; i++) {
      let r = blk.row0 + i;
      if (!blk.own || r >= M) { break; }
      let v = finish(blk.rows[i], r, cb);
      for (var j = 0u; j < 4u; j++) {
        if (blk.col0 + j < N) {
          c[z * M * N + r * N + blk.col0 + j] = v[j];
        }
      }
    }
  }
}

// Stores four outputs at a time: N is a multiple of 4, so rows start on a vec4.
@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32,
             @builtin(subgroup_invocation_id) lane: u32) {
  let M = params.M;
  let N = params.N;
  let zs = entries(wid);
  for (var z = zs.x; z < zs.y; z++) {
    let blk = accumulate(wid, lid, lane, z);
    let cb = column_bias(blk.col0);
    for (var i = 0u; i < ROWS; i++) {
      let r = blk.row0 + i;
      if (!blk.own || r >= M) { break; }
      c4[(z * M * N + r * N + blk.col0) / 4u] = finish(blk.rows[i], r, cb);
    }
  }
}
