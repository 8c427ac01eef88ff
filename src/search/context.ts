// The run context of a search: the compiled space, its base system, the model and the objectives,
// built from plain JSON so that the coordinator and every worker derive the same one. Pure.
import { ConfigError, parseWith } from '../model/errors.js';
import { MODEL_VERSION } from '../model/evaluate.js';
import { parseHfConfig } from '../model/workload/index.js';
import { checkPaths, compileSpace } from '../space/index.js';
import { makeBoundContext } from './bounds.js';
import type { RunContext } from './engine.js';
import { searchSpecSchema, usesServing, type SearchSpec } from './objective.js';

/** Everything that defines a run; its hash identifies the run in the database. */
export interface RunSpec {
  modelVersion: string;
  space: unknown;
  system: Record<string, unknown>;
  systemName: string;
  model: unknown;
  modelName: string;
  search: SearchSpec;
  /** Subspace depth the coordinator splits the space at. */
  splitDepth: number;
}

export function makeRunSpec(space: unknown, system: Record<string, unknown>, systemName: string, model: unknown, modelName: string, search: unknown, splitDepth: number): RunSpec {
  return {
    modelVersion: MODEL_VERSION,
    space,
    system,
    systemName,
    model,
    modelName,
    search: parseWith(searchSpecSchema, search, '--objective'),
    splitDepth,
  };
}

/** Targets only the serving objective reads (engine.ts servingOf). */
const SERVING_TARGETS = ['prefillDecodeRatio'];

export function makeRunContext(spec: RunSpec): RunContext {
  const space = compileSpace(spec.space, 'space');
  checkPaths(space, spec.system);
  // A serving-scheduler target evaluate() does not read: without a serving objective a dim over it
  // would only duplicate points (a package's prefill:decode split is its chiplets' counts).
  if (!usesServing(spec.search)) {
    for (const d of space.dims)
      if (d.target !== undefined && SERVING_TARGETS.includes(d.target))
        throw new ConfigError(`${d.configPath}.target`, d.target, `a target the search's objective reads (${SERVING_TARGETS.join(' and ')}: the split of DP replicas between prefill and decode, read by the serving objective only: use --objective serving-throughput-per-watt, or set the package's prefill and decode chiplet counts)`);
    const defaults = (space.config.base.defaults ?? {}) as Record<string, unknown>;
    for (const t of SERVING_TARGETS)
      if (defaults[t] !== undefined)
        throw new ConfigError(`$.base.defaults.${t}`, defaults[t], `no ${t} without a serving objective (--objective serving-throughput-per-watt)`);
  }
  const model = parseHfConfig(spec.model, spec.modelName);
  const base = withoutDocs(spec.system);
  return {
    space,
    baseSystemJson: base,
    model,
    spec: spec.search,
    bounds: makeBoundContext(space, base, model, spec.search),
    serving: usesServing(spec.search),
  };
}

/** The system without its documentation (description, sources, notes: two thirds of deepstack's base
 *  JSON, read by no figure), which every design point and bound corner would otherwise clone and parse
 *  again (deepstack's initial bounds alone build some 60,000 systems; 11% of their time). The run spec
 *  (and its hash) keeps them. */
function withoutDocs(system: Record<string, unknown>): Record<string, unknown> {
  const { description: _d, sources: _s, notes: _n, ...rest } = system;
  return rest;
}
