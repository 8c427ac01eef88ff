// Queries over a results database (DESIGN 5, 6): `strata query summary|pareto|best|sql` and
// `strata status`. Open the file with openReadDb (readonly + query_only): that connection is the real
// guard; the checks in sql() only give a clear error first. Exact counts are summed with BigInt.
import { ConfigError } from '../model/errors.js';
import { addReasons, reasonsObject } from './bigint.js';
import type { Db } from './db.js';
import { KEPT, KEYS, OBJECTIVE_CAMEL, OBJECTIVE_COLUMNS, OBJECTIVES, type ObjectiveColumn, type RunRow, type RunState } from './schema.js';
import { parseWhere } from './where.js';

export { parseWhere, WHERE_COLUMNS } from './where.js';

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

// ----------------------------------------------------------------------------------------------
// Runs


export interface RunInfo {
  id: number;
  specHash: string;
  epoch: number;
  modelVersion: string;
  objective: string;
  state: RunState;
  createdMs: number;
  updatedMs: number;
  wallS: number;
  spaceSize: string;
  workers: number;
}

function runRow(db: Db, runId?: number): RunRow {
  const r = (
    runId === undefined
      ? db.prepare(`SELECT * FROM runs ORDER BY id DESC LIMIT 1`).get()
      : db.prepare(`SELECT * FROM runs WHERE id = ?`).get(runId)
  ) as RunRow | undefined;
  if (!r) {
    if (runId === undefined) throw new ConfigError('--db', db.name, 'a database holding a run (this one has none)');
    throw new ConfigError('--run', runId, `the id of a run in ${db.name}`);
  }
  return r;
}

function runInfo(r: RunRow): RunInfo {
  return {
    id: r.id,
    specHash: r.spec_hash,
    epoch: r.epoch,
    modelVersion: r.model_version,
    objective: r.objective,
    state: r.state,
    createdMs: r.created_ms,
    updatedMs: r.updated_ms,
    wallS: r.wall_s,
    spaceSize: r.space_size,
    workers: r.workers,
  };
}

export function listRuns(db: Db): RunInfo[] {
  return (db.prepare(`SELECT * FROM runs ORDER BY id`).all() as RunRow[]).map(runInfo);
}

// ----------------------------------------------------------------------------------------------
// Summary

export interface Coverage {
  /** Exact decimal strings. */
  evaluated: string;
  prunedBound: string;
  prunedDominance: string;
  infeasible: string;
  infeasibleByReason: Record<string, string>;
  /** evaluated + pruned + infeasible over done subspaces. */
  accounted: string;
  spaceSize: string;
  /** accounted / spaceSize (approximate, for display). */
  fraction: number;
  /**
   * 'exact': every live subspace is done and accounted == space size; 'incomplete': work remains;
   * 'mismatch': everything is done but the sum differs from the space size (a bug: never expected).
   */
  check: 'exact' | 'incomplete' | 'mismatch';
  /** The run's running totals (kept by the writer) equal the sums recomputed from the subspaces. */
  totalsConsistent: boolean;
}

export interface Summary {
  run: RunInfo;
  spec: unknown;
  coverage: Coverage;
  progress: { done: number; total: number; queued: number; leased: number; failed: number; split: number };
  wallS: number;
  workers: number;
  designs: number;
  archive: number;
}

