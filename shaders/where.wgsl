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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var i = thread_index(wid, nwg, lid, WG); i < params.n; i += thread_count(nwg, WG)) {
    // Output element i's offsets in cond, a and b.
    var rest = i;
    var at = vec3u(0u);
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
      let q = u32(d) / 4u;
      let r = u32(d) % 4u;
      let size = params.shape[q][r];
      let coord = rest % size;
      rest = rest / size;
      at += coord * vec3u(params.cond_strides[q][r], params.a_strides[q][r], params.b_strides[q][r]);
    }
    // Tested on the bits: ±0 is false, anything else (NaN too) true, whatever a compiler assumes.
    out[i] = select(b[at.z], a[at.y], (bitcast<u32>(cond[at.x]) & 0x7fffffffu) != 0u);
  }
}
