/**
 * CLUSTER-INIT (exchange 240), R-MSG-1/2/3:
 *
 *   sub -> root   HDR*, HASH(1), N(CLUSTER-INFO init-request), NONCE(Ni), ID(group)
 *                 HASH(1) = prf(SKEYID_a, M-ID | N | Ni | ID), IV = hash(last phase-1 block | M-ID)
 *   root -> sub   HDR*, HASH(2), N(CLUSTER-INFO init-response: update SEQ, lifetimes), ID(group), [SEQ], SA, KD
 *                 HASH(2) = prf(SKEYID_a, M-ID | Ni_b | N | ID | [SEQ] | SA | KD), IV = last block of the request
 *
 * Sub side (`ClusterInitClient`): each attempt is a new exchange (fresh M-ID and nonce); an attempt that
 * gets no valid answer within `retryMs` (default 5 000, R-MSG-3), or that cannot start because there is
 * no IKE SA with the root, fails and the next one starts `retryMs` later. A forged or damaged answer
 * changes nothing. Success hands the group's full state to `onResult` and the client goes idle.
 *
 * Root side (`ClusterInitResponder`): answers from a snapshot of the group (GcksGroup is one) taken when the
 * request arrives; an identical repeat of a request gets the cached answer byte for byte. Unknown groups
 * and unauthorised gateways get no answer (the sub retries).
 */
import type { RandomSource } from '@gvpn/crypto';
import { freshMessageId } from '@gvpn/ike';
import type { Endpoint, IkeSa, Logger } from '@gvpn/ike';
import type { Header } from '@gvpn/wire';
import { CLUSTER_INIT, openCluster, sealCluster } from './cluster-codec.js';
import type { ClusterKeys, OpenFailure, SaLifetime } from './cluster-codec.js';
import { equal, hex } from './keys.js';
import type { GroupSnapshot } from './pull-responder.js';

export interface ClusterInitResult {
  groupId: number;
  updateSeq: number;
  keys: ClusterKeys;
  lifetimes: SaLifetime[];
  receivedAt: number;
}

export type ClusterInitClientCounter =
  | 'initSent' | 'initSucceeded' | 'initFailed' | 'noIkeSa' | OpenFailure | 'unexpectedMessageDropped';

export interface ClusterInitClientConfig {
  groupId: number;
  /** The current IKE SA with the root, if any. */
  sa(): IkeSa | undefined;
  random: RandomSource;
  send(bytes: Uint8Array, to: Endpoint): void;
  onResult(result: ClusterInitResult, now: number): void;
  retryMs?: number;
  nonceLength?: number;
  log?: Logger;
}

interface Attempt {
  sa: IkeSa;
  messageId: number;
  nonce: Uint8Array;
  iv: Uint8Array;
}

export class ClusterInitClient {
  readonly counters: Record<ClusterInitClientCounter, number> = {
    initSent: 0, initSucceeded: 0, initFailed: 0, noIkeSa: 0, malformedDropped: 0, decryptFailedDropped: 0,
    hashMismatchDropped: 0, invalidPayloadDropped: 0, unexpectedMessageDropped: 0,
  };
  private attempt: Attempt | undefined;
  private nextAt: number | undefined;
  private readonly retryMs: number;

  constructor(private readonly config: ClusterInitClientConfig) {
    this.retryMs = config.retryMs ?? 5000;
  }

  get running(): boolean {
    return this.nextAt !== undefined;
  }

  /** The M-ID of the attempt in flight (route exchange-240 datagrams with it here). */
  get messageId(): number | undefined {
    return this.attempt?.messageId;
  }

  /** Starts trying (first attempt at now + delayMs); no-op when already running. */
  start(now: number, delayMs = 0): void {
    if (this.running) return;
    this.nextAt = now + delayMs;
    if (delayMs === 0) this.poll(now);
  }

  stop(): void {
    this.attempt = undefined;
    this.nextAt = undefined;
  }

  nextDeadline(): number | undefined {
    return this.nextAt;
  }

  poll(now: number): void {
    if (this.nextAt === undefined || now < this.nextAt) return;
    if (this.attempt !== undefined) {
      this.counters.initFailed++;
      this.config.log?.info({ groupId: this.config.groupId, messageId: this.attempt.messageId }, 'cluster-init got no answer; retrying');
      this.attempt = undefined;
    }
    this.nextAt = now + this.retryMs;
    const sa = this.config.sa();
    if (sa === undefined) {
      this.counters.noIkeSa++;
      this.counters.initFailed++;
      return;
    }
    const messageId = freshMessageId(this.config.random);
    const nonce = this.config.random.bytes(this.config.nonceLength ?? 16);
    const sealed = sealCluster(sa, { kind: 'init-request', groupId: this.config.groupId, nonce }, messageId, sa.phase2Iv(messageId));
    this.attempt = { sa, messageId, nonce, iv: sealed.nextIv };
    this.counters.initSent++;
    this.config.send(sealed.bytes, sa.peer);
  }

