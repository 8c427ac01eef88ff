// `strata space`, `strata search`, `strata status`, `strata query`: thin wrappers over src/space,
// the coordinator and src/store.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../model/errors.js';
import { checkPaths, compileSpace, describeSpace, spaceSummaryJson, fmtBig, levelSizes } from '../space/index.js';
import { parseWorkload, lengthsOf, type Workload } from '../model/serving/workload.js';
import { makeRunContext, makeRunSpec, type RunSpec } from '../search/context.js';
import { OBJECTIVE_NAMES, usesServing, type ObjectiveName } from '../search/objective.js';
import { MAX_TOP_K } from '../search/limits.js';
import { best, formatRows, openReadDb, pareto, sql, status, subspaceIds, summary, summaryRows, type Format } from '../store/index.js';
import { readJson, resolveRef } from './load.js';
import { posInt } from './options.js';

export function loadSpaceJson(ref: string): Record<string, unknown> {
  const json = readJson(resolveRef(ref, 'spaces', '--space'), '--space');
  if (json === null || typeof json !== 'object') throw new ConfigError('--space', ref, 'a JSON object');
  return json as Record<string, unknown>;
}

/** A space compiled and checked against its base: the system and model presets exist, and every
 *  hardware path is a field of the system with values of its type (as a search checks them). */
function checkedSpace(ref: string): ReturnType<typeof compileSpace> {
  const json = loadSpaceJson(ref);
  const s = compileSpace(json, ref);
  const base = s.config.base;
  const system = readJson(resolveRef(base.system, 'systems', `${ref}: $.base.system`), `${ref}: $.base.system`);
  readJson(resolveRef(base.model, 'models', `${ref}: $.base.model`), `${ref}: $.base.model`);
  checkPaths(s, system);
  return s;
}

function formatOf(v: string | undefined): Format {
  const f = v ?? 'table';
  if (f !== 'table' && f !== 'csv' && f !== 'json') throw new ConfigError('--format', f, 'table, csv or json');
  return f;
}

function objectivesOf(v: string): ObjectiveName[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const o of list) if (!(OBJECTIVE_NAMES as string[]).includes(o)) throw new ConfigError('--objective', o, `one or more of ${OBJECTIVE_NAMES.join(', ')} (comma-separated)`);
  return list as ObjectiveName[];
}

function positive(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(flag, v, 'a positive number');
  return n;
}

export interface SearchFlags {
  space: string;
  workload?: string;
  objective: string;
  db: string;
  workers?: string;
  newRun?: boolean;
  retryFailed?: boolean;
  topK?: string;
  tpotMaxMs?: string;
  ttftMaxMs?: string;
  powerMaxW?: string;
  areaMaxMm2?: string;
  tempMaxC?: string;
}

/** The run spec of a search command: space (with the workload's lengths), hardware, model, objectives. */
export function runSpecFromFlags(f: SearchFlags): RunSpec {
  const space = structuredClone(loadSpaceJson(f.space));
  const base = space.base as { system: string; model: string; defaults?: Record<string, unknown> };
  if (!base || typeof base.system !== 'string' || typeof base.model !== 'string')
    throw new ConfigError('$.base', base, 'an object with system and model preset names');
  const constraints: Record<string, number> = {};
  const objectives = objectivesOf(f.objective);
  // A serving objective needs an open-loop workload: the search spec's schema says so (makeRunSpec).
  const serving = usesServing({ objectives });
  let workload: Workload | undefined;
  if (f.workload) {
    // The workload sets the request shape (mean lengths). Its SLOs become step-time constraints,
    // unless a serving objective applies them to the serving model's percentiles instead (a
    // continuous-batching step is not the static batch's prefill or decode step).
    const w = parseWorkload(readJson(resolveRef(f.workload, 'workloads', '--workload'), '--workload'), f.workload);
    const l = lengthsOf(w, 1 << 20);
    base.defaults = { ...(base.defaults ?? {}), inputTokens: Math.max(1, Math.round(l.input.mean)), outputTokens: Math.max(1, Math.round(l.output.mean)) };
    if (serving) workload = w;
    else if (w.slo) {
      if (w.slo.tpotMs !== undefined) constraints.tpotMaxS = w.slo.tpotMs / 1000;
      if (w.slo.ttftMs !== undefined) constraints.ttftMaxS = w.slo.ttftMs / 1000;
    }
  }
  const set = (k: string, v: number | undefined, scale = 1) => {
    if (v !== undefined) constraints[k] = v * scale;
  };
  set('tpotMaxS', positive('--tpot-max-ms', f.tpotMaxMs), 1e-3);
  set('ttftMaxS', positive('--ttft-max-ms', f.ttftMaxMs), 1e-3);
  set('powerMaxW', positive('--power-max-w', f.powerMaxW));
  set('areaMaxMm2', positive('--area-max-mm2', f.areaMaxMm2));
  set('tempMaxC', positive('--temp-max-c', f.tempMaxC));
  const system = readJson(resolveRef(base.system, 'systems', `${f.space}: $.base.system`), `${f.space}: $.base.system`) as Record<string, unknown>;
  const model = readJson(resolveRef(base.model, 'models', `${f.space}: $.base.model`), `${f.space}: $.base.model`);
  const search = { objectives, constraints, topK: f.topK ? topKOf(f.topK) : 20, ...(workload ? { workload } : {}) };
  // The split depth is a property of the space (not of the worker count), so a resume with another
  // --workers keeps the same subspaces.
  const probe = makeRunSpec(space, system, base.system, model, base.model, search, 0);
  const ctx = makeRunContext(probe);
  if (workload) lengthsOf(workload, ctx.model.maxPositionEmbeddings); // its requests fit the model
  return { ...probe, splitDepth: splitDepthOf(ctx) };
}

