// A pool of search threads (worker_threads sized to the cores) with one subspace in flight each.
import { totalmem } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RunSpec } from '../src/search/context.js';
import type { Incumbents } from '../src/search/archive.js';
import type { SubspaceResult } from '../src/search/engine.js';
import type { FromThread } from './thread.js';

export interface SearchPool {
  readonly size: number;
  /** Searches a subspace on a free thread. */
  run(subspaceId: string, snapshot: Incumbents): Promise<SubspaceResult>;
  close(): Promise<void>;
}

/** Threads started ahead of their run (spawnThreads): `loaded` resolves when every one has loaded its
 *  modules, the slow part of a thread's start. */
export interface Spawned {
  threads: Worker[];
  loaded: Promise<Worker[]>;
}

/** A search thread's young generation (V8: 3 semi-spaces, so 64 MB each; Node's default is 16). The
 *  search allocates fast, much of it short-lived (plans, operators, bound entries) next to caches
 *  that keep some: in a small young generation those survive scavenges and get copied, and a
 *  deepstack search spent a quarter of its time in GC. Measured on deepstack, one thread, 40 s, same
 *  points (node --max-semi-space-size): 16 MB 10.5-11.2x10^6 points accounted, 32 MB 11.2x10^6,
 *  64 MB 13.4-13.7x10^6 (+25%), 128 MB 13.4x10^6. */
export const YOUNG_GENERATION_MB = 192;

/** A thread's young generation when `n` start together: YOUNG_GENERATION_MB, as long as the threads'
 *  young generations take at most an eighth of the machine's memory (a 64-thread worker with 64 GB
 *  gets 128 MB each), and never below Node's default (48 MB: 16 MB semi-spaces). */
export function youngGenerationMb(n: number, totalBytes = totalmem()): number {
  return Math.max(48, Math.min(YOUNG_GENERATION_MB, Math.floor(totalBytes / 2 ** 20 / (8 * Math.max(1, n)))));
}

/** Starts search threads before the run spec is known (while a worker's Join is in flight, or the
 *  coordinator sets up), to hand to startPool. */
export function spawnThreads(n: number): Spawned {
  const url = new URL('./thread.js', import.meta.url);
  const young = youngGenerationMb(n);
  const threads = Array.from({ length: Math.max(0, n) }, () => new Worker(url, { resourceLimits: { maxYoungGenerationSizeMb: young } }));
  const loaded = Promise.all(
    threads.map(
      (w) =>
        new Promise<Worker>((resolve, reject) => {
          w.once('message', (m: FromThread) => (m.type === 'loaded' ? resolve(w) : reject(new Error(m.type === 'error' ? m.error : 'bad start'))));
          w.once('error', reject);
        }),
    ),
  );
  loaded.catch(() => {}); // reported by startPool; unused threads are ended by closeSpawned
  return { threads, loaded };
}

/** Ends threads that spawnThreads started and no pool took over. */
export async function closeSpawned(s: Spawned | null): Promise<void> {
  if (s) await Promise.all(s.threads.map((w) => w.terminate()));
}

/** threads = 0 runs every search in this thread (tests, debugging). `spawned`: threads started
 *  earlier by spawnThreads(threads). */
export async function startPool(spec: RunSpec, threads: number, spawned?: Spawned): Promise<SearchPool> {
  if (threads <= 0) {
    const { handle } = await import('./thread.js'); // in this thread (loaded here only: a pool's threads load it)
    handle({ type: 'init', spec }, () => {});
    return {
      size: 1,
      // Each search starts from a macrotask (setImmediate), not in the caller's promise chain: a
      // search here blocks this thread, and the event loop must get its turn between two of them
      // (the signal handlers that stop a run, lease renewals, progress). Run from a promise chain,
      // one subspace after another never left the microtask queue: SIGINT went unanswered.
      run: (subspaceId, snapshot) =>
        new Promise((resolve, reject) =>
          setImmediate(() =>
            handle({ type: 'work', subspaceId, snapshot }, (m) => (m.type === 'result' ? resolve(m.result) : m.type === 'error' ? reject(new Error(m.error)) : undefined)),
          ),
        ),
      close: async () => {},
    };
  }
  const started = spawned ?? spawnThreads(threads);
  let workers: Worker[];
  try {
    workers = await Promise.all(
      (await started.loaded).map(
        (w) =>
          new Promise<Worker>((resolve, reject) => {
            w.once('message', (m: FromThread) => (m.type === 'ready' ? resolve(w) : reject(new Error(m.type === 'error' ? m.error : 'bad init'))));
            w.once('error', reject);
            w.postMessage({ type: 'init', spec });
          }),
      ),
    );
  } catch (e) {
    await closeSpawned(started);
    throw e;
  }
  const idle = [...workers];
  const waiting: ((w: Worker) => void)[] = [];
  const acquire = () => new Promise<Worker>((resolve) => (idle.length > 0 ? resolve(idle.pop()!) : waiting.push(resolve)));
  const releaseW = (w: Worker) => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  return {
    size: workers.length,
    async run(subspaceId, snapshot) {
      const w = await acquire();
      try {
        return await new Promise<SubspaceResult>((resolve, reject) => {
          const onMsg = (m: FromThread) => {
            w.off('error', onErr);
            if (m.type === 'result') resolve(m.result);
            else reject(new Error(m.type === 'error' ? m.error : 'unexpected message'));
          };
          const onErr = (e: Error) => {
            w.off('message', onMsg);
            reject(e);
          };
          w.once('message', onMsg);
          w.once('error', onErr);
          w.postMessage({ type: 'work', subspaceId, snapshot });
        });
      } finally {
        releaseW(w);
      }
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
