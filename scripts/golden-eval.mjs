// Golden outputs of evaluate() (and the serving step model) over varied points, to check that
// speed work does not change answers. Usage (after npm run build):
//   node scripts/golden-eval.mjs write FILE   |   node scripts/golden-eval.mjs check FILE
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { evaluate, makeStepModel } from '../dist/src/model/evaluate.js';
import { parseWith } from '../dist/src/model/errors.js';
import { systemSchema } from '../dist/src/model/hardware/schema.js';
import { parseHfConfig } from '../dist/src/model/workload/index.js';

const root = new URL('../', import.meta.url);
const rd = (p) => JSON.parse(readFileSync(new URL(p, root), 'utf8'));
const sysNames = readdirSync(new URL('data/systems/', root)).filter((f) => f.endsWith('.json')).sort();
const modelNames = readdirSync(new URL('data/models/', root)).filter((f) => f.endsWith('.json')).sort();
const loadSys = (f, tdp = 1) => {
  const j = rd(`data/systems/${f}`);
  j.package.power.tdpW *= tdp; // < 1: forces the throttling search
  return parseWith(systemSchema, j);
};
const loadModel = (f) => parseHfConfig(rd(`data/models/${f}`), f.replace(/\.json$/, ''));

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const precs = [
  { weights: 'fp8', activations: 'fp8', kvCache: 'fp8' },
  { weights: 'bf16', activations: 'bf16', kvCache: 'bf16' },
  { weights: 'fp4', activations: 'fp8', kvCache: 'fp8' },
  { weights: 'int4', activations: 'bf16', kvCache: 'fp8' },
];
const mappings = [
  undefined,
  { tp: 1, pp: 1, dp: 1, sp: 1, ep: 1 },
  { tp: 8, pp: 1, dp: 1, sp: 1, ep: 1 },
  { tp: 4, pp: 2, dp: 1, sp: 1, ep: 1 },
  { tp: 4, pp: 2, dp: 1, sp: 1, ep: 1, microbatches: 1 },
  { tp: 2, pp: 4, dp: 1, sp: 1, ep: 1, microbatches: 8 },
  { tp: 2, pp: 1, dp: 4, sp: 1, ep: 1 },
  { tp: 8, pp: 1, dp: 1, sp: 1, ep: 1, overlap: false },
  { tp: 2, pp: 1, dp: 1, sp: 4, ep: 1 },
  { tp: 8, pp: 2, dp: 1, sp: 1, ep: 1 },
  { tp: 4, pp: 1, dp: 2, sp: 1, ep: 8 },
  { tp: 8, pp: 1, dp: 1, sp: 1, ep: 8 },
  { tp: 2, pp: 1, dp: 4, sp: 1, ep: 4, routingSkew: 0.8 },
  { tp: 2, pp: 1, dp: 4, sp: 1, ep: 4, routingSkew: 1.1, expertPlacement: 'balanced' },
  { tp: 2, pp: 1, dp: 4, sp: 1, ep: 8, routingSkew: 0.5, expertPlacement: 'round-robin' },
  { tp: 8, pp: 4, dp: 2, sp: 1, ep: 16 },
  { tp: 4, pp: 2, dp: 2, sp: 2, ep: 2, overlap: false },
];
const batches = [1, 2, 3, 8, 16, 24, 64, 128, 256, 512, 1024];
const inputs = [1, 17, 128, 500, 1024, 2048, 4000, 8000, 30000];
const outputs = [1, 2, 64, 256, 1000, 3000];

const points = [];
for (const s of sysNames)
  for (const m of modelNames)
    for (let r = 0; r < 3; r++)
      points.push({ s, m, prec: pick(precs), map: r === 0 ? undefined : pick(mappings), batch: pick(batches), input: pick(inputs), output: pick(outputs), samples: rnd() < 0.2 ? pick([1, 3, 8]) : undefined, tdp: rnd() < 0.35 ? pick([0.25, 0.5, 0.7, 0.85]) : 1 });

