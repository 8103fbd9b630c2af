import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestPki, type CertFiles } from '../../test/helpers/certs.js';
import { runTracked as runAsync } from '../lib/exec.js';
import { StrongSwan } from '../../test/helpers/strongswan.js';
import type { IkeConnectionConfig } from '../../src/ike/config.js';
import type { AuthConnConfig } from '../../src/ike/auth/index.js';
import { quietCharon } from '../lib/charon-quiet.js';
import { onInterrupt } from '../lib/lab.js';
import { cpuSeconds, cpuWaitShare, schedTimes } from '../lib/proc.js';
import { HOST_A, HOST_B, twoHosts } from '../setups/two-hosts.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ikeProcessJs = path.join(here, 'ike-process.js');

export const GROUPS = ['modp2048', 'x25519'] as const;
export type Group = (typeof GROUPS)[number];

export interface HandshakeFigure {
  /** IKE_SA + CHILD_SA established per second during the measured window (after a warm-up). */
  per_s: number | null;
  established: number;
  /** Responder CPU time (user + system) per established handshake, warm-up included. */
  cpu_ms_per_handshake: number | null;
  retransmits: number | null;
  failed: number | null;
  /** CPU time of the initiator load per handshake (start-up included): when the load is busier than the responder, the rate is the load's. */
  initiator_cpu_ms_per_handshake: number | null;
  /**
   * Share of the load's run (responder) and of the measured window (load) each process was
   * runnable but waiting for a CPU. The rate is CPU-bound on two cores: when other work on the
   * machine takes CPUs, the CPU per handshake stays and the rate falls by what these show.
   */
  responder_cpu_wait_share: number | null;
  initiator_cpu_wait_share: number | null;
}

export type HandshakeResults = Record<Group, Record<'ours' | 'strongswan', HandshakeFigure>> & {
  setup: string;
  not_measured: Record<string, string>;
};

interface LoadResult {
  established: number;
  total: number;
  seconds: number;
  per_s: number;
  failed: number;
  retransmits: number;
  initiator_cpu_ms: number | null;
  initiator_cpu_wait_share: number | null;
}

const pct = (x: number | null): string => (x === null ? '?' : `${Math.round(x * 100)} %`);

const RESP_ID = 'resp.bench';
const LOAD_ID = 'load.bench';
const CONCURRENCY = 8;

function ourConnection(local: string, remote: string, proposals: string[], localTs: string, remoteTs: string): IkeConnectionConfig {
  return {
    name: 'bench',
    localAddrs: [local],
    remoteAddrs: [remote],
    proposals,
    children: [{ name: 'pods', mode: 'tunnel', localTs: [localTs], remoteTs: [remoteTs], espProposals: ['aes256gcm16'] }],
  };
}

function auth(me: CertFiles, myId: string, peerId: string, ca: CertFiles): AuthConnConfig {
  return { local: { auth: 'pubkey', certPem: me.certPem, keyPem: me.keyPem, id: myId }, remote: { auth: 'pubkey', id: peerId }, caPems: [ca.certPem] };
}

/**
 * Handshakes per second of a responder — ours (the IKE engine over UDP, installing each child into
 * an ESP data path) or strongSwan's charon (kernel-libipsec) — under the same initiator load: our
 * engine in the other namespace keeping 8 IKE_SA_INIT + IKE_AUTH (with the first CHILD_SA)
 * exchanges in flight, RSA-2048 certificates on both sides, AES-256-GCM, PRF SHA-256, and the DH
 * group under test. Every handshake carries INITIAL_CONTACT, so each responder drops the
 * initiator's previous IKE SA and its state stays bounded.
 */
