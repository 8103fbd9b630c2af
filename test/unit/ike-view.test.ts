import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conn, pskAuth, Sim } from './ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

function pair(a: Parameters<typeof conn>[3] = {}) {
  const sim = new Sim();
  const na = sim.add('a', A, [conn('site', A, B, a)], pskAuth('secret', 'a.example', 'b.example'));
  const nb = sim.add('b', B, [conn('site', B, A, {}, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'] })], pskAuth('secret', 'b.example', 'a.example'));
  return { sim, a: na, b: nb };
}

test('engine.sas(): typed views of IKE SAs and children, with numeric SPIs that match the events', () => {
  const { sim, a, b } = pair({ rekeyTimeMs: 3_600_000, dpdDelayMs: 10_000 });
  a.engine.initiate('site');
  const [connecting] = a.engine.sas('site');
  assert.equal(connecting!.state, 'init-sent');
  assert.equal(connecting!.spiR, 0n, 'no responder SPI before the answer');
  assert.equal(connecting!.proposal, undefined);
  sim.advance(1000);
  const [va] = a.engine.sas();
  const [vb] = b.engine.sas('site');
  assert.ok(va && vb);
  assert.equal(va.connection, 'site');
  assert.equal(va.state, 'established');
  assert.equal(va.initiator, true);
  assert.equal(vb.initiator, false);
  const up = a.ikeUps()[0]!;
  assert.equal(va.serial, up.serial);
  assert.equal(va.spiI, up.spiI.readBigUInt64BE(0));
  assert.equal(va.spiR, up.spiR.readBigUInt64BE(0));
  assert.equal(vb.spiI, va.spiI);
  assert.equal(vb.spiR, va.spiR);
  assert.equal(va.remote.address, B);
  assert.equal(va.remote.port, 4500);
  assert.equal(va.remoteId?.data.toString(), 'b.example');
  assert.equal(va.proposal?.dh, 14);
  assert.equal(va.establishedAt, a.timeOf(up));
  assert.ok(va.rekeyAt !== undefined && va.rekeyAt > sim.now && va.rekeyAt <= va.establishedAt! + 3_600_000);
  assert.ok(va.dpdAt !== undefined && va.dpdAt > sim.now);
  assert.equal(va.replacedBy, undefined);
  assert.equal(va.children.length, 1);
  const c = va.children[0]!;
  const spec = a.childUps()[0]!;
  assert.equal(c.name, 'pods');
  assert.equal(c.state, 'installed');
  assert.equal(c.spiIn, spec.spiIn);
  assert.equal(c.spiOut, spec.spiOut);
  assert.equal(c.spiOut, vb.children[0]!.spiIn);
  assert.equal(c.replacesSpiIn, undefined);
  assert.equal(c.answered, false);
  assert.equal(vb.children[0]!.answered, true, 'the responder answered the exchange that made it');
  assert.equal(c.installedAt, a.timeOf(a.outputs.find((o) => o.kind === 'child-up')!));
  assert.deepEqual(a.engine.sa(va.serial)?.spiI, va.spiI);
  assert.equal(a.engine.sa(9999), undefined);
  assert.equal(a.engine.childName(c.serial), 'pods', 'a child found by its serial');
  assert.equal(a.engine.childName(va.serial), undefined, 'an IKE SA\'s serial names no child');
  assert.equal(a.engine.childName(9999), undefined);
  assert.deepEqual(a.engine.sas('other'), []);
  // The status text is formatted from the same views.
  const st = a.engine.status().ike_sas[0]!;
  assert.equal(st.spi_i, up.spiI.toString('hex'));
  assert.equal(st.spi_r, up.spiR.toString('hex'));
  assert.equal(st.children[0]!.spi_in, spec.spiIn.toString(16).padStart(8, '0'));
  assert.equal(st.libreswan_state, 'STATE_V2_ESTABLISHED_IKE_SA');
});

test('a child rekey: the new child names the SPI it replaces, in the view and in child-up', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const old = a.childUps()[0]!;
  a.engine.rekeyChild('site');
  sim.advance(1000);
  for (const n of [a, b]) {
    const oldIn = n.childUps()[0]!.spiIn;
    const fresh = n.childUps()[1]!;
    assert.equal(fresh.replacesSpiIn, oldIn, `${n.name}: child-up names the pair it replaces`);
    const [v] = n.engine.sas('site');
    const kids = v!.children;
    assert.equal(kids.length, 1, `${n.name}: the old pair is gone`);
    assert.equal(kids[0]!.spiIn, fresh.spiIn);
    assert.equal(kids[0]!.replacesSpiIn, oldIn);
  }
  assert.deepEqual(a.childDowns().map((d) => d.spiIn), [old.spiIn]);
});

test('an IKE rekey: ike-up names the SA it replaces, ike-down the SA that replaced it', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  const first = a.engine.sas('site')[0]!;
  a.engine.rekeyIke('site');
  assert.equal(a.engine.sas('site')[0]!.state, 'rekeying', 'our rekey is in flight; the SA is still the current one');
  sim.advance(1000);
  for (const n of [a, b]) {
    const ups = n.ikeUps();
    assert.equal(ups.length, 2);
    assert.equal(ups[0]!.replaces, undefined);
    assert.equal(ups[1]!.replaces, ups[0]!.serial, `${n.name}: the new SA names the old`);
    const downs = n.ikeDowns();
    assert.equal(downs.length, 1);
    assert.equal(downs[0]!.serial, ups[0]!.serial);
    assert.equal(downs[0]!.replacedBy, ups[1]!.serial);
    assert.equal(downs[0]!.established, true);
    // We delete the old SA after our rekey; the peer sees that DELETE.
    assert.equal(downs[0]!.reason, n === a ? 'rekeyed' : 'deleted by peer');
  }
  const now = a.engine.sas('site');
  assert.equal(now.length, 1);
  assert.notEqual(now[0]!.serial, first.serial);
  assert.equal(now[0]!.state, 'established');
  assert.equal(now[0]!.children[0]!.spiIn, first.children[0]!.spiIn, 'the child moved to the new SA');
});

test('a failed initiation ends in ike-down with established: false; the responder reports none', () => {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A)], pskAuth('other', 'b.example', 'a.example'));
  a.engine.initiate('site');
  sim.advance(1000);
  const down = a.ikeDowns();
  assert.equal(down.length, 1);
  assert.equal(down[0]!.established, false);
  assert.equal(down[0]!.replacedBy, undefined);
  assert.equal(b.ikeDowns().length, 0, 'the responder never had it up');
  assert.deepEqual(a.engine.sas(), []);
  assert.deepEqual(b.engine.sas(), []);
});

test('a responder waiting for IKE_AUTH is authenticating (half-open in the status text)', () => {
  const { sim, a, b } = pair();
  sim.drop = (p) => p.from.address === A && p.to.port === 4500;
  a.engine.initiate('site');
  sim.advance(100);
  assert.equal(a.engine.sas()[0]!.state, 'authenticating');
  assert.equal(b.engine.sas()[0]!.state, 'authenticating');
  assert.equal(a.engine.status().ike_sas[0]!.state, 'auth-sent');
  assert.equal(b.engine.status().ike_sas[0]!.state, 'half-open');
  assert.equal(b.engine.status().ike_sas[0]!.libreswan_state, 'STATE_V2_PARENT_R1');
  assert.equal(a.engine.status().ike_sas[0]!.libreswan_state, 'STATE_V2_PARENT_I2');
});
