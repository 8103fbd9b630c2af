/**
 * The validated cluster network: what the operator stores (collection `network`, key `cluster`)
 * and what agents read. Built from install-config.yaml and the Network manifest.
 */

export type IpsecMode = 'Full' | 'External' | 'Disabled';
export type Encapsulation = 'Always' | 'Auto';

export interface ClusterNetworkEntry {
  cidr: string;
  hostPrefix: number;
}

export interface NetworkConfig {
  clusterNetwork: ClusterNetworkEntry[];
  serviceNetwork: string[];
  /** Underlay (node) networks, from install-config `networking.machineNetwork` or `--underlay-cidr`. */
  machineNetwork: string[];
  /** Pod interface MTU. */
  mtu: number;
  genevePort: number;
  /** Full: pod-to-pod traffic between nodes is encrypted. External/Disabled: it is not. */
  ipsec: { mode: IpsecMode; encapsulation: Encapsulation };
  clusterName?: string;
  baseDomain?: string;
  /** Machine counts from install-config, when given. */
  replicas?: { controlPlane: number; compute: number };
  /** The files this config came from, as given. */
  sources: string[];
}

/** Geneve with OVN's option budget: outer IPv4 20 + UDP 8 + Geneve 8 + options, rounded as OVN does. */
export const GENEVE_OVERHEAD = 100;
/** ESP in UDP (RFC 3948): UDP 8 + SPI/seq 8 + IV 8 + up to 3 pad + pad length/next header 2 + ICV 16 + 1 spare. */
export const ESP_UDP_OVERHEAD = 46;
/** When nothing tells us the underlay MTU, we assume Ethernet's. */
export const ASSUMED_UNDERLAY_MTU = 1500;
export const MIN_POD_MTU = 576;

/** OpenShift's installer defaults, used when neither file names a network. */
export const DEFAULT_CLUSTER_NETWORK: ClusterNetworkEntry = { cidr: '10.128.0.0/14', hostPrefix: 23 };
export const DEFAULT_SERVICE_NETWORK = '172.30.0.0/16';
/** OVN-Kubernetes' internal join network (v4InternalSubnet default); pods and services must not overlap it. */
export const OVN_JOIN_SUBNET = '100.64.0.0/16';

export function overheadFor(mode: IpsecMode): number {
  return GENEVE_OVERHEAD + (mode === 'Full' ? ESP_UDP_OVERHEAD : 0);
}
