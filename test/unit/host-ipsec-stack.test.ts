// Two IPsec stacks on loopback (127.0.0.1 and 127.0.0.2, UDP 500/4500 each): IKE brings a child
// up, a TUN packet crosses as ESP, the data path's usage moves, and stop(grace) says goodbye —
// the typed events a daemon sees, in the order it sees them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpsecStack, type IpsecStackEvent } from '../../src/host/ipsec-stack.js';
import { createLogger } from '../../src/util/log.js';
import { buildIpv4UdpPacket } from '../../src/wire/udp.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { conn, pskAuth } from './ike-sim.js';
import { waitFor } from '../helpers/netns.js';

const A = '127.0.0.1';
const B = '127.0.0.2';

function stack(local: string, remote: string, ids: [string, string], ts: [string, string], delivered: Buffer[], events: IpsecStackEvent[]): IpsecStack {
  return new IpsecStack({
    local,
    tun: { write: (packets) => { for (const p of packets) delivered.push(Buffer.from(p)); } },
    now: Date.now,
    auth: pskAuth('stack test', ids[0], ids[1]),
    log: createLogger({ name: 'stack-test', level: 'silent' }),
    connections: [conn('site', local, remote, {}, { localTs: [ts[0]], remoteTs: [ts[1]] })],
    onEvent: (e) => events.push(e),
  });
}

test('IpsecStack: child up by IKE, ESP across, usage, ike-down and child-down on stop', async (t) => {
  const inA: Buffer[] = [];
  const inB: Buffer[] = [];
  const evA: IpsecStackEvent[] = [];
  const evB: IpsecStackEvent[] = [];
  const a = stack(A, B, ['a.example', 'b.example'], ['10.1.0.0/24', '10.2.0.0/24'], inA, evA);
  let b: IpsecStack | undefined;
  t.after(async () => {
    await a.stop(0);
    await b?.stop(0);
  });
  b = stack(B, A, ['b.example', 'a.example'], ['10.2.0.0/24', '10.1.0.0/24'], inB, evB);
  const installed = (ev: IpsecStackEvent[]) => ev.filter((e): e is Extract<IpsecStackEvent, { type: 'child-installed' }> => e.type === 'child-installed');

  // No SA yet: the packet is dropped (never sent in clear) and reported on the next tick.
  const packet = buildIpv4UdpPacket({ src: parseIpv4('10.1.0.5')!, dst: parseIpv4('10.2.0.9')!, srcPort: 4000, dstPort: 5000, ttl: 64 }, Buffer.from('through the stack'));
  a.onTunPackets([packet]);
  await waitFor(() => evA.some((e) => e.type === 'outbound-without-sa'), 'outbound-without-sa', 3000);

  a.initiate('site');
  await waitFor(() => installed(evA).length === 1 && installed(evB).length === 1, 'a child installed on both sides', 5000);
  const specA = installed(evA)[0]!.spec;
  assert.equal(specA.replacesSpiIn, undefined, 'a first child rekeys nothing');
  assert.equal(specA.remotePort, 4500);
  assert.ok(evA.some((e) => e.type === 'ike-up' && e.name === 'site'));
  assert.ok(evA.some((e) => e.type === 'ike-log' && e.line.includes('IPsec SA established')));
  assert.deepEqual(a.engine.sas('site').map((s) => s.state), ['established']);

  a.onTunPackets([packet]);
  await waitFor(() => inB.length === 1, 'the packet at b', 3000);
  assert.deepEqual(inB[0], packet);
  const usage = b.esp.usage(installed(evB)[0]!.spec.spiIn)!;
  assert.equal(usage.packetsIn, 1);
  assert.ok(usage.lastInboundAt !== undefined && Date.now() - usage.lastInboundAt < 5000);
  assert.equal(a.esp.usage(specA.spiIn)!.packetsOut, 1);
  assert.ok(a.counters().ike_datagrams >= 2 && b.counters().ike_datagrams >= 2);

  // stop(): DELETE to the peer, which takes its child and IKE SA down.
  await a.stop(2000);
  await waitFor(() => evB.some((e) => e.type === 'ike-down'), 'ike-down at b', 3000);
  const downB = evB.find((e) => e.type === 'ike-down') as Extract<IpsecStackEvent, { type: 'ike-down' }>;
  assert.equal(downB.established, true);
  assert.ok(evB.some((e) => e.type === 'child-down' && e.spiIn === installed(evB)[0]!.spec.spiIn));
  assert.equal(b.esp.usage(installed(evB)[0]!.spec.spiIn), undefined, 'the pair left b\'s data path');
});

test('IpsecStack: a stopping stack refuses the IKE SA its peer starts again after the DELETE', async (t) => {
  const evA: IpsecStackEvent[] = [];
  const evB: IpsecStackEvent[] = [];
  const a = stack(A, B, ['a.example', 'b.example'], ['10.1.0.0/24', '10.2.0.0/24'], [], evA);
  let b: IpsecStack | undefined;
  t.after(async () => {
    await a.stop(0);
    await b?.stop(0);
  });
  b = stack(B, A, ['b.example', 'a.example'], ['10.2.0.0/24', '10.1.0.0/24'], [], evB);
  a.initiate('site');
  await waitFor(() => b!.engine.sas('site').some((s) => s.state === 'established'), 'the IKE SA up at b', 5000);
  const peer = b;
  // As an agent does: an IKE SA that the peer deleted is set up again at once.
  let reinitiated = 0;
  const downsBefore = evB.length;
  const watcher = setInterval(() => {
    if (reinitiated === 0 && evB.slice(downsBefore).some((e) => e.type === 'ike-down')) {
      reinitiated++;
      peer.initiate('site');
    }
  }, 1);
  t.after(() => clearInterval(watcher));
  await a.stop(2000);
  await waitFor(() => reinitiated === 1, 'b initiated again after the DELETE', 3000);
  // Refused with NO_PROPOSAL_CHOSEN, b's new IKE SA is gone at once; had a answered, b would hold a
  // half-open or established IKE SA with a stack that no longer exists, until its retransmits gave up.
  await waitFor(() => peer.engine.sas('site').length === 0, 'b holds no IKE SA to the stopped stack', 3000);
  assert.ok(evB.some((e) => e.type === 'ike-log' && /NO_PROPOSAL_CHOSEN/.test(e.line)), evB.filter((e) => e.type === 'ike-log').map((e) => (e as { line: string }).line).join('\n'));
});
