// `fovea train` in-process, where a test can stand in for the user and the file system: a run
// that fails in a later epoch keeps the checkpoint of its last finished epoch, a second
// Ctrl-C while a checkpoint is being saved quits only once it is written, SIGTERM stops as a
// first Ctrl-C does, a metrics log on a full disk stops the run with its checkpoint saved, no
// output lands on an input, a resumed optimizer file's bad settings are blamed on the file, not
// on flags, and flags that contradict its settings are refused.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkpointPaths, readCheckpoint, readOptimizerState, saveCheckpoint } from '../src/model/checkpoint.js';
import { parseCheckpoint } from '../src/model/checkpoint-format.js';
import { writeZip } from '../src/model/zip.js';
import { parseSafetensors, serializeSafetensors } from '../src/model/safetensors.js';
import { FileReadError, FileWriteError } from '../src/model/files.js';
import { defaultMnistDir } from '../src/mnist/files.js';
import { FlagError, train, type TrainOptions } from '../src/mnist/train-cli.js';
import { DeviceLimitError, FileFormatError, SpecError } from '../src/runtime/errors.js';
import { smallMnist } from './mnist-fixtures.js';

vi.mock('../src/model/checkpoint.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/model/checkpoint.js')>();
  return { ...real, saveCheckpoint: vi.fn(real.saveCheckpoint) };
});
const { saveCheckpoint: realSave } = await vi.importActual<typeof import('../src/model/checkpoint.js')>('../src/model/checkpoint.js');
// The metrics log appends with writeSync: a test makes one fail as a full disk does.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, writeSync: vi.fn(real.writeSync) };
});
const { writeSync: realWriteSync } = await vi.importActual<typeof import('node:fs')>('node:fs');

const tmp = mkdtempSync(join(tmpdir(), 'fovea-train-'));
const data = join(tmp, 'small');

/** The first 230 training images (5 steps of 50 per epoch) and 50 test images of MNIST. */
beforeAll(() => void smallMnist(data, 230, 50));

afterEach(() => void vi.restoreAllMocks());

const options = (out: string, more: Partial<TrainOptions> = {}): TrainOptions => ({
  data,
  epochs: 1,
  batchSize: 50,
  optimizer: 'adam',
  lr: 0.001,
  lrSchedule: 'step',
  lrGamma: 1,
  warmupSteps: 0,
  momentum: 0,
  weightDecay: 0,
  labelSmoothing: 0,
  seed: 1,
  shuffle: true,
  out,
  resume: false,
  logEvery: 1,
  given: new Set(),
  ...more,
});

const readJsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

/** A CommandIO whose stdout calls `onText` with everything written so far; `err.text` is what went to stderr. */
function io(onText: (all: string) => void = () => undefined) {
  let all = '';
  const err = { text: '' };
  return {
    stdout: {
      write: (s: string) => {
        all += s;
        onText(all);
      },
    },
    stderr: { write: (s: string) => void (err.text += s) },
    err,
  };
}

/** Sends `signal` to the handler a run added since `signals()` was called, as the process would. */
function signals() {
  const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM'), ...process.listeners('SIGHUP')]);
  return (signal: NodeJS.Signals) => process.listeners(signal).find((l) => !before.has(l))!(signal);
}

/** process.exit, recording its code and throwing as a real exit would stop everything after it. */
function fakeExit(): { codes: number[]; exited: Error } {
  const exited = new Error('process.exit');
  const codes: number[] = [];
  vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
    codes.push(code);
    throw exited;
  }) as never);
  return { codes, exited };
}

