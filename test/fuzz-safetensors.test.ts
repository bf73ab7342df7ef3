// Seeded fuzzing of safetensors, and of checkpoints and optimizer state on top of it: byte-level
// mutations of valid files, edits of the header's fields and of its length field, of a
// checkpoint's spec (as text and as values), and of an optimizer-state file's metadata. The
// property each case must meet, the seeds and the FOVEA_FUZZ_* knobs: test/fuzz/property.ts.
// No GPU: none of these parsers needs a runtime.
import { afterAll, describe, it, vi } from 'vitest';
import { checkpointBytes, parseCheckpoint, SPEC_KEY, type ParsedCheckpoint } from '../src/model/checkpoint-format.js';
import { readOptimizerState } from '../src/model/checkpoint.js';
import { parseSafetensors, serializeSafetensors } from '../src/model/safetensors.js';
import type { ModelSpec } from '../src/model/spec.js';
import { st } from './file-builders.js';
import { optimizerMetadata, SMALL_SPEC, SPEC_BASES, ST_BASES, ST_OTHER_DTYPES, tensorsOf } from './fuzz/bases.js';
import { optimizerStateProblem, parsedSpecProblem, safetensorsProblem } from './fuzz/consistency.js';
import { withFile } from './fuzz/mem-files.js';
import { byteMutants, jsonMutants, mutateJson, randomEdits, type Json } from './fuzz/mutations.js';
import { embed, Fuzz, logSummary, seedOf, show, type Mutant } from './fuzz/property.js';
import { editHeader, headerEntries, headerText } from './fuzz/safetensors-edits.js';
import { Rng } from './helpers.js';

// readOptimizerState reads through readFileChecked: given in-memory files (test/fuzz/mem-files.ts).
vi.mock('../src/model/files.js', async (importOriginal) => (await import('./fuzz/mem-files.js')).serveMemFiles(await importOriginal()));

afterAll(logSummary);

/** Values for an optimizer-state metadata field (all are strings). */
const OPT_STRINGS = ['', ' ', '0', '1', '-1', '1.5', '1e3', '01', '0x10', ' 1', '1 ', '9007199254740991', '9007199254740992', '99999999999999999999', 'true', 'false', 'TRUE', 'adam', 'sgd', 'Adam', 'null', '{}', '[]', 'x\u001b[2K\r', '\u2028', 'a'.repeat(300), 'a'.repeat(64), 'A'.repeat(64), '{"lr":1e400}'];

