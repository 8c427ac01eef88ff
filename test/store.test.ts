// The results store: schema, resume/refusal, leases, idempotent validated commits, exact BigInt
// coverage, the --where language, read-only SQL, status and output formats.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/model/errors.js';
import { openReadDb, openWriteDb, type Db } from '../src/store/db.js';
import { best, formatRows, pareto, parseWhere, sql, status, summary, summaryRows } from '../src/store/query.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import {
  CommitError,
  SubspaceError,
  commitMany,
  commitSubspace,
  ensureSubspaces,
  expireLeases,
  getArchive,
  leaseNext,
  logEvent,
  openRun,
  releaseLeases,
  renewLeases,
  requeueLeased,
  setArchive,
  splitSubspace,
  storedDesigns,
  subspaceIds,
  updateRun,
  upsertWorker,
  type DesignRow,
  type Run,
  type RunSpecInput,
} from '../src/store/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newFile = () => join(dir, `t${n++}.db`);

const SPEC: RunSpecInput = {
  spec: { space: 'small', workload: { input: 1024, output: 256 }, objective: 'tokens_per_s_per_w' },
  modelVersion: 'm1',
  objective: 'tokens_per_s_per_w',
  spaceSize: 1000n,
};

/** 10 subspaces a=0..a=9 of 100 points each. */
function subs10() {
  return Array.from({ length: 10 }, (_, i) => ({ id: `a=${i}`, first: BigInt(i * 100), size: 100n, depth: 1 }));
}

function design(p: number | bigint, extra: Partial<DesignRow> = {}): DesignRow {
  const id = BigInt(p);
  const x = Number(id % 97n);
  return {
    pointId: id,
    keptAs: ['subspace-best'],
    objectives: { tokensPerSPerW: 10 + x, tpot_s: 0.01 + x / 1000, tokens_per_s: 1000 + 3 * x },
    params: { layers: (x % 4) * 4 + 4, connectedLayers: 4, precision: x % 2 ? 'fp8' : 'bf16', devices: 2 ** (x % 7), mapping: { tp: 2 ** (x % 3), pp: 1, dp: 1, sp: 1, ep: 1 } },
    metrics: { decode: { stepTimeS: 0.01 + x / 1e4 }, id: id },
    ...extra,
  };
}

const fullCounts = (size: bigint | number) => ({ evaluated: BigInt(size) - 3n, prunedBound: 1n, prunedDominance: 1n, infeasible: 1n });

function dump(db: Db, runId: number) {
  return {
    designs: db.prepare(`SELECT * FROM designs WHERE run_id = ? ORDER BY point_id`).all(runId),
    subspaces: db.prepare(`SELECT * FROM subspaces WHERE run_id = ? ORDER BY id`).all(runId),
    run: db.prepare(`SELECT evaluated, pruned_bound, pruned_dominance, infeasible, infeasible_by_reason_json FROM runs WHERE id = ?`).get(runId),
    archive: db.prepare(`SELECT * FROM archive WHERE run_id = ? ORDER BY point_id`).all(runId),
  };
}

describe('schema and open', () => {
  it('creates the tables in WAL mode with foreign keys and the schema version', () => {
    const f = newFile();
    const db = openWriteDb(f);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all();
    expect(tables).toEqual(['archive', 'designs', 'events', 'runs', 'subspaces', 'workers']);
    const idx = () => db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'designs' AND name LIKE 'designs_%'`).pluck().all() as string[];
    expect(idx()).toEqual([]);
    // the run's objectives are indexed when it opens, every objective column when it ends
    const run = openRun(db, { ...SPEC, objective: 'tokensPerSPerW,tpot_s' });
    expect(idx().sort()).toEqual(['designs_tokens_per_s_per_w', 'designs_tpot_s']);
    const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT point_id FROM designs WHERE run_id = 1 AND tpot_s IS NOT NULL ORDER BY tpot_s LIMIT 5`).all() as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/USING INDEX designs_tpot_s/);
    updateRun(run, { state: 'done', addWallS: 1.5 });
    expect(idx().sort()).toEqual(
      ['energy_per_token_j', 'goodput', 'serving_tokens_per_s_per_w', 'tokens_per_s', 'tokens_per_s_per_mm2', 'tokens_per_s_per_w', 'tpot_s', 'ttft_s'].map((c) => `designs_${c}`),
    );
    db.close();
    openWriteDb(f).close(); // reopening an existing store works
  });

  it('refuses a file that is not a strata database, and a missing file for reading', () => {
    const f = newFile();
    const other = new Database(f);
    other.exec('CREATE TABLE foo (x)');
    other.close();
    expect(() => openWriteDb(f)).toThrow(ConfigError);
    expect(() => openWriteDb(f)).toThrow(/--db/);
    expect(() => openReadDb(join(dir, 'missing.db'))).toThrow(/--db.*existing strata database/);
    const g = newFile();
    writeFileSync(g, 'not sqlite at all, just text that is long enough to be a header................................');
    expect(() => openWriteDb(g)).toThrow(ConfigError);
  });

  it('refuses a database written by a newer schema', () => {
    const f = newFile();
    openWriteDb(f).close();
    const raw = new Database(f);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => openWriteDb(f)).toThrow(/schema version/);
    expect(() => openReadDb(f)).toThrow(/schema version/);
  });
});

