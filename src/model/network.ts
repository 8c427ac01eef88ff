// System network model (DESIGN 2.5): a hierarchy of levels, collective costs, tile-level overlap.
// Pure and deterministic: no I/O, no randomness, no global state that outlives a call.
//
// Conventions used throughout (units in every name):
// - GB/s are decimal (1e9 bytes/s), one direction, one link. `efficiency` scales every link.
// - A device's bandwidth budget at a level is linksPerDevice x linkBandwidthGBps x efficiency per
//   direction. On a switch all of it goes to the switch. On a direct topology (ring, chain, mesh,
//   torus, all-to-all) it is split evenly over the device's neighbours in the physical topology:
//   per-neighbour bandwidth w = budget / degree (ring/chain: 2 neighbours, torus/mesh: 4, a
//   dimension of size 2 counts one neighbour, all-to-all: size-1). So a ring with linksPerDevice=1
//   gives each neighbour half a link, and a bidirectional ring moves data at 1 link's bandwidth.
// - Hops: 1 per link traversal between adjacent devices; through a switch a transfer takes 2 hops
//   (device->switch->device). energyPJPerBit is per bit per hop, so energy = byte-hops x 8 x pJ.
// - Every algorithm's cost is latency stage + bandwidth stage:
//     latency   = sum over steps of (hops of the step x hopLatencyUs) + startupLatencyUs per stage,
//     bandwidth = bytes on the most-loaded link / (link bandwidth x efficiency),
//   the latter found by routing the algorithm's traffic over the topology (shortest paths,
//   dimension order on 2D). Each level takes the fastest algorithm; multi-level groups take the
//   fastest of the hierarchical composition and the flat ring.
// - Cross-level messages are charged to the links of the level they cross only (each device has
//   its own links at every level, as with one NIC per GPU in a rail-aligned or full-bisection
//   scale-out network). Groups running concurrently on other devices do not contend with this one.
// - Placement within a level: the q participants are q consecutive devices of one group (spanOf
//   maps strided groups onto levels, but the stride inside a level is not modelled: it would add
//   hops, not link load, for a lone group). On a mesh/torus the ranks run along x first; a set that
//   is not whole rows is treated as a snake path (chain). A 1 x n grid is a line/ring of n.
// - Approximations: recursive halving/doubling on a non-power-of-two group adds one (reduce-
//   scatter, all-gather) or two (all-reduce) full-buffer steps for the extra ranks; the double
//   binary tree is offered on switched levels only (on direct topologies its edges span several
//   hops and recursive doubling covers the low-latency role); stages of a hierarchical algorithm
//   run one after the other (no pipelining across levels), each paying its start-up.
import { z } from 'zod';
import { ConfigError, parseWith } from './errors.js';

// ----------------------------------------------------------------------------------------------
// Schema

export const TOPOLOGIES = ['switch', 'ring', 'mesh2d', 'torus2d', 'all-to-all', 'chain'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

const nonneg = (what: string) =>
  z.number({ error: `a number (${what})` }).finite({ error: `a finite number (${what})` }).nonnegative({ error: `a number >= 0 (${what})` });
const pos = (what: string) =>
  z.number({ error: `a number (${what})` }).finite({ error: `a finite number (${what})` }).positive({ error: `a number > 0 (${what})` });
const posInt = (what: string) =>
  z.number({ error: `an integer (${what})` }).int({ error: `an integer (${what})` }).positive({ error: `an integer >= 1 (${what})` });

export const networkLevelSchema = z
  .strictObject(
    {
      name: z.string({ error: 'a level name (string)' }).min(1, { error: 'a non-empty level name' }),
      topology: z.enum(TOPOLOGIES, { error: `one of ${TOPOLOGIES.join(', ')}` }),
      /** Devices per group at this level (radix): level 0 = devices per package/node, level 1 = nodes per pod, ... */
      size: posInt('devices (or groups) per group at this level'),
      /** Mesh/torus shape [x, y], x the innermost (contiguous ranks); product = size. Default: most square, x >= y. */
      dims: z
        .tuple([posInt('mesh/torus x dimension'), posInt('mesh/torus y dimension')], {
          error: 'a pair [x, y] of integers >= 1 (mesh/torus shape)',
        })
        .optional(),
      linkBandwidthGBps: pos('GB/s of one link in one direction'),
      linksPerDevice: posInt('links a device uses at this level'),
      hopLatencyUs: nonneg('latency of one hop in microseconds'),
      startupLatencyUs: nonneg('software start-up per collective stage in microseconds'),
      energyPJPerBit: nonneg('energy per bit per hop in picojoules'),
      inSwitchReduction: z.boolean({ error: 'true or false (switch reduces in the network, NVLS/SHARP-like)' }).default(false),
      efficiency: z
        .number({ error: 'a number in (0, 1] (achievable fraction of link bandwidth)' })
        .gt(0, { error: 'a number in (0, 1] (achievable fraction of link bandwidth)' })
        .lte(1, { error: 'a number in (0, 1] (achievable fraction of link bandwidth)' })
        .default(1),
      /** Achievable fraction of the device budget for in-switch reduction (switch ALU and multicast
       *  limits, e.g. NVLS); default: the level's efficiency. */
      inSwitchEfficiency: z
        .number({ error: 'a number in (0, 1] (achievable fraction of link bandwidth for in-switch reduction)' })
        .gt(0, { error: 'a number in (0, 1] (in-switch reduction efficiency)' })
        .lte(1, { error: 'a number in (0, 1] (in-switch reduction efficiency)' })
        .optional(),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `only the known level fields (unknown: ${iss.keys.join(', ')})` : 'an object describing one network level') },
  )
  .superRefine((lv, ctx) => {
    if (lv.dims !== undefined) {
      if (lv.topology !== 'mesh2d' && lv.topology !== 'torus2d') {
        ctx.addIssue({ code: 'custom', path: ['dims'], input: lv.dims, message: `no dims for topology '${lv.topology}' (dims are for mesh2d/torus2d)` });
      } else if (lv.dims[0] * lv.dims[1] !== lv.size) {
        ctx.addIssue({ code: 'custom', path: ['dims'], input: lv.dims, message: `dims whose product equals size ${lv.size} (got ${lv.dims[0]} x ${lv.dims[1]} = ${lv.dims[0] * lv.dims[1]})` });
      }
    }
    if (lv.inSwitchReduction && lv.topology !== 'switch') {
      ctx.addIssue({ code: 'custom', path: ['inSwitchReduction'], input: lv.inSwitchReduction, message: `false for topology '${lv.topology}' (in-network reduction needs a switch)` });
    }
  });

