// bench/search: the embedded search on this machine (local worker threads).
//   quick:     the whole space, wall time (median of 3 runs), points accounted/s, evaluations/s
//   deepstack: a fixed time budget (default 300 s), then the measured rates and the pruned fraction,
//              and the wall time the whole space would take at that accounting rate
//   deepstack fixed work: 30 system-level subspaces (9.2x10^6 points) searched on one search thread
//              against a fixed incumbent, one after another: a wall time that does not depend on a
//              time budget, to compare builds (the first pass fills the thread's caches; then the
//              median of 3 passes)
// Usage: node dist/bench/search.js [deepstackSeconds]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEmbedded } from '../coordinator/embedded.js';
import { runSpecFromFlags } from '../src/cli/search.js';
import { fmtBig } from '../src/space/index.js';
import { machine, median } from './machine.js';
import { startPool } from '../worker/pool.js';

const threads = availableParallelism();
const budget = Number(process.argv[2] ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));

async function once(space: string, limit?: number) {
  const db = join(dir, `${space}-${Date.now()}.db`);
  const spec = runSpecFromFlags({ space, objective: 'throughput-per-watt', db });
  const r = await runEmbedded(db, spec, { threads, ...(limit !== undefined ? { timeLimitS: limit } : {}) });
  const p = r.coordinator.progress;
  const best = r.coordinator.topk[0]!.items[0]?.values[0];
  const out = { wallS: r.wallS, accounted: p.accounted, size: p.size, evaluated: p.evaluated, pruned: p.prunedBound + p.prunedDominance, infeasible: p.infeasible, done: r.coordinator.finished(), best, hints: r.coordinator.hints.length };
  r.coordinator.close();
  return out;
}

console.log(`bench/search on ${machine()}, ${threads} search threads`);
const quick = [];
for (let i = 0; i < 3; i++) quick.push(await once('quick'));
const q = quick[0]!;
const wall = median(quick.map((x) => x.wallS));
console.log(`quick: ${q.size} points, wall ${wall.toFixed(2)} s (median of 3), ${(Number(q.size) / wall).toExponential(3)} points accounted/s, ${(Number(q.evaluated) / wall).toFixed(0)} evaluations/s, pruned ${((100 * Number(q.pruned)) / Number(q.size)).toFixed(1)}%, infeasible ${((100 * Number(q.infeasible)) / Number(q.size)).toFixed(1)}%`);

const d = await once('deepstack', budget);
const rate = Number(d.accounted) / d.wallS;
console.log(
  `deepstack: ${fmtBig(d.size)} points; in ${d.wallS.toFixed(0)} s accounted ${fmtBig(d.accounted)} (${((100 * Number(d.accounted)) / Number(d.size)).toFixed(4)}%): ` +
    `${rate.toExponential(3)} points accounted/s, ${(Number(d.evaluated) / d.wallS).toFixed(0)} evaluations/s, ` +
    `pruned ${d.accounted > 0n ? ((100 * Number(d.pruned)) / Number(d.accounted)).toFixed(2) : '0'}% of the accounted, infeasible ${d.accounted > 0n ? ((100 * Number(d.infeasible)) / Number(d.accounted)).toFixed(2) : '0'}%`,
);
console.log(`deepstack best design found: ${d.best?.toFixed(3) ?? '-'} tokens/s/W (the search started from ${d.hints} warm-start designs)`);
console.log(`deepstack whole-space wall time at this rate: ${rate > 0 ? (Number(d.size) / rate / 3600).toExponential(3) + ' h' : 'unknown'} (target <= 1 h)`);

// Fixed work on one search thread (its heap as in a search: worker/pool.ts). The incumbent is a design
// of 3.4695 tok/s/W (about the best the search finds): the subspaces' bounds are pruned against it.
const FIXED = Array.from({ length: 30 }, (_, k) => `memory=248/compute=47/package=6/system=${440 + k}`);
const fixedSpec = runSpecFromFlags({ space: 'deepstack', objective: 'throughput-per-watt', db: ':memory:' });
const pool = await startPool(fixedSpec, 1);
const passes: { wallS: number; points: bigint; evaluated: bigint }[] = [];
for (let r = 0; r < 4; r++) {
  const t0 = performance.now();
  let points = 0n;
  let evaluated = 0n;
  for (const id of FIXED) {
    const x = await pool.run(id, { front: [{ id: 490416245767751n, values: [3.4695] }], top: [] });
    points += x.size;
    evaluated += x.counts.evaluated;
  }
  passes.push({ wallS: (performance.now() - t0) / 1000, points, evaluated });
}
await pool.close();
const warm = median(passes.slice(1).map((p) => p.wallS));
console.log(
  `deepstack fixed work (${FIXED.length} system-level subspaces, ${fmtBig(passes[0]!.points)} points, ${passes[0]!.evaluated} evaluations, one search thread): ` +
    `first pass ${passes[0]!.wallS.toFixed(2)} s, then ${warm.toFixed(2)} s (median of 3): ${(Number(passes[0]!.points) / warm).toExponential(3)} points accounted/s`,
);
rmSync(dir, { recursive: true, force: true });
