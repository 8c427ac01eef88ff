// Hardware configuration schemas (zod). Units are in every field name.
// A system = one package design (compute die + memory + thermal + power + software), replicated over
// a network (the network arrives with the multi-device model). Pure: no I/O.
import { z } from 'zod';
import { PRECISIONS, type Precision } from '../types.js';
import { networkSchema } from '../network.js';

const pos = (what: string) => z.number({ error: `a number (${what})` }).finite().positive({ error: `a positive number (${what})` });
const nonneg = (what: string) => z.number({ error: `a number (${what})` }).finite().nonnegative({ error: `a number >= 0 (${what})` });
const posInt = (what: string) => z.number({ error: `an integer (${what})` }).int({ error: `an integer (${what})` }).positive({ error: `a positive integer (${what})` });
const fraction = (what: string) => z.number({ error: `a number (${what})` }).gt(0, { error: `a number in (0, 1] (${what})` }).lte(1, { error: `a number in (0, 1] (${what})` });

const precisionEnum = z.enum(PRECISIONS as unknown as [Precision, ...Precision[]], {
  error: `one of ${PRECISIONS.join(', ')}`,
});

/** Per-precision table (only the precisions the unit supports). */
const perPrecision = (what: string) =>
  z.partialRecord(precisionEnum, pos(what)).refine((r) => Object.keys(r).length > 0, {
    error: `at least one precision entry (${what})`,
  });

export const computeDieSchema = z
  .object({
    name: z.string().default('compute'),
    cores: posInt('streaming multiprocessors / compute units / PEs'),
    frequencyGHz: pos('nominal clock'),
    /** Dense MACs per cycle per core, per precision of the matrix unit. */
    macsPerCyclePerCore: perPrecision('matrix MACs per cycle per core'),
    /** Output tile one core computes per pass of the matrix unit pipeline (elements). */
    tileM: posInt('matrix tile rows'),
    tileN: posInt('matrix tile columns'),
    tileK: posInt('matrix tile depth per pipeline step'),
    vectorFlopsPerCyclePerCore: pos('vector (softmax/norm) FLOPs per cycle per core'),
    sramPerCoreKB: pos('local SRAM per core, sets the per-core tile'),
    globalSramMB: nonneg('shared on-die SRAM (L2 / global buffer), sets DRAM re-reads'),
    /** SRAM reserved for outstanding DRAM reads: the Little's-law buffering limit. */
    memoryInflightKB: pos('bytes of DRAM reads the die can keep in flight'),
    /** Round trip of the on-die fabric (NoC, L2, controller queues) added to the DRAM access latency. */
    fabricLatencyNs: nonneg('on-die load-to-use latency beyond DRAM timing'),
    sramBandwidthBytesPerCyclePerCore: pos('SRAM to matrix unit bandwidth per core'),
    /** Sustained fraction of peak MAC issue rate in a long GEMM (pipeline/issue overheads). */
    matrixEfficiency: fraction('sustained matrix issue efficiency'),
    areaMm2: pos('die area budget'),
    coreAreaMm2: pos('area of one core incl. matrix/vector units'),
    sramAreaMm2PerMB: pos('SRAM macro area per MB'),
    phyKeepOutAreaMm2: nonneg('area for PHYs / TSV keep-out / IO'),
    energyPJPerMac: perPrecision('dynamic energy per MAC at nominal voltage'),
    vectorEnergyPJPerFlop: pos('vector unit energy per FLOP'),
    sramEnergyPJPerByte: pos('on-die SRAM access energy per byte'),
    staticPowerW: nonneg('leakage at referenceTempC and nominal voltage'),
    leakageDoublingC: pos('temperature rise that doubles leakage'),
    referenceTempC: z.number().finite().default(25),
    /** Voltage at the lowest throttled clock relative to nominal (V tracks f down to this floor). */
    minVoltageRatio: fraction('voltage floor relative to nominal under DVFS'),
    tjMaxC: pos('logic junction temperature limit'),
  })
  .strict();

