// Objectives and constraints of a search (DESIGN 3.3). Pure.
// Every objective is turned into a value to MAXIMISE (minimised ones are negated), so one dominance
// rule (archive.ts) and one comparison serve all of them.
import { z } from 'zod';
import type { EvalResult } from '../model/evaluate.js';
import type { SystemSpec } from '../model/hardware/schema.js';
import { MAX_TOP_K } from './limits.js';
import { workloadSchema } from '../model/serving/workload.js';
import type { AnalyticResult } from '../model/serving/analytic.js';

export const OBJECTIVES = {
  throughput: { unit: 'tok/s', sense: 'max', column: 'tokens_per_s', describe: 'output tokens/s of the system over a request cycle' },
  'throughput-per-watt': { unit: 'tok/s/W', sense: 'max', column: 'tokens_per_s_per_w', describe: 'output tokens/s per watt of all devices' },
  'throughput-per-area': { unit: 'tok/s/mm2', sense: 'max', column: 'tokens_per_s_per_mm2', describe: 'output tokens/s per mm2 of silicon footprint' },
  goodput: { unit: 'tok/s', sense: 'max', column: 'goodput', describe: 'throughput when TTFT and TPOT meet their SLOs, else 0' },
  tpot: { unit: 's', sense: 'min', column: 'tpot_s', describe: 'time per output token (mean decode step)' },
  ttft: { unit: 's', sense: 'min', column: 'ttft_s', describe: 'time to first token (the batch prefill step)' },
  'energy-per-token': { unit: 'J', sense: 'min', column: 'energy_per_token_j', describe: 'energy per output token of all devices' },
  'serving-throughput-per-watt': {
    unit: 'tok/s/W',
    sense: 'max',
    column: 'serving_tokens_per_s_per_w',
    describe: "output tokens/s per watt serving the --workload's request stream at its offered rate within its SLO (analytic serving model; a design that misses the SLO or cannot keep up is infeasible)",
  },
} as const;
export type ObjectiveName = keyof typeof OBJECTIVES;
export const OBJECTIVE_NAMES = Object.keys(OBJECTIVES) as ObjectiveName[];
/** Objectives read from the analytic serving model (DESIGN 2.7) run on the spec's workload. */
export const SERVING_OBJECTIVES: readonly ObjectiveName[] = ['serving-throughput-per-watt'];
export const usesServing = (spec: { objectives: readonly ObjectiveName[] }): boolean => spec.objectives.some((o) => SERVING_OBJECTIVES.includes(o));

export const searchSpecSchema = z
  .object({
    objectives: z
      .array(z.enum(OBJECTIVE_NAMES as [ObjectiveName, ...ObjectiveName[]], { error: `one of ${OBJECTIVE_NAMES.join(', ')}` }))
      .min(1, { error: 'at least one objective' })
      .refine((a) => new Set(a).size === a.length, { error: 'distinct objectives' }),
    constraints: z
      .object({
        tpotMaxS: z.number().positive().optional(),
        ttftMaxS: z.number().positive().optional(),
        powerMaxW: z.number().positive().optional(),
        areaMaxMm2: z.number().positive().optional(),
        tempMaxC: z.number().positive().optional(),
      })
      .strict()
      .default({}),
    /** Best designs kept per objective (besides the front and each subspace's best). */
    topK: z.number().int().min(0).max(MAX_TOP_K).default(20),
    /** The workload (DESIGN 2.7, serving/workload.ts) the serving objectives serve: an open-loop
     *  arrival rate (Poisson or gamma), length distributions and SLO. Only with a serving objective. */
    workload: workloadSchema.optional(),
  })
  .strict()
  .superRefine((s, c) => {
    if (usesServing(s) && s.workload === undefined)
      c.addIssue({ code: 'custom', path: ['objectives'], message: `a workload for ${SERVING_OBJECTIVES.join(', ')} (--workload)` });
    if (s.workload !== undefined && !usesServing(s))
      c.addIssue({ code: 'custom', path: ['workload'], message: `only with a serving objective (${SERVING_OBJECTIVES.join(', ')}); other objectives take the workload's mean lengths and SLOs` });
    if (s.workload !== undefined && s.workload.arrival.kind !== 'poisson' && s.workload.arrival.kind !== 'gamma')
      c.addIssue({ code: 'custom', path: ['workload', 'arrival', 'kind'], message: 'poisson or gamma (an open-loop rate) for a serving objective' });
  });
