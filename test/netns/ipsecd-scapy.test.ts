import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IpsecdLab, manualConn, newKeys, A, B, PY_ESP, RECEIVER, type Daemon, type Keys } from './ipsecd-lab.js';
import { runScapy } from '../helpers/scapy.js';
import { waitFor } from '../helpers/netns.js';

// Two independent implementations agree: scapy (python3-scapy) seals ESP with the keys of A's
// config and A's daemon opens it and delivers the inner packets; A's daemon seals the replies
// and scapy opens them (ICV checked). Namespace B runs no daemon, only scapy.

const N = 5;
let L: IpsecdLab;
let da: Daemon;
let k: Keys;
let received: { from: string; data: string }[] = [];
let result: { opened: { src: string; dst: string; icmp_type: number | null; icmp_id: number | null; seq: number }[]; sent: number };

const SCRIPT = PY_ESP + `
from scapy.all import AsyncSniffer
def main(inp):
    to_a = sa(inp['spi_to_a'], inp['key_to_a'], inp['b'], inp['a'])
    from_a = sa(inp['spi_from_a'], inp['key_from_a'], inp['a'], inp['b'])
    sock = udp4500(inp['b'])
    pkts = []
    sn = AsyncSniffer(iface='vb', filter='udp and src host ' + inp['a'] + ' and src port 4500', store=False, prn=pkts.append)
    sn.start()
    time.sleep(0.5)
    seq = 1
    for i in range(inp['n']):
        sock.sendto(sealed_esp(to_a, IP(src='10.2.0.1', dst='10.1.0.1')/UDP(sport=5555, dport=7777)/Raw(b'scapy udp %d' % i), seq), (inp['a'], 4500))
        seq += 1
    for i in range(inp['n']):
        sock.sendto(sealed_esp(to_a, IP(src='10.2.0.1', dst='10.1.0.1')/ICMP(id=0x4242, seq=i)/Raw(b'p' * 48), seq), (inp['a'], 4500))
        seq += 1
    deadline = time.time() + 10
    while time.time() < deadline and len(pkts) < inp['n']:
        time.sleep(0.1)
    time.sleep(0.3)
    sn.stop()
    opened = []
    for p in pkts:
        d = open_esp(from_a, p[IP].src, p[IP].dst, bytes(p[UDP].payload))
        opened.append({'src': d[IP].src, 'dst': d[IP].dst, 'seq': ESP(bytes(p[UDP].payload)).seq,
                       'icmp_type': d[ICMP].type if ICMP in d else None, 'icmp_id': d[ICMP].id if ICMP in d else None})
    return {'opened': opened, 'sent': seq - 1}
`;

before(async () => {
  L = new IpsecdLab('oit-esp');
  k = newKeys();
  da = await L.startDaemon('a', L.writeConfig('a', manualConn('site', 'a', 'tunnel', k, [A.podNet], [B.podNet])));
  const rcv = L.lab.spawn(L.a, [process.execPath, '--input-type=module', '-e', RECEIVER]);
  let out = '';
  rcv.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor(() => out.includes('ready'), 'receiver on 10.1.0.1:7777');
  result = runScapy(SCRIPT, {
    a: A.underlay, b: B.underlay, n: N,
    spi_to_a: k.spiBA, key_to_a: k.keyBA.toString('hex'),
    spi_from_a: k.spiAB, key_from_a: k.keyAB.toString('hex'),
  }, { netns: L.b, timeoutMs: 60_000 });
  await waitFor(() => out.split('\n').filter((l) => l.startsWith('{')).length >= N, 'datagrams at the receiver', 5000).catch(() => undefined);
  received = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { from: string; data: string });
});

after(async () => {
  await L?.cleanup();
});

test('ESP sealed by scapy is accepted by our daemon and reaches the application', async () => {
  assert.deepEqual(received.map((r) => r.data), Array.from({ length: N }, (_, i) => `scapy udp ${i}`));
  assert.ok(received.every((r) => r.from === B.pod));
  const child = (await L.status(da)).ike_sas[0]!.children[0]!;
  assert.equal(child.packets_in, 2 * N);
});

test('ESP sealed by our daemon is opened by scapy (ICV checked): the echo replies', async () => {
  assert.equal(result.opened.length, N, JSON.stringify(result.opened));
  for (const [i, o] of result.opened.entries()) {
    assert.deepEqual(o, { src: A.pod, dst: B.pod, icmp_type: 0, icmp_id: 0x4242, seq: i + 1 });
  }
  const st = await L.status(da);
  assert.equal(st.ike_sas[0]!.children[0]!.packets_out, N);
  assert.deepEqual(st.drops, { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 });
});
