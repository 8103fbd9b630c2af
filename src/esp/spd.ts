import { anySelectorMatches, type Flow } from './selectors.js';
import type { TrafficSelector } from './types.js';

/**
 * The security policy database (RFC 4301 §4.4.1) for traffic leaving through the TUN: an
 * ordered list of policies, first match wins. A policy either protects matching traffic with a
 * child's SA or drops it. There is no bypass: the TUN only carries traffic meant to be protected,
 * so a packet no policy covers is dropped too.
 */
export type PolicyAction = 'protect' | 'drop';

export interface Policy {
  /** Child SA name for 'protect'; a label for 'drop'. */
  name: string;
  action: PolicyAction;
  /** Selectors of our side (the source of outbound packets). */
  localTs: readonly TrafficSelector[];
  /** Selectors of the peer's side (the destination of outbound packets). */
  remoteTs: readonly TrafficSelector[];
}

/** Outbound: source in local_ts, destination in remote_ts. */
export function policyCoversOutbound(p: Policy, f: Flow): boolean {
  return anySelectorMatches(p.localTs, f.protocol, f.src, f.srcPort) && anySelectorMatches(p.remoteTs, f.protocol, f.dst, f.dstPort);
}

/** Inbound (after decryption): source in remote_ts, destination in local_ts. */
export function policyCoversInbound(p: Policy, f: Flow): boolean {
  return anySelectorMatches(p.remoteTs, f.protocol, f.src, f.srcPort) && anySelectorMatches(p.localTs, f.protocol, f.dst, f.dstPort);
}

export class Spd {
  private policies: Policy[] = [];

  /** Appends a policy (lowest priority so far), or replaces the one with the same name in place. */
  set(policy: Policy): void {
    const i = this.policies.findIndex((p) => p.name === policy.name);
    if (i >= 0) this.policies[i] = policy;
    else this.policies.push(policy);
  }

  remove(name: string): void {
    this.policies = this.policies.filter((p) => p.name !== name);
  }

  get(name: string): Policy | undefined {
    return this.policies.find((p) => p.name === name);
  }

  /** The first policy covering an outbound flow, or null. */
  lookupOutbound(flow: Flow): Policy | null {
    const list = this.policies;
    for (let i = 0; i < list.length; i++) {
      if (policyCoversOutbound(list[i]!, flow)) return list[i]!;
    }
    return null;
  }

  list(): readonly Policy[] {
    return this.policies;
  }
}
