import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributeNumber, attributesLength, decodeAttributes, encodeAttributes, findAttribute } from '../src/index.js';
import type { Attribute } from '../src/index.js';
import { assertWireError, hex, toHex } from './helpers.js';

// RFC 2408 §3.3: TV = AF bit + type, 2-byte value; TLV = type, length, value.
// gdoid KEK_KEY_LIFETIME 90 s as TV (8004 005a); RFC 6407 form as TLV (0004 0004 0000005a).
const golden = hex('8004 005a | 0004 0004 0000005a | 7fff 0000 | ffff ffff');
const attributes: Attribute[] = [
  { type: 4, value: 90 },
  { type: 4, bytes: hex('0000005a') },
  { type: 0x7fff, bytes: new Uint8Array(0) },
  { type: 0x7fff, value: 0xffff },
];

test('attributes: TV and TLV decode and keep their form', () => {
  assert.deepEqual(decodeAttributes(golden, 0, golden.length), attributes);
});

test('attributes: encode byte-exact, at an offset', () => {
  const out = new Uint8Array(golden.length + 6).fill(0xa5);
  assert.equal(encodeAttributes(attributes, out, 3), golden.length);
  assert.equal(attributesLength(attributes), golden.length);
  assert.equal(toHex(out.subarray(3, 3 + golden.length)), toHex(golden));
  assert.ok(out.subarray(0, 3).every((b) => b === 0xa5) && out.subarray(3 + golden.length).every((b) => b === 0xa5));
});

test('attributes: every truncation is rejected', () => {
  // Cutting at an attribute boundary leaves a valid shorter list; every other cut must fail.
  const boundaries = new Set([0, 4, 12, 16]);
  for (let n = 0; n < golden.length; n++) {
    if (boundaries.has(n)) assert.equal(decodeAttributes(golden, 0, n).length, [0, 4, 12, 16].indexOf(n));
    else assertWireError(() => decodeAttributes(golden, 0, n), 'TRUNCATED', `cut at ${n}`);
  }
});

test('attributes: TLV length beyond the payload is rejected (tshark\'s t=0,l=32770 case)', () => {
  assertWireError(() => decodeAttributes(hex('0000 8002 0003'), 0, 6), 'TRUNCATED');
  assertWireError(() => decodeAttributes(hex('0004 0005 0000005a'), 0, 8), 'TRUNCATED');
});

test('attributes: refuse values that cannot be encoded', () => {
  const out = new Uint8Array(16);
  assertWireError(() => encodeAttributes([{ type: 1, value: 0x10000 }], out, 0), 'INVALID_VALUE');
  assertWireError(() => encodeAttributes([{ type: 0x8000, value: 1 }], out, 0), 'INVALID_VALUE');
});

test('attributeNumber reads TV and short TLV values; findAttribute finds by class', () => {
  assert.equal(attributeNumber({ type: 12, value: 28800 }), 28800);
  assert.equal(attributeNumber({ type: 12, bytes: hex('00015180') }), 86400);
  assert.equal(attributeNumber({ type: 12, bytes: hex('ffffffffffff') }), 2 ** 48 - 1);
  assertWireError(() => attributeNumber({ type: 12, bytes: new Uint8Array(7) }), 'INVALID_VALUE');
  assertWireError(() => attributeNumber({ type: 12, bytes: new Uint8Array(0) }), 'INVALID_VALUE');
  assert.deepEqual(findAttribute(attributes, 0x7fff), { type: 0x7fff, bytes: new Uint8Array(0) });
  assert.equal(findAttribute(attributes, 9), undefined);
});
