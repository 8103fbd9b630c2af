import type { Command } from 'commander';
import { OperationFailed } from '../util/errors.js';
import { controlRequest } from '../ipsecd/control-client.js';
import { DEFAULT_CONTROL_SOCKET, type ControlResponse } from '../ipsecd/control-protocol.js';
import { formatStatusText, type StatusJson } from '../ipsecd/status.js';

const SOCKET_HELP = 'the daemon\'s control socket (the path given to ipsecd --control)';

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
    .option('--json', 'print {"ike_sas":[…],"drops":{…}} as in CONTRACTS.md')
    .action(async (o: { control: string; json?: boolean }) => {
      const res = answer(await controlRequest(o.control, { cmd: 'status' }));
      const st = res.status as StatusJson;
      process.stdout.write(o.json ? JSON.stringify(st, null, 2) + '\n' : formatStatusText(st));
    });

  for (const cmd of ['initiate', 'rekey', 'terminate'] as const) {
    ipsec
      .command(cmd)
      .description(`${cmd[0]!.toUpperCase()}${cmd.slice(1)} a connection (or one child with --child); manual connections have no IKE SA and refuse`)
      .argument('<conn>', 'connection name from the daemon\'s config')
      .option('--child <name>', 'only this child SA')
      .option('--control <socket>', SOCKET_HELP, DEFAULT_CONTROL_SOCKET)
      .action(async (conn: string, o: { child?: string; control: string }) => {
        answer(await controlRequest(o.control, { cmd, conn, ...(o.child ? { child: o.child } : {}) }));
        process.stdout.write(`${cmd}: ${conn}${o.child ? `/${o.child}` : ''}: done\n`);
      });
  }
}
