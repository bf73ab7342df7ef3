// Batched transpose of the last two dimensions: out[b][c][r] = x[b][r][c]. One invocation per
// span of an output row (b, c) writes its values there: index arithmetic (integer division,
// slow on CPU drivers) once per span. A CPU adapter takes whole rows as spans; a GPU, short
// ones, so that a small transpose still runs on thousands of invocations.

struct Params {
  batch: u32,
  rows: u32,
  cols: u32,
  // Values of an output row per invocation, and so spans per row: ceil(rows / span).
  span: u32,
  spans: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  let out_rows = params.batch * params.cols;
  if (t >= out_rows * params.spans) { return; }
  // Neighbouring invocations take neighbouring output rows (the same span of each): their
  // reads of x are adjacent.
  let i = t % out_rows;
  let c = i % params.cols;
  let src = (i / params.cols) * params.rows * params.cols + c;
  let first = (t / out_rows) * params.span;
  let end = min(params.rows, first + params.span);
  for (var r = first; r < end; r++) {
    out[i * params.rows + r] = x[src + r * params.cols];
  }
}
