import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { validateFiles, formatDiagnostic, checkTransition } from '../../src/config/index.js';
import { repoRoot, fixturesDir, cliPath } from '../helpers/paths.js';

// The seed's two files, shipped verbatim (secrets replaced by placeholders) in examples/.
const INSTALL = path.join(repoRoot, 'examples', 'install-config.yaml');
const NETWORK = path.join(repoRoot, 'examples', 'manifests', 'cluster-network-03-config.yml');
const fx = (name: string): string => path.join(fixturesDir, 'config', name);

test('the seed install-config.yaml and cluster-network-03-config.yml validate as written', async () => {
  const r = await validateFiles([INSTALL, NETWORK]);
  assert.deepEqual(r.errors, []);
  const n = r.network!;
  assert.deepEqual(n.clusterNetwork, [{ cidr: '10.254.0.0/16', hostPrefix: 24 }]);
  assert.deepEqual(n.serviceNetwork, ['172.30.0.0/16']);
  assert.equal(n.mtu, 1400);
  assert.deepEqual(n.ipsec, { mode: 'Full', encapsulation: 'Auto' }, 'ipsecConfig: {} means Full');
  assert.equal(n.clusterName, 'ocp4');
  assert.deepEqual(n.replicas, { controlPlane: 3, compute: 0 });
  // No underlay MTU known: 1400 + 146 does not fit an Ethernet underlay, so a warning (not an error).
  assert.equal(r.warnings.length, 1);
  assert.equal(
    formatDiagnostic(r.warnings[0]!),
    `${NETWORK}: spec.defaultNetwork.ovnKubernetesConfig.mtu: 1400 + 146 bytes of Geneve and ESP overhead needs an underlay MTU of at least 1546; the underlay MTU is not known (an Ethernet underlay of 1500 would not fit it) (check with --underlay-mtu N, or lower mtu to 1354)`,
  );
});

test('the seed MTU fits an underlay of 1546 exactly, and not one byte less', async () => {
  const ok = await validateFiles([INSTALL, NETWORK], { underlayMtu: 1546 });
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.warnings, []);
  const bad = await validateFiles([INSTALL, NETWORK], { underlayMtu: 1545 });
  assert.deepEqual(bad.errors.map(formatDiagnostic), [
    `${NETWORK}: spec.defaultNetwork.ovnKubernetesConfig.mtu: 1400 + 146 bytes of Geneve and ESP overhead exceeds the underlay MTU 1545 (lower mtu to at most 1399, or raise the underlay MTU to 1546)`,
  ]);
});

test('each file validates on its own too', async () => {
  for (const f of [INSTALL, NETWORK]) assert.deepEqual((await validateFiles([f])).errors, [], f);
});

test('later ipsecConfig forms: mode Full with encapsulation, Disabled, and absent', async () => {
  const always = await validateFiles([INSTALL, fx('network-full-always.yaml')]);
  assert.deepEqual(always.network?.ipsec, { mode: 'Full', encapsulation: 'Always' });
  const off = await validateFiles([INSTALL, fx('network-ipsec-disabled.yaml')], { underlayMtu: 1500 });
  assert.deepEqual(off.errors, [], 'without IPsec only Geneve overhead counts: 1400 + 100 fits 1500');
  const offTight = await validateFiles([INSTALL, fx('network-ipsec-disabled.yaml')], { underlayMtu: 1499 });
  assert.deepEqual(offTight.errors.map(formatDiagnostic), [
    `${fx('network-ipsec-disabled.yaml')}: spec.defaultNetwork.ovnKubernetesConfig.mtu: 1400 + 100 bytes of Geneve overhead exceeds the underlay MTU 1499 (lower mtu to at most 1399, or raise the underlay MTU to 1500)`,
  ]);
  assert.equal(off.network?.ipsec.mode, 'Disabled');
  const none = await validateFiles([INSTALL, fx('network-no-ipsec.yaml')]);
  assert.equal(none.network?.ipsec.mode, 'Disabled', 'no ipsecConfig: IPsec off, as in OpenShift');
});

