// Branch-and-bound over one subspace (DESIGN 3.3): the work a worker does for a lease. Pure given
// its inputs (the run context and an archive snapshot), deterministic, no I/O.
import { copiesOf, evaluate, type EvalInput, type EvalResult } from '../model/evaluate.js';
import { analyze, hasSplitChiplets, prepareServing, type AnalyticResult, type PreparedServing } from '../model/serving/index.js';
import { ConfigError, parseWith } from '../model/errors.js';
import { systemSchema, type SystemSpec } from '../model/hardware/schema.js';
import type { ModelArch } from '../model/types.js';
import { SINGLE, type Mapping } from '../model/parallel.js';
import type { NetworkLevel } from '../model/network.js';
import { applyPoint, children, enumeratePoints, unrank, unrankIndices, type Space, type Subspace, type Value } from '../space/index.js';
import { ParetoArchive, TopK, type Entry, type Incumbents } from './archive.js';
import { score, type SearchSpec, type Scored } from './objective.js';
import { pointBound, subspaceBound, type Bound, type BoundContext, type PointPin } from './bounds.js';

/** Everything a worker needs to search: derived from the run spec, identical on every worker. */
export interface RunContext {
  space: Space;
  baseSystemJson: Record<string, unknown>;
  model: ModelArch;
  spec: SearchSpec;
  bounds: BoundContext;
  /** The spec has a serving objective: feasible points also run the serving model (servingOf). */
  serving: boolean;
}

export interface Counts {
  evaluated: bigint;
  prunedBound: bigint;
  prunedDominance: bigint;
  infeasible: bigint;
}

export interface Design {
  id: bigint;
  subspaceId: string;
  values: number[];
  figures: Record<string, number>;
  /** Dim values of the point (mapping flattened to tp/pp/dp/sp/ep). */
  params: Record<string, string | number | boolean>;
  metrics: PointMetrics;
  keptAs: ('pareto' | 'topk' | 'subspace-best')[];
}

export interface SubspaceResult {
  subspaceId: string;
  first: bigint;
  size: bigint;
  counts: Counts;
  infeasibleByReason: Record<string, bigint>;
  /** Candidates for the global front / top-K, and the best point of the subspace. */
  designs: Design[];
}

function paramsOf(values: Record<string, Value>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v !== null && typeof v === 'object') {
      if ('tp' in v && 'pp' in v) Object.assign(out, v);
      else out[k] = JSON.stringify(v);
    } else out[k] = v as string | number | boolean;
  }
  return out;
}

/** The non-system inputs of a point (SystemCache.targets), with the mapping as evaluate() reads it. */
type PointInputs = ReturnType<typeof applyPoint> & { evalMapping: Mapping };

/** A cache key of the value indices of some dims: a mixed-radix number when every combination fits in
 *  a double's integers (no string to build and hash per point), else a string. */
function keyer(space: Space, dims: readonly number[]): (idx: ArrayLike<number>) => number | string {
  let span = 1;
  for (const i of dims) span *= space.dims[i]!.values.length;
  if (span <= Number.MAX_SAFE_INTEGER)
    return (idx) => {
      let k = 0;
      for (const i of dims) k = k * space.dims[i]!.values.length + idx[i]!;
      return k;
    };
  return (idx) => {
    let k = '';
    for (const i of dims) k += idx[i] + ',';
    return k;
  };
}

