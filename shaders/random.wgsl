// Random numbers on the GPU from a counter-based generator: Threefry-2x32 with 20 rounds (Salmon
// et al., "Parallel random numbers: as easy as 1, 2, 3", 2011; JAX's generator). The 64 bits of
// block t under the draw's key (the generator's seed and the draw's number, from the `key`
// buffer, written before each run) decide elements 2t and 2t + 1, so the values depend on
// nothing but the key and the position. Each word's top 24 bits, read as u = bits / 2^24 in
// [0, 1), make
//   mask:    dropout's mask: 0 where u < p, else 1/(1 − p) (`scale`), so that x · mask keeps the
//            expected value of x; u < p exactly when the bits are below threshold = ⌈p · 2^24⌉
//            (computed on the host), with probability p to within 2^-24
//   uniforms: shift + scale · u, uniform from low to high
//   normals: shift + scale · z, z standard normal by Box–Muller of the pair:
//            √(−2 ln(1 − u0)) · (cos 2πu1, sin 2πu1)

struct Params {
  n: u32,
  threshold: u32,
  scale: f32,
  shift: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> key: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32;

// #include "grid.wgsl"

fn rotl(x: u32, r: u32) -> u32 {
  return (x << r) | (x >> (32u - r));
}

// Threefry-2x32-20 of counter `ctr` under key `k`, as Random123's threefry2x32.
fn threefry2x32(k: vec2u, ctr: vec2u) -> vec2u {
  let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  let ks = array<u32, 3>(k.x, k.y, 0x1BD11BDAu ^ k.x ^ k.y);
  var x0 = ctr.x + ks[0];
  var x1 = ctr.y + ks[1];
  for (var r = 0u; r < 20u; r++) {
    x0 += x1;
    x1 = rotl(x1, rot[r % 8u]) ^ x0;
    // The key is injected after every fourth round, with the injection's number.
    if (r % 4u == 3u) {
      let s = r / 4u + 1u;
      x0 += ks[s % 3u];
      x1 += ks[(s + 1u) % 3u] + s;
    }
  }
  return vec2u(x0, x1);
}

// The key's block t, the pair of words for elements 2t and 2t + 1.
fn block(t: u32) -> vec2u {
  return threefry2x32(vec2u(key[0], key[1]), vec2u(t, 0u));
}

fn unit(word: u32) -> f32 {
  return f32(word >> 8u) / 16777216.0;
}

fn masked(word: u32) -> f32 {
  return select(0.0, params.scale, (word >> 8u) >= params.threshold);
}

// Elements 2t and 2t + 1 of out, the second where it exists.
fn store(t: u32, v: vec2f) {
  let i = 2u * t;
  out[i] = v.x;
  if (i + 1u < params.n) {
    out[i + 1u] = v.y;
  }
}

// Each invocation makes a pair of values from block t of the key.
@compute @workgroup_size(WG)
fn mask(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  if (2u * t >= params.n) { return; }
  let words = block(t);
  store(t, vec2f(masked(words.x), masked(words.y)));
}

@compute @workgroup_size(WG)
fn uniforms(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  if (2u * t >= params.n) { return; }
  let words = block(t);
  store(t, params.shift + params.scale * vec2f(unit(words.x), unit(words.y)));
}

@compute @workgroup_size(WG)
fn normals(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = thread_index(wid, nwg, lid, WG);
  if (2u * t >= params.n) { return; }
  let words = block(t);
  // 1 − u0 is in (0, 1]: its log is finite.
  let radius = sqrt(-2.0 * log(1.0 - unit(words.x)));
  let angle = 6.283185307179586 * unit(words.y);
  store(t, params.shift + params.scale * radius * vec2f(cos(angle), sin(angle)));
}
