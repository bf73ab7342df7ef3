// Matrix multiply for products with few outputs and a long k, such as a linear layer's forward
// at a small batch (500 outputs, k = 1568) or a convolution's weight gradient summed over the
// batch (400 outputs, k = 784 for each of 50 images): one workgroup per output element, its
// invocations sharing the products (of every batch entry summed) and adding their partial sums
// as a tree.
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
  let entries = batch_entries(z);
  // The output's products, (entry, k) in order, taken by the invocations in turn: the entries
  // of a batch sum make one long run, so no invocation idles at the end of each entry's k. Four
  // at a time, independent, so that their loads are in flight together.
  let length = (entries.y - entries.x) * params.K;
  var acc = vec4(0.0);
  if (live) {
    for (var t = lid; t < length; t += 4u * WG) {
      for (var u = 0u; u < 4u; u++) {
        let s = t + u * WG;
        if (s < length) {
          let e = entries.x + s / params.K;
          let k = s % params.K;
          acc[u] = fma(a[e * params.a_batch + i * params.a_m + k * params.a_k], b[e * params.b_batch + j * params.b_n + k * params.b_k], acc[u]);
        }
      }
    }
  }
  partial[lid] = (acc.x + acc.y) + (acc.z + acc.w);
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  if (live && lid == 0u) {
    c[o] = finish_output(partial[0], i, j);
  }
}
