// ModelArch + precision + step shape -> operator list with exact FLOPs and bytes (DESIGN 2.1).
// Pure and deterministic. This runs in the search's inner loop, so it allocates nothing but the
// result (operator names are literals; per-architecture constants are cached (recent.ts) keyed by
// the ModelArch object, which must therefore be treated as immutable once built).
//
// Conventions (all figures are for ONE instance of the operator — one layer — and the whole batch):
// - T = batch * newTokens tokens pass through every projection in the step.
// - GEMM: [m x k] x [k x n], `groups` independent instances. flops = 2*m*n*k*groups,
//   weightBytes = n*k*groups*B(weights), activationBytes = (m*k + m*n)*groups*B(activations).
// - Attention core: matrix FLOPs only (QK^T and AV; softmax, scaling and RoPE are not counted as
//   FLOPs). It reads the K/V of every key position it attends to from the KV cache, including the
//   positions written in this same step (kvReadBytes), and writes the new tokens' K/V (kvWriteBytes).
//   Its activationBytes are Q in and the attention output out (flash-style: scores stay on chip).
//   Its shape describes the per-KV-group batched GEMM: m = query rows sharing one K/V stream,
//   n = key positions read per sequence, k = q/k head dim, groups = independent K/V streams.
//   FLOPs are exact for the causal mask and do not equal 2*m*n*k*groups (which would be the
//   unmasked rectangle).
// - Norms (RMSNorm): 4 FLOPs per element (square, accumulate, scale, gamma). Residual adds and the
//   FFN activation function are treated as fused into neighbouring ops (no separate FLOPs).
// - Every parameter is stored at prec.weights (norm gains and embeddings included), so that the sum
//   of weightBytes over the ops of a step with every expert hit equals weightBytesTotal().
// - Biases (gpt-oss attention/expert biases), attention sinks (gpt-oss) and DeepSeek's router
//   correction bias are not part of ModelArch and are ignored (< 0.01% of parameters).
import type { ModelArch, Operator, Phase, Precision, PrecisionSpec } from '../types.js';
import { BYTES_PER_ELEMENT } from '../types.js';
import { RecentCache } from '../recent.js';
import { primeShape } from '../shape.js';

export interface StepShape {
  /** Sequences in the step. */
  batch: number;
  /** Tokens each sequence adds (prefill: prompt length or chunk; decode: 1, or >1 for speculative). */
  newTokens: number;
  /** Tokens each sequence already has in the KV cache before this step. */
  contextBefore: number;
}

/** Expected routing of one MoE layer for one step. */
export interface ExpertLoad {
  /** Experts that receive at least one token (their weights are read). */
  activeExperts: number;
  /** Mean tokens per active expert; activeExperts * tokensPerActiveExpert = tokens * topK. */
  tokensPerActiveExpert: number;
  /** Tokens of the busiest expert (sets the step time under expert parallelism). */
  maxTokensPerExpert: number;
}

/**
 * Routing hook. The default (absent, or skew 0 without expertLoad) is uniform routing, exact in
 * expectation. A load model for skewed routing (per-expert loads from a skew parameter or a routing
 * trace) plugs in through `expertLoad`; it must keep activeExperts * tokensPerActiveExpert =
 * tokens * topK so FLOPs stay exact.
 */
export interface Routing {
  /** Per-expert load skew (0 = uniform). Only meaningful to an `expertLoad` model. */
  skew?: number;
  expertLoad?: (tokens: number, numExperts: number, topK: number, skew: number) => ExpertLoad;
}

/**
 * Uniform routing: each of T tokens picks topK of E experts uniformly. Expected experts hit =
 * E * (1 - (1 - k/E)^T); tokens per hit expert = T*k / that. The busiest expert is reported at the
 * mean (balanced in expectation).
 */
