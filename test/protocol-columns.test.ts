// The column-wise design form of a result (proto DesignColumns): the worker's encoding round-trips
// through the coordinator's validation, and every bad column is refused like the per-message form.
import { describe, expect, it } from 'vitest';
import { resultFromWire, resultToWire, WireError, type WireColumns, type WireResult } from '../coordinator/protocol.js';
import type { SubspaceResult } from '../src/search/engine.js';

const sub = { first: 100n, size: 10n };

function sample(): SubspaceResult {
  return {
    subspaceId: 'a=1',
    first: 100n,
    size: 10n,
    counts: { evaluated: 3n, prunedBound: 7n, prunedDominance: 0n, infeasible: 0n },
    infeasibleByReason: {},
    designs: [0, 1, 2].map((k) => ({
      id: 100n + BigInt(k),
      subspaceId: 'a=1',
      values: [1 + k],
      figures: { tokens_per_s_per_w: 1 + k, tpot_s: 0.5 },
      params: { batch: k + 1 },
      metrics: { decode: { stepTimeS: 1e-7 * (k + 1) } } as never,
      keptAs: (k === 2 ? ['subspace-best', 'pareto'] : []) as ('pareto' | 'subspace-best')[],
    })),
  };
}

/** Encodes through the real proto (the coordinator sees what protobufjs decodes, bytes as Buffers). */
async function roundTrip(w: WireResult): Promise<WireResult> {
  const { loadSync } = await import('@grpc/proto-loader');
  const { PROTO_PATH } = await import('../coordinator/protocol.js');
  const def = loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const m = def['strata.v1.WorkerMessage'] as unknown as { serialize: (x: object) => Buffer; deserialize: (b: Buffer) => { results: { results: WireResult[] } } };
  return m.deserialize(m.serialize({ results: { results: [w] } })).results.results[0]!;
}

const refused = (w: WireResult, re: RegExp) => {
  let err: unknown;
  try {
    resultFromWire(w, sub, 1);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WireError);
  expect((err as Error).message).toMatch(re);
};

const withColumns = (w: WireResult, c: Partial<WireColumns>): WireResult => ({ ...w, columns: { ...w.columns!, ...c } });

describe('column-wise designs', () => {
  it('the worker sends columns; the coordinator reads back the same designs', async () => {
    const w = await roundTrip(resultToWire(sample()));
    expect(w.designs).toEqual([]);
    expect(w.columns!.ids).toEqual(['100', '101', '102']);
    const r = resultFromWire(w, sub, 1);
    expect(r.designs.map((d) => d.id)).toEqual([100n, 101n, 102n]);
    expect(r.designs[2]!.keptAs).toEqual(['pareto', 'subspace-best']);
    expect(r.designs[1]!.figures).toEqual({ tokens_per_s_per_w: 2, tpot_s: 0.5 });
    expect(r.designs[0]!.params).toEqual({ batch: 1 });
    const mj = (r.designs[0] as unknown as { metricsJson: Uint8Array }).metricsJson;
    expect(JSON.parse(Buffer.from(mj).toString('utf8'))).toEqual({ decode: { stepTimeS: 1e-7 } });
  });

  it('designs whose figures differ go one message each', () => {
    const r = sample();
    r.designs[1]!.figures = { tokens_per_s_per_w: 2 };
    const w = resultToWire(r);
    expect(w.columns ?? null).toBeNull();
    expect(w.designs.length).toBe(3);
    expect(resultFromWire(w, sub, 1).designs.length).toBe(3);
  });

  it('bad columns are refused', async () => {
    const w = await roundTrip(resultToWire(sample()));
    const m = w.columns!.metricsJson;
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!, Buffer.from('{"d":{"s":1e999}}')] }), /not finite/);
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!, Buffer.from('{"d":[' + '9'.repeat(400) + ']}')] }), /not finite/);
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!, Buffer.from('{"d":1e999')] }), /not valid JSON|not finite/);
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!, Buffer.from('[1]')] }), /not a JSON object/);
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!, Buffer.alloc(0)] }), /no metrics/);
    refused(withColumns(w, { metricsJson: [m[0]!, m[1]!] }), /unequal length/);
    refused(withColumns(w, { values: [1, 2, NaN] }), /non-finite objective/);
    refused(withColumns(w, { values: [1, 2] }), /objective values/);
    refused(withColumns(w, { figures: [1, 0.5, 2, 0.5, Infinity, 0.5] }), /not finite/);
    refused(withColumns(w, { figures: [1, 0.5, 2] }), /figures/);
    refused(withColumns(w, { figureNames: ['x', 'x'] }), /named twice/);
    refused(withColumns(w, { ids: ['100', '101', '110'] }), /outside the subspace/);
    refused(withColumns(w, { ids: ['100', '101', '101'] }), /appears twice/);
    refused(withColumns(w, { ids: ['100', '101', '0102'] }), /decimal/);
    refused(withColumns(w, { keptAs: [0, 0, 8] }), /kept as/);
    refused(withColumns(w, { paramsJson: ['{}', '{}', '[]'] }), /not an object/);
    refused(withColumns(w, { paramsJson: ['{}', '{}', '{"a":1e999}'] }), /not finite/);
    const mixed = sample();
    mixed.designs[1]!.figures = { tokens_per_s_per_w: 2 };
    refused({ ...w, designs: resultToWire(mixed).designs }, /both/);
  });
});
