import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConnection, type IkeConnectionConfig } from '../../src/ike/config.js';
import { ProposalSyntaxError } from '../../src/ike/proposals.js';
import { TsSyntaxError } from '../../src/wire/traffic-selector.js';

const conn = (name: string, proposal: string, ts: string): IkeConnectionConfig => ({
  name, localAddrs: ['10.0.0.1'], remoteAddrs: ['10.0.0.2'], proposals: [proposal],
  children: [{ name: 'c', mode: 'transport', localTs: [ts], remoteTs: [ts], espProposals: ['aes256gcm16'] }],
});

test('connections with the same proposal and selector texts share one frozen parse', () => {
  const a = resolveConnection(conn('a', 'aes256gcm16-prfsha256-modp2048', 'dynamic[udp/6081]'));
  const b = resolveConnection(conn('b', 'aes256gcm16-prfsha256-modp2048', 'dynamic[udp/6081]'));
  assert.equal(a.ike[0], b.ike[0]);
  assert.equal(a.children[0]!.esp[0], b.children[0]!.esp[0]);
  assert.equal(a.children[0]!.localTs[0], b.children[0]!.remoteTs[0]);
  assert.ok(Object.isFrozen(a.ike[0]) && Object.isFrozen(a.ike[0]!.dh) && Object.isFrozen(a.children[0]!.localTs[0]!.ts));
  assert.throws(() => { (a.ike[0]!.dh as number[]).push(19); }, TypeError);
  assert.deepEqual(a.ike[0]!.dh, [14]);
  assert.equal(a.children[0]!.localTs[0]!.ts.startPort, 6081);
  // Other texts, other parses; the same text for IKE and ESP is parsed for each protocol.
  const c = resolveConnection(conn('c', 'aes256gcm16-prfsha256-x25519', '10.1.0.0/24'));
  assert.notEqual(c.ike[0], a.ike[0]);
  assert.deepEqual(c.ike[0]!.dh, [31]);
  assert.equal(c.children[0]!.localTs[0]!.dynamic, false);
  // Bad texts still fail, every time (failures are not remembered).
  for (let i = 0; i < 2; i++) {
    assert.throws(() => resolveConnection(conn('d', 'aes256gcm16-prfsha256-modp1', 'dynamic')), ProposalSyntaxError);
    assert.throws(() => resolveConnection(conn('e', 'aes256gcm16-prfsha256-modp2048', '10.0.0.0/99')), TsSyntaxError);
  }
});
