// Helpers of the search tests: run specs from presets, brute force, and the canonical answer.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import fc from 'fast-check';
import { pointBound, subspaceBound } from '../src/search/bounds.js';
import { dataPath } from './helpers.js';
import { ParetoArchive, TopK, type Entry } from '../src/search/archive.js';
import { makeRunContext, makeRunSpec, type RunSpec } from '../src/search/context.js';
import { evaluatePoint, pinOf, searchSubspace, SystemCache, type RunContext, type SubspaceResult } from '../src/search/engine.js';
import { enumeratePoints, indicesOf, rootSubspace, children, subspaceOf, unrank, type Subspace } from '../src/space/index.js';

export function spaceJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(dataPath('spaces', `${name}.json`), 'utf8'));
}

export function runSpecFor(space: Record<string, unknown>, search: unknown, splitDepth = 1): RunSpec {
  const base = space.base as { system: string; model: string };
  const system = JSON.parse(readFileSync(dataPath('systems', `${base.system}.json`), 'utf8'));
  const model = JSON.parse(readFileSync(dataPath('models', `${base.model}.json`), 'utf8'));
  return makeRunSpec(space, system, base.system, model, base.model, search, splitDepth);
}

/** Every point evaluated: the canonical front (Pareto with id tie-break) and the feasible count. */
export function bruteForce(ctx: RunContext): { front: Entry[]; feasible: number; infeasible: number } {
  const archive = new ParetoArchive();
  const systems = new SystemCache(ctx);
  let feasible = 0;
  let infeasible = 0;
  for (const cur of enumeratePoints(ctx.space)) {
    const o = evaluatePoint(ctx, systems, cur.idx, cur.values);
    if (!o.scored || !o.scored.feasible) {
      infeasible++;
      continue;
    }
    feasible++;
    archive.insert({ id: cur.id(), values: o.scored.values });
  }
  return { front: archive.sorted(), feasible, infeasible };
}

/**
 * The search the coordinator runs, in one process: subspaces at a depth, in a given order, with the
 * global front and top-K lists merged as the coordinator does. `seedTop`: each subspace starts from
 * the global top-K entries, as a worker does (else from empty lists).
 */
export function searchAll(
  ctx: RunContext,
  depth: number,
  order: (subs: Subspace[]) => Subspace[] = (s) => s,
  seedTop = true,
): { front: Entry[]; top: Entry[][]; results: SubspaceResult[] } {
  let subs: Subspace[] = [rootSubspace(ctx.space)];
  for (let d = 0; d < depth; d++) subs = subs.flatMap((s) => children(ctx.space, s));
  const archive = new ParetoArchive();
  const topk = ctx.spec.objectives.map((_, i) => new TopK(ctx.spec.topK, i));
  const results: SubspaceResult[] = [];
  for (const s of order(subs)) {
    const r = searchSubspace(ctx, s, { front: archive.entries, top: seedTop ? topk.flatMap((t) => t.items) : [] });
    for (const d of r.designs) {
      archive.insert({ id: d.id, values: d.values });
      for (const t of topk) t.insert({ id: d.id, values: d.values });
    }
    results.push(r);
  }
  return { front: archive.sorted(), top: topk.map((t) => t.items), results };
}

export function ctxFor(space: string, search: unknown): RunContext {
  return makeRunContext(runSpecFor(spaceJson(space), search));
}

/**
 * Admissible bounds (DESIGN 3.3), as a property: on random points of random subspaces of the runs'
 * space (one run context per spec, the same space), every bound (the subspace's with and without
 * plans, on its network, and the point's own) is >= the point's true objective values, and a bound
 * that calls a subspace infeasible holds no feasible point. Returns how many (bound, feasible point)
 * pairs it checked.
 */
export function boundsHoldOnRandomPoints(ctxs: RunContext[], systems: SystemCache[], numRuns: number): number {
  let checked = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: ctxs.length - 1 }),
      fc.bigInt({ min: 0n, max: ctxs[0]!.space.size - 1n }),
      fc.integer({ min: 0, max: ctxs[0]!.space.levels.length }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1, maxLength: 4 }),
      (si, anchor, depth, picks) => {
        const ctx = ctxs[si]!;
        const sub = subspaceOf(ctx.space, anchor, depth);
        const b = subspaceBound(ctx.bounds, sub);
        const cheap = subspaceBound(ctx.bounds, sub, { plans: false }); // the coordinator's
        const net = systems[si]!.networkOf(sub);
        const onNet = subspaceBound(ctx.bounds, sub, { network: net }); // the engine's
        if (b?.ideal && onNet?.ideal) onNet.ideal.forEach((v, i) => expect(v).toBeLessThanOrEqual(b.ideal![i]! + 1e-9 * Math.abs(b.ideal![i]!)));
        for (const u of picks) {
          const id = sub.first + BigInt(Math.floor(u * Number(sub.size)));
          const p = unrank(ctx.space, id);
          const idx = indicesOf(ctx.space, p);
          const o = evaluatePoint(ctx, systems[si]!, idx, p.values);
          const pb = pointBound(ctx.bounds, idx, pinOf(systems[si]!, idx, p.values));
          const feasible = !!o.scored?.feasible;
          for (const bound of [b, cheap, onNet, pb]) {
            if (bound === null) continue;
            if (bound.infeasible) {
              expect(feasible, `${bound.infeasible} bound on a feasible point ${id}`).toBe(false);
              continue;
            }
            if (!feasible) continue;
            o.scored!.values.forEach((v, i) => {
              expect(bound.ideal![i]!, `objective ${ctx.spec.objectives[i]} of point ${id} in ${sub.id}`).toBeGreaterThanOrEqual(v * (1 - 1e-12) - 1e-15);
            });
            checked++;
          }
        }
      },
    ),
    { numRuns },
  );
  return checked;
}
