// Admissible optimistic bounds of subspaces (DESIGN 3.3). Pure.
//
// For a subspace, every objective is bounded from physical limits that no point inside can beat. A
// point settles at one clock scale s in [MIN_THROTTLE, 1] (evaluate.ts: throttling); for s in an
// interval [sLo, sHi] (clockIntervals):
//   decode step  >= max( (weights read + KV read) / (D x bandwidth), FLOPs / (D x sHi x peak) ) + step overhead
//   prefill step >= FLOPs of the batch's prompts / (D x sHi x peak) + step overhead
//                   (a prefill in steps under a token budget, chunkTokens, only adds to it: the same
//                   FLOPs, attention's at the chunks' mean context rounded up, the weights read
//                   again each step, more launches, step overheads and collective start-ups (a
//                   collective's cost is concave in its bytes), pipeline bubbles no smaller; so the
//                   whole-batch prefill and its plan bound every budget)
//   system power >= D x (board power + DRAM standby and refresh + leakage at a floor of the temperature
//                   and the voltage V = max(lowest DVFS voltage, sLo)) and energy >= DRAM read energy of
//                   the bytes moved + the energy of the model's FLOPs (prefill and decode) at the
//                   cheapest FLOP the dies offer (with a plan, its own FLOPs by precision), times V^2,
//   and for energy objectives, per device, over every cycle length c at least the bound's:
//                   energy >= c x (board + DRAM static + each die's leakage floor lifted by its own dynamic
//                   heat: x 2^(self rise x dynamic power / doubling)) + dynamic energy (leastCycleEnergy),
//   and a request cycle >= prefill + O decode steps on one die, >= the longer of the two on split
//   prefill/decode dies (pipelined batches: evaluate.ts cycleOf),
// where D is the device count, the bandwidth is the effective one at normal refresh (refresh doubling
// only lowers it), the peak is the fastest matrix precision at the nominal clock, the weights read are
// at least the dense weights plus the experts that the step's tokens must touch, and KV is read at
// least for the prompt of every sequence. Each hardware quantity is taken at its extreme over the free
// dims that can change it (every combination of their values), the batch and device count over their
// allowed values, the precision at its narrowest; a batch that cannot fit (weights + KV over D devices
// above capacity) or that breaks an SLO even at its bound is left out. With the mapping dim in the
// space, the bound also times the mappings' plans: each stage at least its operators' roofline; on a
// fixed mapping and network (a leaf subspace, a point) plus its collectives costed by the network
// model (a TP collective hidden behind its GEMM at least as max of the two). Why each inequality
// holds for the model is argued next to it; test/search-bounds checks bound >= true value on random
// points of random subspaces.
import { capacityBytes, effectiveBandwidth, readEnergyPJPerByte, staticMemoryPowerW, writeEnergyPJPerByte } from '../model/memory.js';
import { parseWith } from '../model/errors.js';
import { systemSchema, type Chiplet, type SystemSpec } from '../model/hardware/schema.js';
import { copiesOf, copyBatch, MIN_THROTTLE, selfRisesKPerW, staticPowerFloorParts, staticPowerFloorW } from '../model/evaluate.js';
import { devicesOf, expertWeightBytes, footprintPerDevice, planDevice, type Mapping } from '../model/parallel.js';
import { BYTES_PER_ELEMENT, PRECISIONS, type ModelArch, type Precision, type PrecisionSpec } from '../model/types.js';
import { buildOperators, kvBytesPerSequence, kvBytesPerToken, uniformExpertLoad, weightBytesTotal, widerPrecision } from '../model/workload/index.js';
import { matrixPrecision } from '../model/compute.js';
import { collectiveCost, spanOf, type CollectiveKind, type NetworkLevel } from '../model/network.js';
import { applyPoint, type Space, type Subspace, type Value } from '../space/index.js';
import { packageAreaMm2, type SearchSpec } from './objective.js';
import { arrivalRate, lengthsOf } from '../model/serving/workload.js';

/** Hardware quantities the bound uses, and the system fields each one reads. */
// A dim that replaces a whole chiplet (or the chiplet list), changes a role or a chiplet's copies
// (count: the package's power, area and thermal network) can change any quantity.
const STRUCT = String.raw`chiplets(\[\d+\])?$|\.(role|count)$|^package$|\.(memory|compute|thermal|power|software|vertical)$`;
const q = (fields: string) => new RegExp(`${fields}|${STRUCT}`);
// What the static power floor reads: the dies' leakage, DRAM standby and refresh, board power, the thermal network.
const POWER_FIELDS = String.raw`compute\.(staticPowerW|minVoltageRatio|referenceTempC|leakageDoublingC|areaMm2)|memory\.(layers|stacks|backgroundPowerWPerLayer|refreshEnergyNJPerLayer|tREFIns|dieAreaMm2|placement)|power\.otherPowerW|thermal\.`;
const QUANTITIES = {
  peakPrefill: q(String.raw`compute\.(cores|frequencyGHz|macsPerCyclePerCore|matrixEfficiency)`),
  peakDecode: q(String.raw`compute\.(cores|frequencyGHz|macsPerCyclePerCore|matrixEfficiency)`),
  bwDecode: q(String.raw`memory\.|compute\.(memoryInflightKB|fabricLatencyNs)`),
  capDecode: q(String.raw`memory\.(layers|capacityPerLayerGiB|stacks)|software\.memoryReserveFraction`),
  capPrefill: q(String.raw`memory\.(layers|capacityPerLayerGiB|stacks)|software\.memoryReserveFraction`),
  // Static power and the thermal network that sets the temperature it is taken at.
  powerFloor: q(POWER_FIELDS),
  readPJ: q(String.raw`memory\.`),
  stepOverhead: q(String.raw`software\.stepOverheadUs`),
  bwPrefill: q(String.raw`memory\.|compute\.(memoryInflightKB|fabricLatencyNs)`),
  overlap: q(String.raw`software\.computeMemoryOverlap`),
  launch: q(String.raw`software\.kernelLaunchUs`),
  area: q(String.raw`compute\.areaMm2|memory\.(dieAreaMm2|stacks|placement)`),
  flopPJPrefill: q(String.raw`compute\.(energyPJPerMac|vectorEnergyPJPerFlop|macsPerCyclePerCore)`),
  flopPJDecode: q(String.raw`compute\.(energyPJPerMac|vectorEnergyPJPerFlop|macsPerCyclePerCore)`),
  // Energy (pJ, nominal voltage) of one matrix FLOP whose operands are at a given precision: half a
  // MAC at the precision the die's matrix unit runs it at (opStatic), for a plan's FLOPs by precision.
  macPJPrefill: q(String.raw`compute\.(energyPJPerMac|macsPerCyclePerCore)`),
  macPJDecode: q(String.raw`compute\.(energyPJPerMac|macsPerCyclePerCore)`),
  // The dies' leakage part of powerFloor, and their lowest voltages (the least and the largest).
  leakFloor: q(POWER_FIELDS),
  vMinLo: q(String.raw`compute\.minVoltageRatio`),
  vMinHi: q(String.raw`compute\.minVoltageRatio`),
  // A device's cycle energy with its dies' own dynamic heat and duty (leastCycleEnergy): board power
  // plus DRAM standby and refresh; the leakage floor of the die that decodes and of a separate
  // prefill die (0 when one die runs both); ln 2 x the die's self rise per watt (of its logic, of its
  // DRAM) / its leakage doubling; whether one die runs both phases (1) or not (0), and whether
  // separate dies do (1) or not (0). The first six read what powerFloor reads (the thermal network and
  // the dies' leakage); all are taken at their least over the subspace.
  restFloor: q(POWER_FIELDS),
  leakDec: q(POWER_FIELDS),
  leakPre: q(POWER_FIELDS),
  kDec: q(POWER_FIELDS),
  kDramDec: q(POWER_FIELDS),
  kPre: q(POWER_FIELDS),
  shared: q(String.raw`\.role$`),
  split: q(String.raw`\.role$`),
  // Copies of the prefill and of the decode chiplet in the package (a chiplet's count): the batch is
  // shared among them, so their most over the subspace bounds each copy's share from below.
  copiesPre: q(String.raw`\.count$`),
  copiesDec: q(String.raw`\.count$`),
  // ... and the least decode copies (each streams the weights: the read energy grows with them).
  copiesDecMin: q(String.raw`\.count$`),
} as const;
type Quantity = keyof typeof QUANTITIES;
/** Whether the extreme of a quantity that helps the objective is its max (true) or min (false). */
const WANT_MAX: Record<Quantity, boolean> = {
  peakPrefill: true, peakDecode: true, bwDecode: true, capDecode: true, capPrefill: true,
  powerFloor: false, readPJ: false, stepOverhead: false, area: false,
  bwPrefill: true, overlap: true, launch: false, flopPJPrefill: false, flopPJDecode: false,
  macPJPrefill: false, macPJDecode: false,
  leakFloor: false, vMinLo: false, vMinHi: true,
  restFloor: false, leakDec: false, leakPre: false, kDec: false, kDramDec: false, kPre: false, shared: false, split: false,
  copiesPre: true, copiesDec: true, copiesDecMin: false,
};

