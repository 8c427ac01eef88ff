// The coordinator's run logic (DESIGN 4.1, 4.3): the only SQLite writer, the queue of subspaces,
// leases, pruning before dispatch, the global Pareto archive and top-K, idempotent commits, resume.
// The embedded `strata search` and the gRPC coordinator both drive this class; transports differ.
import { ParetoArchive, TopK, type Entry, type Incumbents } from '../src/search/archive.js';
import { subspaceBound } from '../src/search/bounds.js';
import { warmStartHints } from '../src/search/warmstart.js';
import { makeRunContext, type RunSpec } from '../src/search/context.js';
import { SystemCache, type Design, type RunContext, type SubspaceResult } from '../src/search/engine.js';
import { PointKeys, type KeyValues } from '../src/search/keys.js';
import { objectiveValues, OBJECTIVES } from '../src/search/objective.js';
import { children, rootSubspace, subspaceById, type Subspace } from '../src/space/index.js';
import {
  BatchNotApplied,
  commitSubspace,
  commitValidated,
  CommitError,
  ensureSubspaces,
  expireLeases,
  getArchive,
  leaseNextMany,
  logEvent,
  openRun,
  openWriteDb,
  renewLeases,
  releaseLeases,
  requeueLeased,
  retryFailed,
  splitSubspace,
  storedDesigns,
  subspaceIds,
  summary,
  updateRun,
  type Db,
  type DesignRow,
  type Lease,
  type Run,
  type ValidatedCommit,
  validateCommit,
} from '../src/store/index.js';

/** In-memory state a staged group can be rolled back to (ParetoArchive.insert never mutates its array in place). Progress only changes after a write. */
interface Snap {
  entries: Entry[];
  topk: Entry[][];
}

interface Staged {
  owner: string;
  results: SubspaceResult[];
  items: ValidatedCommit[];
}

/** A staged group once written: committed (null), refused (the error; nothing of it written), or
 *  committed except its late results (done or split before the write: not applied). */
export type FlushOutcome = null | Error | { late: string[] };

export interface CoordinatorOptions {
  newRun?: boolean;
  leaseMs?: number;
  maxAttempts?: number;
  /** A queued subspace larger than this is split one level finer before it is leased. */
  maxLeasePoints?: bigint;
  /** Order the search by a warm start (default: spaces of WARM_START_MIN_POINTS or more). */
  warmStart?: boolean;
  /** On resume, failed subspaces (retry limit reached) go back to the queue with their attempts reset. */
  retryFailed?: boolean;
}

/**
 * The metrics JSON a design received over the wire carries (stored as is, no re-serialising): a string,
 * or UTF-8 bytes (the column-wise form), decoded here, only for the designs that are kept.
 */
function metricsText(d: Design): string | undefined {
  const mj = (d as Design & { metricsJson?: unknown }).metricsJson;
  if (typeof mj === 'string') return mj;
  if (mj instanceof Uint8Array) return Buffer.from(mj.buffer, mj.byteOffset, mj.byteLength).toString('utf8');
  return undefined;
}

/** Lease order: deeper subspaces first (depth-first, so splitting stays local), then a subspace that
 *  holds a warm-start hint, then higher bound. */
function priorityOf(depth: number, bound: { ideal?: number[]; infeasible?: string } | null, hinted = false): number {
  const b = hinted ? 1e14 : bound?.ideal ? bound.ideal[0]! : bound?.infeasible ? 1e14 : 0;
  return depth * 1e15 + (Number.isFinite(b) ? Math.max(-1e14, Math.min(1e14, b)) : 1e14);
}

/** Spaces at least this large get a warm start (warmstart.ts): about 3,000 evaluations, a few
 *  seconds, which smaller spaces do not need to order their search. */
export const WARM_START_MIN_POINTS = 10n ** 9n;

export interface Progress {
  accounted: bigint;
  size: bigint;
  evaluated: bigint;
  prunedBound: bigint;
  prunedDominance: bigint;
  infeasible: bigint;
  done: number;
  total: number;
}

