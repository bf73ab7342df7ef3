// Batched matrix multiply: C[b] = op(A)[b] · op(B)[b] (+ bias per row or column), or with
// SUM_BATCH one C = Σ_b op(A)[b] · op(B)[b] (the weight gradient of a convolution).
// Operands are read through strides, so transposed and batch-broadcast (stride 0) operands
// cost nothing. Each invocation computes a TM×TN block of C in registers; indices past the
// edge are clamped on load (no branches in the inner loop) and masked on store.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  // op(A)[b][i][k] = a[b * a_batch + i * a_m + k * a_k]
  a_batch: u32,
  a_m: u32,
  a_k: u32,
  // op(B)[b][k][j] = b[b * b_batch + k * b_k + j * b_n]
  b_batch: u32,
  b_k: u32,
  b_n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Register block (each at most MAX_T) and workgroup shape.
const MAX_T = 8u;
override TM: u32;
override TN: u32;
override WGX: u32;
override WGY: u32;
// 0: no bias, 1: bias[i] added to row i, 2: bias[j] added to column j.
override BIAS: u32;
override SUM_BATCH: bool;

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WGY + lid.y) * TM;
  let col0 = (wid.x * WGX + lid.x) * TN;
  let M = params.M;
  let N = params.N;
  var acc: array<f32, MAX_T * MAX_T>;
  var a_off: array<u32, MAX_T>;
  var b_off: array<u32, MAX_T>;
  for (var i = 0u; i < TM; i++) {
    a_off[i] = min(row0 + i, M - 1u) * params.a_m;
  }
  for (var j = 0u; j < TN; j++) {
    b_off[j] = min(col0 + j, N - 1u) * params.b_n;
  }
  let batches = select(1u, params.batch, SUM_BATCH);
  let first = select(wid.z, 0u, SUM_BATCH);
  for (var bi = first; bi < first + batches; bi++) {
    var ak = bi * params.a_batch;
    var bk = bi * params.b_batch;
    for (var k = 0u; k < params.K; k++) {
      var av: array<f32, MAX_T>;
      var bv: array<f32, MAX_T>;
      for (var i = 0u; i < TM; i++) {
        av[i] = a[ak + a_off[i]];
      }
      for (var j = 0u; j < TN; j++) {
        bv[j] = b[bk + b_off[j]];
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
        }
      }
      ak += params.a_k;
      bk += params.b_k;
    }
  }
  let c_base = select(wid.z, 0u, SUM_BATCH) * M * N;
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (col >= N) { break; }
      var v = acc[i * TN + j];
      if (BIAS == 1u) { v += bias[r]; }
      if (BIAS == 2u) { v += bias[col]; }
      c[c_base + r * N + col] = v;
    }
  }
}
