import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError, phase1Iv, phase2Iv } from '../src/index.js';
import { hex, toHex } from './helpers.js';
import { KE_I, KE_R, LAST_PHASE1_BLOCK, PHASE1_IV, PULL_IV, PULL_MESSAGE_ID } from './vectors/gdoid-capture.js';

const isCode = (code: string) => (e: unknown): boolean => e instanceof CryptoError && e.code === code;

describe('IVs (RFC 2409 App. B) against the gdoid capture', () => {
  it('phase-1 IV = SHA1(KEi | KEr)[:16]', () => {
    assert.equal(toHex(phase1Iv('sha1', hex(KE_I), hex(KE_R), 16)), toHex(hex(PHASE1_IV)));
  });

  it('GROUPKEY-PULL IV = SHA1(last phase-1 block | M-ID)[:16]', () => {
    assert.equal(toHex(phase2Iv('sha1', hex(LAST_PHASE1_BLOCK), PULL_MESSAGE_ID, 16)), toHex(hex(PULL_IV)));
  });
});

describe('IV derivation details', () => {
  it('hashes the M-ID as 4 big-endian bytes', () => {
    const last = new Uint8Array(16).fill(0xab);
    for (const mid of [0, 1, 0x01020304, 0xffffffff]) {
      const be = Buffer.alloc(4);
      be.writeUInt32BE(mid);
      const expected = createHash('sha256').update(last).update(be).digest().subarray(0, 16);
      assert.equal(toHex(phase2Iv('sha256', last, mid, 16)), expected.toString('hex'));
    }
  });

  it('rejects out-of-range message ids, wrong block lengths and block sizes', () => {
    const last = new Uint8Array(16);
    for (const mid of [-1, 2 ** 32, 1.5, Number.NaN]) assert.throws(() => phase2Iv('sha1', last, mid, 16), isCode('BAD_ARGUMENT'));
    assert.throws(() => phase2Iv('sha1', new Uint8Array(8), 1, 16), isCode('BAD_IV_LENGTH'));
    assert.throws(() => phase1Iv('sha1', last, last, 21), isCode('BAD_ARGUMENT'));
    assert.throws(() => phase1Iv('sha1', last, last, 0), isCode('BAD_ARGUMENT'));
  });
});
