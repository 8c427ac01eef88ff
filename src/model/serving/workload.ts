// Serving workloads (DESIGN 2.7): arrival process, input/output length distributions and SLOs.
// Pure: a trace is passed in as CSV text (the CLI reads the file).
import { z } from 'zod';
import { ConfigError, parseWith } from '../errors.js';
import { Rng, invNormal } from './rng.js';

const posNum = (what: string) => z.number({ error: `a number (${what})` }).finite().positive({ error: `a positive number (${what})` });
const posInt = (what: string) => z.number({ error: `an integer (${what})` }).int({ error: `an integer (${what})` }).positive({ error: `a positive integer (${what})` });

const lengthSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('fixed'), tokens: posInt('tokens of every request') }),
    z
      .strictObject({ kind: z.literal('uniform'), min: posInt('smallest length'), max: posInt('largest length') })
      .refine((u) => u.max >= u.min, { error: 'max >= min', path: ['max'] }),
    z
      .strictObject({
        kind: z.literal('lognormal'),
        /** Mean of the untruncated lognormal, tokens. */
        mean: posNum('mean tokens before clamping'),
        /** Standard deviation of ln(length). */
        sigma: z.number({ error: 'a number (sigma of ln length)' }).min(0, { error: 'sigma >= 0' }).max(4, { error: 'sigma <= 4' }),
        min: posInt('clamp: smallest length').optional(),
        max: posInt('clamp: largest length').optional(),
      })
      .refine((u) => u.min === undefined || u.max === undefined || u.max >= u.min, { error: 'max >= min', path: ['max'] }),
    z.strictObject({ kind: z.literal('trace') }),
  ],
  { error: 'a length distribution: {"kind": "fixed" | "uniform" | "lognormal" | "trace", ...}' },
);

const traceRowSchema = z.strictObject({ arrivalS: z.number().finite().nonnegative(), inputTokens: posInt('input'), outputTokens: posInt('output') });

const arrivalSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('poisson'), ratePerS: posNum('requests per second') }),
    z.strictObject({ kind: z.literal('gamma'), ratePerS: posNum('requests per second'), cv: posNum('coefficient of variation of inter-arrival times') }),
    z.strictObject({
      kind: z.literal('closed'),
      concurrency: posInt('clients, each with one request in flight'),
      thinkTimeS: z.number().finite().nonnegative({ error: 'a number >= 0 (think time)' }).default(0),
    }),
    z.strictObject({
      kind: z.literal('trace'),
      /** CSV with columns arrival_s,input_tokens,output_tokens (relative to the workload file). */
      file: z.string().min(1).optional(),
      /** The trace rows themselves (filled in by the loader from `file`). */
      rows: z.array(traceRowSchema).min(1, { error: 'at least one request' }).optional(),
    }),
  ],
  { error: 'an arrival process: {"kind": "poisson" | "gamma" | "closed" | "trace", ...}' },
);

export const workloadSchema = z
  .strictObject({
    name: z.string().default('workload'),
    description: z.string().optional(),
    sources: z.array(z.string()).optional(),
    arrival: arrivalSchema,
    input: lengthSchema,
    output: lengthSchema,
    slo: z
      .strictObject({
        ttftMs: posNum('time-to-first-token limit, ms'),
        tpotMs: posNum('time-per-output-token limit, ms'),
        percentile: z.number().gt(0, { error: 'a percentile in (0, 100)' }).lt(100, { error: 'a percentile in (0, 100)' }).default(99),
      })
      .default({ ttftMs: 2000, tpotMs: 200, percentile: 99 }),
  })
  .superRefine((w, ctx) => {
    const traceLen = w.input.kind === 'trace' || w.output.kind === 'trace';
    if (traceLen && w.arrival.kind !== 'trace')
      ctx.addIssue({ code: 'custom', path: [w.input.kind === 'trace' ? 'input' : 'output', 'kind'], message: '"trace" lengths need a "trace" arrival process' });
    if (w.arrival.kind === 'trace' && !w.arrival.file && !w.arrival.rows)
      ctx.addIssue({ code: 'custom', path: ['arrival', 'file'], message: 'a trace CSV file (or rows)' });
  });

export type Workload = z.output<typeof workloadSchema>;
export type LengthSpec = Workload['input'];
export type ArrivalSpec = Workload['arrival'];
export interface TraceRow {
  arrivalS: number;
  inputTokens: number;
  outputTokens: number;
}

export function parseWorkload(json: unknown, source = ''): Workload {
  return parseWith(workloadSchema, json, source);
}

