// Design-space config schema (DESIGN 3.1). A space is a list of levels, outermost first; each level
// has discrete dims. A dim is a list of values written at JSON paths of the base system (`path`), or
// given to the evaluation as a non-hardware input (`target`), or the parallel factorisation of a
// device-count dim (`kind: "factorisation"`). Dims may be bounded by OUTER dims (max/min/divides/
// dividedBy), so the space is a tree. Pure: no I/O. Every refusal is a ConfigError with the JSON path.
import { z } from 'zod';
import { parseWith } from '../model/errors.js';
import { TOPOLOGIES } from '../model/network.js';
import { DEGREES } from '../model/parallel.js';
import { PRECISIONS } from '../model/types.js';

// ----------------------------------------------------------------------------------------------
// Values

/** A JSON value inside an object-valued dim value (e.g. {"kind":"tsv","pitchUm":40}). */
export type JsonValue = number | string | boolean | null | JsonValue[] | { [k: string]: JsonValue };
/** One value of a dim: a number, string, boolean, or an object merged at the dim's path(s). */
export type DimValue = number | string | boolean | { [k: string]: JsonValue };

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.number().finite(), z.string(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);
const dimValue = z.union(
  [
    z.number({ error: 'a finite number' }).finite({ error: 'a finite number' }),
    z.string(),
    z.boolean(),
    z.record(z.string(), jsonValue),
  ],
  { error: 'a number, string, boolean or object' },
);

/** Canonical key of a value: equal values (objects compared by content, key order ignored) share it. */
export function valueKey(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(valueKey).join(',') + ']';
  const o = v as Record<string, unknown>;
  return '{' + Object.keys(o).sort().map((k) => JSON.stringify(k) + ':' + valueKey(o[k])).join(',') + '}';
}

// ----------------------------------------------------------------------------------------------
// Targets (non-hardware dims)

/** Parallel factors of a mapping, in the canonical (lexicographic) order of factorisations. */
export const FACTORS = DEGREES;
export type Factor = (typeof FACTORS)[number];

const posIntCheck = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const posNumCheck = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
const nonnegNumCheck = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const precisionCheck = (v: unknown) => typeof v === 'string' && (PRECISIONS as readonly string[]).includes(v);

/**
 * Named non-hardware targets and what their values must be. The search maps them to evaluate()'s
 * inputs (batch, tokens, precision) and to the multi-device / serving models (devices, network,
 * chunk size, prefill:decode split).
 */
export const TARGETS: Readonly<Record<string, { check: (v: unknown) => boolean; expected: string; doc: string }>> = {
  batch: { check: posIntCheck, expected: 'a positive integer', doc: 'concurrent sequences per step (EvalInput.batch)' },
  inputTokens: { check: posIntCheck, expected: 'a positive integer', doc: 'prompt length (EvalInput.inputTokens)' },
  outputTokens: { check: posIntCheck, expected: 'a positive integer', doc: 'generated tokens (EvalInput.outputTokens)' },
  decodeSamples: { check: posIntCheck, expected: 'a positive integer', doc: 'context samples for decode (EvalInput.decodeSamples)' },
  precision: { check: precisionCheck, expected: `one of ${PRECISIONS.join(', ')}`, doc: 'weights, activations and KV cache precision at once' },
  'precision.weights': { check: precisionCheck, expected: `one of ${PRECISIONS.join(', ')}`, doc: 'PrecisionSpec.weights' },
  'precision.activations': { check: precisionCheck, expected: `one of ${PRECISIONS.join(', ')}`, doc: 'PrecisionSpec.activations' },
  'precision.kvCache': { check: precisionCheck, expected: `one of ${PRECISIONS.join(', ')}`, doc: 'PrecisionSpec.kvCache' },
  devices: { check: posIntCheck, expected: 'a positive integer', doc: 'packages in the system (product of the mapping factors)' },
  microbatches: { check: posIntCheck, expected: 'a positive integer', doc: 'pipeline microbatches' },
  chunkTokens: { check: posIntCheck, expected: 'a positive integer', doc: 'chunked-prefill token budget per step' },
  prefillDecodeRatio: { check: nonnegNumCheck, expected: 'a number >= 0', doc: 'prefill : decode DP replicas under the serving objective (0.5 = 1 prefill per 2 decode; 0 = both phases on every replica)' },
};

