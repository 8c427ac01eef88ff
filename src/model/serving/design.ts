// A serving design: system, model, precision, mapping and scheduler settings, prepared into the
// pools of devices that run steps (one colocated pool, or a prefill pool and a decode pool).
import { copiesOf, makeStepModel, type StepModel } from '../evaluate.js';
import { ConfigError } from '../errors.js';
import type { SystemSpec } from '../hardware/schema.js';
import { SINGLE, type Mapping } from '../parallel.js';
import type { ModelArch, PrecisionSpec } from '../types.js';
import { StepTable, type PimSpec } from './steps.js';

export const SCHEDULERS = ['static', 'continuous', 'chunked', 'disaggregated'] as const;
export type SchedulerKind = (typeof SCHEDULERS)[number];

export interface SchedulerSpec {
  kind: SchedulerKind;
  /** Sequences in flight per replica (engine: a DP replica's chiplet, each copy its own), like
   *  vLLM's max_num_seqs. */
  maxBatch: number;
  /** Tokens per step per replica: the chunk budget (chunked), the prompt budget (continuous,
   *  at least one whole prompt), the prefill batch budget (disaggregated prefill pool). */
  chunkTokens: number;
  /** Disaggregated, on packages without split chiplets: DP replicas given to prefill (rest decode). */
  prefillReplicas?: number;
  /** KV kept free at admission (fraction of capacity), as vLLM's watermark. */
  kvWatermark?: number;
}

export interface ServingDesign {
  system: SystemSpec;
  model: ModelArch;
  precision: PrecisionSpec;
  mapping?: Mapping;
  scheduler: SchedulerSpec;
  pim?: PimSpec;
}

export interface Pool {
  name: 'colocated' | 'prefill' | 'decode';
  table: StepTable;
  /** The mapping's DP replicas times the copies of the role's chiplet per package. */
  replicas: number;
  /** Totals over the pool's replicas. */
  maxBatch: number;
  tokenBudget: number;
  kvCapacityTokens: number;
}

export interface PreparedServing {
  design: ServingDesign;
  scheduler: SchedulerSpec;
  colocated?: Pool;
  prefill?: Pool;
  decode?: Pool;
  /** Parallel KV-transfer channels between the prefill and decode pools. */
  transferChannels: number;
  kvTransferS(tokens: number): number;
  maxContext: number;
  /** Heterogeneous package (LaMoSys-style prefill and decode chiplets). */
  splitChiplets: boolean;
  notes: string[];
}

export function hasSplitChiplets(s: SystemSpec): boolean {
  const roles = s.package.chiplets.map((c) => c.role);
  return roles.includes('prefill') && roles.includes('decode');
}

function checkScheduler(s: SchedulerSpec): void {
  if (!(SCHEDULERS as readonly string[]).includes(s.kind)) throw new ConfigError('--scheduler', s.kind, `one of ${SCHEDULERS.join(', ')}`);
  if (!Number.isInteger(s.maxBatch) || s.maxBatch < 1) throw new ConfigError('--max-batch', s.maxBatch, 'a positive integer');
  if (!Number.isInteger(s.chunkTokens) || s.chunkTokens < 1) throw new ConfigError('--chunk', s.chunkTokens, 'a positive integer');
  if (s.kind === 'chunked' && s.chunkTokens <= s.maxBatch)
    throw new ConfigError('--chunk', s.chunkTokens, `> --max-batch (${s.maxBatch}): the chunk budget must leave room for prefill after one token per decoding sequence`);
  const w = s.kvWatermark ?? 0.01;
  if (!(w >= 0 && w < 0.5)) throw new ConfigError('kvWatermark', w, 'a fraction in [0, 0.5)');
}

/**
 * Builds the step models of a design. `hint` (mean input/output) sets the operating point the
 * step model is throttled at.
 */
