// One writer per database file (src/store/lock.ts): the lock file `<db>.lock`, with real processes.
// - a live `strata coordinator` holds the lock: `strata search` and a second coordinator on the same
//   file are refused (exit 2, the message names the database and the holder's pid) and write nothing;
//   readers (query, status) still work; once the coordinator stops, the lock is gone;
// - a writer killed with kill -9 leaves its lock; the same command again takes it over and finishes;
// - a lock of another host is refused with the command that removes it;
// - several processes that find the same stale lock at once: exactly one becomes the writer;
// - in one process: a second openWriteDb is refused until the first connection closes; a lock whose
//   pid now belongs to another process (pid reuse) is stale; readers take no lock;
// - query and status read a finished database in a directory they cannot write.
// The CLI runs from dist (bin/strata.js): build with `npx tsc -p .` first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openReadDb, openWriteDb } from '../src/store/db.js';
import { lockFileOf, lockHolder, WriterLockedError } from '../src/store/lock.js';
import { ConfigError } from '../src/model/errors.js';
import { ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'strata.js');
const dir = mkdtempSync(join(tmpdir(), 'strata-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = { ...process.env, STRATA_TOKEN: 'lock-test-token-0123456789' };

function strata(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000, env: ENV });
}

function counts(db: string) {
  const d = new Database(db, { readonly: true });
  try {
    const q = (s: string) => d.prepare(s).pluck().get();
    return {
      runs: q('SELECT count(*) FROM runs'),
      designs: q('SELECT count(*) FROM designs'),
      done: q(`SELECT count(*) FROM subspaces WHERE state = 'done'`),
      leasedByOthers: q(`SELECT count(*) FROM subspaces WHERE lease_owner IS NOT NULL`),
      events: q(`SELECT group_concat(kind) FROM events`),
    };
  } finally {
    d.close();
  }
}

