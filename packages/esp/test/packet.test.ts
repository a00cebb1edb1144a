import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, type CipherGCMTypes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  EspError, buildIpv4Udp, espLengthValid, classifyUdpEncap, decodeProbePayload, encodeProbePayload, espLength, formatIpv4, hostInPrefix,
  internetChecksum, makeTek, openEsp, parseIpv4, parseIpv4Udp, parsePrefix, prefixContains, sealEsp, tekFromKeyDownload,
} from '../src/index.js';
import { hex, testTek, toHex } from './helpers.js';

function probeInner(): Uint8Array {
  return buildIpv4Udp({
    source: parseIpv4('172.16.0.1'), destination: parseIpv4('172.16.0.2'), sourcePort: 9, destinationPort: 9,
    payload: encodeProbePayload({ senderId: 1, seq: 7, sentAt: 1234.5 }), identification: 7,
  });
}

describe('ESP AES-GCM-16 known answer', () => {
  // draft-mcgrew-gcm-test-01 ("Test Cases for the use of GCM and GMAC in IPsec ESP", §4), the AES-128 case
  // with key 4c80cdef..., salt 2e443b68, SPI 0x00004321, IV 4956ed7e3b244cfe. Transcribed from a copy of
  // that case (rfc4106 key = key | salt) in a public Linux kernel crypto test module.
  // Its tag is computed over the 12-byte AAD 00004321 87654321 00000000 (SPI | 64-bit extended sequence
  // number, RFC 4106 §5); group SAs here use 32-bit sequence numbers (8-byte AAD = SPI | seq), so the
  // published TAG is checked against node:crypto with that 12-byte AAD (proving the transcription), and
  // our packet is checked byte for byte on everything the AAD does not change: header, IV, ciphertext.
  // Plaintext = 68-byte payload | pad 01 02 | pad length 2 | next header 1.
  const keyAndSalt = hex('4c80cdefbb5d10da906ac73c3613a634 2e443b68');
  const spi = 0x00004321;
  const seq = 0x87654321;
  const iv = hex('4956ed7e3b244cfe');
  const plaintext = hex(`
    45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000
    00000000045f736970045f756470037369700963796265726369747902646b00
    0021000101020201`);
  const ciphertext = hex(`
    fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
    cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
    61bc17d768fd9732`);
  const publishedTag = hex('459018148f6cbe722fd04796562dfdb4');
  const tek = tekFromKeyDownload({ spi, transform: 'aes-gcm-16', algorithmKey: keyAndSalt });
  const nonce = hex('2e443b68 4956ed7e3b244cfe');

  function nodeTag(aad: Uint8Array): string {
    const cipher = createCipheriv('aes-128-gcm', hex('4c80cdefbb5d10da906ac73c3613a634'), nonce);
    cipher.setAAD(aad);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    assert.equal(toHex(ct), toHex(ciphertext));
    return toHex(cipher.getAuthTag());
  }

  it('the transcribed vector is self-consistent (node:crypto, 12-byte ESN AAD)', () => {
    assert.equal(nodeTag(hex('00004321 87654321 00000000')), toHex(publishedTag));
  });

  it('splits the salt off the end of the key material (RFC 4106 §8.1)', () => {
    assert.equal(toHex(tek.encKey.reveal()), '4c80cdefbb5d10da906ac73c3613a634');
    assert.equal(toHex(tek.salt as Uint8Array), '2e443b68');
  });

  it('encrypts to the published ciphertext, with the tag over AAD = SPI | seq', () => {
    const sealed = sealEsp(tek, { seq, iv, payload: plaintext.subarray(0, 68), nextHeader: 1 });
    assert.equal(toHex(sealed.subarray(0, 16)), '00004321876543214956ed7e3b244cfe');
    assert.equal(toHex(sealed.subarray(16, 16 + 72)), toHex(ciphertext));
    assert.equal(toHex(sealed.subarray(88)), nodeTag(hex('00004321 87654321')));
    const opened = openEsp(tek, sealed);
    assert.ok(opened.ok, JSON.stringify(opened));
    assert.equal(opened.seq, seq);
    assert.equal(opened.nextHeader, 1);
    assert.equal(toHex(opened.payload), toHex(plaintext.subarray(0, 68)));
  });

  it('refuses the packet with any single bit flipped', () => {
    const packet = new Uint8Array([...hex('00004321 87654321'), ...iv, ...ciphertext, ...hex(nodeTag(hex('00004321 87654321')))]);
    assert.ok(openEsp(tek, packet).ok);
    for (let i = 0; i < packet.length; i++) {
      const bad = Uint8Array.from(packet);
      bad[i] = (bad[i] as number) ^ 0x01;
      const opened = openEsp(tek, bad);
      assert.equal(opened.ok, false, `byte ${i}`);
      // bytes 0..3 are the SPI: not this SA's packet any more
      if (!opened.ok) assert.equal(opened.reason, i < 4 ? 'malformed' : 'auth', `byte ${i}`);
    }
  });
});

