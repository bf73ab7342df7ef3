// Depthwise convolution (groups = input channels, one input channel per group), computed
// directly: output channel o = c·mult + j convolves input channel c alone with its KH×KW taps:
//   out[n][o][oy][ox] = b[o] + Σ w[o][ky][kx] · x[n][c][oy·SH − PH + ky·DH][ox·SW − PW + kx·DW]
// (terms in the zero padding left out). Its input gradient gathers, each element summing the
// dy that its taps reach, and its weight gradient sums dy·x over every output pixel of a
// channel: in chunks of rows, each chunk's sums written apart and added in a fixed order
// (weight_grad_sum), so the result is deterministic without atomics.
//
// The kernel size, stride and dilation are override constants: tap loops of known length the
// compiler unrolls, and the input gradient's divisions by the stride are by constants.
//
// forward reads x and w, forward_bias also b; input_grad reads dy and w; weight_grad reads x
// and dy, weight_grad_sum partials. Each writes out.

struct Params {
  // What is split among invocations: output rows (forward), input-gradient rows (input_grad),
  // or per-tap sums (weight_grad, weight_grad_sum).
  n: u32,
  // Invocations per row, each taking every spans-th block of 4 elements of it (neighbouring
  // invocations, neighbouring blocks): on a CPU adapter 1, paying the index arithmetic (integer
  // division, slow there) once per row; on a GPU, enough to fill it.
  spans: u32,
  // Input channels, and output channels per input channel.
  channels: u32,
  mult: u32,
  height: u32,
  width: u32,
  oh: u32,
  ow: u32,
  ph: u32,
  pw: u32,
  // weight_grad: the output rows (n, oy) are split into `chunks` runs of `chunk_rows`.
  chunks: u32,
  chunk_rows: u32,
  batch: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> partials: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

override WG: u32;
override KH: u32;
override KW: u32;
override SH: u32;
override SW: u32;
override DH: u32;
override DW: u32;
// forward: a following ReLU fused in by the planner (rectify, as unary.wgsl's relu).
override RELU: bool;

// #include "grid.wgsl"
// #include "nan.wgsl"

// Invocation t of all n · spans: its row and its first block there.
fn row_span(wid: vec3u, nwg: vec3u, lid: u32) -> vec2u {
  let t = thread_index(wid, nwg, lid, WG);
  return vec2u(t / params.spans, t % params.spans);
}

// Output element (oy, ox) of the plane whose input is at `src` and taps at `taps`, testing
// each tap against the image's edges.
fn convolve_one(src: u32, taps: u32, oy: u32, ox: u32) -> f32 {
  let p = params;
  let iy0 = i32(oy * SH) - i32(p.ph);
  let ix0 = i32(ox * SW) - i32(p.pw);
  var acc = 0.0;
  for (var ky = 0u; ky < KH; ky++) {
    let iy = iy0 + i32(ky * DH);
    // NOTE: as u32 a negative coordinate is past the edge: one comparison for both sides.
    if (u32(iy) >= p.height) { continue; }
    let line = src + u32(iy) * p.width;
    for (var kx = 0u; kx < KW; kx++) {
      let ix = ix0 + i32(kx * DW);
      if (u32(ix) < p.width) {
        acc += w[taps + ky * KW + kx] * x[line + u32(ix)];
      }
    }
  }
  return acc;
}

// Output row (plane, oy), plane = n·O + o, in blocks of 4 outputs from block `first`, `bias`
// added. A block whose taps all lie inside the image columns takes no tests: each weight is
// read once for its 4 outputs, and with unit stride and dilation the taps of neighbouring
// outputs read the same x, which the compiler then loads once (6 loads per kernel row of a
// 3×3 kernel, not 12).
fn convolve_row(row: u32, first: u32, bias: f32) {
  let p = params;
  let oy = row % p.oh;
  let plane = row / p.oh;
  // Input plane n·C + c is plane / mult, as O = C·mult.
  let src = (plane / p.mult) * p.height * p.width;
  let taps = (plane % (p.channels * p.mult)) * KH * KW;
  let iy0 = i32(oy * SH) - i32(p.ph);
  let dst = row * p.ow;
  for (var blk = first; blk < (p.ow + 3u) / 4u; blk += p.spans) {
    let ox = blk * 4u;
    let ix0 = i32(ox * SW) - i32(p.pw);
    if (ox + 4u <= p.ow && ix0 >= 0 && u32(ix0) + 3u * SW + (KW - 1u) * DW < p.width) {
      var acc = vec4(bias);
      for (var ky = 0u; ky < KH; ky++) {
        let iy = iy0 + i32(ky * DH);
        if (u32(iy) >= p.height) { continue; }
        let line = src + u32(iy) * p.width + u32(ix0);
        for (var kx = 0u; kx < KW; kx++) {
          let at = line + kx * DW;
          acc += w[taps + ky * KW + kx] * vec4(x[at], x[at + SW], x[at + 2u * SW], x[at + 3u * SW]);
        }
      }
      acc = select(acc, rectify4(acc), RELU);
      out[dst + ox] = acc.x;
      out[dst + ox + 1u] = acc.y;
      out[dst + ox + 2u] = acc.z;
      out[dst + ox + 3u] = acc.w;
    } else {
      for (var e = ox; e < min(ox + 4u, p.ow); e++) {
        let v = bias + convolve_one(src, taps, oy, e);
        out[dst + e] = select(v, rectify(v), RELU);
      }
    }
  }
}

// Output rows, `n` of them.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  if (at.x >= params.n) { return; }
  convolve_row(at.x, at.y, 0.0);
}

