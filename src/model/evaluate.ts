// evaluate(design) -> metrics: the single entry point of the performance model (DESIGN 1, 2).
// Pure and deterministic: workers, tests and benchmarks all get the same numbers from here.
import { dieArea, gemmShape, gemmTime, matrixPrecision, type AreaReport, type ComputeUnit, type GemmShape } from './compute.js';
import type { Chiplet, ComputeDie, MemorySpec, SystemSpec } from './hardware/schema.js';
import {
  capacityBytes,
  effectiveBandwidth,
  readEnergyPJPerByte,
  staticMemoryPowerW,
  writeEnergyPJPerByte,
  type BandwidthBreakdown,
} from './memory.js';
import { factorNetwork, solveFlat, type ThermalColumn, type ThermalNetwork } from './thermal.js';
import { BYTES_PER_ELEMENT, type Bound, type ModelArch, type Operator, type Phase, type PrecisionSpec } from './types.js';
import { buildOperators, kvBytesPerToken } from './workload/index.js';
import { collectiveCost, overlapTile, spanOf, type CollectiveCost, type NetworkLevel } from './network.js';
import { checkMapping, devicesOf, footprintPerDevice, isContextOp, planContextOps, planDevice, SINGLE, type CommSpec, type DevicePlan, type Mapping } from './parallel.js';
import { ConfigError } from './errors.js';
import { RecentCache } from './recent.js';
import { primeShape } from './shape.js';

import { MODEL_VERSION } from './types.js';
export { MODEL_VERSION };

export interface EvalInput {
  system: SystemSpec;
  model: ModelArch;
  precision: PrecisionSpec;
  batch: number;
  inputTokens: number;
  outputTokens: number;
  /** Context samples used to average decode over the generation (>= 1). */
  decodeSamples?: number;
  /** Prefill token budget of a step per DP replica (vLLM's max_num_batched_tokens): the batch's
   *  prompts are prefilled in steps of at most this many tokens, whole prompts while one fits and
   *  chunks of a prompt (reading the KV of its earlier chunks) when it does not. Each step reads the
   *  weights again; a step's activations, not the whole batch's, take memory. Default: the whole
   *  batch in one step. */
  chunkTokens?: number;
  /** Parallel mapping over the system's devices (default: one device). */
  mapping?: Mapping;
  /** false: leave out the per-operator breakdowns (prefill/decode `breakdown`) and the per-layer
   *  thermal rows (`thermal.layers`); every other figure is the same. The search's inner loop scores
   *  points on the aggregates and asks for the detail only for the designs it keeps. Default true. */
  detail?: boolean;
}

export interface OpResult {
  name: string;
  /** 'overhead': the framework's per-step time (software.stepOverheadUs), one row per step. */
  kind: Operator['kind'] | 'collective' | 'overhead';
  /** Collectives: the algorithm chosen and the time hidden under the overlapped GEMM. */
  algorithm?: string;
  hiddenS?: number;
  waves: number;
  count: number;
  /** Time of all `count` instances, including kernel launches (s). */
  timeS: number;
  bound: Bound;
  computeS: number;
  /** DRAM time (bytes / effective bandwidth) and SRAM-to-matrix-unit time, s. */
  memoryS: number;
  sramS: number;
  networkS: number;
  overheadS: number;
  flops: number;
  dramBytes: number;
  energyJ: number;
  /** Useful MACs / issued MAC slots (GEMM shape and wave quantisation), 1 for non-GEMM ops. */
  utilisation: number;
}

export interface PhaseResult {
  stepTimeS: number;
  systemTokensPerS: number;
  userTokensPerS: number;
  flops: number;
  dramBytes: number;
  /** Time share per bound, s (sums to stepTimeS). */
  timeByBoundS: Record<Bound, number>;
  energyJ: { computeJ: number; sramJ: number; dramJ: number; networkJ: number; staticJ: number; otherJ: number; totalJ: number };
  powerW: number;
  /** Per operator, on one chiplet of the phase's role: with copies of it (a chiplet's count), the
   *  busiest copy's share (flops, dramBytes and energyJ above count every copy). */
  breakdown: OpResult[];
}

export interface EvalResult {
  modelVersion: string;
  system: string;
  model: string;
  precision: PrecisionSpec;
  batch: number;
  inputTokens: number;
  outputTokens: number;
  feasible: boolean;
  infeasibleReasons: string[];
  prefill: PhaseResult;
  decode: PhaseResult & { contextFrom: number; contextTo: number; samples: number };
  memory: {
    footprintBytes: number;
    capacityBytes: number;
    fits: boolean;
    weightsBytes: number;
    kvCacheBytes: number;
    activationBytes: number;
    reserveBytes: number;
    bandwidth: { prefill: BandwidthBreakdown; decode: BandwidthBreakdown };
  };
  /** Per device (package); systemPowerW multiplies by the devices of the mapping. */
  power: {
    /** Time-weighted over one request cycle (cycleOf: prefill + all decode steps, or on split chiplets
     *  the longer of the two). */
    averageW: number;
    prefillW: number;
    decodeW: number;
    tdpW: number;
    computeW: number;
    dramW: number;
    networkW: number;
    staticW: number;
    otherW: number;
  };
  thermal: {
    /** Every layer, column by column bottom to top, each column ending with its TIM ('tim'); then
     *  column 'package': the lid ('lid') and the heat-sink base ('sink-base'). Empty when detail is false. */
    layers: { column: string; layer: string; tempC: number; powerW: number }[];
    lidC: number;
    maxLogicC: number;
    maxDramC: number;
    logicLimitC: number;
    dramLimitC: number;
    dramExtendedLimitC: number;
    refreshDoubled: boolean;
    /** Leakage-temperature feedback diverged: the temperatures shown are not a steady state. */
    runaway: boolean;
    /** Clock scale applied (1 = no throttling). */
    throttleFactor: number;
    /** The limit that sets the clock: at a throttled point the one closest to (at) its bound there,
     *  at an infeasible one the one broken; 'none' when the nominal clock meets every limit. */
    limitedBy: 'none' | 'tdp' | 'logic-temperature' | 'dram-temperature';
  };
  area: { chiplet: string; report: AreaReport }[];
  /** The design's figures of merit: null when it is infeasible (infeasibleReasons says why). The
   *  phase figures above stay, as a diagnosis of what the design would do were it feasible. */
  energyPerTokenJ: number | null;
  tokensPerSPerW: number | null;
  devices: number;
  systemPowerW: number;
  throughputTokensPerS: number | null;
}

interface Role {
  /** The chiplet serving this phase. */
  chiplet: Chiplet;
  unit: ComputeUnit;
  mem: MemorySpec;
  stacks: number;
  bw: BandwidthBreakdown;
  /** The chiplet's memory figures at this refresh rate (DRAM energies per byte, static power). */
  memory: ChipletMemory;
}

/** The chiplet that runs a phase: its own role if the package splits phases, else the 'any' one. */
function roleFor(system: SystemSpec, phase: Phase): Chiplet {
  const cs = system.package.chiplets;
  for (let i = 0; i < cs.length; i++) if (cs[i]!.role === phase) return cs[i]!;
  for (let i = 0; i < cs.length; i++) if (cs[i]!.role === 'any') return cs[i]!;
  return undefined!;
}

/** A chiplet's memory figures at one refresh rate: bandwidth, DRAM read and write energies (pJ per
 *  byte) at its bytes per activation, and background and refresh power. */
interface ChipletMemory {
  bw: BandwidthBreakdown;
  rdPJ: number;
  wrPJ: number;
  staticW: { backgroundW: number; refreshW: number };
  /** The role last made of the chiplet at this refresh rate (makeRole: read only), at its clock scale. */
  role: Role | null;
}
/** chipletMemory's figures, normal and doubled refresh, cached per chiplet object (the last few:
 *  recent.ts). Shared: callers that hand the bandwidth out copy it. */
const bandwidthCache = new RecentCache<Chiplet, [ChipletMemory | null, ChipletMemory | null]>(8);
function chipletMemory(c: Chiplet, refreshDoubled: boolean): ChipletMemory {
  let e = bandwidthCache.get(c);
  if (!e) bandwidthCache.set(c, (e = [null, null]));
  const i = refreshDoubled ? 1 : 0;
  let m = e[i];
  if (m === null) {
    // Kept as copyBandwidth makes it (tagged fields): the copies in results share its boxed numbers.
    const bw = copyBandwidth(effectiveBandwidth(c.memory, c.memory.stacks, c.compute.memoryInflightKB * 1024, c.compute.fabricLatencyNs, refreshDoubled));
    m = e[i] = {
      bw,
      rdPJ: readEnergyPJPerByte(c.memory, bw.bytesPerActivation),
      wrPJ: writeEnergyPJPerByte(c.memory, bw.bytesPerActivation),
      staticW: staticMemoryPowerW(c.memory, c.memory.stacks, refreshDoubled),
      role: null,
    };
  }
  return m;
}

/** A bandwidth breakdown, built by one literal in its field order. */
function mkBandwidth(
  peakGBps: number,
  columnGBps: number,
  bankGBps: number,
  activationWindowGBps: number,
  stackActivationGBps: number,
  verticalGBps: number,
  phyGBps: number,
  bufferingGBps: number,
  refreshLossFraction: number,
  effectiveGBps: number,
  limiter: BandwidthBreakdown['limiter'],
  accessLatencyNs: number,
  bytesPerActivation: number,
): BandwidthBreakdown {
  return {
    peakGBps,
    columnGBps,
    bankGBps,
    activationWindowGBps,
    stackActivationGBps,
    verticalGBps,
    phyGBps,
    bufferingGBps,
    refreshLossFraction,
    effectiveGBps,
    limiter,
    accessLatencyNs,
    bytesPerActivation,
  };
}
primeShape(mkBandwidth); // tagged fields: a copy shares the boxed numbers of what it copies

/** A copy of a (cached) bandwidth breakdown for a result, field by field in its order (a spread of
 *  the cached object took V8's slow path). */
function copyBandwidth(b: BandwidthBreakdown): BandwidthBreakdown {
  return mkBandwidth(
    b.peakGBps,
    b.columnGBps,
    b.bankGBps,
    b.activationWindowGBps,
    b.stackActivationGBps,
    b.verticalGBps,
    b.phyGBps,
    b.bufferingGBps,
    b.refreshLossFraction,
    b.effectiveGBps,
    b.limiter,
    b.accessLatencyNs,
    b.bytesPerActivation,
  );
}

/** The role of a chiplet at a clock scale and refresh rate. Roles are read only: the last one made
 *  per chiplet and refresh rate is kept and handed out again at the same clock scale (the prefill
 *  and decode roles of a shared chiplet, and every evaluation at the nominal clock). */
function makeRole(c: Chiplet, freqScale: number, refreshDoubled: boolean): Role {
  const m = chipletMemory(c, refreshDoubled);
  const last = m.role;
  if (last !== null && last.unit.freqScale === freqScale) return last;
  const unit: ComputeUnit = { die: c.compute, dies: 1, freqScale };
  return (m.role = { chiplet: c, unit, mem: c.memory, stacks: c.memory.stacks, bw: m.bw, memory: m });
}

/** Voltage relative to nominal at clock scale s: V tracks f down to the floor (DVFS). */
function voltageRatio(die: ComputeDie, s: number): number {
  return Math.max(die.minVoltageRatio, s);
}

interface PhaseRaw {
  stepTimeS: number;
  flops: number;
  dramBytes: number;
  timeByBoundS: Record<Bound, number>;
  computeJ: number;
  sramJ: number;
  dramJ: number;
  networkJ: number;
  /** Per-operator breakdown: filled only when asked for (detail), the aggregates always. */
  ops: OpResult[];
}

/** What an operator costs on a die independently of the operating point (clock scale, DRAM
 *  bandwidth and refresh): tiling, traffic, and energies before the voltage factor. A list of
 *  operators keeps these in one flat array, STATIC_FIELDS numbers per operator (opStatics): no
 *  object, nor a boxed number per field, per operator (the search builds a prefill plan and its
 *  statics at every point).
 *  Fields: matrix operator (1: GEMM or attention, 0: vector), attention (1/0); GEMM cycles (waves x
 *  cycles per item) and SRAM-to-matrix-unit bytes; FLOPs of the tiled GEMM shape; DRAM bytes of one
 *  instance and the part of them written; waves and utilisation; MAC (or vector FLOP) energy and
 *  SRAM energy of one instance at nominal voltage, J. */
const S_MAT = 0, S_ATTN = 1, S_CYCLES = 2, S_SRAM = 3, S_SHAPE_FLOPS = 4, S_DRAM = 5, S_WRITE = 6, S_WAVES = 7, S_UTIL = 8, S_MAC_J = 9, S_SRAM_J = 10;
const STATIC_FIELDS = 11;
type OpStatics = Float64Array;