/** Each broken variant with the one message it must produce (file, key path, problem, fix). */
const broken: { file: string; other: string; opts?: { underlayMtu?: number }; message: string }[] = [
  { file: 'install-prefix-33.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].cidr: prefix /33 in "10.254.0.0/33" is longer than 32 (write it as address/prefix, e.g. 10.128.0.0/14)' },
  { file: 'install-host-bits.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].cidr: "10.254.1.0/16" has host bits set (use 10.254.0.0/16)' },
  { file: 'install-bad-address.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].cidr: "10.254.0" in "10.254.0/16" is not an IPv4 address (write it as address/prefix, e.g. 10.128.0.0/14)' },
  { file: 'install-hostprefix-short.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].hostPrefix: /12 is larger than the cluster network 10.254.0.0/16 itself (use a hostPrefix between 16 and 29, e.g. 24)' },
  { file: 'install-hostprefix-long.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].hostPrefix: /31 leaves a node fewer than 8 addresses (gateway, management port and pods need more) (use a hostPrefix of at most 29; OpenShift uses 23)' },
  { file: 'install-hostprefix-missing.yaml', other: NETWORK, message: 'networking.clusterNetworks[0].hostPrefix: missing: every cluster network needs the size of the per-node subnet (add hostPrefix, e.g. 24)' },
  { file: 'install-service-overlap.yaml', other: NETWORK, message: 'networking.serviceNetwork[0]: service network 10.254.128.0/17 overlaps cluster network 10.254.0.0/16 (networking.clusterNetworks[0].cidr) (choose a range for the service network that does not overlap 10.254.0.0/16)' },
  { file: 'install-machine-overlap.yaml', other: NETWORK, message: 'networking.machineNetwork[0].cidr: machine (underlay) network 10.254.7.0/24 overlaps cluster network 10.254.0.0/16 (networking.clusterNetworks[0].cidr) (choose a range for the machine (underlay) network that does not overlap 10.254.0.0/16)' },
  { file: 'install-join-overlap.yaml', other: NETWORK, message: "networking.serviceNetwork[0]: service network 100.64.0.0/20 overlaps OVN's internal join network 100.64.0.0/16 (choose a range outside 100.64.0.0/16)" },
  { file: 'install-sdn.yaml', other: NETWORK, message: 'networking.networkType: "OpenShiftSDN" cannot carry IPsec here (set networkType: OVNKubernetes)' },
  { file: 'install-too-few-subnets.yaml', other: NETWORK, message: 'networking.clusterNetwork: room for 4 node subnets but 5 machines are asked for (use a larger cidr or a longer hostPrefix)' },
  { file: 'network-mtu-low.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.mtu: 500 is below the minimum pod MTU 576 (use at least 576)' },
  { file: 'network-mtu-string.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.mtu: expected an integer MTU in bytes such as 1400, got "1400" (correct spec.defaultNetwork.ovnKubernetesConfig.mtu)' },
  { file: 'network-mode-case.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig.mode: "full" is not an IPsec mode (write Full; the modes are case-sensitive)' },
  { file: 'network-full-with-external.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig.mode: External (IPsec only for traffic leaving the cluster) is not supported (use Full or Disabled)' },
  { file: 'network-external.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig.mode: External (IPsec only for traffic leaving the cluster) is not supported (use Full or Disabled)' },
  { file: 'network-disabled-with-full.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig.full: full settings given with mode "Disabled" (set mode: Full or remove full)' },
  { file: 'network-encapsulation.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.ipsecConfig.full.encapsulation: "Sometimes" is not an encapsulation (use Always or Auto)' },
  { file: 'network-geneve-port.yaml', other: INSTALL, message: 'spec.defaultNetwork.ovnKubernetesConfig.genevePort: 4500 is taken by IKE and ESP-in-UDP (use 6081, the Geneve port)' },
  { file: 'network-yaml-indent.yaml', other: INSTALL, message: 'spec.ovnKubernetesConfig.ipsecConfig: ipsecConfig is not read here, so IPsec would be off (move it under spec.defaultNetwork.ovnKubernetesConfig; check the indentation)' },
  { file: 'network-duplicate-key.yaml', other: INSTALL, message: 'line 10 column 5: YAML syntax error: Map keys must be unique (fix the YAML syntax at that place)' },
  { file: 'network-wrong-kind.yaml', other: INSTALL, message: 'kind: kind "ConfigMap" is not a cluster network manifest (use kind: Network with apiVersion: operator.openshift.io/v1)' },
];

