// Batch normalisation's kernels, over x viewed as [N, C, S] (S: the values after the channels,
// 1 for [N, C]), each channel's M = N·S values normalised by its statistics [2, C] (mean, then
// the biased variance). The reductions take each channel in `groups` chunks, a workgroup each
// (a GPU wants far more workgroups than there are channels), then combine the chunks':
//   stats_chunks  each chunk's mean and sum of squared deviations from it (two passes), [C, G, 2]
//   stats_combine combined by Chan et al.'s pairwise update, to mean and variance, [2, C]
//   apply         y = (x − mean)·invstd·weight + bias, invstd = 1/√(var + eps)
//   grad_chunks   each chunk's Σg and Σg·(x − mean), [C, G, 2]
//   grad_sums     their totals, Σg and Σg·x̂ (x̂ = (x − mean)·invstd), [2, C]: the gradients of
//                 bias and weight, and what x's takes
//   grad_input    dx = weight·invstd·(g − Σg/M − x̂·Σg·x̂/M): the gradient of x through the
//                 batch's statistics too
//   stats_grad    dx = (gmean + 2·gvar·(x − mean))/M: the gradient of x through its statistics,
//                 given theirs [2, C] (in sums)

struct Params {
  channels: u32,
  inner: u32,
  // Elements of x.
  n: u32,
  // M, values per channel.
  count: u32,
  eps: f32,
  // Chunks per channel, and values per chunk (the last may hold fewer).
  groups: u32,
  chunk: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read> sums: array<f32>;
@group(0) @binding(7) var<storage, read> chunks: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

override WG: u32;
// apply: a ReLU after the normalisation, fused into it (batchnorm.ts, absorb): rectify as
// unary.wgsl's relu.
override RELU: bool = false;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"
// #include "nan.wgsl"

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

// A walk along channel c's values j, j + step, …: their sample q = j / inner and position
// r = j % inner carried from one to the next, as integer division is slow on a CPU adapter.
struct Walk {
  q: u32,
  r: u32,
  dq: u32,
  dr: u32,
}

fn walk_from(j: u32, step: u32) -> Walk {
  return Walk(j / params.inner, j % params.inner, step / params.inner, step % params.inner);
}

// Where channel c's value at the walk's position is in x.
fn walk_at(c: u32, w: Walk) -> u32 {
  return (w.q * params.channels + c) * params.inner + w.r;
}

fn walk_next(w: ptr<function, Walk>) {
  (*w).r += (*w).dr;
  let carry = (*w).r >= params.inner;
  (*w).r = select((*w).r, (*w).r - params.inner, carry);
  (*w).q += (*w).dq + select(0u, 1u, carry);
}

// The elements i, i + step, … of a grid-stride loop over x (strideGrid), with each one's
// channel (i / inner) % channels carried likewise; the step's digits only where it is taken.
struct Elements {
  i: u32,
  c: u32,
  r: u32,
  step: u32,
  dc: u32,
  dr: u32,
}

fn elements_from(i: u32, step: u32) -> Elements {
  var e = Elements(i, (i / params.inner) % params.channels, i % params.inner, step, 0u, 0u);
  if (i + step < params.n) {
    e.dc = (step / params.inner) % params.channels;
    e.dr = step % params.inner;
  }
  return e;
}

fn elements_next(e: ptr<function, Elements>) {
  (*e).i += (*e).step;
  (*e).r += (*e).dr;
  let carry = (*e).r >= params.inner;
  (*e).r = select((*e).r, (*e).r - params.inner, carry);
  let c = (*e).c + (*e).dc + select(0u, 1u, carry);
  (*e).c = select(c, c - params.channels, c >= params.channels);
}

fn invstd(c: u32) -> f32 {
  return 1.0 / sqrt(stats[params.channels + c] + params.eps);
}

// How many values chunk k of a channel holds (the last may hold fewer, or none).
fn chunk_length(k: u32) -> u32 {
  let first = k * params.chunk;
  return min(params.count, first + params.chunk) - min(params.count, first);
}

// The chunk a workgroup takes: its index among all channels' chunks, its channel, first value
// and length; `live` false for workgroups past the last (they still join the barriers).
struct Chunk {
  index: u32,
  channel: u32,
  first: u32,
  length: u32,
  live: bool,
}

fn chunk_of(wid: vec3u, nwg: vec3u) -> Chunk {
  let gi = group_index(wid, nwg);
  let k = gi % params.groups;
  return Chunk(gi, gi / params.groups, k * params.chunk, chunk_length(k), gi < params.channels * params.groups);
}

// The chunk's two results, to its pair in out [C, G, 2].
fn store_chunk(lid: u32, ch: Chunk, first: f32, second: f32) {
  if (ch.live && lid == 0u) {
    out[2u * ch.index] = first;
    out[2u * ch.index + 1u] = second;
  }
}

@compute @workgroup_size(WG)
fn stats_chunks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ch = chunk_of(wid, nwg);
  var s = BlockedSum();
  let start = walk_from(ch.first + lid, WG);
  var w = start;
  if (ch.live) {
    for (var j = lid; j < ch.length; j += WG) {
      blocked_add(&s, x[walk_at(ch.channel, w)]);
      walk_next(&w);
    }
  }
  let mean = workgroup_sum(lid, blocked_total(s)) / f32(max(ch.length, 1u));
  var q = BlockedSum();
  w = start;
  if (ch.live) {
    for (var j = lid; j < ch.length; j += WG) {
      let d = x[walk_at(ch.channel, w)] - mean;
      blocked_add(&q, d * d);
      walk_next(&w);
    }
  }
  store_chunk(lid, ch, mean, workgroup_sum(lid, blocked_total(q)));
}

