import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, IdType, groupIdFromKeyId, keyIdFromGroupId } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

// Main Mode 6 from gdoid (gdoi-peer-gm.log): ID_IPV4_ADDR 10.99.0.1, protocol and port 0.
codecTests('ID (IPv4 address, Main Mode 6)', {
  payloads: [{ type: 5, idType: IdType.Ipv4Addr, protocolId: 0, port: 0, data: hex('0a630001') }],
  golden: hex('00 00 000c 01 00 0000 0a630001'),
  exchangeType: ExchangeType.IdentityProtection,
  lengthFields: [{ name: 'ID length', at: 2, size: 2 }],
});

test('ID: group 1234 as gdoid (little-endian) and as the RFC reads naturally (big-endian)', () => {
  const [id] = decodeExact(hex('00 00 000c 0b 00 0000 d2040000'), 5, ExchangeType.GroupkeyPull);
  assert.ok(id !== undefined && id.type === 5 && !('unknown' in id));
  assert.equal(id.idType, IdType.KeyId);
  assert.equal(groupIdFromKeyId(id.data, { littleEndian: true }), 1234);
  assert.equal(groupIdFromKeyId(hex('000004d2'), { littleEndian: false }), 1234);
  assert.deepEqual(keyIdFromGroupId(1234, { littleEndian: true }), hex('d2040000'));
  assert.deepEqual(keyIdFromGroupId(1234, { littleEndian: false }), hex('000004d2'));
  assertWireError(() => groupIdFromKeyId(hex('04d2'), { littleEndian: false }), 'BAD_LENGTH');
});

test('ID: unknown ID types are kept as numbers', () => {
  const [id] = decodeExact(hex('00 00 0009 fe 11 01f4 ab'), 5, ExchangeType.IdentityProtection);
  assert.deepEqual(id, { type: 5, idType: 0xfe, protocolId: 17, port: 500, data: hex('ab') });
});

test('ID: a body shorter than its 4 fixed bytes is rejected', () => {
  assertWireError(() => decodeExact(hex('00 00 0007 01 00 00'), 5, ExchangeType.IdentityProtection), 'TRUNCATED');
});
