// Serving: the analytic steady state against the discrete-event simulator, queueing past
// saturation, chunked prefill, disaggregation, KV preemption, PIM offload, determinism, bad input.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/model/errors.js';
import { analyze, parseTraceCsv, parseWorkload, simulate } from '../src/model/serving/index.js';
import { runServe, setupServe, type ServeOptions } from '../src/cli/serve.js';
import { main } from '../src/cli/main.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemJson } from './helpers.js';

const o = (x: Partial<ServeOptions>): ServeOptions => ({ system: 'h100-sxm', model: 'llama-3-8b', workload: 'chat', precision: 'fp8', ...x }) as ServeOptions;
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('analytic steady state vs simulator', () => {
  const cases: [string, Partial<ServeOptions>][] = [
    ['8xH100 dp8, chat, 40 req/s (light)', { dp: '8', rate: '40' }],
    ['8xH100 dp8, chat, 200 req/s', { dp: '8', rate: '200' }],
    ['1xH100, chat, closed loop of 64', { concurrency: '64' }],
    ['4xH100 tp4, llama-2-70b, mlperf mix, 5 req/s', { model: 'llama-2-70b', workload: 'mlperf-llama2-70b', tp: '4', rate: '5' }],
    ['8xH100 dp8 disaggregated 2+6, chat, 100 req/s', { dp: '8', rate: '100', scheduler: 'disaggregated', prefillReplicas: '2' }],
    ['lamosys-pd (prefill/decode chiplets), chat, 20 req/s', { system: 'lamosys-pd', rate: '20' }],
    ['4xH100 tp4 static batching, mlperf mix, 2 req/s', { model: 'llama-2-70b', workload: 'mlperf-llama2-70b', tp: '4', rate: '2', scheduler: 'static' }],
  ];
  for (const [name, x] of cases)
    it(`agree within 5% on throughput and mean TPOT: ${name}`, () => {
      const r = runServe(o({ requests: '4000', ...x }));
      expect(r.sim.completed).toBe(4000);
      expect(r.analytic.stable).toBe(true);
      expect(rel(r.analytic.systemTokensPerS, r.sim.steady.outputTokensPerS)).toBeLessThan(0.05);
      expect(rel(r.analytic.tpotS.mean, r.sim.steady.meanTpotS)).toBeLessThan(0.05);
    });
});

describe('load and saturation', () => {
  it('below saturation throughput follows the offered load; past it queues grow and TTFT rises', () => {
    const { prepared, workload } = setupServe(o({ scheduler: 'continuous', maxBatch: '64' }));
    const cap = analyze(prepared, workload).maxRequestsPerS;
    const at = (f: number) => {
      const w = { ...workload, arrival: { kind: 'poisson' as const, ratePerS: f * cap } };
      return { a: analyze(prepared, w), s: simulate(prepared, w, { requests: 3000, seed: 3 }) };
    };
    const low = at(0.3);
    const mid = at(0.6);
    const over = at(1.5);
    // Below: tokens/s proportional to the offered rate (x2 load -> x2 throughput).
    expect(rel(mid.s.throughput.outputTokensPerS / low.s.throughput.outputTokensPerS, 2)).toBeLessThan(0.06);
    expect(low.a.stable && mid.a.stable).toBe(true);
    // Past saturation: the analytic model says unstable; the simulator's queue grows and TTFT explodes.
    expect(over.a.stable).toBe(false);
    expect(over.s.throughput.requestsPerS).toBeLessThan(1.1 * cap);
    expect(over.s.maxQueued).toBeGreaterThan(200);
    expect(over.s.ttftS.mean).toBeGreaterThan(20 * mid.s.ttftS.mean);
    const tl = over.s.timeline;
    expect(tl[Math.floor(tl.length * 0.5)]!.queued).toBeGreaterThan(tl[Math.floor(tl.length * 0.1)]!.queued);
  });
});

