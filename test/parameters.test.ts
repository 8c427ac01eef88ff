// "Every accepted parameter changes some output" (DESIGN 2, 7): walk every leaf of the `package`
// object and of every `network` level of three presets, perturb it to another value the schema
// accepts, evaluate a few scenarios (multi-device mappings that use every level, for the network)
// and require that the full evaluate() output differs from the baseline in at least one of them.
// A parameter the schema accepts but the model ignores would pass every other test silently.
import { describe, expect, it } from 'vitest';
import { systemSchema, VERTICAL_ENERGY_PJ_PER_BIT, type SystemSpec } from '../src/model/hardware/schema.js';
import { evaluate } from '../src/model/evaluate.js';
import { ConfigError } from '../src/model/errors.js';
import { spanOf, TOPOLOGIES } from '../src/model/network.js';
import type { Mapping } from '../src/model/parallel.js';
import { PRECISIONS, type Precision, type PrecisionSpec } from '../src/model/types.js';
import { allPrec, FP8, getAt, loadModel, loadSystem, setAt, systemJson, throttlingSinkFactor } from './helpers.js';

type Path = (string | number)[];
type Leaf = { path: Path; value: unknown; table?: Precision };

const SKIP_KEYS = new Set(['name', 'description', 'role']);
const PER_PRECISION_TABLES = new Set(['macsPerCyclePerCore', 'energyPJPerMac']);
/** Members of every enum leaf of a package (a string leaf not listed here fails the test). */
const ENUMS: Record<string, string[]> = {
  placement: ['on-logic', 'beside'],
  kind: ['tsv', 'hybrid-bond'],
  stackOrder: ['logic-bottom', 'logic-top'],
  onOverLimit: ['throttle', 'infeasible'],
};

function leaves(node: unknown, path: Path, out: Leaf[]): Leaf[] {
  if (node !== null && typeof node === 'object') {
    const key = path[path.length - 1];
    if (typeof key === 'string' && PER_PRECISION_TABLES.has(key)) {
      for (const [p, v] of Object.entries(node)) out.push({ path: [...path, p], value: v, table: p as Precision });
      return out;
    }
    for (const [k, v] of Object.entries(node)) {
      if (SKIP_KEYS.has(k)) continue;
      leaves(v, [...path, Array.isArray(node) ? Number(k) : k], out);
    }
    return out;
  }
  out.push({ path, value: node });
  return out;
}

/** Candidate values in order: x1.5 and x0.67 first, then wider steps for limits that bind late. */
function candidates(v: unknown, key: string): unknown[] {
  if (typeof v === 'boolean') return [!v];
  if (typeof v === 'string') {
    const members = ENUMS[key];
    if (!members) throw new Error(`unknown enum leaf '${key}' = ${v}: add its members to ENUMS`);
    return members.filter((m) => m !== v);
  }
  if (v === null) return [1, 10];
  if (typeof v !== 'number') throw new Error(`unexpected leaf ${String(v)}`);
  if (v === 0) return [1, 0.5, 10, 100];
  const factors = [1.5, 0.67, 2, 0.5, 4, 0.25, 10, 0.1];
  const out: number[] = [];
  const push = (x: number) => {
    if (x !== v && Number.isFinite(x) && !out.includes(x)) out.push(x);
  };
  for (const f of factors) {
    if (Number.isInteger(v)) {
      push(Math.round(v * f));
      if (f === 0.67) {
        push(v + 1);
        push(v - 1);
      }
    } else push(v * f);
  }
  // An integer-looking value of a fractional field (e.g. an efficiency of 1): try fractions too.
  if (Number.isInteger(v)) for (const f of [0.67, 0.5]) push(v * f);
  return out;
}

interface Scenario {
  name: string;
  batch: number;
  input: number;
  output: number;
  hot: boolean;
}
const SCENARIOS: Scenario[] = [
  { name: 'normal', batch: 8, input: 512, output: 128, hot: false },
  { name: 'hot', batch: 8, input: 512, output: 128, hot: true },
  { name: 'big', batch: 64, input: 4096, output: 128, hot: false },
];

const MODEL = 'llama-3-8b';

