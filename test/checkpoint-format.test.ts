// The browser-safe checkpoint format (main entry): bytes from a model, parsed back with the
// spec validated, a model rebuilt from bytes alone, and the Node checkpoint files agreeing
// with it byte for byte.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createRuntime,
  FileFormatError,
  Model,
  modelFromBytes,
  parseCheckpoint,
  SEED_CNN,
  serializeModel,
  serializeSafetensors,
  SPEC_KEY,
  SpecError,
  type ModelSpec,
} from '../src/index.js';
import { saveCheckpoint } from '../src/node.js';
import { useRuntime } from './helpers.js';

const rt = useRuntime();
const SMALL: ModelSpec = { input: [1, 4, 4], layers: [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 3 }] };
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('checkpoint format', () => {
  it('serializeModel → modelFromBytes rebuilds the model from the bytes alone, bit for bit', async () => {
    const a = Model.create(rt(), SMALL, { seed: 4 });
    const bytes = await serializeModel(a);
    const parsed = parseCheckpoint(bytes, 'small.safetensors');
    expect(parsed.spec).toEqual(a.spec);
    expect(JSON.parse(parsed.metadata[SPEC_KEY]!)).toEqual(a.spec);
    expect([...parsed.tensors.keys()]).toEqual(['fc.weight', 'fc.bias']);
    const b = modelFromBytes(rt(), bytes, 'small.safetensors');
    expect(b.spec).toEqual(a.spec);
    for (const [name, t] of a.parameters) expect(bits((await b.parameters.get(name)!.read()) as Float32Array)).toEqual(bits((await t.read()) as Float32Array));
  });

  it('is the format of the Node checkpoint files', async () => {
    const m = Model.create(rt(), SMALL, { seed: 5 });
    const file = join(mkdtempSync(join(tmpdir(), 'fovea-format-')), 'm.safetensors');
    await saveCheckpoint(file, m);
    expect(Buffer.compare(readFileSync(file), await serializeModel(m))).toBe(0);
  });

  it('builds the spec given in place of the file\'s', async () => {
    const a = Model.create(rt(), SMALL, { seed: 6 });
    const withRelu: ModelSpec = { ...SMALL, layers: [...SMALL.layers, { type: 'relu' }] };
    const b = modelFromBytes(rt(), await serializeModel(a), 'small.safetensors', { spec: withRelu });
    expect(b.spec).toEqual(withRelu);
    expect(b.layers.map((l) => l.type)).toEqual(['flatten', 'linear', 'relu']);
    for (const [name, t] of a.parameters) expect(bits((await b.parameters.get(name)!.read()) as Float32Array)).toEqual(bits((await t.read()) as Float32Array));
  });

  it('frees the parameters of a model whose weights do not fit', async () => {
    // A runtime of its own, so no other test's tensors come and go meanwhile.
    const own = await createRuntime();
    try {
      const bytes = await serializeModel(Model.create(rt(), SMALL));
      const before = own.stats().inUseBytes;
      expect(() => modelFromBytes(own, bytes, 'small.safetensors', { spec: SEED_CNN })).toThrow(/small\.safetensors does not match the model/);
      expect(own.stats().inUseBytes).toBe(before);
    } finally {
      own.dispose();
    }
  });

  it('names the problem: bad spec JSON, an invalid spec, weights that do not fit', async () => {
    const w = { shape: [3, 16], data: new Float32Array(48) };
    const withSpec = (spec: string) => serializeSafetensors([['fc.weight', w]], { [SPEC_KEY]: spec });
    expect(() => parseCheckpoint(withSpec('{nope'), 'bad.safetensors')).toThrow(FileFormatError);
    expect(() => parseCheckpoint(withSpec(JSON.stringify({ input: [1, 4, 4], layers: [{ type: 'linear', outFeatures: 0 }] })), 'x.safetensors')).toThrow(
      /layers\[0\]\.outFeatures/,
    );
    // No spec in the file: the seed CNN, which these weights do not fit.
    expect(() => modelFromBytes(rt(), serializeSafetensors([['fc.weight', w]]), 'nospec.safetensors')).toThrow(SpecError);
    expect(() => modelFromBytes(rt(), serializeSafetensors([['fc.weight', w]]), 'nospec.safetensors')).toThrow(
      /^nospec\.safetensors does not match the model: missing conv1\.0\.weight .*unexpected "fc\.weight" \(nospec\.safetensors holds no "fovea\.spec" metadata, so it was read as the seed CNN; pass its model as \{ spec \}\)$/,
    );
    // A spec given overrides the file's; a missing bias is named.
    expect(() => modelFromBytes(rt(), serializeSafetensors([['fc.weight', w]]), 'nobias.safetensors', { spec: SMALL })).toThrow(/missing fc\.bias/);
  });

  it('names the file of a spec nested too deep or claiming a huge input, before anything is built', () => {
    let layers: unknown[] = [{ type: 'relu' }];
    for (let i = 0; i < 1000; i++) layers = [{ type: 'sequential', layers }];
    const cases: [string, unknown, RegExp][] = [
      ['deep.safetensors', { input: [4], layers }, /^layers\[0\](\.layers\[0\]){31}: nested more than 64 levels deep \(in the "fovea\.spec" metadata of deep\.safetensors\)$/],
      ['huge.safetensors', { input: [1, 1e9, 1e9], layers: [{ type: 'flatten' }] }, /^input: more than 16777216 values in one input sample \(in the "fovea\.spec" metadata of huge\.safetensors\)$/],
    ];
    for (const [file, spec, pattern] of cases) {
      const bytes = serializeSafetensors([], { [SPEC_KEY]: JSON.stringify(spec) });
      let err: unknown;
      try {
        parseCheckpoint(bytes, file);
      } catch (e) {
        err = e;
      }
      expect(err, file).toBeInstanceOf(SpecError);
      expect((err as SpecError).message, file).toMatch(pattern);
    }
  });
});
