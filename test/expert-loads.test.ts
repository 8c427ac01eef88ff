// MoE routing traces (DESIGN 2.1, issue 3): per-expert loads from a trace file reach the model
// through `--expert-loads` on `strata eval` and `strata serve`. A skewed trace loads the busiest EP
// rank above the mean and slows the MoE step; a uniform trace is the default; bad traces are refused
// with exit code 2 naming the flag, the file and what was expected.
// The CLI half runs the compiled CLI (`npm test` builds dist/ first).
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '../src/model/evaluate.js';
import { busiestRankFactor, checkMapping, planDevice, type Mapping } from '../src/model/parallel.js';
import { FP8, cliTempDir, dataPath, loadModel, loadSystem, strataCli } from './helpers.js';

const TRACE = dataPath('traces', 'qwen3-30b-a3b-synthetic.json');
const trace = JSON.parse(readFileSync(TRACE, 'utf8')) as number[];
const EP8: Mapping = { tp: 1, pp: 1, dp: 8, sp: 1, ep: 8 };

describe('the example trace', () => {
  it('has one token count per expert of qwen3-30b-a3b, summing to 16384 tokens x top-8', () => {
    const m = loadModel('qwen3-30b-a3b');
    expect(trace.length).toBe(m.moe!.numExperts);
    expect(trace.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    expect(trace.reduce((a, b) => a + b, 0)).toBe(16384 * m.moe!.topK);
  });
});

describe('per-expert loads in the model', () => {
  it('busiest rank factor of a hand case: max rank load x ranks / total', () => {
    // 8 experts on 2 ranks. Contiguous: ranks {0..3} = 3+1+0+0 = 4 and {4..7} = 1+1+1+2 = 5
    // -> 5 x 2 / 9. Round-robin: {0,2,4,6} = 3+0+1+1 = 5 and {1,3,5,7} = 1+0+1+2 = 4 -> 10/9 too.
    // Balanced (heaviest first to the lighter rank, 4 per rank): 3->A, 2->B, 1->B, 1->B, 1->A, 1->B
    // (B full: 2+1+1+1 = 5, A = 4), 0->A, 0->A -> 10/9.
    const loads = [3, 1, 0, 0, 1, 1, 1, 2];
    expect(busiestRankFactor(8, 2, { expertLoads: loads })).toBeCloseTo(10 / 9, 12);
    // Shares instead of counts: only the ratios matter.
    expect(busiestRankFactor(8, 2, { expertLoads: loads.map((x) => x / 9) })).toBeCloseTo(10 / 9, 12);
    // 4 ranks, contiguous: {3,1} {0,0} {1,1} {1,2} -> 4 x 4 / 9.
    expect(busiestRankFactor(8, 4, { expertLoads: loads })).toBeCloseTo(16 / 9, 12);
    // The trace replaces the skew model: a uniform trace with a skew set is still balanced.
    expect(busiestRankFactor(8, 4, { expertLoads: new Array(8).fill(5), routingSkew: 2 })).toBe(1);
  });

  it('a skewed trace raises the busiest-rank factor and the step time; a uniform trace equals the default', () => {
    const m = loadModel('qwen3-30b-a3b');
    const uniform = new Array<number>(128).fill(1024);
    const plan = (mp: Mapping) => planDevice(m, FP8, 'prefill', 64, 512, 0, mp);
    expect(plan(EP8).expertLoadFactor).toBe(1);
    expect(plan({ ...EP8, expertLoads: uniform }).expertLoadFactor).toBe(1);
    const skewed = plan({ ...EP8, expertLoads: trace }).expertLoadFactor;
    // The synthetic trace's busiest contiguous block of 16 experts, by hand from the file.
    let busiest = 0;
    for (let r = 0; r < 8; r++) busiest = Math.max(busiest, trace.slice(16 * r, 16 * r + 16).reduce((a, b) => a + b, 0));
    expect(skewed).toBeCloseTo((busiest * 8) / trace.reduce((a, b) => a + b, 0), 12);
    expect(skewed).toBeGreaterThan(1.2);

    const base = { system: loadSystem('h200-sxm'), model: m, precision: FP8, batch: 64, inputTokens: 512, outputTokens: 32 };
    const def = evaluate({ ...base, mapping: EP8 });
    const uni = evaluate({ ...base, mapping: { ...EP8, expertLoads: uniform } });
    const sk = evaluate({ ...base, mapping: { ...EP8, expertLoads: trace } });
    expect(uni).toEqual(def);
    expect(sk.prefill.stepTimeS).toBeGreaterThan(def.prefill.stepTimeS * 1.05);
    expect(sk.decode.stepTimeS).toBeGreaterThan(def.decode.stepTimeS);
    // Only the MoE expert operators slow down; attention is untouched.
    const t = (r: typeof def, name: string) => r.prefill.breakdown.find((o) => o.name === name)?.timeS;
    const expertOp = def.prefill.breakdown.find((o) => o.name.includes('expert') && o.kind !== 'collective')!;
    expect(expertOp, 'a MoE expert operator').toBeDefined();
    expect(t(sk, expertOp.name)!).toBeGreaterThan(t(def, expertOp.name)!);
  });

  it('checkMapping refuses loads of the wrong length, negative, non-finite or all-zero loads, and a dense model', () => {
    const moe = loadModel('qwen3-30b-a3b');
    const ok = new Array<number>(128).fill(1);
    expect(() => checkMapping({ ...EP8, expertLoads: ok }, moe, 64)).not.toThrow();
    const bad = (loads: number[], arch = moe) => () => checkMapping({ ...EP8, ep: arch.moe ? 8 : 1, expertLoads: loads }, arch, 64);
    expect(bad(ok.slice(1))).toThrow(/one load per expert \(128\)/);
    expect(bad(ok.map((x, i) => (i === 5 ? -1 : x)))).toThrow(/expertLoads\[5\].*-1.*finite load >= 0/);
    expect(bad(ok.map((x, i) => (i === 7 ? Number.NaN : x)))).toThrow(/expertLoads\[7\]/);
    expect(bad(ok.map((x, i) => (i === 7 ? Number.POSITIVE_INFINITY : x)))).toThrow(/expertLoads\[7\]/);
    expect(bad(ok.map(() => 0))).toThrow(/at least one expert with a load > 0/);
    expect(bad(ok, loadModel('llama-3-8b'))).toThrow(/llama-3-8b has no experts/);
  });
});

// ---- CLI -----------------------------------------------------------------------------------------

const strata = (args: string[]) => strataCli(args, 120_000);
const tmpDir = cliTempDir('strata-expert-loads-');
const file = (name: string, text: string) => {
  const p = join(tmpDir(), name);
  writeFileSync(p, text);
  return p;
};

const ones = (n: number) => new Array<number>(n).fill(1);
const EVAL = ['eval', '--system', 'h200-sxm', '--model', 'qwen3-30b-a3b', '--dp', '8', '--ep', '8', '--batch', '64', '--input', '512', '--output', '32', '--precision', 'fp8', '--json'];

describe('strata eval --expert-loads', () => {
  it('the example trace slows prefill; a uniform CSV trace (header, shuffled expert,load rows) prints exactly the default', () => {
    const def = strata(EVAL);
    expect(def.code, def.stderr).toBe(0);
    const sk = strata([...EVAL, '--expert-loads', TRACE]);
    expect(sk.code, sk.stderr).toBe(0);
    const d = JSON.parse(def.stdout) as { prefill: { stepTimeS: number } };
    const s = JSON.parse(sk.stdout) as { prefill: { stepTimeS: number } };
    expect(s.prefill.stepTimeS).toBeGreaterThan(d.prefill.stepTimeS * 1.05);

    const ids = Array.from({ length: 128 }, (_, e) => (e * 37) % 128); // a permutation (37 is odd)
    const csv = file('uniform.csv', `expert,tokens\n# synthetic, uniform\n${ids.map((e) => `${e},250`).join('\n')}\n`);
    const uni = strata([...EVAL, '--expert-loads', csv]);
    expect(uni.code, uni.stderr).toBe(0);
    expect(uni.stdout).toBe(def.stdout);
  });

  it('a one-column CSV, a shuffled expert,load CSV and the JSON array of the same loads give the same output', () => {
    const b = strata([...EVAL, '--expert-loads', TRACE]);
    expect(b.code, b.stderr).toBe(0);
    const one = strata([...EVAL, '--expert-loads', file('trace.csv', `tokens\n${trace.join('\n')}\n`)]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe(b.stdout);
    // Rows in the order 0, 37, 74, ...: a reader that ignored the id column would move the loads.
    const ids = Array.from({ length: 128 }, (_, k) => (k * 37) % 128);
    const two = strata([...EVAL, '--expert-loads', file('trace2.csv', ids.map((e) => `${e},${trace[e]}`).join('\n'))]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toBe(b.stdout);
  });

  const refusals: { name: string; file: () => string; extra?: string[]; model?: string; expect: (string | RegExp)[] }[] = [
    { name: 'wrong length', file: () => file('short.json', JSON.stringify(ones(127))), expect: ['128 per-expert loads', 'the file has 127'] },
    { name: 'a negative load', file: () => file('neg.csv', ones(128).map((x, i) => (i === 3 ? -2 : x)).join('\n')), expect: ['finite loads >= 0 (expert 3 has -2)'] },
    { name: 'a non-numeric load', file: () => file('nan.csv', ['load', ...ones(127), 'lots'].join('\n')), expect: [/a number as the load on line 129 \(found "lots"\)/] },
    { name: 'a non-number in JSON', file: () => file('str.json', JSON.stringify([...ones(127), '1'])), expect: ['numbers only (entry 127 is "1")'] },
    { name: 'an infinite load', file: () => file('inf.json', `[${ones(127).join(',')},1e999]`), expect: ['expert 127 has Infinity'] },
    { name: 'all loads zero', file: () => file('zero.json', JSON.stringify(new Array(128).fill(0))), expect: ['all loads are 0'] },
    { name: 'a JSON object, not an array', file: () => file('obj.json', '{"loads": [1, 2]}'), expect: ['a JSON array of per-expert loads (found object)'] },
    { name: 'a repeated expert id', file: () => file('dup.csv', ones(128).map((_, e) => `${e === 9 ? 8 : e},1`).join('\n')), expect: ['expert 8 repeats on line 10'] },
    { name: 'an unknown extension', file: () => file('trace.txt', '1\n2\n'), expect: ['a .json file', 'or a .csv file'] },
    { name: 'a missing file', file: () => join(tmpDir(), 'none.json'), expect: ['a readable file'] },
    { name: 'a dense model', file: () => TRACE, model: 'llama-3-8b', expect: ['llama-3-8b has no experts'] },
    { name: 'both --expert-loads and --routing-skew', file: () => TRACE, extra: ['--routing-skew', '1'], expect: ['either --expert-loads or --routing-skew, not both'] },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name} with exit 2, naming the flag, the file and the expectation`, () => {
      const f = c.file();
      const args = [...EVAL, '--expert-loads', f, ...(c.extra ?? [])];
      if (c.model) args[args.indexOf('--model') + 1] = c.model;
      if (c.model) args.splice(args.indexOf('--ep'), 2);
      const r = strata(args);
      expect(r.stdout).toBe('');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('--expert-loads');
      expect(r.stderr).toContain(JSON.stringify(f));
      for (const w of c.expect) {
        if (typeof w === 'string') expect(r.stderr).toContain(w);
        else expect(r.stderr).toMatch(w);
      }
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe('strata serve --expert-loads', () => {
  const SERVE = ['serve', '--system', 'h200-sxm', '--model', 'qwen3-30b-a3b', '--workload', 'chat', '--dp', '8', '--ep', '8', '--precision', 'fp8', '--requests', '50', '--json'];
  it('the example trace lowers the analytic capacity (requests/s) below the uniform default', () => {
    const cap = (extra: string[]) => {
      const r = strata([...SERVE, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { analytic: { maxRequestsPerS: number } }).analytic.maxRequestsPerS;
    };
    expect(cap(['--expert-loads', TRACE])).toBeLessThan(cap([]) * 0.97);
  });
  it('reads and checks the trace too: a wrong-length trace is refused with exit 2', () => {
    const f = file('serve-short.json', JSON.stringify(ones(64)));
    const r = strata([...SERVE, '--expert-loads', f]);
    expect(r.stdout).toBe('');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--expert-loads');
    expect(r.stderr).toContain('128 per-expert loads');
  });
});
