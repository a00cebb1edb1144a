/**
 * IKEv1 CBC initialisation vectors (RFC 2409 App. B):
 *
 *   phase-1 IV              = hash(g^xi | g^xr)[:block]
 *   first IV of an exchange = hash(last phase-1 CBC output block | M-ID)[:block]
 *
 * Within an exchange each message's IV is the previous message's last ciphertext block; the
 * caller keeps that running IV and advances it only after a message has been validated
 * (RFC 2409 §10).
 */
import { CryptoError } from './errors.js';
import { hash, hashLength, type HashName } from './hash.js';

function checkBlockSize(h: HashName, blockSize: number): void {
  if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > hashLength(h)) {
    throw new CryptoError('BAD_ARGUMENT', `block size ${blockSize} not in 1..${hashLength(h)} for ${h}`);
  }
}

export function phase1Iv(h: HashName, gxi: Uint8Array, gxr: Uint8Array, blockSize: number): Uint8Array {
  checkBlockSize(h, blockSize);
  return hash(h, gxi, gxr).slice(0, blockSize);
}

/** `messageId` is the 32-bit M-ID from the ISAKMP header, hashed as 4 big-endian bytes. */
export function phase2Iv(h: HashName, lastBlock: Uint8Array, messageId: number, blockSize: number): Uint8Array {
  checkBlockSize(h, blockSize);
  if (lastBlock.length !== blockSize) {
    throw new CryptoError('BAD_IV_LENGTH', `last phase-1 block must be ${blockSize} bytes, got ${lastBlock.length}`);
  }
  if (!Number.isInteger(messageId) || messageId < 0 || messageId > 0xffffffff) {
    throw new CryptoError('BAD_ARGUMENT', `message id ${messageId} is not a 32-bit unsigned integer`);
  }
  const mid = new Uint8Array(4);
  new DataView(mid.buffer).setUint32(0, messageId);
  return hash(h, lastBlock, mid).slice(0, blockSize);
}