/** Fields of a network level a `network.level<i>.<field>` target may set (see model/network.ts). */
export const NETWORK_TARGET_FIELDS: Readonly<Record<string, { check: (v: unknown) => boolean; expected: string }>> = {
  name: { check: (v) => typeof v === 'string' && v.length > 0, expected: 'a non-empty string' },
  topology: { check: (v) => typeof v === 'string' && (TOPOLOGIES as readonly string[]).includes(v), expected: `one of ${TOPOLOGIES.join(', ')}` },
  size: { check: posIntCheck, expected: 'a positive integer' },
  dims: {
    check: (v) => Array.isArray(v) && v.length === 2 && v.every(posIntCheck),
    expected: 'a pair [x, y] of positive integers',
  },
  linkBandwidthGBps: { check: posNumCheck, expected: 'a positive number' },
  linksPerDevice: { check: posIntCheck, expected: 'a positive integer' },
  hopLatencyUs: { check: nonnegNumCheck, expected: 'a number >= 0' },
  startupLatencyUs: { check: nonnegNumCheck, expected: 'a number >= 0' },
  energyPJPerBit: { check: nonnegNumCheck, expected: 'a number >= 0' },
  inSwitchReduction: { check: (v) => typeof v === 'boolean', expected: 'true or false' },
  efficiency: { check: (v) => typeof v === 'number' && v > 0 && v <= 1, expected: 'a number in (0, 1]' },
};

const NETWORK_TARGET = /^network\.level(\d+)\.([A-Za-z]+)$/;

/** The value rule of a target name, or null when the name is unknown. */
export function targetRule(target: string): { check: (v: unknown) => boolean; expected: string } | null {
  const t = TARGETS[target];
  if (t) return t;
  const m = NETWORK_TARGET.exec(target);
  if (m && Number(m[1]) < 16) return NETWORK_TARGET_FIELDS[m[2]!] ?? null;
  return null;
}

function targetNames(): string {
  return `${Object.keys(TARGETS).join(', ')} or network.level<i>.<${Object.keys(NETWORK_TARGET_FIELDS).join('|')}>`;
}

// ----------------------------------------------------------------------------------------------
// JSON paths into the system

export type PathSeg = string | number;
const PATH_RE = /^(?:\$\.)?[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])*)*$/;

/** `package.chiplets[0].memory.layers` -> ['package','chiplets',0,'memory','layers']; null if malformed. */
export function parsePath(path: string): PathSeg[] | null {
  if (!PATH_RE.test(path)) return null;
  const out: PathSeg[] = [];
  for (const part of path.replace(/^\$\./, '').split('.')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$/.exec(part)!;
    out.push(m[1]!);
    for (const ix of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(ix[1]));
  }
  return out;
}

// ----------------------------------------------------------------------------------------------
// Schema

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const name = (what: string) =>
  z
    .string({ error: `a ${what} name (string)` })
    .regex(NAME_RE, { error: `a ${what} name of letters, digits, '_', '.', '-' (starting with a letter or '_')` });

const refList = z.union([name('dim'), z.array(name('dim')).min(1, { error: 'at least one dim name' })], {
  error: 'the name (or a list of names) of an outer dim',
});

const posInt = (what: string) =>
  z.number({ error: `an integer (${what})` }).int({ error: `an integer (${what})` }).positive({ error: `a positive integer (${what})` });

export const ACTIVE_OPS = ['gt', 'ge', 'lt', 'le', 'eq', 'ne'] as const;
export type ActiveOp = (typeof ACTIVE_OPS)[number];
const operand = z.union([z.number().finite(), name('dim')], { error: 'a number or the name of an outer dim' });

