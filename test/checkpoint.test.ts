// Checkpoints: bit-exact round trips of weights and optimizer state, PyTorch names and shapes,
// every mismatch named on load, corrupt files as named errors, a failed save that leaves
// the previous checkpoint (and optimizer state) in place, or a pair that loading refuses, a save
// through a symbolic link that updates the file it points at, and the spec and finite weights
// that eval and predict require of a checkpoint.
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Adam, FileFormatError, Model, modelFromBytes, parseCheckpoint, requireFinite, SEED_CNN, SGD, SpecError, type ModelSpec, type Optimizer } from '../src/index.js';
import { TorchGenerator } from '../src/model/random.js';
import { FileReadError, FileWriteError } from '../src/model/files.js';
import {
  checkpointBytes,
  checkpointPaths,
  loadCheckpoint,
  readCheckpoint,
  readOptimizerState,
  resolveSpec,
  saveCheckpoint,
  SPEC_KEY,
  type TrainingPosition,
} from '../src/model/checkpoint.js';
import { parseSafetensors, serializeSafetensors } from '../src/model/safetensors.js';
import { expectClose, formatError, useRuntime } from './helpers.js';
import { torchJson } from './oracle.js';

const rt = useRuntime();
const dir = mkdtempSync(join(tmpdir(), 'fovea-ckpt-'));
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const position: TrainingPosition = { epoch: 2, stepInEpoch: 7, seed: 5, batchSize: 50, shuffle: true, dataDir: '/data/mnist' };

async function paramBits(m: Model): Promise<Map<string, number[]>> {
  return new Map([...(await m.state())].map(([k, v]) => [k, bits(v.data)]));
}

describe('model checkpoints', () => {
  it('round-trip bit for bit: save → load → save gives the same bytes and the same weights', async () => {
    const a = Model.create(rt(), SEED_CNN, { seed: 7 });
    // Values that a float conversion would disturb: -0, a subnormal, infinities, a NaN payload.
    const special = new Float32Array(16).fill(0.1);
    new Uint32Array(special.buffer).set([0x80000000, 0x00000001, 0x7f800000, 0xff800000, 0x7fc00123]);
    a.parameters.get('conv1.0.bias')!.write(special);
    const p1 = join(dir, 'a.safetensors');
    await saveCheckpoint(p1, a);

    const b = Model.create(rt(), SEED_CNN, { seed: 9 });
    await loadCheckpoint(b, p1);
    expect(await paramBits(b)).toEqual(await paramBits(a));
    const p2 = join(dir, 'b.safetensors');
    await saveCheckpoint(p2, b);
    expect(Buffer.compare(readFileSync(p1), readFileSync(p2))).toBe(0);
  });

  it('holds the PyTorch state_dict names and shapes, F32, and the spec in its metadata', async () => {
    const m = Model.create(rt());
    const p = join(dir, 'names.safetensors');
    await saveCheckpoint(p, m);
    const { tensors, metadata } = parseSafetensors(readFileSync(p), p);
    expect([...tensors].map(([k, t]) => [k, t.dtype, t.shape])).toEqual([
      ['conv1.0.weight', 'F32', [16, 1, 5, 5]],
      ['conv1.0.bias', 'F32', [16]],
      ['conv2.0.weight', 'F32', [32, 16, 5, 5]],
      ['conv2.0.bias', 'F32', [32]],
      ['out.weight', 'F32', [10, 1568]],
      ['out.bias', 'F32', [10]],
    ]);
    expect(metadata.format).toBe('pt');
    expect(JSON.parse(metadata[SPEC_KEY]!)).toEqual(SEED_CNN);
    expect((await readCheckpoint(p)).spec).toEqual(SEED_CNN);
  });

  it('names every missing, unexpected and mis-shaped tensor, and loads nothing then', async () => {
    const m = Model.create(rt());
    const before = await paramBits(m);
    const state = await m.state();
    const tensors = [...state].filter(([k]) => k !== 'out.bias').map(([k, v]): [string, typeof v] => (k === 'conv1.0.weight' ? [k, { shape: [16, 1, 25], data: v.data }] : [k, v]));
    tensors.push(['extra.weight', { shape: [2], data: new Float32Array(2) }]);
    const p = join(dir, 'mismatch.safetensors');
    writeFileSync(p, serializeSafetensors(tensors));
    const err = await loadCheckpoint(m, p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    const msg = (err as Error).message;
    expect(msg).toContain(p);
    expect(msg).toContain('conv1.0.weight is [16, 1, 25]');
    expect(msg).toContain('[16, 1, 5, 5]');
    expect(msg).toContain('missing out.bias');
    expect(msg).toContain('unexpected "extra.weight"');
    expect(await paramBits(m)).toEqual(before);
  });

  it('reports corrupt, truncated and missing files and bad specs as named errors', async () => {
    const good = join(dir, 'good.safetensors');
    await saveCheckpoint(good, Model.create(rt()));
    const bytes = readFileSync(good);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
    await expect(readCheckpoint(truncated)).rejects.toBeInstanceOf(FileFormatError);
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'this is not a safetensors file at all');
    await expect(readCheckpoint(garbage)).rejects.toBeInstanceOf(FileFormatError);
    await expect(readCheckpoint(join(dir, 'nope.safetensors'))).rejects.toBeInstanceOf(FileReadError);

    const badSpec = join(dir, 'badspec.safetensors');
    const { tensors } = parseSafetensors(bytes, good);
    writeFileSync(badSpec, serializeSafetensors(tensors, { [SPEC_KEY]: JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'linear', outFeatures: 0 }] }) }));
    const err = await readCheckpoint(badSpec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).path).toBe('layers[0].outFeatures');
    // A caller bringing its own spec reads the weights all the same.
    const own = await readCheckpoint(badSpec, 'checkpoint', { ignoreSpec: true });
    expect(own.spec).toBeUndefined();
    expect([...own.tensors.keys()]).toEqual([...tensors.keys()]);
    const model = modelFromBytes(rt(), readFileSync(badSpec), badSpec, { spec: SEED_CNN });
    expect(await model.parameters.get('out.bias')!.read()).toEqual(tensors.get('out.bias')!.data);
    expect(() => modelFromBytes(rt(), readFileSync(badSpec), badSpec)).toThrow(SpecError);
  });
});

