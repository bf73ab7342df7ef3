// One Adagrad step on one parameter, in place, with PyTorch 1.13's formula:
//   g = grad + wd·p
//   sum = sum + g²
//   p = p − clr·g / (√sum + ε),  clr = lr / (1 + (step − 1)·lr_decay) (on the host)

struct Hyper {
  // The step's rate, lr decayed by the step count, computed on the host in float64 as PyTorch does.
  clr: f32,
  eps: f32,
  weight_decay: f32,
}

// #include "optimizer.wgsl"

@group(0) @binding(3) var<storage, read_write> state_sum: array<f32>;
@group(0) @binding(4) var<storage, read> hyper: array<Hyper>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let h = hyper[params.slot];
  let g = l2_grad(i, param[i], h.weight_decay);
  let s = state_sum[i] + g * g;
  state_sum[i] = s;
  param[i] = param[i] - h.clr * (g / (sqrt(s) + h.eps));
}
