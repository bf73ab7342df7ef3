// Elementwise binary ops with NumPy broadcasting: out[i] = f(a[ia], b[ib]), f chosen by the
// override constant FN (one pipeline per function; the host names them by the FN_ constants).
// Comparisons give 1 or 0 (PyTorch's bool, as .float()), of f32 operands (main) or i32 (ints).
// The shape comes in Params as at most 8 axes (adjacent axes that broadcast alike merged into
// one, see elementwise.ts); a stride of 0 marks a broadcast axis.

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// The operands of the ints entry.
@group(0) @binding(1) var<storage, read> a_ints: array<i32>;
@group(0) @binding(2) var<storage, read> b_ints: array<i32>;

override WG: u32;
// False when a, b and out have one shape: then every index is i.
override BROADCAST: bool;
override FN: u32;
// A ReLU after f, fused into this kernel (elementwise.ts, absorb): rectify as unary.wgsl's relu.
override RELU: bool = false;

// #include "grid.wgsl"
// #include "walk.wgsl"
// #include "nan.wgsl"
// #include "math.wgsl"

const FN_ADD = 0u;
const FN_SUB = 1u;
const FN_MUL = 2u;
const FN_DIV = 3u;
const FN_RELU_GRAD = 4u;
const FN_MAXIMUM = 5u;
const FN_MINIMUM = 6u;
const FN_MAX_SHARE = 7u;
// a alone, read through its strides: a strided copy (permute.ts; b, its first value, unused).
const FN_COPY = 8u;
const FN_BCE = 9u;
const FN_BCE_GRAD = 10u;
const FN_EQ = 11u;
const FN_NE = 12u;
const FN_LT = 13u;
const FN_LE = 14u;
const FN_GT = 15u;
const FN_GE = 16u;

// torch.maximum and torch.minimum: NaN if either is NaN; at a tie q (as PyTorch's vectorised
// loop, whose max(−0, 0) is 0 and max(0, −0) is −0).
// Compared on order keys (nan.wgsl), so that a tie of zeros keeps q's sign on any driver.
fn maximum_f32(p: f32, q: f32) -> f32 {
  return pick(is_nan(p) || (!is_nan(q) && order_key(p) > order_key(q)), p, q);
}

fn minimum_f32(p: f32, q: f32) -> f32 {
  return pick(is_nan(p) || (!is_nan(q) && order_key(p) < order_key(q)), p, q);
}

// The share of maximum(p, q)'s gradient that goes to p, as PyTorch 1.13's rule: 0 where p < q,
// ½ at a tie, all of it elsewhere (p > q, or either NaN). Of minimum's, with p and q swapped.
fn max_share(p: f32, q: f32) -> f32 {
  if (is_nan(p) || is_nan(q)) { return 1.0; }
  return select(select(1.0, 0.5, p == q), 0.0, p < q);
}

// p / q. WGSL bounds a quotient's error (2.5 ulp) for |q| in [2^−126, 2^126]; at ±0 and ±inf
// drivers divide as IEEE and PyTorch do (x / ±0 = ±inf, 0 / 0 = NaN), which the tests check. Past
// 2^126, NVIDIA's p · (1 / q) flushes 1 / q, a subnormal, to 0 (3 / 1e38 gave 0, not 3e-38), so
// there both are scaled by 1/4 first: q on its exponent bits, which no compiler cancels against
// p's factor.
fn div_f32(p: f32, q: f32) -> f32 {
  let qb = bitcast<u32>(q);
  if ((qb & 0x7fffffffu) > 0x7e800000u && !is_inf(q) && !is_nan(q)) {
    return (p * 0.25) / bitcast<f32>(qb - 0x01000000u);
  }
  return p / q;
}

// Binary cross-entropy of probability p for target q, as PyTorch 1.13's:
// (q − 1)·max(log(1 − p), −100) − q·max(log p, −100), each log clamped so that 0 and 1 give
// finite losses (1 − p rounded first, as there: 1 − 1e-8 is 1, a loss of 0).
fn bce(p: f32, q: f32) -> f32 {
  return (q - 1.0) * maximum_f32(log_f32(1.0 - p), -100.0) - q * maximum_f32(log_f32(p), -100.0);
}

// Its gradient for p, as PyTorch's binary_cross_entropy_backward: (p − q)/max((1 − p)·p, 1e-12).
fn bce_grad(p: f32, q: f32) -> f32 {
  return div_f32(p - q, maximum_f32((1.0 - p) * p, 1e-12));
}

// A comparison FN of p and q: an unordered pair (a NaN) is equal to nothing, less and greater
// than nothing, as IEEE's (tested on the bits: a compiler may assume no NaN).
fn compare(p: f32, q: f32) -> f32 {
  if (is_nan(p) || is_nan(q)) { return select(0.0, 1.0, FN == FN_NE); }
  return compare_ordered(p < q, p == q);
}

fn compare_ordered(less: bool, equal: bool) -> f32 {
  switch FN {
    case FN_EQ: { return select(0.0, 1.0, equal); }
    case FN_NE: { return select(0.0, 1.0, !equal); }
    case FN_LT: { return select(0.0, 1.0, less); }
    case FN_LE: { return select(0.0, 1.0, less || equal); }
    case FN_GT: { return select(0.0, 1.0, !less && !equal); }
    default: { return select(0.0, 1.0, !less); } // FN_GE
  }
}

fn apply(p: f32, q: f32) -> f32 {
  if (FN >= FN_EQ) { return compare(p, q); }
  switch FN {
    case FN_ADD: { return p + q; }
    case FN_SUB: { return p - q; }
    case FN_MUL: { return p * q; }
    case FN_DIV: { return div_f32(p, q); }
    // ReLU's gradient: p is the ReLU's output (or input: both are > 0 at the same places), q the
    // gradient of its output.
    case FN_RELU_GRAD: { return select(0.0, q, relu_passes(p)); }
    case FN_MAXIMUM: { return maximum_f32(p, q); }
    case FN_MINIMUM: { return minimum_f32(p, q); }
    case FN_MAX_SHARE: { return max_share(p, q); }
    case FN_COPY: { return p; }
    case FN_BCE: { return bce(p, q); }
    case FN_BCE_GRAD: { return bce_grad(p, q); }
    default: { return p; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let step = thread_count(nwg, WG);
  var i = thread_index(wid, nwg, lid, WG);
  if (!BROADCAST) {
    for (; i < params.n; i += step) {
      let v = apply(a[i], b[i]);
      out[i] = select(v, rectify(v), RELU);
    }
    return;
  }
  if (i >= params.n) { return; }
  var w = walk_start(i, step);
  loop {
    let v = apply(a[walk_offset(w.coord, params.a_strides)], b[walk_offset(w.coord, params.b_strides)]);
    out[i] = select(v, rectify(v), RELU);
    i += step;
    if (i >= params.n) { break; }
    walk_next(&w);
  }
}

// Comparisons of i32 operands (class indices, labels).
@compute @workgroup_size(WG)
fn ints(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let step = thread_count(nwg, WG);
  var i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  var w = walk_start(i, step);
  loop {
    let p = a_ints[walk_offset(w.coord, params.a_strides)];
    let q = b_ints[walk_offset(w.coord, params.b_strides)];
    out[i] = compare_ordered(p < q, p == q);
    i += step;
    if (i >= params.n) { break; }
    walk_next(&w);
  }
}
