// Elementwise binary ops with NumPy broadcasting: out[i] = f(a[ia], b[ib]), one entry point
// per f. The shape comes in Params as at most 8 axes (adjacent axes that broadcast alike
// merged into one, see elementwise.ts); a stride of 0 marks a broadcast axis.

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32;
// False when a, b and out have one shape: then every index is i.
override BROADCAST: bool;

// #include "grid.wgsl"
// #include "nan.wgsl"

// Offsets of output element i in a and b.
fn operands(i: u32) -> vec2u {
  if (!BROADCAST) {
    return vec2u(i, i);
  }
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let size = params.shape[q][r];
    let coord = rest % size;
    rest = rest / size;
    ia += coord * params.a_strides[q][r];
    ib += coord * params.b_strides[q][r];
  }
  return vec2u(ia, ib);
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  out[i] = a[o.x] + b[o.y];
}

@compute @workgroup_size(WG)
fn sub(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  out[i] = a[o.x] - b[o.y];
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  out[i] = a[o.x] * b[o.y];
}

// a / b. WGSL bounds its error (2.5 ulp) for |b| in [2^−126, 2^126]; at ±0 and ±inf drivers divide
// as IEEE and PyTorch do (x / ±0 = ±inf, 0 / 0 = NaN), which the tests check.
@compute @workgroup_size(WG)
fn div(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  out[i] = a[o.x] / b[o.y];
}

// ReLU's gradient: a is the ReLU's output (or input: both are > 0 at the same places), b the
// gradient of its output.
@compute @workgroup_size(WG)
fn relu_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  out[i] = select(0.0, b[o.y], relu_passes(a[o.x]));
}

// torch.maximum and torch.minimum: NaN if either is NaN; at a tie b (as PyTorch's vectorised
// loop, whose max(−0, 0) is 0 and max(0, −0) is −0).
@compute @workgroup_size(WG)
fn maximum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  let p = a[o.x];
  let q = b[o.y];
  out[i] = select(select(q, p, p > q), select(q, p, is_nan(p)), is_nan(p) || is_nan(q));
}

@compute @workgroup_size(WG)
fn minimum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  let p = a[o.x];
  let q = b[o.y];
  out[i] = select(select(q, p, p < q), select(q, p, is_nan(p)), is_nan(p) || is_nan(q));
}

// The share of maximum(a, b)'s gradient that goes to a, as PyTorch 1.13's rule: 0 where a < b,
// ½ at a tie, all of it elsewhere (a > b, or either NaN). Of minimum's, with a and b swapped.
@compute @workgroup_size(WG)
fn max_share(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let o = operands(i);
  let p = a[o.x];
  let q = b[o.y];
  if (is_nan(p) || is_nan(q)) {
    out[i] = 1.0;
  } else {
    out[i] = select(select(1.0, 0.5, p == q), 0.0, p < q);
  }
}
