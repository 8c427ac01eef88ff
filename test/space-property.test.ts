// Property tests of the space tree against brute-force enumeration of small random spaces
// (fast-check generates levels, dims, constraints, activeIf conditions and a factorisation).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  children,
  compileSpace,
  enumeratePoints,
  rank,
  rootSubspace,
  subspaceById,
  subspaceOf,
  subspaces,
  unrank,
  valueKey,
  type Space,
  type Subspace,
} from '../src/space/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// ----------------------------------------------------------------------------------------------
// Random space specs

type Kind = 'max' | 'min' | 'divides' | 'dividedBy';
type Op = 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';
const FACT = ['tp', 'pp', 'dp', 'sp', 'ep'] as const;

interface DimSpec {
  values: number[];
  cons: { kind: Kind; ref: number }[];
  active: { ref: number; op: Op; num: number; useDim: boolean; ref2: number } | null;
  fact: { of: number; factors: (typeof FACT)[number][]; allowTp: number[] | null; ppDivides: number | null } | null;
}

const dimArb: fc.Arbitrary<DimSpec> = fc.record({
  values: fc.uniqueArray(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 4 }),
  cons: fc.array(fc.record({ kind: fc.constantFrom<Kind>('max', 'min', 'divides', 'dividedBy'), ref: fc.nat(20) }), { maxLength: 2 }),
  active: fc.option(
    fc.record({ ref: fc.nat(20), op: fc.constantFrom<Op>('gt', 'ge', 'lt', 'le', 'eq', 'ne'), num: fc.integer({ min: 1, max: 8 }), useDim: fc.boolean(), ref2: fc.nat(20) }),
    { freq: 4 },
  ),
  fact: fc.option(
    fc.record({
      of: fc.nat(20),
      factors: fc.subarray([...FACT], { minLength: 1 }),
      allowTp: fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }), { freq: 3 }),
      ppDivides: fc.option(fc.constantFrom(2, 4, 6, 12), { freq: 3 }),
    }),
    { freq: 4 },
  ),
});

const spaceArb = fc.array(fc.array(dimArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });

interface Built {
  config: Record<string, unknown>;
  /** Flattened dims with resolved refs, for brute force. */
  flat: {
    name: string;
    level: number;
    values: unknown[];
    cons: { kind: Kind; ref: number }[];
    active: { ref: number; op: Op; ref2: number; num: number } | null;
    fact: { of: number; factors: string[]; allowTp: number[] | null; ppDivides: number | null } | null;
  }[];
}

/** Turns a spec into a valid config (refs resolved to earlier numeric dims; one factorisation at most). */
function build(spec: DimSpec[][]): Built {
  const flat: Built['flat'] = [];
  let haveFact = false;
  const levels = spec.map((dims, li) => ({
    name: `lv${li}`,
    dims: dims.map((d) => {
      const i = flat.length;
      const numeric = flat.map((x, j) => (x.fact ? -1 : j)).filter((j) => j >= 0);
      const pick = (r: number) => numeric[r % numeric.length]!;
      const name = `d${i}`;
      if (d.fact && !haveFact && numeric.length > 0) {
        haveFact = true;
        const of = pick(d.fact.of);
        flat.push({ name, level: li, values: [], cons: [], active: null, fact: { of, factors: d.fact.factors, allowTp: d.fact.factors.includes('tp') ? d.fact.allowTp : null, ppDivides: d.fact.ppDivides } });
        return {
          name, kind: 'factorisation', of: flat[of]!.name, factors: d.fact.factors,
          ...(flat[i]!.fact!.allowTp ? { allowed: { tp: flat[i]!.fact!.allowTp } } : {}),
          ...(d.fact.ppDivides ? { ppDivides: d.fact.ppDivides } : {}),
        };
      }
      const cons = numeric.length ? d.cons.map((c) => ({ kind: c.kind, ref: pick(c.ref) })) : [];
      const active = numeric.length && d.active ? { ref: pick(d.active.ref), op: d.active.op, ref2: d.active.useDim ? pick(d.active.ref2) : -1, num: d.active.num } : null;
      flat.push({ name, level: li, values: d.values, cons, active, fact: null });
      const cfg: Record<string, unknown> = { name, values: d.values, path: `x.${name}` };
      for (const k of ['max', 'min', 'divides', 'dividedBy'] as const) {
        const r = cons.filter((c) => c.kind === k).map((c) => flat[c.ref]!.name);
        if (r.length) cfg[k] = r;
      }
      if (active) cfg['activeIf'] = { dim: flat[active.ref]!.name, [active.op]: active.ref2 >= 0 ? flat[active.ref2]!.name : active.num };
      return cfg;
    }),
  }));
  return { config: { name: 'rand', base: { system: 'hb3d-16l', model: 'llama-3-8b' }, levels }, flat };
}

