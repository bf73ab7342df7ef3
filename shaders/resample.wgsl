// Separable resampling by sparse maps of each axis: out[b, i, j] = Σ_a wh_a · Σ_c ww_c ·
// x[b, row_a, col_c], a over the taps of output row i in the height map, c over those of output
// column j in the width map. Each map is packed as one u32 array: out + 1 tap starts, then each
// tap's input index, then its weight's bits. Only the taps are read, so a NaN or infinity
// reaches the outputs that read it (with a weight of 0 too, as PyTorch's kernels, which read
// those taps, give NaN), not every output of its row and column, as a dense matrix would.

struct Params {
  // Output rows (b, i), n of them.
  n: u32,
  // Invocations per row, each taking every spans-th output of it, so that neighbouring
  // invocations write neighbouring outputs. A CPU adapter takes whole rows where there are
  // enough of them (spans 1), paying the integer divisions that find a row (slow there) and the
  // start of a workgroup once per 64 rows rather than once per 64 outputs; a GPU, one output
  // per invocation (spans: the row's length).
  spans: u32,
  h: u32,
  w: u32,
  oh: u32,
  ow: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> map_h: array<u32>;
@group(0) @binding(3) var<storage, read> map_w: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  let r = t / params.spans;
  if (r >= params.n) { return; }
  let i = r % params.oh;
  let plane = (r / params.oh) * params.h;
  // Where each map's input indices and weights begin, and the taps of row i, the same for the span.
  let cols_h = params.oh + 1u;
  let weights_h = cols_h + map_h[params.oh];
  let cols_w = params.ow + 1u;
  let weights_w = cols_w + map_w[params.ow];
  let taps = vec2u(map_h[i], map_h[i + 1u]);
  for (var j = t % params.spans; j < params.ow; j += params.spans) {
    var acc = 0.0;
    for (var a = taps.x; a < taps.y; a++) {
      let row = (plane + map_h[cols_h + a]) * params.w;
      var inner = 0.0;
      for (var c = map_w[j]; c < map_w[j + 1u]; c++) {
        inner += bitcast<f32>(map_w[weights_w + c]) * x[row + map_w[cols_w + c]];
      }
      acc += bitcast<f32>(map_h[weights_h + a]) * inner;
    }
    out[r * params.ow + j] = acc;
  }
}
