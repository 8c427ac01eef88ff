// Subspace results in several messages (proto SubspaceResult.parts): the coordinator holds the parts
// of the one result a stream is sending until its last part makes it whole.
import * as grpc from '@grpc/grpc-js';
import type { SubspaceResult } from '../src/search/engine.js';
import { MAX_PARTS_PER_RESULT } from '../src/search/limits.js';
import { designBytes, WireError, type WireResult } from './protocol.js';

const bad = (m: string) => new WireError(grpc.status.INVALID_ARGUMENT, m);

/** What every part of one result repeats: its range, counts and reasons. */
function headerOf(w: WireResult): string {
  const c = w.counts;
  const reasons = Object.entries(w.infeasibleByReason ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([w.first, w.size, c?.evaluated, c?.prunedBound, c?.prunedDominance, c?.infeasible, reasons]);
}

/**
 * What the parts held by all streams together may take (bytes of their designs' metrics JSON, the
 * bulk of each part's message, which the held designs keep in memory, and 64 a design for the rest): a stream whose part would
 * go over it is refused (RESOURCE_EXHAUSTED) instead of the coordinator running out of memory.
 */
export class PartsBudget {
  held = 0;
  constructor(readonly maxBytes: number) {}
}

/** The coordinator's default PartsBudget: 2 GiB (a legit result in parts is at most the 10,000 designs
 *  per objective of the top-K limit, ~15 KB of metrics each: ~150 MB per objective). */
export const DEFAULT_PARTS_BUDGET_BYTES = 2 * 1024 ** 3;

/** Bytes a part's designs hold: their metrics JSON, and 64 a design for ids, values and params. */
function partBytes(r: SubspaceResult): number {
  let n = 0;
  for (const d of r.designs) n += designBytes(d, 64);
  return n;
}

/**
 * The parts received on one stream. Parts of a result come one after another, in order, so at most
 * one result is incomplete at a time. Each part is validated on its own before it gets here
 * (resultFromWire); here, that they make one result.
 */
export class ResultParts {
  private held: { sid: string; parts: number; header: string; ids: Set<bigint>; results: SubspaceResult[] } | null = null;
  /** Subspaces whose parts were dropped since the last result began: the rest of them is ignored as it comes. */
  private readonly dropped = new Set<string>();
  /** Bytes of the parts held now, counted in the budget. */
  private heldBytes = 0;
  constructor(private readonly budget = new PartsBudget(DEFAULT_PARTS_BUDGET_BYTES)) {}

  /**
   * Adds a validated message of a result: the whole result once its last part is here (at once for a
   * result in one message), else null. Throws WireError for parts that do not make one result.
   */
  add(w: WireResult, r: SubspaceResult): SubspaceResult | null {
    const sid = r.subspaceId;
    const parts = w.parts ?? 0;
    const part = w.part ?? 0;
    if (!Number.isInteger(parts) || parts < 0) throw bad(`subspace '${sid}': parts ${parts} is not a non-negative integer`);
    if (parts > MAX_PARTS_PER_RESULT) throw new WireError(grpc.status.RESOURCE_EXHAUSTED, `subspace '${sid}': ${parts} parts (max ${MAX_PARTS_PER_RESULT})`);
    if (!Number.isInteger(part) || part < 0 || part >= Math.max(1, parts)) throw bad(`subspace '${sid}': part ${part} of ${parts}`);
    const h = this.held;
    if (h && (h.sid !== sid || part === 0)) throw bad(`subspace '${sid}': part ${part} of ${parts} while part ${h.results.length} of ${h.parts} of subspace '${h.sid}' is missing`);
    if (part === 0) this.dropped.clear(); // a result begins: those before it are over
    if (parts <= 1) return r;
    if (part === 0) this.held = { sid, parts, header: headerOf(w), ids: new Set(), results: [] };
    else if (!h) {
      if (this.dropped.has(sid)) return null; // the rest of parts dropped (their lease is gone): nothing to hold
      throw bad(`subspace '${sid}': part ${part} of ${parts} without its part 0`);
    }
    const held = this.held!;
    if (parts !== held.parts || part !== held.results.length) throw bad(`subspace '${sid}': part ${part} of ${parts} after part ${held.results.length - 1} of ${held.parts}`);
    if (headerOf(w) !== held.header) throw bad(`subspace '${sid}': part ${part} has another range, counts or reasons than part 0`);
    for (const d of r.designs) {
      if (held.ids.has(d.id)) throw bad(`subspace '${sid}': point ${d.id} appears in two parts`);
      held.ids.add(d.id);
    }
    if (BigInt(held.ids.size) > r.counts.evaluated) throw bad(`subspace '${sid}': ${held.ids.size} designs but ${r.counts.evaluated} evaluated`);
    if (part < parts - 1) {
      const bytes = partBytes(r);
      if (this.budget.held + bytes > this.budget.maxBytes) {
        const total = this.budget.held + bytes;
        this.release(); // the stream is refused: what it holds goes
        throw new WireError(
          grpc.status.RESOURCE_EXHAUSTED,
          `subspace '${sid}': part ${part} of ${parts} would bring the parts the coordinator holds to ${total} bytes (max ${this.budget.maxBytes})`,
        );
      }
      this.budget.held += bytes;
      this.heldBytes += bytes;
    }
    held.results.push(r);
    if (held.results.length < parts) return null;
    this.release();
    return { ...r, designs: held.results.flatMap((x) => x.designs) };
  }

  /** Drops the parts held of this subspace (its lease is gone); the rest of them will be ignored. */
  drop(sid: string): void {
    if (this.held?.sid === sid) this.release();
    this.dropped.add(sid);
  }

  /** Drops whatever is held (the stream ended). */
  clear(): void {
    this.release();
  }

  /** Bytes held now by this stream's parts. */
  get bytes(): number {
    return this.heldBytes;
  }

  private release(): void {
    this.held = null;
    this.budget.held -= this.heldBytes;
    this.heldBytes = 0;
  }
}
