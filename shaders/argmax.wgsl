// Index of the first maximum along one axis. The input is viewed as [outer, len, inner] (the
// axis in the middle); each invocation scans one (outer, inner) line with stride inner.

struct Params {
  // Elements of out: outer · inner.
  n: u32,
  len: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;

override WG: u32;

// #include "grid.wgsl"
// #include "nan.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = thread_index(wid, nwg, lid, WG);
  if (o >= params.n) { return; }
  let inner = params.inner;
  var at = (o / inner) * params.len * inner + o % inner;
  var best = x[at];
  var best_k = 0u;
  for (var k = 1u; k < params.len; k++) {
    at += inner;
    let v = x[at];
    // NOTE: strict > keeps the first maximum; a NaN counts as the maximum (the first one
    // wins), as in PyTorch.
    if (v > best || (is_nan(v) && !is_nan(best))) {
      best = v;
      best_k = k;
    }
  }
  out[o] = i32(best_k);
}
