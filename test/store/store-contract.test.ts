import { after, before } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore } from '../../src/store/index.js';
import { openStore } from '../../src/store/open-store.js';
import { EtcdCluster } from '../helpers/etcd.js';
import { storeContract, type Backend } from './contract.js';
import { nodeRemovalSuite } from './node-removal.js';

// The one Store contract (contract.ts), and the removal of a node (node-removal.ts), on both stores: the directory store, and etcd — a real
// one-member etcd started for this file, each test under a prefix of its own.

const directory: Backend = {
  name: 'directory store',
  async fresh() {
    const dir = await mkdtemp(path.join(tmpdir(), 'oi-store-'));
    const store = await FsStore.open(dir, { rescanMs: 100 });
    return { store, spec: { kind: 'fs', dir }, done: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
  },
};

let etcd: EtcdCluster;
let n = 0;
before(async () => {
  etcd = await EtcdCluster.start({ members: 1 });
});
after(async () => {
  await etcd.close();
});

const onEtcd: Backend = {
  name: 'etcd store',
  async fresh() {
    const spec = etcd.storeSpec({ prefix: `/overlay-ipsec/contract-${process.pid}-${n++}` });
    const store = await openStore(spec);
    return { store, spec, done: () => store.close() };
  },
};

for (const b of [directory, onEtcd]) {
  storeContract(b);
  nodeRemovalSuite(b);
}
