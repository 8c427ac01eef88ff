// The design space: exact counts on hand-computable spaces, presets, ids, subspaces, enumeration,
// application to the model's system schema, and refusal of bad configs with their JSON path.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/model/errors.js';
import { systemSchema } from '../src/model/hardware/schema.js';
import {
  applyPoint,
  checkPaths,
  children,
  compileSpace,
  describeSpace,
  enumeratePoints,
  levelSizes,
  rank,
  rootSubspace,
  spaceSize,
  spaceSummaryJson,
  subspaceById,
  subspaceOf,
  subspaces,
  unrank,
  type Mapping,
  type Space,
} from '../src/space/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (...p: string[]) => JSON.parse(readFileSync(join(ROOT, 'data', ...p), 'utf8')) as Record<string, unknown>;
const preset = (name: string) => compileSpace(readJson('spaces', `${name}.json`), name);

const base = { system: 'hb3d-16l', model: 'llama-3-8b' };
/** A space with one level per entry of `levels` (each a list of dims). */
function space(levels: unknown[][], extra: Record<string, unknown> = {}): unknown {
  return { name: 't', base, levels: levels.map((dims, i) => ({ name: `L${i}`, dims })), ...extra };
}
/** Maps each point of a cursor generator while it is current (the cursor object is reused). */
function collect<C, T>(gen: Iterable<C>, f: (c: C) => T): T[] {
  const out: T[] = [];
  for (const c of gen) out.push(f(c));
  return out;
}
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Brute-force list of mappings of d (independent of src/space): lexicographic (tp,pp,dp,sp,ep). */
function bruteMappings(d: number, epFree = true): Mapping[] {
  const out: Mapping[] = [];
  for (let tp = 1; tp <= d; tp++)
    for (let pp = 1; pp <= d; pp++)
      for (let dp = 1; dp <= d; dp++)
        for (let sp = 1; sp <= d; sp++)
          for (let ep = 1; ep <= d; ep++) {
            if (tp * pp * dp * sp !== d) continue;
            if ((tp * dp * sp) % ep !== 0) continue;
            if (!epFree && ep !== 1) continue;
            out.push({ tp, pp, dp, sp, ep });
          }
  return out;
}

function expectConfigError(fn: () => unknown, path: string, expected?: RegExp): ConfigError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const ce = err as ConfigError;
  expect(ce.path).toBe(path);
  if (expected) expect(ce.expected).toMatch(expected);
  return ce;
}

