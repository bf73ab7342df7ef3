// Writing a state_dict as torch.save does (the ZIP format, as PyTorch 1.13 writes it), so that
// `model.load_state_dict(torch.load(path))` takes a fovea checkpoint with no other package:
// archive/data.pkl, the OrderedDict of tensors pickled (protocol 2) as torch.save pickles it,
// one storage per tensor (archive/data/0, …), float32, or int64 for a tensor that PyTorch keeps
// so (batch norm's num_batches_tracked), and archive/version. The model spec rides
// in archive/extra/fovea.spec, which torch.load leaves alone and ./torch-save.ts reads back.
// Browser-safe.
import { ShapeError } from '../runtime/errors.js';
import { writeZip, type ZipEntry } from './zip.js';
import { int64Bytes } from './safetensors.js';

/** The archive's entry holding the model spec (JSON), under its folder. */
export const SPEC_RECORD = 'extra/fovea.spec';

const ARCHIVE = 'archive';

/** A pickle (protocol 2) of the few kinds of value a state_dict holds. */
class Pickler {
  private readonly bytes: number[] = [0x80, 2]; // PROTO 2
  private readonly encoder = new TextEncoder();

  op(code: string | number): this {
    this.bytes.push(typeof code === 'number' ? code : code.charCodeAt(0));
    return this;
  }

  /** A class or function by name (GLOBAL). */
  global(module: string, name: string): this {
    this.op('c').bytes.push(...this.encoder.encode(`${module}\n${name}\n`));
    return this;
  }

  /** A non-negative integer (BININT1, BININT2 or BININT). */
  int(n: number): this {
    if (n < 0x100) return this.op('K').op(n);
    if (n < 0x10000) return this.op('M').op(n & 0xff).op(n >>> 8);
    if (n < 2 ** 31) return this.op('J').op(n & 0xff).op((n >>> 8) & 0xff).op((n >>> 16) & 0xff).op(n >>> 24);
    throw new RangeError(`torch.save writer: ${n} is past a 32-bit integer`);
  }

  /** A string (BINUNICODE: its UTF-8 bytes' length, then them). */
  str(s: string): this {
    const b = this.encoder.encode(s);
    this.op('X').int32(b.length).bytes.push(...b);
    return this;
  }

  /** A tuple of `items` (MARK … TUPLE). */
  tuple(items: () => void): this {
    this.op('(');
    items();
    return this.op('t');
  }

  /** An empty OrderedDict: OrderedDict() called. */
  orderedDict(): this {
    return this.global('collections', 'OrderedDict').op(')').op('R');
  }

  done(): Uint8Array {
    return Uint8Array.from(this.op('.').bytes); // STOP
  }

  private int32(n: number): this {
    this.bytes.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    return this;
  }
}

/**
 * The bytes of a torch.save file of the state_dict `tensors` (in the order given): float32, but
 * int64 for those of dtype 'I64' (truncated toward zero, see int64Bytes), with `spec` (JSON) in
 * archive/extra/fovea.spec when given.
 */
export function torchSaveBytes(tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array; dtype?: string }]>, spec?: string): Uint8Array {
  const p = new Pickler().orderedDict().op('(');
  const storages: ZipEntry[] = [];
  const names = new Set<string>();
  for (const [name, { shape, data, dtype }] of tensors) {
    if (names.has(name)) throw new ShapeError('torchSaveBytes', `tensor name "${name}" is used twice`);
    names.add(name);
    if (shape.reduce((a, d) => a * d, 1) !== data.length) throw new ShapeError('torchSaveBytes', `tensor "${name}": shape [${shape.join(', ')}] does not hold its ${data.length} values`, [shape]);
    const key = String(storages.length);
    const int64 = dtype === 'I64';
    // NOTE: typed arrays are in the platform's byte order, little-endian wherever WebGPU runs.
    storages.push({ name: `${ARCHIVE}/data/${key}`, data: int64 ? int64Bytes(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    // Contiguous strides: each dimension steps over the elements of those after it.
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
    // name: _rebuild_tensor_v2(storage, offset 0, size, stride, requires_grad False, OrderedDict())
    p.str(name).global('torch._utils', '_rebuild_tensor_v2');
    p.tuple(() => {
      // The storage, by its persistent id ('storage', torch.FloatStorage, key, 'cpu', elements).
      p.tuple(() => p.str('storage').global('torch', int64 ? 'LongStorage' : 'FloatStorage').str(key).str('cpu').int(data.length)).op('Q');
      p.int(0);
      p.tuple(() => shape.forEach((d) => p.int(d)));
      p.tuple(() => strides.forEach((s) => p.int(s)));
      p.op(0x89).orderedDict(); // NEWFALSE
    }).op('R');
  }
  const pickle = p.op('u').done(); // SETITEMS
  const text = (s: string) => new TextEncoder().encode(s);
  return writeZip([
    { name: `${ARCHIVE}/data.pkl`, data: pickle },
    ...storages,
    { name: `${ARCHIVE}/version`, data: text('3\n') },
    ...(spec === undefined ? [] : [{ name: `${ARCHIVE}/${SPEC_RECORD}`, data: text(spec) }]),
  ]);
}

