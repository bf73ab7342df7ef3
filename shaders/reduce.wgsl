// Sum (entry sum) or maximum (entry amax) over any set of axes, and amax's gradient weights
// (entry amax_weights). One workgroup per output element. The reduced axes split into an
// inner one (the last) and the outer rest: every invocation walks all outer positions and,
// within each, a WG-strided share of the inner axis — so index arithmetic (integer division,
// slow on CPU drivers) is paid per outer position, not per element — then the invocations
// combine their partial sums in workgroup memory. Kept and reduced axes (adjacent ones merged)
// come in Params with their input strides.
//
// Each invocation's long run is summed in blocks (lib/blocked_sum.wgsl), so a sum of millions
// keeps about f32 precision.

struct Params {
  n_out: u32,
  kept_rank: u32,
  outer_rank: u32,
  n_outer: u32,
  inner: u32,
  inner_stride: u32,
  kept_shape: array<vec4<u32>, 2>,
  kept_strides: array<vec4<u32>, 2>,
  outer_shape: array<vec4<u32>, 2>,
  outer_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
// amax_weights: the maxima (one per output position of amax).
@group(0) @binding(3) var<storage, read> m: array<f32>;

// A power of two.
override WG: u32;

var<workgroup> partial: array<f32, WG>;

// #include "grid.wgsl"
// #include "blocked_sum.wgsl"
// #include "nan.wgsl"

fn offset_of(index: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rest = index;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    off += (rest % shape[q][r]) * strides[q][r];
    rest = rest / shape[q][r];
  }
  return off;
}

@compute @workgroup_size(WG)
fn sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = group_index(wid, nwg);
  // Uniform control flow: every invocation of a workgroup shares o, so all reach the barriers.
  let live = o < params.n_out;
  var acc: BlockedSum;
  if (live) {
    let base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        blocked_add(&acc, x[start + i * params.inner_stride]);
      }
    }
  }
  // ±inf and NaN come through the additions as they do in any sum.
  partial[lid] = blocked_total(acc);
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  if (live && lid == 0u) {
    out[o] = partial[0];
  }
}

// The larger of a and b, NaN if either is (as torch.amax); tested on the bits, since a compiler
// may assume floats are never NaN (lavapipe's max(NaN, 0.0) is 0.0).
fn max_nan(a: f32, b: f32) -> f32 {
  return select(select(max(a, b), b, is_nan(b)), a, is_nan(a));
}

@compute @workgroup_size(WG)
fn amax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = group_index(wid, nwg);
  let live = o < params.n_out;
  // −inf: the identity, for invocations past the inner axis' end (the host refuses empty axes).
  var best = neg_inf();
  if (live) {
    let base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        best = max_nan(best, x[start + i * params.inner_stride]);
      }
    }
  }
  partial[lid] = best;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] = max_nan(partial[lid], partial[lid + width]);
    }
  }
  if (live && lid == 0u) {
    out[o] = partial[0];
  }
}

// The weights of amax's gradient, as torch.amax's: 1/count where x equals its line's maximum m
// (count: how many do), 0 elsewhere; x-shaped, written at the positions amax read. A line whose
// maximum is NaN has no equal: 0/0, NaN throughout, as torch's (g / count) · mask.
@compute @workgroup_size(WG)
fn amax_weights(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = group_index(wid, nwg);
  let live = o < params.n_out;
  var base = 0u;
  var top = 0.0;
  var ties = 0.0;
  if (live) {
    base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    top = m[o];
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        ties += select(0.0, 1.0, x[start + i * params.inner_stride] == top && !is_nan(top));
      }
    }
  }
  partial[lid] = ties;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  workgroupBarrier();
  let count = partial[0];
  if (live) {
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        let at = start + i * params.inner_stride;
        out[at] = select(0.0, 1.0, x[at] == top && !is_nan(top)) / count;
      }
    }
  }
}

// The same three for reductions of a few values each (reduce.ts: SHORT), one invocation per
// output: a workgroup per output would spend its time starting up and at its barriers (a sum
// over a last axis of 4 took 100 times PyTorch's on lavapipe). Each walks its values in order.

// The offset in x of output o's r-th outer position.
fn short_start(o: u32, r: u32) -> u32 {
  return offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides) + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
}

@compute @workgroup_size(WG)
fn sum_short(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = thread_index(wid, nwg, lid, WG);
  if (o >= params.n_out) { return; }
  var acc: BlockedSum;
  for (var r = 0u; r < params.n_outer; r++) {
    let start = short_start(o, r);
    for (var i = 0u; i < params.inner; i++) {
      blocked_add(&acc, x[start + i * params.inner_stride]);
    }
  }
  out[o] = blocked_total(acc);
}

@compute @workgroup_size(WG)
fn amax_short(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = thread_index(wid, nwg, lid, WG);
  if (o >= params.n_out) { return; }
  var best = neg_inf();
  for (var r = 0u; r < params.n_outer; r++) {
    let start = short_start(o, r);
    for (var i = 0u; i < params.inner; i++) {
      best = max_nan(best, x[start + i * params.inner_stride]);
    }
  }
  out[o] = best;
}

@compute @workgroup_size(WG)
fn amax_weights_short(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = thread_index(wid, nwg, lid, WG);
  if (o >= params.n_out) { return; }
  let top = m[o];
  var count = 0.0;
  for (var r = 0u; r < params.n_outer; r++) {
    let start = short_start(o, r);
    for (var i = 0u; i < params.inner; i++) {
      count += select(0.0, 1.0, x[start + i * params.inner_stride] == top && !is_nan(top));
    }
  }
  for (var r = 0u; r < params.n_outer; r++) {
    let start = short_start(o, r);
    for (var i = 0u; i < params.inner; i++) {
      let at = start + i * params.inner_stride;
      out[at] = select(0.0, 1.0, x[at] == top && !is_nan(top)) / count;
    }
  }
}
