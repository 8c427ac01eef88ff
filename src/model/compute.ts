// Compute die: tile-level GEMM/GEMV timing, SRAM-set tiling and DRAM re-reads, vector work, area.
// DESIGN 2.2. Pure: no I/O.
import type { ComputeDie } from './hardware/schema.js';
import { BYTES_PER_ELEMENT, PRECISIONS, type Bound, type Precision } from './types.js';

/** Aggregated compute resources of the chiplets that run one phase. */
export interface ComputeUnit {
  die: ComputeDie;
  /** Identical dies working together (chiplets with the same role, aggregated). */
  dies: number;
  /** Clock scale in (0, 1] after throttling. */
  freqScale: number;
}

/** Matrix precision actually used: the requested one if the unit has it, else the narrowest wider
 *  one that holds its values: a float format runs on float units only (fp8 on a die without FP8
 *  units, such as A100, upcasts to bf16/fp16: its values are not integers for the INT8 units), an
 *  integer format on integer units or any float one. */
export function matrixPrecision(die: ComputeDie, p: Precision): Precision {
  if (die.macsPerCyclePerCore[p] !== undefined) return p;
  const want = BYTES_PER_ELEMENT[p];
  const wantInt = isIntPrecision(p);
  const holds = (q: Precision) => die.macsPerCyclePerCore[q] !== undefined && (wantInt || !isIntPrecision(q));
  let best: Precision | null = null;
  for (const q of PRECISIONS) {
    if (!holds(q)) continue;
    const b = BYTES_PER_ELEMENT[q];
    if (b >= want && (best === null || b < BYTES_PER_ELEMENT[best])) best = q;
  }
  if (best === null) {
    // The unit only has narrower formats than asked: the widest of them that holds its values.
    for (const q of PRECISIONS) if (holds(q)) return q;
    for (const q of PRECISIONS) if (die.macsPerCyclePerCore[q] !== undefined) return q;
  }
  return best!;
}

const isIntPrecision = (p: Precision) => p.startsWith('int');

/** Peak dense FLOP/s of the unit at a precision (2 FLOPs per MAC), before efficiency. */
export function peakFlops(u: ComputeUnit, p: Precision): number {
  const q = matrixPrecision(u.die, p);
  return 2 * u.die.macsPerCyclePerCore[q]! * u.die.cores * u.dies * u.die.frequencyGHz * 1e9 * u.freqScale;
}

/** Smallest row tile of a matrix instruction (16 rows: NVIDIA mma m16n8k16, AMD MFMA 16x16). */
export const MIN_TILE_M = 16;

export interface GemmTiming {
  computeS: number;
  sramS: number;
  memoryS: number;
  /** Bytes moved to/from DRAM after on-die reuse. */
  dramBytes: number;
  /** Bytes moved between SRAM and the matrix units. */
  sramBytes: number;
  /** Pipeline fill + drain latency included in timeS. */
  fillS: number;
  waves: number;
  /** Useful MACs / (issued MAC slots): shape and wave quantisation losses. */
  utilisation: number;
  splitK: number;
  bound: Bound;
  timeS: number;
}

/** The operating-point-independent part of a GEMM on a die: tiling, waves, SRAM and DRAM traffic.
 *  Clock scale and DRAM bandwidth only turn these into times (gemmTime), so callers that time the
 *  same shape at several operating points compute this once. gemmShape returns a new one, or fills
 *  the `out` it is given (callers in a loop that read it at once: no allocation). */
export interface GemmShape {
  /** waves x cycles per work item: compute time = cycles / clock. */
  cycles: number;
  /** Bytes moved between SRAM and the matrix units. */
  sramTraffic: number;
  /** Bytes moved to/from DRAM after on-die reuse. */
  dramBytes: number;
  waves: number;
  utilisation: number;
  splitK: number;
}