export class Coordinator {
  readonly ctx: RunContext;
  readonly db: Db;
  readonly run: Run;
  readonly archive = new ParetoArchive();
  readonly topk: TopK[];
  private readonly leaseMs: number;
  private readonly maxLeasePoints: bigint;
  private readonly maxAttempts: number;
  /** Point ids of good designs from the warm start (their subspaces are leased first). */
  readonly hints: bigint[];
  readonly progress: Progress;
  private readonly started = Date.now();

  constructor(
    dbFile: string,
    readonly spec: RunSpec,
    opts: CoordinatorOptions = {},
  ) {
    this.ctx = makeRunContext(spec);
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.maxLeasePoints = opts.maxLeasePoints ?? 5_000_000n;
    this.topk = spec.search.objectives.map((_, i) => new TopK(spec.search.topK, i));
    // Large spaces: a few seconds of warm start find good designs, whose subspaces go first
    // (deterministic, so a resumed run splits in the same order).
    this.hints = (opts.warmStart ?? this.ctx.space.size >= WARM_START_MIN_POINTS) ? warmStartHints(this.ctx) : [];
    this.db = openWriteDb(dbFile);
    try {
      this.run = this.openStored(spec, opts);
    } catch (e) {
      this.db.close(); // releases the writer lock: the process may open the database again
      throw e;
    }
    this.progress = this.readProgress();
  }

  /** Opens or resumes the run in the database (the constructor's writes). */
  private openStored(spec: RunSpec, opts: CoordinatorOptions): Run {
    const run = openRun(
      this.db,
      {
        spec,
        modelVersion: spec.modelVersion,
        objective: spec.search.objectives.map((o) => OBJECTIVES[o].column).join(','),
        spaceSize: this.ctx.space.size,
      },
      { newRun: opts.newRun ?? false },
    );
    (this as { run: Run }).run = run; // the rest (rebuildFromStore) reads this.run
    // A run killed after its row was written but before its subspaces were (the initial split and
    // its bounds take a while) has nothing stored to resume: it starts afresh.
    const stored = this.run.resumed ? summary(this.db, this.run.id).progress : null;
    if (stored && stored.total + stored.split > 0) {
      // Leased-but-unfinished work goes back to the queue; the archive and top-K are rebuilt from
      // the stored designs.
      requeueLeased(this.run);
      const retried = opts.retryFailed ? retryFailed(this.run) : 0;
      if (retried > 0) {
        logEvent(this.run, 'retry-failed', { subspaces: retried });
        if (this.run.state === 'failed') updateRun(this.run, { state: 'running' });
      }
      this.rebuildFromStore();
      logEvent(this.run, 'resume', { front: this.archive.entries.length, ...(retried > 0 ? { retried } : {}) });
    } else {
      const depth = spec.splitDepth;
      let subs: Subspace[] = [rootSubspace(this.ctx.space)];
      for (let d = 0; d < depth; d++) subs = subs.flatMap((s) => children(this.ctx.space, s));
      // Best-first: the subspaces with the highest optimistic bound go first (a good incumbent early
      // prunes more); the bound never changes the answer, only the order.
      ensureSubspaces(
        this.run,
        subs.map((s) => ({ id: s.id, first: s.first, size: s.size, depth: s.depth, priority: this.priority(s) })),
      );
      logEvent(this.run, 'start', { subspaces: subs.length, depth, hints: this.hints.map(String) });
    }
    return run;
  }

  private readProgress(): Progress {
    const s = summary(this.db, this.run.id);
    const c = s.coverage;
    return {
      accounted: BigInt(c.accounted),
      size: this.ctx.space.size,
      evaluated: BigInt(c.evaluated),
      prunedBound: BigInt(c.prunedBound),
      prunedDominance: BigInt(c.prunedDominance),
      infeasible: BigInt(c.infeasible),
      done: s.progress.done,
      total: s.progress.total,
    };
  }

  /**
   * Leases up to n subspaces to `owner`. Before dispatch, a subspace whose bound the archive already
   * covers is committed here as pruned (or infeasible) and never leaves the coordinator.
   */
  lease(owner: string, n: number, nowMs = Date.now()): Lease[] {
    return this.leaseMany([{ owner, n }], nowMs)[0]!;
  }

