import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Phase1Attr } from '@gvpn/wire';
import type { SaTransform } from '@gvpn/wire';
import { acceptAnswer, answerSa, offerSa, parseTransform, selectProposal } from '../src/proposal.js';
import { P_AES128_SHA1_G2, P_AES256_SHA256_G14, P_AES256_SHA256_G19 } from './harness.js';

/** ike-scan's --trans="(1=7,14=256,2=4,3=1,4=14)": no life type or duration. */
const IKE_SCAN_TRANSFORM: SaTransform = {
  number: 1, transformId: 1,
  attributes: [
    { type: Phase1Attr.EncryptionAlgorithm, value: 7 }, { type: Phase1Attr.KeyLength, value: 256 },
    { type: Phase1Attr.HashAlgorithm, value: 4 }, { type: Phase1Attr.AuthenticationMethod, value: 1 },
    { type: Phase1Attr.GroupDescription, value: 14 },
  ],
};

describe('phase-1 proposals', () => {
  it('offers one ISAKMP proposal with one KEY_IKE transform per configured proposal, in order', () => {
    const sa = offerSa([P_AES256_SHA256_G14, { ...P_AES128_SHA1_G2, lifetimeSeconds: 86400 }], 2);
    assert.equal(sa.doi, 2);
    assert.equal(sa.situation, 0);
    assert.equal(sa.proposals.length, 1);
    const [t1, t2] = sa.proposals[0]?.transforms ?? [];
    assert.deepEqual(t1?.attributes, [
      { type: 1, value: 7 }, { type: 14, value: 256 }, { type: 2, value: 4 }, { type: 3, value: 1 },
      { type: 4, value: 14 }, { type: 11, value: 1 }, { type: 12, value: 3600 },
    ]);
    // 86400 does not fit a TV attribute: a 4-byte TLV.
    assert.deepEqual(t2?.attributes.at(-1), { type: 12, bytes: Uint8Array.of(0, 1, 0x51, 0x80) });
    assert.deepEqual(parseTransform(t2!), { ...P_AES128_SHA1_G2, lifetimeSeconds: 86400 });
    assert.equal(offerSa([P_AES256_SHA256_G14], 1).situation, 1, 'IPsec DOI: SIT_IDENTITY_ONLY');
  });

  it('reads a transform without life attributes with the RFC 2409 default of 8 hours', () => {
    assert.deepEqual(parseTransform(IKE_SCAN_TRANSFORM), { ...P_AES256_SHA256_G14, lifetimeSeconds: 28800 });
  });

  it('refuses transforms it does not implement', () => {
    const withAttr = (type: number, value: number): SaTransform => ({ ...IKE_SCAN_TRANSFORM, attributes: [...IKE_SCAN_TRANSFORM.attributes, { type, value }] });
    const replace = (type: number, value: number): SaTransform => ({
      ...IKE_SCAN_TRANSFORM, attributes: IKE_SCAN_TRANSFORM.attributes.map((a) => (a.type === type ? { type, value } : a)),
    });
    assert.equal(parseTransform(replace(Phase1Attr.EncryptionAlgorithm, 5)), undefined, '3DES');
    assert.equal(parseTransform(replace(Phase1Attr.AuthenticationMethod, 3)), undefined, 'RSA signatures');
    assert.equal(parseTransform(replace(Phase1Attr.KeyLength, 512)), undefined);
    assert.equal(parseTransform(replace(Phase1Attr.HashAlgorithm, 1)), undefined, 'MD5');
    assert.equal(parseTransform(withAttr(Phase1Attr.Prf, 1)), undefined, 'a PRF attribute');
    assert.equal(parseTransform(withAttr(Phase1Attr.KeyLength, 256)), undefined, 'a repeated attribute');
    assert.equal(parseTransform(withAttr(Phase1Attr.LifeType, 2)), undefined, 'kilobyte lifetimes');
    assert.equal(parseTransform({ ...IKE_SCAN_TRANSFORM, transformId: 2 }), undefined);
  });

  it('the responder takes its own first preference that was offered and echoes that transform', () => {
    const offer = offerSa([P_AES128_SHA1_G2, P_AES256_SHA256_G14, P_AES256_SHA256_G19], 1);
    const selection = selectProposal(offer, [P_AES256_SHA256_G19, P_AES256_SHA256_G14]);
    assert.deepEqual(selection?.proposal, P_AES256_SHA256_G19);
    assert.equal(selection?.transform, offer.proposals[0]?.transforms[2]);
    const answer = answerSa(offer, selection!.transform);
    assert.deepEqual(acceptAnswer(answer, [P_AES128_SHA1_G2, P_AES256_SHA256_G14, P_AES256_SHA256_G19]), P_AES256_SHA256_G19);
    assert.equal(acceptAnswer(answer, [P_AES128_SHA1_G2]), undefined, 'an answer we did not offer');
    assert.equal(selectProposal(offer, [{ ...P_AES256_SHA256_G19, dhGroup: 20 }]), undefined);
  });
});
