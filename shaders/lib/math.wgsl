// The math functions unary.wgsl applies, with PyTorch 1.13's values.
// NOTE: they set their edge values (NaN, ±inf, ±0, overflow) explicitly, on the bits: WGSL lets
// compilers assume finite floats, and bounds the builtins' error only for finite results
// (lavapipe's log of a subnormal is −88, its tanh(1e-8) is 3e-8).

// #include "nan.wgsl"

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

// erfc(v) = 1 − erf(v), with a relative error of about 1e-7 plus exp's everywhere, far tails
// included (so 1 + erf(v) does not cancel where v is very negative): Numerical Recipes' erfcc,
// t·e^(−z² + P(t)) for z = |v|, t = 1 / (1 + z/2), P a Chebyshev fit; 2 − that below 0.
fn erfc_f32(v: f32) -> f32 {
  if (is_nan(v)) { return v; }
  let z = abs(v);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp_f32(p - z * z);
  return select(2.0 - r, r, v >= 0.0);
}

// Φ(v), the standard normal distribution function: ½·erfc(−v/√2).
fn normal_cdf_f32(v: f32) -> f32 {
  return 0.5 * erfc_f32(-0.7071067811865476 * v);
}

// e^v − 1, precise near 0 (where e^v − 1 cancels: to −6e-8 at −1e-30): its Taylor series to v^7
// below |v| = 0.25, whose next term is below 2^−24 of the first.
fn expm1_f32(v: f32) -> f32 {
  if (abs(v) < 0.25) {
    return v * (1.0 + v * (0.5 + v * (1.0 / 6.0 + v * (1.0 / 24.0 + v * (1.0 / 120.0 + v * (1.0 / 720.0 + v / 5040.0))))));
  }
  return exp_f32(v) - 1.0;
}

// ELU with an input scale s (CELU's 1/α; 1 for ELU and SELU), as PyTorch's elu kernel: v above
// 0 (NaN kept), else α·(e^(s·v) − 1), the zero of α's sign at ±0 (as PyTorch's, which computes
// e^(s·v) − 1 and so +0 times α); its slope: α·s·e^(s·v) at and below 0, else 1 (NaN included, as
// PyTorch's elu_backward). The branch goes by v's sign, not s·v's: with α < 0, s·v ≥ 0 below 0.
fn elu_f32(v: f32, alpha: f32, s: f32) -> f32 {
  if (is_nan(v) || v > 0.0) { return v; }
  if (v == 0.0) { return bitcast<f32>(bitcast<u32>(alpha) & 0x80000000u); }
  return alpha * expm1_f32(s * v);
}

fn elu_slope_f32(v: f32, alpha: f32, s: f32) -> f32 {
  if (v <= 0.0) { return alpha * s * exp_f32(s * v); }
  return 1.0;
}

// log(1 + u) for u ≥ 0, precise for small u: log(w)·u/(w − 1), w = 1 + u rounded (Goldberg), so
// the rounding of 1 + u cancels; log_f32 is precise near 1.
fn log1p_f32(u: f32) -> f32 {
  let w = 1.0 + u;
  if (w == 1.0) { return u; }
  return log_f32(w) * (u / (w - 1.0));
}

// Softplus, log(1 + e^(βv))/β, and v itself where βv > threshold, as PyTorch's (NaN kept); its
// slope σ(βv), and 1 above the threshold.
fn softplus_f32(v: f32, beta: f32, threshold: f32) -> f32 {
  if (is_nan(v) || v * beta > threshold) { return v; }
  return log1p_f32(exp_f32(v * beta)) / beta;
}

fn softplus_slope_f32(v: f32, beta: f32, threshold: f32) -> f32 {
  if (v * beta > threshold) { return 1.0; }
  return sigmoid_f32(v * beta);
}

// ---- abs, clamp and pow, and the masks of their gradients ----

// |v| on the bits: abs(−0) = 0, abs(−inf) = inf, NaN stays NaN.
fn abs_f32(v: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) & 0x7fffffffu);
}

// abs's gradient factor, as PyTorch's sgn: ±1 with v's sign, and +0 at ±0 and NaN. On the bits:
// lavapipe compiles the comparisons' form to a sign whose value at 0 is −0.
fn sign_f32(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if (is_nan(v) || (bits & 0x7fffffffu) == 0u) { return 0.0; }
  return bitcast<f32>((bits & 0x80000000u) | 0x3f800000u);
}

// PyTorch's clamp: min(max(v, lo), hi), so hi where lo > hi; v itself at a tie (clamp(−0, 0) is
// −0); NaN for NaN v, and everywhere for a NaN bound. An omitted bound comes as ∓inf.
fn clamp_f32(v: f32, lo: f32, hi: f32) -> f32 {
  if (is_nan(lo) || is_nan(hi)) { return nan_like(1.0); }
  if (is_nan(v)) { return v; }
  // Chosen on order keys (nan.wgsl), so that a tie keeps v on any driver.
  var r = v;
  r = pick(order_key(r) < order_key(lo), lo, r);
  return pick(order_key(r) > order_key(hi), hi, r);
}

// Where clamp's gradient passes (1) or not (0): lo ≤ v ≤ hi, as PyTorch's clamp_backward, so
// not at NaN v, nor anywhere for a NaN bound.
fn clamp_mask_f32(v: f32, lo: f32, hi: f32) -> f32 {
  if (is_nan(v) || is_nan(lo) || is_nan(hi)) { return 0.0; }
  return select(0.0, 1.0, v >= lo && v <= hi);
}

// 2^k for k in [−126, 127], on the bits.
fn pow2i(k: i32) -> f32 {
  return bitcast<f32>(u32(k + 127) << 23u);
}

