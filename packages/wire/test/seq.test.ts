import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, encodePayloads } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

const PUSH = ExchangeType.GroupkeyPush;

// SEQ 1 as the first PUSH under a KEK carries it (RFC 6407 §5.7), followed by another payload so the
// chain's Next Payload is exercised.
codecTests('SEQ (gdoid PUSH, sequence 1)', {
  payloads: [{ type: 18, seq: 1 }, { type: 13, data: hex('01') }],
  golden: hex('0d 00 0008 00000001 | 00 00 0005 01'),
  exchangeType: PUSH,
  lengthFields: [
    { name: 'SEQ length', at: 2, size: 2 },
    { name: 'VID length', at: 10, size: 2 },
  ],
});

test('SEQ: Payload Length must be 8 exactly', () => {
  assertWireError(() => decodeExact(hex('00 00 0009 00000001 00'), 18, PUSH), 'BAD_LENGTH');
  assertWireError(() => decodeExact(hex('00 00 0007 000001'), 18, PUSH), 'BAD_LENGTH');
});

test('SEQ: the full 32-bit range', () => {
  assert.deepEqual(decodeExact(hex('00 00 0008 ffffffff'), 18, PUSH), [{ type: 18, seq: 0xffffffff }]);
  assertWireError(() => encodePayloads([{ type: 18, seq: 2 ** 32 }], { exchangeType: PUSH }), 'INVALID_VALUE');
  assertWireError(() => encodePayloads([{ type: 18, seq: -1 }], { exchangeType: PUSH }), 'INVALID_VALUE');
});
