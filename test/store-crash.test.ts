// Crash safety of the single writer (DESIGN 4.3): a child process commits batches in a loop and is
// killed with SIGKILL at random moments, several times. After each kill: PRAGMA integrity_check is ok,
// every done subspace has exactly its designs, no partial commit is visible (done subspaces form a
// prefix of whole batches, the archive and the run totals match it). Re-running the same commits
// (idempotent) then completes the run with exactly the expected final state.
//
// The child imports the compiled store (dist/src/store, built by `npm test`'s pretest tsc). When dist
// is missing or older than src/store, the store is compiled into node_modules/.cache for this test.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReadDb } from '../src/store/db.js';
import { summary } from '../src/store/query.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = 1500; // subspaces
const B = 25; // subspaces per commitMany batch
const SIZE = 1000;
const rowsOf = (k: number) => 1 + (k % 40);
const pointOf = (k: number, j: number) => k * SIZE + j * 13;
/** The metrics of a design (same code in the child): ~1.5 KB of JSON. */
const METRICS_SRC = `(k, j) => ({ k, j, decode: { stepTimeS: 0.01 + ((k * 31 + j) % 97) / 1e4, bound: 'memory' }, pad: 'm'.repeat(1200 + (k % 7)), layersC: [70 + j, 71 + k % 5, 72] })`;
const metricsOf = eval(METRICS_SRC) as (k: number, j: number) => unknown;
/** Archive after the batch ending at subspace `end` (exclusive): best point of every subspace k % 5 == 0. */
const archiveUpTo = (end: number) => Array.from({ length: end }, (_, k) => k).filter((k) => k % 5 === 0).map((k) => String(pointOf(k, 0)));

function storeDir(): string {
  const src = join(ROOT, 'src', 'store');
  const srcFiles = readdirSync(src).filter((f) => f.endsWith('.ts'));
  const newest = Math.max(...srcFiles.map((f) => statSync(join(src, f)).mtimeMs), statSync(join(ROOT, 'src', 'model', 'errors.ts')).mtimeMs);
  const dist = join(ROOT, 'dist', 'src', 'store');
  const fresh = srcFiles.every((f) => {
    const js = join(dist, f.replace(/\.ts$/, '.js'));
    return existsSync(js) && statSync(js).mtimeMs >= newest;
  });
  if (fresh) return dist;
  // dist is stale or missing: compile the store (and what it imports) inside the project tree, so
  // that the child resolves better-sqlite3 from node_modules.
  const out = join(ROOT, 'node_modules', '.cache', 'strata-store-crash');
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--outDir', out, '--rootDir', ROOT, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
      '--strict', '--skipLibCheck', '--esModuleInterop', '--resolveJsonModule',
      ...srcFiles.map((f) => join(src, f)),
    ],
    { cwd: ROOT, stdio: 'pipe' },
  );
  return join(out, 'src', 'store');
}

