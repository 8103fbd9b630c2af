import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import {
  ChainCache, anchorsFingerprint, createAuthProvider, parseCertificatePem, pemToDerList, validateChain,
  HASH_SHA2_256, type CertInfo,
} from '../../src/ike/auth/index.js';
import { Lru } from '../../src/ike/auth/lru.js';
import { TestPki, type CertFiles } from '../helpers/certs.js';

const DAY = 86_400_000;

describe('ike/auth validated-chain cache', () => {
  let pki: TestPki;
  let ca: CertFiles;
  let ca2: CertFiles;
  let inter: CertFiles;
  let node: CertFiles; // ca → node, valid from now-1h for 30 days
  let deep: CertFiles; // ca → inter → deep
  let other: CertFiles; // ca2 → other
  let node2: CertFiles; // ca → node2
  let anchors: CertInfo[];
  let anchors2: CertInfo[];
  const t0 = Date.now();

  const ders = (...c: CertFiles[]): Buffer[] => c.flatMap((x) => pemToDerList(x.certPem));

  before(() => {
    pki = new TestPki('oit-chain-cache');
    ca = pki.createCa('ca', { dn: 'C=XX, O=Lab, CN=Cache CA', keyType: 'rsa' });
    ca2 = pki.createCa('ca2', { dn: 'C=XX, O=Lab, CN=Second CA' });
    inter = pki.issue(ca, 'inter', { dn: 'C=XX, O=Lab, CN=Inter', ca: true, notBefore: new Date(t0 - 3600_000), notAfter: new Date(t0 + 10 * DAY) });
    node = pki.issue(ca, 'node', { dn: 'C=XX, O=Lab, CN=node.lab', sans: ['node.lab'], notBefore: new Date(t0 - 3600_000), notAfter: new Date(t0 + 30 * DAY) });
    deep = pki.issue(inter, 'deep', { dn: 'C=XX, O=Lab, CN=deep.lab', sans: ['deep.lab'], notBefore: new Date(t0 - 3600_000), notAfter: new Date(t0 + 30 * DAY) });
    node2 = pki.issue(ca, 'node2', { dn: 'C=XX, O=Lab, CN=node2.lab', sans: ['node2.lab'] });
    other = pki.issue(ca2, 'other', { dn: 'C=XX, O=Lab, CN=other.lab', sans: ['other.lab'] });
    anchors = parseCertificatePem(ca.certPem, 'ca');
    anchors2 = parseCertificatePem(ca2.certPem, 'ca2');
  });
  after(() => pki.cleanup());

  it('a second validation of the same chain is a hit with the same verdict', () => {
    const cache = new ChainCache();
    const key = anchorsFingerprint(anchors);
    const now = new Date(t0);
    const first = cache.validate(ders(node), anchors, key, now);
    assert.equal(first.ok, true);
    assert.deepEqual({ h: cache.stats.chainHits, m: cache.stats.chainMisses }, { h: 0, m: 1 });
    const second = cache.validate(ders(node), anchors, key, now);
    assert.equal(second.ok, true);
    assert.deepEqual({ h: cache.stats.chainHits, m: cache.stats.chainMisses }, { h: 1, m: 1 });
    assert.equal(second.ok && second.endEntity.subjectText, first.ok && first.endEntity.subjectText);
    // The intermediate path too.
    assert.equal(cache.validate(ders(deep, inter), anchors, key, now).ok, true);
    assert.equal(cache.validate(ders(deep, inter), anchors, key, now).ok, true);
    assert.equal(cache.stats.chainHits, 2);
    assert.equal(cache.stats.chains, 2);
  });

  it('checks validity again at every use against the given clock, with validateChain\'s reasons', () => {
    const cache = new ChainCache();
    const key = anchorsFingerprint(anchors);
    assert.equal(cache.validate(ders(deep, inter), anchors, key, new Date(t0)).ok, true);
    for (const at of [t0 + 11 * DAY, t0 + 31 * DAY, t0 - 2 * 3600_000, t0 + 5 * DAY]) {
      const now = new Date(at);
      const cached = cache.validate(ders(deep, inter), anchors, key, now);
      const full = validateChain(ders(deep, inter), anchors, now);
      assert.deepEqual(cached.ok ? 'ok' : cached.reason, full.ok ? 'ok' : full.reason, `at t0${(at - t0) / DAY >= 0 ? '+' : ''}${(at - t0) / DAY} days`);
    }
    // Intermediate expired (day 11), end entity expired (day 31), not yet valid (-2 h), fine again (day 5): all served from the one entry.
    assert.equal(cache.stats.chainMisses, 1);
    assert.equal(cache.stats.chainHits, 4);
    const late = cache.validate(ders(deep, inter), anchors, key, new Date(t0 + 11 * DAY));
    assert.equal(late.ok, false);
    assert.match(!late.ok ? late.reason : '', /Inter.*expired/);
  });

  it('does not remember refusals', () => {
    const cache = new ChainCache();
    const key = anchorsFingerprint(anchors);
    const now = new Date(t0);
    for (let i = 0; i < 2; i++) {
      const r = cache.validate(ders(other), anchors, key, now);
      assert.equal(r.ok, false);
      assert.match(!r.ok ? r.reason : '', /not issued by a trusted CA/);
    }
    assert.equal(cache.stats.chains, 0);
    assert.equal(cache.stats.chainHits, 0);
    // A chain first refused for its time is accepted once the time is right, and not before.
    const early = cache.validate(ders(node), anchors, key, new Date(t0 - 2 * 3600_000));
    assert.equal(early.ok, false);
    assert.equal(cache.validate(ders(node), anchors, key, now).ok, true);
  });

  it('other trust anchors never see chains validated under the old ones', () => {
    const cache = new ChainCache();
    const now = new Date(t0);
    assert.equal(cache.validate(ders(node), anchors, anchorsFingerprint(anchors), now).ok, true);
    // CA rollover: only ca2 trusted now. The old entry must not vouch for the node.
    const r = cache.validate(ders(node), anchors2, anchorsFingerprint(anchors2), now);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /not issued by a trusted CA/);
    assert.equal(cache.stats.chainHits, 0);
    assert.notEqual(anchorsFingerprint(anchors), anchorsFingerprint([...anchors, ...anchors2]));
    assert.equal(cache.validate(ders(other), [...anchors, ...anchors2], anchorsFingerprint([...anchors, ...anchors2]), now).ok, true);
  });

  it('a changed certificate is a miss (keyed by the DER hash)', () => {
    const cache = new ChainCache();
    const key = anchorsFingerprint(anchors);
    const now = new Date(t0);
    const good = ders(node);
    assert.equal(cache.validate(good, anchors, key, now).ok, true);
    const bad = Buffer.from(good[0]!);
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 1; // inside the signature
    const r = cache.validate([bad], anchors, key, now);
    assert.equal(r.ok, false);
    assert.equal(cache.stats.chainHits, 0);
  });

  it('stays within its bounds, forgetting the least recently used', () => {
    const cache = new ChainCache({ chains: 2, certs: 3 });
    const key = anchorsFingerprint(anchors);
    const now = new Date(t0);
    const a = ders(node);
    const b = ders(deep, inter);
    const c = ders(node2);
    cache.validate(a, anchors, key, now);
    cache.validate(b, anchors, key, now);
    cache.validate(a, anchors, key, now); // a is now the most recent
    assert.equal(cache.stats.chainHits, 1);
    assert.equal(cache.validate(c, anchors, key, now).ok, true); // evicts b
    assert.equal(cache.stats.chains, 2);
    assert.equal(cache.stats.chainEvictions, 1);
    const hits = cache.stats.chainHits;
    cache.validate(a, anchors, key, now);
    assert.equal(cache.stats.chainHits, hits + 1, 'a survived');
    cache.validate(b, anchors, key, now);
    assert.equal(cache.stats.chainHits, hits + 1, 'b was evicted: a miss');
    assert.ok(cache.stats.certs <= 3);
    assert.ok(cache.stats.certEvictions > 0);
  });

  it('the provider uses its cache, and its injected clock decides at each IKE_AUTH', () => {
    let clock = new Date(t0);
    const cache = new ChainCache();
    const prf = (k: Buffer, d: Buffer): Buffer => createHmac('sha256', k).update(d).digest();
    const skP = randomBytes(32);
    const signer = createAuthProvider({ c: { local: { auth: 'pubkey', certPem: node.certPem, keyPem: node.keyPem, id: 'node.lab' }, remote: { auth: 'pubkey' }, caPems: [ca.certPem] } }, () => clock, { chainCache: new ChainCache() });
    const verifier = createAuthProvider({ c: { local: { auth: 'pubkey', certPem: other.certPem, keyPem: other.keyPem, id: 'other.lab' }, remote: { auth: 'pubkey', id: 'node.lab' }, caPems: [ca.certPem] } }, () => clock, { chainCache: cache });
    const octets = randomBytes(100);
    const s = signer.sign('c', octets, [HASH_SHA2_256], prf, skP);
    const id = signer.localId('c');
    assert.deepEqual(verifier.verify('c', s.method, s.data, octets, s.certs, id, prf, skP), { ok: true });
    assert.deepEqual(verifier.verify('c', s.method, s.data, octets, s.certs, id, prf, skP), { ok: true });
    assert.equal(cache.stats.chainHits, 1);
    // A cached chain still needs a good signature over these octets.
    const wrong = verifier.verify('c', s.method, s.data, randomBytes(100), s.certs, id, prf, skP);
    assert.equal(wrong.ok, false);
    clock = new Date(t0 + 31 * DAY);
    const expired = verifier.verify('c', s.method, s.data, octets, s.certs, id, prf, skP);
    assert.equal(expired.ok, false);
    assert.match(!expired.ok ? expired.reason : '', /expired/);
  });

  it('Lru: bounds, recency, counters', () => {
    const l = new Lru<number>(2);
    l.set('a', 1);
    l.set('b', 2);
    assert.equal(l.get('a'), 1);
    l.set('c', 3);
    assert.equal(l.get('b'), undefined);
    assert.equal(l.get('a'), 1);
    assert.equal(l.get('c'), 3);
    assert.deepEqual({ hits: l.hits, misses: l.misses, evictions: l.evictions, size: l.size }, { hits: 3, misses: 1, evictions: 1, size: 2 });
    assert.throws(() => new Lru(0), RangeError);
  });
});
