// The single writer (DESIGN 4.1-4.3). Only the coordinator (embedded `strata search` or the gRPC
// coordinator) calls these functions, on the connection returned by openWriteDb; workers never touch
// SQLite. Every function is one SQLite transaction, so a crash at any moment leaves either all of it
// or none of it.
//
// Idempotence: a subspace's kept designs and its `done` state are written in one transaction keyed
// by (run, subspace). A duplicate or late commit for a subspace already done changes nothing and
// returns { applied: false }: the effect is exactly once.
//
// Coverage: subspaces inserted by ensureSubspaces/splitSubspace never overlap (their ids are tree
// paths; an insert whose ancestor or descendant is already present and not `split` is refused), and a
// commit is refused unless evaluated + prunedBound + prunedDominance + infeasible == size exactly.
// Hence the sum over `done` subspaces equals the space size when every live subspace is done.
import { ConfigError } from '../model/errors.js';
import { ensureObjectiveIndexes, type Db } from './db.js';
import { addReasons, canonicalJson, reasonsJson, sha256, strictJson, toBig, type BigLike } from './bigint.js';
import {
  KEPT,
  KEY_COLUMNS,
  KEYS,
  OBJECTIVE_CAMEL,
  OBJECTIVES,
  type KeptAs,
  type KeyColumn,
  type ObjectiveColumn,
  type RunRow,
  type RunState,
  type SubspaceState,
  type WorkerState,
} from './schema.js';

export type { BigLike } from './bigint.js';

// ----------------------------------------------------------------------------------------------
// Types

/** What identifies a run. Everything here is hashed: a change of any of it is a different run. */
export interface RunSpecInput {
  /** The run spec as plain JSON (space config, workload, objectives, constraints, options). */
  spec: unknown;
  /** MODEL_VERSION of the evaluator: results of two model versions are never mixed. */
  modelVersion: string;
  /** Objective(s), e.g. `tokens_per_s_per_w` or `tokens_per_s_per_w,tpot_s` for a Pareto run. */
  objective: string;
  /** Exact size of the space. */
  spaceSize: BigLike;
  workers?: number;
}

/** An open run: the handle every writer function takes. */
export interface Run {
  readonly db: Db;
  readonly id: number;
  readonly specHash: string;
  /** 0 for the first run of a spec; +1 for every `--new-run` of the same spec. */
  readonly epoch: number;
  readonly spec: unknown;
  readonly modelVersion: string;
  readonly objective: string;
  readonly spaceSize: bigint;
  /** State when opened (a resumed run may already be done). */
  readonly state: RunState;
  /** True when an existing run was resumed. */
  readonly resumed: boolean;
}

export interface SubspaceInput {
  /** Stable path id, e.g. `memory=3/compute=12` ('' for the root). */
  id: string;
  /** First point id; the points are [first, first + size). */
  first: BigLike;
  size: BigLike;
  depth: number;
  /** Larger is leased first (e.g. the optimistic bound); ties in insertion order. Default 0. */
  priority?: number;
}

export interface Lease {
  id: string;
  first: bigint;
  size: bigint;
  depth: number;
  /** Number of earlier leases of this subspace that expired. */
  attempts: number;
  expiresMs: number;
}

export interface Counts {
  evaluated: BigLike;
  prunedBound: BigLike;
  prunedDominance: BigLike;
  infeasible: BigLike;
}

/** A kept design point. */
export interface DesignRow {
  pointId: BigLike;
  /** Why it is kept: pareto, topk, subspace-best (one, several, or the bit flags of KEPT). */
  keptAs: KeptAs | readonly KeptAs[] | number;
  /** Objective values by column name (`tokens_per_s_per_w`) or camelCase (`tokensPerSPerW`). Must be finite. */
  objectives: Partial<Record<string, number | null>>;
  /** The point's dim values (JSON). */
  params: Record<string, unknown>;
  /**
   * Key columns for `best --where`. The coordinator passes all of them, derived from the design's
   * applied system, precision and mapping (src/search/keys.ts, which defines what each one means).
   * Missing ones (direct callers of the store) are taken from `params` by column name, its camelCase,
   * and for tp/pp/dp/sp/ep from the first object-valued param that has a numeric `tp` (the mapping).
   */
  columns?: Partial<Record<KeyColumn, number | string | null>>;
  /** The full evaluation (JSON; bigints are written as strings; non-finite numbers are refused). */
  metrics?: unknown;
  /**
   * The full evaluation already serialised as JSON (e.g. as received from a worker): stored as is,
   * without a JS stringify on the single writer's thread. validateCommit checks it with SQLite's JSON
   * parser (valid JSON, an object); anything else refuses the commit. Takes precedence over `metrics`.
   */
  metricsJson?: string;
}

/** Replace the archive (array) or change it (add/remove). Point ids must be stored designs. */
export type ArchiveUpdate = readonly BigLike[] | { add?: readonly BigLike[]; remove?: readonly BigLike[] };

export interface CommitInput {
  counts: Counts;
  /** reason -> count; must sum to counts.infeasible. Omitted: `{ unspecified: infeasible }` (or {}). */
  infeasibleByReason?: Record<string, BigLike>;
  results: readonly DesignRow[];
  /** Best point of the subspace (default: the first result flagged subspace-best). */
  bestPointId?: BigLike | null;
}

export interface CommitItem extends CommitInput {
  subspaceId: string;
  leaseOwner?: string;
}

export interface CommitResult {
  subspaceId: string;
  applied: boolean;
  /** Why nothing was applied: already done, split into children, or refused (see error). */
  reason?: 'done' | 'split' | 'refused';
  error?: string;
}

/** A commit refused by validation: nothing was written. */
export class CommitError extends Error {
  constructor(
    readonly subspaceId: string,
    readonly code: 'unknown-subspace' | 'counts' | 'reasons' | 'point-range' | 'duplicate-point' | 'bad-row' | 'archive',
    message: string,
  ) {
    super(`commit of subspace '${subspaceId}' refused (${code}): ${message}`);
    this.name = 'CommitError';
  }
}

/** A refused change of the subspace set (overlap, mismatch with the stored range, bad split). */
export class SubspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubspaceError';
  }
}

// ----------------------------------------------------------------------------------------------
// Prepared statements (one set per connection)