export const networkSchema = z
  .array(networkLevelSchema, { error: 'an array of network levels, innermost first' })
  .min(1, { error: 'at least one network level' })
  .superRefine((levels, ctx) => {
    const seen = new Set<string>();
    levels.forEach((lv, i) => {
      if (seen.has(lv.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], input: lv.name, message: `a level name not used by another level` });
      seen.add(lv.name);
    });
  });

/** A parsed network level (defaults filled in). */
export type NetworkLevel = z.output<typeof networkLevelSchema>;
/** A network level as written in a config (defaults optional). */
export type NetworkLevelInput = z.input<typeof networkLevelSchema>;
export type Network = NetworkLevel[];

/** Validate one level; throws ConfigError naming the JSON path, the value and what was expected. */
export function parseNetworkLevel(input: unknown, source = ''): NetworkLevel {
  return parseWith(networkLevelSchema, input, source);
}

/** Validate a network (array of levels, innermost first); throws ConfigError on bad input. */
export function parseNetwork(input: unknown, source = ''): Network {
  return parseWith(networkSchema, input, source);
}

/** Mesh/torus shape [x, y] of a level: its dims, or the most square factorisation with x >= y. */
export function levelDims(level: Pick<NetworkLevel, 'size' | 'dims'>): [number, number] {
  if (level.dims) return [level.dims[0], level.dims[1]];
  let y = Math.floor(Math.sqrt(level.size));
  while (y > 1 && level.size % y !== 0) y--;
  return [level.size / y, y];
}

// ----------------------------------------------------------------------------------------------
// Collectives

export type CollectiveKind = 'all-reduce' | 'reduce-scatter' | 'all-gather' | 'all-to-all' | 'send-recv';
export const COLLECTIVE_KINDS: readonly CollectiveKind[] = ['all-reduce', 'reduce-scatter', 'all-gather', 'all-to-all', 'send-recv'];

/** Per-level algorithms. Multi-level results are 'hierarchical', 'flat-ring' or 'direct'/'neighbour' (concurrent). */
export const ALGORITHMS = [
  'ring', // ring over a Hamiltonian cycle of the level (bidirectional where the topology allows)
  '2d-ring', // dimension-wise rings on a mesh/torus, two halves of the data in opposite dimension order
  'recursive-halving', // reduce-scatter by pairwise exchange at distances 1, 2, 4, ...
  'recursive-doubling', // all-gather / all-reduce by pairwise exchange
  'rabenseifner', // all-reduce = recursive-halving reduce-scatter + recursive-doubling all-gather
  'double-binary-tree', // pipelined reduce + broadcast over two binary trees (switched levels)
  'direct', // every device sends to every peer at once (reduce-scatter, all-gather, all-to-all)
  'one-shot', // all-reduce: every device sends its whole buffer to every peer, reduces locally
  'two-shot', // all-reduce: direct reduce-scatter then direct all-gather
  'in-switch', // all-reduce reduced and multicast by the switch (NVLS/SHARP)
  'neighbour', // send-recv to the next device
] as const;
export type LevelAlgorithm = (typeof ALGORITHMS)[number];

export interface CollectiveLevelCost {
  level: string;
  algorithm: string;
  timeS: number;
  latencyS: number;
  bandwidthS: number;
  /** Bytes on the most-loaded physical link (one direction) at this level. */
  busiestLinkBytes: number;
}

export interface CollectiveCost {
  timeS: number;
  latencyS: number;
  bandwidthS: number;
  algorithm: string;
  /**
   * One entry per level the group spans (span > 1), innermost first. For sequential algorithms
   * (hierarchical) timeS is the sum of the entries; for concurrent ones (flat ring, all-to-all,
   * send-recv) the levels run at the same time and the total is set by the slowest.
   */
  perLevel: CollectiveLevelCost[];
  /** Energy of all bits moved (byte-hops x 8 x energyPJPerBit), summed over the group's devices. */
  energyJ: number;
  /** Byte-hops (bytes x links traversed) summed over the group's devices. */
  bytesOnWireTotal: number;
}

