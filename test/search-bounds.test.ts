// Admissible bounds: on random points of random subspaces, bound >= the true objective value, and a
// subspace called infeasible by its bound holds no feasible point.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { heatedStaticFloorW, subspaceBound, pointBound } from '../src/search/bounds.js';
import { evalInputOf, evaluatePoint, pinOf, SystemCache, type RunContext } from '../src/search/engine.js';
import { OBJECTIVE_NAMES, SERVING_OBJECTIVES } from '../src/search/objective.js';
import { subspaceOf, unrank, indicesOf } from '../src/space/index.js';
import { boundsHoldOnRandomPoints, ctxFor } from './search-helpers.js';
import { copiesOf, cycleOf, evaluate, type EvalResult } from '../src/model/evaluate.js';
import type { SystemSpec } from '../src/model/hardware/schema.js';
import { score } from '../src/search/objective.js';

/** A point's system throttled two ways, from its evaluation r0: a power wall at `frac` of its draw,
 *  and a junction limit at `frac` of its temperature rise (both throttle, never refuse). */
function throttledVariants(sys: SystemSpec, r0: EvalResult, frac: number): SystemSpec[] {
  const tdp = structuredClone(sys);
  tdp.package.power.tdpW = frac * Math.max(r0.power.prefillW, r0.power.decodeW);
  tdp.package.thermal.onOverLimit = 'throttle';
  const tj = structuredClone(sys);
  const amb = sys.package.thermal.ambientC;
  for (const ch of tj.package.chiplets) ch.compute.tjMaxC = amb + frac * (r0.thermal.maxLogicC - amb);
  tj.package.thermal.onOverLimit = 'throttle';
  return [tdp, tj];
}

/** Point `id` of a run's space: its values, value indices, system and evaluation. */
function pointOf(ctx: RunContext, systems: SystemCache, id: bigint, detail = true) {
  const p = unrank(ctx.space, id);
  const idx = indicesOf(ctx.space, p);
  return { p, idx, sys: systems.get(idx, p.values), o: evaluatePoint(ctx, systems, idx, p.values, detail) };
}

const specs = [
  // The serving objective needs a workload: test/search-serving.test.ts checks its bounds.
  ...OBJECTIVE_NAMES.filter((o) => !SERVING_OBJECTIVES.includes(o)).map((o) => ({ objectives: [o] })),
  { objectives: ['throughput', 'throughput-per-watt'] },
  { objectives: ['tpot', 'energy-per-token', 'throughput'] },
  { objectives: ['goodput'], constraints: { tpotMaxS: 0.05, ttftMaxS: 5 } },
  { objectives: ['throughput-per-watt'], constraints: { powerMaxW: 2000 } },
];