export function uniformExpertLoad(tokens: number, numExperts: number, topK: number): ExpertLoad {
  if (!(tokens > 0)) return { activeExperts: 0, tokensPerActiveExpert: 0, maxTokensPerExpert: 0 };
  const p = topK / numExperts;
  // 1 - (1-p)^T computed without cancellation for small p; p = 1 gives log1p(-1) = -Inf -> 1.
  const hitFraction = p >= 1 ? 1 : -Math.expm1(tokens * Math.log1p(-p));
  // Never fewer experts than a single token touches, never more than exist.
  const active = Math.min(numExperts, Math.max(Math.min(topK, tokens * topK), numExperts * hitFraction));
  const per = (tokens * topK) / active;
  return { activeExperts: active, tokensPerActiveExpert: per, maxTokensPerExpert: per };
}

// ---------------------------------------------------------------------------------------------
// Per-architecture constants
// ---------------------------------------------------------------------------------------------

interface Derived {
  hidden: number;
  layers: number;
  vocab: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  mla: boolean;
  // GQA
  qkvN: number;
  // MLA (0 when GQA)
  qLoraRank: number; // 0 -> direct q projection
  kvLoraRank: number;
  qkNope: number;
  qkRope: number;
  vHead: number;
  qkDim: number; // per-head q/k dim (GQA: headDim; MLA: nope + rope)
  oK: number; // input width of o_proj (heads * v dim)
  qkNorm: boolean; // Qwen3 per-head q/k RMSNorm
  fullLayers: number;
  slidingLayers: number;
  window: number; // Infinity when none
  denseLayers: number;
  moeLayers: number;
  ffnUpN: number; // dense gate+up width
  ffnMats: number; // 3 gated, 2 otherwise
  // MoE (0 when dense)
  experts: number;
  topK: number;
  expertI: number;
  expertUpN: number;
  sharedN: number; // shared experts concatenated: numShared * sharedIntermediate
  sharedUpN: number;
  kvElemsPerTokenLayer: number; // GQA: 2*kvHeads*headDim; MLA: kvLoraRank + qkRope
  // parameter counts
  attnParams: number; // per layer, incl. q/kv norms inside attention, excl. the two layer norms
  denseFfnParams: number;
  expertParams: number; // one routed expert
  moeLayerParams: number; // router + all routed + shared
  moeLayerActiveParams: number; // router + topK routed + shared
}

/** Per-architecture constants of the last few ModelArch objects (see recent.ts for why not a WeakMap). */
const cache = new RecentCache<ModelArch, Derived>(8);

function moeLayerCount(arch: ModelArch): number {
  const m = arch.moe;
  if (!m) return 0;
  if (arch.numLayers <= m.firstDenseLayers) return 0;
  return Math.floor((arch.numLayers - m.firstDenseLayers - 1) / m.layerFreq) + 1;
}

