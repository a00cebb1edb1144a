import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError, Secret, aesCbcDecrypt, aesCbcEncrypt, padZero, seededRandom } from '../src/index.js';
import { hex, toHex } from './helpers.js';
import { ENC_KEY, MESSAGE5_CIPHERTEXT, MESSAGE5_PLAINTEXT, PHASE1_IV } from './vectors/gdoid-capture.js';
import { CBC_VECTORS, IV, PLAINTEXT } from './vectors/sp800-38a.js';

const isCode = (code: string) => (e: unknown): boolean => e instanceof CryptoError && e.code === code;

describe('AES-CBC NIST SP 800-38A', () => {
  for (const v of CBC_VECTORS) {
    it(`${v.sections} encrypt`, () => {
      assert.equal(toHex(aesCbcEncrypt(hex(v.key), hex(IV), hex(PLAINTEXT))), v.ciphertext);
    });
    it(`${v.sections} decrypt`, () => {
      assert.equal(toHex(aesCbcDecrypt(hex(v.key), hex(IV), hex(v.ciphertext))), PLAINTEXT);
    });
  }
});

describe('AES-CBC against node:crypto and a real peer', () => {
  it('matches node:crypto on random keys, IVs and lengths', () => {
    const random = seededRandom('cbc cross-check');
    for (const keyLength of [16, 24, 32]) {
      for (let round = 0; round < 30; round++) {
        const key = random.bytes(keyLength);
        const iv = random.bytes(16);
        const data = random.bytes(16 * (1 + ((random.bytes(1)[0] as number) % 64)));
        const cipher = createCipheriv(`aes-${keyLength * 8}-cbc`, key, iv).setAutoPadding(false);
        const expected = Buffer.concat([cipher.update(data), cipher.final()]);
        const ciphertext = aesCbcEncrypt(key, iv, data);
        assert.equal(toHex(ciphertext), expected.toString('hex'));
        const decipher = createDecipheriv(`aes-${keyLength * 8}-cbc`, key, iv).setAutoPadding(false);
        assert.equal(toHex(aesCbcDecrypt(key, iv, ciphertext)), Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('hex'));
      }
    }
  });

  it('reproduces gdoid Main Mode message 5 (key as a Secret)', () => {
    const key = Secret.copyOf(hex(ENC_KEY));
    assert.equal(toHex(aesCbcEncrypt(key, hex(PHASE1_IV), hex(MESSAGE5_PLAINTEXT))), toHex(hex(MESSAGE5_CIPHERTEXT)));
    assert.equal(toHex(aesCbcDecrypt(key, hex(PHASE1_IV), hex(MESSAGE5_CIPHERTEXT))), toHex(hex(MESSAGE5_PLAINTEXT)));
  });
});

describe('AES-CBC input checks', () => {
  const key = new Uint8Array(16);
  const iv = new Uint8Array(16);
  const block = new Uint8Array(16);

  it('rejects key lengths other than 16, 24, 32', () => {
    for (const n of [0, 8, 15, 17, 31, 33, 64]) {
      assert.throws(() => aesCbcEncrypt(new Uint8Array(n), iv, block), isCode('BAD_KEY_LENGTH'));
      assert.throws(() => aesCbcDecrypt(new Uint8Array(n), iv, block), isCode('BAD_KEY_LENGTH'));
    }
  });

  it('rejects IVs that are not 16 bytes', () => {
    for (const n of [0, 8, 15, 17, 32]) {
      assert.throws(() => aesCbcEncrypt(key, new Uint8Array(n), block), isCode('BAD_IV_LENGTH'));
      assert.throws(() => aesCbcDecrypt(key, new Uint8Array(n), block), isCode('BAD_IV_LENGTH'));
    }
  });

  it('rejects data that is empty or not a multiple of 16', () => {
    for (const n of [0, 1, 15, 17, 31]) {
      assert.throws(() => aesCbcEncrypt(key, iv, new Uint8Array(n)), isCode('BAD_DATA_LENGTH'));
      assert.throws(() => aesCbcDecrypt(key, iv, new Uint8Array(n)), isCode('BAD_DATA_LENGTH'));
    }
  });
});

describe('padZero', () => {
  it('pads with zeros to the next multiple and leaves aligned data unpadded', () => {
    assert.equal(toHex(padZero(hex('0102'), 16)), '0102' + '00'.repeat(14));
    assert.equal(padZero(new Uint8Array(15), 16).length, 16);
    assert.equal(padZero(new Uint8Array(16).fill(7), 16).length, 16);
    assert.equal(padZero(new Uint8Array(17), 16).length, 32);
    assert.equal(padZero(new Uint8Array(0), 16).length, 0);
  });

  it('returns a copy, never the input', () => {
    const data = new Uint8Array(16).fill(1);
    const padded = padZero(data, 16);
    padded[0] = 9;
    assert.equal(data[0], 1);
  });

  it('rejects a nonsensical block size', () => {
    for (const n of [0, -1, 1.5, 256]) assert.throws(() => padZero(new Uint8Array(3), n), isCode('BAD_ARGUMENT'));
  });
});
