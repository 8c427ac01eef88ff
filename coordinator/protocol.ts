// The wire protocol (proto/strata.proto) shared by the gRPC coordinator and worker: loading the proto,
// message types, conversion of SubspaceResult to and from the wire, limits, credentials and keepalive.
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../src/model/errors.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { Entry, Incumbents } from '../src/search/archive.js';
import type { RunSpec } from '../src/search/context.js';
import { canonicalJson, sha256 } from '../src/store/bigint.js';
import type { Design, SubspaceResult } from '../src/search/engine.js';
import { wireJson } from '../worker/json.js';
import { MAX_DESIGNS_PER_RESULT } from '../src/search/limits.js';

/** Default receive limit of both sides (bytes). A bigger message is refused with RESOURCE_EXHAUSTED. */

/** The run spec's identity on the wire: sha256 of its canonical JSON (the store's: sorted keys). A
 *  worker checks it without loading the model. */
export function specHash(spec: RunSpec): string {
  return sha256(canonicalJson(spec));
}
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Results in one ResultBatch (more: RESOURCE_EXHAUSTED). */
export const MAX_RESULTS_PER_BATCH = 256;
/** Designs in one SubspaceResult message (more: RESOURCE_EXHAUSTED); a larger result goes in parts (resultPartsToWire). */
export { MAX_DESIGNS_PER_RESULT };
/** Credits a worker may hold at once (more: RESOURCE_EXHAUSTED). */
export const MAX_CREDITS = 4096;

function findProto(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'proto', 'strata.proto');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('proto/strata.proto not found beside the program');
}

export const PROTO_PATH = findProto();

// ---- message shapes (as @grpc/proto-loader decodes them: camelCase, int64 as Number, oneof name in `msg`)

export interface JoinRequest {
  token: string;
  modelVersion: string;
  workerId: string;
  host: string;
  threads: number;
}
export interface JoinReply {
  runSpecJson: string;
  specHash: string;
  modelVersion: string;
  leaseMs: number;
  heartbeatMs: number;
  maxMessageBytes: number;
  maxResultsPerBatch: number;
  done: boolean;
}
export interface WireCounts {
  evaluated: string;
  prunedBound: string;
  prunedDominance: string;
  infeasible: string;
}
export interface WireDesign {
  id: string;
  values: number[];
  figures: Record<string, number>;
  paramsJson: string;
  metricsJson: string;
  keptAs: string[];
}
/** Designs column-wise (proto DesignColumns): what the worker sends. */
export interface WireColumns {
  ids: string[];
  values: number[];
  figureNames: string[];
  figures: number[];
  paramsJson: string[];
  /** UTF-8 JSON bytes (decoded as Buffers that share the received message: no copy, no string). */
  metricsJson: Uint8Array[];
  keptAs: number[];
}
export interface WireResult {
  subspaceId: string;
  first: string;
  size: string;
  counts: WireCounts | null;
  infeasibleByReason: Record<string, string>;
  designs: WireDesign[];
  columns?: WireColumns | null;
  /** A result in several messages: their number (0 or 1: whole) and this one's index (coordinator/parts.ts). */
  parts?: number;
  part?: number;
}
export interface WirePoint {
  id: string;
  values: number[];
}
export interface WireLease {
  subspaceId: string;
  first: string;
  size: string;
  expiresMs: number;
  attempts: number;
}
export type WorkerMessage =
  | { msg?: 'credit'; credit: { n: number } }
  | { msg?: 'results'; results: { results: WireResult[]; credit?: number } }
  | { msg?: 'heartbeat'; heartbeat: { leaseIds: string[] } };
export type CoordinatorMessage =
  | { msg?: 'leases'; leases: { leases: WireLease[] } }
  | { msg?: 'incumbent'; incumbent: { version: number; points: WirePoint[]; top: WirePoint[] } }
  | { msg?: 'ack'; ack: { subspaceIds: string[]; applied: boolean[]; leases?: WireLease[] } }
  | { msg?: 'renewed'; renewed: { lost: string[] } }
  | { msg?: 'done'; done: { state: string; reason: string } }
  | { msg?: 'drain'; drain: Record<string, never> };
export interface WorkerInfo {
  id: string;
  host: string;
  threads: number;
  leases: number;
  commits: number;
  lastSeenMs: number;
  connected: boolean;
}
export interface StatusReply {
  specHash: string;
  state: string;
  accounted: string;
  spaceSize: string;
  evaluated: string;
  prunedBound: string;
  prunedDominance: string;
  infeasible: string;
  subspacesDone: number;
  subspacesTotal: number;
  leased: number;
  ratePointsPerS: number;
  etaS: number;
  workers: WorkerInfo[];
  front: WirePoint[];
  objectives: string;
  uptimeS: number;
  commits: number;
  splits: number;
}

