// Analytic steady-state serving model (DESIGN 2.7), for the search's inner loop. It uses the same
// StepTable as the simulator and a small fixed point on the steady-state decode batch:
//   open loop at rate X:  B = X E[o] tau(B),  tau(B) = dec(B) + X tau(B) M(B)   (o = output - 1)
//   closed loop of C:     C = X (TTFT + E[o] tau)
// with B capped by the max batch and the KV capacity (time-average context per sequence). Past
// the cap the system saturates: throughput stops following the load and the queue grows.
import type { PreparedServing, Pool } from './design.js';
import { decodePool, packagesStaticW, poolStaticW } from './design.js';
import { normalCdf } from './rng.js';
import { arrivalCv2, arrivalRate, lengthsOf, type LengthDist, type Workload } from './workload.js';

export interface AnalyticResult {
  scheduler: string;
  /** Offered load (open loop) or undefined (closed loop). */
  offeredRequestsPerS?: number;
  concurrency?: number;
  /** False when the offered load exceeds capacity: queues grow without bound. */
  stable: boolean;
  requestsPerS: number;
  /** Saturation throughput of the design for this workload, requests/s. */
  maxRequestsPerS: number;
  systemTokensPerS: number;
  userTokensPerS: number;
  ttftS: { mean: number; atPercentile: number };
  tpotS: { mean: number; atPercentile: number };
  slo: { percentile: number; ttftMs: number; tpotMs: number; attainment: number; met: boolean };
  goodputTokensPerS: number;
  energyPerTokenJ: number;
  tokensPerSPerW: number;
  decodeBatch: number;
  /** Decode batch limit: min(max batch, KV capacity / mean context). */
  batchLimit: number;
  stepS: number;
}

const QN = 16; // quantile points of the output distribution for tails and ratios

interface Moments {
  Li: number;
  Lo: number;
  /** Decode steps per request o = output - 1: mean, E[1/o] over o > 0, quantile grid. */
  Eo: number;
  oGrid: number[];
  inGrid: number[];
  ctxBar: number;
  cvO2: number;
}

function moments(inp: LengthDist, out: LengthDist): Moments {
  const Li = inp.mean;
  const Lo = out.mean;
  const Eo = Math.max(0, Lo - 1);
  const Eo2 = out.meanSq - 2 * Lo + 1;
  const ctxBar = Eo > 0 ? Li + (Eo2 - Eo) / (2 * Eo) : Li;
  const oGrid: number[] = [];
  for (let i = 0; i < QN; i++) oGrid.push(out.quantile((i + 0.5) / QN) - 1);
  const inGrid = [1 / 6, 0.5, 5 / 6].map((p) => inp.quantile(p));
  return { Li, Lo, Eo, oGrid, inGrid, ctxBar, cvO2: Eo > 0 ? Math.max(0, Eo2 - Eo * Eo) / (Eo * Eo) : 0 };
}

/** Time and energy of a decode-only step of B sequences at context ctx. */
function dec(pool: Pool, B: number, ctx: number): [number, number] {
  const t = pool.table.cost(B, ctx, null, 0);
  return [t, pool.table.energyJ];
}

const piece = [{ tokens: 0, context: 0 }];
/** Extra time/energy that one prompt of `len` tokens adds to steps at decode batch B, in chunks of c. */
function promptExtra(pool: Pool, B: number, _ctx: number, len: number, chunk: number): [number, number] {
  const ctx = 0; // decode attention cancels in the difference
  const [t0, e0] = dec(pool, B, ctx);
  const k = Math.max(1, Math.ceil(len / chunk));
  const c = len / k;
  piece[0]!.tokens = c;
  piece[0]!.context = (len - c) / 2;
  const t = pool.table.cost(B, ctx, piece, 1);
  return [k * (t - t0), k * (pool.table.energyJ - e0)];
}

