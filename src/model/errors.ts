// Configuration errors. Pure: no I/O. The CLI maps ConfigError to exit code 2.
import type { ZodError } from 'zod';

/** A bad input: names the JSON path of the field, the value found and what was expected. */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly value: unknown,
    readonly expected: string,
    readonly source = '',
  ) {
    super(`${source ? source + ': ' : ''}${path || '(root)'}: got ${fmtValue(value)}, expected ${expected}`);
    this.name = 'ConfigError';
  }
}

function fmtValue(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  try {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
  } catch {
    return String(v);
  }
}

/** JSON path like `$.dram.layers[2].tRCDns` from a zod issue path. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Turns the first zod issue into a ConfigError carrying path, value and expectation. */
export function fromZod(err: ZodError, input: unknown, source = ''): ConfigError {
  const issue = err.issues[0]!;
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) {
    // Name the unknown field itself, not its parent object.
    const key = issue.keys[0]!;
    const path = [...issue.path, key];
    const more = issue.keys.length > 1 ? `; also unknown here: ${issue.keys.slice(1).join(', ')}` : '';
    // A schema's own message (it names what the object takes) stays; zod's default is replaced.
    const expected = /^Unrecognized key/.test(issue.message) ? `no field "${key}" (a misspelt or unsupported field${more})` : issue.message;
    return new ConfigError(jsonPath(path), getAt(input, path), expected, source);
  }
  return new ConfigError(jsonPath(issue.path), getAt(input, issue.path), issue.message, source);
}

/** Parse with a zod schema; throw ConfigError (with path/value/expectation) on failure. */
export function parseWith<T>(
  schema: { safeParse(x: unknown): { success: true; data: T } | { success: false; error: ZodError } },
  input: unknown,
  source = '',
): T {
  const r = schema.safeParse(input);
  if (!r.success) throw fromZod(r.error, input, source);
  return r.data;
}

/** A runtime failure the CLI reports as its message alone (exit 1): the cause is outside the
 *  program (a coordinator not answering), so a stack trace would only hide it. */
export class RuntimeFailure extends Error {}