  private drop(counter: ClusterInitClientCounter, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ groupId: this.config.groupId, counter, detail }, 'CLUSTER-INIT datagram dropped');
  }

  /** An exchange-240 datagram under `sa`. */
  handle(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): void {
    const a = this.attempt;
    if (a === undefined || sa !== a.sa || header.exchangeType !== CLUSTER_INIT || header.messageId !== a.messageId) {
      return this.drop('unexpectedMessageDropped', 'no such attempt');
    }
    const opened = openCluster(sa, datagram, header, a.iv, [a.nonce]);
    if (!opened.ok) return this.drop(opened.counter, opened.detail);
    const m = opened.message;
    if (m.kind !== 'init-response' || m.groupId !== this.config.groupId) return this.drop('invalidPayloadDropped', `${m.kind} for group ${m.groupId}`);
    this.attempt = undefined;
    this.nextAt = undefined;
    this.counters.initSucceeded++;
    this.config.log?.info({ groupId: m.groupId, updateSeq: m.updateSeq, teks: m.keys.teks.length }, 'cluster-init done');
    this.config.onResult({ groupId: m.groupId, updateSeq: m.updateSeq, keys: m.keys, lifetimes: m.lifetimes, receivedAt: now }, now);
  }
}

export type ClusterInitResponderCounter =
  | 'initRequests' | 'initAnswered' | 'duplicateRequests' | 'unknownGroupDropped' | 'unauthorizedDropped' | 'noKeysDropped'
  | OpenFailure | 'unexpectedMessageDropped';

export interface ClusterInitResponderConfig {
  group(groupId: number): GroupSnapshot | undefined;
  /** The update sequence number the group has reached (ClusterUpdateSender.updateSeq). */
  updateSeq(groupId: number): number;
  /** Seconds left of the SA with this SPI; default: its full lifetime. */
  remainingSeconds?(groupId: number, spi: Uint8Array, now: number): number | undefined;
  /** Is this IKE SA's gateway a sub-server of the group? Default: yes. */
  authorize?(sa: IkeSa, groupId: number): boolean;
  /** Called once per answered request: the sub is now active (RootClusterState.markActive). */
  answered?(sa: IkeSa, groupId: number, now: number): void;
  send(bytes: Uint8Array, to: Endpoint): void;
  log?: Logger;
  cacheSize?: number;
}

export class ClusterInitResponder {
  readonly counters: Record<ClusterInitResponderCounter, number> = {
    initRequests: 0, initAnswered: 0, duplicateRequests: 0, unknownGroupDropped: 0, unauthorizedDropped: 0, noKeysDropped: 0,
    malformedDropped: 0, decryptFailedDropped: 0, hashMismatchDropped: 0, invalidPayloadDropped: 0, unexpectedMessageDropped: 0,
  };
  /** Recent requests and their answers, oldest first. */
  private readonly cache = new Map<string, { request: Uint8Array; reply: Uint8Array }>();

  constructor(private readonly config: ClusterInitResponderConfig) {}

  private drop(counter: ClusterInitResponderCounter, sa: IkeSa, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ peer: `${sa.peer.address}:${sa.peer.port}`, counter, detail }, 'CLUSTER-INIT request dropped');
  }

  handle(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): void {
    if (header.exchangeType !== CLUSTER_INIT) return this.drop('unexpectedMessageDropped', sa, `exchange ${header.exchangeType}`);
    const key = `${hex(sa.icookie)}${hex(sa.rcookie)}:${header.messageId}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (!equal(cached.request, datagram)) return this.drop('unexpectedMessageDropped', sa, 'exchange finished');
      this.counters.duplicateRequests++;
      this.config.send(cached.reply, sa.peer);
      return;
    }
    const opened = openCluster(sa, datagram, header, sa.phase2Iv(header.messageId));
    if (!opened.ok) return this.drop(opened.counter, sa, opened.detail);
    const m = opened.message;
    if (m.kind !== 'init-request') return this.drop('invalidPayloadDropped', sa, m.kind);
    this.counters.initRequests++;
    const group = this.config.group(m.groupId);
    if (group === undefined) return this.drop('unknownGroupDropped', sa, `group ${m.groupId}`);
    if (this.config.authorize !== undefined && !this.config.authorize(sa, m.groupId)) return this.drop('unauthorizedDropped', sa, `group ${m.groupId}`);
    if (group.kek === undefined && group.teks.length === 0) return this.drop('noKeysDropped', sa, `group ${m.groupId}`);
    const keys: ClusterKeys = {
      teks: [...group.teks], activationDelaySeconds: group.policy.activationDelaySeconds,
      deactivationDelaySeconds: group.policy.deactivationDelaySeconds,
    };
    const lifetimes: SaLifetime[] = [];
    const life = (spi: Uint8Array, full: number): void => {
      lifetimes.push({ spi, remainingSeconds: this.config.remainingSeconds?.(m.groupId, spi, now) ?? full });
    };
    if (group.kek !== undefined) {
      keys.kek = group.kek;
      keys.seq = group.seq();
      life(group.kek.spi, group.kek.lifetimeSeconds);
    }
    for (const t of group.teks) life(t.spi, t.policy.lifetimeSeconds);
    const sealed = sealCluster(sa, {
      kind: 'init-response', groupId: m.groupId, updateSeq: this.config.updateSeq(m.groupId), keys, lifetimes,
    }, header.messageId, opened.nextIv, [m.nonce]);
    this.cache.set(key, { request: Uint8Array.from(datagram), reply: sealed.bytes });
    while (this.cache.size > (this.config.cacheSize ?? 64)) this.cache.delete(this.cache.keys().next().value as string);
    this.counters.initAnswered++;
    this.config.answered?.(sa, m.groupId, now);
    this.config.send(sealed.bytes, sa.peer);
    this.config.log?.info({ peer: `${sa.peer.address}:${sa.peer.port}`, groupId: m.groupId }, 'cluster-init answered');
  }

  forgetSa(sa: IkeSa): void {
    const prefix = `${hex(sa.icookie)}${hex(sa.rcookie)}:`;
    for (const k of [...this.cache.keys()]) if (k.startsWith(prefix)) this.cache.delete(k);
  }
}
