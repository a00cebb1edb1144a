/**
 * Rekey timers and push campaigns of one group.
 *
 * When:
 * - TEKs are rekeyed (all TEKs of the group together) `tekLeadMs` before the shortest TEK lifetime ends:
 *   lead = max(15 % of the lifetime, ATD + push window), at most half the lifetime, where the push window
 *   is retransmission-period x (number-of-retransmission + 1). With a 3600 s TEK and the defaults that is
 *   at 85 % (3060 s); the lead guarantees that the new TEKs are active on every member that acknowledges
 *   before the old ones expire.
 * - The KEK is rekeyed max(15 %, push window) (at most half) before the KEK lifetime ends.
 * - On operator request (`request security group-vpn server rekey group NAME`, gvpn-specific): TEKs now.
 * - `clear security group-vpn server group NAME`: a delete-all push, then fresh KEK and TEKs.
 *
 * How: one push (built and signed once) sent by unicast from the daemon socket to every member registered
 * when the campaign starts, retransmitted to each member every retransmission-period until it ACKs that
 * SEQ (RFC 8263, verified by the caller with `verifyAck`) or number-of-retransmission retransmissions are
 * spent; such a member is removed from the registered members (it missed keys and must pull again).
 * Never two campaigns at once per group: a rekey that falls due during a campaign waits for it to end (so
 * SEQs reach each member in order). Replaced TEKs are kept (and shown) until the deactivation delay has
 * passed, then forgotten; members remove them themselves after the DTD carried in the push.
 * A group without server-member-communication has no KEK: its TEKs are renewed on the same schedule
 * and handed out by pulls only.
 */
import type { Kek } from '@gvpn/gdoi';
import type { Endpoint, Logger } from '@gvpn/runtime';
import type { GroupState } from './group-state.js';
import type { Registrations } from './registrations.js';
import type { GdoiCounters } from './statistics.js';

export type CampaignKind = 'tek-rekey' | 'kek-rekey' | 'delete-all';

interface Target {
  endpoint: Endpoint;
  retransmissions: number;
  nextAt: number;
}

export interface PushCampaign {
  kind: CampaignKind;
  seq: number;
  bytes: Uint8Array;
  /** The KEK the push is encrypted under: ACKs are keyed by it (RFC 8263 §2.1). */
  ackKek: Kek;
  startedAt: number;
  /** Members that have not acknowledged yet, by address. */
  targets: Map<string, Target>;
  /**
   * No target is due before this (recomputed when retransmitting, not on every ACK), so that
   * `nextDeadline()` costs O(1) while thousands of ACKs arrive.
   */
  nextAt: number;
}

export interface RekeyOptions {
  send(bytes: Uint8Array, to: Endpoint): void;
  log: Logger;
  counters: GdoiCounters;
  /** Epoch ms for display. */
  wallClock?: () => number;
}

export class GroupRekey {
  campaign: PushCampaign | undefined;
  readonly #queue: CampaignKind[] = [];
  tekRekeyAt: number;
  kekRekeyAt: number;
  readonly #periodMs: number;
  readonly #maxRetransmissions: number;

  constructor(readonly group: GroupState, private readonly registrations: Registrations, private readonly options: RekeyOptions) {
    const smc = group.config.serverMemberCommunication;
    this.#periodMs = (smc?.retransmissionPeriodSeconds ?? 10) * 1000;
    this.#maxRetransmissions = smc?.numberOfRetransmission ?? 0;
    this.tekRekeyAt = group.teksCreatedAt + group.tekLifetimeMs() - this.tekLeadMs();
    this.kekRekeyAt = group.kekCreatedAt + group.kekLifetimeMs() - this.kekLeadMs();
  }

  /** Time a push may take to reach every member (first send plus every retransmission). */
  pushWindowMs(): number {
    return this.group.hasKek ? this.#periodMs * (this.#maxRetransmissions + 1) : 0;
  }

  tekLeadMs(): number {
    const life = this.group.tekLifetimeMs();
    const lead = Math.max(0.15 * life, this.group.config.activationTimeDelaySeconds * 1000 + this.pushWindowMs());
    return Math.min(lead, 0.5 * life);
  }

  kekLeadMs(): number {
    const life = this.group.kekLifetimeMs();
    return Math.min(Math.max(0.15 * life, this.pushWindowMs()), 0.5 * life);
  }