function roleChiplet(sys: SystemSpec, phase: 'prefill' | 'decode'): Chiplet {
  const cs = sys.package.chiplets;
  return (cs.find((c) => c.role === phase) ?? cs.find((c) => c.role === 'any'))!;
}

/** Peak matrix FLOP/s for operands at least as wide as `p` (the fastest such precision the die runs). */
function peakOf(c: Chiplet, p: Precision): number {
  const d = c.compute;
  let best = 0;
  for (const q of PRECISIONS) {
    if (BYTES_PER_ELEMENT[q] < BYTES_PER_ELEMENT[p]) continue;
    best = Math.max(best, d.macsPerCyclePerCore[matrixPrecision(d, q)]!);
  }
  return 2 * best * d.matrixEfficiency * d.cores * d.frequencyGHz * 1e9;
}

/** Least dynamic energy of one FLOP on a die (pJ) at nominal voltage for operands at least as wide
 *  as `p`: a matrix FLOP costs half a MAC of the precision its unit runs at, a vector FLOP
 *  vectorEnergyPJPerFlop (runOps scales both by V^2; the bound applies the voltage). */
function flopEnergyOf(c: Chiplet, p: Precision): number {
  const d = c.compute;
  let best = d.vectorEnergyPJPerFlop;
  for (const q of PRECISIONS) {
    if (BYTES_PER_ELEMENT[q] < BYTES_PER_ELEMENT[p]) continue;
    best = Math.min(best, d.energyPJPerMac[matrixPrecision(d, q)]! / 2);
  }
  return best;
}

function quantity(q: Quantity, sys: SystemSpec, prec: Precision): number {
  const pkg = sys.package;
  switch (q) {
    case 'peakPrefill':
      return peakOf(roleChiplet(sys, 'prefill'), prec);
    case 'peakDecode':
      return peakOf(roleChiplet(sys, 'decode'), prec);
    case 'bwDecode':
    case 'bwPrefill': {
      const c = roleChiplet(sys, q === 'bwDecode' ? 'decode' : 'prefill');
      return effectiveBandwidth(c.memory, c.memory.stacks, c.compute.memoryInflightKB * 1024, c.compute.fabricLatencyNs, false).effectiveGBps * 1e9;
    }
    case 'capDecode': {
      const c = roleChiplet(sys, 'decode');
      return capacityBytes(c.memory, c.memory.stacks) * (1 - pkg.software.memoryReserveFraction);
    }
    case 'capPrefill': {
      const c = roleChiplet(sys, 'prefill');
      return capacityBytes(c.memory, c.memory.stacks) * (1 - pkg.software.memoryReserveFraction);
    }
    case 'powerFloor':
      // Board power plus static power at a floor of the operating temperature (evaluate.ts).
      return pkg.power.otherPowerW + staticPowerFloorW(pkg);
    case 'readPJ': {
      const c = roleChiplet(sys, 'decode');
      // Any access moves at most a row per activation: the row-sized amortisation is the cheapest;
      // and a byte costs at least the cheaper of a read and a write.
      return Math.min(readEnergyPJPerByte(c.memory, c.memory.rowSizeBytes), writeEnergyPJPerByte(c.memory, c.memory.rowSizeBytes));
    }
    case 'stepOverhead':
      return pkg.software.stepOverheadUs * 1e-6;
    case 'area':
      return packageAreaMm2(sys);
    case 'overlap':
      return pkg.software.computeMemoryOverlap;
    case 'launch':
      return pkg.software.kernelLaunchUs * 1e-6;
    case 'flopPJPrefill':
      return flopEnergyOf(roleChiplet(sys, 'prefill'), prec);
    case 'flopPJDecode':
      return flopEnergyOf(roleChiplet(sys, 'decode'), prec);
    case 'macPJPrefill':
    case 'macPJDecode': {
      const d = roleChiplet(sys, q === 'macPJPrefill' ? 'prefill' : 'decode').compute;
      return d.energyPJPerMac[matrixPrecision(d, prec)]! / 2;
    }
    case 'leakFloor':
      return staticPowerFloorParts(pkg).leakW;
    case 'vMinLo':
      return Math.min(...pkg.chiplets.map((c) => c.compute.minVoltageRatio));
    case 'vMinHi':
      return Math.max(...pkg.chiplets.map((c) => c.compute.minVoltageRatio));
    case 'restFloor':
      return pkg.power.otherPowerW + floorPartsOf(pkg).dramW;
    case 'leakDec':
    case 'leakPre': {
      // Every copy of the role's chiplet (their floors add up).
      const role = roleChiplet(sys, q === 'leakDec' ? 'decode' : 'prefill').role;
      if (q === 'leakPre' && role === roleChiplet(sys, 'decode').role) return 0;
      const leak = floorPartsOf(pkg).leakByChiplet;
      let sum = 0;
      pkg.chiplets.forEach((c, i) => {
        if (c.role === role) sum += leak[i]!;
      });
      return sum;
    }
    case 'kDec':
    case 'kDramDec':
    case 'kPre': {
      // The least over the role's copies (each heats with its own share of the role's energy).
      const role = roleChiplet(sys, q === 'kPre' ? 'prefill' : 'decode').role;
      const r = risesOf(pkg);
      let least = Infinity;
      pkg.chiplets.forEach((c, i) => {
        if (c.role === role) least = Math.min(least, (Math.LN2 * (q === 'kDramDec' ? r.dram[i]! : r.logic[i]!)) / c.compute.leakageDoublingC);
      });
      return least;
    }
    case 'shared':
      return roleIndex(sys, 'prefill') === roleIndex(sys, 'decode') ? 1 : 0;
    case 'split':
      return roleIndex(sys, 'prefill') === roleIndex(sys, 'decode') ? 0 : 1;
    case 'copiesPre':
      return copiesOf(sys, 'prefill');
    case 'copiesDec':
    case 'copiesDecMin':
      return copiesOf(sys, 'decode');
  }
}

function roleIndex(sys: SystemSpec, phase: 'prefill' | 'decode'): number {
  return sys.package.chiplets.indexOf(roleChiplet(sys, phase));
}

/** selfRisesKPerW per package (three quantities read it, each over all the subspace's systems). */
const selfRises = new WeakMap<SystemSpec['package'], ReturnType<typeof selfRisesKPerW>>();
function risesOf(pkg: SystemSpec['package']): ReturnType<typeof selfRisesKPerW> {
  let r = selfRises.get(pkg);
  if (!r) selfRises.set(pkg, (r = selfRisesKPerW(pkg)));
  return r;
}

/** staticPowerFloorParts per package (the quantities of one system read it several times). */
const floorParts = new WeakMap<SystemSpec['package'], ReturnType<typeof staticPowerFloorParts>>();
function floorPartsOf(pkg: SystemSpec['package']): ReturnType<typeof staticPowerFloorParts> {
  let f = floorParts.get(pkg);
  if (!f) floorParts.set(pkg, (f = staticPowerFloorParts(pkg)));
  return f;
}

export interface BoundContext {
  space: Space;
  baseSystemJson: Record<string, unknown>;
  model: ModelArch;
  spec: SearchSpec;
  /** Per quantity: the hardware dims (indices) whose paths can change it. */
  deps: Record<Quantity, number[]>;
  cache: Map<string, number>;
  /** Per assignment of a set of hardware dims (`dims/choices`): the system it gives (null: no point has
   *  it), and per quantity and precision its value. extreme() enumerates the same assignments for every
   *  quantity that shares the dims, every precision and every subspace that leaves them free. */
  systemOf: Map<string, SystemSpec | null>;
  valueOf: Map<string, number | null>;
  pointCache: Map<string, Bound | null>;
  /** Plans by mapping (its key) and then batch and precision; planSlots finds a mapping object's. */
  planCache: Map<string, Map<string, MappingWork | null>>;
  planSlots: WeakMap<Mapping, Map<string, MappingWork | null>>;
  planCount: number;
  /** Interned collective lists of the plans (StageWork.comms). */
  commPlans: Map<string, CommPlan>;
  hwCache: Map<string, HwQuantities>;
  lastHw?: { at: (number | undefined)[]; get: (q: Quantity, prec?: Precision) => number };
  frontierCache: Map<string, WorkEntry[]>;
  /** A fixed mapping's undominated plans (skyline) by batch and precisions, per plans map (plansOf). */
  skylines: WeakMap<Map<string, MappingWork | null>, Map<string, MappingWork[]>>;
  mappingsByDevices: Map<number, Mapping[]>;
  microbatchDim: number;
  /** The dims any quantity depends on. */
  hwDims: number[];
  /** Precision of a point whose precision dims are all absent (space base). */
  basePrecision: PrecisionSpec;
  /** Dims by target. */
  batchDim: number;
  devicesDim: number;
  precisionDims: number[];
  /** Dims that no bound reads, so points that differ only in them have the same bound: the prefill
   *  token budget (chunkTokens), which only adds to the whole-batch prefill every bound costs (the
   *  header). The search computes a point's bound once for all their values (engine visitPoints). */
  blindDims: number[];
  /** Token lengths are fixed by the space defaults (a dim over them disables bounds). */
  inputTokens: number;
  outputTokens: number;
  enabled: boolean;
  decodeFlopsPerToken: number;
  prefillFlopsPerPrompt: number;
  /** An objective reads energy (the clock intervals of clockIntervals, each by voltage floor). */
  energyObjective: boolean;
  clocks: Map<number, [number, number][]>;
  /** The serving objective's workload: offered output tokens/s (arrival rate x mean output length,
   *  as the analytic serving model takes them), or NaN without one. */
  servingTokensPerS: number;
}

