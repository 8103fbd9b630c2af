import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertMirrored, conn, pskAuth, Sim } from './ike-sim.js';

const A = '192.0.2.1';
const B = '192.0.2.2';

function pair(opts: { a?: Parameters<typeof conn>[3]; b?: Parameters<typeof conn>[3]; ac?: Parameters<typeof conn>[4]; bc?: Parameters<typeof conn>[4] } = {}) {
  const sim = new Sim();
  const a = sim.add('a', A, [conn('site', A, B, opts.a, opts.ac)], pskAuth('secret', 'a.example', 'b.example'));
  const b = sim.add('b', B, [conn('site', B, A, opts.b, { localTs: ['10.2.0.0/24'], remoteTs: ['10.1.0.0/24'], ...opts.bc })], pskAuth('secret', 'b.example', 'a.example'));
  return { sim, a, b };
}

test('IKE_SA_INIT + IKE_AUTH with PSK: IKE SA and child up on both sides with mirrored keys', () => {
  const { sim, a, b } = pair();
  a.engine.initiate('site');
  sim.advance(1000);
  assert.equal(a.ikeUps().length, 1);
  assert.equal(b.ikeUps().length, 1);
  const ca = a.childUps();
  const cb = b.childUps();
  assert.equal(ca.length, 1);
  assert.equal(cb.length, 1);
  assertMirrored(ca[0]!, cb[0]!, assert.equal);
  assert.equal(ca[0]!.keyIn.length, 36);
  assert.equal(ca[0]!.proposal, 'AES_GCM_16_256-NONE');
  assert.equal(ca[0]!.mode, 'tunnel');
  // NAT-T float (forced encapsulation): both ends talk 4500 after IKE_SA_INIT.
  assert.equal(ca[0]!.remotePort, 4500);
  assert.equal(ca[0]!.localPort, 4500);
  const st = a.engine.status();
  assert.equal(st.ike_sas.length, 1);
  assert.equal(st.ike_sas[0]!.state, 'established');
  assert.equal(st.ike_sas[0]!.proposal, 'AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048');
  assert.equal(st.ike_sas[0]!.remote_id, 'b.example');
  assert.deepEqual(st.ike_sas[0]!.children[0]!.local_ts, ['10.1.0.0/24']);
  assert.ok(a.logs.some((l) => /^"site" #\d+: IPsec SA established tunnel mode \{ESPinUDP=>0x[0-9a-f]{8} <0x[0-9a-f]{8} xfrm=AES_GCM_16_256-NONE NATOA=none NATD=192\.0\.2\.2:4500 DPD=passive\}$/.test(l)), a.logs.join('\n'));
  assert.ok(a.logs.some((l) => l.includes('negotiated connection [10.1.0.0-10.1.0.255:0-65535 0] -> [10.2.0.0-10.2.0.255:0-65535 0]')));
  // IKE keys agree.
  const ka = a.ikeUps()[0]!.keys;
  const kb = b.ikeUps()[0]!.keys;
  assert.deepEqual(ka, kb);
});
