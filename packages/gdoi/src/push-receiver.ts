/**
 * GROUPKEY-PUSH, member side (RFC 6407 §4, §7.3.4-5). One `PushReceiver` per registration, created from
 * the PULL result; it holds the current KEK, the SEQ last seen for it and the installed TEKs.
 *
 * Checks, cheapest first (§7.3.5), each failure dropped with its own counter and NO state change:
 *   1. header: exchange 33 (unexpectedExchangeDropped), cookies = current KEK SPI (unknownKekDropped),
 *      flags exactly E (badFlagsDropped), M-ID 0 (badMessageIdDropped); a byte-identical repeat of a
 *      PUSH already accepted (duplicateDropped; its ACK is offered again, §7.3.4 hash cache);
 *   2. decrypt with the current KEK and its static IV (decryptFailedDropped: not whole blocks, or the
 *      plaintext is not a payload chain);
 *   3. form: SEQ, [D]*, [SA, KD], SIG, SA and KD together (invalidPayloadDropped);
 *   4. SEQ > the last one seen for this KEK (replayDropped). The first KEK starts from the PULL's SEQ; a KEK
 *      installed by a PUSH starts from 0, which accepts both RFC (reset to 1) and gdoid (no reset);
 *   5. SIG over hash('rekey' | HDR with the unpadded Length | payloads before SIG) with the registration's
 *      key; PKCS#1 v1.5 with DigestInfo or the bare-digest gdoid form (badSignatureDropped; `strictSignature`
 *      accepts only the RFC form);
 *   6. the new policy must be one we can install (policyRejectedDropped).
 * Then it applies deletes (TEK SPIs; SPI 0 = all TEKs; protocol 0 = the KEK: registration over), new TEKs,
 * a new KEK (used for later PUSHes), and returns the RFC 8263 ACK when the decrypting KEK asked for one.
 *
 * At a re-registration the new receiver is built from the PULL and the receiver it replaces: a PULL older
 * than PUSHes that receiver accepted is stale (§3.2, `whyPullIsStale`) and gives way to what they brought.
 */
import { createHash } from 'node:crypto';
import { HEADER_LENGTH, KdType, MessageRules, PayloadType, TekProtocolId, WireError } from '@gvpn/wire';
import type { DeletePayload, GdoiSaPayload, Header, KeyPacket } from '@gvpn/wire';
import type { KeyObject } from 'node:crypto';
import type { SigHash } from './group-policy.js';
import { aesCbcDecrypt } from '@gvpn/crypto';
import { equal, hex, kekFromWire, tekFromWire } from './keys.js';
import type { Kek, Tek } from './keys.js';
import { ciphertextOf, headerBytes, parseDecrypted, payloadsOf, tryHeader } from '@gvpn/ike';
import type { ParsedMessage } from '@gvpn/ike';
import { GROUPKEY_PUSH } from './push-builder.js';
import { buildAck } from './push-ack.js';
import { signedData, verifyPush } from './signature.js';
import type { SignatureForm } from './signature.js';
import type { PullResult } from './pull-initiator.js';

export const PUSH_COUNTER_NAMES = [
  'pushesAccepted', 'malformedDropped', 'unexpectedExchangeDropped', 'unknownKekDropped', 'badFlagsDropped',
  'badMessageIdDropped', 'duplicateDropped', 'decryptFailedDropped', 'invalidPayloadDropped', 'replayDropped',
  'badSignatureDropped', 'policyRejectedDropped', 'acksBuilt', 'teksInstalled', 'teksDeleted', 'kekRekeys',
] as const;
export type PushCounter = (typeof PUSH_COUNTER_NAMES)[number];
export type PushDropCounter = Exclude<PushCounter, 'pushesAccepted' | 'acksBuilt' | 'teksInstalled' | 'teksDeleted' | 'kekRekeys'>;

export interface PushReceiverConfig {
  pull: PullResult;
  /** The member's own address, for the ACK's ID payload (RFC 8263 §3.4). */
  memberAddress: string;
  /** Accept only the RFC (DigestInfo) signature form. */
  strictSignature?: boolean;
  /** Remembered accepted PUSHes for duplicate detection. */
  duplicateCacheSize?: number;
  /** At a re-registration, the receiver this one replaces: its state newer than the PULL's is kept. */
  previous?: PushReceiver;
}

