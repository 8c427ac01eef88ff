// A subspace result larger than one message goes in parts (proto SubspaceResult.parts): a real
// coordinator and worker on loopback commit it once and store exactly what the embedded run stores.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_DESIGNS_PER_RESULT } from '../src/search/limits.js';
import { ROOT } from './helpers.js';
import { answer, BIN, dbQuery, startCoordinator, startWorker, tmp, within } from './distributed-helpers.js';

const dir = tmp('strata-parts-');

/**
 * One subspace of 24,000 points (small's stack and serving dims under one level, batch 1-400) in
 * which about 9,500 designs are feasible: with --top-k 10000 its result keeps them all.
 */
function oneBigSubspace(): string {
  const small = JSON.parse(readFileSync(join(ROOT, 'data', 'spaces', 'small.json'), 'utf8')) as { base: unknown; levels: { dims: { name: string; values?: unknown[] }[] }[] };
  const dim = (name: string, values: unknown[]) => ({ ...small.levels.flatMap((l) => l.dims).find((d) => d.name === name)!, values });
  const space = {
    name: 'one-big-subspace',
    description: 'one subspace whose result needs several messages',
    base: small.base,
    levels: [
      { name: 'memory', dims: [dim('layers', [16])] },
      {
        name: 'serving',
        dims: [dim('connectedLayers', [1, 2, 4, 8, 16]), dim('pitchUm', [3, 6, 9]), dim('globalSramMB', [32, 64]), dim('batch', Array.from({ length: 400 }, (_, i) => i + 1)), dim('precision', ['bf16', 'fp8'])],
      },
    ],
  };
  const file = join(dir, 'one-big-subspace.json');
  writeFileSync(file, JSON.stringify(space));
  return file;
}

const stored = (db: string) => dbQuery<{ point_id: string; kept_as: number; params_json: string; metrics_json: string }>(db, 'SELECT point_id, kept_as, params_json, metrics_json FROM designs ORDER BY point_id');

describe('a result in parts', () => {
  it('a subspace result of ~9,500 designs (~66 MB) goes in parts, commits once, and the database holds what the embedded run holds', async () => {
    const space = oneBigSubspace();
    const emb = join(dir, 'embedded.db');
    const e = spawnSync(process.execPath, [BIN, 'search', '--space', space, '--db', emb, '--workers', '1', '--top-k', '10000'], { encoding: 'utf8', timeout: 300_000 });
    expect(e.status, e.stderr).toBe(0);
    const want = stored(emb);
    // More than one message can carry, by count (and by bytes: ~7 KB of metrics each).
    expect(want.length).toBeGreaterThan(2 * MAX_DESIGNS_PER_RESULT);

    const db = join(dir, 'distributed.db');
    const co = await startCoordinator(db, ['--top-k', '10000'], { space });
    const w = startWorker(`127.0.0.1:${co.port}`);
    expect(await within(w.exited, 300_000, 'worker'), w.stderr()).toBe(0);
    expect(await within(co.exited, 30_000, 'coordinator exit'), co.stderr()).toBe(0);
    expect(co.stdout()).toMatch(/commits 1,/);
    expect(co.stderr()).not.toMatch(/refused/);
    const a = answer(db);
    expect(a).toMatchObject({ integrity: 'ok', state: 'done', tiled: true, total: 24000n, runTotals: 24000n });
    expect(stored(db)).toEqual(want);
    expect(a.front).toEqual(answer(emb).front);
  }, 600_000);
});
