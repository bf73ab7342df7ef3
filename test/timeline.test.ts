// The wait-time estimates behind polite waits in Node (src/runtime/timeline.ts): a program's
// time per run is learned from waits, and later waits sleep through most of it instead of
// leaving a Dawn promise pending (which busy-waits).
//
// The Timeline reads performance.now() and sleeps with setTimeout: faked, simulated time is
// exact, so each check states the sleep the estimates give rather than a margin that a loaded
// machine could exceed.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRuntime, scale, TensorStateError } from '../src/index.js';
import { Timeline } from '../src/runtime/timeline.js';
import { useRuntime } from './helpers.js';

const PER_RUN = 20; // ms the simulated GPU takes per run

/** Simulated time for the tests of the Timeline alone (rt.settle's run on the real GPU). */
function fakeTime() {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** Runs `p` to its end, firing simulated timers as they fall due. */
async function finish<T>(p: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return p;
}

/** What Dawn would resolve when the GPU is busy `ms` more after being asked. */
const after = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for `done` through `t`: how long it slept before asking, and how long the answer took. */
async function timedWait(t: Timeline, done: () => Promise<unknown>): Promise<{ slept: number; spun: number }> {
  const start = performance.now();
  let asked = NaN;
  await finish(
    t.wait(() => {
      asked = performance.now();
      return done();
    }),
  );
  return { slept: asked - start, spun: performance.now() - asked };
}

const perRunOf = (t: Timeline) => (t as unknown as { perRun: WeakMap<object, number> }).perRun;

/** A simulated GPU running `program`, noted in `t`: runs finish PER_RUN ms apart, one after another. */
function gpu(t: Timeline, program: object) {
  let busyUntil = 0;
  return {
    run(n: number) {
      for (let i = 0; i < n; i++) {
        t.submitted(program);
        busyUntil = Math.max(performance.now(), busyUntil) + PER_RUN;
      }
    },
    // What Dawn would resolve: all submitted work done.
    done: () => new Promise<void>((r) => setTimeout(r, Math.max(0, busyUntil - performance.now()))),
  };
}

describe('timeline', () => {
  fakeTime();

  it('learns a program’s time per run and then sleeps through it', async () => {
    const t = new Timeline(true);
    const program = {};
    const g = gpu(t, program);
    const run = g.run;
    run(1); // the first run compiles: not learned from
    expect(await timedWait(t, g.done)).toEqual({ slept: 0, spun: PER_RUN });
    run(3); // nothing known yet: Dawn is asked at once
    expect(await timedWait(t, g.done)).toEqual({ slept: 0, spun: 3 * PER_RUN });
    run(5);
    // Slept through 0.9 (SLEEP_FRACTION) of the 100 ms learned, so the spin was the last tenth.
    expect(await timedWait(t, g.done)).toEqual({ slept: 90, spun: 10 });
  });

  it('learns nothing from a program’s first run, which includes compiling its pipelines', async () => {
    const t = new Timeline(true);
    const program = {};
    t.submitted(program);
    expect(await timedWait(t, after(200))).toEqual({ slept: 0, spun: 200 }); // compiling, then running
    t.submitted(program);
    // Nothing known yet, so Dawn is asked at once: no sleep through the first run's 200 ms.
    expect(await timedWait(t, after(10))).toEqual({ slept: 0, spun: 10 });
    // The second run taught its own 10 ms.
    t.submitted(program);
    expect(await timedWait(t, after(1))).toEqual({ slept: 9, spun: 1 });
  });

  it('shortens an estimate that proved too long, and never sleeps when disabled', async () => {
    // Disabled, it sleeps through nothing, even with runs of 100 ms behind it to learn from.
    const off = new Timeline(false);
    const job = {};
    for (let i = 0; i < 3; i++) {
      off.submitted(job);
      expect(await timedWait(off, after(100))).toEqual({ slept: 0, spun: 100 });
    }
    off.submitted(job);
    const t0 = performance.now();
    await finish(off.sleep());
    expect(performance.now() - t0).toBe(0);

    const t = new Timeline(true);
    const program = {};
    for (const n of [1, 4]) {
      for (let i = 0; i < n; i++) t.submitted(program);
      await finish(t.wait(after(1250 * n)));
    }
    // Learned 1250 ms per run; the work now finishes at once, so each wait shrinks the estimate
    // by 0.8 (SHRINK), and each sleep is 0.9 of it.
    const sleeps: number[] = [];
    for (let k = 0; k < 4; k++) {
      t.submitted(program);
      const { slept, spun } = await timedWait(t, async () => undefined);
      expect(spun).toBe(0);
      sleeps.push(slept);
    }
    expect(sleeps).toEqual([1125, 900, 720, 576]);
  });

  it('sleeps until all but the last `keep` submits are expected done', async () => {
    const t = new Timeline(true);
    const program = {};
    const g = gpu(t, program);
    const run = g.run;
    for (const n of [1, 2]) {
      run(n);
      await finish(t.wait(g.done)); // learned: PER_RUN ms a run
    }
    run(5);
    const start = performance.now();
    await finish(t.sleep(2));
    expect(performance.now() - start).toBe(54); // 0.9 of the first 3 runs' 60 ms
    await finish(t.sleep(5));
    expect(performance.now() - start).toBe(54); // nothing to wait for
  });

  it('keeps a bounded record when nothing ever waits', async () => {
    const t = new Timeline(true);
    const program = {};
    for (let i = 0; i < 5000; i++) t.submitted(program);
    expect((t as unknown as { pending: unknown[] }).pending.length).toBeLessThanOrEqual(1024);
  });

  it('says when sleeping would pace by a guess: while a submit waited for has no learned time', async () => {
    const t = new Timeline(true);
    const program = {};
    const runs = (n: number) => {
      for (let i = 0; i < n; i++) t.submitted(program);
    };
    runs(3);
    expect(t.guessing(2)).toBe(true); // the first run: nothing learned yet
    expect(t.guessing(3)).toBe(false); // nothing to wait for
    await finish(t.wait(after(30))); // a window with a first run teaches nothing
    runs(2);
    expect(t.guessing(1)).toBe(true);
    await finish(t.wait(after(40)));
    runs(3);
    expect(t.guessing(0)).toBe(false);
    t.submitted({}); // a program never waited for
    expect(t.guessing(0)).toBe(true);
    expect(t.guessing(1)).toBe(false);
    const off = new Timeline(false);
    off.submitted({});
    expect(off.guessing(0)).toBe(false);
  });
});

describe('timeline: programs learned beside others', () => {
  fakeTime();

  it('takes a new program answered at once as fast, never zero, and scales it up at the first wait that spins', async () => {
    const t = new Timeline(true);
    const [a, b] = [{}, {}];
    const perRun = perRunOf(t);
    for (const p of [a, b]) {
      t.submitted(p);
      await finish(t.wait(async () => undefined)); // first runs: compiling
    }
    t.submitted(a);
    await finish(t.wait(after(40))); // a: 40 ms a run
    expect(perRun.get(a)).toBe(40);
    t.submitted(a);
    t.submitted(b);
    // Done before a's sleep (0.9 of a's 40 ms; b's is unknown) ended. The window (and host time
    // in it) says little of b: it is taken as fast, not as its share of a window that could be
    // seconds long; a's estimate proved too long.
    expect(await timedWait(t, async () => undefined)).toEqual({ slept: 36, spun: 0 });
    expect(perRun.get(a)).toBeCloseTo(0.8 * 40, 9);
    t.submitted(b);
    expect(t.guessing(0)).toBe(false);
    expect(perRun.get(b)).toBe(0.01);
    await finish(t.wait(after(30))); // b really takes 30 ms: learned
    expect(perRun.get(b)).toBeCloseTo(30, 9);
    // Answered at once again and again, estimates shrink to a floor of 0.01 ms, never to 0
    // (which no later window could scale up again).
    for (let i = 0; i < 100; i++) {
      t.submitted(b);
      await finish(t.wait(async () => undefined));
    }
    expect(perRun.get(b)).toBe(0.01);
  });
});

describe('timeline: a program that never runs alone', () => {
  fakeTime();

  it('is learned even where a known one, always beside it, was estimated too long', async () => {
    const t = new Timeline(true);
    const [a, b] = [{}, {}];
    const perRun = perRunOf(t);
    for (const p of [a, b]) {
      t.submitted(p);
      await finish(t.wait(async () => undefined)); // first runs: compiling
    }
    t.submitted(a);
    await finish(t.wait(after(60))); // a: 60 ms a run
    // From now on a and b run together, and Dawn answers 2 ms after each sleep: a's estimate
    // fills every window, so b's time must be made room for. Each such window shortens a's
    // estimate below the window (0.8 of it), until a window outlasts it: b takes what a leaves.
    // Each round is checked against the window it measured (the fake clock fires a sleep of a
    // fractional length at the whole millisecond below).
    let rounds = 0;
    for (; rounds < 12; rounds++) {
      t.submitted(a);
      t.submitted(b);
      if (!t.guessing(0)) break;
      const estimate = perRun.get(a)!;
      const { slept, spun } = await timedWait(t, after(2));
      const window = slept + spun;
      if (window <= estimate) {
        expect(perRun.get(a)).toBeCloseTo(0.8 * window, 9);
        expect(perRun.has(b)).toBe(false);
      } else {
        expect(perRun.get(a)).toBe(estimate);
        expect(perRun.get(b)).toBeCloseTo(window - estimate, 9);
      }
    }
    expect(rounds).toBeLessThan(12);
    expect(rounds).toBeGreaterThan(1); // the case made: a's first estimate filled the window
  });
});

describe('rt.settle', () => {
  const rt = useRuntime();

  it('waits for the GPU until a program’s time per run is learned, then paces by timers', async () => {
    const r = rt();
    const p = await r.compile(({ x }) => ({ y: scale(x!, 2) }), { x: [1024] });
    const asked = vi.spyOn(r.device.queue, 'onSubmittedWorkDone');
    const waits: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) p.run({ x: new Float32Array(1024) });
      asked.mockClear();
      await r.settle(2);
      waits.push(asked.mock.calls.length);
    }
    // Round 1 holds the first run (compiling: teaches nothing), round 2 teaches the time.
    expect(waits).toEqual([1, 1, 0]);
    asked.mockRestore();
    await r.sync();
  });

  it('fails on a disposed runtime', async () => {
    const r = await createRuntime();
    const p = await r.compile(({ x }) => ({ y: scale(x!, 2) }), { x: [4] });
    p.run({ x: new Float32Array(4) });
    await r.settle(0);
    p.run({ x: new Float32Array(4) });
    r.dispose();
    await expect(r.settle(0)).rejects.toThrow(TensorStateError);
  });
});
