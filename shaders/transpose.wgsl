// Batched transpose of the last two dimensions: out[b][c][r] = x[b][r][c]. Each invocation
// moves one element; consecutive invocations write consecutive outputs.

struct Params {
  batch: u32,
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let plane = params.rows * params.cols;
  if (i >= params.batch * plane) { return; }
  let b = i / plane;
  let rest = i % plane;
  let c = rest / params.rows;
  let r = rest % params.rows;
  out[i] = x[b * plane + r * params.cols + c];
}
