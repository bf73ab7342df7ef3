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

// NOTE: the math functions below set their edge values (NaN, ±inf, ±0, overflow) explicitly, on
// the bits: WGSL lets compilers assume finite floats, and bounds the builtins' error only for
// finite results (lavapipe's log of a subnormal is −88, its tanh(1e-8) is 3e-8).

// ±inf with the sign of s; built at run time, since an infinite constant does not compile.
fn inf_like(s: f32) -> f32 {
  return bitcast<f32>((bitcast<u32>(s) & 0x80000000u) | 0x7f800000u);
}

fn nan_like(s: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(s) | 0x7fc00000u);
}

fn exp_f32(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  // 88.72284 rounds to the least f32 whose exp overflows; exp(−104) is below half the least subnormal.
  if (v >= 88.72284) { return inf_like(v); }
  if (v < -104.0) { return 0.0; }
  return exp(v);
}

fn log_f32(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if (is_nan(v) || bits == 0x7f800000u) { return v; }
  if ((bits & 0x7fffffffu) == 0u) { return inf_like(-1.0); }
  if (bits > 0x80000000u) { return nan_like(v); }
  // A subnormal is bits · 2^−149: its bits are an exact integer below 2^23.
  if (bits < 0x00800000u) { return log(f32(bits)) - 103.27892990343185; }
  // On [0.5, 2] WGSL bounds log's error only absolutely (2^−21), most of the result near 1:
  // there 2·atanh(s), s = (v − 1) / (v + 1) (v − 1 exact), as Σ 2·s^(2k+1) / (2k + 1) to k = 8,
  // whose next term is below 2^−32 of the first (|s| ≤ 1/3).
  if (v >= 0.5 && v <= 2.0) {
    let s = (v - 1.0) / (v + 1.0);
    let q = s * s;
    let p = 1.0 + q * (1.0 / 3.0 + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q * (1.0 / 13.0 + q * (1.0 / 15.0 + q / 17.0)))))));
    return 2.0 * s * p;
  }
  return log(v);
}

fn sqrt_f32(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  // ±0 and +inf are their own roots (sqrt(−0) = −0, as IEEE and PyTorch).
  if (is_nan(v) || (bits & 0x7fffffffu) == 0u || bits == 0x7f800000u) { return v; }
  if (bits > 0x80000000u) { return nan_like(v); }
  // A subnormal (flushed to 0 by some drivers) is bits · 2^−149: its root is √bits · 2^−74.5.
  if (bits < 0x00800000u) { return sqrt(f32(bits)) * 3.743392130574644e-23; }
  return sqrt(v);
}

// 1 / (1 + e^−v) through e^−|v| only, which never overflows: no inf / inf at large |v|.
fn sigmoid_f32(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  let z = exp_f32(-abs(v));
  return select(z, 1.0, v >= 0.0) / (1.0 + z);
}

// tanh|v| = (1 − e^−2|v|) / (1 + e^−2|v|), with v's sign. Below 0.25, where 1 − e^−2|v| cancels
// (to 0 at 1e-8), its Taylor series to v^9 instead: within 1 ulp there.
fn tanh_f32(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  let a = abs(v);
  var t: f32;
  if (a < 0.25) {
    let s = a * a;
    t = a + a * s * (-0.33333333333 + s * (0.13333333333 + s * (-0.053968253968 + s * 0.021869488536)));
  } else {
    let z = exp_f32(-2.0 * a);
    t = (1.0 - z) / (1.0 + z);
  }
  return bitcast<f32>(bitcast<u32>(t) | (bitcast<u32>(v) & 0x80000000u));
}

// The entry points of the functions above (not named exp, log, …: those would hide the builtins).

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
