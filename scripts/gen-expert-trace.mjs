// Writes data/traces/qwen3-30b-a3b-synthetic.json: a SYNTHETIC MoE routing trace (no model was run).
// Usage: node scripts/gen-expert-trace.mjs [out.json]
//
// 128 experts, top-8 routing (Qwen3-30B-A3B's num_experts and num_experts_per_tok). Expert e has
// popularity 1/(rank(e)+1)^0.9, where rank is a seeded random permutation of 0..127 (so the hot
// experts are scattered over the expert ids, not in one contiguous block). Each of 16,384 tokens
// picks 8 distinct experts by weighted sampling without replacement (PRNG: mulberry32, seed 20261122).
// The file holds the tokens routed to each expert, expert 0 first; the counts sum to 16,384 x 8.
import { writeFileSync } from 'node:fs';

const EXPERTS = 128, TOP_K = 8, TOKENS = 16384, SKEW = 0.9, SEED = 20261122;
let a = SEED >>> 0;
const rnd = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
const rank = Array.from({ length: EXPERTS }, (_, i) => i);
for (let i = EXPERTS - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [rank[i], rank[j]] = [rank[j], rank[i]];
}
const pop = rank.map((r) => 1 / (r + 1) ** SKEW);
const counts = new Array(EXPERTS).fill(0);
for (let t = 0; t < TOKENS; t++) {
  const w = pop.slice();
  for (let k = 0; k < TOP_K; k++) {
    let u = rnd() * w.reduce((s, x) => s + x, 0);
    let e = 0;
    while (e < EXPERTS - 1 && (u -= w[e]) >= 0) e++;
    while (w[e] === 0) e--; // rounding at the end of the cumulative sum
    counts[e]++;
    w[e] = 0;
  }
}
const out = process.argv[2] ?? new URL('../data/traces/qwen3-30b-a3b-synthetic.json', import.meta.url);
writeFileSync(out, JSON.stringify(counts) + '\n');