// ---- loading

const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

export interface StrataPackage {
  service: grpc.ServiceDefinition;
  Client: grpc.ServiceClientConstructor;
}

/** Encoding and decoding of one message type (grpc-js's serialize / deserialize). */
export interface Codec<T> {
  serialize(m: T): Buffer;
  deserialize(b: Buffer): T;
}

type Fix = (m: Record<string, unknown>) => void;
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/**
 * What turns the int64 fields of a decoded message of type t, at any depth, from protobufjs's Long
 * into numbers (what proto-loader's `longs: Number` gives); null if it has none. Absent fields too:
 * their default, on the prototype, is a Long.
 */
function longsToNumbers(t: protobuf.Type, memo = new Map<protobuf.Type, Fix | null>()): Fix | null {
  if (memo.has(t)) return memo.get(t)!;
  let fix: Fix | null = null;
  memo.set(t, (m) => fix?.(m)); // a message that contains itself (none in strata.proto)
  const steps: Fix[] = [];
  for (const f of t.fieldsArray) {
    const name = f.name;
    const each = (convert: (v: unknown) => unknown) => (m: Record<string, unknown>) => {
      const v = m[name];
      if (v == null) return;
      if (f.map) for (const [k, x] of Object.entries(v)) (v as Record<string, unknown>)[k] = convert(x);
      else if (f.repeated) (v as unknown[]).forEach((x, i) => ((v as unknown[])[i] = convert(x)));
      else m[name] = convert(v);
    };
    if (LONG_TYPES.has(f.type)) {
      const unsigned = f.type === 'uint64' || f.type === 'fixed64';
      steps.push(each((v) => (typeof v === 'number' ? v : protobuf.util.LongBits.from(v as protobuf.Long).toNumber(unsigned))));
    } else if (f.resolvedType instanceof protobuf.Type) {
      const sub = longsToNumbers(f.resolvedType, memo);
      if (sub)
        steps.push(
          each((v) => {
            sub(v as Record<string, unknown>);
            return v;
          }),
        );
    }
  }
  if (steps.length > 0) fix = (m) => steps.forEach((s) => s(m));
  memo.set(t, fix);
  return fix;
}

/**
 * The codec of one message type with protobufjs directly: `encode` of the plain objects this module
 * builds (already of the wire's types: strings, numbers, arrays, Buffers, one member of a oneof) and
 * `decode`, whose messages read as proto-loader's do (camelCase fields; protobufjs puts the defaults
 * and a getter of the oneof's name, `msg`, on the prototype) once their int64s are numbers.
 * proto-loader's own codec adds a fromObject / toObject copy of every message to that.
 */
function directCodec<T>(t: protobuf.Type): Codec<T> {
  const longs = longsToNumbers(t);
  return {
    serialize: (m) => t.encode(m as object).finish() as Buffer,
    deserialize: (b) => {
      const m = t.decode(b) as unknown as Record<string, unknown>;
      longs?.(m);
      return m as T;
    },
  };
}

let work: { worker: Codec<WorkerMessage>; coordinator: Codec<CoordinatorMessage> } | null = null;
/** The codecs of the Work stream's messages (every result, lease and ack): protobufjs directly, from the same proto. */
export function workCodecs(): { worker: Codec<WorkerMessage>; coordinator: Codec<CoordinatorMessage> } {
  if (work) return work;
  const root = protobuf.loadSync(PROTO_PATH).resolveAll();
  work = { worker: directCodec(root.lookupType('strata.v1.WorkerMessage')), coordinator: directCodec(root.lookupType('strata.v1.CoordinatorMessage')) };
  return work;
}

let pkg: StrataPackage | null = null;
/**
 * The service as proto-loader defines it, with the Work stream's messages through workCodecs() (the
 * same wire format; Join and Status keep proto-loader's codec).
 */
export function loadProtocol(): StrataPackage {
  if (pkg) return pkg;
  const def = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
  const { worker, coordinator } = workCodecs();
  Object.assign((def['strata.v1.Strata'] as protoLoader.ServiceDefinition).Work!, {
    requestSerialize: worker.serialize,
    requestDeserialize: worker.deserialize,
    responseSerialize: coordinator.serialize,
    responseDeserialize: coordinator.deserialize,
  });
  const g = grpc.loadPackageDefinition(def) as unknown as { strata: { v1: { Strata: grpc.ServiceClientConstructor } } };
  const Client = g.strata.v1.Strata;
  pkg = { service: Client.service, Client };
  return pkg;
}

// ---- options

export interface KeepaliveOptions {
  /** Ping the peer after this much idle time (ms). */
  timeMs: number;
  /** Drop the connection when a ping is not answered within this (ms). */
  timeoutMs: number;
}
export const DEFAULT_KEEPALIVE: KeepaliveOptions = { timeMs: 20_000, timeoutMs: 10_000 };

