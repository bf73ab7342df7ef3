// One step of Adam, AdamW, NAdam, RAdam or Adamax on one parameter, in place, with PyTorch 1.13's formulas:
//   AdamW's decoupled decay: p = decay·p (decay = 1 − lr·wd; 1 for the others)
//   g = grad + wd·p (the L2 penalty; wd = 0 for AdamW);  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   (Adamax, `inf_norm`: v = max(β2·v, |g| + ε), the infinity norm, and d = v)
//   p = p − (grad_coef·g + step_size·m) / d,  d = √v / √bc2 + ε (1 where `adaptive` is 0)
// Adam: step_size = lr / bc1, no grad_coef; NAdam: both, from its momentum schedule; RAdam:
// lr·rect / bc1 (its ε scaled by 1/√bc2), or lr / bc1 and d = 1 while its variance is not yet
// rectified. The bias corrections bc1 = 1−β1ᵗ and bc2 = 1−β2ᵗ, and 1−β1, 1−β2, are computed on
// the host in float64 (as PyTorch does) and arrive, with the other hyperparameters, in `hyper`.

struct Hyper {
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  grad_coef: f32,
  adaptive: f32,
  inf_norm: f32,
}

// #include "optimizer.wgsl"
// #include "nan.wgsl"

@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> hyper: array<Hyper>;

// max(a, b), NaN if either is (as PyTorch's amax; a driver's max may drop a NaN).
fn inf_norm(a: f32, b: f32) -> f32 {
  return select(max(a, b), a + b, is_nan(a) || is_nan(b));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let h = hyper[params.slot];
  var p = param[i];
  if (h.decay != 1.0) { p *= h.decay; }
  let g = l2_grad(i, p, h.weight_decay);
  let mi = h.beta1 * m[i] + h.one_minus_beta1 * g;
  let inf = h.inf_norm != 0.0;
  let vi = select(h.beta2 * v[i] + h.one_minus_beta2 * g * g, inf_norm(h.beta2 * v[i], abs(g) + h.eps), inf);
  m[i] = mi;
  v[i] = vi;
  let d = select(1.0, select(sqrt(vi) / h.bc2_sqrt + h.eps, vi, inf), h.adaptive != 0.0);
  // Adam's product order kept where grad_coef is 0: step_size · (m / d).
  var update = h.step_size * (mi / d);
  if (h.grad_coef != 0.0) { update += h.grad_coef * (g / d); }
  param[i] = p - update;
}
