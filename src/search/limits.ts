// Limits shared by the CLI (no gRPC loaded) and the wire protocol (coordinator/protocol.ts).

/** Designs one message of a subspace result may carry; a worker splits a larger result into parts. */
export const MAX_DESIGNS_PER_RESULT = 4096;

/** Parts of one subspace result (more: RESOURCE_EXHAUSTED): 2^20 designs. */
export const MAX_PARTS_PER_RESULT = 256;

/**
 * The largest top-K (--top-k, per objective): a sanity bound (a result larger than one message goes
 * in parts). Every incumbent a worker receives carries the lists (about 40 B an entry).
 */
export const MAX_TOP_K = 10_000;
