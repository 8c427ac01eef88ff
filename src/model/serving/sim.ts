// Discrete-event serving simulator (DESIGN 2.7): runs a scheduler for real over a request trace.
// Schedulers: static batching, continuous batching, chunked prefill with a token budget, and
// prefill/decode disaggregation with KV transfer; KV-capacity admission and preemption (recompute on
// readmission). Pure and deterministic: requests come from a seeded PRNG.
//
// Per step the work is O(pieces + finishing requests), not O(batch): decode sequences are tracked
// by aggregates (count, summed context) and a bucket of finishing step indices.
import { packagesStaticW, poolStaticW, type PreparedServing, type Pool, type SchedulerKind } from './design.js';
import type { StepPiece } from './steps.js';
import { generateRequests, type RequestSet, type Workload } from './workload.js';

export interface SimOptions {
  requests: number;
  seed: number;
  /** Points of the queue/KV timeline kept in the result (default 200). */
  timelinePoints?: number;
}

export interface Percentiles {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface TimelinePoint {
  tS: number;
  queued: number;
  running: number;
  kvUsedFraction: number;
}

export interface SimResult {
  scheduler: SchedulerKind;
  requests: number;
  completed: number;
  /** Requests that can never fit the KV capacity (refused at admission). */
  rejected: number;
  durationS: number;
  /** Over the steady window (arrivals of the 10%..90% requests). */
  throughput: { requestsPerS: number; outputTokensPerS: number; totalTokensPerS: number };
  /** Mean over requests of 1/TPOT. */
  userTokensPerS: number;
  ttftS: Percentiles;
  tpotS: Percentiles;
  e2eS: Percentiles;
  slo: { ttftMs: number; tpotMs: number; percentile: number; ttftAtPercentileMs: number; tpotAtPercentileMs: number; met: boolean; attainment: number };
  /** Output tokens/s of the requests that met both SLOs (steady window). */
  goodputTokensPerS: number;
  energyPerTokenJ: number;
  tokensPerSPerW: number;
  /** Energy of the run: the steps' dynamic energy, and the packages' static and other power over
   *  its whole duration (busy or idle, once per package). energyPerTokenJ = totalJ / output tokens. */
  energyJ: { dynamicJ: number; staticJ: number; totalJ: number };
  preemptions: number;
  kvTransfers: number;
  /** Sequences decoding per step of the decode/colocated pool, over the steady window (as steady.meanDecodeBatch). */
  meanDecodeBatch: number;
  maxQueued: number;
  /** Mean fraction of decode attention offloaded to PIM (time-weighted), 0 without PIM. */
  pimOffloadFraction: number;
  steady: { fromS: number; toS: number; requests: number; outputTokensPerS: number; meanTtftS: number; meanTpotS: number; meanDecodeBatch: number };
  pools: { name: string; steps: number; busyS: number; utilisation: number; kvCapacityTokens: number; maxBatch: number }[];
  timeline: TimelinePoint[];
  notes: string[];
}

const S_WAIT = 0;
const S_PREFILL = 1;
const S_DECODE = 2;
const S_TRANSFER = 3;
const S_DONE = 4;
const S_REJECTED = 5;

/** Per-request state shared by the engines (struct of arrays). */
class Reqs {
  readonly n: number;
  readonly arrival: Float64Array;
  readonly input: Int32Array;
  readonly output: Int32Array;
  readonly first: Float64Array;
  readonly finish: Float64Array;
  readonly state: Uint8Array;
  readonly target: Int32Array; // tokens to prefill (prompt + generated when recomputing)
  readonly done: Int32Array; // prompt tokens prefilled so far
  readonly generated: Int32Array; // output tokens produced before the current phase
  readonly ctx0: Int32Array; // KV tokens when decoding started
  readonly entry: Float64Array; // step index when decoding started
  readonly finishStep: Float64Array;
  readonly admitSeq: Int32Array;
  readonly preempted: Int32Array;

