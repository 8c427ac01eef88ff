// Crash and resume through the real CLI: kill -9 in the middle of a quick search (the default space,
// a minute or two with two search threads), run the same command again, and get exactly the answer of
// an uninterrupted run. On the small space (a few seconds): SIGINT and resume, the same answer with 1
// and N workers, and a different spec on the same database refused unless --new-run.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'strata.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'strata-resume-'));

const QUICK = 89_071_488n;
const SMALL = 64_800n;

function search(db: string, extra: string[] = [], space = 'small') {
  return spawnSync(process.execPath, [BIN, 'search', '--space', space, '--db', db, ...extra], { encoding: 'utf8', timeout: 900_000 });
}

/** Subspaces done so far and their points (0 before the database has its tables). */
function done(db: string): { count: number; points: bigint } {
  if (!existsSync(db)) return { count: 0, points: 0n };
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true });
    try {
      const sizes = d.prepare("SELECT size FROM subspaces WHERE state = 'done'").pluck().all() as (string | number)[];
      return { count: sizes.length, points: sizes.reduce<bigint>((a, s) => a + BigInt(s), 0n) };
    } finally {
      d.close();
    }
  } catch {
    return { count: 0, points: 0n }; // created but not yet initialised, or locked for a moment
  }
}
const doneCount = (db: string) => done(db).count;

function answer(db: string) {
  const d = new Database(db, { readonly: true });
  try {
    const run = d.prepare('SELECT id, state FROM runs ORDER BY id DESC LIMIT 1').get() as { id: number; state: string };
    const front = d.prepare('SELECT point_id FROM archive WHERE run_id = ? ORDER BY length(point_id), point_id').pluck().all(run.id);
    const subs = d.prepare("SELECT evaluated, pruned_bound, pruned_dominance, infeasible, size, state FROM subspaces WHERE run_id = ?").all(run.id) as Record<string, string>[];
    const total = subs.filter((s) => s.state === 'done').reduce((a, s) => a + BigInt(s.evaluated!) + BigInt(s.pruned_bound!) + BigInt(s.pruned_dominance!) + BigInt(s.infeasible!), 0n);
    const integrity = d.pragma('integrity_check', { simple: true });
    return { state: run.state, front, total, integrity, notDone: subs.filter((s) => s.state !== 'done').length };
  } finally {
    d.close();
  }
}

