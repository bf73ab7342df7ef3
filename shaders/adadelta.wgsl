// One Adadelta step on one parameter, in place, with PyTorch 1.13's formula:
//   g = grad + wd·p
//   square_avg = ρ·square_avg + (1−ρ)·g²
//   delta = √(acc_delta + ε) / √(square_avg + ε) · g
//   acc_delta = ρ·acc_delta + (1−ρ)·delta²
//   p = p − lr·delta

struct Hyper {
  lr: f32,
  rho: f32,
  // 1 − ρ, computed on the host in float64 as PyTorch does.
  one_minus_rho: f32,
  eps: f32,
  weight_decay: f32,
}

// #include "optimizer.wgsl"

@group(0) @binding(3) var<storage, read_write> square_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc_delta: array<f32>;
@group(0) @binding(5) var<storage, read> hyper: array<Hyper>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let h = hyper[params.slot];
  let g = l2_grad(i, param[i], h.weight_decay);
  let sq = h.rho * square_avg[i] + h.one_minus_rho * g * g;
  let delta = sqrt(acc_delta[i] + h.eps) / sqrt(sq + h.eps) * g;
  square_avg[i] = sq;
  acc_delta[i] = h.rho * acc_delta[i] + h.one_minus_rho * delta * delta;
  param[i] = param[i] - h.lr * delta;
}