/** --top-k: at most MAX_TOP_K per objective (a sanity bound: the lists go to every worker). */
function topKOf(raw: string): number {
  const k = posInt('--top-k', raw);
  if (k > MAX_TOP_K) throw new ConfigError('--top-k', raw, `at most ${MAX_TOP_K} (designs kept per objective)`);
  return k;
}

/** Depth whose subspaces number at least 256 (capped at 100,000): the coordinator's first split. */
function splitDepthOf(ctx: ReturnType<typeof makeRunContext>): number {
  const levels = levelSizes(ctx.space);
  let depth = 0;
  for (let d = 1; d < ctx.space.levels.length; d++) {
    const nodes = levels[d - 1]!.nodes;
    if (nodes > 100_000n) break;
    depth = d;
    if (nodes >= 256n) break;
  }
  return depth;
}

/** The flags that make a run spec: shared by `search` and `coordinator` (same flags, same run). */
export function runSpecOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--space <preset|file>', 'design space preset (quick, deepstack, small, tiny) or JSON file')
    .option('--workload <preset|file>', 'request shape and SLOs (chat, rag-long, reasoning, mlperf-llama2-70b); with serving-throughput-per-watt, the request stream served')
    .option('--objective <list>', `one objective, or several (comma-separated) for a Pareto front: ${OBJECTIVE_NAMES.join(', ')}`, 'throughput-per-watt')
    .requiredOption('--db <file>', 'results database (created, or resumed when it holds the same run)')
    .option('--new-run', 'start a new run in a database that holds another run spec')
    .option('--top-k <k>', 'best designs kept per objective', '20')
    .option('--tpot-max-ms <ms>', 'TPOT constraint')
    .option('--ttft-max-ms <ms>', 'TTFT constraint')
    .option('--power-max-w <w>', 'system power constraint')
    .option('--area-max-mm2 <mm2>', 'silicon area constraint')
    .option('--temp-max-c <c>', 'temperature constraint');
}