function flopsOf(model: ModelArch, phase: 'prefill' | 'decode', newTokens: number, contextBefore: number): number {
  const p = { weights: 'bf16', activations: 'bf16', kvCache: 'bf16' } as const; // FLOPs do not depend on it
  return buildOperators(model, p, phase, { batch: 1, newTokens, contextBefore }).reduce((s, o) => s + o.flops * o.count, 0);
}

export function makeBoundContext(space: Space, baseSystemJson: Record<string, unknown>, model: ModelArch, spec: SearchSpec): BoundContext {
  const deps = {} as Record<Quantity, number[]>;
  for (const q of Object.keys(QUANTITIES) as Quantity[]) {
    // The hardware dims whose paths touch the quantity's fields, closed over the constraints that tie
    // dims together (connected layers <= layers): a value of one is only valid with the other's.
    const set = new Set(space.dims.filter((d) => d.pathStrings.some((p) => QUANTITIES[q].test(p))).map((d) => d.index));
    for (let grew = true; grew; ) {
      grew = false;
      for (const d of space.dims) {
        if (d.paths.length === 0) continue;
        const linked = d.constraints.some((c) => set.has(c.ref)) || [...set].some((i) => space.dims[i]!.constraints.some((c) => c.ref === d.index));
        if (linked && !set.has(d.index)) {
          set.add(d.index);
          grew = true;
        }
      }
    }
    deps[q] = [...set].sort((a, b) => a - b);
  }
  const byTarget = (t: string) => space.dims.findIndex((d) => d.target === t);
  const defaults = (space.config.base.defaults ?? {}) as Record<string, unknown>;
  const tokenDims = space.dims.some((d) => d.target === 'inputTokens' || d.target === 'outputTokens');
  return {
    space,
    baseSystemJson,
    model,
    spec,
    deps,
    cache: new Map(),
    systemOf: new Map(),
    valueOf: new Map(),
    pointCache: new Map(),
    planCache: new Map(),
    planSlots: new WeakMap(),
    planCount: 0,
    commPlans: new Map(),
    hwCache: new Map(),
    frontierCache: new Map(),
    skylines: new WeakMap(),
    mappingsByDevices: new Map(),
    microbatchDim: byTarget('microbatches'),
    hwDims: [...new Set(Object.values(deps).flat())].sort((a, b) => a - b),
    basePrecision: applyPoint({}, { values: {} }, space).precision,
    batchDim: byTarget('batch'),
    devicesDim: byTarget('devices'),
    precisionDims: space.dims.filter((d) => d.target?.startsWith('precision')).map((d) => d.index),
    blindDims: space.dims.filter((d) => d.target === 'chunkTokens' && d.paths.length === 0).map((d) => d.index),
    inputTokens: Number(defaults.inputTokens ?? 1024),
    outputTokens: Number(defaults.outputTokens ?? 256),
    enabled: !tokenDims,
    decodeFlopsPerToken: flopsOf(model, 'decode', 1, Number(defaults.inputTokens ?? 1024)),
    prefillFlopsPerPrompt: flopsOf(model, 'prefill', Number(defaults.inputTokens ?? 1024), 0),
    energyObjective: spec.objectives.some((o) => o === 'throughput-per-watt' || o === 'energy-per-token'),
    clocks: new Map(),
    servingTokensPerS: spec.workload ? (arrivalRate(spec.workload.arrival) ?? NaN) * lengthsOf(spec.workload, model.maxPositionEmbeddings).output.mean : NaN,
  };
}

/** Extreme of a quantity over the free dims that can change it, given the fixed dim indices. */
function extreme(ctx: BoundContext, q: Quantity, fixed: (number | undefined)[], prec: Precision = 'fp32'): number {
  const dims = ctx.deps[q];
  const free = dims.filter((i) => fixed[i] === undefined);
  const fixedKey = dims.map((i) => (fixed[i] === undefined ? '*' : fixed[i])).join(',');
  const key = `${q}|${prec}|${fixedKey}`;
  const hit = ctx.cache.get(key);
  if (hit !== undefined) return hit;
  const want = WANT_MAX[q];
  let best = want ? -Infinity : Infinity;
  const choice = dims.map((i) => (fixed[i] === undefined ? 0 : fixed[i]!));
  const counts = free.map((i) => ctx.space.dims[i]!.values.length);
  const pos = free.map((i) => dims.indexOf(i));
  const dimsKey = dims.join(',');
  for (;;) {
    const at = `${dimsKey}/${choice.join(',')}`;
    const vKey = `${q}|${prec}|${at}`;
    let v = ctx.valueOf.get(vKey);
    if (v === undefined) {
      let sys = ctx.systemOf.get(at);
      if (sys === undefined) {
        const values: Record<string, Value> = {};
        dims.forEach((i, k) => (values[ctx.space.dims[i]!.name] = ctx.space.dims[i]!.values[choice[k]!]!));
        const applied = applyPoint(ctx.baseSystemJson, { values }, ctx.space);
        try {
          delete (applied.system as { network?: unknown }).network; // not read by any quantity
          sys = parseWith(systemSchema, applied.system);
        } catch {
          sys = null; // a combination no point has (e.g. connected > layers): skip it
        }
        if (ctx.systemOf.size > 200_000) ctx.systemOf.clear();
        ctx.systemOf.set(at, sys);
      }
      v = sys ? quantity(q, sys, prec) : null;
      if (ctx.valueOf.size > 1_000_000) ctx.valueOf.clear();
      ctx.valueOf.set(vKey, v);
    }
    if (v !== null) best = want ? Math.max(best, v) : Math.min(best, v);
    let k = 0;
    while (k < free.length) {
      const p = pos[k]!;
      if (++choice[p]! < counts[k]!) break;
      choice[p] = 0;
      k++;
    }
    if (k === free.length) break;
  }
  // No valid combination evaluated: nothing is known, so take the extreme that helps the objective.
  if (!Number.isFinite(best)) best = want ? Infinity : 0;
  if (ctx.cache.size > 100_000) ctx.cache.clear();
  ctx.cache.set(key, best);
  return best;
}

/** The quantities of one assignment of the hardware dims (free ones as '*'), memoised per quantity and
 *  precision: a point's bound reads a dozen of them, and the points of a subspace share its hardware. */
type HwQuantities = Partial<Record<Quantity, Partial<Record<Precision, number>>>>;

function hardwareOf(ctx: BoundContext, fixed: (number | undefined)[]): (q: Quantity, prec?: Precision) => number {
  // The points of a subspace come in a row with the same hardware: reuse the last accessor.
  const last = ctx.lastHw;
  if (last && ctx.hwDims.every((i, k) => fixed[i] === last.at[k])) return last.get;
  let key = '';
  for (const i of ctx.hwDims) key += (fixed[i] === undefined ? '*' : fixed[i]) + ',';
  let h = ctx.hwCache.get(key);
  if (!h) {
    if (ctx.hwCache.size > 100_000) ctx.hwCache.clear();
    ctx.hwCache.set(key, (h = {}));
  }
  const hq = h;
  const at = ctx.hwDims.map((i) => fixed[i]);
  const own = [...fixed]; // extreme() reads the fixed dims later (the caller's array may change)
  const get = (q: Quantity, prec: Precision = 'fp32') => {
    const byPrec = (hq[q] ??= {});
    return (byPrec[prec] ??= extreme(ctx, q, own, prec));
  };
  ctx.lastHw = { at, get };
  return get;
}

export interface Bound {
  /** Optimistic objective vector (maximised), or infeasible with the reason every point shares. */
  ideal?: number[];
  infeasible?: string;
}

function valuesOf(ctx: BoundContext, dim: number, fixed: (number | undefined)[]): Value[] {
  if (dim < 0) return [];
  const d = ctx.space.dims[dim]!;
  return fixed[dim] === undefined ? [...d.values] : [d.values[fixed[dim]!]!];
}

/** Narrowest precision per class among the values the subspace allows. */
function narrowest(ctx: BoundContext, fixed: (number | undefined)[]): PrecisionSpec {
  const p = { ...ctx.basePrecision };
  const min = (a: Precision, b: Precision) => (BYTES_PER_ELEMENT[b] < BYTES_PER_ELEMENT[a] ? b : a);
  for (const i of ctx.precisionDims) {
    const d = ctx.space.dims[i]!;
    const cls = d.target === 'precision' ? (['weights', 'activations', 'kvCache'] as const) : [d.target!.split('.')[1] as 'weights' | 'activations' | 'kvCache'];
    const vals = valuesOf(ctx, i, fixed) as Precision[];
    for (const c of cls) {
      let best = vals[0]!;
      for (const v of vals) best = min(best, v);
      // A class set by this dim takes its narrowest allowed value.
      p[c] = best;
    }
  }
  return p;
}

/** What one device does in one pass of a pipeline stage of a phase, summed over the operators of the
 *  model's own plan (planDevice: the mapping's shards, pipeline stage, MoE busiest rank). Hardware-free. */
