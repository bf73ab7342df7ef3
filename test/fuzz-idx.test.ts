// Seeded fuzzing of IDX files (parseIdx, parseMnistImages, parseMnistLabels) and of .gz files
// read by readIdxFile: byte-level mutations and header field edits of valid files, mutated gzip
// streams, and mutated IDX gzipped whole. The property each case must meet, the seeds and the
// FOVEA_FUZZ_* knobs: test/fuzz/property.ts. No GPU: none of these parsers needs a runtime.
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, it, vi } from 'vitest';
import { readIdxFile } from '../src/mnist/files.js';
import { parseIdx, parseMnistImages, parseMnistLabels } from '../src/mnist/idx.js';
import { IDX_BASES } from './fuzz/bases.js';
import { idxProblem, imagesProblem, labelsProblem } from './fuzz/consistency.js';
import { withFile } from './fuzz/mem-files.js';
import { bitFlips, byteMutants, concat, own, randomEdits, truncations, U32_VALUES } from './fuzz/mutations.js';
import { ALLOC_SLACK, embed, Fuzz, hex, logSummary, seedOf, type Mutant } from './fuzz/property.js';
import { Rng } from './helpers.js';

// readIdxFile reads through readFileChecked: given in-memory files (test/fuzz/mem-files.ts).
vi.mock('../src/model/files.js', async (importOriginal) => (await import('./fuzz/mem-files.js')).serveMemFiles(await importOriginal()));

afterAll(logSummary);

