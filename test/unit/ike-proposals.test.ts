import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransformType } from '../../src/ike/constants.js';
import { acceptAnswer, buildAnswer, buildOffer, parseProposal, parseProposals, proposalName, ProposalSyntaxError, selectProposal } from '../../src/ike/proposals.js';

test('swanctl proposal syntax parses into transform sets', () => {
  const p = parseProposal('aes256gcm16-prfsha256-modp2048', 'ike');
  assert.deepEqual(p.encr, [{ id: 20, keyLength: 256 }]);
  assert.deepEqual(p.prf, [5]);
  assert.deepEqual(p.dh, [14]);
  assert.deepEqual(parseProposal('aes128gcm16-prfsha384-ecp256', 'ike').dh, [19]);
  assert.deepEqual(parseProposal('aes256gcm16-prfsha256-x25519', 'ike').dh, [31]);
  const esp = parseProposal('aes256gcm16', 'esp');
  assert.deepEqual(esp.esn, [0], 'ESP defaults to NO_EXT_SEQ');
  assert.deepEqual(esp.dh, []);
  assert.deepEqual(parseProposal('aes256gcm16-modp2048', 'esp').dh, [14]);
  assert.deepEqual(parseProposal('aes256gcm16-aes128gcm16-prfsha256-prfsha512-ecp256-x25519', 'ike').encr.length, 2);
});

test('bad proposals name the token and what is supported', () => {
  assert.throws(() => parseProposal('aes256cbc-prfsha256-modp2048', 'ike'), (e: ProposalSyntaxError) => e.token === 'aes256cbc' && /supported/.test(e.message));
  assert.throws(() => parseProposal('aes256gcm16-modp2048', 'ike'), /no PRF/);
  assert.throws(() => parseProposal('aes256gcm16-prfsha256', 'ike'), /no key exchange group/);
  assert.throws(() => parseProposal('aes256gcm16-esn', 'esp'), /esn/);
});

test('libreswan-style names', () => {
  const [s] = parseProposals(['aes256gcm16-prfsha256-modp2048'], 'ike');
  const sel = selectProposal([s!], buildOffer([s!], Buffer.alloc(0)))!;
  assert.equal(proposalName(sel.chosen), 'AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP2048');
  assert.equal(proposalName({ protocol: 'esp', encr: { id: 20, keyLength: 256 }, dh: 14, esn: 0 }), 'AES_GCM_16_256-NONE-MODP2048');
  assert.equal(proposalName({ protocol: 'esp', encr: { id: 20, keyLength: 128 }, esn: 0 }), 'AES_GCM_16_128-NONE');
});

test('selection: ours first; KE group constraint; key length must match; ESN only NO', () => {
  const ours = parseProposals(['aes256gcm16-prfsha256-ecp256', 'aes256gcm16-prfsha256-modp2048'], 'ike');
  const theirs = buildOffer(parseProposals(['aes256gcm16-prfsha256-modp2048', 'aes256gcm16-prfsha256-ecp256'], 'ike'), Buffer.alloc(0));
  assert.equal(selectProposal(ours, theirs)!.chosen.dh, 19, 'our first proposal wins');
  assert.equal(selectProposal(ours, theirs)!.num, 2, 'the answer names their proposal number');
  assert.equal(selectProposal(ours, theirs, { requireDh: 14 })!.chosen.dh, 14);
  assert.equal(selectProposal(parseProposals(['aes128gcm16-prfsha256-modp2048'], 'ike'), theirs), undefined, 'AES-128 does not match AES-256');
  const espOurs = parseProposals(['aes256gcm16'], 'esp');
  const espEsn = [{ num: 1, protocolId: 3, spi: Buffer.alloc(4, 1), transforms: [{ type: TransformType.ENCR, id: 20, keyLength: 256 }, { type: TransformType.ESN, id: 1 }] }];
  assert.equal(selectProposal(espOurs, espEsn), undefined, 'ESN-only peer refused');
  espEsn[0]!.transforms.push({ type: TransformType.ESN, id: 0 });
  assert.equal(selectProposal(espOurs, espEsn)!.chosen.esn, 0);
  // An integrity algorithm other than NONE cannot go with an AEAD.
  const withInteg = [{ num: 1, protocolId: 3, spi: Buffer.alloc(4, 1), transforms: [{ type: TransformType.ENCR, id: 20, keyLength: 256 }, { type: TransformType.INTEG, id: 12 }] }];
  assert.equal(selectProposal(espOurs, withInteg), undefined);
});

test('initiator accepts only an answer within its offer', () => {
  const ours = parseProposals(['aes256gcm16-prfsha256-modp2048'], 'ike');
  const good = buildAnswer({ protocol: 'ike', encr: { id: 20, keyLength: 256 }, prf: 5, dh: 14 }, 1, Buffer.alloc(0));
  assert.ok(acceptAnswer(ours, [good], 14));
  assert.equal(acceptAnswer(ours, [good], 19), undefined, 'group other than our KE');
  assert.equal(acceptAnswer(ours, [buildAnswer({ protocol: 'ike', encr: { id: 20, keyLength: 128 }, prf: 5, dh: 14 }, 1, Buffer.alloc(0))]), undefined);
  assert.equal(acceptAnswer(ours, [good, good]), undefined, 'more than one proposal');
  assert.equal(acceptAnswer(ours, [{ ...good, num: 2 }]), undefined, 'unknown proposal number');
});

