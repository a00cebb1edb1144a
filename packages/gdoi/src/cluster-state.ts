/**
 * The cluster state machines of R-MSG, as data and pure transitions (no I/O, no clock): the daemon feeds
 * events with `now` and carries out the returned actions.
 *
 * SubClusterState — one group on a sub-server:
 *
 *   root      'inactive' (initial) | 'active'
 *   initWanted  cluster-init must run (retried every 5 s by ClusterInitClient) — initial, soft expiry,
 *               hard expiry, delete-all update, configuration change, DPD declaring the root dead,
 *               a gap in update sequence numbers
 *   pushesHeld  an SA passed its soft lifetime without a replacement: no GROUPKEY-PUSH (R-MSG-6)
 *
 *   event                         -> effect
 *   initSucceeded                 root active; SAs and their expiries replaced by the root's; updateSeq
 *                                 = the root's; initWanted stays true only while an SA is still past its
 *                                 soft lifetime (R-MSG-6: keep asking until the new SA comes)
 *   updateInstalled(keys)         new KEK/TEKs tracked (the TEK set replaces the previous one); pushes
 *                                 resume when no SA is past soft; action push-rekey when pushes allowed
 *   updateInstalled(delete-sas)   action push-delete (R-MSG-8; the only way a sub deletes, R-MSG-9);
 *                                 the KEK alone deleted -> its lifetime no longer tracked;
 *                                 all SAs gone -> initWanted (R-MSG-2c)
 *   updateInstalled(del-members)  action delete-local-members
 *   soft expiry (poll)            initWanted, pushesHeld (R-MSG-6)
 *   hard expiry (poll)            SA forgotten, root inactive, delete-local-members (all), initWanted (R-MSG-7)
 *   rootDead (DPD, unreachable)   root inactive, initWanted; member SAs kept, no deletes (R-DPD-3/4)
 *   rootSaDeleted (by the root)   initWanted, root stays active
 *   configChanged                 initWanted (R-MSG-2d)
 *
 * Registrations are answered only with the root active and keys held (R-MSG-1, R-DPD-4).
 *
 * RootClusterState — one sub-server as the root sees it: 'inactive' until it completed a cluster-init
 * (and again once DPD reports it down: its queue is dropped, nothing is sent or retransmitted to it); while
 * active, updates queue up and go one at a time (the next only after the previous was acknowledged).
 */
import type { ClusterKeys, ClusterUpdate, SaLifetime } from './cluster-codec.js';
import { hex } from './keys.js';

export type SubAction =
  | { type: 'start-cluster-init' }
  | { type: 'stop-cluster-init' }
  | { type: 'push-rekey'; groupId: number }
  | { type: 'push-delete'; groupId: number; teks: Uint8Array[]; all: boolean }
  | { type: 'delete-local-members'; groupId: number; all: boolean; members: string[] }
  | { type: 'root-inactive'; groupId: number; reason: 'hard-expiry' | 'dpd' | 'unreachable' };

export interface TrackedSa {
  kind: 'kek' | 'tek';
  spi: Uint8Array;
  softAt: number;
  hardAt: number;
  softExpired: boolean;
}

/** SubClusterState as a restart keeps it (times on the caller's clock; the caller converts). */
export interface SubClusterSnapshot {
  updateSeq: number | undefined;
  sas: TrackedSa[];
}

export interface SubClusterStateOptions {
  /** Fraction of an SA's total lifetime after which it is soft-expired (default 0.9). */
  softFraction?: number;
}

export class SubClusterState {
  root: 'inactive' | 'active' = 'inactive';
  initWanted = true;
  /** Last update sequence number applied (undefined before the first cluster-init). */
  updateSeq: number | undefined;
  readonly sas = new Map<string, TrackedSa>();
  private readonly softFraction: number;

  constructor(readonly groupId: number, options: SubClusterStateOptions = {}) {
    this.softFraction = options.softFraction ?? 0.9;
    if (!(this.softFraction > 0 && this.softFraction <= 1)) throw new RangeError(`softFraction ${this.softFraction}`);
  }

