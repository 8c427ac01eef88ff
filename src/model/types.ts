// Shared types of the performance model. Pure declarations: no I/O, no imports from above src/model.

/** Numeric formats the model knows. Bytes per element below. */
export type Precision = 'fp32' | 'bf16' | 'fp16' | 'fp8' | 'int8' | 'fp4' | 'int4';

export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'fp16', 'fp8', 'int8', 'fp4', 'int4'];

/** Storage size of one element (bytes). fp4/int4 pack two per byte. */
export const BYTES_PER_ELEMENT: Readonly<Record<Precision, number>> = {
  fp32: 4,
  bf16: 2,
  fp16: 2,
  fp8: 1,
  int8: 1,
  fp4: 0.5,
  int4: 0.5,
};

/** Precision per tensor class (DESIGN 2.1). GEMMs run at max(weights, activations) precision. */
export interface PrecisionSpec {
  weights: Precision;
  activations: Precision;
  kvCache: Precision;
}

export type Phase = 'prefill' | 'decode';

/**
 * Normalised LLM architecture, derived from a Hugging Face config.json by src/model/workload.
 * Dimensions are element counts (no unit suffix needed); everything per layer unless said.
 */
export interface ModelArch {
  name: string;
  family: string; // llama | mistral | mixtral | qwen2 | qwen3 | qwen3_moe | deepseek_v3 | gpt_oss
  hiddenSize: number;
  numLayers: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  numHeads: number;
  /** KV heads (GQA/MQA); equals numHeads for MHA. For MLA it is numHeads (latent cache is shared). */
  numKvHeads: number;
  headDim: number;
  attention: GqaAttention | MlaAttention;
  /** Dense FFN intermediate size (used by dense layers). */
  intermediateSize: number;
  /** true for SwiGLU-style gate+up projections (3 matrices), false for 2-matrix MLPs. */
  gatedFfn: boolean;
  moe: MoeSpec | null;
  /** Max positions the model supports (context limit). */
  maxPositionEmbeddings: number;
}

export interface GqaAttention {
  kind: 'gqa';
  /** Sliding-window size in tokens for layers that use one (gpt-oss, Mistral); null when none. */
  slidingWindow: number | null;
  /** Fraction of layers using the sliding window (0 when none; gpt-oss alternates -> 0.5). */
  slidingLayerFraction: number;
}

export interface MlaAttention {
  kind: 'mla';
  qLoraRank: number | null; // null -> direct q projection
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
}

export interface MoeSpec {
  numExperts: number;
  topK: number;
  expertIntermediateSize: number;
  numSharedExperts: number;
  sharedIntermediateSize: number; // per shared expert
  /** Layers [0, firstDenseLayers) use the dense FFN (DeepSeek-V3 first_k_dense_replace). */
  firstDenseLayers: number;
  /** Every `layerFreq`-th layer after the dense ones is MoE (1 = all). */
  layerFreq: number;
}

/**
 * One operator of one phase, aggregated over `count` identical instances (layers).
 * All figures are for ONE instance and for the whole batch of the step (all sequences).
 */
export interface Operator {
  name: string; // e.g. "L*.attn.qkv_proj", "moe.experts", "lm_head"
  kind: 'gemm' | 'attention' | 'vector' | 'embedding';
  count: number; // how many layers (or instances) this operator stands for
  /**
   * GEMM shape of one group: [m x k] x [k x n]; m = tokens in the step.
   * groups = independent GEMMs of that shape (experts, heads for attention).
   * For 'vector'/'embedding', m = tokens, n = width, k = 1.
   */
  m: number;
  n: number;
  k: number;
  groups: number;
  /** Floating-point operations (1 MAC = 2 FLOPs), whole batch, one instance. */
  flops: number;
  /** Bytes of parameters that must be read for this op (unique, once). */
  weightBytes: number;
  /** Activation bytes read + written (inputs and outputs), once. */
  activationBytes: number;
  /** KV cache bytes read / written. */
  kvReadBytes: number;
  kvWriteBytes: number;
  /** Precision the matrix unit runs at for this op. */
  computePrecision: Precision;
  /** Which group of the parallel mapping shards this op (used by the multi-device model). */
  shard: 'tp' | 'ep' | 'none';
}

/** What set an operator's time. */
export type Bound = 'compute' | 'memory' | 'network' | 'overhead';

/** Bump when any formula or constant changes: workers must match the coordinator's version. (Here, in a
 *  module without imports, so that a worker process checks it without loading the model.) */
export const MODEL_VERSION = 'strata-model-4';
