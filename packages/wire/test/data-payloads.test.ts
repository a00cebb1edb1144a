import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, MAX_NONCE, MIN_NONCE, encodePayloads } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const MM = ExchangeType.IdentityProtection;

// KE, NONCE, VID of a Main Mode message 3 (RFC 2409 §5); the VID is RFC 3706's DPD vendor ID.
const ke = Uint8Array.from({ length: 128 }, (_, i) => (i * 7 + 1) & 0xff);
codecTests('KE, NONCE, VID (Main Mode 3)', {
  payloads: [
    { type: 4, data: ke },
    { type: 10, data: hex('f101d51767b9ae6c98a39387e385482f') },
    { type: 13, data: hex('afcad71368a1f1c96b8696fc77570100') },
  ],
  golden: Uint8Array.from([
    ...hex('0a 00 0084'), ...ke,
    ...hex('0d 00 0014 f101d51767b9ae6c98a39387e385482f'),
    ...hex('00 00 0014 afcad71368a1f1c96b8696fc77570100'),
  ]),
  exchangeType: MM,
  lengthFields: [
    { name: 'KE length', at: 2, size: 2 },
    { name: 'NONCE length', at: 134, size: 2 },
    { name: 'VID length', at: 154, size: 2 },
  ],
});

// gdoid PULL 1 (gdoi-peer-gm.log "before encryption"): HASH(1), Ni, ID(KEY_ID group 1234).
codecTests('HASH, NONCE, ID (GROUPKEY-PULL 1 from gdoid)', {
  payloads: [
    { type: 8, data: hex('c3098e8d2030014627b013ab215a4a28632432ef') },
    { type: 10, data: hex('f101d51767b9ae6c98a39387e385482f') },
    { type: 5, idType: 11, protocolId: 0, port: 0, data: hex('d2040000') },
  ],
  golden: hex('0a000018 c3098e8d2030014627b013ab215a4a28632432ef 05000014 f101d51767b9ae6c98a39387e385482f 0000000c 0b000000 d2040000'),
  exchangeType: ExchangeType.GroupkeyPull,
  lengthFields: [
    { name: 'HASH length', at: 2, size: 2 },
    { name: 'NONCE length', at: 26, size: 2 },
    { name: 'ID length', at: 46, size: 2 },
  ],
});

const sig = Uint8Array.from({ length: 256 }, (_, i) => i & 0xff);
codecTests('SIG (RSA-2048, 260-byte payload as in gdoid PUSH)', {
  payloads: [{ type: 9, data: sig }],
  golden: Uint8Array.from([...hex('00 00 0104'), ...sig]),
  exchangeType: ExchangeType.GroupkeyPush,
  lengthFields: [{ name: 'SIG length', at: 2, size: 2 }],
});

function nonce(n: number): Uint8Array {
  return Uint8Array.from([0, 0, (n + 4) >> 8, (n + 4) & 0xff, ...new Uint8Array(n)]);
}

test('NONCE: 8..256 bytes accepted, 7 and 257 rejected both ways', () => {
  assert.equal(MIN_NONCE, 8);
  assert.equal(MAX_NONCE, 256);
  for (const n of [8, 128, 256]) assert.equal(decodeExact(nonce(n), 10, MM).length, 1);
  for (const n of [0, 7, 257]) {
    assertWireError(() => decodeExact(nonce(n), 10, MM), 'BAD_LENGTH', `nonce of ${n}`);
    assertWireError(() => encodePayloads([{ type: 10, data: new Uint8Array(n) }], { exchangeType: MM }), 'INVALID_VALUE');
  }
});

test('KE, HASH, SIG, VID: empty bodies are rejected', () => {
  for (const type of [4, 8, 9, 13]) assertWireError(() => decodeExact(hex('00 00 0004'), type, MM), 'BAD_LENGTH', `type ${type}`);
});

test('HASH: longer than any PRF output (64) is rejected', () => {
  assertWireError(() => decodeExact(Uint8Array.from([0, 0, 0, 69, ...new Uint8Array(65)]), 8, MM), 'BAD_LENGTH');
});
