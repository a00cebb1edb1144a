/**
 * The member's user-space data plane: an `EspEndpoint` (RFC 3948 ESP-in-UDP) on its own UDP socket
 * (`data-plane.listen-address`:`listen-port`, 4500 by default), the TEKs GDOI delivered, and the traffic
 * probe towards the configured peers.
 *
 * TEK times (ms on the daemon clock):
 *   - installed from a PULL: active at once; from a PUSH: active after the group's activation delay, so
 *     every member has it before anyone sends under it (a receiver accepts a TEK from installation);
 *   - deactivation = installation + the TEK lifetime (hard expiry), or, for a TEK replaced by a rekey,
 *     the time `retire()` gives (after the deactivation delay); then `poll` removes it (`onExpired`).
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { RandomSource } from '@gvpn/crypto';
import {
  EspEndpoint, SaDatabase, TrafficProbe, formatPrefix, retimeTek, type EspCounters, type Tek as EspTek, type TekPolicy,
} from '@gvpn/esp';
import type { Tek as GdoiTek } from '@gvpn/gdoi';
import { rateLimited, type DataPlaneConfig, type Logger } from '@gvpn/runtime';
import { espTekFrom, spiHex, spiNumber } from './tek-convert.js';

export interface InstalledTek {
  group: string;
  gdoi: GdoiTek;
  esp: EspTek;
  installedAt: number;
  /** Replaced by a rekey (or dropped by a re-registration) and waiting for its deactivation. */
  retiring: boolean;
}

export interface ProbeCounters {
  sent: number;
  received: number;
  authFailures: number;
  noSa: number;
  /** Probes that could not be sent (no active outbound TEK): lost traffic too. */
  sendFailures: number;
  /** Sum over senders of (highest probe sequence seen - distinct probes received): probes lost in between. */
  gaps: number;
  duplicates: number;
  invalid: number;
}

export interface ProbePeerReport {
  name: string;
  memberId: number;
  address: string;
  port: number;
  sent: number;
  sendFailures: number;
  received: number;
  highest: number;
}

export interface DataPlaneOptions {
  config: DataPlaneConfig;
  log: Logger;
  random: RandomSource;
  /** The daemon host's `rearm`: our socket's events may move the next deadline. */
  rearm(): void;
  now(): number;
  /** A TEK left the SA database at its deactivation time. */
  onExpired?(tek: InstalledTek): void;
  /**
   * Durable outbound sequence numbers (durable.ts): `reserve` is called before a number above the last
   * reservation is used; `mark` gives the stored high-water mark of an SPI, from which an installed TEK
   * continues.
   */
  sequences?: {
    block: number;
    reserve(spi: number, upTo: number, deactivation: number): void;
    mark(spi: number): number | undefined;
  };
}

/** Data-plane times of a TEK, for `restore` (daemon clock). */
export interface TekTimes {
  activation: number;
  deactivation: number;
  installedAt: number;
  retiring: boolean;
}

export class DataPlane {
  readonly sad: SaDatabase;
  readonly endpoint: EspEndpoint;
  readonly #installed = new Map<number, InstalledTek>();
  readonly #options: DataPlaneOptions;
  #socket: Socket | undefined;
  #probe: TrafficProbe | undefined;
  #probeNext: number | undefined;
  #rejected = 0;

