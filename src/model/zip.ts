// Reading the stored (uncompressed) entries of a ZIP archive from untrusted bytes, as PyTorch's
// torch.save writes them: the central directory is found from its end record (ZIP64's too),
// and each entry's local header, name, size and CRC-32 are checked against it. Compressed,
// encrypted or split archives are refused by name. Each failure is a FileFormatError naming the
// file and a byte offset. And writing such an archive, as torch.save does. Browser-safe: no Node
// imports.
import { FileFormatError } from '../runtime/errors.js';
import { quote } from './untrusted.js';

/** An entry of an archive: its name and its bytes (a view of the archive's). */
export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const END = 0x06054b50;
const END64 = 0x06064b50;
const END64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** The end record is 22 bytes and its comment at most 65,535: it starts within this of the end. */
const END_SEARCH = 22 + 0xffff;
/** Far above torch.save's (a few per tensor); a count past it is a corrupt or hostile record. */
const MAX_ENTRIES = 1_000_000;

const CRC_TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, ZIP's) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Whether `bytes` begin as a ZIP archive does (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** The entries of a ZIP archive whose entries are all stored, in the central directory's order. */
export function readZip(bytes: Uint8Array, file: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (at: number | undefined, why: string) => new FileFormatError(file, at, `not a readable ZIP archive: ${why}`);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number, what: string) => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(bytes.length)) throw fail(at, `${what} ${v} is past the end of the ${bytes.length}-byte file`);
    return Number(v);
  };

  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - END_SEARCH); at--) {
    // The comment must run exactly to the end of the file: a signature inside data is no record.
    if (u32(at) === END && at + 22 + u16(at + 20) === bytes.length) {
      end = at;
      break;
    }
  }
  // Bytes after the record (padding added by a download or a copy), which torch.load and Python's
  // zipfile pass over: the last record that its central directory ends at (or ZIP64's) is the one.
  for (let at = Math.min(bytes.length - 22, bytes.length - 1); end < 0 && at >= Math.max(0, bytes.length - END_SEARCH); at--) {
    if (u32(at) !== END || at + 22 + u16(at + 20) > bytes.length) continue;
    const [cdSize, cdStart] = [u32(at + 12), u32(at + 16)];
    if (cdStart + cdSize === at || (at >= 20 && u32(at - 20) === END64_LOCATOR)) end = at;
  }
  if (end < 0) throw fail(bytes.length, 'no end of central directory record (the file is cut short, or not an archive)');
  if (u16(end + 4) !== 0 || u16(end + 6) !== 0) throw fail(end + 4, 'an archive split over several files');
  let count = u16(end + 10);
  let size = u32(end + 12);
  let start = u32(end + 16);
  if (count === 0xffff || size === 0xffffffff || start === 0xffffffff) {
    // ZIP64: a locator just before the end record points at the ZIP64 end record.
    const locator = end - 20;
    if (locator < 0 || u32(locator) !== END64_LOCATOR) throw fail(end, 'its end record defers to a ZIP64 record, but no ZIP64 locator precedes it');
    const at = u64(locator + 8, 'the ZIP64 end record offset');
    if (at + 56 > bytes.length || u32(at) !== END64) throw fail(locator + 8, `no ZIP64 end of central directory record at byte ${at}`);
    count = u64(at + 32, 'the entry count');
    size = u64(at + 40, 'the central directory size');
    start = u64(at + 48, 'the central directory offset');
  }
  if (count > MAX_ENTRIES) throw fail(end + 10, `${count} entries, more than the ${MAX_ENTRIES} read`);
  if (start + size > end) throw fail(end + 16, `the central directory (bytes ${start}..${start + size}) runs past its end record at byte ${end}`);

  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  // Entries of an archive do not overlap: their bytes, each read once (CRC), add up to less than
  // the file. Entries sharing bytes would have each read again (a small file, hours of CRCs).
  let total = 0;
  let at = start;
  for (let i = 0; i < count; i++) {
    if (at + 46 > start + size || u32(at) !== CENTRAL) throw fail(at, `central directory entry ${i} of ${count} is missing`);
    const [flags, method] = [u16(at + 8), u16(at + 10)];
    const crc = u32(at + 16);
    let [stored, plain, local] = [u32(at + 20), u32(at + 24), u32(at + 42)];
    const [nameLength, extraLength, commentLength] = [u16(at + 28), u16(at + 30), u16(at + 32)];
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > start + size) throw fail(at, `central directory entry ${i} runs past the directory's end`);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    const where = `entry ${quote(name)}`;
    if (flags & 1) throw fail(at + 8, `${where} is encrypted`);
    // torch.jit.save deflates its archive's code/ entries: a TorchScript model, not a broken file.
    if (method !== 0 && /^[^/]+\/code\//.test(name)) throw new FileFormatError(file, at + 10, `a TorchScript archive (torch.jit.save; its ${where} is TorchScript code), not a state_dict: save model.state_dict() with torch.save, or load it with torch.jit.load and save that`);
    if (method !== 0) throw fail(at + 10, `${where} is compressed (method ${method}); only stored entries are read, as torch.save writes them`);
    // ZIP64 sizes and offset, in that order, for each field that is all ones.
    const extraEnd = at + 46 + nameLength + extraLength;
    for (let e = at + 46 + nameLength; e + 4 <= extraEnd; e += 4 + u16(e + 2)) {
      if (u16(e) !== 1) continue;
      let f = e + 4;
      const take = (v: number, what: string) => {
        if (v !== 0xffffffff) return v;
        if (f + 8 > Math.min(e + 4 + u16(e + 2), extraEnd)) throw fail(e, `${where}: its ZIP64 field lacks the ${what}`);
        const r = u64(f, `${where}'s ${what}`);
        f += 8;
        return r;
      };
      plain = take(plain, 'size');
      stored = take(stored, 'stored size');
      local = take(local, 'local header offset');
    }
    if (stored !== plain) throw fail(at + 20, `${where}: a stored entry of ${plain} bytes takes ${stored}`);
    if (names.has(name)) throw fail(at + 46, `${where} is in the archive twice`);
    names.add(name);
    if (local + 30 > bytes.length || u32(local) !== LOCAL) throw fail(at + 42, `${where}: no local header at byte ${local}`);
    const dataStart = local + 30 + u16(local + 26) + u16(local + 28);
    const localName = new TextDecoder().decode(bytes.subarray(local + 30, local + 30 + u16(local + 26)));
    if (localName !== name) throw fail(local + 30, `${where}: its local header names ${quote(localName)}`);
    if (dataStart + plain > start) throw fail(local, `${where}: its ${plain} bytes from byte ${dataStart} run into the central directory at byte ${start}`);
    total += plain;
    if (total > bytes.length) throw fail(local, `${where}: the entries hold more bytes than the file, so some overlap`);
    const data = bytes.subarray(dataStart, dataStart + plain);
    const computed = crc32(data);
    if (computed !== crc) throw fail(dataStart, `${where}: CRC-32 mismatch (stored 0x${crc.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')})`);
    entries.push({ name, data });
    at = next;
  }
  return entries;
}

