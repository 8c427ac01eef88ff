// Opening a strata database (DESIGN 4.3): the writer connection (WAL, one writer: the coordinator,
// enforced by the lock file `<db>.lock`, lock.ts) and read-only connections for queries
// (`strata query`, `strata status`, `strata report`), which take no lock.
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConfigError } from '../model/errors.js';
import { acquireWriteLock } from './lock.js';
import { APPLICATION_ID, DDL, OBJECTIVES, objectiveIndexDdl, SCHEMA_VERSION, TABLES, type ObjectiveColumn } from './schema.js';

export type Db = Database.Database;

export interface OpenOptions {
  /**
   * `NORMAL` (default): in WAL mode a committed transaction survives a crash of the process (kill -9);
   * an OS crash or power loss may lose the last transactions but never corrupts the file.
   * `FULL`: fsync of the WAL at every commit (durable against power loss); see bench/store.ts for the cost.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** ms to wait on a lock held by another connection (default 5000). */
  busyTimeoutMs?: number;
  /** Page cache of the writer connection in MiB (default 64). */
  cacheMiB?: number;
  /** Page size of a NEW database file (default 16384; a power of two in [512, 65536]). */
  pageSize?: number;
}

/**
 * Opens (creating if needed) the database file for writing. Only the coordinator calls this.
 * One writer per file: takes the lock `<db>.lock` first (lock.ts) and throws WriterLockedError (a
 * ConfigError on `--db`) while another live writer holds it, before anything is opened or written.
 * The lock is released by the connection's close() (or when the process exits).
 * Throws ConfigError (path `--db`) on a file that is not a strata database or has a newer schema.
 */
export function openWriteDb(file: string, opts: OpenOptions = {}): Db {
  const lock = acquireWriteLock(file);
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    lock?.release();
    throw new ConfigError('--db', file, `a writable SQLite database file (${(e as Error).message})`);
  }
  if (lock) {
    const close = db.close.bind(db);
    db.close = () => {
      try {
        return close();
      } finally {
        lock.release();
      }
    };
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    const fresh = isEmpty(db);
    if (!fresh) {
      migrate(db, file);
      checkStrata(db, file); // before any change to a file that may not be ours
    }
    // Design rows carry ~1 KB of metrics JSON: 16 KiB pages make their inserts ~1.5x cheaper than
    // 4 KiB pages (bench/store.ts). Only possible before the first table exists.
    else db.pragma(`page_size = ${opts.pageSize ?? 16384}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`cannot switch ${file} to WAL (journal_mode=${String(mode)})`);
    db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`cache_size = -${Math.max(2, Math.floor(opts.cacheMiB ?? 64)) * 1024}`);
    if (fresh) create(db);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('--db', file, `a strata database (${(e as Error).message})`);
  }
}

/** Opens an existing database read-only (`readonly: true` and `PRAGMA query_only = 1`). */
export function openReadDb(file: string, opts: { busyTimeoutMs?: number } = {}): Db {
  if (file !== ':memory:' && !existsSync(file)) throw new ConfigError('--db', file, 'an existing strata database file');
  let db: Db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new ConfigError('--db', file, `a readable SQLite database file (${(e as Error).message})`);
  }
  // A reader waits for a writer's lock (the busy timeout) from its first read on: header() below.
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  // A WAL database in a directory this user cannot write (a shared results directory, a read-only
  // mount): SQLite cannot make the -shm file every WAL reader needs, and the first read fails. With
  // no -wal file beside it, the writer closed cleanly (its last checkpoint put everything in the
  // file): the file alone is the whole database, read into memory as a snapshot.
  const h = header(db);
  if (h instanceof Error && (h as { code?: string }).code === 'SQLITE_READONLY_DIRECTORY' && !existsSync(file + '-wal')) {
    db.close();
    return openSnapshot(file);
  }
  return asReader(db, file);
}

/** A finished database read whole into memory (openReadDb's fallback), read-only. */
function openSnapshot(file: string): Db {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ConfigError('--db', file, `a readable SQLite database file (${(e as Error).message})`);
  }
  // The header's file format bytes say WAL (2, 2); an in-memory database has no WAL: legacy (1, 1).
  // The pages are the same either way (sqlite.org/fileformat2.html, offsets 18 and 19).
  if (bytes.length >= 20 && bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1;
  return asReader(new Database(bytes, { readonly: true }), file);
}

/** `db` as a reader (query_only) once the file proved a strata database; else `db` closed and a
 *  ConfigError naming the file. */
function asReader(db: Db, file: string): Db {
  try {
    db.pragma('query_only = 1');
    checkStrata(db, file);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('--db', file, `a strata database (${(e as Error).message})`);
  }
}

function tableNames(db: Db): string[] {
  return (db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[]);
}

/** The file's application id and schema version (PRAGMAs), or the error reading them. */
function header(db: Db): { appId: number; version: number } | Error {
  try {
    return { appId: db.pragma('application_id', { simple: true }) as number, version: db.pragma('user_version', { simple: true }) as number };
  } catch (e) {
    return e as Error;
  }
}

function checkStrata(db: Db, file: string): void {
  const h = header(db);
  if (h instanceof Error) throw new ConfigError('--db', file, `a strata database (${h.message})`);
  const { appId, version } = h;
  if (appId !== APPLICATION_ID) throw new ConfigError('--db', file, 'a strata database (application_id STRA)');
  if (version !== SCHEMA_VERSION)
    throw new ConfigError(
      '--db',
      file,
      `a strata database of schema version ${SCHEMA_VERSION} (found ${version}${MIGRATIONS[version] ? ': resume its run once with strata search or strata coordinator, which upgrade it' : ''})`,
    );
  const have = new Set(tableNames(db));
  for (const t of TABLES) if (!have.has(t)) throw new ConfigError('--db', file, `a strata database with table ${t}`);
}

/** In-place upgrades of an older schema, by the version they start from (one transaction each). */
const MIGRATIONS: Record<number, string[]> = {
  1: ['ALTER TABLE designs ADD COLUMN serving_tokens_per_s_per_w REAL'],
};

/** Upgrades a strata database of an older schema version (writer connection only). A file that is
 *  not a strata database, or of a version with no migration, is left as it is for checkStrata. */
function migrate(db: Db, file: string): void {
  const h = header(db);
  if (h instanceof Error || h.appId !== APPLICATION_ID) return;
  let version = h.version;
  while (version < SCHEMA_VERSION && MIGRATIONS[version]) {
    const from = version;
    try {
      db.transaction(() => {
        for (const s of MIGRATIONS[from]!) db.exec(s);
        db.pragma(`user_version = ${from + 1}`);
      }).immediate();
    } catch (e) {
      throw new ConfigError('--db', file, `a strata database that can be upgraded from schema version ${from} (${(e as Error).message})`);
    }
    version = from + 1;
  }
}

function isEmpty(db: Db): boolean {
  return tableNames(db).length === 0 && (db.pragma('application_id', { simple: true }) as number) === 0;
}

/** Creates the schema in an empty file (one transaction: a crash leaves an empty file). */
function create(db: Db): void {
  db.transaction(() => {
    for (const s of DDL) db.exec(s);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** Creates the indexes of these objective columns (default: all) if missing. Writer connection only. */
export function ensureObjectiveIndexes(db: Db, cols: readonly ObjectiveColumn[] = OBJECTIVES): void {
  for (const c of cols) db.exec(objectiveIndexDdl(c));
}
