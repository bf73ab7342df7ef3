// Colour from a colour JPEG's decoded components, as libjpeg-turbo makes it (and so PIL):
// jpeg-js decodes the three components, each enlarged to the full picture by repeating its
// samples, and here a component stored at half the width or height (4:2:2, 4:2:0 and 4:4:0, the
// usual "chroma subsampling") is enlarged again by libjpeg's "fancy upsampling" (jdsample.c),
// which interpolates between the samples rather than repeating them, and YCbCr becomes RGB by
// libjpeg's fixed-point tables (jdcolor.c). Repeated samples put colour edges up to a sample out
// of place, up to 99 levels from libjpeg's at sharp edges.

/** A component's sampling factors across (h) and down (v), from the frame header. */
export interface Sampling {
  h: number;
  v: number;
}

/**
 * Enlarges channel `c` of `rgba` (width × height) as libjpeg does, where jpeg-js repeated the
 * samples of a component of sampling `s` in a frame whose largest factors are `hMax` and `vMax`.
 * libjpeg interpolates a component of half the width, height or both (except one of 2 samples or
 * fewer across, at half the width); it repeats the samples of any other whole ratio (4:1:1, say),
 * as jpeg-js did; it refuses a fractional one (3:2), which is left as jpeg-js made it.
 */
export function upsampleChannel(rgba: Uint8Array, width: number, height: number, c: number, s: Sampling, hMax: number, vMax: number): void {
  const [rx, ry] = [hMax / s.h, vMax / s.v];
  // The component's own samples (libjpeg's downsampled_width and _height).
  const [w, h] = [Math.ceil(width / rx), Math.ceil(height / ry)];
  const fancy = (rx === 2 && (ry === 1 || ry === 2) && w > 2) || (rx === 1 && ry === 2);
  if (!fancy) return;
  // jpeg-js put sample (i, j) at pixel (rx·i, ry·j) (and the rx × ry pixels from it).
  const plane = new Uint8Array(w * h);
  for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) plane[j * w + i] = rgba[4 * (ry * j * width + rx * i) + c]!;
  // Down: each output row is 3 × its nearer row + 1 × the next nearer (above for an even row,
  // below for an odd one; the first and last rows stand in for the ones past the edges).
  const sums = new Int32Array(w);
  for (let y = 0; y < height; y++) {
    const near = (y >> (ry - 1)) * w;
    const far = ry === 1 ? near : (y & 1 ? Math.min((y >> 1) + 1, h - 1) : Math.max((y >> 1) - 1, 0)) * w;
    for (let i = 0; i < w; i++) sums[i] = ry === 1 ? plane[near + i]! : 3 * plane[near + i]! + plane[far + i]!;
    let o = 4 * y * width + c;
    if (rx === 1) {
      // h1v2: /4, rounding an even row's half down and an odd row's up.
      const bias = y & 1 ? 2 : 1;
      for (let x = 0; x < width; x++, o += 4) rgba[o] = (sums[x]! + bias) >> 2;
      continue;
    }
    // Across likewise, the first and last columns standing in for those past the edges: h2v1
    // divides by 4 (biases 1 and 2), h2v2 by 16 (8 and 7), as libjpeg rounds.
    const [shift, even, odd] = ry === 2 ? [4, 8, 7] : [2, 1, 2];
    for (let x = 0; x < width; x++, o += 4) {
      const i = x >> 1;
      rgba[o] = x & 1 ? (3 * sums[i]! + sums[Math.min(i + 1, w - 1)]! + odd) >> shift : (3 * sums[i]! + sums[Math.max(i - 1, 0)]! + even) >> shift;
    }
  }
}

/** libjpeg's YCbCr → RGB tables (jdcolor.c): 16-bit fixed point, by Cb or Cr. */
const tables = (() => {
  const fix = (x: number) => Math.floor(x * 65536 + 0.5);
  const [crR, cbB, crG, cbG] = [new Int32Array(256), new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  for (let i = 0; i < 256; i++) {
    const x = i - 128;
    crR[i] = (fix(1.402) * x + 32768) >> 16;
    cbB[i] = (fix(1.772) * x + 32768) >> 16;
    crG[i] = -fix(0.71414) * x;
    // The rounding half of the green sum, added once here.
    cbG[i] = -fix(0.34414) * x + 32768;
  }
  return { crR, cbB, crG, cbG };
})();

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Turns `rgba`'s YCbCr (in the R, G and B places) to RGB, as libjpeg does. */
export function yccToRgb(rgba: Uint8Array): void {
  const { crR, cbB, crG, cbG } = tables;
  for (let o = 0; o < rgba.length; o += 4) {
    const y = rgba[o]!, cb = rgba[o + 1]!, cr = rgba[o + 2]!;
    rgba[o] = clamp(y + crR[cr]!);
    rgba[o + 1] = clamp(y + ((cbG[cb]! + crG[cr]!) >> 16));
    rgba[o + 2] = clamp(y + cbB[cb]!);
  }
}