describe('batch norm checkpoints', () => {
  const spec: ModelSpec = {
    input: [3, 5, 5],
    layers: [{ type: 'conv2d', name: 'conv', outChannels: 4, kernelSize: 3 }, { type: 'batchnorm2d', name: 'bn' }, { type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 2 }],
  };
  const PY = `import json, struct, sys, torch, torch.nn as nn
m = nn.Sequential(); m.add_module('conv', nn.Conv2d(3, 4, 3)); m.add_module('bn', nn.BatchNorm2d(4)); m.add_module('2', nn.Flatten()); m.add_module('fc', nn.Linear(36, 2))
x = torch.linspace(-1, 1, 2 * 75).reshape(2, 3, 5, 5)
dtypes = {torch.float32: ('F32', 4), torch.int64: ('I64', 8)}
def st_read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
    return {k: torch.frombuffer(bytearray(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]), dtype=torch.int64 if v['dtype'] == 'I64' else torch.float32).reshape(v['shape']) for k, v in h.items()}
def st_write(path, tensors):
    h, off, blobs = {}, 0, []
    for k, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
        h[k] = {'dtype': dtypes[t.dtype][0], 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        off += len(data); blobs.append(data)
    j = json.dumps(h).encode(); j += b' ' * (-len(j) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(j)) + j + b''.join(blobs))
`;
  const x = () => rt().tensor(Float32Array.from({ length: 150 }, (_, i) => -1 + (2 * i) / 149), [2, 3, 5, 5]);

  it('load into PyTorch with strict=True, running statistics and num_batches_tracked included, the latter I64 as save_file writes it', async () => {
    const m = Model.create(rt(), spec, { seed: 2 });
    for (let i = 0; i < 3; i++) m.forward(rt().tensor(Float32Array.from({ length: 150 }, (_, k) => Math.sin(k * (i + 1))), [2, 3, 5, 5]));
    const path = join(dir, 'bn.safetensors');
    await saveCheckpoint(path, m);
    const saved = parseSafetensors(readFileSync(path), path).tensors;
    expect([...saved].map(([k, t]) => [k, t.dtype])).toEqual([...saved.keys()].map((k) => [k, k === 'bn.num_batches_tracked' ? 'I64' : 'F32']));
    expect(saved.get('bn.num_batches_tracked')!.data).toEqual(Float32Array.of(3));
    const torch = torchJson<{ y: number[]; batches: number; var: number[] }>(`${PY}
m.load_state_dict(st_read(${JSON.stringify(path)}), strict=True)
print(json.dumps({'y': m.eval()(x).flatten().tolist(), 'batches': m.bn.num_batches_tracked.item(), 'var': m.bn.running_var.tolist()}))`);
    expect(torch.batches).toBe(3);
    expect(torch.var).toEqual([...(await m.buffers.get('bn.running_var')!.read())]);
    expectClose(await m.eval().forward(x()).read(), torch.y, 1e-6, 'outputs in evaluation');
  });

  it('in torch.save\'s format hold num_batches_tracked as int64, as PyTorch does: torch.load, load_state_dict(strict=True) and the buffer assigned take it', async () => {
    const m = Model.create(rt(), spec, { seed: 3 });
    for (let i = 0; i < 3; i++) m.forward(rt().tensor(Float32Array.from({ length: 150 }, (_, k) => Math.cos(k * (i + 2))), [2, 3, 5, 5]));
    const path = join(dir, 'bn.pt');
    await saveCheckpoint(path, m);
    const torch = torchJson<{ dtypes: Record<string, string>; batches: number; strict: number; assigned: [string, number]; y: number[] }>(`${PY}
sd = torch.load(${JSON.stringify(path)}, weights_only=True)
dtypes, batches = {k: str(t.dtype) for k, t in sd.items()}, sd['bn.num_batches_tracked'].item()
m.load_state_dict(sd, strict=True)
strict = m.bn.num_batches_tracked.item()
y = m.eval()(x).flatten().tolist()
# As a training loop that sets the buffer itself: it counts on in int64.
m.bn.num_batches_tracked = sd['bn.num_batches_tracked']
m.train()(x)
print(json.dumps({'dtypes': dtypes, 'batches': batches, 'strict': strict,
                  'assigned': [str(m.bn.num_batches_tracked.dtype), m.bn.num_batches_tracked.item()], 'y': y}))`);
    expect(torch.dtypes).toEqual({ 'conv.weight': 'torch.float32', 'conv.bias': 'torch.float32', 'bn.weight': 'torch.float32', 'bn.bias': 'torch.float32', 'bn.running_mean': 'torch.float32', 'bn.running_var': 'torch.float32', 'bn.num_batches_tracked': 'torch.int64', 'fc.weight': 'torch.float32', 'fc.bias': 'torch.float32' });
    expect([torch.batches, torch.strict, torch.assigned]).toEqual([3, 3, ['torch.int64', 4]]);
    expectClose(await m.eval().forward(x()).read(), torch.y, 1e-6, 'outputs in evaluation');
    // Read back by fovea as f32.
    const back = parseCheckpoint(readFileSync(path), path).tensors.get('bn.num_batches_tracked');
    expect(back).toEqual({ dtype: 'I64', shape: [], data: Float32Array.of(3) });
    // A count that is no int64 (a third-party file's 2.5, f32's rounding of int64's largest) is
    // saved as PyTorch casts it, truncated, or the end of int64's range: never refused at a save.
    const odd = join(dir, 'odd.pt');
    writeFileSync(odd, checkpointBytes([['n', { shape: [6], data: Float32Array.of(1, 2.5, -2.5, 2 ** 63, -(2 ** 64), NaN), dtype: 'I64' }]], spec, 'torch'));
    const saved = torchJson<string[]>(`import json, torch; print(json.dumps([str(v) for v in torch.load('${odd}')['n'].tolist()]))`);
    expect(saved).toEqual(['1', '2', '-2', '9223372036854775807', '-9223372036854775808', '0']);
  });

  it("read PyTorch's state_dict with num_batches_tracked as I64", async () => {
    const path = join(dir, 'torch-bn.safetensors');
    const torch = torchJson<{ y: number[] }>(`${PY}
torch.manual_seed(4)
for i in range(4): m(torch.randn(3, 3, 5, 5))
st_write(${JSON.stringify(path)}, m.state_dict())
print(json.dumps({'y': m.eval()(x).flatten().tolist()}))`);
    const { tensors } = parseSafetensors(readFileSync(path), path);
    expect(tensors.get('bn.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: Float32Array.of(4) });
    const m = Model.create(rt(), spec, { weights: tensors, source: path });
    expect([...(await m.buffers.get('bn.num_batches_tracked')!.read())]).toEqual([4]);
    expectClose(await m.eval().forward(x()).read(), torch.y, 1e-6, 'outputs in evaluation');
  });

  it("read a state_dict without num_batches_tracked (PyTorch's before 0.4.1) as load_state_dict does: 0; another name missing is still named", async () => {
    const path = join(dir, 'torch-bn-old.safetensors');
    const torch = torchJson<{ y: number[]; batches: number }>(`${PY}
torch.manual_seed(5)
for i in range(3): m(torch.randn(3, 3, 5, 5))
sd = {k: v for k, v in m.state_dict().items() if k != 'bn.num_batches_tracked'}
st_write(${JSON.stringify(path)}, sd)
fresh = nn.Sequential(); fresh.add_module('conv', nn.Conv2d(3, 4, 3)); fresh.add_module('bn', nn.BatchNorm2d(4)); fresh.add_module('2', nn.Flatten()); fresh.add_module('fc', nn.Linear(36, 2))
fresh.load_state_dict(sd, strict=True)
print(json.dumps({'y': fresh.eval()(x).flatten().tolist(), 'batches': fresh.bn.num_batches_tracked.item()}))`);
    expect(torch.batches).toBe(0);
    const { tensors } = parseSafetensors(readFileSync(path), path);
    const m = Model.create(rt(), spec, { weights: tensors, source: path });
    expect([...(await m.buffers.get('bn.num_batches_tracked')!.read())]).toEqual([0]);
    expectClose(await m.eval().forward(x()).read(), torch.y, 2e-6, 'outputs in evaluation');
    const partial = new Map([...tensors].filter(([k]) => k !== 'bn.running_var'));
    expect(() => Model.create(rt(), spec, { weights: partial, source: path })).toThrow(/does not match the model: missing bn\.running_var \[4\]$/);
  });
});

/** An optimizer's state of zeros, to load with a step count. */
const zeroState = (opt: Optimizer) => new Map([...opt.stateTensors()].map(([name, t]) => [name, { shape: t.shape, data: new Float32Array(t.size) }]));

describe('optimizer state', () => {

  async function trained(seed: number) {
    const m = Model.create(rt(), SEED_CNN, { seed });
    const opt = new Adam([...m.parameters.values()], { lr: 0.002 });
    let k = seed;
    opt.loadState(new Map([...opt.stateTensors()].map(([name, t]) => [name, { shape: t.shape, data: Float32Array.from({ length: t.size }, () => (k = (k * 48271) % 2147483647) / 2147483647) }])), 57);
    return { m, opt };
  }

  it('round-trips bit for bit with the training position', async () => {
    const { m, opt } = await trained(3);
    const p = join(dir, 'opt.safetensors');
    await saveCheckpoint(p, m, { optimizer: opt, position });
    expect(checkpointPaths(p).optimizer).toBe(join(dir, 'opt.optim.safetensors'));

    const saved = await readOptimizerState(p, await readCheckpoint(p));
    expect(saved.state).toEqual({ optimizer: 'adam', hyperparameters: { lr: 0.002, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, stepCount: 57 });
    expect(saved.position).toEqual(position);
    const fresh = new Adam([...Model.create(rt()).parameters.values()]);
    fresh.loadState(saved.tensors, saved.state.stepCount, saved.path);
    expect(fresh.stepCount).toBe(57);
    const mine = [...opt.stateTensors()];
    const theirs = [...fresh.stateTensors()];
    expect(theirs.map(([k]) => k)).toEqual(mine.map(([k]) => k));
    for (let i = 0; i < mine.length; i++) expect(bits((await theirs[i]![1].read()) as Float32Array)).toEqual(bits((await mine[i]![1].read()) as Float32Array));

    // SGD with every hyperparameter away from its default, and a run without shuffling.
    const sgd = new SGD([...m.parameters.values()], { lr: 0.1, momentum: 0.9, dampening: 0.25, weightDecay: 0.01 });
    sgd.loadState(zeroState(sgd), 4);
    await saveCheckpoint(p, m, { optimizer: sgd, position: { ...position, shuffle: false } });
    const s = await readOptimizerState(p, await readCheckpoint(p));
    expect(s.state).toEqual({ optimizer: 'sgd', hyperparameters: { lr: 0.1, momentum: 0.9, dampening: 0.25, weightDecay: 0.01, nesterov: false }, stepCount: 4 });
    expect(s.position).toEqual({ ...position, shuffle: false });
    expect([...s.tensors.keys()]).toContain('out.weight.momentum_buffer');
  });

  it('holds the weights, optimizer state and step count as of the call, though a step and the disposes are asked for before its reads have run', async () => {
    const { m, opt } = await trained(8);
    const weights = await paramBits(m);
    const state = new Map<string, number[]>();
    for (const [name, t] of opt.stateTensors()) state.set(name, bits((await t.read()) as Float32Array));
    const p = join(dir, 'as-of-call.safetensors');
    const save = saveCheckpoint(p, m, { optimizer: opt });
    const step = opt.step([...m.parameters.values()].map((w) => rt().ones(w.shape)));
    opt.dispose();
    m.dispose();
    await Promise.all([save, step]);
    const back = Model.create(rt());
    await loadCheckpoint(back, p);
    expect(await paramBits(back)).toEqual(weights);
    const saved = await readOptimizerState(p, await readCheckpoint(p));
    expect(saved.state.stepCount).toBe(57);
    for (const [name, t] of saved.tensors) expect(bits(t.data), name).toEqual(state.get(name));
  });

  it('saves the optimizer without a training position, for a loop of its own, and reads it back', async () => {
    const { m, opt } = await trained(6);
    const p = join(dir, 'no-position.safetensors');
    await saveCheckpoint(p, m, { optimizer: opt });
    const saved = await readOptimizerState(p, await readCheckpoint(p));
    expect([saved.state.stepCount, saved.position]).toEqual([57, undefined]);
    expect(Object.keys(parseSafetensors(readFileSync(checkpointPaths(p).optimizer), 'o').metadata).sort()).toEqual(['hyperparameters', 'modelSha256', 'optimizer', 'stepCount']);
    const fresh = new Adam([...Model.create(rt()).parameters.values()]);
    fresh.loadState(saved.tensors, saved.state.stepCount, saved.path);
    const [name, mine] = [...opt.stateTensors()][0]!;
    expect(bits((await fresh.stateTensors().get(name)!.read()) as Float32Array)).toEqual(bits((await mine.read()) as Float32Array));
  });

  it('refuses to save a position that reading it back would refuse, writing nothing', async () => {
    const { m, opt } = await trained(4);
    const p = join(dir, 'bad-position.safetensors');
    await expect(saveCheckpoint(p, m, { optimizer: opt, position: { ...position, dataDir: '' } })).rejects.toThrow(/^saveCheckpoint: position\.dataDir: expected a directory, not an empty path, got ""$/);
    await expect(saveCheckpoint(p, m, { optimizer: opt, position: { ...position, batchSize: 0 } })).rejects.toThrow(/^saveCheckpoint: position\.batchSize: /);
    // From JavaScript, a field left out is named as missing.
    const { dataDir: _, ...noDir } = position;
    await expect(saveCheckpoint(p, m, { optimizer: opt, position: noDir as never })).rejects.toThrow(/^saveCheckpoint: position\.dataDir: .*, missing$/);
    expect(existsSync(p)).toBe(false);
  });

  it('refuses a model file and optimizer state from different saves', async () => {
    const { m, opt } = await trained(4);
    const p = join(dir, 'pair.safetensors');
    await saveCheckpoint(p, m, { optimizer: opt, position });
    await saveCheckpoint(p, Model.create(rt(), SEED_CNN, { seed: 11 })); // the model alone, later
    const err = await readOptimizerState(p, await readCheckpoint(p)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    expect((err as Error).message).toContain('not saved together');
  });

  it('names a model checkpoint where its optimizer state is expected', async () => {
    const p = join(dir, 'model-as-optim.safetensors');
    await saveCheckpoint(p, Model.create(rt()));
    const optPath = checkpointPaths(p).optimizer;
    copyFileSync(p, optPath);
    const err = await readOptimizerState(p, await readCheckpoint(p)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toBe(`${optPath}: holds a model checkpoint (it has "fovea.spec" metadata), not optimizer state: no "optimizer" or "modelSha256" metadata`);
    // Weights without fovea's metadata (PyTorch's).
    writeFileSync(optPath, serializeSafetensors([['w', { shape: [1], data: new Float32Array(1) }]]));
    await expect(readOptimizerState(p, await readCheckpoint(p))).rejects.toThrow(`${optPath}: holds tensors without optimizer metadata (a model's weights?), not optimizer state`);
  });

  it('names a bad metadata field', async () => {
    const { m, opt } = await trained(5);
    const p = join(dir, 'meta.safetensors');
    await saveCheckpoint(p, m, { optimizer: opt, position });
    const optPath = checkpointPaths(p).optimizer;
    const { tensors, metadata } = parseSafetensors(readFileSync(optPath), optPath);
    writeFileSync(optPath, serializeSafetensors(tensors, { ...metadata, stepCount: 'many' }));
    const err = await readOptimizerState(p, await readCheckpoint(p)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toContain('"stepCount"');
    expect((err as Error).message).toContain('"many"');
  });

  it('checks the saved hyperparameters against the optimizer named, and the data directory, naming the file', async () => {
    const { m, opt } = await trained(6);
    const p = join(dir, 'hyper.safetensors');
    await saveCheckpoint(p, m, { optimizer: opt, position });
    const optPath = checkpointPaths(p).optimizer;
    const { tensors, metadata } = parseSafetensors(readFileSync(optPath), optPath);
    const adam = { lr: 0.002, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
    const cases: [string, Record<string, string>, RegExp][] = [
      ['a negative lr', { hyperparameters: JSON.stringify({ ...adam, lr: -1e308 }) }, /: metadata "hyperparameters": lr: Too small: expected number to be >=0, got "\{\\"lr\\":-1e\+308,/],
      ['no lr', { hyperparameters: JSON.stringify({ ...adam, lr: undefined }) }, /: metadata "hyperparameters": lr: Invalid input: expected number, received undefined, got/],
      ['a beta of 1', { hyperparameters: JSON.stringify({ ...adam, betas: [1, 0.999] }) }, /: metadata "hyperparameters": betas\[0\]: Too big: expected number to be <1/],
      ['an infinite eps (1e400 in JSON)', { hyperparameters: JSON.stringify(adam).replace('1e-8', '1e400') }, /: metadata "hyperparameters": eps: /],
      ['SGD\'s, for Adam', { hyperparameters: JSON.stringify({ lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false }) }, /: metadata "hyperparameters": betas: /],
      [
        'Nesterov without momentum',
        { optimizer: 'sgd', hyperparameters: JSON.stringify({ lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: true }) },
        /: metadata "hyperparameters": Nesterov momentum requires a momentum and zero dampening, got/,
      ],
      [
        'Nesterov with dampening',
        { optimizer: 'sgd', hyperparameters: JSON.stringify({ lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0, nesterov: true }) },
        /: metadata "hyperparameters": Nesterov momentum requires a momentum and zero dampening, got/,
      ],
      ['a batch size of 0', { batchSize: '0' }, /: metadata "batchSize": Too small: expected number to be >=1, got "0"$/],
      ['a data directory with control characters', { dataDir: '/data/\x1b[2Kmnist' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u001b\[2Kmnist"$/],
      // Line separators break the printed line; U+202E shows what follows reversed.
      ['a data directory with U+2028', { dataDir: '/data/\u2028mnist' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u2028mnist"$/],
      ['a data directory with U+2029', { dataDir: '/data/\u2029mnist' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u2029mnist"$/],
      ['a data directory with U+202E', { dataDir: '/data/\u202etsinm' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u202etsinm"$/],
      ['a data directory with U+202A', { dataDir: '/data/\u202amnist' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u202amnist"$/],
      ['a data directory with U+2066', { dataDir: '/data/\u2066mnist' }, /: metadata "dataDir": expected a path without control characters, got "\/data\/\\u2066mnist"$/],
      // It would resolve to the working directory.
      ['an empty data directory', { dataDir: '' }, /: metadata "dataDir": expected a directory, not an empty path, got ""$/],
      ['200 kB of non-JSON, echoed cut short', { hyperparameters: '['.repeat(200_000) }, /: metadata "hyperparameters": expected JSON, got "\[{200}"… \(200000 characters\)$/],
    ];
    for (const [what, change, pattern] of cases) {
      writeFileSync(optPath, serializeSafetensors(tensors, { ...metadata, ...change }));
      const err = await readOptimizerState(p, await readCheckpoint(p)).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(FileFormatError);
      expect((err as FileFormatError).file, what).toBe(optPath);
      expect((err as Error).message, what).toMatch(pattern);
    }
    // A position is all there or not at all.
    const { seed: _, ...noSeed } = metadata;
    writeFileSync(optPath, serializeSafetensors(tensors, noSeed));
    await expect(readOptimizerState(p, await readCheckpoint(p))).rejects.toThrow(
      /: metadata "seed": missing, where the other fields of a training position \(epoch, stepInEpoch, seed, batchSize, shuffle, dataDir\) are given$/,
    );
  });
});

describe('a failed save', () => {
  const failAfter = (n: number) => ({
    write: async (h: import('node:fs/promises').FileHandle, b: Uint8Array) => {
      await h.write(b.subarray(0, n));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    },
  });

  it('leaves the existing checkpoint untouched and no temp files behind', async () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    const p = join(sub, 'model.safetensors');
    const old = Model.create(rt(), SEED_CNN, { seed: 1 });
    await saveCheckpoint(p, old);
    const before = readFileSync(p);
    const err = await saveCheckpoint(p, Model.create(rt(), SEED_CNN, { seed: 2 }), { hooks: failAfter(100) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect((err as Error).message).toContain('no space left');
    expect(Buffer.compare(readFileSync(p), before)).toBe(0);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    await loadCheckpoint(Model.create(rt()), p); // still loads
  });

  it('fails cleanly in a directory that does not exist', async () => {
    const p = join(dir, 'no', 'such', 'dir', 'model.safetensors');
    await expect(saveCheckpoint(p, Model.create(rt()))).rejects.toBeInstanceOf(FileWriteError);
  });

  /** A saved pair (optimizer at step 3) in a folder of its own, and its bytes. */
  const savedPair = async (prefix: string) => {
    const sub = mkdtempSync(join(dir, prefix));
    const p = join(sub, 'model.safetensors');
    const m = Model.create(rt());
    const opt = new Adam([...m.parameters.values()]);
    opt.loadState(zeroState(opt), 3);
    await saveCheckpoint(p, m, { optimizer: opt, position });
    return { sub, p, before: [readFileSync(p), readFileSync(checkpointPaths(p).optimizer)] };
  };

  /** The pair saved by savedPair is on disk unchanged, and nothing else. */
  const expectPairKept = async ({ sub, p, before }: Awaited<ReturnType<typeof savedPair>>) => {
    expect(Buffer.compare(readFileSync(p), before[0]!)).toBe(0);
    expect(Buffer.compare(readFileSync(checkpointPaths(p).optimizer), before[1]!)).toBe(0);
    expect(readdirSync(sub).sort()).toEqual(['model.optim.safetensors', 'model.safetensors']);
    expect((await readOptimizerState(p, await readCheckpoint(p))).state.stepCount).toBe(3);
  };

  it('an optimizer-state file read as a model is named as such, with the model file beside it', async () => {
    const { p } = await savedPair('optim-as-model-');
    const optim = checkpointPaths(p).optimizer;
    const err = await readCheckpoint(optim).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    expect((err as Error).message).toBe(`${optim} holds optimizer state (saved beside a model, for --resume), not a model; the model is ${p}`);
    // Under another name there is no model file to point at; and one key alone is a model's metadata.
    expect(() => parseCheckpoint(readFileSync(optim), 's.bin')).toThrow(/^s\.bin holds optimizer state \(saved beside a model, for --resume\), not a model$/);
    const tagged = serializeSafetensors([['w', { shape: [1], data: new Float32Array(1) }]], { optimizer: 'adam' });
    expect(parseCheckpoint(tagged, 'm.safetensors').tensors.size).toBe(1);
  });

  it('of the optimizer state leaves the previous pair intact: both are written before either is renamed', async () => {
    const pair = await savedPair('fail-opt-');
    const { p } = pair;
    // The model's temp file is written, then writing the optimizer state fails.
    let calls = 0;
    const hooks = { write: async (h: import('node:fs/promises').FileHandle, b: Uint8Array) => (++calls === 2 ? failAfter(10).write(h, b) : void (await h.writeFile(b))) };
    const m2 = Model.create(rt(), SEED_CNN, { seed: 2 });
    const err = await saveCheckpoint(p, m2, { optimizer: new Adam([...m2.parameters.values()]), position, hooks }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect((err as FileWriteError).path).toBe(checkpointPaths(p).optimizer);
    await expectPairKept(pair);
  });

  it('through a symbolic link writes the file it points at, and keeps the link', async () => {
    const sub = mkdtempSync(join(dir, 'link-'));
    mkdirSync(join(sub, 'runs'));
    const real = join(sub, 'runs', 'model.safetensors');
    const link = join(sub, 'latest.safetensors');
    symlinkSync(join('runs', 'model.safetensors'), link); // relative, and nothing there yet
    const m = Model.create(rt(), SEED_CNN, { seed: 3 });
    await saveCheckpoint(link, m);
    await saveCheckpoint(link, m); // over the file now there
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(Buffer.compare(readFileSync(real), readFileSync(link))).toBe(0);
    expect(readdirSync(join(sub, 'runs'))).toEqual(['model.safetensors']); // no temp file left
    const back = Model.create(rt());
    await loadCheckpoint(back, real);
    expect(await paramBits(back)).toEqual(await paramBits(m));
  });

  /** Hooks whose `n`th rename fails. */
  const failRename = (n: number) => {
    let calls = 0;
    return {
      rename: async (from: string, to: string) => {
        if (++calls === n) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
        await rename(from, to);
      },
    };
  };

  it('cut off between the renames leaves the new weights, and is caught when resuming', async () => {
    const sub = mkdtempSync(join(dir, 'fail-rename-'));
    const p = join(sub, 'model.safetensors');
    const m = Model.create(rt());
    await saveCheckpoint(p, m, { optimizer: new Adam([...m.parameters.values()]), position });
    // The model file is renamed into place, then renaming its optimizer state fails.
    const m2 = Model.create(rt(), SEED_CNN, { seed: 2 });
    const err = await saveCheckpoint(p, m2, { optimizer: new Adam([...m2.parameters.values()]), position, hooks: failRename(2) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect((err as FileWriteError).path).toBe(checkpointPaths(p).optimizer);
    expect(readdirSync(sub).sort()).toEqual(['model.optim.safetensors', 'model.safetensors']);
    // The model went first: what is on disk is the new model, usable for eval.
    const onDisk = Model.create(rt());
    await loadCheckpoint(onDisk, p);
    expect(await paramBits(onDisk)).toEqual(await paramBits(m2));
    await expect(readOptimizerState(p, await readCheckpoint(p))).rejects.toThrow(/not saved together/);
  });

  it('at the first rename names the model file and leaves the previous pair', async () => {
    const pair = await savedPair('fail-first-rename-');
    const { p } = pair;
    const m2 = Model.create(rt(), SEED_CNN, { seed: 2 });
    const err = await saveCheckpoint(p, m2, { optimizer: new Adam([...m2.parameters.values()]), position, hooks: failRename(1) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileWriteError);
    expect((err as FileWriteError).path).toBe(p);
    expect((err as Error).message).toContain('i/o error');
    await expectPairKept(pair);
  });
});

describe('using a checkpoint', () => {
  it('takes the spec from a --model file first, then from the checkpoint, then the seed CNN', async () => {
    const file = join(dir, 'small.json');
    const small = { input: [4], layers: [{ type: 'linear', outFeatures: 2 }] };
    writeFileSync(file, JSON.stringify(small));
    const p = join(dir, 'with-spec.safetensors');
    await saveCheckpoint(p, Model.create(rt(), { input: [3], layers: [{ type: 'relu' }] }));
    const ckpt = await readCheckpoint(p);
    expect(await resolveSpec(file, ckpt)).toEqual(small);
    expect(await resolveSpec(undefined, ckpt)).toEqual({ input: [3], layers: [{ type: 'relu' }] });
    expect(await resolveSpec(undefined)).toEqual(SEED_CNN);
  });

  // A 776-byte file once made loading draw and upload 1 GB of initial weights before the
  // tensors were compared with the model.
  it('compares the tensors with the spec before any parameter is allocated: a tiny file with a huge spec allocates nothing', () => {
    const huge: ModelSpec = { input: [4096], layers: Array.from({ length: 16 }, () => ({ type: 'linear' as const, outFeatures: 4096 })) };
    const bytes = serializeSafetensors([], { [SPEC_KEY]: JSON.stringify(huge) });
    expect(bytes.length).toBeLessThan(1000);
    const expected = /^huge-spec\.safetensors does not match the model: missing 0\.weight \[4096, 4096\]; missing 0\.bias \[4096\]; .*; and 24 more$/;
    const before = rt().stats();
    expect(() => modelFromBytes(rt(), bytes, 'huge-spec.safetensors')).toThrow(expected);
    // As the CLI builds its model (eval, predict, train --resume / --init).
    expect(() => Model.create(rt(), huge, { weights: parseCheckpoint(bytes, 'x').tensors, source: 'huge-spec.safetensors' })).toThrow(expected);
    const after = rt().stats();
    expect([after.buffersCreated, after.bytesAllocated]).toEqual([before.buffersCreated, before.bytesAllocated]);
    // Unexpected and mis-shaped tensors too; a spec override is checked the same way.
    const small: ModelSpec = { input: [4], layers: [{ type: 'linear', outFeatures: 2 }] };
    const odd = serializeSafetensors([['0.weight', { shape: [4, 2], data: new Float32Array(8) }], ['x', { shape: [1], data: new Float32Array(1) }]]);
    expect(() => modelFromBytes(rt(), odd, 'odd.safetensors', { spec: small })).toThrow(
      /^odd\.safetensors does not match the model: 0\.weight is \[4, 2\] there but \[2, 4\] in the model; missing 0\.bias \[2\]; unexpected "x"$/,
    );
    // Weights that fit are loaded over the drawn initialisation, which still advances the generator.
    const w = serializeSafetensors([['0.weight', { shape: [2, 4], data: new Float32Array(8).fill(0.25) }], ['0.bias', { shape: [2], data: Float32Array.of(1, 2) }]]);
    const gen = new TorchGenerator(3);
    const m = Model.create(rt(), small, { generator: gen, weights: parseCheckpoint(w, 'w').tensors });
    const fresh = new TorchGenerator(3);
    Model.create(rt(), small, { generator: fresh });
    expect(gen.uniform(new Float32Array(1), 0, 1)[0]).toBe(fresh.uniform(new Float32Array(1), 0, 1)[0]);
    return Promise.all([m.parameters.get('0.weight')!.read(), m.parameters.get('0.bias')!.read()]).then(([a, b]) => {
      expect(Array.from(a)).toEqual(new Array(8).fill(0.25));
      expect(Array.from(b)).toEqual([1, 2]);
    });
  });

  it('refuses weights holding NaN or ±Infinity, counting them, and passes finite ones (however large)', () => {
    const big = { shape: [1], data: Float32Array.of(3e38) };
    const ckpt = (w: number[]) => parseCheckpoint(serializeSafetensors([['big', big], ['w', { shape: [w.length], data: Float32Array.from(w) }]]), 'w.safetensors');
    const refused = (data: number[]) => formatError(() => requireFinite(ckpt(data), 'w.safetensors')).message;
    expect(refused([1, NaN, 2])).toMatch(/^w\.safetensors: tensor "w" holds 1 NaN or infinite value \(of 3\): /);
    expect(refused([Infinity, 1])).toMatch(/tensor "w" holds 1 NaN or infinite value \(of 2\)/);
    expect(refused([-Infinity, Infinity, NaN])).toMatch(/tensor "w" holds 3 NaN or infinite values \(of 3\)/);
    expect(() => requireFinite(ckpt([-3e38, 0, 1e-45]), 'w.safetensors')).not.toThrow();
  });
});
