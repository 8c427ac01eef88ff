// What `strata report` shows, read from a results database (read-only connection): the run summary,
// the kept designs with their objectives and keys, the Pareto archive, the metrics of the top
// designs, and the best kept design per value of each outer (subspace-level) dimension.
import { ConfigError } from '../model/errors.js';
import {
  KEPT,
  KEYS,
  OBJECTIVE_COLUMNS,
  OBJECTIVES,
  objectiveColumn,
  summary,
  type Db,
  type KeyColumn,
  type ObjectiveColumn,
  type Summary,
} from '../store/index.js';

/** Per-phase part of metrics_json (EvalResult.prefill / decode) that the report draws. */
export interface PhaseMetrics {
  stepTimeS: number;
  systemTokensPerS: number;
  timeByBoundS: Record<'compute' | 'memory' | 'network' | 'overhead', number>;
  powerW?: number;
}

/** The part of metrics_json (EvalResult) that the report reads. */
export interface DesignMetrics {
  prefill: PhaseMetrics;
  decode: PhaseMetrics;
  power?: { averageW: number; tdpW: number };
  thermal: {
    layers: { column: string; layer: string; tempC: number; powerW: number }[];
    maxLogicC: number;
    maxDramC: number;
    logicLimitC: number;
    dramLimitC: number;
    dramExtendedLimitC: number;
    throttleFactor?: number;
    limitedBy?: string;
  };
}

export interface DesignPoint {
  pointId: string;
  subspaceId: string;
  keptAs: string[];
  /** In the run's Pareto archive. */
  front: boolean;
  objectives: Partial<Record<ObjectiveColumn, number>>;
  keys: Partial<Record<KeyColumn, string | number>>;
  params: Record<string, unknown>;
}

export interface TopDesign extends DesignPoint {
  rank: number;
  metrics: DesignMetrics;
}

export interface OuterDim {
  level: string;
  name: string;
  /** Values in space order (values with no kept design included), with the best kept design. */
  values: { value: string; best: DesignPoint | null }[];
}

export interface RunSpecView {
  spaceName: string;
  spaceDescription: string;
  systemName: string;
  modelName: string;
  objectives: string[];
  constraints: Record<string, number>;
  topK: number | null;
  defaults: Record<string, unknown>;
  splitDepth: number;
  levels: { name: string; dims: { name: string; values: unknown[] | null; factors: string[] | null }[] }[];
}

export interface ReportData {
  dbFile: string;
  summary: Summary;
  spec: RunSpecView;
  /** The run's objective columns, in order (at least one). */
  objectives: ObjectiveColumn[];
  designs: DesignPoint[];
  front: DesignPoint[];
  /** The best designs table: the Pareto front for several objectives, else the best by the objective. */
  best: DesignPoint[];
  /** Top designs with their metrics (breakdown and thermal plots). */
  top: TopDesign[];
  outer: OuterDim[];
}

export const TABLE_ROWS = 10;
export const TOP_N = 5;

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);

function specView(raw: unknown): RunSpecView {
  const s = obj(raw);
  const space = obj(s.space);
  const search = obj(s.search);
  const base = obj(space.base);
  const levels = (Array.isArray(space.levels) ? space.levels : []).map((l) => {
    const lv = obj(l);
    return {
      name: str(lv.name, '?'),
      dims: (Array.isArray(lv.dims) ? lv.dims : []).map((d) => {
        const dv = obj(d);
        return {
          name: str(dv.name, '?'),
          values: Array.isArray(dv.values) ? (dv.values as unknown[]) : null,
          factors: Array.isArray(dv.factors) ? (dv.factors as unknown[]).map(String) : null,
        };
      }),
    };
  });
  const constraints: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(search.constraints))) if (typeof v === 'number') constraints[k] = v;
  return {
    spaceName: str(space.name, '(unnamed space)'),
    spaceDescription: str(space.description),
    systemName: str(s.systemName, str(base.system)),
    modelName: str(s.modelName, str(base.model)),
    objectives: Array.isArray(search.objectives) ? (search.objectives as unknown[]).map(String) : [],
    constraints,
    topK: typeof search.topK === 'number' ? search.topK : null,
    defaults: obj(base.defaults),
    splitDepth: typeof s.splitDepth === 'number' ? s.splitDepth : 0,
    levels,
  };
}

/** The run's objective columns from runs.objective (comma-separated column names or aliases). */
function objectivesOf(objective: string): ObjectiveColumn[] {
  const out: ObjectiveColumn[] = [];
  for (const part of objective.split(/[,+ ]+/)) {
    if (!part) continue;
    try {
      const c = objectiveColumn(part);
      if (!out.includes(c)) out.push(c);
    } catch {
      /* not a column objective */
    }
  }
  return out;
}

/** Compares two designs on an objective: negative when a is better; ties by point id. */
export function compareOn(col: ObjectiveColumn) {
  const sign = OBJECTIVE_COLUMNS[col] === 'max' ? -1 : 1;
  return (a: DesignPoint, b: DesignPoint): number => {
    const va = a.objectives[col];
    const vb = b.objectives[col];
    if (va === undefined && vb === undefined) return byId(a, b);
    if (va === undefined) return 1;
    if (vb === undefined) return -1;
    return va !== vb ? sign * (va - vb) : byId(a, b);
  };
}