describe('fovea train', () => {
  it('keeps the checkpoint of the last finished epoch when a later epoch fails', async () => {
    const out = join(tmp, 'epochs.safetensors');
    const failure = new Error('the run dies in epoch 2');
    const run = train(options(out, { epochs: 3 }), io((all) => {
      if (/^epoch 2 done/m.test(all)) throw failure;
    }));
    await expect(run).rejects.toBe(failure);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect([saved.position, saved.state.stepCount]).toMatchObject([{ epoch: 1, stepInEpoch: 0 }, 5]);
  });

  it('a run that fails before saving leaves the checkpoint and its metrics log as they were', async () => {
    const out = join(tmp, 'kept.safetensors');
    const paths = checkpointPaths(out);
    expect(await train(options(out, { steps: 2 }), io())).toBe(0);
    const files = [paths.model, paths.optimizer, paths.metrics].map((f) => readFileSync(f));
    expect(readJsonl(paths.metrics).map((r) => r.step)).toEqual([1, 2, 2]); // two losses, one evaluation
    // A new run on the same --out diverges at its second step, before its first save.
    // It says that --out still holds the earlier run's checkpoint, not that nothing is there.
    const err = await train(options(out, { steps: 3, optimizer: 'sgd', lr: 1e30 }), io()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^training diverged by step 2: .*; \S+kept\.safetensors keeps an earlier run's checkpoint \(a smaller --lr may help\)$/);
    expect([paths.model, paths.optimizer, paths.metrics].map((f) => readFileSync(f))).toEqual(files);
  });

  it("refuses an --out another live run holds, takes over a dead run's lock, and leaves none behind", async () => {
    const out = join(tmp, 'locked.safetensors');
    const lock = `${out}.lock`;
    writeFileSync(lock, `${process.ppid}\n`); // a live process: this one's parent
    await expect(train(options(out, { steps: 1 }), io())).rejects.toThrow(`cannot write ${out}: another process (${process.ppid}) is writing it and holds ${lock}`);
    expect(existsSync(out)).toBe(false);
    // A process that has ended: its lock is stale.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(lock, `${dead}\n`);
    expect(await train(options(out, { steps: 1 }), io())).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  it('takes the lock before --resume reads the checkpoint, which a run holding it may be saving', async () => {
    const out = join(tmp, 'locked-resume.safetensors');
    const lock = `${out}.lock`;
    writeFileSync(lock, `${process.ppid}\n`); // a live run, its checkpoint not yet (or half) saved
    await expect(train(options(out, { steps: 1, resume: true }), io())).rejects.toThrow(`cannot write ${out}: another process (${process.ppid}) is writing it`);
    rmSync(lock);
    // Without the lock, a failure while reading releases it.
    await expect(train(options(out, { steps: 1, resume: true }), io())).rejects.toThrow('cannot read checkpoint');
    expect(existsSync(lock)).toBe(false);
  });

  it('a second Ctrl-C while saving quits (130) only once the checkpoint is written', async () => {
    const out = join(tmp, 'sigint.safetensors');
    const events: string[] = [];
    const exited = new Error('process.exit');
    vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      events.push(`exit ${code}`);
      throw exited; // as a real exit, nothing after it runs
    }) as never);
    const before = new Set(process.listeners('SIGINT'));
    const ctrlC = () => {
      events.push('Ctrl-C');
      process.listeners('SIGINT').find((l) => !before.has(l))!('SIGINT');
    };
    vi.mocked(saveCheckpoint).mockImplementationOnce(async (...args) => {
      events.push('save begins');
      ctrlC();
      await new Promise((r) => setTimeout(r, 100));
      await realSave(...args);
      events.push('save ends');
    });
    let sent = false;
    const run = train(options(out), io((all) => {
      if (!sent && /^step 2\//m.test(all)) {
        sent = true;
        ctrlC();
      }
    }));
    await expect(run).rejects.toBe(exited);
    expect(events).toEqual(['Ctrl-C', 'save begins', 'Ctrl-C', 'save ends', 'exit 130']);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.state.stepCount).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('stops on %s after the step and saves, as on a first Ctrl-C, returning %i and releasing its lock', async (signal, code) => {
    const out = join(tmp, `${signal}.safetensors`);
    const send = signals();
    const before = new Set(process.listeners(signal));
    let sent = false;
    const output = io((all) => {
      if (!sent && /^step 2\//m.test(all)) {
        sent = true;
        send(signal);
      }
    });
    expect(await train(options(out, { epochs: 3 }), output)).toBe(code);
    expect(output.err.text).toContain(`fovea train: ${signal}; stopping after this step and saving a checkpoint (another signal quits now)`);
    expect((await readOptimizerState(out, await readCheckpoint(out))).state.stepCount).toBe(2);
    expect(existsSync(`${out}.lock`)).toBe(false);
    expect(process.listeners(signal).filter((l) => !before.has(l))).toEqual([]);
  });

  it('quits at once on a second signal, saying what --out keeps', async () => {
    const out = join(tmp, 'quit-now.safetensors');
    const cases: [string, RegExp, NodeJS.Signals[], number, string][] = [
      // At step 2 of a first run: nothing saved yet.
      ['SIGTERM then Ctrl-C', /^step 2\//m, ['SIGTERM', 'SIGINT'], 130, 'fovea train: interrupted; quitting now; nothing was saved'],
      // Epoch 1 (5 steps) saved, at step 7.
      ['Ctrl-C twice', /^step 7\//m, ['SIGINT', 'SIGINT'], 130, `fovea train: interrupted again; quitting now; ${out} keeps step 5`],
      // The checkpoint of the run before.
      ['SIGHUP twice', /^step 2\//m, ['SIGHUP', 'SIGHUP'], 129, `fovea train: SIGHUP again; quitting now; ${out} keeps an earlier run's checkpoint`],
    ];
    for (const [what, at, sequence, code, line] of cases) {
      const { codes, exited } = fakeExit();
      const send = signals();
      let sent = false;
      const output = io((all) => {
        if (!sent && at.test(all)) {
          sent = true;
          for (const s of sequence) send(s);
        }
      });
      await expect(train(options(out, { epochs: 2 }), output), what).rejects.toBe(exited);
      expect(codes, what).toEqual([code]);
      expect(output.err.text.trim().split('\n').at(-1), what).toBe(line);
      expect(existsSync(`${out}.lock`), what).toBe(false);
      vi.restoreAllMocks();
    }
  });

  it('says so when --steps goes past the last epoch, stops there, and logs that last step whatever --log-every', async () => {
    let printed = '';
    const out = join(tmp, 'past.safetensors');
    await train(options(out, { steps: 8, logEvery: 2 }), io((all) => (printed = all)));
    expect(printed).toContain('note: --steps 8 goes past the end of epoch 1 (5 steps each): stopping at step 5; --epochs sets how many epochs');
    expect(printed).toMatch(/^trained 5 steps/m);
    // Epochs count from 1 in the log, as in evaluation records and on the terminal.
    const losses = readJsonl(checkpointPaths(out).metrics).filter((r) => 'loss' in r);
    expect(losses.map((r) => [r.step, r.epoch])).toEqual([[2, 1], [4, 1], [5, 1]]);
  });

  it('logs the step a Ctrl-C stops at, whatever --log-every, so a resumed run counts its time from there', async () => {
    const out = join(tmp, 'stopped.safetensors');
    const before = new Set(process.listeners('SIGINT'));
    let sent = false;
    // Stopped as epoch 1 ends (5 steps each): its step 5 is one --log-every 100 does not log.
    const code = await train(options(out, { logEvery: 100, epochs: 3 }), io((all) => {
      if (!sent && /^epoch 1 done/m.test(all)) {
        sent = true;
        process.listeners('SIGINT').find((l) => !before.has(l))!('SIGINT');
      }
    }));
    expect(code).toBe(130);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    const losses = readJsonl(checkpointPaths(out).metrics).filter((r) => 'loss' in r);
    expect(saved.state.stepCount).toBe(5);
    expect(losses.map((r) => r.step)).toEqual([5]);
  });

  it('logs samples/s from the images each step took (a last partial batch counts as its size)', async () => {
    const out = join(tmp, 'rate.safetensors');
    await train(options(out, { batchSize: 200 }), io()); // 230 images: steps of 200 and 30
    const steps = readJsonl(checkpointPaths(out).metrics).filter((r) => 'loss' in r);
    expect(steps.map((r) => r.step)).toEqual([1, 2]);
    // rate × the time since the last record = the images in between.
    const images = steps.map((r, i) => r.samplesPerSec! * (r.elapsedSec! - (i ? steps[i - 1]!.elapsedSec! : 0)));
    expect(images.map(Math.round)).toEqual([200, 30]);
  });

  it("logs an epoch's first samples/s without the time the last one took to evaluate and save", async () => {
    const out = join(tmp, 'rate-epochs.safetensors');
    vi.mocked(saveCheckpoint).mockImplementation(async (...args) => {
      await new Promise((r) => setTimeout(r, 1000));
      return realSave(...args);
    });
    await train(options(out, { epochs: 2 }), io());
    const steps = readJsonl(checkpointPaths(out).metrics).filter((r) => 'loss' in r);
    const [s5, s6] = [steps[4]!, steps[5]!];
    expect([s5.step, s6.step]).toEqual([5, 6]);
    // The second of wall time between them is epoch 1's save, which step 6's rate leaves out
    // (compared with the gap, not a fixed time: a busy machine takes longer for the step too).
    const gap = s6.elapsedSec! - s5.elapsedSec!;
    expect(gap).toBeGreaterThan(1);
    expect(50 / s6.samplesPerSec!).toBeLessThan(gap - 0.9);
  });

  it('a metrics log that can no longer be written (a full disk) stops the run, which saves its checkpoint and names the log', async () => {
    const out = join(tmp, 'full-disk.safetensors');
    const { metrics } = checkpointPaths(out);
    // The first append after the first save (epoch 1, 5 steps) fails: the record of step 6,
    // of which the disk takes 10 bytes before it is full.
    vi.mocked(writeSync).mockImplementation(((fd: number, data: Uint8Array, offset = 0) => {
      if (!Buffer.from(data).toString().includes('"step":6,')) return realWriteSync(fd, data, offset);
      if (offset === 0) return realWriteSync(fd, data, 0, 10);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }) as typeof writeSync);
    try {
      const err = await train(options(out, { epochs: 3 }), io()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileWriteError);
      expect((err as FileWriteError).path).toBe(metrics);
      expect((err as Error).message).toBe(`cannot write ${metrics}: appending the record of step 6: ENOSPC: no space left on device, write (the records before it are kept; ${out} keeps step 6)`);
    } finally {
      vi.mocked(writeSync).mockImplementation(realWriteSync);
    }
    // Saved at the step the log failed at, which --resume continues from.
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect([saved.position, saved.state.stepCount]).toMatchObject([{ epoch: 1, stepInEpoch: 1 }, 6]);
    // The torn record was cut off: the log ends with whole records.
    expect(readFileSync(metrics, 'utf8').endsWith('}\n')).toBe(true);
    expect(readJsonl(metrics).map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 5]);
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it('a plot that cannot be written after the checkpoint was says the checkpoint holds that step', async () => {
    const out = join(tmp, 'plot-fails.safetensors');
    const { plot } = checkpointPaths(out);
    // Something the rename cannot replace appears at the plot's path once the checkpoint is saved.
    vi.mocked(saveCheckpoint).mockImplementation(async (...args) => {
      await realSave(...args);
      mkdirSync(plot, { recursive: true });
    });
    try {
      const err = await train(options(out, { steps: 3 }), io()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileWriteError);
      expect((err as FileWriteError).path).toBe(plot);
      expect((err as Error).message).toMatch(new RegExp(`^cannot write ${plot}: .*\\(any previous file there is unchanged; ${out} keeps step 3\\)$`));
    } finally {
      vi.mocked(saveCheckpoint).mockImplementation(realSave);
    }
  });

  it('a signal during the save that follows a failed append quits once saved, still reporting the failure', async () => {
    const out = join(tmp, 'full-disk-quit.safetensors');
    const { metrics } = checkpointPaths(out);
    vi.mocked(writeSync).mockImplementation(((fd: number, data: Uint8Array, offset = 0) => {
      if (Buffer.from(data).toString().includes('"step":6,')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return realWriteSync(fd, data, offset);
    }) as typeof writeSync);
    const { codes } = fakeExit();
    const send = signals();
    let saves = 0;
    vi.mocked(saveCheckpoint).mockImplementation(async (...args) => {
      if (++saves === 2) send('SIGTERM'), send('SIGTERM'); // during the save after the failure
      await realSave(...args);
    });
    const output = io();
    try {
      // The fake exit throws, as a real one stops everything after it; what comes after is moot.
      await train(options(out, { epochs: 3 }), output).catch(() => undefined);
    } finally {
      vi.mocked(writeSync).mockImplementation(realWriteSync);
      vi.mocked(saveCheckpoint).mockImplementation(realSave);
      vi.restoreAllMocks();
    }
    expect(codes).toEqual([143]);
    const lines = output.err.text.trim().split('\n');
    expect(lines.at(-2)).toBe(`fovea train: saved ${out} at step 6; quitting`);
    expect(lines.at(-1)).toBe(`fovea train: FileWriteError: cannot write ${metrics}: appending the record of step 6: ENOSPC: no space left on device, write (the records before it are kept; ${out} keeps step 6)`);
  });

  it('refuses an output on an input under any name, --out naming optimizer state, and a checkpoint or metrics log over a file that is not one', async () => {
    const weights = join(tmp, 'inputs.safetensors');
    await train(options(weights, { steps: 1 }), io());
    const optim = checkpointPaths(weights).optimizer;
    const kept = [weights, optim].map((f) => readFileSync(f));
    const alias = join(tmp, 'inputs-alias.safetensors');
    symlinkSync(weights, alias);
    const cases: [string, Partial<TrainOptions> & { out: string }, unknown, string][] = [
      ['--out a link to --init', { out: alias, init: weights }, FlagError, `--out ${alias} is also --init: one would overwrite the other`],
      ['--out --model', { out: weights, model: weights }, FlagError, `--out ${weights} is also --model: one would overwrite the other`],
      [
        '--out the optimizer state of another checkpoint',
        { out: optim },
        FlagError,
        `--out ${optim}: a name ending in .optim.safetensors is the optimizer state saved beside ${weights}; choose another name`,
      ],
      [
        '--metrics a checkpoint',
        { out: join(tmp, 'inputs-b.safetensors'), metrics: weights },
        FileWriteError,
        `cannot write ${weights}: it holds something other than a metrics log (--metrics), which the run would replace; move it, or choose another path (any previous file there is unchanged)`,
      ],
    ];
    // Files that are no checkpoint where the run would save one: a data set's, say.
    const idx = join(tmp, 't10k-images-idx3-ubyte');
    writeFileSync(idx, Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28, ...new Uint8Array(784)));
    writeFileSync(join(tmp, 'inputs-d.optim.safetensors'), 'notes\n');
    // A drawing of the user's own where the run's plot would go.
    writeFileSync(join(tmp, 'inputs-e.svg'), '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>\n');
    // A ZIP archive that is no torch.save file (photos, a NumPy .npz).
    const photos = join(tmp, 'photos.zip');
    writeFileSync(photos, writeZip([{ name: 'beach.jpg', data: new Uint8Array(100) }]));
    const strangers = [idx, join(tmp, 'inputs-d.optim.safetensors'), photos, join(tmp, 'inputs-e.svg')].map((f) => [f, readFileSync(f)] as const);
    cases.push(
      ['--out a data file', { out: idx }, FileWriteError, `cannot write ${idx}: it holds something other than a safetensors or torch.save checkpoint (--out), which the run would replace; move it, or choose another path (any previous file there is unchanged)`],
      ['--out a ZIP archive of photos', { out: photos }, FileWriteError, `cannot write ${photos}: it holds something other than a safetensors or torch.save checkpoint (--out), which the run would replace; move it, or choose another path (any previous file there is unchanged)`],
      [
        'an optimizer state that is no safetensors file',
        { out: join(tmp, 'inputs-d.safetensors') },
        FileWriteError,
        `cannot write ${strangers[1]![0]}: it holds something other than a safetensors file (the optimizer state of --out ${join(tmp, 'inputs-d.safetensors')}), which the run would replace; move it, or choose another path (any previous file there is unchanged)`,
      ],
      [
        'a drawing where the plot goes',
        { out: join(tmp, 'inputs-e.safetensors') },
        FileWriteError,
        `cannot write ${join(tmp, 'inputs-e.svg')}: it holds something other than a training plot (the plot of --out ${join(tmp, 'inputs-e.safetensors')}), which the run would replace; move it, or choose another path (any previous file there is unchanged)`,
      ],
    );
    const fifo = join(tmp, 'inputs.fifo');
    execFileSync('mkfifo', [fifo]);
    const optimLink = join(tmp, 'inputs-c.optim.safetensors');
    symlinkSync('inputs-c.safetensors', optimLink); // the optimizer state of --out onto --out
    // Through a linked directory, `..` is the link target's parent, as the kernel resolves it.
    mkdirSync(join(tmp, 'real', 'sub'), { recursive: true });
    copyFileSync(weights, join(tmp, 'real', 'init.safetensors'));
    symlinkSync(join(tmp, 'real', 'sub'), join(tmp, 'linkdir'));
    const dotted = `${tmp}/linkdir/../init.safetensors`;
    cases.push(
      ['--out onto --init through a linked directory and ..', { out: dotted, init: join(tmp, 'real', 'init.safetensors') }, FlagError, `--out ${dotted} is also --init: one would overwrite the other`],
      ['--metrics a pipe', { out: join(tmp, 'inputs-b.safetensors'), metrics: fifo }, FileWriteError, `cannot write ${fifo}: it is not a regular file (a pipe or a device: --metrics would replace it) (any previous file there is unchanged)`],
      [
        'two outputs on one file',
        { out: join(tmp, 'inputs-c.safetensors') },
        FlagError,
        `the optimizer state of --out ${join(tmp, 'inputs-c.safetensors')} (${optimLink}) is also --out: one would overwrite the other`,
      ],
    );
    for (const [what, { out, ...more }, type, message] of cases) {
      const err = await train(options(out, { steps: 1, ...more }), io()).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(type);
      expect((err as Error).message, what).toBe(message);
    }
    expect([weights, optim].map((f) => readFileSync(f))).toEqual(kept);
    for (const [file, bytes] of strangers) expect(readFileSync(file)).toEqual(bytes);
    expect(existsSync(join(tmp, 'inputs-b.safetensors'))).toBe(false);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    // A hard link to --init is another name: saving --out renames onto it, leaving --init's.
    const hard = join(tmp, 'inputs-hard.safetensors');
    linkSync(weights, hard);
    expect(await train(options(hard, { steps: 1, init: weights }), io())).toBe(0);
    expect(readFileSync(weights)).toEqual(kept[0]);
  });

  it('writes through a symbolic link at --out, keeping the link, and locks the file it points at', async () => {
    const real = join(tmp, 'link-target.safetensors');
    const link = join(tmp, 'link.safetensors');
    symlinkSync('link-target.safetensors', link); // relative, and nothing there yet
    expect(await train(options(link, { steps: 1 }), io())).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((await readOptimizerState(link, await readCheckpoint(real))).state.stepCount).toBe(1);
    // A live run writing the same file under its own name holds it.
    writeFileSync(`${real}.lock`, `${process.ppid}\n`);
    await expect(train(options(link, { steps: 2, resume: true }), io())).rejects.toThrow(`cannot write ${link}: another process (${process.ppid}) is writing it and holds ${real}.lock`);
    rmSync(`${real}.lock`);
    expect(await train(options(link, { steps: 2, resume: true }), io())).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((await readOptimizerState(link, await readCheckpoint(real))).state.stepCount).toBe(2);
  });

  it('refuses a --metrics log another live run holds, whatever its --out', async () => {
    const metrics = join(tmp, 'shared.metrics.jsonl');
    const out = join(tmp, 'shared-b.safetensors');
    writeFileSync(`${metrics}.lock`, `${process.ppid}\n`); // a live run with another --out
    await expect(train(options(out, { steps: 1, metrics }), io())).rejects.toThrow(`cannot write ${metrics}: another process (${process.ppid}) is writing it and holds ${metrics}.lock`);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.lock`)).toBe(false); // the lock of --out, taken first, released
  });
});

describe('fovea train --resume', () => {
  /** Changes the metadata of the optimizer file `optPath` by `change`. */
  function edit(optPath: string, change: Record<string, string>): void {
    const { tensors, metadata } = parseSafetensors(readFileSync(optPath), optPath);
    writeFileSync(optPath, serializeSafetensors(tensors, { ...metadata, ...change }));
  }

  /** A one-step checkpoint whose optimizer file's metadata is then changed by `change`. */
  async function edited(name: string, change: Record<string, string>, more: Partial<TrainOptions> = {}): Promise<{ out: string; optPath: string }> {
    const out = join(tmp, `${name}.safetensors`);
    await train(options(out, { steps: 1, ...more }), io());
    const optPath = checkpointPaths(out).optimizer;
    edit(optPath, change);
    return { out, optPath };
  }

  it('refuses each flag that contradicts the saved settings, before the GPU is touched', async () => {
    // Saved: Adam, lr 0.001, no momentum or weight decay, seed 1, shuffled batches of 50.
    const { out, optPath } = await edited('conflicts', {});
    const conflicts: [string, Partial<TrainOptions>, string][] = [
      ['--batch-size', { batchSize: 10 }, '--batch-size 50'],
      ['--optimizer', { optimizer: 'sgd' }, '--optimizer adam'],
      ['--lr', { lr: 0.01 }, '--lr 0.001'],
      ['--lr-schedule', { lrSchedule: 'cosine' }, '--lr-schedule step'],
      ['--lr-gamma', { lrGamma: 0.5 }, '--lr-gamma 1'],
      ['--warmup-steps', { warmupSteps: 3 }, '--warmup-steps 0'],
      ['--betas', { betas: [0.5, 0.9] }, '--betas 0.9,0.999'],
      ['--eps', { eps: 0.001 }, '--eps 1e-8'],
      ['--weight-decay', { weightDecay: 0.1 }, '--weight-decay 0'],
      ['--no-weight-decay', { noWeightDecay: ['*.bias'] }, 'weight decay on every parameter'],
      ['--label-smoothing', { labelSmoothing: 0.1 }, '--label-smoothing 0'],
      ['--max-grad-norm', { maxGradNorm: 1 }, 'no gradient clipping'],
      ['--seed', { seed: 2 }, '--seed 1'],
      ['--no-shuffle', { shuffle: false }, 'shuffle on'],
    ];
    for (const [flag, more, shown] of conflicts) {
      let printed = '';
      const err = await train(options(out, { resume: true, ...more, given: new Set([flag]) }), io((all) => (printed = all))).catch((e: unknown) => e);
      expect(err, flag).toBeInstanceOf(FlagError);
      expect((err as Error).message, flag).toBe(`${flag} conflicts with the checkpoint being resumed (${optPath} has ${shown}); --resume continues with the saved settings`);
      expect(printed, flag).toBe('');
    }
    // SGD's flags on a saved Adam state: refused by name, as without --resume.
    for (const [flag, more, owners] of [['--momentum', { momentum: 0.9 }, 'sgd or rmsprop'], ['--dampening', { dampening: 0.5 }, 'sgd'], ['--nesterov', { nesterov: true }, 'sgd']] as const) {
      const err = await train(options(out, { resume: true, ...more, given: new Set([flag]) }), io()).catch((e: unknown) => e);
      expect((err as Error).message, flag).toBe(`${flag} applies only to --optimizer ${owners}`);
    }
    // Equal values are taken (betas compared by value): the run goes on.
    expect(await train(options(out, { resume: true, steps: 2, betas: [0.9, 0.999], eps: 1e-8, given: new Set(['--betas', '--eps']) }), io())).toBe(0);
  });

  it("resumes a model with batch norm at its saved running statistics and count: it ends as a run never stopped", async () => {
    const model = join(tmp, 'bn-spec.json');
    writeFileSync(model, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 5, stride: 3 }, { type: 'batchnorm2d', name: 'bn' }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', outFeatures: 10 }] }));
    const whole = join(tmp, 'bn-whole.safetensors');
    expect(await train(options(whole, { model, epochs: 2 }), io())).toBe(0);
    const split = join(tmp, 'bn-split.safetensors');
    expect(await train(options(split, { model, epochs: 2, steps: 7 }), io())).toBe(0);
    expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
    const { tensors } = parseSafetensors(readFileSync(split), split);
    expect([...tensors.get('bn.num_batches_tracked')!.data]).toEqual([10]);
    expect(readFileSync(split).equals(readFileSync(whole))).toBe(true);
  });

  it("writes torch.save's format to an --out named .pt, with the spec beside the state_dict, and resumes from it as a run never stopped", async () => {
    const model = join(tmp, 'pt-spec.json');
    const spec = { input: [1, 28, 28], layers: [{ type: 'conv2d', outChannels: 4, kernelSize: 5, stride: 3 }, { type: 'batchnorm2d', name: 'bn' }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', outFeatures: 10 }] };
    writeFileSync(model, JSON.stringify(spec));
    const whole = join(tmp, 'pt-whole.safetensors');
    expect(await train(options(whole, { model, epochs: 2 }), io())).toBe(0);
    const split = join(tmp, 'pt-split.pt');
    expect(await train(options(split, { model, epochs: 2, steps: 7 }), io())).toBe(0);
    expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
    const bytes = readFileSync(split);
    expect([...bytes.subarray(0, 4)]).toEqual([0x50, 0x4b, 0x03, 0x04]); // a ZIP archive, as torch.save writes
    const optim = join(tmp, 'pt-split.pt.optim.safetensors');
    expect(() => parseCheckpoint(readFileSync(optim), optim)).toThrow(`${optim} holds optimizer state (saved beside a model, for --resume), not a model; the model is ${split}`);
    const pt = parseCheckpoint(bytes, split);
    const st = parseCheckpoint(readFileSync(whole), whole);
    expect(pt.spec).toEqual(st.spec);
    expect([...pt.tensors.keys()]).toEqual([...st.tensors.keys()]);
    for (const [name, t] of st.tensors) expect([...pt.tensors.get(name)!.data], name).toEqual([...t.data]);
  });

  it('resumes with the saved label smoothing and clipping, refusing another --max-grad-norm, and ends as a run never stopped', async () => {
    const settings = { labelSmoothing: 0.1, maxGradNorm: 0.5, epochs: 2 };
    const whole = join(tmp, 'smooth-whole.safetensors');
    expect(await train(options(whole, settings), io())).toBe(0);
    const split = join(tmp, 'smooth-split.safetensors');
    expect(await train(options(split, { ...settings, steps: 7 }), io())).toBe(0);
    const optPath = checkpointPaths(split).optimizer;
    const err = await train(options(split, { resume: true, maxGradNorm: 2, given: new Set(['--max-grad-norm']) }), io()).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`--max-grad-norm conflicts with the checkpoint being resumed (${optPath} has --max-grad-norm 0.5); --resume continues with the saved settings`);
    // Resumed without the flags: the saved ones apply.
    expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
    expect(readFileSync(split).equals(readFileSync(whole))).toBe(true);
  });

  it('resumes --no-weight-decay\'s groups as one uninterrupted run; a flag choosing other parameters is refused, the same ones by other names taken', async () => {
    const spared = { optimizer: 'adamw' as const, weightDecay: 0.5, noWeightDecay: ['*.bias'], lrSchedule: 'cosine' as const, epochs: 2 };
    const whole = join(tmp, 'spared-whole.safetensors');
    let printed = '';
    expect(await train(options(whole, spared), io((all) => (printed = all)))).toBe(0);
    expect(printed).toContain('optimizer adamw (lr 0.001, betas 0.9,0.999, eps 1e-8, weight decay 0.5, none on conv1.0.bias, conv2.0.bias, out.bias; lr to 0 by cosine');
    const split = join(tmp, 'spared-split.safetensors');
    expect(await train(options(split, { ...spared, steps: 7 }), io())).toBe(0);
    const optPath = checkpointPaths(split).optimizer;
    const refused = [
      [['conv*.bias'], `--no-weight-decay conflicts with the checkpoint being resumed (${optPath} has --no-weight-decay conv1.0.bias,conv2.0.bias,out.bias); --resume continues with the saved settings`],
      [['*.bias', 'fc.*'], `--no-weight-decay: "fc.*" matches no parameter of ${optPath} (they are conv1.0.weight, conv2.0.weight, out.weight, conv1.0.bias, conv2.0.bias, out.bias)`],
    ] as const;
    for (const [patterns, message] of refused) {
      const err = await train(options(split, { resume: true, epochs: 2, noWeightDecay: patterns, given: new Set(['--no-weight-decay']) }), io()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlagError);
      expect((err as Error).message).toBe(message);
    }
    expect(await train(options(split, { resume: true, epochs: 2, noWeightDecay: ['conv?.0.bias', 'out.bias'], given: new Set(['--no-weight-decay']) }), io())).toBe(0);
    expect(readFileSync(split).equals(readFileSync(whole))).toBe(true);
    const state = (await readOptimizerState(split, await readCheckpoint(split))).state;
    expect(state.paramGroups!.map((g) => [g.params, g.weightDecay, g.stepCount])).toEqual([[['conv1.0.weight', 'conv2.0.weight', 'out.weight'], 0.5, 10], [['conv1.0.bias', 'conv2.0.bias', 'out.bias'], 0, 10]]);

    // Groups that do not list the model's parameters: the file is named.
    const { out, optPath: edPath } = await edited('spared-edited', {}, { optimizer: 'adamw', weightDecay: 0.01, noWeightDecay: ['*.bias'] });
    const { metadata } = parseSafetensors(readFileSync(edPath), edPath);
    edit(edPath, { paramGroups: metadata.paramGroups!.replace('"out.bias"', '"out.bias2"') });
    const err = await train(options(out, { resume: true, steps: 2 }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toBe(`${edPath}: its parameter groups do not fit the model: the list names out.bias2, which the model does not have and leaves out out.bias`);
  });

  it('--freeze leaves the parameters it chooses as they were (from --init), trains the others, and resumes them frozen as one uninterrupted run', async () => {
    const init = join(tmp, 'freeze-init.safetensors');
    expect(await train(options(init, { steps: 3 }), io())).toBe(0);
    const frozen = { init, freeze: ['conv*', 'out.bias'], noWeightDecay: ['*.bias'], optimizer: 'adamw' as const, weightDecay: 0.1, epochs: 2 };
    const whole = join(tmp, 'freeze-whole.safetensors');
    let printed = '';
    expect(await train(options(whole, frozen), io((all) => (printed = all)))).toBe(0);
    expect(printed).toContain('frozen, left as they are: conv1.0.weight, conv1.0.bias, conv2.0.weight, conv2.0.bias, out.bias\n');
    const [before, after] = [(await readCheckpoint(init)).tensors, (await readCheckpoint(whole)).tensors];
    for (const [name, t] of after) {
      const same = Buffer.from(t.data.buffer).equals(Buffer.from(before.get(name)!.data.buffer));
      expect(same, name).toBe(name !== 'out.weight');
    }
    // The optimizer holds the others only; out.bias, frozen, leaves --no-weight-decay's group empty, so there is one.
    const saved = await readOptimizerState(whole, await readCheckpoint(whole));
    expect([...saved.tensors.keys()]).toEqual(['out.weight.exp_avg', 'out.weight.exp_avg_sq']);
    expect(saved.state.paramGroups).toBeUndefined();

    // Stopped and resumed: the same bytes; the frozen set is the saved one, another refused.
    const split = join(tmp, 'freeze-split.safetensors');
    expect(await train(options(split, { ...frozen, steps: 7 }), io())).toBe(0);
    const optPath = checkpointPaths(split).optimizer;
    const err = await train(options(split, { resume: true, epochs: 2, freeze: ['conv*'], given: new Set(['--freeze']) }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagError);
    expect((err as Error).message).toBe(`--freeze conflicts with the checkpoint being resumed (${optPath} has --freeze conv1.0.weight,conv1.0.bias,conv2.0.weight,conv2.0.bias,out.bias); --resume continues with the saved settings`);
    expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
    expect(readFileSync(split).equals(readFileSync(whole))).toBe(true);

    // Every parameter, or a pattern matching none, refused before a step.
    for (const [freeze, message] of [
      [['*'], '--freeze * chooses every parameter of the model (6): nothing would be trained'],
      [['conv*', 'fc.*'], '--freeze: "fc.*" matches no parameter (they are conv1.0.weight, conv1.0.bias, conv2.0.weight, conv2.0.bias, out.weight, out.bias)'],
    ] as const) {
      const e = await train(options(join(tmp, 'freeze-bad.safetensors'), { freeze }), io()).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FlagError);
      expect((e as Error).message).toBe(message);
    }
  });

  it('resumes an augmented run (shuffled, or in file order) as one uninterrupted run, refusing another augmentation', async () => {
    const augment = { degrees: 20, translate: [0.1, 0.1] as [number, number], scale: [0.9, 1.2] as [number, number] };
    for (const shuffle of [true, false]) {
      const whole = join(tmp, `aug-whole-${shuffle}.safetensors`);
      expect(await train(options(whole, { augment, shuffle, epochs: 2 }), io())).toBe(0);
      const split = join(tmp, `aug-split-${shuffle}.safetensors`);
      // Stopped within the second epoch: its order and its first two steps' draws are replayed.
      expect(await train(options(split, { augment, shuffle, epochs: 2, steps: 7 }), io())).toBe(0);
      expect((await readOptimizerState(split, await readCheckpoint(split))).position).toMatchObject({ epoch: 1, stepInEpoch: 2 });
      expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
      expect(readFileSync(split).equals(readFileSync(whole)), `shuffle ${shuffle}`).toBe(true);
    }
    // Without augmentation the same run ends elsewhere: the augmentation took part.
    const plain = join(tmp, 'aug-plain.safetensors');
    expect(await train(options(plain, { epochs: 2 }), io())).toBe(0);
    expect(readFileSync(plain).equals(readFileSync(join(tmp, 'aug-whole-true.safetensors')))).toBe(false);
    const split = join(tmp, 'aug-split-true.safetensors');
    const optPath = checkpointPaths(split).optimizer;
    const err = await train(options(split, { resume: true, epochs: 3, augment: { degrees: 20 }, given: new Set(['--augment-rotate']) }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagError);
    expect((err as Error).message).toBe(`--augment-rotate conflicts with the checkpoint being resumed (${optPath} has augmentation (rotation ±20°, shift up to 0.1×0.1 of the size, scale 0.9 to 1.2)); --resume continues with the saved settings`);
    // A saved augmentation torchvision would refuse: the file is named.
    edit(optPath, { augment: JSON.stringify({ degrees: 20, scale: [1.2, 0.9] }) });
    const bad = await train(options(split, { resume: true, epochs: 3 }), io()).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(FileFormatError);
    expect((bad as Error).message).toBe(`${optPath}: metadata "augment": scale must be [min, max], numbers > 0, got [1.2,0.9], got "{\\"degrees\\":20,\\"scale\\":[1.2,0.9]}"`);
  });

  it("refuses SGD's flags that contradict a saved SGD state, and the other optimizer's flags by name", async () => {
    const { out, optPath } = await edited('sgd-conflicts', {}, { optimizer: 'sgd', lr: 0.05, momentum: 0.9 });
    const cases: [string, Partial<TrainOptions>, string][] = [
      ['--dampening', { dampening: 0.5 }, `--dampening conflicts with the checkpoint being resumed (${optPath} has --dampening 0); --resume continues with the saved settings`],
      ['--nesterov', { nesterov: true }, `--nesterov conflicts with the checkpoint being resumed (${optPath} has Nesterov off); --resume continues with the saved settings`],
      ['--eps', { eps: 1e-8 }, '--eps applies only to --optimizer adam, adamw, nadam, radam, adamax, adadelta, rmsprop or adagrad'],
      ['--betas', { betas: [0.9, 0.999] }, '--betas applies only to --optimizer adam, adamw, nadam, radam or adamax'],
    ];
    for (const [flag, more, message] of cases) {
      const err = await train(options(out, { resume: true, ...more, given: new Set([flag]) }), io()).catch((e: unknown) => e);
      expect(err, flag).toBeInstanceOf(FlagError);
      expect((err as Error).message, flag).toBe(message);
    }
    // Equal values are taken: the run goes on.
    expect(await train(options(out, { resume: true, steps: 2, dampening: 0, given: new Set(['--dampening']) }), io())).toBe(0);
  });

  it('names the file whose hyperparameters are bad or missing, before the GPU is touched', async () => {
    for (const [what, hyperparameters] of [
      ['a negative lr', '{"lr":-1e308,"betas":[0.9,0.999],"eps":1e-8,"weightDecay":0}'],
      ['no lr', '{"betas":[0.9,0.999],"eps":1e-8,"weightDecay":0}'],
    ]) {
      const { out, optPath } = await edited('bad-hyper', { hyperparameters: hyperparameters! });
      let printed = '';
      const err = await train(options(out, { resume: true }), io((all) => (printed = all))).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(FileFormatError);
      expect(err, what).not.toBeInstanceOf(FlagError); // a usage error would exit 2
      expect((err as FileFormatError).file, what).toBe(optPath);
      expect((err as Error).message, what).toMatch(/metadata "hyperparameters": lr: /);
      expect(printed, what).toBe(''); // not even the adapter line
    }
    for (const [change, message] of [
      [{ lrGamma: '0' }, 'metadata "lrGamma": Too small: expected number to be >0, got "0"'],
      [{ initialLr: 'fast' }, 'metadata "initialLr": expected a number, got "fast"'],
      [{ lrSchedule: 'linear' }, 'metadata "lrSchedule": Invalid option: expected one of "step"|"cosine"|"onecycle", got "linear"'],
      [{ warmupSteps: '-1' }, 'metadata "warmupSteps": expected a non-negative integer, got "-1"'],
      [{ lrSchedule: 'cosine' }, 'metadata "scheduleSteps": a cosine schedule needs its length in steps'],
      [{ lrSchedule: 'cosine', scheduleSteps: '4', warmupSteps: '4' }, 'metadata "scheduleSteps": expected more steps than the warm-up\'s 4, got "4"'],
    ] as const) {
      const { out, optPath } = await edited('bad-schedule', change);
      const err = await train(options(out, { resume: true }), io()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileFormatError);
      expect((err as Error).message).toBe(`${optPath}: ${message}`);
    }
  });

  it('refuses to resume optimizer state saved without a training position, naming the file', async () => {
    const { out, optPath } = await edited('no-position', {});
    const { tensors, metadata } = parseSafetensors(readFileSync(optPath), optPath);
    const optimizerOnly = Object.fromEntries(['optimizer', 'hyperparameters', 'stepCount', 'modelSha256'].map((k) => [k, metadata[k]!]));
    writeFileSync(optPath, serializeSafetensors(tensors, optimizerOnly)); // as saveCheckpoint writes it without a position
    const err = await train(options(out, { resume: true }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toBe(
      `${optPath}: holds no training position (epoch, step, seed, batch size, shuffling, data directory), which --resume continues from: it was saved without one (saveCheckpoint without position); to start from these weights, use --init ${out} with another --out`,
    );
  });

  it('says what --resume reads, and what to do instead, when --out or its optimizer state is missing', async () => {
    const never = join(tmp, 'never-written.safetensors');
    const err = await train(options(never, { resume: true }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileReadError);
    expect((err as Error).message).toBe(
      `cannot read checkpoint ${never}: no such file; --resume continues the run of fovea train that wrote --out; give that run's --out, or leave --resume out to start a new run`,
    );
    // Weights alone (saveCheckpoint without an optimizer, or a copy).
    const { out } = await edited('weights-source', {});
    const weights = join(tmp, 'weights-only.safetensors');
    copyFileSync(out, weights);
    const err2 = await train(options(weights, { resume: true }), io()).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(FileReadError);
    expect((err2 as Error).message).toBe(
      `cannot read optimizer state ${checkpointPaths(weights).optimizer}: no such file; --resume continues a run of fovea train from its checkpoint and the .optim.safetensors saved beside it; to start from these weights, use --init ${weights} with another --out`,
    );
  });

  it("keeps the saved settings no flag sets (SGD's Nesterov, Adam's betas and eps), and takes an equal --momentum", async () => {
    const sgd = { optimizer: 'sgd' as const, lr: 0.05, momentum: 0.9 };
    const weights = async (nesterov: boolean) => {
      const { out, optPath } = await edited(`nesterov-${nesterov}`, { hyperparameters: JSON.stringify({ lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov }) }, sgd);
      await train(options(out, { resume: true, steps: 3, momentum: 0.9, given: new Set(['--momentum']) }), io());
      const saved = await readOptimizerState(out, await readCheckpoint(out));
      expect(saved.state.hyperparameters, optPath).toMatchObject({ nesterov });
      return readFileSync(out);
    };
    // Dropped, both runs would go on with plain momentum and end with the same weights.
    expect((await weights(true)).equals(await weights(false))).toBe(false);
    const { out } = await edited('adam-betas', { hyperparameters: '{"lr":0.001,"betas":[0.5,0.9],"eps":0.001,"weightDecay":0}' });
    await train(options(out, { resume: true, steps: 2 }), io());
    expect((await readOptimizerState(out, await readCheckpoint(out))).state.hyperparameters).toEqual({ lr: 0.001, betas: [0.5, 0.9], eps: 0.001, weightDecay: 0 });
  });

  it('multiplies the learning rate by --lr-gamma after each epoch, and a resumed run goes on where the schedule stood', async () => {
    const schedule = { optimizer: 'sgd' as const, lr: 0.1, lrGamma: 0.5, epochs: 3 };
    const whole = join(tmp, 'gamma-whole.safetensors');
    expect(await train(options(whole, schedule), io())).toBe(0);
    const saved = await readOptimizerState(whole, await readCheckpoint(whole));
    // The next step's, as PyTorch's optimizer holds after StepLR's step at the third epoch's end.
    expect(saved.state.hyperparameters.lr).toBe(0.0125);
    expect(saved.position).toMatchObject({ epoch: 3, initialLr: 0.1, lrSchedule: 'step', lrGamma: 0.5, warmupSteps: 0 });
    // Stopped within the second epoch, and at its end; resumed with the same flags (--lr is the first rate).
    for (const at of [7, 10]) {
      const split = join(tmp, `gamma-${at}.safetensors`);
      expect(await train(options(split, { ...schedule, steps: at }), io())).toBe(0);
      expect(await train(options(split, { ...schedule, resume: true, given: new Set(['--lr', '--lr-gamma']) }), io())).toBe(0);
      expect(readFileSync(split).equals(readFileSync(whole)), `stopped at step ${at}`).toBe(true);
    }
  });

  it('a cosine schedule with a warm-up, stopped and resumed, ends as one run; --epochs must be the one it began with', async () => {
    const schedule = { optimizer: 'sgd' as const, lr: 0.1, lrSchedule: 'cosine' as const, warmupSteps: 2, epochs: 3 };
    const whole = join(tmp, 'cosine-whole.safetensors');
    expect(await train(options(whole, schedule), io())).toBe(0);
    const saved = await readOptimizerState(whole, await readCheckpoint(whole));
    expect(saved.position).toMatchObject({ initialLr: 0.1, lrSchedule: 'cosine', warmupSteps: 2, scheduleSteps: 15 });
    // In the warm-up, within the second epoch, and at its end; resumed without the schedule's flags.
    for (const at of [1, 7, 10]) {
      const split = join(tmp, `cosine-${at}.safetensors`);
      expect(await train(options(split, { ...schedule, steps: at }), io())).toBe(0);
      expect(await train(options(split, { resume: true, epochs: 3 }), io())).toBe(0);
      expect(readFileSync(split).equals(readFileSync(whole)), `stopped at step ${at}`).toBe(true);
      expect(readFileSync(checkpointPaths(split).optimizer).equals(readFileSync(checkpointPaths(whole).optimizer)), `stopped at step ${at}`).toBe(true);
    }
    const split = join(tmp, 'cosine-epochs.safetensors');
    expect(await train(options(split, { ...schedule, steps: 4 }), io())).toBe(0);
    const err = await train(options(split, { resume: true, epochs: 4, given: new Set(['--epochs']) }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagError);
    expect((err as Error).message).toBe(`--epochs 4 gives the run 20 steps (5 each), where the cosine schedule of the checkpoint being resumed (${checkpointPaths(split).optimizer}) spans 15: give the --epochs it began with`);
    const long = await train(options(join(tmp, 'cosine-warm.safetensors'), { ...schedule, warmupSteps: 15 }), io()).catch((e: unknown) => e);
    expect((long as Error).message).toBe('--warmup-steps 15 leaves no step for the cosine schedule: the run has 15 steps (--epochs 3, 5 each)');
    // A span past what the checkpoint can hold exactly is refused before any step, not at the first save.
    const huge = await train(options(join(tmp, 'cosine-huge.safetensors'), { ...schedule, epochs: Number.MAX_SAFE_INTEGER, steps: 2 }), io()).catch((e: unknown) => e);
    expect(huge).toBeInstanceOf(FlagError);
    expect((huge as Error).message).toMatch(/^--epochs 9007199254740991 gives the cosine schedule \d+ steps \(5 each\), more than can be counted exactly \(9007199254740991\); give fewer$/);
  });

  it('a one-cycle schedule of SGD, stopped and resumed, ends as one run (its rate and momentum set back to the step)', async () => {
    const schedule = { optimizer: 'sgd' as const, lr: 0.2, lrSchedule: 'onecycle' as const, epochs: 2 };
    const whole = join(tmp, 'onecycle-whole.safetensors');
    expect(await train(options(whole, schedule), io())).toBe(0);
    for (const at of [2, 6]) {
      const split = join(tmp, `onecycle-${at}.safetensors`);
      expect(await train(options(split, { ...schedule, steps: at }), io())).toBe(0);
      const saved = await readOptimizerState(split, await readCheckpoint(split));
      // The momentum the next step takes: 0.85 at the peak, after step 3 (0-based 2).
      expect(saved.state.hyperparameters, `stopped at step ${at}`).toMatchObject({ momentum: at === 2 ? 0.85 : expect.any(Number) });
      expect(await train(options(split, { resume: true, epochs: 2 }), io())).toBe(0);
      expect(readFileSync(split).equals(readFileSync(whole)), `stopped at step ${at}`).toBe(true);
    }
  });

  it("a one-cycle schedule of Adam takes --betas' second value and says so, cycling the first as PyTorch's OneCycleLR", async () => {
    let text = '';
    const out = join(tmp, 'onecycle-betas.safetensors');
    const opts = options(out, { optimizer: 'adam', lr: 0.01, lrSchedule: 'onecycle', epochs: 1, steps: 2, betas: [0.5, 0.99], given: new Set(['--betas']) });
    expect(await train(opts, io((all) => void (text = all)))).toBe(0);
    expect(text).toContain("note: --lr-schedule onecycle cycles the first beta (0.95 to 0.85 and back), as PyTorch's OneCycleLR: of --betas 0.5,0.99, the second is taken");
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    const [b1, b2] = (saved.state.hyperparameters as { betas: [number, number] }).betas;
    expect(b2).toBe(0.99);
    expect(b1).toBeGreaterThan(0.85); // cycled: falling from 0.95 over the rise
    expect(b1).toBeLessThan(0.95);
    // Resumed with the same flags: the saved first beta is the cycle's, not the flag's, and only the second is compared.
    expect(await train({ ...opts, resume: true, steps: 3 }, io())).toBe(0);
    const err = await train({ ...opts, resume: true, steps: 4, betas: [0.5, 0.98] }, io()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^--betas conflicts with the checkpoint being resumed \(.* has --betas [\d.]+,0\.99\)/);
  });

  it('warms up a constant rate, and a --lr-gamma schedule still decays as each epoch starts', async () => {
    let text = '';
    const out = join(tmp, 'warm-gamma.safetensors');
    expect(await train(options(out, { optimizer: 'sgd', lr: 0.1, lrGamma: 0.5, warmupSteps: 7, epochs: 3 }), io((all) => void (text = all)))).toBe(0);
    // Step 4 (epoch 1's last) is in the warm-up: 0.1 · (1/7 + 6/7 · 4/7); step 9 (epoch 2's last) is after it, at 0.1 · 0.5.
    expect(text.match(/^epoch \d done: .*; lr \S+$/gm)?.map((l) => Number(l.replace(/.*; lr /, '')))).toEqual([Number((0.1 * (1 / 7 + (6 / 7) * (4 / 7))).toPrecision(6)), 0.05, 0.025]);
  });

  it("prints each epoch's learning rate to 6 significant digits, not its float rounding (0.7 · 0.7 is 0.48999999999999994)", async () => {
    let text = '';
    const out = join(tmp, 'gamma-shown.safetensors');
    expect(await train(options(out, { optimizer: 'sgd', lr: 1, lrGamma: 0.7, epochs: 3 }), io((all) => void (text = all)))).toBe(0);
    expect(text.match(/^epoch \d done: .*; lr \S+$/gm)?.map((l) => l.replace(/.*; lr /, ''))).toEqual(['1', '0.7', '0.49']);
  });

  it('resumes optimizer state saved without a learning-rate schedule (older files) at the saved rate, constant', async () => {
    const out = join(tmp, 'no-schedule.safetensors');
    expect(await train(options(out, { optimizer: 'sgd', lr: 0.05, steps: 2 }), io())).toBe(0);
    const optPath = checkpointPaths(out).optimizer;
    const { tensors, metadata } = parseSafetensors(readFileSync(optPath), optPath);
    const { initialLr, lrSchedule, lrGamma, warmupSteps, ...older } = metadata;
    expect([initialLr, lrSchedule, lrGamma, warmupSteps]).toEqual(['0.05', 'step', '1', '0']);
    writeFileSync(optPath, serializeSafetensors(tensors, older));
    // --lr compares with the saved rate; --lr-gamma with 1.
    for (const [flag, more, shown] of [['--lr', { lr: 0.1 }, '--lr 0.05'], ['--lr-gamma', { lrGamma: 0.5 }, '--lr-gamma 1']] as const) {
      const err = await train(options(out, { resume: true, ...more, given: new Set([flag]) }), io()).catch((e: unknown) => e);
      expect((err as Error).message, flag).toBe(`${flag} conflicts with the checkpoint being resumed (${optPath} has ${shown}); --resume continues with the saved settings`);
    }
    expect(await train(options(out, { resume: true, steps: 3, epochs: 2, given: new Set() }), io())).toBe(0);
    const saved = await readOptimizerState(out, await readCheckpoint(out));
    expect(saved.state.hyperparameters.lr).toBe(0.05);
    expect(saved.position).toMatchObject({ initialLr: 0.05, lrGamma: 1 });
  });

  it("resumes Adadelta with its saved rho and eps, refusing another --rho, as one uninterrupted run", async () => {
    const adadelta = { optimizer: 'adadelta' as const, lr: 1, rho: 0.8, eps: 1e-5 };
    const whole = join(tmp, 'adadelta-whole.safetensors');
    expect(await train(options(whole, { ...adadelta, steps: 4 }), io())).toBe(0);
    const { out, optPath } = await edited('adadelta', {}, { ...adadelta, steps: 2 });
    const err = await train(options(out, { resume: true, rho: 0.9, given: new Set(['--rho']) }), io()).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`--rho conflicts with the checkpoint being resumed (${optPath} has --rho 0.8); --resume continues with the saved settings`);
    // Resumed without its flags: the file's optimizer and settings.
    expect(await train(options(out, { resume: true, steps: 4 }), io())).toBe(0);
    expect((await readOptimizerState(out, await readCheckpoint(out))).state).toMatchObject({ optimizer: 'adadelta', hyperparameters: { lr: 1, rho: 0.8, eps: 1e-5, weightDecay: 0 } });
    expect(readFileSync(out).equals(readFileSync(whole))).toBe(true);
  });

  it('resumes RMSprop with its saved alpha, momentum and centering, refusing others, as one uninterrupted run', async () => {
    const rmsprop = { optimizer: 'rmsprop' as const, lr: 0.002, alpha: 0.9, momentum: 0.5, centered: true };
    const whole = join(tmp, 'rmsprop-whole.safetensors');
    expect(await train(options(whole, { ...rmsprop, steps: 4 }), io())).toBe(0);
    const { out, optPath } = await edited('rmsprop', {}, { ...rmsprop, steps: 2 });
    for (const [flag, more, shown] of [['--alpha', { alpha: 0.99 }, '--alpha 0.9'], ['--centered', { centered: undefined }, 'centering on'], ['--momentum', { momentum: 0 }, '--momentum 0.5']] as const) {
      const err = await train(options(out, { resume: true, ...more, given: new Set([flag]) }), io()).catch((e: unknown) => e);
      expect((err as Error).message, flag).toBe(`${flag} conflicts with the checkpoint being resumed (${optPath} has ${shown}); --resume continues with the saved settings`);
    }
    expect(await train(options(out, { resume: true, steps: 4 }), io())).toBe(0);
    expect((await readOptimizerState(out, await readCheckpoint(out))).state).toMatchObject({ optimizer: 'rmsprop', hyperparameters: { lr: 0.002, alpha: 0.9, eps: 1e-8, weightDecay: 0, momentum: 0.5, centered: true } });
    expect(readFileSync(out).equals(readFileSync(whole))).toBe(true);
  });

  it('resumes Adagrad with its saved lr decay and accumulators, refusing another --lr-decay, as one uninterrupted run', async () => {
    const adagrad = { optimizer: 'adagrad' as const, lr: 0.01, lrDecay: 0.2, initialAccumulatorValue: 0.1 };
    const whole = join(tmp, 'adagrad-whole.safetensors');
    expect(await train(options(whole, { ...adagrad, steps: 4 }), io())).toBe(0);
    const { out, optPath } = await edited('adagrad', {}, { ...adagrad, steps: 2 });
    const err = await train(options(out, { resume: true, lrDecay: 0, given: new Set(['--lr-decay']) }), io()).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`--lr-decay conflicts with the checkpoint being resumed (${optPath} has --lr-decay 0.2); --resume continues with the saved settings`);
    expect(await train(options(out, { resume: true, steps: 4 }), io())).toBe(0);
    expect((await readOptimizerState(out, await readCheckpoint(out))).state).toMatchObject({ optimizer: 'adagrad', hyperparameters: { lr: 0.01, lrDecay: 0.2, eps: 1e-10, weightDecay: 0, initialAccumulatorValue: 0.1 } });
    expect(readFileSync(out).equals(readFileSync(whole))).toBe(true);
  });

  it('names the checkpoint a missing data directory was saved in, and --data as the way out', async () => {
    const moved = join(tmp, 'moved-data');
    smallMnist(moved, 230, 50);
    const { out, optPath } = await edited('moved', {}, { data: moved });
    rmSync(moved, { recursive: true });
    await expect(train(options(out, { resume: true, data: undefined }), io())).rejects.toThrow(`${moved} does not exist`);
    await expect(train(options(out, { resume: true, data: undefined }), io())).rejects.toThrow(`(the data directory saved in ${optPath}; --data DIR reads another)`);
  });

  it('refuses a data directory whose path a checkpoint cannot record before training, not at the first save', async () => {
    const tabbed = join(tmp, 'small\tdata');
    smallMnist(tabbed, 230, 50);
    const out = join(tmp, 'tabbed.safetensors');
    let printed = '';
    const err = await train(options(out, { data: tabbed }), io((all) => (printed = all))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlagError);
    expect((err as Error).message).toBe(`--data ${JSON.stringify(tabbed)}: the path holds a control character, which a checkpoint cannot record; link the directory under another name`);
    expect(printed).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a position that does not fit the data before the GPU is touched', async () => {
    const { out, optPath } = await edited('bad-position', {});
    // Epoch 3 at step 1 in all (epoch 0); step 5 (or 7, saved on data of 10 steps per epoch) of
    // epoch 0, which sums to the right step in all but is past the end of an epoch here.
    for (const [epoch, stepInEpoch, stepCount] of [[3, 1, 1], [0, 5, 5], [0, 7, 7]]) {
      const what = `epoch ${epoch} step ${stepInEpoch} (step ${stepCount} in all)`;
      edit(optPath, { epoch: String(epoch), stepInEpoch: String(stepInEpoch), stepCount: String(stepCount) });
      let printed = '';
      const err = await train(options(out, { resume: true }), io((all) => (printed = all))).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(SpecError);
      expect((err as Error).message, what).toContain(`${optPath} is at ${what}, which does not fit 5 steps per epoch on ${data}`);
      expect(printed, what).toBe('');
    }
  });

  it('blames a batch size too large for the device on the file that saved it, not on --batch-size', async () => {
    // Step 1 in all is epoch 1, step 0 at one step per epoch: a position that fits.
    const { out, optPath } = await edited('big-batch', { batchSize: '60000', dataDir: defaultMnistDir(), epoch: '1', stepInEpoch: '0' });
    const err = await train(options(out, { resume: true, data: undefined }), io()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLimitError);
    expect((err as Error).message.startsWith(`${optPath}: the batch size 60000 saved there is too large for this device (`)).toBe(true);
    expect((err as Error).message).toMatch(/over this device's limit of \d+ bytes per buffer/);
  });
});
