import type { NodeOverlayConfig } from '../../src/overlay/node-config.js';
import { overlayRoutes, type NodePlan, type TopologyPlan } from '../../src/cluster/topology.js';

/**
 * The overlay config of one planned node with every other node as a peer (the full mesh of the
 * seed). `systemIds` maps node name → system-id (the agent's; tests make their own UUIDs).
 */
export function nodeOverlayConfig(plan: TopologyPlan, node: NodePlan, systemIds: Readonly<Record<string, string>>): NodeOverlayConfig {
  const id = (n: NodePlan) => {
    const s = systemIds[n.name];
    if (!s) throw new Error(`no system-id for node ${n.name}`);
    return s;
  };
  return {
    local: { node: node.name, systemId: id(node), underlay: node.underlayIp, subnet: node.subnet, vni: node.vni },
    peers: plan.nodes
      .filter((p) => p !== node)
      .map((p) => ({ node: p.name, systemId: id(p), underlay: p.underlayIp, subnet: p.subnet, vni: p.vni })),
    tunName: node.tunName,
    mtu: plan.mtu,
    underlayMtu: plan.underlay.mtu,
    routes: overlayRoutes(plan, node),
    port: 6081,
    senders: 8,
  };
}
