// lockFor: one run at a time on an output, under any name a symbolic link gives it; stale locks
// (a run killed outright, one that died writing its lock) are taken over.
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { LOCK_RENEW_MS, LOCK_STALE_MS, lockFor } from '../src/model/lock.js';

// A renewal whose lock vanishes between its check and its touch: utimesSync fails while set.
const touch = vi.hoisted(() => ({ fails: false }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const utimesSync: typeof fs.utimesSync = (...args) => {
    if (touch.fails) throw Object.assign(new Error(`ENOENT: no such file or directory, utime '${String(args[0])}'`), { code: 'ENOENT' });
    fs.utimesSync(...args);
  };
  return { ...fs, default: { ...fs, utimesSync }, utimesSync };
});

const tmp = mkdtempSync(join(tmpdir(), 'fovea-lock-'));
// This process's lock: its pid, host and boot (Linux's boot_id).
const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const mine = `${process.pid} ${hostname()} ${boot}\n`;

describe('lockFor', () => {
  it('refuses a second taker in the same process while held, and is free again once released', () => {
    const out = join(tmp, 'same.safetensors');
    const release = lockFor(out);
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(mine);
    expect(() => lockFor(out)).toThrow(`this process (${process.pid}) is writing it`);
    release();
    release(); // idempotent
    expect(existsSync(`${out}.lock`)).toBe(false);
    lockFor(out)();
  });

  it("takes over a lock naming this process's pid that it does not hold (a killed process's, in a container)", () => {
    const out = join(tmp, 'own.safetensors');
    writeFileSync(`${out}.lock`, `${process.pid}\n`);
    const release = lockFor(out);
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(mine);
    release();
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it("holds another host's lock while renewed, its process out of sight, and takes it over once it is not; and one from before this machine restarted", () => {
    const out = join(tmp, 'hosts.safetensors');
    const other = `999999999 ${hostname()}-b ${boot}\n`; // no such pid here
    writeFileSync(`${out}.lock`, other);
    expect(() => lockFor(out)).toThrow(`a process (999999999) on host ${hostname()}-b is writing it and holds ${out}.lock (renewed 0 s ago; taken over once 60 s pass without renewal); wait`);
    const past = (ms: number) => new Date(Date.now() - ms);
    utimesSync(`${out}.lock`, past(LOCK_STALE_MS - 5000), past(LOCK_STALE_MS - 5000));
    expect(() => lockFor(out)).toThrow(/\(renewed 55 s ago;/);
    utimesSync(`${out}.lock`, past(LOCK_STALE_MS + 1000), past(LOCK_STALE_MS + 1000));
    lockFor(out)();
    // A live process's pid (this one's parent), but written by an earlier boot of this host.
    const before = `${process.ppid} ${hostname()} 00000000-0000-0000-0000-000000000000\n`;
    writeFileSync(`${out}.lock`, before);
    lockFor(out)();
    // The same pid from this boot is held.
    writeFileSync(`${out}.lock`, `${process.ppid} ${hostname()} ${boot}\n`);
    expect(() => lockFor(out)).toThrow(`another process (${process.ppid}) is writing it`);
  });

  it("checks another host's stale lock again once its takeover is guarded: renewed meanwhile, it is held", () => {
    const out = join(tmp, 'renewed-meanwhile.safetensors');
    const other = `999999999 ${hostname()}-b ${boot}\n`;
    writeFileSync(`${out}.lock`, other);
    const mtime = statSync(`${out}.lock`).mtimeMs;
    // First seen a minute and more after its renewal; by the second look, renewed just now.
    const now = vi.spyOn(Date, 'now').mockReturnValueOnce(mtime + LOCK_STALE_MS + 1000).mockReturnValue(mtime);
    try {
      expect(() => lockFor(out)).toThrow(/on host \S+-b is writing it .*\(renewed 0 s ago;/);
    } finally {
      now.mockRestore();
    }
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(other);
  });

  it('renews the lock it holds, so that another host sees it live, until released', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const out = join(tmp, 'renewed.safetensors');
      const release = lockFor(out);
      const old = new Date(Date.now() - 3_600_000);
      utimesSync(`${out}.lock`, old, old);
      vi.advanceTimersByTime(LOCK_RENEW_MS);
      expect(Date.now() - statSync(`${out}.lock`).mtimeMs).toBeLessThan(5000);
      release();
      expect(vi.getTimerCount()).toBe(0);
      // Taken over while it stalled: it neither renews nor removes the new holder's lock.
      const stalled = lockFor(out);
      const theirs = `4242 ${hostname()}-b ${boot}\n`;
      writeFileSync(`${out}.lock`, theirs);
      utimesSync(`${out}.lock`, old, old);
      vi.advanceTimersByTime(LOCK_RENEW_MS);
      expect(Math.abs(statSync(`${out}.lock`).mtimeMs - old.getTime())).toBeLessThan(1000); // not renewed
      expect(vi.getTimerCount()).toBe(0);
      stalled();
      expect(readFileSync(`${out}.lock`, 'utf8')).toBe(theirs);
    } finally {
      vi.useRealTimers();
    }
  });

  it('stops renewing, and the run goes on, when its lock vanishes as it is renewed', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const release = lockFor(join(tmp, 'vanishing.safetensors'));
      touch.fails = true;
      vi.advanceTimersByTime(LOCK_RENEW_MS); // a timer's exception would end the process
      expect(vi.getTimerCount()).toBe(0);
      release();
    } finally {
      touch.fails = false;
      vi.useRealTimers();
    }
  });

  it('leaves a stale lock that another process is taking over to it', () => {
    const out = join(tmp, 'takeover.safetensors');
    writeFileSync(`${out}.lock`, '999999999\n'); // over any pid_max: no such process
    writeFileSync(`${out}.lock.takeover`, '1\n');
    expect(() => lockFor(out)).toThrow('another process is taking over its stale lock');
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe('999999999\n');
  });

  it('takes over a lock that names no process (empty, or garbage) once it has been so as long as a stale one', () => {
    const out = join(tmp, 'nameless.safetensors');
    const lock = `${out}.lock`;
    for (const text of ['', '\u0000\u0000 not a lock']) {
      writeFileSync(lock, text); // a run that died before writing its pid, or a damaged file
      expect(() => lockFor(out), JSON.stringify(text)).toThrow(
        `another process is writing it and holds ${lock} (it names no process; written 0 s ago, taken over once 60 s have passed); wait`,
      );
      const old = new Date(Date.now() - LOCK_STALE_MS - 1000);
      utimesSync(lock, old, old);
      const release = lockFor(out);
      expect(readFileSync(lock, 'utf8')).toBe(mine);
      release();
    }
  });

  it('locks the file a symbolic link points at: two names of one file share one lock', () => {
    const real = join(tmp, 'link-real.safetensors');
    const link = join(tmp, 'link.safetensors');
    const chain = join(tmp, 'link-to-link.safetensors');
    symlinkSync('link-real.safetensors', link); // relative, and nothing there yet
    symlinkSync(link, chain);
    const release = lockFor(chain);
    expect(readFileSync(`${real}.lock`, 'utf8')).toBe(mine);
    expect(existsSync(`${link}.lock`) || existsSync(`${chain}.lock`)).toBe(false);
    expect(() => lockFor(real)).toThrow(`cannot write ${real}: this process (${process.pid}) is writing it and holds ${real}.lock`);
    expect(() => lockFor(link)).toThrow(`cannot write ${link}: this process (${process.pid}) is writing it and holds ${real}.lock`);
    release();
    expect(existsSync(`${real}.lock`)).toBe(false);
  });
});