describe('ESP round trips and cross-checks with node:crypto', () => {
  for (const keyLength of [16, 24, 32]) {
    it(`aes-cbc-hmac-sha256-128 with AES-${keyLength * 8}: node:crypto verifies our ICV and decrypts our packet`, () => {
      const tek = testTek(0x1000 + keyLength, 'aes-cbc-hmac-sha256-128', 'xcheck', {}, keyLength);
      const inner = probeInner();
      const iv = hex('000102030405060708090a0b0c0d0e0f');
      const packet = sealEsp(tek, { seq: 1, iv, payload: inner });
      assert.equal(packet.length, espLength(tek, inner.length));
      assert.equal((packet.length - 8 - 16 - 16) % 16, 0);
      const icv = createHmac('sha256', tek.authKey!.reveal()).update(packet.subarray(0, packet.length - 16)).digest().subarray(0, 16);
      assert.equal(toHex(packet.subarray(packet.length - 16)), toHex(icv));
      const decipher = createDecipheriv(`aes-${keyLength * 8}-cbc`, tek.encKey.reveal(), iv).setAutoPadding(false);
      const plain = Buffer.concat([decipher.update(packet.subarray(24, packet.length - 16)), decipher.final()]);
      const padLength = plain[plain.length - 2] as number;
      assert.equal(plain[plain.length - 1], 4, 'next header IPv4');
      assert.deepEqual([...plain.subarray(plain.length - 2 - padLength, plain.length - 2)], Array.from({ length: padLength }, (_, i) => i + 1));
      assert.equal(toHex(plain.subarray(0, plain.length - 2 - padLength)), toHex(inner));
      const opened = openEsp(tek, packet);
      assert.ok(opened.ok);
      assert.equal(toHex(opened.payload), toHex(inner));
    });
  }

  for (const keyLength of [16, 32]) {
    it(`aes-gcm-16 with AES-${keyLength * 8}: node:crypto opens our packet and we open node's`, () => {
      const tek = testTek(0x2000 + keyLength, 'aes-gcm-16', 'xcheck', {}, keyLength);
      const inner = probeInner();
      const iv = hex('0001000000000005');
      const packet = sealEsp(tek, { seq: 5, iv, payload: inner });
      assert.equal((packet.length - 8 - 8 - 16) % 4, 0);
      const nonce = new Uint8Array([...tek.salt!, ...iv]);
      const algorithm: CipherGCMTypes = keyLength === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
      const decipher = createDecipheriv(algorithm, tek.encKey.reveal(), nonce);
      decipher.setAAD(packet.subarray(0, 8));
      decipher.setAuthTag(packet.subarray(packet.length - 16));
      const plain = Buffer.concat([decipher.update(packet.subarray(16, packet.length - 16)), decipher.final()]);
      assert.equal(toHex(plain.subarray(0, inner.length)), toHex(inner));
      assert.equal(plain[plain.length - 1], 4);

      // and the other way: a packet sealed by node:crypto, opened by us
      const body = new Uint8Array([...inner, ...plain.subarray(inner.length)]);
      const cipher = createCipheriv(algorithm, tek.encKey.reveal(), nonce);
      const header = hex(`${(0x2000 + keyLength).toString(16).padStart(8, '0')}00000005`);
      cipher.setAAD(header);
      const ct = Buffer.concat([cipher.update(body), cipher.final()]);
      const theirs = new Uint8Array([...header, ...iv, ...ct, ...cipher.getAuthTag()]);
      assert.equal(toHex(theirs), toHex(packet));
      const opened = openEsp(tek, theirs);
      assert.ok(opened.ok);
      assert.equal(toHex(opened.payload), toHex(inner));
    });
  }

  it('pads 1, 2, 3, ... to the block for every payload length 0..40 (CBC) and to 4 bytes (GCM)', () => {
    const cbc = testTek(0x3001, 'aes-cbc-hmac-sha256-128', 'pad');
    const gcm = testTek(0x3002, 'aes-gcm-16', 'pad');
    for (let n = 0; n <= 40; n++) {
      const payload = Uint8Array.from({ length: n }, (_, i) => i);
      for (const [tek, iv] of [[cbc, new Uint8Array(16)], [gcm, new Uint8Array(8)]] as const) {
        const opened = openEsp(tek, sealEsp(tek, { seq: n + 1, iv, payload }));
        assert.ok(opened.ok, `${tek.transform} n=${n}`);
        assert.equal(toHex(opened.payload), toHex(payload));
      }
    }
  });

  it('reports every truncation and extension as malformed, never throwing', () => {
    for (const tek of [testTek(0x4001, 'aes-cbc-hmac-sha256-128', 't'), testTek(0x4002, 'aes-gcm-16', 't')]) {
      const packet = sealEsp(tek, { seq: 1, iv: new Uint8Array(tek.transform === 'aes-gcm-16' ? 8 : 16), payload: probeInner() });
      for (let n = 0; n < packet.length; n++) {
        const opened = openEsp(tek, packet.subarray(0, n));
        assert.equal(opened.ok, false, `${tek.transform} truncated to ${n}`);
        // a cut that leaves a length valid for the transform fails on the ICV instead
        if (!opened.ok) assert.equal(opened.reason, espLengthValid(tek, n) ? 'auth' : 'malformed', `${tek.transform} truncated to ${n}`);
      }
      const longer = new Uint8Array([...packet, 0]);
      assert.deepEqual(openEsp(tek, longer).ok, false);
    }
  });

  it('rejects bad padding under a valid ICV as malformed', () => {
    const tek = testTek(0x4003, 'aes-cbc-hmac-sha256-128', 'badpad');
    // build by hand: payload 13 bytes, pad should be 01 (13+1+2=16); we write 07 instead, then a valid ICV
    const iv = new Uint8Array(16);
    const plain = new Uint8Array(16);
    plain[13] = 7; plain[14] = 1; plain[15] = 4;
    const ct = createCipheriv('aes-256-cbc', tek.encKey.reveal(), iv).setAutoPadding(false).update(plain);
    const body = new Uint8Array([...hex('00004003 00000001'), ...iv, ...ct]);
    const icv = createHmac('sha256', tek.authKey!.reveal()).update(body).digest().subarray(0, 16);
    const opened = openEsp(tek, new Uint8Array([...body, ...icv]));
    assert.equal(opened.ok, false);
    if (!opened.ok) assert.equal(opened.reason, 'malformed');
  });
});

