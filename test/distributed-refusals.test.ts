// Every bad input to a live coordinator is refused with a clear gRPC status and stores nothing: a raw
// gRPC client (not the worker) sends the bad messages. Also: the standard health service, TLS with
// client certificates, and graceful shutdown on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { loadProtocol, tokenMetadata, type CoordinatorMessage, type JoinReply, type WireResult, type WorkerMessage } from '../coordinator/protocol.js';
import { MODEL_VERSION } from '../src/model/evaluate.js';
import { answer, BIN, dbQuery, sleep, startCoordinator, tmp, TOKEN, within, type Proc } from './distributed-helpers.js';

const dir = tmp('strata-refuse-');
const db = join(dir, 'refuse.db');
const MAX = 1 << 20;
let co: Proc & { port: number };
let client: grpc.Client;
let hash = '';

type Raw = {
  Join(r: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: JoinReply) => void): void;
  Work(md: grpc.Metadata): grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage>;
  Status(r: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: unknown) => void): void;
};
const raw = () => client as unknown as Raw;

function join_(req: Partial<{ token: string; modelVersion: string; workerId: string; host: string; threads: number }>, md = new grpc.Metadata()) {
  return new Promise<JoinReply>((resolve, reject) =>
    raw().Join({ token: TOKEN, modelVersion: MODEL_VERSION, workerId: 'raw-1', host: 'test', threads: 1, ...req }, md, (e, r) => (e ? reject(e) : resolve(r!))),
  );
}

