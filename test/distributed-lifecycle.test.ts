// The life of leases and workers on a live coordinator (real processes on loopback): a lease whose
// worker stops heartbeating expires on the coordinator's tick even when no worker asks for more; a
// worker stopped by SIGTERM finishes what it runs, gives the rest back, leaves cleanly and exits 0
// with no attempt counted; after the run the workers are recorded as gone, the run counts them, and
// `status --db` lists them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadProtocol, tokenMetadata, type CoordinatorMessage, type JoinReply, type WorkerMessage } from '../coordinator/protocol.js';
import { MODEL_VERSION } from '../src/model/evaluate.js';
import { answer, BIN, dbQuery, embedded, expectReferenceAnswer, sleep, startCoordinator, startWorker, tmp, TOKEN, within, type Proc } from './distributed-helpers.js';

const dir = tmp('strata-life-');
const refDb = join(dir, 'embedded.db');
const procs: Proc[] = [];

beforeAll(() => {
  embedded(refDb);
  expect(answer(refDb).state).toBe('done');
}, 300_000);

afterAll(() => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timeout: ${what}`);
    await sleep(100);
  }
}

describe('leases and workers on a live coordinator', () => {
  it("a lease whose holder stops heartbeating expires on the coordinator's tick, with no worker asking for more", async () => {
    const db = join(dir, 'tick.db');
    const co = await startCoordinator(db, ['--lease-ms', '1000', '--heartbeat-ms', '250', '--max-attempts', '1000']);
    procs.push(co);
    const { Client } = loadProtocol();
    const client = new Client(`127.0.0.1:${co.port}`, grpc.credentials.createInsecure()) as unknown as {
      Join(r: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: JoinReply) => void): void;
      Work(md: grpc.Metadata): grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage>;
      close(): void;
    };
    try {
      const j = await new Promise<JoinReply>((res, rej) =>
        client.Join({ token: TOKEN, modelVersion: MODEL_VERSION, workerId: 'silent', host: 'test', threads: 1 }, new grpc.Metadata(), (e, r) => (e ? rej(e) : res(r!))),
      );
      const call = client.Work(tokenMetadata(TOKEN, { 'strata-worker-id': 'silent', 'strata-model-version': MODEL_VERSION, 'strata-spec-hash': j.specHash }));
      call.on('error', () => {});
      const lease = new Promise<string>((res) =>
        call.on('data', (m: CoordinatorMessage) => {
          if (m.msg === 'leases') res(m.leases.leases[0]!.subspaceId);
        }),
      );
      call.write({ credit: { n: 1 } });
      const id = await within(lease, 20_000, 'a lease');
      expect(dbQuery(db, `SELECT state, lease_owner, attempts FROM subspaces WHERE id = ?`, id)).toEqual([{ state: 'leased', lease_owner: 'silent', attempts: 0 }]);
      // No heartbeat, no credit, no other worker: the stream stays open and nobody asks for leases.
      await until('the lease expires', () => dbQuery<{ state: string }>(db, `SELECT state FROM subspaces WHERE id = ?`, id)[0]!.state !== 'leased', 10_000);
      expect(dbQuery(db, `SELECT state, lease_owner, attempts FROM subspaces WHERE id = ?`, id)).toEqual([{ state: 'queued', lease_owner: null, attempts: 1 }]);
      expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind = 'lease-expired'`)[0]!.n).toBe(1);
      call.end();
    } finally {
      client.close();
      co.child.kill('SIGKILL');
      await co.exited;
    }
  });

  it('SIGTERM on a worker: it finishes its running search, gives its other leases back, leaves cleanly and exits 0; no attempt counted; the run then completes with the same answer', async () => {
    const db = join(dir, 'signal.db');
    const co = await startCoordinator(db, ['--lease-ms', '2000', '--max-attempts', '1000', '--quiet']);
    procs.push(co);
    const addr = `127.0.0.1:${co.port}`;
    const w1 = startWorker(addr, ['--prefetch', '3']);
    procs.push(w1);
    // Working: it has committed and holds leases again.
    await until('the first worker commits and holds leases', () => {
      const done = dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM subspaces WHERE state = 'done' AND committed_by IS NOT NULL AND committed_by <> ''`)[0]!.n;
      const held = dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM subspaces WHERE state = 'leased'`)[0]!.n;
      return done >= 3 && held >= 2;
    });
    const workerId = dbQuery<{ id: string }>(db, `SELECT id FROM workers`)[0]!.id;
    w1.child.kill('SIGTERM');
    const code = await within(w1.exited, 30_000, 'worker exit after SIGTERM');
    expect(code, w1.stderr()).toBe(0);
    expect(w1.stderr()).toMatch(/SIGTERM: finishing the running searches/);
    expect(w1.stderr()).toMatch(/stopping: no more leases; finishing [01] running search\(es\), giving back \d+ lease\(s\)/);
    expect(w1.stderr()).toMatch(/stopped by a signal/);
    // It left cleanly: gone (not lost), nothing leased to it, and (a lease time later) nothing expired.
    await sleep(3000);
    expect(dbQuery(db, `SELECT state FROM workers WHERE id = ?`, workerId)).toEqual([{ state: 'gone' }]);
    expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM subspaces WHERE state = 'leased'`)[0]!.n).toBe(0);
    expect(dbQuery<{ n: number }>(db, `SELECT coalesce(sum(attempts), 0) AS n FROM subspaces`)[0]!.n).toBe(0);
    expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind IN ('lease-expired', 'subspace-failed', 'refused')`)[0]!.n).toBe(0);

    // A second worker finishes the run: the answer of the embedded search, every point once.
    const w2 = startWorker(addr);
    procs.push(w2);
    expect(await within(w2.exited, 240_000, 'second worker'), w2.stderr()).toBe(0);
    expect(await within(co.exited, 60_000, 'coordinator exit'), co.stderr()).toBe(0);
    expectReferenceAnswer(db, refDb);
    expect(dbQuery<{ n: number }>(db, `SELECT coalesce(sum(attempts), 0) AS n FROM subspaces`)[0]!.n).toBe(0);

    // Status after the run: both workers gone (none left 'active'), the run counts them, and the
    // --db table lists them.
    const workers = dbQuery<{ id: string; state: string }>(db, `SELECT id, state FROM workers ORDER BY joined_ms`);
    expect(workers.length).toBe(2);
    expect(workers.map((w) => w.state)).toEqual(['gone', 'gone']);
    expect(dbQuery(db, `SELECT workers FROM runs`)).toEqual([{ workers: 2 }]);
    const st = spawnSync(process.execPath, [BIN, 'status', '--db', db], { encoding: 'utf8' });
    expect(st.status, st.stderr).toBe(0);
    const row = st.stdout.split('\n').find((l) => /^workers\b/.test(l));
    expect(row, st.stdout).toBeDefined();
    for (const w of workers) expect(row).toContain(`${w.id} (gone,`);
  });
});