// Extra time per prompt. Chunked: the sum over its chunks. Continuous: prompts that arrive in the
// same step share it (their linear work batches together), so the extra is averaged over a
// Poisson number K of prompts per step (mean mu = X tau) and divided by mu.
function mixExtra(pool: Pool, m: Moments, chunked: boolean, B: number, mu: number): [number, number] {
  const chunkOf = (b: number) => (chunked ? Math.max(1, pool.tokenBudget - b) : Infinity);
  let t = 0;
  let e = 0;
  if (mu < 1e-3) {
    for (const len of m.inGrid) {
      const [a, b] = promptExtra(pool, B, m.ctxBar, len, chunkOf(B));
      t += a;
      e += b;
    }
    return [t / m.inGrid.length, e / m.inGrid.length];
  }
  // Past a few hundred prompts a step the demand is far over any step's budget and the cost per prompt
  // no longer changes with mu; capped there, the Poisson weights (e^-mu) do not underflow to 0/0 (a
  // prompt-only workload, E[o] = 0, has mu = max batch / 1e-9).
  mu = Math.min(mu, MU_MAX);
  // The decode attention is the same with and without the prompts: it cancels (context 0 here).
  const [t0, e0] = dec(pool, B, 0);
  const kMax = Math.ceil(mu + 4 * Math.sqrt(mu) + 2);
  let pk = Math.exp(-mu);
  let wsum = pk;
  // Prefill tokens one step can take: the chunk room (chunked) or the prompt budget, at least one
  // whole prompt (continuous). Work beyond it is carried to later steps at the same cost rate.
  const cap = chunked ? chunkOf(B) : Math.max(m.Li, pool.tokenBudget);
  for (let k = 1; k <= kMax; k++) {
    pk *= mu / k;
    wsum += pk;
    const demand = k * m.Li;
    const y = Math.min(demand, cap);
    const n = Math.max(1, Math.min(k, Math.ceil(y / m.Li - 1e-9)));
    while (pieces.length < n) pieces.push({ tokens: 0, context: 0 });
    for (let i = 0; i < n; i++) {
      pieces[i]!.tokens = y / n;
      pieces[i]!.context = chunked ? Math.max(0, (m.Li - y / n) / 2) : 0;
    }
    const tk = pool.table.cost(B, 0, pieces, n);
    t += pk * (tk - t0) * (demand / y);
    e += pk * (pool.table.energyJ - e0) * (demand / y);
  }
  return [t / wsum / mu, e / wsum / mu];
}
const pieces: { tokens: number; context: number }[] = [];
/** Largest mean number of prompts joining a step that mixExtra weighs exactly (e^-500 is still a double). */
const MU_MAX = 500;

/** Sakasegawa's M/G/c waiting time with Allen-Cunneen variability; P(wait) estimate. */
function queueWait(rho: number, c: number, service: number, ca2: number, cs2: number): { mean: number; pWait: number } {
  if (rho <= 0) return { mean: 0, pWait: 0 };
  if (rho >= 1) return { mean: Infinity, pWait: 1 };
  const pWait = Math.min(1, rho ** (Math.sqrt(2 * (c + 1)) - 1));
  return { mean: (((ca2 + cs2) / 2) * pWait * service) / (c * (1 - rho)), pWait };
}

/** Quantile of base + W where W has an atom at 0 and an exponential tail of the given mean. */
function waitQuantile(mean: number, pWait: number, p: number): number {
  if (!(mean > 0) || pWait <= 1 - p) return 0;
  if (!Number.isFinite(mean)) return Infinity;
  const cond = mean / pWait;
  return cond * Math.log(pWait / (1 - p));
}
function waitSurvival(mean: number, pWait: number, x: number): number {
  if (!(mean > 0)) return x < 0 ? 1 : 0;
  if (!Number.isFinite(mean)) return 1;
  if (x < 0) return 1;
  return pWait * Math.exp((-x * pWait) / mean);
}

/**
 * Per-request TPOT = base + (extra per interfering event) K / o, K ~ Poisson(rate o). The
 * P(TPOT > x) mixture over the o-grid; quantile by bisection.
 */
function tpotTail(base: number, extra: number, rate: number, oGrid: number[], x: number): number {
  let s = 0;
  let n = 0;
  for (const o of oGrid) {
    if (o <= 0) continue;
    n++;
    if (extra <= 0 || rate <= 0) {
      s += x < base ? 1 : 0;
      continue;
    }
    const mu = rate * o;
    const y = ((x - base) * o) / extra; // events allowed
    s += 1 - normalCdf((y + 0.5 - mu) / Math.sqrt(mu + 1e-12));
  }
  return n > 0 ? s / n : 0;
}
function tpotQuantile(base: number, extra: number, rate: number, oGrid: number[], p: number): number {
  let lo = base;
  let hi = base + extra * 4 + 1e-9;
  while (tpotTail(base, extra, rate, oGrid, hi) > 1 - p && hi < 1e6) hi = base + (hi - base) * 2;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (tpotTail(base, extra, rate, oGrid, mid) > 1 - p) lo = mid;
    else hi = mid;
  }
  return hi;
}

