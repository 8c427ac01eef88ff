// Results-store throughput (DESIGN 4.3): subspace commits/s and result rows/s through the single
// writer, batched (commitMany: one transaction per batch) and unbatched (one transaction per
// commit), synchronous=NORMAL and FULL. Median of 5 runs, on a fresh database file each run.
// The run's objective column is indexed (as while a search runs). Targets: >= 2,000 subspace commits/s and >= 100,000 result rows/s.
//
//   npx tsc -p . && node dist/bench/store.js
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWriteDb } from '../src/store/db.js';
import { commitMany, commitSubspace, ensureSubspaces, leaseNext, openRun, type CommitItem, type DesignRow } from '../src/store/writer.js';
import { machine, median } from './machine.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-store-'));
let fileNo = 0;

/** A design row with a realistic metrics object (~1 KB of JSON). */
function row(id: bigint, kept: DesignRow['keptAs']): DesignRow {
  const x = Number(id % 1000n);
  return {
    pointId: id,
    keptAs: kept,
    objectives: { tokensPerS: 1e4 + x, tokensPerSPerW: 10 + x / 100, tokensPerSPerMm2: 1 + x / 1e3, tpotS: 0.02 + x / 1e5, ttftS: 0.3 + x / 1e4, energyPerTokenJ: 0.1 + x / 1e4 },
    params: { layers: 8, connectedLayers: 4, bonding: 'hybrid', devices: 64, precision: 'fp8', system: 'stack-a', batch: 64, mapping: { tp: 8, pp: 2, dp: 4, sp: 1, ep: 1 } },
    metrics: {
      prefill: { stepTimeS: 0.12 + x / 1e5, systemTokensPerS: 8.5e4, userTokensPerS: 1300, bound: 'compute' },
      decode: { stepTimeS: 0.021 + x / 1e6, systemTokensPerS: 3048.2, userTokensPerS: 47.6, bound: 'memory' },
      memory: { footprintBytes: 61_234_567_890, capacityBytes: 68_719_476_736, fits: true, kvBytes: 12_345_678_901 },
      power: { computeW: 412.5, dramW: 96.25, networkW: 33.1, staticW: 120.0, totalW: 661.85 },
      thermal: { layersC: [71.2, 73.9, 75.1, 76.0, 76.6, 77.0, 77.2, 77.3, 77.3], throttle: 1, logicC: 82.4 },
      serving: { ttftS: 0.31, tpotS: 0.021, goodput: 2900.4, sloAttainment: 0.97 },
    },
  };
}

interface Result {
  commitsPerS: number;
  rowsPerS: number;
  /** Rows per CPU-second of this process (user + system): less sensitive to other load on the machine. */
  rowsPerCpuS: number;
}

/**
 * Commits `subspaces` subspaces of 1000 points, `rowsPer` kept designs each, in batches of `batch`
 * (0 = commitSubspace, one transaction each). Times only the commits (rows are built beforehand).
 */
function once(subspaces: number, rowsPer: number, batch: number, synchronous: 'NORMAL' | 'FULL', preSerialised = false): Result {
  const file = join(dir, `b${fileNo++}.db`);
  const db = openWriteDb(file, { synchronous });
  const size = 1000n;
  const run = openRun(db, { spec: { bench: fileNo }, modelVersion: 'bench', objective: 'tokens_per_s_per_w', spaceSize: size * BigInt(subspaces) });
  ensureSubspaces(
    run,
    Array.from({ length: subspaces }, (_, i) => ({ id: `memory=${i >> 6}/compute=${i & 63}`, first: size * BigInt(i), size, depth: 2 })),
  );
  leaseNext(run, 'w1', subspaces, 3_600_000, Date.now());
  const items: CommitItem[] = Array.from({ length: subspaces }, (_, i) => {
    const first = size * BigInt(i);
    return {
      subspaceId: `memory=${i >> 6}/compute=${i & 63}`,
      leaseOwner: 'w1',
      counts: { evaluated: 700n, prunedBound: 200n, prunedDominance: 50n, infeasible: 50n },
      infeasibleByReason: { memory: 30n, thermal: 20n },
      results: Array.from({ length: rowsPer }, (_, j) => {
        const r = row(first + BigInt(j * 7), j === 0 ? ['subspace-best', 'topk'] : 'topk');
        // as received from a worker: the metrics arrive already serialised
        return preSerialised ? { ...r, metrics: undefined, metricsJson: JSON.stringify(r.metrics) } : r;
      }),
    };
  });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (batch === 0) for (const it of items) commitSubspace(run, it.subspaceId, it, it.leaseOwner);
  else for (let k = 0; k < items.length; k += batch) commitMany(run, items.slice(k, k + batch));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const done = db.prepare(`SELECT count(*) FROM subspaces WHERE state = 'done'`).pluck().get() as number;
  if (done !== subspaces) throw new Error(`bench: ${done} of ${subspaces} subspaces done`);
  db.close();
  rmSync(file, { force: true });
  rmSync(file + '-wal', { force: true });
  rmSync(file + '-shm', { force: true });
  return { commitsPerS: subspaces / s, rowsPerS: (subspaces * rowsPer) / s, rowsPerCpuS: (subspaces * rowsPer) / cpuS };
}

function med(label: string, f: () => Result): Result {
  f(); // warm-up
  const rs = Array.from({ length: 5 }, f);
  const r = {
    commitsPerS: median(rs.map((x) => x.commitsPerS)),
    rowsPerS: median(rs.map((x) => x.rowsPerS)),
    rowsPerCpuS: median(rs.map((x) => x.rowsPerCpuS)),
  };
  const fmt = (x: number, w: number) => Math.round(x).toLocaleString('en-US').padStart(w);
  console.log(`${label.padEnd(62)} ${fmt(r.commitsPerS, 9)} commits/s ${fmt(r.rowsPerS, 10)} rows/s ${fmt(r.rowsPerCpuS, 10)} rows/CPU-s`);
  return r;
}

console.log(`strata store bench — ${machine()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('median of 5 runs, fresh WAL database each run, ~1 KB of metrics JSON per row, 1 objective index (the run objective)\n');
const a = med('commitMany, batch 256, 1 row/subspace, NORMAL', () => once(20_000, 1, 256, 'NORMAL'));
med('commitMany, batch 256, 4 rows/subspace, NORMAL', () => once(20_000, 4, 256, 'NORMAL'));
med('commitMany, batch 64, 100 rows/subspace, metrics object, NORMAL', () => once(2_000, 100, 64, 'NORMAL'));
const c = med('commitMany, batch 64, 100 rows/subspace, metricsJson, NORMAL', () => once(2_000, 100, 64, 'NORMAL', true));
med('commitMany, batch 256, 4 rows/subspace, FULL', () => once(20_000, 4, 256, 'FULL'));
med('commitSubspace (1 transaction each), 4 rows, NORMAL', () => once(5_000, 4, 0, 'NORMAL'));
med('commitSubspace (1 transaction each), 4 rows, FULL', () => once(1_000, 4, 0, 'FULL'));
console.log(
  `\ntargets: >= 2,000 subspace commits/s: ${a.commitsPerS >= 2000 ? 'met' : 'NOT met'} (${Math.round(a.commitsPerS)}); ` +
    `>= 100,000 result rows/s: ${c.rowsPerS >= 100_000 ? 'met' : 'NOT met'} (${Math.round(c.rowsPerS)})`,
);
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
rmSync(dir, { recursive: true, force: true });
