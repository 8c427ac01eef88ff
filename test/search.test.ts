// The search: exact equivalence with brute force, coverage that adds up, order independence.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ROOT } from './helpers.js';
import { bruteForce, ctxFor, searchAll, spaceJson } from './search-helpers.js';
import { makeRunContext } from '../src/search/context.js';
import { evaluatePoint, SystemCache } from '../src/search/engine.js';
import { rankIndices, unrank, unrankIndices } from '../src/space/index.js';
import { runSpecFor } from './search-helpers.js';

/** Sum of the counts of all subspace results: must equal the space size. */
function coverage(results: ReturnType<typeof searchAll>['results']) {
  const c = { evaluated: 0n, prunedBound: 0n, prunedDominance: 0n, infeasible: 0n };
  for (const r of results) {
    c.evaluated += r.counts.evaluated;
    c.prunedBound += r.counts.prunedBound;
    c.prunedDominance += r.counts.prunedDominance;
    c.infeasible += r.counts.infeasible;
    const byReason = Object.values(r.infeasibleByReason).reduce((a, b) => a + b, 0n);
    expect(byReason).toBe(r.counts.infeasible);
    expect(r.counts.evaluated + r.counts.prunedBound + r.counts.prunedDominance + r.counts.infeasible).toBe(r.size);
  }
  return c;
}

/** A ~10^4-point variant of the tiny space: more batches and precisions, 1-8 devices. */
function mediumSpace(): Record<string, unknown> {
  const s = structuredClone(spaceJson('tiny')) as { name: string; levels: { name: string; dims: { name: string; values?: unknown[] }[] }[] };
  s.name = 'medium-test';
  const dim = (level: string, name: string) => s.levels.find((l) => l.name === level)!.dims.find((d) => d.name === name)!;
  dim('serving', 'batch').values = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  dim('serving', 'precision').values = ['bf16', 'fp8', 'fp4'];
  dim('system', 'devices').values = [1, 2, 4, 8];
  dim('memory', 'layers').values = [2, 4, 8, 16];
  dim('memory', 'connectedLayers').values = [1, 2, 4, 8, 16];
  return s;
}

/** A third space (15,360 points): a dense model (llama-3-8b) on hb3d-16l, other memory, SRAM, device
 *  and batch values than the medium one. */
function denseSpace(): Record<string, unknown> {
  const s = structuredClone(spaceJson('tiny')) as { name: string; base: { model: string }; levels: { name: string; dims: { name: string; values?: unknown[] }[] }[] };
  s.name = 'dense-tpot-test';
  s.base.model = 'llama-3-8b';
  const dim = (level: string, name: string) => s.levels.find((l) => l.name === level)!.dims.find((d) => d.name === name)!;
  dim('memory', 'layers').values = [4, 8, 12, 16];
  dim('memory', 'connectedLayers').values = [2, 4, 8, 16];
  dim('compute', 'globalSramMB').values = [16, 32, 64, 128];
  dim('system', 'devices').values = [1, 2, 4, 8];
  dim('serving', 'batch').values = [1, 2, 4, 8, 16, 32, 64, 128];
  return s;
}
const TPOT_SEARCH = { objectives: ['tpot'], constraints: { ttftMaxS: 2 } };
let denseBf: ReturnType<typeof bruteForce> | null = null;
/** Brute force of the dense space under TPOT_SEARCH (worked out once for the two tests that use it). */
function denseBruteForce(): ReturnType<typeof bruteForce> {
  return (denseBf ??= bruteForce(makeRunContext(runSpecFor(denseSpace(), TPOT_SEARCH))));
}

