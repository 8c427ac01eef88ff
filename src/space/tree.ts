// The design space as a tree (DESIGN 3.1, 3.2). Dims are flattened in canonical order (levels outer
// to inner, dims as declared); the set of valid values of a dim may depend on outer dims (max/min/
// divides/dividedBy, factorisation of a device count). Subtrees are shared: the subtree below dim i
// depends only on the values of the outer dims that dims >= i reference (`deps[i]`), so the tree is
// stored as a DAG of nodes memoised on those values, each node carrying the exact BigInt size of
// every child. A 10^14-point space has a few hundred nodes and counts in well under a millisecond.
//
// Point ids: the index of a point in the canonical depth-first order (values in declared order,
// factorisations in lexicographic order of (tp, pp, dp, sp, ep)); values whose subtree is empty are
// skipped, so ids are dense in [0, size). A subspace is a node at a level boundary: the first k levels
// fixed. Its id is the path of level-local assignment indices (`memory=3/compute=12`); its points are
// the contiguous id range [first, first + size). Pure: no I/O.
import { ConfigError } from '../model/errors.js';
import {
  FACTORS,
  isFactorisation,
  parsePath,
  parseSpaceConfig,
  refs,
  valueKey,
  CONSTRAINT_KINDS,
  ACTIVE_OPS,
  type ActiveOp,
  type ConstraintKind,
  type DimValue,
  type Factor,
  type FactorisationDimConfig,
  type PathSeg,
  type SpaceConfig,
} from './schema.js';

// ----------------------------------------------------------------------------------------------
// Types

/** A parallel mapping; tp*pp*dp*sp = devices, ep | tp*dp*sp (MoE: ep x moeTp with moeTp = tp*dp*sp/ep). */
export type Mapping = { tp: number; pp: number; dp: number; sp: number; ep: number };
export type Value = DimValue | Mapping;

export interface Point {
  id: bigint;
  /** Value of every dim by dim name (the factorisation dim holds the Mapping). */
  values: Record<string, Value>;
  mapping?: Mapping;
}

export interface Dim {
  name: string;
  /** Global position in canonical order. */
  index: number;
  level: number;
  kind: 'values' | 'factorisation';
  /** Declared values (for a factorisation: every mapping of every device count, lexicographic). */
  values: readonly Value[];
  /** JSON paths in the system (hardware dims). */
  paths: readonly PathSeg[][];
  pathStrings: readonly string[];
  target?: string;
  /** Constraints on this dim's value against outer dims. */
  constraints: readonly { kind: ConstraintKind; ref: number }[];
  /** Active only when `dims[dim] <op> (ref >= 0 ? dims[ref] : num)`; else pinned to its first value. */
  activeIf?: { dim: number; op: ActiveOp; ref: number; num: number };
  /** For a factorisation: the device-count dim. */
  of?: number;
  /** Global indices of the outer dims this dim's valid values depend on. */
  refs: readonly number[];
  /** `$.levels[l].dims[d]` of the config (for error messages). */
  configPath: string;
}

export interface LevelInfo {
  name: string;
  description?: string;
  /** Global dim index range [start, end). */
  start: number;
  end: number;
}

/** Internal node of the DAG: dim `dim` with a fixed context; only values with a non-empty subtree. */
interface Node {
  dim: number;
  vals: Int32Array; // valid value indices (ascending = declared order)
  kids: Node[];
  cum: bigint[]; // cum[k] = points before value k; cum[len] = total
  cumN: Float64Array | null; // same as numbers when total <= 2^53
  total: bigint;
  acum: bigint[]; // level-local assignments before value k (over this level's remaining dims)
  acount: bigint;
}

export interface Space {
  config: SpaceConfig;
  name: string;
  levels: readonly LevelInfo[];
  dims: readonly Dim[];
  /** Index of the factorisation dim, or -1. */
  mappingDim: number;
  /** deps[i]: outer dims (< i) referenced by some dim >= i; the subtree below dim i depends only on them. */
  deps: readonly (readonly number[])[];
  size: bigint;
  /** Number of DAG nodes (memoised subtrees) per dim. */
  nodeCounts: readonly number[];
  /** @internal */
  root: Node;
  /** @internal value index by canonical key, per dim (lazy) */
  keyIndex: (Map<string, number> | undefined)[];
}