const byId = (a: DesignPoint, b: DesignPoint) => a.pointId.length - b.pointId.length || (a.pointId < b.pointId ? -1 : a.pointId > b.pointId ? 1 : 0);

/** Reads the report's data of a run (default: the latest). Throws ConfigError on an empty run. */
export function loadReportData(db: Db, dbFile: string, runId?: number): ReportData {
  const s = summary(db, runId);
  const spec = specView(s.spec);
  const runId_ = s.run.id;
  let objectives = objectivesOf(s.run.objective);
  if (objectives.length === 0) objectives = ['tokens_per_s'];
  const archive = new Set(db.prepare(`SELECT point_id FROM archive WHERE run_id = ?`).pluck().all(runId_) as string[]);
  const rows = db
    .prepare(`SELECT point_id, subspace_id, kept_as, ${OBJECTIVES.join(', ')}, ${KEYS.join(', ')}, params_json FROM designs WHERE run_id = ?`)
    .all(runId_) as Record<string, unknown>[];
  if (rows.length === 0)
    throw new ConfigError(
      '--db',
      dbFile,
      `a run with kept designs (run ${runId_} is ${s.run.state} and has none: ${s.coverage.accounted} of ${s.coverage.spaceSize} points accounted, ${s.coverage.evaluated} evaluated)`,
    );
  const designs: DesignPoint[] = rows.map((r) => {
    const objectivesRec: Partial<Record<ObjectiveColumn, number>> = {};
    for (const c of OBJECTIVES) if (typeof r[c] === 'number' && Number.isFinite(r[c])) objectivesRec[c] = r[c];
    const keys: Partial<Record<KeyColumn, string | number>> = {};
    for (const k of KEYS) if (r[k] !== null && r[k] !== undefined) keys[k] = r[k] as string | number;
    let params: Record<string, unknown> = {};
    try {
      params = obj(JSON.parse(r.params_json as string));
    } catch {
      /* shown without params */
    }
    const pointId = String(r.point_id);
    return {
      pointId,
      subspaceId: String(r.subspace_id),
      keptAs: (Object.keys(KEPT) as (keyof typeof KEPT)[]).filter((k) => (r.kept_as as number) & KEPT[k]),
      front: archive.has(pointId),
      objectives: objectivesRec,
      keys,
      params,
    };
  });
  const lead = objectives[0]!;
  const sorted = [...designs].sort(compareOn(lead));
  const front = sorted.filter((d) => d.front);
  const best = (objectives.length > 1 && front.length > 0 ? front : sorted.filter((d) => d.objectives[lead] !== undefined)).slice(0, TABLE_ROWS);
  const metricsStmt = db.prepare(`SELECT metrics_json FROM designs WHERE run_id = ? AND point_id = ?`).pluck();
  const top: TopDesign[] = [];
  for (const d of best.slice(0, TOP_N)) {
    const m = parseMetrics(metricsStmt.get(runId_, d.pointId) as string);
    if (m) top.push({ ...d, rank: best.indexOf(d) + 1, metrics: m });
  }
  return { dbFile, summary: s, spec, objectives, designs, front, best, top, outer: outerDims(spec, designs, lead) };
}

function parseMetrics(json: string): DesignMetrics | null {
  try {
    const m = JSON.parse(json) as DesignMetrics;
    if (!m?.prefill?.timeByBoundS || !m?.decode?.timeByBoundS || !Array.isArray(m?.thermal?.layers)) return null;
    return m;
  } catch {
    return null;
  }
}

/** Canonical text of a parameter value (for grouping and labels). */
export const valueText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The best kept design for each value of each dimension of the outer levels (the levels that fix a
 * subspace: every evaluated subspace keeps its best point, so each value that holds an evaluated
 * feasible point has a kept design). Dimensions expanding into several parameters (factorisations)
 * are left out.
 */
function outerDims(spec: RunSpecView, designs: DesignPoint[], lead: ObjectiveColumn): OuterDim[] {
  const out: OuterDim[] = [];
  const depth = Math.max(1, Math.min(spec.splitDepth || 1, spec.levels.length));
  const cmp = compareOn(lead);
  for (const level of spec.levels.slice(0, depth)) {
    for (const dim of level.dims) {
      if (dim.factors) continue;
      const bestBy = new Map<string, DesignPoint>();
      for (const d of designs) {
        if (!(dim.name in d.params) || d.objectives[lead] === undefined) continue;
        const v = valueText(d.params[dim.name]);
        const cur = bestBy.get(v);
        if (!cur || cmp(d, cur) < 0) bestBy.set(v, d);
      }
      if (bestBy.size === 0) continue;
      const order = (dim.values ?? []).map(valueText);
      for (const v of [...bestBy.keys()].sort()) if (!order.includes(v)) order.push(v);
      out.push({ level: level.name, name: dim.name, values: order.map((v) => ({ value: v, best: bestBy.get(v) ?? null })) });
    }
  }
  return out;
}
