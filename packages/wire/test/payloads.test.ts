import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, MAX_PAYLOADS, PayloadType, decodePayloads, encodePayloads, isPayloadType, payloadsLength } from '../src/index.js';
import type { Payload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const MM = ExchangeType.IdentityProtection;

codecTests('unknown payloads (CERT 6, private 200) between known ones', {
  payloads: [
    { type: 6, unknown: true, body: hex('04 3082') },
    { type: 200, unknown: true, body: new Uint8Array(0) },
    { type: 13, data: hex('abcd') },
  ],
  golden: hex('c8 00 0007 043082 | 0d 00 0004 | 00 00 0006 abcd'),
  exchangeType: MM,
  lengthFields: [
    { name: 'CERT length', at: 2, size: 2 },
    { name: 'unknown length', at: 9, size: 2 },
    { name: 'VID length', at: 13, size: 2 },
  ],
});

test('chain: first type 0 is an empty chain', () => {
  assert.deepEqual(decodePayloads(new Uint8Array(4), 0, 0, 4, { exchangeType: MM }), { payloads: [], end: 0 });
});

test('chain: stops at Next Payload 0 and reports where, leaving the padding', () => {
  const padded = hex('00 00 0008 00000001 000000000000');
  const { payloads, end } = decodePayloads(padded, PayloadType.SEQ, 0, padded.length, { exchangeType: ExchangeType.GroupkeyPush });
  assert.equal(end, 8);
  assert.deepEqual(payloads, [{ payload: { type: 18, seq: 1 }, start: 0, end: 8 }]);
});

test('chain: decodes within [off, end) only', () => {
  const buf = hex('ffff | 00 00 0006 abcd | ffff');
  const { payloads, end } = decodePayloads(buf, PayloadType.VID, 2, 8, { exchangeType: MM });
  assert.equal(end, 8);
  assert.equal(payloads[0]?.start, 2);
  assertWireError(() => decodePayloads(buf, PayloadType.VID, 2, 7, { exchangeType: MM }), 'TRUNCATED');
  assertWireError(() => decodePayloads(buf, PayloadType.VID, 2, 99, { exchangeType: MM }), 'TRUNCATED');
});

test('chain: generic header checks (length below 4, reserved byte, room for the header)', () => {
  assertWireError(() => decodeExact(hex('00 00 0003 00'), PayloadType.VID, MM), 'BAD_LENGTH');
  assertWireError(() => decodeExact(hex('00 01 0005 00'), PayloadType.VID, MM), 'RESERVED_NOT_ZERO');
  assertWireError(() => decodeExact(hex('00 00 00'), PayloadType.VID, MM), 'TRUNCATED');
  assertWireError(() => decodeExact(hex('0d 00 0005 00'), PayloadType.VID, MM), 'TRUNCATED');
});

test('chain: Proposal, Transform, SAK and SAT cannot stand alone', () => {
  for (const type of [2, 3, 15, 16]) {
    assertWireError(() => decodeExact(hex('00 00 0008 00000000'), type, ExchangeType.GroupkeyPull), 'MISPLACED_PAYLOAD', `type ${type}`);
  }
});

test(`chain: more than ${MAX_PAYLOADS} payloads are refused both ways`, () => {
  const vid = (next: number): number[] => [next, 0, 0, 5, 1];
  const chain = (n: number): Uint8Array => Uint8Array.from(Array.from({ length: n }, (_, i) => vid(i + 1 < n ? 13 : 0)).flat());
  assert.equal(decodeExact(chain(MAX_PAYLOADS), 13, MM).length, MAX_PAYLOADS);
  assertWireError(() => decodeExact(chain(MAX_PAYLOADS + 1), 13, MM), 'TOO_MANY_PAYLOADS');
  const many: Payload[] = Array.from({ length: MAX_PAYLOADS + 1 }, () => ({ type: 13, data: hex('01') }));
  assertWireError(() => encodePayloads(many, { exchangeType: MM }), 'INVALID_VALUE');
});

test('chain: an UnknownPayload may not claim a type the codec interprets', () => {
  for (const type of [0, 1, 2, 4, 15, 22]) {
    assertWireError(() => encodePayloads([{ type, unknown: true, body: new Uint8Array(4) }], { exchangeType: MM }), 'INVALID_VALUE', `type ${type}`);
  }
});

test('payloadsLength counts the generic headers', () => {
  const payloads: Payload[] = [{ type: 18, seq: 1 }, { type: 13, data: hex('abcd') }];
  assert.equal(payloadsLength(payloads, { exchangeType: MM }), 14);
});

test('isPayloadType narrows to the known payload type', () => {
  const [vid, unknown] = decodeExact(hex('07 00 0006 abcd | 00 00 0004'), 13, MM) as [Payload, Payload];
  assert.ok(isPayloadType(vid, PayloadType.VID));
  assert.equal(vid.data.length, 2);
  assert.ok('unknown' in unknown && unknown.type === 7);
  assert.ok(!isPayloadType(vid, PayloadType.HASH));
});

test('decoding from a Node Buffer yields plain Uint8Array copies', () => {
  const datagram = Buffer.from(hex('06 00 0008 abcdef01 | 05 00 0006 0102 | 00 00 000c 01 00 0000 0a630001'));
  const decoded = decodeExact(datagram, PayloadType.VID, MM);
  datagram.fill(0);
  assert.deepEqual(decoded, [
    { type: 13, data: hex('abcdef01') },
    { type: 6, unknown: true, body: hex('0102') },
    { type: 5, idType: 1, protocolId: 0, port: 0, data: hex('0a630001') },
  ]);
});
