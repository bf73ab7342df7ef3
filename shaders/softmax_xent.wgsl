// Softmax cross-entropy over rows of logits [B, C] with integer labels [B], as PyTorch's
// cross_entropy: rows labelled `ignore` (its ignore_index, -100 by default) are left out, and
//   loss = mean over the K other rows b of (log Σ_j exp(x[b][j] − m_b) + (m_b − x[b][label_b])),
// m_b = max_j x[b][j]; with label smoothing ε (its label_smoothing) the target is (1 − ε) at the
// label plus ε/C everywhere, so a row's loss is log Σ_j exp(x_j − m) + (1 − ε)(m − x_label) +
// ε·mean_j (m − x_j). Subtracting the row max keeps every exp ≤ 1, so huge logits neither
// overflow nor lose the loss. Any other label outside [0, C) makes its row's loss NaN (a kernel
// cannot throw), and so the mean; K = 0 gives NaN too, as 0/0 does in PyTorch.
//
// The rows pass writes each row's loss to out [B] (0 on ignored rows), and the forward pass
// their mean over the K rows not ignored to out [1]; the scale pass writes g/K to out [1], and
// the backward pass, given it as g, writes (softmax − onehot)·g/K to out [B, C], zero on ignored
// rows. Each entry point is bound only what it uses.

struct Params {
  batch: u32,
  classes: u32,
  ignore: i32,
  // A NaN, for rows with an out-of-range label (WGSL has no NaN literal).
  nan: f32,
  // Label smoothing ε, in [0, 1].
  smoothing: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The rows pass's losses, for the forward pass.
@group(0) @binding(5) var<storage, read> losses: array<f32>;

// Powers of two, TEAM ≤ WG (lines.wgsl): TEAM invocations take each row.
override WG: u32;
override TEAM: u32;

// #include "grid.wgsl"
// #include "lines.wgsl"
// #include "blocked_sum.wgsl"
// #include "nan.wgsl"

var<workgroup> partial: array<f32, WG>;
var<workgroup> kept: array<u32, WG>;

// The maximum of a member's share of row `base` (classes k0, k0 + TEAM, ...; −inf for none).
fn member_row_max(base: u32, k0: u32) -> f32 {
  var m = neg_inf();
  for (var j = k0; j < params.classes; j += TEAM) {
    m = max(m, logits[base + j]);
  }
  return m;
}

// Σ exp(x_j − m) over a member's share of row `base`.
fn member_row_sum_exp(base: u32, k0: u32, m: f32) -> f32 {
  var s: BlockedSum;
  for (var j = k0; j < params.classes; j += TEAM) {
    blocked_add(&s, exp(logits[base + j] - m));
  }
  return blocked_total(s);
}

// Σ (m − x_j) over a member's share of row `base`: each term ≥ 0, so no cancellation.
fn member_row_gap(base: u32, k0: u32, m: f32) -> f32 {
  var s: BlockedSum;
  for (var j = k0; j < params.classes; j += TEAM) {
    blocked_add(&s, m - logits[base + j]);
  }
  return blocked_total(s);
}

// The row's maximum and Σ exp(x − maximum), to each member of its team; a row not counted
// (past the batch, or ignored) gives −inf and 0. Every invocation of the workgroup calls it.
fn row_stats(lid: u32, base: u32, k0: u32, counted: bool) -> vec2f {
  var m = neg_inf();
  if (counted) { m = member_row_max(base, k0); }
  let top = team_combine(lid, m, true);
  var s = 0.0;
  if (counted) { s = member_row_sum_exp(base, k0, top); }
  return vec2f(top, team_combine(lid, s, false));
}

fn label_ok(label: i32) -> bool {
  return label >= 0 && label < i32(params.classes);
}

fn kept_rows_from(lid: u32) -> u32 {
  var n = 0u;
  for (var b = lid; b < params.batch; b += WG) {
    n += select(1u, 0u, labels[b] == params.ignore);
  }
  return n;
}

// K, the rows not ignored, counted by the whole workgroup (call it in uniform control flow).
fn kept_rows(lid: u32) -> u32 {
  kept[lid] = kept_rows_from(lid);
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      kept[lid] += kept[lid + width];
    }
  }
  return workgroupUniformLoad(&kept[0]);
}

