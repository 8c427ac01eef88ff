// `strata serve`: the discrete-event serving simulator (and the analytic steady state) for a design
// and a workload preset or file.
import { mappingOptions, precisionOptions } from './options.js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError, parseWith } from '../model/errors.js';
import {
  analyze,
  hasSplitChiplets,
  lengthsOf,
  parseTraceCsv,
  parseWorkload,
  pimSchema,
  prepareServing,
  SCHEDULERS,
  simulate,
  withArrival,
  type AnalyticResult,
  type PimSpec,
  type PreparedServing,
  type SchedulerKind,
  type SimResult,
  type Workload,
} from '../model/serving/index.js';
import { dataDir, loadModel, loadSystem, presetNames, readJson } from './load.js';
import { mappingFrom, type EvalOptions } from './eval.js';
import { nonNegInt, posInt, precisionSpec } from './options.js';
import { withExpertLoads } from './routing.js';
import { si, table } from './format.js';
import { checkOutPath, servePlotSvg, writeAtomically } from '../report/index.js';

export interface ServeOptions extends EvalOptions {
  workload: string;
  scheduler?: string;
  requests?: string;
  seed?: string;
  maxBatch?: string;
  chunk?: string;
  prefillReplicas?: string;
  rate?: string;
  concurrency?: string;
  pim?: string;
  analytic?: boolean;
  /** Write latency and queue/KV occupancy over time as an SVG file. */
  plot?: string;
}

/** A workload preset name or JSON file; a trace arrival's CSV is read relative to the file. */
export function loadWorkload(ref: string, flag = '--workload'): Workload {
  let file: string;
  if (ref.includes('/') || ref.endsWith('.json')) {
    file = resolve(ref);
    if (!existsSync(file)) throw new ConfigError(flag, ref, 'an existing JSON file or a workload preset');
  } else {
    file = dataDir('workloads', ref + '.json');
    if (!existsSync(file)) throw new ConfigError(flag, ref, `a workload preset (${presetNames('workloads').join(', ')}) or a JSON file`);
  }
  const w = parseWorkload(readJson(file, flag), file);
  if (w.arrival.kind === 'trace' && w.arrival.file && !w.arrival.rows) {
    const csv = resolve(dirname(file), w.arrival.file);
    let text: string;
    try {
      text = readFileSync(csv, 'utf8');
    } catch (e) {
      throw new ConfigError(`${file}: $.arrival.file`, w.arrival.file, `a readable CSV (${(e as Error).message})`);
    }
    return { ...w, arrival: { ...w.arrival, rows: parseTraceCsv(text, csv) } };
  }
  return w;
}

function positiveNumber(flag: string, raw: string): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new ConfigError(flag, raw, 'a positive number');
  return v;
}

export interface ServeRun {
  prepared: PreparedServing;
  workload: Workload;
  sim: SimResult;
  analytic: AnalyticResult;
}

export function setupServe(o: ServeOptions): { prepared: PreparedServing; workload: Workload } {
  const system = loadSystem(o.system);
  const model = loadModel(o.model);
  let workload = loadWorkload(o.workload);
  if (o.rate !== undefined && o.concurrency !== undefined) throw new ConfigError('--rate', o.rate, 'either --rate or --concurrency, not both');
  if (o.rate !== undefined) workload = withArrival(workload, { ratePerS: positiveNumber('--rate', o.rate) });
  if (o.concurrency !== undefined) workload = withArrival(workload, { concurrency: posInt('--concurrency', o.concurrency, 1 << 24) });
  const kind = (o.scheduler ?? (hasSplitChiplets(system) ? 'disaggregated' : 'continuous')) as SchedulerKind;
  if (o.prefillReplicas !== undefined && (kind !== 'disaggregated' || hasSplitChiplets(system)))
    throw new ConfigError('--prefill-replicas', o.prefillReplicas, `only with --scheduler disaggregated on a system without prefill/decode chiplets (here: ${kind} on ${system.name})`);
  if (!(SCHEDULERS as readonly string[]).includes(kind)) throw new ConfigError('--scheduler', o.scheduler, `one of ${SCHEDULERS.join(', ')}`);
  let pim: PimSpec | undefined;
  if (o.pim !== undefined) pim = parseWith(pimSchema, readJson(resolve(o.pim), '--pim'), o.pim);
  const lm = lengthsOf(workload, model.maxPositionEmbeddings);
  const prepared = prepareServing(
    {
      system,
      model,
      precision: precisionSpec(o),
      mapping: withExpertLoads(mappingFrom(o), o, model),
      scheduler: {
        kind,
        maxBatch: posInt('--max-batch', o.maxBatch ?? '256', 1 << 20),
        chunkTokens: posInt('--chunk', o.chunk ?? '2048', 1 << 24),
        prefillReplicas: o.prefillReplicas !== undefined ? posInt('--prefill-replicas', o.prefillReplicas, 1 << 20) : undefined,
      },
      pim,
    },
    { inputTokens: lm.input.mean, outputTokens: lm.output.mean },
  );
  return { prepared, workload };
}