/**
 * HTTP/2 flow-control windows (bytes) of a Work stream and of its connection, where we receive. At
 * HTTP/2's default of 64 KiB each, a 200 KB result crosses only after a WINDOW_UPDATE round trip per
 * 64 KiB between two busy event loops, and both sides idle half the time: measured with
 * bench/coordinator (20 streams of 200-design results), 36-48k rows/s at 64 KiB, 82k at these. A
 * window only lets the peer send ahead what the receiver reads anyway (grpc-js reads every message
 * at once and bounds each by the message limit), so it holds no more memory than in-flight messages.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Sets the receive windows of a grpc-js Server (STREAM_WINDOW_BYTES, CONNECTION_WINDOW_BYTES):
 * grpc-js 1.14 has no server option for them (its client has 'grpc-node.flow_control_window'), so
 * this reaches two of its internals: the settings every HTTP/2 server it creates starts from
 * (`commonServerOptions`, before the bind), and, after the bind, its HTTP/2 servers
 * (`http2Servers`), to widen each new connection's window. Performance only: when a grpc-js
 * version lacks them, false (the caller says so) and the defaults stay.
 */
export function widenServerWindows(server: grpc.Server, phase: 'before-bind' | 'after-bind'): boolean {
  const s = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<{ prependListener(ev: 'session', f: (session: { setLocalWindowSize(n: number): void }) => void): void }, unknown>;
  };
  if (phase === 'before-bind') {
    if (!s.commonServerOptions || typeof s.commonServerOptions !== 'object') return false;
    s.commonServerOptions.settings = { ...s.commonServerOptions.settings, initialWindowSize: STREAM_WINDOW_BYTES };
    return true;
  }
  if (!(s.http2Servers instanceof Map) || s.http2Servers.size === 0) return false;
  for (const h of s.http2Servers.keys())
    h.prependListener('session', (session) => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        /* a session closing already */
      }
    });
  return true;
}

export function channelOptions(maxMessageBytes: number, ka: KeepaliveOptions, server: boolean): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': ka.timeMs,
    'grpc.keepalive_timeout_ms': ka.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    ...(server
      ? { 'grpc.http2.min_ping_interval_without_data_ms': Math.min(5_000, ka.timeMs), 'grpc.max_connection_age_grace_ms': 10_000 }
      : {
          'grpc.enable_retries': 0,
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 1_000,
          // The client's receive window (stream and connection): what the coordinator sends, e.g. a
          // large incumbent, needs no WINDOW_UPDATE round trips either.
          'grpc-node.flow_control_window': CONNECTION_WINDOW_BYTES,
        }),
  };
}

// ---- token

/** The shared token: from --token-file, else STRATA_TOKEN. Empty: no token (a warning is the caller's). */
export function readToken(tokenFile: string | undefined): string {
  if (tokenFile) return readFileSync(tokenFile, 'utf8').trim();
  return (process.env.STRATA_TOKEN ?? '').trim();
}

export function tokenMetadata(token: string, extra: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

export function metadataToken(md: grpc.Metadata): string {
  const v = md.get('authorization')[0];
  const s = typeof v === 'string' ? v : v ? v.toString('utf8') : '';
  return s.startsWith('Bearer ') ? s.slice(7) : '';
}

// ---- TLS

/** A PEM file's bytes, refused (exit 2) when it cannot be read or holds no PEM block of `kind`. */
function pemFile(flag: string, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Buffer {
  let b: Buffer;
  try {
    b = readFileSync(file);
  } catch (e) {
    throw new ConfigError(flag, file, `a readable PEM file (${(e as Error).message})`);
  }
  const text = b.toString('latin1');
  const ok = kind === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/.test(text) : /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(text);
  if (!ok) throw new ConfigError(flag, file, `a PEM file with a ${kind === 'CERTIFICATE' ? 'certificate' : 'private key'} (-----BEGIN ${kind === 'CERTIFICATE' ? 'CERTIFICATE' : '... PRIVATE KEY'}-----)`);
  return b;
}

/** grpc's TLS set-up, its refusal of the PEM data (a key that does not match its certificate) as a
 *  usage error. */
function tlsSetUp<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    throw new ConfigError('--tls-cert/--tls-key', 'the given files', `a certificate and its private key that TLS accepts (${(e as Error).message})`);
  }
}

/** --tls-cert and --tls-key come together (a certificate and its key) or not at all. */
function bothOrNeither(o: { tlsCert?: string; tlsKey?: string }): void {
  if (!!o.tlsCert !== !!o.tlsKey) throw new ConfigError(o.tlsCert ? '--tls-key' : '--tls-cert', undefined, `given with ${o.tlsCert ? '--tls-cert' : '--tls-key'} (the two go together)`);
}