export interface CollectiveOptions {
  /** Restrict the per-level algorithms considered (e.g. ['ring'] to model a ring-only library). */
  algorithms?: readonly LevelAlgorithm[];
}

const A_RING = 0, A_2D = 1, A_RH = 2, A_RD = 3, A_RAB = 4, A_TREE = 5, A_DIRECT = 6, A_ONESHOT = 7, A_TWOSHOT = 8, A_INSWITCH = 9, A_NEIGH = 10;
const ALG_BIT = (a: number) => 1 << a;
const ALL_ALGS = (1 << ALGORITHMS.length) - 1;

const K_AR = 0, K_RS = 1, K_AG = 2, K_A2A = 3, K_SR = 4;
const T_SWITCH = 0, T_FULL = 1, T_DIRECT = 2;

// Names for a level that runs both a reduce-scatter and an all-gather (hierarchical all-reduce).
const RS_AG_NAMES = ALGORITHMS.map((a) => (a === 'recursive-halving' ? 'recursive-halving/doubling' : a) + ' reduce-scatter + all-gather');

// Per-call scratch for the levels the group spans (reused across calls: no allocation).
let cap = 0;
let LIDX = new Int32Array(0); // index into levels
let LK = new Int32Array(0); // T_*
let LQ = new Float64Array(0); // participants
let LALPHA = new Float64Array(0); // hop latency (s)
let LSIG = new Float64Array(0); // start-up (s)
let LBETA = new Float64Array(0); // one link, one direction, x efficiency (bytes/s)
let LBD = new Float64Array(0); // device budget (bytes/s)
let LW = new Float64Array(0); // per-neighbour bandwidth (bytes/s), direct topologies
let LA = new Float64Array(0); // participant dims (direct topologies)
let LB = new Float64Array(0);
let LWA = new Uint8Array(0); // dimension is a closed ring (wrap-around links, > 2 devices)
let LWB = new Uint8Array(0);
let LISR = new Float64Array(0); // in-switch reduction: its efficiency relative to the level's (0 = none)
let LRR = new Float64Array(0); // ring rate per device (bytes/s)
let LRH = new Float64Array(0); // hops per ring step
let LPJ = new Float64Array(0); // pJ per bit per hop
// Per-level result of the composite being built: [hierarchical, flat]
let HL = new Float64Array(0), HB = new Float64Array(0), HW = new Float64Array(0), HA = new Int32Array(0);
let FL = new Float64Array(0), FB = new Float64Array(0), FW = new Float64Array(0);

function ensureCap(n: number): void {
  if (n <= cap) return;
  cap = Math.max(8, n);
  LIDX = new Int32Array(cap); LK = new Int32Array(cap); LQ = new Float64Array(cap);
  LALPHA = new Float64Array(cap); LSIG = new Float64Array(cap); LBETA = new Float64Array(cap);
  LBD = new Float64Array(cap); LW = new Float64Array(cap); LA = new Float64Array(cap); LB = new Float64Array(cap);
  LWA = new Uint8Array(cap); LWB = new Uint8Array(cap); LISR = new Float64Array(cap);
  LRR = new Float64Array(cap); LRH = new Float64Array(cap); LPJ = new Float64Array(cap);
  HL = new Float64Array(cap); HB = new Float64Array(cap); HW = new Float64Array(cap); HA = new Int32Array(cap);
  FL = new Float64Array(cap); FB = new Float64Array(cap); FW = new Float64Array(cap);
}
ensureCap(8);

const degDim = (n: number) => (n > 2 ? 2 : n === 2 ? 1 : 0);

/** Geometry of the q participants of `lv` (q consecutive devices of one group) into slot j. */
function setupLevel(j: number, idx: number, lv: NetworkLevel, q: number): void {
  const beta = lv.linkBandwidthGBps * 1e9 * (lv.efficiency ?? 1);
  const bd = lv.linksPerDevice * beta;
  LIDX[j] = idx; LQ[j] = q;
  LALPHA[j] = lv.hopLatencyUs * 1e-6; LSIG[j] = lv.startupLatencyUs * 1e-6;
  LBETA[j] = beta; LBD[j] = bd; LPJ[j] = lv.energyPJPerBit;
  LISR[j] = lv.inSwitchReduction ? (lv.inSwitchEfficiency ?? lv.efficiency ?? 1) / (lv.efficiency ?? 1) : 0;
  LA[j] = q; LB[j] = 1; LWA[j] = 0; LWB[j] = 0;
  const n = lv.size;
  switch (lv.topology) {
    case 'switch':
      LK[j] = T_SWITCH; LW[j] = bd; LRR[j] = bd; LRH[j] = 2;
      return;
    case 'all-to-all':
      LK[j] = T_FULL; LW[j] = bd / Math.max(1, n - 1);
      LRR[j] = q > 2 ? 2 * LW[j] : LW[j]; LRH[j] = 1;
      return;
    case 'ring':
    case 'chain': {
      LK[j] = T_DIRECT;
      LW[j] = bd / Math.max(1, degDim(n));
      const wrap = lv.topology === 'ring' && q === n && n > 2;
      LWA[j] = wrap ? 1 : 0;
      LRR[j] = wrap ? 2 * LW[j] : LW[j];
      LRH[j] = wrap || q <= 2 ? 1 : 2;
      return;
    }
    case 'mesh2d':
    case 'torus2d': {
      LK[j] = T_DIRECT;
      const torus = lv.topology === 'torus2d';
      let dx: number, dy: number;
      if (lv.dims) { dx = lv.dims[0]; dy = lv.dims[1]; } else { const d = levelDims(lv); dx = d[0]; dy = d[1]; }
      LW[j] = bd / Math.max(1, degDim(dx) + degDim(dy));
      if (dx === 1) { dx = dy; dy = 1; } // a 1 x n grid is a line (or ring) of n
      if (q <= dx || q % dx !== 0) {
        // Within one row (a ring if the whole wrapped row), or an irregular set: a snake path (chain).
        const wrap = torus && q === dx && dx > 2;
        LWA[j] = wrap ? 1 : 0;
        LRR[j] = wrap ? 2 * LW[j] : LW[j];
        LRH[j] = wrap || q <= 2 ? 1 : 2;
      } else {
        const rows = q / dx;
        LA[j] = dx; LB[j] = rows;
        const wa = torus && dx > 2, wb = torus && rows === dy && dy > 2;
        LWA[j] = wa ? 1 : 0; LWB[j] = wb ? 1 : 0;
        // Hamiltonian cycle: 1-hop if the grid has an even side or wraps, else 2-hop steps somewhere.
        LRR[j] = 2 * LW[j];
        LRH[j] = (dx * rows) % 2 === 0 || wa || wb ? 1 : 2;
      }
      return;
    }
  }
}

