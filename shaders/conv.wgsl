// im2col and col2im: the two halves of a convolution written as a matmul.
//
// im2col copies every KH×KW window of a zero-padded NCHW image into a column:
//   cols[n][c·KH·KW + kh·KW + kw][oh·OW + ow] = x[n][c][oh·SH − PH + kh·DH][ow·SW − PW + kw·DW]
// (0 where the index falls in the padding; DH, DW the dilation, 1 but in dilated convolutions). col2im is its adjoint: each invocation owns elements
// of one image row and sums into them, by gathering, every cols entry that im2col copied from
// them, so no two invocations write the same element and no atomics are needed.
//
// Both entry points share the binding table: `src` is read, `dst` is written (im2col: x → cols,
// col2im: cols → the image-shaped gradient).

struct Params {
  // What is split among invocations: runs of OW cols elements (im2col, one each), cols rows per
  // image (im2col_rows) or image rows (col2im); the last two run n·spans invocations.
  n: u32,
  channels: u32,
  height: u32,
  width: u32,
  kh: u32,
  kw: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  oh: u32,
  ow: u32,
  // A row takes `spans` invocations: in im2col_rows each writes `span` consecutive vec4s of a
  // cols row; in col2im each takes every spans-th element of an image row. A CPU adapter takes
  // whole rows (spans 1), paying the index arithmetic once per row; a GPU, short spans, to run
  // on more invocations.
  span: u32,
  spans: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst4: array<vec4<f32>>;

override WG: u32;

// #include "grid.wgsl"

// One invocation per cols row segment (n, c·KH·KW + ky·KW + kx, oy): it writes the OW
// columns oy·OW .. oy·OW + OW − 1, so the index arithmetic (integer divisions, slow on CPU
// drivers) is paid once per OW outputs. `n` counts these segments here.
@compute @workgroup_size(WG)
fn im2col(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid, WG);
  if (i >= params.n) { return; }
  let p = params;
  let rows = p.channels * p.kh * p.kw;
  let oy = i % p.oh;
  let row = (i / p.oh) % rows;
  let img = i / (p.oh * rows);
  let kx = row % p.kw;
  let ky = (row / p.kw) % p.kh;
  let c = row / (p.kw * p.kh);
  let out = i * p.ow;
  // Coordinates in the unpadded image; negative or past the edge means padding.
  let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
  if (iy < 0 || iy >= i32(p.height)) {
    for (var ox = 0u; ox < p.ow; ox++) {
      dst[out + ox] = 0.0;
    }
    return;
  }
  let line = ((img * p.channels + c) * p.height + u32(iy)) * p.width;
  let rx = kx * p.dw;
  for (var ox = 0u; ox < p.ow; ox++) {
    let ix = i32(ox * p.sw + rx) - i32(p.pw);
    var v = 0.0;
    if (ix >= 0 && ix < i32(p.width)) {
      v = src[line + u32(ix)];
    }
    dst[out + ox] = v;
  }
}

// im2col when a whole cols row (OH·OW values) is a multiple of 4 long: one invocation per span
// of a cols row (n, c·KH·KW + ky·KW + kx) writes it four values at a time (a quarter of the
// stores). Workgroup y is the image n; the kernel size comes as override constants KH, KW so
// that splitting the row index into (c, ky, kx) needs no runtime division (slow on CPU drivers);
// finding the span costs a few, once per invocation. `n` counts cols rows per image here.
override KH: u32;
override KW: u32;

@compute @workgroup_size(WG)
fn im2col_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x * WG + lid;
  let row = t / params.spans;
  if (row >= params.n) { return; }
  let p = params;
  let img = wid.y;
  let i = img * params.n + row;
  let kx = row % KW;
  let ky = (row / KW) % KH;
  let c = row / (KW * KH);
  let plane = (img * p.channels + c) * p.height * p.width;
  let spatial = p.oh * p.ow;
  let first = (t % p.spans) * p.span;
  let ry = ky * p.dh;
  let rx = kx * p.dw;
  // Walk the span's output positions in order, tracking (oy, ox) without further divisions.
  var oy = (4u * first) / p.ow;
  var ox = (4u * first) % p.ow;
  for (var q = first; q < min(spatial / 4u, first + p.span); q++) {
    var v = vec4(0.0);
    for (var e = 0u; e < 4u; e++) {
      let iy = i32(oy * p.sh + ry) - i32(p.ph);
      let ix = i32(ox * p.sw + rx) - i32(p.pw);
      if (iy >= 0 && iy < i32(p.height) && ix >= 0 && ix < i32(p.width)) {
        v[e] = src[plane + u32(iy) * p.width + u32(ix)];
      }
      ox++;
      if (ox == p.ow) {
        ox = 0u;
        oy++;
      }
    }
    dst4[i * (spatial / 4u) + q] = v;
  }
}

// `spans` invocations per image row (n, c, y), each owning every spans-th element of it from
// its own first (neighbouring invocations: neighbouring elements): each element is the sum,
// kept in a register, of every cols entry copied from it (each written once, no
// read-modify-write of memory). Padded row y + PH is read by window row oy at kernel row ky
// when oy·SH + ky·DH = y + PH: undilated, ky runs over the residue class of (y + PH) mod SH
// with oy = (y + PH − ky) / SH in [0, OH); DILATED, over every ky, skipping those whose
// distance y + PH − ky·DH is not a multiple of SH; likewise x + PW = ox·SW + kx·DW. With
// UNIT_STRIDE the divisions (slow on CPU drivers) drop out. `n` counts image rows.
override UNIT_STRIDE: bool;
override DILATED: bool;

@compute @workgroup_size(WG)
fn col2im(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  let i = t / params.spans;
  if (i >= params.n) { return; }
  let p = params;
  let y = i % p.height;
  let c = (i / p.height) % p.channels;
  let img = i / (p.height * p.channels);
  let spatial = p.oh * p.ow;
  let plane = (img * p.channels + c) * p.kh * p.kw * spatial;
  let out = i * p.width;
  let py = y + p.ph;
  let sh = select(p.sh, 1u, UNIT_STRIDE);
  let sw = select(p.sw, 1u, UNIT_STRIDE);
  let dh = select(1u, p.dh, DILATED);
  let dw = select(1u, p.dw, DILATED);
  for (var x = t % p.spans; x < p.width; x += p.spans) {
    let px = x + p.pw;
    var acc = 0.0;
    for (var ky = select(py % sh, 0u, UNIT_STRIDE || DILATED); ky < p.kh && ky * dh <= py; ky += select(sh, 1u, DILATED)) {
      let ty = py - ky * dh;
      if (DILATED && ty % sh != 0u) { continue; }
      let oy = select(ty / sh, ty, UNIT_STRIDE);
      if (oy >= p.oh) { continue; }
      let row = plane + ky * p.kw * spatial + oy * p.ow;
      for (var kx = select(px % sw, 0u, UNIT_STRIDE || DILATED); kx < p.kw && kx * dw <= px; kx += select(sw, 1u, DILATED)) {
        let tx = px - kx * dw;
        if (DILATED && tx % sw != 0u) { continue; }
        let ox = select(tx / sw, tx, UNIT_STRIDE);
        if (ox < p.ow) {
          acc += src[row + kx * spatial + ox];
        }
      }
    }
    dst[out + x] = acc;
  }
}
