import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { validateDocuments, formatDiagnostic } from '../../src/config/index.js';
import { parseCidr, overlaps, contains, subnetAt, formatCidr } from '../../src/config/cidr.js';
import { checkNodeCsr } from '../../src/pki/csr.js';

test('parseCidr: accepts canonical IPv4 CIDRs and says what is wrong with the rest', () => {
  assert.deepEqual(parseCidr('10.254.0.0/16'), { ok: true, cidr: { base: 0x0afe0000, prefix: 16 } });
  assert.deepEqual(parseCidr('0.0.0.0/0'), { ok: true, cidr: { base: 0, prefix: 0 } });
  assert.deepEqual(parseCidr('255.255.255.255/32'), { ok: true, cidr: { base: 0xffffffff, prefix: 32 } });
  const cases: [unknown, string][] = [
    ['10.254.0.1/16', '"10.254.0.1/16" has host bits set'],
    ['10.254.0.0', '"10.254.0.0" is not a CIDR (expected address/prefix, e.g. 10.128.0.0/14)'],
    ['010.254.0.0/16', '"010.254.0.0" in "010.254.0.0/16" is not an IPv4 address'],
    ['256.0.0.0/8', '"256.0.0.0" in "256.0.0.0/8" is not an IPv4 address'],
    ['fd00::/64', '"fd00::/64" is IPv6; only IPv4 networks are supported'],
    [16, 'expected a CIDR string such as 10.128.0.0/14, got number 16'],
    [null, 'expected a CIDR string such as 10.128.0.0/14, got null'],
  ];
  for (const [input, problem] of cases) {
    const r = parseCidr(input);
    assert.equal(r.ok, false, String(input));
    if (!r.ok) assert.equal(r.problem, problem);
  }
  const hb = parseCidr('10.254.0.1/16');
  assert.equal(!hb.ok && hb.canonical, '10.254.0.0/16');
});

test('overlaps / contains / subnetAt', () => {
  const c = (s: string) => (parseCidr(s) as { ok: true; cidr: { base: number; prefix: number } }).cidr;
  assert.ok(overlaps(c('10.254.0.0/16'), c('10.254.7.0/24')));
  assert.ok(overlaps(c('10.254.7.0/24'), c('10.254.0.0/16')));
  assert.ok(!overlaps(c('10.254.0.0/16'), c('10.255.0.0/16')));
  assert.ok(contains(c('10.254.0.0/16'), c('10.254.255.0/24')));
  assert.ok(!contains(c('10.254.7.0/24'), c('10.254.0.0/16')));
  assert.equal(formatCidr(subnetAt(c('10.254.0.0/16'), 24, 0)), '10.254.0.0/24');
  assert.equal(formatCidr(subnetAt(c('10.254.0.0/16'), 24, 255)), '10.254.255.0/24');
  assert.equal(formatCidr(subnetAt(c('10.128.0.0/14'), 23, 3)), '10.128.6.0/23');
});

test('random documents never crash the validator: a config or errors, each naming a file', () => {
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('10.254.0.0/16', '10.254.1.0/16', 'Full', 'OVNKubernetes', 'Network'));
  const keys = fc.constantFrom('apiVersion', 'kind', 'spec', 'networking', 'clusterNetwork', 'clusterNetworks', 'cidr', 'hostPrefix', 'serviceNetwork', 'defaultNetwork', 'ovnKubernetesConfig', 'ipsecConfig', 'mode', 'full', 'encapsulation', 'mtu', 'type', 'metadata', 'baseDomain', 'x');
  const tree = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 3 }), fc.dictionary(keys, tie('node'), { maxKeys: 5 })),
  })).node;
  fc.assert(
    fc.property(tree, tree, fc.option(fc.integer({ min: 0, max: 70000 })), (a, b, mtu) => {
      const docs = [
        { file: 'a.yaml', text: stringify(a) },
        { file: 'b.yml', text: stringify({ apiVersion: 'operator.openshift.io/v1', kind: 'Network', spec: b }) },
      ];
      const r = validateDocuments(docs, mtu === null ? {} : { underlayMtu: mtu });
      assert.ok(r.network !== undefined || r.errors.length > 0);
      for (const d of [...r.errors, ...r.warnings]) assert.ok(/^(a\.yaml|b\.yml|--underlay-mtu|--underlay-cidr): /.test(formatDiagnostic(d)), formatDiagnostic(d));
    }),
    { numRuns: 400 },
  );
  // Raw text that is not YAML at all.
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      const r = validateDocuments([{ file: 'x.yaml', text }]);
      assert.ok(r.network !== undefined || r.errors.length > 0);
    }),
    { numRuns: 300 },
  );
});

test('random bytes as a CSR are refused with a reason, never a crash', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.boolean(), async (bytes, wrap) => {
      const text = wrap ? `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(bytes).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n` : Buffer.from(bytes).toString('latin1');
      const r = await checkNodeCsr(text, '00000000-0000-4000-8000-000000000000');
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0);
    }),
    { numRuns: 300 },
  );
});