export function registerSearch(program: Command, onResult: (text: string) => void): void {
  const searchCmd = program
    .command('search')
    .description('search a design space on this machine (embedded coordinator + local threads), results in SQLite')
    .option('--workers <n>', 'search threads (default: the cores; 0: search on the main thread, no threads)')
    .option('--retry-failed', 'on resume, put the failed subspaces (retry limit reached) back in the queue');
  runSpecOptions(searchCmd).action(async (f: SearchFlags) => {
      const spec = runSpecFromFlags(f);
      const threads = f.workers !== undefined ? (f.workers === '0' ? 0 : posInt('--workers', f.workers, 1024)) : availableParallelism();
      const { runEmbedded } = await import('../../coordinator/embedded.js');
      const { coordinator: co, wallS } = await runEmbedded(f.db, spec, { threads, progress: true, newRun: f.newRun ?? false, retryFailed: f.retryFailed ?? false });
      const p = co.progress;
      const front = co.archive.sorted();
      const done = co.finished();
      const failed = done ? 0 : subspaceIds(co.run, 'failed').length;
      co.close();
      const why = failed > 0 ? `${failed} subspace(s) failed (retry limit reached; see strata status): run again with --retry-failed` : 'interrupted (run the same command again to resume)';
      const lines = [
        `${done ? 'done' : why}: ${p.accounted} of ${p.size} points accounted in ${wallS.toFixed(1)} s`,
        `  evaluated ${p.evaluated}, pruned by bound ${p.prunedBound}, pruned by dominance ${p.prunedDominance}, infeasible ${p.infeasible}`,
        `  front: ${front.length} design(s); see: strata query --db ${f.db} pareto`,
      ];
      for (const e of front.slice(0, 10))
        lines.push(`  point ${e.id}: ${spec.search.objectives.map((o, i) => `${o} ${Math.abs(e.values[i]!).toPrecision(5)}`).join(', ')}`);
      onResult(lines.join('\n'));
      if (!done) process.exitCode = 1;
    });

  const space = program.command('space').description('size and shape of a design space');
  space
    .command('count <space>')
    .description('exact number of points (a preset name or a space JSON file)')
    .option('--json', 'print JSON')
    .action((ref: string, o: { json?: boolean }) => {
      const s = checkedSpace(ref);
      onResult(o.json ? JSON.stringify({ name: s.name, size: s.size.toString() }) : `${s.size} (${fmtBig(s.size)}) points in space ${s.name}`);
    });
  space
    .command('show <space>')
    .description('levels, dims and exact subtree sizes of a space')
    .option('--json', 'print JSON')
    .action((ref: string, o: { json?: boolean }) => {
      const s = checkedSpace(ref);
      onResult(o.json ? JSON.stringify(spaceSummaryJson(s), null, 2) : describeSpace(s));
    });

  program
    .command('status')
    .description('progress of a run: subspaces, leases, rate, ETA, best so far')
    .requiredOption('--db <file>', 'results database')
    .option('--format <f>', 'table | csv | json', 'table')
    .action((o: { db: string; format?: string }) => {
      const fmt = formatOf(o.format);
      const db = openReadDb(o.db);
      try {
        const st = status(db);
        if (fmt === 'json') onResult(JSON.stringify(st, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
        else {
          const rows = [
            { item: 'run', value: `${st.run.id} (${st.run.state})` },
            { item: 'accounted', value: `${st.accounted} / ${st.spaceSize} (${(100 * st.fraction).toFixed(3)}%)` },
            { item: 'subspaces', value: Object.entries(st.subspaces).map(([k, v]) => `${k} ${v}`).join(', ') },
            { item: 'rate (points/s)', value: st.rate === null ? '-' : st.rate.toExponential(3) },
            { item: 'ETA (s)', value: st.etaS === null ? '-' : st.etaS.toFixed(0) },
            { item: 'leases', value: st.leases.map((l) => `${l.owner}: ${l.count}`).join('; ') || '-' },
            { item: 'workers', value: st.workers.map((w) => `${w.id} (${w.state}, ${w.host}, ${w.threads} threads)`).join('; ') || '-' },
            { item: 'best so far', value: st.best ? JSON.stringify(st.best) : '-' },
          ];
          onResult(formatRows(rows, fmt));
        }
      } finally {
        db.close();
      }
    });

  program
    .command('query')
    .description('read a results database: summary | pareto | best | sql "<SELECT ...>"')
    .requiredOption('--db <file>', 'results database')
    .argument('<what>', 'summary | pareto | best | sql')
    .argument('[select]', 'the SELECT statement for sql')
    .option('--objective <o>', 'objective for best (default: the run\'s first)')
    .option('--where <filter>', "filter for best, e.g. \"layers=8 and precision='fp8'\"")
    .option('--limit <n>', 'rows for best', '10')
    .option('--format <f>', 'table | csv | json', 'table')
    .action((what: string, select: string | undefined, o: { db: string; objective?: string; where?: string; limit?: string; format?: string }) => {
      const fmt = formatOf(o.format);
      // Flags of `best` only, and the statement of `sql` only: refused elsewhere rather than ignored.
      if (what !== 'best')
        for (const [flag, v] of [['--where', o.where], ['--objective', o.objective]] as const)
          if (v !== undefined) throw new ConfigError(flag, v, `no ${flag} with query ${what} (it applies to query best)`);
      if (what !== 'sql' && select !== undefined) throw new ConfigError('query', select, `no argument after ${what} (only sql takes a statement)`);
      const db = openReadDb(o.db);
      try {
        if (what === 'summary') onResult(formatRows(summaryRows(summary(db)), fmt));
        else if (what === 'pareto') onResult(formatRows(pareto(db), fmt));
        else if (what === 'best') {
          const s = summary(db);
          const obj = o.objective ?? s.run.objective.split(',')[0]!;
          onResult(formatRows(best(db, undefined, obj, o.where, posInt('--limit', o.limit ?? '10', 100_000)), fmt));
        } else if (what === 'sql') {
          if (!select) throw new ConfigError('sql', select, 'a SELECT statement');
          onResult(formatRows(sql(db, select), fmt));
        } else throw new ConfigError('query', what, 'summary, pareto, best or sql');
      } finally {
        db.close();
      }
    });
}