// One invocation per channel: the chunks merged one by one (Chan, Golub and LeVeque's update
// of a mean and a sum of squared deviations), stable where the chunks' means differ.
@compute @workgroup_size(WG)
fn stats_combine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = thread_index(wid, nwg, lid, WG);
  if (c >= params.channels) { return; }
  var n = 0.0;
  var mean = 0.0;
  var squares = 0.0;
  for (var k = 0u; k < params.groups; k++) {
    let nb = f32(chunk_length(k));
    if (nb == 0.0) { continue; }
    let at_k = 2u * (c * params.groups + k);
    let delta = chunks[at_k] - mean;
    let total = n + nb;
    mean += delta * (nb / total);
    squares += chunks[at_k + 1u] + delta * delta * (n * nb / total);
    n = total;
  }
  out[c] = mean;
  out[params.channels + c] = squares / f32(params.count);
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  var e = elements_from(i, thread_count(nwg, WG));
  loop {
    let c = e.c;
    let y = (x[e.i] - stats[c]) * invstd(c) * weight[c] + bias[c];
    out[e.i] = select(y, rectify(y), RELU);
    elements_next(&e);
    if (e.i >= params.n) { break; }
  }
}

@compute @workgroup_size(WG)
fn grad_chunks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ch = chunk_of(wid, nwg);
  var s = BlockedSum();
  var sc = BlockedSum();
  if (ch.live) {
    let mean = stats[ch.channel];
    var w = walk_from(ch.first + lid, WG);
    for (var j = lid; j < ch.length; j += WG) {
      let k = walk_at(ch.channel, w);
      blocked_add(&s, g[k]);
      blocked_add(&sc, g[k] * (x[k] - mean));
      walk_next(&w);
    }
  }
  let total = workgroup_sum(lid, blocked_total(s));
  store_chunk(lid, ch, total, workgroup_sum(lid, blocked_total(sc)));
}

@compute @workgroup_size(WG)
fn grad_sums(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = thread_index(wid, nwg, lid, WG);
  if (c >= params.channels) { return; }
  var total = 0.0;
  var centred = 0.0;
  for (var k = 0u; k < params.groups; k++) {
    total += chunks[2u * (c * params.groups + k)];
    centred += chunks[2u * (c * params.groups + k) + 1u];
  }
  out[c] = total;
  out[params.channels + c] = centred * invstd(c);
}

@compute @workgroup_size(WG)
fn grad_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  // The sums' means by one reciprocal, not a division per element.
  let per = 1.0 / f32(params.count);
  var e = elements_from(i, thread_count(nwg, WG));
  loop {
    let c = e.c;
    let r = invstd(c);
    let k = e.i;
    out[k] = weight[c] * r * (g[k] - sums[c] * per - (x[k] - stats[c]) * r * (sums[params.channels + c] * per));
    elements_next(&e);
    if (e.i >= params.n) { break; }
  }
}

@compute @workgroup_size(WG)
fn stats_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let per = 1.0 / f32(params.count);
  var e = elements_from(i, thread_count(nwg, WG));
  loop {
    let c = e.c;
    out[e.i] = (sums[c] + 2.0 * sums[params.channels + c] * (x[e.i] - stats[c])) * per;
    elements_next(&e);
    if (e.i >= params.n) { break; }
  }
}