function run(shared) {
  const cacheS = new Map(), cacheM = new Map();
  const getS = (f, t = 1) => (shared ? cacheS.get(f + t) ?? (cacheS.set(f + t, loadSys(f, t)), cacheS.get(f + t)) : loadSys(f, t));
  const getM = (f) => (shared ? cacheM.get(f) ?? (cacheM.set(f, loadModel(f)), cacheM.get(f)) : loadModel(f));
  const out = [];
  for (const p of points) {
    let dp = p.map?.dp ?? 1;
    const batch = Math.max(dp, Math.round(p.batch / dp) * dp);
    try {
      out.push(evaluate({ system: getS(p.s, p.tdp), model: getM(p.m), precision: p.prec, batch, inputTokens: p.input, outputTokens: p.output, decodeSamples: p.samples, mapping: p.map }));
    } catch (e) {
      out.push({ error: String(e.message) });
    }
  }
  // Serving step model.
  for (const [s, m, map] of [['h100-sxm.json', 'llama-3-8b.json', undefined], ['lamosys-pd.json', 'mixtral-8x7b.json', undefined], ['h100-sxm.json', 'qwen3-30b-a3b.json', { tp: 2, pp: 1, dp: 2, sp: 1, ep: 4 }], ['h100-sxm.json', 'deepseek-v3.json', { tp: 8, pp: 1, dp: 1, sp: 1, ep: 8 }]]) {
    try {
      const sm = makeStepModel({ system: getS(s), model: getM(m), precision: precs[0], mapping: map, batch: 16, inputTokens: 1000, outputTokens: 200 });
      const r = { devices: sm.devices, kv: sm.kvCapacityTokens, tf: sm.throttleFactor, kvT: sm.kvTransferS(1000), steps: [] };
      for (const x of [[8, 1000, 0, 0, 0], [0, 0, 2, 512, 0], [16, 3000, 1, 256, 1024], [1, 1, 1, 1, 0]])
        r.steps.push(sm.step({ decodeSeqs: x[0], decodeContext: x[1], prefillSeqs: x[2], prefillTokens: x[3], prefillContext: x[4] }));
      out.push(r);
    } catch (e) {
      out.push({ error: String(e.message) });
    }
  }
  return out;
}

function diff(a, b, path, errs) {
  if (errs.length > 20) return;
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return;
    const rel = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
    if (!(rel < 1e-12)) errs.push(`${path}: ${a} vs ${b}`);
    else maxRel = Math.max(maxRel, rel);
    return;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    if (a !== b) errs.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    return;
  }
  const ka = Object.keys(a).filter((k) => a[k] !== undefined).sort();
  const kb = Object.keys(b).filter((k) => b[k] !== undefined).sort();
  if (ka.join() !== kb.join()) errs.push(`${path}: keys ${ka} vs ${kb}`);
  for (const k of ka) diff(a[k], b[k], `${path}.${k}`, errs);
}
let maxRel = 0;
const norm = (x) => JSON.parse(JSON.stringify(x, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? `num:${v}` : v)));
const [mode, file] = process.argv.slice(2);
const fresh = norm(run(false));
if (mode === 'write') {
  writeFileSync(file, JSON.stringify(fresh));
  console.log(`wrote ${fresh.length} results (${fresh.filter((r) => r.error).length} refusals) to ${file}`);
} else {
  const gold = JSON.parse(readFileSync(file, 'utf8'));
  const sharedRun = norm(run(true));
  const sharedAgain = norm(run(true)); // second pass: every cache warm
  let bad = 0;
  for (const [label, got] of [['fresh', fresh], ['shared', sharedRun], ['shared-warm', sharedAgain]]) {
    const errs = [];
    if (got.length !== gold.length) errs.push(`length ${got.length} vs ${gold.length}`);
    for (let i = 0; i < gold.length; i++) diff(gold[i], got[i], `[${i}]`, errs);
    if (errs.length) { bad++; console.log(`${label}: ${errs.length} differences\n  ${errs.slice(0, 10).join('\n  ')}`); }
    else console.log(`${label}: ${gold.length} results equal (max rel diff ${maxRel.toExponential(2)})`);
  }
  process.exit(bad ? 1 : 0);
}
