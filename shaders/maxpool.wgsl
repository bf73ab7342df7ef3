// 2-D max pooling over NCHW planes, forward and backward, with PyTorch's semantics: padding
// counts as −∞ (padded positions are simply never candidates), and the arg-max of a window is
// its first maximum in row-major window order, or its last NaN, as in PyTorch's kernels. A
// window's taps may be spaced apart (dilation), and with ADAPTIVE its bounds are adaptive max
// pooling's, floor(o·H/OH) up to ceil((o + 1)·H/OH), instead of kernel, stride and padding's.
//
// The backward pass gathers: `argmax` first writes each window's arg-max (as the forward pass
// finds it), then each input element belongs to one invocation, which walks the (few) windows
// that contain it and adds the dy of those whose arg-max it is. No two invocations write the
// same element, so overlapping windows (stride < kernel) need no atomics. Windows that tile the
// input take one pass instead (backward_tiled): each writes its own elements.
//
// The forward pass reads x and writes out; argmax reads x and writes arg_out; the backward
// pass reads x (for a fused ReLU mask), dy and arg and writes out (the input gradient);
// at_argmax, the backward pass's own gradient, reads x and gx and writes out (shaped as dy).
// Each entry point is bound only what it uses.

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
  dh: u32,
  dw: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// at_argmax only: a gradient shaped as x, picked at each window's arg-max.
@group(0) @binding(4) var<storage, read> gx: array<f32>;
// Each window's arg-max within its plane (NONE for a window all of padding): written by argmax,
// read by backward.
@group(0) @binding(5) var<storage, read_write> arg_out: array<u32>;
@group(0) @binding(6) var<storage, read> arg: array<u32>;

override WG: u32;
// Backward only: also apply the gradient mask of a ReLU whose output is x (zero where x ≤ 0; NaN passes),
// when the planner fused that ReLU's gradient into this kernel.
override RELU_MASK: bool;
override ADAPTIVE: bool;
// Taps spaced apart (a dilation above 1): off, the step is the constant 1 the compiler unrolls by.
override DILATED: bool;

// #include "grid.wgsl"
// #include "nan.wgsl"

// What window_argmax returns for a window all of padding (a dilated window's taps can straddle the
// image): its output is −∞ and it sends no gradient, as PyTorch's.
const NONE = 0xffffffffu;

// The taps of window o along an axis of `size` elements (`osize` windows) that lie inside it:
// positions a, a + step, ... before b (none where a ≥ b: a window all of padding).
fn taps(o: u32, size: u32, osize: u32, k: u32, s: u32, pad: u32, d: u32) -> vec3u {
  if (ADAPTIVE) {
    return vec3u((o * size) / osize, (o * size + size + osize - 1u) / osize, 1u);
  }
  let first = i32(o * s) - i32(pad);
  let step = select(1, i32(d), DILATED);
  // NOTE: in integers, the first tap at or after 0 (i32 division truncates towards zero, so it
  // is taken on non-negative values only), and the end of the last one before `size`.
  let a = select(first, first + (step - 1 - first) / step * step, first < 0);
  let b = min(first + i32(k - 1u) * step + 1, i32(size));
  return vec3u(u32(a), u32(max(b, a)), u32(step));
}

// Index within its plane of the arg-max of window (oy, ox) of the plane at `base`, or NONE.
fn window_argmax(base: u32, oy: u32, ox: u32) -> u32 {
  let p = params;
  let ty = taps(oy, p.height, p.oh, p.kh, p.sh, p.ph, p.dh);
  let tx = taps(ox, p.width, p.ow, p.kw, p.sw, p.pw, p.dw);
  if (ty.x >= ty.y || tx.x >= tx.y) { return NONE; }
  var best_i = ty.x * p.width + tx.x;
  var best = x[base + best_i];
  for (var y = ty.x; y < ty.y; y += ty.z) {
    for (var xx = tx.x; xx < tx.y; xx += tx.z) {
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
    let best = window_argmax(base, oy, ox);
    var v = neg_inf();
    if (best != NONE) { v = x[base + best]; }
    out[i * params.ow + ox] = v;
  }
}

// Output rows (plane, oy), as the forward pass: each window's arg-max, for backward.
@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let oy = i % params.oh;
  let base = (i / params.oh) * params.height * params.width;
  for (var ox = at.y; ox < params.ow; ox += params.spans) {
    arg_out[i * params.ow + ox] = window_argmax(base, oy, ox);
  }
}

// The windows that may hold position `pos` of an axis, [a, b): those whose span reaches it (a
// dilated window may skip it: the caller's arg-max test settles that).
fn windows_of(pos: u32, size: u32, osize: u32, k: u32, s: u32, pad: u32, d: u32) -> vec2u {
  if (ADAPTIVE) {
    return vec2u(pos * osize / size, ((pos + 1u) * osize + size - 1u) / size);
  }
  // Window o spans pos·s − pad up to that + (k − 1)·d.
  let span = (k - 1u) * d + 1u;
  let pp = pos + pad;
  return vec2u((max(pp + 1u, span) - span + s - 1u) / s, min(pp / s + 1u, osize));
}

// Input rows (plane, y), `n` of them: each element sums dy over the windows whose arg-max it is
// (by arg), among those windows_of gives; likewise for columns.
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let i = at.x;
  if (i >= params.n) { return; }
  let p = params;
  let y = i % p.height;
  let plane = i / p.height;
  let base = plane * p.height * p.width;
  let oy_range = windows_of(y, p.height, p.oh, p.kh, p.sh, p.ph, p.dh);
  for (var xx = at.y; xx < p.width; xx += p.spans) {
    let own = y * p.width + xx;
    let ox_range = windows_of(xx, p.width, p.ow, p.kw, p.sw, p.pw, p.dw);
    var acc = 0.0;
    for (var oy = oy_range.x; oy < oy_range.y; oy++) {
      let row = (plane * p.oh + oy) * p.ow;
      for (var ox = ox_range.x; ox < ox_range.y; ox++) {
        if (arg[row + ox] == own) {
          acc += dy[row + ox];
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
    let found = window_argmax(base, oy, ox);
    let best = base + select(found, 0u, found == NONE);
    let masked = found == NONE || (RELU_MASK && !relu_passes(x[best]));
    out[i * params.ow + ox] = select(gx[best], 0.0, masked);
  }
}
