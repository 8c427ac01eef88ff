// The gRPC coordinator (DESIGN 4.1, 4.2): the same Coordinator class as the embedded search, behind
// the protocol of proto/strata.proto. One Work stream per worker carries credits (flow control),
// leases, results, heartbeats, incumbent snapshots and commit acks. Every incoming message is
// validated before anything is stored; a bad one ends the call with a status.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../src/model/errors.js';
import { HealthImplementation } from 'grpc-health-check';
import { MODEL_VERSION } from '../src/model/evaluate.js';
import type { RunSpec } from '../src/search/context.js';
import { fmtBig, subspaceById } from '../src/space/index.js';
import { bestLabel } from '../src/search/objective.js';
import { DEFAULT_PARTS_BUDGET_BYTES, PartsBudget, ResultParts } from './parts.js';
import { BatchNotApplied, canonicalJson, CommitError, notLeasedTo, renewLeases, setWorkerState, touchWorker, upsertWorker, updateRun, logEvent } from '../src/store/index.js';
import { Coordinator, type CoordinatorOptions } from './core.js';
import {
  channelOptions,
  widenServerWindows,
  DEFAULT_KEEPALIVE,
  DEFAULT_MAX_MESSAGE_BYTES,
  loadProtocol,
  MAX_CREDITS,
  MAX_RESULTS_PER_BATCH,
  metadataToken,
  resultFromWire,
  serverCredentials,
  pointsToWire,
  specHash,
  WireError,
  type CoordinatorMessage,
  type JoinReply,
  type JoinRequest,
  type KeepaliveOptions,
  type StatusReply,
  type WirePoint,
  type WireResult,
  type WorkerMessage,
} from './protocol.js';
import type { SubspaceResult } from '../src/search/engine.js';

export const HEALTH_SERVICE = 'strata.v1.Strata';

export interface ServerOptions extends CoordinatorOptions {
  /** host:port (port 0: any free port; see `port` after start). */
  listen: string;
  /** The shared token (required, non-empty). */
  token: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  maxMessageBytes?: number;
  /** How often workers heartbeat (default leaseMs / 4). */
  heartbeatMs?: number;
  keepalive?: KeepaliveOptions;
  /** On SIGINT/SIGTERM: how long to wait for in-flight results (ms, default 30 s). */
  drainTimeoutMs?: number;
  /** After the run is done: how long to wait for workers to hear it and leave (ms, default 5 s). */
  lingerMs?: number;
  log?: (line: string) => void;
  /** Log a progress line (points accounted / total, rate, ETA, best, workers) at most this often (ms);
   *  the CLI sets it when stderr is a terminal. Default: none. */
  progressEveryMs?: number;
  /** Group commit: turns (flush + lease round, one transaction) at most every this many ms under load (default 20; 0: every event-loop turn). */
  groupCommitMs?: number;
  /** What the parts of results held by all streams together may take (bytes; default 2 GiB, coordinator/parts.ts). */
  partsBudgetBytes?: number;
}

type Duplex = grpc.ServerDuplexStream<WorkerMessage, CoordinatorMessage>;

/** Messages held while a turn's transaction is open (see CoordinatorServer.inTransaction). */
interface Hold {
  q: [Outbox, CoordinatorMessage][] | null;
}

/** Messages to one worker, written with backpressure: when write() returns false, the rest waits for 'drain'. */
class Outbox {
  private q: CoordinatorMessage[] = [];
  blocked = false;
  closed = false;
  constructor(
    private call: Duplex,
    private hold: Hold,
  ) {}
  send(m: CoordinatorMessage): void {
    if (this.closed) return;
    // Inside a turn's transaction: sent once it is committed (an ack never precedes its commit).
    if (this.hold.q) {
      this.hold.q.push([this, m]);
      return;
    }
    if (this.blocked) {
      // Only the latest incumbent matters: replace a queued one.
      if (m.msg === 'incumbent') {
        const i = this.q.findIndex((x) => x.msg === 'incumbent');
        if (i >= 0) {
          this.q[i] = m;
          return;
        }
      }
      this.q.push(m);
      return;
    }
    this.write(m);
  }
  private write(m: CoordinatorMessage): void {
    try {
      if (!this.call.write(m)) {
        this.blocked = true;
        this.call.once('drain', () => this.flush());
      }
    } catch {
      this.closed = true;
    }
  }
  private flush(): void {
    this.blocked = false;
    while (!this.closed && !this.blocked && this.q.length > 0) this.write(this.q.shift()!);
  }
}

class Session {
  credits = 0;
  readonly leases = new Set<string>();
  /** The parts of a result in several messages, until its last one. */
  readonly parts: ResultParts;
  commits = 0;
  lastSeenMs = Date.now();
  lastTouchMs = 0;
  closed = false;
  readonly out: Outbox;
  sentVersion = -1;
  /** The front version (frontVersion) of the last incumbent sent, and when it went (performance.now()). */
  sentFront = -1;
  sentMs = 0;
  constructor(
    readonly workerId: string,
    readonly host: string,
    readonly threads: number,
    readonly call: Duplex,
    hold: Hold,
    partsBudget: PartsBudget,
  ) {
    this.out = new Outbox(call, hold);
    this.parts = new ResultParts(partsBudget);
  }
}

interface Known {
  host: string;
  threads: number;
  commits: number;
  lastSeenMs: number;
}

function sameToken(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length > 0;
}

const statusError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }) as grpc.ServiceError;

