// Flags of the benchmark scripts. `--help` prints the script's opening comment, which is its
// usage; an unknown flag, a missing or extra argument, or a number out of range ends the script
// with one line on stderr and exit status 2, not a stack trace or a table of NaNs.
import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * Parses process.argv for the script at `scriptUrl` (its import.meta.url). `options` maps each
 * flag to { type: 'int' | 'number' | 'string' | 'boolean', default, min, max }; `args` is the
 * number of positional arguments wanted, [least, most]. Returns { flags, positionals, fail }: each
 * int or number flag parsed and checked, and fail(why), which ends the script the same way for
 * a check of the script's own.
 */
export function benchFlags(scriptUrl, options, { args = [0, 0], argv = process.argv.slice(2) } = {}) {
  const script = fileURLToPath(scriptUrl);
  const name = relative(process.cwd(), script) || basename(script);
  const fail = (why) => {
    process.stderr.write(`${name}: ${why} (--help for its usage)\n`);
    process.exit(2);
  };
  const parsed = {};
  for (const [flag, o] of Object.entries(options)) {
    if (o.type === 'boolean') parsed[flag] = { type: 'boolean', default: o.default ?? false };
    else parsed[flag] = { type: 'string', ...(o.default !== undefined ? { default: String(o.default) } : {}) };
  }
  let result;
  try {
    result = parseArgs({ args: argv, options: { ...parsed, help: { type: 'boolean', short: 'h' } }, allowPositionals: args[1] > 0, strict: true });
  } catch (e) {
    fail(e.message.split('\n')[0]);
  }
  if (result.values.help) {
    process.stdout.write(usage(script));
    process.exit(0);
  }
  const { positionals } = result;
  if (positionals.length < args[0] || positionals.length > args[1]) fail(`takes ${args[0] === args[1] ? args[0] : `${args[0]} to ${args[1]}`} argument${args[1] === 1 ? '' : 's'}, got ${positionals.length}`);
  const flags = {};
  for (const [flag, o] of Object.entries(options)) {
    const v = result.values[flag];
    if (v === undefined || (o.type !== 'int' && o.type !== 'number')) {
      flags[flag] = v;
      continue;
    }
    const n = Number(v);
    const { min = -Infinity, max = Infinity } = o;
    if (v.trim() === '' || !Number.isFinite(n) || (o.type === 'int' && !Number.isInteger(n)) || n < min || n > max) {
      const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` of at least ${min}` : max < Infinity ? ` of at most ${max}` : '';
      fail(`--${flag} must be ${o.type === 'int' ? 'an integer' : 'a number'}${range}, got '${v}'`);
    }
    flags[flag] = n;
  }
  return { flags, positionals, fail };
}

/** The script's opening comment, without its comment marks. */
function usage(script) {
  const lines = [];
  for (const line of readFileSync(script, 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return `${lines.join('\n')}\n`;
}
