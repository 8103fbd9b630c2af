import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { credentials, type ChannelOptions } from '@grpc/grpc-js';
import { Etcd3, type IOptions } from 'etcd3';

/**
 * An etcd client whose TLS checks each member against the address it is reached at, without
 * sending that address as the TLS server name.
 *
 * Members are usually reached by IP (their certificates carry IP SANs: `etcd init --member
 * NAME=IP`). The gRPC library puts the target host in the TLS ServerName (SNI), which RFC 6066
 * forbids for an address and Node warns about on every run (DEP0123). So each member reached by
 * IP gets a channel of its own: SNI is a fixed placeholder name, and the certificate check is
 * Node's own, against the member's IP (its IP SANs), exactly as it would be without the name.
 * Members reached by DNS name keep the default (name in SNI, checked against the DNS SANs).
 */

/** Sent as SNI to members reached by IP; `.invalid` names nothing (RFC 2606). etcd does not look at it. */
export const IP_MEMBER_SNI = 'etcd-member.invalid';

export interface EtcdClientTls {
  /** PEM: the CA that signed the members' certificates. */
  ca: Buffer;
  /** PEM: this client's certificate and key, for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

/** `HOST:PORT`, `[V6]:PORT`, with or without a scheme → the host (no brackets). */
export function endpointHost(endpoint: string): string {
  const bare = endpoint.replace(/^[a-z]+:\/\//, '');
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(bare);
  if (v6) return v6[1]!;
  return bare.replace(/:\d+$/, '');
}

/** The certificate check for a member reached at `ip`: its certificate must name that address. */
export function memberIdentityCheck(endpoint: string, ip: string): (name: string, cert: PeerCertificate) => Error | undefined {
  return (_sni, cert) => {
    const err = checkServerIdentity(ip, cert);
    return err ? new Error(`etcd member ${endpoint}: its certificate does not name ${ip} (${err.message})`) : undefined;
  };
}

/** What the client keeps per member (etcd3's connection pool; checked, since it is not the library's public API). */
interface PoolHost {
  host: string;
  channelCredentials: unknown;
  channelOptions: ChannelOptions | undefined;
}

function poolHosts(client: Etcd3): PoolHost[] | undefined {
  const hosts = (client as unknown as { pool?: { hosts?: unknown } }).pool?.hosts;
  if (!Array.isArray(hosts)) return undefined;
  const ok = hosts.every((h: Partial<PoolHost>) => typeof h?.host === 'string' && 'channelCredentials' in h && 'channelOptions' in h);
  return ok ? (hosts as PoolHost[]) : undefined;
}

/**
 * `new Etcd3(options)` with `tls`: members reached by IP are checked against that IP with no IP
 * in SNI (above). If the client's internals are not what this expects (another etcd3 version),
 * the client is left as made, which still checks the IP, only with the warning.
 */
export function newEtcdClient(options: IOptions, tls?: EtcdClientTls): Etcd3 {
  const client = new Etcd3(tls ? { ...options, credentials: { rootCertificate: tls.ca, ...(tls.cert ? { certChain: tls.cert } : {}), ...(tls.key ? { privateKey: tls.key } : {}) } } : options);
  if (!tls) return client;
  for (const h of poolHosts(client) ?? []) {
    const host = endpointHost(h.host);
    if (isIP(host) === 0) continue;
    h.channelCredentials = credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null, { checkServerIdentity: memberIdentityCheck(h.host, host) });
    h.channelOptions = { ...options.grpcOptions, 'grpc.ssl_target_name_override': IP_MEMBER_SNI };
  }
  return client;
}
