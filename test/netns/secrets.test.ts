import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IPSEC_CONFIGS, NODE, ask, inNs, socketOf, startCluster, stopCluster, waitReady, type Cluster } from '../helpers/agent-cluster.js';
import { SeqStream } from '../helpers/seq-stream.js';
import { listNamespaces } from '../../src/cluster/topology-netns.js';
import { nodeDir } from '../../src/store/index.js';

// Privilege and secrets beyond agent-cluster's checks (node key and agent.sock 0600, no SPI or
// PEM in the metrics): the operator's CA keys, key logs only where asked and 0600, not one byte
// of SA key material in anything else the cluster writes or serves, and the control socket
// closed to an unprivileged user.

const PREFIX = 'oif-sc';

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

test('secrets: CA keys 0600, key logs only when asked (0600), no SA key anywhere else, control socket closed to others', { timeout: 120_000 }, async (t) => {
  let c: Cluster | undefined;
  let stream: SeqStream | undefined;
  const keylog = mkdtempSync(path.join(tmpdir(), 'oif-sc-keylog-'));
  t.after(async () => {
    stream?.kill();
    await stopCluster(c);
    rmSync(keylog, { recursive: true, force: true });
  });
  c = await startCluster({
    prefix: PREFIX, configs: IPSEC_CONFIGS, masters: 1, workers: 1, agentArgs: ['--metrics-port', '9101'],
    argsFor: (n) => (n === 'master0' ? ['--keylog', keylog] : []),
  });
  const cl = c;
  await waitReady(cl);
  const [m0, w0] = cl.plan.nodes as [typeof cl.plan.nodes[0], typeof cl.plan.nodes[0]];
  // Traffic, a child rekey and an IKE rekey, so that several generations of keys exist.
  stream = await SeqStream.start(m0.pods[0]!, w0.pods[0]!, 500);
  await stream.flowing(100);
  const conn = Object.keys((await ask(cl, m0.name, { cmd: 'ipsec/status' })).status as object)[0]!;
  await ask(cl, m0.name, { cmd: 'rekey', conn, child: `${conn}-in-1` });
  await ask(cl, m0.name, { cmd: 'rekey', conn });
  await stream.flowing(200);
  await stream.stop();
  stream = undefined;

  // Key logs: where asked, 0600, and holding the keys; nowhere else.
  const logs = files(keylog).filter((f) => /esp_sa$|ikev2_decryption_table$/.test(f));
  assert.deepEqual(logs.map((f) => path.basename(f)).sort(), ['esp_sa', 'ikev2_decryption_table']);
  for (const f of logs) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  const keys = new Set<string>();
  for (const f of logs) for (const m of readFileSync(f, 'utf8').matchAll(/"(?:0x)?([0-9a-f]{40,})"/g)) keys.add(m[1]!);
  assert.ok(keys.size >= 6, `the key logs hold ESP and IKE keys (${keys.size})`);
  const state = files(cl.stateDir);
  assert.deepEqual(state.filter((f) => /esp_sa|ikev2_decryption_table/.test(path.basename(f))), [], 'no key log where none was asked for');

  // Not one key in anything else: store documents, node directories, logs, status, metrics.
  const served: [string, string][] = [];
  for (const n of cl.plan.nodes) {
    for (const cmd of ['status', 'tunnels/show', 'ipsec/status', 'agent/state']) served.push([`${n.name} ${cmd}`, JSON.stringify(await ask(cl, n.name, { cmd }))]);
    served.push([`${n.name} metrics`, inNs(n.netns, [NODE, '-e', `fetch('http://${n.underlayIp}:9101/metrics').then(r => r.text()).then(t => process.stdout.write(t))`]).stdout]);
    served.push([`${n.name} agent stderr`, (cl.stderr.get(n.name) ?? []).join('\n')]);
  }
  served.push(['operator stderr', (cl.stderr.get('operator') ?? []).join('\n')]);
  for (const f of state) served.push([f, readFileSync(f).toString('latin1')]);
  for (const [what, text] of served) {
    const low = text.toLowerCase();
    for (const k of keys) assert.ok(!low.includes(k), `${what} holds key material ${k.slice(0, 12)}…`);
    // Key hex could also appear in another encoding; base64 of the key bytes covers the rest.
    for (const k of keys) assert.ok(!text.includes(Buffer.from(k, 'hex').toString('base64')), `${what} holds key material (base64)`);
  }
  assert.ok(served.some(([w, s]) => w.endsWith('metrics') && s.includes('overlay_ipsec_sas')), 'the metrics were fetched');

  // Private keys: the node's (0600, checked in agent-cluster too) never leaves its node directory;
  // the operator's CA keys are 0600 in a 0700 directory.
  const caDir = path.join(cl.stateDir, 'operator', 'ca');
  assert.equal(statSync(caDir).mode & 0o777, 0o700);
  const caKeys = readdirSync(caDir).filter((n) => n.endsWith('.key'));
  assert.ok(caKeys.length >= 1);
  for (const k of caKeys) assert.equal(statSync(path.join(caDir, k)).mode & 0o777, 0o600, k);
  for (const f of state.filter((x) => readFileSync(x, 'latin1').includes('PRIVATE KEY'))) {
    const inNodeDir = cl.plan.nodes.some((n) => f === path.join(nodeDir(cl.stateDir, n.name), 'ipsec-privkey.pem'));
    assert.ok(inNodeDir || f.startsWith(caDir + path.sep), `a private key outside its owner's place: ${f}`);
    assert.equal(statSync(f).mode & 0o777, 0o600, f);
  }

  // The control socket (0600) refuses an unprivileged user.
  const sock = socketOf(cl, m0.name);
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', NODE, '-e',
    `require('net').connect(${JSON.stringify(sock)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(asNobody.stdout.trim(), 'EACCES', `an unprivileged user cannot use the control socket: ${asNobody.stdout}${asNobody.stderr}`);
  t.diagnostic(`${keys.size} keys from the key log searched for in ${served.length} files and answers: none found`);
});

test('teardown leaves no namespace behind', async () => {
  assert.deepEqual(await listNamespaces(PREFIX), []);
});