interface StageWork {
  /** Matrix FLOPs (GEMMs and attention) by the precision their matrix unit runs at. */
  flops: [Precision, number][];
  /** DRAM bytes the operators move at least: every GEMM operand and output once, attention's
   *  activations and KV, a vector operator's bytes (runOps and gemmTime never move fewer). */
  bytes: number;
  /** Kernel launches (one per operator instance). */
  kernels: number;
  /** Step = stage pass x this (DevicePlan.pipelineFactor: with the bubble). */
  pipelineFactor: number;
  /** A step's work = a stage pass's x this (the microbatches: finishStep). */
  workFactor: number;
  /** The plan's collectives (one object shared by the plans that have the same, e.g. at other weight
   *  or KV precisions). */
  comms: CommPlan;
}

/** A stage's collectives; `group`: the index (0 .. gemms-1) of the GEMM a collective may hide behind
 *  (tile-level TP overlap, when the mapping allows it), -1 for none; `pairs`: min(that GEMM's
 *  instances, the collective's) per stage. */
interface CommPlan {
  list: { kind: CollectiveKind; bytes: number; groupSize: number; stride: number; count: number; group: number; pairs: number; key: string }[];
  /** Distinct GEMMs that collectives overlap. */
  gemms: number;
}

/** Per-device work and footprint of a mapping at a batch and precision; null: the model refuses it. */
interface MappingWork {
  prefill: StageWork;
  decode: StageWork;
  weightsBytes: number;
  kvBytes: number;
  /** KV of the prefill side's sequences when its batch differs from the decode side's (copies). */
  kvPrefillBytes?: number;
}

function stageWork(ctx: BoundContext, prec: PrecisionSpec, phase: 'prefill' | 'decode', batch: number, m: Mapping): StageWork {
  // Decode at the shortest context of the generation (the prompt): only attention depends on the
  // context, and its FLOPs and bytes grow with it.
  const plan = planDevice(ctx.model, prec, phase, batch, phase === 'prefill' ? ctx.inputTokens : 1, phase === 'prefill' ? 0 : ctx.inputTokens, m);
  const actB = BYTES_PER_ELEMENT[prec.activations];
  const wB = BYTES_PER_ELEMENT[prec.weights];
  const flops = new Map<Precision, number>();
  let bytes = 0;
  let kernels = 0;
  for (const o of plan.ops) {
    let b: number;
    if (o.kind === 'gemm') {
      b = (o.m * o.k * actB + o.n * o.k * wB + o.m * o.n * actB) * o.groups;
      flops.set(o.computePrecision, (flops.get(o.computePrecision) ?? 0) + 2 * o.m * o.n * o.k * o.groups * o.count);
    } else if (o.kind === 'attention') {
      b = o.activationBytes + o.kvReadBytes + o.kvWriteBytes;
      flops.set(o.computePrecision, (flops.get(o.computePrecision) ?? 0) + o.flops * o.count);
    } else b = o.weightBytes + o.activationBytes + o.kvReadBytes + o.kvWriteBytes; // vector work: its bytes only
    bytes += b * o.count;
    kernels += o.count;
  }
  // Collectives do not depend on the context (parallel.ts), so these are the ones evaluate() costs.
  const gemmNames: string[] = [];
  const list = plan.comms.map((c) => {
    const g = m.overlap !== false && c.overlapWith ? plan.ops.find((o) => o.name === c.overlapWith && o.count > 0) : undefined;
    let group = -1;
    if (g) {
      group = gemmNames.indexOf(g.name);
      if (group < 0) group = gemmNames.push(g.name) - 1;
    }
    const key = `${c.kind}|${c.groupSize}|${c.stride}`;
    return { kind: c.kind, bytes: c.bytes, groupSize: c.groupSize, stride: c.stride, count: c.count, group, pairs: g ? Math.min(c.count, g.count) : 0, key };
  });
  const planKey = `${gemmNames.length}/${list.map((c) => `${c.key}|${c.bytes}|${c.count}|${c.group}|${c.pairs}`).join(';')}`;
  let comms = ctx.commPlans.get(planKey);
  if (!comms) {
    if (ctx.commPlans.size > 100_000) ctx.commPlans.clear();
    ctx.commPlans.set(planKey, (comms = { list, gemms: gemmNames.length }));
  }
  return { flops: [...flops], bytes, kernels, pipelineFactor: plan.pipelineFactor, workFactor: plan.microbatches, comms };
}

/** The plans of a mapping by batch and precision: one map per mapping, found by the mapping object
 *  (the space's values and the points' mappings are long-lived) and shared by equal mappings. */
function plansOf(ctx: BoundContext, m: Mapping): Map<string, MappingWork | null> {
  let plans = ctx.planSlots.get(m);
  if (!plans) {
    const mk = `${m.tp}|${m.pp}|${m.dp}|${m.sp}|${m.ep}|${m.microbatches ?? ''}|${m.routingSkew ?? ''}|${m.expertPlacement ?? ''}|${m.expertLoads?.join(',') ?? ''}`;
    plans = ctx.planCache.get(mk);
    if (!plans) ctx.planCache.set(mk, (plans = new Map()));
    ctx.planSlots.set(m, plans);
  }
  return plans;
}

function mappingWork(ctx: BoundContext, prec: PrecisionSpec, batch: number, m: Mapping): MappingWork | null {
  const plans = plansOf(ctx, m);
  const key = `${batch}|${prec.weights}|${prec.activations}|${prec.kvCache}`;
  let w = plans.get(key);
  if (w === undefined) {
    try {
      const fp = footprintPerDevice(ctx.model, prec, m, batch, ctx.inputTokens, ctx.outputTokens);
      w = { prefill: stageWork(ctx, prec, 'prefill', batch, m), decode: stageWork(ctx, prec, 'decode', batch, m), weightsBytes: fp.weightsBytes, kvBytes: fp.kvCacheBytes };
    } catch {
      w = null; // a mapping the model refuses: the evaluation reports why
    }
    // ~200 MB at the limit: deepstack has 425k mapping x batch x precision.
    if (++ctx.planCount > 500_000) {
      ctx.planCache = new Map();
      ctx.planSlots = new WeakMap();
      ctx.planCount = 0;
    }
    plans.set(key, w);
  }
  return w;
}

/** Precision combinations the subspace allows (each precision dim at each of its allowed values). */
function precisionCombos(ctx: BoundContext, fixed: (number | undefined)[]): PrecisionSpec[] {
  let out: PrecisionSpec[] = [{ ...ctx.basePrecision }];
  for (const i of ctx.precisionDims) {
    const d = ctx.space.dims[i]!;
    const cls = d.target === 'precision' ? (['weights', 'activations', 'kvCache'] as const) : [d.target!.split('.')[1] as 'weights' | 'activations' | 'kvCache'];
    out = out.flatMap((p) => (valuesOf(ctx, i, fixed) as Precision[]).map((v) => {
      const q = { ...p };
      for (const c of cls) q[c] = v;
      return q;
    }));
  }
  return out;
}

const WORK_PRECS = PRECISIONS.length;
/** The components a stage bound grows with: pipeline factor x (FLOPs per precision, bytes, launches),
 *  and the energy bound: work factor x FLOPs per precision (planFlopJ). */
function workVector(w: MappingWork): number[] {
  const v: number[] = [];
  for (const st of [w.prefill, w.decode]) {
    const f = new Array<number>(WORK_PRECS).fill(0);
    const e = new Array<number>(WORK_PRECS).fill(0);
    for (const [p, x] of st.flops) {
      f[PRECISIONS.indexOf(p)] += st.pipelineFactor * x;
      e[PRECISIONS.indexOf(p)] += st.workFactor * x;
    }
    v.push(...f, ...e, st.pipelineFactor * st.bytes, st.pipelineFactor * st.kernels);
  }
  v.push(w.weightsBytes, w.kvBytes);
  return v;
}

/** A cache key of precision combinations. */
const precsKey = (precs: readonly PrecisionSpec[]) => precs.map((p) => `${p.weights},${p.activations},${p.kvCache}`).join(';');

/** The works of mappings at batch B over precision combinations (those the model refuses left out). */
function worksOf(ctx: BoundContext, precs: readonly PrecisionSpec[], B: number, maps: readonly Mapping[]): MappingWork[] {
  const all: MappingWork[] = [];
  for (const p of precs)
    for (const m of maps) {
      const w = mappingWork(ctx, p, B, m);
      if (w) all.push(w);
    }
  return all;
}

/**
 * The mappings of a subspace on D devices at batch B that no other one beats in every component the
 * bound grows with (work of both phases, footprint), over the precision combinations it allows: the
 * bound of a dominated mapping is never above its dominator's (every step bound and the footprint
 * check are monotone in the components), so the maximum over the frontier is the maximum over all.
 * The mapping dim is free here (a fixed one: mappingEntries).
 */
