// One writer per database file (DESIGN 4.3, 5): an exclusive lock file `<db>.lock` next to the
// database, taken by openWriteDb before the database is opened and removed when the writer connection
// closes (or the process exits). Readers (`strata query`, `strata status --db`, `strata report`) never
// take it: SQLite's WAL lets them read while the writer writes.
//
// The lock file holds the holder's pid, hostname, process start time and command, written to a
// temporary file and hard-linked to `<db>.lock` (link fails if the name exists: the lock appears
// atomically, never empty or half-written). A second writer finds it and:
// - holder on this host and alive (process.kill(pid, 0), and on Linux the same process start time in
//   /proc, so a pid reused by another process or a zombie does not count): refused (ConfigError, exit code 2),
//   naming the database and the holder; nothing is opened or written;
// - holder on this host and dead (e.g. kill -9): the lock is stale and taken over;
// - holder on another host (a database on a shared file system): its liveness cannot be checked from
//   here, so it is refused with the command that removes the lock if that writer is gone.
//
// A take-over runs under a short-lived guard file `<db>.lock.takeover` (same format) and re-reads the
// lock under it: of two processes that find the same stale lock at once, only one removes it, and no
// process removes a lock that a live writer has just created.
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../model/errors.js';

/** What a lock file holds (JSON). */
export interface LockHolder {
  pid: number;
  host: string;
  /** When the holder took the lock (ms since the epoch). */
  startedMs: number;
  /** Linux: the holder's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  procStart?: string;
  /** The holder's command line (for the refusal message). */
  command: string;
  /** Unique per acquisition: a release removes the lock only if it still holds this token. */
  token: string;
}

/** A database's writer lock is held by another process (or another connection of this one). */
export class WriterLockedError extends ConfigError {
  constructor(
    readonly dbFile: string,
    readonly lockFile: string,
    readonly holder: LockHolder | null,
    detail: string,
  ) {
    super('--db', dbFile, 'a database no other writer holds');
    this.name = 'WriterLockedError';
    this.message = `--db ${dbFile}: ${detail}`;
  }
}

export interface WriteLock {
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock file if it is still this acquisition's (idempotent). */
  release(): void;
}

/** The lock file of a database: `<absolute path>.lock`. */
export function lockFileOf(dbFile: string): string {
  return resolve(dbFile) + '.lock';
}

/** Linux: a process's start time (clock ticks since boot) and state letter, from /proc/<pid>/stat. */
function procStat(pid: number | 'self'): { start: string; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: the fields after the last ')' start at field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, start: rest[22 - 3]! };
  } catch {
    return undefined;
  }
}

const HOST = hostname();
let selfStart: string | undefined | null = null;
function selfProcStart(): string | undefined {
  if (selfStart === null) selfStart = procStat('self')?.start;
  return selfStart;
}

/** Locks this process holds (removed on exit, even without close). */
const held = new Map<string, string>();
let exitHook = false;
function removeHeldOnExit(): void {
  for (const [file, token] of held) removeIfOurs(file, token);
  held.clear();
}

function parseHolder(raw: string): LockHolder | null {
  try {
    const h = JSON.parse(raw) as LockHolder;
    if (h && typeof h === 'object' && Number.isInteger(h.pid) && h.pid > 0 && typeof h.host === 'string' && typeof h.token === 'string') return h;
  } catch {
    // fall through
  }
  return null;
}