  constructor(options: DataPlaneOptions) {
    this.#options = options;
    const sequences = options.sequences;
    this.sad = new SaDatabase(sequences === undefined ? {} : {
      sequenceReservation: {
        block: sequences.block,
        reserve: (spi, upTo) => sequences.reserve(spi, upTo, this.#installed.get(spi)?.esp.deactivation ?? this.#options.now()),
      },
    });
    const memberId = options.config.memberId;
    const deliverErrorLog = rateLimited(options.log, 'deliver-error', 10, { now: () => options.now() });
    this.endpoint = new EspEndpoint({
      sad: this.sad,
      random: options.random,
      send: (datagram, to) => this.#socket?.send(datagram, to.port, to.address),
      deliver: (packet) => this.#probe?.receive(packet),
      // the endpoint counts it (deliverErrors) instead of letting it out of the socket handler
      onDeliverError: (error) =>
        deliverErrorLog.warn({ err: error instanceof Error ? error.message : String(error) }, 'delivering a received packet failed'),
      ...(memberId === null ? {} : { senderId: memberId }),
    });
  }

  async start(): Promise<{ address: string; port: number }> {
    const { listenAddress, listenPort } = this.#options.config;
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.on('message', (message, rinfo) => {
      this.endpoint.handle(new Uint8Array(message.buffer, message.byteOffset, message.length), { address: rinfo.address, port: rinfo.port }, this.#options.now());
      this.#options.rearm();
    });
    socket.on('error', (error) => this.#options.log.warn({ err: error.message }, 'data-plane socket error'));
    socket.bind(listenPort, listenAddress);
    await Promise.race([once(socket, 'listening'), once(socket, 'error').then(([error]) => { throw error; })]);
    this.#socket = socket;
    this.#options.log.info({ address: listenAddress, port: listenPort }, 'data plane listening (ESP-in-UDP)');
    return { address: listenAddress, port: listenPort };
  }

  async stop(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
    for (const spi of [...this.#installed.keys()]) this.remove(spi);
  }

  /** Installs (or re-times, for an SPI we hold) a TEK of `group`; false when the data plane cannot run it. */
  install(group: string, tek: GdoiTek, now: number, activation: number): boolean {
    const spi = spiNumber(tek.spi);
    const held = this.#installed.get(spi);
    if (held !== undefined) return this.#sameGroup(held, group);
    let esp: EspTek;
    try {
      esp = espTekFrom(tek, { activation, deactivation: now + tek.policy.lifetimeSeconds * 1000 });
    } catch (error) {
      this.#rejected++;
      this.#options.log.warn({ group, spi: spiHex(spi), reason: (error as Error).message }, 'TEK not installed in the data plane');
      return false;
    }
    this.#installed.set(spi, { group, gdoi: tek, esp, installedAt: now, retiring: false });
    this.#installSa(esp);
    this.#options.log.info({ group, spi: spiHex(spi), transform: esp.transform, activatesInMs: Math.max(0, activation - now) }, 'TEK installed');
    this.#aimProbe();
    return true;
  }

  /** Installs a TEK held before a restart, with the times it had then; false when it cannot be run. */
  restore(group: string, tek: GdoiTek, times: TekTimes): boolean {
    const spi = spiNumber(tek.spi);
    const held = this.#installed.get(spi);
    if (held !== undefined) return this.#sameGroup(held, group);
    let esp: EspTek;
    try {
      esp = espTekFrom(tek, { activation: times.activation, deactivation: times.deactivation });
    } catch (error) {
      this.#rejected++;
      this.#options.log.warn({ group, spi: spiHex(spi), reason: (error as Error).message }, 'stored TEK not restored in the data plane');
      return false;
    }
    this.#installed.set(spi, { group, gdoi: tek, esp, installedAt: times.installedAt, retiring: times.retiring });
    this.#installSa(esp);
    this.#options.log.info({
      group, spi: spiHex(spi), transform: esp.transform, retiring: times.retiring, sequence: this.sad.sentSequence(spi) ?? 0,
      expiresInMs: Math.round(times.deactivation - this.#options.now()),
    }, 'TEK restored from the state store');
    this.#aimProbe();
    return true;
  }

  /**
   * A TEK of `group` whose SPI we hold already: the same TEK again (true), or another group's (false, not
   * installed). ESP finds an SA by SPI alone, and each group joined by one vpn has its own server: that server
   * (or chance) must not re-time, retire or delete the other group's SA through it.
   */
  #sameGroup(held: InstalledTek, group: string): boolean {
    if (held.group === group) return true;
    this.#rejected++;
    this.#options.log.warn({ group, spi: spiHex(held.esp.spi), holder: held.group }, 'TEK not installed: its SPI is another group\'s');
    return false;
  }

  /** A new SA continues above the sequence numbers it may have used before (a restart, a clear and re-pull). */
  #installSa(esp: EspTek): void {
    const fresh = this.sad.get(esp.spi) === undefined;
    this.sad.install(esp);
    const mark = fresh ? this.#options.sequences?.mark(esp.spi) : undefined;
    if (mark !== undefined) this.sad.resumeSequence(esp.spi, mark);
  }

  /**
   * A PULL listed a TEK we already hold: the server still uses it, with the lifetime it gave, so its hard
   * expiry moves to `deactivation` (never earlier). A retiring TEK stays retiring.
   */
  extend(spi: number, deactivation: number): void {
    const entry = this.#installed.get(spi);
    if (entry === undefined || entry.retiring || deactivation <= entry.esp.deactivation) return;
    entry.esp = retimeTek(entry.esp, { deactivation });
    this.sad.install(entry.esp); // same keys: sequence counter and replay windows are kept
  }

  /** Schedules a TEK's removal at `at` (no later than its own expiry). */
  retire(spi: number, at: number): void {
    const entry = this.#installed.get(spi);
    if (entry === undefined || entry.retiring) return;
    const deactivation = Math.max(entry.esp.activation + 1, Math.min(entry.esp.deactivation, at));
    entry.esp = retimeTek(entry.esp, { deactivation });
    entry.retiring = true;
    this.sad.install(entry.esp); // same keys: sequence counter and replay windows are kept
    this.#options.log.info({ group: entry.group, spi: spiHex(spi), inMs: deactivation - this.#options.now() }, 'TEK retiring');
  }

  /** Removes the TEK of `spi`; with `group`, only if it is that group's (a push deletes its own group's TEKs only). */
  remove(spi: number, group?: string): boolean {
    const entry = this.#installed.get(spi);
    if (group !== undefined && entry?.group !== group) return false;
    this.sad.remove(spi);
    if (entry === undefined) return false;
    this.#installed.delete(spi);
    this.#options.log.info({ group: entry.group, spi: spiHex(spi) }, 'TEK removed');
    this.#aimProbe();
    return true;
  }

  removeGroup(group: string): number {
    let n = 0;
    for (const [spi, entry] of [...this.#installed]) if (entry.group === group && this.remove(spi)) n++;
    return n;
  }

  teks(group?: string): InstalledTek[] {
    return [...this.#installed.values()].filter((t) => group === undefined || t.group === group);
  }

  nextDeadline(): number | undefined {
    const now = this.#options.now();
    const candidates = [this.sad.nextDeadline(now), this.#probeNext].filter((d): d is number => d !== undefined);
    return candidates.length === 0 ? undefined : Math.min(...candidates);
  }

  poll(now: number): void {
    const expired = this.sad.expire(now);
    for (const spi of expired) {
      const entry = this.#installed.get(spi);
      if (entry === undefined) continue;
      this.#installed.delete(spi);
      this.#options.log.info({ group: entry.group, spi: spiHex(spi), retired: entry.retiring }, 'TEK deactivated');
      this.#options.onExpired?.(entry);
    }
    if (expired.length > 0) this.#aimProbe();
    if (this.#probe !== undefined && this.#probeNext !== undefined && now >= this.#probeNext) this.#probeNext = this.#probe.tick(now);
  }

  counters(): EspCounters & { teksRejected: number } {
    return { ...this.endpoint.counters(), teksRejected: this.#rejected };
  }

  probeCounters(): ProbeCounters {
    const esp = this.endpoint.counters();
    const stats = this.#probe?.stats();
    return {
      sent: stats?.peers.reduce((n, p) => n + p.sent, 0) ?? 0,
      received: stats?.senders.reduce((n, s) => n + s.received, 0) ?? 0,
      authFailures: esp.authFailures,
      noSa: esp.noSa,
      sendFailures: stats?.peers.reduce((n, p) => n + p.sendFailures, 0) ?? 0,
      gaps: stats?.senders.reduce((n, s) => n + (s.highest - s.received), 0) ?? 0,
      duplicates: stats?.senders.reduce((n, s) => n + s.duplicates, 0) ?? 0,
      invalid: stats?.invalid ?? 0,
    };
  }

  probePeers(): ProbePeerReport[] {
    const peers = this.#options.config.probe?.peers ?? [];
    const stats = this.#probe?.stats();
    return peers.map((peer) => {
      const out = stats?.peers.find((p) => p.memberId === peer.memberId);
      const from = stats?.senders.find((s) => s.senderId === peer.memberId);
      return {
        name: peer.name, memberId: peer.memberId, address: peer.address, port: peer.port,
        sent: out?.sent ?? 0, sendFailures: out?.sendFailures ?? 0, received: from?.received ?? 0, highest: from?.highest ?? 0,
      };
    });
  }

  /**
   * The probe sends inside the selector of an installed TEK: the first one's, until no TEK of that selector
   * is left (its SA deleted, its group cleared or removed); then another TEK's, newest active one first, so
   * a member with several SAs keeps probing through the ones it still holds.
   */
  #aimProbe(): void {
    const { probe, memberId } = this.#options.config;
    if (probe === null || memberId === null) return;
    const current = this.#probe?.policy;
    const installed = [...this.#installed.values()].reverse();
    if (current !== undefined && installed.some((t) => t.esp.policy !== undefined && samePolicy(t.esp.policy, current))) return;
    // One that can be sent under now before one a push installed ahead of its activation.
    const now = this.#options.now();
    const teks = [...installed.filter((t) => t.esp.activation <= now), ...installed.filter((t) => t.esp.activation > now)];
    for (const t of teks) {
      const policy = t.esp.policy;
      if (policy === undefined) continue;
      try {
        if (this.#probe === undefined) {
          this.#probe = new TrafficProbe({
            endpoint: this.endpoint, memberId, intervalMs: probe.intervalMs, policy,
            peers: probe.peers.map((p) => ({ memberId: p.memberId, address: p.address, port: p.port })),
          });
          this.#probeNext = this.#options.now();
          this.#options.log.info({ memberId, peers: probe.peers.length, intervalMs: probe.intervalMs, source: formatPrefix(policy.source) }, 'traffic probe started');
        } else {
          this.#probe.retarget(policy);
          this.#options.log.info({ group: t.group, spi: spiHex(t.esp.spi), source: formatPrefix(policy.source) }, 'traffic probe moved to another SA');
        }
        return;
      } catch (error) {
        this.#options.log.warn({ reason: (error as Error).message, source: formatPrefix(policy.source) }, 'traffic probe cannot use this SA');
      }
    }
  }
}

function samePolicy(a: TekPolicy, b: TekPolicy): boolean {
  return a.source.network === b.source.network && a.source.length === b.source.length &&
    a.destination.network === b.destination.network && a.destination.length === b.destination.length;
}
