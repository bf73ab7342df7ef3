// State dicts saved by PyTorch's torch.save (src/model/torch-save.ts, on zip.ts and pickle.ts):
// files PyTorch writes here, of every dtype read and of views sharing a storage (transposed,
// sliced), a weight tied across layers, a training checkpoint's model, pickle protocol 1 and memo
// entries out of order, in the ZIP format and in the legacy one before it, read as PyTorch holds
// them; what is not a state_dict (a whole model, a checkpoint of two models, a list, other
// dtypes, stride-0 views) and broken files (compressed, cut short, a flipped byte, a storage of
// another length) refused by name, and so is pickle protocol 0, which torch.load does not read;
// pickles written to cost time or memory far beyond their size refused within a second.
// Seeded mutations of the file and of its pickle only ever parse or throw a FileFormatError
// naming the file.
// No GPU.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointBytes, parseCheckpoint, type HostTensor } from '../src/model/checkpoint-format.js';
import { SEED_CNN } from '../src/model/spec.js';
import { FileFormatError } from '../src/runtime/errors.js';
import { PickleError, unpickle } from '../src/model/pickle.js';
import { readZip, writeZip } from '../src/model/zip.js';
import { byteMutants } from './fuzz/mutations.js';
import { embed, Fuzz, logSummary, seedOf } from './fuzz/property.js';
import { Rng } from './helpers.js';
import { SEED_CNN_PY, torchJson } from './oracle.js';

