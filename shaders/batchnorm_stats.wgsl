// BatchNorm's running statistics, updated in place after a training forward pass, as PyTorch
// 1.13's batch_norm_cpu_update_stats_template:
//   running_mean = momentum·mean + (1 − momentum)·running_mean
//   running_var  = momentum·var·count/(count − 1) + (1 − momentum)·running_var
// with the batch's statistics [2, C] (mean, then the biased variance over each channel's `count`
// values); `counted` also adds 1 to num_batches_tracked (a scalar). With momentum None, PyTorch's
// cumulative average, `cumulative` takes momentum = 1/(num_batches_tracked + 1), and `count`, a
// dispatch after it (one dispatch would race its reads), adds the 1.

struct Params {
  channels: u32,
  count: f32,
  momentum: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> num_batches_tracked: array<f32>;

override WG: u32;

// #include "grid.wgsl"

fn update(c: u32, m: f32) {
  let n = params.count;
  running_mean[c] = m * stats[c] + (1.0 - m) * running_mean[c];
  running_var[c] = m * (stats[params.channels + c] * n / (n - 1.0)) + (1.0 - m) * running_var[c];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let c = thread_index(wid, nwg, lid, WG);
  if (c < params.channels) { update(c, params.momentum); }
}

@compute @workgroup_size(WG)
fn counted(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let c = thread_index(wid, nwg, lid, WG);
  if (c < params.channels) { update(c, params.momentum); }
  if (c == 0u) { num_batches_tracked[0] += 1.0; }
}

@compute @workgroup_size(WG)
fn cumulative(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let c = thread_index(wid, nwg, lid, WG);
  if (c < params.channels) { update(c, 1.0 / (num_batches_tracked[0] + 1.0)); }
}

@compute @workgroup_size(1)
fn count() {
  num_batches_tracked[0] += 1.0;
}
