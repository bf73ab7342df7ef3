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
// #include "math.wgsl"

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

// The entry points of lib/math.wgsl's functions (not named exp, log, …: those would hide the builtins).

@compute @workgroup_size(WG)
fn exponential(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = exp_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn logarithm(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = log_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn square_root(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = sqrt_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn sigmoid(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = sigmoid_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn hyperbolic_tangent(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = tanh_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn absolute(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = abs_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn signum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = sign_f32(x[i]);
  }
}

// alpha and beta: the lower and upper bound.
@compute @workgroup_size(WG)
fn clamp_range(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = clamp_f32(x[i], params.alpha, params.beta);
  }
}

@compute @workgroup_size(WG)
fn clamp_mask(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = clamp_mask_f32(x[i], params.alpha, params.beta);
  }
}

// alpha: the exponent.
@compute @workgroup_size(WG)
fn power(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = pow_f32(x[i], params.alpha);
  }
}

@compute @workgroup_size(WG)
fn power_one(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = 1.0;
  }
}

@compute @workgroup_size(WG)
fn power_copy(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = x[i];
  }
}

@compute @workgroup_size(WG)
fn power_square(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    let v = x[i];
    out[i] = v * v;
  }
}

@compute @workgroup_size(WG)
fn power_cube(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    let v = x[i];
    out[i] = v * v * v;
  }
}

@compute @workgroup_size(WG)
fn power_reciprocal(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = recip_f32(x[i]);
  }
}

@compute @workgroup_size(WG)
fn power_reciprocal_square(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    let v = x[i];
    out[i] = recip_f32(v * v);
  }
}

@compute @workgroup_size(WG)
fn power_reciprocal_sqrt(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i < params.n) {
    out[i] = rsqrt_f32(x[i]);
  }
}
