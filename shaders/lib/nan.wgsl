// NaN and infinity, tested on the bits: WGSL lets compilers assume floats are never NaN (lavapipe folds
// `v != v` to false, and its max(NaN, 0.0) is 0.0). ReLU keeps NaN, as PyTorch's does, so a
// diverging network shows NaN instead of zeros, and so do buffers poisoned for debugging.

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// ±inf (not `abs(v) > 3.4e38`: that may fold too).
fn is_inf(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// −inf, built at run time: a constant −inf does not compile.
fn neg_inf() -> f32 {
  var bits = 0xff800000u;
  return bitcast<f32>(bits);
}

fn is_nan4(v: vec4<f32>) -> vec4<bool> {
  return (bitcast<vec4<u32>>(v) & vec4(0x7fffffffu)) > vec4(0x7f800000u);
}

fn rectify(v: f32) -> f32 {
  return select(max(v, 0.0), v, is_nan(v));
}

fn rectify4(v: vec4<f32>) -> vec4<f32> {
  return select(max(v, vec4(0.0)), v, is_nan4(v));
}

// Whether ReLU's gradient passes at a point whose input (or output) is v: everywhere but
// v ≤ 0, as PyTorch's threshold_backward, so NaN passes too.
fn relu_passes(v: f32) -> bool {
  return v > 0.0 || is_nan(v);
}