/** Brute force: every point (list of values in dim order) in canonical order, written independently. */
function brute(b: Built): unknown[][] {
  const out: unknown[][] = [];
  const cur: unknown[] = [];
  const cmp = (op: Op, x: number, y: number) =>
    op === 'gt' ? x > y : op === 'ge' ? x >= y : op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'eq' ? x === y : x !== y;
  const rec = (i: number) => {
    if (i === b.flat.length) {
      out.push(cur.slice());
      return;
    }
    const d = b.flat[i]!;
    if (d.fact) {
      const dev = cur[d.fact.of] as number;
      const free = (f: string) => d.fact!.factors.includes(f);
      // all 5-tuples in lexicographic order
      for (let tp = 1; tp <= dev; tp++)
        for (let pp = 1; pp <= dev; pp++)
          for (let dp = 1; dp <= dev; dp++)
            for (let sp = 1; sp <= dev; sp++)
              for (let ep = 1; ep <= dev; ep++) {
                const m = { tp, pp, dp, sp, ep };
                if (tp * pp * dp * sp !== dev || (tp * dp * sp) % ep !== 0) continue;
                if (FACT.some((f) => !free(f) && m[f] !== 1)) continue;
                if (d.fact.allowTp && !d.fact.allowTp.includes(tp)) continue;
                if (d.fact.ppDivides && d.fact.ppDivides % pp !== 0) continue;
                cur[i] = m;
                rec(i + 1);
              }
      return;
    }
    if (d.active && !cmp(d.active.op, cur[d.active.ref] as number, d.active.ref2 >= 0 ? (cur[d.active.ref2] as number) : d.active.num)) {
      cur[i] = d.values[0];
      rec(i + 1);
      return;
    }
    for (const v of d.values as number[]) {
      const ok = d.cons.every((c) => {
        const o = cur[c.ref] as number;
        return c.kind === 'max' ? v <= o : c.kind === 'min' ? v >= o : c.kind === 'divides' ? o % v === 0 : v % o === 0;
      });
      if (!ok) continue;
      cur[i] = v;
      rec(i + 1);
    }
  };
  rec(0);
  return out;
}

const valuesList = (s: Space, values: Record<string, unknown>) => s.dims.map((d) => values[d.name]);

/** Brute-force subspaces at a depth: distinct prefixes of the points, with level-local indices. */
function bruteSubspaces(s: Space, pts: unknown[][], depth: number): { id: string; first: number; size: number }[] {
  const e = depth === 0 ? 0 : s.levels[depth - 1]!.end;
  const out: { id: string; first: number; size: number; prefix: string[] }[] = [];
  pts.forEach((p, i) => {
    const prefix = s.levels.slice(0, depth).map((lv) => valueKey(p.slice(lv.start, lv.end)));
    const last = out[out.length - 1];
    if (last && last.prefix.join('|') === prefix.join('|')) last.size++;
    else out.push({ id: '', first: i, size: 1, prefix });
  });
  void e;
  // level-local index: position among siblings (same prefix up to the previous level)
  for (let k = 0; k < out.length; k++) {
    const parts: string[] = [];
    for (let l = 0; l < depth; l++) {
      const parentKey = out[k]!.prefix.slice(0, l).join('|');
      const seen = new Set<string>();
      for (let j = 0; j <= k; j++) {
        if (out[j]!.prefix.slice(0, l).join('|') === parentKey) seen.add(out[j]!.prefix[l]!);
      }
      parts.push(`${s.levels[l]!.name}=${seen.size - 1}`);
    }
    out[k]!.id = parts.join('/');
  }
  return out.map(({ id, first, size }) => ({ id, first, size }));
}

function collectIds(s: Space, sub: Subspace): bigint[] {
  const ids: bigint[] = [];
  for (const c of enumeratePoints(s, sub)) ids.push(c.id());
  return ids;
}