export async function runHandshakes(o: { seconds: number; log: (m: string) => void }): Promise<HandshakeResults> {
  const { lab, a, b } = twoHosts('hs');
  const pki = new TestPki('oib-hs-pki');
  let sw: StrongSwan | undefined;
  const cleanup = async (): Promise<void> => {
    await sw?.stop();
    await lab.dispose();
    pki.cleanup();
  };
  const unregister = onInterrupt(cleanup);
  const empty = (): HandshakeFigure => ({
    per_s: null, established: 0, cpu_ms_per_handshake: null, retransmits: null, failed: null, initiator_cpu_ms_per_handshake: null,
    responder_cpu_wait_share: null, initiator_cpu_wait_share: null,
  });
  const res: HandshakeResults = {
    modp2048: { ours: empty(), strongswan: empty() },
    x25519: { ours: empty(), strongswan: empty() },
    setup: `initiator load: our IKE engine in one namespace, ${CONCURRENCY} handshakes in flight, ${o.seconds} s measured after 1 s warm-up; responder in the other namespace; RSA-2048 certificates, AES-256-GCM, PRF SHA-256`,
    not_measured: {},
  };
  try {
    const ca = pki.createCa('ca', { dn: 'C=XX, O=Bench, CN=Bench CA', keyType: 'rsa' });
    const resp = pki.issue(ca, 'resp', { dn: `C=XX, O=Bench, CN=${RESP_ID}`, keyType: 'rsa', sans: [RESP_ID] });
    const load = pki.issue(ca, 'load', { dn: `C=XX, O=Bench, CN=${LOAD_ID}`, keyType: 'rsa', sans: [LOAD_ID] });
    const responderProposals = GROUPS.map((g) => `aes256gcm16-prfsha256-${g}`);

    const runLoad = async (group: Group): Promise<LoadResult> => {
      const file = path.join(pki.dir, `load-${group}.json`);
      writeFileSync(file, JSON.stringify({
        local: HOST_A.underlay,
        connection: ourConnection(HOST_A.underlay, HOST_B.underlay, [`aes256gcm16-prfsha256-${group}`], HOST_A.podNet, HOST_B.podNet),
        auth: auth(load, LOAD_ID, RESP_ID, ca),
        concurrency: CONCURRENCY,
        seconds: o.seconds,
        warmupSeconds: 1,
      }));
      const r = await runAsync(['ip', 'netns', 'exec', a, process.execPath, ikeProcessJs, 'load', file], { timeoutMs: (o.seconds + 30) * 1000 });
      try {
        return JSON.parse(r.stdout) as LoadResult;
      } catch {
        throw new Error(`IKE load generator failed (${r.code}): ${r.stderr}${r.stdout}`);
      }
    };
    const share = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
    // The load against a responder process: its CPU seconds and run-queue wait over the load's run.
    const loadAgainst = async (group: Group, responderPid: number): Promise<HandshakeFigure> => {
      const cpu0 = cpuSeconds(responderPid) ?? 0;
      const sched0 = schedTimes(responderPid);
      const t0 = performance.now();
      const l = await runLoad(group);
      const wait = cpuWaitShare(sched0, schedTimes(responderPid), (performance.now() - t0) / 1000);
      const cpu = cpuSeconds(responderPid);
      return { ...figure(l, cpu === undefined ? undefined : cpu - cpu0), responder_cpu_wait_share: share(wait) };
    };
    const waits = (f: HandshakeFigure): string =>
      `waiting for a CPU ${pct(f.responder_cpu_wait_share)} (responder) and ${pct(f.initiator_cpu_wait_share)} (load) of the time`;
    const figure = (l: LoadResult, cpu: number | undefined): HandshakeFigure => ({
      per_s: Math.round(l.per_s * 10) / 10,
      established: l.established,
      cpu_ms_per_handshake: cpu !== undefined && l.total > 0 ? Math.round((cpu / l.total) * 1e5) / 100 : null,
      retransmits: l.retransmits,
      failed: l.failed,
      initiator_cpu_ms_per_handshake: l.initiator_cpu_ms === null ? null : Math.round(l.initiator_cpu_ms * 100) / 100,
      responder_cpu_wait_share: null,
      initiator_cpu_wait_share: share(l.initiator_cpu_wait_share ?? null),
    });

    for (const group of GROUPS) {
      // Ours.
      try {
        const file = path.join(pki.dir, 'responder.json');
        writeFileSync(file, JSON.stringify({
          local: HOST_B.underlay,
          connection: ourConnection(HOST_B.underlay, '%any', responderProposals, HOST_B.podNet, HOST_A.podNet),
          auth: auth(resp, RESP_ID, LOAD_ID, ca),
        }));
        const p = lab.spawn(b, [process.execPath, ikeProcessJs, 'responder', file]);
        try {
          await new Promise<void>((resolve, reject) => {
            p.stdout!.once('data', () => resolve());
            p.once('exit', (c) => reject(new Error(`our responder exited ${c}`)));
          });
          const f = (res[group].ours = await loadAgainst(group, p.pid!));
          o.log(`  ours (${group}): ${f.per_s} handshakes/s, responder ${f.cpu_ms_per_handshake} ms CPU each, ${f.retransmits} retransmits, ${f.failed} failed; ${waits(f)}`);
        } finally {
          await lab.stop(p);
        }
      } catch (e) {
        res.not_measured[`ours.${group}`] = `failed: ${(e as Error).message.split('\n')[0]}`;
        o.log(String((e as Error).stack));
      }
      // strongSwan.
      try {
        sw = await StrongSwan.start({
          lab, ns: b, name: 'oib-hs', connections: [{
            name: 'bench', localAddrs: [HOST_B.underlay], remoteAddrs: ['%any'], proposals: responderProposals,
            local: { auth: 'pubkey', id: RESP_ID, certPem: resp.certPem, keyPem: resp.keyPem },
            remote: { auth: 'pubkey', id: LOAD_ID }, caPems: [ca.certPem],
            children: [{ name: 'pods', mode: 'tunnel', espProposals: ['aes256gcm16'], localTs: [HOST_B.podNet], remoteTs: [HOST_A.podNet] }],
          }],
        });
        await quietCharon(sw);
        const f = (res[group].strongswan = await loadAgainst(group, sw.pid));
        o.log(`  strongSwan (${group}): ${f.per_s} handshakes/s, charon ${f.cpu_ms_per_handshake} ms CPU each, ${f.retransmits} retransmits, ${f.failed} failed; ${waits(f)}`);
      } catch (e) {
        res.not_measured[`strongswan.${group}`] = `failed: ${(e as Error).message.split('\n')[0]}`;
        o.log(String((e as Error).stack));
      } finally {
        await sw?.stop();
        sw = undefined;
      }
    }
    return res;
  } finally {
    unregister();
    await cleanup();
  }
}
