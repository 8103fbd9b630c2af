import { randomUUID } from 'node:crypto';
import { generateKeyPair, type KeyAlgorithm } from '../../src/pki/keys.js';
import { createNodeCsr } from '../../src/pki/node-csr.js';
import { forEachLimited } from '../../src/util/limited.js';

/**
 * The simulated nodes of the join benchmark: a name, a system-id and a CSR for a key of their
 * own, made the way the agent makes them (src/pki/node-csr.ts). Key generation is what a real
 * node does once on its own CPU before it joins, so it is done here before the clock starts and
 * reported on its own; the same nodes then join each store in turn.
 */
export interface SimNode {
  name: string;
  systemId: string;
  csrPem: string;
}

export async function makeNodes(count: number, alg: KeyAlgorithm): Promise<{ nodes: SimNode[]; seconds: number }> {
  const t0 = performance.now();
  const nodes: SimNode[] = new Array<SimNode>(count);
  // Keys are made on libuv's thread pool: a few in flight keep both cores busy.
  await forEachLimited(Array.from({ length: count }, (_, i) => i), 4, async (i) => {
    const systemId = randomUUID();
    nodes[i] = { name: `node${String(i).padStart(4, '0')}`, systemId, csrPem: createNodeCsr(await generateKeyPair(alg), systemId) };
  });
  return { nodes, seconds: (performance.now() - t0) / 1000 };
}
