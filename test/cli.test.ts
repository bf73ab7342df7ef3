// The `fovea` command, run as a user runs it (`node dist/cli.js`, built by `pretest`):
// training on the real MNIST to > 90% test accuracy, the seed script's first steps reproduced,
// bit-identical --resume (also after Ctrl-C or SIGTERM), a run that outlives the pipe it prints
// to, PyTorch loading our checkpoints and us loading PyTorch's, predict on PNGs, and every
// malformed input as a named error with its exit code.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, gzipSync } from 'node:zlib';
import { encode as encodeJpeg } from 'jpeg-js';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors, SEED_CNN, serializeSafetensors, SPEC_KEY, type LayerSpec } from '../src/index.js';
import { checkpointBytes, readCheckpoint, readOptimizerState } from '../src/model/checkpoint.js';
import { isSoftwareAdapter } from '../src/runtime/device.js';
import { MNIST_FILES, defaultMnistDir } from '../src/mnist/files.js';
import { pngFile } from './file-builders.js';
import { Rng } from './helpers.js';
import { mnistHead, smallMnist } from './mnist-fixtures.js';
import { SEED_CNN_PY, torchJson } from './oracle.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'fovea-cli-'));
const MNIST = defaultMnistDir();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

type Child = ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>;

/** Runs `node dist/cli.js ...args`; `onStdout` may signal the child (`kill`: Ctrl-C) or close its pipes. */
function fovea(args: string[], opts: { env?: Record<string, string>; onStdout?: (all: string, kill: () => void, child: Child) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fovea ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 110_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, () => child.kill('SIGINT'), child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** stderr without Dawn's two harmless lavapipe warnings. */
const errLines = (r: Run) => r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning: maxDynamic'));

function readJsonl(path: string): Record<string, number>[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
}

/** The first `n` MNIST images of a split as raw bytes, and their labels. */
function png(path: string, grey: Uint8Array, colorType: 0 | 2 | 6 = 0, size = 28): string {
  const p = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    const v = grey[i] ?? 0;
    p.data[4 * i] = p.data[4 * i + 1] = p.data[4 * i + 2] = v;
    p.data[4 * i + 3] = 255;
  }
  writeFileSync(path, PNG.sync.write(p, { colorType }));
  return path;
}

// PyTorch side: the seed CNN, a ~15-line safetensors reader/writer, and MNIST from IDX files.
const PY = `${SEED_CNN_PY}
import json, struct
def st_read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop('__metadata__', None)
    return {k: torch.frombuffer(bytearray(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]), dtype=torch.int64 if v['dtype'] == 'I64' else torch.float32).reshape(v['shape']) for k, v in h.items()}
def st_bytes(t, dtype):
    t = t.detach().contiguous()
    if dtype == 'BF16': return t.bfloat16().view(torch.int16).numpy().tobytes()
    return {'F32': t.float(), 'F16': t.half(), 'F64': t.double()}[dtype].numpy().tobytes()
def st_write(path, tensors, dtypes={}):
    h, off, blobs = {}, 0, []
    for k, t in tensors.items():
        dtype = dtypes.get(k, 'F32')
        data = st_bytes(t, dtype)
        h[k] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    j = json.dumps(h).encode()
    j += b' ' * (-len(j) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(j)) + j + b''.join(blobs))
def idx(name, skip, shape):
    b = open(${JSON.stringify(MNIST)} + '/' + name, 'rb').read()
    return torch.frombuffer(bytearray(b[skip:]), dtype=torch.uint8).reshape(shape)
def test_set(n):
    return idx('${MNIST_FILES.testImages}', 16, (10000, 1, 28, 28))[:n].float() / 255., idx('${MNIST_FILES.testLabels}', 8, (10000,))[:n].long()
`;

/** The losses `fovea train --log-every 1 --out out` logged are PyTorch's, step by step. */
function expectLossesAsTorch(out: string, torchLosses: readonly number[]): void {
  const losses = readJsonl(out.replace('.safetensors', '.metrics.jsonl')).filter((m) => 'loss' in m).map((m) => m.loss!);
  expect(losses).toHaveLength(torchLosses.length);
  losses.forEach((l, i) => expect(Math.abs(l - torchLosses[i]!), `loss of step ${i + 1}`).toBeLessThan(1e-4 * Math.max(1, torchLosses[i]!)));
}

// The first 230 training images (x, y) and the seed CNN seeded as fovea's --seed 1 (cnn).
const PY_230 = `${PY}
import torch.utils.data as data
x = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28))[:230].float() / 255.
y = idx('${MNIST_FILES.trainLabels}', 8, (60000,))[:230].long()
torch.manual_seed(1)
cnn = CNN()`;

interface EvalJson {
  accuracy: number;
  loss: number;
  count: number;
  predictions: number[];
}

/** Trains `spec` on `data` for `epochs` (batches of 20, Adam at lr 0.01) into `out`, then evaluates it on that data: eval --json's object. */
async function trainAndEval(data: string, spec: string, out: string, epochs: number): Promise<EvalJson> {
  const r = await fovea(['train', '--data', data, '--model', spec, '--epochs', String(epochs), '--batch-size', '20', '--lr', '0.01', '--log-every', '10', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  const ev = await fovea(['eval', '--checkpoint', out, '--data', data, '--json']);
  expect(ev.code, ev.stderr).toBe(0);
  return JSON.parse(ev.stdout) as EvalJson;
}

const differing = (a: readonly number[], b: readonly number[]) => a.filter((p, i) => p !== b[i]).length;

/** The seed CNN's weights, all 0.01. */
const weights = new Map(
  [['conv1.0.weight', [16, 1, 5, 5]], ['conv1.0.bias', [16]], ['conv2.0.weight', [32, 16, 5, 5]], ['conv2.0.bias', [32]], ['out.weight', [10, 1568]], ['out.bias', [10]]].map(
    ([k, shape]) => [k as string, { shape: shape as number[], data: new Float32Array((shape as number[]).reduce((a, b) => a * b, 1)).fill(0.01) }],
  ),
);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
});

describe('--help', () => {
  it('lists the commands, and each command lists its flags', async () => {
    const top = await fovea(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['train', 'eval', 'predict', 'summary']) expect(top.stdout).toContain(c);
    const flags: Record<string, string[]> = {
      train: ['--model', '--data', '--epochs', '--steps', '--batch-size', '--optimizer', '--lr', '--lr-schedule', '--lr-gamma', '--warmup-steps', '--rho', '--alpha', '--centered', '--lr-decay', '--initial-accumulator-value', '--momentum', '--dampening', '--nesterov', '--betas', '--eps', '--momentum-decay', '--weight-decay', '--label-smoothing', '--max-grad-norm', '--seed', '--no-shuffle', '--init', '--out', '--metrics', '--resume', '--log-every', '--eval-limit', '--help'],
      eval: ['--checkpoint', '--model', '--data', '--json', '--limit', '--help'],
      predict: ['--checkpoint', '--model', '--json', '--fit', '--help'],
      summary: ['--model', '--checkpoint', '--json', '--help'],
    };
    for (const [cmd, names] of Object.entries(flags)) {
      const r = await fovea([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      for (const f of names) expect(r.stdout, `${cmd} --help`).toContain(f);
    }
  });

  it('wins over other flags, even bad ones, as `fovea help <command>` does', async () => {
    const help = await fovea(['train', '--help']);
    const top = await fovea(['--help']);
    for (const [args, shown] of [[['train', '--lr', 'abc', '-h'], help], [['train', '--frobnicate', '--help'], help], [['help', 'train'], help], [['help', '--help'], top]] as const) {
      const r = await fovea([...args]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(shown.stdout);
    }
  });
});

describe('usage errors exit 2 with one line naming the flag and value', () => {
  const cases: [string[], string][] = [
    [['train', '--batch-size', 'abc'], 'fovea train: --batch-size must be a positive integer, got "abc"'],
    [['train', '--lr=-1'], 'fovea train: --lr must be a non-negative number, got "-1"'],
    [['train', '--lr-gamma', '0'], 'fovea train: --lr-gamma must be a positive number, got "0"'],
    [['train', '--lr-schedule', 'linear'], 'fovea train: --lr-schedule must be step, cosine or onecycle, got "linear"'],
    [['train', '--lr-schedule', 'onecycle', '--warmup-steps', '5'], 'fovea train: --warmup-steps does not apply to --lr-schedule onecycle, which rises from --lr/25 by itself'],
    [['train', '--lr-schedule', 'onecycle', '--optimizer', 'sgd', '--momentum', '0.9'], "fovea train: --momentum does not apply to --lr-schedule onecycle, which cycles the momentum itself, as PyTorch's OneCycleLR"],
    [['train', '--warmup-steps', '1.5'], 'fovea train: --warmup-steps must be a non-negative integer, got "1.5"'],
    [['train', '--lr-schedule', 'cosine', '--lr-gamma', '0.5'], 'fovea train: --lr-gamma applies only to --lr-schedule step (the default); --lr-schedule cosine takes the rate down by itself'],
    [['train', '--optimizer', 'lbfgs'], 'fovea train: --optimizer must be adam, adamw, nadam, radam, adamax, sgd, adadelta, rmsprop or adagrad, got "lbfgs"'],
    [['train', '--optimizer', 'adam', '--momentum-decay', '0.01'], 'fovea train: --momentum-decay applies only to --optimizer nadam'],
    [['train', '--seed', '1.5'], 'fovea train: --seed must be an integer from 0 to 4294967295, got "1.5"'],
    [['train', '--epochs', '0'], 'fovea train: --epochs must be a positive integer, got "0"'],
    [['train', '--momentum', '0.9'], 'fovea train: --momentum applies only to --optimizer sgd or rmsprop'],
    [['train', '--nesterov'], 'fovea train: --nesterov applies only to --optimizer sgd'],
    [['train', '--lr', '0', '--nesterov'], 'fovea train: --nesterov applies only to --optimizer sgd'], // lr 0 passes, as in PyTorch
    [['train', '--optimizer', 'sgd', '--eps', '1e-6'], 'fovea train: --eps applies only to --optimizer adam, adamw, nadam, radam, adamax, adadelta, rmsprop or adagrad'],
    [['train', '--rho', '0.5'], 'fovea train: --rho applies only to --optimizer adadelta'],
    [['train', '--centered'], 'fovea train: --centered applies only to --optimizer rmsprop'],
    [['train', '--lr-decay', '0.1'], 'fovea train: --lr-decay applies only to --optimizer adagrad'],
    [['train', '--optimizer', 'rmsprop', '--alpha=-1'], 'fovea train: --alpha must be a non-negative number, got "-1"'],
    [['train', '--optimizer', 'adadelta', '--momentum', '0.9'], 'fovea train: --momentum applies only to --optimizer sgd or rmsprop'],
    [['train', '--optimizer', 'adadelta', '--rho', '1.5'], 'fovea train: --rho must be a number in [0, 1], got "1.5"'],
    [['train', '--optimizer', 'sgd', '--nesterov'], "fovea train: --nesterov needs a --momentum above 0 and no --dampening, as PyTorch's (momentum 0, dampening 0)"],
    [['train', '--optimizer', 'sgd', '--momentum', '0.9', '--dampening', '0.1', '--nesterov'], "fovea train: --nesterov needs a --momentum above 0 and no --dampening, as PyTorch's (momentum 0.9, dampening 0.1)"],
    [['train', '--betas', '0.9'], 'fovea train: --betas must be two numbers in [0, 1), comma-separated, got "0.9"'],
    [['train', '--betas', '0.9,1'], 'fovea train: --betas must be two numbers in [0, 1), comma-separated, got "0.9,1"'],
    [['train', '--eps=-1'], 'fovea train: --eps must be a non-negative number, got "-1"'],
    [['train', '--no-weight-decay', '*.bias'], 'fovea train: --no-weight-decay exempts parameters from a weight decay of 0: give a --weight-decay above 0'],
    [['train', '--optimizer', 'adamw', '--no-weight-decay', '*.bias,'], 'fovea train: --no-weight-decay must be parameter names or patterns (letters, digits, _, ., * and ?), comma-separated, got "*.bias,"'],
    [['train', '--augment-translate', '0.1,0.2,0.3'], 'fovea train: --augment-translate must be one or two fractions in [0, 1], comma-separated, got "0.1,0.2,0.3"'],
    [['train', '--augment-scale', '1.2,0.8'], 'fovea train: --augment-scale must be two positive numbers, the first not above the second, comma-separated, got "1.2,0.8"'],
    [['train', '--augment-rotate=-5'], 'fovea train: --augment-rotate must be a non-negative number, got "-5"'],
    // Past float32's range, where torch's uniform_ refuses to draw.
    [['train', '--augment-rotate', '1e39'], "fovea train: --augment-rotate: RandomAffine: degrees [-1e+39, 1e+39] spans more than float32 holds, in which torch draws it"],
    [['train', '--augment-scale', '1,3.5e38'], "fovea train: --augment-scale: RandomAffine: scale [1, 3.5e+38] spans more than float32 holds, in which torch draws it"],
    [['train', '--resume', '--init', 'x.safetensors'], 'fovea train: --init cannot be combined with --resume'],
    [['train', '--frobnicate'], 'fovea train: unknown flag --frobnicate (see fovea train --help)'],
    // A misspelt flag or command is named with the one likely meant; another command's flag, with its command.
    [['train', '--batchsize', '5'], 'fovea train: unknown flag --batchsize; did you mean --batch-size? (see'],
    [['train', '--lr-shedule=cosine'], 'fovea train: unknown flag --lr-shedule; did you mean --lr-schedule? (see'],
    [['train', '--epoch', '2'], 'fovea train: unknown flag --epoch; did you mean --epochs? (see'],
    [['predict', '--chekpoint', 'm.safetensors', 'a.png'], 'fovea predict: unknown flag --chekpoint; did you mean --checkpoint? (see'],
    [['eval', '--checkpoint', 'm.safetensors', '--batch-size', '5'], 'fovea eval: --batch-size is a flag of fovea train only (see'],
    [['summary', '--limit', '5'], 'fovea summary: --limit is a flag of fovea eval only (see'],
    [['trian'], 'fovea: unknown command "trian"; did you mean train? (see fovea --help)'],
    [['train', '--steps'], 'fovea train: --steps needs a value'],
    [['eval', '--limit', '10'], 'fovea eval: --checkpoint FILE is required'],
    // A negative number after a flag is its value, refused as such (not "needs a value").
    [['eval', '--checkpoint', 'm.safetensors', '--limit', '-1'], 'fovea eval: --limit must be a positive integer, got "-1"'],
    [['train', '--lr', '-0.5e-3'], 'fovea train: --lr must be a non-negative number, got "-0.5e-3"'],
    [['eval', '--checkpoint', 'm.safetensors', '--json=yes'], 'fovea eval: --json does not take a value'],
    [['predict', '--checkpoint', 'm.safetensors'], 'fovea predict: no images given'],
    [['train', '--help=1'], 'fovea train: --help does not take a value'],
    [['train', '--out', 'a.safetensors', '--metrics', 'a.safetensors'], 'fovea train: --metrics a.safetensors is also --out: one would overwrite the other'],
    [['train', '--out', 'a.safetensors', '--metrics', 'a.svg'], 'fovea train: --metrics a.svg is also the plot of --out a.safetensors'],
    [['train', '--init', 'w.safetensors', '--metrics', 'w.safetensors'], 'fovea train: --metrics w.safetensors is also --init: one would overwrite the other'],
    [['train', '--model', 'spec.json', '--out', 'spec.json'], 'fovea train: --out spec.json is also --model: one would overwrite the other'],
    [['train', '--init', 'w.safetensors', '--out', 'w.safetensors'], 'fovea train: --out w.safetensors is also --init: one would overwrite the other'],
    [['train', '--model', 'w.svg', '--out', 'w.safetensors'], 'fovea train: the plot of --out w.safetensors (w.svg) is also --model: one would overwrite the other'],
    [['train', '--out', 'a.optim.safetensors'], 'fovea train: --out a.optim.safetensors: a name ending in .optim.safetensors is the optimizer state saved beside a.safetensors; choose another name'],
    [['train', '--out', 'a.pt.optim.safetensors'], 'fovea train: --out a.pt.optim.safetensors: a name ending in .optim.safetensors is the optimizer state saved beside a.pt; choose another name'],
    [['train', '--out', 'a.v2.optim.safetensors'], 'fovea train: --out a.v2.optim.safetensors: a name ending in .optim.safetensors is the optimizer state saved beside a.v2.safetensors; choose another name'],
    [['train', '--out', 'w.safetensors', '--model', 'w.metrics.jsonl'], 'fovea train: the metrics log of --out w.safetensors (w.metrics.jsonl) is also --model: one would overwrite the other'],
    [['frobnicate'], 'fovea: unknown command "frobnicate"'],
    [['help', 'frobnicate'], 'fovea: unknown command "frobnicate"'],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      const r = await fovea(args);
      expect(r.code).toBe(2);
      const lines = errLines(r);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(message);
      expect(r.stdout).toBe('');
    });
  }
});

describe('output that cannot be written', () => {
  it('exits 1 and says so on a full disk (a closed pipe, as `| head`, is no failure)', () => {
    const full = spawnSync(process.execPath, [CLI, '--help'], { stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'], encoding: 'utf8' });
    expect(full.status).toBe(1);
    expect(full.stderr).toMatch(/^fovea: cannot write the output: ENOSPC/m);
  });
});

describe('runtime failures exit 1 with a named error', () => {
  const good = join(tmp, 'fail-good.safetensors');
  const truncated = join(tmp, 'fail-truncated.safetensors');
  const wrongShape = join(tmp, 'fail-shape.safetensors');
  const diverged = join(tmp, 'fail-nan.safetensors');
  const overflowing = join(tmp, 'fail-overflow.safetensors');
  const badSpec = join(tmp, 'fail-spec.json');
  const hugeInput = join(tmp, 'fail-huge-input.safetensors');
  const deepSpec = join(tmp, 'fail-deep-spec.safetensors');
  const evilName = join(tmp, 'fail-evil-name.safetensors');
  const evilPath = join(tmp, 'no\x1b[31msuch\r.safetensors');
  const rgbModel = join(tmp, 'fail-rgb.safetensors');
  const flat50 = join(tmp, 'fail-flat50.safetensors');
  const noSpec = join(tmp, 'fail-nospec.safetensors');
  beforeAll(() => {
    writeFileSync(noSpec, serializeSafetensors([['fc.weight', { shape: [10, 784], data: new Float32Array(7840) }]]));
    writeFileSync(rgbModel, checkpointBytes([], { input: [2, 28, 28], layers: [{ type: 'flatten' }] }));
    writeFileSync(flat50, checkpointBytes([], { input: [50], layers: [{ type: 'relu' }] }));
    writeFileSync(hugeInput, checkpointBytes([], { input: [1, 1e9, 1e9], layers: [{ type: 'flatten' }] }));
    let layers: LayerSpec[] = [{ type: 'relu' }];
    for (let i = 0; i < 1000; i++) layers = [{ type: 'sequential', layers }];
    writeFileSync(deepSpec, checkpointBytes([], { input: [4], layers }));
    // An entry whose name would erase the line and print a green "all good" on a terminal.
    const header = Buffer.from(JSON.stringify({ 'x\r\x1b[2K\x1b[32mfovea eval: all good\x1b[0m': { dtype: 'I32', shape: [1], data_offsets: [0, 2] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(evilName, Buffer.concat([length, header, Buffer.alloc(2)]));
    const bytes = checkpointBytes(weights, SEED_CNN);
    writeFileSync(good, bytes);
    writeFileSync(truncated, bytes.subarray(0, 5000));
    writeFileSync(wrongShape, checkpointBytes([...weights].map(([k, v]) => (k === 'out.weight' ? [k, { shape: [1568, 10], data: v.data }] : [k, v])), SEED_CNN));
    writeFileSync(diverged, checkpointBytes([...weights].map(([k, v]) => (k === 'conv2.0.bias' ? [k, { shape: v.shape, data: v.data.map((x, i) => (i < 3 ? NaN : x)) }] : [k, v])), SEED_CNN));
    // Finite weights whose outputs overflow: conv2 gives 1 everywhere, so every logit is 1568 × 3e38.
    const overflow: Record<string, (v: Float32Array) => Float32Array> = { 'conv2.0.weight': (v) => v.fill(0), 'conv2.0.bias': (v) => v.fill(1), 'out.weight': (v) => v.fill(3e38) };
    writeFileSync(overflowing, checkpointBytes([...weights].map(([k, v]) => [k, { shape: v.shape, data: overflow[k]?.(Float32Array.from(v.data)) ?? v.data }]), SEED_CNN));
    writeFileSync(badSpec, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'sequential', layers: [{ type: 'conv2d', outChannels: 8, kernelSize: 0 }] }] }));
    png(join(tmp, 'fail-big.png'), new Uint8Array(32 * 32), 0, 32);
    writeFileSync(join(tmp, 'fail-notpng.png'), 'GIF89a, not a PNG');
    writeFileSync(join(tmp, 'fail-huge.png'), pngFile({ width: 5000, height: 4000 }, deflateSync(Buffer.alloc(16))));
    symlinkSync(join(tmp, 'fail-loop'), join(tmp, 'fail-loop'));
  });
  const cases: [string, string[], string, Record<string, string>?][] = [
    ['a truncated --checkpoint', ['eval', '--checkpoint', truncated], 'FileFormatError: ' + truncated],
    ['a truncated --init', ['train', '--init', truncated, '--steps', '1'], 'FileFormatError: ' + truncated],
    ['a missing checkpoint', ['eval', '--checkpoint', join(tmp, 'nope.safetensors')], 'FileReadError: cannot read checkpoint'],
    ['weights of a run that diverged (eval)', ['eval', '--checkpoint', diverged], `FileFormatError: ${diverged}: tensor "conv2.0.bias" holds 3 NaN or infinite values (of 32): the weights of a training run that diverged`],
    ['weights of a run that diverged (predict)', ['predict', '--checkpoint', diverged, join(tmp, 'fail-big.png')], `FileFormatError: ${diverged}: tensor "conv2.0.bias" holds 3 NaN`],
    ['finite weights whose outputs overflow (eval)', ['eval', '--checkpoint', overflowing, '--limit', '3'], `FileFormatError: ${overflowing}: its mean loss on the test images of `],
    ['finite weights whose outputs overflow (predict)', ['predict', '--checkpoint', overflowing, join(tmp, 'fail-big.png')], `FileFormatError: ${overflowing}: the model's outputs for ${join(tmp, 'fail-big.png')} are NaN or infinite: weights that overflow float32`],
    ['shapes that do not fit the model', ['eval', '--checkpoint', wrongShape], 'SpecError: ' + wrongShape + ' does not match the model: out.weight is [1568, 10]'],
    ['weights of another model in a file without its spec', ['eval', '--checkpoint', noSpec], `unexpected "fc.weight" (${noSpec} holds no "fovea.spec" metadata, so it was read as the seed CNN; give its model with --model FILE)`],
    ['weights of another model in a file without its spec (--init)', ['train', '--init', noSpec, '--steps', '1', '--out', join(tmp, 'fail-init.safetensors')], `unexpected "fc.weight" (${noSpec} holds no "fovea.spec" metadata, so it was read as the seed CNN; give its model with --model FILE)`],
    ['a bad --model spec', ['train', '--model', badSpec], 'SpecError: layers[0].layers[0].kernelSize'],
    ['a missing data directory', ['eval', '--checkpoint', good, '--data', join(tmp, 'no-such-dir')], `MnistNotFoundError: ${join(tmp, 'no-such-dir')} does not exist: MNIST is read from a directory`],
    ['--data naming a file', ['eval', '--checkpoint', good, '--data', good], `MnistNotFoundError: ${good} is a file, not a directory`],
    ['--data below a file', ['eval', '--checkpoint', good, '--data', join(good, 'data')], `MnistNotFoundError: ${join(good, 'data')} does not exist`],
    ['--data a link to itself', ['eval', '--checkpoint', good, '--data', join(tmp, 'fail-loop')], `MnistNotFoundError: ${join(tmp, 'fail-loop')} cannot be read (ELOOP)`],
    ['weights of a run that diverged (--init)', ['train', '--init', diverged, '--steps', '1'], `FileFormatError: ${diverged}: tensor "conv2.0.bias" holds 3 NaN`],
    // Adam with eps 0 divides 0 by 0 wherever a gradient is 0: NaN weights after the first step.
    ['a run whose loss becomes NaN', ['train', '--eps=0', '--steps', '2', '--out', join(tmp, 'fail-nan-run.safetensors')], 'DivergedError: training diverged by step 2: the loss is NaN; nothing was saved (with --eps 0, Adam divides 0 by 0 where a gradient is 0: give --eps a positive value)'],
    ['a run whose learning rate is too large', ['train', '--optimizer', 'sgd', '--lr', '1e30', '--steps', '2', '--log-every', '1', '--out', join(tmp, 'fail-lr-run.safetensors')], 'nothing was saved (a smaller --lr may help)'],
    ['a run whose weights become NaN', ['train', '--eps=0', '--steps', '1', '--out', join(tmp, 'fail-nan-run.safetensors')], 'DivergedError: training diverged by step 1: parameter tensor "'],
    ['an --out directory that does not exist', ['train', '--out', join(tmp, 'no-dir', 'm.safetensors')], 'FileWriteError: cannot write ' + join(tmp, 'no-dir', 'm.safetensors')],
    ['--resume without a checkpoint', ['train', '--resume', '--out', join(tmp, 'never.safetensors')], 'FileReadError: cannot read checkpoint'],
    ['a PNG too large to fit', ['predict', '--checkpoint', good, join(tmp, 'fail-huge.png')], 'FileFormatError: ' + join(tmp, 'fail-huge.png') + ' (byte 16): image is 5000×4000 pixels, more than the 16,777,216 (4096 × 4096) read'],
    // A file of a kind it knows, in the wrong place, is named as that kind.
    ['a picture given as the checkpoint', ['eval', '--checkpoint', join(tmp, 'fail-huge.png')], 'found 0x00; it looks like a PNG picture'],
    ['a checkpoint given as the model spec', ['summary', '--model', good], `FileFormatError: ${good} (byte 0): not a JSON model spec: it looks like a safetensors file`],
    ['a checkpoint given as a picture', ['predict', '--checkpoint', good, good], 'not with the PNG signature 89 50 4e 47 or the JPEG start-of-image marker ff d8; it looks like a safetensors file'],
    ['a file that is no picture', ['predict', '--checkpoint', good, join(tmp, 'fail-notpng.png')], `FileFormatError: ${join(tmp, 'fail-notpng.png')} (byte 0): not a PNG or JPEG picture: it starts with 47 49 46 38, not with the PNG signature 89 50 4e 47 or the JPEG start-of-image marker ff d8`],
    ['a model of two channels (predict)', ['predict', '--checkpoint', rgbModel, join(tmp, 'fail-big.png')], 'ShapeError: predict: images are grey or RGB (1 or 3 channels), but the model takes [2, 28, 28]: 2 channels'],
    ['a flat model input of no square size (predict)', ['predict', '--checkpoint', flat50, join(tmp, 'fail-big.png')], "ShapeError: predict: images are grey or RGB (1 or 3 channels), but the model takes [50]: a flat input of 50 values, not a square image's"],
    [
      'a checkpoint whose spec claims a huge input',
      ['predict', '--checkpoint', hugeInput, join(tmp, 'fail-big.png')],
      `SpecError: input: more than 16777216 values in one input sample (in the "fovea.spec" metadata of ${hugeInput})`,
    ],
    ['a checkpoint whose spec nests 1000 sequentials', ['eval', '--checkpoint', deepSpec], `: nested more than 64 levels deep (in the "fovea.spec" metadata of ${deepSpec})`],
    [
      'a tensor name with terminal control characters',
      ['eval', '--checkpoint', evilName],
      `FileFormatError: ${evilName} (byte 9): tensor "x\\r\\u001b[2K\\u001b[32mfovea eval: all good\\u001b[0m": dtype I32 is not supported`,
    ],
    ['a path with terminal control characters', ['eval', '--checkpoint', evilPath], `FileReadError: cannot read checkpoint ${join(tmp, 'no\\u001b[31msuch\\u000d.safetensors')}: no such file`],
    ['no WebGPU adapter', ['eval', '--checkpoint', good, '--limit', '1'], 'NoAdapterError: No WebGPU adapter was found', { VK_ICD_FILENAMES: join(tmp, 'no-such-icd.json'), VK_DRIVER_FILES: join(tmp, 'no-such-icd.json') }],
  ];
  for (const [what, args, message, env] of cases) {
    it(what, async () => {
      const r = await fovea(args, env ? { env } : {});
      expect(r.code, r.stderr).toBe(1);
      const ours = errLines(r).filter((l) => l.startsWith('fovea '));
      expect(ours).toHaveLength(1);
      expect(ours[0]).toContain(message);
      expect(ours[0]).not.toMatch(/\p{Cc}/u); // control characters escaped
      expect(r.stderr).not.toMatch(/\n\s+at .*\.js:\d+/); // no stack trace
      if (args.includes('--out')) expect(existsSync(args[args.indexOf('--out') + 1]!), 'a checkpoint written').toBe(false);
    });
  }

  it('prints the stack with FOVEA_DEBUG=1', async () => {
    const r = await fovea(['eval', '--checkpoint', truncated], { env: { FOVEA_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('train fails before its first step', () => {
  const dir = join(tmp, 'early');
  const data = join(dir, 'data');
  const data32 = join(dir, 'data32');
  const spec7 = join(dir, 'seven.json');
  beforeAll(() => {
    smallMnist(data, 60, 20);
    smallMnist(data32, 60, 20, 32);
    for (const d of ['out-dir', 'o.optim.safetensors', 'p.svg', 'metrics-dir']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'a-file'), '');
    writeFileSync(spec7, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 7 }] }));
  });
  const [o, p] = [join(dir, 'o.safetensors'), join(dir, 'p.safetensors')];
  const cases: [string, string[], string][] = [
    ['--out an existing directory', ['--out', join(dir, 'out-dir')], `FileWriteError: cannot write ${join(dir, 'out-dir')}: it is an existing directory (--out)`],
    ['its optimizer state a directory', ['--out', o], `FileWriteError: cannot write ${join(dir, 'o.optim.safetensors')}: it is an existing directory (the optimizer state of --out ${o})`],
    ['its plot a directory', ['--out', p], `FileWriteError: cannot write ${join(dir, 'p.svg')}: it is an existing directory (the plot of --out ${p})`],
    ['--metrics an existing directory', ['--metrics', join(dir, 'metrics-dir'), '--out', join(dir, 'n.safetensors')], `FileWriteError: cannot write ${join(dir, 'metrics-dir')}: it is an existing directory (--metrics)`],
    ['--metrics in a file', ['--metrics', join(dir, 'a-file', 'm.jsonl'), '--out', join(dir, 'n.safetensors')], `FileWriteError: cannot write ${join(dir, 'a-file', 'm.jsonl')}: ${join(dir, 'a-file')} is not a directory`],
    ['test images that do not fit the model', ['--data', data32, '--out', join(dir, 'n.safetensors')], `ShapeError: dataset: ${join(data32, MNIST_FILES.testImages)}: images are 32×32, the model takes [1, 28, 28]`],
    [
      'labels past the model\'s outputs',
      ['--model', spec7, '--out', join(dir, 'n.safetensors')],
      `ShapeError: dataset: ${join(data, MNIST_FILES.trainLabels)}: label 9 (image 4, the largest label) is out of bounds for the model's 7 outputs: labels must be 0..6`,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const r = await fovea(['train', '--data', data, '--log-every', '1', ...args]);
      expect(r.code, r.stderr).toBe(1);
      const ours = errLines(r).filter((l) => l.startsWith('fovea '));
      expect(ours).toHaveLength(1);
      expect(ours[0]).toContain(message);
      expect(r.stdout).not.toMatch(/^step /m);
      // Nothing written: no checkpoint, no metrics log (not even beside an --out directory).
      expect(readdirSync(dir).sort()).toEqual(['a-file', 'data', 'data32', 'metrics-dir', 'o.optim.safetensors', 'out-dir', 'p.svg', 'seven.json']);
    });
  }

  it('a batch too large for the device is a usage error on --batch-size', async () => {
    // The first convolution's im2col alone is 60000 × 25 × 784 floats, 4.7 GB: past any device's buffer limit.
    const r = await fovea(['train', '--batch-size', '60000', '--out', join(dir, 'n.safetensors')]);
    expect(r.code, r.stderr).toBe(2);
    const lines = errLines(r);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fovea train: --batch-size 60000 is too large for this device \(.*over this device's limit of \d+ bytes per buffer.*\) \(see fovea train --help\)$/);
  });
});

describe('summary', () => {
  it("lists a model's layers, shapes and parameter counts as PyTorch counts them, from a spec or a checkpoint", async () => {
    const spec = fileURLToPath(new URL('../examples/mnist-separable.json', import.meta.url));
    const r = await fovea(['summary', '--model', spec, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { input: number[]; output: number[]; parameters: number; buffers: number; layers: { name: string; type: string; output: number[]; parameters: number }[] };
    const torch = torchJson<{ parameters: number; modules: [string, number][] }>(`import json, torch.nn as nn
m = nn.Sequential()
m.add_module('conv1', nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2)))
m.add_module('conv2', nn.Sequential(nn.Conv2d(16, 16, 5, 1, 2, groups=16), nn.Conv2d(16, 32, 1), nn.ReLU(), nn.MaxPool2d(2)))
m.add_module('2', nn.Flatten())
m.add_module('out', nn.Linear(1568, 10))
leaves = [(n, sum(p.numel() for p in c.parameters())) for n, c in m.named_modules() if not list(c.children())]
print(json.dumps({"parameters": sum(p.numel() for p in m.parameters()), "modules": leaves}))`);
    expect(got.parameters).toBe(torch.parameters);
    expect(got.layers.map((l) => [l.name, l.parameters])).toEqual(torch.modules);
    expect(got).toMatchObject({ input: [1, 28, 28], output: [10], buffers: 0 });
    expect(got.layers.map((l) => l.output)).toEqual([[16, 28, 28], [16, 28, 28], [16, 14, 14], [16, 14, 14], [32, 14, 14], [32, 14, 14], [32, 7, 7], [1568], [10]]);
    // A checkpoint's own spec; the table as text.
    const ckpt = join(tmp, 'summary.safetensors');
    writeFileSync(ckpt, checkpointBytes(weights, SEED_CNN));
    const text = await fovea(['summary', '--checkpoint', ckpt]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^input \[1, 28, 28\]\nlayer +type +output +parameters\nconv1\.0 +conv2d +\[16, 28, 28\] +416\n/);
    expect(text.stdout).toContain('\n28,938 parameters (113.0 KiB as f32); output [10]\n');
    // A spec's normalisation of the input.
    const cifar = await fovea(['summary', '--model', fileURLToPath(new URL('../examples/cifar10-cnn.json', import.meta.url))]);
    expect(cifar.stdout).toMatch(/^input \[3, 32, 32\], normalised: \(x − mean\) \/ std, mean \[0\.5, 0\.5, 0\.5\], std \[0\.5, 0\.5, 0\.5\]\n/);
  });

  it("checks a --checkpoint's tensors against the model it summarises, naming each difference", async () => {
    const ckpt = join(tmp, 'summary-seed.safetensors');
    writeFileSync(ckpt, checkpointBytes(weights, SEED_CNN));
    const separable = fileURLToPath(new URL('../examples/mnist-separable.json', import.meta.url));
    const r = await fovea(['summary', '--model', separable, '--checkpoint', ckpt]);
    expect(r.code).toBe(1);
    expect(errLines(r)).toEqual([expect.stringMatching(new RegExp(`^fovea summary: SpecError: ${ckpt} does not match the model: conv2\\.0\\.weight is \\[32, 16, 5, 5\\] there but \\[16, 1, 5, 5\\] in the model; .*; missing conv2\\.1\\.bias \\[32\\]$`))]);
    // Weights without a spec are read as the seed CNN's, and said so where they are not.
    const other = join(tmp, 'summary-other.safetensors');
    writeFileSync(other, serializeSafetensors([['fc.weight', { shape: [10, 784], data: new Float32Array(7840) }]]));
    const unnamed = await fovea(['summary', '--checkpoint', other]);
    expect(unnamed.code).toBe(1);
    expect(errLines(unnamed)[0]).toContain(`(${other} holds no "fovea.spec" metadata, so it was read as the seed CNN; give its model with --model FILE)`);
    expect((await fovea(['summary', '--model', separable, '--checkpoint', other])).stderr).not.toContain('read as the seed CNN');
  });

  it("takes --model over a checkpoint's saved spec that it cannot read (a later version's layer), which alone is an error", async () => {
    const ckpt = join(tmp, 'summary-future.safetensors');
    writeFileSync(ckpt, serializeSafetensors([...weights], { [SPEC_KEY]: JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'hyperconv' }] }) }));
    const alone = await fovea(['summary', '--checkpoint', ckpt]);
    expect(alone.code).toBe(1);
    expect(errLines(alone)[0]).toContain('layers[0].type');
    const seed = join(tmp, 'summary-seed.json');
    writeFileSync(seed, JSON.stringify(SEED_CNN));
    const r = await fovea(['summary', '--model', seed, '--checkpoint', ckpt, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { parameters: number }).parameters).toBe(28_938);
    const ev = await fovea(['eval', '--checkpoint', ckpt, '--model', seed, '--limit', '20', '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect((JSON.parse(ev.stdout) as { count: number }).count).toBe(20);
  });

  it('names the layer of a spec that does not fit, and the file, and exits 1', async () => {
    const bad = join(tmp, 'unfit.json');
    writeFileSync(bad, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 3 }, { type: 'flatten' }, { type: 'linear', inFeatures: 100, outFeatures: 10 }] }));
    const r = await fovea(['summary', '--model', bad]);
    expect(r.code).toBe(1);
    expect(errLines(r)).toEqual([expect.stringMatching(/^fovea summary: ShapeError: layers\[2\] \(linear '2'\): does not fit its input \[2704\]: linear: input \[1, 2704\] does not fit weight \[10, 100\].* \(in .*unfit\.json\)$/)]);
    // Classes the output does not have, for every command that builds the model.
    const classes = join(tmp, 'classes.json');
    writeFileSync(classes, JSON.stringify({ input: [1, 28, 28], classes: ['a', 'b'], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 10 }] }));
    for (const command of [['summary'], ['train', '--steps', '1', '--out', 'classes.safetensors']]) {
      const c = await fovea([...command, '--model', classes]);
      expect(c.code).toBe(1);
      expect(errLines(c)[0]).toMatch(new RegExp(`^fovea ${command[0]}: SpecError: classes: names 2 classes, but the model's output per sample is \\[10\\] \\(in .*classes\\.json\\)$`));
    }
  });
});