describe('fuzzing safetensors, checkpoints and optimizer state', () => {
  it('safetensors: byte-level mutations of valid files', () => {
    const f = new Fuzz('safetensors bytes');
    for (const [b, base] of ST_BASES.entries()) {
      for (const m of byteMutants(base.bytes, 10 + b, 400, `safetensors "${base.name}"`)) {
        const file = `fuzz/st-${m.seed}.safetensors`;
        const bytes = embed(m.bytes);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
      // The header length field: every interesting value.
      const n = Number(new DataView(base.bytes.buffer).getBigUint64(0, true));
      const lengths = [0n, 1n, 2n, 7n, 8n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 4), BigInt(base.bytes.length - 8), BigInt(base.bytes.length - 7), 2n ** 31n, 2n ** 32n, 2n ** 32n + BigInt(n), 100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
      for (const len of lengths) {
        const out = base.bytes.slice();
        new DataView(out.buffer).setBigUint64(0, len, true);
        const m = { seed: seedOf(10 + b, 9999), what: `safetensors "${base.name}": header length := ${len} (was ${n})`, bytes: out };
        const file = `fuzz/st-len-${len}.safetensors`;
        const bytes = embed(out);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
    }
    // F16, BF16 and F64, read as f32: the unmutated file must parse too.
    for (const m of [{ seed: seedOf(13, 0), what: 'safetensors of F16, BF16, F64', bytes: ST_OTHER_DTYPES }, ...byteMutants(ST_OTHER_DTYPES, 13, 400, 'safetensors of F16, BF16, F64')]) {
      const file = `fuzz/st-dtypes-${m.seed}.safetensors`;
      const bytes = embed(m.bytes);
      f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
    }
    f.done();
  });

  it('safetensors: header field edits (offsets, shapes, dtypes, names, duplicates, metadata)', () => {
    const f = new Fuzz('safetensors header fields');
    const perBase = 700;
    for (const [b, base] of ST_BASES.entries()) {
      const data = base.bytes.subarray(8 + Number(new DataView(base.bytes.buffer).getBigUint64(0, true)));
      for (let i = 0; i < perBase; i++) {
        const seed = seedOf(20 + b, i);
        const rng = new Rng(seed);
        const entries = headerEntries(base);
        const d = { bytes: data.slice() };
        const whats: string[] = [];
        for (let k = rng.int(1, 3); k > 0; k--) whats.push(editHeader(entries, d, rng));
        const { text, what } = headerText(entries, rng);
        const json = new TextEncoder().encode(text);
        // Mostly the right length field, so the edit is what the parser sees; sometimes not.
        const lenEdit = rng.next() < 0.85 ? 0 : rng.pick([-1, 1, -8, 8, 4]);
        const out = st(text, d.bytes, BigInt(Math.max(0, json.length + lenEdit)));
        const m: Mutant = { seed, what: `safetensors "${base.name}": ${whats.join('; ')}; header ${what}${lenEdit ? `, length field off by ${lenEdit}` : ''} — header ${show(text)}`, bytes: out };
        const file = `fuzz/st-h-${seed}.safetensors`;
        const bytes = embed(out);
        f.run(m, file, () => parseSafetensors(bytes, file), (r) => safetensorsProblem(bytes, r));
      }
    }
    f.done();
  });

  it('checkpoints: parseCheckpoint on mutated checkpoint bytes, spec text and spec values', () => {
    const f = new Fuzz('checkpoints');
    const rng0 = new Rng(seedOf(30, 0));
    const tensors = tensorsOf(rng0, [['fc.weight', [3, 16]], ['fc.bias', [3]]]);
    const check = (bytes: Uint8Array) => (r: ParsedCheckpoint) => {
      const why = safetensorsProblem(bytes, r);
      if (why) return why;
      if ('optimizer' in r.metadata && 'modelSha256' in r.metadata) return 'an optimizer-state file accepted as a checkpoint';
      const text = r.metadata[SPEC_KEY];
      if (text === undefined) return r.spec === undefined ? undefined : 'a spec without the metadata key';
      return r.spec === undefined ? 'spec metadata ignored' : parsedSpecProblem(JSON.parse(text), r.spec);
    };
    const runOne = (m: Mutant, name = `fuzz/ckpt-${m.seed}.safetensors`) => {
      const bytes = embed(m.bytes);
      f.run(m, name, () => parseCheckpoint(bytes, name), check(bytes));
    };
    const base = checkpointBytes(tensors, SMALL_SPEC);
    for (const m of byteMutants(base, 31, 400, 'checkpoint')) runOne(m);
    for (const [s, [label, spec]] of SPEC_BASES.entries()) {
      const text = JSON.stringify(spec);
      const textBytes = new TextEncoder().encode(text);
      const specText = (m: Mutant): Mutant => ({ ...m, bytes: serializeSafetensors(tensors, { format: 'pt', [SPEC_KEY]: new TextDecoder().decode(m.bytes) }) });
      for (const m of randomEdits(textBytes, 32 + s, 0, 100, `spec text of ${label}`)) runOne(specText(m));
      for (let n = 0; n < textBytes.length; n += 7) runOne(specText({ seed: seedOf(32 + s, 1000), what: `spec text of ${label} truncated to ${n} bytes`, bytes: textBytes.slice(0, n) }));
      for (const j of jsonMutants(spec as unknown as Json, 35 + s, 150, `spec of ${label}`)) {
        runOne({ seed: j.seed, what: j.what, bytes: checkpointBytes(tensors, j.value as unknown as ModelSpec) });
      }
    }
    // Metadata that marks an optimizer-state file, or lacks the spec.
    const metas: [string, Record<string, string>][] = [
      ['optimizer-state keys', { optimizer: 'adam', modelSha256: 'a'.repeat(64) }],
      ['one optimizer-state key', { optimizer: 'adam' }],
      ['no spec', { format: 'pt' }],
      ['spec not JSON', { [SPEC_KEY]: '{"input": [1, 4' }],
      ['spec JSON null', { [SPEC_KEY]: 'null' }],
      ['spec nested 100000 deep', { [SPEC_KEY]: '['.repeat(100_000) + ']'.repeat(100_000) }],
    ];
    for (const [i, [what, metadata]] of metas.entries()) {
      for (const name of ['fuzz/m.safetensors', 'fuzz/m.optim.safetensors']) runOne({ seed: seedOf(38, i), what: `checkpoint with ${what}, named ${name}`, bytes: serializeSafetensors(tensors, metadata) }, name);
    }
    f.done();
  });

  it('optimizer state: readOptimizerState on mutated metadata and bytes', async () => {
    const f = new Fuzz('optimizer state');
    const sha = 'c0ffee'.repeat(10) + 'c0ff';
    const rng0 = new Rng(seedOf(40, 0));
    const tensors = tensorsOf(rng0, [['exp_avg.0', [2, 3]], ['exp_avg_sq.0', [2, 3]]]);
    const run = async (m: Mutant, i: number) => {
      const model = `mem/opt-${i}.safetensors`;
      const path = `mem/opt-${i}.optim.safetensors`;
      await withFile(path, m.bytes, () => f.runAsync(m, path, () => readOptimizerState(model, { sha256: sha }), (r) => optimizerStateProblem(r, m.bytes)));
    };
    let i = 0;
    for (const optimizer of ['adam', 'sgd'] as const) {
      const base = optimizerMetadata(optimizer, sha);
      for (let k = 0; k < 200; k++) {
        const seed = seedOf(optimizer === 'adam' ? 41 : 42, k);
        const rng = new Rng(seed);
        const meta = { ...base };
        const whats: string[] = [];
        for (let e = rng.int(1, 2); e > 0; e--) {
          const key = rng.pick([...Object.keys(base), 'hyperparameters', 'hyperparameters', 'extra']);
          const op = rng.int(0, 3);
          if (key === 'hyperparameters' && op <= 1) {
            let hp: Json;
            try {
              hp = JSON.parse(meta.hyperparameters ?? 'null') as Json;
            } catch {
              hp = null;
            }
            const j = mutateJson(hp, rng);
            meta.hyperparameters = JSON.stringify(j.value);
            whats.push(`hyperparameters ${j.what}`);
          } else if (op === 2) {
            delete meta[key];
            whats.push(`${key} deleted`);
          } else {
            meta[key] = rng.pick(OPT_STRINGS);
            whats.push(`${key} := ${show(meta[key])}`);
          }
        }
        await run({ seed, what: `${optimizer} state: ${whats.join('; ')}`, bytes: serializeSafetensors(tensors, meta) }, i++);
      }
      for (const m of randomEdits(serializeSafetensors(tensors, base), optimizer === 'adam' ? 43 : 44, 0, 100, `${optimizer} state bytes`)) await run(m, i++);
    }
    f.done();
  });
});
