// From a point of the space to the inputs of the model: the base system JSON with the hardware
// values written at their paths, plus the non-hardware targets. Pure: no I/O, the base is not mutated.
import { ConfigError } from '../model/errors.js';
const NUMERIC_TARGETS = ['devices', 'batch', 'inputTokens', 'outputTokens', 'decodeSamples', 'microbatches', 'chunkTokens', 'prefillDecodeRatio'];
function isPlainObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}
function deepMerge(into, from) {
    for (const [k, v] of Object.entries(from)) {
        const cur = into[k];
        if (isPlainObject(cur) && isPlainObject(v))
            deepMerge(cur, v);
        else
            into[k] = structuredClone(v);
    }
}
/** Writes `value` at `segs` of `root` (objects are merged into an existing object). */
function writeAt(root, segs, value, where) {
    let cur = root;
    for (let s = 0; s < segs.length - 1; s++) {
        const seg = segs[s];
        const next = cur[seg];
        if (next === null || typeof next !== 'object')
            throw new ConfigError(where, segs.slice(0, s + 1).join('.'), 'a path whose containers exist in the base system');
        cur = next;
    }
    const leaf = segs[segs.length - 1];
    const obj = cur;
    if (isPlainObject(value) && isPlainObject(obj[leaf]))
        deepMerge(obj[leaf], value);
    else
        obj[leaf] = isPlainObject(value) ? structuredClone(value) : value;
}
/** Checks that every hardware path's containers exist in the base system (ConfigError at the dim's path). */
export function checkPaths(space, baseSystemJson) {
    if (!isPlainObject(baseSystemJson))
        throw new ConfigError('$.base.system', baseSystemJson, 'a system JSON object');
    for (const d of space.dims) {
        d.paths.forEach((segs, p) => {
            let cur = baseSystemJson;
            for (let s = 0; s < segs.length - 1; s++) {
                cur = cur !== null && typeof cur === 'object' ? cur[segs[s]] : undefined;
                if (cur === null || typeof cur !== 'object')
                    throw new ConfigError(`${d.configPath}.path${d.paths.length > 1 ? `[${p}]` : ''}`, d.pathStrings[p], `a path whose containers exist in base system '${space.config.base.system}'`);
            }
        });
    }
}
/**
 * The model inputs of a point (or of a partial assignment such as a subspace's fixed `values`: only
 * the dims present are applied, so the hardware of a subspace can be built once for all its points).
 */
export function applyPoint(baseSystemJson, point, space) {
    if (!isPlainObject(baseSystemJson))
        throw new ConfigError('$.base.system', baseSystemJson, 'a system JSON object');
    const system = structuredClone(baseSystemJson);
    const targets = { ...(space.config.base.defaults ?? {}) };
    for (const d of space.dims) {
        const v = point.values[d.name];
        if (v === undefined)
            continue;
        if (d.target !== undefined)
            targets[d.target] = v;
        d.paths.forEach((segs, p) => writeAt(system, segs, v, `${d.configPath}.path${d.paths.length > 1 ? `[${p}]` : ''}`));
    }
    const bp = space.config.base.precision;
    const precision = typeof bp === 'string'
        ? { weights: bp, activations: bp, kvCache: bp }
        : { weights: bp.weights, activations: bp.activations, kvCache: bp.kvCache };
    if (targets['precision'] !== undefined) {
        const p = targets['precision'];
        precision.weights = precision.activations = precision.kvCache = p;
    }
    for (const cls of ['weights', 'activations', 'kvCache']) {
        const t = targets[`precision.${cls}`];
        if (t !== undefined)
            precision[cls] = t;
    }
    const network = [];
    for (const [t, v] of Object.entries(targets)) {
        const m = /^network\.level(\d+)\.([A-Za-z]+)$/.exec(t);
        if (!m)
            continue;
        const li = Number(m[1]);
        while (network.length <= li)
            network.push({});
        network[li][m[2]] = v;
    }
    const out = { system, targets, precision, network };
    const mapping = point.mapping ?? (space.mappingDim >= 0 ? point.values[space.dims[space.mappingDim].name] : undefined);
    if (mapping)
        out.mapping = { ...mapping };
    for (const k of NUMERIC_TARGETS)
        if (typeof targets[k] === 'number')
            out[k] = targets[k];
    return out;
}