export function serverCredentials(o: { tlsCert?: string; tlsKey?: string; tlsCa?: string }): grpc.ServerCredentials {
  if (!o.tlsCert && !o.tlsKey) {
    if (o.tlsCa) throw new ConfigError('--tls-ca', o.tlsCa, 'with --tls-cert and --tls-key (mutual TLS also needs the server certificate and key)');
    return grpc.ServerCredentials.createInsecure();
  }
  bothOrNeither(o);
  const ca = o.tlsCa ? pemFile('--tls-ca', o.tlsCa, 'CERTIFICATE') : null;
  const cert = pemFile('--tls-cert', o.tlsCert!, 'CERTIFICATE');
  const key = pemFile('--tls-key', o.tlsKey!, 'PRIVATE KEY');
  // With a CA: mutual TLS, every client must present a certificate signed by it.
  return tlsSetUp(() => grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null));
}

export function clientCredentials(o: { tlsCa?: string; tlsCert?: string; tlsKey?: string; tls?: boolean }): grpc.ChannelCredentials {
  if (!o.tlsCa && !o.tlsCert && !o.tlsKey && !o.tls) return grpc.credentials.createInsecure();
  bothOrNeither(o);
  const ca = o.tlsCa ? pemFile('--tls-ca', o.tlsCa, 'CERTIFICATE') : null;
  const key = o.tlsKey ? pemFile('--tls-key', o.tlsKey, 'PRIVATE KEY') : null;
  const cert = o.tlsCert ? pemFile('--tls-cert', o.tlsCert, 'CERTIFICATE') : null;
  return tlsSetUp(() => grpc.credentials.createSsl(ca, key, cert));
}

// ---- conversion

export { wireJson } from '../worker/json.js';

const KEPT_BIT = { pareto: 1, topk: 2, 'subspace-best': 4 } as const;
type KeptName = keyof typeof KEPT_BIT;
/** keptAs of each flag value 0..7 (shared, never mutated). */
const KEPT_OF: readonly (readonly KeptName[])[] = Array.from({ length: 8 }, (_, f) =>
  Object.freeze((['pareto', 'topk', 'subspace-best'] as const).filter((k) => f & KEPT_BIT[k])),
);

/** Same own keys, in the same order. */
function sameKeys(o: Record<string, number>, names: readonly string[]): boolean {
  let i = 0;
  for (const k in o) if (k !== names[i++]) return false;
  return i === names.length;
}

export function resultToWire(r: SubspaceResult): WireResult {
  const ds = r.designs as (Design & { metricsJson?: string })[];
  const base = {
    subspaceId: r.subspaceId,
    first: r.first.toString(),
    size: r.size.toString(),
    counts: {
      evaluated: r.counts.evaluated.toString(),
      prunedBound: r.counts.prunedBound.toString(),
      prunedDominance: r.counts.prunedDominance.toString(),
      infeasible: r.counts.infeasible.toString(),
    },
    infeasibleByReason: Object.fromEntries(Object.entries(r.infeasibleByReason).map(([k, v]) => [k, v.toString()])),
  };
  // Metrics: serialised in the search thread already (worker/thread.ts): sent as is.
  const metrics = (d: Design & { metricsJson?: string }) => (typeof d.metricsJson === 'string' ? d.metricsJson : wireJson(d.metrics));
  const names = ds.length > 0 ? Object.keys(ds[0]!.figures) : [];
  const k = ds.length > 0 ? ds[0]!.values.length : 0;
  if (ds.every((d) => d.values.length === k && sameKeys(d.figures, names))) {
    // Column-wise (the common case: every design has the run's objectives and figures).
    const c: WireColumns = { ids: [], values: [], figureNames: names, figures: [], paramsJson: [], metricsJson: [], keptAs: [] };
    for (const d of ds) {
      c.ids.push(d.id.toString());
      for (const v of d.values) c.values.push(v);
      for (const n of names) c.figures.push(d.figures[n]!);
      c.paramsJson.push(wireJson(d.params));
      c.metricsJson.push(Buffer.from(metrics(d), 'utf8'));
      let f = 0;
      for (const x of d.keptAs) f |= KEPT_BIT[x] ?? 0;
      c.keptAs.push(f);
    }
    return { ...base, designs: [], columns: c };
  }
  return {
    ...base,
    designs: ds.map((d) => ({
      id: d.id.toString(),
      values: d.values,
      figures: d.figures,
      paramsJson: wireJson(d.params),
      metricsJson: metrics(d),
      keptAs: d.keptAs,
    })),
  };
}

/**
 * A result as the messages that carry it: one, or parts (coordinator/parts.ts) of at most `maxDesigns`
 * designs and about `maxBytes` each (a part has one design at least).
 */
