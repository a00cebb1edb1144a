import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError, seededRandom, systemRandom } from '../src/index.js';
import { toHex } from './helpers.js';

describe('seededRandom', () => {
  it('is SHA-256(seed | 64-bit big-endian counter), block after block', () => {
    const expected = Buffer.concat([0n, 1n, 2n].map((i) => {
      const counter = Buffer.alloc(8);
      counter.writeBigUInt64BE(i);
      return createHash('sha256').update('seed').update(counter).digest();
    }));
    assert.equal(toHex(seededRandom('seed').bytes(96)), expected.toString('hex'));
  });

  it('gives the same stream however the reads are split', () => {
    const whole = seededRandom(Uint8Array.of(1, 2, 3)).bytes(100);
    const split = seededRandom(Uint8Array.of(1, 2, 3));
    const parts = [1, 31, 32, 0, 36].map((n) => split.bytes(n));
    assert.equal(toHex(Buffer.concat(parts)), toHex(whole));
  });

  it('differs between seeds and keeps no shared state between sources', () => {
    const a = seededRandom('a');
    a.bytes(10);
    assert.notEqual(toHex(seededRandom('a').bytes(32)), toHex(seededRandom('b').bytes(32)));
    assert.equal(toHex(seededRandom('a').bytes(32)), toHex(seededRandom('a').bytes(32)));
  });

  it('rejects bad counts', () => {
    for (const n of [-1, 1.5, Number.NaN]) {
      assert.throws(() => seededRandom('x').bytes(n), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_ARGUMENT');
      assert.throws(() => systemRandom.bytes(n), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_ARGUMENT');
    }
  });
});

describe('systemRandom', () => {
  it('returns the requested length and distinct values', () => {
    assert.equal(systemRandom.bytes(0).length, 0);
    assert.equal(systemRandom.bytes(33).length, 33);
    assert.notEqual(toHex(systemRandom.bytes(16)), toHex(systemRandom.bytes(16)));
  });
});
