import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../helpers/netns.js';
import { fixturesDir, repoRoot } from '../helpers/paths.js';
import { addNodeToPlan } from '../../src/cluster/topology.js';
import { buildNode, listNamespaces } from '../../src/cluster/topology-netns.js';
import { nodeDir } from '../../src/store/index.js';
import { tunnelName } from '../../src/overlay/tunnel-name.js';
import type { TunnelShow, StatusJson, AgentState } from '../../src/agent/index.js';
import { controlRequest } from '../../src/host/control-client.js';
import { SeqStream } from '../helpers/seq-stream.js';
import {
  IPSEC_CONFIGS, NODE, agentState, classify, cli, clusterDiagnostics, inNs, killHard, startAgent, startCapture, startCluster,
  stopCapture, stopCluster, stopProcess, waitReady, type Cluster,
} from '../helpers/agent-cluster.js';

// The product end to end on three netns nodes (2 masters, 1 worker, 2 pods each): the operator
// and one `overlay-ipsec agent` per node namespace, started as a user would. With IPsec on, every
// pod reaches a pod on every other node and the underlay carries only IKE and ESP-in-UDP; with
// ipsecConfig Disabled the same pods talk over cleartext Geneve (the seed's §5.2).

const PREFIX = 'oit-ag';

/** Every pod pings one pod on every other node (2 echo requests each); returns how many ping runs involved master0. */
function pingAll(c: Cluster): number {
  let n = 0;
  let viaFirst = 0;
  for (const a of c.plan.nodes) {
    for (const b of c.plan.nodes) {
      if (a === b) continue;
      for (const src of a.pods) {
        const dst = b.pods[(n++) % b.pods.length]!;
        if (a === c.plan.nodes[0] || b === c.plan.nodes[0]) viaFirst++;
        const ping = inNs(src.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', dst.ip]);
        assert.equal(ping.status, 0, `ping ${src.name} → ${dst.name} (${dst.ip}):\n${ping.stdout}${ping.stderr}`);
        assert.match(ping.stdout, / 0% packet loss/, `ping ${src.name} → ${dst.name} (${dst.ip}):\n${ping.stdout}`);
      }
    }
  }
  return viaFirst;
}

test('agents with IPsec: tunnels come up, pods talk across nodes, the underlay carries only IKE and ESP', { timeout: 90_000 }, async (t) => {
  let c: Cluster | undefined;
  let capture: ChildProcess | undefined;
  t.after(async () => {
    capture?.kill('SIGKILL');
    await stopCluster(c);
  });
  const t0 = Date.now();
  // Strict from the first packet: a capture and a pod pinging across nodes while the agents start
  // and negotiate; nothing of it may leave as cleartext Geneve.
  let earlyCapture: ChildProcess | undefined;
  let earlyPing: ChildProcess | undefined;
  let earlyPcap = '';
  t.after(() => {
    earlyCapture?.kill('SIGKILL');
    earlyPing?.kill('SIGKILL');
  });
  c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS, agentArgs: ['--metrics-port', '9101'], beforeAgents: async (x) => {
    earlyPcap = path.join(x.stateDir, 'startup.pcap');
    earlyCapture = await startCapture(x, earlyPcap);
    const [m0, , w0] = x.plan.nodes;
    earlyPing = spawn('ip', ['netns', 'exec', m0!.pods[0]!.netns, 'ping', '-i', '0.2', '-W', '1', w0!.pods[0]!.ip], { stdio: 'ignore' });
  } });
  const cl = c;
  const startedMs = Date.now() - t0;
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.ready === true), 'every agent ready (all tunnels established)', 30_000, 200)
    .catch((err: Error) => {
      throw new Error(`${err.message}\n${cl.plan.nodes.map((n) => `${n.name}: ${JSON.stringify(agentState(cl, n.name))}\n${(cl.stderr.get(n.name) ?? []).slice(-8).join('\n')}`).join('\n')}`);
    });
  const upMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  earlyPing!.kill('SIGTERM');
  await stopCapture(cl, earlyCapture!, earlyPcap);
  earlyCapture = undefined;
  const early = classify(cl, earlyPcap);
  assert.equal(early.geneve, 0, `no cleartext Geneve while SAs were negotiated: ${JSON.stringify(early)}`);
  assert.ok(early.ike > 0 && early.esp > 0, `IKE, then the background ping in ESP: ${JSON.stringify(early)}`);
  t.diagnostic(`cluster built and agents started in ${startedMs} ms; all tunnels up after ${upMs} ms`);
  // The pod TUN's queue toward the agent is long enough to ride out a busy moment.
  for (const n of cl.plan.nodes) assert.match(inNs(n.netns, ['ip', '-o', 'link', 'show', 'ovn-k8s-tun0']).stdout, /qlen 4096/, n.name);

  const pcap = path.join(cl.stateDir, 'underlay.pcap');
  capture = await startCapture(cl, pcap);
  const pings = pingAll(cl);
  await stopCapture(cl, capture, pcap);
  capture = undefined;
  const classes = classify(cl, pcap);
  assert.equal(classes.geneve, 0, `no cleartext Geneve on the underlay: ${JSON.stringify(classes)}`);
  assert.equal(classes.esp, pings * 4, `ESP-in-UDP carried the pings (2 requests, 2 replies per ping run): ${JSON.stringify(classes)} for ${pings} ping runs`);

  // Every node: tunnels show with the seed's fields and live values.
  const ids = Object.fromEntries(cl.plan.nodes.map((n) => [n.name, agentState(cl, n.name)!.system_id!]));
  const ask = async (node: string, cmd: string): Promise<Record<string, unknown>> => {
    const res = await controlRequest(path.join(nodeDir(cl.stateDir, node), 'agent.sock'), { cmd });
    assert.ok(res.ok, JSON.stringify(res));
    return res;
  };
  // master0 through the CLI as a user types it, the others straight on their control sockets.
  const first0 = cl.plan.nodes[0]!.name;
  const viaCli = cli(['tunnels', 'show', '--node', first0, '--state-dir', cl.stateDir, '--json']);
  assert.equal(viaCli.status, 0, viaCli.stderr);
  const statusCli = cli(['ipsec', 'status', '--node', first0, '--state-dir', cl.stateDir, '--json']);
  assert.equal(statusCli.status, 0, statusCli.stderr);
  const textCli = cli(['tunnels', 'show', '--node', first0, '--state-dir', cl.stateDir]);
  const linesCli = cli(['ipsec', 'status', '--node', first0, '--state-dir', cl.stateDir]);
  for (const n of cl.plan.nodes) {
    const isFirst = n.name === first0;
    const tunnels = (isFirst ? JSON.parse(viaCli.stdout) : (await ask(n.name, 'tunnels/show')).tunnels) as TunnelShow[];
    const peers = cl.plan.nodes.filter((p) => p !== n);
    assert.deepEqual(tunnels.map((x) => x.interface).sort(), peers.map((p) => tunnelName(ids[p.name]!)).sort());
    for (const tun of tunnels) {
      const peer = peers.find((p) => p.underlayIp === tun.remote_ip)!;
      assert.equal(tun.state, 'CONFIGURED');
      assert.equal(tun.tunnel_type, 'geneve');
      assert.equal(tun.local_ip, n.underlayIp);
      assert.equal(tun.local_name, ids[n.name]);
      assert.equal(tun.remote_name, ids[peer.name]);
      assert.equal(tun.local_cert, path.join(nodeDir(cl.stateDir, n.name), 'ipsec-cert.pem'));
      assert.equal(tun.ca_cert, path.join(nodeDir(cl.stateDir, n.name), 'ipsec-cacert.pem'));
      assert.ok(tun.established, JSON.stringify(tun));
      assert.ok(tun.kernel_policies.includes(`src ${n.underlayIp}/32 dst ${peer.underlayIp}/32 proto udp dport 6081`), tun.kernel_policies.join('\n'));
      assert.ok(tun.kernel_sas.includes(`sel src ${peer.underlayIp}/32 dst ${n.underlayIp}/32 proto udp dport 6081`), tun.kernel_sas.join('\n'));
      const conns = tun.active.map((a) => a.conn).sort();
      assert.deepEqual(conns, [`${tun.interface}-in-1`, `${tun.interface}-out-1`]);
      const inn = tun.active.find((a) => a.conn.endsWith('-in-1'))!;
      const out = tun.active.find((a) => a.conn.endsWith('-out-1'))!;
      assert.ok(inn.bytes_in > 0 && out.bytes_out > 0, `traffic in on -in-1 and out on -out-1: ${inn.line} / ${out.line}`);
      assert.match(out.line, new RegExp(`^000 #\\d+: "${tun.interface}-out-1" esp\\.[0-9a-f]+@${peer.underlayIp.replace(/\./g, '\\.')} esp\\.[0-9a-f]+@${n.underlayIp.replace(/\./g, '\\.')} Traffic: ESPin=\\d+[KM]?B ESPout=\\d+[KM]?B! ESPmax=0B$`));
    }
    const text = { stdout: isFirst ? textCli.stdout : String((await ask(n.name, 'tunnels/show')).text) };
    for (const field of ['Interface name: ovn-', 'Tunnel Type:    geneve', 'Local IP:', 'Remote IP:', 'Address Family: IPv4', 'SKB mark:       None', 'Local cert:', 'Local name:', 'Local key:', 'Remote cert:    None', 'Remote name:', 'CA cert:', 'PSK:            None', 'Ofport:', 'CFM state:      Disabled', 'Kernel policies installed:', 'Kernel security associations installed:', 'IPsec connections that are active:']) {
      assert.ok(text.stdout.includes(field), `tunnels show has "${field}":\n${text.stdout}`);
    }
    const status = (isFirst ? JSON.parse(statusCli.stdout) : (await ask(n.name, 'status')).status) as StatusJson;
    if (isFirst) t.diagnostic(`master0 outbound drops (packets held back, never sent in clear): ${JSON.stringify(status.outbound_drops)}`);
    assert.equal(status.ike_sas.filter((s) => s.state === 'STATE_V2_ESTABLISHED_IKE_SA').length, peers.length);
    for (const s of status.ike_sas) {
      assert.equal(s.proposal, 'AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048');
      assert.ok(s.children.length >= 2);
      // The newest child of each name carries the traffic (an older duplicate may linger briefly).
      const newest = [...new Map([...s.children].sort((a, b) => a.serial - b.serial).map((ch) => [ch.name, ch])).values()];
      assert.equal(newest.length, 2);
      for (const ch of newest) {
        assert.equal(ch.mode, 'transport');
        assert.match(ch.spi_in, /^0x[0-9a-f]{8}$/);
        assert.ok(ch.bytes_in + ch.bytes_out > 0, JSON.stringify(ch));
      }
    }
    const lines = isFirst ? linesCli.stdout : String((await ask(n.name, 'status')).text);
    const dict = (await ask(n.name, 'ipsec/status'));
    assert.deepEqual(Object.keys(dict.status as object).sort(), tunnels.map((x) => x.interface).sort());
    assert.match(String(dict.text), /^\{'ovn-[0-9a-f]{6}-0': \{'ovn-[0-9a-f]{6}-0-in-1': '000 #\d+: "ovn-[0-9a-f]{6}-0-in-1" esp\./);
    assert.match(lines, /000 #\d+: "ovn-[0-9a-f]{6}-0-(in|out)-1":500 STATE_V2_ESTABLISHED_CHILD_SA \(IPsec SA established\); EVENT_SA_REKEY in \d+s; newest IPSEC; eroute owner; isakmp#\d+; idle;/);
    const log = readFileSync(path.join(nodeDir(cl.stateDir, n.name), 'libreswan.log'), 'utf8');
    assert.match(log, /^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}\.\d{6}: "ovn-[0-9a-f]{6}-0-(in|out)-1" #\d+: IPsec SA established transport mode \{ESPinUDP=>0x[0-9a-f]{8} <0x[0-9a-f]{8} xfrm=AES_GCM_16_256-NONE(-MODP2048)? /m);
    const key = statSync(path.join(nodeDir(cl.stateDir, n.name), 'ipsec-privkey.pem'));
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(statSync(path.join(nodeDir(cl.stateDir, n.name), 'agent.sock')).mode & 0o777, 0o600);
  }
  // Metrics from inside a node namespace (the endpoint listens on the node's underlay address).
  const m0 = cl.plan.nodes[0]!;
  const metrics = inNs(m0.netns, [NODE, '-e', `fetch('http://${m0.underlayIp}:9101/metrics').then(r => r.text()).then(t => process.stdout.write(t))`]);
  assert.match(metrics.stdout, /overlay_ipsec_sas\{tunnel="ovn-[0-9a-f]{6}-0",kind="child",state="installed"\} [1-9]/);
  assert.match(metrics.stdout, /overlay_ipsec_esp_bytes_total\{[^}]*direction="out"\} [1-9]/);
  assert.match(metrics.stdout, /overlay_ipsec_certificate_expiry_seconds \d{9}/);
  // Nothing secret or identifying an SA: no keys, no SPIs.
  assert.doesNotMatch(metrics.stdout, /PRIVATE KEY|0x[0-9a-f]{8}|esp\.[0-9a-f]+@/);

  // A node leaves: its agent stops cleanly (exit 0, socket removed, DELETEs seen by the peers), its
  // record goes from the store, and the others drop the tunnel and its SAs.
  const leaving = cl.plan.nodes[2]!;
  const sockets = cl.plan.nodes.map((n) => path.join(nodeDir(cl.stateDir, n.name), 'agent.sock'));
  assert.equal(await stopProcess(cl.agents.get(leaving.name)!), 0, (cl.stderr.get(leaving.name) ?? []).slice(-5).join('\n'));
  assert.equal(existsSync(sockets[2]!), false, 'socket file removed');
  assert.notEqual(inNs(leaving.netns, ['ip', 'link', 'show', 'ovn-k8s-tun0']).status, 0, 'the TUN went with the agent');
  assert.equal(inNs(leaving.netns, ['ss', '-Hlun', 'sport = :4500 or sport = :500']).stdout.trim(), '', 'UDP 500/4500 closed');
  const logOf = (n: string): string => readFileSync(path.join(nodeDir(cl.stateDir, n), 'libreswan.log'), 'utf8');
  await waitFor(() => logOf(first0).includes(`"${tunnelName(ids[leaving.name]!)}"`) && /IKE SA deleted/.test(logOf(first0)), 'the peer saw the DELETE', 5000);
  // Taken out of the cluster as an administrator does it: every record of the node goes.
  const removed = cli(['node', 'remove', leaving.name, '--state-dir', cl.stateDir, '--json']);
  assert.equal(removed.status, 0, removed.stderr);
  const report = JSON.parse(removed.stdout) as { node: string; registration: boolean; certificate: boolean };
  assert.deepEqual([report.node, report.registration, report.certificate], [leaving.name, true, true]);
  await waitFor(async () => {
    const st = (await ask(first0, 'agent/state')).state as AgentState;
    return st.peers === 1 && st.tunnels === 1 && st.ready;
  }, 'master0 dropped the tunnel to the node that left', 10_000);
  // The state follows the plan; the per-peer sync that deletes the departed peer's connection and
  // any half-open SA to it (re-initiated after its DELETE, before its record went) runs after it.
  const remaining = [tunnelName(ids[cl.plan.nodes[1]!.name]!)];
  let names: string[] = [];
  await waitFor(async () => {
    names = ((await ask(first0, 'status')).status as StatusJson).ike_sas.map((s) => s.name);
    return names.length === 1;
  }, 'master0 dropped the IKE SAs to the node that left', 10_000).catch(() => {});
  assert.deepEqual(names, remaining);
  for (const n of cl.plan.nodes.slice(0, 2)) assert.equal(await stopProcess(cl.agents.get(n.name)!), 0);
  assert.ok(sockets.every((s) => !existsSync(s)));
  t.diagnostic(`up in ${upMs} ms; start-up capture ${JSON.stringify(early)}; ${pings} pings; underlay ${JSON.stringify(classes)}`);
});

test('agents with ipsecConfig Disabled: the same pods talk over cleartext Geneve (the seed\'s §5.2)', { timeout: 90_000 }, async (t) => {
  let c: Cluster | undefined;
  let capture: ChildProcess | undefined;
  t.after(async () => {
    capture?.kill('SIGKILL');
    await stopCluster(c);
  });
  c = await startCluster({ prefix: PREFIX, configs: [path.join(repoRoot, 'examples', 'install-config.yaml'), path.join(fixturesDir, 'config', 'network-ipsec-disabled.yaml')] });
  const cl = c;
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.ready === true), 'every agent ready', 30_000, 200)
    .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(cl)}`); });
  const pcap = path.join(cl.stateDir, 'underlay.pcap');
  capture = await startCapture(cl, pcap);
  const pings = pingAll(cl);
  await stopCapture(cl, capture, pcap);
  capture = undefined;
  const classes = classify(cl, pcap);
  assert.equal(classes.esp + classes.ike, 0, JSON.stringify(classes));
  assert.equal(classes.geneve, pings * 4, `cleartext Geneve carried the pings: ${JSON.stringify(classes)} for ${pings} ping runs`);
  const text = spawnSync('tcpdump', ['-r', pcap, '-n', '-c', '3', 'udp port 6081'], { encoding: 'utf8' });
  assert.match(text.stdout, /\.6081: Geneve, Flags \[C\], vni 0x[0-9a-f]+, options \[8 bytes\]: IP 10\.254\./);
  const r = cli(['tunnels', 'show', '--node', cl.plan.nodes[0]!.name, '--state-dir', cl.stateDir, '--json']);
  const tunnels = JSON.parse(r.stdout) as TunnelShow[];
  assert.equal(tunnels.length, 2);
  assert.ok(tunnels.every((x) => x.local_cert === 'None' && x.active.length === 0 && x.counters.packets_out > 0));
  for (const a of cl.agents.values()) assert.equal(await stopProcess(a), 0);
  t.diagnostic(`${pings} pings; underlay ${JSON.stringify(classes)}`);
});

test('kill -9 one agent: after its restart the tunnels are re-established and pods talk again', { timeout: 90_000 }, async (t) => {
  let c: Cluster | undefined;
  let stream: SeqStream | undefined;
  t.after(async () => {
    stream?.kill();
    await stopCluster(c);
  });
  c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS });
  const cl = c;
  await waitFor(() => cl.plan.nodes.every((n) => agentState(cl, n.name)?.ready === true), 'every agent ready', 30_000, 200)
    .catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(cl)}`); });
  const victim = cl.plan.nodes[1]!;
  // A stream into a pod of the victim node measures the outage as the pods see it.
  stream = await SeqStream.start(cl.plan.nodes[0]!.pods[0]!, victim.pods[0]!, 1000);
  await stream.flowing();
  await killHard(cl.agents.get(victim.name)!);
  const t0 = Date.now();
  const a = startAgent(cl, victim.name, { tag: `${victim.name}-2` });
  await waitFor(() => agentState(cl, victim.name)?.pid === a.pid && agentState(cl, victim.name)?.ready === true, 'the restarted agent ready', 40_000, 200)
    .catch((err: Error) => {
      const logs = cl.plan.nodes.map((n) => `--- ${n.name} libreswan.log\n${readFileSync(path.join(nodeDir(cl.stateDir, n.name), 'libreswan.log'), 'utf8').split('\n').slice(-15).join('\n')}`);
      throw new Error(`${err.message}\n${JSON.stringify(agentState(cl, victim.name))}\n${(cl.stderr.get(`${victim.name}-2`) ?? []).slice(-10).join('\n')}\n${logs.join('\n')}`);
    });
  const recoverMs = Date.now() - t0;
  await stream.flowing(200, 30_000);
  const flowMs = Date.now() - t0;
  const res = await stream.stop();
  stream = undefined;
  // The outage is bounded: the stream's longest silence covers the kill, the restart and the new
  // SAs. The restarted node initiates at once in either role (as the pair's responder on the
  // stream's ESP for SPIs it lost), so no grace period is in it.
  assert.ok(res.longestSilenceMs < 10_000, `outage ${res.longestSilenceMs} ms`);
  // Pods on the restarted node and on the others reach each other again.
  for (const other of cl.plan.nodes.filter((n) => n !== victim)) {
    for (const [from, to] of [[victim.pods[0]!, other.pods[0]!], [other.pods[1]!, victim.pods[1]!]] as const) {
      const ping = inNs(from.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', to.ip]);
      assert.equal(ping.status, 0, `ping ${from.name} → ${to.name} after the restart:\n${ping.stdout}`);
    }
  }
  // The peers hold one IKE SA to the restarted node: the old one went with INITIAL_CONTACT.
  const victimTunnel = tunnelName(agentState(cl, victim.name)!.system_id!);
  for (const other of cl.plan.nodes.filter((n) => n !== victim)) {
    const res = await controlRequest(path.join(nodeDir(cl.stateDir, other.name), 'agent.sock'), { cmd: 'status' });
    assert.ok(res.ok);
    const sas = (res.status as StatusJson).ike_sas.filter((s) => s.name === victimTunnel);
    assert.equal(sas.length, 1, JSON.stringify(sas.map((s) => [s.state, s.spi_i])));
    assert.equal(sas[0]!.state, 'STATE_V2_ESTABLISHED_IKE_SA');
  }
  for (const p of cl.agents.values()) assert.equal(await stopProcess(p), 0);
  t.diagnostic(`kill -9 + restart under a ${res.pps} pps stream: tunnels up again ${recoverMs} ms after the restart, stream flowing after ${flowMs} ms; sent ${res.sent}, lost ${res.lost}, longest silence ${res.longestSilenceMs} ms`);
});

