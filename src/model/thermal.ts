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

/** Solves a chain: nodes 0..n-1, conductance gUp[i] between i and i+1, gTop from n-1 to the lid
 *  (held at thetaLid), gBottom from node 0 to ambient (theta 0). Returns temperature rises. */
function solveChain(gUp: number[], gTop: number, gBottom: number, power: number[], thetaLid: number): number[] {
  const n = power.length;
  // Tridiagonal: a[i] theta[i-1] + b[i] theta[i] + c[i] theta[i+1] = d[i]
  const cp = new Array<number>(n);
  const dp = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const gDown = i === 0 ? gBottom : gUp[i - 1]!;
    const gU = i === n - 1 ? gTop : gUp[i]!;
    const a = i === 0 ? 0 : -gDown;
    const b = gDown + gU;
    const c = i === n - 1 ? 0 : -gU;
    const d = power[i]! + (i === n - 1 ? gTop * thetaLid : 0);
    const denom = b - a * (i === 0 ? 0 : cp[i - 1]!);
    cp[i] = c / denom;
    dp[i] = (d - a * (i === 0 ? 0 : dp[i - 1]!)) / denom;
  }
  const theta = new Array<number>(n);
  theta[n - 1] = dp[n - 1]!;
  for (let i = n - 2; i >= 0; i--) theta[i] = dp[i]! - cp[i]! * theta[i + 1]!;
  return theta;
}

export function solveThermal(net: ThermalNetwork): ThermalSolution {
  return solveThermalCases(net, [net.columns.map((c) => c.layers.map((l) => l.powerW))])[0]!;
}

/**
 * Solves one network under several power assignments: cases[s][c][l] is the power of layer l of
 * column c in case s (the layers' own powerW are ignored). The conductances and the lid response are
 * computed once; each solution equals solveThermal of the network carrying that case's powers.
 */
export function solveThermalCases(net: ThermalNetwork, cases: readonly (readonly (readonly number[])[])[]): ThermalSolution[] {
  const totalArea = net.columns.reduce((s, c) => s + c.count * c.areaMm2, 0);
  const lidHalfR = halfR(net.lid.thicknessUm, net.lid.conductivityWPerMK, totalArea);
  const rLidToAmb = lidHalfR + net.sinkResistanceKPerW;

  type Prep = { gUp: number[]; gTop: number; gBottom: number; b: number[] };
  const preps: Prep[] = [];
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
    const b = solveChain(gUp, gTop, gBottom, new Array<number>(n).fill(0), 1);
    den += col.count * gTop * (1 - b[n - 1]!);
    preps.push({ gUp, gTop, gBottom, b });
  }
  return cases.map((powers) => {
    let num = 0; // sum count * gTop * thetaA_top
    const as: number[][] = [];
    for (let ci = 0; ci < net.columns.length; ci++) {
      const col = net.columns[ci]!;
      const p = preps[ci]!;
      const power = [...powers[ci]!, 0];
      const a = solveChain(p.gUp, p.gTop, p.gBottom, power, 0);
      num += col.count * p.gTop * a[a.length - 1]!;
      as.push(a);
    }
    const thetaLid = num / den;
    let boardHeatW = 0;
    const columns = net.columns.map((col, ci) => {
      const p = preps[ci]!;
      const a = as[ci]!;
      const theta = a.map((ta, i) => ta + p.b[i]! * thetaLid);
      boardHeatW += col.count * p.gBottom * theta[0]!;
      const layers = col.layers.map((l, i) => ({ name: l.name, tempC: net.ambientC + theta[i]!, powerW: powers[ci]![i]! }));
      return { name: col.name, count: col.count, layers, timC: net.ambientC + theta[theta.length - 1]! };
    });
    return { columns, lidC: net.ambientC + thetaLid, sinkHeatW: thetaLid / rLidToAmb, boardHeatW };
  });
}