function childScript(store: string): string {
  const u = (f: string) => JSON.stringify(pathToFileURL(join(store, f)).href);
  return `
import { openWriteDb } from ${u('db.js')};
import { openRun, ensureSubspaces, requeueLeased, leaseNext, commitMany, updateRun } from ${u('writer.js')};
const [file] = process.argv.slice(2);
const N = ${N}, B = ${B}, SIZE = ${SIZE};
const rowsOf = (k) => 1 + (k % 40);
const pointOf = (k, j) => k * SIZE + j * 13;
const metricsOf = ${METRICS_SRC};
const db = openWriteDb(file);
const run = openRun(db, { spec: { crash: true, n: N }, modelVersion: 'crash-test', objective: 'tokens_per_s', spaceSize: BigInt(N * SIZE) });
requeueLeased(run);
ensureSubspaces(run, Array.from({ length: N }, (_, k) => ({ id: 'a=' + (k >> 6) + '/b=' + (k & 63), first: BigInt(k * SIZE), size: BigInt(SIZE), depth: 2 })));
process.stdout.write('ready\\n');
for (let k0 = 0; k0 < N; k0 += B) {
  leaseNext(run, 'child-' + process.pid, B, 60000, Date.now());
  const items = [];
  for (let k = k0; k < Math.min(N, k0 + B); k++) {
    const results = [];
    for (let j = 0; j < rowsOf(k); j++)
      results.push({ pointId: BigInt(pointOf(k, j)), keptAs: j === 0 ? ['subspace-best', 'pareto'] : 'topk', objectives: { tokens_per_s: 1000 - j + k / 1e4 }, params: { layers: 4 + (k % 4), precision: k % 2 ? 'fp8' : 'bf16' }, metrics: metricsOf(k, j) });
    const ev = 600 + (k % 100), inf = 50 + (k % 3);
    items.push({ subspaceId: 'a=' + (k >> 6) + '/b=' + (k & 63), leaseOwner: 'child-' + process.pid, counts: { evaluated: BigInt(ev), prunedBound: BigInt(SIZE - ev - inf - 7), prunedDominance: 7n, infeasible: BigInt(inf) }, infeasibleByReason: { memory: BigInt(inf - 1), thermal: 1n }, results });
  }
  const end = Math.min(N, k0 + B);
  const archive = [];
  for (let k = 0; k < end; k++) if (k % 5 === 0) archive.push(BigInt(pointOf(k, 0)));
  commitMany(run, items, { archive });
}
updateRun(run, { state: 'done' });
db.close();
process.stdout.write('finished\\n');
`;
}

const dir = mkdtempSync(join(tmpdir(), 'strata-crash-'));
let script = '';
beforeAll(() => {
  script = join(dir, 'writer-child.mjs');
  writeFileSync(script, childScript(storeDir()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child; kills it with SIGKILL `killAfterMs` after it is ready (undefined: let it finish). */
function runChild(file: string, killAfterMs?: number): Promise<{ finished: boolean; code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (killAfterMs !== undefined && !before.includes('ready') && out.includes('ready')) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ finished: out.includes('finished'), code, signal, stderr: err }));
  });
}

/** Checks the invariants after a crash; returns the number of done subspaces. */
function check(file: string): number {
  const db = new Database(file); // what a restarted coordinator does: recovery from the WAL
  let done = 0;
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const runs = db.prepare(`SELECT id FROM runs`).pluck().all() as number[];
    if (runs.length === 0) return 0; // killed before the run was created
    expect(runs).toHaveLength(1);
    const subs = db.prepare(`SELECT id, first_point, state, evaluated, pruned_bound, pruned_dominance, infeasible FROM subspaces ORDER BY CAST(first_point AS INTEGER)`).all() as Record<string, string>[];
    const designs = new Map<string, string[]>();
    for (const r of db.prepare(`SELECT subspace_id, point_id FROM designs ORDER BY CAST(point_id AS INTEGER)`).all() as { subspace_id: string; point_id: string }[]) {
      const l = designs.get(r.subspace_id) ?? [];
      l.push(r.point_id);
      designs.set(r.subspace_id, l);
    }
    subs.forEach((s, k) => {
      const got = designs.get(s.id!) ?? [];
      if (s.state === 'done') {
        done++;
        expect(got).toEqual(Array.from({ length: rowsOf(k) }, (_, j) => String(pointOf(k, j))));
        const ev = 600 + (k % 100);
        const inf = 50 + (k % 3);
        expect([s.evaluated, s.pruned_bound, s.pruned_dominance, s.infeasible]).toEqual([String(ev), String(SIZE - ev - inf - 7), '7', String(inf)]);
      } else {
        expect(got, `designs of the unfinished subspace ${s.id}`).toEqual([]);
        expect(s.evaluated).toBeNull();
      }
    });
    // batch atomicity: the done subspaces are exactly the first whole batches, the archive is that of the last batch
    if (subs.length > 0) {
      expect(subs.slice(0, done).every((s) => s.state === 'done')).toBe(true);
      expect(done % B === 0 || done === N).toBe(true);
    }
    expect(db.prepare(`SELECT point_id FROM archive ORDER BY CAST(point_id AS INTEGER)`).pluck().all()).toEqual(archiveUpTo(done));
    expect(designs.size).toBe(done);
  } finally {
    db.close();
  }
  const ro = openReadDb(file);
  try {
    const s = summary(ro);
    expect(s.coverage.totalsConsistent).toBe(true);
    expect(s.coverage.accounted).toBe(String(s.progress.done * SIZE));
  } finally {
    ro.close();
  }
  return done;
}

