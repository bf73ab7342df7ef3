// Activation maps drawn straight from fovea's tensor buffers. A "view" is a grid of tiles, one
// per channel, each showing a height×width map read from `act` (a tensor's GPU buffer, bound
// read-only): element (c, y, x) is act[offset + c·channel_stride + y·width + x]. `measure`
// (compute) writes the view's largest |value| to ranges[slot]; the fragment shader maps each
// value to a colour on a scale spanning ±that value, so nothing is read back to the CPU.

struct View {
  offset: u32,
  channel_stride: u32,
  channels: u32,
  height: u32,
  width: u32,
  // Tiles per row of the grid.
  cols: u32,
  // Highlighted channel, or -1.
  selected: i32,
  // 0: diverging (blue < 0 < red), 1: grey (0 black … 1 white).
  colour: u32,
  // Top-left corner of the view in framebuffer pixels, and each tile's size.
  origin: vec2f,
  tile: vec2f,
  gap: f32,
  slot: u32,
  // > 0: use this range instead of the measured one.
  fixed_range: f32,
  border: f32,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> act: array<f32>;
@group(0) @binding(2) var<storage, read_write> ranges_out: array<f32>;
@group(0) @binding(3) var<storage, read> ranges: array<f32>;

// Set by map-renderer.ts (MEASURE_WG).
override WG: u32;

var<workgroup> partial: array<f32, WG>;

fn element(c: u32, y: u32, x: u32) -> f32 {
  return act[view.offset + c * view.channel_stride + y * view.width + x];
}

// One workgroup: each invocation scans a strided share of the view, then a tree reduction.
@compute @workgroup_size(WG)
fn measure(@builtin(local_invocation_index) lid: u32) {
  let per = view.height * view.width;
  let n = view.channels * per;
  var m = 0.0;
  for (var i = lid; i < n; i += WG) {
    let v = abs(element(i / per, (i % per) / view.width, i % view.width));
    // NOTE: NaN fails every comparison, so a NaN value never becomes the range.
    if (v > m && v < 3.0e38) { m = v; }
  }
  partial[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { partial[lid] = max(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { ranges_out[view.slot] = partial[0]; }
}

// A triangle covering the viewport (set to the view's rectangle).
@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4f {
  let p = vec2f(f32((i << 1u) & 2u), f32(i & 2u));
  return vec4f(p * 2.0 - 1.0, 0.0, 1.0);
}

// Diverging scale (ColorBrewer RdBu, reversed): t in [-1, 1].
fn diverging(t: f32) -> vec3f {
  let neg2 = vec3f(0.129, 0.400, 0.675);
  let neg1 = vec3f(0.573, 0.773, 0.871);
  let mid = vec3f(0.969, 0.969, 0.969);
  let pos1 = vec3f(0.957, 0.647, 0.510);
  let pos2 = vec3f(0.698, 0.094, 0.169);
  let a = clamp(t, -1.0, 1.0);
  if (a < -0.5) { return mix(neg2, neg1, (a + 1.0) * 2.0); }
  if (a < 0.0) { return mix(neg1, mid, (a + 0.5) * 2.0); }
  if (a < 0.5) { return mix(mid, pos1, a * 2.0); }
  return mix(pos1, pos2, (a - 0.5) * 2.0);
}

@fragment
fn fs(@builtin(position) pos: vec4f) -> @location(0) vec4f {
  let p = pos.xy - view.origin;
  let cell = view.tile + vec2f(view.gap);
  let grid = floor(p / cell);
  let local = p - grid * cell;
  let c = u32(grid.y) * view.cols + u32(grid.x);
  if (grid.x < 0.0 || grid.y < 0.0 || u32(grid.x) >= view.cols || c >= view.channels || local.x >= view.tile.x || local.y >= view.tile.y) {
    return vec4f(0.0);
  }
  if (i32(c) == view.selected) {
    let edge = min(min(local.x, local.y), min(view.tile.x - local.x, view.tile.y - local.y));
    if (edge < view.border) { return vec4f(0.05, 0.45, 0.35, 1.0); }
  }
  let x = min(u32(local.x / view.tile.x * f32(view.width)), view.width - 1u);
  let y = min(u32(local.y / view.tile.y * f32(view.height)), view.height - 1u);
  let v = element(c, y, x);
  var range = view.fixed_range;
  if (range <= 0.0) { range = max(ranges[view.slot], 1e-6); }
  if (v != v) { return vec4f(1.0, 0.0, 1.0, 1.0); } // NaN: magenta, impossible to miss
  if (view.colour == 1u) {
    let g = clamp(v / range, 0.0, 1.0);
    return vec4f(g, g, g, 1.0);
  }
  return vec4f(diverging(v / range), 1.0);
}