/** The GEMM shape of the operator being worked out (gemmShape fills it in place: no allocation). */
const shapeScratch: GemmShape = { cycles: 0.5, sramTraffic: 0.5, dramBytes: 0.5, waves: 0.5, utilisation: 0.5, splitK: 0.5 };

/** Writes the statics of `op` at row `i` of `st`. */
function opStatic(st: OpStatics, i: number, op: Operator, die: ComputeDie, actB: number, wB: number, kvB: number): void {
  const o = i * STATIC_FIELDS;
  if (op.kind === 'gemm' || op.kind === 'attention') {
    const isAttn = op.kind === 'attention';
    const g = gemmShape(die, 1, op.m, op.n, op.k, op.groups, op.computePrecision, actB, isAttn ? kvB : wB, actB, !isAttn, shapeScratch);
    // Attention: QK^T and AV over the (causal) key range; the op's exact FLOPs scale the tiled
    // time of its score-GEMM shape. Flash-style: the scores stay on chip, so DRAM sees Q in,
    // the output out, and the KV cache read and appended.
    const opDram = isAttn ? op.activationBytes + op.kvReadBytes + op.kvWriteBytes : g.dramBytes;
    const writeBytes = isAttn ? op.activationBytes / 2 + op.kvWriteBytes : op.m * op.n * op.groups * actB;
    const q = matrixPrecision(die, op.computePrecision);
    st[o + S_MAT] = 1;
    st[o + S_ATTN] = isAttn ? 1 : 0;
    st[o + S_CYCLES] = g.cycles;
    st[o + S_SRAM] = g.sramTraffic;
    st[o + S_SHAPE_FLOPS] = 2 * op.m * op.n * op.k * op.groups;
    st[o + S_DRAM] = opDram;
    st[o + S_WRITE] = Math.min(writeBytes, opDram);
    st[o + S_WAVES] = g.waves;
    st[o + S_UTIL] = g.utilisation;
    st[o + S_MAC_J] = (op.flops / 2) * die.energyPJPerMac[q]! * 1e-12;
    st[o + S_SRAM_J] = g.sramTraffic * die.sramEnergyPJPerByte * 1e-12;
    return;
  }
  const bytes = op.weightBytes + op.activationBytes + op.kvReadBytes + op.kvWriteBytes;
  st[o + S_MAT] = 0;
  st[o + S_ATTN] = 0;
  st[o + S_CYCLES] = 0;
  st[o + S_SRAM] = 0;
  st[o + S_SHAPE_FLOPS] = 0;
  st[o + S_DRAM] = bytes;
  st[o + S_WRITE] = Math.min(op.kvWriteBytes + op.activationBytes / 2, bytes);
  st[o + S_WAVES] = 1;
  st[o + S_UTIL] = 1;
  st[o + S_MAC_J] = op.flops * die.vectorEnergyPJPerFlop * 1e-12;
  st[o + S_SRAM_J] = 0;
}

/** The statics of a list of operators: in a new array, or in `into` (a scratch: see Scratch). */
function opStatics(ops: readonly Operator[], die: ComputeDie, prec: PrecisionSpec, into?: Scratch): OpStatics {
  const actB = BYTES_PER_ELEMENT[prec.activations];
  const wB = BYTES_PER_ELEMENT[prec.weights];
  const kvB = BYTES_PER_ELEMENT[prec.kvCache];
  const n = ops.length * STATIC_FIELDS;
  const st = into ? into.get(n) : new Float64Array(n);
  for (let i = 0; i < ops.length; i++) opStatic(st, i, ops[i]!, die, actB, wB, kvB);
  return st;
}

/** One operator's result from runOps (one literal for all, so they share one shape). */
function mkOpResult(
  name: string,
  kind: Operator['kind'],
  count: number,
  timeS: number,
  bound: Bound,
  computeS: number,
  memoryS: number,
  sramS: number,
  overheadS: number,
  flops: number,
  dramBytes: number,
  energyJ: number,
  utilisation: number,
  waves: number,
): OpResult {
  return { name, kind, count, timeS, bound, computeS, memoryS, sramS, networkS: 0, overheadS, flops, dramBytes, energyJ, utilisation, waves };
}
primeShape(mkOpResult); // tagged numeric fields from the start (shape.ts)

/** A collective's result (addComms), in its own field order. */
function mkCommResult(name: string, algorithm: string, count: number, timeS: number, networkS: number, hiddenS: number, energyJ: number): OpResult {
  return {
    name, kind: 'collective', algorithm, count, timeS, bound: 'network', computeS: 0, memoryS: 0, sramS: 0, networkS, hiddenS,
    overheadS: 0, flops: 0, dramBytes: 0, energyJ, utilisation: 1, waves: 1,
  };
}
primeShape(mkCommResult);

/** A copy of an operator's or a collective's result of a decode step's context-free part (fixedPart:
 *  made by mkOpResult or mkCommResult, never an overhead row), by the function that made it, so the
 *  copy has the same fields in the same order and shares the original's boxed numbers (primeShape). */
function copyOpResult(o: OpResult): OpResult {
  if (o.kind === 'collective') return mkCommResult(o.name, o.algorithm!, o.count, o.timeS, o.networkS, o.hiddenS!, o.energyJ);
  return mkOpResult(o.name, o.kind as Operator['kind'], o.count, o.timeS, o.bound, o.computeS, o.memoryS, o.sramS, o.overheadS, o.flops, o.dramBytes, o.energyJ, o.utilisation, o.waves);
}

/**
 * Times a list of operators at the role's operating point. `st` holds their operating-point-free
 * figures (opStatics). `times`, if given, receives each operator's time (all instances). Per-operator
 * results are built only when `detail` is set; the aggregates are the same either way. The result
 * is a new PhaseRaw, or `into` overwritten.
 */
function runOps(
  ops: readonly Operator[],
  st: OpStatics,
  role: Role,
  sw: SystemSpec['package']['software'],
  withStepOverhead: boolean,
  detail: boolean,
  times?: Float64Array,
  into?: PhaseRaw,
): PhaseRaw {
  const u = role.unit;
  const die = u.die;
  const bwBps = role.bw.effectiveGBps * 1e9;
  const attnBps = bwBps * sw.attentionBandwidthEfficiency;
  const v = voltageRatio(die, u.freqScale);
  const v2 = v * v;
  const rdPJ = role.memory.rdPJ;
  const wrPJ = role.memory.wrPJ;
  const launchS = sw.kernelLaunchUs * 1e-6;
  const fillS = 2 * (role.bw.accessLatencyNs * 1e-9);
  const f = die.frequencyGHz * 1e9 * u.freqScale;
  const sramRate = die.sramBandwidthBytesPerCyclePerCore * (die.cores * u.dies) * f;
  const vecRate = die.vectorFlopsPerCyclePerCore * die.cores * u.dies * die.frequencyGHz * 1e9 * u.freqScale;
  const noOverlap = 1 - sw.computeMemoryOverlap;
  const out: OpResult[] = [];
  let tbCompute = 0, tbMemory = 0, tbOverhead = 0;
  let step = 0, flops = 0, dram = 0, computeJ = 0, sramJ = 0, dramJ = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const o = i * STATIC_FIELDS;
    let t: number, computeS: number, memoryS: number, sramS = 0, bound: Bound;
    const opDram = st[o + S_DRAM]!;
    if (st[o + S_MAT] === 1) {
      const attn = st[o + S_ATTN] === 1;
      const shapeFlops = st[o + S_SHAPE_FLOPS]!;
      const gComputeS = st[o + S_CYCLES]! / f;
      computeS = attn && shapeFlops > 0 ? (gComputeS * op.flops) / shapeFlops : gComputeS;
      sramS = st[o + S_SRAM]! / sramRate;
      memoryS = opDram / (attn ? attnBps : bwBps);
      const dataS = Math.max(sramS, memoryS);
      t = Math.max(computeS, dataS) + noOverlap * Math.min(computeS, dataS) + fillS;
      bound = computeS >= dataS ? 'compute' : 'memory';
    } else {
      computeS = op.flops / vecRate;
      memoryS = opDram / bwBps;
      t = Math.max(computeS, memoryS);
      bound = memoryS >= computeS ? 'memory' : 'compute';
    }
    const macJ = st[o + S_MAC_J]! * v2;
    const overheadS = launchS;
    if (overheadS > t) bound = 'overhead';
    const one = t + overheadS;
    const writeBytes = st[o + S_WRITE]!;
    const eDram = ((opDram - writeBytes) * rdPJ + writeBytes * wrPJ) * 1e-12;
    const eSram = st[o + S_SRAM_J]! * v2;
    const n = op.count;
    if (times) times[i] = one * n;
    if (detail)
      out.push(
        mkOpResult(
          op.name,
          op.kind,
          n,
          one * n,
          bound,
          computeS * n,
          memoryS * n,
          sramS * n,
          overheadS * n,
          op.flops * n,
          opDram * n,
          (macJ + eSram + eDram) * n,
          st[o + S_UTIL]!,
          st[o + S_WAVES]!,
        ),
      );
    step += one * n;
    // Time by bound: an op's own time goes to its bound, its launch gap to overhead.
    if (bound === 'overhead') tbOverhead += one * n;
    else {
      if (bound === 'compute') tbCompute += t * n;
      else tbMemory += t * n;
      tbOverhead += overheadS * n;
    }
    flops += op.flops * n;
    dram += opDram * n;
    computeJ += macJ * n;
    sramJ += eSram * n;
    dramJ += eDram * n;
  }
  const stepOverheadS = withStepOverhead ? sw.stepOverheadUs * 1e-6 : 0;
  step += stepOverheadS;
  tbOverhead += stepOverheadS;
  if (into) {
    into.stepTimeS = step; into.flops = flops; into.dramBytes = dram;
    const t = into.timeByBoundS;
    t.compute = tbCompute; t.memory = tbMemory; t.network = 0; t.overhead = tbOverhead;
    into.computeJ = computeJ; into.sramJ = sramJ; into.dramJ = dramJ; into.networkJ = 0; into.ops = out;
    return into;
  }
  const tb: Record<Bound, number> = { compute: tbCompute, memory: tbMemory, network: 0, overhead: tbOverhead };
  return { stepTimeS: step, flops, dramBytes: dram, timeByBoundS: tb, computeJ, sramJ, dramJ, networkJ: 0, ops: out };
}

/** A plan made ready to run on one die: operator statics, the decode split into context-free and
 *  context-dependent operators, and the collectives' costs on one network. Kept with the plan in the
 *  plan cache (one die at a time), so a plan met again on the same die skips all of it. */
interface PlanRun {
  die: ComputeDie;
  scratch: Scratch | null;
  st: OpStatics | null;
  /** Decode: which operators depend on the context (attention, KV reads), and the others. */
  isCtx: boolean[] | null;
  fixedOps: Operator[] | null;
  fixedSt: OpStatics | null;
  /** The context-free part timed at the last operating point asked for (fixedPart): [0] without,
   *  [1] with tile overlap of the collectives. */
  fixedAt: ({
    bw: BandwidthBreakdown;
    s: number;
    sw: SystemSpec['package']['software'];
    levels: readonly NetworkLevel[];
    detailed: boolean;
    raw: PhaseRaw;
  } | null)[];
  levels: readonly NetworkLevel[] | null;
  costs: CollectiveCost[] | null;
}
interface PlanEntry {
  plan: DevicePlan;
  run: PlanRun | null;
}
/** The run of a plan on a die (made anew when the die changes). `scratch`: where its statics go, for
 *  the one run at a time that is kept (lastPrefill), else in an array of their own. */
function planRun(e: { run: PlanRun | null }, die: ComputeDie, scratch: Scratch | null = null): PlanRun {
  let r = e.run;
  if (r === null || r.die !== die) e.run = r = { die, scratch, st: null, isCtx: null, fixedOps: null, fixedSt: null, fixedAt: [null, null], levels: null, costs: null };
  return r;
}

function allStatics(run: PlanRun, plan: DevicePlan, prec: PrecisionSpec): OpStatics {
  return (run.st ??= opStatics(plan.ops, run.die, prec, run.scratch ?? undefined));
}

function commCosts(run: PlanRun, comms: readonly CommSpec[], levels: readonly NetworkLevel[]): CollectiveCost[] {
  if (run.costs === null || run.levels !== levels) {
    const costs: CollectiveCost[] = new Array(comms.length);
    for (let i = 0; i < comms.length; i++) {
      const c = comms[i]!;
      // A plan repeats a collective (TP's all-reduce after attention and after the FFN: same kind,
      // bytes and group): costed once.
      let j = 0;
      while (j < i && !(comms[j]!.kind === c.kind && comms[j]!.bytes === c.bytes && comms[j]!.groupSize === c.groupSize && comms[j]!.stride === c.stride)) j++;
      costs[i] = j < i ? costs[j]! : collectiveCost(c.kind, c.bytes, spanCached(c.groupSize, c.stride, levels), levels);
    }
    run.costs = costs;
    run.levels = levels;
  }
  return run.costs;
}

