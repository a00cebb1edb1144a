import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CryptoError, HASH_NAMES, Secret, expandKey, hashI, hashR, phase1Keys, seededRandom, skeyidPsk, type HashName,
} from '../src/index.js';
import { hex, toHex } from './helpers.js';
import { NIST_PSK_SKEYID, NIST_SKEYID_CHAIN, NSS_APPENDIX_B } from './vectors/ikev1-kdf.js';

const isCode = (code: string) => (e: unknown): boolean => e instanceof CryptoError && e.code === code;

/** HMAC written out with node:crypto, independent of the code under test. */
function hmac(h: HashName, key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const mac = createHmac(h, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

describe('IKEv1 KDF: NIST CAVS sample vectors (via NSS)', () => {
  for (const v of NIST_PSK_SKEYID) {
    it(`${v.hash}: SKEYID = prf(PSK, Ni | Nr)`, () => {
      assert.equal(toHex(skeyidPsk(v.hash, hex(v.psk), hex(v.ni), hex(v.nr))), v.skeyid);
    });
  }
  for (const v of NIST_SKEYID_CHAIN) {
    it(`${v.hash}: SKEYID_d, SKEYID_a, SKEYID_e`, () => {
      const keys = phase1Keys({
        hash: v.hash, skeyid: hex(v.skeyid), gxy: hex(v.gxy), icookie: hex(v.ckyI), rcookie: hex(v.ckyR), encKeyLength: 16,
      });
      assert.equal(toHex(keys.d), v.d);
      assert.equal(toHex(keys.a), v.a);
      assert.equal(toHex(keys.e), v.e);
      assert.equal(toHex(keys.encKey), v.e.slice(0, 32));
    });
  }
});

describe('IKEv1 KDF: App. B key expansion', () => {
  for (const v of NSS_APPENDIX_B) {
    it(`${v.hash}: ${v.length} bytes (NSS answers)`, () => {
      assert.equal(toHex(expandKey(v.hash, hex(v.skeyidE), v.length)), v.key);
    });
  }

  it('expands a SHA-1 SKEYID_e for AES-256 as K1 | K2 (independent HMAC)', () => {
    const random = seededRandom('app b');
    const skeyid = random.bytes(20);
    const gxy = random.bytes(128);
    const icookie = random.bytes(8);
    const rcookie = random.bytes(8);
    const d = hmac('sha1', skeyid, gxy, icookie, rcookie, Uint8Array.of(0));
    const a = hmac('sha1', skeyid, d, gxy, icookie, rcookie, Uint8Array.of(1));
    const e = hmac('sha1', skeyid, a, gxy, icookie, rcookie, Uint8Array.of(2));
    const k1 = hmac('sha1', e, Uint8Array.of(0));
    const k2 = hmac('sha1', e, k1);
    const expected = Buffer.concat([k1, k2]).subarray(0, 32).toString('hex');
    assert.equal(toHex(expandKey('sha1', e, 32)), expected);
    const keys = phase1Keys({ hash: 'sha1', skeyid, gxy, icookie, rcookie, encKeyLength: 32 });
    assert.equal(toHex(keys.encKey), expected);
  });

  it('rejects lengths outside 1..255 blocks', () => {
    for (const n of [0, -1, 1.5, 20 * 255 + 1]) assert.throws(() => expandKey('sha1', new Uint8Array(20), n), isCode('BAD_ARGUMENT'));
  });
});

describe('IKEv1 KDF against an independent computation', () => {
  const random = seededRandom('kdf cross-check');
  for (const h of HASH_NAMES) {
    it(`${h}: SKEYID chain, HASH_I and HASH_R`, () => {
      for (let round = 0; round < 10; round++) {
        const psk = random.bytes(1 + ((random.bytes(1)[0] as number) % 64));
        const ni = random.bytes(32);
        const nr = random.bytes(24);
        const gxi = random.bytes(256);
        const gxr = random.bytes(256);
        const gxy = random.bytes(256);
        const ckyI = random.bytes(8);
        const ckyR = random.bytes(8);
        const saiB = random.bytes(52);
        const idB = random.bytes(8);

        const skeyid = hmac(h, psk, ni, nr);
        assert.equal(toHex(skeyidPsk(h, Secret.copyOf(psk), ni, nr)), skeyid.toString('hex'));
        const d = hmac(h, skeyid, gxy, ckyI, ckyR, Uint8Array.of(0));
        const a = hmac(h, skeyid, d, gxy, ckyI, ckyR, Uint8Array.of(1));
        const e = hmac(h, skeyid, a, gxy, ckyI, ckyR, Uint8Array.of(2));
        const keys = phase1Keys({ hash: h, skeyid: new Secret(Uint8Array.from(skeyid)), gxy: Secret.copyOf(gxy), icookie: ckyI, rcookie: ckyR, encKeyLength: 16 });
        assert.equal(toHex(keys.d), d.toString('hex'));
        assert.equal(toHex(keys.a), a.toString('hex'));
        assert.equal(toHex(keys.e), e.toString('hex'));
        assert.equal(toHex(keys.encKey), e.subarray(0, 16).toString('hex'));

        assert.equal(toHex(hashI(h, skeyid, gxi, gxr, ckyI, ckyR, saiB, idB)), hmac(h, skeyid, gxi, gxr, ckyI, ckyR, saiB, idB).toString('hex'));
        assert.equal(toHex(hashR(h, skeyid, gxi, gxr, ckyI, ckyR, saiB, idB)), hmac(h, skeyid, gxr, gxi, ckyR, ckyI, saiB, idB).toString('hex'));
      }
    });
  }

  it('rejects cookies that are not 8 bytes', () => {
    const ok = new Uint8Array(8);
    const bad = new Uint8Array(7);
    const base = { hash: 'sha1' as const, skeyid: new Uint8Array(20), gxy: new Uint8Array(128), encKeyLength: 16 };
    assert.throws(() => phase1Keys({ ...base, icookie: bad, rcookie: ok }), isCode('BAD_ARGUMENT'));
    assert.throws(() => phase1Keys({ ...base, icookie: ok, rcookie: bad }), isCode('BAD_ARGUMENT'));
    assert.throws(() => hashI('sha1', ok, ok, ok, bad, ok, ok, ok), isCode('BAD_ARGUMENT'));
    assert.throws(() => hashR('sha1', ok, ok, ok, ok, bad, ok, ok), isCode('BAD_ARGUMENT'));
  });
});