/**
 * Deterministic full output of one scenario (errors are outputs too). Limits that evaluate() only
 * echoes back (tjMax, DRAM limits, TDP, die area budget) are removed first, so a limit counts only
 * if it changes what the design does (throttling, refresh, feasibility).
 */
function outputOf(sys: SystemSpec, sc: Scenario, prec: PrecisionSpec, sinkFactor: number): string {
  const s = structuredClone(sys);
  if (sc.hot) s.package.thermal.sinkResistanceKPerW *= sinkFactor;
  try {
    const r = evaluate({ system: s, model: loadModel(MODEL), precision: prec, batch: sc.batch, inputTokens: sc.input, outputTokens: sc.output });
    const echo = r as unknown as { thermal: Record<string, unknown>; power: Record<string, unknown>; area: { report: Record<string, unknown> }[] };
    delete echo.thermal.logicLimitC;
    delete echo.thermal.dramLimitC;
    delete echo.thermal.dramExtendedLimitC;
    delete echo.power.tdpW;
    for (const a of echo.area) delete a.report.budgetMm2;
    return JSON.stringify(r);
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

interface Outcome {
  param: string;
  status: 'changed' | 'unchanged' | 'refused' | 'error';
  detail: string;
  /** Accepted candidates tried before one changed the output (0: the first accepted one did). */
  extraTries?: number;
}

/**
 * Context in which a parameter has a meaning, applied to both the baseline and the perturbed design
 * when the perturbation alone is refused or changes nothing. Every use is printed.
 * - vertical.kind: TSV pitches are 10-100 um and hybrid-bond pitches 0.5-20 um, so the kinds can
 *   only be swapped at a pitch valid for both (15 um).
 * - thermal.stackOrder orders the compute die against DRAM stacked ON it; with every stack beside
 *   the die (2.5D HBM) there is no order to choose, so it is probed with the DRAM on the logic die.
 */
const CO_ADJUST: Record<string, (json: unknown, path: Path) => void> = {
  kind: (json, path) => setAt(json, [...path.slice(0, -1), 'pitchUm'], 15),
  // The extended (doubled-refresh) DRAM limit only acts when the DRAM gets that hot: lower both
  // limits (keeping normal < extended) so the hot scenario crosses them.
  dramExtendedLimitC: (json) => setAt(json, ['package', 'thermal', 'dramLimitC'], 40),

};

function probe(preset: string, leaf: Leaf, sinkFactor: number): Outcome {
  const key = String(leaf.path[leaf.path.length - 1]);
  const param = leaf.path.join('.');
  const prec = leaf.table ? allPrec(leaf.table) : FP8;
  const raw = systemJson(preset);
  const tried: string[] = [];
  const contexts = [null, ...(CO_ADJUST[key] ? [CO_ADJUST[key]] : [])];
  for (const adjust of contexts) {
    const baseJson = structuredClone(raw);
    if (adjust) adjust(baseJson, leaf.path);
    const base = systemSchema.safeParse(baseJson);
    if (!base.success) continue;
    const baseline = new Map<string, string>();
    for (const cand of candidates(getAt(baseJson, leaf.path), key)) {
      const j = structuredClone(baseJson);
      setAt(j, leaf.path, cand);
      // Memory placement and the stacking order go together: stackOrder exists only for DRAM on logic.
      if (key === 'placement') {
        const pk = (j as { package: { thermal: Record<string, unknown>; chiplets: { memory: { placement: string } }[] } }).package;
        if (pk.chiplets.some((c) => c.memory.placement === 'on-logic')) pk.thermal.stackOrder ??= 'logic-bottom';
        else delete pk.thermal.stackOrder;
      }
      const parsed = systemSchema.safeParse(j);
      if (!parsed.success) {
        tried.push(`${JSON.stringify(cand)} refused`);
        continue;
      }
      for (const sc of SCENARIOS) {
        if (!baseline.has(sc.name)) baseline.set(sc.name, outputOf(base.data, sc, prec, sinkFactor));
        const out = outputOf(parsed.data, sc, prec, sinkFactor);
        if (out.startsWith('error:') && !baseline.get(sc.name)!.startsWith('error:'))
          return { param, status: 'error', detail: `${JSON.stringify(cand)} (${sc.name}): ${out}` };
        if (out !== baseline.get(sc.name))
          return {
            param,
            status: 'changed',
            detail: `${JSON.stringify(leaf.value)} -> ${JSON.stringify(cand)}${adjust ? ' (co-adjusted)' : ''} in ${sc.name}`,
            extraTries: tried.filter((t) => t.endsWith('no change')).length,
          };
      }
      tried.push(`${JSON.stringify(cand)} no change`);
    }
  }
  const accepted = tried.some((t) => t.endsWith('no change'));
  return { param, status: accepted ? 'unchanged' : 'refused', detail: `${JSON.stringify(leaf.value)}: ${tried.join(', ')}` };
}

const PRESETS = ['h100-sxm', 'hb3d-16l', 'lamosys-pd'] as const;

describe('every accepted package parameter changes some output', () => {
  for (const preset of PRESETS) {
    it(`${preset}: scalar and enum leaves, and each per-precision table entry`, () => {
      const sys = loadSystem(preset);
      const sinkFactor = throttlingSinkFactor(sys, MODEL);
      // The hot scenario really throttles (else it would not exercise the limit parameters).
      const hot = structuredClone(sys);
      hot.package.thermal.sinkResistanceKPerW *= sinkFactor;
      const h = evaluate({ system: hot, model: loadModel(MODEL), precision: FP8, batch: 8, inputTokens: 512, outputTokens: 128 });
      expect(h.thermal.throttleFactor).toBeLessThan(1);

      const all = leaves(systemJson(preset).package, ['package'], []);
      expect(all.length).toBeGreaterThan(60);
      const outcomes = all.map((l) => probe(preset, l, sinkFactor));
      // Informational: parameters that only mattered at a larger perturbation (limits that bind late).
      const adjusted = outcomes.filter((o) => o.detail.includes('(co-adjusted)'));
      if (adjusted.length > 0) console.log(`${preset}: parameters probed in a co-adjusted context (see CO_ADJUST):\n${adjusted.map((o) => `  ${o.param}  [${o.detail}]`).join('\n')}`);
      const late = outcomes.filter((o) => o.status === 'changed' && (o.extraTries ?? 0) > 0);
      if (late.length > 0) console.log(`${preset}: parameters that needed more than the first accepted perturbation:\n${late.map((o) => `  ${o.param}  [${o.detail}]`).join('\n')}`);
      const bad = outcomes.filter((o) => o.status !== 'changed');
      const report = bad.map((o) => `  ${o.status.padEnd(9)} ${o.param}  [${o.detail}]`).join('\n');
      if (bad.length > 0) console.log(`${preset}: parameters that changed no output:\n${report}`);
      expect(bad, `${preset}: parameters that changed no output (or could not be perturbed):\n${report}`).toEqual([]);
      // Every entry of both per-precision tables of every chiplet was probed (in its own precision).
      const entries = sys.package.chiplets.reduce(
        (a, c) => a + Object.keys(c.compute.macsPerCyclePerCore).length + Object.keys(c.compute.energyPJPerMac).length,
        0,
      );
      expect(outcomes.filter((o, i) => all[i]!.table && o.status === 'changed')).toHaveLength(entries);
    });
  }

  it('the optional vertical.energyPJPerBit: the bonding-kind default is used when absent, a set value changes the output', () => {
    for (const preset of PRESETS) {
      const raw = systemJson(preset);
      const chiplets = (raw as { package: { chiplets: { memory: { vertical: Record<string, unknown> } }[] } }).package.chiplets;
      expect(chiplets.every((c) => c.memory.vertical.energyPJPerBit === undefined)).toBe(true);
      const sc = SCENARIOS[0]!;
      const baseline = outputOf(systemSchema.parse(raw), sc, FP8, 1);
      for (let i = 0; i < chiplets.length; i++) {
        const kind = chiplets[i]!.memory.vertical.kind as keyof typeof VERTICAL_ENERGY_PJ_PER_BIT;
        const same = structuredClone(raw);
        setAt(same, ['package', 'chiplets', i, 'memory', 'vertical', 'energyPJPerBit'], VERTICAL_ENERGY_PJ_PER_BIT[kind]);
        expect(outputOf(systemSchema.parse(same), sc, FP8, 1), `${preset} chiplet ${i}: explicit default`).toBe(baseline);
        const other = structuredClone(raw);
        setAt(other, ['package', 'chiplets', i, 'memory', 'vertical', 'energyPJPerBit'], 4 * VERTICAL_ENERGY_PJ_PER_BIT[kind]);
        expect(outputOf(systemSchema.parse(other), sc, FP8, 1), `${preset} chiplet ${i}: 4x default`).not.toBe(baseline);
      }
    }
  });

  it('the walker covers every precision the presets list and every enum member is a schema member', () => {
    for (const preset of PRESETS) {
      const sys: SystemSpec = loadSystem(preset);
      for (const c of sys.package.chiplets) for (const p of Object.keys(c.compute.macsPerCyclePerCore)) expect(PRECISIONS).toContain(p);
      for (const l of leaves(systemJson(preset).package, ['package'], []))
        if (typeof l.value === 'string') expect(ENUMS[String(l.path[l.path.length - 1])]).toContain(l.value);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The network levels of the same presets. A network field matters only when a mapping puts a
// collective on its level, so each preset is evaluated under mappings that use every level: TP
// inside the inner level, TP across both levels (a hierarchical all-reduce), and PP (send-recv)
// across the outer one. An output that changes in any of them counts.

interface NetScenario {
  name: string;
  mapping: Mapping;
  batch: number;
  model?: string;
}
const map = (tp: number, pp = 1, dp = 1): Mapping => ({ tp, pp, dp, sp: 1, ep: 1 });
const NET_SCENARIOS: Record<(typeof PRESETS)[number], NetScenario[]> = {
  // 8-GPU NVLink nodes joined by InfiniBand: TP in a node with PP and DP across nodes, TP over 2
  // nodes and over 4 (an all-reduce of more than 2 nodes on the outer switch, where in-switch
  // reduction can win: with 2 it costs what recursive doubling does).
  'h100-sxm': [
    { name: 'TP8xPP2xDP2', mapping: map(8, 2, 2), batch: 16 },
    { name: 'TP16', mapping: map(16), batch: 8 },
    { name: 'TP32', mapping: map(32), batch: 8 },
  ],
  // 16-package torus / mesh, then a scale-out switch: TP on the torus, PP across it and out, TP over
  // 2 and 4 torus groups (llama-3-70b's 64 heads allow TP64).
  'hb3d-16l': [
    { name: 'TP16', mapping: map(16), batch: 8 },
    { name: 'TP8xPP4', mapping: map(8, 4), batch: 8 },
    { name: 'TP32', mapping: map(32), batch: 8 },
    { name: 'TP64 llama-3-70b', mapping: map(64), batch: 8, model: 'llama-3-70b' },
  ],
  'lamosys-pd': [
    { name: 'TP16', mapping: map(16), batch: 8 },
    { name: 'TP8xPP4', mapping: map(8, 4), batch: 8 },
    { name: 'TP32', mapping: map(32), batch: 8 },
    { name: 'TP64 llama-3-70b', mapping: map(64), batch: 8, model: 'llama-3-70b' },
  ],
};

/** Full output of a multi-device scenario; a mapping the perturbed network cannot place is 'refused'. */
function netOutputOf(sys: SystemSpec, sc: NetScenario): string {
  try {
    const r = evaluate({ system: structuredClone(sys), model: loadModel(sc.model ?? MODEL), precision: FP8, batch: sc.batch, inputTokens: 512, outputTokens: 64, mapping: sc.mapping });
    return JSON.stringify(r);
  } catch (e) {
    return `${e instanceof ConfigError ? 'refused' : 'error'}: ${(e as Error).message}`;
  }
}

/**
 * The fields a perturbation of a network leaf drags along (applied to the perturbed design only,
 * reported as co-adjusted): dims must multiply to size, dims exist only on mesh/torus, and in-switch
 * reduction only on a switch.
 */
function netCoAdjust(json: unknown, path: Path, value: unknown): boolean {
  const key = path[path.length - 1];
  const isDim = path[path.length - 2] === 'dims';
  const lvPath = isDim ? path.slice(0, -2) : path.slice(0, -1);
  const lv = getAt(json, lvPath) as Record<string, unknown>;
  if (isDim) {
    const size = lv.size as number;
    const other = size / (value as number);
    if (!Number.isInteger(other)) return false;
    (lv.dims as number[])[key === 0 ? 1 : 0] = other;
    return true;
  }
  if (key === 'size' && lv.dims !== undefined) {
    delete lv.dims; // the default (most square) shape of the new size
    return true;
  }
  if (key === 'topology') {
    let adj = false;
    if (value !== 'switch' && lv.inSwitchReduction !== undefined) {
      delete lv.inSwitchReduction;
      delete lv.inSwitchEfficiency;
      adj = true;
    }
    if (value !== 'mesh2d' && value !== 'torus2d' && lv.dims !== undefined) {
      delete lv.dims;
      adj = true;
    }
    return adj;
  }
  return false;
}

interface NetLeaf extends Leaf {
  /** The preset JSON the leaf is probed in (an optional field made explicit, or its context). */
  raw: Record<string, unknown>;
  context?: string;
}

/**
 * Every field of every level: the leaves the preset writes, plus the optional fields it leaves out,
 * made explicit at their default (efficiency 1, inSwitchReduction false on a switch) or, for
 * inSwitchEfficiency (default: the level's efficiency), probed with in-switch reduction switched on.
 */
function netLeaves(preset: string): NetLeaf[] {
  const raw = systemJson(preset);
  const out: NetLeaf[] = leaves(raw.network, ['network'], []).map((l) => ({ ...l, raw }));
  (raw.network as Record<string, unknown>[]).forEach((lv, i) => {
    const explicit = (field: string, value: unknown, extra: Record<string, unknown> = {}, context?: string) => {
      const j = structuredClone(raw);
      const level = (j.network as Record<string, unknown>[])[i]!;
      Object.assign(level, extra);
      level[field] = value;
      out.push({ path: ['network', i, field], value, raw: j, context });
    };
    if (lv.efficiency === undefined) explicit('efficiency', 1);
    if (lv.topology === 'switch' && lv.inSwitchReduction === undefined) explicit('inSwitchReduction', false);
    if (lv.topology === 'switch' && lv.inSwitchEfficiency === undefined)
      explicit('inSwitchEfficiency', lv.efficiency ?? 1, { inSwitchReduction: true }, 'with inSwitchReduction: true');
  });
  return out;
}

function probeNet(preset: (typeof PRESETS)[number], leaf: NetLeaf): Outcome {
  const key = String(leaf.path[leaf.path.length - 1]);
  const param = leaf.path.join('.') + (getAt(systemJson(preset), leaf.path) === undefined ? ` (absent, default ${JSON.stringify(leaf.value)}${leaf.context ? `, ${leaf.context}` : ''})` : '');
  const scenarios = NET_SCENARIOS[preset];
  const base = systemSchema.parse(leaf.raw);
  const baseline = scenarios.map((sc) => netOutputOf(base, sc));
  for (const [i, b] of baseline.entries()) if (!b.startsWith('{')) throw new Error(`${preset} ${scenarios[i]!.name}: ${b}`);
  const tried: string[] = [];
  let feasibility: string | undefined;
  const cands = key === 'topology' ? TOPOLOGIES.filter((t) => t !== leaf.value) : candidates(leaf.value, key);
  for (const cand of cands) {
    const j = structuredClone(leaf.raw);
    setAt(j, leaf.path, cand);
    const adjusted = netCoAdjust(j, leaf.path, cand) ? ' (co-adjusted)' : '';
    const parsed = systemSchema.safeParse(j);
    if (!parsed.success) {
      tried.push(`${JSON.stringify(cand)} refused`);
      continue;
    }
    let placed = false;
    for (const [i, sc] of scenarios.entries()) {
      const out = netOutputOf(parsed.data, sc);
      if (out.startsWith('error')) return { param, status: 'error', detail: `${JSON.stringify(cand)} (${sc.name}): ${out}` };
      if (out.startsWith('refused')) {
        // Only a level's size decides which mappings fit (the others never refuse a placement): a
        // size that no longer holds a mapping changes the answer (feasibility). Kept as a fallback,
        // so that a size counts through feasibility alone only when no candidate changes a cost.
        if (key === 'size') feasibility ??= `${JSON.stringify(leaf.value)} -> ${JSON.stringify(cand)}${adjusted}: refuses ${sc.name} (${out})`;
        continue;
      }
      placed = true;
      if (out !== baseline[i]) return { param, status: 'changed', detail: `${JSON.stringify(leaf.value)} -> ${JSON.stringify(cand)}${adjusted} in ${sc.name}` };
    }
    tried.push(`${JSON.stringify(cand)} ${placed ? 'no change' : 'no mapping fits'}`);
  }
  if (feasibility) return { param, status: 'changed', detail: `${feasibility}; costs unchanged by ${tried.join(', ')}` };
  const accepted = tried.some((t) => t.endsWith('no change'));
  return { param, status: accepted ? 'unchanged' : 'refused', detail: `${JSON.stringify(leaf.value)}: ${tried.join(', ')}` };
}

describe('every accepted network parameter changes some output', () => {
  for (const preset of PRESETS) {
    it(`${preset}: every field of every network level, under mappings that use each level`, () => {
      const all = netLeaves(preset);
      const levels = (systemJson(preset).network as unknown[]).length;
      expect(levels).toBeGreaterThanOrEqual(2);
      // Every schema field of every level is probed (name, a label, aside; dims on mesh/torus only).
      const fields = new Set(all.map((l) => `${l.path[1]}.${l.path[2]}`));
      (systemJson(preset).network as { topology: string }[]).forEach((lv, i) => {
        const want = ['topology', 'size', 'linkBandwidthGBps', 'linksPerDevice', 'hopLatencyUs', 'startupLatencyUs', 'energyPJPerBit', 'efficiency'];
        if (lv.topology === 'switch') want.push('inSwitchReduction', 'inSwitchEfficiency');
        if (lv.topology === 'mesh2d' || lv.topology === 'torus2d') want.push('dims');
        for (const f of want) expect(fields, `${preset} level ${i}: ${f}`).toContain(`${i}.${f}`);
      });
      // The scenarios really use every level: a collective of each spans it.
      for (let i = 0; i < levels; i++) {
        const used = NET_SCENARIOS[preset].some((sc) => {
          const out = netOutputOf(loadSystem(preset), sc);
          return (JSON.parse(out) as { prefill: { breakdown: { kind: string }[] } }).prefill.breakdown.some((o) => o.kind === 'collective') && netUsesLevel(preset, sc, i);
        });
        expect(used, `${preset}: a scenario with a collective across level ${i}`).toBe(true);
      }
      const outcomes = all.map((l) => probeNet(preset, l));
      const adjusted = outcomes.filter((o) => o.detail.includes('(co-adjusted)') || o.detail.includes('refuses'));
      if (adjusted.length > 0) console.log(`${preset}: network parameters changed only with a co-adjusted field or through feasibility:\n${adjusted.map((o) => `  ${o.param}  [${o.detail}]`).join('\n')}`);
      const bad = outcomes.filter((o) => o.status !== 'changed');
      const report = bad.map((o) => `  ${o.status.padEnd(9)} ${o.param}  [${o.detail}]`).join('\n');
      if (bad.length > 0) console.log(`${preset}: network parameters that changed no output:\n${report}`);
      expect(bad, `${preset}: network parameters that changed no output (or could not be perturbed):\n${report}`).toEqual([]);
    });
  }
});

/** Whether a scenario puts a communicating group (TP all-reduce, SP all-gather, PP send-recv; DP
 *  replicas do not talk in inference) of more than one device on level i (spanOf, innermost first). */
function netUsesLevel(preset: string, sc: NetScenario, i: number): boolean {
  const levels = loadSystem(preset).network!;
  const m = sc.mapping;
  // Placement order: TP innermost, then SP, DP, PP (the scenarios have no EP); strides multiply.
  let stride = 1;
  for (const [g, talks] of [[m.tp, true], [m.sp, true], [m.dp, false], [m.pp, true]] as const) {
    if (talks && g > 1 && spanOf(g, stride, levels)[i]! > 1) return true;
    stride *= g;
  }
  return false;
}