  /** lease() for several owners at once (one queue read per round, in the caller's transaction if any). */
  leaseMany(reqs: readonly { owner: string; n: number }[], nowMs = Date.now()): Lease[][] {
    const out: Lease[][] = reqs.map(() => []);
    for (;;) {
      const idx: number[] = [];
      for (let i = 0; i < reqs.length; i++) if (out[i]!.length < reqs[i]!.n) idx.push(i);
      if (idx.length === 0) break;
      const got = leaseNextMany(
        this.run,
        idx.map((i) => ({ owner: reqs[i]!.owner, n: reqs[i]!.n - out[i]!.length })),
        this.leaseMs,
        nowMs,
        { maxAttempts: this.maxAttempts },
      );
      let any = false;
      got.forEach((ls, j) => {
        const i = idx[j]!;
        const owner = reqs[i]!.owner;
        for (const l of ls) {
          any = true;
          const sub = subspaceById(this.ctx.space, l.id);
          // Too big for one lease: back to the queue, split one level finer (children keep the order).
          if (sub.size > this.maxLeasePoints && sub.depth < this.ctx.space.levels.length - 1) {
            releaseLeases(this.run, owner, [l.id]);
            const kids = children(this.ctx.space, sub);
            const split = splitSubspace(
              this.run,
              sub.id,
              kids.map((k) => ({ id: k.id, first: k.first, size: k.size, depth: k.depth, priority: this.priority(k) })),
              nowMs,
            );
            // One live subspace replaced by its children (as splitQueued counts it).
            if (split) this.progress.total += kids.length - 1;
            continue;
          }
          const b = this.bound(sub);
          const pruned = b && (b.infeasible || this.archive.covers(b.ideal!, sub.first));
          if (!pruned) {
            out[i]!.push(l);
            continue;
          }
          const multi = this.spec.search.objectives.length > 1;
          const size = sub.size;
          const counts = b!.infeasible
            ? { evaluated: 0n, prunedBound: 0n, prunedDominance: 0n, infeasible: size }
            : { evaluated: 0n, prunedBound: multi ? 0n : size, prunedDominance: multi ? size : 0n, infeasible: 0n };
          this.commit(owner, {
            subspaceId: sub.id,
            first: sub.first,
            size,
            counts,
            infeasibleByReason: b!.infeasible ? { [b!.infeasible]: size } : {},
            designs: [],
          });
        }
      });
      if (!any) break;
    }
    return out;
  }

  private priority(sub: Subspace): number {
    return priorityOf(sub.depth, this.bound(sub), this.hints.some((h) => h >= sub.first && h < sub.first + sub.size));
  }

  /** The optimistic bound of a subspace, computed once (at insertion, split or first lease). */
  private readonly bounds = new Map<string, ReturnType<typeof subspaceBound>>();
  private bound(sub: Subspace): ReturnType<typeof subspaceBound> {
    const b = this.bounds.get(sub.id);
    if (b !== undefined) return b;
    // The coordinator orders and pre-prunes with the mapping-free bound (admissible, cheap): the
    // plan-frontier bound costs seconds on a fresh device count, which belongs on the workers.
    const c = subspaceBound(this.ctx.bounds, sub, { plans: false });
    if (this.bounds.size >= 500_000) this.bounds.clear(); // a long run splits millions: keep memory bounded
    this.bounds.set(sub.id, c);
    return c;
  }

  /**
   * Expired leases back to the queue (an attempt counted; failed at the retry limit). Leasing does it
   * too; the gRPC coordinator also calls it on its tick, so leases expire when no worker asks for more.
   */
  expire(nowMs = Date.now()): { requeued: string[]; failed: string[] } {
    return expireLeases(this.run, nowMs, this.maxAttempts);
  }

  renew(owner: string, ids: string[], nowMs = Date.now()) {
    return renewLeases(this.run, owner, ids, this.leaseMs, nowMs);
  }

  release(owner: string): number {
    return releaseLeases(this.run, owner);
  }