  /** What a restart keeps (the sub-server's durable store): update number and tracked SAs, times as given. */
  exportState(): SubClusterSnapshot {
    return { updateSeq: this.updateSeq, sas: [...this.sas.values()].map((s) => ({ ...s, spi: Uint8Array.from(s.spi) })) };
  }

  /**
   * Resumes after a restart: the update number and SAs as they were, the root 'inactive' and cluster-init
   * wanted (R-MSG-2a: nothing new is answered before the root confirmed or replaced these keys).
   */
  importState(snapshot: SubClusterSnapshot): void {
    this.updateSeq = snapshot.updateSeq;
    this.sas.clear();
    for (const s of snapshot.sas) this.sas.set(hex(s.spi), { ...s, spi: Uint8Array.from(s.spi) });
    this.root = 'inactive';
    this.initWanted = true;
  }

  get pushesHeld(): boolean {
    for (const s of this.sas.values()) if (s.softExpired) return true;
    return false;
  }

  answersRegistrations(): boolean {
    return this.root === 'active' && this.sas.size > 0;
  }

  mayPush(): boolean {
    return this.root === 'active' && !this.pushesHeld;
  }

  private track(kind: 'kek' | 'tek', spi: Uint8Array, totalSeconds: number, lifetimes: readonly SaLifetime[], now: number): void {
    const remaining = lifetimes.find((l) => l.spi.length === spi.length && l.spi.every((b, i) => b === spi[i]))?.remainingSeconds ?? totalSeconds;
    const hardAt = now + remaining * 1000;
    const softAt = hardAt - (1 - this.softFraction) * totalSeconds * 1000;
    this.sas.set(hex(spi), { kind, spi: Uint8Array.from(spi), softAt, hardAt, softExpired: softAt <= now });
  }

  private trackKeys(keys: ClusterKeys, lifetimes: readonly SaLifetime[], now: number, replaceTeks: boolean): void {
    if (keys.kek !== undefined) {
      for (const [k, s] of this.sas) if (s.kind === 'kek') this.sas.delete(k);
      this.track('kek', keys.kek.spi, keys.kek.lifetimeSeconds, lifetimes, now);
    }
    if (keys.teks.length > 0 && replaceTeks) for (const [k, s] of this.sas) if (s.kind === 'tek') this.sas.delete(k);
    for (const t of keys.teks) this.track('tek', t.spi, t.policy.lifetimeSeconds, lifetimes, now);
  }

  private wantInit(actions: SubAction[]): void {
    if (!this.initWanted) actions.push({ type: 'start-cluster-init' });
    this.initWanted = true;
  }

  /** A cluster-init answer was installed. */
  initSucceeded(result: { updateSeq: number; keys: ClusterKeys; lifetimes: readonly SaLifetime[] }, now: number): SubAction[] {
    this.sas.clear();
    this.trackKeys(result.keys, result.lifetimes, now, true);
    this.root = 'active';
    this.updateSeq = result.updateSeq;
    if (this.pushesHeld) return []; // still nothing newer than the soft-expired SA: keep asking (R-MSG-6)
    this.initWanted = false;
    return [{ type: 'stop-cluster-init' }];
  }

  /** A cluster-update was installed by the daemon (call before acknowledging it). */
  updateInstalled(update: ClusterUpdate, now: number): SubAction[] {
    const actions: SubAction[] = [];
    this.updateSeq = update.updateSeq;
    switch (update.kind) {
      case 'update-keys': {
        this.trackKeys(update.keys, update.lifetimes, now, true);
        if (this.mayPush()) actions.push({ type: 'push-rekey', groupId: this.groupId });
        if (this.initWanted && this.root === 'active' && !this.pushesHeld) {
          this.initWanted = false;
          actions.push({ type: 'stop-cluster-init' });
        }
        break;
      }
      case 'update-delete-sas': {
        if (update.all) this.sas.clear();
        // The KEK alone (R-CHG-1.4c): the root keeps no KEK for members any more, so its lifetime is not watched.
        if (update.kek) for (const [k, s] of this.sas) if (s.kind === 'kek') this.sas.delete(k);
        for (const spi of update.teks) this.sas.delete(hex(spi));
        // Deletes reach members even while pushes of new keys are held: the root asked for them (R-MSG-8).
        if (this.root === 'active') actions.push({ type: 'push-delete', groupId: this.groupId, teks: update.teks, all: update.all });
        if (this.sas.size === 0) this.wantInit(actions);
        break;
      }
      case 'update-delete-members':
        actions.push({ type: 'delete-local-members', groupId: this.groupId, all: update.all, members: update.members });
        break;
    }
    return actions;
  }

