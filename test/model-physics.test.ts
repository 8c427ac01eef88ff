// Physical sanity of the performance model, checked against hand-computed cases: roofline lower
// bounds, the thermal network against series-resistance sums, energy balance, monotonicity, the
// 3D-DRAM bandwidth limits (vertical link, activation caps, recharge hiding, Little's law, refresh),
// throttling, memory footprint and decode averaging (DESIGN 2.2-2.4).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { solveThermal, type ThermalColumn, type ThermalNetwork } from '../src/model/thermal.js';
import { prefillSteps, staticPowerFloorW } from '../src/model/evaluate.js';
import { capacityBytes, effectiveBandwidth, verticalLinks } from '../src/model/memory.js';
import type { MemorySpec, SystemSpec } from '../src/model/hardware/schema.js';
import type { Precision } from '../src/model/types.js';
import {
  BF16,
  FP8,
  allPrec,
  bytesOf,
  chipletFor,
  llamaFigures,
  loadModel,
  loadSystem,
  modelJson,
  peakFlopsOf,
  relErr,
  reparse,
  run,
  systemJson,
  throttlingSinkFactor,
  fcRuns,
} from './helpers.js';

// ------------------------------------------------------------------------------------------------
// Roofline lower bounds
// ------------------------------------------------------------------------------------------------

describe('roofline lower bounds', () => {
  const decodeCases: { sys: string; model: string; p: Precision; batch: number; input: number }[] = [
    { sys: 'h100-sxm', model: 'llama-3-8b', p: 'bf16', batch: 1, input: 128 },
    { sys: 'h100-sxm', model: 'llama-3-8b', p: 'fp8', batch: 32, input: 2048 },
    { sys: 'h100-sxm', model: 'llama-2-7b', p: 'bf16', batch: 8, input: 1024 },
    { sys: 'hb3d-16l', model: 'llama-3-70b', p: 'fp8', batch: 1, input: 512 },
    { sys: 'hb3d-16l', model: 'llama-3-8b', p: 'bf16', batch: 64, input: 4096 },
    { sys: 'lamosys-pd', model: 'llama-3-8b', p: 'fp8', batch: 16, input: 1024 },
    { sys: 'lamosys-pd', model: 'llama-2-7b', p: 'bf16', batch: 2, input: 256 },
  ];

  for (const c of decodeCases) {
    it(`decode step >= (weights + KV read) / peak bandwidth: ${c.sys} ${c.model} ${c.p} b${c.batch} ctx${c.input}`, () => {
      const sys = loadSystem(c.sys);
      const f = llamaFigures(modelJson(c.model));
      const r = run(sys, c.model, { precision: allPrec(c.p), batch: c.batch, inputTokens: c.input, outputTokens: 64 });
      // Every decode step at context >= input reads all non-embedding weights once and the K/V of
      // at least input+1 positions for every sequence.
      const bytes = f.decodeReadParams * bytesOf(c.p) + c.batch * (c.input + 1) * f.kvElemsPerToken * bytesOf(c.p);
      const peak = r.memory.bandwidth.decode.peakGBps * 1e9;
      // Hand-check the peak itself: channels x bus width x pin rate of the connected layers.
      const mem = chipletFor(sys, 'decode').memory;
      const handPeak = (mem.stacks * mem.connectedLayers * mem.channelsPerLayer * mem.busWidthBitsPerChannel * mem.dataRateGbpsPerPin) / 8;
      expect(relErr(r.memory.bandwidth.decode.peakGBps, handPeak)).toBeLessThan(1e-12);
      expect(r.decode.stepTimeS).toBeGreaterThanOrEqual(bytes / peak);
      expect(r.decode.dramBytes).toBeGreaterThanOrEqual(bytes * (1 - 1e-12));
    });
  }

  it('batch-1 decode on a GPU is memory-bound: within 1.6x of the bandwidth roofline', () => {
    const sys = loadSystem('h100-sxm');
    const f = llamaFigures(modelJson('llama-3-8b'));
    const r = run(sys, 'llama-3-8b', { precision: BF16, batch: 1, inputTokens: 128, outputTokens: 64 });
    const bytes = f.decodeReadParams * 2 + 1 * 129 * f.kvElemsPerToken * 2;
    const t = bytes / (r.memory.bandwidth.decode.peakGBps * 1e9);
    expect(r.decode.stepTimeS).toBeGreaterThan(t);
    expect(r.decode.stepTimeS).toBeLessThan(1.6 * t);
  });

  const prefillCases: { sys: string; model: string; p: Precision; batch: number; input: number }[] = [
    { sys: 'h100-sxm', model: 'llama-3-8b', p: 'bf16', batch: 4, input: 2048 },
    { sys: 'h100-sxm', model: 'llama-3-8b', p: 'fp8', batch: 1, input: 8000 },
    { sys: 'hb3d-16l', model: 'llama-3-70b', p: 'fp8', batch: 2, input: 1024 },
    { sys: 'hb3d-16l', model: 'llama-2-7b', p: 'fp4', batch: 8, input: 512 },
    { sys: 'lamosys-pd', model: 'llama-3-8b', p: 'bf16', batch: 8, input: 1024 },
  ];
  for (const c of prefillCases) {
    it(`prefill step >= FLOPs / peak FLOP/s: ${c.sys} ${c.model} ${c.p} b${c.batch} in${c.input}`, () => {
      const sys = loadSystem(c.sys);
      const f = llamaFigures(modelJson(c.model));
      const r = run(sys, c.model, { precision: allPrec(c.p), batch: c.batch, inputTokens: c.input, outputTokens: 16 });
      const flops = f.prefillFlopsLowerBound(c.batch, c.input);
      const peak = peakFlopsOf(chipletFor(sys, 'prefill'), c.p);
      expect(r.prefill.flops).toBeGreaterThanOrEqual(flops * (1 - 1e-12));
      // The nominal peak bounds the time whether or not the clock is throttled.
      expect(r.prefill.stepTimeS).toBeGreaterThanOrEqual(flops / peak);
      // A long prefill is compute-bound: the matrix efficiency (and any throttling), not the bound,
      // sets the gap.
      expect(r.prefill.stepTimeS).toBeLessThan((2.5 * flops) / (peak * r.thermal.throttleFactor));
    });
  }

  it('peak FLOP/s used by the model scales with the precision table (fp8 prefill faster than bf16 when compute-bound)', () => {
    const sys = loadSystem('h100-sxm');
    const a = run(sys, 'llama-3-8b', { precision: BF16, batch: 4, inputTokens: 2048, outputTokens: 16 });
    const b = run(sys, 'llama-3-8b', { precision: FP8, batch: 4, inputTokens: 2048, outputTokens: 16 });
    expect(b.prefill.stepTimeS).toBeLessThan(0.7 * a.prefill.stepTimeS);
  });

  it('a float format never runs on integer units: fp8 and fp4 on A100 (INT8/INT4 tensor cores, no FP8) stay under its BF16 peak', () => {
    const sys = loadSystem('a100-sxm-80gb');
    const c = chipletFor(sys, 'prefill');
    expect(c.compute.macsPerCyclePerCore.fp8).toBeUndefined();
    expect(c.compute.macsPerCyclePerCore.int8).toBeDefined();
    const bf16Peak = peakFlopsOf(c, 'bf16');
    for (const p of ['fp8', 'fp4'] as const) {
      const r = run(sys, 'llama-3-8b', { precision: { weights: p, activations: p, kvCache: p }, batch: 8, inputTokens: 1024, outputTokens: 16 });
      // The model's FLOPs over the prefill step: at most the BF16 peak (the INT8 units would give twice it).
      expect(r.prefill.flops / r.prefill.stepTimeS).toBeLessThan(bf16Peak);
    }
    // An integer format may still use the integer units.
    const i8 = run(sys, 'llama-3-8b', { precision: { weights: 'int8', activations: 'int8', kvCache: 'fp8' }, batch: 8, inputTokens: 1024, outputTokens: 16 });
    expect(i8.prefill.flops / i8.prefill.stepTimeS).toBeGreaterThan(bf16Peak);
  });
});

// ------------------------------------------------------------------------------------------------
// Thermal network
// ------------------------------------------------------------------------------------------------

/** Full-layer conductive resistance t/(kA) in K/W (t in um, A in mm^2: the 1e-6 factors cancel). */
const R = (tUm: number, k: number, aMm2: number) => tUm / (k * aMm2);

