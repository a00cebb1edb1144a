import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EspTransformId, ExchangeType, TekAttr, decodeSat, encodePayloads, encodeSat, satLength } from '../src/index.js';
import type { GdoiSaPayload, SatPayload } from '../src/index.js';
import { assertWireError, codecTests, hex, toHex } from './helpers.js';

const PULL = ExchangeType.GroupkeyPull;

// Hand-built from RFC 6407 §5.5/§5.5.1: ESP, any protocol, 172.16.0.0/12 both ways (ID_IPV4_ADDR_SUBNET),
// AES-GCM-16 (20), SPI 0x11223344, tunnel mode, 3600 s as TLV, 256-bit key, Address Preservation
// Source-and-Destination (4), SA Direction Symmetric (3).
const espGolden = hex(`
  00 00 004b | 00000002 | 00000000 | 0010 0000
  00 00 003b | 01 | 00 | 04 0000 08 ac100000fff00000 | 04 0000 08 ac100000fff00000 | 14 | 11223344
    8004 0001 0002 0004 00000e10 8006 0100 800e 0004 800f 0003`);
const espSat: SatPayload = {
  type: 16,
  kind: 'ipsec',
  protocolId: 1,
  protocol: 0,
  src: { idType: 4, port: 0, data: hex('ac100000fff00000') },
  dst: { idType: 4, port: 0, data: hex('ac100000fff00000') },
  transformId: EspTransformId.AesGcm16,
  spi: hex('11223344'),
  attributes: [
    { type: TekAttr.EncapsulationMode, value: 1 },
    { type: TekAttr.SaLifeDuration, bytes: hex('00000e10') },
    { type: TekAttr.KeyLength, value: 256 },
    { type: TekAttr.AddressPreservation, value: 4 },
    { type: TekAttr.SaDirection, value: 3 },
  ],
};

codecTests('SAT (ESP TEK)', {
  payloads: [{ type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: [espSat] }],
  golden: espGolden,
  exchangeType: PULL,
  lengthFields: [
    { name: 'SA length', at: 2, size: 2 },
    { name: 'SAT length', at: 18, size: 2 },
    { name: 'src ID data length', at: 25, size: 1 },
    { name: 'dst ID data length', at: 37, size: 1 },
    { name: 'SA Life Duration length', at: 57, size: 2 },
  ],
});

test('SAT: ESP body codec at an offset in a 0xa5 buffer', () => {
  const body = espGolden.subarray(20);
  assert.deepEqual(decodeSat(body, 0, body.length), espSat);
  const out = new Uint8Array(body.length + 6).fill(0xa5);
  assert.equal(encodeSat(espSat, out, 3), satLength(espSat));
  assert.equal(toHex(out.subarray(3, 3 + body.length)), toHex(body));
  assert.ok(out.subarray(0, 3).every((b) => b === 0xa5) && out.subarray(3 + body.length).every((b) => b === 0xa5));
});

test('SAT: AH uses the same body; other protocol ids stay opaque', () => {
  const ah = hex('02 00 01 0000 04 0a000001 01 0000 04 0a000002 05 01020304');
  assert.deepEqual(decodeSat(ah, 0, ah.length), {
    type: 16, kind: 'ipsec', protocolId: 2, protocol: 0,
    src: { idType: 1, port: 0, data: hex('0a000001') }, dst: { idType: 1, port: 0, data: hex('0a000002') },
    transformId: 5, spi: hex('01020304'), attributes: [],
  });
  // gdoid's SRTP TEK (Protocol-ID 128) is carried verbatim.
  const srtp = hex('80 deadbeef00');
  const opaque = decodeSat(srtp, 0, srtp.length);
  assert.deepEqual(opaque, { type: 16, kind: 'opaque', protocolId: 128, body: hex('deadbeef00') });
  const out = new Uint8Array(satLength(opaque));
  encodeSat(opaque, out, 0);
  assert.equal(toHex(out), toHex(srtp));
});

test('SAT: truncated ESP bodies are rejected, and the SPI is 4 bytes', () => {
  // The fixed part, up to the SPI: any cut inside it is an error (cuts between attributes are not).
  const body = espGolden.subarray(20, 20 + 31);
  for (let n = 0; n < body.length; n++) assertWireError(() => decodeSat(body, 0, n), 'TRUNCATED', `cut at ${n}`);
  const sa: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: [{ ...espSat, spi: hex('112233') }] };
  assertWireError(() => encodePayloads([sa], { exchangeType: PULL }), 'INVALID_VALUE');
});

test('SAT: kind must agree with the protocol id', () => {
  const wrong: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: [{ type: 16, kind: 'opaque', protocolId: 1, body: new Uint8Array(3) }] };
  assertWireError(() => encodePayloads([wrong], { exchangeType: PULL }), 'INVALID_VALUE');
});