  /**
   * DPD declared the root dead (R-DPD-3/4), or it cannot be reached at all (`unreachable`: no IKE SA with it
   * and a negotiation failed): no registrations, no deletes, member SAs stay.
   */
  rootDead(_now: number, reason: 'dpd' | 'unreachable' = 'dpd'): SubAction[] {
    const actions: SubAction[] = [];
    if (this.root === 'active') actions.push({ type: 'root-inactive', groupId: this.groupId, reason });
    this.root = 'inactive';
    this.wantInit(actions);
    return actions;
  }

  /**
   * The root deleted the last IKE SA this server had with it (a daemon stop sends Delete notifications): it
   * may come back with other keys (a lost state file), and nothing else would tell this server. A cluster-init
   * on the next SA checks; the root stays active meanwhile (an operator's `clear` of the SA is no outage).
   */
  rootSaDeleted(_now: number): SubAction[] {
    const actions: SubAction[] = [];
    this.wantInit(actions);
    return actions;
  }

  configChanged(_now: number): SubAction[] {
    const actions: SubAction[] = [];
    this.wantInit(actions);
    return actions;
  }

  /** The update sequence jumped: an update was missed; only a cluster-init can resynchronise. */
  updateGap(_now: number): SubAction[] {
    const actions: SubAction[] = [];
    this.wantInit(actions);
    return actions;
  }

  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const s of this.sas.values()) {
      const at = s.softExpired ? s.hardAt : s.softAt;
      if (min === undefined || at < min) min = at;
    }
    return min;
  }

  poll(now: number): SubAction[] {
    const actions: SubAction[] = [];
    let hard = false;
    for (const [k, s] of this.sas) {
      if (s.hardAt <= now) {
        this.sas.delete(k);
        hard = true;
      } else if (!s.softExpired && s.softAt <= now) {
        s.softExpired = true;
        this.wantInit(actions); // R-MSG-6; pushesHeld follows from softExpired
      }
    }
    if (hard) {
      // R-MSG-7
      if (this.root === 'active') actions.push({ type: 'root-inactive', groupId: this.groupId, reason: 'hard-expiry' });
      this.root = 'inactive';
      actions.push({ type: 'delete-local-members', groupId: this.groupId, all: true, members: [] });
      this.wantInit(actions);
    }
    return actions;
  }
}

export interface PendingUpdate {
  update: ClusterUpdate;
  queuedAt: number;
}

export class RootClusterState {
  state: 'active' | 'inactive' = 'inactive';
  readonly queue: PendingUpdate[] = [];
  lastExchangeAt: number | undefined;

  constructor(readonly name: string) {}

  /** The sub completed a cluster-init: it holds everything up to now, so older pending updates are moot. */
  markActive(now: number): void {
    this.state = 'active';
    this.lastExchangeAt = now;
  }

  /** DPD reports the sub down (R-DPD-3, R-MSG-5): drop its queue; it will cluster-init when back. */
  markInactive(_now: number): void {
    this.state = 'inactive';
    this.queue.length = 0;
  }

  /** Queues an update; refused (false) for an inactive sub. */
  enqueue(update: ClusterUpdate, now: number): boolean {
    if (this.state !== 'active') return false;
    this.queue.push({ update, queuedAt: now });
    return true;
  }

  head(): PendingUpdate | undefined {
    return this.queue[0];
  }

  /** An ACK for the head: pops it. */
  acked(groupId: number, updateSeq: number, now: number): boolean {
    const h = this.queue[0];
    if (h === undefined || h.update.groupId !== groupId || h.update.updateSeq !== updateSeq) return false;
    this.queue.shift();
    this.lastExchangeAt = now;
    return true;
  }
}
