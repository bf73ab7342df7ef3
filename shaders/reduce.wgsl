// Sum over any set of axes. One workgroup per output element. The reduced axes split into an
// inner one (the last) and the outer rest: every invocation walks all outer positions and,
// within each, a WG-strided share of the inner axis — so index arithmetic (integer division,
// slow on CPU drivers) is paid per outer position, not per element — then the invocations
// combine their partial sums in workgroup memory. Kept and reduced axes (adjacent ones merged)
// come in Params with their input strides. Each invocation's long run is summed with
// Neumaier's compensation, so a sum of n elements keeps about f32 precision (a plain running
// sum loses log2(n / WG) bits: 1e-4 relative error at a million elements).

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

// A power of two.
override WG: u32;

var<workgroup> partial: array<f32, WG>;

// #include "grid.wgsl"
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
  var acc = 0.0;
  var lost = 0.0; // what rounding took from acc
  if (live) {
    let base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        let v = x[start + i * params.inner_stride];
        let t = acc + v;
        lost += select((v - t) + acc, (acc - t) + v, abs(acc) >= abs(v));
        acc = t;
      }
    }
  }
  // Once acc is ±inf or NaN, so is the sum; the compensation then holds only NaN.
  partial[lid] = select(acc + lost, acc, is_inf_or_nan(acc));
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