describe('eval --data', () => {
  it('needs only the two test files', async () => {
    const data = smallMnist(join(tmp, 'test-only'), 10, 20);
    rmSync(join(data, MNIST_FILES.trainImages));
    rmSync(join(data, MNIST_FILES.trainLabels));
    const ckpt = join(tmp, 'test-only.safetensors');
    writeFileSync(ckpt, checkpointBytes(weights, SEED_CNN));
    const r = await fovea(['eval', '--checkpoint', ckpt, '--data', data, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as EvalJson).count).toBe(20);
  });
});

describe('a set of more classes, named with a prefix (EMNIST)', () => {
  // MNIST's first digits as classes 10..19 of 20, in gzipped files named as EMNIST's
  // (emnist-shifted-train-…, emnist-shifted-test-…): read as --data DIR/emnist-shifted.
  const dir = join(tmp, 'emnist');
  const set = join(dir, 'emnist-shifted');
  const spec20 = join(dir, 'twenty.json');
  const [train, test] = [mnistHead('train', 300), mnistHead('test', 100)];
  const shifted = (labels: Buffer) => Buffer.from(labels.map((l) => l + 10));
  beforeAll(() => {
    mkdirSync(dir);
    const idx = (magic: number, dims: number[], data: Buffer) => {
      const h = Buffer.alloc(4 + 4 * dims.length);
      h.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
      return gzipSync(Buffer.concat([h, data]));
    };
    for (const [split, { pixels, labels }] of [['train', train], ['test', test]] as const) {
      writeFileSync(`${set}-${split}-images-idx3-ubyte.gz`, idx(0x803, [labels.length, 28, 28], pixels));
      writeFileSync(`${set}-${split}-labels-idx1-ubyte.gz`, idx(0x801, [labels.length], shifted(labels)));
    }
    writeFileSync(spec20, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 20 }] }));
  });

  it('trains a model with outputs for every label, and eval reads the set the same way', async () => {
    const { accuracy, count, predictions } = await trainAndEval(set, spec20, join(dir, 'model.safetensors'), 6);
    expect(count).toBe(100);
    const labels = shifted(test.labels);
    expect(accuracy).toBe(predictions.filter((p, i) => p === labels[i]).length / 100);
    // 300 digits, six epochs of a linear layer: 80 of 100 test digits right, none put below class 10.
    expect(accuracy).toBeGreaterThan(0.7);
    expect(Math.min(...predictions)).toBeGreaterThanOrEqual(10);
  });

  it("refuses the seed CNN's ten outputs for its labels, and names the sets of a directory given instead of one", async () => {
    const r = await fovea(['train', '--data', set, '--steps', '1', '--out', join(dir, 'n.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ShapeError: dataset: ${set}-train-labels-idx1-ubyte.gz: label 19 (image 4, the largest label) is out of bounds for the model's 10 outputs: labels must be 0..9`);
    const d = await fovea(['eval', '--checkpoint', join(dir, 'model.safetensors'), '--data', dir]);
    expect(d.code).toBe(1);
    expect(d.stderr).toContain(`; ${dir} holds the sets emnist-shifted: read one as ${set}`);
  });
});

describe("CIFAR-10's binary batches", () => {
  // Ten classes of 32×32 colour pictures, each class its own colour with noise, in CIFAR-10's
  // format: five training batches of 40 records and a test batch of 50.
  const dir = join(tmp, 'cifar-10-batches-bin');
  const spec = join(tmp, 'cifar-linear.json');
  const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const rng = new Rng(9);
  const palette = Array.from({ length: 10 }, (_, c) => [(c * 83) % 256, (c * 151 + 40) % 256, (c * 199 + 90) % 256]);
  const records = (n: number, first: number) => {
    const out = new Uint8Array(n * 3073);
    for (let k = 0; k < n; k++) {
      const label = (first + k) % 10;
      out[k * 3073] = label;
      for (let i = 0; i < 3072; i++) out[k * 3073 + 1 + i] = Math.max(0, Math.min(255, palette[label]![Math.floor(i / 1024)]! + Math.round(40 * (rng.next() - 0.5))));
    }
    return out;
  };
  beforeAll(() => {
    mkdirSync(dir);
    for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), records(40, 3 * b));
    writeFileSync(join(dir, 'test_batch.bin'), records(50, 1));
    writeFileSync(spec, JSON.stringify({ input: [3, 32, 32], layers: [{ type: 'flatten' }, { type: 'linear', outFeatures: 10 }], classes: NAMES }));
  });

  it('train and eval read them as 3×32×32 pictures; predict classifies a picture of a test record as eval does', async () => {
    const out = join(tmp, 'cifar.safetensors');
    const { accuracy, count, predictions } = await trainAndEval(dir, spec, out, 5);
    expect(count).toBe(50);
    // Ten colours, 200 pictures seen five times: the test pictures told apart.
    expect(accuracy).toBeGreaterThan(0.9);
    // Test record 0 as an RGB PNG, its planes interleaved again.
    const test = readFileSync(join(dir, 'test_batch.bin')).subarray(1, 3073);
    const rgb = new PNG({ width: 32, height: 32 });
    for (let i = 0; i < 1024; i++) rgb.data.set([test[i]!, test[1024 + i]!, test[2048 + i]!, 255], 4 * i);
    const picture = join(tmp, 'cifar0.png');
    writeFileSync(picture, PNG.sync.write(rgb));
    const p = await fovea(['predict', '--checkpoint', out, '--json', picture]);
    expect(p.code, p.stderr).toBe(0);
    const [first] = (JSON.parse(p.stdout) as { predictions: { class: number; name: string }[] }).predictions;
    expect(first!.class).toBe(predictions[0]);
    // The spec names the classes, and the checkpoint keeps them: predict says the name.
    expect(first!.name).toBe(NAMES[predictions[0]!]);
    const text = await fovea(['predict', '--checkpoint', out, picture]);
    expect(text.stdout).toMatch(new RegExp(`^${picture}: ${NAMES[predictions[0]!]} \\(class ${predictions[0]}, \\d+\\.\\d\\d%\\)\n  airplane: [0-9.]+  automobile: `));
    // The seed CNN takes grey 28×28 digits: refused, naming the batch and both shapes.
    const seed = await fovea(['train', '--data', dir, '--steps', '1', '--out', join(tmp, 'cifar-seed.safetensors')]);
    expect(seed.code).toBe(1);
    expect(seed.stderr).toContain(`ShapeError: dataset: ${join(dir, 'data_batch_1.bin')} … data_batch_5.bin: images are 3×32×32, the model takes [1, 28, 28]`);
  });
});

describe('training on MNIST', () => {
  const out = join(tmp, 'mnist', 'model.safetensors');
  let train: Run;
  let started = 0;
  let evalJson: EvalJson;
  // The seed's settings (Adam, lr 0.001, batch 50, seed 1, shuffled as PyTorch) for 300 steps,
  // a quarter of the epoch: past 90% on the first 1000 test images from about 200 steps.
  beforeAll(async () => {
    mkdirSync(join(tmp, 'mnist'));
    started = performance.now();
    train = await fovea(['train', '--steps', '300', '--log-every', '50', '--eval-limit', '1000', '--out', out], { timeoutMs: 170_000 });
    console.log(`fovea train --steps 300: ${((performance.now() - started) / 1000).toFixed(1)} s\n${train.stdout.split('\n').slice(-5).join('\n')}`);
  }, 180_000);

  it('trains past 90% test accuracy and writes the checkpoint, metrics and plot', () => {
    expect(train.code, train.stderr).toBe(0);
    expect(train.stdout).toContain('adapter: ');
    // Named a CPU one where the adapter line names a software adapter, and only there.
    const cpu = isSoftwareAdapter({ description: train.stdout.split('\n').find((l) => l.startsWith('adapter: ')) });
    expect(train.stdout.includes('a CPU adapter (WebGPU in software)')).toBe(cpu);
    expect(train.stdout).toContain('28938 parameters');
    expect(train.stdout).toContain('batch size 50, optimizer adam (lr 0.001, betas 0.9,0.999, eps 1e-8, weight decay 0), seed 1, shuffle on');
    expect(train.stdout).toMatch(/final test accuracy \d+\.\d+% on 1000 test images/);
    const metrics = readJsonl(join(tmp, 'mnist', 'model.metrics.jsonl'));
    const losses = metrics.filter((m) => 'loss' in m);
    expect(losses.map((m) => m.step)).toEqual([50, 100, 150, 200, 250, 300]);
    for (const m of losses) expect(Object.keys(m).sort()).toEqual(['elapsedSec', 'epoch', 'loss', 'samplesPerSec', 'step']);
    const evals = metrics.filter((m) => 'testAccuracy' in m);
    expect(evals).toHaveLength(1);
    expect(evals[0]).toMatchObject({ epoch: 1, step: 300 });
    expect(evals[0]!.testAccuracy).toBeGreaterThan(0.9);
    expect(existsSync(join(tmp, 'mnist', 'model.optim.safetensors'))).toBe(true);
    const svg = readFileSync(join(tmp, 'mnist', 'model.svg'), 'utf8');
    expect(svg).toMatch(/^<\?xml[^]*<svg[^]*Test accuracy[^]*<\/svg>\n$/);
    expect(svg).not.toMatch(/href=|<script/);
  });

  it('eval --json prints one JSON object, agreeing with the training run', async () => {
    const r = await fovea(['eval', '--checkpoint', out, '--json', '--limit', '1000']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    evalJson = JSON.parse(lines[0]!) as EvalJson;
    expect(Object.keys(evalJson)).toEqual(['accuracy', 'loss', 'count', 'predictions']);
    expect(evalJson.count).toBe(1000);
    expect(evalJson.predictions).toHaveLength(1000);
    const trained = readJsonl(join(tmp, 'mnist', 'model.metrics.jsonl')).find((m) => 'testAccuracy' in m)!;
    expect(evalJson.accuracy).toBe(trained.testAccuracy);
    expect(evalJson.loss).toBeCloseTo(trained.testLoss!, 6);
  });

  it('loads into PyTorch with load_state_dict(strict=True), which gets the same accuracy', () => {
    const torch = torchJson<{ accuracy: number; predictions: number[] }>(`${PY}
cnn = CNN()
cnn.load_state_dict(st_read(${JSON.stringify(out)}), strict=True)
x, y = test_set(1000)
with torch.no_grad():
    pred = cnn(x).argmax(1)
print(json.dumps({'accuracy': (pred == y).float().mean().item(), 'predictions': pred.tolist()}))`);
    const diff = differing(torch.predictions, evalJson.predictions);
    console.log(`fovea checkpoint in PyTorch: accuracy ${torch.accuracy} vs fovea ${evalJson.accuracy}, ${diff} predictions differ`);
    expect(diff, 'predictions that differ from PyTorch').toBeLessThanOrEqual(3);
    expect(Math.abs(torch.accuracy - evalJson.accuracy)).toBeLessThanOrEqual(diff / 1000 + 1e-6);
  });

  it('predict reads square images for a flat input: [100] takes 10×10', async () => {
    const rng = new Rng(5);
    const w = Float32Array.from({ length: 1000 }, () => rng.uniform(-1, 1));
    const b = Float32Array.from({ length: 10 }, () => rng.uniform(-1, 1));
    const file = join(tmp, 'flat100.safetensors');
    writeFileSync(file, checkpointBytes([['0.weight', { shape: [10, 100], data: w }], ['0.bias', { shape: [10], data: b }]], { input: [100], layers: [{ type: 'linear', outFeatures: 10 }] }));
    const grey = Uint8Array.from({ length: 100 }, () => rng.int(0, 255));
    const r = await fovea(['predict', '--checkpoint', file, '--json', png(join(tmp, 'ten.png'), grey, 0, 10)]);
    expect(r.code, r.stderr).toBe(0);
    const logits = Array.from({ length: 10 }, (_, k) => grey.reduce((s, v, i) => s + w[k * 100 + i]! * (v / 255), b[k]!));
    const { predictions } = JSON.parse(r.stdout) as { predictions: { class: number; probabilities: number[] }[] };
    expect(predictions[0]!.class).toBe(logits.indexOf(Math.max(...logits)));
  });

  it('predict classifies PNGs (grey and RGBA) as eval does', async () => {
    const { pixels } = mnistHead('test', 3);
    const files = [0, 1, 2].map((k) => png(join(tmp, `digit${k}.png`), pixels.subarray(k * 784, (k + 1) * 784), k === 2 ? 6 : 0));
    const r = await fovea(['predict', '--checkpoint', out, '--json', ...files]);
    expect(r.code, r.stderr).toBe(0);
    const { predictions } = JSON.parse(r.stdout) as { predictions: { file: string; class: number; probabilities: number[] }[] };
    expect(predictions.map((p) => p.file)).toEqual(files);
    expect(predictions.map((p) => p.class)).toEqual(evalJson.predictions.slice(0, 3));
    for (const p of predictions) {
      expect(p.probabilities).toHaveLength(10);
      expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
    const text = await fovea(['predict', '--checkpoint', out, files[0]!]);
    expect(text.stdout).toContain(`${files[0]}: ${predictions[0]!.class} (`);
    // A picture that cannot be read is named; the others are classified all the same, and the tool exits 1.
    const missing = join(tmp, 'no-such-digit.png');
    const some = await fovea(['predict', '--checkpoint', out, '--json', files[0]!, missing, files[2]!]);
    expect(some.code).toBe(1);
    expect(some.stderr).toContain(`fovea predict: FileReadError: cannot read image ${missing}`);
    const partial = JSON.parse(some.stdout) as { predictions: { file: string; class: number }[]; errors: { file: string; error: string }[] };
    expect(partial.predictions.map((p) => [p.file, p.class])).toEqual([0, 2].map((k) => [files[k], predictions[k]!.class]));
    expect(partial.errors).toEqual([{ file: missing, error: expect.stringMatching(/^FileReadError: cannot read image /) }]);
  });

  /** Predicts pictures of test digits 0, 1, …, each fitted from width × height, dark on light: all but one classified as eval classified the digits. */
  async function expectFittedAsEval(files: string[], width: number, height: number): Promise<void> {
    const r = await fovea(['predict', '--checkpoint', out, '--json', ...files]);
    expect(r.code, r.stderr).toBe(0);
    const { predictions } = JSON.parse(r.stdout) as { predictions: { class: number; fitted: object }[] };
    for (const p of predictions) expect(p.fitted).toEqual({ width, height, inverted: true });
    const same = predictions.filter((p, d) => p.class === evalJson.predictions[d]).length;
    expect(same, `${predictions.map((p) => p.class)} against ${evalJson.predictions.slice(0, files.length)}`).toBeGreaterThanOrEqual(files.length - 1);
  }

  it('predict fits pictures of other sizes as MNIST digits: test digits drawn 5 times larger, dark on a white page, off-centre, classified as eval does', async () => {
    const n = 10;
    const { pixels } = mnistHead('test', n);
    const [width, height, k, left, top] = [200, 170, 5, 43, 9];
    const files = Array.from({ length: n }, (_, d) => {
      const p = new PNG({ width, height });
      p.data.fill(255);
      for (let y = 0; y < 28 * k; y++) {
        for (let x = 0; x < 28 * k; x++) {
          const at = 4 * ((top + y) * width + left + x);
          p.data[at] = p.data[at + 1] = p.data[at + 2] = 255 - pixels[d * 784 + Math.floor(y / k) * 28 + Math.floor(x / k)]!;
        }
      }
      const path = join(tmp, `page${d}.png`);
      writeFileSync(path, PNG.sync.write(p, { colorType: 2 }));
      return path;
    });
    // Cropped, scaled back into the 20-pixel box and centred by mass, as MNIST's digits were made:
    // the digits as the test set holds them, give or take a pixel of placement.
    await expectFittedAsEval(files, width, height);
    const text = await fovea(['predict', '--checkpoint', out, files[0]!]);
    expect(text.stdout).toContain(`[fitted as an MNIST digit from ${width}×${height}, its light background turned dark]`);
    // A 28×28 picture is taken as it is, unless --fit: a dark digit on white then reads as MNIST's.
    const dark = png(join(tmp, 'dark28.png'), Uint8Array.from(pixels.subarray(0, 784), (v) => 255 - v));
    const asIs = JSON.parse((await fovea(['predict', '--checkpoint', out, '--json', dark])).stdout) as { predictions: { class: number; fitted?: object }[] };
    expect(asIs.predictions[0]!.fitted).toBeUndefined();
    const fit = JSON.parse((await fovea(['predict', '--checkpoint', out, '--json', '--fit', dark])).stdout) as { predictions: { class: number; fitted?: object }[] };
    expect(fit.predictions[0]).toMatchObject({ class: evalJson.predictions[0], fitted: { width: 28, height: 28, inverted: true } });
    // The page of digit 0 lying on a dark desk: cropped to the page (less 3% of it a side), said so.
    const desk = new PNG({ width: 300, height: 260 });
    for (let i = 0; i < 300 * 260; i++) desk.data.set([25, 25, 25, 255], 4 * i);
    const page = PNG.sync.read(readFileSync(files[0]!));
    for (let y = 0; y < height; y++) desk.data.set(page.data.subarray(4 * y * width, 4 * (y + 1) * width), 4 * ((40 + y) * 300 + 50));
    const deskPath = join(tmp, 'desk0.png');
    writeFileSync(deskPath, PNG.sync.write(desk));
    const onDesk = JSON.parse((await fovea(['predict', '--checkpoint', out, '--json', deskPath])).stdout) as { predictions: { class: number; fitted?: object }[] };
    expect(onDesk.predictions[0]).toMatchObject({ class: evalJson.predictions[0], fitted: { width: 300, height: 260, inverted: true, page: { x: 56, y: 45, w: 188, h: 160 } } });
    expect((await fovea(['predict', '--checkpoint', out, deskPath])).stdout).toContain('[fitted as an MNIST digit from 300×260, the page at (56, 45) 188×160 taken, its light background turned dark]');
    // Digit 0 in black ink on a transparent canvas (its ink in the alpha channel, as a drawing app
    // exports it): over white, the dark ink on paper; over black it would vanish.
    const canvas = new PNG({ width, height });
    for (let y = 0; y < 28 * k; y++) for (let x = 0; x < 28 * k; x++) canvas.data[4 * ((top + y) * width + left + x) + 3] = pixels[Math.floor(y / k) * 28 + Math.floor(x / k)]!;
    const canvasPath = join(tmp, 'canvas0.png');
    writeFileSync(canvasPath, PNG.sync.write(canvas));
    // Pictures with nothing to see: one value throughout, said so.
    const white = new PNG({ width, height });
    white.data.fill(255);
    const whitePath = join(tmp, 'white.png');
    writeFileSync(whitePath, PNG.sync.write(white));
    const clear = join(tmp, 'clear.png');
    writeFileSync(clear, PNG.sync.write(new PNG({ width, height })));
    const drawn = JSON.parse((await fovea(['predict', '--checkpoint', out, '--json', canvasPath, whitePath, clear])).stdout) as { predictions: { class: number; fitted?: object; blank?: true }[] };
    expect(drawn.predictions[0]).toMatchObject({ class: evalJson.predictions[0], fitted: { inverted: true } });
    expect(drawn.predictions.map((p) => p.blank)).toEqual([undefined, true, true]);
    expect((await fovea(['predict', '--checkpoint', out, clear])).stdout).toMatch(/\] \[blank: one colour throughout, no ink found\]\n/);
  });

  it('predict reads JPEG photos: test digits on a page lit from one side, some stored turned with an EXIF orientation, classified as eval does', async () => {
    const n = 10;
    const { pixels } = mnistHead('test', n);
    const [width, height, k, left, top] = [180, 150, 4, 30, 12];
    // An APP1 segment holding EXIF orientation `o` (big-endian TIFF, one directory entry).
    const exif = (o: number) => {
      const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, 0, 0, 0, 0, 0, 0];
      const body = [...Buffer.from('Exif\0\0', 'latin1'), ...tiff];
      return [0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body];
    };
    const files = Array.from({ length: n }, (_, d) => {
      // Upright: paper lit from 0.95 on the left to 0.45 on the right, the digit dark on it.
      const upright = (x: number, y: number) => {
        const [sx, sy] = [Math.floor((x - left) / k), Math.floor((y - top) / k)];
        const ink = sx >= 0 && sx < 28 && sy >= 0 && sy < 28 ? pixels[d * 784 + sy * 28 + sx]! / 255 : 0;
        return Math.round(255 * (0.95 - 0.5 * (x / width)) * (0.92 - 0.84 * ink));
      };
      // Digits 3 and 7 stored turned a quarter anticlockwise, with orientation 6 (turn it clockwise to view).
      const turned = d === 3 || d === 7;
      const [w, h] = turned ? [height, width] : [width, height];
      const rgba = new Uint8Array(4 * w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = turned ? upright(width - 1 - y, x) : upright(x, y);
          rgba.set([v, v, v, 255], 4 * (y * w + x));
        }
      }
      const jpg = new Uint8Array(encodeJpeg({ width: w, height: h, data: rgba }, 90).data);
      const path = join(tmp, `photo${d}.jpg`);
      writeFileSync(path, turned ? Uint8Array.from([0xff, 0xd8, ...exif(6), ...jpg.subarray(2)]) : jpg);
      return path;
    });
    await expectFittedAsEval(files, width, height);
  });

  it('predict reads RGB pictures for a colour model, channel by channel, and others shrunk to its size from their centre: the logits of the linear map computed here', async () => {
    const rng = new Rng(17);
    const [side, classes] = [6, 4];
    const per = 3 * side * side;
    const weight = Array.from({ length: classes * per }, () => rng.next() - 0.5);
    const bias = Array.from({ length: classes }, () => rng.next() - 0.5);
    const spec: { input: number[]; layers: LayerSpec[] } = { input: [3, side, side], layers: [{ type: 'flatten' }, { type: 'linear', name: 'out', outFeatures: classes }] };
    const file = join(tmp, 'colour.safetensors');
    writeFileSync(file, checkpointBytes([['out.weight', { shape: [classes, per], data: Float32Array.from(weight) }], ['out.bias', { shape: [classes], data: Float32Array.from(bias) }]], spec));
    const pictures = [0, 1, 2].map((k) => {
      const p = new PNG({ width: side, height: side });
      // Picture 2 is dark and partly transparent: composited over white.
      for (let i = 0; i < p.data.length; i++) p.data[i] = i % 4 === 3 ? (k === 2 ? rng.int(0, 255) : 255) : rng.int(0, k === 2 ? 90 : 255);
      const path = join(tmp, `colour${k}.png`);
      writeFileSync(path, PNG.sync.write(p, { colorType: 6 }));
      return { path, rgba: p.data };
    });
    const r = await fovea(['predict', '--checkpoint', file, '--json', ...pictures.map((p) => p.path)]);
    expect(r.code, r.stderr).toBe(0);
    const { predictions } = JSON.parse(r.stdout) as { predictions: { class: number; probabilities: number[]; fitted?: object }[] };
    for (const [k, { rgba }] of pictures.entries()) {
      // Channel c of pixel i at c·36 + i, alpha over black (over white for picture 2); then W·x + b
      // and its softmax, in float64.
      const x = Array.from({ length: per }, (_, j) => {
        const [v, a] = [rgba[4 * (j % (side * side)) + Math.floor(j / (side * side))]!, rgba[4 * (j % (side * side)) + 3]!];
        return Math.round((v * a + (k === 2 ? 255 : 0) * (255 - a)) / 255) / 255;
      });
      const z = bias.map((b, c) => b + x.reduce((s, v, j) => s + Math.fround(weight[c * per + j]!) * v, 0));
      const e = z.map((v) => Math.exp(v - Math.max(...z)));
      const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
      expect(predictions[k]!.fitted).toBeUndefined();
      expect(predictions[k]!.class).toBe(p.indexOf(Math.max(...p)));
      predictions[k]!.probabilities.forEach((v, c) => expect(v).toBeCloseTo(p[c]!, 5));
    }
    // A picture of another size: its centre at the model's aspect, shrunk by area. 18×12 pixels
    // whose centre 12×12 is 2×2 blocks of one colour each (its shrunk picture is those colours)
    // and whose sides are noise, which must not count.
    expect(predictions.map((p) => (p as { blank?: true }).blank)).toEqual([undefined, undefined, undefined]);
    // A picture of one colour, red, is blank: each channel one value, though the three differ.
    const red = new PNG({ width: side, height: side });
    for (let i = 0; i < side * side; i++) red.data.set([200, 0, 0, 255], 4 * i);
    writeFileSync(join(tmp, 'red.png'), PNG.sync.write(red));
    const redJson = JSON.parse((await fovea(['predict', '--checkpoint', file, '--json', join(tmp, 'red.png')])).stdout) as { predictions: { blank?: true }[] };
    expect(redJson.predictions[0]!.blank).toBe(true);
    const wide = new PNG({ width: 3 * side, height: 2 * side });
    const blocks = Array.from({ length: per }, () => rng.int(0, 255));
    for (let y = 0; y < 2 * side; y++) {
      for (let x = 0; x < 3 * side; x++) {
        const [bx, inside] = [Math.floor((x - side / 2) / 2), x >= side / 2 && x < side / 2 + 2 * side];
        const at = 4 * (y * 3 * side + x);
        for (let c = 0; c < 3; c++) wide.data[at + c] = inside ? blocks[c * side * side + Math.floor(y / 2) * side + bx]! : rng.int(0, 255);
        wide.data[at + 3] = 255;
      }
    }
    const widePath = join(tmp, 'colour-wide.png');
    writeFileSync(widePath, PNG.sync.write(wide, { colorType: 6 }));
    const resized = JSON.parse((await fovea(['predict', '--checkpoint', file, '--json', widePath])).stdout) as { predictions: { class: number; probabilities: number[]; resized?: object }[] };
    expect(resized.predictions[0]!.resized).toEqual({ width: 3 * side, height: 2 * side, crop: { x: side / 2, y: 0, w: 2 * side, h: 2 * side } });
    const zb = bias.map((b, c) => b + blocks.reduce((s, v, j) => s + Math.fround(weight[c * per + j]!) * (v / 255), 0));
    const eb = zb.map((v) => Math.exp(v - Math.max(...zb)));
    resized.predictions[0]!.probabilities.forEach((v, c) => expect(v).toBeCloseTo(eb[c]! / eb.reduce((a, b) => a + b, 0), 5));
    const text = await fovea(['predict', '--checkpoint', file, widePath]);
    expect(text.stdout).toContain(`[resized from ${3 * side}×${2 * side}, its centre ${2 * side}×${2 * side} taken]`);
    const fit = await fovea(['predict', '--checkpoint', file, '--fit', pictures[0]!.path]);
    expect([fit.code, fit.stderr.trim()]).toEqual([2, 'fovea predict: --fit makes grey digits, and the model takes colour images [3, 6, 6] (see fovea predict --help)']);
  });

  it('predict takes many images in batches (the last one short), classifying each as eval does', async () => {
    const n = 450;
    const { pixels } = mnistHead('test', n);
    const files = Array.from({ length: n }, (_, k) => png(join(tmp, `many${k}.png`), pixels.subarray(k * 784, (k + 1) * 784), 0));
    const r = await fovea(['predict', '--checkpoint', out, '--json', ...files]);
    expect(r.code, r.stderr).toBe(0);
    const { predictions } = JSON.parse(r.stdout) as { predictions: { class: number }[] };
    expect(predictions.map((p) => p.class)).toEqual(evalJson.predictions.slice(0, n));
  });
});

describe('--optimizer adamw', () => {
  it("takes PyTorch's default weight decay, 0.01, and resumes as AdamW", async () => {
    const data = smallMnist(join(tmp, 'small-adamw'), 60, 10);
    const out = join(tmp, 'adamw.safetensors');
    const r = await fovea(['train', '--data', data, '--optimizer', 'adamw', '--steps', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('optimizer adamw (lr 0.001, betas 0.9,0.999, eps 1e-8, weight decay 0.01)');
    const wrong = await fovea(['train', '--data', data, '--optimizer', 'adam', '--resume', '--out', out]);
    expect(wrong.code).toBe(2);
    expect(errLines(wrong)[0]).toContain('--optimizer conflicts with the checkpoint being resumed');
    const resumed = await fovea(['train', '--data', data, '--steps', '2', '--resume', '--out', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('optimizer adamw (lr 0.001, betas 0.9,0.999, eps 1e-8, weight decay 0.01)');
  });
});

/**
 * PyTorch's seed CNN trained on PY_230's images in file order (5 steps an epoch), the scheduler
 * stepped after every step (or `perEpoch`, after every epoch): each step's loss and rate, and the
 * optimizer's group at the end.
 */
function torchScheduled(optimizer: string, scheduler: string, { epochs = 2, perEpoch = false } = {}) {
  const step = 'scheduler.step()';
  return torchJson<{ losses: number[]; lrs: number[]; lr: number; betas?: number[] }>(`${PY_230}
S = torch.optim.lr_scheduler
optimizer = ${optimizer}
scheduler = ${scheduler}
losses, lrs = [], []
for epoch in range(${epochs}):
    for bx, by in data.DataLoader(data.TensorDataset(x, y), batch_size=50):
        loss = torch.nn.CrossEntropyLoss()(cnn(bx), by)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
        lrs.append(optimizer.param_groups[0]['lr'])
        ${perEpoch ? 'pass' : step}
    ${perEpoch ? step : 'pass'}
g = optimizer.param_groups[0]
print(json.dumps({'losses': losses, 'lrs': lrs, 'lr': g['lr'], 'betas': g.get('betas')}))`);
}

/** The rates of a run's logged steps (--log-every 1) against PyTorch's. */
function expectRatesAsTorch(out: string, torchLrs: readonly number[]): void {
  const logged = readJsonl(out.replace('.safetensors', '.metrics.jsonl')).filter((m) => 'loss' in m);
  expect(logged).toHaveLength(torchLrs.length);
  for (const [i, m] of logged.entries()) expect(m.lr, `step ${i + 1}`).toBeCloseTo(torchLrs[i]!, 15);
}

describe('--lr-gamma', () => {
  it("decays the learning rate after each epoch as PyTorch's StepLR does", async () => {
    // 230 images in file order: 5 steps per epoch (the last of 30), 3 epochs.
    const data = smallMnist(join(tmp, 'small-gamma'), 230, 10);
    const out = join(tmp, 'gamma.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '3', '--no-shuffle', '--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0.5', '--lr-gamma', '0.5', '--log-every', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('lr ×0.5 after each epoch');
    expect(r.stdout.match(/^epoch \d done: .*; lr [\d.]+$/gm)?.map((l) => l.replace(/.*; lr /, ''))).toEqual(['0.1', '0.05', '0.025']);
    const torch = torchScheduled('torch.optim.SGD(cnn.parameters(), lr=0.1, momentum=0.5)', 'S.StepLR(optimizer, step_size=1, gamma=0.5)', { epochs: 3, perEpoch: true });
    expect(torch.lrs.filter((_, i) => i % 5 === 0)).toEqual([0.1, 0.05, 0.025]);
    expectLossesAsTorch(out, torch.losses);
    expectRatesAsTorch(out, torch.lrs);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.state.hyperparameters.lr).toBe(torch.lr);
  });
});

describe('--lr-schedule cosine and --warmup-steps', () => {
  it("warm up and anneal the rate step by step as PyTorch's SequentialLR of LinearLR and CosineAnnealingLR do", async () => {
    // 230 images in file order: 5 steps per epoch (the last of 30), 2 epochs: 3 steps of
    // warm-up, then a cosine over the other 7.
    const data = smallMnist(join(tmp, 'small-cosine'), 230, 10);
    const out = join(tmp, 'cosine.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--no-shuffle', '--optimizer', 'sgd', '--lr', '0.1', '--momentum', '0.5', '--lr-schedule', 'cosine', '--warmup-steps', '3', '--log-every', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('lr 0.1, momentum 0.5, dampening 0, weight decay 0, nesterov false; lr warmed up over 3 steps; lr to 0 by cosine annealing over 7 steps)');
    const torch = torchScheduled(
      'torch.optim.SGD(cnn.parameters(), lr=0.1, momentum=0.5)',
      'S.SequentialLR(optimizer, [S.LinearLR(optimizer, start_factor=1/3, total_iters=3), S.CosineAnnealingLR(optimizer, T_max=7)], milestones=[3])',
    );
    expectLossesAsTorch(out, torch.losses);
    expectRatesAsTorch(out, torch.lrs);
    // Each epoch line shows the rate of its last step.
    const shown = r.stdout.match(/^epoch \d done: .*; lr \S+$/gm)?.map((l) => Number(l.replace(/.*; lr /, '')));
    expect(shown).toHaveLength(2);
    for (const [i, lr] of shown!.entries()) expect(lr).toBeCloseTo(torch.lrs[5 * i + 4]!, 6);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.state.hyperparameters.lr).toBeCloseTo(torch.lr, 15);
    expect(saved.position).toMatchObject({ initialLr: 0.1, lrSchedule: 'cosine', warmupSteps: 3, scheduleSteps: 10 });
  });
});

describe('--lr-schedule onecycle', () => {
  it("raises and lowers the rate and cycles Adam's first beta as PyTorch's OneCycleLR does", async () => {
    // 230 images in file order: 5 steps per epoch (the last of 30), 2 epochs: the peak at step 3.
    const data = smallMnist(join(tmp, 'small-onecycle'), 230, 10);
    const out = join(tmp, 'onecycle.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--no-shuffle', '--lr', '0.004', '--lr-schedule', 'onecycle', '--log-every', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(lr 0.004, betas 0.95,0.999, eps 1e-8, weight decay 0; one cycle: lr from 0.00016 up to 0.004 at step 3, then down to');
    expect(r.stdout).toContain(' at step 10, beta1 from 0.95 to 0.85 and back)');
    const torch = torchScheduled('torch.optim.Adam(cnn.parameters(), lr=0.004)', 'S.OneCycleLR(optimizer, max_lr=0.004, total_steps=10)');
    expectLossesAsTorch(out, torch.losses);
    expectRatesAsTorch(out, torch.lrs);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.state.hyperparameters).toMatchObject({ betas: torch.betas });
    expect(saved.position).toMatchObject({ initialLr: 0.004, lrSchedule: 'onecycle', scheduleSteps: 10 });
  });

  it("takes SGD's --nesterov, the momentum cycled from 0.95, as PyTorch's OneCycleLR on SGD(momentum=0.9, nesterov=True)", async () => {
    const data = smallMnist(join(tmp, 'small-onecycle'), 230, 10);
    const out = join(tmp, 'onecycle-nesterov.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--no-shuffle', '--optimizer', 'sgd', '--nesterov', '--lr', '0.05', '--lr-schedule', 'onecycle', '--log-every', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const torch = torchScheduled('torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9, nesterov=True)', 'S.OneCycleLR(optimizer, max_lr=0.05, total_steps=10)');
    expectLossesAsTorch(out, torch.losses);
    expectRatesAsTorch(out, torch.lrs);
  });
});

describe('--label-smoothing and --max-grad-norm', () => {
  it("train as CrossEntropyLoss(label_smoothing=…) and clip_grad_norm_ do, and are saved for --resume", async () => {
    // 230 images in file order: 5 steps per epoch (the last of 30), 2 epochs; a max norm of 0.5
    // clips most steps' gradients (the seed CNN's start near norm 1-3).
    const data = smallMnist(join(tmp, 'small-smooth'), 230, 10);
    const out = join(tmp, 'smooth.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--no-shuffle', '--optimizer', 'sgd', '--lr', '0.1', '--label-smoothing', '0.2', '--max-grad-norm', '0.5', '--log-every', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(', label smoothing 0.2, gradients clipped to norm 0.5,');
    const torch = torchJson<{ losses: number[]; norms: number[] }>(`${PY_230}
optimizer = torch.optim.SGD(cnn.parameters(), lr=0.1)
losses, norms = [], []
for epoch in range(2):
    for bx, by in data.DataLoader(data.TensorDataset(x, y), batch_size=50):
        loss = torch.nn.CrossEntropyLoss(label_smoothing=0.2)(cnn(bx), by)
        optimizer.zero_grad(); loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(cnn.parameters(), 0.5).item())
        optimizer.step()
        losses.append(loss.item())
print(json.dumps({'losses': losses, 'norms': norms}))`);
    expect(torch.norms.filter((n) => n > 0.5).length).toBeGreaterThan(5);
    expectLossesAsTorch(out, torch.losses);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.position).toMatchObject({ labelSmoothing: 0.2, maxGradNorm: 0.5 });
  });
});

describe('the defaults reproduce the seed script', () => {
  it.each<{ name: string; flags: string[]; torch: string; frozen?: string }>([
    { name: 'Adam, the defaults', flags: [], torch: 'torch.optim.Adam(cnn.parameters(), lr=0.001)' },
    // PyTorch's fine-tuning idiom: requires_grad_(False) on the convolutions, the optimizer over the rest.
    { name: 'Adam, the convolutions frozen', flags: ['--freeze', 'conv*'], torch: 'torch.optim.Adam([p for p in cnn.parameters() if p.requires_grad], lr=0.001)', frozen: 'conv' },
    {
      name: 'SGD with momentum and weight decay',
      flags: ['--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9', '--weight-decay', '0.01'],
      torch: 'torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)',
    },
    // lr 1 by default, as PyTorch's.
    { name: 'Adadelta, its defaults', flags: ['--optimizer', 'adadelta'], torch: 'torch.optim.Adadelta(cnn.parameters())' },
    {
      name: 'AdamW with a weight decay large enough to show',
      flags: ['--optimizer', 'adamw', '--weight-decay', '0.5'],
      torch: 'torch.optim.AdamW(cnn.parameters(), lr=0.001, weight_decay=0.5)',
    },
    // The biases' own group keeps them from a decay that moves the other weights by 0.2% a step.
    {
      name: 'AdamW whose weight decay spares the biases',
      flags: ['--optimizer', 'adamw', '--weight-decay', '2', '--no-weight-decay', '*.bias'],
      torch: "torch.optim.AdamW([{'params': [p for n, p in cnn.named_parameters() if not n.endswith('.bias')]}, {'params': [p for n, p in cnn.named_parameters() if n.endswith('.bias')], 'weight_decay': 0}], lr=0.001, weight_decay=2)",
    },
    { name: 'Adam with betas and eps', flags: ['--betas', '0.8, 0.99', '--eps', '0.001'], torch: 'torch.optim.Adam(cnn.parameters(), lr=0.001, betas=(0.8, 0.99), eps=0.001)' },
    {
      name: 'SGD with Nesterov momentum',
      flags: ['--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9', '--nesterov'],
      torch: 'torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9, nesterov=True)',
    },
    {
      name: 'SGD with dampened momentum',
      flags: ['--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9', '--dampening', '0.5'],
      torch: 'torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9, dampening=0.5)',
    },
    // lr 0.01 by default, as PyTorch's.
    { name: 'RMSprop, its defaults', flags: ['--optimizer', 'rmsprop'], torch: 'torch.optim.RMSprop(cnn.parameters())' },
    { name: 'NAdam, its momentum decay', flags: ['--optimizer', 'nadam', '--momentum-decay', '0.01'], torch: 'torch.optim.NAdam(cnn.parameters(), momentum_decay=0.01, foreach=True)' },
    { name: 'RAdam, betas', flags: ['--optimizer', 'radam', '--betas', '0.8,0.99'], torch: 'torch.optim.RAdam(cnn.parameters(), betas=(0.8, 0.99))' },
    { name: 'Adamax, its defaults', flags: ['--optimizer', 'adamax'], torch: 'torch.optim.Adamax(cnn.parameters())' },
    {
      name: 'Adagrad with lr decay and initial accumulators',
      flags: ['--optimizer', 'adagrad', '--lr-decay', '0.1', '--initial-accumulator-value', '0.1'],
      torch: 'torch.optim.Adagrad(cnn.parameters(), lr_decay=0.1, initial_accumulator_value=0.1)',
    },
    {
      name: 'RMSprop centered, with momentum',
      flags: ['--optimizer', 'rmsprop', '--lr', '0.001', '--alpha', '0.9', '--momentum', '0.5', '--centered', '--eps', '1e-6'],
      torch: 'torch.optim.RMSprop(cnn.parameters(), lr=0.001, alpha=0.9, momentum=0.5, centered=True, eps=1e-6)',
    },
  ])('takes the same first steps as PyTorch: same init, same shuffled batches, $name', async ({ flags, torch: optimizer, frozen }) => {
    const out = join(tmp, `seed3-${flags.join('').replace(/[^a-z0-9]/gi, '')}.safetensors`);
    const r = await fovea(['train', '--steps', '3', '--log-every', '1', '--eval-limit', '10', ...flags, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const torch = torchJson<{ losses: number[]; mismatch: Record<string, number> }>(`${PY}
import torch.utils.data as data
x = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28)).float() / 255.
y = idx('${MNIST_FILES.trainLabels}', 8, (60000,)).long()
torch.manual_seed(1)
cnn = CNN()
${frozen ? `for n, p in cnn.named_parameters(): p.requires_grad_(not n.startswith('${frozen}'))` : ''}
optimizer = ${optimizer}
loader = data.DataLoader(data.TensorDataset(x, y), batch_size=50, shuffle=True)
losses = []
for i, (bx, by) in enumerate(loader):
    loss = torch.nn.CrossEntropyLoss()(cnn(bx), by)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    losses.append(loss.item())
    if i == 2: break
ours = st_read(${JSON.stringify(out)})
# Adam's first steps move each weight by about lr·sign(gradient), so a gradient that rounds to
# the other sign moves one weight the other way: count weights off by more than 1e-5.
mismatch = {k: int(((ours[k] - v).abs() > 1e-5).sum()) for k, v in cnn.state_dict().items()}
print(json.dumps({'losses': losses, 'mismatch': mismatch}))`);
    const losses = readJsonl(out.replace('.safetensors', '.metrics.jsonl')).filter((m) => 'loss' in m).map((m) => m.loss!);
    expect(losses).toHaveLength(3);
    losses.forEach((l, i) => expect(Math.abs(l - torch.losses[i]!), `loss of step ${i + 1}`).toBeLessThan(1e-4));
    const off = Object.values(torch.mismatch).reduce((a, b) => a + b, 0);
    console.log(`first 3 steps vs PyTorch: losses ${losses.join(', ')} vs ${torch.losses.join(', ')}; ${off} weights off by > 1e-5`);
    expect(off, JSON.stringify(torch.mismatch)).toBeLessThanOrEqual(30); // of 28938 weights
  });
});

describe('--augment-rotate, --augment-translate, --augment-scale and --augment-shear', () => {
  it("transform each training image as torchvision's RandomAffine on tensors in a shuffled DataLoader: the same first steps as PyTorch", async () => {
    const out = join(tmp, 'augmented.safetensors');
    const r = await fovea(['train', '--steps', '4', '--log-every', '1', '--eval-limit', '10', '--augment-rotate', '15', '--augment-translate', '0.1,0.15', '--augment-scale', '0.85,1.1', '--augment-shear', '5', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(', augmentation (rotation ±15°, shift up to 0.1×0.15 of the size, scale 0.85 to 1.1, shear ±5°), seed 1');
    const torch = torchJson<{ losses: number[]; mismatch: Record<string, number>; unaugmented: number[] }>(`${PY}
import torch.utils.data as data
import torchvision.transforms as T
x = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28)).float() / 255.
y = idx('${MNIST_FILES.trainLabels}', 8, (60000,)).long()
class Augmented(data.Dataset):
    def __init__(self, t): self.t = t
    def __len__(self): return len(y)
    def __getitem__(self, i): return self.t(x[i]), y[i]
def steps(t):
    torch.manual_seed(1)
    cnn = CNN()
    optimizer = torch.optim.Adam(cnn.parameters(), lr=0.001)
    losses = []
    for i, (bx, by) in enumerate(data.DataLoader(Augmented(t), batch_size=50, shuffle=True)):
        loss = torch.nn.CrossEntropyLoss()(cnn(bx), by)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
        if i == 3: return cnn, losses
cnn, losses = steps(T.RandomAffine(degrees=15, translate=(0.1, 0.15), scale=(0.85, 1.1), shear=5))
ours = st_read(${JSON.stringify(out)})
mismatch = {k: int(((ours[k] - v).abs() > 1e-5).sum()) for k, v in cnn.state_dict().items()}
print(json.dumps({'losses': losses, 'mismatch': mismatch, 'unaugmented': steps(lambda t: t)[1]}))`);
    const losses = readJsonl(out.replace('.safetensors', '.metrics.jsonl')).filter((m) => 'loss' in m).map((m) => m.loss!);
    expect(losses).toHaveLength(4);
    losses.forEach((l, i) => expect(Math.abs(l - torch.losses[i]!), `loss of step ${i + 1}`).toBeLessThan(1e-4));
    // The augmentation shows: the losses are not those of the images as they are.
    expect(Math.abs(torch.losses[3]! - torch.unaugmented[3]!)).toBeGreaterThan(1e-3);
    const off = Object.values(torch.mismatch).reduce((a, b) => a + b, 0);
    console.log(`augmented steps vs PyTorch: losses ${losses.join(', ')} vs ${torch.losses.join(', ')}; ${off} weights off by > 1e-5`);
    expect(off, JSON.stringify(torch.mismatch)).toBeLessThanOrEqual(30);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.position?.augment).toEqual({ degrees: 15, translate: [0.1, 0.15], scale: [0.85, 1.1], shear: 5 });
  });

  it('draw after the DataLoader\'s base seed of each epoch in file order too (--no-shuffle), as PyTorch', async () => {
    // 120 images, batches of 50: an epoch of 3 steps, the second epoch's augmentation after its base seed.
    // Plain SGD: Adam's first steps turn last-bit differences of near-zero gradients into whole
    // steps of lr, so by step 5 a GPU's sums part from PyTorch's CPU (7e-4 in the loss on an H200).
    const data = smallMnist(join(tmp, 'small-augment'), 120, 10);
    const out = join(tmp, 'augmented-in-order.safetensors');
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--no-shuffle', '--log-every', '1', '--augment-rotate', '30', '--optimizer', 'sgd', '--lr', '0.05', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const torch = torchJson<{ losses: number[] }>(`${PY}
import torch.utils.data as data
import torchvision.transforms as T
x = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28))[:120].float() / 255.
y = idx('${MNIST_FILES.trainLabels}', 8, (60000,))[:120].long()
t = T.RandomAffine(degrees=30)
class Augmented(data.Dataset):
    def __len__(self): return len(y)
    def __getitem__(self, i): return t(x[i]), y[i]
