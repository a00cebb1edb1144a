import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, HEADER_LENGTH, HeaderFlags, decodeHeader, encodeHeader } from '../src/index.js';
import type { Header } from '../src/index.js';
import { assertWireError, hex, toHex } from './helpers.js';

// gdoid GROUPKEY-PUSH, capture frame 11 (protocol.md §7): KEK SPI as cookies, NP=SEQ, v1.0, exch 33,
// flags E, M-ID 0, length 940.
const golden = hex('989b0ab8f1dd4dea 527cca12141cf8e1 12 10 21 01 00000000 000003ac');
const header: Header = {
  icookie: hex('989b0ab8f1dd4dea'),
  rcookie: hex('527cca12141cf8e1'),
  nextPayload: 18,
  version: 0x10,
  exchangeType: ExchangeType.GroupkeyPush,
  flags: HeaderFlags.Encryption,
  messageId: 0,
  length: 940,
};

function datagram(head: Uint8Array, total: number): Uint8Array {
  const d = new Uint8Array(total);
  d.set(head);
  return d;
}

test('header: decodes the gdoid PUSH header', () => {
  assert.deepEqual(decodeHeader(datagram(golden, 940)), header);
});

test('header: encodes to the golden bytes, at an offset, leaving the rest alone', () => {
  const out = new Uint8Array(HEADER_LENGTH + 10).fill(0xa5);
  assert.equal(encodeHeader(header, out, 5), HEADER_LENGTH);
  assert.equal(toHex(out.subarray(5, 5 + HEADER_LENGTH)), toHex(golden));
  assert.ok(out.subarray(0, 5).every((b) => b === 0xa5));
  assert.ok(out.subarray(5 + HEADER_LENGTH).every((b) => b === 0xa5));
});

test('header: decodes at an offset (length counts from there)', () => {
  const buf = new Uint8Array(3 + 940);
  buf.set(golden, 3);
  assert.deepEqual(decodeHeader(buf, 3), header);
});

test('header: rejects every truncation', () => {
  for (let n = 0; n < HEADER_LENGTH; n++) assertWireError(() => decodeHeader(golden.slice(0, n)), 'TRUNCATED', `length ${n}`);
});

test('header: Length must equal the datagram size', () => {
  assertWireError(() => decodeHeader(datagram(golden, 941)), 'LENGTH_MISMATCH');
  assertWireError(() => decodeHeader(datagram(golden, 939)), 'LENGTH_MISMATCH');
  const short = Uint8Array.from(golden);
  short.set([0, 0, 0, 27], 24);
  assertWireError(() => decodeHeader(short), 'BAD_LENGTH');
});

test('header: major version must be 1, any minor accepted', () => {
  const v2 = datagram(golden, 940);
  v2[17] = 0x20;
  assertWireError(() => decodeHeader(v2), 'BAD_VERSION');
  const v11 = datagram(golden, 940);
  v11[17] = 0x11;
  assert.equal(decodeHeader(v11).version, 0x11);
});

test('header: unknown flags and exchange types are kept as numbers', () => {
  const odd = datagram(golden, 940);
  odd[18] = 34;
  odd[19] = 0xf8;
  const h = decodeHeader(odd);
  assert.equal(h.exchangeType, 34);
  assert.equal(h.flags, 0xf8);
});

test('header: refuses cookies that are not 8 bytes and out-of-range fields', () => {
  const out = new Uint8Array(HEADER_LENGTH);
  assertWireError(() => encodeHeader({ ...header, icookie: new Uint8Array(7) }, out, 0), 'INVALID_VALUE');
  assertWireError(() => encodeHeader({ ...header, flags: 256 }, out, 0), 'INVALID_VALUE');
  assertWireError(() => encodeHeader({ ...header, messageId: 2 ** 32 }, out, 0), 'INVALID_VALUE');
  assertWireError(() => encodeHeader(header, new Uint8Array(HEADER_LENGTH - 1), 0), 'BUFFER_TOO_SMALL');
});
