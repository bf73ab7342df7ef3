// Images sampled at the positions of a grid, as PyTorch's F.grid_sample (2-D): input x
// [N, C, H, W], grid [N, Ho, Wo, 2] of (x, y) in [−1, 1] (−1 the left or top edge, or with
// align_corners the centre of the first pixel), out [N, C, Ho, Wo]. A grid value g becomes the
// pixel coordinate ((g + 1)·W − 1)/2, or (g + 1)/2·(W − 1) with align_corners; with padding
// 'border' that coordinate is clamped into [0, W − 1], with 'reflection' reflected off the
// image's edges (the pixel centres at the ends, with align_corners) until inside, then clamped,
// and with 'zeros' taps outside read 0.
//   sample:    bilinear (the four neighbours by their weights) or nearest (rounding half to
//              even, as PyTorch's nearbyint)
//   grid_grad: the gradient for the grid, from out's gradient g: per grid point, over the
//              channels, g · ∂out/∂(x, y) · ∂(x, y)/∂grid (negated by each reflection, 0 where
//              the coordinate was clamped, and for nearest sampling, as PyTorch's)
//   input_grad: the gradient for x, from out's gradient g: per pixel, over the grid points that
//              touched it in ascending order, g times the weight the point gave the pixel (a
//              gather, so the sums' order is fixed: the same result every run). The points come
//              from the pixel's list; a pixel whose list is too long to sort (sort_max) walks all
//              its image's points instead, as input_grad_walk walks them for every pixel.
// Lists (u32): [images × pixels] ends, then per image a region of (4 or 1) × points entries:
// pixel q's list runs from the end of pixel q − 1's (0 for the first) to its own end.
//   bucket_clear: zeroes the counts (where the ends will be)
//   bucket_count: each grid point counts itself in the pixels it touches (atomic adds)
//   bucket_scan:  one workgroup per image turns its counts into where each list starts
//   bucket_fill:  each grid point adds itself to the lists of the pixels it touches (by atomic
//                 cursors, so in no set order), leaving each cursor at its list's end
//   bucket_sort:  sorts each list of up to sort_max points (insertion sort: fast on the nearly
//                 sorted lists the fill leaves)

