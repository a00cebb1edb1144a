import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExchangeType, GapAttr } from '../src/index.js';
import { assertWireError, codecTests, decodeExact, hex } from './helpers.js';

// GROUPKEY-PULL message 3 with a SENDER_ID_REQUEST for 4 SIDs (RFC 6407 §3.2, §5.4): HASH(3), GAP.
codecTests('GAP (PULL 3: HASH, GAP)', {
  payloads: [
    { type: 8, data: hex('c2bbddff0c65952822284eef25f3e1129034f814') },
    { type: 22, attributes: [{ type: GapAttr.SenderIdRequest, value: 4 }] },
  ],
  golden: hex('16 00 0018 c2bbddff0c65952822284eef25f3e1129034f814 | 00 00 0008 8003 0004'),
  exchangeType: ExchangeType.GroupkeyPull,
  lengthFields: [
    { name: 'HASH length', at: 2, size: 2 },
    { name: 'GAP length', at: 26, size: 2 },
  ],
});

test('GAP: ATD and DTD as gdoid sends them inside the SA', () => {
  const [gap] = decodeExact(hex('00 00 000c 8001 003c 8002 005a'), 22, ExchangeType.GroupkeyPull);
  assert.deepEqual(gap, { type: 22, attributes: [{ type: GapAttr.ActivationTimeDelay, value: 60 }, { type: GapAttr.DeactivationTimeDelay, value: 90 }] });
});

test('GAP: a partial attribute is rejected', () => {
  assertWireError(() => decodeExact(hex('00 00 000a 8001 003c 8002'), 22, ExchangeType.GroupkeyPull), 'TRUNCATED');
});
