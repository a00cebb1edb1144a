/**
 * Dead Peer Detection, RFC 3706, in always-send mode (probe every `interval` whether or not traffic flows).
 *
 * Timeline for one SA, with interval T and threshold N:
 *   - the first R-U-THERE goes out T after the SA is established, then one every T;
 *   - an ACK echoing any outstanding sequence number clears the outstanding count; the ACK of each probe sent
 *     after the newest one acknowledged is accepted, once and in order (older or repeated ones are dropped);
 *   - at a tick where N probes are outstanding (N probes sent, each given T to be answered, none was),
 *     the peer is dead: with T = 10 s, N = 5 and a silent peer, probes leave at 10..50 s and the peer is
 *     declared dead at 60 s.
 * Probes are not retransmitted by the task manager: the threshold is DPD's own retransmission.
 *
 * Sequence numbers (§6.1): our first one is random with the high bit clear, then +1 per probe (mod 2^32).
 * The peer's R-U-THERE sequence must move forward: we answer the first one we see, and later ones that
 * are equal (a retransmitted probe) or ahead by less than 2^31; older ones are dropped.
 */
import type { RandomSource } from '@gvpn/crypto';
import type { DpdPolicy, DpdStatus } from './types.js';

export type DpdTick = { kind: 'probe'; seq: number } | { kind: 'dead' } | { kind: 'idle' };

export class DpdMonitor {
  private nextSeq: number;
  private sentSeq: number | undefined;
  private lastAck: number | undefined;
  private outstanding = 0;
  /** Probes sent after the newest acknowledged one: the ACKs still acceptable (each once, in order). */
  private unacked = 0;
  private lastPeerSeq: number | undefined;
  private nextTickAt: number;

  constructor(
    private readonly policy: DpdPolicy | undefined,
    private readonly peerSupportsDpd: boolean,
    random: RandomSource,
    now: number,
  ) {
    const b = random.bytes(4);
    this.nextSeq = (((b[0] ?? 0) & 0x7f) << 24 | (b[1] ?? 0) << 16 | (b[2] ?? 0) << 8 | (b[3] ?? 0)) >>> 0;
    this.nextTickAt = policy === undefined ? Infinity : now + policy.interval * 1000;
  }

  /** We probe only when configured to and the peer announced DPD (§5.1: both MUST send the vendor ID). */
  get active(): boolean {
    return this.policy !== undefined && this.peerSupportsDpd;
  }

  deadline(): number | undefined {
    return this.active ? this.nextTickAt : undefined;
  }

  tick(now: number): DpdTick {
    const policy = this.policy;
    if (policy === undefined || !this.active || now < this.nextTickAt) return { kind: 'idle' };
    if (this.outstanding >= policy.threshold) {
      this.nextTickAt = Infinity;
      return { kind: 'dead' };
    }
    this.nextTickAt = now + policy.interval * 1000;
    return { kind: 'probe', seq: this.send() };
  }

  /**
   * A probe outside the schedule, whatever the policy (RFC 3706 leaves when to ask to the sender): e.g. to
   * learn whether the peer still knows this SA. It is outstanding like any other, so with a policy an
   * unanswered one brings the death forward. Undefined when the peer did not announce DPD.
   */
  probeNow(): number | undefined {
    return this.peerSupportsDpd ? this.send() : undefined;
  }

  /** True once the peer has acknowledged probe `seq` or a later one. */
  answered(seq: number): boolean {
    return this.lastAck !== undefined && ((this.lastAck - seq) >>> 0) < 0x80000000;
  }

  private send(): number {
    const seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) >>> 0;
    this.sentSeq = seq;
    this.outstanding++;
    this.unacked++;
    return seq;
  }

  /**
   * True if `seq` answers a probe sent after the newest acknowledged one. Not only those the death count still
   * holds: two probes out (a periodic and an on-demand one, or two on demand) are both answered, and the
   * second ACK must count too, or `answered` would deny it.
   */
  acknowledge(seq: number): boolean {
    if (this.sentSeq === undefined) return false;
    const behind = (this.sentSeq - seq) >>> 0;
    if (behind >= this.unacked) return false;
    this.unacked = behind;
    this.outstanding = 0;
    this.lastAck = seq;
    return true;
  }

  /** True if the peer's R-U-THERE sequence is acceptable (and records it). */
  acceptRequest(seq: number): boolean {
    // Every R-U-THERE carries a new number (RFC 3706 §6.1): an equal or older one is a replay.
    if (this.lastPeerSeq !== undefined) {
      const ahead = (seq - this.lastPeerSeq) >>> 0;
      if (ahead === 0 || ahead >= 0x80000000) return false;
    }
    this.lastPeerSeq = seq;
    return true;
  }

  status(): DpdStatus {
    return { sentSeq: this.sentSeq, lastAck: this.lastAck, outstanding: this.outstanding, peerSupportsDpd: this.peerSupportsDpd };
  }
}