  constructor(r: RequestSet) {
    const n = r.input.length;
    this.n = n;
    this.arrival = r.arrivalS;
    this.input = r.input;
    this.output = r.output;
    this.first = new Float64Array(n).fill(NaN);
    this.finish = new Float64Array(n).fill(NaN);
    this.state = new Uint8Array(n);
    this.target = new Int32Array(n);
    this.done = new Int32Array(n);
    this.generated = new Int32Array(n);
    this.ctx0 = new Int32Array(n);
    this.entry = new Float64Array(n);
    this.finishStep = new Float64Array(n);
    this.admitSeq = new Int32Array(n);
    this.preempted = new Int32Array(n);
    for (let i = 0; i < n; i++) this.target[i] = r.input[i]!;
  }
}

/** FIFO of request ids with a priority lane for preempted requests (served first). */
class Queue {
  private a: number[] = [];
  private h = 0;
  private pri: number[] = [];
  get length(): number {
    return this.a.length - this.h + this.pri.length;
  }
  push(id: number): void {
    this.a.push(id);
  }
  pushFront(id: number): void {
    this.pri.push(id);
  }
  peek(): number {
    return this.pri.length > 0 ? this.pri[0]! : this.a[this.h]!;
  }
  shift(): number {
    if (this.pri.length > 0) return this.pri.shift()!;
    const v = this.a[this.h++]!;
    if (this.h > 4096 && this.h * 2 > this.a.length) {
      this.a = this.a.slice(this.h);
      this.h = 0;
    }
    return v;
  }
}

interface Hooks {
  now: number;
  finished(id: number, t: number): void;
  /** Prefill pool: a prompt is done and its KV must go to the decode pool. */
  toTransfer(id: number, t: number): void;
  /** Decode pool: a preempted request goes back to the prefill pool. */
  toRecompute(id: number): void;
  tokens(n: number, t: number): void;
}

/**
 * One pool of devices stepping together. Modes: colocated (static/continuous/chunked), prefill-only
 * and decode-only (disaggregated).
 */
class Engine {
  readonly queue = new Queue();
  private prefilling: number[] = [];
  private pieces: StepPiece[] = [];
  private pieceIds: number[] = [];
  private nPieces = 0;
  private buckets = new Map<number, number[]>();
  private order: number[] = [];
  private orderSeq: number[] = [];
  private seq = 0;
  d = 0;
  sumCtx = 0;
  reserved = 0;
  step = 0;
  endT = Infinity;
  busyS = 0;
  steps = 0;
  energyJ = 0;
  decodeSeqSteps = 0;
  pimWeighted = 0;
  decodeTime = 0;
  preemptions = 0;
  rejected = 0;
  private stepD = 0;
  private readonly limit: number;

  constructor(
    readonly pool: Pool,
    readonly mode: 'colocated' | 'prefill' | 'decode',
    readonly kind: SchedulerKind,
    readonly R: Reqs,
    readonly hooks: Hooks,
    watermark: number,
  ) {
    this.limit = Math.floor(pool.kvCapacityTokens * (1 - watermark));
    for (let i = 0; i < 8; i++) this.pieces.push({ tokens: 0, context: 0 });
  }

  get running(): number {
    return this.d + this.prefilling.length;
  }
  get kvUsed(): number {
    return this.sumCtx + this.reserved;
  }
  get busy(): boolean {
    return this.endT !== Infinity;
  }

  private ctxOf(id: number): number {
    const R = this.R;
    return R.ctx0[id]! + (this.step - R.entry[id]!);
  }

  private addPiece(id: number, tokens: number, context: number): void {
    if (this.nPieces === this.pieces.length) this.pieces.push({ tokens: 0, context: 0 });
    const p = this.pieces[this.nPieces]!;
    p.tokens = tokens;
    p.context = context;
    this.pieceIds[this.nPieces++] = id;
  }

