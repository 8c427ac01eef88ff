// Loading configs from presets or files: the I/O edge in front of the pure model.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseWith } from '../model/errors.js';
import { systemSchema, type SystemSpec } from '../model/hardware/schema.js';
import type { ModelArch } from '../model/types.js';
import { parseHfConfig } from '../model/workload/index.js';

/** The project root: the nearest ancestor of this module holding package.json (src/ or dist/src/). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'data'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('strata: cannot find the project root (package.json + data/)');
    dir = up;
  }
}

export function dataDir(...parts: string[]): string {
  return join(projectRoot(), 'data', ...parts);
}

export function presetNames(kind: 'systems' | 'models' | 'workloads' | 'spaces'): string[] {
  const dir = dataDir(kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Reads JSON from a file; a parse failure is a ConfigError naming the file. */
export function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(what, file, `a readable file (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(what, file, `valid JSON (${(e as Error).message})`);
  }
}

/** A preset name, or a path to a JSON file (anything with a slash or ending in .json). */
export function resolveRef(ref: string, kind: 'systems' | 'models' | 'workloads' | 'spaces', flag: string): string {
  if (ref.includes('/') || ref.endsWith('.json')) {
    const p = resolve(ref);
    if (!existsSync(p)) throw new ConfigError(flag, ref, 'an existing JSON file or a preset name');
    return p;
  }
  const p = dataDir(kind, ref + '.json');
  if (!existsSync(p)) throw new ConfigError(flag, ref, `a preset (${presetNames(kind).join(', ')}) or a JSON file`);
  return p;
}

const systemCache = new Map<string, SystemSpec>();
export function loadSystem(ref: string, flag = '--system'): SystemSpec {
  const file = resolveRef(ref, 'systems', flag);
  let s = systemCache.get(file);
  if (!s) {
    s = parseWith(systemSchema, readJson(file, flag), file);
    systemCache.set(file, s);
  }
  return s;
}

const modelCache = new Map<string, ModelArch>();
export function loadModel(ref: string, flag = '--model'): ModelArch {
  const file = resolveRef(ref, 'models', flag);
  let m = modelCache.get(file);
  if (!m) {
    const name = file.split('/').pop()!.replace(/\.json$/, '');
    try {
      m = parseHfConfig(readJson(file, flag), name);
    } catch (e) {
      if (e instanceof ConfigError && !e.message.startsWith(file)) {
        throw new ConfigError(e.path, e.value, e.expected, file);
      }
      throw e;
    }
    modelCache.set(file, m);
  }
  return m;
}