function readHolder(file: string): { raw: string; holder: LockHolder | null } | null {
  try {
    const raw = readFileSync(file, 'utf8');
    return { raw, holder: parseHolder(raw) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function removeIfOurs(file: string, token: string): void {
  try {
    const cur = readHolder(file);
    if (cur?.holder?.token === token) unlinkSync(file);
  } catch {
    // already gone, or unreadable: nothing of ours to remove
  }
}

type Liveness = 'alive' | 'dead' | 'unknown';

/** Whether the holder of a lock still runs (only decidable on this host). */
function liveness(h: LockHolder): Liveness {
  if (h.host !== HOST) return 'unknown';
  if (h.pid === process.pid) return h.procStart === undefined || h.procStart === selfProcStart() ? 'alive' : 'dead';
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    // ESRCH: no such process. EPERM: it exists (another user's).
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  // The pid exists: a zombie (killed, not yet reaped by its parent) is dead; so is a process that
  // got the pid after the holder died (another start time).
  const now = procStat(h.pid);
  if (now !== undefined) {
    if (now.state === 'Z' || now.state === 'X') return 'dead';
    if (h.procStart !== undefined && now.start !== h.procStart) return 'dead';
  }
  return 'alive';
}

const fmtTime = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '?');
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes `holder` to a temporary file and hard-links it to `target`; false if `target` exists. */
function createExclusive(target: string, holder: LockHolder): boolean {
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${holder.token}.tmp`);
  writeFileSync(tmp, JSON.stringify(holder) + '\n', { flag: 'wx', mode: 0o644 });
  try {
    linkSync(tmp, target);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // ignore
    }
  }
}

/** Runs `f` holding the take-over guard of `lockFile`; false if another process holds it (live). */
function withGuard(lockFile: string, me: LockHolder, f: () => void): boolean {
  const guard = lockFile + '.takeover';
  for (let i = 0; i < 3; i++) {
    if (createExclusive(guard, me)) {
      try {
        f();
      } finally {
        removeIfOurs(guard, me.token);
      }
      return true;
    }
    // A guard left by a process killed during its take-over (a window of microseconds).
    const g = readHolder(guard);
    if (g === null) continue;
    if (g.holder && liveness(g.holder) === 'dead') {
      try {
        unlinkSync(guard);
      } catch {
        // someone else removed it
      }
      continue;
    }
    return false;
  }
  return false;
}

/**
 * Takes the writer lock of `dbFile` (nothing for ':memory:'). Throws WriterLockedError (a ConfigError
 * on `--db`: exit code 2) when a live writer holds it or its holder cannot be checked.
 */
export function acquireWriteLock(dbFile: string): WriteLock | null {
  if (dbFile === ':memory:' || dbFile === '') return null;
  const file = lockFileOf(dbFile);
  const me: LockHolder = {
    pid: process.pid,
    host: HOST,
    startedMs: Date.now(),
    ...(selfProcStart() !== undefined ? { procStart: selfProcStart()! } : {}),
    command: process.argv.slice(1).map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ').slice(0, 300),
    token: randomBytes(8).toString('hex'),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    let created: boolean;
    try {
      created = createExclusive(file, me);
    } catch (e) {
      throw new ConfigError('--db', dbFile, `a database whose directory is writable, for its lock file ${file} (${(e as Error).message})`);
    }
    if (created) {
      held.set(file, me.token);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', removeHeldOnExit);
      }
      return {
        file,
        holder: me,
        release: () => {
          if (held.get(file) !== me.token) return;
          held.delete(file);
          removeIfOurs(file, me.token);
        },
      };
    }
    const cur = readHolder(file);
    if (cur === null) continue; // released meanwhile: try again
    const h = cur.holder;
    const rm = `rm ${shellQuote(file)}`;
    if (h === null)
      throw new WriterLockedError(dbFile, file, null, `its writer lock ${file} exists but is not a strata lock file (${JSON.stringify(cur.raw.slice(0, 80))}); if no strata process writes this database, remove it (${rm}) and run again`);
    const who = `pid ${h.pid} on host ${h.host}${h.command ? ` (${h.command})` : ''}, since ${fmtTime(h.startedMs)}`;
    const live = liveness(h);
    if (live === 'alive') {
      const self = h.pid === process.pid && h.host === HOST;
      throw new WriterLockedError(
        dbFile,
        file,
        h,
        self
          ? `already open for writing in this process (lock ${file}); one writer per database`
          : `another writer holds this database: ${who} (lock ${file}). One writer per database: stop that process or wait for it to finish; strata query, status and report can read the database meanwhile`,
      );
    }
    if (live === 'unknown')
      throw new WriterLockedError(
        dbFile,
        file,
        h,
        `another writer holds this database: ${who} (lock ${file}). It runs on another host, so whether it still runs cannot be checked from here; if it no longer runs, remove the lock (${rm}) and run again`,
      );
    // Stale (its holder died without closing, e.g. kill -9): take it over, under the guard, if it is
    // still the same stale lock.
    const ok = withGuard(file, me, () => {
      const again = readHolder(file);
      if (again !== null && again.raw === cur.raw) unlinkSync(file);
    });
    if (!ok)
      throw new WriterLockedError(dbFile, file, h, `another process is taking over the stale writer lock ${file} (left by ${who}); run again once it has`);
  }
  throw new WriterLockedError(dbFile, file, null, `could not take the writer lock ${file} (it changed hands repeatedly); run again`);
}

/** The holder of a database's lock, if any (for status messages and tests). */
export function lockHolder(dbFile: string): LockHolder | null {
  return readHolder(lockFileOf(dbFile))?.holder ?? null;
}