describe('TEKs', () => {
  it('refuses bad key sizes, reserved SPIs and inverted lifetimes', () => {
    const k = (n: number) => new Uint8Array(n);
    const bad = [
      () => makeTek({ spi: 255, transform: 'aes-gcm-16', encKey: k(16), salt: k(4) }),
      () => makeTek({ spi: 2 ** 32, transform: 'aes-gcm-16', encKey: k(16), salt: k(4) }),
      () => makeTek({ spi: 1000, transform: 'aes-gcm-16', encKey: k(24), salt: k(4) }),
      () => makeTek({ spi: 1000, transform: 'aes-gcm-16', encKey: k(16) }),
      () => makeTek({ spi: 1000, transform: 'aes-cbc-hmac-sha256-128', encKey: k(16) }),
      () => makeTek({ spi: 1000, transform: 'aes-cbc-hmac-sha256-128', encKey: k(16), authKey: k(20) }),
      () => makeTek({ spi: 1000, transform: 'aes-cbc-hmac-sha256-128', encKey: k(15), authKey: k(32) }),
      () => makeTek({ spi: 1000, transform: 'aes-cbc-hmac-sha256-128', encKey: k(16), authKey: k(32), activation: 10, deactivation: 10 }),
      () => tekFromKeyDownload({ spi: 1000, transform: 'aes-gcm-16', algorithmKey: k(16) }),
      () => tekFromKeyDownload({ spi: 1000, transform: 'aes-cbc-hmac-sha256-128', algorithmKey: k(32) }),
    ];
    for (const [i, f] of bad.entries()) assert.throws(f, (e: unknown) => e instanceof EspError && e.code === 'BAD_TEK', `case ${i}`);
  });

  it('never prints keys', () => {
    const tek = testTek(0x5000, 'aes-cbc-hmac-sha256-128', 'secret');
    const text = JSON.stringify(tek);
    assert.ok(!text.includes(toHex(tek.encKey.reveal()).slice(0, 8)));
    assert.match(text, /"encKey":"\[secret\]"/);
  });
});

