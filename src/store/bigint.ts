// Exact counts: canonical decimal strings <-> BigInt, canonical JSON and the spec hash.
import { createHash } from 'node:crypto';

export type BigLike = bigint | number | string;

const DEC = /^(0|[1-9][0-9]*)$/;

/** Parses a non-negative integer count (bigint, safe integer or canonical decimal); throws otherwise. */
export function toBig(v: BigLike, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new RangeError(`${what}: ${v} is negative`);
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${v} is not a non-negative safe integer`);
    return BigInt(v);
  }
  if (typeof v === 'string' && DEC.test(v)) return BigInt(v);
  throw new RangeError(`${what}: ${JSON.stringify(v)} is not a non-negative integer`);
}

export const isCanonicalDecimal = (s: string): boolean => DEC.test(s);

/** Sum of canonical decimal strings (nulls count 0). */
export function sumDec(xs: Iterable<string | null | undefined>): bigint {
  let s = 0n;
  for (const x of xs) if (x) s += BigInt(x);
  return s;
}

/** Adds `by` (reason -> count) into `into`, exactly. */
export function addReasons(into: Map<string, bigint>, by: Record<string, string | number | bigint>): void {
  for (const [k, v] of Object.entries(by)) into.set(k, (into.get(k) ?? 0n) + BigInt(v));
}

export function reasonsJson(m: ReadonlyMap<string, bigint>): string {
  const o: Record<string, string> = {};
  for (const k of [...m.keys()].sort()) o[k] = m.get(k)!.toString();
  return JSON.stringify(o);
}

export function reasonsObject(m: Map<string, bigint>): Record<string, string> {
  return JSON.parse(reasonsJson(m)) as Record<string, string>;
}

/** JSON with object keys sorted (stable across key order), bigints as decimal strings. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out[k] = sortKeys(o[k]);
    return out;
  }
  return v;
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** JSON.stringify that writes bigints as decimal strings and refuses non-finite numbers. */
export function strictJson(v: unknown, what: string): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (typeof x === 'number' && !Number.isFinite(x)) throw new RangeError(`${what}: non-finite number ${x}`);
    return x;
  });
}
