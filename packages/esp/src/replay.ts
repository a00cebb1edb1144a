/**
 * Sliding anti-replay window (RFC 4303 §3.4.3 and Appendix A), 32-bit sequence numbers. The window moves
 * only for a packet whose ICV verified (`accept`), so a forged packet cannot advance it.
 *
 * Group SAs have many senders under one SPI, each with its own sequence counter; one window per SPI
 * would reject most traffic. `SaDatabase` therefore keeps one ReplayWindow per (SPI, sender), the sender
 * being the authenticated inner IPv4 source address — see README.md.
 */
export const DEFAULT_REPLAY_WINDOW = 64;
export const MAX_REPLAY_WINDOW = 1024;

export type ReplayVerdict = 'ok' | 'replay' | 'too-old' | 'zero';

export class ReplayWindow {
  /** highest sequence number accepted so far (0: none) */
  #top = 0;
  /** bit i set = sequence number top - i was accepted */
  #bits = 0n;
  readonly #mask: bigint;

  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size > MAX_REPLAY_WINDOW) {
      throw new RangeError(`replay window must be 32..${MAX_REPLAY_WINDOW}, got ${size}`);
    }
    this.#mask = (1n << BigInt(size)) - 1n;
  }

  get highest(): number {
    return this.#top;
  }

  check(seq: number): ReplayVerdict {
    if (seq === 0) return 'zero'; // RFC 4303: the first packet has sequence number 1
    if (seq > this.#top) return 'ok';
    const offset = this.#top - seq;
    if (offset >= this.size) return 'too-old';
    return (this.#bits >> BigInt(offset)) & 1n ? 'replay' : 'ok';
  }

  /** Records an authenticated packet; call only after `check` returned 'ok'. */
  accept(seq: number): void {
    if (seq > this.#top) {
      const shift = seq - this.#top;
      this.#bits = shift >= this.size ? 1n : ((this.#bits << BigInt(shift)) | 1n) & this.#mask;
      this.#top = seq;
    } else {
      this.#bits |= 1n << BigInt(this.#top - seq);
    }
  }
}