function frontierOf(ctx: BoundContext, precs: PrecisionSpec[], D: number, B: number): WorkEntry[] {
  const md = ctx.space.mappingDim;
  const key = `${D}|${B}|${precsKey(precs)}`;
  let f = ctx.frontierCache.get(key);
  if (f) return f;
  let maps = ctx.mappingsByDevices.get(D);
  if (!maps) {
    maps = (ctx.space.dims[md]!.values as unknown as Mapping[]).filter((v) => devicesOf(v) === D);
    ctx.mappingsByDevices.set(D, maps);
  }
  f = skyline(worksOf(ctx, precs, B, maps), false).map((w) => ({ w }));
  if (ctx.frontierCache.size > 20_000) ctx.frontierCache.clear();
  ctx.frontierCache.set(key, f);
  return f;
}

/** Whether every collective of plan `a` is one of `b`'s (same kind, group, count and GEMM it hides
 *  behind) with no more bytes: on any network its exposed and hidden times are then no longer (a
 *  collective's time does not fall as its bytes grow: network.ts, test/network). */
function commsNoLarger(a: CommPlan, b: CommPlan): boolean {
  if (a === b) return true;
  if (a.list.length !== b.list.length || a.gemms !== b.gemms) return false;
  for (let i = 0; i < a.list.length; i++) {
    const x = a.list[i]!;
    const y = b.list[i]!;
    if (x.key !== y.key || x.count !== y.count || x.group !== y.group || x.pairs !== y.pairs || x.bytes > y.bytes) return false;
  }
  return true;
}

/**
 * The works no other one dominates: at most as large in every component the bound grows with
 * (workVector) and, with `withComms` (a bound on a known network), in every collective's bytes. A
 * dominated work's bound is never above its dominator's, so the bound over the skyline is the bound
 * over all of them. In order of the sum of components, a work can only be dominated by one before it.
 */
function skyline(works: MappingWork[], withComms: boolean): MappingWork[] {
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  const sorted = works
    .map((w) => {
      const v = workVector(w);
      return { w, v, s: sum(v) };
    })
    .sort((a, b) => a.s - b.s);
  const kept: typeof sorted = [];
  for (const x of sorted) {
    let dom = false;
    for (const k of kept) {
      let le = true;
      for (let i = 0; i < x.v.length && le; i++) if (k.v[i]! > x.v[i]!) le = false;
      if (le && withComms) le = commsNoLarger(k.w.prefill.comms, x.w.prefill.comms) && commsNoLarger(k.w.decode.comms, x.w.decode.comms);
      if (le) {
        dom = true;
        break;
      }
    }
    if (!dom) kept.push(x);
  }
  return kept.map((x) => x.w);
}

/** Zeroed scratch for commTimes' per-GEMM maxima (the bound is not reentrant). */
let gemmScratchArr = new Float64Array(8);
function gemmScratch(n: number): Float64Array {
  if (gemmScratchArr.length < n) gemmScratchArr = new Float64Array(2 * n);
  gemmScratchArr.fill(0, 0, n);
  return gemmScratchArr;
}

/** A phase's collectives on a network, costed by the network model (network.ts): the time of those
 *  that cannot overlap (exposed), and per GEMM they overlap tile by tile the largest of
 *  min(GEMM instances, collective instances) x the collective's time, summed over those GEMMs
 *  (hidden): a GEMM and its collectives take at least max(GEMM, collective) per instance (addComms:
 *  overlap never beats the max). */
interface CommTimes {
  exposed: number;
  hidden: number;
}
type PhaseComms = { prefill: CommTimes; decode: CommTimes };

/** Collective times per network (by identity: the systems' parsed levels), collective (its `key`)
 *  and bytes. */
const collectiveTimes = new WeakMap<readonly NetworkLevel[], Map<string, Map<number, number>>>();
/** A plan's collective times per network (by identity) and plan (interned: StageWork.comms). The
 *  bounds of a mapping subspace on a network cost a few hundred thousand plans; the same plans come
 *  back on that network under every other package and die of the space. */
const planCommTimes = new WeakMap<readonly NetworkLevel[], Map<CommPlan, CommTimes>>();
const NO_COMMS: CommTimes = { exposed: 0, hidden: 0 };

function commTimes(w: StageWork, network: readonly NetworkLevel[]): CommTimes {
  const cp = w.comms;
  if (cp.list.length === 0) return NO_COMMS;
  let byPlan = planCommTimes.get(network);
  if (!byPlan) planCommTimes.set(network, (byPlan = new Map()));
  const known = byPlan.get(cp);
  if (known !== undefined) return known;
  let exposed = 0;
  let hidden = 0;
  let times = collectiveTimes.get(network);
  if (!times) collectiveTimes.set(network, (times = new Map()));
  const perGemm = cp.gemms > 0 ? gemmScratch(cp.gemms) : null;
  for (const cm of cp.list) {
    let byBytes = times.get(cm.key);
    if (!byBytes) times.set(cm.key, (byBytes = new Map()));
    let t = byBytes.get(cm.bytes);
    if (t === undefined) {
      t = collectiveCost(cm.kind, cm.bytes, spanOf(cm.groupSize, cm.stride, network), network).timeS;
      if (byBytes.size > 10_000) byBytes.clear();
      byBytes.set(cm.bytes, t);
    }
    if (cm.group < 0) exposed += cm.count * t;
    else perGemm![cm.group] = Math.max(perGemm![cm.group]!, cm.pairs * t);
  }
  for (let g = 0; g < cp.gemms; g++) hidden += perGemm![g]!;
  const t = { exposed, hidden };
  if (byPlan.size > 200_000) byPlan.clear();
  byPlan.set(cp, t);
  return t;
}

/** A stage bound's parts at the nominal clock: compute c (>= FLOPs / peak), DRAM d (>= bytes /
 *  bandwidth), launches, the pipeline factor and the collectives (stageTime assembles them). */
interface StageParts {
  c: number;
  d: number;
  launch: number;
  overlap: number;
  pf: number;
  exposed: number;
  hidden: number;
}

function stageParts(hw: (q: Quantity, prec?: Precision) => number, w: StageWork, phase: 'prefill' | 'decode', comm?: CommTimes): StageParts {
  let c = 0;
  for (const [p, f] of w.flops) c += f / hw(phase === 'prefill' ? 'peakPrefill' : 'peakDecode', p);
  const d = w.bytes / hw(phase === 'prefill' ? 'bwPrefill' : 'bwDecode');
  return { c, d, launch: w.kernels * hw('launch'), overlap: hw('overlap'), pf: w.pipelineFactor, exposed: comm?.exposed ?? 0, hidden: comm?.hidden ?? 0 };
}

/** Matrix FLOP energy (J, nominal voltage) of one step of a plan's stage on one device: its FLOPs by
 *  precision x the work factor (finishStep scales work by the microbatches) x half a MAC at that
 *  precision. The decode stage is at the shortest context (the prompt): attention's FLOPs only grow
 *  with it. */
function planFlopJ(hw: (q: Quantity, prec?: Precision) => number, w: StageWork, q: 'macPJPrefill' | 'macPJDecode'): number {
  let j = 0;
  for (const [p, f] of w.flops) j += f * hw(q, p);
  return w.workFactor * j * 1e-12;
}

/** Lower bound of a phase's step at a clock scale of at most `sHi` (compute at most sHi x peak; DRAM,
 *  launches and the network do not scale with the clock): each operator takes at least
 *  max(c, d) + (1 - overlap) min(c, d) + a launch (runOps), summed over operators at least the same
 *  expression of the sums (sum of min <= min of sums); exposed collectives add their time, hidden
 *  ones make the pass at least theirs; the pipeline multiplies the stage pass by its factor (with the
 *  bubble: DevicePlan.pipelineFactor), the framework's step overhead is added once. */
function stageTime(p: StageParts, sHi: number, over: number): number {
  const c = p.c / sHi;
  const pass = Math.max(c, p.d) + (1 - p.overlap) * Math.min(c, p.d) + p.launch;
  return p.pf * (p.exposed + Math.max(pass, p.hidden)) + over;
}

/**
 * Clock-scale intervals [sLo, sHi] that cover every operating point evaluate() can settle at (one
 * scale s in [MIN_THROTTLE, 1] for the whole point). On an interval, times are at least those at sHi,
 * and the dies' voltage max(minVoltageRatio, s) at least that at sLo: dynamic energy (V^2) and leakage
 * (V) at least theirs at sLo. Below the lowest voltage floor the voltage no longer falls, so one
 * interval covers [MIN_THROTTLE, vLo]; above, `steps` equal ones. Objectives without energy are best
 * at the full clock: one interval.
 */
const FULL_CLOCK: [number, number][] = [[MIN_THROTTLE, 1]];
function clockIntervals(ctx: BoundContext, vLo: number, steps = 8): [number, number][] {
  if (!ctx.energyObjective) return FULL_CLOCK;
  let out = ctx.clocks.get(vLo);
  if (out) return out;
  const lo = Math.min(1, Math.max(MIN_THROTTLE, vLo));
  out = lo > MIN_THROTTLE ? [[MIN_THROTTLE, lo]] : [];
  for (let k = 0; k < steps && lo < 1; k++) out.push([lo + ((1 - lo) * k) / steps, lo + ((1 - lo) * (k + 1)) / steps]);
  ctx.clocks.set(vLo, out); // one per voltage floor of the space's dies: a handful
  return out;
}

