// The run spec's hash (its identity in the database and on the wire), apart from context.ts so that a
// worker process checks it without loading the model (its search threads load it).
import { createHash } from 'node:crypto';
import type { RunSpec } from './context.js';

/** Canonical JSON (sorted keys) so equal specs hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function specHash(spec: RunSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}
