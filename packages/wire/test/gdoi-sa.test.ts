import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, KekAttr, TekAttr, encodePayloads } from '../src/index.js';
import type { GdoiSaPayload, SaPayload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const PULL = ExchangeType.GroupkeyPull;
const PUSH = ExchangeType.GroupkeyPush;

// The SA of gdoid's GROUPKEY-PULL message 2 (gdoi-peer-gm.log, protocol.md §7): SAK with gdoid's
// 6-byte RESERVED2 tail, GAP (ATD 60, DTD 90), one ESP SAT.
export const capturedSaGolden = hex(`
  00 00 0096 | 00000002 | 00000000 | 000f 0000
  16 00 0043 | 11 | 01 0350 04 0a630001 | 01 0350 04 efc06301 | 989b0ab8f1dd4dea527cca12141cf8e1 | 000000000000
    8002 0003 8003 0080 8004 005a 8005 0002 8006 0001 8007 0800
  10 00 000c | 8001 003c 8002 005a
  00 00 0037 | 01 | 00 | 01 0400 04 0a00630a | 01 0400 04 0101c0ef | 0c | d3b1ba79
    8004 0001 8005 0002 8001 0001 8002 0078 8006 0000 800e 0003 800f 0002`);
export const capturedSa: GdoiSaPayload = {
  type: 1,
  layout: 'gdoi',
  doi: 2,
  situation: 0,
  kek: {
    type: 15,
    protocol: 17,
    src: { idType: 1, port: 848, data: hex('0a630001') },
    dst: { idType: 1, port: 848, data: hex('efc06301') },
    spi: hex('989b0ab8f1dd4dea527cca12141cf8e1'),
    reservedLength: 6,
    attributes: [
      { type: KekAttr.Algorithm, value: 3 },
      { type: KekAttr.KeyLength, value: 128 },
      { type: KekAttr.KeyLifetime, value: 90 },
      { type: KekAttr.SigHashAlgorithm, value: 2 },
      { type: KekAttr.SigAlgorithm, value: 1 },
      { type: KekAttr.SigKeyLength, value: 2048 },
    ],
  },
  gap: { type: 22, attributes: [{ type: 1, value: 60 }, { type: 2, value: 90 }] },
  teks: [
    {
      type: 16,
      kind: 'ipsec',
      protocolId: 1,
      protocol: 0,
      src: { idType: 1, port: 1024, data: hex('0a00630a') },
      dst: { idType: 1, port: 1024, data: hex('0101c0ef') },
      transformId: 12,
      spi: hex('d3b1ba79'),
      attributes: [
        { type: TekAttr.EncapsulationMode, value: 1 },
        { type: TekAttr.AuthenticationAlgorithm, value: 2 },
        { type: TekAttr.SaLifeType, value: 1 },
        { type: TekAttr.SaLifeDuration, value: 120 },
        { type: TekAttr.KeyLength, value: 0 },
        { type: TekAttr.AddressPreservation, value: 3 },
        { type: TekAttr.SaDirection, value: 2 },
      ],
    },
  ],
};

codecTests('GDOI SA (gdoid PULL 2: SAK, GAP, SAT)', {
  payloads: [capturedSa],
  golden: capturedSaGolden,
  exchangeType: PULL,
  lengthFields: [
    { name: 'SA length', at: 2, size: 2 },
    { name: 'SAK length', at: 18, size: 2 },
    { name: 'SAK src ID data length', at: 24, size: 1 },
    { name: 'SAK dst ID data length', at: 32, size: 1 },
    { name: 'GAP length', at: 85, size: 2 },
    { name: 'SAT length', at: 97, size: 2 },
    { name: 'SAT src ID data length', at: 104, size: 1 },
    { name: 'SAT dst ID data length', at: 112, size: 1 },
  ],
});

test('GDOI SA: the same bytes decode in GROUPKEY-PUSH', () => {
  assert.deepEqual(decodeExact(capturedSaGolden, 1, PUSH), [capturedSa]);
});

test('GDOI SA: outside PULL/PUSH a DOI 2 SA is read with the RFC 2408 layout', () => {
  // Here the GDOI attribute header (000f 0000) would be a proposal header with a non-zero reserved byte.
  assertWireError(() => decodeExact(capturedSaGolden, 1, ExchangeType.IdentityProtection), 'RESERVED_NOT_ZERO');
});

test('GDOI SA: encoding refuses a layout the receiver would not decode as such', () => {
  assertWireError(() => encodePayloads([capturedSa], { exchangeType: ExchangeType.IdentityProtection }), 'INVALID_VALUE');
  const rfc2408: SaPayload = { type: 1, doi: 2, situation: 0, proposals: [{ number: 1, protocolId: 1, spi: new Uint8Array(0), transforms: [{ number: 1, transformId: 1, attributes: [] }] }] };
  assertWireError(() => encodePayloads([rfc2408], { exchangeType: PULL }), 'INVALID_VALUE');
});

/** SA header + the given attribute chain (each item: next, body hex). */
function sa(first: number, items: Array<[number, number, string]>): Uint8Array {
  const chain = items.map(([, next, body]) => {
    const b = hex(body);
    return [next, 0, (b.length + 4) >> 8, (b.length + 4) & 0xff, ...b];
  });
  const body = [0, 0, 0, 2, 0, 0, 0, 0, first >> 8, first & 0xff, 0, 0, ...chain.flat()];
  return Uint8Array.from([0, 0, (body.length + 4) >> 8, (body.length + 4) & 0xff, ...body]);
}

const SAK_BODY = '11 01 0350 04 0a630001 01 0350 04 efc06301 989b0ab8f1dd4dea527cca12141cf8e1 00000000 8002 0003';
const GAP_BODY = '8001 003c';
const SAT_BODY = '01 00 01 0000 04 0a00630a 01 0000 04 0101c0ef 0c d3b1ba79 8001 0001';

test('GDOI SA: attribute chain order is SAK, GAP, SATs', () => {
  const ok = decodeExact(sa(15, [[15, 22, SAK_BODY], [22, 16, GAP_BODY], [16, 16, SAT_BODY], [16, 0, SAT_BODY]]), 1, PULL);
  assert.equal((ok[0] as GdoiSaPayload).teks.length, 2);
  // GAP may come first when there is no KEK (RFC 6407 §5.4), but a SAT must then follow.
  assert.equal((decodeExact(sa(22, [[22, 16, GAP_BODY], [16, 0, SAT_BODY]]), 1, PULL)[0] as GdoiSaPayload).kek, undefined);
  assertWireError(() => decodeExact(sa(22, [[22, 0, GAP_BODY]]), 1, PULL), 'MISSING_PAYLOAD');
  assertWireError(() => decodeExact(sa(16, [[16, 15, SAT_BODY], [15, 0, SAK_BODY]]), 1, PULL), 'BAD_NEXT_PAYLOAD');
  assertWireError(() => decodeExact(sa(15, [[15, 15, SAK_BODY], [15, 0, SAK_BODY]]), 1, PULL), 'BAD_NEXT_PAYLOAD');
  assertWireError(() => decodeExact(sa(15, [[15, 22, SAK_BODY], [22, 22, GAP_BODY], [22, 0, GAP_BODY]]), 1, PULL), 'BAD_NEXT_PAYLOAD');
  assertWireError(() => decodeExact(sa(16, [[16, 22, SAT_BODY], [22, 0, GAP_BODY]]), 1, PULL), 'BAD_NEXT_PAYLOAD');
  assertWireError(() => decodeExact(sa(0, []), 1, PULL), 'BAD_NEXT_PAYLOAD');
  assertWireError(() => decodeExact(sa(13, [[13, 0, GAP_BODY]]), 1, PULL), 'BAD_NEXT_PAYLOAD');
});

test('GDOI SA: the chain must end exactly at the SA length, and RESERVED2 be zero', () => {
  const stopsEarly = sa(15, [[15, 0, SAK_BODY], [16, 0, SAT_BODY]]);
  assertWireError(() => decodeExact(stopsEarly, 1, PULL), 'TRAILING_BYTES');
  const reserved = sa(16, [[16, 0, SAT_BODY]]);
  reserved[15] = 1;
  assertWireError(() => decodeExact(reserved, 1, PULL), 'RESERVED_NOT_ZERO');
});

test('GDOI SA: encoding needs a SAK or a SAT', () => {
  const empty: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, gap: { type: 22, attributes: [] }, teks: [] };
  assertWireError(() => encodePayloads([empty], { exchangeType: PULL }), 'INVALID_VALUE');
});