/**
 * The context-free part of a decode step (its operators and collectives) at a role's operating
 * point. It depends on the batch's plan and the operating point only, so the plan's run keeps it for
 * the last operating point it was timed at: the search's inner loop meets a batch again at the same
 * point (nominal clock and refresh) with other contexts. Its per-operator results (when `detail`)
 * are kept with it; callers copy them into a result.
 */
function fixedPart(
  run: PlanRun,
  plan: DevicePlan,
  prec: PrecisionSpec,
  role: Role,
  sw: SystemSpec['package']['software'],
  levels: readonly NetworkLevel[],
  overlap: boolean,
  detail: boolean,
): PhaseRaw {
  // One slot per overlap setting: mappings that differ only in it share their plans.
  const slot = overlap ? 1 : 0;
  const f = run.fixedAt[slot]!;
  // The bandwidth breakdown stands for the chiplet and refresh (cached per chiplet: chipletMemory).
  const s = role.unit.freqScale;
  if (f !== null && f.bw === role.bw && f.s === s && f.sw === sw && f.levels === levels && (f.detailed || !detail)) return f.raw;
  const fixedOps = run.fixedOps!;
  const fixedSt = (run.fixedSt ??= opStatics(fixedOps, run.die, prec));
  const times = scratchTimes(fixedOps.length);
  const raw = runOps(fixedOps, fixedSt, role, sw, false, detail, times);
  addComms(raw, plan.comms, commCosts(run, plan.comms, levels), fixedOps, fixedSt, times, overlap, detail);
  run.fixedAt[slot] = { bw: role.bw, s, sw, levels, detailed: detail, raw };
  return raw;
}

/**
 * Decode averaged over `samples` context points spread over [input, input+output) (midpoint rule:
 * exact where a step is affine in the context). Only attention depends on the context in decode, so
 * the other operators are timed once and the attention operators once per sample. The context-free
 * part (operators, collectives, pipeline) comes from a plan memoised per batch; the context-dependent
 * operators are built for each sample.
 */
function runDecode(input: EvalInput, role: Role, detail: boolean): PhaseRaw & { samples: number } {
  // Two midpoint samples: exact where the step is affine in the context; against 64 samples the
  // worst error measured over dense, MoE and MLA models, batch 1-256, lengths 100-8000 was 0.1%.
  const samples = Math.max(1, Math.min(input.decodeSamples ?? 2, input.outputTokens));
  const sw = input.system.package.software;
  const m = input.mapping ?? SINGLE;
  const die = role.unit.die;
  const prec = input.precision;
  // The context-free operators do not depend on the context: one plan per batch serves them all.
  const baseEntry = planOf(input, 'decode', 1, 0);
  const base = baseEntry.plan;
  const ops0 = base.ops;
  const run0 = planRun(baseEntry, die);
  if (run0.isCtx === null) {
    const isCtx = ops0.map(isContextOp);
    const fixedOps: Operator[] = [];
    for (let i = 0; i < ops0.length; i++) if (!isCtx[i]) fixedOps.push(ops0[i]!);
    run0.isCtx = isCtx;
    run0.fixedOps = fixedOps;
  }
  const isCtx = run0.isCtx;
  const fixedOps = run0.fixedOps!;
  const fixed = fixedPart(run0, base, prec, role, sw, levelsOf(input), m.overlap ?? true, detail);
  const w = 1 / samples;
  // Accumulate the context-dependent operators over the samples.
  let att: PhaseRaw | null = null;
  for (let j = 0; j < samples; j++) {
    const ctx = input.inputTokens + Math.floor(((j + 0.5) * input.outputTokens) / samples);
    const ctxOps = planContextOps(input.model, prec, 'decode', input.batch, 1, ctx, m);
    // The first sample becomes the accumulator (a scratch too: the merged result below copies its
    // figures, and its per-operator results are its own); the others are added to it from a scratch.
    const r = runOps(ctxOps, opStatics(ctxOps, die, prec, sampleStatics), role, sw, false, detail, undefined, att === null ? sampleAcc : sampleRaw);
    if (att === null) {
      att = r;
      scaleRaw(att, w);
    } else addRaw(att, r, w);
  }
  const a = att!;
  // Merge back in the operators' original order.
  const ops: OpResult[] = detail ? new Array<OpResult>(ops0.length + fixed.ops.length - fixedOps.length) : [];
  if (detail) {
    let fi = 0;
    let ai = 0;
    let k = 0;
    // The context-free results are the run's own (fixedPart): the result gets copies.
    for (let i = 0; i < ops0.length; i++) ops[k++] = isCtx[i] ? a.ops[ai++]! : copyOpResult(fixed.ops[fi++]!);
    while (fi < fixed.ops.length) ops[k++] = copyOpResult(fixed.ops[fi++]!); // the collectives
  }
  const ftb = fixed.timeByBoundS;
  const atb = a.timeByBoundS;
  const tb: Record<Bound, number> = {
    compute: ftb.compute + atb.compute,
    memory: ftb.memory + atb.memory,
    network: ftb.network + atb.network,
    overhead: ftb.overhead + atb.overhead,
  };
  const merged: PhaseRaw & { samples: number } = {
    stepTimeS: fixed.stepTimeS + a.stepTimeS,
    flops: fixed.flops + a.flops,
    dramBytes: fixed.dramBytes + a.dramBytes,
    timeByBoundS: tb,
    computeJ: fixed.computeJ + a.computeJ,
    sramJ: fixed.sramJ + a.sramJ,
    dramJ: fixed.dramJ + a.dramJ,
    networkJ: fixed.networkJ + a.networkJ,
    ops,
    samples,
  };
  finishStep(merged, base, sw);
  return merged;
}

/**
 * Adds a plan's collectives to a stage's raw times: each is costed on the network for its group's
 * span (`costs`, in the order of `comms`); a TP collective overlaps its GEMM tile by tile when the
 * mapping allows (`ops` and `times`: the stage's operators and their times, from runOps).
 */
function addComms(
  raw: PhaseRaw,
  comms: readonly CommSpec[],
  costs: readonly CollectiveCost[],
  ops: readonly Operator[],
  st: OpStatics,
  times: Float64Array,
  overlap: boolean,
  detail: boolean,
): void {
  for (let ci = 0; ci < comms.length; ci++) {
    const c = comms[ci]!;
    const cost = costs[ci]!;
    let exposed = cost.timeS;
    let hidden = 0;
    let gi = -1;
    if (c.overlapWith)
      for (let i = 0; i < ops.length; i++)
        if (ops[i]!.name === c.overlapWith) {
          gi = i;
          break;
        }
    if (gi >= 0 && overlap && ops[gi]!.count > 0) {
      const per = times[gi]! / ops[gi]!.count;
      const ov = overlapTile(per, cost.timeS, st[gi * STATIC_FIELDS + S_WAVES]!, true);
      exposed = ov.totalS - per;
      hidden = cost.timeS - exposed;
    }
    const energyJ = (cost.energyJ / c.groupSize) * c.count;
    if (detail)
      raw.ops.push(mkCommResult(c.name, cost.algorithm, c.count, exposed * c.count, cost.timeS * c.count, hidden * c.count, energyJ));
    raw.stepTimeS += exposed * c.count;
    raw.timeByBoundS.network += exposed * c.count;
    raw.networkJ += energyJ;
  }
}

/** Pipeline: a step is a microbatch's stage time x the plan's pipeline factor (with its bubble), and
 *  each device does its stage's work for every microbatch; then the framework's step time (a row of
 *  its own in the breakdown, when there is one: the rows add up to the step). */
function finishStep(raw: PhaseRaw, plan: Pick<DevicePlan, 'pipelineFactor' | 'microbatches'>, sw: SystemSpec['package']['software']): PhaseRaw {
  scaleRaw(raw, plan.pipelineFactor, plan.microbatches);
  const over = sw.stepOverheadUs * 1e-6;
  raw.stepTimeS += over;
  raw.timeByBoundS.overhead += over;
  if (raw.ops.length > 0) raw.ops.push(mkOverheadResult(over));
  return raw;
}

/** The framework's per-step time as a breakdown row (scheduling, sampling, launches outside the
 *  operators: software.stepOverheadUs). */
function mkOverheadResult(timeS: number): OpResult {
  return {
    name: 'framework.step', kind: 'overhead', count: 1, timeS, bound: 'overhead', computeS: 0, memoryS: 0, sramS: 0, networkS: 0,
    overheadS: timeS, flops: 0, dramBytes: 0, energyJ: 0, utilisation: 1, waves: 1,
  };
}

const NO_LEVELS: NetworkLevel[] = [];

/** spanOf for a collective's group on a network, kept per network object (the last few): a plan's
 *  collectives are costed at every point, a prefill plan's anew each time (their bytes differ), and
 *  their groups are few. Only spans worked out are kept: a group that does not fit throws again. */
const spanCache = new RecentCache<readonly NetworkLevel[], Map<number, number[]>>(4);
function spanCached(groupSize: number, stride: number, levels: readonly NetworkLevel[]): number[] {
  let byGroup = spanCache.get(levels);
  if (!byGroup) spanCache.set(levels, (byGroup = new Map()));
  const key = groupSize * 1048576 + stride;
  let span = byGroup.get(key);
  if (span === undefined) {
    span = spanOf(groupSize, stride, levels);
    if (Number.isInteger(groupSize) && Number.isInteger(stride) && groupSize < 1048576 && stride < 1048576 && byGroup.size < 1024) byGroup.set(key, span);
  }
  return span;
}
function levelsOf(input: EvalInput): NetworkLevel[] {
  return (input.system.network ?? NO_LEVELS) as NetworkLevel[];
}

/** Plans (per-device operators and collectives) depend on the model, precision, shape and mapping,
 *  never on the hardware or the operating point: they are memoised per model (the last few model
 *  objects, recent.ts; bounded), so throttling steps and a search that revisits the same batch and
 *  mapping on other hardware reuse them.
 *  Keyed by the precision and mapping values (as a string, memoised per pair of objects), then by
 *  batch, new tokens and context as numbers. */
interface PlanCache {
  size: number;
  /** Per precision+mapping key: plans by phase, batch, new tokens and context (shapeKey). */
  byConfig: Map<string, Map<number | string, PlanEntry>>;
  /** Whether a plan enters at its second request (prefill) or at once (decode). */
  doorkeeper: boolean;
  /** The doorkeeper's table: (numeric) shapes requested recently and not cached, with their config
   *  keys, one per slot. Made at the second uncached shape (lastMiss holds the first), so a model
   *  met once (a cold evaluation) never pays for it. */
  seenShape: number[] | null;
  seenConfig: (string | null)[] | null;
  /** The last plan built and not cached: the next request for its shape (the same evaluate()'s
   *  refresh re-run or throttling steps) takes it instead of building it again. */
  lastMiss: { config: string; shape: number | string; entry: PlanEntry } | null;
}
/** Per model: decode plans (one per batch: the context-free part) and prefill plans (one per batch
 *  and prompt length). Prefill plans are many and seldom met again, so they get a small cache: a
 *  large one would keep thousands of plans alive for the GC to copy. A prefill plan is cached only
 *  when it is requested a second time while its shape is still in the doorkeeper (a direct-mapped
 *  table of recent shapes): a search that revisits a (batch, prompt) on other hardware caches it on
 *  the second visit, while a stream of new shapes (a loop over batch and prompt length) does not
 *  keep each plan alive long enough to be promoted to the old generation and then dropped
 *  (measured: a third of the time of such a loop). */
const planCache = new RecentCache<ModelArch, { decode: PlanCache; prefill: PlanCache }>(8);
const PLAN_CACHE_LIMIT = { decode: 8192, prefill: 256 } as const;
/** Slots of the prefill doorkeeper: a prime near the prefill cache's size (doorSlot; a shape that
 *  collides with a newer one is forgotten, which only delays its caching). */
const DOORKEEPER_SIZE = 257;
/** A numeric shape key's doorkeeper slot: the key (an integer < 2^53) folded to 32 bits, modulo the
 *  table size, in integer arithmetic (a modulo of the double itself is a library call). */
function doorSlot(shape: number): number {
  const hi = Math.floor(shape / 4294967296);
  return (((shape - hi * 4294967296) ^ hi) >>> 0) % DOORKEEPER_SIZE;
}
function newPlanCache(doorkeeper: boolean): PlanCache {
  return { size: 0, byConfig: new Map(), doorkeeper, seenShape: null, seenConfig: null, lastMiss: null };
}
/** Whether a plan not in the cache should enter it: always without a doorkeeper (and for string
 *  shape keys), else when its shape was requested recently (the last miss, or found in the table). */
