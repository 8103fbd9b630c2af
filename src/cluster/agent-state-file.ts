import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AGENT_STATE_FILE } from '../agent/control.js';
import type { AgentState } from '../agent/agent-state.js';
import { nodeDir } from '../store/layout.js';

/**
 * What a node's agent last wrote of itself, `<state>/nodes/<node>/agent.json` (agent/agent-state.ts),
 * as `up`, `nodes` and `verify` read it; undefined when there is none yet or it is being replaced.
 */
export async function readAgentStateFile(stateDir: string, node: string): Promise<AgentState | undefined> {
  try {
    return JSON.parse(await readFile(path.join(nodeDir(stateDir, node), AGENT_STATE_FILE), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}