@compute @workgroup_size(WG)
fn forward_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  if (at.x >= params.n) { return; }
  convolve_row(at.x, at.y, b[(at.x / params.oh) % (params.channels * params.mult)]);
}

// Input element (py − PH, px − PW) of the plane whose output gradients start at `grads` and
// taps at `taps`: dy·w summed over the taps that read it, of each of its mult output channels.
// Padded row py is read by output row oy at tap row ky when oy·SH + ky·DH = py; likewise columns.
fn gather_one(grads: u32, taps: u32, py: u32, px: u32) -> f32 {
  let p = params;
  var acc = 0.0;
  // The channels outermost: the tap loops inside, of known length, unroll.
  for (var j = 0u; j < p.mult; j++) {
    for (var ky = 0u; ky < KH && ky * DH <= py; ky++) {
      let ty = py - ky * DH;
      let oy = ty / SH;
      if (ty % SH != 0u || oy >= p.oh) { continue; }
      let line = grads + (j * p.oh + oy) * p.ow;
      for (var kx = 0u; kx < KW && kx * DW <= px; kx++) {
        let tx = px - kx * DW;
        let ox = tx / SW;
        if (tx % SW == 0u && ox < p.ow) {
          acc += dy[line + ox] * w[taps + j * KH * KW + ky * KW + kx];
        }
      }
    }
  }
  return acc;
}

// Input rows (plane, iy), plane = n·C + c, `n` of them, in blocks of 4 elements from block
// `first`. With unit column stride, a block whose every tap reads a dy column inside the
// gradient takes no tests and reads each weight once for its 4 elements (as convolve_row).
@compute @workgroup_size(WG)
fn input_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let at = row_span(wid, nwg, lid);
  let row = at.x;
  if (row >= params.n) { return; }
  let p = params;
  let py = row % p.height + p.ph;
  let plane = row / p.height;
  // Output channels c·mult + j: dy planes plane·mult + j, weights from (c·mult)·KH·KW.
  let grads = plane * p.mult * p.oh * p.ow;
  let taps = (plane % p.channels) * p.mult * KH * KW;
  let dst = row * p.width;
  for (var blk = at.y; blk < (p.width + 3u) / 4u; blk += p.spans) {
    let ix = blk * 4u;
    let px = ix + p.pw;
    if (SW == 1u && ix + 4u <= p.width && px >= (KW - 1u) * DW && px + 3u < p.ow) {
      var acc = vec4(0.0);
      for (var j = 0u; j < p.mult; j++) {
        for (var ky = 0u; ky < KH && ky * DH <= py; ky++) {
          let ty = py - ky * DH;
          let oy = ty / SH;
          if (ty % SH != 0u || oy >= p.oh) { continue; }
          let line = grads + (j * p.oh + oy) * p.ow + px;
          for (var kx = 0u; kx < KW; kx++) {
            let a = line - kx * DW;
            acc += w[taps + j * KH * KW + ky * KW + kx] * vec4(dy[a], dy[a + 1u], dy[a + 2u], dy[a + 3u]);
          }
        }
      }
      out[dst + ix] = acc.x;
      out[dst + ix + 1u] = acc.y;
      out[dst + ix + 2u] = acc.z;
      out[dst + ix + 3u] = acc.w;
    } else {
      for (var e = ix; e < min(ix + 4u, p.width); e++) {
        out[dst + e] = gather_one(grads, taps, py, e + p.pw);
      }
    }
  }
}

