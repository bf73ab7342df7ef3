// The gradient of gather with respect to an f32 table, as PyTorch's embedding backward:
// out[r, :] = Σ g[b, :] over the b with idx[b] = r, zero for rows no index picked; an index out
// of range (its forward row is NaN) adds nowhere. Each sum runs over its picks in ascending b,
// so it has one order on every run and adapter (WGSL has no float atomics, and an order set by
// atomics would vary). Two passes:
//   buckets: one workgroup lists each row's picks, in order: buckets[r] is where row r's list
//            starts (buckets[rows] the number of picks in range), and buckets[rows + 1 + k] the
//            k-th pick of all the lists laid end to end. The picks go in rounds of WG: each one's
//            rank in its row's list is the row's count before the round plus the earlier picks
//            of that row in the round. Cost: picks × WG / 2 comparisons, picks / WG rounds.
//   main:    each invocation adds up one column of one row over its list: (picks + rows) × row
//            length terms in all, each row's in its own invocations.

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
// The buckets pass's output, [rows + 1] starts then [picks] lists then [picks] ranks (scratch);
// atomic only to share it between the workgroup's invocations.
@group(0) @binding(3) var<storage, read_write> buckets: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read> lists: array<u32>;

override WG: u32;

var<workgroup> keys: array<u32, WG>;
var<workgroup> partial: array<u32, WG>;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"

@compute @workgroup_size(WG)
fn build(@builtin(local_invocation_index) lid: u32) {
  let rows = params.rows;
  let picks = params.picks;
  let ranks = rows + 1u + picks;
  for (var r = lid; r <= rows; r += WG) { atomicStore(&buckets[r], 0u); }
  storageBarrier();
  // Counts per row, and each pick's rank. An i32 index below 0 reads as a u32 past every row.
  for (var base = 0u; base < picks; base += WG) {
    let b = base + lid;
    let r = select(rows, idx[min(b, picks - 1u)], b < picks);
    keys[lid] = r;
    workgroupBarrier();
    if (r < rows) {
      var earlier = 0u;
      for (var j = 0u; j < lid; j++) { earlier += select(0u, 1u, keys[j] == r); }
      atomicStore(&buckets[ranks + b], atomicLoad(&buckets[r]) + earlier);
    }
    storageBarrier(); // every count read before any grows
    workgroupBarrier(); // and keys read before the next round writes them
    if (r < rows) { atomicAdd(&buckets[r], 1u); }
    storageBarrier();
  }
  // Counts to starts: each invocation's span of rows, offset by the spans before it.
  let span = (rows + WG - 1u) / WG;
  let lo = min(lid * span, rows);
  let hi = min(lo + span, rows);
  var sum = 0u;
  for (var r = lo; r < hi; r++) { sum += atomicLoad(&buckets[r]); }
  partial[lid] = sum;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0u;
    for (var k = 0u; k < WG; k++) {
      let s = partial[k];
      partial[k] = total;
      total += s;
    }
    atomicStore(&buckets[rows], total);
  }
  workgroupBarrier();
  var at = partial[lid];
  for (var r = lo; r < hi; r++) {
    let count = atomicLoad(&buckets[r]);
    atomicStore(&buckets[r], at);
    at += count;
  }
  storageBarrier();
  for (var b = lid; b < picks; b += WG) {
    let r = idx[b];
    if (r < rows) { atomicStore(&buckets[rows + 1u + atomicLoad(&buckets[r]) + atomicLoad(&buckets[ranks + b])], b); }
  }
}

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
  // Blocked: a row picked a million times keeps f32 precision.
  var acc: BlockedSum;
  for (var k = lists[r]; k < lists[r + 1u]; k++) {
    blocked_add(&acc, g[lists[params.rows + 1u + k] * params.row_len + c]);
  }
  out[r * params.row_len + c] = blocked_total(acc);
}
