// `strata validate`: the model against measured data. Each dataset says which rows calibrated a
// constant (so they are not a check) and which are held out.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError } from '../model/errors.js';
import { evaluate, evaluateGemm, memoryBandwidth } from '../model/evaluate.js';
import { busBandwidthGBps, collectiveCost, overlapTile, type LevelAlgorithm, type NetworkLevel } from '../model/network.js';
import type { SystemSpec } from '../model/hardware/schema.js';
import type { Precision } from '../model/types.js';
import { dataDir, loadModel, loadSystem, presetNames } from './load.js';
import { precision } from './options.js';
import { table } from './format.js';
import { lengthsOf, prepareServing, simulate, withArrival } from '../model/serving/index.js';
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

type Csv = { header: string[]; rows: Record<string, string>[] };

export function readCsv(file: string): Csv {
  const lines = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = lines[0]!.split(',').map((s) => s.trim());
  const rows = lines.slice(1).map((l) => {
    const cells = l.split(',').map((s) => s.trim());
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
  return { header, rows };
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

const handlers: Record<string, (csv: Csv, file: string) => ValidationRow[]> = {
  'allreduce_busbw.csv': (csv, file) =>
    csv.rows.map((r) => {
      const sys = withStartup(loadSystem(gpuPreset(r.system!)), NCCL_STARTUP_US, NCCL_STEP_US);
      const levels = sys.network as NetworkLevel[];
      const p = Number(r.system!.split('x')[0]);
      const bytes = Number(r.message_bytes);
      // NVLS = in-switch reduction; Ring = NCCL's ring only; default = NCCL 2.18's choice without
      // NVLS: its ring or its double binary tree.
      const algs: LevelAlgorithm[] | undefined =
        r.algorithm === 'Ring' ? ['ring'] : r.algorithm === 'NVLS' ? undefined : ['ring', 'double-binary-tree'];
      const lv = r.algorithm === 'NVLS' ? levels : levels.map((l) => ({ ...l, inSwitchReduction: false }));
      const c = collectiveCost('all-reduce', bytes, [p], lv, algs ? { algorithms: algs } : undefined);
      const model = busBandwidthGBps('all-reduce', bytes, p, c.timeS);
      const measured = Number(r.busbw_GBps);
      const label = `${r.system} ${r.algorithm} ${bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`}`;
      const cal = (r.system === '8xH100-SXM' && r.algorithm === 'NVLS' && (bytes === 8589934592 || bytes === MIB16)) || (r.system === '8xA100-SXM-80GB' && (bytes === 8589934592 || bytes === MIB16)) || (r.system === '8xB200-SXM' && r.algorithm === 'Ring');
      return { file, label, metric: 'busbw GB/s', measured, model, errorPct: pct(model, measured), use: bytes < MIB16 ? 'info' : cal ? 'calibration' : 'check' };
    }),
  'ag_gemm_h100.csv': (csv, file) =>
    csv.rows.map((r) => {
      // TP8 all-gather of the A operand (bf16) fused with the GEMM: the GEMM's waves overlap the
      // gather's chunks. ag_bytes is each GPU's shard, so the gathered output is 8x that.
      const sys = loadSystem('h100-sxm');
      const levels = sys.network as NetworkLevel[];
      const [M, N, K] = [Number(r.M), Number(r.N), Number(r.K)];
      const g = evaluateGemm(sys, M, N, K, 'bf16', 2);
      const ag = collectiveCost('all-gather', 8 * Number(r.ag_bytes), [8], levels);
      const t = overlapTile(g.timeS, ag.timeS, g.waves, true).totalS;
      const measured = Number(r.measured_ms);
      return { file, label: `${M}x${N}x${K}`, metric: 'ms', measured, model: t * 1e3, errorPct: pct(t * 1e3, measured), use: 'check' as const };
    }),
  'mi325x_vllm_decode.csv': (csv, file) =>
    csv.rows.map((r) => {
      const sys = loadSystem('mi325x');
      const p = precision('precision', r.precision);
      const batch = Number(r.batch);
      const res = evaluate({
        system: sys,
        model: loadModel(modelPreset(r.model!.replace('Llama-3.3-70B', 'llama-3.3-70b'))),
        precision: { weights: p, activations: p, kvCache: p },
        batch,
        inputTokens: Number(r.input_tokens),
        outputTokens: Number(r.output_tokens),
        mapping: { tp: Number(r.tp), pp: 1, dp: 1, sp: 1, ep: 1 },
      });
      const measured = Number(r.system_decode_tps);
      const model = res.decode.systemTokensPerS;
      const cal = r.model === 'Llama-3.3-70B-Instruct';
      return { file, label: `${r.model} tp${r.tp} b${batch}`, metric: 'decode tok/s', measured, model, errorPct: pct(model, measured), use: cal ? 'calibration' : 'check' };
    }),
  'trtllm_v09.csv': (csv, file) =>
    csv.rows.map((r) => {
      const sys = loadSystem(gpuPreset(r.gpu!));
      const p = precision('precision', r.precision);
      const [tp, batch, inT, outT] = [Number(r.tp), Number(r.batch), Number(r.input_tokens), Number(r.output_tokens)];
      const res = evaluate({
        system: sys,
        model: loadModel(modelPreset(r.model!)),
        precision: { weights: p, activations: p, kvCache: p },
        batch,
        inputTokens: inT,
        outputTokens: outT,
        mapping: { tp, pp: 1, dp: 1, sp: 1, ep: 1 },
      });
      // Static batch: the whole batch is prefilled, then decoded; output tokens/s per GPU.
      const totalS = res.prefill.stepTimeS + res.decode.stepTimeS * outT;
      const model = (batch * outT) / totalS / tp;
      const measured = Number(r.tokens_per_s_per_gpu);
      const cal = r.model === 'Llama-2-7B';
      const label = `${r.gpu} ${r.model} ${r.precision} tp${tp} b${batch} ${inT}/${outT}${res.feasible ? '' : ' (model: infeasible)'}`;
      return { file, label, metric: 'tok/s/GPU', measured, model, errorPct: pct(model, measured), use: cal ? 'calibration' : 'check' };
    }),
  'gemm_tflops.csv': (csv, file) =>
    csv.rows.map((r) => {
      const sys = loadSystem(gpuPreset(r.gpu!));
      const [m, n, k] = [Number(r.m), Number(r.n), Number(r.k)];
      const p = precision('precision', r.precision) as Precision;
      const res = evaluateGemm(sys, m, n, k, p, 2);
      const label = `${r.gpu} ${r.precision} ${m}x${n}x${k}`;
      const measured = Number(r.measured_tflops);
      const cal = m === n && n === k && GEMM_CALIBRATION.has(`${r.gpu} ${r.precision} ${m}`);
      return { file, label, metric: 'TFLOPS', measured, model: res.tflops, errorPct: pct(res.tflops, measured), use: cal ? 'calibration' : 'check' };
    }),
  'hbm_stream.csv': (csv, file) =>
    csv.rows.map((r) => {
      // Inference traffic is read-dominated: compare with the STREAM dot (read-only) kernel.
      const bw = memoryBandwidth(loadSystem(gpuPreset(r.gpu!)));
      const measured = Number(r.dot_TBps);
      const model = bw.effectiveGBps / 1000;
      return { file, label: `${r.gpu} dot`, metric: 'TB/s', measured, model, errorPct: pct(model, measured), use: HBM_CALIBRATION.has(r.gpu!) ? 'calibration' : 'check' };
    }),
  'decode_batch1.csv': (csv, file) =>
    csv.rows
      .filter((r) => Number(r.tp) === 1)
      .map((r) => {
        // gpt-fast: torch.compile with CUDA graphs, the whole step is one graph (launch gaps ~1 us),
        // sampling on the GPU (no per-step host work to speak of). The GPUs were capped at 330 W.
        const sys = withSoftware(loadSystem(gpuPreset(r.gpu!)), { kernelLaunchUs: 1.0, stepOverheadUs: 50 }, 330);
        const p = precision('precision', r.precision);
        const res = evaluate({
          system: sys,
          model: loadModel(modelPreset(r.model!)),
          precision: { weights: p, activations: p, kvCache: p },
          batch: Number(r.batch),
          inputTokens: 5,
          outputTokens: 200,
        });
        const measured = Number(r.measured_tokens_per_s);
        const model = res.decode.systemTokensPerS;
        return { file, label: `${r.gpu} ${r.model} tp${r.tp} b${r.batch}`, metric: 'tok/s', measured, model, errorPct: pct(model, measured), use: 'check' as const };
      }),
};

// ---- MLPerf v4.1 Llama-2-70B Server (issue 4, serving) ------------------------------------------
// The simulator runs at each row's measured arrival rate (samples_per_s, Poisson as LoadGen's
// server scenario) with the mlperf-llama2-70b workload preset. No constant is fitted on these rows:
// the presets' software blocks were fitted on other datasets (trtllm_v09.csv, mi325x_vllm_decode.csv),
// so every row is a held-out check.
const MLPERF_REQUESTS = 20000;
function mlperfServer(csv: Csv, file: string): ValidationRow[] {
  const out: ValidationRow[] = [];
  for (const r of csv.rows.filter((x) => x.scenario === 'Server')) {
    const sysName = r.system!;
    const count = Number(sysName.split('x')[0]);
    const gpu = sysName.replace(/^\d+x/, '');
    const isGh200 = /gh200/i.test(gpu);
    const preset = isGh200 ? 'h200-sxm' : gpuPreset(gpu);
    const par = r.parallelism ?? '';
    const tp = Number(/TP(\d+)/i.exec(par)?.[1] ?? '1');
    const dp = Math.max(1, Math.round(count / tp));
    const perEngineBatch = Number(/batch (\d+)/i.exec(par)?.[1] ?? '256');
    const vllm = /vllm/i.test(r.software ?? '');
    // The preset's software block (TensorRT-LLM-class on NVIDIA, vLLM-on-ROCm on AMD) is used as is.
    const sys = loadSystem(preset);
    const p = precision('precision', (r.precision ?? 'fp8').split(' ')[0]);
    const model = loadModel('llama-2-70b');
    const base = loadServingWorkload('mlperf-llama2-70b');
    const rate = Number(r.samples_per_s);
    const w = withArrival(base, { ratePerS: rate });
    const lm = lengthsOf(w, model.maxPositionEmbeddings);
    const prepared = prepareServing(
      {
        system: sys,
        model,
        precision: { weights: p, activations: p, kvCache: p },
        mapping: { tp, pp: 1, dp, sp: 1, ep: 1 },
        // In-flight batching; TensorRT-LLM's max_num_tokens 8192 per engine (MLPerf configs), vLLM 0.4
        // max_num_batched_tokens ~ 8192 here too (whole prompts, no chunking).
        scheduler: { kind: 'continuous', maxBatch: vllm ? 256 : perEngineBatch, chunkTokens: 8192 },
      },
      { inputTokens: lm.input.mean, outputTokens: lm.output.mean },
    );
    const sim = simulate(prepared, w, { requests: MLPERF_REQUESTS, seed: 1 });
    const note = isGh200 ? ' (GH200 as h200-sxm)' : '';
    const label = `${sysName} ${r.software} tp${tp} dp${dp} @${rate} req/s${note}`;
    const row = (metric: string, measured: string | undefined, model: number) => {
      const m = Number(measured);
      if (!measured || !Number.isFinite(m)) return;
      out.push({ file, label, metric, measured: m, model, errorPct: pct(model, m), use: 'check' });
    };
    row('tok/s', r.tokens_per_s, sim.throughput.outputTokensPerS);
    row('TTFT mean ms', r.ttft_mean_ms, sim.ttftS.mean * 1e3);
    row('TTFT p99 ms', r.ttft_p99_ms, sim.ttftS.p99 * 1e3);
    row('TPOT mean ms', r.tpot_mean_ms, sim.tpotS.mean * 1e3);
    row('TPOT p99 ms', r.tpot_p99_ms, sim.tpotS.p99 * 1e3);
  }
  return out;
}
handlers['mlperf_v41_llama2_70b.csv'] = mlperfServer;

export function supportedDatasets(): string[] {
  return Object.keys(handlers);
}

export function validateFiles(files: string[]): ValidationRow[] {
  const out: ValidationRow[] = [];
  for (const f of files) {
    const h = handlers[basename(f)];
    if (!h) throw new ConfigError('--data', f, `one of the supported datasets: ${supportedDatasets().join(', ')}`);
    out.push(...h(readCsv(f), basename(f)));
  }
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