  private admitOrder(id: number): void {
    const s = ++this.seq;
    this.R.admitSeq[id] = s;
    this.order.push(id);
    this.orderSeq.push(s);
  }

  /** Newest running request, or -1. */
  private newest(): number {
    const R = this.R;
    while (this.order.length > 0) {
      const id = this.order[this.order.length - 1]!;
      const s = this.orderSeq[this.orderSeq.length - 1]!;
      const st = R.state[id]!;
      if (R.admitSeq[id] === s && (st === S_PREFILL || st === S_DECODE)) return id;
      this.order.pop();
      this.orderSeq.pop();
    }
    return -1;
  }

  private preempt(id: number): void {
    const R = this.R;
    if (R.state[id] === S_DECODE) {
      const g = R.generated[id]! + (this.step - R.entry[id]!);
      this.sumCtx -= this.ctxOf(id);
      this.d--;
      R.generated[id] = g;
      R.target[id] = R.input[id]! + g;
    } else {
      this.reserved -= this.reservation(id);
      const k = this.prefilling.indexOf(id);
      if (k >= 0) this.prefilling.splice(k, 1);
    }
    R.done[id] = 0;
    R.state[id] = S_WAIT;
    R.preempted[id]++;
    this.preemptions++;
    if (this.mode === 'decode') this.hooks.toRecompute(id);
    else this.queue.pushFront(id);
  }

  /** KV held for a request between admission and the end of its prefill. */
  private reservation(id: number): number {
    const R = this.R;
    return this.kind === 'static' ? R.target[id]! + R.output[id]! - R.generated[id]! : R.target[id]!;
  }

  private reject(id: number): void {
    this.R.state[id] = S_REJECTED;
    this.rejected++;
    this.hooks.finished(id, NaN);
  }

  /** Starts a step at `now` if there is work. */
  kick(now: number): void {
    if (this.busy) return;
    const R = this.R;
    const pool = this.pool;
    this.nPieces = 0;
    // The decoding sequences must be able to grow by one token: preempt the newest until they fit.
    if (this.mode !== 'prefill' && this.kind !== 'static') {
      while (this.d > 0 && this.kvUsed + this.d > pool.kvCapacityTokens) {
        const v = this.newest();
        if (v < 0) break;
        this.preempt(v);
      }
    }
    const cap = this.limit;
    if (this.mode === 'decode') {
      while (this.queue.length > 0 && this.d < pool.maxBatch) {
        const id = this.queue.peek();
        const c = R.target[id]!;
        if (this.kvUsed + c + this.d + 1 > cap) {
          if (this.d === 0 && c + 1 > pool.kvCapacityTokens) {
            this.queue.shift();
            this.reject(id);
            continue;
          }
          break;
        }
        this.queue.shift();
        this.startDecode(id, c);
      }
    } else if (this.kind === 'static' && this.mode === 'colocated') {
      if (this.d === 0 && this.prefilling.length === 0) {
        let used = 0;
        while (this.queue.length > 0 && this.prefilling.length < pool.maxBatch) {
          const id = this.queue.peek();
          const need = this.reservation(id);
          if (used + need > cap) {
            if (this.prefilling.length === 0 && need > pool.kvCapacityTokens) {
              this.queue.shift();
              this.reject(id);
              continue;
            }
            break;
          }
          this.queue.shift();
          used += need;
          this.admit(id);
        }
        for (const id of this.prefilling) this.addPiece(id, R.target[id]!, 0);
      }
    } else if (this.kind === 'chunked' && this.mode === 'colocated') {
      let room = pool.tokenBudget - this.d;
      for (let i = 0; i < this.prefilling.length && room > 0; i++) {
        const id = this.prefilling[i]!;
        const take = Math.min(room, R.target[id]! - R.done[id]!);
        this.addPiece(id, take, R.done[id]!);
        room -= take;
      }
      while (room > 0 && this.queue.length > 0 && this.running < pool.maxBatch) {
        const id = this.queue.peek();
        const f = this.fits(id, cap);
        if (f < 0) continue;
        if (f === 0) break;
        this.queue.shift();
        this.admit(id);
        const take = Math.min(room, R.target[id]!);
        this.addPiece(id, take, 0);
        room -= take;
      }
    } else {
      // Continuous (whole prompts, up to the prompt budget, at least one) and the prefill pool.
      const budget = pool.tokenBudget;
      let tokens = 0;
      while (this.queue.length > 0 && this.running < pool.maxBatch) {
        const id = this.queue.peek();
        const t = R.target[id]!;
        if (tokens > 0 && tokens + t > budget) break;
        const f = this.fits(id, cap);
        if (f < 0) continue;
        if (f === 0) break;
        this.queue.shift();
        this.admit(id);
        this.addPiece(id, t, 0);
        tokens += t;
      }
    }
    if (this.d === 0 && this.nPieces === 0) return;
    const ctx = this.d > 0 ? this.sumCtx / this.d : 0;
    const tS = pool.table.cost(this.d, ctx, this.pieces, this.nPieces);
    this.energyJ += pool.table.energyJ;
    if (this.d > 0) {
      this.pimWeighted += pool.table.pimFraction * tS;
      this.decodeTime += tS;
    }
    this.stepD = this.d;
    this.decodeSeqSteps += this.d;
    this.steps++;
    this.busyS += tS;
    this.endT = now + tS;
  }

