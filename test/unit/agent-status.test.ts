import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpsecStatusDict, formatIpsecStatusText, formatTunnelsShow, ipsecStatusDict, ipsecStatusJson, tunnelsShow, type AgentSnapshot } from '../../src/agent/status.js';
import type { IkeStatus } from '../../src/ike/status.js';
import type { DataPathStatus, SaStatus } from '../../src/esp/status.js';

// The seed's worker0 (192.168.7.11) with its tunnel to master2 (192.168.7.23): the same SPIs and
// traffic as the article's output, rendered from engine snapshots.

const zeroDrops = { auth_failed: 0, replay: 0, unknown_spi: 0, malformed: 0, policy: 0, lifetime: 0 };
const sa = (spiIn: string, spiOut: string, bytesIn: number, bytesOut: number): SaStatus => ({
  spi_in: spiIn, spi_out: spiOut, state: 'installed', outbound: true, mode: 'transport', proposal: 'AES_GCM_16_256-NONE-MODP2048',
  bytes_in: bytesIn, bytes_out: bytesOut, packets_in: bytesIn ? 10 : 0, packets_out: bytesOut ? 10 : 0, dummy_in: 0, seq_out: 0, seq_in: 0,
  replay_window: 1024, age_s: 1, rekey_in_s: null, drops: { ...zeroDrops }, refused_out: 0,
});
const child = (name: string, serial: number, spiIn: string, spiOut: string, localTs: string, remoteTs: string, rekey: number) => ({
  name, serial, state: 'installed', mode: 'transport' as const, spi_in: spiIn, spi_out: spiOut, proposal: 'AES_GCM_16_256-NONE-MODP2048',
  local_ts: [localTs], remote_ts: [remoteTs], rekey_in_s: rekey,
});
const ike: IkeStatus = {
  ike_sas: [{
    name: 'ovn-ab2a7c-0', serial: 7, state: 'established', libreswan_state: 'STATE_V2_ESTABLISHED_IKE_SA', local: '192.168.7.11:4500', remote: '192.168.7.23:4500',
    local_id: '2dc40cb7-845e-4326-9d1d-340f9961d76c', remote_id: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', spi_i: '00'.repeat(8), spi_r: '11'.repeat(8),
    proposal: 'AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048', established_s: 10, rekey_in_s: 14000,
    children: [
      child('ovn-ab2a7c-0-in-1', 8, '9b00b718', '030da143', '192.168.7.11/32[udp/6081]', '192.168.7.23/32[udp]', 25217),
      child('ovn-ab2a7c-0-out-1', 15, 'bf5d5971', 'c7a82264', '192.168.7.11/32[udp]', '192.168.7.23/32[udp/6081]', 25902),
    ],
  }],
  counters: {},
};
const esp: DataPathStatus = {
  children: [
    { name: 'ovn-ab2a7c-0/ovn-ab2a7c-0-in-1', mode: 'transport', local: '192.168.7.11', remote: '192.168.7.23', remote_port: 4500, proposal: '', local_ts: [], remote_ts: [], sas: [sa('0x9b00b718', '0x030da143', 9_400_000, 0)] },
    { name: 'ovn-ab2a7c-0/ovn-ab2a7c-0-out-1', mode: 'transport', local: '192.168.7.11', remote: '192.168.7.23', remote_port: 4500, proposal: '', local_ts: [], remote_ts: [], sas: [sa('0xbf5d5971', '0xc7a82264', 0, 3_100_000)] },
  ],
  drops: { ...zeroDrops }, outbound_drops: { no_policy: 3, no_sa: 0, policy: 0, malformed: 0, lifetime: 0, oversize: 0 }, dummy_in: 0,
};
const counters = { packets_in: 1, bytes_in: 2, packets_out: 3, bytes_out: 4 };
const snap: AgentSnapshot = {
  node: 'worker0', systemId: '2dc40cb7-845e-4326-9d1d-340f9961d76c', underlay: '192.168.7.11', ipsec: true,
  overlay: {
    node: 'worker0', underlay: '192.168.7.11', subnet: '10.254.3.0/24', vni: 4,
    tunnels: [{ name: 'ovn-ab2a7c-0', ofport: 1, type: 'geneve', node: 'master2', system_id: 'ab2a7cc3-15a3-420b-a81f-d066c38b1c02', remote_ip: '192.168.7.23', subnet: '10.254.2.0/24', vni: 3, ...counters }],
    drops: { inbound: {} as never, outbound: {} as never },
  },
  ike, esp,
  creds: { cert: '/s/nodes/worker0/ipsec-cert.pem', key: '/s/nodes/worker0/ipsec-privkey.pem', ca: '/s/nodes/worker0/ipsec-cacert.pem' },
  udp: { keepalives: 0, ike_datagrams: 9, malformed: 0 },
  tun: { name: 'ovn-k8s-tun0', write_errors: 0 },
  mode: { wanted: 'Full', phase: 'Full', pairs: { master2: 'encrypted' } },
};

