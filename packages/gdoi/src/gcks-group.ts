/**
 * One group as a GCKS holds it: policy, current KEK (with the signing key), current TEKs and the SEQ of the
 * KEK. It builds the PUSHes of the group's lifecycle; when and to whom they are sent is the daemon's
 * business. Implements GroupSnapshot for the pull responder.
 *
 * A root or standalone server generates its keys (`rekeyTeks`, `rekeyKek`). A sub-server never does
 * (R-TOPO-2): it starts from the root's keys (`GcksGroup.adopt`) and builds the same PUSHes from keys and
 * SEQs the root handed it (`installTeks`, `installKek`, `deleteTeks`/`deleteAll` with the root's SEQ), so
 * every member of the cluster sees one SEQ stream per KEK whichever server it registered with.
 */
import type { RandomSource } from '@gvpn/crypto';
import { GdoiError } from './errors.js';
import { validatePolicy } from './group-policy.js';
import type { GroupPolicy, TekPolicy } from './group-policy.js';
import { generateKek, generateSigningKey, generateTek, hex, readdressKek } from './keys.js';
import type { Kek, SigningKey, Tek } from './keys.js';
import { RekeySequence, buildPush } from './push-builder.js';
import type { BuiltPush } from './push-builder.js';
import type { GroupSnapshot } from './pull-responder.js';

export class GcksGroup implements GroupSnapshot {
  kek: Kek;
  /** The KEK replaced by the last KEK rekey (until the next one). */
  previousKek: Kek | undefined;
  teks: Tek[];
  private sequence: RekeySequence;

  /** `initial`: keys given instead of generated (see `adopt`). */
  constructor(public policy: GroupPolicy, private readonly random: RandomSource,
    readonly signing: SigningKey = generateSigningKey(policy.kek.rsaBits), seqStart = 0,
    private readonly onSeq?: (seq: number) => void, initial?: { kek: Kek; teks: Tek[] }) {
    validatePolicy(policy);
    this.kek = initial === undefined ? generateKek(policy.kek, random, signing) : readdressKek(initial.kek, policy.kek);
    this.teks = initial === undefined ? this.freshTeks(policy.teks, []) : [...initial.teks];
    this.sequence = new RekeySequence(seqStart, onSeq);
  }

  /**
   * A group holding keys it was given (a sub-server's, from its root's cluster-init): no key is generated.
   * The KEK's SAK is re-addressed to this server's push source, since this server sends the pushes.
   */
  static adopt(policy: GroupPolicy, random: RandomSource, keys: { kek: Kek; teks: Tek[]; seq: number }): GcksGroup {
    const { kek } = keys;
    if (kek.privateKey === undefined) throw new GdoiError('BAD_KEY', 'an adopted KEK needs its signing key');
    const signing = { privateKey: kek.privateKey, publicKey: kek.publicKey, publicKeyDer: kek.publicKeyDer, bits: kek.sigBits };
    return new GcksGroup(policy, random, signing, keys.seq, undefined, keys);
  }

  seq(): number {
    return this.sequence.current;
  }

  private form(): 'bare' | 'digest-info' {
    return this.policy.compat?.bareDigestSignature === true ? 'bare' : 'digest-info';
  }

  /** New TEKs for every TEK policy, pushed under the current KEK. The old ones are returned for deletion later. */
  rekeyTeks(): { push: BuiltPush; old: Tek[] } {
    return this.installTeks(this.freshTeks(this.policy.teks, this.teks), this.sequence.next());
  }

  /**
   * New TEKs for `policies`, each SPI unlike the others and unlike those of `held`. Two TEKs on one SPI would
   * be one SA to members (and a sub-server refuses such a set); a new TEK on a leaving one's SPI would count
   * as staying (`installTeks`). A random 4-byte SPI repeats once in ~4e9, so this loops about never.
   */
  private freshTeks(policies: readonly TekPolicy[], held: readonly Tek[]): Tek[] {
    const taken = new Set(held.map((t) => hex(t.spi)));
    return policies.map((p) => {
      let tek = generateTek(p, this.random);
      while (taken.has(hex(tek.spi))) tek = generateTek(p, this.random);
      taken.add(hex(tek.spi));
      return tek;
    });
  }

