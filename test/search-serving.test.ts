// The serving objective (DESIGN 2.7: the analytic serving model inside the search): tokens/s/W
// serving a workload's request stream at its offered rate within its SLO. Brute-force equivalence,
// admissible bounds, refusals, and the upgrade of a database made before its column existed.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cliTempDir, dataPath, strataCli } from './helpers.js';
import { boundsHoldOnRandomPoints, bruteForce, runSpecFor, searchAll, spaceJson } from './search-helpers.js';
import { makeRunContext } from '../src/search/context.js';
import { runSpecFromFlags } from '../src/cli/search.js';
import { evalInputOf, evaluatePoint, pinOf, SystemCache } from '../src/search/engine.js';
import { analyze, prepareServing } from '../src/model/serving/index.js';
import { pointBound, subspaceBound } from '../src/search/bounds.js';
import { indicesOf, subspaceOf, unrank, unrankIndices } from '../src/space/index.js';

const chat = JSON.parse(readFileSync(dataPath('workloads', 'chat.json'), 'utf8')) as Record<string, unknown>;
/** chat at another offered rate (requests/s). */
const chatAt = (ratePerS: number) => ({ ...chat, arrival: { kind: 'poisson', ratePerS } });
/** A space preset with the workload's mean lengths (as strata search --workload sets them). */
function spaceFor(name: string): Record<string, unknown> {
  const s = structuredClone(spaceJson(name)) as { base: { defaults?: Record<string, unknown> } };
  s.base.defaults = { ...(s.base.defaults ?? {}), inputTokens: 600, outputTokens: 250 };
  return s;
}
const servingSpec = (ratePerS: number, more: string[] = []) => ({ objectives: ['serving-throughput-per-watt', ...more], workload: chatAt(ratePerS) });

/** deepstack (lamosys-pd, DeepSeek-V3) with each dim cut to one to three values: 1-2 prefill and 1-2
 *  decode chiplets, 32 or 64 packages, every TP/PP(<= 2)/DP/EP mapping, two batches (9,344 points). */
function deepstackCut(): Record<string, unknown> {
  const cut: Record<string, unknown[]> = {
    decodeLayers: [16], decodeConnectedLayers: [4, 8], prefillLayers: [8], vertical: [{ kind: 'hybrid-bond', pitchUm: 3 }], channelsPerLayer: [32],
    prefillCores: [256], decodeCores: [96, 128], frequencyGHz: [1.4], sramPerCoreKB: [128], globalSramMB: [32],
    prefillChiplets: [1, 2], decodeChiplets: [1, 2], interposerBandwidthGBps: [1000], tdpW: [1000],
    devices: [32, 64], scaleUpSize: [8], scaleUpTopology: ['switch'], scaleUpLinkGBps: [200], scaleOutTopology: ['switch'], scaleOutLinkGBps: [100],
    batch: [256, 4096], chunkTokens: [8192], weightPrecision: ['fp8', 'fp4'], kvPrecision: ['fp8'],
  };
  const d = spaceFor('deepstack') as { name: string; levels: { dims: { name: string; values?: unknown[]; allowed?: unknown }[] }[] };
  d.name = 'deepstack-cut';
  for (const l of d.levels)
    for (const dim of l.dims) {
      if (cut[dim.name]) dim.values = cut[dim.name];
      if (dim.name === 'mapping') dim.allowed = { pp: [1, 2], sp: [1] };
    }
  return d;
}

