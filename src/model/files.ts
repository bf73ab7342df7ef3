// Node-only file helpers for checkpoints and datasets: an atomic write (temp file, fsync,
// rename; for several files, every temp file written before any rename) so a crash mid-save
// never leaves a half-written checkpoint in place of a good one, a read whose error names
// the path and what the file was for, and the lock that keeps two runs off the same output.
// A symbolic link in an output's place is written through, as an editor does: the file it
// points at is replaced (and locked), the link kept.
import { randomUUID } from 'node:crypto';
import { readFileSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
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
    kept = 'any previous file there is unchanged',
  ) {
    super(`cannot write ${path}: ${detail} (${kept})`);
  }
}

const errCode = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
const errMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

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

/** The locks this process holds (resolved paths): its own pid in a lock it does not hold is stale. */
const held = new Set<string>();

/**
 * Who holds a lock: the pid, the host and the boot (a lock left before a restart is stale,
 * whatever now runs under its pid). A boot is Linux's boot_id, else '-'. A process on another
 * host (a machine sharing the file system, or a container, which has a host name of its own)
 * cannot be seen from here: its lock is held while renewed, and stale once it is not.
 */
const holder = { host: hostname().replace(/[^\x21-\x7e]/g, '_') || '-', boot: bootId() };
const LOCK_TEXT = `${process.pid} ${holder.host} ${holder.boot}\n`;

/** How often a held lock's modification time is renewed, and after how long without it is stale. */
export const LOCK_RENEW_MS = 10_000;
export const LOCK_STALE_MS = 60_000;

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || '-';
  } catch {
    return '-';
  }
}

/**
 * Takes `path + '.lock'` for this process (pid, host and boot inside) so that two runs never
 * write the same files; returns the release. A symbolic link at `path` is followed
 * (resolveLinks): the lock is the file's it points at, so that two runs writing one file under
 * two names are refused too. A lock whose process is gone (a run killed outright, or one from
 * before the machine restarted) is taken over, as is one naming this process's own pid that it
 * does not hold (left by a killed process whose pid this one has now: in a container, pids start
 * again at 1). A lock from another host is held while its holder renews it (LOCK_RENEW_MS), and
 * taken over once it has not for LOCK_STALE_MS; so is one that names no process (empty, or
 * garbage: a run that died while writing it). Throws FileWriteError (code EBUSY) naming the
 * process holding it.
 */
export function lockFor(path: string): () => void {
  const lock = `${resolveLinks(path)}.lock`;
  const key = resolve(lock);
  const busy = (who: string, note = '') =>
    new FileWriteError(path, 'EBUSY', `${who} is writing it and holds ${lock}${note}; wait for it to end, or choose another path (or delete ${lock} if no such run is going on)`);
  // Still this process's: a run that stalled past LOCK_STALE_MS may have been taken over since,
  // and must then neither renew nor remove the new holder's lock.
  const ours = () => readLock(path, lock, true) === LOCK_TEXT;
  for (let attempt = 0; ; attempt++) {
    if (held.has(key)) throw busy(`this process (${process.pid})`);
    try {
      writeFileSync(lock, LOCK_TEXT, { flag: 'wx' });
      held.add(key);
      const renew = setInterval(() => {
        // Removed by hand (even between these two lines), or taken over: the run goes on, as it
        // would without the lock; a timer's exception would end it.
        try {
          if (!ours()) return clearInterval(renew);
          const now = new Date();
          utimesSync(lock, now, now);
        } catch {
          clearInterval(renew);
        }
      }, LOCK_RENEW_MS);
      renew.unref();
      let released = false;
      return () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        held.delete(key);
        if (ours()) rmSync(lock, { force: true });
      };
    } catch (e) {
      if (errCode(e) !== 'EEXIST' || attempt > 2) throw new FileWriteError(path, errCode(e), `cannot take its lock ${lock} (${errMessage(e)})`);
    }
    const text = readLock(path, lock);
    if (text === undefined) continue; // released meanwhile
    // A lock of only a pid is an older fovea's, taken as this host's and this boot's.
    const m = /^(\d+)(?: (\S+) (\S+))?\n$/.exec(text);
    const [pid, host = holder.host, boot = holder.boot] = m ? [Number(m[1]), m[2], m[3]] : [];
    // NOTE: a lock without a pid may be one being written this instant, or one whose writer died
    // before it wrote a byte: as another host's, held until LOCK_STALE_MS have passed since.
    const timed = !m || host !== holder.host;
    if (timed) {
      const age = Date.now() - lockTime(path, lock);
      if (age < LOCK_STALE_MS) {
        const ago = Math.max(0, Math.round(age / 1000));
        throw m
          ? busy(`a process (${pid}) on host ${host}`, ` (renewed ${ago} s ago; taken over once ${LOCK_STALE_MS / 1000} s pass without renewal)`)
          : busy('another process', ` (it names no process; written ${ago} s ago, taken over once ${LOCK_STALE_MS / 1000} s have passed)`);
      }
    } else {
      const restarted = boot !== holder.boot && boot !== '-' && holder.boot !== '-';
      if (!restarted && pid !== process.pid && alive(pid!)) throw busy(`another process (${pid})`);
    }
    // A timed lock is checked again once the takeover is guarded: renewed meanwhile, it is held.
    removeStale(path, lock, text, () => !timed || Date.now() - lockTime(path, lock) >= LOCK_STALE_MS);
  }
}

/**
 * Removes a stale lock unless it changed since it was read as `text`, while holding
 * `lock + '.takeover'`: two runs that read the same stale lock would otherwise both remove it,
 * the second removing the lock the first had just taken, and both would run.
 */
function removeStale(path: string, lock: string, text: string, stale: () => boolean): void {
  const guard = `${lock}.takeover`;
  try {
    writeFileSync(guard, `${process.pid}\n`, { flag: 'wx' });
  } catch (e) {
    if (errCode(e) === 'EEXIST') {
      throw new FileWriteError(path, 'EBUSY', `another process is taking over its stale lock ${lock}; try again (or delete ${guard} if no other run is starting)`);
    }
    throw new FileWriteError(path, errCode(e), `cannot take over its lock ${lock} (${errMessage(e)})`);
  }
  try {
    // Unchanged (not removed, taken or renewed meanwhile): its process is gone, a run killed outright.
    if (readLock(path, lock) === text && stale()) rmSync(lock, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/** The text of `path`'s lock, or undefined when there is none (or, `quiet`, it cannot be read). */
function readLock(path: string, lock: string, quiet = false): string | undefined {
  try {
    return readFileSync(lock, 'utf8');
  } catch (e) {
    if (quiet || errCode(e) === 'ENOENT') return undefined;
    throw new FileWriteError(path, errCode(e), `cannot read its lock ${lock} (${errMessage(e)})`);
  }
}

/** When `path`'s lock was last written or renewed (ms since the epoch); gone, it counts as now. */
function lockTime(path: string, lock: string): number {
  try {
    return statSync(lock).mtimeMs;
  } catch (e) {
    if (errCode(e) === 'ENOENT') return Date.now();
    throw new FileWriteError(path, errCode(e), `cannot read its lock ${lock} (${errMessage(e)})`);
  }
}

/** Whether a process with this pid exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === 'EPERM';
  }
}
