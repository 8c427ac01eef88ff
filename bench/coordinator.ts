// Coordinator throughput (DESIGN 4): (1) a coordinator process driven by many light workers (>= 200
// concurrent Work streams) whose evaluation is replaced by a fixed-cost stub in this bench only:
// subspace commits/s, result rows/s and the coordinator's CPU, with 50 designs per result, with one
// (what a worker sends since it seeds its top-K lists) and with 200 from 20 streams (rows/s); (2) a
// real 2-worker run against the embedded run, pair by pair: on `tiny` (under a second: the fixed
// start-up cost of three processes against one), `small`, a widening of small (1.2x10^6 points,
// about 10 s) and the default space `quick` (8.9x10^7 points, a minute or two), and each one's
// overhead beyond that start-up (alone, without the stub runs: --real-only).
//   npm run build && node dist/bench/coordinator.js [--workers 200] [--designs 50]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machine, median } from './machine.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const BIN = join(ROOT, 'bin', 'strata.js');
const TOKEN = 'bench-token';
const TICKS = 100; // clock ticks per second of /proc/<pid>/stat (Linux default USER_HZ)

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return NaN;
  }
}

async function serve(db: string): Promise<void> {
  // Child process: a coordinator on deepstack (6,120 subspaces at its split depth), no lease-time split.
  const { runSpecFromFlags } = await import('../src/cli/search.js');
  const { CoordinatorServer } = await import('../coordinator/server.js');
  const spec = runSpecFromFlags({ space: 'deepstack', objective: 'throughput-per-watt', db });
  const s = new CoordinatorServer(db, spec, { listen: '127.0.0.1:0', token: TOKEN, maxLeasePoints: 10n ** 30n, lingerMs: 2000, ...(process.env.BENCH_GROUP_COMMIT_MS ? { groupCommitMs: Number(process.env.BENCH_GROUP_COMMIT_MS) } : {}) });
  const port = await s.start();
  process.stdout.write(`PORT ${port}\n`);
  await s.outcome;
  await s.shutdown();
  process.stdout.write(`STATS ${JSON.stringify({ commits: s.commits, cpuS: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 })}\n`);
  process.exit(0);
}

