import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { FsStore, storeDir, defaultStateDir, CorruptDocumentError } from '../store/index.js';
import { agentFileLiveness, formatNodes, nodeRows } from '../cluster/nodes.js';
import { OperationFailed, UsageError } from '../util/errors.js';

export function registerNodes(program: Command): void {
  program
    .command('nodes')
    .description(
      'The cluster\'s nodes as the control plane knows them: registration, underlay address, subnet, certificate, and whether each ' +
        'node holds the control plane now (connected) or lost it (unreachable: its tunnels keep running on what it last read).',
    )
    .option('--state-dir <dir>', 'state directory (default $OI_STATE_DIR or /var/lib/overlay-ipsec)')
    .option('--json', '[{"node","system_id","underlay_ip","registered_at","subnet","certificate","csr","control_plane","since"}]')
    .action(async (o: { stateDir?: string; json?: boolean }) => {
      const stateDir = o.stateDir ?? defaultStateDir();
      if (!existsSync(storeDir(stateDir))) throw new UsageError(`--state-dir ${stateDir}: no store there (${storeDir(stateDir)} missing); start \`overlay-ipsec operator --state-dir ${stateDir}\` first`);
      const store = await FsStore.open(storeDir(stateDir));
      try {
        const rows = await nodeRows(store, agentFileLiveness(stateDir));
        process.stdout.write(o.json ? JSON.stringify(rows, null, 2) + '\n' : formatNodes(rows));
      } catch (err) {
        if (err instanceof CorruptDocumentError) throw new OperationFailed(err.message);
        throw err;
      } finally {
        await store.close();
      }
    });
}
