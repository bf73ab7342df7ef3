// Seeded fuzzing of decodeJpeg: byte-level mutations (truncations, bit flips, random edits) of
// JPEGs PIL wrote (baseline grey, progressive colour, a photo's EXIF orientation). Each mutant
// must decode to a picture of its frame's size or be refused with a FileFormatError naming the
// file; a decode may allocate in proportion to the scan data (a block per bit at most), never to
// a size the file merely claims. The property, the seeds and the FOVEA_FUZZ_* knobs:
// test/fuzz/property.ts. No GPU: the decoder needs no runtime.
import { afterAll, describe, it } from 'vitest';
import { decodeJpeg } from '../src/mnist/jpeg.js';
import { ALLOC_SLACK, embed, Fuzz, logSummary } from './fuzz/property.js';
import { byteMutants } from './fuzz/mutations.js';
import { jpegFixtures } from './jpeg-fixtures.js';

afterAll(logSummary);

// RGBA and the decoder's coefficients: 8 blocks a byte of scan data, 64 pixels a block, each
// pixel 4 bytes of RGBA and a few of coefficients and component samples.
const BYTES_PER_INPUT_BYTE = 8 * 64 * 8;

describe('fuzzing JPEG files', () => {
  it('JPEG: decodeJpeg on mutated files', () => {
    const f = new Fuzz('JPEG');
    const bases = jpegFixtures().filter((x) => ['grey 37x23, baseline', 'colour 50x30, progressive', 'colour 33x21, EXIF orientation 6'].includes(x.name));
    for (const [b, base] of bases.entries()) {
      for (const m of byteMutants(base.bytes, 300 + b, 300, `JPEG ${base.name}`)) {
        const file = `fuzz/jpeg-${m.seed}.jpg`;
        const bytes = embed(m.bytes);
        f.run(
          m,
          file,
          () => decodeJpeg(bytes, file),
          (r) => (r.rgba.length === 4 * r.width * r.height && r.width > 0 && r.height > 0 ? undefined : `decoded to ${r.rgba.length} bytes for ${r.width}×${r.height} pixels`),
          { maxAlloc: ALLOC_SLACK + BYTES_PER_INPUT_BYTE * m.bytes.length },
        );
      }
    }
    f.done();
  });
});
