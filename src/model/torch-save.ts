// Reading a state_dict saved by PyTorch's torch.save: the ZIP format of PyTorch 1.6 and later, an
// archive of data.pkl, the pickled dict of tensors, and one entry per storage (data/0, data/1 …);
// or the legacy format before it (and of _use_new_zipfile_serialization=False), pickles one after
// another (a magic number, a version, the system's sizes, the dict of tensors, the storages'
// keys) and then each storage's bytes. The pickle is read by a restricted reader (./pickle.ts) that builds what a state_dict
// holds: dicts, OrderedDict, and tensors rebuilt from storages of float32, float64, float16,
// bfloat16 or int64 (read as f32, as the safetensors reader reads them); objects of any other
// class, and tensors of other dtypes, are inert stand-ins, refused only where a tensor is taken.
// Of a training checkpoint, a dict holding one such dict among other values, that one. A file of
// torch.save(model), which pickles the model's classes, is refused with what to save instead.
// fovea's own files (./torch-save-write.ts) hold the model spec besides, which is read too. Each
// failure is a FileFormatError naming the file and a byte offset. Browser-safe.
import { FileFormatError } from '../runtime/errors.js';
import { PickleError, unpickle, unpickleFirst, type PickleHooks } from './pickle.js';
import { readAsF32, type SafetensorsTensor } from './safetensors.js';
import { SPEC_RECORD } from './torch-save-write.js';
import { quote } from './untrusted.js';
import { isZip, readZip, type ZipEntry } from './zip.js';

/** The dtypes read, for messages. */
const READ = 'tensors of float32, float64, float16, bfloat16 and int64 are read';
/** PyTorch's storage classes read, as safetensors dtypes, with their bytes per element. */
const STORAGES: Record<string, { dtype: string; size: number }> = {
  FloatStorage: { dtype: 'F32', size: 4 },
  DoubleStorage: { dtype: 'F64', size: 8 },
  HalfStorage: { dtype: 'F16', size: 2 },
  BFloat16Storage: { dtype: 'BF16', size: 2 },
  LongStorage: { dtype: 'I64', size: 8 },
};

/** A storage class of the pickle (GLOBAL torch.FloatStorage …). */
class StorageType {
  constructor(readonly name: string) {}
}

/**
 * Bytes per element of PyTorch's storage classes not read: the legacy format's storages follow one
 * another, so the length of each, read or not, is needed to find the next.
 */
const OTHER_SIZES: Record<string, number> = {
  IntStorage: 4, ShortStorage: 2, CharStorage: 1, ByteStorage: 1, BoolStorage: 1, ComplexFloatStorage: 8, ComplexDoubleStorage: 16,
  QInt8Storage: 1, QUInt8Storage: 1, QInt32Storage: 4, QUInt4x2Storage: 1, QUInt2x4Storage: 1,
};

/** A storage, once its persistent id has been read; its bytes, in the legacy format, once they are reached after the pickle. */
class Storage {
  data: Uint8Array = new Uint8Array(0);
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly size: number,
    readonly numel: number,
  ) {}
}

/**
 * A Python value the reader does not build: an object of a class other than a dict (a numpy
 * scalar, an argparse.Namespace, a whole model), a tensor of a dtype not read. Nothing of it
 * runs; it is refused where a tensor of the state_dict is wanted, and ignored elsewhere (a
 * training checkpoint's other entries).
 */
class Opaque {
  constructor(
    readonly what: string,
    readonly why = '',
  ) {}
}

