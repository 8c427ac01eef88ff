// Embedded mode (DESIGN 4.1): a coordinator and local search threads in one process, on a SQLite
// file. The same Coordinator class serves the gRPC coordinator.
import { hostname } from 'node:os';
import cliProgress from 'cli-progress';
import type { RunSpec } from '../src/search/context.js';
import { closeSpawned, spawnThreads, startPool } from '../worker/pool.js';
import { Coordinator, type CoordinatorOptions } from './core.js';
import { fmtBig } from '../src/space/index.js';
import { noteWorkers } from '../src/store/index.js';
import { bestLabel } from '../src/search/objective.js';

export interface EmbeddedOptions extends CoordinatorOptions {
  threads: number;
  /** Show a progress bar on stderr (only when it is a terminal). */
  progress?: boolean;
  /** Stop leasing new work after this many seconds (benchmarks); the run stays resumable. */
  timeLimitS?: number;
}

export interface EmbeddedResult {
  coordinator: Coordinator;
  wallS: number;
}

export async function runEmbedded(dbFile: string, spec: RunSpec, opts: EmbeddedOptions): Promise<EmbeddedResult> {
  const t0 = Date.now();
  // The search threads load their modules while the coordinator opens the database and sets up.
  const spawned = opts.threads > 0 ? spawnThreads(opts.threads) : undefined;
  let co: Coordinator;
  try {
    co = new Coordinator(dbFile, spec, opts);
  } catch (e) {
    await closeSpawned(spawned ?? null);
    throw e;
  }
  const pool = await startPool(spec, opts.threads, spawned);
  const owner = `embedded@${hostname()}:${process.pid}`;
  // Its search threads are the run's workers.
  noteWorkers(co.run, opts.threads);
  const bar =
    opts.progress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: 'search |{bar}| {percentage}% {acc}/{size} points, {rate}/s, ETA {eta_formatted}, best {best}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const total = Number(co.progress.size);
  bar?.start(total, Number(co.progress.accounted), { acc: fmtBig(co.progress.accounted), size: fmtBig(co.progress.size), rate: '0', best: '-' });
  const update = () => {
    const p = co.progress;
    const el = (Date.now() - t0) / 1000;
    const best = co.archive.entries[0];
    const o = spec.search.objectives[0]!;
    bar?.update(Number(p.accounted), {
      acc: fmtBig(p.accounted),
      size: fmtBig(p.size),
      rate: el > 0 ? (Number(p.accounted) / el).toExponential(2) : '0',
      best: bestLabel(best, o),
    });
  };
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The leases of the subspaces being searched are renewed while this process lives, as a worker's
  // heartbeats renew them: leasing expires overdue leases, and a subspace that takes longer than the
  // lease time must not be leased again to another local thread. Only a crash lets them lapse; a
  // resume then puts them back in the queue (the embedded run is the database's only writer).
  const held = new Set<string>();
  const renew = (nowMs = Date.now()) => {
    if (held.size > 0) co.renew(owner, [...held], nowMs);
  };
  const renewer = setInterval(renew, Math.max(10, Math.floor((opts.leaseMs ?? 60_000) / 4)));
  try {
    const inflight = new Set<Promise<void>>();
    for (;;) {
      if (opts.timeLimitS !== undefined && (Date.now() - t0) / 1000 > opts.timeLimitS) stop = true;
      while (!stop && inflight.size < pool.size) {
        // Renewed just before leasing, at the lease round's own clock: its expiry pass never sees our
        // own leases overdue, whatever the timer managed while the event loop was busy, and however
        // long the renewal's commit took on a loaded disk.
        const now = Date.now();
        renew(now);
        const [l] = co.lease(owner, 1, now);
        if (!l) break;
        held.add(l.id);
        const p: Promise<void> = pool.run(l.id, co.snapshot()).then((r) => {
          co.commit(owner, r);
          update();
        });
        const tracked = p.finally(() => {
          held.delete(l.id);
          inflight.delete(tracked);
        });
        inflight.add(tracked);
      }
      if (inflight.size === 0) break;
      await Promise.race(inflight);
    }
  } finally {
    clearInterval(renewer);
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pool.close();
  }
  return { coordinator: co, wallS: (Date.now() - t0) / 1000 };
}
