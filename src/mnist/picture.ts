// What the readers of pictures (png.ts, jpeg.ts) give `fovea predict`, how large a picture they
// read, and a picture as a colour model takes it.
import { FileFormatError } from '../runtime/errors.js';
import { alphaBackground, resampleArea } from './digit.js';

/** A decoded picture: RGBA bytes, row-major. */
export interface Picture {
  width: number;
  height: number;
  rgba: Uint8Array;
}

const MAX_SIDE = 4096;
/** The most pixels a picture may have (4096 × 4096: 64 MiB of RGBA while decoding), checked in its header before decoding. */
export const MAX_PICTURE_PIXELS = MAX_SIDE * MAX_SIDE;

/** Refuses a picture of more than MAX_PICTURE_PIXELS, its size read from `file` at byte `at`. */
export function checkPictureSize(file: string, at: number, width: number, height: number): void {
  if (width * height > MAX_PICTURE_PIXELS) {
    throw new FileFormatError(file, at, `image is ${width}×${height} pixels, more than the ${MAX_PICTURE_PIXELS.toLocaleString('en-US')} (${MAX_SIDE} × ${MAX_SIDE}) read`);
  }
}

/** RGB bytes channel by channel ([3, H, W], as PyTorch's), from RGBA, alpha composited as lumaBytes does (alphaBackground). */
export function rgbPlanes(rgba: Uint8Array): Uint8Array {
  const plane = rgba.length / 4;
  const out = new Uint8Array(3 * plane);
  const back = alphaBackground(rgba);
  for (let i = 0; i < plane; i++) {
    const a = rgba[4 * i + 3]!;
    for (let c = 0; c < 3; c++) out[c * plane + i] = Math.round((rgba[4 * i + c]! * a + back * (255 - a)) / 255);
  }
  return out;
}

/** The centre of a width × height picture with the aspect of w × h: all of one side, as much of the other as fits. */
export function centreCrop(width: number, height: number, w: number, h: number): { x: number; y: number; w: number; h: number } {
  const [cw, ch] = width * h > height * w ? [(height * w) / h, height] : [width, (width * h) / w];
  return { x: (width - cw) / 2, y: (height - ch) / 2, w: cw, h: ch };
}

/**
 * A picture as a colour model of h × w pictures takes it: RGB planes ([3, h, w], rgbPlanes), of
 * the picture's centre at the model's aspect (centreCrop), area-averaged to h × w (as a picture
 * is shrunk smoothly, antialiased); the picture itself where it is h × w. Also the crop.
 */
export function colourPlanes(p: Picture, h: number, w: number): { planes: Uint8Array; crop?: { x: number; y: number; w: number; h: number } } {
  const planes = rgbPlanes(p.rgba);
  if (p.width === w && p.height === h) return { planes };
  const crop = centreCrop(p.width, p.height, w, h);
  const plane = p.width * p.height;
  const out = new Uint8Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    const data = new Float32Array(planes.subarray(c * plane, (c + 1) * plane));
    const small = resampleArea({ width: p.width, height: p.height, data }, crop, w, h);
    for (let i = 0; i < h * w; i++) out[c * h * w + i] = Math.min(255, Math.max(0, Math.round(small[i]!)));
  }
  return { planes: out, crop };
}