describe('branch-and-bound equals brute force', () => {
  it('single objective, maximise throughput/W, on the small space (64,800 points)', () => {
    const ctx = ctxFor('small', { objectives: ['throughput-per-watt'] });
    expect(ctx.space.size).toBe(64800n);
    const bf = bruteForce(ctx);
    const s = searchAll(ctx, 1);
    expect(s.front).toEqual(bf.front);
    const c = coverage(s.results);
    expect(c.evaluated + c.prunedBound + c.prunedDominance + c.infeasible).toBe(ctx.space.size);
    expect(c.prunedBound).toBeGreaterThan(ctx.space.size / 2n); // the bounds really prune
  }, 300_000);

  it('single objective, minimise TPOT under a TTFT constraint, on a dense-model space (15,360 points)', () => {
    const ctx = makeRunContext(runSpecFor(denseSpace(), TPOT_SEARCH));
    expect(ctx.space.size).toBe(15360n);
    const bf = denseBruteForce();
    expect(bf.feasible).toBeGreaterThan(0);
    expect(bf.infeasible).toBeGreaterThan(0); // the TTFT constraint and the memory bite
    for (const order of [(x: never[]) => x, (x: never[]) => [...x].reverse()]) {
      const s = searchAll(ctx, 2, order as never);
      expect(s.front).toEqual(bf.front);
      const c = coverage(s.results);
      expect(c.evaluated + c.prunedBound + c.prunedDominance + c.infeasible).toBe(ctx.space.size);
    }
  }, 300_000);

  it('Pareto front of throughput vs energy per token, on a ~10^4-point space, any order', () => {
    const ctx = makeRunContext(runSpecFor(mediumSpace(), { objectives: ['throughput', 'energy-per-token'] }));
    const bf = bruteForce(ctx);
    expect(bf.front.length).toBeGreaterThan(1);
    const orders = [(x: never[]) => x, (x: never[]) => [...x].reverse(), (x: never[]) => [...x].sort((a: { id: string }, b: { id: string }) => (a.id.length * 7 + a.id.charCodeAt(a.id.length - 1)) % 5 - (b.id.length * 7 + b.id.charCodeAt(b.id.length - 1)) % 5)];
    for (const order of orders) {
      const s = searchAll(ctx, 1, order as never);
      expect(s.front).toEqual(bf.front);
      const c = coverage(s.results);
      expect(c.evaluated + c.prunedBound + c.prunedDominance + c.infeasible).toBe(ctx.space.size);
      expect(c.prunedDominance).toBeGreaterThan(0n);
    }
  }, 300_000);

  it('with a chunkTokens dim (one point bound shared by its values: blindDims), on tiny (2,880 points)', () => {
    const s = structuredClone(spaceJson('tiny')) as { levels: { name: string; dims: unknown[] }[] };
    s.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'chunk', values: [256, 1 << 20], target: 'chunkTokens' });
    const ctx = makeRunContext(runSpecFor(s, { objectives: ['throughput-per-watt'] }));
    expect(ctx.bounds.blindDims).toEqual([ctx.space.dims.find((d) => d.name === 'chunk')!.index]);
    const bf = bruteForce(ctx);
    const r = searchAll(ctx, 1);
    expect(r.front).toEqual(bf.front);
    const c = coverage(r.results);
    expect(c.evaluated + c.prunedBound + c.prunedDominance + c.infeasible).toBe(ctx.space.size);
    expect(c.prunedBound).toBeGreaterThan(0n);
  }, 300_000);

  it('strata search itself (embedded coordinator: pre-dispatch pruning, splitting, 2 threads, SQLite) stores the brute-force answer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-bf-'));
    const spaceFile = join(dir, 'dense.json');
    writeFileSync(spaceFile, JSON.stringify(denseSpace()));
    const db = join(dir, 'r.db');
    const args = [join(ROOT, 'bin', 'strata.js'), 'search', '--space', spaceFile, '--objective', 'tpot', '--ttft-max-ms', '2000', '--db', db, '--workers', '2'];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    const bf = denseBruteForce();
    const d = new Database(db, { readonly: true });
    try {
      const stored = d.prepare('SELECT a.point_id AS id, g.tpot_s AS tpot FROM archive a JOIN designs g USING (run_id, point_id)').all() as { id: string; tpot: number }[];
      expect(stored.map((x) => BigInt(x.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(bf.front.map((e) => e.id));
      // TPOT is minimised: the scores are its negation.
      expect(stored.map((x) => x.tpot)).toEqual(bf.front.map((e) => -e.values[0]!));
      const total = d.prepare("SELECT sum(evaluated + pruned_bound + pruned_dominance + infeasible) FROM subspaces WHERE state = 'done'").pluck().get();
      expect(BigInt(total as number)).toBe(15360n);
    } finally {
      d.close();
    }
  }, 600_000);

  it('subspaces seeded with the global top-K lists send fewer designs and leave the final lists unchanged', () => {
    const ctx = makeRunContext(runSpecFor(mediumSpace(), { objectives: ['throughput', 'energy-per-token'], topK: 7 }));
    for (const order of [(x: never[]) => x, (x: never[]) => [...x].reverse()]) {
      const seeded = searchAll(ctx, 2, order as never, true);
      const plain = searchAll(ctx, 2, order as never, false);
      expect(seeded.top).toEqual(plain.top);
      expect(seeded.top.every((t) => t.length === 7)).toBe(true);
      expect(seeded.front).toEqual(plain.front);
      const sent = (s: typeof seeded) => s.results.reduce((n, r) => n + r.designs.length, 0);
      expect(sent(seeded)).toBeLessThan(sent(plain));
    }
  }, 300_000);
});