function admit(c: PlanCache, config: string, shape: number | string): boolean {
  if (!c.doorkeeper || typeof shape !== 'number') return true;
  const last = c.lastMiss;
  if (last !== null && last.shape === shape && last.config === config) return true;
  let seen = c.seenShape;
  let seenConfig = c.seenConfig;
  if (seen === null || seenConfig === null) {
    if (last === null) return false; // the first miss: lastMiss remembers it
    seen = c.seenShape = new Array<number>(DOORKEEPER_SIZE).fill(-1);
    seenConfig = c.seenConfig = new Array<string | null>(DOORKEEPER_SIZE).fill(null);
    if (typeof last.shape === 'number') {
      seen[doorSlot(last.shape)] = last.shape;
      seenConfig[doorSlot(last.shape)] = last.config;
    }
  }
  const i = doorSlot(shape);
  if (seen[i] === shape && seenConfig[i] === config) {
    seen[i] = -1;
    seenConfig[i] = null;
    return true;
  }
  seen[i] = shape;
  seenConfig[i] = config;
  return false;
}
/** One number for the shape when it fits 53 bits exactly (batch < 2^12, tokens and context < 2^20),
 *  else a string. */
function shapeKey(phase: Phase, batch: number, newTokens: number, contextBefore: number): number | string {
  if (batch < 4096 && newTokens < 1048576 && contextBefore < 1048576 && Number.isInteger(batch) && Number.isInteger(newTokens) && Number.isInteger(contextBefore) && batch >= 0 && newTokens >= 0 && contextBefore >= 0)
    return ((batch * 1048576 + newTokens) * 1048576 + contextBefore) * 2 + (phase === 'decode' ? 1 : 0);
  return `${phase}|${batch}|${newTokens}|${contextBefore}`;
}
const configKeys = new RecentCache<Mapping, RecentCache<PrecisionSpec, string>>(16);
function configKey(mp: Mapping, pr: PrecisionSpec): string {
  let byPrec = configKeys.get(mp);
  if (!byPrec) configKeys.set(mp, (byPrec = new RecentCache(8)));
  let k = byPrec.get(pr);
  if (k === undefined) {
    k = `${pr.weights}|${pr.activations}|${pr.kvCache}|${mp.tp}|${mp.pp}|${mp.dp}|${mp.sp}|${mp.ep}|${mp.microbatches ?? ''}|${mp.routingSkew ?? ''}|${mp.expertPlacement ?? ''}|${mp.expertLoads ? mp.expertLoads.join(',') : ''}`;
    byPrec.set(pr, k);
  }
  return k;
}
/** The plan caches of a (model, mapping, precision) triple of objects, with the configuration's key
 *  and its shape maps per phase (null until asked for, and after the phase's cache is cleared). */
interface ConfigMemo {
  model: ModelArch;
  mapping: Mapping;
  precision: PrecisionSpec;
  key: string;
  caches: { decode: PlanCache; prefill: PlanCache };
  prefill: Map<number | string, PlanEntry> | null;
  decode: Map<number | string, PlanEntry> | null;
}
/** The last few triples planOf was asked for (round robin): the search's inner loop asks for one
 *  design, or a few mappings of it, over and over, and skips the lookups by model and key. They only
 *  refer to caches still in planCache (purged when a model is added). */
const configMemos: (ConfigMemo | null)[] = new Array<ConfigMemo | null>(8).fill(null);
let nextMemo = 0;
function configMemo(model: ModelArch, mp: Mapping, pr: PrecisionSpec): ConfigMemo {
  for (let i = 0; i < configMemos.length; i++) {
    const m = configMemos[i]!;
    if (m !== null && m.model === model && m.mapping === mp && m.precision === pr) return m;
  }
  let caches = planCache.get(model);
  if (!caches) {
    planCache.set(model, (caches = { decode: newPlanCache(false), prefill: newPlanCache(true) }));
    // The model that made room keeps no caches alive through the memos.
    for (let i = 0; i < configMemos.length; i++) {
      const m = configMemos[i]!;
      if (m !== null && planCache.get(m.model) !== m.caches) configMemos[i] = null;
    }
  }
  const m: ConfigMemo = { model, mapping: mp, precision: pr, key: configKey(mp, pr), caches, prefill: null, decode: null };
  configMemos[nextMemo] = m;
  nextMemo = (nextMemo + 1) % configMemos.length;
  return m;
}
function planOf(input: EvalInput, phase: Phase, newTokens: number, contextBefore: number): PlanEntry {
  const mp = input.mapping ?? SINGLE;
  const pr = input.precision;
  const lc = configMemo(input.model, mp, pr);
  const cs = lc.caches;
  const c = phase === 'prefill' ? cs.prefill : cs.decode;
  const key = lc.key;
  let byShape = phase === 'prefill' ? lc.prefill : lc.decode;
  if (byShape === null) {
    let forKey = c.byConfig.get(key);
    if (!forKey) c.byConfig.set(key, (forKey = new Map()));
    byShape = forKey;
    if (phase === 'prefill') lc.prefill = byShape;
    else lc.decode = byShape;
  }
  const sk = shapeKey(phase, input.batch, newTokens, contextBefore);
  let p = byShape.get(sk);
  if (!p) {
    const last = c.lastMiss;
    if (last !== null && last.shape === sk && last.config === key) p = last.entry;
    else p = { plan: planDevice(input.model, pr, phase, input.batch, newTokens, contextBefore, mp), run: null };
    if (!admit(c, key, sk)) {
      c.lastMiss = { config: key, shape: sk, entry: p };
      return p;
    }
    if (c.size >= PLAN_CACHE_LIMIT[phase]) {
      c.byConfig.clear();
      c.size = 0;
      // The memos' maps of this cache are no longer in it.
      for (let i = 0; i < configMemos.length; i++) {
        const m = configMemos[i]!;
        if (m === null || m.caches !== cs) continue;
        if (phase === 'prefill') m.prefill = null;
        else m.decode = null;
      }
      return p;
    }
    byShape.set(sk, p);
    c.size++;
  }
  return p;
}

/** A number array reused from call to call, grown as needed: for figures read right after they are
 *  written (evaluate is not reentrant). Small typed arrays are costly to make (measured: making the
 *  statics of each prefill plan in an array of its own took more time than working them out). */
class Scratch {
  private buf: Float64Array;
  constructor(n: number) {
    this.buf = new Float64Array(n);
  }
  get(n: number): Float64Array {
    if (this.buf.length < n) this.buf = new Float64Array(2 * n);
    return this.buf;
  }
}
/** runOps' per-operator times (read by addComms right after). */
const timesScratch = new Scratch(64);
function scratchTimes(n: number): Float64Array {
  return timesScratch.get(n);
}
/** Statics of the last prefill plan (lastPrefill) and of the decode context operators of a sample. */
const prefillStatics = new Scratch(32 * STATIC_FIELDS);
const sampleStatics = new Scratch(8 * STATIC_FIELDS);
/** A decode sample's aggregates, added to the first sample's (sampleAcc) right after (runDecode). */
const sampleRaw: PhaseRaw = {
  stepTimeS: 0.5, flops: 0.5, dramBytes: 0.5, timeByBoundS: { compute: 0.5, memory: 0.5, network: 0.5, overhead: 0.5 },
  computeJ: 0.5, sramJ: 0.5, dramJ: 0.5, networkJ: 0.5, ops: [],
};
const sampleAcc: PhaseRaw = {
  stepTimeS: 0.5, flops: 0.5, dramBytes: 0.5, timeByBoundS: { compute: 0.5, memory: 0.5, network: 0.5, overhead: 0.5 },
  computeJ: 0.5, sramJ: 0.5, dramJ: 0.5, networkJ: 0.5, ops: [],
};

const lastPrefill: { plan: DevicePlan | null; run: PlanRun | null } = { plan: null, run: null };
function runPrefill(input: EvalInput, role: Role, detail: boolean, newTokens = input.inputTokens, contextBefore = 0): PhaseRaw {
  const m = input.mapping ?? SINGLE;
  const entry = planOf(input, 'prefill', newTokens, contextBefore);
  const plan = entry.plan;
  // A prefill plan rarely meets the same die again outside one evaluate() (its throttling steps), so
  // its statics are kept for the last plan only instead of in the plan cache (less for the GC to keep).
  if (lastPrefill.plan !== plan) {
    lastPrefill.plan = plan;
    lastPrefill.run = null;
  }
  const run = planRun(lastPrefill, role.unit.die, prefillStatics);
  const st = allStatics(run, plan, input.precision);
  const times = scratchTimes(plan.ops.length);
  const raw = runOps(plan.ops, st, role, input.system.package.software, false, detail, times);
  addComms(raw, plan.comms, commCosts(run, plan.comms, levelsOf(input)), plan.ops, st, times, m.overlap ?? true, detail);
  return finishStep(raw, plan, input.system.package.software);
}

/** Scales an operator's times by w and work by wWork; its utilisation, a ratio, stays. */
function scaleOp(o: OpResult, w: number, wWork = w): void {
  o.timeS *= w; o.computeS *= w; o.memoryS *= w; o.sramS *= w; o.networkS *= w; o.overheadS *= w;
  if (o.hiddenS !== undefined) o.hiddenS *= w;
  o.flops *= wWork; o.dramBytes *= wWork; o.energyJ *= wWork;
}

/** Adds w x o to a; the utilisation becomes the mean of the two over their times. */
function addOp(a: OpResult, o: OpResult, w: number): void {
  const ta = a.timeS;
  const to = o.timeS * w;
  if (ta + to > 0) a.utilisation = (a.utilisation * ta + o.utilisation * to) / (ta + to);
  if (a.hiddenS !== undefined) a.hiddenS += (o.hiddenS ?? 0) * w;
  a.timeS += o.timeS * w; a.computeS += o.computeS * w; a.memoryS += o.memoryS * w; a.sramS += o.sramS * w;
  a.networkS += o.networkS * w; a.overheadS += o.overheadS * w; a.flops += o.flops * w;
  a.dramBytes += o.dramBytes * w; a.energyJ += o.energyJ * w;
}

/** Scales times by w and work (FLOPs, bytes, energy) by wWork (default w); utilisations stay. */
function scaleRaw(r: PhaseRaw, w: number, wWork = w): void {
  if (w === 1 && wWork === 1) return; // x * 1 === x: nothing to do (one pipeline stage, one sample)
  r.stepTimeS *= w; r.flops *= wWork; r.dramBytes *= wWork; r.computeJ *= wWork; r.sramJ *= wWork; r.dramJ *= wWork; r.networkJ *= wWork;
  const tb = r.timeByBoundS;
  tb.compute *= w; tb.memory *= w; tb.network *= w; tb.overhead *= w;
  for (const o of r.ops) scaleOp(o, w, wWork);
}

function addRaw(a: PhaseRaw, r: PhaseRaw, w: number): void {
  a.stepTimeS += r.stepTimeS * w; a.flops += r.flops * w; a.dramBytes += r.dramBytes * w;
  a.computeJ += r.computeJ * w; a.sramJ += r.sramJ * w; a.dramJ += r.dramJ * w; a.networkJ += r.networkJ * w;
  const ta = a.timeByBoundS;
  const tr = r.timeByBoundS;
  ta.compute += tr.compute * w; ta.memory += tr.memory * w; ta.network += tr.network * w; ta.overhead += tr.overhead * w;
  for (let i = 0; i < r.ops.length; i++) addOp(a.ops[i]!, r.ops[i]!, w);
}

/** Static (leakage) power of the dies of a role at temperature T and clock scale s. */
function leakageW(die: ComputeDie, dies: number, tempC: number, s: number): number {
  // Leakage grows exponentially with temperature (doubling every leakageDoublingC) and roughly
  // linearly with supply voltage (first-order DIBL neglected).
  return dies * die.staticPowerW * voltageRatio(die, s) * 2 ** ((tempC - die.referenceTempC) / die.leakageDoublingC);
}

interface Operating {
  /** Clock scale and refresh of this operating point. */
  s: number;
  refreshDoubled: boolean;
  /** Whether prefill/decode carry their per-operator breakdown. */
  detailed: boolean;
  prefillRole: Role;
  decodeRole: Role;
  prefill: PhaseRaw;
  decode: PhaseRaw & { samples: number };
  /** Thermal sources per chiplet: logic die (dynamic + leakage) and DRAM dies, W. */
  logicSrcW: number[];
  dramSrcW: number[];
  logicLeakW: number;
  dramStaticW: number;
  prefillPowerW: number;
  decodePowerW: number;
  averagePowerW: number;
  maxLogicC: number;
  maxDramC: number;
  split: { computeW: number; dramW: number; networkW: number; staticW: number; otherW: number };
  runaway: boolean;
}

const thermalScratch = [new Scratch(4), new Scratch(4), new Scratch(4), new Scratch(4)];

