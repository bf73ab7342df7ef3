// Large hostile inputs to every parser of untrusted files (model specs, checkpoints, safetensors,
// PNG, IDX): a few MB each, which must cost time and memory in proportion to their size. Part of
// the seeded fuzz tests; the property's error checks and the FOVEA_FUZZ_* knobs:
// test/fuzz/property.ts. No GPU: none of these parsers needs a runtime.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, it } from 'vitest';
import { parseCheckpoint, SPEC_KEY } from '../src/model/checkpoint-format.js';
import { parseSafetensors, serializeSafetensors } from '../src/model/safetensors.js';
import { parseModelSpec } from '../src/model/spec.js';
import { parseMnistLabels } from '../src/mnist/idx.js';
import { decodeGreyPng } from '../src/mnist/png.js';
import { idx, st } from './file-builders.js';
import { PNG_BASES } from './fuzz/bases.js';
import { assemble, chunksOf } from './fuzz/png-edits.js';
import { errorProblem, Fuzz, logSummary, seedOf } from './fuzz/property.js';

afterAll(logSummary);

/** A full garbage collection now (for the large-input measurements). */
const gc = (() => {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
})();

describe('fuzzing the parsers of untrusted files with large inputs', () => {
  // A hostile file of a few MB must cost time and memory in proportion to its size, with a
  // small constant. Memory here is the growth of the used JS heap across one parse, after a
  // full GC and with none forced during it: what the parse held alive long enough to survive
  // the young-generation collections, so a parser that builds an object for every element of
  // its input (an error per bad element, a node per value) shows.
  it('large inputs cost time and memory proportional to their size, with small constants', () => {
    const f = new Fuzz('large inputs');
    const cases: { what: string; file: string; size: number; run: () => unknown }[] = [];
    const json = (value: unknown) => ({ value, size: JSON.stringify(value).length });
    const specCase = (what: string, value: unknown, inCheckpoint = false) => {
      const j = json(value);
      cases.push({ what: `parseModelSpec: ${what}`, file: 'large.json', size: j.size, run: () => parseModelSpec(j.value, 'large.json') });
      if (!inCheckpoint) return;
      const bytes = serializeSafetensors([], { [SPEC_KEY]: JSON.stringify(value) });
      cases.push({ what: `parseCheckpoint, spec metadata: ${what}`, file: 'large.safetensors', size: bytes.length, run: () => parseCheckpoint(bytes, 'large.safetensors') });
    };
    specCase('layers of 100000 numbers', { input: [4], layers: new Array(100_000).fill(5) }, true);
    specCase('layers of 50000 objects with an unknown key', { input: [4], layers: new Array(50_000).fill(0).map(() => ({ type: 'relu', x: 1 })) });
    specCase('input of 100000 × -1', { input: new Array(100_000).fill(-1), layers: [{ type: 'relu' }] });
    specCase('an unknown key holding 500000 zeros', { input: [4], layers: [{ type: 'relu' }], x: new Array(500_000).fill(0) }, true);
    specCase('10000 relu layers', { input: [4], layers: new Array(10_000).fill(0).map(() => ({ type: 'relu' })) });
    const st1 = st({ w: { dtype: 'F32', shape: new Array(500_000).fill(-1), data_offsets: [0, 4] } }, 4);
    cases.push({ what: 'parseSafetensors: shape of 500000 × -1', file: 'large.safetensors', size: st1.length, run: () => parseSafetensors(st1, 'large.safetensors') });
    const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`t${i}`, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }]));
    const st2 = st({ ...many, z: { dtype: 'I32', shape: [0], data_offsets: [0, 0] } });
    cases.push({ what: 'parseSafetensors: 20000 tensors, the last bad', file: 'large.safetensors', size: st2.length, run: () => parseSafetensors(st2, 'large.safetensors') });
    const st3 = st({ __metadata__: Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 'v'])) });
    cases.push({ what: 'parseSafetensors: 50000 metadata keys', file: 'large.safetensors', size: st3.length, run: () => parseSafetensors(st3, 'large.safetensors') });
    const base = PNG_BASES[0]!.bytes;
    const chunks = chunksOf(base);
    const png1 = assemble([chunks[0]!, ...Array.from({ length: 50_000 }, () => ({ type: 'zzZz', data: new Uint8Array() })), ...chunks.slice(1)]);
    cases.push({ what: 'decodeGreyPng: 50000 empty ancillary chunks', file: 'large.png', size: png1.length, run: () => decodeGreyPng(png1, 'large.png', 28, 28) });
    const idat = chunks.find((c) => c.type === 'IDAT')!.data;
    const png2 = assemble([chunks[0]!, ...Array.from(idat, (b) => ({ type: 'IDAT', data: Uint8Array.of(b) })), ...Array.from({ length: 30_000 }, () => ({ type: 'IDAT', data: new Uint8Array() })), chunks.at(-1)!]);
    cases.push({ what: `decodeGreyPng: image data in ${idat.length + 30_000} IDAT chunks`, file: 'large.png', size: png2.length, run: () => decodeGreyPng(png2, 'large.png', 28, 28) });
    const labels = idx([2_000_000], new Uint8Array(2_000_000).fill(3));
    cases.push({ what: 'parseMnistLabels: 2000000 labels', file: 'large.idx', size: labels.length, run: () => parseMnistLabels(labels, 'large.idx') });

    for (const [i, c] of cases.entries()) {
      f.cases++;
      gc();
      const h0 = getHeapStatistics().used_heap_size;
      const t0 = performance.now();
      let error: unknown;
      try {
        c.run();
      } catch (e) {
        error = e;
      }
      const ms = performance.now() - t0;
      const heap = getHeapStatistics().used_heap_size - h0;
      const outcome = error === undefined ? 'parsed' : error instanceof Error ? error.name : typeof error;
      f.outcomes.set(outcome, (f.outcomes.get(outcome) ?? 0) + 1);
      const m = { seed: seedOf(140, i), what: `${c.what} (${c.size} bytes)` };
      // A bound for work growing faster than the input (a quadratic scan of megabytes takes
      // minutes), wide enough for a loaded CI machine: these parse in 5 to 250 ms here.
      const maxMs = 2000 + c.size / 500; // 2 µs a byte
      const maxHeap = 32 * 2 ** 20 + 16 * c.size;
      if (ms > maxMs) f.failures.push(`${m.what}\n    → took ${ms.toFixed(0)} ms (limit ${maxMs.toFixed(0)})`);
      if (heap > maxHeap) f.failures.push(`${m.what}\n    → the JS heap grew by ${(heap / 2 ** 20).toFixed(0)} MiB (limit ${(maxHeap / 2 ** 20).toFixed(0)} MiB, ${(heap / c.size).toFixed(0)} bytes a byte of input)`);
      const why = error === undefined ? undefined : errorProblem(error, c.file);
      if (why) f.failures.push(`${m.what}\n    → ${why}`);
    }
    gc();
    f.done(false);
  });
});