  /** 1: admit the queue head now; 0: not now; -1: it can never fit and was refused (dequeued). */
  private fits(id: number, cap: number): number {
    const need = this.reservation(id);
    if (this.kvUsed + need + this.d + 1 <= cap) return 1;
    if (this.running === 0 && need + 1 > this.pool.kvCapacityTokens) {
      this.queue.shift();
      this.reject(id);
      return -1;
    }
    return 0;
  }

  private admit(id: number): void {
    this.R.state[id] = S_PREFILL;
    this.R.done[id] = 0;
    this.reserved += this.reservation(id);
    this.prefilling.push(id);
    this.admitOrder(id);
  }

  private startDecode(id: number, ctx: number): void {
    const R = this.R;
    R.state[id] = S_DECODE;
    R.ctx0[id] = ctx;
    R.entry[id] = this.step;
    const fs = this.step + R.output[id]! - R.generated[id]!;
    R.finishStep[id] = fs;
    let b = this.buckets.get(fs);
    if (!b) {
      b = [];
      this.buckets.set(fs, b);
    }
    b.push(id);
    this.d++;
    this.sumCtx += ctx;
    if (this.mode === 'decode') this.admitOrder(id);
  }

  /** Ends the current step at its end time. */
  finishStep(): void {
    const t = this.endT;
    this.endT = Infinity;
    const R = this.R;
    this.step++;
    let tokens = this.stepD;
    this.sumCtx += this.stepD;
    const fin = this.buckets.get(this.step);
    if (fin) {
      this.buckets.delete(this.step);
      for (const id of fin) {
        if (R.state[id] !== S_DECODE || R.finishStep[id] !== this.step) continue;
        this.sumCtx -= this.ctxOf(id);
        this.d--;
        R.generated[id] = R.output[id]!;
        R.state[id] = S_DONE;
        this.hooks.finished(id, t);
      }
    }
    for (let i = 0; i < this.nPieces; i++) {
      const id = this.pieceIds[i]!;
      if (R.state[id] !== S_PREFILL) continue;
      R.done[id] += this.pieces[i]!.tokens;
      if (R.done[id]! < R.target[id]!) continue;
      // Prompt complete: it yields the next token.
      this.reserved -= this.reservation(id);
      const k = this.prefilling.indexOf(id);
      if (k >= 0) this.prefilling.splice(k, 1);
      R.generated[id]++;
      tokens++;
      if (Number.isNaN(R.first[id]!)) R.first[id] = t;
      if (R.generated[id]! >= R.output[id]!) {
        R.state[id] = S_DONE;
        this.hooks.finished(id, t);
      } else if (this.mode === 'prefill') {
        R.state[id] = S_TRANSFER;
        this.hooks.toTransfer(id, t);
      } else this.startDecode(id, R.target[id]!);
    }
    this.nPieces = 0;
    this.hooks.tokens(tokens, t);
  }

