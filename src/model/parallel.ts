// Parallel mappings (DESIGN 2.6): TP x PP x DP x SP(CP) for attention, EP x moeTP for MoE layers,
// the per-device operators of one pipeline stage, the collectives they need, expert load skew, and
// the per-device memory footprint. Pure: no I/O.
import { ConfigError } from './errors.js';
import type { CollectiveKind } from './network.js';
import { BYTES_PER_ELEMENT, type ModelArch, type Operator, type Phase, type PrecisionSpec } from './types.js';
import { buildOperators, kvBytesPerToken, layerCounts, weightBytesTotal } from './workload/index.js';

export const EXPERT_PLACEMENTS = ['contiguous', 'round-robin', 'balanced'] as const;
export type ExpertPlacement = (typeof EXPERT_PLACEMENTS)[number];

export interface Mapping {
  tp: number;
  pp: number;
  dp: number;
  /** Sequence (context) parallelism: splits the prompt in prefill and the KV cache in decode. */
  sp: number;
  /** Expert parallelism of MoE layers; the stage's tp*dp*sp devices regroup as ep x moeTp. */
  ep: number;
  /** Pipeline microbatches (default: min(pp, sequences per replica)). */
  microbatches?: number;
  /** Tile-level overlap of TP collectives with their GEMM (default on). */
  overlap?: boolean;
  /** Routing skew: expert popularity ~ 1/rank^skew (0 = uniform). */
  routingSkew?: number;
  /** Measured per-expert loads (a routing trace); overrides routingSkew. */
  expertLoads?: number[];
  expertPlacement?: ExpertPlacement;
}

export const SINGLE: Mapping = { tp: 1, pp: 1, dp: 1, sp: 1, ep: 1 };

export function devicesOf(m: Mapping): number {
  return m.tp * m.pp * m.dp * m.sp;
}

export function moeTpOf(m: Mapping): number {
  return (m.tp * m.dp * m.sp) / m.ep;
}

/** The parallel degrees of a mapping, in the canonical order (the space's factorisations use it). */
export const DEGREES = ['tp', 'pp', 'dp', 'sp', 'ep'] as const;

function positiveDegree(k: (typeof DEGREES)[number], v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`--${k}`, v, 'a positive integer');
}

/** Refuses mappings the model or batch cannot take, naming the flag and the reason. */
export function checkMapping(m: Mapping, arch: ModelArch, batch: number): void {
  // Each degree in DEGREES' order (named, not looked up by key: this runs at every evaluation).
  positiveDegree('tp', m.tp);
  positiveDegree('pp', m.pp);
  positiveDegree('dp', m.dp);
  positiveDegree('sp', m.sp);
  positiveDegree('ep', m.ep);
  if (arch.numHeads % m.tp !== 0) throw new ConfigError('--tp', m.tp, `a divisor of the ${arch.numHeads} attention heads of ${arch.name}`);
  if (m.pp > arch.numLayers) throw new ConfigError('--pp', m.pp, `<= the ${arch.numLayers} layers of ${arch.name}`);
  if (batch % m.dp !== 0) throw new ConfigError('--dp', m.dp, `a divisor of the batch (${batch}): each replica serves batch/dp sequences`);
  if (m.ep > 1 && !arch.moe) throw new ConfigError('--ep', m.ep, `1: ${arch.name} has no experts`);
  if ((m.tp * m.dp * m.sp) % m.ep !== 0)
    throw new ConfigError('--ep', m.ep, `a divisor of tp*dp*sp (${m.tp * m.dp * m.sp}): MoE layers regroup a stage's devices as ep x moeTP`);
  if (arch.moe && arch.moe.numExperts % m.ep !== 0)
    throw new ConfigError('--ep', m.ep, `a divisor of the ${arch.moe.numExperts} experts`);
  if (m.expertLoads) {
    const loads = m.expertLoads;
    if (!arch.moe) throw new ConfigError('expertLoads', loads.length, `no per-expert loads: ${arch.name} has no experts`);
    if (loads.length !== arch.moe.numExperts) throw new ConfigError('expertLoads', loads.length, `one load per expert (${arch.moe.numExperts})`);
    let any = false;
    for (let i = 0; i < loads.length; i++) {
      const x = loads[i]!;
      if (!Number.isFinite(x) || x < 0) throw new ConfigError(`expertLoads[${i}]`, x, 'a finite load >= 0');
      if (x > 0) any = true;
    }
    if (!any) throw new ConfigError('expertLoads', 0, 'at least one expert with a load > 0');
  }
  if (m.microbatches !== undefined && (!Number.isInteger(m.microbatches) || m.microbatches < 1))
    throw new ConfigError('--microbatches', m.microbatches, 'a positive integer');
}