/** The evaluated leakage may sit a little under the exact fixed point (evaluate() stops its
 *  leakage-temperature iteration at a 1e-6 K Newton step or a 1e-4 K Jacobi change, from below, and
 *  the floor's 8 iterations need not have gone as far): the heated leakage floor is taken 0.1% lower,
 *  far more than those tolerances move leakage (2^(1e-4 K / doubling) - 1 < 1e-5 for a doubling of
 *  at least 10 K), and far less than the lift it bounds. */
const LEAK_SAFETY = 0.999;
/** leastCycleEnergy stops once its lower bound is within this fraction of the least value it has
 *  seen (the bound stays a proven lower bound; this only caps what it gives away), or after
 *  CYCLE_STEPS cuts. */
const CYCLE_TOLERANCE = 1e-6;
const CYCLE_STEPS = 40;
/** Doublings of the bracket's right end in search of a non-negative slope (past 2^60 x the least
 *  cycle, the heat-blind bound is returned). */
const CYCLE_DOUBLINGS = 60;

/** One die's part of a device's cycle energy (leastCycleEnergy), per device: its leakage floor L (W,
 *  lowest voltage, static-only temperature floor), the heat exponent x (s: its dynamic energy per
 *  cycle x ln 2 x self rise / leakage doubling, so that over a cycle c its leakage is at least
 *  L e^(x/c)) and its dynamic energy per cycle K (J). */
interface DieTerm {
  L: number;
  x: number;
  K: number;
}

/**
 * A device's energy over a request cycle (J), at least: the minimum over cycle lengths c >= cLo of
 *   c x max(A, B + vf x sum_d L_d e^(x_d / c))  +  sum_d K_d
 * for its decode die d = dec and a separate prefill die d = pre, where A is the heat-blind floor (W:
 * board + DRAM static + leakage at the static-only temperature floor), B the board and DRAM static
 * floor (W) and vf the voltage factor of leakage (>= 1). Why (evaluate.ts operate()):
 *  - each die's duty is its busy time / the cycle (one die alternating both phases, or split dies
 *    pipelining batches: cycleOf), so it draws its dynamic energy of a cycle K spread over the whole
 *    cycle: dynamic power K / c. The decode DRAM's read energy scales as the decode die's: it is in
 *    the decode K;
 *  - the die's logic is at least self rise x its dynamic power (K / c, and its DRAM's read power)
 *    above the static-only floor temperature (unit responses superpose with non-negative rises; by
 *    induction over the floor's iterates each stays that much below the true fixed point), and
 *    leakage is L x vf x 2^(rise / doubling): the exponent x / c;
 *  - the true cycle is at least cLo and otherwise unknown: hence the minimum over c.
 * Every term is convex in c > 0 (c e^(x/c) is the perspective of an exponential), and so is the
 * max, so the minimum is bracketed (a non-positive subgradient at the left end, a non-negative one
 * at the right) and bounded below by the crossing of the two ends' tangents, which lie under the
 * function. The result is never below the heat-blind bound A cLo + sum K (every term is at least
 * that), which is returned if the arithmetic overflows.
 */
function leastCycleEnergy(cLo: number, A: number, B: number, vf: number, dec: DieTerm, pre: DieTerm): number {
  const phi = (c: number) => {
    const leak = B + vf * (dec.L * Math.exp(dec.x / c) + pre.L * Math.exp(pre.x / c));
    return c * Math.max(A, leak) + dec.K + pre.K;
  };
  const slope = (c: number) => {
    const ed = dec.L * Math.exp(dec.x / c);
    const ep = pre.L * Math.exp(pre.x / c);
    if (B + vf * (ed + ep) < A) return A;
    return B + vf * (ed * (1 - dec.x / c) + ep * (1 - pre.x / c));
  };
  const base = A * cLo + dec.K + pre.K;
  const s0 = slope(cLo);
  if (!(s0 < 0)) {
    const v = phi(cLo);
    return Number.isFinite(v) ? Math.max(base, v) : base;
  }
  let l = cLo;
  let fl = phi(l);
  let sl = s0;
  let r = 2 * cLo;
  let sr = slope(r);
  let k = 0;
  for (; k < CYCLE_DOUBLINGS && sr < 0; k++) {
    l = r;
    sl = sr;
    r *= 2;
    sr = slope(r);
  }
  if (k === CYCLE_DOUBLINGS) return base;
  if (k > 0) fl = phi(l);
  let fr = phi(r);
  // Cutting planes: the tangents at l (slope <= 0) and r (slope >= 0) lie under the convex function,
  // so its minimum on [l, r] (where it lies) is at least their crossing's height; cut at the crossing
  // (kept off the ends) until that lower bound is within the tolerance of the least value seen.
  let lower = -Infinity;
  for (let i = 0; i < CYCLE_STEPS; i++) {
    const x = sr - sl > 0 ? (fr - fl + sl * l - sr * r) / (sl - sr) : l;
    const xc = Math.min(Math.max(x, l), r);
    lower = Math.max(lower, fl + sl * (xc - l), fr + sr * (xc - r));
    const upper = Math.min(fl, fr);
    if (!(upper - lower > CYCLE_TOLERANCE * upper)) break;
    const m = Math.min(Math.max(x, l + 0.05 * (r - l)), r - 0.05 * (r - l));
    const sm = slope(m);
    const fm = phi(m);
    if (sm <= 0) {
      l = m;
      sl = sm;
      fl = fm;
    } else {
      r = m;
      sr = sm;
      fr = fm;
    }
  }
  return Number.isFinite(lower) ? Math.max(base, lower) : base;
}

/** Energy-objective candidates of a bound (one per device count, batch, plan and clock interval
 *  within the SLOs), CAND numbers each in a scratch array (the bound is not reentrant): a floor of the
 *  energy per token (pushCandidate), the tokens of a cycle, the device count, and leastCycleEnergy's
 *  inputs. */
const CAND = 13;
const C_FLOOR = 0, C_TOKENS = 1, C_D = 2, C_CYCLE = 3, C_A = 4, C_B = 5, C_VF = 6;
const C_L1 = 7, C_X1 = 8, C_K1 = 9, C_L2 = 10, C_X2 = 11, C_K2 = 12;
let candidates = new Float64Array(64 * CAND);
const scratchDec: DieTerm = { L: 0, x: 0, K: 0 };
const scratchPre: DieTerm = { L: 0, x: 0, K: 0 };

/** The heated energy per token of candidate i (leastCycleEnergy). */
function heatedPerToken(i: number): number {
  const c = candidates;
  const o = i * CAND;
  const dec = scratchDec;
  const pre = scratchPre;
  dec.L = c[o + C_L1]!; dec.x = c[o + C_X1]!; dec.K = c[o + C_K1]!;
  pre.L = c[o + C_L2]!; pre.x = c[o + C_X2]!; pre.K = c[o + C_K2]!;
  return (c[o + C_D]! * leastCycleEnergy(c[o + C_CYCLE]!, c[o + C_A]!, c[o + C_B]!, c[o + C_VF]!, dec, pre)) / c[o + C_TOKENS]!;
}

/** Adds a candidate at index n; returns n + 1. Its floor: leastCycleEnergy's function is
 *  c x max(A, B + vf sum L e^(x/c)) + sum K, where with e^y >= 1 + y the first term is at least both
 *  max(A, B + vf sum L) c and (B + vf sum L) c + vf sum L x, both increasing in c: at c = cLo. Cheap,
 *  and closer than the heat-blind energy. */
function pushCandidate(n: number, tokens: number, D: number, cycle: number, A: number, B: number, vf: number, dec: DieTerm, pre: DieTerm): number {
  if ((n + 1) * CAND > candidates.length) {
    const grown = new Float64Array(2 * candidates.length);
    grown.set(candidates);
    candidates = grown;
  }
  const c = candidates;
  const o = n * CAND;
  const hot = B + vf * (dec.L + pre.L);
  const floorJ = Math.max(Math.max(A, hot) * cycle, hot * cycle + vf * (dec.L * dec.x + pre.L * pre.x)) + dec.K + pre.K;
  c[o + C_FLOOR] = (D * floorJ) / tokens;
  c[o + C_TOKENS] = tokens; c[o + C_D] = D; c[o + C_CYCLE] = cycle; c[o + C_A] = A; c[o + C_B] = B; c[o + C_VF] = vf;
  c[o + C_L1] = dec.L; c[o + C_X1] = dec.x; c[o + C_K1] = dec.K;
  c[o + C_L2] = pre.L; c[o + C_X2] = pre.x; c[o + C_K2] = pre.K;
  return n + 1;
}

