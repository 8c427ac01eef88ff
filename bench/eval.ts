// bench/eval: evaluations per second, median of 5 runs, on one core.
//   cold:  a full evaluate() of a design that no cache of the model has seen recently: each call takes
//          the next of a pool of COLD_POOL deep copies (structuredClone, built before the timed loop)
//          of the system, model, precision and mapping, so no object (package, chiplets, network
//          levels, model, mapping) comes back within COLD_POOL - 1 calls. The model's caches keyed
//          by identity keep their last <= 16 keys (RecentCache in src/model/evaluate.ts and
//          workload/operators.ts), so none of them hits.
//   inner: the search's inner loop on a fixed design (same system, model and precision objects):
//          batch and context change at every call and a (batch, context) pair does not come back
//          within a run, so only what truly depends on fewer inputs (per-batch decode operators,
//          per-package thermal responses, per-chiplet bandwidth) can be reused.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../src/model/evaluate.js';
import { parseWith } from '../src/model/errors.js';
import { systemSchema } from '../src/model/hardware/schema.js';
import { parseHfConfig } from '../src/model/workload/index.js';
import { machine, median, rate } from './machine.js';
import { YOUNG_GENERATION_MB } from '../worker/pool.js';

// The search evaluates in its search threads, whose young generation is YOUNG_GENERATION_MB (3
// semi-spaces): this bench runs its loops with the same heap, in a process of its own.
const SEMI_SPACE_MB = YOUNG_GENERATION_MB / 3;
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
  const r = spawnSync(process.execPath, [...process.execArgv, `--max-semi-space-size=${SEMI_SPACE_MB}`, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const root = new URL('../../', import.meta.url);
const sysJson = JSON.parse(readFileSync(new URL('data/systems/h100-sxm.json', root), 'utf8'));
const model = parseHfConfig(JSON.parse(readFileSync(new URL('data/models/llama-3-8b.json', root), 'utf8')), 'llama-3-8b');
const system = parseWith(systemSchema, sysJson);
const precision = { weights: 'fp8', activations: 'fp8', kvCache: 'fp8' } as const;
const batches = [1, 2, 4, 8, 16, 32, 64, 128];
const contexts = [128, 512, 1024, 2048, 4096];

const runs = (fn: (i: number) => void) => median(Array.from({ length: 5 }, () => rate(fn, 1)));

/** More than the largest identity-keyed cache of the model (16 keys): a pool entry's objects have
 *  fallen out of every cache by the time it is used again. */
const COLD_POOL = 32;
interface ColdInput {
  system: typeof system;
  model: typeof model;
  precision: { weights: 'fp8'; activations: 'fp8'; kvCache: 'fp8' };
  mapping: { tp: number; pp: number; dp: number; sp: number; ep: number; overlap?: boolean };
}
/** COLD_POOL independent deep copies (no object shared between two entries or with the originals). */
function coldPool(sys: typeof system, arch: typeof model, mapping: ColdInput['mapping']): ColdInput[] {
  return Array.from({ length: COLD_POOL }, (_, k) => {
    const c = structuredClone({ system: sys, model: arch, precision, mapping });
    c.system.package.power.tdpW += k % 7; // the values differ a little too (no cache keyed by value is warm either)
    return c;
  });
}

const pool1 = coldPool(system, model, { tp: 1, pp: 1, dp: 1, sp: 1, ep: 1 });
const cold = runs((i) => {
  const c = pool1[i % COLD_POOL]!;
  evaluate({ system: c.system, model: c.model, precision: c.precision, mapping: c.mapping, batch: batches[i % 8]!, inputTokens: contexts[i % 5]!, outputTokens: 256 });
});
// Batch 1..1024 (period 1024) and input 128..3968 tokens in steps of 64 (period 61): every
// (batch, context) pair of a run is new.
// `detail`: with per-operator breakdowns and per-layer temperatures (as `strata eval` prints them), or
// without (as the search scores its points: evaluate's detail false; the figures are the same).
const innerOf = (detail: boolean) =>
  runs((i) => {
    evaluate({ system, model, precision, batch: 1 + ((i * 37) % 1024), inputTokens: 128 + 64 * ((i * 7) % 61), outputTokens: 256, detail });
  });
const inner = innerOf(true);
const innerLean = innerOf(false);
// Multi-device: an 8-device TP8 dense point on the H100 node (NVLink switch), cold, and with the
// mapping, batch and context changing over the 8 devices.
const model70 = parseHfConfig(JSON.parse(readFileSync(new URL('data/models/llama-3-70b.json', root), 'utf8')), 'llama-3-70b');
const mappings = [
  { tp: 8, pp: 1, dp: 1, sp: 1, ep: 1 },
  { tp: 4, pp: 2, dp: 1, sp: 1, ep: 1 },
  { tp: 4, pp: 1, dp: 2, sp: 1, ep: 1 },
  { tp: 2, pp: 1, dp: 4, sp: 1, ep: 1 },
  { tp: 8, pp: 1, dp: 1, sp: 1, ep: 1, overlap: false },
];
const pool8 = coldPool(system, model70, mappings[0]!);
const cold8 = runs((i) => {
  const c = pool8[i % COLD_POOL]!;
  evaluate({ system: c.system, model: c.model, precision: c.precision, mapping: c.mapping, batch: 64, inputTokens: 1024, outputTokens: 256 });
});
// Mapping (5, above), batch 8..1024 in steps of 8 (period 128) and input 512..7680 tokens in steps of
// 256 (period 29): a (mapping, batch, context) triple comes back only every 18560 calls.
const inner8Of = (detail: boolean) =>
  runs((i) => {
    evaluate({ system, model: model70, precision, batch: 8 * (1 + ((i * 13) % 128)), inputTokens: 512 + 256 * ((i * 3) % 29), outputTokens: 256, mapping: mappings[i % mappings.length]!, detail });
  });
const inner8 = inner8Of(true);
const inner8Lean = inner8Of(false);
console.log(`bench/eval on ${machine()}`);
console.log(`median of 5 x 1 s runs, one core, ${SEMI_SPACE_MB} MB semi-spaces as in the search threads (the evaluations include the throttling search when a point is over TDP):`);
console.log(`  single device, h100-sxm x llama-3-8b fp8`);
console.log(`    cold evaluations/s (a pool of ${COLD_POOL} deep copies, no cache hit; batch 1-128, input 128-4096): ${cold.toFixed(0)}   (target >= 20000)`);
console.log(`    inner loop, as the search scores points (batch 1-1024, input 128-3968 vary, pairs not repeated; detail false): ${innerLean.toFixed(0)}   (target >= 200000)`);
console.log(`      the same with per-operator breakdowns and per-layer temperatures, as strata eval prints them (the search asks for them only for the designs it keeps): ${inner.toFixed(0)}`);
console.log(`  8 devices, h100-sxm TP8 x llama-3-70b fp8`);
console.log(`    cold evaluations/s (a pool of ${COLD_POOL} deep copies, no cache hit; batch 64, input 1024):  ${cold8.toFixed(0)}   (target >= 20000)`);
console.log(`    inner loop, as the search scores points (5 mappings, batch 8-1024, input 512-7680 vary; detail false): ${inner8Lean.toFixed(0)}   (target >= 100000)`);
console.log(`      the same with per-operator breakdowns and per-layer temperatures: ${inner8.toFixed(0)}`);
