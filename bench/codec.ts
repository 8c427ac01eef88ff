// CPU of the Work stream's codec: proto-loader's generic one (fromObject + encode, decode + toObject)
// against the one the coordinator and worker use (protobufjs directly: coordinator/protocol.ts
// workCodecs), on the messages they exchange: results of 1, 50 and 200 designs (~0.9 KB of metrics
// each, as bench/coordinator.ts's stub), and an ack carrying a lease. Median of 7 alternated rounds.
//   npm run build && node dist/bench/codec.js
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_PATH, resultToWire, workCodecs, type CoordinatorMessage, type WorkerMessage } from '../coordinator/protocol.js';
import type { SubspaceResult } from '../src/search/engine.js';
import { machine, median } from './machine.js';

interface Codec {
  serialize(m: object): Buffer;
  deserialize(b: Buffer): unknown;
}

/** Microseconds of CPU (user + system) per call of fn, over about 0.3 s. */
function cpuUs(fn: () => void): number {
  const u0 = process.cpuUsage();
  let n = 0;
  const t0 = process.hrtime.bigint();
  while (process.hrtime.bigint() - t0 < 300_000_000n) for (let k = 0; k < 16; k++, n++) fn();
  const u = process.cpuUsage(u0);
  return (u.user + u.system) / n;
}

function result(n: number): SubspaceResult {
  const metricsJson = JSON.stringify({
    prefill: { stepTimeS: 0.123456789, systemTokensPerS: 12345.678, breakdown: Array.from({ length: 6 }, (_, i) => ({ op: `op${i}`, timeS: 0.001 * i, bound: 'memory', bytes: 123456789 + i, energyJ: 0.0123 })) },
    decode: { stepTimeS: 0.0234, systemTokensPerS: 2345.67, userTokensPerS: 23.45 },
    memory: { footprintBytes: 98765432100, capacityBytes: 123456789000, fits: true },
    power: { computeW: 123.4, dramW: 45.6, networkW: 7.8, staticW: 12.3 },
    thermal: { layersC: [55.1, 60.2, 65.3, 70.4, 72.5, 74.6, 76.7, 78.8], throttle: 1 },
  });
  return {
    subspaceId: 'memory=3/compute=1/system=2',
    first: 123456789n,
    size: 1000n,
    counts: { evaluated: BigInt(n), prunedBound: 1000n - BigInt(n), prunedDominance: 0n, infeasible: 0n },
    infeasibleByReason: {},
    designs: Array.from({ length: n }, (_, k) => ({
      id: 123456789n + BigInt(k),
      subspaceId: 'memory=3/compute=1/system=2',
      values: [1e-6 * (k + 1)],
      figures: { tokens_per_s_per_w: 1e-6 * (k + 1) },
      params: { batch: k + 1, precision: 'fp8' },
      metrics: undefined as never,
      metricsJson,
      keptAs: (k === 0 ? ['subspace-best'] : []) as 'subspace-best'[],
    })),
  };
}

function main(): void {
  console.log(`bench/codec on ${machine()}`);
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const plain = { worker: def['strata.v1.WorkerMessage'] as unknown as Codec, coordinator: def['strata.v1.CoordinatorMessage'] as unknown as Codec };
  const direct = workCodecs() as unknown as { worker: Codec; coordinator: Codec };
  const lease = { subspaceId: 'memory=3/compute=1/system=3', first: '123457789', size: '1000', expiresMs: Date.now() + 60_000, attempts: 0 };
  const cases: [string, 'worker' | 'coordinator', WorkerMessage | CoordinatorMessage][] = [
    ...[1, 50, 200].map((n) => [`result of ${n} design${n === 1 ? '' : 's'}`, 'worker', { results: { results: [resultToWire(result(n))], credit: 1 } }] as [string, 'worker', WorkerMessage]),
    ['ack + 1 lease', 'coordinator', { ack: { subspaceIds: ['memory=3/compute=1/system=2'], applied: [true], leases: [lease] } }],
  ];
  console.log('CPU per message (us), median of 7 alternated rounds: encode (sender) / decode (receiver)');
  for (const [name, side, m] of cases) {
    const bytes = plain[side].serialize(m);
    const runs = { plain: [] as number[][], direct: [] as number[][] };
    for (let r = 0; r < 7; r++)
      for (const [k, c] of [['plain', plain[side]], ['direct', direct[side]]] as const) runs[k].push([cpuUs(() => c.serialize(m)), cpuUs(() => c.deserialize(bytes))]);
    const med = (xs: number[][], i: number) => median(xs.map((x) => x[i]!));
    const fmt = (xs: number[][]) => `${med(xs, 0).toFixed(1)} / ${med(xs, 1).toFixed(1)}`;
    console.log(`  ${name} (${bytes.length} B): proto-loader ${fmt(runs.plain)}; protobufjs directly ${fmt(runs.direct)}`);
  }
}

main();
