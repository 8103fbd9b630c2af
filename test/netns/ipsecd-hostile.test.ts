import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IpsecdLab, manualConn, newKeys, A, B, PY_ESP, RECEIVER, type Daemon } from './ipsecd-lab.js';
import { runScapy } from '../helpers/scapy.js';
import { waitFor } from '../helpers/netns.js';

// Hostile input into the daemon's UDP 4500, sent from namespace B: each kind is refused and
// counted under its cause in `ipsec status --json`, nothing of it reaches the application
// behind the TUN, and good packets sealed by scapy keep flowing afterwards.

const SCRIPT = PY_ESP + `
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import struct

def seal_by_hand(spi, key_hex, seq, payload, next_header=4, pad=None):
    """ESP built by hand (for what scapy will not make): chosen padding, correct ICV."""
    key = bytes.fromhex(key_hex)
    if pad is None:
        n = (4 - (len(payload) + 2) % 4) % 4
        pad = bytes(range(1, n + 1))
    iv = os.urandom(8)
    header = struct.pack('!II', spi, seq)
    ct = AESGCM(key[:-4]).encrypt(key[-4:] + iv, payload + pad + bytes([len(pad), next_header]), header)
    return header + iv + ct

def main(inp):
    a, b = inp['a'], inp['b']
    to_a = sa(inp['spi_to_a'], inp['key_to_a'], b, a)
    sock = udp4500(b)
    def inner(text, src='10.2.0.1'):
        return IP(src=src, dst='10.1.0.1')/UDP(sport=5555, dport=7777)/Raw(text)
    def send(data):
        sock.sendto(data, (a, 4500))
        time.sleep(0.02)
    sent = []
    good1 = sealed_esp(to_a, inner(b'good 1'), 1)
    send(good1); sent.append('good 1')
    send(good1)                                                   # replay
    flip = bytearray(sealed_esp(to_a, inner(b'flip ct'), 2)); flip[16 + 5] ^= 0x01
    send(bytes(flip))                                             # auth_failed: ciphertext bit
    flip = bytearray(sealed_esp(to_a, inner(b'flip icv'), 3)); flip[-1] ^= 0x80
    send(bytes(flip))                                             # auth_failed: ICV bit
    stranger = sa(0x0badf00d, os.urandom(36).hex(), b, a)
    send(sealed_esp(stranger, inner(b'stranger'), 1))             # unknown_spi
    send(sealed_esp(to_a, inner(b'cut'), 4)[:20])                 # malformed: shorter than any ESP packet
    send(b'\\x12\\x34')                                           # malformed: runt
    send(b'\\x00\\x00\\x00\\x00' + b'\\x21' * 5)                  # malformed: IKE marker, truncated IKE header
    send(seal_by_hand(inp['spi_to_a'], inp['key_to_a'], 5, bytes(inner(b'bad pad!!')), pad=b'\\x00\\x00\\x00'))  # malformed: padding not 1,2,3
    lie = bytearray(bytes(inner(b'length lie'))); lie[2:4] = struct.pack('!H', 1400)
    send(seal_by_hand(inp['spi_to_a'], inp['key_to_a'], 6, bytes(lie)))  # malformed: inner length beyond payload
    send(struct.pack('!II', inp['spi_to_a'], 7) + os.urandom(9000 - 8))  # oversize junk (IP-fragmented): auth_failed
    send(sealed_esp(to_a, inner(b'spoofed', src='10.9.9.9'), 8))  # policy: inner source outside remote_ts
    for i in (9, 10, 11):
        send(sealed_esp(to_a, inner(b'good %d' % i), i)); sent.append('good %d' % i)
    return {'sent': sent}
`;

let L: IpsecdLab;
let da: Daemon;
let out = '';
let sent: string[] = [];
let keys: ReturnType<typeof newKeys>;

before(async () => {
  L = new IpsecdLab('oit-esp');
  const k = newKeys();
  keys = k;
  da = await L.startDaemon('a', L.writeConfig('a', manualConn('site', 'a', 'tunnel', k, [A.podNet], [B.podNet])));
  const rcv = L.lab.spawn(L.a, [process.execPath, '--input-type=module', '-e', RECEIVER]);
  rcv.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor(() => out.includes('ready'), 'receiver on 10.1.0.1:7777');
  sent = runScapy<{ sent: string[] }>(SCRIPT, {
    a: A.underlay, b: B.underlay, spi_to_a: k.spiBA, key_to_a: k.keyBA.toString('hex'),
  }, { netns: L.b, timeoutMs: 60_000 }).sent;
  await waitFor(() => out.split('\n').filter((l) => l.startsWith('{')).length >= sent.length, 'good datagrams at the receiver', 5000).catch(() => undefined);
});

