import { randomFillSync } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { CryptoError } from './errors.js';

/**
 * The one source of randomness for cookies, SPIs, nonces, IVs and DH private keys.
 * Injected everywhere so tests can make whole transcripts reproducible.
 */
export interface RandomSource {
  bytes(n: number): Uint8Array;
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CryptoError('BAD_ARGUMENT', `random byte count must be a non-negative integer, got ${n}`);
  }
}

/** The operating system CSPRNG (node:crypto). */
export const systemRandom: RandomSource = {
  bytes(n: number): Uint8Array {
    checkCount(n);
    return randomFillSync(new Uint8Array(n));
  },
};

/**
 * A deterministic stream for tests: block i = SHA-256(seed | i as 8 big-endian bytes).
 * Not for production use — anyone who knows the seed knows every "random" byte.
 * Each call returns an independent stream; there is no shared state between sources.
 */
export function seededRandom(seed: Uint8Array | string): RandomSource {
  const seedBytes = typeof seed === 'string' ? new TextEncoder().encode(seed) : Uint8Array.from(seed);
  const input = new Uint8Array(seedBytes.length + 8);
  input.set(seedBytes);
  const counterView = new DataView(input.buffer, seedBytes.length, 8);
  let counter = 0n;
  let block = new Uint8Array(0);
  let used = 0;
  return {
    bytes(n: number): Uint8Array {
      checkCount(n);
      const out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        if (used === block.length) {
          counterView.setBigUint64(0, counter++);
          block = sha256(input);
          used = 0;
        }
        const take = Math.min(n - filled, block.length - used);
        out.set(block.subarray(used, used + take), filled);
        filled += take;
        used += take;
      }
      return out;
    },
  };
}
