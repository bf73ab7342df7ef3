// The wait-time estimates behind polite waits in Node (src/runtime/timeline.ts): a program's
// time per run is learned from waits, and later waits sleep through most of it instead of
// leaving a Dawn promise pending (which busy-waits).
import { describe, expect, it, vi } from 'vitest';
import { createRuntime, scale, TensorStateError } from '../src/index.js';
import { Timeline } from '../src/runtime/timeline.js';
import { useRuntime } from './helpers.js';

const PER_RUN = 20; // ms the simulated GPU takes per run

/** A simulated GPU: runs finish PER_RUN ms apart, one after another, from `start`. */
function gpu() {
  let busyUntil = 0;
  return {
    submit() {
      busyUntil = Math.max(performance.now(), busyUntil) + PER_RUN;
    },
    // What Dawn would resolve: all submitted work done.
    done: () => new Promise<void>((r) => setTimeout(r, Math.max(0, busyUntil - performance.now()))),
  };
}

describe('timeline', () => {
  it('learns a program’s time per run and then sleeps through it', async () => {
    const t = new Timeline(true);
    const g = gpu();
    const program = {};
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        t.submitted(program);
        g.submit();
      }
    };
    run(1); // the first run compiles: not learned from
    await t.wait(g.done);
    run(3); // nothing known yet: Dawn is asked at once
    await t.wait(g.done);
    run(5);
    const start = performance.now();
    let answered = 0;
    await t.wait(async () => {
      answered = performance.now();
      await g.done();
    });
    // Slept through most of the 100 ms before asking, so the spin was short.
    expect(answered - start).toBeGreaterThan(0.6 * 5 * PER_RUN);
    expect(performance.now() - answered).toBeLessThan(0.4 * 5 * PER_RUN);
  });

  it('learns nothing from a program’s first run, which includes compiling its pipelines', async () => {
    const t = new Timeline(true);
    const program = {};
    const after = (ms: number) => () => new Promise((r) => setTimeout(r, ms));
    t.submitted(program);
    await t.wait(after(200)); // compiling, then running
    t.submitted(program);
    const start = performance.now();
    await t.wait(after(10));
    // Nothing known yet, so Dawn is asked at once: no sleep through the first run's 200 ms.
    expect(performance.now() - start).toBeLessThan(100);
  });

  it('shortens an estimate that proved too long, and never sleeps when disabled', async () => {
    // Disabled, it sleeps through nothing, even with runs of 100 ms behind it (a wide margin:
    // other test files load the CPU meanwhile).
    const off = new Timeline(false);
    const job = {};
    for (let i = 0; i < 3; i++) {
      off.submitted(job);
      await off.wait(() => new Promise((r) => setTimeout(r, 100)));
    }
    off.submitted(job);
    const t0 = performance.now();
    await off.sleep();
    expect(performance.now() - t0).toBeLessThan(50);

    const t = new Timeline(true);
    const program = {};
    for (const n of [1, 4]) {
      for (let i = 0; i < n; i++) t.submitted(program);
      await t.wait(() => new Promise((r) => setTimeout(r, 40 * n)));
    }
    // Learned 40 ms per run; the work now finishes at once, so each wait shrinks the estimate.
    const sleeps: number[] = [];
    for (let k = 0; k < 4; k++) {
      t.submitted(program);
      const s = performance.now();
      await t.wait(async () => undefined);
      sleeps.push(performance.now() - s);
    }
    expect(sleeps[3]!).toBeLessThan(sleeps[0]!);
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
    await t.wait(() => new Promise((r) => setTimeout(r, 30))); // a window with a first run teaches nothing
    runs(2);
    expect(t.guessing(1)).toBe(true);
    await t.wait(() => new Promise((r) => setTimeout(r, 40)));
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
  it('takes a new program answered at once as fast, never zero, and scales it up at the first wait that spins', async () => {
    const t = new Timeline(true);
    const [a, b] = [{}, {}];
    const perRun = (t as unknown as { perRun: WeakMap<object, number> }).perRun;
    for (const p of [a, b]) {
      t.submitted(p);
      await t.wait(async () => undefined); // first runs: compiling
    }
    t.submitted(a);
    await t.wait(() => new Promise((r) => setTimeout(r, 40))); // a: about 40 ms a run
    t.submitted(a);
    t.submitted(b);
    // Done before a's sleep ended. The window (and host time in it) says little of b: it is
    // taken as fast, not as its share of a window that could be seconds long.
    await t.wait(async () => undefined);
    t.submitted(b);
    expect(t.guessing(0)).toBe(false);
    expect(perRun.get(b)).toBe(0.01);
    await t.wait(() => new Promise((r) => setTimeout(r, 30))); // b really takes 30 ms: learned
    expect(perRun.get(b)).toBeGreaterThan(25);
    // Answered at once again and again, estimates shrink to a floor of 0.01 ms, never to 0
    // (which no later window could scale up again).
    for (let i = 0; i < 100; i++) {
      t.submitted(b);
      await t.wait(async () => undefined);
    }
    expect(perRun.get(b)).toBe(0.01);
  });
});

describe('timeline: a program that never runs alone', () => {
  it('is learned even where a known one, always beside it, was estimated too long', async () => {
    const t = new Timeline(true);
    const [a, b] = [{}, {}];
    for (const p of [a, b]) {
      t.submitted(p);
      await t.wait(async () => undefined); // first runs: compiling
    }
    t.submitted(a);
    await t.wait(() => new Promise((r) => setTimeout(r, 60))); // a: about 60 ms a run
    // From now on a and b run together, and Dawn answers 2 ms after each sleep: a's estimate
    // fills every window, so b's time must be made room for.
    let rounds = 0;
    for (; rounds < 12; rounds++) {
      t.submitted(a);
      t.submitted(b);
      if (!t.guessing(0)) break;
      await t.wait(() => new Promise((r) => setTimeout(r, 2)));
    }
    expect(rounds).toBeLessThan(12);
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