/** A node of the space tree (src/space/tree.ts): the allowed value indices of the next dim. */
interface TreeNode {
  vals: Int32Array;
  kids: TreeNode[];
}

describe('every target of a space reaches the model', () => {
  it('refuses serving-scheduler targets the search does not read, naming the dim', () => {
    const s = structuredClone(spaceJson('tiny')) as { levels: { name: string; dims: unknown[] }[] };
    s.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'split', values: [0.25, 0.5], target: 'prefillDecodeRatio' });
    expect(() => makeRunContext(runSpecFor(s, { objectives: ['throughput'] }))).toThrow(/levels\[\d+\]\.dims\[\d+\]\.target.*prefillDecodeRatio/);
  });

  it('every dim of deepstack matters: changing it alone changes what evaluate() reports, at some point', () => {
    const ctx = ctxFor('deepstack', { objectives: ['throughput-per-watt'] });
    const space = ctx.space;
    const systems = new SystemCache(ctx);
    const outcome = (idx: ArrayLike<number>): string => {
      const p = unrank(space, rankIndices(space, idx));
      const o = evaluatePoint(ctx, systems, idx, p.values, false);
      return o.result ? JSON.stringify(o.result) : `refused: ${o.reason}`;
    };
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const unmoved: string[] = [];
    for (const d of space.dims) {
      let moved = false;
      for (let tries = 0; tries < 400 && !moved; tries++) {
        const id = BigInt(Math.floor(rnd() * Number(space.size))) % space.size;
        const idx = Array.from(unrankIndices(space, id));
        const base = outcome(idx);
        if (base.startsWith('refused')) continue;
        // Another value of this dim; an inner dim its constraints tie to it (a device count's
        // mappings and scale-up sizes) keeps its value where it still may, else takes an allowed one.
        const alt = Array.from(idx);
        alt[d.index] = Math.floor(rnd() * d.values.length);
        if (alt[d.index] === idx[d.index]) continue;
        let node = (space as unknown as { root: TreeNode }).root;
        let ok = true;
        for (let i = 0; i < alt.length && ok; i++) {
          let k = node.vals.indexOf(alt[i]!);
          if (k < 0 && i > d.index && node.vals.length > 0) alt[i] = node.vals[(k = Math.floor(rnd() * node.vals.length))]!;
          if (k < 0) ok = false;
          else node = node.kids[k]!;
        }
        if (!ok) continue;
        moved = outcome(alt) !== base;
      }
      if (!moved) unmoved.push(d.name);
    }
    expect(unmoved).toEqual([]);
  }, 300_000);

  it('a chunkTokens target reaches the model: the prefill runs in steps of that many tokens', () => {
    const s = structuredClone(spaceJson('tiny')) as { levels: { name: string; dims: unknown[] }[] };
    s.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'chunk', values: [256, 1 << 20], target: 'chunkTokens' });
    const ctx = makeRunContext(runSpecFor(s, { objectives: ['throughput'] }));
    const systems = new SystemCache(ctx);
    const chunkDim = ctx.space.dims.find((d) => d.name === 'chunk')!.index;
    let compared = 0;
    for (let id = 0n; id < ctx.space.size && compared < 5; id += 2n) {
      const p = unrank(ctx.space, id);
      const idx = unrankIndices(ctx.space, id);
      if (idx[chunkDim] !== 0) continue;
      const whole = { ...p.values, chunk: 1 << 20 };
      const wholeIdx = Array.from(idx);
      wholeIdx[chunkDim] = 1;
      const a = evaluatePoint(ctx, systems, idx, p.values).result;
      const b = evaluatePoint(ctx, systems, wholeIdx, whole).result;
      if (!a || !b) continue;
      expect(a.prefill.stepTimeS).toBeGreaterThan(b.prefill.stepTimeS);
      expect(a.prefill.dramBytes).toBeGreaterThan(b.prefill.dramBytes);
      compared++;
    }
    expect(compared).toBe(5);
  });

  it('a microbatches target changes the pipelined evaluation', async () => {
    const { evaluatePoint, SystemCache } = await import('../src/search/engine.js');
    const { enumeratePoints } = await import('../src/space/index.js');
    const s = structuredClone(spaceJson('tiny')) as { levels: { name: string; dims: unknown[] }[] };
    s.levels.find((l) => l.name === 'serving')!.dims.push({ name: 'mb', values: [1, 4], target: 'microbatches' });
    const ctx = makeRunContext(runSpecFor(s, { objectives: ['throughput'] }));
    const systems = new SystemCache(ctx);
    const byMb = new Map<number, number>();
    for (const cur of enumeratePoints(ctx.space)) {
      const m = cur.mapping!;
      if (m.pp !== 2 || cur.values.batch !== 16 || cur.values.precision !== 'bf16' || cur.values.layers !== 8 || cur.values.connectedLayers !== 8 || cur.values.globalSramMB !== 32 || cur.values.devices !== 2) continue;
      const o = evaluatePoint(ctx, systems, cur.idx, cur.values);
      byMb.set(cur.values.mb as number, o.result!.decode.stepTimeS);
    }
    expect(byMb.size).toBe(2);
    expect(byMb.get(1)).not.toBe(byMb.get(4));
  });
});