describe('runs: resume and refusal', () => {
  it('resumes the same spec (key order does not matter) and refuses a different one unless --new-run', () => {
    const f = newFile();
    const db = openWriteDb(f);
    const r1 = openRun(db, SPEC, { nowMs: 1 });
    expect(r1.resumed).toBe(false);
    ensureSubspaces(r1, subs10());
    commitSubspace(r1, 'a=0', { counts: fullCounts(100), results: [design(5)] });
    db.close();

    const db2 = openWriteDb(f);
    const reordered: RunSpecInput = { ...SPEC, spec: { objective: 'tokens_per_s_per_w', workload: { output: 256, input: 1024 }, space: 'small' } };
    const r2 = openRun(db2, reordered);
    expect(r2.resumed).toBe(true);
    expect(r2.id).toBe(r1.id);
    expect(r2.specHash).toBe(r1.specHash);
    expect(subspaceIds(r2, 'done')).toEqual(['a=0']);

    const different: RunSpecInput = { ...SPEC, spec: { ...(SPEC.spec as object), workload: { input: 2048, output: 256 } } };
    let err: unknown;
    try {
      openRun(db2, different);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('--db');
    expect((err as ConfigError).value).toBe(f);
    expect((err as Error).message).toMatch(/--db/);
    expect((err as Error).message).toMatch(/a database of the same run spec, or --new-run/);
    // another model version is another run too
    expect(() => openRun(db2, { ...SPEC, modelVersion: 'm2' })).toThrow(ConfigError);
    expect((db2.prepare('SELECT count(*) FROM runs').pluck().get() as number)).toBe(1);

    const r3 = openRun(db2, different, { newRun: true });
    expect(r3.resumed).toBe(false);
    expect(r3.id).not.toBe(r1.id);
    // old run kept, and its spec still resumes
    expect(openRun(db2, SPEC).id).toBe(r1.id);
    expect(openRun(db2, different).id).toBe(r3.id);
    // --new-run of the same spec: a fresh run (epoch 1), the old one kept
    const r4 = openRun(db2, SPEC, { newRun: true });
    expect(r4.epoch).toBe(1);
    expect(r4.id).not.toBe(r1.id);
    expect(openRun(db2, SPEC).id).toBe(r4.id); // resume picks the latest run of the spec
    expect((db2.prepare('SELECT count(*) FROM runs').pluck().get() as number)).toBe(3);
    db2.close();
  });
});

describe('subspaces and leases', () => {
  let db: Db;
  let run: Run;
  beforeEach(() => {
    db = openWriteDb(newFile());
    run = openRun(db, SPEC);
    ensureSubspaces(run, subs10());
  });

  it('ensureSubspaces is idempotent and refuses mismatching ranges and overlaps', () => {
    expect(ensureSubspaces(run, subs10())).toEqual({ inserted: 0, existing: 10 });
    expect(() => ensureSubspaces(run, [{ id: 'a=1', first: 100n, size: 99n, depth: 1 }])).toThrow(SubspaceError);
    expect(() => ensureSubspaces(run, [{ id: 'a=1/b=0', first: 100n, size: 10n, depth: 2 }])).toThrow(/overlaps stored subspace 'a=1'/);
    expect(() => ensureSubspaces(run, [{ id: '', first: 0n, size: 1000n, depth: 0 }])).toThrow(/overlaps/);
    expect(() => ensureSubspaces(run, [{ id: 'b=0', first: 990n, size: 20n, depth: 1 }])).toThrow(/exceeds the space size/);
    // nothing of a refused batch is written
    expect(() => ensureSubspaces(run, [{ id: 'z=0', first: 0n, size: 1n, depth: 1 }, { id: 'a=2/x', first: 200n, size: 1n, depth: 2 }])).toThrow();
    expect(db.prepare(`SELECT count(*) FROM subspaces WHERE id = 'z=0'`).pluck().get()).toBe(0);
  });

  it('leases queued subspaces by priority then insertion order, renews and requeues', () => {
    ensureSubspaces(run, [{ id: 'a=0', first: 0n, size: 100n, depth: 1 }]); // existing: priority unchanged
    const l1 = leaseNext(run, 'w1', 3, 1000, 10_000);
    expect(l1.map((l) => l.id)).toEqual(['a=0', 'a=1', 'a=2']);
    expect(l1[1]).toMatchObject({ first: 100n, size: 100n, depth: 1, attempts: 0, expiresMs: 11_000 });
    const l2 = leaseNext(run, 'w2', 2, 1000, 10_000);
    expect(l2.map((l) => l.id)).toEqual(['a=3', 'a=4']);
    const r = renewLeases(run, 'w1', ['a=0', 'a=1', 'a=3', 'nope'], 5000, 10_500);
    expect(r).toEqual({ renewed: ['a=0', 'a=1'], lost: ['a=3', 'nope'] });
    // at 11_000: a=2 (w1, not renewed) and a=3, a=4 (w2) expire; a=0, a=1 live until 15_500
    const l3 = leaseNext(run, 'w3', 10, 1000, 11_000);
    expect(l3.map((l) => l.id).slice(0, 3)).toEqual(['a=2', 'a=3', 'a=4']);
    expect(l3.find((l) => l.id === 'a=2')!.attempts).toBe(1);
    expect(l3.map((l) => l.id)).not.toContain('a=0');
    const st = status(openReadDbOf(db), { nowMs: 11_000 });
    expect(st.leases).toEqual([
      { owner: 'w1', count: 2, nextExpiryMs: 15_500 },
      { owner: 'w3', count: 8, nextExpiryMs: 12_000 },
    ]);
    expect(releaseLeases(run, 'w1', ['a=0'])).toBe(1);
    expect(requeueLeased(run)).toBe(9);
    expect(db.prepare(`SELECT count(*) FROM subspaces WHERE state = 'queued' AND lease_owner IS NULL`).pluck().get()).toBe(10);
  });

  it('priority orders the queue', () => {
    const db2 = openWriteDb(newFile());
    const r2 = openRun(db2, SPEC);
    ensureSubspaces(r2, subs10().map((s, i) => ({ ...s, priority: i === 7 ? 5 : i === 3 ? 2 : 0 })));
    expect(leaseNext(r2, 'w', 3, 10, 0).map((l) => l.id)).toEqual(['a=7', 'a=3', 'a=0']);
  });

  it('an expired lease is retried up to maxAttempts, then the subspace fails with the reason', () => {
    let t = 0;
    for (let k = 1; k <= 3; k++) {
      const got = leaseNext(run, `w${k}`, 1, 100, t, { maxAttempts: 3 });
      expect(got.map((l) => l.id)).toEqual(['a=0']);
      expect(got[0]!.attempts).toBe(k - 1);
      t += 100; // expires exactly now
    }
    const next = leaseNext(run, 'w9', 1, 100, t, { maxAttempts: 3 });
    expect(next.map((l) => l.id)).toEqual(['a=1']);
    const row = db.prepare(`SELECT state, attempts, fail_reason, lease_owner FROM subspaces WHERE id = 'a=0'`).get() as Record<string, unknown>;
    expect(row.state).toBe('failed');
    expect(row.attempts).toBe(3);
    expect(row.lease_owner).toBeNull();
    expect(row.fail_reason).toMatch(/lease expired 3 times .*last owner w3/);
    expect(expireLeases(run, t + 100, 3)).toEqual({ requeued: ['a=1'], failed: [] });
    const s = summary(db, run.id);
    expect(s.progress.failed).toBe(1);
    expect(status(db, { nowMs: t }).failures[0]).toMatchObject({ id: 'a=0' });
    // a late but valid commit of the failed subspace is still accepted (exactly once)
    expect(commitSubspace(run, 'a=0', { counts: fullCounts(100), results: [] }).applied).toBe(true);
    expect(commitSubspace(run, 'a=0', { counts: fullCounts(100), results: [] }).applied).toBe(false);
  });
});

function openReadDbOf(db: Db): Db {
  return openReadDb(db.name);
}

describe('commits', () => {
  let db: Db;
  let run: Run;
  beforeEach(() => {
    db = openWriteDb(newFile());
    run = openRun(db, SPEC);
    ensureSubspaces(run, subs10());
  });

  it('writes the designs and done state in one transaction; a duplicate or late commit changes nothing', () => {
    const [l] = leaseNext(run, 'w1', 1, 1000, 0);
    const input = {
      counts: { evaluated: 90n, prunedBound: 5n, prunedDominance: 2n, infeasible: 3n },
      infeasibleByReason: { memory: 2n, thermal: 1n },
      results: [design(10, { keptAs: ['pareto', 'subspace-best'] }), design(11, { keptAs: 'topk' })],
      archive: [10n],
    };
    expect(commitSubspace(run, l!.id, input, 'w1')).toEqual({ subspaceId: 'a=0', applied: true });
    const before = dump(db, run.id);
    expect(before.designs).toHaveLength(2);
    const sub = db.prepare(`SELECT * FROM subspaces WHERE id = 'a=0'`).get() as Record<string, unknown>;
    expect(sub).toMatchObject({ state: 'done', evaluated: '90', pruned_bound: '5', pruned_dominance: '2', infeasible: '3', best_point_id: '10', lease_owner: null, committed_by: 'w1' });
    expect(JSON.parse(sub.infeasible_by_reason_json as string)).toEqual({ memory: '2', thermal: '1' });
    const d = db.prepare(`SELECT * FROM designs WHERE point_id = '10'`).get() as Record<string, unknown>;
    expect(d).toMatchObject({ kept_as: 5, tp: 2, pp: 1, layers: 12, connected_layers: 4, precision: 'bf16', devices: 8, subspace_id: 'a=0' });
    expect(d.tokens_per_s_per_w).toBe(20);
    expect(JSON.parse(d.metrics_json as string).id).toBe('10');
    expect(getArchive(run)).toEqual([10n]);

    // duplicate (same worker) and late (other worker, different content): nothing changes
    expect(commitSubspace(run, 'a=0', input, 'w1')).toEqual({ subspaceId: 'a=0', applied: false, reason: 'done' });
    const other = { counts: fullCounts(100), results: [design(50)] };
    expect(commitSubspace(run, 'a=0', other, 'w2').applied).toBe(false);
    expect(commitMany(run, [{ subspaceId: 'a=0', ...other }])).toEqual([{ subspaceId: 'a=0', applied: false, reason: 'done' }]);
    expect(dump(db, run.id)).toEqual(before);
  });

  it('refuses counts that do not add up, and writes nothing', () => {
    const before = dump(db, run.id);
    const bad = (counts: Record<string, bigint | number | string>, extra: object = {}) => () =>
      commitSubspace(run, 'a=1', { counts: counts as never, results: [design(150)], archive: [150n], ...extra });
    expect(bad({ evaluated: 90n, prunedBound: 5n, prunedDominance: 2n, infeasible: 2n })).toThrow(/not the subspace size 100/);
    expect(bad({ evaluated: 90n, prunedBound: 5n, prunedDominance: 2n, infeasible: 4n })).toThrow(CommitError);
    expect(bad({ evaluated: -1, prunedBound: 101n, prunedDominance: 0n, infeasible: 0n })).toThrow(/negative|non-negative/);
    expect(bad({ evaluated: '1e2', prunedBound: 0n, prunedDominance: 0n, infeasible: 0n })).toThrow(CommitError);
    expect(bad(fullCounts(100), { infeasibleByReason: { memory: 2n } })).toThrow(/sums to 2, not infeasible 1/);
    expect(() => commitSubspace(run, 'a=1', { counts: fullCounts(100), results: [design(99)] })).toThrow(/outside the subspace/);
    expect(() => commitSubspace(run, 'a=1', { counts: fullCounts(100), results: [design(150), design(150)] })).toThrow(/twice/);
    expect(() =>
      commitSubspace(run, 'a=1', { counts: fullCounts(100), results: [design(150, { objectives: { tokens_per_s: Number.NaN } })] }),
    ).toThrow(/finite/);
    expect(() =>
      commitSubspace(run, 'a=1', { counts: fullCounts(100), results: [design(150, { metrics: { x: Infinity } })] }),
    ).toThrow(/non-finite/);
    expect(() => commitSubspace(run, 'nope', { counts: fullCounts(100), results: [] })).toThrow(/unknown-subspace/);
    // archive naming a point that is not stored: the whole commit is rolled back
    expect(() => commitSubspace(run, 'a=1', { counts: fullCounts(100), results: [design(150)], archive: [151n] })).toThrow(/not a stored design/);
    expect(dump(db, run.id)).toEqual(before);
    expect(db.prepare(`SELECT count(*) FROM events WHERE kind = 'commit'`).pluck().get()).toBe(0);
  });

  it('commitMany applies the valid items in one transaction and reports the refused ones', () => {
    const res = commitMany(
      run,
      [
        { subspaceId: 'a=2', counts: fullCounts(100), results: [design(200), design(201, { keptAs: 'topk' })] },
        { subspaceId: 'a=3', counts: { ...fullCounts(100), evaluated: 0n }, results: [design(300)] },
        { subspaceId: 'a=4', counts: fullCounts(100), results: [design(400)] },
        { subspaceId: 'a=2', counts: fullCounts(100), results: [design(202)] },
      ],
      { archive: { add: [200n, 400n] }, nowMs: 5 },
    );
    expect(res.map((r) => [r.subspaceId, r.applied, r.reason])).toEqual([
      ['a=2', true, undefined],
      ['a=3', false, 'refused'],
      ['a=4', true, undefined],
      ['a=2', false, 'done'],
    ]);
    expect(res[1]!.error).toMatch(/not the subspace size/);
    expect(db.prepare(`SELECT point_id FROM designs ORDER BY point_id`).pluck().all()).toEqual(['200', '201', '400']);
    expect(getArchive(run)).toEqual([200n, 400n]);
    setArchive(run, { remove: [200n], add: [201n] });
    expect(getArchive(run)).toEqual([201n, 400n]);
    setArchive(run, [400n]);
    expect(getArchive(run)).toEqual([400n]);
    const ev = db.prepare(`SELECT detail_json FROM events WHERE kind = 'commit'`).pluck().all() as string[];
    expect(ev.map((e) => JSON.parse(e))).toEqual([{ subspaces: 2, designs: 3, accounted: '200' }]);
    expect([...storedDesigns(run)].map((d) => d.pointId)).toEqual([200n, 201n, 400n]);
    // a batch whose archive names a missing design is rolled back entirely
    expect(() => commitMany(run, [{ subspaceId: 'a=5', counts: fullCounts(100), results: [design(500)] }], { archive: [999n] })).toThrow(CommitError);
    expect(db.prepare(`SELECT state FROM subspaces WHERE id = 'a=5'`).pluck().get()).toBe('queued');
    // pre-serialised metrics: stored as is; an invalid one refuses only its item
    const r2 = commitMany(run, [
      { subspaceId: 'a=5', counts: fullCounts(100), results: [{ ...design(500), metrics: undefined, metricsJson: '{"a":1}' }] },
      { subspaceId: 'a=6', counts: fullCounts(100), results: [design(600), { ...design(601), metricsJson: '{"a":' }] },
      { subspaceId: 'a=7', counts: fullCounts(100), results: [design(700)] },
    ]);
    expect(r2.map((r) => [r.applied, r.reason])).toEqual([[true, undefined], [false, 'refused'], [true, undefined]]);
    expect(r2[1]!.error).toMatch(/a=6.*metricsJson is not valid JSON/);
    expect(db.prepare(`SELECT metrics_json FROM designs WHERE point_id = '500'`).pluck().get()).toBe('{"a":1}');
    expect(db.prepare(`SELECT count(*) FROM designs WHERE subspace_id = 'a=6'`).pluck().get()).toBe(0);
    expect(db.prepare(`SELECT state FROM subspaces WHERE id = 'a=6'`).pluck().get()).toBe('queued');
    expect(() => commitSubspace(run, 'a=6', { counts: fullCounts(100), results: [{ ...design(601), metricsJson: 'nope' }] })).toThrow(CommitError);
    expect(summary(db).coverage.totalsConsistent).toBe(true);
  });

  it('split subspaces: children cover the parent, a late commit of the parent is ignored, coverage is exact', () => {
    expect(() => splitSubspace(run, 'a=0', [{ id: 'a=0/b=0', first: 0n, size: 50n, depth: 2 }])).toThrow(/do not cover/);
    expect(() =>
      splitSubspace(run, 'a=0', [
        { id: 'a=0/b=0', first: 0n, size: 60n, depth: 2 },
        { id: 'a=0/b=1', first: 50n, size: 50n, depth: 2 },
      ]),
    ).toThrow(/gap or overlap/);
    expect(
      splitSubspace(run, 'a=0', [
        { id: 'a=0/b=1', first: 40n, size: 60n, depth: 2 },
        { id: 'a=0/b=0', first: 0n, size: 40n, depth: 2 },
      ]),
    ).toBe(true);
    expect(commitSubspace(run, 'a=0', { counts: fullCounts(100), results: [] })).toMatchObject({ applied: false, reason: 'split' });
    const items = [
      { subspaceId: 'a=0/b=0', counts: fullCounts(40), results: [design(1)] },
      { subspaceId: 'a=0/b=1', counts: fullCounts(60), results: [design(41)] },
      ...subs10().slice(1).map((s) => ({ subspaceId: s.id, counts: fullCounts(100), results: [design(s.first + 7n)] })),
    ];
    commitMany(run, items);
    const s = summary(db, run.id);
    expect(s.progress).toMatchObject({ done: 11, total: 11, split: 1 });
    expect(s.coverage.check).toBe('exact');
    expect(s.coverage.accounted).toBe('1000');
    expect(s.coverage.totalsConsistent).toBe(true);
    expect(s.coverage.infeasibleByReason).toEqual({ unspecified: '11' });
  });
});

describe('exact BigInt coverage beyond 2^53', () => {
  it('sums counts exactly for a 10^20-point space', () => {
    const size = 10n ** 20n + 7n;
    const db = openWriteDb(newFile());
    const run = openRun(db, { ...SPEC, spaceSize: size });
    const k = 16;
    const part = size / BigInt(k);
    const subs = Array.from({ length: k }, (_, i) => ({
      id: `m=${i}`,
      first: part * BigInt(i),
      size: i === k - 1 ? size - part * BigInt(k - 1) : part,
      depth: 1,
    }));
    ensureSubspaces(run, subs);
    let ev = 0n,
      pb = 0n,
      pd = 0n,
      inf = 0n;
    const items = subs.map((s, i) => {
      const c = { evaluated: s.size / 3n + BigInt(i), prunedBound: s.size / 5n, prunedDominance: s.size / 7n, infeasible: 0n };
      c.infeasible = s.size - c.evaluated - c.prunedBound - c.prunedDominance;
      ev += c.evaluated;
      pb += c.prunedBound;
      pd += c.prunedDominance;
      inf += c.infeasible;
      const mem = c.infeasible / 2n + 1n;
      return { subspaceId: s.id, counts: c, infeasibleByReason: { memory: mem, power: c.infeasible - mem }, results: [design(s.first + 2n ** 60n)] };
    });
    expect(commitMany(run, items.slice(0, 9)).every((r) => r.applied)).toBe(true);
    expect(summary(db).coverage.check).toBe('incomplete');
    expect(commitMany(run, items.slice(9)).every((r) => r.applied)).toBe(true);
    db.close();
    const ro = openReadDb(db.name);
    const s = summary(ro);
    expect(s.coverage).toMatchObject({ evaluated: ev.toString(), prunedBound: pb.toString(), prunedDominance: pd.toString(), infeasible: inf.toString() });
    expect(BigInt(s.coverage.accounted)).toBe(size);
    expect(ev > 2n ** 53n && BigInt(s.coverage.evaluated) > 2n ** 53n).toBe(true);
    expect(s.coverage.check).toBe('exact');
    expect(s.coverage.totalsConsistent).toBe(true);
    const mem = items.reduce((a, x) => a + x.infeasibleByReason.memory, 0n);
    expect(s.coverage.infeasibleByReason).toEqual({ memory: mem.toString(), power: (inf - mem).toString() });
    expect(s.coverage.spaceSize).toBe('100000000000000000007');
    // a point id > 2^63 survives as text; sql() returns big integers as strings
    const big = sql(ro, `SELECT max(CAST(point_id AS INTEGER)) AS m, 9007199254740993 AS x, 12 AS y FROM designs`);
    expect(big[0]).toEqual({ m: '9223372036854775807', x: '9007199254740993', y: 12 });
    expect(formatRows(summaryRows(s), 'csv')).toContain('evaluated,' + ev.toString());
    ro.close();
  });

  it('property: any split of the counts that adds up is accepted and summed exactly; any other is refused', () => {
    const db = openWriteDb(newFile());
    const size = 2n ** 80n;
    const run = openRun(db, { ...SPEC, spaceSize: size });
    let seq = 0;
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 64n }), fc.array(fc.bigInt({ min: 0n, max: 2n ** 62n }), { minLength: 3, maxLength: 3 }), fc.integer({ min: -2, max: 2 }), (sz, xs, delta) => {
        const id = `p=${seq++}`;
        const first = BigInt(seq) * 2n ** 64n;
        ensureSubspaces(run, [{ id, first, size: sz, depth: 1 }]);
        const [a, b, c] = xs.map((x) => x % (sz + 1n)) as [bigint, bigint, bigint];
        const fits = a + b + c <= sz;
        const counts = fits ? { evaluated: a, prunedBound: b, prunedDominance: c, infeasible: sz - a - b - c + BigInt(delta) } : { evaluated: a, prunedBound: b, prunedDominance: c, infeasible: 0n };
        const ok = fits && delta === 0;
        let applied = false;
        try {
          applied = commitSubspace(run, id, { counts, results: [] }).applied;
        } catch (e) {
          expect(e).toBeInstanceOf(CommitError);
        }
        expect(applied).toBe(ok);
        expect(db.prepare(`SELECT state FROM subspaces WHERE run_id = ? AND id = ?`).pluck().get(run.id, id)).toBe(ok ? 'done' : 'queued');
      }),
      { numRuns: 200 },
    );
    const s = summary(db);
    expect(s.coverage.totalsConsistent).toBe(true);
    const done = db.prepare(`SELECT size FROM subspaces WHERE state = 'done'`).pluck().all() as string[];
    expect(BigInt(s.coverage.accounted)).toBe(done.reduce((x, y) => x + BigInt(y), 0n));
  });
});

