import type { Command } from 'commander';
import { OperationFailed } from '../util/errors.js';
import { controlRequest } from '../host/control-client.js';
import { DEFAULT_CONTROL_SOCKET, type ControlResponse } from '../host/control-protocol.js';
import { formatStatusText, type StatusJson } from '../host/status.js';
import { agentSocket } from './agent.js';
import { defaultStateDir } from '../store/layout.js';

const SOCKET_HELP = 'the daemon\'s control socket (the path given to ipsecd --control)';

/** --node N [--state-dir D] asks that node's agent instead of an ipsecd. */
function socketOf(o: { control: string; node?: string; stateDir?: string }): string {
  return o.node ? agentSocket(o.stateDir ?? defaultStateDir(), o.node) : o.control;
}

function answer(res: ControlResponse): Record<string, unknown> {
  if (!res.ok) throw new OperationFailed(res.error);
  return res;
}

export function registerIpsec(program: Command): void {
  const ipsec = program
    .command('ipsec')
    .description('Talk to a running ipsecd: status and SA commands. Exit 1 when the daemon is not reachable or refuses.');

  ipsec
    .command('status')
    .description('IKE and child SAs with traffic counters and drops by cause (libreswan-style lines, or JSON)')
    .option('--control <socket>', SOCKET_HELP, DEFAULT_CONTROL_SOCKET)
    .option('--node <name>', 'ask this node\'s agent (socket under --state-dir) instead of an ipsecd')
    .option('--state-dir <dir>', 'state directory of the cluster (with --node)')
    .option('--json', 'print {"ike_sas":[…],"drops":{…}} as in CONTRACTS.md')
    .action(async (o: { control: string; node?: string; stateDir?: string; json?: boolean }) => {
      const res = answer(await controlRequest(socketOf(o), { cmd: 'status' }));
      const st = res.status as StatusJson;
      const text = typeof res.text === 'string' ? res.text : formatStatusText(st);
      process.stdout.write(o.json ? JSON.stringify(st, null, 2) + '\n' : text);
    });

  for (const cmd of ['initiate', 'rekey', 'terminate'] as const) {
    ipsec
      .command(cmd)
      .description(`${cmd[0]!.toUpperCase()}${cmd.slice(1)} a connection (or one child with --child); manual connections have no IKE SA and refuse`)
      .argument('<conn>', 'connection name from the daemon\'s config')
      .option('--child <name>', 'only this child SA')
      .option('--control <socket>', SOCKET_HELP, DEFAULT_CONTROL_SOCKET)
      .option('--node <name>', 'ask this node\'s agent instead of an ipsecd')
      .option('--state-dir <dir>', 'state directory of the cluster (with --node)')
      .action(async (conn: string, o: { child?: string; control: string; node?: string; stateDir?: string }) => {
        answer(await controlRequest(socketOf(o), { cmd, conn, ...(o.child ? { child: o.child } : {}) }));
        process.stdout.write(`${cmd}: ${conn}${o.child ? `/${o.child}` : ''}: done\n`);
      });
  }
}
