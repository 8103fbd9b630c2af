/**
 * The overlay's public surface (what the agent and the cluster runner use):
 *
 *   const engine = new OverlayEngine({ local, peers, underlayMtu });      // sans-I/O core
 *   engine.encapsulate(podPacket) → IPv4(UDP 6081(Geneve(Ethernet(podPacket)))) | undefined
 *   engine.decapsulateUdp(srcAddr, genevePayload) / decapsulateIpv4(packet) → podPacket | undefined
 *   engine.setPeers(specs); engine.status()
 *
 *   startNodeOverlay(config)                                   // TUN + routes + plain UDP 6081
 *   startNodeOverlay(config, { underlay: new PacketUnderlay(p => esp.onTunPackets(p)) })  // IPsec on;
 *     the ESP data path's TunWriter calls that PacketUnderlay's deliver(packets)
 */
export { OverlayEngine, type LocalSpec, type OverlayEngineOptions, type OverlayStatus, type TunnelStatus } from './engine.js';
export { PeerTable, PeerSpecError, type Peer, type PeerSpec } from './peer-table.js';
export { INBOUND_DROP_CAUSES, OUTBOUND_DROP_CAUSES, type InboundDrop, type OutboundDrop, type TunnelCountersSnapshot } from './counters.js';
export { tunnelName } from './tunnel-name.js';
export { vniForSubnet, MAX_VNI } from './vni.js';
export { macForIpv4 } from './mac.js';
export { ENCAP_OVERHEAD } from './geneve-layout.js';
export { flowHash, ephemeralSourcePort } from './flow-hash.js';
export type { Underlay, UnderlaySink } from './underlay.js';
export { UdpUnderlay, type UdpUnderlayOptions } from './udp-underlay.js';
export { PacketUnderlay } from './packet-underlay.js';
export { NodeOverlay, type TunPort } from './node-overlay.js';
export { startNodeOverlay, type RunningOverlay } from './node-service.js';
export { NodeOverlayConfigSchema, parseNodeOverlayConfig, loadNodeOverlayConfig, type NodeOverlayConfig } from './node-config.js';
export { configureTun } from './tun-setup.js';