// A team's row: where it is, its label (the ignored one past the batch), whether it counts, and
// its maximum and Σ exp(x − maximum). Every invocation of the workgroup calls it.
struct TeamRow {
  r: LineMember,
  label: i32,
  counted: bool,
  stats: vec2f,
}

fn team_row(wid: vec3u, nwg: vec3u, lid: u32) -> TeamRow {
  let r = line_member(wid, nwg, lid, params.batch, params.classes, 1u);
  var label = params.ignore;
  if (r.live) { label = labels[r.line]; }
  let counted = label != params.ignore;
  return TeamRow(r, label, counted, row_stats(lid, r.first, r.k, counted));
}

// A team per row: its loss, log Σ_j exp(x_j − m) + (m − x_label) (smoothed: see the top), NaN
// for a label out of range, 0 for an ignored row.
@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = team_row(wid, nwg, lid);
  let r = row.r;
  let stats = row.stats;
  // Label smoothing's mean gap to the maximum, when asked for (a uniform branch: it holds barriers).
  var gap = 0.0;
  if (params.smoothing != 0.0) {
    var s = 0.0;
    if (row.counted) { s = member_row_gap(r.first, r.k, stats.x); }
    gap = team_combine(lid, s, false) / f32(params.classes);
  }
  if (!r.live || r.k != 0u) { return; }
  var loss = 0.0;
  if (row.counted) {
    loss = params.nan;
    if (label_ok(row.label)) {
      // NOTE: (m − x_label) first: it is exact when x_label is near the max, which keeps the
      // small log-sum-exp term from being rounded away against huge logits.
      var to_label = stats.x - logits[r.first + u32(row.label)];
      if (params.smoothing != 0.0) { to_label = (1.0 - params.smoothing) * to_label + params.smoothing * gap; }
      loss = log(stats.y) + to_label;
    }
  }
  out[r.line] = loss;
}

// One workgroup: the mean of the rows' losses over the K rows not ignored (0/0, NaN, for K = 0,
// as PyTorch's), each invocation adding up every WG-th row, then the partial sums combined as a
// tree in workgroup memory (a fixed order, so the result is deterministic).
@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_index) lid: u32) {
  // Blocked: an invocation adds up batch / WG losses (65,000 of them in a batch of 4 million).
  var acc: BlockedSum;
  for (var b = lid; b < params.batch; b += WG) {
    blocked_add(&acc, losses[b]);
  }
  partial[lid] = blocked_total(acc);
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  let k = kept_rows(lid);
  if (lid == 0u) {
    out[0] = select(params.nan, partial[0] / f32(k), k > 0u);
  }
}

// g/K, the scale of the backward pass, from the upstream gradient g and the K rows not ignored
// (one workgroup; out is one value). Counted once here rather than by every workgroup of the
// backward pass, which would read all B labels per workgroup (B²/WG reads).
@compute @workgroup_size(WG)
fn scale(@builtin(local_invocation_index) lid: u32) {
  let k = kept_rows(lid);
  if (lid == 0u) {
    // K = 0: every row is ignored, their gradient zero; 0 here (not g/0) keeps it so in the
    // gradient's own gradient, which multiplies by this, as PyTorch's.
    out[0] = select(g[0] / f32(k), 0.0, k == 0u);
  }
}

// A team per row: out[b][j] = (softmax(x_b)_j − t_j) · s, the target t_j = (1 − ε)·[j = label_b]
// + ε/C, where s = g / K comes in g (from the scale entry point).
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = team_row(wid, nwg, lid);
  let r = row.r;
  let stats = row.stats;
  if (!r.live) { return; }
  if (!row.counted) {
    for (var j = r.k; j < params.classes; j += TEAM) {
      out[r.first + j] = 0.0;
    }
    return;
  }
  let scale = g[0];
  let inv = select(params.nan, 1.0 / stats.y, label_ok(row.label));
  let uniform = params.smoothing / f32(params.classes);
  for (var j = r.k; j < params.classes; j += TEAM) {
    let p = exp(logits[r.first + j] - stats.x) * inv;
    out[r.first + j] = (p - select(0.0, 1.0 - params.smoothing, i32(j) == row.label) - uniform) * scale;
  }
}
