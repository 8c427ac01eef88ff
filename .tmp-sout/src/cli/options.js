// Strict parsing of numeric and enum CLI options into ConfigErrors (exit code 2).
import { ConfigError } from '../model/errors.js';
import { PRECISIONS } from '../model/types.js';
export function posInt(flag, raw, max = Number.MAX_SAFE_INTEGER) {
    const s = String(raw);
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max)
        throw new ConfigError(flag, raw, `a positive integer${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}`);
    return Number(s);
}
export function precision(flag, raw) {
    if (typeof raw === 'string' && PRECISIONS.includes(raw))
        return raw;
    throw new ConfigError(flag, raw, `one of ${PRECISIONS.join(', ')}`);
}
/** --precision sets all tensor classes; the per-class flags override it. */
export function precisionSpec(o) {
    const base = precision('--precision', o.precision ?? 'bf16');
    // fp8/fp4/int weights keep bf16 activations unless asked: the usual W8A16-style default is
    // explicit here, so --precision fp8 means FP8 for weights, activations and KV (TensorRT-LLM FP8).
    return {
        weights: o.weightPrecision ? precision('--weight-precision', o.weightPrecision) : base,
        activations: o.activationPrecision ? precision('--activation-precision', o.activationPrecision) : base,
        kvCache: o.kvPrecision ? precision('--kv-precision', o.kvPrecision) : base,
    };
}
//# sourceMappingURL=options.js.map