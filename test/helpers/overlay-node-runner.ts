#!/usr/bin/env node
/**
 * For tests: a node's plain overlay as a process of its own (`node overlay-node-runner.js --config
 * FILE`), started inside the node's network namespace, without the agent. It prints JSON lines on stdout:
 *   {"event":"ready","node":…,"tun":…}          once the TUN is up and routed and 6081 is bound
 *   {"event":"status",…OverlayStatus}          on SIGUSR1
 *   {"event":"reloaded","peers":N} / {"event":"reload_failed","error":…}   on SIGHUP (re-reads FILE)
 * and exits 0 on SIGTERM/SIGINT after closing its TUN and sockets. A bad config exits 2.
 */
import { ExitError } from '../../src/util/errors.js';
import { loadNodeOverlayConfig } from '../../src/overlay/node-config.js';
import { startNodeOverlay } from '../../src/overlay/node-service.js';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--config');
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: node-runner --config FILE\n');
    process.exit(2);
  }
  const config = await loadNodeOverlayConfig(file);
  const running = await startNodeOverlay(config);
  const { engine, tun } = running;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    emit({ event: 'stopped', node: config.local.node });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('SIGUSR1', () => emit({
    event: 'status',
    ...engine.status(),
    tun_write_failures: running.overlay.tunWriteFailures,
    underlay_counters: running.underlay.counters(),
  }));
  process.on('SIGHUP', () => {
    loadNodeOverlayConfig(file)
      .then((c) => {
        engine.setPeers(c.peers);
        emit({ event: 'reloaded', peers: engine.peers.size });
      })
      .catch((err: Error) => emit({ event: 'reload_failed', error: err.message }));
  });
  emit({ event: 'ready', node: config.local.node, tun: tun.name, pid: process.pid, peers: engine.peers.size });
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`node-runner: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ExitError ? err.exitCode : 1);
});