// x at the group's 4 taps from column ix of the line at `line` (0 past the image's edges or
// the kernel's last column, tap k0 + e ≥ KW).
fn taps_checked(line: u32, ix: i32, k0: u32) -> vec4<f32> {
  var v = vec4(0.0);
  for (var e = 0u; e < 4u; e++) {
    let at = ix + i32(e * DW);
    if (k0 + e < KW && u32(at) < params.width) {
      v[e] = x[line + u32(at)];
    }
  }
  return v;
}

// Sums of dy[n][o][oy][ox] · x[n][c][iy][ix] over a chunk of output rows (n, oy), for a group of
// 4 taps of one kernel row (kx = k0 .. k0 + 3, those below KW): one invocation per (chunk, o,
// ky, group), `n` of them, groups fastest. Each dy is read once for its 4 taps, and with unit
// stride and dilation the 4 taps of neighbouring outputs read the same x, loaded once (11 loads
// for 12 products, not 24). Written to out[(o·KH·KW + ky·KW + kx)·chunks + chunk].
@compute @workgroup_size(WG)
fn weight_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  if (t >= params.n) { return; }
  let p = params;
  let outs = p.channels * p.mult;
  let groups = (KW + 3u) / 4u;
  let k0 = (t % groups) * 4u;
  let ky = (t / groups) % KH;
  let o = (t / (groups * KH)) % outs;
  let chunk = t / (groups * KH * outs);
  // The output columns whose taps of the group all fall inside the image: ix = ox·SW + rx + e·DW.
  let rx = i32(k0 * DW) - i32(p.pw);
  let reach = i32((min(KW - k0, 4u) - 1u) * DW) + rx;
  let lo = min(p.ow, select(0u, (u32(-rx) + SW - 1u) / SW, rx < 0));
  let hi = max(lo, select(0u, min(p.ow, (u32(i32(p.width) - reach) + SW - 1u) / SW), i32(p.width) > reach));
  let first = chunk * p.chunk_rows;
  let last = min(first + p.chunk_rows, p.batch * p.oh);
  // Walk the rows (n, oy) from the chunk's first, tracking both without further divisions.
  var n = first / p.oh;
  var oy = first % p.oh;
  var acc = vec4(0.0);
  for (var r = first; r < last; r++) {
    let iy = i32(oy * SH + ky * DH) - i32(p.ph);
    if (u32(iy) < p.height) {
      let grads = ((n * outs + o) * p.oh + oy) * p.ow;
      let line = ((n * p.channels + o / p.mult) * p.height + u32(iy)) * p.width;
      for (var ox = 0u; ox < lo; ox++) {
        acc += dy[grads + ox] * taps_checked(line, i32(ox * SW) + rx, k0);
      }
      var ox = lo;
      for (; ox + 4u <= hi; ox += 4u) {
        let g = vec4(dy[grads + ox], dy[grads + ox + 1u], dy[grads + ox + 2u], dy[grads + ox + 3u]);
        let a = u32(i32(line + ox * SW) + rx);
        for (var e = 0u; e < 4u; e++) {
          let at = a + e * SW;
          acc += g[e] * vec4(x[at], x[at + DW], x[at + 2u * DW], x[at + 3u * DW]);
        }
      }
      for (; ox < hi; ox++) {
        let at = u32(i32(line + ox * SW) + rx);
        acc += dy[grads + ox] * vec4(x[at], x[at + DW], x[at + 2u * DW], x[at + 3u * DW]);
      }
      for (ox = hi; ox < p.ow; ox++) {
        acc += dy[grads + ox] * taps_checked(line, i32(ox * SW) + rx, k0);
      }
    }
    oy++;
    if (oy == p.oh) {
      oy = 0u;
      n++;
    }
  }
  for (var e = 0u; e < min(KW - k0, 4u); e++) {
    out[(o * KH * KW + ky * KW + k0 + e) * p.chunks + chunk] = acc[e];
  }
}

// The chunks' sums of each weight, `n` of them, added in chunk order.
@compute @workgroup_size(WG)
fn weight_grad_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  var acc = 0.0;
  for (var k = 0u; k < params.chunks; k++) {
    acc += partials[i * params.chunks + k];
  }
  out[i] = acc;
}
