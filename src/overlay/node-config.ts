import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseCidr, parseIpv4 } from '../wire/address.js';
import { ConfigError } from '../util/errors.js';
import { GENEVE_UDP_PORT } from '../wire/geneve.js';
import { ENCAP_OVERHEAD } from './geneve-layout.js';
import type { LocalSpec } from './engine.js';
import type { PeerSpec } from './peer-table.js';
import { MAX_VNI } from './vni.js';

/**
 * What one node's overlay needs (the agent builds it from the store; the tests' plain node runner,
 * test/helpers/overlay-node-runner.ts, reads it as JSON). Example:
 *
 *   { "local": { "node": "master0", "systemId": "…uuid…", "underlay": "192.168.7.21",
 *                "subnet": "10.254.0.0/24", "vni": 1 },
 *     "peers": [ { "node": "worker0", "systemId": "…", "underlay": "192.168.7.11",
 *                  "subnet": "10.254.3.0/24", "vni": 4 } ],
 *     "tunName": "ovn-k8s-tun0", "mtu": 1400, "underlayMtu": 1546,
 *     "routes": [ { "dst": "10.254.0.0/16", "src": "10.254.0.1" } ] }
 */
const ipv4 = z.string().refine((s) => parseIpv4(s) !== null, 'not an IPv4 address');
const cidr = z.string().refine((s) => parseCidr(s).ok, 'not a CIDR such as 10.254.0.0/24 (host bits clear)');
const vni = z.number().int().min(1).max(MAX_VNI);
const systemId = z.string().regex(/^[0-9a-fA-F]{6}/, 'must start with 6 hex digits (a UUID)');
const node = z.string().min(1);

const LocalSchema = z.object({ node, systemId, underlay: ipv4, subnet: cidr, vni }).strict();
const PeerSchema = z.object({ node, systemId, underlay: ipv4, subnet: cidr, vni }).strict();

export const NodeOverlayConfigSchema = z.object({
  local: LocalSchema,
  peers: z.array(PeerSchema).default([]),
  tunName: z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'a Linux interface name (1-15 characters)').default('ovn-k8s-tun0'),
  /** TUN MTU: the pod MTU. */
  mtu: z.number().int().min(576).max(65535).default(1400),
  /** Largest outer packet: the underlay MTU. */
  underlayMtu: z.number().int().min(576).max(65535).default(1500),
  /** Routes via the TUN, added once it exists; `src` picks the node's own address for them. */
  routes: z.array(z.object({ dst: cidr, src: ipv4.optional() }).strict()).default([]),
  port: z.number().int().min(1).max(65535).default(GENEVE_UDP_PORT),
  /** Sending sockets (distinct outer source ports). */
  senders: z.number().int().min(1).max(64).default(8),
}).strict().superRefine((c, ctx) => {
  // A pod packet the TUN accepts must fit the underlay once encapsulated; otherwise full-size
  // packets would vanish (counted as too_big) — a TCP black hole. The kernel enforces the TUN MTU.
  if (c.mtu + ENCAP_OVERHEAD > c.underlayMtu) {
    ctx.addIssue({
      code: 'custom',
      path: ['mtu'],
      message: `${c.mtu} + ${ENCAP_OVERHEAD} bytes of Geneve encapsulation exceeds underlayMtu ${c.underlayMtu} (lower mtu to ${c.underlayMtu - ENCAP_OVERHEAD} or raise underlayMtu)`,
    });
  }
});

export type NodeOverlayConfig = z.infer<typeof NodeOverlayConfigSchema>;
export type { LocalSpec, PeerSpec };

/** Validates a parsed config; a problem names the file, the key path and what is wrong. */
export function parseNodeOverlayConfig(value: unknown, file: string): NodeOverlayConfig {
  const r = NodeOverlayConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(file, issue.path.map(String).join('.'), issue.message);
  }
  return r.data;
}

export async function loadNodeOverlayConfig(file: string): Promise<NodeOverlayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, '', `cannot read: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, '', `not JSON: ${(err as Error).message}`);
  }
  return parseNodeOverlayConfig(value, file);
}