/** Length of a request cycle (s) of a batch: its prefill (tPreS) and its decode steps (tDecS). One
 *  chiplet running both phases runs them one after the other. Split prefill and decode chiplets
 *  pipeline batches (LaMoSys3.5D): in the steady state the prefill chiplet prefills the next batch
 *  (holding its prompt KV until the move over the interposer, which tPreS includes) while the decode
 *  chiplet decodes this one, so a cycle lasts as long as the slower side. */
export function cycleOf(shared: boolean, tPreS: number, tDecS: number): number {
  return shared ? tPreS + tDecS : Math.max(tPreS, tDecS);
}

/** Copies of a role's chiplet in the package (the schema expands a chiplet's count into entries). */
export function copiesOf(system: SystemSpec, phase: Phase): number {
  const role = roleFor(system, phase).role;
  let n = 0;
  for (const c of system.package.chiplets) if (c.role === role) n++;
  return n;
}

/** The batch the busiest of n copies of a role runs: each of the mapping's dp replicas shares its
 *  batch / dp sequences among the copies, the busiest taking ceil(batch / (dp n)) (times dp: the
 *  model's batch counts every replica). */
export function copyBatch(batch: number, dp: number, n: number): number {
  return n === 1 ? batch : dp * Math.ceil(batch / (dp * n));
}

/** The input one copy of a role runs (copyBatch). */
export function copyInput(input: EvalInput, n: number): EvalInput {
  return n === 1 ? input : { ...input, batch: copyBatch(input.batch, input.mapping?.dp ?? 1, n) };
}

/** How a replica's prefill of `prompts` prompts of `tokens` tokens runs under a token budget per
 *  step (EvalInput.chunkTokens): `steps` steps of `seqs` whole prompts and one of `lastSeqs`
 *  (0: none), or, when a prompt is over budget, each prompt in `chunks` chunks: all but the last of
 *  `chunkTokens` tokens, at their mean cached context `meanContext` (attention's work is linear in
 *  it; rounded up), and a last one of `lastTokens` at context tokens - lastTokens. */
export interface PrefillSteps {
  steps: number;
  seqs: number;
  lastSeqs: number;
  chunks: number;
  chunkTokens: number;
  meanContext: number;
  lastTokens: number;
}

export function prefillSteps(prompts: number, tokens: number, budget: number | undefined): PrefillSteps {
  const none = { chunks: 1, chunkTokens: tokens, meanContext: 0, lastTokens: tokens };
  if (budget === undefined || budget >= prompts * tokens) return { steps: 1, seqs: prompts, lastSeqs: 0, ...none };
  if (budget >= tokens) {
    const seqs = Math.floor(budget / tokens);
    const steps = Math.floor(prompts / seqs);
    return { steps, seqs, lastSeqs: prompts - steps * seqs, ...none };
  }
  const chunks = Math.ceil(tokens / budget);
  const lastTokens = tokens - (chunks - 1) * budget;
  return { steps: prompts, seqs: 1, lastSeqs: 0, chunks, chunkTokens: budget, meanContext: Math.ceil(((chunks - 2) * budget) / 2), lastTokens };
}

/** The prefill of a role's batch in steps (prefillSteps): each kind of step's plan run, times its
 *  count (an operator's utilisation in the breakdown: the mean over the steps' time, addRaw). */
function runPrefillSteps(input: EvalInput, role: Role, detail: boolean): PhaseRaw {
  const dp = input.mapping?.dp ?? 1;
  const I = input.inputTokens;
  const p = prefillSteps(input.batch / dp, I, input.chunkTokens);
  if (p.steps === 1 && p.lastSeqs === 0 && p.chunks === 1) return runPrefill(input, role, detail);
  const at = (seqs: number) => (seqs * dp === input.batch ? input : { ...input, batch: seqs * dp });
  if (p.chunks === 1) {
    const raw = runPrefill(at(p.seqs), role, detail);
    scaleRaw(raw, p.steps);
    if (p.lastSeqs > 0) addRaw(raw, runPrefill(at(p.lastSeqs), role, detail), 1);
    return raw;
  }
  const one = at(1);
  const raw = runPrefill(one, role, detail, p.chunkTokens, p.meanContext);
  scaleRaw(raw, p.steps * (p.chunks - 1));
  addRaw(raw, runPrefill(one, role, detail, p.lastTokens, I - p.lastTokens), p.steps);
  return raw;
}

/** Performance + power + thermal at clock scale s, with refresh normal or doubled. */
function operate(input: EvalInput, s: number, refreshDoubled: boolean, detail: boolean): Operating {
  const sys = input.system;
  const pkg = sys.package;
  const pre = makeRole(roleFor(sys, 'prefill'), s, refreshDoubled);
  const dec = makeRole(roleFor(sys, 'decode'), s, refreshDoubled);
  // A role with several copies runs data-parallel: every copy runs the busiest copy's share at once,
  // so the phase's step is that copy's; the package's dynamic power counts every copy.
  const nPre = copiesOf(sys, 'prefill');
  const nDec = copiesOf(sys, 'decode');
  const preInput = copyInput(input, nPre);
  const prefill = runPrefillSteps(preInput, pre, detail);
  const decode = runDecode(copyInput(input, nDec), dec, detail);
  const shared = pre.chiplet === dec.chiplet;
  // Each prefill copy moves its sequences' KV over its own die-to-die link.
  if (!shared) addKvTransfer(prefill, preInput, pkg.interposer!, detail);

  // Time shares of a request cycle: prefill of the batch, then outputTokens decode steps.
  const tPre = prefill.stepTimeS;
  const tDec = decode.stepTimeS * input.outputTokens;
  const dynPre = (prefill.computeJ + prefill.sramJ) / tPre;
  const dynDec = (decode.computeJ + decode.sramJ) / decode.stepTimeS;
  const dramPre = prefill.dramJ / tPre;
  const dramDec = decode.dramJ / decode.stepTimeS;
  // Network energy (the phase's collectives; on split chiplets also the KV move over the interposer)
  // is dissipated in the logic die of the chiplet that runs the phase (its link PHYs).
  const netPre = prefill.networkJ / tPre;
  const netDec = decode.networkJ / decode.stepTimeS;
  // Duty of each role over the request cycle (cycleOf): one chiplet running both phases alternates
  // them; split chiplets pipeline, the prefill chiplet prefilling the next batch while the decode
  // chiplet decodes this one, so each is busy its own phase's time of a cycle as long as the longer.
  const cycle = cycleOf(shared, tPre, tDec);
  const wPre = tPre / cycle;
  const wDec = tDec / cycle;

  // The thermal network is linear: every temperature is ambient plus the sum of each source's power
  // times its unit response (solved once per package and cached). The sources are each chiplet's
  // logic die and its DRAM dies (power spread evenly over them); the leakage-temperature fixed point
  // then iterates on the leakage scalars alone.
  const pr = unitResponses(pkg);
  const resp = pr.units;
  const chiplets = pkg.chiplets;
  const nC = chiplets.length;
  // Per chiplet: its logic die's dynamic power, the base and current temperature of the fixed point
  // and its leakage (scratch arrays: read within this call), and the DRAM sources (kept).
  const dynW = thermalScratch[0]!.get(nC);
  const baseLogic = thermalScratch[1]!.get(nC);
  const logicT = thermalScratch[2]!.get(nC);
  const leak = thermalScratch[3]!.get(nC);
  const dramSrcW = new Array<number>(nC);
  let dramStaticW = 0;
  for (let i = 0; i < nC; i++) {
    const c = chiplets[i]!;
    const isPre = pre.chiplet.role === c.role;
    const isDec = dec.chiplet.role === c.role;
    const logicDynW = (isPre ? wPre * (dynPre + netPre) : 0) + (isDec ? wDec * (dynDec + netDec) : 0);
    const dramDynW = (isPre ? wPre * dramPre : 0) + (isDec ? wDec * dramDec : 0);
    const ms = chipletMemory(c, refreshDoubled).staticW;
    dramStaticW += ms.backgroundW + ms.refreshW;
    dynW[i] = logicDynW;
    dramSrcW[i] = dramDynW + ms.backgroundW + ms.refreshW;
  }
  const ambientC = pkg.thermal.ambientC;
  for (let i = 0; i < nC; i++) {
    let t = ambientC;
    for (let d = 0; d < nC; d++) t += dynW[d]! * resp[d]!.logicRise[i]! + dramSrcW[d]! * resp[d]!.dramLogicRise[i]!;
    baseLogic[i] = t;
  }
  for (let i = 0; i < nC; i++) {
    leak[i] = 0;
    logicT[i] = baseLogic[i]!;
  }
  let runaway = true;
  if (nC === 1) {
    // One chiplet (the common case): t = base + rise x leakage(t) by Newton's method. f(t) = t - base -
    // rise x leakage(t) is concave (leakage grows exponentially with t) and negative at t = base, so
    // the iterates rise monotonically to its lowest root, the temperature the fixed-point iteration
    // below converges to, in 3-4 steps where that takes 6-10. No root (f' <= 0 before one is
    // reached) or a root above 400 C: the iteration below decides and reports it as before.
    const die = chiplets[0]!.compute;
    const rise = resp[0]!.logicRise[0]!;
    const perC = Math.LN2 / die.leakageDoublingC; // d leakage / dT = leakage x ln 2 / doubling
    const base = baseLogic[0]!;
    let t = base;
    for (let it = 0; it < 50; it++) {
      const l = leakageW(die, 1, t, s);
      const fp = 1 - rise * l * perC;
      if (!(fp > 0)) break;
      const step = (base + rise * l - t) / fp;
      t += step;
      if (!(t < 400)) break;
      if (Math.abs(step) < 1e-6) {
        leak[0] = l;
        logicT[0] = t;
        runaway = false;
        break;
      }
    }
  }
  for (let it = 0; runaway && it < 200; it++) {
    let delta = 0;
    for (let i = 0; i < nC; i++) leak[i] = leakageW(chiplets[i]!.compute, 1, logicT[i]!, s);
    let hot = false;
    for (let i = 0; i < nC; i++) {
      let t = baseLogic[i]!;
      for (let d = 0; d < nC; d++) t += leak[d]! * resp[d]!.logicRise[i]!;
      delta = Math.max(delta, Math.abs(t - logicT[i]!));
      logicT[i] = t;
      if (!(t < 400)) hot = true;
    }
    if (hot) break;
    if (delta < 1e-4) {
      runaway = false;
      break;
    }
  }
  let leakW = 0;
  for (let i = 0; i < nC; i++) leakW += leak[i]!;
  const logicSrcW = new Array<number>(nC);
  for (let d = 0; d < nC; d++) logicSrcW[d] = dynW[d]! + leak[d]!;
  // Hottest logic and DRAM layers: the superposition of the unit responses, on those layers only.
  let maxLogicC = -Infinity;
  let maxDramC = -Infinity;
  const kinds = pr.kinds;
  for (let li = 0; li < kinds.length; li++) {
    const kind = kinds[li]!;
    if (kind === 0) continue;
    let t = ambientC;
    for (let d = 0; d < nC; d++) {
      t += logicSrcW[d]! * resp[d]!.logicFlat[li]!;
      t += dramSrcW[d]! * resp[d]!.dramFlat[li]!;
    }
    if (kind === 1) maxLogicC = Math.max(maxLogicC, t);
    else maxDramC = Math.max(maxDramC, t);
  }

  const otherW = pkg.power.otherPowerW;
  const staticW = leakW + dramStaticW;
  // Package figures: every copy of a role draws that role's power (one chiplet running both phases:
  // nPre = nDec = its copies).
  const computeW = nPre * wPre * dynPre + nDec * wDec * dynDec;
  const dramW = nPre * wPre * dramPre + nDec * wDec * dramDec;
  // Phase power: what the package draws while that phase runs (power wall is checked on these).
  const idleOther = shared ? 0 : 1;
  const networkW = nPre * wPre * netPre + nDec * wDec * netDec;
  const prePhaseW = nPre * (dynPre + dramPre + netPre);
  const decPhaseW = nDec * (dynDec + dramDec + netDec);
  const prefillPowerW = prePhaseW + staticW + otherW + idleOther * decPhaseW;
  const decodePowerW = decPhaseW + staticW + otherW + idleOther * wPre * prePhaseW;
  return {
    s,
    refreshDoubled,
    detailed: detail,
    prefillRole: pre,
    decodeRole: dec,
    prefill,
    decode,
    logicSrcW,
    dramSrcW,
    logicLeakW: leakW,
    dramStaticW,
    prefillPowerW,
    decodePowerW,
    averagePowerW: computeW + dramW + networkW + staticW + otherW,
    maxLogicC,
    maxDramC,
    split: { computeW, dramW, networkW, staticW, otherW },
    runaway,
  };
}

/** Every layer's temperature and power at an operating point (when `withLayers`), and the lid: the
 *  superposition of the unit responses, straight into the reported rows. The rows run column by
 *  column, bottom to top, each column ending with its TIM; then the package's lid and the heat-sink
 *  base (the lid-sink interface). TIM, lid and sink dissipate nothing (powerW 0). */
