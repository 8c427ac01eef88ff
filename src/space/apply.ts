// From a point of the space to the inputs of the model: the base system JSON with the hardware
// values written at their paths, plus the non-hardware targets. Pure: no I/O, the base is not mutated.
import { ConfigError } from '../model/errors.js';
import { systemSchema } from '../model/hardware/schema.js';
import type { Precision, PrecisionSpec } from '../model/types.js';
import type { JsonValue, PathSeg } from './schema.js';
import type { Mapping, Space, Value } from './tree.js';

export interface AppliedPoint {
  /** A deep copy of the base system JSON with the hardware dims written (parse it with systemSchema). */
  system: Record<string, unknown>;
  /** Every target value (base.defaults, then the point's target dims), by target name. */
  targets: Record<string, Value>;
  /** PrecisionSpec from base.precision, then the `precision` target, then `precision.<class>` targets. */
  precision: PrecisionSpec;
  /** Network levels (innermost first) from `network.level<i>.<field>` targets: partial, to be completed by the caller. */
  network: Record<string, unknown>[];
  mapping?: Mapping;
  devices?: number;
  batch?: number;
  inputTokens?: number;
  outputTokens?: number;
  decodeSamples?: number;
  microbatches?: number;
  chunkTokens?: number;
  prefillDecodeRatio?: number;
}

const NUMERIC_TARGETS = ['devices', 'batch', 'inputTokens', 'outputTokens', 'decodeSamples', 'microbatches', 'chunkTokens', 'prefillDecodeRatio'] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepMerge(into: Record<string, unknown>, from: Record<string, JsonValue>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (isPlainObject(cur) && isPlainObject(v)) deepMerge(cur, v as Record<string, JsonValue>);
    else into[k] = structuredClone(v);
  }
}

/** Writes `value` at `segs` of `root` (objects are merged into an existing object). A path whose
 *  containers `root` lacks is an error at `where` (the dim's config path), or, without `where`, is
 *  skipped (a partial copy of a system that holds only the fields a caller reads: src/search/keys.ts). */
export function writeAt(root: Record<string, unknown>, segs: readonly PathSeg[], value: Value, where?: string): void {
  let cur: unknown = root;
  for (let s = 0; s < segs.length - 1; s++) {
    const seg = segs[s]!;
    const next = (cur as Record<PathSeg, unknown>)[seg];
    if (next === null || typeof next !== 'object') {
      if (where === undefined) return;
      throw new ConfigError(where, segs.slice(0, s + 1).join('.'), 'a path whose containers exist in the base system');
    }
    cur = next;
  }
  const leaf = segs[segs.length - 1]!;
  const obj = cur as Record<PathSeg, unknown>;
  if (isPlainObject(value) && isPlainObject(obj[leaf])) deepMerge(obj[leaf] as Record<string, unknown>, value as Record<string, JsonValue>);
  else obj[leaf] = isPlainObject(value) ? structuredClone(value) : value;
}

/** Checks every hardware path against the base system (ConfigError at the dim's path): its containers
 *  exist, and its field is one the system takes with values of its type. A field the base has: each
 *  value of the same JSON type (an object merges into an object). A field the base leaves out (a
 *  schema default, e.g. a chiplet's count): the system schema must know it and take each value there
 *  (a misspelt field would make every point of the space a 'config' infeasibility). */
