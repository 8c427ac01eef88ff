#!/usr/bin/env node
// Grid fit of the serving-stack constants of the presets' software blocks (run after `npm run build`):
//   TensorRT-LLM 0.9 on the Llama-2-7B rows of trtllm_v09.csv (NVIDIA presets),
//   vLLM on ROCm on the Llama-3.3-70B rows of mi325x_vllm_decode.csv (AMD presets).
// Prints the best grid point per stack, then the MAPE of the held-out rows with it.
import { readFileSync } from 'node:fs';
import { evaluate } from '../dist/src/model/evaluate.js';
import { parseWith } from '../dist/src/model/errors.js';
import { systemSchema } from '../dist/src/model/hardware/schema.js';
import { parseHfConfig } from '../dist/src/model/workload/index.js';

const root = new URL('../', import.meta.url);
const read = (p) => readFileSync(new URL(p, root), 'utf8');
const system = (n) => parseWith(systemSchema, JSON.parse(read(`data/systems/${n}.json`)));
const model = (n) => parseHfConfig(JSON.parse(read(`data/models/${n}.json`)), n);
const csv = (f) => read(`data/validation/${f}`).split('\n').filter((l) => l && !l.startsWith('#')).slice(1).map((l) => l.split(','));
const withSw = (s, sw) => ({ ...s, package: { ...s.package, software: { ...s.package.software, ...sw } } });
const GPU = { 'H100-SXM': 'h100-sxm', 'H200-SXM': 'h200-sxm', 'A100-SXM-80GB': 'a100-sxm-80gb' };

const stacks = {
  'TensorRT-LLM 0.9': {
    rows: csv('trtllm_v09.csv'),
    fit: (r) => r[1] === 'Llama-2-7B',
    err(r, sw) {
      const [tp, b, i, o] = [+r[3], +r[4], +r[5], +r[6]];
      const p = { weights: r[2], activations: r[2], kvCache: r[2] };
      const res = evaluate({ system: withSw(system(GPU[r[0]]), sw), model: model(r[1].toLowerCase()), precision: p, batch: b, inputTokens: i, outputTokens: o, mapping: { tp, pp: 1, dp: 1, sp: 1, ep: 1 } });
      const v = (b * o) / (res.prefill.stepTimeS + o * res.decode.stepTimeS) / tp;
      return (100 * (v - +r[7])) / +r[7];
    },
    grid: { stepOverheadUs: [0, 150, 300, 600], attentionBandwidthEfficiency: [1, 0.7, 0.5, 0.35], kernelLaunchUs: [1, 2, 4], computeMemoryOverlap: [1, 0.5, 0] },
  },
  'vLLM on ROCm': {
    rows: csv('mi325x_vllm_decode.csv'),
    fit: (r) => r[0] === 'Llama-3.3-70B-Instruct',
    err(r, sw) {
      const p = { weights: 'bf16', activations: 'bf16', kvCache: 'bf16' };
      const res = evaluate({ system: withSw(system('mi325x'), sw), model: model(r[0].toLowerCase().replace('-instruct', '')), precision: p, batch: +r[6], inputTokens: +r[4], outputTokens: +r[5], mapping: { tp: +r[2], pp: 1, dp: 1, sp: 1, ep: 1 } });
      return (100 * (res.decode.systemTokensPerS - +r[7])) / +r[7];
    },
    grid: { stepOverheadUs: [0, 500, 1000, 1500, 2000], attentionBandwidthEfficiency: [1, 0.7, 0.5, 0.35, 0.25], kernelLaunchUs: [1, 3, 6, 10], computeMemoryOverlap: [1, 0.5, 0] },
  },
};

function* points(grid) {
  const keys = Object.keys(grid);
  const idx = keys.map(() => 0);
  for (;;) {
    yield Object.fromEntries(keys.map((k, i) => [k, grid[k][idx[i]]]));
    let i = 0;
    while (i < keys.length && ++idx[i] === grid[keys[i]].length) idx[i++] = 0;
    if (i === keys.length) return;
  }
}
const mape = (rows, f, sw) => rows.reduce((s, r) => s + Math.abs(f(r, sw)), 0) / rows.length;
for (const [name, st] of Object.entries(stacks)) {
  const fitRows = st.rows.filter(st.fit);
  const held = st.rows.filter((r) => !st.fit(r));
  let best = null;
  for (const sw of points(st.grid)) {
    const m = mape(fitRows, st.err, sw);
    if (!best || m < best.m) best = { m, sw };
  }
  console.log(`${name}: fitted on ${fitRows.length} rows, MAPE ${best.m.toFixed(1)}% with ${JSON.stringify(best.sw)}; held-out ${held.length} rows MAPE ${mape(held, st.err, best.sw).toFixed(1)}%`);
}
