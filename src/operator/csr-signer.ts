import type { Logger } from '../util/log.js';
import type { CaBundleDoc, CertificateDoc, CsrDoc, NodeDoc } from '../store/documents.js';
import { ConflictError, type Entry, type Store } from '../store/store.js';
import { checkNodeCsr } from '../pki/csr.js';
import { signNodeCertificate } from '../pki/ca.js';
import { certInfo } from '../pki/cert-info.js';
import type { CaKeeper } from './ca-keeper.js';

export type Decision = { status: 'approved'; serial: string } | { status: 'denied'; reason: string };

/**
 * Decides one pending CSR. Signs only when the CSR verifies and its CN and SAN are the
 * system-id of the node that submitted it, and no other node claims that system-id.
 *
 * Order matters for crashes: the certificate is stored first (certificates/<node>, carrying the
 * request id), then the CSR is marked approved with a CAS on the revision we judged. After a
 * kill -9 in between, the next pass finds the certificate for this request id and only marks it
 * approved: no second certificate, no lost request. Both writes are compare-and-swaps, so a
 * request is decided once per revision and gets one stored certificate even when two operators
 * race (an old leader that has not yet noticed losing its lease).
 */
export async function decideCsr(
  store: Store,
  csr: Entry<CsrDoc>,
  nodes: Map<string, NodeDoc>,
  bundle: CaBundleDoc,
  ca: CaKeeper,
  nowMs: number,
  log: Logger,
): Promise<Decision | undefined> {
  const c = csr.value;
  // The watch snapshot of nodes may lag the CSR's own watch event (the node registers first, but
  // the two collections are watched separately): read the store before calling a node unknown.
  const node = nodes.get(c.node) ?? (await store.get('nodes', c.node))?.value;
  let decision: Decision;
  if (c.node !== csr.key) decision = { status: 'denied', reason: `request stored under csrs/${csr.key} names node ${c.node}` };
  else if (!node) decision = { status: 'denied', reason: `node ${c.node} is not registered (nodes/${c.node} missing)` };
  else {
    const owners = new Map<string, string>();
    for (const n of nodes.values()) if (n.name !== node.name) owners.set(n.system_id, n.name);
    const dup = owners.get(node.system_id);
    if (dup) decision = { status: 'denied', reason: `system-id ${node.system_id} is also claimed by node ${dup}` };
    else {
      const existing = await store.get('certificates', c.node);
      if (existing && existing.value.request_id === c.request_id) {
        decision = { status: 'approved', serial: existing.value.serial };
      } else {
        const check = await checkNodeCsr(c.pem, node.system_id, owners);
        if (!check.ok) decision = { status: 'denied', reason: check.reason };
        else {
          const signer = await ca.signer(bundle);
          const cert = await signNodeCertificate(signer, check.csr, node.system_id, check.keyAlgorithm, nowMs);
          const info = certInfo(cert.pem);
          const doc: CertificateDoc = {
            node: c.node,
            system_id: node.system_id,
            request_id: c.request_id,
            pem: cert.pem,
            serial: info.serial,
            subject: info.subject,
            issuer: info.issuer,
            issuer_fingerprint: signer.entry.fingerprint,
            not_before: info.not_before,
            not_after: info.not_after,
          };
          // A CAS on the certificate we read: of two operators deciding the same request at once
          // (a leader that has just lost its lease, and the next), one certificate is stored and
          // handed out; the other is dropped unseen and its operator approves the stored one.
          try {
            await store.put('certificates', c.node, doc, { expectedRevision: existing?.revision ?? 0 });
            decision = { status: 'approved', serial: info.serial };
          } catch (err) {
            if (!(err instanceof ConflictError)) throw err;
            const stored = await store.get('certificates', c.node);
            if (stored?.value.request_id !== c.request_id) return undefined; // changed under us: the next pass looks again
            decision = { status: 'approved', serial: stored.value.serial };
          }
        }
      }
    }
  }
  const at = new Date(nowMs).toISOString();
  const next: CsrDoc =
    decision.status === 'approved'
      ? { ...c, status: 'approved', decided_at: at, certificate_serial: decision.serial }
      : { ...c, status: 'denied', decided_at: at, reason: decision.reason };
  try {
    await store.put('csrs', csr.key, next, { expectedRevision: csr.revision });
  } catch (err) {
    if (err instanceof ConflictError) return undefined; // the node sent a newer request meanwhile
    throw err;
  }
  if (decision.status === 'approved') log.info({ node: c.node, serial: decision.serial }, 'signed node certificate');
  else log.warn({ node: c.node, reason: decision.reason }, 'refused node CSR');
  return decision;
}
