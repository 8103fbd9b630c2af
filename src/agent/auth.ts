import type { IkeAuthProvider } from '../ike/auth-provider.js';
import { createAuthProvider } from '../ike/auth/provider.js';
import { idToString } from '../ike/auth/id.js';

/** The node's credentials as read from its directory (PEM texts). */
export interface NodeCredentials {
  certPem: string;
  keyPem: string;
  /** The cluster CA bundle (one or more CA certificates). */
  caPem: string;
  systemId: string;
}

/**
 * The IKE engine's auth provider for an agent whose connections come and go: one prepared
 * provider per connection, each with local id = our system-id, remote id = the peer's system-id
 * and the cluster CA bundle as the only trust anchors. A peer is accepted only when its
 * certificate chains to the cluster CA *and* names the node we expect (OVN's remote_name).
 */
export class AgentAuth implements IkeAuthProvider {
  private readonly byConn = new Map<string, IkeAuthProvider>();
  private readonly peers = new Map<string, string>();
  private creds: NodeCredentials | undefined;

  constructor(private readonly now: () => number) {}

  /** New credentials (renewal, CA rollover): every connection is prepared again. Throws AuthConfigError. */
  setCredentials(creds: NodeCredentials): void {
    const next = new Map<string, IkeAuthProvider>();
    for (const [conn, peerId] of this.peers) next.set(conn, this.make(creds, conn, peerId));
    this.creds = creds;
    this.byConn.clear();
    for (const [k, v] of next) this.byConn.set(k, v);
  }

  get hasCredentials(): boolean {
    return this.creds !== undefined;
  }

  setPeer(conn: string, peerSystemId: string): void {
    this.peers.set(conn, peerSystemId);
    if (this.creds) this.byConn.set(conn, this.make(this.creds, conn, peerSystemId));
  }

  removePeer(conn: string): void {
    this.peers.delete(conn);
    this.byConn.delete(conn);
  }

  private make(creds: NodeCredentials, conn: string, peerSystemId: string): IkeAuthProvider {
    return createAuthProvider({
      [conn]: {
        local: { auth: 'pubkey', certPem: creds.certPem, keyPem: creds.keyPem, id: creds.systemId },
        remote: { auth: 'pubkey', id: peerSystemId },
        caPems: [creds.caPem],
      },
    }, () => new Date(this.now()));
  }

  private get(conn: string): IkeAuthProvider {
    const p = this.byConn.get(conn);
    if (!p) throw new Error(`auth: no credentials for connection "${conn}" yet`);
    return p;
  }

  sign(...a: Parameters<IkeAuthProvider['sign']>): ReturnType<IkeAuthProvider['sign']> {
    return this.get(a[0]).sign(...a);
  }

  verify(...a: Parameters<IkeAuthProvider['verify']>): ReturnType<IkeAuthProvider['verify']> {
    const p = this.byConn.get(a[0]);
    if (!p) return { ok: false, reason: `no credentials for connection "${a[0]}"` };
    return p.verify(...a);
  }

  localId(conn: string): ReturnType<IkeAuthProvider['localId']> {
    return this.get(conn).localId(conn);
  }

  certReq(conn: string): Buffer | undefined {
    return this.byConn.get(conn)?.certReq?.(conn);
  }

  describeId(id: { type: number; data: Buffer }): string {
    try {
      return idToString(id);
    } catch {
      return `${id.type}:${id.data.toString('hex')}`;
    }
  }
}
