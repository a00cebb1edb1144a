/**
 * CLUSTER-UPDATE (241) and CLUSTER-UPDATE-ACK (242), R-MSG-4/5/8:
 *
 *   root -> sub  HDR*(241, fresh M-ID), HASH(1), N(CLUSTER-INFO update-*: update SEQ, lifetimes), ID(group),
 *                [ID(member)]*, [SEQ], [D]*, [SA, KD]
 *                HASH(1) = prf(SKEYID_a, M-ID | payloads after HASH), IV = hash(last phase-1 block | M-ID)
 *   sub -> root  HDR*(242, same M-ID), HASH, N(CLUSTER-INFO update-ack: update SEQ), ID(group)
 *                HASH = prf(SKEYID_a, M-ID | N | ID), IV = last ciphertext block of the update
 *
 * Root (`ClusterUpdateSender`): `publish` numbers the update (per group, +1) and queues it for every ACTIVE
 * sub; each sub gets one update at a time, the next only after the previous was acknowledged. An unacked
 * update is retransmitted (same bytes while the IKE SA is the same; rebuilt under a fresh M-ID when the
 * SA was replaced) every `retransmissionPeriodMs` (default 10 000) until acked. A sub marked inactive
 * (DPD) gets nothing: its queue is dropped and it resynchronises by cluster-init when back.
 *
 * Sub (`ClusterUpdateReceiver`): update SEQ <= last applied -> acknowledged again, not installed again
 * (retransmission, or already contained in a later cluster-init); = last + 1 -> `install`, acknowledged
 * only if install succeeded (R-MSG-5); > last + 1 -> a missed update: dropped, `gap` (-> cluster-init).
 */
import type { RandomSource } from '@gvpn/crypto';
import { freshMessageId } from '@gvpn/ike';
import type { Endpoint, IkeSa, Logger } from '@gvpn/ike';
import type { Header } from '@gvpn/wire';
import { CLUSTER_UPDATE, CLUSTER_UPDATE_ACK, openCluster, sealCluster } from './cluster-codec.js';
import type { ClusterUpdate, OpenFailure } from './cluster-codec.js';
import { RootClusterState, type PendingUpdate } from './cluster-state.js';
import { equal, hex } from './keys.js';

/** An update as published, before it has its sequence number. */
export type ClusterUpdateInput = ClusterUpdate extends infer U ? U extends ClusterUpdate ? Omit<U, 'updateSeq'> : never : never;

/** ClusterUpdateSender.exportState(): JSON-able apart from the keys inside queued updates. */
export interface SenderState {
  seqs: [number, number][];
  subs: { name: string; state: 'active' | 'inactive'; queue: ClusterUpdate[]; lastExchangeAt: number | undefined }[];
}

export type ClusterUpdateSenderCounter =
  | 'updatesPublished' | 'updatesSent' | 'updatesAcked' | 'retransmissions' | 'skippedInactive' | 'noIkeSa'
  | 'duplicateAcksDropped' | OpenFailure | 'unexpectedMessageDropped';

export interface ClusterUpdateSenderConfig {
  /** The current IKE SA with this sub (gateway name), if any. */
  sa(sub: string): IkeSa | undefined;
  random: RandomSource;
  send(bytes: Uint8Array, to: Endpoint): void;
  retransmissionPeriodMs?: number;
  log?: Logger;
}

interface InFlight {
  updateSeq: number;
  groupId: number;
  /** Times sent so far. */
  sends: number;
  nextAt: number;
  /** The message as last sent (undefined while there was no IKE SA to send it under). */
  wire?: { sa: IkeSa; messageId: number; bytes: Uint8Array; ackIv: Uint8Array };
}

export class ClusterUpdateSender {
  readonly counters: Record<ClusterUpdateSenderCounter, number> = {
    updatesPublished: 0, updatesSent: 0, updatesAcked: 0, retransmissions: 0, skippedInactive: 0, noIkeSa: 0,
    duplicateAcksDropped: 0, malformedDropped: 0, decryptFailedDropped: 0, hashMismatchDropped: 0, invalidPayloadDropped: 0,
    unexpectedMessageDropped: 0,
  };
  readonly subs = new Map<string, RootClusterState>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly seqs = new Map<number, number>();
  private periodMs: number;

