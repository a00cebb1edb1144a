/**
 * GROUPKEY-PULL, member (initiator) side, RFC 6407 §3.2, under an established IKE SA:
 *
 *   GM -> GCKS  (1) HDR*, HASH(1), Ni, ID          HASH(1) = prf(SKEYID_a, M-ID | Ni | ID)
 *   GCKS -> GM  (2) HDR*, HASH(2), Nr, SA          HASH(2) = prf(SKEYID_a, M-ID | Ni_b | Nr | SA)
 *   GM -> GCKS  (3) HDR*, HASH(3)                  HASH(3) = prf(SKEYID_a, M-ID | Ni_b | Nr_b)
 *   GCKS -> GM  (4) HDR*, HASH(4), [SEQ,] KD       HASH(4) = prf(SKEYID_a, M-ID | Ni_b | Nr_b [| SEQ] | KD)
 *
 * Payloads in a HASH are whole (generic headers included), nonces marked _b are bodies only. IV of message
 * 1 = hash(last phase-1 block | M-ID); each later message chains from the last ciphertext block of the
 * previous one, and a received message moves the running IV only after its HASH verified.
 *
 * A task driven by (datagram, now): `start(now)` sends message 1, `handle` takes answers (the caller routes
 * by `messageId`), `poll(now)` retransmits the last request after retransmitInitialMs * 2^k and gives up
 * after `retransmitTries` resends. Nothing received that fails a check changes the task's state.
 */
import { IdType, PayloadType, WireError, MessageRules, keyIdFromGroupId, KdType } from '@gvpn/wire';
import type { GdoiSaPayload, Header, KeyPacket } from '@gvpn/wire';
import { equalBytes } from '@gvpn/crypto';
import type { RandomSource } from '@gvpn/crypto';
import { chainBytes, ciphertextOf, encryptedMessage, freshMessageId, lastBlock, parseDecrypted, payloadsOf, u32Bytes } from '@gvpn/ike';
import type { Endpoint, IkeSa, Logger, MessageHeader } from '@gvpn/ike';
import { kekFromWire, tekFromWire, equal } from './keys.js';
import type { Kek, Tek } from './keys.js';
import { GapAttr } from '@gvpn/wire';

export const GROUPKEY_PULL = 32;

export interface PullResult {
  groupId: number;
  kek?: Kek;
  teks: Tek[];
  /** SEQ from message 4 (undefined when the group has no KEK). */
  seq?: number;
  activationDelaySeconds?: number;
  deactivationDelaySeconds?: number;
  /** The GCKS this registration came from (ACK destination, authorised PUSH source). */
  server: Endpoint;
}

export type PullInitiatorCounter =
  | 'malformedDropped' | 'decryptFailedDropped' | 'hashMismatchDropped' | 'unexpectedMessageDropped'
  | 'duplicateRepliesDropped' | 'retransmissions' | 'policyRejected';

export interface PullInitiatorConfig {
  sa: IkeSa;
  groupId: number;
  random: RandomSource;
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Write the group ID little-endian (only to talk to gdoid as a key server). */
  groupIdLittleEndian?: boolean;
  retransmitInitialMs?: number;
  retransmitTries?: number;
  nonceLength?: number;
  log?: Logger;
}

export type PullInitiatorState = 'idle' | 'msg1-sent' | 'msg3-sent' | 'done' | 'failed';

export class PullInitiator {
  state: PullInitiatorState = 'idle';
  readonly messageId: number;
  result: PullResult | undefined;
  failure: string | undefined;
  readonly counters: Record<PullInitiatorCounter, number> = {
    malformedDropped: 0, decryptFailedDropped: 0, hashMismatchDropped: 0, unexpectedMessageDropped: 0,
    duplicateRepliesDropped: 0, retransmissions: 0, policyRejected: 0,
  };
  private readonly mid: Uint8Array;
  private readonly ni: Uint8Array;
  private nr: Uint8Array | undefined;
  private sa2: GdoiSaPayload | undefined;
  private iv: Uint8Array;
  private request: Uint8Array | undefined;
  private lastAnswer: Uint8Array | undefined;
  private tries = 0;
  private nextAt: number | undefined;
  private readonly initialMs: number;
  private readonly maxTries: number;