describe('exact counts', () => {
  it('connected layers <= layers over layers 1..4 is the triangle of 10', () => {
    const s = compileSpace(space([[
      { name: 'layers', values: range(1, 4), path: 'package.chiplets[0].memory.layers' },
      { name: 'connected', values: range(1, 4), max: 'layers', path: 'package.chiplets[0].memory.connectedLayers' },
    ]]));
    expect(spaceSize(s)).toBe(10n);
    const pairs = collect(enumeratePoints(s), (c) => `${c.values['layers']}/${c.values['connected']}`);
    expect(pairs).toEqual(['1/1', '2/1', '2/2', '3/1', '3/2', '3/3', '4/1', '4/2', '4/3', '4/4']);
  });

  it('layers 1..16 and connected <= layers: 136; times independent dims multiplies', () => {
    const s = compileSpace(space([
      [
        { name: 'layers', values: range(1, 16), path: 'a' },
        { name: 'connected', values: range(1, 16), max: 'layers', path: 'b' },
      ],
      [{ name: 'batch', values: [1, 2, 4], target: 'batch' }],
    ]));
    expect(s.size).toBe(136n * 3n);
  });

  it('min, divides and dividedBy', () => {
    // x in 1..6, y in 1..6 with y >= x: 21; y | 12 and x | y: count by hand below
    const s1 = compileSpace(space([[{ name: 'x', values: range(1, 6), path: 'a' }, { name: 'y', values: range(1, 6), min: 'x', path: 'b' }]]));
    expect(s1.size).toBe(21n);
    const s2 = compileSpace(space([[{ name: 'x', values: range(1, 6), path: 'a' }, { name: 'y', values: range(1, 6), dividedBy: 'x', path: 'b' }]]));
    // multiples of x within 1..6: 6+3+2+1+1+1
    expect(s2.size).toBe(14n);
    const s3 = compileSpace(space([[{ name: 'x', values: [4, 6, 12], path: 'a' }, { name: 'y', values: range(1, 6), divides: 'x', path: 'b' }]]));
    // divisors <= 6 of 4: 1,2,4; of 6: 1,2,3,6; of 12: 1,2,3,4,6
    expect(s3.size).toBe(12n);
  });

  it('factorisations of 8 into tp*pp*dp*sp with ep | tp*dp*sp match brute force, in lexicographic order', () => {
    const s = compileSpace(space([
      [{ name: 'devices', values: [8], target: 'devices' }],
      [{ name: 'mapping', kind: 'factorisation', of: 'devices', factors: ['tp', 'pp', 'dp', 'sp', 'ep'] }],
    ]));
    const brute = bruteMappings(8);
    // by hand: for 8 = 2^3 over 4 factors, 20 (tp,pp,dp,sp); ep divides tp*dp*sp = 8/pp:
    // pp=1: 10 x 4, pp=2: 6 x 3, pp=4: 3 x 2, pp=8: 1 x 1 -> 40 + 18 + 6 + 1 = 65
    expect(brute.length).toBe(65);
    expect(s.size).toBe(65n);
    expect(collect(enumeratePoints(s), (c) => ({ ...c.mapping! }))).toEqual(brute);
    expect(unrank(s, 0n).mapping).toEqual({ tp: 1, pp: 1, dp: 1, sp: 8, ep: 1 });
    expect(unrank(s, 64n).mapping).toEqual({ tp: 8, pp: 1, dp: 1, sp: 1, ep: 8 });
  });

  it('factorisation with allowed lists, absent factors and ppDivides', () => {
    const s = compileSpace(space([
      [{ name: 'devices', values: [1, 2, 4, 8, 16], target: 'devices' }],
      [{ name: 'm', kind: 'factorisation', of: 'devices', factors: ['tp', 'pp', 'dp'], allowed: { tp: [1, 2, 4, 8] }, ppDivides: 6 }],
    ]));
    let brute = 0;
    for (const d of [1, 2, 4, 8, 16])
      brute += bruteMappings(d, false).filter((m) => m.sp === 1 && m.tp <= 8 && 6 % m.pp === 0).length;
    expect(s.size).toBe(BigInt(brute));
  });

  it('a device count without any allowed mapping is skipped (no empty subtrees)', () => {
    const s = compileSpace(space([
      [{ name: 'devices', values: [3, 4], target: 'devices' }],
      [{ name: 'm', kind: 'factorisation', of: 'devices', factors: ['tp'], allowed: { tp: [1, 2, 4] } }],
    ]));
    expect(s.size).toBe(1n);
    expect(unrank(s, 0n).values['devices']).toBe(4);
    expect([...subspaces(s, 1)].map((x) => x.id)).toEqual(['L0=0']);
  });

  it('activeIf pins a dim to its first value when its condition fails', () => {
    const s = compileSpace(space([[
      { name: 'devices', values: [1, 2, 4], target: 'devices' },
      { name: 'topo', values: ['switch', 'ring', 'torus2d'], target: 'network.level0.topology', activeIf: { dim: 'devices', gt: 1 } },
    ]]));
    expect(s.size).toBe(1n + 3n + 3n);
    expect(unrank(s, 0n).values).toEqual({ devices: 1, topo: 'switch' });
  });
});