/** Parses a trace CSV (header: arrival_s,input_tokens,output_tokens; # comments). */
export function parseTraceCsv(text: string, source = 'trace'): TraceRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (lines.length < 2) throw new ConfigError(source, lines.length, 'a header and at least one row');
  const header = lines[0]!.split(',').map((s) => s.trim().toLowerCase());
  const col = (n: string) => {
    const i = header.indexOf(n);
    if (i < 0) throw new ConfigError(`${source}: header`, header.join(','), `a column "${n}" (arrival_s,input_tokens,output_tokens)`);
    return i;
  };
  const [ia, ii, io] = [col('arrival_s'), col('input_tokens'), col('output_tokens')];
  const rows: TraceRow[] = [];
  let last = -Infinity;
  for (let r = 1; r < lines.length; r++) {
    const cells = lines[r]!.split(',').map((s) => s.trim());
    const a = Number(cells[ia]);
    const i = Number(cells[ii]);
    const o = Number(cells[io]);
    if (!Number.isFinite(a) || a < 0) throw new ConfigError(`${source}: row ${r}.arrival_s`, cells[ia], 'a time >= 0 in seconds');
    if (a < last) throw new ConfigError(`${source}: row ${r}.arrival_s`, a, `>= the previous arrival (${last}): rows sorted by time`);
    if (!Number.isInteger(i) || i < 1) throw new ConfigError(`${source}: row ${r}.input_tokens`, cells[ii], 'a positive integer');
    if (!Number.isInteger(o) || o < 1) throw new ConfigError(`${source}: row ${r}.output_tokens`, cells[io], 'a positive integer');
    last = a;
    rows.push({ arrivalS: a, inputTokens: i, outputTokens: o });
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------
// Length distributions: inverse-CDF sampling and moments from a quantile grid (same function for both,
// so the analytic model sees the distribution the simulator samples).

export interface LengthDist {
  /** Integer length at cumulative probability p in (0, 1). */
  quantile(p: number): number;
  sample(rng: Rng): number;
  mean: number;
  /** E[x^2]. */
  meanSq: number;
  max: number;
}

const GRID = 512;

function fromQuantile(q: (p: number) => number): LengthDist {
  let s = 0;
  let s2 = 0;
  let mx = 0;
  for (let i = 0; i < GRID; i++) {
    const v = q((i + 0.5) / GRID);
    s += v;
    s2 += v * v;
  }
  mx = q(1 - 1e-9);
  return { quantile: q, sample: (rng) => q(rng.uniform()), mean: s / GRID, meanSq: s2 / GRID, max: mx };
}

function fromValues(vals: number[]): LengthDist {
  const sorted = [...vals].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  const meanSq = sorted.reduce((a, b) => a + b * b, 0) / n;
  return { quantile: (p) => sorted[Math.min(n - 1, Math.floor(p * n))]!, sample: (rng) => sorted[Math.floor(rng.uniform() * n)]!, mean, meanSq, max: sorted[n - 1]! };
}

/** A length distribution, clamped to [1, cap] (cap: what the model's context allows). */
export function lengthDist(spec: LengthSpec, cap: number, trace?: number[]): LengthDist {
  const clamp = (v: number, lo = 1, hi = cap) => Math.max(lo, Math.min(hi, cap, Math.round(v)));
  switch (spec.kind) {
    case 'fixed':
      return fromQuantile(() => clamp(spec.tokens));
    case 'uniform':
      return fromQuantile((p) => clamp(spec.min + Math.floor(p * (spec.max - spec.min + 1))));
    case 'lognormal': {
      const mu = Math.log(spec.mean) - (spec.sigma * spec.sigma) / 2;
      return fromQuantile((p) => clamp(Math.exp(mu + spec.sigma * invNormal(p)), spec.min ?? 1, spec.max ?? cap));
    }
    case 'trace':
      if (!trace || trace.length === 0) throw new ConfigError('trace', trace?.length ?? 0, 'trace rows for a "trace" length distribution');
      return fromValues(trace.map((v) => clamp(v)));
  }
}

/** Squared coefficient of variation of inter-arrival times (1 for Poisson). */
export function arrivalCv2(a: ArrivalSpec): number {
  if (a.kind === 'gamma') return a.cv * a.cv;
  if (a.kind === 'trace' && a.rows && a.rows.length > 2) {
    const gaps = a.rows.slice(1).map((r, i) => r.arrivalS - a.rows![i]!.arrivalS);
    const m = gaps.reduce((x, y) => x + y, 0) / gaps.length;
    const v = gaps.reduce((x, y) => x + (y - m) ** 2, 0) / gaps.length;
    return m > 0 ? v / (m * m) : 1;
  }
  return 1;
}

/** Offered arrival rate of an open-loop workload (requests/s), undefined for a closed loop. */
export function arrivalRate(a: ArrivalSpec): number | undefined {
  if (a.kind === 'poisson' || a.kind === 'gamma') return a.ratePerS;
  if (a.kind === 'trace' && a.rows && a.rows.length > 1) {
    const span = a.rows[a.rows.length - 1]!.arrivalS - a.rows[0]!.arrivalS;
    return span > 0 ? (a.rows.length - 1) / span : undefined;
  }
  return undefined;
}

/** A workload with its arrival replaced (a rate sweep, or a closed loop at a concurrency). */
export function withArrival(w: Workload, a: { ratePerS?: number; concurrency?: number }): Workload {
  if (a.concurrency !== undefined) return { ...w, arrival: { kind: 'closed', concurrency: a.concurrency, thinkTimeS: 0 } };
  if (a.ratePerS !== undefined) {
    if (w.arrival.kind === 'gamma') return { ...w, arrival: { ...w.arrival, ratePerS: a.ratePerS } };
    if (w.arrival.kind === 'trace' && w.arrival.rows) {
      // Rescale the trace's clock to the new rate.
      const r0 = arrivalRate(w.arrival);
      const f = r0 ? r0 / a.ratePerS : 1;
      return { ...w, arrival: { ...w.arrival, rows: w.arrival.rows.map((r) => ({ ...r, arrivalS: r.arrivalS * f })) } };
    }
    return { ...w, arrival: { kind: 'poisson', ratePerS: a.ratePerS } };
  }
  return w;
}

export interface LengthModel {
  input: LengthDist;
  output: LengthDist;
}

/** The shortest length a distribution can give (its clamp's floor). */
function shortest(spec: LengthSpec, trace?: number[]): number {
  switch (spec.kind) {
    case 'fixed':
      return spec.tokens;
    case 'uniform':
      return spec.min;
    case 'lognormal':
      return spec.min ?? 1;
    case 'trace':
      return trace && trace.length > 0 ? trace.reduce((a, b) => Math.min(a, b), Infinity) : 1;
  }
}

/** Input/output distributions of a workload for a model of `maxContext` positions. Lengths beyond
 *  the context are clamped to it; a workload whose shortest request cannot fit (its shortest
 *  prompt, plus one output token, over the context) is refused, naming the field. */
export function lengthsOf(w: Workload, maxContext: number): LengthModel {
  const rows = w.arrival.kind === 'trace' ? w.arrival.rows : undefined;
  const inMin = shortest(w.input, rows?.map((r) => r.inputTokens));
  const outMin = shortest(w.output, rows?.map((r) => r.outputTokens));
  if (inMin + outMin > maxContext) {
    const field = w.input.kind === 'fixed' ? '$.input.tokens' : w.input.kind === 'trace' ? '$.arrival.rows' : '$.input.min';
    throw new ConfigError(`${w.name}: ${field}`, inMin, `a shortest prompt that fits the model's context of ${maxContext} tokens with the shortest output (${outMin})`);
  }
  const capIn = Math.max(1, maxContext - 1);
  const input = lengthDist(w.input, capIn, rows?.map((r) => r.inputTokens));
  const output = lengthDist(w.output, Math.max(1, maxContext - Math.min(input.max, capIn)), rows?.map((r) => r.outputTokens));
  return { input, output };
}

export interface RequestSet {
  /** Arrival times (s), NaN for closed-loop requests (set when a client issues them). */
  arrivalS: Float64Array;
  input: Int32Array;
  output: Int32Array;
}

/** N requests of a workload, reproducible from the seed (separate streams for times and lengths). */
export function generateRequests(w: Workload, n: number, seed: number, maxContext: number): RequestSet {
  const lm = lengthsOf(w, maxContext);
  const arrivalS = new Float64Array(n);
  const input = new Int32Array(n);
  const output = new Int32Array(n);
  const ra = new Rng(seed, 1);
  const ri = new Rng(seed, 2);
  const ro = new Rng(seed, 3);
  const a = w.arrival;
  const rows = a.kind === 'trace' ? a.rows! : undefined;
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (a.kind === 'poisson') t += ra.exponential(1 / a.ratePerS);
    else if (a.kind === 'gamma') {
      const k = 1 / (a.cv * a.cv);
      t += ra.gamma(k) / (k * a.ratePerS);
    } else if (a.kind === 'closed') t = NaN;
    else {
      // Trace: replayed in order; longer runs wrap around, shifted by the trace's span.
      const r = rows![i % rows!.length]!;
      const span = rows![rows!.length - 1]!.arrivalS - rows![0]!.arrivalS;
      const gap = rows!.length > 1 ? span / (rows!.length - 1) : 1;
      t = r.arrivalS + Math.floor(i / rows!.length) * (span + gap);
    }
    arrivalS[i] = t;
    const cap = maxContext;
    const inp = rows && w.input.kind === 'trace' ? rows[i % rows.length]!.inputTokens : lm.input.sample(ri);
    input[i] = Math.max(1, Math.min(cap - 1, inp));
    const out = rows && w.output.kind === 'trace' ? rows[i % rows.length]!.outputTokens : lm.output.sample(ro);
    output[i] = Math.max(1, Math.min(cap - input[i]!, out));
  }
  return { arrivalS, input, output };
}