export const valuesDimSchema = z.strictObject(
  {
    name: name('dim'),
    description: z.string().optional(),
    kind: z.literal('values').optional(),
    values: z.array(dimValue, { error: 'a list of values' }).min(1, { error: 'a non-empty list of values' }),
    /** JSON path(s) in the base system where the value is written (objects are merged there). */
    path: z.union([z.string(), z.array(z.string()).min(1, { error: 'at least one path' })], { error: 'a JSON path or a list of them' }).optional(),
    /** A non-hardware input instead of a path (see TARGETS). */
    target: z.string({ error: 'a target name (string)' }).optional(),
    /** This dim's value must be <= / >= the value of the named outer dim(s). */
    max: refList.optional(),
    min: refList.optional(),
    /** This dim's value must divide / be a multiple of the value of the named outer dim(s). */
    divides: refList.optional(),
    dividedBy: refList.optional(),
    /** The dim is a choice only when the condition holds; otherwise it is pinned to its first value. */
    activeIf: z
      .strictObject(
        {
          dim: name('dim'),
          gt: operand.optional(),
          ge: operand.optional(),
          lt: operand.optional(),
          le: operand.optional(),
          eq: operand.optional(),
          ne: operand.optional(),
        },
        { error: 'an object {dim, <gt|ge|lt|le|eq|ne>: number or outer dim name}' },
      )
      .refine((a) => ACTIVE_OPS.filter((o) => a[o] !== undefined).length === 1, { error: 'exactly one comparison (gt, ge, lt, le, eq or ne)' })
      .optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `only the known dim fields (unknown: ${iss.keys.join(', ')})` : 'an object describing one dim') },
);

const allowedList = z
  .array(posInt('factor value'), { error: 'a list of allowed factor values' })
  .min(1, { error: 'a non-empty list of allowed factor values' });

export const factorisationDimSchema = z.strictObject(
  {
    name: name('dim'),
    description: z.string().optional(),
    kind: z.literal('factorisation'),
    /** The outer dim holding the device count. */
    of: z.string({ error: 'the name of the outer device-count dim' }),
    /** The free factors; absent ones are 1. */
    factors: z
      .array(z.enum(FACTORS, { error: `one of ${FACTORS.join(', ')}` }))
      .min(1, { error: 'at least one factor' })
      .default([...FACTORS]),
    allowed: z.partialRecord(z.enum(FACTORS, { error: `one of ${FACTORS.join(', ')}` }), allowedList).optional(),
    /** pp must divide this integer (e.g. the model's layer count). */
    ppDivides: posInt('pp must divide it').optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `only the known factorisation fields (unknown: ${iss.keys.join(', ')})` : 'an object describing one factorisation dim') },
);

const dimSchema = z.discriminatedUnion('kind', [factorisationDimSchema, valuesDimSchema], {
  error: 'a dim: {name, values, path|target, ...} or {name, kind: "factorisation", of, factors}',
});

export const levelSchema = z.strictObject({
  name: name('level'),
  description: z.string().optional(),
  dims: z.array(dimSchema, { error: 'a list of dims' }).min(1, { error: 'at least one dim' }),
});

const precisionDefault = z.union([
  z.enum(PRECISIONS as unknown as [string, ...string[]], { error: `one of ${PRECISIONS.join(', ')}` }),
  z.strictObject({
    weights: z.enum(PRECISIONS as unknown as [string, ...string[]], { error: `one of ${PRECISIONS.join(', ')}` }),
    activations: z.enum(PRECISIONS as unknown as [string, ...string[]], { error: `one of ${PRECISIONS.join(', ')}` }),
    kvCache: z.enum(PRECISIONS as unknown as [string, ...string[]], { error: `one of ${PRECISIONS.join(', ')}` }),
  }),
], { error: `a precision (${PRECISIONS.join(', ')}) or {weights, activations, kvCache}` });