export const verticalSchema = z
  .object({
    kind: z.enum(['tsv', 'hybrid-bond'], { error: "'tsv' or 'hybrid-bond'" }),
    pitchUm: pos('vertical interconnect pitch'),
    /** Die area given to vertical data links, per stack. */
    areaMm2: pos('area given to vertical links per stack'),
    linkRateGbps: pos('data rate per vertical link'),
    /** Fraction of the vertical connections that carry data (rest: power, ground, command). */
    dataFraction: fraction('data share of vertical connections'),
    /** Energy per bit moved vertically; defaults by kind (VERTICAL_ENERGY_PJ_PER_BIT). */
    energyPJPerBit: pos('energy per bit moved vertically').optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const [lo, hi] = VERTICAL_PITCH_RANGE_UM[v.kind];
    if (v.pitchUm < lo || v.pitchUm > hi)
      ctx.addIssue({ code: 'custom', path: ['pitchUm'], message: `a ${v.kind} pitch in [${lo}, ${hi}] um` });
  });

/** Default energy per vertical bit by bonding kind. TSV + microbump: ~0.3 pJ/bit incl. the driver
 *  (HBM-class); hybrid Cu-Cu bond: ~0.05 pJ/bit (short, low-capacitance, no bump). Assumed. */
export const VERTICAL_ENERGY_PJ_PER_BIT = { tsv: 0.3, 'hybrid-bond': 0.05 } as const;
/** Manufacturable pitch ranges: TSV/microbump 10-100 um; hybrid bonding 0.5-20 um. */
export const VERTICAL_PITCH_RANGE_UM = { tsv: [10, 100], 'hybrid-bond': [0.5, 20] } as const;

export const memorySchema = z
  .object({
    /** 'on-logic': DRAM dies stacked on the compute die (3D). 'beside': stacks next to it (2.5D HBM). */
    placement: z.enum(['on-logic', 'beside'], { error: "'on-logic' or 'beside'" }),
    stacks: posInt('memory stacks per chiplet'),
    layers: posInt('DRAM dies per stack (m)'),
    connectedLayers: posInt('layers whose channels are connected at once (n)'),
    capacityPerLayerGiB: pos('capacity of one DRAM die'),
    dieAreaMm2: pos('area of one DRAM die (thermal footprint)'),
    channelsPerLayer: posInt('independent channels per DRAM die'),
    banksPerChannel: posInt('banks per channel'),
    busWidthBitsPerChannel: posInt('data bus width of one channel'),
    dataRateGbpsPerPin: pos('per-pin data rate'),
    rowSizeBytes: posInt('DRAM row (page) size'),
    accessBytes: posInt('bytes per column access (sector)'),
    burstLength: posInt('burst length'),
    /** JEDEC / DRAMsim3 timing names, in ns (tCK is derived: DDR, 2 beats per clock = 2 / data rate). */
    tCLns: pos('CAS latency'),
    tRCDns: pos('activate to read'),
    tRPns: pos('precharge'),
    tRASns: pos('activate to precharge'),
    tCCD_Sns: pos('column to column, different bank group'),
    tCCD_Lns: pos('column to column, same bank group'),
    tRRD_Sns: pos('activate to activate, different bank group'),
    tRRD_Lns: pos('activate to activate, same bank group'),
    tFAWns: pos('four-activate window'),
    tREFIns: pos('refresh interval at <= 85 C'),
    tRFCns: pos('refresh cycle time'),
    bankGroups: posInt('bank groups per channel'),
    /** Power-delivery cap: row activations the whole stack may start per tFAW window. */
    stackActivationsPerFAW: posInt('activations per tFAW across the stack'),
    vertical: verticalSchema,
    phyBandwidthGBps: pos('logic-die PHY / interface bandwidth per stack'),
    /** Row-buffer hit rate of the streamed traffic (fraction of column accesses that hit an open row). */
    rowHitRate: z.number().min(0, { error: 'a number in [0, 1)' }).lt(1, { error: 'a number in [0, 1)' }),
    /** Fraction of the scheduled bandwidth a real controller sustains (turnarounds, arbitration). */
    controllerEfficiency: fraction('memory controller efficiency'),
    activationEnergyPJ: pos('energy of one ACT+PRE pair'),
    readEnergyPJPerBit: pos('array + IO read energy per bit'),
    writeEnergyPJPerBit: pos('array + IO write energy per bit'),
    backgroundPowerWPerLayer: nonneg('standby power of one DRAM die'),
    refreshEnergyNJPerLayer: pos('energy of one all-bank refresh of one die'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.connectedLayers > m.layers)
      ctx.addIssue({
        code: 'custom',
        path: ['connectedLayers'],
        message: `an integer <= layers (${m.layers}); connected layers cannot exceed layers`,
      });
    if (m.tRASns < m.tRCDns)
      ctx.addIssue({ code: 'custom', path: ['tRASns'], message: `>= tRCDns (${m.tRCDns}) per JEDEC` });
    if (m.tFAWns < m.tRRD_Sns)
      ctx.addIssue({ code: 'custom', path: ['tFAWns'], message: `>= tRRD_Sns (${m.tRRD_Sns})` });
    const burstBytes = (m.busWidthBitsPerChannel * m.burstLength) / 8;
    if (m.accessBytes % burstBytes !== 0)
      ctx.addIssue({ code: 'custom', path: ['accessBytes'], message: `a multiple of one burst (bus width x burst length / 8 = ${burstBytes} bytes)` });
    if (m.accessBytes > m.rowSizeBytes)
      ctx.addIssue({ code: 'custom', path: ['accessBytes'], message: `<= rowSizeBytes (${m.rowSizeBytes})` });
    if (m.tRFCns >= m.tREFIns / 2)
      ctx.addIssue({ code: 'custom', path: ['tRFCns'], message: `< tREFIns/2 (${m.tREFIns / 2}) so refresh at 95 C still leaves time` });
  });

