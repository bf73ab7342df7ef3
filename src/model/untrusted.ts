// Text taken from untrusted files (tensor names, metadata, spec fields) or echoed by a parser
// (V8's JSON errors, zod's messages), made safe for an error message: control characters
// escaped, so a name cannot rewrite the user's terminal line, and cut short, so a 32 KB name
// does not become a 32 KB message. Browser-safe.

/**
 * C0 controls, DEL, C1 controls (\p{Cc}), the line separators U+2028/9 (JSON.stringify leaves C1
 * and these raw), and the bidi embeddings, overrides and isolates (U+202A–E, U+2066–9), which
 * make the text around them display reordered.
 */
const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** True when `s` holds a character that quote and clean escape, for text kept and printed as it is. */
export const hasControls = (s: string) => CONTROL.test(s);

/** `s` with every control character written as `\uXXXX`. */
function escapeControls(s: string): string {
  return s.replace(new RegExp(CONTROL, 'gu'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The first `max` characters of `s`, not splitting a surrogate pair. */
function head(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\ud800-\udbff]/.test(s[max - 1]!) ? max - 1 : max;
  return s.slice(0, end);
}

/** An untrusted string as a quoted, escaped JSON string of at most `max` characters (then `… (N characters)`). */
export function quote(s: string, max = 200): string {
  const h = head(s, max);
  return escapeControls(JSON.stringify(h)) + (h.length < s.length ? `… (${s.length} characters)` : '');
}

/** Unquoted text that may carry untrusted bytes (another parser's message), escaped and cut at `max` characters with `…`. */
export function clean(s: string, max = 200): string {
  const h = head(s, max);
  return escapeControls(h) + (h.length < s.length ? '…' : '');
}

/** Formats a path into a JSON value as `layers[3].kernelSize`; a key that is not a plain name is quoted (`["a b"]`). */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => {
      if (typeof p === 'number') return `[${p}]`;
      const key = String(p);
      return /^[A-Za-z_$][\w$]{0,63}$/.test(key) ? `${i ? '.' : ''}${key}` : `[${quote(key, 64)}]`;
    })
    .join('');
}

/**
 * `build()` on the first call, its result after. Schemas are built this way, on first use:
 * built at load, they would keep zod in the bundle of an app that never reads a file or a spec
 * (a bundler cannot drop a module's top-level calls). The call to `once` is annotated
 * `@__PURE__` for the same reason (test/package.test.ts checks the bundle).
 */
export function once<T>(build: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: build() }).v;
}

/**
 * What a file given in the wrong place is, from its first bytes, as an error message names it
 * ("a PNG picture" where a checkpoint was expected); undefined for anything else.
 */
export function fileKind(bytes: Uint8Array): string | undefined {
  const starts = (...b: number[]) => b.every((x, i) => bytes[i] === x);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG picture';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG picture';
  if (starts(0x1f, 0x8b)) return 'a gzip file';
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "a zip file (torch.save's format)";
  if (bytes.length > 9 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) return 'a safetensors file';
  if (starts(0, 0, 8) && bytes[3]! >= 1 && bytes[3]! <= 4) return 'an IDX file';
  const text = starts(0xef, 0xbb, 0xbf) ? bytes.subarray(3, 64) : bytes.subarray(0, 64); // after a UTF-8 byte order mark
  if (text.find((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) === 0x7b) return 'JSON text';
  return undefined;
}