export type SearchSpec = z.infer<typeof searchSpecSchema>;

/** Silicon footprint of one package: compute dies plus memory dies placed beside them. */
export function packageAreaMm2(system: SystemSpec): number {
  let a = 0;
  for (const c of system.package.chiplets) {
    a += c.compute.areaMm2;
    if (c.memory.placement === 'beside') a += c.memory.stacks * c.memory.dieAreaMm2;
  }
  return a;
}

export interface Scored {
  feasible: boolean;
  /** Reason of infeasibility (one label for the coverage table), null when feasible. */
  reason: string | null;
  /** Objective values to maximise, in spec order. */
  values: number[];
  /** Raw figures (units in the names) stored with the design. */
  figures: Record<string, number>;
}

/** Scores one evaluation against the spec: feasibility, constraints, objective values. `serving`:
 *  the analytic serving model on the spec's workload (engine.ts servingOf) when the spec has a
 *  serving objective and evaluate() found the design feasible (undefined otherwise); null when the
 *  scheduler refuses the point (reason 'serving-config'). Such a design misses the SLO
 *  ('serving-slo') or the offered rate ('serving-rate'), or serves it. */
export function score(r: EvalResult, system: SystemSpec, spec: SearchSpec, serving?: AnalyticResult | null): Scored {
  const area = packageAreaMm2(system) * r.devices;
  // An infeasible design has no figures of merit (null); its scores are NaN and never compared.
  const tokensPerS = r.throughputTokensPerS ?? NaN;
  const figures: Record<string, number> = {
    tokens_per_s: tokensPerS,
    tokens_per_s_per_w: r.tokensPerSPerW ?? NaN,
    tokens_per_s_per_mm2: tokensPerS / area,
    tpot_s: r.decode.stepTimeS,
    ttft_s: r.prefill.stepTimeS,
    energy_per_token_j: r.energyPerTokenJ ?? NaN,
    system_power_w: r.systemPowerW,
    area_mm2: area,
    max_dram_c: r.thermal.maxDramC,
    max_logic_c: r.thermal.maxLogicC,
    throttle: r.thermal.throttleFactor,
  };
  if (serving) figures.serving_tokens_per_s_per_w = serving.stable && serving.slo.met ? serving.tokensPerSPerW : NaN;
  const c = spec.constraints;
  const sloOk = (c.tpotMaxS === undefined || r.decode.stepTimeS <= c.tpotMaxS) && (c.ttftMaxS === undefined || r.prefill.stepTimeS <= c.ttftMaxS);
  figures.goodput = sloOk ? tokensPerS : 0;
  let reason: string | null = null;
  if (!r.feasible) reason = r.infeasibleReasons[0]!.split(':')[0]!.trim();
  else if (c.tpotMaxS !== undefined && r.decode.stepTimeS > c.tpotMaxS) reason = 'slo-tpot';
  else if (c.ttftMaxS !== undefined && r.prefill.stepTimeS > c.ttftMaxS) reason = 'slo-ttft';
  else if (c.powerMaxW !== undefined && r.systemPowerW > c.powerMaxW) reason = 'power';
  else if (c.areaMaxMm2 !== undefined && area > c.areaMaxMm2) reason = 'area';
  else if (c.tempMaxC !== undefined && Math.max(r.thermal.maxDramC, r.thermal.maxLogicC) > c.tempMaxC) reason = 'temperature';
  else if (serving === null) reason = 'serving-config';
  else if (serving && !serving.stable) reason = 'serving-rate';
  else if (serving && !serving.slo.met) reason = 'serving-slo';
  return { feasible: reason === null, reason, values: objectiveValues(spec.objectives, figures), figures };
}

/** The best design's first objective for a progress line: its value (sign restored) and unit, or '-'. */
export function bestLabel(best: { values: readonly number[] } | undefined, objective: ObjectiveName): string {
  return best ? `${Math.abs(best.values[0]!).toPrecision(4)} ${OBJECTIVES[objective].unit}` : '-';
}

/** Objective values to maximise (minimised ones negated) from a design's figures by column name. */
export function objectiveValues(names: readonly ObjectiveName[], figures: Partial<Record<string, number>>): number[] {
  return names.map((o) => {
    const v = figures[OBJECTIVES[o].column] ?? NaN;
    return OBJECTIVES[o].sense === 'max' ? v : -v;
  });
}