describe('schedulers', () => {
  it('chunked prefill lowers TPOT p99 against continuous batching on a long-prompt mix', () => {
    const base = o({ workload: 'rag-long', rate: '6', maxBatch: '128', requests: '1500' });
    const cont = runServe({ ...base, scheduler: 'continuous', chunk: '8192' }).sim;
    const chunk = runServe({ ...base, scheduler: 'chunked', chunk: '1024' }).sim;
    expect(chunk.tpotS.p99).toBeLessThan(0.8 * cont.tpotS.p99);
    // Throughput is the offered load in both (below saturation).
    expect(rel(chunk.throughput.outputTokensPerS, cont.throughput.outputTokensPerS)).toBeLessThan(0.05);
  });

  it('disaggregation removes prefill interference from TPOT', () => {
    const base = o({ workload: 'rag-long', dp: '4', rate: '12', requests: '1500' });
    const cont = runServe({ ...base, scheduler: 'continuous' });
    const dis = runServe({ ...base, scheduler: 'disaggregated', prefillReplicas: '2' });
    // Decode-only steps: the TPOT tail sits on the median; colocated prefills stretch it.
    expect(dis.sim.tpotS.p99 / dis.sim.tpotS.p50).toBeLessThan(1.2);
    expect(cont.sim.tpotS.p99 / cont.sim.tpotS.p50).toBeGreaterThan(1.4);
    expect(dis.sim.tpotS.p99).toBeLessThan(cont.sim.tpotS.p99);
    expect(dis.sim.kvTransfers).toBeGreaterThan(1400);
  });

  it('a heterogeneous package prefills on the prefill chiplet and decodes on the decode chiplet', () => {
    const r = runServe(o({ system: 'lamosys-pd', rate: '20', requests: '1000' }));
    expect(r.sim.scheduler).toBe('disaggregated');
    expect(r.sim.pools.map((p) => p.name)).toEqual(['prefill', 'decode']);
    expect(r.prepared.prefill!.table.sm.kvCapacityTokens).toBeLessThan(r.prepared.decode!.table.sm.kvCapacityTokens);
    expect(r.sim.pools[0]!.steps).toBeGreaterThan(0);
  });

  it('a too-small KV capacity causes preemptions (recomputed on readmission), none with room', () => {
    // Llama-2-70B (MHA-free GQA but 80 layers) in bf16 on two H100s leaves little room for KV.
    const small = runServe(o({ model: 'llama-2-70b', precision: 'bf16', tp: '2', workload: 'reasoning', concurrency: '64', maxBatch: '64', requests: '200' })).sim;
    expect(small.preemptions).toBeGreaterThan(0);
    expect(small.completed).toBe(200);
    const roomy = runServe(o({ model: 'llama-2-70b', precision: 'fp8', tp: '8', workload: 'reasoning', concurrency: '16', maxBatch: '64', requests: '100' })).sim;
    expect(roomy.preemptions).toBe(0);
  });

  it('PIM offload takes decode attention and adds KV capacity on long decodes', () => {
    const pim = { capacityGB: 512, internalBandwidthGBps: 8000, linkBandwidthGBps: 128, computeTFLOPS: 16, energyPJPerBit: 1, linkLatencyUs: 2 };
    const base = o({ precision: 'bf16', workload: 'reasoning', concurrency: '128', requests: '400' });
    const a = setupServe(base);
    const without = simulate(a.prepared, a.workload, { requests: 400, seed: 1 });
    // The PIM tier goes in through the CLI's --pim file.
    const dir = mkdtempSync(join(tmpdir(), 'strata-pim-'));
    writeFileSync(join(dir, 'pim.json'), JSON.stringify(pim));
    const b = setupServe({ ...base, pim: join(dir, 'pim.json') });
    const withP = simulate(b.prepared, b.workload, { requests: 400, seed: 1 });
    expect(b.prepared.colocated!.kvCapacityTokens).toBeGreaterThan(a.prepared.colocated!.kvCapacityTokens);
    expect(withP.pimOffloadFraction).toBeGreaterThan(0);
    expect(withP.pimOffloadFraction).toBeLessThanOrEqual(1);
    expect(withP.tpotS.mean).toBeLessThan(without.tpotS.mean);
    // A PIM tier with a slow link cannot help: the split moves less work.
    writeFileSync(join(dir, 'slow.json'), JSON.stringify({ ...pim, linkBandwidthGBps: 0.5 }));
    const c = setupServe({ ...base, pim: join(dir, 'slow.json') });
    const slow = simulate(c.prepared, c.workload, { requests: 400, seed: 1 });
    expect(slow.pimOffloadFraction).toBeLessThan(withP.pimOffloadFraction);
  });
});

