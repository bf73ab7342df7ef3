// Batch normalisation's kernels, over x viewed as [N, C, S] (S: the values after the channels,
// 1 for [N, C]), each channel's M = N·S values normalised by its statistics [2, C] (mean, then
// the biased variance):
//   stats       a workgroup per channel: the mean, then the variance as the mean of squared
//               deviations from it (two passes, as PyTorch's)
//   apply       y = (x − mean)·invstd·weight + bias, invstd = 1/√(var + eps)
//   grad_sums   a workgroup per channel: Σg and Σg·x̂, x̂ = (x − mean)·invstd: the gradients of
//               bias and weight, and what x's takes
//   grad_input  dx = weight·invstd·(g − Σg/M − x̂·Σg·x̂/M): the gradient of x through the
//               batch's statistics too

struct Params {
  channels: u32,
  inner: u32,
  // Elements of x.
  n: u32,
  // M, values per channel.
  count: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read> sums: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"

var<workgroup> partial: array<f32, WG>;

// The workgroup's sum of v, to every invocation (all of them call it: it holds barriers).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) { partial[lid] += partial[lid + width]; }
  }
  workgroupBarrier();
  let total = partial[0];
  workgroupBarrier(); // before partial is written again
  return total;
}

// Where channel c's j-th value is in x.
fn at(c: u32, j: u32) -> u32 {
  return (j / params.inner) * params.channels * params.inner + c * params.inner + j % params.inner;
}

fn channel_of(i: u32) -> u32 {
  return (i / params.inner) % params.channels;
}

fn invstd(c: u32) -> f32 {
  return 1.0 / sqrt(stats[params.channels + c] + params.eps);
}

@compute @workgroup_size(WG)
fn batch_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = group_index(wid, nwg);
  let live = c < params.channels;
  let m = f32(params.count);
  var s = BlockedSum();
  if (live) { for (var j = lid; j < params.count; j += WG) { blocked_add(&s, x[at(c, j)]); } }
  let mean = workgroup_sum(lid, blocked_total(s)) / m;
  var q = BlockedSum();
  if (live) {
    for (var j = lid; j < params.count; j += WG) {
      let d = x[at(c, j)] - mean;
      blocked_add(&q, d * d);
    }
  }
  let variance = workgroup_sum(lid, blocked_total(q)) / m;
  if (live && lid == 0u) {
    out[c] = mean;
    out[params.channels + c] = variance;
  }
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let c = channel_of(i);
  out[i] = (x[i] - stats[c]) * invstd(c) * weight[c] + bias[c];
}

@compute @workgroup_size(WG)
fn grad_sums(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = group_index(wid, nwg);
  let live = c < params.channels;
  var s = BlockedSum();
  var sc = BlockedSum();
  if (live) {
    let mean = stats[c];
    for (var j = lid; j < params.count; j += WG) {
      let k = at(c, j);
      blocked_add(&s, g[k]);
      blocked_add(&sc, g[k] * (x[k] - mean));
    }
  }
  let total = workgroup_sum(lid, blocked_total(s));
  let centred = workgroup_sum(lid, blocked_total(sc));
  if (live && lid == 0u) {
    out[c] = total;
    out[params.channels + c] = centred * invstd(c);
  }
}

@compute @workgroup_size(WG)
fn grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let c = channel_of(i);
  let m = f32(params.count);
  let r = invstd(c);
  out[i] = weight[c] * r * (g[i] - sums[c] / m - (x[i] - stats[c]) * r * sums[params.channels + c] / m);
}
