// Every name the package exports (`fovea` and `fovea/node`) has a doc comment where it is
// declared: the entry points' re-exports are followed to the declaring source file.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');
const DECLARATION = /^export (?:declare )?(?:async )?(?:abstract )?(?:function\*?|class|interface|type|const|let|enum) (\w+)/gm;
const RE_EXPORT = /^export (?:type )?\{([^}]*)\}\s*from\s*'([^']+)'/gm;
const STAR = /^export \* from '([^']+)'/gm;

const source = (file: string) => readFileSync(file, 'utf8');
const target = (from: string, spec: string) => join(dirname(from), spec.replace(/\.js$/, '.ts'));

/** `{ exported: original }` of an `export { … } from` list. */
function specifiers(list: string): [string, string][] {
  return list
    .split(',')
    .map((s) => s.trim().replace(/^type\s+/, ''))
    .filter(Boolean)
    .map((s) => {
      const [orig, as] = s.split(/\s+as\s+/);
      return [as ?? orig!, orig!];
    });
}

/** Every name a module exports, with the module and name it is declared as. */
function exportsOf(file: string): Map<string, { file: string; name: string }> {
  const out = new Map<string, { file: string; name: string }>();
  const text = source(file);
  for (const m of text.matchAll(DECLARATION)) out.set(m[1]!, { file, name: m[1]! });
  for (const m of text.matchAll(RE_EXPORT)) {
    const from = exportsOf(target(file, m[2]!));
    for (const [name, orig] of specifiers(m[1]!)) {
      const decl = from.get(orig);
      if (!decl) throw new Error(`${relative(SRC, file)} re-exports ${orig}, which ${m[2]} does not export`);
      out.set(name, decl);
    }
  }
  for (const m of text.matchAll(STAR)) for (const [name, decl] of exportsOf(target(file, m[1]!))) out.set(name, decl);
  return out;
}

/** Whether the declaration of `name` in `text` is directly preceded by a `/** … *\/` comment. */
function documented(text: string, name: string): boolean {
  const decl = [...text.matchAll(DECLARATION)].find((m) => m[1] === name)!;
  const before = text.slice(0, decl.index).trimEnd();
  return before.endsWith('*/') && before.lastIndexOf('/**') > before.lastIndexOf('*/', before.length - 3);
}

describe('public API documentation', () => {
  for (const entry of ['index.ts', 'node.ts']) {
    it(`every name exported by src/${entry} has a doc comment`, () => {
      const names = exportsOf(join(SRC, entry));
      expect(names.size).toBeGreaterThan(entry === 'index.ts' ? 80 : 20);
      const missing = [...names].filter(([, d]) => !documented(source(d.file), d.name)).map(([n, d]) => `${n} (${relative(SRC, d.file)})`);
      expect(missing).toEqual([]);
    });
  }

  it('tells a doc comment from a plain comment or none', () => {
    const text = ['/** A. */', 'export const a = 1;', '// B.', 'export function b() {}', '/** C. */', 'const x = 2;', 'export class C {}'].join('\n');
    expect(['a', 'b', 'C'].map((n) => documented(text, n))).toEqual([true, false, false]);
  });
});
