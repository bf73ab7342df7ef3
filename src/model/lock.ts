// The lock that keeps two runs off the same output: `<path>.lock`, holding the pid, host and
// boot of the process writing it, renewed while held, and taken over once stale. A symbolic
// link in an output's place is followed: the lock is the file's it points at.
import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { errCode, errMessage, FileWriteError, resolveLinks } from './files.js';

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
