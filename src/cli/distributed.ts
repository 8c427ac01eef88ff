// `strata coordinator`, `strata worker` (registered from worker.ts) and `strata status --coordinator`:
// the distributed search (DESIGN 4). Thin: parse flags, call coordinator/server.ts or worker/client.ts, print.
import type { Command } from 'commander';
import { ConfigError } from '../model/errors.js';
import { fmtBig } from '../space/index.js';
import { formatRows, type Format } from '../store/index.js';
import { runSpecFromFlags, runSpecOptions, type SearchFlags } from './search.js';
import { posInt } from './options.js';
import { exitSoon, hostPort, registerWorker, stamp, token } from './worker.js';

interface CoordinatorFlags extends SearchFlags {
  listen: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  leaseMs?: string;
  heartbeatMs?: string;
  maxAttempts?: string;
  maxMessageBytes?: string;
  drainTimeoutS?: string;
  keepaliveMs?: string;
  quiet?: boolean;
}

export function registerDistributed(program: Command, onResult: (text: string) => void): void {
  const coordinatorCmd = program
    .command('coordinator')
    .description('serve a search to gRPC workers (same run as `strata search` for the same flags), results in SQLite');
  runSpecOptions(coordinatorCmd)
    .requiredOption('--listen <host:port>', 'address to serve on (port 0: any free port, printed on stderr)')
    .option('--token-file <file>', 'file holding the shared token (default: the STRATA_TOKEN environment variable)')
    .option('--tls-cert <pem>', 'server certificate (TLS)')
    .option('--tls-key <pem>', 'server private key (TLS)')
    .option('--tls-ca <pem>', 'CA that signs worker certificates (mutual TLS)')
    .option('--lease-ms <ms>', 'a lease expires this long after its last heartbeat', '60000')
    .option('--heartbeat-ms <ms>', 'worker heartbeat period (default: lease / 4)')
    .option('--max-attempts <n>', 'expired leases before a subspace is failed', '3')
    .option('--retry-failed', 'on resume, put the failed subspaces (retry limit reached) back in the queue')
    .option('--max-message-bytes <n>', 'largest message accepted', String(16 * 1024 * 1024))
    .option('--drain-timeout-s <s>', 'on SIGINT/SIGTERM, wait this long for in-flight results', '30')
    .option('--keepalive-ms <ms>', 'HTTP/2 keepalive ping period', '20000')
    .option('--quiet', 'no log lines on stderr')
    .action(async (f: CoordinatorFlags) => {
      const listen = hostPort('--listen', f.listen);
      const tok = await token(f.tokenFile);
      const spec = runSpecFromFlags(f);
      const leaseMs = posInt('--lease-ms', f.leaseMs ?? '60000', 86_400_000);
      const { runCoordinator } = await import('../../coordinator/server.js');
      const log = f.quiet ? undefined : (s: string) => process.stderr.write(`${stamp()} coordinator: ${s}\n`);
      const keep = posInt('--keepalive-ms', f.keepaliveMs ?? '20000', 3_600_000);
      const { outcome, server } = await runCoordinator(
        f.db,
        spec,
        {
          listen,
          token: tok,
          ...(f.tlsCert ? { tlsCert: f.tlsCert } : {}),
          ...(f.tlsKey ? { tlsKey: f.tlsKey } : {}),
          ...(f.tlsCa ? { tlsCa: f.tlsCa } : {}),
          newRun: f.newRun ?? false,
          retryFailed: f.retryFailed ?? false,
          leaseMs,
          ...(f.heartbeatMs ? { heartbeatMs: posInt('--heartbeat-ms', f.heartbeatMs, 3_600_000) } : {}),
          maxAttempts: posInt('--max-attempts', f.maxAttempts ?? '3', 1000),
          maxMessageBytes: posInt('--max-message-bytes', f.maxMessageBytes ?? '16777216', 1 << 30),
          drainTimeoutMs: posInt('--drain-timeout-s', f.drainTimeoutS ?? '30', 86_400) * 1000,
          keepalive: { timeMs: keep, timeoutMs: Math.max(1000, Math.min(20_000, keep)) },
          ...(log ? { log } : {}),
          // Progress (DESIGN 6): a line every 10 s on a terminal; logs piped to a file get none.
          ...(log && process.stderr.isTTY ? { progressEveryMs: 10_000 } : {}),
        },
        // Always printed (tests and scripts read the port from it).
        (port) => process.stderr.write(`strata coordinator: listening on ${listen.replace(/:[0-9]+$/, '')}:${port}\n`),
      );
      const p = server.co.progress;
      const front = server.co.archive.sorted();
      const lines = [
        `${outcome === 'done' ? 'done' : outcome === 'failed' ? 'failed (subspaces failed; see strata status; run again with --retry-failed to retry them)' : 'interrupted (run the same command again to resume)'}: ${p.accounted} of ${p.size} points accounted`,
        `  evaluated ${p.evaluated}, pruned by bound ${p.prunedBound}, pruned by dominance ${p.prunedDominance}, infeasible ${p.infeasible}`,
        `  commits ${server.commits}, adaptive splits ${server.splits}; front: ${front.length} design(s)`,
      ];
      for (const e of front.slice(0, 10))
        lines.push(`  point ${e.id}: ${spec.search.objectives.map((o, i) => `${o} ${Math.abs(e.values[i]!).toPrecision(5)}`).join(', ')}`);
      onResult(lines.join('\n'));
      if (outcome !== 'done') process.exitCode = 1;
      exitSoon();
    });

  registerWorker(program); // src/cli/worker.ts

  // `strata status --coordinator host:port`: the live view of a running coordinator. The --db form
  // is registered by src/cli/search.ts; its command gains --coordinator here.
  const statusCmd = program.commands.find((c) => c.name() === 'status');
  if (!statusCmd) return;
  const dbOpt = statusCmd.options.find((x) => x.long === '--db');
  if (dbOpt) dbOpt.mandatory = false;
  statusCmd
    .option('--coordinator <host:port>', 'ask a running coordinator instead of reading a database')
    .option('--token-file <file>', 'file holding the shared token (with --coordinator; default STRATA_TOKEN)')
    .option('--tls-ca <pem>', 'CA of the coordinator certificate (with --coordinator)')
    .option('--tls-cert <pem>', 'client certificate (mutual TLS)')
    .option('--tls-key <pem>', 'client private key (mutual TLS)');
  const original = (statusCmd as unknown as { _actionHandler: ((args: unknown[]) => unknown) | null })._actionHandler;
  statusCmd.action(async (o: { db?: string; coordinator?: string; format?: string; tokenFile?: string; tlsCa?: string; tlsCert?: string; tlsKey?: string }, cmd: Command) => {
    if (o.coordinator && o.db) throw new ConfigError('--db', o.db, 'no --db with --coordinator (status reads one or the other)');
    if (!o.coordinator) {
      if (!o.db) throw new ConfigError('--db', undefined, 'a results database (or --coordinator host:port)');
      if (original) await original.call(statusCmd, (cmd as unknown as { processedArgs: unknown[] }).processedArgs ?? []);
      return;
    }
    const fmt = (o.format ?? 'table') as Format;
    if (fmt !== 'table' && fmt !== 'csv' && fmt !== 'json') throw new ConfigError('--format', fmt, 'table, csv or json');
    const addr = hostPort('--coordinator', o.coordinator);
    const tok = await token(o.tokenFile);
    const { liveStatus } = await import('../../coordinator/status.js');
    const st = await liveStatus(addr, tok, { ...(o.tlsCa ? { tlsCa: o.tlsCa } : {}), ...(o.tlsCert ? { tlsCert: o.tlsCert } : {}), ...(o.tlsKey ? { tlsKey: o.tlsKey } : {}) });
    if (fmt === 'json') {
      onResult(JSON.stringify(st, null, 2));
      return;
    }
    const size = BigInt(st.spaceSize || '0');
    const acc = BigInt(st.accounted || '0');
    const objectives = st.objectives.split(',');
    const best = st.front[0];
    const rows = [
      { item: 'coordinator', value: `${addr} (${st.state}, up ${st.uptimeS.toFixed(0)} s, spec ${st.specHash.slice(0, 12)})` },
      { item: 'accounted', value: `${fmtBig(acc)} / ${fmtBig(size)} (${size > 0n ? ((Number(acc) / Number(size)) * 100).toFixed(3) : '0'}%)` },
      { item: 'counts', value: `evaluated ${st.evaluated}, pruned by bound ${st.prunedBound}, by dominance ${st.prunedDominance}, infeasible ${st.infeasible}` },
      { item: 'subspaces', value: `done ${st.subspacesDone} / ${st.subspacesTotal}, leased ${st.leased}, adaptive splits ${st.splits}` },
      { item: 'rate (points/s)', value: st.ratePointsPerS > 0 ? st.ratePointsPerS.toExponential(3) : '-' },
      { item: 'ETA (s)', value: st.etaS < 0 ? '-' : st.etaS.toFixed(0) },
      {
        item: 'workers',
        value:
          st.workers
            .map((w) => `${w.id} (${w.connected ? 'connected' : 'gone'}, ${w.threads} threads, ${w.leases} leases, ${w.commits} commits)`)
            .join('; ') || '-',
      },
      { item: 'best so far', value: best ? `point ${best.id}: ${objectives.map((n, i) => `${n} ${Math.abs(best.values[i] ?? NaN).toPrecision(5)}`).join(', ')}` : '-' },
    ];
    onResult(formatRows(rows, fmt));
  });
}
