// The results store: schema, single writer (coordinator only), read-only queries and export.
export * from './schema.js';
export * from './db.js';
export * from './writer.js';
export * from './query.js';
export { canonicalJson, toBig, sumDec } from './bigint.js';
export * from './lock.js';