/** Run spec, exact coverage split, progress, wall time and workers of a run (default: the latest). */
export function summary(db: Db, runId?: number): Summary {
  const r = runRow(db, runId);
  let ev = 0n,
    pb = 0n,
    pd = 0n,
    inf = 0n;
  const reasons = new Map<string, bigint>();
  const q = db
    .prepare(
      `SELECT evaluated, pruned_bound, pruned_dominance, infeasible, infeasible_by_reason_json FROM subspaces WHERE run_id = ? AND state = 'done'`,
    )
    .raw();
  for (const row of q.iterate(r.id) as Iterable<[string, string, string, string, string]>) {
    ev += BigInt(row[0]);
    pb += BigInt(row[1]);
    pd += BigInt(row[2]);
    inf += BigInt(row[3]);
    if (row[4] !== '{}') addReasons(reasons, JSON.parse(row[4]) as Record<string, string>);
  }
  const byState = Object.fromEntries(
    (db.prepare(`SELECT state, count(*) AS n FROM subspaces WHERE run_id = ? GROUP BY state`).all(r.id) as { state: string; n: number }[]).map(
      (x) => [x.state, x.n],
    ),
  ) as Record<string, number>;
  const n = (k: string) => byState[k] ?? 0;
  const live = n('queued') + n('leased') + n('done') + n('failed');
  const accounted = ev + pb + pd + inf;
  const size = BigInt(r.space_size);
  const allDone = live > 0 && n('done') === live;
  const runReasons = new Map<string, bigint>();
  addReasons(runReasons, JSON.parse(r.infeasible_by_reason_json) as Record<string, string>);
  const reasonsObj = reasonsObject(reasons);
  const totalsConsistent =
    BigInt(r.evaluated) === ev &&
    BigInt(r.pruned_bound) === pb &&
    BigInt(r.pruned_dominance) === pd &&
    BigInt(r.infeasible) === inf &&
    JSON.stringify(reasonsObject(runReasons)) === JSON.stringify(reasonsObj);
  const designs = db.prepare(`SELECT count(*) FROM designs WHERE run_id = ?`).pluck().get(r.id) as number;
  const archive = db.prepare(`SELECT count(*) FROM archive WHERE run_id = ?`).pluck().get(r.id) as number;
  return {
    run: runInfo(r),
    spec: JSON.parse(r.spec_json) as unknown,
    coverage: {
      evaluated: ev.toString(),
      prunedBound: pb.toString(),
      prunedDominance: pd.toString(),
      infeasible: inf.toString(),
      infeasibleByReason: reasonsObj,
      accounted: accounted.toString(),
      spaceSize: r.space_size,
      fraction: size === 0n ? 1 : ratio(accounted, size),
      check: allDone ? (accounted === size ? 'exact' : 'mismatch') : 'incomplete',
      totalsConsistent,
    },
    progress: { done: n('done'), total: live, queued: n('queued'), leased: n('leased'), failed: n('failed'), split: n('split') },
    wallS: r.wall_s,
    workers: r.workers,
    designs,
    archive,
  };
}

/** a / b as a float, exact enough for display even beyond 2^53. */
function ratio(a: bigint, b: bigint): number {
  if (b === 0n) return 0;
  const scale = 10n ** 12n;
  return Number((a * scale) / b) / 1e12;
}

/** The summary as rows (metric, value) for formatRows. */
export function summaryRows(s: Summary): Row[] {
  const c = s.coverage;
  const rows: Row[] = [
    { metric: 'run', value: `${s.run.id} (${s.run.state}, spec ${s.run.specHash.slice(0, 12)}, epoch ${s.run.epoch})` },
    { metric: 'model version', value: s.run.modelVersion },
    { metric: 'objective', value: s.run.objective },
    { metric: 'space size', value: c.spaceSize },
    { metric: 'evaluated', value: c.evaluated },
    { metric: 'pruned by bound', value: c.prunedBound },
    { metric: 'pruned by dominance', value: c.prunedDominance },
    { metric: 'infeasible', value: c.infeasible },
  ];
  for (const [k, v] of Object.entries(c.infeasibleByReason)) rows.push({ metric: `  infeasible: ${k}`, value: v });
  rows.push(
    { metric: 'accounted', value: `${c.accounted} (${(c.fraction * 100).toFixed(4)}%)` },
    { metric: 'coverage check', value: c.check + (c.totalsConsistent ? '' : ' (run totals inconsistent!)') },
    { metric: 'subspaces done', value: `${s.progress.done} / ${s.progress.total}` },
    { metric: 'subspaces failed', value: s.progress.failed },
    { metric: 'designs kept', value: s.designs },
    { metric: 'pareto archive', value: s.archive },
    { metric: 'wall time (s)', value: Number(s.wallS.toFixed(3)) },
    { metric: 'workers', value: s.workers },
  );
  return rows;
}

// ----------------------------------------------------------------------------------------------
// Designs: pareto, best