export interface Subspace {
  /** Stable id: level-local assignment indices, e.g. `memory=3/compute=12`; '' for the root. */
  id: string;
  path: number[];
  /** Number of fixed levels. */
  depth: number;
  /** First point id; the points are [first, first + size). */
  first: bigint;
  size: bigint;
  /** Values of the fixed dims by name. */
  values: Record<string, Value>;
  /** Value indices of the fixed dims (canonical order). */
  idx: number[];
}

// ----------------------------------------------------------------------------------------------
// Compilation

const MAX_NODES = 5_000_000;
const TWO53 = 2n ** 53n;

/** Validates a space config (ConfigError on failure) and builds its counting DAG. */
export function compileSpace(input: unknown, source = ''): Space {
  const config = parseSpaceConfig(input, source);
  const levels: LevelInfo[] = [];
  const dims: Dim[] = [];
  const byName = new Map<string, number>();
  const keyIndex: (Map<string, number> | undefined)[] = [];
  let mappingDim = -1;
  const facts: (FactorisationDimConfig | null)[] = [];

  config.levels.forEach((lv, li) => {
    const start = dims.length;
    lv.dims.forEach((d, di) => {
      const index = dims.length;
      const configPath = `$.levels[${li}].dims[${di}]`;
      if (isFactorisation(d)) {
        const of = byName.get(d.of)!;
        const values = factorisations(d, dims[of]!.values as number[]);
        dims.push({ name: d.name, index, level: li, kind: 'factorisation', values, paths: [], pathStrings: [], constraints: [], of, refs: [of], configPath });
        mappingDim = index;
        facts.push(d);
      } else {
        const pathStrings = d.path === undefined ? [] : typeof d.path === 'string' ? [d.path] : d.path;
        const constraints: { kind: ConstraintKind; ref: number }[] = [];
        for (const kind of CONSTRAINT_KINDS) for (const r of refs(d[kind])) constraints.push({ kind, ref: byName.get(r)! });
        let activeIf: Dim['activeIf'];
        const refSet = new Set(constraints.map((c) => c.ref));
        if (d.activeIf) {
          const op = ACTIVE_OPS.find((o) => d.activeIf![o] !== undefined)!;
          const operand = d.activeIf[op]!;
          activeIf = { dim: byName.get(d.activeIf.dim)!, op, ref: typeof operand === 'string' ? byName.get(operand)! : -1, num: typeof operand === 'number' ? operand : 0 };
          refSet.add(activeIf.dim);
          if (activeIf.ref >= 0) refSet.add(activeIf.ref);
        }
        dims.push({
          name: d.name, index, level: li, kind: 'values', values: d.values,
          paths: pathStrings.map((p) => parsePath(p)!), pathStrings,
          ...(d.target !== undefined ? { target: d.target } : {}),
          constraints, ...(activeIf ? { activeIf } : {}), refs: [...refSet].sort((a, b) => a - b), configPath,
        });
        facts.push(null);
      }
      keyIndex.push(undefined); // built on first use by rank()
      byName.set(d.name, index);
    });
    levels.push({ name: lv.name, ...(lv.description !== undefined ? { description: lv.description } : {}), start, end: dims.length });
  });

  const n = dims.length;
  // deps[i] = outer dims referenced by dims >= i
  const deps: number[][] = new Array(n + 1);
  let acc = new Set<number>();
  deps[n] = [];
  for (let i = n - 1; i >= 0; i--) {
    acc = new Set([...acc, ...dims[i]!.refs]);
    acc.delete(i);
    deps[i] = [...acc].filter((j) => j < i).sort((a, b) => a - b);
  }

  const levelEnd = dims.map((d) => levels[d.level]!.end);
  const valid = validators(dims, facts);
  const cur = new Int32Array(n);
  const memos: Map<number | string, Node>[] = dims.map(() => new Map());
  const terminal: Node = { dim: n, vals: new Int32Array(0), kids: [], cum: [1n], cumN: Float64Array.of(1), total: 1n, acum: [1n], acount: 1n };
  let nodes = 0;
  // Mixed-radix numeric keys while they stay exact, else strings.
  const radixOk = deps.map((ds) => ds.reduce((p, j) => p * dims[j]!.values.length, 1) < 2 ** 52);

  const build = (i: number): Node => {
    if (i === n) return terminal;
    const ds = deps[i]!;
    let key: number | string;
    if (ds.length === 0) key = 0;
    else if (radixOk[i]) {
      key = 0;
      for (const j of ds) key = key * dims[j]!.values.length + cur[j]!;
    } else key = ds.map((j) => cur[j]).join(',');
    const memo = memos[i]!;
    const hit = memo.get(key);
    if (hit) return hit;
    if (++nodes > MAX_NODES)
      throw new ConfigError('$.levels', `${nodes} subtrees`, `a space whose dims depend on few outer dims (more than ${MAX_NODES} distinct subtrees to count)`);
    const cand = valid(i, cur);
    const vals: number[] = [];
    const kids: Node[] = [];
    const cum: bigint[] = [0n];
    const acum: bigint[] = [0n];
    let total = 0n, acount = 0n;
    const last = i + 1 === levelEnd[i];
    for (let c = 0; c < cand.length; c++) {
      const v = cand[c]!;
      cur[i] = v;
      const kid = build(i + 1);
      if (kid.total === 0n) continue;
      vals.push(v);
      kids.push(kid);
      total += kid.total;
      cum.push(total);
      acount += last ? 1n : kid.acount;
      acum.push(acount);
    }
    const node: Node = {
      dim: i, vals: Int32Array.from(vals), kids, cum, total, acum, acount,
      cumN: total < TWO53 ? Float64Array.from(cum, Number) : null,
    };
    memo.set(key, node);
    return node;
  };
  const root = build(0);
  if (root.total === 0n) throw new ConfigError('$.levels', 0, 'a space with at least one point (the constraints exclude every combination)', source);
  return {
    config, name: config.name, levels, dims, mappingDim, deps: deps.slice(0, n), size: root.total,
    nodeCounts: memos.map((m) => m.size), root, keyIndex,
  };
}

