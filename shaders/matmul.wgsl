// Batched matrix multiply: C[b] = op(A)[b] · op(B)[b] (+ bias per row or column), or with
// SUM_BATCH one C = Σ_b op(A)[b] · op(B)[b] (the weight gradient of a convolution).
//
// Operands are read through strides, so transposed and batch-broadcast (stride 0) operands
// need no copies. Each invocation accumulates a TM × 4·TNV block of C in registers, stepping k
// four at a time: it loads a TM×4 block of op(A) and a 4×(4·TNV) block of op(B), as vec4s
// where the layout allows (A_VEC, B_VEC, chosen in src/ops/matmul.ts) — on software Vulkan
// every load carries a bounds check, so fewer, wider loads are what makes this fast. Rows and
// columns past the edge are clamped on load (no branches in the loop) and masked on store; the
// k % 4 tail takes scalar loads.

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
@group(0) @binding(2) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;

// Register block: TM rows (≤ MAX_TM) by 4·TNV columns (TNV ≤ MAX_TNV); workgroup WGX × WGY.
const MAX_TM = 8u;
const MAX_TNV = 2u;
override TM: u32;
override TNV: u32;
override WGX: u32;
override WGY: u32;
// How op(A) is loaded: 0 scalar, 1 vec4 along k (a_k = 1), 2 vec4 along m (a_m = 1).
override A_VEC: u32;
// How op(B) is loaded: 0 scalar, 1 vec4 along n (b_n = 1), 2 vec4 along k (b_k = 1).
override B_VEC: u32;
// 0: no bias, 1: bias[i] added to row i, 2: bias[j] added to column j.
override BIAS: u32;
override SUM_BATCH: bool;

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let TN = 4u * TNV;
  let row0 = (wid.y * WGY + lid.y) * TM;
  let col0 = (wid.x * WGX + lid.x) * TN;

  // Clamped element offsets of this block's rows in A and columns in B.
  var a_row: array<u32, MAX_TM>;
  var b_col: array<u32, 4 * MAX_TNV>;
  for (var i = 0u; i < TM; i++) {
    a_row[i] = min(row0 + i, M - 1u) * params.a_m;
  }
  for (var j = 0u; j < TN; j++) {
    b_col[j] = min(col0 + j, N - 1u) * params.b_n;
  }

  var acc: array<vec4<f32>, MAX_TM * MAX_TNV>;
  let batches = select(1u, params.batch, SUM_BATCH);
  let first = select(wid.z, 0u, SUM_BATCH);
  let k4 = K & ~3u;
  for (var bi = first; bi < first + batches; bi++) {
    let a_base = bi * params.a_batch;
    let b_base = bi * params.b_batch;
    for (var k = 0u; k < k4; k += 4u) {
      // av[i] = op(A)[row i][k .. k+3]
      var av: array<vec4<f32>, MAX_TM>;
      if (A_VEC == 1u) {
        for (var i = 0u; i < TM; i++) {
          av[i] = a4[(a_base + a_row[i] + k) / 4u];
        }
      } else if (A_VEC == 2u) {
        // Four rows per vec4 along m; TM is a multiple of 4 in this mode.
        for (var q = 0u; q < TM; q += 4u) {
          var cols: array<vec4<f32>, 4>;
          for (var kk = 0u; kk < 4u; kk++) {
            cols[kk] = a4[(a_base + a_row[q] + (k + kk) * params.a_k) / 4u];
          }
          for (var r = 0u; r < 4u; r++) {
            av[q + r] = vec4(cols[0][r], cols[1][r], cols[2][r], cols[3][r]);
          }
        }
      } else {
        for (var i = 0u; i < TM; i++) {
          let base = a_base + a_row[i] + k * params.a_k;
          av[i] = vec4(a[base], a[base + params.a_k], a[base + 2u * params.a_k], a[base + 3u * params.a_k]);
        }
      }
      // bv[kk * MAX_TNV + v] = op(B)[k + kk][col0 + 4v .. col0 + 4v + 3]
      var bv: array<vec4<f32>, 4 * MAX_TNV>;
      if (B_VEC == 1u) {
        for (var kk = 0u; kk < 4u; kk++) {
          for (var v = 0u; v < TNV; v++) {
            bv[kk * MAX_TNV + v] = b4[(b_base + (k + kk) * params.b_k + b_col[4u * v]) / 4u];
          }
        }
      } else if (B_VEC == 2u) {
        for (var v = 0u; v < TNV; v++) {
          var rows: array<vec4<f32>, 4>;
          for (var jj = 0u; jj < 4u; jj++) {
            rows[jj] = b4[(b_base + b_col[4u * v + jj] + k) / 4u];
          }
          for (var kk = 0u; kk < 4u; kk++) {
            bv[kk * MAX_TNV + v] = vec4(rows[0][kk], rows[1][kk], rows[2][kk], rows[3][kk]);
          }
        }
      } else {
        for (var kk = 0u; kk < 4u; kk++) {
          let base = b_base + (k + kk) * params.b_k;
          for (var v = 0u; v < TNV; v++) {
            let j = 4u * v;
            bv[kk * MAX_TNV + v] = vec4(b[base + b_col[j]], b[base + b_col[j + 1u]], b[base + b_col[j + 2u]], b[base + b_col[j + 3u]]);
          }
        }
      }
      for (var kk = 0u; kk < 4u; kk++) {
        for (var i = 0u; i < TM; i++) {
          let s = av[i][kk];
          for (var v = 0u; v < TNV; v++) {
            acc[i * MAX_TNV + v] = fma(vec4(s), bv[kk * MAX_TNV + v], acc[i * MAX_TNV + v]);
          }
        }
      }
    }
    // The k % 4 tail, scalar.
    for (var k = k4; k < K; k++) {
      var bt: array<vec4<f32>, MAX_TNV>;
      let base = b_base + k * params.b_k;
      for (var v = 0u; v < TNV; v++) {
        let j = 4u * v;
        bt[v] = vec4(b[base + b_col[j]], b[base + b_col[j + 1u]], b[base + b_col[j + 2u]], b[base + b_col[j + 3u]]);
      }
      for (var i = 0u; i < TM; i++) {
        let s = a[a_base + a_row[i] + k * params.a_k];
        for (var v = 0u; v < TNV; v++) {
          acc[i * MAX_TNV + v] = fma(vec4(s), bt[v], acc[i * MAX_TNV + v]);
        }
      }
    }
  }

  let c_base = first * M * N;
  for (var i = 0u; i < TM; i++) {
    let r = row0 + i;
    if (r >= M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (col >= N) { break; }
      var value = acc[i * MAX_TNV + j / 4u][j % 4u];
      if (BIAS == 1u) { value += bias[r]; }
      if (BIAS == 2u) { value += bias[col]; }
      c[c_base + r * N + col] = value;
    }
  }
}
