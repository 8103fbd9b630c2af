import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { FsStore, storeDir } from '../../src/store/index.js';
import { Operator } from '../../src/operator/index.js';
import { validateFiles } from '../../src/config/index.js';
import { silentLogger } from '../../src/util/log.js';
import type { KeyAlgorithm } from '../../src/pki/keys.js';
import { repoRoot } from '../helpers/paths.js';

export const SEED_CONFIG = [path.join(repoRoot, 'examples', 'install-config.yaml'), path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml')];

export interface Harness {
  stateDir: string;
  store: FsStore;
  operator: Operator;
  done(): Promise<void>;
}

/** An operator running in-process on a fresh state directory, with the seed's network config. */
export async function startOperator(opts: { now?: () => number; keyAlgorithm?: KeyAlgorithm; tickMs?: number } = {}): Promise<Harness> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'oi-op-'));
  const store = await FsStore.open(storeDir(stateDir), { rescanMs: 100 });
  const network = (await validateFiles(SEED_CONFIG, { underlayMtu: 1546 })).network!;
  const operator = new Operator({
    store,
    stateDir,
    log: silentLogger(),
    network,
    tickMs: opts.tickMs ?? 1_000_000,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.keyAlgorithm ? { keyAlgorithm: opts.keyAlgorithm } : {}),
  });
  await operator.start();
  return {
    stateDir,
    store,
    operator,
    done: async () => {
      await operator.stop();
      await store.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A CSR made the way OpenShift's ovnkube does it, with openssl. Returns the CSR PEM. */
export function opensslCsr(dir: string, cn: string, san = `DNS:${cn}`, bits = 2048): string {
  const key = path.join(dir, `${cn}-${bits}.key`);
  const out = path.join(dir, `${cn}-${bits}.csr`);
  execFileSync('openssl', ['req', '-new', '-newkey', `rsa:${bits}`, '-nodes', '-keyout', key, '-subj', `/C=US/O=ovnkubernetes/OU=kind/CN=${cn}`, '-addext', `subjectAltName = ${san}`, '-out', out], { stdio: 'pipe' });
  return execFileSync('cat', [out], { encoding: 'utf8' });
}

export function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
