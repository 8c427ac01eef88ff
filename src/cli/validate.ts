// `strata validate`: the model against measured data. Each dataset says which rows calibrated a
// constant (so they are not a check) and which are held out.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError } from '../model/errors.js';
import { evaluate, evaluateGemm, memoryBandwidth } from '../model/evaluate.js';
import { busBandwidthGBps, collectiveCost, overlapTile, type LevelAlgorithm, type NetworkLevel } from '../model/network.js';
import type { SystemSpec } from '../model/hardware/schema.js';
import type { Precision } from '../model/types.js';
import { dataDir, loadModel, loadSystem, presetNames } from './load.js';
import { precision } from './options.js';
import { table } from './format.js';
import { lengthsOf, prepareServing, simulate, withArrival, type SimResult, type Workload } from '../model/serving/index.js';
import { loadWorkload as loadServingWorkload } from './serve.js';

export interface ValidateOptions {
  data?: string[];
  json?: boolean;
}

export interface ValidationRow {
  file: string;
  label: string;
  metric: string;
  measured: number;
  model: number;
  errorPct: number;
  /** 'calibration' rows fitted a constant; 'check' rows are held out; 'info' rows are outside the
   *  model's claimed range (e.g. latency-dominated messages) and kept out of the MAPE. */
  use: 'calibration' | 'check' | 'info';
}

/** One data row of a CSV file: its cells by column, and where it is (file and 1-based line). */
export class CsvRow {
  constructor(
    readonly file: string,
    readonly line: number,
    private readonly cells: Record<string, string>,
  ) {}

  /** Where a cell is, as a ConfigError path: `row <line>, column <name>` (the file is the source). */
  where(col: string): string {
    return `row ${this.line}, column ${col}`;
  }

  fail(col: string, expected: string): never {
    throw new ConfigError(this.where(col), this.cells[col], expected, this.file);
  }

  /** A cell that must be present and non-empty. */
  str(col: string): string {
    const v = this.cells[col];
    if (v === undefined || v === '') this.fail(col, 'a value (the cell is empty)');
    return v;
  }

  /** An optional cell ('' when empty). */
  opt(col: string): string {
    return this.cells[col] ?? '';
  }

  /** A finite number > 0 (measured figures and sizes: the error is relative to them). */
  pos(col: string): number {
    const v = this.cells[col];
    const n = v === undefined || v.trim() === '' ? NaN : Number(v);
    if (!(Number.isFinite(n) && n > 0)) this.fail(col, 'a number > 0');
    return n;
  }

  /** An integer >= 1 (batch, tokens, parallel degrees, GEMM dimensions). */
  int(col: string): number {
    const v = this.cells[col];
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1) this.fail(col, 'an integer >= 1');
    return Number(v);
  }

  /** A cell mapped through a parser that throws ConfigError (presets, precisions): the error names
   *  this file, row and column instead of the parser's own field name. */
  as<T>(col: string, parse: (v: string) => T): T {
    const v = this.str(col);
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(this.where(col), v, e.expected, this.file);
      throw e;
    }
  }
}

type Csv = { file: string; header: string[]; rows: CsvRow[] };

/** Reads a CSV file: a header line, then data rows (blank lines and lines starting with # are
 *  skipped). A missing or unreadable file, an empty one, a missing column or a row with more cells
 *  than the header is a ConfigError naming the file (and the row). */