  constructor(private readonly config: ClusterUpdateSenderConfig) {
    this.periodMs = config.retransmissionPeriodMs ?? 10_000;
  }

  /** R-CHG-2.2e: from the next (re)transmission on. */
  setRetransmissionPeriod(ms: number): void {
    this.periodMs = ms;
  }

  addSub(name: string): RootClusterState {
    let s = this.subs.get(name);
    if (s === undefined) {
      s = new RootClusterState(name);
      this.subs.set(name, s);
    }
    return s;
  }

  /** The group's last published update sequence number (0 before any). */
  updateSeq(groupId: number): number {
    return this.seqs.get(groupId) ?? 0;
  }

  /** The sub answered a cluster-init: active from now on. */
  markActive(name: string, now: number): void {
    this.addSub(name).markActive(now);
  }

  /** DPD reports the sub down: nothing more is sent or retransmitted to it. */
  markInactive(name: string, now: number): void {
    this.addSub(name).markInactive(now);
    this.inFlight.delete(name);
  }

  /**
   * Numbers `input` and sends it to every active sub (after what is queued for it); returns the update
   * sequence number. A "delete all" (`clear ... group`, a group deleted or renumbered, server-cluster deleted,
   * a role change) goes at once instead: what was queued or in flight is superseded (the receiver takes a
   * delete all across a gap). A group that leaves the cluster marks its subs inactive right after, so there
   * it is sent once.
   */
  publish(groupId: number, input: ClusterUpdateInput, now: number): number {
    if (input.kind === 'update-delete-sas' && input.all) {
      for (const s of this.subs.values()) {
        s.queue.length = 0;
        this.inFlight.delete(s.name);
      }
    }
    const updateSeq = this.updateSeq(groupId) + 1;
    this.seqs.set(groupId, updateSeq);
    const update = { ...input, groupId, updateSeq } as ClusterUpdate;
    this.counters.updatesPublished++;
    for (const s of this.subs.values()) {
      if (!s.enqueue(update, now)) {
        this.counters.skippedInactive++;
        continue;
      }
      if (!this.inFlight.has(s.name)) this.sendHead(s, now);
    }
    return updateSeq;
  }

  /**
   * What must survive a restart or a failover of the root (durable store, RG0 standby): update numbers and,
   * per sub, its state, pending updates and last exchange (`at` = `now` of the snapshot's clock).
   */
  exportState(): SenderState {
    return {
      seqs: [...this.seqs],
      subs: [...this.subs.values()].map((s) => ({ name: s.name, state: s.state, queue: s.queue.map((q) => q.update), lastExchangeAt: s.lastExchangeAt })),
    };
  }

  /** Takes over an exported state (clock offsets applied by the caller); updates in flight go out again at `now`. */
  importState(state: SenderState, now: number): void {
    this.seqs.clear();
    for (const [groupId, seq] of state.seqs) this.seqs.set(groupId, seq);
    this.inFlight.clear();
    for (const s of state.subs) {
      const sub = this.addSub(s.name);
      sub.state = s.state;
      sub.queue.length = 0;
      for (const update of s.queue) sub.queue.push({ update, queuedAt: now });
      sub.lastExchangeAt = s.lastExchangeAt;
    }
    for (const sub of this.subs.values()) if (sub.state === 'active' && sub.queue.length > 0) this.inFlight.set(sub.name, this.pendingFor(sub, now));
  }

  /** The IKE SA with this sub changed (a new one is up): what is in flight goes out under it now. */
  kick(name: string, now: number): void {
    const s = this.subs.get(name);
    const f = this.inFlight.get(name);
    if (s === undefined || f === undefined || s.state !== 'active') return;
    f.nextAt = now;
    this.poll(now);
  }

  private pendingFor(s: RootClusterState, now: number): InFlight {
    const head = s.head() as PendingUpdate;
    return { groupId: head.update.groupId, updateSeq: head.update.updateSeq, sends: 0, nextAt: now };
  }

  /** Is an update to this sub in flight under this M-ID? (routes an ACK when several senders share a sub) */
  expects(name: string, messageId: number): boolean {
    return this.inFlight.get(name)?.wire?.messageId === messageId;
  }

  pending(name: string): number {
    return this.subs.get(name)?.queue.length ?? 0;
  }