export const baseSchema = z.strictObject({
  /** System preset name (data/systems) or file the hardware paths are written into. */
  system: z.string({ error: 'a system preset name or file' }).min(1, { error: 'a system preset name or file' }),
  /** Model preset name (data/models) or config.json. */
  model: z.string({ error: 'a model preset name or file' }).min(1, { error: 'a model preset name or file' }),
  precision: precisionDefault.default('bf16'),
  /** Default values of targets no dim sets (e.g. {"inputTokens": 1024, "outputTokens": 256}). */
  defaults: z.record(z.string(), dimValue).optional(),
});

export const spaceSchema = z
  .strictObject({
    name: name('space'),
    description: z.string().optional(),
    base: baseSchema,
    levels: z.array(levelSchema, { error: 'a list of levels, outermost first' }).min(1, { error: 'at least one level' }),
    /** Free-text notes (documentation of the choices), ignored by the tool. */
    notes: z.record(z.string(), z.string()).optional(),
  })
  .superRefine((s, ctx) => checkReferences(s, ctx));

export type SpaceConfigInput = z.input<typeof spaceSchema>;
export type SpaceConfig = z.output<typeof spaceSchema>;
export type ValuesDimConfig = z.output<typeof valuesDimSchema>;
export type FactorisationDimConfig = z.output<typeof factorisationDimSchema>;
export type DimConfig = ValuesDimConfig | FactorisationDimConfig;
export type LevelConfig = z.output<typeof levelSchema>;

export function isFactorisation(d: DimConfig): d is FactorisationDimConfig {
  return (d as FactorisationDimConfig).kind === 'factorisation';
}

export const CONSTRAINT_KINDS = ['max', 'min', 'divides', 'dividedBy'] as const;
export type ConstraintKind = (typeof CONSTRAINT_KINDS)[number];

export const refs = (r: string | string[] | undefined): string[] => (r === undefined ? [] : typeof r === 'string' ? [r] : r);

const isPosIntList = (vs: readonly unknown[]) => vs.every(posIntCheck);