export function prepareServing(design: ServingDesign, hint: { inputTokens: number; outputTokens: number }): PreparedServing {
  const s = design.scheduler;
  checkScheduler(s);
  const m = design.mapping ?? SINGLE;
  const maxContext = design.model.maxPositionEmbeddings;
  const inT = Math.max(1, Math.min(maxContext - 2, Math.round(hint.inputTokens)));
  const outT = Math.max(1, Math.min(maxContext - inT, Math.round(hint.outputTokens)));
  const split = hasSplitChiplets(design.system);
  const notes: string[] = [];
  // A pool's replicas are the mapping's DP replicas times the copies of the role's chiplet in each
  // package (copiesOf): a copy is one more data-parallel replica inside the package, an engine with its
  // own max batch, token budget, weights and KV, stepping in parallel with the others on its share of
  // the pool's sequences (the step model divides a step among them). The operating point (one per
  // package: its prefill and decode chiplets run at once) is set with every decode replica at its max
  // batch, the prefill copies prefilling that batch.
  const decodeCopies = copiesOf(design.system, 'decode');
  const mk = (mapping: Mapping, phase: 'prefill' | 'decode'): StepModel =>
    makeStepModel({
      system: design.system,
      model: design.model,
      precision: design.precision,
      mapping,
      phase,
      batch: s.maxBatch * mapping.dp * decodeCopies,
      inputTokens: inT,
      outputTokens: outT,
    });
  const pool = (name: Pool['name'], sm: StepModel, mapping: Mapping, pim?: PimSpec): Pool => {
    const table = new StepTable(sm, design.model, design.precision, pim);
    const replicas = mapping.dp * sm.copies;
    return {
      name,
      table,
      replicas,
      maxBatch: s.maxBatch * replicas,
      tokenBudget: s.chunkTokens * replicas,
      kvCapacityTokens: table.kvCapacityTokens,
    };
  };
  const out: PreparedServing = {
    design,
    scheduler: s,
    transferChannels: 1,
    kvTransferS: () => 0,
    maxContext,
    splitChiplets: split,
    notes,
  };
  if (s.kind !== 'disaggregated') {
    const sm = mk(m, 'decode');
    out.colocated = pool('colocated', sm, m, design.pim);
    if (split) notes.push(`${design.system.name} has split chiplets: a colocated scheduler runs every step on the decode chiplet (use --scheduler disaggregated to use both)`);
  } else if (split) {
    const pre = mk(m, 'prefill');
    const dec = mk(m, 'decode');
    out.prefill = pool('prefill', pre, m);
    out.decode = pool('decode', dec, m, design.pim);
    // Each prefill copy sends its prompts' KV over its own die-to-die link (as evaluate's addKvTransfer).
    out.transferChannels = m.dp * pre.copies;
    out.kvTransferS = (t) => dec.kvTransferS(t);
    notes.push('prefill on the prefill chiplet, decode on the decode chiplet, KV over the interposer');
  } else {
    if (m.dp < 2)
      throw new ConfigError('--dp', m.dp, `>= 2 for --scheduler disaggregated on ${design.system.name} (no prefill/decode chiplets): prefill and decode get separate DP replicas`);
    const pr = s.prefillReplicas ?? Math.max(1, Math.round(m.dp / 4));
    if (!Number.isInteger(pr) || pr < 1 || pr >= m.dp) throw new ConfigError('--prefill-replicas', pr, `an integer in [1, ${m.dp - 1}] (DP replicas for prefill)`);
    const mp = { ...m, dp: pr };
    const md = { ...m, dp: m.dp - pr };
    const pre = mk(mp, 'prefill');
    const dec = mk(md, 'decode');
    out.prefill = pool('prefill', pre, mp);
    out.decode = pool('decode', dec, md, design.pim);
    out.transferChannels = Math.min(pr, m.dp - pr);
    out.kvTransferS = (t) => dec.kvTransferS(t);
    notes.push(`${pr} DP replica(s) prefill, ${m.dp - pr} decode; KV moved over the network`);
  }
  for (const p of [out.colocated, out.prefill, out.decode])
    if (p && p.table.sm.copies > 1)
      notes.push(`${p.name} pool: ${p.replicas / p.table.sm.copies} DP replica(s) x ${p.table.sm.copies} chiplet copies per package = ${p.replicas} replicas`);
  return out;
}

/** Static and other power of a pool's devices (W): what each of its steps counts over the step's time (StepTable.staticW). */
export function poolStaticW(pool: Pool): number {
  return pool.table.staticW;
}

/**
 * Static and other power of the design's packages (W), drawn whether they step or idle: one pool's
 * devices; the two pools of a split-chiplet package share those packages (the package's static
 * power counted once, not by each pool); disaggregated DP replicas are separate devices (both).
 */
export function packagesStaticW(p: PreparedServing): number {
  if (p.colocated) return poolStaticW(p.colocated);
  if (p.splitChiplets) return poolStaticW(p.decode!);
  return poolStaticW(p.prefill!) + poolStaticW(p.decode!);
}

/** Pools that hold KV for decoding (colocated or decode). */
export function decodePool(p: PreparedServing): Pool {
  return (p.colocated ?? p.decode)!;
}
