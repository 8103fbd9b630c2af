import { benchLab } from '../lib/lab.js';

/**
 * The two "hosts" every tunnel row uses, so our daemon and strongSwan run on identical ground:
 * namespaces a and b joined by a veth (198.18.0.1/24 ↔ 198.18.0.2/24, MTU 1500), IPv6 off, and a
 * "pod" address on each loopback — 10.1.0.1 (a, in 10.1.0.0/24) and 10.2.0.1 (b, in
 * 10.2.0.0/24) — so that traffic between them is subnet-to-subnet tunnel traffic. The veth keeps
 * the kernel's defaults for every row alike: UDP_SEGMENT super-datagrams (ours and wireguard-go's)
 * cross it whole and reach a UDP_GRO socket whole, nothing is segmented in between. (The cluster's
 * node links and the tests' veths segment like a NIC instead, for their captures.)
 */
export const HOST_A = { underlay: '198.18.0.1', pod: '10.1.0.1', podNet: '10.1.0.0/24' } as const;
export const HOST_B = { underlay: '198.18.0.2', pod: '10.2.0.1', podNet: '10.2.0.0/24' } as const;

export function twoHosts(setup: string): { lab: ReturnType<typeof benchLab>; a: string; b: string } {
  const lab = benchLab(setup);
  try {
    const a = lab.addNs('a');
    const b = lab.addNs('b');
    for (const ns of [a, b]) {
      lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
      lab.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
      // Loose reverse-path filtering: decrypted packets arrive on a TUN, not the underlay veth.
      lab.exec(ns, ['sh', '-c', 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 2 > $f; done']);
    }
    lab.veth(a, 'va', `${HOST_A.underlay}/24`, b, 'vb', `${HOST_B.underlay}/24`, { kernelDefaults: true });
    lab.exec(a, ['ip', 'addr', 'add', `${HOST_A.pod}/32`, 'dev', 'lo']);
    lab.exec(b, ['ip', 'addr', 'add', `${HOST_B.pod}/32`, 'dev', 'lo']);
    return { lab, a, b };
  } catch (e) {
    void lab.dispose();
    throw e;
  }
}
