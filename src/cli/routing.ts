// `--expert-loads <file>`: a MoE routing trace (DESIGN 2.1) read into Mapping.expertLoads.
//
// The file holds one load per expert, in expert order (expert 0 first), as
//   - JSON (`.json`): an array of numbers, e.g. `[812, 95, 143, ...]`;
//   - CSV (`.csv`): one row per expert, either `load` or `expert,load`. A first row that is not
//     numeric is a header and is skipped; blank lines and lines starting with `#` are ignored. With
//     two columns the expert ids must be 0..E-1, each exactly once (any order).
// A load is a token count or a share: only the ratios matter (the model takes the busiest EP rank
// relative to the mean rank). The number of loads must equal the model's expert count; loads are
// finite and >= 0, and not all zero. A model without experts refuses the flag, and so does
// --routing-skew given with it (the trace replaces the skew model). Every refusal is a ConfigError
// naming --expert-loads, the file and what was expected (exit code 2).
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError } from '../model/errors.js';
import type { Mapping } from '../model/parallel.js';
import type { ModelArch } from '../model/types.js';

export const EXPERT_LOADS_FLAG = '--expert-loads';

export interface ExpertLoadOptions {
  expertLoads?: string;
  routingSkew?: string;
}

/** Reads a routing trace (JSON array or CSV, see the header) without checking it against a model. */
export function readExpertLoads(file: string, flag = EXPERT_LOADS_FLAG): number[] {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.csv') throw new ConfigError(flag, file, 'a .json file (array of per-expert loads) or a .csv file (one row per expert: load, or expert,load)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(flag, file, `a readable file (${(e as Error).message})`);
  }
  return ext === '.json' ? loadsFromJson(text, file, flag) : loadsFromCsv(text, file, flag);
}

function loadsFromJson(text: string, file: string, flag: string): number[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(flag, file, `valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v)) throw new ConfigError(flag, file, `a JSON array of per-expert loads (found ${v === null ? 'null' : typeof v})`);
  return v.map((x, i) => {
    if (typeof x !== 'number') throw new ConfigError(flag, file, `numbers only (entry ${i} is ${JSON.stringify(x)})`);
    return x;
  });
}

/** A CSV number: plain decimal or exponent notation (Number('') and Number(' ') are 0, so no Number() alone). */
const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function loadsFromCsv(text: string, file: string, flag: string): number[] {
  const rows: { line: number; cells: string[] }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = raw.trim();
    if (s === '' || s.startsWith('#')) return;
    rows.push({ line: i + 1, cells: s.split(',').map((c) => c.trim()) });
  });
  if (rows.length > 0 && !rows[0]!.cells.some((c) => NUM.test(c))) rows.shift(); // header
  if (rows.length === 0) throw new ConfigError(flag, file, 'one CSV row per expert (the file has none)');
  const width = rows[0]!.cells.length;
  if (width !== 1 && width !== 2) throw new ConfigError(flag, file, `CSV rows of 1 column (load) or 2 (expert,load); line ${rows[0]!.line} has ${width}`);
  const loads = new Array<number>(rows.length);
  const seen = new Array<boolean>(rows.length).fill(false);
  rows.forEach(({ line, cells }, k) => {
    if (cells.length !== width) throw new ConfigError(flag, file, `${width} column(s) on every row; line ${line} has ${cells.length}`);
    const load = cells[width - 1]!;
    if (!NUM.test(load)) throw new ConfigError(flag, file, `a number as the load on line ${line} (found ${JSON.stringify(load)})`);
    let e = k;
    if (width === 2) {
      const id = cells[0]!;
      if (!/^\d+$/.test(id) || Number(id) >= rows.length) throw new ConfigError(flag, file, `expert ids 0..${rows.length - 1} in the first column (line ${line} has ${JSON.stringify(id)})`);
      e = Number(id);
      if (seen[e]) throw new ConfigError(flag, file, `each expert id once (expert ${e} repeats on line ${line})`);
      seen[e] = true;
    }
    loads[e] = Number(load);
  });
  return loads;
}

/** Checks a trace against a model: one finite load >= 0 per expert, not all zero, a MoE model. */
export function checkExpertLoads(loads: readonly number[], arch: ModelArch, file: string, flag = EXPERT_LOADS_FLAG): void {
  if (!arch.moe) throw new ConfigError(flag, file, `no routing trace: ${arch.name} has no experts (drop ${flag})`);
  const n = arch.moe.numExperts;
  if (loads.length !== n) throw new ConfigError(flag, file, `${n} per-expert loads (one per expert of ${arch.name}); the file has ${loads.length}`);
  for (let i = 0; i < loads.length; i++) {
    const x = loads[i]!;
    if (!Number.isFinite(x) || x < 0) throw new ConfigError(flag, file, `finite loads >= 0 (expert ${i} has ${x})`);
  }
  if (!loads.some((x) => x > 0)) throw new ConfigError(flag, file, 'at least one expert with a load > 0 (all loads are 0)');
}

/** The mapping with the trace of --expert-loads, if given, read and checked against the model. */
export function withExpertLoads(m: Mapping, o: ExpertLoadOptions, arch: ModelArch): Mapping {
  if (o.expertLoads === undefined) return m;
  if (o.routingSkew !== undefined)
    throw new ConfigError(EXPERT_LOADS_FLAG, o.expertLoads, `either ${EXPERT_LOADS_FLAG} or --routing-skew, not both (the trace replaces the skew model)`);
  const loads = readExpertLoads(o.expertLoads);
  checkExpertLoads(loads, arch, o.expertLoads);
  return { ...m, expertLoads: loads };
}