function derive(arch: ModelArch): Derived {
  const hit = cache.get(arch);
  if (hit) return hit;
  const hidden = arch.hiddenSize;
  const heads = arch.numHeads;
  const kvHeads = arch.numKvHeads;
  const headDim = arch.headDim;
  const att = arch.attention;
  const ffnMats = arch.gatedFfn ? 3 : 2;
  const moeLayers = moeLayerCount(arch);
  const denseLayers = arch.numLayers - moeLayers;
  const qkNorm = arch.family === 'qwen3' || arch.family === 'qwen3_moe';

  let qkvN = 0;
  let qLoraRank = 0;
  let kvLoraRank = 0;
  let qkNope = 0;
  let qkRope = 0;
  let vHead = headDim;
  let qkDim = headDim;
  let kvElems: number;
  let attnParams: number;
  let slidingLayers = 0;
  let window = Infinity;
  if (att.kind === 'mla') {
    qLoraRank = att.qLoraRank ?? 0;
    kvLoraRank = att.kvLoraRank;
    qkNope = att.qkNopeHeadDim;
    qkRope = att.qkRopeHeadDim;
    vHead = att.vHeadDim;
    qkDim = qkNope + qkRope;
    kvElems = kvLoraRank + qkRope;
    const qParams =
      qLoraRank > 0 ? hidden * qLoraRank + qLoraRank + qLoraRank * heads * qkDim : hidden * heads * qkDim;
    attnParams =
      qParams +
      hidden * (kvLoraRank + qkRope) +
      kvLoraRank + // kv_a_layernorm
      kvLoraRank * heads * (qkNope + vHead) + // kv_b_proj
      heads * vHead * hidden; // o_proj
  } else {
    qkvN = (heads + 2 * kvHeads) * headDim;
    kvElems = 2 * kvHeads * headDim;
    attnParams = hidden * qkvN + heads * headDim * hidden + (qkNorm ? 2 * headDim : 0);
    if (att.slidingWindow !== null && att.slidingLayerFraction > 0) {
      slidingLayers = Math.round(arch.numLayers * att.slidingLayerFraction);
      window = att.slidingWindow;
    }
  }

  const m = arch.moe;
  const experts = m ? m.numExperts : 0;
  const topK = m ? m.topK : 0;
  const expertI = m ? m.expertIntermediateSize : 0;
  const sharedN = m ? m.numSharedExperts * m.sharedIntermediateSize : 0;
  const expertParams = ffnMats * hidden * expertI;
  const sharedParams = ffnMats * hidden * sharedN;
  const d: Derived = {
    hidden,
    layers: arch.numLayers,
    vocab: arch.vocabSize,
    heads,
    kvHeads,
    headDim,
    mla: att.kind === 'mla',
    qkvN,
    qLoraRank,
    kvLoraRank,
    qkNope,
    qkRope,
    vHead,
    qkDim,
    oK: heads * vHead,
    qkNorm,
    fullLayers: arch.numLayers - slidingLayers,
    slidingLayers,
    window,
    denseLayers,
    moeLayers,
    ffnUpN: (ffnMats - 1) * arch.intermediateSize,
    ffnMats,
    experts,
    topK,
    expertI,
    expertUpN: (ffnMats - 1) * expertI,
    sharedN,
    sharedUpN: (ffnMats - 1) * sharedN,
    kvElemsPerTokenLayer: kvElems,
    attnParams,
    denseFfnParams: ffnMats * hidden * arch.intermediateSize,
    expertParams,
    moeLayerParams: hidden * experts + experts * expertParams + sharedParams,
    moeLayerActiveParams: hidden * experts + topK * expertParams + sharedParams,
  };
  cache.set(arch, d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Precision
// ---------------------------------------------------------------------------------------------

/** The wider (more bytes per element) of two precisions; on a tie, `b` (the activation side). */
export function widerPrecision(a: Precision, b: Precision): Precision {
  return BYTES_PER_ELEMENT[a] > BYTES_PER_ELEMENT[b] ? a : b;
}

// ---------------------------------------------------------------------------------------------
// Operator constructors (one object literal shape for every op: monomorphic and cheap)
// ---------------------------------------------------------------------------------------------

function mk(
  name: string,
  kind: Operator['kind'],
  count: number,
  m: number,
  n: number,
  k: number,
  groups: number,
  flops: number,
  weightBytes: number,
  activationBytes: number,
  kvReadBytes: number,
  kvWriteBytes: number,
  computePrecision: Precision,
  shard: Operator['shard'],
): Operator {
  return { name, kind, count, m, n, k, groups, flops, weightBytes, activationBytes, kvReadBytes, kvWriteBytes, computePrecision, shard };
}

// V8 gives a literal's fields the representation of the first values stored in them (small
// integers here), and deprecates that object shape when a field later receives a fraction or a
// number past 2^31 (an operator's FLOPs or bytes). Operators made with the deprecated shape then
// migrate on their first property access (measured: a third of the time of building a plan in a
// process that had seen small shapes first). One operator built at load time with non-numbers in
// the numeric fields gives them the general (tagged) representation from the start: it never
// changes again, small integers are stored inline (a double-represented field boxes every value,
// one allocation per field), and a field copied unchanged (parallel.ts's sharded operators share
// this shape) copies a pointer instead of allocating a box.
primeShape(mk);

function gemm(
  name: string,
  count: number,
  m: number,
  n: number,
  k: number,
  groups: number,
  bw: number,
  ba: number,
  cp: Precision,
  shard: Operator['shard'],
): Operator {
  return mk(name, 'gemm', count, m, n, k, groups, 2 * m * n * k * groups, n * k * groups * bw, (m * k + m * n) * groups * ba, 0, 0, cp, shard);
}

function norm(name: string, count: number, tokens: number, width: number, bw: number, ba: number, cp: Precision): Operator {
  return mk(name, 'vector', count, tokens, width, 1, 1, 4 * tokens * width, width * bw, 2 * tokens * width * ba, 0, 0, cp, 'none');
}

/**
 * Sum over the S new queries of one sequence of the number of keys each attends to:
 * query i (1-based) sees min(c0 + i, W) keys. Closed form, exact for integer inputs.
 */
export function causalKeyPairs(contextBefore: number, newTokens: number, window: number): number {
  const c0 = contextBefore;
  const s = newTokens;
  if (c0 + s <= window) return s * c0 + (s * (s + 1)) / 2;
  const j0 = window > c0 ? window - c0 : 0; // queries whose whole causal context fits the window
  return j0 * c0 + (j0 * (j0 + 1)) / 2 + (s - j0) * window;
}

/** Distinct key positions one sequence reads in the step (window W caps it at W + S - 1). */
function keysRead(contextBefore: number, newTokens: number, window: number): number {
  const all = contextBefore + newTokens;
  const cap = window + newTokens - 1;
  return all < cap ? all : cap;
}

// ---------------------------------------------------------------------------------------------
// buildOperators
// ---------------------------------------------------------------------------------------------

/**
 * Operators of one step (one forward pass) of `phase`, aggregated over identical layers (`count`).
 *
 * Order: embed, per-layer attention block (count = layers, or the full/sliding split for the
 * attention core), post-attention norm, dense FFN (count = dense layers), MoE block (count = MoE
 * layers), final norm, lm_head. Ops with count 0 are omitted.
 *
 * MLA (DeepSeek-V3) — two forms, chosen by phase:
 * - prefill, non-absorbed: kv_b_proj expands the latent of every context position (cached + new)
 *   to per-head K_nope and V (m = batch * (contextBefore + newTokens)); the core then runs
 *   ordinary multi-head attention with q/k dim nope+rope and v dim v_head_dim. Cheap when the
 *   context is mostly new tokens (few re-expansions), compute-bound anyway.
 * - decode, absorbed: W_UK is folded into the query (q_absorb: per head nope -> kv_lora_rank) and
 *   W_UV into the output (v_up: per head kv_lora_rank -> v_head_dim), so the core attends in the
 *   latent space: scores over kv_lora_rank + rope, AV over kv_lora_rank, all heads sharing one
 *   latent stream (m = heads * newTokens, groups = batch). The cache is read once, never expanded.
 * Both forms read the same weights (q_absorb + v_up = kv_b_proj) and the same KV cache bytes.
 *
 * contextOnly: emit only the operators whose cost depends on the cached context (the attention
 * cores and MLA prefill's kv_b_proj, which reads the latent cache), in the same order and with the
 * same figures as in the full list. The decode step's context samples need only these, so they
 * skip building (and the GC skips collecting) the rest. Routing is not consulted in this mode.
 */
export function buildOperators(
  arch: ModelArch,
  prec: PrecisionSpec,
  phase: Phase,
  step: StepShape,
  routing?: Routing,
  contextOnly = false,
): Operator[] {
  const b = step.batch;
  const s = step.newTokens;
  const c0 = step.contextBefore;
  if (!(b > 0 && s > 0 && c0 >= 0 && Number.isFinite(b) && Number.isFinite(s) && Number.isFinite(c0))) {
    throw new RangeError(
      `step shape: batch > 0, newTokens > 0 and contextBefore >= 0 (finite) expected, got ${b}, ${s}, ${c0}`,
    );
  }
  const d = derive(arch);
  const bw = BYTES_PER_ELEMENT[prec.weights];
  const ba = BYTES_PER_ELEMENT[prec.activations];
  const bkv = BYTES_PER_ELEMENT[prec.kvCache];
  const cpG = widerPrecision(prec.weights, prec.activations);
  const cpA = widerPrecision(prec.kvCache, prec.activations);
  const cpV = prec.activations;
  const t = b * s;
  const L = d.layers;
  const hidden = d.hidden;
  const H = d.heads;
  const ops: Operator[] = [];
  const all = !contextOnly;

  // Embedding lookup: reads one row per token (at most the whole table), writes the hidden states.
  const rows = t < d.vocab ? t : d.vocab;
  if (all) ops.push(mk('embed', 'embedding', 1, t, hidden, 1, 1, 0, rows * hidden * bw, t * hidden * ba, 0, 0, cpV, 'none'));

  if (all) ops.push(norm('L*.attn.norm', L, t, hidden, bw, ba, cpV));

  if (!d.mla) {
    const dh = d.headDim;
    const kvH = d.kvHeads;
    if (all) ops.push(gemm('L*.attn.qkv_proj', L, t, d.qkvN, hidden, 1, bw, ba, cpG, 'tp'));
    if (d.qkNorm) {
      // Per-head RMSNorm of q and k (Qwen3); gains of width headDim each.
      const w = (H + kvH) * dh;
      if (all) ops.push(mk('L*.attn.qk_norm', 'vector', L, t, w, 1, 1, 4 * t * w, 2 * dh * bw, 2 * t * w * ba, 0, 0, cpV, 'none'));
    }
    const perTok = d.kvElemsPerTokenLayer * bkv;
    const groupRows = s * (H / kvH);
    const act = 2 * t * H * dh * ba; // Q in, O out
    const kvWrite = b * s * perTok;
    if (d.fullLayers > 0) {
      const keys = c0 + s;
      const flops = 4 * H * dh * b * causalKeyPairs(c0, s, Infinity);
      ops.push(mk('L*.attn.core', 'attention', d.fullLayers, groupRows, keys, dh, b * kvH, flops, 0, act, b * keys * perTok, kvWrite, cpA, 'tp'));
    }
    if (d.slidingLayers > 0) {
      const keys = keysRead(c0, s, d.window);
      const flops = 4 * H * dh * b * causalKeyPairs(c0, s, d.window);
      ops.push(mk('L*.attn.core_swa', 'attention', d.slidingLayers, groupRows, keys, dh, b * kvH, flops, 0, act, b * keys * perTok, kvWrite, cpA, 'tp'));
    }
  } else {
    const qk = d.qkDim;
    const lat = d.kvLoraRank;
    const rope = d.qkRope;
    const dv = d.vHead;
    if (d.qLoraRank > 0) {
      if (all) ops.push(gemm('L*.attn.q_a_proj', L, t, d.qLoraRank, hidden, 1, bw, ba, cpG, 'tp'));
      if (all) ops.push(norm('L*.attn.q_a_norm', L, t, d.qLoraRank, bw, ba, cpV));
      if (all) ops.push(gemm('L*.attn.q_b_proj', L, t, H * qk, d.qLoraRank, 1, bw, ba, cpG, 'tp'));
    } else {
      if (all) ops.push(gemm('L*.attn.q_proj', L, t, H * qk, hidden, 1, bw, ba, cpG, 'tp'));
    }
    if (all) ops.push(gemm('L*.attn.kv_a_proj', L, t, lat + rope, hidden, 1, bw, ba, cpG, 'tp'));
    if (all) ops.push(norm('L*.attn.kv_a_norm', L, t, lat, bw, ba, cpV));
    const ctx = c0 + s;
    const pairs = causalKeyPairs(c0, s, Infinity);
    const kvWrite = b * s * (lat + rope) * bkv;
    if (phase === 'prefill') {
      // kv_b_proj over every context position: the latent comes from the cache (kvRead), the
      // expanded K_nope/V are activations.
      const mCtx = b * ctx;
      const nB = H * (d.qkNope + dv);
      ops.push(
        mk('L*.attn.kv_b_proj', 'gemm', L, mCtx, nB, lat, 1, 2 * mCtx * nB * lat, nB * lat * bw, mCtx * nB * ba, mCtx * lat * bkv, 0, cpG, 'tp'),
      );
      const flops = 2 * b * H * pairs * (qk + dv);
      // Q in, expanded K_nope and V in, O out; the shared k_pe of each position comes from the cache.
      const act = (t * H * qk + mCtx * H * (d.qkNope + dv) + t * H * dv) * ba;
      ops.push(mk('L*.attn.core', 'attention', L, s, ctx, qk, b * H, flops, 0, act, mCtx * rope * bkv, kvWrite, cpA, 'tp'));
    } else {
      if (all) ops.push(gemm('L*.attn.q_absorb', L, t, lat, d.qkNope, H, bw, ba, cpG, 'tp'));
      const flops = 2 * b * H * pairs * (lat + rope) + 2 * b * H * pairs * lat;
      const act = (t * H * (lat + rope) + t * H * lat) * ba; // latent q in, latent output out
      ops.push(mk('L*.attn.core', 'attention', L, s * H, ctx, lat + rope, b, flops, 0, act, b * ctx * (lat + rope) * bkv, kvWrite, cpA, 'tp'));
      if (all) ops.push(gemm('L*.attn.v_up', L, t, dv, lat, H, bw, ba, cpG, 'tp'));
    }
  }

  if (all) ops.push(gemm('L*.attn.o_proj', L, t, hidden, d.oK, 1, bw, ba, cpG, 'tp'));
  if (all) ops.push(norm('L*.ffn.norm', L, t, hidden, bw, ba, cpV));

  if (all && d.denseLayers > 0) {
    ops.push(gemm('dense.ffn.gate_up', d.denseLayers, t, d.ffnUpN, hidden, 1, bw, ba, cpG, 'tp'));
    ops.push(gemm('dense.ffn.down', d.denseLayers, t, hidden, arch.intermediateSize, 1, bw, ba, cpG, 'tp'));
  }

  // The FFN and MoE blocks hold no context-dependent operator.
  if (all && d.moeLayers > 0) {
    const nm = d.moeLayers;
    ops.push(gemm('moe.router', nm, t, d.experts, hidden, 1, bw, ba, cpG, 'none'));
    const skew = routing?.skew ?? 0;
    let load: ExpertLoad;
    if (routing?.expertLoad) load = routing.expertLoad(t, d.experts, d.topK, skew);
    else if (skew !== 0) throw new RangeError('routing.skew needs a routing.expertLoad model (uniform routing is skew 0)');
    else load = uniformExpertLoad(t, d.experts, d.topK);
    const active = load.activeExperts;
    const mE = load.tokensPerActiveExpert;
    const assigned = t * d.topK; // token-expert pairs: exact FLOPs whatever the load model
    const upN = d.expertUpN;
    const eI = d.expertI;
    // Dispatch: top-k selection over the router logits and the permutation that groups each
    // expert's tokens (reads the T x hidden activations, writes the T*k copies). Combine: the
    // weighted sum of each token's k expert outputs (reads T*k x hidden, writes T x hidden).
    // Every MoE implementation runs these as kernels of their own.
    ops.push(mk('moe.dispatch', 'vector', nm, t, hidden, 1, 1, t * d.experts * 2, 0, (t * hidden + assigned * hidden + t * d.experts) * ba, 0, 0, cpV, 'none'));
    ops.push(
      mk('moe.experts.gate_up', 'gemm', nm, mE, upN, hidden, active, 2 * assigned * upN * hidden, upN * hidden * active * bw, assigned * (hidden + upN) * ba, 0, 0, cpG, 'ep'),
    );
    ops.push(
      mk('moe.experts.down', 'gemm', nm, mE, hidden, eI, active, 2 * assigned * hidden * eI, hidden * eI * active * bw, assigned * (eI + hidden) * ba, 0, 0, cpG, 'ep'),
    );
    ops.push(mk('moe.combine', 'vector', nm, t, hidden, 1, 1, 2 * assigned * hidden, 0, (assigned * hidden + t * hidden) * ba, 0, 0, cpV, 'none'));
    if (d.sharedN > 0) {
      ops.push(gemm('moe.shared.gate_up', nm, t, d.sharedUpN, hidden, 1, bw, ba, cpG, 'tp'));
      ops.push(gemm('moe.shared.down', nm, t, hidden, d.sharedN, 1, bw, ba, cpG, 'tp'));
    }
  }

  if (all) ops.push(norm('final_norm', 1, t, hidden, bw, ba, cpV));
  // Logits: prefill needs them only for the last position of each sequence; decode for every token.
  if (all) ops.push(gemm('lm_head', 1, phase === 'prefill' ? b : t, d.vocab, hidden, 1, bw, ba, cpG, 'tp'));
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Whole-model figures
// ---------------------------------------------------------------------------------------------

/**
 * Parameter counts. `total` includes the input embedding, the LM head (unless tied), every layer
 * and the final norm (DeepSeek's MTP module is not part of ModelArch). `activePerToken` counts the
 * parameters one token touches: everything except the routed experts it is not sent to (embedding
 * and LM head included). `embedding` is the input embedding table alone.
 */
export function parameterCounts(arch: ModelArch): { total: number; activePerToken: number; embedding: number } {
  const d = derive(arch);
  const embedding = d.vocab * d.hidden;
  const lmHead = arch.tieWordEmbeddings ? 0 : embedding;
  const perLayer = d.attnParams + 2 * d.hidden;
  const total =
    embedding + lmHead + d.layers * perLayer + d.denseLayers * d.denseFfnParams + d.moeLayers * d.moeLayerParams + d.hidden;
  const activePerToken =
    embedding + lmHead + d.layers * perLayer + d.denseLayers * d.denseFfnParams + d.moeLayers * d.moeLayerActiveParams + d.hidden;
  return { total, activePerToken, embedding };
}

/** Bytes of all parameters at prec.weights. */
export function weightBytesTotal(arch: ModelArch, prec: PrecisionSpec): number {
  return parameterCounts(arch).total * BYTES_PER_ELEMENT[prec.weights];
}

/** KV-cache bytes one token adds, summed over all layers (GQA: K and V per KV head; MLA: latent + rope key). */
export function kvBytesPerToken(arch: ModelArch, prec: PrecisionSpec): number {
  const d = derive(arch);
  return d.layers * d.kvElemsPerTokenLayer * BYTES_PER_ELEMENT[prec.kvCache];
}

/**
 * KV-cache bytes one sequence of `contextTokens` holds: sliding-window layers keep at most
 * `window` positions. Equals contextTokens * kvBytesPerToken when there is no window.
 */
export function kvBytesPerSequence(arch: ModelArch, prec: PrecisionSpec, contextTokens: number): number {
  const d = derive(arch);
  const perTokLayer = d.kvElemsPerTokenLayer * BYTES_PER_ELEMENT[prec.kvCache];
  const windowed = contextTokens < d.window ? contextTokens : d.window;
  return perTokLayer * (d.fullLayers * contextTokens + d.slidingLayers * windowed);
}

/** Number of MoE layers and dense-FFN layers of an architecture. */
export function layerCounts(arch: ModelArch): { dense: number; moe: number; sliding: number; full: number } {
  const d = derive(arch);
  return { dense: d.denseLayers, moe: d.moeLayers, sliding: d.slidingLayers, full: d.fullLayers };
}
