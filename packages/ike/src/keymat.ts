/**
 * Phase-1 key material of one IKE SA and the CBC helpers that use it (RFC 2409 §5, App. B).
 *
 *   SKEYID   = prf(PSK, Ni_b | Nr_b)
 *   SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
 *   SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
 *   SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
 *   Ka       = SKEYID_e expanded (App. B) to the cipher's key length
 *   IV(MM5)  = hash(g^xi | g^xr) truncated to the block size; later messages chain from the last block
 *   IV(M-ID) = hash(last phase-1 ciphertext block | M-ID) for every exchange after phase 1
 *
 * The derivations themselves live in @gvpn/crypto; this class owns the results for one SA.
 */
import {
  Secret, aesCbcDecrypt, aesCbcEncrypt, padZero, phase1Iv, phase1Keys, phase2Iv, prf, skeyidPsk,
} from '@gvpn/crypto';
import type { HashName } from '@gvpn/crypto';

export const BLOCK_SIZE = 16;

export interface KeymatInput {
  hash: HashName;
  psk: Secret;
  nonceI: Uint8Array;
  nonceR: Uint8Array;
  gxy: Uint8Array;
  gxi: Uint8Array;
  gxr: Uint8Array;
  icookie: Uint8Array;
  rcookie: Uint8Array;
  encKeyLength: number;
}

export class Keymat {
  readonly hash: HashName;
  readonly skeyid: Secret;
  readonly skeyidD: Secret;
  readonly skeyidA: Secret;
  readonly skeyidE: Secret;
  readonly encKey: Secret;
  /** IV for the next phase-1 message; after phase 1, the last phase-1 ciphertext block. */
  private phase1Block: Uint8Array;

  constructor(input: KeymatInput) {
    this.hash = input.hash;
    const skeyid = skeyidPsk(input.hash, input.psk.reveal(), input.nonceI, input.nonceR);
    const k = phase1Keys({
      hash: input.hash, skeyid, gxy: input.gxy, icookie: input.icookie, rcookie: input.rcookie,
      encKeyLength: input.encKeyLength,
    });
    this.skeyid = new Secret(skeyid);
    this.skeyidD = new Secret(k.d);
    this.skeyidA = new Secret(k.a);
    this.skeyidE = new Secret(k.e);
    this.encKey = new Secret(k.encKey);
    this.phase1Block = phase1Iv(input.hash, input.gxi, input.gxr, BLOCK_SIZE);
  }

  /** IV for the next Main Mode message (5 or 6). */
  phase1Iv(): Uint8Array {
    return this.phase1Block;
  }

  /** Called only once a Main Mode message has verified and advanced the exchange. */
  advancePhase1(lastCiphertextBlock: Uint8Array): void {
    this.phase1Block = Uint8Array.from(lastCiphertextBlock);
  }

  /** First IV of an exchange after phase 1 (informational, GROUPKEY-PULL, ...). */
  phase2Iv(messageId: number): Uint8Array {
    return phase2Iv(this.hash, this.phase1Block, messageId, BLOCK_SIZE);
  }

  /** prf(SKEYID_a, ...): HASH(1..n) of exchanges under this SA. */
  prfA(...data: Uint8Array[]): Uint8Array {
    return prf(this.hash, this.skeyidA.reveal(), ...data);
  }

  /** Zero-pads to the block size and encrypts; the result's last block is the next running IV. */
  encrypt(plaintext: Uint8Array, iv: Uint8Array): Uint8Array {
    return aesCbcEncrypt(this.encKey.reveal(), iv, padZero(plaintext, BLOCK_SIZE));
  }

  /** Caller checks that the ciphertext is a non-empty multiple of the block size. */
  decrypt(ciphertext: Uint8Array, iv: Uint8Array): Uint8Array {
    return aesCbcDecrypt(this.encKey.reveal(), iv, ciphertext);
  }

  wipe(): void {
    for (const s of [this.skeyid, this.skeyidD, this.skeyidA, this.skeyidE, this.encKey]) s.wipe();
  }
}

export function lastBlock(ciphertext: Uint8Array): Uint8Array {
  return ciphertext.slice(ciphertext.length - BLOCK_SIZE);
}
