/**
 * Synthetic Ethernet addresses for the inner frame of a Geneve packet. The overlay is routed (the
 * TUN carries IP), yet Geneve with protocol 0x6558 carries an Ethernet frame, as OVN's does. Like
 * ovn-kubernetes, we derive a node's MAC from an IPv4 address with the locally administered,
 * unicast prefix 0a:58 — here the node's pod-subnet gateway — so it is stable for the node's life
 * and every peer can compute it.
 */
export const MAC_LENGTH = 6;

export function macForIpv4(addr: number): Buffer {
  const mac = Buffer.alloc(MAC_LENGTH);
  mac[0] = 0x0a;
  mac[1] = 0x58;
  mac.writeUInt32BE(addr >>> 0, 2);
  return mac;
}

