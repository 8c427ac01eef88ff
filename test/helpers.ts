// Shared helpers of the model test suites: presets read from data/ and parsed with the real schemas,
// hand formulas for Llama-family configs (independent of src/model/workload), small numeric helpers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWith } from '../src/model/errors.js';
import { systemSchema, type Chiplet, type SystemSpec } from '../src/model/hardware/schema.js';
import { parseHfConfig } from '../src/model/workload/index.js';
import { evaluate, type EvalInput, type EvalResult } from '../src/model/evaluate.js';
import { BYTES_PER_ELEMENT, type ModelArch, type Precision, type PrecisionSpec } from '../src/model/types.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const dataPath = (...parts: string[]) => join(ROOT, 'data', ...parts);

/** Runs the built CLI (bin/strata.js, from the repository root): exit code and output. */
export function strataCli(args: string[], timeoutMs = 120_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'strata.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temporary directory for a test file's CLI runs: made before its tests (which need dist/ built,
 *  as npm test's pretest does), removed after them. Returns its path getter. */
export function cliTempDir(prefix: string): () => string {
  let dir = '';
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it in pretest)');
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** Raw JSON of a system preset (to be edited and re-parsed). */
export function systemJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(dataPath('systems', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** Raw Hugging Face config.json of a model preset. */
export function modelJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(dataPath('models', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

const sysCache = new Map<string, SystemSpec>();
/** A system preset parsed with the zod schema (a fresh deep copy each call: callers may mutate it). */
export function loadSystem(name: string): SystemSpec {
  let s = sysCache.get(name);
  if (!s) {
    s = parseWith(systemSchema, systemJson(name), name);
    sysCache.set(name, s);
  }
  return structuredClone(s);
}

const modelCache = new Map<string, ModelArch>();
/** A model preset parsed from its config.json (cached: ModelArch objects are immutable). */
export function loadModel(name: string): ModelArch {
  let m = modelCache.get(name);
  if (!m) {
    m = parseHfConfig(modelJson(name), name);
    modelCache.set(name, m);
  }
  return m;
}

/** Re-validates an edited system through the schema (so a test never evaluates an invalid design). */
export function reparse(s: unknown): SystemSpec {
  return parseWith(systemSchema, s);
}

export const allPrec = (p: Precision): PrecisionSpec => ({ weights: p, activations: p, kvCache: p });
export const BF16 = allPrec('bf16');
export const FP8 = allPrec('fp8');

export function run(
  system: SystemSpec,
  model: ModelArch | string,
  o: Partial<Omit<EvalInput, 'system' | 'model'>> = {},
): EvalResult {
  return evaluate({
    system,
    model: typeof model === 'string' ? loadModel(model) : model,
    precision: o.precision ?? FP8,
    batch: o.batch ?? 8,
    inputTokens: o.inputTokens ?? 512,
    outputTokens: o.outputTokens ?? 128,
    ...(o.decodeSamples !== undefined ? { decodeSamples: o.decodeSamples } : {}),
    ...(o.mapping !== undefined ? { mapping: o.mapping } : {}),
    ...(o.detail !== undefined ? { detail: o.detail } : {}),
    ...(o.chunkTokens !== undefined ? { chunkTokens: o.chunkTokens } : {}),
  });
}

/** The chiplet that runs a phase (its role, else the 'any' chiplet). */
export function chipletFor(s: SystemSpec, phase: 'prefill' | 'decode'): Chiplet {
  const cs = s.package.chiplets;
  return (cs.find((c) => c.role === phase) ?? cs.find((c) => c.role === 'any'))!;
}

/** Peak dense FLOP/s of a compute die at a precision: 2 x MACs/cycle/core x cores x GHz x 1e9. */
export function peakFlopsOf(c: Chiplet, p: Precision): number {
  const macs = c.compute.macsPerCyclePerCore[p];
  if (macs === undefined) throw new Error(`${c.name} has no ${p} matrix unit`);
  return 2 * macs * c.compute.cores * c.compute.frequencyGHz * 1e9;
}

/** Hand formulas for a Llama-family (GQA, gated FFN, untied or tied) config.json. */
export function llamaFigures(cfg: Record<string, unknown>) {
  const h = cfg.hidden_size as number;
  const L = cfg.num_hidden_layers as number;
  const H = cfg.num_attention_heads as number;
  const kvH = (cfg.num_key_value_heads as number | undefined) ?? H;
  const hd = (cfg.head_dim as number | null | undefined) ?? h / H;
  const I = cfg.intermediate_size as number;
  const V = cfg.vocab_size as number;
  const tied = cfg.tie_word_embeddings === true;
  // Per layer matrix parameters: q, k, v, o and the gated FFN (gate, up, down).
  const layerMatrix = h * (H * hd) + 2 * h * (kvH * hd) + H * hd * h + 3 * h * I;
  const layerNorms = 2 * h;
  const embedding = V * h;
  const lmHead = tied ? 0 : V * h;
  const total = embedding + lmHead + L * (layerMatrix + layerNorms) + h;
  return {
    h, L, H, kvH, hd, I, V, tied,
    layerMatrix,
    embedding,
    totalParams: total,
    /** Parameters a decode step must read besides the embedding rows of its tokens. */
    decodeReadParams: total - embedding + (tied ? embedding : 0),
    /** K and V elements one token adds over all layers. */
    kvElemsPerToken: 2 * kvH * hd * L,
    /** Prefill FLOPs of the layers' matrices and the causal attention (lm_head and norms excluded). */
    prefillFlopsLowerBound(batch: number, tokens: number): number {
      const proj = 2 * batch * tokens * L * layerMatrix;
      const attn = 4 * H * hd * batch * ((tokens * (tokens + 1)) / 2) * L;
      return proj + attn;
    },
  };
}

export const bytesOf = (p: Precision) => BYTES_PER_ELEMENT[p];

export const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

/** Sets a value at a path of plain objects/arrays (mutates). */
export function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
}

export function getAt(root: unknown, path: readonly (string | number)[]): unknown {
  let cur = root as Record<string | number, unknown> | undefined;
  for (const p of path) cur = cur?.[p] as Record<string | number, unknown> | undefined;
  return cur;
}

/**
 * A heat sink bad enough that the nominal clock overheats the package, but not so bad that it runs
 * away even at the lowest clock: the largest multiple of the preset's sinkResistanceKPerW (from 20
 * down) at which `evaluate` throttles (throttleFactor < 1) and stays feasible.
 */
export function throttlingSinkFactor(system: SystemSpec, model: ModelArch | string, o: Parameters<typeof run>[2] = {}): number {
  for (const f of [20, 16, 12, 10, 8, 7, 6, 5, 4, 3.5, 3, 2.5, 2]) {
    const s = structuredClone(system);
    s.package.thermal.sinkResistanceKPerW *= f;
    const r = run(s, model, o);
    if (r.feasible && r.thermal.throttleFactor < 1) return f;
  }
  throw new Error(`no sink factor throttles ${system.name}`);
}

/** fast-check run count, scaled by STRATA_FC_SCALE (e.g. 20 for a deep local run; default 1). */
export function fcRuns(n: number): number {
  const k = Number(process.env.STRATA_FC_SCALE ?? '1');
  return Math.max(1, Math.round(n * (Number.isFinite(k) && k > 0 ? k : 1)));
}