async function stubRun(nWorkers: number, nDesigns: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-co-'));
  const db = join(dir, 'stub.db');
  const child = spawn(process.execPath, [...(process.env.BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean), fileURLToPath(import.meta.url), '--serve', db], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve) => {
    const t = setInterval(() => {
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearInterval(t);
        resolve(Number(m[1]));
      }
    }, 20);
  });
  const { runWorker } = await import('../worker/client.js');
  const { runSpecFromFlags } = await import('../src/cli/search.js');
  const { subspaceById } = await import('../src/space/index.js');
  const { compileSpace } = await import('../src/space/index.js');
  const spec = runSpecFromFlags({ space: 'deepstack', objective: 'throughput-per-watt', db });
  const space = compileSpace(spec.space, 'space');
  // ~1 KB of metrics per design, as a real evaluation stores.
  const metrics = {
    prefill: { stepTimeS: 0.123456789, systemTokensPerS: 12345.678, userTokensPerS: 123.456, breakdown: Array.from({ length: 6 }, (_, i) => ({ op: `op${i}`, timeS: 0.001 * i, bound: 'memory', bytes: 123456789 + i, energyJ: 0.0123 })) },
    decode: { stepTimeS: 0.0234, systemTokensPerS: 2345.67, userTokensPerS: 23.45 },
    memory: { footprintBytes: 98765432100, capacityBytes: 123456789000, fits: true },
    power: { computeW: 123.4, dramW: 45.6, networkW: 7.8, staticW: 12.3 },
    thermal: { layersC: [55.1, 60.2, 65.3, 70.4, 72.5, 74.6, 76.7, 78.8], throttle: 1 },
  };
  // As a search thread leaves them (worker/thread.ts): the metrics already serialised (metricsJson).
  const metricsJson = JSON.stringify(metrics);
  let designs = 0;
  let results = 0;
  // The stub: a fixed cost (~50 us of CPU) and a result whose counts add up, with nDesigns designs.
  const makePool = async () => ({
    size: 1,
    close: async () => {},
    run: async (id: string) => {
      await new Promise((r) => setImmediate(r));
      const t = process.hrtime.bigint();
      while (process.hrtime.bigint() - t < 50_000n);
      const sub = subspaceById(space, id);
      const n = BigInt(nDesigns) < sub.size ? nDesigns : Number(sub.size);
      designs += n;
      results++;
      const ds = Array.from({ length: n }, (_, k) => {
        const v = 1e-6 * (1 + ((Number(sub.first % 997n) + k) % 101));
        return {
          id: sub.first + BigInt(k),
          subspaceId: id,
          values: [v],
          figures: { tokens_per_s_per_w: v },
          params: { batch: k + 1, precision: 'fp8' },
          metrics: undefined as never,
          metricsJson,
          keptAs: (k === 0 ? ['subspace-best'] : []) as ('subspace-best')[],
        };
      });
      return {
        subspaceId: id,
        first: sub.first,
        size: sub.size,
        counts: { evaluated: BigInt(n), prunedBound: sub.size - BigInt(n), prunedDominance: 0n, infeasible: 0n },
        infeasibleByReason: {},
        designs: ds,
      };
    },
  });
  const t0 = Date.now();
  const cpu0 = cpuOf(child.pid!);
  let firstCommitT = 0;
  let cpuAtFirst = 0;
  let designsAtFirst = 0;
  let benchCpuAtFirst = 0;
  const benchCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const probe = setInterval(() => {
    if (!firstCommitT && results > 0) {
      firstCommitT = Date.now();
      cpuAtFirst = cpuOf(child.pid!);
      benchCpuAtFirst = benchCpu();
      designsAtFirst = designs;
    }
  }, 5);
  let lastCpu = cpu0;
  const cpuPoll = setInterval(() => {
    const c = cpuOf(child.pid!);
    if (Number.isFinite(c)) lastCpu = c;
  }, 50);
  const exits = await Promise.all(
    Array.from({ length: nWorkers }, (_, i) =>
      runWorker({ coordinator: `127.0.0.1:${port}`, token: TOKEN, threads: 1, prefetch: 3, workerId: `stub-${i}`, makePool, minBackoffMs: 50, maxBackoffMs: 500 }),
    ),
  );
  const t1 = Date.now();
  const benchCpuUsed = benchCpu() - benchCpuAtFirst;
  clearInterval(probe);
  clearInterval(cpuPoll);
  await new Promise((r) => child.once('exit', r));
  const stats = JSON.parse(/STATS (.*)/.exec(out)?.[1] ?? '{}') as { commits: number; cpuS: number };
  const Database = (await import('better-sqlite3')).default;
  const d = new Database(db, { readonly: true });
  const stored = (d.prepare('SELECT count(*) FROM designs').pluck().get() as number) ?? 0;
  const subs = d.prepare(`SELECT count(*) FROM subspaces WHERE state = 'done'`).pluck().get() as number;
  d.close();
  const span = (t1 - firstCommitT) / 1000;
  const cpu = lastCpu - cpuAtFirst;
  console.log(`stub run: ${nWorkers} workers (${nWorkers} concurrent Work streams, one channel each), ${nDesigns} designs of ~${JSON.stringify(metrics).length} B metrics per result`);
  console.log(`  ${exits.filter((e) => e.code === 0).length}/${nWorkers} workers exited 0; ${subs} subspaces done (${stats.commits} committed from workers) in ${span.toFixed(2)} s after the first result (${((t1 - t0) / 1000).toFixed(2)} s with connecting)`);
  console.log(`  subspace commits/s: ${(stats.commits / span).toFixed(0)}`);
  console.log(`  result rows/s (designs received, validated, merged): ${((designs - designsAtFirst) / span).toFixed(0)}; rows stored/s: ${(stored / span).toFixed(0)} (${stored} kept: subspace-best, top-K, front)`);
  console.log(`  coordinator CPU: ${cpu.toFixed(2)} s over ${span.toFixed(2)} s = ${((100 * cpu) / span).toFixed(0)}% of one core (whole process ${stats.cpuS.toFixed(2)} s incl. start-up)`);
  // Wall rates above are bounded by whichever process runs out of CPU first on this machine (both share
  // its cores, and so do other jobs): the coordinator's capacity is what it could sustain on one core.
  const rowsInSpan = designs - designsAtFirst;
  console.log(
    `  coordinator capacity (per CPU-second of the coordinator process): ${(stats.commits / cpu).toFixed(0)} subspace commits/s, ${(rowsInSpan / cpu).toFixed(0)} result rows/s (${((1000 * cpu) / stats.commits).toFixed(3)} ms CPU per commit)`,
  );
  console.log(
    `  bench process (the ${nWorkers} stub workers' gRPC clients + encoding + the ~50 us stub): ${benchCpuUsed.toFixed(2)} s CPU = ${((100 * benchCpuUsed) / span).toFixed(0)}% of one core (${((1000 * benchCpuUsed) / Math.max(1, results)).toFixed(3)} ms per result)`,
  );
}

