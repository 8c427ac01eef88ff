// "Every accepted parameter changes some output" (DESIGN 2, 7): walk every leaf of the `package`
// object of three presets, perturb it to another value the schema accepts, evaluate a few scenarios
// and require that the full evaluate() output differs from the baseline in at least one of them.
// A parameter the schema accepts but the model ignores would pass every other test silently.
import { describe, expect, it } from 'vitest';
import { systemSchema, VERTICAL_ENERGY_PJ_PER_BIT, type SystemSpec } from '../src/model/hardware/schema.js';
import { evaluate } from '../src/model/evaluate.js';
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
