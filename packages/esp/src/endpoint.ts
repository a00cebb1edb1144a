/**
 * A member's ESP-in-UDP data plane, without I/O of its own: the owner gives it a datagram send function
 * and feeds it each received UDP payload with `handle(bytes, from, now)`, which never throws and counts
 * what it drops.
 *
 * Receive path, in order (the first failing step decides the counter):
 *   RFC 3948 framing (non-ESP marker / keepalive -> nonEsp; < 8 bytes -> malformed)
 *   SPI lookup, inbound-valid at `now` -> noSa
 *   length fits the transform -> malformed
 *   ICV (constant time) -> authFailures       ... only now is anything decrypted
 *   ESP trailer (padding 1,2,3..., pad length) -> malformed; next header 59 (dummy) -> dummy
 *   next header 4 and a valid inner IPv4 header -> malformed
 *   inner source/destination inside the TEK's selector -> policyDropped
 *   anti-replay check and window update for (SPI, inner source) -> replayDropped, replaySendersFull
 *   received++, deliver (a throwing `deliver` -> deliverErrors)
 *
 * The replay window is keyed on the inner source address because it is inside the ICV and checked
 * against the selector; the outer UDP source is not authenticated, and keying on it let a captured
 * packet in again from any other port (and gave each spoofed source a window). The price is that a
 * replay is recognised only after its ICV check and decryption.
 *
 * Outbound GCM IVs: RFC 4106 needs a unique IV per packet under a key, and a group TEK is one key shared
 * by many senders. As in RFC 6054 (counter modes for group SAs), the 8-byte explicit IV is
 * sender id (top `senderIdBits` bits) | zero | our 32-bit ESP sequence number for that TEK — unique as
 * long as the GCKS (or configuration) gives each member a distinct sender id. An endpoint without a
 * sender id refuses to send under GCM (EspError NO_SENDER_ID). CBC IVs are 16 random bytes.
 */
import { systemRandom, type RandomSource } from '@gvpn/crypto';
import { EspError } from './errors.js';
import { ipv4Addresses } from './ipv4.js';
import {
  CBC_IV_LENGTH, GCM_IV_LENGTH, NEXT_HEADER_IPV4, NEXT_HEADER_NO_NEXT, espLengthValid, openEsp, peekEspHeader, sealEsp,
} from './packet.js';
import { type SaDatabase } from './sadb.js';
import { tekCovers, type Tek } from './tek.js';
import { classifyUdpEncap } from './udp-encap.js';

export interface PeerAddress {
  address: string;
  port: number;
}

export interface EspCounters {
  /** ESP packets handed to `send` */
  sent: number;
  /** ESP packets authenticated, decrypted and delivered */
  received: number;
  authFailures: number;
  /** received under an SPI we do not hold (or no longer accept) */
  noSa: number;
  replayDropped: number;
  /** authenticated packets from a new sender refused: the SA keeps MAX_REPLAY_SENDERS windows already */
  replaySendersFull: number;
  malformed: number;
  /** RFC 3948 non-ESP marker (IKE) and NAT-keepalives on the ESP port */
  nonEsp: number;
  /** RFC 4303 dummy packets (next header 59), authenticated and discarded */
  dummy: number;
  /** decrypted inner header outside the TEK's selector */
  policyDropped: number;
  /** send() found no active outbound TEK */
  noOutboundSa: number;
  /** send() refused: inner packet outside the outbound TEK's selector */
  outboundPolicyDropped: number;
  /** send() refused: the TEK's 32-bit sequence space is spent */
  sequenceExhausted: number;
  /** received packets whose `deliver` threw (the error goes to `onDeliverError`) */
  deliverErrors: number;
}

export interface DeliveredPacket {
  spi: number;
  seq: number;
  from: PeerAddress;
  /** the inner IPv4 packet */
  inner: Uint8Array;
  /** inner (preserved) addresses as u32 */
  source: number;
  destination: number;
}

export type HandleResult =
  | 'received' | 'auth-failure' | 'no-sa' | 'replay' | 'replay-senders-full' | 'malformed' | 'non-esp' | 'dummy' | 'policy';

export type SendResult = 'sent' | 'no-sa' | 'outside-policy' | 'sequence-exhausted';

export interface EspEndpointOptions {
  sad: SaDatabase;
  send: (datagram: Uint8Array, to: PeerAddress) => void;
  deliver?: (packet: DeliveredPacket) => void;
  /** Told about each error `deliver` threw, which `handle` counts instead of throwing. */
  onDeliverError?: (error: unknown, packet: DeliveredPacket) => void;
  random?: RandomSource;
  /** RFC 6054-style sender id for GCM IVs; must be unique among the group's senders */
  senderId?: number;
  /** bits of the sender id at the top of the GCM IV, 8..32; default 16 */
  senderIdBits?: number;
}

function zeroCounters(): EspCounters {
  return {
    sent: 0, received: 0, authFailures: 0, noSa: 0, replayDropped: 0, replaySendersFull: 0, malformed: 0, nonEsp: 0,
    dummy: 0, policyDropped: 0, noOutboundSa: 0, outboundPolicyDropped: 0, sequenceExhausted: 0, deliverErrors: 0,
  };
}

