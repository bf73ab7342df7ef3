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
//              from the pixel's bucket; a pixel whose bucket overflowed walks all its image's points.
// Buckets (u32), per image and pixel: a count, then up to `capacity` points, sorted.
//   bucket_clear: zeroes the counts
//   bucket_fill:  each grid point adds itself to the buckets of the pixels it touches (by atomic
//                 counts, so in no set order)
//   bucket_sort:  sorts each bucket that did not overflow (insertion sort: capacity² at most)

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
  // Points a bucket holds (input gradient only).
  capacity: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grid: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// The buckets: [images × pixels] counts, then [images × pixels × capacity] point indices. Written
// as atomics by bucket_fill, as plain words by bucket_clear and bucket_sort; read by input_grad.
@group(0) @binding(4) var<storage, read_write> fill: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> buckets: array<u32>;
@group(0) @binding(5) var<storage, read> lists: array<u32>;

const NONE = 0xffffffffu;

override WG: u32;

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

@compute @workgroup_size(WG)
fn bucket_fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let points = params.out_height * params.out_width;
  if (idx >= params.images * points) { return; }
  let plane = params.height * params.width;
  let n = idx / points;
  let t = touched(point(n, idx % points));
  for (var k = 0u; k < 4u; k++) {
    if (t[k] == NONE) { continue; }
    let b = n * plane + t[k];
    let slot = atomicAdd(&fill[b], 1u);
    if (slot < params.capacity) { atomicStore(&fill[params.images * plane + b * params.capacity + slot], idx % points); }
  }
}

@compute @workgroup_size(WG)
fn bucket_sort(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let buckets_count = params.images * params.height * params.width;
  if (idx >= buckets_count) { return; }
  let size = buckets[idx];
  if (size > params.capacity) { return; }
  let at = buckets_count + idx * params.capacity;
  for (var i = 1u; i < size; i++) {
    let v = buckets[at + i];
    var j = i;
    while (j > 0u && buckets[at + j - 1u] > v) {
      buckets[at + j] = buckets[at + j - 1u];
      j--;
    }
    buckets[at + j] = v;
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

@compute @workgroup_size(WG)
fn input_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let plane = params.height * params.width;
  if (idx >= params.images * params.channels * plane) { return; }
  let nc = idx / plane;
  let q = idx % plane;
  let b = (nc / params.channels) * plane + q;
  let px = f32(q % params.width);
  let py = f32(q / params.width);
  let size = lists[b];
  var sum = 0.0;
  if (size <= params.capacity) {
    let at = params.images * plane + b * params.capacity;
    for (var i = 0u; i < size; i++) {
      let v = given(nc, lists[at + i], px, py);
      if (v.y > 0.0) { sum += v.x; }
    }
  } else {
    for (var p = 0u; p < params.out_height * params.out_width; p++) {
      let v = given(nc, p, px, py);
      if (v.y > 0.0) { sum += v.x; }
    }
  }
  out[idx] = sum;
}
