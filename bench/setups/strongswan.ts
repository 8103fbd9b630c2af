import { TestPki } from '../../test/helpers/certs.js';
import { StrongSwan, type SwanConnection } from '../../test/helpers/strongswan.js';
import { quietCharon } from '../lib/charon-quiet.js';
import { onInterrupt } from '../lib/lab.js';
import type { Setup } from '../lib/setup.js';
import { HOST_A, HOST_B, twoHosts } from './two-hosts.js';

/** The IKE and ESP proposals both implementations are measured with: the seed's, AES-256-GCM + MODP2048. */
export const BENCH_IKE_PROPOSAL = 'aes256gcm16-prfsha256-modp2048';
export const BENCH_ESP_PROPOSAL = 'aes256gcm16';

/**
 * strongSwan 5.9.8 charon-systemd with kernel-libipsec (its userspace ESP) in both hosts:
 * certificates (RSA-2048, as OpenShift's), tunnel mode between the pod subnets, AES-256-GCM with
 * MODP2048, ESP-in-UDP 4500 (libipsec always encapsulates). Host a initiates.
 */
export async function startStrongswanLibipsec(): Promise<Setup> {
  const { lab, a, b } = twoHosts('sw');
  const pki = new TestPki('oib-sw-pki');
  const swans: StrongSwan[] = [];
  const teardown = async (): Promise<void> => {
    unregister();
    for (const s of swans) await s.stop();
    await lab.dispose();
    pki.cleanup();
  };
  const unregister = onInterrupt(teardown);
  try {
    const ca = pki.createCa('ca', { dn: 'C=XX, O=Bench, CN=Bench CA', keyType: 'rsa', tool: 'openssl' });
    const certs = {
      a: pki.issue(ca, 'a', { dn: 'C=XX, O=Bench, CN=a.bench', keyType: 'rsa', tool: 'openssl', sans: ['a.bench'] }),
      b: pki.issue(ca, 'b', { dn: 'C=XX, O=Bench, CN=b.bench', keyType: 'rsa', tool: 'openssl', sans: ['b.bench'] }),
    };
    const conn = (me: 'a' | 'b'): SwanConnection => {
      const [mine, peer, other] = me === 'a' ? [HOST_A, HOST_B, 'b'] : [HOST_B, HOST_A, 'a'];
      return {
        name: 'bench',
        localAddrs: [mine.underlay],
        remoteAddrs: [peer.underlay],
        proposals: [BENCH_IKE_PROPOSAL],
        local: { auth: 'pubkey', id: `${me}.bench`, certPem: certs[me].certPem, keyPem: certs[me].keyPem },
        remote: { auth: 'pubkey', id: `${other}.bench` },
        caPems: [ca.certPem],
        children: [{ name: 'pods', mode: 'tunnel', espProposals: [BENCH_ESP_PROPOSAL], localTs: [mine.podNet], remoteTs: [peer.podNet] }],
      };
    };
    swans.push(await StrongSwan.start({ lab, ns: a, name: 'oib-a', connections: [conn('a')] }));
    swans.push(await StrongSwan.start({ lab, ns: b, name: 'oib-b', connections: [conn('b')] }));
    for (const s of swans) await quietCharon(s);
    const init = await swans[0]!.initiate('pods', { ike: 'bench', timeoutS: 20 });
    if (!init.ok) throw new Error(`strongSwan: initiate failed:\n${init.stdout}${init.stderr}`);
    return {
      row: 'strongswan_libipsec', describe: 'strongSwan 5.9.8 charon + kernel-libipsec ↔ same, tunnel mode, AES-256-GCM/MODP2048, ESP-in-UDP 4500',
      clientNs: a, serverNs: b, clientAddr: HOST_A.pod, serverAddr: HOST_B.pod, dataPathPids: swans.map((s) => s.pid),
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
