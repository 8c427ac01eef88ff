// bench/bounds: how tight the search's bounds are on deepstack. On random feasible points, the ratio of
// the point bound (with the point's own mapping plan) to the evaluated objective, per objective; and
// the spread of the bounds of the top-level (memory) subspaces with the cheap (coordinator's) bound.
//   npm run build && node dist/bench/bounds.js [points=300] [seed=12345]
import { runSpecFromFlags } from '../src/cli/search.js';
import { makeRunContext } from '../src/search/context.js';
import { evaluatePoint, pinOf, SystemCache } from '../src/search/engine.js';
import { pointBound, subspaceBound } from '../src/search/bounds.js';
import { subspaces, unrank, unrankIndices } from '../src/space/index.js';
import { machine } from './machine.js';

const want = Number(process.argv[2] ?? 300);
let seed = Number(process.argv[3] ?? 12345);
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const objectives = ['throughput', 'throughput-per-watt'] as const;
const spec = runSpecFromFlags({ space: 'deepstack', objective: objectives.join(','), db: ':memory:' });
const ctx = makeRunContext(spec);
const systems = new SystemCache(ctx);
const size = Number(ctx.space.size);
const ratios: number[][] = objectives.map(() => []);
let tried = 0;
const t0 = performance.now();
while (ratios[0]!.length < want && tried < 100 * want) {
  tried++;
  const id = BigInt(Math.floor(rnd() * size)) % ctx.space.size;
  const p = unrank(ctx.space, id);
  const idx = unrankIndices(ctx.space, id);
  const b = pointBound(ctx.bounds, idx, pinOf(systems, idx, p.values));
  if (!b || b.infeasible) continue;
  const o = evaluatePoint(ctx, systems, idx, p.values);
  if (!o.scored?.feasible) continue;
  objectives.forEach((_, i) => ratios[i]!.push(b.ideal![i]! / o.scored!.values[i]!));
}
const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))]!;
console.log(`bench/bounds on ${machine()}`);
console.log(`deepstack: ${ratios[0]!.length} feasible random points (of ${tried} drawn) in ${((performance.now() - t0) / 1000).toFixed(1)} s; point bound / true value:`);
objectives.forEach((o, i) => {
  const r = ratios[i]!;
  console.log(`  ${o.padEnd(20)} min ${q(r, 0).toFixed(2)}  p10 ${q(r, 0.1).toFixed(2)}  median ${q(r, 0.5).toFixed(2)}  p90 ${q(r, 0.9).toFixed(2)}  max ${q(r, 1).toFixed(2)}`);
});
// Top-level subspaces: the cheap bound the coordinator orders and pre-prunes with.
const tops: number[] = [];
const t1 = performance.now();
for (const s of subspaces(ctx.space, 1)) {
  const b = subspaceBound(ctx.bounds, s, { plans: false });
  if (b?.ideal) tops.push(b.ideal[1]!);
}
console.log(
  `memory-level subspaces (${tops.length}), throughput-per-watt bound (coordinator's, mapping-free): min ${q(tops, 0).toFixed(2)}  median ${q(tops, 0.5).toFixed(2)}  max ${q(tops, 1).toFixed(2)} tok/s/W (${((performance.now() - t1) / 1000).toFixed(1)} s)`,
);
