// Seeded fuzzing of model specs: readModelSpec on mutated JSON text (and odd files: a BOM, deep
// nesting, duplicate keys, invalid UTF-8), parseModelSpec on mutated values; a spec that parses
// must be its input, and valid. The property each case must meet, the seeds and the
// FOVEA_FUZZ_* knobs: test/fuzz/property.ts. No GPU: the parser needs no runtime.
import { afterAll, describe, it, vi } from 'vitest';
import { readModelSpec } from '../src/model/checkpoint.js';
import { parseModelSpec } from '../src/model/spec.js';
import { SMALL_SPEC, SPEC_BASES } from './fuzz/bases.js';
import { parsedSpecProblem } from './fuzz/consistency.js';
import { withFile } from './fuzz/mem-files.js';
import { byteMutants, jsonMutants, type Json } from './fuzz/mutations.js';
import { Fuzz, logSummary, seedOf, type Mutant } from './fuzz/property.js';

// readModelSpec reads through readFileChecked: given in-memory files (test/fuzz/mem-files.ts).
vi.mock('../src/model/files.js', async (importOriginal) => (await import('./fuzz/mem-files.js')).serveMemFiles(await importOriginal()));

afterAll(logSummary);

describe('fuzzing model specs', () => {
  it('model specs: readModelSpec on mutated JSON text', async () => {
    const f = new Fuzz('spec files');
    let n = 0;
    const run = async (m: Mutant) => {
      const path = `mem/spec-${n++}.json`;
      await withFile(path, m.bytes, () => f.runAsync(m, path, () => readModelSpec(path), (r) => parsedSpecProblem(JSON.parse(new TextDecoder().decode(m.bytes)), r)));
    };
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      const text = new TextEncoder().encode(JSON.stringify(spec, null, s === 0 ? 1 : undefined));
      for (const m of byteMutants(text, 120 + s, 200, `spec ${label}`)) await run(m);
    }
    const odd: [string, string][] = [
      ['empty', ''],
      ['a BOM, then the spec', `\ufeff${JSON.stringify(SMALL_SPEC)}`],
      ['nested 100000 deep', '['.repeat(100_000) + ']'.repeat(100_000)],
      ['a duplicated key', '{"input":[1,4,4],"input":[4],"layers":[{"type":"relu"}]}'],
      ['a key "__proto__"', '{"input":[4],"layers":[{"type":"relu"}],"__proto__":{"x":1}}'],
      ['1e400 in a size', '{"input":[1e400],"layers":[{"type":"relu"}]}'],
      ['NUL and escape characters in a key', '{"input":[4],"layers":[{"type":"relu","\\u0000\\u001b[2K":1}]}'],
      ['invalid UTF-8', '{"input":[4],"layers":[{"type":"relu","name":"\xff\xfe"}]}'],
    ];
    for (const [i, [what, text]] of odd.entries()) await run({ seed: seedOf(124, i), what: `spec file: ${what}`, bytes: what === 'invalid UTF-8' ? Buffer.from(text, 'latin1') : new TextEncoder().encode(text) });
    f.done();
  });

  it('model specs: parseModelSpec on mutated values', () => {
    const f = new Fuzz('spec values');
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      for (const j of jsonMutants(spec as unknown as Json, 130 + s, 400, `spec ${label}`)) {
        const m: Mutant = { seed: j.seed, what: j.what, bytes: new Uint8Array() };
        f.run(m, 'fuzz/spec.json', () => parseModelSpec(j.value, 'fuzz/spec.json'), (r) => parsedSpecProblem(j.value, r));
      }
    }
    f.done();
  });
});