describe('fuzzing IDX files and their .gz', () => {
  it('IDX: parseIdx, parseMnistImages and parseMnistLabels on mutated files', () => {
    const f = new Fuzz('IDX');
    const all = (m: Mutant) => {
      const file = `fuzz/idx-${m.seed}.idx`;
      const bytes = embed(m.bytes);
      f.run(m, file, () => parseIdx(bytes, file), (r) => idxProblem(bytes, r));
      f.run(m, file, () => parseMnistImages(bytes, file), (r) => imagesProblem(bytes, r));
      f.run(m, file, () => parseMnistLabels(bytes, file), (r) => labelsProblem(bytes, r));
    };
    for (const [b, [label, base]] of IDX_BASES.entries()) {
      for (const m of byteMutants(base, 50 + b, 250, `IDX ${label}`)) all(m);
      // Header fields: each dimension, the dimension count, the type and leading bytes.
      const nd = base[3]!;
      for (let k = 0; k < 200; k++) {
        const seed = seedOf(55 + b, k);
        const rng = new Rng(seed);
        let out: Uint8Array = base.slice();
        const whats: string[] = [];
        for (let e = rng.int(1, 2); e > 0; e--) {
          const op = rng.int(0, 5);
          if (op <= 1) {
            const i = rng.int(0, nd - 1);
            const was = out.length >= 8 + 4 * i ? new DataView(out.buffer).getUint32(4 + 4 * i) : 0;
            const v = rng.next() < 0.7 ? rng.pick(U32_VALUES) : rng.pick([was + 1, was - 1, was * 2]) >>> 0;
            if (out.length >= 8 + 4 * i) new DataView(out.buffer).setUint32(4 + 4 * i, v);
            whats.push(`dim ${i} := ${v}`);
          } else if (op === 2) {
            out[3] = rng.pick([0, 1, 2, 3, 4, 5, 6, 255]);
            whats.push(`dimension count := ${out[3]}`);
          } else if (op === 3) {
            out[2] = rng.pick([0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0x01, 0xff]);
            whats.push(`type := ${hex(out[2]!)}`);
          } else if (op === 4) {
            const i = rng.int(0, 1);
            out[i] = rng.pick([1, 0x1f, 0x80, 0xff]);
            whats.push(`byte ${i} := ${hex(out[i]!)}`);
          } else {
            const k2 = rng.int(1, 8);
            if (rng.next() < 0.5) {
              out = concat(out, new Uint8Array(k2).fill(rng.pick([0, 9, 10, 255])));
              whats.push(`${k2} data bytes appended`);
            } else {
              out = out.slice(0, Math.max(0, out.length - k2));
              whats.push(`${k2} bytes cut from the end`);
            }
          }
        }
        all({ seed, what: `IDX ${label}: ${whats.join('; ')}`, bytes: out });
      }
    }
    f.done();
  });

  it('IDX .gz: readIdxFile on mutated gzip streams and mutated IDX inside them', async () => {
    const f = new Fuzz('IDX .gz');
    // NOTE: a .gz is inflated into an array that starts at 1 MiB and doubles as data arrives
    // (src/mnist/files.ts): a header that claims 1 GiB costs that 1 MiB and zlib's chunks.
    const GZ_CAP = 2 * ALLOC_SLACK;
    let n = 0;
    const run = async (m: Mutant, named: 'gz' | 'plain') => {
      const path = `mem/idx-${n++}${named === 'gz' ? '.gz' : ''}`;
      const out = await withFile(path, m.bytes, () => f.runAsync(m, path, () => readIdxFile(path), (r) => {
        // A file named without .gz and without the gzip magic is returned as it is.
        if (named === 'plain' && !(m.bytes[0] === 0x1f && m.bytes[1] === 0x8b)) return Buffer.compare(r, m.bytes) === 0 ? undefined : 'a plain file changed';
        // Whatever else readIdxFile returns is what zlib inflates the whole file to.
        let want: Uint8Array;
        try {
          want = gunzipSync(m.bytes);
        } catch (e) {
          return `accepted a stream zlib refuses (${(e as Error).message})`;
        }
        return Buffer.compare(r, want) === 0 ? undefined : `returned ${r.length} bytes, zlib inflates ${want.length}`;
      }, { maxAlloc: GZ_CAP, maxOffset: Infinity }));
      if (out) {
        // And then the IDX parsers on what came out, as loadMnistDir does.
        const im: Mutant = { ...m, what: `${m.what}, then parsed`, bytes: out };
        f.run(im, path, () => parseIdx(out, path), (r) => idxProblem(out, r));
        f.run(im, path, () => parseMnistImages(out, path), (r) => imagesProblem(out, r));
        f.run(im, path, () => parseMnistLabels(out, path), (r) => labelsProblem(out, r));
      }
    };
    for (const [b, [label, base]] of IDX_BASES.slice(0, 2).entries()) {
      const gz = own(gzipSync(base));
      for (const m of truncations(gz, seedOf(60 + b, 0), `gzip of IDX ${label}`)) await run(m, 'gz');
      for (const m of bitFlips(gz, seedOf(60 + b, 1), `gzip of IDX ${label}`)) await run(m, 'gz');
      for (const m of randomEdits(gz, 60 + b, 2, 80, `gzip of IDX ${label}`)) await run(m, rng01(m.seed) ? 'gz' : 'plain');
      // Mutated IDX, gzipped whole.
      for (const m of randomEdits(base, 62 + b, 0, 80, `IDX ${label}`)) await run({ ...m, what: `${m.what}, gzipped`, bytes: gzipSync(m.bytes) }, 'gz');
      const extras: [string, Uint8Array][] = [
        ['a second gzip member', concat(gz, gzipSync(Uint8Array.of(1, 2, 3)))],
        ['two copies', concat(gz, gz)],
        ['trailing garbage', concat(gz, Uint8Array.of(0, 1, 2, 3))],
        ['an empty member after it', concat(gz, gzipSync(new Uint8Array()))],
        ['a header claiming 2^30 - 8 labels', gzipSync(Uint8Array.of(0, 0, 8, 1, 0x3f, 0xff, 0xff, 0xf8))],
      ];
      for (const [what, bytes] of extras) await run({ seed: seedOf(64, b), what: `gzip of IDX ${label}: ${what}`, bytes }, 'gz');
    }
    f.done();
  });
});

/** A coin flip from a seed (which name a mutated gzip is written under). */
function rng01(seed: number): boolean {
  return new Rng(seed ^ 0xabcdef).next() < 0.5;
}
