import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatVerifyReport, type VerifyReport } from '../../src/cluster/verify.js';

// The verdict's words follow the modes the nodes' agents report, since the mode can change at
// run time: cleartext with every node in Disabled is IPsec off, not a leak "although IPsec is on".

function report(modes: Record<string, string>, ipsec: boolean, cleartext: number): VerifyReport {
  return {
    packets: { esp: cleartext ? 0 : 40, ike: 0, geneve_cleartext: cleartext, other: 0 },
    encrypted: cleartext === 0,
    pairs: {},
    spis: [],
    other_causes: {},
    skipped: { not_ipv4: 0, not_between_nodes: 0, malformed: {} },
    cleartext_samples: cleartext ? ['12:00:00.000000 IP 192.168.7.21.40000 > 192.168.7.22.6081: Geneve'] : [],
    total: 40,
    ipsec,
    modes,
    seconds: 2,
    capture: { netns: 'oi-underlay', interface: 'br-underlay', pcap: null },
    pings: [{ from: 'master0', to: 'master1', ip: '10.254.1.2', sent: 4, received: 4 }],
    exit_code: cleartext ? 1 : 0,
  };
}

test('verify text: cleartext with every agent in Disabled says IPsec is off', () => {
  const text = formatVerifyReport(report({ master0: 'Disabled', master1: 'Disabled' }, false, 12));
  assert.match(text, /NOT ENCRYPTED: 12 cleartext Geneve packets crossed the underlay between nodes \(IPsec is off: every node reports mode Disabled\)\./);
  assert.doesNotMatch(text, /although IPsec is on/);
});

test('verify text: cleartext with every agent in Full is a leak', () => {
  assert.match(formatVerifyReport(report({ master0: 'Full', master1: 'Full' }, true, 3)), /between nodes although IPsec is on \(every node reports mode Full\)\./);
});

test('verify text: cleartext during a switch names each node\'s mode', () => {
  assert.match(formatVerifyReport(report({ master0: 'enabling', master1: 'Full' }, false, 5)), /while the nodes' IPsec modes differ \(master0=enabling master1=Full\)\./);
});

test('verify text: with no agent to ask, the config recorded at up decides the words', () => {
  assert.match(formatVerifyReport(report({}, true, 1)), /although IPsec is on in this cluster's config\./);
  assert.match(formatVerifyReport(report({}, false, 1)), /\(IPsec is off in this cluster's config\)\./);
});

test('verify text: all ESP is encrypted whatever the modes say', () => {
  assert.match(formatVerifyReport(report({ master0: 'Full', master1: 'Full' }, true, 0)), /^encrypted: every overlay packet between nodes was ESP/m);
});