export class EspEndpoint {
  readonly sad: SaDatabase;
  readonly #counters = zeroCounters();
  readonly #send: EspEndpointOptions['send'];
  readonly #deliver: EspEndpointOptions['deliver'];
  readonly #onDeliverError: EspEndpointOptions['onDeliverError'];
  readonly #random: RandomSource;
  readonly #senderId: number | undefined;
  readonly #senderIdBits: number;

  constructor(options: EspEndpointOptions) {
    this.sad = options.sad;
    this.#send = options.send;
    this.#deliver = options.deliver;
    this.#onDeliverError = options.onDeliverError;
    this.#random = options.random ?? systemRandom;
    this.#senderIdBits = options.senderIdBits ?? 16;
    if (!Number.isInteger(this.#senderIdBits) || this.#senderIdBits < 8 || this.#senderIdBits > 32) {
      throw new EspError('BAD_ARGUMENT', `senderIdBits must be 8..32, got ${this.#senderIdBits}`);
    }
    if (options.senderId !== undefined &&
      (!Number.isInteger(options.senderId) || options.senderId < 0 || options.senderId >= 2 ** this.#senderIdBits)) {
      throw new EspError('BAD_ARGUMENT', `sender id ${options.senderId} does not fit in ${this.#senderIdBits} bits`);
    }
    this.#senderId = options.senderId;
  }

  /** A snapshot of the counters. */
  counters(): EspCounters {
    return { ...this.#counters };
  }

  /**
   * Encrypts an inner IPv4 packet under the newest active TEK whose selector covers it and sends it to
   * `to`. Returns what happened; a refusal is counted, never thrown (a bad inner packet, which is the
   * caller's bug, throws): 'no-sa' when no TEK is active, 'outside-policy' when none active covers it.
   */
  send(inner: Uint8Array, to: PeerAddress, now: number): SendResult {
    const tek = this.sad.outbound(now, ipv4Addresses(inner));
    if (tek === undefined) {
      if (this.sad.outbound(now) === undefined) {
        this.#counters.noOutboundSa++;
        return 'no-sa';
      }
      this.#counters.outboundPolicyDropped++;
      return 'outside-policy';
    }
    if (tek.transform === 'aes-gcm-16' && this.#senderId === undefined) {
      throw new EspError('NO_SENDER_ID', `TEK ${tek.spi} is AES-GCM and this endpoint has no sender id`);
    }
    const seq = this.sad.nextSequence(tek.spi);
    if (seq === undefined) {
      this.#counters.sequenceExhausted++;
      return 'sequence-exhausted';
    }
    const packet = sealEsp(tek, { seq, payload: inner, iv: this.#iv(tek, seq), nextHeader: NEXT_HEADER_IPV4 });
    this.#counters.sent++;
    this.#send(packet, to);
    return 'sent';
  }

  #iv(tek: Tek, seq: number): Uint8Array {
    if (tek.transform !== 'aes-gcm-16') return this.#random.bytes(CBC_IV_LENGTH);
    const iv = new Uint8Array(GCM_IV_LENGTH);
    const view = new DataView(iv.buffer);
    // sender id in the top bits of the first word (bits <= 32), sequence number in the second word
    view.setUint32(0, (this.#senderId as number) * 2 ** (32 - this.#senderIdBits));
    view.setUint32(4, seq);
    return iv;
  }

  /** Processes one received UDP payload. Never throws. */
  handle(bytes: Uint8Array, from: PeerAddress, now: number): HandleResult {
    const kind = classifyUdpEncap(bytes);
    if (kind === 'non-esp' || kind === 'keepalive') return this.#count('nonEsp', 'non-esp');
    const header = peekEspHeader(bytes);
    if (kind === 'malformed' || header === undefined) return this.#count('malformed', 'malformed');
    const tek = this.sad.inbound(header.spi, now);
    if (tek === undefined) return this.#count('noSa', 'no-sa');
    if (!espLengthValid(tek, bytes.length)) return this.#count('malformed', 'malformed');
    const opened = openEsp(tek, bytes);
    if (!opened.ok) return opened.reason === 'auth' ? this.#count('authFailures', 'auth-failure') : this.#count('malformed', 'malformed');
    if (opened.nextHeader === NEXT_HEADER_NO_NEXT) return this.#count('dummy', 'dummy');
    if (opened.nextHeader !== NEXT_HEADER_IPV4) return this.#count('malformed', 'malformed');
    let addresses: { source: number; destination: number };
    try {
      addresses = ipv4Addresses(opened.payload);
    } catch (error) {
      if (error instanceof EspError) return this.#count('malformed', 'malformed');
      throw error;
    }
    if (!tekCovers(tek, addresses.source, addresses.destination)) return this.#count('policyDropped', 'policy');
    const admission = this.sad.replayAdmit(tek.spi, addresses.source, header.seq);
    if (admission === 'full') return this.#count('replaySendersFull', 'replay-senders-full');
    if (admission !== 'ok') return this.#count('replayDropped', 'replay');
    this.#counters.received++;
    const packet: DeliveredPacket = { spi: tek.spi, seq: header.seq, from, inner: opened.payload, ...addresses };
    try {
      this.#deliver?.(packet);
    } catch (error) {
      // the owner's bug must not escape into its socket handler and kill the daemon
      this.#counters.deliverErrors++;
      this.#onDeliverError?.(error, packet);
    }
    return 'received';
  }

  #count(counter: keyof EspCounters, result: HandleResult): HandleResult {
    this.#counters[counter]++;
    return result;
  }
}