  private sendHead(s: RootClusterState, now: number): void {
    const head = s.head();
    if (head === undefined || s.state !== 'active') {
      this.inFlight.delete(s.name);
      return;
    }
    const { groupId, updateSeq } = head.update;
    const prior = this.inFlight.get(s.name);
    const current = prior !== undefined && prior.groupId === groupId && prior.updateSeq === updateSeq ? prior : undefined;
    const sends = current?.sends ?? 0;
    const sa = this.config.sa(s.name);
    if (sa === undefined) {
      // No IKE SA with the sub right now: try again a period later (the IKE layer keeps re-negotiating).
      this.counters.noIkeSa++;
      this.inFlight.set(s.name, { groupId, updateSeq, sends, nextAt: now + this.periodMs });
      return;
    }
    if (sends > 0) this.counters.retransmissions++;
    else this.counters.updatesSent++;
    if (current?.wire !== undefined && current.wire.sa === sa) {
      current.sends++;
      current.nextAt = now + this.periodMs;
      this.config.send(current.wire.bytes, sa.peer);
      return;
    }
    // First send, or the IKE SA was replaced since: a new exchange (fresh M-ID) under the current SA.
    const messageId = freshMessageId(this.config.random);
    const sealed = sealCluster(sa, head.update, messageId, sa.phase2Iv(messageId));
    this.inFlight.set(s.name, {
      groupId, updateSeq, sends: sends + 1, nextAt: now + this.periodMs,
      wire: { sa, messageId, bytes: sealed.bytes, ackIv: sealed.nextIv },
    });
    this.config.send(sealed.bytes, sa.peer);
  }

  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const f of this.inFlight.values()) if (min === undefined || f.nextAt < min) min = f.nextAt;
    return min;
  }

  poll(now: number): void {
    for (const [name, f] of [...this.inFlight]) {
      if (f.nextAt > now) continue;
      const s = this.subs.get(name);
      if (s === undefined || s.state !== 'active') {
        this.inFlight.delete(name);
        continue;
      }
      this.sendHead(s, now);
    }
  }

  private drop(counter: ClusterUpdateSenderCounter, sa: IkeSa, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ peer: `${sa.peer.address}:${sa.peer.port}`, counter, detail }, 'CLUSTER-UPDATE-ACK dropped');
  }

  /** An exchange-242 datagram under `sa` (whose gateway is the sub). */
  handle(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): void {
    const name = sa.gateway.name;
    const f = this.inFlight.get(name);
    if (header.exchangeType !== CLUSTER_UPDATE_ACK) return this.drop('unexpectedMessageDropped', sa, `exchange ${header.exchangeType}`);
    if (f?.wire === undefined || f.wire.sa !== sa || f.wire.messageId !== header.messageId) return this.drop('duplicateAcksDropped', sa, 'no update in flight with this M-ID');
    const opened = openCluster(sa, datagram, header, f.wire.ackIv);
    if (!opened.ok) return this.drop(opened.counter, sa, opened.detail);
    const m = opened.message;
    if (m.kind !== 'update-ack' || m.groupId !== f.groupId || m.updateSeq !== f.updateSeq) return this.drop('invalidPayloadDropped', sa, 'ack for another update');
    const s = this.subs.get(name);
    if (s === undefined || !s.acked(m.groupId, m.updateSeq, now)) return this.drop('duplicateAcksDropped', sa, 'not the head');
    this.counters.updatesAcked++;
    this.inFlight.delete(name);
    this.config.log?.debug({ sub: name, groupId: m.groupId, updateSeq: m.updateSeq }, 'cluster-update acknowledged');
    this.sendHead(s, now);
  }
}

export type ClusterUpdateReceiverCounter =
  | 'updatesReceived' | 'updatesInstalled' | 'installFailed' | 'duplicateUpdates' | 'gapDropped' | 'notReadyDropped' | 'unauthorizedDropped'
  | 'acksSent' | OpenFailure | 'unexpectedMessageDropped';

export interface ClusterUpdateReceiverConfig {
  /** Is this IKE SA's gateway the root of the group? Anything else is dropped unanswered (`unauthorizedDropped`). */
  authorize(sa: IkeSa, groupId: number): boolean;
  /** Last update SEQ applied for the group, undefined before its first cluster-init (or unknown group). */
  lastApplied(groupId: number): number | undefined;
  /**
   * Installs the update (keys, pushes, deletes) and records it (SubClusterState.updateInstalled) so that
   * `lastApplied` returns its updateSeq. false or a throw = not installed: no ACK (R-MSG-5).
   */
  install(update: ClusterUpdate, now: number): boolean;
  /** An update was missed (SEQ jumped): start a cluster-init. */
  gap?(groupId: number, now: number): void;
  send(bytes: Uint8Array, to: Endpoint): void;
  log?: Logger;
  cacheSize?: number;
}

