import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { CryptoError } from './errors.js';
import { keyBytes, type KeyBytes } from './secret.js';

/** The IKEv1 hash algorithms we negotiate (RFC 2409 App. A, RFC 4868 for SHA-2). */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const HASH_NAMES: readonly HashName[] = ['sha1', 'sha256', 'sha384', 'sha512'];

const HASHES = { sha1, sha256, sha384, sha512 } as const;

function hashFunction(h: HashName): (typeof HASHES)[HashName] {
  // Checked at run time too: the name often comes from configuration or a peer's proposal.
  if (!Object.hasOwn(HASHES, h)) throw new CryptoError('UNKNOWN_HASH', `unknown hash ${String(h)}`);
  return HASHES[h];
}

/** Output length in bytes: 20, 32, 48 or 64. */
export function hashLength(h: HashName): number {
  return hashFunction(h).outputLen;
}

/** h(data[0] | data[1] | ...). */
export function hash(h: HashName, ...data: Uint8Array[]): Uint8Array {
  const state = hashFunction(h).create();
  for (const part of data) state.update(part);
  return state.digest();
}

/** The IKEv1 prf: HMAC-h(key, data[0] | data[1] | ...). */
export function prf(h: HashName, key: KeyBytes, ...data: Uint8Array[]): Uint8Array {
  const mac = hmac.create(hashFunction(h), keyBytes(key));
  for (const part of data) mac.update(part);
  return mac.digest();
}