describe('thermal network (solveThermal)', () => {
  const tim = { thicknessUm: 50, conductivityWPerMK: 5 };
  const lid = { thicknessUm: 2000, conductivityWPerMK: 390 };

  it('one source at the bottom of a column, adiabatic bottom: T = ambient + P x series resistance to ambient', () => {
    const A = 400;
    const P = 173.5;
    const net: ThermalNetwork = {
      ambientC: 31,
      columns: [
        {
          name: 'c',
          count: 1,
          areaMm2: A,
          layers: [
            { name: 'logic', thicknessUm: 100, conductivityWPerMK: 120, powerW: P },
            { name: 'bond0', thicknessUm: 3, conductivityWPerMK: 20, powerW: 0 },
            { name: 'dram1', thicknessUm: 40, conductivityWPerMK: 120, powerW: 0, areaMm2: 380 },
            { name: 'bond1', thicknessUm: 3, conductivityWPerMK: 20, powerW: 0 },
            { name: 'dram2', thicknessUm: 40, conductivityWPerMK: 120, powerW: 0, areaMm2: 380 },
          ],
        },
      ],
      tim,
      lid,
      sinkResistanceKPerW: 0.07,
      boardResistanceKPerW: null,
    };
    const s = solveThermal(net);
    // Nodes sit at layer centres: from the source node, half of its own layer, every full layer
    // above it, the TIM, the lid (half below its node + half above) and the sink.
    const above = R(3, 20, A) + R(40, 120, 380) + R(3, 20, A) + R(40, 120, 380);
    const rSeries = R(100, 120, A) / 2 + above + R(50, 5, A) + R(2000, 390, A) + 0.07;
    const layers = s.columns[0]!.layers;
    expect(relErr(layers[0]!.tempC, 31 + P * rSeries)).toBeLessThan(1e-9);
    // The unpowered layers above: series resistance from their own centres.
    expect(relErr(layers[2]!.tempC, 31 + P * (R(40, 120, 380) / 2 + R(3, 20, A) + R(40, 120, 380) + R(50, 5, A) + R(2000, 390, A) + 0.07))).toBeLessThan(1e-9);
    expect(relErr(layers[4]!.tempC, 31 + P * (R(40, 120, 380) / 2 + R(50, 5, A) + R(2000, 390, A) + 0.07))).toBeLessThan(1e-9);
    expect(relErr(s.columns[0]!.timC, 31 + P * (R(50, 5, A) / 2 + R(2000, 390, A) + 0.07))).toBeLessThan(1e-9);
    expect(relErr(s.lidC, 31 + P * (R(2000, 390, A) / 2 + 0.07))).toBeLessThan(1e-9);
    expect(relErr(s.sinkHeatW, P)).toBeLessThan(1e-12);
    expect(s.boardHeatW).toBe(0);
    // Temperatures fall monotonically from the source towards the sink.
    for (let i = 1; i < layers.length; i++) expect(layers[i]!.tempC).toBeLessThan(layers[i - 1]!.tempC);
  });

  it('a source in the middle of an adiabatic-bottom column: the layers below it sit at its temperature', () => {
    const A = 300;
    const P = 40;
    const s = solveThermal({
      ambientC: 25,
      columns: [
        {
          name: 'c',
          count: 1,
          areaMm2: A,
          layers: [
            { name: 'a', thicknessUm: 200, conductivityWPerMK: 100, powerW: 0 },
            { name: 'b', thicknessUm: 50, conductivityWPerMK: 10, powerW: P },
            { name: 'c', thicknessUm: 80, conductivityWPerMK: 60, powerW: 0 },
          ],
        },
      ],
      tim,
      lid,
      sinkResistanceKPerW: 0.2,
      boardResistanceKPerW: null,
    });
    const ls = s.columns[0]!.layers;
    const tb = 25 + P * (R(50, 10, A) / 2 + R(80, 60, A) + R(50, 5, A) + R(2000, 390, A) + 0.2);
    expect(relErr(ls[1]!.tempC, tb)).toBeLessThan(1e-9);
    expect(relErr(ls[0]!.tempC, tb)).toBeLessThan(1e-9);
  });

  it('with a board path, one layer: T = ambient + P x (R_up || R_down) and the heat splits by conductance', () => {
    const A = 500;
    const P = 300;
    const s = solveThermal({
      ambientC: 35,
      columns: [{ name: 'c', count: 1, areaMm2: A, layers: [{ name: 'logic', thicknessUm: 300, conductivityWPerMK: 120, powerW: P }] }],
      tim,
      lid,
      sinkResistanceKPerW: 0.1,
      boardResistanceKPerW: 2,
    });
    const hr = R(300, 120, A) / 2;
    const up = hr + R(50, 5, A) + R(2000, 390, A) + 0.1;
    const down = 2 + hr;
    const rise = (P * up * down) / (up + down);
    expect(relErr(s.columns[0]!.layers[0]!.tempC, 35 + rise)).toBeLessThan(1e-9);
    expect(relErr(s.boardHeatW, rise / down)).toBeLessThan(1e-9);
    expect(relErr(s.sinkHeatW, rise / up)).toBeLessThan(1e-9);
  });

  it('several sources and columns: sinkHeatW + boardHeatW equals the total power', () => {
    const cols: ThermalColumn[] = [
      {
        name: 'logic',
        count: 1,
        areaMm2: 800,
        layers: [{ name: 'logic', thicknessUm: 300, conductivityWPerMK: 120, powerW: 520 }],
      },
      {
        name: 'hbm',
        count: 5,
        areaMm2: 110,
        layers: Array.from({ length: 8 }, (_, i) => ({ name: `dram${i + 1}`, thicknessUm: 50, conductivityWPerMK: 120, powerW: 1.7 + 0.1 * i })),
      },
    ];
    for (const board of [null, 2, 0.3]) {
      const s = solveThermal({ ambientC: 35, columns: cols, tim, lid, sinkResistanceKPerW: 0.045, boardResistanceKPerW: board });
      const total = 520 + 5 * cols[1]!.layers.reduce((a, l) => a + l.powerW, 0);
      expect(relErr(s.sinkHeatW + s.boardHeatW, total)).toBeLessThan(1e-9);
      if (board === null) expect(s.boardHeatW).toBe(0);
      else expect(s.boardHeatW).toBeGreaterThan(0);
      // Lid temperature = ambient + sink heat x (half lid + sink).
      const totalArea = 800 + 5 * 110;
      expect(relErr(s.lidC - 35, s.sinkHeatW * (R(2000, 390, totalArea) / 2 + 0.045))).toBeLessThan(1e-9);
    }
  });

  // Random stacks for the property tests.
  const layerArb = fc.record({
    thicknessUm: fc.double({ min: 1, max: 800, noNaN: true }),
    conductivityWPerMK: fc.double({ min: 0.5, max: 400, noNaN: true }),
    powerW: fc.double({ min: 0, max: 300, noNaN: true }),
    area: fc.option(fc.double({ min: 20, max: 900, noNaN: true }), { nil: undefined }),
  });
  const columnArb = fc.record({
    count: fc.integer({ min: 1, max: 6 }),
    areaMm2: fc.double({ min: 20, max: 900, noNaN: true }),
    layers: fc.array(layerArb, { minLength: 1, maxLength: 8 }),
  });
  const netArb = fc.record({
    ambientC: fc.double({ min: -20, max: 60, noNaN: true }),
    columns: fc.array(columnArb, { minLength: 1, maxLength: 3 }),
    tim: fc.record({ thicknessUm: fc.double({ min: 5, max: 200, noNaN: true }), conductivityWPerMK: fc.double({ min: 1, max: 50, noNaN: true }) }),
    lid: fc.record({ thicknessUm: fc.double({ min: 200, max: 4000, noNaN: true }), conductivityWPerMK: fc.double({ min: 50, max: 400, noNaN: true }) }),
    sinkResistanceKPerW: fc.double({ min: 0.01, max: 2, noNaN: true }),
    boardResistanceKPerW: fc.option(fc.double({ min: 0.1, max: 20, noNaN: true }), { nil: null }),
  });
  type NetIn = typeof netArb extends fc.Arbitrary<infer T> ? T : never;
  const toNet = (n: NetIn): ThermalNetwork => ({
    ...n,
    columns: n.columns.map((c, ci) => ({
      name: `col${ci}`,
      count: c.count,
      areaMm2: c.areaMm2,
      layers: c.layers.map((l, li) => ({
        name: `l${li}`,
        thicknessUm: l.thicknessUm,
        conductivityWPerMK: l.conductivityWPerMK,
        powerW: l.powerW,
        ...(l.area !== undefined ? { areaMm2: l.area } : {}),
      })),
    })),
  });
  const temps = (s: ReturnType<typeof solveThermal>) => [...s.columns.flatMap((c) => [...c.layers.map((l) => l.tempC), c.timC]), s.lidC];

  it('property: energy balance, no layer below ambient, linear in power', () => {
    fc.assert(
      fc.property(netArb, (n) => {
        const net = toNet(n);
        const s = solveThermal(net);
        const total = net.columns.reduce((a, c) => a + c.count * c.layers.reduce((b, l) => b + l.powerW, 0), 0);
        expect(Math.abs(s.sinkHeatW + s.boardHeatW - total)).toBeLessThanOrEqual(1e-9 * Math.max(1, total));
        for (const t of temps(s)) expect(t).toBeGreaterThanOrEqual(net.ambientC - 1e-9);
        // Doubling every source doubles every temperature rise (the network is linear).
        const s2 = solveThermal({ ...net, columns: net.columns.map((c) => ({ ...c, layers: c.layers.map((l) => ({ ...l, powerW: 2 * l.powerW })) })) });
        const t1 = temps(s);
        const t2 = temps(s2);
        t1.forEach((t, i) => expect(Math.abs(t2[i]! - net.ambientC - 2 * (t - net.ambientC))).toBeLessThanOrEqual(1e-9 * Math.max(1, t - net.ambientC)));
      }),
      { numRuns: fcRuns(200) },
    );
  });

  it('property: more power in any layer makes every layer hotter (monotone), the source strictly', () => {
    fc.assert(
      fc.property(netArb, fc.nat(), fc.nat(), fc.double({ min: 0.5, max: 200, noNaN: true }), (n, ci, li, dP) => {
        const net = toNet(n);
        const c = ci % net.columns.length;
        const l = li % net.columns[c]!.layers.length;
        const before = solveThermal(net);
        const hotter = structuredClone(net);
        hotter.columns[c]!.layers[l]!.powerW += dP;
        const after = solveThermal(hotter);
        const t0 = temps(before);
        const t1 = temps(after);
        t0.forEach((t, i) => expect(t1[i]!).toBeGreaterThanOrEqual(t - 1e-9 * Math.max(1, Math.abs(t))));
        expect(after.columns[c]!.layers[l]!.tempC).toBeGreaterThan(before.columns[c]!.layers[l]!.tempC);
        expect(after.lidC).toBeGreaterThan(before.lidC);
      }),
      { numRuns: fcRuns(200) },
    );
  });

  it('property: a worse heat sink makes every layer hotter', () => {
    fc.assert(
      fc.property(netArb, fc.double({ min: 1.01, max: 10, noNaN: true }), (n, f) => {
        const net = toNet(n);
        const a = temps(solveThermal(net));
        const b = temps(solveThermal({ ...net, sinkResistanceKPerW: net.sinkResistanceKPerW * f }));
        a.forEach((t, i) => expect(b[i]!).toBeGreaterThanOrEqual(t - 1e-9 * Math.max(1, Math.abs(t))));
      }),
      { numRuns: fcRuns(100) },
    );
  });

  it('logic under the DRAM heats the DRAM (solveThermal, same powers, both orders)', () => {
    const logic = { name: 'logic', thicknessUm: 100, conductivityWPerMK: 120, powerW: 300 };
    const dram = Array.from({ length: 8 }, (_, i) => ({ name: `dram${i + 1}`, thicknessUm: 40, conductivityWPerMK: 120, powerW: 2 }));
    const base = { ambientC: 35, tim, lid, sinkResistanceKPerW: 0.06, boardResistanceKPerW: 2 };
    const bottom = solveThermal({ ...base, columns: [{ name: 's', count: 1, areaMm2: 400, layers: [logic, ...dram] }] });
    const top = solveThermal({ ...base, columns: [{ name: 's', count: 1, areaMm2: 400, layers: [...dram, logic] }] });
    const maxDram = (s: typeof bottom) => Math.max(...s.columns[0]!.layers.filter((l) => l.name.startsWith('dram')).map((l) => l.tempC));
    const logicT = (s: typeof bottom) => s.columns[0]!.layers.find((l) => l.name === 'logic')!.tempC;
    expect(maxDram(bottom)).toBeGreaterThan(maxDram(top) + 1);
    expect(logicT(top)).toBeLessThan(logicT(bottom));
  });

  it('logic under the DRAM heats the DRAM (evaluate on hb3d-16l, logic-bottom vs logic-top)', () => {
    const bottom = loadSystem('hb3d-16l');
    expect(bottom.package.thermal.stackOrder).toBe('logic-bottom');
    const top = loadSystem('hb3d-16l');
    top.package.thermal.stackOrder = 'logic-top';
    const rb = run(bottom, 'llama-3-8b');
    const rt = run(top, 'llama-3-8b');
    expect(rb.thermal.throttleFactor).toBe(1);
    expect(rt.thermal.throttleFactor).toBe(1);
    expect(rb.thermal.maxDramC).toBeGreaterThan(rt.thermal.maxDramC);
    expect(rt.thermal.maxLogicC).toBeLessThan(rb.thermal.maxLogicC);
    // Every layer is reported, and each is above ambient.
    const m = bottom.package.chiplets[0]!.memory;
    expect(rb.thermal.layers.filter((l) => l.layer.startsWith('dram'))).toHaveLength(m.layers);
    for (const l of rb.thermal.layers) expect(l.tempC).toBeGreaterThan(bottom.package.thermal.ambientC);
  });
});

