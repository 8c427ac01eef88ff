// Compact steady-state thermal resistance network of one package (DESIGN 2.4). Pure: no I/O.
//
// The package is a set of columns (a die stack each: a compute die with DRAM on it, or a compute die
// and HBM stacks beside it). Each column is a 1D chain of layers, bottom to top, then a TIM layer.
// All columns share the lid, which goes through the heat sink to ambient. Optionally each column
// also loses heat downwards through substrate and board. Every layer is one node at its centre;
// the resistance between adjacent nodes is the sum of their half-thickness resistances t/(2kA).
// Chains are solved by the Thomas algorithm (tridiagonal) with superposition on the lid temperature,
// so the solve is O(layers) and exact for this network.
/** Half-layer conductive resistance t/(2kA) in K/W (t in um, A in mm^2). */
function halfR(thicknessUm, k, areaMm2) {
    return (thicknessUm * 1e-6) / (2 * k * areaMm2 * 1e-6);
}
/** Solves a chain: nodes 0..n-1, conductance gUp[i] between i and i+1, gTop from n-1 to the lid
 *  (held at thetaLid), gBottom from node 0 to ambient (theta 0). Returns temperature rises. */
function solveChain(gUp, gTop, gBottom, power, thetaLid) {
    const n = power.length;
    // Tridiagonal: a[i] theta[i-1] + b[i] theta[i] + c[i] theta[i+1] = d[i]
    const cp = new Array(n);
    const dp = new Array(n);
    for (let i = 0; i < n; i++) {
        const gDown = i === 0 ? gBottom : gUp[i - 1];
        const gU = i === n - 1 ? gTop : gUp[i];
        const a = i === 0 ? 0 : -gDown;
        const b = gDown + gU;
        const c = i === n - 1 ? 0 : -gU;
        const d = power[i] + (i === n - 1 ? gTop * thetaLid : 0);
        const denom = b - a * (i === 0 ? 0 : cp[i - 1]);
        cp[i] = c / denom;
        dp[i] = (d - a * (i === 0 ? 0 : dp[i - 1])) / denom;
    }
    const theta = new Array(n);
    theta[n - 1] = dp[n - 1];
    for (let i = n - 2; i >= 0; i--)
        theta[i] = dp[i] - cp[i] * theta[i + 1];
    return theta;
}
export function solveThermal(net) {
    const totalArea = net.columns.reduce((s, c) => s + c.count * c.areaMm2, 0);
    const rLidToAmb = halfR(net.lid.thicknessUm, net.lid.conductivityWPerMK, totalArea) + net.sinkResistanceKPerW;
    const preps = [];
    let num = 0; // sum count * gTop * thetaA_top
    let den = 1 / rLidToAmb; // + sum count * gTop * (1 - thetaB_top)
    for (const col of net.columns) {
        const nodes = [
            ...col.layers,
            { name: 'tim', thicknessUm: net.tim.thicknessUm, conductivityWPerMK: net.tim.conductivityWPerMK, powerW: 0 },
        ];
        const hr = nodes.map((l) => halfR(l.thicknessUm, l.conductivityWPerMK, l.areaMm2 ?? col.areaMm2));
        const gUp = [];
        for (let i = 0; i + 1 < nodes.length; i++)
            gUp.push(1 / (hr[i] + hr[i + 1]));
        const gTop = 1 / (hr[nodes.length - 1] + halfR(net.lid.thicknessUm, net.lid.conductivityWPerMK, totalArea));
        // Board path: the package-level resistance is shared among columns in proportion to area.
        const gBottom = net.boardResistanceKPerW === null
            ? 0
            : 1 / (net.boardResistanceKPerW * (totalArea / col.areaMm2) + hr[0]);
        const power = nodes.map((l) => l.powerW);
        const a = solveChain(gUp, gTop, gBottom, power, 0);
        const b = solveChain(gUp, gTop, gBottom, new Array(nodes.length).fill(0), 1);
        const top = nodes.length - 1;
        num += col.count * gTop * a[top];
        den += col.count * gTop * (1 - b[top]);
        preps.push({ nodes, gUp, gTop, gBottom, a, b });
    }
    const thetaLid = num / den;
    let boardHeatW = 0;
    const columns = net.columns.map((col, ci) => {
        const p = preps[ci];
        const theta = p.a.map((ta, i) => ta + p.b[i] * thetaLid);
        boardHeatW += col.count * p.gBottom * theta[0];
        const layers = col.layers.map((l, i) => ({ name: l.name, tempC: net.ambientC + theta[i], powerW: l.powerW }));
        return { name: col.name, count: col.count, layers, timC: net.ambientC + theta[theta.length - 1] };
    });
    return { columns, lidC: net.ambientC + thetaLid, sinkHeatW: thetaLid / rLidToAmb, boardHeatW };
}
