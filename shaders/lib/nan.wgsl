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

// max(v, 0) as PyTorch's relu: NaN and −0 stay as they are. Chosen on the bits (sign set, not
// −0, not NaN), which no compiler may fold into a float max of either sign of zero.
fn rectify(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  return select(v, 0.0, bits > 0x80000000u && bits <= 0xff800000u);
}

fn rectify4(v: vec4<f32>) -> vec4<f32> {
  let bits = bitcast<vec4<u32>>(v);
  return select(v, vec4(0.0), (bits > vec4(0x80000000u)) & (bits <= vec4(0xff800000u)));
}

// Whether ReLU's gradient passes at a point whose input (or output) is v: everywhere but
// v ≤ 0, as PyTorch's threshold_backward, so NaN passes too.
fn relu_passes(v: f32) -> bool {
  return v > 0.0 || is_nan(v);
}

// A key whose i32 order is IEEE's order of floats other than NaN, −0 equal to +0. A choice made
// on keys and moved as bits (pick) keeps the sign of a zero: one made on floats may be turned
// into the driver's min or max, whose sign of zero is unspecified (NVIDIA's clamp(−0, 0) was 0
// where PyTorch's is −0).
fn order_key(v: f32) -> i32 {
  let b = bitcast<i32>(v);
  return select(b, -(b & 0x7fffffff), b < 0);
}

// a where c holds, else b, as bits.
fn pick(c: bool, a: f32, b: f32) -> f32 {
  return bitcast<f32>(select(bitcast<u32>(b), bitcast<u32>(a), c));
}