test('tunnels/show renders the seed\'s fields, policies, SAs and active connections', () => {
  const text = formatTunnelsShow(tunnelsShow(snap));
  assert.equal(text, [
    'Interface name: ovn-ab2a7c-0 v1 (CONFIGURED)',
    '  Tunnel Type:    geneve',
    '  Local IP:       192.168.7.11',
    '  Remote IP:      192.168.7.23',
    '  Address Family: IPv4',
    '  SKB mark:       None',
    '  Local cert:     /s/nodes/worker0/ipsec-cert.pem',
    '  Local name:     2dc40cb7-845e-4326-9d1d-340f9961d76c',
    '  Local key:      /s/nodes/worker0/ipsec-privkey.pem',
    '  Remote cert:    None',
    '  Remote name:    ab2a7cc3-15a3-420b-a81f-d066c38b1c02',
    '  CA cert:        /s/nodes/worker0/ipsec-cacert.pem',
    '  PSK:            None',
    '  Ofport:         1',
    '  CFM state:      Disabled',
    '  IPsec mode:     encrypted',
    'Kernel policies installed:',
    '  src 192.168.7.11/32 dst 192.168.7.23/32 proto udp sport 6081',
    '  src 192.168.7.23/32 dst 192.168.7.11/32 proto udp dport 6081',
    '  src 192.168.7.11/32 dst 192.168.7.23/32 proto udp dport 6081',
    '  src 192.168.7.23/32 dst 192.168.7.11/32 proto udp sport 6081',
    'Kernel security associations installed:',
    '  sel src 192.168.7.23/32 dst 192.168.7.11/32 proto udp dport 6081',
    '  sel src 192.168.7.11/32 dst 192.168.7.23/32 proto udp sport 6081',
    '  sel src 192.168.7.23/32 dst 192.168.7.11/32 proto udp sport 6081',
    '  sel src 192.168.7.11/32 dst 192.168.7.23/32 proto udp dport 6081',
    'IPsec connections that are active:',
    // The seed's two lines, byte for byte.
    '  000 #8: "ovn-ab2a7c-0-in-1" esp.30da143@192.168.7.23 esp.9b00b718@192.168.7.11 Traffic: ESPin=9MB ESPout=0B! ESPmax=0B',
    '  000 #15: "ovn-ab2a7c-0-out-1" esp.c7a82264@192.168.7.23 esp.bf5d5971@192.168.7.11 Traffic: ESPin=0B ESPout=3MB! ESPmax=0B',
    '',
  ].join('\n'));
  assert.equal(tunnelsShow(snap)[0]!.established, true);
});

test('ipsec/status is the seed\'s dict; ipsec status has the seed\'s child lines', () => {
  assert.equal(formatIpsecStatusDict(ipsecStatusDict(tunnelsShow(snap))),
    `{'ovn-ab2a7c-0': {'ovn-ab2a7c-0-in-1': '000 #8: "ovn-ab2a7c-0-in-1" esp.30da143@192.168.7.23 esp.9b00b718@192.168.7.11 Traffic: ESPin=9MB ESPout=0B! ESPmax=0B', ` +
    `'ovn-ab2a7c-0-out-1': '000 #15: "ovn-ab2a7c-0-out-1" esp.c7a82264@192.168.7.23 esp.bf5d5971@192.168.7.11 Traffic: ESPin=0B ESPout=3MB! ESPmax=0B'}}\n`);
  const lines = formatIpsecStatusText(snap).split('\n');
  assert.ok(lines.includes('000 #8: "ovn-ab2a7c-0-in-1":500 STATE_V2_ESTABLISHED_CHILD_SA (IPsec SA established); EVENT_SA_REKEY in 25217s; newest IPSEC; eroute owner; isakmp#7; idle;'), lines.join('\n'));
  assert.ok(lines.includes('000 interface eth0 UDP 192.168.7.11:4500'));
  const json = ipsecStatusJson(snap);
  assert.equal(json.ike_sas[0]!.children[0]!.bytes_in, 9_400_000);
  assert.equal(json.ike_sas[0]!.children[1]!.spi_out, '0xc7a82264');
  assert.equal(json.outbound_drops.no_policy, 3);
});

test('with IPsec off the tunnel is plain Geneve: no certificates, no policies', () => {
  const plain: AgentSnapshot = { ...snap, ipsec: false };
  delete plain.ike;
  delete plain.esp;
  const [t] = tunnelsShow(plain);
  assert.equal(t!.local_cert, 'None');
  assert.deepEqual([t!.kernel_policies, t!.kernel_sas, t!.active], [[], [], []]);
  assert.equal(t!.established, false);
});