interface SubRow {
  id: string;
  first_point: string;
  size: string;
  depth: number;
  state: SubspaceState;
  lease_owner: string | null;
  lease_expires_ms: number | null;
  attempts: number;
}

function prepare(db: Db) {
  const designCols = ['run_id', 'point_id', 'subspace_id', 'kept_as', ...OBJECTIVES, ...KEYS, 'params_json', 'metrics_json'];
  return {
    runByHash: db.prepare(`SELECT * FROM runs WHERE spec_hash = ? ORDER BY epoch DESC LIMIT 1`),
    anyRun: db.prepare(`SELECT id, spec_hash FROM runs ORDER BY id DESC LIMIT 1`),
    insertRun: db.prepare(
      `INSERT INTO runs (spec_json, spec_hash, epoch, model_version, objective, created_ms, updated_ms, state, space_size, workers)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
    ),
    touchRun: db.prepare(`UPDATE runs SET updated_ms = ? WHERE id = ?`),
    runTotals: db.prepare(`SELECT evaluated, pruned_bound, pruned_dominance, infeasible, infeasible_by_reason_json FROM runs WHERE id = ?`),
    setTotals: db.prepare(
      `UPDATE runs SET evaluated = ?, pruned_bound = ?, pruned_dominance = ?, infeasible = ?, infeasible_by_reason_json = ?, updated_ms = ? WHERE id = ?`,
    ),
    getSub: db.prepare(
      `SELECT id, first_point, size, depth, state, lease_owner, lease_expires_ms, attempts FROM subspaces WHERE run_id = ? AND id = ?`,
    ),
    jsonObject: db.prepare(`SELECT CASE WHEN json_valid(j) THEN (CASE WHEN json_type(j) = 'object' THEN 1 ELSE 2 END) ELSE 0 END FROM (SELECT ? AS j)`).pluck(),
    leaseOf: db.prepare(`SELECT state, lease_owner FROM subspaces WHERE run_id = ? AND id = ?`),
    descendant: db.prepare(`SELECT id FROM subspaces WHERE run_id = ? AND id >= ? AND id < ? LIMIT 1`),
    anyNonRoot: db.prepare(`SELECT id FROM subspaces WHERE run_id = ? AND id <> '' LIMIT 1`),
    insertSub: db.prepare(
      `INSERT INTO subspaces (run_id, id, parent_id, first_point, size, depth, priority) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    queued: db.prepare(
      `SELECT id, first_point, size, depth, attempts FROM subspaces WHERE run_id = ? AND state = 'queued' ORDER BY priority DESC, rowid LIMIT ?`,
    ),
    lease: db.prepare(`UPDATE subspaces SET state = 'leased', lease_owner = ?, lease_expires_ms = ? WHERE run_id = ? AND id = ? AND state = 'queued'`),
    expired: db.prepare(
      `SELECT id, attempts, lease_owner FROM subspaces WHERE run_id = ? AND state = 'leased' AND lease_expires_ms <= ? ORDER BY lease_expires_ms, rowid`,
    ),
    requeueOne: db.prepare(
      `UPDATE subspaces SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL, attempts = ? WHERE run_id = ? AND id = ?`,
    ),
    failOne: db.prepare(
      `UPDATE subspaces SET state = 'failed', lease_owner = NULL, lease_expires_ms = NULL, attempts = ?, fail_reason = ? WHERE run_id = ? AND id = ?`,
    ),
    renew: db.prepare(
      `UPDATE subspaces SET lease_expires_ms = ? WHERE run_id = ? AND id = ? AND state = 'leased' AND lease_owner = ?`,
    ),
    releaseOne: db.prepare(
      `UPDATE subspaces SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL WHERE run_id = ? AND id = ? AND state = 'leased' AND lease_owner = ?`,
    ),
    releaseOwner: db.prepare(
      `UPDATE subspaces SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL WHERE run_id = ? AND state = 'leased' AND lease_owner = ?`,
    ),
    requeueAll: db.prepare(
      `UPDATE subspaces SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL WHERE run_id = ? AND state = 'leased'`,
    ),
    retryFailed: db.prepare(`UPDATE subspaces SET state = 'queued', attempts = 0, fail_reason = NULL WHERE run_id = ? AND state = 'failed'`),
    markDone: db.prepare(
      `UPDATE subspaces SET state = 'done', lease_owner = NULL, lease_expires_ms = NULL, fail_reason = NULL,
         evaluated = ?, pruned_bound = ?, pruned_dominance = ?, infeasible = ?, infeasible_by_reason_json = ?,
         best_point_id = ?, committed_by = ?, done_ms = ?
       WHERE run_id = ? AND id = ? AND state IN ('queued', 'leased', 'failed')`,
    ),
    markSplit: db.prepare(
      `UPDATE subspaces SET state = 'split', lease_owner = NULL, lease_expires_ms = NULL WHERE run_id = ? AND id = ? AND state IN ('queued', 'failed')`,
    ),
    insertChild: db.prepare(
      `INSERT INTO subspaces (run_id, id, parent_id, first_point, size, depth, priority) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertDesign: db.prepare(`INSERT INTO designs (${designCols.join(', ')}) VALUES (${designCols.map(() => '?').join(', ')})`),
    archiveClear: db.prepare(`DELETE FROM archive WHERE run_id = ?`),
    archiveAdd: db.prepare(`INSERT OR IGNORE INTO archive (run_id, point_id) VALUES (?, ?)`),
    archiveRemove: db.prepare(`DELETE FROM archive WHERE run_id = ? AND point_id = ?`),
    archiveIds: db.prepare(`SELECT point_id FROM archive WHERE run_id = ? ORDER BY length(point_id), point_id`),
    event: db.prepare(`INSERT INTO events (run_id, ts_ms, kind, detail_json) VALUES (?, ?, ?, ?)`),
    upsertWorker: db.prepare(
      `INSERT INTO workers (id, run_id, host, threads, joined_ms, last_seen_ms, state) VALUES (?, ?, ?, ?, ?, ?, 'active')
       ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, host = excluded.host, threads = excluded.threads,
         joined_ms = excluded.joined_ms, last_seen_ms = excluded.last_seen_ms, state = 'active'`,
    ),
    touchWorker: db.prepare(`UPDATE workers SET last_seen_ms = ? WHERE id = ?`),
    countWorkers: db.prepare(`UPDATE runs SET workers = (SELECT count(*) FROM workers WHERE run_id = ?) WHERE id = ?`),
    atLeastWorkers: db.prepare(`UPDATE runs SET workers = max(workers, ?) WHERE id = ?`),
    workerState: db.prepare(`UPDATE workers SET state = ?, last_seen_ms = ? WHERE id = ?`),
  };
}
type Stmts = ReturnType<typeof prepare>;

const cache = new WeakMap<Db, Stmts>();
function st(db: Db): Stmts {
  let s = cache.get(db);
  if (!s) {
    s = prepare(db);
    cache.set(db, s);
  }
  return s;
}

/**
 * Runs fn in one IMMEDIATE transaction (a savepoint when already inside one). The wrapper is created once
 * per connection: better-sqlite3's db.transaction(fn) builds four wrappers per call, which costs more than
 * a small transaction itself on the coordinator's hot path (leases, renewals, commits).
 */
const runners = new WeakMap<Db, { immediate: (f: () => unknown) => unknown }>();
function immediate<T>(db: Db, fn: () => T): T {
  let r = runners.get(db);
  if (!r) {
    r = db.transaction((f: () => unknown) => f()) as unknown as { immediate: (f: () => unknown) => unknown };
    runners.set(db, r);
  }
  return r.immediate(fn) as T;
}

// ----------------------------------------------------------------------------------------------
// Runs

/** sha256 of the canonical JSON of everything that identifies a run. */
export function specHash(input: RunSpecInput): string {
  return sha256(
    canonicalJson({
      spec: input.spec,
      modelVersion: input.modelVersion,
      objective: input.objective,
      spaceSize: toBig(input.spaceSize, 'spaceSize').toString(),
    }),
  );
}


function runFrom(db: Db, r: RunRow, resumed: boolean): Run {
  return {
    db,
    id: r.id,
    specHash: r.spec_hash,
    epoch: r.epoch,
    spec: JSON.parse(r.spec_json) as unknown,
    modelVersion: r.model_version,
    objective: r.objective,
    spaceSize: BigInt(r.space_size),
    state: r.state,
    resumed,
  };
}

/**
 * Opens the run of `input`: the same spec hash resumes the existing run (the latest one of that
 * spec); a database already holding a different run is refused with a ConfigError on `--db` unless
 * `newRun`, which starts a new run and keeps the old ones.
 */
export function openRun(db: Db, input: RunSpecInput, opts: { newRun?: boolean; nowMs?: number } = {}): Run {
  const s = st(db);
  const hash = specHash(input);
  const now = opts.nowMs ?? Date.now();
  const size = toBig(input.spaceSize, 'spaceSize');
  const run = db
    .transaction((): Run => {
      const same = s.runByHash.get(hash) as RunRow | undefined;
      if (same && !opts.newRun) {
        s.touchRun.run(now, same.id);
        s.event.run(same.id, now, 'resume', JSON.stringify({ state: same.state }));
        return runFrom(db, same, true);
      }
      const other = s.anyRun.get() as { id: number; spec_hash: string } | undefined;
      if (other && !same && !opts.newRun) {
        throw new ConfigError(
          '--db',
          db.name,
          `a database of the same run spec, or --new-run (it holds run ${other.id} of spec ${other.spec_hash.slice(0, 12)}, this spec is ${hash.slice(0, 12)})`,
        );
      }
      const info = s.insertRun.run(
        canonicalJson(input.spec),
        hash,
        same ? same.epoch + 1 : 0,
        input.modelVersion,
        input.objective,
        now,
        now,
        size.toString(),
        Math.max(0, Math.floor(input.workers ?? 0)),
      );
      const id = Number(info.lastInsertRowid);
      s.event.run(id, now, 'start', JSON.stringify({ specHash: hash, epoch: same ? same.epoch + 1 : 0 }));
      return runFrom(db, db.prepare(`SELECT * FROM runs WHERE id = ?`).get(id) as RunRow, false);
    })
    .immediate();
  ensureObjectiveIndexes(db, run.state === 'running' ? objectivesOf(run.objective) : OBJECTIVES);
  return run;
}

/** The objective columns named in a run's objective string (`tokens_per_s_per_w,tpot_s`; camelCase accepted). */
export function objectivesOf(objective: string): ObjectiveColumn[] {
  const out: ObjectiveColumn[] = [];
  for (const part of objective.split(/[,+\s]+/)) {
    const p = part.toLowerCase();
    const c = OBJECTIVES.find((o) => o === p || OBJECTIVE_CAMEL[o].toLowerCase() === p);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

/** Updates the run: state (running|done|failed), wall time added by this session, worker count. */
export function updateRun(run: Run, u: { state?: RunState; addWallS?: number; workers?: number; nowMs?: number }): void {
  const now = u.nowMs ?? Date.now();
  run.db
    .prepare(
      `UPDATE runs SET state = coalesce(?, state), wall_s = wall_s + ?, workers = coalesce(?, workers), updated_ms = ? WHERE id = ?`,
    )
    .run(u.state ?? null, u.addWallS ?? 0, u.workers ?? null, now, run.id);
  if (u.state) st(run.db).event.run(run.id, now, 'state', JSON.stringify({ state: u.state }));
  if (u.state === 'done' || u.state === 'failed') ensureObjectiveIndexes(run.db);
}

/** Appends an event (kind, JSON detail). */
export function logEvent(run: Run, kind: string, detail: unknown = {}, nowMs = Date.now()): void {
  st(run.db).event.run(run.id, nowMs, kind, strictJson(detail, 'event detail'));
}

// ----------------------------------------------------------------------------------------------
// Subspaces: queue and leases

function ancestors(id: string): string[] {
  if (id === '') return [];
  const segs = id.split('/');
  const out = [''];
  for (let k = 1; k < segs.length; k++) out.push(segs.slice(0, k).join('/'));
  return out;
}

function hasDescendant(s: Stmts, runId: number, id: string): boolean {
  if (id === '') return s.anyNonRoot.get(runId) !== undefined;
  return s.descendant.get(runId, id + '/', id + '0') !== undefined; // '0' is the character after '/'
}

function checkRange(run: Run, x: SubspaceInput): { first: bigint; size: bigint } {
  if (typeof x.id !== 'string' || /(^\/)|(\/$)|(\/\/)/.test(x.id)) throw new SubspaceError(`bad subspace id ${JSON.stringify(x.id)}`);
  const first = toBig(x.first, `subspace '${x.id}' first`);
  const size = toBig(x.size, `subspace '${x.id}' size`);
  if (size === 0n) throw new SubspaceError(`subspace '${x.id}' is empty`);
  if (first + size > run.spaceSize)
    throw new SubspaceError(`subspace '${x.id}' [${first}, ${first + size}) exceeds the space size ${run.spaceSize}`);
  if (!Number.isInteger(x.depth) || x.depth < 0) throw new SubspaceError(`subspace '${x.id}' has a bad depth ${x.depth}`);
  return { first, size };
}

/**
 * Inserts the subspaces that are not stored yet (queued). An existing one must have the same range.
 * Refuses (SubspaceError, nothing written) a subspace that overlaps a stored one: an ancestor that is
 * not split, or any stored descendant. Returns how many were inserted.
 */
export function ensureSubspaces(run: Run, subspaces: readonly SubspaceInput[]): { inserted: number; existing: number } {
  const s = st(run.db);
  return immediate(run.db, () => {
      let inserted = 0;
      let existing = 0;
      for (const x of subspaces) {
        const { first, size } = checkRange(run, x);
        const row = s.getSub.get(run.id, x.id) as SubRow | undefined;
        if (row) {
          if (row.first_point !== first.toString() || row.size !== size.toString())
            throw new SubspaceError(
              `subspace '${x.id}' is stored as [${row.first_point}, +${row.size}), not [${first}, +${size}): the database holds another space`,
            );
          existing++;
          continue;
        }
        for (const a of ancestors(x.id)) {
          const ar = s.getSub.get(run.id, a) as SubRow | undefined;
          if (ar && ar.state !== 'split') throw new SubspaceError(`subspace '${x.id}' overlaps stored subspace '${a}' (${ar.state})`);
        }
        if (hasDescendant(s, run.id, x.id)) throw new SubspaceError(`subspace '${x.id}' overlaps stored subspaces below it`);
        s.insertSub.run(run.id, x.id, null, first.toString(), size.toString(), x.depth, x.priority ?? 0);
        inserted++;
      }
      return { inserted, existing };
  });
}

/**
 * Replaces a queued (or failed) subspace by its children, which must lie inside it, be disjoint and
 * cover it exactly. Returns false (nothing changed) when the parent is not queued/failed.
 */
export function splitSubspace(run: Run, parentId: string, children: readonly SubspaceInput[], nowMs = Date.now()): boolean {
  const s = st(run.db);
  return immediate(run.db, () => {
      const p = s.getSub.get(run.id, parentId) as SubRow | undefined;
      if (!p) throw new SubspaceError(`split of unknown subspace '${parentId}'`);
      if (p.state !== 'queued' && p.state !== 'failed') return false;
      const pf = BigInt(p.first_point);
      const ps = BigInt(p.size);
      const kids = children.map((c) => ({ c, ...checkRange(run, c) })).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
      let at = pf;
      for (const k of kids) {
        if (!(parentId === '' ? k.c.id !== '' : k.c.id.startsWith(parentId + '/')))
          throw new SubspaceError(`split of '${parentId}': '${k.c.id}' is not below it`);
        if (k.first !== at) throw new SubspaceError(`split of '${parentId}': children leave a gap or overlap at point ${at}`);
        at += k.size;
      }
      if (at !== pf + ps || kids.length === 0) throw new SubspaceError(`split of '${parentId}': children do not cover [${pf}, ${pf + ps})`);
      s.markSplit.run(run.id, parentId);
      for (const k of kids) {
        if (s.getSub.get(run.id, k.c.id)) throw new SubspaceError(`split of '${parentId}': '${k.c.id}' exists already`);
        s.insertChild.run(run.id, k.c.id, parentId, k.first.toString(), k.size.toString(), k.c.depth, k.c.priority ?? 0);
      }
      s.event.run(run.id, nowMs, 'split', JSON.stringify({ subspace: parentId, children: kids.length }));
      return true;
  });
}

/**
 * Expired leases (lease_expires_ms <= now) go back to the queue with attempts + 1; the one reaching
 * `maxAttempts` expiries becomes failed with the reason.
 */
export function expireLeases(run: Run, nowMs: number, maxAttempts = 3): { requeued: string[]; failed: string[] } {
  const s = st(run.db);
  return immediate(run.db, () => {
      const requeued: string[] = [];
      const failed: string[] = [];
      for (const r of s.expired.all(run.id, nowMs) as { id: string; attempts: number; lease_owner: string }[]) {
        const attempts = r.attempts + 1;
        if (attempts >= maxAttempts) {
          const reason = `lease expired ${attempts} times (max ${maxAttempts}; last owner ${r.lease_owner})`;
          s.failOne.run(attempts, reason, run.id, r.id);
          s.event.run(run.id, nowMs, 'subspace-failed', JSON.stringify({ subspace: r.id, owner: r.lease_owner, reason }));
          failed.push(r.id);
        } else {
          s.requeueOne.run(attempts, run.id, r.id);
          s.event.run(run.id, nowMs, 'lease-expired', JSON.stringify({ subspace: r.id, owner: r.lease_owner, attempts }));
          requeued.push(r.id);
        }
      }
      return { requeued, failed };
  });
}

/**
 * Leases up to `n` queued subspaces to `owner` until nowMs + leaseMs (highest priority first, then
 * insertion order). Expired leases are first put back in the queue (see expireLeases).
 */
export function leaseNext(
  run: Run,
  owner: string,
  n: number,
  leaseMs: number,
  nowMs: number,
  opts: { maxAttempts?: number } = {},
): Lease[] {
  if (!owner) throw new RangeError('leaseNext: empty owner');
  const s = st(run.db);
  return immediate(run.db, () => {
      expireLeases(run, nowMs, opts.maxAttempts ?? 3);
      const expiresMs = nowMs + leaseMs;
      const rows = s.queued.all(run.id, Math.max(0, Math.floor(n))) as {
        id: string;
        first_point: string;
        size: string;
        depth: number;
        attempts: number;
      }[];
      for (const r of rows) s.lease.run(owner, expiresMs, run.id, r.id);
      return rows.map((r) => ({ id: r.id, first: BigInt(r.first_point), size: BigInt(r.size), depth: r.depth, attempts: r.attempts, expiresMs }));
  });
}

/**
 * leaseNext for several owners in one transaction (one expiry pass, one queue read): request i gets
 * up to reqs[i].n subspaces, in request order, highest priority first. Returns one list per request.
 */
export function leaseNextMany(
  run: Run,
  reqs: readonly { owner: string; n: number }[],
  leaseMs: number,
  nowMs: number,
  opts: { maxAttempts?: number } = {},
): Lease[][] {
  for (const r of reqs) if (!r.owner) throw new RangeError('leaseNextMany: empty owner');
  const s = st(run.db);
  return immediate(run.db, () => {
    expireLeases(run, nowMs, opts.maxAttempts ?? 3);
    const expiresMs = nowMs + leaseMs;
    const total = reqs.reduce((a, r) => a + Math.max(0, Math.floor(r.n)), 0);
    const rows = s.queued.all(run.id, total) as { id: string; first_point: string; size: string; depth: number; attempts: number }[];
    let k = 0;
    return reqs.map((r) => {
      const out: Lease[] = [];
      for (let j = 0; j < Math.max(0, Math.floor(r.n)) && k < rows.length; j++, k++) {
        const x = rows[k]!;
        s.lease.run(r.owner, expiresMs, run.id, x.id);
        out.push({ id: x.id, first: BigInt(x.first_point), size: BigInt(x.size), depth: x.depth, attempts: x.attempts, expiresMs });
      }
      return out;
    });
  });
}

/** Extends the leases of `owner` on `ids` to nowMs + leaseMs. `lost`: not (or no longer) leased by owner. */
export function renewLeases(
  run: Run,
  owner: string,
  ids: readonly string[],
  leaseMs: number,
  nowMs: number,
): { renewed: string[]; lost: string[] } {
  const s = st(run.db);
  return immediate(run.db, () => {
      const renewed: string[] = [];
      const lost: string[] = [];
      for (const id of ids) (s.renew.run(nowMs + leaseMs, run.id, id, owner).changes ? renewed : lost).push(id);
      return { renewed, lost };
  });
}

/**
 * The ids of `ids` that are not leased to `owner` now (a read, no transaction: the check before a
 * result is accepted; its commit marks the subspace done, so the lease needs no renewal).
 */
export function notLeasedTo(run: Run, owner: string, ids: readonly string[]): string[] {
  const s = st(run.db);
  const lost: string[] = [];
  for (const id of ids) {
    const r = s.leaseOf.get(run.id, id) as { state: string; lease_owner: string | null } | undefined;
    if (!r || r.state !== 'leased' || r.lease_owner !== owner) lost.push(id);
  }
  return lost;
}

/** Gives leases back (worker leaving or dropping work) without counting an attempt. All of owner's if ids omitted. */
export function releaseLeases(run: Run, owner: string, ids?: readonly string[]): number {
  const s = st(run.db);
  return immediate(run.db, () => {
      if (!ids) return s.releaseOwner.run(run.id, owner).changes;
      let n = 0;
      for (const id of ids) n += s.releaseOne.run(run.id, id, owner).changes;
      return n;
  });
}

/** On resume: every leased subspace goes back to the queue (attempts unchanged). Returns the count. */
export function requeueLeased(run: Run): number {
  return st(run.db).requeueAll.run(run.id).changes;
}

/** Failed subspaces back to the queue with attempts reset. Returns the count. */
export function retryFailed(run: Run): number {
  return st(run.db).retryFailed.run(run.id).changes;
}

// ----------------------------------------------------------------------------------------------
// Commits

function keptFlags(k: DesignRow['keptAs'], sub: string): number {
  let f = 0;
  if (typeof k === 'number') f = k;
  else for (const x of typeof k === 'string' ? [k] : k) f |= KEPT[x] ?? 0;
  if (!Number.isInteger(f) || f < 1 || f > 7) throw new CommitError(sub, 'bad-row', `keptAs ${JSON.stringify(k)} is not pareto/topk/subspace-best`);
  return f;
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const KEY_CAMEL = Object.fromEntries(KEYS.map((k) => [k, camel(k)])) as Record<KeyColumn, string>;
const MAPPING_KEYS = new Set(['tp', 'pp', 'dp', 'sp', 'ep']);

function keyValues(row: DesignRow, out: unknown[]): void {
  const params = row.params;
  const cols = row.columns;
  let mapping: Record<string, unknown> | null | undefined;
  for (const k of KEYS) {
    let v: unknown = cols?.[k];
    if (v === undefined) v = params[k];
    if (v === undefined) v = params[KEY_CAMEL[k]];
    if (v === undefined && MAPPING_KEYS.has(k)) {
      if (mapping === undefined) {
        mapping = null;
        for (const p of Object.values(params))
          if (p !== null && typeof p === 'object' && !Array.isArray(p) && typeof (p as Record<string, unknown>).tp === 'number') {
            mapping = p as Record<string, unknown>;
            break;
          }
      }
      if (mapping) v = mapping[k];
    }
    if (KEY_COLUMNS[k] === 'number') out.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
    else out.push(typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null);
  }
}

/** A write of one item failed inside the transaction (constraint): the whole transaction is rolled back. */
class WriteRefused extends Error {
  constructor(
    readonly subspaceId: string,
    message: string,
  ) {
    super(message);
  }
}

/** Throws RangeError on a non-finite number; true when a bigint is present. */
function scan(v: unknown, what: string, depth = 0): boolean {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`${what}: non-finite number ${v}`);
    return false;
  }
  if (typeof v === 'bigint') return true;
  if (v === null || typeof v !== 'object' || depth > 64) return false;
  let big = false;
  if (Array.isArray(v)) {
    for (const x of v) if (scan(x, what, depth + 1)) big = true;
  } else for (const k in v as Record<string, unknown>) if (scan((v as Record<string, unknown>)[k], what, depth + 1)) big = true;
  return big;
}

/** JSON of a value: refuses non-finite numbers, bigints as strings; plain JSON.stringify when possible (fast). */
function fastJson(v: unknown, what: string): string {
  return scan(v, what) ? strictJson(v, what) : JSON.stringify(v);
}

interface Totals {
  evaluated: bigint;
  prunedBound: bigint;
  prunedDominance: bigint;
  infeasible: bigint;
  reasons: Map<string, bigint>;
}

/**
 * A commit validated against its subspace's range (validateCommit): the rows are built, nothing is
 * written yet. Opaque to callers; commitValidated writes a batch of them in one transaction.
 */
export interface ValidatedCommit {
  readonly subspaceId: string;
  readonly leaseOwner: string | null;
  readonly first: bigint;
  readonly size: bigint;
  readonly counts: readonly [bigint, bigint, bigint, bigint];
  readonly reasons: ReadonlyMap<string, bigint>;
  readonly best: string | null;
  /** insertDesign arguments (metrics serialised here, or metricsJson as received and checked). */
  readonly prepared: readonly unknown[][];
}

/**
 * Validates a commit against the range of its subspace ({ first, size }) without touching the
 * database: counts add up to the size, infeasible reasons add up, point ids are inside and unique,
 * keptAs flags, finite objectives, params/metrics serialisable with finite numbers, and a
 * pre-serialised metricsJson must parse as a JSON object. Throws CommitError (the same refusals as
 * commitSubspace). The result is written by commitValidated, which also checks that the stored
 * subspace has this range. The coordinator validates every message this way before it queues it for
 * a batched write, so a bad message is refused synchronously and nothing of it is stored.
 */
export function validateCommit(run: Run, sub: { first: BigLike; size: BigLike }, item: CommitItem): ValidatedCommit {
  const sid = item.subspaceId;
  const runId = run.id;
  const size = toBig(sub.size, 'size');
  const first = toBig(sub.first, 'first');
  let ev: bigint, pb: bigint, pd: bigint, inf: bigint;
  try {
    ev = toBig(item.counts.evaluated, 'evaluated');
    pb = toBig(item.counts.prunedBound, 'prunedBound');
    pd = toBig(item.counts.prunedDominance, 'prunedDominance');
    inf = toBig(item.counts.infeasible, 'infeasible');
  } catch (e) {
    throw new CommitError(sid, 'counts', (e as Error).message);
  }
  if (ev + pb + pd + inf !== size)
    throw new CommitError(
      sid,
      'counts',
      `evaluated ${ev} + prunedBound ${pb} + prunedDominance ${pd} + infeasible ${inf} = ${ev + pb + pd + inf}, not the subspace size ${size}`,
    );
  const reasons = new Map<string, bigint>();
  if (item.infeasibleByReason) {
    let sum = 0n;
    for (const [k, v] of Object.entries(item.infeasibleByReason)) {
      let b: bigint;
      try {
        b = toBig(v, `infeasibleByReason.${k}`);
      } catch (e) {
        throw new CommitError(sid, 'reasons', (e as Error).message);
      }
      if (b > 0n) reasons.set(k, b);
      sum += b;
    }
    if (sum !== inf) throw new CommitError(sid, 'reasons', `infeasible by reason sums to ${sum}, not infeasible ${inf}`);
  } else if (inf > 0n) reasons.set('unspecified', inf);

  const end = first + size;
  const seen = new Set<string>();
  const prepared: unknown[][] = [];
  let best: string | null = null;
  for (const r of item.results) {
    let pid: bigint;
    try {
      pid = toBig(r.pointId, 'pointId');
    } catch (e) {
      throw new CommitError(sid, 'point-range', (e as Error).message);
    }
    if (pid < first || pid >= end) throw new CommitError(sid, 'point-range', `point ${pid} is outside the subspace [${first}, ${end})`);
    const p = pid.toString();
    if (seen.has(p)) throw new CommitError(sid, 'duplicate-point', `point ${p} appears twice`);
    seen.add(p);
    const kept = keptFlags(r.keptAs, sid);
    if (best === null && kept & KEPT['subspace-best']) best = p;
    const objs: (number | null)[] = [];
    for (const c of OBJECTIVES) {
      const v = r.objectives[c] ?? r.objectives[OBJECTIVE_CAMEL[c as ObjectiveColumn]] ?? null;
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v)))
        throw new CommitError(sid, 'bad-row', `point ${p}: objective ${c} = ${String(v)} is not a finite number`);
      objs.push(v);
    }
    let paramsJson: string, metricsJson: string;
    try {
      if (r.params === null || typeof r.params !== 'object') throw new RangeError('params is not an object');
      paramsJson = fastJson(r.params, 'params');
      if (typeof r.metricsJson === 'string') {
        metricsJson = r.metricsJson;
        // SQLite's JSON parser (a read, no transaction): ~5x cheaper than JSON.parse on the ~15 KB
        // metrics of a real evaluation, and the same check json_valid() made at insert before.
        const ok = st(run.db).jsonObject.get(metricsJson) as number;
        if (ok !== 1) throw new RangeError(ok === 2 ? 'metricsJson is not a JSON object' : 'metricsJson is not valid JSON');
      } else if (r.metrics === undefined) throw new RangeError('neither metrics nor metricsJson');
      else metricsJson = fastJson(r.metrics, 'metrics');
    } catch (e) {
      throw new CommitError(sid, 'bad-row', `point ${p}: ${(e as Error).message}`);
    }
    const args: unknown[] = [runId, p, sid, kept, ...objs];
    keyValues(r, args);
    args.push(paramsJson, metricsJson);
    prepared.push(args); // a metricsJson was checked above: no second json_valid() at insert
  }
  if (item.bestPointId !== undefined && item.bestPointId !== null) {
    let b: bigint;
    try {
      b = toBig(item.bestPointId, 'bestPointId');
    } catch (e) {
      throw new CommitError(sid, 'point-range', (e as Error).message);
    }
    if (b < first || b >= end) throw new CommitError(sid, 'point-range', `best point ${b} is outside the subspace`);
    best = b.toString();
  }
  return { subspaceId: sid, leaseOwner: item.leaseOwner ?? null, first, size, counts: [ev, pb, pd, inf], reasons, best, prepared };
}

const isValidated = (x: CommitItem | ValidatedCommit): x is ValidatedCommit => 'prepared' in x && 'reasons' in x;

/**
 * Validates one commit against its stored subspace (unless validated already: then the stored range
 * must be the validated one) and writes it. Throws CommitError before any write.
 */
function applyOne(
  run: Run,
  s: Stmts,
  item: CommitItem | ValidatedCommit,
  now: number,
  totals: Totals,
): { result: CommitResult; rows: number; accounted: bigint } {
  const sid = item.subspaceId;
  const sub = s.getSub.get(run.id, sid) as SubRow | undefined;
  if (!sub) throw new CommitError(sid, 'unknown-subspace', 'no such subspace in this run');
  if (sub.state === 'done') return { result: { subspaceId: sid, applied: false, reason: 'done' }, rows: 0, accounted: 0n };
  if (sub.state === 'split') return { result: { subspaceId: sid, applied: false, reason: 'split' }, rows: 0, accounted: 0n };
  let v: ValidatedCommit;
  if (isValidated(item)) {
    if (item.first.toString() !== sub.first_point || item.size.toString() !== sub.size)
      throw new CommitError(sid, 'point-range', `validated for [${item.first}, +${item.size}), stored as [${sub.first_point}, +${sub.size})`);
    v = item;
  } else v = validateCommit(run, { first: sub.first_point, size: sub.size }, item);
  const [ev, pb, pd, inf] = v.counts;

  // --- writes (a constraint failure here, e.g. invalid metricsJson, aborts the transaction: commitTx
  // then retries the batch without this item)
  try {
    for (const args of v.prepared) s.insertDesign.run(args);
  } catch (e) {
    const msg = (e as Error).message;
    throw new WriteRefused(sid, /NOT NULL.*metrics_json/.test(msg) ? `metricsJson is not valid JSON (${msg})` : msg);
  }
  const changed = s.markDone.run(
    ev.toString(),
    pb.toString(),
    pd.toString(),
    inf.toString(),
    reasonsJson(v.reasons),
    v.best,
    v.leaseOwner,
    now,
    run.id,
    sid,
  ).changes;
  if (changed !== 1) throw new Error(`internal: subspace '${sid}' changed state during its commit`);
  totals.evaluated += ev;
  totals.prunedBound += pb;
  totals.prunedDominance += pd;
  totals.infeasible += inf;
  for (const [k, n] of v.reasons) totals.reasons.set(k, (totals.reasons.get(k) ?? 0n) + n);
  return { result: { subspaceId: sid, applied: true }, rows: v.prepared.length, accounted: v.size };
}

function applyArchive(run: Run, s: Stmts, a: ArchiveUpdate): void {
  const ids = (xs: readonly BigLike[] | undefined) => (xs ?? []).map((x) => toBig(x, 'archive point').toString());
  try {
    if (isArray(a)) {
      s.archiveClear.run(run.id);
      for (const p of ids(a)) s.archiveAdd.run(run.id, p);
    } else {
      for (const p of ids(a.remove)) s.archiveRemove.run(run.id, p);
      for (const p of ids(a.add)) s.archiveAdd.run(run.id, p);
    }
  } catch (e) {
    const msg = (e as Error).message;
    throw new CommitError('(archive)', 'archive', /FOREIGN KEY/i.test(msg) ? `an archive point is not a stored design (${msg})` : msg);
  }
}
const isArray = (x: ArchiveUpdate): x is readonly BigLike[] => Array.isArray(x);

function readTotals(s: Stmts, runId: number): Totals {
  const r = s.runTotals.get(runId) as {
    evaluated: string;
    pruned_bound: string;
    pruned_dominance: string;
    infeasible: string;
    infeasible_by_reason_json: string;
  };
  const reasons = new Map<string, bigint>();
  addReasons(reasons, JSON.parse(r.infeasible_by_reason_json) as Record<string, string>);
  return {
    evaluated: BigInt(r.evaluated),
    prunedBound: BigInt(r.pruned_bound),
    prunedDominance: BigInt(r.pruned_dominance),
    infeasible: BigInt(r.infeasible),
    reasons,
  };
}

/** A batch written with commitValidated was not applied as a whole: nothing of it was written. */
export class BatchNotApplied extends Error {
  constructor(readonly results: readonly CommitResult[]) {
    const bad = results.find((r) => !r.applied)!;
    super(`batch not applied: subspace '${bad.subspaceId}' ${bad.reason === 'refused' ? `refused (${bad.error})` : `is ${bad.reason} already`}`);
    this.name = 'BatchNotApplied';
  }
}

/**
 * mode 'throw': the first refusal throws CommitError (nothing written); 'report': refused items are
 * reported and skipped; 'all': every item must be applied, else the transaction is rolled back and
 * BatchNotApplied is thrown.
 */
function commitTx(
  run: Run,
  items: readonly (CommitItem | ValidatedCommit)[],
  opts: { archive?: ArchiveUpdate; nowMs?: number },
  mode: 'throw' | 'report' | 'all',
): CommitResult[] {
  const throwOnRefusal = mode === 'throw';
  const s = st(run.db);
  const now = opts.nowMs ?? Date.now();
  // Items refused by a constraint during the writes (rare): the transaction is retried without them.
  const refusedAt = new Map<number, string>();
  const body = () => {
    const totals = readTotals(s, run.id);
    const results: CommitResult[] = [];
    let applied = 0;
    let rows = 0;
    let accounted = 0n;
    items.forEach((item, i) => {
      const pre = refusedAt.get(i);
      if (pre !== undefined) {
        results.push({ subspaceId: item.subspaceId, applied: false, reason: 'refused', error: pre });
        return;
      }
      try {
        const r = applyOne(run, s, item, now, totals);
        results.push(r.result);
        if (r.result.applied) {
          applied++;
          rows += r.rows;
          accounted += r.accounted;
        }
      } catch (e) {
        if (e instanceof WriteRefused) {
          const msg = new CommitError(e.subspaceId, 'bad-row', e.message).message;
          refusedAt.set(i, msg);
          if (throwOnRefusal) throw new CommitError(e.subspaceId, 'bad-row', e.message);
          throw e; // roll back and retry without it
        }
        if (throwOnRefusal || !(e instanceof CommitError)) throw e;
        results.push({ subspaceId: item.subspaceId, applied: false, reason: 'refused', error: e.message });
      }
    });
    if (mode === 'all' && applied !== items.length) throw new BatchNotApplied(results);
    if (opts.archive) applyArchive(run, s, opts.archive);
    if (applied > 0) {
      s.setTotals.run(
        totals.evaluated.toString(),
        totals.prunedBound.toString(),
        totals.prunedDominance.toString(),
        totals.infeasible.toString(),
        reasonsJson(totals.reasons),
        now,
        run.id,
      );
      s.event.run(run.id, now, 'commit', JSON.stringify({ subspaces: applied, designs: rows, accounted: accounted.toString() }));
    }
    return results;
  };
  for (;;) {
    try {
      return immediate(run.db, body);
    } catch (e) {
      if (!(e instanceof WriteRefused)) throw e;
    }
  }
}

/**
 * Commits one subspace in one transaction: its kept designs, its counts, `done`, and optionally the
 * archive replacement that this commit caused. A duplicate or late commit of a done subspace (or one
 * that was split) changes nothing and returns { applied: false }. Throws CommitError (nothing
 * written) when the counts do not add up to the subspace size, the infeasible reasons do not add up,
 * a point is outside the subspace or repeated, an objective is not finite, or the archive names a
 * point that is not stored.
 */
export function commitSubspace(
  run: Run,
  subspaceId: string,
  input: CommitInput & { archive?: ArchiveUpdate; nowMs?: number },
  leaseOwner?: string,
): CommitResult {
  const item: CommitItem = { ...input, subspaceId, ...(leaseOwner !== undefined ? { leaseOwner } : {}) };
  const opts: { archive?: ArchiveUpdate; nowMs?: number } = {};
  if (input.archive) opts.archive = input.archive;
  if (input.nowMs !== undefined) opts.nowMs = input.nowMs;
  return commitTx(run, [item], opts, 'throw')[0]!;
}

/**
 * Commits many subspaces in ONE transaction (throughput). Each item is validated as in
 * commitSubspace; a refused item is reported ({ applied: false, reason: 'refused', error }) and
 * writes nothing, the others are applied. The optional archive update is applied last; if it names
 * a point that is not stored, the whole batch is rolled back and CommitError is thrown.
 */
export function commitMany(run: Run, items: readonly CommitItem[], opts: { archive?: ArchiveUpdate; nowMs?: number } = {}): CommitResult[] {
  return commitTx(run, items, opts, 'report');
}

/**
 * Writes commits validated by validateCommit in ONE transaction, all or nothing: each stored
 * subspace must still have the validated range and not be done or split, else nothing is written
 * and BatchNotApplied is thrown (with what each item would have given). The optional archive update
 * is applied last (CommitError, nothing written, if it names a point that is not stored). The
 * coordinator's group commit: all the results that arrived in one event-loop turn.
 */
export function commitValidated(
  run: Run,
  items: readonly ValidatedCommit[],
  opts: { archive?: ArchiveUpdate; nowMs?: number } = {},
): CommitResult[] {
  return commitTx(run, items, opts, 'all');
}

/** Replaces (or changes) the Pareto archive of the run atomically. */
export function setArchive(run: Run, pointIds: ArchiveUpdate): void {
  const s = st(run.db);
  immediate(run.db, () => applyArchive(run, s, pointIds));
}

/** The archive's point ids in id order. */
export function getArchive(run: Run): bigint[] {
  return (st(run.db).archiveIds.pluck().all(run.id) as string[]).map((x) => BigInt(x));
}

/** A stored design, light (no metrics): to rebuild the incumbent / archive on resume. */
export interface StoredDesign {
  pointId: bigint;
  subspaceId: string;
  keptAs: number;
  objectives: Partial<Record<ObjectiveColumn, number>>;
  params: Record<string, unknown>;
}

/** Iterates the stored designs of the run in point-id order. */
export function* storedDesigns(run: Run): Generator<StoredDesign> {
  const q = run.db.prepare(
    `SELECT point_id, subspace_id, kept_as, ${OBJECTIVES.join(', ')}, params_json FROM designs WHERE run_id = ? ORDER BY length(point_id), point_id`,
  );
  for (const r of q.iterate(run.id) as Iterable<Record<string, unknown>>) {
    const objectives: Partial<Record<ObjectiveColumn, number>> = {};
    for (const c of OBJECTIVES) if (typeof r[c] === 'number') objectives[c] = r[c] as number;
    yield {
      pointId: BigInt(r.point_id as string),
      subspaceId: r.subspace_id as string,
      keptAs: r.kept_as as number,
      objectives,
      params: JSON.parse(r.params_json as string) as Record<string, unknown>,
    };
  }
}

/** Ids of the subspaces in a state (e.g. 'done' to skip them on resume). */
export function subspaceIds(run: Run, state: SubspaceState): string[] {
  return run.db.prepare(`SELECT id FROM subspaces WHERE run_id = ? AND state = ? ORDER BY rowid`).pluck().all(run.id, state) as string[];
}

// ----------------------------------------------------------------------------------------------
// Workers

/** A worker joins the run (row upserted, state active); runs.workers becomes the number of workers that joined it. */
export function upsertWorker(run: Run, w: { id: string; host: string; threads: number }, nowMs = Date.now()): void {
  const s = st(run.db);
  immediate(run.db, () => {
    s.upsertWorker.run(w.id, run.id, w.host, Math.max(0, Math.floor(w.threads)), nowMs, nowMs);
    s.countWorkers.run(run.id, run.id);
  });
}

/** runs.workers is at least n (embedded mode: its search threads are its workers). */
export function noteWorkers(run: Run, n: number): void {
  st(run.db).atLeastWorkers.run(Math.max(0, Math.floor(n)), run.id);
}

export function touchWorker(run: Run, id: string, nowMs = Date.now()): void {
  st(run.db).touchWorker.run(nowMs, id);
}

export function setWorkerState(run: Run, id: string, state: WorkerState, nowMs = Date.now()): void {
  st(run.db).workerState.run(state, nowMs, id);
}
