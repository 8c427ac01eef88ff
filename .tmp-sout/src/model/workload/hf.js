// Hugging Face config.json -> ModelArch. Pure: no I/O (the caller reads the file).
//
// The schema covers only the fields the model uses and tolerates every other key (HF configs carry
// many: token ids, rope scaling, quantisation, auto_map, ...). Fields are validated with zod; the
// cross-field rules (head divisibility, top-k <= experts, dense prefix <= layers) are checked by
// hand. Every refusal is a ConfigError naming the JSON path, the value found and what was expected.
import { z } from 'zod';
import { ConfigError, parseWith } from '../errors.js';
/** model_type values we can read, and the `architectures[0]` names that imply them. */
export const SUPPORTED_MODEL_TYPES = [
    'llama',
    'mistral',
    'mixtral',
    'qwen2',
    'qwen3',
    'qwen3_moe',
    'deepseek_v3',
    'gpt_oss',
];
const ARCHITECTURE_TO_TYPE = {
    LlamaForCausalLM: 'llama',
    MistralForCausalLM: 'mistral',
    MixtralForCausalLM: 'mixtral',
    Qwen2ForCausalLM: 'qwen2',
    Qwen3ForCausalLM: 'qwen3',
    Qwen3MoeForCausalLM: 'qwen3_moe',
    DeepseekV3ForCausalLM: 'deepseek_v3',
    GptOssForCausalLM: 'gpt_oss',
};
const posInt = (what) => z
    .number({ error: `a positive integer (${what})` })
    .int({ error: `a positive integer (${what})` })
    .positive({ error: `a positive integer (${what})` });
const nonnegInt = (what) => z
    .number({ error: `an integer >= 0 (${what})` })
    .int({ error: `an integer >= 0 (${what})` })
    .nonnegative({ error: `an integer >= 0 (${what})` });
/**
 * Fields of config.json that the model reads. Unknown keys pass through (looseObject), so configs
 * are accepted as Hugging Face ships them. Family-specific fields are optional here and required
 * by the family readers below.
 */
export const hfConfigSchema = z.looseObject({
    model_type: z.string({ error: 'a string (model_type)' }).optional(),
    architectures: z.array(z.string()).optional(),
    hidden_size: posInt('hidden size'),
    num_hidden_layers: posInt('number of decoder layers'),
    num_attention_heads: posInt('attention heads'),
    num_key_value_heads: posInt('KV heads (GQA/MQA)').nullish(),
    head_dim: posInt('per-head dimension').nullish(),
    intermediate_size: posInt('FFN intermediate size'),
    vocab_size: posInt('vocabulary size'),
    max_position_embeddings: posInt('context limit'),
    tie_word_embeddings: z.boolean({ error: 'a boolean (tie_word_embeddings)' }).optional(),
    // Sliding window (Mistral, Qwen2/3 when use_sliding_window, gpt-oss).
    sliding_window: posInt('sliding window in tokens').nullish(),
    use_sliding_window: z.boolean().optional(),
    max_window_layers: nonnegInt('layers before sliding-window layers start').nullish(),
    layer_types: z.array(z.string()).optional(),
    // Mixtral / gpt-oss.
    num_local_experts: posInt('routed experts').optional(),
    // gpt-oss ships both num_experts_per_tok and experts_per_token.
    experts_per_token: posInt('experts per token').optional(),
    // Qwen3-MoE.
    num_experts: posInt('routed experts').optional(),
    moe_intermediate_size: posInt('expert intermediate size').optional(),
    decoder_sparse_step: posInt('MoE layer period').optional(),
    mlp_only_layers: z.array(nonnegInt('layer index')).optional(),
    shared_expert_intermediate_size: nonnegInt('shared expert intermediate size').optional(),
    // Common MoE.
    num_experts_per_tok: posInt('experts per token (top-k)').optional(),
    // DeepSeek-V3.
    n_routed_experts: posInt('routed experts').optional(),
    n_shared_experts: nonnegInt('shared experts').nullish(),
    first_k_dense_replace: nonnegInt('leading dense layers').optional(),
    moe_layer_freq: posInt('MoE layer period').optional(),
    q_lora_rank: posInt('query low-rank dimension').nullish(),
    kv_lora_rank: posInt('KV latent dimension').optional(),
    qk_nope_head_dim: posInt('non-rotary q/k head dimension').optional(),
    qk_rope_head_dim: posInt('rotary q/k head dimension').optional(),
    v_head_dim: posInt('value head dimension').optional(),
});
function need(v, key, expected, source) {
    if (v === undefined || v === null)
        throw new ConfigError(`$.${key}`, v, expected, source);
    return v;
}
/** Resolves the family from model_type, else from architectures[0]. */
function resolveType(cfg, source) {
    const expected = `a supported model_type: one of ${SUPPORTED_MODEL_TYPES.join(', ')}`;
    if (cfg.model_type !== undefined) {
        if (SUPPORTED_MODEL_TYPES.includes(cfg.model_type)) {
            return cfg.model_type;
        }
        throw new ConfigError('$.model_type', cfg.model_type, expected, source);
    }
    const a = cfg.architectures?.[0];
    if (a !== undefined) {
        const t = ARCHITECTURE_TO_TYPE[a];
        if (t)
            return t;
        throw new ConfigError('$.architectures[0]', a, `one of ${Object.keys(ARCHITECTURE_TO_TYPE).join(', ')} (or a model_type: ${SUPPORTED_MODEL_TYPES.join(', ')})`, source);
    }
    throw new ConfigError('$.model_type', undefined, expected, source);
}
/**
 * Parses a Hugging Face config.json (already JSON-decoded) into a ModelArch.
 * `name` becomes ModelArch.name and prefixes error messages.
 */
