// 2-D max pooling over NCHW planes, forward and backward, with PyTorch's semantics: padding
// counts as −∞ (padded positions are simply never candidates), and the arg-max of a window is
// its first maximum in row-major window order, or its last NaN, as in PyTorch's kernels.
//
// The backward pass gathers: each input element belongs to one invocation, which walks the
// (few) windows that contain it, recomputes each window's arg-max with the same function as the
// forward pass and adds that window's dy when the arg-max is this element. No two invocations write the same
// element, so overlapping windows (stride < kernel) need no atomics.
//
// The forward pass reads x and writes out; the backward pass reads x and dy and writes out (the
// input gradient); at_argmax, the backward pass's own gradient, reads x and gx and writes out
// (shaped as dy). Each entry point is bound only what it uses.

struct Params {
  // Rows (output rows, rows of windows or input rows, as each entry point says).
  n: u32,
  // Invocations per row, each taking every spans-th element of it, so that neighbouring
  // invocations write neighbouring elements. A CPU adapter takes whole rows (spans 1), paying
  // the index arithmetic once per row; a GPU, several invocations per row to fill it.
  spans: u32,
  height: u32,
  width: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  oh: u32,
  ow: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// at_argmax only: a gradient shaped as x, picked at each window's arg-max.
@group(0) @binding(4) var<storage, read> gx: array<f32>;

override WG: u32;
// Backward only: also apply the gradient mask of a ReLU whose output is x (zero where x ≤ 0; NaN passes),
// when the planner fused that ReLU's gradient into this kernel.
override RELU_MASK: bool;

// #include "grid.wgsl"
// #include "nan.wgsl"

// Index within its plane of the arg-max of window (oy, ox) of the plane at `base`. The
// host guarantees padding ≤ kernel / 2, so every window holds at least one real element.
fn window_argmax(base: u32, oy: u32, ox: u32) -> u32 {
  let p = params;
  let y0 = i32(oy * p.sh) - i32(p.ph);
  let x0 = i32(ox * p.sw) - i32(p.pw);
  let ya = u32(max(y0, 0));
  let yb = u32(min(y0 + i32(p.kh), i32(p.height)));
  let xa = u32(max(x0, 0));
  let xb = u32(min(x0 + i32(p.kw), i32(p.width)));
  var best_i = ya * p.width + xa;
  var best = x[base + best_i];
  for (var y = ya; y < yb; y++) {
    for (var xx = xa; xx < xb; xx++) {
      let i = y * p.width + xx;
      let v = x[base + i];
      // NOTE: a NaN counts as the maximum, and the last one wins, as in PyTorch's kernels
      // (`val > maxval || isnan(val)`): the gradient goes where PyTorch sends it.
      if (v > best || is_nan(v)) {
        best = v;
        best_i = i;
      }
    }
  }
  return best_i;
}

// Invocation t of all n · spans: its row and its first element there.
fn row_span(wid: vec3u, nwg: vec3u, lid: u32) -> vec2u {
  let t = thread_index(wid, nwg, lid, WG);
  return vec2u(t / params.spans, t % params.spans);
}

// Output rows (plane, oy), `n` of them. Each window's arg-max is found once.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let oy = i % params.oh;
  let base = (i / params.oh) * params.height * params.width;
  for (var ox = at.y; ox < params.ow; ox += params.spans) {
    out[i * params.ow + ox] = x[base + window_argmax(base, oy, ox)];
  }
}

// Input rows (plane, y), `n` of them. Window oy covers rows oy·SH − PH up to
// oy·SH − PH + KH − 1, so the windows holding row y are oy in
// [ceil((y + PH − KH + 1) / SH), floor((y + PH) / SH)] ∩ [0, OH); likewise for columns.
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let p = params;
  let y = i % p.height;
  let plane = i / p.height;
  let base = plane * p.height * p.width;
  let py = y + p.ph;
  let oya = (max(py + 1u, p.kh) - p.kh + p.sh - 1u) / p.sh;
  let oyb = min(py / p.sh + 1u, p.oh);
  for (var xx = at.y; xx < p.width; xx += p.spans) {
    let own = y * p.width + xx;
    let px = xx + p.pw;
    let oxa = (max(px + 1u, p.kw) - p.kw + p.sw - 1u) / p.sw;
    let oxb = min(px / p.sw + 1u, p.ow);
    var acc = 0.0;
    for (var oy = oya; oy < oyb; oy++) {
      for (var ox = oxa; ox < oxb; ox++) {
        if (window_argmax(base, oy, ox) == own) {
          acc += dy[(plane * p.oh + oy) * p.ow + ox];
        }
      }
    }
    if (RELU_MASK && !relu_passes(x[base + own])) {
      acc = 0.0;
    }
    out[base + own] = acc;
  }
}

// The backward pass for windows that tile the input exactly (stride = kernel, no padding, sizes
// divisible): rows of windows (plane, oy), `n` of them; each window's arg-max is found once and
// the whole window written.
@compute @workgroup_size(WG)
fn backward_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let p = params;
  let oy = i % p.oh;
  let base = (i / p.oh) * p.height * p.width;
  for (var ox = at.y; ox < p.ow; ox += p.spans) {
    let best = window_argmax(base, oy, ox);
    let g = dy[i * p.ow + ox];
    for (var y = oy * p.kh; y < oy * p.kh + p.kh; y++) {
      for (var xx = ox * p.kw; xx < ox * p.kw + p.kw; xx++) {
        let own = y * p.width + xx;
        let masked = RELU_MASK && !relu_passes(x[base + own]);
        out[base + own] = select(0.0, g, own == best && !masked);
      }
    }
  }
}

// The backward pass's gradient with respect to dy (it is linear in dy): each window takes gx at
// its arg-max, zero where the backward pass masked that element. Output rows (plane, oy), as
// the forward pass.
@compute @workgroup_size(WG)
fn at_argmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let oy = i % params.oh;
  let base = (i / params.oh) * params.height * params.width;
  for (var ox = at.y; ox < params.ow; ox += params.spans) {
    let best = base + window_argmax(base, oy, ox);
    let masked = RELU_MASK && !relu_passes(x[best]);
    out[i * params.ow + ox] = select(gx[best], 0.0, masked);
  }
}