/** valueKey of a Mapping without the generic sort (same string: keys in alphabetical order). */
function mappingKey(m: Mapping): string {
  return `{"dp":${m.dp},"ep":${m.ep},"pp":${m.pp},"sp":${m.sp},"tp":${m.tp}}`;
}

/** All mappings for every device count of `devices`, deduplicated, lexicographic in (tp,pp,dp,sp,ep). */
function factorisations(d: FactorisationDimConfig, devices: readonly number[]): Mapping[] {
  const free = new Set<Factor>(d.factors);
  const allowed = (f: Factor, v: number) => {
    if (!free.has(f)) return v === 1;
    const a = d.allowed?.[f];
    return !a || a.includes(v);
  };
  const divCache = new Map<number, number[]>();
  const divisors = (x: number) => {
    let out = divCache.get(x);
    if (!out) {
      const lo: number[] = [], hi: number[] = [];
      for (let k = 1; k * k <= x; k++) {
        if (x % k !== 0) continue;
        lo.push(k);
        if (k * k !== x) hi.unshift(x / k);
      }
      out = lo.concat(hi);
      divCache.set(x, out);
    }
    return out;
  };
  const out: Mapping[] = [];
  for (const dev of [...new Set(devices)]) {
    for (const tp of divisors(dev)) {
      if (!allowed('tp', tp)) continue;
      for (const pp of divisors(dev / tp)) {
        if (!allowed('pp', pp)) continue;
        if (d.ppDivides !== undefined && d.ppDivides % pp !== 0) continue;
        const rest = dev / tp / pp;
        for (const dp of divisors(rest)) {
          const sp = rest / dp;
          if (!allowed('dp', dp) || !allowed('sp', sp)) continue;
          for (const ep of divisors(tp * dp * sp)) {
            if (!allowed('ep', ep)) continue;
            out.push(Object.freeze({ tp, pp, dp, sp, ep }));
          }
        }
      }
    }
  }
  out.sort((a, b) => a.tp - b.tp || a.pp - b.pp || a.dp - b.dp || a.sp - b.sp || a.ep - b.ep);
  return out;
}

