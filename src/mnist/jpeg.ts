// Reading untrusted JPEG files (photos of digits) for `fovea predict`. The marker segments are
// walked and checked first: each segment's length inside the file, one frame header of a kind the
// decoder reads (baseline or progressive Huffman, 8-bit, 1 or 3 components, at most 4096 × 4096
// pixels, and no more blocks than its scan data can code at one bit each, so that a small file
// cannot make the decoder allocate for a large picture), a scan, and the end-of-image marker after
// it (a truncated download ends without one), and no more than MAX_SCANS scans, nor more blocks
// decoded over all scans than MAX_BLOCK_SCANS (each scan of a progressive JPEG can cover the
// whole picture in a few bytes, and decoding takes time in scans × blocks). Only then does
// jpeg-js decode it; its errors are named with the file. A colour picture's components are then
// enlarged and turned to RGB as libjpeg does (./jpeg-colour.ts), and a photo's EXIF orientation
// is applied, as a viewer shows the photo.
import { decode } from 'jpeg-js';
import { upsampleChannel, yccToRgb, type Sampling } from './jpeg-colour.js';
import { clean } from '../model/untrusted.js';
import { FileFormatError } from '../runtime/errors.js';
import { checkPictureSize, MAX_PICTURE_PIXELS, type Picture } from './picture.js';

/** The most scans a file may have (libjpeg-turbo's default limit): PIL writes 10 for a progressive colour JPEG. */
const MAX_SCANS = 500;
/**
 * The most blocks decoded over all scans (each scan charged the blocks of the components it
 * codes), about 1.7 s of decoding: twice what PIL's progressive 4096 × 4096 colour file takes
 * (3.7 million in its 10 scans at 4:4:4).
 */
const MAX_BLOCK_SCANS = 8_000_000;

/** The error for a file that breaks the JPEG format (at byte `at`, where one is to blame). */
function unreadable(file: string, at: number | undefined, why: string): FileFormatError {
  return new FileFormatError(file, at, `not a readable JPEG: ${why}`);
}

const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');

/** What the frame header (SOFn) says: the size, and where it is in the file. */
interface Frame {
  width: number;
  height: number;
  /** Byte offset of the height (the width follows it). */
  sizeAt: number;
  /** 8×8 blocks of all components, by their sampling factors. */
  blocks: number;
  /** Each component's blocks, by its identifier. */
  componentBlocks: Map<number, number>;
  /** Each component's identifier and sampling factors, in the frame header's order. */
  components: (Sampling & { id: number })[];
}

/** The frame markers the decoder does not read, by what they are (it reads 0xc0 to 0xc2: baseline, extended and progressive Huffman). */
const OTHER_FRAMES: Record<number, string> = {
  0xc3: 'lossless',
  0xc5: 'hierarchical',
  0xc6: 'hierarchical progressive',
  0xc7: 'hierarchical lossless',
  0xc9: 'arithmetic-coded',
  0xca: 'arithmetic-coded progressive',
  0xcb: 'arithmetic-coded lossless',
  0xcd: 'hierarchical arithmetic-coded',
  0xce: 'hierarchical arithmetic-coded progressive',
  0xcf: 'hierarchical arithmetic-coded lossless',
};