// |v|^p for v finite and nonzero, p finite: 2^(p·log2|v|), the product's integer part split off
// exactly so that exp2 takes only the fraction. |v| = m·2^e with m in [√½, √2): e·p is summed
// from two exact products (p's top 12 bits and the rest, times e of at most 8 bits), and
// log2 m = 2·atanh(s)/ln 2 with s = (m − 1)/(m + 1) (|s| ≤ 0.172, the series to s^11). The error
// is then about (3 + |p·log2 m|·4) ulp plus exp2's on [−½, ½].
fn pow_magnitude(v: f32, p: f32) -> f32 {
  let ab = bitcast<u32>(v) & 0x7fffffffu;
  var e: i32;
  var mb: u32;
  if (ab < 0x00800000u) {
    // A subnormal is ab · 2^−149, ab an exact integer below 2^23.
    let fb = bitcast<u32>(f32(ab));
    e = i32(fb >> 23u) - 127 - 149;
    mb = fb & 0x007fffffu;
  } else {
    e = i32(ab >> 23u) - 127;
    mb = ab & 0x007fffffu;
  }
  var m = bitcast<f32>(mb | 0x3f800000u);
  if (m > 1.4142135) {
    m = m * 0.5;
    e = e + 1;
  }
  let s = (m - 1.0) / (m + 1.0);
  let q = s * s;
  let ln_m = 2.0 * s * (1.0 + q * (1.0 / 3.0 + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q / 11.0)))));
  let l = ln_m * 1.4426950408889634;
  let ef = f32(e);
  // Past these the result over- or underflows whatever the rounding (|p·log2 m| ≤ |p|/2 ≤ |p·e|).
  let t = p * (ef + l);
  if (t > 200.0) { return inf_like(1.0); }
  if (t < -200.0) { return 0.0; }
  let ph = bitcast<f32>(bitcast<u32>(p) & 0xfffff000u);
  let pl = p - ph;
  let a = ph * ef;
  let na = round(a);
  let r = (a - na) + pl * ef + p * l;
  let nr = round(r);
  let y = exp2(r - nr);
  let n = i32(na) + i32(nr);
  if (n > 128) { return inf_like(1.0); }
  if (n < -152) { return 0.0; }
  // y · 2^n in two steps, each factor normal; the last rounds to inf or a subnormal (or 0) as IEEE.
  let n1 = n / 2;
  return y * pow2i(n1) * pow2i(n - n1);
}

// PyTorch's pow(v, p) for a number p (C's powf at the edges): 1 for p = 0 or v = 1 (even NaN);
// NaN for a NaN operand, and for v < 0 finite with p not an integer; |v|^p otherwise, negative
// for v < 0 (−0 and −inf too) and p an odd integer; ±0 and ±inf as C99 F.9.4.4.
fn pow_f32(v: f32, p: f32) -> f32 {
  let vb = bitcast<u32>(v);
  let ab = vb & 0x7fffffffu;
  let pa = abs_f32(p);
  if ((bitcast<u32>(p) & 0x7fffffffu) == 0u || vb == 0x3f800000u) { return 1.0; }
  if (is_nan(v) || is_nan(p)) { return nan_like(1.0); }
  // Every f32 from 2^24 up (and inf) is an even integer.
  let big = bitcast<u32>(pa) >= 0x4b800000u;
  let integer = big || floor(pa) == pa;
  let odd = !big && integer && pa - 2.0 * floor(pa * 0.5) == 1.0;
  let negative = (vb >> 31u) == 1u;
  let finite_nonzero = ab != 0u && ab < 0x7f800000u;
  if (negative && !integer && finite_nonzero) { return nan_like(1.0); }
  var r: f32;
  if (ab == 0u) {
    r = select(inf_like(1.0), 0.0, p > 0.0);
  } else if (ab == 0x7f800000u) {
    r = select(0.0, inf_like(1.0), p > 0.0);
  } else if (ab == 0x3f800000u) {
    r = 1.0;
  } else if (bitcast<u32>(pa) == 0x7f800000u) {
    r = select(inf_like(1.0), 0.0, (ab < 0x3f800000u) == (p > 0.0));
  } else {
    r = pow_magnitude(v, p);
  }
  return select(r, -r, negative && odd);
}

// The exponents PyTorch computes otherwise, each exactly as it does: v·v, v·v·v, 1/v,
// 1/(v·v), √v and 1/√v (so pow(−0, 0.5) is −0, pow(−inf, 0.5) NaN, pow(−0, −0.5) −inf).
fn recip_f32(v: f32) -> f32 {
  let ab = bitcast<u32>(v) & 0x7fffffffu;
  if (is_nan(v)) { return v; }
  if (ab == 0u) { return inf_like(v); }
  if (ab == 0x7f800000u) { return bitcast<f32>(bitcast<u32>(v) & 0x80000000u); }
  return 1.0 / v;
}

// 1 / (v · v). Below 2^−63, v · v may be subnormal, and a driver that flushes subnormals (NVIDIA)
// would give inf where the result is finite (to 2^126): there v is scaled by 2^32 first, and the
// result by 2^64 after, both exact.
fn recip_square_f32(v: f32) -> f32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) < 0x20000000u) {
    let w = v * 4294967296.0;
    return recip_f32(w * w) * 18446744073709551616.0;
  }
  return recip_f32(v * v);
}

fn rsqrt_f32(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if (is_nan(v)) { return v; }
  if ((bits & 0x7fffffffu) == 0u) { return inf_like(v); }
  if (bits > 0x80000000u) { return nan_like(v); }
  if (bits == 0x7f800000u) { return 0.0; }
  // A subnormal is bits · 2^−149: 1/√v = 2^74.5 / √bits.
  if (bits < 0x00800000u) { return inverseSqrt(f32(bits)) * 2.6713693e22; }
  return inverseSqrt(v);
}
