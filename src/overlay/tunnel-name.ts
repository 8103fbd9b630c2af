/**
 * OVN names a node's Geneve tunnel port to a peer `ovn-<first 6 hex of the peer's system-id>-0`
 * (the seed's `ovn-ab2a7c-0`). The system-id is a UUID; its first six hex digits are the first
 * six characters, lower-cased. The name is at most 12 characters, so it also fits a Linux ifname.
 */
const UUIDISH = /^[0-9a-fA-F]{6}/;

export function tunnelName(peerSystemId: string): string {
  const m = UUIDISH.exec(peerSystemId);
  if (!m) throw new Error(`system-id "${peerSystemId}" does not start with 6 hex digits`);
  return `ovn-${m[0].toLowerCase()}-0`;
}
