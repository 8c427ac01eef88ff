// Step costs for the serving layer: the StepModel of evaluate.ts behind interpolated, memoised grids,
// plus the PIM attention-offload tier (L3). Shared by the analytic model and the simulator.
//
// Exact decompositions (the step model sums per-part operators, so these hold to rounding):
//   step(d, ctx, P) = step(d, 0, P) + [step(d, ctx, -) - step(d, 0, -)]           decode attention
//   step(0, 0, P(n, t, c)) = step(0, 0, P(n, t, 0)) + [that with c - without c]    chunk context
// The remaining keys are put on grids and interpolated linearly: decode sequences and chunk tokens
// exact up to 16, then 8 points per octave; contexts on 64-token buckets.
import { z } from 'zod';
import type { StepModel } from '../evaluate.js';
import type { ModelArch, PrecisionSpec } from '../types.js';
import { BYTES_PER_ELEMENT } from '../types.js';

export const CONTEXT_BUCKET = 64;

/** A processing-in-memory tier holding offloaded KV and running their decode attention (L3). */
export const pimSchema = z.strictObject({
  capacityGB: z.number().positive({ error: 'a positive number (PIM capacity for KV, GB)' }),
  internalBandwidthGBps: z.number().positive({ error: 'a positive number (aggregate in-DIMM bandwidth, GB/s)' }),
  linkBandwidthGBps: z.number().positive({ error: 'a positive number (host/accelerator link to the PIM devices, GB/s)' }),
  computeTFLOPS: z.number().positive({ error: 'a positive number (PIM attention compute, TFLOPS)' }),
  /** DRAM read energy inside the PIM devices (no off-chip PHY), pJ/bit. */
  energyPJPerBit: z.number().nonnegative().default(1.0),
  /** Link latency per step (one round trip per layer is pipelined; one exposed), us. */
  linkLatencyUs: z.number().nonnegative().default(2),
});
export type PimSpec = z.output<typeof pimSchema>;

/** Largest grid point <= x (x >= 0). */
export function gridLo(x: number): number {
  if (x <= 16) return Math.floor(x);
  const s = 2 ** (Math.floor(Math.log2(x)) - 3);
  return Math.floor(x / s) * s;
}
function gridStep(lo: number): number {
  return lo < 16 ? 1 : 2 ** (Math.floor(Math.log2(lo)) - 3);
}

export interface StepPiece {
  /** Prompt tokens of this chunk and tokens already cached for the sequence. */
  tokens: number;
  context: number;
}

export class StepTable {
  readonly sm: StepModel;
  /** Energy of the last cost() call, J. */
  energyJ = 0;
  /** Fraction of the decode attention the last cost() call offloaded to PIM. */
  pimFraction = 0;
  readonly pim?: PimSpec;
  private readonly arch: ModelArch;
  private readonly prec: PrecisionSpec;
  private readonly cache = new Map<string, [number, number]>();
  /** Static and other power of the pool's devices, W: every cost()'s energy counts it over the
   *  step's time (the step model's, and over a PIM step's own time here), so that the serving layer can
   *  take it out of the steps and count it over the run instead (sim.ts, analytic.ts). */
  readonly staticW: number;
  /** KV tokens in the accelerator and in the PIM tier. */
  readonly kvCapacityTokens: number;
  readonly pimCapacityTokens: number;

  constructor(sm: StepModel, arch: ModelArch, prec: PrecisionSpec, pim?: PimSpec) {
    this.sm = sm;
    this.arch = arch;
    this.prec = prec;
    this.pim = pim;
    this.staticW = sm.staticW * sm.devices;
    this.pimCapacityTokens = pim ? Math.floor((pim.capacityGB * 1e9) / sm.kvBytesPerToken) : 0;
    this.kvCapacityTokens = sm.kvCapacityTokens + this.pimCapacityTokens;
  }

  private raw(d: number, ctx: number, n: number, t: number, c: number): [number, number] {
    const key = `${d}|${ctx}|${n}|${t}|${c}`;
    let v = this.cache.get(key);
    if (!v) {
      const r = this.sm.step({ decodeSeqs: d, decodeContext: ctx, prefillSeqs: n, prefillTokens: t, prefillContext: c });
      v = [r.timeS, r.energyJ];
      if (this.cache.size > 500_000) this.cache.clear();
      this.cache.set(key, v);
    }
    return v;
  }

  /** step(d, 0, n pieces of t tokens at context 0), interpolated over d and t. */
  private base(d: number, n: number, t: number): [number, number] {
    const d0 = gridLo(d);
    const wd = d0 === d ? 0 : (d - d0) / gridStep(d0);
    const t0 = n > 0 ? gridLo(t) : 0;
    const wt = n === 0 || t0 === t ? 0 : (t - t0) / gridStep(t0);
    const d1 = d0 + gridStep(d0);
    const t1 = t0 + gridStep(t0);
    const nn = n;
    let [a, ea] = this.raw(d0, 0, nn, t0, 0);
    if (wd > 0) {
      const [b, eb] = this.raw(d1, 0, nn, t0, 0);
      a += wd * (b - a);
      ea += wd * (eb - ea);
    }
    if (wt > 0) {
      let [c, ec] = this.raw(d0, 0, nn, t1, 0);
      if (wd > 0) {
        const [e, ee] = this.raw(d1, 0, nn, t1, 0);
        c += wd * (e - c);
        ec += wd * (ee - ec);
      }
      a += wt * (c - a);
      ea += wt * (ec - ea);
    }
    return [a, ea];
  }