/** A free loopback port (bound and released), so the coordinator and its workers can start together. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Node's arguments for a process whose CPU seconds are appended to `cpuFile` at its exit (cpu.ts). */
function cpuArgs(): string[] {
  return ['--import', pathToFileURL(join(HERE, 'cpu.js')).href, BIN];
}

/** What each process run with `cpuFile` reported (cpu.ts): its pid, CPU seconds and main-thread
 *  busy seconds; and their sums. */
function cpuReport(cpuFile: string, processes: number): { byPid: Map<number, number>; cpu: number; main: number } {
  const lines = readFileSync(cpuFile, 'utf8').trim().split('\n');
  if (lines.length !== processes) throw new Error(`${cpuFile}: ${lines.length} processes reported their CPU, not ${processes}`);
  const rows = lines.map((l) => l.split(' ').map(Number) as [number, number, number]);
  return { byPid: new Map(rows.map(([pid, cpu]) => [pid, cpu])), cpu: rows.reduce((s, r) => s + r[1], 0), main: rows.reduce((s, r) => s + r[2], 0) };
}

/** Coordinator + 2 worker processes (1 thread each: the same 2 search threads as the embedded run),
 *  launched together as a cluster launcher does (the workers retry their Join until it listens), to
 *  the end of the run: wall seconds, when the first worker connected, the coordinator's CPU and the
 *  three processes' CPU. */
