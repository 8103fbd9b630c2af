#!/usr/bin/env node
// An operator on an etcd store, started the way `overlay-ipsec operator` starts one (leadership
// claimed, then the Operator started with it), for the high-availability test until the command
// takes --store:  etcd-operator ENDPOINTS PREFIX STATE_DIR CONFIG...   (JSON log on stderr)
import { openStore } from '../../src/store/open-store.js';
import { claimLeadership } from '../../src/operator/leadership.js';
import { Operator } from '../../src/operator/index.js';
import { validateFiles } from '../../src/config/index.js';
import { createLogger } from '../../src/util/log.js';

const [endpoints, prefix, stateDir, ...configs] = process.argv.slice(2);
const log = createLogger({ name: 'operator' });
const network = (await validateFiles(configs, { underlayMtu: 1546 })).network!;
const store = await openStore({ kind: 'etcd', endpoints: endpoints!.split(','), prefix: prefix! });
let op: Operator | undefined;
const claim = await claimLeadership(store, stateDir!, log, { onChange: (leading) => leading && op?.kick() });
if ('runningPid' in claim) throw new Error('not an etcd store');
process.once('SIGTERM', () => {
  void (async () => {
    await op?.stop();
    await claim.release();
    await store.close();
    process.exit(0);
  })();
});
await claim.waitLeader();
op = new Operator({ store, stateDir: stateDir!, log, network, tickMs: 200, leading: claim.leading });
await op.start();