function boundFromFixed(ctx: BoundContext, fixed: (number | undefined)[], pin?: PointPin, plans = true, network?: readonly NetworkLevel[]): Bound | null {
  if (!ctx.enabled) return null;
  const m = ctx.model;
  const prec = narrowest(ctx, fixed);
  const precs = pin || !plans ? [] : precisionCombos(ctx, fixed);
  const W = weightBytesTotal(m, prec);
  const We = expertWeightBytes(m, prec);
  // Weights every decode step reads: all but the routed experts and the embedding table (a lookup
  // reads only its rows; a tied table is read whole by the LM head).
  const Wd = W - We - (m.tieWordEmbeddings ? 0 : m.vocabSize * m.hiddenSize * BYTES_PER_ELEMENT[prec.weights]);
  const kvPrompt = kvBytesPerSequence(m, prec, ctx.inputTokens);
  const kvTok = kvBytesPerToken(m, prec);
  const I = ctx.inputTokens;
  const O = ctx.outputTokens;
  // Exact FLOPs of one sequence (linear in the batch): a decode token at the shortest context the
  // generation reads (the prompt), and a whole prompt's prefill. Mappings only add FLOPs.
  const F = ctx.decodeFlopsPerToken;
  const Fpre = ctx.prefillFlopsPerPrompt;
  // Matrix units run at least as wide as the narrowest operands allowed: GEMMs at the wider of weights
  // and activations, attention at the wider of KV and activations (workload/operators.ts).
  const cpG = widerPrecision(prec.weights, prec.activations);
  const cpA = widerPrecision(prec.kvCache, prec.activations);
  const cp = BYTES_PER_ELEMENT[cpA] < BYTES_PER_ELEMENT[cpG] ? cpA : cpG;
  const hw = hardwareOf(ctx, fixed);
  const peakP = hw('peakPrefill', cp);
  const peakD = hw('peakDecode', cp);
  const bw = hw('bwDecode');
  const capD = hw('capDecode');
  const capP = hw('capPrefill');
  const pFloor = hw('powerFloor');
  const rdPJ = hw('readPJ');
  const flopPJP = hw('flopPJPrefill', cp);
  const flopPJD = hw('flopPJDecode', cp);
  // Voltage floors: the lowest any die reaches (dynamic energy), the highest (leakage above it).
  const vLo = hw('vMinLo');
  const vHi = hw('vMinHi');
  const leakW = hw('leakFloor');
  // The dies' own heat and duty (leastCycleEnergy): read only for energy objectives.
  const heat = ctx.energyObjective
    ? { rest: hw('restFloor'), leakDec: hw('leakDec'), leakPre: hw('leakPre'), kDec: hw('kDec'), kDramDec: hw('kDramDec'), kPre: hw('kPre'), shared: hw('shared') }
    : null;
  const clocks = clockIntervals(ctx, vLo);
  const over = hw('stepOverhead');
  const area = hw('area');
  // Separate prefill and decode chiplets (each holds the weights) in every system of the subspace: a
  // dim that can make one die run both leaves the lighter one-die capacity check.
  const split = hw('split') === 1;
  const allShared = hw('shared') === 1;
  // Copies of a role's chiplet share the batch (evaluate.ts copyBatch: each runs at least
  // ceil(batch / copies) sequences, holds the weights and its sequences' KV). With copies possible in
  // a subspace, its mapping frontier (timed at the whole batch) is left out: the mapping-free roofline
  // bounds each copy; a point's own plans are timed at its copies' batches.
  const nPre = hw('copiesPre');
  const nDec = hw('copiesDec');
  const nDecMin = hw('copiesDecMin');
  const copies = nPre > 1 || nDec > 1;
  const c = ctx.spec.constraints;
  const devs = pin ? [devicesOf(pin.mapping)] : ctx.devicesDim >= 0 ? (valuesOf(ctx, ctx.devicesDim, fixed) as number[]) : [1];
  const batches = ctx.batchDim >= 0 ? (valuesOf(ctx, ctx.batchDim, fixed) as number[]) : [1];
  const objs = ctx.spec.objectives;
  const ideal = objs.map(() => -Infinity);
  // Energy-objective candidates (pushCandidate), one per (D, B, plan, clock interval) within the SLOs:
  // a cheap floor of their energy per token and leastCycleEnergy's inputs.
  let nHeated = 0;
  let anyFits = false;
  let anySlo = false;
  // Whether some (D, B, mapping) was out of memory (else, with none fitting, the model refused every
  // mapping: 'mapping').
  let outOfMemory = false;
  for (const D of devs) {
    if (c.powerMaxW !== undefined && D * pFloor > c.powerMaxW) continue;
    if (c.areaMaxMm2 !== undefined && D * area > c.areaMaxMm2) continue;
    for (const B of batches) {
      // The least share of the batch a decode (bD) or prefill (bP) copy runs.
      const bD = Math.ceil(B / nDec);
      const bP = Math.ceil(B / nPre);
      // Capacity: weights over D devices plus a decode copy's KV at full context must fit.
      const kvFull = bD * (I + O) * kvTok;
      const fits = split ? (W + kvFull) / D <= capD && W / D <= capP : (W + kvFull) / D <= capD;
      if (!fits) {
        outOfMemory = true;
        continue;
      }
      // Distinct experts the step's B tokens touch (uniform routing maximises them for a given T,
      // and microbatches only touch more in total): over the batch (every copy's reads, for energy),
      // and over a decode copy's share (its own step).
      const act = m.moe ? uniformExpertLoad(B, m.moe.numExperts, m.moe.topK).activeExperts / m.moe.numExperts : 0;
      // Every decode copy streams the dense weights each step (its share of the experts: all copies
      // together touch at least act, as uniformExpertLoad is concave in the tokens).
      const bytes = nDecMin * Wd + We * act + B * kvPrompt;
      const actD = !m.moe ? 0 : bD === B ? act : uniformExpertLoad(bD, m.moe.numExperts, m.moe.topK).activeExperts / m.moe.numExperts;
      // The mapping-free roofline at the nominal clock: DRAM and compute parts (of one copy).
      const dD0 = (Wd + We * actD + bD * kvPrompt) / (D * bw);
      const cD0 = (bD * F) / (D * peakD);
      const cP0 = (bP * Fpre) / (D * peakP);
      // The mappings the subspace allows on D devices (the point's own, or the frontier of the free
      // mapping dim), each with its plan's roofline and per-device footprint as evaluate() computes
      // them; without plans, the mapping-free bound alone.
      let works: (WorkEntry | null)[] | null;
      if (pin) {
        // A point's copies are known: each side's plan at its busiest copy's batch.
        const bd = copyBatch(B, pin.mapping.dp, nDec);
        const bp = copyBatch(B, pin.mapping.dp, nPre);
        const wd = mappingWork(ctx, pin.precision, bd, pin.mapping);
        const wp = bp === bd ? wd : mappingWork(ctx, pin.precision, bp, pin.mapping);
        const w = wd && wp && (wp === wd ? wd : { ...wd, prefill: wp.prefill, kvPrefillBytes: wp.kvBytes });
        works = [w && entryOf(w, pin.network)];
      } else works = plans && !copies ? mappingEntries(ctx, fixed, precs, D, B, network) : null;
      const tokens = B * O;
      // Every device's compute energy over a cycle is at least its prefill's plus O decode steps' (the
      // duty weights of evaluate() never shrink them), and the devices together run at least the
      // model's FLOPs for the batch (mappings only add: pipeline bubbles, MoE imbalance): at nominal
      // voltage, scaled by V^2 below. Per phase, system-wide (J).
      const modelPreJ = B * Fpre * flopPJP * 1e-12;
      const modelDecJ = O * B * F * flopPJD * 1e-12;
      const readJ = O * bytes * rdPJ * 1e-12;
      for (const entry of works ?? [null]) {
        let pd: StageParts | null = null;
        let pp: StageParts | null = null;
        if (entry) {
          const mw = entry.w;
          const kvPre = ((mw.kvPrefillBytes ?? mw.kvBytes) * I) / (I + O);
          if (split ? mw.weightsBytes + mw.kvBytes > capD || mw.weightsBytes + kvPre > capP : mw.weightsBytes + mw.kvBytes > capD) {
            outOfMemory = true;
            continue;
          }
          pd = stageParts(hw, mw.decode, 'decode', entry.comm?.decode);
          pp = stageParts(hw, mw.prefill, 'prefill', entry.comm?.prefill);
        }
        // With a plan, a device's matrix FLOPs are known by precision (its shard, MoE busiest rank,
        // and the pipeline factor evaluate() scales a step's work by: finishStep), each at half a MAC
        // of its precision (opStatic); all D devices count as this one. The larger bound per phase.
        let preJ1 = modelPreJ;
        let decJ1 = modelDecJ;
        if (entry && ctx.energyObjective) {
          preJ1 = Math.max(preJ1, D * planFlopJ(hw, entry.w.prefill, 'macPJPrefill'));
          decJ1 = Math.max(decJ1, D * O * planFlopJ(hw, entry.w.decode, 'macPJDecode'));
        }
        anyFits = true;
        for (const [sLo, sHi] of clocks) {
          let tD = Math.max(dD0, cD0 / sHi) + over;
          let tP = cP0 / sHi + over;
          if (pd && pp) {
            tD = Math.max(tD, stageTime(pd, sHi, over));
            tP = Math.max(tP, stageTime(pp, sHi, over));
          }
          if ((c.tpotMaxS !== undefined && tD > c.tpotMaxS) || (c.ttftMaxS !== undefined && tP > c.ttftMaxS)) continue;
          anySlo = true;
          // The request cycle (evaluate.ts cycleOf): prefill then decode on one die; pipelined on split
          // dies, as long as the slower side. Unless every system of the subspace runs both phases on
          // one die, the pipelined one, the shorter, bounds it.
          const cycle = allShared ? tP + O * tD : Math.max(tP, O * tD);
          const T = tokens / cycle;
          const v = Math.max(vLo, sLo);
          // Leakage is linear in the voltage max(minVoltageRatio, s) >= its floor's minVoltageRatio x
          // max(1, sLo / vHi) (the floors are at each die's lowest voltage).
          const vf = Math.max(1, sLo / vHi);
          const floorW = pFloor + leakW * (vf - 1);
          const dynJ = (preJ1 + decJ1) * v * v;
          // The heat-blind energy; with `heat`, the energy objectives take the heated one after the
          // loops (heated below).
          const energy = D * floorW * cycle + readJ + dynJ;
          if (heat) {
            // Per device (evaluate() runs one device and counts it D times, so a device's share of a
            // system-wide energy is at least that / D): the decode die takes decode's FLOP energy
            // (and prefill's when one die runs both) and its DRAM's read energy heats it; a separate
            // prefill die takes prefill's. Each die draws its energy of a cycle over the whole cycle
            // (duty = its busy time / the cycle, shared or split): no duty offset.
            const ePre = preJ1 * v * v;
            const eDec = decJ1 * v * v;
            const dec = scratchDec;
            dec.L = heat.leakDec * LEAK_SAFETY;
            // A die heats with its own copy's share of its role's energy (at most 1 / copies of it).
            dec.x = (heat.kDec * (eDec + heat.shared * ePre) + heat.kDramDec * readJ) / (D * nDec);
            dec.K = (eDec + readJ) / D;
            const pre = scratchPre;
            pre.L = heat.leakPre * LEAK_SAFETY;
            pre.x = (heat.kPre * ePre) / (D * nPre);
            pre.K = ePre / D;
            nHeated = pushCandidate(nHeated, tokens, D, cycle, floorW, heat.rest, vf, dec, pre);
          }
          objs.forEach((o, i) => {
            if (heat && (o === 'throughput-per-watt' || o === 'energy-per-token')) return;
            let x: number;
            switch (o) {
              case 'throughput':
              case 'goodput':
                x = T;
                break;
              case 'throughput-per-watt':
                x = tokens / energy;
                break;
              case 'throughput-per-area':
                x = T / (D * area);
                break;
              case 'tpot':
                x = -tD;
                break;
              case 'ttft':
                x = -tP;
                break;
              case 'energy-per-token':
                x = -energy / tokens;
                break;
              case 'serving-throughput-per-watt':
                // The serving model counts every package's static and board power over the wall time
                // (serving/analytic.ts: energy per token >= packagesStaticW / (X x mean output), each
                // package's at least the floor pFloor), and serves at most the offered rate X <= the
                // workload's: tokens/s/W <= offered tokens/s / (D x pFloor).
                x = ctx.servingTokensPerS / (D * pFloor);
                break;
            }
            if (x > ideal[i]!) ideal[i] = x;
          });
        }
      }
    }
  }
  if (!anyFits) return { infeasible: c.powerMaxW !== undefined || c.areaMaxMm2 !== undefined ? 'bound' : outOfMemory ? 'memory' : 'mapping' };
  if (!anySlo) return { infeasible: 'slo' };
  if (heat) {
    // Both energy objectives are best at the least energy per token. The heated energy is never below
    // a candidate's cheap floor (pushCandidate), so a candidate whose floor is not below the least
    // heated energy found cannot win: the one with the least floor first, then the others that can.
    const cs = candidates;
    let first = 0;
    for (let i = 1; i < nHeated; i++) if (cs[i * CAND + C_FLOOR]! < cs[first * CAND + C_FLOOR]!) first = i;
    let least = heatedPerToken(first);
    for (let i = 0; i < nHeated; i++) if (i !== first && cs[i * CAND + C_FLOOR]! < least) least = Math.min(least, heatedPerToken(i));
    objs.forEach((o, i) => {
      if (o === 'throughput-per-watt') ideal[i] = 1 / least;
      else if (o === 'energy-per-token') ideal[i] = -least;
    });
  }
  // goodput is 0 for a point that misses an SLO: never above the throughput bound.
  return { ideal };
}