export function runServe(o: ServeOptions): ServeRun {
  const { prepared, workload } = setupServe(o);
  const sim = simulate(prepared, workload, {
    requests: posInt('--requests', o.requests ?? '2000', 1e8),
    seed: nonNegInt('--seed', o.seed ?? '1', 2 ** 32 - 1),
  });
  const analytic = analyze(prepared, workload);
  return { prepared, workload, sim, analytic };
}

/** JSON with Infinity/NaN as null. */
export function serveJson(r: ServeRun): string {
  const out = { workload: r.workload.name, scheduler: r.sim.scheduler, simulation: r.sim, analytic: r.analytic };
  return JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

export function renderServe(r: ServeRun): string {
  const s = r.sim;
  const a = r.analytic;
  // NaN: no request had the figure (a TPOT needs a second output token): '-', not 'inf'.
  const msf = (x: number) => (Number.isNaN(x) ? '-' : Number.isFinite(x) ? (x * 1e3).toFixed(1) : 'inf');
  const d = r.prepared.design;
  const lines = [
    `strata serve  ${d.system.name} x ${d.model.name}  workload ${r.workload.name}, scheduler ${s.scheduler}, ${s.requests} requests (${s.completed} completed${s.rejected ? `, ${s.rejected} refused` : ''})`,
    ...s.notes.map((n) => `  note: ${n}`),
    '',
    table(
      [
        ['TTFT', msf(s.ttftS.mean), msf(s.ttftS.p50), msf(s.ttftS.p90), msf(s.ttftS.p99), msf(a.ttftS.mean), msf(a.ttftS.atPercentile)],
        ['TPOT', msf(s.tpotS.mean), msf(s.tpotS.p50), msf(s.tpotS.p90), msf(s.tpotS.p99), msf(a.tpotS.mean), msf(a.tpotS.atPercentile)],
        ['end-to-end', msf(s.e2eS.mean), msf(s.e2eS.p50), msf(s.e2eS.p90), msf(s.e2eS.p99), '-', '-'],
      ],
      ['latency (ms)', 'mean', 'p50', 'p90', 'p99', 'analytic mean', `analytic p${r.workload.slo.percentile}`],
    ),
    '',
    `throughput (steady window ${s.steady.fromS.toFixed(1)}..${s.steady.toS.toFixed(1)} s): ${si(s.throughput.outputTokensPerS, 'tok/s')} output, ${s.throughput.requestsPerS.toFixed(2)} req/s; analytic ${si(a.systemTokensPerS, 'tok/s')} (${a.stable ? 'stable' : 'SATURATED'}, capacity ${a.maxRequestsPerS.toFixed(2)} req/s)`,
    `SLO p${s.slo.percentile}: TTFT ${msf(s.slo.ttftAtPercentileMs / 1e3)} ms (limit ${s.slo.ttftMs}), TPOT ${msf(s.slo.tpotAtPercentileMs / 1e3)} ms (limit ${s.slo.tpotMs}) -> ${s.slo.met ? 'met' : 'NOT met'}; attainment ${(100 * s.slo.attainment).toFixed(1)}% (analytic ${(100 * a.slo.attainment).toFixed(1)}%)`,
    `goodput ${si(s.goodputTokensPerS, 'tok/s')} (analytic ${si(a.goodputTokensPerS, 'tok/s')}); energy ${si(s.energyPerTokenJ, 'J')}/token, ${s.tokensPerSPerW.toFixed(2)} tok/s/W (analytic ${a.tokensPerSPerW.toFixed(2)}): steps' dynamic ${si(s.energyJ.dynamicJ, 'J')} + packages' static ${si(s.energyJ.staticJ, 'J')} over ${s.durationS.toFixed(1)} s, busy or idle`,
    `decode batch ${s.meanDecodeBatch.toFixed(1)} (analytic ${a.decodeBatch.toFixed(1)}, limit ${a.batchLimit.toFixed(0)}); max queued ${s.maxQueued}; preemptions ${s.preemptions}; KV transfers ${s.kvTransfers}${s.pimOffloadFraction > 0 ? `; PIM offload ${(100 * s.pimOffloadFraction).toFixed(1)}% of decode attention` : ''}`,
    table(
      s.pools.map((p) => [p.name, p.steps, p.busyS.toFixed(2), `${(100 * p.utilisation).toFixed(1)}%`, p.maxBatch, si(p.kvCapacityTokens, 'tok')]),
      ['pool', 'steps', 'busy s', 'util', 'max batch', 'KV capacity'],
    ),
  ];
  const tl = s.timeline;
  if (tl.length > 0) {
    const pick = [0, 0.25, 0.5, 0.75, 1].map((f) => tl[Math.min(tl.length - 1, Math.floor(f * (tl.length - 1)))]!);
    lines.push('', table(pick.map((p) => [p.tS.toFixed(1), p.queued, p.running, `${(100 * p.kvUsedFraction).toFixed(1)}%`]), ['t (s)', 'queued', 'running', 'KV used']));
  }
  return lines.join('\n');
}

/** Registers `strata serve` on the program (called from main.ts). */
export function registerServe(program: import('commander').Command): void {
  const cmd = program
    .command('serve')
    .description('simulate serving a workload (discrete-event, with the analytic steady state alongside)')
    .requiredOption('--system <preset|file>', 'system preset name or JSON file')
    .requiredOption('--model <preset|config.json>', 'model preset name or Hugging Face config.json')
    .requiredOption('--workload <preset|file>', `workload preset (${presetNames('workloads').join(', ')}) or JSON file`)
    .option('--scheduler <s>', `${SCHEDULERS.join(' | ')} (default: disaggregated on split-chiplet packages, else continuous)`)
    .option('--requests <n>', 'requests to simulate', '2000')
    .option('--seed <s>', 'seed of arrivals and lengths', '1')
    .option('--rate <req/s>', 'override the workload arrival rate (open loop)')
    .option('--concurrency <n>', 'override the arrival process: closed loop with n clients')
    .option('--max-batch <n>', 'sequences in flight per replica', '256')
    .option('--chunk <tokens>', 'tokens per step per replica (chunk budget / prompt budget)', '2048')
    .option('--prefill-replicas <n>', 'disaggregated on GPUs: DP replicas given to prefill (default dp/4)')
    .option('--pim <file>', 'JSON of a PIM tier for decode attention offload: capacityGB, internalBandwidthGBps, linkBandwidthGBps, computeTFLOPS');
  mappingOptions(precisionOptions(cmd))
    .option('--json', 'print one JSON object')
    .option('--plot <out.svg>', 'also write TTFT/TPOT percentiles against the SLOs and queue/KV occupancy over time as an SVG file')
    .action((o: ServeOptions) => {
      const plot = o.plot !== undefined ? checkOutPath('--plot', o.plot) : undefined;
      const r = runServe(o);
      if (plot) writeAtomically(plot, servePlotSvg(r.sim, `${r.prepared.design.system.name} × ${r.prepared.design.model.name}, ${r.workload.name}`));
      process.stdout.write(o.json ? serveJson(r) + '\n' : renderServe(r) + '\n');
    });
}
