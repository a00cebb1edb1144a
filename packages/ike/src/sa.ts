/**
 * One IKE (phase-1) SA as the endpoint's table holds it: negotiation task, keys once established, timers,
 * the initiator's pending request and the responder's duplicate cache.
 *
 * Established SAs also serve the exchanges that ride on them (GROUPKEY-PULL, cluster messages): see
 * `phase2Iv`, `encrypt`, `decrypt`, `prfA` and the SKEYID_* getters.
 */
import type { Secret, HashName } from '@gvpn/crypto';
import type { DpdMonitor } from './dpd.js';
import type { Keymat } from './keymat.js';
import type { MainModeInitiator } from './main-mode-initiator.js';
import type { MainModeResponder } from './main-mode-responder.js';
import { toHex } from './bytes.js';
import type {
  Endpoint, GatewayPolicy, IkeProposal, IkeSaStatus, Logger, NegotiationFailure, SaDownReason, SaRole,
} from './types.js';

export interface IkeEvents {
  saUp?(sa: IkeSa): void;
  saDown?(sa: IkeSa, reason: SaDownReason): void;
  /** DPD declared the peer dead (after `saDown(sa, 'dpd')`). */
  peerDead?(gateway: GatewayPolicy): void;
  /** A negotiation ended without an SA (timeout, refused proposal, wrong PSK, ...). */
  negotiationFailed?(gateway: GatewayPolicy, reason: NegotiationFailure): void;
  /** A datagram for an established SA with an exchange type other than 2 or 5 (e.g. GROUPKEY-PULL). */
  phase2?(sa: IkeSa, datagram: Uint8Array, now: number): void;
}

/** A request the initiator resends with exponential backoff until the answer arrives. */
export class PendingRequest {
  /** Retransmissions so far. */
  tries = 0;
  nextAt: number;

  constructor(readonly bytes: Uint8Array, now: number, private readonly initialMs: number) {
    this.nextAt = now + initialMs;
  }

  /** After the k-th send the wait is initialMs * 2^k. */
  resent(now: number): void {
    this.tries++;
    this.nextAt = now + this.initialMs * 2 ** this.tries;
  }
}

export class IkeSa {
  rcookie: Uint8Array;
  task: MainModeInitiator | MainModeResponder | undefined;
  keys: Keymat | undefined;
  proposal: IkeProposal | undefined;
  peerSupportsDpd = false;
  establishedAt: number | undefined;
  expiresAt: number | undefined;
  /** Initiator only: when to negotiate the replacement. */
  rekeyAt: number | undefined;
  rekeyStarted = false;
  dpd: DpdMonitor | undefined;
  /** Initiator: the request awaiting its answer. */
  pending: PendingRequest | undefined;
  /** Responder: the last request and our answer, re-sent for an identical retransmission. */
  lastRequest: Uint8Array | undefined;
  lastReply: Uint8Array | undefined;
  /** Initiator: the last answer accepted, to recognise the responder's retransmissions of it. */
  lastAnswer: Uint8Array | undefined;
  log: Logger;
  readonly counters = { datagramsIn: 0, datagramsOut: 0, informationalIn: 0, informationalOut: 0 };
  private hexCookies: { icookie: string; rcookie: string } | undefined;

  constructor(
    readonly role: SaRole,
    readonly gateway: GatewayPolicy,
    readonly local: Endpoint,
    readonly peer: Endpoint,
    readonly icookie: Uint8Array,
    rcookie: Uint8Array,
    readonly doi: number,
    readonly createdAt: number,
    private readonly parentLog: Logger,
  ) {
    this.rcookie = rcookie;
    this.log = this.childLog();
  }

  private childLog(): Logger {
    return new LazyChildLogger(this.parentLog, () => ({
      peer: `${this.peer.address}:${this.peer.port}`, gateway: this.gateway.name,
      ...this.cookiesHex,
    }));
  }

  learnRcookie(rcookie: Uint8Array): void {
    this.rcookie = Uint8Array.from(rcookie);
    this.hexCookies = undefined;
    this.log = this.childLog();
  }

