// Where a workgroup and a thread sit in a dispatch laid out by grid1d (src/runtime/shape.ts):
// up to the device's limit of workgroups along x, then further rows of them along y.

fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// For workgroups of `size` threads.
fn thread_index(wid: vec3u, nwg: vec3u, lid: u32, size: u32) -> u32 {
  return group_index(wid, nwg) * size + lid;
}

// Threads in the dispatch, for workgroups of `size`: the step of a loop over elements laid out
// by strideGrid (src/runtime/device.ts).
fn thread_count(nwg: vec3u, size: u32) -> u32 {
  return nwg.x * nwg.y * size;
}
