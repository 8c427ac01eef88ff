// The column-wise design form of a result (proto DesignColumns): the worker's encoding round-trips
// through the coordinator's validation, and every bad column is refused like the per-message form.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bigExpBytes, PROTO_PATH, resultFromWire, resultToWire, WireError, workCodecs, type WireColumns, type WireResult, type WorkerMessage, type CoordinatorMessage } from '../coordinator/protocol.js';
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

/** proto-loader's own codec of a message type (what a client built on plain proto-loader sends and reads). */
async function plainLoader<T>(type: string): Promise<{ serialize: (x: object) => Buffer; deserialize: (b: Buffer) => T }> {
  const { loadSync } = await import('@grpc/proto-loader');
  const def = loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return def[type] as unknown as { serialize: (x: object) => Buffer; deserialize: (b: Buffer) => T };
}

/** Encodes with plain proto-loader; decodes as the coordinator does (the Work codec: bytes as Buffers). */
async function roundTrip(w: WireResult): Promise<WireResult> {
  const m = await plainLoader('strata.v1.WorkerMessage');
  const got = workCodecs().worker.deserialize(m.serialize({ results: { results: [w] } }));
  return (got as Extract<WorkerMessage, { msg?: 'results' }>).results.results[0]!;
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

describe('the Work stream codec (protobufjs directly) against plain proto-loader', () => {
  /**
   * `got` read the way the coordinator and worker read a message (property access: defaults on the
   * prototype and the oneof's name `msg` included), in the shape of `want`; map keys of both.
   */
  const readAs = (want: unknown, got: unknown): unknown => {
    if (Array.isArray(got)) return got.map((g, i) => readAs((want as unknown[] | undefined)?.[i], g));
    if (want === null || typeof want !== 'object' || Buffer.isBuffer(want) || got === null || typeof got !== 'object') return got;
    const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
    return Object.fromEntries([...keys].map((k) => [k, readAs((want as Record<string, unknown>)[k], (got as Record<string, unknown>)[k])]));
  };

  async function both<T extends object>(type: string, mine: { serialize(m: T): Buffer; deserialize(b: Buffer): T }, messages: T[]) {
    const plain = await plainLoader<T>(type);
    for (const m of messages) {
      const want = plain.deserialize(plain.serialize(m));
      // Ours encodes the same bytes, which plain proto-loader decodes to the same message...
      expect(mine.serialize(m)).toEqual(plain.serialize(m));
      expect(plain.deserialize(mine.serialize(m))).toEqual(want);
      // ...and ours decodes plain proto-loader's bytes to a message that reads the same.
      expect(readAs(want, mine.deserialize(plain.serialize(m)))).toEqual(want);
    }
  }

  it('WorkerMessage: results column-wise and one message each (maps, bytes), without counts, credit, heartbeat', async () => {
    const mixed = sample();
    mixed.designs[1]!.figures = { tokens_per_s_per_w: 2 };
    const columns = resultToWire(sample());
    const perMessage = { ...resultToWire(mixed), infeasibleByReason: { 'too-hot': '2', memory: '1' } };
    await both<WorkerMessage>('strata.v1.WorkerMessage', workCodecs().worker, [
      { results: { results: [columns, perMessage], credit: 3 } },
      { results: { results: [{ ...columns, counts: null }], credit: 0 } },
      { credit: { n: 7 } },
      { heartbeat: { leaseIds: ['a=1', 'a=2/b=3'] } },
    ]);
  });

  it('CoordinatorMessage: int64 and uint64 as numbers (above 2^32 and absent), every member of the oneof', async () => {
    const lease = { subspaceId: 'a=1/b=2', first: '123456789012345678901', size: '10', expiresMs: 1_763_800_000_123, attempts: 2 };
    const messages: CoordinatorMessage[] = [
      { ack: { subspaceIds: ['a=1', 'a=2'], applied: [true, false], leases: [lease, { ...lease, expiresMs: 0, attempts: 0 }] } },
      { ack: { subspaceIds: ['a=1'], applied: [true] } },
      { leases: { leases: [lease] } },
      { incumbent: { version: 2 ** 40 + 3, points: [{ id: '17', values: [1.5, -0.25] }], top: [{ id: '18', values: [1e-300, 2] }, { id: '19', values: [] }] } },
      { incumbent: { version: 0, points: [], top: [] } },
      { renewed: { lost: ['a=3'] } },
      { done: { state: 'done', reason: 'the run is complete' } },
      { drain: {} },
    ];
    await both<CoordinatorMessage>('strata.v1.CoordinatorMessage', workCodecs().coordinator, messages);
    const got = workCodecs().coordinator.deserialize(workCodecs().coordinator.serialize(messages[0]!)) as Extract<CoordinatorMessage, { msg?: 'ack' }>;
    expect(got.msg).toBe('ack');
    expect(got.ack.leases!.map((l) => l.expiresMs)).toEqual([1_763_800_000_123, 0]);
  });

  it('a message with no member of its oneof reads as none (the coordinator refuses it)', () => {
    expect(workCodecs().worker.deserialize(Buffer.alloc(0)).msg).toBeUndefined();
  });
});

describe('the overflow pre-check on bytes (bigExpBytes, four bytes at a time)', () => {
  // Texts from the characters that matter (digits, e, E, signs) and others, multi-byte UTF-8 included
  // (é is C3 A9, Ě is C4 9A, € is E2 82 AC: bytes with the high bit set that must match nothing), at
  // every alignment of the word loop: the same answer as the regex on one char per byte.
  const piece = fc.constantFrom('0', '1', '9', 'e', 'E', '+', '-', 'a', '.', ':', '{', '"', 'é', 'Ě', '€', '5e', '1e+', '9E-', '12', 'e9');
  const BIG_EXP = /[0-9][eE][+-]?[0-9]{3}/;
  it('answers as BIG_EXP does on the latin1 text, at any byte offset and length', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.integer({ min: 0, max: 7 }), (ps, skip) => {
        const all = Buffer.from('abcdefg' + ps.join(''));
        const b = all.subarray(skip);
        expect(bigExpBytes(b)).toBe(BIG_EXP.test(b.toString('latin1')));
      }),
      { numRuns: 20_000 },
    );
  });
  it('finds an exponent across a word boundary and at either end', () => {
    for (let pad = 0; pad < 8; pad++) {
      const x = '_'.repeat(pad);
      for (const t of ['1e999', '1E+308', '9e-400', '0e000']) {
        expect(bigExpBytes(Buffer.from(x + t))).toBe(true);
        expect(bigExpBytes(Buffer.from(x + t + '_'.repeat(9)))).toBe(true);
      }
      for (const t of ['1e99', 'e999', '1e+99', 'ee999', '1\u00e9999']) expect(bigExpBytes(Buffer.from(x + t + '_'))).toBe(false);
    }
  });
});
