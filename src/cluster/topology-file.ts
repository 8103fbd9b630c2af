import { writeFile, readFile, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type TopologyPlan, describePods } from './topology.js';

/**
 * The description of a built cluster, kept as JSON (by `up`, in the state directory as
 * names.TOPOLOGY_FILE) for `overlay-ipsec pods`, `verify` and `down`.
 */

/** What was built, as JSON: the plan plus the pod list `overlay-ipsec pods` prints. */
export interface TopologyDescription {
  plan: TopologyPlan;
  pods: ReturnType<typeof describePods>;
}

export function describeTopology(plan: TopologyPlan): TopologyDescription {
  return { plan, pods: describePods(plan) };
}

/** Writes the description atomically (write, then rename) so a reader never sees half a file. */
export async function saveTopology(file: string, plan: TopologyPlan): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(describeTopology(plan), null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}

export async function loadTopology(file: string): Promise<TopologyDescription> {
  const d = JSON.parse(await readFile(file, 'utf8')) as TopologyDescription;
  if (!d || typeof d !== 'object' || !d.plan || !Array.isArray(d.plan.nodes) || !Array.isArray(d.pods)) {
    throw new Error(`${file}: not a topology description (expected {"plan":{…},"pods":[…]})`);
  }
  return d;
}