interface Point {
  X: number;
  B: number;
  tau: number;
  ttftMean: number;
  ttftP: number;
  ttftSurv: (x: number) => number;
  tpotMean: number;
  tpotP: number;
  tpotSurv: (x: number) => number;
  energyPerTokenJ: number;
}

/** Steady state of a colocated continuous/chunked pool at throughput X (requests/s). */
function colocatedAt(pool: Pool, m: Moments, X: number, chunked: boolean, closed: boolean, ca2: number, Xmax: number, Bmax: number, pct: number): Point {
  const chunkOf = (B: number) => (chunked ? Math.max(1, pool.tokenBudget - B) : Infinity);
  // Fixed point on B (monotone; a few iterations of B <- X E[o] tau(B)).
  let B = Math.min(Bmax, X * m.Eo * dec(pool, 1, m.ctxBar)[0]);
  let tau = 0;
  let M = 0;
  let eMix = 0;
  let eDec = 0;
  tau = dec(pool, Math.max(B, 1e-6), m.ctxBar)[0];
  for (let i = 0; i < 40; i++) {
    const [td, ed] = dec(pool, Math.max(B, 1e-6), m.ctxBar);
    [M, eMix] = mixExtra(pool, m, chunked, B, X * tau);
    tau = td / Math.max(1e-9, 1 - X * M);
    eDec = ed;
    const nb = Math.min(Bmax, X * m.Eo * tau);
    if (Math.abs(nb - B) < 1e-3 * Math.max(1, B)) {
      B = nb;
      break;
    }
    B = nb;
  }
  const [td] = dec(pool, Math.max(B, 1e-6), m.ctxBar);
  const kChunks = chunked ? Math.max(1, Math.ceil(m.Li / chunkOf(B))) : 1;
  // Interference: prefill events (chunks) at rate X k per second, each adding M/k to a step.
  const extra = M / kChunks;
  const eventRatePerStep = X * kChunks * tau;
  const q = Math.min(1, eventRatePerStep);
  const tauLong = td + extra;
  const residual = (q * tauLong * tauLong + (1 - q) * td * td) / (2 * (q * tauLong + (1 - q) * td));
  const nSys = X * (m.Eo * tau + kChunks * tauLong);
  const busy = 1 - Math.exp(-nSys);
  const rho = Xmax > 0 ? X / Xmax : 1;
  const service = m.Eo * tau + kChunks * tauLong;
  const wq = closed ? { mean: 0, pWait: 0 } : queueWait(rho, Math.max(1, Bmax), service, ca2, m.cvO2);
  const res = closed ? 0 : busy * residual;
  const own = kChunks * tauLong;
  const ttftMean = res + own + wq.mean;
  // TTFT tail: longest prompts take proportionally more chunk steps / a longer mixed step.
  const inP = m.inGrid[m.inGrid.length - 1]!;
  const ownP = chunked ? Math.ceil(inP / chunkOf(B)) * tauLong : td + extra * (inP / Math.max(1, m.Li));
  const ttftP = (closed ? 0 : busy * tauLong) + ownP + waitQuantile(wq.mean, wq.pWait, pct / 100);
  const ttftSurv = (x: number) => waitSurvival(wq.mean, wq.pWait, x - own - res);
  const rate = eventRatePerStep; // events per decode step of a request
  // A decoding request sees itself plus the others (Palm: B + 1 at low load), and the prompts
  // that arrived during its own prefill step join the steps right after it (inspection effect).
  const tdSeen = dec(pool, B + 1, m.ctxBar)[0];
  let invO = 0;
  let nO = 0;
  for (const o of m.oGrid) if (o > 0) { invO += 1 / o; nO++; }
  invO = nO > 0 ? invO / nO : 0;
  const inspect = chunked ? 0 : X * tauLong * M * invO;
  const tpotMean = tdSeen + (tau - td) + inspect;
  const tpotP = tpotQuantile(tdSeen, extra, rate, m.oGrid, pct / 100);
  const tokensPerS = X * m.Lo;
  const energyRate = (eDec + X * tau * eMix) / tau;
  return {
    X, B, tau, ttftMean, ttftP, ttftSurv, tpotMean, tpotP,
    tpotSurv: (x) => tpotTail(tdSeen, extra, rate, m.oGrid, x),
    energyPerTokenJ: tokensPerS > 0 ? energyRate / tokensPerS : NaN,
  };
}