export function readCsv(file: string, required: readonly string[] = []): Csv {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('--data', file, `a readable CSV file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = text
    .split(/\r?\n/)
    .map((l, i) => ({ l, line: i + 1 }))
    .filter(({ l }) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new ConfigError('header', '', `a header line with the columns ${required.join(', ')}`, file);
  const header = lines[0]!.l.split(',').map((s) => s.trim());
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length > 0)
    throw new ConfigError(`row ${lines[0]!.line} (header)`, header.join(','), `the columns ${required.join(', ')} (missing: ${missing.join(', ')})`, file);
  const rows = lines.slice(1).map(({ l, line }) => {
    const cells = l.split(',').map((s) => s.trim());
    if (cells.length > header.length)
      throw new ConfigError(`row ${line}`, l, `at most ${header.length} comma-separated cells (the header's ${header.join(',')})`, file);
    return new CsvRow(file, line, Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  });
  if (rows.length === 0) throw new ConfigError(`row ${lines[0]!.line + 1}`, '', 'at least one data row after the header (nothing to compare)', file);
  return { file, header, rows };
}

/** Maps dataset names of GPUs and models to presets. */
export function gpuPreset(name: string): string {
  const n = name.toLowerCase().replace(/^\d+x/, '').replace(/-\d+gb$/, (m) => (name.toLowerCase().includes('a100') ? m : ''));
  const table: Record<string, string> = {
    'a100-sxm-80gb': 'a100-sxm-80gb',
    'h100-sxm': 'h100-sxm',
    'h100-sxm-80gb': 'h100-sxm',
    'h200-sxm': 'h200-sxm',
    'h200-sxm-141gb': 'h200-sxm',
    'b200-sxm': 'b200-sxm',
    mi300x: 'mi300x',
    mi325x: 'mi325x',
  };
  const hit = table[n] ?? table[name.toLowerCase()];
  if (!hit) throw new ConfigError('gpu', name, `one of ${Object.keys(table).join(', ')}`);
  return hit;
}

export function modelPreset(name: string): string {
  const n = name.toLowerCase().replace(/-instruct$/, '');
  if (!presetNames('models').includes(n)) throw new ConfigError('model', name, `a model preset (${presetNames('models').join(', ')})`);
  return n;
}

function pct(model: number, measured: number): number {
  return (100 * (model - measured)) / measured;
}

/** The software stack of a measurement replaces the preset's (it belongs to the run, not the chip). */
function withSoftware(s: SystemSpec, sw: Partial<SystemSpec['package']['software']>, tdpW?: number): SystemSpec {
  return {
    ...s,
    package: {
      ...s.package,
      software: { ...s.package.software, ...sw },
      power: tdpW ? { ...s.package.power, tdpW } : s.package.power,
    },
  };
}

// Calibration choices (one constant per dataset, fitted on the rows named here):
const GEMM_CALIBRATION = new Set(['H100-SXM fp8 32768', 'A100-SXM-80GB fp16 16384']); // matrixEfficiency per family
const HBM_CALIBRATION = new Set(['H100-SXM']); // controllerEfficiency

/** A system with its scale-up level's start-up and per-hop latency replaced by a software stack's
 *  (NCCL's protocol steps vs an inference framework's custom kernels). */
function withStartup(s: SystemSpec, startupLatencyUs: number, hopLatencyUs: number): SystemSpec {
  const net = (s.network ?? []).map((l, i) => (i === 0 ? { ...l, startupLatencyUs, hopLatencyUs } : l));
  return { ...s, network: net };
}

// NCCL's start-up at mid-size messages (protocol pipeline fill), fitted on the H100 16 MiB row, and
// its per-step latency (a hop plus the Simple protocol's flag synchronisation), fitted on the A100
// 16 MiB row (a ring: 2(p-1) steps).
const NCCL_STARTUP_US = 62;
const NCCL_STEP_US = 6;
// The serving-stack constants of these two files live in the presets' software blocks: NVIDIA
// presets carry TensorRT-LLM 0.9's (fitted on the Llama-2-7B rows of trtllm_v09.csv), AMD presets
// vLLM-on-ROCm's (fitted on the Llama-3.3-70B rows of mi325x_vllm_decode.csv). scripts/fit-software.mjs
// repeats the grid fit; the other rows are the held-out check.

const MIB16 = 16 * 2 ** 20;

/** A "<count>x<gpu>" system name of a dataset (e.g. 8xH100-SXM): the device count. */
function deviceCount(r: CsvRow, col: string): number {
  const m = /^(\d+)x/.exec(r.str(col));
  if (!m || Number(m[1]) < 1) r.fail(col, 'a system name "<count>x<gpu>", e.g. 8xH100-SXM');
  return Number(m[1]);
}

interface Handler {
  /** The columns the rows must have (checked against the header before any row runs). */
  columns: readonly string[];
  run: (csv: Csv, file: string) => ValidationRow[];
}

const handlers: Record<string, Handler> = {
  'allreduce_busbw.csv': {
    columns: ['system', 'algorithm', 'message_bytes', 'busbw_GBps'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        const system = r.str('system');
        const p = deviceCount(r, 'system');
        const sys = withStartup(loadSystem(r.as('system', gpuPreset)), NCCL_STARTUP_US, NCCL_STEP_US);
        const levels = sys.network as NetworkLevel[];
        const bytes = r.int('message_bytes');
        const algorithm = r.opt('algorithm');
        // NVLS = in-switch reduction; Ring = NCCL's ring only; default = NCCL 2.18's choice without
        // NVLS: its ring or its double binary tree.
        const algs: LevelAlgorithm[] | undefined =
          algorithm === 'Ring' ? ['ring'] : algorithm === 'NVLS' ? undefined : ['ring', 'double-binary-tree'];
        const lv = algorithm === 'NVLS' ? levels : levels.map((l) => ({ ...l, inSwitchReduction: false }));
        const c = collectiveCost('all-reduce', bytes, [p], lv, algs ? { algorithms: algs } : undefined);
        const model = busBandwidthGBps('all-reduce', bytes, p, c.timeS);
        const measured = r.pos('busbw_GBps');
        const label = `${system} ${algorithm} ${bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`}`;
        const cal = (system === '8xH100-SXM' && algorithm === 'NVLS' && (bytes === 8589934592 || bytes === MIB16)) || (system === '8xA100-SXM-80GB' && (bytes === 8589934592 || bytes === MIB16)) || (system === '8xB200-SXM' && algorithm === 'Ring');
        return { file, label, metric: 'busbw GB/s', measured, model, errorPct: pct(model, measured), use: bytes < MIB16 ? 'info' : cal ? 'calibration' : 'check' };
      }),
  },
  'ag_gemm_h100.csv': {
    columns: ['M', 'N', 'K', 'ag_bytes', 'measured_ms'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        // TP8 all-gather of the A operand (bf16) fused with the GEMM: the GEMM's waves overlap the
        // gather's chunks. ag_bytes is each GPU's shard, so the gathered output is 8x that.
        const sys = loadSystem('h100-sxm');
        const levels = sys.network as NetworkLevel[];
        const [M, N, K] = [r.int('M'), r.int('N'), r.int('K')];
        const agBytes = r.int('ag_bytes');
        const measured = r.pos('measured_ms');
        const g = evaluateGemm(sys, M, N, K, 'bf16', 2);
        const ag = collectiveCost('all-gather', 8 * agBytes, [8], levels);
        const t = overlapTile(g.timeS, ag.timeS, g.waves, true).totalS;
        return { file, label: `${M}x${N}x${K}`, metric: 'ms', measured, model: t * 1e3, errorPct: pct(t * 1e3, measured), use: 'check' as const };
      }),
  },
  'mi325x_vllm_decode.csv': {
    columns: ['model', 'tp', 'precision', 'input_tokens', 'output_tokens', 'batch', 'system_decode_tps'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        const sys = loadSystem('mi325x');
        const p = r.as('precision', (v) => precision('precision', v));
        const batch = r.int('batch');
        const tp = r.int('tp');
        const modelName = r.str('model');
        const model = loadModel(r.as('model', (v) => modelPreset(v.replace('Llama-3.3-70B', 'llama-3.3-70b'))));
        const inputTokens = r.int('input_tokens');
        const outputTokens = r.int('output_tokens');
        const measured = r.pos('system_decode_tps');
        const res = evaluate({
          system: sys,
          model,
          precision: { weights: p, activations: p, kvCache: p },
          batch,
          inputTokens,
          outputTokens,
          mapping: { tp, pp: 1, dp: 1, sp: 1, ep: 1 },
        });
        const modelTps = res.decode.systemTokensPerS;
        const cal = modelName === 'Llama-3.3-70B-Instruct';
        return { file, label: `${modelName} tp${tp} b${batch}`, metric: 'decode tok/s', measured, model: modelTps, errorPct: pct(modelTps, measured), use: cal ? 'calibration' : 'check' };
      }),
  },
  'trtllm_v09.csv': {
    columns: ['gpu', 'model', 'precision', 'tp', 'batch', 'input_tokens', 'output_tokens', 'tokens_per_s_per_gpu'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        const sys = loadSystem(r.as('gpu', gpuPreset));
        const p = r.as('precision', (v) => precision('precision', v));
        const [tp, batch, inT, outT] = [r.int('tp'), r.int('batch'), r.int('input_tokens'), r.int('output_tokens')];
        const modelName = r.str('model');
        const measured = r.pos('tokens_per_s_per_gpu');
        const res = evaluate({
          system: sys,
          model: loadModel(r.as('model', modelPreset)),
          precision: { weights: p, activations: p, kvCache: p },
          batch,
          inputTokens: inT,
          outputTokens: outT,
          mapping: { tp, pp: 1, dp: 1, sp: 1, ep: 1 },
        });
        // Static batch: the whole batch is prefilled, then decoded; output tokens/s per GPU.
        const totalS = res.prefill.stepTimeS + res.decode.stepTimeS * outT;
        const model = (batch * outT) / totalS / tp;
        const cal = modelName === 'Llama-2-7B';
        const label = `${r.str('gpu')} ${modelName} ${p} tp${tp} b${batch} ${inT}/${outT}${res.feasible ? '' : ' (model: infeasible)'}`;
        return { file, label, metric: 'tok/s/GPU', measured, model, errorPct: pct(model, measured), use: cal ? 'calibration' : 'check' };
      }),
  },
  'gemm_tflops.csv': {
    columns: ['gpu', 'precision', 'm', 'n', 'k', 'measured_tflops'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        const gpu = r.str('gpu');
        const sys = loadSystem(r.as('gpu', gpuPreset));
        const [m, n, k] = [r.int('m'), r.int('n'), r.int('k')];
        const p = r.as('precision', (v) => precision('precision', v)) as Precision;
        const measured = r.pos('measured_tflops');
        const res = evaluateGemm(sys, m, n, k, p, 2);
        const label = `${gpu} ${p} ${m}x${n}x${k}`;
        const cal = m === n && n === k && GEMM_CALIBRATION.has(`${gpu} ${p} ${m}`);
        return { file, label, metric: 'TFLOPS', measured, model: res.tflops, errorPct: pct(res.tflops, measured), use: cal ? 'calibration' : 'check' };
      }),
  },
  'hbm_stream.csv': {
    columns: ['gpu', 'dot_TBps'],
    run: (csv, file) =>
      csv.rows.map((r) => {
        // Inference traffic is read-dominated: compare with the STREAM dot (read-only) kernel.
        const gpu = r.str('gpu');
        const bw = memoryBandwidth(loadSystem(r.as('gpu', gpuPreset)));
        const measured = r.pos('dot_TBps');
        const model = bw.effectiveGBps / 1000;
        return { file, label: `${gpu} dot`, metric: 'TB/s', measured, model, errorPct: pct(model, measured), use: HBM_CALIBRATION.has(gpu) ? 'calibration' : 'check' };
      }),
  },
  'decode_batch1.csv': {
    columns: ['gpu', 'model', 'precision', 'tp', 'batch', 'measured_tokens_per_s'],
    run: (csv, file) =>
      csv.rows
        .filter((r) => r.int('tp') === 1)
        .map((r) => {
          // gpt-fast: torch.compile with CUDA graphs, the whole step is one graph (launch gaps ~1 us),
          // sampling on the GPU (no per-step host work to speak of). The GPUs were capped at 330 W.
          const sys = withSoftware(loadSystem(r.as('gpu', gpuPreset)), { kernelLaunchUs: 1.0, stepOverheadUs: 50 }, 330);
          const p = r.as('precision', (v) => precision('precision', v));
          const batch = r.int('batch');
          const measured = r.pos('measured_tokens_per_s');
          const res = evaluate({
            system: sys,
            model: loadModel(r.as('model', modelPreset)),
            precision: { weights: p, activations: p, kvCache: p },
            batch,
            inputTokens: 5,
            outputTokens: 200,
          });
          const model = res.decode.systemTokensPerS;
          return { file, label: `${r.str('gpu')} ${r.str('model')} tp1 b${batch}`, metric: 'tok/s', measured, model, errorPct: pct(model, measured), use: 'check' as const };
        }),
  },
};

// ---- MLPerf v4.1 Llama-2-70B, Offline and Server (issue 4, serving) ------------------------------
// The simulator runs each row with the mlperf-llama2-70b workload preset: a Server row at its
// measured arrival rate (samples_per_s, Poisson as LoadGen's server scenario), an Offline row as a
// closed loop that keeps every engine's batch full (LoadGen's offline scenario hands out every sample
// at once). The presets' software blocks were fitted on other datasets (trtllm_v09.csv,
// mi325x_vllm_decode.csv). One figure is fitted here: the workload's mean prompt length, which our
// sources do not give (the dataset histogram is not embedded), on the H100 Offline row
// (scripts/fit-mlperf-input.mjs); every other row is a held-out check.
const MLPERF_REQUESTS = 20000;
/** The row that fitted the preset's mean prompt length (scripts/fit-mlperf-input.mjs). */
export const MLPERF_FIT_ROW = { system: '8xH100-SXM-80GB', scenario: 'Offline' } as const;

/** One MLPerf row's system as the simulator runs it (from the CSV's system, software and parallelism cells). */
export interface MlperfSetup {
  preset: string;
  tp: number;
  dp: number;
  maxBatch: number;
  precision: Precision;
  note: string;
}
export function mlperfSetup(r: CsvRow): MlperfSetup {
  const sysName = r.str('system');
  const count = deviceCount(r, 'system');
  const gpu = sysName.replace(/^\d+x/, '');
  const isGh200 = /gh200/i.test(gpu);
  const par = r.opt('parallelism');
  const tp = Number(/TP(\d+)/i.exec(par)?.[1] ?? '1');
  const vllm = /vllm/i.test(r.opt('software'));
  return {
    preset: isGh200 ? 'h200-sxm' : r.as('system', () => gpuPreset(gpu)),
    tp,
    dp: Math.max(1, Math.round(count / tp)),
    // The submission's engine batch; vLLM 0.4's default max_num_seqs (256) when it gives none.
    maxBatch: vllm ? 256 : Number(/batch (\d+)/i.exec(par)?.[1] ?? '256'),
    precision: r.opt('precision') === '' ? 'fp8' : r.as('precision', (v) => precision('precision', v.split(' ')[0])),
    note: isGh200 ? ' (GH200 as h200-sxm)' : '',
  };
}

/** The simulator on one MLPerf setup: at `ratePerS` (Server), or as a closed loop that keeps every
 *  engine's batch full (Offline, ratePerS undefined). */
export function mlperfSim(setup: MlperfSetup, workload: Workload, ratePerS: number | undefined): SimResult {
  const model = loadModel('llama-2-70b');
  const p = setup.precision;
  const w = ratePerS === undefined ? withArrival(workload, { concurrency: setup.dp * setup.maxBatch }) : withArrival(workload, { ratePerS });
  const lm = lengthsOf(w, model.maxPositionEmbeddings);
  const prepared = prepareServing(
    {
      system: loadSystem(setup.preset),
      model,
      precision: { weights: p, activations: p, kvCache: p },
      mapping: { tp: setup.tp, pp: 1, dp: setup.dp, sp: 1, ep: 1 },
      // In-flight batching; TensorRT-LLM's max_num_tokens 8192 per engine (MLPerf configs), vLLM 0.4
      // max_num_batched_tokens ~ 8192 here too (whole prompts, no chunking).
      scheduler: { kind: 'continuous', maxBatch: setup.maxBatch, chunkTokens: 8192 },
    },
    { inputTokens: lm.input.mean, outputTokens: lm.output.mean },
  );
  return simulate(prepared, w, { requests: MLPERF_REQUESTS, seed: 1 });
}

function mlperfRows(csv: Csv, file: string): ValidationRow[] {
  const out: ValidationRow[] = [];
  const workload = loadServingWorkload('mlperf-llama2-70b');
  for (const r of csv.rows) {
    const scenario = r.str('scenario');
    if (scenario !== 'Server' && scenario !== 'Offline') r.fail('scenario', "'Server' or 'Offline'");
    const setup = mlperfSetup(r);
    const offline = scenario === 'Offline';
    const rate = offline ? undefined : r.pos('samples_per_s');
    const sim = mlperfSim(setup, workload, rate);
    const sysName = r.str('system');
    const label = `${sysName} ${r.opt('software')} tp${setup.tp} dp${setup.dp} ${offline ? `offline, batch ${setup.maxBatch}` : `@${rate} req/s`}${setup.note}`;
    const fit = sysName === MLPERF_FIT_ROW.system && scenario === MLPERF_FIT_ROW.scenario;
    // An empty cell is a figure the submission did not report (skipped); anything else must be a number.
    const row = (metric: string, col: string, model: number) => {
      if (r.opt(col) === '') return;
      const m = r.pos(col);
      out.push({ file, label, metric, measured: m, model, errorPct: pct(model, m), use: fit && col === 'tokens_per_s' ? 'calibration' : 'check' });
    };
    row('tok/s', 'tokens_per_s', sim.throughput.outputTokensPerS);
    if (offline) continue; // LoadGen's offline scenario has no latency constraint: its latencies are not reported
    row('TTFT mean ms', 'ttft_mean_ms', sim.ttftS.mean * 1e3);
    row('TTFT p99 ms', 'ttft_p99_ms', sim.ttftS.p99 * 1e3);
    row('TPOT mean ms', 'tpot_mean_ms', sim.tpotS.mean * 1e3);
    row('TPOT p99 ms', 'tpot_p99_ms', sim.tpotS.p99 * 1e3);
  }
  return out;
}
handlers['mlperf_v41_llama2_70b.csv'] = { columns: ['system', 'scenario', 'tokens_per_s'], run: mlperfRows };

export function supportedDatasets(): string[] {
  return Object.keys(handlers);
}

export function validateFiles(files: string[]): ValidationRow[] {
  // Every file is read and its header checked before any row is evaluated: a bad last file fails
  // at once, not after the others have run.
  const jobs = files.map((f) => {
    if (!existsSync(f)) throw new ConfigError('--data', f, 'an existing CSV file (no such file)');
    const h = handlers[basename(f)];
    if (!h) throw new ConfigError('--data', f, `a file named as one of the supported datasets: ${supportedDatasets().join(', ')}`);
    return { h, csv: readCsv(f, h.columns), name: basename(f) };
  });
  const out: ValidationRow[] = [];
  for (const j of jobs) out.push(...j.h.run(j.csv, j.name));
  return out;
}

/** Mean absolute percentage error over the rows in the model's range ('info' rows excluded). */
export function mape(rows: ValidationRow[]): number {
  const rs = rows.filter((r) => r.use !== 'info');
  return rs.length === 0 ? NaN : rs.reduce((s, r) => s + Math.abs(r.errorPct), 0) / rs.length;
}

export function runValidate(o: ValidateOptions): string {
  const files = o.data && o.data.length > 0 ? o.data : supportedDatasets().map((f) => dataDir('validation', f));
  const rows = validateFiles(files);
  const byFile = new Map<string, ValidationRow[]>();
  for (const r of rows) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const summary = [...byFile].map(([file, rs]) => ({
    file,
    rows: rs.length,
    mapePct: mape(rs),
    checkMapePct: mape(rs.filter((r) => r.use === 'check')),
  }));
  if (o.json) return JSON.stringify({ rows, summary }, null, 2);
  const parts: string[] = [];
  for (const [file, rs] of byFile) {
    parts.push(
      `${file}`,
      table(
        rs.map((r) => [r.label, r.metric, r.measured.toPrecision(4), r.model.toPrecision(4), `${r.errorPct >= 0 ? '+' : ''}${r.errorPct.toFixed(1)}%`, r.use]),
        ['row', 'unit', 'measured', 'model', 'error', 'use'],
      ),
      '',
    );
  }
  parts.push(
    table(
      summary.map((s) => [s.file, s.rows, `${s.mapePct.toFixed(1)}%`, Number.isNaN(s.checkMapePct) ? '-' : `${s.checkMapePct.toFixed(1)}%`]),
      ['dataset', 'rows', 'MAPE', 'MAPE (held-out rows)'],
    ),
  );
  return parts.join('\n');
}