struct Params {
  images: u32,
  channels: u32,
  height: u32,
  width: u32,
  out_height: u32,
  out_width: u32,
  bilinear: u32,
  // 0 zeros, 1 border, 2 reflection.
  padding: u32,
  align_corners: u32,
  // The longest list a pixel's gradient sums; longer ones walk all the points (input gradient only).
  sort_max: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grid: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The lists. Written as atomics by bucket_count and bucket_fill, as plain words by the other
// bucket entries; read by input_grad.
@group(0) @binding(4) var<storage, read_write> fill: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(5) var<storage, read> lists: array<u32>;

const NONE = 0xffffffffu;

override WG: u32;

var<workgroup> partial: array<u32, WG>;

// #include "grid.wgsl"

// A grid value as a pixel coordinate along a side of `size` pixels, and its derivative, as
// PyTorch's grid_sampler_compute_source_index_set_grad.
fn coordinate(v: f32, size: u32) -> vec2f {
  let s = f32(size);
  var c: f32;
  var d: f32;
  if (params.align_corners == 1u) {
    c = (v + 1.0) * 0.5 * (s - 1.0);
    d = 0.5 * (s - 1.0);
  } else {
    c = ((v + 1.0) * s - 1.0) * 0.5;
    d = 0.5 * s;
  }
  if (params.padding == 2u) {
    // reflect_coordinates: about the edges (−½ and W − ½), or the end pixels' centres (0 and
    // W − 1) with align_corners, folded over `span` until inside.
    let low = select(-0.5, 0.0, params.align_corners == 1u);
    let span = select(s, s - 1.0, params.align_corners == 1u);
    if (span <= 0.0) { return vec2f(0.0, 0.0); }
    var off = c - low;
    if (off < 0.0) {
      off = -off;
      d = -d;
    }
    let flips = floor(off / span);
    let extra = off - flips * span;
    if (flips % 2.0 == 0.0) {
      c = extra + low;
    } else {
      c = span - extra + low;
      d = -d;
    }
  }
  // clip_coordinates: its gradient is 0 at the bounds too.
  if (params.padding != 0u) {
    if (c <= 0.0) { return vec2f(0.0, 0.0); }
    if (c >= s - 1.0) { return vec2f(s - 1.0, 0.0); }
  }
  return vec2f(c, d);
}

// The value at (px, py) of plane `base`: 0 outside (zeros padding; border padding stays inside).
fn tap(base: u32, px: f32, py: f32) -> f32 {
  let q = pixel(px, py);
  if (q == NONE) { return 0.0; }
  return x[base + q];
}

// The index in its plane of the pixel at whole (px, py), or NONE outside the image.
fn pixel(px: f32, py: f32) -> u32 {
  if (!(px >= 0.0 && py >= 0.0 && px < f32(params.width) && py < f32(params.height))) { return NONE; }
  return u32(py) * params.width + u32(px);
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let points = params.out_height * params.out_width;
  if (idx >= params.images * params.channels * points) { return; }
  let p = idx % points;
  let nc = idx / points;
  let n = nc / params.channels;
  let gi = (n * points + p) * 2u;
  let cx = coordinate(grid[gi], params.width).x;
  let cy = coordinate(grid[gi + 1u], params.height).x;
  let base = nc * params.height * params.width;
  if (params.bilinear == 0u) {
    out[idx] = tap(base, round(cx), round(cy));
    return;
  }
  let x0 = floor(cx);
  let y0 = floor(cy);
  let fx = cx - x0;
  let fy = cy - y0;
  out[idx] = tap(base, x0, y0) * (1.0 - fx) * (1.0 - fy) + tap(base, x0 + 1.0, y0) * fx * (1.0 - fy)
    + tap(base, x0, y0 + 1.0) * (1.0 - fx) * fy + tap(base, x0 + 1.0, y0 + 1.0) * fx * fy;
}

@compute @workgroup_size(WG)
fn grid_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let points = params.out_height * params.out_width;
  if (idx >= params.images * points) { return; }
  let n = idx / points;
  let p = idx % points;
  let gx = coordinate(grid[idx * 2u], params.width);
  let gy = coordinate(grid[idx * 2u + 1u], params.height);
  var dx = 0.0;
  var dy = 0.0;
  if (params.bilinear == 1u) {
    let x0 = floor(gx.x);
    let y0 = floor(gy.x);
    let fx = gx.x - x0;
    let fy = gy.x - y0;
    for (var c = 0u; c < params.channels; c++) {
      let nc = n * params.channels + c;
      let base = nc * params.height * params.width;
      let go = g[nc * points + p];
      let v00 = tap(base, x0, y0);
      let v10 = tap(base, x0 + 1.0, y0);
      let v01 = tap(base, x0, y0 + 1.0);
      let v11 = tap(base, x0 + 1.0, y0 + 1.0);
      dx += go * ((v10 - v00) * (1.0 - fy) + (v11 - v01) * fy);
      dy += go * ((v01 - v00) * (1.0 - fx) + (v11 - v10) * fx);
    }
  }
  out[idx * 2u] = dx * gx.y;
  out[idx * 2u + 1u] = dy * gy.y;
}

// Grid point p of image n at its position in pixels.
fn point(n: u32, p: u32) -> vec2f {
  let gi = (n * params.out_height * params.out_width + p) * 2u;
  return vec2f(coordinate(grid[gi], params.width).x, coordinate(grid[gi + 1u], params.height).x);
}

// The pixels (indices in the plane) that a point at c touches: its four neighbours (bilinear) or
// the nearest one; NONE for those outside the image.
fn touched(c: vec2f) -> vec4u {
  if (params.bilinear == 0u) { return vec4u(pixel(round(c.x), round(c.y)), NONE, NONE, NONE); }
  let x0 = floor(c.x);
  let y0 = floor(c.y);
  return vec4u(pixel(x0, y0), pixel(x0 + 1.0, y0), pixel(x0, y0 + 1.0), pixel(x0 + 1.0, y0 + 1.0));
}

@compute @workgroup_size(WG)
fn bucket_clear(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  if (idx >= params.images * params.height * params.width) { return; }
  buckets[idx] = 0u;
}

// Adds grid point `idx` (of all images') to the counts (`entries` false) or the lists of the
// pixels it touches.
fn bucket_add(idx: u32, entries: bool) {
  let points = params.out_height * params.out_width;
  if (idx >= params.images * points) { return; }
  let plane = params.height * params.width;
  let n = idx / points;
  let t = touched(point(n, idx % points));
  for (var k = 0u; k < 4u; k++) {
    if (t[k] == NONE) { continue; }
    let slot = atomicAdd(&fill[n * plane + t[k]], 1u);
    if (entries) { atomicStore(&fill[list_base(n) + slot], idx % points); }
  }
}

@compute @workgroup_size(WG)
fn bucket_count(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  bucket_add(thread_index(wid, nwg, lid, WG), false);
}

@compute @workgroup_size(WG)
fn bucket_fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  bucket_add(thread_index(wid, nwg, lid, WG), true);
}

