// Each row's entry at its label, and the adjoint: rows of x [B, C] with integer labels [B], as
// the negative log-likelihood picks a row's log-probability (PyTorch's nll_loss).
//   pick:  out[b] = x[b][label_b], 0 where label_b is `ignore`, NaN for any other label outside
//          [0, C) (a kernel cannot throw)
//   place: out[b][j] = x[b] where j = label_b, else 0 (x the [B] gradient): zero on a row
//          labelled `ignore`, NaN on one with any other label outside [0, C)
// Each entry point is bound only what it uses.

struct Params {
  batch: u32,
  classes: u32,
  ignore: i32,
  // A NaN (WGSL has no NaN literal).
  nan: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

fn label_ok(label: i32) -> bool {
  return label >= 0 && label < i32(params.classes);
}

// One invocation per row.
@compute @workgroup_size(WG)
fn pick(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = thread_index(wid, nwg, lid, WG);
  if (b >= params.batch) { return; }
  let label = labels[b];
  var v = params.nan;
  if (label == params.ignore) {
    v = 0.0;
  } else if (label_ok(label)) {
    v = x[b * params.classes + u32(label)];
  }
  out[b] = v;
}

// One invocation per element of out [B, C].
@compute @workgroup_size(WG)
fn place(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.batch * params.classes) { return; }
  let b = i / params.classes;
  let label = labels[b];
  var v = 0.0;
  if (label != params.ignore) {
    if (!label_ok(label)) {
      v = params.nan;
    } else if (u32(label) == i % params.classes) {
      v = x[b];
    }
  }
  out[i] = v;
}
