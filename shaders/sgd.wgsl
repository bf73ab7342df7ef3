// One SGD step on one parameter, in place, with PyTorch 1.13's formula:
//   g = grad + wd·p
//   with momentum: buf = g on the first step, else μ·buf + (1−dampening)·g;
//                  g = g + μ·buf (Nesterov) or buf
//   p = p − lr·g

struct Hyper {
  lr: f32,
  momentum: f32,
  // 1 − dampening, computed on the host in float64 as PyTorch does.
  one_minus_dampening: f32,
  weight_decay: f32,
  nesterov: f32,
  // 1 on the first step (the momentum buffer starts as the gradient), else 0.
  first: f32,
}

// #include "optimizer.wgsl"

@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
@group(0) @binding(4) var<storage, read> hyper: array<Hyper>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let h = hyper[params.slot];
  var g = l2_grad(i, param[i], h.weight_decay);
  if (h.momentum != 0.0) {
    let b = select(h.momentum * buf[i] + h.one_minus_dampening * g, g, h.first != 0.0);
    buf[i] = b;
    g = select(b, g + h.momentum * b, h.nesterov != 0.0);
  }
  param[i] = param[i] - h.lr * g;
}
