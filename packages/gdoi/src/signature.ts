/**
 * PUSH signatures (RFC 6407 §4, §5.3.6): RSA with PKCS#1 v1.5 type-1 padding over
 * hash('rekey' | HDR | payloads before SIG), HDR with the E flag and the final *unpadded* Length.
 *
 * Two encoded-message forms (protocol.md §1.10):
 * - 'digest-info' (RFC: EMSA-PKCS1-v1_5, DigestInfo prefix) — what we emit by default;
 * - 'bare' (gdoid: EM = 00 01 FF..FF 00 | digest, no DigestInfo) — a per-group compat switch.
 * Verification accepts either. RSA runs in node:crypto (native; see /work/shared/notes/performance.md).
 */
import { constants, createHash, privateEncrypt, publicDecrypt, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { equalBytes } from '@gvpn/crypto';
import type { SigHash } from './group-policy.js';

export type SignatureForm = 'digest-info' | 'bare';

const REKEY = new TextEncoder().encode('rekey');

/** The bytes that are hashed: 'rekey' | HDR | payloads. */
export function signedData(header: Uint8Array, payloads: Uint8Array): Uint8Array {
  const out = new Uint8Array(REKEY.length + header.length + payloads.length);
  out.set(REKEY, 0);
  out.set(header, REKEY.length);
  out.set(payloads, REKEY.length + header.length);
  return out;
}

export function signPush(privateKey: KeyObject, hash: SigHash, data: Uint8Array, form: SignatureForm): Uint8Array {
  if (form === 'digest-info') return new Uint8Array(sign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING }));
  const digest = createHash(hash).update(data).digest();
  return new Uint8Array(privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digest));
}

/** Which form verified, or undefined. `accept` limits the forms tried. */
export function verifyPush(publicKey: KeyObject, hash: SigHash, data: Uint8Array, signature: Uint8Array,
  accept: readonly SignatureForm[] = ['digest-info', 'bare']): SignatureForm | undefined {
  const bytes = (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  if (signature.length !== bytes) return undefined;
  if (accept.includes('digest-info')) {
    try {
      if (verify(hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature)) return 'digest-info';
    } catch { /* not a valid signature */ }
  }
  if (accept.includes('bare')) {
    let recovered: Uint8Array;
    try {
      recovered = new Uint8Array(publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
    } catch {
      return undefined;
    }
    const digest = new Uint8Array(createHash(hash).update(data).digest());
    if (equalBytes(recovered, digest)) return 'bare';
  }
  return undefined;
}
