// Batched transpose of the last two dimensions: out[b][c][r] = x[b][r][c]. One invocation per
// output row (b, c) writes its R values: index arithmetic (integer division, slow on CPU
// drivers) once per row.

struct Params {
  batch: u32,
  rows: u32,
  cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.batch * params.cols) { return; }
  let c = i % params.cols;
  let src = (i / params.cols) * params.rows * params.cols + c;
  for (var r = 0u; r < params.rows; r++) {
    out[i * params.rows + r] = x[src + r * params.cols];
  }
}