export interface PushAccepted {
  accepted: true;
  seq: number;
  signatureForm: SignatureForm;
  newTeks: Tek[];
  newKek?: Kek;
  /** SPIs of TEKs removed (all installed ones for a delete-all). */
  deletedTeks: Uint8Array[];
  kekDeleted: boolean;
  /** RFC 8263 ACK to send to the GCKS (the PUSH's source), when requested. */
  ack?: Uint8Array;
}

export interface PushDropped {
  accepted: false;
  counter: PushDropCounter;
  detail: string;
  /** For a duplicate of an accepted PUSH: the ACK sent for it, to send again. */
  ack?: Uint8Array;
}

export type PushOutcome = PushAccepted | PushDropped;

/**
 * Which signature form verifies a decrypted PUSH (undefined: none). The signed bytes are
 * 'rekey' | HDR (E flag, Length = header + chain up to the end of SIG, no padding) | payloads before SIG.
 */
export function pushSignatureForm(header: Header, parsed: ParsedMessage, publicKey: KeyObject, sigHash: SigHash,
  accept?: readonly SignatureForm[]): SignatureForm | undefined {
  const sig = payloadsOf(parsed, PayloadType.SIG)[0];
  if (sig === undefined) return undefined;
  const signedHeader = headerBytes(header, header.flags, header.nextPayload, HEADER_LENGTH + sig.end);
  return verifyPush(publicKey, sigHash, signedData(signedHeader, parsed.body.subarray(0, sig.start)), sig.payload.data, accept);
}

/** The same check on a PUSH plaintext obtained elsewhere (e.g. a peer's debug log): parse, then verify. */
export function verifyDecryptedPush(header: Header, plaintext: Uint8Array, publicKey: KeyObject, sigHash: SigHash,
  accept?: readonly SignatureForm[]): SignatureForm | undefined {
  return pushSignatureForm(header, parseDecrypted(header, plaintext, MessageRules.push), publicKey, sigHash, accept);
}

/**
 * Why a re-registration's PULL is older than what `previous` learned from PUSHes (RFC 6407 §3.2: a PULL
 * SEQ lower than the latest PUSH seen under its KEK is stale):
 *   'seq': same KEK, and `previous` accepted PUSHes past the PULL's SEQ;
 *   'kek': `previous` holds a KEK that replaced the PULL's by a PUSH past the PULL's SEQ.
 * Undefined: the PULL's state is as new or newer, or names a KEK `previous` never held (a server that
 * restarted with new keys); it wins.
 */
function whyPullIsStale(previous: PushReceiver, pull: PullResult): 'seq' | 'kek' | undefined {
  const held = previous.kek;
  if (held === undefined || pull.kek === undefined) return undefined;
  const pullSeq = pull.seq ?? 0;
  if (equal(held.spi, pull.kek.spi)) return previous.lastSeq > pullSeq ? 'seq' : undefined;
  const replaced = previous.replacedKek;
  return replaced !== undefined && equal(replaced.spi, pull.kek.spi) && replaced.seq > pullSeq ? 'kek' : undefined;
}

export class PushReceiver {
  /** Undefined once a PUSH deleted the KEK (the member must register again). */
  kek: Kek | undefined;
  /** Last SEQ accepted under the current KEK. */
  lastSeq: number;
  readonly teks = new Map<string, Tek>();
  readonly counters = Object.fromEntries(PUSH_COUNTER_NAMES.map((n) => [n, 0])) as Record<PushCounter, number>;
  private readonly seen = new Map<string, Uint8Array | undefined>();
  #replacedKek: { spi: Uint8Array; seq: number } | undefined;
  /** Why the PULL was stale against `previous` (whose KEK, SEQ and TEKs were then kept as noted at `whyPullIsStale`). */
  readonly stalePull: 'seq' | 'kek' | undefined;
  /** This receiver goes on under `previous`'s KEK: what is known of PUSHes under it (duplicates, ACKs) carries over. */
  readonly continuesPrevious: boolean;

