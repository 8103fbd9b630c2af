import { createHash } from 'node:crypto';

/**
 * Names of the local cluster's namespaces and interfaces (CONTRACTS.md, Cluster):
 * `<prefix>-underlay` (the switch), `<prefix>-<node>` per node, `<prefix>-<node>-pod<N>` per pod.
 * The product's prefix is `oi`; tests pass their own so they never touch a running cluster.
 */
export const DEFAULT_PREFIX = 'oi';

const PREFIX_RE = /^[a-z][a-z0-9-]{0,11}$/;
const NODE_RE = /^[a-z][a-z0-9]{0,31}$/;
/** Linux interface names hold at most 15 characters (IFNAMSIZ 16 with the NUL). */
export const IFNAME_MAX = 15;

export function checkPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix) || prefix.endsWith('-')) {
    throw new Error(`namespace prefix "${prefix}" must be 1-12 of a-z, 0-9, '-', start with a letter and not end with '-'`);
  }
  return prefix;
}

export function checkNodeName(node: string): string {
  if (!NODE_RE.test(node)) throw new Error(`node name "${node}" must be a lower-case letter then letters or digits (at most 32)`);
  return node;
}

export function underlayNs(prefix: string): string {
  return `${prefix}-underlay`;
}

export function nodeNs(prefix: string, node: string): string {
  return `${prefix}-${node}`;
}

export function podName(node: string, index: number): string {
  return `${node}-pod${index}`;
}

export function podNs(prefix: string, node: string, index: number): string {
  return `${prefix}-${podName(node, index)}`;
}

/** True when `ns` is one of the namespaces a cluster with this prefix makes (used by cleanup). */
export function ownsNamespace(prefix: string, ns: string): boolean {
  return ns.startsWith(`${prefix}-`);
}

/** The underlay switch inside `<prefix>-underlay`. */
export const UNDERLAY_BRIDGE = 'br-underlay';
/** A node's underlay interface inside its namespace. */
export const NODE_UNDERLAY_IF = 'eth0';
/** The bridge inside a node namespace that its pods hang on; holds the subnet gateway (.1). */
export const POD_BRIDGE = 'br-pods';
/** A pod's interface inside its namespace. */
export const POD_IF = 'eth0';
/** The overlay TUN a node's process opens. */
export const DEFAULT_TUN = 'ovn-k8s-tun0';

/** The switch port (in the underlay namespace) of a node: `u-<node>`, hashed down when too long. */
export function underlayPortName(node: string): string {
  return fitIfname(`u-${node}`);
}

/** The node-side veth of pod N (in the node namespace). */
export function podPortName(index: number): string {
  return `pod${index}`;
}

function fitIfname(name: string): string {
  if (name.length <= IFNAME_MAX) return name;
  const h = createHash('sha256').update(name).digest('hex').slice(0, 6);
  return `${name.slice(0, IFNAME_MAX - 7)}-${h}`;
}

/** Where `up` keeps the description of what it built, for `pods`, `verify` and `down`. */
export const TOPOLOGY_FILE = 'topology.json';
