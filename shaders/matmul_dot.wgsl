// Matrix multiply for products with few outputs and a long k, such as a linear layer's forward
// at a small batch (500 outputs, k = 1568) or a convolution's weight gradient summed over the
// batch (400 outputs, k = 784 for each of 50 images): one workgroup per output element, its
// invocations sharing k (and the batch entries summed) and adding their partial sums as a tree.
// The tiled kernels give each invocation whole outputs and walk all of k, so on such a product
// only a handful of invocations of a GPU would run. Same Params, strides, bias, ReLU and batch
// sums as the other kernels.

// #include "matmul_io.wgsl"
// #include "grid.wgsl"

// A power of two.
override WG: u32;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = group_index(wid, nwg);
  let per = params.M * params.N;
  // Without sum_batch, z is the batch entry; with it, every output sums the whole batch
  // (src/ops/matmul.ts does not split a batch sum it runs here).
  let layers = select(params.batch, 1u, params.sum_batch == 1u);
  // Uniform control flow: every invocation of a workgroup shares o, so all reach the barriers.
  let live = o < layers * per;
  let z = o / per;
  let i = (o % per) / params.N;
  let j = o % params.N;
  let first = select(z, 0u, params.sum_batch == 1u);
  let last = select(z + 1u, params.batch, params.sum_batch == 1u);
  var acc = 0.0;
  if (live) {
    for (var e = first; e < last; e++) {
      let a0 = e * params.a_batch + i * params.a_m;
      let b0 = e * params.b_batch + j * params.b_n;
      for (var k = lid; k < params.K; k += WG) {
        acc = fma(a[a0 + k * params.a_k], b[b0 + k * params.b_k], acc);
      }
    }
  }
  partial[lid] = acc;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  if (live && lid == 0u) {
    var value = partial[0];
    if (params.bias_mode == 1u) { value += bias[i]; }
    if (params.bias_mode == 2u) { value += bias[j]; }
    if (params.relu == 1u) { value = rectify(value); }
    c[o] = value;
  }
}
