/**
 * The decrypted GROUPKEY-PULL and GROUPKEY-PUSH messages of Cisco's GDOI reference implementation
 * (test/vectors/gdoid-reference/README.md): every one decodes, its values are what the logs print, and it
 * re-encodes byte for byte.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DOI, EspTransformId, IdType, KdType, KekAttr, KekKeyAttr, MessageRules, NotifyType, TekAttr, TekKeyAttr,
  attributeNumber, checkMessageRules, decodePayloads, encodePayloads, findAttribute, groupIdFromKeyId, isPayloadType,
} from '../src/index.js';
import type { Attribute, DecodedPayload, GdoiSaPayload, KeyDownloadPayload, Payload } from '../src/index.js';
import { gdoidMessages } from '../fuzz/gdoid-log.js';
import { toHex } from './helpers.js';

const messages = new Map(gdoidMessages().map((m) => [m.name, m]));

function decoded(name: string): { payloads: DecodedPayload[]; end: number; plaintext: Uint8Array } {
  const m = messages.get(name);
  assert.ok(m !== undefined, `no message ${name}`);
  return { ...decodePayloads(m.plaintext, m.firstPayload, 0, m.plaintext.length, { exchangeType: m.exchangeType }), plaintext: m.plaintext };
}

function payloads(name: string): Payload[] {
  return decoded(name).payloads.map((p) => p.payload);
}

function only<T extends Payload['type']>(name: string, type: T): Extract<Payload, { type: T; unknown?: never }> {
  const found = payloads(name).filter((p) => p.type === type && !('unknown' in p));
  assert.equal(found.length, 1, `${name}: one payload of type ${type}`);
  return found[0] as Extract<Payload, { type: T; unknown?: never }>;
}

function num(attributes: Attribute[], type: number): number | undefined {
  const a = findAttribute(attributes, type);
  return a === undefined ? undefined : attributeNumber(a);
}

function bytesOf(attributes: Attribute[], type: number): Uint8Array {
  const a = findAttribute(attributes, type);
  assert.ok(a !== undefined && 'bytes' in a, `attribute ${type} as TLV`);
  return a.bytes;
}

test('gdoid: the logs hold 15 messages and each decodes, re-encodes byte for byte, padding < 16', () => {
  assert.equal(messages.size, 15);
  for (const [name, m] of messages) {
    const { payloads: ps, end } = decoded(name);
    const reencoded = encodePayloads(ps.map((p) => p.payload), { exchangeType: m.exchangeType });
    assert.equal(toHex(reencoded), toHex(m.plaintext.subarray(0, end)), name);
    assert.ok(m.plaintext.length - end < 16, `${name}: ${m.plaintext.length - end} bytes of padding`);
    assert.ok(m.plaintext.subarray(end).every((b) => b === 0), `${name}: zero padding`);
  }
});

test('gdoid: what the KS sent is what the GM decrypted (PUSH 1-4)', () => {
  for (const n of [1, 2, 3, 4]) {
    const ks = messages.get(`ks:PUSH${n}`);
    const gm = messages.get(`gm:PUSH${n}`);
    assert.equal(toHex(ks?.plaintext ?? new Uint8Array(0)), toHex(gm?.plaintext ?? new Uint8Array(1)), `PUSH ${n}`);
  }
});

test('gdoid: each message has the shape its exchange allows', () => {
  const rules = {
    'ks:MM5': MessageRules.mainMode5, 'gm:MM6': MessageRules.mainMode6,
    'ks:PULL1': MessageRules.pull1, 'gm:PULL2': MessageRules.pull2, 'ks:PULL3': MessageRules.pull3, 'gm:PULL4': MessageRules.pull4,
    'gm:PUSH1': MessageRules.push, 'gm:PUSH2': MessageRules.push, 'gm:PUSH3': MessageRules.push, 'gm:PUSH4': MessageRules.push, 'ks:PUSH5': MessageRules.push,
  };
  for (const [name, rule] of Object.entries(rules)) assert.equal(checkMessageRules(rule, decoded(name).payloads), undefined, name);
});

test('gdoid Main Mode 5/6: ID_IPV4_ADDR and INITIAL-CONTACT with the cookies as SPI', () => {
  const id = only('ks:MM5', 5);
  assert.equal(id.idType, IdType.Ipv4Addr);
  assert.equal(toHex(id.data), '0a630002');
  assert.equal(toHex(only('gm:MM6', 5).data), '0a630001');
  const n = only('gm:MM6', 11);
  assert.equal(n.notifyType, NotifyType.InitialContact);
  assert.equal(n.doi, DOI.IPSEC);
  assert.equal(toHex(n.spi), 'e3787137464179d0f4fed2b9c97cedde');
});

test('gdoid PULL 1: 16-byte nonce and ID_KEY_ID for group 1234 (little-endian in gdoid)', () => {
  assert.equal(only('ks:PULL1', 10).data.length, 16);
  assert.equal(only('ks:PULL1', 8).data.length, 20);
  const id = only('ks:PULL1', 5);
  assert.equal(id.idType, IdType.KeyId);
  assert.equal(id.protocolId, 0);
  assert.equal(id.port, 0);
  assert.equal(groupIdFromKeyId(id.data, { littleEndian: true }), 1234);
});

test('gdoid PULL 2: SA with the KEK policy, GAP and the ESP TEK', () => {
  const sa = only('gm:PULL2', 1) as GdoiSaPayload;
  assert.equal(sa.layout, 'gdoi');
  assert.equal(sa.doi, DOI.GDOI);
  const kek = sa.kek;
  assert.ok(kek !== undefined);
  assert.equal(kek.reservedLength, 6);
  assert.equal(toHex(kek.spi), '989b0ab8f1dd4dea527cca12141cf8e1');
  assert.equal(kek.protocol, 17);
  assert.deepEqual([toHex(kek.src.data), kek.src.port, toHex(kek.dst.data), kek.dst.port], ['0a630001', 848, 'efc06301', 848]);
  assert.equal(num(kek.attributes, KekAttr.Algorithm), 3); // AES
  assert.equal(num(kek.attributes, KekAttr.KeyLength), 128);
  assert.equal(num(kek.attributes, KekAttr.KeyLifetime), 90);
  assert.equal(num(kek.attributes, KekAttr.SigHashAlgorithm), 2); // SHA1
  assert.equal(num(kek.attributes, KekAttr.SigAlgorithm), 1); // RSA
  assert.equal(num(kek.attributes, KekAttr.SigKeyLength), 2048);
  assert.deepEqual(sa.gap?.attributes, [{ type: 1, value: 60 }, { type: 2, value: 90 }]);
  assert.equal(sa.teks.length, 1);
  const tek = sa.teks[0];
  assert.ok(tek !== undefined && tek.kind === 'ipsec');
  assert.equal(tek.protocolId, 1); // ESP
  assert.equal(tek.transformId, EspTransformId.AesCbc);
  assert.equal(toHex(tek.spi), 'd3b1ba79'); // "SPI found (SA) 3551640185"
  assert.equal(num(tek.attributes, TekAttr.AuthenticationAlgorithm), 2); // HMAC-SHA1
  assert.equal(num(tek.attributes, TekAttr.EncapsulationMode), 1);
  assert.equal(num(tek.attributes, TekAttr.SaLifeDuration), 120);
  assert.equal(num(tek.attributes, TekAttr.KeyLength), 0);
  assert.equal(num(tek.attributes, TekAttr.AddressPreservation), 3);
  assert.equal(num(tek.attributes, TekAttr.SaDirection), 2);
});

test('gdoid PULL 4: SEQ 0, KD with the KEK (IV||key, RSA SPKI) and the TEK integrity key', () => {
  assert.equal(only('gm:PULL4', 18).seq, 0); // "GOT SEQ # of: 0 (PULL)"
  const kd = only('gm:PULL4', 17) as KeyDownloadPayload;
  assert.equal(kd.packets.length, 2); // "GOT # of packets: 2"
  const [kek, tek] = kd.packets;
  assert.ok(kek !== undefined && tek !== undefined);
  assert.equal(kek.kdType, KdType.Kek);
  assert.equal(toHex(kek.spi), '989b0ab8f1dd4dea527cca12141cf8e1');
  const ivKey = bytesOf(kek.attributes, KekKeyAttr.AlgorithmKey);
  assert.equal(ivKey.length, 32);
  // gdoi-peer-keys.txt: IV 4e41…6b02, key 7181…069a.
  assert.equal(toHex(ivKey), '4e4155455e13f5249e8b0490fbec6b02' + '71813cb8d04a963cf0ff83befa8f069a');
  const spki = bytesOf(kek.attributes, KekKeyAttr.SigAlgorithmKey);
  assert.equal(spki.length, 294);
  assert.equal(toHex(spki.subarray(0, 4)), '30820122'); // DER SEQUENCE of 290 bytes
  assert.equal(tek.kdType, KdType.Tek);
  assert.equal(toHex(tek.spi), 'd3b1ba79');
  assert.equal(findAttribute(tek.attributes, TekKeyAttr.AlgorithmKey), undefined); // gdoid's Key Length 0 quirk
  assert.equal(bytesOf(tek.attributes, TekKeyAttr.IntegrityKey).length, 20);
});

test('gdoid PUSH: SEQ 1, 2, 3, 4, 5; SA, KD and a 256-byte RSA signature', () => {
  const names = ['gm:PUSH1', 'gm:PUSH2', 'gm:PUSH3', 'gm:PUSH4', 'ks:PUSH5'];
  assert.deepEqual(names.map((n) => only(n, 18).seq), [1, 2, 3, 4, 5]);
  for (const n of names) assert.equal(only(n, 9).data.length, 256, n);
  // PUSH 1: SAK, GAP, two SATs; KD with KEK and two TEKs ("GOT # of packets: 3").
  const sa1 = only('gm:PUSH1', 1) as GdoiSaPayload;
  assert.equal(sa1.teks.length, 2);
  assert.deepEqual((only('gm:PUSH1', 17) as KeyDownloadPayload).packets.map((p) => p.kdType), [KdType.Kek, KdType.Tek, KdType.Tek]);
  // PUSH 3 is the KEK rekey: SAK (new SPI c83c…) and GAP, no SAT; KD carries only the KEK.
  const sa3 = only('gm:PUSH3', 1) as GdoiSaPayload;
  assert.equal(toHex(sa3.kek?.spi ?? new Uint8Array(0)), 'c83c1a99a6abc914c1d8172348e52fd6');
  assert.equal(sa3.teks.length, 0);
  assert.deepEqual((only('gm:PUSH3', 17) as KeyDownloadPayload).packets.map((p) => p.kdType), [KdType.Kek]);
  // PUSH 5 (shutdown): Delete of four ESP TEKs, no SA or KD.
  const del = only('ks:PUSH5', 12);
  assert.equal(del.doi, DOI.GDOI);
  assert.equal(del.protocolId, 1);
  assert.deepEqual(del.spis.map(toHex), ['d3b1ba79', '1e756bc4', '5789f729', '95822529']);
  assert.equal(payloads('ks:PUSH5').some((p) => isPayloadType(p, 1) || isPayloadType(p, 17)), false);
});

test('gdoid PUSH 1: payload offsets match the log (SA at 0x24, KD at 0xf1, SIG at 0x29e)', () => {
  const header = 28;
  assert.deepEqual(decoded('gm:PUSH1').payloads.map((p) => p.start + header), [0x1c, 0x24, 0xf1, 0x29e]);
});