export function objectiveColumn(name: string): ObjectiveColumn {
  const lower = name.trim().toLowerCase();
  const alias: Record<string, ObjectiveColumn> = {
    throughput: 'tokens_per_s',
    'throughput/w': 'tokens_per_s_per_w',
    'throughput-per-watt': 'tokens_per_s_per_w',
    'throughput/area': 'tokens_per_s_per_mm2',
    'throughput-per-area': 'tokens_per_s_per_mm2',
    tpot: 'tpot_s',
    ttft: 'ttft_s',
    energy: 'energy_per_token_j',
    'energy/token': 'energy_per_token_j',
    'serving-throughput-per-watt': 'serving_tokens_per_s_per_w',
  };
  for (const c of OBJECTIVES) if (c === lower || OBJECTIVE_CAMEL[c].toLowerCase() === lower) return c;
  const a = alias[lower];
  if (a) return a;
  throw new ConfigError('objective', name, `one of ${OBJECTIVES.join(', ')} (or throughput, throughput/w, throughput/area, tpot, ttft, energy)`);
}

function keptNames(f: number): string {
  return (Object.keys(KEPT) as (keyof typeof KEPT)[]).filter((k) => f & KEPT[k]).join(',');
}

const DESIGN_SELECT = `SELECT point_id, subspace_id, kept_as, ${OBJECTIVES.join(', ')}, ${KEYS.join(', ')}, params_json FROM designs`;

function designRow(r: Record<string, unknown>, lead: ObjectiveColumn | null): Row {
  const out: Row = { point_id: r.point_id as string };
  if (lead) out[lead] = r[lead] as number | null;
  for (const c of OBJECTIVES) if (c !== lead) out[c] = r[c] as number | null;
  for (const k of KEYS) out[k] = r[k] as Cell;
  out.kept_as = keptNames(r.kept_as as number);
  out.subspace_id = r.subspace_id as string;
  out.params = r.params_json as string;
  return out;
}

/** Drops the columns that are null in every row (objectives a run does not compute, missing keys). */
export function dropEmptyColumns(rows: Row[]): Row[] {
  if (rows.length === 0) return rows;
  const keep = Object.keys(rows[0]!).filter((k) => rows.some((r) => r[k] !== null && r[k] !== undefined));
  return rows.map((r) => Object.fromEntries(keep.map((k) => [k, r[k] ?? null])) as Row);
}

/** The run's objectives (comma-separated in runs.objective), as columns. Unknown names are skipped. */
function runObjectives(objective: string): ObjectiveColumn[] {
  const out: ObjectiveColumn[] = [];
  for (const part of objective.split(/[,+ ]+/)) {
    if (!part) continue;
    try {
      out.push(objectiveColumn(part));
    } catch {
      /* not a column objective */
    }
  }
  return out;
}

const order = (c: ObjectiveColumn) => `${c} ${OBJECTIVE_COLUMNS[c] === 'max' ? 'DESC' : 'ASC'}`;

/** The Pareto archive of the run, sorted by the run's first objective (ties by point id). */
export function pareto(db: Db, runId?: number): Row[] {
  const r = runRow(db, runId);
  const lead = runObjectives(r.objective)[0] ?? null;
  const rows = db
    .prepare(
      `${DESIGN_SELECT} WHERE run_id = ? AND point_id IN (SELECT point_id FROM archive WHERE run_id = ?)
       ORDER BY ${lead ? `${lead} IS NULL, ${order(lead)}, ` : ''}length(point_id), point_id`,
    )
    .all(r.id, r.id) as Record<string, unknown>[];
  return dropEmptyColumns(rows.map((x) => designRow(x, lead)));
}

/**
 * The best stored designs of a run for an objective (column name, camelCase, or alias), filtered by
 * `where` (see where.ts), ties broken by point id. Points without that objective are skipped.
 */
