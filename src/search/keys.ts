// The key columns of a kept design (designs.layers, bonding, ..., the `strata query best --where`
// columns): derived from what the design IS (its applied system, precision and mapping), never from
// the names of the space's dims, which each space chooses freely (deepstack's `decodeLayers`,
// `weightPrecision`, ...).
//
// Meaning of each column (also in the README, "Searching, resuming, querying"):
// - layers, connected_layers, bonding: the DRAM stack of the decode chiplet (the chiplet with role
//   'decode'; in a one-chiplet package, its only chiplet): DRAM dies per stack, dies connected at once,
//   and its vertical interconnect kind ('tsv' or 'hybrid-bond'). Decode streams the weights and the
//   KV cache from that stack, so it is the stack the design's tokens/s and tokens/s/W depend on. The
//   prefill chiplet's stack (and any dim value) stays queryable as `params.<dim>`.
// - precision: the weights' precision (bf16, fp8, fp4, ...); the activation and KV-cache precisions
//   are in metrics_json.precision and in the params of the dims that set them.
// - devices: packages in the system, tp*pp*dp*sp of the mapping.
// - tp, pp, dp, sp, ep: the mapping's degrees (1 when the space has no mapping dim).
// - batch: sequences in a batch.
// - system: the name of the (base) system the point modifies, e.g. lamosys-pd.
import type { Chiplet, SystemSpec } from '../model/hardware/schema.js';
import { devicesOf, type Mapping } from '../model/parallel.js';
import type { PrecisionSpec } from '../model/types.js';
import { unrankIndices, writeAt, type Value } from '../space/index.js';
import type { KeyColumn } from '../store/schema.js';
import type { RunContext, SystemCache } from './engine.js';

export type KeyValues = Record<KeyColumn, number | string | null>;

/** The hardware part of the key columns. */
type StackKeys = Pick<KeyValues, 'layers' | 'connected_layers' | 'bonding' | 'system'>;

/** The chiplet whose DRAM stack the key columns describe: the decode chiplet, else the only one. */
export function keyChiplet<C extends { role?: string }>(chiplets: readonly C[]): C {
  return chiplets.find((c) => c.role === 'decode') ?? chiplets.find((c) => (c.role ?? 'any') === 'any') ?? chiplets[0]!;
}

function stackKeys(sys: { name?: unknown; package?: { chiplets?: readonly Partial<Chiplet>[] } } | null): StackKeys {
  const cs = sys?.package?.chiplets;
  const mem = cs && cs.length > 0 ? (keyChiplet(cs as { role?: string }[]) as Partial<Chiplet>).memory : undefined;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    layers: num(mem?.layers),
    connected_layers: num(mem?.connectedLayers),
    bonding: typeof mem?.vertical?.kind === 'string' ? mem.vertical.kind : null,
    system: typeof sys?.name === 'string' ? sys.name : null,
  };
}

/** Key columns of a design from its system (null when it has none), precision, mapping and batch. */
export function designKeys(sys: SystemSpec | null, p: { precision: PrecisionSpec; mapping: Mapping; batch: number }): KeyValues {
  return keysOf(stackKeys(sys), p);
}

function keysOf(hw: StackKeys, p: { precision: PrecisionSpec; mapping: Mapping; batch: number }): KeyValues {
  const m = p.mapping;
  return {
    layers: hw.layers,
    connected_layers: hw.connected_layers,
    bonding: hw.bonding,
    devices: devicesOf(m),
    tp: m.tp,
    pp: m.pp,
    dp: m.dp,
    sp: m.sp,
    ep: m.ep,
    batch: p.batch,
    precision: p.precision.weights,
    system: hw.system,
  };
}

/**
 * The part of a system JSON the stack keys read (name; per chiplet: role, memory layers,
 * connectedLayers, vertical kind), as a fresh object: a few hundred bytes to copy, not the whole
 * system, for every new hardware combination.
 */
function skeleton(sys: Record<string, unknown>): Record<string, unknown> {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const pkg = isObj(sys.package) ? sys.package : {};
  const cs = Array.isArray(pkg.chiplets) ? (pkg.chiplets as unknown[]) : [];
  return {
    name: sys.name,
    package: {
      chiplets: cs.map((c) => {
        const o = isObj(c) ? c : {};
        const m = isObj(o.memory) ? o.memory : {};
        const v = isObj(m.vertical) ? m.vertical : {};
        return { role: o.role, memory: { layers: m.layers, connectedLayers: m.connectedLayers, vertical: { kind: v.kind } } };
      }),
    },
  };
}

/**
 * Key columns of points of a run's space, as evaluatePoint applies them: the coordinator's (one per
 * kept design). The hardware part is read from the applied system (the base system with the point's
 * hardware dims written at their paths, on the skeleton of the fields the keys read), memoised per
 * combination of those dims; no schema parse (a kept design's system was parsed and evaluated by its
 * worker). The targets (precision, mapping, batch) come from the SystemCache.
 */
export class PointKeys {
  private readonly hwDims: number[];
  private readonly hw = new Map<string, StackKeys>();
  private readonly base: Record<string, unknown>;
  constructor(
    private readonly ctx: RunContext,
    private readonly systems: SystemCache,
  ) {
    this.hwDims = ctx.space.dims.filter((d) => d.paths.length > 0).map((d) => d.index);
    this.base = skeleton(ctx.baseSystemJson);
  }

  of(id: bigint): KeyValues {
    const space = this.ctx.space;
    const idx = unrankIndices(space, id);
    const values: Record<string, Value> = {};
    for (let i = 0; i < space.dims.length; i++) values[space.dims[i]!.name] = space.dims[i]!.values[idx[i]!]!;
    let key = '';
    for (const i of this.hwDims) key += idx[i] + ',';
    let hw = this.hw.get(key);
    if (!hw) {
      const sys = structuredClone(this.base);
      for (const i of this.hwDims) {
        const d = space.dims[i]!;
        for (const segs of d.paths) writeAt(sys, segs, values[d.name]!); // no `where`: paths the skeleton lacks are skipped
      }
      hw = stackKeys(sys as Parameters<typeof stackKeys>[0]);
      if (this.hw.size >= 10_000) this.hw.clear();
      this.hw.set(key, hw);
    }
    const t = this.systems.targets(idx, values);
    return keysOf(hw, { precision: t.precision, mapping: t.evalMapping, batch: t.batch ?? 1 });
  }
}

/** Key columns of the point `id` of the run's space (a one-off PointKeys). */
export function pointKeys(ctx: RunContext, systems: SystemCache, id: bigint): KeyValues {
  return new PointKeys(ctx, systems).of(id);
}
