/**
 * One configured group as the key server holds it: the `@gvpn/gdoi` GcksGroup (policy, KEK with its RSA
 * signing key, TEKs, SEQ) built from `ServerGroupConfig`, plus what the daemon needs around it: when the
 * current KEK and TEKs were made, and the replaced TEKs kept until their deactivation delay has passed.
 *
 * Mapping of the configuration to the gdoi `GroupPolicy`:
 * - `group-id` -> groupId (ID_KEY_ID, big-endian as RFC 6407 says).
 * - `server-member-communication` -> KEK: `encryption-algorithm` -> cipher, `lifetime-seconds`,
 *   `sig-hash-algorithm`; RSA-2048 (RFC 6407 §6); RFC 8263 ACKs always requested (REKEY_ACK_KEK_SHA256),
 *   since retransmission stops on ACK. The SAK's push source is this daemon's `system.listen`; pushes are
 *   unicast to each member's IKE address, so the SAK's push destination is 0.0.0.0 with the listen port.
 *   Without `server-member-communication` the group has no KEK: pulls carry TEKs only and nothing is pushed
 *   (the GcksGroup still holds an internal KEK, never shown or sent to members). Its RSA key is RSA_BITS all
 *   the same: adding server-member-communication by a commit (R-CHG-1.4a) then makes the KEK at once from
 *   it, instead of an RSA key generation (100-500 ms) on the event loop in the middle of the commit.
 * - each `ipsec-sa` -> one TEK: proposal cipher (`aes-128-gcm` -> `aes-gcm-128` etc.), integrity
 *   `hmac-sha-256-128` for CBC, selectors and protocol from `match-policy`, TEK lifetime from the proposal,
 *   anti-replay window from `anti-replay-time-window` (none with `no-anti-replay`).
 * - ATD = `activation-time-delay`. The configuration has no deactivation delay (Junos has none to set), so
 *   it is derived (DERIVED, see `deactivationDelaySeconds`): ATD plus the time a push may take to reach every
 *   member (retransmission-period x (number-of-retransmission + 1)), so no member drops an old TEK before
 *   every sender can have switched to the new one.
 */
import type { RandomSource } from '@gvpn/crypto';
import { GcksGroup, hex, type GroupPolicy, type GroupSnapshot, type Kek, type SigningKey, type Tek, type TekCipher, type TekPolicy } from '@gvpn/gdoi';
import type { Endpoint, GroupIpsecSaConfig, ServerGroupConfig, TekEncryptionAlgorithm } from '@gvpn/runtime';

const TEK_CIPHER: Record<TekEncryptionAlgorithm, TekCipher> = {
  'aes-128-cbc': 'aes-128-cbc',
  'aes-192-cbc': 'aes-192-cbc',
  'aes-256-cbc': 'aes-256-cbc',
  'aes-128-gcm': 'aes-gcm-128',
  'aes-256-gcm': 'aes-gcm-256',
};

/** The configuration's name of a TEK's cipher: what `show` prints for the TEK, whatever the file says now. */
export const tekAlgorithmName = (cipher: TekCipher): TekEncryptionAlgorithm =>
  (Object.keys(TEK_CIPHER) as TekEncryptionAlgorithm[]).find((a) => TEK_CIPHER[a] === cipher) ?? 'aes-256-cbc';

/** RSA modulus of the push signature key (RFC 6407 §6: 2048 at least). */
export const RSA_BITS = 2048;

/** The derived deactivation time delay (DTD), in seconds; see the file comment. */
export function deactivationDelaySeconds(config: ServerGroupConfig): number {
  const smc = config.serverMemberCommunication;
  const pushWindow = smc === null ? 0 : smc.retransmissionPeriodSeconds * (smc.numberOfRetransmission + 1);
  return Math.min(0xffff, config.activationTimeDelaySeconds + pushWindow);
}

function tekPolicy(sa: GroupIpsecSaConfig, config: ServerGroupConfig): TekPolicy {
  const cipher = TEK_CIPHER[sa.proposal.encryptionAlgorithm];
  const gcm = cipher === 'aes-gcm-128' || cipher === 'aes-gcm-256';
  const m = sa.matchPolicy;
  return {
    name: sa.name,
    cipher,
    ...(gcm ? {} : { integrity: sa.proposal.authenticationAlgorithm ?? 'hmac-sha-256-128' }),
    protocol: m.protocol,
    source: { prefix: m.source, port: m.sourcePort },
    destination: { prefix: m.destination, port: m.destinationPort },
    lifetimeSeconds: sa.proposal.lifetimeSeconds,
    ...(config.noAntiReplay || config.antiReplayTimeWindowSeconds === null ? {} : { antiReplayWindowSeconds: config.antiReplayTimeWindowSeconds }),
  };
}

