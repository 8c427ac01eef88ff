// The results store schema (DESIGN 4.3, 5). One SQLite file holds every run of a search: the run spec
// and its hash, the subspaces (queue, leases, exact coverage counts), the kept designs with indexed
// objective/key columns and the full metrics as JSON, the Pareto archive, workers and events.
//
// Counts that can exceed 2^53 (space sizes, point ids, evaluated/pruned/infeasible counts) are stored
// as TEXT holding a canonical non-negative decimal (no sign, no leading zeros) and summed with BigInt
// in TypeScript. Canonical decimals compare numerically by (length, text): `ORDER BY length(x), x`.
//
// Pure data: no I/O here (db.ts applies the DDL).

/** Bumped on every change of the DDL below (stored in PRAGMA user_version). Version 1 lacked the
 *  serving_tokens_per_s_per_w column: a writer upgrades it in place (db.ts MIGRATIONS). */
export const SCHEMA_VERSION = 2;
/** PRAGMA application_id of a strata database: 'STRA'. */
export const APPLICATION_ID = 0x53545241;

/** Objective columns of `designs` (REAL, indexed per run) and whether larger is better. */
export const OBJECTIVE_COLUMNS = {
  tokens_per_s: 'max',
  tokens_per_s_per_w: 'max',
  tokens_per_s_per_mm2: 'max',
  goodput: 'max',
  tpot_s: 'min',
  ttft_s: 'min',
  energy_per_token_j: 'min',
  serving_tokens_per_s_per_w: 'max',
} as const;
export type ObjectiveColumn = keyof typeof OBJECTIVE_COLUMNS;
export const OBJECTIVES = Object.keys(OBJECTIVE_COLUMNS) as ObjectiveColumn[];

/** camelCase names (as in DesignRow.objectives and the eval output) of the objective columns. */
export const OBJECTIVE_CAMEL: Readonly<Record<ObjectiveColumn, string>> = {
  tokens_per_s: 'tokensPerS',
  tokens_per_s_per_w: 'tokensPerSPerW',
  tokens_per_s_per_mm2: 'tokensPerSPerMm2',
  goodput: 'goodput',
  tpot_s: 'tpotS',
  ttft_s: 'ttftS',
  energy_per_token_j: 'energyPerTokenJ',
  serving_tokens_per_s_per_w: 'servingTokensPerSPerW',
};

/**
 * Key design columns of `designs` usable in `best --where` (real columns). The coordinator fills them
 * from what each kept design is, not from dim names (src/search/keys.ts): layers, connected_layers and
 * bonding describe the decode chiplet's DRAM stack (the only chiplet's in a one-chiplet package),
 * precision is the weights' precision, devices = tp*pp*dp*sp, system the base system's name.
 */
export const KEY_COLUMNS = {
  layers: 'number',
  connected_layers: 'number',
  bonding: 'text',
  devices: 'number',
  tp: 'number',
  pp: 'number',
  dp: 'number',
  sp: 'number',
  ep: 'number',
  batch: 'number',
  precision: 'text',
  system: 'text',
} as const;
export type KeyColumn = keyof typeof KEY_COLUMNS;
export const KEYS = Object.keys(KEY_COLUMNS) as KeyColumn[];

/** Why a design was kept (bit flags in designs.kept_as). */
export const KEPT = { pareto: 1, topk: 2, 'subspace-best': 4 } as const;
export type KeptAs = keyof typeof KEPT;