describe('serving objective', () => {
  it('branch-and-bound equals brute force (tiny, chat at 8 req/s), and its bound prunes', () => {
    const ctx = makeRunContext(runSpecFor(spaceFor('tiny'), servingSpec(8)));
    const bf = bruteForce(ctx);
    // Some designs serve the stream, others cannot keep up or miss the SLO.
    expect(bf.feasible).toBeGreaterThan(100);
    const s = searchAll(ctx, 1);
    expect(s.front).toEqual(bf.front);
    let pruned = 0n;
    const reasons: Record<string, bigint> = {};
    for (const r of s.results) {
      expect(r.counts.evaluated + r.counts.prunedBound + r.counts.prunedDominance + r.counts.infeasible).toBe(r.size);
      pruned += r.counts.prunedBound;
      for (const [k, v] of Object.entries(r.infeasibleByReason)) reasons[k] = (reasons[k] ?? 0n) + v;
    }
    expect(pruned).toBeGreaterThan(0n);
    expect(reasons['serving-rate']).toBeGreaterThan(0n);
  }, 300_000);

  it('Pareto front with a model objective (serving tokens/s/W vs throughput/area) equals brute force', () => {
    const ctx = makeRunContext(runSpecFor(spaceFor('tiny'), servingSpec(2, ['throughput-per-area'])));
    const bf = bruteForce(ctx);
    expect(bf.front.length).toBeGreaterThan(1);
    for (const order of [(x: never[]) => x, (x: never[]) => [...x].reverse()]) expect(searchAll(ctx, 2, order as never).front).toEqual(bf.front);
  }, 300_000);

  it('on split prefill/decode chiplets (disaggregated, KV over the interposer): brute force on a 9,344-point cut of deepstack', () => {
    const d = deepstackCut();
    const ctx = makeRunContext(runSpecFor(d, servingSpec(150)));
    expect(ctx.space.size).toBe(9344n);
    const bf = bruteForce(ctx);
    expect(bf.feasible).toBeGreaterThan(100);
    expect(bf.infeasible).toBeGreaterThan(1000);
    const s = searchAll(ctx, 3);
    expect(s.front).toEqual(bf.front);
    const best = s.results.flatMap((r) => r.designs).find((x) => x.id === bf.front[0]!.id)!;
    expect(best.metrics.serving).toMatchObject({ scheduler: 'disaggregated', stable: true, slo: { met: true } });
  }, 600_000);

  it('a prefill:decode split of the DP replicas (prefillDecodeRatio): brute force, and the split strata serve makes', () => {
    // tiny on TP/DP mappings with a ratio dim: 0 runs both phases on every replica (chunked), r > 0
    // gives round(dp r / (1 + r)) replicas to prefill (disaggregated over the network), and is not a
    // serving design on one replica (serving-config).
    const sp = spaceFor('tiny') as { name: string; levels: { name: string; dims: Record<string, unknown>[] }[] };
    sp.name = 'tiny-pd';
    sp.levels.find((l) => l.name === 'mapping')!.dims[0]!.factors = ['tp', 'dp'];
    sp.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'split', values: [0, 0.34, 1, 3], target: 'prefillDecodeRatio' });
    const ctx = makeRunContext(runSpecFor(sp, servingSpec(8)));
    const bf = bruteForce(ctx);
    const s = searchAll(ctx, 2);
    expect(s.front).toEqual(bf.front);
    const reasons: Record<string, bigint> = {};
    for (const r of s.results) for (const [k, v] of Object.entries(r.infeasibleByReason)) reasons[k] = (reasons[k] ?? 0n) + v;
    expect(reasons['serving-config']).toBeGreaterThan(0n);
    // Points at dp 4: each ratio's scheduler and prefill replicas, against prepareServing as strata serve sets it up.
    const systems = new SystemCache(ctx);
    let disaggregated = 0;
    const schedulers = new Set<string>();
    for (let id = 0n; id < ctx.space.size; id++) {
      const pt = unrank(ctx.space, id);
      const v = pt.values as Record<string, unknown>;
      const m = v.mapping as { dp: number };
      if (m.dp !== 4 || v.batch !== 64) continue;
      const o = evaluatePoint(ctx, systems, unrankIndices(ctx.space, id), pt.values, true);
      if (!o.scored?.feasible && o.reason !== 'serving-rate' && o.reason !== 'serving-slo') continue;
      const r = v.split as number;
      const want = r === 0 ? 'chunked' : 'disaggregated';
      const sv = (o.result as { serving?: { scheduler: string } }).serving;
      if (sv) {
        expect(sv.scheduler).toBe(want);
        schedulers.add(sv.scheduler);
      }
      if (r === 0 || !o.scored?.feasible) continue;
      disaggregated++;
      const pr = { 0.34: 1, 1: 2, 3: 3 }[r]!;
      const input = evalInputOf(ctx, systems, unrankIndices(ctx.space, id), pt.values, systems.get(unrankIndices(ctx.space, id), pt.values) as never, false);
      const prepared = prepareServing(
        { system: input.system, model: input.model, precision: input.precision, mapping: input.mapping, scheduler: { kind: 'disaggregated', maxBatch: Math.ceil(64 / (4 - pr)), chunkTokens: 2048, prefillReplicas: pr } },
        { inputTokens: input.inputTokens, outputTokens: input.outputTokens },
      );
      expect(prepared.prefill!.replicas).toBe(pr);
      expect(o.scored!.values[0]).toBe(analyze(prepared, ctx.spec.workload!).tokensPerSPerW);
    }
    expect(disaggregated).toBeGreaterThan(0);
    // Both kinds were checked (a point without serving metrics checks none).
    expect([...schedulers].sort()).toEqual(['chunked', 'disaggregated']);
    // Its bound holds on random points too.
    // (about 1 point in 5 is feasible here: 300 draws check some 60)
    expect(boundsHoldOnRandomPoints([ctx], [new SystemCache(ctx)], 300)).toBeGreaterThan(10);
  }, 300_000);

  it('refuses prefillDecodeRatio without a serving objective, naming the dim', () => {
    const sp = spaceFor('tiny') as { levels: { name: string; dims: Record<string, unknown>[] }[] };
    sp.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'split', values: [0, 1], target: 'prefillDecodeRatio' });
    expect(() => makeRunContext(runSpecFor(sp, { objectives: ['throughput-per-watt'] }))).toThrow(/dims\[2\]\.target.*prefillDecodeRatio.*serving-throughput-per-watt/);
  });

  for (const space of ['tiny', 'quick', 'deepstack-cut']) {
    it(`bound >= true value on random points of random subspaces (${space})`, () => {
      const json = space === 'deepstack-cut' ? deepstackCut() : spaceFor(space);
      const rates = space === 'deepstack-cut' ? [40, 150, 400] : [2, 8, 40];
      const ctxs = rates.map((rate) => makeRunContext(runSpecFor(json, servingSpec(rate))));
      const systems = ctxs.map((c) => new SystemCache(c));
      const checked = boundsHoldOnRandomPoints(ctxs, systems, space === 'quick' ? 60 : 120);
      expect(checked).toBeGreaterThan(20);
    }, 300_000);
  }
});

