// A pool of search threads (worker_threads sized to the cores) with one subspace in flight each.
import { Worker } from 'node:worker_threads';
import type { RunSpec } from '../src/search/context.js';
import type { Entry } from '../src/search/archive.js';
import type { SubspaceResult } from '../src/search/engine.js';
import { handle, type FromThread } from './thread.js';

export interface SearchPool {
  readonly size: number;
  /** Searches a subspace on a free thread. */
  run(subspaceId: string, snapshot: Entry[]): Promise<SubspaceResult>;
  close(): Promise<void>;
}

/** threads = 0 runs every search in this thread (tests, debugging). */
export async function startPool(spec: RunSpec, threads: number): Promise<SearchPool> {
  if (threads <= 0) {
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
  const url = new URL('./thread.js', import.meta.url);
  const workers = await Promise.all(
    Array.from({ length: threads }, () => {
      const w = new Worker(url);
      return new Promise<Worker>((resolve, reject) => {
        w.once('message', (m: FromThread) => (m.type === 'ready' ? resolve(w) : reject(new Error(m.type === 'error' ? m.error : 'bad init'))));
        w.once('error', reject);
        w.postMessage({ type: 'init', spec });
      });
    }),
  );
  const idle = [...workers];
  const waiting: ((w: Worker) => void)[] = [];
  const acquire = () => new Promise<Worker>((resolve) => (idle.length > 0 ? resolve(idle.pop()!) : waiting.push(resolve)));
  const releaseW = (w: Worker) => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  return {
    size: threads,
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
