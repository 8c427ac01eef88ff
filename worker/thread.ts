// A search thread: builds the run context once, then searches the subspaces it is given.
// Runs inside worker_threads (embedded search, and the gRPC worker's pool).
import { parentPort } from 'node:worker_threads';
import { makeRunContext, type RunSpec } from '../src/search/context.js';
import { searchSubspace, SystemCache, type RunContext } from '../src/search/engine.js';
import type { Incumbents } from '../src/search/archive.js';
import { subspaceById } from '../src/space/index.js';
import { wireJson } from './json.js';

export type ToThread = { type: 'init'; spec: RunSpec } | { type: 'work'; subspaceId: string; snapshot: Incumbents };
export type FromThread =
  | { type: 'loaded' }
  | { type: 'ready' }
  | { type: 'result'; result: import('../src/search/engine.js').SubspaceResult }
  | { type: 'error'; subspaceId?: string; error: string };

let ctx: RunContext | null = null;
let systems: SystemCache | null = null;

/** Handles one message; also used in-process (no thread) by tests and --workers 0. */
export function handle(msg: ToThread, post: (m: FromThread) => void): void {
  try {
    if (msg.type === 'init') {
      ctx = makeRunContext(msg.spec);
      systems = new SystemCache(ctx);
      post({ type: 'ready' });
      return;
    }
    if (!ctx || !systems) throw new Error('search thread: work before init');
    const sub = subspaceById(ctx.space, msg.subspaceId);
    const r = searchSubspace(ctx, sub, msg.snapshot, systems);
    // Metrics leave the thread as JSON (metricsJson): one stringify here instead of a structured clone
    // to the main thread plus a stringify there (wire) or on the single writer (embedded store).
    const designs = r.designs.map((d) => ({ ...d, metrics: undefined as unknown as typeof d.metrics, metricsJson: wireJson(d.metrics) }));
    post({ type: 'result', result: { ...r, designs } });
  } catch (e) {
    post({ type: 'error', ...(msg.type === 'work' ? { subspaceId: msg.subspaceId } : {}), error: (e as Error).stack ?? String(e) });
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (m: ToThread) => handle(m, (r) => port.postMessage(r)));
  // The modules are loaded (the slow part of a thread's start): the pool may send the run spec.
  port.postMessage({ type: 'loaded' } satisfies FromThread);
}