describe('random small spaces against brute force', () => {
  it('size, unrank order, rank inverse, bijection, enumeration, subspaces', () => {
    fc.assert(
      fc.property(spaceArb, (spec) => {
        const b = build(spec);
        const pts = brute(b);
        if (pts.length === 0) {
          expect(() => compileSpace(b.config)).toThrow(/at least one point/);
          return;
        }
        const s = compileSpace(b.config);
        expect(s.size).toBe(BigInt(pts.length));
        // unrank follows the canonical order exactly (so it is a bijection onto the brute-force set); rank inverts it
        const seen = new Set<string>();
        pts.forEach((p, i) => {
          const u = unrank(s, BigInt(i));
          expect(valuesList(s, u.values)).toEqual(p);
          expect(rank(s, u)).toBe(BigInt(i));
          seen.add(valueKey(valuesList(s, u.values)));
        });
        expect(seen.size).toBe(pts.length);
        // enumeration of the root
        const enumerated: unknown[][] = [];
        for (const c of enumeratePoints(s)) enumerated.push(valuesList(s, c.values));
        expect(enumerated).toEqual(pts);
        // subspaces at every depth match brute-force grouping; children tile their parent
        for (let depth = 0; depth <= s.levels.length; depth++) {
          const subs = [...subspaces(s, depth)];
          const want = bruteSubspaces(s, pts, depth);
          expect(subs.map((x) => ({ id: x.id, first: Number(x.first), size: Number(x.size) }))).toEqual(want);
          for (const sub of subs) {
            expect(subspaceById(s, sub.id)).toEqual(sub);
            expect(subspaceOf(s, sub.first, depth)).toEqual(sub);
            const kids = children(s, sub);
            expect(kids.reduce((a, k) => a + k.size, 0n)).toBe(depth === s.levels.length ? 0n : sub.size);
            const parentIds = collectIds(s, sub);
            expect(parentIds).toEqual(Array.from({ length: Number(sub.size) }, (_, k) => sub.first + BigInt(k)));
            if (kids.length) expect(kids.flatMap((k) => collectIds(s, k))).toEqual(parentIds);
          }
        }
      }),
      { numRuns: 250 },
    );
  });

  it('subspace ids are stable across two compilations', () => {
    fc.assert(
      fc.property(spaceArb, (spec) => {
        const b = build(spec);
        if (brute(b).length === 0) return;
        const s1 = compileSpace(structuredClone(b.config));
        const s2 = compileSpace(structuredClone(b.config));
        for (let depth = 0; depth <= s1.levels.length; depth++) {
          expect([...subspaces(s2, depth)]).toEqual([...subspaces(s1, depth)]);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('deepstack ids', () => {
  const s = compileSpace(JSON.parse(readFileSync(join(ROOT, 'data', 'spaces', 'deepstack.json'), 'utf8')), 'deepstack');
  const idArb = fc.bigInt({ min: 0n, max: s.size - 1n });

  it('rank(unrank(id)) == id and the subspace of an id contains it, at every depth', () => {
    fc.assert(
      fc.property(idArb, (id) => {
        const p = unrank(s, id);
        expect(p.id).toBe(id);
        expect(rank(s, p)).toBe(id);
        let parent = rootSubspace(s);
        for (let depth = 1; depth <= s.levels.length; depth++) {
          const sub = subspaceOf(s, id, depth);
          expect(id >= sub.first && id < sub.first + sub.size).toBe(true);
          expect(sub.id.startsWith(parent.id)).toBe(true);
          expect(subspaceById(s, sub.id)).toEqual(sub);
          parent = sub;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('children of random subspaces tile their parent exactly', () => {
    fc.assert(
      fc.property(idArb, fc.integer({ min: 0, max: 5 }), (id, depth) => {
        const sub = subspaceOf(s, id, depth);
        const kids = children(s, sub);
        let first = sub.first;
        for (const k of kids) {
          expect(k.first).toBe(first);
          first += k.size;
        }
        expect(first).toBe(sub.first + sub.size);
      }),
      { numRuns: 40 },
    );
  });

  it('enumeration of a serving subspace agrees with unrank point by point', () => {
    const sub = subspaceOf(s, s.size / 3n, 5);
    let k = 0n;
    for (const c of enumeratePoints(s, sub)) {
      if (k % 97n === 0n) expect(c.toPoint()).toEqual(unrank(s, sub.first + k));
      k++;
    }
    expect(k).toBe(sub.size);
  });
});
