/**
 * What a member keeps across a crash (issue 5: "kill -9 and restart ... no member re-registering, no push
 * rejected as a replay, and the same SPIs"), in `<state-directory>/state.db` (@gvpn/store: SQLite, each
 * write durable when `put` returns, files 0600, values sealed when GVPN_STATE_KEY is set).
 *
 *   member-registration / <vpn name>   one registration: the server and gateway it came from, the KEK
 *                                      (everything needed to decrypt and verify a PUSH) with the last SEQ
 *                                      accepted under it, the TEKs with their data-plane times, the
 *                                      activation/deactivation delays, and the digests (with ACKs) of the
 *                                      last PUSHes accepted, so a retransmission of one after a restart is
 *                                      answered as a duplicate rather than dropped as a replay
 *   member-esp-seq / <spi hex>         outbound ESP sequence numbers reserved under a TEK (a high-water
 *                                      mark) and until when the TEK may still be in use
 *
 * Times are stored as wall-clock (epoch) ms: the daemon's clock is monotonic and starts again with the
 * process, so a time is converted with the two clocks read together (`Clocks`) on the way in and out.
 * `Date.now()` is read only here, and only for that conversion.
 *
 * When it is written (agent.ts): a registration right after its PULL completed and before anything else
 * is sent; an accepted PUSH — its TEKs, KEK, deletes and SEQ — before its ACK is sent or any packet uses
 * its keys; retirements, expiries and clears as they happen. Every write is one synchronous `put`, in the
 * same turn of the event loop as the change, so no packet leaves between a change and its write. A write
 * that fails (disk full) is logged and the member carries on: it keeps working, and a later crash costs a
 * re-registration.
 */
import type { Kek, PullResult, Tek } from '@gvpn/gdoi';
import type { Logger } from '@gvpn/runtime';
import { kekFromRecord, kekRecord, tekFromRecord, tekRecord, type KekRecord, type Store, type TekRecord } from '@gvpn/store';

export const REGISTRATION_NS = 'member-registration';
export const SEQUENCE_NS = 'member-esp-seq';
/** Outbound sequence numbers reserved per write: one write per 65536 packets under a TEK. */
export const SEQUENCE_BLOCK = 65536;
/** Accepted PUSHes remembered per registration for duplicate detection across a restart. */
export const ACCEPTED_PUSH_MEMORY = 8;
const FORMAT = 1;

/** The daemon's (monotonic) clock and the wall clock, read at the same moment. */
export interface Clocks {
  mono: number;
  wall: number;
}

export function toWall(t: number, c: Clocks): number {
  return Math.round(t - c.mono + c.wall);
}

export function fromWall(t: number, c: Clocks): number {
  return t - c.wall + c.mono;
}

export interface AcceptedPush {
  /** SHA-256 of the PUSH datagram, hex. */
  digest: string;
  /** The RFC 8263 ACK sent for it, if any. */
  ack: Uint8Array | undefined;
}

/** A TEK of a registration: known to its PushReceiver, installed in the data plane, or both. */
export interface TekState {
  tek: Tek;
  inReceiver: boolean;
  /** Daemon-clock times; undefined when the data plane does not hold it. */
  dataPlane: { activation: number; deactivation: number; installedAt: number; retiring: boolean } | undefined;
}

/** One registration as the agent hands it over (daemon-clock times). */
export interface RegistrationState {
  groupId: number;
  gateway: string;
  server: { address: string; port: number };
  kek: Kek;
  seq: number;
  activationDelaySeconds: number | undefined;
  deactivationDelaySeconds: number | undefined;
  registeredAt: number;
  kekInstalledAt: number;
  teks: TekState[];
  acceptedPushes: AcceptedPush[];
}

interface StoredTek {
  tek: TekRecord;
  inReceiver: boolean;
  dataPlane: { activation: number; deactivation: number; installedAt: number; retiring: boolean } | null;
}

interface StoredRegistration {
  format: number;
  groupId: number;
  gateway: string;
  server: { address: string; port: number };
  kek: KekRecord;
  seq: number;
  activationDelaySeconds: number | null;
  deactivationDelaySeconds: number | null;
  registeredAt: number;
  kekInstalledAt: number;
  teks: StoredTek[];
  acceptedPushes: { digest: string; ack: Uint8Array | null }[];
}

