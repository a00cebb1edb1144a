/**
 * The group SA database of one member: the installed TEKs by SPI, our outbound sequence counter per
 * TEK, and the inbound anti-replay windows per (SPI, sender), where the sender is the inner IPv4 source
 * address of an authenticated packet (the outer UDP source is not authenticated).
 *
 * Rules (times on the caller's clock, see tek.ts):
 *  - outbound: for an inner packet, the newest active TEK (activation <= now < deactivation) whose selector
 *    covers the packet's inner source and destination; "newest" = latest activation, ties broken by the
 *    later installation. A rekey therefore switches senders at the new TEK's activation time without any
 *    other action, and a group with several SAs (one per `ipsec-sa`, each its own match-policy), or a
 *    member of several groups, sends each packet under the SA of its policy, not merely the newest one.
 *  - inbound: a TEK is accepted by SPI from installation until its deactivation time, so an old TEK keeps
 *    decrypting stragglers while senders move to the new one, and a new TEK is accepted even if a peer
 *    switched before us. After deactivation, packets under it count as "no SA".
 *  - `expire(now)` removes TEKs past deactivation (with their replay state); `remove(spi)` handles a
 *    GDOI delete.
 *  - outbound sequence numbers may be reserved in blocks (`sequenceReservation`): before the first
 *    number above the reserved mark is used, the mark moves to that number + `block` and `reserve` is
 *    called (the member writes it to its store, synchronously). After a restart the owner continues from
 *    the stored mark (`resumeSequence`), so no sequence number — and no AES-GCM IV, which is built from
 *    it — is ever used twice under a TEK, and peers' anti-replay windows never see a number again.
 */
import { equalBytes } from '@gvpn/crypto';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow, type ReplayVerdict } from './replay.js';
import { tekAcceptsInbound, tekActiveOutbound, tekCovers, type Tek } from './tek.js';

export interface SaDatabaseOptions {
  /** false = RFC 6407 `no-anti-replay`: sequence numbers are not checked on receipt */
  antiReplay?: boolean;
  replayWindow?: number;
  sequenceReservation?: SequenceReservation;
}

export interface SequenceReservation {
  /** How far ahead a reservation reaches (e.g. 65536). */
  block: number;
  /**
   * Called, before the number is used, with the new mark: numbers up to `upTo` may be used under `spi`.
   * It must not throw.
   */
  reserve(spi: number, upTo: number): void;
}

interface Entry {
  tek: Tek;
  order: number;
  /** last sequence number we sent under this TEK */
  sentSeq: number;
  /** with a sequence reservation: numbers up to this one were reserved */
  reservedSeq: number;
  /** sender (inner IPv4 source as u32) -> window */
  windows: Map<number, ReplayWindow>;
}

export const MAX_SEQUENCE = 0xffffffff;

/**
 * Most replay windows one SA keeps (one per sender), as many as there are 16-bit sender ids; a full table
 * takes about 8 MB with the default 64-packet windows, 26 MB with 1024-packet ones. Only holders of the
 * group key can add a sender, but one faulty or hostile member could use a new inner source per packet. When the table is full a new sender is refused rather than an old window evicted:
 * an evicted sender would lose its replay state, and its captured packets would be accepted again.
 */
export const MAX_REPLAY_SENDERS = 65_536;

/** `replayAdmit`'s answer: 'full' = a new sender, and the SA already keeps MAX_REPLAY_SENDERS windows. */
export type ReplayAdmission = ReplayVerdict | 'full';

export class SaDatabase {
  readonly antiReplay: boolean;
  readonly replayWindow: number;
  readonly #reservation: SequenceReservation | undefined;
  readonly #entries = new Map<number, Entry>();
  #installs = 0;

