// The run context of a search: the compiled space, its base system, the model and the objectives,
// built from plain JSON so that the coordinator and every worker derive the same one. Pure.
import { createHash } from 'node:crypto';
import { parseWith } from '../model/errors.js';
import { MODEL_VERSION } from '../model/evaluate.js';
import { parseHfConfig } from '../model/workload/index.js';
import { checkPaths, compileSpace } from '../space/index.js';
import { makeBoundContext } from './bounds.js';
import type { RunContext } from './engine.js';
import { searchSpecSchema, type SearchSpec } from './objective.js';

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

/** Canonical JSON (sorted keys) so equal specs hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function specHash(spec: RunSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

export function makeRunContext(spec: RunSpec): RunContext {
  const space = compileSpace(spec.space, 'space');
  checkPaths(space, spec.system);
  const model = parseHfConfig(spec.model, spec.modelName);
  return {
    space,
    baseSystemJson: spec.system,
    model,
    spec: spec.search,
    bounds: makeBoundContext(space, spec.system, model, spec.search),
  };
}