/** valid(i, cur): value indices of dim i allowed by its constraints given the outer values in cur. */
function validators(dims: readonly Dim[], facts: readonly (FactorisationDimConfig | null)[]): (i: number, cur: Int32Array) => Int32Array {
  const caches = dims.map(() => new Map<number, Int32Array>());
  const all = dims.map((d) => Int32Array.from(d.values, (_, k) => k));
  const num = (d: Dim, k: number) => d.values[k] as number;
  return (i, cur) => {
    const d = dims[i]!;
    if (d.refs.length === 0) return all[i]!;
    let key = 0;
    for (const j of d.refs) key = key * dims[j]!.values.length + cur[j]!;
    const cache = caches[i]!;
    let out = cache.get(key);
    if (out) return out;
    const list: number[] = [];
    if (facts[i]) {
      const devices = num(dims[d.of!]!, cur[d.of!]!);
      d.values.forEach((m, k) => {
        const { tp, pp, dp, sp } = m as Mapping;
        if (tp * pp * dp * sp === devices) list.push(k);
      });
    } else if (d.activeIf && !isActive(dims, d.activeIf, cur)) {
      list.push(0);
    } else {
      for (let k = 0; k < d.values.length; k++) {
        const v = num(d, k);
        let ok = true;
        for (const c of d.constraints) {
          const o = num(dims[c.ref]!, cur[c.ref]!);
          if (c.kind === 'max' ? v > o : c.kind === 'min' ? v < o : c.kind === 'divides' ? o % v !== 0 : v % o !== 0) {
            ok = false;
            break;
          }
        }
        if (ok) list.push(k);
      }
    }
    out = Int32Array.from(list);
    cache.set(key, out);
    return out;
  };
}

function isActive(dims: readonly Dim[], a: NonNullable<Dim['activeIf']>, cur: Int32Array): boolean {
  const x = dims[a.dim]!.values[cur[a.dim]!] as number;
  const y = a.ref >= 0 ? (dims[a.ref]!.values[cur[a.ref]!] as number) : a.num;
  switch (a.op) {
    case 'gt': return x > y;
    case 'ge': return x >= y;
    case 'lt': return x < y;
    case 'le': return x <= y;
    case 'eq': return x === y;
    case 'ne': return x !== y;
  }
}

// ----------------------------------------------------------------------------------------------
// Sizes

export function spaceSize(space: Space): bigint {
  return space.size;
}

export interface LevelSize {
  name: string;
  dims: { name: string; kind: 'values' | 'factorisation'; values: number; where: string; constraints: string[] }[];
  /** Subspaces at depth level+1 (non-empty assignments of this level and all outer ones). */
  nodes: bigint;
  /** Non-empty assignments of this level per parent subspace: min and max over parents. */
  assignments: { min: bigint; max: bigint };
  /** Points in one subspace at depth level+1: min and max. */
  subtreeSize: { min: bigint; max: bigint };
}

/** Per level: dims, assignments per parent, subspace counts and sizes (exact, from the DAG). */
export function levelSizes(space: Space): LevelSize[] {
  const n = space.dims.length;
  // Paths (with multiplicity) reaching each DAG node at each dim, forward over the DAG.
  let layer = new Map<Node, bigint>([[space.root, 1n]]);
  const at: Map<Node, bigint>[] = [layer];
  for (let i = 0; i < n; i++) {
    const next = new Map<Node, bigint>();
    for (const [node, m] of layer) for (const kid of node.kids) next.set(kid, (next.get(kid) ?? 0n) + m);
    layer = next;
    at.push(layer);
  }
  return space.levels.map((lv) => {
    const parents = at[lv.start]!;
    const children = at[lv.end]!;
    let amin = -1n, amax = 0n, smin = -1n, smax = 0n, nodes = 0n;
    for (const node of parents.keys()) {
      if (amin < 0n || node.acount < amin) amin = node.acount;
      if (node.acount > amax) amax = node.acount;
    }
    for (const [node, m] of children) {
      nodes += m;
      if (smin < 0n || node.total < smin) smin = node.total;
      if (node.total > smax) smax = node.total;
    }
    if (space.size === 0n) amin = smin = 0n;
    return {
      name: lv.name,
      dims: space.dims.slice(lv.start, lv.end).map((d) => ({
        name: d.name,
        kind: d.kind,
        values: d.values.length,
        where: d.kind === 'factorisation'
          ? `mapping of ${space.dims[d.of!]!.name}`
          : d.target !== undefined ? `target ${d.target}` : d.pathStrings.join(', '),
        constraints: d.kind === 'factorisation'
          ? [`tp*pp*dp*sp = ${space.dims[d.of!]!.name}`, 'ep | tp*dp*sp']
          : [
              ...d.constraints.map((c) => `${c.kind} ${space.dims[c.ref]!.name}`),
              ...(d.activeIf ? [`if ${space.dims[d.activeIf.dim]!.name} ${d.activeIf.op} ${d.activeIf.ref >= 0 ? space.dims[d.activeIf.ref]!.name : d.activeIf.num}`] : []),
            ],
      })),
      nodes,
      assignments: { min: amin < 0n ? 0n : amin, max: amax },
      subtreeSize: { min: smin < 0n ? 0n : smin, max: smax },
    };
  });
}

