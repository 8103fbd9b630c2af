// DoS on real sockets: node A's ipsecd is flooded with IKE_SA_INIT requests from node B's address
// (hundreds of source ports, fresh SPIs and nonces each, never answering a cookie), as an attacker
// on the underlay spoofing a peer would. Cookies must engage, A's half-open state stay bounded,
// the tunnel B had before the flood keep carrying traffic (the same SAs), and node C, a
// legitimate peer starting during the flood, must get in (it answers the cookie).
// (The engine-level version with exact counts: test/unit/ike-robustness.test.ts.)
// Then, on the same daemons, IKE packets crafted by scapy (an independent encoder): each kind of
// malformed or misaddressed message lands in its counter, and the tunnel is untouched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { IpsecdLab, A, B, type Daemon } from '../netns/ipsecd-lab.js';
import { waitFor } from '../helpers/netns.js';
import { runScapy } from '../helpers/scapy.js';
import { dhFromPrivate } from '../../src/crypto/dh.js';
import { ExchangeType, PayloadType } from '../../src/ike/constants.js';
import { encodePlain } from '../../src/ike/message/message.js';
import { buildOffer, parseProposals } from '../../src/ike/proposals.js';
import { DEFAULT_TIMERS } from '../../src/ike/context.js';
import type { StatusJson } from '../../src/host/status.js';

const C = { underlay: '198.19.0.2', aSide: '198.19.0.1', pod: '10.3.0.1', podNet: '10.3.0.0/24' } as const;
const PORTS = 250;

function conn(name: string, local: string, remote: string, ids: [string, string], psk: string, lts: string, rts: string, start: 'start' | 'none'): string {
  return `  ${name}:
    local_addrs: [${local}]
    remote_addrs: [${remote}]
    local: { auth: psk, id: ${ids[0]} }
    remote: { auth: psk, id: ${ids[1]} }
    psk: "0s${psk}"
    proposals: [aes256gcm16-prfsha256-modp2048]
    children:
      net:
        mode: tunnel
        local_ts: [${lts}]
        remote_ts: [${rts}]
        esp_proposals: [aes256gcm16]
        start_action: ${start}
`;
}

/** One IKE_SA_INIT request; the flooder changes its SPI (first 8 bytes) and nonce (last 32) each time. */
function initTemplate(): Buffer {
  return encodePlain({ spiI: randomBytes(8), spiR: Buffer.alloc(8), exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0 }, [
    { type: PayloadType.SA, proposals: buildOffer(parseProposals(['aes256gcm16-prfsha256-modp2048'], 'ike'), Buffer.alloc(0)) },
    { type: PayloadType.KE, group: 14, data: dhFromPrivate(14, randomBytes(32)).publicValue },
    { type: PayloadType.NONCE, data: randomBytes(32) },
  ]);
}

// Runs in B's namespace: PORTS sockets on B's address, bursts of one request per socket until
// SIGTERM (or MAX), then prints how many it sent.
const FLOODER = `
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
const tpl = Buffer.from(process.env.TPL, 'hex');
const socks = [];
for (let i = 0; i < ${PORTS}; i++) {
  const s = dgram.createSocket('udp4');
  s.on('message', () => {});            // answers (cookies) are ignored, as a spoofer never sees them
  await new Promise((r) => s.bind(0, '${B.underlay}', r));
  socks.push(s);
}
let sent = 0, stop = false;
process.on('SIGTERM', () => { stop = true; });
process.stdout.write('flooding\\n');
while (!stop && sent < 200000) {
  for (const s of socks) {
    const m = Buffer.from(tpl);
    randomBytes(8).copy(m, 0);
    randomBytes(32).copy(m, m.length - 32);
    s.send(m, 500, '${A.underlay}');
    sent++;
  }
  await new Promise((r) => setTimeout(r, 40));
}
process.stdout.write('sent ' + sent + '\\n');
for (const s of socks) s.close();
`;

let L: IpsecdLab;
let da: Daemon;
let db: Daemon;
let dc: Daemon;

before(async () => {
  L = new IpsecdLab('oir-dos');
  const nsC = L.lab.addNs('c');
  L.lab.veth(L.a, 'vac', `${C.aSide}/24`, nsC, 'vc', `${C.underlay}/24`);
  L.lab.exec(nsC, ['ip', 'addr', 'add', `${C.pod}/32`, 'dev', 'lo']);
  // ipsecd serves one local address: C reaches A's underlay address through A's second link.
  L.lab.exec(nsC, ['ip', 'route', 'add', `${A.underlay}/32`, 'via', C.aSide]);
  const pskB = randomBytes(32).toString('base64');
  const pskC = randomBytes(32).toString('base64');
  const cfgA = L.writeConfig('a',
    conn('to-b', A.underlay, B.underlay, ['a.example', 'b.example'], pskB, A.podNet, B.podNet, 'none')
    + conn('to-c', A.underlay, C.underlay, ['a.example', 'c.example'], pskC, A.podNet, C.podNet, 'none'));
  const cfgB = L.writeConfig('b', conn('to-a', B.underlay, A.underlay, ['b.example', 'a.example'], pskB, B.podNet, A.podNet, 'start'));
  const cfgC = L.writeConfig('c', conn('to-a', C.underlay, A.underlay, ['c.example', 'a.example'], pskC, C.podNet, A.podNet, 'start'));
  da = await L.startDaemon('a', cfgA);
  db = await L.startDaemon('b', cfgB);
  await waitFor(async () => established(await L.status(da), 'to-b'), 'B established with A', 20_000);
  // C's config is written now and its daemon started during the flood.
  process.env.OIR_CFG_C = cfgC;
});

