import { z } from 'zod';

/**
 * The documents the operator and the node agents exchange, one zod schema per collection.
 * Every document is checked against its schema when read, so a damaged or foreign file is
 * reported (file + what is wrong) instead of being half-used.
 *
 * Who writes what (one owner per key; the owner is the only writer, except where a hand-over
 * is stated, and every hand-over is a compare-and-swap on the revision):
 *   nodes/<node>        the node (enroll / agent): registration, system-id, the CAs it trusts now,
 *                       the certificate it presents now
 *   csrs/<node>         the node writes a request (status pending); the operator then moves that
 *                       same revision to approved/denied (CAS, so a newer request is never
 *                       overwritten by a decision about an older one)
 *   certificates/<node> the operator
 *   ca/bundle           the operator
 *   subnets/<cidr>      the operator (created with expectedRevision 0: never allocated twice)
 *   network/cluster     the operator (the validated config; `config apply` changes it through
 *                       network/requested, which the operator checks and copies)
 *   network/requested   `config apply` (a validated config the operator is asked to apply)
 *   dataplane/<node>    the node's agent: the IPsec mode it is in and each pair's transition state
 */

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: 'expected an ISO 8601 time' });
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, { error: 'expected a lowercase UUID' });

export const nodeDocSchema = z.object({
  name: z.string().min(1),
  system_id: uuid,
  /** The node's underlay (tunnel endpoint) address, when known. */
  underlay_ip: z.string().optional(),
  registered_at: iso,
  /** SHA-256 fingerprints (hex) of the CA certificates the node has installed as trust anchors. */
  trusted_ca: z.array(z.string()).default([]),
  trusted_at: iso.optional(),
  /** The certificate the node presents now (installed), and the fingerprint of the CA that issued it. */
  cert_serial: z.string().optional(),
  cert_issuer_fingerprint: z.string().optional(),
});
export type NodeDoc = z.infer<typeof nodeDocSchema>;

export const csrStatus = ['pending', 'approved', 'denied'] as const;
export const csrDocSchema = z.object({
  node: z.string().min(1),
  /** A fresh id per request, so a decision is matched with the request it is about. */
  request_id: uuid,
  /** The CSR as submitted (PEM, or whatever text the node sent: the operator judges it). */
  pem: z.string(),
  submitted_at: iso,
  status: z.enum(csrStatus),
  reason: z.string().optional(),
  decided_at: iso.optional(),
  certificate_serial: z.string().optional(),
});
export type CsrDoc = z.infer<typeof csrDocSchema>;

export const certificateDocSchema = z.object({
  node: z.string().min(1),
  system_id: uuid,
  request_id: uuid,
  pem: z.string(),
  serial: z.string(),
  subject: z.string(),
  issuer: z.string(),
  /** Fingerprint of the CA certificate that signed this one. */
  issuer_fingerprint: z.string(),
  not_before: iso,
  not_after: iso,
});
export type CertificateDoc = z.infer<typeof certificateDocSchema>;

export const caStates = ['active', 'next', 'retiring'] as const;
export const caEntrySchema = z.object({
  pem: z.string(),
  serial: z.string(),
  subject: z.string(),
  fingerprint: z.string(),
  not_before: iso,
  not_after: iso,
  /** active: signs node certificates; next: trusted, not yet signing; retiring: trusted, no longer signing. */
  state: z.enum(caStates),
});
export type CaEntry = z.infer<typeof caEntrySchema>;

export const caPhases = ['steady', 'distributing', 'reissuing'] as const;
export const caBundleDocSchema = z.object({
  /** Every CA a node must trust now (one, or two during a rollover). */
  cas: z.array(caEntrySchema).min(1),
  /**
   * steady: one CA. distributing: a new CA is trusted but does not sign yet, until every node
   * trusts it. reissuing: the new CA signs, the old one stays trusted until every node holds
   * a certificate from the new one.
   */
  phase: z.enum(caPhases),
  updated_at: iso,
});
export type CaBundleDoc = z.infer<typeof caBundleDocSchema>;

export const subnetDocSchema = z.object({
  cidr: z.string(),
  node: z.string().min(1),
  allocated_at: iso,
});
export type SubnetDoc = z.infer<typeof subnetDocSchema>;

export const networkDocSchema = z.object({
  clusterNetwork: z.array(z.object({ cidr: z.string(), hostPrefix: z.number().int() })),
  serviceNetwork: z.array(z.string()),
  machineNetwork: z.array(z.string()),
  mtu: z.number().int(),
  genevePort: z.number().int(),
  ipsec: z.object({ mode: z.enum(['Full', 'External', 'Disabled']), encapsulation: z.enum(['Always', 'Auto']) }),
  clusterName: z.string().optional(),
  baseDomain: z.string().optional(),
  replicas: z.object({ controlPlane: z.number(), compute: z.number() }).optional(),
  sources: z.array(z.string()),
  /** When this cluster was first configured. */
  installed_at: iso,
  /** When the config was last changed by `config apply` (absent: as installed). */
  applied_at: iso.optional(),
});
export type NetworkDoc = z.infer<typeof networkDocSchema>;

export const pairStates = ['plain', 'enabling', 'sending-esp', 'encrypted', 'opening', 'sending-plain'] as const;
export const dataplaneDocSchema = z.object({
  node: z.string().min(1),
  /** The mode the cluster's config asks for, as this node last read it. */
  wanted: z.enum(['Full', 'Disabled']),
  /** Full or Disabled once every pair reached that mode; enabling / disabling on the way. */
  phase: z.enum(['Full', 'Disabled', 'enabling', 'disabling']),
  /** Per peer node: the pair's transition state and the inbound SPIs this node holds for it. */
  peers: z.record(z.string(), z.object({ state: z.enum(pairStates), spis_in: z.array(z.number().int()) })),
  updated_at: iso,
});
export type DataplaneDoc = z.infer<typeof dataplaneDocSchema>;

export const schemas = {
  nodes: nodeDocSchema,
  csrs: csrDocSchema,
  certificates: certificateDocSchema,
  ca: caBundleDocSchema,
  subnets: subnetDocSchema,
  network: networkDocSchema,
  dataplane: dataplaneDocSchema,
} as const;

export interface StoreDocs {
  nodes: NodeDoc;
  csrs: CsrDoc;
  certificates: CertificateDoc;
  ca: CaBundleDoc;
  subnets: SubnetDoc;
  network: NetworkDoc;
  dataplane: DataplaneDoc;
}
export type CollectionName = keyof StoreDocs;
export const collections = Object.keys(schemas) as CollectionName[];

/** Fixed keys of the single-document collections. */
export const CA_BUNDLE_KEY = 'bundle';
export const NETWORK_KEY = 'cluster';
/** The network config `config apply` asks for; the operator checks it and makes it NETWORK_KEY. */
export const NETWORK_REQUEST_KEY = 'requested';