  /** The archive snapshot workers prune against, and the top-K entries they seed their lists with. */
  snapshot(): Incumbents {
    const copy = (e: Entry): Entry => ({ id: e.id, values: [...e.values] });
    const top = new Map<bigint, Entry>();
    for (const t of this.topk) for (const e of t.items) top.set(e.id, e);
    return { front: this.archive.entries.map(copy), top: [...top.values()].map(copy) };
  }

  /**
   * Commits one subspace's result: merges its candidates into the archive and top-K and writes the
   * kept designs, the counts and the new archive in one transaction. A duplicate or late commit
   * changes nothing (the store refuses it as already done) and returns false.
   */
  commit(owner: string, r: SubspaceResult): boolean {
    const keep = new Map<bigint, Design>();
    const before = new Set(this.archive.entries.map((e) => e.id));
    // Merge into copies first: a refused commit must leave the in-memory state unchanged.
    const archive = this.archive.clone();
    const topk = this.topk.map((t) => {
      const c = new TopK(t.k, t.objective);
      c.items = [...t.items];
      return c;
    });
    for (const d of r.designs) {
      const e = { id: d.id, values: d.values };
      const inFront = archive.insert(e);
      let inTop = false;
      for (const t of topk) if (t.insert(e)) inTop = true;
      if (inFront || inTop || d.keptAs.includes('subspace-best')) keep.set(d.id, d);
    }
    const frontIds = new Set(archive.entries.map((e) => e.id));
    const rows = [...keep.values()].map((d) => ({
      pointId: d.id,
      mj: metricsText(d),
      keptAs: [
        ...(frontIds.has(d.id) ? (['pareto'] as const) : []),
        ...(topk.some((t) => t.items.some((x) => x.id === d.id)) ? (['topk'] as const) : []),
        ...(d.keptAs.includes('subspace-best') ? (['subspace-best'] as const) : []),
      ],
      objectives: d.figures,
      params: d.params,
      columns: this.columnsOf(d.id),
      // A design received over the wire carries its metrics as JSON: stored as is (no re-serialising).
      metrics: d.metrics,
    }))
      // A design received over the wire carries its metrics as JSON: stored as is (no re-serialising).
      .map(({ mj, metrics, ...row }) => ({ ...row, ...(mj !== undefined ? { metricsJson: mj } : { metrics }) })) satisfies DesignRow[];
    const best = r.designs.find((d) => d.keptAs.includes('subspace-best'));
    const changed = frontIds.size !== before.size || [...frontIds].some((id) => !before.has(id));
    const res = commitSubspace(
      this.run,
      r.subspaceId,
      {
        counts: r.counts,
        infeasibleByReason: Object.fromEntries(Object.entries(r.infeasibleByReason)),
        results: rows.filter((row) => row.keptAs.length > 0),
        bestPointId: best ? best.id : null,
        ...(changed ? { archive: [...frontIds] } : {}),
      },
      owner,
    );
    if (!res.applied) return false;
    this.archive.entries = archive.entries;
    this.topk.forEach((t, i) => (t.items = topk[i]!.items));
    this.count(r);
    return true;
  }

  private keys: PointKeys | null = null;
  /** The key columns of a kept design, from its applied system, precision and mapping (search/keys.ts). */
  private columnsOf(id: bigint): KeyValues {
    return (this.keys ??= new PointKeys(this.ctx, new SystemCache(this.ctx))).of(id);
  }

  private snap(): Snap {
    return { entries: this.archive.entries, topk: this.topk.map((t) => [...t.items]) };
  }

  private restore(s: Snap): void {
    this.archive.entries = s.entries;
    this.topk.forEach((t, i) => (t.items = s.topk[i]!));
  }

