// Space benchmark: compile (count) time, points enumerated per second, unrank / rank calls per second
// and subspaces generated per second, median of 5 runs. Run: npx tsc -p . && node dist/bench/space.js
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median } from './machine.js';
import { compileSpace, enumeratePoints, fmtBig, rank, subspaceOf, subspaces, unrank, type Space, type Subspace } from '../src/space/index.js';

function dataDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'data', 'spaces'))) return join(dir, 'data');
    const up = dirname(dir);
    if (up === dir) throw new Error('bench/space: cannot find data/spaces');
    dir = up;
  }
}

const load = (name: string) => JSON.parse(readFileSync(join(dataDir(), 'spaces', `${name}.json`), 'utf8')) as unknown;
const RUNS = 5;
const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1));

function time(fn: () => number): number {
  const t0 = process.hrtime.bigint();
  const n = fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return n / s;
}

/** Points per second over the first `limit` points of a subspace (a checksum keeps the loop honest). */
function enumRate(space: Space, sub: Subspace, limit: number): number {
  let sink = 0;
  const r = time(() => {
    let n = 0;
    for (const c of enumeratePoints(space, sub)) {
      sink += c.idx[c.idx.length - 1]! + c.offset;
      if (++n === limit) break;
    }
    return n;
  });
  if (sink === -1) console.log('');
  return r;
}

function main(): void {
  console.log(`space benchmark on ${machine()}`);
  for (const name of ['quick', 'deepstack']) {
    const cfg = load(name);
    const compileMs = median(Array.from({ length: RUNS }, () => {
      const t0 = process.hrtime.bigint();
      compileSpace(cfg, name);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    }));
    const space = compileSpace(cfg, name);
    console.log(`\n${name}: ${fmtBig(space.size)} points (${space.size}), compile + exact count ${compileMs.toFixed(1)} ms (median of ${RUNS})`);

    const sub = name === 'quick' ? subspaceOf(space, 0n, 0) : subspaceOf(space, space.size / 2n, 2);
    const limit = 2_000_000;
    const enumRates = Array.from({ length: RUNS }, () => enumRate(space, sub, limit));
    console.log(`  enumeratePoints: ${fmt(median(enumRates))} points/s (subspace '${sub.id || 'root'}', ${fmtBig(sub.size)} points, up to ${fmtBig(BigInt(limit))} per run)`);

    const ids: bigint[] = [];
    let x = 0x9e3779b97f4a7c15n;
    for (let k = 0; k < 100_000; k++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      ids.push(x % space.size);
    }
    const unrankRates = Array.from({ length: RUNS }, () => time(() => {
      for (const id of ids) unrank(space, id);
      return ids.length;
    }));
    console.log(`  unrank: ${fmt(median(unrankRates))} calls/s (random ids)`);
    const points = ids.slice(0, 20_000).map((id) => unrank(space, id));
    const rankRates = Array.from({ length: RUNS }, () => time(() => {
      for (const p of points) rank(space, p);
      return points.length;
    }));
    console.log(`  rank: ${fmt(median(rankRates))} calls/s`);
    const depth = Math.min(3, space.levels.length);
    const subRates = Array.from({ length: RUNS }, () => time(() => {
      let n = 0;
      for (const s of subspaces(space, depth)) {
        if (s.size < 0n) break;
        if (++n === 100_000) break;
      }
      return n;
    }));
    console.log(`  subspaces(depth ${depth}): ${fmt(median(subRates))} subspaces/s`);
  }
}

main();