function thermalOf(o: Operating, pkg: SystemSpec['package'], withLayers: boolean): { layers: EvalResult['thermal']['layers']; lidC: number } {
  const pr = unitResponses(pkg);
  const resp = pr.units;
  const n = resp.length;
  const ambientC = pkg.thermal.ambientC;
  let lid = 0;
  for (let d = 0; d < n; d++) {
    lid += o.logicSrcW[d]! * resp[d]!.logicLidC;
    lid += o.dramSrcW[d]! * resp[d]!.dramLidC;
  }
  if (!withLayers) return { layers: [], lidC: ambientC + lid };
  const layers: EvalResult['thermal']['layers'] = new Array(pr.kinds.length + pr.columns.length + 2);
  let row = 0;
  let li = 0;
  for (let ci = 0; ci < pr.columns.length; ci++) {
    const col = pr.columns[ci]!;
    for (; li < col.end; li++) {
      let tempC = ambientC;
      let powerW = 0;
      for (let d = 0; d < n; d++) {
        const r = resp[d]!;
        const wl = o.logicSrcW[d]!;
        tempC += wl * r.logicFlat[li]!;
        powerW += wl * r.logicPowerW[li]!;
        const wd = o.dramSrcW[d]!;
        tempC += wd * r.dramFlat[li]!;
        powerW += wd * r.dramPowerW[li]!;
      }
      layers[row++] = { column: pr.columnNames[li]!, layer: pr.layerNames[li]!, tempC, powerW };
    }
    let timC = ambientC;
    for (let d = 0; d < n; d++) timC += o.logicSrcW[d]! * resp[d]!.logicTim[ci]! + o.dramSrcW[d]! * resp[d]!.dramTim[ci]!;
    layers[row++] = { column: col.name, layer: 'tim', tempC: timC, powerW: 0 };
  }
  layers[row++] = { column: 'package', layer: 'lid', tempC: ambientC + lid, powerW: 0 };
  layers[row++] = { column: 'package', layer: 'sink-base', tempC: ambientC + lid * pr.sinkBasePerLid, powerW: 0 };
  return { layers, lidC: ambientC + lid };
}

function thermalNet(pkg: SystemSpec['package'], columns: ThermalColumn[], ambientC: number): ThermalNetwork {
  return {
    ambientC,
    columns,
    tim: pkg.thermal.tim,
    lid: pkg.thermal.lid,
    sinkResistanceKPerW: pkg.thermal.sinkResistanceKPerW,
    boardResistanceKPerW: pkg.thermal.boardResistanceKPerW,
  };
}

/** Unit responses per chiplet: every layer's rise (ambient 0) for 1 W in its logic die, and for 1 W
 *  spread evenly over its DRAM dies. Cached per package object (the last few, recent.ts; configs are immutable once parsed).
 *  Flat arrays indexed by layer (columns in order, then layers bottom to top). */
interface UnitResponse {
  /** Rise of each chiplet's logic node per watt of this source. */
  logicRise: number[];
  dramLogicRise: number[];
  /** Rise of every layer per watt of this source, and the share of that watt each layer dissipates. */
  logicFlat: number[];
  dramFlat: number[];
  logicPowerW: number[];
  dramPowerW: number[];
  /** Rise of each column's TIM per watt of this source (columns in order). */
  logicTim: number[];
  dramTim: number[];
  /** Lid rise per watt of this source. */
  logicLidC: number;
  dramLidC: number;
}
interface PackageResponse {
  units: UnitResponse[];
  /** Per layer (same order as the flat rises): 1 logic die, 2 DRAM die, 0 other. */
  kinds: number[];
  columnNames: string[];
  layerNames: string[];
  /** Per column: its name and the index one past its last layer in the flat arrays. */
  columns: { name: string; end: number }[];
  /** Rise of the heat-sink base (the lid-sink interface) per kelvin of lid rise: all heat into the
   *  sink crosses the lid's upper half and then the sink, so it is R_sink / (R_lid/2 + R_sink). */
  sinkBasePerLid: number;
}
const responseCache = new RecentCache<SystemSpec['package'], PackageResponse>(4);
function unitResponses(pkg: SystemSpec['package']): PackageResponse {
  let r = responseCache.get(pkg);
  if (r) return r;
  // One network (geometry) and two power cases per source chiplet: 1 W in its logic die, and 1 W
  // spread evenly over its DRAM dies (1 / dies per die, times the dies side by side in a level).
  // Built with those powers in every chiplet's columns, then each case keeps its source's share.
  const chiplets = pkg.chiplets;
  const cols: ThermalColumn[] = [];
  const owner: number[] = [];
  const kinds: number[] = [];
  const columnNames: string[] = [];
  const layerNames: string[] = [];
  const unitPowerW: number[] = [];
  const logicIndex: number[] = [];
  for (let k = 0; k < chiplets.length; k++) {
    const c = chiplets[k]!;
    for (const col of chipletColumns(c, pkg.thermal, 1, 1 / (c.memory.stacks * c.memory.layers))) {
      cols.push(col);
      for (const l of col.layers) {
        const kind = l.name === 'logic' ? 1 : l.name.startsWith('dram') ? 2 : 0;
        if (kind === 1) logicIndex[k] = kinds.length;
        owner.push(k);
        kinds.push(kind);
        columnNames.push(col.name);
        layerNames.push(l.name);
        unitPowerW.push(l.powerW);
      }
    }
  }
  const f = factorNetwork(thermalNet(pkg, cols, 0));
  const caseOf = (src: number, logic: boolean) => {
    const powerW = new Array<number>(kinds.length).fill(0);
    for (let l = 0; l < kinds.length; l++) if (owner[l] === src && (kinds[l] === 1) === logic) powerW[l] = unitPowerW[l]!;
    const rise = new Array<number>(kinds.length).fill(0);
    const tim = new Array<number>(cols.length).fill(0);
    const lidC = solveFlat(f, powerW, rise, tim).lidC;
    return { powerW, rise, tim, lidC };
  };
  const units = chiplets.map((_, k): UnitResponse => {
    const lg = caseOf(k, true);
    const dr = caseOf(k, false);
    return {
      logicRise: chiplets.map((_c, i) => lg.rise[logicIndex[i]!]!),
      dramLogicRise: chiplets.map((_c, i) => dr.rise[logicIndex[i]!]!),
      logicFlat: lg.rise,
      dramFlat: dr.rise,
      logicPowerW: lg.powerW,
      dramPowerW: dr.powerW,
      logicTim: lg.tim,
      dramTim: dr.tim,
      logicLidC: lg.lidC,
      dramLidC: dr.lidC,
    };
  });
  const columns = cols.map((c, ci) => ({ name: c.name, end: f.offsets[ci]! + c.layers.length }));
  r = { units, kinds, columnNames, layerNames, columns, sinkBasePerLid: pkg.thermal.sinkResistanceKPerW / f.rLidToAmb };
  responseCache.set(pkg, r);
  return r;
}

/**
 * A floor under the package's static power at any operating point (for the search's bounds): DRAM
 * background and refresh at the normal rate, plus each compute die's leakage at the lowest DVFS
 * voltage and at a floor of its temperature. The floor starts from the rise the DRAM static power
 * alone causes and iterates T <- that + sum of leakage(T) x the logic rise per watt: the true
 * temperature also carries the dynamic power (>= 0) and a voltage at least the lowest, so by
 * induction every iterate stays at or below it (leakage grows with T; all unit rises are >= 0).
 */
export function staticPowerFloorW(pkg: SystemSpec['package'], iterations = 8): number {
  const f = staticPowerFloorParts(pkg, iterations);
  return f.dramW + f.leakW;
}

/** staticPowerFloorW's two parts: DRAM background and refresh, and the dies' leakage at their lowest
 *  voltage (leakage is linear in the voltage: at a voltage V it is at least leakW x V / minVoltageRatio
 *  for one die); `leakByChiplet` is the leakage part per chiplet (in the package's order, summing to
 *  leakW), taken at the floor temperatures `tempC`. */
export function staticPowerFloorParts(pkg: SystemSpec['package'], iterations = 8): { dramW: number; leakW: number; leakByChiplet: number[]; tempC: number[] } {
  const resp = unitResponses(pkg).units;
  const cs = pkg.chiplets;
  const n = cs.length;
  const base = new Array<number>(n).fill(pkg.thermal.ambientC);
  let dramW = 0;
  for (let d = 0; d < n; d++) {
    const ms = staticMemoryPowerW(cs[d]!.memory, cs[d]!.memory.stacks, false);
    dramW += ms.backgroundW + ms.refreshW;
    for (let i = 0; i < n; i++) base[i]! += (ms.backgroundW + ms.refreshW) * resp[d]!.dramLogicRise[i]!;
  }
  const leakAt = (d: number, t: number) => leakageW(cs[d]!.compute, 1, t, cs[d]!.compute.minVoltageRatio); // lowest DVFS voltage
  let temp = base.slice();
  for (let it = 0; it < iterations; it++) {
    const next = base.slice();
    for (let d = 0; d < n; d++) {
      const l = leakAt(d, temp[d]!);
      for (let i = 0; i < n; i++) next[i]! += l * resp[d]!.logicRise[i]!;
    }
    // Past the model's runaway limit the point cannot settle: stop at the last finite floor.
    if (!next.every((t) => t < 400)) break;
    temp = next;
  }
  let leak = 0;
  const leakByChiplet = new Array<number>(n);
  for (let d = 0; d < n; d++) leak += leakByChiplet[d] = leakAt(d, temp[d]!);
  return { dramW, leakW: leak, leakByChiplet, tempC: temp };
}

/**
 * Each chiplet's own thermal rises (K per W, ambient 0): of its logic die for 1 W dissipated in that
 * logic die (`logic`), and for 1 W spread over its own DRAM dies (`dram`). The thermal network is linear
 * with non-negative unit responses (unitResponses), so a chiplet's logic temperature is at least the
 * floor temperature of staticPowerFloorParts plus logic[i] x its logic dynamic power plus dram[i] x its
 * DRAM dynamic power (every other source only adds): the search's bounds lift the leakage floor by it.
 */
export function selfRisesKPerW(pkg: SystemSpec['package']): { logic: number[]; dram: number[] } {
  const resp = unitResponses(pkg).units;
  return { logic: resp.map((u, i) => u.logicRise[i]!), dram: resp.map((u, i) => u.dramLogicRise[i]!) };
}

/** Split chiplets: the prefilled KV of the batch crosses the interposer before decode starts. */
function addKvTransfer(prefill: PhaseRaw, input: EvalInput, link: NonNullable<SystemSpec['package']['interposer']>, detail: boolean): void {
  const bytes = kvBytesPerToken(input.model, input.precision) * input.batch * input.inputTokens;
  const timeS = link.latencyUs * 1e-6 + bytes / (link.bandwidthGBps * 1e9);
  const energyJ = bytes * 8 * link.energyPJPerBit * 1e-12;
  if (detail) prefill.ops.push({
    name: 'kv_transfer.interposer', kind: 'collective', algorithm: 'point-to-point', count: 1, timeS, bound: 'network',
    computeS: 0, memoryS: 0, sramS: 0, networkS: timeS, overheadS: 0, flops: 0, dramBytes: 0, energyJ, utilisation: 1, waves: 1,
  });
  prefill.stepTimeS += timeS;
  prefill.timeByBoundS.network += timeS;
  prefill.networkJ += energyJ;
}

/** Thermal columns of one chiplet: its die stack, or its die plus the HBM stacks beside it. */
function chipletColumns(c: Chiplet, th: SystemSpec['package']['thermal'], logicW: number, dramPerDieW: number): ThermalColumn[] {
  const logic = { name: 'logic', thicknessUm: th.logicDie.thicknessUm, conductivityWPerMK: th.logicDie.conductivityWPerMK, powerW: logicW };
  const dramLayers = (perLevelDies: number) => {
    const ls = [];
    for (let i = 0; i < c.memory.layers; i++) {
      if (i > 0) ls.push({ name: `bond${i}`, thicknessUm: th.bondLayer.thicknessUm, conductivityWPerMK: th.bondLayer.conductivityWPerMK, powerW: 0 });
      ls.push({ name: `dram${i + 1}`, thicknessUm: th.dramDie.thicknessUm, conductivityWPerMK: th.dramDie.conductivityWPerMK, powerW: dramPerDieW * perLevelDies, areaMm2: c.memory.dieAreaMm2 * perLevelDies });
    }
    return ls;
  };
  const bond = { name: 'bond0', thicknessUm: th.bondLayer.thicknessUm, conductivityWPerMK: th.bondLayer.conductivityWPerMK, powerW: 0 };
  if (c.memory.placement === 'on-logic') {
    // DRAM stacks sit on the compute die; each DRAM level holds `stacks` dies side by side.
    const dram = dramLayers(c.memory.stacks);
    const layers = th.stackOrder !== 'logic-top' ? [logic, bond, ...dram] : [...dram.reverse(), bond, logic];
    return [{ name: `${c.name}:stack`, count: 1, areaMm2: c.compute.areaMm2, layers }];
  }
  return [
    { name: `${c.name}:logic`, count: 1, areaMm2: c.compute.areaMm2, layers: [logic] },
    { name: `${c.name}:hbm`, count: c.memory.stacks, areaMm2: c.memory.dieAreaMm2, layers: dramLayers(1) },
  ];
}