  constructor(private readonly config: PushReceiverConfig) {
    const { pull, previous } = config;
    const stale = previous === undefined ? undefined : whyPullIsStale(previous, pull);
    this.stalePull = stale;
    if (previous === undefined || stale === undefined) {
      this.kek = pull.kek;
      this.lastSeq = pull.seq ?? 0;
      for (const t of pull.teks) this.teks.set(hex(t.spi), t);
    } else {
      this.kek = stale === 'kek' ? previous.kek : pull.kek;
      this.lastSeq = previous.lastSeq;
      // The TEKs the PUSHes left; the PULL's copy of one still held is as good and its lifetime fresher.
      for (const t of previous.teks.values()) this.teks.set(hex(t.spi), pull.teks.find((p) => equal(p.spi, t.spi)) ?? t);
    }
    // What is known about PUSHes under a KEK stays true while that KEK is in use.
    this.continuesPrevious = previous?.kek !== undefined && this.kek !== undefined && equal(previous.kek.spi, this.kek.spi);
    if (previous !== undefined && this.continuesPrevious) {
      for (const [digest, ack] of previous.seen) this.seen.set(digest, ack);
      this.#replacedKek = previous.#replacedKek;
    }
  }

  /** The KEK the current one replaced, with the SEQ of the PUSH that brought the new one. */
  get replacedKek(): { spi: Uint8Array; seq: number } | undefined {
    return this.#replacedKek;
  }

  /** The daemon retires a replaced TEK after its deactivation delay. */
  removeTek(spi: Uint8Array): boolean {
    return this.teks.delete(hex(spi));
  }

  private drop(counter: PushDropCounter, detail: string, ack?: Uint8Array): PushDropped {
    this.counters[counter]++;
    return ack === undefined ? { accepted: false, counter, detail } : { accepted: false, counter, detail, ack };
  }

  handle(datagram: Uint8Array): PushOutcome {
    const header = tryHeader(datagram);
    if (header === undefined) return this.drop('malformedDropped', 'ISAKMP header');
    if (header.exchangeType !== GROUPKEY_PUSH) return this.drop('unexpectedExchangeDropped', `exchange ${header.exchangeType}`);
    const kek = this.kek;
    if (kek === undefined || !equal(header.icookie, kek.spi.subarray(0, 8)) || !equal(header.rcookie, kek.spi.subarray(8, 16))) {
      return this.drop('unknownKekDropped', 'cookies are not the current KEK SPI');
    }
    if (header.flags !== 1) return this.drop('badFlagsDropped', `flags ${header.flags}`);
    if (header.messageId !== 0) return this.drop('badMessageIdDropped', `M-ID ${header.messageId}`);
    const digest = createHash('sha256').update(datagram).digest('hex');
    if (this.seen.has(digest)) return this.drop('duplicateDropped', 'PUSH already accepted', this.seen.get(digest));
    const ct = ciphertextOf(datagram);
    if (ct === undefined) return this.drop('decryptFailedDropped', 'ciphertext not whole blocks');
    let parsed: ParsedMessage;
    try {
      parsed = parseDecrypted(header, aesCbcDecrypt(kek.key, kek.iv, ct), MessageRules.push);
    } catch (e) {
      if (e instanceof WireError) return this.drop('decryptFailedDropped', `${e.code} at ${e.offset}`);
      throw e;
    }
    const sa = payloadsOf(parsed, PayloadType.SA)[0]?.payload;
    const kd = payloadsOf(parsed, PayloadType.KD)[0]?.payload;
    const sig = payloadsOf(parsed, PayloadType.SIG)[0];
    const seq = payloadsOf(parsed, PayloadType.SEQ)[0]?.payload.seq;
    const deletes = payloadsOf(parsed, PayloadType.D).map((d) => d.payload);
    if (seq === undefined || sig === undefined) return this.drop('invalidPayloadDropped', 'SEQ or SIG missing');
    if ((sa === undefined) !== (kd === undefined)) return this.drop('invalidPayloadDropped', 'SA without KD or KD without SA');
    if (sa !== undefined && sa.layout !== 'gdoi') return this.drop('invalidPayloadDropped', 'SA not in the GDOI layout');
    if (sa === undefined && deletes.length === 0) return this.drop('invalidPayloadDropped', 'PUSH with nothing to do');
    if (sig.end !== parsed.chainEnd) return this.drop('invalidPayloadDropped', 'SIG is not last');
    if (seq <= this.lastSeq) return this.drop('replayDropped', `SEQ ${seq} <= ${this.lastSeq}`);
    const form = pushSignatureForm(header, parsed, kek.publicKey, kek.sigHash, this.config.strictSignature === true ? ['digest-info'] : undefined);
    if (form === undefined) return this.drop('badSignatureDropped', 'SIG does not verify');
    const change = this.parseChange(sa as GdoiSaPayload | undefined, kd?.packets ?? [], deletes, kek);
    if (typeof change === 'string') return this.drop('policyRejectedDropped', change);
    // Accepted: apply.
    const ack = kek.ackType === undefined ? undefined : buildAck(kek, seq, this.config.memberAddress);
    this.lastSeq = seq;
    const deletedTeks: Uint8Array[] = [];
    for (const spi of change.deleteTeks) {
      if (spi.every((b) => b === 0)) {
        for (const t of this.teks.values()) deletedTeks.push(t.spi);
        this.teks.clear();
      } else if (this.teks.delete(hex(spi))) deletedTeks.push(spi);
    }
    for (const t of change.newTeks) this.teks.set(hex(t.spi), t);
    this.counters.teksInstalled += change.newTeks.length;
    this.counters.teksDeleted += deletedTeks.length;
    if (change.newKek !== undefined) {
      this.#replacedKek = { spi: kek.spi, seq };
      this.kek = change.newKek;
      this.lastSeq = 0;
      this.counters.kekRekeys++;
    }
    if (change.kekDeleted) this.kek = undefined;
    this.counters.pushesAccepted++;
    if (ack !== undefined) this.counters.acksBuilt++;
    this.remember(digest, ack);
    const out: PushAccepted = { accepted: true, seq, signatureForm: form, newTeks: change.newTeks, deletedTeks, kekDeleted: change.kekDeleted };
    if (change.newKek !== undefined) out.newKek = change.newKek;
    if (ack !== undefined) out.ack = ack;
    return out;
  }