  /**
   * Merges one result into the live archive and top-K and builds its kept rows, validated by the
   * store (validateCommit). Throws CommitError; the caller restores the state then.
   */
  private mergeAndValidate(owner: string, r: SubspaceResult): ValidatedCommit {
    const keep: Design[] = [];
    for (const d of r.designs) {
      const e = { id: d.id, values: d.values };
      const inFront = this.archive.insert(e);
      let inTop = false;
      for (const t of this.topk) if (t.insert(e)) inTop = true;
      if (inFront || inTop || d.keptAs.includes('subspace-best')) keep.push(d);
    }
    const frontIds = new Set(this.archive.entries.map((e) => e.id));
    const rows: DesignRow[] = [];
    for (const d of keep) {
      const keptAs = [
        ...(frontIds.has(d.id) ? (['pareto'] as const) : []),
        ...(this.topk.some((t) => t.items.some((x) => x.id === d.id)) ? (['topk'] as const) : []),
        ...(d.keptAs.includes('subspace-best') ? (['subspace-best'] as const) : []),
      ];
      if (keptAs.length === 0) continue;
      const mj = metricsText(d);
      rows.push({ pointId: d.id, keptAs, objectives: d.figures, params: d.params, columns: this.columnsOf(d.id), ...(mj !== undefined ? { metricsJson: mj } : { metrics: d.metrics }) });
    }
    const best = r.designs.find((d) => d.keptAs.includes('subspace-best'));
    return validateCommit(
      this.run,
      { first: r.first, size: r.size },
      {
        subspaceId: r.subspaceId,
        leaseOwner: owner,
        counts: r.counts,
        infeasibleByReason: Object.fromEntries(Object.entries(r.infeasibleByReason)),
        results: rows,
        bestPointId: best ? best.id : null,
      },
    );
  }

  private staged: Staged[] = [];
  private stagedBase: Snap | null = null;

  /**
   * Group commit, step 1: validates the results of one message completely (the store's checks, before
   * anything is queued) and merges them into the in-memory archive and top-K. Throws CommitError when
   * any of them is bad: then nothing of the message is kept (memory restored) or queued. The caller
   * must have checked that the subspaces are leased to `owner`. Written by flushStaged.
   */
  stageGroup(owner: string, results: SubspaceResult[]): void {
    const before = this.snap();
    const items: ValidatedCommit[] = [];
    try {
      for (const r of results) items.push(this.mergeAndValidate(owner, r));
    } catch (e) {
      this.restore(before);
      throw e;
    }
    this.stagedBase ??= before;
    this.staged.push({ owner, results, items });
  }

  /** Groups staged and not yet written. */
  stagedGroups(): number {
    return this.staged.length;
  }

  /**
   * Group commit, step 2: writes every staged group in ONE transaction (their designs, counts, `done`
   * states and the archive), then counts their progress. Returns, per group in staging order, null
   * when it is committed (durable), or the error that refused it (nothing of it written). Should the
   * batch not apply as a whole (a subspace done or split meanwhile, a store refusal), the in-memory
   * state goes back to before the batch and each group is committed on its own (one transaction per
   * group, all or nothing), so one bad group never blocks the others.
   */
  flushStaged(nowMs = Date.now()): FlushOutcome[] {
    const groups = this.staged;
    const base = this.stagedBase;
    this.staged = [];
    this.stagedBase = null;
    if (groups.length === 0 || !base) return [];
    const items = groups.flatMap((g) => g.items);
    const front = this.archive.entries.map((e) => e.id);
    const baseIds = new Set(base.entries.map((e) => e.id));
    const changed = front.length !== baseIds.size || front.some((id) => !baseIds.has(id));
    try {
      commitValidated(this.run, items, { nowMs, ...(changed ? { archive: front } : {}) });
    } catch (e) {
      if (!(e instanceof BatchNotApplied || e instanceof CommitError)) throw e;
      this.restore(base);
      return groups.map((g) => this.commitGroupSkippingLate(g.owner, g.results, nowMs));
    }
    for (const r of groups.flatMap((g) => g.results)) this.count(r);
    return groups.map(() => null);
  }

  /**
   * The fallback of flushStaged for one group: all or nothing, except that results whose subspace is
   * done or split already (late: it passed the lease check when received, then another commit or a
   * split came first) are left out, as a late commit at receipt would be, and the others commit.
   */
  private commitGroupSkippingLate(owner: string, results: SubspaceResult[], nowMs: number): FlushOutcome {
    const err = this.commitGroup(owner, results, nowMs);
    if (!(err instanceof BatchNotApplied)) return err;
    const notApplied = err.results.filter((r) => !r.applied);
    if (notApplied.some((r) => r.reason !== 'done' && r.reason !== 'split')) return err;
    const late = new Set(notApplied.map((r) => r.subspaceId));
    const rest = results.filter((r) => !late.has(r.subspaceId));
    if (rest.length > 0) {
      const e2 = this.commitGroup(owner, rest, nowMs);
      if (e2) return e2;
    }
    return { late: [...late] };
  }

