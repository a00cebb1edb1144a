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
 * and handed out by pulls only. No push ever tells such a group's members apart from gone ones, so a
 * member that has not pulled again within the TEK lifetime (plus the TEK rekey lead as grace) after it last
 * got keys is dropped from the registered members: it would hold no key by then, and its place under
 * `member-threshold` and the platform maximum is free again. Members pull again before their TEKs end.
 *
 * Key source: `local` (standalone, root) generates keys on the timers above and reports each change to
 * `onKeysChanged` before any member is pushed (the root publishes it to its sub-servers). Keys resumed after
 * a restart are matched to the configured ipsec-sa at the first poll (the file may have changed meanwhile). `root` (a
 * sub-server, R-TOPO-2) has no timers: `installTeks`, `installKek`, `deleteTeks`, `dropKek` and `deleteAll` apply what
 * the root sent, with the root's SEQ, and push it to this server's members; a push that comes while a
 * campaign runs waits for it (members must see SEQs in order).
 */
import { hex, sameTraffic, type BuiltPush, type Kek, type Tek, type TekPolicy } from '@gvpn/gdoi';
import type { Endpoint, Logger } from '@gvpn/runtime';
import type { GroupState } from './group-state.js';
import type { Registration, Registrations } from './registrations.js';
import type { GdoiCounters } from './statistics.js';

export type CampaignKind = 'tek-rekey' | 'kek-rekey' | 'delete-all' | 'delete-teks' | 'delete-kek';

/** Made for this ipsec-sa as configured: the same name and traffic selectors (what R-CHG-1.5b tells apart). */
const madeFor = (tek: Tek, p: TekPolicy): boolean => tek.policy.name === p.name && sameTraffic(tek.policy, p);

/** A key change made by a root (or standalone) server, as its sub-servers must learn it. */
export type KeyChange =
  | { kind: 'tek-rekey'; seq: number; teks: Tek[] }
  | { kind: 'kek-rekey'; seq: number; kek: Kek }
  | { kind: 'delete-all'; seq: number | undefined }
  | { kind: 'delete-teks'; seq: number | undefined; teks: Uint8Array[] }
  /** The KEK alone ends (server-member-communication deleted, R-CHG-1.4c); `seq`: its delete push's. */
  | { kind: 'delete-kek'; seq: number };

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
  /** `local`: keys made here on timers (default); `root`: keys installed from the root (sub-server). */
  keySource?: 'local' | 'root';
  /** Called with each locally made change, before any member is pushed. */
  onKeysChanged?(change: KeyChange, now: number): void;
}

export class GroupRekey {
  campaign: PushCampaign | undefined;
  readonly #queue: CampaignKind[] = [];
  /** Pushes of root-installed changes waiting for the running campaign (key source `root`). */
  readonly #waiting: { kind: CampaignKind; push: BuiltPush; ackKek: Kek; members: Registration[] }[] = [];
  /** Set by `end`: the group's registrations are no longer this rekey's to read or change. */
  #ended = false;
  tekRekeyAt: number;
  kekRekeyAt: number;
  #periodMs: number;
  #maxRetransmissions: number;
  /**
   * Group without a KEK: no member is dropped before this (recomputed by each scan), so that `nextDeadline()`
   * costs O(1). 0: scan at the first poll, for registrations resumed after the constructor.
   */
  #expiryCheckAt = 0;
  /**
   * Key source `local`: keys resumed from a store (a restart) whose TEKs are not those of the configured
   * ipsec-sa (the file changed while the server was down). Matched at the first poll (`#matchConfiguration`).
   */
  #configurationChanged: boolean;

  constructor(readonly group: GroupState, private readonly registrations: Registrations, private readonly options: RekeyOptions) {
    const smc = group.config.serverMemberCommunication;
    this.#periodMs = (smc?.retransmissionPeriodSeconds ?? 10) * 1000;
    this.#maxRetransmissions = smc?.numberOfRetransmission ?? 0;
    const local = (options.keySource ?? 'local') === 'local';
    this.tekRekeyAt = local ? group.teksCreatedAt + group.tekLifetimeMs() - this.tekLeadMs() : Infinity;
    this.kekRekeyAt = local ? group.kekCreatedAt + group.kekLifetimeMs() - this.kekLeadMs() : Infinity;
    const { teks, policy } = group.gcks;
    this.#configurationChanged = local
      && (teks.length !== policy.teks.length || !policy.teks.every((p) => teks.some((t) => madeFor(t, p))));
  }