export function best(db: Db, runId: number | undefined, objective: string, where?: string, limit = 10): Row[] {
  const r = runRow(db, runId);
  const col = objectiveColumn(objective);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) throw new ConfigError('--limit', limit, 'an integer in [1, 1000000]');
  const w = parseWhere(where);
  if (w.dims.length > 0) {
    // params.<dim> must name a dim of the run (else the filter is silently empty): the keys of its
    // designs' params (every design of a run has the same).
    const known = db
      .prepare(`SELECT j.key FROM designs d, json_each(d.params_json) j WHERE d.run_id = ? AND d.rowid = (SELECT min(rowid) FROM designs WHERE run_id = ?)`)
      .pluck()
      .all(r.id, r.id) as string[];
    for (const dim of w.dims)
      if (known.length > 0 && !known.includes(dim)) throw new ConfigError('--where', `params.${dim}`, `a dim of the run: ${known.map((k) => `params.${k}`).join(', ')}`);
  }
  const rows = db
    .prepare(`${DESIGN_SELECT} WHERE run_id = ? AND ${col} IS NOT NULL AND (${w.sql}) ORDER BY ${order(col)}, length(point_id), point_id LIMIT ?`)
    .all(r.id, ...w.params, limit) as Record<string, unknown>[];
  return dropEmptyColumns(rows.map((x, i) => ({ rank: i + 1, ...designRow(x, col) })));
}

// ----------------------------------------------------------------------------------------------
// Read-only SQL

/** Strips leading whitespace and comments. */
function leadingKeyword(s: string): string {
  let t = s;
  for (;;) {
    const before = t;
    t = t.replace(/^\s+/, '');
    if (t.startsWith('--')) t = t.replace(/^--[^\n]*(\n|$)/, '');
    else if (t.startsWith('/*')) {
      const e = t.indexOf('*/');
      t = e < 0 ? '' : t.slice(e + 2);
    }
    if (t === before) break;
  }
  return (t.match(/^[A-Za-z]+/)?.[0] ?? t.slice(0, 20)).toLowerCase();
}

/** A statement as an error message shows it (its first 57 characters and '...' past 60). */
const shortSql = (select: string) => (select.length > 60 ? select.slice(0, 57) + '...' : select);

/**
 * Runs one read-only SELECT (or WITH ... SELECT) and returns its rows. Anything else (INSERT,
 * UPDATE, DELETE, ATTACH, PRAGMA, several statements) is refused with a ConfigError on `sql`.
 * Integers beyond 2^53 come back as decimal strings.
 */
export function sql(db: Db, select: string, opts: { maxRows?: number } = {}): Row[] {
  const kw = leadingKeyword(select);
  if (kw !== 'select' && kw !== 'with') throw new ConfigError('sql', kw || select, 'a single read-only SELECT or WITH statement');
  let stmt;
  try {
    stmt = db.prepare(select);
  } catch (e) {
    throw new ConfigError('sql', shortSql(select), `a single valid SELECT statement (${(e as Error).message})`);
  }
  if (!stmt.reader || !stmt.readonly)
    throw new ConfigError('sql', shortSql(select), 'a read-only statement (a SELECT, or a WITH whose main statement is a SELECT): this one writes');
  stmt.safeIntegers(true);
  const out: Row[] = [];
  const max = opts.maxRows ?? Infinity;
  try {
    for (const r of stmt.iterate() as Iterable<Record<string, unknown>>) {
      const row: Row = {};
      for (const [k, v] of Object.entries(r)) row[k] = cell(v);
      out.push(row);
      if (out.length >= max) break;
    }
  } catch (e) {
    throw new ConfigError('sql', shortSql(select), `a statement that runs (${(e as Error).message})`);
  }
  return out;
}

function cell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return `x'${v.toString('hex')}'`;
  return String(v);
}

// ----------------------------------------------------------------------------------------------
// Status

export interface Status {
  run: RunInfo;
  subspaces: Record<'queued' | 'leased' | 'done' | 'failed' | 'split', number>;
  leases: { owner: string; count: number; nextExpiryMs: number }[];
  failures: { id: string; reason: string }[];
  /** Points accounted (exact decimal) / space size. */
  accounted: string;
  spaceSize: string;
  fraction: number;
  /** Points accounted per second over the window (null: not enough events). */
  rate: number | null;
  windowS: number;
  /** Seconds to go at that rate (null: unknown; 0 when complete). */
  etaS: number | null;
  best: Row | null;
  workers: { id: string; host: string; threads: number; state: string; lastSeenMs: number }[];
}