// Scratch results of the pattern helpers (hops, bandwidth seconds, byte-hops per device).
// Kept in a typed array, not in module variables: a module variable holding a fraction boxes every
// value stored in it (one allocation per assignment), a typed array stores the double itself.
const TS = new Float64Array(3);
const T_H = 0, T_BW = 1, T_WIRE = 2;

/** One pairwise-exchange step at rank distance d with message m (all devices at once). */
function exchange(j: number, d: number, m: number): void {
  const k = LK[j]!;
  if (k === T_SWITCH) { TS[T_H] = 2; TS[T_BW] = m / LBD[j]!; TS[T_WIRE] = 2 * m; return; }
  if (k === T_FULL) { TS[T_H] = 1; TS[T_BW] = m / LW[j]!; TS[T_WIRE] = m; return; }
  const a = LA[j]!;
  let n: number, dd: number, wrap: number;
  if (d < a) { n = a; dd = d; wrap = LWA[j]!; } else { n = LB[j]!; dd = Math.floor(d / a); wrap = LWB[j]!; }
  let hops = wrap ? Math.min(dd, n - dd) : dd;
  if (hops < 1) hops = 1;
  // Aligned blocks of `hops` senders all cross the same link in the same direction.
  TS[T_H] = hops; TS[T_BW] = (m * hops) / LW[j]!; TS[T_WIRE] = m * hops;
}

// Link load of all-pairs traffic in a 1D dimension of n devices (messages per link direction).
const congDim = (n: number, wrap: number) => (n <= 1 ? 0 : wrap ? (n % 2 === 0 ? (n * n) / 8 : (n * n - 1) / 8) : Math.floor((n * n) / 4));
// Sum of hop distances from one device to all others in the dimension (averaged over devices).
const sumDistDim = (n: number, wrap: number) => (n <= 1 ? 0 : wrap ? Math.floor((n * n) / 4) : (n * n - 1) / 3);
const diamDim = (n: number, wrap: number) => (n <= 1 ? 0 : wrap ? Math.floor(n / 2) : n - 1);

/** Direct pattern: every device sends m bytes to every other participant at once. */
function directPattern(j: number, m: number): void {
  const k = LK[j]!, q = LQ[j]!;
  if (k === T_SWITCH) { TS[T_H] = 2; TS[T_BW] = ((q - 1) * m) / LBD[j]!; TS[T_WIRE] = 2 * (q - 1) * m; return; }
  if (k === T_FULL) { TS[T_H] = 1; TS[T_BW] = m / LW[j]!; TS[T_WIRE] = (q - 1) * m; return; }
  const a = LA[j]!, b = LB[j]!, wa = LWA[j]!, wb = LWB[j]!;
  // Dimension-order routing (x then y): an x link carries b x congDim(a) messages, a y link a x congDim(b).
  const lx = b * congDim(a, wa), ly = a * congDim(b, wb);
  TS[T_H] = diamDim(a, wa) + diamDim(b, wb);
  TS[T_BW] = (m * (lx > ly ? lx : ly)) / LW[j]!;
  TS[T_WIRE] = m * (b * sumDistDim(a, wa) + a * sumDistDim(b, wb));
}

