// Named tensors on the host (a checkpoint's parameters, an optimizer's saved state), checked in
// full against what they are to fill before anything is written: a load that fails halfway
// would leave a model or optimizer neither as it was nor as the file says.
import { fmt, numel, sameShape, type Shape } from '../runtime/shape.js';
import { quote } from './untrusted.js';

/** Tensors on the host by name, as `Model.state()` returns them and checkpoints hold them. */
export type HostTensors = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

/** Host tensors as a Map or a plain object of name → { shape, data }, as loaders take them. */
export type HostTensorsLike = HostTensors | Readonly<Record<string, { shape: readonly number[]; data: Float32Array }>>;

/** `given` as a Map; `what` names the loader in the TypeError for anything else. */
export function hostTensors(given: HostTensorsLike, what: string): HostTensors {
  if (given instanceof Map) return given;
  // A plain object only (of any realm: its prototype's is null): an array's or a typed array's
  // indices are no tensor names.
  const proto: unknown = typeof given === 'object' && given !== null ? Object.getPrototypeOf(given) : undefined;
  if (proto !== null && (proto === undefined || Object.getPrototypeOf(proto) !== null)) {
    throw new TypeError(`${what}: takes a Map or a plain object of name → { shape, data }, got ${describe(given)}`);
  }
  return new Map(Object.entries(given));
}

/**
 * `given` with the prefix every one of its names carries before a wanted name taken off ("module.",
 * as nn.DataParallel saves a model's state_dict), and that prefix; else `given` as it is.
 */
export function withoutPrefix(given: HostTensors, wanted: ReadonlyMap<string, unknown>): { tensors: HostTensors; prefix?: string } {
  const [first] = given.keys();
  if (first === undefined || wanted.has(first)) return { tensors: given };
  // The prefix is what the first name has before one of the wanted names.
  for (const name of wanted.keys()) {
    if (!first.endsWith(`.${name}`)) continue;
    const prefix = first.slice(0, first.length - name.length);
    if ([...given.keys()].every((k) => k.startsWith(prefix))) return { tensors: new Map([...given].map(([k, t]) => [k.slice(prefix.length), t])), prefix };
  }
  return { tensors: given };
}

// Mismatches listed in an error (a file may hold thousands of wrong names).
const MAX_LISTED = 8;

/**
 * How `given` differs from `wanted` (name → shape): missing and unexpected names, other
 * shapes, data that is not a Float32Array of the shape's size. Empty when they match.
 * `here` names the wanted side (e.g. 'the model'); the caller names the given one.
 */
export function mismatches(given: HostTensors, wanted: ReadonlyMap<string, Shape>, here: string): string {
  const problems: string[] = [];
  for (const [name, shape] of wanted) {
    const t = given.get(name);
    if (!t) problems.push(`missing ${name} ${fmt(shape)}`);
    else if (!sameShape(t.shape, shape)) problems.push(`${name} is ${fmt(t.shape)} there but ${fmt(shape)} in ${here}`);
    else if (!(t.data instanceof Float32Array) || t.data.length !== numel(shape)) {
      const got = t.data instanceof Float32Array ? `${t.data.length} values` : describe(t.data);
      problems.push(`${name} ${fmt(shape)} needs a Float32Array of ${numel(shape)} values, got ${got}`);
    }
  }
  // Names from a file are quoted (escaped, cut short), and only the first few listed.
  for (const name of given.keys()) if (!wanted.has(name)) problems.push(`unexpected ${quote(name)}`);
  const more = problems.length > MAX_LISTED ? `; and ${problems.length - MAX_LISTED} more` : '';
  return problems.slice(0, MAX_LISTED).join('; ') + more;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  const name = (v as object).constructor?.name ?? typeof v;
  return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}