export function resultPartsToWire(r: SubspaceResult, maxBytes: number, maxDesigns = MAX_DESIGNS_PER_RESULT): WireResult[] {
  const chunks: Design[][] = [[]];
  let bytes = 0;
  for (const d of r.designs) {
    const b = designBytes(d);
    let chunk = chunks.at(-1)!;
    if (chunk.length > 0 && (chunk.length >= maxDesigns || bytes + b > maxBytes)) {
      chunks.push((chunk = []));
      bytes = 0;
    }
    chunk.push(d);
    bytes += b;
  }
  if (chunks.length === 1) return [resultToWire(r)];
  return chunks.map((designs, part) => ({ ...resultToWire({ ...r, designs }), parts: chunks.length, part }));
}

/**
 * Approximate size of a design on the wire and in memory: its metrics JSON (the string a search
 * thread made, the bytes received, or serialised here) and `overhead` bytes for its id, values,
 * figures and params.
 */
export function designBytes(d: Design, overhead = 200): number {
  const mj = (d as Design & { metricsJson?: string | Uint8Array }).metricsJson;
  return overhead + (typeof mj === 'string' ? mj.length : mj instanceof Uint8Array ? mj.byteLength : wireJson(d.metrics).length);
}

/** Approximate encoded size of a result's designs (the worker's batch budget). */
export function wireDesignBytes(w: WireResult): number {
  let bytes = 0;
  for (const d of w.designs) bytes += d.metricsJson.length + d.paramsJson.length + 100;
  const c = w.columns;
  if (c) for (let i = 0; i < c.ids.length; i++) bytes += c.metricsJson[i]!.length + c.paramsJson[i]!.length + 40;
  return bytes;
}

export const pointsToWire = (s: readonly Entry[]): WirePoint[] => s.map((e) => ({ id: e.id.toString(), values: e.values }));

export class WireError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}
const bad = (m: string) => new WireError(grpc.status.INVALID_ARGUMENT, m);

const DEC = /^(0|[1-9][0-9]{0,39})$/;
export function decimal(s: unknown, what: string): bigint {
  if (typeof s !== 'string' || !DEC.test(s)) throw bad(`${what}: ${JSON.stringify(s)} is not a non-negative decimal integer`);
  return BigInt(s);
}

export function snapshotFromWire(m: { points: readonly WirePoint[]; top?: readonly WirePoint[] }): Incumbents {
  const entries = (ps: readonly WirePoint[]) => ps.map((p) => ({ id: decimal(p.id, 'incumbent point id'), values: [...p.values] }));
  return { front: entries(m.points), top: entries(m.top ?? []) };
}

/** A number with an exponent of 3+ digits (1e999) outside or inside a string: the cheap pre-check. */
const BIG_EXP = /[0-9][eE][+-]?[0-9]{3}/;

/**
 * True when a text of n characters (code of each: at) has a run of 300+ decimal digits: any such run
 * covers a multiple of 256, so only those are probed.
 */
function longDigitRun(n: number, at: (i: number) => number): boolean {
  const digit = (i: number) => isDigit(at(i));
  for (let i = 255; i < n; i += 256) {
    if (!digit(i)) continue;
    let a = i;
    let b = i;
    while (a > 0 && digit(a - 1)) a--;
    while (b + 1 < n && digit(b + 1)) b++;
    if (b - a + 1 >= 300) return true;
  }
  return false;
}

/** c is an ASCII digit. */
const isDigit = (c: number) => ((c - 48) >>> 0) <= 9;

/** JSON that could parse to a non-finite number: an exponent of 3+ digits (1e999) or 300+ digits in a row. */
function mayOverflow(s: string): boolean {
  return BIG_EXP.test(s) || (s.length >= 300 && longDigitRun(s.length, (i) => s.charCodeAt(i)));
}

/** At i (0 < i < b.length) BIG_EXP starts one byte before: b[i] is e or E after a digit, then [+-]? and 3 digits. */
function bigExpAt(b: Uint8Array, i: number): boolean {
  if ((b[i]! | 32) !== 101 || !isDigit(b[i - 1]!)) return false;
  let j = i + 1;
  if (b[j] === 43 || b[j] === 45) j++;
  return j + 2 < b.length && isDigit(b[j]!) && isDigit(b[j + 1]!) && isDigit(b[j + 2]!);
}

/**
 * BIG_EXP.test() on UTF-8 bytes, without decoding them: four bytes at a time (SWAR), a word goes on
 * to the byte check only when it has an e or E right after a digit (the previous word's last byte
 * included). Bytes of multi-byte characters (high bit set) are neither digits nor letters. About 3x
 * cheaper than a latin1 copy and the regex (0.2 against 0.4-0.6 ms on 177 KB of metrics here), and
 * that scan was 30% of the coordinator's CPU on 200-design results (bench/coordinator).
 */