  /** Releases the prefill pool's copy of a transferred prompt. */
  release(id: number): void {
    this.reserved -= this.R.target[id]!;
  }

  /** Prefill pool: keeps a finished prompt's KV reserved until its transfer ends. */
  hold(id: number): void {
    this.reserved += this.R.target[id]!;
  }
}

function percentiles(xs: Float64Array | number[]): Percentiles {
  const a = Float64Array.from(xs).filter((x) => !Number.isNaN(x)).sort();
  const n = a.length;
  if (n === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const q = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  let s = 0;
  for (const x of a) s += x;
  return { mean: s / n, p50: q(50), p90: q(90), p99: q(99), max: a[n - 1]! };
}

export function percentileOf(xs: ArrayLike<number>, p: number): number {
  const a = Float64Array.from(xs).filter((x) => !Number.isNaN(x)).sort();
  if (a.length === 0) return NaN;
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))]!;
}

/**
 * A note when the run had no steady state: the backlog (arrived, not finished) grew over the steady
 * window by more than a tenth of the window's requests, so the queue was still filling and the
 * window's throughput is a transient (it depends on the request count), not the design's capacity.
 */
function overloadNote(arrival: ArrayLike<number>, finish: ArrayLike<number>, fromS: number, toS: number, windowRequests: number, finished: number, durationS: number): string[] {
  const backlog = (t: number) => {
    let n = 0;
    for (let i = 0; i < arrival.length; i++) if (arrival[i]! <= t && !(finish[i]! <= t)) n++;
    return n;
  };
  const a = backlog(fromS);
  const b = backlog(toS);
  if (!(b - a > 0.1 * windowRequests)) return [];
  return [
    `overloaded: the backlog grew from ${a} to ${b} requests over the steady window, so there is no steady state and the window's throughput is a transient; the whole run completed ${finished} requests in ${durationS.toFixed(1)} s (${(finished / durationS).toFixed(2)} req/s)`,
  ];
}