export const RUN_STATES = ['running', 'done', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];
/** `split`: replaced by its children (splitSubspace); it no longer counts in the coverage. */
export const SUBSPACE_STATES = ['queued', 'leased', 'done', 'failed', 'split'] as const;
export type SubspaceState = (typeof SUBSPACE_STATES)[number];
export const WORKER_STATES = ['active', 'gone', 'lost'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

const quoteList = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');
/** CHECK that a TEXT column holds a canonical non-negative decimal. */
const big = (col: string, nullable = false) =>
  `${col} TEXT${nullable ? '' : ' NOT NULL'} CHECK (${nullable ? `${col} IS NULL OR ` : ''}(${col} <> '' AND ${col} NOT GLOB '*[^0-9]*' AND (${col} = '0' OR ${col} NOT GLOB '0*')))`;

export const DDL: readonly string[] = [
  `CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    spec_json TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    model_version TEXT NOT NULL,
    objective TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN (${quoteList(RUN_STATES)})),
    wall_s REAL NOT NULL DEFAULT 0,
    ${big('space_size')},
    workers INTEGER NOT NULL DEFAULT 0,
    ${big("evaluated")} DEFAULT '0',
    ${big('pruned_bound')} DEFAULT '0',
    ${big('pruned_dominance')} DEFAULT '0',
    ${big('infeasible')} DEFAULT '0',
    infeasible_by_reason_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (spec_hash, epoch)
  )`,
  `CREATE TABLE subspaces (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    parent_id TEXT,
    ${big('first_point')},
    ${big('size')},
    depth INTEGER NOT NULL CHECK (depth >= 0),
    priority REAL NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN (${quoteList(SUBSPACE_STATES)})),
    lease_owner TEXT,
    lease_expires_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    fail_reason TEXT,
    ${big('evaluated', true)},
    ${big('pruned_bound', true)},
    ${big('pruned_dominance', true)},
    ${big('infeasible', true)},
    infeasible_by_reason_json TEXT,
    best_point_id TEXT,
    committed_by TEXT,
    done_ms INTEGER,
    PRIMARY KEY (run_id, id),
    CHECK ((state = 'leased') = (lease_owner IS NOT NULL AND lease_expires_ms IS NOT NULL)),
    CHECK ((state = 'done') = (evaluated IS NOT NULL AND pruned_bound IS NOT NULL AND pruned_dominance IS NOT NULL AND infeasible IS NOT NULL))
  )`,
  `CREATE INDEX subspaces_queue ON subspaces (run_id, state, priority DESC)`,
  `CREATE INDEX subspaces_leases ON subspaces (run_id, lease_expires_ms) WHERE state = 'leased'`,
  `CREATE TABLE designs (
    run_id INTEGER NOT NULL,
    point_id TEXT NOT NULL, -- canonical decimal (checked by the writer: this is the hot insert)
    subspace_id TEXT NOT NULL,
    kept_as INTEGER NOT NULL CHECK (kept_as BETWEEN 1 AND 7),
    ${OBJECTIVES.map((c) => `${c} REAL`).join(',\n    ')},
    ${KEYS.map((c) => `${c} ${KEY_COLUMNS[c] === 'number' ? 'NUMERIC' : 'TEXT'}`).join(',\n    ')},
    params_json TEXT NOT NULL,
    metrics_json TEXT NOT NULL, -- JSON.stringify output, or a pre-serialised string checked (json_valid, an object) by the writer before insert
    PRIMARY KEY (run_id, point_id),
    FOREIGN KEY (run_id, subspace_id) REFERENCES subspaces (run_id, id)
  )`,
  `CREATE TABLE archive (
    run_id INTEGER NOT NULL,
    point_id TEXT NOT NULL,
    PRIMARY KEY (run_id, point_id),
    FOREIGN KEY (run_id, point_id) REFERENCES designs (run_id, point_id)
  )`,
  `CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    host TEXT NOT NULL,
    threads INTEGER NOT NULL,
    joined_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN (${quoteList(WORKER_STATES)}))
  )`,
  `CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{}'
  )`,
  `CREATE INDEX events_kind_ts ON events (run_id, kind, ts_ms)`,
];

/**
 * Index of an objective column (per run, in objective order). Every index costs each inserted design
 * row a B-tree insert, so the writer creates the indexes of the run's own objectives when the run is
 * opened (the incumbent, `best` and `status` use them while it runs) and the remaining ones when the
 * run ends (updateRun to done/failed) or on ensureObjectiveIndexes. bench/store.ts measures both.
 */
export const objectiveIndexDdl = (c: ObjectiveColumn): string =>
  `CREATE INDEX IF NOT EXISTS designs_${c} ON designs (run_id, ${c}) WHERE ${c} IS NOT NULL`;

/** Tables a strata database must contain (checked on open). */
export const TABLES = ['runs', 'subspaces', 'designs', 'archive', 'workers', 'events'] as const;

/** A row of `runs` as SQLite returns it. */
export interface RunRow {
  id: number;
  spec_json: string;
  spec_hash: string;
  epoch: number;
  model_version: string;
  objective: string;
  created_ms: number;
  updated_ms: number;
  state: RunState;
  wall_s: number;
  space_size: string;
  workers: number;
  evaluated: string;
  pruned_bound: string;
  pruned_dominance: string;
  infeasible: string;
  infeasible_by_reason_json: string;
}