describe('inner IPv4/UDP, RFC 3948 framing and probe payloads', () => {
  it('builds headers with correct checksums and parses them back', () => {
    const inner = probeInner();
    assert.equal(internetChecksum(inner, 0, 20), 0);
    const parsed = parseIpv4Udp(inner);
    assert.equal(formatIpv4(parsed.source), '172.16.0.1');
    assert.equal(formatIpv4(parsed.destination), '172.16.0.2');
    assert.deepEqual(decodeProbePayload(parsed.payload), { senderId: 1, seq: 7, sentAt: 1234.5 });
    for (let i = 0; i < inner.length; i++) {
      const bad = Uint8Array.from(inner);
      bad[i] = (bad[i] as number) ^ 0x10;
      assert.throws(() => parseIpv4Udp(bad), (e: unknown) => e instanceof EspError && e.code === 'MALFORMED', `flipped byte ${i}`);
    }
    for (let n = 0; n < inner.length; n++) assert.throws(() => parseIpv4Udp(inner.subarray(0, n)), EspError);
  });

  it('derives addresses from prefixes', () => {
    const p = parsePrefix('172.16.0.0/12');
    assert.equal(formatIpv4(hostInPrefix(p, 3)), '172.16.0.3');
    assert.equal(formatIpv4(hostInPrefix(p, 300)), '172.16.1.44');
    assert.ok(prefixContains(p, parseIpv4('172.31.255.255')));
    assert.ok(!prefixContains(p, parseIpv4('172.32.0.0')));
    assert.throws(() => hostInPrefix(parsePrefix('10.0.0.0/30'), 4), EspError);
    assert.throws(() => parsePrefix('172.16.0.1/12'), EspError);
    assert.throws(() => parseIpv4('1.2.3.256'), EspError);
  });

  it('classifies UDP payloads on the ESP port', () => {
    assert.equal(classifyUdpEncap(hex('ff')), 'keepalive');
    assert.equal(classifyUdpEncap(hex('00000000 0102030405060708')), 'non-esp');
    assert.equal(classifyUdpEncap(hex('00001000 000000')), 'malformed');
    assert.equal(classifyUdpEncap(hex('')), 'malformed');
    assert.equal(classifyUdpEncap(hex('00001000 00000001')), 'esp');
  });
});
