import { test } from 'node:test';
import assert from 'node:assert/strict';
import { establishedTunnels, saCounts, type SaForReadiness } from '../../src/agent/readiness.js';
import { tunnelsShow, type AgentSnapshot } from '../../src/agent/status.js';
import type { IkeStatus } from '../../src/ike/status.js';

// The state file counts established tunnels from the engine's SAs (readiness.ts); tunnels/show
// says the same per tunnel from a full snapshot. Every case below is checked against both.

type Sa = SaForReadiness & { serial: number };

/** The snapshot tunnels/show would be given for these tunnels and SAs (only what `established` reads). */
function snapshotOf(tunnels: readonly string[], sas: readonly Sa[]): AgentSnapshot {
  const stateText = (s: string): string => (s === 'rekeying' ? 'rekeyed' : s === 'authenticating' ? 'auth-sent' : s);
  const ike: IkeStatus = {
    ike_sas: sas.map((sa) => ({
      name: sa.connection, serial: sa.serial, state: stateText(sa.state), libreswan_state: '', local: '10.0.0.1:4500', remote: '10.0.0.2:4500',
      local_id: '', remote_id: '', spi_i: '', spi_r: '', proposal: '', established_s: null, rekey_in_s: null,
      children: sa.children.map((c, i) => ({
        name: c.name, serial: sa.serial * 100 + i, state: c.state, mode: 'transport' as const, spi_in: (sa.serial * 100 + i).toString(16).padStart(8, '0'),
        spi_out: '00000000', proposal: '', local_ts: ['10.0.0.1/32'], remote_ts: ['10.0.0.2/32'], rekey_in_s: null,
      })),
    })),
    counters: {},
  };
  return {
    node: 'a', systemId: 'x', underlay: '10.0.0.1', ipsec: true,
    overlay: {
      node: 'a', underlay: '10.0.0.1', subnet: '10.1.0.0/24', vni: 1,
      tunnels: tunnels.map((name, i) => ({ name, ofport: i + 1, type: 'geneve', node: `n${i}`, system_id: `s${i}`, remote_ip: '10.0.0.2', subnet: '10.1.1.0/24', vni: 2, packets_in: 0, bytes_in: 0, packets_out: 0, bytes_out: 0 })),
      drops: { inbound: {} as never, outbound: {} as never },
    },
    ike, esp: { children: [], drops: {} as never, outbound_drops: {} as never, dummy_in: 0 },
    creds: { cert: '', key: '', ca: '' }, udp: { keepalives: 0, ike_datagrams: 0, malformed: 0 }, tun: { name: 't', write_errors: 0 },
    mode: { wanted: 'Full', phase: 'Full', pairs: {} },
  };
}

const both = (t: string, state = 'installed') => [{ name: `${t}-in-1`, state }, { name: `${t}-out-1`, state }];

const cases: { name: string; tunnels: string[]; sas: Sa[]; established: number }[] = [
  { name: 'no SAs', tunnels: ['t1', 't2'], sas: [], established: 0 },
  { name: 'one tunnel up, one without its out child', tunnels: ['t1', 't2'], sas: [
    { serial: 1, connection: 't1', state: 'established', children: both('t1') },
    { serial: 2, connection: 't2', state: 'established', children: [{ name: 't2-in-1', state: 'installed' }] },
  ], established: 1 },
  { name: 'children rekeying count, rekeyed or deleting ones do not', tunnels: ['t1', 't2', 't3'], sas: [
    { serial: 1, connection: 't1', state: 'established', children: both('t1', 'rekeying') },
    { serial: 2, connection: 't2', state: 'established', children: both('t2', 'rekeyed') },
    { serial: 3, connection: 't3', state: 'established', children: both('t3', 'deleting') },
  ], established: 1 },
  { name: 'an IKE SA being rekeyed (status: rekeyed) or half-open is not established', tunnels: ['t1', 't2'], sas: [
    { serial: 1, connection: 't1', state: 'rekeying', children: both('t1') },
    { serial: 2, connection: 't2', state: 'authenticating', children: [] },
  ], established: 0 },
  { name: 'children moved to a new IKE SA, the old one on its way out', tunnels: ['t1'], sas: [
    { serial: 1, connection: 't1', state: 'rekeyed', children: [] },
    { serial: 5, connection: 't1', state: 'established', children: both('t1') },
  ], established: 1 },
  { name: 'a re-authentication: the new IKE SA connecting, the old one still carrying the children', tunnels: ['t1'], sas: [
    { serial: 1, connection: 't1', state: 'established', children: both('t1') },
    { serial: 7, connection: 't1', state: 'init-sent', children: [] },
  ], established: 1 },
  { name: 'SAs of a connection with no tunnel (a departed peer) are not counted', tunnels: ['t1'], sas: [
    { serial: 1, connection: 't9', state: 'established', children: both('t9') },
  ], established: 0 },
];

for (const c of cases) {
  test(`established tunnels: ${c.name}`, () => {
    assert.equal(establishedTunnels(c.tunnels, c.sas), c.established);
    assert.equal(tunnelsShow(snapshotOf(c.tunnels, c.sas)).filter((t) => t.established).length, c.established, 'tunnels/show agrees');
  });
}

test('SA counts for up: IKE SAs ipsec status shows established (established, rekeying, rekeyed) by connection, their installed children once each', () => {
  assert.deepEqual(saCounts([]), { ikeSas: 0, childSas: 0 });
  const sas: Sa[] = [
    // A simultaneous start being resolved: two established IKE SAs of t1, the same child names in both.
    { serial: 1, connection: 't1', state: 'established', children: both('t1') },
    { serial: 2, connection: 't1', state: 'established', children: [{ name: 't1-in-1', state: 'installed' }] },
    // Rekeying and rekeyed IKE SAs still show as established; only installed children count.
    { serial: 3, connection: 't2', state: 'rekeying', children: both('t2', 'rekeying') },
    { serial: 4, connection: 't3', state: 'rekeyed', children: [{ name: 't3-in-1', state: 'installed' }, { name: 't3-out-1', state: 'deleting' }] },
    // Not established: neither the SA nor its children count.
    { serial: 5, connection: 't4', state: 'authenticating', children: both('t4') },
    { serial: 6, connection: 't5', state: 'init-sent', children: [] },
    { serial: 7, connection: 't6', state: 'deleting', children: both('t6') },
  ];
  assert.deepEqual(saCounts(sas), { ikeSas: 3, childSas: 3 });
});
