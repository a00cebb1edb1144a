/**
 * IKEv1 phase-1 key derivation for pre-shared-key authentication (RFC 2409 §5, App. B).
 *
 *   SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)
 *   SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
 *   SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
 *   SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
 *   HASH_I   = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
 *   HASH_R   = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
 *
 * prf is HMAC with the negotiated hash; 0/1/2 are single octets; g^xy is the DH shared secret
 * (the x coordinate alone for ECP groups, RFC 5903 §7); Ni_b/Nr_b are nonce payload bodies,
 * SAi_b the body of the initiator's SA payload, IDii_b/IDir_b ID payload bodies.
 */
import { CryptoError } from './errors.js';
import { hashLength, prf, type HashName } from './hash.js';
import { keyBytes, type KeyBytes } from './secret.js';

const COOKIE_LENGTH = 8;
/** App. B expansion is fed back through the prf; 255 blocks bounds the loop and suffices for any cipher. */
const MAX_EXPANSION_BLOCKS = 255;

function checkCookie(cookie: Uint8Array, name: string): void {
  if (cookie.length !== COOKIE_LENGTH) {
    throw new CryptoError('BAD_ARGUMENT', `${name} must be ${COOKIE_LENGTH} bytes, got ${cookie.length}`);
  }
}

/** SKEYID = prf(pre-shared-key, Ni_b | Nr_b). */
export function skeyidPsk(h: HashName, psk: KeyBytes, niB: Uint8Array, nrB: Uint8Array): Uint8Array {
  return prf(h, psk, niB, nrB);
}

/**
 * RFC 2409 App. B: the cipher key is the leading bytes of SKEYID_e when that is long enough;
 * otherwise Ka = K1 | K2 | ... with K1 = prf(SKEYID_e, 0x00) and Kn = prf(SKEYID_e, Kn-1).
 * (When expansion is needed, SKEYID_e itself is not part of the key.)
 */
export function expandKey(h: HashName, skeyidE: KeyBytes, length: number): Uint8Array {
  const seed = keyBytes(skeyidE);
  const blockLength = hashLength(h);
  if (!Number.isSafeInteger(length) || length < 1 || length > blockLength * MAX_EXPANSION_BLOCKS) {
    throw new CryptoError('BAD_ARGUMENT', `key length ${length} out of range`);
  }
  if (length <= seed.length) return seed.slice(0, length);
  const out = new Uint8Array(Math.ceil(length / blockLength) * blockLength);
  let block = prf(h, seed, Uint8Array.of(0));
  out.set(block, 0);
  for (let off = blockLength; off < out.length; off += blockLength) {
    block = prf(h, seed, block);
    out.set(block, off);
  }
  const key = out.slice(0, length);
  out.fill(0);
  return key;
}

export interface Phase1KeyInput {
  hash: HashName;
  skeyid: KeyBytes;
  /** The DH shared secret g^xy. */
  gxy: KeyBytes;
  icookie: Uint8Array;
  rcookie: Uint8Array;
  /** Cipher key length in bytes (16, 24 or 32 for AES). */
  encKeyLength: number;
}

export interface Phase1Keys {
  /** SKEYID_d: keys phase-2 / GDOI key material. */
  d: Uint8Array;
  /** SKEYID_a: authenticates phase-2 and informational messages. */
  a: Uint8Array;
  /** SKEYID_e: source of the phase-1 cipher key. */
  e: Uint8Array;
  /** The phase-1 cipher key, expanded from SKEYID_e per App. B. */
  encKey: Uint8Array;
}

/** SKEYID_d, SKEYID_a, SKEYID_e and the App. B cipher key. */
export function phase1Keys(input: Phase1KeyInput): Phase1Keys {
  const { hash: h, skeyid, icookie, rcookie, encKeyLength } = input;
  const gxy = keyBytes(input.gxy);
  checkCookie(icookie, 'icookie');
  checkCookie(rcookie, 'rcookie');
  const d = prf(h, skeyid, gxy, icookie, rcookie, Uint8Array.of(0));
  const a = prf(h, skeyid, d, gxy, icookie, rcookie, Uint8Array.of(1));
  const e = prf(h, skeyid, a, gxy, icookie, rcookie, Uint8Array.of(2));
  return { d, a, e, encKey: expandKey(h, e, encKeyLength) };
}

/** HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b). */
export function hashI(
  h: HashName, skeyid: KeyBytes, gxi: Uint8Array, gxr: Uint8Array,
  ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idiiB: Uint8Array,
): Uint8Array {
  checkCookie(ckyI, 'CKY-I');
  checkCookie(ckyR, 'CKY-R');
  return prf(h, skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB);
}

/**
 * HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
 * Takes its arguments in the same order as `hashI` and swaps them itself, so both sides
 * call it with (initiator value, responder value) pairs.
 */
export function hashR(
  h: HashName, skeyid: KeyBytes, gxi: Uint8Array, gxr: Uint8Array,
  ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idirB: Uint8Array,
): Uint8Array {
  checkCookie(ckyI, 'CKY-I');
  checkCookie(ckyR, 'CKY-R');
  return prf(h, skeyid, gxr, gxi, ckyR, ckyI, saiB, idirB);
}