// Where image n's lists lie in the buffer.
fn list_base(n: u32) -> u32 {
  let plane = params.height * params.width;
  return params.images * plane + n * select(1u, 4u, params.bilinear == 1u) * params.out_height * params.out_width;
}

// Workgroup n: image n's counts to starts (exclusive sums), each invocation taking a span of
// pixels, offset by the spans before it.
@compute @workgroup_size(WG)
fn bucket_scan(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = group_index(wid, nwg);
  if (n >= params.images) { return; }
  let plane = params.height * params.width;
  let span = (plane + WG - 1u) / WG;
  let lo = n * plane + min(lid * span, plane);
  let hi = n * plane + min(lid * span + span, plane);
  var sum = 0u;
  for (var b = lo; b < hi; b++) { sum += buckets[b]; }
  partial[lid] = sum;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0u;
    for (var k = 0u; k < WG; k++) {
      let s = partial[k];
      partial[k] = total;
      total += s;
    }
  }
  workgroupBarrier();
  var at = partial[lid];
  for (var b = lo; b < hi; b++) {
    let count = buckets[b];
    buckets[b] = at;
    at += count;
  }
}

// Pixel b's (of all images') list within the buffer: [start, end).
fn list_of(b: u32) -> vec2u {
  let plane = params.height * params.width;
  let base = list_base(b / plane);
  // NOTE: max(b, 1) − 1, not b − 1: select reads both of its values, and lists[−1] is out of range.
  return vec2u(base + select(0u, lists[max(b, 1u) - 1u], b % plane != 0u), base + lists[b]);
}

@compute @workgroup_size(WG)
fn bucket_sort(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  if (idx >= params.images * params.height * params.width) { return; }
  let plane = params.height * params.width;
  let base = list_base(idx / plane);
  let a = base + select(0u, buckets[max(idx, 1u) - 1u], idx % plane != 0u);
  let e = base + buckets[idx];
  if (e - a > params.sort_max) { return; }
  for (var i = a + 1u; i < e; i++) {
    let v = buckets[i];
    var j = i;
    while (j > a && buckets[j - 1u] > v) {
      buckets[j] = buckets[j - 1u];
      j--;
    }
    buckets[j] = v;
  }
}

// What grid point p gave pixel (px, py) of plane nc, times out's gradient there: (value, 1), or
// (0, 0) where the point does not touch the pixel.
fn given(nc: u32, p: u32, px: f32, py: f32) -> vec2f {
  let c = point(nc / params.channels, p);
  let go = g[nc * params.out_height * params.out_width + p];
  if (params.bilinear == 0u) { return select(vec2f(0.0, 0.0), vec2f(go, 1.0), round(c.x) == px && round(c.y) == py); }
  let x0 = floor(c.x);
  let y0 = floor(c.y);
  if (!(px >= x0 && px <= x0 + 1.0 && py >= y0 && py <= y0 + 1.0)) { return vec2f(0.0, 0.0); }
  let fx = c.x - x0;
  let fy = c.y - y0;
  let wx = select(1.0 - fx, fx, px > x0);
  let wy = select(1.0 - fy, fy, py > y0);
  return vec2f(go * wx * wy, 1.0);
}

// The gradient of pixel q of plane nc from all its image's points, in ascending order.
fn walked(nc: u32, q: u32) -> f32 {
  let px = f32(q % params.width);
  let py = f32(q / params.width);
  var sum = 0.0;
  for (var p = 0u; p < params.out_height * params.out_width; p++) {
    let v = given(nc, p, px, py);
    if (v.y > 0.0) { sum += v.x; }
  }
  return sum;
}

@compute @workgroup_size(WG)
fn input_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let plane = params.height * params.width;
  if (idx >= params.images * params.channels * plane) { return; }
  let nc = idx / plane;
  let q = idx % plane;
  let list = list_of((nc / params.channels) * plane + q);
  if (list.y - list.x > params.sort_max) {
    out[idx] = walked(nc, q);
    return;
  }
  let px = f32(q % params.width);
  let py = f32(q / params.width);
  var sum = 0.0;
  for (var i = list.x; i < list.y; i++) {
    let v = given(nc, lists[i], px, py);
    if (v.y > 0.0) { sum += v.x; }
  }
  out[idx] = sum;
}

// input_grad without lists (where they would not fit in a buffer): every pixel walks all points.
@compute @workgroup_size(WG)
fn input_grad_walk(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let plane = params.height * params.width;
  if (idx >= params.images * params.channels * plane) { return; }
  out[idx] = walked(idx / plane, idx % plane);
}
