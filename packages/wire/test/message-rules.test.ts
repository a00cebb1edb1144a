import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageRules, PayloadType, checkMessageRules } from '../src/index.js';
import type { Payload } from '../src/index.js';
import { hex } from './helpers.js';

const hash: Payload = { type: 8, data: hex('00112233445566778899aabbccddeeff00112233') };
const nonce: Payload = { type: 10, data: hex('0011223344556677') };
const groupId: Payload = { type: 5, idType: 11, protocolId: 0, port: 0, data: hex('000004d2') };
const seq: Payload = { type: 18, seq: 1 };
const sig: Payload = { type: 9, data: hex('01') };
const kd: Payload = { type: 17, packets: [{ kdType: 1, spi: hex('01020304'), attributes: [] }] };
const del: Payload = { type: 12, doi: 2, protocolId: 1, spiSize: 4, spis: [hex('01020304')] };
const notify: Payload = { type: 11, doi: 1, protocolId: 1, spi: new Uint8Array(16), notifyType: 36136, data: hex('00000001') };
const vid: Payload = { type: 13, data: hex('afcad71368a1f1c96b8696fc77570100') };

test('rules: well-formed messages pass', () => {
  assert.equal(checkMessageRules(MessageRules.pull1, [hash, nonce, groupId]), undefined);
  assert.equal(checkMessageRules(MessageRules.pull3, [hash]), undefined);
  assert.equal(checkMessageRules(MessageRules.push, [seq, del, del, kd, sig]), undefined);
  assert.equal(checkMessageRules(MessageRules.push, [seq, del, sig]), undefined);
  assert.equal(checkMessageRules(MessageRules.informational, [hash, notify]), undefined);
  assert.equal(checkMessageRules(MessageRules.mainMode3, [vid, { type: 4, data: hex('01') }, nonce, vid]), undefined);
});

test('rules: a missing required payload', () => {
  assert.equal(checkMessageRules(MessageRules.pull1, [hash, nonce])?.code, 'MISSING_PAYLOAD');
  assert.equal(checkMessageRules(MessageRules.push, [seq, kd])?.code, 'MISSING_PAYLOAD');
  assert.equal(checkMessageRules(MessageRules.informational, [hash])?.code, 'MISSING_PAYLOAD');
});

test('rules: a payload the message does not allow, including unknown ones', () => {
  assert.equal(checkMessageRules(MessageRules.pull1, [hash, nonce, groupId, vid])?.code, 'UNEXPECTED_PAYLOAD');
  assert.equal(checkMessageRules(MessageRules.mainMode1, [{ type: 6, unknown: true, body: hex('00') }])?.code, 'UNEXPECTED_PAYLOAD');
});

test('rules: too many of one payload', () => {
  assert.equal(checkMessageRules(MessageRules.pull1, [hash, nonce, nonce, groupId])?.code, 'DUPLICATE_PAYLOAD');
});

test('rules: order, and the HASH first where it covers the rest', () => {
  assert.equal(checkMessageRules(MessageRules.pull1, [nonce, hash, groupId])?.code, 'PAYLOAD_ORDER');
  assert.equal(checkMessageRules(MessageRules.push, [seq, kd, del, sig])?.code, 'PAYLOAD_ORDER');
  assert.equal(checkMessageRules(MessageRules.pushAck, [seq, hash, groupId])?.code, 'PAYLOAD_ORDER');
});

test('rules: the offset of a decoded offender is its start', () => {
  const error = checkMessageRules(MessageRules.pull3, [
    { payload: hash, start: 0, end: 24 },
    { payload: vid, start: 24, end: 44 },
  ]);
  assert.equal(error?.code, 'UNEXPECTED_PAYLOAD');
  assert.equal(error?.offset, 24);
});

test('rules: every rule names payload types the codec knows', () => {
  const known = new Set<number>(Object.values(PayloadType));
  for (const rule of Object.values(MessageRules)) {
    for (const p of rule.payloads) {
      assert.ok(known.has(p.type), `${rule.name}: ${p.type}`);
      assert.ok(p.min <= p.max, `${rule.name}: ${p.type} min <= max`);
    }
  }
});