async function runDistributed(space: string, db: string): Promise<{ dist: number; firstConnect: number; coCpu: number; distCpu: number; distMain: number }> {
  const cpuFile = `${db}.cpu`;
  const env = { ...process.env, STRATA_TOKEN: TOKEN, BENCH_CPU_FILE: cpuFile };
  const port = await freePort();
  const t1 = Date.now();
  const co = spawn(process.execPath, [...cpuArgs(), 'coordinator', '--space', space, '--db', db, '--listen', `127.0.0.1:${port}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ws = [0, 1].map(() => spawn(process.execPath, [...cpuArgs(), 'worker', '--coordinator', `127.0.0.1:${port}`, '--threads', '1', '--quiet'], { env, stdio: 'ignore' }));
  let firstConnect = NaN;
  co.stderr!.on('data', (d) => {
    if (Number.isNaN(firstConnect) && /connected/.test(String(d))) firstConnect = (Date.now() - t1) / 1000;
  });
  const codes = await Promise.all([co, ...ws].map((p) => new Promise<number | null>((r) => p.once('exit', r))));
  if (codes.some((c) => c !== 0)) throw new Error(`distributed run: exit codes ${codes.join(', ')}`);
  const dist = (Date.now() - t1) / 1000;
  const rep = cpuReport(cpuFile, 3);
  return { dist, firstConnect, coCpu: rep.byPid.get(co.pid!)!, distCpu: rep.cpu, distMain: rep.main };
}

/** An embedded run with 2 search threads to the end: wall, CPU and main-thread busy seconds. */
function runEmbeddedCli(space: string, db: string): { emb: number; embCpu: number; embMain: number } {
  const cpuFile = `${db}.cpu`;
  const t0 = Date.now();
  const e = spawnSync(process.execPath, [...cpuArgs(), 'search', '--space', space, '--db', db, '--workers', '2'], { encoding: 'utf8', env: { ...process.env, BENCH_CPU_FILE: cpuFile } });
  if (e.status !== 0) throw new Error(e.stderr);
  const rep = cpuReport(cpuFile, 1);
  return { emb: (Date.now() - t0) / 1000, embCpu: rep.cpu, embMain: rep.main };
}

/** The best point of a finished run's database. */
function bestPoint(db: string): string | undefined {
  const r = spawnSync(process.execPath, [BIN, 'query', '--db', db, 'best', '--format', 'json'], { encoding: 'utf8' });
  return (JSON.parse(r.stdout) as { point_id: string }[])[0]?.point_id;
}

interface PairFigures {
  title: string;
  /** Median walls, s. */
  emb: number;
  dist: number;
  /** Each pair's distributed minus embedded wall, s. */
  diffs: number[];
  /** Each pair's embedded wall, s. */
  embs: number[];
  /** The same in CPU seconds of every process of a run. */
  cpuDiffs: number[];
  embCpus: number[];
}

/**
 * `n` pairs of runs of one space to the end, embedded (2 search threads) and distributed (coordinator
 * + 2 workers x 1 thread), one right after the other and in alternating order, so that the machine's
 * drift (its speed varies by 20% over minutes here, between runs that do the same work) hits both
 * sides alike; the overhead is taken pair by pair. Prints the medians, every pair, the median overhead
 * and whether both found the same best point every time.
 */
async function comparePairs(title: string, space: string, n = 3): Promise<PairFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-real-'));
  const pairs: { emb: number; embCpu: number; embMain: number; dist: number; distCpu: number; distMain: number; firstConnect: number; coCpu: number; same: boolean }[] = [];
  for (let k = 0; k < n; k++) {
    const embDb = join(dir, `emb${k}.db`);
    const distDb = join(dir, `dist${k}.db`);
    let e: ReturnType<typeof runEmbeddedCli>;
    let d: Awaited<ReturnType<typeof runDistributed>>;
    if (k % 2 === 0) {
      e = runEmbeddedCli(space, embDb);
      d = await runDistributed(space, distDb);
    } else {
      d = await runDistributed(space, distDb);
      e = runEmbeddedCli(space, embDb);
    }
    pairs.push({ ...e, ...d, same: bestPoint(embDb) === bestPoint(distDb) });
  }
  rmSync(dir, { recursive: true, force: true });
  const emb = median(pairs.map((p) => p.emb));
  const dist = median(pairs.map((p) => p.dist));
  const over = median(pairs.map((p) => (p.dist - p.emb) / p.emb));
  console.log(`${title}, ${n} pairs: embedded --workers 2 ${emb.toFixed(2)} s; coordinator + 2 workers x 1 thread, launched together, ${dist.toFixed(2)} s (medians; process start-ups included; first worker connected after ${median(pairs.map((p) => p.firstConnect)).toFixed(2)} s)`);
  console.log(`  pairs (embedded / distributed, s): ${pairs.map((p) => `${p.emb.toFixed(2)} / ${p.dist.toFixed(2)}`).join(', ')}; same best point every time: ${pairs.every((p) => p.same)}`);
  const cpuOver = median(pairs.map((p) => (p.distCpu - p.embCpu) / p.embCpu));
  console.log(`  coordinator overhead: ${(over * 100).toFixed(1)}% wall (median of the pairs'); coordinator CPU ${median(pairs.map((p) => p.coCpu)).toFixed(2)} s (${((100 * median(pairs.map((p) => p.coCpu))) / dist).toFixed(0)}% of one core)`);
  console.log(
    `  CPU, all processes (embedded / coordinator + workers, s): ${pairs.map((p) => `${p.embCpu.toFixed(1)} / ${p.distCpu.toFixed(1)}`).join(', ')}; ` +
      `overhead ${(cpuOver * 100).toFixed(1)}% CPU (median of the pairs')`,
  );
  // The search threads do the same work on both sides (the same points evaluated and pruned): the
  // main threads' busy time is what distributing adds (gRPC, encoding, the workers' own loops) against
  // the embedded coordinator, over the run's CPU; less exposed to the machine's drift than the totals.
  const mainOver = median(pairs.map((p) => (p.distMain - p.embMain) / p.embCpu));
  console.log(
    `  main threads busy (embedded's / coordinator's + workers', s): ${pairs.map((p) => `${p.embMain.toFixed(2)} / ${p.distMain.toFixed(2)}`).join(', ')}; ` +
      `the difference is ${(mainOver * 100).toFixed(1)}% of the embedded run's CPU (median of the pairs')`,
  );
  return { title, emb, dist, diffs: pairs.map((p) => p.dist - p.emb), embs: pairs.map((p) => p.emb), cpuDiffs: pairs.map((p) => p.distCpu - p.embCpu), embCpus: pairs.map((p) => p.embCpu) };
}

/** small widened: 16 pitches, more SRAM sizes and batches (1.2x10^6 points, about 10 s here). */
function widened(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-wide-'));
  const space = JSON.parse(readFileSync(join(ROOT, 'data', 'spaces', 'small.json'), 'utf8')) as { name: string; levels: { dims: { name: string; values?: unknown[] }[] }[] };
  space.name = 'small-wide';
  const widen: Record<string, number[]> = {
    pitchUm: Array.from({ length: 16 }, (_, k) => 3 + k),
    globalSramMB: [32, 48, 64, 96],
    batch: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256],
  };
  for (const l of space.levels) for (const d of l.dims) if (widen[d.name]) d.values = widen[d.name];
  const file = join(dir, 'small-wide.json');
  writeFileSync(file, JSON.stringify(space));
  return file;
}

/**
 * The overhead as a fixed cost plus a share of the run. The fixed cost is what a run of `tiny` (1,440
 * points, under a second) pays: launching three processes on this machine against one (module loading
 * on 2 cores shared by 5 JavaScript threads, the workers' first Join). The share is what is left of
 * each longer pair's difference once that is taken off, over its embedded wall: what the coordinator
 * costs a run once it is going, which is what a long search pays.
 */
function splitOverhead(fixed: PairFigures, runs: PairFigures[]): void {
  const a = median(fixed.diffs);
  const aCpu = median(fixed.cpuDiffs);
  console.log(`fixed start-up cost (tiny, ${fixed.diffs.length} pairs, median difference): ${a.toFixed(2)} s wall, ${aCpu.toFixed(2)} s CPU`);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  for (const r of runs) {
    const wall = r.diffs.map((d, i) => (d - a) / r.embs[i]!);
    const cpu = r.cpuDiffs.map((d, i) => (d - aCpu) / r.embCpus[i]!);
    console.log(
      `  ${r.title}: overhead beyond start-up ${pct(median(wall))} wall (pairs ${wall.map(pct).join(', ')}), ${pct(median(cpu))} CPU (pairs ${cpu.map(pct).join(', ')}) (target < 5%)`,
    );
  }
}

async function main(): Promise<void> {
  const si = process.argv.indexOf('--serve');
  if (si >= 0) return serve(process.argv[si + 1]!);
  console.log(`bench/coordinator on ${machine()}`);
  if (!process.argv.includes('--real-only')) await stubRuns();
  if (process.argv.includes('--stub-only')) return;
  const fixed = await comparePairs('shortest run (tiny, 1,440 points)', 'tiny', 5);
  const runs = [await comparePairs('real run (small, 64,800 points)', 'small')];
  runs.push(await comparePairs('longer run (small widened, 1,228,800 points)', widened()));
  runs.push(await comparePairs('the default space (quick, 89,071,488 points)', 'quick'));
  splitOverhead(fixed, runs);
}

async function stubRuns(): Promise<void> {
  await stubRun(arg('--workers', 200), arg('--designs', 50));
  if (!process.argv.includes('--designs')) {
    // What real workers send since they seed their top-K lists with the coordinator's: about one
    // design per result (the subspace's best; on small 349 designs for 288 subspaces).
    await stubRun(arg('--workers', 200), 1);
    // Rows: large results from fewer streams (with 200 streams, adaptive splitting multiplies the
    // subspaces, and the stub sends 200 designs for each whatever its size).
    await stubRun(20, 200);
  }
}

void main();
