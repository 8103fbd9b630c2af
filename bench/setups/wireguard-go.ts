import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ownedTempDir } from '../../test/helpers/harness-util.js';
import { waitFor } from '../../test/helpers/netns.js';
import { runTracked } from '../lib/exec.js';
import { onInterrupt } from '../lib/lab.js';
import { NotMeasurable, type Setup } from '../lib/setup.js';
import { WIREGUARD_GO_VERSION, wireguardGoBinary } from '../lib/wireguard-go-build.js';
import { HOST_A, HOST_B, twoHosts } from './two-hosts.js';

/**
 * wireguard-go's control sockets live in one directory of the file system, which namespaces do
 * not separate: the two ends need different interface names (`oib-wga`, `oib-wgb`), and a crashed
 * run's sockets (SIGKILL leaves them) are found by the prefix.
 */
const UAPI_DIR = '/var/run/wireguard';
const IF_PREFIX = 'oib-wg';
const PORT = 51820;
const MTU = 1400;

function removeStaleSockets(): void {
  if (!existsSync(UAPI_DIR)) return;
  for (const f of readdirSync(UAPI_DIR)) if (f.startsWith(IF_PREFIX) && f.endsWith('.sock')) rmSync(path.join(UAPI_DIR, f), { force: true });
}

/** A fresh private key in a 0600 file, and its public key (the private key never goes on a command line). */
async function makeKey(keyFile: string): Promise<string> {
  const priv = await runTracked(['wg', 'genkey'], { timeoutMs: 10_000 });
  if (priv.code !== 0) throw new Error(`wg genkey failed (${priv.code}): ${priv.stderr.trim()}`);
  writeFileSync(keyFile, priv.stdout, { mode: 0o600 });
  const pub = await runTracked(['sh', '-c', 'wg pubkey < "$0"', keyFile], { timeoutMs: 10_000 });
  if (pub.code !== 0) throw new Error(`wg pubkey failed (${pub.code}): ${pub.stderr.trim()}`);
  return pub.stdout.trim();
}

export interface WireguardFlavour {
  row: 'wireguard_go' | 'wireguard_go_debian';
  /** The binary and what it is, or NotMeasurable when it is not there. */
  binary(log: (m: string) => void): Promise<{ bin: string; what: string }>;
}

/** The current release, built from its Go module at the pinned version (bench/lib/wireguard-go-build.ts). */
export const WIREGUARD_GO: WireguardFlavour = {
  row: 'wireguard_go',
  binary: async (log) => ({ bin: await wireguardGoBinary(log), what: `wireguard-go ${WIREGUARD_GO_VERSION} (Go module, built here)` }),
};

/** Debian's package (bookworm: 0.0.20220316), installed by scripts/install-deps.sh --bench. */
export const WIREGUARD_GO_DEBIAN: WireguardFlavour = {
  row: 'wireguard_go_debian',
  binary: async () => {
    const v = await runTracked(['dpkg-query', '-W', '-f', '${Version}', 'wireguard-go'], { timeoutMs: 10_000 });
    if (v.code !== 0 || !existsSync('/usr/bin/wireguard-go')) {
      throw new NotMeasurable('the Debian package wireguard-go is not installed (scripts/install-deps.sh --bench as root installs it)');
    }
    return { bin: '/usr/bin/wireguard-go', what: `Debian wireguard-go ${v.stdout.trim()}` };
  },
};

/**
 * wireguard-go in both hosts of the tunnel rows' ground (two-hosts.ts): one interface each, MTU
 * 1400, keys made fresh for this run (`wg genkey`, private keys in 0600 files of a temp dir
 * removed at teardown), UDP 51820 over the veth, and the other host's pod subnet routed through
 * it from the local pod address — so that 10.1.0.1 ↔ 10.2.0.1 crosses WireGuard as it crosses
 * ESP in `tunnel_ipsec`. Configured with `wg set` and `ip`, as wg-quick would without its extras.
 */
export async function startWireguardGo(flavour: WireguardFlavour, log: (m: string) => void): Promise<Setup> {
  const runWg = await runTracked(['wg', '--version'], { timeoutMs: 10_000 });
  if (runWg.code !== 0) throw new NotMeasurable('`wg` is not installed (Debian wireguard-tools; scripts/install-deps.sh --bench as root installs it)');
  const { bin, what } = await flavour.binary(log);
  const { lab, a, b } = twoHosts(flavour.row === 'wireguard_go' ? 'wg' : 'wgd');
  removeStaleSockets();
  const dir = ownedTempDir('oib-wg');
  const teardown = async (): Promise<void> => {
    unregister();
    await lab.dispose();
    removeStaleSockets();
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  try {
    const hosts = [
      { self: 'a', ns: a, me: HOST_A, peer: HOST_B, dev: `${IF_PREFIX}a` },
      { self: 'b', ns: b, me: HOST_B, peer: HOST_A, dev: `${IF_PREFIX}b` },
    ] as const;
    const pubs: string[] = [];
    for (const h of hosts) pubs.push(await makeKey(path.join(dir, `${h.self}.key`)));
    const pids: number[] = [];
    for (const [i, h] of hosts.entries()) {
      const proc = lab.spawn(h.ns, [bin, '-f', h.dev], { env: { ...process.env, LOG_LEVEL: 'error' } });
      let err = '';
      proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
      proc.stdout?.on('data', () => { /* drained: a full pipe would stall the daemon */ });
      await waitFor(() => {
        if (proc.exitCode !== null) throw new Error(`${what} in ${h.ns} exited (${proc.exitCode}): ${err.trim().split('\n').at(-1) ?? ''}`);
        return existsSync(path.join(UAPI_DIR, `${h.dev}.sock`));
      }, `${what} in ${h.ns}`, 10_000, 50);
      pids.push(proc.pid!);
      const ex = (cmd: string[]) => lab.exec(h.ns, cmd);
      ex(['wg', 'set', h.dev, 'listen-port', String(PORT), 'private-key', path.join(dir, `${h.self}.key`),
        'peer', pubs[1 - i]!, 'allowed-ips', h.peer.podNet, 'endpoint', `${h.peer.underlay}:${PORT}`]);
      ex(['ip', 'link', 'set', h.dev, 'mtu', String(MTU), 'up']);
      ex(['ip', 'route', 'add', h.peer.podNet, 'dev', h.dev, 'src', h.me.pod]);
    }
    // The first packet starts the handshake; the row is up once a ping gets through.
    await waitFor(async () => (await runTracked(['ip', 'netns', 'exec', a, 'ping', '-n', '-c', '1', '-W', '1', '-I', HOST_A.pod, HOST_B.pod], { timeoutMs: 5000 })).code === 0,
      'a ping through WireGuard (handshake)', 20_000, 200);
    return {
      row: flavour.row, describe: `${what} ↔ same, wg set (fresh keys), ChaCha20-Poly1305 in UDP ${PORT}, MTU ${MTU}`,
      clientNs: a, serverNs: b, clientAddr: HOST_A.pod, serverAddr: HOST_B.pod, dataPathPids: pids,
      teardown,
    };
  } catch (e) {
    await teardown();
    throw e;
  }
}