describe('presets', () => {
  it('deepstack holds at least 2.5e14 points (exact count; bench/space times it)', () => {
    const s = preset('deepstack');
    expect(s.size >= 250_000_000_000_000n).toBe(true);
    // the memory level alone: layers 1..16 with connected <= layers (136) x 3 prefill stacks x 5 links x 3 channel counts
    expect(levelSizes(s)[0]!.nodes).toBe(136n * 3n * 5n * 3n);
    // sum of children sizes = parent size, on the first subspace of each depth
    let sub = rootSubspace(s);
    for (let d = 0; d < s.levels.length; d++) {
      const kids = children(s, sub);
      expect(kids.reduce((a, k) => a + k.size, 0n)).toBe(sub.size);
      sub = kids[kids.length >> 1]!;
    }
  });

  it('quick: 16 stacks x 3 vertical links x 3 channel counts x 3 clocks x 3 SRAM x (1/2/4/8/16/32 devices, 4 networks each above one, x their mappings) x 11 batches x 2 chunks x 2 x 2 precisions', () => {
    const s = preset('quick');
    const stacks = [4, 8, 12, 16].reduce((a, l) => a + [1, 2, 4, 8, 16].filter((c) => c <= l).length, 0);
    expect(stacks).toBe(16);
    const systems = [1, 2, 4, 8, 16, 32].reduce((a, d) => a + (d > 1 ? 4 : 1) * bruteMappings(d).filter((m) => m.sp === 1).length, 0);
    expect(s.size).toBe(BigInt(stacks * 3 * 3 * 3 * 3 * systems * 11 * 2 * 2 * 2));
    expect(s.size > 10n ** 7n).toBe(true);
  });

  it('small: 12 stacks x 3 pitches x 2 SRAM x 50 mappings of 1/2/4/8 devices x 9 batches x 2 precisions', () => {
    const s = preset('small');
    const mappings = [1, 2, 4, 8].reduce((a, d) => a + bruteMappings(d).filter((m) => m.sp === 1).length, 0);
    expect(mappings).toBe(50);
    expect(s.size).toBe(BigInt(12 * 3 * 2 * mappings * 9 * 2));
    expect(s.size >= 10_000n && s.size <= 100_000n).toBe(true);
  });

  it('tiny holds about 10^3 points', () => {
    const s = preset('tiny');
    expect(s.size).toBe(1440n);
  });

  it('points of every preset apply to valid systems of their base preset', () => {
    for (const name of ['tiny', 'small', 'quick', 'deepstack']) {
      const s = preset(name);
      const sys = readJson('systems', `${s.config.base.system}.json`);
      checkPaths(s, sys);
      const n = 300n;
      for (let k = 0n; k < n; k++) {
        const id = (s.size * k) / n + (k % 7n);
        const p = unrank(s, id < s.size ? id : s.size - 1n);
        const a = applyPoint(sys, p, s);
        const r = systemSchema.safeParse(a.system);
        if (!r.success) throw new Error(`${name} point ${p.id}: ${JSON.stringify(r.error.issues[0])}`);
      }
    }
  });

  it('describeSpace and spaceSummaryJson report the levels', () => {
    const s = preset('small');
    const text = describeSpace(s);
    expect(text).toContain('64800');
    for (const lv of s.levels) expect(text).toContain(lv.name);
    const j = spaceSummaryJson(s);
    expect(j.size).toBe('64800');
    expect(JSON.parse(JSON.stringify(j)).levels.length).toBe(5);
    expect(j.levels[0]!.subspaces).toBe('36');
    expect(j.levels[4]!.subspaces).toBe('64800');
  });
});

describe('ids and subspaces', () => {
  it('subspace ids are level-local paths with contiguous id ranges', () => {
    const s = preset('tiny');
    const subs = [...subspaces(s, 1)];
    expect(subs.map((x) => x.id)).toEqual(range(0, 8).map((i) => `memory=${i}`));
    let first = 0n;
    for (const sub of subs) {
      expect(sub.first).toBe(first);
      first += sub.size;
    }
    expect(first).toBe(s.size);
    const deep = [...subspaces(s, 3)];
    expect(deep[0]!.id).toBe('memory=0/compute=0/system=0');
    expect(deep[deep.length - 1]!.id).toBe('memory=8/compute=1/system=2');
    for (const sub of deep) {
      expect(subspaceById(s, sub.id)).toEqual(sub);
      expect(subspaceOf(s, sub.first + sub.size - 1n, 3)).toEqual(sub);
    }
  });

  it('enumeratePoints over each subspace yields exactly its id range, agreeing with unrank', () => {
    const s = preset('small');
    for (const sub of subspaces(s, 2)) {
      let expected = sub.first;
      for (const c of enumeratePoints(s, sub)) {
        expect(c.id()).toBe(expected);
        expected++;
      }
      expect(expected).toBe(sub.first + sub.size);
    }
    for (const id of [0n, 1n, 777n, 64799n]) {
      const p = unrank(s, id);
      expect(rank(s, p)).toBe(id);
      const sub = subspaceOf(s, id, 5);
      expect(sub.size).toBe(1n);
      expect(collect(enumeratePoints(s, sub), (c) => c.toPoint())).toEqual([p]);
    }
  });

  it('applyPoint writes paths and targets, merging object values, without mutating the base', () => {
    const s = preset('deepstack');
    const sys = readJson('systems', 'lamosys-pd.json');
    const before = JSON.stringify(sys);
    const p = unrank(s, s.size - 1n);
    const a = applyPoint(sys, p, s);
    expect(JSON.stringify(sys)).toBe(before);
    const pkg = a.system['package'] as { chiplets: { memory: Record<string, unknown>; compute: Record<string, unknown> }[] };
    expect(pkg.chiplets[1]!.memory['layers']).toBe(16);
    expect(pkg.chiplets[1]!.memory['connectedLayers']).toBe(16);
    expect(pkg.chiplets[0]!.memory['layers']).toBe(8);
    expect(pkg.chiplets[0]!.memory['connectedLayers']).toBe(8);
    expect(pkg.chiplets[1]!.memory['vertical']).toMatchObject({ kind: 'hybrid-bond', pitchUm: 9, areaMm2: 24 });
    expect(pkg.chiplets[0]!.memory['vertical']).toMatchObject({ kind: 'hybrid-bond', pitchUm: 9, areaMm2: 6 });
    expect(a.devices).toBe(1024);
    expect(a.batch).toBe(16384);
    expect(a.inputTokens).toBe(2048);
    expect(a.precision).toEqual({ weights: 'fp4', activations: 'bf16', kvCache: 'fp8' });
    expect(a.mapping).toEqual({ tp: 1024, pp: 1, dp: 1, sp: 1, ep: 1024 });
    expect(a.network[0]).toMatchObject({ size: 64, topology: 'all-to-all', linkBandwidthGBps: 200 });
    expect(a.network[1]).toMatchObject({ topology: 'torus2d', linkBandwidthGBps: 100 });
    const tsv = unrank(s, 0n);
    expect(tsv.values['vertical']).toEqual({ kind: 'tsv', pitchUm: 20 });
    const b = applyPoint(sys, tsv, s);
    expect(systemSchema.safeParse(b.system).success).toBe(true);
    // a partial assignment (a subspace's fixed values) applies only the dims it has
    const sub = subspaceOf(s, 0n, 1);
    const c = applyPoint(sys, sub, s);
    expect(c.devices).toBeUndefined();
    expect((c.system['package'] as typeof pkg).chiplets[1]!.memory['layers']).toBe(1);
  });
});

