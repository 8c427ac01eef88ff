// `strata validate`: the model against measured data. Each dataset says which rows calibrated a
// constant (so they are not a check) and which are held out.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { ConfigError } from '../model/errors.js';
import { evaluate, evaluateGemm, memoryBandwidth } from '../model/evaluate.js';
import type { SystemSpec } from '../model/hardware/schema.js';
import type { Precision } from '../model/types.js';
import { dataDir, loadModel, loadSystem, presetNames } from './load.js';
import { precision } from './options.js';
import { table } from './format.js';

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
  /** 'calibration' rows fitted a constant; 'check' rows are held out. */
  use: 'calibration' | 'check';
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

const handlers: Record<string, (csv: Csv, file: string) => ValidationRow[]> = {
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

export function mape(rows: ValidationRow[]): number {
  return rows.length === 0 ? NaN : rows.reduce((s, r) => s + Math.abs(r.errorPct), 0) / rows.length;
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
