// What the optimizers' step shaders share: one invocation per element of one parameter, the
// parameter and its gradient at bindings 1 and 2 (each shader declares its state after them,
// then its group's array of struct Hyper as `hyper`, one per parameter, read at `slot`), and
// PyTorch's L2 weight decay.

struct Params {
  n: u32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;

override WG: u32;

// #include "grid.wgsl"

// grad + wd·p, only when asked for, as PyTorch: 0 · inf would turn an infinite weight into NaN.
fn l2_grad(i: u32, p: f32, wd: f32) -> f32 {
  if (wd != 0.0) { return grad[i] + wd * p; }
  return grad[i];
}
