// Elementwise unary ops on f32: out[i] = f(x[i]), f chosen by the override constant FN, so each
// function is a pipeline of its own and compiles to its branch alone. The host names them by the
// FN_ constants (src/ops/elementwise.ts reads them from this file).

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;
override FN: u32;

const FN_RELU = 0u;
const FN_AFFINE = 1u;
const FN_EXP = 2u;
const FN_LOG = 3u;
const FN_SQRT = 4u;
const FN_SIGMOID = 5u;
const FN_TANH = 6u;
const FN_ABS = 7u;
const FN_SIGN = 8u;
const FN_CLAMP = 9u;
const FN_CLAMP_MASK = 10u;
const FN_POW = 11u;
const FN_POW_ONE = 12u;
const FN_POW_COPY = 13u;
const FN_POW_SQUARE = 14u;
const FN_POW_CUBE = 15u;
const FN_POW_RECIPROCAL = 16u;
const FN_POW_RECIPROCAL_SQUARE = 17u;
const FN_POW_RECIPROCAL_SQRT = 18u;
const FN_LEAKY_RELU = 19u;
const FN_LEAKY_RELU_SLOPE = 20u;
const FN_NORMAL_CDF = 21u;
const FN_ELU = 22u;
const FN_ELU_SLOPE = 23u;
const FN_SOFTPLUS = 24u;
const FN_SOFTPLUS_SLOPE = 25u;
const FN_CLAMP_INSIDE_MASK = 26u;
const FN_HARDTANH_MASK = 27u;
const FN_HARDSIGMOID = 28u;
const FN_HARDSWISH = 29u;
const FN_HARDSWISH_SLOPE = 30u;
const FN_SOFTSHRINK = 31u;
const FN_HARDSHRINK = 32u;
const FN_SHRINK_MASK = 33u;
const FN_THRESHOLD = 34u;
const FN_THRESHOLD_MASK = 35u;
const FN_SCALE = 36u;
const FN_XLOGX = 37u;
const FN_EXPM1 = 38u;

// #include "grid.wgsl"
// #include "nan.wgsl"
// #include "math.wgsl"

fn apply(v: f32) -> f32 {
  switch FN {
    // ReLU (NaN kept)
    case FN_RELU: { return rectify(v); }
    // alpha · v + beta: scaling, negation, shifts
    case FN_AFFINE: { return params.alpha * v + params.beta; }
    // alpha · v alone: adding a zero beta would turn −0 into +0 (−x of 0 is −0, as PyTorch's).
    case FN_SCALE: { return params.alpha * v; }
    case FN_EXP: { return exp_f32(v); }
    case FN_EXPM1: { return expm1_f32(v); }
    case FN_LOG: { return log_f32(v); }
    // x·log x, 0 at 0 (where log gives −inf), NaN below 0 (log's NaN).
    case FN_XLOGX: { return select(v * log_f32(v), 0.0, v == 0.0); }
    case FN_SQRT: { return sqrt_f32(v); }
    case FN_SIGMOID: { return sigmoid_f32(v); }
    case FN_TANH: { return tanh_f32(v); }
    case FN_ABS: { return abs_f32(v); }
    case FN_SIGN: { return sign_f32(v); }
    // alpha and beta: the lower and upper bound
    case FN_CLAMP: { return clamp_f32(v, params.alpha, params.beta); }
    case FN_CLAMP_MASK: { return clamp_mask_f32(v, params.alpha, params.beta); }
    // 1 strictly inside the bounds (NaN: 0); hardtanh's gradient mask, 0 at or outside them (NaN: 1)
    case FN_CLAMP_INSIDE_MASK: { return select(0.0, 1.0, v > params.alpha && v < params.beta); }
    case FN_HARDTANH_MASK: { return select(1.0, 0.0, v <= params.alpha || v >= params.beta); }
    // PyTorch's formulas: min(max(v + 3, 0), 6) / 6, v times that, and the latter's slope
    case FN_HARDSIGMOID: { return clamp_f32(v + 3.0, 0.0, 6.0) / 6.0; }
    case FN_HARDSWISH: { return v * clamp_f32(v + 3.0, 0.0, 6.0) / 6.0; }
    case FN_HARDSWISH_SLOPE: { return select(select(1.0, v / 3.0 + 0.5, v < 3.0), 0.0, v <= -3.0); }
    // alpha: λ. PyTorch's comparisons, NaN included: hardshrink's NaN, the mask's 1; softshrink keeps
    // NaN as PyTorch's since pytorch/pytorch#138421 (its comparisons alone gave 0)
    case FN_SOFTSHRINK: { return select(select(select(0.0, v, is_nan(v)), v + params.alpha, v < -params.alpha), v - params.alpha, v > params.alpha); }
    case FN_HARDSHRINK: { return select(v, 0.0, v >= -params.alpha && v <= params.alpha); }
    case FN_SHRINK_MASK: { return select(1.0, 0.0, v >= -params.alpha && v <= params.alpha); }
    // alpha: the threshold, beta: the value at or below it (NaN: kept, and its gradient passes)
    case FN_THRESHOLD: { return select(v, params.beta, v <= params.alpha); }
    case FN_THRESHOLD_MASK: { return select(1.0, 0.0, v <= params.alpha); }
    // alpha: the exponent
    case FN_POW: { return pow_f32(v, params.alpha); }
    case FN_POW_ONE: { return 1.0; }
    case FN_POW_COPY: { return v; }
    case FN_POW_SQUARE: { return v * v; }
    case FN_POW_CUBE: { return v * v * v; }
    case FN_POW_RECIPROCAL: { return recip_f32(v); }
    case FN_POW_RECIPROCAL_SQUARE: { return recip_square_f32(v); }
    case FN_POW_RECIPROCAL_SQRT: { return rsqrt_f32(v); }
    // alpha: the slope below 0 (NaN kept: NaN > 0 is false, and alpha · NaN is NaN)
    case FN_LEAKY_RELU: { return select(params.alpha * v, v, v > 0.0); }
    // its derivative: 1 for v > 0, else alpha (NaN too, as PyTorch's backward)
    case FN_LEAKY_RELU_SLOPE: { return select(params.alpha, 1.0, v > 0.0); }
    // Φ(v), for GELU
    case FN_NORMAL_CDF: { return normal_cdf_f32(v); }
    // alpha and beta: ELU's α and input scale
    case FN_ELU: { return elu_f32(v, params.alpha, params.beta); }
    case FN_ELU_SLOPE: { return elu_slope_f32(v, params.alpha, params.beta); }
    // alpha and beta: softplus's β and threshold
    case FN_SOFTPLUS: { return softplus_f32(v, params.alpha, params.beta); }
    case FN_SOFTPLUS_SLOPE: { return softplus_slope_f32(v, params.alpha, params.beta); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var i = thread_index(wid, nwg, lid, WG); i < params.n; i += thread_count(nwg, WG)) {
    out[i] = apply(x[i]);
  }
}