// ------------------------------------------------------------------------------------------------
// 3D DRAM bandwidth
// ------------------------------------------------------------------------------------------------

describe('evaluate reports every layer: the TIM of each column, the lid and the heat-sink base', () => {
  // With no board path all heat goes up. Above a column's top layer it crosses the TIM and the lid to
  // the lid's centre; all columns' heat then crosses the lid's upper half and the sink. Half-layer
  // resistances t / (2 k A) (t in m, A in m^2); the lid spans every column (count x area).
  const halfR = (tUm: number, k: number, aMm2: number) => (tUm * 1e-6) / (2 * k * aMm2 * 1e-6);
  for (const name of ['h100-sxm', 'hb3d-16l', 'lamosys-pd']) {
    it(`${name}, board path removed: hand series resistances give the TIM, lid and sink-base rows`, () => {
      const base = loadSystem(name);
      const sys = reparse({ ...base, package: { ...base.package, thermal: { ...base.package.thermal, boardResistanceKPerW: null } } });
      const th = sys.package.thermal;
      const r = run(sys, 'llama-3-8b', { batch: 8, inputTokens: 512, outputTokens: 64 });
      const rows = r.thermal.layers;
      // The columns of the model (thermal.ts): a stack per chiplet with DRAM on logic, else the logic
      // die and `stacks` HBM columns beside it.
      const cols = sys.package.chiplets.flatMap((c) =>
        c.memory.placement === 'on-logic'
          ? [{ name: `${c.name}:stack`, count: 1, areaMm2: c.compute.areaMm2 }]
          : [
              { name: `${c.name}:logic`, count: 1, areaMm2: c.compute.areaMm2 },
              { name: `${c.name}:hbm`, count: c.memory.stacks, areaMm2: c.memory.dieAreaMm2 },
            ],
      );
      const lidArea = cols.reduce((a, c) => a + c.count * c.areaMm2, 0);
      const lidHalf = halfR(th.lid.thicknessUm, th.lid.conductivityWPerMK, lidArea);
      // Row order: each column's layers then its TIM, then the package's lid and sink base.
      expect(rows.map((l) => `${l.column}/${l.layer}`).filter((k) => k.endsWith('/tim') || k.startsWith('package/'))).toEqual([
        ...cols.map((c) => `${c.name}/tim`),
        'package/lid',
        'package/sink-base',
      ]);
      let total = 0;
      const timOf = new Map<string, number>();
      for (const c of cols) {
        const own = rows.filter((l) => l.column === c.name);
        expect(own.at(-1)!.layer).toBe('tim');
        const layers = own.slice(0, -1);
        const q = layers.reduce((a, l) => a + l.powerW, 0); // one instance of the column
        total += c.count * q;
        timOf.set(c.name, own.at(-1)!.tempC);
        // TIM -> lid: the TIM's half and the lid's half.
        const lid = rows.find((l) => l.layer === 'lid')!.tempC;
        expect(relErr(own.at(-1)!.tempC - lid, q * (halfR(th.tim.thicknessUm, th.tim.conductivityWPerMK, c.areaMm2) + lidHalf))).toBeLessThan(1e-6);
        // Top layer -> TIM: the top layer's half and the TIM's half.
        const top = layers.at(-1)!;
        const tk = top.layer === 'logic' ? th.logicDie : top.layer.startsWith('dram') ? th.dramDie : th.bondLayer;
        const topArea = top.layer.startsWith('dram') && c.name.endsWith(':stack')
          ? sys.package.chiplets.find((x) => `${x.name}:stack` === c.name)!.memory.dieAreaMm2
          : c.areaMm2;
        expect(relErr(top.tempC - own.at(-1)!.tempC, q * (halfR(tk.thicknessUm, tk.conductivityWPerMK, topArea) + halfR(th.tim.thicknessUm, th.tim.conductivityWPerMK, c.areaMm2)))).toBeLessThan(1e-6);
      }
      const sinkBase = rows.find((l) => l.layer === 'sink-base')!.tempC;
      const lid = rows.find((l) => l.layer === 'lid')!.tempC;
      expect(lid).toBe(r.thermal.lidC);
      expect(relErr(sinkBase - th.ambientC, total * th.sinkResistanceKPerW)).toBeLessThan(1e-6);
      expect(relErr(lid - sinkBase, total * lidHalf)).toBeLessThan(1e-6);
      // Heat flows up: every TIM is between its column's top layer and the lid.
      for (const t of timOf.values()) expect(t).toBeGreaterThan(lid);
      expect(rows.filter((l) => ['tim', 'lid', 'sink-base'].includes(l.layer)).every((l) => l.powerW === 0)).toBe(true);
    });
  }

  it('with the board path (presets as shipped) the sink base is below the lid and above ambient, and TIMs above the lid', () => {
    const sys = loadSystem('lamosys-pd');
    const r = run(sys, 'llama-3-8b', { batch: 8, inputTokens: 512, outputTokens: 64 });
    const rows = r.thermal.layers;
    const lid = rows.find((l) => l.layer === 'lid')!.tempC;
    const sink = rows.find((l) => l.layer === 'sink-base')!.tempC;
    expect(sink).toBeLessThan(lid);
    expect(sink).toBeGreaterThan(sys.package.thermal.ambientC);
    const tims = rows.filter((l) => l.layer === 'tim');
    expect(tims.map((l) => l.column)).toEqual(['prefill:stack', 'decode:stack']);
    for (const t of tims) expect(t.tempC).toBeGreaterThan(lid);
  });
});

