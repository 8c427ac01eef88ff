// Results in several messages (coordinator/parts.ts): the worker's split and the coordinator's
// reassembly, and the parts that do not make one result.
import { describe, expect, it } from 'vitest';
import { resultFromWire, resultPartsToWire, resultToWire, WireError, type WireResult } from '../coordinator/protocol.js';
import { PartsBudget, ResultParts } from '../coordinator/parts.js';
import * as grpc from '@grpc/grpc-js';
import type { SubspaceResult } from '../src/search/engine.js';

const sub = { first: 1000n, size: 100n };

function sample(n: number, subspaceId = 'a=1'): SubspaceResult {
  return {
    subspaceId,
    first: sub.first,
    size: sub.size,
    counts: { evaluated: 60n, prunedBound: 30n, prunedDominance: 0n, infeasible: 10n },
    infeasibleByReason: { memory: 10n },
    designs: Array.from({ length: n }, (_, k) => ({
      id: sub.first + BigInt(k),
      subspaceId,
      values: [k],
      figures: { tokens_per_s_per_w: k },
      params: { batch: k + 1 },
      metrics: undefined as never,
      metricsJson: JSON.stringify({ pad: 'x'.repeat(k % 7 === 0 ? 500 : 50) }),
      keptAs: (k === n - 1 ? ['subspace-best'] : []) as 'subspace-best'[],
    })),
  };
}

/** What the coordinator makes of these messages: the whole results, in order. */
function reassemble(ws: WireResult[], parts = new ResultParts()): SubspaceResult[] {
  return ws.map((w) => parts.add(w, resultFromWire(w, sub, 1))).filter((r): r is SubspaceResult => r !== null);
}

const ids = (r: SubspaceResult) => r.designs.map((d) => `${d.id}:${d.keptAs.join('+')}`);

const refused = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(WireError);
  expect(f).toThrow(re);
};

describe('results in parts', () => {
  it('a result that fits goes whole; a larger one in parts of at most maxDesigns designs and about maxBytes, which make it whole again', () => {
    expect(resultPartsToWire(sample(50), 1 << 20)).toEqual([resultToWire(sample(50))]);
    const ws = resultPartsToWire(sample(50), 2000, 8);
    expect(ws.length).toBeGreaterThan(50 / 8);
    expect(ws.map((w) => [w.parts, w.part])).toEqual(ws.map((_, i) => [ws.length, i]));
    for (const w of ws) {
      expect(w.columns!.ids.length).toBeLessThanOrEqual(8);
      // One design at least; beyond the first, within the byte budget.
      const bytes = w.columns!.metricsJson.slice(1).reduce((a, m) => a + m.length + 200, 0);
      expect(bytes).toBeLessThanOrEqual(2000);
    }
    const [whole] = reassemble(ws);
    const want = resultFromWire(resultToWire(sample(50)), sub, 1);
    expect(ids(whole!)).toEqual(ids(want));
    expect([whole!.counts, whole!.infeasibleByReason]).toEqual([want.counts, want.infeasibleByReason]);
  });

  it('parts that do not make one result are refused', () => {
    const ws = resultPartsToWire(sample(30), 1 << 20, 10);
    const other = resultPartsToWire(sample(30, 'a=2'), 1 << 20, 10);
    refused(() => reassemble([ws[0]!, ws[2]!]), /part 2 of 3 after part 0 of 3/);
    refused(() => reassemble([ws[1]!]), /part 1 of 3 without its part 0/);
    refused(() => reassemble([ws[0]!, other[0]!]), /part 0 of 3 while part 1 of 3 of subspace 'a=1' is missing/);
    refused(() => reassemble([ws[0]!, resultToWire(sample(5))]), /is missing/);
    refused(() => reassemble([ws[0]!, { ...ws[1]!, parts: 4 }]), /after part 0 of 3/);
    refused(() => reassemble([ws[0]!, { ...ws[1]!, counts: { ...ws[1]!.counts!, evaluated: '59', prunedBound: '31' } }]), /another range, counts or reasons/);
    refused(() => reassemble([ws[0]!, { ...ws[1]!, columns: ws[0]!.columns }]), /appears in two parts/);
    refused(() => reassemble([{ ...ws[0]!, part: 3 }]), /part 3 of 3/);
    refused(() => reassemble([{ ...ws[0]!, parts: 257 }]), /257 parts \(max 256\)/);
    refused(() => reassemble([{ ...ws[0]!, parts: -1 }]), /parts -1 is not a non-negative integer/);
    // More designs in all parts than evaluated.
    const many = resultPartsToWire({ ...sample(30), counts: { evaluated: 25n, prunedBound: 65n, prunedDominance: 0n, infeasible: 10n } }, 1 << 20, 10);
    refused(() => reassemble(many), /30 designs but 25 evaluated/);
  });

  it('the parts of a lease that is gone are dropped, the rest of them ignored; the next result starts afresh', () => {
    const parts = new ResultParts();
    const ws = resultPartsToWire(sample(30), 1 << 20, 10);
    expect(reassemble([ws[0]!], parts)).toEqual([]);
    parts.drop('a=1');
    expect(reassemble([ws[1]!, ws[2]!], parts)).toEqual([]);
    const [whole] = reassemble(ws, parts);
    expect(whole!.designs.length).toBe(30);
  });

  it('the parts held by all streams share one budget: held bytes counted, released when whole, dropped or cleared; over it, RESOURCE_EXHAUSTED', () => {
    const ws = resultPartsToWire(sample(30), 1 << 20, 10); // 3 parts of 10 designs
    expect(ws.length).toBe(3);
    const bytesOf = (w: WireResult) => resultFromWire(w, sub, 1).designs.reduce((a, d) => a + 64 + Buffer.byteLength((d as unknown as { metricsJson: string }).metricsJson), 0);
    const first = bytesOf(ws[0]!);
    const second = bytesOf(ws[1]!);
    // Room for the first two parts (the last one completes the result and is not held).
    const budget = new PartsBudget(first + second);
    const a = new ResultParts(budget);
    const b = new ResultParts(budget);
    expect(reassemble([ws[0]!, ws[1]!], a)).toEqual([]);
    expect(budget.held).toBe(first + second);
    expect(a.bytes).toBe(first + second);
    // Another stream cannot hold a part now.
    let err: unknown;
    try {
      reassemble([ws[0]!], b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((err as Error).message).toMatch(/parts the coordinator holds to \d+ bytes \(max \d+\)/);
    // Whole: released.
    expect(reassemble([ws[2]!], a)[0]!.designs.length).toBe(30);
    expect(budget.held).toBe(0);
    // Dropped (lease gone) and cleared (stream ended): released too.
    reassemble([ws[0]!], b);
    expect(budget.held).toBe(first);
    b.drop('a=1');
    expect(budget.held).toBe(0);
    reassemble([ws[0]!], a);
    a.clear();
    expect(budget.held).toBe(0);
  });
});