describe('admissible bounds', () => {
  for (const space of ['tiny', 'small', 'quick']) {
    it(`bound >= true value on random points of random subspaces (${space})`, () => {
      const ctxs = specs.map((s) => ctxFor(space, s));
      const systems = ctxs.map((c) => new SystemCache(c));
      const checked = boundsHoldOnRandomPoints(ctxs, systems, space === 'tiny' ? 150 : 80);
      expect(checked).toBeGreaterThan(20);
    });
  }

  // deepstack: most random points are infeasible (memory, mapping), so sample until enough feasible
  // ones are found; check the point bound (with the point's own mapping plan) and the bounds of the
  // point's enclosing subspaces at the system, mapping and serving levels.
  it('bound >= true value on feasible random points of deepstack (plan-aware point bound)', () => {
    // One context with four objectives (each checked elementwise): the plans and mapping frontiers
    // the bounds build are shared by all of them.
    const objs = [{ objectives: ['throughput', 'throughput-per-watt', 'tpot', 'energy-per-token'] }];
    const ctxs = objs.map((s) => ctxFor('deepstack', s));
    const systems = ctxs.map((c) => new SystemCache(c));
    const space = ctxs[0]!.space;
    let checked = 0;
    let tightened = 0;
    const ratios: number[] = [];
    const ratiosPerW: number[] = [];
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: space.size - 1n }), fc.integer({ min: 0, max: ctxs.length - 1 }), (id, si) => {
        const ctx = ctxs[si]!;
        const p = unrank(space, id);
        const idx = indicesOf(space, p);
        const o = evaluatePoint(ctx, systems[si]!, idx, p.values);
        const planned = pointBound(ctx.bounds, idx, pinOf(systems[si]!, idx, p.values));
        const bounds = [planned];
        // The plan-aware bound is never looser than the mapping-free one; record how close it is.
        const free = pointBound(ctx.bounds, idx);
        if (planned?.ideal && free?.ideal) planned.ideal.forEach((v, i) => expect(v).toBeLessThanOrEqual(free.ideal![i]! + 1e-12 * Math.abs(free.ideal![i]!)));
        if (planned?.ideal && o.scored?.feasible) {
          ratios.push(planned.ideal[0]! / o.scored.values[0]!);
          ratiosPerW.push(planned.ideal[1]! / o.scored.values[1]!);
        }
        if (o.scored?.feasible)
          for (const depth of [space.levels.length - 2, space.levels.length - 1, space.levels.length]) {
            const sub = subspaceOf(space, id, depth);
            const blind = subspaceBound(ctx.bounds, sub);
            const onNet = subspaceBound(ctx.bounds, sub, { network: systems[si]!.networkOf(sub) });
            bounds.push(blind, onNet);
            // On a fixed mapping the network's collectives tighten the bound, never loosen it, and it
            // stays at or above the point's own bound (which pins the point's precision too).
            if (blind?.ideal && onNet?.ideal && planned?.ideal && depth === space.levels.length - 1) {
              if (onNet.ideal[1]! < blind.ideal[1]! * (1 - 1e-9)) tightened++;
              onNet.ideal.forEach((v, i) => {
                expect(v).toBeLessThanOrEqual(blind.ideal![i]! + 1e-9 * Math.abs(blind.ideal![i]!));
                expect(v).toBeGreaterThanOrEqual(planned.ideal![i]! - 1e-9 * Math.abs(planned.ideal![i]!));
              });
            }
          }
        for (const b of bounds) {
          if (b === null) continue;
          if (b.infeasible) {
            expect(o.scored?.feasible, `${b.infeasible} bound on feasible point ${id}`).not.toBe(true);
            continue;
          }
          if (!o.scored?.feasible) continue;
          checked++;
          o.scored.values.forEach((v, i) => expect(b.ideal![i]!, `objective ${ctx.spec.objectives[i]} of point ${id}`).toBeGreaterThanOrEqual(v * (1 - 1e-12) - 1e-15));
        }
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(checked).toBeGreaterThan(30);
    expect(tightened, 'mapping-level bounds the network tightened').toBeGreaterThan(3);
    // Tightness, not only admissibility: measured medians 1.14x on throughput and 1.62x on
    // throughput/W (the mapping-free bound was 42x and 54x; without the point's collectives, 4.2x and
    // 5.6x); since deepstack has chiplet copies and prefill chunks, 1.33x and 2.09x (bench/bounds: the
    // bound ignores a chunk's extra weight reads); an infinite, mapping-blind or network-blind bound
    // fails here.
    ratios.sort((a, b) => a - b);
    ratiosPerW.sort((a, b) => a - b);
    expect(ratios[ratios.length >> 1]!).toBeLessThan(2);
    expect(ratiosPerW[ratiosPerW.length >> 1]!).toBeLessThan(3);
  }, 240_000);
});

