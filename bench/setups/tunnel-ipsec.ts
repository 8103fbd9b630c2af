import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../test/helpers/netns.js';
import { cliPath } from '../../test/helpers/paths.js';
import { ownedTempDir } from '../../test/helpers/harness-util.js';
import { onInterrupt } from '../lib/lab.js';
import { controlRequest } from '../../src/host/control-client.js';
import type { Setup } from '../lib/setup.js';
import { TestPki, type CertFiles } from '../../test/helpers/certs.js';
import { BENCH_ESP_PROPOSAL, BENCH_IKE_PROPOSAL } from './strongswan.js';
import { HOST_A, HOST_B, twoHosts } from './two-hosts.js';

/**
 * One side's ipsecd YAML: an IKE connection (RSA-2048 certificates, the seed's
 * aes256gcm16-prfsha256-modp2048 — what the strongSwan row uses), one tunnel-mode child between
 * the pod subnets with AES-256-GCM, TUN MTU 1400 (strongSwan's). Host a initiates.
 */
function tunnelConfig(self: 'a' | 'b', certs: Record<'a' | 'b', CertFiles>, ca: CertFiles): string {
  const [me, peer, other] = self === 'a' ? [HOST_A, HOST_B, 'b' as const] : [HOST_B, HOST_A, 'a' as const];
  return [
    'connections:',
    '  bench:',
    `    local_addrs: [${me.underlay}]`,
    `    remote_addrs: [${peer.underlay}]`,
    `    local: { auth: pubkey, cert: ${certs[self].certPath}, key: ${certs[self].keyPath}, id: ${self}.bench }`,
    `    remote: { auth: pubkey, id: ${other}.bench }`,
    `    ca: [${ca.certPath}]`,
    `    proposals: [${BENCH_IKE_PROPOSAL}]`,
    '    children:',
    '      pods:',
    '        mode: tunnel',
    `        local_ts: [${me.podNet}]`,
    `        remote_ts: [${peer.podNet}]`,
    `        esp_proposals: [${BENCH_ESP_PROPOSAL}]`,
    `        start_action: ${self === 'a' ? 'start' : 'none'}`,
    'tun: { name: oib0, mtu: 1400 }',
    '',
  ].join('\n');
}

/** Our daemon to our daemon: `overlay-ipsec ipsecd` in each host, ESP-in-UDP 4500 between them. */
export async function startTunnelIpsec(): Promise<Setup> {
  const { lab, a, b } = twoHosts('tun');
  const dir = ownedTempDir('oib-tun');
  const pki = new TestPki('oib-tun-pki');
  const teardown = async (): Promise<void> => {
    unregister();
    await lab.dispose();
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  };
  const unregister = onInterrupt(teardown);
  try {
    const ca = pki.createCa('ca', { dn: 'C=XX, O=Bench, CN=Bench CA', keyType: 'rsa' });
    const certs = {
      a: pki.issue(ca, 'a', { dn: 'C=XX, O=Bench, CN=a.bench', keyType: 'rsa', sans: ['a.bench'] }),
      b: pki.issue(ca, 'b', { dn: 'C=XX, O=Bench, CN=b.bench', keyType: 'rsa', sans: ['b.bench'] }),
    };
    const controls: string[] = [];
    const pids: number[] = [];
    for (const [self, ns] of [['a', a], ['b', b]] as const) {
      const config = path.join(dir, `${self}.yaml`);
      const control = path.join(dir, `${self}.sock`);
      const log = path.join(dir, `${self}.log`);
      writeFileSync(config, tunnelConfig(self, certs, ca));
      controls.push(control);
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
    // a started first with start_action start; b answers once it is up (a retransmits meanwhile).
    await waitFor(async () => {
      for (const c of controls) {
        const r = await controlRequest(c, { cmd: 'status' }, 2000);
        const st = (r.ok ? r.status : undefined) as { ike_sas?: Array<{ state: string; children: unknown[] }> } | undefined;
        if (!r.ok || !st?.ike_sas?.some((x) => x.state === 'ESTABLISHED' && x.children.length > 0)) return false;
      }
      return true;
    }, 'IKE SA and CHILD SA between the two ipsecd', 30_000, 200);
    return {
      row: 'tunnel_ipsec', describe: 'overlay-ipsec ipsecd ↔ ipsecd, IKEv2 (RSA-2048, MODP2048), tunnel mode, AES-256-GCM, ESP-in-UDP 4500',
      clientNs: a, serverNs: b, clientAddr: HOST_A.pod, serverAddr: HOST_B.pod, dataPathPids: pids,
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