describe('determinism and inputs', () => {
  it('is deterministic with a seed and changes with another seed', () => {
    const { prepared, workload } = setupServe(o({ dp: '8', rate: '100' }));
    const a = simulate(prepared, workload, { requests: 2000, seed: 11 });
    const b = simulate(prepared, workload, { requests: 2000, seed: 11 });
    const c = simulate(prepared, workload, { requests: 2000, seed: 12 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(c.ttftS.mean).not.toBe(a.ttftS.mean);
  });

  it('refuses bad workloads with the JSON path', () => {
    const bad = (w: unknown, path: string) => {
      try {
        parseWorkload(w);
        throw new Error('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).path).toBe(path);
      }
    };
    const ok = { arrival: { kind: 'poisson', ratePerS: 1 }, input: { kind: 'fixed', tokens: 10 }, output: { kind: 'fixed', tokens: 10 } };
    bad({ ...ok, arrival: { kind: 'poisson', ratePerS: -1 } }, '$.arrival.ratePerS');
    bad({ ...ok, input: { kind: 'uniform', min: 10, max: 5 } }, '$.input.max');
    bad({ ...ok, output: { kind: 'lognormal', mean: 100, sigma: 9 } }, '$.output.sigma');
    bad({ ...ok, input: { kind: 'trace' } }, '$.input.kind');
    bad({ ...ok, slo: { ttftMs: 0, tpotMs: 1 } }, '$.slo.ttftMs');
    bad({ ...ok, arrival: { kind: 'burst' } }, '$.arrival.kind');
    expect(() => parseTraceCsv('arrival_s,input_tokens,output_tokens\n0,10,5\n-1,3,3')).toThrow(ConfigError);
    expect(parseTraceCsv('arrival_s,input_tokens,output_tokens\n0,10,5\n0.5,3,3')).toHaveLength(2);
  });

  it('CLI: bad input exits 2, a run prints JSON', async () => {
    const err = process.stderr.write;
    const out = process.stdout.write;
    let text = '';
    process.stderr.write = (() => true) as typeof process.stderr.write;
    process.stdout.write = ((s: string) => ((text += s), true)) as typeof process.stdout.write;
    try {
      expect(await main(['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--workload', 'nope'])).toBe(2);
      expect(await main(['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--workload', 'chat', '--scheduler', 'fifo'])).toBe(2);
      expect(await main(['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--workload', 'chat', '--scheduler', 'disaggregated'])).toBe(2);
      expect(await main(['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--workload', 'chat', '--requests', '300', '--json'])).toBe(0);
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
    const j = JSON.parse(text);
    expect(j.simulation.completed).toBe(300);
    expect(j.simulation.ttftS.p99).toBeGreaterThan(0);
    expect(j.analytic.systemTokensPerS).toBeGreaterThan(0);
  });
});

describe('chiplet copies', () => {
  it('a package with copies of a chiplet (count > 1) is refused by the serving model, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-serve-copies-'));
    const file = join(dir, 'pd13.json');
    const json = systemJson('lamosys-pd') as { package: { chiplets: Record<string, unknown>[] } };
    json.package.chiplets[1]!.count = 3;
    writeFileSync(file, JSON.stringify(json));
    let err: unknown;
    try {
      setupServe(o({ system: file, rate: '1' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toMatch(/decode chiplet\)\.count/);
    expect((err as ConfigError).message).toMatch(/does not model chiplet copies/);
  });
});