/** Dimension-wise ring reduce-scatter (or all-gather) of X bytes on a 2D participant grid. */
function twoDRing(j: number, X: number): void {
  const a = LA[j]!, b = LB[j]!, w = LW[j]!, wa = LWA[j]!, wb = LWB[j]!;
  const rA = wa ? 2 * w : w, rB = wb ? 2 * w : w;
  const hA = wa || a <= 2 ? 1 : 2, hB = wb || b <= 2 ? 1 : 2;
  const u = (a - 1) / a / rA, v = (b - 1) / b / rB;
  // Fraction f of the data goes x-then-y, the rest y-then-x; both dimensions busy at once.
  // Choose f to balance the x and y link time (both are linear in f).
  const den = u * (1 - 1 / b) + v * (1 - 1 / a);
  let f = den > 0 ? (v - u / b) / den : 0.5;
  if (f < 0) f = 0; else if (f > 1) f = 1;
  const sx = ((a - 1) / a) * X * (f + (1 - f) / b), sy = ((b - 1) / b) * X * (1 - f + f / a);
  const tx = sx / rA, ty = sy / rB;
  TS[T_H] = (a - 1) * hA + (b - 1) * hB;
  TS[T_BW] = tx > ty ? tx : ty;
  TS[T_WIRE] = sx * hA + sy * hB;
}

/** Power-of-two part of recursive halving (full=false, message halves) or doubling (full=true). */
function rhdCore(j: number, X: number, full: boolean, pw: number): void {
  const k = LK[j]!;
  if (k !== T_DIRECT) {
    // Switch / fully connected: every step costs the same hops and rate (closed form).
    let steps = 0;
    for (let d = 1; d < pw; d *= 2) steps++;
    const sent = full ? steps * X : X - X / pw;
    const hop = k === T_SWITCH ? 2 : 1;
    TS[T_H] = steps * hop; TS[T_BW] = sent / (k === T_SWITCH ? LBD[j]! : LW[j]!); TS[T_WIRE] = sent * hop;
    return;
  }
  let h = 0, bw = 0, wire = 0;
  let m = full ? X : X / 2;
  for (let d = 1; d < pw; d *= 2) {
    exchange(j, d, m);
    h += TS[T_H]; bw += TS[T_BW]; wire += TS[T_WIRE];
    if (!full) m /= 2;
  }
  TS[T_H] = h; TS[T_BW] = bw; TS[T_WIRE] = wire;
}

// Best candidate of a level (module scratch).
const BS = new Float64Array([Infinity, 0, 0, 0]); // time, latency, bandwidth, wire (see TS)
const B_T = 0, B_LAT = 1, B_BW = 2, B_WIRE = 3;
let B_alg = -1;
let MASK = ALL_ALGS;

function consider(alg: number, lat: number, bw: number, wire: number): void {
  if ((MASK & ALG_BIT(alg)) === 0) return;
  const t = lat + bw;
  if (t < BS[B_T]) { BS[B_T] = t; BS[B_LAT] = lat; BS[B_BW] = bw; BS[B_WIRE] = wire; B_alg = alg; }
}

function pow2Floor(q: number): number {
  let pw = 1;
  while (pw * 2 <= q) pw *= 2;
  return pw;
}

/** Best single-level reduce-scatter (isAG=false) or all-gather of X bytes (input / output size). */
function rsLevel(j: number, X: number, isAG: boolean): void {
  BS[B_T] = Infinity; B_alg = -1;
  const q = LQ[j]!, alpha = LALPHA[j]!, sig = LSIG[j]!, k = LK[j]!;
  const s = ((q - 1) / q) * X;
  consider(A_RING, (q - 1) * LRH[j]! * alpha + sig, s / LRR[j]!, s * LRH[j]!);
  if (k === T_DIRECT && LB[j]! > 1) {
    twoDRing(j, X);
    consider(A_2D, TS[T_H] * alpha + sig, TS[T_BW], TS[T_WIRE]);
  }
  const pw = pow2Floor(q);
  rhdCore(j, X, false, pw);
  let h = TS[T_H], bw = TS[T_BW], wire = TS[T_WIRE];
  if (pw < q) {
    // Non-power-of-two: the extra ranks hand their whole buffer to a partner first.
    exchange(j, 1, X);
    h += TS[T_H]; bw += TS[T_BW]; wire += (TS[T_WIRE] * (q - pw)) / q;
  }
  consider(isAG ? A_RD : A_RH, h * alpha + sig, bw, wire);
  directPattern(j, X / q);
  consider(A_DIRECT, TS[T_H] * alpha + sig, TS[T_BW], TS[T_WIRE]);
}

/** Best single-level all-reduce of X bytes. */
function arLevel(j: number, X: number): void {
  BS[B_T] = Infinity; B_alg = -1;
  const q = LQ[j]!, alpha = LALPHA[j]!, sig = LSIG[j]!, k = LK[j]!;
  const s = (2 * (q - 1) * X) / q;
  consider(A_RING, 2 * (q - 1) * LRH[j]! * alpha + sig, s / LRR[j]!, s * LRH[j]!);
  if (k === T_DIRECT && LB[j]! > 1) {
    twoDRing(j, X);
    consider(A_2D, 2 * TS[T_H] * alpha + sig, 2 * TS[T_BW], 2 * TS[T_WIRE]);
  }
  const pw = pow2Floor(q);
  let eh = 0, ebw = 0, ewire = 0;
  if (pw < q) {
    // Extra ranks: fold in before (full buffer) and get the result after (full buffer).
    exchange(j, 1, X);
    eh = 2 * TS[T_H]; ebw = 2 * TS[T_BW]; ewire = (2 * TS[T_WIRE] * (q - pw)) / q;
  }
  rhdCore(j, X, true, pw);
  consider(A_RD, (TS[T_H] + eh) * alpha + sig, TS[T_BW] + ebw, TS[T_WIRE] + ewire);
  rhdCore(j, X, false, pw);
  consider(A_RAB, (2 * TS[T_H] + eh) * alpha + sig, 2 * TS[T_BW] + ebw, 2 * TS[T_WIRE] + ewire);
  if (k === T_SWITCH) {
    // Double binary tree, pipelined: an inner node sends ~2X in total (X/2 up + X down per tree).
    let lg = 0;
    while (1 << lg < q) lg++;
    const sent = q === 2 ? X : 2 * X;
    consider(A_TREE, 2 * lg * 2 * alpha + sig, sent / LBD[j]!, 2 * sent);
    if (LISR[j]) consider(A_INSWITCH, 2 * alpha + sig, X / (LBD[j]! * LISR[j]!), 2 * X);
  }
  directPattern(j, X);
  consider(A_ONESHOT, TS[T_H] * alpha + sig, TS[T_BW], TS[T_WIRE]);
  directPattern(j, X / q);
  consider(A_TWOSHOT, 2 * TS[T_H] * alpha + sig, 2 * TS[T_BW], 2 * TS[T_WIRE]);
}