for (const b of broken) {
  test(`broken variant ${b.file} fails with a precise message`, async () => {
    const r = await validateFiles([fx(b.file), b.other], b.opts ?? {});
    assert.equal(r.network, undefined);
    assert.deepEqual(r.errors.map(formatDiagnostic), [`${fx(b.file)}: ${b.message}`]);
  });
}

test('an unknown key is a warning with a spelling hint, not an error', async () => {
  const r = await validateFiles([fx('install-unknown-key.yaml'), NETWORK], { underlayMtu: 1546 });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings.map(formatDiagnostic), [`${fx('install-unknown-key.yaml')}: baseDomian: unknown key "baseDomian" is ignored (did you mean "baseDomain"?)`]);
});

test('an underlay flag network overlapping the cluster network is an error naming the flag', async () => {
  const r = await validateFiles([INSTALL, NETWORK], { underlayCidrs: ['10.254.9.0/24'] });
  assert.deepEqual(r.errors.map(formatDiagnostic), [
    '--underlay-cidr: 10.254.9.0/24: underlay network 10.254.9.0/24 overlaps cluster network 10.254.0.0/16 (' + INSTALL + ' networking.clusterNetworks[0].cidr) (choose a range for the underlay network that does not overlap 10.254.0.0/16)',
  ]);
});

test('a running cluster may switch IPsec either way; a key that cannot change at run time is refused, naming it', async () => {
  const installed = (await validateFiles([INSTALL, NETWORK])).network!;
  for (const f of ['network-ipsec-disabled.yaml', 'network-no-ipsec.yaml']) {
    const off = (await validateFiles([INSTALL, fx(f)])).network!;
    assert.equal(off.ipsec.mode, 'Disabled', f);
    assert.deepEqual(checkTransition(installed, off), [], f);
    assert.deepEqual(checkTransition(off, installed), [], f);
  }
  assert.deepEqual(checkTransition(installed, (await validateFiles([INSTALL, fx('network-full-always.yaml')])).network!), []);
  const moved = { ...installed, mtu: 1300, clusterNetwork: [{ cidr: '10.250.0.0/16', hostPrefix: 24 }] };
  assert.deepEqual(checkTransition(installed, moved).map(formatDiagnostic), [
    `${INSTALL}: networking.clusterNetwork: [{"cidr":"10.250.0.0/16","hostPrefix":24}] differs from the installed [{"cidr":"10.254.0.0/16","hostPrefix":24}] and cannot change at run time (node subnets are allocated from it) (keep [{"cidr":"10.254.0.0/16","hostPrefix":24}])`,
    `${NETWORK}: spec.defaultNetwork.ovnKubernetesConfig.mtu: 1300 differs from the installed 1400 and cannot change at run time (every pod and TUN was set up with it) (keep 1400)`,
  ]);
});

test('config validate CLI: exit 0 with the warning on stderr; exit 2 with the message for a broken file', () => {
  const ok = spawnSync(process.execPath, [cliPath, 'config', 'validate', INSTALL, NETWORK], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /warning: .*mtu: 1400 \+ 146 bytes of Geneve and ESP overhead needs an underlay MTU of at least 1546/);
  assert.match(ok.stdout, /IPsec Full/);
  const strict = spawnSync(process.execPath, [cliPath, 'config', 'validate', '--underlay-mtu', '1500', INSTALL, NETWORK], { encoding: 'utf8' });
  assert.equal(strict.status, 2);
  assert.equal(
    strict.stderr.trim(),
    `overlay-ipsec: ${NETWORK}: spec.defaultNetwork.ovnKubernetesConfig.mtu: 1400 + 146 bytes of Geneve and ESP overhead exceeds the underlay MTU 1500 (lower mtu to at most 1354, or raise the underlay MTU to 1546)`,
  );
  const bad = spawnSync(process.execPath, [cliPath, 'config', 'validate', fx('install-host-bits.yaml')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /install-host-bits\.yaml: networking\.clusterNetworks\[0\]\.cidr: "10\.254\.1\.0\/16" has host bits set \(use 10\.254\.0\.0\/16\)/);
  const missing = spawnSync(process.execPath, [cliPath, 'config', 'validate', '/nonexistent/x.yaml'], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /\/nonexistent\/x\.yaml: \(top level\): cannot read the config file: no such file \(check the path\)/);
});
