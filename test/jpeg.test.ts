// The JPEG reader of `fovea predict` (src/mnist/jpeg.ts) against PIL's decoding of files PIL
// wrote: grey and colour, 4:4:4, 4:2:2 and 4:2:0, coded as YCbCr or RGB, baseline and
// progressive, odd sizes, all eight EXIF orientations; and a table of malformed files, each refused naming the file, the byte and the
// cause, before anything is decoded.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lumaBytes } from '../src/mnist/digit.js';
import { decodeJpeg } from '../src/mnist/jpeg.js';
import { FileFormatError } from '../src/runtime/errors.js';
import { formatError } from './helpers.js';
import { jpegFixtures, type JpegFixture } from './jpeg-fixtures.js';
import { PYTHON } from './oracle.js';

/** The largest and the mean absolute difference of two byte arrays. */
function differences(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  let [max, sum] = [0, 0];
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

describe('decodeJpeg', () => {
  it('decodes as PIL does: grey within 1 level, colour within 3 at any chroma subsampling, turned by its EXIF orientation', () => {
    const fixtures = jpegFixtures();
    expect(fixtures).toHaveLength(20);
    for (const f of fixtures) {
      const p = decodeJpeg(f.bytes, f.name);
      expect([p.width, p.height], f.name).toEqual([f.width, f.height]);
      expect(p.rgba).toHaveLength(4 * f.width * f.height);
      const rgb = Uint8Array.from({ length: 3 * f.width * f.height }, (_, i) => p.rgba[4 * Math.floor(i / 3) + (i % 3)]!);
      const colour = differences(rgb, f.rgb);
      // What is left is jpeg-js's inverse DCT against libjpeg's, a level or so in a sample, up
      // to 3 in R, G or B through the colour transform. (Subsampled chroma enlarged by repeating
      // samples, as jpeg-js does, puts these files up to 35 to 75 levels off at colour edges and
      // up to 13 in the mean; an RGB-coded file taken as YCbCr, 251.)
      expect(colour.max, f.name).toBeLessThanOrEqual(f.name.startsWith('grey') ? 1 : 3);
      expect(colour.mean, f.name).toBeLessThan(0.5);
      expect(p.rgba.every((v, i) => i % 4 !== 3 || v === 255), `${f.name}: opaque`).toBe(true);
    }
  });

  it('ignores an EXIF orientation it cannot read: the picture as stored', () => {
    const f = jpegFixtures().find((x) => x.name.endsWith('orientation 6'))!;
    const stored = jpegFixtures().find((x) => x.name.endsWith('orientation 1'))!;
    // The first directory's offset, 4 bytes after the TIFF header, pointed past the segment.
    const bytes = new Uint8Array(f.bytes);
    const tiff = indexOf(bytes, [0x45, 0x78, 0x69, 0x66, 0, 0]) + 6;
    const little = bytes[tiff] === 0x49;
    new DataView(bytes.buffer).setUint32(tiff + 4, 0xfffff, little);
    const p = decodeJpeg(bytes, 'bad-exif.jpg');
    expect([p.width, p.height]).toEqual([stored.width, stored.height]);
    expect(differences(lumaBytes(p.rgba), stored.grey).mean).toBeLessThan(1);
  });
});

// Files with restart intervals (written by libjpeg-turbo's cjpeg -restart N) whose last interval
// in a scan of one component is shorter than the others: a grey 13×9 baseline (3 blocks an
// interval, 4 blocks), a colour 13×9 4:2:0 progressive (2), both read; and a colour 7×3 4:2:0
// progressive (2) whose luma has a row of blocks that only pads its MCU, which jpeg-js cannot read.
const RESTARTS = {
  grey: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAAJAA0BAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/90ABAAG/9oACAEBAAA/AOP8EWH+r49K+g/D1h/xLxx6V4n4I/5Z/hTvj1/yD/C3/b1/7Rr/2Q==',
  colour: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wgARCAAJAA0DASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAABQT/xAAVAQEBAAAAAAAAAAAAAAAAAAACA//dAAQAAv/aAAwDAQACEAMQAAABFYsXkP/EABkQAAIDAQAAAAAAAAAAAAAAAAACAwQhMf/dAAQABP/aAAgBAQABBQKOmJTyMTn/xAAXEQADAQAAAAAAAAAAAAAAAAAAAwQR/90ABAAC/9oACAEDAQE/AYLGYf/EABcRAAMBAAAAAAAAAAAAAAAAAAABAgP/2gAIAQIBAT8BnRn/xAAWEAEBAQAAAAAAAAAAAAAAAAAxABD/3QAEAAT/2gAIAQEABj8CI3//xAAVEAEBAAAAAAAAAAAAAAAAAAAgMf/aAAgBAQABPyGQFf/dAAQAAv/aAAwDAQACAAMAAAAQl//EABURAQEAAAAAAAAAAAAAAAAAAABB/9oACAEDAQE/EKj/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oACAECAQE/EF//xAAXEAADAQAAAAAAAAAAAAAAAAAAEPFB/90ABAAE/9oACAEBAAE/EJBAMo//2Q==',
  padded: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wgARCAADAAcDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAT/xAAVAQEBAAAAAAAAAAAAAAAAAAAEBv/dAAQAAv/aAAwDAQACEAMQAAABrE6j/8QAFRABAQAAAAAAAAAAAAAAAAAAAzH/2gAIAQEAAQUCOf/EABYRAAMAAAAAAAAAAAAAAAAAAAACMf/aAAgBAwEBPwFIf//EABYRAAMAAAAAAAAAAAAAAAAAAAACMf/aAAgBAgEBPwF6f//EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEABj8Cf//EABYQAAMAAAAAAAAAAAAAAAAAAAABof/aAAgBAQABPyFZP//aAAwDAQACAAMAAAAQD//EABYRAAMAAAAAAAAAAAAAAAAAAAABIf/aAAgBAwEBPxBpP//EABYRAQEBAAAAAAAAAAAAAAAAAAEAEf/aAAgBAgEBPxBO7//EABcQAQADAAAAAAAAAAAAAAAAAAEAEUH/2gAIAQEAAT8QIFGJ/9k=',
};

describe('decodeJpeg with restart intervals', () => {
  const file = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
  it("reads a scan of one component whose last restart interval is short, as PIL does", () => {
    const pil = JSON.parse(
      execFileSync(PYTHON, ['-c', `import base64, io, json, sys
from PIL import Image
print(json.dumps([base64.b64encode(Image.open(io.BytesIO(base64.b64decode(b))).convert('RGB').tobytes()).decode() for b in sys.argv[1:]]))`, RESTARTS.grey, RESTARTS.colour], { encoding: 'utf8' }),
    ) as string[];
    for (const [i, [name, b64]] of [['grey', RESTARTS.grey], ['colour', RESTARTS.colour]].entries()) {
      const p = decodeJpeg(file(b64!), `${name}.jpg`);
      expect([p.width, p.height]).toEqual([13, 9]);
      const rgb = Uint8Array.from({ length: 3 * 13 * 9 }, (_, k) => p.rgba[4 * Math.floor(k / 3) + (k % 3)]!);
      expect(differences(rgb, file(pil[i]!)).max, name).toBeLessThanOrEqual(name === 'grey' ? 1 : 3);
    }
  });

  it('refuses, saying why, one whose short last interval would run into rows of blocks that pad the picture', () => {
    const e = formatError(() => decodeJpeg(file(RESTARTS.padded), 'photos/r.jpg'));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/^photos\/r\.jpg \(byte \d+\): not a readable JPEG: its scan at byte \d+ codes component 1's 1 block in restart intervals of 2, the last one shorter, which the decoder \(jpeg-js\) cannot read in a picture of this size and sampling; PIL reads it/);
  });
});

/** The first index of `needle` in `bytes`. */
function indexOf(bytes: Uint8Array, needle: number[]): number {
  for (let i = 0; i + needle.length <= bytes.length; i++) if (needle.every((b, k) => bytes[i + k] === b)) return i;
  throw new Error(`not found: ${needle}`);
}

describe('decodeJpeg refuses malformed files, naming the byte', () => {
  const base = (): JpegFixture => jpegFixtures().find((f) => f.name === 'grey 37x23, baseline')!;
  const sof = () => indexOf(base().bytes, [0xff, 0xc0]);
  const edited = (edit: (b: Uint8Array, view: DataView, sof: number, sos: number) => Uint8Array | void) => () => {
    const b = new Uint8Array(base().bytes);
    const view = new DataView(b.buffer);
    return edit(b, view, indexOf(b, [0xff, 0xc0]), indexOf(b, [0xff, 0xda])) ?? b;
  };
  const cases: [string, () => Uint8Array, (b: Uint8Array) => number, RegExp][] = [
    ['not a JPEG', () => new TextEncoder().encode('GIF89a, a picture'), () => 0, /does not start with the start-of-image marker FF D8$/],
    ['cut inside a header segment', edited((b, _v, sof) => b.subarray(0, sof + 6)), () => sof() + 2, /the segment of marker FF C0 at byte \d+ is 11 bytes long, which runs past the end of the file \(\d+ bytes\)$/],
    ['cut inside its scan', edited((b) => b.subarray(0, b.length - 60)), (b) => b.length, /no end-of-image marker \(FF D9\) after the scan that starts at byte \d+: the file is cut short$/],
    ['arithmetic-coded', edited((b, _v, sof) => void (b[sof + 1] = 0xc9)), () => sof(), /its frame is arithmetic-coded \(marker FF C9\), which is not read: only baseline and progressive JPEGs are$/],
    ['lossless', edited((b, _v, sof) => void (b[sof + 1] = 0xc3)), () => sof(), /its frame is lossless \(marker FF C3\)/],
    ['over 4096 × 4096 pixels', edited((_b, v, sof) => (v.setUint16(sof + 5, 4000), v.setUint16(sof + 7, 5000))), () => sof() + 5, /image is 5000×4000 pixels, more than the 16,777,216 \(4096 × 4096\) read$/],
    ['more blocks than its scan data can code', edited((_b, v, sof) => (v.setUint16(sof + 5, 4000), v.setUint16(sof + 7, 4000))), () => sof() + 5, /its 4000×4000 pixels make 250000 blocks, more than its \d+ bytes of scan data can code$/],
    ['a height of 0 (given by a DNL marker)', edited((_b, v, sof) => v.setUint16(sof + 5, 0)), () => sof() + 5, /its frame is 37×0 pixels \(a height given after the scan, by a DNL marker, is not read\)$/],
    ['12-bit samples', edited((b, _v, sof) => void (b[sof + 4] = 12)), () => sof() + 4, /samples of 12 bits are not read, only of 8$/],
    ['four components', edited((b, _v, sof) => void (b[sof + 9] = 4)), () => sof() + 9, /it has 4 colour components; grey \(1\) and colour \(3\) pictures are read$/],
    ['a sampling factor of 0', edited((b, _v, sof) => void (b[sof + 11] = 0x01)), () => sof() + 11, /component 1 has sampling factors 0×1, not within 1 to 4$/],
    ['no marker where one is due', edited((b) => void (b[2] = 0x12)), () => 2, /a marker \(FF\) was due at byte 2, found 12$/],
    ['a segment length below 2', edited((_b, v) => v.setUint16(4, 1)), () => 4, /the segment of marker FF E0 at byte 2 is 1 bytes long, which is less than its own length field$/],
    ['a scan before the frame header', edited((b, _v, sof) => void (b[sof + 1] = 0xef)), () => indexOf(base().bytes, [0xff, 0xda]), /its first scan, at byte \d+, comes before any frame header$/],
    ['the end-of-image marker before any scan', edited((b, _v, sof) => void (b[sof + 1] = 0xd9)), () => sof(), /marker FF D9 at byte \d+ comes before the first scan$/],
    ['two frame headers', edited((b, _v, sof) => {
      const frame = b.subarray(sof, sof + 2 + 11);
      return Uint8Array.from([...b.subarray(0, sof), ...frame, ...b.subarray(sof)]);
    }), () => sof() + 13, /a second frame header at byte \d+$/],
  ];
  // Sampling factors that libjpeg (and so PIL) refuses, in a colour file (Y 2×2, Cb and Cr 1×1).
  const colour = () => new Uint8Array(jpegFixtures().find((f) => f.name === 'colour 64x48, 4:2:0')!.bytes);
  const colourSof = () => indexOf(colour(), [0xff, 0xc0]);
  it('sampling factors that do not divide the largest (3:2), or an interleaved scan of more than 10 blocks a unit', () => {
    const fractional = colour();
    fractional[colourSof() + 11] = 0x31; // Y 3×1, Cb 2×1: 2 does not divide 3
    fractional[colourSof() + 14] = 0x21;
    expect(formatError(() => decodeJpeg(fractional, 'f.jpg')).message).toMatch(new RegExp(`^f\\.jpg \\(byte ${colourSof() + 14}\\): not a readable JPEG: component 2 has sampling factors 2×1, which do not divide the largest, 3×1$`));
    const large = colour();
    large[colourSof() + 11] = 0x44; // Y 4×4: 16 + 1 + 1 blocks in each interleaved unit
    const scan = indexOf(large, [0xff, 0xda]);
    expect(formatError(() => decodeJpeg(large, 'l.jpg')).message).toMatch(new RegExp(`^l\\.jpg \\(byte ${scan}\\): not a readable JPEG: its scan at byte ${scan} interleaves 18 blocks a minimum coded unit, more than the 10 allowed$`));
  });

  // A progressive file with a Huffman table and the scan after it (its second) repeated `times`
  // times before the end-of-image marker, and the byte of its scan n.
  const moreScans = (f: Uint8Array, times: number) => {
    const first = indexOf(f, [0xff, 0xda]);
    const table = first + indexOf(f.subarray(first), [0xff, 0xc4]);
    const chunk = f.subarray(table, table + 2 + indexOf(f.subarray(table + 2), [0xff, 0xc4]));
    const bytes = new Uint8Array(f.length + times * chunk.length);
    bytes.set(f.subarray(0, f.length - 2));
    for (let k = 0; k < times; k++) bytes.set(chunk, f.length - 2 + k * chunk.length);
    bytes.set([0xff, 0xd9], bytes.length - 2);
    const scans = f.reduce((k, b, i) => k + (b === 0xff && f[i + 1] === 0xda ? 1 : 0), 0);
    // Scan n is in the repeated chunk n − 1 − scans, after its table.
    return { bytes, scanAt: (n: number) => f.length - 2 + (n - 1 - scans) * chunk.length + indexOf(chunk, [0xff, 0xda]) };
  };

  it('more than 500 scans (a progressive scan can cover the picture in a few bytes; decoding takes time in scans × blocks)', () => {
    const { bytes, scanAt } = moreScans(jpegFixtures().find((x) => x.name === 'grey 41x9, progressive')!.bytes, 600);
    const e = formatError(() => decodeJpeg(bytes, 'photos/x.jpg'));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.byteOffset).toBe(scanAt(501));
    expect(e.message).toMatch(new RegExp(`its scan at byte ${scanAt(501)} is scan 501; more than 500 scans are not read$`));
  });

  it('scans of a large picture past 8,000,000 blocks decoded in all (122 of a 2048 × 2048 grey picture)', () => {
    const big = new Uint8Array(execFileSync(PYTHON, ['-c', "import io, sys\nfrom PIL import Image\nb = io.BytesIO()\nImage.new('L', (2048, 2048), 128).save(b, 'JPEG', progressive=True)\nsys.stdout.buffer.write(b.getvalue())"]));
    const { bytes, scanAt } = moreScans(big, 150);
    const e = formatError(() => decodeJpeg(bytes, 'photos/big.jpg'));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.byteOffset).toBe(scanAt(123));
    expect(e.message).toMatch(new RegExp(`its scan at byte ${scanAt(123)} \\(scan 123\\) takes its scans past 8000000 blocks decoded in all, which are not read$`));
    // As PIL wrote it (a few scans), it is read.
    expect(decodeJpeg(big, 'photos/big.jpg').width).toBe(2048);
  });

  for (const [what, make, offset, pattern] of cases) {
    it(what, () => {
      const bytes = make();
      const e = formatError(() => decodeJpeg(bytes, 'photos/x.jpg'));
      expect(e).toBeInstanceOf(FileFormatError);
      expect(e.file).toBe('photos/x.jpg');
      expect(e.byteOffset).toBe(offset(bytes));
      expect(e.message).toMatch(pattern);
    });
  }
});