export function checkPaths(space: Space, baseSystemJson: unknown): void {
  if (!isPlainObject(baseSystemJson)) throw new ConfigError('$.base.system', baseSystemJson, 'a system JSON object');
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  for (const d of space.dims) {
    d.paths.forEach((segs, p) => {
      const where = `${d.configPath}.path${d.paths.length > 1 ? `[${p}]` : ''}`;
      let cur: unknown = baseSystemJson;
      for (let s = 0; s < segs.length - 1; s++) {
        cur = cur !== null && typeof cur === 'object' ? (cur as Record<PathSeg, unknown>)[segs[s]!] : undefined;
        if (cur === null || typeof cur !== 'object')
          throw new ConfigError(where, d.pathStrings[p], `a path whose containers exist in base system '${space.config.base.system}'`);
      }
      const leaf = segs[segs.length - 1]!;
      const have = (cur as Record<PathSeg, unknown>)[leaf];
      if (have !== undefined) {
        d.values.forEach((v, i) => {
          if (kind(v) !== kind(have))
            throw new ConfigError(`${d.configPath}.values[${i}]`, v, `a ${kind(have)} like ${d.pathStrings[p]} of base system '${space.config.base.system}' (${JSON.stringify(have)})`);
        });
        return;
      }
      d.values.forEach((v, i) => {
        const probe = structuredClone(baseSystemJson);
        writeAt(probe, segs, v);
        const r = systemSchema.safeParse(probe);
        if (r.success) return;
        const at = (path: readonly PropertyKey[]) => path.length === segs.length && path.every((x, k) => String(x) === String(segs[k]));
        for (const issue of r.error.issues) {
          if (issue.code === 'unrecognized_keys' && at([...issue.path, leaf]) && issue.keys.includes(String(leaf)))
            throw new ConfigError(where, d.pathStrings[p], `a field of the system schema (${String(leaf)} is not one; base system '${space.config.base.system}')`);
          if (issue.code === 'invalid_type' && at(issue.path))
            throw new ConfigError(`${d.configPath}.values[${i}]`, v, `a value ${d.pathStrings[p]} takes (${issue.message})`);
        }
      });
    });
  }
}

/**
 * The model inputs of a point (or of a partial assignment such as a subspace's fixed `values`: only
 * the dims present are applied, so the hardware of a subspace can be built once for all its points).
 */
export function applyPoint(baseSystemJson: unknown, point: { values: Record<string, Value>; mapping?: Mapping }, space: Space): AppliedPoint {
  if (!isPlainObject(baseSystemJson)) throw new ConfigError('$.base.system', baseSystemJson, 'a system JSON object');
  const system = structuredClone(baseSystemJson);
  const targets: Record<string, Value> = { ...(space.config.base.defaults ?? {}) };
  for (const d of space.dims) {
    const v = point.values[d.name];
    if (v === undefined) continue;
    if (d.target !== undefined) targets[d.target] = v;
    d.paths.forEach((segs, p) => writeAt(system, segs, v, `${d.configPath}.path${d.paths.length > 1 ? `[${p}]` : ''}`));
  }
  const bp = space.config.base.precision;
  const precision: PrecisionSpec = typeof bp === 'string'
    ? { weights: bp as Precision, activations: bp as Precision, kvCache: bp as Precision }
    : { weights: bp.weights as Precision, activations: bp.activations as Precision, kvCache: bp.kvCache as Precision };
  if (targets['precision'] !== undefined) {
    const p = targets['precision'] as Precision;
    precision.weights = precision.activations = precision.kvCache = p;
  }
  for (const cls of ['weights', 'activations', 'kvCache'] as const) {
    const t = targets[`precision.${cls}`];
    if (t !== undefined) precision[cls] = t as Precision;
  }
  const network: Record<string, unknown>[] = [];
  for (const [t, v] of Object.entries(targets)) {
    const m = /^network\.level(\d+)\.([A-Za-z]+)$/.exec(t);
    if (!m) continue;
    const li = Number(m[1]);
    while (network.length <= li) network.push({});
    network[li]![m[2]!] = v;
  }
  const out: AppliedPoint = { system, targets, precision, network };
  const mapping = point.mapping ?? (space.mappingDim >= 0 ? (point.values[space.dims[space.mappingDim]!.name] as Mapping | undefined) : undefined);
  if (mapping) out.mapping = { ...mapping };
  for (const k of NUMERIC_TARGETS) if (typeof targets[k] === 'number') out[k] = targets[k] as number;
  return out;
}