  /**
   * Replaces the TEKs with `teks` and pushes them with SEQ `seq` (a sub-server: the root's keys and SEQ).
   * `old`: the TEKs that leave; one whose SPI comes again (an IPsec SA added beside it, R-CHG-1.5a) stays.
   */
  installTeks(teks: Tek[], seq: number): { push: BuiltPush; old: Tek[] } {
    this.advanceTo(seq);
    const staying = new Set(teks.map((t) => hex(t.spi)));
    const old = this.teks.filter((t) => !staying.has(hex(t.spi)));
    this.teks = [...teks];
    const push = buildPush({
      kek: this.kek, seq, teks: this.teks, signatureForm: this.form(),
      gap: { activationDelaySeconds: this.policy.activationDelaySeconds, deactivationDelaySeconds: this.policy.deactivationDelaySeconds },
    });
    return { push, old };
  }

  /** TEKs for new policies (an IPsec SA added to a running group), pushed with the current ones. */
  addTeks(policies: readonly TekPolicy[]): BuiltPush {
    const fresh = this.freshTeks(policies, this.teks);
    return this.installTeks([...this.teks, ...fresh], this.sequence.next()).push;
  }

  /** A new KEK, pushed under the current one (no TEKs: forward access control); then SEQ restarts. */
  rekeyKek(): BuiltPush {
    return this.installKek(generateKek(this.policy.kek, this.random, this.signing), this.sequence.next());
  }

  /** Makes `next` the KEK, announced under the current one with SEQ `seq`; then SEQ restarts at 0. */
  installKek(next: Kek, seq: number): BuiltPush {
    this.advanceTo(seq);
    const kek = readdressKek(next, this.policy.kek);
    const push = buildPush({ kek: this.kek, seq, newKek: kek, signatureForm: this.form() });
    // The old KEK stays as `previousKek`: ACKs of this push are keyed by it (RFC 8263 §2.1).
    this.previousKek?.key.wipe();
    this.previousKek = this.kek;
    this.kek = kek;
    this.sequence = new RekeySequence(0, this.onSeq);
    return push;
  }

  /** A delete of these TEKs; `seq` given by the root on a sub-server, the next one otherwise. */
  deleteTeks(spis: Uint8Array[], seq = this.sequence.next()): BuiltPush {
    this.advanceTo(seq);
    return buildPush({ kek: this.kek, seq, deletes: { teks: spis }, signatureForm: this.form() });
  }

  /**
   * A delete of the current KEK alone (server-member-communication deleted, R-CHG-1.4c), under that KEK;
   * `seq` given by the root on a sub-server. The caller then stops pushing (`replaceKek` on a key maker).
   */
  deleteKek(seq = this.sequence.next()): BuiltPush {
    this.advanceTo(seq);
    return buildPush({ kek: this.kek, seq, deletes: { kek: this.kek.spi }, signatureForm: this.form() });
  }

  /**
   * A new KEK that no push announces, as no member holds the current one (server-member-communication
   * added, R-CHG-1.4a) or none may use it any more (deleted, 1.4c). It takes the next SEQ of the old KEK,
   * which a sub-server's `installKek` follows; then SEQ restarts at 0. Returns that SEQ.
   */
  replaceKek(): number {
    const seq = this.sequence.next();
    this.previousKek?.key.wipe();
    this.previousKek = undefined;
    this.kek = generateKek(this.policy.kek, this.random, this.signing);
    this.sequence = new RekeySequence(0, this.onSeq);
    return seq;
  }

  deleteAll(seq = this.sequence.next()): BuiltPush {
    this.advanceTo(seq);
    return buildPush({ kek: this.kek, seq, deletes: { all: true }, signatureForm: this.form() });
  }

  /** SEQ never goes backwards: a SEQ at or below the current one (other than the one just taken) is refused. */
  private advanceTo(seq: number): void {
    if (seq !== this.sequence.current) this.sequence.advanceTo(seq);
  }
}
