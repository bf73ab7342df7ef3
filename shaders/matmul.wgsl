// Batched matrix multiply: C[b] = op(A)[b] · op(B)[b] (+ bias per row or column), or with
// sum_batch the batch summed into partial results of `group` entries each (the weight gradient
// of a convolution): C[g] = Σ_{b in partial g} op(A)[b] · op(B)[b].
//
// Operands are read through strides, so transposed and batch-broadcast (stride 0) operands
// need no copies. Each invocation accumulates an 8×8 block of C in sixteen vec4s (named
// fields, not an array, so drivers keep them in registers). Per k it loads eight values of
// op(A) down the block's rows and eight of op(B) along its columns, as two vec4s where the
// layout is contiguous that way (A_VEC, B_VEC; src/ops/matmul.ts arranges operands so it
// mostly is): on software Vulkan every load carries a bounds check, so fewer, wider loads are
// what makes this fast. Rows and columns past the edge are clamped on load (no branches in the
// loop) and masked on store.

// #include "matmul_io.wgsl"

// Invocations per workgroup, each owning one block.
override WG: u32;
// 1: op(A) is loaded as vec4s along m (a_m = 1, M a multiple of 4); 0: scalar loads.
override A_VEC: u32;
override COLUMN_ORDER: bool;

// The block is 8×8: the sixteen accumulators below.
const T = 8u;

// Row r of the block is (c<r>0, c<r>1): columns 0–3 and 4–7.
struct Acc {
  c00: vec4<f32>, c01: vec4<f32>, c10: vec4<f32>, c11: vec4<f32>,
  c20: vec4<f32>, c21: vec4<f32>, c30: vec4<f32>, c31: vec4<f32>,
  c40: vec4<f32>, c41: vec4<f32>, c50: vec4<f32>, c51: vec4<f32>,
  c60: vec4<f32>, c61: vec4<f32>, c70: vec4<f32>, c71: vec4<f32>,
}

// acc += (8 values of op(A)) ⊗ (8 values of op(B)) for one k.
fn mac(acc: ptr<function, Acc>, al: vec4<f32>, ah: vec4<f32>, bl: vec4<f32>, bh: vec4<f32>) {
  (*acc).c00 = fma(vec4(al.x), bl, (*acc).c00);
  (*acc).c01 = fma(vec4(al.x), bh, (*acc).c01);
  (*acc).c10 = fma(vec4(al.y), bl, (*acc).c10);
  (*acc).c11 = fma(vec4(al.y), bh, (*acc).c11);
  (*acc).c20 = fma(vec4(al.z), bl, (*acc).c20);
  (*acc).c21 = fma(vec4(al.z), bh, (*acc).c21);
  (*acc).c30 = fma(vec4(al.w), bl, (*acc).c30);
  (*acc).c31 = fma(vec4(al.w), bh, (*acc).c31);
  (*acc).c40 = fma(vec4(ah.x), bl, (*acc).c40);
  (*acc).c41 = fma(vec4(ah.x), bh, (*acc).c41);
  (*acc).c50 = fma(vec4(ah.y), bl, (*acc).c50);
  (*acc).c51 = fma(vec4(ah.y), bh, (*acc).c51);
  (*acc).c60 = fma(vec4(ah.z), bl, (*acc).c60);
  (*acc).c61 = fma(vec4(ah.z), bh, (*acc).c61);
  (*acc).c70 = fma(vec4(ah.w), bl, (*acc).c70);
  (*acc).c71 = fma(vec4(ah.w), bh, (*acc).c71);
}

// The eight values of op(A) in the block's rows at one k (`at` locates row 0 of op(A) there).
fn load_a(at: u32, o: array<u32, 8>) -> array<vec4<f32>, 2> {
  if (A_VEC == 1u) {
    return array(a4[(at + o[0]) / 4u], a4[(at + o[4]) / 4u]);
  }
  return array(vec4(a[at + o[0]], a[at + o[1]], a[at + o[2]], a[at + o[3]]),
               vec4(a[at + o[4]], a[at + o[5]], a[at + o[6]], a[at + o[7]]));
}

// The eight values of op(B) in the block's columns at one k.
fn load_b(at: u32, o: array<u32, 8>) -> array<vec4<f32>, 2> {
  if (B_VEC == 1u) {
    return array(b4[(at + o[0]) / 4u], b4[(at + o[4]) / 4u]);
  }
  return array(vec4(b[at + o[0]], b[at + o[1]], b[at + o[2]], b[at + o[3]]),
               vec4(b[at + o[4]], b[at + o[5]], b[at + o[6]], b[at + o[7]]));
}

