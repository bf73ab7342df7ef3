// Images resampled through an affine map each, as torchvision's affine on tensors
// (transforms.functional_tensor.affine, the map being _get_inverse_affine_matrix's): output pixel
// (i, j) of an H×W image, at centred coordinates u = j − W/2 + ½, v = i − H/2 + ½, samples its
// image at grid_sample's (align_corners=False) position of
//   gx = (m0·u + m1·v + m2) / (W/2),  gy = (m3·u + m4·v + m5) / (H/2),
// that is x = (gx + 1)·W/2 − ½, y = (gy + 1)·H/2 − ½, each in f32 as PyTorch orders it.
//   nearest:  the pixel at (round(x), round(y)), rounding half to even (PyTorch's nearbyint);
//             `fill` where that is outside the image
//   bilinear: its four neighbours weighted, those outside as zeros, giving v; and the weights
//             inside summed, m: v·m + (1 − m)·fill, as torchvision mixes in its fill by a mask
// One invocation per output value.

struct Params {
  images: u32,
  channels: u32,
  height: u32,
  width: u32,
  bilinear: u32,
  fill: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// [images, 6]: each image's inverse matrix.
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

// The value at (px, py) of plane `base` and whether it is inside: (value, 1), or (0, 0) outside.
fn tap(base: u32, px: f32, py: f32) -> vec2f {
  let w = f32(params.width);
  let h = f32(params.height);
  if (px < 0.0 || py < 0.0 || px >= w || py >= h) { return vec2f(0.0, 0.0); }
  return vec2f(x[base + u32(py) * params.width + u32(px)], 1.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let idx = thread_index(wid, nwg, lid, WG);
  let plane = params.height * params.width;
  if (idx >= params.images * params.channels * plane) { return; }
  let n = idx / (params.channels * plane);
  let p = idx % plane;
  let w = f32(params.width);
  let h = f32(params.height);
  let u = f32(p % params.width) - w * 0.5 + 0.5;
  let v = f32(p / params.width) - h * 0.5 + 0.5;
  let m = n * 6u;
  let gx = u * (theta[m] / (w * 0.5)) + v * (theta[m + 1u] / (w * 0.5)) + theta[m + 2u] / (w * 0.5);
  let gy = u * (theta[m + 3u] / (h * 0.5)) + v * (theta[m + 4u] / (h * 0.5)) + theta[m + 5u] / (h * 0.5);
  let sx = (gx + 1.0) * (w * 0.5) - 0.5;
  let sy = (gy + 1.0) * (h * 0.5) - 0.5;
  let base = idx - p;
  if (params.bilinear == 0u) {
    // A position at ±inf or NaN (from a matrix of such values) is outside, as grid_sample's
    // bounds test takes it: the fill. (Bilinear weights of it are NaN, as PyTorch's too.) Tested
    // on the bits: compilers may assume floats are never NaN (see nan.wgsl).
    let far = (bitcast<u32>(sx) & 0x7fffffffu) >= 0x7f800000u || (bitcast<u32>(sy) & 0x7fffffffu) >= 0x7f800000u;
    let t = tap(base, round(sx), round(sy));
    out[idx] = select(params.fill, t.x, t.y > 0.0 && !far);
    return;
  }
  let x0 = floor(sx);
  let y0 = floor(sy);
  let fx = sx - x0;
  let fy = sy - y0;
  let s = tap(base, x0, y0) * ((1.0 - fx) * (1.0 - fy)) + tap(base, x0 + 1.0, y0) * (fx * (1.0 - fy))
    + tap(base, x0, y0 + 1.0) * ((1.0 - fx) * fy) + tap(base, x0 + 1.0, y0 + 1.0) * (fx * fy);
  out[idx] = s.x * s.y + (1.0 - s.y) * params.fill;
}