after(async () => {
  await L?.cleanup();
});

test('every hostile datagram is dropped and counted by cause', async () => {
  const st = await L.status(da);
  assert.deepEqual(st.drops, { auth_failed: 3, replay: 1, unknown_spi: 1, malformed: 5, policy: 1, lifetime: 0 });
  const child = st.ike_sas[0]!.children[0]!;
  // packets_in counts ESP packets that authenticated and had a valid trailer (ESP processing
  // done): the good ones plus the two refused afterwards for their inner packet (spoofed source,
  // length beyond the payload). What reached the host is checked on the TUN below.
  assert.equal(child.packets_in, sent.length + 2);
  // Per-SA counters hold the refusals that carried this SA's SPI (all but the unknown SPI and the runts).
  assert.deepEqual(child.drops, { auth_failed: 3, replay: 1, unknown_spi: 0, malformed: 3, policy: 1, lifetime: 0 });
});

test('nothing hostile reaches the TUN or the application; good traffic still flows', () => {
  const got = out.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { data: string }).data);
  assert.deepEqual(got, ['good 1', 'good 9', 'good 10', 'good 11']);
  const link = JSON.parse(L.lab.exec(L.a, ['ip', '-j', '-s', 'link', 'show', 'oi0']).stdout) as { stats64: { rx: { packets: number } } }[];
  assert.equal(link[0]!.stats64.rx.packets, sent.length, 'packets written into the TUN');
});

const JUNK = PY_ESP + `
import random
def main(inp):
    rnd = random.Random(inp['seed'])
    sock = udp4500(inp['b'])
    spi = inp['spi_to_a'].to_bytes(4, 'big')
    for i in range(inp['n']):
        n = rnd.choice([0, 1, 2, 3, 7, 8, 20, 35, 36, 37, 60, 100, 1000, 1400, 3000])
        d = bytearray(rnd.randbytes(n))
        if n >= 1 and d[0] in (0x00, 0xff):
            d[0] = 0x01                          # neither a keepalive nor the IKE marker
        if n >= 8 and i % 2 == 0:
            d[0:4] = spi                         # half claim A's SPI: the crypto must refuse them
        sock.sendto(bytes(d), (inp['a'], 4500))
        if i % 50 == 0:
            time.sleep(0.01)
    to_a = sa(inp['spi_to_a'], inp['key_to_a'], inp['b'], inp['a'])
    sock.sendto(sealed_esp(to_a, IP(src='10.2.0.1', dst='10.1.0.1')/UDP(sport=5555, dport=7777)/Raw(b'after junk'), 1000), (inp['a'], 4500))
    return {}
`;

test('random junk on UDP 4500: every datagram refused and counted, then good traffic still flows', async () => {
  const before = await L.status(da);
  const sum = (d: Record<string, number>): number => Object.values(d).reduce((a, b) => a + b, 0);
  const n = 400;
  runScapy(JUNK, { a: A.underlay, b: B.underlay, n, seed: 4303, spi_to_a: keys.spiBA, key_to_a: keys.keyBA.toString('hex') }, { netns: L.b, timeoutMs: 60_000 });
  await waitFor(() => out.includes('after junk'), 'the good packet after the junk', 10_000);
  const after = await L.status(da);
  assert.equal(sum(after.drops) - sum(before.drops), n, JSON.stringify(after.drops));
  assert.equal(after.udp.keepalives, 0);
  assert.equal(after.udp.ike_datagrams, 0);
  const link = JSON.parse(L.lab.exec(L.a, ['ip', '-j', '-s', 'link', 'show', 'oi0']).stdout) as { stats64: { rx: { packets: number } } }[];
  assert.equal(link[0]!.stats64.rx.packets, sent.length + 1, 'only the one good packet entered the TUN');
});

test('the daemon is still running and answering', async () => {
  assert.equal(da.proc.exitCode, null);
  assert.equal(da.proc.signalCode, null);
  const st = await L.status(da);
  assert.equal(st.ike_sas.length, 1);
  await L.lab.stop(da.proc);
  assert.equal(await da.exit, 0, da.stderr());
});