/** Lowest junction limit of the package's compute dies. */
function tjMaxOf(sys: SystemSpec): number {
  let tj = Infinity;
  for (const c of sys.package.chiplets) tj = Math.min(tj, c.compute.tjMaxC);
  return tj;
}

function limitsViolated(o: Operating, sys: SystemSpec): 'none' | 'tdp' | 'logic-temperature' | 'dram-temperature' {
  const th = sys.package.thermal;
  const tj = tjMaxOf(sys);
  if (o.runaway || o.maxLogicC > tj) return 'logic-temperature';
  if (o.maxDramC > th.dramExtendedLimitC) return 'dram-temperature';
  if (Math.max(o.prefillPowerW, o.decodePowerW) > sys.package.power.tdpW) return 'tdp';
  return 'none';
}

/** Relative margins to the logic, DRAM and TDP limits (> 0: exceeded), in that order. */
function margins(o: Operating, sys: SystemSpec): [number, number, number] {
  const th = sys.package.thermal;
  const tj = tjMaxOf(sys);
  return [
    (o.maxLogicC - tj) / tj,
    (o.maxDramC - th.dramExtendedLimitC) / th.dramExtendedLimitC,
    Math.max(o.prefillPowerW, o.decodePowerW) / sys.package.power.tdpW - 1,
  ];
}

/** The limit whose relative margin is the worst (margin's argmax): the one that binds at a throttled
 *  point. Several at their limit: the first of logic, DRAM, TDP. */
function bindingLimit(o: Operating, sys: SystemSpec): 'tdp' | 'logic-temperature' | 'dram-temperature' {
  if (o.runaway) return 'logic-temperature';
  const [logic, dram, tdp] = margins(o, sys);
  return logic >= dram && logic >= tdp ? 'logic-temperature' : dram >= tdp ? 'dram-temperature' : 'tdp';
}

/** Worst relative margin over the limits: > 0 when a limit is exceeded (runaway counts as +1). */
function margin(o: Operating, sys: SystemSpec): number {
  return o.runaway ? 1 : Math.max(...margins(o, sys));
}

/** Operating point at clock scale s, with refresh doubled if the DRAM runs above its normal limit.
 *  Doubled refresh costs bandwidth, so less work per second and a cooler DRAM: a point can be over
 *  85 C at the normal rate and under it at the doubled one. A temperature-compensated refresh
 *  controller toggles there; the model keeps the rate doubled (the pessimistic end of the band)
 *  and reports it as doubled, since that is the rate its bandwidth and power were computed with. */
function settle(input: EvalInput, s: number, detail = false): Operating {
  const o = operate(input, s, false, detail);
  if (o.maxDramC > input.system.package.thermal.dramLimitC) return operate(input, s, true, detail);
  return o;
}

/** Bytes (>= 0) in GiB with one decimal, as the infeasibility reasons print them. Not toFixed: the
 *  search meets over-capacity points by the million, and toFixed was 3% of an evaluation. */
function gib(b: number): string {
  const tenths = Math.round((b / 2 ** 30) * 10);
  if (!(tenths < 2 ** 53)) return (b / 2 ** 30).toFixed(1);
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}

function need(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(name, v, 'a positive integer');
}

function checkInput(input: EvalInput): void {
  need(input.batch, 'batch');
  need(input.inputTokens, 'input');
  need(input.outputTokens, 'output');
  if (input.chunkTokens !== undefined) need(input.chunkTokens, 'chunk');
  if (input.inputTokens + input.outputTokens > input.model.maxPositionEmbeddings)
    throw new ConfigError(
      'input+output',
      input.inputTokens + input.outputTokens,
      `<= max_position_embeddings of ${input.model.name} (${input.model.maxPositionEmbeddings})`,
    );
}

export const MIN_THROTTLE = 0.05; // below 5% of the nominal clock a design is reported infeasible

export function evaluate(input: EvalInput): EvalResult {
  checkInput(input);
  const sys = input.system;
  const pkg = sys.package;
  const mapping = input.mapping ?? SINGLE;
  checkMapping(mapping, input.model, input.batch);
  const devices = devicesOf(mapping);
  const levels = levelsOf(input);
  let maxDevices = 1;
  for (let i = 0; i < levels.length; i++) maxDevices *= levels[i]!.size;
  if (devices > maxDevices)
    throw new ConfigError(
      'tp*pp*dp*sp',
      devices,
      levels.length === 0
        ? `1: system ${sys.name} has no network; add "network" levels to use several devices`
        : `<= the ${maxDevices} devices the network of ${sys.name} connects (${levels.map((l) => `${l.name} ${l.size}`).join(' x ')})`,
    );

  const detail = input.detail ?? true;
  // The nominal point carries its per-operator breakdown (if asked for): most designs end there.
  let o = settle(input, 1, detail);
  let limitedBy = limitsViolated(o, sys);
  let s = 1;
  const reasons: string[] = [];
  if (limitedBy !== 'none') {
    if (pkg.thermal.onOverLimit === 'infeasible') {
      reasons.push(`over limit at nominal clock: ${limitedBy}`);
    } else {
      // Largest clock scale in [MIN_THROTTLE, 1] that meets every limit (limits are monotone in s).
      let lo = MIN_THROTTLE;
      let hi = 1;
      const oLo = settle(input, lo);
      if (limitsViolated(oLo, sys) !== 'none') {
        limitedBy = limitsViolated(oLo, sys);
        reasons.push(`${limitedBy} limit not met even at ${MIN_THROTTLE * 100}% clock`);
        o = oLo;
        s = lo;
      } else {
        // Illinois (modified regula falsi) on the worst relative margin, which rises with the clock:
        // converges in a few operating-point evaluations where bisection needs eleven.
        let best = oLo;
        let gLo = margin(oLo, sys);
        let gHi = margin(o, sys);
        let side = 0;
        for (let i = 0; i < 12 && hi - lo > 2e-3; i++) {
          let mid = lo + ((hi - lo) * -gLo) / (gHi - gLo);
          if (!(mid > lo && mid < hi)) mid = (lo + hi) / 2;
          const om = settle(input, mid);
          const g = margin(om, sys);
          if (g <= 0 && limitsViolated(om, sys) === 'none') {
            lo = mid;
            gLo = g;
            best = om;
            if (side === -1) gHi /= 2;
            side = -1;
          } else {
            hi = mid;
            gHi = Math.max(g, 1e-12);
            if (side === 1) gLo /= 2;
            side = 1;
          }
        }
        o = best;
        s = lo;
        // The clock found sits where the worst margin reaches 0: that limit binds, whichever one
        // the nominal clock broke first.
        limitedBy = bindingLimit(o, sys);
      }
    }
  }
  // The throttling search times operators without their breakdown; redo the chosen point with it.
  if (detail && !o.detailed) o = operate(input, o.s, o.refreshDoubled, true);
  const thermal = thermalOf(o, pkg, detail);

  // Memory footprint against capacity, per role (split chiplets hold weights on both sides).
  // Per device: the mapping's share of weights, KV and activations.
  // Copies of a role's chiplet each hold the weights and their own sequences (copyInput): the checks
  // are per copy, the reported figures the package's (every copy).
  const nPre = copiesOf(input.system, 'prefill');
  const nDec = copiesOf(input.system, 'decode');
  const preBatch = copyBatch(input.batch, mapping.dp, nPre);
  const fpDec = footprintPerDevice(input.model, input.precision, mapping, copyBatch(input.batch, mapping.dp, nDec), input.inputTokens, input.outputTokens);
  let fpPre = nPre === nDec ? fpDec : footprintPerDevice(input.model, input.precision, mapping, preBatch, input.inputTokens, input.outputTokens);
  if (input.chunkTokens !== undefined) {
    // Prefill in steps under a token budget: the activations are the largest step's.
    const p = prefillSteps(preBatch / mapping.dp, input.inputTokens, input.chunkTokens);
    const act = footprintPerDevice(input.model, input.precision, mapping, mapping.dp * p.seqs, p.chunkTokens, 0).activationBytes;
    fpPre = { ...fpPre, activationBytes: act };
  }
  const weightsBytes = fpDec.weightsBytes;
  const decCap = capacityBytes(o.decodeRole.mem, o.decodeRole.stacks);
  const preCap = capacityBytes(o.prefillRole.mem, o.prefillRole.stacks);
  const shared = o.prefillRole.chiplet === o.decodeRole.chiplet;
  const kvCacheBytes = nDec * fpDec.kvCacheBytes;
  const activationBytes = nPre * fpPre.activationBytes;
  const capacity = shared ? nDec * decCap : nPre * preCap + nDec * decCap;
  const reserveBytes = capacity * pkg.software.memoryReserveFraction;
  const footprint = (shared ? nDec : nPre + nDec) * weightsBytes + kvCacheBytes + activationBytes + reserveBytes;
  let fits = footprint <= capacity;
  if (shared) {
    const need = weightsBytes + fpDec.kvCacheBytes + fpPre.activationBytes + decCap * pkg.software.memoryReserveFraction;
    fits = need <= decCap;
    if (!fits) reasons.push(`memory: footprint ${gib(need)} GiB exceeds capacity ${gib(decCap)} GiB${nDec > 1 ? ` per chiplet (${nDec} copies)` : ''}`);
  } else {
    // Each side must hold its own copy of the weights; report the side that overflows.
    const usable = 1 - pkg.software.memoryReserveFraction;
    const kvPrefill = (fpPre.kvCacheBytes * input.inputTokens) / (input.inputTokens + input.outputTokens);
    const preNeed = weightsBytes + fpPre.activationBytes + kvPrefill;
    const decNeed = weightsBytes + fpDec.kvCacheBytes;
    fits = preNeed <= preCap * usable && decNeed <= decCap * usable;
    if (preNeed > preCap * usable) reasons.push(`memory: prefill chiplet needs ${gib(preNeed)} GiB > ${gib(preCap * usable)} GiB usable`);
    if (decNeed > decCap * usable) reasons.push(`memory: decode chiplet needs ${gib(decNeed)} GiB > ${gib(decCap * usable)} GiB usable`);
  }
  const areas = pkg.chiplets.map((c) => ({
    chiplet: c.name,
    report: dieArea(c.compute, c.memory.placement === 'on-logic' ? c.memory.stacks * c.memory.vertical.areaMm2 : 0),
  }));
  for (const a of areas)
    if (!a.report.fits)
      reasons.push(`area: ${a.chiplet} needs ${a.report.usedMm2.toFixed(0)} mm2 > die ${a.report.budgetMm2} mm2`);

  const otherPowerW = pkg.power.otherPowerW;
  // A phase's dynamic energy and work are every copy's of its role (n); static and board energy the package's.
  const energyOf = (raw: PhaseRaw, staticW: number, n: number): PhaseResult['energyJ'] => ({
    computeJ: n * raw.computeJ,
    sramJ: n * raw.sramJ,
    dramJ: n * raw.dramJ,
    staticJ: staticW * raw.stepTimeS,
    otherJ: otherPowerW * raw.stepTimeS,
    networkJ: n * raw.networkJ,
    totalJ: n * (raw.computeJ + raw.sramJ + raw.dramJ + raw.networkJ) + (staticW + otherPowerW) * raw.stepTimeS,
  });
  const staticW = o.split.staticW;
  const pr = o.prefill;
  const prefill: PhaseResult = {
    stepTimeS: pr.stepTimeS,
    systemTokensPerS: (input.batch * input.inputTokens) / pr.stepTimeS,
    userTokensPerS: input.inputTokens / pr.stepTimeS,
    flops: nPre * pr.flops,
    dramBytes: nPre * pr.dramBytes,
    timeByBoundS: pr.timeByBoundS,
    energyJ: energyOf(pr, staticW, nPre),
    powerW: o.prefillPowerW,
    breakdown: pr.ops,
  };
  const dr = o.decode;
  const decode: EvalResult['decode'] = {
    stepTimeS: dr.stepTimeS,
    systemTokensPerS: input.batch / dr.stepTimeS,
    userTokensPerS: 1 / dr.stepTimeS,
    flops: nDec * dr.flops,
    dramBytes: nDec * dr.dramBytes,
    timeByBoundS: dr.timeByBoundS,
    energyJ: energyOf(dr, staticW, nDec),
    powerW: o.decodePowerW,
    breakdown: dr.ops,
    contextFrom: input.inputTokens,
    contextTo: input.inputTokens + input.outputTokens,
    samples: dr.samples,
  };
  const cycleS = cycleOf(o.prefillRole.chiplet === o.decodeRole.chiplet, o.prefill.stepTimeS, o.decode.stepTimeS * input.outputTokens);
  const outTokens = input.batch * input.outputTokens;
  // System figures: every device of the mapping draws the package's power.
  const systemPowerW = devices * o.averagePowerW;
  const feasible = reasons.length === 0;
  const layers = thermal.layers;
  return {
    modelVersion: MODEL_VERSION,
    system: sys.name,
    model: input.model.name,
    precision: input.precision,
    batch: input.batch,
    inputTokens: input.inputTokens,
    outputTokens: input.outputTokens,
    feasible,
    infeasibleReasons: reasons,
    prefill,
    decode,
    memory: {
      footprintBytes: footprint,
      capacityBytes: capacity,
      fits,
      weightsBytes,
      kvCacheBytes,
      activationBytes,
      reserveBytes,
      bandwidth: { prefill: copyBandwidth(o.prefillRole.bw), decode: copyBandwidth(o.decodeRole.bw) },
    },
    power: {
      averageW: o.averagePowerW,
      prefillW: o.prefillPowerW,
      decodeW: o.decodePowerW,
      tdpW: pkg.power.tdpW,
      computeW: o.split.computeW,
      dramW: o.split.dramW,
      networkW: o.split.networkW,
      staticW: o.split.staticW,
      otherW: o.split.otherW,
    },
    thermal: {
      layers,
      lidC: thermal.lidC,
      maxLogicC: o.maxLogicC,
      maxDramC: o.maxDramC,
      logicLimitC: tjMaxOf(sys),
      dramLimitC: pkg.thermal.dramLimitC,
      dramExtendedLimitC: pkg.thermal.dramExtendedLimitC,
      refreshDoubled: o.refreshDoubled,
      runaway: o.runaway,
      throttleFactor: s,
      limitedBy,
    },
    area: areas,
    energyPerTokenJ: feasible ? (systemPowerW * cycleS) / outTokens : null,
    tokensPerSPerW: feasible ? outTokens / cycleS / systemPowerW : null,
    devices,
    systemPowerW,
    /** Output tokens per second over a request cycle (cycleOf): the batch's prefill, then its decode
     *  steps, or on split prefill/decode chiplets the longer of the two (pipelined batches). */
    throughputTokensPerS: feasible ? outTokens / cycleS : null,
  };
}