// The leakage lift of the energy bounds (leastCycleEnergy): at every sampled point, throttled ones
// included, the static + board power floor it builds on, taken with the point's own dynamic powers as
// the bound models them, is at most the static + board power evaluate() reports. The powers are
// evaluate()'s (operate()): each die draws its dynamic energy of a request cycle over the whole cycle,
// which is prefill + decode on a die that runs both phases and the longer of the two on split dies
// (pipelined batches).
describe('heated static-power floor', () => {
  for (const space of ['tiny', 'quick', 'deepstack']) {
    it(`is at most the static power evaluate() reports (${space})`, () => {
      const objectives = space === 'deepstack' ? ['throughput-per-watt', 'energy-per-token'] : ['energy-per-token'];
      const ctx = ctxFor(space, { objectives });
      const systems = new SystemCache(ctx);
      let checked = 0;
      let throttled = 0;
      let lifted = 0;
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: ctx.space.size - 1n }), (id) => {
          const { p, idx, sys, o } = pointOf(ctx, systems, id);
          if (sys instanceof Error || !o.result) return;
          // The point as it is, and throttled: the same system with a power wall at 60% of its draw,
          // and with a junction limit at 60% of its rise (neither field enters the floor).
          const r0 = o.result;
          const variants = [r0, ...throttledVariants(sys, r0, 0.6).map((v) => evaluate(evalInputOf(ctx, systems, idx, p.values, v, false)))];
          const shared = !sys.package.chiplets.some((c) => c.role === 'prefill');
          for (const r of variants) {
            // Every operating point the model settled at (feasible or not), where the leakage fixed
            // point converged.
            if (r.thermal.runaway) continue;
            const O = r.outputTokens;
            const tPre = r.prefill.stepTimeS;
            const tDec = r.decode.stepTimeS * O;
            const preJ = r.prefill.energyJ.computeJ + r.prefill.energyJ.sramJ;
            const decJ = (r.decode.energyJ.computeJ + r.decode.energyJ.sramJ) * O;
            const decDramJ = r.decode.energyJ.dramJ * O;
            const cycle = cycleOf(shared, tPre, tDec);
            // One die's share: the result counts every copy of a role's chiplet.
            const nPre = copiesOf(sys, 'prefill');
            const nDec = copiesOf(sys, 'decode');
            const powers = shared
              ? { decodeLogicW: (preJ + decJ) / nDec / cycle, decodeDramW: decDramJ / nDec / cycle, prefillLogicW: 0 }
              : { decodeLogicW: decJ / nDec / cycle, decodeDramW: decDramJ / nDec / cycle, prefillLogicW: preJ / nPre / cycle };
            const s = r.thermal.throttleFactor;
            const floor = heatedStaticFloorW(ctx.bounds, idx, s, powers);
            const reported = r.power.staticW + r.power.otherW;
            expect(floor, `point ${id} at clock ${s}`).toBeLessThanOrEqual(reported * (1 + 1e-12));
            const blind = heatedStaticFloorW(ctx.bounds, idx, s, { decodeLogicW: 0, decodeDramW: 0, prefillLogicW: 0 });
            if (floor > blind * 1.01) lifted++;
            if (s < 1) throttled++;
            checked++;
          }
        }),
        { numRuns: space === 'deepstack' ? 300 : 200, seed: 11 },
      );
      expect(checked).toBeGreaterThan(50);
      // The floor does lift with the dies' heat on many points, and throttled points are met (not a
      // vacuous check).
      expect(lifted).toBeGreaterThan(checked / 10);
      expect(throttled).toBeGreaterThan(checked / 4);
      console.log(`${space}: ${checked} points, ${throttled} throttled, ${lifted} lifted by >1%`);
    }, 240_000);
  }
});

// End to end at throttled operating points: the random points of the presets rarely throttle, so each
// feasible point is also evaluated with a power wall at 75% of its draw and with a junction limit at
// 75% of its rise. Neither field enters any bound quantity (the bound covers every clock scale), so
// the point's own bound must stay at or above the throttled point's energy objectives.
describe('energy bounds at throttled points', () => {
  for (const space of ['quick', 'deepstack']) {
    it(`point bound >= true value with the point throttled (${space})`, () => {
      const ctx = ctxFor(space, { objectives: ['throughput-per-watt', 'energy-per-token'] });
      const systems = new SystemCache(ctx);
      let throttled = 0;
      fc.assert(
        fc.property(fc.bigInt({ min: 0n, max: ctx.space.size - 1n }), (id) => {
          const { p, idx, sys, o } = pointOf(ctx, systems, id, false);
          if (sys instanceof Error || !o.scored?.feasible || !o.result) return;
          const b = pointBound(ctx.bounds, idx, pinOf(systems, idx, p.values));
          expect(b?.ideal, `bound of feasible point ${id}`).toBeDefined();
          for (const v of throttledVariants(sys, o.result, 0.75)) {
            const r = evaluate(evalInputOf(ctx, systems, idx, p.values, v, false));
            const sc = score(r, v, ctx.spec);
            if (!sc.feasible) continue;
            if (r.thermal.throttleFactor < 1) throttled++;
            sc.values.forEach((x, i) =>
              expect(b!.ideal![i]!, `${ctx.spec.objectives[i]} of point ${id} at clock ${r.thermal.throttleFactor}`).toBeGreaterThanOrEqual(x * (1 - 1e-12) - 1e-15),
            );
          }
        }),
        { numRuns: space === 'deepstack' ? 1500 : 400, seed: 13 },
      );
      expect(throttled).toBeGreaterThan(20);
    }, 240_000);
  }
});