export function gemmShape(
  die: ComputeDie,
  dies: number,
  m: number,
  n: number,
  k: number,
  groups: number,
  prec: Precision,
  aBytesPerElem: number,
  bBytesPerElem: number,
  cBytesPerElem: number,
  bReadsFromDram: boolean,
  out?: GemmShape,
): GemmShape {
  const cores = die.cores * dies;
  const q = matrixPrecision(die, prec);
  const macsPerCycle = die.macsPerCyclePerCore[q]! * die.matrixEfficiency;

  // Per-core tile: the matrix-unit tile, shrunk if its double-buffered operands do not fit SRAM.
  let tm = die.tileM;
  let tn = die.tileN;
  const sramBytes = die.sramPerCoreKB * 1024;
  const tileK = die.tileK;
  while (2 * tileK * (tm * aBytesPerElem + tn * bBytesPerElem) + tm * tn * 4 > sramBytes && (tm > 8 || tn > 8)) {
    if (tm >= tn) tm = Math.max(8, tm >> 1);
    else tn = Math.max(8, tn >> 1);
  }
  // Skinny GEMMs (decode, small experts): libraries pick a kernel whose row tile barely covers m,
  // down to the matrix instruction's granularity (MIN_TILE_M rows), instead of padding to the full tile.
  if (m < tm) tm = Math.max(Math.min(tm, MIN_TILE_M), Math.min(tm, 2 ** Math.ceil(Math.log2(Math.max(1, m)))));
  const tilesM = Math.ceil(m / tm);
  const tilesN = Math.ceil(n / tn);
  const tiles = tilesM * tilesN * groups;
  const kSteps = Math.ceil(k / tileK);
  // Split-K fills idle cores when there are fewer output tiles than cores (as cuBLAS does).
  const splitK = tiles < cores ? Math.max(1, Math.min(Math.floor(cores / tiles), Math.floor(kSteps / 4))) : 1;
  const items = tiles * splitK;
  const waves = Math.ceil(items / cores);
  const stepsPerItem = Math.ceil(kSteps / splitK);
  const cyclesPerItem = (tm * tn * stepsPerItem * tileK) / macsPerCycle;
  const usefulMacs = m * n * k * groups;
  const utilisation = usefulMacs / ((waves * cores * tm * tn * stepsPerItem * tileK) || 1);

  // SRAM -> matrix unit traffic: each item streams its A and B panels once.
  const sramTraffic = items * stepsPerItem * tileK * (tm * aBytesPerElem + tn * bBytesPerElem);

  // DRAM traffic after on-die reuse. If one operand fits in half the shared SRAM it is read once and
  // the other streams once. Otherwise the die computes output blocks of Bm x Bn whose accumulators fill
  // the per-core SRAM of all cores; A is re-read once per column block, B once per row block.
  const aBytes = m * k * aBytesPerElem * groups;
  const bBytes = bReadsFromDram ? n * k * bBytesPerElem * groups : 0;
  const cBytes = m * n * cBytesPerElem * groups;
  const globalBytes = die.globalSramMB * 2 ** 20 * dies;
  let dramBytes: number;
  if (Math.min(aBytes, bBytes) <= globalBytes / 2) {
    dramBytes = aBytes + bBytes + cBytes;
  } else {
    const accCap = (cores * sramBytes) / 4; // fp32 accumulators of the resident block
    const bm = Math.min(m, Math.max(tm, Math.floor(Math.sqrt(accCap))));
    const bn = Math.min(n, Math.max(tn, Math.floor(accCap / bm)));
    dramBytes = aBytes * Math.ceil(n / bn) + bBytes * Math.ceil(m / bm) + cBytes;
  }
  const cycles = waves * cyclesPerItem;
  if (!out) return { cycles, sramTraffic, dramBytes, waves, utilisation, splitK };
  out.cycles = cycles;
  out.sramTraffic = sramTraffic;
  out.dramBytes = dramBytes;
  out.waves = waves;
  out.utilisation = utilisation;
  out.splitK = splitK;
  return out;
}

/**
 * Time of `groups` independent GEMMs of [m x k] x [k x n] on the unit.
 * aBytesPerElem: activations; bBytesPerElem: weights (or K/V for attention); cBytesPerElem: output.
 * bandwidthBytesPerS: effective DRAM bandwidth. The kernel launch is added by the caller.
 */
export function gemmTime(
  u: ComputeUnit,
  m: number,
  n: number,
  k: number,
  groups: number,
  prec: Precision,
  aBytesPerElem: number,
  bBytesPerElem: number,
  cBytesPerElem: number,
  bandwidthBytesPerS: number,
  bReadsFromDram = true,
  dramLatencyS = 0,
): GemmTiming {
  const die = u.die;
  const sh = gemmShape(die, u.dies, m, n, k, groups, prec, aBytesPerElem, bBytesPerElem, cBytesPerElem, bReadsFromDram);
  const f = die.frequencyGHz * 1e9 * u.freqScale;
  const computeS = sh.cycles / f;
  const sramS = sh.sramTraffic / (die.sramBandwidthBytesPerCyclePerCore * (die.cores * u.dies) * f);
  const dramBytes = sh.dramBytes;
  const memoryS = dramBytes / bandwidthBytesPerS;

  // Pipeline fill and drain: the first operands arrive one DRAM latency after the start and the
  // last outputs leave one latency before the end; these cannot overlap the steady state.
  const fillS = 2 * dramLatencyS;
  let timeS = computeS;
  let bound: Bound = 'compute';
  if (sramS > timeS) {
    timeS = sramS;
    bound = 'memory';
  }
  if (memoryS > timeS) {
    timeS = memoryS;
    bound = 'memory';
  }
  timeS += fillS;
  return { computeS, sramS, memoryS, fillS, dramBytes, sramBytes: sh.sramTraffic, waves: sh.waves, utilisation: sh.utilisation, splitK: sh.splitK, bound, timeS };
}

/** Vector work (norms, softmax, activations): FLOPs on the vector units vs bytes from DRAM. */
export function vectorTime(u: ComputeUnit, flops: number, dramBytes: number, bandwidthBytesPerS: number) {
  const rate = u.die.vectorFlopsPerCyclePerCore * u.die.cores * u.dies * u.die.frequencyGHz * 1e9 * u.freqScale;
  const computeS = flops / rate;
  const memoryS = dramBytes / bandwidthBytesPerS;
  return { computeS, memoryS, timeS: Math.max(computeS, memoryS), bound: (memoryS >= computeS ? 'memory' : 'compute') as Bound };
}

export interface AreaReport {
  coresMm2: number;
  sramMm2: number;
  phyMm2: number;
  usedMm2: number;
  budgetMm2: number;
  fits: boolean;
}

/** Area check of one compute die: cores + SRAM + PHY/TSV keep-out must fit the die. */
export function dieArea(die: ComputeDie, verticalKeepOutMm2: number): AreaReport {
  const coresMm2 = die.cores * die.coreAreaMm2;
  const sramMb = (die.cores * die.sramPerCoreKB) / 1024 + die.globalSramMB;
  const sramMm2 = sramMb * die.sramAreaMm2PerMB;
  const phyMm2 = die.phyKeepOutAreaMm2 + verticalKeepOutMm2;
  const usedMm2 = coresMm2 + sramMm2 + phyMm2;
  return { coresMm2, sramMm2, phyMm2, usedMm2, budgetMm2: die.areaMm2, fits: usedMm2 <= die.areaMm2 * (1 + 1e-9) };
}
