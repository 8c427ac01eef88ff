// `strata eval`'s readable report (src/cli/eval.ts): what the breakdown's last column shows.
import { describe, expect, it } from 'vitest';
import { opNote, renderEval } from '../src/cli/eval.js';
import type { PhaseResult } from '../src/model/evaluate.js';
import { loadSystem, run } from './helpers.js';

type Op = PhaseResult['breakdown'][number];
const comm = (networkS: number, hiddenS: number): Op => ({
  name: 'tp.ffn.all-reduce', kind: 'collective', algorithm: 'ring', count: 1, timeS: networkS - Math.max(0, hiddenS), bound: 'network',
  computeS: 0, memoryS: 0, sramS: 0, networkS, hiddenS, overheadS: 0, flops: 0, dramBytes: 0, energyJ: 0, utilisation: 1, waves: 1,
});

describe('eval report: hidden communication time', () => {
  it('shows the hidden time only when it is more than 1e-9 of the collective\'s network time', () => {
    expect(opNote(comm(1e-3, 2.7e-19))).toBe('ring'); // float noise of the overlap arithmetic
    expect(opNote(comm(1e-3, -1.4e-19))).toBe('ring'); // of either sign
    expect(opNote(comm(1e-3, 1e-12))).toBe('ring'); // exactly 1e-9 of it: not more
    expect(opNote(comm(1e-3, 0))).toBe('ring');
    expect(opNote(comm(1e-3, 2.5e-4))).toBe('ring, 0.2500 ms hidden');
    expect(opNote(comm(1e-3, 1.1e-12))).toMatch(/^ring, 1\.100e-9 ms hidden$/);
    const { hiddenS: _h, ...noHidden } = comm(1e-3, 0);
    expect(opNote(noHidden as Op)).toBe('ring');
  });

  it('a TP8 decode on NVLS shows no float-noise hidden time, and prefill still shows the overlap it hides', () => {
    const r = run(loadSystem('h100-sxm'), 'llama-3-70b', { batch: 64, inputTokens: 1024, outputTokens: 256, mapping: { tp: 8, pp: 1, dp: 1, sp: 1, ep: 1 } });
    // The model's decode collectives carry |hiddenS| ~1e-16 of float noise here: the report must not print it.
    const noisy = r.decode.breakdown.filter((o) => o.kind === 'collective' && o.hiddenS !== undefined && o.hiddenS !== 0 && Math.abs(o.hiddenS) <= 1e-9 * o.networkS);
    expect(noisy.length).toBeGreaterThan(0);
    const text = renderEval(r);
    expect(text).not.toMatch(/e-\d+ ms hidden/);
    expect(text).not.toMatch(/-[\d.]+ ms hidden/);
    const real = r.prefill.breakdown.filter((o) => o.kind === 'collective' && (o.hiddenS ?? 0) > 1e-9 * o.networkS);
    expect(real.length).toBeGreaterThan(0);
    for (const o of real) expect(text).toContain(opNote(o));
    expect(text).toMatch(/in-switch, [\d.]+ ms hidden/);
  });
});

describe('eval report: thermal runaway', () => {
  it('says THERMAL RUNAWAY when the leakage-temperature iteration diverged, and only then', () => {
    // hb3d-16l with a 1 K/W heat sink: no steady state even at the lowest clock (found by an audit:
    // the report printed 19 kW and 13,000 C as if they were an operating point).
    const hot = loadSystem('hb3d-16l');
    hot.package.thermal.sinkResistanceKPerW = 1.0;
    const r = run(hot, 'llama-3-8b', { batch: 32 });
    expect(r.thermal.runaway).toBe(true);
    expect(r.feasible).toBe(false);
    expect(renderEval(r)).toMatch(/THERMAL RUNAWAY at clock 0\.050: .*not an operating point/);
    expect(renderEval(run(loadSystem('hb3d-16l'), 'llama-3-8b', { batch: 32 }))).not.toMatch(/RUNAWAY/);
  });
});
