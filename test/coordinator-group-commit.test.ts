// The coordinator's group commit (DESIGN 4.2, 4.3): results of several streams are validated and merged
// when they arrive (a bad one is refused at once and nothing of it is kept), then written in ONE
// transaction; if that batch cannot apply as a whole, each group is committed on its own, so one bad
// group never blocks the others and nothing of it is stored.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coordinator } from '../coordinator/core.js';
import { runSpecFromFlags } from '../src/cli/search.js';
import type { SubspaceResult } from '../src/search/engine.js';
import { CommitError, commitSubspace, type Lease } from '../src/store/index.js';

let co: Coordinator;

beforeEach(() => {
  const db = join(mkdtempSync(join(tmpdir(), 'strata-group-')), 'g.db');
  co = new Coordinator(db, runSpecFromFlags({ space: 'small', objective: 'throughput-per-watt', db }));
});
afterEach(() => co.db.close());

/** A result of a lease whose counts add up: n designs (the first one is the subspace best). */
function result(l: Lease, v: number, over: { metricsJson?: string; evaluated?: bigint } = {}): SubspaceResult {
  const n = 3n < l.size ? 3 : Number(l.size);
  const designs = Array.from({ length: n }, (_, k) => ({
    id: l.first + BigInt(k),
    subspaceId: l.id,
    values: [v - k * 1e-9],
    figures: { tokens_per_s_per_w: v - k * 1e-9 },
    params: { batch: k + 1 },
    metrics: undefined as never,
    metricsJson: k === 0 && over.metricsJson !== undefined ? over.metricsJson : `{"k":${k}}`,
    keptAs: (k === 0 ? ['subspace-best'] : []) as 'subspace-best'[],
  }));
  const evaluated = over.evaluated ?? BigInt(n);
  return {
    subspaceId: l.id,
    first: l.first,
    size: l.size,
    counts: { evaluated, prunedBound: l.size - BigInt(n), prunedDominance: 0n, infeasible: 0n },
    infeasibleByReason: {},
    designs,
  };
}

const state = (id: string) => co.db.prepare(`SELECT state FROM subspaces WHERE id = ?`).pluck().get(id);
const designsOf = (id: string) => co.db.prepare(`SELECT count(*) FROM designs WHERE subspace_id = ?`).pluck().get(id) as number;
const commitEvents = () => co.db.prepare(`SELECT detail_json FROM events WHERE kind = 'commit'`).pluck().all() as string[];

describe('group commit', () => {
  it('several streams in one transaction; a bad message is refused when staged and leaves nothing behind', () => {
    const [a] = co.lease('w1', 1);
    const [b] = co.lease('w2', 1);
    const [c] = co.lease('w3', 1);
    co.stageGroup('w1', [result(a!, 5)]);
    const front = co.archive.entries;
    // Counts that do not add up, an invalid metrics JSON on a kept design: refused synchronously.
    expect(() => co.stageGroup('w2', [result(b!, 9, { evaluated: 2n })])).toThrow(CommitError);
    expect(() => co.stageGroup('w2', [result(b!, 9, { metricsJson: '{"a":' })])).toThrow(/not valid JSON/);
    expect(co.archive.entries).toBe(front); // the refused points were not merged
    expect(co.stagedGroups()).toBe(1);
    co.stageGroup('w3', [result(c!, 7)]);
    const before = commitEvents().length;
    expect(state(a!.id)).toBe('leased'); // nothing written before the flush
    const done0 = co.progress.done;
    expect(co.flushStaged()).toEqual([null, null]);
    expect(commitEvents().length).toBe(before + 1); // one transaction
    expect(JSON.parse(commitEvents().at(-1)!)).toMatchObject({ subspaces: 2 });
    expect([state(a!.id), state(b!.id), state(c!.id)]).toEqual(['done', 'leased', 'done']);
    expect(designsOf(b!.id)).toBe(0);
    expect(co.progress.done).toBe(done0 + 2);
    expect(co.archive.entries.map((e) => e.id)).toEqual([c!.first]);
  });

  it('a batch that cannot apply as a whole: the other groups commit; a group with a late result commits the rest, and the late one stores nothing', () => {
    const [a] = co.lease('w1', 1);
    const [b] = co.lease('w2', 1);
    const [c] = co.lease('w3', 1);
    co.stageGroup('w1', [result(a!, 5)]);
    co.stageGroup('w2', [result(b!, 9)]);
    co.stageGroup('w3', [result(c!, 7)]);
    // Meanwhile b is committed by someone else (e.g. a late duplicate path): the staged group of w2 is stale.
    commitSubspace(co.run, b!.id, { counts: { evaluated: 0n, prunedBound: b!.size, prunedDominance: 0n, infeasible: 0n }, results: [] });
    const res = co.flushStaged();
    expect(res[0]).toBeNull();
    // b was done before the write (late): not applied, nothing of it stored, no error for its group.
    expect(res[1]).toEqual({ late: [b!.id] });
    expect(res[2]).toBeNull();
    expect([state(a!.id), state(b!.id), state(c!.id)]).toEqual(['done', 'done', 'done']);
    expect(designsOf(b!.id)).toBe(0); // none of the refused group's designs
    // The in-memory archive is the one of the committed groups only, and the stored archive agrees.
    expect(co.archive.entries.map((e) => e.id)).toEqual([c!.first]);
    expect(co.db.prepare(`SELECT point_id FROM archive`).pluck().all()).toEqual([c!.first.toString()]);
    expect(co.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('a group of several results, one of them late at the write: the others commit, the late one is reported', () => {
    const [a, b] = co.lease('w1', 2);
    co.stageGroup('w1', [result(a!, 5), result(b!, 9)]);
    commitSubspace(co.run, b!.id, { counts: { evaluated: 0n, prunedBound: b!.size, prunedDominance: 0n, infeasible: 0n }, results: [] });
    expect(co.flushStaged()).toEqual([{ late: [b!.id] }]);
    expect([state(a!.id), state(b!.id)]).toEqual(['done', 'done']);
    expect(designsOf(a!.id)).toBeGreaterThan(0);
    expect(designsOf(b!.id)).toBe(0);
    expect(co.archive.entries.map((e) => e.id)).toEqual([a!.first]);
    expect(co.db.prepare(`SELECT point_id FROM archive`).pluck().all()).toEqual([a!.first.toString()]);
    expect(co.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});
