// Options objects as plain JavaScript passes them: no type checker stops a misspelt or misplaced
// option there, so the functions that take options refuse names they do not know.

/** A value of the wrong kind (no options object, no number), as an error message shows it. */
export const shown = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v)
  : Array.isArray(v) ? 'an array'
  : typeof v === 'function' ? 'a function'
  : typeof v === 'object' && v !== null ? 'an object'
  : String(v);

/** Items as a sentence lists them: `a`, `a or b`, `a, b or c` (or with `and`). */
export const listed = (xs: readonly string[], conjunction: 'and' | 'or'): string => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} ${conjunction} ${xs.at(-1)}` : (xs[0] ?? ''));

/** `v` where it is a finite number ≥ 0 (an eps, a beta, a correction); else `fail` says what `name` must be. */
export function nonNegativeOption(name: string, v: unknown, fail: (why: string) => Error): number {
  if (typeof v === 'number' && v >= 0 && Number.isFinite(v)) return v;
  throw fail(`${name} must be a finite number ≥ 0, got ${shown(v)}`);
}

/** `v` where it is a number in [0, 1] (a momentum, label smoothing); else `fail` says what `name` must be. */
export function unitOption(name: string, v: unknown, fail: (why: string) => Error): number {
  if (typeof v === 'number' && v >= 0 && v <= 1) return v;
  throw fail(`${name} must be a number in [0, 1], got ${shown(v)}`);
}

/**
 * Refuses options the caller does not take (PyTorch's `dilation`, a misspelt `strides`, SGD's
 * `momentum` given to Adam), and options that are not an object (a dtype string in their place):
 * ignored, they would give another result than asked for, silently. `fail` builds the error.
 */
export function checkOptionNames(opts: unknown, known: readonly string[], fail: (why: string) => Error): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw fail(`options must be an object (with ${known.join(', ')}), got ${shown(opts)}`);
  }
  // An option set to undefined is one not given, as TypeScript's optional fields read it.
  const unknown = Object.entries(opts).flatMap(([k, v]) => (v === undefined || known.includes(k) ? [] : [k]));
  if (unknown.length) throw fail(`unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (it takes ${known.join(', ')})`);
}