/** One thermal layer between the heat sources and the sink. */
const passiveLayerSchema = z
  .object({
    thicknessUm: pos('layer thickness'),
    conductivityWPerMK: pos('thermal conductivity'),
  })
  .strict();

export const thermalSchema = z
  .object({
    ambientC: z.number().finite(),
    /** 'logic-bottom': compute die under the DRAM (heat of logic passes the DRAM). 'logic-top': compute die next to the sink. */
    stackOrder: z.enum(['logic-bottom', 'logic-top'], { error: "'logic-bottom' or 'logic-top'" }).optional(),
    logicDie: passiveLayerSchema,
    dramDie: passiveLayerSchema,
    /** Bond / underfill layer between adjacent dies (hybrid bond: Cu-oxide; TSV: microbump + underfill). */
    bondLayer: passiveLayerSchema,
    tim: passiveLayerSchema,
    lid: passiveLayerSchema,
    /** Heat sink + fan (or cold plate) to ambient. */
    sinkResistanceKPerW: pos('heat sink to ambient resistance'),
    /** Secondary path down through substrate and board to ambient; null: adiabatic bottom. */
    boardResistanceKPerW: pos('board path resistance').nullable(),
    dramLimitC: pos('DRAM normal-refresh limit').default(85),
    dramExtendedLimitC: pos('DRAM limit with doubled refresh').default(95),
    onOverLimit: z.enum(['throttle', 'infeasible'], { error: "'throttle' or 'infeasible'" }).default('throttle'),
  })
  .strict()
  .refine((t) => t.dramLimitC < t.dramExtendedLimitC, {
    path: ['dramLimitC'],
    error: 'below dramExtendedLimitC (the doubled-refresh limit)',
  });

export const powerSchema = z
  .object({
    tdpW: pos('package power limit'),
    /** Board/package overhead not in the die models (VRM loss, fans share), counted in power, not heat. */
    otherPowerW: nonneg('other board power'),
  })
  .strict();

export const softwareSchema = z
  .object({
    kernelLaunchUs: nonneg('per-kernel launch overhead'),
    stepOverheadUs: nonneg('per-step framework overhead (scheduler, sampling, python)'),
    /** Fraction of the effective DRAM bandwidth the runtime's attention kernels reach when streaming
     *  the KV cache (paged blocks, per-head work items, occupancy); GEMMs and vector ops stream at
     *  the full effective bandwidth. */
    attentionBandwidthEfficiency: fraction('attention kernel share of the effective bandwidth'),
    /** Share of the shorter of a kernel's compute and memory time hidden under the longer one
     *  (1: perfect roofline overlap; skinny decode GEMMs pipeline poorly and expose part of it). */
    computeMemoryOverlap: z.number().min(0, { error: 'a number in [0, 1]' }).max(1, { error: 'a number in [0, 1]' }),
    /** Fraction of device memory the runtime keeps for itself (allocator, workspace, CUDA graphs). */
    memoryReserveFraction: z.number().min(0).lt(1, { error: 'a number in [0, 1)' }),
  })
  .strict();