describe('refusals', () => {
  const L = (name: string, extra: Record<string, unknown> = {}) => ({ name, values: [1, 2, 4], path: `x.${name}`, ...extra });

  it('unknown or inner dims referenced by max/min/divides', () => {
    expectConfigError(() => compileSpace(space([[L('a'), L('b', { max: 'nope' })]])), '$.levels[0].dims[1].max', /outer dim/);
    expectConfigError(() => compileSpace(space([[L('a', { max: 'b' }), L('b')]])), '$.levels[0].dims[0].max', /OUTER/);
    expectConfigError(() => compileSpace(space([[L('a')], [L('b', { divides: ['a', 'zz'] })]])), '$.levels[1].dims[0].divides[1]');
    expectConfigError(() => compileSpace(space([[{ name: 's', values: ['x', 'y'], path: 'q' }, L('b', { min: 's' })]])), '$.levels[0].dims[1].min', /numeric/);
  });

  it('empty values, duplicates, missing path/target', () => {
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [], path: 'x' }]])), '$.levels[0].dims[0].values', /non-empty/);
    expectConfigError(() => compileSpace(space([[L('a'), L('a')]])), '$.levels[0].dims[1].name', /not used/);
    expectConfigError(() => compileSpace(space([[L('a')], [L('a')]])), '$.levels[1].dims[0].name');
    expectConfigError(() => compileSpace({ name: 't', base, levels: [{ name: 'm', dims: [L('a')] }, { name: 'm', dims: [L('b')] }] }), '$.levels[1].name');
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1, 2, 1], path: 'x' }]])), '$.levels[0].dims[0].values[2]');
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [{ k: 1, j: 2 }, { j: 2, k: 1 }], path: 'x' }]])), '$.levels[0].dims[0].values[1]');
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1] }]])), '$.levels[0].dims[0].path', /exactly one/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], path: 'x', target: 'batch' }]])), '$.levels[0].dims[0].target', /exactly one/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], path: 'package..x' }]])), '$.levels[0].dims[0].path', /JSON path/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], path: ['x', 'x'] }]])), '$.levels[0].dims[0].path[1]');
    expectConfigError(() => compileSpace(space([])), '$.levels', /at least one level/);
    expectConfigError(() => compileSpace(space([[]])), '$.levels[0].dims', /at least one dim/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], path: 'x', extra: 1 }]])), '$.levels[0].dims[0].extra', /unknown: extra/);
  });

  it('targets: unknown names, bad values, duplicates, defaults', () => {
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], target: 'batchSize' }]])), '$.levels[0].dims[0].target', /known target/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1, 0], target: 'batch' }]])), '$.levels[0].dims[0].values[1]', /positive integer/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: ['bf16', 'fp9'], target: 'precision.weights' }]])), '$.levels[0].dims[0].values[1]');
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: ['star'], target: 'network.level0.topology' }]])), '$.levels[0].dims[0].values[0]', /switch/);
    expectConfigError(() => compileSpace(space([[{ name: 'a', values: [1], target: 'batch' }, { name: 'b', values: [2], target: 'batch' }]])), '$.levels[0].dims[1].target', /not set by another/);
    expectConfigError(() => compileSpace({ name: 't', base: { ...base, defaults: { inputTokens: -1 } }, levels: [{ name: 'x', dims: [L('a')] }] }), '$.base.defaults.inputTokens');
    expectConfigError(() => compileSpace({ name: 't', base: { ...base, precision: 'fp9' }, levels: [{ name: 'x', dims: [L('a')] }] }), '$.base.precision');
    expectConfigError(() => compileSpace({ name: 't', base: { model: 'x' }, levels: [{ name: 'x', dims: [L('a')] }] }), '$.base.system');
  });

  it('factorisations: of a non-numeric or unknown dim, bad factors, two of them', () => {
    const f = (extra: Record<string, unknown>) => ({ name: 'm', kind: 'factorisation', of: 'devices', factors: ['tp', 'pp'], ...extra });
    const dev = { name: 'devices', values: [1, 2, 4], target: 'devices' };
    expectConfigError(() => compileSpace(space([[{ name: 's', values: ['a'], path: 'x' }], [f({ of: 's' })]])), '$.levels[1].dims[0].of', /positive integers/);
    expectConfigError(() => compileSpace(space([[{ name: 'g', values: [1.5, 2], path: 'x' }], [f({ of: 'g' })]])), '$.levels[1].dims[0].of', /positive integers/);
    expectConfigError(() => compileSpace(space([[dev], [f({ of: 'nodes' })]])), '$.levels[1].dims[0].of', /outer dim/);
    expectConfigError(() => compileSpace(space([[dev], [f({ factors: ['tp', 'xp'] })]])), '$.levels[1].dims[0].factors[1]');
    expectConfigError(() => compileSpace(space([[dev], [f({ factors: ['tp', 'tp'] })]])), '$.levels[1].dims[0].factors[1]', /once/);
    expectConfigError(() => compileSpace(space([[dev], [f({ allowed: { tp: [] } })]])), '$.levels[1].dims[0].allowed.tp');
    expectConfigError(() => compileSpace(space([[dev], [f({ allowed: { dp: [1] } })]])), '$.levels[1].dims[0].allowed.dp', /listed factor/);
    expectConfigError(() => compileSpace(space([[dev], [f({}), f({ name: 'm2' })]])), '$.levels[1].dims[1].kind', /at most one/);
    expectConfigError(() => compileSpace(space([[dev], [f({ kind: 'factorization' })]])), '$.levels[1].dims[0].kind');
    expectConfigError(() => compileSpace(space([[dev], [f({})], [L('z', { max: 'm' })]])), '$.levels[2].dims[0].max', /numeric/);
  });

  it('a space whose constraints exclude every point', () => {
    expectConfigError(() => compileSpace(space([[L('a')], [{ name: 'b', values: [8], path: 'y', max: 'a' }]])), '$.levels', /at least one point/);
  });

  it('activeIf referencing an unknown dim or with two comparisons', () => {
    expectConfigError(() => compileSpace(space([[L('a'), L('b', { activeIf: { dim: 'q', gt: 1 } })]])), '$.levels[0].dims[1].activeIf.dim');
    expectConfigError(() => compileSpace(space([[L('a'), L('b', { activeIf: { dim: 'a', gt: 'zz' } })]])), '$.levels[0].dims[1].activeIf.gt');
    expectConfigError(() => compileSpace(space([[L('a'), L('b', { activeIf: { dim: 'a', gt: 1, lt: 3 } })]])), '$.levels[0].dims[1].activeIf', /exactly one/);
  });

  it('out-of-range ids, points not in the space, bad subspace ids, paths missing in the base', () => {
    const s: Space = preset('tiny');
    expectConfigError(() => unrank(s, s.size), 'id');
    expectConfigError(() => unrank(s, -1n), 'id');
    const p = unrank(s, 0n);
    expectConfigError(() => rank(s, { values: { ...p.values, layers: 3 } }), 'values.layers');
    // connected 8 with layers 2 violates max: layers
    expectConfigError(() => rank(s, { values: { ...p.values, connectedLayers: 8 } }), 'values.connectedLayers', /constraints/);
    expectConfigError(() => subspaceById(s, 'memory=9'), 'subspace');
    expectConfigError(() => subspaceById(s, 'compute=0'), 'subspace');
    expectConfigError(() => subspaces(s, 6), 'depth');
    const bad = compileSpace({ ...readJson('spaces', 'tiny.json'), levels: [{ name: 'x', dims: [{ name: 'a', values: [1], path: 'package.interposer.bandwidthGBps' }] }] });
    expectConfigError(() => checkPaths(bad, readJson('systems', 'hb3d-16l.json')), '$.levels[0].dims[0].path', /containers exist/);
  });
});