/** All-to-all at one level: each device sends m bytes to each peer group. */
function a2aLevel(j: number, m: number): void {
  BS[B_T] = Infinity; B_alg = -1;
  directPattern(j, m);
  consider(A_DIRECT, TS[T_H] * LALPHA[j]! + LSIG[j]!, TS[T_BW], TS[T_WIRE]);
}

/** Send-recv at one level: each device sends X bytes to its neighbour. */
function srLevel(j: number, X: number): void {
  BS[B_T] = Infinity; B_alg = -1;
  const k = LK[j]!;
  const h = k === T_SWITCH ? 2 : 1;
  const r = k === T_SWITCH ? LBD[j]! : LW[j]!;
  consider(A_NEIGH, h * LALPHA[j]! + LSIG[j]!, X / r, X * h);
}

function kindCode(kind: CollectiveKind): number {
  switch (kind) {
    case 'all-reduce': return K_AR;
    case 'reduce-scatter': return K_RS;
    case 'all-gather': return K_AG;
    case 'all-to-all': return K_A2A;
    case 'send-recv': return K_SR;
    default: throw new ConfigError('kind', kind, `one of ${COLLECTIVE_KINDS.join(', ')}`);
  }
}

function noAlgorithm(kind: CollectiveKind, lv: NetworkLevel): never {
  throw new ConfigError('options.algorithms', undefined, `at least one algorithm that can run ${kind} on level '${lv.name}' (${lv.topology})`);
}

const ZERO_COST = (): CollectiveCost => ({ timeS: 0, latencyS: 0, bandwidthS: 0, algorithm: 'none', perLevel: [], energyJ: 0, bytesOnWireTotal: 0 });

/**
 * Cost of one collective over a group spanning `span[i]` participants at level i (innermost first).
 * `bytes` is per device, NCCL convention: all-reduce buffer; all-gather output; reduce-scatter
 * input; all-to-all send buffer (including the share a device keeps: (p-1)/p of it leaves);
 * send-recv the bytes sent. Returns the fastest algorithm and its breakdown per level.
 */