  /**
   * Serves the configured ipsec-sa with resumed keys, as the commits would have (R-CHG-1.5a-c): a TEK whose
   * ipsec-sa is gone or has other selectors ends (delete pushed), an ipsec-sa without a TEK gets one (pushed);
   * the other TEKs stay.
   */
  #matchConfiguration(now: number): void {
    this.#configurationChanged = false;
    const { gcks } = this.group;
    const ended = gcks.teks.filter((t) => !gcks.policy.teks.some((p) => madeFor(t, p)));
    this.endTeks(ended.map((t) => t.spi), now);
    const added = gcks.policy.teks.filter((p) => !gcks.teks.some((t) => madeFor(t, p)));
    this.addTeks(added, now);
    this.options.log.info({ group: this.group.name, ended: ended.map((t) => t.policy.name), added: added.map((p) => p.name) },
      'resumed TEKs matched to the configured ipsec-sa');
  }

  /** server-member-communication changed (R-CHG-1.4b): retransmissions use it from now on, lifetimes at the next rekey. */
  reconfigured(): void {
    const smc = this.group.config.serverMemberCommunication;
    // Deleted (R-CHG-1.4c): the delete of the KEK is still retransmitted as it was configured.
    if (smc === null) return;
    this.#periodMs = smc.retransmissionPeriodSeconds * 1000;
    this.#maxRetransmissions = smc.numberOfRetransmission;
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

  /** Queues a requested rekey (operator, or a role change) or a delete-all; it runs at the next poll, after any campaign. */
  request(kind: 'tek-rekey' | 'kek-rekey' | 'delete-all'): void {
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
      if (this.tekRekeyAt !== Infinity) take(this.tekRekeyAt);
      if (this.group.hasKek && this.kekRekeyAt !== Infinity) take(this.kekRekeyAt);
    }
    if (!this.group.hasKek && !this.#ended && this.#expiryCheckAt !== Infinity) take(this.#expiryCheckAt);
    if (this.#configurationChanged) take(0);
    return min;
  }

  poll(now: number): void {
    if (this.#configurationChanged) this.#matchConfiguration(now);
    const gone = this.group.expireRetired(now);
    if (gone.length > 0) this.options.log.info({ group: this.group.name, spis: gone }, 'old TEKs deactivated');
    if (!this.group.hasKek && !this.#ended && now >= this.#expiryCheckAt) this.#expireMembers(now);
    if (this.campaign !== undefined) this.#retransmit(now);
    if (this.campaign !== undefined) return;
    if (this.group.hasKek && now >= this.kekRekeyAt && !this.#queue.includes('kek-rekey')) this.#queue.push('kek-rekey');
    if (now >= this.tekRekeyAt && !this.#queue.includes('tek-rekey')) this.#queue.push('tek-rekey');
    const kind = this.#queue.shift();
    if (kind !== undefined) this.#start(kind, now);
  }

  /**
   * Group without a KEK: drops the members whose keys have run out without a new pull (see the file comment)
   * and sets the next check to the earliest time another one can.
   */
  #expireMembers(now: number): void {
    const g = this.group;
    const keptMs = g.tekLifetimeMs() + this.tekLeadMs();
    // A member registering from now on gets keys now at the earliest.
    let next = now + keptMs;
    for (const m of this.registrations.members(g.name)) {
      const expiresAt = m.registeredAtMono + keptMs;
      if (expiresAt > now) {
        next = Math.min(next, expiresAt);
        continue;
      }
      this.registrations.remove(g.name, m.address);
      this.options.counters.membersExpired++;
      this.options.log.info({ group: g.name, member: m.address, registeredAt: m.registeredAt }, 'member did not pull again within its TEK lifetime: removed');
    }
    this.#expiryCheckAt = next;
  }

  /**
   * A verified ACK of `seq`, under `kek` (the caller verified it with that KEK; in-process callers acknowledging
   * the running push may leave it out), from the member at `address`. SEQ restarts with each KEK, so only an ACK
   * under the running push's KEK answers it: one under another KEK with the same SEQ is an old ACK (late or
   * replayed) of another push. An ACK the running push does not wait for changes nothing: its member acknowledged
   * already, registered again (holds the keys) or was removed.
   */
  acked(address: string, seq: number, now: number, kek = this.campaign?.ackKek): void {
    const c = this.campaign;
    if (c === undefined || c.ackKek !== kek || c.seq !== seq || !c.targets.delete(address)) return;
    const reg = this.#ended ? undefined : this.registrations.get(this.group.name, address);
    if (reg !== undefined) {
      reg.lastAckedSeq = seq;
      if (reg.pendingSeq === seq) reg.pendingSeq = null;
    }
    if (c.targets.size === 0) this.#finish(now);
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
    let push: BuiltPush | undefined;
    if (kind === 'tek-rekey') {
      const { push: p, old } = gcks.rekeyTeks();
      push = p;
      this.#retire(old, now + gcks.policy.deactivationDelaySeconds * 1000);
      g.teksCreatedAt = now;
      this.tekRekeyAt = now + g.tekLifetimeMs() - this.tekLeadMs();
      this.options.counters.tekRekeys++;
      this.options.onKeysChanged?.({ kind, seq: p.seq, teks: gcks.teks }, now);
    } else if (kind === 'kek-rekey') {
      push = gcks.rekeyKek();
      g.kekCreatedAt = now;
      this.kekRekeyAt = now + g.kekLifetimeMs() - this.kekLeadMs();
      this.options.counters.kekRekeys++;
      this.options.onKeysChanged?.({ kind, seq: push.seq, kek: gcks.kek }, now);
    } else {
      // Delete all: tell members under the current KEK, forget them, then fresh keys for the next pulls.
      push = g.hasKek ? gcks.deleteAll() : undefined;
      this.options.onKeysChanged?.({ kind: 'delete-all', seq: push?.seq }, now);
      this.#launch(kind, push, ackKek, now); // to the members registered now, before they are forgotten
      push = undefined;
      this.registrations.clearGroup(g.name);
      gcks.rekeyKek();
      const { old } = gcks.rekeyTeks();
      this.#retire(old, now);
      g.kekCreatedAt = now;
      g.teksCreatedAt = now;
      this.kekRekeyAt = now + g.kekLifetimeMs() - this.kekLeadMs();
      this.tekRekeyAt = now + g.tekLifetimeMs() - this.tekLeadMs();
      this.options.counters.deleteAllPushes++;
    }
    g.version++;
    if (push !== undefined) this.#launch(kind, push, ackKek, now);
  }

  /** Root-sent TEKs (made `createdAt`) with the root's SEQ; pushed to this server's members unless `hold` (R-MSG-6). */
  installTeks(teks: Tek[], seq: number, createdAt: number, now: number, hold: boolean): void {
    const g = this.group;
    const ackKek = g.gcks.kek;
    const { push, old } = g.gcks.installTeks(teks, seq);
    this.#retire(old, now + g.gcks.policy.deactivationDelaySeconds * 1000);
    g.teksCreatedAt = createdAt;
    g.version++;
    this.options.counters.tekRekeys++;
    this.#launch('tek-rekey', hold ? undefined : push, ackKek, now);
  }

  /** A root-sent KEK with the root's SEQ, announced under the current KEK unless `hold`. */
  installKek(kek: Kek, seq: number, createdAt: number, now: number, hold: boolean): void {
    const g = this.group;
    const ackKek = g.gcks.kek;
    const push = g.gcks.installKek(kek, seq);
    g.kekCreatedAt = createdAt;
    g.version++;
    this.options.counters.kekRekeys++;
    this.#launch('kek-rekey', hold ? undefined : push, ackKek, now);
  }

  /** The root deleted these TEKs (R-MSG-8): they stop being handed out and members are told, with the root's SEQ. */
  deleteTeks(spis: Uint8Array[], seq: number | undefined, now: number): void {
    const g = this.group;
    const gone = new Set(spis.map(hex));
    const removed = g.gcks.teks.filter((t) => gone.has(hex(t.spi)));
    g.gcks.teks = g.gcks.teks.filter((t) => !gone.has(hex(t.spi)));
    this.#retire(removed, now);
    g.version++;
    const push = g.hasKek && seq !== undefined ? g.gcks.deleteTeks(spis, seq) : undefined;
    this.#launch('delete-teks', push, g.gcks.kek, now);
  }

  /**
   * Key source `local`: TEKs for IPsec SAs added by a configuration commit (R-CHG-1.5a), made now and pushed
   * with the current ones; a root hands the whole TEK set to its subs (`onKeysChanged`), as for a rekey.
   */
  addTeks(policies: readonly TekPolicy[], now: number): void {
    if (policies.length === 0) return;
    const g = this.group;
    const ackKek = g.gcks.kek;
    const push = g.gcks.addTeks(policies);
    // The TEKs are counted from the last rekey, together: one with a shorter lifetime brings the next rekey
    // forward (to now, when they have run longer than it allows), or members would hold it past its end.
    this.tekRekeyAt = Math.min(this.tekRekeyAt, g.teksCreatedAt + g.tekLifetimeMs() - this.tekLeadMs());
    g.version++;
    this.options.onKeysChanged?.({ kind: 'tek-rekey', seq: push.seq, teks: g.gcks.teks }, now);
    this.#launch('tek-rekey', push, ackKek, now);
  }

  /**
   * Key source `local`: these TEKs end now (an IPsec SA deleted, or given new selectors, by a configuration
   * commit: R-CHG-1.5b/c) — members are pushed a delete; a root tells its subs first (`onKeysChanged`).
   */
  endTeks(spis: Uint8Array[], now: number): void {
    if (spis.length === 0) return;
    const seq = this.group.hasKek ? this.group.gcks.seq() + 1 : undefined;
    this.options.onKeysChanged?.({ kind: 'delete-teks', seq, teks: spis }, now);
    this.deleteTeks(spis, seq, now);
  }

  /**
   * Key source `local`: "delete all" now, then fresh keys (R-CHG-2.2f, a commit must not wait for the
   * running campaign): the keys change at once, the delete push follows that campaign's.
   */
  deleteAllNow(now: number): void {
    this.#start('delete-all', now);
  }

  /**
   * Key source `local`: the group ends (deleted or renumbered by a commit, R-CHG-1.3a/b). A root tells its
   * subs first (`onKeysChanged`); members are pushed "delete all" under the current KEK, retransmitted until
   * they ACK or the budget is spent (the caller keeps polling this while `busy`), and forgotten; no rekey
   * follows. From here on the group's registrations are not this rekey's: a renumbered group keeps its name,
   * and its new registrations must not be touched by the old campaigns' ACKs and retransmissions.
   *
   * `withRole`: the server leaves its role (the sub-server daemon's role switch), and this rekey is dropped
   * with it: the running campaign and the pushes queued behind it end here, and "delete all" is sent at
   * once (once: nothing of the old role retransmits).
   */
  end(now: number, withRole = false): void {
    const g = this.group;
    this.#queue.length = 0;
    this.tekRekeyAt = Infinity;
    this.kekRekeyAt = Infinity;
    if (withRole) {
      this.campaign = undefined;
      this.#waiting.length = 0;
    }
    const ackKek = g.gcks.kek;
    const push = g.hasKek ? g.gcks.deleteAll() : undefined;
    this.options.onKeysChanged?.({ kind: 'delete-all', seq: push?.seq }, now);
    this.#launch('delete-all', push, ackKek, now);
    this.registrations.clearGroup(g.name);
    this.#ended = true;
    g.version++;
    this.options.counters.deleteAllPushes++;
  }

  /** The root deleted every SA of the group: members are told (root's SEQ) and forgotten. */
  deleteAll(seq: number | undefined, now: number): void {
    const g = this.group;
    const push = g.hasKek && seq !== undefined ? g.gcks.deleteAll(seq) : undefined;
    this.#launch('delete-all', push, g.gcks.kek, now);
    this.registrations.clearGroup(g.name);
    this.#retire(g.gcks.teks, now);
    g.gcks.teks = [];
    g.version++;
    this.options.counters.deleteAllPushes++;
  }

  /**
   * server-member-communication added (R-CHG-1.4a): the group has a KEK from now on. Its members registered
   * without one and would never get a push: they are forgotten (they register again for the KEK). Key source
   * `local`: a new KEK, announced by no push (no member holds the internal one), and sent to a root's subs
   * as a KEK rekey; a sub-server gets it from that cluster-update.
   */
  kekAdded(now: number): void {
    const g = this.group;
    this.registrations.clearGroup(g.name);
    g.hasKek = true;
    if ((this.options.keySource ?? 'local') === 'local') {
      const seq = g.gcks.replaceKek();
      g.kekCreatedAt = now;
      this.kekRekeyAt = now + g.kekLifetimeMs() - this.kekLeadMs();
      this.tekRekeyAt = g.teksCreatedAt + g.tekLifetimeMs() - this.tekLeadMs(); // the lead now covers a push window
      this.options.onKeysChanged?.({ kind: 'kek-rekey', seq, kek: g.gcks.kek }, now);
    }
    g.version++;
  }

  /**
   * server-member-communication deleted (R-CHG-1.4c), key source `local`: members are pushed a delete of
   * the KEK under it (after a running campaign; retransmitted until they ACK) and a root's subs are told
   * first (`onKeysChanged`). Then the KEK is neither shown nor handed out nor pushed under; the group keeps it
   * only as its internal KEK (every GcksGroup has one), so that a root and its subs keep the same KEK and
   * SEQ. Members keep their TEKs and registrations and register again when the TEKs near their end.
   */
  endKek(now: number): void {
    const g = this.group;
    if (!g.hasKek) return;
    const ackKek = g.gcks.kek;
    const push = g.gcks.deleteKek();
    this.options.onKeysChanged?.({ kind: 'delete-kek', seq: push.seq }, now);
    this.#endKek(push, ackKek, now);
  }

  /**
   * Key source `root`: the KEK ends (R-CHG-1.4c) — the root's cluster-update deleted it, telling members with
   * the root's SEQ, or this sub's own commit did (`seq` undefined: members are told only as the root says, R-MSG-9).
   */
  dropKek(seq: number | undefined, now: number): void {
    const g = this.group;
    this.#endKek(g.hasKek && seq !== undefined ? g.gcks.deleteKek(seq) : undefined, g.gcks.kek, now);
  }

  /** The KEK ends: `push` (its delete) goes to the members registered now, and no push follows. */
  #endKek(push: BuiltPush | undefined, ackKek: Kek, now: number): void {
    const g = this.group;
    this.#launch('delete-kek', push, ackKek, now);
    g.hasKek = false;
    // Members may hold keys pushed until now, whenever they registered: none is dropped for a lifetime.
    this.#expiryCheckAt = now + g.tekLifetimeMs() + this.tekLeadMs();
    if ((this.options.keySource ?? 'local') === 'local') this.tekRekeyAt = g.teksCreatedAt + g.tekLifetimeMs() - this.tekLeadMs();
    g.version++;
  }

  /** Keeps `teks` (shown as deactivating) until `removeAt`, or their lifetime's end if that comes first (a late rekey). */
  #retire(teks: Tek[], removeAt: number): void {
    const createdAt = this.group.teksCreatedAt;
    for (const tek of teks) this.group.retired.push({ tek, createdAt, removeAt: Math.min(removeAt, createdAt + tek.policy.lifetimeSeconds * 1000) });
  }

  /** Sends `push` to the members registered now: at once, or after the running campaign. */
  #launch(kind: CampaignKind, push: BuiltPush | undefined, ackKek: Kek, now: number, members = this.registrations.members(this.group.name)): void {
    const g = this.group;
    if (!g.hasKek) {
      // Nothing can reach the members: they keep the keys they hold until they pull again.
      this.options.log.info({ group: g.name, kind, members: members.length }, 'keys changed, no KEK: nothing pushed, members get the new keys at their next pull');
      return;
    }
    this.options.log.info({ group: g.name, kind, seq: push?.seq, members: members.length }, 'rekey started');
    if (push === undefined || members.length === 0) return;
    this.#send(kind, push, ackKek, now, members);
  }

  /**
   * Starts the campaign of a push, or queues it behind the running one. Not gated by `hasKek`: a KEK delete
   * (R-CHG-1.4c) queued while the group had its KEK still goes out after it is gone.
   */
  #send(kind: CampaignKind, push: BuiltPush, ackKek: Kek, now: number, members: Registration[]): void {
    if (this.campaign !== undefined) {
      this.#waiting.push({ kind, push, ackKek, members });
      return;
    }
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
      // Forgotten since (its gateway left the group, or a sub's root went inactive): no member to push to.
      if (c.kind !== 'delete-all' && !this.#ended && this.registrations.get(this.group.name, address) === undefined) {
        c.targets.delete(address);
        continue;
      }
      if (t.retransmissions >= this.#maxRetransmissions) {
        c.targets.delete(address);
        this.options.counters.pushesUnacknowledged++;
        if (c.kind !== 'delete-all' && !this.#ended && this.registrations.remove(this.group.name, address)) {
          this.options.counters.membersRemovedUnacknowledged++;
          this.options.log.warn({ group: this.group.name, member: address, seq: c.seq }, 'member did not acknowledge the push: removed');
        }
        continue;
      }
      t.retransmissions++;
      t.nextAt = now + this.#periodMs;
      nextAt = Math.min(nextAt, t.nextAt);
      const reg = this.#ended ? undefined : this.registrations.get(this.group.name, address);
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
    if (!this.#ended) this.registrations.touchGroup(this.group.name); // their acknowledged SEQs, for a durable store
    this.options.log.info({ group: this.group.name, kind: c.kind, seq: c.seq, ms: now - c.startedAt }, 'rekey finished');
    // A push that waited goes only to members still registered as they were when it was made: one that
    // registered again since holds its keys and a SEQ as high (it would refuse the push as a replay, never
    // ACK, and be removed), and a removed one is no member. "Delete all" goes to the members it forgot.
    for (let next = this.#waiting.shift(); next !== undefined; next = this.#waiting.shift()) {
      const members = next.kind === 'delete-all' ? next.members : next.members.filter((m) => this.registrations.get(this.group.name, m.address) === m);
      if (members.length > 0) return this.#send(next.kind, next.push, next.ackKek, now, members);
    }
  }
}