/**
 * Shares of the routed assignments per expert from popularities: proportional to them, except that
 * a token picks top_k DISTINCT experts, so an expert takes at most 1/top_k of all assignments (one
 * per token). Water-filling: the experts over the cap are held at it and the rest of the mass goes
 * to the others in proportion to their popularity, until none is over. (A skew of 1 over 256 experts
 * gives the first 16% of the mass; with top-8 routing it can take 12.5% at most.)
 */
export function routedShares(popularity: readonly number[], topK: number): number[] {
  const n = popularity.length;
  const total = popularity.reduce((a, b) => a + b, 0);
  const share = popularity.map((x) => x / total);
  const cap = 1 / Math.max(1, topK);
  if (topK <= 1 || topK > n) return share;
  const capped = new Array<boolean>(n).fill(false);
  for (let round = 0; round < n; round++) {
    let nCapped = 0;
    let freeMass = 0;
    for (let e = 0; e < n; e++) if (capped[e]) nCapped++;
    else freeMass += popularity[e]!;
    const rest = 1 - nCapped * cap;
    let over = false;
    for (let e = 0; e < n; e++) {
      if (capped[e]) share[e] = cap;
      else share[e] = freeMass > 0 ? (popularity[e]! / freeMass) * rest : rest / (n - nCapped);
      if (!capped[e] && share[e]! > cap * (1 + 1e-12)) over = true;
    }
    if (!over) break;
    for (let e = 0; e < n; e++) if (share[e]! > cap * (1 + 1e-12)) capped[e] = true;
  }
  return share;
}

/**
 * Load of the busiest EP rank relative to the mean rank (>= 1). Expert e has popularity
 * loads[e] (or 1/(e+1)^skew); placement puts E/ep experts on each rank: contiguous blocks,
 * round-robin, or balanced (greedy: heaviest expert to the lightest rank, E/ep per rank).
 */