  /** Decode attention of d sequences at mean context ctx beyond context 0, interpolated. */
  attention(d: number, ctx: number): [number, number] {
    if (d <= 0 || ctx <= 0) return [0, 0];
    const d0 = Math.max(1, gridLo(d));
    const wd = d0 === d ? 0 : (d - d0) / gridStep(d0);
    const c0 = Math.floor(ctx / CONTEXT_BUCKET) * CONTEXT_BUCKET;
    const wc = (ctx - c0) / CONTEXT_BUCKET;
    const at = (dd: number, cc: number): [number, number] => {
      if (cc === 0) return [0, 0];
      const [x, ex] = this.raw(dd, cc, 0, 0, 0);
      const [y, ey] = this.raw(dd, 0, 0, 0, 0);
      return [x - y, ex - ey];
    };
    const lerp2 = (dd: number): [number, number] => {
      let [a, ea] = at(dd, c0);
      if (wc > 0) {
        const [b, eb] = at(dd, c0 + CONTEXT_BUCKET);
        a += wc * (b - a);
        ea += wc * (eb - ea);
      }
      return [a, ea];
    };
    let [a, ea] = lerp2(d0);
    if (wd > 0) {
      const [b, eb] = lerp2(d0 + gridStep(d0));
      a += wd * (b - a);
      ea += wd * (eb - ea);
    }
    return [a, ea];
  }

  /** Extra attention of a chunk of t tokens because c tokens are already cached. */
  private chunkContext(t: number, c: number): [number, number] {
    if (c <= 0 || t <= 0) return [0, 0];
    const t0 = Math.max(1, gridLo(t));
    const c0 = Math.round(c / CONTEXT_BUCKET) * CONTEXT_BUCKET;
    if (c0 === 0) return [0, 0];
    const [x, ex] = this.raw(0, 0, 1, t0, c0);
    const [y, ey] = this.raw(0, 0, 1, t0, 0);
    return [x - y, ex - ey];
  }

  /**
   * Time of a step with d decoding sequences at mean context ctx and prefill pieces (their mean
   * length sets the shared linear work; each piece's cached context adds its own attention).
   * Energy goes to `this.energyJ`.
   */
  cost(d: number, ctx: number, pieces: readonly StepPiece[] | null, nPieces = pieces?.length ?? 0, meanTokens?: number): number {
    let tokens = meanTokens ?? 0;
    if (pieces && meanTokens === undefined && nPieces > 0) {
      for (let i = 0; i < nPieces; i++) tokens += pieces[i]!.tokens;
      tokens /= nPieces;
    }
    if (d <= 0 && nPieces <= 0) {
      this.energyJ = 0;
      this.pimFraction = 0;
      return 0;
    }
    let [t, e] = this.base(Math.max(0, d), nPieces, tokens);
    if (pieces)
      for (let i = 0; i < nPieces; i++) {
        const p = pieces[i]!;
        if (p.context > 0) {
          const [x, ex] = this.chunkContext(p.tokens, p.context);
          t += x;
          e += ex;
        }
      }
    const [at, ae] = this.attention(d, ctx);
    if (!this.pim || d <= 0 || at <= 0) {
      this.energyJ = e + ae;
      this.pimFraction = 0;
      return t + at;
    }
    return this.withPim(t, e, at, ae, d, ctx);
  }

  /**
   * L3-style offload: a fraction f of the decode sequences keep their KV in the PIM tier, which runs
   * their attention while the accelerator runs everything else; two sub-batches alternate per layer
   * so accelerator and PIM work overlap (exposed: one sub-batch-layer of the shorter side). The
   * split f balances the two sides within the capacity limits of both tiers.
   */
  private withPim(t: number, e: number, at: number, ae: number, d: number, ctx: number): number {
    const pim = this.pim!;
    const a = this.arch;
    const L = a.numLayers;
    const kvB = this.sm.kvBytesPerToken;
    const actB = BYTES_PER_ELEMENT[this.prec.activations];
    // Whole-step PIM cost if every sequence were offloaded.
    const kvRead = d * ctx * kvB;
    const flops = 4 * d * ctx * a.numHeads * a.headDim * L;
    const pimCompute = Math.max(kvRead / (pim.internalBandwidthGBps * 1e9), flops / (pim.computeTFLOPS * 1e12));
    // Per token and layer: q out, attention output back, the new K/V appended.
    const linkBytes = d * (L * 2 * a.numHeads * a.headDim * actB + kvB);
    const linkS = linkBytes / (pim.linkBandwidthGBps * 1e9);
    const pimFull = Math.max(pimCompute, linkS); // transfers overlap the in-memory compute
    const used = d * ctx;
    const fMin = Math.max(0, 1 - this.sm.kvCapacityTokens / used);
    const fMax = Math.min(1, this.pimCapacityTokens / used);
    // Accelerator: t + (1-f) at; PIM: f pimFull. Balance, then clip to what capacity allows.
    let f = (t + at) / (at + pimFull);
    f = Math.min(fMax, Math.max(fMin, Math.min(1, f)));
    const g = t + (1 - f) * at;
    const p = f * pimFull + (f > 0 ? pim.linkLatencyUs * 1e-6 : 0);
    const time = Math.max(g, p) + Math.min(g, p) / (2 * L);
    this.pimFraction = f;
    // e and (1 - f) ae count the static power over the accelerator's side (g); the step lasts `time`.
    this.energyJ = e + (1 - f) * ae + f * kvRead * 8 * pim.energyPJPerBit * 1e-12 + this.staticW * (time - g);
    return time;
  }
}