  /** Both cookies in lower-case hex, computed once: status, logs and GDOI tables key on them. */
  get cookiesHex(): { readonly icookie: string; readonly rcookie: string } {
    return (this.hexCookies ??= { icookie: toHex(this.icookie), rcookie: toHex(this.rcookie) });
  }

  get established(): boolean {
    return this.keys !== undefined && this.establishedAt !== undefined;
  }

  /** Both cookies, as an ISAKMP SPI in Notify and Delete payloads. */
  get spi(): Uint8Array {
    const spi = new Uint8Array(16);
    spi.set(this.icookie, 0);
    spi.set(this.rcookie, 8);
    return spi;
  }

  private requireKeys(): Keymat {
    if (this.keys === undefined) throw new Error('IKE SA is not established');
    return this.keys;
  }

  get hash(): HashName {
    return this.requireKeys().hash;
  }

  get skeyidD(): Secret {
    return this.requireKeys().skeyidD;
  }

  get skeyidA(): Secret {
    return this.requireKeys().skeyidA;
  }

  get skeyidE(): Secret {
    return this.requireKeys().skeyidE;
  }

  /** prf(SKEYID_a, data...): the HASH(n) of exchanges under this SA. */
  prfA(...data: Uint8Array[]): Uint8Array {
    return this.requireKeys().prfA(...data);
  }

  /** IV of the first message of an exchange with this message ID (RFC 2409 App. B). */
  phase2Iv(messageId: number): Uint8Array {
    return this.requireKeys().phase2Iv(messageId);
  }

  /** Zero-pads and encrypts with the phase-1 key; the last ciphertext block is the exchange's next IV. */
  encrypt(plaintext: Uint8Array, iv: Uint8Array): Uint8Array {
    return this.requireKeys().encrypt(plaintext, iv);
  }

  /** `ciphertext` must be a non-empty multiple of 16 bytes. */
  decrypt(ciphertext: Uint8Array, iv: Uint8Array): Uint8Array {
    return this.requireKeys().decrypt(ciphertext, iv);
  }

  state(): string {
    if (this.established) return 'established';
    return this.task?.state ?? 'idle';
  }

  status(now: number): IkeSaStatus {
    return {
      gateway: this.gateway.name,
      local: this.local,
      peer: this.peer,
      role: this.role,
      state: this.state(),
      icookie: this.cookiesHex.icookie,
      rcookie: this.cookiesHex.rcookie,
      proposal: this.proposal,
      doi: this.doi,
      establishedAt: this.establishedAt,
      lifetimeRemaining: this.expiresAt === undefined ? undefined : Math.max(0, Math.floor((this.expiresAt - now) / 1000)),
      dpd: this.dpd?.status() ?? { sentSeq: undefined, lastAck: undefined, outstanding: 0, peerSupportsDpd: this.peerSupportsDpd },
      counters: { ...this.counters },
    };
  }
}

/**
 * The per-SA child logger, built on first use and only for a level the parent will write (when the parent
 * can tell, as pino can). A pino child costs ~50 µs with the daemon's redaction paths; the responder made
 * one per SA for debug lines that are off in production (`./scripts/bench ike` CPU profile: 2.6 % of the
 * responder's CPU). Lines written are the same as with an eager child.
 */
export class LazyChildLogger implements Logger {
  private real: Logger | undefined;

  constructor(private readonly parent: Logger, private readonly bindings: () => object) {}

  private target(): Logger {
    this.real ??= this.parent.child(this.bindings());
    return this.real;
  }

  private enabled(level: string): boolean {
    return this.parent.isLevelEnabled?.(level) ?? true;
  }

  isLevelEnabled(level: string): boolean {
    return this.enabled(level);
  }

  info(o: object, msg: string): void {
    if (this.enabled('info')) this.target().info(o, msg);
  }

  warn(o: object, msg: string): void {
    if (this.enabled('warn')) this.target().warn(o, msg);
  }

  debug(o: object, msg: string): void {
    if (this.enabled('debug')) this.target().debug(o, msg);
  }

  trace(o: object, msg: string): void {
    if (this.enabled('trace')) this.target().trace(o, msg);
  }

  error(o: object, msg: string): void {
    if (this.enabled('error')) this.target().error(o, msg);
  }

  child(bindings: object): Logger {
    return this.target().child(bindings);
  }
}