/** A tensor as _rebuild_tensor_v2 describes it: a view of a storage. */
class TensorView {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** The legacy format's magic number, 0x1950a86a20f9469cfc6c: as LONG1 (protocols 2 to 5) and as LONG (0 and 1). */
const LEGACY_MAGIC = Uint8Array.of(0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);
const LEGACY_MAGIC_TEXT = Uint8Array.from('L119547037146038801333356L\n', (c) => c.charCodeAt(0));

/** Whether `bytes` are a torch.save file of PyTorch's legacy format (before 1.6): a pickled magic number first, of any protocol. */
export function isLegacyTorchSave(bytes: Uint8Array): boolean {
  let at = 0;
  if (bytes[at] === 0x80) at += 2; // PROTO
  if (bytes[at] === 0x95) at += 9; // FRAME (protocol 4 and 5)
  const startsWith = (magic: Uint8Array) => magic.every((b, i) => bytes[at + i] === b);
  return startsWith(LEGACY_MAGIC) || startsWith(LEGACY_MAGIC_TEXT);
}

/** Whether `bytes` look like a torch.save archive (a ZIP file): parseTorchSave reads those. */
export const isTorchSave = isZip;

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
/** Far more than a state_dict's pickle (about 150 bytes a tensor) takes: the pickle reader's memory grows with it. */
const MAX_PICKLE_BYTES = 16 * 1024 * 1024;
/** PyTorch's most dimensions of a tensor. */
const MAX_DIMS = 64;
/** A list of sizes or strides for a message: the first 8. */
const listed = (xs: readonly number[]) => `[${xs.slice(0, 8).join(', ')}${xs.length > 8 ? `, … (${xs.length} in all)` : ''}]`;

/** A MiB: far more than a model spec's JSON takes (the spec reader has its own bound). */
const MAX_SPEC_BYTES = 1 << 20;

/** A storage's persistent id, as the pickle gives it. */
interface StorageId {
  type: string;
  key: string;
  numel: number;
}

/**
 * What the pickle of a state_dict may use: OrderedDict, the tensor rebuilders and the storage
 * classes; a storage (by `idOf` of its persistent id) is made once per key, by `made` where its
 * dtype is read, an inert stand-in otherwise (after `made` has seen it: the legacy format needs
 * its length).
 */
function stateDictHooks(storages: Map<string, Storage | Opaque>, idOf: (pid: unknown) => StorageId, made: (id: StorageId, kind: { dtype: string; size: number } | undefined) => Storage | undefined): PickleHooks {
  return {
    global(module: string, name: string): unknown {
      if (module === 'collections' && name === 'OrderedDict') {
        // Python 3 pickles an OrderedDict's items after the call; Python 2 (PyTorch 1.4 and
        // before) passes them to it, as a list of [key, value] pairs.
        return (...args: unknown[]) => {
          const d = new Map<unknown, unknown>();
          if (args.length === 0) return d;
          const [items] = args;
          if (args.length !== 1 || !Array.isArray(items)) throw new Error('OrderedDict called with items that are not a list of [key, value] pairs');
          for (const item of items) {
            if (!Array.isArray(item) || item.length !== 2) throw new Error('OrderedDict called with an item that is not a [key, value] pair');
            const k: unknown = item[0];
            if (!(typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k === null)) throw new Error('OrderedDict called with a key that is not a string, a number, a boolean or None');
            d.set(k, item[1]);
          }
          return d;
        };
      }
      if (module === 'torch._utils' && name === '_rebuild_tensor_v2') return rebuild;
      if (module === 'torch._utils' && name === '_rebuild_parameter') return (data: unknown) => data;
      if (module === 'torch' && name.endsWith('Storage')) return new StorageType(name);
      // Any other class or function: calling it makes an inert stand-in, and runs nothing.
      const python = quote(`${module}.${name}`, 80);
      return Object.assign(() => new Opaque(`an object of ${python}`), { python });
    },
    persistent(pid: unknown): unknown {
      const id = idOf(pid);
      const known = storages.get(id.key);
      if (known) return known;
      const s = made(id, Object.hasOwn(STORAGES, id.type) ? STORAGES[id.type] : undefined) ?? new Opaque(`a tensor of torch.${quote(id.type, 40).slice(1, -1)}`, READ);
      storages.set(id.key, s);
      return s;
    },
    build(obj: unknown): void {
      // A state_dict's OrderedDict carries _metadata (each module's version), an object its
      // attributes: neither is needed here.
      if (!(obj instanceof Map || obj instanceof Opaque)) throw new Error(`a BUILD of ${kind(obj)}, which takes no state`);
    },
  };
}

/** ('storage', storage class, key, location, number of elements): the persistent id's first five, as both formats write them. */
function storageId(pid: unknown, length: number, what: string): StorageId {
  if (!Array.isArray(pid) || pid.length !== length || pid[0] !== 'storage' || !(pid[1] instanceof StorageType) || typeof pid[2] !== 'string' || typeof pid[3] !== 'string' || !isInt(pid[4])) {
    throw new Error(`a persistent id that is not a storage's ${what}`);
  }
  return { type: (pid[1] as StorageType).name, key: pid[2] as string, numel: pid[4] as number };
}

/** A pickle's failure as the file's, at its byte. */
function pickleFailure(e: unknown, file: string, at: number, where: string): unknown {
  // A limit of the engine's (a Map's most entries) reached by a huge pickle is the file's doing too.
  if (e instanceof RangeError) return new FileFormatError(file, at, `${where}: too large to read (${e.message})`);
  if (!(e instanceof PickleError)) return e;
  return new FileFormatError(file, at + e.at, `${where}: ${e.message}`);
}

/**
 * The tensors of a state_dict saved with torch.save (its ZIP format), by name, in the dict's
 * order, as f32 (the dtype they were saved in is kept), and the model spec's JSON text where fovea
 * wrote one. Throws FileFormatError for anything else.
 */
export function parseTorchSave(bytes: Uint8Array, file: string): { tensors: Map<string, SafetensorsTensor>; spec: string | undefined } {
  const entries = readZip(bytes, file);
  const entryAt = (e: ZipEntry) => e.data.byteOffset - bytes.byteOffset;
  const pkl = entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (!pkl) throw new FileFormatError(file, undefined, `a ZIP archive without the data.pkl of a torch.save file (it holds ${entries.slice(0, 5).map((e) => quote(e.name)).join(', ')}${entries.length > 5 ? ', …' : ''})`);
  if (pkl.data.length > MAX_PICKLE_BYTES) throw new FileFormatError(file, entryAt(pkl), `${quote(pkl.name)} is ${pkl.data.length} bytes, more than the ${MAX_PICKLE_BYTES} read: a state_dict's pickle takes about 150 bytes a tensor`);
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const order = byName.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order.data) !== 'little') throw new FileFormatError(file, entryAt(order), `its byteorder entry says ${quote(new TextDecoder().decode(order.data))}; only little-endian files are read`);

  const storages = new Map<string, Storage | Opaque>();
  const hooks = stateDictHooks(
    storages,
    (pid) => storageId(pid, 5, "('storage', type, key, location, size)"),
    ({ key, numel }, kind) => {
      if (!kind) return undefined;
      const entry = byName.get(`${prefix}data/${key}`);
      if (!entry) throw new Error(`storage ${quote(key)} has no entry ${quote(`${prefix}data/${key}`)} in the archive`);
      if (entry.data.length !== numel * kind.size) throw new Error(`storage ${quote(key)}: ${numel} elements of ${kind.size} bytes, but its entry holds ${entry.data.length} bytes`);
      const s = new Storage(key, kind.dtype, kind.size, numel);
      s.data = entry.data;
      return s;
    },
  );
  let value: unknown;
  try {
    value = unpickle(pkl.data, hooks);
  } catch (e) {
    throw pickleFailure(e, file, entryAt(pkl), quote(pkl.name));
  }
  const specEntry = byName.get(`${prefix}${SPEC_RECORD}`);
  if (specEntry && specEntry.data.length > MAX_SPEC_BYTES) throw new FileFormatError(file, entryAt(specEntry), `${quote(specEntry.name)} is ${specEntry.data.length} bytes, more than a model spec takes`);
  const spec = specEntry && new TextDecoder().decode(specEntry.data);
  return { tensors: tensorsOf(value, file, entryAt(pkl), storages), spec };
}