interface StoredSequence {
  /** Numbers up to this one may have been used. */
  mark: number;
  /** Wall ms: the TEK's latest known deactivation; the row goes after it. */
  until: number;
}

export class MemberStateStore {
  readonly store: Store;
  readonly #log: Logger;
  readonly #wallNow: () => number;
  /** SPI -> mark, mirrors SEQUENCE_NS. */
  readonly #marks = new Map<number, StoredSequence>();
  #failures = 0;

  constructor(store: Store, log: Logger, wallNow: () => number = Date.now) {
    this.store = store;
    this.#log = log.child({ component: 'state-store' });
    this.#wallNow = wallNow;
    for (const { key, value } of store.list<StoredSequence>(SEQUENCE_NS)) {
      const spi = Number.parseInt(key, 16);
      if (Number.isSafeInteger(spi) && Number.isSafeInteger(value?.mark) && Number.isFinite(value?.until)) this.#marks.set(spi, value);
    }
  }

  /** Reads the daemon clock and the wall clock together. */
  clocks(mono: number): Clocks {
    return { mono, wall: this.#wallNow() };
  }

  /** Writes that failed since the start (each one logged). */
  get failures(): number {
    return this.#failures;
  }

  #write(what: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (error) {
      this.#failures++;
      this.#log.error({ err: (error as Error).message, what }, 'state store write failed: a restart would register again');
      return false;
    }
  }

  // ---- registrations -----------------------------------------------------------------------------------

  saveRegistration(name: string, state: RegistrationState, clocks: Clocks): void {
    const wall = (t: number): number => toWall(t, clocks);
    const record: StoredRegistration = {
      format: FORMAT,
      groupId: state.groupId,
      gateway: state.gateway,
      server: { address: state.server.address, port: state.server.port },
      kek: kekRecord(state.kek),
      seq: state.seq,
      activationDelaySeconds: state.activationDelaySeconds ?? null,
      deactivationDelaySeconds: state.deactivationDelaySeconds ?? null,
      registeredAt: wall(state.registeredAt),
      kekInstalledAt: wall(state.kekInstalledAt),
      teks: state.teks.map((t) => ({
        tek: tekRecord(t.tek),
        inReceiver: t.inReceiver,
        dataPlane: t.dataPlane === undefined ? null : {
          activation: wall(t.dataPlane.activation), deactivation: wall(t.dataPlane.deactivation),
          installedAt: wall(t.dataPlane.installedAt), retiring: t.dataPlane.retiring,
        },
      })),
      acceptedPushes: state.acceptedPushes.slice(-ACCEPTED_PUSH_MEMORY).map((p) => ({ digest: p.digest, ack: p.ack ?? null })),
    };
    this.#write(`registration ${name}`, () => this.store.put(REGISTRATION_NS, name, record));
  }

  deleteRegistration(name: string): void {
    this.#write(`registration ${name}`, () => this.store.delete(REGISTRATION_NS, name));
  }

  /**
   * The stored registration of `name` (daemon-clock times), or undefined with the reason it cannot be
   * used; an unreadable record is deleted.
   */
  loadRegistration(name: string, clocks: Clocks): { state: RegistrationState } | { state: undefined; reason: string } {
    let raw: unknown;
    try {
      raw = this.store.get(REGISTRATION_NS, name);
    } catch (error) {
      this.deleteRegistration(name);
      return { state: undefined, reason: `unreadable: ${(error as Error).message}` };
    }
    if (raw === undefined) return { state: undefined, reason: 'none stored' };
    try {
      return { state: parseRegistration(raw, clocks) };
    } catch (error) {
      this.deleteRegistration(name);
      return { state: undefined, reason: `unusable record: ${(error as Error).message}` };
    }
  }

  // ---- outbound sequence numbers -------------------------------------------------------------------------

  /** Numbers up to `upTo` may be used under `spi` (written before the first of them is used). */
  reserveSequence(spi: number, upTo: number, until: number, clocks: Clocks): void {
    const row: StoredSequence = { mark: upTo, until: Math.max(toWall(until, clocks), this.#marks.get(spi)?.until ?? 0) };
    this.#marks.set(spi, row);
    this.#write(`sequence ${spiKey(spi)}`, () => this.store.put(SEQUENCE_NS, spiKey(spi), row));
  }

  /** The stored high-water mark of `spi`, if any. */
  sequenceMark(spi: number): number | undefined {
    return this.#marks.get(spi)?.mark;
  }

  /**
   * Keeps each mark while its TEK may be in use: `live` gives the data plane's SPIs with their deactivation
   * (daemon clock); rows of other SPIs go once their last known deactivation has passed (a TEK removed by
   * a clear and listed again by the next PULL resumes above its mark).
   */
  pruneSequences(live: ReadonlyMap<number, number>, clocks: Clocks): void {
    for (const [spi, row] of [...this.#marks]) {
      const deactivation = live.get(spi);
      if (deactivation !== undefined) {
        const until = toWall(deactivation, clocks);
        if (until > row.until) {
          const next = { mark: row.mark, until };
          this.#marks.set(spi, next);
          this.#write(`sequence ${spiKey(spi)}`, () => this.store.put(SEQUENCE_NS, spiKey(spi), next));
        }
      } else if (row.until <= clocks.wall) {
        this.#marks.delete(spi);
        this.#write(`sequence ${spiKey(spi)}`, () => this.store.delete(SEQUENCE_NS, spiKey(spi)));
      }
    }
  }

  close(): void {
    this.store.close();
  }
}

function spiKey(spi: number): string {
  return spi.toString(16).padStart(8, '0');
}

function fail(what: string): never {
  throw new Error(what);
}

function num(v: unknown, what: string): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fail(`${what} is not a number`);
}

function optionalNum(v: unknown, what: string): number | undefined {
  return v === null || v === undefined ? undefined : num(v, what);
}

function parseRegistration(raw: unknown, clocks: Clocks): RegistrationState {
  if (typeof raw !== 'object' || raw === null) fail('not an object');
  const r = raw as Partial<StoredRegistration>;
  if (r.format !== FORMAT) fail(`format ${String(r.format)}, this build reads ${FORMAT}`);
  if (typeof r.gateway !== 'string') fail('gateway is not a string');
  if (typeof r.server?.address !== 'string') fail('server address is not a string');
  if (!Array.isArray(r.teks) || !Array.isArray(r.acceptedPushes)) fail('teks or acceptedPushes is not a list');
  const mono = (t: unknown, what: string): number => fromWall(num(t, what), clocks);
  return {
    groupId: num(r.groupId, 'groupId'),
    gateway: r.gateway,
    server: { address: r.server.address, port: num(r.server.port, 'server port') },
    kek: kekFromRecord(r.kek),
    seq: num(r.seq, 'seq'),
    activationDelaySeconds: optionalNum(r.activationDelaySeconds, 'activationDelaySeconds'),
    deactivationDelaySeconds: optionalNum(r.deactivationDelaySeconds, 'deactivationDelaySeconds'),
    registeredAt: mono(r.registeredAt, 'registeredAt'),
    kekInstalledAt: mono(r.kekInstalledAt, 'kekInstalledAt'),
    teks: r.teks.map((t: StoredTek) => ({
      tek: tekFromRecord(t.tek),
      inReceiver: t.inReceiver === true,
      dataPlane: t.dataPlane === null || t.dataPlane === undefined ? undefined : {
        activation: mono(t.dataPlane.activation, 'TEK activation'), deactivation: mono(t.dataPlane.deactivation, 'TEK deactivation'),
        installedAt: mono(t.dataPlane.installedAt, 'TEK installedAt'), retiring: t.dataPlane.retiring === true,
      },
    })),
    acceptedPushes: r.acceptedPushes.map((p) => ({
      digest: typeof p.digest === 'string' ? p.digest : fail('accepted push digest is not a string'),
      ack: p.ack instanceof Uint8Array ? p.ack : undefined,
    })),
  };
}

/** The PULL result a restored registration stands for (what its PushReceiver is built from). */
export function pullResultOf(state: RegistrationState): PullResult {
  const result: PullResult = {
    groupId: state.groupId, kek: state.kek, teks: state.teks.filter((t) => t.inReceiver).map((t) => t.tek), seq: state.seq,
    server: { address: state.server.address, port: state.server.port },
  };
  if (state.activationDelaySeconds !== undefined) result.activationDelaySeconds = state.activationDelaySeconds;
  if (state.deactivationDelaySeconds !== undefined) result.deactivationDelaySeconds = state.deactivationDelaySeconds;
  return result;
}