describe('3D-DRAM effective bandwidth (memory.ts)', () => {
  const hb3d = () => loadSystem('hb3d-16l');
  const memOf = (s: SystemSpec) => s.package.chiplets[0]!.memory;
  const bw = (s: SystemSpec, refreshDoubled = false, inflightKB?: number) => {
    const c = s.package.chiplets[0]!;
    return effectiveBandwidth(c.memory, c.memory.stacks, (inflightKB ?? c.compute.memoryInflightKB) * 1024, c.compute.fabricLatencyNs, refreshDoubled);
  };
  const withMem = (edit: (m: MemorySpec) => void): SystemSpec => {
    const s = hb3d();
    edit(memOf(s));
    return reparse(s);
  };
  /** Hand column-command limit of one stack: channels x burst bytes / max(burst time, tCCD_S, tCCD_L/groups). */
  const handColumn = (m: MemorySpec) => {
    const chBytesPerNs = (m.busWidthBitsPerChannel * m.dataRateGbpsPerPin) / 8;
    const burst = (m.busWidthBitsPerChannel * m.burstLength) / 8;
    return (m.channelsPerLayer * m.connectedLayers * burst) / Math.max(burst / chBytesPerNs, m.tCCD_Sns, m.tCCD_Lns / m.bankGroups);
  };

  it('vertical link: hand-computed capacity, and connected layers beyond it add no bandwidth', () => {
    const area = 3; // mm2 of vertical links instead of 12: the link binds at a few connected layers
    const shrunk = (n: number) => withMem((m) => { m.vertical.areaMm2 = area; m.connectedLayers = n; });
    const m0 = memOf(shrunk(1));
    const links = Math.floor(((area * 1e6) / (m0.vertical.pitchUm ** 2)) * m0.vertical.dataFraction);
    expect(verticalLinks(m0)).toBe(links);
    const vGBps = (links * m0.vertical.linkRateGbps) / 8;
    expect(relErr(bw(shrunk(1)).verticalGBps, vGBps)).toBeLessThan(1e-12);

    const eff: number[] = [];
    let bindsAt = 0;
    for (let n = 1; n <= 16; n++) {
      const s = shrunk(n);
      const b = bw(s);
      eff.push(b.effectiveGBps);
      const col = handColumn(memOf(s));
      expect(relErr(b.columnGBps, col)).toBeLessThan(1e-12);
      if (bindsAt === 0 && col >= vGBps) bindsAt = n;
      if (col > vGBps) expect(b.limiter).toBe('vertical');
    }
    expect(bindsAt).toBeGreaterThan(2);
    expect(bindsAt).toBeLessThan(16);
    // Grows while the connected channels are the limit ...
    for (let n = 2; n < bindsAt; n++) expect(eff[n - 1]!).toBeGreaterThan(eff[n - 2]! * 1.01);
    // ... and is flat once the vertical link binds.
    for (let n = bindsAt + 1; n <= 16; n++) expect(eff[n - 1]).toBe(eff[bindsAt - 1]);
    const c = memOf(shrunk(16));
    const refresh = 1 - c.tRFCns / c.tREFIns;
    expect(relErr(eff[15]!, vGBps * refresh * c.controllerEfficiency)).toBeLessThan(1e-12);
  });

  it('stack activation cap: connected layers beyond it add no bandwidth', () => {
    const cap = 64;
    const at = (n: number) => withMem((m) => { m.stackActivationsPerFAW = cap; m.connectedLayers = n; });
    const eff: number[] = [];
    let bindsAt = 0;
    for (let n = 1; n <= 16; n++) {
      const s = at(n);
      const m = memOf(s);
      const b = bw(s);
      const bytesPerAct = Math.min(m.rowSizeBytes, m.accessBytes / (1 - m.rowHitRate));
      const stackAct = (cap / m.tFAWns) * bytesPerAct;
      expect(relErr(b.stackActivationGBps, stackAct)).toBeLessThan(1e-12);
      eff.push(b.effectiveGBps);
      if (bindsAt === 0 && handColumn(m) >= stackAct) bindsAt = n;
      if (handColumn(m) > stackAct) expect(b.limiter).toBe('stack-activation');
    }
    expect(bindsAt).toBeGreaterThan(1);
    for (let n = 2; n < bindsAt; n++) expect(eff[n - 1]!).toBeGreaterThan(eff[n - 2]!);
    for (let n = bindsAt + 1; n <= 16; n++) expect(eff[n - 1]).toBe(eff[bindsAt - 1]);
  });

  it('recharge hiding: a spare layer (m > n) raises the bank limit by (open + tRP) / open when banks bind', () => {
    // One bank per channel so that the bank limit binds; layers = n + 1 keeps the same number of
    // layer groups (floor(9/8) = 1), so only the hidden precharge differs.
    const mk = (layers: number) => withMem((m) => { m.banksPerChannel = 1; m.layers = layers; m.connectedLayers = 8; });
    const spare = bw(mk(9));
    const none = bw(mk(8));
    const m = memOf(mk(9));
    const acc = Math.min(m.rowSizeBytes, m.accessBytes / (1 - m.rowHitRate)) / m.accessBytes;
    const open = Math.max(m.tRASns, m.tRCDns + acc * m.tCCD_Lns);
    expect(none.limiter).toBe('bank');
    expect(spare.limiter).toBe('bank');
    expect(relErr(spare.bankGBps / none.bankGBps, (open + m.tRPns) / open)).toBeLessThan(1e-12);
    expect(spare.effectiveGBps).toBeGreaterThan(none.effectiveGBps);
    // Hand value of the bank limit with recharge hidden: channels x banks x bytes per ACT / tRAS-or-open.
    const bytesPerAct = acc * m.accessBytes;
    expect(relErr(spare.bankGBps, (m.channelsPerLayer * 8 * 1 * bytesPerAct) / open)).toBeLessThan(1e-12);
  });

  it("Little's law: halving the in-flight bytes halves the buffering limit (and the bandwidth when it binds)", () => {
    const s = hb3d();
    const full = bw(s, false, 64);
    const half = bw(s, false, 32);
    expect(relErr(half.bufferingGBps, full.bufferingGBps / 2)).toBeLessThan(1e-12);
    expect(full.limiter).toBe('buffering');
    expect(relErr(half.effectiveGBps, full.effectiveGBps / 2)).toBeLessThan(1e-12);
    // Hand value: bytes in flight / (fabric + miss share of tRP+tRCD + tCL + burst time).
    const m = memOf(s);
    const chBytesPerNs = (m.busWidthBitsPerChannel * m.dataRateGbpsPerPin) / 8;
    const burst = (m.busWidthBitsPerChannel * m.burstLength) / 8;
    const lat = s.package.chiplets[0]!.compute.fabricLatencyNs + (1 - m.rowHitRate) * (m.tRPns + m.tRCDns) + m.tCLns + (m.accessBytes / burst) * (burst / chBytesPerNs);
    expect(relErr(full.accessLatencyNs, lat)).toBeLessThan(1e-12);
    expect(relErr(full.bufferingGBps, (64 * 1024) / lat)).toBeLessThan(1e-12);
    // With the preset's in-flight capacity buffering does not bind.
    expect(bw(s).limiter).not.toBe('buffering');
  });

  it('doubled refresh doubles the refresh loss and lowers the bandwidth by (1 - 2f) / (1 - f)', () => {
    const s = hb3d();
    const n = bw(s, false);
    const d = bw(s, true);
    const m = memOf(s);
    expect(relErr(n.refreshLossFraction, m.tRFCns / m.tREFIns)).toBeLessThan(1e-12);
    expect(relErr(d.refreshLossFraction, 2 * n.refreshLossFraction)).toBeLessThan(1e-12);
    const f = n.refreshLossFraction;
    expect(relErr(d.effectiveGBps / n.effectiveGBps, (1 - 2 * f) / (1 - f))).toBeLessThan(1e-12);
  });

  it('lower row-buffer hit rate lowers the bank and activation limits', () => {
    const hi = bw(hb3d());
    const lo = bw(withMem((m) => { m.rowHitRate = 0.5; }));
    expect(lo.bytesPerActivation).toBeLessThan(hi.bytesPerActivation);
    expect(lo.bankGBps).toBeLessThan(hi.bankGBps);
    expect(lo.activationWindowGBps).toBeLessThan(hi.activationWindowGBps);
    expect(lo.stackActivationGBps).toBeLessThan(hi.stackActivationGBps);
    expect(lo.accessLatencyNs).toBeGreaterThan(hi.accessLatencyNs);
    // Row hits cannot raise the pin-rate or column-command limits.
    expect(lo.peakGBps).toBe(hi.peakGBps);
    expect(lo.columnGBps).toBe(hi.columnGBps);
  });

  it('property: every limit is non-decreasing in the row-buffer hit rate; effective <= every limit', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 0.98, noNaN: true }), fc.double({ min: 0, max: 0.98, noNaN: true }), fc.integer({ min: 1, max: 16 }), (a, b, n) => {
        const [h1, h2] = a <= b ? [a, b] : [b, a];
        const x = bw(withMem((m) => { m.rowHitRate = h1; m.connectedLayers = n; }));
        const y = bw(withMem((m) => { m.rowHitRate = h2; m.connectedLayers = n; }));
        for (const k of ['bankGBps', 'activationWindowGBps', 'stackActivationGBps', 'bufferingGBps', 'effectiveGBps'] as const)
          expect(y[k]).toBeGreaterThanOrEqual(x[k] * (1 - 1e-12));
        for (const k of ['peakGBps', 'columnGBps', 'bankGBps', 'activationWindowGBps', 'stackActivationGBps', 'verticalGBps', 'phyGBps', 'bufferingGBps'] as const)
          expect(x.effectiveGBps).toBeLessThanOrEqual(x[k] * (1 + 1e-12));
      }),
      { numRuns: fcRuns(100) },
    );
  });
});