/** The legacy format's magic number, as its first pickle holds it. */
const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
/** The legacy format's protocol version, its second pickle. */
const LEGACY_VERSION = 1001;

/**
 * The tensors of a state_dict saved with torch.save in its legacy format (that of PyTorch before
 * 1.6, and of _use_new_zipfile_serialization=False), as parseTorchSave gives them: five pickles
 * (magic number, version, system info, the state_dict, its storages' keys), then each storage's
 * element count (int64) and bytes, in the keys' order. Throws FileFormatError for anything else.
 */
export function parseLegacyTorchSave(bytes: Uint8Array, file: string): Map<string, SafetensorsTensor> {
  let at = 0;
  const next = (what: string, hooks: PickleHooks): unknown => {
    try {
      const { value, length } = unpickleFirst(bytes.subarray(at, at + MAX_PICKLE_BYTES), hooks);
      at += length;
      return value;
    } catch (e) {
      // Cut short by the bound read, not by the file.
      if (e instanceof PickleError && e.message.startsWith('the pickle ends') && bytes.length - at > MAX_PICKLE_BYTES) {
        throw new FileFormatError(file, at, `${what} runs past the ${MAX_PICKLE_BYTES} bytes read: a state_dict's pickle takes about 150 bytes a tensor`);
      }
      throw pickleFailure(e, file, at, what);
    }
  };
  const refuse = (what: string) => () => {
    throw new Error(`${what}, where plain values are`);
  };
  const plain: PickleHooks = { global: (module, name) => refuse(`the Python name ${quote(`${module}.${name}`, 80)}`)(), persistent: refuse('a persistent id'), build: refuse('a BUILD') };
  if (next('its magic number', plain) !== LEGACY_MAGIC_NUMBER) throw new FileFormatError(file, 0, "not the magic number of torch.save's legacy format");
  const versionAt = at;
  const version = next('its protocol version', plain);
  if (version !== LEGACY_VERSION) throw new FileFormatError(file, versionAt, `protocol version ${quote(String(version))} of torch.save's legacy format, not ${LEGACY_VERSION}, the one PyTorch writes`);
  const infoAt = at;
  const info = next('its system info', plain);
  if (!(info instanceof Map) || info.get('little_endian') !== true) throw new FileFormatError(file, infoAt, 'saved on a big-endian machine, or with no little_endian in its system info: only little-endian files are read');

  // Every storage the pickle names, read or not, with its length: they follow one another.
  const storages = new Map<string, Storage | Opaque>();
  const lengths = new Map<string, { numel: number; size: number; storage: Storage | undefined }>();
  const stateDict = stateDictHooks(
    storages,
    (pid) => {
      const id = storageId(pid, 6, "('storage', type, key, location, size, view)");
      if ((pid as unknown[])[5] !== null) throw new Error(`storage ${quote(id.key)} is a view of another (PyTorch before 1.0 saved those), which is not read: save it again with a later PyTorch`);
      return id;
    },
    (id, kind) => {
      const size = kind?.size ?? (Object.hasOwn(OTHER_SIZES, id.type) ? OTHER_SIZES[id.type] : undefined);
      if (size === undefined) throw new Error(`a storage of torch.${quote(id.type, 40).slice(1, -1)}, whose element size is not known (${READ})`);
      const storage = kind && new Storage(id.key, kind.dtype, kind.size, id.numel);
      lengths.set(id.key, { numel: id.numel, size, storage });
      return storage;
    },
  );
  // torch.save(model) gives each module class the id ('module', class, source file, source): the class, an inert stand-in.
  const hooks = { ...stateDict, persistent: (pid: unknown) => (Array.isArray(pid) && pid[0] === 'module' && typeof pid[1] === 'function' ? pid[1] : stateDict.persistent(pid)) };
  const dictAt = at;
  const value = next('its pickled state_dict', hooks);
  const keysAt = at;
  const keys = next("its storages' keys", plain);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new FileFormatError(file, keysAt, `its storages' keys are ${kind(keys)}, not a list of names`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const done = new Set<string>();
  for (const key of keys as string[]) {
    const s = lengths.get(key);
    if (!s) throw new FileFormatError(file, keysAt, `its storages' keys list ${quote(key)}, which no tensor of the pickle uses`);
    if (done.has(key)) throw new FileFormatError(file, keysAt, `its storages' keys list ${quote(key)} twice`);
    done.add(key);
    const bytesOf = s.numel * s.size;
    if (at + 8 + bytesOf > bytes.length) throw new FileFormatError(file, at, `the file ends inside storage ${quote(key)} (8 + ${bytesOf} bytes from byte ${at}; the file has ${bytes.length})`);
    const numel = view.getBigInt64(at, true);
    if (numel !== BigInt(s.numel)) throw new FileFormatError(file, at, `storage ${quote(key)} holds ${numel} elements, but its tensors' pickle says ${s.numel}`);
    if (s.storage) s.storage.data = bytes.subarray(at + 8, at + 8 + bytesOf);
    at += 8 + bytesOf;
  }
  const missing = [...lengths.keys()].find((key) => !done.has(key));
  if (missing !== undefined) throw new FileFormatError(file, keysAt, `storage ${quote(missing)}, which a tensor uses, is not among its storages' keys`);
  return tensorsOf(value, file, dictAt, storages);
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
function rebuild(...args: unknown[]): TensorView | Opaque {
  const [storage, offset, size, stride] = args;
  if (storage instanceof Opaque) return storage;
  if (args.length < 6 || !(storage instanceof Storage)) throw new Error('_rebuild_tensor_v2 without a storage first');
  if (!isInt(offset) || !Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length || !size.every((d) => isInt(d)) || !stride.every((d) => isInt(d))) {
    throw new Error('_rebuild_tensor_v2 with an offset, size or stride that are not non-negative integers of one length');
  }
  if (size.length > MAX_DIMS) throw new Error(`a tensor of ${size.length} dimensions, more than PyTorch's ${MAX_DIMS}`);
  const s = storage;
  const numel = (size as number[]).reduce((a, d) => a * d, 1);
  // The last element of the view within the storage; an empty view reads nothing.
  const last = offset + (size as number[]).reduce((a, d, i) => a + (d - 1) * (stride as number[])[i]!, 0);
  if (numel > 0 && last >= s.numel) throw new Error(`a tensor of size ${listed(size as number[])}, stride ${listed(stride as number[])} from element ${offset} reads past its storage's ${s.numel} elements`);
  // A view with repeated elements (stride 0) could be far larger than the file.
  if (numel > s.numel) throw new Error(`a tensor of ${numel} elements from a storage of ${s.numel} (its stride ${listed(stride as number[])} repeats them): save a contiguous copy`);
  return new TensorView(s, offset, size as number[], stride as number[]);
}

const kind = (v: unknown): string =>
  v instanceof Map ? 'a dict'
  : Array.isArray(v) ? 'a list or tuple'
  : v instanceof TensorView ? 'a tensor'
  : v instanceof Opaque ? v.what
  : typeof v === 'function' && 'python' in v ? `the Python name ${String(v.python)}`
  : v === null ? 'None'
  : `a ${typeof v}`;

// Answers kept per dict: a pickle may hold one dict many times (memoized), each a value to check.
const stateDicts = new WeakMap<Map<unknown, unknown>, boolean>();
function isStateDict(v: unknown): v is Map<string, TensorView> {
  if (!(v instanceof Map) || v.size === 0) return false;
  let known = stateDicts.get(v);
  if (known === undefined) {
    known = true;
    for (const [k, t] of v) {
      if (typeof k !== 'string' || !(t instanceof TensorView)) {
        known = false;
        break;
      }
    }
    stateDicts.set(v, known);
  }
  return known;
}

/**
 * The state_dict's tensors, as f32, each a contiguous copy of its view. A training checkpoint
 * (PyTorch's tutorial saves { epoch, model_state_dict, optimizer_state_dict, loss }) gives the one
 * dict of tensors in it: the optimizer's state nests deeper.
 */
function tensorsOf(value: unknown, file: string, at: number, storages: ReadonlyMap<string, Storage | Opaque>): Map<string, SafetensorsTensor> {
  const fail = (why: string) => new FileFormatError(file, at, why);
  if (!(value instanceof Map)) {
    const model = value instanceof Opaque && !value.why ? ": torch.save(model) pickles the model's classes; save model.state_dict(), or the file with safetensors" : '';
    throw fail(`holds ${kind(value)}, not a state_dict (a dict of tensors by name)${model}`);
  }
  if (!isStateDict(value) && value.size) {
    const dicts = [...value].filter(([, v]) => isStateDict(v));
    if (dicts.length === 1) return tensorsOf(dicts[0]![1], file, at, storages);
    const [name, v] = [...value].find(([k, t]) => typeof k !== 'string' || !(t instanceof TensorView))!;
    if (typeof name !== 'string') throw fail(`a state_dict's keys are names, but one is ${quote(String(name))}`);
    const names = `${dicts.slice(0, 5).map(([k]) => quote(String(k), 60)).join(', ')}${dicts.length > 5 ? ', …' : ''}`;
    const hint = dicts.length ? ` (it holds ${dicts.length} dicts of tensors, ${names}: torch.save(checkpoint[name]) saves one alone)` : '';
    throw fail(`${quote(String(name))} holds ${kind(v)}, not ${v instanceof Opaque && v.why ? `one read: ${v.why}` : 'a tensor: a state_dict holds tensors only'}${hint}`);
  }
  // The copies add up to at most four times the storages' elements (views that overlap), not a
  // storage per name. A view is copied once, however many names it has: state_dict() makes a
  // tensor object per name, so weights tied across layers are one view under several names, and
  // those names share one array, as they share one storage in PyTorch.
  let budget = 4 * [...storages.values()].reduce((a, s) => a + (s instanceof Opaque ? 0 : s.numel), 0) + 1024;
  const tensors = new Map<string, SafetensorsTensor>();
  const decoded = new Map<string, Float32Array>();
  const copies = new Map<string, Float32Array>();
  for (const [name, v] of value as Map<string, TensorView>) {
    const s = v.storage;
    const view = JSON.stringify([s.key, v.offset, v.shape, v.stride]);
    let data = copies.get(view);
    if (!data) {
      if ((budget -= v.shape.reduce((a, d) => a * d, 1)) < 0) throw fail(`its tensors hold more than four times the elements of the storages they view (from ${quote(name)} on): not a state_dict's`);
      let all = decoded.get(s.key);
      if (!all) decoded.set(s.key, (all = readAsF32(s.dtype, s.data)));
      copies.set(view, (data = gather(all, v)));
    }
    tensors.set(name, { dtype: s.dtype, shape: v.shape, data });
  }
  return tensors;
}

/** The elements of a strided view, in row-major order. */
function gather(all: Float32Array, v: TensorView): Float32Array {
  const n = v.shape.reduce((a, d) => a * d, 1);
  if (n === 0) return new Float32Array(0);
  // Contiguous where each dimension of more than one element steps over those after it.
  let contiguous = true;
  for (let i = v.shape.length - 1, inner = 1; i >= 0; inner *= v.shape[i]!, i--) if (v.shape[i] !== 1 && v.stride[i] !== inner) contiguous = false;
  if (contiguous) return all.slice(v.offset, v.offset + n);
  const out = new Float32Array(n);
  const index = new Array<number>(v.shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let at = v.offset;
    for (let d = 0; d < index.length; d++) at += index[d]! * v.stride[d]!;
    out[k] = all[at]!;
    for (let d = index.length - 1; d >= 0 && ++index[d]! === v.shape[d]; d--) index[d] = 0;
  }
  return out;
}
