// A primal heuristic for the order of the exact search (DESIGN 3.3 leaves the order free): random
// points and single-dim hill climbing from the best of them find good designs after a few thousand
// evaluations. The coordinator leases the subspaces that hold them first, so the branch-and-bound
// starts from a strong incumbent and prunes more. It changes only the order, never the answer.
// Deterministic (a fixed-seed generator over point ids), so a resumed run gets the same hints.
import { rankIndices, unrank, unrankIndices } from '../space/index.js';
import { evaluatePoint, SystemCache, type RunContext } from './engine.js';

export interface WarmStartOptions {
  /** Random points evaluated (default 1500). */
  samples?: number;
  /** Evaluations of single-dim neighbours in the climbs, all together (default 3000). */
  climb?: number;
  /** Climbs, each from one of the best random points (default 3). */
  restarts?: number;
  seed?: number;
}

/** Point ids of good designs (the climbs' ends, best first, then their starts). */
export function warmStartHints(ctx: RunContext, opts: WarmStartOptions = {}): bigint[] {
  const systems = new SystemCache(ctx);
  const size = ctx.space.size;
  let state = (opts.seed ?? 1) >>> 0;
  // xorshift32: 32 random bits per call.
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
  const value = (id: bigint): number => {
    const p = unrank(ctx.space, id);
    const o = evaluatePoint(ctx, systems, unrankIndices(ctx.space, id), p.values, false);
    return o.scored?.feasible ? o.scored.values[0]! : -Infinity;
  };
  const found: { id: bigint; v: number }[] = [];
  for (let k = 0; k < (opts.samples ?? 1500); k++) {
    const id = ((BigInt(next()) << 32n) | BigInt(next())) % size;
    const v = value(id);
    if (v > -Infinity) found.push({ id, v });
  }
  if (found.length === 0) return [];
  found.sort((a, b) => b.v - a.v || (a.id < b.id ? -1 : 1));
  // First-improvement climbs (change one dim at a time) from the best few random points.
  const starts = found.slice(0, opts.restarts ?? 3);
  const per = Math.floor((opts.climb ?? 3000) / starts.length);
  const ends = starts.map((s) => climb(s.id, s.v, per));
  ends.sort((a, b) => b.v - a.v || (a.id < b.id ? -1 : 1));
  return [...new Set([...ends.map((e) => e.id), ...starts.map((s) => s.id)])];

  function climb(id: bigint, v: number, budget: number): { id: bigint; v: number } {
    for (let improved = true; improved && budget > 0; ) {
      improved = false;
      const idx = Array.from(unrankIndices(ctx.space, id));
      for (let d = 0; d < idx.length && !improved && budget > 0; d++) {
        for (let k = 0; k < ctx.space.dims[d]!.values.length && budget > 0; k++) {
          if (k === idx[d]) continue;
          const j = idx.slice();
          j[d] = k;
          let nid: bigint;
          try {
            nid = rankIndices(ctx.space, j);
          } catch {
            continue; // not a point of the space (a constraint or an inactive dim)
          }
          budget--;
          const x = value(nid);
          if (x > v) {
            id = nid;
            v = x;
            improved = true;
            break;
          }
        }
      }
    }
    return { id, v };
  }
}
