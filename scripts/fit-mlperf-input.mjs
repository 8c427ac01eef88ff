#!/usr/bin/env node
// Fit of the mlperf-llama2-70b workload preset's mean prompt length (run after `npm run build`).
// Our sources give the benchmark's limits (input <= 1024 tokens) and its mean output (about 290:
// tokens/s over samples/s of the H100 Offline row), not the dataset's prompt-length histogram. The
// mean of the prompt lognormal (before its clamp to [min, max]) is fitted so that the simulated
// offline throughput of the H100 Offline row (MLPERF_FIT_ROW) matches the measured one; the other
// Offline rows and every Server row stay held-out checks (`strata validate`).
// Prints the scan, the fitted mean and the effective mean after the clamp.
import { fileURLToPath } from 'node:url';
import { MLPERF_FIT_ROW, mlperfSetup, mlperfSim, readCsv } from '../dist/src/cli/validate.js';
import { loadWorkload } from '../dist/src/cli/serve.js';
import { lengthsOf } from '../dist/src/model/serving/index.js';

// The fit row, read and set up as `strata validate` does (8 H100s, TP2 x 4 engines of batch 896, fp8).
const csv = readCsv(fileURLToPath(new URL('../data/validation/mlperf_v41_llama2_70b.csv', import.meta.url)));
const fit = csv.rows.find((r) => r.str('system') === MLPERF_FIT_ROW.system && r.str('scenario') === MLPERF_FIT_ROW.scenario);
const measured = fit.pos('tokens_per_s');
const setup = mlperfSetup(fit);
const base = loadWorkload('mlperf-llama2-70b');
const at = (mean) => {
  const w = { ...base, input: { ...base.input, mean } };
  const sim = mlperfSim(setup, w, undefined);
  return { tokS: sim.throughput.outputTokensPerS };
};
console.log(`fit row: ${MLPERF_FIT_ROW.system} ${MLPERF_FIT_ROW.scenario}, measured ${measured} output tokens/s (tp ${setup.tp}, dp ${setup.dp}, batch ${setup.maxBatch})`);
let best = null;
// Coarse scan, then 5-token steps around the best.
const scan = (means) => {
  for (const m of means) {
    const r = at(m);
    const err = (100 * (r.tokS - measured)) / measured;
    console.log(`  prompt lognormal mean ${String(m).padStart(4)}: ${r.tokS.toFixed(0).padStart(6)} tok/s (${err >= 0 ? '+' : ''}${err.toFixed(1)}%)`);
    if (best === null || Math.abs(err) < Math.abs(best.err)) best = { m, err };
  }
};
scan(Array.from({ length: 19 }, (_, k) => 100 + 50 * k));
scan(Array.from({ length: 19 }, (_, k) => best.m - 45 + 5 * k).filter((m) => m > 16 && m % 50 !== 0));
// Llama-2's context (4096) does not clamp these lengths: the preset's own [min, max] does.
const eff = lengthsOf({ ...base, input: { ...base.input, mean: best.m } }, 4096).input.mean;
console.log(`fitted prompt lognormal mean: ${best.m} (error ${best.err.toFixed(2)}% on the fit row); mean prompt after the clamp to [${base.input.min}, ${base.input.max}]: ${eff.toFixed(0)} tokens`);