/** The gdoi policy of a configured group, pushes coming from `listen`. */
export function groupPolicy(config: ServerGroupConfig, listen: Endpoint): GroupPolicy {
  const smc = config.serverMemberCommunication;
  return {
    groupId: config.groupId,
    kek: {
      cipher: smc?.encryptionAlgorithm ?? 'aes-128-cbc',
      lifetimeSeconds: smc?.lifetimeSeconds ?? 3600,
      sigHash: smc?.sigHashAlgorithm ?? 'sha256',
      rsaBits: RSA_BITS,
      ackRequested: true,
      pushSource: { address: listen.address, port: listen.port },
      pushDestination: { address: '0.0.0.0', port: listen.port },
    },
    teks: config.ipsecSas.map((sa) => tekPolicy(sa, config)),
    activationDelaySeconds: config.activationTimeDelaySeconds,
    deactivationDelaySeconds: deactivationDelaySeconds(config),
  };
}

/** A TEK replaced by a rekey, kept (and shown) until its deactivation delay has passed. */
export interface RetiredTek {
  tek: Tek;
  createdAt: number;
  removeAt: number;
}

/** Keys a sub-server holds from its root, and when the root made them (monotonic ms). */
export interface GivenKeys {
  kek: Kek;
  teks: Tek[];
  seq: number;
  kekCreatedAt: number;
  teksCreatedAt: number;
}

export class GroupState {
  readonly gcks: GcksGroup;
  /** server-member-communication configured: the KEK is shown, handed out and pushed under (R-CHG-1.4a/c change it). */
  hasKek: boolean;
  kekCreatedAt: number;
  teksCreatedAt: number;
  retired: RetiredTek[] = [];
  /** Bumped whenever the keys a pull hands out change. */
  version = 0;

  /**
   * Keys are generated here, or `given` (a sub-server's, from its root: R-TOPO-2) with the times they were
   * made, derived from the seconds the root said were left.
   */
  /** `clock`: for the seconds a pull says the TEKs have left (GroupSnapshot.teksLifetimeLeft). */
  constructor(public config: ServerGroupConfig, private readonly listen: Endpoint, random: RandomSource, now: number, given?: GivenKeys,
    private readonly clock?: () => number, signing?: SigningKey) {
    const policy = groupPolicy(config, listen);
    this.gcks = given === undefined ? new GcksGroup(policy, random, signing) : GcksGroup.adopt(policy, random, given);
    this.hasKek = config.serverMemberCommunication !== null;
    this.kekCreatedAt = given?.kekCreatedAt ?? now;
    this.teksCreatedAt = given?.teksCreatedAt ?? now;
  }

  get name(): string {
    return this.config.name;
  }

  get groupId(): number {
    return this.config.groupId;
  }

  #snapshot: GroupSnapshot | undefined;

  /**
   * What the pull responder hands out: no KEK (and SEQ) for a group without server-member-communication.
   * Its getters read the group live, so one object serves every pull.
   */
  snapshot(): GroupSnapshot {
    if (this.#snapshot !== undefined) return this.#snapshot;
    const gcks = this.gcks;
    const hasKek = (): boolean => this.hasKek;
    const clock = this.clock;
    return this.#snapshot = {
      policy: gcks.policy,
      get kek(): Kek | undefined { return hasKek() ? gcks.kek : undefined; },
      get teks(): readonly Tek[] { return gcks.teks; },
      seq: () => gcks.seq(),
      ...(clock === undefined ? {} : {
        teksLifetimeLeft: () => Math.max(1, Math.floor((this.teksCreatedAt + this.tekLifetimeMs() - clock()) / 1000)),
      }),
    };
  }

  /**
   * A committed configuration for this group whose changes take effect at the next rekey (R-CHG-1.2, 1.3d/e,
   * 1.4b, 1.5b without a match-policy change) or at once (member-threshold, gateways): the current keys stay;
   * the next TEKs and KEK are made from the new policy. The caller checked that no other kind of change is in it.
   */
  reconfigure(config: ServerGroupConfig): void {
    this.config = config;
    this.gcks.policy = groupPolicy(config, this.listen);
    this.#snapshot = undefined;
    this.version++;
  }

  /**
   * The shortest lifetime of the TEKs held (every TEK of the group is rekeyed together): the one they were
   * made with, not one a commit configured since (R-CHG-1.2: at the next rekey), which would cut short what a
   * pull hands out. The configured one while no TEK is held.
   */
  tekLifetimeMs(): number {
    const teks = this.gcks.teks.length > 0 ? this.gcks.teks.map((t) => t.policy) : this.gcks.policy.teks;
    return Math.min(...teks.map((t) => t.lifetimeSeconds)) * 1000;
  }

  kekLifetimeMs(): number {
    return this.gcks.policy.kek.lifetimeSeconds * 1000;
  }

  /** Drops retired TEKs whose deactivation delay has passed; returns their SPIs (hex). */
  expireRetired(now: number): string[] {
    const gone = this.retired.filter((r) => r.removeAt <= now);
    if (gone.length === 0) return [];
    this.retired = this.retired.filter((r) => r.removeAt > now);
    for (const r of gone) {
      r.tek.encKey.wipe();
      r.tek.authKey?.wipe();
    }
    return gone.map((r) => hex(r.tek.spi));
  }

  nextRetiredDeadline(): number | undefined {
    let min: number | undefined;
    for (const r of this.retired) if (min === undefined || r.removeAt < min) min = r.removeAt;
    return min;
  }
}
