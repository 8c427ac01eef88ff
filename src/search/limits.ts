// Limits shared by the CLI (no gRPC loaded) and the wire protocol (coordinator/protocol.ts).

/** Designs one subspace result may carry over the wire (coordinator/protocol.ts refuses more). */
export const MAX_DESIGNS_PER_RESULT = 4096;

/**
 * The largest top-K (--top-k) whose lists always fit in one subspace result, which is never split: a
 * result carries the designs that enter a top-K list (K per objective) or the front, and the
 * subspace's best. With one objective the front is the best design and the best is in the list: K
 * designs at most. With several, K per objective plus the best; the front's own size is not bounded
 * by K, so a subspace whose local front alone held more than the limit would still be refused.
 */
export function maxTopK(objectives: number): number {
  return Math.floor((MAX_DESIGNS_PER_RESULT - 1) / Math.max(1, objectives));
}
