import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { storeDir, defaultStateDir, CorruptDocumentError } from '../store/index.js';
import { openStore, parseStoreOption, StoreSpecError, type StoreSpec } from '../store/open-store.js';
import { etcdHandleOf } from '../store/etcd-handle.js';
import { readLiveness } from '../store/etcd-liveness.js';
import { agentFileLiveness, formatNodes, leaseLiveness, nodeRows } from '../cluster/nodes.js';
import { OperationFailed, UsageError } from '../util/errors.js';

export function registerNodes(program: Command): void {
  program
    .command('nodes')
    .description(
      'The cluster\'s nodes as the control plane knows them: registration, underlay address, subnet, certificate, and whether each ' +
        'node holds the control plane now (connected) or lost it (unreachable: its tunnels keep running on what it last read).',
    )
    .option('--state-dir <dir>', 'state directory (default $OI_STATE_DIR or /var/lib/overlay-ipsec)')
    .option('--store <spec>', 'the cluster\'s store instead: etcd://HOST:PORT[,HOST:PORT…] (liveness from the agents\' leases) or dir:PATH')
    .option('--json', '[{"node","system_id","underlay_ip","registered_at","subnet","certificate","csr","control_plane","since"}]')
    .action(async (o: { stateDir?: string; store?: string; json?: boolean }) => {
      const stateDir = o.stateDir ?? defaultStateDir();
      let spec: StoreSpec;
      try {
        spec = o.store ? parseStoreOption(o.store) : { kind: 'fs', dir: storeDir(stateDir) };
      } catch (err) {
        if (err instanceof StoreSpecError) throw new UsageError(err.message);
        throw err;
      }
      if (spec.kind === 'fs' && !existsSync(spec.dir)) throw new UsageError(`--state-dir ${stateDir}: no store there (${spec.dir} missing); start \`overlay-ipsec operator --state-dir ${stateDir}\` first`);
      const store = await openStore(spec);
      try {
        const etcd = etcdHandleOf(store);
        const liveness = etcd
          ? leaseLiveness(await readLiveness(etcd.client, etcd.prefix, (key, problem) => process.stderr.write(`overlay-ipsec: skipped ${key}: ${problem}\n`)))
          : agentFileLiveness(stateDir);
        const rows = await nodeRows(store, liveness);
        process.stdout.write(o.json ? JSON.stringify(rows, null, 2) + '\n' : formatNodes(rows));
      } catch (err) {
        if (err instanceof CorruptDocumentError) throw new OperationFailed(err.message);
        throw err;
      } finally {
        await store.close();
      }
    });
}
