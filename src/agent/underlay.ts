import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { cidrHasAddress, parseCidr, parseIpv4 } from '../wire/address.js';

/**
 * The node's underlay (tunnel endpoint) address when none is given: the one IPv4 address on a
 * non-loopback interface outside the cluster networks (a node's pod gateway lies inside them).
 */
export function detectUnderlay(clusterNetworks: readonly string[]): { address: string; iface: string } | { problem: string } {
  const nets = clusterNetworks.map((c) => parseCidr(c)).flatMap((r) => (r.ok ? [r.cidr] : []));
  const found: { address: string; iface: string }[] = [];
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const n = parseIpv4(a.address);
      if (n === null || nets.some((c) => cidrHasAddress(c, n))) continue;
      found.push({ address: a.address, iface });
    }
  }
  if (found.length === 1) return found[0]!;
  if (found.length === 0) return { problem: 'no IPv4 address outside the cluster network on any interface; pass --underlay-ip' };
  return { problem: `several candidate underlay addresses (${found.map((f) => `${f.address} on ${f.iface}`).join(', ')}); pass --underlay-ip` };
}

/** The interface that holds `address`, and its MTU (1500 when it cannot be read). */
export function interfaceOf(address: string): { iface: string | undefined; mtu: number } {
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    if ((addrs ?? []).some((a) => a.address === address)) {
      let mtu = 1500;
      try {
        mtu = Number(readFileSync(`/sys/class/net/${iface}/mtu`, 'utf8').trim()) || 1500;
      } catch { /* not Linux sysfs */ }
      return { iface, mtu };
    }
  }
  return { iface: undefined, mtu: 1500 };
}