// ------------------------------------------------------------------------------------------------
// Throttling and refresh
// ------------------------------------------------------------------------------------------------

describe('limits: throttling, infeasibility, refresh doubling', () => {
  it('a tiny heat sink throttles the clock until the package meets its limits', () => {
    const base = loadSystem('hb3d-16l');
    const f = throttlingSinkFactor(base, 'llama-3-8b');
    const hot = loadSystem('hb3d-16l');
    hot.package.thermal.sinkResistanceKPerW *= f;
    const r = run(hot, 'llama-3-8b');
    const nominal = run(base, 'llama-3-8b');
    expect(nominal.thermal.throttleFactor).toBe(1);
    expect(r.feasible).toBe(true);
    expect(r.thermal.throttleFactor).toBeLessThan(1);
    expect(r.thermal.throttleFactor).toBeGreaterThan(0);
    expect(r.thermal.limitedBy).not.toBe('none');
    expect(r.thermal.maxLogicC).toBeLessThanOrEqual(r.thermal.logicLimitC + 1e-6);
    expect(r.thermal.maxDramC).toBeLessThanOrEqual(r.thermal.dramExtendedLimitC + 1e-6);
    expect(Math.max(r.power.prefillW, r.power.decodeW)).toBeLessThanOrEqual(r.power.tdpW + 1e-6);
    // A lower clock stretches the compute-bound prefill, but by no more than 1/throttle.
    const ratio = r.prefill.stepTimeS / nominal.prefill.stepTimeS;
    expect(ratio).toBeGreaterThan(1);
    expect(ratio).toBeLessThanOrEqual(1 / r.thermal.throttleFactor + 1e-9);
  });

  it('limitedBy names the limit that binds at the throttled clock (the worst margin there), not the first one the nominal clock broke', () => {
    const kinds = new Set<string>();
    for (const sinkKPerW of [0.2, 0.25, 0.3, 0.35, 0.45]) {
      const hot = loadSystem('hb3d-16l');
      hot.package.thermal.sinkResistanceKPerW = sinkKPerW;
      const r = run(hot, 'llama-3-8b', { batch: 32 });
      if (!r.feasible || r.thermal.throttleFactor === 1) continue;
      const th = r.thermal;
      const margins = {
        'logic-temperature': (th.maxLogicC - th.logicLimitC) / th.logicLimitC,
        'dram-temperature': (th.maxDramC - th.dramExtendedLimitC) / th.dramExtendedLimitC,
        tdp: Math.max(r.power.prefillW, r.power.decodeW) / r.power.tdpW - 1,
      };
      const worst = Math.max(...Object.values(margins));
      expect(margins[th.limitedBy as keyof typeof margins], `sink ${sinkKPerW}: ${JSON.stringify(margins)}`).toBe(worst);
      kinds.add(th.limitedBy);
    }
    expect(kinds.size).toBeGreaterThan(0);
  });

  it('the power wall: a design over TDP is throttled to meet it', () => {
    const sys = loadSystem('h100-sxm');
    sys.package.power.tdpW = 450;
    const r = run(sys, 'llama-3-8b', { batch: 64, inputTokens: 4096 });
    expect(r.thermal.throttleFactor).toBeLessThan(1);
    expect(r.thermal.limitedBy).toBe('tdp');
    expect(Math.max(r.power.prefillW, r.power.decodeW)).toBeLessThanOrEqual(450 + 1e-6);
    expect(r.feasible).toBe(true);
  });

  it("onOverLimit 'infeasible' reports the overheating design infeasible with a reason", () => {
    const base = loadSystem('hb3d-16l');
    const f = throttlingSinkFactor(base, 'llama-3-8b');
    const hot = loadSystem('hb3d-16l');
    hot.package.thermal.sinkResistanceKPerW *= f;
    hot.package.thermal.onOverLimit = 'infeasible';
    const r = run(hot, 'llama-3-8b');
    expect(r.feasible).toBe(false);
    expect(r.thermal.throttleFactor).toBe(1);
    expect(r.infeasibleReasons.length).toBeGreaterThan(0);
    expect(r.infeasibleReasons.join('; ')).toMatch(/temperature|tdp/);
  });

  it('DRAM between 85 and 95 C doubles refresh and lowers the decode bandwidth', () => {
    const base = loadSystem('hb3d-16l');
    const cool = run(base, 'llama-3-8b');
    expect(cool.thermal.maxDramC).toBeLessThan(85);
    expect(cool.thermal.refreshDoubled).toBe(false);
    let warm: ReturnType<typeof run> | null = null;
    for (let f = 1; f <= 6 && !warm; f += 0.1) {
      const s = loadSystem('hb3d-16l');
      s.package.thermal.sinkResistanceKPerW *= f;
      const r = run(s, 'llama-3-8b');
      if (r.thermal.throttleFactor === 1 && r.thermal.maxDramC > 86 && r.thermal.maxDramC < 95) warm = r;
    }
    expect(warm).not.toBeNull();
    expect(warm!.thermal.refreshDoubled).toBe(true);
    expect(warm!.feasible).toBe(true);
    const m = base.package.chiplets[0]!.memory;
    expect(relErr(warm!.memory.bandwidth.decode.refreshLossFraction, (2 * m.tRFCns) / m.tREFIns)).toBeLessThan(1e-12);
    expect(warm!.memory.bandwidth.decode.effectiveGBps).toBeLessThan(cool.memory.bandwidth.decode.effectiveGBps);
  });

  it('the reported refreshDoubled flag matches the refresh rate the bandwidth was computed with', () => {
    const m = loadSystem('hb3d-16l').package.chiplets[0]!.memory;
    const normal = m.tRFCns / m.tREFIns;
    for (let f = 1; f <= 4.5; f += 0.05) {
      const s = loadSystem('hb3d-16l');
      s.package.thermal.sinkResistanceKPerW *= f;
      const r = run(s, 'llama-3-8b');
      const doubled = relErr(r.memory.bandwidth.decode.refreshLossFraction, 2 * normal) < 1e-9;
      expect({ f, doubled }).toEqual({ f, doubled: r.thermal.refreshDoubled });
    }
  });

  it('in the band where doubled refresh cools the DRAM back under 85 C, the flag still says doubled', () => {
    // lamosys-pd, llama-3-8b fp8, batch 30, 64 output tokens: prompts of 432-448 tokens run over 85 C
    // at the normal refresh rate and under it at the doubled one (found by a scan of batch and prompt).
    const s = loadSystem('lamosys-pd');
    const m = chipletFor(s, 'decode').memory;
    let band = 0;
    for (let ctx = 424; ctx <= 456; ctx += 2) {
      const r = run(s, 'llama-3-8b', { precision: FP8, batch: 30, inputTokens: ctx, outputTokens: 64, decodeSamples: 1 });
      const doubled = relErr(r.memory.bandwidth.decode.refreshLossFraction, (2 * m.tRFCns) / m.tREFIns) < 1e-9;
      expect({ ctx, doubled }).toEqual({ ctx, doubled: r.thermal.refreshDoubled });
      if (doubled && r.thermal.maxDramC <= r.thermal.dramLimitC) band++;
    }
    expect(band).toBeGreaterThan(0);
  });
});

// ------------------------------------------------------------------------------------------------
// Memory footprint
// ------------------------------------------------------------------------------------------------

/** Usable-or-not raw capacity of the chiplet that runs a phase (bytes). */
function capacityOfRole(sys: SystemSpec, phase: 'prefill' | 'decode'): number {
  const c = chipletFor(sys, phase);
  return capacityBytes(c.memory, c.memory.stacks);
}