describe('embedded search on a database', () => {
  const dir = tmp();
  const quickReference = join(dir, 'quick-ref.db');
  const reference = join(dir, 'ref.db');
  let quickRef: ReturnType<typeof answer>;
  let ref: ReturnType<typeof answer>;

  for (const [space, size, db] of [['quick', QUICK, quickReference], ['small', SMALL, reference]] as const) {
    it(`an uninterrupted run accounts for every point and stores its front (${space})`, () => {
      const r = search(db, ['--workers', '2'], space);
      expect(r.status, r.stderr).toBe(0);
      const a = answer(db);
      expect(a.state).toBe('done');
      expect(a.total).toBe(size);
      expect(a.integrity).toBe('ok');
      expect(a.front.length).toBeGreaterThan(0);
      if (space === 'quick') quickRef = a;
      else ref = a;
    }, 900_000);
  }

  it('kill -9 in the middle, then the same command again: the same answer, integrity ok', async () => {
    const db = join(dir, 'killed.db');
    let doneBefore = 0;
    for (let k = 1; k <= 2; k++) {
      const child = spawn(process.execPath, [BIN, 'search', '--space', 'quick', '--db', db, '--workers', '2'], { stdio: 'ignore' });
      const exited = new Promise<[number | null, string | null]>((r) => child.once('exit', (code, sig) => r([code, sig])));
      // Killed in the middle whatever the machine's speed: once a third, then two thirds of the
      // space is done (read from the database while it writes), and this run has committed
      // subspaces of its own; not at a fixed delay.
      const ready = () => {
        const d = done(db);
        return d.points * 3n >= BigInt(k) * QUICK && d.count >= doneBefore + 3;
      };
      for (const t0 = Date.now(); !ready() && Date.now() - t0 < 300_000; ) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGKILL');
      // Killed by the signal: it must not have stopped by itself before (a resumed run that finds
      // nothing to do exits 1 at once).
      expect(await exited).toEqual([null, 'SIGKILL']);
      const mid = answer(db);
      expect(mid.integrity).toBe('ok');
      doneBefore = doneCount(db);
    }
    const partial = answer(db);
    expect(partial.notDone).toBeGreaterThan(0); // it really was interrupted
    const r = search(db, ['--workers', '2'], 'quick');
    expect(r.status, r.stderr).toBe(0);
    const after = answer(db);
    expect(after.state).toBe('done');
    expect(after.total).toBe(QUICK);
    expect(after.front).toEqual(quickRef.front);
    expect(after.integrity).toBe('ok');
  }, 900_000);

  // SIGINT stops a search between subspaces, with search threads and on the main thread alone
  // (--workers 0, where the searches once ran one after another in a promise chain that never let the
  // event loop run: the signal went unanswered until the run was complete).
  for (const workers of ['0', '2']) {
    it(`SIGINT (--workers ${workers}) stops the run resumably; the same command then ends it with the same answer`, async () => {
      const db = join(dir, `sigint-${workers}.db`);
      const child = spawn(process.execPath, [BIN, 'search', '--space', 'small', '--db', db, '--workers', workers], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<[number | null, string | null]>((r) => child.once('exit', (code, sig) => r([code, sig])));
      for (const t0 = Date.now(); doneCount(db) < 3 && Date.now() - t0 < 120_000; ) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGINT');
      expect(await exited, out).toEqual([1, null]);
      expect(out).toMatch(/interrupted \(run the same command again to resume\)/);
      const mid = answer(db);
      expect(mid.state).toBe('running');
      expect(mid.notDone).toBeGreaterThan(0);
      expect(mid.integrity).toBe('ok');
      const r = search(db, ['--workers', workers]);
      expect(r.status, r.stderr).toBe(0);
      const after = answer(db);
      expect(after.total).toBe(SMALL);
      expect(after.front).toEqual(ref.front);
    }, 600_000);
  }

  it('gives the same answer with 1 worker', () => {
    const db = join(dir, 'one.db');
    const r = search(db, ['--workers', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(answer(db).front).toEqual(ref.front);
  }, 600_000);

  it('refuses a different spec on the same database unless --new-run, writing nothing', () => {
    const before = answer(reference);
    const r = search(reference, ['--objective', 'throughput']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--db/);
    expect(r.stdout).toBe('');
    expect(answer(reference)).toEqual(before);
    const ok = search(reference, ['--objective', 'throughput', '--new-run', '--workers', '2']);
    expect(ok.status, ok.stderr).toBe(0);
  }, 600_000);
});

describe('search threads', () => {
  it("get a 192 MB young generation while the threads' take at most an eighth of the memory, never below 48 MB", async () => {
    const { closeSpawned, spawnThreads, youngGenerationMb, YOUNG_GENERATION_MB } = await import('../worker/pool.js');
    const GiB = 2 ** 30;
    expect(YOUNG_GENERATION_MB).toBe(192);
    expect(youngGenerationMb(2, 24 * GiB)).toBe(192);
    expect(youngGenerationMb(64, 64 * GiB)).toBe(128); // 64 GiB / 8 / 64 threads
    expect(youngGenerationMb(64, 8 * GiB)).toBe(48);
    expect(youngGenerationMb(0, 24 * GiB)).toBe(192);
    // The threads the pool starts get it.
    const s = spawnThreads(2);
    try {
      for (const w of s.threads) expect(w.resourceLimits?.maxYoungGenerationSizeMb).toBe(youngGenerationMb(2));
    } finally {
      await closeSpawned(s);
    }
  });
});