  /** One group in its own transaction, all or nothing (the fallback of flushStaged). */
  private commitGroup(owner: string, results: SubspaceResult[], nowMs: number): Error | null {
    const before = this.snap();
    try {
      const items = results.map((r) => this.mergeAndValidate(owner, r));
      const front = this.archive.entries.map((e) => e.id);
      const baseIds = new Set(before.entries.map((e) => e.id));
      const changed = front.length !== baseIds.size || front.some((id) => !baseIds.has(id));
      commitValidated(this.run, items, { nowMs, ...(changed ? { archive: front } : {}) });
    } catch (e) {
      this.restore(before);
      if (e instanceof BatchNotApplied || e instanceof CommitError) return e;
      throw e;
    }
    for (const r of results) this.count(r);
    return null;
  }

  private count(r: SubspaceResult): void {
    const p = this.progress;
    p.evaluated += r.counts.evaluated;
    p.prunedBound += r.counts.prunedBound;
    p.prunedDominance += r.counts.prunedDominance;
    p.infeasible += r.counts.infeasible;
    p.accounted += r.counts.evaluated + r.counts.prunedBound + r.counts.prunedDominance + r.counts.infeasible;
    p.done += 1;
  }

  /** The archive and top-K as the database holds them (resume, and recovery after a refusal). */
  private rebuildFromStore(): void {
    const front = new Set(getArchive(this.run));
    const archive = new ParetoArchive();
    const topk = this.topk.map((t) => new TopK(t.k, t.objective));
    for (const d of storedDesigns(this.run)) {
      const e: Entry = { id: d.pointId, values: objectiveValues(this.spec.search.objectives, d.objectives) };
      if (front.has(d.pointId)) archive.insert(e);
      for (const t of topk) t.insert(e);
    }
    this.archive.entries = archive.entries;
    this.topk.forEach((t, i) => (t.items = topk[i]!.items));
  }

  /**
   * Adaptive splitting (DESIGN 4.1): when fewer than `demand` subspaces are queued, the biggest queued
   * ones are replaced by their children (store.splitSubspace) until the queue holds `demand` or
   * nothing is left to split. Children keep the parent's best-first priority order by their bounds.
   * Returns the number of subspaces split. The answer does not depend on the split.
   */
  splitQueued(demand: number, maxSplits = 64): number {
    const queued = subspaceIds(this.run, 'queued');
    if (queued.length >= demand) return 0;
    const leafDepth = this.ctx.space.levels.length;
    const subs = queued
      .map((id) => subspaceById(this.ctx.space, id))
      .filter((s) => s.depth < leafDepth - 1 && s.size > 1n)
      .sort((a, b) => (a.size > b.size ? -1 : a.size < b.size ? 1 : a.id < b.id ? -1 : 1));
    let count = queued.length;
    let splits = 0;
    for (const s of subs) {
      if (count >= demand || splits >= maxSplits) break;
      const kids = children(this.ctx.space, s);
      if (kids.length < 2) continue;
      const ok = splitSubspace(
        this.run,
        s.id,
        kids.map((c) => ({ id: c.id, first: c.first, size: c.size, depth: c.depth, priority: this.priority(c) })),
      );
      if (!ok) continue;
      this.progress.total += kids.length - 1;
      count += kids.length - 1;
      splits++;
    }
    return splits;
  }

  finished(): boolean {
    return this.progress.accounted === this.progress.size;
  }

  close(): void {
    if (this.finished()) {
      updateRun(this.run, { state: 'done', addWallS: (Date.now() - this.started) / 1000 });
      logEvent(this.run, 'done', { front: this.archive.entries.length });
    } else updateRun(this.run, { addWallS: (Date.now() - this.started) / 1000 });
    this.db.close();
  }
}
