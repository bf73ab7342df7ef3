// Sum over any set of axes. One workgroup per output element. The reduced axes split into an
// inner one (the last) and the outer rest: every invocation walks all outer positions and,
// within each, a WG-strided share of the inner axis — so index arithmetic (integer division,
// slow on CPU drivers) is paid per outer position, not per element — then the invocations
// combine their partial sums in workgroup memory. Kept and reduced axes (adjacent ones merged)
// come in Params with their input strides.
//
// Each invocation's long run is summed in blocks, pairwise-like: s0 takes 4 elements, s1 4
// blocks of s0, s2 4 of s1, ... up to s8, which takes blocks of 4^8 elements; at the end they
// are added smallest first. A sum of n elements then keeps about f32 precision (a plain running
// sum loses log2(n / WG) bits: 2e-4 relative error for two million times 0.1). Blocks of 4,
// not 16 or 32: four equal values add up exactly, sixteen 0.1s already round (1.5e-7). No
// compensation (Kahan, Neumaier): WGSL lets compilers reassociate float arithmetic, and one
// that does (NVIDIA's) folds the error terms of such error-free transformations to zero. A
// blocked sum needs only that each addition is about as accurate as IEEE's.

struct Params {
  n_out: u32,
  kept_rank: u32,
  outer_rank: u32,
  n_outer: u32,
  inner: u32,
  inner_stride: u32,
  kept_shape: array<vec4<u32>, 2>,
  kept_strides: array<vec4<u32>, 2>,
  outer_shape: array<vec4<u32>, 2>,
  outer_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// A power of two.
override WG: u32;

var<workgroup> partial: array<f32, WG>;

// #include "grid.wgsl"

fn offset_of(index: u32, rank: u32, shape: array<vec4<u32>, 2>, strides: array<vec4<u32>, 2>) -> u32 {
  var rest = index;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    off += (rest % shape[q][r]) * strides[q][r];
    rest = rest / shape[q][r];
  }
  return off;
}

// Adds a full block into the next level's partial sum and starts it again.
fn carry(block: ptr<function, f32>, into: ptr<function, f32>) {
  *into += *block;
  *block = 0.0;
}

@compute @workgroup_size(WG)
fn sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = group_index(wid, nwg);
  // Uniform control flow: every invocation of a workgroup shares o, so all reach the barriers.
  let live = o < params.n_out;
  // s0 … s8: partial sums of 1, 4, 4², …, 4⁸ elements per addend; c counts the elements.
  var s0 = 0.0;
  var s1 = 0.0;
  var s2 = 0.0;
  var s3 = 0.0;
  var s4 = 0.0;
  var s5 = 0.0;
  var s6 = 0.0;
  var s7 = 0.0;
  var s8 = 0.0;
  var c = 0u;
  if (live) {
    let base = offset_of(o, params.kept_rank, params.kept_shape, params.kept_strides);
    for (var r = 0u; r < params.n_outer; r++) {
      let start = base + offset_of(r, params.outer_rank, params.outer_shape, params.outer_strides);
      for (var i = lid; i < params.inner; i += WG) {
        s0 += x[start + i * params.inner_stride];
        c++;
        // Every 4^k elements, block k - 1 is full: carry it up, lowest first. Nested, so that
        // three elements in four test one condition (the nine tests side by side ran 40% slower
        // on lavapipe).
        if ((c & 0x3u) == 0u) {
          carry(&s0, &s1);
          if ((c & 0xfu) == 0u) {
            carry(&s1, &s2);
            if ((c & 0x3fu) == 0u) {
              carry(&s2, &s3);
              if ((c & 0xffu) == 0u) {
                carry(&s3, &s4);
                if ((c & 0x3ffu) == 0u) {
                  carry(&s4, &s5);
                  if ((c & 0xfffu) == 0u) {
                    carry(&s5, &s6);
                    if ((c & 0x3fffu) == 0u) {
                      carry(&s6, &s7);
                      if ((c & 0xffffu) == 0u) {
                        carry(&s7, &s8);
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  // ±inf and NaN come through the additions as they do in any sum.
  partial[lid] = (((((((s0 + s1) + s2) + s3) + s4) + s5) + s6) + s7) + s8;
  for (var width = WG / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid < width) {
      partial[lid] += partial[lid + width];
    }
  }
  if (live && lid == 0u) {
    out[o] = partial[0];
  }
}
