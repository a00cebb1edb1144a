import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError, HASH_NAMES, hash, hashLength, prf, seededRandom, type HashName } from '../src/index.js';
import { toHex } from './helpers.js';
import { RFC2202_SHA1, RFC4231 } from './vectors/hmac.js';

describe('prf (HMAC) published vectors', () => {
  for (const v of RFC2202_SHA1) {
    it(`HMAC-SHA1 RFC 2202 ${v.name}`, () => {
      assert.equal(toHex(prf('sha1', v.key, v.data)), v.mac);
    });
  }
  for (const v of RFC4231) {
    for (const h of ['sha256', 'sha384', 'sha512'] as const) {
      it(`HMAC-${h.toUpperCase()} RFC 4231 ${v.name}`, () => {
        assert.equal(toHex(prf(h, v.key, v.data)), v[h]);
      });
    }
  }
});

describe('hash and prf against node:crypto', () => {
  const random = seededRandom('hash cross-check');
  for (const h of HASH_NAMES) {
    it(`${h}: random inputs split into random parts`, () => {
      for (let round = 0; round < 50; round++) {
        const key = random.bytes((random.bytes(1)[0] as number) % 200);
        const data = random.bytes((random.bytes(2)[0] as number) * 3);
        const cut = Math.floor(data.length / 3);
        const parts = [data.subarray(0, cut), data.subarray(cut, 2 * cut), data.subarray(2 * cut)];
        assert.equal(toHex(hash(h, ...parts)), createHash(h).update(data).digest('hex'));
        assert.equal(toHex(prf(h, key, ...parts)), createHmac(h, key).update(data).digest('hex'));
      }
    });
  }

  it('hashLength matches the digest size', () => {
    const lengths: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
    for (const h of HASH_NAMES) {
      assert.equal(hashLength(h), lengths[h]);
      assert.equal(hash(h).length, lengths[h]);
    }
  });

  it('rejects an unknown hash name with a CryptoError', () => {
    const bogus = 'md5' as HashName;
    assert.throws(() => hash(bogus), (e: unknown) => e instanceof CryptoError && e.code === 'UNKNOWN_HASH');
    assert.throws(() => prf('toString' as HashName, new Uint8Array(1)), (e: unknown) => e instanceof CryptoError && e.code === 'UNKNOWN_HASH');
  });
});
