// The restricted filter language of `strata query best --where` (DESIGN 5), parsed into a
// parameterised SQL WHERE over known columns. Column names come only from a whitelist and every
// value is a bound parameter, so no input reaches the SQL text.
//
//   expr    := and ('or' and)*
//   and     := unary ('and' unary)*
//   unary   := 'not' unary | '(' expr ')' | cmp
//   cmp     := column op value | column ['not'] 'in' '(' value (',' value)* ')'
//   op      := = | == | != | <> | < | <= | > | >=
//   column  := a key column (layers, connected_layers, bonding, devices, tp, pp, dp, sp, ep, batch,
//              precision, system), an objective column (tokens_per_s, ..., or its camelCase name),
//              or params.<dim> (any dim value of the point, from params_json)
//   value   := number | 'quoted' | "quoted" | bare word (fp8, h100-sxm, true)
//
// Example: `layers=8 and precision=fp8 and devices<=64 and (tp=8 or ep>=16)`.
import { ConfigError } from '../model/errors.js';
import { KEY_COLUMNS, KEYS, OBJECTIVE_CAMEL, OBJECTIVES, type ObjectiveColumn } from './schema.js';

export interface WhereSql {
  /** SQL boolean expression ('1' for an empty filter). */
  sql: string;
  params: (number | string)[];
  /** The dims the filter reads as params.<dim> (checked against the run's by the caller). */
  dims: string[];
}

type Tok = { kind: 'word' | 'num' | 'str' | 'op' | 'lp' | 'rp' | 'comma' | 'end'; text: string; pos: number; value?: number | string };

const KEYWORDS = new Set(['and', 'or', 'not', 'in']);

function fail(tok: Tok | { text: string; pos: number }, expected: string): never {
  throw new ConfigError('--where', tok.text === '' ? '(end of filter)' : tok.text, `${expected} (at character ${tok.pos + 1})`);
}

export function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^(<=|>=|==|!=|<>|=|<|>)/))) {
      out.push({ kind: 'op', text: m[0], pos: i });
      i += m[0].length;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ kind: c === '(' ? 'lp' : c === ')' ? 'rp' : 'comma', text: c, pos: i });
      i++;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= src.length) fail({ text: src.slice(i), pos: i }, `a closing ${c}`);
        if (src[j] === c) {
          if (src[j + 1] === c) {
            s += c;
            j += 2;
            continue;
          }
          break;
        }
        s += src[j];
        j++;
      }
      out.push({ kind: 'str', text: src.slice(i, j + 1), pos: i, value: s });
      i = j + 1;
    } else if ((m = rest.match(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(?![A-Za-z0-9_.\-])/))) {
      out.push({ kind: 'num', text: m[0], pos: i, value: Number(m[0]) });
      i += m[0].length;
    } else if ((m = rest.match(/^[A-Za-z0-9_][A-Za-z0-9_.\-:/+]*/))) {
      out.push({ kind: 'word', text: m[0], pos: i });
      i += m[0].length;
    } else {
      fail({ text: c, pos: i }, 'a column, an operator, a value, a parenthesis or a comma');
    }
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

const OBJ_BY_NAME = new Map<string, ObjectiveColumn>();
for (const c of OBJECTIVES) {
  OBJ_BY_NAME.set(c, c);
  OBJ_BY_NAME.set(OBJECTIVE_CAMEL[c].toLowerCase(), c);
}

/** Known columns for error messages. */
export const WHERE_COLUMNS: readonly string[] = [...KEYS, ...OBJECTIVES, 'params.<dim>'];

interface Col {
  sql: string;
  type: 'number' | 'text' | 'any';
  pre: (number | string)[];
  /** params.<dim>: the dim's name. */
  dim?: string;
}

