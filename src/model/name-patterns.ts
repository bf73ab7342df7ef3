// Parameters chosen by name or glob pattern (`*.bias`), for settings that apply to some
// parameters only, such as no weight decay on biases.

/** `pattern` as a regular expression: `*` any run of characters (dots too), `?` any one, the rest literal, as Python's fnmatch (without brackets). */
function globRegExp(pattern: string): RegExp {
  const parts = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('')}$`, 's');
}

/**
 * The names among `names`, in their order, that match any of `patterns` (names, or globs with
 * `*` and `?`). A pattern that matches none throws a RangeError naming it (`who`: where the
 * patterns come from) and the names there are: a misspelt name would otherwise choose nothing.
 */
export function matchNames(patterns: readonly string[], names: readonly string[], who: string): string[] {
  const res = patterns.map(globRegExp);
  const unmatched = patterns.findIndex((_, i) => !names.some((n) => res[i]!.test(n)));
  if (unmatched >= 0) {
    const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')}, … (${names.length} in all)` : names.join(', ');
    throw new RangeError(`${who}: ${JSON.stringify(patterns[unmatched])} matches no parameter (they are ${shown || 'none'})`);
  }
  return names.filter((n) => res.some((re) => re.test(n)));
}