describe('strata search with a serving objective', () => {
  const dir = cliTempDir('strata-serving-');
  it('refuses it without a workload, or with a closed-loop one, writing nothing', () => {
    const db = join(dir(), 'none.db');
    const r = strataCli(['search', '--space', 'tiny', '--objective', 'serving-throughput-per-watt', '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workload/);
    const closed = join(dir(), 'closed.json');
    writeFileSync(closed, JSON.stringify({ ...chat, arrival: { kind: 'closed', concurrency: 8 } }));
    const c = strataCli(['search', '--space', 'tiny', '--workload', closed, '--objective', 'serving-throughput-per-watt', '--db', db]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/arrival\.kind.*closed.*poisson or gamma/);
    expect(existsSync(db)).toBe(false);
  });

  it('stores the brute-force best with its serving figures', () => {
    const db = join(dir(), 'chat.db');
    const args = ['search', '--space', 'tiny', '--workload', 'chat', '--objective', 'serving-throughput-per-watt', '--db', db, '--workers', '2'];
    const r = strataCli(args, 600_000);
    expect(r.code, r.stderr).toBe(0);
    // The run spec the command made (the workload's clamped mean lengths, rounded).
    const bf = bruteForce(makeRunContext(runSpecFromFlags({ space: 'tiny', workload: 'chat', objective: 'serving-throughput-per-watt', db })));
    const best = () => {
      const d = new Database(db, { readonly: true });
      try {
        return d.prepare('SELECT a.point_id AS id, g.serving_tokens_per_s_per_w AS v, g.metrics_json AS m FROM archive a JOIN designs g USING (run_id, point_id)').all() as { id: string; v: number; m: string }[];
      } finally {
        d.close();
      }
    };
    const stored = best();
    expect(stored.map(({ id, v }) => ({ id, v }))).toEqual(bf.front.map((e) => ({ id: String(e.id), v: e.values[0] })));
    // Its metrics keep what the serving model found: the SLO met at the offered rate.
    const sv = (JSON.parse(stored[0]!.m) as { serving: { scheduler: string; stable: boolean; offeredRequestsPerS: number; tokensPerSPerW: number; slo: { met: boolean; attainment: number } } }).serving;
    expect(sv).toMatchObject({ scheduler: 'chunked', stable: true, offeredRequestsPerS: 40, tokensPerSPerW: stored[0]!.v, slo: { met: true } });
  }, 600_000);

  it('upgrades a database of schema version 1 (no serving column) when its run resumes; readers refuse it until then', () => {
    const db = join(dir(), 'v1.db');
    const args = ['search', '--space', 'tiny', '--objective', 'throughput-per-watt', '--db', db, '--workers', '1'];
    expect(strataCli(args, 600_000).code).toBe(0);
    const bestOf = () => strataCli(['query', '--db', db, 'best', '--format', 'json']);
    const before = bestOf();
    expect(before.code, before.stderr).toBe(0);
    // Make it a version-1 file, as strata wrote before the serving objective.
    const d = new Database(db);
    d.exec('DROP INDEX IF EXISTS designs_serving_tokens_per_s_per_w; ALTER TABLE designs DROP COLUMN serving_tokens_per_s_per_w');
    d.pragma('user_version = 1');
    d.close();
    const q = bestOf();
    expect(q.code).toBe(2);
    expect(q.stderr).toMatch(/schema version 2 \(found 1: resume its run once/);
    // The run's own command upgrades it (the run is done: nothing else changes).
    const again = strataCli(args, 600_000);
    expect(again.code, again.stderr).toBe(0);
    const after = bestOf();
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toBe(before.stdout);
    const v = new Database(db, { readonly: true });
    expect(v.pragma('user_version', { simple: true })).toBe(2);
    v.close();
  }, 600_000);
});
