import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, KekAttr, decodeSak, encodePayloads, encodeSak, sakLength } from '../src/index.js';
import type { GdoiSaPayload, SakPayload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex, toHex } from './helpers.js';

const PUSH = ExchangeType.GroupkeyPush;

// Hand-built from RFC 6407 §5.3: the RFC 4-octet RESERVED2 and KEK_KEY_LIFETIME as a TLV (V format),
// the form we emit.
const rfcGolden = hex(`
  00 00 0055 | 00000002 | 00000000 | 000f 0000
  00 00 0045 | 11 | 01 0350 04 0a630001 | 01 0350 04 efc06301 | 989b0ab8f1dd4dea527cca12141cf8e1 | 00000000
    8002 0003 8003 0080 0004 0004 0000005a 8005 0003 8006 0001 8007 0800`);
const rfcSak: SakPayload = {
  type: 15,
  protocol: 17,
  src: { idType: 1, port: 848, data: hex('0a630001') },
  dst: { idType: 1, port: 848, data: hex('efc06301') },
  spi: hex('989b0ab8f1dd4dea527cca12141cf8e1'),
  attributes: [
    { type: KekAttr.Algorithm, value: 3 },
    { type: KekAttr.KeyLength, value: 128 },
    { type: KekAttr.KeyLifetime, bytes: hex('0000005a') },
    { type: KekAttr.SigHashAlgorithm, value: 3 },
    { type: KekAttr.SigAlgorithm, value: 1 },
    { type: KekAttr.SigKeyLength, value: 2048 },
  ],
};
const rfcSa: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, kek: rfcSak, teks: [] };

codecTests('SAK (RFC form, SA with a KEK only)', {
  payloads: [rfcSa],
  golden: rfcGolden,
  exchangeType: PUSH,
  lengthFields: [
    { name: 'SA length', at: 2, size: 2 },
    { name: 'SAK length', at: 18, size: 2 },
    { name: 'src ID data length', at: 24, size: 1 },
    { name: 'dst ID data length', at: 32, size: 1 },
    { name: 'KEK_KEY_LIFETIME length', at: 67, size: 2 },
  ],
});

const SAK_BODY_START = 20;
const rfcBody = rfcGolden.subarray(SAK_BODY_START);

test('SAK: body codec alone, at an offset in a 0xa5 buffer', () => {
  assert.deepEqual(decodeSak(rfcBody, 0, rfcBody.length), rfcSak);
  const out = new Uint8Array(rfcBody.length + 8).fill(0xa5);
  assert.equal(encodeSak(rfcSak, out, 4), sakLength(rfcSak));
  assert.equal(toHex(out.subarray(4, 4 + rfcBody.length)), toHex(rfcBody));
  assert.ok(out.subarray(0, 4).every((b) => b === 0xa5) && out.subarray(4 + rfcBody.length).every((b) => b === 0xa5));
});

test('SAK: gdoid\'s 6-byte tail is recognised and re-encoded as received', () => {
  const gdoidBody = hex('11 01 0350 04 0a630001 01 0350 04 efc06301 989b0ab8f1dd4dea527cca12141cf8e1 000000000000 8002 0003');
  const sak = decodeSak(gdoidBody, 0, gdoidBody.length);
  assert.equal(sak.reservedLength, 6);
  assert.deepEqual(sak.attributes, [{ type: KekAttr.Algorithm, value: 3 }]);
  const out = new Uint8Array(sakLength(sak));
  encodeSak(sak, out, 0);
  assert.equal(toHex(out), toHex(gdoidBody));
});

test('SAK: with no attributes, or a TLV first, the RFC 4-byte form is assumed', () => {
  const bare = hex('11 01 0350 04 0a630001 01 0350 04 efc06301 989b0ab8f1dd4dea527cca12141cf8e1 00000000');
  assert.equal(decodeSak(bare, 0, bare.length).reservedLength, undefined);
  const tlvFirst = hex('11 01 0350 04 0a630001 01 0350 04 efc06301 989b0ab8f1dd4dea527cca12141cf8e1 00000000 0004 0002 005a');
  assert.deepEqual(decodeSak(tlvFirst, 0, tlvFirst.length).attributes, [{ type: 4, bytes: hex('005a') }]);
});

test('SAK: RESERVED2 must be zero; the SPI is 16 bytes', () => {
  const nonZero = hex('11 01 0350 04 0a630001 01 0350 04 efc06301 989b0ab8f1dd4dea527cca12141cf8e1 00000100 8002 0003');
  assertWireError(() => decodeSak(nonZero, 0, nonZero.length), 'RESERVED_NOT_ZERO');
  assertWireError(() => encodePayloads([{ ...rfcSa, kek: { ...rfcSak, spi: new Uint8Array(8) } }], { exchangeType: PUSH }), 'INVALID_VALUE');
});

test('SAK: decodes from a GDOI SA with the other layout fields intact', () => {
  const [sa] = decodeExact(rfcGolden, 1, PUSH) as [GdoiSaPayload];
  assert.equal(sa.kek?.protocol, 17);
  assert.deepEqual(sa.teks, []);
});

test('SAK: a tail length the decoder would misread is refused', () => {
  const sixWithoutTv: GdoiSaPayload = { ...rfcSa, kek: { ...rfcSak, reservedLength: 6, attributes: [{ type: KekAttr.KeyLifetime, bytes: hex('0000005a') }] } };
  assertWireError(() => encodePayloads([sixWithoutTv], { exchangeType: PUSH }), 'INVALID_VALUE');
  const sixEmpty: GdoiSaPayload = { ...rfcSa, kek: { ...rfcSak, reservedLength: 6, attributes: [] } };
  assertWireError(() => encodePayloads([sixEmpty], { exchangeType: PUSH }), 'INVALID_VALUE');
  const fourLooksLikeSix: GdoiSaPayload = { ...rfcSa, kek: { ...rfcSak, attributes: [{ type: 0, bytes: new Uint8Array(0x8000) }] } };
  assertWireError(() => encodePayloads([fourLooksLikeSix], { exchangeType: PUSH }), 'INVALID_VALUE');
  const six: GdoiSaPayload = { ...rfcSa, kek: { ...rfcSak, reservedLength: 6 } };
  assert.deepEqual(decodeExact(encodePayloads([six], { exchangeType: PUSH }), 1, PUSH), [six]);
});
