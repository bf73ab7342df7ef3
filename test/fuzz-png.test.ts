// Seeded fuzzing of decodeGreyPng: byte-level mutations of valid PNGs of every colour type, and
// edits of their chunks with the CRCs fixed (test/fuzz/png-edits.ts); edits that keep the image
// must decode to the same pixels. The property each case must meet, the seeds and the
// FOVEA_FUZZ_* knobs: test/fuzz/property.ts. No GPU: the decoder needs no runtime.
import { afterAll, describe, it } from 'vitest';
import { decodeGreyPng } from '../src/mnist/png.js';
import { PNG_BASES } from './fuzz/bases.js';
import { byteMutants } from './fuzz/mutations.js';
import { assemble, chunksOf, editPng } from './fuzz/png-edits.js';
import { embed, Fuzz, logSummary, seedOf, type Mutant } from './fuzz/property.js';
import { Rng } from './helpers.js';

afterAll(logSummary);

describe('fuzzing PNG files', () => {
  it('PNG: decodeGreyPng on mutated files (bytes, and chunks with their CRCs fixed)', () => {
    const f = new Fuzz('PNG');
    for (const [b, base] of PNG_BASES.entries()) {
      const { width, height } = base.header;
      const expected = decodeGreyPng(base.bytes, 'base.png', height, width);
      const run = (m: Mutant, preserves: boolean) => {
        const file = `fuzz/png-${m.seed}.png`;
        const bytes = embed(m.bytes);
        f.run(m, file, () => decodeGreyPng(bytes, file, height, width), (r) => {
          if (!(r instanceof Uint8Array) || r.length !== width * height) return `decoded to ${r.length} pixels, not ${width}×${height}`;
          if (preserves && Buffer.compare(r, expected) !== 0) return 'an edit that keeps the image decoded to other pixels';
          return undefined;
        });
      };
      for (const m of byteMutants(base.bytes, 100 + b, 150, `PNG ${base.name}`)) run(m, false);
      for (let k = 0; k < 300; k++) {
        const seed = seedOf(110 + b, k);
        const rng = new Rng(seed);
        const chunks = chunksOf(base.bytes);
        const whats: string[] = [];
        let preserves = true;
        for (let e = rng.int(1, 2); e > 0; e--) {
          const r = editPng(chunks, base, rng);
          whats.push(r.what);
          preserves &&= r.preserves;
        }
        run({ seed, what: `PNG ${base.name}: ${whats.join('; ')}`, bytes: assemble(chunks) }, preserves);
      }
    }
    f.done();
  });
});
