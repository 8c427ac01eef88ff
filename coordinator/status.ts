// `strata status --coordinator host:port`: the Status RPC of a live coordinator.
import * as grpc from '@grpc/grpc-js';
import { ConfigError, RuntimeFailure } from '../src/model/errors.js';
import { channelOptions, clientCredentials, DEFAULT_KEEPALIVE, loadProtocol, tokenMetadata, type StatusReply } from './protocol.js';

export async function liveStatus(
  addr: string,
  token: string,
  tls: { tlsCa?: string; tlsCert?: string; tlsKey?: string } = {},
  timeoutMs = 10_000,
): Promise<StatusReply> {
  const { Client } = loadProtocol();
  const client = new Client(addr, clientCredentials(tls), channelOptions(16 * 1024 * 1024, DEFAULT_KEEPALIVE, false));
  try {
    return await new Promise<StatusReply>((resolve, reject) =>
      (client as unknown as { Status(r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: StatusReply) => void): void }).Status(
        {},
        tokenMetadata(token),
        { deadline: Date.now() + timeoutMs },
        (e, r) =>
          e
            ? // A refused token is a usage error (exit 2); nothing listening or no answer, a runtime failure
              // (exit 1): either way the coordinator's answer, without a stack.
              reject(
                e.code === grpc.status.UNAUTHENTICATED
                  ? new ConfigError('--token-file / STRATA_TOKEN', '(the token given)', `the coordinator's token (${addr} answered UNAUTHENTICATED: ${e.details})`)
                  : new RuntimeFailure(`status of ${addr}: ${grpc.status[e.code] ?? e.code}: ${e.details}`),
              )
            : resolve(r!),
      ),
    );
  } finally {
    client.close();
  }
}