const dir = mkdtempSync(join(tmpdir(), 'fovea-torch-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterAll(logSummary);
const path = (name: string) => join(dir, name);

type Expected = Record<string, Record<string, { shape: number[]; values: number[] }>>;
let expected: Expected;

beforeAll(() => {
  // Each file's tensors as float32, as load_state_dict into a float32 model casts them.
  expected = torchJson<Expected>(`${SEED_CNN_PY}
import json, zipfile
torch.manual_seed(5)
base = torch.randn(4, 6)
files = {
  'dtypes.pt': {'f32': torch.randn(2, 3), 'f64': torch.randn(4).double(), 'f16': torch.randn(3, 2).half(), 'bf16': torch.randn(5).bfloat16(),
                'i64': torch.tensor(7), 'i64s': torch.tensor([2**62 + 2**38 + 1, -(2**60 + 2**36 + 1)]), 'scalar': torch.tensor(1.5), 'empty': torch.zeros(0, 3)},
  'views.pt': {'t': base.t(), 'rows': base[1:3], 'column': base[:, 2], 'base': base, 'strided': base[::2, 1::3]},
  'seed.pt': CNN().state_dict(),
}
out = {}
for name, sd in files.items():
    torch.save(sd, ${JSON.stringify(dir)} + '/' + name)
    out[name] = {k: {'shape': list(t.shape), 'values': t.float().flatten().tolist()} for k, t in sd.items()}
torch.save(CNN(), ${JSON.stringify(dir)} + '/model.pt')
model = CNN()
optimizer = torch.optim.Adam(model.parameters())
model(torch.zeros(2, 1, 28, 28)).sum().backward()
optimizer.step()
torch.save({'epoch': 3, 'model_state_dict': model.state_dict(), 'optimizer_state_dict': optimizer.state_dict(), 'loss': 0.25}, ${JSON.stringify(dir)} + '/training.pt')
out['training.pt'] = {k: {'shape': list(t.shape), 'values': t.flatten().tolist()} for k, t in model.state_dict().items()}
torch.save({'generator': CNN().state_dict(), 'discriminator': CNN().state_dict(), 'epoch': 3}, ${JSON.stringify(dir)} + '/two.pt')
# A training checkpoint's other entries: an RNG state (uint8), a numpy scalar, the script's arguments.
import argparse, numpy as np
torch.save({'model': model.state_dict(), 'rng_state': torch.get_rng_state(), 'best_acc': np.float64(0.9), 'args': argparse.Namespace(lr=0.1)}, ${JSON.stringify(dir)} + '/extras.pt')
out['extras.pt'] = out['training.pt']
torch.save({'w': torch.ones(3, dtype=torch.uint8), 'v': torch.ones(2)}, ${JSON.stringify(dir)} + '/uint8.pt')
# As PyTorch 2 writes: a byteorder entry, .data/serialization_id, a storage on cuda:0, and a
# seventh argument (metadata) to _rebuild_tensor_v2; protocol 2 and 5.
import pickle, io, collections
class Storage:
    def __init__(s, key, t): s.key, s.t = key, t
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ('storage', torch.FloatStorage, obj.key, 'cuda:0', obj.t.numel()) if isinstance(obj, Storage) else None
flat = torch.arange(12, dtype=torch.float32)
class View:
    def __init__(s, *a): s.a = a
    def __reduce__(s):
        return (torch._utils._rebuild_tensor_v2, (Storage('0', flat), *s.a, False, collections.OrderedDict(), {}))
sd2 = collections.OrderedDict([('w', View(2, (2, 3), (3, 1))), ('v', View(0, (4,), (1,)))])
for protocol in (2, 5):
    buf = io.BytesIO(); Pickler(buf, protocol=protocol).dump(sd2)
    with zipfile.ZipFile(${JSON.stringify(dir)} + f'/v2p{protocol}.pt', 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', buf.getvalue()); z.writestr('archive/byteorder', b'little')
        z.writestr('archive/data/0', flat.numpy().tobytes()); z.writestr('archive/version', b'3\\n')
        z.writestr('archive/.data/serialization_id', b'1234567890')
    out[f'v2p{protocol}.pt'] = {'w': {'shape': [2, 3], 'values': flat[2:8].tolist()}, 'v': {'shape': [4], 'values': flat[:4].tolist()}}
torch.save([base], ${JSON.stringify(dir)} + '/list.pt')
torch.save({'x': torch.arange(3, dtype=torch.int32)}, ${JSON.stringify(dir)} + '/int32.pt')
torch.save({'x': torch.zeros(1).expand(100)}, ${JSON.stringify(dir)} + '/expanded.pt')
# One weight tied across six layers: state_dict() makes a tensor object per name, all one view.
net = torch.nn.Sequential(*[torch.nn.Linear(40, 40) for _ in range(6)])
for m in net[1:]: m.weight = net[0].weight
torch.save(net.state_dict(), ${JSON.stringify(dir)} + '/tied.pt')
out['tied.pt'] = {k: {'shape': list(t.shape), 'values': t.flatten().tolist()} for k, t in net.state_dict().items()}
# The legacy format (PyTorch before 1.6, and _use_new_zipfile_serialization=False), of pickle
# protocols 1, 2 (its default) and 5: a state_dict, a training checkpoint with a uint8 tensor and
# other objects beside its model (whose storages are skipped), tied weights.
legacy = {**files, 'extras.pt': {'model': model.state_dict(), 'rng_state': torch.get_rng_state(), 'best_acc': np.float64(0.9), 'args': argparse.Namespace(lr=0.1)}, 'tied.pt': net.state_dict()}
for name, sd in legacy.items():
    for protocol in (1, 2, 5):
        torch.save(sd, ${JSON.stringify(dir)} + f'/legacy{protocol}-{name}', _use_new_zipfile_serialization=False, pickle_protocol=protocol)
        assert torch.load(${JSON.stringify(dir)} + f'/legacy{protocol}-{name}').keys() == sd.keys()
        out[f'legacy{protocol}-{name}'] = out[name]
torch.save(CNN(), ${JSON.stringify(dir)} + '/legacy2-model.pt', _use_new_zipfile_serialization=False)
torch.save({'w': torch.arange(6.)}, ${JSON.stringify(dir)} + '/legacy2-one.pt', _use_new_zipfile_serialization=False)
# A storage view, as PyTorch before 1.0 saved them: ('storage', type, key, location, size, (view key, offset, size)).
import pickle
class Ref:
    def __init__(s, pid): s.pid = pid
class View:
    def __reduce__(s):
        return (torch._utils._rebuild_tensor_v2, (Ref(('storage', torch.FloatStorage, '0', 'cpu', 6, ('1', 0, 6))), 0, (6,), (1,), False, collections.OrderedDict()))
class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Ref) else None
with open(${JSON.stringify(dir)} + '/legacy2-view.pt', 'wb') as f:
    for v in (0x1950a86a20f9469cfc6c, 1001, {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {}}):
        pickle.dump(v, f, protocol=2)
    Pickler(f, protocol=2).dump(collections.OrderedDict([('w', View())]))
    pickle.dump(['0'], f, protocol=2)
    f.write((6).to_bytes(8, 'little') + torch.arange(6.).numpy().tobytes())
# Pickle protocol 0, which torch.load does not read either.
torch.save(files['seed.pt'], ${JSON.stringify(dir)} + '/p0.pt', pickle_protocol=0)
# (Its persistent ids are text, not tuples: 1.13 fails an assertion on them; since 2.6 the default
# weights_only unpickler refuses its opcodes first, hence weights_only=False.)
try:
    torch.load(${JSON.stringify(dir)} + '/p0.pt', weights_only=False)
except Exception:
    pass
else:
    raise SystemExit('torch.load read protocol 0')
# Pickle protocol 1 writes integers as text (INT, "I01" for True).
torch.save(files['seed.pt'], ${JSON.stringify(dir)} + '/p1.pt', pickle_protocol=1)
out['p1.pt'] = out['seed.pt']
# Memo entries numbered out of order (as no pickler writes them; torch.load reads them).
import pickletools
with zipfile.ZipFile(${JSON.stringify(dir)} + '/seed.pt') as src, zipfile.ZipFile(${JSON.stringify(dir)} + '/memo.pt', 'w', zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = bytearray(src.read(info.filename))
        if info.filename.endswith('data.pkl'):
            for op, arg, pos in pickletools.genops(bytes(data)):
                assert op.name not in ('LONG_BINPUT', 'LONG_BINGET', 'MEMOIZE')
                if op.name in ('BINPUT', 'BINGET'): data[pos + 1] = (arg * 7 + 3) % 256
        dst.writestr(info.filename, bytes(data))
assert torch.load(${JSON.stringify(dir)} + '/memo.pt').keys() == files['seed.pt'].keys()
out['memo.pt'] = out['seed.pt']
with zipfile.ZipFile(${JSON.stringify(dir)} + '/seed.pt') as src, zipfile.ZipFile(${JSON.stringify(dir)} + '/deflated.pt', 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist(): dst.writestr(info.filename, src.read(info.filename))
# As Python 2 pickles an OrderedDict (PyTorch 1.4 and before ran there): its items passed to the call.
class Py2OrderedDict:
    def __init__(s, d): s.d = d
    def __reduce__(s):
        return (collections.OrderedDict, ([[k, v] for k, v in s.d.items()],), {'_metadata': s.d._metadata})
for name, zipped in (('py2.pt', True), ('legacy2-py2.pt', False)):
    torch.save(Py2OrderedDict(files['seed.pt']), ${JSON.stringify(dir)} + '/' + name, _use_new_zipfile_serialization=zipped)
    assert list(torch.load(${JSON.stringify(dir)} + '/' + name).keys()) == list(files['seed.pt'].keys())
    out[name] = out['seed.pt']
# Protocol 5's sets, frozensets and bytearrays beside the model (EMPTY_SET, ADDITEMS, FROZENSET, BYTEARRAY8).
torch.save({'model': model.state_dict(), 'seen': {'a', 'b'}, 'classes': frozenset({1, 2}), 'raw': bytearray(b'xy')}, ${JSON.stringify(dir)} + '/sets.pt', pickle_protocol=5)
out['sets.pt'] = out['training.pt']
torch.jit.save(torch.jit.trace(CNN(), torch.zeros(1, 1, 28, 28)), ${JSON.stringify(dir)} + '/jit.pt')
print(json.dumps(out))`);
});

const read = (name: string, bytes: Uint8Array = new Uint8Array(readFileSync(path(name)))) => parseCheckpoint(bytes, name);
const refusal = (name: string, bytes?: Uint8Array) => {
  try {
    read(name, bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(FileFormatError);
    return (e as FileFormatError).message;
  }
  throw new Error(`${name} was read`);
};

describe('torch.save files', () => {
  it("read every dtype, views of one storage, a state_dict, a training checkpoint's model beside other values, and PyTorch 2's layout, as PyTorch holds them", () => {
    const legacy = [1, 2, 5].flatMap((p) => ['dtypes.pt', 'views.pt', 'seed.pt', 'extras.pt', 'tied.pt'].map((name) => `legacy${p}-${name}`));
    for (const name of ['dtypes.pt', 'views.pt', 'seed.pt', 'training.pt', 'extras.pt', 'v2p2.pt', 'v2p5.pt', 'p1.pt', 'memo.pt', 'tied.pt', 'py2.pt', 'legacy2-py2.pt', 'sets.pt', ...legacy]) {
      const { tensors, spec } = read(name);
      expect(spec, name).toBeUndefined();
      expect([...tensors.keys()], name).toEqual(Object.keys(expected[name]!));
      for (const [key, want] of Object.entries(expected[name]!)) {
        const t = tensors.get(key)!;
        expect(t.shape, `${name} ${key}`).toEqual(want.shape);
        expect(Array.from(t.data), `${name} ${key}`).toEqual(want.values);
      }
    }
    expect(read('dtypes.pt').tensors.get('bf16')!.dtype).toBe('BF16');
  });

  it('read a weight tied across layers once, its names sharing one array as they share one storage in PyTorch', () => {
    const { tensors } = read('tied.pt');
    for (let i = 1; i < 6; i++) expect(tensors.get(`${i}.weight`)!.data).toBe(tensors.get('0.weight')!.data);
    expect(tensors.get('1.bias')!.data).not.toBe(tensors.get('0.bias')!.data);
  });

  it('refuse what is not a state_dict, saying what to save instead', () => {
    expect(refusal('model.pt')).toMatch(/^model\.pt \(byte \d+\): holds an object of "__main__\.CNN", not a state_dict \(a dict of tensors by name\): torch\.save\(model\) pickles the model's classes; save model\.state_dict\(\), or the file with safetensors$/);
    expect(refusal('two.pt')).toMatch(/"generator" holds a dict, not a tensor: a state_dict holds tensors only \(it holds 2 dicts of tensors, "generator", "discriminator": torch\.save\(checkpoint\[name\]\) saves one alone\)$/);
    expect(refusal('list.pt')).toMatch(/holds a list or tuple, not a state_dict \(a dict of tensors by name\)$/);
    expect(refusal('int32.pt')).toMatch(/"x" holds a tensor of torch\.IntStorage, not one read: tensors of float32, float64, float16, bfloat16 and int64 are read$/);
    expect(refusal('uint8.pt')).toMatch(/"w" holds a tensor of torch\.ByteStorage, not one read: tensors of float32, float64, float16, bfloat16 and int64 are read$/);
    expect(refusal('expanded.pt')).toMatch(/a tensor of 100 elements from a storage of 1 \(its stride \[0\] repeats them\): save a contiguous copy$/);
    expect(refusal('p0.pt')).toBe(
      "p0.pt (byte 89): \"p0/data.pkl\": opcode PUT (0x70) is of pickle protocol 0, which is not read, nor by torch.load in a torch.save file (pickle_protocol=0 writes the storages' ids as text): save it with torch.save's default protocol",
    );
    expect(refusal('legacy2-model.pt')).toMatch(/^legacy2-model\.pt \(byte \d+\): holds an object of "__main__\.CNN", not a state_dict/);
    expect(refusal('jit.pt')).toMatch(/^jit\.pt \(byte \d+\): a TorchScript archive \(torch\.jit\.save; its entry "jit\/code\/.*" is TorchScript code\), not a state_dict: save model\.state_dict\(\) with torch\.save, or load it with torch\.jit\.load and save that$/);
  });

  it("refuse broken files of the legacy format, naming the byte: storages cut short or of another length, another version, a storage view", () => {
    // {'w': arange(6.)}: five pickles, then the storage's element count (int64) and its 24 bytes.
    const one = new Uint8Array(readFileSync(path('legacy2-one.pt')));
    const count = one.length - 32;
    expect(Buffer.from(one.subarray(count, count + 8)).readBigInt64LE()).toBe(6n);
    expect(refusal('cut.pt', one.subarray(0, one.length - 1))).toMatch(new RegExp(`^cut\\.pt \\(byte ${count}\\): the file ends inside storage "\\d+" \\(8 \\+ 24 bytes from byte ${count}; the file has ${one.length - 1}\\)$`));
    const seven = one.slice();
    seven[count] = 7;
    expect(refusal('seven.pt', seven)).toMatch(new RegExp(`^seven\\.pt \\(byte ${count}\\): storage "\\d+" holds 7 elements, but its tensors' pickle says 6$`));
    // The version, 1001 as BININT2 (0x4d 0xe9 0x03) in the second pickle, made 1002.
    const version = Buffer.from(one).indexOf(Buffer.of(0x4d, 0xe9, 0x03));
    const other = one.slice();
    other[version + 1] = 0xea;
    expect(refusal('version.pt', other)).toBe(`version.pt (byte 15): protocol version "1002" of torch.save's legacy format, not 1001, the one PyTorch writes`);
    expect(refusal('legacy2-view.pt')).toMatch(/^legacy2-view\.pt \(byte \d+\): its pickled state_dict: storage "0" is a view of another \(PyTorch before 1\.0 saved those\), which is not read: save it again with a later PyTorch$/);
  });

  it('refuse broken archives, naming the entry and the byte', () => {
    // Named .pt, neither format: said so, with what the safetensors reader found.
    expect(refusal('empty.pt', new Uint8Array(0))).toBe('empty.pt (byte 0): not a torch.save file (a ZIP archive, or the pickles of its legacy format), nor safetensors: file is 0 bytes, too short for the 8-byte header length');
    expect(refusal('deflated.pt')).toMatch(/^deflated\.pt \(byte \d+\): not a readable ZIP archive: entry "seed\/data\.pkl" is compressed \(method 8\); only stored entries are read, as torch\.save writes them$/);
    const bytes = new Uint8Array(readFileSync(path('seed.pt')));
    expect(refusal('cut.pt', bytes.subarray(0, bytes.length - 10))).toMatch(/^cut\.pt \(byte \d+\): not a readable ZIP archive: no end of central directory record/);
    // Bytes after the end record (a download's padding), which torch.load and Python's zipfile pass over.
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes);
    expect(read('padded.pt', padded).tensors.get('out.bias')!.data).toEqual(read('seed.pt').tensors.get('out.bias')!.data);
    // A byte of conv1.0.weight's storage (the entry seed/data/0) flipped.
    const data0 = Buffer.from(bytes).indexOf('seed/data/0') + 'seed/data/0'.length;
    const flipped = bytes.slice();
    flipped[data0 + 100]! ^= 1;
    expect(refusal('flipped.pt', flipped)).toMatch(/^flipped\.pt \(byte \d+\): not a readable ZIP archive: entry "seed\/data\/0": CRC-32 mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
  });
});

describe('torch.save files fovea writes', () => {
  it("load in PyTorch (torch.load, weights_only too) as an OrderedDict of float32 tensors, bit for bit, into the seed CNN by load_state_dict(strict=True), and read back with their spec", () => {
    const rng = new Rng(31);
    // The seed CNN's parameters, and tensors at the pickle's edges: a scalar, an empty one, one
    // of 256 and one of 90,000 elements (sizes past one and two bytes), a name outside ASCII,
    // and values PyTorch must keep to the bit (−0, ±∞, NaN, a subnormal).
    const shapes: [string, number[]][] = [['conv1.0.weight', [16, 1, 5, 5]], ['conv1.0.bias', [16]], ['conv2.0.weight', [32, 16, 5, 5]], ['conv2.0.bias', [32]], ['out.weight', [10, 1568]], ['out.bias', [10]]];
    const seed = shapes.map(([name, shape]): [string, HostTensor] => [name, { shape, data: Float32Array.from(rng.array(shape.reduce((a, d) => a * d, 1), -0.2, 0.2)) }]);
    const odd: [string, HostTensor][] = [
      ['scalar', { shape: [], data: Float32Array.of(7.5) }],
      ['empty', { shape: [0, 3], data: new Float32Array(0) }],
      ['bytes', { shape: [2, 128], data: Float32Array.from(rng.array(256)) }],
      ['large', { shape: [300, 300], data: Float32Array.from(rng.array(90000)) }],
      ['ünï.cödé', { shape: [6], data: Float32Array.of(-0, Infinity, -Infinity, NaN, 1e-40, 3) }],
    ];
    writeFileSync(path('fovea-seed.pt'), checkpointBytes(seed, SEED_CNN, 'torch'));
    writeFileSync(path('fovea-odd.pt'), checkpointBytes(odd, SEED_CNN, 'torch'));
    const torch = torchJson<Record<string, { type: string; weightsOnly: boolean; tensors: Record<string, { shape: number[]; dtype: string; contiguous: boolean; bits: number[] }> }>>(`${SEED_CNN_PY}
import json
out = {}
for name in ['fovea-seed.pt', 'fovea-odd.pt']:
    f = ${JSON.stringify(dir)} + '/' + name
    sd = torch.load(f)
    safe = torch.load(f, weights_only=True)
    out[name] = {'type': type(sd).__name__, 'weightsOnly': list(safe.keys()) == list(sd.keys()) and all(torch.equal(safe[k].view(torch.int32), v.view(torch.int32)) for k, v in sd.items()),
                 'tensors': {k: {'shape': list(t.shape), 'dtype': str(t.dtype), 'contiguous': t.is_contiguous(), 'bits': t.view(torch.int32).flatten().tolist()} for k, t in sd.items()}}
model = CNN()
model.load_state_dict(torch.load(${JSON.stringify(dir)} + '/fovea-seed.pt'), strict=True)
out['loaded'] = {'type': 'CNN', 'weightsOnly': True, 'tensors': {k: {'shape': list(t.shape), 'dtype': str(t.dtype), 'contiguous': True, 'bits': t.view(torch.int32).flatten().tolist()} for k, t in model.state_dict().items()}}
print(json.dumps(out))`);
    const bits = (data: Float32Array) => Array.from(new Int32Array(data.buffer, data.byteOffset, data.length));
    for (const [file, written] of [['fovea-seed.pt', seed], ['fovea-odd.pt', odd], ['loaded', seed]] as const) {
      const theirs = torch[file]!;
      expect(theirs.type, file).toBe(file === 'loaded' ? 'CNN' : 'OrderedDict');
      expect(theirs.weightsOnly, file).toBe(true);
      expect(Object.keys(theirs.tensors), file).toEqual(written.map(([name]) => name));
      for (const [name, t] of written) {
        expect({ ...theirs.tensors[name]!, bits: undefined }, `${file} ${name}`).toEqual({ shape: t.shape, dtype: 'torch.float32', contiguous: true, bits: undefined });
        expect(theirs.tensors[name]!.bits, `${file} ${name}`).toEqual(bits(t.data));
      }
    }
    // fovea reads its own file back, the spec with it; each storage starts on a multiple of 64 bytes.
    const bytes = new Uint8Array(readFileSync(path('fovea-odd.pt')));
    const back = read('fovea-odd.pt', bytes);
    expect(back.spec).toEqual(SEED_CNN);
    expect([...back.tensors].map(([name, t]) => [name, t.shape, bits(t.data)])).toEqual(odd.map(([name, t]) => [name, t.shape, bits(t.data)]));
    for (const e of readZip(bytes, 'fovea-odd.pt')) expect((e.data.byteOffset - bytes.byteOffset) % 64, e.name).toBe(0);
    expect(readZip(bytes, 'fovea-odd.pt').map((e) => e.name)).toEqual(['archive/data.pkl', ...odd.map((_, i) => `archive/data/${i}`), 'archive/version', 'archive/extra/fovea.spec']);
  });
});

// Pickle opcodes, to write pickles no pickler writes.
const text = (s: string) => new TextEncoder().encode(s);
const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24);
const pk = {
  str: (s: string) => [text('X'), u32(text(s).length), text(s)],
  global: (module: string, name: string) => [text(`c${module}\n${name}\n`)],
  int: (n: number) => [text('J'), u32(n)],
};
type Ops = Uint8Array | Ops[];
const pickle = (...parts: Ops[]) => {
  const flat = parts.flat(Infinity as 1) as Uint8Array[];
  const out = new Uint8Array(flat.reduce((a, p) => a + p.length, 0));
  flat.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
const ops = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** _rebuild_tensor_v2 of storage "0" (float32, `numel` elements), its size and stride tuples given as opcodes. */
const tensor = (numel: number, size: Ops, stride: Ops, offset = 0) =>
  pickle(pk.global('torch._utils', '_rebuild_tensor_v2'), ops('(('), pk.str('storage'), pk.global('torch', 'FloatStorage'), pk.str('0'), pk.str('cpu'), pk.int(numel), ops('tQ'), pk.int(offset), size, stride, ops('\x89'), pk.global('collections', 'OrderedDict'), ops(')Rt'), ops('R'));
/** An archive of `pkl` under arch/, with storage "0" of `numel` float32 zeros. */
/** A ZIP archive of stored entries, each a name and its bytes. */
const storedZip = (entries: readonly [string, Uint8Array][]) => writeZip(entries.map(([name, data]) => ({ name, data })));
const archive = (pkl: Uint8Array, numel = 4, folder = 'arch') => storedZip([[`${folder}/data.pkl`, pkl], [`${folder}/data/0`, new Uint8Array(4 * numel)]]);
const state = (...entries: Ops[]) => pickle(ops('\x80\x02'), pk.global('collections', 'OrderedDict'), ops(')R('), ...entries, ops('u.'));

describe('crafted torch.save files', () => {
  it('are refused quickly, with short messages, where they would take time or memory far beyond their size', () => {
    const n = 65536;
    const view = (offset: number) => tensor(n, [ops('('), pk.int(n - 200), ops('t')], [ops('(K\x01t')], offset);
    const cases: [string, Uint8Array, string | RegExp][] = [
      // 200 names of as many views of a storage, each at another offset: 200 copies of it, from a 256 kB file.
      ['one storage under 200 views', archive(state(...Array.from({ length: 200 }, (_, i) => pickle(pk.str(`w${i}`), view(i)))), n), 'its tensors hold more than four times the elements of the storages they view (from "w4" on)'],
      ['a view of 100 dimensions', archive(state(pk.str('w'), tensor(4, [ops('('), ...Array.from({ length: 100 }, () => ops('K\x00')), ops('t')], [ops('('), ...Array.from({ length: 100 }, () => ops('K\x00')), ops('t')]))), 'a tensor of 100 dimensions, more than PyTorch\'s 64'],
      ['200,000 nested lists', archive(ops(`\x80\x02]${']a'.repeat(200_000)}.`)), /more values, memo entries and marks than a pickle of 400004 bytes makes \(804104\)/],
      ['a memo entry read before it is written', archive(pickle(ops('\x80\x02Nr'), u32(5), ops('h\x04.'))), 'memo entry 4 is read before it is written'],
      ['an INT of 5000 digits', archive(ops(`\x80\x02I${'9'.repeat(5000)}\n.`)), 'an INT that is not an integer in decimal digits'],
      ['an INT in hexadecimal', archive(ops('\x80\x02I0x10\n.')), 'an INT that is not an integer in decimal digits'],
      ['a LONG without its newline', archive(ops('\x80\x02L12L')), 'a LONG without the newline that ends its digits'],
      ['REDUCE with 33 arguments', archive(pickle(ops('\x80\x02'), pk.global('collections', 'OrderedDict'), ops(`(${'N'.repeat(33)}tR.`))), 'REDUCE with 33 arguments, more than any callable read takes'],
      ['OrderedDict called with items', archive(pickle(ops('\x80\x02'), pk.global('collections', 'OrderedDict'), ops('(NtR.'))), 'OrderedDict called with items'],
      ['an Object.prototype member for a storage class', archive(pickle(ops('\x80\x02'), pk.global('torch', '__proto__'), ops('.'))), 'holds the Python name "torch.__proto__", not a state_dict'],
      ['a folder name of control characters', archive(ops('\x80\x02.'), 4, 'a\x1b[2Jb'), '"a\\u001b[2Jb/data.pkl": STOP with 0 values'],
      // The legacy format: its magic number, version and system info, then a pickle of a 17 MB name.
      ['a legacy pickle past 16 MiB', pickle(ops('\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.\x80\x02}(X'), u32(13), text('little_endian'), ops('\x88u.\x80\x02X'), u32(17e6), new Uint8Array(17e6).fill(97), ops('.')), 'its pickled state_dict runs past the 16777216 bytes read'],
    ];
    for (const [what, bytes, why] of cases) {
      const start = performance.now();
      const message = refusal('crafted.pt', bytes);
      expect(performance.now() - start, what).toBeLessThan(1000);
      expect(message.length, what).toBeLessThan(400);
      if (typeof why === 'string') expect(message, what).toContain(why);
      else expect(message, what).toMatch(why);
    }
  });

  it('copy a view once however many names it has, rebuilt per name or memoized', () => {
    const n = 65536;
    const view = tensor(n, [ops('('), pk.int(n), ops('t')], [ops('(K\x01t')]);
    const rebuilt = archive(state(...Array.from({ length: 200 }, (_, i) => pickle(pk.str(`w${i}`), view))), n);
    const memoized = archive(state(pk.str('w0'), view, ops('q\x00'), ...Array.from({ length: 199 }, (_, i) => pickle(pk.str(`w${i + 1}`), ops('h\x00')))), n);
    for (const bytes of [rebuilt, memoized]) {
      const { tensors } = read('crafted.pt', bytes);
      expect(tensors.size).toBe(200);
      expect(new Set([...tensors.values()].map((t) => t.data)).size).toBe(1);
    }
  });
});

describe('pickles of protocols 0 and 1', () => {
  const hooks = { global: () => undefined, persistent: () => undefined, build: () => undefined };
  it('read INT and LONG as text (INT 00 and 01 are False and True), and memo entries of any number', () => {
    expect(unpickle(ops('(I01\nI00\nI-7\nI+0\nL12345678901234567890L\nL5\nt.'), hooks)).toEqual([true, false, -7, 0, 12345678901234567890n, 5]);
    expect(unpickle(ops('(Nr\x07\x00\x00\x00\x88q\x02h\x07h\x02\x89r\x07\x00\x00\x00h\x07t.'), hooks)).toEqual([null, true, null, true, false, false]);
  });

  it('read BINBYTES8 and BYTEARRAY8 as bytes, EMPTY_SET with ADDITEMS and FROZENSET as sets (values beside a model)', () => {
    const len8 = (n: number) => `${String.fromCharCode(n)}\x00\x00\x00\x00\x00\x00\x00`;
    expect(unpickle(ops(`\x80\x05(\x8e${len8(2)}xy\x96${len8(1)}z\x8f(K\x01K\x02\x90(K\x03\x91t.`), hooks)).toEqual([Uint8Array.of(0x78, 0x79), Uint8Array.of(0x7a), new Set([1, 2]), new Set([3])]);
    expect(() => unpickle(ops(`\x80\x05(K\x03\x91(K\x04\x90.`), hooks)).toThrow(/ADDITEMS on something other than a set/);
    expect(() => unpickle(ops(`\x80\x05\x8e${len8(9)}xy.`), hooks)).toThrow(PickleError);
  });

  it("refuse protocol 0's text opcodes by name, at their byte", () => {
    for (const [pkl, name, at] of [['(dp0\n', 'PUT', 2], ['(Ng0\n', 'GET', 2], ["(P('storage',)\n", 'PERSID', 1], ['Vw\n', 'UNICODE', 0], ["(S'w'\n", 'STRING', 1], ['F1.5\n', 'FLOAT', 0]] as const) {
      let error: unknown;
      try {
        unpickle(ops(pkl), hooks);
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(PickleError);
      expect((error as PickleError).message, name).toMatch(new RegExp(`^opcode ${name} \\(0x[0-9a-f]{2}\\) is of pickle protocol 0, which is not read`));
      expect((error as PickleError).at, name).toBe(at);
    }
  });
});

describe('fuzzing torch.save files', () => {
  it('mutations of the archive, and of its pickle with the archive rebuilt, parse or are refused by name', () => {
    const f = new Fuzz('torch.save');
    const run = (bytes: Uint8Array, m: { seed: number; what: string }) => {
      const file = `fuzz/pt-${m.seed}.pt`;
      const input = embed(bytes);
      f.run({ ...m, bytes }, file, () => parseCheckpoint(input, file), (r) => (r.tensors.size ? undefined : 'no tensors'));
    };
    for (const [b, name] of ['legacy2-views.pt', 'legacy1-dtypes.pt'].entries()) {
      for (const m of byteMutants(new Uint8Array(readFileSync(path(name))), 180 + b, 300, `torch.save ${name}`)) run(m.bytes, m);
    }
    for (const [b, name] of ['views.pt', 'dtypes.pt'].entries()) {
      const bytes = new Uint8Array(readFileSync(path(name)));
      for (const m of byteMutants(bytes, 160 + b, 300, `torch.save ${name}`)) run(m.bytes, m);
      // The pickle mutated, in an archive with the CRCs right: the pickle reader sees each one.
      const prefix = name.replace('.pt', '/');
      const entries = readZipEntries(bytes, prefix);
      const pkl = entries.findIndex(([n]) => n === `${prefix}data.pkl`);
      run(storedZip(entries), { seed: seedOf(170 + b, 0), what: `torch.save ${name} rebuilt` });
      for (const m of byteMutants(entries[pkl]![1], 170 + b, 400, `torch.save ${name}'s data.pkl`)) {
        run(storedZip(entries.map((e, i) => (i === pkl ? [e[0], m.bytes] : e))), m);
      }
    }
    f.done();
  });
});

/** The entries of a torch.save archive, by their names in its central directory (names known: data.pkl, data/N, version …). */
function readZipEntries(bytes: Uint8Array, prefix: string): [string, Uint8Array][] {
  const text = Buffer.from(bytes);
  const out: [string, Uint8Array][] = [];
  // Local headers, in order: signature, then name length at +26, extra length at +28, sizes at +22.
  for (let at = 0; at + 30 <= text.length && text.readUInt32LE(at) === 0x04034b50; ) {
    const [size, nameLength, extraLength] = [text.readUInt32LE(at + 22), text.readUInt16LE(at + 26), text.readUInt16LE(at + 28)];
    const name = text.subarray(at + 30, at + 30 + nameLength).toString();
    const start = at + 30 + nameLength + extraLength;
    if (name.startsWith(prefix)) out.push([name, bytes.slice(start, start + size)]);
    at = start + size;
  }
  return out;
}
