import type { Command } from 'commander';
import { validateFiles, formatDiagnostic, type ValidateOptions } from '../config/index.js';
import { throwConfigErrors } from './config-errors.js';
import { Operator } from '../operator/index.js';
import { clockFromEnv } from '../pki/time.js';
import { createLogger } from '../util/log.js';
import { OperationFailed, UsageError } from '../util/errors.js';
import { CorruptDocumentError, StoreUnavailableError } from '../store/index.js';
import { claimLeadership } from '../operator/leadership.js';
import { interfaceMtu, parseMtu } from './underlay-mtu.js';
import { addStoreOptions, openStoreForCli, storeSpecFromFlags, type StoreFlags } from './store-options.js';

interface OperatorFlags extends StoreFlags {
  stateDir: string;
  config?: string[];
  underlayMtu?: number;
  underlayInterface?: string;
  underlayCidr?: string[];
  keyAlgorithm: string;
  tickMs: string;
  log?: string;
}

export function registerOperator(program: Command): void {
  addStoreOptions(program
    .command('operator')
    .description(
      'Run the control plane in the foreground: validates and stores the cluster network config, creates the CA ' +
        '(10 years) on first start, signs node CSRs (5 years) after checking CN/SAN = the node\'s system-id, ' +
        'allocates one /hostPrefix per node, and rolls the CA over at 9 years. ' +
        'OI_CLOCK_OFFSET (e.g. 4.5y) shifts its clock, for tests.',
    )
    .requiredOption('--state-dir <dir>', 'state directory (with the directory store: shared with the node agents; the CA key is kept here)')
    .option('--config <files...>', 'install-config.yaml and/or manifests/cluster-network-03-config.yml')
    .option('--underlay-mtu <n>', 'the hosts\' underlay MTU (a pod MTU that does not fit is an error)', parseMtu)
    .option('--underlay-interface <name>', 'read the underlay MTU from this interface')
    .option('--underlay-cidr <cidr...>', 'underlay networks that pods and services must not overlap')
    .option('--key-algorithm <alg>', 'CA key: rsa (2048, as OpenShift) or ecdsa (P-256)', 'rsa')
    .option('--tick-ms <ms>', 'how often time-driven work (rollover) is checked', '5000')
    .option('--log <file>', 'write the JSON log here instead of stderr'))
    .action(async (o: OperatorFlags) => {
      // Signal handlers first: a SIGTERM during start-up still ends cleanly.
      let onStop: (sig: string) => void = () => {};
      let stopSignal: string | undefined;
      const stopRequested = new Promise<string>((resolve) => {
        onStop = (sig: string): void => {
          stopSignal = sig;
          resolve(sig);
        };
      });
      process.once('SIGINT', () => onStop('SIGINT'));
      process.once('SIGTERM', () => onStop('SIGTERM'));
      if (o.keyAlgorithm !== 'rsa' && o.keyAlgorithm !== 'ecdsa') throw new UsageError(`--key-algorithm: "${o.keyAlgorithm}" is not rsa or ecdsa`);
      const tickMs = Number(o.tickMs);
      if (!Number.isFinite(tickMs) || tickMs < 10) throw new UsageError(`--tick-ms: "${o.tickMs}" is not a number of milliseconds ≥ 10`);
      let now;
      try {
        now = clockFromEnv();
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const log = createLogger({ name: 'operator', ...(o.log ? { file: o.log } : {}) });
      let network;
      if (o.config?.length) {
        const vo: ValidateOptions = {};
        if (o.underlayMtu !== undefined) vo.underlayMtu = o.underlayMtu;
        else if (o.underlayInterface) vo.underlayMtu = await interfaceMtu(o.underlayInterface);
        if (o.underlayCidr) vo.underlayCidrs = o.underlayCidr;
        const r = await validateFiles(o.config, vo);
        for (const w of r.warnings) log.warn({ file: w.file, key: w.key }, formatDiagnostic(w));
        if (r.errors.length) throwConfigErrors(r.errors);
        network = r.network!;
      }
      const store = await openStoreForCli(await storeSpecFromFlags(o, o.stateDir));
      let op: Operator | undefined;
      const claim = await claimLeadership(store, o.stateDir, log, { onChange: (leading) => leading && op?.kick() });
      if ('runningPid' in claim) {
        await store.close();
        throw new UsageError(`another operator (pid ${claim.runningPid}) is running on ${o.stateDir}`);
      }
      const shutdown = async (): Promise<void> => {
        await op?.stop();
        await claim.release();
        await store.close();
      };
      // Operators sharing an etcd store wait here until they lead; one on a directory store leads at once.
      if ((await Promise.race([claim.waitLeader().then(() => 'leader' as const), stopRequested])) !== 'leader') {
        log.info({ signal: stopSignal }, 'shutting down before leading');
        await shutdown();
        return;
      }
      op = new Operator({ store, stateDir: o.stateDir, log, now, keyAlgorithm: o.keyAlgorithm, tickMs, leading: claim.leading, ...(network ? { network } : {}) });
      const running = op;
      void stopRequested.then(() => running.stop());
      try {
        await running.start();
      } catch (err) {
        await shutdown();
        if (err instanceof Error && err.message.startsWith('no network config')) throw new UsageError(err.message);
        if (err instanceof CorruptDocumentError || err instanceof StoreUnavailableError) throw new OperationFailed(err.message);
        throw err;
      }
      if (!stopSignal) log.info({ stateDir: o.stateDir, pid: process.pid }, 'operator running');
      log.info({ signal: await stopRequested }, 'shutting down');
      await shutdown();
    });
}