after(async () => {
  await L?.cleanup();
});

const established = (st: StatusJson, name: string): boolean =>
  st.ike_sas.some((s) => s.name === name && s.state === 'ESTABLISHED' && s.children.length > 0);
const connecting = (st: StatusJson): number => st.ike_sas.filter((s) => s.state !== 'ESTABLISHED' && s.state !== 'MANUAL').length;

test('an IKE_SA_INIT flood from 250 source ports: cookies engage, half-open state bounded, the old tunnel carries traffic, a new peer gets in', async () => {
  const before = await L.status(da);
  const tunnelBefore = before.ike_sas.find((s) => s.name === 'to-b')!;
  const spisBefore = tunnelBefore.children.map((c) => `${c.spi_in}/${c.spi_out}`);

  const flood = L.lab.spawn(L.b, [process.execPath, '--input-type=module', '-e', FLOODER], { env: { ...process.env, TPL: initTemplate().toString('hex') } });
  let floodOut = '';
  flood.stdout?.on('data', (d: Buffer) => { floodOut += d.toString(); });
  await waitFor(() => floodOut.includes('flooding'), 'the flooder to start', 20_000);
  // Wait until A has seen a good part of the flood before anything legitimate happens.
  await waitFor(async () => ((await L.status(da)).ike?.cookiesSent ?? 0) >= 1000, 'cookies to engage', 30_000);

  let maxConnecting = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      maxConnecting = Math.max(maxConnecting, connecting(await L.status(da)));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // Traffic through B's tunnel during the flood, and C, a legitimate node, starting up.
  const pings = 40;
  const ping = L.lab.spawn(L.a, ['ping', '-c', String(pings), '-i', '0.05', '-W', '3', '-I', A.pod, B.pod]);
  let pingOut = '';
  ping.stdout?.on('data', (d: Buffer) => { pingOut += d.toString(); });
  const pingDone = new Promise((r) => ping.on('exit', r));
  dc = await L.startDaemon('c', process.env.OIR_CFG_C!);
  await waitFor(async () => established(await L.status(dc), 'to-a'), 'C established with A during the flood', 30_000);
  await pingDone;
  const during = await L.status(da);
  await L.lab.stop(flood);
  await waitFor(() => floodOut.includes('sent '), 'the flooder to report', 10_000);
  sampling = false;
  await sampler;

  const sent = Number(/sent (\d+)/.exec(floodOut)![1]);
  const after = await L.status(da);
  const counters = after.ike ?? {};
  const ike = (k: string): number => counters[k] ?? 0;
  process.stdout.write(`# flood: ${sent} IKE_SA_INIT sent from ${PORTS} ports; A received ${ike('received')} IKE datagrams, sent ${ike('cookiesSent')} cookies, ${ike('halfOpenLimit')} over the hard limit; half-open at most ${maxConnecting} (sampled), ${connecting(after)} at the end; ping ${/(\d+) received/.exec(pingOut)?.[1]}/${pings}\n`);

  assert.match(pingOut, new RegExp(`${pings} packets transmitted, ${pings} received`), pingOut);
  const tunnelAfter = after.ike_sas.find((s) => s.name === 'to-b')!;
  assert.equal(tunnelAfter.state, 'ESTABLISHED');
  assert.deepEqual(tunnelAfter.children.map((c) => `${c.spi_in}/${c.spi_out}`), spisBefore, 'the same child SAs: the tunnel was kept');
  assert.ok(established(during, 'to-c') && established(after, 'to-c'), 'C got in during the flood');
  assert.match(readFileSync(dc.log, 'utf8'), /received COOKIE/, 'C was asked for a cookie and answered it');
  assert.ok(ike('cookiesSent') >= 1000, `cookies: ${ike('cookiesSent')}`);
  // Half-open SAs: the flood's first ones up to the cookie threshold, plus C's own while it connected.
  assert.ok(maxConnecting <= DEFAULT_TIMERS.cookieThreshold + 1, `half-open at most ${maxConnecting}`);
  assert.ok(connecting(after) <= DEFAULT_TIMERS.cookieThreshold, `half-open at the end ${connecting(after)}`);
  assert.equal(after.ike_sas.filter((s) => s.state === 'ESTABLISHED').length, 2, 'exactly B and C');
  assert.equal(ike('internalErrors'), 0);
  for (const d of [da, db, dc]) assert.equal(d.proc.exitCode, null, d.stderr());
});