/** A mapping's work at a batch and precision, and on a known network its collectives' times. */
interface WorkEntry {
  w: MappingWork;
  comm?: PhaseComms;
}

function entryOf(w: MappingWork, net: readonly NetworkLevel[] | undefined): WorkEntry {
  return net ? { w, comm: { prefill: commTimes(w.prefill, net), decode: commTimes(w.decode, net) } } : { w };
}

/**
 * The mapping works a subspace allows on D devices at batch B, over its precision combinations: with
 * the mapping fixed, its plan at each precision (on the subspace's network when that is fixed, with
 * the collectives costed); with it free, the network-free frontier (frontierOf). Null when the bound
 * cannot use plans (no mapping or device dim, or a microbatch dim: the plan reads it).
 */
function mappingEntries(ctx: BoundContext, fixed: (number | undefined)[], precs: PrecisionSpec[], D: number, B: number, net?: readonly NetworkLevel[]): WorkEntry[] | null {
  const md = ctx.space.mappingDim;
  if (md < 0 || ctx.devicesDim < 0 || ctx.microbatchDim >= 0) return null;
  if (fixed[md] === undefined) return frontierOf(ctx, precs, D, B);
  const m = ctx.space.dims[md]!.values[fixed[md]!] as unknown as Mapping;
  if (devicesOf(m) !== D) return [];
  // Its plans at each precision the subspace allows, less those another one dominates (with their
  // collectives: the network is known here), kept per mapping, batch and precisions: the same for
  // every system of the run.
  const plans = plansOf(ctx, m);
  let bySkyline = ctx.skylines.get(plans);
  if (!bySkyline) ctx.skylines.set(plans, (bySkyline = new Map()));
  const key = `${B}|${precsKey(precs)}`;
  let works = bySkyline.get(key);
  if (!works) bySkyline.set(key, (works = skyline(worksOf(ctx, precs, B, [m]), true)));
  return works.map((w) => entryOf(w, net));
}

/** The bound of a subspace. `plans: false` leaves out the mapping-plan frontier (looser, but cheap
 *  on a device count not seen before: for ordering and pre-pruning at the coordinator). With the
 *  `network` every point of the subspace has (SystemCache.networkOf) and its mapping fixed, the
 *  plan's collectives are costed on it as in a point's bound. */
export function subspaceBound(ctx: BoundContext, sub: Subspace, opts: { plans?: boolean; network?: readonly NetworkLevel[] } = {}): Bound | null {
  const fixed: (number | undefined)[] = new Array(ctx.space.dims.length).fill(undefined);
  sub.idx.forEach((v, i) => (fixed[i] = v));
  return boundFromFixed(ctx, fixed, undefined, opts.plans ?? true, opts.network);
}

/** The inputs of a point that its plan reads: the mapping as evaluate() gets it and the precision. */
export interface PointPin {
  mapping: Mapping;
  precision: PrecisionSpec;
  /** The point's network levels (its system's `network`): collectives then enter the bound. */
  network?: readonly NetworkLevel[];
}

/** Dynamic powers of one device's dies (W): of the die that decodes (its logic: all of its dynamic
 *  power, both phases' when one die runs both; its DRAM) and of a separate prefill die's logic. */
export interface DiePowers {
  decodeLogicW: number;
  decodeDramW: number;
  prefillLogicW: number;
}

/**
 * The floor under a device's static and board power (W) that leastCycleEnergy builds on, at one
 * point (all dims fixed) running at clock scale s with dies drawing at least `p`: board power + DRAM
 * static + each die's leakage floor x vf x 2^(self rise x its dynamic power / doubling), i.e.
 * B + vf (L_dec e^(x_dec / (c - o_dec)) + L_pre e^(x_pre / (c - o_pre))) with the powers
 * x / (c - o) / k made explicit. For the property test: it is at most the static + board power
 * evaluate() reports with the point's own dynamic powers.
 */
export function heatedStaticFloorW(ctx: BoundContext, idx: ArrayLike<number>, s: number, p: DiePowers): number {
  const hw = hardwareOf(ctx, Array.from(idx));
  const vf = Math.max(1, s / hw('vMinHi'));
  const dec = hw('leakDec') * Math.exp(hw('kDec') * p.decodeLogicW + hw('kDramDec') * p.decodeDramW);
  const pre = hw('leakPre') * Math.exp(hw('kPre') * p.prefillLogicW);
  return hw('restFloor') + vf * LEAK_SAFETY * (dec + pre);
}

/** The bound of a single point (all dims fixed). With `pin` (the point's mapping and precision as
 *  evaluate() reads them) it also uses the roofline of the mapping's own plan and the point's precision
 *  and network; without, the plans of the point's mapping dim value. Memoised per point without a pin
 *  (a search bounds each pinned point once). */
export function pointBound(ctx: BoundContext, idx: ArrayLike<number>, pin?: PointPin): Bound | null {
  if (pin) return boundFromFixed(ctx, Array.from(idx as ArrayLike<number>), pin);
  // Every dim: with the mapping fixed, the bound costs that mapping's plans.
  let key = '';
  for (let i = 0; i < idx.length; i++) key += idx[i] + ',';
  let b = ctx.pointCache.get(key);
  if (b === undefined) {
    b = boundFromFixed(ctx, Array.from(idx as ArrayLike<number>));
    if (ctx.pointCache.size > 100_000) ctx.pointCache.clear();
    ctx.pointCache.set(key, b);
  }
  return b;
}