describe('queries', () => {
  const file = newFile();
  {
    const db = openWriteDb(file);
    const run = openRun(db, SPEC, { nowMs: 0 });
    ensureSubspaces(run, subs10());
    const items = subs10().map((s) => ({
      subspaceId: s.id,
      counts: fullCounts(100),
      infeasibleByReason: { memory: 1n },
      results: Array.from({ length: 10 }, (_, j) => design(s.first + BigInt(j * 10), { keptAs: j === 0 ? ['subspace-best', 'topk'] : 'topk' })),
    }));
    commitMany(run, items.slice(0, 4), { nowMs: 100_000 });
    commitMany(run, items.slice(4, 7), { nowMs: 160_000 });
    commitMany(run, items.slice(7, 8), { nowMs: 200_000, archive: [10n, 20n, 730n] });
    leaseNext(run, 'w7', 1, 60_000, 200_000);
    upsertWorker(run, { id: 'w7', host: 'node-1', threads: 2 }, 200_000);
    logEvent(run, 'note', { x: 1 }, 200_000);
    db.close();
  }
  const ro = openReadDb(file);

  it('read-only connection: query_only and writes refused at the SQLite level', () => {
    expect(ro.pragma('query_only', { simple: true })).toBe(1);
    expect(() => ro.exec(`DELETE FROM designs`)).toThrow();
    expect(() => ro.prepare(`INSERT INTO events (run_id, ts_ms, kind) VALUES (1, 1, 'x')`).run()).toThrow();
  });

  it('summary, pareto and best', () => {
    const s = summary(ro);
    expect(s.progress).toEqual({ done: 8, total: 10, queued: 1, leased: 1, failed: 0, split: 0 });
    expect(s.coverage.accounted).toBe('800');
    expect(s.coverage.check).toBe('incomplete');
    expect(s.designs).toBe(80);
    const p = pareto(ro);
    // by tokens_per_s_per_w = 10 + id % 97, descending: 730 -> 61, 20 -> 30, 10 -> 20
    expect(p.map((r) => r.point_id)).toEqual(['730', '20', '10']);
    const best1 = best(ro, undefined, 'tokens_per_s_per_w', undefined, 3);
    expect(best1.map((r) => r.rank)).toEqual([1, 2, 3]);
    // x = id % 97 is largest (96) for id 96+97k among stored ids (multiples of 10 below 800): 96*? -> check by brute force
    const ids = Array.from({ length: 80 }, (_, i) => BigInt(i * 10));
    const key = (id: bigint) => Number(id % 97n);
    const expected = [...ids].sort((a, b) => key(b) - key(a) || (a < b ? -1 : 1)).slice(0, 3).map(String);
    expect(best1.map((r) => r.point_id)).toEqual(expected);
    // minimised objective, with a filter, ties by point id
    const f = best(ro, undefined, 'tpot', 'precision = fp8 and layers in (4, 8) and devices <= 16', 100);
    const exp = ids
      .filter((id) => {
        const x = key(id);
        return x % 2 === 1 && [4, 8].includes((x % 4) * 4 + 4) && 2 ** (x % 7) <= 16;
      })
      .sort((a, b) => key(a) - key(b) || (a < b ? -1 : 1))
      .map(String);
    expect(exp.length).toBeGreaterThan(3);
    expect(f.map((r) => r.point_id)).toEqual(exp);
    expect(f[0]).toHaveProperty('tpot_s');
    expect(Object.keys(f[0]!)).not.toContain('goodput'); // all-null columns dropped
    const viaParams = best(ro, undefined, 'tokensPerS', `params.precision = 'bf16' and not (tp = 1 or tp = 4)`, 100);
    expect(viaParams.every((r) => r.precision === 'bf16' && r.tp === 2)).toBe(true);
    expect(viaParams.length).toBeGreaterThan(0);
  });

  it('status: states, leases, rate over the window, ETA, best so far, workers', () => {
    const st = status(ro, { nowMs: 220_000, windowS: 300 });
    expect(st.subspaces).toEqual({ queued: 1, leased: 1, done: 8, failed: 0, split: 0 });
    expect(st.leases).toEqual([{ owner: 'w7', count: 1, nextExpiryMs: 260_000 }]);
    expect(st.accounted).toBe('800');
    // commits at 100 s (400 pts), 160 s (300), 200 s (100): rate = (300 + 100) / (220 - 100) s
    expect(st.rate).toBeCloseTo(400 / 120, 9);
    expect(st.etaS).toBeCloseTo(200 / (400 / 120), 6);
    expect(st.best?.point_id).toBe(best(ro, undefined, 'tokens_per_s_per_w', undefined, 1)[0]!.point_id);
    expect(st.workers).toEqual([{ id: 'w7', host: 'node-1', threads: 2, state: 'active', lastSeenMs: 200_000 }]);
    const narrow = status(ro, { nowMs: 220_000, windowS: 30 });
    expect(narrow.rate).toBeNull();
  });

  it('sql: only a single read-only SELECT/WITH', () => {
    expect(sql(ro, `SELECT count(*) AS n FROM designs`)).toEqual([{ n: 80 }]);
    expect(sql(ro, ` -- comment\n /* c */ WITH t AS (SELECT precision FROM designs) SELECT count(DISTINCT precision) AS k FROM t`)).toEqual([{ k: 2 }]);
    const refused = [
      `INSERT INTO events (run_id, ts_ms, kind) VALUES (1, 1, 'x')`,
      `UPDATE designs SET layers = 1`,
      `DELETE FROM designs`,
      `ATTACH DATABASE '${join(dir, 'x.db')}' AS x`,
      `PRAGMA query_only = 0`,
      `PRAGMA user_version = 7`,
      `SELECT 1; DELETE FROM designs`,
      `WITH t AS (SELECT 1) DELETE FROM designs`,
      `DROP TABLE designs`,
      `VACUUM`,
      `select load_extension('x')`,
    ];
    for (const q of refused) {
      let err: unknown;
      try {
        sql(ro, q);
      } catch (e) {
        err = e;
      }
      expect(err, q).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe('sql');
    }
    expect(sql(ro, `SELECT count(*) AS n FROM designs`)).toEqual([{ n: 80 }]);
    expect(ro.pragma('query_only', { simple: true })).toBe(1);
  });
});