export interface AnalyticOptions {
  /** Override the workload's arrival: an open-loop rate or a closed-loop concurrency. */
  ratePerS?: number;
  concurrency?: number;
}

// Per design: length moments and saturation points, keyed by the workload's length specs.
const designCache = new WeakMap<PreparedServing, Map<string, { m: Moments; out: LengthDist; xmax?: number }>>();

export function analyze(p: PreparedServing, w: Workload, opt: AnalyticOptions = {}): AnalyticResult {
  let dc = designCache.get(p);
  if (!dc) designCache.set(p, (dc = new Map()));
  const key = w.arrival.kind === 'trace' ? '' : JSON.stringify([w.input, w.output]);
  let hit = key ? dc.get(key) : undefined;
  if (!hit) {
    const { input, output } = lengthsOf(w, p.maxContext);
    hit = { m: moments(input, output), out: output };
    if (key) dc.set(key, hit);
  }
  const m = hit.m;
  const output = hit.out;
  const cached = hit;
  const kind = p.scheduler.kind;
  const closedC = opt.concurrency ?? (opt.ratePerS === undefined && w.arrival.kind === 'closed' ? w.arrival.concurrency : undefined);
  const lambda = closedC === undefined ? (opt.ratePerS ?? arrivalRate(w.arrival)) : undefined;
  if (closedC === undefined && lambda === undefined) throw new Error('analyze: the workload has neither a rate nor a concurrency');
  const ca2 = arrivalCv2(w.arrival);
  const pct = w.slo.percentile;
  const dp = decodePool(p);
  const wm = p.scheduler.kvWatermark ?? 0.01;
  const Bkv = (dp.kvCapacityTokens * (1 - wm)) / Math.max(1, m.ctxBar + 1);
  const Bmax = Math.max(1, Math.min(dp.maxBatch, Bkv));

  let pointAt: (X: number, closed: boolean) => Point;
  let Xmax: number;

  if (kind === 'continuous' || kind === 'chunked') {
    const chunked = kind === 'chunked';
    // Saturation: B = Bmax, X = Bmax / (E[o] dec + Bmax M).
    // Saturation: B = Bmax decoding, Bmax / E[o] prompts join per step.
    if (cached.xmax === undefined) {
      const [tdMax] = dec(dp, Bmax, m.ctxBar);
      const mu = Bmax / Math.max(m.Eo, 1e-9);
      const [M] = mixExtra(dp, m, chunked, Bmax, Math.min(mu, 1e6));
      cached.xmax = m.Eo > 0 ? mu / (tdMax + mu * M) : 1 / Math.max(1e-12, M);
    }
    Xmax = cached.xmax;
    pointAt = (X, closed) => colocatedAt(dp, m, X, chunked, closed, ca2, Xmax, Bmax, pct);
  } else if (kind === 'static') {
    const cyc = (b: number) => {
      piece[0]!.tokens = m.Li;
      const pre = dp.table.cost(0, 0, null, Math.max(1, Math.round(b)), m.Li);
      const ePre = dp.table.energyJ;
      const [t1, e1] = dec(dp, 1, m.ctxBar);
      const [tb, eb] = dec(dp, Math.max(1, b), m.ctxBar);
      const s = b > 1 ? (tb - t1) / (b - 1) : 0;
      const se = b > 1 ? (eb - e1) / (b - 1) : 0;
      const a = t1 - s;
      const ae = e1 - se;
      // Longest of b outputs sets the number of steps; active sequences thin out as they finish.
      const Mx = Math.max(0, output.quantile(Math.max(0.5, b / (b + 1))) - 1);
      const decodeS = Mx * a + s * b * m.Eo;
      const decodeE = Mx * ae + se * b * m.Eo;
      // Mean TPOT of a request: a + s b (mean fraction of the batch active over its own steps).
      let act = 0;
      let cnt = 0;
      for (const o of m.oGrid) {
        if (o <= 0) continue;
        let frac = 0;
        for (let j = 1; j <= o; j += Math.max(1, Math.floor(o / 16))) {
          let alive = 0;
          for (const o2 of m.oGrid) if (o2 >= j) alive++;
          frac += alive / m.oGrid.length;
          cnt += 0;
        }
        act += frac / Math.ceil(o / Math.max(1, Math.floor(o / 16)));
        cnt++;
      }
      const tpot = a + s * b * (cnt > 0 ? act / cnt : 1);
      return { C: pre + decodeS, pre, tpot, E: ePre + decodeE };
    };
    const bStaticMax = Math.max(1, Math.min(dp.maxBatch, (dp.kvCapacityTokens * (1 - wm)) / (m.Li + m.Lo)));
    const cm = cyc(bStaticMax);
    Xmax = bStaticMax / cm.C;
    pointAt = (X, closed) => {
      // b = arrivals during one cycle (at least 1), capped.
      let b = 1;
      for (let i = 0; i < 40; i++) {
        const nb = Math.min(bStaticMax, Math.max(1, X * cyc(b).C));
        if (Math.abs(nb - b) < 1e-4 * b) {
          b = nb;
          break;
        }
        b = nb;
      }
      const c = cyc(b);
      const busy = Math.min(1, (X * c.C) / b);
      const ttftMean = (closed ? c.C / 2 : busy * (c.C / 2)) + c.pre;
      const ttftP = (closed ? c.C : busy * c.C * (pct / 100)) + c.pre;
      return {
        X, B: b, tau: c.tpot, ttftMean, ttftP,
        ttftSurv: (x) => {
          const r = x - c.pre;
          if (r < 0) return 1;
          return closed ? Math.max(0, 1 - r / c.C) : busy * Math.max(0, 1 - r / c.C);
        },
        tpotMean: c.tpot, tpotP: c.tpot,
        tpotSurv: (x) => (x < c.tpot ? 1 : 0),
        // The cycle's steps count the pool's static power while they run; the package draws it
        // between cycles too (an idle pool below saturation): static over the wall time per token.
        energyPerTokenJ: X > 0 ? (c.E - poolStaticW(dp) * c.C) / (b * m.Lo) + packagesStaticW(p) / (X * m.Lo) : NaN,
      };
    };
  } else {
    // Disaggregated: a prefill pool (prompts batched up to its token budget) and a decode pool.
    const pp = p.prefill!;
    const nMax = Math.max(1, Math.min(pp.maxBatch, Math.floor(pp.tokenBudget / Math.max(1, m.Li))));
    const pre = (n: number): [number, number] => {
      const t = pp.table.cost(0, 0, null, Math.max(1, Math.round(n)), m.Li);
      return [t, pp.table.energyJ];
    };
    const xfer = p.kvTransferS(Math.round(m.Li));
    const [tdMax] = dec(dp, Bmax, m.ctxBar);
    const XmaxD = Bmax / Math.max(1e-12, m.Eo * tdMax);
    const XmaxP = nMax / pre(nMax)[0];
    Xmax = Math.min(XmaxD, XmaxP, p.transferChannels / Math.max(1e-12, xfer));
    let invO = 0;
    let nO = 0;
    for (const o of m.oGrid) if (o > 0) { invO += 1 / o; nO++; }
    invO = nO > 0 ? invO / nO : 0;
    pointAt = (X, closed) => {
      let n = 1;
      for (let i = 0; i < 30; i++) {
        const nn = Math.min(nMax, Math.max(1, X * pre(n)[0]));
        if (Math.abs(nn - n) < 1e-4 * n) { n = nn; break; }
        n = nn;
      }
      const [tp, ep] = pre(n);
      const busyP = Math.min(1, (X * tp) / n);
      const rhoP = X / XmaxP;
      const wqP = closed ? { mean: 0, pWait: 0 } : queueWait(rhoP, 1, tp / n, ca2, 0.25);
      let B = Math.min(Bmax, X * m.Eo * dec(dp, 1, m.ctxBar)[0]);
      for (let i = 0; i < 40; i++) {
        const nb = Math.min(Bmax, X * m.Eo * dec(dp, Math.max(B, 1e-6), m.ctxBar)[0]);
        if (Math.abs(nb - B) < 1e-4 * Math.max(1, B)) { B = nb; break; }
        B = nb;
      }
      const [td, ed] = dec(dp, Math.max(B, 1e-6), m.ctxBar);
      const rhoD = X / XmaxD;
      const wqD = closed ? { mean: 0, pWait: 0 } : queueWait(rhoD, Math.max(1, Bmax), m.Eo * td, 1, m.cvO2);
      const res = closed ? 0 : busyP * tp / 2;
      const ttftMean = res + tp + wqP.mean;
      const lag = xfer + td / 2 + wqD.mean; // transfer, admission at the next decode step
      const tpotMean = td + lag * invO;
      const ttftP = (closed ? 0 : busyP * tp) + tp + waitQuantile(wqP.mean, wqP.pWait, pct / 100);
      const tpotP = td + lag / Math.max(1, m.oGrid.find((o) => o > 0) ?? 1);
      return {
        X, B, tau: td, ttftMean, ttftP,
        ttftSurv: (x) => waitSurvival(wqP.mean, wqP.pWait, x - tp - res),
        tpotMean, tpotP,
        tpotSurv: (x) => {
          let s = 0;
          let k = 0;
          for (const o of m.oGrid) if (o > 0) { k++; if (td + lag / o > x) s++; }
          return k > 0 ? s / k : 0;
        },
        // Dynamic energy of the prefill steps (per prompt) and of the decode steps (per second), plus
        // the packages' static power, counted once per package whichever pool steps or idles (each
        // pool's steps count it over their own time: taken out here).
        energyPerTokenJ: X > 0 ? (X * ((ep - poolStaticW(pp) * tp) / n) + (ed - poolStaticW(dp) * td) / td + packagesStaticW(p)) / (X * m.Lo) : NaN,
      };
    };
  }

  let pt: Point;
  let stable = true;
  if (closedC !== undefined) {
    // Find X with X (TTFT + E[o] TPOT) = C; past saturation the rest wait in the queue.
    const nAt = (X: number) => {
      const q = pointAt(X, true);
      return { q, n: X * (q.ttftMean + m.Eo * q.tpotMean) };
    };
    const top = nAt(Xmax * 0.999999);
    if (top.n <= closedC) {
      const q0 = top.q;
      const extraWait = closedC / q0.X - (q0.ttftMean + m.Eo * q0.tpotMean);
      pt = { ...q0, ttftMean: q0.ttftMean + extraWait, ttftP: q0.ttftP + extraWait, ttftSurv: (x) => q0.ttftSurv(x - extraWait) };
    } else {
      let lo = 0;
      let hi = Xmax;
      let q = top.q;
      for (let i = 0; i < 40; i++) {
        const mid = (lo + hi) / 2;
        const r = nAt(mid);
        if (r.n < closedC) lo = mid;
        else { hi = mid; q = r.q; }
        if (hi - lo < 1e-5 * hi) break;
      }
      pt = q;
    }
  } else {
    const X = lambda!;
    if (X >= Xmax) {
      stable = false;
      const q = pointAt(Xmax * 0.999999, false);
      pt = { ...q, ttftMean: Infinity, ttftP: Infinity, ttftSurv: () => 1 };
    } else pt = pointAt(X, false);
  }
  const ttftT = w.slo.ttftMs / 1e3;
  const tpotT = w.slo.tpotMs / 1e3;
  // No request has a second token (1-token outputs): no TPOT (NaN), and its SLO holds vacuously.
  if (!(m.Eo > 0)) pt = { ...pt, tpotMean: NaN, tpotP: NaN, tpotSurv: () => 0 };
  const attainment = Math.max(0, Math.min(1, (1 - pt.ttftSurv(ttftT)) * (1 - pt.tpotSurv(tpotT))));
  const tokensPerS = pt.X * m.Lo;
  return {
    scheduler: kind,
    offeredRequestsPerS: lambda,
    concurrency: closedC,
    stable,
    requestsPerS: pt.X,
    maxRequestsPerS: Xmax,
    systemTokensPerS: tokensPerS,
    userTokensPerS: 1 / pt.tpotMean,
    ttftS: { mean: pt.ttftMean, atPercentile: pt.ttftP },
    tpotS: { mean: pt.tpotMean, atPercentile: pt.tpotP },
    slo: { percentile: pct, ttftMs: w.slo.ttftMs, tpotMs: w.slo.tpotMs, attainment, met: pt.ttftP <= ttftT && (!(m.Eo > 0) || pt.tpotP <= tpotT) },
    goodputTokensPerS: tokensPerS * attainment,
    energyPerTokenJ: pt.energyPerTokenJ,
    tokensPerSPerW: 1 / pt.energyPerTokenJ,
    decodeBatch: pt.B,
    batchLimit: Bmax,
    stepS: pt.tau,
  };
}
