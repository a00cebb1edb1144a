import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, KdType, KekKeyAttr, SidKeyAttr, TekKeyAttr, decodeKeyDownload, encodeKeyDownload, keyDownloadLength, encodePayloads } from '../src/index.js';
import type { KeyDownloadPayload } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex, toHex } from './helpers.js';

const PUSH = ExchangeType.GroupkeyPush;

// Hand-built from RFC 6407 §5.6: a TEK packet (AES key + HMAC key), a KEK packet (IV||key), a SID packet
// (SPI size 0: 8 SID bits as B, one SID value as V).
const golden = hex(`
  00 00 0074 | 0003 0000
  01 00 0025 | 04 d3b1ba79 | 0001 0010 000102030405060708090a0b0c0d0e0f | 0002 0004 a1a2a3a4
  02 00 0039 | 10 989b0ab8f1dd4dea527cca12141cf8e1 | 0001 0020 4e4155455e13f5249e8b0490fbec6b0271813cb8d04a963cf0ff83befa8f069a
  04 00 000e | 00 | 8001 0008 0002 0001 07`);
const kd: KeyDownloadPayload = {
  type: 17,
  packets: [
    { kdType: KdType.Tek, spi: hex('d3b1ba79'), attributes: [{ type: TekKeyAttr.AlgorithmKey, bytes: hex('000102030405060708090a0b0c0d0e0f') }, { type: TekKeyAttr.IntegrityKey, bytes: hex('a1a2a3a4') }] },
    { kdType: KdType.Kek, spi: hex('989b0ab8f1dd4dea527cca12141cf8e1'), attributes: [{ type: KekKeyAttr.AlgorithmKey, bytes: hex('4e4155455e13f5249e8b0490fbec6b0271813cb8d04a963cf0ff83befa8f069a') }] },
    { kdType: KdType.Sid, spi: new Uint8Array(0), attributes: [{ type: SidKeyAttr.NumberOfSidBits, value: 8 }, { type: SidKeyAttr.SidValue, bytes: hex('07') }] },
  ],
};

codecTests('KD (TEK, KEK and SID key packets)', {
  payloads: [kd],
  golden,
  exchangeType: PUSH,
  lengthFields: [
    { name: 'payload length', at: 2, size: 2 },
    { name: 'number of key packets', at: 4, size: 2 },
    { name: 'TEK packet length', at: 10, size: 2 },
    { name: 'TEK SPI size', at: 12, size: 1 },
    { name: 'TEK key attribute length', at: 19, size: 2 },
    { name: 'integrity key length', at: 39, size: 2 },
    { name: 'KEK packet length', at: 47, size: 2 },
    { name: 'KEK SPI size', at: 49, size: 1 },
    { name: 'KEK key attribute length', at: 68, size: 2 },
    { name: 'SID packet length', at: 104, size: 2 },
    { name: 'SID SPI size', at: 106, size: 1 },
  ],
});

test('KD: body codec at an offset in a 0xa5 buffer', () => {
  const body = golden.subarray(4);
  assert.deepEqual(decodeKeyDownload(body, 0, body.length), kd);
  const out = new Uint8Array(body.length + 10).fill(0xa5);
  assert.equal(encodeKeyDownload(kd, out, 5), keyDownloadLength(kd));
  assert.equal(toHex(out.subarray(5, 5 + body.length)), toHex(body));
  assert.ok(out.subarray(0, 5).every((b) => b === 0xa5) && out.subarray(5 + body.length).every((b) => b === 0xa5));
});

test('KD: key packet length below 5 is rejected', () => {
  assertWireError(() => decodeExact(hex('00 00 000c 0001 0000 | 01 00 0004 0000'), 17, PUSH), 'BAD_LENGTH');
});

test('KD: SPI sizes are fixed for TEK (4), KEK (16) and SID (0)', () => {
  assertWireError(() => decodeExact(hex('00 00 000d 0001 0000 | 01 00 0005 | 00'), 17, PUSH), 'BAD_SPI_SIZE');
  assertWireError(() => decodeExact(hex('00 00 0011 0001 0000 | 02 00 0009 | 04 00000000'), 17, PUSH), 'BAD_SPI_SIZE');
  assertWireError(() => decodeExact(hex('00 00 0011 0001 0000 | 04 00 0009 | 04 00000000'), 17, PUSH), 'BAD_SPI_SIZE');
  const wrong: KeyDownloadPayload = { type: 17, packets: [{ kdType: KdType.Kek, spi: new Uint8Array(4), attributes: [] }] };
  assertWireError(() => encodePayloads([wrong], { exchangeType: PUSH }), 'INVALID_VALUE');
});

test('KD: LKH and unknown key packet types keep any SPI size and their attributes', () => {
  const bytes = hex('00 00 0018 0002 0000 | 03 00 0009 | 04 01020304 | 63 00 0007 | 02 abcd');
  assert.deepEqual(decodeExact(bytes, 17, PUSH), [
    { type: 17, packets: [{ kdType: KdType.Lkh, spi: hex('01020304'), attributes: [] }, { kdType: 99, spi: hex('abcd'), attributes: [] }] },
  ]);
});

test('KD: count must match the packets and be non-zero; RESERVED2 must be zero', () => {
  assertWireError(() => decodeExact(hex('00 00 0008 0000 0000'), 17, PUSH), 'BAD_COUNT');
  assertWireError(() => decodeExact(hex('00 00 000d 0002 0000 | 04 00 0005 00'), 17, PUSH), 'BAD_COUNT');
  assertWireError(() => decodeExact(hex('00 00 000d 0001 0001 | 04 00 0005 00'), 17, PUSH), 'RESERVED_NOT_ZERO');
  assertWireError(() => encodePayloads([{ type: 17, packets: [] }], { exchangeType: PUSH }), 'INVALID_VALUE');
});