/** Where a stored entry's bytes start: on a multiple of this, as torch.save aligns them (for mapping a storage in place). */
const ALIGN = 64;

/**
 * A ZIP archive of stored (uncompressed) entries, as torch.save writes one: each entry's bytes
 * start on a multiple of 64, the local header padded by an extra field to get there. At most
 * 65,535 entries and 4 GiB in all (no ZIP64: a checkpoint's buffers are far smaller).
 */
export function writeZip(entries: readonly ZipEntry[]): Uint8Array {
  const encoder = new TextEncoder();
  const names = entries.map((e) => encoder.encode(e.name));
  // Each local header: 30 bytes, the name, then an extra field of padding (4 bytes and more).
  const padOf = (at: number, name: Uint8Array) => {
    const fixed = at + 30 + name.length + 4;
    return 4 + ((ALIGN - (fixed % ALIGN)) % ALIGN);
  };
  const offsets: number[] = [];
  let size = 0;
  entries.forEach((e, i) => {
    offsets.push(size);
    size += 30 + names[i]!.length + padOf(size, names[i]!) + e.data.length;
  });
  const directory = size;
  size += names.reduce((a, n) => a + 46 + n.length, 0) + 22;
  if (entries.length > 0xffff || size > 0xffffffff) throw new RangeError(`writeZip: ${entries.length} entries of ${size} bytes in all, more than an archive without ZIP64 holds`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const crcs = entries.map((e) => crc32(e.data));
  entries.forEach((e, i) => {
    const [at, name] = [offsets[i]!, names[i]!];
    const pad = padOf(at, name);
    view.setUint32(at, LOCAL, true);
    view.setUint16(at + 4, 20, true); // version needed: 2.0
    view.setUint32(at + 14, crcs[i]!, true);
    view.setUint32(at + 18, e.data.length, true);
    view.setUint32(at + 22, e.data.length, true);
    view.setUint16(at + 26, name.length, true);
    view.setUint16(at + 28, pad, true);
    out.set(name, at + 30);
    // The padding's extra field: an id ("FB", as PyTorch's) and its length.
    view.setUint16(at + 30 + name.length, 0x4246, true);
    view.setUint16(at + 30 + name.length + 2, pad - 4, true);
    out.set(e.data, at + 30 + name.length + pad);
  });
  let at = directory;
  entries.forEach((e, i) => {
    const name = names[i]!;
    view.setUint32(at, CENTRAL, true);
    view.setUint16(at + 4, 20, true);
    view.setUint16(at + 6, 20, true);
    view.setUint32(at + 16, crcs[i]!, true);
    view.setUint32(at + 20, e.data.length, true);
    view.setUint32(at + 24, e.data.length, true);
    view.setUint16(at + 28, name.length, true);
    view.setUint32(at + 42, offsets[i]!, true);
    out.set(name, at + 46);
    at += 46 + name.length;
  });
  view.setUint32(at, END, true);
  view.setUint16(at + 8, entries.length, true);
  view.setUint16(at + 10, entries.length, true);
  view.setUint32(at + 12, at - directory, true);
  view.setUint32(at + 16, directory, true);
  return out;
}
