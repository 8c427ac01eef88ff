// Compact steady-state thermal resistance network of one package (DESIGN 2.4). Pure: no I/O.
//
// The package is a set of columns (a die stack each: a compute die with DRAM on it, or a compute die
// and HBM stacks beside it). Each column is a 1D chain of layers, bottom to top, then a TIM layer.
// All columns share the lid, which goes through the heat sink to ambient. Optionally each column
// also loses heat downwards through substrate and board. Every layer is one node at its centre;
// the resistance between adjacent nodes is the sum of their half-thickness resistances t/(2kA).
// Chains are solved by the Thomas algorithm (tridiagonal) with superposition on the lid temperature,
// so the solve is O(layers) and exact for this network.

export interface ThermalLayer {
  name: string;
  thicknessUm: number;
  conductivityWPerMK: number;
  powerW: number;
  /** Area of this layer if it differs from the column's (e.g. a DRAM die smaller than the logic die). */
  areaMm2?: number;
}

export interface ThermalColumn {
  name: string;
  /** Identical columns (e.g. 8 HBM stacks); solved once, counted `count` times at the lid. */
  count: number;
  areaMm2: number;
  /** Bottom (board side) to top (TIM side). */
  layers: ThermalLayer[];
}

export interface ThermalNetwork {
  ambientC: number;
  columns: ThermalColumn[];
  tim: { thicknessUm: number; conductivityWPerMK: number };
  lid: { thicknessUm: number; conductivityWPerMK: number };
  sinkResistanceKPerW: number;
  boardResistanceKPerW: number | null;
}

export interface ThermalSolution {
  columns: { name: string; count: number; layers: { name: string; tempC: number; powerW: number }[]; timC: number }[];
  lidC: number;
  /** Total heat (W) entering the sink and the board. */
  sinkHeatW: number;
  boardHeatW: number;
}

/** Half-layer conductive resistance t/(2kA) in K/W (t in um, A in mm^2). */
function halfR(thicknessUm: number, k: number, areaMm2: number): number {
  return (thicknessUm * 1e-6) / (2 * k * areaMm2 * 1e-6);
}

/** One column's chain, factored once: conductance gUp[i] between nodes i and i+1 (the last node is
 *  the TIM), gTop from the TIM to the lid, gBottom from node 0 to ambient. The Thomas algorithm's
 *  forward coefficients (sub-diagonal, c'/denominator) depend on the conductances only, so every
 *  power case reuses them; the arithmetic is the Thomas algorithm's, step for step. */
interface Chain {
  n: number;
  gTop: number;
  gBottom: number;
  lower: number[];
  cp: number[];
  denom: number[];
}
// Plain arrays rather than Float64Arrays here: these are small and built per network, and a typed
// array costs V8 an ArrayBuffer allocation (measured: most of the time of building a package's
// responses).

function factorChain(gUp: readonly number[], gTop: number, gBottom: number): Chain {
  const n = gUp.length + 1;
  // Tridiagonal: a[i] theta[i-1] + b[i] theta[i] + c[i] theta[i+1] = d[i]
  const lower = new Array<number>(n).fill(0);
  const cp = new Array<number>(n).fill(0);
  const denom = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const gDown = i === 0 ? gBottom : gUp[i - 1]!;
    const gU = i === n - 1 ? gTop : gUp[i]!;
    const a = i === 0 ? 0 : -gDown;
    const b = gDown + gU;
    const c = i === n - 1 ? 0 : -gU;
    const den = b - a * (i === 0 ? 0 : cp[i - 1]!);
    lower[i] = a;
    cp[i] = c / den;
    denom[i] = den;
  }
  return { n, gTop, gBottom, lower, cp, denom };
}

/** Temperature rises of a factored chain (theta, length n) with the layer powers power[off..off+n-2]
 *  (the TIM carries none; power null: all zero) and the lid held at thetaLid. */
function solveChain(ch: Chain, power: readonly number[] | null, off: number, thetaLid: number, theta: number[]): void {
  const n = ch.n;
  const { lower, cp, denom } = ch;
  // theta doubles as the forward pass's d' before the back substitution overwrites it.
  for (let i = 0; i < n; i++) {
    const p = i === n - 1 || power === null ? 0 : power[off + i]!;
    const d = p + (i === n - 1 ? ch.gTop * thetaLid : 0);
    theta[i] = (d - lower[i]! * (i === 0 ? 0 : theta[i - 1]!)) / denom[i]!;
  }
  for (let i = n - 2; i >= 0; i--) theta[i] = theta[i]! - cp[i]! * theta[i + 1]!;
}

/** A network factored once for many power cases: per column its chain and its response to the lid
 *  (rise per kelvin of lid rise, no power), and the lid's conductance balance. */
export interface FactoredNetwork {
  net: ThermalNetwork;
  chains: Chain[];
  /** Per column: rise of each node (layers, then the TIM) per kelvin at the lid, with no power. */
  lidResponse: number[][];
  /** Offset of each column's first layer in a flat per-layer vector (columns in order, no TIM). */
  offsets: number[];
  layerCount: number;
  den: number;
  rLidToAmb: number;
}

