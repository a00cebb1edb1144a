import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalBytes } from '../src/index.js';

describe('equalBytes', () => {
  it('is true only for identical contents', () => {
    assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
    assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), true);
    assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)), false);
    assert.equal(equalBytes(Uint8Array.of(0, 2, 3), Uint8Array.of(1, 2, 3)), false);
    assert.equal(equalBytes(Uint8Array.of(0x80), Uint8Array.of(0x00)), false);
  });

  it('is false for different lengths, including a prefix', () => {
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)), false);
    assert.equal(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2)), false);
  });

  it('detects a difference in every position of a MAC-sized value', () => {
    const mac = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    for (let i = 0; i < mac.length; i++) {
      const other = Uint8Array.from(mac);
      other[i] = (other[i] as number) ^ 1;
      assert.equal(equalBytes(mac, other), false);
    }
  });
});
