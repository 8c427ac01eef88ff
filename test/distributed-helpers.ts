// Helpers of the distributed tests: real `strata coordinator` / `strata worker` processes on loopback
// (or inside test network namespaces), and the answer stored in a database.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { ROOT } from './helpers.js';

export const BIN = join(ROOT, 'bin', 'strata.js');
export const TOKEN = 'test-token-0123456789';
export const tmp = (p = 'strata-dist-') => mkdtempSync(join(tmpdir(), p));

export interface Proc {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

export function spawnStrata(args: string[], opts: { env?: Record<string, string>; prefix?: string[] } = {}): Proc {
  const cmd = opts.prefix ? opts.prefix[0]! : process.execPath;
  const argv = opts.prefix ? [...opts.prefix.slice(1), process.execPath, BIN, ...args] : [BIN, ...args];
  const child = spawn(cmd, argv, { env: { ...process.env, STRATA_TOKEN: TOKEN, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? -1 : null))));
  return { child, stderr: () => err, stdout: () => out, exited };
}

/** Starts `strata coordinator` and waits for its port. */
export async function startCoordinator(db: string, extra: string[] = [], opts: { listen?: string; env?: Record<string, string>; prefix?: string[]; space?: string } = {}): Promise<Proc & { port: number }> {
  const p = spawnStrata(['coordinator', '--space', opts.space ?? 'small', '--db', db, '--listen', opts.listen ?? '127.0.0.1:0', ...extra], opts);
  const t0 = Date.now();
  for (;;) {
    const m = /listening on .*:(\d+)/.exec(p.stderr());
    if (m) return Object.assign(p, { port: Number(m[1]) });
    if (p.child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`coordinator did not start: ${p.stderr()}`);
    await sleep(50);
  }
}

export function startWorker(addr: string, extra: string[] = [], opts: { env?: Record<string, string>; prefix?: string[] } = {}): Proc {
  return spawnStrata(['worker', '--coordinator', addr, '--threads', '1', '--max-backoff-ms', '1000', '--give-up-s', '60', ...extra], opts);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The embedded answer of `small` (run once per test file). */
export function embedded(db: string): void {
  const r = spawnSync(process.execPath, [BIN, 'search', '--space', 'small', '--db', db, '--workers', '2'], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`embedded search failed: ${r.stderr}`);
}

export interface Answer {
  state: string;
  front: string[];
  total: bigint;
  size: bigint;
  runTotals: bigint;
  integrity: unknown;
  states: Record<string, number>;
  /** Subspaces done (each counted once) and whether the done ones tile the space exactly. */
  tiled: boolean;
}

/** The run in `db` finished with exactly the front of the reference database `refDb`, every point of
 *  small accounted once, and an intact database. */
export function expectReferenceAnswer(db: string, refDb: string): void {
  const a = answer(db);
  const r = answer(refDb);
  expect(a.integrity).toBe('ok');
  expect(a.state).toBe('done');
  expect(a.front).toEqual(r.front);
  expect(a.total).toBe(64800n);
  expect(a.tiled).toBe(true);
}

export function answer(db: string): Answer {
  const d = new Database(db, { readonly: true });
  try {
    const run = d.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT 1').get() as Record<string, string | number>;
    const front = d.prepare('SELECT point_id FROM archive WHERE run_id = ? ORDER BY length(point_id), point_id').pluck().all(run.id) as string[];
    const subs = d.prepare('SELECT id, first_point, size, evaluated, pruned_bound, pruned_dominance, infeasible, state FROM subspaces WHERE run_id = ?').all(run.id) as Record<string, string>[];
    const states: Record<string, number> = {};
    for (const s of subs) states[s.state!] = (states[s.state!] ?? 0) + 1;
    const done = subs.filter((s) => s.state === 'done');
    const total = done.reduce((a, s) => a + BigInt(s.evaluated!) + BigInt(s.pruned_bound!) + BigInt(s.pruned_dominance!) + BigInt(s.infeasible!), 0n);
    // The done subspaces must tile [0, size): sorted by first point, no gap, no overlap.
    const ranges = done.map((s) => [BigInt(s.first_point!), BigInt(s.size!)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let at = 0n;
    let tiled = true;
    for (const [f, n] of ranges) {
      if (f !== at) tiled = false;
      at = f + n;
    }
    const size = BigInt(run.space_size as string);
    if (at !== size) tiled = false;
    const runTotals = BigInt(run.evaluated as string) + BigInt(run.pruned_bound as string) + BigInt(run.pruned_dominance as string) + BigInt(run.infeasible as string);
    return { state: String(run.state), front, total, size, runTotals, integrity: d.pragma('integrity_check', { simple: true }), states, tiled };
  } finally {
    d.close();
  }
}

export function dbQuery<T>(db: string, sql: string, ...args: unknown[]): T[] {
  const d = new Database(db, { readonly: true, timeout: 5000 });
  try {
    return d.prepare(sql).all(...args) as T[];
  } finally {
    d.close();
  }
}

/** Waits for a promise with a timeout (rejects on timeout). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}
