import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../test/helpers/netns.js';
import { cliPath } from '../../test/helpers/paths.js';
import { ownedTempDir } from '../../test/helpers/harness-util.js';
import { onInterrupt } from '../lib/lab.js';
import { controlRequest } from '../../src/ipsecd/control-client.js';
import type { Setup } from '../lib/setup.js';
import { HOST_A, HOST_B, twoHosts } from './two-hosts.js';

/**
 * Keys for the two directions of one tunnel. Today they are static (`manual:` connections); when
 * the daemon negotiates with IKE, only this function and tunnelConfig() change — the row keeps
 * measuring the same data path between the same two hosts.
 */
function tunnelKeys(): { spiAB: number; spiBA: number; keyAB: Buffer; keyBA: Buffer } {
  return { spiAB: 0x0000b001, spiBA: 0x0000b002, keyAB: randomBytes(36), keyBA: randomBytes(36) };
}

/** One side's ipsecd YAML: tunnel mode, AES-256-GCM, pod subnet ↔ pod subnet, TUN MTU 1400 (strongSwan's). */
function tunnelConfig(self: 'a' | 'b', k: ReturnType<typeof tunnelKeys>): string {
  const [me, peer] = self === 'a' ? [HOST_A, HOST_B] : [HOST_B, HOST_A];
  const [spiOut, spiIn, keyOut, keyIn] = self === 'a' ? [k.spiAB, k.spiBA, k.keyAB, k.keyBA] : [k.spiBA, k.spiAB, k.keyBA, k.keyAB];
  const spi = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
  return [
    'connections:',
    '  bench:',
    `    local_addrs: [${me.underlay}]`,
    `    remote_addrs: [${peer.underlay}]`,
    '    manual:',
    '      mode: tunnel',
    '      esp_proposals: [aes256gcm16]',
    `      local_ts: ["${me.podNet}"]`,
    `      remote_ts: ["${peer.podNet}"]`,
    `      spi_out: ${spi(spiOut)}`,
    `      spi_in: ${spi(spiIn)}`,
    `      key_out: "0x${keyOut.toString('hex')}"`,
    `      key_in: "0x${keyIn.toString('hex')}"`,
    'tun: { name: oib0, mtu: 1400 }',
    '',
  ].join('\n');
}

/** Our daemon to our daemon: `overlay-ipsec ipsecd` in each host, ESP-in-UDP 4500 between them. */
export async function startTunnelIpsec(): Promise<Setup> {
  const { lab, a, b } = twoHosts('tun');
  const dir = ownedTempDir('oib-tun');
  const teardown = async (): Promise<void> => {
    unregister();
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  try {
    const keys = tunnelKeys();
    const pids: number[] = [];
    for (const [self, ns] of [['a', a], ['b', b]] as const) {
      const config = path.join(dir, `${self}.yaml`);
      const control = path.join(dir, `${self}.sock`);
      const log = path.join(dir, `${self}.log`);
      writeFileSync(config, tunnelConfig(self, keys));
      const proc = lab.spawn(ns, [process.execPath, cliPath, 'ipsecd', '--config', config, '--control', control, '--log', log, '--log-level', 'warn']);
      let err = '';
      proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
      await waitFor(async () => {
        if (proc.exitCode !== null) throw new Error(`ipsecd in ${ns} exited (${proc.exitCode}): ${err}${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
        if (!existsSync(control)) return false;
        try {
          return (await controlRequest(control, { cmd: 'status' }, 1000)).ok;
        } catch {
          return false;
        }
      }, `ipsecd in ${ns}`, 20_000);
      pids.push(proc.pid!);
    }
    return {
      row: 'tunnel_ipsec', describe: 'overlay-ipsec ipsecd ↔ ipsecd, tunnel mode, AES-256-GCM, ESP-in-UDP 4500 (static keys)',
      clientNs: a, serverNs: b, clientAddr: HOST_A.pod, serverAddr: HOST_B.pod, dataPathPids: pids,
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
