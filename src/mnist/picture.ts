// What the readers of pictures (png.ts, jpeg.ts) give `fovea predict`, and how large a picture they read.

/** A decoded picture: RGBA bytes, row-major. */
export interface Picture {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** The most pixels a picture may have (4096 × 4096: 64 MiB of RGBA while decoding), checked in its header before decoding. */
export const MAX_PICTURE_PIXELS = 4096 * 4096;
