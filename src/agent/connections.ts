import type { IkeConnectionConfig } from '../ike/config.js';
import type { PeerSpec } from '../overlay/peer-table.js';
import { tunnelName } from '../overlay/tunnel-name.js';
import type { AgentSelf } from './desired.js';

/**
 * One IKE connection per peer, named like the peer's Geneve tunnel (`ovn-<6 hex>-0`), with the
 * seed's two transport-mode children: `<tunnel>-in-1` protects Geneve arriving at our UDP 6081
 * (and our packets sent from 6081), `<tunnel>-out-1` Geneve we send to the peer's 6081. The seed's
 * proposals: IKE AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048; ESP AES_GCM_16_256 with MODP2048 for
 * PFS (xfrm=AES_GCM_16_256-NONE-MODP2048 on children made by CREATE_CHILD_SA). ESP is always
 * carried in UDP 4500 (forced encapsulation: Node has no raw sockets).
 */
export const IKE_PROPOSALS = ['aes256gcm16-prfsha256-modp2048'];
export const ESP_PROPOSALS = ['aes256gcm16-modp2048'];

export interface ConnectionTimers {
  /**
   * A liveness check after this long without anything from the peer. Every idle tunnel end pays
   * for one exchange per period: at 10 s a 100-node mesh spent more CPU on DPD at rest than the
   * whole cluster's budget, so 30 s (a dead peer is still noticed within about a minute and a half).
   */
  dpdDelayMs: number;
  /** IKE SA rekey (libreswan's ikelifetime-ish; 0: never). */
  ikeRekeyMs: number;
  /** CHILD SA rekey (the seed's EVENT_SA_REKEY ~ 7 h; 0: never). */
  childRekeyMs: number;
}

export const DEFAULT_TIMERS: ConnectionTimers = { dpdDelayMs: 30_000, ikeRekeyMs: 4 * 3600_000, childRekeyMs: 8 * 3600_000 };

export function inChildName(tunnel: string): string {
  return `${tunnel}-in-1`;
}
export function outChildName(tunnel: string): string {
  return `${tunnel}-out-1`;
}

export function connectionFor(self: AgentSelf, peer: PeerSpec, genevePort: number, timers: ConnectionTimers = DEFAULT_TIMERS): IkeConnectionConfig {
  const tunnel = tunnelName(peer.systemId);
  const child = (name: string, localTs: string, remoteTs: string) => ({
    name,
    mode: 'transport' as const,
    localTs: [localTs],
    remoteTs: [remoteTs],
    espProposals: ESP_PROPOSALS,
    startAction: 'start' as const,
    rekeyTimeMs: timers.childRekeyMs,
  });
  return {
    name: tunnel,
    localAddrs: [self.underlay],
    remoteAddrs: [peer.underlay],
    localPort: 500,
    remotePort: 500,
    proposals: IKE_PROPOSALS,
    dpdDelayMs: timers.dpdDelayMs,
    rekeyTimeMs: timers.ikeRekeyMs,
    forceEncap: true,
    fragmentation: true,
    children: [
      child(inChildName(tunnel), `dynamic[udp/${genevePort}]`, 'dynamic[udp]'),
      child(outChildName(tunnel), 'dynamic[udp]', `dynamic[udp/${genevePort}]`),
    ],
  };
}

/**
 * Only one side of a pair starts IKE: the node with the lower system-id (compared as text, the
 * same on both ends). The other side answers, and starts itself only when no SA has appeared for
 * a while (the initiator may be down or restarting); the collision that can cause is resolved by
 * the IKE layer (INITIAL_CONTACT, duplicate children replace each other).
 */
export function initiates(self: AgentSelf, peer: PeerSpec): boolean {
  return self.systemId < peer.systemId;
}