export function collectiveCost(
  kind: CollectiveKind,
  bytes: number,
  span: readonly number[],
  levels: readonly NetworkLevel[],
  options?: CollectiveOptions,
): CollectiveCost {
  const kc = kindCode(kind);
  if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new ConfigError('bytes', bytes, 'a finite number of bytes >= 0');
  if (span.length > levels.length) throw new ConfigError('span', span, `at most ${levels.length} entries (one per network level)`);
  if (span.length > cap) ensureCap(span.length);
  let m = 0, p = 1;
  for (let i = 0; i < span.length; i++) {
    const q = span[i]!;
    const lv = levels[i]!;
    if (!Number.isInteger(q) || q < 1 || q > lv.size) throw new ConfigError(`span[${i}]`, q, `an integer in [1, ${lv.size}] (participants at level '${lv.name}')`);
    if (q > 1) { setupLevel(m, i, lv, q); m++; p *= q; }
  }
  if (p === 1 || bytes === 0) return ZERO_COST();
  MASK = ALL_ALGS;
  if (options?.algorithms) {
    MASK = 0;
    for (const a of options.algorithms) {
      const ix = (ALGORITHMS as readonly string[]).indexOf(a);
      if (ix < 0) throw new ConfigError('options.algorithms', a, `one of ${ALGORITHMS.join(', ')}`);
      MASK |= ALG_BIT(ix);
    }
  }

  // ---- concurrent per-level patterns: all-to-all and send-recv
  if (kc === K_A2A || kc === K_SR) {
    let inner = 1, bestT = -1, bestJ = 0, energy = 0, wireTot = 0;
    let pAbove = p; // product of spans at this level and above
    for (let j = 0; j < m; j++) {
      const q = LQ[j]!;
      if (kc === K_A2A) {
        // Each peer group at this level receives bytes x inner/p from this device.
        a2aLevel(j, (bytes * inner) / p);
        HW[j] = BS[B_WIRE];
      } else {
        srLevel(j, bytes);
        // Fraction of devices whose neighbour is across this level (ring order over the group).
        const edges = j === m - 1 ? pAbove : pAbove - pAbove / q;
        HW[j] = (BS[B_WIRE] * edges) / p;
      }
      if (B_alg < 0) noAlgorithm(kind, levels[LIDX[j]!]!);
      HL[j] = BS[B_LAT]; HB[j] = BS[B_BW]; HA[j] = B_alg;
      if (BS[B_T] > bestT) { bestT = BS[B_T]; bestJ = j; }
      wireTot += HW[j]! * p;
      energy += HW[j]! * p * 8 * LPJ[j]! * 1e-12;
      inner *= q; pAbove /= q;
    }
    const perLevel: CollectiveLevelCost[] = new Array(m);
    for (let j = 0; j < m; j++) {
      perLevel[j] = { level: levels[LIDX[j]!]!.name, algorithm: ALGORITHMS[HA[j]!]!, timeS: HL[j]! + HB[j]!, latencyS: HL[j]!, bandwidthS: HB[j]!, busiestLinkBytes: HB[j]! * LBETA[j]! };
    }
    return {
      timeS: bestT, latencyS: HL[bestJ]!, bandwidthS: HB[bestJ]!,
      algorithm: m === 1 ? ALGORITHMS[HA[0]!]! : kc === K_A2A ? 'direct' : 'neighbour',
      perLevel, energyJ: energy, bytesOnWireTotal: wireTot,
    };
  }

  // ---- single level
  if (m === 1) {
    if (kc === K_AR) arLevel(0, bytes); else rsLevel(0, bytes, kc === K_AG);
    if (B_alg < 0) noAlgorithm(kind, levels[LIDX[0]!]!);
    const wire = BS[B_WIRE] * p;
    return {
      timeS: BS[B_T], latencyS: BS[B_LAT], bandwidthS: BS[B_BW], algorithm: ALGORITHMS[B_alg]!,
      perLevel: [{ level: levels[LIDX[0]!]!.name, algorithm: ALGORITHMS[B_alg]!, timeS: BS[B_T], latencyS: BS[B_LAT], bandwidthS: BS[B_BW], busiestLinkBytes: BS[B_BW] * LBETA[0]! }],
      energyJ: wire * 8 * LPJ[0]! * 1e-12, bytesOnWireTotal: wire,
    };
  }

  // ---- hierarchical: reduce-scatter inward-out on shrinking data, all-reduce at the top, all-gather back
  let hT = 0, hLat = 0, hBw = 0, hWire = 0, hEnergy = 0;
  let X = bytes;
  for (let j = 0; j < m; j++) {
    const top = j === m - 1;
    if (kc === K_AR && top) arLevel(j, X); else rsLevel(j, X, kc === K_AG);
    if (B_alg < 0) { hT = Infinity; break; }
    const mult = kc === K_AR && !top ? 2 : 1; // the all-gather mirrors the reduce-scatter
    HL[j] = mult * BS[B_LAT]; HB[j] = mult * BS[B_BW]; HW[j] = mult * BS[B_WIRE]; HA[j] = B_alg;
    hLat += HL[j]!; hBw += HB[j]!; hWire += HW[j]! * p; hEnergy += HW[j]! * p * 8 * LPJ[j]! * 1e-12;
    X /= LQ[j]!;
  }
  if (hT === 0) hT = hLat + hBw;

  // ---- flat ring over all levels (several rings, rotated so every device's links at each level
  // carry an equal share; a fraction N_l / p of the ring edges crosses level l).
  let fT = Infinity, fLat = 0, fBw = 0, fWire = 0, fEnergy = 0;
  if (MASK & ALG_BIT(A_RING)) {
    const phases = kc === K_AR ? 2 : 1;
    const steps = phases * (p - 1);
    const share = (phases * (p - 1) * bytes) / p;
    let maxHop = 0, maxSig = 0, maxBw = 0, pAbove = p;
    for (let j = 0; j < m; j++) {
      const q = LQ[j]!;
      const edges = j === m - 1 ? pAbove : pAbove - pAbove / q;
      const frac = edges / p;
      const hop = LRH[j]! * LALPHA[j]!;
      FL[j] = steps * hop + LSIG[j]!;
      FB[j] = (share * frac) / LRR[j]!;
      FW[j] = share * frac * LRH[j]!;
      if (hop > maxHop) maxHop = hop;
      if (LSIG[j]! > maxSig) maxSig = LSIG[j]!;
      if (FB[j]! > maxBw) maxBw = FB[j]!;
      fWire += FW[j]! * p; fEnergy += FW[j]! * p * 8 * LPJ[j]! * 1e-12;
      pAbove /= q;
    }
    fLat = steps * maxHop + maxSig; fBw = maxBw; fT = fLat + fBw;
  }
  if (hT === Infinity && fT === Infinity) noAlgorithm(kind, levels[LIDX[0]!]!);

  const perLevel: CollectiveLevelCost[] = new Array(m);
  if (hT <= fT) {
    for (let j = 0; j < m; j++) {
      const name = kc === K_AR && j < m - 1 ? RS_AG_NAMES[HA[j]!]! : ALGORITHMS[HA[j]!]!;
      perLevel[j] = { level: levels[LIDX[j]!]!.name, algorithm: name, timeS: HL[j]! + HB[j]!, latencyS: HL[j]!, bandwidthS: HB[j]!, busiestLinkBytes: HB[j]! * LBETA[j]! };
    }
    return { timeS: hT, latencyS: hLat, bandwidthS: hBw, algorithm: 'hierarchical', perLevel, energyJ: hEnergy, bytesOnWireTotal: hWire };
  }
  for (let j = 0; j < m; j++) {
    perLevel[j] = { level: levels[LIDX[j]!]!.name, algorithm: 'ring', timeS: FL[j]! + FB[j]!, latencyS: FL[j]!, bandwidthS: FB[j]!, busiestLinkBytes: FB[j]! * LBETA[j]! };
  }
  return { timeS: fT, latencyS: fLat, bandwidthS: fBw, algorithm: 'flat-ring', perLevel, energyJ: fEnergy, bytesOnWireTotal: fWire };
}