test('a node joins a running cluster: every agent adds a tunnel to it and its pods reach every node', { timeout: 120_000 }, async (t) => {
  let c: Cluster | undefined;
  t.after(async () => {
    await stopCluster(c);
  });
  c = await startCluster({ prefix: PREFIX, configs: IPSEC_CONFIGS });
  const cl = c;
  await waitReady(cl);
  const before = cl.plan.nodes.length;
  // The newcomer is planned in the next free underlay address and pod subnet, which is also the
  // lowest subnet the operator has left: its agent registers and enrolls by itself, as on a real
  // node that boots into the cluster.
  const joining = addNodeToPlan(cl.plan, { name: 'worker1', role: 'worker', pods: 2 });
  await buildNode(cl.plan, joining);
  const t0 = Date.now();
  startAgent(cl, joining.name);
  await waitFor(
    () => cl.plan.nodes.every((n) => { const s = agentState(cl, n.name); return s?.ready === true && s.peers === before && s.tunnels === before; }),
    'every agent ready with a tunnel to every other node, the newcomer included', 40_000, 200,
  ).catch((err: Error) => { throw new Error(`${err.message}\n${clusterDiagnostics(cl)}`); });
  const joinMs = Date.now() - t0;
  const sysId = agentState(cl, joining.name)!.system_id!;
  const newTunnel = tunnelName(sysId);
  for (const n of cl.plan.nodes.filter((x) => x !== joining)) {
    // Each old node shows the new tunnel the seed's way, with its -in-1/-out-1 children established.
    const r = cli(['tunnels', 'show', '--node', n.name, '--state-dir', cl.stateDir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const tunnels = JSON.parse(r.stdout) as TunnelShow[];
    const tun = tunnels.find((x) => x.interface === newTunnel);
    assert.ok(tun, `${n.name} has ${newTunnel}: ${tunnels.map((x) => x.interface).join(', ')}`);
    assert.equal(tun.remote_ip, joining.underlayIp);
    assert.equal(tun.remote_name, sysId);
    assert.ok(tun.kernel_policies.includes(`src ${n.underlayIp}/32 dst ${joining.underlayIp}/32 proto udp dport 6081`), tun.kernel_policies.join('\n'));
    assert.ok(tun.active.length >= 2, `${n.name}: active connections to the newcomer: ${JSON.stringify(tun.active)}`);
    // Its pods and the newcomer's reach each other both ways.
    for (const [from, to] of [[joining.pods[0]!, n.pods[0]!], [n.pods[1]!, joining.pods[1]!]] as const) {
      const ping = inNs(from.netns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', to.ip]);
      assert.equal(ping.status, 0, `ping ${from.name} → ${to.name} (${to.ip}) after the join:\n${ping.stdout}${ping.stderr}`);
    }
  }
  for (const p of cl.agents.values()) assert.equal(await stopProcess(p), 0);
  t.diagnostic(`${before} running nodes had tunnels to the newcomer ${joinMs} ms after its agent started`);
});

test('teardown leaves no namespace behind', async () => {
  assert.deepEqual(await listNamespaces(PREFIX), []);
});
