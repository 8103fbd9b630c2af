import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';
import { NotMeasurable, type Setup } from '../lib/setup.js';

/**
 * Pods across two nodes with IPsec on: the agent (src/agent) wires the node overlay to the ESP
 * data path through the PacketUnderlay seam and negotiates the keys with IKE. Until the agent
 * exists this row is not measured — the bench does not assemble a stand-in of its own and call it
 * the product.
 */
export async function startOverlayIpsec(): Promise<Setup> {
  const agent = path.join(repoRoot, 'dist', 'src', 'agent');
  const has = existsSync(agent) && existsSync(path.join(repoRoot, 'src', 'agent', 'index.ts'));
  throw new NotMeasurable(has
    ? 'the agent exists but this bench does not drive it yet (bench/setups/overlay-ipsec.ts)'
    : 'needs the node agent (overlay + ESP + IKE per node, src/agent/), which does not exist yet');
}