/** Hardware of a point: the base system with its hardware dims and network targets, parsed once per key. */
export class SystemCache {
  private cache = new Map<number | string, SystemSpec | ConfigError>();
  private hwDims: number[];
  private hwKey: (idx: ArrayLike<number>) => number | string;
  private targetCache = new Map<number | string, PointInputs>();
  private restCache = new Map<number | string, ReturnType<typeof applyPoint>>();
  private targetKey: (idx: ArrayLike<number>) => number | string;
  private restKey: (idx: ArrayLike<number>) => number | string;
  private targetIdx: number[];
  private mappingName: string | undefined;
  /** Dims that set a point's network: the device count, network targets, paths into the network. */
  private netDims: number[];
  private netKey: (idx: ArrayLike<number>) => number | string;
  private netCache = new Map<number | string, readonly NetworkLevel[] | null>();
  /** Names of the dims that are neither hardware paths nor the system's size and network (targets:
   *  batch, precision, mapping, ...): what targets() applies, so that its cache is shared by every
   *  system a search visits. */
  readonly targetDims: string[];
  constructor(private ctx: RunContext) {
    this.hwDims = ctx.space.dims
      .map((d, i) => (d.paths.length > 0 || (d.target !== undefined && (d.target.startsWith('network.') || d.target === 'devices')) ? i : -1))
      .filter((i) => i >= 0);
    const targets = ctx.space.dims.filter((d) => !this.hwDims.includes(d.index));
    this.targetDims = targets.map((d) => d.name);
    this.targetIdx = targets.map((d) => d.index);
    this.mappingName = ctx.space.mappingDim >= 0 ? ctx.space.dims[ctx.space.mappingDim]!.name : undefined;
    this.netDims = ctx.space.dims
      .filter((d) => d.target === 'devices' || d.target?.startsWith('network.') || d.pathStrings.some((p) => p.startsWith('network')))
      .map((d) => d.index);
    this.hwKey = keyer(ctx.space, this.hwDims);
    this.netKey = keyer(ctx.space, this.netDims);
    this.targetKey = keyer(ctx.space, this.targetIdx);
    this.restKey = keyer(ctx.space, this.targetIdx.filter((i) => i !== ctx.space.mappingDim));
  }

  /** The network every point of `s` has, when `s` fixes every dim that sets it (its first point's,
   *  from a valid system); else undefined. */
  networkOf(s: Subspace): readonly NetworkLevel[] | undefined {
    if (this.netDims.some((i) => i >= s.idx.length)) return undefined;
    const key = this.netKey(s.idx);
    let n = this.netCache.get(key);
    if (n === undefined) {
      const p = unrank(this.ctx.space, s.first);
      const sys = this.get(unrankIndices(this.ctx.space, s.first), p.values);
      n = sys instanceof ConfigError ? null : ((sys.network ?? []) as NetworkLevel[]);
      if (this.netCache.size > 10_000) this.netCache.clear();
      this.netCache.set(key, n);
    }
    return n ?? undefined;
  }


  /** The non-system inputs of a point (batch, lengths, precision, mapping), memoised by their values:
   *  the targets other than the mapping are applied once per combination, the mapping is added. */
  targets(idx: ArrayLike<number>, values: Record<string, Value>): PointInputs {
    const md = this.ctx.space.mappingDim;
    const key = this.targetKey(idx);
    let t = this.targetCache.get(key);
    if (!t) {
      const rkey = this.restKey(idx);
      let rest = this.restCache.get(rkey);
      if (!rest) {
        const tv: Record<string, Value> = {};
        for (const name of this.targetDims) if (name !== this.mappingName) tv[name] = values[name]!;
        rest = applyPoint({}, { values: tv }, this.ctx.space);
        if (this.restCache.size > 50_000) this.restCache.clear();
        this.restCache.set(rkey, rest);
      }
      const mv = md >= 0 ? (values[this.mappingName!] as Mapping | undefined) : undefined;
      const t0 = mv ? { ...rest, mapping: { ...mv } } : rest;
      // A microbatch target belongs to the mapping the model reads.
      const m: Mapping = { ...(t0.mapping ?? SINGLE), ...(t0.microbatches !== undefined ? { microbatches: t0.microbatches } : {}) };
      t = { ...t0, evalMapping: m };
      if (this.targetCache.size > 200_000) this.targetCache.clear();
      this.targetCache.set(key, t);
    }
    return t;
  }

  get(idx: ArrayLike<number>, values: Record<string, Value>): SystemSpec | ConfigError {
    const key = this.hwKey(idx);
    let s = this.cache.get(key);
    if (s === undefined) {
      s = this.build(values);
      if (this.cache.size > 4096) this.cache.clear();
      this.cache.set(key, s);
    }
    return s;
  }

