// Elementwise unary ops on f32: out[i] = f(x[i]), one entry point per f.

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"
// #include "nan.wgsl"

@compute @workgroup_size(WG)
fn relu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = rectify(x[i]);
  }
}

// alpha * x + beta: scaling, negation, shifts.
@compute @workgroup_size(WG)
fn affine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = params.alpha * x[i] + params.beta;
  }
}