  private remember(digest: string, ack: Uint8Array | undefined): void {
    this.seen.set(digest, ack);
    const max = this.config.duplicateCacheSize ?? 32;
    while (this.seen.size > max) this.seen.delete(this.seen.keys().next().value as string);
  }

  private parseChange(sa: GdoiSaPayload | undefined, packets: KeyPacket[], deletes: DeletePayload[], current: Kek):
    { newTeks: Tek[]; newKek?: Kek; deleteTeks: Uint8Array[]; kekDeleted: boolean } | string {
    const deleteTeks: Uint8Array[] = [];
    let kekDeleted = false;
    for (const d of deletes) {
      if (d.doi !== 2) return `delete DOI ${d.doi}`;
      if (d.protocolId === TekProtocolId.IpsecEsp && d.spiSize === 4) deleteTeks.push(...d.spis);
      else if (d.protocolId === TekProtocolId.Kek) {
        if (!d.spis.every((s) => s.every((b) => b === 0) || equal(s, current.spi))) return 'delete of another KEK';
        kekDeleted = true;
      } else return `delete protocol ${d.protocolId} SPI size ${d.spiSize}`;
    }
    const used = new Set<KeyPacket>();
    const packetFor = (kdType: number, spi: Uint8Array): KeyPacket | undefined => {
      const p = packets.find((k) => k.kdType === kdType && equal(k.spi, spi));
      if (p !== undefined) used.add(p);
      return p;
    };
    const newTeks: Tek[] = [];
    let newKek: Kek | undefined;
    if (sa !== undefined) {
      if (sa.kek !== undefined) {
        const packet = packetFor(KdType.Kek, sa.kek.spi);
        if (packet === undefined) return 'no KD packet for the SAK';
        if (!equal(sa.kek.spi, current.spi)) {
          const parsed = kekFromWire(sa.kek, packet);
          if (!parsed.ok) return parsed.reason;
          newKek = parsed.value;
        }
        // Same SPI (gdoid repeats the SAK and re-sends the KEK with TEK rekeys): nothing changes.
      }
      for (const sat of sa.teks) {
        if (sat.kind !== 'ipsec') return `TEK protocol ${sat.protocolId}`;
        const packet = packetFor(KdType.Tek, sat.spi);
        if (packet === undefined) return 'no KD packet for a SAT';
        const parsed = tekFromWire(sat, packet);
        if (!parsed.ok) return parsed.reason;
        newTeks.push(parsed.value);
      }
      if (used.size !== packets.length) return 'KD packet without policy';
    }
    const out: { newTeks: Tek[]; newKek?: Kek; deleteTeks: Uint8Array[]; kekDeleted: boolean } = { newTeks, deleteTeks, kekDeleted };
    if (newKek !== undefined) out.newKek = newKek;
    return out;
  }
}