/** One GEMM [m x k] x [k x n] on the prefill compute of a system, as a kernel benchmark runs it. */
export function evaluateGemm(
  system: SystemSpec,
  m: number,
  n: number,
  k: number,
  prec: PrecisionSpec['weights'],
  outBytesPerElem = 2,
): { timeS: number; tflops: number; bound: Bound; utilisation: number; waves: number } {
  const role = makeRole(roleFor(system, 'prefill'), 1, false);
  const b = BYTES_PER_ELEMENT[prec];
  const g = gemmTime(role.unit, m, n, k, 1, prec, b, b, outBytesPerElem, role.bw.effectiveGBps * 1e9, true, role.bw.accessLatencyNs * 1e-9);
  const timeS = g.timeS + system.package.software.kernelLaunchUs * 1e-6;
  return { timeS, tflops: (2 * m * n * k) / timeS / 1e12, bound: g.bound, utilisation: g.utilisation, waves: g.waves };
}

/** Effective DRAM read bandwidth of the decode chiplet of a system (normal refresh). */
export function memoryBandwidth(system: SystemSpec): BandwidthBreakdown {
  return copyBandwidth(makeRole(roleFor(system, 'decode'), 1, false).bw);
}

// ------------------------------------------------------------------------------------------------
// Step model for serving: the time and energy of one forward step of a mixed batch (decode
// sequences plus prefill chunks), on the devices of one role, at a fixed operating point. The
// serving layer (analytic and discrete-event) calls this; it shares every formula with evaluate().

export interface MixedStep {
  /** Sequences decoding one token each, and their mean context (tokens already cached). */
  decodeSeqs: number;
  decodeContext: number;
  /** Sequences prefilling a chunk of `prefillTokens` each after `prefillContext` cached tokens. */
  prefillSeqs: number;
  prefillTokens: number;
  prefillContext: number;
}

export interface StepCost {
  timeS: number;
  /** Energy of the step over all devices of the role (dynamic + static + other), J. */
  energyJ: number;
}

export interface StepModel {
  /** Devices of one replica group (tp*pp*dp*sp) on this role. */
  devices: number;
  /** Copies of the role's chiplet in each device's package (copiesOf): data-parallel replicas inside
   *  the package, each a replica of the mapping's dp (the role's replicas: dp x copies). */
  copies: number;
  /** KV-cache tokens the role's devices can hold for all DP replicas and copies together. */
  kvCapacityTokens: number;
  kvBytesPerToken: number;
  /** Clock scale of the operating point (throttling) and the resulting package power while busy. */
  throttleFactor: number;
  /** Static and other power of one device's package at the operating point (every chiplet, every
   *  copy), W: a step's energy counts it once per device over the step's time. */
  staticW: number;
  step(s: MixedStep): StepCost;
  /** Time to move `tokens` of KV from prefill to decode devices (interposer or network). */
  kvTransferS(tokens: number): number;
}

export interface StepModelSpec {
  system: SystemSpec;
  model: ModelArch;
  precision: PrecisionSpec;
  mapping?: Mapping;
  /** Which chiplet role runs the steps ('any' packages use their only chiplet). */
  phase?: Phase;
  /** A representative load for the operating point (throttling, refresh): batch and lengths. */
  batch: number;
  inputTokens: number;
  outputTokens: number;
}

/** Step costs (time, dynamic energy) shared by the step models of one design: per system and model
 *  object (the last few: recent.ts), then per phase, mapping, precision and operating point. */
const stepCaches = new RecentCache<SystemSpec, RecentCache<ModelArch, Map<string, Map<string, { timeS: number; dynJ: number }>>>>(8);
function sharedSteps(system: SystemSpec, model: ModelArch, key: string): Map<string, { timeS: number; dynJ: number }> {
  let byModel = stepCaches.get(system);
  if (!byModel) stepCaches.set(system, (byModel = new RecentCache(4)));
  let byKey = byModel.get(model);
  if (!byKey) byModel.set(model, (byKey = new Map()));
  let m = byKey.get(key);
  if (!m) {
    if (byKey.size > 256) byKey.clear();
    byKey.set(key, (m = new Map()));
  }
  return m;
}

export function makeStepModel(spec: StepModelSpec): StepModel {
  const mapping = spec.mapping ?? SINGLE;
  const phase = spec.phase ?? 'decode';
  const op = evaluate({ ...spec, mapping });
  const s = op.thermal.throttleFactor;
  const role = makeRole(roleFor(spec.system, phase), s, op.thermal.refreshDoubled);
  const input: EvalInput = { ...spec, mapping };
  const sw = spec.system.package.software;
  const levels = levelsOf(input);
  const devices = devicesOf(mapping);
  const staticW = op.power.staticW + op.power.otherW;
  // Copies of the role's chiplet are data-parallel replicas inside each package, handled as the
  // mapping's DP replicas are here: a step's sequences are shared evenly among the dp x copies
  // replicas (each runs its share at once; the step lasts one copy's share), each copy holds the
  // weights and its own sequences' KV, and every copy draws its share's dynamic energy. The static
  // power (op.power, at the operating point of a copy running its share of `spec.batch`) already
  // counts every copy, once per device.
  const copies = copiesOf(spec.system, phase);
  const fp = footprintPerDevice(spec.model, spec.precision, mapping, mapping.dp, 1, 0);
  const cap = capacityBytes(role.mem, role.stacks) * (1 - sw.memoryReserveFraction);
  const kvPerToken = kvBytesPerToken(spec.model, spec.precision);
  // fp.kvCacheBytes: what one token of one replica costs on one device (the mapping's KV split).
  const free = Math.max(0, cap - fp.weightsBytes - fp.activationBytes);
  const kvCapacityTokens = Math.floor(free / fp.kvCacheBytes) * mapping.dp * copies;
  // A step's time and dynamic energy depend on the design and the operating point, not on the load
  // that set it (spec.batch): step models of one design at one clock and refresh share them (a search
  // builds one per max batch). The static power (staticW) depends on the load's temperature: added
  // per model.
  const shared = sharedSteps(spec.system, spec.model, `${phase}|${configKey(mapping, spec.precision)}|${s}|${op.thermal.refreshDoubled}`);
  // The mapping the parts of a step are planned with: they are one microbatch already (step, below).
  const one: Mapping = mapping.microbatches === 1 ? mapping : { ...mapping, microbatches: 1 };
  const step = (x: MixedStep): StepCost => {
    const key = `${x.decodeSeqs}|${x.decodeContext}|${x.prefillSeqs}|${x.prefillTokens}|${x.prefillContext}`;
    const known = shared.get(key);
    if (known) return { timeS: known.timeS, energyJ: (known.dynJ + staticW * known.timeS) * devices };
    // One copy's share of the step (all of it when the role has one chiplet).
    const decodeSeqs = x.decodeSeqs / copies;
    const prefillSeqs = x.prefillSeqs / copies;
    const stepTokens = decodeSeqs + prefillSeqs * x.prefillTokens;
    if (stepTokens <= 0) return { timeS: 0, energyJ: 0 };
    // Pipeline stages: the step's sequences go through them as `mb` microbatches (the mapping's
    // microbatches, else one per stage: vLLM's virtual engines), as many as each replica has whole
    // sequences at most, the whole step split alike (every part below is one microbatch's). In
    // serving, the next step's microbatches follow this one's through the stages: the steady state
    // of a decode step (DESIGN 2.6, parallel.ts planDevice), max(mb, pp) stage times, with each
    // device running its stage for every microbatch.
    const mb = Math.max(1, Math.min(mapping.microbatches ?? mapping.pp, Math.floor((decodeSeqs + prefillSeqs) / mapping.dp)));
    const tokens = stepTokens / mb;
    // Linear layers run once over all tokens of the step; attention per part; LM head per sequence.
    const lin = planDevice(spec.model, spec.precision, 'prefill', mapping.dp, tokens / mapping.dp, 0, one);
    const parts: DevicePlan[] = [];
    if (prefillSeqs > 0) parts.push(planDevice(spec.model, spec.precision, 'prefill', prefillSeqs / mb, x.prefillTokens, x.prefillContext, one));
    if (decodeSeqs > 0) parts.push(planDevice(spec.model, spec.precision, 'decode', decodeSeqs / mb, 1, x.decodeContext, one));
    const isPerPart = (o: Operator) => o.kind === 'attention' || o.kvReadBytes > 0 || o.name === 'lm_head';
    const ops = lin.ops.filter((o) => !isPerPart(o));
    for (const p of parts) ops.push(...p.ops.filter(isPerPart));
    const st = opStatics(ops, role.unit.die, spec.precision);
    const times = scratchTimes(ops.length);
    const raw = runOps(ops, st, role, sw, false, false, times);
    const comms = [...lin.comms.filter((c) => !c.name.startsWith('sp.')), ...parts.flatMap((p) => p.comms.filter((c) => c.name.startsWith('sp.')))];
    const costs = comms.map((c) => collectiveCost(c.kind, c.bytes, spanOf(c.groupSize, c.stride, levels), levels));
    addComms(raw, comms, costs, ops, st, times, mapping.overlap ?? true, false);
    finishStep(raw, { pipelineFactor: Math.max(mb, mapping.pp), microbatches: mb }, sw);
    const dynJ = (raw.computeJ + raw.sramJ + raw.dramJ + raw.networkJ) * copies;
    if (shared.size > 200_000) shared.clear();
    shared.set(key, { timeS: raw.stepTimeS, dynJ });
    return { timeS: raw.stepTimeS, energyJ: (dynJ + staticW * raw.stepTimeS) * devices };
  };
  const link = spec.system.package.interposer;
  const kvTransferS = (tokens: number) => {
    const bytes = tokens * kvPerToken;
    // Split chiplets (not copies of one 'any' chiplet): over the prefill chiplet's interposer link.
    if (link && roleFor(spec.system, 'prefill') !== roleFor(spec.system, 'decode')) return link.latencyUs * 1e-6 + bytes / (link.bandwidthGBps * 1e9);
    // Between packages: a send over the outermost level the pools share (bytes split over TP ranks).
    if (levels.length === 0) return 0;
    const c = collectiveCost('send-recv', bytes / mapping.tp, [2], levels.slice(-1).map((l) => ({ ...l, size: Math.max(2, l.size) })));
    return c.timeS;
  };
  return { devices, copies, kvCapacityTokens, kvBytesPerToken: kvPerToken, throttleFactor: s, staticW, step, kvTransferS };
}
