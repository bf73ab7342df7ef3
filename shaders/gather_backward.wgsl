// The gradient of gather with respect to an f32 table, as PyTorch's embedding backward:
// out[r, :] = Σ g[b, :] over the b with idx[b] = r, zero for rows no index picked; an index out
// of range (its forward row is NaN) adds nowhere. A workgroup takes WG columns of one table row,
// or, for rows shorter than half of WG, whole rows, several of them; each invocation scans the
// indices in order, so each sum has one order on every run and adapter (WGSL has no float
// atomics, and an order set by atomics would vary). Cost: table rows × indices comparisons per
// column (per row_len columns, at least per WG / per_group), plus one addition per picked value.

struct Params {
  rows: u32,
  row_len: u32,
  picks: u32,
  // Workgroups per table row: row_len / WG, rounded up (1 where per_group > 1).
  chunks: u32,
  // Rows per workgroup: WG / row_len, rounded down, for rows of fewer than WG / 2 columns; else 1.
  per_group: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = group_index(wid, nwg);
  var r: u32;
  var c: u32;
  if (params.per_group > 1u) {
    if (lid >= params.per_group * params.row_len) { return; }
    r = group * params.per_group + lid / params.row_len;
    c = lid % params.row_len;
  } else {
    r = group / params.chunks;
    c = (group % params.chunks) * WG + lid;
  }
  if (r >= params.rows || c >= params.row_len) { return; }
  // Blocked: a row picked a million times keeps f32 precision. An i32 index below 0 reads as a
  // u32 past every row. (Indices shared through workgroup memory were slower on a CPU adapter:
  // its barriers cost more than the loads they save.)
  var acc: BlockedSum;
  for (var b = 0u; b < params.picks; b++) {
    if (idx[b] == r) {
      blocked_add(&acc, g[b * params.row_len + c]);
    }
  }
  out[r * params.row_len + c] = blocked_total(acc);
}