const CRAFTED = `
import socket, os
from scapy.contrib.ikev2 import IKEv2, IKEv2_payload_SA, IKEv2_payload_Proposal, IKEv2_payload_Transform, IKEv2_payload_KE, IKEv2_payload_Nonce, IKEv2_payload_Encrypted

def main(inp):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((inp['b'], 5500))
    n = 4500
    sent = {}
    def send(kind, data, port=500):
        s.sendto((b'\\x00' * 4 + data) if port == 4500 else data, (inp['a'], port))
        sent[kind] = sent.get(kind, 0) + 1
    def init(spi, payloads, next_payload):
        return bytes(IKEv2(init_SPI=spi, next_payload=next_payload, exch_type=34, flags='Initiator') / payloads)
    sa = IKEv2_payload_SA(next_payload='KE', prop=IKEv2_payload_Proposal(trans_nb=3, trans=
        IKEv2_payload_Transform(transform_type='Encryption', transform_id=20, key_length=256, next_payload='Transform') /
        IKEv2_payload_Transform(transform_type='PRF', transform_id=5, next_payload='Transform') /
        IKEv2_payload_Transform(transform_type='GroupDesc', transform_id=14)))
    ke = IKEv2_payload_KE(next_payload='Nonce', group=14, load=os.urandom(256))
    good = init(os.urandom(8), sa / ke / IKEv2_payload_Nonce(load=os.urandom(32)), 'SA')
    # malformed: the IKE length field lies; a payload length overruns; no nonce; a 4-byte nonce; version 3
    m = bytearray(good); m[24:28] = (len(good) + 9).to_bytes(4, 'big'); send('malformed', bytes(m))
    m = bytearray(good); m[28 + 2:28 + 4] = (0xfff0).to_bytes(2, 'big'); send('malformed', bytes(m))
    send('malformed', init(os.urandom(8), sa / IKEv2_payload_KE(next_payload='None', group=14, load=os.urandom(256)), 'SA'))
    send('malformed', init(os.urandom(8), sa / ke / IKEv2_payload_Nonce(load=b'abcd'), 'SA'))
    m = bytearray(good); m[17] = 0x30; send('malformed', bytes(m))
    # an unknown payload type with the critical bit, first in the chain
    crit = bytes([33, 0x80, 0, 8]) + b'junk'
    m = bytearray(init(os.urandom(8), sa / ke / IKEv2_payload_Nonce(load=os.urandom(32)), 'SA'))
    m[16] = 200; m = m[:28] + crit + m[28:]; m[24:28] = len(m).to_bytes(4, 'big')
    send('unsupportedCritical', bytes(m))
    # IKE_AUTH for an SA nobody has; an INFORMATIONAL for the real SA with a forged SK payload
    send('unknownSpi', bytes(IKEv2(init_SPI=os.urandom(8), resp_SPI=os.urandom(8), exch_type=35, flags='Initiator', id=1, next_payload='Encrypted') / IKEv2_payload_Encrypted(load=os.urandom(60))), 4500)
    spi_i, spi_r = bytes.fromhex(inp['spi_i']), bytes.fromhex(inp['spi_r'])
    forged = IKEv2(init_SPI=spi_i, resp_SPI=spi_r, exch_type=37, flags='Initiator', id=7, next_payload='Encrypted') / IKEv2_payload_Encrypted(next_payload='None', load=os.urandom(60))
    send('decryptFailed', bytes(forged), 4500)
    return sent
`;

test('scapy-crafted IKE: malformed, critical-unknown, unknown-SPI and forged-SK messages each counted under their cause; the tunnel untouched', async () => {
  const before = await L.status(da);
  const tunnel = before.ike_sas.find((s) => s.name === 'to-b')!;
  const c0 = before.ike ?? {};
  const sent = runScapy<Record<string, number>>(CRAFTED, { a: A.underlay, b: B.underlay, spi_i: tunnel.spi_i, spi_r: tunnel.spi_r }, { netns: L.b, timeoutMs: 60_000 });
  const total = Object.values(sent).reduce((a, b) => a + b, 0);
  await waitFor(async () => ((await L.status(da)).ike?.received ?? 0) - (c0.received ?? 0) >= total, `A to receive the ${total} crafted datagrams`, 15_000);
  const after = await L.status(da);
  const c1 = after.ike ?? {};
  const delta = (k: string): number => (c1[k] ?? 0) - (c0[k] ?? 0);
  process.stdout.write(`# scapy IKE: sent ${JSON.stringify(sent)}; A counted malformed +${delta('malformed')}, unsupportedCritical +${delta('unsupportedCritical')}, unknownSpi +${delta('unknownSpi')}, decryptFailed +${delta('decryptFailed')}\n`);
  for (const [counter, n] of Object.entries(sent)) assert.equal(delta(counter), n, counter);
  assert.equal(delta('internalErrors'), 0);
  const t = after.ike_sas.find((s) => s.name === 'to-b')!;
  assert.equal(t.state, 'ESTABLISHED');
  assert.deepEqual(t.children.map((c) => c.spi_in), tunnel.children.map((c) => c.spi_in));
  assert.equal(da.proc.exitCode, null);
});