describe('memory footprint', () => {
  for (const sysName of ['h100-sxm', 'hb3d-16l']) {
    it(`${sysName}: weights + KV + activations + reserve == footprint, hand-checked parts`, () => {
      const sys = loadSystem(sysName);
      const f = llamaFigures(modelJson('llama-3-8b'));
      const r = run(sys, 'llama-3-8b', { batch: 8, inputTokens: 512, outputTokens: 128 });
      const m = r.memory;
      expect(relErr(m.weightsBytes + m.kvCacheBytes + m.activationBytes + m.reserveBytes, m.footprintBytes)).toBeLessThan(1e-12);
      expect(m.weightsBytes).toBe(f.totalParams * 1);
      expect(m.kvCacheBytes).toBe(f.kvElemsPerToken * 1 * 8 * (512 + 128));
      const mem = sys.package.chiplets[0]!.memory;
      expect(m.capacityBytes).toBe(mem.stacks * mem.layers * mem.capacityPerLayerGiB * 2 ** 30);
      expect(relErr(m.reserveBytes, m.capacityBytes * sys.package.software.memoryReserveFraction)).toBeLessThan(1e-12);
      // Activations: the prompt tokens (8 x 512) at the widest per-token tensor, the gated FFN's gate +
      // up outputs (2 x intermediate = 28672 > QKV (32 + 2 x 8) x 128 = 6144 > 2 x hidden = 8192),
      // fp8 (1 byte); plus fp32 logits of one token per sequence (vocab x 8 x 4).
      expect(2 * f.I).toBeGreaterThan(Math.max(2 * f.h, (f.H + 2 * f.kvH) * f.hd));
      expect(m.activationBytes).toBe(8 * 512 * 2 * f.I * 1 + f.V * 8 * 4);
      expect(m.activationBytes).toBe(121_544_704);
      expect(m.fits).toBe(true);
      expect(r.feasible).toBe(true);
    });
  }

  it('the request cycle: prefill then decode on one chiplet; pipelined batches on split prefill/decode chiplets', () => {
    // Throughput, energy per token and tokens/s/W all follow one cycle: tPre + O tDec on a chiplet
    // that runs both phases, max(tPre, O tDec) on split chiplets (the prefill chiplet prefills the next
    // batch while the decode chiplet decodes this one). Both sides of a split package are checked:
    // decode-bound (long outputs) and prefill-bound (long prompts, one output token).
    const cases = [
      { sys: 'h100-sxm', split: false, batch: 16, inputTokens: 1024, outputTokens: 256 },
      { sys: 'lamosys-pd', split: true, batch: 16, inputTokens: 512, outputTokens: 512 },
      { sys: 'lamosys-pd', split: true, batch: 16, inputTokens: 4096, outputTokens: 2 },
    ];
    const sides = new Set<string>();
    for (const c of cases) {
      const r = run(loadSystem(c.sys), 'llama-3-8b', { batch: c.batch, inputTokens: c.inputTokens, outputTokens: c.outputTokens });
      expect(r.feasible).toBe(true);
      const tPre = r.prefill.stepTimeS;
      const tDec = r.decode.stepTimeS * c.outputTokens;
      const cycle = c.split ? Math.max(tPre, tDec) : tPre + tDec;
      if (c.split) sides.add(tPre > tDec ? 'prefill-bound' : 'decode-bound');
      const tokens = c.batch * c.outputTokens;
      expect(relErr(r.throughputTokensPerS!, tokens / cycle)).toBeLessThan(1e-12);
      expect(relErr(r.energyPerTokenJ!, (r.systemPowerW * cycle) / tokens)).toBeLessThan(1e-12);
      // The average power weighs each phase's dynamic power by its busy share of that cycle: the
      // dynamic energy of a cycle is the phases' own.
      const dynJ = (p: typeof r.prefill) => p.energyJ.computeJ + p.energyJ.sramJ + p.energyJ.dramJ + p.energyJ.networkJ;
      const cycleDynJ = dynJ(r.prefill) + dynJ(r.decode) * c.outputTokens;
      expect(relErr((r.power.averageW - r.power.staticW - r.power.otherW) * cycle, cycleDynJ)).toBeLessThan(1e-9);
    }
    expect([...sides].sort()).toEqual(['decode-bound', 'prefill-bound']);
  });

  it('copies of a chiplet (count) share their role data-parallel: one copy of two at batch 16 is the single chiplet at batch 8', () => {
    // lamosys-pd with two decode chiplets: each decodes 8 of the 16 sequences, holds the weights and its
    // 8 sequences' KV; the package counts both copies' energy, area and capacity.
    const json = systemJson('lamosys-pd') as { package: { chiplets: Record<string, unknown>[] } };
    const one = reparse(json);
    json.package.chiplets[1]!.count = 2;
    const two = reparse(json);
    expect(two.package.chiplets.map((c) => c.name)).toEqual(['prefill', 'decode', 'decode#2']);
    // An expanded package parses again to itself.
    expect(reparse(structuredClone(two)).package.chiplets.length).toBe(3);
    const o = { batch: 16, inputTokens: 256, outputTokens: 64 };
    const r2 = run(two, 'llama-3-8b', o);
    const r1 = run(one, 'llama-3-8b', { ...o, batch: 8 });
    const r1full = run(one, 'llama-3-8b', o);
    for (const r of [r1, r2, r1full]) {
      expect(r.feasible).toBe(true);
      expect(r.thermal.throttleFactor).toBe(1);
      expect(r.thermal.refreshDoubled).toBe(false);
    }
    // Decode: the busiest copy's step is the single chiplet's at half the batch; its dynamic energy
    // twice that; the system still emits 16 tokens a step.
    expect(relErr(r2.decode.stepTimeS, r1.decode.stepTimeS)).toBeLessThan(1e-12);
    expect(relErr(r2.decode.energyJ.computeJ, 2 * r1.decode.energyJ.computeJ)).toBeLessThan(1e-12);
    expect(relErr(r2.decode.energyJ.dramJ, 2 * r1.decode.energyJ.dramJ)).toBeLessThan(1e-12);
    expect(relErr(r2.decode.systemTokensPerS, 16 / r2.decode.stepTimeS)).toBeLessThan(1e-12);
    expect(r2.decode.stepTimeS).toBeLessThan(r1full.decode.stepTimeS);
    // Prefill stays on the one prefill chiplet, for the whole batch.
    expect(relErr(r2.prefill.stepTimeS, r1full.prefill.stepTimeS)).toBeLessThan(1e-12);
    // Footprint: three chiplets hold the weights; KV is the two copies' (8 sequences each); capacity
    // counts both decode stacks.
    expect(relErr(r2.memory.kvCacheBytes, 2 * r1.memory.kvCacheBytes)).toBeLessThan(1e-12);
    expect(relErr(r2.memory.capacityBytes - r1.memory.capacityBytes, r1.memory.capacityBytes - capacityOfRole(one, 'prefill'))).toBeLessThan(1e-12);
    // The extra chiplet's leakage and DRAM standby are in the package's static power.
    expect(r2.power.staticW).toBeGreaterThan(r1full.power.staticW);
    // Each copy is a column of the thermal network.
    expect(r2.thermal.layers.some((l) => l.column.startsWith('decode#2'))).toBe(true);
  });

  it('prefill steps under a token budget (chunkTokens): whole prompts per step, or chunks of a prompt', () => {
    expect(prefillSteps(10, 100, undefined)).toMatchObject({ steps: 1, seqs: 10, lastSeqs: 0, chunks: 1 });
    expect(prefillSteps(10, 100, 1000)).toMatchObject({ steps: 1, seqs: 10, lastSeqs: 0, chunks: 1 });
    expect(prefillSteps(10, 100, 350)).toMatchObject({ steps: 3, seqs: 3, lastSeqs: 1, chunks: 1 });
    // 100-token prompts in 30-token chunks: three of 30 at contexts 0, 30 and 60 (mean 30) and a last
    // one of 10 at context 90.
    expect(prefillSteps(10, 100, 30)).toEqual({ steps: 10, seqs: 1, lastSeqs: 0, chunks: 4, chunkTokens: 30, meanContext: 30, lastTokens: 10 });
  });

  it('a prefill token budget: a budget over the batch changes nothing; smaller ones re-read the weights each step, hold one step of activations, and keep the FLOPs', () => {
    const sys = loadSystem('h100-sxm');
    const o = { batch: 8, inputTokens: 1024, outputTokens: 64 };
    const whole = run(sys, 'llama-3-8b', o);
    expect(run(sys, 'llama-3-8b', { ...o, chunkTokens: 8 * 1024 })).toEqual(whole);
    const perPrompt = run(sys, 'llama-3-8b', { ...o, chunkTokens: 1024 });
    const chunked = run(sys, 'llama-3-8b', { ...o, chunkTokens: 256 });
    for (const r of [perPrompt, chunked]) {
      expect(r.prefill.stepTimeS).toBeGreaterThan(whole.prefill.stepTimeS);
      expect(r.prefill.dramBytes).toBeGreaterThan(whole.prefill.dramBytes);
      // Decode's work is untouched (its static energy follows the package's temperature).
      expect(r.decode.stepTimeS).toBe(whole.decode.stepTimeS);
      expect(r.decode.flops).toBe(whole.decode.flops);
      expect(r.decode.dramBytes).toBe(whole.decode.dramBytes);
    }
    // Whole prompts: the same operators over 8 steps of one prompt, so the same FLOPs; each step
    // reads the 8 GB of fp8 weights at least once (the whole batch's tiling re-reads them too, fewer
    // times than 8).
    expect(relErr(perPrompt.prefill.flops, whole.prefill.flops)).toBeLessThan(1e-12);
    expect(perPrompt.prefill.dramBytes).toBeGreaterThan(8 * perPrompt.memory.weightsBytes);
    expect(whole.prefill.dramBytes).toBeLessThan(8 * whole.memory.weightsBytes);
    // Chunks at their mean context: attention's FLOPs are linear in it, so the total matches the
    // whole prompt's up to the rounding of the mean context (upwards).
    expect(chunked.prefill.flops).toBeGreaterThanOrEqual(whole.prefill.flops * (1 - 1e-12));
    expect(relErr(chunked.prefill.flops, whole.prefill.flops)).toBeLessThan(1e-3);
    // Activations: one step's prompts, not the batch's (logits of one sequence per step).
    expect(perPrompt.memory.activationBytes).toBeLessThan(whole.memory.activationBytes / 7);
    expect(chunked.memory.activationBytes).toBeLessThan(perPrompt.memory.activationBytes / 3);
  });

  it("an operator's utilisation stays a ratio in (0, 1] through pipeline factors, decode samples and prefill steps", () => {
    // Scaling a step's times and work (pipeline bubbles, step counts) leaves a utilisation; combining
    // samples or steps takes its mean over their time. (A pipeline of 2 once reported 3.0.)
    const sys = loadSystem('h100-sxm');
    const cases = [
      run(sys, 'llama-3-70b', { batch: 8, mapping: { tp: 4, pp: 2, dp: 1, sp: 1, ep: 1 } }),
      run(sys, 'llama-3-8b', { batch: 8, inputTokens: 1024, decodeSamples: 4 }),
      run(sys, 'llama-3-8b', { batch: 8, inputTokens: 1024, chunkTokens: 3000 }),
      run(sys, 'llama-3-8b', { batch: 8, inputTokens: 1024, chunkTokens: 300 }),
    ];
    for (const r of cases)
      for (const o of [...r.prefill.breakdown, ...r.decode.breakdown]) {
        expect(o.utilisation, o.name).toBeGreaterThan(0);
        expect(o.utilisation, o.name).toBeLessThanOrEqual(1);
      }
  });

  it("the breakdown's rows add up to the step time: operators, collectives, the KV move, the framework's step time", () => {
    // One row per kind of time (found by an audit: the 150 us framework step time was in no row).
    const h100 = loadSystem('h100-sxm');
    const cases = [
      run(h100, 'llama-3-8b', { batch: 16 }),
      run(h100, 'llama-3-70b', { batch: 8, mapping: { tp: 4, pp: 2, dp: 1, sp: 1, ep: 1 } }),
      run(h100, 'llama-3-8b', { batch: 8, inputTokens: 1024, chunkTokens: 300 }),
      run(h100, 'mixtral-8x7b', { batch: 16, mapping: { tp: 2, pp: 1, dp: 4, sp: 1, ep: 8 } }),
      run(loadSystem('lamosys-pd'), 'llama-3-8b', { batch: 8 }),
      run(loadSystem('hb3d-4c'), 'qwen3-30b-a3b', { batch: 8, mapping: { tp: 4, pp: 1, dp: 1, sp: 1, ep: 4 } }),
    ];
    for (const r of cases)
      for (const p of [r.prefill, r.decode]) {
        const sum = p.breakdown.reduce((a, o) => a + o.timeS, 0);
        expect(sum).toBeCloseTo(p.stepTimeS, 12);
        expect(p.breakdown.filter((o) => o.kind === 'overhead').map((o) => o.name)).toEqual(['framework.step']);
      }
  });

  it('a prefill token budget makes a batch fit whose whole-batch prefill activations do not', () => {
    // h100 (80 GB), llama-3-8b fp8, 448 prompts of 2048 tokens: weights 8 GB + KV 60.6 GB fit, plus the
    // whole batch's prefill activations (26 GB) do not; in steps of 4 prompts (8192 tokens) they are
    // 0.2 GB.
    const sys = loadSystem('h100-sxm');
    const o = { batch: 448, inputTokens: 2048, outputTokens: 16 };
    const whole = run(sys, 'llama-3-8b', o);
    expect(whole.feasible).toBe(false);
    expect(whole.infeasibleReasons.join(';')).toMatch(/memory/);
    const stepped = run(sys, 'llama-3-8b', { ...o, chunkTokens: 8192 });
    expect(stepped.memory.fits).toBe(true);
    expect(stepped.memory.activationBytes).toBeLessThan(0.3e9);
  });

  it('chiplet copies: a count out of range and a second, different chiplet for one role are refused', () => {
    const json = systemJson('lamosys-pd') as { package: { chiplets: Record<string, unknown>[] } };
    const bad = structuredClone(json);
    bad.package.chiplets[1]!.count = 0;
    expect(() => reparse(bad)).toThrow(/package\.chiplets\[1\]\.count.*at least 1 copy/s);
    const two = structuredClone(json);
    const other = structuredClone(json.package.chiplets[1]!) as { compute: { cores: number } };
    other.compute.cores += 1;
    two.package.chiplets.push(other);
    expect(() => reparse(two)).toThrow(/package\.chiplets\[2\].*a copy of the first 'decode' chiplet/s);
  });

  it('lamosys-pd (split prefill/decode chiplets): each side holds a copy of the weights', () => {
    const r = run(loadSystem('lamosys-pd'), 'llama-3-8b');
    const m = r.memory;
    expect(relErr(2 * m.weightsBytes + m.kvCacheBytes + m.activationBytes + m.reserveBytes, m.footprintBytes)).toBeLessThan(1e-12);
    expect(m.fits).toBe(true);
  });

  it('lamosys-pd: a prefill chiplet that cannot hold its share is infeasible, and the reason shows the overflow', () => {
    const sys = loadSystem('lamosys-pd');
    const f = llamaFigures(modelJson('llama-3-8b'));
    const r = run(sys, 'llama-3-8b', { batch: 64, inputTokens: 4096, outputTokens: 128 });
    // Hand check: the prefill chiplet holds the weights, the prompt KV of the batch and the
    // activations in (1 - reserve) of its 4 x 8 GiB.
    const pre = chipletFor(sys, 'prefill').memory;
    const preCap = pre.stacks * pre.layers * pre.capacityPerLayerGiB * 2 ** 30 * (1 - sys.package.software.memoryReserveFraction);
    const preNeed = f.totalParams + r.memory.activationBytes + f.kvElemsPerToken * 64 * 4096;
    expect(preNeed).toBeGreaterThan(preCap);
    expect(r.memory.fits).toBe(false);
    expect(r.feasible).toBe(false);
    const reason = r.infeasibleReasons.find((x) => /memory/.test(x));
    expect(reason).toBeDefined();
    // The figures quoted must explain the refusal: what is needed exceeds what is there.
    const [need, cap] = (reason!.match(/[\d.]+ GiB/g) ?? []).map((x) => parseFloat(x));
    expect(need, reason).toBeGreaterThan(cap!);
  });

  it('llama-3.1-405b in bf16 does not fit one H100: infeasible with a memory reason', () => {
    const r = run(loadSystem('h100-sxm'), 'llama-3.1-405b', { precision: BF16, batch: 1, inputTokens: 128, outputTokens: 16 });
    expect(r.memory.fits).toBe(false);
    expect(r.memory.footprintBytes).toBeGreaterThan(r.memory.capacityBytes);
    expect(r.memory.weightsBytes).toBe(llamaFigures(modelJson('llama-3.1-405b')).totalParams * 2);
    expect(r.feasible).toBe(false);
    expect(r.infeasibleReasons.some((x) => /memory/.test(x))).toBe(true);
    // The reason, not a number: no throughput, energy per token or tokens/s/W for an infeasible design.
    expect(r.throughputTokensPerS).toBeNull();
    expect(r.tokensPerSPerW).toBeNull();
    expect(r.energyPerTokenJ).toBeNull();
  });

  it('footprint grows with batch and context, exactly by the KV (+ activations) added', () => {
    const sys = loadSystem('hb3d-16l');
    const f = llamaFigures(modelJson('llama-3-8b'));
    const a = run(sys, 'llama-3-8b', { batch: 4, inputTokens: 512, outputTokens: 128 });
    const b = run(sys, 'llama-3-8b', { batch: 4, inputTokens: 512, outputTokens: 256 });
    // Output tokens add KV only (activations are set by the prefill).
    expect(relErr(b.memory.footprintBytes - a.memory.footprintBytes, f.kvElemsPerToken * 4 * 128)).toBeLessThan(1e-9);
  });
});

