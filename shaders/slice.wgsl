// Copies a block of rows between two tensors seen as 2-D, 32 bits at a time (any 4-byte
// dtype): for every row r < rows and column j < len,
//   dst[r·dst_stride + dst_offset + j] = src[r·src_stride + src_offset + j − lo]
// where lo ≤ j < lo + src_len, and 0 (the bits of 0.0, 0 and 0u) elsewhere. narrow() takes a
// column range of src, concat() places each input at its columns of dst, and narrow's
// gradient puts the gradient back at its columns of zeros (lo > 0).

struct Params {
  rows: u32,
  len: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  lo: u32,
  src_len: u32,
  // Consecutive elements of the block per invocation: one division for `per` copies (many on a
  // CPU adapter, where integer division is slow; 1 on a GPU, for coalesced accesses).
  per: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

override WG: u32;

// #include "grid.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let p = params;
  let count = p.rows * p.len;
  let first = thread_index(wid, nwg, lid, WG) * p.per;
  if (first >= count) { return; }
  let end = min(count, first + p.per);
  var r = first / p.len;
  var j = first % p.len;
  for (var i = first; i < end; i++) {
    var v = 0u;
    if (j >= p.lo && j - p.lo < p.src_len) {
      v = src[r * p.src_stride + p.src_offset + j - p.lo];
    }
    dst[r * p.dst_stride + p.dst_offset + j] = v;
    j++;
    if (j == p.len) {
      j = 0u;
      r++;
    }
  }
}
