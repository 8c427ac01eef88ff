// Strict parsing of numeric and enum CLI options into ConfigErrors (exit code 2).
import type { Command } from 'commander';
import { ConfigError } from '../model/errors.js';
import { PRECISIONS, type Precision, type PrecisionSpec } from '../model/types.js';

export function posInt(flag: string, raw: unknown, max = Number.MAX_SAFE_INTEGER): number {
  const s = String(raw);
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max)
    throw new ConfigError(flag, raw, `a positive integer${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}`);
  return Number(s);
}

export function nonNegInt(flag: string, raw: unknown, max = Number.MAX_SAFE_INTEGER): number {
  const s = String(raw);
  if (!/^\d+$/.test(s) || Number(s) > max) throw new ConfigError(flag, raw, `an integer >= 0${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}`);
  return Number(s);
}

export function precision(flag: string, raw: unknown): Precision {
  if (typeof raw === 'string' && (PRECISIONS as readonly string[]).includes(raw)) return raw as Precision;
  throw new ConfigError(flag, raw, `one of ${PRECISIONS.join(', ')}`);
}

/** --precision sets all tensor classes; the per-class flags override it. */
export function precisionSpec(o: { precision?: string; weightPrecision?: string; activationPrecision?: string; kvPrecision?: string }): PrecisionSpec {
  const base = precision('--precision', o.precision ?? 'bf16');
  // fp8/fp4/int weights keep bf16 activations unless asked: the usual W8A16-style default is
  // explicit here, so --precision fp8 means FP8 for weights, activations and KV (TensorRT-LLM FP8).
  return {
    weights: o.weightPrecision ? precision('--weight-precision', o.weightPrecision) : base,
    activations: o.activationPrecision ? precision('--activation-precision', o.activationPrecision) : base,
    kvCache: o.kvPrecision ? precision('--kv-precision', o.kvPrecision) : base,
  };
}

/** Precision flags shared by eval and serve. */
export function precisionOptions(cmd: Command): Command {
  return cmd
    .option('--precision <p>', 'precision of weights, activations and KV cache', 'bf16')
    .option('--weight-precision <p>', 'override the weight precision')
    .option('--activation-precision <p>', 'override the activation precision')
    .option('--kv-precision <p>', 'override the KV-cache precision');
}

/** Parallel-mapping flags shared by eval and serve (parsed by mappingFrom in eval.ts; --expert-loads by withExpertLoads in routing.ts). */
export function mappingOptions(cmd: Command): Command {
  return cmd
    .option('--tp <n>', 'tensor parallel degree', '1')
    .option('--pp <n>', 'pipeline parallel degree', '1')
    .option('--dp <n>', 'data parallel replicas (the batch is split over them)', '1')
    .option('--sp <n>', 'sequence/context parallel degree', '1')
    .option('--ep <n>', 'expert parallel degree of MoE layers (divides tp*dp*sp)', '1')
    .option('--microbatches <n>', 'pipeline microbatches (default: min(pp, batch/dp))')
    .option('--no-overlap', 'no tile-level overlap of TP collectives with their GEMMs')
    .option('--routing-skew <s>', 'MoE expert popularity ~ 1/rank^s (0 = uniform)')
    .option('--expert-loads <file>', 'MoE routing trace: per-expert token counts or shares, a JSON array or a CSV (load, or expert,load, per row); replaces --routing-skew')
    .option('--expert-placement <p>', 'contiguous | round-robin | balanced');
}