/** Opens a Work stream; collects messages; resolves `status` when the call ends. */
function work(md: Record<string, string> = {}, token = TOKEN) {
  const call = raw().Work(tokenMetadata(token, { 'strata-worker-id': 'raw-1', 'strata-model-version': MODEL_VERSION, 'strata-spec-hash': hash, ...md }));
  const got: CoordinatorMessage[] = [];
  const waiters: (() => void)[] = [];
  call.on('data', (m: CoordinatorMessage) => {
    got.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  const status = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve({ code: s.code, details: s.details });
    });
  });
  const next = async (kind: string) => {
    const t0 = Date.now();
    for (;;) {
      const i = got.findIndex((m) => m.msg === kind);
      if (i >= 0) return got.splice(i, 1)[0]!;
      if (Date.now() - t0 > 20_000) throw new Error(`no ${kind} message`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { call, status, next };
}

/** A stream holding one lease. */
async function leased() {
  const w = work();
  w.call.write({ credit: { n: 1 } });
  const m = await w.next('leases');
  const l = (m as Extract<CoordinatorMessage, { msg?: 'leases' }>).leases.leases[0]!;
  return { ...w, lease: l };
}

function result(l: { subspaceId: string; first: string; size: string }, over: Partial<WireResult> = {}, design: Record<string, unknown> | null = {}): WireResult {
  const size = BigInt(l.size);
  const designs = design
    ? [{ id: l.first, values: [1.5], figures: { tokens_per_s_per_w: 1.5 }, paramsJson: '{"batch":1}', metricsJson: '{"a":1}', keptAs: ['subspace-best'], ...design }]
    : [];
  return {
    subspaceId: l.subspaceId,
    first: l.first,
    size: l.size,
    counts: { evaluated: String(designs.length), prunedBound: String(size - BigInt(designs.length)), prunedDominance: '0', infeasible: '0' },
    infeasibleByReason: {},
    designs: designs as WireResult['designs'],
    ...over,
  };
}

const storedFor = (sid: string) => ({
  designs: dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM designs WHERE subspace_id = ?`, sid)[0]!.n,
  state: dbQuery<{ state: string }>(db, `SELECT state FROM subspaces WHERE id = ?`, sid)[0]?.state,
});

async function refusedResult(r: (l: { subspaceId: string; first: string; size: string }) => WireResult | WireResult[], code: grpc.status, detail: RegExp) {
  const w = await leased();
  const designsBefore = dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM designs`)[0]!.n;
  // Several results (parts) go one message each, as a worker sends a result too big for one.
  for (const x of [r(w.lease)].flat()) w.call.write({ results: { results: [x] } });
  const s = await within(w.status, 20_000, 'refusal');
  expect(grpc.status[s.code]).toBe(grpc.status[code]);
  expect(s.details).toMatch(detail);
  // Nothing stored: no design, the subspace is not done.
  expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM designs`)[0]!.n).toBe(designsBefore);
  expect(storedFor(w.lease.subspaceId).state).not.toBe('done');
  return w.lease;
}

beforeAll(async () => {
  co = await startCoordinator(db, ['--max-attempts', '1000', '--max-message-bytes', String(MAX), '--drain-timeout-s', '5']);
  const { Client } = loadProtocol();
  client = new Client(`127.0.0.1:${co.port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
}, 60_000);

afterAll(() => {
  client?.close();
  if (co && co.child.exitCode === null) co.child.kill('SIGKILL');
});

describe('refusals of a live coordinator (raw gRPC client)', () => {
  it('serves the standard gRPC health service', async () => {
    const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    const h = new Health(`127.0.0.1:${co.port}`, grpc.credentials.createInsecure()) as unknown as {
      Check(r: object, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
      close(): void;
    };
    for (const service of ['', 'strata.v1.Strata']) {
      const r = await new Promise<{ status: string }>((res, rej) => h.Check({ service }, (e, x) => (e ? rej(e) : res(x!))));
      expect(r.status).toBe('SERVING');
    }
    h.close();
  });

  it('a wrong token: UNAUTHENTICATED on Join, Work and Status; nothing stored', async () => {
    await expect(join_({ token: 'wrong', workerId: 'intruder' })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(join_({ token: '', workerId: 'intruder' })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(dbQuery(db, `SELECT * FROM workers WHERE id = 'intruder'`)).toEqual([]);
    const w = work({}, 'wrong');
    w.call.write({ credit: { n: 4 } });
    const s = await within(w.status, 20_000, 'work refusal');
    expect(s.code).toBe(grpc.status.UNAUTHENTICATED);
    await expect(new Promise((res, rej) => raw().Status({}, tokenMetadata('wrong'), (e, r) => (e ? rej(e) : res(r))))).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    expect(dbQuery(db, `SELECT * FROM subspaces WHERE state = 'leased'`)).toEqual([]);
  });

  it('a mismatched model version: FAILED_PRECONDITION; nothing stored', async () => {
    await expect(join_({ modelVersion: 'strata-model-0', workerId: 'old-model' })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: expect.stringMatching(/model version/),
    });
    expect(dbQuery(db, `SELECT * FROM workers WHERE id = 'old-model'`)).toEqual([]);
    const r = await join_({});
    hash = r.specHash;
    expect(r.modelVersion).toBe(MODEL_VERSION);
    const w = work({ 'strata-model-version': 'strata-model-0' });
    expect((await within(w.status, 20_000, 'refusal')).code).toBe(grpc.status.FAILED_PRECONDITION);
    const w2 = work({ 'strata-spec-hash': 'f'.repeat(64) });
    expect((await within(w2.status, 20_000, 'refusal')).code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('an unknown or out-of-range subspace id: INVALID_ARGUMENT', async () => {
    await refusedResult((l) => result(l, { subspaceId: 'nosuchlevel=3' }), grpc.status.INVALID_ARGUMENT, /unknown subspace/);
    await refusedResult((l) => result(l, { subspaceId: 'memory=99999' }), grpc.status.INVALID_ARGUMENT, /unknown subspace/);
  });

  it('a subspace not leased to this worker: acknowledged as not applied, nothing stored, the stream goes on', async () => {
    const other = dbQuery<{ id: string; first_point: string; size: string }>(db, `SELECT id, first_point, size FROM subspaces WHERE state = 'queued' ORDER BY rowid DESC LIMIT 1`)[0]!;
    const w = await leased();
    w.call.write({ results: { results: [result({ subspaceId: other.id, first: other.first_point, size: other.size })] } });
    const ack = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack.ack.subspaceIds).toEqual([other.id]);
    expect(ack.ack.applied).toEqual([false]);
    expect(storedFor(other.id)).toEqual({ designs: 0, state: 'queued' });
    // The stream's own lease is untouched, and its result still commits on the same stream.
    expect(dbQuery<{ state: string; lease_owner: string; attempts: number }>(db, `SELECT state, lease_owner, attempts FROM subspaces WHERE id = ?`, w.lease.subspaceId)).toEqual([
      { state: 'leased', lease_owner: 'raw-1', attempts: w.lease.attempts },
    ]);
    w.call.write({ results: { results: [result(w.lease)] } });
    const ack2 = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack2.ack.subspaceIds).toEqual([w.lease.subspaceId]);
    expect(ack2.ack.applied).toEqual([true]);
    expect(storedFor(w.lease.subspaceId)).toEqual({ designs: 1, state: 'done' });
    w.call.end();
    expect((await within(w.status, 20_000, 'clean end')).code).toBe(grpc.status.OK);
  });

  it('counts that do not add up to the subspace size: INVALID_ARGUMENT', async () => {
    await refusedResult(
      (l) => result(l, { counts: { evaluated: '1', prunedBound: String(BigInt(l.size)), prunedDominance: '0', infeasible: '0' } }),
      grpc.status.INVALID_ARGUMENT,
      /add up/,
    );
    await refusedResult((l) => result(l, { counts: { evaluated: '-1', prunedBound: l.size, prunedDominance: '0', infeasible: '0' } }), grpc.status.INVALID_ARGUMENT, /decimal/);
    await refusedResult((l) => result(l, { size: String(BigInt(l.size) + 1n) }), grpc.status.INVALID_ARGUMENT, /range/);
  });

  it('point ids outside the subspace: INVALID_ARGUMENT', async () => {
    await refusedResult((l) => result(l, {}, { id: String(BigInt(l.first) + BigInt(l.size)) }), grpc.status.INVALID_ARGUMENT, /outside the subspace/);
  });

  it('non-finite metrics or objective values: INVALID_ARGUMENT', async () => {
    await refusedResult((l) => result(l, {}, { values: [NaN] }), grpc.status.INVALID_ARGUMENT, /non-finite/);
    await refusedResult((l) => result(l, {}, { figures: { tokens_per_s_per_w: Infinity } }), grpc.status.INVALID_ARGUMENT, /not finite/);
    await refusedResult((l) => result(l, {}, { metricsJson: '{"decode":{"stepTimeS":1e999}}' }), grpc.status.INVALID_ARGUMENT, /not finite/);
    await refusedResult((l) => result(l, {}, { metricsJson: '{"a":' }), grpc.status.INVALID_ARGUMENT, /metrics|JSON/);
  });

  it('a result in parts: parts that do not make one result are refused, nothing stored; whole, it commits once, with one ack', async () => {
    /** Two designs (the first two points) in two parts of one design each. */
    const inParts = (l: { subspaceId: string; first: string; size: string }, over: [Partial<WireResult>, Partial<WireResult>] = [{}, {}]) => {
      const counts = { evaluated: '2', prunedBound: String(BigInt(l.size) - 2n), prunedDominance: '0', infeasible: '0' };
      const second = { id: String(BigInt(l.first) + 1n), values: [1.25], keptAs: [] };
      return [result(l, { counts, parts: 2, part: 0, ...over[0] }), result(l, { counts, parts: 2, part: 1, ...over[1] }, second)];
    };
    await refusedResult((l) => inParts(l)[1]!, grpc.status.INVALID_ARGUMENT, /part 1 of 2 without its part 0/);
    await refusedResult((l) => inParts(l, [{}, { part: 2 }]), grpc.status.INVALID_ARGUMENT, /part 2 of 2/);
    await refusedResult((l) => [inParts(l)[0]!, inParts(l)[0]!], grpc.status.INVALID_ARGUMENT, /part 0 of 2 while part 1 of 2 .* is missing/);
    await refusedResult((l) => inParts(l, [{}, { size: String(BigInt(l.size) - 1n), counts: { evaluated: '2', prunedBound: String(BigInt(l.size) - 3n), prunedDominance: '0', infeasible: '0' } }]), grpc.status.INVALID_ARGUMENT, /range/);
    await refusedResult((l) => inParts(l, [{}, { counts: { evaluated: '2', prunedBound: '0', prunedDominance: '0', infeasible: String(BigInt(l.size) - 2n) }, infeasibleByReason: { memory: String(BigInt(l.size) - 2n) } }]), grpc.status.INVALID_ARGUMENT, /another range, counts or reasons than part 0/);
    await refusedResult((l) => inParts(l, [{}, { designs: inParts(l)[0]!.designs }]), grpc.status.INVALID_ARGUMENT, /appears in two parts/);
    await refusedResult((l) => inParts(l, [{ parts: 1000 }, {}]), grpc.status.RESOURCE_EXHAUSTED, /1000 parts \(max 256\)/);

    const w = await leased();
    const [p0, p1] = inParts(w.lease);
    w.call.write({ results: { results: [p0!] } });
    await sleep(300);
    // One part: held, nothing written, no ack.
    expect(storedFor(w.lease.subspaceId)).toEqual({ designs: 0, state: 'leased' });
    w.call.write({ results: { results: [p1!] } });
    const ack = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack.ack).toMatchObject({ subspaceIds: [w.lease.subspaceId], applied: [true] });
    expect(storedFor(w.lease.subspaceId)).toEqual({ designs: 2, state: 'done' });
    // Sent again (late: done already): acknowledged as not applied, part by part; nothing changes.
    for (const p of [p0!, p1!]) {
      w.call.write({ results: { results: [p] } });
      const again = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
      expect(again.ack).toMatchObject({ subspaceIds: [w.lease.subspaceId], applied: [false] });
    }
    expect(storedFor(w.lease.subspaceId)).toEqual({ designs: 2, state: 'done' });
    w.call.end();
    expect((await within(w.status, 20_000, 'clean end')).code).toBe(grpc.status.OK);
  });

  it('oversized messages and too many items: RESOURCE_EXHAUSTED', async () => {
    await refusedResult((l) => result(l, {}, { metricsJson: `{"pad":"${'x'.repeat(MAX + 1000)}"}` }), grpc.status.RESOURCE_EXHAUSTED, /larger than max|message/i);
    const w = await leased();
    w.call.write({ credit: { n: 1_000_000 } });
    expect((await within(w.status, 20_000, 'refusal')).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('a valid result is committed and acknowledged; a duplicate is acknowledged as not applied, changes nothing, and keeps the stream and its other leases', async () => {
    const w = work();
    w.call.write({ credit: { n: 2 } });
    const got: { subspaceId: string; first: string; size: string; attempts: number }[] = [];
    while (got.length < 2) got.push(...(await w.next('leases') as Extract<CoordinatorMessage, { msg?: 'leases' }>).leases.leases);
    const [l, keep] = got as [(typeof got)[0], (typeof got)[0]];
    w.call.write({ results: { results: [result(l)] } });
    const ack = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack.ack.subspaceIds).toEqual([l.subspaceId]);
    expect(ack.ack.applied).toEqual([true]);
    expect(storedFor(l.subspaceId)).toEqual({ designs: 1, state: 'done' });
    const row = () => dbQuery(db, `SELECT state, lease_owner, attempts, evaluated, pruned_bound, best_point_id FROM subspaces WHERE id = ?`, l.subspaceId);
    const doneRow = row();
    const runRow = () => dbQuery(db, `SELECT evaluated, pruned_bound, pruned_dominance, infeasible FROM runs`);
    const totals = runRow();
    const refusedBefore = dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind = 'refused'`)[0]!.n;
    // A duplicate (here with another design and counts) of the same commit: done already.
    const dup = result(l, { counts: { evaluated: '1', prunedBound: '0', prunedDominance: '0', infeasible: String(BigInt(l.size) - 1n) }, infeasibleByReason: { x: String(BigInt(l.size) - 1n) } }, { values: [9] });
    w.call.write({ results: { results: [dup] } });
    const ack2 = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack2.ack.subspaceIds).toEqual([l.subspaceId]);
    expect(ack2.ack.applied).toEqual([false]);
    // Nothing changed in the database: the subspace, its designs, the run totals; no refusal logged.
    expect(storedFor(l.subspaceId)).toEqual({ designs: 1, state: 'done' });
    expect(row()).toEqual(doneRow);
    expect(runRow()).toEqual(totals);
    expect(dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind = 'refused'`)[0]!.n).toBe(refusedBefore);
    // The stream lives on and the worker's other lease is unaffected: still its own, no attempt counted
    // (an abnormal end of the stream would have expired it, counting one).
    await sleep(300);
    expect(dbQuery(db, `SELECT state, lease_owner, attempts FROM subspaces WHERE id = ?`, keep.subspaceId)).toEqual([{ state: 'leased', lease_owner: 'raw-1', attempts: keep.attempts }]);
    w.call.write({ heartbeat: { leaseIds: [keep.subspaceId] } });
    const hb = (await w.next('renewed')) as Extract<CoordinatorMessage, { msg?: 'renewed' }>;
    expect(hb.renewed.lost).toEqual([]);
    w.call.write({ results: { results: [result(keep)] } });
    const ack3 = (await w.next('ack')) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(ack3.ack.applied).toEqual([true]);
    expect(storedFor(keep.subspaceId)).toEqual({ designs: 1, state: 'done' });
    w.call.end();
    expect((await within(w.status, 20_000, 'clean end')).code).toBe(grpc.status.OK);
    const events = dbQuery<{ n: number }>(db, `SELECT count(*) AS n FROM events WHERE kind = 'refused'`)[0]!.n;
    expect(events).toBeGreaterThanOrEqual(10);
  });

  it('SIGTERM: graceful shutdown (drain, close the database), resumable, integrity ok', async () => {
    const w = await leased(); // a lease in flight that never comes back: the drain times out (5 s)
    const t0 = Date.now();
    co.child.kill('SIGTERM');
    const drain = await w.next('drain');
    expect(drain.msg).toBe('drain');
    const code = await within(co.exited, 30_000, 'coordinator exit');
    expect(code).toBe(1); // interrupted: run again to resume
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(co.stdout()).toMatch(/interrupted/);
    const a = answer(db);
    expect(a.integrity).toBe('ok');
    expect(a.state).toBe('running');
    const st = spawnSync(process.execPath, [BIN, 'status', '--db', db, '--format', 'json'], { encoding: 'utf8' });
    expect(st.status, st.stderr).toBe(0);
    await sleep(10);
  });
});

describe('TLS', () => {
  const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
  it.skipIf(!haveOpenssl)('mutual TLS: a client with a certificate of the CA gets the status, one without is refused', async () => {
    const d = tmp('strata-tls-');
    const sh = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: d, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=strata-test-ca']);
    writeFileSync(join(d, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    for (const n of ['server', 'client']) {
      sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n === 'server' ? 'localhost' : 'strata-worker'}`]);
      sh(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.pem`, '-days', '2', '-extfile', 'san.ext']);
    }
    const tdb = join(d, 'tls.db');
    const c = await startCoordinator(tdb, ['--tls-cert', join(d, 'server.pem'), '--tls-key', join(d, 'server.key'), '--tls-ca', join(d, 'ca.pem')]);
    try {
      const env = { ...process.env, STRATA_TOKEN: TOKEN };
      const ok = spawnSync(
        process.execPath,
        [BIN, 'status', '--coordinator', `localhost:${c.port}`, '--tls-ca', join(d, 'ca.pem'), '--tls-cert', join(d, 'client.pem'), '--tls-key', join(d, 'client.key'), '--format', 'json'],
        { encoding: 'utf8', env },
      );
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout).spaceSize).toBe('64800');
      const noCert = spawnSync(process.execPath, [BIN, 'status', '--coordinator', `localhost:${c.port}`, '--tls-ca', join(d, 'ca.pem')], { encoding: 'utf8', env });
      expect(noCert.status).toBe(1);
      const plain = spawnSync(process.execPath, [BIN, 'status', '--coordinator', `localhost:${c.port}`], { encoding: 'utf8', env });
      expect(plain.status).toBe(1);
    } finally {
      c.child.kill('SIGKILL');
    }
  }, 60_000);
});

describe('CLI refusals', () => {
  it('no token: the coordinator and the worker refuse to start (exit 2), no database written', () => {
    const env = { ...process.env };
    delete env.STRATA_TOKEN;
    const d = tmp('strata-notoken-');
    const c = spawnSync(process.execPath, [BIN, 'coordinator', '--space', 'small', '--db', join(d, 'x.db'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', env });
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/token/);
    const w = spawnSync(process.execPath, [BIN, 'worker', '--coordinator', '127.0.0.1:1'], { encoding: 'utf8', env });
    expect(w.status).toBe(2);
    const bad = spawnSync(process.execPath, [BIN, 'coordinator', '--space', 'small', '--db', join(d, 'x.db'), '--listen', 'nowhere'], { encoding: 'utf8', env: { ...env, STRATA_TOKEN: 't' } });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--listen/);
  });

  it('a worker with a bad --prefetch or --threads refuses to start (exit 2), naming the flag and the value', () => {
    const env = { ...process.env, STRATA_TOKEN: 't' };
    for (const [flag, v] of [['--prefetch', 'abc'], ['--prefetch', '-1'], ['--prefetch', '1.5'], ['--threads', '0']]) {
      const w = spawnSync(process.execPath, [BIN, 'worker', '--coordinator', '127.0.0.1:1', '--give-up-s', '5', flag!, v!], { encoding: 'utf8', env });
      expect({ flag, v, status: w.status }).toEqual({ flag, v, status: 2 });
      expect(w.stderr).toContain(flag);
      expect(w.stderr).toContain(v);
    }
  });
});