torch.manual_seed(1)
cnn = CNN()
optimizer = torch.optim.SGD(cnn.parameters(), lr=0.05)
losses = []
for epoch in range(2):
    for bx, by in data.DataLoader(Augmented(), batch_size=50):
        loss = torch.nn.CrossEntropyLoss()(cnn(bx), by)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
print(json.dumps({'losses': losses}))`);
    expectLossesAsTorch(out, torch.losses);
  });
});

describe('PyTorch-written weights', () => {
  it("load into fovea, and eval predicts as PyTorch does, in F32 and in F16, BF16 and F64, and from torch.save, in its legacy format too", async () => {
    const file = join(tmp, 'torch.safetensors');
    const mixed = join(tmp, 'torch-dtypes.safetensors');
    const saved = join(tmp, 'torch-saved.pt');
    const legacy = join(tmp, 'torch-legacy.pth');
    // A few Adam steps in PyTorch (file order), so predictions are decided, not coin flips.
    type Result = { accuracy: number; loss: number; predictions: number[] };
    const torch = torchJson<Result & { mixed: Result }>(`${PY}
x_train = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28))[:1000].float() / 255.
y_train = idx('${MNIST_FILES.trainLabels}', 8, (60000,))[:1000].long()
torch.manual_seed(3)
cnn = CNN()
optimizer = torch.optim.Adam(cnn.parameters(), lr=0.002)
for i in range(20):
    loss = torch.nn.CrossEntropyLoss()(cnn(x_train[i * 50:(i + 1) * 50]), y_train[i * 50:(i + 1) * 50])
    optimizer.zero_grad(); loss.backward(); optimizer.step()