/** Reads and checks a frame header segment whose marker is at `at` and whose length is `length`. */
function frameHeader(bytes: Uint8Array, file: string, at: number, length: number): Frame {
  const marker = bytes[at + 1]!;
  const kind = OTHER_FRAMES[marker];
  if (kind) throw unreadable(file, at, `its frame is ${kind} (marker FF ${hex(marker)}), which is not read: only baseline and progressive JPEGs are`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (length < 8) throw unreadable(file, at + 2, `the frame header is ${length} bytes long, too short for its fields`);
  const [precision, height, width, count] = [bytes[at + 4]!, view.getUint16(at + 5), view.getUint16(at + 7), bytes[at + 9]!];
  if (precision !== 8) throw unreadable(file, at + 4, `samples of ${precision} bits are not read, only of 8`);
  if (!width || !height) throw unreadable(file, at + 5, `its frame is ${width}×${height} pixels (a height given after the scan, by a DNL marker, is not read)`);
  checkPictureSize(file, at + 5, width, height);
  if (count !== 1 && count !== 3) throw unreadable(file, at + 9, `it has ${count} colour components; grey (1) and colour (3) pictures are read`);
  if (length !== 8 + 3 * count) throw unreadable(file, at + 2, `the frame header is ${length} bytes long, but ${count} components need ${8 + 3 * count}`);
  // Each component's blocks, as the decoder allocates them: whole MCUs of the largest sampling.
  const factors = Array.from({ length: count }, (_, c) => [bytes[at + 11 + 3 * c]! >> 4, bytes[at + 11 + 3 * c]! & 15] as const);
  const bad = factors.findIndex(([h, v]) => h < 1 || h > 4 || v < 1 || v > 4);
  if (bad >= 0) throw unreadable(file, at + 11 + 3 * bad, `component ${bad + 1} has sampling factors ${factors[bad]![0]}×${factors[bad]![1]}, not within 1 to 4`);
  const [hMax, vMax] = [Math.max(...factors.map(([h]) => h)), Math.max(...factors.map(([, v]) => v))];
  // Refused as libjpeg refuses it (and so PIL): a component whose samples do not tile the largest
  // ones whole (3:2), whose colour libjpeg does not make.
  const odd = factors.findIndex(([h, v]) => hMax % h !== 0 || vMax % v !== 0);
  if (odd >= 0) throw unreadable(file, at + 11 + 3 * odd, `component ${odd + 1} has sampling factors ${factors[odd]![0]}×${factors[odd]![1]}, which do not divide the largest, ${hMax}×${vMax}`);
  const [mcuX, mcuY] = [Math.ceil(width / (8 * hMax)), Math.ceil(height / (8 * vMax))];
  const componentBlocks = new Map(factors.map(([h, v], c) => [bytes[at + 10 + 3 * c]!, mcuX * h * mcuY * v]));
  const blocks = factors.reduce((sum, [h, v]) => sum + mcuX * h * mcuY * v, 0);
  const components = factors.map(([h, v], c) => ({ id: bytes[at + 10 + 3 * c]!, h, v }));
  return { width, height, sizeAt: at + 5, blocks, componentBlocks, components };
}

/** The orientation (1 to 8) an EXIF APP1 segment's first image directory gives, or 1 where it gives none or cannot be read. */
function exifOrientation(bytes: Uint8Array, start: number, end: number): number {
  // "Exif\0\0", then a TIFF header: II*\0 or MM\0*, the first directory's offset.
  const tiff = start + 6;
  if (end - start < 14 || String.fromCharCode(...bytes.subarray(start, start + 6)) !== 'Exif\0\0') return 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[tiff] === 0x49 && bytes[tiff + 1] === 0x49;
  if (!little && !(bytes[tiff] === 0x4d && bytes[tiff + 1] === 0x4d)) return 1;
  const u16 = (at: number) => (at + 2 <= end ? view.getUint16(at, little) : -1);
  const ifd = tiff + (tiff + 8 <= end ? view.getUint32(tiff + 4, little) : end);
  const entries = u16(ifd);
  for (let k = 0; k < entries; k++) {
    const entry = ifd + 2 + 12 * k;
    if (entry + 12 > end) return 1;
    // Tag 0x0112, a SHORT, one of it: the value in the entry's first two value bytes.
    if (u16(entry) === 0x0112) {
      const v = u16(entry + 8);
      return u16(entry + 2) === 3 && v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** What the application segments before the first scan say of a colour picture's coding, as libjpeg reads them. */
interface Coding {
  /** A JFIF APP0 segment: YCbCr. */
  jfif: boolean;
  /** The transform of the last Adobe APP14 segment (0: RGB, otherwise YCbCr), if any. */
  adobe: number | undefined;
}

/** Whether the first bytes of segment data from `start` to `end` are `tag`, and there are at least `length` of them. */
function tagged(bytes: Uint8Array, start: number, end: number, tag: string, length: number): boolean {
  return end - start >= length && [...tag].every((ch, k) => bytes[start + k] === ch.charCodeAt(0));
}

/**
 * Whether a 3-component picture is coded as RGB rather than YCbCr, as libjpeg decides
 * (jdapimin.c): JFIF means YCbCr; else an Adobe segment's transform 0 means RGB; else the
 * components named R, G and B do.
 */
function codedAsRgb(frame: Frame, coding: Coding): boolean {
  if (coding.jfif) return false;
  if (coding.adobe !== undefined) return coding.adobe === 0;
  return frame.components.map((c) => String.fromCharCode(c.id)).join('') === 'RGB';
}

/**
 * Walks the marker segments up to the first scan, checking them; returns the frame, the EXIF
 * orientation, the coding, where the first scan's header (`header`) and data (`scan`) start, and
 * the offsets of the Adobe segments' transform bytes (`adobeAt`).
 */
function markers(bytes: Uint8Array, file: string): { frame: Frame; orientation: number; coding: Coding; header: number; scan: number; adobeAt: number[]; restart: number } {
  if (bytes.length < 3 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw unreadable(file, 0, 'it does not start with the start-of-image marker FF D8');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let frame: Frame | undefined;
  let orientation = 1;
  const coding: Coding = { jfif: false, adobe: undefined };
  const adobeAt: number[] = [];
  let restart = 0;
  for (let at = 2; ; ) {
    if (at + 4 > bytes.length) throw unreadable(file, bytes.length, `the file ends at byte ${bytes.length}, before its first scan`);
    if (bytes[at] !== 0xff) throw unreadable(file, at, `a marker (FF) was due at byte ${at}, found ${hex(bytes[at]!)}`);
    const marker = bytes[at + 1]!;
    // Fill bytes (FF FF …) may come before a marker.
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd9 || marker === 0xd8 || marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7)) throw unreadable(file, at, `marker FF ${hex(marker)} at byte ${at} comes before the first scan`);
    const length = view.getUint16(at + 2);
    if (length < 2 || at + 2 + length > bytes.length) throw unreadable(file, at + 2, `the segment of marker FF ${hex(marker)} at byte ${at} is ${length} bytes long, which ${length < 2 ? 'is less than its own length field' : `runs past the end of the file (${bytes.length} bytes)`}`);
    if ((marker & 0xf0) === 0xc0 && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame) throw unreadable(file, at, `a second frame header at byte ${at}`);
      frame = frameHeader(bytes, file, at, length);
    } else if (marker === 0xe1 && orientation === 1) {
      orientation = exifOrientation(bytes, at + 4, at + 2 + length);
    } else if (marker === 0xe0 && tagged(bytes, at + 4, at + 2 + length, 'JFIF\0', 14)) {
      coding.jfif = true;
    } else if (marker === 0xee && tagged(bytes, at + 4, at + 2 + length, 'Adobe', 12)) {
      coding.adobe = bytes[at + 15]!;
      adobeAt.push(at + 15);
    } else if (marker === 0xdd) {
      restart = restartInterval(bytes, file, at, length);
    } else if (marker === 0xda) {
      if (!frame) throw unreadable(file, at, `its first scan, at byte ${at}, comes before any frame header`);
      return { frame, orientation, coding, header: at, scan: at + 2 + length, adobeAt, restart };
    }
    at += 2 + length;
  }
}

/** The restart interval a DRI segment (marker at `at`, `length` long) sets: MCUs between restart markers, 0 for none. */
function restartInterval(bytes: Uint8Array, file: string, at: number, length: number): number {
  if (length !== 4) throw unreadable(file, at + 2, `the restart interval segment at byte ${at} is ${length} bytes long, not 4`);
  return (bytes[at + 4]! << 8) | bytes[at + 5]!;
}

/**
 * Refuses a scan of one component whose last restart interval is shorter than the others (its
 * blocks not a multiple of the interval) where the component has rows of blocks that only pad
 * its last MCU row. jpeg-js decodes that last interval whole: past the component's blocks, it
 * reads on into the padding rows, from data that is not there (blocks past them it skips, with
 * tolerantDecoding, so a grey picture, or a component whose rows need no padding, decodes).
 */
function checkRestartOverrun(file: string, frame: Frame, at: number, id: number, interval: number): void {
  const c = frame.components.find((x) => x.id === id);
  if (!c || !interval) return;
  const [hMax, vMax] = [Math.max(...frame.components.map((x) => x.h)), Math.max(...frame.components.map((x) => x.v))];
  const perLine = Math.ceil(Math.ceil((frame.width * c.h) / hMax) / 8);
  const rows = Math.ceil(Math.ceil((frame.height * c.v) / vMax) / 8);
  const paddedRows = Math.ceil(frame.height / (8 * vMax)) * c.v;
  const blocks = perLine * rows;
  if (blocks % interval === 0 || paddedRows === rows) return;
  throw unreadable(
    file,
    at,
    `its scan at byte ${at} codes component ${frame.components.indexOf(c) + 1}'s ${blocks} block${blocks === 1 ? '' : 's'} in restart intervals of ${interval}, the last one shorter, which the decoder (jpeg-js) cannot read in a picture of this size and sampling; PIL reads it (save it again, without restart markers, or as a PNG)`,
  );
}

/**
 * Refuses a file with more than MAX_SCANS scans, or whose scans decode more than MAX_BLOCK_SCANS
 * blocks in all: charges the first scan (its header at `header`), then walks from its data (at
 * `scan`) to the end-of-image marker (at `end`) charging each start-of-scan it finds, skipping
 * the other markers' segments and the scan data's stuffed bytes (FF 00), restart markers and fill
 * bytes. Adds the offsets of the transform bytes of any Adobe segments among them to `adobeAt`.
 */
function checkScans(bytes: Uint8Array, file: string, frame: Frame, header: number, scan: number, end: number, adobeAt: number[], restart: number): void {
  let [scans, decoded] = [0, 0];
  // The scan whose header is at `at`: the blocks of the components it names (Ns, then Cs and Td/Ta of each).
  // A scan of several components (interleaved) may hold at most 10 blocks a minimum coded unit
  // (ITU T.81 B.2.3), as libjpeg (and so PIL) refuses more.
  const charge = (at: number) => {
    scans++;
    let perMcu = 0;
    const n = at + 4 < end ? bytes[at + 4]! : 0;
    for (let k = 0; k < n && at + 5 + 2 * k < end; k++) {
      const id = bytes[at + 5 + 2 * k]!;
      decoded += frame.componentBlocks.get(id) ?? 0;
      const c = frame.components.find((x) => x.id === id);
      perMcu += c ? c.h * c.v : 0;
    }
    if (n > 1 && perMcu > 10) throw unreadable(file, at, `its scan at byte ${at} interleaves ${perMcu} blocks a minimum coded unit, more than the 10 allowed`);
    if (n === 1 && at + 5 < end) checkRestartOverrun(file, frame, at, bytes[at + 5]!, restart);
    if (scans > MAX_SCANS) throw unreadable(file, at, `its scan at byte ${at} is scan ${scans}; more than ${MAX_SCANS} scans are not read`);
    if (decoded > MAX_BLOCK_SCANS) throw unreadable(file, at, `its scan at byte ${at} (scan ${scans}) takes its scans past ${MAX_BLOCK_SCANS} blocks decoded in all, which are not read`);
  };
  charge(header);
  for (let i = scan; i + 1 < end; i++) {
    if (bytes[i] !== 0xff) continue;
    const marker = bytes[i + 1]!;
    if (marker === 0x00 || marker === 0xff || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9) return;
    if (marker === 0xda) charge(i);
    // The segment's length follows the marker.
    const length = i + 4 <= end ? (bytes[i + 2]! << 8) | bytes[i + 3]! : 0;
    if (marker === 0xee && tagged(bytes, i + 4, Math.min(end, i + 2 + length), 'Adobe', 12)) adobeAt.push(i + 15);
    if (marker === 0xdd && i + 2 + length <= end) restart = restartInterval(bytes, file, i, length);
    i += 1 + length;
  }
}

/** `rgba` (width × height) turned as EXIF orientation `o` says, as a viewer shows it (PIL's ImageOps.exif_transpose). */
function oriented(rgba: Uint8Array, width: number, height: number, o: number): Picture {
  if (o === 1) return { width, height, rgba };
  const [w, h] = o >= 5 ? [height, width] : [width, height];
  const [right, bottom] = [width - 1, (height - 1) * width];
  // The source pixel of output pixel (x, y) is first + x·dx + y·dy: mirrored (2, 4), turned
  // half round (3), transposed (5), turned a quarter clockwise (6) or anticlockwise (8), and
  // transposed the other way (7).
  const [first, dx, dy] = (
    {
      2: [right, -1, width],
      3: [bottom + right, -1, -width],
      4: [bottom, 1, -width],
      5: [0, width, 1],
      6: [bottom, -width, 1],
      7: [bottom + right, -width, -1],
      8: [right, width, -1],
    } as Record<number, [number, number, number]>
  )[o]!;
  const out = new Uint8Array(rgba.length);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0, from = first + y * dy; x < w; x++, i += 4, from += dx) {
      const j = 4 * from;
      out[i] = rgba[j]!;
      out[i + 1] = rgba[j + 1]!;
      out[i + 2] = rgba[j + 2]!;
      out[i + 3] = rgba[j + 3]!;
    }
  }
  return { width: w, height: h, rgba: out };
}

