// The key columns of kept designs (layers, connected_layers, bonding, precision, system, devices,
// tp..ep, batch) come from what each design is (its applied system, precision and mapping:
// src/search/keys.ts), not from the names of the space's dims. The space below names its dims like
// deepstack's (decodeLayers, decodeConnectedLayers, weightPrecision) and, as traps, names the PREFILL
// stack's dim `layers` and the KV-cache precision dim `precision`: the columns must still describe
// the decode chiplet's stack and the weights' precision.
// The CLI runs from dist (bin/strata.js): build with `npx tsc -p .` first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { designKeys, PointKeys } from '../src/search/keys.js';
import { SystemCache } from '../src/search/engine.js';
import { makeRunContext } from '../src/search/context.js';
import { unrank, unrankIndices } from '../src/space/index.js';
import { ConfigError } from '../src/model/errors.js';
import { runSpecFromFlags } from '../src/cli/search.js';
import { FP8, loadSystem, ROOT } from './helpers.js';

const BIN = join(ROOT, 'bin', 'strata.js');
const dir = mkdtempSync(join(tmpdir(), 'strata-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const strata = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000 });

const SPACE = {
  name: 'deepnames',
  base: { system: 'lamosys-pd', model: 'qwen3-30b-a3b', precision: 'bf16', defaults: { inputTokens: 1024, outputTokens: 256 } },
  levels: [
    {
      name: 'memory',
      dims: [
        { name: 'decodeLayers', values: [4, 8, 12], path: 'package.chiplets[1].memory.layers' },
        { name: 'decodeConnectedLayers', values: [2, 4, 8], max: 'decodeLayers', path: 'package.chiplets[1].memory.connectedLayers' },
        // trap: the prefill chiplet's stack, named `layers`
        { name: 'layers', values: [1, 4], path: ['package.chiplets[0].memory.layers', 'package.chiplets[0].memory.connectedLayers'] },
        {
          name: 'vertical',
          values: [{ kind: 'tsv', pitchUm: 10 }, { kind: 'hybrid-bond', pitchUm: 3 }],
          path: ['package.chiplets[0].memory.vertical', 'package.chiplets[1].memory.vertical'],
        },
      ],
    },
    { name: 'system', dims: [{ name: 'devices', values: [1, 2], target: 'devices' }] },
    { name: 'mapping', dims: [{ name: 'mapping', kind: 'factorisation', of: 'devices', factors: ['tp', 'ep'] }] },
    {
      name: 'serving',
      dims: [
        { name: 'batch', values: [1, 16], target: 'batch' },
        { name: 'weightPrecision', values: ['bf16', 'fp8'], target: 'precision.weights' },
        // trap: the KV-cache precision, named `precision`
        { name: 'precision', values: ['bf16', 'fp8'], target: 'precision.kvCache' },
      ],
    },
  ],
};

describe('designKeys', () => {
  it('describes the decode chiplet of a prefill/decode package, and the only chiplet of a one-chiplet one', () => {
    const pd = loadSystem('lamosys-pd');
    const decode = pd.package.chiplets.find((c) => c.role === 'decode')!;
    const prefill = pd.package.chiplets.find((c) => c.role === 'prefill')!;
    decode.memory.layers = 12;
    decode.memory.connectedLayers = 6;
    decode.memory.vertical.kind = 'tsv';
    prefill.memory.layers = 2;
    prefill.memory.vertical.kind = 'hybrid-bond';
    const k = designKeys(pd, { precision: { weights: 'fp4', activations: 'bf16', kvCache: 'fp8' }, mapping: { tp: 2, pp: 3, dp: 1, sp: 2, ep: 4 }, batch: 64 });
    expect(k).toEqual({
      layers: 12, connected_layers: 6, bonding: 'tsv', devices: 12, tp: 2, pp: 3, dp: 1, sp: 2, ep: 4, batch: 64, precision: 'fp4', system: 'lamosys-pd',
    });
    const one = loadSystem('hb3d-16l');
    const m = one.package.chiplets[0]!.memory;
    expect(designKeys(one, { precision: FP8, mapping: { tp: 1, pp: 1, dp: 1, sp: 1, ep: 1 }, batch: 1 })).toMatchObject({
      layers: m.layers, connected_layers: m.connectedLayers, bonding: m.vertical.kind, precision: 'fp8', system: 'hb3d-16l', devices: 1,
    });
  });
});

describe('PointKeys (the coordinator\'s, from the point id)', () => {
  it('equals designKeys of the fully applied and parsed system on random points of deepstack', () => {
    const ctx = makeRunContext(runSpecFromFlags({ space: 'deepstack', objective: 'throughput-per-watt', db: 'unused.db' }));
    const systems = new SystemCache(ctx);
    const pk = new PointKeys(ctx, new SystemCache(ctx));
    let seed = 0x2545f4914f6cdd1dn;
    let checked = 0;
    const seen = { layers: new Set<unknown>(), bonding: new Set<unknown>(), precision: new Set<unknown>() };
    for (let i = 0; i < 400; i++) {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
      const id = seed % ctx.space.size;
      const idx = unrankIndices(ctx.space, id);
      const { values } = unrank(ctx.space, id);
      const sys = systems.get(idx, values);
      if (sys instanceof ConfigError) continue;
      const t = systems.targets(idx, values);
      const want = designKeys(sys, { precision: t.precision, mapping: t.evalMapping, batch: t.batch ?? 1 });
      const got = pk.of(id);
      expect(got).toEqual(want);
      // deepstack: the decode chiplet is chiplets[1], set by decodeLayers / decodeConnectedLayers
      expect(got.layers).toBe(values.decodeLayers);
      expect(got.connected_layers).toBe(values.decodeConnectedLayers);
      expect(got.bonding).toBe((values.vertical as { kind: string }).kind);
      expect(got.precision).toBe(values.weightPrecision);
      for (const k of ['layers', 'bonding', 'precision'] as const) seen[k].add(got[k]);
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
    expect(seen.layers.size).toBeGreaterThan(8);
    expect(seen.bonding.size).toBe(2);
    expect(seen.precision.size).toBe(3);
  }, 60_000);
});

describe('best --where on the key columns of a search whose dims are named like deepstack\'s', () => {
  const db = join(dir, 'r.db');
  type D = Record<string, unknown> & { params: Record<string, unknown>; metrics: Record<string, unknown> };
  let designs: D[] = [];
  beforeAll(() => {
    const space = join(dir, 'deepnames.json');
    writeFileSync(space, JSON.stringify(SPACE));
    // Two objectives and a large top-K: many kept designs, of every stack, bonding and precision.
    const r = strata(['search', '--space', space, '--db', db, '--workers', '1', '--top-k', '1000', '--objective', 'throughput-per-watt,throughput']);
    expect(r.status, r.stderr).toBe(0);
    const d = new Database(db, { readonly: true });
    designs = (d.prepare('SELECT * FROM designs').all() as Record<string, unknown>[]).map((x) => ({
      ...x,
      params: JSON.parse(x.params_json as string),
      metrics: JSON.parse(x.metrics_json as string),
    })) as D[];
    d.close();
  }, 300_000);

  it('every kept design: the columns are its decode stack, weight precision, system and mapping', () => {
    expect(designs.length).toBeGreaterThan(20);
    for (const x of designs) {
      const p = x.params;
      expect(x.layers).toBe(p.decodeLayers);
      expect(x.connected_layers).toBe(p.decodeConnectedLayers);
      expect(x.bonding).toBe(JSON.parse(p.vertical as string).kind);
      expect(x.precision).toBe(p.weightPrecision);
      expect(x.system).toBe('lamosys-pd');
      expect(x.devices).toBe(p.devices);
      expect(x.devices).toBe((x.tp as number) * (x.pp as number) * (x.dp as number) * (x.sp as number));
      for (const k of ['tp', 'pp', 'dp', 'sp', 'ep', 'batch']) expect(x[k]).toBe(p[k]);
      // ... and agree with what the evaluation itself reports
      expect(x.precision).toBe((x.metrics.precision as { weights: string }).weights);
      expect(x.devices).toBe(x.metrics.devices);
      expect(x.batch).toBe(x.metrics.batch);
    }
    // the search kept designs of every decode stack height, both bondings and both weight precisions
    expect(new Set(designs.map((x) => x.layers))).toEqual(new Set([4, 8, 12]));
    expect(new Set(designs.map((x) => x.bonding))).toEqual(new Set(['tsv', 'hybrid-bond']));
    expect(new Set(designs.map((x) => x.precision))).toEqual(new Set(['bf16', 'fp8']));
  });

  const cases: [string, (p: Record<string, unknown>) => boolean][] = [
    ['layers=8', (p) => p.decodeLayers === 8],
    ['layers=12 and connected_layers=4', (p) => p.decodeLayers === 12 && p.decodeConnectedLayers === 4],
    ["bonding='hybrid-bond'", (p) => (p.vertical as string).includes('hybrid-bond')],
    ['bonding=tsv and devices=2', (p) => (p.vertical as string).includes('tsv') && p.devices === 2],
    ['precision=bf16', (p) => p.weightPrecision === 'bf16'],
    ['layers=4 and precision=fp8 and tp=2', (p) => p.decodeLayers === 4 && p.weightPrecision === 'fp8' && p.tp === 2],
  ];
  for (const [where, match] of cases)
    it(`query best --where "${where}" returns exactly the designs that are that`, () => {
      const r = strata(['query', '--db', db, 'best', '--where', where, '--limit', '100000', '--format', 'json']);
      expect(r.status, r.stderr).toBe(0);
      const got = (JSON.parse(r.stdout) as { point_id: string }[]).map((x) => x.point_id).sort();
      const want = designs.filter((x) => match(x.params)).map((x) => x.point_id as string).sort();
      expect(want.length).toBeGreaterThan(0);
      expect(got).toEqual(want);
    });

  it('query best --where params.<dim> filters on a dim of the run, and refuses a dim it does not have', () => {
    const r = strata(['query', '--db', db, 'best', '--where', 'params.decodeLayers=8', '--limit', '100000', '--format', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const got = (JSON.parse(r.stdout) as { point_id: string }[]).map((x) => x.point_id).sort();
    expect(got).toEqual(designs.filter((x) => x.params.decodeLayers === 8).map((x) => x.point_id as string).sort());
    const bad = strata(['query', '--db', db, 'best', '--where', 'params.decodeLayer=8']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--where: got "params.decodeLayer", expected a dim of the run: .*params\.decodeLayers/);
  });
});
