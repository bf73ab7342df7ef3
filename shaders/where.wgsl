// where(cond, a, b) with NumPy broadcasting of all three: out[i] = a[ia] where cond[ic] is not
// zero (NaN included: bool(nan) is True), else b[ib], as torch.where of cond != 0. The shape
// comes in Params as at most 8 runs of axes (see walked in elementwise.ts); a stride of 0 marks
// a broadcast axis.

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  cond_strides: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"
// #include "walk.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let step = thread_count(nwg, WG);
  var i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  var w = walk_start(i, step);
  loop {
    // Tested on the bits: ±0 is false, anything else (NaN too) true, whatever a compiler assumes.
    let c = cond[walk_offset(w.coord, params.cond_strides)];
    out[i] = select(b[walk_offset(w.coord, params.b_strides)], a[walk_offset(w.coord, params.a_strides)], (bitcast<u32>(c) & 0x7fffffffu) != 0u);
    i += step;
    if (i >= params.n) { break; }
    walk_next(&w);
  }
}
