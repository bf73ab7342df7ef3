// Node-only file helpers for checkpoints and datasets: an atomic write (temp file, fsync,
// rename; for several files, every temp file written before any rename) so a crash mid-save
// never leaves a half-written checkpoint in place of a good one, and a read whose error names
// the path and what the file was for (./lock.ts keeps two runs off the same output). A
// symbolic link in an output's place is written through, as an editor does: the file it points
// at is replaced, the link kept.
import { randomUUID } from 'node:crypto';
import { readlinkSync, realpathSync } from 'node:fs';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FoveaError } from '../runtime/errors.js';

/** A file could not be read (missing, a directory, no permission, ...). */
export class FileReadError extends FoveaError {
  override name = 'FileReadError';
  constructor(
    readonly path: string,
    readonly what: string,
    readonly code: string | undefined,
    readonly detail: string,
  ) {
    super(`cannot read ${what} ${path}: ${detail}`);
  }
}

/**
 * A file could not be written; the previous contents of `path`, if any, are untouched unless
 * `kept` (what the message says is left) says otherwise.
 */
export class FileWriteError extends FoveaError {
  override name = 'FileWriteError';
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    readonly detail: string,
    /** What survives the failure, said in brackets after the cause. */
    readonly kept = 'any previous file there is unchanged',
  ) {
    super(`cannot write ${path}: ${detail} (${kept})`);
  }
}

/** @internal The code of a Node system error (ENOENT, EEXIST, ...). */
export const errCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
/** @internal */
export const errMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Test seam for writeFileAtomic and writeFilesAtomic: how the bytes reach the temp file, how it is renamed. */
export interface AtomicWriteHooks {
  /** Writes all of `bytes` to the open temp file; the default is `handle.writeFile(bytes)`. */
  write?: (handle: FileHandle, bytes: Uint8Array) => Promise<void>;
  /** Renames the temp file over its target; the default is `rename`. */
  rename?: (from: string, to: string) => Promise<void>;
}

/** Symbolic links followed at most, as Linux's path resolution does (ELOOP past them). */
const MAX_LINKS = 40;

/**
 * The file `path` names once a symbolic link in its place is followed (a link to a link too, and
 * one whose target does not exist yet): `path` itself when it is no link. Writing there, not over
 * the link, updates the file the link points at. Links among the directories need no following:
 * through them the name already reaches the same file. Throws FileWriteError (ELOOP) on a cycle.
 */
export function resolveLinks(path: string): string {
  let p = path;
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    let target: string;
    try {
      target = readlinkSync(p);
    } catch {
      return p; // no link (EINVAL), or nothing there yet (ENOENT): this is the file
    }
    // A relative target is relative to the link's directory as the kernel resolves it ('..' from
    // where a directory link leads, not lexically).
    let dir = dirname(p);
    try {
      dir = realpathSync(dir);
    } catch {
      // The link was just read there: the directory exists; a failure only leaves it unresolved.
    }
    p = resolve(dir, target);
  }
  throw new FileWriteError(path, 'ELOOP', `more than ${MAX_LINKS} symbolic links, a cycle?`);
}

/**
 * Writes `bytes` to `path` atomically: to a uniquely named temp file in the same directory,
 * fsynced, then renamed over `path`. On any failure the temp file is removed, `path` keeps
 * its previous contents (or stays absent), and a FileWriteError is thrown. A symbolic link at
 * `path` stays: the file it points at is written (resolveLinks).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, hooks: AtomicWriteHooks = {}): Promise<void> {
  await writeFilesAtomic([[path, bytes]], hooks);
}

/**
 * Writes several files as writeFileAtomic does, each temp file written and fsynced before any is
 * renamed, so a failure while writing leaves every target as it was. The renames then go in the
 * order given; a failure between two leaves the earlier targets replaced, which a reader of the
 * set must be able to detect. Throws a FileWriteError naming the file that failed.
 */
export async function writeFilesAtomic(files: readonly (readonly [string, Uint8Array])[], hooks: AtomicWriteHooks = {}): Promise<void> {
  const temps: { path: string; target: string; tmp: string }[] = [];
  let path = '';
  try {
    for (const [given, bytes] of files) {
      path = given;
      // Renamed over a link, the temp file would replace the link, not the file it points at.
      const target = resolveLinks(given);
      // NOTE: the temp file must be in the target's directory: rename() is atomic only within
      // one file system. The name starts with '.' and ends in '.tmp' so a leftover is easy to spot.
      const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomUUID()}.tmp`);
      const handle = await open(tmp, 'wx');
      temps.push({ path: given, target, tmp });
      try {
        await (hooks.write ?? ((h, b) => h.writeFile(b)))(handle, bytes);
        await handle.sync();
      } catch (e) {
        await handle.close().catch(() => undefined);
        throw e;
      }
      await handle.close();
    }
    for (const t of temps) {
      path = t.path;
      await (hooks.rename ?? rename)(t.tmp, t.target);
    }
  } catch (e) {
    // Removing a temp file already renamed removes nothing (force).
    await Promise.all(temps.map((t) => rm(t.tmp, { force: true }).catch(() => undefined)));
    if (e instanceof FileWriteError) throw e;
    throw new FileWriteError(path, errCode(e), errMessage(e));
  }
  for (const dir of new Set(temps.map((t) => dirname(t.target)))) await syncDir(dir);
}

/** fsyncs a directory so a rename in it survives a crash; best effort (Windows cannot open directories). */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // The file is already in place; a failed directory sync only weakens durability.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

// The file's bytes, read in chunks (a pipe or a device reports no size), or undefined once
// there are more than `maxBytes`.
async function readAtMost(path: string, maxBytes: number): Promise<Buffer | undefined> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(2 ** 16), 0, 2 ** 16, null);
      if (bytesRead === 0) return Buffer.concat(chunks);
      if ((total += bytesRead) > maxBytes) return undefined;
      chunks.push(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/**
 * Reads a whole file. `what` says what the file is for ("checkpoint", "MNIST file") and goes
 * into the FileReadError thrown when the file is missing or unreadable, or larger than
 * `maxBytes` (reading stops past them).
 */
export async function readFileChecked(path: string, what: string, maxBytes = Infinity): Promise<Uint8Array> {
  try {
    const buf = maxBytes < Infinity ? await readAtMost(path, maxBytes) : await readFile(path);
    if (!buf) throw new FileReadError(path, what, 'EFBIG', `more than the ${maxBytes} bytes a ${what} may hold`);
    // A plain Uint8Array view, so callers see the same type as in the browser.
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    const code = errCode(e);
    const detail =
      code === 'ENOENT' ? 'no such file'
      : code === 'EISDIR' ? 'it is a directory'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : errMessage(e);
    throw new FileReadError(path, what, code, detail);
  }
}
