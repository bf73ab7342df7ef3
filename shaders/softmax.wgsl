// Softmax along one axis: y_j = exp(x_j − m) / Σ_k exp(x_k − m), m the line's maximum.
// Subtracting the maximum keeps every exp ≤ 1, so large logits cannot overflow, and the largest
// term is exactly 1, so the sum cannot underflow to zero. The input is viewed as
// [outer, len, inner] (the axis in the middle); each invocation handles one (outer, inner) line,
// walking it with stride inner, in three passes: maximum, sum, output.

struct Params {
  // Lines: outer · inner.
  lines: u32,
  len: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = thread_index(wid, nwg, lid, WG);
  if (line >= params.lines) { return; }
  let inner = params.inner;
  let first = (line / inner) * params.len * inner + line % inner;
  var m = x[first];
  for (var k = 1u; k < params.len; k++) {
    m = max(m, x[first + k * inner]);
  }
  var acc: BlockedSum;
  for (var k = 0u; k < params.len; k++) {
    blocked_add(&acc, exp(x[first + k * inner] - m));
  }
  let s = blocked_total(acc);
  // NOTE: a division rather than a multiplication by 1/s: one rounding instead of two.
  for (var k = 0u; k < params.len; k++) {
    let at = first + k * inner;
    out[at] = exp(x[at] - m) / s;
  }
}