  constructor(options: SaDatabaseOptions = {}) {
    this.antiReplay = options.antiReplay ?? true;
    this.replayWindow = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.replayWindow); // validates the size now rather than on the first packet
    const reservation = options.sequenceReservation;
    if (reservation !== undefined && (!Number.isSafeInteger(reservation.block) || reservation.block < 1)) {
      throw new RangeError(`sequence reservation block must be a positive integer, got ${reservation.block}`);
    }
    this.#reservation = reservation;
  }

  /**
   * Installs a TEK. Re-installing an SPI with the same transform keeps our sequence counter and the
   * replay windows (a refreshed lifetime); any other re-install replaces the SA entirely.
   */
  install(tek: Tek): void {
    const previous = this.#entries.get(tek.spi);
    const keep = previous !== undefined && previous.tek.transform === tek.transform &&
      equalBytes(previous.tek.encKey.reveal(), tek.encKey.reveal());
    this.#entries.set(tek.spi, {
      tek, order: this.#installs++,
      sentSeq: keep ? previous.sentSeq : 0,
      reservedSeq: keep ? previous.reservedSeq : 0,
      windows: keep ? previous.windows : new Map(),
    });
  }

  remove(spi: number): boolean {
    return this.#entries.delete(spi);
  }

  /** Removes every TEK past its deactivation time; returns their SPIs. */
  expire(now: number): number[] {
    const removed: number[] = [];
    for (const [spi, entry] of this.#entries) {
      if (!tekAcceptsInbound(entry.tek, now)) {
        this.#entries.delete(spi);
        removed.push(spi);
      }
    }
    return removed;
  }

  /** The next time something changes on its own (an activation or a deactivation), or undefined. */
  nextDeadline(now: number): number | undefined {
    let next: number | undefined;
    for (const { tek } of this.#entries.values()) {
      for (const t of [tek.activation, tek.deactivation]) {
        if (t > now && Number.isFinite(t) && (next === undefined || t < next)) next = t;
      }
    }
    return next;
  }

  get size(): number {
    return this.#entries.size;
  }

  list(): Tek[] {
    return [...this.#entries.values()].map((e) => e.tek);
  }

  get(spi: number): Tek | undefined {
    return this.#entries.get(spi)?.tek;
  }

  /** The TEK to send under at `now`: for an inner packet (u32 addresses) the newest covering it, without one the newest of all. */
  outbound(now: number, inner?: { source: number; destination: number }): Tek | undefined {
    let best: Entry | undefined;
    for (const entry of this.#entries.values()) {
      if (!tekActiveOutbound(entry.tek, now)) continue;
      if (inner !== undefined && !tekCovers(entry.tek, inner.source, inner.destination)) continue;
      if (best === undefined || entry.tek.activation > best.tek.activation ||
        (entry.tek.activation === best.tek.activation && entry.order > best.order)) best = entry;
    }
    return best?.tek;
  }

  /** Whether packets of `spi`'s own selector go out under it at `now` (status shows it as the outbound SA). */
  isOutbound(spi: number, now: number): boolean {
    const policy = this.get(spi)?.policy;
    const inner = policy === undefined ? undefined : { source: policy.source.network, destination: policy.destination.network };
    return this.outbound(now, inner)?.spi === spi;
  }

  /**
   * Takes the next outbound sequence number for `spi`, or undefined once 2^32 - 1 were used (RFC 4303
   * §3.3.3: the counter must not cycle; the SA needs a rekey).
   */
  nextSequence(spi: number): number | undefined {
    const entry = this.#entries.get(spi);
    if (entry === undefined || entry.sentSeq >= MAX_SEQUENCE) return undefined;
    const next = entry.sentSeq + 1;
    if (this.#reservation !== undefined && next > entry.reservedSeq) {
      entry.reservedSeq = Math.min(MAX_SEQUENCE, next + this.#reservation.block);
      this.#reservation.reserve(spi, entry.reservedSeq);
    }
    entry.sentSeq = next;
    return next;
  }

  /** Our outbound counter for `spi` (the last number used), or undefined. */
  sentSequence(spi: number): number | undefined {
    return this.#entries.get(spi)?.sentSeq;
  }

  /**
   * After a restart: numbers up to `highWater` may have been used before, so continue above it (the next
   * number used reserves a new block first).
   */
  resumeSequence(spi: number, highWater: number): void {
    const entry = this.#entries.get(spi);
    if (entry === undefined) return;
    const mark = Math.min(MAX_SEQUENCE, Math.max(entry.sentSeq, highWater));
    entry.sentSeq = mark;
    entry.reservedSeq = mark;
  }

  inbound(spi: number, now: number): Tek | undefined {
    const entry = this.#entries.get(spi);
    return entry !== undefined && tekAcceptsInbound(entry.tek, now) ? entry.tek : undefined;
  }

  /**
   * Checks (spi, sender, seq) against the sender's window and, when 'ok', records it. Call it only for an
   * authenticated packet: it creates the sender's window, so forgeries must not reach it. Always 'ok' with
   * no-anti-replay.
   */
  replayAdmit(spi: number, sender: number, seq: number): ReplayAdmission {
    if (!this.antiReplay) return 'ok';
    const entry = this.#entries.get(spi);
    if (entry === undefined) return 'ok';
    let window = entry.windows.get(sender);
    if (window === undefined) {
      if (seq === 0) return 'zero';
      if (entry.windows.size >= MAX_REPLAY_SENDERS) return 'full';
      window = new ReplayWindow(this.replayWindow);
      entry.windows.set(sender, window);
    }
    const verdict = window.check(seq);
    if (verdict === 'ok') window.accept(seq);
    return verdict;
  }

  /** Number of senders with replay state under `spi` (diagnostics). */
  replaySenders(spi: number): number {
    return this.#entries.get(spi)?.windows.size ?? 0;
  }

  /** Test and diagnostics hook: sets our outbound counter (e.g. to exercise exhaustion). */
  setSentSequence(spi: number, seq: number): void {
    const entry = this.#entries.get(spi);
    if (entry !== undefined) entry.sentSeq = seq;
  }
}