  constructor(private readonly config: PullInitiatorConfig) {
    this.messageId = freshMessageId(config.random);
    this.mid = u32Bytes(this.messageId);
    this.ni = config.random.bytes(config.nonceLength ?? 16);
    this.iv = config.sa.phase2Iv(this.messageId);
    this.initialMs = config.retransmitInitialMs ?? 1000;
    this.maxTries = config.retransmitTries ?? 3;
  }

  private header(): MessageHeader {
    return { icookie: this.config.sa.icookie, rcookie: this.config.sa.rcookie, exchangeType: GROUPKEY_PULL, messageId: this.messageId };
  }

  private sendRequest(bytes: Uint8Array, now: number): void {
    this.request = bytes;
    this.tries = 0;
    this.nextAt = now + this.initialMs;
    this.config.send(bytes, this.config.sa.peer);
  }

  /** Sends message 1. */
  start(now: number): void {
    if (this.state !== 'idle') return;
    const nonce = { type: PayloadType.NONCE, data: this.ni } as const;
    const id = {
      type: PayloadType.ID, idType: IdType.KeyId, protocolId: 0, port: 0,
      data: keyIdFromGroupId(this.config.groupId, { littleEndian: this.config.groupIdLittleEndian ?? false }),
    } as const;
    const hash1 = this.config.sa.prfA(this.mid, chainBytes([nonce, id], GROUPKEY_PULL));
    const ct = this.config.sa.encrypt(chainBytes([{ type: PayloadType.HASH, data: hash1 }, nonce, id], GROUPKEY_PULL), this.iv);
    this.iv = lastBlock(ct);
    this.state = 'msg1-sent';
    this.sendRequest(encryptedMessage(this.header(), PayloadType.HASH, ct), now);
    this.config.log?.debug({ messageId: this.messageId, groupId: this.config.groupId }, 'GROUPKEY-PULL 1 sent');
  }

  nextDeadline(): number | undefined {
    return this.state === 'msg1-sent' || this.state === 'msg3-sent' ? this.nextAt : undefined;
  }

  poll(now: number): void {
    if (this.nextAt === undefined || now < this.nextAt || this.request === undefined) return;
    if (this.state !== 'msg1-sent' && this.state !== 'msg3-sent') return;
    if (this.tries >= this.maxTries) {
      this.fail('timeout');
      return;
    }
    this.tries++;
    this.counters.retransmissions++;
    this.nextAt = now + this.initialMs * 2 ** this.tries;
    this.config.send(this.request, this.config.sa.peer);
  }

  /** Stops the exchange (operator clear, IKE SA gone): no more retransmissions, answers dropped. */
  abort(reason: string): void {
    if (this.state === 'done' || this.state === 'failed') return;
    this.fail(reason);
  }

  private fail(reason: string): void {
    this.state = 'failed';
    this.failure = reason;
    this.nextAt = undefined;
    this.config.log?.info({ messageId: this.messageId, reason }, 'GROUPKEY-PULL failed');
  }

