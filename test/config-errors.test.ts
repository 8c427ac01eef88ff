// Refusal of bad input through the real CLI (DESIGN 1, 6, 7): `node bin/strata.js eval ...` must exit
// with code 2, name the JSON path or flag, the bad value and what was expected on stderr, and print
// nothing on stdout. Plus the success contracts of `eval --json` and `validate --json`.
// Runs the compiled CLI: `npm test` builds dist/ first (pretest).
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliTempDir, dataPath, modelJson, systemJson, setAt, strataCli } from './helpers.js';

const strata = (args: string[]) => strataCli(args, 60_000);
const tmpDir = cliTempDir('strata-config-errors-');

/** A refusal: exit code 2, nothing on stdout, one message with every expected part and no stack trace. */
function expectRefused(r: ReturnType<typeof strata>, wants: (string | RegExp)[]): void {
  expect(r.stdout, 'nothing on stdout').toBe('');
  expect(r.code, r.stderr).toBe(2);
  for (const want of wants) {
    if (typeof want === 'string') expect(r.stderr).toContain(want);
    else expect(r.stderr).toMatch(want);
  }
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function writeJson(name: string, v: unknown): string {
  const p = join(tmpDir(), name);
  writeFileSync(p, JSON.stringify(v, null, 2));
  return p;
}

interface Bad {
  name: string;
  args: () => string[];
  /** Substrings stderr must contain: the path or flag, the bad value, the expectation. */
  expect: () => (string | RegExp)[];
}

const EVAL = ['eval', '--batch', '2', '--input', '128', '--output', '16'];

const cases: Bad[] = [
  {
    name: 'unknown system preset',
    args: () => [...EVAL, '--system', 'no-such-system', '--model', 'llama-3-8b'],
    expect: () => ['--system', '"no-such-system"', /expected a preset \(.*h100-sxm.*\)/],
  },
  {
    name: 'unknown model preset',
    args: () => [...EVAL, '--system', 'h100-sxm', '--model', 'llama-9-1t'],
    expect: () => ['--model', '"llama-9-1t"', /expected a preset \(.*llama-3-8b.*\)/],
  },
  {
    name: 'system JSON with a negative PHY bandwidth',
    args: () => {
      const s = systemJson('h100-sxm');
      setAt(s, ['package', 'chiplets', 0, 'memory', 'phyBandwidthGBps'], -1);
      return [...EVAL, '--system', writeJson('neg-bw.json', s), '--model', 'llama-3-8b'];
    },
    expect: () => ['neg-bw.json', '$.package.chiplets[0].memory.phyBandwidthGBps', 'got -1', /expected a positive number/],
  },
  {
    name: 'connectedLayers > layers',
    args: () => {
      const s = systemJson('hb3d-16l');
      setAt(s, ['package', 'chiplets', 0, 'memory', 'connectedLayers'], 17);
      return [...EVAL, '--system', writeJson('too-many-connected.json', s), '--model', 'llama-3-8b'];
    },
    expect: () => ['$.package.chiplets[0].memory.connectedLayers', 'got 17', /<= layers \(16\)/],
  },
  {
    name: 'model config.json whose attention heads are not divisible by the KV heads',
    args: () => {
      const m = modelJson('llama-3-8b');
      m.num_key_value_heads = 5;
      return [...EVAL, '--system', 'h100-sxm', '--model', writeJson('config.json', m)];
    },
    expect: () => ['config.json', '$.num_key_value_heads', 'got 5', /divisor of num_attention_heads \(32\)/],
  },
  {
    name: '--batch 0',
    args: () => ['eval', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--batch', '0'],
    expect: () => ['--batch', '"0"', 'positive integer'],
  },
  {
    name: '--chunk 0',
    args: () => [...EVAL, '--system', 'h100-sxm', '--model', 'llama-3-8b', '--chunk', '0'],
    expect: () => ['--chunk', '"0"', 'positive integer'],
  },
  {
    name: 'a chiplet count of 0 (package.chiplets[1].count)',
    args: () => {
      const j = systemJson('lamosys-pd') as { package: { chiplets: Record<string, unknown>[] } };
      j.package.chiplets[1]!.count = 0;
      return [...EVAL, '--system', writeJson('copies0.json', j), '--model', 'llama-3-8b'];
    },
    expect: () => ['package.chiplets[1].count', '0', 'at least 1 copy'],
  },
  {
    name: '--batch abc',
    args: () => ['eval', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--batch', 'abc'],
    expect: () => ['--batch', '"abc"', 'positive integer'],
  },
  {
    name: '--precision fp7',
    args: () => [...EVAL, '--system', 'h100-sxm', '--model', 'llama-3-8b', '--precision', 'fp7'],
    expect: () => ['--precision', '"fp7"', /one of fp32, bf16, fp16, fp8/],
  },
  {
    name: 'unreadable system file (a directory named like a JSON file)',
    args: () => {
      const p = join(tmpDir(), 'unreadable.json');
      mkdirSync(p, { recursive: true });
      return [...EVAL, '--system', p, '--model', 'llama-3-8b'];
    },
    expect: () => ['--system', 'unreadable.json', /a readable file/],
  },
  {
    name: 'missing system file',
    args: () => [...EVAL, '--system', join(tmpDir(), 'does-not-exist.json'), '--model', 'llama-3-8b'],
    expect: () => ['--system', 'does-not-exist.json', /an existing JSON file/],
  },
  {
    name: 'invalid JSON',
    args: () => {
      const p = join(tmpDir(), 'broken.json');
      writeFileSync(p, '{"name": "x", "package": {');
      return [...EVAL, '--system', p, '--model', 'llama-3-8b'];
    },
    expect: () => ['--system', 'broken.json', /valid JSON/],
  },
  {
    name: 'invalid JSON in a model config',
    args: () => {
      const p = join(tmpDir(), 'broken-model.json');
      writeFileSync(p, '{"hidden_size": 4096,,}');
      return [...EVAL, '--system', 'h100-sxm', '--model', p];
    },
    expect: () => ['--model', 'broken-model.json', /valid JSON/],
  },
];

describe('strata eval refuses bad input with exit code 2 and a precise message', () => {
  for (const c of cases) {
    it(c.name, () => {
      expectRefused(strata(c.args()), c.expect());
    });
  }
});

// `strata validate --data <csv>`: a bad dataset file is a config error too (exit 2, one line naming the
// file, the row (its line in the file, comments and header counted) and column, the value found and
// what was expected), never a stack trace, and never a NaN% error printed with exit code 0.
function dataFile(name: string, lines: string[]): string {
  const sub = mkdtempSync(join(tmpDir(), 'data-'));
  const p = join(sub, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

const GEMM_HEADER = 'gpu,precision,m,n,k,measured_tflops';
const GEMM_ROW = 'H100-SXM,fp8,1024,1024,1024,274.1';
const MLPERF_HEADER = 'system,software,precision,parallelism,scenario,tokens_per_s,samples_per_s,ttft_mean_ms,ttft_p99_ms,tpot_mean_ms,tpot_p99_ms';

const badData: Bad[] = [
  {
    name: 'missing file with a supported dataset name',
    args: () => ['validate', '--data', join(tmpDir(), 'no-such-dir', 'gemm_tflops.csv')],
    expect: () => ['--data', 'no-such-dir/gemm_tflops.csv', /expected an existing CSV file/],
  },
  {
    name: 'missing file with any other name',
    args: () => ['validate', '--data', '/missing/file.csv'],
    expect: () => ['--data', '"/missing/file.csv"', /expected an existing CSV file/],
  },
  {
    name: 'non-numeric measured value',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', ['# a comment line', GEMM_HEADER, GEMM_ROW, 'H100-SXM,fp8,2048,2048,2048,abc'])],
    expect: () => ['gemm_tflops.csv: row 4, column measured_tflops', 'got "abc"', /expected a number > 0/],
  },
  {
    name: 'empty measured value',
    args: () => ['validate', '--data', dataFile('hbm_stream.csv', ['gpu,peak_TBps,copy_TBps,triad_TBps,dot_TBps', 'H100-SXM,3.35,2.90,2.97,'])],
    expect: () => ['hbm_stream.csv: row 2, column dot_TBps', 'got ""', /expected a number > 0/],
  },
  {
    name: 'zero measured value (the relative error would be infinite)',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', [GEMM_HEADER, 'H100-SXM,fp8,1024,1024,1024,0'])],
    expect: () => ['gemm_tflops.csv: row 2, column measured_tflops', 'got "0"', /expected a number > 0/],
  },
  {
    name: 'non-integer GEMM dimension',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', [GEMM_HEADER, 'H100-SXM,fp8,1024,1.5e3,1024,274.1'])],
    expect: () => ['gemm_tflops.csv: row 2, column n', 'got "1.5e3"', /expected an integer >= 1/],
  },
  {
    name: 'unknown GPU names the file, row and column',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', [GEMM_HEADER, GEMM_ROW, 'X100-SXM,fp8,1024,1024,1024,274.1'])],
    expect: () => ['gemm_tflops.csv: row 3, column gpu', 'got "X100-SXM"', /expected one of .*h100-sxm/],
  },
  {
    name: 'unknown precision names the file, row and column',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', [GEMM_HEADER, 'H100-SXM,fp7,1024,1024,1024,274.1'])],
    expect: () => ['gemm_tflops.csv: row 2, column precision', 'got "fp7"', /expected one of fp32, bf16/],
  },
  {
    name: 'unknown model names the file, row and column',
    args: () => ['validate', '--data', dataFile('decode_batch1.csv', ['gpu,model,precision,tp,batch,measured_tokens_per_s', 'H100-SXM,Llama-9-1T,bf16,1,1,100'])],
    expect: () => ['decode_batch1.csv: row 2, column model', 'got "Llama-9-1T"', /expected a model preset/],
  },
  {
    name: 'a missing column is named from the header',
    args: () => ['validate', '--data', dataFile('gemm_tflops.csv', ['gpu,precision,m,n,k', 'H100-SXM,fp8,1024,1024,1024'])],
    expect: () => ['gemm_tflops.csv: row 1 (header)', /missing: measured_tflops/],
  },
  {
    name: 'an MLPerf row of a scenario the model does not run',
    args: () => ['validate', '--data', dataFile('mlperf_v41_llama2_70b.csv', [MLPERF_HEADER, '8xH100-SXM-80GB,TensorRT-LLM 10.2,fp8,TP2 x4 engines batch 896,SingleStream,24524.9,,,,,'])],
    expect: () => ['mlperf_v41_llama2_70b.csv: row 2, column scenario', 'got "SingleStream"', /expected 'Server' or 'Offline'/],
  },
  {
    name: 'an empty file',
    args: () => ['validate', '--data', dataFile('hbm_stream.csv', ['# nothing but a comment'])],
    expect: () => ['hbm_stream.csv: header', /expected a header line with the columns gpu, dot_TBps/],
  },
];

describe('strata validate refuses bad data files with exit code 2 and the file, row and column', () => {
  for (const c of badData) {
    it(c.name, () => {
      const r = strata(c.args());
      expectRefused(r, c.expect());
      expect(r.stderr).not.toMatch(/NaN/);
    });
  }

  it('MLPerf: only the H100 Offline throughput is a calibration row (it fitted the prompt mean) and the model matches it; Offline rows have no latencies', () => {
    const r = strata(['validate', '--json', '--data', dataPath('validation', 'mlperf_v41_llama2_70b.csv')]);
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { rows: { label: string; metric: string; errorPct: number; use: string }[] }).rows;
    const fit = rows.filter((x) => x.use === 'calibration');
    expect(fit.map((x) => [x.label.split(' ')[0], x.metric])).toEqual([['8xH100-SXM-80GB', 'tok/s']]);
    expect(fit[0]!.label).toMatch(/offline/);
    expect(Math.abs(fit[0]!.errorPct)).toBeLessThan(2);
    const offline = rows.filter((x) => /offline/.test(x.label));
    expect(offline).toHaveLength(4);
    for (const x of offline) expect(x.metric).toBe('tok/s');
    expect(rows.filter((x) => x.use === 'check')).toHaveLength(rows.length - 1);
  });

  it('a good file of the same shape passes (the refusals above are the bad cells, not the format)', () => {
    const r = strata(['validate', '--json', '--data', dataFile('gemm_tflops.csv', ['# a comment line', GEMM_HEADER, GEMM_ROW])]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { rows: { measured: number; errorPct: number }[] };
    expect(out.rows).toHaveLength(1);
    expect(out.rows[0]!.measured).toBe(274.1);
    expect(Number.isFinite(out.rows[0]!.errorPct)).toBe(true);
  });
});

describe('success contracts', () => {
  it('eval --json exits 0 and prints one JSON object with the documented keys', () => {
    const r = strata(['eval', '--system', 'hb3d-16l', '--model', 'llama-3-8b', '--batch', '8', '--input', '512', '--output', '128', '--precision', 'fp8', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
    expect(typeof out).toBe('object');
    expect(Array.isArray(out)).toBe(false);
    for (const k of ['prefill', 'decode', 'memory', 'power', 'thermal']) expect(out).toHaveProperty(k);
    for (const ph of ['prefill', 'decode']) {
      const p = out[ph]!;
      for (const k of ['stepTimeS', 'systemTokensPerS', 'userTokensPerS']) {
        expect(typeof p[k]).toBe('number');
        expect(p[k] as number).toBeGreaterThan(0);
      }
      expect(Array.isArray(p.breakdown)).toBe(true);
      const ops = p.breakdown as { name: string; timeS: number; bound: string; dramBytes: number; energyJ: number }[];
      expect(ops.length).toBeGreaterThan(3);
      for (const op of ops) {
        expect(['compute', 'memory', 'network', 'overhead']).toContain(op.bound);
        expect(op.timeS).toBeGreaterThan(0);
        expect(typeof op.dramBytes).toBe('number');
        expect(typeof op.energyJ).toBe('number');
      }
      // The breakdown explains the step: operator times plus the per-step overhead.
      const sum = ops.reduce((a, o) => a + o.timeS, 0);
      expect(sum).toBeLessThanOrEqual((p.stepTimeS as number) * (1 + 1e-9));
      expect(sum).toBeGreaterThan((p.stepTimeS as number) * 0.5);
    }
    // Tokens per second are consistent with the step time and the batch.
    expect(out.decode!.systemTokensPerS as number).toBeCloseTo(8 / (out.decode!.stepTimeS as number), 6);
    expect(out.prefill!.systemTokensPerS as number).toBeCloseTo((8 * 512) / (out.prefill!.stepTimeS as number), 3);
    const m = out.memory!;
    for (const k of ['footprintBytes', 'capacityBytes']) expect(typeof m[k]).toBe('number');
    expect(m.fits).toBe(true);
    expect(m.footprintBytes as number).toBeLessThan(m.capacityBytes as number);
    expect(typeof out.power).toBe('object');
    expect(typeof out.thermal).toBe('object');
    expect(Array.isArray(out.thermal!.layers)).toBe(true);
  });

  it('validate --json exits 0, reports every dataset, and the held-out GEMM and HBM MAPE is <= 10%', () => {
    const r = strata(['validate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      rows: { file: string; measured: number; model: number; errorPct: number; use: string }[];
      summary: { file: string; rows: number; mapePct: number; checkMapePct: number }[];
    };
    for (const f of ['gemm_tflops.csv', 'hbm_stream.csv', 'decode_batch1.csv']) {
      const rows = out.rows.filter((x) => x.file === f);
      expect(rows.length, f).toBeGreaterThan(0);
      for (const x of rows) {
        expect(Number.isFinite(x.model) && x.model > 0, `${f} model value`).toBe(true);
        expect(x.errorPct).toBeCloseTo((100 * (x.model - x.measured)) / x.measured, 6);
      }
      const s = out.summary.find((x) => x.file === f);
      expect(s, f).toBeDefined();
      expect(s!.rows).toBe(rows.length);
      const checks = rows.filter((x) => x.use === 'check');
      expect(checks.length, `${f} has held-out rows`).toBeGreaterThan(0);
      const mape = checks.reduce((a, x) => a + Math.abs(x.errorPct), 0) / checks.length;
      expect(s!.checkMapePct).toBeCloseTo(mape, 6);
      if (f !== 'decode_batch1.csv') expect(mape, `${f} held-out MAPE`).toBeLessThanOrEqual(10);
    }
  });
});

// Other commands' flags and files (found by an audit of every command's bad input): refused with
// exit 2 and the field named, not crashed on, ignored or read as something else.
describe('other commands refuse bad input with exit code 2', () => {
  const notPem = () => {
    const p = join(tmpDir(), 'not.pem');
    writeFileSync(p, 'not a certificate\n');
    return p;
  };
  const token = () => {
    const p = join(tmpDir(), 'token');
    writeFileSync(p, 'config-errors-token\n');
    return ['--token-file', p];
  };
  const others: Bad[] = [
    {
      name: 'serve: a workload whose shortest prompt is longer than the model context',
      args: () => {
        const w = { name: 'long', arrival: { kind: 'poisson', ratePerS: 1 }, input: { kind: 'lognormal', mean: 15000, sigma: 0.8, min: 10000, max: 20000 }, output: { kind: 'fixed', tokens: 100 } };
        return ['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--requests', '20', '--workload', writeJson('long-workload.json', w)];
      },
      expect: () => ['$.input.min', '10000', /fits the model's context of 8192 tokens/],
    },
    {
      name: 'serve --seed abc',
      args: () => ['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--requests', '20', '--workload', 'chat', '--seed', 'abc'],
      expect: () => ['--seed', '"abc"', /an integer >= 0/],
    },
    {
      name: 'query pareto --where (a filter of best only)',
      args: () => ['query', '--db', join(tmpDir(), 'none.db'), 'pareto', '--where', 'layers=2'],
      expect: () => ['--where', 'layers=2', /query best/],
    },
    {
      name: 'query summary with an extra argument',
      args: () => ['query', '--db', join(tmpDir(), 'none.db'), 'summary', 'extra'],
      expect: () => ['"extra"', /only sql takes a statement/],
    },
    {
      name: 'search: a space whose path names no field of the system (every point would be a config error)',
      args: () => {
        const t = JSON.parse(readFileSync(dataPath('spaces', 'tiny.json'), 'utf8'));
        t.levels[0].dims[0].path = 'package.chiplets[0].memory.nope';
        return ['search', '--space', writeJson('space-nope.json', t), '--db', join(tmpDir(), 'none.db')];
      },
      expect: () => ['$.levels[0].dims[0].path', 'memory.nope', /a field of the system schema/],
    },
    {
      name: 'space show: a value of the wrong type for its field',
      args: () => {
        const t = JSON.parse(readFileSync(dataPath('spaces', 'tiny.json'), 'utf8'));
        t.levels[1].dims[0].values = ['big', 64];
        return ['space', 'show', writeJson('space-type.json', t)];
      },
      expect: () => ['$.levels[1].dims[0].values[0]', '"big"', /a number like/],
    },
    {
      name: 'space count: an unknown base system',
      args: () => {
        const t = JSON.parse(readFileSync(dataPath('spaces', 'tiny.json'), 'utf8'));
        t.base.system = 'nosuch';
        return ['space', 'count', writeJson('space-base.json', t)];
      },
      expect: () => ['$.base.system', 'nosuch'],
    },
    {
      name: 'coordinator --listen on an address this host does not have (bind only: no traffic)',
      args: () => ['coordinator', '--space', 'tiny', '--db', join(tmpDir(), 'tls1.db'), '--listen', '192.0.2.1:5000', ...token()],
      expect: () => ['--listen', '192.0.2.1:5000', /an address this host can listen on/],
    },
    {
      name: 'eval --microbatches over the sequences of a replica (they would be cut silently)',
      args: () => ['eval', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--pp', '2', '--batch', '4', '--microbatches', '5'],
      expect: () => ['--microbatches', '5', /<= the 4 sequences per DP replica/],
    },
    {
      name: 'serve --prefill-replicas with a colocated scheduler (it would be ignored)',
      args: () => ['serve', '--system', 'h100-sxm', '--model', 'llama-3-8b', '--dp', '4', '--workload', 'chat', '--scheduler', 'static', '--prefill-replicas', '2'],
      expect: () => ['--prefill-replicas', /only with --scheduler disaggregated/],
    },
    {
      name: 'worker --tls-server-name without TLS (it would connect in plaintext)',
      args: () => ['worker', '--coordinator', '127.0.0.1:1', '--tls-server-name', 'x', ...token()],
      expect: () => ['--tls-server-name', /with --tls-ca/],
    },
    {
      name: 'status with both --db and --coordinator',
      args: () => ['status', '--db', join(tmpDir(), 'none.db'), '--coordinator', '127.0.0.1:1', ...token()],
      expect: () => ['--db', /no --db with --coordinator/],
    },
    {
      name: 'eval: an unknown field of a system is named by its own path, not its parent object',
      args: () => {
        const j = systemJson('h100-sxm');
        setAt(j, ['package', 'chiplets', 0, 'memory', 'foo'], 1);
        return ['eval', '--system', writeJson('unknown-field.json', j), '--model', 'llama-3-8b'];
      },
      expect: () => ['$.package.chiplets[0].memory.foo', /no field "foo"/],
    },
    {
      name: 'validate: a data file with a header and no rows',
      args: () => ['validate', '--data', dataFile('gemm_tflops.csv', [GEMM_HEADER])],
      expect: () => ['gemm_tflops.csv', /at least one data row/],
    },
    {
      name: 'coordinator --tls-cert without --tls-key',
      args: () => ['coordinator', '--space', 'tiny', '--db', join(tmpDir(), 'tls1.db'), '--listen', '127.0.0.1:0', '--tls-cert', notPem(), ...token()],
      expect: () => ['--tls-key', /go together/],
    },
    {
      name: 'coordinator --tls-ca alone',
      args: () => ['coordinator', '--space', 'tiny', '--db', join(tmpDir(), 'tls2.db'), '--listen', '127.0.0.1:0', '--tls-ca', notPem(), ...token()],
      expect: () => ['--tls-ca', /--tls-cert and --tls-key/],
    },
    {
      name: 'coordinator --tls-cert/--tls-key that are not PEM',
      args: () => ['coordinator', '--space', 'tiny', '--db', join(tmpDir(), 'tls3.db'), '--listen', '127.0.0.1:0', '--tls-cert', notPem(), '--tls-key', notPem(), ...token()],
      expect: () => ['--tls-cert', 'not.pem', /a PEM file with a certificate/],
    },
    {
      name: 'worker --tls-ca that is not a certificate (refused at once, not retried)',
      args: () => ['worker', '--coordinator', '127.0.0.1:1', '--tls-ca', notPem(), ...token()],
      expect: () => ['--tls-ca', 'not.pem', /a PEM file with a certificate/],
    },
  ];
  for (const c of others) {
    it(c.name, () => {
      expectRefused(strata(c.args()), c.expect());
      for (const db of ['tls1.db', 'tls2.db', 'tls3.db', 'none.db']) expect(existsSync(join(tmpDir(), db)), `${db} not written`).toBe(false);
    });
  }
});

describe('runtime failures from outside the program', () => {
  it('status --coordinator with nothing listening: exit 1, the reason, no stack trace', () => {
    const r = strata(['status', '--coordinator', '127.0.0.1:1', '--token-file', (() => {
      const p = join(tmpDir(), 'token-status');
      writeFileSync(p, 't\n');
      return p;
    })()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/status of 127\.0\.0\.1:1: UNAVAILABLE/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
