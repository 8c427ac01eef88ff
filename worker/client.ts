// The gRPC worker (DESIGN 4.1): joins the coordinator (token, model version), runs the search threads
// (worker/pool.ts), takes leases by granting credits (one per free slot), streams results back with
// backpressure, heartbeats its leases, follows the incumbent broadcasts, reconnects with exponential
// backoff when the coordinator goes away, and returns when the run is done.
import { hostname, availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import PQueue from 'p-queue';
// Light imports only (not the model): the process starts its search threads first, which load it.
import { MODEL_VERSION } from '../src/model/types.js';
import type { RunSpec } from '../src/search/context.js';
import { ParetoArchive, type Entry, type Incumbents } from '../src/search/archive.js';
import type { SubspaceResult } from '../src/search/engine.js';
import { closeSpawned, spawnThreads, startPool, type SearchPool, type Spawned } from './pool.js';
import {
  channelOptions,
  clientCredentials,
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_MESSAGE_BYTES,
  loadProtocol,
  resultPartsToWire,
  snapshotFromWire,
  specHash,
  tokenMetadata,
  type CoordinatorMessage,
  type JoinReply,
  type JoinRequest,
  type KeepaliveOptions,
  type WireResult,
  type WorkerMessage,
  wireDesignBytes,
} from '../coordinator/protocol.js';

export interface WorkerOptions {
  /** host:port of the coordinator. */
  coordinator: string;
  token: string;
  /** Search threads (default: the cores). */
  threads?: number;
  /** Extra leases held beyond the threads, to hide the round trip (default: 3). */
  prefetch?: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Name the TLS certificate must carry when it differs from the host of --coordinator. */
  tlsServerName?: string;
  maxMessageBytes?: number;
  keepalive?: KeepaliveOptions;
  /** Reconnect backoff: first and largest delay (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Give up (exit 1) after this long without reaching the coordinator (ms, default 10 min). */
  giveUpMs?: number;
  workerId?: string;
  /** Model version announced (tests of the refusal use another one). */
  modelVersion?: string;
  /** The search pool (benchmarks pass a stub; default: worker_threads running the real search). */
  makePool?: (spec: RunSpec, threads: number) => Promise<SearchPool>;
  log?: (line: string) => void;
  /** A shared channel (benchmarks with many workers in one process); default: one per worker. */
  client?: grpc.Client;
  /**
   * Graceful stop (`strata worker` aborts it on SIGINT/SIGTERM): take no more leases, finish the
   * searches running, send their results and wait for the acks, then end the stream cleanly (the
   * coordinator puts the leases not started back in the queue without counting an attempt) and
   * return code 0.
   */
  stop?: AbortSignal;
  /** Stop at once (a second signal): end the stream cleanly now; every lease still held goes back to the queue, no attempt counted. */
  stopNow?: AbortSignal;
}

export type WorkerExit = { code: 0 | 1 | 2; reason: string; results: number };

class Fatal extends Error {
  constructor(
    readonly code: 1 | 2,
    message: string,
  ) {
    super(message);
  }
}

type Call = grpc.ClientDuplexStream<WorkerMessage, CoordinatorMessage>;

/**
 * The front with these designs inserted (ParetoArchive.insert, as the coordinator does). Pruning against
 * designs of our own results is safe: they are sent (and a lost result is redone, with the same
 * designs), so the coordinator's front ends up at least as good.
 */
function mergeFront(front: Entry[], designs: readonly Entry[]): Entry[] {
  const a = new ParetoArchive();
  a.entries = front; // already a front (insert never changes the array in place)
  for (const d of designs) a.insert({ id: d.id, values: [...d.values] });
  return a.entries;
}

/** Waits `ms`, or less if `signal` aborts (a stop during a backoff). */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

const waitForReady = (md: grpc.Metadata) => {
  md.setOptions({ waitForReady: true });
  return md;
};

/** Runs a worker until the run is done (code 0), refused (2) or the coordinator is gone for good (1). */
export async function runWorker(o: WorkerOptions): Promise<WorkerExit> {
  const log = o.log ?? (() => {});
  const threads = Math.max(1, o.threads ?? availableParallelism());
  const prefetch = Math.max(0, o.prefetch ?? 3);
  const workerId = o.workerId ?? `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  const maxMsg = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const { Client } = loadProtocol();
  const client =
    o.client ??
    new Client(o.coordinator, clientCredentials(o), {
      ...channelOptions(maxMsg, o.keepalive ?? DEFAULT_KEEPALIVE, false),
      ...(o.tlsServerName ? { 'grpc.ssl_target_name_override': o.tlsServerName, 'grpc.default_authority': o.tlsServerName } : {}),
    });
  const c = client as unknown as {
    Join(req: JoinRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: JoinReply) => void): void;
    Work(md: grpc.Metadata): Call;
  };
  let pool: SearchPool | null = null;
  let poolHash = '';
  // The search threads load their modules while the Join is in flight.
  let spawned: Spawned | null = o.makePool ? null : spawnThreads(threads);
  let results = 0;
  // After a failed Join or a lost stream: 100 ms first, doubling up to maxB, so a long outage costs little.
  const minB = o.minBackoffMs ?? 100;
  const maxB = o.maxBackoffMs ?? 10_000;
  let backoff = minB;
  let lastContact = Date.now();
  const giveUpMs = o.giveUpMs ?? 600_000;
  const stopped = (): WorkerExit | null => (o.stop?.aborted || o.stopNow?.aborted ? { code: 0, reason: 'stopped by a signal', results } : null);
  try {
    for (;;) {
      const st = stopped();
      if (st) return st;
      // ---- Join
      let reply: JoinReply;
      try {
        // waitForReady: a Join sent before the coordinator listens (launched together) waits while the
        // channel reconnects (every 100 ms growing to 1 s, channelOptions) instead of failing at once,
        // and goes out as soon as the port is bound.
        const deadline = Date.now() + Math.max(1000, Math.min(10_000, lastContact + giveUpMs - Date.now()));
        reply = await new Promise<JoinReply>((resolve, reject) =>
          c.Join(
            { token: o.token, modelVersion: o.modelVersion ?? MODEL_VERSION, workerId, host: hostname(), threads },
            waitForReady(tokenMetadata(o.token)),
            { deadline },
            (e, r) => (e ? reject(e) : resolve(r!)),
          ),
        );
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.INVALID_ARGUMENT)
          throw new Fatal(2, `join refused: ${grpc.status[err.code]}: ${err.details}`);
        // A waiting Join ends at its deadline (grpc's text then names no connection error).
        const why = err.code === grpc.status.DEADLINE_EXCEEDED ? `no connection to ${o.coordinator} or no answer by the deadline` : `${grpc.status[err.code] ?? err.code}: ${err.details ?? err.message}`;
        if (Date.now() - lastContact > giveUpMs) throw new Fatal(1, `coordinator unreachable for ${((Date.now() - lastContact) / 1000).toFixed(0)} s: ${why}`);
        log(`join failed (${why}); retrying in ${backoff} ms`);
        await sleep(backoff * (0.75 + Math.random() * 0.5), o.stop);
        backoff = Math.min(maxB, backoff * 2);
        continue;
      }
      lastContact = Date.now();
      if (reply.done) return { code: 0, reason: 'the run is complete', results };
      const spec = JSON.parse(reply.runSpecJson) as RunSpec;
      if (specHash(spec) !== reply.specHash) throw new Fatal(2, 'the run spec does not match its hash');
      if (spec.modelVersion !== MODEL_VERSION) throw new Fatal(2, `model version mismatch: run spec has '${spec.modelVersion}', worker has '${MODEL_VERSION}'`);
      if (!pool || poolHash !== reply.specHash) {
        await pool?.close();
        pool = null;
        if (o.makePool) pool = await o.makePool(spec, threads);
        else {
          const s = spawned ?? spawnThreads(threads);
          spawned = null;
          pool = await startPool(spec, threads, s);
        }
        poolHash = reply.specHash;
      }
      log(`joined run ${reply.specHash.slice(0, 12)} with ${threads} search thread${threads === 1 ? '' : 's'}`);
      const st2 = stopped();
      if (st2) return st2; // joined, no stream and no lease yet: nothing to give back
      // ---- Work stream
      const end = await session(c, pool, reply, { ...o, workerId, threads, prefetch, log }, () => {
        backoff = minB;
        lastContact = Date.now();
      });
      results += end.results;
      lastContact = Date.now();
      if (end.kind === 'done') return { code: end.state === 'done' ? 0 : 1, reason: end.reason, results };
      if (end.kind === 'fatal') throw new Fatal(2, end.reason);
      if (end.kind === 'stopped') return { code: 0, reason: end.reason, results };
      const st3 = stopped();
      if (st3) return st3;
      log(`stream ended (${end.reason}); reconnecting in ${backoff} ms`);
      await sleep(backoff * (0.75 + Math.random() * 0.5), o.stop);
      backoff = Math.min(maxB, backoff * 2);
    }
  } catch (e) {
    if (e instanceof Fatal) return { code: e.code, reason: e.message, results };
    throw e;
  } finally {
    await pool?.close();
    await closeSpawned(spawned);
    if (!o.client) client.close();
  }
}

type SessionEnd =
  | { kind: 'done'; state: string; reason: string; results: number }
  | { kind: 'lost'; reason: string; results: number }
  | { kind: 'fatal'; reason: string; results: number }
  | { kind: 'stopped'; reason: string; results: number };

/** One Work stream: from open to done, drain, refusal or loss of the connection. */
function session(
  c: { Work(md: grpc.Metadata): Call },
  pool: SearchPool,
  reply: JoinReply,
  o: WorkerOptions & { workerId: string; threads: number; prefetch: number; log: (s: string) => void },
  onContact: () => void,
): Promise<SessionEnd> {
  return new Promise<SessionEnd>((resolve) => {
    const call = c.Work(tokenMetadata(o.token, { 'strata-worker-id': o.workerId, 'strata-model-version': o.modelVersion ?? MODEL_VERSION, 'strata-spec-hash': reply.specHash }));
    let over = false;
    let results = 0;
    let snapshot: Incumbents = { front: [], top: [] };
    let draining = false;
    /** Stopping (a signal): no more leases, no new search; leaving once the running ones are answered. */
    let stopping = false;
    let leaving = false;
    /** Leases held (queued or running) -> still valid. */
    const held = new Set<string>();
    /** Leases whose search runs now. */
    const running = new Set<string>();
    /** Leases kept (heartbeated) but not to be searched: stopping. The clean end gives them back. */
    const parked = new Set<string>();
    const unacked = new Set<string>();
    const queue = new PQueue({ concurrency: o.threads });
    // ---- writes with backpressure
    const outq: WorkerMessage[] = [];
    let blocked = false;
    const write = (m: WorkerMessage) => {
      if (over) return;
      if (blocked) return void outq.push(m);
      try {
        if (!call.write(m)) {
          blocked = true;
          call.once('drain', flush);
        }
      } catch {
        /* the stream is gone: 'error' ends the session */
      }
    };
    const flush = () => {
      blocked = false;
      while (!over && !blocked && outq.length > 0) write(outq.shift()!);
    };
    // ---- results: batched per tick, bounded by count and bytes
    let pending: WireResult[] = [];
    let pendingBytes = 0;
    /** Credits to grant with the pending results (the slots they freed): one message, not two. */
    let pendingCredit = 0;
    let flushQueued = false;
    const budget = Math.max(64 * 1024, Math.floor(reply.maxMessageBytes * 0.5));
    const sendResults = () => {
      flushQueued = false;
      if (pending.length === 0) return;
      write({ results: { results: pending, credit: pendingCredit } });
      pending = [];
      pendingBytes = 0;
      pendingCredit = 0;
    };
    const addResult = (w: WireResult) => {
      const bytes = 200 + wireDesignBytes(w);
      if (pending.length > 0 && (pending.length >= reply.maxResultsPerBatch || pendingBytes + bytes > budget)) sendResults();
      pending.push(w);
      pendingBytes += bytes;
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(sendResults);
      }
    };
    const finish = (e: SessionEnd) => {
      if (over) return;
      over = true;
      clearInterval(hb);
      o.stop?.removeEventListener('abort', onStop);
      o.stopNow?.removeEventListener('abort', leave);
      queue.clear();
      held.clear();
      try {
        call.end();
      } catch {
        /* gone */
      }
      call.cancel();
      resolve(e);
    };
    const maybeLeave = () => {
      // Drained: everything sent and acknowledged: close our side and reconnect later.
      if (draining && held.size === 0 && unacked.size === 0 && queue.size === 0 && queue.pending === 0) finish({ kind: 'lost', reason: 'coordinator drained', results });
    };
    const credit = (n: number) => {
      if (draining || stopping || n <= 0) return;
      // With results about to go (sendResults is queued): in their message.
      if (pending.length > 0 && flushQueued) pendingCredit += n;
      else write({ credit: { n } });
    };
    const hb = setInterval(() => write({ heartbeat: { leaseIds: [...held, ...parked] } }), Math.max(50, reply.heartbeatMs));

    /**
     * The clean leave of a stop: the results written so far go first, then our side of the stream ends.
     * The coordinator takes that as a leave (not a loss): the leases still held go back to the queue
     * without an attempt counted. It answers by ending its side; we wait a moment for that.
     */
    function leave(): void {
      if (over || leaving) return;
      leaving = true;
      stopping = true;
      sendResults();
      const end = () => {
        if (over) return;
        if (blocked || outq.length > 0) return void call.once('drain', () => setImmediate(end));
        try {
          call.end();
        } catch {
          /* gone */
        }
        setTimeout(() => finish({ kind: 'stopped', reason: 'stopped by a signal', results }), 5000).unref();
      };
      end();
    }
    const maybeStop = () => {
      if (stopping && !leaving && running.size === 0 && unacked.size === 0 && pending.length === 0) leave();
    };
    function onStop(): void {
      if (over || stopping) return;
      stopping = true;
      // The leases not started are kept (heartbeated) until the clean leave gives them back.
      for (const id of held) if (!running.has(id)) parked.add(id);
      for (const id of parked) held.delete(id);
      queue.clear();
      o.log(`stopping: no more leases; finishing ${running.size} running search(es), giving back ${parked.size} lease(s)`);
      maybeStop();
    }
    o.stop?.addEventListener('abort', onStop, { once: true });
    o.stopNow?.addEventListener('abort', leave, { once: true });

    /** Leases granted (in a LeaseGrant, or with an ack): each is searched when a slot is free. */
    const take = (leases: readonly { subspaceId: string }[]) => {
      for (const l of leases) {
        const id = l.subspaceId;
        if (stopping) {
          parked.add(id); // granted before the stop: given back by the clean leave
          continue;
        }
        held.add(id);
        void queue.add(async () => {
          let r: SubspaceResult | null = null;
          if (!over && held.has(id) && !stopping) {
            running.add(id);
            try {
              r = await pool.run(id, snapshot);
            } catch (e) {
              o.log(`search of '${id}' failed: ${(e as Error).message}`);
            } finally {
              running.delete(id);
            }
          }
          if (over) return;
          if (r && held.has(id)) {
            held.delete(id);
            unacked.add(id);
            // Our own designs prune our next searches at once, not after the coordinator's broadcast.
            snapshot = { front: mergeFront(snapshot.front, r.designs), top: snapshot.top };
            // In parts when it has more designs than a message carries: added one after another.
            for (const w of resultPartsToWire(r, budget)) addResult(w);
            results++;
          } else held.delete(id);
          credit(1);
          maybeLeave();
          maybeStop();
        });
      }
    };

    call.on('data', (m: CoordinatorMessage) => {
      onContact();
      switch (m.msg) {
        case 'incumbent':
          snapshot = snapshotFromWire(m.incumbent);
          return;
        case 'leases':
          take(m.leases.leases);
          return;
        case 'renewed':
          for (const id of m.renewed.lost) {
            held.delete(id);
            parked.delete(id);
          }
          return;
        case 'ack':
          for (const id of m.ack.subspaceIds) unacked.delete(id);
          if (m.ack.leases && m.ack.leases.length > 0) take(m.ack.leases);
          maybeLeave();
          maybeStop();
          return;
        case 'done':
          sendResults();
          finish({ kind: 'done', state: m.done.state, reason: m.done.reason, results });
          return;
        case 'drain':
          draining = true;
          o.log('coordinator is draining: finishing the leases held');
          maybeLeave();
          return;
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      const refused = e.code === grpc.status.UNAUTHENTICATED || (e.code === grpc.status.FAILED_PRECONDITION && /model version/.test(e.details));
      if (leaving) return finish({ kind: 'stopped', reason: 'stopped by a signal', results });
      finish(refused ? { kind: 'fatal', reason: `${grpc.status[e.code]}: ${e.details}`, results } : { kind: 'lost', reason: `${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message}`, results });
    });
    call.on('end', () => finish(leaving ? { kind: 'stopped', reason: 'stopped by a signal', results } : { kind: 'lost', reason: 'the coordinator closed the stream', results }));
    credit(o.threads + o.prefetch);
    if (o.stopNow?.aborted) leave();
    else if (o.stop?.aborted) onStop();
  });
}