function column(tok: Tok): Col {
  if (tok.kind !== 'word' || KEYWORDS.has(tok.text.toLowerCase()))
    fail(tok, `a column (one of ${WHERE_COLUMNS.join(', ')})`);
  const name = tok.text;
  const lower = name.toLowerCase();
  if ((KEYS as readonly string[]).includes(lower)) {
    const k = lower as keyof typeof KEY_COLUMNS;
    return { sql: k, type: KEY_COLUMNS[k], pre: [] };
  }
  const obj = OBJ_BY_NAME.get(lower);
  if (obj) return { sql: obj, type: 'number', pre: [] };
  const m = name.match(/^params\.([A-Za-z_][A-Za-z0-9_]*)$/);
  if (m) return { sql: 'json_extract(params_json, ?)', type: 'any', pre: [`$."${m[1]}"`], dim: m[1]! };
  fail(tok, `a known column (one of ${WHERE_COLUMNS.join(', ')})`);
}

/** Parses a filter into SQL over the designs table. Throws ConfigError on `--where` naming the bad token. */
export function parseWhere(src: string | undefined): WhereSql {
  if (src === undefined || src.trim() === '') return { sql: '1', params: [], dims: [] };
  const toks = tokenize(src);
  let i = 0;
  const peek = () => toks[i]!;
  const next = () => toks[i++]!;
  const isKw = (t: Tok, kw: string) => t.kind === 'word' && t.text.toLowerCase() === kw;
  const params: (number | string)[] = [];
  const dims = new Set<string>();

  const value = (col: Col): number | string => {
    const t = next();
    if (t.kind === 'num') {
      return col.type === 'text' ? t.text : (t.value as number);
    }
    if (t.kind === 'str' || (t.kind === 'word' && !KEYWORDS.has(t.text.toLowerCase()))) {
      const v = t.kind === 'str' ? (t.value as string) : t.text;
      if (col.type === 'number') fail(t, `a number for column ${col.sql}`);
      if (col.type === 'any' && t.kind === 'word' && (v === 'true' || v === 'false')) return v === 'true' ? 1 : 0;
      return v;
    }
    return fail(t, 'a value (number, word or quoted string)');
  };

  const cmp = (): string => {
    const ct = next();
    const col = column(ct);
    if (col.dim !== undefined) dims.add(col.dim);
    let t = peek();
    let negate = false;
    if (isKw(t, 'not')) {
      next();
      negate = true;
      t = peek();
      if (!isKw(t, 'in')) fail(t, "'in' after 'not'");
    }
    if (isKw(t, 'in')) {
      next();
      const lp = next();
      if (lp.kind !== 'lp') fail(lp, "'(' after 'in'");
      const vals: (number | string)[] = [value(col)];
      for (;;) {
        const sep = next();
        if (sep.kind === 'rp') break;
        if (sep.kind !== 'comma') fail(sep, "',' or ')' in the 'in' list");
        vals.push(value(col));
      }
      params.push(...col.pre, ...vals);
      return `${col.sql} ${negate ? 'NOT IN' : 'IN'} (${vals.map(() => '?').join(', ')})`;
    }
    const op = next();
    if (op.kind !== 'op') fail(op, `an operator (= != < <= > >= or in) after ${ct.text}`);
    const v = value(col);
    const sqlOp = op.text === '==' ? '=' : op.text === '!=' ? '<>' : op.text;
    params.push(...col.pre, v);
    return `${col.sql} ${sqlOp} ?`;
  };

  const unary = (): string => {
    const t = peek();
    if (isKw(t, 'not')) {
      next();
      return `NOT (${unary()})`;
    }
    if (t.kind === 'lp') {
      next();
      const e = expr();
      const r = next();
      if (r.kind !== 'rp') fail(r, "')'");
      return `(${e})`;
    }
    return cmp();
  };
  const and = (): string => {
    const parts = [unary()];
    while (isKw(peek(), 'and')) {
      next();
      parts.push(unary());
    }
    return parts.join(' AND ');
  };
  const expr = (): string => {
    const parts = [and()];
    while (isKw(peek(), 'or')) {
      next();
      parts.push(and());
    }
    return parts.length > 1 ? parts.map((p) => `(${p})`).join(' OR ') : parts[0]!;
  };

  const sql = expr();
  const t = peek();
  if (t.kind !== 'end') fail(t, "'and', 'or' or the end of the filter");
  return { sql, params, dims: [...dims] };
}