  private build(values: Record<string, Value>): SystemSpec | ConfigError {
    const applied = applyPoint(this.ctx.baseSystemJson, { values }, this.ctx.space);
    const sys = applied.system;
    const devices = applied.devices ?? 1;
    const base = (sys.network as Record<string, unknown>[] | undefined) ?? [];
    const levels = base.map((l) => ({ ...l }));
    applied.network.forEach((over, i) => {
      const lv = (levels[i] ??= { ...(levels[levels.length - 1] ?? DEFAULT_LEVEL), name: `level${i}` });
      for (const [k, v] of Object.entries(over)) lv[k] = v;
      // A new size or topology invalidates an explicit mesh shape: the default (most square) applies.
      if ('size' in over || 'topology' in over) delete lv.dims;
      if (lv.topology !== 'switch') delete lv.inSwitchReduction;
    });
    // The outermost level grows to hold every device of the point (its size is derived).
    if (levels.length > 0) {
      const inner = levels.slice(0, -1).reduce((p, l) => p * (l.size as number), 1);
      const last = levels[levels.length - 1]!;
      const need = Math.ceil(devices / inner);
      if ((last.size as number) < need) {
        last.size = need;
        delete last.dims;
      }
    }
    if (levels.length > 0) sys.network = levels;
    try {
      return parseWith(systemSchema, sys, 'design point');
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
  }
}

/** Defaults for a network level that a space adds beyond its base system's. */
const DEFAULT_LEVEL = {
  name: 'level',
  topology: 'switch',
  size: 1,
  linkBandwidthGBps: 50,
  linksPerDevice: 1,
  hopLatencyUs: 1,
  startupLatencyUs: 10,
  energyPJPerBit: 10,
  efficiency: 0.9,
};

export interface PointOutcome {
  scored: Scored | null;
  reason: string | null;
  result: EvalResult | null;
}

/** What a point's own bound reads of it: the mapping and precision as evaluate() gets them, and its
 *  system's network (when the system is valid). */
export function pinOf(systems: SystemCache, idx: ArrayLike<number>, values: Record<string, Value>): PointPin {
  const t = systems.targets(idx, values);
  const sys = systems.get(idx, values);
  const pin: PointPin = { mapping: t.evalMapping, precision: t.precision };
  if (!(sys instanceof ConfigError)) pin.network = (sys.network ?? []) as NetworkLevel[];
  return pin;
}

/** What evaluate() gets for a point of the space, on `system` (its own, or a variant of it). */
export function evalInputOf(ctx: RunContext, systems: SystemCache, idx: ArrayLike<number>, values: Record<string, Value>, system: SystemSpec, detail: boolean): EvalInput {
  const applied = systems.targets(idx, values);
  return {
    system,
    model: ctx.model,
    precision: applied.precision,
    batch: applied.batch ?? 1,
    inputTokens: applied.inputTokens ?? 1024,
    outputTokens: applied.outputTokens ?? 256,
    mapping: applied.evalMapping,
    detail,
    ...(applied.decodeSamples !== undefined ? { decodeSamples: applied.decodeSamples } : {}),
    ...(applied.chunkTokens !== undefined ? { chunkTokens: applied.chunkTokens } : {}),
  };
}

/** Evaluates one point of the space (given its dim values and value indices). `detail`: whether the
 *  result carries its per-operator breakdowns and per-layer temperatures (evaluate's `detail`); the
 *  scores never read them, so the search asks for them only for the designs it keeps. */
export function evaluatePoint(ctx: RunContext, systems: SystemCache, idx: ArrayLike<number>, values: Record<string, Value>, detail = true): PointOutcome {
  const sys = systems.get(idx, values);
  if (sys instanceof ConfigError) return { scored: null, reason: 'config', result: null };
  const input = evalInputOf(ctx, systems, idx, values, sys, detail);
  let r: EvalResult;
  try {
    r = evaluate(input);
  } catch (e) {
    // The point cannot run at all: a mapping the model or batch does not take, or lengths the
    // model does not support.
    if (e instanceof ConfigError) return { scored: null, reason: /^--|tp\*pp/.test(e.path) ? 'mapping' : `input:${e.path}`, result: null };
    throw e;
  }
  // The serving model reads the same inputs (not `detail`).
  const served = r.feasible && ctx.serving ? servingOf(ctx, input, systems.targets(idx, values).prefillDecodeRatio) : undefined;
  const s = score(r, sys, ctx.spec, served);
  // A kept design's metrics (detail) carry what the serving model found.
  if (served && detail) (r as PointMetrics).serving = servingMetrics(served);
  return { scored: s, reason: s.reason, result: r };
}

/** A design's metrics: the evaluation, and with a serving objective the serving model's figures. */
export type PointMetrics = EvalResult & { serving?: ServingMetrics };
/** The analytic serving model's figures of a design, as its metrics JSON keeps them (null: not
 *  finite, e.g. the TTFT of a design that cannot keep up). */
export interface ServingMetrics {
  scheduler: string;
  offeredRequestsPerS: number | null;
  servedRequestsPerS: number | null;
  maxRequestsPerS: number | null;
  stable: boolean;
  systemTokensPerS: number | null;
  goodputTokensPerS: number | null;
  ttftMeanS: number | null;
  ttftAtPercentileS: number | null;
  tpotMeanS: number | null;
  tpotAtPercentileS: number | null;
  slo: { percentile: number; ttftMs: number; tpotMs: number; attainment: number | null; met: boolean };
  energyPerTokenJ: number | null;
  tokensPerSPerW: number | null;
  decodeBatch: number | null;
  batchLimit: number | null;
}
function servingMetrics(a: AnalyticResult): ServingMetrics {
  const f = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    scheduler: a.scheduler,
    offeredRequestsPerS: f(a.offeredRequestsPerS),
    servedRequestsPerS: f(a.requestsPerS),
    maxRequestsPerS: f(a.maxRequestsPerS),
    stable: a.stable,
    systemTokensPerS: f(a.systemTokensPerS),
    goodputTokensPerS: f(a.goodputTokensPerS),
    ttftMeanS: f(a.ttftS.mean),
    ttftAtPercentileS: f(a.ttftS.atPercentile),
    tpotMeanS: f(a.tpotS.mean),
    tpotAtPercentileS: f(a.tpotS.atPercentile),
    slo: { percentile: a.slo.percentile, ttftMs: a.slo.ttftMs, tpotMs: a.slo.tpotMs, attainment: f(a.slo.attainment), met: a.slo.met },
    energyPerTokenJ: f(a.energyPerTokenJ),
    tokensPerSPerW: f(a.tokensPerSPerW),
    decodeBatch: f(a.decodeBatch),
    batchLimit: f(a.batchLimit),
  };
}