export type Outcome = 'done' | 'failed' | 'interrupted';

/** Least interval between two incumbents to a stream when only the top-K lists changed (ms). */
const TOP_BROADCAST_MS = 250;

export class CoordinatorServer {
  /** Opened by start(), once the port is bound. */
  co!: Coordinator;
  readonly hash: string;
  private readonly specJson: string;
  private readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [HEALTH_SERVICE]: 'NOT_SERVING' });
  private readonly sessions = new Map<string, Session>();
  private readonly known = new Map<string, Known>();
  /** Workers that joined and have not opened a Work stream since (id -> join time). */
  private readonly joinedAt = new Map<string, number>();
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly maxMessageBytes: number;
  private incumbentVersion = 0;
  /** incumbentVersion when the front last changed. */
  private frontVersion = 0;
  private incumbent: { points: WirePoint[]; top: WirePoint[] } = { points: [], top: [] };
  private turnQueued = false;
  /** When the queued turn runs (performance.now()), and its timer when it waits. */
  private turnDue = 0;
  private turnTimer: NodeJS.Timeout | null = null;
  /** A result staged since the last turn changed the front (the archive's entries). */
  private frontChanged = false;
  /** Result groups the last turn wrote. */
  private lastTurnGroups = 0;
  /** Messages held while a turn's transaction is open. */
  private readonly hold: Hold = { q: null };
  private lastTurnMs = 0;
  private readonly groupCommitMs: number;
  private lastSplitCheck = 0;
  private ticker: NodeJS.Timeout | null = null;
  private state: 'running' | 'draining' | 'done' | 'failed' = 'running';
  private outcomeResolve!: (o: Outcome) => void;
  /** Resolves when the run is complete (done), stuck on failed subspaces (failed) or shut down (interrupted). */
  readonly outcome: Promise<Outcome>;
  private readonly started = Date.now();
  private readonly samples: { t: number; accounted: bigint }[] = [];
  commits = 0;
  splits = 0;
  /** What the parts of results held by all streams together may take (coordinator/parts.ts). */
  private readonly partsBudget: PartsBudget;
  /** Turns run (each one transaction: the results staged, then a lease round). */
  turns = 0;
  port = 0;
  private countQueued!: { get: (...a: unknown[]) => unknown };
  private countLeased!: { get: (...a: unknown[]) => unknown };
  private readonly log: (line: string) => void;

  constructor(
    private readonly dbFile: string,
    readonly spec: RunSpec,
    private readonly opts: ServerOptions,
  ) {
    if (!opts.token) throw new Error('a token is required (--token-file F or STRATA_TOKEN)');
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(this.leaseMs / 4));
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.groupCommitMs = Math.max(0, opts.groupCommitMs ?? 20);
    this.partsBudget = new PartsBudget(opts.partsBudgetBytes ?? DEFAULT_PARTS_BUDGET_BYTES);
    this.log = opts.log ?? (() => {});
    this.hash = specHash(spec);
    this.specJson = canonicalJson(spec);
    this.outcome = new Promise((r) => (this.outcomeResolve = r));
    this.server = new grpc.Server(channelOptions(this.maxMessageBytes, opts.keepalive ?? DEFAULT_KEEPALIVE, true));
    const { service } = loadProtocol();
    this.server.addService(service, {
      Join: (call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, cb: grpc.sendUnaryData<JoinReply>) => this.join(call, cb),
      Work: (call: Duplex) => this.work(call),
      Status: (call: grpc.ServerUnaryCall<unknown, StatusReply>, cb: grpc.sendUnaryData<StatusReply>) => this.statusRpc(call, cb),
    });
    this.health.addToServer(this.server);
    this.widened = widenServerWindows(this.server, 'before-bind');
  }

  /** Whether the HTTP/2 receive windows were widened (widenServerWindows): false only on a grpc-js without the internals it uses. */
  private widened: boolean;

  /**
   * Binds the port, then opens the run (database, initial split and bounds: up to a second or more).
   * Bound first, workers launched with the coordinator connect at once instead of backing off; their
   * calls wait while the run opens. No handler runs between the bind and the opening (one synchronous
   * step after the bind's callback), so every handler sees the run open. A run that cannot open (e.g.
   * another spec in the database) closes the port and throws.
   */
  async start(): Promise<number> {
    const creds = serverCredentials(this.opts);
    this.port = await new Promise<number>((resolve, reject) =>
      // An address in use or not of this host: a usage error naming --listen (exit 2), nothing opened.
      this.server.bindAsync(this.opts.listen, creds, (err, port) =>
        err ? reject(new ConfigError('--listen', this.opts.listen, `an address this host can listen on (${err.message.replace(/\s+/g, ' ').trim()})`)) : resolve(port),
      ),
    );
    if (!(this.widened && widenServerWindows(this.server, 'after-bind')))
      this.log('warning: this grpc-js does not let the coordinator widen its HTTP/2 windows; large results will cross more slowly');
    try {
      this.co = new Coordinator(this.dbFile, this.spec, this.opts);
    } catch (e) {
      this.server.forceShutdown();
      throw e;
    }
    this.countQueued = this.co.db.prepare(`SELECT count(*) AS n FROM subspaces WHERE run_id = ? AND state = 'queued'`).pluck();
    this.countLeased = this.co.db.prepare(`SELECT count(*) AS n FROM subspaces WHERE run_id = ? AND state = 'leased'`).pluck();
    this.setIncumbent();
    this.health.setStatus('', 'SERVING');
    this.health.setStatus(HEALTH_SERVICE, 'SERVING');
    this.ticker = setInterval(() => this.tick(), Math.max(50, Math.min(1000, Math.floor(this.leaseMs / 4))));
    this.ticker.unref();
    logEvent(this.co.run, 'coordinator', { listen: this.opts.listen, port: this.port, specHash: this.hash });
    if (this.co.finished()) this.finish('done', 'the run is complete');
    else this.tick();
    return this.port;
  }

  // ------------------------------------------------------------------------------------------
  // Join

  private join(call: grpc.ServerUnaryCall<JoinRequest, JoinReply>, cb: grpc.sendUnaryData<JoinReply>): void {
    const r = call.request;
    const token = r.token || metadataToken(call.metadata);
    if (!sameToken(token, this.opts.token)) return cb(statusError(grpc.status.UNAUTHENTICATED, 'bad or missing token'));
    if (r.modelVersion !== MODEL_VERSION)
      return cb(statusError(grpc.status.FAILED_PRECONDITION, `model version mismatch: worker has '${r.modelVersion}', coordinator has '${MODEL_VERSION}'`));
    if (!r.workerId || r.workerId.length > 200 || !/^[\w.:@/#-]+$/.test(r.workerId))
      return cb(statusError(grpc.status.INVALID_ARGUMENT, 'worker_id must be 1-200 characters of [A-Za-z0-9_.:@/#-]'));
    if (!Number.isInteger(r.threads) || r.threads < 1 || r.threads > 4096)
      return cb(statusError(grpc.status.INVALID_ARGUMENT, `threads ${r.threads} is not in [1, 4096]`));
    if ((r.host ?? '').length > 255) return cb(statusError(grpc.status.INVALID_ARGUMENT, 'host name too long'));
    if (this.state === 'draining') return cb(statusError(grpc.status.UNAVAILABLE, 'the coordinator is shutting down'));
    if (!this.co) return cb(statusError(grpc.status.UNAVAILABLE, 'the coordinator is opening its run')); // not expected (see start): retried
    const host = r.host || 'unknown';
    const prev = this.known.get(r.workerId);
    this.joinedAt.set(r.workerId, Date.now());
    this.known.set(r.workerId, { host, threads: r.threads, commits: prev?.commits ?? 0, lastSeenMs: Date.now() });
    try {
      upsertWorker(this.co.run, { id: r.workerId, host, threads: r.threads });
    } catch (e) {
      return cb(statusError(grpc.status.INTERNAL, (e as Error).message));
    }
    cb(null, {
      runSpecJson: this.specJson,
      specHash: this.hash,
      modelVersion: MODEL_VERSION,
      leaseMs: this.leaseMs,
      heartbeatMs: this.heartbeatMs,
      maxMessageBytes: this.maxMessageBytes,
      maxResultsPerBatch: MAX_RESULTS_PER_BATCH,
      done: this.state === 'done',
    });
  }

  // ------------------------------------------------------------------------------------------
  // Work stream

  private work(call: Duplex): void {
    const md = call.metadata;
    const one = (k: string) => {
      const v = md.get(k)[0];
      return typeof v === 'string' ? v : v ? v.toString('utf8') : '';
    };
    const refuse = (code: grpc.status, details: string) => {
      call.on('error', () => {});
      call.emit('error', statusError(code, details));
    };
    if (!sameToken(metadataToken(md), this.opts.token)) return refuse(grpc.status.UNAUTHENTICATED, 'bad or missing token');
    if (one('strata-model-version') !== MODEL_VERSION)
      return refuse(grpc.status.FAILED_PRECONDITION, `model version mismatch: worker has '${one('strata-model-version')}', coordinator has '${MODEL_VERSION}'`);
    if (one('strata-spec-hash') !== this.hash) return refuse(grpc.status.FAILED_PRECONDITION, `run spec hash mismatch: join again (coordinator runs ${this.hash.slice(0, 12)})`);
    const workerId = one('strata-worker-id');
    const k = this.known.get(workerId);
    if (!k) return refuse(grpc.status.FAILED_PRECONDITION, `unknown worker '${workerId}': call Join first`);
    if (this.state === 'draining') return refuse(grpc.status.UNAVAILABLE, 'the coordinator is shutting down');
    if (!this.co) return refuse(grpc.status.UNAVAILABLE, 'the coordinator is opening its run');

    const old = this.sessions.get(workerId);
    if (old) this.closeSession(old, 'replaced by a new stream', true);
    this.joinedAt.delete(workerId);
    const s = new Session(workerId, k.host, k.threads, call, this.hold, this.partsBudget);
    s.commits = k.commits;
    this.sessions.set(workerId, s);
    this.log(`worker ${workerId} connected (${k.threads} threads)`);
    this.sendIncumbent(s);
    if (this.state === 'done') s.out.send({ done: { state: 'done', reason: 'the run is complete' } });

    call.on('data', (m: WorkerMessage) => {
      if (s.closed) return;
      try {
        this.onMessage(s, m);
      } catch (e) {
        this.refuseSession(s, e);
      }
    });
    call.on('end', () => {
      // The worker closed its side: a clean leave.
      this.closeSession(s, 'left', false);
      try {
        call.end();
      } catch {
        /* already closed */
      }
    });
    call.on('error', () => this.closeSession(s, 'stream error', true));
    call.on('cancelled', () => this.closeSession(s, 'cancelled', true));
    call.on('close', () => this.closeSession(s, 'closed', true));
  }

  /** Ends a stream after a refused message: its status carries the reason; the refusal is logged. */
  private refuseSession(s: Session, e: unknown): void {
    const err =
      e instanceof WireError
        ? e
        : e instanceof CommitError
          ? new WireError(grpc.status.INVALID_ARGUMENT, e.message)
          : e instanceof BatchNotApplied
            ? new WireError(/refused/.test(e.message) ? grpc.status.INVALID_ARGUMENT : grpc.status.FAILED_PRECONDITION, e.message)
            : null;
    if (!err) this.log(`internal error on worker ${s.workerId}: ${(e as Error).stack ?? e}`);
    const code = err ? err.code : grpc.status.INTERNAL;
    const msg = err ? err.message : (e as Error).message;
    this.log(`refused a message of worker ${s.workerId}: ${grpc.status[code]}: ${msg}`);
    if (!this.closedDb)
      try {
        logEvent(this.co.run, 'refused', { worker: s.workerId, code: grpc.status[code], message: msg.slice(0, 500) });
      } catch {
        /* the event log is best effort */
      }
    const wasClosed = s.closed;
    this.closeSession(s, `refused: ${msg}`, true);
    if (wasClosed) return;
    s.call.on('error', () => {});
    s.call.emit('error', statusError(code, msg));
  }

  /**
   * A stream ended. Clean leave: its leases go back to the queue. Abnormal end (crash, network,
   * refusal): its leases expire now and are requeued with an attempt counted (the retry limit then
   * fails a subspace that keeps killing workers).
   */
  private closeSession(s: Session, why: string, abnormal: boolean): void {
    if (s.closed) return;
    s.closed = true;
    s.parts.clear();
    s.out.closed = true;
    const k = this.known.get(s.workerId);
    if (k) {
      k.commits = s.commits;
      k.lastSeenMs = s.lastSeenMs;
    }
    if (this.sessions.get(s.workerId) === s) this.sessions.delete(s.workerId);
    this.changed?.();
    if (this.closedDb) return;
    if (this.state === 'done') {
      // The run is complete: nothing is lost whichever way the stream ended; the worker is gone.
      try {
        setWorkerState(this.co.run, s.workerId, 'gone');
      } catch (e) {
        this.log(`closing worker ${s.workerId}: ${(e as Error).message}`);
      }
      return;
    }
    try {
      if (abnormal && s.leases.size > 0) renewLeases(this.co.run, s.workerId, [...s.leases], 0, Date.now());
      else if (s.leases.size > 0) this.co.release(s.workerId);
      setWorkerState(this.co.run, s.workerId, abnormal ? 'lost' : 'gone');
    } catch (e) {
      this.log(`closing worker ${s.workerId}: ${(e as Error).message}`);
    }
    s.leases.clear();
    this.log(`worker ${s.workerId} ${why}`);
    this.scheduleDispatch();
  }

  private onMessage(s: Session, m: WorkerMessage): void {
    s.lastSeenMs = Date.now();
    if (s.lastSeenMs - s.lastTouchMs > 5000) {
      touchWorker(this.co.run, s.workerId, s.lastSeenMs);
      s.lastTouchMs = s.lastSeenMs;
    }
    switch (m.msg) {
      case 'credit':
        this.checkCredit(s, m.credit.n);
        s.credits += m.credit.n;
        this.scheduleDispatch();
        return;
      case 'heartbeat': {
        const ids = m.heartbeat.leaseIds;
        if (ids.length > MAX_CREDITS) throw new WireError(grpc.status.RESOURCE_EXHAUSTED, `heartbeat names ${ids.length} leases (max ${MAX_CREDITS})`);
        if (this.state === 'done') return;
        const { lost } = this.co.renew(s.workerId, ids);
        for (const id of lost) {
          s.leases.delete(id);
          s.parts.drop(id);
        }
        s.out.send({ renewed: { lost } });
        return;
      }
      case 'results': {
        // Credit granted with the results (the slots they freed): checked first, counted once the
        // results are accepted (a refusal ends the stream anyway).
        const n = m.results.credit ?? 0;
        if (n !== 0) this.checkCredit(s, n);
        this.onResults(s, m.results.results);
        if (n > 0 && !s.closed) {
          s.credits += n;
          this.scheduleDispatch();
        }
        return;
      }
      default:
        throw new WireError(grpc.status.INVALID_ARGUMENT, 'empty or unknown message');
    }
  }

  private checkCredit(s: Session, n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new WireError(grpc.status.INVALID_ARGUMENT, `credit ${n} is not a non-negative integer`);
    if (s.credits + n > MAX_CREDITS) throw new WireError(grpc.status.RESOURCE_EXHAUSTED, `credits ${s.credits + n} exceed the limit ${MAX_CREDITS}`);
  }

  private onResults(s: Session, wire: WireResult[]): void {
    if (wire.length > MAX_RESULTS_PER_BATCH)
      throw new WireError(grpc.status.RESOURCE_EXHAUSTED, `${wire.length} results in one batch (max ${MAX_RESULTS_PER_BATCH})`);
    const nObj = this.spec.search.objectives.length;
    // Validate the whole batch before anything is stored.
    const received: { w: WireResult; r: SubspaceResult }[] = [];
    const seen = new Set<string>();
    for (const w of wire) {
      const sid = w.subspaceId;
      if (typeof sid !== 'string' || sid.length > 1000) throw new WireError(grpc.status.INVALID_ARGUMENT, 'bad subspace id');
      const key = (w.parts ?? 0) > 1 ? `${sid}#${w.part}` : sid;
      if (seen.has(key)) throw new WireError(grpc.status.INVALID_ARGUMENT, `subspace '${sid}' appears twice in one batch`);
      seen.add(key);
      let sub;
      try {
        sub = subspaceById(this.co.ctx.space, sid);
      } catch (e) {
        throw new WireError(grpc.status.INVALID_ARGUMENT, `unknown subspace '${sid}': ${(e as Error).message}`);
      }
      received.push({ w, r: resultFromWire(w, sub, nObj) });
    }
    if (this.state === 'done') return;
    // Each must be leased to this worker now, and not be in a result already received (and not yet
    // written). A late or duplicate one (done already, expired, reassigned) is no error: commits are
    // idempotent, so it changes nothing and is acknowledged as not applied; the stream and the
    // worker's other leases carry on. The parts of a late result held so far are dropped.
    const sids = [...new Set(received.map(({ r }) => r.subspaceId))];
    const late = new Set([...sids.filter((id) => this.stagedIds.has(id)), ...notLeasedTo(this.co.run, s.workerId, sids)]);
    if (late.size > 0) {
      for (const id of late) {
        s.leases.delete(id);
        s.parts.drop(id);
        this.ackLater(s, id, false);
      }
      this.log(`worker ${s.workerId}: ${late.size} late or duplicate result(s) not applied (first '${[...late][0]}')`);
      this.scheduleTurn();
    }
    // A result in parts is whole with its last part (ResultParts refuses parts that do not make one).
    const fresh: SubspaceResult[] = [];
    for (const { w, r } of received) {
      const whole = late.has(r.subspaceId) ? null : s.parts.add(w, r);
      if (whole) fresh.push(whole);
    }
    if (fresh.length === 0) return;
    const ids = fresh.map((r) => r.subspaceId);
    // Fully validated and merged now (a bad message throws here: refused, nothing of it kept); written
    // with the other results of this event-loop turn in one transaction by flush(), then acknowledged.
    const front = this.co.archive.entries;
    this.co.stageGroup(s.workerId, fresh);
    // A better front prunes every worker's searches: its turn (and broadcast) is not held back.
    if (this.co.archive.entries !== front) this.frontChanged = true;
    for (const id of ids) {
      s.leases.delete(id);
      this.stagedIds.add(id);
    }
    this.unacked.push({ s, ids });
    this.scheduleFlush();
  }

  // ------------------------------------------------------------------------------------------
  // Group commit

  /** Subspaces of the staged results (received, validated, not yet written). */
  private readonly stagedIds = new Set<string>();
  /** Per staged group (same order as the coordinator's): its stream and subspaces, acked once written. */
  private unacked: { s: Session; ids: string[] }[] = [];

  private scheduleFlush(): void {
    this.scheduleTurn();
  }

  /**
   * Writes the results staged since the last flush in one transaction; each stream gets its ack only
   * now that its commit is durable. A group the batch write refuses (not expected after the
   * validation: e.g. a subspace split meanwhile) ends only its own stream; the others commit.
   */
  private flush(): void {
    this.lastTurnGroups = this.unacked.length;
    if (this.unacked.length === 0 || this.closedDb) return;
    const groups = this.unacked;
    this.unacked = [];
    const res = this.co.flushStaged();
    this.stagedIds.clear();
    groups.forEach((g, i) => {
      const r = res[i] ?? null;
      if (r instanceof Error) {
        // Its leases (still held unless done meanwhile) expire with the stream, like any refusal's.
        for (const id of g.ids) g.s.leases.add(id);
        return this.refuseSession(g.s, r);
      }
      // Late (done or split between the lease check and the write): not applied, as at receipt.
      const late = r ? new Set(r.late) : null;
      if (late) this.log(`worker ${g.s.workerId}: ${late.size} late result(s) not applied at the write (first '${r!.late[0]}')`);
      let n = 0;
      for (const id of g.ids) {
        const applied = !late?.has(id);
        if (applied) n++;
        this.ackLater(g.s, id, applied);
      }
      g.s.commits += n;
      this.commits += n;
      const k = this.known.get(g.s.workerId);
      if (k && g.s.closed) k.commits = g.s.commits;
    });
    this.broadcastIncumbent();
  }

  /**
   * Acks of written results not sent yet, per stream: in a turn, the lease round that follows the
   * flush sends them with the stream's new leases (one message); sendAcks sends the others.
   */
  private readonly acks = new Map<Session, { ids: string[]; applied: boolean[] }>();

  /** Queues the ack of one result: applied (written now), or not (a late or duplicate commit). */
  private ackLater(s: Session, id: string, applied: boolean): void {
    let a = this.acks.get(s);
    if (!a) this.acks.set(s, (a = { ids: [], applied: [] }));
    a.ids.push(id);
    a.applied.push(applied);
  }

  private sendAcks(): void {
    for (const [s, a] of this.acks) s.out.send({ ack: { subspaceIds: a.ids, applied: a.applied } });
    this.acks.clear();
  }

  // ------------------------------------------------------------------------------------------
  // Incumbent

  private wireIncumbent(): { points: WirePoint[]; top: WirePoint[] } {
    const s = this.co.snapshot();
    return { points: pointsToWire(s.front), top: pointsToWire(s.top) };
  }

  private setIncumbent(): void {
    this.incumbent = this.wireIncumbent();
    this.incumbentVersion++;
    this.frontVersion = this.incumbentVersion;
  }

  private sendIncumbent(s: Session): void {
    if (s.sentVersion === this.incumbentVersion) return;
    s.sentVersion = this.incumbentVersion;
    s.sentFront = this.frontVersion;
    s.sentMs = performance.now();
    s.out.send({ incumbent: { version: this.incumbentVersion, ...this.incumbent } });
  }

  /**
   * The incumbent to a stream that gets leases (or on the tick): at once when its front is not the
   * latest (the front prunes), else when only the top-K lists changed, at most every TOP_BROADCAST_MS
   * (a stale list only lets the worker send back a few designs more).
   */
  private sendIncumbentIfDue(s: Session, now = performance.now()): void {
    if (s.sentVersion === this.incumbentVersion) return;
    if (s.sentFront === this.frontVersion && now - s.sentMs < TOP_BROADCAST_MS) return;
    this.sendIncumbent(s);
  }

  /**
   * After a flush: a change of the front (which prunes) goes out to every stream at once. A change of
   * the top-K lists alone goes to each stream with its next leases (sendIncumbentIfDue) or on the
   * tick: with hundreds of streams and lists that can change at every commit, a broadcast was a
   * message per stream per change.
   */
  private broadcastIncumbent(): void {
    const prev = this.incumbent;
    const next = this.wireIncumbent();
    const same = (a: WirePoint[], b: WirePoint[]) => a.length === b.length && a.every((p, i) => p.id === b[i]!.id);
    const frontSame = same(prev.points, next.points);
    if (frontSame && same(prev.top, next.top)) return;
    this.incumbent = next;
    this.incumbentVersion++;
    if (frontSame) return;
    this.frontVersion = this.incumbentVersion;
    for (const s of this.sessions.values()) this.sendIncumbent(s);
  }

  // ------------------------------------------------------------------------------------------
  // Dispatch

  private scheduleDispatch(): void {
    if (this.state !== 'running') return;
    this.scheduleTurn();
  }

  /**
   * One turn: write the staged results (flush) then lease (dispatch), in one transaction. When:
   * - at once when the load is light (the last turn wrote fewer than 4 groups) and a worker may run
   *   out of work (someoneHungry: its leases come without waiting) or a staged result changed the
   *   front (its broadcast prunes every worker's searches);
   * - under load, groupCommitMs after the last turn: the results of many streams share one
   *   transaction and one lease round;
   * - at light load with every worker still holding leases to search, LIGHT_TURN_FACTOR x
   *   groupCommitMs after the last turn (100 ms at the default): such a worker loses nothing by its
   *   ack coming later, and the coordinator pays one transaction (~2-3 ms here, most of it fixed) for
   *   several results instead of one each. Measured on `small` (then named quick) widened to
   *   1.2x10^6 points, 2 workers: 740 -> 180 turns, coordinator CPU 4.9 -> 3.5 s. A worker that gets
   *   hungry meanwhile brings the turn forward.
   */
  private scheduleTurn(): void {
    if (this.closedDb) return;
    const now = performance.now();
    const light = this.lastTurnGroups < 4;
    const due = light && (this.frontChanged || this.someoneHungry()) ? now : this.lastTurnMs + this.groupCommitMs * (light ? LIGHT_TURN_FACTOR : 1);
    if (this.turnQueued) {
      if (due >= this.turnDue) return;
      if (this.turnTimer) clearTimeout(this.turnTimer);
      this.turnTimer = null;
    }
    this.turnQueued = true;
    this.turnDue = due;
    // A turn brought forward cancels its timer: one run per queued turn.
    const run = () => {
      this.turnTimer = null;
      this.turnQueued = false;
      this.frontChanged = false;
      this.lastTurnMs = performance.now();
      this.turns++;
      try {
        if (this.state === 'running') this.dispatch();
        else this.flush();
      } finally {
        this.sendAcks();
      }
    };
    if (due <= now) setImmediate(run);
    else this.turnTimer = setTimeout(run, due - now);
  }

  /**
   * Some worker may soon have a thread without work: it asks for leases (credits) and holds no more
   * than it is searching now. The run not running (draining, done): every turn counts.
   */
  private someoneHungry(): boolean {
    if (this.state !== 'running') return true;
    for (const s of this.sessions.values()) if (s.credits > 0 && s.leases.size <= s.threads) return true;
    return false;
  }

  /**
   * Runs fn in one IMMEDIATE transaction; the messages it sends go out once it is committed (none if
   * it throws).
   */
  private inTransaction(fn: () => void): void {
    if (this.hold.q) return fn(); // nested
    const q: [Outbox, CoordinatorMessage][] = [];
    this.hold.q = q;
    try {
      this.tx(fn);
    } catch (e) {
      q.length = 0;
      throw e;
    } finally {
      this.hold.q = null;
      for (const [o, m] of q) o.send(m);
    }
  }

  private txWrapper: ((f: () => void) => void) & { immediate: (f: () => void) => void } | null = null;
  private tx(fn: () => void): void {
    (this.txWrapper ??= this.co.db.transaction((f: () => void) => f()) as never).immediate(fn);
  }

  private dispatch(): void {
    if (this.state !== 'running' || this.closedDb) return;
    // One transaction per turn: the results received (flush), then the leases of the round (each
    // leaseNext is a savepoint in it). What is leased (and pruned at lease time) sees the results;
    // their acks and the leases go out once it is committed.
    let leaseError: unknown = null;
    this.inTransaction(() => {
      this.flush();
      if (this.co.finished()) {
        this.sendAcks();
        this.finish('done', 'the run is complete');
        return;
      }
      try {
        this.leaseRound();
      } catch (e) {
        // Not expected. The commits of this turn stay (and their acks go out), as when the lease
        // round had a transaction of its own; then the error goes on.
        leaseError = e;
      }
    });
    if (leaseError) throw leaseError;
  }

  private leaseRound(): void {
    let hungry = 0;
    let demand = 0;
    const asking: Session[] = [];
    for (const s of this.sessions.values()) {
      demand += s.credits + s.threads;
      if (s.credits > 0 && !s.out.blocked) asking.push(s);
    }
    // Leasing expires the overdue leases first; with no worker asking, they expire here all the same
    // (a worker that stopped heartbeating must lose its leases even when the others are busy).
    if (asking.length === 0) this.co.expire();
    const got = asking.length > 0 ? this.co.leaseMany(asking.map((s) => ({ owner: s.workerId, n: Math.min(s.credits, 64) }))) : [];
    if (this.co.finished()) {
      this.broadcastIncumbent();
      this.sendAcks();
      this.finish('done', 'the run is complete');
      return;
    }
    asking.forEach((s, i) => {
      const ls = got[i]!;
      if (ls.length === 0) {
        hungry++;
        return;
      }
      s.credits -= ls.length;
      for (const l of ls) s.leases.add(l.id);
      this.sendIncumbentIfDue(s);
      const leases = ls.map((l) => ({ subspaceId: l.id, first: l.first.toString(), size: l.size.toString(), expiresMs: l.expiresMs, attempts: l.attempts }));
      const acked = this.acks.get(s);
      if (acked) {
        // With the ack of this turn's commits: one message.
        this.acks.delete(s);
        s.out.send({ ack: { subspaceIds: acked.ids, applied: acked.applied, leases } });
      } else s.out.send({ leases: { leases } });
      if (s.credits > 0) hungry++;
    });
    // Adaptive splitting: keep at least a round of work queued for every worker's threads.
    const now = Date.now();
    if (demand > 0 && (hungry > 0 || now - this.lastSplitCheck > 250)) {
      this.lastSplitCheck = now;
      const queued = this.countQueued.get(this.co.run.id) as number;
      if (queued < demand) {
        const n = this.co.splitQueued(demand);
        if (n > 0) {
          this.splits += n;
          this.log(`split ${n} subspace(s) finer (queue ${queued}, demand ${demand})`);
          if (hungry > 0) this.scheduleDispatch();
        }
      }
    }
  }

  private lastProgressMs = 0;

  /** One progress line: points accounted of the space, rate over the last minute, ETA, best, workers. */
  progressLine(): string {
    const st = this.statusReply();
    const size = BigInt(st.spaceSize);
    const acc = BigInt(st.accounted);
    const pct = size > 0n ? Number((acc * 1_000_000n) / size) / 10_000 : 100;
    const best = this.co.archive.entries[0];
    const o = this.spec.search.objectives[0]!;
    return (
      `progress: ${fmtBig(acc)} of ${fmtBig(size)} points (${pct.toFixed(4)}%), ${st.ratePointsPerS.toExponential(2)}/s, ` +
      `ETA ${st.etaS < 0 ? '-' : `${st.etaS.toFixed(0)} s`}, best ${bestLabel(best, o)}, ` +
      `${this.sessions.size} worker(s) connected`
    );
  }

  private tick(): void {
    if (this.state !== 'running' || this.closedDb) return;
    const now = Date.now();
    this.samples.push({ t: now, accounted: this.co.progress.accounted });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 60_000) this.samples.shift();
    const every = this.opts.progressEveryMs;
    if (every !== undefined && now - this.lastProgressMs >= every) {
      this.lastProgressMs = now;
      this.log(this.progressLine());
    }
    try {
      this.dispatch();
    } finally {
      this.sendAcks();
    }
    if (this.state !== 'running') return;
    // Top-K changes to the streams that got no lease since (a long search): on the tick.
    const t = performance.now();
    for (const s of this.sessions.values()) this.sendIncumbentIfDue(s, t);
    // Stuck: nothing queued, nothing leased, not complete: failed subspaces (retry limit reached).
    const queued = this.countQueued.get(this.co.run.id) as number;
    const leased = this.countLeased.get(this.co.run.id) as number;
    if (queued === 0 && leased === 0 && !this.co.finished()) {
      const failed = this.co.db
        .prepare(`SELECT id, fail_reason FROM subspaces WHERE run_id = ? AND state = 'failed' LIMIT 5`)
        .all(this.co.run.id) as { id: string; fail_reason: string }[];
      this.finish('failed', `subspaces failed: ${failed.map((f) => `'${f.id}' (${f.fail_reason})`).join('; ')}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Status

  private rate(): number {
    const a = this.samples[0];
    const now = Date.now();
    if (!a || now - a.t < 500) return 0;
    return Number(this.co.progress.accounted - a.accounted) / ((now - a.t) / 1000);
  }

  statusReply(): StatusReply {
    const p = this.co.progress;
    const rate = this.rate();
    const remaining = p.size - p.accounted;
    const workers = new Map<string, StatusReply['workers'][number]>();
    for (const [id, k] of this.known)
      workers.set(id, { id, host: k.host, threads: k.threads, leases: 0, commits: k.commits, lastSeenMs: k.lastSeenMs, connected: false });
    for (const s of this.sessions.values())
      workers.set(s.workerId, { id: s.workerId, host: s.host, threads: s.threads, leases: s.leases.size, commits: s.commits, lastSeenMs: s.lastSeenMs, connected: true });
    return {
      specHash: this.hash,
      state: this.state,
      accounted: p.accounted.toString(),
      spaceSize: p.size.toString(),
      evaluated: p.evaluated.toString(),
      prunedBound: p.prunedBound.toString(),
      prunedDominance: p.prunedDominance.toString(),
      infeasible: p.infeasible.toString(),
      subspacesDone: p.done,
      subspacesTotal: p.total,
      leased: this.closedDb ? 0 : (this.countLeased.get(this.co.run.id) as number),
      ratePointsPerS: rate,
      etaS: remaining === 0n ? 0 : rate > 0 ? Number(remaining) / rate : -1,
      workers: [...workers.values()],
      front: pointsToWire(this.co.archive.sorted()),
      objectives: this.spec.search.objectives.join(','),
      uptimeS: (Date.now() - this.started) / 1000,
      commits: this.commits,
      splits: this.splits,
    };
  }

  private statusRpc(call: grpc.ServerUnaryCall<unknown, StatusReply>, cb: grpc.sendUnaryData<StatusReply>): void {
    if (!sameToken(metadataToken(call.metadata), this.opts.token)) return cb(statusError(grpc.status.UNAUTHENTICATED, 'bad or missing token'));
    if (!this.co) return cb(statusError(grpc.status.UNAVAILABLE, 'the coordinator is opening its run'));
    try {
      cb(null, this.statusReply());
    } catch (e) {
      cb(statusError(grpc.status.INTERNAL, (e as Error).message));
    }
  }

  // ------------------------------------------------------------------------------------------
  // End of the run and shutdown

  private finish(state: 'done' | 'failed', reason: string): void {
    if (this.state === 'done' || this.state === 'failed') return;
    this.state = state;
    this.log(`run ${state}: ${reason}`);
    for (const s of this.sessions.values()) s.out.send({ done: { state, reason } });
    if (state === 'failed') {
      try {
        updateRun(this.co.run, { state: 'failed' });
      } catch {
        /* best effort */
      }
    }
    this.outcomeResolve(state);
  }

  /** Workers still connected. */
  connected(): number {
    return this.sessions.size;
  }

  /** Leases held by connected workers. */
  inFlight(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.leases.size;
    return n;
  }

  private closedDb = false;

  /** Wakes nextChange: a stream closed (the end of the run waits for the last one, not a poll period). */
  private changed: (() => void) | null = null;
  private nextChange(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (this.changed === done) this.changed = null;
        resolve();
      };
      const t = setTimeout(done, maxMs);
      this.changed = done;
    });
  }

  /**
   * Graceful shutdown: no more leases (workers are told to drain), wait for the in-flight results up to
   * the drain timeout (or, after the run is done, for the workers to leave up to the linger time), then
   * stop the server and close the database. Safe to call twice.
   */
  private shutdownP: Promise<void> | null = null;
  shutdown(): Promise<void> {
    return (this.shutdownP ??= this.doShutdown());
  }

  private async doShutdown(): Promise<void> {
    const finished = this.state === 'done' || this.state === 'failed';
    if (!finished) {
      this.state = 'draining';
      this.health.setStatus('', 'NOT_SERVING');
      this.health.setStatus(HEALTH_SERVICE, 'NOT_SERVING');
      for (const s of this.sessions.values()) s.out.send({ drain: {} });
      const until = Date.now() + (this.opts.drainTimeoutMs ?? 30_000);
      while (this.inFlight() > 0 && Date.now() < until && !this.co.finished()) await sleep(50);
      this.outcomeResolve('interrupted');
    } else {
      const until = Date.now() + (this.opts.lingerMs ?? 5_000);
      // Also for workers that joined but have not opened their Work stream yet (a worker starts its
      // search threads between the two): they hear `done` on it instead of finding no coordinator.
      const opening = () => [...this.joinedAt].some(([id, t]) => !this.sessions.has(id) && Date.now() - t < 60_000);
      while ((this.sessions.size > 0 || opening()) && Date.now() < until) await this.nextChange(50);
    }
    if (this.ticker) clearInterval(this.ticker);
    const open = [...this.sessions.values()];
    // Streams still open: their workers are marked gone (and any leases released) while the database is open.
    for (const s of open) this.closeSession(s, 'the coordinator stopped', false);
    for (const s of open) {
      try {
        s.call.end();
      } catch {
        /* gone */
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.flush(); // results received and validated are written before the database closes
    this.sendAcks();
    this.closedDb = true;
    this.co.close();
  }
}

/** At light load with no worker hungry, a turn waits this many groupCommitMs (scheduleTurn). */
const LIGHT_TURN_FACTOR = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a coordinator until the run is done (or failed, or a signal): the `strata coordinator` command. */
export async function runCoordinator(
  dbFile: string,
  spec: RunSpec,
  opts: ServerOptions,
  onListening?: (port: number, server: CoordinatorServer) => void,
): Promise<{ outcome: Outcome; server: CoordinatorServer }> {
  const server = new CoordinatorServer(dbFile, spec, opts);
  const port = await server.start();
  onListening?.(port, server);
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    opts.log?.('signal: draining (no more leases), waiting for in-flight results');
    void server.shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await server.outcome;
    await server.shutdown();
    return { outcome, server };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
