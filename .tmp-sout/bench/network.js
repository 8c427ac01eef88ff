// Benchmark: collective evaluations per second (median of 5 runs), with the machine it ran on.
// Run after `tsc`: node dist/bench/network.js
import os from 'node:os';
import { collectiveCost, parseNetwork } from '../src/model/network.js';
const RUNS = 5;
const TARGET_MS = 400; // per run
const dgx = parseNetwork([
    { name: 'nvlink', topology: 'switch', size: 8, linkBandwidthGBps: 25, linksPerDevice: 18, hopLatencyUs: 0.5, startupLatencyUs: 3, energyPJPerBit: 1.3, inSwitchReduction: true, efficiency: 0.85 },
    { name: 'infiniband', topology: 'switch', size: 128, linkBandwidthGBps: 50, linksPerDevice: 1, hopLatencyUs: 1, startupLatencyUs: 5, energyPJPerBit: 10, efficiency: 0.9 },
]);
const torus = parseNetwork([
    { name: 'chiplets', topology: 'mesh2d', size: 4, linkBandwidthGBps: 500, linksPerDevice: 4, hopLatencyUs: 0.05, startupLatencyUs: 1, energyPJPerBit: 0.5 },
    { name: 'ici', topology: 'torus2d', size: 64, dims: [8, 8], linkBandwidthGBps: 100, linksPerDevice: 4, hopLatencyUs: 1, startupLatencyUs: 4, energyPJPerBit: 5 },
]);
const cases = [
    { label: 'all-reduce, 2 levels (switch 8 x switch 2)', kind: 'all-reduce', span: [8, 2], net: dgx },
    { label: 'all-reduce, 1 level (switch 8)', kind: 'all-reduce', span: [8], net: dgx },
    { label: 'all-reduce, 2 levels (mesh 4 x torus 8x8)', kind: 'all-reduce', span: [4, 64], net: torus },
    { label: 'all-to-all, 2 levels (switch 8 x switch 16)', kind: 'all-to-all', span: [8, 16], net: dgx },
    { label: 'all-gather, 2 levels (switch 8 x switch 4)', kind: 'all-gather', span: [8, 4], net: dgx },
];
// Message sizes from 4 KiB to 1 GiB so that different algorithms win.
const SIZES = Array.from({ length: 16 }, (_, i) => 4096 * 2 ** (i * 1.2));
function run(c) {
    let calls = 0, sink = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < TARGET_MS) {
        for (let r = 0; r < 1000; r++) {
            sink += collectiveCost(c.kind, SIZES[r & 15], c.span, c.net).timeS;
        }
        calls += 1000;
        t = performance.now();
    }
    if (!(sink > 0))
        throw new Error('unexpected result');
    return calls / ((t - t0) / 1000);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`strata bench/network: collectiveCost evaluations per second (median of ${RUNS} runs of ${TARGET_MS} ms)`);
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown cpu'} (${os.cpus().length} cpus), node ${process.version}, ${os.platform()} ${os.arch()}`);
for (const c of cases) {
    run(c); // warm-up
    const rates = [];
    for (let i = 0; i < RUNS; i++)
        rates.push(run(c));
    console.log(`  ${c.label.padEnd(46)} ${(median(rates) / 1e6).toFixed(2).padStart(6)} M calls/s`);
}
//# sourceMappingURL=network.js.map