/**
 * GROUPKEY-PUSH, GCKS side (RFC 6407 §4, §4.3):
 *
 *   HDR*, SEQ, [D,]*, [SA, KD,] SIG
 *   HDR: cookies = current KEK SPI, exchange 33, flags = E only, M-ID 0.
 *   SIG = RSA(hash('rekey' | HDR(final unpadded Length) | SEQ ... KD)), computed before encryption.
 *   Everything after HDR is AES-CBC encrypted with the current KEK and its static IV, zero-padded.
 *
 * - SEQ: previous + 1, never backwards for a KEK (`RekeySequence`, persistable); a new KEK starts again
 *   from 0, so its first PUSH carries 1 (RFC 6407 §3.2).
 * - Deletes: TEK SPIs (Protocol-ID ESP), "delete all" = SPI 0 with ESP, then SPI 0 with Protocol-ID 0 (KEK);
 *   the KEK alone = its own SPI with Protocol-ID 0 (RFC 6407 §5.7).
 *   When nothing else is sent, SA and KD are omitted (§5.9).
 * - Forward access control (§7.4.1): a KEK change and new TEKs never travel in the same PUSH — building
 *   one throws GdoiError('FORWARD_ACCESS').
 */
import { GapAttr, HeaderFlags, PayloadType, TekProtocolId, HEADER_LENGTH } from '@gvpn/wire';
import type { DeletePayload, GdoiSaPayload, KeyPacket, Payload } from '@gvpn/wire';
import { aesCbcEncrypt, padZero } from '@gvpn/crypto';
import { GdoiError } from './errors.js';
import { kekKeyPacket, satPayload, tekKeyPacket } from './keys.js';
import type { Kek, Tek } from './keys.js';
import { BLOCK_SIZE, chainBytes, encryptedMessage, headerBytes } from '@gvpn/ike';
import { signPush, signedData } from './signature.js';
import type { SignatureForm } from './signature.js';

export const GROUPKEY_PUSH = 33;
/** RSA-8192 at most: the SIG payload's generic header + signature. */
const SIG_HEADER = 4;

export interface PushDeletes {
  /** TEK SPIs (4 bytes each) to delete. */
  teks?: Uint8Array[];
  /** Delete all TEKs and the KEK: SPI 0/ESP then SPI 0/protocol 0. */
  all?: boolean;
  /**
   * Delete this KEK (its 16-byte SPI, protocol 0) and nothing else: server-member-communication deleted
   * (R-CHG-1.4c). Members keep their TEKs; they have no push channel any more.
   */
  kek?: Uint8Array;
}

export interface PushInput {
  /** The KEK members hold now: header cookies, encryption, signing key. */
  kek: Kek;
  seq: number;
  deletes?: PushDeletes;
  /** A replacement KEK (its SAK and KD packet); then `teks` must be empty. */
  newKek?: Kek;
  teks?: readonly Tek[];
  /** ATD/DTD sent with new TEKs. */
  gap?: { activationDelaySeconds: number; deactivationDelaySeconds: number };
  signatureForm?: SignatureForm;
}

export interface BuiltPush {
  bytes: Uint8Array;
  seq: number;
  /** Plaintext length before padding (what the signed header says). */
  unpaddedLength: number;
}

function deletePayloads(d: PushDeletes | undefined): DeletePayload[] {
  const out: DeletePayload[] = [];
  if (d === undefined) return out;
  if (d.teks !== undefined && d.teks.length > 0) {
    out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.IpsecEsp, spiSize: 4, spis: d.teks.map((s) => Uint8Array.from(s)) });
  }
  if (d.all === true) {
    out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.IpsecEsp, spiSize: 4, spis: [new Uint8Array(4)] });
    out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.Kek, spiSize: 16, spis: [new Uint8Array(16)] });
  } else if (d.kek !== undefined) {
    if (d.kek.length !== 16) throw new GdoiError('BAD_STATE', `KEK SPI of ${d.kek.length} bytes`);
    out.push({ type: PayloadType.D, doi: 2, protocolId: TekProtocolId.Kek, spiSize: 16, spis: [Uint8Array.from(d.kek)] });
  }
  return out;
}

