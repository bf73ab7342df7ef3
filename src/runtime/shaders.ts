// The WGSL sources under shaders/, reached through Vite's import.meta.glob (one mechanism for
// Node builds, vitest and the demo), and what fovea reads from them: the binding table and the
// layout of the `Params` uniform struct (and of other structs the host fills, such as the
// optimizers' `Hyper`). The WGSL file is the single source of both. A line
// `// #include "name.wgsl"` inserts shaders/lib/name.wgsl there (declarations that kernels of
// one family share); compile errors are reported at the line of the file that holds it.
import { FoveaError } from './errors.js';

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

export interface BindingDecl {
  name: string;
  binding: number;
  kind: BindingKind;
}

export interface StructField {
  name: string;
  type: 'f32' | 'u32' | 'i32';
  /** Number of scalars (1 for a scalar, 4 for a vec4, 4·n for array<vec4<T>, n>). */
  count: number;
  offset: number;
}

/** Where a line of a shader's expanded source comes from. */
export interface SourceLine {
  file: string;
  line: number;
}

export interface ShaderInfo {
  file: string;
  /** The source with its includes expanded: what the device compiles. */
  source: string;
  /** For each line of `source`, the file and line it comes from. */
  lines: readonly SourceLine[];
  /** Every binding the file declares. */
  bindings: BindingDecl[];
  /** The bindings each entry point uses (through the functions it calls), as WGSL counts use. */
  entryBindings: ReadonlyMap<string, BindingDecl[]>;
  /** Integer `const` declarations at module scope (block sizes the host must know too). */
  consts: Readonly<Record<string, number>>;
  /** The `override` constants it declares, which a dispatch's `constants` may set: by name, or by id where one has an `@id`. */
  overrides: readonly string[];
  /** Layout of `struct Params` when the shader has one; bound as the `params` uniform. */
  params: StructLayout | undefined;
}

/** Where the host writes each field of a WGSL struct, and its size (a multiple of 16). */
export interface StructLayout {
  /** `file: struct Name`, for errors. */
  what: string;
  fields: StructField[];
  byteSize: number;
  /** The distance between elements of an array of it in a storage buffer (its size rounded to its alignment, not to 16). */
  stride: number;
}

const BINDING_RE = /@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(uniform|storage\s*,\s*read_write|storage\s*,\s*read|storage)\s*>\s*(\w+)/g;
const FIELD_RE = /(\w+)\s*:\s*(array<\s*vec4<(f32|u32|i32)>\s*,\s*(\d+)u?\s*>|vec4<(f32|u32|i32)>|f32|u32|i32)\s*(,|$)/gy;

const INCLUDE_RE = /^\s*\/\/\s*#include\s+"([\w.-]+)"\s*$/;

