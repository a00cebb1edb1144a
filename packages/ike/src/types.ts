import type { Secret } from '@gvpn/crypto';

/** pino-compatible logger: constant messages, data in the first argument. */
export interface Logger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  debug(o: object, msg: string): void;
  trace(o: object, msg: string): void;
  error(o: object, msg: string): void;
  child(bindings: object): Logger;
  /** pino's; when present, per-SA child loggers are only built for levels that will be written. */
  isLevelEnabled?(level: string): boolean;
}

export interface Endpoint {
  address: string;
  port: number;
}

/** The `peer` of a dynamic gateway. */
export const ANY_PEER: Readonly<Endpoint> = Object.freeze({ address: '*', port: 0 });

export type IkeEncryption = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';
export type IkeHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** One phase-1 proposal (authentication is always pre-shared key). */
export interface IkeProposal {
  encryption: IkeEncryption;
  hash: IkeHash;
  dhGroup: number;
  lifetimeSeconds: number;
}

export interface DpdPolicy {
  /** Seconds between R-U-THERE probes (always-send mode). */
  interval: number;
  /** Consecutive unanswered probes after which the peer is dead. */
  threshold: number;
}

export interface GatewayPolicy {
  name: string;
  /** The peer's address and port; ignored (use `ANY_PEER`) when `dynamic`. */
  peer: Endpoint;
  /**
   * Any peer: a responder-only gateway whose policy (PSK, proposals, DPD) serves every source address
   * that no fixed gateway matches (exact address and port, then address). At most one per endpoint, never
   * `initiate`. Its SAs record the actual peer; INITIAL-CONTACT and DPD act per peer address.
   */
  dynamic?: boolean;
  psk: Secret;
  /** Most preferred first. */
  proposals: IkeProposal[];
  initiate: boolean;
  dpd?: DpdPolicy;
  /** DOI of the phase-1 SA payload we emit: 2 (GDOI, default) or 1 (IPsec, for tshark decryption). */
  doi?: 1 | 2;
}

export interface IkeOptions {
  /** Responder SAs that have not yet received a valid message 5. */
  maxHalfOpen: number;
  retransmitInitialMs: number;
  /** Retransmissions after the first send; the negotiation fails when the last one goes unanswered. */
  retransmitTries: number;
  allowLegacyGroups: boolean;
  /** Seconds before expiry at which an initiator re-negotiates; default 10 % of the lifetime. */
  rekeyMarginSeconds?: number;
  /** How long a responder SA may stay half-open; default 30 000 ms. */
  halfOpenTimeoutMs?: number;
  /**
   * Seconds a responder reuses one Diffie-Hellman key pair per group (0..60, default 0: a fresh key pair
   * per exchange). See dh-reuse.ts for why a key server may and what it costs.
   */
  dhReuseSeconds?: number;
}

export type SaRole = 'initiator' | 'responder';

export type SaDownReason =
  | 'deleted-by-peer'
  | 'deleted-locally'
  | 'expired'
  | 'rekeyed'
  | 'dpd'
  | 'initial-contact'
  | 'stopped';

export type NegotiationFailure =
  | 'timeout'
  | 'no-proposal-chosen'
  | 'auth-failed'
  | 'peer-error'
  | 'half-open-expired'
  | 'invalid-message';

export interface DpdStatus {
  sentSeq: number | undefined;
  lastAck: number | undefined;
  outstanding: number;
  peerSupportsDpd: boolean;
}

export interface IkeSaStatus {
  gateway: string;
  local: Endpoint;
  peer: Endpoint;
  role: SaRole;
  state: string;
  icookie: string;
  rcookie: string;
  proposal: IkeProposal | undefined;
  doi: number;
  establishedAt: number | undefined;
  /** Seconds until expiry; undefined before the SA is established. */
  lifetimeRemaining: number | undefined;
  dpd: DpdStatus;
  counters: { datagramsIn: number; datagramsOut: number; informationalIn: number; informationalOut: number };
}