export function buildPush(input: PushInput): BuiltPush {
  const { kek } = input;
  const teks = input.teks ?? [];
  if (kek.privateKey === undefined) throw new GdoiError('BAD_KEY', 'the current KEK has no signing key');
  if (input.newKek !== undefined && teks.length > 0) {
    throw new GdoiError('FORWARD_ACCESS', 'a KEK change and new TEKs must go in separate pushes (RFC 6407 §7.4.1)');
  }
  if (!Number.isInteger(input.seq) || input.seq < 1 || input.seq > 0xffffffff) throw new GdoiError('BAD_STATE', `SEQ ${input.seq}`);
  const payloads: Payload[] = [{ type: PayloadType.SEQ, seq: input.seq }, ...deletePayloads(input.deletes)];
  if (input.newKek !== undefined || teks.length > 0) {
    const sa: GdoiSaPayload = { type: 1, layout: 'gdoi', doi: 2, situation: 0, teks: teks.map((t) => satPayload(t)) };
    const packets: KeyPacket[] = [];
    if (input.newKek !== undefined) {
      sa.kek = input.newKek.sak;
      packets.push(kekKeyPacket(input.newKek));
    }
    if (teks.length > 0 && input.gap !== undefined) {
      sa.gap = { type: 22, attributes: [
        { type: GapAttr.ActivationTimeDelay, value: input.gap.activationDelaySeconds },
        { type: GapAttr.DeactivationTimeDelay, value: input.gap.deactivationDelaySeconds },
      ] };
    }
    for (const t of teks) packets.push(tekKeyPacket(t));
    payloads.push(sa, { type: PayloadType.KD, packets });
  } else if (payloads.length === 1) {
    throw new GdoiError('BAD_STATE', 'a PUSH needs deletes, a new KEK or TEKs');
  }
  // The signed payloads are the message's own bytes before SIG (the last of them names SIG as next), so
  // the chain is encoded once with a zero signature of the final length, then the signature is written in.
  const sigLength = (kek.sigBits + 7) >> 3;
  const plain = chainBytes([...payloads, { type: PayloadType.SIG, data: new Uint8Array(sigLength) }], GROUPKEY_PUSH);
  const sigStart = plain.length - SIG_HEADER - sigLength;
  const unpadded = HEADER_LENGTH + plain.length;
  const h = { icookie: kek.spi.subarray(0, 8), rcookie: kek.spi.subarray(8, 16), exchangeType: GROUPKEY_PUSH, messageId: 0 };
  const signed = signedData(headerBytes(h, HeaderFlags.Encryption, PayloadType.SEQ, unpadded), plain.subarray(0, sigStart));
  const signature = signPush(kek.privateKey, kek.sigHash, signed, input.signatureForm ?? 'digest-info');
  if (signature.length !== sigLength) throw new GdoiError('BAD_KEY', `signature of ${signature.length} bytes, expected ${sigLength}`);
  plain.set(signature, sigStart + SIG_HEADER);
  const ct = aesCbcEncrypt(kek.key, kek.iv, padZero(plain, BLOCK_SIZE));
  return { bytes: encryptedMessage(h, PayloadType.SEQ, ct), seq: input.seq, unpaddedLength: unpadded };
}

/**
 * The SEQ counter of the current KEK: `next()` = previous + 1, never backwards; `onChange` lets the daemon
 * persist it before the PUSH leaves (so a restart cannot reuse a number).
 */
export class RekeySequence {
  private value: number;

  constructor(start = 0, private readonly onChange?: (seq: number) => void) {
    if (!Number.isInteger(start) || start < 0 || start > 0xffffffff) throw new GdoiError('BAD_STATE', `SEQ ${start}`);
    this.value = start;
  }

  get current(): number {
    return this.value;
  }

  /** Jumps forward to `seq` (a sub-server following its root's numbering); backwards or equal is refused. */
  advanceTo(seq: number): void {
    if (!Number.isInteger(seq) || seq <= this.value || seq > 0xffffffff) throw new GdoiError('BAD_STATE', `SEQ ${seq} after ${this.value}`);
    this.value = seq;
    this.onChange?.(this.value);
  }

  next(): number {
    if (this.value >= 0xffffffff) throw new GdoiError('SEQ_EXHAUSTED', 'SEQ space of this KEK used up: rekey the KEK');
    this.value++;
    this.onChange?.(this.value);
    return this.value;
  }
}
