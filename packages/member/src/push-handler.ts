/**
 * GROUPKEY-PUSH on the member's GDOI socket. A PUSH carries the KEK SPI in its cookies, not an IKE SA's,
 * so it is taken here before IKE sees it (RoleModule.preIke): routed to the registration whose current KEK
 * it names, accepted only from the key server that registered us (R-REG-2), then checked by that
 * registration's `PushReceiver` (decrypt under the KEK, SEQ fresh, signature with the registration's key).
 * The RFC 8263 ACK goes back to the PUSH's source — after the agent applied the PUSH and wrote it to the
 * state store (durable.ts). A byte-identical repeat of one of the last accepted PUSHes (also from before a
 * restart) gets its ACK again, at most once a second, and counts as a duplicate. Every drop is counted; a
 * dropped PUSH changes nothing. Drops and repeats are logged through the rate-limited junk log: the KEK SPI
 * travels in clear, so anyone spoofing the server's address can send them at line rate.
 */
import { createHash } from 'node:crypto';
import { GROUPKEY_PUSH, type PushAccepted } from '@gvpn/gdoi';
import type { Endpoint, Logger, RateLimitedLog } from '@gvpn/runtime';
import { ACCEPTED_PUSH_MEMORY } from './durable.js';
import type { GroupRegistration } from './registration.js';

export const PUSH_ROUTER_COUNTER_NAMES = ['pushesReceived', 'noRegistrationDropped', 'wrongSourceDropped', 'acksSent'] as const;
export type PushRouterCounter = (typeof PUSH_ROUTER_COUNTER_NAMES)[number];

const HEADER_LENGTH = 28;
const EXCHANGE_TYPE_OFFSET = 18;
/** A repeated PUSH gets its ACK again at most this often, so that replaying one cannot make us an ACK reflector. */
const ACK_RESEND_INTERVAL_MS = 1000;

export interface PushHandlerOptions {
  registrations: readonly GroupRegistration[];
  send(bytes: Uint8Array, to: Endpoint): void;
  log: Logger;
  junkLog: RateLimitedLog;
  /** An accepted PUSH: the agent applies it to the data plane and the registration's timers, and stores it. */
  onAccepted(registration: GroupRegistration, outcome: PushAccepted, now: number): void;
}

export function isPush(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_LENGTH && bytes[EXCHANGE_TYPE_OFFSET] === GROUPKEY_PUSH;
}

export class PushHandler {
  readonly counters = Object.fromEntries(PUSH_ROUTER_COUNTER_NAMES.map((n) => [n, 0])) as Record<PushRouterCounter, number>;
  readonly #options: PushHandlerOptions;
  /** When the ACK of a repeated PUSH (by digest) was last sent again, for those within the interval. */
  readonly #ackResentAt = new Map<string, number>();

  constructor(options: PushHandlerOptions) {
    this.#options = options;
  }

  /** Takes a GROUPKEY-PUSH datagram; returns false for anything else (IKE handles it). */
  handle(bytes: Uint8Array, from: Endpoint, now: number): boolean {
    if (!isPush(bytes)) return false;
    this.counters.pushesReceived++;
    const cookies = bytes.subarray(0, 16);
    const registration = this.#options.registrations.find((r) => {
      const spi = r.keys?.receiver.kek?.spi;
      return spi !== undefined && Buffer.compare(spi, cookies) === 0;
    });
    if (registration?.keys === undefined) {
      this.counters.noRegistrationDropped++;
      this.#options.junkLog.warn({ from: from.address, kek: Buffer.from(cookies).toString('hex') }, 'GROUPKEY-PUSH for no KEK we hold dropped');
      return true;
    }
    const server = registration.keys.result.server;
    if (from.address !== server.address) {
      this.counters.wrongSourceDropped++;
      this.#options.junkLog.warn({ from: from.address, server: server.address, group: registration.name }, 'GROUPKEY-PUSH not from our key server dropped');
      return true;
    }
    const keys = registration.keys;
    // A repeat of a PUSH we accepted — also one accepted before a restart, which the receiver's own cache
    // no longer knows and would drop as a replay: its ACK again, nothing else.
    const digest = createHash('sha256').update(bytes).digest('hex');
    const known = keys.acceptedPushes.find((p) => p.digest === digest);
    if (known !== undefined) {
      keys.receiver.counters.duplicateDropped++;
      const ackResent = known.ack !== undefined && this.#resendAck(known.ack, digest, from, now);
      this.#options.junkLog.warn({ group: registration.name, from: from.address, ackResent }, 'GROUPKEY-PUSH repeated');
      return true;
    }
    const outcome = keys.receiver.handle(bytes);
    if (!outcome.accepted) {
      const ackResent = outcome.ack !== undefined && this.#resendAck(outcome.ack, digest, from, now);
      this.#options.junkLog.warn({ group: registration.name, from: from.address, counter: outcome.counter, detail: outcome.detail, ackResent }, 'GROUPKEY-PUSH dropped');
      return true;
    }
    this.#options.log.info({
      group: registration.name, seq: outcome.seq, newTeks: outcome.newTeks.map((t) => Buffer.from(t.spi).toString('hex')),
      deletedTeks: outcome.deletedTeks.map((s) => Buffer.from(s).toString('hex')), newKek: outcome.newKek === undefined ? null : Buffer.from(outcome.newKek.spi).toString('hex'),
      kekDeleted: outcome.kekDeleted, ack: outcome.ack !== undefined,
    }, 'GROUPKEY-PUSH accepted');
    keys.acceptedPushes.push({ digest, ack: outcome.ack });
    if (keys.acceptedPushes.length > ACCEPTED_PUSH_MEMORY) keys.acceptedPushes.splice(0, keys.acceptedPushes.length - ACCEPTED_PUSH_MEMORY);
    // Applied and written to the state store before the ACK tells the server we hold the keys.
    this.#options.onAccepted(registration, outcome, now);
    if (outcome.ack !== undefined) {
      this.#options.send(outcome.ack, from);
      this.counters.acksSent++;
    }
    return true;
  }

  #resendAck(ack: Uint8Array, digest: string, to: Endpoint, now: number): boolean {
    for (const [d, at] of this.#ackResentAt) if (now - at >= ACK_RESEND_INTERVAL_MS) this.#ackResentAt.delete(d);
    if (this.#ackResentAt.has(digest)) return false;
    this.#ackResentAt.set(digest, now);
    this.#options.send(ack, to);
    this.counters.acksSent++;
    return true;
  }
}