describe('warm start', () => {
  it('is deterministic, orders the hinted subspaces first, and leaves the answer unchanged', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    // The compiled coordinator (npm test builds dist/ first): its search threads load compiled modules.
    const { ROOT } = await import('./helpers.js');
    const { runEmbedded } = (await import(join(ROOT, 'dist', 'coordinator', 'embedded.js'))) as typeof import('../coordinator/embedded.js');
    const { warmStartHints } = await import('../src/search/warmstart.js');
    const { subspaceOf } = await import('../src/space/index.js');
    const spec = runSpecFor(spaceJson('small'), { objectives: ['throughput-per-watt'] });
    const ctx = makeRunContext(spec);
    const hints = warmStartHints(ctx, { samples: 300, climb: 300 });
    expect(hints.length).toBeGreaterThan(0);
    expect(warmStartHints(ctx, { samples: 300, climb: 300 })).toEqual(hints);
    for (const h of hints) expect(h >= 0n && h < ctx.space.size).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'strata-warm-'));
    const runs = [];
    for (const warmStart of [false, true]) {
      const r = await runEmbedded(join(dir, `w${warmStart}.db`), spec, { threads: 1, warmStart });
      const co = r.coordinator;
      const first = co.db.prepare(`SELECT id FROM subspaces WHERE run_id = ? AND depth = ? ORDER BY priority DESC, id LIMIT 1`).pluck().get(co.run.id, spec.splitDepth) as string;
      runs.push({ front: co.archive.entries.map((e) => e.id), top: co.topk[0]!.items.map((e) => e.id), best: co.topk[0]!.items[0]!.values[0]!, hints: co.hints, first });
      co.close();
    }
    expect(runs[0]!.hints).toEqual([]);
    // The subspace leased first holds the climb's best design.
    expect(runs[1]!.first).toBe(subspaceOf(ctx.space, runs[1]!.hints[0]!, spec.splitDepth).id);
    expect(runs[1]!.front).toEqual(runs[0]!.front);
    expect(runs[1]!.top).toEqual(runs[0]!.top);
    // The hints are good designs, not any points: the climb's best is within 10% of the exact optimum
    // (measured: it is the optimum on small).
    const { evaluatePoint, SystemCache } = await import('../src/search/engine.js');
    const { unrank, unrankIndices } = await import('../src/space/index.js');
    const o = evaluatePoint(ctx, new SystemCache(ctx), unrankIndices(ctx.space, hints[0]!), unrank(ctx.space, hints[0]!).values);
    expect(o.scored?.feasible).toBe(true);
    expect(o.scored!.values[0]!).toBeGreaterThanOrEqual(0.9 * runs[0]!.best);
  }, 300_000);
});