export const chipletSchema = z
  .object({
    name: z.string(),
    /** Which phase runs on this chiplet (LaMoSys3.5D split); 'any' runs both. */
    role: z.enum(['any', 'prefill', 'decode'], { error: "'any', 'prefill' or 'decode'" }).default('any'),
    /** Identical copies of this chiplet in the package. The copies of a role run it data-parallel: the
     *  batch's sequences are shared among them (the busiest holds ceil(batch / copies)), and each holds
     *  the weights and its own sequences' KV. A package of one prefill and three decode chiplets is a
     *  1:3 prefill:decode split. Parsing expands the copies (count 1 each). */
    count: z.number().int({ error: 'a whole number of copies' }).min(1, { error: 'at least 1 copy' }).max(16, { error: 'at most 16 copies' }).default(1),
    compute: computeDieSchema,
    memory: memorySchema,
  })
  .strict();

export const packageSchema = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    chiplets: z.array(chipletSchema).min(1, { error: 'at least one chiplet' }),
    /** Die-to-die / interposer link between the prefill and decode chiplets (one direction). */
    interposer: z
      .object({
        bandwidthGBps: pos('chiplet-to-chiplet bandwidth'),
        latencyUs: nonneg('chiplet-to-chiplet transfer start-up'),
        energyPJPerBit: pos('chiplet-to-chiplet energy per bit'),
      })
      .strict()
      .optional(),
    thermal: thermalSchema,
    power: powerSchema,
    software: softwareSchema,
  })
  .strict()
  .superRefine((p, ctx) => {
    // One chiplet design per role, in copies (count) that run the role data-parallel. Chiplets sharing
    // a phase as tensor parallelism inside the package are described by the network model's
    // on-package level instead. Entries of one role must be copies (an expanded package parses again).
    const roles = [...new Set(p.chiplets.map((c) => c.role))].sort().join(',');
    if (roles !== 'any' && roles !== 'decode,prefill')
      ctx.addIssue({
        code: 'custom',
        path: ['chiplets'],
        message: "one chiplet with role 'any', or one 'prefill' and one 'decode' chiplet (each with a count of copies)",
      });
    const copyKey = (c: (typeof p.chiplets)[number]) => JSON.stringify({ ...c, name: '', count: 1 });
    p.chiplets.forEach((c, i) => {
      const f = p.chiplets.findIndex((d) => d.role === c.role);
      if (f < i && copyKey(p.chiplets[f]!) !== copyKey(c))
        ctx.addIssue({ code: 'custom', path: ['chiplets', i], message: `a copy of the first '${c.role}' chiplet: one design per role (set its count for more copies)` });
    });
    const onLogic = p.chiplets.some((c) => c.memory.placement === 'on-logic');
    if (onLogic && !p.thermal.stackOrder)
      ctx.addIssue({ code: 'custom', path: ['thermal', 'stackOrder'], message: "'logic-bottom' or 'logic-top': a chiplet stacks DRAM on its logic die" });
    if (!onLogic && p.thermal.stackOrder)
      ctx.addIssue({ code: 'custom', path: ['thermal', 'stackOrder'], message: 'no stackOrder: no chiplet stacks DRAM on logic (memory placement is beside)' });
    if (roles === 'decode,prefill' && !p.interposer)
      ctx.addIssue({ code: 'custom', path: ['interposer'], message: 'an interposer link between the prefill and decode chiplets' });
  })
  // Copies become entries of their own (count 1; the second and later named '<name>#<k>'): each is a
  // column of the thermal network, a die of the area and power sums, and the model divides a role's
  // batch among its entries.
  .transform((p) => ({
    ...p,
    chiplets: p.chiplets.flatMap((c) => Array.from({ length: c.count }, (_, k) => ({ ...c, name: k === 0 ? c.name : `${c.name}#${k + 1}`, count: 1 }))),
  }));

export const systemSchema = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    /** Free-text source / reasoning for the numbers, kept with the preset. */
    sources: z.array(z.string()).optional(),
    /** Reason or source of each assumed constant, keyed by its JSON path. */
    notes: z.record(z.string(), z.string()).optional(),
    package: packageSchema,
    /** Network levels, innermost first (used by the multi-device model). */
    network: networkSchema.optional(),
  })
  .strict();

export type ComputeDie = z.infer<typeof computeDieSchema>;
export type MemorySpec = z.infer<typeof memorySchema>;
export type VerticalSpec = z.infer<typeof verticalSchema>;
export type ThermalSpec = z.infer<typeof thermalSchema>;
export type PowerSpec = z.infer<typeof powerSchema>;
export type SoftwareSpec = z.infer<typeof softwareSchema>;
export type Chiplet = z.infer<typeof chipletSchema>;
export type PackageSpec = z.infer<typeof packageSchema>;
export type SystemSpec = z.infer<typeof systemSchema>;
