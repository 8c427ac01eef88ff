// `strata worker` (DESIGN 4): join a coordinator and search what it leases. Apart from distributed.ts
// and loaded alone by main.ts for this command, so that a worker process loads only the gRPC client:
// its search threads load the model (about 0.3 s of CPU less per worker at start-up).
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../model/errors.js';
import { nonNegInt, posInt } from './options.js';

interface WorkerFlags {
  coordinator: string;
  tokenFile?: string;
  threads?: string;
  prefetch?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  maxBackoffMs?: string;
  giveUpS?: string;
  keepaliveMs?: string;
  quiet?: boolean;
}

export function hostPort(flag: string, v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(flag, v, 'host:port (e.g. 0.0.0.0:7400, [::]:7400, node1:7400)');
  return v;
}

export async function token(tokenFile: string | undefined): Promise<string> {
  const { readToken } = await import('../../coordinator/protocol.js');
  let t: string;
  try {
    t = readToken(tokenFile);
  } catch (e) {
    throw new ConfigError('--token-file', tokenFile, `a readable file holding the shared token (${(e as Error).message})`);
  }
  if (!t) throw new ConfigError(tokenFile ? '--token-file' : 'STRATA_TOKEN', tokenFile ?? '', 'a non-empty shared token (--token-file F or the STRATA_TOKEN environment variable)');
  return t;
}

/**
 * The work is over and the database closed: a connection to a peer that does not answer (a stopped
 * worker) must not keep the process alive. The process ends as soon as its event loop is empty (the
 * timer is unref'd: usually at once), else after 200 ms.
 */
export function exitSoon(): void {
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  setTimeout(() => process.exit(code), 200).unref();
}

export const stamp = () => new Date().toISOString().slice(11, 23);

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('join a coordinator and search the subspaces it leases (exits 0 when the run is done)')
    .requiredOption('--coordinator <host:port>', 'address of the coordinator')
    .option('--token-file <file>', 'file holding the shared token (default: the STRATA_TOKEN environment variable)')
    .option('--threads <n>', 'search threads (default: the cores)')
    .option('--prefetch <n>', 'leases held beyond the threads (a lease waits at the worker while the coordinator answers the previous commit)', '3')
    .option('--tls-ca <pem>', 'CA of the coordinator certificate (enables TLS)')
    .option('--tls-cert <pem>', 'worker certificate (mutual TLS)')
    .option('--tls-key <pem>', 'worker private key (mutual TLS)')
    .option('--tls-server-name <name>', 'name in the coordinator certificate, if not the host of --coordinator')
    .option('--max-backoff-ms <ms>', 'largest reconnect delay', '10000')
    .option('--give-up-s <s>', 'exit 1 after this long without reaching the coordinator', '600')
    .option('--keepalive-ms <ms>', 'HTTP/2 keepalive ping period', '20000')
    .option('--quiet', 'no log lines on stderr')
    .action(async (f: WorkerFlags) => {
      const addr = hostPort('--coordinator', f.coordinator);
      const tok = await token(f.tokenFile);
      const threads = f.threads ? posInt('--threads', f.threads, 4096) : availableParallelism();
      const { runWorker } = await import('../../worker/client.js');
      const keep = posInt('--keepalive-ms', f.keepaliveMs ?? '20000', 3_600_000);
      const log = f.quiet ? undefined : (s: string) => process.stderr.write(`${stamp()} worker: ${s}\n`);
      // SIGINT/SIGTERM: stop taking leases, finish (and commit) the running searches, give the others
      // back and leave cleanly, exit 0; the coordinator counts no failed attempt. A second signal
      // leaves at once (the running searches are given back too).
      const stop = new AbortController();
      const stopNow = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (!stop.signal.aborted) {
          log?.(`${sig}: finishing the running searches, then leaving (send it again to leave now)`);
          stop.abort();
        } else if (!stopNow.signal.aborted) {
          log?.(`${sig} again: leaving now`);
          stopNow.abort();
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const r = await runWorker({
        stop: stop.signal,
        stopNow: stopNow.signal,
        coordinator: addr,
        token: tok,
        threads,
        prefetch: nonNegInt('--prefetch', f.prefetch ?? '3', 1024),
        ...(f.tlsCa ? { tlsCa: f.tlsCa } : {}),
        ...(f.tlsCert ? { tlsCert: f.tlsCert } : {}),
        ...(f.tlsKey ? { tlsKey: f.tlsKey } : {}),
        ...(f.tlsServerName ? { tlsServerName: tlsOnly(f) } : {}),
        maxBackoffMs: posInt('--max-backoff-ms', f.maxBackoffMs ?? '10000', 3_600_000),
        giveUpMs: posInt('--give-up-s', f.giveUpS ?? '600', 86_400 * 30) * 1000,
        keepalive: { timeMs: keep, timeoutMs: Math.max(1000, Math.min(20_000, keep)) },
        ...(log ? { log } : {}),
      });
      process.stderr.write(`strata worker: ${r.reason} (${r.results} subspace results sent)\n`);
      process.exitCode = r.code;
      exitSoon();
    });
}

/** --tls-server-name names the certificate TLS checks: without TLS (--tls-ca or a client pair) it
 *  would be ignored and the worker connect in plaintext. */
function tlsOnly(f: { tlsServerName?: string; tlsCa?: string; tlsCert?: string }): string {
  if (!f.tlsCa && !f.tlsCert) throw new ConfigError('--tls-server-name', f.tlsServerName, 'with --tls-ca (it names the certificate TLS checks; without TLS the connection is plaintext)');
  return f.tlsServerName!;
}
