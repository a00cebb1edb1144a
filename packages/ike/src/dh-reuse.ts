/**
 * The responder's Diffie-Hellman key pairs, optionally reused for a short window (`dhReuseSeconds`).
 *
 * RFC 7296 §2.12 lets an IKEv2 responder reuse its DH exponential across exchanges for a while, and the
 * reasoning holds for IKEv1 Main Mode: every SA still gets fresh nonces and cookies, so SKEYID and all keys
 * derived from it differ per exchange even with the same g^xr. It saves the key generation, about half of
 * a MODP group's cost per handshake (the other half, computing g^xy, stays).
 *
 * Why this is acceptable on a key server: the GCKS keeps every group's KEK and TEKs in memory anyway and
 * hands them to any member that authenticates, so an attacker who can read the server's memory during the
 * window already has everything those phase-1 SAs protect; the reused exponent exposes nothing more.
 * What it costs: perfect forward secrecy BETWEEN the exchanges of one window. Whoever learns the private
 * value (before it is wiped) can recompute g^xy of every Main Mode that used it, from recorded traffic.
 * After the window the private value is wiped (`expire`, driven by the endpoint's timer), so later
 * compromise reveals nothing. Bounded by configuration to 60 s; 0 (the default) keeps one fresh key pair
 * per exchange. An initiator never reuses: it generates its own key pair per exchange.
 */
import { dhGroup } from '@gvpn/crypto';
import type { DhGroupId, DhKeyPair, RandomSource } from '@gvpn/crypto';

/** What the configuration allows at most (`ike options dh-reuse-seconds`). */
export const MAX_DH_REUSE_SECONDS = 60;

interface Entry {
  keyPair: DhKeyPair;
  expiresAt: number;
}

export class ResponderKeyPairs {
  /** At most one key pair per group: the one the current window hands out. */
  private readonly current = new Map<DhGroupId, Entry>();
  private readonly reuseMs: number;

  constructor(reuseSeconds: number, private readonly allowLegacyGroups: boolean) {
    this.reuseMs = reuseSeconds * 1000;
  }

  /**
   * Our key pair for one responder exchange in `groupId` at `now`: the window's shared one while the window
   * lasts, otherwise a new one (which opens the next window). `reused` says whether generation was saved.
   */
  take(groupId: number, random: RandomSource, now: number): { keyPair: DhKeyPair; reused: boolean } {
    const group = dhGroup(groupId, { allowLegacy: this.allowLegacyGroups });
    if (this.reuseMs === 0) return { keyPair: group.generate(random), reused: false };
    const entry = this.current.get(group.id);
    if (entry !== undefined && now < entry.expiresAt) return { keyPair: entry.keyPair, reused: true };
    entry?.keyPair.wipe();
    const keyPair = group.generate(random);
    this.current.set(group.id, { keyPair, expiresAt: now + this.reuseMs });
    return { keyPair, reused: false };
  }

  /**
   * The caller is done with a key pair from `take` (g^xy is computed or the exchange is over): a one-off
   * pair is wiped now, the window's shared pair stays for the window's other exchanges.
   */
  release(keyPair: DhKeyPair): void {
    for (const entry of this.current.values()) if (entry.keyPair === keyPair) return;
    keyPair.wipe();
  }

  /** Wipes the private values of windows that are over (SAs keep only derived keys, never the exponent). */
  expire(now: number): void {
    for (const [id, entry] of this.current) {
      if (now < entry.expiresAt) continue;
      entry.keyPair.wipe();
      this.current.delete(id);
    }
  }

  /** When `expire` next has something to wipe. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const { expiresAt } of this.current.values()) if (next === undefined || expiresAt < next) next = expiresAt;
    return next;
  }

  /** Wipes every held key pair (the endpoint stops). */
  clear(): void {
    for (const entry of this.current.values()) entry.keyPair.wipe();
    this.current.clear();
  }
}