/** Cross-field rules: unique names, outer references, numeric constraints, paths, targets. */
function checkReferences(s: SpaceConfig, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  const levelNames = new Set<string>();
  const declared = new Map<string, DimConfig>(); // dims declared so far (outer or earlier)
  const targets = new Set<string>();
  const paths = new Set<string>();
  let factorisations = 0;

  for (const [key, v] of Object.entries(s.base.defaults ?? {})) {
    const rule = targetRule(key);
    if (!rule) issue(['base', 'defaults', key], v, `a known target name (${targetNames()})`);
    else if (!rule.check(v)) issue(['base', 'defaults', key], v, rule.expected);
  }

  s.levels.forEach((lv, li) => {
    if (levelNames.has(lv.name)) issue(['levels', li, 'name'], lv.name, 'a level name not used by another level');
    levelNames.add(lv.name);
    lv.dims.forEach((d, di) => {
      const at = (...p: PropertyKey[]) => ['levels', li, 'dims', di, ...p];
      if (declared.has(d.name)) issue(at('name'), d.name, 'a dim name not used by another dim (dim names are unique across levels)');

      if (isFactorisation(d)) {
        factorisations++;
        if (factorisations > 1) issue(at('kind'), d.kind, 'at most one factorisation dim per space (a point has one mapping)');
        const of = declared.get(d.of);
        if (!of) issue(at('of'), d.of, `the name of an outer dim declared before '${d.name}' (known: ${[...declared.keys()].join(', ') || 'none'})`);
        else if (isFactorisation(of) || !isPosIntList(of.values))
          issue(at('of'), d.of, `a dim whose values are all positive integers (a device count); '${d.of}' is not`);
        const seen = new Set<string>();
        d.factors.forEach((f, fi) => {
          if (seen.has(f)) issue(at('factors', fi), f, 'a factor listed once');
          seen.add(f);
        });
        for (const f of Object.keys(d.allowed ?? {})) {
          if (!seen.has(f)) issue(at('allowed', f), (d.allowed as Record<string, unknown>)[f], `allowed values only for a listed factor (${d.factors.join(', ')})`);
        }
      } else {
        if ((d.path === undefined) === (d.target === undefined))
          issue(at(d.path === undefined ? 'path' : 'target'), d.path ?? d.target, 'exactly one of `path` (a JSON path in the system) or `target` (a non-hardware input)');
        const keys = new Set<string>();
        d.values.forEach((v, vi) => {
          const k = valueKey(v);
          if (keys.has(k)) issue(at('values', vi), v, 'a value not already listed for this dim');
          keys.add(k);
        });
        if (d.target !== undefined) {
          const rule = targetRule(d.target);
          if (!rule) issue(at('target'), d.target, `a known target name (${targetNames()})`);
          else {
            if (targets.has(d.target)) issue(at('target'), d.target, 'a target not set by another dim');
            targets.add(d.target);
            const bad = d.values.findIndex((v) => !rule.check(v));
            if (bad >= 0) issue(at('values', bad), d.values[bad], `${rule.expected} (for target ${d.target})`);
          }
        }
        if (d.path !== undefined) {
          const list = typeof d.path === 'string' ? [d.path] : d.path;
          list.forEach((p, pi) => {
            const where = typeof d.path === 'string' ? at('path') : at('path', pi);
            if (!parsePath(p)) issue(where, p, 'a JSON path like package.chiplets[0].memory.layers');
            else if (paths.has(p)) issue(where, p, 'a path not written by another dim');
            paths.add(p);
          });
        }
        if (d.activeIf) {
          const a = d.activeIf;
          const op = ACTIVE_OPS.find((o) => a[o] !== undefined)!;
          const names: [string, PropertyKey[]][] = [[a.dim, at('activeIf', 'dim')]];
          if (typeof a[op] === 'string') names.push([a[op] as string, at('activeIf', op)]);
          for (const [r, where] of names) {
            const other = declared.get(r);
            if (!other) issue(where, r, `the name of an outer dim declared before '${d.name}' (known: ${[...declared.keys()].join(', ') || 'none'})`);
            else if (isFactorisation(other) || !other.values.every((x) => typeof x === 'number')) issue(where, r, `a dim with numeric values ('${r}' is not numeric)`);
          }
        }
        for (const kind of CONSTRAINT_KINDS) {
          const list = refs(d[kind]);
          const raw = d[kind];
          list.forEach((r, ri) => {
            const where = typeof raw === 'string' ? at(kind) : at(kind, ri);
            const other = declared.get(r);
            if (!other) {
              const inner = r === d.name || s.levels.some((l) => l.dims.some((x) => x.name === r));
              issue(where, r, inner
                ? `the name of an OUTER dim (declared before '${d.name}'); '${r}' is not declared before it`
                : `the name of an outer dim (known: ${[...declared.keys()].join(', ') || 'none'})`);
            } else if (isFactorisation(other) || !other.values.every((x) => typeof x === 'number')) {
              issue(where, r, `a dim with numeric values ('${r}' is not numeric)`);
            } else if (!d.values.every((x) => typeof x === 'number')) {
              issue(at('values'), d.values, `numbers only (the dim has a '${kind}' constraint)`);
            } else if ((kind === 'divides' || kind === 'dividedBy') && !(isPosIntList(d.values) && isPosIntList(other.values))) {
              issue(where, r, `positive-integer values in both '${d.name}' and '${r}' for a '${kind}' constraint`);
            }
          });
        }
      }
      declared.set(d.name, d);
    });
  });
}

/** Parses and validates a space config; throws ConfigError (JSON path, value, expectation). */
export function parseSpaceConfig(input: unknown, source = ''): SpaceConfig {
  return parseWith(spaceSchema, input, source);
}
