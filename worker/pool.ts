// A pool of search threads (worker_threads sized to the cores) with one subspace in flight each.
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

/** Starts search threads before the run spec is known (while a worker's Join is in flight, or the
 *  coordinator sets up), to hand to startPool. */
export function spawnThreads(n: number): Spawned {
  const url = new URL('./thread.js', import.meta.url);
  const threads = Array.from({ length: Math.max(0, n) }, () => new Worker(url));
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
      run: (subspaceId, snapshot) =>
        new Promise((resolve, reject) =>
          handle({ type: 'work', subspaceId, snapshot }, (m) => (m.type === 'result' ? resolve(m.result) : m.type === 'error' ? reject(new Error(m.error)) : undefined)),
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
