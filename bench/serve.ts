// bench/serve: simulated requests per second of wall time (median of 3 runs), 100,000 `chat`
// requests on 8 x H100 (llama-3-8b fp8, --dp 8, continuous batching), plus the analytic model's
// calls per second on a warm design (the search's inner loop).
import { readFileSync } from 'node:fs';
import { parseWith } from '../src/model/errors.js';
import { systemSchema } from '../src/model/hardware/schema.js';
import { parseHfConfig } from '../src/model/workload/index.js';
import { analyze, lengthsOf, parseWorkload, prepareServing, simulate, withArrival, type SchedulerKind } from '../src/model/serving/index.js';
import { machine, median } from './machine.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => JSON.parse(readFileSync(new URL(p, root), 'utf8'));
const system = parseWith(systemSchema, read('data/systems/h100-sxm.json'));
const model = parseHfConfig(read('data/models/llama-3-8b.json'), 'llama-3-8b');
const chat = parseWorkload(read('data/workloads/chat.json'));
const precision = { weights: 'fp8', activations: 'fp8', kvCache: 'fp8' } as const;
const N = Number(process.argv[2] ?? 100_000);

function run(kind: SchedulerKind, dp: number, tp: number, rate: number): { wallS: number; simS: number; tps: number } {
  const lm = lengthsOf(chat, model.maxPositionEmbeddings);
  const t0 = performance.now();
  // Preparing the design (one evaluate() for the operating point) is part of the measured time.
  const p = prepareServing(
    { system, model, precision, mapping: { tp, pp: 1, dp, sp: 1, ep: 1 }, scheduler: { kind, maxBatch: 256, chunkTokens: 2048 } },
    { inputTokens: lm.input.mean, outputTokens: lm.output.mean },
  );
  const r = simulate(p, withArrival(chat, { ratePerS: rate }), { requests: N, seed: 7 });
  return { wallS: (performance.now() - t0) / 1e3, simS: r.durationS, tps: r.throughput.outputTokensPerS };
}

console.log(`bench/serve on ${machine()}`);
for (const [label, kind, dp, tp, rate] of [
  ['continuous --dp 8', 'continuous', 8, 1, 200],
  ['chunked --dp 8', 'chunked', 8, 1, 200],
  ['continuous --tp 8', 'continuous', 1, 8, 100],
] as const) {
  const runs = [0, 1, 2].map(() => run(kind, dp, tp, rate));
  const wall = median(runs.map((r) => r.wallS));
  console.log(
    `  ${N} chat requests, h100-sxm x8 llama-3-8b fp8 ${label} @ ${rate} req/s: ${wall.toFixed(2)} s wall (median of 3), ` +
      `${(N / wall).toFixed(0)} simulated requests/s, ${runs[0]!.simS.toFixed(0)} s simulated, ${(runs[0]!.tps / 1e3).toFixed(1)} ktok/s   (target: < 10 s)`,
  );
}
{
  const lm = lengthsOf(chat, model.maxPositionEmbeddings);
  const p = prepareServing(
    { system, model, precision, mapping: { tp: 1, pp: 1, dp: 8, sp: 1, ep: 1 }, scheduler: { kind: 'continuous', maxBatch: 256, chunkTokens: 2048 } },
    { inputTokens: lm.input.mean, outputTokens: lm.output.mean },
  );
  const rates = Array.from({ length: 32 }, (_, i) => 10 + 10 * i);
  for (const r of rates) analyze(p, chat, { ratePerS: r }); // warm the step tables
  const times: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 500) for (const r of rates) (analyze(p, chat, { ratePerS: r }), n++);
    times.push((performance.now() - t0) / n);
  }
  console.log(`  analytic steady state (warm design, 32 loads): ${(median(times) * 1e3).toFixed(1)} us per call (median of 5)`);
}