export class ClusterUpdateReceiver {
  readonly counters: Record<ClusterUpdateReceiverCounter, number> = {
    updatesReceived: 0, updatesInstalled: 0, installFailed: 0, duplicateUpdates: 0, gapDropped: 0, notReadyDropped: 0,
    unauthorizedDropped: 0, acksSent: 0, malformedDropped: 0, decryptFailedDropped: 0, hashMismatchDropped: 0, invalidPayloadDropped: 0,
    unexpectedMessageDropped: 0,
  };
  private readonly cache = new Map<string, { request: Uint8Array; ack: Uint8Array }>();

  constructor(private readonly config: ClusterUpdateReceiverConfig) {}

  private drop(counter: ClusterUpdateReceiverCounter, sa: IkeSa, detail: string): void {
    this.counters[counter]++;
    this.config.log?.debug({ peer: `${sa.peer.address}:${sa.peer.port}`, counter, detail }, 'CLUSTER-UPDATE dropped');
  }

  handle(sa: IkeSa, datagram: Uint8Array, header: Header, now: number): void {
    if (header.exchangeType !== CLUSTER_UPDATE) return this.drop('unexpectedMessageDropped', sa, `exchange ${header.exchangeType}`);
    const key = `${hex(sa.icookie)}${hex(sa.rcookie)}:${header.messageId}`;
    const cached = this.cache.get(key);
    if (cached !== undefined && equal(cached.request, datagram)) {
      this.counters.duplicateUpdates++;
      this.counters.acksSent++;
      this.config.send(cached.ack, sa.peer);
      return;
    }
    const opened = openCluster(sa, datagram, header, sa.phase2Iv(header.messageId));
    if (!opened.ok) return this.drop(opened.counter, sa, opened.detail);
    const m = opened.message;
    if (m.kind !== 'update-keys' && m.kind !== 'update-delete-sas' && m.kind !== 'update-delete-members') return this.drop('invalidPayloadDropped', sa, m.kind);
    // Any peer with an IKE SA (a member, with a member PSK) could send a well-formed update: only the
    // group's root may change its keys, and nothing (not even an ACK) goes back to anyone else.
    if (!this.config.authorize(sa, m.groupId)) return this.drop('unauthorizedDropped', sa, `gateway ${sa.gateway.name}, group ${m.groupId}`);
    this.counters.updatesReceived++;
    const last = this.config.lastApplied(m.groupId);
    if (last === undefined) return this.drop('notReadyDropped', sa, `group ${m.groupId} not initialised`);
    // A delete all supersedes every update before it: nothing missed matters once everything is deleted.
    const deletesAll = m.kind === 'update-delete-sas' && m.all;
    if (m.updateSeq > last + 1 && !deletesAll) {
      this.drop('gapDropped', sa, `update ${m.updateSeq} after ${last}`);
      this.config.gap?.(m.groupId, now);
      return;
    }
    if (m.updateSeq <= last) {
      this.counters.duplicateUpdates++;
    } else {
      let ok: boolean;
      try {
        ok = this.config.install(m, now);
      } catch (e) {
        this.config.log?.warn({ groupId: m.groupId, updateSeq: m.updateSeq, err: e instanceof Error ? e.message : String(e) }, 'cluster-update install threw');
        ok = false;
      }
      if (!ok) return this.drop('installFailed', sa, `update ${m.updateSeq}`);
      this.counters.updatesInstalled++;
    }
    const ack = sealCluster(sa, { kind: 'update-ack', groupId: m.groupId, updateSeq: m.updateSeq }, header.messageId, opened.nextIv).bytes;
    this.cache.set(key, { request: Uint8Array.from(datagram), ack });
    while (this.cache.size > (this.config.cacheSize ?? 64)) this.cache.delete(this.cache.keys().next().value as string);
    this.counters.acksSent++;
    this.config.send(ack, sa.peer);
  }
}