export function parseHfConfig(json, name) {
    const cfg = parseWith(hfConfigSchema, json, name);
    const type = resolveType(cfg, name);
    const hidden = cfg.hidden_size;
    const layers = cfg.num_hidden_layers;
    const heads = cfg.num_attention_heads;
    // --- attention --------------------------------------------------------------------------------
    let numKvHeads;
    let headDim;
    let attention;
    if (type === 'deepseek_v3') {
        const kvLoraRank = need(cfg.kv_lora_rank, 'kv_lora_rank', 'a positive integer (KV latent dimension)', name);
        const qkNope = need(cfg.qk_nope_head_dim, 'qk_nope_head_dim', 'a positive integer', name);
        const qkRope = need(cfg.qk_rope_head_dim, 'qk_rope_head_dim', 'a positive integer', name);
        const vHead = need(cfg.v_head_dim, 'v_head_dim', 'a positive integer', name);
        attention = {
            kind: 'mla',
            qLoraRank: cfg.q_lora_rank ?? null,
            kvLoraRank,
            qkNopeHeadDim: qkNope,
            qkRopeHeadDim: qkRope,
            vHeadDim: vHead,
        };
        // MLA: every head has its own K/V after up-projection; the cache holds one shared latent.
        numKvHeads = heads;
        headDim = qkNope + qkRope;
    }
    else {
        numKvHeads = cfg.num_key_value_heads ?? heads;
        if (numKvHeads > heads || heads % numKvHeads !== 0) {
            throw new ConfigError('$.num_key_value_heads', numKvHeads, `a divisor of num_attention_heads (${heads}); non-integer heads per KV group`, name);
        }
        if (cfg.head_dim != null) {
            headDim = cfg.head_dim;
        }
        else {
            if (hidden % heads !== 0) {
                throw new ConfigError('$.num_attention_heads', heads, `a divisor of hidden_size (${hidden}) when head_dim is absent`, name);
            }
            headDim = hidden / heads;
        }
        attention = { kind: 'gqa', ...slidingWindowOf(cfg, type, layers, name) };
    }
    // --- MoE --------------------------------------------------------------------------------------
    let moe = null;
    const topKOf = () => need(cfg.num_experts_per_tok ?? cfg.experts_per_token, 'num_experts_per_tok', 'a positive integer (top-k)', name);
    if (type === 'mixtral' || type === 'gpt_oss') {
        const numExperts = need(cfg.num_local_experts, 'num_local_experts', 'a positive integer (routed experts)', name);
        moe = {
            numExperts,
            topK: topKOf(),
            expertIntermediateSize: cfg.intermediate_size,
            numSharedExperts: 0,
            sharedIntermediateSize: 0,
            firstDenseLayers: 0,
            layerFreq: 1,
        };
    }
    else if (type === 'qwen3_moe') {
        const numExperts = need(cfg.num_experts, 'num_experts', 'a positive integer (routed experts)', name);
        const step = cfg.decoder_sparse_step ?? 1;
        const mlpOnly = cfg.mlp_only_layers ?? [];
        // HF Qwen3-MoE: layer i is MoE iff i not in mlp_only_layers and (i+1) % decoder_sparse_step == 0.
        // ModelArch expresses "dense prefix, then every layerFreq-th layer": step s -> prefix s-1, period s
        // (layers s-1, 2s-1, ... are MoE: exact). mlp_only_layers is supported when it is a prefix.
        let firstDense = step - 1;
        if (mlpOnly.length > 0) {
            const isPrefix = mlpOnly.every((v, i) => v === i);
            if (!isPrefix || step !== 1) {
                throw new ConfigError('$.mlp_only_layers', mlpOnly, 'an empty list or a prefix [0, 1, ..., n-1] with decoder_sparse_step 1 (other layer patterns are not representable)', name);
            }
            firstDense = mlpOnly.length;
        }
        if (firstDense > layers) {
            throw new ConfigError('$.decoder_sparse_step', step, `at most num_hidden_layers (${layers})`, name);
        }
        moe = {
            numExperts,
            topK: topKOf(),
            expertIntermediateSize: need(cfg.moe_intermediate_size, 'moe_intermediate_size', 'a positive integer', name),
            numSharedExperts: 0,
            sharedIntermediateSize: 0,
            firstDenseLayers: firstDense,
            layerFreq: step,
        };
    }
    else if (type === 'deepseek_v3') {
        const numExperts = need(cfg.n_routed_experts, 'n_routed_experts', 'a positive integer (routed experts)', name);
        const k = cfg.first_k_dense_replace ?? 0;
        if (k > layers) {
            throw new ConfigError('$.first_k_dense_replace', k, `at most num_hidden_layers (${layers})`, name);
        }
        const freq = cfg.moe_layer_freq ?? 1;
        const expertI = need(cfg.moe_intermediate_size, 'moe_intermediate_size', 'a positive integer', name);
        // HF DeepSeek-V3: layer i is MoE iff i >= first_k_dense_replace and i % moe_layer_freq == 0.
        // Rounding the dense prefix up to a multiple of the period makes "prefix, then every freq-th
        // layer" select exactly those layers.
        const firstDense = Math.min(layers, Math.ceil(k / freq) * freq);
        const shared = cfg.n_shared_experts ?? 0;
        moe = {
            numExperts,
            topK: topKOf(),
            expertIntermediateSize: expertI,
            numSharedExperts: shared,
            sharedIntermediateSize: shared > 0 ? expertI : 0,
            firstDenseLayers: firstDense,
            layerFreq: freq,
        };
    }
    if (moe) {
        if (moe.topK > moe.numExperts) {
            const key = cfg.num_experts_per_tok !== undefined ? 'num_experts_per_tok' : 'experts_per_token';
            throw new ConfigError(`$.${key}`, moe.topK, `at most the number of routed experts (${moe.numExperts})`, name);
        }
    }
    return {
        name,
        family: type,
        hiddenSize: hidden,
        numLayers: layers,
        vocabSize: cfg.vocab_size,
        tieWordEmbeddings: cfg.tie_word_embeddings ?? false,
        numHeads: heads,
        numKvHeads,
        headDim,
        attention,
        intermediateSize: cfg.intermediate_size,
        // Every supported family uses a gated (SwiGLU-style) MLP, whatever hidden_act says.
        gatedFfn: true,
        moe,
        maxPositionEmbeddings: cfg.max_position_embeddings,
    };
}
/** Sliding-window size and the fraction of layers that use it. */
function slidingWindowOf(cfg, type, layers, source) {
    const w = cfg.sliding_window ?? null;
    // Newer configs spell the per-layer pattern out; it wins when present.
    if (cfg.layer_types !== undefined) {
        if (cfg.layer_types.length !== layers) {
            throw new ConfigError('$.layer_types', cfg.layer_types.length, `one entry per layer (${layers})`, source);
        }
        let sliding = 0;
        for (const t of cfg.layer_types)
            if (t === 'sliding_attention')
                sliding++;
        if (sliding === 0)
            return { slidingWindow: null, slidingLayerFraction: 0 };
        if (w === null) {
            throw new ConfigError('$.sliding_window', w, 'a positive integer when layer_types has sliding_attention', source);
        }
        return { slidingWindow: w, slidingLayerFraction: sliding / layers };
    }
    if (w === null)
        return { slidingWindow: null, slidingLayerFraction: 0 };
    if (type === 'qwen2' || type === 'qwen3' || type === 'qwen3_moe') {
        // Qwen: window only with use_sliding_window, on layers i >= max_window_layers.
        if (!cfg.use_sliding_window)
            return { slidingWindow: null, slidingLayerFraction: 0 };
        const from = Math.min(layers, cfg.max_window_layers ?? 0);
        const sliding = layers - from;
        return sliding > 0 ? { slidingWindow: w, slidingLayerFraction: sliding / layers } : { slidingWindow: null, slidingLayerFraction: 0 };
    }
    if (type === 'gpt_oss')
        return { slidingWindow: w, slidingLayerFraction: 0.5 }; // alternating
    // Mistral / Mixtral / Llama: a window, when set, applies to every layer.
    return { slidingWindow: w, slidingLayerFraction: 1 };
}
//# sourceMappingURL=hf.js.map