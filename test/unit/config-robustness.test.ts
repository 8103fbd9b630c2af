import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { validateDocuments, formatDiagnostic } from '../../src/config/index.js';
import { checkNodeCsr } from '../../src/pki/csr.js';

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
