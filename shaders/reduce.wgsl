// Sum over any set of axes. One workgroup per output element: its WG invocations each sum a
// strided share of the reduced elements, then combine their partial sums in workgroup memory.
// The kept and reduced axes (merged where adjacent) come in Params with their input strides.

struct Params {
  n_out: u32,
  n_red: u32,
  kept_rank: u32,
  red_rank: u32,
  kept_shape: array<vec4<u32>, 2>,
  kept_strides: array<vec4<u32>, 2>,
  red_shape: array<vec4<u32>, 2>,
  red_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// A power of two.
override WG: u32;

var<workgroup> partial: array<f32, WG>;

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
  let o = wid.y * nwg.x + wid.x;
  // Uniform control flow: every invocation of a workgroup shares o, so all reach the barriers.
  let live = o < params.n_out;
  var acc = 0.0;
  if (live) {
    let base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    for (var r = lid; r < params.n_red; r += WG) {
      acc += x[base + offset_of(r, params.red_rank, params.red_shape, params.red_strides)];
    }
  }
  partial[lid] = acc;
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
