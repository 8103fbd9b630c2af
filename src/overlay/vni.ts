import { type Cidr, prefixMask } from '../wire/address.js';

/**
 * OVN puts the tunnel key of the logical datapath the packet is headed for in the VNI: packets to a
 * node carry that node's key, so the two directions of a flow differ (the seed's §5.2 capture shows
 * vni 0x4 one way and 0xd back). We keep that shape: each node owns one VNI and every packet sent to
 * it carries it. The key is derived from the node's pod subnet — its index inside the cluster
 * network plus one (0 is not a valid OVN tunnel key) — so every node computes the same value for a
 * peer without asking anyone.
 */
export const MAX_VNI = 0xffffff;

export function vniForSubnet(clusterNetwork: Cidr, nodeSubnet: Cidr): number {
  if (nodeSubnet.prefix < clusterNetwork.prefix
    || ((nodeSubnet.base & prefixMask(clusterNetwork.prefix)) >>> 0) !== clusterNetwork.base) {
    throw new Error('node subnet lies outside the cluster network');
  }
  const index = (nodeSubnet.base - clusterNetwork.base) / 2 ** (32 - nodeSubnet.prefix);
  const vni = index + 1;
  if (!Number.isInteger(vni) || vni > MAX_VNI) throw new Error(`subnet index ${index} does not fit a 24-bit VNI`);
  return vni;
}