const sources = import.meta.glob<string>('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true });
const fragments = new Map(
  Object.entries(import.meta.glob<string>('../../shaders/lib/*.wgsl', { query: '?raw', import: 'default', eager: true })).map(([path, source]) => [
    path.slice(path.lastIndexOf('/') + 1),
    source,
  ]),
);
const registry = new Map<string, ShaderInfo>();
for (const [path, source] of Object.entries(sources)) {
  const file = path.slice(path.lastIndexOf('/') + 1);
  registry.set(file, parseShader(file, source));
}

/**
 * Adds a WGSL source under a file name (custom kernels, tests). The same source again (a module
 * evaluated twice, a hot reload) is the same shader; another source under a taken name throws.
 */
export function registerShader(file: string, source: string): ShaderInfo {
  const info = parseShader(file, source);
  const existing = registry.get(file);
  if (existing) {
    if (existing.source === info.source) return existing;
    throw new FoveaError(`registerShader: a shader named ${file} already exists, with another source`);
  }
  registry.set(file, info);
  return info;
}

export function shaderInfo(file: string): ShaderInfo {
  const info = registry.get(file);
  if (!info) throw new FoveaError(`unknown shader ${file}; known: ${[...registry.keys()].join(', ')}`);
  return info;
}

/** Expands `// #include "name.wgsl"` lines (fragments may include others, each once per shader). */
function expand(file: string, text: string, seen = new Set<string>()): { source: string; lines: SourceLine[] } {
  const out: string[] = [];
  const lines: SourceLine[] = [];
  text.split('\n').forEach((code, i) => {
    const name = INCLUDE_RE.exec(code)?.[1];
    if (name === undefined) {
      out.push(code);
      lines.push({ file, line: i + 1 });
      return;
    }
    const fragment = fragments.get(name);
    if (fragment === undefined) throw new FoveaError(`${file}:${i + 1}: cannot include "${name}": shaders/lib holds ${[...fragments.keys()].join(', ') || 'nothing'}`);
    if (seen.has(name)) return;
    seen.add(name);
    const inner = expand(`lib/${name}`, fragment, seen);
    out.push(inner.source);
    lines.push(...inner.lines);
  });
  return { source: out.join('\n'), lines };
}

function parseShader(file: string, text: string): ShaderInfo {
  const { source, lines } = expand(file, text);
  const bindings: BindingDecl[] = [];
  for (const m of source.matchAll(BINDING_RE)) {
    const access = m[2]!.replace(/\s+/g, '');
    const kind: BindingKind = access === 'uniform' ? 'uniform' : access === 'storage,read_write' ? 'storage' : 'read-only-storage';
    bindings.push({ binding: Number(m[1]), kind, name: m[3]! });
  }
  bindings.sort((a, b) => a.binding - b.binding);
  const consts: Record<string, number> = {};
  for (const m of source.matchAll(/^const\s+(\w+)\s*(?::\s*\w+\s*)?=\s*(\d+)u?\s*;/gm)) consts[m[1]!] = Number(m[2]);
  // Keyed as a pipeline's `constants` name them: by the @id where one is given (WebGPU then
  // refuses the name), else by the name.
  const overrides = [...source.replace(/\/\/[^\n]*/g, '').matchAll(/(?:@id\s*\(\s*(\d+)u?\s*\)\s*)?\boverride\s+(\w+)/g)].map((m) => (m[1] === undefined ? m[2]! : String(Number(m[1]))));
  return { file, source, lines, bindings, entryBindings: usedBindings(source, bindings), consts, overrides, params: parseStruct(file, source, 'Params') };
}

// Which bindings each entry point statically uses: the identifiers in its body and, through
// calls, in the functions it reaches. Good enough for our own shaders, whose entry points are
// the functions marked @compute. One file can then hold entry points with different bindings
// (e.g. a scalar and a vec4 view of the same output, which must not be bound together).
function usedBindings(source: string, bindings: readonly BindingDecl[]): Map<string, BindingDecl[]> {
  const code = source.replace(/\/\/[^\n]*/g, '');
  const bodies = new Map<string, string>();
  const entries: string[] = [];
  for (const m of code.matchAll(/(@compute[^;{]*?)?\bfn\s+(\w+)\s*\(/g)) {
    let depth = 0;
    let i = code.indexOf('{', m.index);
    const start = m.index;
    for (; i < code.length; i++) {
      if (code[i] === '{') depth++;
      else if (code[i] === '}' && --depth === 0) break;
    }
    bodies.set(m[2]!, code.slice(start, i + 1));
    if (m[1]) entries.push(m[2]!);
  }
  const out = new Map<string, BindingDecl[]>();
  for (const entry of entries) {
    const seen = new Set<string>([entry]);
    const names = new Set<string>();
    const work = [entry];
    while (work.length) {
      // Not a member after a dot (`wid.x` names no binding x).
      for (const id of bodies.get(work.pop()!)!.match(/(?<!\.\s*)\b[A-Za-z_]\w*\b/g) ?? []) {
        names.add(id);
        if (bodies.has(id) && !seen.has(id)) {
          seen.add(id);
          work.push(id);
        }
      }
    }
    out.set(entry, bindings.filter((b) => names.has(b.name)));
  }
  return out;
}

// Layout per WGSL's rules for the field types we allow: 4-byte scalars, 16-byte vec4s, arrays of
// vec4 (stride 16); the size rounds up to 16, as a uniform buffer's must (a storage buffer may be
// larger than its struct), the stride of an array of it to its largest field alignment.
function parseStruct(file: string, source: string, name: string): StructLayout | undefined {
  const body = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(source.replace(/\/\/[^\n]*/g, ''))?.[1];
  if (body === undefined) return undefined;
  const fields: StructField[] = [];
  let offset = 0;
  let maxAlign = 4;
  const text = body.trim();
  FIELD_RE.lastIndex = 0;
  while (FIELD_RE.lastIndex < text.length) {
    const start = FIELD_RE.lastIndex;
    const m = FIELD_RE.exec(text);
    if (!m) throw new FoveaError(`${file}: unsupported field in struct ${name} near '${text.slice(start, start + 40)}'`);
    const [, field, whole, arrType, arrLen, vecType] = m;
    const type = (arrType ?? vecType ?? whole) as StructField['type'];
    const count = arrLen ? 4 * Number(arrLen) : vecType ? 4 : 1;
    const align = count > 1 ? 16 : 4;
    offset = Math.ceil(offset / align) * align;
    maxAlign = Math.max(maxAlign, align);
    fields.push({ name: field!, type, count, offset });
    offset += 4 * count;
    while (/\s/.test(text[FIELD_RE.lastIndex] ?? '')) FIELD_RE.lastIndex++;
  }
  return { what: `${file}: struct ${name}`, fields, byteSize: Math.max(16, Math.ceil(offset / 16) * 16), stride: Math.ceil(offset / maxAlign) * maxAlign };
}

/** The layout of `struct name` in shader `file`, for the host to fill (packStruct). */
export function structLayout(file: string, name: string): StructLayout {
  const layout = parseStruct(file, shaderInfo(file).source, name);
  if (!layout) throw new FoveaError(`${file} declares no struct ${name}`);
  return layout;
}

export type ParamValues = Record<string, number | readonly number[]>;

/** Packs named values into the shader's `Params` layout; a missing or unknown name throws. */
export function packParams(info: ShaderInfo, values: ParamValues, target: ArrayBuffer, byteOffset: number): void {
  if (!info.params) throw new FoveaError(`${info.file} has no struct Params but params were given`);
  packStruct(info.params, values, target, byteOffset);
}

/** Packs named values into a struct's layout; a missing or unknown name throws. */
export function packStruct(layout: StructLayout, values: ParamValues, target: ArrayBuffer, byteOffset = 0): void {
  const f32 = new Float32Array(target, byteOffset, layout.byteSize / 4);
  const u32 = new Uint32Array(target, byteOffset, layout.byteSize / 4);
  const i32 = new Int32Array(target, byteOffset, layout.byteSize / 4);
  for (const key of Object.keys(values)) {
    if (!layout.fields.some((f) => f.name === key)) throw new FoveaError(`${layout.what} has no field '${key}'`);
  }
  for (const field of layout.fields) {
    const v = values[field.name];
    if (v === undefined) throw new FoveaError(`${layout.what}: no value given for ${field.name}`);
    const list = typeof v === 'number' ? [v] : v;
    if (list.length > field.count) throw new FoveaError(`${layout.what}: ${field.name} holds ${field.count} value${field.count > 1 ? 's' : ''}, got ${list.length}`);
    const view = field.type === 'f32' ? f32 : field.type === 'u32' ? u32 : i32;
    const base = field.offset / 4;
    for (let i = 0; i < field.count; i++) view[base + i] = list[i] ?? 0;
  }
}