describe('crash safety of the writer', () => {
  it('kill -9 at random moments: integrity, no partial commit, idempotent completion', async () => {
    const file = join(dir, 'crash.db');
    // a deterministic pseudo-random sequence of kill delays (ms after the child is ready)
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    const history: { killedMs: number; finished: boolean; done: number }[] = [];
    // kill until the run has been interrupted at least 5 times (or 14 attempts)
    for (let i = 0; i < 14 && history.filter((h) => !h.finished).length < 5; i++) {
      const killedMs = Math.round(15 + rnd() * 160);
      const r = await runChild(file, killedMs);
      if (!r.finished) expect(r.signal, r.stderr).toBe('SIGKILL');
      history.push({ killedMs, finished: r.finished, done: check(file) });
    }
    // the kills really interrupted the run, and it made progress between them
    const interrupted = history.filter((h) => !h.finished && h.done < N);
    expect(interrupted.length, JSON.stringify(history)).toBeGreaterThanOrEqual(3);
    expect(new Set(interrupted.map((h) => h.done)).size, JSON.stringify(history)).toBeGreaterThanOrEqual(2);

    // re-run to completion: the duplicates of committed batches change nothing
    const last = await runChild(file);
    expect(last.code, last.stderr).toBe(0);
    expect(last.finished).toBe(true);
    expect(check(file)).toBe(N);
    // ... and once more: a complete run re-committed is unchanged
    const db0 = new Database(file, { readonly: true });
    const snapshot = db0.prepare(`SELECT point_id, subspace_id, kept_as, tokens_per_s, params_json, metrics_json FROM designs ORDER BY point_id`).all();
    db0.close();
    expect((await runChild(file)).code).toBe(0);

    const db = new Database(file, { readonly: true });
    const rows = db.prepare(`SELECT point_id, subspace_id, kept_as, tokens_per_s, params_json, metrics_json FROM designs ORDER BY point_id`).all() as Record<string, unknown>[];
    expect(rows).toEqual(snapshot);
    expect(rows).toHaveLength(Array.from({ length: N }, (_, k) => rowsOf(k)).reduce((a, b) => a + b, 0));
    for (const r of rows) {
      const p = Number(r.point_id);
      const k = Math.floor(p / SIZE);
      const j = (p - k * SIZE) / 13;
      expect(r.metrics_json).toBe(JSON.stringify(metricsOf(k, j)));
      expect(r.kept_as).toBe(j === 0 ? 5 : 2);
    }
    expect(db.prepare(`SELECT state FROM runs`).pluck().get()).toBe('done');
    expect(db.prepare(`SELECT count(*) FROM subspaces WHERE state <> 'done'`).pluck().get()).toBe(0);
    db.close();
    const ro = openReadDb(file);
    const s = summary(ro);
    ro.close();
    expect(s.coverage.check).toBe('exact');
    expect(s.coverage.accounted).toBe(String(N * SIZE));
    let ev = 0, inf = 0;
    for (let k = 0; k < N; k++) {
      ev += 600 + (k % 100);
      inf += 50 + (k % 3);
    }
    expect(s.coverage.evaluated).toBe(String(ev));
    expect(s.coverage.infeasible).toBe(String(inf));
    expect(s.coverage.prunedDominance).toBe(String(7 * N));
    expect(s.coverage.infeasibleByReason).toEqual({ memory: String(inf - N), thermal: String(N) });
  });
});