describe('--where language', () => {
  it('parses to parameterised SQL', () => {
    expect(parseWhere('layers=8 and precision=fp8 and devices<=64')).toEqual({
      sql: 'layers = ? AND precision = ? AND devices <= ?',
      params: [8, 'fp8', 64],
      dims: [],
    });
    expect(parseWhere(`(tp == 8 OR ep >= 16) and not system = 'h100-sxm' and batch != 3`)).toEqual({
      sql: '((tp = ?) OR (ep >= ?)) AND NOT (system = ?) AND batch <> ?',
      params: [8, 16, 'h100-sxm', 3],
      dims: [],
    });
    expect(parseWhere(`precision not in (fp8, "bf16") and tokensPerSPerW > 1.5e3 and params.bonding = hybrid-bond`)).toEqual({
      sql: 'precision NOT IN (?, ?) AND tokens_per_s_per_w > ? AND json_extract(params_json, ?) = ?',
      params: ['fp8', 'bf16', 1500, '$."bonding"', 'hybrid-bond'],
      dims: ['bonding'],
    });
    expect(parseWhere(`system = 'it''s'`).params).toEqual(["it's"]);
    expect(parseWhere('').sql).toBe('1');
  });

  it('refuses unknown columns and bad syntax, naming the token', () => {
    const cases: [string, RegExp][] = [
      ['colour = red', /got "colour".*known column/],
      ['layers = 8 and', /end of filter/],
      ['layers 8', /got "8".*operator/],
      ['layers = fp8', /got "fp8".*a number for column layers/],
      ['layers = 8; DROP TABLE designs', /got ";"/],
      ['layers = 8 or or', /got "or"/],
      ["precision = 'fp8", /closing '/],
      ['(layers = 8', /end of filter.*'\)'/],
      ['params.x-y = 1', /params\.x-y/],
      ['layers = 8 precision = fp8', /got "precision".*'and', 'or'/],
      ['sqlite_master = 1', /got "sqlite_master"/],
    ];
    for (const [w, re] of cases) {
      let err: unknown;
      try {
        parseWhere(w);
      } catch (e) {
        err = e;
      }
      expect(err, w).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe('--where');
      expect((err as Error).message, w).toMatch(re);
    }
  });

  it('values never reach the SQL text (injection attempts are plain values)', () => {
    const f = newFile();
    const db = openWriteDb(f);
    const run = openRun(db, SPEC);
    ensureSubspaces(run, subs10());
    commitSubspace(run, 'a=0', { counts: fullCounts(100), results: [design(1), design(2)] });
    const evil = `precision = 'fp8'' OR 1=1 --' or system = "x"" ; DROP TABLE designs; --"`;
    const w = parseWhere(evil);
    expect(w.sql).toBe('(precision = ?) OR (system = ?)');
    expect(best(db, run.id, 'tokens_per_s', evil)).toEqual([]);
    expect(db.prepare('SELECT count(*) FROM designs').pluck().get()).toBe(2);
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          const r = parseWhere(s);
          // any accepted filter runs as a query without error and without side effects
          db.prepare(`SELECT count(*) FROM designs WHERE ${r.sql}`).get(...r.params);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      { numRuns: 500 },
    );
    expect(db.prepare('SELECT count(*) FROM designs').pluck().get()).toBe(2);
  });
});

describe('formatRows', () => {
  const rows = [
    { name: 'a', n: 1, big: 2n ** 64n, s: 'x,"y"\nz', nul: null },
    { name: 'bbbb', n: 123.5, big: 3n, s: 'plain', nul: null },
  ];
  it('aligned table, numbers right-aligned', () => {
    const t = formatRows([{ name: 'a', n: 1 }, { name: 'bbbb', n: 123.5 }], 'table');
    expect(t.split('\n')).toEqual(['name      n', '----  -----', 'a         1', 'bbbb  123.5']);
    expect(formatRows([], 'table')).toBe('(no rows)');
  });
  it('RFC 4180 CSV', () => {
    expect(formatRows(rows, 'csv')).toBe('name,n,big,s,nul\r\na,1,18446744073709551616,"x,""y""\nz",\r\nbbbb,123.5,3,plain,\r\n');
  });
  it('JSON array with big integers as strings', () => {
    const j = JSON.parse(formatRows(rows, 'json')) as Record<string, unknown>[];
    expect(j[0]).toEqual({ name: 'a', n: 1, big: '18446744073709551616', s: 'x,"y"\nz', nul: null });
    expect(j).toHaveLength(2);
  });
});
