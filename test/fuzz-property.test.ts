// A self-check of the property the seeded fuzz tests check (test/fuzz/property.ts): it must flag
// an inconsistent parse, an error that is not a FoveaError or does not name the file, a control
// character in a message, a slow parse and a large allocation.
import { describe, expect, it } from 'vitest';
import { FileFormatError, SpecError } from '../src/runtime/errors.js';
import type { IdxFile } from '../src/mnist/idx.js';
import { IDX_BASES } from './fuzz/bases.js';
import { idxProblem } from './fuzz/consistency.js';
import { Fuzz, type Mutant } from './fuzz/property.js';

describe('the fuzz property', () => {
  it('the property check itself flags a wrong parse, a stray exception and a slow parse', () => {
    // A harness that passed everything would make the fuzz tests pass vacuously.
    const f = new Fuzz('self-check', 20);
    const m: Mutant = { seed: 0, what: 'self-check', bytes: IDX_BASES[0]![1].slice(0, 10) };
    const sloppy = (bytes: Uint8Array): IdxFile => ({ dims: [6], data: bytes.subarray(8) }); // no length check
    f.run(m, 'a.idx', () => sloppy(m.bytes), (r) => idxProblem(m.bytes, r));
    f.run(m, 'a.idx', () => new DataView(m.bytes.buffer).getUint32(100), () => undefined);
    f.run(m, 'a.idx', () => {
      throw new FileFormatError('other.idx', 0, 'names another file');
    }, () => undefined);
    f.run(m, 'a.idx', () => {
      throw new SpecError('x', 'a.idx: \u001b[2K');
    }, () => undefined);
    f.run(m, 'a.idx', () => {
      const t = performance.now();
      while (performance.now() - t < 30);
      throw new FileFormatError('a.idx', 0, 'slow');
    }, () => undefined);
    f.run(m, 'a.idx', () => new Uint8Array(64 * 2 ** 20), () => undefined);
    expect(f.failures.map((x) => x.split('→ ')[1]!.replace(/\d+/g, 'N'))).toEqual([
      'parsed, but inconsistently: N data bytes for dims [N]',
      'threw RangeError, not a FoveaError: Offset is outside the bounds of the DataView',
      'FileFormatError does not name the file a.idx: other.idx (byte N): names another file',
      'SpecError message holds a control character: "x: a.idx: \\uNb[NK"',
      'took N ms (limit N)',
      'allocated N bytes of ArrayBuffers for a N-byte input (limit N)',
    ]);
  });
});