/**
 * Bus bandwidth in GB/s, nccl-tests convention: algbw = bytes / time, then x 2(p-1)/p for
 * all-reduce, x (p-1)/p for all-gather, reduce-scatter and all-to-all, x 1 for send-recv.
 */
export function busBandwidthGBps(kind: CollectiveKind, bytes: number, p: number, timeS: number): number {
  const kc = kindCode(kind);
  if (bytes === 0 || p <= 1) return 0;
  if (!(timeS > 0)) return Infinity;
  const algbw = bytes / timeS / 1e9;
  if (kc === K_AR) return (algbw * 2 * (p - 1)) / p;
  if (kc === K_SR) return algbw;
  return (algbw * (p - 1)) / p;
}

// ----------------------------------------------------------------------------------------------
// Tile-level compute/communication overlap

/**
 * Overlap of a GEMM's compute with its communication, tile by tile (DESIGN 2.5). The GEMM runs in
 * `waves` waves of tiles; the communication is chunked per wave, and the chunk of wave i moves
 * while wave i+1 computes. Only the first compute wave (nothing to send yet) and the last
 * communication wave (nothing left to compute) are exposed:
 *   total = max(c, m) + min(c, m) / waves    (enabled, waves >= 1)
 *   total = c + m                            (disabled)
 * so max(c, m) <= total <= c + m, with equality to c + m at waves = 1 (no overlap possible).
 * exposedCommS = total - computeS; hiddenCommS = commS - exposedCommS.
 */
export function overlapTile(computeS: number, commS: number, waves: number, enabled: boolean): { totalS: number; exposedCommS: number; hiddenCommS: number } {
  if (!(computeS >= 0) || !Number.isFinite(computeS)) throw new ConfigError('computeS', computeS, 'a finite time >= 0 s');
  if (!(commS >= 0) || !Number.isFinite(commS)) throw new ConfigError('commS', commS, 'a finite time >= 0 s');
  if (!enabled) return { totalS: computeS + commS, exposedCommS: commS, hiddenCommS: 0 };
  if (!(waves >= 1) || !Number.isFinite(waves)) throw new ConfigError('waves', waves, 'a number of GEMM waves >= 1');
  const hi = computeS > commS ? computeS : commS;
  const lo = computeS > commS ? commS : computeS;
  let totalS = hi + lo / waves;
  const sum = computeS + commS;
  if (totalS > sum) totalS = sum; // guard rounding
  const exposedCommS = totalS - computeS;
  return { totalS, exposedCommS, hiddenCommS: commS - exposedCommS };
}

// ----------------------------------------------------------------------------------------------
// Placement

/**
 * Participants per level of a group of `groupSize` devices whose members are `innerStride` ranks
 * apart (innerStride = product of the degrees of the groups placed inside it; ranks number the
 * devices innermost level first). Returns span[i] for every level (1 where the group is not spread).
 * Throws ConfigError when the groups cannot tile the hierarchy (a group or stride that straddles a
 * level boundary irregularly, or more devices than the hierarchy holds).
 */
export function spanOf(groupSize: number, innerStride: number, levels: readonly Pick<NetworkLevel, 'name' | 'size'>[]): number[] {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new ConfigError('groupSize', groupSize, 'an integer >= 1');
  if (!Number.isInteger(innerStride) || innerStride < 1) throw new ConfigError('innerStride', innerStride, 'an integer >= 1');
  const span: number[] = new Array(levels.length).fill(1);
  let g = groupSize, st = innerStride;
  for (let i = 0; i < levels.length && g > 1; i++) {
    const { name, size } = levels[i]!;
    if (st >= size) {
      if (st % size !== 0) throw new ConfigError('innerStride', innerStride, `a stride that is a multiple of level '${name}' size ${size} or divides it (inner groups must not straddle '${name}' boundaries)`);
      st /= size;
      continue;
    }
    if (size % st !== 0) throw new ConfigError('innerStride', innerStride, `a stride that divides level '${name}' size ${size}`);
    const room = size / st;
    if (g <= room) {
      if (room % g !== 0) throw new ConfigError('groupSize', groupSize, `a group size that tiles level '${name}' (a divisor of ${room} devices at stride ${st})`);
      span[i] = g;
      g = 1;
    } else {
      if (g % room !== 0) throw new ConfigError('groupSize', groupSize, `a multiple of ${room} (the devices of level '${name}' at stride ${st})`);
      span[i] = room;
      g /= room;
      st = 1;
    }
  }
  if (g > 1) throw new ConfigError('groupSize', groupSize, `a group that fits the network hierarchy (${levels.map((l) => `${l.name}:${l.size}`).join(' x ')} at stride ${innerStride})`);
  return span;
}
