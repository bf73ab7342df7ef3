// lockFor: one run at a time on an output; stale locks (a run killed outright) are taken over.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockFor } from '../src/model/files.js';

const tmp = mkdtempSync(join(tmpdir(), 'fovea-lock-'));

describe('lockFor', () => {
  it('refuses a second taker in the same process while held, and is free again once released', () => {
    const out = join(tmp, 'same.safetensors');
    const release = lockFor(out);
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(`${process.pid}\n`);
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
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    release();
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it('leaves a stale lock that another process is taking over to it', () => {
    const out = join(tmp, 'takeover.safetensors');
    writeFileSync(`${out}.lock`, '999999999\n'); // over any pid_max: no such process
    writeFileSync(`${out}.lock.takeover`, '1\n');
    expect(() => lockFor(out)).toThrow('another process is taking over its stale lock');
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe('999999999\n');
  });
});