// ------------------------------------------------------------------------------------------------
// Decode averaging, and random workloads
// ------------------------------------------------------------------------------------------------

describe('decode over the generation', () => {
  /** Decode step time at exactly context `ctx` (one sample, one output token). */
  const stepAt = (sys: SystemSpec, model: string, p: Precision, batch: number, ctx: number) =>
    run(sys, model, { precision: allPrec(p), batch, inputTokens: ctx, outputTokens: 1, decodeSamples: 1 });

  it('the averaged decode step lies between the steps at context = input and input + output', () => {
    const sys = loadSystem('hb3d-16l');
    const r = run(sys, 'llama-3-8b', { precision: FP8, batch: 64, inputTokens: 1024, outputTokens: 2048 });
    const lo = stepAt(sys, 'llama-3-8b', 'fp8', 64, 1024);
    const hi = stepAt(sys, 'llama-3-8b', 'fp8', 64, 1024 + 2048);
    for (const x of [r, lo, hi]) expect(x.thermal.throttleFactor).toBe(1);
    expect(lo.decode.contextFrom).toBe(1024);
    expect(r.decode.samples).toBe(2); // the default: two midpoint samples
    // Long contexts at batch 64: the KV read matters, so the bounds are strict.
    expect(r.decode.stepTimeS).toBeGreaterThan(lo.decode.stepTimeS);
    expect(r.decode.stepTimeS).toBeLessThan(hi.decode.stepTimeS);
  });

  const systems = ['h100-sxm', 'hb3d-16l', 'lamosys-pd'] as const;
  const models = ['llama-3-8b', 'qwen3-30b-a3b', 'llama-2-7b'] as const;
  const precs: Precision[] = ['bf16', 'fp8'];
  const workload = fc.record({
    sys: fc.constantFrom(...systems),
    model: fc.constantFrom(...models),
    p: fc.constantFrom(...precs),
    batch: fc.integer({ min: 1, max: 96 }),
    input: fc.integer({ min: 1, max: 3000 }),
    output: fc.integer({ min: 1, max: 900 }),
  });

  it('property: averaged decode step within [step(input), step(input + output)]', () => {
    fc.assert(
      fc.property(workload, (w) => {
        fc.pre(w.input + w.output + 1 <= loadModel(w.model).maxPositionEmbeddings);
        const sys = loadSystem(w.sys);
        const r = run(sys, w.model, { precision: allPrec(w.p), batch: w.batch, inputTokens: w.input, outputTokens: w.output });
        const lo = stepAt(sys, w.model, w.p, w.batch, w.input);
        const hi = stepAt(sys, w.model, w.p, w.batch, w.input + w.output);
        fc.pre([r, lo, hi].every((x) => x.thermal.throttleFactor === 1 && x.thermal.refreshDoubled === r.thermal.refreshDoubled));
        expect(r.decode.stepTimeS).toBeGreaterThanOrEqual(lo.decode.stepTimeS * (1 - 1e-12));
        expect(r.decode.stepTimeS).toBeLessThanOrEqual(hi.decode.stepTimeS * (1 + 1e-12));
      }),
      { numRuns: fcRuns(30) },
    );
  });

  it('property: outputs are finite and positive for random workloads and precisions', () => {
    const allP: Precision[] = ['bf16', 'fp16', 'fp8', 'int8', 'fp4', 'int4', 'fp32'];
    fc.assert(
      fc.property(workload, fc.constantFrom(...allP), (w, p) => {
        fc.pre(w.input + w.output <= loadModel(w.model).maxPositionEmbeddings);
        const r = run(loadSystem(w.sys), w.model, { precision: allPrec(p), batch: w.batch, inputTokens: w.input, outputTokens: w.output });
        const pos = [
          r.prefill.stepTimeS, r.prefill.systemTokensPerS, r.prefill.userTokensPerS, r.prefill.flops, r.prefill.dramBytes, r.prefill.powerW,
          r.decode.stepTimeS, r.decode.systemTokensPerS, r.decode.userTokensPerS, r.decode.flops, r.decode.dramBytes, r.decode.powerW,
          r.memory.footprintBytes, r.memory.capacityBytes, r.power.averageW,
          r.memory.bandwidth.decode.effectiveGBps, r.thermal.throttleFactor,
        ];
        // The figures of merit: numbers exactly when the design is feasible, else null (the reason instead).
        const merit = [r.energyPerTokenJ, r.tokensPerSPerW, r.throughputTokensPerS];
        if (r.feasible) pos.push(...(merit as number[]));
        else {
          expect(merit).toEqual([null, null, null]);
          expect(r.infeasibleReasons.length).toBeGreaterThan(0);
        }
        for (const v of pos) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThan(0);
        }
        for (const l of r.thermal.layers) expect(Number.isFinite(l.tempC)).toBe(true);
        for (const op of [...r.prefill.breakdown, ...r.decode.breakdown]) {
          expect(Number.isFinite(op.timeS) && op.timeS > 0).toBe(true);
          expect(op.energyJ).toBeGreaterThanOrEqual(0);
        }
        // The time by bound adds up to the step.
        for (const ph of [r.prefill, r.decode]) {
          const s = Object.values(ph.timeByBoundS).reduce((a, b) => a + b, 0);
          expect(relErr(s, ph.stepTimeS)).toBeLessThan(1e-9);
        }
      }),
      { numRuns: fcRuns(40) },
    );
  });

  it('property: decode step time is non-decreasing in batch and in context', () => {
    fc.assert(
      fc.property(workload, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2000 }), (w, db, dc) => {
        fc.pre(w.input + dc + w.output <= loadModel(w.model).maxPositionEmbeddings);
        const sys = loadSystem(w.sys);
        const o = { precision: allPrec(w.p), batch: w.batch, inputTokens: w.input, outputTokens: w.output };
        const base = run(sys, w.model, o);
        const moreBatch = run(sys, w.model, { ...o, batch: w.batch + db });
        const moreCtx = run(sys, w.model, { ...o, inputTokens: w.input + dc });
        // Compare operating points at the same clock and refresh rate (throttling is tested above).
        const same = (x: typeof base) => x.thermal.throttleFactor === 1 && x.thermal.refreshDoubled === base.thermal.refreshDoubled;
        fc.pre(base.thermal.throttleFactor === 1 && same(moreBatch) && same(moreCtx));
        expect(moreBatch.decode.stepTimeS).toBeGreaterThanOrEqual(base.decode.stepTimeS * (1 - 1e-12));
        expect(moreCtx.decode.stepTimeS).toBeGreaterThanOrEqual(base.decode.stepTimeS * (1 - 1e-12));
      }),
      { numRuns: fcRuns(30) },
    );
  });
});

