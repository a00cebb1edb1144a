import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, Phase1Attr, decodePayloads, encodePayloads } from '../src/index.js';
import type { SaPayload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

// Hand-built from RFC 2408 §3.4-3.6 and RFC 2409 App. A: one ISAKMP proposal, one KEY_IKE transform,
// AES-256 / SHA2-256 / PSK / group 14 / 28800 s (the lifetime as a 4-byte TLV).
const phase1Golden = hex(`
  00 00 003c | 00000001 | 00000001
  00 00 0030 | 01 01 00 01
  00 00 0028 | 01 01 0000
  8001 0007 800e 0100 8002 0004 8003 0001 8004 000e 800b 0001 000c 0004 00007080`);
const phase1: SaPayload = {
  type: 1,
  doi: 1,
  situation: 1,
  proposals: [
    {
      number: 1,
      protocolId: 1,
      spi: new Uint8Array(0),
      transforms: [
        {
          number: 1,
          transformId: 1,
          attributes: [
            { type: Phase1Attr.EncryptionAlgorithm, value: 7 },
            { type: Phase1Attr.KeyLength, value: 256 },
            { type: Phase1Attr.HashAlgorithm, value: 4 },
            { type: Phase1Attr.AuthenticationMethod, value: 1 },
            { type: Phase1Attr.GroupDescription, value: 14 },
            { type: Phase1Attr.LifeType, value: 1 },
            { type: Phase1Attr.LifeDuration, bytes: hex('00007080') },
          ],
        },
      ],
    },
  ],
};

codecTests('SA (RFC 2408, phase 1)', {
  payloads: [phase1],
  golden: phase1Golden,
  exchangeType: ExchangeType.IdentityProtection,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    { name: 'proposal length', at: 14, size: 2 },
    { name: '# of transforms', at: 19, size: 1 },
    { name: 'transform length', at: 22, size: 2 },
    { name: 'TLV attribute length', at: 54, size: 2 },
  ],
});

// Two proposals with 4-byte SPIs (an IPsec DOI phase-2 offer): the proposal and transform chains use
// Next Payload 2 and 3 until the last.
const twoProposalsGolden = hex(`
  00 00 0040 | 00000001 | 00000001
  02 00 001c | 01 03 04 02 | 11223344
  03 00 0008 | 01 0c 0000
  00 00 0008 | 02 0c 0000
  00 00 0018 | 02 02 04 01 | 55667788
  00 00 000c | 01 05 0000 | 8004 0001`);
const twoProposals: SaPayload = {
  type: 1,
  doi: 1,
  situation: 1,
  proposals: [
    { number: 1, protocolId: 3, spi: hex('11223344'), transforms: [{ number: 1, transformId: 12, attributes: [] }, { number: 2, transformId: 12, attributes: [] }] },
    { number: 2, protocolId: 2, spi: hex('55667788'), transforms: [{ number: 1, transformId: 5, attributes: [{ type: 4, value: 1 }] }] },
  ],
};

codecTests('SA (RFC 2408, two proposals)', {
  payloads: [twoProposals],
  golden: twoProposalsGolden,
  exchangeType: ExchangeType.IdentityProtection,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    { name: 'first proposal length', at: 14, size: 2 },
    { name: 'first proposal SPI size', at: 18, size: 1 },
    { name: 'first # of transforms', at: 19, size: 1 },
    { name: 'first transform length', at: 26, size: 2 },
    { name: 'second proposal length', at: 42, size: 2 },
    { name: 'last transform length', at: 54, size: 2 },
  ],
});

test('SA: a DOI 2 phase-1 SA keeps the RFC 2408 layout (RFC 6407 §2.1)', () => {
  const gdoiPhase1: SaPayload = { ...phase1, doi: 2, situation: 0 };
  const bytes = encodePayloads([gdoiPhase1], { exchangeType: ExchangeType.IdentityProtection });
  assert.deepEqual(decodeExact(bytes, 1, ExchangeType.IdentityProtection), [gdoiPhase1]);
});

test('SA: proposal and transform Next Payload must be 2/3 or 0', () => {
  const badProposalNext = Uint8Array.from(twoProposalsGolden);
  badProposalNext[12] = 3;
  assertWireError(() => decodeExact(badProposalNext, 1, 2), 'BAD_NEXT_PAYLOAD');
  const badTransformNext = Uint8Array.from(twoProposalsGolden);
  badTransformNext[24] = 2;
  assertWireError(() => decodeExact(badTransformNext, 1, 2), 'BAD_NEXT_PAYLOAD');
  const chainStopsEarly = Uint8Array.from(twoProposalsGolden);
  chainStopsEarly[12] = 0;
  assertWireError(() => decodeExact(chainStopsEarly, 1, 2), 'TRAILING_BYTES');
});

test('SA: reserved bytes must be zero', () => {
  for (const at of [13, 25, 30]) {
    const bad = Uint8Array.from(twoProposalsGolden);
    bad[at] = 1;
    assertWireError(() => decodeExact(bad, 1, 2), 'RESERVED_NOT_ZERO', `byte ${at}`);
  }
});

test('SA: a proposal without transforms is refused both ways', () => {
  assertWireError(() => decodeExact(hex('00 00 0014 00000001 00000001 00 00 0008 01 01 00 00'), 1, 2), 'BAD_COUNT');
  const empty: SaPayload = { type: 1, doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: new Uint8Array(0), transforms: [] }] };
  assertWireError(() => encodePayloads([empty], { exchangeType: 2 }), 'INVALID_VALUE');
  assertWireError(() => encodePayloads([{ ...empty, proposals: [] }], { exchangeType: 2 }), 'INVALID_VALUE');
});

test('SA: the chain reports where each payload starts and ends', () => {
  const { payloads, end } = decodePayloads(phase1Golden, 1, 0, phase1Golden.length, { exchangeType: 2 });
  assert.equal(end, phase1Golden.length);
  assert.equal(payloads[0]?.start, 0);
  assert.equal(payloads[0]?.end, 60);
});
