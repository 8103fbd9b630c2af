// libreswan 4.10 pluto, told to misbehave with its own fault injection (`pluto --impair`), starts
// IKE with our engine. Faults that break the protocol (corrupted encryption, a broken KE payload,
// a higher major version) must be refused, counted under their cause, and leave us no SA; faults
// that the RFC says a receiver ignores (reserved flags and fields, a higher minor version, an
// unrequested cookie, every message sent twice) must still give an authenticated IKE SA.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, waitFor } from '../helpers/netns.js';
import { Libreswan } from '../helpers/libreswan.js';
import { DEFAULT_PSK, Driver } from '../interop/ike-driver-client.js';

const IP_OURS = '10.254.250.1';
const IP_LS = '10.254.250.2';

interface Counters { [k: string]: number }

describe('pluto --impair faults against our engine (pluto initiates, PSK)', () => {
  let lab: NetnsLab;
  let nsOurs: string;
  let nsLs: string;
  let ls: Libreswan | undefined;
  let driver: Driver | undefined;
  const tally: string[] = [];

  before(() => {
    lab = new NetnsLab('oir-imp');
    nsOurs = lab.addNs('ours');
    nsLs = lab.addNs('ls');
    lab.veth(nsOurs, 'vo', `${IP_OURS}/24`, nsLs, 'vl', `${IP_LS}/24`);
  });

  after(async () => {
    if (driver) await lab.stop(driver.process);
    await ls?.stop();
    await lab.cleanup();
    process.stdout.write(`# impair results:\n${tally.map((t) => `#   ${t}`).join('\n')}\n`);
  });

  async function run(impair: string[]): Promise<{ d: Driver; l: Libreswan }> {
    if (driver) await lab.stop(driver.process);
    await ls?.stop();
    driver = undefined;
    ls = undefined;
    ls = await Libreswan.start({
      lab, ns: nsLs, name: 'impair', impair: ['revival', ...impair],
      connections: [{
        name: 'site', left: IP_LS, right: IP_OURS, leftId: '@pluto.example', rightId: '@ours.example', auth: 'psk', psk: DEFAULT_PSK,
        ike: 'aes_gcm256-sha2_256;modp2048', esp: 'aes_gcm256', leftSubnet: '10.2.0.0/24', rightSubnet: '10.1.0.0/24', retransmitTimeout: '20s',
      }],
    });
    driver = await Driver.start(lab, nsOurs, [{
      name: 'site', localAddrs: [IP_OURS], remoteAddrs: [IP_LS], proposals: ['aes256gcm16-prfsha256-modp2048'],
      children: [{ name: 'net', mode: 'tunnel', localTs: ['10.1.0.0/24'], remoteTs: ['10.2.0.0/24'], espProposals: ['aes256gcm16'] }],
    }], { local: { auth: 'psk', id: 'ours.example' }, remote: { auth: 'psk', id: 'pluto.example' }, psk: DEFAULT_PSK });
    assert.ok((await ls.initiate('site', { wait: false })).ok);
    return { d: driver, l: ls };
  }

  async function counters(d: Driver): Promise<Counters> {
    const n = d.of('status').length;
    d.command({ cmd: 'status' });
    await d.waitFor((e) => e.filter((x) => x.kind === 'status').length > n, 'status');
    return (d.of('status').at(-1)!.status as { counters: Counters }).counters;
  }

  /** Waits until our engine has counted `min` datagrams under `counter`; we must have no IKE SA. */
  async function refused(impair: string[], counter: string, min: number): Promise<void> {
    const { d } = await run(impair);
    let c: Counters = {};
    await waitFor(async () => {
      c = await counters(d);
      return (c[counter] ?? 0) >= min || d.of('ike-up').length > 0;
    }, `${counter} >= ${min} with ${impair.join(' ')}:\n${d.logs().join('\n')}`, 30_000, 200);
    assert.equal(d.of('ike-up').length, 0, `no IKE SA with ${impair.join(' ')}:\n${d.logs().join('\n')}`);
    assert.equal(d.of('child-up').length, 0);
    assert.equal(c.internalErrors, 0);
    tally.push(`${impair.join(' ')}: refused, ${counter} = ${c[counter]} (received ${c.received}), no SA`);
  }

  /**
   * The fault is one a receiver must tolerate: pluto is authenticated and we answer it. With
   * `until`, also waits until our counter reaches a value (e.g. retransmissions answered).
   */
  async function tolerated(impair: string[], until?: [string, number]): Promise<void> {
    const { d, l } = await run(impair);
    try {
      await d.waitFor((e) => e.some((x) => x.kind === 'ike-up'), `an IKE SA despite ${impair.join(' ')}`, 20_000);
    } catch (e) {
      assert.fail(`${(e as Error).message}\nour counters: ${JSON.stringify(await counters(d))}\npluto:\n${l.log().slice(-4000)}`);
    }
    assert.ok(d.logs().some((x) => /authenticated peer 'pluto.example'/.test(x)), d.logs().join('\n'));
    let c: Counters = {};
    await waitFor(async () => {
      c = await counters(d);
      return !until || (c[until[0]] ?? 0) >= until[1];
    }, `${until?.[0]} >= ${until?.[1]}`, 20_000, 200);
    assert.equal(c.internalErrors, 0);
    tally.push(`${impair.join(' ')}: IKE SA established (received ${c.received}, retransmitted requests answered ${c.retransmittedRequests}, malformed ${c.malformed})`);
  }

  // pluto's corrupt-encrypted spoils what pluto receives: it cannot open our IKE_AUTH answer and
  // retransmits its request, which we must answer from cache without a second SA.
  it('corrupt-encrypted: pluto cannot open our answers and retransmits; we answer from cache, one SA', async () => {
    await tolerated(['corrupt-encrypted'], ['retransmittedRequests', 2]);
    assert.equal(driver!.of('ike-up').length, 1);
  });
  it('ke-payload:empty: an empty KE is refused as malformed (INVALID_SYNTAX)', () => refused(['ke-payload:empty'], 'malformed', 1));
  it('ke-payload:0: a KE of zero bytes (not in the group) is refused as malformed', () => refused(['ke-payload:0'], 'malformed', 1));
  it('major-version-bump: IKE version 3 is refused (malformed)', () => refused(['major-version-bump'], 'malformed', 1));
  it('jacob-two-two: every message twice — one SA, the duplicates answered from cache', () => tolerated(['jacob-two-two'], ['retransmittedRequests', 1]));
  it('send-bogus-dcookie: a cookie we never asked for is ignored', () => tolerated(['send-bogus-dcookie']));
  it('send-bogus-isakmp-flag and send-bogus-payload-flag: reserved flags are ignored', () => tolerated(['send-bogus-isakmp-flag', 'send-bogus-payload-flag']));
  it('send-nonzero-reserved: reserved fields in proposals are ignored', () => tolerated(['send-nonzero-reserved']));
  it('send-nonzero-reserved-id: reserved bytes of the ID payload are ignored and stay authenticated', () => tolerated(['send-nonzero-reserved-id']));
  it('minor-version-bump: a higher minor version is accepted', () => tolerated(['minor-version-bump']));
});