export function bigExpBytes(b: Uint8Array): boolean {
  const n = b.length;
  const off = b.byteOffset;
  const head = Math.min(n, (4 - (off & 3)) & 3);
  const nw = (n - head) >>> 2;
  const tail = head + 4 * nw;
  for (let i = 1; i < head; i++) if (bigExpAt(b, i)) return true;
  if (nw > 0 && LITTLE_ENDIAN) {
    const w = new Uint32Array(b.buffer, off + head, nw);
    // A digit flag (0x80) in the top byte of the previous word's digit mask when its last byte is one.
    let prevD = head > 0 && isDigit(b[head - 1]!) ? 0x80000000 | 0 : 0;
    for (let k = 0; k < nw; k++) {
      const x = w[k]!;
      const ascii = ~x & 0x80808080; // 0x80 in each byte that is ASCII (bytes compared are then < 0x80)
      const y = x & 0x7f7f7f7f;
      // Digits: y >= 0x30 and y < 0x3a, per byte (no carry crosses a byte: y <= 0x7f).
      const D = (y + 0x50505050) & ~(y + 0x46464646) & ascii;
      // e or E: the byte of (y | 0x20) ^ 'e' is zero.
      const z = (y | 0x20202020) ^ 0x65656565;
      const E = ~((z + 0x7f7f7f7f) | z) & ascii;
      if ((((D << 8) | (prevD >>> 24)) & E) !== 0) {
        const base = head + 4 * k;
        for (let i = Math.max(1, base); i < base + 4; i++) if (bigExpAt(b, i)) return true;
      }
      prevD = D;
    }
  }
  for (let i = Math.max(1, LITTLE_ENDIAN ? tail : head); i < n; i++) if (bigExpAt(b, i)) return true;
  return false;
}

/** The word masks of bigExpBytes put byte i below byte i + 1: little-endian words (else bytes one by one). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** mayOverflow() on UTF-8 bytes, without decoding them. */
function mayOverflowBytes(b: Uint8Array): boolean {
  return bigExpBytes(b) || (b.length >= 300 && longDigitRun(b.length, (i) => b[i]!));
}

/**
 * False when none of these byte strings may hold an overflowing number: they are views into one
 * buffer, in order and not overlapping, and the span from the first to the last has no match. True
 * (check each one) otherwise.
 */
function metricsSpanMayOverflow(ms: readonly Uint8Array[]): boolean {
  if (ms.length === 0) return false;
  const buf = ms[0]!.buffer;
  let end = ms[0]!.byteOffset;
  for (const m of ms) {
    if (!(m instanceof Uint8Array) || m.buffer !== buf || m.byteOffset < end) return true;
    end = m.byteOffset + m.byteLength;
  }
  const start = ms[0]!.byteOffset;
  return mayOverflowBytes(new Uint8Array(buf, start, end - start));
}

function finiteJsonCheck(s: string, what: string): void {
  if (!mayOverflow(s)) return;
  // Only the slow path parses: numbers with 3-digit exponents are rare in metrics.
  let nonFinite = false;
  try {
    JSON.parse(s, (_k, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) nonFinite = true;
      return v;
    });
  } catch {
    throw bad(`${what}: not valid JSON`);
  }
  if (nonFinite) throw bad(`${what}: a number is not finite`);
}

/** The columns of one received result, shared by its designs (ColumnDesign). */
interface Columns {
  sid: string;
  c: WireColumns;
  m: number;
  nObjectives: number;
}

/**
 * A design received column-wise: its objective values at once (every one is merged into the archive
 * and top-K), its figures and params built only when read, i.e. for the designs the coordinator
 * keeps (most of a large result is not kept). Both were checked by resultFromWire (finite numbers;
 * params an object without an overflowing number); params that are not valid JSON throw here, when
 * the design is kept, before anything of its message is stored.
 */
class ColumnDesign implements Design {
  readonly subspaceId: string;
  readonly values: number[];
  readonly metrics = undefined as unknown as Design['metrics'];
  private f: Record<string, number> | null = null;
  private p: Design['params'] | null = null;
  constructor(
    private readonly cols: Columns,
    private readonly i: number,
    readonly id: bigint,
    readonly metricsJson: Uint8Array,
    readonly keptAs: Design['keptAs'],
  ) {
    this.subspaceId = cols.sid;
    const k = cols.nObjectives;
    this.values = cols.c.values.slice(i * k, (i + 1) * k);
  }
  get figures(): Record<string, number> {
    if (!this.f) {
      const { c, m } = this.cols;
      const f: Record<string, number> = {};
      for (let j = 0; j < m; j++) f[c.figureNames[j]!] = c.figures[this.i * m + j]!;
      this.f = f;
    }
    return this.f;
  }
  set figures(v: Record<string, number>) {
    this.f = v;
  }
  get params(): Design['params'] {
    if (!this.p) {
      const s = this.cols.c.paramsJson[this.i]!;
      let params: unknown;
      try {
        params = JSON.parse(s);
      } catch {
        throw bad(`subspace '${this.cols.sid}': point ${this.id} params_json is not JSON`);
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) throw bad(`subspace '${this.cols.sid}': point ${this.id} params_json is not an object`);
      this.p = params as Design['params'];
    }
    return this.p;
  }
  set params(v: Design['params']) {
    this.p = v;
  }
}