/** Serving scheduler's token budget per step and replica when the space has no chunkTokens dim (as
 *  strata serve's --chunk default). */
const SERVING_CHUNK_TOKENS = 2048;

/**
 * The analytic serving model (DESIGN 2.7) of a point on the spec's workload: the point's batch is the
 * sequences in flight over the system (max batch per engine: batch / (decode DP replicas x decode
 * chiplet copies), rounded up, as evaluate's busiest copy), its chunkTokens the token budget of a step
 * per replica. Chunked prefill on a package that runs both phases, prefill/decode disaggregation on
 * split prefill and decode chiplets (KV over the interposer); with a prefill:decode ratio r > 0 (the
 * prefillDecodeRatio target), disaggregation over the DP replicas of a package that runs both phases
 * instead: round(dp x r / (1 + r)) of them, at least one and at most dp - 1, prefill (KV over the
 * network), as strata serve --scheduler disaggregated --prefill-replicas; r = 0 is the default above.
 * Run at the workload's offered rate. Null: a scheduler the point cannot configure.
 */
export function servingOf(ctx: RunContext, input: EvalInput, prefillDecodeRatio = 0): AnalyticResult | null {
  const m = input.mapping ?? SINGLE;
  const copies = copiesOf(input.system, 'decode');
  const split = hasSplitChiplets(input.system);
  let prefillReplicas: number | undefined;
  if (prefillDecodeRatio > 0) {
    // A package's own prefill:decode split is its chiplets; one DP replica cannot be split.
    if (split || m.dp < 2) return null;
    prefillReplicas = Math.min(m.dp - 1, Math.max(1, Math.round((m.dp * prefillDecodeRatio) / (1 + prefillDecodeRatio))));
  }
  let p: PreparedServing;
  try {
    const scheduler = {
      kind: split || prefillReplicas !== undefined ? ('disaggregated' as const) : ('chunked' as const),
      maxBatch: Math.max(1, Math.ceil(input.batch / ((m.dp - (prefillReplicas ?? 0)) * copies))),
      chunkTokens: input.chunkTokens ?? SERVING_CHUNK_TOKENS,
      ...(prefillReplicas !== undefined ? { prefillReplicas } : {}),
    };
    const design = { system: input.system, model: input.model, precision: input.precision, mapping: m, scheduler };
    p = prepareServing(design, { inputTokens: input.inputTokens, outputTokens: input.outputTokens });
  } catch (e) {
    // A scheduler the point cannot configure (a chunk budget not above its max batch, as vLLM refuses
    // max_num_batched_tokens < max_num_seqs): not a serving design.
    if (e instanceof ConfigError) return null;
    throw e;
  }
  return analyze(p, ctx.spec.workload!);
}

