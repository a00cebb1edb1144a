/**
 * AES-CBC without cipher-level padding: IKEv1 pads the plaintext itself (zeros up to the block
 * size, RFC 2409 App. B) and counts the pad in the ISAKMP header length.
 */
import { cbc } from '@noble/ciphers/aes.js';
import { CryptoError } from './errors.js';
import { keyBytes, type KeyBytes } from './secret.js';

export const AES_BLOCK_SIZE = 16;

function checkInputs(key: Uint8Array, iv: Uint8Array, data: Uint8Array): void {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new CryptoError('BAD_KEY_LENGTH', `AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
  if (iv.length !== AES_BLOCK_SIZE) {
    throw new CryptoError('BAD_IV_LENGTH', `AES-CBC IV must be ${AES_BLOCK_SIZE} bytes, got ${iv.length}`);
  }
  if (data.length === 0 || data.length % AES_BLOCK_SIZE !== 0) {
    throw new CryptoError('BAD_DATA_LENGTH', `AES-CBC data must be a non-zero multiple of ${AES_BLOCK_SIZE} bytes, got ${data.length}`);
  }
}

/** Encrypts `data` (already padded). A fresh cipher instance per call: no state carries over. */
export function aesCbcEncrypt(key: KeyBytes, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const k = keyBytes(key);
  checkInputs(k, iv, data);
  return cbc(k, iv, { disablePadding: true }).encrypt(data);
}

/** Decrypts `data`; the zero padding stays in the result (the payload chain says where it ends). */
export function aesCbcDecrypt(key: KeyBytes, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const k = keyBytes(key);
  checkInputs(k, iv, data);
  return cbc(k, iv, { disablePadding: true }).decrypt(data);
}

/** A copy of `data` followed by zero bytes up to the next multiple of `blockSize` (none if aligned). */
export function padZero(data: Uint8Array, blockSize: number): Uint8Array {
  if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > 255) {
    throw new CryptoError('BAD_ARGUMENT', `block size ${blockSize} out of range`);
  }
  const padded = new Uint8Array(Math.ceil(data.length / blockSize) * blockSize);
  padded.set(data);
  return padded;
}