  /** Queues an operator-requested TEK rekey (or a delete-all); it runs at the next poll, after any campaign. */
  request(kind: 'tek-rekey' | 'delete-all'): void {
    if (!this.#queue.includes(kind)) this.#queue.push(kind);
  }

  get busy(): boolean {
    return this.campaign !== undefined;
  }

  nextDeadline(): number | undefined {
    let min = this.group.nextRetiredDeadline();
    const take = (t: number): void => { if (min === undefined || t < min) min = t; };
    if (this.campaign !== undefined) {
      take(this.campaign.nextAt);
    } else {
      if (this.#queue.length > 0) take(0);
      take(this.tekRekeyAt);
      if (this.group.hasKek) take(this.kekRekeyAt);
    }
    return min;
  }

  poll(now: number): void {
    const gone = this.group.expireRetired(now);
    if (gone.length > 0) this.options.log.info({ group: this.group.name, spis: gone }, 'old TEKs deactivated');
    if (this.campaign !== undefined) this.#retransmit(now);
    if (this.campaign !== undefined) return;
    if (this.group.hasKek && now >= this.kekRekeyAt && !this.#queue.includes('kek-rekey')) this.#queue.push('kek-rekey');
    if (now >= this.tekRekeyAt && !this.#queue.includes('tek-rekey')) this.#queue.push('tek-rekey');
    const kind = this.#queue.shift();
    if (kind !== undefined) this.#start(kind, now);
  }

  /** A verified ACK of `seq` from the member at `address`. */
  acked(address: string, seq: number, now: number): void {
    const reg = this.registrations.get(this.group.name, address);
    if (reg !== undefined) {
      reg.lastAckedSeq = Math.max(reg.lastAckedSeq ?? 0, seq);
      if (reg.pendingSeq === seq) reg.pendingSeq = null;
    }
    const c = this.campaign;
    if (c !== undefined && c.seq === seq && c.targets.delete(address) && c.targets.size === 0) this.#finish(now);
  }

  /** A member (re-)registered: it holds the current keys, so the running campaign no longer waits for it. */
  registered(address: string, now: number): void {
    const c = this.campaign;
    if (c !== undefined && c.targets.delete(address) && c.targets.size === 0) this.#finish(now);
  }

  #start(kind: CampaignKind, now: number): void {
    const g = this.group;
    const gcks = g.gcks;
    const ackKek = gcks.kek;
    let push: { bytes: Uint8Array; seq: number } | undefined;
    const members = this.registrations.members(g.name);
    if (kind === 'tek-rekey') {
      const { push: p, old } = gcks.rekeyTeks();
      push = p;
      for (const tek of old) g.retired.push({ tek, createdAt: g.teksCreatedAt, removeAt: now + gcks.policy.deactivationDelaySeconds * 1000 });
      g.teksCreatedAt = now;
      g.version++;
      this.tekRekeyAt = now + g.tekLifetimeMs() - this.tekLeadMs();
      this.options.counters.tekRekeys++;
    } else if (kind === 'kek-rekey') {
      push = gcks.rekeyKek();
      g.kekCreatedAt = now;
      g.version++;
      this.kekRekeyAt = now + g.kekLifetimeMs() - this.kekLeadMs();
      this.options.counters.kekRekeys++;
    } else {
      // Delete all: tell members under the current KEK, forget them, then fresh keys for the next pulls.
      push = g.hasKek ? gcks.deleteAll() : undefined;
      this.registrations.clearGroup(g.name);
      gcks.rekeyKek();
      const { old } = gcks.rekeyTeks();
      for (const tek of old) g.retired.push({ tek, createdAt: g.teksCreatedAt, removeAt: now });
      g.kekCreatedAt = now;
      g.teksCreatedAt = now;
      g.version++;
      this.kekRekeyAt = now + g.kekLifetimeMs() - this.kekLeadMs();
      this.tekRekeyAt = now + g.tekLifetimeMs() - this.tekLeadMs();
      this.options.counters.deleteAllPushes++;
    }
    this.options.log.info({ group: g.name, kind, seq: push?.seq, members: members.length }, 'rekey started');
    if (!g.hasKek || push === undefined || members.length === 0) return;
    const campaign: PushCampaign = { kind, seq: push.seq, bytes: push.bytes, ackKek, startedAt: now, targets: new Map(), nextAt: now + this.#periodMs };
    for (const m of members) {
      campaign.targets.set(m.address, { endpoint: m.endpoint, retransmissions: 0, nextAt: now + this.#periodMs });
      if (kind !== 'delete-all') {
        m.pendingSeq = push.seq;
        m.pushesSent++;
      }
      this.options.send(push.bytes, m.endpoint);
      this.options.counters.pushesSent++;
    }
    this.campaign = campaign;
  }

  #retransmit(now: number): void {
    const c = this.campaign;
    if (c === undefined || c.nextAt > now) return;
    let nextAt = Number.POSITIVE_INFINITY;
    for (const [address, t] of c.targets) {
      if (t.nextAt > now) {
        nextAt = Math.min(nextAt, t.nextAt);
        continue;
      }
      if (t.retransmissions >= this.#maxRetransmissions) {
        c.targets.delete(address);
        this.options.counters.pushesUnacknowledged++;
        if (c.kind !== 'delete-all' && this.registrations.remove(this.group.name, address)) {
          this.options.counters.membersRemovedUnacknowledged++;
          this.options.log.warn({ group: this.group.name, member: address, seq: c.seq }, 'member did not acknowledge the push: removed');
        }
        continue;
      }
      t.retransmissions++;
      t.nextAt = now + this.#periodMs;
      nextAt = Math.min(nextAt, t.nextAt);
      const reg = this.registrations.get(this.group.name, address);
      if (reg !== undefined) reg.retransmissions++;
      this.options.send(c.bytes, t.endpoint);
      this.options.counters.pushRetransmissions++;
    }
    c.nextAt = nextAt;
    if (c.targets.size === 0) this.#finish(now);
  }

  #finish(now: number): void {
    const c = this.campaign;
    if (c === undefined) return;
    this.campaign = undefined;
    this.options.log.info({ group: this.group.name, kind: c.kind, seq: c.seq, ms: now - c.startedAt }, 'rekey finished');
  }
}