// ------------------------------------------------------------------------------------------------
// The static power floor the search's bounds use: never above the static power of an operating point,
// and above the ambient-temperature leakage (the DRAM static power alone warms the dies).
describe('static power floor', () => {
  const systems = ['a100-sxm-80gb', 'h100-sxm', 'b200-sxm', 'mi325x', 'hb3d-16l', 'lamosys-pd'];
  it('is at most the static power of any evaluated point, throttled or not, and grows with the ambient', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...systems),
        fc.constantFrom(1, 8, 64, 256),
        fc.constantFrom(128, 2048),
        fc.double({ min: 0.3, max: 1, noNaN: true }),
        (name, batch, input, tdpScale) => {
          const base = loadSystem(name);
          const sys = reparse({ ...base, package: { ...base.package, power: { ...base.package.power, tdpW: base.package.power.tdpW * tdpScale } } });
          const r = run(sys, 'llama-3-8b', { batch, inputTokens: input, outputTokens: 64, precision: allPrec('fp8') });
          expect(staticPowerFloorW(sys.package)).toBeLessThanOrEqual(r.power.staticW * (1 + 1e-12));
        },
      ),
      { numRuns: fcRuns(40) },
    );
    for (const name of systems) {
      const s = loadSystem(name);
      const hot = reparse({ ...s, package: { ...s.package, thermal: { ...s.package.thermal, ambientC: s.package.thermal.ambientC + 20 } } });
      expect(staticPowerFloorW(hot.package)).toBeGreaterThan(staticPowerFloorW(s.package));
    }
  });
});

// ------------------------------------------------------------------------------------------------
// The leakage-temperature fixed point, and evaluate without its breakdowns (the search's inner loop).
describe('operating point', () => {
  const single = ['a100-sxm-80gb', 'h100-sxm', 'b200-sxm', 'mi325x', 'hb3d-16l'];
  it('property: on one chiplet, the logic die leaks what its reported temperature and clock say', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...single),
        fc.constantFrom(1, 16, 128),
        fc.constantFrom(128, 2048),
        fc.double({ min: 0.2, max: 1.5, noNaN: true }),
        (name, batch, input, sinkScale) => {
          // A worse or better heat sink moves the die over the whole leakage range (and throttles it).
          const base = loadSystem(name);
          const th = base.package.thermal;
          const sys = reparse({ ...base, package: { ...base.package, thermal: { ...th, sinkResistanceKPerW: th.sinkResistanceKPerW * sinkScale } } });
          const r = run(sys, 'llama-3-8b', { batch, inputTokens: input, outputTokens: 64 });
          fc.pre(!r.thermal.runaway && sys.package.chiplets.length === 1);
          const die = sys.package.chiplets[0]!.compute;
          const logic = r.thermal.layers.find((l) => l.layer === 'logic')!;
          // The logic die dissipates its dynamic power (power.computeW on a shared chiplet) and its leakage.
          const leakW = logic.powerW - r.power.computeW;
          const v = Math.max(die.minVoltageRatio, r.thermal.throttleFactor);
          const expected = die.staticPowerW * v * 2 ** ((logic.tempC - die.referenceTempC) / die.leakageDoublingC);
          expect(relErr(leakW, expected)).toBeLessThan(1e-6);
        },
      ),
      { numRuns: fcRuns(40) },
    );
  });

  it('property: detail false gives every figure of detail true, without breakdowns and layers', () => {
    const systems = ['a100-sxm-80gb', 'h100-sxm', 'hb3d-16l', 'lamosys-pd', 'mi325x'];
    fc.assert(
      fc.property(
        fc.constantFrom(...systems),
        fc.constantFrom('llama-3-8b', 'mixtral-8x7b', 'qwen3-30b-a3b'),
        fc.constantFrom(1, 8, 64, 512),
        fc.constantFrom(128, 1000, 4096),
        fc.constantFrom('fp8', 'bf16') as fc.Arbitrary<Precision>,
        fc.double({ min: 0.3, max: 1, noNaN: true }),
        fc.boolean(),
        (name, model, batch, input, prec, tdpScale, tp2) => {
          const base = loadSystem(name);
          const sys = reparse({ ...base, package: { ...base.package, power: { ...base.package.power, tdpW: base.package.power.tdpW * tdpScale } } });
          const mapping = tp2 && (sys.network ?? []).length > 0 ? { tp: 2, pp: 1, dp: 1, sp: 1, ep: 1 } : undefined;
          const o = { batch, inputTokens: input, outputTokens: 200, precision: allPrec(prec), ...(mapping ? { mapping } : {}) };
          const full = run(sys, model, o);
          const lean = run(sys, model, { ...o, detail: false });
          expect(full.prefill.breakdown.length).toBeGreaterThan(0);
          expect(full.thermal.layers.length).toBeGreaterThan(0);
          expect(lean.prefill.breakdown).toEqual([]);
          expect(lean.decode.breakdown).toEqual([]);
          expect(lean.thermal.layers).toEqual([]);
          const strip = (r: typeof full) => ({
            ...r,
            prefill: { ...r.prefill, breakdown: [] },
            decode: { ...r.decode, breakdown: [] },
            thermal: { ...r.thermal, layers: [] },
          });
          expect(strip(lean)).toEqual(strip(full));
        },
      ),
      { numRuns: fcRuns(60) },
    );
  });
});