st_write(${JSON.stringify(file)}, cnn.state_dict())
torch.save(cnn.state_dict(), ${JSON.stringify(saved)})
torch.save(cnn.state_dict(), ${JSON.stringify(legacy)}, _use_new_zipfile_serialization=False)
x, y = test_set(1000)
def result():
    with torch.no_grad():
        logits = cnn(x)
    pred = logits.argmax(1)
    return {'accuracy': (pred == y).float().mean().item(), 'loss': torch.nn.functional.cross_entropy(logits, y).item(), 'predictions': pred.tolist()}
f32 = result()
dtypes = {'conv1.0.weight': 'F16', 'conv1.0.bias': 'BF16', 'conv2.0.weight': 'BF16', 'conv2.0.bias': 'F64', 'out.weight': 'F16'}
st_write(${JSON.stringify(mixed)}, cnn.state_dict(), dtypes)
# What load_state_dict into a float32 model makes of them: the values rounded to each dtype.
cast = {'F16': torch.float16, 'BF16': torch.bfloat16, 'F64': torch.float64}
with torch.no_grad():
    for k, p in cnn.state_dict().items():
        if k in dtypes: p.copy_(p.to(cast[dtypes[k]]).float())
print(json.dumps({**f32, 'mixed': result()}))`);
    for (const [path, want] of [[file, torch], [mixed, torch.mixed], [saved, torch], [legacy, torch]] as const) {
      const r = await fovea(['eval', '--checkpoint', path, '--json', '--limit', '1000']);
      expect(r.code, r.stderr).toBe(0);
      const ours = JSON.parse(r.stdout) as EvalJson;
      const diff = differing(ours.predictions, want.predictions);
      console.log(`PyTorch weights in fovea (${path}): accuracy ${ours.accuracy} vs PyTorch ${want.accuracy}, loss ${ours.loss} vs ${want.loss}, ${diff} predictions differ`);
      expect(diff, 'predictions that differ from PyTorch').toBeLessThanOrEqual(3);
      expect(Math.abs(want.accuracy - ours.accuracy)).toBeLessThanOrEqual(diff / 1000 + 1e-6);
      expect(Math.abs(ours.loss - want.loss), `loss ${ours.loss} vs PyTorch ${want.loss}`).toBeLessThan(2e-6 * want.loss);
    }
    // The F16 and BF16 rounding moves the loss past that tolerance: the test sees it.
    expect(Math.abs(torch.mixed.loss - torch.loss)).toBeGreaterThan(1e-5 * torch.loss);
  });
});

describe('--resume', () => {
  // 230 training images: 5 steps per epoch, the last of 30 images, so 13 steps cross two epoch
  // boundaries and the resumed run must replay the generator's epoch draws.
  const data = join(tmp, 'small');
  const common = ['--data', data, '--epochs', '3', '--steps', '13', '--log-every', '1'];
  const file = (name: string) => readFileSync(join(tmp, name));
  beforeAll(() => void smallMnist(data, 230, 50));

  it('k steps then --resume to 2k gives the bytes of one 2k-step run', async () => {
    const whole = await fovea(['train', ...common, '--out', 'whole.safetensors']);
    expect(whole.code, whole.stderr).toBe(0);
    const first = await fovea(['train', ...common, '--steps', '7', '--out', 'split.safetensors']);
    expect(first.code, first.stderr).toBe(0);
    const rest = await fovea(['train', ...common, '--resume', '--out', 'split.safetensors']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toContain('resuming at step 7 (epoch 2, step 2 of 5)');
    expect(Buffer.compare(file('split.safetensors'), file('whole.safetensors'))).toBe(0);
    expect(Buffer.compare(file('split.optim.safetensors'), file('whole.optim.safetensors'))).toBe(0);
    // The metrics log continues: every step once, evaluations after epochs 1 and 2 and at the end.
    const metrics = readJsonl(join(tmp, 'split.metrics.jsonl'));
    const losses = metrics.filter((m) => 'loss' in m);
    expect(losses.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    // The training time goes on from the first run's, not from 0 again.
    const elapsed = losses.map((m) => m.elapsedSec!);
    expect(elapsed).toEqual([...elapsed].sort((a, b) => a - b));
    expect(metrics.filter((m) => 'testAccuracy' in m).map((m) => [m.epoch, m.step])).toEqual([[1, 5], [2, 7], [2, 10], [3, 13]]);
  });

  it('a model with dropout drops in training, not in evaluation, and resumes with its masks where they stood', async () => {
    const specFile = (p: number) => {
      const path = join(tmp, `dropout-${p}.json`);
      const layers = [{ type: 'flatten' }, { type: 'linear', name: 'fc', outFeatures: 24 }, { type: 'relu' }, { type: 'dropout', p }, { type: 'linear', name: 'out', outFeatures: 10 }];
      writeFileSync(path, JSON.stringify({ input: [1, 28, 28], layers: p ? layers : layers.filter((l) => l.type !== 'dropout') }));
      return path;
    };
    const args = [...common, '--model', specFile(0.5)];
    const whole = await fovea(['train', ...args, '--out', 'dropout-whole.safetensors']);
    expect(whole.code, whole.stderr).toBe(0);
    const first = await fovea(['train', ...args, '--steps', '7', '--out', 'dropout-split.safetensors']);
    expect(first.code, first.stderr).toBe(0);
    const rest = await fovea(['train', ...args, '--resume', '--out', 'dropout-split.safetensors']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(Buffer.compare(file('dropout-split.safetensors'), file('dropout-whole.safetensors'))).toBe(0);
    // Without the dropout layer, training takes another course (batches in file order for both:
    // the dropout model's generator draws its seed from the stream that shuffles).
    const inOrder = await Promise.all(
      [0.5, 0].map(async (p) => {
        const r = await fovea(['train', '--data', data, '--steps', '3', '--no-shuffle', '--model', specFile(p), '--out', `dropout-in-order-${p}.safetensors`]);
        expect(r.code, r.stderr).toBe(0);
        return parseSafetensors(file(`dropout-in-order-${p}.safetensors`), `p ${p}`).tensors.get('fc.weight')!.data;
      }),
    );
    expect(inOrder[0]).not.toEqual(inOrder[1]);
    // Evaluated, the weights give what they give without the layer: nothing is dropped.
    const evaluated = await Promise.all(
      [[], ['--model', specFile(0)]].map(async (model) => {
        const r = await fovea(['eval', '--data', data, '--json', '--checkpoint', join(tmp, 'dropout-whole.safetensors'), ...model]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as { loss: number; predictions: number[] };
      }),
    );
    expect(evaluated[0]).toEqual(evaluated[1]);
    const image = png(join(tmp, 'dropout-digit.png'), Uint8Array.from({ length: 784 }, (_, i) => (i * 37) % 256));
    const predicted = await Promise.all(
      [[], ['--model', specFile(0)]].map(async (model) => {
        const r = await fovea(['predict', '--json', '--checkpoint', join(tmp, 'dropout-whole.safetensors'), ...model, image]);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as unknown;
      }),
    );
    expect(predicted[0]).toEqual(predicted[1]);
  });

  it('continues bit-identically after Ctrl-C (exit 130)', async () => {
    let sent = false; // a second Ctrl-C quits without saving
    const stopped = await fovea(['train', ...common, '--out', 'sigint.safetensors'], {
      onStdout: (all, kill) => {
        if (!sent && /^step 2\//m.test(all)) {
          sent = true;
          kill();
        }
      },
    });
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130);
    expect(stopped.stdout).toMatch(/interrupted at step \d+; continue with the same command and --resume/);
    const rest = await fovea(['train', ...common, '--resume', '--out', 'sigint.safetensors']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(Buffer.compare(file('sigint.safetensors'), file('whole.safetensors'))).toBe(0);
  });

  it('after Ctrl-C of a run begun with --init, says to resume without it (--resume takes the weights from the checkpoint)', async () => {
    let sent = false;
    const stopped = await fovea(['train', ...common, '--init', 'whole.safetensors', '--out', 'sigint-init.safetensors'], {
      onStdout: (all, kill) => {
        if (!sent && /^step 2\//m.test(all)) {
          sent = true;
          kill();
        }
      },
    });
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130);
    expect(stopped.stdout).toMatch(/interrupted at step \d+; continue with the same command without --init and --resume/);
    const rest = await fovea(['train', ...common, '--resume', '--out', 'sigint-init.safetensors']);
    expect(rest.code, rest.stderr).toBe(0);
  });

  it('Ctrl-C during an evaluation stops it: the checkpoint is saved without it, exit 130', async () => {
    // MNIST's 10,000 test images take seconds on a CPU adapter: the signal lands in their evaluation.
    let sent = false;
    const stopped = await fovea(['train', '--steps', '2', '--log-every', '1', '--out', 'sigint-eval.safetensors'], {
      onStdout: (all, kill) => {
        if (!sent && /^step 2\/2/m.test(all)) {
          sent = true;
          kill();
        }
      },
    });
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130);
    expect(stopped.stdout).toContain('not evaluated (stopped by a signal)');
    expect(stopped.stdout).toMatch(/interrupted; the checkpoint holds all 2 steps, not evaluated \(fovea eval --checkpoint .*sigint-eval\.safetensors measures it\)/);
    expect(stopped.stdout).not.toContain('final test accuracy');
    expect(file('sigint-eval.safetensors').length).toBeGreaterThan(100_000);
  });

  it('continues bit-identically after SIGTERM (exit 143), which stops as Ctrl-C does', async () => {
    let sent = false;
    const stopped = await fovea(['train', ...common, '--out', 'sigterm.safetensors'], {
      onStdout: (all, _, child) => {
        if (!sent && /^step 2\//m.test(all)) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(143);
    expect(stopped.stderr).toContain('fovea train: SIGTERM; stopping after this step and saving a checkpoint');
    expect(stopped.stdout).toMatch(/interrupted at step \d+; continue with the same command and --resume/);
    const rest = await fovea(['train', ...common, '--resume', '--out', 'sigterm.safetensors']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(Buffer.compare(file('sigterm.safetensors'), file('whole.safetensors'))).toBe(0);
  });

  it('outlives the pipe it prints to: `| head` lets it finish, and Ctrl-C that also ends a `| tee` still saves', async () => {
    // 13 steps; the pipes closed after step 2, stderr too with the Ctrl-C.
    for (const [name, signal] of [['closed-pipe', undefined], ['closed-pipe-sigint', 'SIGINT']] as const) {
      const out = join(tmp, `${name}.safetensors`);
      let closed = false;
      const r = await fovea(['train', ...common, '--out', out], {
        onStdout: (all, _, child) => {
          if (closed || !/^step 2\//m.test(all)) return;
          closed = true;
          child.stdout.destroy();
          if (!signal) return;
          child.stderr.destroy();
          child.kill(signal);
        },
      });
      expect(r.code, `${name}: ${r.stderr}`).toBe(signal ? 130 : 0);
      expect(r.stderr, name).not.toContain('EPIPE');
      const steps = (await readOptimizerState(out, await readCheckpoint(out))).state.stepCount;
      if (signal) expect(steps, name).toBeLessThan(13);
      else expect(steps, name).toBe(13);
      expect(steps, name).toBeGreaterThanOrEqual(2);
    }
  });

  it('resumes from optimizer state with infinities (an overflowed second moment), not with NaN or a negative second moment', async () => {
    const { tensors, metadata } = parseSafetensors(file('whole.optim.safetensors'), 'whole.optim.safetensors');
    const edited = (name: string, value: number) => {
      const copy = [...tensors].map(([k, t]): [string, { shape: number[]; data: Float32Array }] => [k, { shape: [...t.shape], data: Float32Array.from(t.data) }]);
      copy.find(([k]) => k === name)![1].data.fill(value, 0, 2);
      return serializeSafetensors(copy, metadata);
    };
    const cases = [
      ['conv1.0.bias.exp_avg_sq', Infinity, ''],
      ['conv1.0.weight.exp_avg', NaN, 'tensor "conv1.0.weight.exp_avg" holds 2 NaN values (of 400), which no training step saves beside finite weights'],
      ['conv2.0.weight.exp_avg_sq', -1, 'tensor "conv2.0.weight.exp_avg_sq" holds -1 at element 0, which no training step saves: a second moment (a sum of squares) is never negative'],
    ] as const;
    for (const [k, [name, value, why]] of cases.entries()) {
      const out = `edited-${k}.safetensors`;
      writeFileSync(join(tmp, out), file('whole.safetensors')); // the model the state was saved with
      writeFileSync(join(tmp, `edited-${k}.optim.safetensors`), edited(name, value));
      const r = await fovea(['train', '--data', data, '--epochs', '3', '--steps', '14', '--resume', '--out', out]);
      expect(r.code, r.stderr).toBe(why ? 1 : 0);
      if (why) expect(errLines(r)[0]).toContain(`edited-${k}.optim.safetensors: ${why}`);
    }
  });

  it('refuses flags that contradict the checkpoint', async () => {
    const r = await fovea(['train', ...common, '--resume', '--batch-size', '10', '--out', 'whole.safetensors']);
    expect(r.code).toBe(2);
    expect(errLines(r)[0]).toContain('--batch-size conflicts with the checkpoint being resumed');
  });

  it('says why there is nothing to do when the checkpoint is past the end of the run', async () => {
    const r = await fovea(['train', '--data', data, '--epochs', '2', '--resume', '--out', 'whole.safetensors']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing to do: already at step 13; the run ends at step 10 (--epochs 2, 5 steps each)');
    expect(r.stdout).not.toContain('note:');
  });

  it('--no-shuffle trains on batches in file order', async () => {
    // Batch k is images 50k..50k+49: each step's loss (taken before its update) and the weights
    // after three SGD steps match PyTorch's steps on x[0:50], x[50:100], x[100:150].
    const out = join(tmp, 'noshuffle.safetensors');
    const r = await fovea(['train', '--data', data, '--no-shuffle', '--steps', '3', '--log-every', '1', '--optimizer', 'sgd', '--lr', '0.1', '--eval-limit', '10', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const torch = torchJson<{ losses: number[]; err: number }>(`${PY}
x = idx('${MNIST_FILES.trainImages}', 16, (60000, 1, 28, 28))[:150].float() / 255.
y = idx('${MNIST_FILES.trainLabels}', 8, (60000,))[:150].long()
torch.manual_seed(1)
cnn = CNN()
optimizer = torch.optim.SGD(cnn.parameters(), lr=0.1)
losses = []
for k in range(3):
    loss = torch.nn.CrossEntropyLoss()(cnn(x[50 * k:50 * k + 50]), y[50 * k:50 * k + 50])
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    losses.append(loss.item())
ours = st_read(${JSON.stringify(out)})
print(json.dumps({'losses': losses, 'err': max(float((ours[k] - v).abs().max()) for k, v in cnn.state_dict().items())}))`);
    const losses = readJsonl(join(tmp, 'noshuffle.metrics.jsonl')).filter((m) => 'loss' in m).map((m) => m.loss!);
    expect(losses).toHaveLength(3);
    losses.forEach((l, k) => expect(Math.abs(l - torch.losses[k]!), `loss of batch ${k}`).toBeLessThan(1e-4));
    expect(torch.err).toBeLessThan(1e-4);
  });
});
