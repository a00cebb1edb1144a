/**
 * Registered members, per group. A member is known by its address within a group: a second pull from the
 * same address replaces its entry (it now holds the current keys), it does not add a member. Pushes go to
 * the IKE endpoint (address and port) the member registered from.
 *
 * A member leaves the list when a push's retransmission budget is spent without an ACK (rekey.ts): it
 * missed keys and will have to pull again; this also frees its place under `member-threshold`. In a group
 * without a KEK, which sends no push, it leaves when it has not pulled again within its TEK lifetime.
 */
import type { Endpoint } from '@gvpn/runtime';

export interface Registration {
  group: string;
  groupId: number;
  address: string;
  /** Where pushes go: the member's IKE address and port. */
  endpoint: Endpoint;
  /** The IKE gateway it authenticated through. */
  gateway: string;
  /** IKE SA cookies of the registration (hex). */
  icookie: string;
  rcookie: string;
  /** Epoch ms (display) and monotonic ms (timers). */
  registeredAt: number;
  registeredAtMono: number;
  /** SEQ of the last push the member acknowledged (RFC 8263; SEQ restarts with each KEK), or null. */
  lastAckedSeq: number | null;
  /** SEQ of the push awaiting this member's ACK, or null. */
  pendingSeq: number | null;
  pushesSent: number;
  retransmissions: number;
}

/** A member entry added, replaced or removed since the last `drainChanges` (`now` undefined: removed). */
export interface RegistrationChange {
  group: string;
  address: string;
  now: Registration | undefined;
}

export class Registrations {
  readonly #byGroup = new Map<string, Map<string, Registration>>();
  #total = 0;
  /**
   * Entries touched since the last drain: a durable store writes only those, so a registration costs one
   * row however many members the group has.
   */
  readonly #changed = new Map<string, { group: string; address: string }>();

  #mark(group: string, address: string): void {
    this.#changed.set(`${group}\0${address}`, { group, address });
  }

  /** Marks every member of the group changed (their ACK state after a push campaign, say). */
  touchGroup(group: string): void {
    for (const address of this.#byGroup.get(group)?.keys() ?? []) this.#mark(group, address);
  }

  get changesPending(): boolean {
    return this.#changed.size > 0;
  }

  drainChanges(): RegistrationChange[] {
    const out = [...this.#changed.values()].map(({ group, address }) => ({ group, address, now: this.get(group, address) }));
    this.#changed.clear();
    return out;
  }

  get total(): number {
    return this.#total;
  }

  count(group: string): number {
    return this.#byGroup.get(group)?.size ?? 0;
  }

  get(group: string, address: string): Registration | undefined {
    return this.#byGroup.get(group)?.get(address);
  }

  members(group: string): Registration[] {
    return [...(this.#byGroup.get(group)?.values() ?? [])];
  }

  /** Adds or replaces the member's entry; returns true when it is a new member. */
  upsert(r: Registration): boolean {
    let members = this.#byGroup.get(r.group);
    if (members === undefined) this.#byGroup.set(r.group, (members = new Map()));
    const fresh = !members.has(r.address);
    members.set(r.address, r);
    if (fresh) this.#total++;
    this.#mark(r.group, r.address);
    return fresh;
  }

  remove(group: string, address: string): boolean {
    const members = this.#byGroup.get(group);
    if (members?.delete(address) !== true) return false;
    this.#total--;
    this.#mark(group, address);
    return true;
  }

  clearGroup(group: string): number {
    this.touchGroup(group);
    const n = this.count(group);
    this.#byGroup.delete(group);
    this.#total -= n;
    return n;
  }
}