export function busiestRankFactor(numExperts: number, ep: number, m: Pick<Mapping, 'routingSkew' | 'expertLoads' | 'expertPlacement'>, topK = 1): number {
  if (ep <= 1) return 1;
  const skew = m.routingSkew ?? 0;
  if (!m.expertLoads && skew === 0) return 1;
  const loads = routedShares(m.expertLoads ?? Array.from({ length: numExperts }, (_, e) => 1 / (e + 1) ** skew), topK);
  const per = numExperts / ep;
  const rank = new Array<number>(ep).fill(0);
  const placement = m.expertPlacement ?? 'contiguous';
  if (placement === 'balanced') {
    const count = new Array<number>(ep).fill(0);
    const order = loads.map((l, e) => [l, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (const [l] of order) {
      let best = -1;
      for (let r = 0; r < ep; r++) if (count[r]! < per && (best < 0 || rank[r]! < rank[best]!)) best = r;
      rank[best] += l;
      count[best]++;
    }
  } else {
    loads.forEach((l, e) => {
      rank[placement === 'contiguous' ? Math.floor(e / per) : e % ep] += l;
    });
  }
  const total = rank.reduce((a, b) => a + b, 0);
  return total > 0 ? (Math.max(...rank) * ep) / total : 1;
}

export interface CommSpec {
  name: string;
  kind: CollectiveKind;
  /** Per-device message size (network.ts conventions). */
  bytes: number;
  groupSize: number;
  /** Product of the degrees of the groups placed inside this one (rank stride). */
  stride: number;
  /** Times per stage per microbatch (layers). */
  count: number;
  /** The GEMM this collective overlaps with, tile by tile (TP), if any. */
  overlapWith?: string;
}

export interface DevicePlan {
  /** Operators of the busiest pipeline stage, one microbatch, per device. */
  ops: Operator[];
  comms: CommSpec[];
  microbatches: number;
  /** Step time = stage time of one microbatch x this. Prefill (one pass of the batch through the
   *  pipeline, filling and draining it): microbatches + pp - 1. Decode (steady state: a microbatch's
   *  next token enters the first stage once its last one left the last stage, so the stages stay busy
   *  when there are at least as many microbatches as stages): max(microbatches, pp). */
  pipelineFactor: number;
  expertLoadFactor: number;
}

const isLayerOp = (name: string) => name.startsWith('L*.') || name.startsWith('dense.') || name.startsWith('moe.');
const ROW_PARALLEL = /(o_proj|\.down|v_up)$/;
const REPLICATED = /(q_a_proj|kv_a_proj|kv_a_norm|q_a_norm)$/;
/** What the name of an operator says about its sharding (bits below), worked out once per name:
 *  operator names are a small fixed set of literals, and the tests run for every operator built. */
const LAYER_OP = 1;
const ROW_PAR = 2;
const REPLICATED_OP = 4;
const nameFlagCache = new Map<string, number>();
function nameFlags(name: string): number {
  let f = nameFlagCache.get(name);
  if (f === undefined) {
    f = (isLayerOp(name) ? LAYER_OP : 0) | (ROW_PARALLEL.test(name) ? ROW_PAR : 0) | (REPLICATED.test(name) ? REPLICATED_OP : 0);
    // Bounded: only literal names reach here, but a caller could build operators of its own.
    if (nameFlagCache.size > 4096) nameFlagCache.clear();
    nameFlagCache.set(name, f);
  }
  return f;
}

/** nameFlags by position in the operator list: the lists of one model and phase repeat their names
 *  in order, so a name compared by identity with the one last seen at its position skips the map.
 *  (Names are literals: equal names are one string, and the check is one comparison.) */
const flagNameAt: (string | null)[] = new Array<string | null>(64).fill(null);
const flagsAt: number[] = new Array<number>(64).fill(0);
function nameFlagsAt(i: number, name: string): number {
  if (i < 64) {
    if (flagNameAt[i] === name) return flagsAt[i]!;
    const f = nameFlags(name);
    flagNameAt[i] = name;
    flagsAt[i] = f;
    return f;
  }
  return nameFlags(name);
}

function actBytesOf(op: Operator): number {
  const elems = (op.m * op.k + op.m * op.n) * op.groups;
  return elems > 0 ? op.activationBytes / elems : 0;
}

/** Shards one operator for a device: tp/moeTp on columns or rows, sp on tokens, stage layers.
 *  `flags`: nameFlags(op.name). Overwrites `op` (a fresh operator of buildOperators, sharded once:
 *  a copy per operator was a third of the time of building a plan). */
function shardOp(op: Operator, arch: ModelArch, m: Mapping, phase: Phase, stageCount: number, epGroups: number, loadFactor: number, flags: number): Operator {
  const tokDiv = phase === 'prefill' ? m.sp : 1; // sequence parallel splits prefill tokens
  let mm = op.m;
  let n = op.n;
  let k = op.k;
  let groups = op.groups;
  let flops = op.flops;
  let weightBytes = op.weightBytes;
  let activationBytes = op.activationBytes;
  let kvReadBytes = op.kvReadBytes;
  let kvWriteBytes = op.kvWriteBytes;
  if (op.kind === 'attention') {
    // Heads split over TP; the KV heads too while there are enough, else they are replicated.
    // MLA's latent cache is shared by all heads, so every TP rank holds and reads all of it.
    const mla = arch.attention.kind === 'mla';
    const kvDiv = mla ? 1 : Math.min(m.tp, arch.numKvHeads);
    const headDiv = m.tp;
    // Context parallel: this rank owns 1/sp of the queries (prefill) or of the KV (decode).
    flops = op.flops / headDiv / m.sp;
    activationBytes = op.activationBytes / headDiv / tokDiv;
    kvReadBytes = op.kvReadBytes / kvDiv / m.sp;
    kvWriteBytes = op.kvWriteBytes / kvDiv / m.sp;
    if (mla) mm = op.m / headDiv;
    else groups = Math.max(1, op.groups / m.tp);
    if (!mla && arch.numKvHeads < m.tp) mm = op.m / (m.tp / arch.numKvHeads);
    if (phase === 'prefill') mm = mm / m.sp;
    else n = op.n / m.sp;
  } else if (op.kind === 'gemm') {
    const ab = actBytesOf(op);
    let split = 1;
    if (op.shard === 'ep') split = moeTpOf(m);
    else if (op.shard === 'tp' && !(flags & REPLICATED_OP)) split = m.tp;
    const rowPar = (flags & ROW_PAR) !== 0;
    mm = op.m / tokDiv;
    if (op.shard === 'ep') {
      groups = epGroups;
      mm = op.m * loadFactor;
    }
    n = rowPar ? op.n : op.n / split;
    k = rowPar ? op.k / split : op.k;
    flops = 2 * mm * n * k * groups;
    weightBytes = (op.weightBytes * groups) / (op.groups || 1) / split;
    activationBytes = (mm * k + mm * n) * groups * ab;
  } else {
    // Vector and embedding work follows the tokens; the embedding table is vocab-split over TP.
    mm = op.m / tokDiv;
    flops = op.flops / tokDiv;
    activationBytes = op.activationBytes / tokDiv;
    if (op.kind === 'embedding') weightBytes = op.weightBytes / tokDiv / m.tp;
  }
  op.count = stageCount;
  op.m = mm;
  op.n = n;
  op.k = k;
  op.groups = groups;
  op.flops = flops;
  op.weightBytes = weightBytes;
  op.activationBytes = activationBytes;
  op.kvReadBytes = kvReadBytes;
  op.kvWriteBytes = kvWriteBytes;
  return op;
}

/** Whether an operator's cost depends on the context already cached (attention, KV reads). */
export function isContextOp(op: Operator): boolean {
  return op.kind === 'attention' || op.kvReadBytes > 0;
}

/** The per-device operators of one step (all of them, or only the context-dependent ones).
 *  loadFactor: the busiest EP rank's load, or < 0 to compute it if an expert operator needs it. */
function shardedOps(
  arch: ModelArch,
  prec: PrecisionSpec,
  phase: Phase,
  seqs: number,
  newTokens: number,
  contextBefore: number,
  m: Mapping,
  contextOnly: boolean,
  loadFactor: number,
): Operator[] {
  const shape = { batch: seqs, newTokens, contextBefore };
  // Sharded in place: the operators built here are this plan's alone; the list keeps the ones
  // asked for, in their order.
  const ops = buildOperators(arch, prec, phase, shape, undefined, contextOnly);
  // The EP group spans every replica of the stage: routing statistics come from all their tokens.
  let moeOps: Operator[] | null = null;
  let kept = 0;
  for (let i = 0; i < ops.length; i++) {
    if (contextOnly && !isContextOp(ops[i]!)) continue;
    let op = ops[i]!;
    if (op.shard === 'ep') {
      moeOps ??= arch.moe && m.dp > 1 ? buildOperators(arch, prec, phase, { ...shape, batch: seqs * m.dp }) : ops;
      op = moeOps.find((x) => x.name === op.name)!;
    }
    if (loadFactor < 0) loadFactor = arch.moe ? busiestRankFactor(arch.moe.numExperts, m.ep, m, arch.moe.topK) : 1;
    // nameFlagsAt's slots: a context-only list (a decode sample) from slot 48, so that it and the full
    // lists (prefill) do not evict each other's names at the same positions.
    const flags = nameFlagsAt(contextOnly ? 48 + i : i, op.name);
    const stageCount = flags & LAYER_OP ? Math.ceil(op.count / m.pp) : op.count;
    const epGroups = op.shard === 'ep' ? Math.min(op.groups, arch.moe!.numExperts / m.ep) : op.groups;
    ops[kept++] = shardOp(op, arch, m, phase, stageCount, epGroups, loadFactor, flags);
  }
  if (kept < ops.length) ops.length = kept;
  return ops;
}

/** Microbatches per DP replica (the mapping's, else one per pipeline stage, at most a sequence
 *  each) and the sequences of one microbatch. */
function microbatchOf(batch: number, m: Mapping): { mb: number; seqs: number } {
  const perReplica = batch / m.dp;
  const mb = Math.max(1, Math.min(m.microbatches ?? m.pp, perReplica));
  return { mb, seqs: perReplica / mb };
}

/**
 * The context-dependent operators of planDevice(...).ops (attention, KV reads), in their order:
 * the only part of a decode step that changes with the context.
 */
export function planContextOps(
  arch: ModelArch,
  prec: PrecisionSpec,
  phase: Phase,
  batch: number,
  newTokens: number,
  contextBefore: number,
  m: Mapping,
): Operator[] {
  return shardedOps(arch, prec, phase, microbatchOf(batch, m).seqs, newTokens, contextBefore, m, true, -1);
}

/**
 * Per-device plan of one step: `batch` sequences in total (all DP replicas), each adding `newTokens`
 * after `contextBefore` cached tokens.
 */
export function planDevice(
  arch: ModelArch,
  prec: PrecisionSpec,
  phase: Phase,
  batch: number,
  newTokens: number,
  contextBefore: number,
  m: Mapping,
): DevicePlan {
  const { mb, seqs } = microbatchOf(batch, m);
  const loadFactor = arch.moe ? busiestRankFactor(arch.moe.numExperts, m.ep, m, arch.moe.topK) : 1;
  const out = shardedOps(arch, prec, phase, seqs, newTokens, contextBefore, m, false, loadFactor);
  const actB = BYTES_PER_ELEMENT[prec.activations];
  const tokensDev = (seqs * newTokens) / (phase === 'prefill' ? m.sp : 1);
  const hidden = arch.hiddenSize;
  const lc = layerCounts(arch);
  const stage = (n: number) => Math.ceil(n / m.pp);
  const comms: CommSpec[] = [];
  if (m.tp > 1) {
    comms.push({ name: 'tp.attn.all-reduce', kind: 'all-reduce', bytes: tokensDev * hidden * actB, groupSize: m.tp, stride: 1, count: stage(arch.numLayers), overlapWith: 'L*.attn.o_proj' });
    if (lc.dense > 0)
      comms.push({ name: 'tp.ffn.all-reduce', kind: 'all-reduce', bytes: tokensDev * hidden * actB, groupSize: m.tp, stride: 1, count: stage(lc.dense), overlapWith: 'dense.ffn.down' });
  }
  if (arch.moe && lc.moe > 0) {
    const moeTp = moeTpOf(m);
    if (m.ep > 1) {
      // Dispatch and combine: each EP rank sends its tokens' top-k copies; the busiest rank's
      // incast grows with its load.
      const uniqueTokens = (seqs * m.dp * newTokens) / m.ep;
      const bytes = uniqueTokens * arch.moe.topK * hidden * actB * loadFactor;
      comms.push({ name: 'ep.dispatch.all-to-all', kind: 'all-to-all', bytes, groupSize: m.ep, stride: moeTp, count: stage(lc.moe) });
      comms.push({ name: 'ep.combine.all-to-all', kind: 'all-to-all', bytes, groupSize: m.ep, stride: moeTp, count: stage(lc.moe) });
    }
    if (moeTp > 1 || m.tp > 1) {
      const g = Math.max(moeTp, m.tp);
      comms.push({ name: 'tp.moe.all-reduce', kind: 'all-reduce', bytes: tokensDev * hidden * actB, groupSize: g, stride: 1, count: stage(lc.moe), overlapWith: 'moe.experts.down' });
    }
  }
  if (m.sp > 1) {
    const kvLayer = kvBytesPerToken(arch, prec) / arch.numLayers;
    const kvDiv = arch.attention.kind === 'mla' ? 1 : Math.min(m.tp, arch.numKvHeads);
    if (phase === 'prefill') {
      // Ring/all-gather attention: every rank needs the keys and values of the whole prompt.
      const bytes = (seqs * newTokens * kvLayer) / kvDiv;
      comms.push({ name: 'sp.kv.all-gather', kind: 'all-gather', bytes, groupSize: m.sp, stride: m.tp, count: stage(arch.numLayers) });
    } else {
      // Partial attention outputs (value + log-sum-exp, fp32) are combined across the KV shards.
      const bytes = (seqs * (arch.numHeads / m.tp) * (arch.headDim + 1) * 4 * m.sp);
      comms.push({ name: 'sp.attn.all-gather', kind: 'all-gather', bytes, groupSize: m.sp, stride: m.tp, count: stage(arch.numLayers) });
    }
  }
  if (m.pp > 1) {
    comms.push({ name: 'pp.send-recv', kind: 'send-recv', bytes: tokensDev * hidden * actB, groupSize: m.pp, stride: m.tp * m.sp * m.dp, count: 1 });
  }
  return { ops: out, comms, microbatches: mb, pipelineFactor: phase === 'decode' ? Math.max(mb, m.pp) : mb + m.pp - 1, expertLoadFactor: loadFactor };
}

export interface Footprint {
  weightsBytes: number;
  kvCacheBytes: number;
  activationBytes: number;
}

/** Bytes of routed-expert weights of the whole model. */
export function expertWeightBytes(arch: ModelArch, prec: PrecisionSpec): number {
  if (!arch.moe) return 0;
  const mats = arch.gatedFfn ? 3 : 2;
  return layerCounts(arch).moe * arch.moe.numExperts * mats * arch.hiddenSize * arch.moe.expertIntermediateSize * BYTES_PER_ELEMENT[prec.weights];
}

/** Per-device memory of one mapping: weights, KV for the batch at full context, activations. */
export function footprintPerDevice(arch: ModelArch, prec: PrecisionSpec, m: Mapping, batch: number, inputTokens: number, outputTokens: number): Footprint {
  const expert = expertWeightBytes(arch, prec);
  const dense = weightBytesTotal(arch, prec) - expert;
  const weightsBytes = dense / (m.tp * m.pp) + expert / (m.ep * moeTpOf(m) * m.pp);
  const kvDiv = arch.attention.kind === 'mla' ? 1 : Math.min(m.tp, arch.numKvHeads);
  const kvCacheBytes = (kvBytesPerToken(arch, prec) * (batch / m.dp) * (inputTokens + outputTokens)) / (m.pp * m.sp * kvDiv);
  const widest = Math.max(
    arch.hiddenSize * 2,
    ((arch.numHeads + 2 * arch.numKvHeads) * arch.headDim) / m.tp,
    ((arch.gatedFfn ? 2 : 1) * Math.max(arch.intermediateSize / m.tp, arch.moe ? arch.moe.expertIntermediateSize * arch.moe.topK : 0)),
  );
  const tokens = ((batch / m.dp) * inputTokens) / m.sp;
  const activationBytes = tokens * widest * BYTES_PER_ELEMENT[prec.activations] + (arch.vocabSize / m.tp) * (batch / m.dp) * 4;
  return { weightsBytes, kvCacheBytes, activationBytes };
}
