import { NetnsLab } from '../../test/helpers/netns.js';

/**
 * Every namespace the benchmark makes carries the prefix `oib` (`oib-<setup>-<name>`), so a crashed
 * earlier run's leftovers are found and removed. Labs register here; Ctrl-C (SIGINT) and SIGTERM
 * run every registered cleanup before the process exits.
 */
export const BENCH_PREFIX = 'oib';

type Cleanup = () => Promise<void>;
const cleanups = new Set<Cleanup>();
let installed = false;

/** Registers a cleanup to run on Ctrl-C; returns a function that unregisters it. */
export function onInterrupt(fn: Cleanup): () => void {
  if (!installed) {
    installed = true;
    const handler = (sig: NodeJS.Signals): void => {
      process.stderr.write(`\nbench: ${sig}, removing namespaces and processes…\n`);
      void Promise.allSettled([...cleanups].map((f) => f())).then(() => process.exit(130));
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** A NetnsLab for one setup (`oib-<setup>`), cleaned up on Ctrl-C as well as by its owner. */
export function benchLab(setup: string): NetnsLab & { dispose: () => Promise<void> } {
  const lab = new NetnsLab(`${BENCH_PREFIX}-${setup}`);
  const unregister = onInterrupt(() => lab.cleanup());
  return Object.assign(lab, {
    async dispose(): Promise<void> {
      unregister();
      await lab.cleanup();
    },
  });
}
