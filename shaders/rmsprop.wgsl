// One RMSprop step on one parameter, in place, with PyTorch 1.13's formula:
//   g = grad + wd·p
//   square_avg = α·square_avg + (1−α)·g²
//   centered:  grad_avg = α·grad_avg + (1−α)·g;  avg = √(square_avg − grad_avg²) + ε
//   otherwise: avg = √square_avg + ε
//   with momentum: buf = μ·buf + g/avg;  p = p − lr·buf
//   otherwise:     p = p − lr·g/avg

struct Hyper {
  lr: f32,
  alpha: f32,
  // 1 − α, computed on the host in float64 as PyTorch does.
  one_minus_alpha: f32,
  eps: f32,
  weight_decay: f32,
  momentum: f32,
  // 1: centered (the variance, not the second moment), else 0.
  centered: f32,
}

// #include "optimizer.wgsl"

@group(0) @binding(3) var<storage, read_write> square_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_avg: array<f32>;
@group(0) @binding(6) var<storage, read> hyper: array<Hyper>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let h = hyper[params.slot];
  let g = l2_grad(i, param[i], h.weight_decay);
  let sq = h.alpha * square_avg[i] + h.one_minus_alpha * g * g;
  square_avg[i] = sq;
  var avg: f32;
  if (h.centered != 0.0) {
    let ga = h.alpha * grad_avg[i] + h.one_minus_alpha * g;
    grad_avg[i] = ga;
    avg = sqrt(sq - ga * ga) + h.eps;
  } else {
    avg = sqrt(sq) + h.eps;
  }
  if (h.momentum > 0.0) {
    let b = h.momentum * buf[i] + g / avg;
    buf[i] = b;
    param[i] = param[i] - h.lr * b;
  } else {
    param[i] = param[i] - h.lr * (g / avg);
  }
}