// The first row and column of this invocation's 8×8 block. Workgroup x runs WG consecutive
// blocks down a column of blocks y (COLUMN_ORDER: they share op(B)'s columns in cache) or along
// a row of blocks y (sharing op(A)'s rows); the host picks whichever operand is larger. No
// integer division (slow on CPU drivers).
fn block_of(wid: vec3u, lid: u32) -> vec2u {
  let tile = tile_of(wid);
  let inner = tile.x * WG + lid;
  if (COLUMN_ORDER) {
    return vec2u(min(inner, (params.M - 1u) / T) * T, tile.y * T);
  }
  return vec2u(tile.y * T, min(inner, (params.N - 1u) / T) * T);
}

// Accumulates the block starting at (row0, col0) over k (and the batch entries summed).
fn accumulate(row0: u32, col0: u32, z: u32) -> Acc {
  let M = params.M;
  let N = params.N;
  // Clamped element offsets of the block's rows in op(A) and columns in op(B); for vec4 loads
  // each group of four is clamped as a whole (the size is a multiple of 4 then).
  var ao: array<u32, 8>;
  var bo: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let r = select(min(row0 + i, M - 1u), min(row0 + (i & ~3u), M - 4u) + (i & 3u), A_VEC == 1u);
    ao[i] = r * params.a_m;
    let col = select(min(col0 + i, N - 1u), min(col0 + (i & ~3u), N - 4u) + (i & 3u), B_VEC == 1u);
    bo[i] = col * params.b_n;
  }
  // Without sum_batch, z is the batch entry; with it, the partial sum.
  let entries = batch_entries(z);
  var acc: Acc;
  for (var bi = entries.x; bi < entries.y; bi++) {
    var at = bi * params.a_batch;
    var bt = bi * params.b_batch;
    for (var k = 0u; k < params.K; k++) {
      let av = load_a(at, ao);
      let bv = load_b(bt, bo);
      mac(&acc, av[0], av[1], bv[0], bv[1]);
      at += params.a_k;
      bt += params.b_k;
    }
  }
  return acc;
}

// Bias and ReLU, as the host asked, on four consecutive outputs of row r from column col.
fn finish(v: vec4<f32>, r: u32, col: u32) -> vec4<f32> {
  var out = v;
  if (params.bias_mode == 1u) { out += vec4(bias[r]); }
  if (params.bias_mode == 2u) { out += vec4(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u]); }
  if (params.relu == 1u) { out = rectify4(out); }
  return out;
}

fn rows_of(acc: Acc) -> array<vec4<f32>, 16> {
  return array(acc.c00, acc.c01, acc.c10, acc.c11, acc.c20, acc.c21, acc.c30, acc.c31,
               acc.c40, acc.c41, acc.c50, acc.c51, acc.c60, acc.c61, acc.c70, acc.c71);
}

// Stores element by element (any N).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = block_of(wid, lid);
  let z = wid.z + params.batch_offset;
  let rows = rows_of(accumulate(at.x, at.y, z));
  let M = params.M;
  let N = params.N;
  let c_base = z * M * N;
  for (var i = 0u; i < T; i++) {
    let r = at.x + i;
    if (r >= M) { break; }
    for (var j = 0u; j < T; j++) {
      let col = at.y + j;
      if (col >= N) { break; }
      c[c_base + r * N + col] = finish_output(rows[2u * i + j / 4u][j % 4u], r, col);
    }
  }
}

// Stores four outputs at a time: N is a multiple of 4, so rows start on a vec4.
@compute @workgroup_size(WG)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = block_of(wid, lid);
  let z = wid.z + params.batch_offset;
  let rows = rows_of(accumulate(at.x, at.y, z));
  let M = params.M;
  let N = params.N;
  let c_base = z * M * N;
  for (var i = 0u; i < T; i++) {
    let r = at.x + i;
    if (r >= M) { break; }
    let base = (c_base + r * N + at.y) / 4u;
    c4[base] = finish(rows[2u * i], r, at.y);
    if (at.y + 4u < N) {
      c4[base + 1u] = finish(rows[2u * i + 1u], r, at.y + 4u);
    }
  }
}
