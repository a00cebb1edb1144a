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

  it('served from its pool, across refills and past it: no repeats, own buffers, roughly uniform bytes', () => {
    // 20,000 draws of 8 bytes span ~40 refills of the 4 KiB pool; 64-bit values never repeat in practice.
    const seen = new Set<string>();
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const b = systemRandom.bytes(8);
      assert.equal(b.length, 8);
      assert.equal(b.byteOffset, 0, 'a copy, not a view into the pool');
      assert.equal(b.buffer.byteLength, 8);
      seen.add(toHex(b));
      for (const x of b) counts[x] = (counts[x] ?? 0) + 1;
    }
    assert.equal(seen.size, 20_000);
    // 160,000 bytes: 625 expected per value; a byte value off by 40 % would mean a broken pool.
    for (const c of counts) assert.ok(c > 375 && c < 875, `byte count ${c}`);
    // Larger than the pool serves (256) and larger than the pool itself.
    for (const n of [255, 256, 257, 5000]) assert.equal(systemRandom.bytes(n).length, n);
    // Mutating a result does not change what later calls return (the pool keeps no shared view).
    const a = systemRandom.bytes(32);
    a.fill(0);
    assert.notEqual(toHex(systemRandom.bytes(32)), toHex(new Uint8Array(32)));
  });
});