  private drop(counter: PullInitiatorCounter, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ messageId: this.messageId, counter, detail }, 'GROUPKEY-PULL datagram dropped');
  }

  /** A datagram of this exchange (same cookies and M-ID). */
  handle(datagram: Uint8Array, header: Header, now: number): void {
    if (header.exchangeType !== GROUPKEY_PULL || header.messageId !== this.messageId) return this.drop('unexpectedMessageDropped', 'not this exchange');
    if (this.lastAnswer !== undefined && equal(datagram, this.lastAnswer)) return this.drop('duplicateRepliesDropped', 'retransmitted answer');
    if (this.state !== 'msg1-sent' && this.state !== 'msg3-sent') return this.drop('unexpectedMessageDropped', `state ${this.state}`);
    const ct = ciphertextOf(datagram);
    if (ct === undefined || (header.flags & 1) === 0) return this.drop('malformedDropped', 'not encrypted whole blocks');
    const plain = this.config.sa.decrypt(ct, this.iv);
    const rule = this.state === 'msg1-sent' ? MessageRules.pull2 : MessageRules.pull4;
    let parsed;
    try {
      parsed = parseDecrypted(header, plain, rule);
    } catch (e) {
      if (e instanceof WireError) return this.drop('decryptFailedDropped', e.code);
      throw e;
    }
    const hashP = payloadsOf(parsed, PayloadType.HASH)[0];
    if (hashP === undefined) return this.drop('malformedDropped', 'no HASH');
    const rest = parsed.body.subarray(hashP.end, parsed.chainEnd);
    if (this.state === 'msg1-sent') {
      const expected = this.config.sa.prfA(this.mid, this.ni, rest);
      if (!equalBytes(expected, hashP.payload.data)) return this.drop('hashMismatchDropped', 'HASH(2)');
      const nr = payloadsOf(parsed, PayloadType.NONCE)[0]?.payload.data;
      const sa = payloadsOf(parsed, PayloadType.SA)[0]?.payload;
      if (nr === undefined || sa === undefined || sa.layout !== 'gdoi' || nr.length > 128) return this.drop('malformedDropped', 'message 2 payloads');
      this.nr = Uint8Array.from(nr);
      this.sa2 = sa;
      this.iv = lastBlock(ct);
      this.lastAnswer = Uint8Array.from(datagram);
      const hash3 = this.config.sa.prfA(this.mid, this.ni, this.nr);
      const ct3 = this.config.sa.encrypt(chainBytes([{ type: PayloadType.HASH, data: hash3 }], GROUPKEY_PULL), this.iv);
      this.iv = lastBlock(ct3);
      this.state = 'msg3-sent';
      this.sendRequest(encryptedMessage(this.header(), PayloadType.HASH, ct3), now);
      return;
    }
    const expected = this.config.sa.prfA(this.mid, this.ni, this.nr as Uint8Array, rest);
    if (!equalBytes(expected, hashP.payload.data)) return this.drop('hashMismatchDropped', 'HASH(4)');
    this.lastAnswer = Uint8Array.from(datagram);
    const seq = payloadsOf(parsed, PayloadType.SEQ)[0]?.payload.seq;
    const kd = payloadsOf(parsed, PayloadType.KD)[0]?.payload;
    const result = this.install(this.sa2 as GdoiSaPayload, kd?.packets ?? [], seq);
    if (typeof result === 'string') {
      this.counters.policyRejected++;
      this.fail(`policy: ${result}`);
      return;
    }
    this.result = result;
    this.state = 'done';
    this.nextAt = undefined;
    this.config.log?.info({ messageId: this.messageId, groupId: this.config.groupId, teks: result.teks.length, seq }, 'GROUPKEY-PULL done');
  }

  private install(sa: GdoiSaPayload, packets: KeyPacket[], seq: number | undefined): PullResult | string {
    const used = new Set<KeyPacket>();
    const packetFor = (kdType: number, spi: Uint8Array): KeyPacket | undefined => {
      const p = packets.find((k) => k.kdType === kdType && equal(k.spi, spi));
      if (p !== undefined) used.add(p);
      return p;
    };
    const result: PullResult = { groupId: this.config.groupId, teks: [], server: this.config.sa.peer };
    if (sa.kek !== undefined) {
      const packet = packetFor(KdType.Kek, sa.kek.spi);
      if (packet === undefined) return 'no KD packet for the KEK';
      const kek = kekFromWire(sa.kek, packet);
      if (!kek.ok) return kek.reason;
      if (seq === undefined) return 'KEK without SEQ';
      result.kek = kek.value;
      result.seq = seq;
    }
    for (const sat of sa.teks) {
      if (sat.kind !== 'ipsec') return `TEK protocol ${sat.protocolId}`;
      const packet = packetFor(KdType.Tek, sat.spi);
      if (packet === undefined) return 'no KD packet for a TEK';
      const tek = tekFromWire(sat, packet);
      if (!tek.ok) return tek.reason;
      result.teks.push(tek.value);
    }
    if (used.size !== packets.length) return 'KD packet without policy';
    for (const a of sa.gap?.attributes ?? []) {
      if (!('value' in a)) return `GAP attribute ${a.type} not in TV form`;
      if (a.type === GapAttr.ActivationTimeDelay) result.activationDelaySeconds = a.value;
      else if (a.type === GapAttr.DeactivationTimeDelay) result.deactivationDelaySeconds = a.value;
      else return `unknown GAP attribute ${a.type}`; // RFC 6407 §5.4: abort on what we do not understand
    }
    return result;
  }
}