/** Simulates `opts.requests` requests of a workload on a prepared design. */
export function simulate(p: PreparedServing, w: Workload, opts: SimOptions): SimResult {
  const N = Math.max(1, Math.floor(opts.requests));
  const R = new Reqs(generateRequests(w, N, opts.seed, p.maxContext));
  const kind = p.scheduler.kind;
  const wm = p.scheduler.kvWatermark ?? 0.01;
  const closed = w.arrival.kind === 'closed' ? w.arrival : undefined;

  // Cumulative output tokens over time (for the steady-window throughput) and the timeline.
  let cap = 1024;
  let tT = new Float64Array(cap);
  let tC = new Float64Array(cap);
  let tQ = new Float64Array(cap);
  let tRn = new Float64Array(cap);
  let tKv = new Float64Array(cap);
  // Cumulative decode sequence-steps and steps of the decode/colocated pool (its mean decode batch
  // over the steady window).
  let tDs = new Float64Array(cap);
  let tSn = new Float64Array(cap);
  let nT = 0;
  let cum = 0;
  let finished = 0;
  let issued = 0;
  let maxQueued = 0;
  let transfers = 0;

  const think: number[] = []; // closed loop with think time: pending issue times (sorted)
  const thinkIds: number[] = [];
  let nextArrival = 0;

  let main!: Engine;
  let pre: Engine | undefined;
  const xfer: number[] = []; // transfer end times (min-heap) and their ids
  const xferIds: number[] = [];
  const channels = new Float64Array(Math.max(1, p.transferChannels));

  const heapPush = (ts: number[], ids: number[], t: number, id: number) => {
    let i = ts.length;
    ts.push(t);
    ids.push(id);
    while (i > 0) {
      const par = (i - 1) >> 1;
      if (ts[par]! <= t) break;
      ts[i] = ts[par]!;
      ids[i] = ids[par]!;
      i = par;
    }
    ts[i] = t;
    ids[i] = id;
  };
  const heapPop = (ts: number[], ids: number[]): number => {
    const top = ids[0]!;
    const lt = ts.pop()!;
    const lid = ids.pop()!;
    if (ts.length > 0) {
      let i = 0;
      const n = ts.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && ts[r]! < ts[l]! ? r : l;
        if (ts[c]! >= lt) break;
        ts[i] = ts[c]!;
        ids[i] = ids[c]!;
        i = c;
      }
      ts[i] = lt;
      ids[i] = lid;
    }
    return top;
  };

  const entry = () => pre ?? main;
  const issue = (t: number) => {
    if (issued >= N) return;
    const id = issued++;
    R.arrival[id] = t;
    entry().queue.push(id);
  };

  const hooks: Hooks = {
    now: 0,
    finished(id, t) {
      finished++;
      R.finish[id] = t;
      if (closed) {
        const at = Number.isNaN(t) ? hooks.now : t;
        if (closed.thinkTimeS > 0) heapPush(think, thinkIds, at + closed.thinkTimeS, 0);
        else issue(at);
      }
    },
    toTransfer(id, t) {
      pre!.hold(id);
      let c = 0;
      for (let i = 1; i < channels.length; i++) if (channels[i]! < channels[c]!) c = i;
      const start = Math.max(t, channels[c]!);
      const end = start + p.kvTransferS(R.target[id]!);
      channels[c] = end;
      transfers++;
      heapPush(xfer, xferIds, end, id);
    },
    toRecompute(id) {
      pre!.queue.pushFront(id);
    },
    tokens(n, t) {
      cum += n;
      if (nT === cap) {
        cap *= 2;
        const grow = (a: Float64Array) => {
          const b = new Float64Array(cap);
          b.set(a);
          return b;
        };
        tT = grow(tT);
        tC = grow(tC);
        tQ = grow(tQ);
        tRn = grow(tRn);
        tKv = grow(tKv);
        tDs = grow(tDs);
        tSn = grow(tSn);
      }
      const q = main.queue.length + (pre ? pre.queue.length : 0);
      if (q > maxQueued) maxQueued = q;
      tT[nT] = t;
      tC[nT] = cum;
      tQ[nT] = q;
      tRn[nT] = main.running + (pre ? pre.running : 0);
      tKv[nT] = main.kvUsed / main.pool.kvCapacityTokens;
      tDs[nT] = main.decodeSeqSteps;
      tSn[nT] = main.steps;
      nT++;
    },
  };

  if (p.colocated) main = new Engine(p.colocated, 'colocated', kind, R, hooks, wm);
  else {
    main = new Engine(p.decode!, 'decode', kind, R, hooks, wm);
    pre = new Engine(p.prefill!, 'prefill', kind, R, hooks, wm);
  }

  if (closed) for (let i = 0; i < Math.min(closed.concurrency, N); i++) issue(0);
  if (pre) pre.kick(0);
  main.kick(0);

  let now = 0;
  for (;;) {
    if (finished >= N) break;
    const tA = closed ? (think.length > 0 ? think[0]! : Infinity) : nextArrival < N ? R.arrival[nextArrival]! : Infinity;
    const tX = xfer.length > 0 ? xfer[0]! : Infinity;
    const tP = pre ? pre.endT : Infinity;
    const tM = main.endT;
    const t = Math.min(tA, tX, tP, tM);
    if (t === Infinity) break; // nothing can make progress (all remaining requests refused)
    now = t;
    hooks.now = t;
    if (tX === t) {
      const id = heapPop(xfer, xferIds);
      pre!.release(id);
      main.queue.push(id);
    } else if (tM === t) main.finishStep();
    else if (tP === t) pre!.finishStep();
    else if (closed) {
      heapPop(think, thinkIds);
      issue(t);
    } else {
      entry().queue.push(nextArrival++); // open loop: the next arrival joins the entry pool's queue
    }
    if (pre) pre.kick(now);
    main.kick(now);
  }

  // ---- Metrics --------------------------------------------------------------------------------
  const ttft = new Float64Array(N).fill(NaN);
  const tpot = new Float64Array(N).fill(NaN);
  const e2e = new Float64Array(N).fill(NaN);
  let outTok = 0;
  let inTok = 0;
  for (let i = 0; i < N; i++) {
    if (Number.isNaN(R.finish[i]!)) continue;
    ttft[i] = R.first[i]! - R.arrival[i]!;
    e2e[i] = R.finish[i]! - R.arrival[i]!;
    if (R.output[i]! > 1) tpot[i] = (R.finish[i]! - R.first[i]!) / (R.output[i]! - 1);
    outTok += R.output[i]!;
    inTok += R.input[i]!;
  }
  const lo = Math.min(Math.floor(N / 2), Math.floor(0.1 * N) + (closed ? Math.min(closed.concurrency, Math.floor(0.3 * N)) : 0));
  const hi = Math.max(lo + 1, Math.ceil(0.9 * N));
  const fromS = R.arrival[lo]!;
  const toS = R.arrival[Math.min(N - 1, hi)]!;
  /** A cumulative series recorded at the token events (tT), linearly interpolated at time t. */
  const seriesAt = (series: Float64Array, t: number): number => {
    let a = 0;
    let b = nT - 1;
    if (nT === 0 || t <= tT[0]!) return 0;
    if (t >= tT[b]!) return series[b]!;
    while (b - a > 1) {
      const m = (a + b) >> 1;
      if (tT[m]! <= t) a = m;
      else b = m;
    }
    const f = (t - tT[a]!) / (tT[b]! - tT[a]!);
    return series[a]! + f * (series[b]! - series[a]!);
  };
  const cumAt = (t: number): number => seriesAt(tC, t);
  const span = toS - fromS;
  const durationS = now;
  const steadyTps = span > 0 ? (cumAt(toS) - cumAt(fromS)) / span : outTok / Math.max(durationS, 1e-12);
  const meanTokOut = outTok / Math.max(1, finished - main.rejected - (pre?.rejected ?? 0));
  const slo = w.slo;
  let sTtft = 0;
  let sTpot = 0;
  let sN = 0;
  let sTp = 0;
  let goodTok = 0;
  let allTok = 0;
  let met = 0;
  let counted = 0;
  for (let i = 0; i < N; i++) {
    if (Number.isNaN(R.finish[i]!)) continue;
    const ok = ttft[i]! * 1e3 <= slo.ttftMs && (Number.isNaN(tpot[i]!) || tpot[i]! * 1e3 <= slo.tpotMs);
    counted++;
    if (ok) met++;
    if (i < lo || i >= hi) continue;
    sN++;
    sTtft += ttft[i]!;
    if (!Number.isNaN(tpot[i]!)) {
      sTpot += tpot[i]!;
      sTp++;
    }
    allTok += R.output[i]!;
    if (ok) goodTok += R.output[i]!;
  }
  const engines = pre ? [pre, main] : [main];
  // A step's energy counts its pool's static power over the step. The packages draw it whether they
  // step or idle, once per package (the two pools of a split-chiplet package share it): the steps'
  // dynamic energy, plus the packages' static power over the whole run.
  const dynamicJ = engines.reduce((s, e) => s + e.energyJ - poolStaticW(e.pool) * e.busyS, 0);
  const staticJ = packagesStaticW(p) * durationS;
  const energy = dynamicJ + staticJ;
  const totalOut = cum;
  const ePerTok = totalOut > 0 ? energy / totalOut : NaN;
  const ttftP = percentiles(ttft);
  const tpotP = percentiles(tpot);
  const ttftAt = percentileOf(ttft, slo.percentile) * 1e3;
  const tpotAt = percentileOf(tpot, slo.percentile) * 1e3;
  // Timeline: down-sampled to at most `timelinePoints` points at even times.
  const pts = Math.max(2, opts.timelinePoints ?? 200);
  const timeline: TimelinePoint[] = [];
  if (nT > 0) {
    let k = 0;
    for (let j = 0; j < pts; j++) {
      const t = (durationS * (j + 1)) / pts;
      while (k < nT - 1 && tT[k + 1]! <= t) k++;
      timeline.push({ tS: t, queued: tQ[k]!, running: tRn[k]!, kvUsedFraction: tKv[k]! });
    }
  }
  // Mean decode batch (sequences decoding per step of the decode/colocated pool) over the steady
  // window, like the throughput: the ramp-up and the drain of the last requests are left out. Over
  // the whole run when the window holds no step.
  const steadyDecode = (() => {
    const steps = seriesAt(tSn, toS) - seriesAt(tSn, fromS);
    if (span > 0 && steps >= 1) return (seriesAt(tDs, toS) - seriesAt(tDs, fromS)) / steps;
    return main.steps > 0 ? main.decodeSeqSteps / main.steps : 0;
  })();
  return {
    scheduler: kind,
    requests: N,
    completed: finished - main.rejected - (pre?.rejected ?? 0),
    rejected: main.rejected + (pre?.rejected ?? 0),
    durationS,
    throughput: {
      requestsPerS: steadyTps / Math.max(1, meanTokOut),
      outputTokensPerS: steadyTps,
      totalTokensPerS: steadyTps * (1 + inTok / Math.max(1, outTok)),
    },
    userTokensPerS: (() => {
      let s = 0;
      let n = 0;
      for (const x of tpot) if (!Number.isNaN(x) && x > 0) { s += 1 / x; n++; }
      return n > 0 ? s / n : NaN;
    })(),
    ttftS: ttftP,
    tpotS: tpotP,
    e2eS: percentiles(e2e),
    slo: {
      ttftMs: slo.ttftMs,
      tpotMs: slo.tpotMs,
      percentile: slo.percentile,
      ttftAtPercentileMs: ttftAt,
      tpotAtPercentileMs: tpotAt,
      met: ttftAt <= slo.ttftMs && (Number.isNaN(tpotAt) || tpotAt <= slo.tpotMs),
      attainment: counted > 0 ? met / counted : 0,
    },
    goodputTokensPerS: allTok > 0 ? (steadyTps * goodTok) / allTok : 0,
    energyPerTokenJ: ePerTok,
    tokensPerSPerW: 1 / ePerTok,
    energyJ: { dynamicJ, staticJ, totalJ: energy },
    preemptions: engines.reduce((s, e) => s + e.preemptions, 0),
    kvTransfers: transfers,
    meanDecodeBatch: steadyDecode,
    maxQueued,
    pimOffloadFraction: main.decodeTime > 0 ? main.pimWeighted / main.decodeTime : 0,
    steady: {
      fromS,
      toS,
      requests: sN,
      outputTokensPerS: steadyTps,
      meanTtftS: sN > 0 ? sTtft / sN : NaN,
      meanTpotS: sTp > 0 ? sTpot / sTp : NaN,
      meanDecodeBatch: steadyDecode,
    },
    pools: engines.map((e) => ({
      name: e.pool.name,
      steps: e.steps,
      busyS: e.busyS,
      utilisation: durationS > 0 ? e.busyS / durationS : 0,
      kvCapacityTokens: e.pool.kvCapacityTokens,
      maxBatch: e.pool.maxBatch,
    })),
    timeline,
    notes: [...p.notes, ...overloadNote(R.arrival, R.finish, fromS, toS, hi - lo, finished, durationS)],
  };
}
