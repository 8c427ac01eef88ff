// Distributed search with real processes on loopback: a coordinator and 3 workers give exactly the
// embedded answer; a worker that stops heartbeating (SIGSTOP) loses its lease and its work is redone
// elsewhere; kill -9 of workers at random moments and of the coordinator once, then restarts, give
// the same answer with exact coverage and an intact database.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { answer, BIN, dbQuery, embedded, sleep, spawnStrata, startCoordinator, startWorker, tmp, TOKEN, within, type Answer, type Proc } from './distributed-helpers.js';

const dir = tmp();
let ref: Answer;

beforeAll(() => {
  const db = join(dir, 'embedded.db');
  embedded(db);
  ref = answer(db);
  expect(ref.state).toBe('done');
  expect(ref.total).toBe(64800n);
}, 300_000);

/** Deterministic pseudo-random numbers (the kill moments are reproducible). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function expectSameAnswer(a: Answer) {
  expect(a.integrity).toBe('ok');
  expect(a.state).toBe('done');
  expect(a.front).toEqual(ref.front);
  expect(a.total).toBe(ref.total);
  expect(a.runTotals).toBe(a.size);
  expect(a.tiled).toBe(true);
  expect(a.states.queued ?? 0).toBe(0);
  expect(a.states.leased ?? 0).toBe(0);
  expect(a.states.failed ?? 0).toBe(0);
}

describe('distributed search (coordinator + worker processes on loopback)', () => {
  it('a coordinator and 3 workers give exactly the embedded answer; status --coordinator reports it live', async () => {
    const db = join(dir, 'three.db');
    const co = await startCoordinator(db);
    const addr = `127.0.0.1:${co.port}`;
    const status = (token: string, json = true) =>
      spawnSync(process.execPath, [BIN, 'status', '--coordinator', addr, ...(json ? ['--format', 'json'] : [])], { encoding: 'utf8', env: { ...process.env, STRATA_TOKEN: token } });
    // A wrong token is refused by the live status too: a usage error (exit 2, as the worker's Join),
    // without a stack trace.
    const badTok = status('nope', false);
    expect(badTok.status).toBe(2);
    expect(badTok.stderr).toMatch(/STRATA_TOKEN.*UNAUTHENTICATED/);
    expect(badTok.stderr).not.toMatch(/\n\s+at /);
    // Live status while it runs (a small Status RPC). The three workers start together; each is frozen
    // (SIGSTOP) once the status shows it holding leases or having committed, so all three take part
    // and the coordinator is still live for the table, whatever the speed of the run or the machine.
    const workers = [startWorker(addr), startWorker(addr), startWorker(addr)];
    type Live = { spaceSize: string; state: string; workers: { id: string; leases: number; commits: number; connected: boolean }[] };
    let live: Live = { spaceSize: '', state: '', workers: [] };
    const frozen = new Set<Proc>();
    for (const t0 = Date.now(); frozen.size < workers.length && Date.now() - t0 < 60_000; await sleep(50)) {
      const st = status(TOKEN);
      expect(st.status, st.stderr).toBe(0);
      live = JSON.parse(st.stdout);
      for (const w of live.workers) {
        const p = workers.find((x) => w.id.split('/').at(-2) === String(x.child.pid)); // id: host/pid/random
        if (p && !frozen.has(p) && w.connected && w.leases + w.commits > 0) {
          p.child.kill('SIGSTOP');
          frozen.add(p);
        }
      }
    }
    expect(frozen.size).toBe(3);
    expect(live.spaceSize).toBe('64800');
    expect(['running', 'done']).toContain(live.state);
    const table = status(TOKEN, false);
    expect(table.stdout).toMatch(/accounted/);
    expect(table.stdout).toMatch(/workers/);
    for (const w of workers) w.child.kill('SIGCONT');

    const codes = await within(Promise.all(workers.map((w) => w.exited)), 240_000, 'workers');
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0, 0]);
    expect(await within(co.exited, 30_000, 'coordinator exit'), co.stderr()).toBe(0);
    expect(co.stdout()).toMatch(/^done: 64800 of 64800 points accounted/);
    const a = answer(db);
    expectSameAnswer(a);
    // All three took part.
    const by = dbQuery<{ committed_by: string; n: number }>(db, `SELECT committed_by, count(*) AS n FROM subspaces WHERE state = 'done' GROUP BY committed_by`);
    expect(by.length).toBeGreaterThanOrEqual(3);
    const ws = dbQuery<{ id: string; state: string }>(db, `SELECT id, state FROM workers`);
    expect(ws.length).toBe(3);
    // status --db on the finished database still works.
    const dbst = spawnSync(process.execPath, [BIN, 'status', '--db', db, '--format', 'json'], { encoding: 'utf8' });
    expect(dbst.status, dbst.stderr).toBe(0);
    expect(JSON.parse(dbst.stdout).accounted).toBe('64800');
  }, 300_000);

  it('workers launched before their coordinator wait for it (their Join is not refused meanwhile) and give exactly the embedded answer', async () => {
    const db = join(dir, 'early.db');
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    // As a cluster launcher does, but with the workers well ahead: their Join waits for the port to be
    // bound, then for the run to open (database, initial split and bounds), instead of failing fast.
    const workers = [startWorker(`127.0.0.1:${port}`), startWorker(`127.0.0.1:${port}`)];
    await sleep(1500);
    const co = spawnStrata(['coordinator', '--space', 'small', '--db', db, '--listen', `127.0.0.1:${port}`]);
    const codes = await within(Promise.all(workers.map((w) => w.exited)), 240_000, 'workers');
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0]);
    expect(await within(co.exited, 30_000, 'coordinator exit'), co.stderr()).toBe(0);
    // Before, a Join sent before the port was bound failed at once (UNAVAILABLE) and was retried later.
    for (const w of workers) expect(w.stderr()).not.toMatch(/join failed \(UNAVAILABLE/);
    expectSameAnswer(answer(db));
    expect(dbQuery<{ n: number }>(db, `SELECT count(DISTINCT committed_by) AS n FROM subspaces WHERE state = 'done' AND committed_by LIKE '%/%'`)[0]!.n).toBe(2);
  }, 300_000);

  it('a worker that stops heartbeating (SIGSTOP) loses its lease; its work is redone by another worker', async () => {
    const db = join(dir, 'lease.db');
    // Short leases; keepalive much longer than the lease, so the heartbeat expiry is what acts.
    const co = await startCoordinator(db, ['--lease-ms', '2000', '--heartbeat-ms', '400', '--keepalive-ms', '120000']);
    const addr = `127.0.0.1:${co.port}`;
    const a = startWorker(addr, ['--keepalive-ms', '120000', '--prefetch', '2']);
    // Wait until worker a holds leases, stop it, and take the leases it holds once it is stopped (a
    // lease it committed just before the signal is not one it lost); retry if it held none then.
    let held: string[] = [];
    const t0 = Date.now();
    const leasedBy = () => dbQuery<{ id: string }>(db, `SELECT id FROM subspaces WHERE state = 'leased' AND lease_owner LIKE ?`, `%/${a.child.pid}/%`).map((r) => r.id);
    while (held.length === 0 && Date.now() - t0 < 60_000) {
      await sleep(100);
      if (leasedBy().length === 0) continue;
      a.child.kill('SIGSTOP');
      await sleep(300);
      held = leasedBy();
      if (held.length === 0) a.child.kill('SIGCONT');
    }
    expect(held.length).toBeGreaterThan(0);
    const owner = dbQuery<{ lease_owner: string }>(db, `SELECT lease_owner FROM subspaces WHERE id = ?`, held[0])[0]!.lease_owner;
    const b = startWorker(addr);
    try {
      expect(await within(b.exited, 240_000, 'worker b'), b.stderr()).toBe(0);
      expect(await within(co.exited, 30_000, 'coordinator'), co.stderr()).toBe(0);
    } finally {
      a.child.kill('SIGCONT');
      a.child.kill('SIGKILL');
    }
    const ans = answer(db);
    expectSameAnswer(ans);
    // The stopped worker's leases expired (counted as an attempt) and another worker committed them.
    const expired = dbQuery<{ detail_json: string }>(db, `SELECT detail_json FROM events WHERE kind = 'lease-expired'`).map((e) => JSON.parse(e.detail_json));
    for (const id of held) {
      expect(expired.some((e) => e.subspace === id && e.owner === owner)).toBe(true);
      const row = dbQuery<{ state: string; committed_by: string | null; attempts: number }>(db, `SELECT state, committed_by, attempts FROM subspaces WHERE id = ?`, id)[0]!;
      expect(row.state).toBe('done');
      expect(row.committed_by).not.toBe(owner);
      expect(row.attempts).toBeGreaterThanOrEqual(1);
    }
  }, 300_000);

  it('kill -9 of workers at random moments and of the coordinator once, then restarts: same answer, exact coverage, integrity ok', async () => {
    const db = join(dir, 'fault.db');
    const rand = rng(20260421);
    const coArgs = ['--lease-ms', '3000', '--heartbeat-ms', '500', '--max-attempts', '10'];
    let co = await startCoordinator(db, coArgs);
    const port = co.port;
    const addr = `127.0.0.1:${port}`;
    const workers: Proc[] = [0, 1, 2].map(() => startWorker(addr));
    const killed: string[] = [];
    // Progress as the done fraction of the subspaces that stand (splits add some as the run goes).
    const fraction = () => {
      try {
        const r = dbQuery<{ done: number; live: number }>(db, `SELECT sum(state = 'done') AS done, sum(state != 'split') AS live FROM subspaces`)[0]!;
        return r.live > 0 ? r.done / r.live : 0;
      } catch {
        return 0;
      }
    };
    const progress = () => {
      try {
        return dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM subspaces WHERE state = 'done'`)[0]!.n;
      } catch {
        return 0;
      }
    };
    // Two worker kills and the coordinator kill at random moments while the run is in progress (well
    // before its end, so that the restarted worker still finds work to join).
    const plan = [
      { what: 'worker', at: 0.08 + 0.1 * rand() },
      { what: 'coordinator', at: 0.22 + 0.1 * rand() },
      { what: 'worker', at: 0.36 + 0.1 * rand() },
    ];
    for (const step of plan) {
      const t0 = Date.now();
      while (fraction() < step.at && Date.now() - t0 < 120_000) await sleep(50);
      if (step.what === 'worker') {
        const i = Math.floor(rand() * workers.length);
        const w = workers[i]!;
        if (w.child.exitCode !== null) continue;
        w.child.kill('SIGKILL');
        await w.exited;
        killed.push(`worker ${i} at ${progress()} subspaces`);
        workers[i] = startWorker(addr);
      } else {
        co.child.kill('SIGKILL');
        await co.exited;
        killed.push(`coordinator at ${progress()} subspaces`);
        const mid = answer(db);
        expect(mid.integrity).toBe('ok');
        expect(mid.state).toBe('running'); // it really was interrupted
        await sleep(300);
        co = await startCoordinator(db, coArgs, { listen: `127.0.0.1:${port}` });
      }
    }
    expect(killed.length).toBe(3);
    expect(await within(co.exited, 240_000, 'coordinator'), co.stderr()).toBe(0);
    // The run is done and the coordinator gone. A worker restarted just before the end can come up
    // after that: it never joins and would retry until --give-up-s, so it is stopped here (the run is
    // a few seconds long, so this happens). Every worker that joined has exited 0.
    const outcomes = await Promise.all(
      workers.map(async (w) => {
        const c = await Promise.race([w.exited, sleep(15_000).then(() => 'running' as const)]);
        if (c !== 'running') return c;
        expect(w.stderr(), 'a worker still running after the end had joined').not.toMatch(/joined run/);
        w.child.kill('SIGKILL');
        await w.exited;
        return 'never joined';
      }),
    );
    for (const c of outcomes) expect([0, 'never joined'], killed.join(', ') + '\n' + workers.map((w) => w.stderr()).join('\n')).toContain(c);
    expect(outcomes.filter((c) => c === 0).length).toBeGreaterThanOrEqual(2);
    const a = answer(db);
    expectSameAnswer(a);
    // The coordinator restart resumed (no second run in the database).
    expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM runs`)[0]!.n).toBe(1);
    expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind = 'resume'`)[0]!.n).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