/** `strata status --db`: queue and lease states, rate over the last window (default 300 s), ETA, best so far. */
export function status(db: Db, opts: { runId?: number; nowMs?: number; windowS?: number } = {}): Status {
  const r = runRow(db, opts.runId);
  const now = opts.nowMs ?? Date.now();
  const windowS = opts.windowS ?? 300;
  const counts = { queued: 0, leased: 0, done: 0, failed: 0, split: 0 };
  for (const x of db.prepare(`SELECT state, count(*) AS n FROM subspaces WHERE run_id = ? GROUP BY state`).all(r.id) as {
    state: keyof typeof counts;
    n: number;
  }[])
    counts[x.state] = x.n;
  const leases = (
    db
      .prepare(
        `SELECT lease_owner AS owner, count(*) AS count, min(lease_expires_ms) AS nextExpiryMs FROM subspaces
         WHERE run_id = ? AND state = 'leased' GROUP BY lease_owner ORDER BY lease_owner`,
      )
      .all(r.id) as { owner: string; count: number; nextExpiryMs: number }[]
  ).map((x) => ({ ...x }));
  const failures = db
    .prepare(`SELECT id, coalesce(fail_reason, '') AS reason FROM subspaces WHERE run_id = ? AND state = 'failed' ORDER BY rowid LIMIT 20`)
    .all(r.id) as { id: string; reason: string }[];
  const accounted = BigInt(r.evaluated) + BigInt(r.pruned_bound) + BigInt(r.pruned_dominance) + BigInt(r.infeasible);
  const size = BigInt(r.space_size);

  // Rate: points accounted by the commits in the window, over the time since the first of them
  // (that first commit's own points are excluded: they were searched before the window's start).
  const ev = db
    .prepare(`SELECT ts_ms, detail_json FROM events WHERE run_id = ? AND kind = 'commit' AND ts_ms >= ? AND ts_ms <= ? ORDER BY ts_ms, id`)
    .all(r.id, now - windowS * 1000, now) as { ts_ms: number; detail_json: string }[];
  let rate: number | null = null;
  if (ev.length >= 2) {
    let pts = 0n;
    for (const e of ev.slice(1)) pts += BigInt((JSON.parse(e.detail_json) as { accounted?: string }).accounted ?? '0');
    const span = Math.max(1, now - ev[0]!.ts_ms) / 1000;
    rate = Number(pts) / span;
  }
  const remaining = size - accounted;
  const etaS = remaining <= 0n ? 0 : rate && rate > 0 ? Number(remaining) / rate : null;
  const lead = runObjectives(r.objective)[0];
  const b = lead ? best(db, r.id, lead, undefined, 1) : [];
  const workers = (
    db.prepare(`SELECT id, host, threads, state, last_seen_ms FROM workers WHERE run_id = ? ORDER BY id`).all(r.id) as {
      id: string;
      host: string;
      threads: number;
      state: string;
      last_seen_ms: number;
    }[]
  ).map((w) => ({ id: w.id, host: w.host, threads: w.threads, state: w.state, lastSeenMs: w.last_seen_ms }));
  return {
    run: runInfo(r),
    subspaces: counts,
    leases,
    failures,
    accounted: accounted.toString(),
    spaceSize: r.space_size,
    fraction: ratio(accounted, size),
    rate,
    windowS,
    etaS,
    best: b[0] ?? null,
    workers,
  };
}

// ----------------------------------------------------------------------------------------------
// Formatting

export type Format = 'table' | 'csv' | 'json';

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object') return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return String(v);
}

function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const cols: string[] = [];
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.has(k)) (seen.add(k), cols.push(k));
  return cols;
}

/** Rows as an aligned table (numbers right-aligned), RFC 4180 CSV (CRLF), or a JSON array. Bigints as strings. */
export function formatRows(rows: readonly Record<string, unknown>[], format: Format = 'table'): string {
  if (format === 'json') return JSON.stringify(rows, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 2);
  const cols = columnsOf(rows);
  const cells = rows.map((r) => cols.map((c) => text(r[c])));
  if (format === 'csv') {
    const q = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [cols, ...cells].map((line) => line.map(q).join(',')).join('\r\n') + '\r\n';
  }
  if (format !== 'table') throw new ConfigError('--format', format, 'table, csv or json');
  if (cols.length === 0) return '(no rows)';
  const numeric = cols.map((c) =>
    rows.some((r) => r[c] !== null && r[c] !== undefined) &&
    rows.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'number' || typeof r[c] === 'bigint'),
  );
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(cols), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
