// Index of the first maximum along one axis, a NaN counting as the maximum (the first NaN wins),
// as in PyTorch. A team of invocations takes each line (lines.wgsl): each member finds the first
// maximum of its share, and the team combines them as a tree in workgroup memory.

struct Params {
  // Lines (elements of out): outer · inner.
  lines: u32,
  len: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;

// Powers of two, TEAM ≤ WG (lines.wgsl).
override WG: u32;
override TEAM: u32;

// #include "grid.wgsl"
// #include "lines.wgsl"
// #include "nan.wgsl"

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_k: array<u32, WG>;

// Whether value v at index k beats the best so far, b at index j: greater, or a NaN over a
// number, or equal (both NaN too) at a smaller index. Index len stands for no value.
fn beats(v: f32, k: u32, b: f32, j: u32) -> bool {
  if (k >= params.len) { return false; }
  if (j >= params.len) { return true; }
  let vn = is_nan(v);
  let bn = is_nan(b);
  if (vn || bn) { return vn && (!bn || k < j); }
  return v > b || (v == b && k < j);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = line_member(wid, nwg, lid, params.lines, params.len, params.inner);
  var b = 0.0;
  var j = params.len;
  if (m.live) {
    for (var k = m.k; k < params.len; k += TEAM) {
      let v = x[m.first + k * params.inner];
      if (beats(v, k, b, j)) {
        b = v;
        j = k;
      }
    }
  }
  if (TEAM > 1u) {
    best_v[lid] = b;
    best_k[lid] = j;
    for (var width = TEAM / 2u; width > 0u; width /= 2u) {
      workgroupBarrier();
      if (lid % TEAM < width && beats(best_v[lid + width], best_k[lid + width], best_v[lid], best_k[lid])) {
        best_v[lid] = best_v[lid + width];
        best_k[lid] = best_k[lid + width];
      }
    }
    workgroupBarrier();
    j = best_k[team_lead(lid)];
  }
  if (m.live && m.k == 0u) {
    out[m.line] = i32(j);
  }
}
