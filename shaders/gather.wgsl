// Gathers rows of a table by index: out[r, :] = table[idx[r] - offset, :] (a table that is one
// shard of a larger one starts at row `offset` of it). The table may be bytes
// (u8, packed four to a word), each read as the f32 that `byte_values` gives for its value
// (MNIST pixels / 255, as torchvision's ToTensor), or 32-bit values copied as they are. An
// index past the table yields `missing` rather than reading out of bounds: NaN for f32 rows,
// -1 (all bits set) for integer ones, so a bad index shows (as a NaN, or a label no loss
// accepts); or 0, where each shard's rows are added to the others'.

struct Params {
  rows: u32,
  row_len: u32,
  table_rows: u32,
  missing: u32,
  offset: u32,
  // The f32 for byte value b at [b / 4][b % 4], from the host (see gather.ts). No division
  // here: WGSL's f32 division may be off by 2.5 ULP, and NVIDIA's is not correctly rounded.
  byte_values: array<vec4<f32>, 64>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

override WG: u32;

// #include "grid.wgsl"

@compute @workgroup_size(WG)
fn bytes_to_f32(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.rows * params.row_len) { return; }
  // An index below the offset wraps past the table's rows: missing too.
  let row = idx[i / params.row_len] - params.offset;
  if (row >= params.table_rows) {
    out[i] = params.missing;
    return;
  }
  let byte = row * params.row_len + i % params.row_len;
  let value = (table[byte / 4u] >> (8u * (byte % 4u))) & 0xffu;
  out[i] = bitcast<u32>(params.byte_values[value / 4u][value % 4u]);
}

@compute @workgroup_size(WG)
fn words(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.rows * params.row_len) { return; }
  let row = idx[i / params.row_len] - params.offset;
  if (row >= params.table_rows) {
    out[i] = params.missing;
    return;
  }
  out[i] = table[row * params.row_len + i % params.row_len];
}