export function factorNetwork(net: ThermalNetwork): FactoredNetwork {
  const totalArea = net.columns.reduce((s, c) => s + c.count * c.areaMm2, 0);
  const lidHalfR = halfR(net.lid.thicknessUm, net.lid.conductivityWPerMK, totalArea);
  const rLidToAmb = lidHalfR + net.sinkResistanceKPerW;
  const chains: Chain[] = [];
  const lidResponse: number[][] = [];
  const offsets: number[] = [];
  let layerCount = 0;
  let den = 1 / rLidToAmb; // + sum count * gTop * (1 - thetaB_top)
  for (const col of net.columns) {
    const n = col.layers.length + 1; // the layers, then the TIM
    const hr = new Array<number>(n);
    for (let i = 0; i < n - 1; i++) {
      const l = col.layers[i]!;
      hr[i] = halfR(l.thicknessUm, l.conductivityWPerMK, l.areaMm2 ?? col.areaMm2);
    }
    hr[n - 1] = halfR(net.tim.thicknessUm, net.tim.conductivityWPerMK, col.areaMm2);
    const gUp: number[] = [];
    for (let i = 0; i + 1 < n; i++) gUp.push(1 / (hr[i]! + hr[i + 1]!));
    const gTop = 1 / (hr[n - 1]! + lidHalfR);
    // Board path: the package-level resistance is shared among columns in proportion to area.
    const gBottom =
      net.boardResistanceKPerW === null
        ? 0
        : 1 / (net.boardResistanceKPerW * (totalArea / col.areaMm2) + hr[0]!);
    const ch = factorChain(gUp, gTop, gBottom);
    const b = new Array<number>(n).fill(0);
    solveChain(ch, null, 0, 1, b);
    den += col.count * gTop * (1 - b[n - 1]!);
    chains.push(ch);
    lidResponse.push(b);
    offsets.push(layerCount);
    layerCount += n - 1;
  }
  return { net, chains, lidResponse, offsets, layerCount, den, rLidToAmb };
}

/** Scratch for the per-column solutions of solveFlat (one per column, reused across calls). */
const chainScratch: number[][] = [];
function scratchFor(ci: number, n: number): number[] {
  let a = chainScratch[ci];
  if (a === undefined || a.length < n) chainScratch[ci] = a = new Array<number>(n).fill(0);
  return a;
}

/**
 * Solves a factored network for one power case given flat (power[l] for layer l, columns in order,
 * no TIM). Writes every layer's temperature to tempsC (same indexing) and the TIMs' to timC (per
 * column) if given; returns the lid temperature and the board heat.
 */
export function solveFlat(
  f: FactoredNetwork,
  power: readonly number[],
  tempsC: number[],
  timC?: number[],
): { lidC: number; thetaLid: number; boardHeatW: number } {
  const cols = f.net.columns;
  let num = 0; // sum count * gTop * thetaA_top
  for (let ci = 0; ci < cols.length; ci++) {
    const ch = f.chains[ci]!;
    const a = scratchFor(ci, ch.n);
    solveChain(ch, power, f.offsets[ci]!, 0, a);
    num += cols[ci]!.count * ch.gTop * a[ch.n - 1]!;
  }
  const thetaLid = num / f.den;
  const ambientC = f.net.ambientC;
  let boardHeatW = 0;
  for (let ci = 0; ci < cols.length; ci++) {
    const ch = f.chains[ci]!;
    const a = chainScratch[ci]!;
    const b = f.lidResponse[ci]!;
    const off = f.offsets[ci]!;
    for (let i = 0; i < ch.n; i++) {
      const theta = a[i]! + b[i]! * thetaLid;
      if (i === 0) boardHeatW += cols[ci]!.count * ch.gBottom * theta;
      if (i < ch.n - 1) tempsC[off + i] = ambientC + theta;
      else if (timC) timC[ci] = ambientC + theta;
    }
  }
  return { lidC: ambientC + thetaLid, thetaLid, boardHeatW };
}

/** Every layer's temperature for the network's own layer powers (the report's rows, and tests). */
export function solveThermal(net: ThermalNetwork): ThermalSolution {
  const f = factorNetwork(net);
  const power = new Array<number>(f.layerCount).fill(0);
  net.columns.forEach((col, ci) => col.layers.forEach((l, i) => (power[f.offsets[ci]! + i] = l.powerW)));
  const tempsC = new Array<number>(f.layerCount).fill(0);
  const timC = new Array<number>(net.columns.length).fill(0);
  const r = solveFlat(f, power, tempsC, timC);
  const columns = net.columns.map((col, ci) => {
    const off = f.offsets[ci]!;
    const layers = col.layers.map((l, i) => ({ name: l.name, tempC: tempsC[off + i]!, powerW: l.powerW }));
    return { name: col.name, count: col.count, layers, timC: timC[ci]! };
  });
  return { columns, lidC: r.lidC, sinkHeatW: r.thetaLid / f.rLidToAmb, boardHeatW: r.boardHeatW };
}