/** 1.23e14-style text of a bigint. */
export function fmtBig(x: bigint): string {
  if (x < 1_000_000n) return x.toString();
  const s = x.toString();
  return `${s[0]}.${s.slice(1, 3)}e${s.length - 1}`;
}

/** A readable per-level table for `strata space show`. */
export function describeSpace(space: Space): string {
  const sizes = levelSizes(space);
  const lines: string[] = [];
  lines.push(`space ${space.name}: ${fmtBig(space.size)} points (exactly ${space.size})`);
  if (space.config.description) lines.push(space.config.description);
  lines.push(`base: system ${space.config.base.system}, model ${space.config.base.model}`);
  const rows: string[][] = [['level', 'dim', 'values', 'constraint', 'sets', 'per parent', 'subspaces', 'subspace size']];
  for (const ls of sizes) {
    ls.dims.forEach((d, k) => {
      rows.push([
        k === 0 ? ls.name : '',
        d.name,
        String(d.values),
        d.constraints.join('; '),
        d.where,
        k === 0 ? rangeText(ls.assignments.min, ls.assignments.max) : '',
        k === 0 ? fmtBig(ls.nodes) : '',
        k === 0 ? rangeText(ls.subtreeSize.min, ls.subtreeSize.max) : '',
      ]);
    });
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [ri, r] of rows.entries()) {
    lines.push(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    if (ri === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  return lines.join('\n');
}

function rangeText(a: bigint, b: bigint): string {
  return a === b ? fmtBig(a) : `${fmtBig(a)}..${fmtBig(b)}`;
}

/** JSON-safe summary (bigints as decimal strings) for `strata space count|show --json`. */
export function spaceSummaryJson(space: Space): {
  name: string;
  description?: string;
  base: SpaceConfig['base'];
  size: string;
  sizeApprox: number;
  levels: {
    name: string;
    dims: LevelSize['dims'];
    subspaces: string;
    assignmentsPerParent: { min: string; max: string };
    subspaceSize: { min: string; max: string };
  }[];
} {
  return {
    name: space.name,
    ...(space.config.description !== undefined ? { description: space.config.description } : {}),
    base: space.config.base,
    size: space.size.toString(),
    sizeApprox: Number(space.size),
    levels: levelSizes(space).map((l) => ({
      name: l.name,
      dims: l.dims,
      subspaces: l.nodes.toString(),
      assignmentsPerParent: { min: l.assignments.min.toString(), max: l.assignments.max.toString() },
      subspaceSize: { min: l.subtreeSize.min.toString(), max: l.subtreeSize.max.toString() },
    })),
  };
}

// ----------------------------------------------------------------------------------------------
// Points: unrank / rank

function upperIndexN(cum: Float64Array, r: number): number {
  // largest k with cum[k] <= r (k < cum.length - 1)
  let lo = 0, hi = cum.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (cum[mid]! <= r) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function upperIndexB(cum: readonly bigint[], r: bigint): number {
  let lo = 0, hi = cum.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (cum[mid]! <= r) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function indexOfVal(vals: Int32Array, v: number): number {
  let lo = 0, hi = vals.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const x = vals[mid]!;
    if (x === v) return mid;
    if (x < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

function checkId(space: Space, id: bigint): void {
  if (typeof id !== 'bigint' || id < 0n || id >= space.size)
    throw new ConfigError('id', typeof id === 'bigint' ? id.toString() : id, `a point id in [0, ${space.size})`);
}

/** Value indices (canonical order) of point `id`. */
export function unrankIndices(space: Space, id: bigint, out = new Int32Array(space.dims.length)): Int32Array {
  checkId(space, id);
  let node = space.root;
  let i = 0;
  const n = space.dims.length;
  let r = id;
  for (; i < n && node.cumN === null; i++) {
    const k = upperIndexB(node.cum, r);
    r -= node.cum[k]!;
    out[i] = node.vals[k]!;
    node = node.kids[k]!;
  }
  let rn = Number(r);
  for (; i < n; i++) {
    const k = upperIndexN(node.cumN!, rn);
    rn -= node.cumN![k]!;
    out[i] = node.vals[k]!;
    node = node.kids[k]!;
  }
  return out;
}

function pointFrom(space: Space, id: bigint, idx: ArrayLike<number>): Point {
  const values: Record<string, Value> = {};
  for (let i = 0; i < space.dims.length; i++) {
    const d = space.dims[i]!;
    values[d.name] = d.values[idx[i]!]!;
  }
  const p: Point = { id, values };
  if (space.mappingDim >= 0) p.mapping = values[space.dims[space.mappingDim]!.name] as Mapping;
  return p;
}

/** The point with id `id` (0 <= id < size). */
export function unrank(space: Space, id: bigint): Point {
  return pointFrom(space, id, unrankIndices(space, id));
}

/** Value index of a point's value for dim i (throws ConfigError when not a declared value). */
function valueIndex(space: Space, i: number, values: Record<string, unknown>, mapping?: Mapping): number {
  const d = space.dims[i]!;
  let v = values[d.name];
  if (v === undefined && i === space.mappingDim) v = mapping;
  let index = space.keyIndex[i];
  if (!index) {
    index = new Map<string, number>();
    for (let k = 0; k < d.values.length; k++) index.set(d.kind === 'factorisation' ? mappingKey(d.values[k] as Mapping) : valueKey(d.values[k]), k);
    space.keyIndex[i] = index;
  }
  const k = index.get(i === space.mappingDim && isMappingLike(v) ? mappingKey(v) : valueKey(v));
  if (k === undefined) throw new ConfigError(`values.${d.name}`, v, `one of the declared values of dim '${d.name}'`);
  return k;
}

function isMappingLike(v: unknown): v is Mapping {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return Object.keys(o).length === 5 && FACTORS.every((f) => typeof o[f] === 'number');
}

/** Value indices of a point given by its values (the inverse of unrankIndices' lookup). */
export function indicesOf(space: Space, point: { values: Record<string, unknown>; mapping?: Mapping }): Int32Array {
  const out = new Int32Array(space.dims.length);
  for (let i = 0; i < out.length; i++) out[i] = valueIndex(space, i, point.values, point.mapping);
  return out;
}

/** Id of the point with these values (inverse of unrank); ConfigError if the point is not in the space. */
export function rank(space: Space, point: { values: Record<string, unknown>; mapping?: Mapping }): bigint {
  return rankIndices(space, indicesOf(space, point));
}

export function rankIndices(space: Space, idx: ArrayLike<number>): bigint {
  let node = space.root;
  let r = 0n;
  for (let i = 0; i < space.dims.length; i++) {
    const k = indexOfVal(node.vals, idx[i]!);
    if (k < 0) {
      const d = space.dims[i]!;
      throw new ConfigError(`values.${d.name}`, d.values[idx[i]!], `a value of '${d.name}' allowed by its constraints given the outer values (not in the space)`);
    }
    r += node.cum[k]!;
    node = node.kids[k]!;
  }
  return r;
}

// ----------------------------------------------------------------------------------------------
// Subspaces

function checkDepth(space: Space, depth: number): void {
  if (!Number.isInteger(depth) || depth < 0 || depth > space.levels.length)
    throw new ConfigError('depth', depth, `an integer in [0, ${space.levels.length}] (the number of fixed levels)`);
}

function idOf(space: Space, path: readonly number[]): string {
  return path.map((t, l) => `${space.levels[l]!.name}=${t}`).join('/');
}

function valuesOf(space: Space, idx: ArrayLike<number>, count: number): Record<string, Value> {
  const values: Record<string, Value> = {};
  for (let i = 0; i < count; i++) values[space.dims[i]!.name] = space.dims[i]!.values[idx[i]!]!;
  return values;
}

/** The root subspace (the whole space). */
export function rootSubspace(space: Space): Subspace {
  return { id: '', path: [], depth: 0, first: 0n, size: space.size, values: {}, idx: [] };
}

/** DAG node at the boundary of a subspace (walks from the root along its value indices). */
function nodeOf(space: Space, sub: Subspace): Node {
  let node = space.root;
  for (let i = 0; i < sub.idx.length; i++) {
    const k = indexOfVal(node.vals, sub.idx[i]!);
    if (k < 0) throw new ConfigError('subspace', sub.id, 'a subspace of this space');
    node = node.kids[k]!;
  }
  return node;
}

/**
 * Subspaces below `parent` whose depth is parent.depth + `levels` (in id order). Odometer over the
 * dims of those levels; each subspace is built on demand (lazy, for millions of subspaces).
 */
function* descend(space: Space, parent: Subspace, levels: number): Generator<Subspace> {
  const depth = parent.depth + levels;
  checkDepth(space, depth);
  const s = parent.depth === space.levels.length ? space.dims.length : space.levels[parent.depth]!.start;
  const e = depth === 0 ? 0 : space.levels[depth - 1]!.end;
  const start = nodeOf(space, parent);
  if (start.total === 0n) return;
  if (s === e) {
    yield parent;
    return;
  }
  const nodes: Node[] = new Array(e + 1);
  const ks = new Int32Array(e);
  const idx = new Int32Array(e);
  for (let i = 0; i < s; i++) idx[i] = parent.idx[i]!;
  nodes[s] = start;
  for (let i = s; i < e; i++) {
    ks[i] = 0;
    idx[i] = nodes[i]!.vals[0]!;
    nodes[i + 1] = nodes[i]!.kids[0]!;
  }
  let first = parent.first;
  for (;;) {
    const path = parent.path.slice();
    for (let l = parent.depth; l < depth; l++) {
      const lv = space.levels[l]!;
      let t = 0n;
      for (let i = lv.start; i < lv.end; i++) t += nodes[i]!.acum[ks[i]!]!;
      path.push(Number(t));
    }
    const size = nodes[e]!.total;
    yield { id: idOf(space, path), path, depth, first, size, values: valuesOf(space, idx, e), idx: Array.from(idx) };
    first += size;
    // advance
    let i = e - 1;
    for (;;) {
      if (++ks[i]! < nodes[i]!.vals.length) break;
      if (--i < s) return;
    }
    idx[i] = nodes[i]!.vals[ks[i]!]!;
    nodes[i + 1] = nodes[i]!.kids[ks[i]!]!;
    for (let j = i + 1; j < e; j++) {
      ks[j] = 0;
      idx[j] = nodes[j]!.vals[0]!;
      nodes[j + 1] = nodes[j]!.kids[0]!;
    }
  }
}

/** All subspaces at `depth` (the first `depth` levels fixed), lazily, in id order. */
export function subspaces(space: Space, depth: number): Generator<Subspace> {
  checkDepth(space, depth);
  return descend(space, rootSubspace(space), depth);
}

/** The children of a subspace (one more level fixed), in id order; sizes sum to the parent's. */
export function children(space: Space, sub: Subspace): Subspace[] {
  if (sub.depth >= space.levels.length) return [];
  return [...descend(space, sub, 1)];
}

/** The subspace at `depth` that contains point `pointId`. */
export function subspaceOf(space: Space, pointId: bigint, depth: number): Subspace {
  checkDepth(space, depth);
  const idx = unrankIndices(space, pointId);
  const e = depth === 0 ? 0 : space.levels[depth - 1]!.end;
  let node = space.root;
  let first = 0n;
  const path: number[] = [];
  let t = 0n;
  for (let i = 0; i < e; i++) {
    const k = indexOfVal(node.vals, idx[i]!);
    first += node.cum[k]!;
    t += node.acum[k]!;
    node = node.kids[k]!;
    if (i + 1 === space.levels[space.dims[i]!.level]!.end) {
      path.push(Number(t));
      t = 0n;
    }
  }
  const fixed = Array.from(idx.subarray(0, e));
  return { id: idOf(space, path), path, depth, first, size: node.total, values: valuesOf(space, fixed, e), idx: fixed };
}

/** The subspace with this id (`memory=3/compute=12`, '' = root); ConfigError when not in the space. */
export function subspaceById(space: Space, id: string): Subspace {
  const parts = id === '' ? [] : id.split('/');
  if (parts.length > space.levels.length) throw new ConfigError('subspace', id, `at most ${space.levels.length} levels`);
  let node = space.root;
  let first = 0n;
  const path: number[] = [];
  const idx: number[] = [];
  parts.forEach((part, l) => {
    const lv = space.levels[l]!;
    const m = /^(.+)=(\d+)$/.exec(part);
    if (!m || m[1] !== lv.name) throw new ConfigError('subspace', id, `a path of level=index parts in level order (part ${l + 1} must be '${lv.name}=<n>')`);
    let t = BigInt(m[2]!);
    if (t >= node.acount) throw new ConfigError('subspace', id, `an index of level '${lv.name}' below ${node.acount}`);
    path.push(Number(t));
    for (let i = lv.start; i < lv.end; i++) {
      const k = upperIndexB(node.acum, t);
      t -= node.acum[k]!;
      first += node.cum[k]!;
      idx.push(node.vals[k]!);
      node = node.kids[k]!;
    }
  });
  return { id: idOf(space, path), path, depth: parts.length, first, size: node.total, values: valuesOf(space, idx, idx.length), idx };
}

// ----------------------------------------------------------------------------------------------
// Fast enumeration

const OFFSET_LIMIT = 2 ** 52;

/**
 * A reused cursor over the points of a subspace. The current point's id is base + offset (offset is
 * a number; the cursor folds it into base before it could lose precision). `values` and `idx` are
 * updated in place: copy them (toPoint) to keep a point.
 */
export class PointCursor {
  base: bigint;
  offset = 0;
  readonly values: Record<string, Value> = {};
  mapping: Mapping | undefined = undefined;
  /** Value index per dim. */
  readonly idx: Int32Array;
  constructor(private readonly space: Space, first: bigint) {
    this.base = first;
    this.idx = new Int32Array(space.dims.length);
  }
  id(): bigint {
    return this.base + BigInt(this.offset);
  }
  toPoint(): Point {
    return pointFrom(this.space, this.id(), this.idx);
  }
}

/**
 * Every point of `sub` in id order, as one reused PointCursor (no BigInt per point). Ends after
 * `sub.size` points: the ids are exactly [sub.first, sub.first + sub.size).
 */
export function* enumeratePoints(space: Space, sub: Subspace = rootSubspace(space)): Generator<PointCursor, void, undefined> {
  const n = space.dims.length;
  const dims = space.dims;
  const s = sub.idx.length;
  const start = nodeOf(space, sub);
  if (start.total === 0n) return;
  const c = new PointCursor(space, sub.first);
  const idx = c.idx;
  const values = c.values;
  const mapName = space.mappingDim >= 0 ? dims[space.mappingDim]!.name : '';
  for (let i = 0; i < s; i++) {
    idx[i] = sub.idx[i]!;
    values[dims[i]!.name] = dims[i]!.values[idx[i]!]!;
  }
  const nodes: Node[] = new Array(n + 1);
  const ks = new Int32Array(n);
  nodes[s] = start;
  for (let i = s; i < n; i++) {
    idx[i] = nodes[i]!.vals[0]!;
    values[dims[i]!.name] = dims[i]!.values[idx[i]!]!;
    nodes[i + 1] = nodes[i]!.kids[0]!;
  }
  if (mapName) c.mapping = values[mapName] as Mapping;
  if (s === n) {
    yield c;
    return;
  }
  const last = n - 1;
  const lastVals = dims[last]!.values;
  const lastName = dims[last]!.name;
  for (;;) {
    yield c;
    // fast path: innermost dim
    let node = nodes[last]!;
    if (++ks[last]! < node.vals.length) {
      const v = node.vals[ks[last]!]!;
      idx[last] = v;
      values[lastName] = lastVals[v]!;
      if (last === space.mappingDim) c.mapping = values[mapName] as Mapping;
    } else {
      let i = last - 1;
      for (;;) {
        if (i < s) return;
        if (++ks[i]! < nodes[i]!.vals.length) break;
        i--;
      }
      for (let j = i; j <= last; j++) {
        if (j > i) ks[j] = 0;
        node = nodes[j]!;
        const v = node.vals[ks[j]!]!;
        idx[j] = v;
        values[dims[j]!.name] = dims[j]!.values[v]!;
        nodes[j + 1] = node.kids[ks[j]!]!;
      }
      if (mapName) c.mapping = values[mapName] as Mapping;
    }
    if (++c.offset === OFFSET_LIMIT) {
      c.base += BigInt(c.offset);
      c.offset = 0;
    }
  }
}

/** Names of the factors, for callers that print mappings. */
export const MAPPING_FACTORS: readonly Factor[] = FACTORS;
