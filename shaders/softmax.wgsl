// Softmax along one axis, and its log-space relatives, one entry point each:
//   main:        y_j = exp(x_j − m) / Σ_k exp(x_k − m), m the line's maximum;
//   log_softmax: y_j = x_j − m − log Σ_k exp(x_k − m);
//   log_sum_exp: one value per line, m + log Σ_k exp(x_k − m).
// Subtracting the maximum keeps every exp ≤ 1, so large logits cannot overflow, and the largest
// term is exactly 1, so the sum cannot underflow to zero (and its log is finite: log_softmax of
// [0, 120, 10] is [−120, 0, −110], where log(softmax) is −inf). The input is viewed as
// [outer, len, inner] (the axis in the middle); each invocation handles one (outer, inner) line,
// walking it with stride inner: maximum, sum, then output.

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
// #include "nan.wgsl"

// Where line `line` starts in x.
fn line_start(line: u32) -> u32 {
  let inner = params.inner;
  return (line / inner) * params.len * inner + line % inner;
}

fn line_max(first: u32) -> f32 {
  var m = x[first];
  for (var k = 1u; k < params.len; k++) {
    m = max(m, x[first + k * params.inner]);
  }
  return m;
}

// Σ exp(x − m) along the line.
fn line_sum_exp(first: u32, m: f32) -> f32 {
  var acc: BlockedSum;
  for (var k = 0u; k < params.len; k++) {
    blocked_add(&acc, exp(x[first + k * params.inner] - m));
  }
  return blocked_total(acc);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = thread_index(wid, nwg, lid, WG);
  if (line >= params.lines) { return; }
  let first = line_start(line);
  let m = line_max(first);
  let s = line_sum_exp(first, m);
  // NOTE: a division rather than a multiplication by 1/s: one rounding instead of two.
  for (var k = 0u; k < params.len; k++) {
    let at = first + k * params.inner;
    out[at] = exp(x[at] - m) / s;
  }
}

// As torch.log_softmax: finite for finite logits; −inf where x is −inf (and the line is not all
// −inf); NaN in a line with NaN or +inf, or all −inf (x − m is NaN there).
@compute @workgroup_size(WG)
fn log_softmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = thread_index(wid, nwg, lid, WG);
  if (line >= params.lines) { return; }
  let first = line_start(line);
  let m = line_max(first);
  let l = log(line_sum_exp(first, m));
  for (var k = 0u; k < params.len; k++) {
    let at = first + k * params.inner;
    out[at] = (x[at] - m) - l;
  }
}

// As torch.logsumexp: out[line] = m + log Σ exp(x − m). An infinite maximum is taken as 0 (as
// torch does), so a line of −inf gives −inf (log 0) and one holding +inf gives +inf, not NaN;
// NaN anywhere in the line gives NaN.
@compute @workgroup_size(WG)
fn log_sum_exp(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let line = thread_index(wid, nwg, lid, WG);
  if (line >= params.lines) { return; }
  if (params.len == 0u) {
    out[line] = neg_inf(); // the log of an empty sum
    return;
  }
  let first = line_start(line);
  var m = line_max(first);
  if (is_inf(m)) { m = 0.0; }
  out[line] = m + log(line_sum_exp(first, m));
}
