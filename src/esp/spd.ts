import { anySelectorMatches, type TrafficSelector } from '../wire/traffic-selector.js';
import type { Flow } from './flow.js';

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

/** Destinations remembered by the lookup index before it starts over (bounds its memory). */
const INDEX_MAX_DESTINATIONS = 65536;

export class Spd {
  private policies: Policy[] = [];
  /**
   * Lookup index: for a destination address, the policies (in order) whose remote selectors
   * contain it. Filled on demand, dropped whenever the policy list changes. With a thousand
   * per-peer policies this turns a scan of all of them into a check of one or two.
   */
  private byDestination = new Map<number, Policy[]>();

  /** Appends a policy (lowest priority so far), or replaces the one with the same name in place. */
  set(policy: Policy): void {
    const i = this.policies.findIndex((p) => p.name === policy.name);
    if (i >= 0) this.policies[i] = policy;
    else this.policies.push(policy);
    this.byDestination.clear();
  }

  remove(name: string): void {
    this.policies = this.policies.filter((p) => p.name !== name);
    this.byDestination.clear();
  }

  get(name: string): Policy | undefined {
    return this.policies.find((p) => p.name === name);
  }

  /** The first policy covering an outbound flow, or null. */
  lookupOutbound(flow: Flow): Policy | null {
    let candidates = this.byDestination.get(flow.dst);
    if (candidates === undefined) {
      candidates = this.policies.filter((p) => p.remoteTs.some((ts) => flow.dst >= ts.startAddr && flow.dst <= ts.endAddr));
      if (this.byDestination.size >= INDEX_MAX_DESTINATIONS) this.byDestination.clear();
      this.byDestination.set(flow.dst, candidates);
    }
    for (let i = 0; i < candidates.length; i++) {
      if (policyCoversOutbound(candidates[i]!, flow)) return candidates[i]!;
    }
    return null;
  }

  list(): readonly Policy[] {
    return this.policies;
  }
}
