import path from 'node:path';
import type { Command } from 'commander';
import { Agent, AGENT_SOCKET } from '../agent/index.js';
import type { TunnelShow } from '../agent/index.js';
import { controlRequest } from '../host/control-client.js';
import { defaultStateDir, nodeDir, checkNodeName } from '../store/layout.js';
import { createLogger } from '../util/log.js';
import { OperationFailed, UsageError, requireRoot } from '../util/errors.js';
import { requirePrograms } from '../util/programs.js';
import { formatTunnelsShow } from '../agent/status.js';
import { parseClockOffset, ShiftableClock } from '../pki/time.js';
import { addStoreOptions, storeSpecFromFlags, type StoreFlags } from './store-options.js';

interface AgentFlags extends StoreFlags {
  node: string;
  stateDir: string;
  underlayIp?: string;
  tun?: string;
  metricsPort?: string;
  log?: string;
  keylog?: string;
}

/** The agent's control socket of node N under a state directory. */
export function agentSocket(stateDir: string, node: string): string {
  return path.join(nodeDir(stateDir, node), AGENT_SOCKET);
}

export function registerAgent(program: Command): void {
  addStoreOptions(program
    .command('agent')
    .description(
      'Run a node agent in the foreground (inside the node\'s network namespace): registers and enrolls the node, opens the pod TUN, ' +
        'and keeps one Geneve tunnel ovn-<6 hex>-0 per other node, protected by IKEv2/ESP transport mode (UDP 4500) unless the ' +
        'cluster network config says ipsecConfig Disabled. Status on <state-dir>/nodes/<node>/agent.sock; readiness in agent.json ' +
        '("ready": true once every peer\'s tunnel is up); libreswan-style log in libreswan.log. OI_CLOCK_OFFSET (e.g. 4.5y) shifts its clock, for tests.',
    )
    .requiredOption('--node <name>', 'this node\'s name (e.g. master0)')
    .option('--state-dir <dir>', 'state directory shared with the operator', defaultStateDir())
    .option('--underlay-ip <ip>', 'the node\'s underlay address (default: the one address outside the cluster network)')
    .option('--tun <name>', 'the pod TUN device', 'ovn-k8s-tun0')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on the underlay address at this port (default: off)')
    .option('--log <file>', 'write the JSON log here instead of stderr')
    .option('--keylog <dir>', 'keep Wireshark key logs (esp_sa, ikev2_decryption_table; 0600) in DIR, so captures can be decrypted; off unless given'))
    .action(async (o: AgentFlags) => {
      let onStop: (sig: string) => void = () => {};
      const stopRequested = new Promise<string>((resolve) => {
        onStop = resolve;
      });
      process.once('SIGINT', () => onStop('SIGINT'));
      process.once('SIGTERM', () => onStop('SIGTERM'));
      const bad = checkNodeName(o.node);
      if (bad) throw new UsageError(`--node: ${bad}`);
      let metricsPort: number | undefined;
      if (o.metricsPort !== undefined) {
        metricsPort = Number(o.metricsPort);
        if (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535) throw new UsageError(`--metrics-port: "${o.metricsPort}" is not a port number`);
      }
      let offset: number;
      try {
        offset = parseClockOffset(process.env.OI_CLOCK_OFFSET);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      // Timers keep the offset they started with; certificates follow a clock that `clock/offset`
      // may move later (allowed only when OI_CLOCK_OFFSET is set: a test hook).
      const now = (): number => Date.now() + offset;
      const wallClock = new ShiftableClock(offset);
      const clockControl = process.env.OI_CLOCK_OFFSET !== undefined;
      const store = await storeSpecFromFlags(o, o.stateDir);
      requireRoot('overlay-ipsec agent (TUN device, UDP 500/4500)');
      requirePrograms(['ip'], 'overlay-ipsec agent');
      const log = createLogger({ name: 'agent', ...(o.log ? { file: o.log } : {}) });
      const agent = new Agent({
        node: o.node, stateDir: o.stateDir, store, log, now, wallClock, clockControl,
        ...(o.underlayIp ? { underlayIp: o.underlayIp } : {}),
        ...(o.tun ? { tunName: o.tun } : {}),
        ...(metricsPort ? { metricsPort } : {}),
        ...(o.keylog ? { keylogDir: path.resolve(o.keylog) } : {}),
      });
      let stopping: Promise<void> | undefined;
      const stop = (): Promise<void> => (stopping ??= agent.stop());
      void stopRequested.then(async (sig) => {
        log.info({ signal: sig }, 'shutting down');
        await stop();
      });
      try {
        await Promise.race([agent.start(), stopRequested]);
      } catch (err) {
        await stop();
        throw new OperationFailed(`agent ${o.node}: ${(err as Error).message}`);
      }
      await stopRequested;
      await stop();
      // Everything is closed; a timer left by an enrollment that was still waiting must not keep the process.
      setTimeout(() => process.exit(0), 500).unref();
    });

  const tunnels = program.command('tunnels').description('The node agent\'s tunnels (ovs-appctl tunnels/show)');
  tunnels
    .command('show')
    .description('Every tunnel of a node with the seed\'s fields: IPs, certificates, names, kernel policies and SAs, active connections')
    .option('--node <name>', 'the node whose agent to ask', 'master0')
    .option('--state-dir <dir>', 'state directory of the cluster', defaultStateDir())
    .option('--json', 'print the tunnels as JSON')
    .action(async (o: { node: string; stateDir: string; json?: boolean }) => {
      const sock = agentSocket(o.stateDir, o.node);
      const res = await controlRequest(sock, { cmd: 'tunnels/show' }).catch((err: Error) => {
        throw new OperationFailed(`${err.message.replace(/; is `overlay-ipsec ipsecd.*$/, '')}; is \`overlay-ipsec agent --node ${o.node} --state-dir ${o.stateDir}\` running?`);
      });
      if (!res.ok) throw new OperationFailed(res.error);
      const list = res.tunnels as TunnelShow[];
      process.stdout.write(o.json ? JSON.stringify(list, null, 2) + '\n' : formatTunnelsShow(list));
    });
}