/**
 * Validates a result from the wire against the subspace it claims (first, size from the space) and
 * converts it for Coordinator.commit. Throws WireError (INVALID_ARGUMENT / RESOURCE_EXHAUSTED).
 * The metrics stay the JSON the worker sent (`metricsJson`: a string, or the received bytes of the
 * column-wise form, decoded only for the designs the coordinator keeps), stored as is.
 */
export function resultFromWire(w: WireResult, sub: { first: bigint; size: bigint }, nObjectives: number): SubspaceResult {
  const sid = w.subspaceId;
  const first = decimal(w.first, `subspace '${sid}' first`);
  const size = decimal(w.size, `subspace '${sid}' size`);
  if (first !== sub.first || size !== sub.size)
    throw bad(`subspace '${sid}': range [${first}, +${size}) is not the subspace's [${sub.first}, +${sub.size})`);
  if (!w.counts) throw bad(`subspace '${sid}': no counts`);
  const counts = {
    evaluated: decimal(w.counts.evaluated, `subspace '${sid}' evaluated`),
    prunedBound: decimal(w.counts.prunedBound, `subspace '${sid}' prunedBound`),
    prunedDominance: decimal(w.counts.prunedDominance, `subspace '${sid}' prunedDominance`),
    infeasible: decimal(w.counts.infeasible, `subspace '${sid}' infeasible`),
  };
  const sum = counts.evaluated + counts.prunedBound + counts.prunedDominance + counts.infeasible;
  if (sum !== size) throw bad(`subspace '${sid}': counts add up to ${sum}, not the subspace size ${size}`);
  const reasons: Record<string, bigint> = {};
  let rsum = 0n;
  for (const [k, v] of Object.entries(w.infeasibleByReason ?? {})) {
    if (k.length > 200) throw bad(`subspace '${sid}': infeasible reason name too long`);
    reasons[k] = decimal(v, `subspace '${sid}' infeasible reason '${k}'`);
    rsum += reasons[k]!;
  }
  if (rsum !== counts.infeasible) throw bad(`subspace '${sid}': infeasible reasons add up to ${rsum}, not ${counts.infeasible}`);
  const c = w.columns ?? null;
  if (c && w.designs.length > 0) throw bad(`subspace '${sid}': designs both as messages and column-wise`);
  const n = c ? c.ids.length : w.designs.length;
  if (n > MAX_DESIGNS_PER_RESULT) throw new WireError(grpc.status.RESOURCE_EXHAUSTED, `subspace '${sid}': ${n} designs (max ${MAX_DESIGNS_PER_RESULT})`);
  if (BigInt(n) > counts.evaluated) throw bad(`subspace '${sid}': ${n} designs but ${counts.evaluated} evaluated`);
  const end = first + size;
  const seen = new Set<string>();
  const designs: (Design & { metricsJson: string | Uint8Array })[] = [];
  /** The checks every design passes, whichever form it came in. */
  const pointId = (s: string): bigint => {
    const id = decimal(s, `subspace '${sid}' design id`);
    if (id < first || id >= end) throw bad(`subspace '${sid}': point ${id} is outside the subspace [${first}, ${end})`);
    if (seen.has(s)) throw bad(`subspace '${sid}': point ${id} appears twice`);
    seen.add(s);
    return id;
  };
  const paramsOf = (id: bigint, paramsJson: string): Design['params'] => {
    let params: unknown;
    try {
      params = JSON.parse(paramsJson);
    } catch {
      throw bad(`subspace '${sid}': point ${id} params_json is not JSON`);
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) throw bad(`subspace '${sid}': point ${id} params_json is not an object`);
    finiteJsonCheck(paramsJson, `subspace '${sid}' point ${id} params`);
    return params as Design['params'];
  };
  if (c) {
    const m = c.figureNames.length;
    if (c.values.length !== n * nObjectives)
      throw bad(`subspace '${sid}': ${c.values.length} objective values for ${n} designs of ${nObjectives} objectives`);
    if (c.figures.length !== n * m) throw bad(`subspace '${sid}': ${c.figures.length} figures for ${n} designs of ${m} figures`);
    if (c.paramsJson.length !== n || c.metricsJson.length !== n || c.keptAs.length !== n)
      throw bad(`subspace '${sid}': design columns of unequal length (${n} ids, ${c.paramsJson.length} params, ${c.metricsJson.length} metrics, ${c.keptAs.length} kept_as)`);
    const names = new Set<string>();
    for (const f of c.figureNames) {
      if (typeof f !== 'string' || f.length === 0 || f.length > 200 || f === '__proto__') throw bad(`subspace '${sid}': bad figure name ${JSON.stringify(f)}`);
      if (names.has(f)) throw bad(`subspace '${sid}': figure ${f} named twice`);
      names.add(f);
    }
    for (let k = 0; k < c.values.length; k++) {
      const v = c.values[k]!;
      if (!Number.isFinite(v)) throw bad(`subspace '${sid}': point ${c.ids[Math.floor(k / nObjectives)]} has a non-finite objective value ${v}`);
    }
    for (let k = 0; k < c.figures.length; k++) {
      const v = c.figures[k]!;
      if (!Number.isFinite(v)) throw bad(`subspace '${sid}': point ${c.ids[Math.floor(k / m)]} figure ${c.figureNames[k % m]} = ${v} is not finite`);
    }
    // The metrics (and params) of a message lie one after another in it: one scan of that span (as
    // latin1) clears them all at once; only when it finds something is each design checked on its own
    // (the bytes between two of them can only add a false alarm, never hide a match inside one).
    const clear = !metricsSpanMayOverflow(c.metricsJson);
    const paramsClear = !mayOverflow(c.paramsJson.join(''));
    const cols: Columns = { sid, c, m, nObjectives };
    for (let i = 0; i < n; i++) {
      const id = pointId(c.ids[i]!);
      const kept = c.keptAs[i]!;
      if (!Number.isInteger(kept) || kept < 0 || kept > 7) throw bad(`subspace '${sid}': point ${id} kept as ${kept} (bit flags 1 pareto, 2 topk, 4 subspace-best)`);
      const pj = c.paramsJson[i]!;
      // Parsed only for the designs the coordinator keeps (ColumnDesign.params); every one is an object
      // without an overflowing number.
      if (typeof pj !== 'string' || pj.charCodeAt(0) !== 123 /* { */) throw bad(`subspace '${sid}': point ${id} params_json is not an object`);
      if (!paramsClear) finiteJsonCheck(pj, `subspace '${sid}' point ${id} params`);
      const mj = c.metricsJson[i];
      if (!(mj instanceof Uint8Array) || mj.length === 0) throw bad(`subspace '${sid}': point ${id} has no metrics`);
      if (mj[0] !== 123 /* { */) throw bad(`subspace '${sid}': point ${id} metrics_json is not a JSON object`);
      // Checked as bytes: the metrics of the designs the coordinator does not keep are never decoded.
      if (!clear && mayOverflowBytes(mj)) finiteJsonCheck(Buffer.from(mj.buffer, mj.byteOffset, mj.byteLength).toString('utf8'), `subspace '${sid}' point ${id} metrics`);
      designs.push(new ColumnDesign(cols, i, id, mj, KEPT_OF[kept] as Design['keptAs']));
    }
    return { subspaceId: sid, first, size, counts, infeasibleByReason: reasons, designs };
  }
  for (const d of w.designs) {
    const id = pointId(d.id);
    if (d.values.length !== nObjectives) throw bad(`subspace '${sid}': point ${id} has ${d.values.length} objective values, not ${nObjectives}`);
    for (const v of d.values) if (!Number.isFinite(v)) throw bad(`subspace '${sid}': point ${id} has a non-finite objective value ${v}`);
    for (const [k, v] of Object.entries(d.figures)) if (!Number.isFinite(v)) throw bad(`subspace '${sid}': point ${id} figure ${k} = ${v} is not finite`);
    for (const k of d.keptAs)
      if (k !== 'pareto' && k !== 'topk' && k !== 'subspace-best') throw bad(`subspace '${sid}': point ${id} kept as '${k}'`);
    const params = paramsOf(id, d.paramsJson);
    if (typeof d.metricsJson !== 'string' || d.metricsJson.length === 0) throw bad(`subspace '${sid}': point ${id} has no metrics`);
    const c0 = d.metricsJson.charCodeAt(0);
    if (c0 !== 123 /* { */) throw bad(`subspace '${sid}': point ${id} metrics_json is not a JSON object`);
    finiteJsonCheck(d.metricsJson, `subspace '${sid}' point ${id} metrics`);
    designs.push({
      id,
      subspaceId: sid,
      values: [...d.values],
      figures: { ...d.figures },
      params,
      metrics: undefined as unknown as Design['metrics'],
      metricsJson: d.metricsJson,
      keptAs: d.keptAs as Design['keptAs'],
    });
  }
  return { subspaceId: sid, first, size, counts, infeasibleByReason: reasons, designs };
}
