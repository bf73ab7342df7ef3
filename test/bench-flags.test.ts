// The benchmark scripts' flags (bench/flags.mjs): usage on --help, and a bad flag ends the
// script with one line naming it and exit status 2, before anything is measured.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const bench = (script: string, ...args: string[]) => spawnSync(process.execPath, [`bench/${script}`, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

it('--help prints the opening comment of the script', () => {
  const r = bench('train.mjs', '--help');
  expect(r.status).toBe(0);
  const header = readFileSync(`${ROOT}bench/train.mjs`, 'utf8').split('\n')[0]!.slice(3);
  expect(r.stdout.split('\n')[0]).toBe(header);
  expect(r.stdout).toContain('--no-peers');
});

it.each([
  ['train.mjs', ['--steps', 'many'], "--steps must be an integer of at least 1, got 'many'"],
  ['train.mjs', ['--window', '2.5'], "--window must be an integer of at least 1, got '2.5'"],
  ['train.mjs', ['--steps', '5'], '--steps (5) must be at least --window (10)'],
  ['train.mjs', ['--step', '5'], "Unknown option '--step'"],
  ['demo.mjs', ['--target', '95'], "--target must be a number from 0 to 1, got '95'"],
  ['fit-light.mjs', [], 'takes 1 argument, got 0'],
  ['fit-light.mjs', ['model.safetensors', '--count', ''], "--count must be an integer from 1 to 10000, got ''"],
])('%s %j: one line and exit status 2', (script, args, why) => {
  const r = bench(script, ...args);
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe(`bench/${script}: ${why} (--help for its usage)\n`);
});