/**
 * Decodes a JPEG (baseline or progressive, grey or colour) of up to MAX_PICTURE_PIXELS to RGBA
 * bytes, turned as its EXIF orientation says, after checking its structure (see above).
 */
export function decodeJpeg(bytes: Uint8Array, file: string): Picture {
  const { frame, orientation, coding, header, scan, adobeAt, restart } = markers(bytes, file);
  let end = -1;
  for (let i = bytes.length - 2; i >= scan; i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
      end = i;
      break;
    }
  }
  if (end < 0) throw unreadable(file, bytes.length, `no end-of-image marker (FF D9) after the scan that starts at byte ${scan}: the file is cut short`);
  // A block takes at least one bit of scan data (a DC difference's code).
  if (frame.blocks > 8 * (end - scan)) {
    throw unreadable(file, frame.sizeAt, `its ${frame.width}×${frame.height} pixels make ${frame.blocks} blocks, more than its ${end - scan} bytes of scan data can code`);
  }
  checkScans(bytes, file, frame, header, scan, end, adobeAt, restart);
  // jpeg-js is to hand back the components as decoded (colorTransform: false), but an Adobe
  // segment's non-zero transform overrides that, so it is given a copy with those set to 0.
  let coded = bytes;
  if (adobeAt.some((at) => bytes[at] !== 0)) {
    coded = new Uint8Array(bytes);
    for (const at of adobeAt) coded[at] = 0;
  }
  let image: { width: number; height: number; data: Uint8Array };
  try {
    // tolerantDecoding only skips blocks past a component's rows (see checkRestartOverrun).
    image = decode(coded, { useTArray: true, formatAsRGBA: true, colorTransform: false, tolerantDecoding: true, maxResolutionInMP: MAX_PICTURE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    throw unreadable(file, undefined, `corrupt image data (${clean(e instanceof Error ? e.message : String(e))})`);
  }
  // Belt and braces: the decoder sizes its output from the frame header it read, which must be the one checked.
  if (image.width !== frame.width || image.height !== frame.height || image.data.length !== 4 * frame.width * frame.height) {
    throw unreadable(file, undefined, `decoded to ${image.width}×${image.height} pixels, not the ${frame.width}×${frame.height} of its frame header`);
  }
  if (frame.components.length === 3) {
    const [hMax, vMax] = [Math.max(...frame.components.map((c) => c.h)), Math.max(...frame.components.map((c) => c.v))];
    frame.components.forEach((s, c) => upsampleChannel(image.data, frame.width, frame.height, c, s, hMax, vMax));
    if (!codedAsRgb(frame, coding)) yccToRgb(image.data);
  }
  return oriented(image.data, frame.width, frame.height, orientation);
}
