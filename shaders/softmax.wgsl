// Softmax along one axis, and its log-space relatives, one entry point each:
//   main:        y_j = exp(x_j − m) / Σ_k exp(x_k − m), m the line's maximum;
//   log_softmax: y_j = x_j − m − log Σ_k exp(x_k − m);
//   log_sum_exp: one value per line, m + log Σ_k exp(x_k − m).
// Subtracting the maximum keeps every exp ≤ 1, so large logits cannot overflow, and the largest
// term is exactly 1, so the sum cannot underflow to zero (and its log is finite: log_softmax of
// [0, 120, 10] is [−120, 0, −110], where log(softmax) is −inf). A team of invocations takes each
// line (lines.wgsl): its members walk their shares for the maximum, the sum, then the output,
// and combine their maxima and sums as a tree in workgroup memory (a fixed order, so results
// are deterministic).

struct Params {
  // Lines: outer · inner.
  lines: u32,
  len: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Powers of two, TEAM ≤ WG (lines.wgsl).
override WG: u32;
override TEAM: u32;

// #include "grid.wgsl"
// #include "lines.wgsl"
// #include "blocked_sum.wgsl"
// #include "nan.wgsl"

fn member(wid: vec3u, nwg: vec3u, lid: u32) -> LineMember {
  return line_member(wid, nwg, lid, params.lines, params.len, params.inner);
}

// The maximum of the member's values (−inf if it has none).
fn member_max(m: LineMember) -> f32 {
  var r = neg_inf();
  if (m.live) {
    for (var k = m.k; k < params.len; k += TEAM) {
      r = max(r, x[m.first + k * params.inner]);
    }
  }
  return r;
}

// Σ exp(x − top) over the member's values.
fn member_sum_exp(m: LineMember, top: f32) -> f32 {
  var acc: BlockedSum;
  if (m.live) {
    for (var k = m.k; k < params.len; k += TEAM) {
      blocked_add(&acc, exp(x[m.first + k * params.inner] - top));
    }
  }
  return blocked_total(acc);
}

// The line's maximum and Σ exp(x − maximum), to each member.
fn line_stats(m: LineMember, lid: u32) -> vec2f {
  let top = team_combine(lid, member_max(m), true);
  return vec2f(top, team_combine(lid, member_sum_exp(m, top), false));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = member(wid, nwg, lid);
  let stats = line_stats(m, lid);
  if (!m.live) { return; }
  // NOTE: a division rather than a multiplication by 1/s: one rounding instead of two.
  for (var k = m.k; k < params.len; k += TEAM) {
    let at = m.first + k * params.inner;
    out[at] = exp(x[at] - stats.x) / stats.y;
  }
}

// As torch.log_softmax: finite for finite logits; −inf where x is −inf (and the line is not all
// −inf); NaN in a line with NaN or +inf, or all −inf (x − m is NaN there).
@compute @workgroup_size(WG)
fn log_softmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = member(wid, nwg, lid);
  let stats = line_stats(m, lid);
  if (!m.live) { return; }
  let l = log(stats.y);
  for (var k = m.k; k < params.len; k += TEAM) {
    let at = m.first + k * params.inner;
    out[at] = (x[at] - stats.x) - l;
  }
}

// As torch.logsumexp: out[line] = m + log Σ exp(x − m). An infinite maximum is taken as 0 (as
// torch does), so a line of −inf gives −inf (log 0) and one holding +inf gives +inf, not NaN;
// NaN anywhere in the line gives NaN.
@compute @workgroup_size(WG)
fn log_sum_exp(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = member(wid, nwg, lid);
  var top = team_combine(lid, member_max(m), true);
  if (is_inf(top)) { top = 0.0; }
  let s = team_combine(lid, member_sum_exp(m, top), false);
  if (m.live && m.k == 0u) {
    out[m.line] = select(top + log(s), neg_inf(), params.len == 0u); // the log of an empty sum
  }
}
