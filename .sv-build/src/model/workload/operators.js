import { BYTES_PER_ELEMENT } from '../types.js';
/**
 * Uniform routing: each of T tokens picks topK of E experts uniformly. Expected experts hit =
 * E * (1 - (1 - k/E)^T); tokens per hit expert = T*k / that. The busiest expert is reported at the
 * mean (balanced in expectation).
 */
export function uniformExpertLoad(tokens, numExperts, topK) {
    if (!(tokens > 0))
        return { activeExperts: 0, tokensPerActiveExpert: 0, maxTokensPerExpert: 0 };
    const p = topK / numExperts;
    // 1 - (1-p)^T computed without cancellation for small p; p = 1 gives log1p(-1) = -Inf -> 1.
    const hitFraction = p >= 1 ? 1 : -Math.expm1(tokens * Math.log1p(-p));
    // Never fewer experts than a single token touches, never more than exist.
    const active = Math.min(numExperts, Math.max(Math.min(topK, tokens * topK), numExperts * hitFraction));
    const per = (tokens * topK) / active;
    return { activeExperts: active, tokensPerActiveExpert: per, maxTokensPerExpert: per };
}
const cache = new WeakMap();
function moeLayerCount(arch) {
    const m = arch.moe;
    if (!m)
        return 0;
    if (arch.numLayers <= m.firstDenseLayers)
        return 0;
    return Math.floor((arch.numLayers - m.firstDenseLayers - 1) / m.layerFreq) + 1;
}
function derive(arch) {
    const hit = cache.get(arch);
    if (hit)
        return hit;
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
    let kvElems;
    let attnParams;
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
        const qParams = qLoraRank > 0 ? hidden * qLoraRank + qLoraRank + qLoraRank * heads * qkDim : hidden * heads * qkDim;
        attnParams =
            qParams +
                hidden * (kvLoraRank + qkRope) +
                kvLoraRank + // kv_a_layernorm
                kvLoraRank * heads * (qkNope + vHead) + // kv_b_proj
                heads * vHead * hidden; // o_proj
    }
    else {
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
    const d = {
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
export function widerPrecision(a, b) {
    return BYTES_PER_ELEMENT[a] > BYTES_PER_ELEMENT[b] ? a : b;
}
// ---------------------------------------------------------------------------------------------
// Operator constructors (one object literal shape for every op: monomorphic and cheap)
// ---------------------------------------------------------------------------------------------
function mk(name, kind, count, m, n, k, groups, flops, weightBytes, activationBytes, kvReadBytes, kvWriteBytes, computePrecision, shard) {
    return { name, kind, count, m, n, k, groups, flops, weightBytes, activationBytes, kvReadBytes, kvWriteBytes, computePrecision, shard };
}
function gemm(name, count, m, n, k, groups, bw, ba, cp, shard) {
    return mk(name, 'gemm', count, m, n, k, groups, 2 * m * n * k * groups, n * k * groups * bw, (m * k + m * n) * groups * ba, 0, 0, cp, shard);
}
function norm(name, count, tokens, width, bw, ba, cp) {
    return mk(name, 'vector', count, tokens, width, 1, 1, 4 * tokens * width, width * bw, 2 * tokens * width * ba, 0, 0, cp, 'none');
}
/**
 * Sum over the S new queries of one sequence of the number of keys each attends to:
 * query i (1-based) sees min(c0 + i, W) keys. Closed form, exact for integer inputs.
 */
export function causalKeyPairs(contextBefore, newTokens, window) {
    const c0 = contextBefore;
    const s = newTokens;
    if (c0 + s <= window)
        return s * c0 + (s * (s + 1)) / 2;
    const j0 = window > c0 ? window - c0 : 0; // queries whose whole causal context fits the window
    return j0 * c0 + (j0 * (j0 + 1)) / 2 + (s - j0) * window;
}
/** Distinct key positions one sequence reads in the step (window W caps it at W + S - 1). */
function keysRead(contextBefore, newTokens, window) {
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
 */
export function buildOperators(arch, prec, phase, step, routing) {
    const b = step.batch;
    const s = step.newTokens;
    const c0 = step.contextBefore;
    if (!(b > 0 && s > 0 && c0 >= 0 && Number.isFinite(b) && Number.isFinite(s) && Number.isFinite(c0))) {
        throw new RangeError(`step shape: batch > 0, newTokens > 0 and contextBefore >= 0 (finite) expected, got ${b}, ${s}, ${c0}`);
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
    const ops = [];
    // Embedding lookup: reads one row per token (at most the whole table), writes the hidden states.
    const rows = t < d.vocab ? t : d.vocab;
    ops.push(mk('embed', 'embedding', 1, t, hidden, 1, 1, 0, rows * hidden * bw, t * hidden * ba, 0, 0, cpV, 'none'));
    ops.push(norm('L*.attn.norm', L, t, hidden, bw, ba, cpV));
    if (!d.mla) {
        const dh = d.headDim;
        const kvH = d.kvHeads;
        ops.push(gemm('L*.attn.qkv_proj', L, t, d.qkvN, hidden, 1, bw, ba, cpG, 'tp'));
        if (d.qkNorm) {
            // Per-head RMSNorm of q and k (Qwen3); gains of width headDim each.
            const w = (H + kvH) * dh;
            ops.push(mk('L*.attn.qk_norm', 'vector', L, t, w, 1, 1, 4 * t * w, 2 * dh * bw, 2 * t * w * ba, 0, 0, cpV, 'none'));
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
    }
    else {
        const qk = d.qkDim;
        const lat = d.kvLoraRank;
        const rope = d.qkRope;
        const dv = d.vHead;
        if (d.qLoraRank > 0) {
            ops.push(gemm('L*.attn.q_a_proj', L, t, d.qLoraRank, hidden, 1, bw, ba, cpG, 'tp'));
            ops.push(norm('L*.attn.q_a_norm', L, t, d.qLoraRank, bw, ba, cpV));
            ops.push(gemm('L*.attn.q_b_proj', L, t, H * qk, d.qLoraRank, 1, bw, ba, cpG, 'tp'));
        }
        else {
            ops.push(gemm('L*.attn.q_proj', L, t, H * qk, hidden, 1, bw, ba, cpG, 'tp'));
        }
        ops.push(gemm('L*.attn.kv_a_proj', L, t, lat + rope, hidden, 1, bw, ba, cpG, 'tp'));
        ops.push(norm('L*.attn.kv_a_norm', L, t, lat, bw, ba, cpV));
        const ctx = c0 + s;
        const pairs = causalKeyPairs(c0, s, Infinity);
        const kvWrite = b * s * (lat + rope) * bkv;
        if (phase === 'prefill') {
            // kv_b_proj over every context position: the latent comes from the cache (kvRead), the
            // expanded K_nope/V are activations.
            const mCtx = b * ctx;
            const nB = H * (d.qkNope + dv);
            ops.push(mk('L*.attn.kv_b_proj', 'gemm', L, mCtx, nB, lat, 1, 2 * mCtx * nB * lat, nB * lat * bw, mCtx * nB * ba, mCtx * lat * bkv, 0, cpG, 'tp'));
            const flops = 2 * b * H * pairs * (qk + dv);
            // Q in, expanded K_nope and V in, O out; the shared k_pe of each position comes from the cache.
            const act = (t * H * qk + mCtx * H * (d.qkNope + dv) + t * H * dv) * ba;
            ops.push(mk('L*.attn.core', 'attention', L, s, ctx, qk, b * H, flops, 0, act, mCtx * rope * bkv, kvWrite, cpA, 'tp'));
        }
        else {
            ops.push(gemm('L*.attn.q_absorb', L, t, lat, d.qkNope, H, bw, ba, cpG, 'tp'));
            const flops = 2 * b * H * pairs * (lat + rope) + 2 * b * H * pairs * lat;
            const act = (t * H * (lat + rope) + t * H * lat) * ba; // latent q in, latent output out
            ops.push(mk('L*.attn.core', 'attention', L, s * H, ctx, lat + rope, b, flops, 0, act, b * ctx * (lat + rope) * bkv, kvWrite, cpA, 'tp'));
            ops.push(gemm('L*.attn.v_up', L, t, dv, lat, H, bw, ba, cpG, 'tp'));
        }
    }
    ops.push(gemm('L*.attn.o_proj', L, t, hidden, d.oK, 1, bw, ba, cpG, 'tp'));
    ops.push(norm('L*.ffn.norm', L, t, hidden, bw, ba, cpV));
    if (d.denseLayers > 0) {
        ops.push(gemm('dense.ffn.gate_up', d.denseLayers, t, d.ffnUpN, hidden, 1, bw, ba, cpG, 'tp'));
        ops.push(gemm('dense.ffn.down', d.denseLayers, t, hidden, arch.intermediateSize, 1, bw, ba, cpG, 'tp'));
    }
    if (d.moeLayers > 0) {
        const nm = d.moeLayers;
        ops.push(gemm('moe.router', nm, t, d.experts, hidden, 1, bw, ba, cpG, 'none'));
        const skew = routing?.skew ?? 0;
        let load;
        if (routing?.expertLoad)
            load = routing.expertLoad(t, d.experts, d.topK, skew);
        else if (skew !== 0)
            throw new RangeError('routing.skew needs a routing.expertLoad model (uniform routing is skew 0)');
        else
            load = uniformExpertLoad(t, d.experts, d.topK);
        const active = load.activeExperts;
        const mE = load.tokensPerActiveExpert;
        const assigned = t * d.topK; // token-expert pairs: exact FLOPs whatever the load model
        const upN = d.expertUpN;
        const eI = d.expertI;
        ops.push(mk('moe.experts.gate_up', 'gemm', nm, mE, upN, hidden, active, 2 * assigned * upN * hidden, upN * hidden * active * bw, assigned * (hidden + upN) * ba, 0, 0, cpG, 'ep'));
        ops.push(mk('moe.experts.down', 'gemm', nm, mE, hidden, eI, active, 2 * assigned * hidden * eI, hidden * eI * active * bw, assigned * (eI + hidden) * ba, 0, 0, cpG, 'ep'));
        if (d.sharedN > 0) {
            ops.push(gemm('moe.shared.gate_up', nm, t, d.sharedUpN, hidden, 1, bw, ba, cpG, 'tp'));
            ops.push(gemm('moe.shared.down', nm, t, hidden, d.sharedN, 1, bw, ba, cpG, 'tp'));
        }
    }
    ops.push(norm('final_norm', 1, t, hidden, bw, ba, cpV));
    // Logits: prefill needs them only for the last position of each sequence; decode for every token.
    ops.push(gemm('lm_head', 1, phase === 'prefill' ? b : t, d.vocab, hidden, 1, bw, ba, cpG, 'tp'));
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
export function parameterCounts(arch) {
    const d = derive(arch);
    const embedding = d.vocab * d.hidden;
    const lmHead = arch.tieWordEmbeddings ? 0 : embedding;
    const perLayer = d.attnParams + 2 * d.hidden;
    const total = embedding + lmHead + d.layers * perLayer + d.denseLayers * d.denseFfnParams + d.moeLayers * d.moeLayerParams + d.hidden;
    const activePerToken = embedding + lmHead + d.layers * perLayer + d.denseLayers * d.denseFfnParams + d.moeLayers * d.moeLayerActiveParams + d.hidden;
    return { total, activePerToken, embedding };
}
/** Bytes of all parameters at prec.weights. */
export function weightBytesTotal(arch, prec) {
    return parameterCounts(arch).total * BYTES_PER_ELEMENT[prec.weights];
}
/** KV-cache bytes one token adds, summed over all layers (GQA: K and V per KV head; MLA: latent + rope key). */
export function kvBytesPerToken(arch, prec) {
    const d = derive(arch);
    return d.layers * d.kvElemsPerTokenLayer * BYTES_PER_ELEMENT[prec.kvCache];
}
/**
 * KV-cache bytes one sequence of `contextTokens` holds: sliding-window layers keep at most
 * `window` positions. Equals contextTokens * kvBytesPerToken when there is no window.
 */
export function kvBytesPerSequence(arch, prec, contextTokens) {
    const d = derive(arch);
    const perTokLayer = d.kvElemsPerTokenLayer * BYTES_PER_ELEMENT[prec.kvCache];
    const windowed = contextTokens < d.window ? contextTokens : d.window;
    return perTokLayer * (d.fullLayers * contextTokens + d.slidingLayers * windowed);
}
/** Number of MoE layers and dense-FFN layers of an architecture. */
export function layerCounts(arch) {
    const d = derive(arch);
    return { dense: d.denseLayers, moe: d.moeLayers, sliding: d.slidingLayers, full: d.fullLayers };
}