/**
 * Searches one subspace against a snapshot of the global archive and top-K lists. Children are visited
 * in id order (depth first); a child whose optimistic bound cannot enter the archive is pruned whole.
 * The result's designs are the subspace's best and those that enter the front or a top-K list seeded
 * with the snapshot: a design left out could not have entered the coordinator's lists either, since
 * they only improve after the snapshot.
 */
export function searchSubspace(ctx: RunContext, sub: Subspace, snapshot: Incumbents, systems = new SystemCache(ctx)): SubspaceResult {
  const multi = ctx.spec.objectives.length > 1;
  const archive = new ParetoArchive(snapshot.front);
  const local = new Map<bigint, Design>();
  /** The indices and values of each candidate in `local`, to evaluate the kept ones with detail. */
  const where = new Map<bigint, { idx: number[]; values: Record<string, Value> }>();
  const topk = ctx.spec.objectives.map((_, i) => new TopK(ctx.spec.topK, i));
  for (const t of topk) for (const e of snapshot.top) t.insert(e);
  const counts: Counts = { evaluated: 0n, prunedBound: 0n, prunedDominance: 0n, infeasible: 0n };
  const byReason: Record<string, bigint> = {};
  let best: Design | null = null;
  const leafDepth = ctx.space.levels.length;

  const prune = (s: Subspace): boolean => {
    // On a fixed mapping its collectives are costed on the subspace's network (when that is fixed):
    // a handful of plans. With the mapping free, the frontier of every mapping stays network-free,
    // so it is shared by every network of the device count.
    const b = subspaceBound(ctx.bounds, s, s.idx.length > ctx.space.mappingDim ? { network: systems.networkOf(s) } : {});
    if (b === null) return false;
    if (b.infeasible) {
      counts.infeasible += s.size;
      byReason[b.infeasible] = (byReason[b.infeasible] ?? 0n) + s.size;
      return true;
    }
    if (archive.covers(b.ideal!, s.first)) {
      if (multi) counts.prunedDominance += s.size;
      else counts.prunedBound += s.size;
      return true;
    }
    return false;
  };

  const visitPoints = (s: Subspace) => {
    // Points of the leaf that differ only in dims no bound reads (blindDims: the prefill token
    // budget) share one point bound, computed for the first of them.
    const blind = ctx.bounds.blindDims.filter((i) => i >= s.idx.length);
    const shared = blind.length > 0 ? new Map<string, Bound | null>() : null;
    const isBlind = shared !== null ? ctx.space.dims.map((d) => blind.includes(d.index)) : [];
    const boundOf = (idx: ArrayLike<number>, values: Record<string, Value>): Bound | null => {
      let key = '';
      if (shared !== null) {
        for (let i = s.idx.length; i < idx.length; i++) key += (isBlind[i] ? '*' : idx[i]) + ',';
        const known = shared.get(key);
        if (known !== undefined) return known;
      }
      const b = pointBound(ctx.bounds, idx, pinOf(systems, idx, values));
      shared?.set(key, b);
      return b;
    };
    for (const cur of enumeratePoints(ctx.space, s)) {
      // A point's own bound (its hardware, batch and mapping fixed) skips hopeless evaluations.
      const pb = boundOf(cur.idx, cur.values);
      if (pb !== null) {
        if (pb.infeasible) {
          counts.infeasible += 1n;
          byReason[pb.infeasible] = (byReason[pb.infeasible] ?? 0n) + 1n;
          continue;
        }
        if (archive.covers(pb.ideal!, cur.id())) {
          if (multi) counts.prunedDominance += 1n;
          else counts.prunedBound += 1n;
          continue;
        }
      }
      const o = evaluatePoint(ctx, systems, cur.idx, cur.values, false);
      if (!o.scored || !o.scored.feasible) {
        const why = o.reason ?? 'unknown';
        counts.infeasible += 1n;
        byReason[why] = (byReason[why] ?? 0n) + 1n;
        continue;
      }
      counts.evaluated += 1n;
      const id = cur.id();
      const e: Entry = { id, values: o.scored.values };
      const d = (): Design => {
        let x = local.get(id);
        if (!x) {
          // Its metrics (the result scored, without breakdowns) are replaced by the detailed result
          // at the end, if it is still kept.
          x = { id, subspaceId: sub.id, values: o.scored!.values, figures: o.scored!.figures, params: paramsOf(cur.values), metrics: o.result!, keptAs: [] };
          local.set(id, x);
          where.set(id, { idx: Array.from(cur.idx), values: { ...cur.values } });
        }
        return x;
      };
      if (archive.insert(e)) d().keptAs.push('pareto');
      for (const t of topk) if (t.insert(e) && !d().keptAs.includes('topk')) d().keptAs.push('topk');
      if (!best || better(e, { id: best.id, values: best.values })) best = d();
    }
  };
  // Depth first, children in id order; the innermost free level is enumerated point by point.
  const visit = (s: Subspace) => {
    if (prune(s)) return;
    if (s.depth < leafDepth - 1) for (const c of children(ctx.space, s)) visit(c);
    else visitPoints(s);
  };
  visit(sub);
  if (best) (best as Design).keptAs.push('subspace-best');
  // Keep only candidates still in the local archive / top-K, and the best.
  const inFront = new Set(archive.entries.map((e) => e.id));
  const inTop = new Set(topk.flatMap((t) => t.items.map((e) => e.id)));
  const designs = [...local.values()].filter((x) => inFront.has(x.id) || inTop.has(x.id) || x === best).map((x) => {
    // A kept design's metrics carry the whole result: evaluated again with its breakdowns
    // (deterministic: the same figures as the evaluation scored).
    const w = where.get(x.id)!;
    return {
      ...x,
      metrics: evaluatePoint(ctx, systems, w.idx, w.values, true).result!,
      keptAs: x.keptAs.filter((k) => (k === 'pareto' ? inFront.has(x.id) : k === 'topk' ? inTop.has(x.id) : true)),
    };
  });
  return { subspaceId: sub.id, first: sub.first, size: sub.size, counts, infeasibleByReason: byReason, designs };
}

/** Lexicographic on the first objective, then id: the "best point" of a subspace. */
function better(a: Entry, b: Entry): boolean {
  return a.values[0]! > b.values[0]! || (a.values[0] === b.values[0] && a.id < b.id);
}