/** A process that has exited: its pid is (for now) free. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('one writer per database (real processes)', () => {
  it('a live coordinator holds the lock: search and a second coordinator are refused (exit 2) and write nothing; readers work', async () => {
    const db = join(dir, 'two.db');
    const co = spawn(process.execPath, [BIN, 'coordinator', '--space', 'tiny', '--db', db, '--listen', '127.0.0.1:0'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    co.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => co.once('exit', (c) => r(c)));
    try {
      const t0 = Date.now();
      while (!/listening on/.test(err)) {
        if (co.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`coordinator did not start: ${err}`);
        await sleep(50);
      }
      const holder = lockHolder(db);
      expect(holder?.pid).toBe(co.pid);
      expect(holder?.host).toBe(hostname());
      const before = counts(db);

      const s = strata(['search', '--space', 'tiny', '--db', db, '--workers', '1']);
      expect(s.status, s.stderr).toBe(2);
      expect(s.stdout).toBe('');
      expect(s.stderr).toContain(`--db ${db}`);
      expect(s.stderr).toContain(`pid ${co.pid} on host ${hostname()}`);
      expect(s.stderr).toMatch(/another writer holds this database/);

      const c2 = strata(['coordinator', '--space', 'tiny', '--db', db, '--listen', '127.0.0.1:0']);
      expect(c2.status, c2.stderr).toBe(2);
      expect(c2.stderr).toContain(`pid ${co.pid}`);

      expect(counts(db)).toEqual(before); // nothing written by the refused ones
      expect(lockHolder(db)?.token).toBe(holder!.token); // and the lock is still the coordinator's

      // Readers take no lock.
      const q = strata(['query', '--db', db, 'summary']);
      expect(q.status, q.stderr).toBe(0);
      const st = strata(['status', '--db', db]);
      expect(st.status, st.stderr).toBe(0);
    } finally {
      co.kill('SIGTERM');
      await exited;
    }
    expect(existsSync(lockFileOf(db))).toBe(false); // a clean stop removes the lock
    const s = strata(['search', '--space', 'tiny', '--db', db, '--workers', '1']);
    expect(s.status, s.stderr).toBe(0);
    expect(existsSync(lockFileOf(db))).toBe(false);
  }, 120_000);

  it('kill -9 of a writer leaves a stale lock; the same command again takes it over and finishes', async () => {
    const db = join(dir, 'killed.db');
    const args = [BIN, 'search', '--space', 'small', '--db', db, '--workers', '1'];
    const child = spawn(process.execPath, args, { stdio: 'ignore', env: ENV });
    const exited = new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
    // Wait until it has committed some subspaces, then kill it.
    const t0 = Date.now();
    for (;;) {
      await sleep(100);
      if (existsSync(db) && existsSync(lockFileOf(db))) {
        try {
          if ((counts(db).done as number) > 0) break;
        } catch {
          // schema not created yet
        }
      }
      if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error('the search did not start committing');
    }
    child.kill('SIGKILL');
    expect(await exited).toEqual([null, 'SIGKILL']);
    expect(lockHolder(db)?.pid).toBe(child.pid); // left behind by the killed writer

    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 300_000, env: ENV });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^done: 64800 of 64800 points/);
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT state FROM runs').pluck().all()).toEqual(['done']);
    expect(d.prepare(`SELECT count(*) FROM events WHERE kind = 'resume'`).pluck().get()).toBeGreaterThan(0); // it resumed
    expect(d.pragma('integrity_check', { simple: true })).toBe('ok');
    d.close();
    expect(existsSync(lockFileOf(db))).toBe(false);
  }, 300_000);

  it('a lock of another host is refused with how to remove it; nothing is created', () => {
    const db = join(dir, 'remote.db');
    const lock = lockFileOf(db);
    writeFileSync(lock, JSON.stringify({ pid: 4242, host: 'some-other-host', startedMs: Date.now(), command: 'strata coordinator', token: 'x' }));
    const r = strata(['search', '--space', 'tiny', '--db', db, '--workers', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--db ${db}`);
    expect(r.stderr).toContain('pid 4242 on host some-other-host');
    expect(r.stderr).toContain(`rm '${lock}'`);
    expect(existsSync(db)).toBe(false);
    rmSync(lock);
    const ok = strata(['search', '--space', 'tiny', '--db', db, '--workers', '1']);
    expect(ok.status, ok.stderr).toBe(0);
  }, 120_000);

  it('several processes finding the same stale lock at once: exactly one becomes the writer', async () => {
    const db = join(dir, 'race.db');
    openWriteDb(db).close();
    writeFileSync(lockFileOf(db), JSON.stringify({ pid: deadPid(), host: hostname(), startedMs: 0, command: 'dead', token: 'stale' }));
    const url = pathToFileURL(join(ROOT, 'dist', 'src', 'store', 'db.js')).href;
    const script = `import { openWriteDb } from ${JSON.stringify(url)};
try { const db = openWriteDb(process.argv[1]); process.stdout.write('writer'); setTimeout(() => db.close(), 1500); }
catch (e) { process.stdout.write(e.name === 'WriterLockedError' ? 'refused' : 'error ' + e.message); }`;
    const runs = Array.from({ length: 4 }, () =>
      new Promise<string>((res) => {
        const p = spawn(process.execPath, ['--input-type=module', '-e', script, db], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        p.stdout!.on('data', (d) => (out += d));
        p.once('exit', () => res(out));
      }),
    );
    const outs = (await Promise.all(runs)).sort();
    expect(outs).toEqual(['refused', 'refused', 'refused', 'writer']);
    expect(existsSync(lockFileOf(db))).toBe(false);
  }, 60_000);
});

describe('one writer per database (in process)', () => {
  it('a second writer connection is refused until the first closes; readers take no lock', () => {
    const db = join(dir, 'inproc.db');
    const w = openWriteDb(db);
    expect(lockHolder(db)?.pid).toBe(process.pid);
    expect(() => openWriteDb(db)).toThrow(WriterLockedError);
    expect(() => openWriteDb(db)).toThrow(ConfigError); // exit code 2 in the CLI
    expect(() => openWriteDb(db)).toThrow(/already open for writing in this process/);
    const r = openReadDb(db);
    r.close();
    w.close();
    expect(existsSync(lockFileOf(db))).toBe(false);
    const r2 = openReadDb(db);
    expect(existsSync(lockFileOf(db))).toBe(false);
    r2.close();
    openWriteDb(db).close();
    expect(existsSync(lockFileOf(db))).toBe(false);
  });

  it('a lock whose holder died, or whose pid now runs another process, is taken over', () => {
    const db = join(dir, 'stale.db');
    const lock = lockFileOf(db);
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), startedMs: 0, command: 'gone', token: 'dead' }));
    const w = openWriteDb(db);
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(process.pid);
    w.close();
    if (existsSync('/proc/self/stat')) {
      // pid 1 runs, but its start time is not the one recorded: the pid was reused.
      writeFileSync(lock, JSON.stringify({ pid: 1, host: hostname(), startedMs: 0, procStart: '999999999999', command: 'old', token: 'reused' }));
      const w2 = openWriteDb(db);
      expect(lockHolder(db)?.pid).toBe(process.pid);
      w2.close();
    }
    // A live holder (pid 1 with no recorded start time) is not taken over.
    writeFileSync(lock, JSON.stringify({ pid: 1, host: hostname(), startedMs: 0, command: 'init', token: 'live' }));
    expect(() => openWriteDb(db)).toThrow(/another writer holds this database: pid 1 on host/);
    // Not a lock file: refused, with how to remove it.
    writeFileSync(lock, 'garbage');
    expect(() => openWriteDb(db)).toThrow(/not a strata lock file.*rm '/);
    rmSync(lock);
  });
});

// A finished results database in a directory its reader cannot write (a shared results directory, a
// read-only mount): SQLite cannot make the -shm file a WAL reader needs. query and status read it
// anyway (a snapshot of the file, which holds everything once the writer closed cleanly) and write
// nothing there. Run as a user who cannot write the directory: as root, the tests' usual user, that
// is `nobody` via setpriv (root writes anywhere); as anyone else, the directory's mode is enough.
describe('readers of a database in a read-only directory', () => {
  it('query and status read a finished database without writing beside it', (t) => {
    const ro = mkdtempSync(join(tmpdir(), 'strata-ro-'));
    try {
      const db = join(ro, 'done.db');
      const s = strata(['search', '--space', 'tiny', '--db', db, '--workers', '1']);
      expect(s.status, s.stderr).toBe(0);
      const best = JSON.parse(strata(['query', '--db', db, 'best', '--format', 'json']).stdout) as { point_id: string }[];
      for (const f of [`${db}-wal`, `${db}-shm`, lockFileOf(db)]) rmSync(f, { force: true });
      spawnSync('chmod', ['0555', ro]);
      spawnSync('chmod', ['0444', db]);
      let run = (args: string[]) => strata(args);
      if (process.getuid?.() === 0) {
        // setpriv runs the CLI as nobody (uid/gid 65534), who needs to reach the repository and node.
        const asNobody = (args: string[]) =>
          spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: ENV, cwd: '/' });
        const probe = asNobody(['--version']);
        if (probe.error || probe.status !== 0) {
          console.log(`skipped: cannot run the CLI as nobody with setpriv (${probe.error?.message ?? probe.stderr.trim()})`);
          t.skip();
          return;
        }
        run = asNobody;
      }
      const q = run(['query', '--db', db, 'best', '--format', 'json']);
      expect(q.status, q.stderr).toBe(0);
      expect((JSON.parse(q.stdout) as { point_id: string }[])[0]!.point_id).toBe(best[0]!.point_id);
      const st = run(['status', '--db', db]);
      expect(st.status, st.stderr).toBe(0);
      expect(st.stdout).toMatch(/done/);
      const n = run(['query', '--db', db, 'sql', 'SELECT count(*) AS n FROM subspaces']);
      expect(n.status, n.stderr).toBe(0);
      expect(readdirSync(ro)).toEqual(['done.db']);
    } finally {
      spawnSync('chmod', ['-R', 'u+w', ro]);
      rmSync(ro, { recursive: true, force: true });
    }
  });
});
