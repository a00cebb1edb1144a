/**
 * One group as a GCKS holds it: policy, current KEK (with the signing key), current TEKs and the SEQ of the
 * KEK. It builds the PUSHes of the group's lifecycle; when and to whom they are sent is the daemon's
 * business. Implements GroupSnapshot for the pull responder.
 */
import type { RandomSource } from '@gvpn/crypto';
import { validatePolicy } from './group-policy.js';
import type { GroupPolicy } from './group-policy.js';
import { generateKek, generateSigningKey, generateTek } from './keys.js';
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

  constructor(readonly policy: GroupPolicy, private readonly random: RandomSource,
    readonly signing: SigningKey = generateSigningKey(policy.kek.rsaBits), seqStart = 0,
    private readonly onSeq?: (seq: number) => void) {
    validatePolicy(policy);
    this.kek = generateKek(policy.kek, random, signing);
    this.teks = policy.teks.map((t) => generateTek(t, random));
    this.sequence = new RekeySequence(seqStart, onSeq);
  }

  seq(): number {
    return this.sequence.current;
  }

  private form(): 'bare' | 'digest-info' {
    return this.policy.compat?.bareDigestSignature === true ? 'bare' : 'digest-info';
  }

  /** New TEKs for every TEK policy, pushed under the current KEK. The old ones are returned for deletion later. */
  rekeyTeks(): { push: BuiltPush; old: Tek[] } {
    const old = this.teks;
    this.teks = this.policy.teks.map((t) => generateTek(t, this.random));
    const push = buildPush({
      kek: this.kek, seq: this.sequence.next(), teks: this.teks, signatureForm: this.form(),
      gap: { activationDelaySeconds: this.policy.activationDelaySeconds, deactivationDelaySeconds: this.policy.deactivationDelaySeconds },
    });
    return { push, old };
  }

  /** A new KEK, pushed under the current one (no TEKs: forward access control); then SEQ restarts. */
  rekeyKek(): BuiltPush {
    const next = generateKek(this.policy.kek, this.random, this.signing);
    const push = buildPush({ kek: this.kek, seq: this.sequence.next(), newKek: next, signatureForm: this.form() });
    // The old KEK stays as `previousKek`: ACKs of this push are keyed by it (RFC 8263 §2.1).
    this.previousKek?.key.wipe();
    this.previousKek = this.kek;
    this.kek = next;
    this.sequence = new RekeySequence(0, this.onSeq);
    return push;
  }

  deleteTeks(spis: Uint8Array[]): BuiltPush {
    return buildPush({ kek: this.kek, seq: this.sequence.next(), deletes: { teks: spis }, signatureForm: this.form() });
  }

  deleteAll(): BuiltPush {
    return buildPush({ kek: this.kek, seq: this.sequence.next(), deletes: { all: true }, signatureForm: this.form() });
  }
}
