import { Option, type Command } from 'commander';
import { OperationFailed, UsageError, requireRoot } from '../util/errors.js';
import { ensurePrograms } from '../util/ensure-programs.js';
import { requirePrograms } from '../util/programs.js';
import { ClusterRunning, clusterUp, formatSummary, upPrograms } from '../cluster/up.js';
import { clusterDown } from '../cluster/down.js';
import { clusterPods, formatPodsTable } from '../cluster/pods.js';
import { verifyCluster, formatVerifyReport } from '../cluster/verify.js';
import { createProgress } from '../cluster/up-progress.js';
import { pidAlive } from '../util/pid.js';
import {
  NoClusterError, loadClusterState, resolvePrefix, resolveStateDir, saveClusterState,
} from '../cluster/state.js';

/**
 * The local cluster commands (CONTRACTS.md, Cluster): `up`, `down`, `pods`, `verify`.
 * A hidden `--prefix` (or OI_NETNS_PREFIX) renames the namespaces, so tests never touch a user's
 * cluster; the product's prefix is `oi`.
 */

function count(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${name}: "${v}" is not a whole number in ${min}..${max}`);
    return Number(v);
  };
}

async function loadState(stateDir: string) {
  try {
    return await loadClusterState(stateDir);
  } catch (err) {
    if (err instanceof NoClusterError) throw new OperationFailed(err.message);
    throw new OperationFailed((err as Error).message);
  }
}

const stateDirHelp = 'where the cluster is recorded (default /var/lib/overlay-ipsec, or OI_STATE_DIR)';
const prefixOption = () => new Option('--prefix <prefix>', 'namespace prefix (tests)').hideHelp();

interface UpFlags {
  config?: string[];
  masters: number;
  workers: number;
  podsPerNode: number;
  ipsec: boolean;
  stateDir?: string;
  detach?: boolean;
  prefix?: string;
  verifySeconds: number;
  tunnelTimeout?: number;
  keylog?: boolean;
  store: 'fs' | 'etcd';
  etcdMembers?: number;
}

export function registerCluster(program: Command): void {
  program
    .command('up')
    .description(
      'Start the seed\'s cluster locally in network namespaces: an underlay switch, 3 masters and 2 workers ' +
        '(192.168.7.21…, 192.168.7.11…), pods on every node, the operator and one agent per node; show progress, ' +
        'then a summary (nodes, tunnels, SAs, a pod-to-pod check, whether the underlay is encrypted). ' +
        'Stays up until Ctrl-C (then removes everything), or returns at once with --detach (`overlay-ipsec down` removes it). ' +
        'Needs root; first installs the Debian packages of the programs it runs (iproute2, procps, iputils-ping, tcpdump) ' +
        'when they are missing, saying so in one line (OI_NO_INSTALL=1: never install, stop with exit 2 naming them).',
    )
    .option('--config <files...>', 'install-config.yaml and/or manifests/cluster-network-03-config.yml (default: the seed\'s, shipped in examples/)')
    .option('--masters <n>', 'master nodes', count('--masters', 0, 50), 3)
    .option('--workers <n>', 'worker nodes (at most 200; the config must hold a node subnet per node)', count('--workers', 0, 200), 2)
    .option('--pods-per-node <n>', 'pods on each node', count('--pods-per-node', 0, 50), 2)
    .option('--no-ipsec', 'plain Geneve between nodes (ipsecConfig mode Disabled), as the seed\'s §5.2')
    .option('--state-dir <dir>', stateDirHelp)
    .option('--detach', 'return once the cluster is up, leaving it running')
    .option('--keylog', 'agents keep Wireshark key logs (0600, under each node\'s state directory) so `verify --keylog` can decrypt captures')
    .addOption(new Option('--store <kind>', 'the control plane: fs (the state directory, one machine) or etcd (members in namespaces oi-etcd<i> with TLS and ' +
      'per-node users; each node gets only its join file, in <state-dir>/hosts/<node>/)').choices(['fs', 'etcd']).default('fs'))
    .option('--etcd-members <n>', 'etcd members with --store etcd (default 3)', count('--etcd-members', 1, 7))
    .addOption(prefixOption())
    .addOption(new Option('--verify-seconds <n>', 'length of the closing underlay check').argParser(count('--verify-seconds', 0, 600)).default(2).hideHelp())
    .addOption(new Option('--tunnel-timeout <s>', 'how long to wait for every tunnel (default 90 s, 3 s per node above 30 nodes)').argParser(count('--tunnel-timeout', 1, 3600)).hideHelp())
    .action(async (o: UpFlags) => {
      if (o.masters + o.workers < 1) throw new UsageError('--masters and --workers: a cluster needs at least one node');
      if (o.etcdMembers !== undefined && o.store !== 'etcd') throw new UsageError('--etcd-members: only with --store etcd');
      // Missing packages first: as root they are installed (one line says which), otherwise the
      // one line names them and how to install them — before anything is built.
      await ensurePrograms(upPrograms(o), { what: 'overlay-ipsec up', say: (line) => process.stdout.write(`${line}\n`) });
      requireRoot('overlay-ipsec up');
      const stateDir = resolveStateDir(o.stateDir);
      const prefix = resolvePrefix(o.prefix);
      const progress = createProgress({ write: (s) => process.stdout.write(s), tty: process.stdout.isTTY === true });

      // Ctrl-C at any point removes whatever exists by then.
      let stopping: Promise<void> | undefined;
      const stop = (signal: string) => {
        stopping ??= (async () => {
          process.stdout.write(`\n${signal}: removing the cluster…\n`);
          const r = await clusterDown(stateDir, prefix);
          process.stdout.write(`removed ${r.namespaces.length} namespaces and every process in them\n`);
          process.exit(signal === 'SIGINT' ? 130 : 143);
        })();
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));

      let result;
      try {
        result = await clusterUp({
          ...(o.config ? { configFiles: o.config } : {}),
          masters: o.masters, workers: o.workers, podsPerNode: o.podsPerNode, noIpsec: !o.ipsec,
          stateDir, prefix, verifySeconds: o.verifySeconds, keylog: o.keylog === true,
          store: o.store, ...(o.etcdMembers !== undefined ? { etcdMembers: o.etcdMembers } : {}),
          ...(o.tunnelTimeout !== undefined ? { tunnelTimeoutS: o.tunnelTimeout } : {}),
        }, progress);
      } catch (err) {
        if (stopping) await stopping;
        progress.fail('failed');
        if (err instanceof ClusterRunning) throw err;
        if (process.env.OI_KEEP_ON_FAILURE !== '1') {
          progress.note('removing what was built (set OI_KEEP_ON_FAILURE=1 to keep it for inspection)');
          await clusterDown(stateDir, prefix);
        }
        throw err;
      }
      const { state, summary } = result;
      process.stdout.write(formatSummary(summary, stateDir));
      const healthy = summary.pod_checks.every((c) => c.ok) && (!summary.verify || summary.verify.exit_code === 0 || !summary.ipsec);
      if (o.detach) {
        state.supervisorPid = null;
        await saveClusterState(state);
        if (!healthy) throw new OperationFailed('the cluster is up but its checks failed (see above); `overlay-ipsec down` removes it');
        return;
      }
      process.stdout.write('\nrunning; Ctrl-C removes the cluster\n');
      // Stay up (this timer keeps the process alive) and say so when a daemon dies.
      const reported = new Set<number>();
      setInterval(() => {
        for (const d of state.daemons) {
          if (reported.has(d.pid) || pidAlive(d.pid)) continue;
          reported.add(d.pid);
          process.stdout.write(`${new Date().toISOString()} ${d.role}${d.node ? ` on ${d.node}` : ''} (pid ${d.pid}) exited; its log: ${d.log}\n`);
        }
      }, 2000);
      await new Promise<void>(() => {});
    });

  program
    .command('down')
    .description('Remove the local cluster: every namespace, process, TUN and socket `up` made, and its record. Safe to repeat.')
    .option('--state-dir <dir>', stateDirHelp)
    .addOption(prefixOption())
    .action(async (o: { stateDir?: string; prefix?: string }) => {
      requireRoot('overlay-ipsec down');
      requirePrograms(['ip'], 'overlay-ipsec down');
      const r = await clusterDown(resolveStateDir(o.stateDir), resolvePrefix(o.prefix));
      process.stdout.write(r.namespaces.length || r.hadState
        ? `removed ${r.namespaces.length} namespaces (prefix ${r.prefix}) and every process in them${r.strays ? `, ended ${r.strays} stray daemons` : ''}\n`
        : `nothing to remove (no namespaces with prefix ${r.prefix}, no record)\n`);
    });

  program
    .command('pods')
    .description('List the local cluster\'s pods: name, node, address, network namespace.')
    .option('--state-dir <dir>', stateDirHelp)
    .option('--json', '[{"name","node","ip","netns"}]')
    .action(async (o: { stateDir?: string; json?: boolean }) => {
      const pods = clusterPods(await loadState(resolveStateDir(o.stateDir)));
      process.stdout.write(o.json ? JSON.stringify(pods) + '\n' : formatPodsTable(pods));
    });

  program
    .command('verify')
    .description(
      'Capture the underlay while pods on different nodes talk, and classify every packet between node addresses: ' +
        'ESP, IKE, cleartext Geneve, other. Exit 1 when cleartext Geneve crossed (or no ESP was seen).',
    )
    .option('--seconds <n>', 'capture length', count('--seconds', 1, 3600), 5)
    .option('--destinations <n>', 'each pod talks to pods on the next N nodes only (default: every other node; on large clusters every pair is N² processes of ping)', count('--destinations', 1, 10_000))
    .option('--pcap <file>', 'keep the capture in FILE')
    .option('--keylog <dir>', 'gather the agents\' key logs into DIR (WIRESHARK_CONFIG_DIR=DIR tshark -r FILE decrypts)')
    .option('--json', '{"packets":{"esp","ike","geneve_cleartext","other"},"encrypted",…}')
    .option('--state-dir <dir>', stateDirHelp)
    .action(async (o: { seconds: number; destinations?: number; pcap?: string; keylog?: string; json?: boolean; stateDir?: string }) => {
      requireRoot('overlay-ipsec verify');
      const state = await loadState(resolveStateDir(o.stateDir));
      const report = await verifyCluster(state, {
        seconds: o.seconds, ...(o.destinations ? { destinations: o.destinations } : {}), ...(o.pcap ? { pcap: o.pcap } : {}), ...(o.keylog ? { keylog: o.keylog } : {}),
      });
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatVerifyReport(report));
      if (report.exit_code !== 0) process.exitCode = report.exit_code;
    });
}
